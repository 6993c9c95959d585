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
import inspect
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
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLPipeline,
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
    import diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl as xl_mod
    import diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img as xli_mod

    for mod in (vae_mod, i2i_mod, sd_mod, ea_mod, xl_mod, xli_mod):
        mod.randn_tensor = queue


def main():
    export, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    cases = json.loads((export / "cases.json").read_text())
    pipes = {}
    for name, cls in (
        ("tiny-sd", StableDiffusionPipeline),
        ("tiny-sd-g16", StableDiffusionPipeline),
        ("tiny-sdxl", StableDiffusionXLPipeline),
        ("tiny-sdxl-turbo", StableDiffusionXLPipeline),
    ):
        extra = (
            dict(safety_checker=None, requires_safety_checker=False)
            if cls is StableDiffusionPipeline
            else dict(add_watermarker=False)
        )
        pipes[name] = cls.from_pretrained(export / name, torch_dtype=torch.float32, **extra)
    img2img = {"tiny-sd": StableDiffusionImg2ImgPipeline, "tiny-sdxl": StableDiffusionXLImg2ImgPipeline}
    print("diffusers", diffusers.__version__, "torch", torch.__version__)
    for case in cases:
        txt = pipes[case["model"]]
        noise = load_file(export / f"noise-{case['name']}.safetensors")
        draws = [noise[f"noise.{i}"] for i in range(len(noise))]
        scheduler = SCHEDULERS[case["scheduler"]].from_config(txt.scheduler.config)
        guided = case["guidance"] > 1
        # An empty negative prompt is passed as None: SDXL then zeroes the negative branch
        # (force_zeros_for_empty_prompt), which is what our pipeline does for "".
        negative = case["negative_prompt"] if guided and case["negative_prompt"] else None
        common = dict(
            prompt=case["prompt"],
            negative_prompt=negative,
            num_inference_steps=case["steps"],
            guidance_scale=case["guidance"],
            output_type="pil",
        )
        if case["strength"] is None:
            pipe = type(txt)(**{**txt.components, "scheduler": scheduler})
            pipe.set_progress_bar_config(disable=True)
            # Our first draw is the initial noise; diffusers scales it by init_noise_sigma.
            patch_randn(NoiseQueue(draws[1:]))
            image = pipe(
                height=case["height"], width=case["width"], latents=draws[0], **common
            ).images[0]
        else:
            cls = img2img[case["model"]]
            accepted = inspect.signature(cls.__init__).parameters
            components = {k: v for k, v in txt.components.items() if k in accepted}
            pipe = cls(**{**components, "scheduler": scheduler})
            pipe.set_progress_bar_config(disable=True)
            init = Image.open(export / case["init"]).convert("RGB")
            # Our draws: the VAE's latent sample, the img2img noise, then the sampler's.
            patch_randn(NoiseQueue(draws))
            image = pipe(image=init, strength=case["strength"], **common).images[0]
        image.save(out / f"{case['name']}.png")
        print("wrote", out / f"{case['name']}.png")


if __name__ == "__main__":
    main()
