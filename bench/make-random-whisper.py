#!/usr/bin/env python3
"""Writes a Hugging Face Whisper directory with seeded random F16 weights.

    make-random-whisper.py SIZE OUTDIR [--seed N]

SIZE: tiny, base, small, medium, large-v3, large-v3-turbo. The shapes are the
real models' (openai/whisper-*), the values random: for timing only (bench/
and tools/gpu-check), where no real weights of that size can be fetched.
Needs torch, transformers and safetensors. Parameter names come from
transformers' own model built on the meta device, so the file is laid out
exactly as a real checkpoint (the tied proj_out is left out, as there)."""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import WhisperConfig, WhisperForConditionalGeneration

SIZES = {
    # d_model, encoder layers, decoder layers, heads, mel bins, vocabulary
    "tiny": (384, 4, 4, 6, 80, 51865),
    "base": (512, 6, 6, 8, 80, 51865),
    "small": (768, 12, 12, 12, 80, 51865),
    "medium": (1024, 24, 24, 16, 80, 51865),
    "large-v3": (1280, 32, 32, 20, 128, 51866),
    "large-v3-turbo": (1280, 32, 4, 20, 128, 51866),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", choices=sorted(SIZES))
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    d, el, dl, h, mels, vocab = SIZES[a.size]
    cfg = WhisperConfig(vocab_size=vocab, num_mel_bins=mels, d_model=d, encoder_layers=el, decoder_layers=dl,
                        encoder_attention_heads=h, decoder_attention_heads=h, encoder_ffn_dim=4 * d,
                        decoder_ffn_dim=4 * d, max_source_positions=1500, max_target_positions=448,
                        activation_function="gelu", pad_token_id=50257, bos_token_id=50257, eos_token_id=50257,
                        decoder_start_token_id=50258)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(cfg)
    g = torch.Generator().manual_seed(a.seed)
    tensors = {}
    for name, p in model.state_dict().items():
        if name == "proj_out.weight":
            continue
        t = torch.randn(p.shape, generator=g, dtype=torch.float16)
        if name.endswith("layer_norm.weight"):
            t = t.mul_(0.1).add_(1.0)
        elif name.endswith(".bias"):
            t = t.mul_(0.02)
        else:  # unit-variance outputs: scale by 1/sqrt(fan-in)
            fan_in = p.shape[1] * (p.shape[2] if p.dim() == 3 else 1) if p.dim() > 1 else 1
            t = t.mul_(1.0 / max(fan_in, 1) ** 0.5)
        tensors[name] = t.contiguous()
    os.makedirs(a.outdir, exist_ok=True)
    save_file(tensors, os.path.join(a.outdir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(a.outdir, "config.json"), "w") as f:
        json.dump(cfg.to_dict(), f, indent=1, default=str)
    print(f"{a.outdir}: random whisper-{a.size}, {sum(t.numel() for t in tensors.values()) / 1e6:.0f}M parameters")


if __name__ == "__main__":
    main()
