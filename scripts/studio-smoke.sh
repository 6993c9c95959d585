#!/usr/bin/env bash
# Smoke test of the real studio window: starts the built previz-studio under Xvfb on a copy of
# a sample screenplay (the app imports it and builds a rough cut), waits for the window and the
# imported project, takes a screenshot of the screen and checks that it is not blank.
#
#   scripts/studio-smoke.sh [BINARY] [SCREENSHOT]
#
# BINARY      the built studio (default: ${CARGO_TARGET_DIR:-target}/debug/previz-studio).
#             This script builds nothing: build first (`cargo build -p previz-studio`).
# SCREENSHOT  where the screenshot goes (default: ${TMPDIR:-/tmp}/previz-studio-smoke.png).
#
# Installs nothing: scripts/setup-apt.sh installs what it runs (xvfb-run, xauth, xdotool,
# ImageMagick's import and convert, Mesa's Vulkan drivers so wgpu can draw without a GPU).
# Exit status 0 when the window showed the project, 1 with a message saying what went wrong.
# The app is killed on every path out.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
width=1600
height=900
window_wait_s=90   # a debug build's first frame through lavapipe takes a few seconds
import_wait_s=90   # the import job: parse, rough cut, save
settle_s=4         # frames after the project opened, so the screenshot shows it
min_stddev=0.03    # a blank or single-colour screen has 0
min_colours=64     # egui's anti-aliased text alone gives hundreds

no_server=75       # the inside part's status when Xvfb never answered (retried once)
server_wait_s=30

fail() {
  echo "studio-smoke: FAILED: $*" >&2
  exit 1
}

if [ "${PREVIZ_SMOKE_INSIDE_XVFB:-}" != 1 ]; then
  binary="${1:-${CARGO_TARGET_DIR:-$repo/target}/debug/previz-studio}"
  for tool in xvfb-run xauth xdotool import convert; do
    command -v "$tool" >/dev/null ||
      fail "$tool is not installed; run scripts/setup-apt.sh (Debian packages)"
  done
  [ -x "$binary" ] || fail "no studio binary at $binary; build it first: cargo build -p previz-studio"
  work="$(mktemp -d -t previz-smoke.XXXXXX)"
  screenshot="${2:-${TMPDIR:-/tmp}/previz-studio-smoke.png}"
  mkdir -p "$(dirname "$screenshot")"
  cp "$repo/assets/screenplays/short-action.fountain" "$work/"
  echo "studio-smoke: $binary on $work/short-action.fountain, screen ${width}x${height}"
  # The same script, run again inside the X server's session (below). xvfb-run runs its
  # command even when the server it started never answered (a display number raced with
  # another server, a slow start on a loaded machine): the inside part then exits with
  # $no_server and the whole session is tried once more on a fresh display.
  for attempt in 1 2; do
    status=0
    PREVIZ_SMOKE_INSIDE_XVFB=1 PREVIZ_SMOKE_WORK="$work" PREVIZ_SMOKE_SHOT="$screenshot" \
      xvfb-run -a -s "-screen 0 ${width}x${height}x24" "$0" "$binary" || status=$?
    [ "$status" -eq "$no_server" ] && [ "$attempt" -eq 1 ] || break
    echo "studio-smoke: the X server never answered; trying again on another display" >&2
    sleep 2
  done
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
    echo "studio-smoke: screenshot in $screenshot"
    exit 0
  fi
  echo "studio-smoke: kept $work (the app's log, the project) to look at" >&2
  exit 1
fi

# ---- Inside Xvfb ----------------------------------------------------------------------------
binary="$1"
work="$PREVIZ_SMOKE_WORK"
screenshot="$PREVIZ_SMOKE_SHOT"
log="$work/app.log"
project="$work/short-action.previz"

app_pid=""
stop_app() {
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    kill "$app_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$app_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$app_pid" 2>/dev/null || true
  fi
  wait "$app_pid" 2>/dev/null || true
}
trap stop_app EXIT

show_log() {
  echo "---- the app's output ($log) ----" >&2
  tail -n 40 "$log" >&2 || true
}

# Wait for the server xvfb-run says it started, before the app tries once and gives up.
deadline=$((SECONDS + server_wait_s))
until xdotool getdisplaygeometry >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "studio-smoke: no X server answered on DISPLAY=${DISPLAY:-} after ${server_wait_s}s" >&2
    exit "$no_server"
  fi
  sleep 0.5
done

# Settings go to the temporary folder, not the user's config; X11 even when the caller's
# session is Wayland.
env -u WAYLAND_DISPLAY HOME="$work" XDG_CONFIG_HOME="$work/config" \
  "$binary" "$work/short-action.fountain" >"$log" 2>&1 &
app_pid=$!

alive() { kill -0 "$app_pid" 2>/dev/null; }

deadline=$((SECONDS + window_wait_s))
until xdotool search --name "Previz Studio" >/dev/null 2>&1; do
  alive || { show_log; fail "the studio exited before its window appeared"; }
  [ "$SECONDS" -lt "$deadline" ] || { show_log; fail "no 'Previz Studio' window after ${window_wait_s}s"; }
  sleep 0.5
done
echo "studio-smoke: the window is up"

deadline=$((SECONDS + import_wait_s))
until [ -f "$project/project.json" ]; do
  alive || { show_log; fail "the studio exited while importing the screenplay"; }
  [ "$SECONDS" -lt "$deadline" ] || { show_log; fail "the import made no $project/project.json after ${import_wait_s}s"; }
  sleep 0.5
done
echo "studio-smoke: the screenplay was imported into $project"
sleep "$settle_s"
alive || { show_log; fail "the studio exited after opening the project"; }

import -window root "$screenshot" || { show_log; fail "import could not capture the screen"; }
stop_app

stddev="$(convert "$screenshot" -format '%[fx:standard_deviation]' info:)"
colours="$(convert "$screenshot" -format '%k' info:)"
echo "studio-smoke: $screenshot: standard deviation $stddev (> $min_stddev), $colours colours (> $min_colours)"
awk -v s="$stddev" -v min="$min_stddev" 'BEGIN { exit !(s > min) }' ||
  { show_log; fail "the screen is blank: standard deviation $stddev <= $min_stddev"; }
[ "$colours" -gt "$min_colours" ] ||
  { show_log; fail "the screen has only $colours colours (<= $min_colours): nothing was drawn"; }
echo "studio-smoke: OK"
