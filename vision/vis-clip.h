/* vis-clip.h: the CLIP ViT vision tower and the projector into an LLM.
 *
 * Reads the two layouts users have:
 *  - llama.cpp's mmproj GGUF (general.architecture "clip", clip.vision.* keys,
 *    v.* tower and mm.* projector tensors), LLaVA-1.5/1.6 style: the file
 *    holds the layers whose output is used (llama.cpp's converter drops the
 *    rest), or names them in clip.vision.feature_layer;
 *  - a Hugging Face directory: LlavaForConditionalGeneration (vision_tower.*,
 *    multi_modal_projector.*, config.json's vision_feature_layer and
 *    vision_feature_select_strategy, preprocessor_config.json), or a bare
 *    CLIPVisionModel / CLIPModel (features only, no projector).
 * Projectors: LLaVA's MLP (linear, GELU, linear) and a single linear layer
 * (MiniGPT-4 style: mm.0 without mm.2, or multi_modal_projector.linear_1 alone).
 *
 * The tower (pre-norm ViT, as Hugging Face's CLIPVisionTransformer):
 *   x = [class, patches(img) Wpatch] + pos ; x = layernorm_pre(x)
 *   per layer: x += attn(layernorm1(x)) ; x += fc2(act(fc1(layernorm2(x))))
 *   act is quick_gelu (OpenAI CLIP) or GELU (erf) as the file says.
 * Features are the output of the configured layer (LLaVA: the penultimate),
 * without the class token for LLaVA's "default" strategy; then the projector.
 * An mmproj without clip.vision.feature_layer runs every layer it stores, which
 * is transformers' hidden_states[-2] for the LLaVA files llama.cpp's converter
 * writes (they store 23 of ViT-L's 24 layers). llama.cpp's own graph runs one
 * layer fewer of those, so its embeddings differ from transformers' and Hark's.
 *
 * Threads: one context serves one thread at a time; different contexts may
 * run at once. should_abort runs on the calling thread between layers.
 * Errors: 0 or a negative kern_status; vis_clip_errmsg() says what happened.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "vis-image.h"

typedef struct vis_clip vis_clip;

typedef struct {
  const char *device; /* "auto" (CUDA when usable, else "cpu") | "cpu" | "cpu-ref" | "cuda" | "cuda:N" */
  int n_threads;      /* CPU threads, 0 = physical cores */
  int (*should_abort)(void *user_data); /* non-zero: stop an encode (KERN_E_ABORTED); may be NULL */
  void *user_data;
} vis_clip_params;

typedef enum {
  VIS_PROJ_NONE = 0, /* features only (a bare CLIP vision model) */
  VIS_PROJ_MLP,      /* LLaVA: linear, GELU, linear */
  VIS_PROJ_LINEAR,   /* MiniGPT-4 style: one linear layer */
} vis_projector;

typedef struct {
  int image_size;      /* input side in pixels (224, 336) */
  int patch_size;      /* 14, 16, 32 */
  int n_embd;          /* tower width (1024 for ViT-L) */
  int n_head;
  int n_ff;
  int n_layer_file;    /* layers the file holds */
  int n_layer;         /* layers run: the feature layer */
  int use_gelu;        /* 1: GELU (erf); 0: quick_gelu */
  int keep_class;      /* the class token is part of the output */
  int post_norm;       /* the features go through the post layernorm */
  float eps;
  vis_projector projector;
  int n_tokens;        /* embeddings per image: (image_size / patch_size)^2 (+1 with the class token) */
  int n_out;           /* width of each embedding: the LLM's n_embd, or n_embd without projector */
  vis_preprocess_params preprocess; /* how images are made into the input (from the file) */
} vis_clip_hparams;

vis_clip_params vis_clip_default_params(void);

/* Opens an mmproj GGUF file or a Hugging Face model directory. NULL with *err
 * (malloc'd "PATH: problem") on failure: not a vision model, hyperparameters
 * that contradict the tensors, missing tensors, no backend. */
vis_clip *vis_clip_open(const char *path, const vis_clip_params *p, char **err);
void vis_clip_free(vis_clip *c);
const vis_clip_hparams *vis_clip_get_hparams(const vis_clip *c);
const char *vis_clip_errmsg(const vis_clip *c);
const char *vis_clip_backend_name(const vis_clip *c);

/* pixels: [3][image_size][image_size] as vis_preprocess makes them.
 * features (optional): [n_tokens][n_embd], the tower's output before the projector;
 * embd (optional): [n_tokens][n_out], what the LLM reads. */
int vis_clip_encode(vis_clip *c, const float *pixels, float *features, float *embd);

/* Preprocesses img as the model's files say, then encodes: embd [n_tokens][n_out]. */
int vis_clip_embed_image(vis_clip *c, const vis_image *img, float *embd);

/* Writes the model in llama.cpp's LLaVA mmproj layout (so llama.cpp and Hark
 * read it): the layers run and the projector, matrices and the patch
 * embedding as `type` (a kern_type: F32, F16 or a quantized type; rows that do
 * not divide into its blocks stay F16), vectors and embeddings F32; image
 * size, mean and std kept. llama.cpp pads images to a square for such files,
 * so a converted crop-mode model is then read with padding. Returns 0 or a
 * negative kern_status with *err (malloc'd). */
int vis_clip_export(vis_clip *c, const char *path, int type, char **err);
