#!/usr/bin/env python3
"""Reference decodes from diffusers for engine/models/tests/diffusion_vae.rs.

Run by hand, not in CI (it needs torch, diffusers and safetensors from PyPI):

    PREVIZ_DIFFUSION_EXPORT=/tmp/vaeref cargo test -p previz-models --test diffusion_vae
    python3 tests/diffusion/reference_vae.py /tmp/vaeref engine/models/tests/fixtures/diffusion

The first command writes, under <export>/vae/, the tiny TAESD (tiny-taesd/, diffusers'
AutoencoderTiny folder), the tiny SD model whose autoencoder is used (tiny-sd/vae/) and the
inputs (inputs.safetensors: "latents" (1, 4, 16, 14), "pixels" (1, 3, 64, 48)). This script
loads both with diffusers' from_pretrained, checks that the tensor names are exactly the ones
diffusers expects, and writes vae-reference.safetensors into the fixtures folder:

* taesd.decode: AutoencoderTiny.decode(latents / scaling_factor), as its pipelines call it;
* taesd.encode: AutoencoderTiny.encode(pixels);
* kl.tiled: AutoencoderKL.decode(latents) after enable_tiling() with 8-latent (64 px) tiles and
  tile_overlap_factor 0.25, so the 16 x 14 latents split into 3 x 3 tiles (the last column a
  2-latent tile inside the previous tile's overlap);
* kl.whole: AutoencoderKL.decode(latents) without tiling;
* kl.tiled_encode.mean / .logvar: AutoencoderKL.encode(pixels_large) with the same tiling
  (128 x 112 pixels: 3 x 3 tiles of 64 px), the latent distribution's mean and log-variance;
* kl.whole_encode.mean: the same without tiling;
* latents: the input, so the test notices if the Rust side stops drawing the same one.

Recorded with torch 2.8.0, diffusers 0.35.1 on CPU in float32.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import diffusers
from diffusers import AutoencoderKL, AutoencoderTiny

TILE = 8  # latents; must match TILE in diffusion_vae.rs
OVERLAP = 0.25


def check_names(model, folder):
    ours = set(load_file(folder / "diffusion_pytorch_model.safetensors"))
    theirs = set(model.state_dict())
    assert ours == theirs, (sorted(ours - theirs), sorted(theirs - ours))


def main():
    export, out = Path(sys.argv[1]) / "vae", Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    print("diffusers", diffusers.__version__, "torch", torch.__version__)
    inputs = load_file(export / "inputs.safetensors")
    latents, pixels, large = inputs["latents"], inputs["pixels"], inputs["pixels_large"]

    taesd_dir = export / "tiny-taesd"
    taesd = AutoencoderTiny.from_pretrained(taesd_dir, torch_dtype=torch.float32).eval()
    check_names(taesd, taesd_dir)
    taesd_decode = taesd.decode(latents / taesd.config.scaling_factor).sample
    taesd_encode = taesd.encode(pixels).latents

    vae_dir = export / "tiny-sd" / "vae"
    vae = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.float32).eval()
    check_names(vae, vae_dir)
    whole = vae.decode(latents).sample
    whole_encode = vae.encode(large).latent_dist
    vae.enable_tiling()
    vae.tile_latent_min_size = TILE
    vae.tile_sample_min_size = TILE * 8
    vae.tile_overlap_factor = OVERLAP
    tiled = vae.decode(latents).sample
    tiled_encode = vae.encode(large).latent_dist
    assert tiled.shape == whole.shape, (tiled.shape, whole.shape)
    print("diffusers' own tiled vs whole: max |diff|", (tiled - whole).abs().max().item())

    path = out / "vae-reference.safetensors"
    save_file(
        {
            "taesd.decode": taesd_decode.contiguous(),
            "taesd.encode": taesd_encode.contiguous(),
            "kl.tiled": tiled.contiguous(),
            "kl.whole": whole.contiguous(),
            "kl.tiled_encode.mean": tiled_encode.mean.contiguous(),
            "kl.tiled_encode.logvar": tiled_encode.logvar.contiguous(),
            "kl.whole_encode.mean": whole_encode.mean.contiguous(),
            "latents": latents.contiguous(),
        },
        path,
    )
    print("wrote", path)


if __name__ == "__main__":
    main()
