#!/usr/bin/env bash
# Builds the CUDA test of previz-models (`--features cuda`, engine/models/tests/cuda.rs) on a
# machine with no CUDA toolkit and no GPU, so that it can run on a GPU machine that has the
# driver and the CUDA libraries but no Rust toolchain.
#
#   scripts/cuda-check.sh build      # here: nvcc from PyPI, link stubs, the test binary
#   scripts/cuda-check.sh run        # there: finds the CUDA libraries, runs the test binary
#
# How: candle's kernels are compiled to PTX by nvcc, which PyPI ships (nvidia-cuda-nvcc,
# -nvvm, -crt, -runtime, -cuda-cccl; CUDA 13.0 to match a 580 driver). candle links the CUDA
# libraries dynamically; we link against empty stubs that carry the real sonames, so the
# symbols resolve at run time from the GPU machine's libraries. The binary and the fixture it
# reads travel in `.cuda/` (git-ignored through .git/info/exclude).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${CUDA_CHECK_DIR:-/tmp/previz-cuda}"
cap="${CUDA_COMPUTE_CAP:-90}"

build() {
    mkdir -p "$work/wheels" "$work/root" "$work/stubs"
    python3 -m pip download --quiet --no-deps -d "$work/wheels" \
        "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" \
        "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*"
    for w in "$work"/wheels/*.whl; do unzip -q -o "$w" -d "$work/root"; done
    local cuda="$work/root/nvidia/cu13"
    chmod +x "$cuda"/bin/* "$cuda"/nvvm/bin/*
    for pair in cuda:libcuda.so.1 nvrtc:libnvrtc.so.13 curand:libcurand.so.10 \
        cublas:libcublas.so.13 cublasLt:libcublasLt.so.13 cudart:libcudart.so.13; do
        echo "" | cc -shared -x c - -Wl,-soname,"${pair#*:}" -o "$work/stubs/lib${pair%%:*}.so"
    done
    cat > "$work/cc-wrap" <<EOF
#!/bin/sh
for a in "\$@"; do
  if [ "\$a" = "-Wl,--as-needed" ]; then set -- "\$@" "-Wl,--no-as-needed"; else set -- "\$@" "\$a"; fi
  shift
done
exec cc "\$@" -L$work/stubs -Wl,--unresolved-symbols=ignore-all
EOF
    chmod +x "$work/cc-wrap"
    local out
    out=$(cd "$root" && CUDA_COMPUTE_CAP="$cap" PATH="$cuda/bin:$PATH" \
        CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER="$work/cc-wrap" \
        CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-cuda}" \
        cargo test -p previz-models --features cuda --test cuda --no-run --message-format=json \
        | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "cuda":
        print(m["executable"])')
    mkdir -p "$root/.cuda"
    grep -qx '/.cuda/' "$root/.git/info/exclude" 2>/dev/null || echo '/.cuda/' >> "$root/.git/info/exclude"
    cp "$out" "$root/.cuda/cuda-test"
    strip "$root/.cuda/cuda-test"
    ls -la "$root/.cuda/cuda-test"
}

run() {
    # The driver's libcuda and the pip-installed CUDA libraries, under the names the binary needs.
    local links=/tmp/previz-cuda-libs
    mkdir -p "$links"
    for name in libcuda.so.1 libnvrtc.so.13 libcurand.so.10 libcublas.so.13 libcublasLt.so.13 libcudart.so.13; do
        local stem="${name%%.so*}"
        local found
        found=$(find /usr /opt /lib /lib64 \( -name "$name" -o -name "$stem.so.*" \) 2>/dev/null | sort | head -1 || true)
        [ -n "$found" ] && ln -sf "$found" "$links/$name"
    done
    export LD_LIBRARY_PATH="$links:${LD_LIBRARY_PATH:-}"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
    cd "$root/engine/models" && "$root/.cuda/cuda-test" --nocapture
}

case "${1:-}" in
    build) build ;;
    run) run ;;
    *) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
