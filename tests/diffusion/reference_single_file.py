#!/usr/bin/env python3
"""diffusers' own conversion of our tiny single-file checkpoints, for
engine/models/tests/diffusion_single_file.rs (our_conversion_hashes_what_diffusers_conversion_hashes).

Run by hand, not in CI (it needs torch, diffusers, transformers and blake3 from PyPI):

    PREVIZ_DIFFUSION_EXPORT=/tmp/sfref cargo test -p previz-models --test diffusion_single_file
    python3 tests/diffusion/reference_single_file.py /tmp/sfref engine/models/tests/fixtures/diffusion

The first command writes, per family (sd1, sd1-inpainting, sd2, sdxl), a tiny diffusers folder
<name>/ and the same weights as one LDM-named checkpoint <name>.safetensors (what A1111 and civitai
distribute), and ours.json (what our converter made of each file). This script converts each
checkpoint with diffusers.loaders.single_file_utils (convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint: the
functions from_single_file uses) given the folder's configs, asserts that every converted tensor
equals the folder's (same names, same values), and writes single_file.json: per family and
component the tensor count and a blake3 of the converted state dict (for each name in order:
the name, its shape as "[a, b]", its values as little-endian f32), and the same of the
checkpoint itself (so CI also knows it still writes the checkpoint that was checked here). SD 1.x pipelines are also
loaded end to end with StableDiffusionPipeline.from_single_file(file, config=folder) and
compared the same way.

One difference is normalised before comparing: convert_ldm_clip_checkpoint keeps CLIP's
`text_model.embeddings.position_ids` (a buffer transformers no longer stores; from_single_file
drops it when loading), which neither the folder nor our converter has.

Recorded with torch 2.8.0, diffusers 0.35.1, transformers 4.56.1, blake3 1.0 on CPU.
"""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import blake3
import diffusers
import torch
import transformers
from diffusers import StableDiffusionPipeline
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)
from safetensors.torch import load_file

POSITION_IDS = "text_model.embeddings.position_ids"


def state_hash(sd):
    h = blake3.blake3()
    for name in sorted(sd):
        t = sd[name]
        h.update(name.encode())
        h.update(str(list(t.shape)).encode())
        h.update(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


def assert_same(label, got, want):
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"{label}: missing {missing[:5]}, extra {extra[:5]}"
    for k in want:
        assert got[k].shape == want[k].shape, f"{label}.{k}: {tuple(got[k].shape)} != {tuple(want[k].shape)}"
        assert torch.equal(got[k].to(torch.float32), want[k].to(torch.float32)), f"{label}.{k} differs"


def convert(ckpt, folder):
    index = json.loads((folder / "model_index.json").read_text())
    te_cfg = json.loads((folder / "text_encoder/config.json").read_text())
    out = {
        "unet": convert_ldm_unet_checkpoint(ckpt, json.loads((folder / "unet/config.json").read_text())),
        "vae": convert_ldm_vae_checkpoint(ckpt, json.loads((folder / "vae/config.json").read_text())),
    }
    if "text_encoder_2" in index:
        out["text_encoder"] = convert_ldm_clip_checkpoint(ckpt)
        cfg2 = json.loads((folder / "text_encoder_2/config.json").read_text())
        model = SimpleNamespace(config=SimpleNamespace(hidden_size=cfg2["hidden_size"]))
        out["text_encoder_2"] = convert_open_clip_checkpoint(model, ckpt, prefix="conditioner.embedders.1.model.")
    elif te_cfg["hidden_act"] == "gelu":
        model = SimpleNamespace(config=SimpleNamespace(hidden_size=te_cfg["hidden_size"]))
        out["text_encoder"] = convert_open_clip_checkpoint(model, ckpt, prefix="cond_stage_model.model.")
    else:
        out["text_encoder"] = convert_ldm_clip_checkpoint(ckpt)
    out["text_encoder"].pop(POSITION_IDS, None)
    return out


def main():
    export, fixtures = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_grad_enabled(False)
    ours = json.loads((export / "ours.json").read_text())
    families = {}
    for name in ours:
        folder, file = export / name, export / f"{name}.safetensors"
        ckpt = load_file(file)
        converted = convert(ckpt, folder)
        entry = {"class_name": json.loads((folder / "model_index.json").read_text())["_class_name"],
                 # The input this was checked on: CI checks it writes the same checkpoint.
                 "checkpoint": {"tensors": len(ckpt), "blake3": state_hash(ckpt)}}
        for component, sd in sorted(converted.items()):
            weights = "model.safetensors" if component.startswith("text_encoder") else "diffusion_pytorch_model.safetensors"
            assert_same(f"{name}/{component}", sd, load_file(folder / component / weights))
            entry[component] = {"tensors": len(sd), "blake3": state_hash(sd)}
        if name.startswith("sd1"):
            # End to end, as a user would: the pipeline's modules hold the folder's weights.
            pipe = StableDiffusionPipeline.from_single_file(
                str(file), config=str(folder), local_files_only=True, safety_checker=None,
                requires_safety_checker=False, torch_dtype=torch.float32)
            for component in ("unet", "vae", "text_encoder"):
                sd = {k: v for k, v in getattr(pipe, component).state_dict().items() if k != POSITION_IDS}
                weights = "model.safetensors" if component == "text_encoder" else "diffusion_pytorch_model.safetensors"
                assert_same(f"{name}/{component} (from_single_file)", sd, load_file(folder / component / weights))
        families[name] = entry
        print(name, {c: v["tensors"] for c, v in entry.items() if c not in ("class_name", "checkpoint")})
    record = {
        "recorded_with": {"diffusers": diffusers.__version__, "torch": torch.__version__,
                          "transformers": transformers.__version__},
        "families": families,
    }
    out = fixtures / "single_file.json"
    out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
