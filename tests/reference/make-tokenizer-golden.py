#!/usr/bin/env python3
"""Writes tests/data/tokenizer-golden.txt: openai-whisper's tokenizer (tiktoken)
on tests/data/tokenizer-corpus.txt, checked by tests/test-audio-tokenizer.c.

Needs: pip install openai-whisper (tiktoken; the vocabularies ship inside
the package, nothing is downloaded). Run from anywhere:
    python3 tests/reference/make-tokenizer-golden.py

Sections, one per vocabulary:
    gpt2          get_tokenizer(multilingual=False)                  n_vocab 51864
    multilingual  get_tokenizer(multilingual=True)                   n_vocab 51865
    multilingual  get_tokenizer(multilingual=True, num_languages=100) n_vocab 51866 (large-v3)

Line formats (space separated; text as lowercase hex of its UTF-8 bytes):
    section NAME N_VOCAB N_LANGUAGES
    special NAME ID                       eot sot translate transcribe sot_lm sot_prev
                                          no_speech no_timestamps timestamp_begin
    lang CODE ID
    non_speech ID...                      Tokenizer.non_speech_tokens
    suppress ID...                        DecodingTask._get_suppress_tokens() for "-1"
    sot_sequence LANG|- TASK|- ID...
    encode HEX : ID...                    Tokenizer.encode (special names as text)
    decode FLAGS ID... : HEX              FLAGS: 5 = decode(), 7 = decode_with_timestamps()
                                          (aud-tokenizer.h's AUD_TOK_DECODE_* bits)
    end
"""
import os
import re
import sys
import types

import whisper
from whisper.decoding import DecodingTask
from whisper.tokenizer import LANGUAGES, get_tokenizer

DEC_SPECIALS, DEC_TIMESTAMPS, DEC_UTF8 = 1, 2, 4


def unescape(line):
    def rep(m):
        s = m.group(0)
        if s.startswith("\\u{"):
            return chr(int(s[3:-1], 16))
        return {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\v": "\v", "\\f": "\f", "\\\\": "\\"}[s]

    return re.sub(r"\\u\{[0-9A-Fa-f]+\}|\\[ntrvf\\]", rep, line)


def read_corpus(path):
    texts = [""]
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            texts.append(unescape(line))
    return texts


def hexs(s):
    return s.encode("utf-8").hex()


def ids(v):
    return " ".join(str(i) for i in v)


def section(out, name, tok, texts, n_vocab, full):
    out.append(f"section {name} {n_vocab} {tok.num_languages}")
    for attr in ("eot", "sot", "translate", "transcribe", "sot_lm", "sot_prev", "no_speech", "no_timestamps",
                 "timestamp_begin"):
        out.append(f"special {attr} {getattr(tok, attr)}")
    for code in list(LANGUAGES)[: tok.num_languages]:
        out.append(f"lang {code} {tok.to_language_token(code)}")
    out.append(f"non_speech {ids(tok.non_speech_tokens)}")
    fake = types.SimpleNamespace(options=types.SimpleNamespace(suppress_tokens="-1"), tokenizer=tok)
    out.append(f"suppress {ids(DecodingTask._get_suppress_tokens(fake))}")
    multilingual = name != "gpt2"
    cases = (("en", "transcribe"), ("de", "translate"), ("ja", "transcribe")) if multilingual else ((None, None),)
    for lang, task in cases:
        t = get_tokenizer(multilingual, num_languages=tok.num_languages, language=lang, task=task)
        out.append(f"sot_sequence {lang if multilingual else '-'} {task if multilingual else '-'} "
                   f"{ids(t.sot_sequence)}")
    if not full:
        texts = texts[:8]
    for text in texts:
        enc = tok.encode(text, disallowed_special=())
        out.append(f"encode {hexs(text)} : {ids(enc)}")
    # decoding: whole lines, halves (cut inside characters -> U+FFFD), single
    # tokens, and prompts with specials and timestamps
    ts = tok.timestamp_begin
    for text in texts:
        enc = tok.encode(text, disallowed_special=())
        if not enc:
            continue
        seqs = [enc, enc[: len(enc) // 2], enc[len(enc) // 2:]]
        if any(ord(c) > 0x7F for c in text):
            seqs += [[t] for t in enc[:12]]
        for s in seqs:
            if s:
                out.append(f"decode {DEC_SPECIALS | DEC_UTF8} {ids(s)} : {hexs(tok.decode(s))}")
    for text in texts[1:4]:
        enc = tok.encode(text, disallowed_special=())
        prompt = list(tok.sot_sequence) + [ts] + enc + [ts + 150, ts + 1500, tok.eot]
        if multilingual:
            prompt = [tok.sot_prev] + enc[:3] + prompt + [tok.no_speech, tok.no_timestamps]
        out.append(f"decode {DEC_SPECIALS | DEC_UTF8} {ids(prompt)} : {hexs(tok.decode(prompt))}")
        out.append(f"decode {DEC_SPECIALS | DEC_TIMESTAMPS | DEC_UTF8} {ids(prompt)} : "
                   f"{hexs(tok.decode_with_timestamps(prompt))}")
    out.append("end")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.join(here, "..", "data", "tokenizer-corpus.txt")
    dst = os.path.join(here, "..", "data", "tokenizer-golden.txt")
    texts = read_corpus(corpus)
    out = [
        "# Whisper tokenizer golden data, written by tests/reference/make-tokenizer-golden.py",
        f"# from openai-whisper {whisper.__version__} on tests/data/tokenizer-corpus.txt; format in the script.",
        "HKTOKGLD 1",
    ]
    section(out, "gpt2", get_tokenizer(False), texts, 51864, True)
    section(out, "multilingual", get_tokenizer(True), texts, 51865, True)
    section(out, "multilingual", get_tokenizer(True, num_languages=100), texts, 51866, False)
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")
    n_enc = sum(1 for line in out if line.startswith("encode "))
    n_dec = sum(1 for line in out if line.startswith("decode "))
    print(f"wrote {dst}: {len(texts)} texts, {n_enc} encodings, {n_dec} decodings, "
          f"{os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    sys.exit(main())
