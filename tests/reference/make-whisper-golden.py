#!/usr/bin/env python3
"""make-whisper-golden.py: seeded random tiny Whisper models and what Hugging
Face transformers computes with them, for tests/test-audio-whisper.c.

For each model (tiny80: 80 mel bins; tiny128: 128 mel bins, other head and
layer counts) it writes under tests/data/whisper/<name>/:
  hf/config.json, hf/model.safetensors   Hugging Face directory (F16 weights)
  model.ggml.bin                        the same weights as a whisper.cpp ggml file
                                        (layout of whisper.cpp's converter: F16
                                        matrices, F32 vectors and positions)
  ct2/                                  the same weights written by CTranslate2's
                                        own spec writer (float16)
  ct2-int8/                             the same, quantized int8_float16 by CTranslate2
  golden.bin                            inputs and transformers' outputs

golden.bin: "HKWG", u32 version (1), u32 record count, then records:
  u32 name length, name bytes, u32 dtype (0 = f32, 1 = i32), u32 n_dims,
  u32 dims[n_dims] (outermost first, numpy order), data (little-endian).
Records: mel (n_frames, n_mels) frame-major; encoder_out (n_audio_ctx, d);
tokens (n,); logits (n, n_vocab) for `tokens` as decoder input;
greedy_prefix (k,); greedy (m,) = argmax continuation of greedy_prefix;
int8_encoder_out, int8_logits: the same with the weights CTranslate2's int8
quantization keeps (q / scale, scale = 127 / max|row| per output row or
channel, as its "int8_float16" mode stores them), for the ct2-int8 model;
short_encoder_out (SHORT_FRAMES / 2, d), short_logits (n, n_vocab): the
encoder run on the first SHORT_FRAMES mel frames only (the first
SHORT_FRAMES / 2 positional embeddings; transformers' encoder refuses other
lengths, so its modules are called one by one) and the decoder attending to
that (aud_whisper_encode with fewer frames, for short audio).

--golden-only rewrites golden.bin alone (the model files stay as they are).

The weights are rounded to F16 before anything is computed, so every format
holds exactly the values transformers used. Run with torch, transformers,
safetensors, ctranslate2 and numpy installed (not needed by the tests).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import WhisperConfig, WhisperForConditionalGeneration
import ctranslate2.specs as specs

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "whisper")

MODELS = {
    "tiny80": dict(num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                   decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256),
    "tiny128": dict(num_mel_bins=128, d_model=96, encoder_layers=1, decoder_layers=3, encoder_attention_heads=6,
                    decoder_attention_heads=6, encoder_ffn_dim=384, decoder_ffn_dim=384),
}
VOCAB = 600
SRC_POS = 150  # encoder positions: 300 mel frames
SHORT_FRAMES = 106  # a short window: 53 encoder positions
TGT_POS = 64


def make_model(name, cfg):
    torch.manual_seed(1234 if name == "tiny80" else 4321)
    config = WhisperConfig(vocab_size=VOCAB, max_source_positions=SRC_POS, max_target_positions=TGT_POS,
                           activation_function="gelu", dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3,
                           scale_embedding=False, **cfg)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)  # default init is tiny; make activations non-trivial
            p.copy_(p.half().float())
    return model


def openai_name(hf):
    """Hugging Face parameter name -> the OpenAI checkpoint name whisper.cpp uses."""
    n = hf.replace("model.", "", 1)
    n = n.replace("encoder.embed_positions.weight", "encoder.positional_embedding")
    n = n.replace("decoder.embed_positions.weight", "decoder.positional_embedding")
    n = n.replace("decoder.embed_tokens.weight", "decoder.token_embedding.weight")
    n = n.replace("encoder.layer_norm.", "encoder.ln_post.")
    n = n.replace("decoder.layer_norm.", "decoder.ln.")
    n = n.replace(".layers.", ".blocks.")
    n = n.replace("self_attn_layer_norm", "attn_ln").replace("encoder_attn_layer_norm", "cross_attn_ln")
    n = n.replace("final_layer_norm", "mlp_ln").replace("fc1", "mlp.0").replace("fc2", "mlp.2")
    n = n.replace("encoder_attn.", "cross_attn.").replace("self_attn.", "attn.")
    n = n.replace("q_proj", "query").replace("k_proj", "key").replace("v_proj", "value").replace("out_proj", "out")
    return n


def write_ggml(path, model, cfg, tokens):
    sd = {k: v.numpy() for k, v in model.state_dict().items() if k != "proj_out.weight"}
    n_mels = cfg["num_mel_bins"]
    rng = np.random.default_rng(7)
    mel_filters = np.abs(rng.standard_normal((n_mels, 201))).astype(np.float32) * 0.01
    with open(path, "wb") as f:
        f.write(struct.pack("<i", 0x67676D6C))
        hp = [VOCAB, SRC_POS, cfg["d_model"], cfg["encoder_attention_heads"], cfg["encoder_layers"], TGT_POS,
              cfg["d_model"], cfg["decoder_attention_heads"], cfg["decoder_layers"], n_mels, 1]
        f.write(struct.pack("<11i", *hp))
        f.write(struct.pack("<ii", n_mels, 201))
        f.write(mel_filters.tobytes())
        f.write(struct.pack("<i", len(tokens)))
        for t in tokens:
            b = t.encode("utf-8")
            f.write(struct.pack("<i", len(b)))
            f.write(b)
        for hf_name, data in sd.items():
            name = openai_name(hf_name)
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                data = data.reshape(-1, 1)  # whisper.cpp stores these as (n_state, 1)
            f32 = data.ndim < 2 or name in ("encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
                                            "decoder.positional_embedding")
            data = data.astype(np.float32 if f32 else np.float16)
            nb = name.encode()
            f.write(struct.pack("<iii", data.ndim, len(nb), 0 if f32 else 1))
            for d in reversed(data.shape):
                f.write(struct.pack("<i", d))
            f.write(nb)
            f.write(data.tobytes())
    return mel_filters


def write_ct2(out_dir, model, cfg, tokens, quantization):
    sd = {k: v.numpy().astype(np.float32) for k, v in model.state_dict().items()}
    spec = specs.WhisperSpec(cfg["encoder_layers"], cfg["encoder_attention_heads"], cfg["decoder_layers"],
                             cfg["decoder_attention_heads"])
    e, d = spec.encoder, spec.decoder
    e.conv1.weight, e.conv1.bias = sd["model.encoder.conv1.weight"], sd["model.encoder.conv1.bias"]
    e.conv2.weight, e.conv2.bias = sd["model.encoder.conv2.weight"], sd["model.encoder.conv2.bias"]
    e.position_encodings.encodings = sd["model.encoder.embed_positions.weight"]
    e.layer_norm.gamma, e.layer_norm.beta = sd["model.encoder.layer_norm.weight"], sd["model.encoder.layer_norm.bias"]
    d.embeddings.weight = sd["model.decoder.embed_tokens.weight"]
    d.position_encodings.encodings = sd["model.decoder.embed_positions.weight"]
    d.layer_norm.gamma, d.layer_norm.beta = sd["model.decoder.layer_norm.weight"], sd["model.decoder.layer_norm.bias"]
    d.projection.weight = sd["model.decoder.embed_tokens.weight"]

    def ln(dst, p):
        dst.gamma, dst.beta = sd[p + ".weight"], sd[p + ".bias"]

    def lin(dst, p, bias=True):
        dst.weight = sd[p + ".weight"]
        if bias:
            dst.bias = sd[p + ".bias"]

    def attn(dst, p, self_attn):
        q, k, v = (sd[p + x + "_proj.weight"] for x in "qkv")
        zeros = np.zeros_like(sd[p + "q_proj.bias"])
        if self_attn:
            dst.linear[0].weight = np.concatenate([q, k, v])
            dst.linear[0].bias = np.concatenate([sd[p + "q_proj.bias"], zeros, sd[p + "v_proj.bias"]])
            lin(dst.linear[1], p + "out_proj")
        else:
            dst.linear[0].weight, dst.linear[0].bias = q, sd[p + "q_proj.bias"]
            dst.linear[1].weight = np.concatenate([k, v])
            dst.linear[1].bias = np.concatenate([zeros, sd[p + "v_proj.bias"]])
            lin(dst.linear[2], p + "out_proj")

    for i, L in enumerate(e.layer):
        p = "model.encoder.layers.%d." % i
        ln(L.self_attention.layer_norm, p + "self_attn_layer_norm")
        attn(L.self_attention, p + "self_attn.", True)
        ln(L.ffn.layer_norm, p + "final_layer_norm")
        lin(L.ffn.linear_0, p + "fc1")
        lin(L.ffn.linear_1, p + "fc2")
    for i, L in enumerate(d.layer):
        p = "model.decoder.layers.%d." % i
        ln(L.self_attention.layer_norm, p + "self_attn_layer_norm")
        attn(L.self_attention, p + "self_attn.", True)
        ln(L.attention.layer_norm, p + "encoder_attn_layer_norm")
        attn(L.attention, p + "encoder_attn.", False)
        ln(L.ffn.layer_norm, p + "final_layer_norm")
        lin(L.ffn.linear_0, p + "fc1")
        lin(L.ffn.linear_1, p + "fc2")
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = []
    spec.config.lang_ids = []
    spec.config.alignment_heads = [[0, 0]]
    spec.register_vocabulary(tokens)
    spec.validate()
    spec.optimize(quantization=quantization)
    os.makedirs(out_dir, exist_ok=True)
    for f in ("model.bin", "config.json", "vocabulary.json"):
        if os.path.exists(os.path.join(out_dir, f)):
            os.remove(os.path.join(out_dir, f))
    spec.save(out_dir)


def int8_roundtrip(model):
    """A copy of the model whose int8-quantized tensors (every weight CTranslate2
    stores as int8: matrices, conv kernels, the embedding) hold q / scale."""
    import copy
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if not name.endswith("weight") or p.ndim < 2 or "embed_positions" in name:
                continue
            w = p.detach().float().numpy()
            flat = w.reshape(w.shape[0], -1)
            amax = np.abs(flat).max(axis=1, keepdims=True)
            scale = np.where(amax > 0, 127.0 / amax, 1.0).astype(np.float32)
            q = np.clip(np.rint(flat * scale), -127, 127)
            p.copy_(torch.from_numpy((q / scale).astype(np.float32).reshape(w.shape)))
    return m


def short_encoder(model, feats):
    """The encoder over fewer frames than it was made for, module by module."""
    e = model.model.encoder
    x = torch.nn.functional.gelu(e.conv1(feats))
    x = torch.nn.functional.gelu(e.conv2(x)).permute(0, 2, 1)
    x = x + e.embed_positions.weight[: x.shape[1]]
    for layer in e.layers:
        x = layer(x, attention_mask=None)
        x = x[0] if isinstance(x, tuple) else x
    return e.layer_norm(x)


def record(f, name, arr):
    arr = np.ascontiguousarray(arr)
    dtype = 0 if arr.dtype == np.float32 else 1
    nb = name.encode()
    f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", dtype, arr.ndim))
    for d in arr.shape:
        f.write(struct.pack("<I", d))
    f.write(arr.astype(np.float32 if dtype == 0 else np.int32).tobytes())


def main():
    for name, cfg in MODELS.items():
        out = os.path.join(OUT, name)
        os.makedirs(os.path.join(out, "hf"), exist_ok=True)
        model = make_model(name, cfg)
        tokens = ["tok%d" % i for i in range(VOCAB)]
        if "--golden-only" not in sys.argv:
            # Hugging Face directory, F16 (exact: the weights were rounded to F16).
            sd = {k: v.half().contiguous() for k, v in model.state_dict().items() if k != "proj_out.weight"}
            save_file(sd, os.path.join(out, "hf", "model.safetensors"), metadata={"format": "pt"})
            conf = model.config.to_dict()
            conf["architectures"] = ["WhisperForConditionalGeneration"]
            with open(os.path.join(out, "hf", "config.json"), "w") as f:
                json.dump(conf, f, indent=1, sort_keys=True)
            write_ggml(os.path.join(out, "model.ggml.bin"), model, cfg, tokens)
            write_ct2(os.path.join(out, "ct2"), model, cfg, tokens, "float16")
            write_ct2(os.path.join(out, "ct2-int8"), model, cfg, tokens, "int8_float16")

        rng = np.random.default_rng(99)
        n_frames = 2 * SRC_POS
        mel = (rng.standard_normal((n_frames, cfg["num_mel_bins"])) * 0.5).astype(np.float32)
        feats = torch.from_numpy(mel.T.copy())[None]  # (1, n_mels, n_frames)
        toks = np.array([3, 17, 42, 99, 5, 250, 7, 598], dtype=np.int32)
        with torch.no_grad():
            enc = model.model.encoder(feats).last_hidden_state[0].numpy()
            logits = model(input_features=feats, decoder_input_ids=torch.from_numpy(toks[None].astype(np.int64))).logits[0].numpy()
            prefix = [3, 17]
            seq = list(prefix)
            for _ in range(12):
                lg = model(input_features=feats, decoder_input_ids=torch.tensor([seq])).logits[0, -1]
                seq.append(int(torch.argmax(lg)))
            short = short_encoder(model, feats[:, :, :SHORT_FRAMES])
            dec = model.model.decoder(input_ids=torch.from_numpy(toks[None].astype(np.int64)),
                                      encoder_hidden_states=short).last_hidden_state
            short_logits = model.proj_out(dec)[0].numpy()
            short = short[0].numpy()
        m8 = int8_roundtrip(model)
        with torch.no_grad():
            enc8 = m8.model.encoder(feats).last_hidden_state[0].numpy()
            logits8 = m8(input_features=feats, decoder_input_ids=torch.from_numpy(toks[None].astype(np.int64))).logits[0].numpy()
        with open(os.path.join(out, "golden.bin"), "wb") as f:
            f.write(b"HKWG" + struct.pack("<II", 1, 10))
            record(f, "mel", mel)
            record(f, "encoder_out", enc.astype(np.float32))
            record(f, "tokens", toks)
            record(f, "logits", logits.astype(np.float32))
            record(f, "greedy_prefix", np.array(prefix, dtype=np.int32))
            record(f, "greedy", np.array(seq[len(prefix):], dtype=np.int32))
            record(f, "int8_encoder_out", enc8.astype(np.float32))
            record(f, "int8_logits", logits8.astype(np.float32))
            record(f, "short_encoder_out", short.astype(np.float32))
            record(f, "short_logits", short_logits.astype(np.float32))
        print(name, "written:", out)


if __name__ == "__main__":
    main()
