/* llm-test-model.c: a small random chat model for the tests.
 *
 * A 2-layer llama (d 32, 4 heads, 2 KV heads) with seeded random F32 weights,
 * the tokenizer metadata of a vocab-only GGUF (tests/data/llm/vocab-*.gguf)
 * and a ChatML chat template. Its replies are arbitrary text, byte tokens
 * included: what streaming, stop strings and context handling must survive. */
#include "llm-test-model.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kern-type.h"
#include "kern-weights.h"

#define D 32
#define FF 64
#define LAYERS 2
#define HEADS 4
#define KV_HEADS 2

static uint64_t rng;

static float
randn(void)
{
  double u1, u2;
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  u1 = ((rng >> 11) + 1.0) / 9007199254740993.0;
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  u2 = (rng >> 11) / 9007199254740992.0;
  return (float)(sqrt(-2 * log(u1)) * cos(2 * G_PI * u2));
}

static void
add_random(kern_gguf_writer *g, const char *name, int64_t ne0, int64_t ne1, float scale, float offset)
{
  size_t n = (size_t)(ne0 * ne1);
  float *v = g_new(float, n);
  for (size_t i = 0; i < n; i++)
    v[i] = offset + scale * randn();
  const int64_t ne[2] = { ne0, ne1 };
  g_assert_cmpint(kern_gguf_add_tensor(g, name, KERN_TYPE_F32, ne1 > 1 ? 2 : 1, ne, v), ==, 0);
  g_free(v);
}

void
llm_test_make_model(const char *vpath, const char *path)
{
  char *err = NULL;
  rng = 0x9E3779B97F4A7C15ull; /* the same model every time */
  kern_weights *vocab = kern_weights_open(vpath, &err);
  if (!vocab)
    g_error("%s", err);
  kern_gguf_writer *g = kern_gguf_writer_new();
  int64_t n_vocab = 0;
  for (int64_t i = 0; i < kern_weights_n_meta(vocab); i++) {
    const char *key;
    const kern_meta *m = kern_weights_meta_at(vocab, i, &key);
    if (g_str_has_prefix(key, "tokenizer.") && strcmp(key, "tokenizer.chat_template"))
      g_assert_cmpint(kern_gguf_set_meta(g, key, m), ==, 0);
    if (!strcmp(key, "tokenizer.ggml.tokens"))
      n_vocab = (int64_t)m->n;
  }
  g_assert_cmpint(n_vocab, >, 100);
  kern_gguf_set_string(g, "tokenizer.chat_template",
                       "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                       "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                       "{% endif %}");
  kern_gguf_set_string(g, "general.architecture", "llama");
  kern_gguf_set_u32(g, "llama.block_count", LAYERS);
  kern_gguf_set_u32(g, "llama.context_length", 256);
  kern_gguf_set_u32(g, "llama.embedding_length", D);
  kern_gguf_set_u32(g, "llama.feed_forward_length", FF);
  kern_gguf_set_u32(g, "llama.attention.head_count", HEADS);
  kern_gguf_set_u32(g, "llama.attention.head_count_kv", KV_HEADS);
  kern_gguf_set_u32(g, "llama.rope.dimension_count", D / HEADS);
  kern_gguf_set_f32(g, "llama.rope.freq_base", 10000.0f);
  kern_gguf_set_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  const float w = 1.0f / sqrtf(D);
  add_random(g, "token_embd.weight", D, n_vocab, 1.0f, 0);
  add_random(g, "output_norm.weight", D, 1, 0.1f, 1.0f);
  add_random(g, "output.weight", D, n_vocab, 3 * w, 0);
  for (int l = 0; l < LAYERS; l++) {
    char name[64];
#define T(suffix, a, b, s, o) (snprintf(name, sizeof name, "blk.%d." suffix, l), add_random(g, name, a, b, s, o))
    T("attn_norm.weight", D, 1, 0.1f, 1.0f);
    T("attn_q.weight", D, D, w, 0);
    T("attn_k.weight", D, D / HEADS * KV_HEADS, w, 0);
    T("attn_v.weight", D, D / HEADS * KV_HEADS, w, 0);
    T("attn_output.weight", D, D, w, 0);
    T("ffn_norm.weight", D, 1, 0.1f, 1.0f);
    T("ffn_gate.weight", D, FF, w, 0);
    T("ffn_up.weight", D, FF, w, 0);
    T("ffn_down.weight", FF, D, 1.0f / sqrtf(FF), 0);
#undef T
  }
  if (kern_gguf_write(g, path, &err) != 0)
    g_error("%s", err);
  kern_gguf_writer_free(g);
  kern_weights_close(vocab);
}

