#!/usr/bin/env python3
"""make-whisper-tiny-en.py: a seeded random tiny English-only Whisper model
that transcribes end to end (30-s windows, Whisper's special tokens and 1501
timestamps), for the tests of transcription jobs (tests/test-app-jobs.c,
tests/test-ui-jobs.c). Its text is noise; its shape is Whisper's.

  make-whisper-tiny-en.py    writes tests/data/whisper/tiny-en/ (CTranslate2:
                             model.bin, config.json, vocabulary.json)

Vocabulary: the 256 GPT-2 byte tokens, a few merges, then the English-only
specials (as whisper base.en lays them out) and the timestamps <|0.00|> ..
<|30.00|>. Model: 80 mel bins, d_model 32, one encoder and one decoder layer,
1500 encoder and 448 decoder positions. Reuses make-whisper-golden.py's model
maker and CTranslate2 writer; needs torch, transformers, ctranslate2, numpy.
"""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("golden", os.path.join(HERE, "make-whisper-golden.py"))
golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(golden)


def byte_level(b):
    """GPT-2's printable form of byte b."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    if b in printable:
        return chr(b)
    return chr(256 + [k for k in range(256) if k not in printable].index(b))


def vocabulary():
    tokens = [byte_level(b) for b in range(256)]
    tokens += ["he", "ll", "hell", "hello", "\u0120w", "\u0120wor", "ld", "\u0120world", "\u0120the", "\u0120a"]
    tokens += ["<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
               "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    tokens += ["<|%.2f|>" % (i * 0.02) for i in range(1501)]
    return tokens


def main():
    tokens = vocabulary()
    golden.VOCAB = len(tokens)
    golden.SRC_POS = 1500
    golden.TGT_POS = 448
    cfg = dict(num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
               decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128)
    model = golden.make_model("tiny80", cfg)
    golden.write_ct2(os.path.join(HERE, "..", "data", "whisper", "tiny-en"), model, cfg, tokens, "float16")


if __name__ == "__main__":
    main()
