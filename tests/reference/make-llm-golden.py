#!/usr/bin/env python3
"""Seeded random tiny decoder-only models from Hugging Face transformers, written
as GGUF in llama.cpp's layout, with golden logits for tests/test-llm-model.c.

For each case: a model with fixed-seed random weights (larger than the default
init, so logits are peaked and greedy choices are not near-ties), written to
tests/data/llm/<case>.gguf with its weights in the case's tensor type, then
transformers run on the weights *as the file stores them* (dequantized with
gguf-py's own decoders, Q/K rows un-permuted for llama/mistral) to give:
  - the logits of every prompt position (one forward pass), and
  - a greedy continuation of N_GEN tokens with the logits of each step.

Golden file (little-endian): magic "HLLG", u32 version 1, u32 n_vocab,
u32 n_prompt, u32 n_gen, i32 prompt[n_prompt], f32 prompt_logits[n_prompt][n_vocab],
i32 gen[n_gen], f32 gen_logits[n_gen][n_vocab]  (gen_logits[i] are the logits
that chose gen[i]; gen_logits[0] equals the last prompt row).

Run: python3 tests/reference/make-llm-golden.py   (torch, transformers, gguf, numpy)
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import quants as gq

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llm")
N_GEN = 12
PROMPT = [1, 17, 42, 99, 7, 3, 250, 128, 64, 5, 77, 200, 31, 9]


def quant_q4_k(x):
    """Q4_K encoder (GGUF block layout: f16 d, f16 dmin, 12 bytes of 6-bit
    scales/mins, 128 bytes of nibbles) with plain min/max sub-block ranges."""
    rows, n = x.shape
    blocks = x.reshape(-1, 8, 32).astype(np.float64)  # super-block of 8 sub-blocks of 32
    mn = np.minimum(blocks.min(axis=2), 0.0)
    mx = blocks.max(axis=2)
    scale = (mx - mn) / 15.0
    mins = -mn
    d = scale.max(axis=1) / 63.0
    dmin = mins.max(axis=1) / 63.0
    d16 = d.astype(np.float16)
    dmin16 = dmin.astype(np.float16)
    dd = d16.astype(np.float64)
    ddm = dmin16.astype(np.float64)
    sc = np.where(dd[:, None] > 0, np.rint(scale / np.where(dd[:, None] > 0, dd[:, None], 1)), 0).clip(0, 63)
    mq = np.where(ddm[:, None] > 0, np.rint(mins / np.where(ddm[:, None] > 0, ddm[:, None], 1)), 0).clip(0, 63)
    sc = sc.astype(np.uint8)
    mq = mq.astype(np.uint8)
    eff_s = dd[:, None] * sc
    eff_m = ddm[:, None] * mq
    q = np.where(eff_s[:, :, None] > 0,
                 np.rint((blocks + eff_m[:, :, None]) / np.where(eff_s[:, :, None] > 0, eff_s[:, :, None], 1)),
                 0).clip(0, 15).astype(np.uint8)
    nb = blocks.shape[0]
    scales = np.zeros((nb, 12), np.uint8)
    for j in range(4):
        scales[:, j] = sc[:, j] | ((sc[:, j + 4] >> 4) << 6)
        scales[:, j + 4] = mq[:, j] | ((mq[:, j + 4] >> 4) << 6)
        scales[:, j + 8] = (sc[:, j + 4] & 15) | ((mq[:, j + 4] & 15) << 4)
    qs = np.zeros((nb, 128), np.uint8)
    for j in range(4):
        qs[:, 32 * j:32 * j + 32] = q[:, 2 * j, :] | (q[:, 2 * j + 1, :] << 4)
    out = np.concatenate([d16.view(np.uint8).reshape(nb, 2), dmin16.view(np.uint8).reshape(nb, 2), scales, qs],
                         axis=1)
    return out.reshape(rows, -1)


def encode(w, qtype):
    """(bytes array for the writer, the values the file holds as float32)."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    if qtype == QT.F32:
        return w, w
    if qtype == QT.F16:
        h = w.astype(np.float16)
        return h, h.astype(np.float32)
    if qtype == QT.Q4_K:
        raw = quant_q4_k(w)
    else:
        raw = gq.quantize(w, qtype)
    back = gq.dequantize(raw, qtype).reshape(w.shape).astype(np.float32)
    rel = np.linalg.norm(back - w) / np.linalg.norm(w)
    assert rel < 0.2, (qtype, rel)
    return raw, back


def permute(w, n_head):
    """llama.cpp's Q/K row order for the llama arch: rotate adjacent pairs."""
    r = w.shape[0]
    return w.reshape(n_head, 2, r // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    r = w.shape[0]
    return w.reshape(n_head, r // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_factors(hd, base, factor, low, high, old_ctx):
    """Meta's Llama 3.1 frequency scaling, as divisors of each frequency."""
    out = []
    lo_wl = old_ctx / low
    hi_wl = old_ctx / high
    for i in range(0, hd, 2):
        freq = 1.0 / base ** (i / hd)
        wl = 2 * math.pi / freq
        if wl < hi_wl:
            out.append(1.0)
        elif wl > lo_wl:
            out.append(factor)
        else:
            s = (old_ctx / wl - low) / (high - low)
            out.append(1.0 / ((1 - s) / factor + s))
    return np.array(out, np.float32)


CASES = [
    # name, arch, HF class, config, weight type, embedding type, extra
    dict(name="llama-f32", arch="llama", cls="LlamaForCausalLM", qtype=QT.F32, etype=QT.F32,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=32, tie_word_embeddings=False, rms_norm_eps=1e-5,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    dict(name="llama-q8_0", arch="llama", cls="LlamaForCausalLM", qtype=QT.Q8_0, etype=QT.Q8_0,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=32, tie_word_embeddings=False, rms_norm_eps=1e-5,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    dict(name="llama-tied-f16", arch="llama", cls="LlamaForCausalLM", qtype=QT.F16, etype=QT.F16,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=True, rms_norm_eps=1e-6,
                  rope_parameters={"rope_type": "default", "rope_theta": 500000.0})),
    dict(name="llama3-rope-q4_k", arch="llama", cls="LlamaForCausalLM", qtype=QT.Q4_K, etype=QT.Q8_0,
         cfg=dict(vocab_size=128, hidden_size=256, intermediate_size=256, num_hidden_layers=1, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=True, rms_norm_eps=1e-5, max_position_embeddings=512,
                  rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 8})),
    dict(name="mistral-q4_0", arch="mistral", cls="MistralForCausalLM", qtype=QT.Q4_0, etype=QT.Q4_0,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=1, tie_word_embeddings=False, rms_norm_eps=1e-5, sliding_window=None,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    dict(name="mistral-swa-f32", arch="mistral", cls="MistralForCausalLM", qtype=QT.F32, etype=QT.F32, seed=55,
         cfg=dict(vocab_size=128, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=32, tie_word_embeddings=False, rms_norm_eps=1e-5,
                  sliding_window=5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    dict(name="qwen2-f32", arch="qwen2", cls="Qwen2ForCausalLM", qtype=QT.F32, etype=QT.F32, seed=77,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=True, rms_norm_eps=1e-6,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    dict(name="qwen2-bf16", arch="qwen2", cls="Qwen2ForCausalLM", qtype=QT.BF16, etype=QT.BF16, seed=1240,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=False, rms_norm_eps=1e-6,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    dict(name="gemma3-f16", arch="gemma3", cls="Gemma3ForCausalLM", qtype=QT.F16, etype=QT.F16, seed=1241,
         cfg=dict(vocab_size=256, hidden_size=64, intermediate_size=64, num_hidden_layers=6, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32, sliding_window=4,
                  tie_word_embeddings=True, rms_norm_eps=1e-6,
                  rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                   "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}})),
]


def build(case, seed):
    import transformers
    cfgcls = {"LlamaForCausalLM": transformers.LlamaConfig, "MistralForCausalLM": transformers.MistralConfig,
              "Qwen2ForCausalLM": transformers.Qwen2Config, "Gemma3ForCausalLM": transformers.Gemma3TextConfig}
    cfg = dict(case["cfg"])
    cfg.setdefault("max_position_embeddings", 256)
    if case["arch"] == "qwen2":
        pass
    config = cfgcls[case["cls"]](**cfg)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = getattr(transformers, case["cls"])(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                base = 0.0 if case["arch"] == "gemma3" else 1.0  # gemma stores w, computes (1 + w)
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed" in name:
                # gemma scales embeddings by sqrt(d); tied outputs need a small
                # residual share of the input token, or greedy just repeats it
                p.copy_(torch.randn(p.shape, generator=g) * (0.125 if case["arch"] == "gemma3" else 1.0)
                        * (0.3 if config.tie_word_embeddings else 1.0))
            else:
                gain = 2.0 if config.tie_word_embeddings else 1.0
                p.copy_(gain * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
    return config, model


def gguf_tensors(case, config, model):
    """name -> (HF float32 array in GGUF row order, is_matrix, undo) where undo maps
    the file's float values back to the HF parameter name and layout."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    arch = case["arch"]
    nh, nkv = config.num_attention_heads, config.num_key_value_heads
    perm = arch in ("llama", "mistral")
    out = []  # (gguf name, array, kind, hf name, unpermute heads)
    out.append(("token_embd.weight", sd["model.embed_tokens.weight"], "embd", "model.embed_tokens.weight", 0))
    if not config.tie_word_embeddings:
        out.append(("output.weight", sd["lm_head.weight"], "mat", "lm_head.weight", 0))
    shift = 1.0 if arch == "gemma3" else 0.0
    out.append(("output_norm.weight", sd["model.norm.weight"] + shift, "vec", "model.norm.weight", 0))
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        out.append((b + "attn_q.weight", permute(q, nh) if perm else q, "mat", p + "self_attn.q_proj.weight",
                    nh if perm else 0))
        out.append((b + "attn_k.weight", permute(k, nkv) if perm else k, "mat", p + "self_attn.k_proj.weight",
                    nkv if perm else 0))
        out.append((b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"], "mat", p + "self_attn.v_proj.weight", 0))
        out.append((b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"], "mat", p + "self_attn.o_proj.weight", 0))
        for hf, gg in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v")):
            if p + f"self_attn.{hf}.bias" in sd:
                out.append((b + gg + ".bias", sd[p + f"self_attn.{hf}.bias"], "vec", p + f"self_attn.{hf}.bias", 0))
        out.append((b + "attn_norm.weight", sd[p + "input_layernorm.weight"] + shift, "vec", p + "input_layernorm.weight", 0))
        if arch == "gemma3":
            for hf, gg in (("self_attn.q_norm", "attn_q_norm"), ("self_attn.k_norm", "attn_k_norm"),
                           ("post_attention_layernorm", "post_attention_norm"),
                           ("pre_feedforward_layernorm", "ffn_norm"), ("post_feedforward_layernorm", "post_ffw_norm")):
                out.append((b + gg + ".weight", sd[p + hf + ".weight"] + 1.0, "vec", p + hf + ".weight", 0))
        else:
            out.append((b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], "vec",
                        p + "post_attention_layernorm.weight", 0))
        out.append((b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"], "mat", p + "mlp.gate_proj.weight", 0))
        out.append((b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"], "mat", p + "mlp.up_proj.weight", 0))
        out.append((b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"], "mat", p + "mlp.down_proj.weight", 0))
    return out


def write_case(case, seed):
    config, model = build(case, seed)
    arch = case["arch"]
    path = os.path.join(OUT, case["name"] + ".gguf")
    w = gguf.GGUFWriter(path, arch)
    hd = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    w.add_string("general.name", "hark-test-" + case["name"])
    w.add_uint32(f"{arch}.context_length", config.max_position_embeddings)
    w.add_uint32(f"{arch}.embedding_length", config.hidden_size)
    w.add_uint32(f"{arch}.block_count", config.num_hidden_layers)
    w.add_uint32(f"{arch}.feed_forward_length", config.intermediate_size)
    w.add_uint32(f"{arch}.attention.head_count", config.num_attention_heads)
    w.add_uint32(f"{arch}.attention.head_count_kv", config.num_key_value_heads)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", config.rms_norm_eps)
    rp = config.rope_parameters
    if arch == "gemma3":
        w.add_float32(f"{arch}.rope.freq_base", rp["full_attention"]["rope_theta"])
        w.add_uint32(f"{arch}.attention.sliding_window", config.sliding_window)
    else:
        w.add_float32(f"{arch}.rope.freq_base", rp["rope_theta"])
        if getattr(config, "sliding_window", None):
            w.add_uint32(f"{arch}.attention.sliding_window", config.sliding_window)
    if hd * config.num_attention_heads != config.hidden_size or arch == "gemma3":
        w.add_uint32(f"{arch}.attention.key_length", hd)
        w.add_uint32(f"{arch}.attention.value_length", hd)
    w.add_uint32(f"{arch}.rope.dimension_count", hd)
    w.add_uint32(f"{arch}.vocab_size", config.vocab_size)

    sd_file = {}
    tensors = gguf_tensors(case, config, model)
    if rp.get("rope_type") == "llama3":
        ff = llama3_factors(hd, rp["rope_theta"], rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"],
                            rp["original_max_position_embeddings"])
        w.add_tensor("rope_freqs.weight", ff)
    for name, arr, kind, hf, unperm in tensors:
        qtype = QT.F32 if kind == "vec" else (case["etype"] if kind == "embd" else case["qtype"])
        raw, back = encode(arr, qtype)
        if qtype in (QT.F32, QT.F16):
            w.add_tensor(name, raw)
        else:
            w.add_tensor(name, raw, raw_dtype=qtype)
        if unperm:
            back = unpermute(back, unperm)
        if arch == "gemma3" and kind == "vec":
            back = back - 1.0
        sd_file[hf] = torch.from_numpy(np.ascontiguousarray(back))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # The reference runs on exactly the values the file holds.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in sd_file:
                p.copy_(sd_file[name].reshape(p.shape))
            elif name == "lm_head.weight" and config.tie_word_embeddings:
                pass
            else:
                raise SystemExit(f"{case['name']}: parameter {name} not in the file")
        prompt = [t % config.vocab_size for t in PROMPT]
        ids = torch.tensor([prompt])
        prompt_logits = model(ids).logits[0].float().numpy()
        gen, gen_logits = [], []
        seq = list(prompt)
        for _ in range(N_GEN):
            lg = model(torch.tensor([seq])).logits[0, -1].float().numpy()
            t = int(np.argmax(lg))
            srt = np.sort(lg)
            gen.append(t)
            gen_logits.append(lg)
            seq.append(t)
            if srt[-1] - srt[-2] < 1e-3 * (abs(srt[-1]) + 1):
                print(f"  warning: {case['name']}: near-tie at step {len(gen)}", file=sys.stderr)
    V = config.vocab_size
    with open(os.path.join(OUT, case["name"] + ".golden"), "wb") as f:
        f.write(b"HLLG" + struct.pack("<4I", 1, V, len(prompt), N_GEN))
        f.write(np.array(prompt, np.int32).tobytes())
        f.write(prompt_logits.astype(np.float32).tobytes())
        f.write(np.array(gen, np.int32).tobytes())
        f.write(np.array(gen_logits, np.float32).tobytes())
    print(f"{case['name']}: {os.path.getsize(path)} bytes, logit std {prompt_logits.std():.2f}, greedy {gen}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, case in enumerate(CASES):
        write_case(case, case.get("seed", 1234 + i))  # a seed is changed where greedy had a near-tie


if __name__ == "__main__":
    main()
