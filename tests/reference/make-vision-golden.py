#!/usr/bin/env python3
"""A seeded random tiny LLaVA (CLIP ViT tower + MLP projector + llama
backbone) from Hugging Face transformers, in the three files users have, with
golden outputs for tests/test-vision-clip.c:

  tests/data/vision/llava-hf/        LlavaForConditionalGeneration directory
                                     (config.json, model.safetensors,
                                     preprocessor_config.json), float32, with
                                     the vocabulary as tokenizer.model +
                                     tokenizer_config.json (<image> added)
  tests/data/vision/mmproj-f16.gguf  the tower + projector in llama.cpp's mmproj
                                     layout (clip.* keys, v.* / mm.* tensors,
                                     matrices and patch embedding in F16, the
                                     unused last layer dropped as llama.cpp's
                                     LLaVA converter does)
  tests/data/vision/llm-f32.gguf     the language model in llama.cpp's llama
                                     layout with the SentencePiece vocabulary of
                                     tests/data/llm/vocab-spm.gguf plus <image>

For each of two variants (the float32 weights of the HF directory; the same
with every matrix rounded to F16 as the mmproj file holds them), transformers
gives for one pixel_values input and one question:
  - the tower's features (hidden_states[vision_feature_layer], class token
    dropped),
  - the projected embeddings,
  - 16 greedy tokens after the LLaVA-1.5 prompt
    "SYSTEM USER: <image>\\nQUESTION ASSISTANT:" (text chunks tokenized by
    llama.cpp, chunk by chunk as LLaVA does, BOS on the first only).

Golden file tests/data/vision/llava-golden.bin (little-endian):
  magic "HVLG", u32 version 1, u32 image_size, u32 n_patches, u32 d_vision,
  u32 d_text, u32 n_prompt, u32 n_gen, u32 n_variants,
  f32 pixel_values[3][image_size][image_size],
  i32 prompt[n_prompt]   (the image's positions hold -1),
  then per variant: f32 features[n_patches][d_vision],
                    f32 embeddings[n_patches][d_text], i32 gen[n_gen]

Run: python3 tests/reference/make-vision-golden.py   (torch, transformers, gguf, llama-cpp-python, sentencepiece)
"""
import importlib.util
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import gguf
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(DATA, "vision")
SEED = 4321
N_GEN = 16
SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
QUESTION = "What is in this picture?"

spec = importlib.util.spec_from_file_location("mlg", os.path.join(HERE, "make-llm-golden.py"))
mlg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mlg)

VOCAB = os.path.join(DATA, "llm", "vocab-spm.gguf")


def vocab_fields():
    r = gguf.GGUFReader(VOCAB)
    out = {}
    for k, f in r.fields.items():
        if k.startswith("tokenizer."):
            out[k] = f
    tokens = [bytes(r.fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in
              r.fields["tokenizer.ggml.tokens"].data]
    scores = [float(r.fields["tokenizer.ggml.scores"].parts[i][0]) for i in r.fields["tokenizer.ggml.scores"].data]
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in
             r.fields["tokenizer.ggml.token_type"].data]
    return tokens, scores, types


def randomize(module, g, scale_norm=0.2):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "layrnorm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + scale_norm * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                fan_in = math.prod(p.shape[1:])
                p.copy_(1.5 * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def build():
    tokens, _, _ = vocab_fields()
    n_vocab = len(tokens) + 1  # + <image>
    case = {"name": "llava-llama", "arch": "llama", "cls": "LlamaForCausalLM",
            "cfg": dict(vocab_size=n_vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)}
    tconfig, llama = mlg.build(case, SEED)
    vconfig = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=80, num_hidden_layers=3,
                                            num_attention_heads=4, image_size=42, patch_size=14,
                                            hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=32)
    config = transformers.LlavaConfig(vision_config=vconfig, text_config=tconfig, image_token_index=n_vocab - 1,
                                      projector_hidden_act="gelu", vision_feature_layer=-2,
                                      vision_feature_select_strategy="default")
    config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    config.vision_config._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = transformers.LlavaForConditionalGeneration(config).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    randomize(model.model.vision_tower, g)
    randomize(model.model.multi_modal_projector, g)
    model.model.language_model.load_state_dict(llama.model.state_dict())
    model.lm_head.load_state_dict(llama.lm_head.state_dict())
    return case, tconfig, llama, config, model


def prompt_ids(n_patches, image_token):
    import llama_cpp
    voc = llama_cpp.Llama(model_path=VOCAB, vocab_only=True, verbose=False)
    before = (SYSTEM + " USER: ").encode()
    after = ("\n" + QUESTION + " ASSISTANT:").encode()
    a = voc.tokenize(before, add_bos=True, special=True)
    b = voc.tokenize(after, add_bos=False, special=True)
    return a, b


def features_of(model, pixel_values):
    vt = model.model.vision_tower
    out = vt(pixel_values, output_hidden_states=True)
    feats = out.hidden_states[model.config.vision_feature_layer][:, 1:]
    emb = model.model.multi_modal_projector(feats)
    return feats[0].numpy(), emb[0].numpy()


def greedy(model, ids_before, ids_after, pixel_values, n_patches, image_token):
    ids = ids_before + [image_token] * n_patches + ids_after
    seq = list(ids)
    gen = []
    for _ in range(N_GEN):
        lg = model(input_ids=torch.tensor([seq]), pixel_values=pixel_values).logits[0, -1].float().numpy()
        t = int(np.argmax(lg))
        srt = np.sort(lg)
        if srt[-1] - srt[-2] < 1e-3 * (abs(srt[-1]) + 1):
            print(f"  warning: near-tie at step {len(gen)}", file=sys.stderr)
        gen.append(t)
        seq.append(t)
    return gen


def write_llm(path, case, tconfig, llama, tokens, scores, types):
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.name", "hark-test-llava-llama")
    w.add_uint32("llama.context_length", 512)
    w.add_uint32("llama.embedding_length", tconfig.hidden_size)
    w.add_uint32("llama.block_count", tconfig.num_hidden_layers)
    w.add_uint32("llama.feed_forward_length", tconfig.intermediate_size)
    w.add_uint32("llama.attention.head_count", tconfig.num_attention_heads)
    w.add_uint32("llama.attention.head_count_kv", tconfig.num_key_value_heads)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", tconfig.rms_norm_eps)
    w.add_float32("llama.rope.freq_base", tconfig.rope_parameters["rope_theta"])
    w.add_uint32("llama.rope.dimension_count", tconfig.hidden_size // tconfig.num_attention_heads)
    w.add_uint32("llama.vocab_size", tconfig.vocab_size)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_string("tokenizer.ggml.pre", "default")
    w.add_array("tokenizer.ggml.tokens", tokens + ["<image>"])
    w.add_array("tokenizer.ggml.scores", scores + [0.0])
    w.add_array("tokenizer.ggml.token_type", types + [4])  # user-defined
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", False)
    for name, arr, kind, hf, unperm in mlg.gguf_tensors(case, tconfig, llama):
        w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# LLaVA-1.5's chat template as its Hugging Face processor carries it (images
# first, then the text; no system prompt).
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")


def write_hf_tokenizer(hf_dir, tokens, scores, types, image_token):
    """The SentencePiece vocabulary as a Hugging Face LLaVA directory has it:
    tokenizer.model (a BPE SentencePiece model with the vocabulary's pieces),
    tokenizer_config.json with <image> as an added special token, and
    chat_template.json. Checks that sentencepiece reads the model back and
    tokenizes like the GGUF vocabulary (through llama.cpp)."""
    from sentencepiece import sentencepiece_model_pb2 as spm_pb
    import sentencepiece
    import llama_cpp
    mp = spm_pb.ModelProto()
    for t, s, ty in zip(tokens, scores, types):
        p = mp.pieces.add()
        p.piece, p.score, p.type = t, s, ty
    ts = mp.trainer_spec
    ts.model_type = spm_pb.TrainerSpec.BPE
    ts.vocab_size = len(tokens)
    ts.unk_id, ts.bos_id, ts.eos_id, ts.pad_id = 0, 1, 2, -1
    ts.byte_fallback = True
    ns = mp.normalizer_spec
    ns.name = "identity"
    ns.add_dummy_prefix = True
    ns.remove_extra_whitespaces = False
    ns.escape_whitespaces = True
    path = os.path.join(hf_dir, "tokenizer.model")
    with open(path, "wb") as f:
        f.write(mp.SerializeToString())
    sp = sentencepiece.SentencePieceProcessor(model_file=path)
    voc = llama_cpp.Llama(model_path=VOCAB, vocab_only=True, verbose=False)
    for text in (SYSTEM + " USER: ", "\n" + QUESTION + " ASSISTANT:", "Grace Hopper, 1906-1992"):
        a = sp.encode(text)
        b = voc.tokenize(text.encode(), add_bos=False, special=False)
        assert a == b, (text, a, b)
    special = {i: t for i, t in enumerate(tokens) if types[i] in (2, 3)}
    special[image_token] = "<image>"
    config = {
        "add_bos_token": True, "add_eos_token": False, "legacy": False,
        "added_tokens_decoder": {str(i): {"content": t, "special": True, "lstrip": False, "rstrip": False,
                                          "normalized": False, "single_word": False}
                                 for i, t in sorted(special.items())},
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
        "model_max_length": 512, "tokenizer_class": "LlamaTokenizer",
    }
    with open(os.path.join(hf_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(hf_dir, "chat_template.json"), "w") as f:
        json.dump({"chat_template": LLAVA_CHAT_TEMPLATE}, f, indent=2)


def write_mmproj(path, config, model):
    """llama.cpp's LLaVA mmproj layout; returns {hf param name: value as stored}."""
    vc = config.vision_config
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    vp = "model.vision_tower."
    n_keep = vc.num_hidden_layers + 1 + config.vision_feature_layer  # layers whose output is used
    stored = {}
    w = gguf.GGUFWriter(path, "clip")
    w.add_string("general.name", "hark-test-llava-mmproj")
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.has_llava_projector", True)
    w.add_string("clip.projector_type", "mlp")
    w.add_uint32("clip.vision.image_size", vc.image_size)
    w.add_uint32("clip.vision.patch_size", vc.patch_size)
    w.add_uint32("clip.vision.embedding_length", vc.hidden_size)
    w.add_uint32("clip.vision.feed_forward_length", vc.intermediate_size)
    w.add_uint32("clip.vision.projection_dim", vc.projection_dim)
    w.add_uint32("clip.vision.attention.head_count", vc.num_attention_heads)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", vc.layer_norm_eps)
    w.add_uint32("clip.vision.block_count", n_keep)
    w.add_array("clip.vision.image_mean", [0.48145466, 0.4578275, 0.40821073])
    w.add_array("clip.vision.image_std", [0.26862954, 0.26130258, 0.27577711])
    w.add_bool("clip.use_gelu", vc.hidden_act == "gelu")

    def put(name, hf, f16):
        a = sd[hf]
        if f16:
            a = a.astype(np.float16)
        w.add_tensor(name, np.ascontiguousarray(a))
        stored[hf] = a.astype(np.float32)

    put("v.class_embd", vp + "embeddings.class_embedding", False)
    put("v.patch_embd.weight", vp + "embeddings.patch_embedding.weight", True)
    put("v.position_embd.weight", vp + "embeddings.position_embedding.weight", False)
    put("v.pre_ln.weight", vp + "pre_layrnorm.weight", False)
    put("v.pre_ln.bias", vp + "pre_layrnorm.bias", False)
    for i in range(n_keep):
        p = vp + f"encoder.layers.{i}."
        for hf, gg in (("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                       ("self_attn.out_proj", "attn_out"), ("mlp.fc1", "ffn_up"), ("mlp.fc2", "ffn_down")):
            put(f"v.blk.{i}.{gg}.weight", p + hf + ".weight", True)
            put(f"v.blk.{i}.{gg}.bias", p + hf + ".bias", False)
        for hf, gg in (("layer_norm1", "ln1"), ("layer_norm2", "ln2")):
            put(f"v.blk.{i}.{gg}.weight", p + hf + ".weight", False)
            put(f"v.blk.{i}.{gg}.bias", p + hf + ".bias", False)
    mp = "model.multi_modal_projector."
    put("mm.0.weight", mp + "linear_1.weight", True)
    put("mm.0.bias", mp + "linear_1.bias", False)
    put("mm.2.weight", mp + "linear_2.weight", True)
    put("mm.2.bias", mp + "linear_2.bias", False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored


def main():
    os.makedirs(OUT, exist_ok=True)
    tokens, scores, types = vocab_fields()
    case, tconfig, llama, config, model = build()
    vc = config.vision_config
    n_patches = (vc.image_size // vc.patch_size) ** 2
    image_token = config.image_token_index

    hf_dir = os.path.join(OUT, "llava-hf")
    model.save_pretrained(hf_dir, safe_serialization=True)
    proc = transformers.CLIPImageProcessor(size={"shortest_edge": vc.image_size},
                                           crop_size={"height": vc.image_size, "width": vc.image_size})
    proc.save_pretrained(hf_dir)
    write_hf_tokenizer(hf_dir, tokens, scores, types, config.image_token_index)
    write_llm(os.path.join(OUT, "llm-f32.gguf"), case, tconfig, llama, tokens, scores, types)

    g = torch.Generator().manual_seed(SEED + 2)
    pixel_values = (torch.randn(1, 3, vc.image_size, vc.image_size, generator=g)).clamp(-1.8, 2.1)
    before, after = prompt_ids(n_patches, image_token)
    prompt = before + [-1] * n_patches + after

    variants = []
    with torch.no_grad():
        variants.append(features_of(model, pixel_values) + (greedy(model, before, after, pixel_values, n_patches,
                                                                   image_token),))
        stored = write_mmproj(os.path.join(OUT, "mmproj-f16.gguf"), config, model)
        sd = model.state_dict()
        for k, v in stored.items():
            sd[k].copy_(torch.from_numpy(v).reshape(sd[k].shape))
        variants.append(features_of(model, pixel_values) + (greedy(model, before, after, pixel_values, n_patches,
                                                                   image_token),))

    d_text = tconfig.hidden_size
    with open(os.path.join(OUT, "llava-golden.bin"), "wb") as f:
        f.write(b"HVLG" + struct.pack("<8I", 1, vc.image_size, n_patches, vc.hidden_size, d_text, len(prompt),
                                      N_GEN, len(variants)))
        f.write(pixel_values[0].numpy().astype(np.float32).tobytes())
        f.write(np.array(prompt, np.int32).tobytes())
        for feats, emb, gen in variants:
            assert feats.shape == (n_patches, vc.hidden_size) and emb.shape == (n_patches, d_text)
            f.write(feats.astype(np.float32).tobytes())
            f.write(emb.astype(np.float32).tobytes())
            f.write(np.array(gen, np.int32).tobytes())
    for i, (feats, emb, gen) in enumerate(variants):
        print(f"variant {i}: feature std {feats.std():.3f}, embedding std {emb.std():.3f}, greedy {gen}")
    print("prompt", prompt)


if __name__ == "__main__":
    main()
