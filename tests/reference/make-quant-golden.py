#!/usr/bin/env python3
"""make-quant-golden.py: reference data for tests/test-kernels-quant.c.

Made with gguf-py (the `gguf` package) 0.19.0 and numpy 2.4.6; regenerate with

    python3 tests/reference/make-quant-golden.py [tests/data/quant-golden.bin]

The output depends only on the fixed seeds below (numpy's PCG64 streams), so
running it twice gives identical bytes.

What it holds:
  * DEQUANT records: 64 random blocks per quantized type (random bytes, with
    every fp16 scale field set to a finite value: mostly uniform in [-2, 2],
    some negative, zero, subnormal, tiny or large) and gguf-py's float32
    dequantization of them. gguf-py has no Q8_1 or Q8_K; for those two the
    script computes x = d * q itself (the whole format, per the GGUF spec).
    Also F16 and BF16 bit patterns (no signalling NaNs: numpy converts those
    differently with and without F16C hardware).
  * QUANT records: one vector of 4096 Gaussian values with 8 outliers, the
    bytes gguf-py's quantizer makes of it (BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1)
    and the RMSE of gguf-py's round trip.
  * ENCODE records: float32 values that probe rounding, overflow, subnormals
    and NaN for F16 and BF16, with numpy's / gguf-py's encoding of them.

File format (all integers and floats little-endian, no padding):
  header:  char magic[4] = "HKQG"; uint32 version = 1; uint32 n_records
  record:  uint32 kind; uint32 type (GGML type id); uint32 count; payload
    kind 1 DEQUANT, count = n_blocks:
      uint8  blocks[n_blocks * type_size]
      float  values[n_blocks * block_size]      (reference dequantization)
    kind 2 QUANT, count = n_values:
      float  input[n_values]
      uint8  encoded[row_size(type, n_values)] (reference quantization)
      double rmse                              (of the reference round trip)
    kind 3 ENCODE, count = n_values:
      float  input[n_values]
      uint8  encoded[row_size(type, n_values)]
"""

import struct
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from gguf.quants import dequantize, quantize
from gguf.constants import GGMLQuantizationType as T

MADE_WITH = "0.19.0"
MAGIC = b"HKQG"
VERSION = 1
KIND_DEQUANT, KIND_QUANT, KIND_ENCODE = 1, 2, 3
N_BLOCKS = 64
N_VALUES = 4096

# Block layouts (Hark's kern-quant.h, the GGUF spec): size, values per block,
# byte offsets of the fp16 scale fields. gguf-py's GGML_QUANT_SIZES still
# lists Q8_1 at 40 bytes (float d, s); ggml and the spec use two halves (36).
LAYOUTS = {
    T.Q4_0: (18, 32, [0]),
    T.Q4_1: (20, 32, [0, 2]),
    T.Q5_0: (22, 32, [0]),
    T.Q5_1: (24, 32, [0, 2]),
    T.Q8_0: (34, 32, [0]),
    T.Q8_1: (36, 32, [0, 2]),
    T.Q2_K: (84, 256, [80, 82]),
    T.Q3_K: (110, 256, [108]),
    T.Q4_K: (144, 256, [0, 2]),
    T.Q5_K: (176, 256, [0, 2]),
    T.Q6_K: (210, 256, [208]),
    T.Q8_K: (292, 256, []),  # float32 d at offset 0, set below
}


def random_scales(rng, n):
    """n finite half-float scales: a mix of ordinary, negative, zero, subnormal,
    tiny-normal and large values, as uint16 bit patterns."""
    kind = rng.integers(0, 20, size=n)
    uni = rng.uniform(-2.0, 2.0, size=n).astype(np.float16).view(np.uint16)
    sub = rng.integers(1, 0x400, size=n, dtype=np.uint16) | (rng.integers(0, 2, size=n, dtype=np.uint16) << 15)
    tiny = (rng.uniform(-1.0, 1.0, size=n) * 2.0 ** -12).astype(np.float16).view(np.uint16)
    big = rng.uniform(-1000.0, 1000.0, size=n).astype(np.float16).view(np.uint16)
    zero = (rng.integers(0, 2, size=n, dtype=np.uint16) << 15)
    out = np.where(kind < 14, uni, np.where(kind < 16, sub, np.where(kind < 18, tiny, np.where(kind < 19, big, zero))))
    return out.astype(np.uint16)


def random_blocks(qtype, seed):
    size, _, fields = LAYOUTS[qtype]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(N_BLOCKS, size), dtype=np.uint8)
    for off in fields:
        blocks[:, off:off + 2] = random_scales(rng, N_BLOCKS).view(np.uint8).reshape(N_BLOCKS, 2)
    if qtype == T.Q8_K:
        d = rng.uniform(-2.0, 2.0, size=N_BLOCKS).astype(np.float32)
        d[::16] = 0.0
        d[1::16] = np.float32(1e-40)  # a float32 subnormal
        blocks[:, 0:4] = d.view(np.uint8).reshape(N_BLOCKS, 4)
    return blocks


def reference_dequant(qtype, blocks):
    if qtype == T.Q8_1:  # x = d * q; s is not needed to decode
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        q = blocks[:, 4:36].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)
    if qtype == T.Q8_K:  # x = d * q, d float32
        d = blocks[:, 0:4].copy().view(np.float32)
        q = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)
    return dequantize(blocks.reshape(-1), qtype).astype(np.float32).reshape(-1)


def half_patterns(seed):
    """Random half bit patterns plus specials, without signalling NaNs."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 0x10000, size=240, dtype=np.uint32).astype(np.uint16)
    specials = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff,
                0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7fff, 0xffff, 0x3c00, 0x3555]
    h = np.concatenate([h, np.array(specials, dtype=np.uint16)])
    snan = ((h & 0x7c00) == 0x7c00) & ((h & 0x03ff) != 0) & ((h & 0x0200) == 0)
    return np.where(snan, h | 0x0200, h).astype(np.uint16)


def bf16_patterns(seed):
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 0x10000, size=240, dtype=np.uint32).astype(np.uint16)
    specials = [0x0000, 0x8000, 0x0001, 0x807f, 0x0080, 0x7f7f, 0xff7f,
                0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7f81, 0x3f80, 0x3eab, 0x4049, 0xc2f7]
    return np.concatenate([b, np.array(specials, dtype=np.uint16)])


def gaussian_input(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(N_VALUES).astype(np.float32)
    idx = rng.choice(N_VALUES, size=8, replace=False)
    x[idx] = (rng.uniform(8.0, 30.0, size=8) * rng.choice([-1.0, 1.0], size=8)).astype(np.float32)
    return x


def encode_probe(seed):
    """float32 values around the edges of half and bfloat16 rounding."""
    rng = np.random.default_rng(seed)
    u = []
    # random bit patterns across the half range and beyond (exponents 90..160)
    for _ in range(512):
        e = int(rng.integers(90, 161))
        u.append((int(rng.integers(0, 2)) << 31) | (e << 23) | int(rng.integers(0, 1 << 23)))
    # exact midpoints between neighbouring halves (ties), and one ulp either side
    h = rng.integers(0, 0x7bff, size=128, dtype=np.uint32).astype(np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).astype(np.uint16).view(np.float16).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32).view(np.uint32)
    for m in mid:
        u += [int(m), int(m) - 1, int(m) + 1]
    # bfloat16 ties and their neighbours
    for b in rng.integers(0, 0x7f7f, size=64):
        t = (int(b) << 16) | 0x8000
        u += [t, t - 1, t + 1, t | 0x80000000]
    specials = [0x00000000, 0x80000000, 0x7f800000, 0xff800000,  # zeros, infinities
                0x7fc00000, 0xffc00001, 0x7fffffff, 0x7fc02000,  # quiet NaNs
                0x477fe000, 0x477fefff, 0x477ff000, 0x47800000,  # 65504, <65520, 65520, 65536
                0x33000000, 0x33000001, 0x32ffffff, 0x33c00000,  # 2^-25 tie, just above, below, 1.5*2^-24
                0x38800000, 0x387fc000, 0x387fe000, 0x387ff000,  # 2^-14 and just below
                0x00000001, 0x807fffff, 0x7f7fffff, 0xff7fffff,  # float32 subnormals and max
                0x3f800000, 0xbf800000, 0x3eaaaaab, 0x40490fdb]
    u += specials
    return np.array(u, dtype=np.uint32).view(np.float32)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "data" / "quant-golden.bin"
    try:
        have = version("gguf")
    except PackageNotFoundError:
        have = "unknown"
    if have != MADE_WITH:
        print(f"warning: gguf {have} installed, the committed file was made with {MADE_WITH}", file=sys.stderr)

    records = []

    def rec(kind, qtype, count, *parts):
        records.append(struct.pack("<III", kind, int(qtype), count) + b"".join(parts))

    # Dequantization of random blocks.
    for qtype in LAYOUTS:
        blocks = random_blocks(qtype, 1000 + int(qtype))
        values = reference_dequant(qtype, blocks)
        assert values.dtype == np.float32 and values.size == N_BLOCKS * LAYOUTS[qtype][1]
        assert np.all(np.isfinite(values)), qtype.name
        rec(KIND_DEQUANT, qtype, N_BLOCKS, blocks.tobytes(), values.astype("<f4").tobytes())

    h = half_patterns(2001)
    rec(KIND_DEQUANT, T.F16, h.size, h.astype("<u2").tobytes(),
        dequantize(h.view(np.uint8), T.F16).astype("<f4").tobytes())
    b = bf16_patterns(2002)
    rec(KIND_DEQUANT, T.BF16, b.size, b.astype("<u2").tobytes(),
        dequantize(b.view(np.uint8), T.BF16).astype("<f4").tobytes())

    # Quantization of one Gaussian vector with outliers.
    x = gaussian_input(3000)
    for qtype in (T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
        enc = np.ascontiguousarray(quantize(x, qtype)).view(np.uint8).reshape(-1)
        y = dequantize(enc, qtype).astype(np.float32).reshape(-1)
        rmse = float(np.sqrt(np.mean((y.astype(np.float64) - x.astype(np.float64)) ** 2)))
        rec(KIND_QUANT, qtype, x.size, x.astype("<f4").tobytes(), enc.tobytes(), struct.pack("<d", rmse))
        print(f"{qtype.name:5s} gguf-py rmse {rmse:.9g}", file=sys.stderr)

    # Rounding edges of the 16-bit float encodings.
    p = encode_probe(4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf is the point
        for qtype in (T.F16, T.BF16):
            enc = np.ascontiguousarray(quantize(p, qtype)).view(np.uint8).reshape(-1)
            rec(KIND_ENCODE, qtype, p.size, p.astype("<f4").tobytes(), enc.tobytes())

    data = MAGIC + struct.pack("<II", VERSION, len(records)) + b"".join(records)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"wrote {out}: {len(records)} records, {len(data)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
