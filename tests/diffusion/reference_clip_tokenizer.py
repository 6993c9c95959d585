#!/usr/bin/env python3
"""Token ids from transformers' CLIPTokenizer on the vocabulary models/clip_tokenizer.py derives,
for engine/models/tests/diffusion_single_file.rs (the_real_clip_vocabulary_tokenizes_as_transformers_does).

Run by hand, not in CI (it needs transformers):

    python3 models/clip_tokenizer.py
    python3 tests/diffusion/reference_clip_tokenizer.py models/cache/clip-tokenizer \
        engine/models/tests/fixtures/diffusion/clip_tokenizer_ids.json

transformers builds CLIPTokenizerFast offline from vocab.json + merges.txt (no hub; its
converter is what diffusion/clip.rs mirrors), pads to 77 with <|endoftext|> as diffusers' SD
pipelines do, and the ids are recorded with the prompts. The first prompt's ids are also
checked against the ones OpenAI's CLIP is known to give, so a vocabulary derived wrongly fails
here rather than being recorded.

The slow CLIPTokenizer is run too and the prompts where it differs are recorded (not tested):
without the ftfy package it falls back to BERT's BasicTokenizer, which splits CJK characters
apart, so "東京" is one token for the fast tokenizer, OpenAI's and ours, and two for it.
"""
import json
import sys
from pathlib import Path

import transformers
from transformers import CLIPTokenizer, CLIPTokenizerFast

PROMPTS = [
    "a photo of a cat",
    "A wide shot: the detective's office, 1947, rain on the window!",
    "close-up, 35mm, f/1.8 -- bokeh; neon signs (pink & teal)",
    "naïve café déjà-vu, ÜBER straße 東京 🙂",
    "   multiple    spaces\tand\nnewlines   ",
    "it's, we're, they'll, I'd, you've, I'm",
    "",
    " ".join(["long"] * 100),
]

# OpenAI CLIP's ids for the first prompt (openai/clip-vit-large-patch14).
KNOWN = [49406, 320, 1125, 539, 320, 2368, 49407]


def main():
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    files = dict(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"),
                 pad_token="<|endoftext|>")
    tok, slow = CLIPTokenizerFast(**files), CLIPTokenizer(**files)
    assert len(tok) == 49408, len(tok)
    cases, slow_differs = [], []
    for prompt in PROMPTS:
        ids = tok(prompt, padding="max_length", max_length=77, truncation=True)["input_ids"]
        cases.append({"prompt": prompt, "ids": ids})
        if slow(prompt, padding="max_length", max_length=77, truncation=True)["input_ids"] != ids:
            slow_differs.append(prompt)
    assert cases[0]["ids"][: len(KNOWN)] == KNOWN, cases[0]["ids"][:10]
    record = {"recorded_with": {"transformers": transformers.__version__, "tokenizer": "CLIPTokenizerFast"},
              "slow_tokenizer_differs_on": slow_differs, "prompts": cases}
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
