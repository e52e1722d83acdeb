#!/usr/bin/env python3
"""make-gguf-golden.py: GGUF interop fixtures made with gguf-py (llama.cpp's
reference Python package), read back by tests/test-kernels-gguf.c.

  make-gguf-golden.py [OUT]       writes tests/data/gguf-py-small.gguf (or OUT)
  make-gguf-golden.py --check F   reads F (written by kern_gguf_write in the
                                  test /kernels/gguf/gguf-py-reverse) with
                                  gguf.GGUFReader and checks every value;
                                  exit 0 ok, 1 mismatch, 77 gguf-py missing

The output is deterministic (fixed values, no randomness, no timestamps); the
values written here are repeated in the C test, so change both together.
"""
import os
import struct
import sys

try:
    import numpy as np
    import gguf
except ImportError:
    sys.exit(77)


def q8_0_bytes(rows, blocks):
    """Q8_0 rows: each block an f16 scale then 32 int8 quants (34 bytes)."""
    out = bytearray()
    for r in range(rows):
        for b in range(blocks):
            out += struct.pack('<e', 0.5 + r + b / 4)
            out += bytes(((r * 7 + b * 3 + i * 5) % 256 - 128) & 0xff for i in range(32))
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(rows, blocks * 34)


def write_golden(path):
    w = gguf.GGUFWriter(path, arch='hark-test')
    w.add_uint8('test.u8', 200)
    w.add_int8('test.i8', -100)
    w.add_uint16('test.u16', 60000)
    w.add_int16('test.i16', -30000)
    w.add_uint32('test.u32', 4000000000)
    w.add_int32('test.i32', -2000000000)
    w.add_uint64('test.u64', 18000000000000000000)
    w.add_int64('test.i64', -9000000000000000000)
    w.add_float32('test.f32', 0.15625)
    w.add_float64('test.f64', -1.0e300)
    w.add_bool('test.bool_true', True)
    w.add_bool('test.bool_false', False)
    w.add_string('test.string', 'h\u00e9llo \u2713 \U0001f600')
    w.add_array('test.arr_i32', [1, -2, 3])
    w.add_array('test.arr_f32', [0.5, -1.25])
    w.add_array('test.arr_str', ['a', '', 'z\u00fc'])
    w.add_array('test.arr_bool', [True, False, True])
    w.add_key_value('test.arr_u8', [1, 255], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT8)
    w.add_key_value('test.arr_i64', [-(1 << 62), 5], gguf.GGUFValueType.ARRAY,
                    sub_type=gguf.GGUFValueType.INT64)
    w.add_key_value('test.arr_f64', [2.5, -0.125], gguf.GGUFValueType.ARRAY,
                    sub_type=gguf.GGUFValueType.FLOAT64)
    w.add_array('test.nested', [[1, 2], [3, 4, 5]])

    # numpy shape (rows, cols) is written as ne = [cols, rows].
    f32 = (np.arange(6, dtype=np.float32) * 0.25 - 1.0).reshape(2, 3)
    f16 = (np.arange(32, dtype=np.float32) / 8 - 2).astype(np.float16).reshape(4, 8)
    w.add_tensor('t.f32', f32)
    w.add_tensor('t.f16', f16)
    w.add_tensor('t.q8_0', q8_0_bytes(2, 2), raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check(path):
    r = gguf.GGUFReader(path)
    want = {
        'hark.u8': 7, 'hark.i32': -5, 'hark.u64': 1 << 40, 'hark.f32': 1.5,
        'hark.bool': True, 'hark.string': 'w\u00f6rld', 'hark.arr_i16': [-1, 2, -3],
        'hark.arr_str': ['x', 'yy', ''],
    }
    bad = 0
    for key, val in want.items():
        f = r.fields.get(key)
        got = f.contents() if f is not None else None
        if got != val:
            print(f'{key}: want {val!r}, got {got!r}')
            bad += 1
    if r.alignment != 64:
        print(f'alignment: want 64, got {r.alignment}')
        bad += 1
    tensors = {t.name: t for t in r.tensors}
    a = tensors.get('w.f32')
    if a is None or list(a.shape) != [3, 2] or a.tensor_type != gguf.GGMLQuantizationType.F32 or \
            a.data.reshape(-1).tolist() != [i * 0.5 for i in range(6)]:
        print('w.f32 differs')
        bad += 1
    b = tensors.get('w.i8')
    if b is None or list(b.shape) != [5] or b.tensor_type != gguf.GGMLQuantizationType.I8 or \
            b.data.reshape(-1).tolist() != [-2, -1, 0, 1, 2]:
        print('w.i8 differs')
        bad += 1
    for t in r.tensors:
        if t.data_offset % 64:  # absolute file offsets
            print(f'{t.name}: data not aligned to 64')
            bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--check':
        sys.exit(check(sys.argv[2]))
    here = os.path.dirname(os.path.abspath(__file__))
    write_golden(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'data', 'gguf-py-small.gguf'))
