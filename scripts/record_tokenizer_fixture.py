#!/usr/bin/env python3
"""Records SmolLM2's reference token ids for engine/models/tests/tokenizer_fixture.rs.

The reference is llama.cpp's tokenizer (llama-cpp-python), which implements SmolLM2's
pre-tokenizer ('smollm': digits one by one, then GPT-2's regex, no prefix space) natively.
Run once, commit the JSON; the Rust test then needs neither Python nor llama.cpp:

    pip install llama-cpp-python==0.3.36
    python3 scripts/record_tokenizer_fixture.py models/cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import json
import sys
from pathlib import Path

from llama_cpp import Llama

TEXTS = [
    "The 3 riders left at 10:45pm on 12/07/1999 -- 250 km, $1,200.50 (approx.)!\n\nThey didn't stop; we'd've.\n\tIndented line\r\nEnd.",
    "<|im_start|>system\nYou are a first assistant director.<|im_end|>\n<|im_start|>user\nBreak down scene 12.<|im_end|>\n<|im_start|>assistant\n",
    "INT. KITCHEN - NIGHT\n\nMARA (30s, rain-soaked coat) picks up the letter.\n\n                    MARA\n          (quietly)\n     You kept it. All these years?\n",
    "Caf\u00e9 na\u00efve \u2014 \u201cquotes\u201d \u2026 \u00fcber \u65e5\u672c\u8a9e \U0001F3AC 1234567890 x\u00b2  double  spaces   ",
    '{"shots":[{"size":"wide","angle":"eye_level","lens_mm":24,"duration_s":3.5,"lines":[1,2]}]}',
]


def main() -> int:
    model = Path(sys.argv[1])
    llm = Llama(model_path=str(model), vocab_only=True, verbose=False)
    cases = []
    for text in TEXTS:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        assert llm.detokenize(ids, special=True).decode("utf-8") == text, text
        cases.append({"text": text, "ids": ids})
    out = Path(__file__).resolve().parent.parent / "engine/models/tests/fixtures/smollm2_tokens.json"
    lines = ["{", ' "reference": "llama.cpp via llama-cpp-python 0.3.36",', f' "model": {json.dumps(model.name)},',
             ' "cases": [']
    for i, case in enumerate(cases):
        comma = "," if i < len(cases) - 1 else ""
        lines.append(f'  {{"text": {json.dumps(case["text"], ensure_ascii=False)},\n   "ids": {json.dumps(case["ids"])}}}{comma}')
    lines += [" ]", "}"]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out} ({sum(len(c['ids']) for c in cases)} ids)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
