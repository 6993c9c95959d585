#!/usr/bin/env bash
# Checks what packaging/build.sh made: the .deb's file list and control fields, the desktop
# entry, the man pages, and both binaries run from the unpacked .deb and the unpacked tarball
# (`previz script list` finds the shipped plugins in ../share/previz/plugins).
#
#   packaging/check.sh DEB TARBALL
#
# Prints the .deb's `dpkg -c` listing and every check; exit status 1 names each missing or wrong
# part, 2 for bad usage. desktop-file-validate (desktop-file-utils) and groff are used when
# installed; without them those checks are reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -ne 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
  echo "usage: $0 DEB TARBALL (both files must exist)" >&2
  exit 2
fi
deb=$1
tarball=$2

failures=()
ok() { echo "ok: $*"; }
fail() { echo "FAILED: $*"; failures+=("$*"); }
skip() { echo "skipped: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/previz-package-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The binaries run with a home of their own: no user plugins or settings leak in.
run_env=(env -u PREVIZ_ASSETS -u XDG_CONFIG_HOME -u PREVIZ_MODELS_DIR HOME="$work/home")
mkdir -p "$work/home"

plugins=()
for f in assets/plugins/*.rhai; do plugins+=("$(basename "$f")"); done
# One page per (sub)command is generated; these stand for the rest.
pages=(previz.1.gz previz-import.1.gz previz-script-run.1.gz previz-studio.1.gz)

echo "== dpkg -c $deb"
listing=$(dpkg -c "$deb")
echo "$listing"
# "./usr/bin/previz" with its mode: the path is the last field.
has() { awk '{print $NF}' <<<"$listing" | grep -qxF "./$1"; }
mode_of() { awk -v p="./$1" '$NF == p {print $1}' <<<"$listing"; }

echo "== contents of the .deb"
for bin in previz previz-studio; do
  if ! has "usr/bin/$bin"; then fail "deb: /usr/bin/$bin missing"
  elif [ "$(mode_of "usr/bin/$bin")" != "-rwxr-xr-x" ]; then fail "deb: /usr/bin/$bin is $(mode_of "usr/bin/$bin"), not -rwxr-xr-x"
  else ok "deb: /usr/bin/$bin"; fi
done
for path in usr/share/applications/previz-studio.desktop \
    usr/share/icons/hicolor/scalable/apps/previz-studio.svg \
    usr/share/icons/hicolor/256x256/apps/previz-studio.png \
    usr/share/doc/previz-studio/copyright \
    usr/share/doc/previz-studio/README.md \
    usr/share/doc/previz-studio/plugins.md; do
  if has "$path"; then ok "deb: /$path"; else fail "deb: /$path missing"; fi
done
for page in "${pages[@]}"; do
  if has "usr/share/man/man1/$page"; then ok "deb: /usr/share/man/man1/$page"; else fail "deb: /usr/share/man/man1/$page missing"; fi
done
uncompressed=$(awk '{print $NF}' <<<"$listing" | grep '^\./usr/share/man/.*\.[0-9]$' || true)
[ -z "$uncompressed" ] || fail "deb: man pages not gzipped: $uncompressed"
for plugin in "${plugins[@]}"; do
  if has "usr/share/previz/plugins/$plugin"; then ok "deb: /usr/share/previz/plugins/$plugin"
  else fail "deb: /usr/share/previz/plugins/$plugin missing (assets/plugins/$plugin)"; fi
done

echo "== control fields"
dpkg-deb -f "$deb" Package Version Architecture Depends Recommends
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = previz-studio ] && ok "Package: previz-studio" || fail "Package is '$(field Package)', not previz-studio"
version=$(field Version)
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+.*-[0-9A-Za-z.+~]+$ ]] && ok "Version: $version" || fail "Version '$version' is not UPSTREAM-REVISION"
depends=$(field Depends)
# libc6 and libasound2 come from dpkg-shlibdeps ($auto): missing, it did not run.
for dep in libc6 libasound2 libvulkan1; do
  grep -qE "(^|, )$dep( |,|$)" <<<"$depends" && ok "Depends: $dep" || fail "Depends lacks $dep: '$depends'"
done
for rec in ffmpeg espeak-ng; do
  grep -qE "(^|, )$rec( |,|$)" <<<"$(field Recommends)" && ok "Recommends: $rec" || fail "Recommends lacks $rec"
done

echo "== unpacked .deb"
root="$work/deb"
dpkg -x "$deb" "$root"
upstream=${version%-*}
upstream=${upstream%%+*}
if out=$("${run_env[@]}" "$root/usr/bin/previz" --version 2>&1); then
  [ "$out" = "previz $upstream" ] && ok "previz --version: $out" || fail "previz --version says '$out', the package is $version"
else
  fail "previz --version failed: $out"
fi
if out=$("${run_env[@]}" "$root/usr/bin/previz" --json script list 2>&1); then
  for plugin in "${plugins[@]}"; do
    if grep -qF "\"$root/usr/bin/../share/previz/plugins/$plugin\"" <<<"$out"; then
      ok "previz script list: $plugin from /usr/share/previz/plugins"
    else
      fail "previz script list does not find $plugin in /usr/share/previz/plugins: $out"
    fi
  done
else
  fail "previz script list failed: $out"
fi
for bin in previz previz-studio; do
  if ! file -L "$root/usr/bin/$bin" | grep -q ELF; then
    fail "/usr/bin/$bin is not an ELF executable"
  elif readelf -SW "$root/usr/bin/$bin" | grep -qE '\.(debug_(info|line|str)|symtab) '; then
    # (.debug_gdb_scripts is loaded with the program and stays: not debug info.)
    fail "/usr/bin/$bin still has debug info or a symbol table (not stripped)"
  else
    ok "/usr/bin/$bin: ELF, stripped ($(stat -c %s "$root/usr/bin/$bin") bytes)"
  fi
done

desktop="$root/usr/share/applications/previz-studio.desktop"
if [ ! -f "$desktop" ]; then
  :
elif command -v desktop-file-validate >/dev/null; then
  if out=$(desktop-file-validate "$desktop" 2>&1) && [ -z "$out" ]; then ok "desktop-file-validate"
  else fail "desktop-file-validate: $out"; fi
else
  skip "desktop-file-validate (apt-get install desktop-file-utils)"
fi
if [ -f "$desktop" ]; then
  grep -qx 'Exec=previz-studio %f' "$desktop" && grep -qx 'Icon=previz-studio' "$desktop" \
    && ok "desktop entry: Exec=previz-studio %f, Icon=previz-studio" \
    || fail "desktop entry: Exec or Icon is not previz-studio"
fi
png="$root/usr/share/icons/hicolor/256x256/apps/previz-studio.png"
if [ -f "$png" ]; then
  # PNG signature, then IHDR: width and height as big-endian 32-bit numbers.
  dims=$(od -An -tx1 -j16 -N8 "$png" | tr -d ' \n')
  [ "$(head -c8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$dims" = 0000010000000100 ] \
    && ok "icon: 256x256 PNG" || fail "icon: not a 256x256 PNG"
fi

echo "== man pages"
man_root="$root/usr/share/man/man1"
for gz in "$man_root"/*.1.gz; do
  page=$(basename "$gz" .1.gz)
  if ! roff=$(zcat "$gz" 2>&1); then fail "man: $page.1.gz is not gzip"; continue; fi
  th=$(grep -m1 '^\.TH ' <<<"$roff" || true)
  expected=$(tr '[:lower:]' '[:upper:]' <<<"$page")
  if [[ "$th" != ".TH $expected 1 "* ]]; then fail "man: $page.1.gz has no '.TH $expected 1' line (got '$th')"; continue; fi
  if command -v groff >/dev/null; then
    warnings=$(groff -man -Tutf8 -ww -z <<<"$roff" 2>&1 || true)
    [ -z "$warnings" ] || { fail "man: $page.1.gz: groff: $warnings"; continue; }
  fi
  # Every page SEE ALSO names is in the package.
  see_also=$(sed -n '/^\.SH "\{0,1\}SEE ALSO/,$p' <<<"$roff" | sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g')
  for ref in $(grep -oE 'previz(-[a-z]+)*\(1\)' <<<"$see_also" | sed 's/(1)$//' | sort -u); do
    [ -f "$man_root/$ref.1.gz" ] || fail "man: $page(1) refers to $ref(1), which is not in the package"
  done
done
echo "$(ls "$man_root" | wc -l) pages checked ($(command -v groff >/dev/null && echo "groff -man -ww" || echo ".TH lines only; groff not installed"))"
if command -v groff >/dev/null; then
  echo "-- previz(1), as man shows it:"
  zcat "$man_root/previz.1.gz" | groff -man -Tutf8 2>/dev/null | sed 's/.\x08//g' | head -12 || true
fi

echo "== tarball $tarball"
tar_listing=$(tar -tzf "$tarball")
bad=$(grep -vE '^(bin|share)(/|$)' <<<"$tar_listing" || true)
[ -z "$bad" ] && ok "tarball: only bin/ and share/ at its top" || fail "tarball: entries outside bin/ and share/: $bad"
for path in bin/previz bin/previz-studio share/applications/previz-studio.desktop \
    share/icons/hicolor/scalable/apps/previz-studio.svg \
    share/icons/hicolor/256x256/apps/previz-studio.png \
    "${pages[@]/#/share/man/man1/}" "${plugins[@]/#/share/previz/plugins/}" \
    share/doc/previz-studio/README.md; do
  grep -qxF "$path" <<<"$tar_listing" && ok "tarball: $path" || fail "tarball: $path missing"
done
prefix="$work/opt/previz"
mkdir -p "$prefix"
tar -xzf "$tarball" -C "$prefix"
if out=$("${run_env[@]}" "$prefix/bin/previz" --json script list 2>&1) \
    && grep -qF "\"$prefix/bin/../share/previz/plugins/${plugins[0]}\"" <<<"$out"; then
  ok "tarball unpacked into a prefix: previz finds the plugins in PREFIX/share/previz/plugins"
else
  fail "tarball unpacked into a prefix: previz script list does not find PREFIX/share/previz/plugins: $out"
fi

echo
if [ "${#failures[@]}" -gt 0 ]; then
  echo "packaging/check.sh: ${#failures[@]} problem(s):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "packaging/check.sh: $(basename "$deb") and $(basename "$tarball") hold everything"
