#!/usr/bin/env python3
"""Writes tests/data/llm/template-golden.txt: what Hugging Face transformers'
chat-template renderer (render_jinja_template, the engine behind
apply_chat_template; jinja2 underneath) makes of a set of conversations with
each template in tests/data/llm/templates/:

  smollm2.jinja   SmolLM2-135M-Instruct's, from its GGUF (ChatML with a default system prompt)
  chatml.jinja    plain ChatML
  llama2.jinja    Llama-2-chat's (<<SYS>> folded into the first user turn)
  llama3.jinja    Llama-3-Instruct's
  mistral.jinja   Mistral-7B-Instruct-v0.2's (no system role: such cases raise and are left out)
  vicuna.jinja    Vicuna v1.1 as llama.cpp formats it (no official template exists)
  gemma2.jinja    Gemma 2's (no system role)
  gemma3.jinja    Gemma 3's (the system prompt opens the first user turn)
  phi3.jinja      Phi-3-mini-instruct's

Conversations a template refuses (raise_exception) are left out.

Line format after the header:
    TEMPLATE-FILE FAMILY ADD_GENERATION_PROMPT MESSAGES EXPECTED-HEX
with MESSAGES as role:content-hex joined by ";".

    python3 tests/reference/make-llm-template-golden.py
"""
import os

import jinja2
import transformers
from transformers.utils.chat_template_utils import render_jinja_template

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "llm")

TEMPLATES = [
    # file, family, bos_token, eos_token
    ("smollm2.jinja", "chatml", "<|im_start|>", "<|im_end|>"),
    ("chatml.jinja", "chatml", "<|im_start|>", "<|im_end|>"),
    ("llama2.jinja", "llama2", "<s>", "</s>"),
    ("llama3.jinja", "llama3", "<|begin_of_text|>", "<|eot_id|>"),
    ("mistral.jinja", "mistral", "<s>", "</s>"),
    ("vicuna.jinja", "vicuna", "<s>", "</s>"),
    ("gemma2.jinja", "gemma", "<bos>", "<eos>"),
    ("gemma3.jinja", "gemma", "<bos>", "<eos>"),
    ("phi3.jinja", "phi3", "<s>", "<|endoftext|>"),
]

CONVERSATIONS = [
    [("user", "Hello!")],
    [("system", "You are terse."), ("user", "What is 2+2?")],
    [("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")],
    [("user", "First"), ("assistant", "Second"), ("user", "Third")],
    [("user", "  padded with spaces \n\n"), ("assistant", "\n answer with newline \t")],
    [("system", "  Syst\u00e8me : r\u00e9ponds en fran\u00e7ais \U0001f1eb\U0001f1f7\n"),
     ("user", "\u591a\u884c\n\u5185\u5bb9\n\nline three\u3000")],
    [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")],
]


def main():
    lines = []
    for file, family, bos, eos in TEMPLATES:
        with open(os.path.join(DATA, "templates", file), encoding="utf-8", newline="") as f:
            tmpl = f.read()
        for conv in CONVERSATIONS:
            msgs = [{"role": r, "content": c} for r, c in conv]
            for add_gen in (0, 1):
                try:
                    out = render_jinja_template(conversations=[msgs], chat_template=tmpl,
                                                add_generation_prompt=bool(add_gen), bos_token=bos, eos_token=eos)
                except jinja2.exceptions.TemplateError:
                    continue
                if isinstance(out, tuple):
                    out = out[0]
                if isinstance(out, list):
                    out = out[0]
                m = ";".join(f"{r}:{c.encode().hex()}" for r, c in conv)
                lines.append(f"{file} {family} {add_gen} {m} {out.encode().hex()}")
    dst = os.path.join(DATA, "template-golden.txt")
    with open(dst, "w") as f:
        f.write("HARK-LLM-TEMPLATE-GOLDEN 1\n")
        f.write(f"reference transformers {transformers.__version__} jinja2 {jinja2.__version__}\n")
        f.write(f"cases {len(lines)}\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {dst}: {len(lines)} cases")


if __name__ == "__main__":
    main()
