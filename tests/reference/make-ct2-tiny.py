#!/usr/bin/env python3
"""make-ct2-tiny.py: a tiny CTranslate2 Whisper model written by CTranslate2's
own spec writer (ctranslate2.specs), read back by tests/test-kernels-ct2.c.

  make-ct2-tiny.py [OUT_DIR]    writes tests/data/ct2-tiny/ (or OUT_DIR):
                                model.bin, config.json, vocabulary.json

Dimensions: 1 encoder and 1 decoder layer, 2 heads, d_model 8, FFN 16, 4 mel
bins, 6 tokens, 3 encoder and 4 decoder positions. Quantized "int8_float16",
so the file holds float16 tensors, int8 weights with float32 "_scale"
variables, int8/int16 scalars and one alias (decoder/projection/weight ->
decoder/embeddings/weight, which the writer finds by equal values).

Values are fixed (a closed form, no randomness), so the output is the same on
every run with the same ctranslate2 version (made with 4.8.5). The C test
checks the names, shapes, dtypes and a few values written here; change both
together. Exit 77 when ctranslate2 or numpy is missing.
"""
import os
import sys

try:
    import numpy as np
    import ctranslate2.specs as specs
except ImportError:
    sys.exit(77)

D, FFN, MELS, VOCAB, ENC_POS, DEC_POS = 8, 16, 4, 6, 3, 4
TOKENS = ["!", "\"", "é", "日本", "\u0120hello", "<|endoftext|>"]


def values(shape, seed):
    """Deterministic float32 values in [-1, 1): sin of a scaled index."""
    n = int(np.prod(shape))
    return np.sin(np.arange(n, dtype=np.float64) * 0.37 + seed).astype(np.float32).reshape(shape)


def fill(spec):
    """Sets every required variable that is still None, by name."""
    seed = [0]

    def shape_for(name):
        if name.endswith("conv1/weight"):
            return (D, MELS, 3)
        if name.endswith("conv2/weight"):
            return (D, D, 3)
        if name.endswith(("gamma", "beta")):
            return (D,)
        if name.endswith("embeddings/weight") or name.endswith("projection/weight"):
            return (VOCAB, D)
        if "self_attention/linear_0" in name:
            return (3 * D, D)
        if "attention/linear_1" in name and "self_attention" not in name:
            return (2 * D, D)
        if "ffn/linear_0" in name:
            return (FFN, D)
        if "ffn/linear_1" in name:
            return (D, FFN)
        if "linear_" in name:
            return (D, D)
        raise ValueError("no shape rule for " + name)

    def visit(s, name, value):
        if value is None:
            seed[0] += 1
            attr = name.split("/")[-1]
            arr = values(shape_for(name), seed[0])
            if name.endswith("projection/weight"):
                arr = values((VOCAB, D), 1000)  # same as the embeddings: aliased
            if name.endswith("embeddings/weight"):
                arr = values((VOCAB, D), 1000)
            setattr(s, attr, arr)

    spec._visit(visit)
    spec.encoder.conv1.bias = values((D,), 50)
    spec.encoder.conv2.bias = values((D,), 51)
    spec.encoder.position_encodings.encodings = values((ENC_POS, D), 52)
    spec.decoder.position_encodings.encodings = values((DEC_POS, D), 53)
    spec.decoder.projection.bias = values((VOCAB,), 54)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "ct2-tiny")
    os.makedirs(out, exist_ok=True)
    spec = specs.WhisperSpec(1, 2, 1, 2)
    fill(spec)
    spec.config.suppress_ids = [1, 2]
    spec.config.suppress_ids_begin = [5]
    spec.config.lang_ids = [3]
    spec.config.alignment_heads = [[0, 1]]
    spec.register_vocabulary(TOKENS)
    spec.validate()
    spec.optimize(quantization="int8_float16")
    for f in ("model.bin", "config.json", "vocabulary.json"):
        p = os.path.join(out, f)
        if os.path.exists(p):
            os.remove(p)
    spec.save(out)


if __name__ == "__main__":
    main()
