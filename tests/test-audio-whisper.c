/* test-audio-whisper.c: the Whisper network against Hugging Face transformers.
 *
 * tests/reference/make-whisper-golden.py made two seeded random tiny models
 * (80 and 128 mel bins) and wrote them as a Hugging Face directory, a
 * whisper.cpp ggml file and CTranslate2 directories (float16 and int8), with
 * transformers' encoder output, decoder logits and greedy tokens. Every
 * format must reproduce them on the CPU: logits within 1e-3 relative to their
 * largest magnitude, identical greedy tokens. The int8 model is compared with
 * transformers running on the weights CTranslate2's int8 quantization keeps;
 * Hark holds those as F16 (11-bit mantissa), hence its bound of 3e-3, still
 * ten times below the 1-4 % a wrong scale or requantization gives.
 * On CUDA the GEMMs take their activations as F16 (tensor cores; measured on
 * an H100: encoder 5e-4, logits 1.6e-3 relative), so the bound there is 5e-3.
 * Malformed models give errors, not crashes. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aud-whisper.h"
#include "kern-backend.h"

typedef struct {
  char *name;
  int dtype, n_dims;
  int dims[4];
  void *data;
  size_t n;
} record;

typedef struct {
  record r[16];
  int n;
} golden;

static gboolean
golden_load(const char *path, golden *g)
{
  gchar *buf;
  gsize len;
  if (!g_file_get_contents(path, &buf, &len, NULL))
    return FALSE;
  g_assert_cmpuint(len, >=, 12);
  g_assert_cmpint(memcmp(buf, "HKWG", 4), ==, 0);
  guint32 version, count;
  memcpy(&version, buf + 4, 4);
  memcpy(&count, buf + 8, 4);
  g_assert_cmpuint(version, ==, 1);
  g_assert_cmpuint(count, <=, G_N_ELEMENTS(g->r));
  gsize off = 12;
#define TAKE(dst, sz)                        \
  do {                                       \
    g_assert_cmpuint(off + (sz), <=, len);   \
    memcpy((dst), buf + off, (sz));          \
    off += (sz);                             \
  } while (0)
  g->n = (int)count;
  for (guint32 i = 0; i < count; i++) {
    record *r = &g->r[i];
    guint32 nl, dt, nd, dim;
    TAKE(&nl, 4);
    g_assert_cmpuint(nl, <, 64);
    r->name = g_malloc0(nl + 1);
    TAKE(r->name, nl);
    TAKE(&dt, 4);
    TAKE(&nd, 4);
    g_assert_cmpuint(nd, <=, 4);
    r->dtype = (int)dt;
    r->n_dims = (int)nd;
    r->n = 1;
    for (guint32 d = 0; d < nd; d++) {
      TAKE(&dim, 4);
      r->dims[d] = (int)dim;
      r->n *= dim;
    }
    r->data = g_malloc(r->n * 4);
    TAKE(r->data, r->n * 4);
  }
  g_assert_cmpuint(off, ==, len);
  g_free(buf);
  return TRUE;
}

static const record *
golden_get(const golden *g, const char *name)
{
  for (int i = 0; i < g->n; i++)
    if (strcmp(g->r[i].name, name) == 0)
      return &g->r[i];
  g_error("golden record %s missing", name);
  return NULL;
}

static void
golden_free(golden *g)
{
  for (int i = 0; i < g->n; i++)
    g_free(g->r[i].name), g_free(g->r[i].data);
}

/* max |a - b| / max |b| */
static double
rel_diff(const float *a, const float *b, size_t n)
{
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; i++) {
    g_assert_true(isfinite(a[i]));
    md = fmax(md, fabs((double)a[i] - b[i]));
    mb = fmax(mb, fabs((double)b[i]));
  }
  return md / (mb > 0 ? mb : 1);
}

typedef struct {
  const char *model;  /* tiny80, tiny128 */
  const char *format; /* path under the model dir */
  const char *backend;
  double bound;
  gboolean int8; /* compare with the int8 records (weights as CTranslate2 quantized them) */
  int convert_type; /* > 0: first converted with aud_whisper_export to this type (KERN_TYPE_F32 is 0: use -1) */
  gboolean convert_gguf; /* ... as GGUF, else whisper.cpp ggml */
} case_t;

/* Converts the model at src with aud_whisper_export into a temp file (the
 * tiny models have no Whisper vocabulary: the network only; the models suite
 * converts whisper-base with its vocabulary). Returns the path (g_free; unlink). */
static char *
convert_model(const char *src, int type, gboolean gguf)
{
  char *err = NULL;
  aud_whisper *w = aud_whisper_open(src, NULL, &err);
  if (!w)
    g_error("%s", err);
  char *path = g_build_filename(g_get_tmp_dir(), gguf ? "hark-test-convert.gguf" : "hark-test-convert.bin", NULL);
  if (aud_whisper_export(w, NULL, path, gguf ? AUD_WHISPER_FILE_GGUF : AUD_WHISPER_FILE_GGML, type, &err) != 0)
    g_error("export: %s", err);
  aud_whisper_free(w);
  return path;
}

static char *
data_path(const char *model, const char *rest)
{
  return g_test_build_filename(G_TEST_DIST, "data", "whisper", model, rest, NULL);
}

static int
argmax(const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

static void
test_golden(gconstpointer data)
{
  const case_t *c = data;
  golden g = { 0 };
  char *gpath = data_path(c->model, "golden.bin");
  g_assert_true(golden_load(gpath, &g));
  g_free(gpath);
  char *mpath = data_path(c->model, c->format);
  if (c->convert_type) {
    char *conv = convert_model(mpath, c->convert_type < 0 ? KERN_TYPE_F32 : c->convert_type, c->convert_gguf);
    g_free(mpath);
    mpath = conv;
  }
  aud_whisper_params p = aud_whisper_default_params();
  p.backend = c->backend;
  p.n_seq = 2;
  char *err = NULL;
  if (!strcmp(c->backend, "cuda")) {
    kern_backend_t probe = kern_backend_new("cuda", NULL, &err);
    if (!probe) {
      g_test_skip(err);
      free(err);
      golden_free(&g);
      g_free(mpath);
      return;
    }
    kern_backend_free(probe);
  }
  aud_whisper *w = aud_whisper_open(mpath, &p, &err);
  if (!w)
    g_error("%s: %s", mpath, err);
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  const record *mel = golden_get(&g, "mel"), *enc = golden_get(&g, c->int8 ? "int8_encoder_out" : "encoder_out");
  g_assert_cmpint(mel->dims[1], ==, hp->n_mels);
  g_assert_cmpint(enc->dims[0], ==, hp->n_audio_ctx);
  g_assert_cmpint(enc->dims[1], ==, hp->n_audio_state);

  if (aud_whisper_encode(w, mel->data, mel->dims[0]) != 0)
    g_error("encode: %s", aud_whisper_errmsg(w));
  float *eo = g_new(float, enc->n);
  g_assert_cmpint(aud_whisper_get_encoder_output(w, eo), ==, 0);
  double de = rel_diff(eo, enc->data, enc->n);
  g_test_message("%s %s: encoder rel diff %.3g", c->model, c->format, de);
  const gboolean cuda = !strcmp(c->backend, "cuda");
  const double bound = cuda ? fmax(c->bound, 5e-3) : c->bound;
  g_assert_cmpfloat(de, <=, bound);

  /* All logits of a fixed token sequence. */
  const record *toks = golden_get(&g, "tokens"), *lg = golden_get(&g, c->int8 ? "int8_logits" : "logits");
  int n = toks->dims[0], V = hp->n_vocab;
  g_assert_cmpint(lg->dims[1], ==, V);
  float *logits = g_new(float, (size_t)n * V);
  int *all = g_new(int, n);
  for (int i = 0; i < n; i++)
    all[i] = i;
  int rc_all = aud_whisper_decode(w, 0, toks->data, n, 0, all, n, logits);
  g_free(all);
  if (rc_all != 0)
    g_error("decode: %s", aud_whisper_errmsg(w));
  double dl = rel_diff(logits, lg->data, (size_t)n * V);
  g_test_message("%s %s: logits rel diff %.3g", c->model, c->format, dl);
  g_assert_cmpfloat(dl, <=, bound);

  /* The same sequence fed one token at a time through the KV cache, on sequence 1. */
  float *step = g_new(float, V);
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(aud_whisper_decode(w, 1, (const int32_t *)toks->data + i, 1, i, NULL, 0, step), ==, 0);
    double ds = rel_diff(step, (const float *)lg->data + (size_t)i * V, V);
    g_assert_cmpfloat(ds, <=, bound);
  }

  /* Greedy continuation. */
  const record *pre = golden_get(&g, "greedy_prefix"), *gr = golden_get(&g, "greedy");
  int np = pre->dims[0], ng = gr->dims[0];
  int32_t *seq = g_new(int32_t, np + ng);
  memcpy(seq, pre->data, (size_t)np * 4);
  g_assert_cmpint(aud_whisper_decode(w, 0, seq, np, 0, NULL, 0, step), ==, 0);
  /* Greedy steps follow the golden tokens (teacher forcing), so one differing
   * choice does not derail the rest. A differing choice is allowed only at a
   * near-tie: where the golden token's logit is within the backend's error
   * bound of the best one (CUDA's F16 activations). */
  int matches = 0, near_ties = 0;
  double min_gap = INFINITY;
  for (int i = 0; i < ng; i++) {
    int32_t want = ((const int32_t *)gr->data)[i];
    int best = argmax(step, V);
    double scale = 0;
    for (int v = 0; v < V; v++)
      scale = fmax(scale, fabs(step[v]));
    double gap = (step[best] - step[want]) / (scale > 0 ? scale : 1);
    int second = best == 0 ? 1 : 0;
    for (int v = 0; v < V; v++)
      if (v != best && step[v] > step[second])
        second = v;
    min_gap = fmin(min_gap, (step[best] - step[second]) / (scale > 0 ? scale : 1));
    if (best == want)
      matches++;
    else if (gap <= 2 * bound)
      near_ties++;
    seq[np + i] = want;
    if (i + 1 < ng)
      g_assert_cmpint(aud_whisper_decode(w, 0, &seq[np + i], 1, np + i, NULL, 0, step), ==, 0);
  }
  g_test_message("%s %s: greedy %d/%d tokens match, %d near-ties, smallest top-2 gap %.3g", c->model, c->format,
                 matches, ng, near_ties, min_gap);
  if (!c->int8) /* the greedy run used the unquantized weights */
    g_assert_cmpint(matches + (cuda || c->bound > 1e-3 ? near_ties : 0), ==, ng);

  /* Beams: copy sequence 0's cache to 1 and step both in one batch; each row
   * must equal a single-sequence step. */
  g_assert_cmpint(aud_whisper_seq_copy(w, 1, 0, np + 2), ==, 0);
  int seqs[2] = { 0, 1 }, past[2] = { np + 2, np + 2 };
  int32_t next[2] = { 11, 13 };
  float *batch = g_new(float, 2 * (size_t)V);
  g_assert_cmpint(aud_whisper_decode_batch(w, 2, seqs, next, past, batch), ==, 0);
  g_assert_cmpint(aud_whisper_decode(w, 1, &next[1], 1, np + 2, NULL, 0, step), ==, 0);
  g_assert_cmpfloat(rel_diff(batch + V, step, V), <=, 1e-5);

  /* A short window: the encoder on the first frames only, the decoder
   * attending to those positions (transformers' modules called one by one). */
  const record *sh_enc = golden_get(&g, "short_encoder_out"), *sh_lg = golden_get(&g, "short_logits");
  if (!c->int8) {
    int sf = 2 * sh_enc->dims[0];
    g_assert_cmpint(aud_whisper_encode(w, mel->data, sf), ==, 0);
    g_assert_cmpint(aud_whisper_get_encoder_output(w, eo), ==, 0);
    double ds = rel_diff(eo, sh_enc->data, sh_enc->n);
    int all_rows[64];
    for (int i = 0; i < n; i++)
      all_rows[i] = i;
    g_assert_cmpint(aud_whisper_decode(w, 0, toks->data, n, 0, all_rows, n, logits), ==, 0);
    double dsl = rel_diff(logits, sh_lg->data, (size_t)n * V);
    g_test_message("%s %s: %d frames: encoder rel diff %.3g, logits %.3g", c->model, c->format, sf, ds, dsl);
    g_assert_cmpfloat(ds, <=, bound);
    g_assert_cmpfloat(dsl, <=, bound);
    /* and the full window again */
    g_assert_cmpint(aud_whisper_encode(w, mel->data, mel->dims[0]), ==, 0);
    g_assert_cmpint(aud_whisper_decode(w, 0, toks->data, n, 0, all_rows, n, logits), ==, 0);
    g_assert_cmpfloat(rel_diff(logits, lg->data, (size_t)n * V), <=, bound);
  }

  if (c->convert_type)
    g_unlink(mpath);
  g_free(batch), g_free(seq), g_free(step), g_free(logits), g_free(eo), g_free(mpath);
  aud_whisper_free(w);
  golden_free(&g);
}

static void
test_bad_calls(void)
{
  char *mpath = data_path("tiny80", "model.ggml.bin");
  char *err = NULL;
  aud_whisper *w = aud_whisper_open(mpath, NULL, &err);
  g_assert_nonnull(w);
  float mel[10] = { 0 };
  g_assert_cmpint(aud_whisper_encode(w, mel, 9), ==, KERN_E_INVAL); /* odd */
  g_assert_nonnull(strstr(aud_whisper_errmsg(w), "mel frames"));
  g_assert_cmpint(aud_whisper_encode(w, mel, 0), ==, KERN_E_INVAL);
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  g_assert_cmpint(aud_whisper_encode(w, mel, 2 * hp->n_audio_ctx + 2), ==, KERN_E_INVAL); /* longer than 30 s */
  int32_t bad = 600;
  float lg[600];
  g_assert_cmpint(aud_whisper_decode(w, 0, &bad, 1, 0, NULL, 0, lg), ==, KERN_E_INVAL);
  int32_t ok = 1;
  g_assert_cmpint(aud_whisper_decode(w, 0, &ok, 1, 64, NULL, 0, lg), ==, KERN_E_INVAL); /* past n_text_ctx */
  g_assert_cmpint(aud_whisper_decode(w, 5, &ok, 1, 0, NULL, 0, lg), ==, KERN_E_INVAL);  /* no such sequence */
  aud_whisper_free(w);
  g_free(mpath);
}

/* A model whose header contradicts its tensors, or with a tensor missing. */
static void
test_malformed(void)
{
  char *src = data_path("tiny80", "model.ggml.bin");
  gchar *buf;
  gsize len;
  g_assert_true(g_file_get_contents(src, &buf, &len, NULL));
  char *tmp = g_build_filename(g_get_tmp_dir(), "hark-whisper-bad.bin", NULL);

  /* n_audio_head = 0 (header word 4). */
  gchar *bad = g_memdup2(buf, len);
  gint32 zero = 0;
  memcpy(bad + 4 * 4, &zero, 4);
  g_assert_true(g_file_set_contents(tmp, bad, (gssize)len, NULL));
  char *err = NULL;
  g_assert_null(aud_whisper_open(tmp, NULL, &err));
  g_test_message("%s", err);
  g_assert_nonnull(strstr(err, tmp));
  g_assert_nonnull(strstr(err, "n_audio_head"));
  g_free(err);
  err = NULL;

  /* n_audio_state contradicting the tensors. */
  memcpy(bad, buf, len);
  gint32 wrong = 65;
  memcpy(bad + 3 * 4, &wrong, 4);
  g_assert_true(g_file_set_contents(tmp, bad, (gssize)len, NULL));
  g_assert_null(aud_whisper_open(tmp, NULL, &err));
  g_test_message("%s", err);
  g_assert_nonnull(strstr(err, "n_audio_state"));
  g_free(err);
  err = NULL;

  /* A tensor renamed: the model misses it. */
  memcpy(bad, buf, len);
  char *hit = memmem(bad, len, "decoder.blocks.1.mlp.2.weight", strlen("decoder.blocks.1.mlp.2.weight"));
  g_assert_nonnull(hit);
  hit[0] = 'X';
  g_assert_true(g_file_set_contents(tmp, bad, (gssize)len, NULL));
  g_assert_null(aud_whisper_open(tmp, NULL, &err));
  g_test_message("%s", err);
  g_assert_nonnull(strstr(err, "decoder.blocks.1.mlp.2.weight"));
  g_free(err);

  g_unlink(tmp);
  g_free(tmp), g_free(bad), g_free(buf), g_free(src);
}

/* Copies a model directory to a temp dir, adds `extra` as file `name` (or
 * replaces it), and returns the alignment heads the model reports. */
static int
heads_with(const char *model_dir, const char *name, const char *extra, int *heads, int cap)
{
  char *tmp = g_dir_make_tmp("hark-heads-XXXXXX", NULL);
  GDir *d = g_dir_open(model_dir, 0, NULL);
  const char *f;
  while ((f = g_dir_read_name(d))) {
    char *src = g_build_filename(model_dir, f, NULL), *dst = g_build_filename(tmp, f, NULL), *buf;
    gsize len;
    g_assert_true(g_file_get_contents(src, &buf, &len, NULL));
    if (!strcmp(f, name) && extra) { /* config.json: insert the member after '{' */
      char *merged = g_strdup_printf("{%s,%s", extra, strchr(buf, '{') + 1);
      g_free(buf);
      buf = merged, len = strlen(merged);
    }
    g_assert_true(g_file_set_contents(dst, buf, (gssize)len, NULL));
    g_free(src), g_free(dst), g_free(buf);
  }
  g_dir_close(d);
  char *path = g_build_filename(tmp, name, NULL);
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    char *doc = g_strdup_printf("{%s}", extra);
    g_assert_true(g_file_set_contents(path, doc, -1, NULL));
    g_free(doc);
  }
  char *err = NULL;
  aud_whisper *w = aud_whisper_open(tmp, NULL, &err);
  if (!w)
    g_error("%s", err);
  int n = aud_whisper_alignment_heads(w, heads, cap);
  aud_whisper_free(w);
  d = g_dir_open(tmp, 0, NULL);
  while ((f = g_dir_read_name(d))) {
    char *p = g_build_filename(tmp, f, NULL);
    g_unlink(p);
    g_free(p);
  }
  g_dir_close(d);
  g_rmdir(tmp);
  g_free(path), g_free(tmp);
  return n;
}

/* Alignment heads come from CTranslate2's config.json and from Hugging Face's
 * generation_config.json ([[layer, head], ...]; pairs outside the model are
 * ignored); without them, every head of the second half of the decoder. */
static void
test_alignment_heads(void)
{
  int heads[64];
  char *hf = data_path("tiny80", "hf"), *ct2 = data_path("tiny80", "ct2");
  int n = heads_with(hf, "generation_config.json", "\"alignment_heads\": [[1, 0], [0, 3], [9, 9]]", heads, 32);
  g_assert_cmpint(n, ==, 2);
  g_assert_cmpint(heads[0], ==, 1);
  g_assert_cmpint(heads[1], ==, 0);
  g_assert_cmpint(heads[2], ==, 0);
  g_assert_cmpint(heads[3], ==, 3);
  n = heads_with(hf, "config.json", NULL, heads, 32); /* none given: the default */
  g_assert_cmpint(n, ==, 4);                          /* decoder layer 1 of 2, 4 heads */
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(heads[2 * i], ==, 1);
    g_assert_cmpint(heads[2 * i + 1], ==, i);
  }
  n = heads_with(ct2, "config.json", NULL, heads, 32); /* its config.json says [[0, 0]] */
  g_assert_cmpint(n, ==, 1);
  g_assert_cmpint(heads[0], ==, 0);
  g_assert_cmpint(heads[1], ==, 0);
  g_free(hf), g_free(ct2);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  GPtrArray *cases = g_ptr_array_new_with_free_func(g_free);
  static const char *const models[] = { "tiny80", "tiny128" };
  static const char *const backends[] = { "cpu-ref", "cpu", "cuda" };
  static const struct {
    const char *dir;
    double bound;
    gboolean int8;
  } formats[] = { { "hf", 1e-3, FALSE }, { "model.ggml.bin", 1e-3, FALSE }, { "ct2", 1e-3, FALSE },
                  { "ct2-int8", 3e-3, TRUE } };
  for (size_t m = 0; m < G_N_ELEMENTS(models); m++)
    for (size_t f = 0; f < G_N_ELEMENTS(formats); f++)
      for (size_t b = 0; b < G_N_ELEMENTS(backends); b++) {
        case_t *c = g_new0(case_t, 1);
        g_ptr_array_add(cases, c);
        *c = (case_t){ models[m], formats[f].dir, backends[b], formats[f].bound, formats[f].int8 };
        char *path = g_strdup_printf("/audio/whisper/golden/%s/%s/%s", models[m],
                                     strcmp(formats[f].dir, "model.ggml.bin") ? formats[f].dir : "ggml", backends[b]);
        g_test_add_data_func(path, c, test_golden);
        g_free(path);
      }
  /* Converted from CTranslate2 (F16 weights) by aud_whisper_export: F32/F16
   * keep every value (1e-3 as the sources); Q8_0 rounds the matrices and the
   * CPU also rounds activations to 8 bits, which these random models (weights
   * x4) amplify to 2-6 % on the encoder and logits: that bound catches a wrong
   * layout or scale (100 %), not rounding; near-ties allowed. (Q5_0 reaches
   * 13-39 % here, too far to test anything.) The models suite converts
   * whisper-base to Q8_0 and Q5_0 and transcribes real speech with them. */
  static const struct {
    const char *name;
    int type;
    gboolean gguf;
    double bound;
  } conversions[] = { { "gguf-f32", -1, TRUE, 1e-3 }, { "gguf-f16", KERN_TYPE_F16, TRUE, 1e-3 },
                      { "ggml-f16", KERN_TYPE_F16, FALSE, 1e-3 }, { "gguf-q8_0", KERN_TYPE_Q8_0, TRUE, 1e-1 } };
  for (size_t m = 0; m < G_N_ELEMENTS(models); m++)
    for (size_t k = 0; k < G_N_ELEMENTS(conversions); k++) {
      case_t *c = g_new0(case_t, 1);
      g_ptr_array_add(cases, c);
      *c = (case_t){ models[m], "ct2", "cpu", conversions[k].bound, FALSE, conversions[k].type, conversions[k].gguf };
      char *path = g_strdup_printf("/audio/whisper/converted/%s/%s", models[m], conversions[k].name);
      g_test_add_data_func(path, c, test_golden);
      g_free(path);
    }
  g_test_add_func("/audio/whisper/bad-calls", test_bad_calls);
  g_test_add_func("/audio/whisper/alignment-heads", test_alignment_heads);
  g_test_add_func("/audio/whisper/malformed", test_malformed);
  int rc = g_test_run();
  g_ptr_array_unref(cases);
  return rc;
}
