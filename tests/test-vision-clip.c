/* test-vision-clip.c: the CLIP tower, the projector and image questions
 * against Hugging Face transformers (tests/reference/make-vision-golden.py):
 * a seeded random tiny LLaVA read from its Hugging Face directory and from
 * llama.cpp's mmproj layout, features and embeddings within 1e-3, then the
 * LLaVA-1.5 prompt with the image spliced in and 16 greedy tokens. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-backend.h"
#include "kern-type.h"
#include "kern-weights.h"
#include "llm-hf.h"
#include "llm-model.h"
#include "llm-session.h"
#include "vis-clip.h"

#define SYSTEM                                                                                                         \
  "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, "  \
  "and polite answers to the human's questions."
#define QUESTION "What is in this picture?"

typedef struct {
  float *features, *embd;
  int32_t *gen;
} variant;

typedef struct {
  uint32_t image_size, n_patches, d_vision, d_text, n_prompt, n_gen, n_variants;
  float *pixels;
  int32_t *prompt;
  variant v[2];
  char *blob;
} golden;

/* A file of tests/data/vision, or `name` itself when absolute. */
static char *
data_path(const char *name)
{
  if (g_path_is_absolute(name))
    return g_strdup(name);
  return g_test_build_filename(G_TEST_DIST, "data", "vision", name, NULL);
}

static golden *
load_golden(void)
{
  char *path = data_path("llava-golden.bin");
  gsize len;
  GError *error = NULL;
  golden *g = g_new0(golden, 1);
  if (!g_file_get_contents(path, &g->blob, &len, &error))
    g_error("%s", error->message);
  g_free(path);
  g_assert_cmpuint(len, >, 36);
  g_assert_cmpmem(g->blob, 4, "HVLG", 4);
  uint32_t h[8];
  memcpy(h, g->blob + 4, sizeof h);
  g_assert_cmpuint(h[0], ==, 1);
  g->image_size = h[1], g->n_patches = h[2], g->d_vision = h[3], g->d_text = h[4], g->n_prompt = h[5];
  g->n_gen = h[6], g->n_variants = h[7];
  g_assert_cmpuint(g->n_variants, ==, 2);
  char *p = g->blob + 36;
  g->pixels = (float *)p, p += 3 * (size_t)g->image_size * g->image_size * 4;
  g->prompt = (int32_t *)p, p += (size_t)g->n_prompt * 4;
  for (uint32_t i = 0; i < g->n_variants; i++) {
    g->v[i].features = (float *)p, p += (size_t)g->n_patches * g->d_vision * 4;
    g->v[i].embd = (float *)p, p += (size_t)g->n_patches * g->d_text * 4;
    g->v[i].gen = (int32_t *)p, p += (size_t)g->n_gen * 4;
  }
  g_assert_cmpuint((gsize)(p - g->blob), ==, len);
  return g;
}

static void
free_golden(golden *g)
{
  g_free(g->blob);
  g_free(g);
}

/* max |a - b| relative to max |b| */
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

static vis_clip *
open_clip(const char *name, const char *device)
{
  char *path = data_path(name), *err = NULL;
  vis_clip_params p = vis_clip_default_params();
  p.device = device;
  vis_clip *c = vis_clip_open(path, &p, &err);
  if (!c)
    g_error("%s", err);
  g_free(path);
  return c;
}

static void
check_tower(const char *name, int variant_i, const char *device)
{
  golden *g = load_golden();
  vis_clip *c = open_clip(name, device);
  const vis_clip_hparams *hp = vis_clip_get_hparams(c);
  g_assert_cmpint(hp->image_size, ==, (int)g->image_size);
  g_assert_cmpint(hp->n_tokens, ==, (int)g->n_patches);
  g_assert_cmpint(hp->n_embd, ==, (int)g->d_vision);
  g_assert_cmpint(hp->n_out, ==, (int)g->d_text);
  g_assert_cmpint(hp->n_layer, ==, 2); /* the penultimate of 3 */
  g_assert_cmpint(hp->projector, ==, VIS_PROJ_MLP);
  g_assert_false(hp->use_gelu);
  size_t nf = (size_t)g->n_patches * g->d_vision, ne = (size_t)g->n_patches * g->d_text;
  float *feats = g_new(float, nf), *embd = g_new(float, ne);
  g_assert_cmpint(vis_clip_encode(c, g->pixels, feats, embd), ==, 0);
  double rf = rel_diff(feats, g->v[variant_i].features, nf), re = rel_diff(embd, g->v[variant_i].embd, ne);
  g_test_message("%s on %s: features %.2e, embeddings %.2e (relative to the largest value)", name,
                 vis_clip_backend_name(c), rf, re);
  g_assert_cmpfloat(rf, <=, 1e-3);
  g_assert_cmpfloat(re, <=, 1e-3);
  /* Encoding again gives the same (scratch reuse). */
  float *again = g_new(float, ne);
  g_assert_cmpint(vis_clip_encode(c, g->pixels, NULL, again), ==, 0);
  g_assert_cmpmem(again, ne * 4, embd, ne * 4);
  g_free(again);
  g_free(feats);
  g_free(embd);
  vis_clip_free(c);
  free_golden(g);
}

static void
test_hf_cpu(void)
{
  check_tower("llava-hf", 0, "cpu");
}

static void
test_hf_ref(void)
{
  check_tower("llava-hf", 0, "cpu-ref");
}

static void
test_mmproj_cpu(void)
{
  check_tower("mmproj-f16.gguf", 1, "cpu");
}

static void
test_mmproj_cuda(void)
{
  char *err = NULL;
  kern_backend_t be = kern_backend_new("cuda", NULL, &err);
  if (!be) {
    g_test_skip(err ? err : "no CUDA");
    free(err);
    return;
  }
  kern_backend_free(be);
  check_tower("mmproj-f16.gguf", 1, "cuda");
}

/* The prompt as llama.cpp's tokenizer cuts it around the image, and 16
 * greedy tokens, through the model API directly. */
static void
check_generation(const char *clip_name, const char *llm_name, int variant_i)
{
  golden *g = load_golden();
  vis_clip *c = open_clip(clip_name, "cpu");
  size_t ne = (size_t)g->n_patches * g->d_text;
  float *embd = g_new(float, ne);
  g_assert_cmpint(vis_clip_encode(c, g->pixels, NULL, embd), ==, 0);

  char *path = data_path(llm_name), *err = NULL;
  llm_model_params mp = llm_model_default_params();
  mp.device = "cpu";
  mp.n_ctx = 256;
  llm_model *m = llm_model_open(path, &mp, &err);
  if (!m)
    g_error("%s", err);
  g_free(path);
  int V = llm_model_hparams(m)->n_vocab;

  /* 1. token by token through the model: the same ids as transformers chose */
  llm_tokenizer *tok = llm_tokenizer_new(llm_model_weights(m), &err);
  g_assert_nonnull(tok);
  int32_t *ids = NULL;
  size_t n_ids = 0, cap = 0;
  const char *before = SYSTEM " USER: ", *after = "\n" QUESTION " ASSISTANT:";
  g_assert_cmpint(llm_tokenizer_encode(tok, before, strlen(before), 1, 1, &ids, &n_ids, &cap), ==, 0);
  size_t n_before = n_ids;
  g_assert_cmpint(llm_tokenizer_encode(tok, after, strlen(after), 0, 1, &ids, &n_ids, &cap), ==, 0);
  g_assert_cmpuint(n_before + g->n_patches + (n_ids - n_before), ==, g->n_prompt);
  for (size_t i = 0; i < n_before; i++)
    g_assert_cmpint(ids[i], ==, g->prompt[i]);
  for (size_t i = n_before; i < n_ids; i++)
    g_assert_cmpint(ids[i], ==, g->prompt[i + g->n_patches]);
  float *logits = g_new(float, V);
  int pos = 0;
  g_assert_cmpint(llm_model_decode(m, ids, (int)n_before, pos, NULL, 0), ==, 0);
  pos += (int)n_before;
  g_assert_cmpint(llm_model_decode_embd(m, embd, (int)g->n_patches, pos, NULL, 0), ==, 0);
  pos += (int)g->n_patches;
  g_assert_cmpint(llm_model_decode(m, ids + n_before, (int)(n_ids - n_before), pos, logits, 0), ==, 0);
  pos += (int)(n_ids - n_before);
  for (uint32_t i = 0; i < g->n_gen; i++) {
    int32_t best = 0;
    for (int k = 1; k < V; k++)
      if (logits[k] > logits[best])
        best = k;
    g_assert_cmpint(best, ==, g->v[variant_i].gen[i]);
    g_assert_cmpint(llm_model_decode(m, &best, 1, pos++, logits, 0), ==, 0);
  }
  g_free(logits);
  free(ids);
  llm_tokenizer_free(tok);
  llm_model_kv_truncate(m, 0);
  /* 2. through the session: the reply, the prompt's length */
  llm_session_params sp = llm_session_default_params();
  sp.chat_template = LLM_TEMPLATE_LLAVA;
  sp.system = SYSTEM;
  sp.sampling.temperature = 0;
  sp.n_predict = (int)g->n_gen;
  llm_session *s = llm_session_new(m, &sp, &err);
  if (!s)
    g_error("%s", err);
  llm_image img = { embd, (int)g->n_patches, (int)g->d_text };
  char *reply = NULL;
  llm_session_stats st;
  g_assert_cmpint(llm_session_chat_images(s, QUESTION, &img, 1, &reply, &st), ==, 0);
  /* the golden tokens' text, made valid UTF-8 as the session streams it */
  GString *want = g_string_new(NULL);
  llm_utf8_stream u8 = { 0 };
  char valid[LLM_UTF8_STREAM_CAP(256)];
  for (uint32_t i = 0; i < g->n_gen; i++) {
    char piece[256];
    size_t n = llm_tokenizer_piece(llm_session_tokenizer(s), g->v[variant_i].gen[i], 0, piece, sizeof piece);
    size_t vn = llm_utf8_stream_feed(&u8, piece, n, valid, sizeof valid);
    g_string_append_len(want, valid, (gssize)vn);
  }
  g_string_append_len(want, valid, (gssize)llm_utf8_stream_flush(&u8, valid, sizeof valid));
  g_test_message("%s: reply \"%s\"", clip_name, reply);
  g_assert_cmpint(st.n_prompt, ==, (int)g->n_prompt);
  g_assert_cmpint(st.n_gen, ==, (int)g->n_gen);
  g_assert_cmpint(st.stop, ==, LLM_STOP_LIMIT);
  g_assert_cmpstr(reply, ==, want->str);
  free(reply);
  /* A second question about the same picture: the image stays in the KV cache. */
  g_assert_cmpint(llm_session_chat(s, "And the colour?", &reply, &st), ==, 0);
  g_assert_cmpint(st.n_reused, >=, (int)g->n_prompt);
  free(reply);
  g_string_free(want, TRUE);
  llm_session_free(s);


  llm_model_free(m);
  vis_clip_free(c);
  g_free(embd);
  free_golden(g);
}

/* Both halves from the Hugging Face directory: the tower and projector, and
 * the language model with its SentencePiece tokenizer. */
static void
test_generate_hf(void)
{
  check_generation("llava-hf", "llava-hf", 0);
}

static void
test_generate_mmproj(void)
{
  check_generation("mmproj-f16.gguf", "llm-f32.gguf", 1);
}

/* ---- the language model of a Hugging Face LLaVA directory ------------------- */

/* Every tensor of b in a, same type, shape and bytes. */
static void
assert_same_tensors(const kern_weights *a, const kern_weights *b)
{
  for (int64_t i = 0; i < kern_weights_n_tensors(b); i++) {
    const kern_tensor_info *tb = kern_weights_tensor_at(b, i), *ta = kern_weights_find(a, tb->name);
    if (!ta)
      g_error("%s missing", tb->name);
    g_assert_cmpint(ta->type, ==, tb->type);
    g_assert_cmpmem(ta->ne, sizeof ta->ne, tb->ne, sizeof tb->ne);
    if (ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, tb->nbytes) != 0)
      g_error("%s: data differs", tb->name);
  }
  g_assert_cmpint(kern_weights_n_tensors(a), ==, kern_weights_n_tensors(b));
}

/* The directory seen in GGUF layout equals the GGUF gguf-py wrote from the
 * same model (query/key rows reordered as llama.cpp's converter does), and
 * its tokenizer.model gives the GGUF vocabulary. */
static void
test_hf_view(void)
{
  char *dir = data_path("llava-hf"), *ref = data_path("llm-f32.gguf"), *err = NULL;
  kern_weights *hf = kern_weights_open(dir, &err);
  g_assert_nonnull(hf);
  kern_weights *v = llm_hf_view(hf, &err), *b = kern_weights_open(ref, &err);
  if (!v)
    g_error("%s", err);
  g_assert_nonnull(b);
  assert_same_tensors(v, b);
  const char *keys[] = { "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                         "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                         "llama.vocab_size", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                         "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token",
                         "tokenizer.ggml.add_eos_token" };
  for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
    if (kern_weights_get_int(v, keys[i], -1) != kern_weights_get_int(b, keys[i], -2))
      g_error("%s: %" G_GINT64_FORMAT " vs %" G_GINT64_FORMAT, keys[i], kern_weights_get_int(v, keys[i], -1),
              kern_weights_get_int(b, keys[i], -2));
  g_assert_cmpfloat(kern_weights_get_float(v, "llama.attention.layer_norm_rms_epsilon", 0), ==,
                    kern_weights_get_float(b, "llama.attention.layer_norm_rms_epsilon", 1));
  g_assert_cmpfloat(kern_weights_get_float(v, "llama.rope.freq_base", 0), ==,
                    kern_weights_get_float(b, "llama.rope.freq_base", 1));
  g_assert_cmpstr(kern_weights_get_string(v, "general.architecture", ""), ==, "llama");
  const kern_meta *tv = kern_weights_get_meta(v, "tokenizer.ggml.tokens"),
                  *tb = kern_weights_get_meta(b, "tokenizer.ggml.tokens"),
                  *sv = kern_weights_get_meta(v, "tokenizer.ggml.scores"),
                  *sb = kern_weights_get_meta(b, "tokenizer.ggml.scores");
  g_assert_cmpuint(tv->n, ==, tb->n);
  for (uint64_t i = 0; i < tb->n; i++) {
    double x, y;
    g_assert_cmpstr(kern_meta_array_string(tv, i), ==, kern_meta_array_string(tb, i));
    g_assert_cmpint(kern_meta_array_float(sv, i, &x), ==, 0);
    g_assert_cmpint(kern_meta_array_float(sb, i, &y), ==, 0);
    g_assert_cmpfloat(x, ==, y);
  }
  /* LLaVA-1.5's processor template (no system prompt, images first) is carried along */
  g_assert_nonnull(strstr(kern_weights_get_string(v, "tokenizer.chat_template", ""), "ASSISTANT:"));
  kern_weights_close(v);
  kern_weights_close(b);
  g_free(dir), g_free(ref);
}

/* `hark models convert`'s two halves: the language model (F32: equal to the
 * gguf-py file; Q8_0: loads and answers) and the mmproj; the pair answers
 * like transformers. A GGUF requantizes too. */
static void
test_convert_llm(void)
{
  char *hf = data_path("llava-hf"), *ref = data_path("llm-f32.gguf"), *err = NULL;
  char *dir = g_dir_make_tmp("hark-llava-XXXXXX", NULL), *lm = g_build_filename(dir, "llava.gguf", NULL),
       *mmproj = g_build_filename(dir, "mmproj-llava.gguf", NULL), *q8 = g_build_filename(dir, "llava-q8.gguf", NULL);
  if (llm_convert_gguf(hf, lm, KERN_TYPE_F32, &err) != 0)
    g_error("%s", err);
  kern_weights *a = kern_weights_open(lm, &err), *b = kern_weights_open(ref, &err);
  g_assert_nonnull(a);
  g_assert_nonnull(b);
  assert_same_tensors(a, b);
  g_assert_cmpint(kern_weights_get_int(a, "general.file_type", -1), ==, 0);
  kern_weights_close(a);
  kern_weights_close(b);
  vis_clip *c = open_clip("llava-hf", "cpu");
  g_assert_cmpint(vis_clip_export(c, mmproj, KERN_TYPE_F32, &err), ==, 0);
  vis_clip_free(c);
  check_generation(mmproj, lm, 0);

  g_assert_cmpint(llm_convert_gguf(hf, q8, KERN_TYPE_Q8_0, &err), ==, 0);
  kern_weights *q = kern_weights_open(q8, &err);
  g_assert_cmpint(kern_weights_find(q, "blk.0.attn_q.weight")->type, ==, KERN_TYPE_Q8_0);
  g_assert_cmpint(kern_weights_find(q, "blk.0.attn_norm.weight")->type, ==, KERN_TYPE_F32);
  kern_weights_close(q);
  llm_model_params mp = llm_model_default_params();
  mp.device = "cpu";
  mp.n_ctx = 64;
  llm_model *m = llm_model_open(q8, &mp, &err);
  if (!m)
    g_error("%s", err);
  llm_model_free(m);
  /* a GGUF in, requantized */
  g_assert_cmpint(llm_convert_gguf(ref, q8, KERN_TYPE_Q4_0, &err), ==, 0);
  q = kern_weights_open(q8, &err);
  g_assert_cmpint(kern_weights_find(q, "blk.1.ffn_down.weight")->type, ==, KERN_TYPE_Q4_0);
  g_assert_cmpstr(kern_weights_get_string(q, "tokenizer.ggml.model", ""), ==, "llama");
  kern_weights_close(q);
  /* not a language model; an unwritable type */
  char *proj = data_path("mmproj-f16.gguf");
  g_assert_cmpint(llm_convert_gguf(proj, q8, KERN_TYPE_F16, &err), ==, KERN_E_INVAL);
  g_assert_nonnull(strstr(err, "not a language model"));
  free(err);
  g_assert_cmpint(llm_convert_gguf(ref, q8, KERN_TYPE_I32, &err), ==, KERN_E_UNSUPPORTED);
  free(err);
  g_free(proj);
  g_unlink(lm), g_unlink(mmproj), g_unlink(q8);
  g_rmdir(dir);
  g_free(lm), g_free(mmproj), g_free(q8), g_free(dir), g_free(hf), g_free(ref);
}

/* A copy of the Hugging Face directory with one file replaced (contents NULL:
 * removed); returns the copy's path. */
static char *
damaged_hf(const char *file, const char *contents, gssize len)
{
  char *src = data_path("llava-hf"), *dir = g_dir_make_tmp("hark-hf-XXXXXX", NULL);
  const char *names[] = { "config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                          "chat_template.json", "preprocessor_config.json" };
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
    char *from = g_build_filename(src, names[i], NULL), *to = g_build_filename(dir, names[i], NULL), *blob;
    gsize n;
    if (strcmp(names[i], file) == 0) {
      if (contents)
        g_assert_true(g_file_set_contents(to, contents, len, NULL));
    } else {
      g_assert_true(g_file_get_contents(from, &blob, &n, NULL));
      g_assert_true(g_file_set_contents(to, blob, (gssize)n, NULL));
      g_free(blob);
    }
    g_free(from), g_free(to);
  }
  g_free(src);
  return dir;
}

static void
remove_dir(char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d))) {
    char *p = g_build_filename(dir, name, NULL);
    g_unlink(p);
    g_free(p);
  }
  g_dir_close(d);
  g_rmdir(dir);
  g_free(dir);
}

/* Damaged directories: each a clear error naming the directory, no crash. */
static void
test_hf_malformed(void)
{
  char *src = data_path("llava-hf"), *cfg_path = g_build_filename(src, "config.json", NULL), *cfg, *spm_path =
       g_build_filename(src, "tokenizer.model", NULL), *spm;
  gsize cfg_len, spm_len;
  g_assert_true(g_file_get_contents(cfg_path, &cfg, &cfg_len, NULL));
  g_assert_true(g_file_get_contents(spm_path, &spm, &spm_len, NULL));
  GString *hidden = g_string_new(cfg), *qwen = g_string_new(cfg), *gelu = g_string_new(cfg),
          *layers = g_string_new(cfg);
  g_string_replace(hidden, "\"hidden_size\": 64", "\"hidden_size\": 96", 1);
  g_string_replace(qwen, "\"model_type\": \"llama\"", "\"model_type\": \"qwen2\"", 1);
  g_string_replace(gelu, "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", 1);
  g_string_replace(layers, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", 1);
  char *bad_spm = g_memdup2(spm, spm_len);
  bad_spm[1] = (char)0xff; /* the first piece's length */
  const struct {
    const char *file, *contents;
    gssize len;
    const char *expect;
  } cases[] = {
    { "tokenizer.model", NULL, 0, "no tokenizer.model" },
    { "tokenizer.model", spm, (gssize)spm_len / 2, "tokenizer.model" },
    { "tokenizer.model", bad_spm, (gssize)spm_len, "tokenizer.model" },
    { "tokenizer.model", "", 0, "tokenizer.model" },
    { "tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {}}}", -1, "added_tokens_decoder" },
    { "tokenizer_config.json", "[1, 2", -1, "tokenizer_config.json" },
    { "tokenizer_config.json", "{\"added_tokens_decoder\": {\"4000000\": {\"content\": \"<x>\"}}}", -1,
      "outside the embedding's 1760 rows" },
    { "config.json", hidden->str, -1, "hidden_size 96" },
    { "config.json", qwen->str, -1, "'qwen2'" },
    { "config.json", gelu->str, -1, "hidden_act 'gelu'" },
    { "config.json", layers->str, -1, "says 3 layers, the weights hold 2" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *dir = damaged_hf(cases[i].file, cases[i].contents, cases[i].len), *err = NULL;
    llm_model_params mp = llm_model_default_params();
    mp.device = "cpu";
    mp.n_ctx = 64;
    llm_model *m = llm_model_open(dir, &mp, &err);
    g_assert_null(m);
    g_assert_nonnull(err);
    g_test_message("%s", err);
    if (!strstr(err, cases[i].expect))
      g_error("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].expect);
    g_assert_nonnull(strstr(err, dir)); /* names the directory */
    free(err);
    remove_dir(dir);
  }
  g_string_free(hidden, TRUE), g_string_free(qwen, TRUE), g_string_free(gelu, TRUE), g_string_free(layers, TRUE);
  g_free(bad_spm), g_free(cfg), g_free(spm), g_free(cfg_path), g_free(spm_path), g_free(src);
}

/* An image whose embeddings are not as wide as the model's: refused, and the
 * conversation is unchanged. */
static void
test_wrong_width(void)
{
  char *path = data_path("llm-f32.gguf"), *err = NULL;
  llm_model_params mp = llm_model_default_params();
  mp.device = "cpu";
  mp.n_ctx = 128;
  llm_model *m = llm_model_open(path, &mp, &err);
  g_assert_nonnull(m);
  g_free(path);
  llm_session_params sp = llm_session_default_params();
  sp.chat_template = LLM_TEMPLATE_LLAVA;
  llm_session *s = llm_session_new(m, &sp, &err);
  g_assert_nonnull(s);
  float e[32 * 4] = { 0 };
  llm_image img = { e, 4, 32 };
  g_assert_cmpint(llm_session_chat_images(s, "hi", &img, 1, NULL, NULL), ==, KERN_E_INVAL);
  g_assert_nonnull(strstr(llm_session_errmsg(s), "wide"));
  g_assert_cmpint(llm_session_n_turns(s), ==, 0);
  /* an image larger than the context */
  float *big = g_new0(float, 200 * 64);
  llm_image huge = { big, 200, 64 };
  g_assert_cmpint(llm_session_chat_images(s, "hi", &huge, 1, NULL, NULL), ==, KERN_E_INVAL);
  g_assert_cmpint(llm_session_n_turns(s), ==, 0);
  g_free(big);
  llm_session_free(s);
  llm_model_free(m);
}

/* ---- malformed mmproj files ------------------------------------------------ */

typedef struct {
  const char *skip_tensor;  /* dropped */
  const char *key;          /* metadata key overridden (u32) */
  uint32_t value;
  const char *arch;         /* general.architecture replaced */
  const char *expect;       /* in the message */
} damage;

static char *
write_damaged(const damage *d)
{
  char *src = data_path("mmproj-f16.gguf"), *err = NULL;
  kern_weights *w = kern_weights_open(src, &err);
  g_assert_nonnull(w);
  kern_gguf_writer *gw = kern_gguf_writer_new();
  for (int64_t i = 0; i < kern_weights_n_meta(w); i++) {
    const char *key;
    const kern_meta *m = kern_weights_meta_at(w, i, &key);
    if (d->key && strcmp(key, d->key) == 0)
      g_assert_cmpint(kern_gguf_set_u32(gw, key, d->value), ==, 0);
    else if (d->arch && strcmp(key, "general.architecture") == 0)
      g_assert_cmpint(kern_gguf_set_string(gw, key, d->arch), ==, 0);
    else
      g_assert_cmpint(kern_gguf_set_meta(gw, key, m), ==, 0);
  }
  for (int64_t i = 0; i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    if (d->skip_tensor && strcmp(t->name, d->skip_tensor) == 0)
      continue;
    g_assert_cmpint(kern_gguf_add_tensor(gw, t->name, t->type, t->n_dims, t->ne, t->data), ==, 0);
  }
  char *dir = g_dir_make_tmp("hark-clip-XXXXXX", NULL);
  char *out = g_build_filename(dir, "mmproj.gguf", NULL);
  g_assert_cmpint(kern_gguf_write(gw, out, &err), ==, 0);
  kern_gguf_writer_free(gw);
  kern_weights_close(w);
  g_free(src);
  g_free(dir);
  return out;
}

static void
test_malformed(void)
{
  const damage cases[] = {
    { .skip_tensor = "v.blk.1.attn_k.weight", .expect = "v.blk.1.attn_k.weight' is missing" },
    { .skip_tensor = "mm.0.weight", .expect = "mm.0.weight' is missing" },
    { .skip_tensor = "v.class_embd", .expect = "v.class_embd' is missing" },
    { .key = "clip.vision.block_count", .value = 7, .expect = "says 7 layers and holds 2" },
    { .key = "clip.vision.attention.head_count", .value = 5, .expect = "5 heads do not divide" },
    { .key = "clip.vision.attention.head_count", .value = 0, .expect = "head_count" },
    { .key = "clip.vision.image_size", .value = 336, .expect = "contradicts" },
    { .key = "clip.vision.patch_size", .value = 16, .expect = "contradicts" },
    { .key = "clip.vision.embedding_length", .value = 4096, .expect = "contradicts" },
    { .key = "clip.vision.feed_forward_length", .value = 81, .expect = "contradicts" },
    { .arch = "llama", .expect = "not 'clip'" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *path = write_damaged(&cases[i]), *err = NULL;
    vis_clip *c = vis_clip_open(path, NULL, &err);
    g_assert_null(c);
    g_assert_nonnull(err);
    g_test_message("%s", err);
    if (!strstr(err, cases[i].expect))
      g_error("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].expect);
    g_assert_nonnull(strstr(err, path)); /* the message names the file */
    free(err);
    char *dir = g_path_get_dirname(path);
    g_unlink(path);
    g_rmdir(dir);
    g_free(dir);
    g_free(path);
  }
  /* Not a vision model at all; a missing file; a truncated one. */
  char *err = NULL, *llm = data_path("llm-f32.gguf");
  g_assert_null(vis_clip_open(llm, NULL, &err));
  g_assert_nonnull(strstr(err, "not 'clip'"));
  free(err);
  g_free(llm);
  g_assert_null(vis_clip_open("/nonexistent/mmproj.gguf", NULL, &err));
  g_assert_nonnull(err);
  free(err);
  char *src = data_path("mmproj-f16.gguf"), *blob;
  gsize len;
  g_assert_true(g_file_get_contents(src, &blob, &len, NULL));
  char *dir = g_dir_make_tmp("hark-clip-XXXXXX", NULL), *cut = g_build_filename(dir, "cut.gguf", NULL);
  for (gsize keep = 0; keep < len; keep += len / 7 + 1) {
    g_assert_true(g_file_set_contents(cut, blob, (gssize)keep, NULL));
    vis_clip *c = vis_clip_open(cut, NULL, &err);
    g_assert_null(c);
    g_assert_nonnull(err);
    free(err);
  }
  g_unlink(cut);
  g_rmdir(dir);
  g_free(cut);
  g_free(dir);
  g_free(blob);
  g_free(src);
}

/* The HF directory converted to llama.cpp's layout equals, tensor for tensor
 * and byte for byte, the mmproj file gguf-py wrote in that layout; and a Q8_0
 * conversion still gives the same features within quantization error. */
static void
test_export(void)
{
  golden *g = load_golden();
  vis_clip *c = open_clip("llava-hf", "cpu");
  char *dir = g_dir_make_tmp("hark-clip-XXXXXX", NULL), *out = g_build_filename(dir, "mmproj.gguf", NULL), *err = NULL;
  g_assert_cmpint(vis_clip_export(c, out, KERN_TYPE_F16, &err), ==, 0);
  char *ref_path = data_path("mmproj-f16.gguf");
  kern_weights *a = kern_weights_open(out, &err), *b = kern_weights_open(ref_path, &err);
  g_assert_nonnull(a);
  g_assert_nonnull(b);
  g_assert_cmpint(kern_weights_n_tensors(a), ==, kern_weights_n_tensors(b));
  for (int64_t i = 0; i < kern_weights_n_tensors(b); i++) {
    const kern_tensor_info *tb = kern_weights_tensor_at(b, i), *ta = kern_weights_find(a, tb->name);
    if (!ta)
      g_error("%s missing from the conversion", tb->name);
    g_assert_cmpint(ta->type, ==, tb->type);
    g_assert_cmpint(ta->n_dims, ==, tb->n_dims);
    g_assert_cmpmem(ta->ne, sizeof ta->ne, tb->ne, sizeof tb->ne);
    if (ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, tb->nbytes) != 0)
      g_error("%s: data differs", tb->name);
  }
  const char *keys[] = { "clip.vision.block_count", "clip.vision.image_size", "clip.vision.patch_size",
                         "clip.vision.embedding_length", "clip.vision.feed_forward_length",
                         "clip.vision.attention.head_count" };
  for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
    g_assert_cmpint(kern_weights_get_int(a, keys[i], -1), ==, kern_weights_get_int(b, keys[i], -2));
  g_assert_cmpstr(kern_weights_get_string(a, "clip.projector_type", ""), ==, "mlp");
  kern_weights_close(a);
  kern_weights_close(b);

  g_assert_cmpint(vis_clip_export(c, out, KERN_TYPE_Q8_0, &err), ==, 0);
  vis_clip_params p = vis_clip_default_params();
  p.device = "cpu";
  vis_clip *q = vis_clip_open(out, &p, &err);
  g_assert_nonnull(q);
  size_t ne = (size_t)g->n_patches * g->d_text;
  float *embd = g_new(float, ne);
  g_assert_cmpint(vis_clip_encode(q, g->pixels, NULL, embd), ==, 0);
  double rd = rel_diff(embd, g->v[0].embd, ne);
  g_test_message("Q8_0 mmproj: embeddings %.2e from the F32 reference", rd);
  g_assert_cmpfloat(rd, <=, 0.05);
  g_assert_cmpint(vis_clip_export(c, out, KERN_TYPE_I32, &err), ==, KERN_E_UNSUPPORTED);
  free(err);
  g_free(embd);
  vis_clip_free(q);
  g_unlink(out);
  g_rmdir(dir);
  g_free(out), g_free(dir), g_free(ref_path);
  vis_clip_free(c);
  free_golden(g);
}

/* MiniGPT-4 style: one linear layer (mm.0 without mm.2): the embeddings are
 * the golden features times mm.0 plus its bias, computed here from the file. */
static void
test_linear_projector(void)
{
  golden *g = load_golden();
  char *src = data_path("mmproj-f16.gguf"), *err = NULL;
  kern_weights *w = kern_weights_open(src, &err);
  g_assert_nonnull(w);
  kern_gguf_writer *gw = kern_gguf_writer_new();
  for (int64_t i = 0; i < kern_weights_n_meta(w); i++) {
    const char *key;
    const kern_meta *m = kern_weights_meta_at(w, i, &key);
    if (strcmp(key, "clip.projector_type") == 0)
      g_assert_cmpint(kern_gguf_set_string(gw, key, "linear"), ==, 0);
    else
      g_assert_cmpint(kern_gguf_set_meta(gw, key, m), ==, 0);
  }
  for (int64_t i = 0; i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    if (!g_str_has_prefix(t->name, "mm.2."))
      g_assert_cmpint(kern_gguf_add_tensor(gw, t->name, t->type, t->n_dims, t->ne, t->data), ==, 0);
  }
  char *dir = g_dir_make_tmp("hark-clip-XXXXXX", NULL), *out = g_build_filename(dir, "linear.gguf", NULL);
  g_assert_cmpint(kern_gguf_write(gw, out, &err), ==, 0);
  kern_gguf_writer_free(gw);

  vis_clip_params p = vis_clip_default_params();
  p.device = "cpu";
  vis_clip *c = vis_clip_open(out, &p, &err);
  g_assert_nonnull(c);
  const vis_clip_hparams *hp = vis_clip_get_hparams(c);
  g_assert_cmpint(hp->projector, ==, VIS_PROJ_LINEAR);
  const kern_tensor_info *w0 = kern_weights_find(w, "mm.0.weight"), *b0 = kern_weights_find(w, "mm.0.bias");
  int D = (int)g->d_vision, E = (int)w0->ne[1], T = (int)g->n_patches;
  g_assert_cmpint(hp->n_out, ==, E);
  float *W = g_new(float, (size_t)D * E), *B = g_new(float, E), *want = g_new(float, (size_t)T * E);
  g_assert_cmpint(kern_dequantize_row(w0->type, w0->data, W, (int64_t)D * E), ==, 0);
  g_assert_cmpint(kern_dequantize_row(b0->type, b0->data, B, E), ==, 0);
  const float *F = g->v[1].features;
  for (int t = 0; t < T; t++)
    for (int e = 0; e < E; e++) {
      double acc = B[e];
      for (int d = 0; d < D; d++)
        acc += (double)W[(size_t)e * D + d] * F[(size_t)t * D + d];
      want[(size_t)t * E + e] = (float)acc;
    }
  float *embd = g_new(float, (size_t)T * E);
  g_assert_cmpint(vis_clip_encode(c, g->pixels, NULL, embd), ==, 0);
  double rd = rel_diff(embd, want, (size_t)T * E);
  g_test_message("linear projector: %.2e", rd);
  g_assert_cmpfloat(rd, <=, 1e-3);
  g_free(W), g_free(B), g_free(want), g_free(embd);
  vis_clip_free(c);
  kern_weights_close(w);
  g_unlink(out);
  g_rmdir(dir);
  g_free(out), g_free(dir), g_free(src);
  free_golden(g);
}

static int
abort_now(void *user_data)
{
  return ++*(int *)user_data > 1;
}

static void
test_abort(void)
{
  golden *g = load_golden();
  char *path = data_path("llava-hf"), *err = NULL;
  int calls = 0;
  vis_clip_params p = vis_clip_default_params();
  p.device = "cpu";
  p.should_abort = abort_now;
  p.user_data = &calls;
  vis_clip *c = vis_clip_open(path, &p, &err);
  g_assert_nonnull(c);
  float *embd = g_new(float, (size_t)g->n_patches * g->d_text);
  g_assert_cmpint(vis_clip_encode(c, g->pixels, NULL, embd), ==, KERN_E_ABORTED);
  g_assert_nonnull(strstr(vis_clip_errmsg(c), "aborted"));
  /* non-finite pixels are refused */
  calls = -100;
  g->pixels[5] = NAN;
  g_assert_cmpint(vis_clip_encode(c, g->pixels, NULL, embd), ==, KERN_E_INVAL);
  g_free(embd);
  vis_clip_free(c);
  g_free(path);
  free_golden(g);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/vision/clip/hf/cpu", test_hf_cpu);
  g_test_add_func("/vision/clip/hf/cpu-ref", test_hf_ref);
  g_test_add_func("/vision/clip/mmproj/cpu", test_mmproj_cpu);
  g_test_add_func("/vision/clip/mmproj/cuda", test_mmproj_cuda);
  g_test_add_func("/vision/clip/generate/hf", test_generate_hf);
  g_test_add_func("/vision/clip/generate/mmproj", test_generate_mmproj);
  g_test_add_func("/vision/clip/hf-llm/view", test_hf_view);
  g_test_add_func("/vision/clip/hf-llm/convert", test_convert_llm);
  g_test_add_func("/vision/clip/hf-llm/malformed", test_hf_malformed);
  g_test_add_func("/vision/clip/wrong-width", test_wrong_width);
  g_test_add_func("/vision/clip/malformed", test_malformed);
  g_test_add_func("/vision/clip/abort", test_abort);
  g_test_add_func("/vision/clip/export", test_export);
  g_test_add_func("/vision/clip/linear-projector", test_linear_projector);
  return g_test_run();
}
