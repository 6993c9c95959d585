#!/usr/bin/env python3
"""Writes CLIP's BPE tokenizer (vocab.json + merges.txt) into the git-ignored cache, from PyPI.

    python3 models/clip_tokenizer.py [--cache DIR]

A single-file Stable Diffusion checkpoint (A1111 / civitai) carries no tokenizer. Every SD 1.x,
2.x and XL text encoder uses the same 49,408-token CLIP BPE vocabulary, which the PyPI wheel of
open_clip ships as open_clip/bpe_simple_vocab_16e6.txt.gz (nothing comes from a model hub).
This downloads that wheel with `pip download --no-deps`, checks the wheel's and the member's
sha256, and derives the files transformers' CLIPTokenizer reads, the way open_clip's
tokenizer.py builds its table:

    ids 0-255      the 256 byte symbols (GPT-2's printable stand-ins for bytes: the printable
                   bytes first, then the others)
    ids 256-511    the same symbols + '</w>' (end of word)
    ids 512-49405  one token per merge, the first 48,894 merges of the file, in order
    49406, 49407   <|startoftext|>, <|endoftext|>

into <cache>/clip-tokenizer/ (default models/cache, or $PREVIZ_MODELS_DIR): vocab.json,
merges.txt, special_tokens_map.json and tokenizer_config.json (padding with <|endoftext|> as
SD 1.x's tokenizer; SDXL's second tokenizer pads with '!', which this does not write). The
derived files' sha256 are pinned too; when they are present it does nothing. The runtime finds the folder by itself
(diffusion::single_file).
"""
import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "open_clip_torch==3.3.0"
WHEEL_SHA256 = "c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
MEMBER_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
MERGES = 49152 - 256 - 2
VOCAB = 49408
# What the derivation writes: checked after writing, and when present it is not redone.
OUTPUT_SHA256 = {
    "vocab.json": "3f0c4f7d2086b61b38487075278ea9ed04edb53a03cbb045b86c27190fa8fb69",
    "merges.txt": "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a",
}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def byte_symbols():
    """GPT-2 / CLIP's printable stand-ins for the 256 bytes, in open_clip's bytes_to_unicode
    order: the printable bytes as themselves first, then the others mapped to 256 and up."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def derive(bpe_gz: bytes):
    lines = gzip.decompress(bpe_gz).decode("utf-8").split("\n")
    # The first line is the version header; then the merges, most frequent first.
    merges = [tuple(line.split()) for line in lines[1 : MERGES + 1]]
    assert all(len(m) == 2 for m in merges), "a merge is not two symbols"
    symbols = byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == VOCAB, len(vocab)
    ids = {token: i for i, token in enumerate(vocab)}
    assert len(ids) == VOCAB, "duplicate tokens"
    merges_txt = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    return ids, merges_txt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("PREVIZ_MODELS_DIR", str(HERE / "cache")).split(os.pathsep)[0]))
    args = parser.parse_args()
    out = args.cache / "clip-tokenizer"
    if all(sha256_of(out / name) == digest for name, digest in OUTPUT_SHA256.items()):
        print(f"clip-tokenizer: {out} present")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(f"clip-tokenizer: pip download --no-deps {PACKAGE}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, PACKAGE],
                       check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel from {PACKAGE}, got {[w.name for w in wheels]}")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{wheels[0].name} has sha256 {digest}, expected {WHEEL_SHA256}; refusing it")
        with zipfile.ZipFile(wheels[0]) as wheel:
            bpe = wheel.read(MEMBER)
    digest = hashlib.sha256(bpe).hexdigest()
    if digest != MEMBER_SHA256:
        raise SystemExit(f"{MEMBER} has sha256 {digest}, expected {MEMBER_SHA256}; refusing it")
    ids, merges_txt = derive(bpe)
    out.mkdir(parents=True, exist_ok=True)
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    files = {
        "vocab.json": json.dumps(ids, ensure_ascii=False),
        "merges.txt": merges_txt,
        "special_tokens_map.json": json.dumps(special, indent=2),
        "tokenizer_config.json": json.dumps({**special, "model_max_length": 77, "do_lower_case": True,
                                             "tokenizer_class": "CLIPTokenizer"}, indent=2),
    }
    for name, text in files.items():
        part = out / (name + ".part")
        part.write_text(text, encoding="utf-8")
        os.replace(part, out / name)
    for name, digest in OUTPUT_SHA256.items():
        if sha256_of(out / name) != digest:
            raise SystemExit(f"{out / name}: derived with sha256 {sha256_of(out / name)}, expected {digest}")
    print(f"clip-tokenizer: wrote {out} ({len(ids)} tokens, {MERGES} merges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
