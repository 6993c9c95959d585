#!/usr/bin/env bash
# One UNet step and one VAE decode: ours (candle) against diffusers (PyTorch) on the same small
# SD-shaped model, same inputs, same thread count, run alternately; prints the ratios.
# Needs torch and diffusers from PyPI (installed here if missing; ~1 GB). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${THREADS:-$(nproc)}"
python3 -c "import torch, diffusers" 2>/dev/null \
  || python3 -m pip install --quiet "torch==2.8.0" "diffusers==0.35.1" "transformers==4.56.1"
# Absolute: cargo bench runs the bench from engine/models, where a relative path would land.
dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")/bench-sd"
cargo bench --locked -q -p previz-models --bench diffusion --profile dev -- "$dir" > /dev/null
# The bench's own executable, as cargo names it (the integration test `diffusion` shares the
# file name prefix, so the newest `diffusion-*` is not always the bench).
ours_bin=$(cargo bench --locked -q -p previz-models --bench diffusion --profile dev --no-run \
  --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("kind") == ["bench"] and m.get("executable"):
        print(m["executable"])')
cat > /tmp/previz-bench-diffusers.py <<'PY'
import json, sys, time, torch
from diffusers import UNet2DConditionModel, AutoencoderKL
torch.set_grad_enabled(False)
torch.set_num_threads(int(sys.argv[2]))
d = sys.argv[1]
unet = UNet2DConditionModel.from_pretrained(d + "/unet").eval()
vae = AutoencoderKL.from_pretrained(d + "/vae").eval()
lat = (torch.arange(2 * 4 * 32 * 32, dtype=torch.float32).reshape(2, 4, 32, 32) / 4096.0 - 1.0)
ctx = (torch.arange(2 * 77 * 256, dtype=torch.float32).reshape(2, 77, 256) / 20000.0 - 1.0)
def t(f, n=5):
    f(); xs = []
    for _ in range(n):
        s = time.perf_counter(); f(); xs.append((time.perf_counter() - s) * 1000)
    return sorted(xs)[n // 2]
print(json.dumps({"unet_ms": t(lambda: unet(lat, 500, encoder_hidden_states=ctx)),
                  "vae_ms": t(lambda: vae.decode(lat[:1]))}))
PY
for round in 1 2 3; do
  ours=$(RAYON_NUM_THREADS=$threads "$ours_bin" "$dir")
  peer=$(python3 /tmp/previz-bench-diffusers.py "$dir" "$threads" 2>/dev/null | tail -1)
  python3 - "$ours" "$peer" "$round" "$threads" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"round {sys.argv[3]} ({sys.argv[4]} threads): UNet step (batch 2, 32x32 latents) ours {o['unet_ms']:.1f} ms, "
      f"diffusers {p['unet_ms']:.1f} ms, ratio {o['unet_ms']/p['unet_ms']:.2f}x; "
      f"VAE decode (256x256) ours {o['vae_ms']:.1f} ms, diffusers {p['vae_ms']:.1f} ms, ratio {o['vae_ms']/p['vae_ms']:.2f}x")
PY
done
