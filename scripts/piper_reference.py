#!/usr/bin/env python3
"""Piper's own pipeline, as the reference for our TTS (issue #5).

    python3 scripts/piper_reference.py phonemes VOICE.onnx OUT.json SENTENCE...
        Phonemes and ids from piper-tts (its bundled espeak-ng), recorded once as the fixture
        engine/models/tests/fixtures/piper_phonemes.json.

    python3 scripts/piper_reference.py synth VOICE.onnx IDS_JSON OUT.f32 [THREADS] [SPEAKER_ID]
        Runs the voice's .onnx in onnxruntime with noise scales 0 (deterministic) on the ids in
        IDS_JSON (a JSON list of ints), as speaker SPEAKER_ID of a multi-speaker voice (0),
        writes float32 little-endian samples.

    python3 scripts/piper_reference.py bench VOICE.onnx IDS_JSON THREADS REPEATS
        Prints one JSON line per id list: seconds (best of REPEATS) and audio seconds.

Needs `pip install onnxruntime` (and piper-tts for `phonemes`); scripts/test.sh installs them.
"""
import json
import sys
import time


def session(onnx_path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(onnx_path, sess_options=options, providers=["CPUExecutionProvider"])


def run(sess, ids, length_scale=1.0, sid=0):
    import numpy as np

    x = np.array([ids], dtype=np.int64)
    lengths = np.array([len(ids)], dtype=np.int64)
    scales = np.array([0.0, length_scale, 0.0], dtype=np.float32)
    feeds = {"input": x, "input_lengths": lengths, "scales": scales}
    if any(i.name == "sid" for i in sess.get_inputs()):  # multi-speaker voices
        feeds["sid"] = np.array([sid], dtype=np.int64)
    return sess.run(None, feeds)[0].squeeze()


def main():
    cmd = sys.argv[1]
    if cmd == "phonemes":
        from piper import PiperVoice

        voice = PiperVoice.load(sys.argv[2])
        out = []
        for text in sys.argv[4:]:
            sentences = voice.phonemize(text)
            out.append({
                "text": text,
                "sentences": [{"phonemes": "".join(p), "ids": voice.phonemes_to_ids(p)} for p in sentences],
            })
        with open(sys.argv[3], "w", encoding="utf-8") as f:
            json.dump({"generator": "piper-tts 1.8.0 (PiperVoice.phonemize / phonemes_to_ids)", "cases": out},
                      f, ensure_ascii=False, indent=1)
            f.write("\n")
    elif cmd == "synth":
        ids = json.load(open(sys.argv[3]))
        threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        sid = int(sys.argv[6]) if len(sys.argv) > 6 else 0
        audio = run(session(sys.argv[2], threads), ids, sid=sid)
        audio.astype("<f4").tofile(sys.argv[4])
    elif cmd == "bench":
        cases = json.load(open(sys.argv[3]))
        threads, repeats = int(sys.argv[4]), int(sys.argv[5])
        sess = session(sys.argv[2], threads)
        for ids in cases:  # warm-up: onnxruntime sizes its memory arena per shape
            run(sess, ids)
        for ids in cases:
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                audio = run(sess, ids)
                best = min(best, time.perf_counter() - t)
            print(json.dumps({"ids": len(ids), "seconds": best, "audio_seconds": len(audio) / 22050}), flush=True)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
