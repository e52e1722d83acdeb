#!/usr/bin/env python3
"""Writes tests/data/llm/sampler-golden.txt: the distribution llama.cpp's
sampler chain leaves before its final draw -- penalties, top-k, top-p,
min-p, temperature, the order of its default chain -- for seeded random
logits, a token history and a set of parameters, through llama-cpp-python's
low-level sampler API (llama_sampler_apply on a llama_token_data_array).
llm_sampler_candidates must give the same ids and probabilities.

Line format after the header:
    temperature top_k top_p min_p repeat_penalty repeat_last_n frequency presence
    | history ids (comma-joined, "-" if none)
    | logits (comma-joined, %.9g)
    | surviving ids:probabilities, most likely first (comma-joined)

    python3 tests/reference/make-llm-sampler-golden.py
"""
import ctypes
import math
import os

import llama_cpp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "llm")
N_VOCAB = 48

PARAMS = [
    # temperature, top_k, top_p, min_p, repeat, last_n, frequency, presence
    (1.0, 0, 1.0, 0.0, 1.0, 0, 0.0, 0.0),
    (0.8, 40, 0.95, 0.05, 1.0, 64, 0.0, 0.0),  # llama.cpp's defaults
    (0.7, 10, 1.0, 0.0, 1.0, 64, 0.0, 0.0),
    (1.0, 0, 0.9, 0.0, 1.0, 64, 0.0, 0.0),
    (1.3, 0, 1.0, 0.1, 1.0, 64, 0.0, 0.0),
    (1.0, 0, 1.0, 0.0, 1.3, 64, 0.0, 0.0),
    (1.0, 0, 1.0, 0.0, 1.0, 64, 0.5, 0.3),
    (0.5, 20, 0.8, 0.05, 1.1, 4, 0.2, 0.1),
    (2.0, 5, 0.5, 0.2, 1.5, 8, 0.0, 0.0),
    (0.0, 40, 0.95, 0.05, 1.2, 64, 0.0, 0.0),  # greedy after penalties
]


def llama_cpp_distribution(params, history, logits):
    temp, top_k, top_p, min_p, rep, last_n, freq, pres = params
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    # the binding declares a leading n_vocab the C function no longer has; on
    # x86-64 the ints and floats travel in separate registers, so last_n goes first
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_penalties(last_n, last_n, rep, freq, pres))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(top_k))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(top_p, 1))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_min_p(min_p, 1))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temp))
    for t in history:
        llama_cpp.llama_sampler_accept(chain, t)
    data = (llama_cpp.llama_token_data * N_VOCAB)()
    for i, l in enumerate(logits):
        data[i].id, data[i].logit, data[i].p = i, float(l), 0.0
    arr = llama_cpp.llama_token_data_array(data=data, size=N_VOCAB, selected=-1, sorted=False)
    llama_cpp.llama_sampler_apply(chain, ctypes.byref(arr))
    cand = [(arr.data[i].id, arr.data[i].logit) for i in range(arr.size)]
    llama_cpp.llama_sampler_free(chain)
    cand = [(i, l) for i, l in cand if l != -math.inf]
    m = max(l for _, l in cand)
    z = sum(math.exp(l - m) for _, l in cand)
    dist = sorted(((i, math.exp(l - m) / z) for i, l in cand), key=lambda x: (-x[1], x[0]))
    return dist


def main():
    rng = np.random.default_rng(2024)
    lines = []
    for params in PARAMS:
        for _ in range(3):
            logits = (rng.standard_normal(N_VOCAB) * 2.0).astype(np.float32)
            history = [int(x) for x in rng.integers(0, 12, size=6)]
            dist = llama_cpp_distribution(params, history, logits)
            p = " ".join(f"{v:g}" for v in params)
            h = ",".join(str(t) for t in history) if params[5] else "-"
            if not params[5]:
                history = []
            lg = ",".join(f"{float(v):.9g}" for v in logits)
            d = ",".join(f"{i}:{q:.9g}" for i, q in dist)
            lines.append(f"{p} | {h} | {lg} | {d}")
    dst = os.path.join(DATA, "sampler-golden.txt")
    with open(dst, "w") as f:
        f.write("HARK-LLM-SAMPLER-GOLDEN 1\n")
        f.write(f"reference llama-cpp-python {llama_cpp.__version__}\n")
        f.write(f"n_vocab {N_VOCAB}\n")
        f.write(f"cases {len(lines)}\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {dst}: {len(lines)} cases")


if __name__ == "__main__":
    main()
