#!/usr/bin/env python3
"""Reference pictures from diffusers for engine/models/tests/diffusion_ip_adapter.rs.

Run by hand, not in CI (it needs torch, diffusers and transformers from PyPI):

    PREVIZ_DIFFUSION_EXPORT=/tmp/ipref cargo test -p previz-models --test diffusion_ip_adapter
    python3 tests/diffusion/reference_ip_adapter.py /tmp/ipref engine/models/tests/fixtures/diffusion

The first command writes two tiny models (ip-sd/model, ip-sdxl/model), a tiny IP-Adapter for
each (ip-*/adapter/ip-adapter.safetensors beside image_encoder/, a tiny
CLIPVisionModelWithProjection), the reference pictures, the noise each case draws and
ip-cases.json. This script loads each adapter with diffusers' own load_ip_adapter, runs the
pipelines with ip_adapter_image and that noise, and writes <case>.png; and it writes what
transformers' CLIPImageProcessor makes of the pictures that need resizing and cropping
(ip-pixel-values.safetensors).

Recorded with torch 2.8.0, diffusers 0.35.1, transformers 4.56.1 on CPU in float32.
"""
import json
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import CLIPImageProcessor

import diffusers
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

sys.path.insert(0, str(Path(__file__).parent))
from reference import SCHEDULERS, NoiseQueue, patch_randn  # noqa: E402


def main():
    export, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    spec = json.loads((export / "ip-cases.json").read_text())
    print("diffusers", diffusers.__version__, "torch", torch.__version__)
    for case in spec["cases"]:
        xl = "sdxl" in case["model"]
        cls = StableDiffusionXLPipeline if xl else StableDiffusionPipeline
        extra = dict(add_watermarker=False) if xl else dict(safety_checker=None, requires_safety_checker=False)
        pipe = cls.from_pretrained(export / case["model"], torch_dtype=torch.float32, **extra)
        pipe.scheduler = SCHEDULERS[case["scheduler"]].from_config(pipe.scheduler.config)
        adapter = export / case["adapter"]
        pipe.load_ip_adapter(
            str(adapter),
            subfolder="",
            weight_name="ip-adapter.safetensors",
            image_encoder_folder="image_encoder",
        )
        pipe.feature_extractor = CLIPImageProcessor.from_pretrained(adapter / "image_encoder")
        pipe.set_ip_adapter_scale(case["scale"])
        pipe.set_progress_bar_config(disable=True)
        pictures = [Image.open(export / p).convert("RGB") for p in case["pictures"]]
        noise = load_file(export / f"noise-{case['name']}.safetensors")
        draws = [noise[f"noise.{i}"] for i in range(len(noise))]
        guided = case["guidance"] > 1
        patch_randn(NoiseQueue(draws[1:]))
        image = pipe(
            prompt=case["prompt"],
            negative_prompt=case["negative_prompt"] if guided else None,
            num_inference_steps=case["steps"],
            guidance_scale=case["guidance"],
            height=case["height"],
            width=case["width"],
            latents=draws[0],
            # One adapter; its list of pictures (their tokens side by side).
            ip_adapter_image=[pictures],
            output_type="pil",
        ).images[0]
        image.save(out / f"{case['name']}.png")
        print("wrote", out / f"{case['name']}.png")

    processor = CLIPImageProcessor.from_pretrained(export / "ip-sd/adapter/image_encoder")
    values = {}
    for name in spec["processed"]:
        picture = Image.open(export / f"{name}.png").convert("RGB")
        values[name] = processor(images=picture, return_tensors="pt").pixel_values.contiguous()
    save_file(values, out / "ip-pixel-values.safetensors")
    print("wrote", out / "ip-pixel-values.safetensors")


if __name__ == "__main__":
    main()
