#!/usr/bin/env python3
"""make-safetensors-golden.py: safetensors fixtures made with the reference
`safetensors` package, read back by tests/test-kernels-safetensors.c.

  make-safetensors-golden.py [OUTDIR]   (default tests/data/safetensors)

Writes, deterministically (fixed values, no randomness):
  single.safetensors            every dtype Hark maps, a scalar, a 4-d tensor,
                                __metadata__
  hf-single/                    config.json + model.safetensors
  sharded/                      config.json + model.safetensors.index.json +
                                model-0000{1,2}-of-00002.safetensors
The values are repeated in the C test: change both together.
(pip install safetensors numpy)
"""
import json
import os
import sys

import numpy as np
from safetensors import TensorSpec, serialize


def arange(n, dtype, scale=1.0, offset=0.0):
    return (np.arange(n, dtype=np.float64) * scale + offset).astype(dtype)


def single_tensors():
    """name -> (safetensors dtype, shape, numpy array of the stored elements)."""
    return {
        'w.f32': ('float32', (2, 3), arange(6, np.float32, 0.5, -1.0)),
        'w.f16': ('float16', (4,), arange(4, np.float16, 0.25, -0.5)),
        # BF16 has no numpy type: the raw bits of 1, -2, 3, 0.5.
        'w.bf16': ('bfloat16', (4,), np.array([0x3f80, 0xc000, 0x4040, 0x3f00], dtype=np.uint16)),
        'w.f64': ('float64', (2, 2, 1), arange(4, np.float64, 1.0 / 3.0)),
        'w.i8': ('int8', (5,), arange(5, np.int8, 1, -2)),
        'w.i16': ('int16', (2, 2), np.array([-32768, -1, 1, 32767], dtype=np.int16)),
        'w.i32': ('int32', (3,), np.array([-2147483648, 0, 2147483647], dtype=np.int32)),
        'w.i64': ('int64', (2,), np.array([-(1 << 62), 1 << 40], dtype=np.int64)),
        'w.scalar': ('float32', (), np.array([2.5], dtype=np.float32)),
        'w.4d': ('float32', (1, 2, 3, 2), arange(12, np.float32, 1.0, 100.0)),
    }


def save(path, tensors, metadata):
    specs = {}
    keep = []
    for name, (dtype, shape, arr) in tensors.items():
        arr = np.ascontiguousarray(arr)
        keep.append(arr)
        specs[name] = TensorSpec(dtype=dtype, shape=shape, data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    data = bytes(serialize(specs, metadata=metadata))
    with open(path, 'wb') as f:
        f.write(data)
    return len(data)


def write_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write('\n')


CONFIG = {
    'model_type': 'hark-test',
    'architectures': ['HarkModel'],
    'hidden_size': 8,
    'layer_norm_eps': 1e-05,
    'tie_word_embeddings': True,
    'pad_token_id': None,
    'text_config': {'vocab_size': 10, 'name': 'gr\u00fc\u00df'},
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'data', 'safetensors')
    os.makedirs(out, exist_ok=True)
    save(os.path.join(out, 'single.safetensors'), single_tensors(),
         {'format': 'pt', 'note': 'hark \u2713'})

    hf = os.path.join(out, 'hf-single')
    os.makedirs(hf, exist_ok=True)
    write_json(os.path.join(hf, 'config.json'), CONFIG)
    save(os.path.join(hf, 'model.safetensors'),
         {'embed.weight': ('float32', (3, 2), arange(6, np.float32, 1.0))}, {'format': 'pt'})

    sh = os.path.join(out, 'sharded')
    os.makedirs(sh, exist_ok=True)
    write_json(os.path.join(sh, 'config.json'), CONFIG)
    shards = {
        'model-00001-of-00002.safetensors': {
            'layers.0.weight': ('float32', (2, 4), arange(8, np.float32, 0.125)),
            'layers.0.bias': ('float16', (2,), arange(2, np.float16, 1.0, 1.0)),
        },
        'model-00002-of-00002.safetensors': {
            'layers.1.weight': ('bfloat16', (2,), np.array([0x4000, 0xbf80], dtype=np.uint16)),
        },
    }
    weight_map = {}
    total = 0
    for shard, tensors in shards.items():
        save(os.path.join(sh, shard), tensors, {'format': 'pt'})
        for name, (_, _, arr) in tensors.items():
            weight_map[name] = shard
            total += arr.nbytes
    write_json(os.path.join(sh, 'model.safetensors.index.json'),
               {'metadata': {'total_size': total}, 'weight_map': dict(sorted(weight_map.items()))})


if __name__ == '__main__':
    main()
