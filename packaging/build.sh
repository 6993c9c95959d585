#!/usr/bin/env bash
# Builds the Debian package and the tarball of Previz Studio (both binaries, desktop entry,
# icons, man pages, example plugins, docs) into ${CARGO_TARGET_DIR:-target}/packaging/.
#
#   packaging/build.sh              # dev profile: what CI builds (reuses `cargo test --workspace`)
#   packaging/build.sh --release    # release profile: what ships to workstations
#   packaging/build.sh --release --cuda   # with CUDA inference (needs the CUDA toolkit, nvcc)
#
# Then packaging/check.sh DEB TARBALL checks what they hold. See packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
step() { printf '== %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

usage() { echo "usage: $0 [--release] [--cuda]"; }
profile=dev
cuda=0
for arg in "$@"; do
  case "$arg" in
    --release) profile=release ;;
    --cuda) cuda=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
profile_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")

cargo_deb_version=3.8.0
step "cargo-deb $cargo_deb_version"
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $cargo_deb_version"; then
  # Built in a temporary folder, not in the workspace's (possibly shared) target dir.
  env -u CARGO_TARGET_DIR cargo install cargo-deb --locked --version "$cargo_deb_version"
fi
cargo deb --version
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  if ! command -v "$tool" >/dev/null; then
    echo "packaging/build.sh: $tool is missing (Debian: apt-get install dpkg-dev binutils gzip)" >&2
    exit 1
  fi
done

# The same build as `cargo test --workspace --locked` (CI's test step): the whole workspace and
# an example, which brings the dev-dependencies into feature resolution, so in the dev profile
# nothing is compiled again after the tests. `cargo build -p previz-studio` or a plain
# `--workspace --bins` would resolve features differently (serde_json, hashbrown...) and rebuild
# candle and egui.
features=()
if [ "$cuda" = 1 ]; then
  # Every member's `cuda` feature (previz-cli's turns on previz-models/cuda); previz-models is
  # built once for both binaries, so the studio gets CUDA too.
  features=(--features cuda)
fi
step "cargo build --profile $profile ${features[*]}"
cargo build --workspace --locked --bins --example manpages --profile "$profile" "${features[@]}"

target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin_dir="$target_dir/$profile_dir"
out="$target_dir/packaging"
version=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "previz-studio"))')
mkdir -p "$out"

# Dates inside the man pages, the .deb and the tarball: the commit's, so a rebuild of the same
# commit gives the same files.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

# What cargo-deb packs goes into deb-target/release/ (hard links, or copies across
# filesystems): the binaries of the profile built and the man pages. In app/Cargo.toml's
# [package.metadata.deb] `target/release/` means that folder, since cargo-deb runs with it as
# CARGO_TARGET_DIR and --no-build. (cargo-deb 3.8 also maps it to target/debug/ with
# `--profile dev`, but warns that dev profiles will become an error in a later version.)
deb_target="$out/deb-target"
staged="$deb_target/release"
rm -rf "$deb_target"
mkdir -p "$staged"
for bin in previz previz-studio; do
  ln -f "$bin_dir/$bin" "$staged/$bin" 2>/dev/null || cp -p "$bin_dir/$bin" "$staged/$bin"
done

# Man pages: previz(1) and its subcommands' from the CLI's clap definition, previz-studio(1)
# hand-written; gzipped here (cargo-deb gzips man pages only when they are not under
# target/release/).
step "man pages"
man_dir="$staged/man"
# Some defaults (--device, --model) come from the user's settings file: the pages are made with
# none, so they show the built-in defaults whoever builds them.
mkdir -p "$deb_target/home"
env -u XDG_CONFIG_HOME -u PREVIZ_SETTINGS HOME="$deb_target/home" \
  "$bin_dir/examples/manpages" "$man_dir" >/dev/null
cp packaging/previz-studio.1 "$man_dir/"
touch -d "@$SOURCE_DATE_EPOCH" "$man_dir"/*.1
gzip -9n "$man_dir"/*.1
echo "$(ls "$man_dir" | wc -l) pages in $man_dir"

# The .deb. --strip: cargo-deb would otherwise keep the line tables both profiles build with
# (stripped, the two binaries are about half their size). CI's dev builds compress with xz -1
# (--fast), releases with xz -6.
step "cargo deb"
deb_args=()
tag=""
if [ "$profile" = dev ]; then
  deb_args+=(--fast)
fi
if [ "$cuda" = 1 ]; then
  deb_args+=(--deb-revision 1+cuda)
  tag="-cuda"
fi
rm -f "$out"/previz-studio_*.deb
CARGO_TARGET_DIR="$deb_target" cargo deb -p previz-studio --no-build --locked --strip \
  "${deb_args[@]}" -o "$out/"
deb=$(ls "$out"/previz-studio_*.deb)

# The tarball: the .deb's /usr, so the same stripped binaries and compressed pages; bin/ and
# share/ at its top, for `tar x -C /opt/previz` or `-C ~/.local` (the binaries find
# ../share/previz/plugins).
step "tarball"
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
dpkg-deb -x "$deb" "$stage"
tarball="$out/previz-studio-$version-$(uname -m)-linux$tag.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -C "$stage/usr" -cf - bin share | gzip -6n > "$tarball"

step "done"
ls -l "$deb" "$tarball"
echo "deb: $deb"
echo "tarball: $tarball"
