#!/usr/bin/env python3
"""Writes tests/data/mel-golden.bin: Whisper log-mel spectrograms computed by
openai-whisper's own log_mel_spectrogram (torch float32 STFT) for a fixed
synthetic signal, checked by tests/test-audio-mel.c.

Needs: pip install openai-whisper (brings torch and numpy). Run from anywhere:
    python3 tests/reference/make-mel-golden.py

The signal is defined here and in test-audio-mel.c (make_signal) alike:
a chirp 100 Hz -> 7 kHz over 30 s with a slow amplitude wobble, plus uniform
noise from splitmix64 (seed 1234), with digital silence at 3.0-3.5 s and a
quiet (noise only, 1e-3) stretch at 5.0-6.0 s and 20-21 s so that the
max - 8 clamp is exercised. sin() comes from the C library in both (Python's
math.sin), so the float32 samples agree bit for bit.

File layout (little-endian):
    char[8]  magic "HKMELGLD"
    u32      version (1)
    u32      n_cases
    f64      sum of the 30-s signal's float32 samples (input check)
    u32      n_filters (2), then per filterbank of assets/mel_filters.npz:
        u32  n_mels
        u64  FNV-1a 64 of its float32 bytes, (n_mels, 201) row-major
    per case:
        u32  kind (0: log_mel_spectrogram(x[:n_samples]);
                   1: one transcribe() window at offset 0: log_mel_spectrogram(
                      x, padding=N_SAMPLES)[:, :n_samples // 160], then
                      pad_or_trim to 3000 frames)
        u32  n_mels
        u32  n_samples
        u32  n_frames         (frames of the result)
        u32  first_frame      (first frame stored in full)
        u32  n_stored         (frames stored in full)
        f32  frames[n_stored][n_mels]   frame-major (C layout of the test)
        f64  frame_sums[n_frames]       sum over the mels of each frame
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import whisper
from whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim

SR = 16000
MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def make_signal(n):
    out = np.empty(n, dtype=np.float32)
    state = 1234
    f0, f1, dur = 100.0, 7000.0, 30.0
    for i in range(n):
        state, z = splitmix64(state)
        noise = (z >> 40) * (1.0 / (1 << 24)) * 2.0 - 1.0  # [-1, 1), exact
        t = i / SR
        phase = 2.0 * math.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t)
        amp = 0.4 * (1.0 + 0.5 * math.sin(2.0 * math.pi * 0.3 * t))
        v = amp * math.sin(phase) + 0.02 * noise
        if 3.0 <= t < 3.5:
            v = 0.0
        elif 5.0 <= t < 6.0 or 20.0 <= t < 21.0:
            v = 1e-3 * noise
        out[i] = v
    return out


def main():
    torch.set_num_threads(1)
    here = os.path.dirname(os.path.abspath(__file__))
    dst = os.path.join(here, "..", "data", "mel-golden.bin")
    x = make_signal(30 * SR)
    n73 = 73 * SR // 10
    cases = []
    for n_mels in (80, 128):
        m = log_mel_spectrogram(torch.from_numpy(x[:n73].copy()), n_mels).numpy()
        cases.append((0, n_mels, n73, m, 0, m.shape[1]))
    for n_mels in (80, 128):
        m = log_mel_spectrogram(torch.from_numpy(x.copy()), n_mels).numpy()
        cases.append((0, n_mels, x.size, m, 0, 400))
    # transcribe(): whole-file mel with 30 s of zeros, content frames, pad_or_trim.
    full = log_mel_spectrogram(torch.from_numpy(x[:n73].copy()), 80, padding=N_SAMPLES)
    content = full.shape[-1] - N_FRAMES
    win = pad_or_trim(full[:, :content], N_FRAMES).numpy()
    cases.append((1, 80, n73, win, content - 40, 48))

    with open(dst, "wb") as f:
        f.write(b"HKMELGLD")
        f.write(struct.pack("<II", 1, len(cases)))
        f.write(struct.pack("<d", float(np.sum(x.astype(np.float64)))))
        with np.load(os.path.join(os.path.dirname(whisper.__file__), "assets", "mel_filters.npz")) as npz:
            f.write(struct.pack("<I", 2))
            for n_mels in (80, 128):
                filt = np.ascontiguousarray(npz[f"mel_{n_mels}"], dtype="<f4")
                f.write(struct.pack("<IQ", n_mels, fnv1a64(filt.tobytes())))
        for kind, n_mels, n, m, first, n_stored in cases:
            m = np.ascontiguousarray(m.T.astype(np.float32))  # (n_frames, n_mels)
            f.write(struct.pack("<6I", kind, n_mels, n, m.shape[0], first, n_stored))
            f.write(m[first:first + n_stored].tobytes())
            f.write(m.astype(np.float64).sum(axis=1).astype("<f8").tobytes())
            print(f"kind {kind} n_mels {n_mels} samples {n}: {m.shape[0]} frames, "
                  f"stored {first}..{first + n_stored}, min {m.min():.4f} max {m.max():.4f}")
    print(f"wrote {dst} ({os.path.getsize(dst)} bytes), whisper {whisper.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    sys.exit(main())
