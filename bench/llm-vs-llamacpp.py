#!/usr/bin/env python3
"""Prompt-processing and generation tokens/s of Hark's llm_model (bench-llm, "cpu"
backend) against llama.cpp (llama-cpp-python) on the same GGUF file, same thread
count, same token ids. Runs alternate, ROUNDS times each, and the best of each is
reported (the machine is shared; the best run is the least disturbed one).

Usage: bench/llm-vs-llamacpp.py BUILD_DIR MODEL.gguf [THREADS] [PP] [TG] [ROUNDS]
"""
import re
import subprocess
import sys
import time

import numpy as np
from llama_cpp import Llama


def hark(build, model, pp, tg):
    out = subprocess.run([f"{build}/bench/bench-llm", "run", model, "cpu", str(pp), str(tg)], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"prefill \d+ tokens ([\d.]+) tok/s; decode \d+ tokens ([\d.]+) tok/s", out)
    return float(m.group(1)), float(m.group(2))


def llamacpp(model, threads, pp, tg):
    # A fresh context per run (after llm.reset(), or with n_ubatch = 512, this
    # llama-cpp-python build decoded ten times slower here).
    llm = Llama(model_path=model, n_ctx=1024, n_threads=threads, n_batch=512, verbose=False)
    n_vocab = llm.n_vocab()
    toks = [(i * 7919 + 13) % n_vocab for i in range(pp)]
    t0 = time.perf_counter()
    llm.eval(toks)
    t1 = time.perf_counter()
    for _ in range(tg):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        llm.eval([t])
    t2 = time.perf_counter()
    del llm
    return pp / (t1 - t0), tg / (t2 - t1)


def main():
    build, model = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    pp = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    tg = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    h, l = [], []
    for _ in range(rounds):
        h.append(hark(build, model, pp, tg))
        l.append(llamacpp(model, threads, pp, tg))
    hp, hd = max(x[0] for x in h), max(x[1] for x in h)
    lp, ld = max(x[0] for x in l), max(x[1] for x in l)
    print(f"model {model}, {threads} threads, prompt {pp} tokens, generation {tg} tokens, best of {rounds}")
    print(f"  all runs hark     pp/tg: {[(round(a), round(b, 1)) for a, b in h]}")
    print(f"  all runs llama.cpp pp/tg: {[(round(a), round(b, 1)) for a, b in l]}")
    print(f"  prompt processing: hark {hp:.1f} tok/s, llama.cpp {lp:.1f} tok/s, ratio {hp / lp:.2f}")
    print(f"  generation:        hark {hd:.1f} tok/s, llama.cpp {ld:.1f} tok/s, ratio {hd / ld:.2f}")


if __name__ == "__main__":
    main()
