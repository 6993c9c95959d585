#!/usr/bin/env bash
# Debian packages the studio needs: ALSA headers and pkg-config to build rodio's audio output,
# and for the tests and the window smoke test Mesa's Vulkan drivers (lavapipe, so wgpu renders
# without a GPU), Xvfb, ImageMagick, xdotool and the X utilities. Safe to run again: apt-get
# runs only when a package is missing.
set -euo pipefail

packages=(
  libasound2-dev pkg-config                                 # build: rodio -> cpal -> alsa-sys
  mesa-vulkan-drivers libvulkan1                            # wgpu on the CPU (lavapipe)
  xvfb xauth x11-utils xdotool imagemagick                  # scripts/studio-smoke.sh
  espeak-ng                                                 # phonemes for Piper voices (run, not linked: GPL-3)
  ffmpeg                                                    # the animatic encode (run, not linked), ffprobe in tests
  poppler-utils                                             # pdfinfo / pdffonts / pdftoppm read the PDF storyboard in tests
  slurmctld slurmd slurm-client munge python3-yaml                       # tests/farm/slurm.sh: a real single-node Slurm for the farm tests
  desktop-file-utils dpkg-dev                               # packaging/check.sh validates the desktop entry; cargo-deb runs dpkg-shlibdeps
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "apt packages ready: ${packages[*]}"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "installing with apt-get: ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
