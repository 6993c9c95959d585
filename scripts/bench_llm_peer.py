#!/usr/bin/env python3
"""llama.cpp side of the LLM benchmark (scripts/bench-llm.sh): prompt and greedy generation speed.

Runs llama-cpp-python on the GGUF file as given, with a fixed ChatML prompt cut to exactly
PROMPT_TOKENS tokens, then GEN_TOKENS greedy tokens (argmax of the logits, no sampler), REPS
times; writes the medians, the prompt token ids and the greedy ids to a JSON file so that our
Rust benchmark feeds exactly the same ids and can check it generates the same tokens.
"""

import argparse
import json
import statistics
import time

import llama_cpp
import numpy as np

PROMPT_TOKENS = 259
GEN_TOKENS = 128
REPS = 3

SYSTEM = "You are a film previsualization assistant. You break screenplay scenes into shot lists."
SCENE = """INT. LIGHTHOUSE - NIGHT

Rain hammers the windows. The great lamp turns slowly above, throwing beams across the sea.

MARA (40s, oilskin coat, soaked) climbs the last steps of the spiral stair, a lantern in one hand.
She stops. At the top, the keeper's chair is empty; a mug of tea still steams on the desk.

MARA
Tomas? Tomas, are you up here?

No answer. Only the wind. She sets the lantern down and crosses to the desk. The logbook lies
open. The last entry is written in a shaking hand: "It came back. It is under the water."

Thunder. The lamp stutters, goes dark. In the sudden black, something knocks against the glass
from outside, three slow knocks, forty metres above the sea.

Mara turns. Her lantern light reaches the window. Nothing there but rain.

She backs toward the stair, never taking her eyes off the glass. The lamp flickers back to life.
In its sweeping beam, for one instant, a pale hand is pressed against the window.

MARA (whispering)
Tomas...

She runs down the stairs. The lantern swings, shadows racing along the curved wall. Below, the
heavy door bangs open in the wind.
"""
INSTRUCTION = "List the shots for this scene as JSON."


def prompt_ids(llm: llama_cpp.Llama) -> list[int]:
    """ChatML prompt whose scene text is cut so the whole prompt is PROMPT_TOKENS tokens."""

    def tok(text: str) -> list[int]:
        return llm.tokenize(text.encode(), add_bos=False, special=True)

    head = tok(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n")
    tail = tok(f"\n{INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n")
    scene = tok(SCENE)
    room = PROMPT_TOKENS - len(head) - len(tail)
    if len(scene) < room:
        raise SystemExit(f"scene text too short: {len(scene)} tokens, need {room}")
    return head + scene[:room] + tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("out_json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    llm = llama_cpp.Llama(
        model_path=args.model,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_batch=512,
        n_ctx=2048,
        verbose=False,
    )
    ids = prompt_ids(llm)
    n_vocab = llm.n_vocab()

    def last_logits() -> np.ndarray:
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))

    prompt_s, gen_s, greedy = [], [], []
    for rep in range(REPS + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        t1 = time.perf_counter()
        greedy = []
        for _ in range(GEN_TOKENS):
            nxt = int(np.argmax(last_logits()))
            greedy.append(nxt)
            llm.eval([nxt])
        t2 = time.perf_counter()
        if rep > 0:  # the first run warms caches and page-faults the weights in
            prompt_s.append(t1 - t0)
            gen_s.append(t2 - t1)

    result = {
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "threads": args.threads,
        "prompt_ids": ids,
        "prompt_seconds": prompt_s,
        "gen_seconds": gen_s,
        "prompt_tok_s": len(ids) / statistics.median(prompt_s),
        "gen_tok_s": GEN_TOKENS / statistics.median(gen_s),
        "greedy_ids": greedy,
    }
    with open(args.out_json, "w") as f:
        json.dump(result, f)
    print(
        f"llama.cpp: prompt {result['prompt_tok_s']:.1f} tok/s ({len(ids)} tokens), "
        f"generation {result['gen_tok_s']:.1f} tok/s ({GEN_TOKENS} tokens), {args.threads} threads"
    )


if __name__ == "__main__":
    main()
