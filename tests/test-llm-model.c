/* test-llm-model.c: GGUF decoder-only models against Hugging Face transformers.
 *
 * tests/reference/make-llm-golden.py made seeded random tiny llama (F32, Q8_0,
 * tied F16, Llama-3 rope scaling in Q4_K), mistral (Q4_0; F32 with a sliding
 * window), qwen2 (F32, BF16;
 * q/k/v biases) and gemma3 (F16; sliding window 4) models in llama.cpp's GGUF
 * layout, with transformers' logits on the weights as stored; mistral-swa has a
 * sliding window of 5 positions in a 14-token prompt. On every backend
 * present: the logits of the whole prompt (one call) against the golden ones,
 * prefill-then-one-token-at-a-time against the whole prompt, and a greedy
 * continuation token for token. Bounds: NMSE (sum (a-b)^2 / sum b^2) and the
 * largest difference relative to the largest golden magnitude.
 * Malformed files and calls give errors naming the problem, never crashes. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "kern-backend.h"
#include "kern-weights.h"
#include "llm-model.h"

typedef struct {
  int V, n_prompt, n_gen;
  int32_t *prompt, *gen;
  float *prompt_logits, *gen_logits;
} golden;

static void
golden_load(const char *path, golden *g)
{
  gchar *buf;
  gsize len;
  g_assert_true(g_file_get_contents(path, &buf, &len, NULL));
  g_assert_cmpuint(len, >=, 20);
  g_assert_cmpint(memcmp(buf, "HLLG", 4), ==, 0);
  guint32 h[4];
  memcpy(h, buf + 4, sizeof h);
  g_assert_cmpuint(h[0], ==, 1);
  g->V = (int)h[1];
  g->n_prompt = (int)h[2];
  g->n_gen = (int)h[3];
  gsize need = 20 + 4 * ((gsize)g->n_prompt + (gsize)g->n_prompt * g->V + g->n_gen + (gsize)g->n_gen * g->V);
  g_assert_cmpuint(len, ==, need);
  const char *p = buf + 20;
  g->prompt = g_memdup2(p, 4 * (gsize)g->n_prompt), p += 4 * g->n_prompt;
  g->prompt_logits = g_memdup2(p, 4 * (gsize)g->n_prompt * g->V), p += 4 * (gsize)g->n_prompt * g->V;
  g->gen = g_memdup2(p, 4 * (gsize)g->n_gen), p += 4 * g->n_gen;
  g->gen_logits = g_memdup2(p, 4 * (gsize)g->n_gen * g->V);
  g_free(buf);
}

static void
golden_clear(golden *g)
{
  g_free(g->prompt), g_free(g->gen), g_free(g->prompt_logits), g_free(g->gen_logits);
}

static double
nmse(const float *a, const float *ref, int n)
{
  double num = 0, den = 0;
  for (int i = 0; i < n; i++) {
    g_assert_true(isfinite(a[i]));
    num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
    den += (double)ref[i] * ref[i];
  }
  return num / (den > 0 ? den : 1);
}

static double
max_rel(const float *a, const float *ref, int n)
{
  double mx = 0, md = 0;
  for (int i = 0; i < n; i++) {
    mx = fmax(mx, fabs(ref[i]));
    md = fmax(md, fabs((double)a[i] - ref[i]));
  }
  return md / (mx > 0 ? mx : 1);
}

static int
argmax(const float *x, int n)
{
  int b = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[b])
      b = i;
  return b;
}

static gboolean
have_backend(const char *name)
{
  char *err = NULL;
  kern_backend_t be = kern_backend_new(name, NULL, &err);
  g_free(err);
  if (!be)
    return FALSE;
  kern_backend_free(be);
  return TRUE;
}

typedef struct {
  const char *name;
  double nmse_ref, nmse_cpu; /* bounds against golden: cpu-ref (exact weights), cpu/cuda (8-bit activations) */
  int hd32;                  /* head size a multiple of 32: a Q8_0 cache is possible */
} golden_case;

/* F32/F16/BF16 weights: the fast backends multiply in float, so their error is
 * rounding (~1e-12 measured); quantized weights: cpu and CUDA round the
 * activations to 8 bits for the integer dot products (1e-5 .. 1e-4). */
static const golden_case cases[] = {
  { "llama-f32", 1e-9, 1e-8, 1 },
  { "llama-q8_0", 1e-9, 1e-3, 1 },
  { "llama-tied-f16", 1e-9, 1e-7, 0 },
  { "llama3-rope-q4_k", 1e-9, 5e-3, 1 },
  { "mistral-q4_0", 1e-9, 5e-3, 0 },
  { "mistral-swa-f32", 1e-9, 1e-8, 1 },
  { "qwen2-f32", 1e-9, 1e-8, 0 },
  { "qwen2-bf16", 1e-9, 1e-7, 0 },
  { "gemma3-f16", 1e-9, 1e-7, 1 },
};

typedef struct {
  const golden_case *c;
  const char *backend;
  int kv_type;
} run_args;

static llm_model *
open_case(const char *name, const char *backend, int kv_type, int n_ctx)
{
  gchar *file = g_strdup_printf("%s.gguf", name);
  gchar *path = g_test_build_filename(G_TEST_DIST, "data", "llm", file, NULL);
  llm_model_params p = llm_model_default_params();
  p.device = backend;
  p.kv_type = kv_type;
  p.n_ctx = n_ctx;
  char *err = NULL;
  llm_model *m = llm_model_open(path, &p, &err);
  if (!m)
    g_error("%s: %s", path, err);
  g_free(file), g_free(path);
  return m;
}

static void
test_golden(gconstpointer data)
{
  const run_args *a = data;
  if (!have_backend(a->backend)) {
    g_test_skip("backend not available");
    return;
  }
  gchar *file = g_strdup_printf("%s.golden", a->c->name);
  gchar *gpath = g_test_build_filename(G_TEST_DIST, "data", "llm", file, NULL);
  golden g;
  golden_load(gpath, &g);
  g_free(file), g_free(gpath);
  llm_model *m = open_case(a->c->name, a->backend, a->kv_type, 64);
  const llm_hparams *hp = llm_model_hparams(m);
  g_assert_cmpint(hp->n_vocab, ==, g.V);
  g_assert_cmpint(hp->n_ctx, ==, 64);
  int V = g.V, n = g.n_prompt;
  gboolean exact = strcmp(a->backend, "cpu-ref") == 0;
  double bound = exact ? a->c->nmse_ref : a->c->nmse_cpu;
  if (a->kv_type == KERN_TYPE_Q8_0)
    bound = fmax(bound, 2e-3); /* keys and values rounded to 8 bits */
  else if (a->kv_type == KERN_TYPE_F16)
    bound = fmax(bound, 3e-5); /* keys and values rounded to 11 bits */

  /* 1. The whole prompt in one call, every row's logits. */
  float *all = g_new(float, (gsize)n * V);
  g_assert_cmpint(llm_model_decode(m, g.prompt, n, 0, all, 1), ==, 0);
  g_assert_cmpint(llm_model_kv_count(m), ==, n);
  double worst = 0, worst_rel = 0;
  for (int i = 0; i < n; i++) {
    worst = fmax(worst, nmse(all + (gsize)i * V, g.prompt_logits + (gsize)i * V, V));
    worst_rel = fmax(worst_rel, max_rel(all + (gsize)i * V, g.prompt_logits + (gsize)i * V, V));
  }
  g_test_message("%s on %s (kv %s): prompt logits NMSE %.3g, max rel diff %.3g", a->c->name, a->backend,
                 kern_type_get_traits(a->kv_type)->name, worst, worst_rel);
  g_assert_cmpfloat(worst, <=, bound);

  /* 2. Prefill most of it, then one token at a time: same logits. */
  int pre = n - 4;
  float *row = g_new(float, V);
  g_assert_cmpint(llm_model_kv_truncate(m, 0), ==, 0);
  g_assert_cmpint(llm_model_decode(m, g.prompt, pre, 0, NULL, 0), ==, 0);
  double step_worst = 0;
  for (int i = pre; i < n; i++) {
    g_assert_cmpint(llm_model_decode(m, g.prompt + i, 1, i, row, 0), ==, 0);
    step_worst = fmax(step_worst, nmse(row, all + (gsize)i * V, V));
  }
  g_test_message("  prefill + single steps vs whole prompt: NMSE %.3g", step_worst);
  g_assert_cmpfloat(step_worst, <=, exact ? 1e-12 : 1e-8);

  /* 3. Greedy continuation, token for token. */
  g_assert_cmpint(llm_model_kv_truncate(m, 0), ==, 0);
  g_assert_cmpint(llm_model_decode(m, g.prompt, n, 0, row, 0), ==, 0);
  /* Strict where the arithmetic is (nearly) exact. With quantized weights the
   * fast backends round activations to 8 bits, which can swap two nearly equal
   * candidates of a random model: allowed only when the golden logits of the
   * two differ by under 2 % of their range, and then the golden token is fed
   * on (teacher forcing) so the later steps stay comparable. */
  gboolean strict = exact || a->c->nmse_cpu <= 1e-7;
  double gen_worst = 0;
  int swaps = 0;
  for (int s = 0; s < g.n_gen; s++) {
    const float *gl = g.gen_logits + (gsize)s * V;
    gen_worst = fmax(gen_worst, nmse(row, gl, V));
    int t = argmax(row, V);
    if (t != g.gen[s]) {
      float lo = gl[0], hi = gl[0];
      for (int i = 1; i < V; i++)
        lo = fminf(lo, gl[i]), hi = fmaxf(hi, gl[i]);
      g_test_message("  step %d: %d instead of %d (golden logits %.4f vs %.4f, range %.2f)", s, t, g.gen[s], gl[t],
                     gl[g.gen[s]], hi - lo);
      g_assert_false(strict);
      g_assert_cmpfloat(gl[g.gen[s]] - gl[t], <, 0.02 * (hi - lo));
      swaps++;
    }
    int32_t tok = g.gen[s];
    g_assert_cmpint(llm_model_decode(m, &tok, 1, n + s, row, 0), ==, 0);
  }
  g_assert_cmpint(swaps, <=, 2);
  g_test_message("  greedy: %d of %d tokens identical; step logits NMSE %.3g", g.n_gen - swaps, g.n_gen, gen_worst);
  g_assert_cmpfloat(gen_worst, <=, bound);

  g_free(row);
  g_free(all);
  llm_model_free(m);
  golden_clear(&g);
}

/* Input embeddings equal to the token rows give the same logits as the ids. */
static void
test_embd(void)
{
  llm_model *m = open_case("llama-f32", "cpu", KERN_TYPE_F16, 32);
  const llm_hparams *hp = llm_model_hparams(m);
  const kern_tensor_info *te = kern_weights_find(llm_model_weights(m), "token_embd.weight");
  g_assert_nonnull(te);
  const int32_t toks[3] = { 5, 77, 200 };
  float *e = g_new(float, 3 * (gsize)hp->n_embd);
  size_t rs = kern_type_row_size(te->type, hp->n_embd);
  for (int i = 0; i < 3; i++)
    g_assert_cmpint(kern_dequantize_row(te->type, (const char *)te->data + rs * (size_t)toks[i], e + i * hp->n_embd,
                                        hp->n_embd), ==, 0);
  float *a = g_new(float, 3 * (gsize)hp->n_vocab), *b = g_new(float, 3 * (gsize)hp->n_vocab);
  g_assert_cmpint(llm_model_decode(m, toks, 3, 0, a, 1), ==, 0);
  g_assert_cmpint(llm_model_decode_embd(m, e, 3, 0, b, 1), ==, 0);
  g_assert_cmpfloat(nmse(b, a, 3 * hp->n_vocab), <=, 1e-12);
  g_free(e), g_free(a), g_free(b);
  llm_model_free(m);
}

/* Bad calls: errors with messages, the cache unchanged. */
static void
test_bad_calls(void)
{
  llm_model *m = open_case("qwen2-f32", "cpu", KERN_TYPE_F16, 16);
  const llm_hparams *hp = llm_model_hparams(m);
  int32_t toks[4] = { 1, 2, 3, 4 };
  float *lg = g_new(float, hp->n_vocab);
  g_assert_cmpint(llm_model_decode(m, toks, 4, 0, lg, 0), ==, 0);
  g_assert_cmpint(llm_model_decode(m, toks, 1, 5, lg, 0), ==, KERN_E_INVAL); /* past the cached 4 */
  g_assert_nonnull(strstr(llm_model_errmsg(m), "n_past 5"));
  g_assert_cmpint(llm_model_decode(m, toks, 1, -1, lg, 0), ==, KERN_E_INVAL);
  int32_t bad = hp->n_vocab;
  g_assert_cmpint(llm_model_decode(m, &bad, 1, 4, lg, 0), ==, KERN_E_INVAL);
  g_assert_nonnull(strstr(llm_model_errmsg(m), "outside the vocabulary"));
  bad = -3;
  g_assert_cmpint(llm_model_decode(m, &bad, 1, 4, lg, 0), ==, KERN_E_INVAL);
  g_assert_cmpint(llm_model_kv_count(m), ==, 4);
  g_assert_cmpint(llm_model_decode(m, toks, 4, 13, lg, 0), ==, KERN_E_INVAL); /* context of 16 */
  int32_t many[16] = { 0 };
  g_assert_cmpint(llm_model_decode(m, many, 13, 4, lg, 0), ==, KERN_E_INVAL);
  g_assert_nonnull(strstr(llm_model_errmsg(m), "exceed the context"));
  g_assert_cmpint(llm_model_decode(m, many, 12, 4, lg, 0), ==, 0);
  g_assert_cmpint(llm_model_decode(m, toks, 0, 0, lg, 0), ==, KERN_E_INVAL);
  g_assert_cmpint(llm_model_decode(m, NULL, 1, 0, lg, 0), ==, KERN_E_INVAL);
  g_assert_cmpint(llm_model_kv_truncate(m, 17), ==, KERN_E_INVAL);
  g_assert_cmpint(llm_model_kv_truncate(m, 2), ==, 0);
  g_assert_cmpint(llm_model_kv_count(m), ==, 2);
  g_free(lg);
  llm_model_free(m);
}

/* ---- malformed files, written with Hark's GGUF writer ---------------------- */

typedef struct {
  const char *arch;
  int64_t d, n_layer, n_head, n_head_kv, ff, ctx, V;
  const char *skip_tensor;  /* not written */
  const char *wrong_tensor; /* written with one row too many */
  int no_head_count;
} spec;

static spec
tiny(void)
{
  return (spec){ "llama", 32, 2, 2, 1, 64, 128, 64, NULL, NULL, 0 };
}

/* Tensor shapes follow d_t, nh_t ... (the truth) while the metadata says s->. */
static gchar *
write_model(const char *dir, const char *fname, const spec *s)
{
  kern_gguf_writer *g = kern_gguf_writer_new();
  gchar k[128];
#define KEY(suffix) (g_snprintf(k, sizeof k, "%s.%s", s->arch, suffix), k)
  g_assert_cmpint(kern_gguf_set_string(g, "general.architecture", s->arch), ==, 0);
  kern_gguf_set_u32(g, KEY("embedding_length"), (uint32_t)s->d);
  kern_gguf_set_u32(g, KEY("block_count"), (uint32_t)s->n_layer);
  if (!s->no_head_count)
    kern_gguf_set_u32(g, KEY("attention.head_count"), (uint32_t)s->n_head);
  kern_gguf_set_u32(g, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
  kern_gguf_set_u32(g, KEY("feed_forward_length"), (uint32_t)s->ff);
  kern_gguf_set_u32(g, KEY("context_length"), (uint32_t)s->ctx);
  /* the tensors of a consistent tiny model: d 32, 2 heads of 16, 1 kv head, ff 64 */
  const int64_t d = 32, hd = 16, nh = 2, nkv = 1, ff = 64, L = 2, V = 64;
  float *buf = g_new0(float, 64 * 64 + 64);
  for (int i = 0; i < 64 * 64 + 64; i++)
    buf[i] = (float)((i * 37 % 101) - 50) / 200.0f;
  struct {
    const char *name;
    int64_t n0, n1;
  } ts[] = { { "token_embd.weight", d, V }, { "output_norm.weight", d, 1 } };
  for (size_t i = 0; i < G_N_ELEMENTS(ts); i++) {
    if (s->skip_tensor && strcmp(s->skip_tensor, ts[i].name) == 0)
      continue;
    int64_t ne[2] = { ts[i].n0, ts[i].n1 };
    g_assert_cmpint(kern_gguf_add_tensor(g, ts[i].name, KERN_TYPE_F32, ts[i].n1 > 1 ? 2 : 1, ne, buf), ==, 0);
  }
  for (int li = 0; li < L; li++) {
    struct {
      const char *name;
      int64_t n0, n1;
    } lt[] = { { "attn_norm.weight", d, 1 }, { "attn_q.weight", d, nh * hd },   { "attn_k.weight", d, nkv * hd },
               { "attn_v.weight", d, nkv * hd }, { "attn_output.weight", nh * hd, d }, { "ffn_norm.weight", d, 1 },
               { "ffn_gate.weight", d, ff }, { "ffn_up.weight", d, ff },           { "ffn_down.weight", ff, d } };
    for (size_t i = 0; i < G_N_ELEMENTS(lt); i++) {
      gchar *name = g_strdup_printf("blk.%d.%s", li, lt[i].name);
      if (!(s->skip_tensor && strcmp(s->skip_tensor, name) == 0)) {
        int extra = s->wrong_tensor && strcmp(s->wrong_tensor, name) == 0;
        int64_t ne[2] = { lt[i].n0, lt[i].n1 + extra };
        g_assert_cmpint(kern_gguf_add_tensor(g, name, KERN_TYPE_F32, ne[1] > 1 ? 2 : 1, ne, buf), ==, 0);
      }
      g_free(name);
    }
  }
  gchar *path = g_build_filename(dir, fname, NULL);
  char *err = NULL;
  g_assert_cmpint(kern_gguf_write(g, path, &err), ==, 0);
  kern_gguf_writer_free(g);
  g_free(buf);
  return path;
}

static void
expect_open_error(const char *dir, const char *fname, const spec *s, const char *words)
{
  gchar *path = write_model(dir, fname, s);
  llm_model_params p = llm_model_default_params();
  p.device = "cpu-ref";
  char *err = NULL;
  llm_model *m = llm_model_open(path, &p, &err);
  g_assert_null(m);
  g_assert_nonnull(err);
  g_test_message("%s", err);
  g_assert_nonnull(strstr(err, fname));
  if (!strstr(err, words))
    g_error("'%s' does not say '%s'", err, words);
  free(err);
  g_unlink(path);
  g_free(path);
}

static int
abort_after(void *user_data)
{
  int *left = user_data;
  return --*left < 0;
}

/* should_abort stops a long prompt between layers; whole batches stay cached
 * and decoding resumes from there with the same logits. */
static void
test_abort(void)
{
  gchar *dir = g_dir_make_tmp("hark-llm-XXXXXX", NULL);
  spec sp = tiny();
  sp.ctx = 2048;
  gchar *path = write_model(dir, "abort.gguf", &sp);
  int left = 1 << 30;
  llm_model_params p = llm_model_default_params();
  p.device = "cpu";
  p.n_ctx = 1200;
  p.should_abort = abort_after;
  p.user_data = &left;
  char *err = NULL;
  llm_model *m = llm_model_open(path, &p, &err);
  g_assert_nonnull(m);
  int V = llm_model_hparams(m)->n_vocab, n = 1100;
  int32_t *toks = g_new(int32_t, n);
  for (int i = 0; i < n; i++)
    toks[i] = (i * 37 + 5) % V;
  float *want = g_new(float, V), *got = g_new(float, V);
  g_assert_cmpint(llm_model_decode(m, toks, n, 0, want, 0), ==, 0);
  left = 2 * 2 + 1; /* two layers per batch of 512: abort in the third batch */
  g_assert_cmpint(llm_model_decode(m, toks, n, 0, got, 0), ==, KERN_E_ABORTED);
  g_assert_nonnull(strstr(llm_model_errmsg(m), "aborted"));
  g_assert_cmpint(llm_model_kv_count(m), ==, 1024);
  left = 1 << 30;
  g_assert_cmpint(llm_model_decode(m, toks + 1024, n - 1024, 1024, got, 0), ==, 0);
  double num = 0, den = 0;
  for (int i = 0; i < V; i++)
    num += (got[i] - want[i]) * (double)(got[i] - want[i]), den += (double)want[i] * want[i];
  g_assert_cmpfloat(num / den, <=, 1e-12);
  llm_model_free(m);
  g_unlink(path);
  g_rmdir(dir);
  g_free(toks), g_free(want), g_free(got), g_free(path), g_free(dir);
}

typedef struct {
  int count;
  char last[1024];
} warnings;

static void
on_warning(const char *msg, void *user_data)
{
  warnings *w = user_data;
  w->count++;
  g_strlcpy(w->last, msg, sizeof w->last);
}

static void
test_malformed(void)
{
  gchar *dir = g_dir_make_tmp("hark-llm-XXXXXX", NULL);
  g_assert_nonnull(dir);
  spec s = tiny();
  { /* the consistent model opens and runs */
    gchar *path = write_model(dir, "ok.gguf", &s);
    llm_model_params p = llm_model_default_params();
    p.device = "cpu-ref";
    char *err = NULL;
    llm_model *m = llm_model_open(path, &p, &err);
    if (!m)
      g_error("%s", err);
    g_assert_cmpint(llm_model_hparams(m)->n_ctx, ==, 128);
    g_assert_cmpint(llm_model_hparams(m)->head_dim, ==, 16);
    int32_t t = 3;
    g_assert_cmpint(llm_model_decode(m, &t, 1, 0, NULL, 0), ==, 0);
    llm_model_free(m);
    g_unlink(path);
    g_free(path);
  }
  s = tiny(), s.arch = "gpt-neo-x";
  expect_open_error(dir, "arch.gguf", &s, "architecture 'gpt-neo-x'");
  s = tiny(), s.n_head = 3;
  expect_open_error(dir, "heads.gguf", &s, "not a multiple");
  s = tiny(), s.n_head = 4, s.n_head_kv = 3;
  expect_open_error(dir, "gqa.gguf", &s, "not a multiple of 3 key/value heads");
  s = tiny(), s.n_head = 0;
  expect_open_error(dir, "zero-heads.gguf", &s, "head_count");
  s = tiny(), s.n_layer = 0;
  expect_open_error(dir, "zero-layers.gguf", &s, "block_count");
  s = tiny(), s.n_layer = 3;
  expect_open_error(dir, "layers.gguf", &s, "'attn_norm.weight' of layer 2 is missing");
  s = tiny(), s.no_head_count = 1;
  expect_open_error(dir, "no-heads.gguf", &s, "attention.head_count' is missing");
  s = tiny(), s.d = 64, s.n_head = 4;
  expect_open_error(dir, "width.gguf", &s, "token_embd.weight");
  s = tiny(), s.n_head_kv = 2; /* two kv heads of 16: attn_k has one */
  expect_open_error(dir, "kvheads.gguf", &s, "attn_k.weight");
  s = tiny(), s.ff = 96;
  expect_open_error(dir, "ff.gguf", &s, "ffn_gate.weight");
  s = tiny(), s.skip_tensor = "blk.1.ffn_down.weight";
  expect_open_error(dir, "missing.gguf", &s, "'ffn_down.weight' of layer 1 is missing");
  s = tiny(), s.skip_tensor = "token_embd.weight";
  expect_open_error(dir, "no-embd.gguf", &s, "token_embd.weight' is missing");
  s = tiny(), s.wrong_tensor = "blk.0.attn_v.weight";
  expect_open_error(dir, "shape.gguf", &s, "attn_v.weight' has shape");
  s = tiny(), s.wrong_tensor = "blk.1.attn_norm.weight";
  expect_open_error(dir, "norm.gguf", &s, "values");

  { /* duplicate tensor: rename blk.0.attn_k.weight to blk.0.attn_q.weight in the bytes */
    s = tiny();
    gchar *path = write_model(dir, "dup.gguf", &s), *buf;
    gsize len;
    g_assert_true(g_file_get_contents(path, &buf, &len, NULL));
    char *at = memmem(buf, len, "blk.0.attn_k.weight", 19);
    g_assert_nonnull(at);
    at[11] = 'q';
    g_assert_true(g_file_set_contents(path, buf, (gssize)len, NULL));
    g_free(buf);
    char *err = NULL;
    llm_model *m = llm_model_open(path, NULL, &err);
    g_assert_null(m);
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, "appears twice"));
    free(err);
    g_unlink(path);
    g_free(path);
  }
  { /* a context no machine holds: capped, with a notice */
    s = tiny(), s.ctx = 2000000000;
    gchar *path = write_model(dir, "ctx.gguf", &s);
    warnings w = { 0 };
    llm_model_params p = llm_model_default_params();
    p.device = "cpu";
    p.on_warning = on_warning;
    p.user_data = &w;
    /* ask for it explicitly (n_ctx 0 would ask for the same), with a budget
     * of 1 MiB standing in for the machine's memory (a real half of it would
     * be filled by MALLOC_PERTURB_ under meson test) */
    p.n_ctx = 2000000000;
    p.max_kv_bytes = 1 << 20;
    char *err = NULL;
    llm_model *m = llm_model_open(path, &p, &err);
    if (!m)
      g_error("%s", err);
    g_test_message("notice: %s", w.last);
    g_assert_cmpint(w.count, >=, 1);
    g_assert_nonnull(strstr(w.last, "capped"));
    g_assert_cmpint(llm_model_hparams(m)->n_ctx, ==, (1 << 20) / (2 * 2 * 16 * 2)); /* 2 layers, K and V, hd 16, f16 */
    g_assert_cmpint(llm_model_hparams(m)->n_ctx_train, ==, 2000000000);
    int32_t t = 3;
    g_assert_cmpint(llm_model_decode(m, &t, 1, 0, NULL, 0), ==, 0);
    llm_model_free(m);
    /* a budget below the smallest context: an error, not a crash */
    p.max_kv_bytes = 1000;
    g_assert_null(llm_model_open(path, &p, &err));
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, "not enough memory"));
    free(err);
    g_unlink(path);
    g_free(path);
  }
  { /* a Q8_0 cache needs head sizes in blocks of 32: refused with a reason */
    s = tiny();
    gchar *path = write_model(dir, "q8kv.gguf", &s);
    llm_model_params p = llm_model_default_params();
    p.kv_type = KERN_TYPE_Q8_0;
    char *err = NULL;
    g_assert_null(llm_model_open(path, &p, &err));
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, "multiple of 32"));
    free(err);
    g_unlink(path);
    g_free(path);
  }
  g_rmdir(dir);
  g_free(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  static const char *backends[] = { "cpu-ref", "cpu", "cuda" };
  static run_args args[G_N_ELEMENTS(cases) * 3 * 3];
  int na = 0;
  /* The golden comparison with an F32 cache (the exact network), then the
   * cache types users get (F16 default, Q8_0 option) on every case. */
  static const int kv_types[] = { KERN_TYPE_F32, KERN_TYPE_F16, KERN_TYPE_Q8_0 };
  for (size_t kv = 0; kv < G_N_ELEMENTS(kv_types); kv++)
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++)
      for (size_t b = 0; b < G_N_ELEMENTS(backends); b++) {
        if (kv_types[kv] == KERN_TYPE_Q8_0 && !cases[c].hd32)
          continue;
        args[na] = (run_args){ &cases[c], backends[b], kv_types[kv] };
        gchar *tp = g_strdup_printf("/llm/golden/kv-%s/%s/%s", kern_type_get_traits(kv_types[kv])->name,
                                    cases[c].name, backends[b]);
        g_test_add_data_func(tp, &args[na++], test_golden);
        g_free(tp);
      }
  g_test_add_func("/llm/embd", test_embd);
  g_test_add_func("/llm/bad-calls", test_bad_calls);
  g_test_add_func("/llm/abort", test_abort);
  g_test_add_func("/llm/malformed", test_malformed);
  return g_test_run();
}
