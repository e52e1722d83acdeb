#!/usr/bin/env python3
"""Images/s of Hark's CLIP tower + projector (bench-vision) against llama.cpp's
(libmtmd through llama-cpp-python) and transformers' (torch) on the same
weights, the same image and the same thread count, side by side in one
process tree. Also says how far apart the three embeddings are, which checks
that Hark reads the mmproj as llama.cpp does.

  bench/vision-vs-peers.py BUILD_DIR [THREADS] [N] [SHAPE]

SHAPE: vitl336 (default: ViT-L/14 at 336 px, 23 of 24 layers run, LLaVA-1.5's
MLP projector 1024 -> 4096 -> 4096) or tiny (the test model's shape).
A random model of that shape is written to a temporary folder (mmproj F16 in
llama.cpp's layout, plus the one-layer language model libmtmd needs to start).
The image is S x S, so no peer resizes it: their pixels are equal.
"""
import ctypes
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "tests", "reference")
spec = importlib.util.spec_from_file_location("mvg", os.path.join(REF, "make-vision-golden.py"))
mvg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mvg)

SHAPES = {
    "vitl336": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                    image_size=336, patch_size=14, text=4096),
    "tiny": dict(hidden_size=32, intermediate_size=80, num_hidden_layers=3, num_attention_heads=4,
                 image_size=42, patch_size=14, text=64),
}
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def build(shape):
    s = dict(SHAPES[shape])
    text = s.pop("text")
    tokens, scores, types = mvg.vocab_fields()
    case = {"name": "bench", "arch": "llama", "cls": "LlamaForCausalLM",
            "cfg": dict(vocab_size=len(tokens) + 1, hidden_size=text, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=text // 64 if text >= 64 else 4, num_key_value_heads=text // 64 if text >= 64 else 4,
                        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)}
    tconfig, llama = mvg.mlg.build(case, 7)
    vconfig = transformers.CLIPVisionConfig(hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768, **s)
    config = transformers.LlavaConfig(vision_config=vconfig, text_config=tconfig, image_token_index=len(tokens),
                                      projector_hidden_act="gelu", vision_feature_layer=-2,
                                      vision_feature_select_strategy="default")
    torch.manual_seed(7)
    model = transformers.LlavaForConditionalGeneration(config).eval()
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():  # weights large enough that the layers matter, small enough to stay finite
        for name, p in list(model.model.vision_tower.named_parameters()) + list(
                model.model.multi_modal_projector.named_parameters()):
            if "norm" in name or "layrnorm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(np.prod(p.shape[1:])))
    return case, tconfig, llama, config, model, (tokens, scores, types)


def run_hark(build_dir, mmproj, threads, n, pixels_path, out_path):
    env = dict(os.environ, HARK_THREADS=str(threads))
    out = subprocess.run([f"{build_dir}/bench/bench-vision", mmproj, "cpu", str(n), pixels_path, out_path],
                         check=True, capture_output=True, text=True, env=env).stdout
    print("hark:", out.strip().replace("\n", "\n      "))
    best = float(out.split("best ")[1].split(" ms")[0]) / 1e3
    return best


class quiet_stderr:
    """libmtmd logs every tensor it loads to stderr: silenced while it runs."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


def run_llamacpp(llm_path, mmproj, img_u8, threads, n):
    with quiet_stderr():
        return llamacpp_quiet(llm_path, mmproj, img_u8, threads, n)


def llamacpp_quiet(llm_path, mmproj, img_u8, threads, n):
    import llama_cpp
    import llama_cpp.mtmd_cpp as mt
    llm = llama_cpp.Llama(model_path=llm_path, n_ctx=2048, n_threads=threads, verbose=False)
    params = mt.mtmd_context_params_default()
    params.use_gpu = False
    params.n_threads = threads
    params.print_timings = False
    ctx = mt.mtmd_init_from_file(mmproj.encode(), llm.model, params)
    if not ctx:
        raise SystemExit("llama.cpp could not load " + mmproj)
    h, w, _ = img_u8.shape
    buf = (ctypes.c_uint8 * img_u8.size).from_buffer_copy(np.ascontiguousarray(img_u8).tobytes())
    bmp = mt.mtmd_bitmap_init(w, h, buf)
    chunks = mt.mtmd_input_chunks_init()
    text = mt.mtmd_input_text()
    marker = mt.mtmd_default_marker()
    text.text = marker
    text.text_len = len(marker)
    text.add_special = True
    text.parse_special = True
    arr = (mt.mtmd_bitmap_p_ctypes * 1)(bmp)
    rc = mt.mtmd_tokenize(ctx, chunks, ctypes.byref(text), arr, 1)
    if rc != 0:
        raise SystemExit(f"mtmd_tokenize: {rc}")
    chunk = None
    for i in range(mt.mtmd_input_chunks_size(chunks)):
        c = mt.mtmd_input_chunks_get(chunks, i)
        if mt.mtmd_input_chunk_get_type(c) == 1:  # MTMD_INPUT_CHUNK_TYPE_IMAGE
            chunk = c
    n_tok = mt.mtmd_input_chunk_get_n_tokens(chunk)
    mt.mtmd_encode_chunk(ctx, chunk)  # warm-up
    best = 1e30
    for _ in range(n):
        t = time.perf_counter()
        if mt.mtmd_encode_chunk(ctx, chunk) != 0:
            raise SystemExit("mtmd_encode_chunk failed")
        best = min(best, time.perf_counter() - t)
    embd = np.ctypeslib.as_array(mt.mtmd_get_output_embd(ctx), shape=(n_tok * llm.n_embd(),)).copy()
    mt.mtmd_input_chunks_free(chunks)
    mt.mtmd_bitmap_free(bmp)
    mt.mtmd_free(ctx)
    del llm
    print(f"llama.cpp: best {best * 1e3:.1f} ms per image over {n}; {1 / best:.2f} images/s ({n_tok} tokens; "
          f"libmtmd runs {n_tok and 'one layer fewer than the file stores'})", flush=True)
    return best, embd.reshape(n_tok, -1)


def run_torch(model, pixels, threads, n):
    torch.set_num_threads(threads)
    vt, proj = model.model.vision_tower, model.model.multi_modal_projector
    layer = model.config.vision_feature_layer
    x = torch.from_numpy(pixels[None])

    def once():
        hs = vt(x, output_hidden_states=True).hidden_states[layer][:, 1:]
        return proj(hs)[0]

    with torch.no_grad():
        once()
        best = 1e30
        for _ in range(n):
            t = time.perf_counter()
            e = once()
            best = min(best, time.perf_counter() - t)
    print(f"transformers: best {best * 1e3:.1f} ms per image over {n}; {1 / best:.2f} images/s "
          f"(torch {torch.__version__}, float32, {threads} threads)")
    return best, e.numpy()


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def main():
    build_dir = sys.argv[1] if len(sys.argv) > 1 else "build"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    shape = sys.argv[4] if len(sys.argv) > 4 else "vitl336"
    case, tconfig, llama, config, model, (tokens, scores, types) = build(shape)
    S = config.vision_config.image_size
    with tempfile.TemporaryDirectory() as tmp:
        mmproj, llm = os.path.join(tmp, "mmproj-f16.gguf"), os.path.join(tmp, "llm.gguf")
        stored = mvg.write_mmproj(mmproj, config, model)
        mvg.write_llm(llm, case, tconfig, llama, tokens, scores, types)
        sd = model.state_dict()  # the reference runs on the F16 values the file holds
        with torch.no_grad():
            for k, v in stored.items():
                sd[k].copy_(torch.from_numpy(v).reshape(sd[k].shape))
        rng = np.random.default_rng(3)
        # a smooth picture (gradients and a few discs), S x S so nobody resizes it
        yy, xx = np.mgrid[0:S, 0:S] / S
        img = np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx + 4 * yy)], -1)
        for _ in range(6):
            cx, cy, r = rng.random(3) * [1, 1, 0.25]
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.random(3)
        img_u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        pixels = ((img_u8.astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1).copy()
        px_path, out_path = os.path.join(tmp, "pixels.f32"), os.path.join(tmp, "embd.f32")
        pixels.tofile(px_path)
        print(f"shape {shape}: {S} px, {config.vision_config.num_hidden_layers} layers "
              f"({config.vision_config.num_hidden_layers - 1} run) of {config.vision_config.hidden_size}, "
              f"projector -> {tconfig.hidden_size}; {threads} threads; best of {n}")
        t_hark = run_hark(build_dir, mmproj, threads, n, px_path, out_path)
        e_hark = np.fromfile(out_path, np.float32).reshape(-1, tconfig.hidden_size)
        t_cpp, e_cpp = run_llamacpp(llm, mmproj, img_u8, threads, n)
        t_torch, e_torch = run_torch(model, pixels, threads, n)
        print(f"ratio: Hark is {t_cpp / t_hark:.2f}x llama.cpp's speed, {t_torch / t_hark:.2f}x transformers'")
        print(f"embeddings: Hark vs transformers {rel(e_hark, e_torch):.2e}, llama.cpp vs transformers "
              f"{rel(e_cpp, e_torch):.2e}, Hark vs llama.cpp {rel(e_hark, e_cpp):.2e} (max difference / max value)")


if __name__ == "__main__":
    main()
