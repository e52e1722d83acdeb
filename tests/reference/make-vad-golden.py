#!/usr/bin/env python3
"""make-vad-golden.py: speech probabilities of Silero VAD for tests/test-audio-vad.c.

Real speech from Debian's asterisk-core-sounds-en-wav (8 kHz prompts, upsampled
to 16 kHz with a polyphase filter), joined with stretches of digital silence
and of low white noise, quantized to 16-bit. The silero-vad package's own
model (its JIT network, float32 weights) scores it in 512-sample chunks from
a fresh state, as the package's streaming API does.

Output tests/data/audio/vad-golden.bin, little-endian:
  char magic[4] = "HVAD", u32 version = 1, u32 n_samples, u32 n_chunks,
  u32 chunk (512), u32 sample_rate (16000),
  i16 samples[n_samples], f32 prob[n_chunks]

  pip install silero-vad; apt-get install asterisk-core-sounds-en-wav
"""
import os
import struct
import sys

import numpy as np
import scipy.io.wavfile
import scipy.signal
import torch
from silero_vad import load_silero_vad

SOUNDS = "/usr/share/asterisk/sounds/en"
PROMPTS = ["tt-weasels", "vm-nobodyavail", "agent-pass"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "data", "audio", "vad-golden.bin")
    rng = np.random.default_rng(7)
    parts = [np.zeros(8000)]
    for name in PROMPTS:
        sr, x = scipy.io.wavfile.read(os.path.join(SOUNDS, name + ".wav"))
        assert sr == 8000 and x.dtype == np.int16, (name, sr, x.dtype)
        y = scipy.signal.resample_poly(x.astype(np.float64) / 32768.0, 2, 1)
        parts += [y, np.zeros(12000), rng.normal(0, 0.003, 8000)]
    sig = np.concatenate(parts)
    n_chunks = len(sig) // 512
    sig = sig[: n_chunks * 512]
    q = np.clip(np.round(sig * 32768.0), -32768, 32767).astype(np.int16)

    torch.set_num_threads(1)
    model = load_silero_vad()
    model.reset_states()
    x = torch.from_numpy(q.astype(np.float32) / 32768.0)
    probs = []
    with torch.no_grad():
        for i in range(n_chunks):
            probs.append(float(model(x[i * 512 : (i + 1) * 512].unsqueeze(0), 16000).item()))
    probs = np.array(probs, dtype=np.float32)

    with open(out, "wb") as f:
        f.write(b"HVAD")
        f.write(struct.pack("<5I", 1, len(q), n_chunks, 512, 16000))
        f.write(q.astype("<i2").tobytes())
        f.write(probs.astype("<f4").tobytes())
    print(f"{out}: {len(q)} samples, {n_chunks} chunks, speech chunks (p>0.5): {(probs > 0.5).sum()}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
