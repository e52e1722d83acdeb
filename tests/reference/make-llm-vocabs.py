#!/usr/bin/env python3
"""Writes the small vocabulary-only GGUF files the llm tokenizer tests use
(tests/data/llm/vocab-*.gguf), with gguf-py. Each is a tokenizer trained here
with Hugging Face `tokenizers` on freely licensed text (the Debian common
licences and the tokenizer corpus), so that llama.cpp (through
make-llm-tokenizer-golden.py) can say which ids each should give:

  vocab-llama3.gguf  byte-level BPE, tokenizer.ggml.pre "llama-bpe" (Llama 3's
                     regex, ignore_merges), Llama 3 control tokens, add_bos
  vocab-qwen2.gguf   the same merges, pre "qwen2" (single digits), ChatML
                     control tokens, one user-defined token, no BOS
  vocab-gpt2.gguf    the same merges, pre "gpt-2" (GPT-2's regex alone)
  vocab-default.gguf the same merges, no tokenizer.ggml.pre (llama.cpp's
                     "default": punctuation runs, GPT-2's regex, digit runs,
                     then groups of three ASCII digits)
  vocab-xbpe.gguf    byte-level BPE trained without pre-tokenization (merges
                     cross spaces, punctuation and case changes, so that every
                     pre-tokenizer's cuts show in the ids); the pre-tokenizer
                     names test (tokenizer-golden-pre.txt) runs on it
  vocab-spm.gguf     SentencePiece-style "llama" model (Llama 2's layout:
                     <unk> <s> </s>, 256 byte tokens <0xXX>, then pieces with
                     scores; characters outside the vocabulary fall back to bytes)

Each file carries the minimal llama hyperparameters llama.cpp wants for a
vocab_only load, and no tensors.

    python3 tests/reference/make-llm-vocabs.py

The training text includes tests/data/llm/tokenizer-corpus.txt: after
changing the corpus, run this and then make-llm-tokenizer-golden.py.
"""
import os

import gguf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "llm")

# Words the BPE vocabularies hold whole although no merge sequence builds them:
# with ignore_merges (llama3) a piece equal to one of them is that token.
WHOLE_WORDS = ["\u0120Supercalifragilisticexpialidocious", "\u0120antidisestablishmentarianism", "Hello"]


def training_text():
    parts = []
    for name in ("GPL-3", "Apache-2.0", "Artistic"):
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                parts.append(f.read())
    with open(os.path.join(DATA, "tokenizer-corpus.txt"), encoding="utf-8") as f:
        corpus = f.read()
    # only part of the corpus, so that some of its words stay unmerged
    parts.append(corpus[: len(corpus) // 2] * 3)
    return parts


LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def xbpe_text():
    """The corpus cut into its cases, each many times (merges then span the
    corpus's own word, case and punctuation boundaries)."""
    with open(os.path.join(DATA, "tokenizer-corpus.txt"), encoding="utf-8") as f:
        return f.read().split("\n=====\n") * 4


def base_writer(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(16)
    return w


def write(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def train_bpe(texts, vocab_size=1200, use_regex=True):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    import json
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    return tokens, merges


def bpe_file(path, pre, tokens, merges, specials, user_defined, bos, eos, add_bos):
    tokens = list(tokens)
    types = [gguf.TokenType.NORMAL] * len(tokens)
    for word in WHOLE_WORDS:
        if word not in tokens:
            tokens.append(word)
            types.append(gguf.TokenType.NORMAL)
    # a learned token with a special's text becomes that special (llama.cpp
    # refuses vocabularies with repeated texts)
    for group, kind in ((specials, gguf.TokenType.CONTROL), (user_defined, gguf.TokenType.USER_DEFINED)):
        for s in group:
            if s in tokens:
                types[tokens.index(s)] = kind
            else:
                tokens.append(s)
                types.append(kind)
    w = base_writer(path)
    w.add_tokenizer_model("gpt2")
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index(bos))
    w.add_eos_token_id(tokens.index(eos))
    w.add_add_bos_token(add_bos)
    write(w)
    print(f"wrote {path}: {len(tokens)} tokens, {len(merges)} merges")


def spm_file(path, texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=1500, show_progress=False, limit_alphabet=300)
    tok.train_from_iterator(texts, trainer)
    learned = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    scores = [0.0] * len(tokens)
    for i, t in enumerate(learned):
        tokens.append(t)
        types.append(gguf.TokenType.NORMAL)
        scores.append(-float(i))
    w = base_writer(path)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    write(w)
    print(f"wrote {path}: {len(tokens)} tokens")


def main():
    texts = training_text()
    tokens, merges = train_bpe(texts)
    bpe_file(os.path.join(DATA, "vocab-llama3.gguf"), "llama-bpe", tokens, merges,
             ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
             [], "<|begin_of_text|>", "<|end_of_text|>", True)
    bpe_file(os.path.join(DATA, "vocab-qwen2.gguf"), "qwen2", tokens, merges,
             ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], ["<tool_call>"], "<|endoftext|>", "<|im_end|>",
             False)
    bpe_file(os.path.join(DATA, "vocab-gpt2.gguf"), "gpt-2", tokens, merges, ["<|endoftext|>"], [],
             "<|endoftext|>", "<|endoftext|>", False)
    bpe_file(os.path.join(DATA, "vocab-default.gguf"), None, tokens, merges, ["<|endoftext|>"], ["<tool_call>"],
             "<|endoftext|>", "<|endoftext|>", False)
    xtokens, xmerges = train_bpe(xbpe_text(), 3000, False)
    bpe_file(os.path.join(DATA, "vocab-xbpe.gguf"), "llama-bpe", xtokens, xmerges, LLAMA3_SPECIALS, [],
             "<|begin_of_text|>", "<|end_of_text|>", True)
    spm_file(os.path.join(DATA, "vocab-spm.gguf"), texts)


if __name__ == "__main__":
    main()
