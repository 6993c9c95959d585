#!/usr/bin/env bash
# Our llama runtime against llama.cpp on the same GGUF file, machine and thread count (issue #4):
# prompt and greedy-generation tokens/s, ratios, memory-bandwidth bound, greedy agreement.
#
#   scripts/bench-llm.sh [model.gguf] [threads]
#
# Defaults: the SmolLM2-135M-Instruct Q4_1 from models/cache (models/fetch.py), 2 threads.
# Installs llama-cpp-python 0.3.36 (built from source for this CPU) when it is missing.
# PREVIZ_LLM_CANDLE=0 skips the candle-transformers reference column (the slowest part).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${PREVIZ_MODELS_DIR:-$root/models/cache}"
model="${1:-$cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
threads="${2:-2}"
python="${PYTHON:-python3}"

if [[ ! -f "$model" ]]; then
    echo "error: $model not found; run models/fetch.py or pass a GGUF path" >&2
    exit 1
fi

if ! "$python" -c "import llama_cpp" 2>/dev/null; then
    echo "installing llama-cpp-python 0.3.36 (compiles llama.cpp, several minutes)..." >&2
    CMAKE_ARGS="-DGGML_NATIVE=ON" "$python" -m pip install llama-cpp-python==0.3.36
fi

peer_json="$(mktemp --suffix=.json)"
trap 'rm -f "$peer_json"' EXIT

echo "== llama.cpp ($threads threads)"
"$python" "$root/scripts/bench_llm_peer.py" "$model" "$peer_json" --threads "$threads"

echo "== ours (and candle-transformers for reference)"
# candle's CPU ops use rayon's global pool: give it the same thread count.
PREVIZ_LLM_MODEL="$model" PREVIZ_LLM_PEER_JSON="$peer_json" PREVIZ_LLM_THREADS="$threads" \
    RAYON_NUM_THREADS="$threads" \
    cargo bench --manifest-path "$root/Cargo.toml" -p previz-models --bench llm
