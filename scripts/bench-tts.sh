#!/usr/bin/env bash
# Our Piper runtime (VITS on candle) against onnxruntime on the same voice, phoneme ids and
# thread count (issue #5): seconds per sentence, real-time factors, ratio.
#
#   scripts/bench-tts.sh [voice.onnx] [threads]
#
# Defaults: en_US-joe-medium from models/cache (models/fetch.py), 2 threads. Installs
# onnxruntime from PyPI when missing. Needs espeak-ng for the phonemes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${PREVIZ_MODELS_DIR:-$root/models/cache}"
voice="${1:-$cache/en-us-joe-medium/en_US-joe-medium.onnx}"
threads="${2:-2}"
python="${PYTHON:-python3}"

if [[ ! -f "$voice" ]]; then
    echo "error: $voice not found; run python3 models/fetch.py or pass a voice's .onnx" >&2
    exit 1
fi
if ! "$python" -c "import onnxruntime" 2>/dev/null; then
    "$python" -m pip install --quiet onnxruntime
fi
# candle's CPU ops use rayon's global pool: give it the same thread count as onnxruntime.
PREVIZ_TTS_VOICE="$voice" PREVIZ_TTS_THREADS="$threads" RAYON_NUM_THREADS="$threads" \
    cargo bench --manifest-path "$root/Cargo.toml" -p previz-models --bench tts
