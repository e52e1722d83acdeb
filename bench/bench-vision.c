/* bench-vision.c: CLIP tower + projector speed (images/s) on one backend.
 *
 *   bench-vision MMPROJ [DEVICE] [N] [PIXELS.f32] [EMBD_OUT.f32]
 *   bench-vision gen OUT.gguf [vitl336|vitl224]   (a random LLaVA-1.5-shaped mmproj)
 *
 * Encodes N images (default 5, after one warm-up) of fixed pseudo-random
 * pixels, or of the [3][S][S] float32 pixels in PIXELS.f32, and prints ms per
 * image, images/s and the GFLOP/s of the matrix work. EMBD_OUT.f32 receives
 * the embeddings of the last image (for comparison with a peer).
 * bench/vision-vs-peers.py makes a ViT-L/14-336-shaped random model and runs
 * this beside llama.cpp's and transformers' towers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-cpu.h"
#include "kern-type.h"
#include "kern-weights.h"
#include "vis-clip.h"

static uint32_t rng = 2463534242u;

static float
frand(void)
{
  rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
  return (float)(rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* A random tensor of n = ne0 * ne1 * ... values scaled by s (plus o), F16 or F32. */
static int
add(kern_gguf_writer *g, const char *name, int f16, int nd, int64_t a, int64_t b, int64_t c, int64_t d, float s,
    float o)
{
  const int64_t ne[4] = { a, b, c, d };
  int64_t n = a * (nd > 1 ? b : 1) * (nd > 2 ? c : 1) * (nd > 3 ? d : 1);
  float *f = malloc((size_t)n * sizeof *f);
  uint16_t *h = f16 ? malloc((size_t)n * 2) : NULL;
  if (!f || (f16 && !h))
    return -1;
  for (int64_t i = 0; i < n; i++)
    f[i] = o + s * frand();
  if (f16)
    kern_quantize_row(KERN_TYPE_F16, f, h, n);
  int rc = kern_gguf_add_tensor(g, name, f16 ? KERN_TYPE_F16 : KERN_TYPE_F32, nd, ne, f16 ? (void *)h : (void *)f);
  free(f);
  free(h);
  return rc;
}

/* ViT-L/14 (24 layers, 23 stored as llama.cpp's LLaVA converter does) + MLP projector 1024 -> 4096 -> 4096. */
static int
gen(const char *path, const char *shape)
{
  int S = strcmp(shape, "vitl224") == 0 ? 224 : 336, P = 14, D = 1024, F = 4096, E = 4096, L = 23;
  int T = (S / P) * (S / P) + 1;
  kern_gguf_writer *g = kern_gguf_writer_new();
  const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f }, std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
  kern_gguf_set_string(g, "general.architecture", "clip");
  kern_gguf_set_bool(g, "clip.has_vision_encoder", 1);
  kern_gguf_set_bool(g, "clip.has_llava_projector", 1);
  kern_gguf_set_string(g, "clip.projector_type", "mlp");
  kern_gguf_set_u32(g, "clip.vision.image_size", (uint32_t)S);
  kern_gguf_set_u32(g, "clip.vision.patch_size", (uint32_t)P);
  kern_gguf_set_u32(g, "clip.vision.embedding_length", (uint32_t)D);
  kern_gguf_set_u32(g, "clip.vision.feed_forward_length", (uint32_t)F);
  kern_gguf_set_u32(g, "clip.vision.projection_dim", 768);
  kern_gguf_set_u32(g, "clip.vision.attention.head_count", 16);
  kern_gguf_set_f32(g, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
  kern_gguf_set_u32(g, "clip.vision.block_count", (uint32_t)L);
  kern_gguf_set_array(g, "clip.vision.image_mean", KERN_META_F32, mean, 3);
  kern_gguf_set_array(g, "clip.vision.image_std", KERN_META_F32, std, 3);
  float sd = 1.0f / 32.0f, sf = 1.0f / 64.0f;
  int rc = add(g, "v.class_embd", 0, 1, D, 1, 1, 1, 0.5f, 0) || add(g, "v.patch_embd.weight", 1, 4, P, P, 3, D, 0.05f, 0) ||
           add(g, "v.position_embd.weight", 0, 2, D, T, 1, 1, 0.5f, 0) || add(g, "v.pre_ln.weight", 0, 1, D, 1, 1, 1, 0.1f, 1) ||
           add(g, "v.pre_ln.bias", 0, 1, D, 1, 1, 1, 0.02f, 0);
  char name[64];
#define T2(nm, f16, a, b, s, o) (snprintf(name, sizeof name, "v.blk.%d." nm, l), add(g, name, f16, b ? 2 : 1, a, b ? b : 1, 1, 1, s, o))
  for (int l = 0; l < L && !rc; l++)
    rc = T2("attn_q.weight", 1, D, D, sd, 0) || T2("attn_q.bias", 0, D, 0, 0.02f, 0) || T2("attn_k.weight", 1, D, D, sd, 0) ||
         T2("attn_k.bias", 0, D, 0, 0.02f, 0) || T2("attn_v.weight", 1, D, D, sd, 0) || T2("attn_v.bias", 0, D, 0, 0.02f, 0) ||
         T2("attn_out.weight", 1, D, D, sd, 0) || T2("attn_out.bias", 0, D, 0, 0.02f, 0) ||
         T2("ffn_up.weight", 1, D, F, sd, 0) || T2("ffn_up.bias", 0, F, 0, 0.02f, 0) ||
         T2("ffn_down.weight", 1, F, D, sf, 0) || T2("ffn_down.bias", 0, D, 0, 0.02f, 0) ||
         T2("ln1.weight", 0, D, 0, 0.1f, 1) || T2("ln1.bias", 0, D, 0, 0.02f, 0) || T2("ln2.weight", 0, D, 0, 0.1f, 1) ||
         T2("ln2.bias", 0, D, 0, 0.02f, 0);
#undef T2
  rc = rc || add(g, "mm.0.weight", 1, 2, D, E, 1, 1, sd, 0) || add(g, "mm.0.bias", 0, 1, E, 1, 1, 1, 0.02f, 0) ||
       add(g, "mm.2.weight", 1, 2, E, E, 1, 1, sf, 0) || add(g, "mm.2.bias", 0, 1, E, 1, 1, 1, 0.02f, 0);
  char *err = NULL;
  if (!rc && kern_gguf_write(g, path, &err) != 0) {
    fprintf(stderr, "bench-vision: %s\n", err);
    rc = 1;
  }
  free(err);
  kern_gguf_writer_free(g);
  if (!rc)
    printf("wrote %s (ViT-L/14 at %d px, %d layers, MLP projector to %d)\n", path, S, L, E);
  return rc ? 1 : 0;
}

int
main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s MMPROJ [DEVICE] [N] [PIXELS.f32] [EMBD_OUT.f32]\n       %s gen OUT.gguf [vitl336|vitl224]\n",
            argv[0], argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "gen") == 0)
    return argc > 2 ? gen(argv[2], argc > 3 ? argv[3] : "vitl336") : 2;
  const char *device = argc > 2 ? argv[2] : "cpu";
  int n = argc > 3 ? atoi(argv[3]) : 5;
  if (n < 1)
    n = 1;
  vis_clip_params p = vis_clip_default_params();
  p.device = device;
  char *err = NULL;
  double t0 = kern_clock_s();
  vis_clip *c = vis_clip_open(argv[1], &p, &err);
  if (!c) {
    fprintf(stderr, "bench-vision: %s\n", err);
    free(err);
    return 1;
  }
  double t_load = kern_clock_s() - t0;
  const vis_clip_hparams *hp = vis_clip_get_hparams(c);
  size_t npx = 3 * (size_t)hp->image_size * hp->image_size, ne = (size_t)hp->n_tokens * hp->n_out;
  float *px = malloc(npx * sizeof *px), *embd = malloc(ne * sizeof *embd);
  if (!px || !embd)
    return 1;
  if (argc > 4) {
    FILE *f = fopen(argv[4], "rb");
    if (!f || fread(px, sizeof *px, npx, f) != npx) {
      fprintf(stderr, "bench-vision: cannot read %zu floats from %s\n", npx, argv[4]);
      return 1;
    }
    fclose(f);
  } else {
    uint32_t s = 12345;
    for (size_t i = 0; i < npx; i++) {
      s = s * 1664525u + 1013904223u;
      px[i] = ((float)(s >> 8) / 16777216.0f) * 4.0f - 2.0f;
    }
  }
  if (vis_clip_encode(c, px, NULL, embd) != 0) { /* warm-up */
    fprintf(stderr, "bench-vision: %s\n", vis_clip_errmsg(c));
    return 1;
  }
  double best = 1e30, total = 0;
  for (int i = 0; i < n; i++) {
    double t = kern_clock_s();
    if (vis_clip_encode(c, px, NULL, embd) != 0) {
      fprintf(stderr, "bench-vision: %s\n", vis_clip_errmsg(c));
      return 1;
    }
    t = kern_clock_s() - t;
    total += t;
    if (t < best)
      best = t;
  }
  /* Matrix work: per layer 4 D^2 + 2 D F multiply-adds per position, attention
   * 2 T^2 D, projector E (D + E) (MLP) per output token. */
  double T = (double)(hp->image_size / hp->patch_size) * (hp->image_size / hp->patch_size) + 1, D = hp->n_embd,
         F = hp->n_ff, E = hp->n_out;
  double flop = 2.0 * hp->n_layer * (T * (4 * D * D + 2 * D * F) + 2 * T * T * D);
  flop += 2.0 * (T - 1) * (hp->projector == VIS_PROJ_MLP ? E * (D + E) : E * D);
  flop += 2.0 * (T - 1) * D * 3 * hp->patch_size * hp->patch_size;
  printf("tower %dpx/%d, %d layers of %d, %d tokens -> %d wide, on %s (loaded in %.2f s)\n", hp->image_size,
         hp->patch_size, hp->n_layer, hp->n_embd, hp->n_tokens, hp->n_out, vis_clip_backend_name(c), t_load);
  printf("encode: best %.1f ms, mean %.1f ms per image over %d; %.2f images/s; %.1f GFLOP/image, %.1f GFLOP/s\n",
         best * 1e3, total / n * 1e3, n, 1.0 / best, flop / 1e9, flop / best / 1e9);
  if (argc > 5) {
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(embd, sizeof *embd, ne, f) != ne) {
      fprintf(stderr, "bench-vision: cannot write %s\n", argv[5]);
      return 1;
    }
    fclose(f);
  }
  free(px);
  free(embd);
  vis_clip_free(c);
  return 0;
}
