#!/usr/bin/env python3
"""Reference pictures from diffusers for engine/models/tests/diffusion_reference.rs.

Run by hand, not in CI (it needs torch, diffusers and transformers from PyPI):

    PREVIZ_DIFFUSION_EXPORT=/tmp/sdref cargo test -p previz-models --test diffusion_reference
    python3 tests/diffusion/reference.py /tmp/sdref engine/models/tests/fixtures/diffusion

The first command writes the tiny model (tiny-sd/, a diffusers folder), the noise each case
draws (noise-<case>.safetensors, in the order our pipeline draws it) and cases.json. This
script runs diffusers' own pipelines on that folder, feeding them that noise wherever they
would call randn_tensor (the initial latents, the VAE's latent sample, img2img's noise, Euler
ancestral's per-step noise), and writes <case>.png into the fixtures folder.

Recorded with torch 2.8.0, diffusers 0.35.1, transformers 4.56.1 on CPU in float32.
"""
import json
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file

import diffusers
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
)

SCHEDULERS = {
    "ddim": DDIMScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
    "dpmpp_2m": DPMSolverMultistepScheduler,
}


class NoiseQueue:
    """Stands in for diffusers' randn_tensor: hands out our noise in order."""

    def __init__(self, tensors):
        self.tensors = list(tensors)

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        if not self.tensors:
            # Euler ancestral draws at the last step too, where it is multiplied by zero.
            return torch.zeros(shape, dtype=dtype or torch.float32)
        t = self.tensors.pop(0)
        assert tuple(t.shape) == tuple(shape), (t.shape, shape)
        return t.to(dtype=dtype or torch.float32)


def patch_randn(queue):
    import diffusers.models.autoencoders.vae as vae_mod
    import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img as i2i_mod
    import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion as sd_mod
    import diffusers.schedulers.scheduling_euler_ancestral_discrete as ea_mod

    for mod in (vae_mod, i2i_mod, sd_mod, ea_mod):
        mod.randn_tensor = queue


def main():
    export, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    model = export / "tiny-sd"
    cases = json.loads((export / "cases.json").read_text())
    txt = StableDiffusionPipeline.from_pretrained(
        model, safety_checker=None, requires_safety_checker=False, torch_dtype=torch.float32
    )
    txt.set_progress_bar_config(disable=True)
    print("diffusers", diffusers.__version__, "torch", torch.__version__)
    for case in cases:
        noise = load_file(export / f"noise-{case['name']}.safetensors")
        draws = [noise[f"noise.{i}"] for i in range(len(noise))]
        scheduler = SCHEDULERS[case["scheduler"]].from_config(txt.scheduler.config)
        common = dict(
            prompt=case["prompt"],
            negative_prompt=case["negative_prompt"] if case["guidance"] > 1 else None,
            num_inference_steps=case["steps"],
            guidance_scale=case["guidance"],
            output_type="pil",
        )
        if case["strength"] is None:
            pipe = StableDiffusionPipeline(**{**txt.components, "scheduler": scheduler})
            pipe.set_progress_bar_config(disable=True)
            # Our first draw is the initial noise; diffusers scales it by init_noise_sigma.
            patch_randn(NoiseQueue(draws[1:]))
            image = pipe(
                height=case["height"], width=case["width"], latents=draws[0], **common
            ).images[0]
        else:
            pipe = StableDiffusionImg2ImgPipeline(**{**txt.components, "scheduler": scheduler})
            pipe.set_progress_bar_config(disable=True)
            init = Image.open(export / case["init"]).convert("RGB")
            # Our draws: the VAE's latent sample, the img2img noise, then the sampler's.
            patch_randn(NoiseQueue(draws))
            image = pipe(image=init, strength=case["strength"], **common).images[0]
        image.save(out / f"{case['name']}.png")
        print("wrote", out / f"{case['name']}.png")


if __name__ == "__main__":
    main()
