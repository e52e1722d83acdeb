/* aud-whisper.c: the Whisper network (encoder, decoder, KV caches) on the
 * kernels/ backends, loaded from whisper.cpp ggml, CTranslate2 or Hugging Face
 * files.
 *
 * Dimensions (names as in the paper's code): d = n_audio_state = n_text_state,
 * nh heads of hd = d / nh, T_enc = n_audio_ctx (1500) encoder positions from
 * 2 * T_enc mel frames, n_text_ctx (448) decoder positions, V = n_vocab.
 * Layouts follow kern-backend.h: [a, b] means ne0 = a (contiguous).
 */
#include "aud-alignment-heads.h"
#include "aud-whisper-private.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-backend.h"

#define MAX_LAYERS 64
#define MAX_OWNED 4096

typedef struct {
  kern_tensor w, b; /* b.data == NULL: no bias */
} linear;

typedef struct {
  kern_tensor w, b;
} norm;

typedef struct {
  norm attn_ln;
  linear q, k, v, o;
  norm cross_ln;         /* decoder only */
  linear cq, ck, cv, co; /* decoder only */
  norm mlp_ln;
  linear fc1, fc2;
} layer;

struct aud_whisper {
  kern_weights *own_weights; /* opened by aud_whisper_open */
  const kern_weights *weights;
  aud_whisper_hparams hp;
  kern_backend_t be;
  char errmsg[1024];
  int n_seq;
  int q8_weights;     /* requantize matrices to Q8_0 at load */
  float *mel_filters; /* (n_mels, 201) from the file, or NULL */

  /* parameters */
  linear conv1, conv2;      /* w: [3, n_mels, d], [3, d, d] */
  kern_tensor enc_pos;      /* [d, T_enc] F32 */
  layer enc[MAX_LAYERS], dec[MAX_LAYERS];
  norm enc_ln, dec_ln;
  kern_tensor tok_emb;      /* [d, V] any type */
  kern_tensor dec_pos;      /* [d, n_text_ctx] any type (read with get_rows) */

  /* state */
  kern_tensor *cross_k[MAX_LAYERS], *cross_v[MAX_LAYERS]; /* [hd, nh, T_enc] */
  kern_tensor **self_k, **self_v;                          /* [n_seq][layers]: [hd, nh, n_text_ctx] */
  int kv_type;

  /* scratch */
  kern_tensor *mel_in;            /* [n_mels, 2 T_enc] */
  kern_tensor *conv_out;          /* [d, 2 T_enc] */
  kern_tensor *ex, *eh, *eq, *ek, *ev, *ea; /* [d, T_enc] */
  kern_tensor *emlp;              /* [4d, T_enc] */
  int max_rows;                   /* decoder rows per call */
  int64_t n_enc;                  /* encoder positions of the last window encoded (<= T) */
  kern_tensor *dx, *dh, *dq, *dk, *dv, *da, *dpos_emb; /* [d, max_rows] */
  kern_tensor *dmlp;              /* [4d, max_rows] */
  kern_tensor *ids, *pos_ids;     /* [max_rows] I32 */
  kern_tensor *logits;            /* [V, max(n_seq, 1)] ... rows of logits we return */

  kern_tensor *owned[MAX_OWNED];
  int n_owned;
};

static int fail(aud_whisper *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(aud_whisper *w, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char msg[900];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(w->errmsg, sizeof w->errmsg, "%s: %s", w->weights ? kern_weights_path(w->weights) : "whisper", msg);
  return code;
}

static int
fail_be(aud_whisper *w, const char *what)
{
  return fail(w, KERN_E_DEVICE, "%s: %s", what, kern_backend_errmsg(w->be));
}

aud_whisper_params
aud_whisper_default_params(void)
{
  return (aud_whisper_params){ .backend = "auto", .n_threads = 0, .n_seq = 1, .q8_weights = 0 };
}

/* ---- loading ------------------------------------------------------------- */

static kern_tensor *
keep(aud_whisper *w, kern_tensor *t)
{
  if (t && w->n_owned < MAX_OWNED)
    w->owned[w->n_owned++] = t;
  else if (t) {
    kern_tensor_free(t);
    t = NULL;
  }
  return t;
}

/* Copies a name pattern, replacing its "%d" (if any) with the layer number.
 * (Not printf: the patterns are data, and the warnings rightly object.) */
static void
expand(char *out, size_t size, const char *pattern, int layer_i)
{
  const char *at = strstr(pattern, "%d");
  if (!at) {
    snprintf(out, size, "%s", pattern);
    return;
  }
  snprintf(out, size, "%.*s%d%s", (int)(at - pattern), pattern, layer_i, at + 2);
}

static const kern_tensor_info *
find(aud_whisper *w, const char *fmt, int layer_i)
{
  char name[256];
  expand(name, sizeof name, fmt, layer_i);
  return kern_weights_find(w->weights, name);
}

/* CTranslate2's int8 weights: q with one float scale per outer slice (output
 * row of a linear, output channel of a conv), value = q / scale. Converted
 * once to F16, which holds q / scale to 11 bits: requantizing onto another
 * 8-bit grid (Q8_0) would add an error as large as the int8 one (measured:
 * 1 % relative on the encoder output instead of 1e-6). The cost is 2 bytes a
 * weight instead of 1; a row-scaled int8 type in kernels/ would remove it. */
static kern_tensor *
from_ct2_int8(aud_whisper *w, const kern_tensor_info *info)
{
  char sname[300];
  snprintf(sname, sizeof sname, "%s_scale", info->name);
  const kern_tensor_info *sc = kern_weights_find(w->weights, sname);
  int64_t nel = kern_tensor_nelements(info), outer = info->ne[info->n_dims - 1], per = nel / outer;
  if (!sc || sc->type != KERN_TYPE_F32 || kern_tensor_nelements(sc) != outer) {
    fail(w, KERN_E_FORMAT, "int8 tensor '%s' has no matching float32 '%s' (one scale per output)", info->name,
         sname);
    return NULL;
  }
  int qtype = KERN_TYPE_F16;
  size_t out_bytes = kern_type_row_size(qtype, nel);
  float *f = malloc((size_t)per * sizeof *f);
  uint8_t *q = malloc(out_bytes);
  if (!f || !q) {
    free(f), free(q);
    fail(w, KERN_E_NOMEM, "out of memory");
    return NULL;
  }
  const int8_t *src = info->data;
  const uint8_t *scale_bytes = sc->data; /* may be unaligned */
  size_t slice_bytes = kern_type_row_size(qtype, per);
  for (int64_t o = 0; o < outer; o++) {
    float s;
    memcpy(&s, scale_bytes + 4 * o, 4);
    for (int64_t k = 0; k < per; k++)
      f[k] = s != 0 ? (float)src[o * per + k] / s : 0.0f;
    kern_quantize_row(qtype, f, q + slice_bytes * (size_t)o, per);
  }
  kern_tensor *t = kern_tensor_new(w->be, qtype, info->n_dims, info->ne);
  if (t && kern_tensor_set(t, q, 0, t->nbytes) != 0) {
    kern_tensor_free(t);
    t = NULL;
  }
  free(f), free(q);
  if (!t)
    fail_be(w, info->name);
  return t;
}

/* A parameter used as a matmul / conv / get_rows operand: kept in its type. */
static int
load_raw(aud_whisper *w, kern_tensor *out, const char *fmt, int layer_i)
{
  const kern_tensor_info *info = find(w, fmt, layer_i);
  if (!info) {
    char name[256];
    expand(name, sizeof name, fmt, layer_i);
    return fail(w, KERN_E_FORMAT, "tensor '%s' is missing", name);
  }
  if (info->type == KERN_TYPE_I8) {
    kern_tensor *t = keep(w, from_ct2_int8(w, info));
    if (!t)
      return w->errmsg[0] ? KERN_E_FORMAT : fail_be(w, info->name);
    *out = *t;
    return 0;
  }
  kern_tensor *t = keep(w, kern_tensor_from_weights(w->be, info));
  if (!t)
    return fail_be(w, info->name);
  *out = *t;
  return 0;
}

/* A vector or table used elementwise: converted to F32. */
static int
load_f32(aud_whisper *w, kern_tensor *out, const char *fmt, int layer_i)
{
  const kern_tensor_info *info = find(w, fmt, layer_i);
  if (!info) {
    char name[256];
    expand(name, sizeof name, fmt, layer_i);
    return fail(w, KERN_E_FORMAT, "tensor '%s' is missing", name);
  }
  if (info->type == KERN_TYPE_F32)
    return load_raw(w, out, fmt, layer_i);
  int64_t n = kern_tensor_nelements(info);
  float *tmp = malloc((size_t)n * sizeof *tmp);
  if (!tmp)
    return fail(w, KERN_E_NOMEM, "out of memory");
  if (kern_dequantize_row(info->type, info->data, tmp, n) != 0) {
    free(tmp);
    return fail(w, KERN_E_FORMAT, "tensor '%s' has a type that cannot be read as numbers", info->name);
  }
  kern_tensor *t = keep(w, kern_tensor_new(w->be, KERN_TYPE_F32, info->n_dims, info->ne));
  int rc = t ? kern_tensor_set(t, tmp, 0, t->nbytes) : KERN_E_NOMEM;
  free(tmp);
  if (rc)
    return fail_be(w, info->name);
  *out = *t;
  return 0;
}

/* Checks a loaded parameter's shape; n < 0 means any. */
static int
expect(aud_whisper *w, const kern_tensor *t, const char *what, int layer_i, int64_t n0, int64_t n1, int64_t n2)
{
  int64_t want[3] = { n0, n1, n2 };
  for (int d = 0; d < 3; d++)
    if (want[d] >= 0 && t->ne[d] != want[d])
      return fail(w, KERN_E_FORMAT,
                  "%s of layer %d has shape [%lld, %lld, %lld], the hyperparameters say [%lld, %lld, %lld]", what,
                  layer_i, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n0,
                  (long long)n1, (long long)n2);
  return 0;
}

/* Vectors must hold exactly n values whatever their shape ([1, d] biases exist). */
static int
expect_len(aud_whisper *w, const kern_tensor *t, const char *what, int layer_i, int64_t n)
{
  if (t->data && kern_tensor_nel(t) != n)
    return fail(w, KERN_E_FORMAT, "%s of layer %d has %lld values, expected %lld", what, layer_i,
                (long long)kern_tensor_nel(t), (long long)n);
  if (t->data && t->n_dims != 1) { /* view it as 1-D */
    const int64_t ne[1] = { n };
    kern_tensor v = kern_tensor_reshape(t, 1, ne);
    *(kern_tensor *)t = v;
  }
  return 0;
}

typedef enum { FMT_OPENAI, FMT_HF, FMT_CT2 } name_style;

/* Per-format tensor names; %d is the layer. */
typedef struct {
  const char *conv1_w, *conv1_b, *conv2_w, *conv2_b, *enc_pos, *enc_ln_w, *enc_ln_b;
  const char *tok_emb, *dec_pos, *dec_ln_w, *dec_ln_b;
  /* per layer, with "%s" for encoder/decoder prefix then %d */
  const char *attn_ln_w, *attn_ln_b, *q_w, *q_b, *k_w, *v_w, *v_b, *o_w, *o_b;
  const char *cross_ln_w, *cross_ln_b, *cq_w, *cq_b, *ck_w, *cv_w, *cv_b, *co_w, *co_b;
  const char *mlp_ln_w, *mlp_ln_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
  const char *enc_layer, *dec_layer; /* layer prefixes with %d */
} name_table;

static const name_table openai_names = {
  "encoder.conv1.weight", "encoder.conv1.bias", "encoder.conv2.weight", "encoder.conv2.bias",
  "encoder.positional_embedding", "encoder.ln_post.weight", "encoder.ln_post.bias",
  "decoder.token_embedding.weight", "decoder.positional_embedding", "decoder.ln.weight", "decoder.ln.bias",
  "attn_ln.weight", "attn_ln.bias", "attn.query.weight", "attn.query.bias", "attn.key.weight",
  "attn.value.weight", "attn.value.bias", "attn.out.weight", "attn.out.bias",
  "cross_attn_ln.weight", "cross_attn_ln.bias", "cross_attn.query.weight", "cross_attn.query.bias",
  "cross_attn.key.weight", "cross_attn.value.weight", "cross_attn.value.bias", "cross_attn.out.weight",
  "cross_attn.out.bias",
  "mlp_ln.weight", "mlp_ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias",
  "encoder.blocks.%d.", "decoder.blocks.%d.",
};

static const name_table hf_names = {
  "model.encoder.conv1.weight", "model.encoder.conv1.bias", "model.encoder.conv2.weight", "model.encoder.conv2.bias",
  "model.encoder.embed_positions.weight", "model.encoder.layer_norm.weight", "model.encoder.layer_norm.bias",
  "model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight", "model.decoder.layer_norm.weight",
  "model.decoder.layer_norm.bias",
  "self_attn_layer_norm.weight", "self_attn_layer_norm.bias", "self_attn.q_proj.weight", "self_attn.q_proj.bias",
  "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight",
  "self_attn.out_proj.bias",
  "encoder_attn_layer_norm.weight", "encoder_attn_layer_norm.bias", "encoder_attn.q_proj.weight",
  "encoder_attn.q_proj.bias", "encoder_attn.k_proj.weight", "encoder_attn.v_proj.weight", "encoder_attn.v_proj.bias",
  "encoder_attn.out_proj.weight", "encoder_attn.out_proj.bias",
  "final_layer_norm.weight", "final_layer_norm.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
  "model.encoder.layers.%d.", "model.decoder.layers.%d.",
};

static int
load_linear(aud_whisper *w, linear *l, const char *prefix, const char *wn, const char *bn, int li)
{
  char fmt[300];
  snprintf(fmt, sizeof fmt, "%s%s", prefix, wn);
  int rc = load_raw(w, &l->w, fmt, li);
  if (rc == 0 && bn) {
    snprintf(fmt, sizeof fmt, "%s%s", prefix, bn);
    rc = load_f32(w, &l->b, fmt, li);
  }
  return rc;
}

static int
load_norm(aud_whisper *w, norm *n, const char *prefix, const char *wn, const char *bn, int li)
{
  char fmt[300];
  snprintf(fmt, sizeof fmt, "%s%s", prefix, wn);
  int rc = load_f32(w, &n->w, fmt, li);
  if (rc == 0) {
    snprintf(fmt, sizeof fmt, "%s%s", prefix, bn);
    rc = load_f32(w, &n->b, fmt, li);
  }
  return rc;
}

static int
load_layer_named(aud_whisper *w, const name_table *nt, layer *L, int li, int is_dec)
{
  char prefix[128];
  expand(prefix, sizeof prefix, is_dec ? nt->dec_layer : nt->enc_layer, li);
  /* The prefix carries the layer number; the names below have no %d left. */
  int rc = 0;
  if (!rc) rc = load_norm(w, &L->attn_ln, prefix, nt->attn_ln_w, nt->attn_ln_b, li);
  if (!rc) rc = load_linear(w, &L->q, prefix, nt->q_w, nt->q_b, li);
  if (!rc) rc = load_linear(w, &L->k, prefix, nt->k_w, NULL, li);
  if (!rc) rc = load_linear(w, &L->v, prefix, nt->v_w, nt->v_b, li);
  if (!rc) rc = load_linear(w, &L->o, prefix, nt->o_w, nt->o_b, li);
  if (is_dec) {
    if (!rc) rc = load_norm(w, &L->cross_ln, prefix, nt->cross_ln_w, nt->cross_ln_b, li);
    if (!rc) rc = load_linear(w, &L->cq, prefix, nt->cq_w, nt->cq_b, li);
    if (!rc) rc = load_linear(w, &L->ck, prefix, nt->ck_w, NULL, li);
    if (!rc) rc = load_linear(w, &L->cv, prefix, nt->cv_w, nt->cv_b, li);
    if (!rc) rc = load_linear(w, &L->co, prefix, nt->co_w, nt->co_b, li);
  }
  if (!rc) rc = load_norm(w, &L->mlp_ln, prefix, nt->mlp_ln_w, nt->mlp_ln_b, li);
  if (!rc) rc = load_linear(w, &L->fc1, prefix, nt->fc1_w, nt->fc1_b, li);
  if (!rc) rc = load_linear(w, &L->fc2, prefix, nt->fc2_w, nt->fc2_b, li);
  return rc;
}

/* Rows [part * d, (part + 1) * d) of a fused projection (CTranslate2 stores
 * q|k|v and k|v stacked). */
static void
split_rows(const linear *fused, linear *out, int part, int64_t d)
{
  out->w = kern_tensor_slice(&fused->w, part * d, d);
  out->b = fused->b.data ? kern_tensor_slice(&fused->b, part * d, d) : fused->b;
}

static int
load_ct2_layer(aud_whisper *w, layer *L, int li, int is_dec, int64_t d)
{
  const char *p = is_dec ? "decoder/layer_%d/" : "encoder/layer_%d/";
  char fmt[200];
  linear fused;
  int rc = 0;
#define CT2(suffix) (snprintf(fmt, sizeof fmt, "%s%s", p, suffix), fmt)
  if (!rc) rc = load_f32(w, &L->attn_ln.w, CT2("self_attention/layer_norm/gamma"), li);
  if (!rc) rc = load_f32(w, &L->attn_ln.b, CT2("self_attention/layer_norm/beta"), li);
  if (!rc) rc = load_raw(w, &fused.w, CT2("self_attention/linear_0/weight"), li);
  if (!rc) rc = load_f32(w, &fused.b, CT2("self_attention/linear_0/bias"), li);
  if (!rc && (fused.w.ne[1] != 3 * d || kern_tensor_nel(&fused.b) != 3 * d))
    rc = fail(w, KERN_E_FORMAT, "layer %d: fused q|k|v projection is not [%lld, %lld]", li, (long long)d,
              (long long)(3 * d));
  if (!rc) {
    split_rows(&fused, &L->q, 0, d);
    split_rows(&fused, &L->k, 1, d);
    L->k.b.data = NULL; /* Whisper's key projection has no bias (CTranslate2 stores zeros) */
    split_rows(&fused, &L->v, 2, d);
  }
  if (!rc) rc = load_raw(w, &L->o.w, CT2("self_attention/linear_1/weight"), li);
  if (!rc) rc = load_f32(w, &L->o.b, CT2("self_attention/linear_1/bias"), li);
  if (is_dec) {
    if (!rc) rc = load_f32(w, &L->cross_ln.w, CT2("attention/layer_norm/gamma"), li);
    if (!rc) rc = load_f32(w, &L->cross_ln.b, CT2("attention/layer_norm/beta"), li);
    if (!rc) rc = load_raw(w, &L->cq.w, CT2("attention/linear_0/weight"), li);
    if (!rc) rc = load_f32(w, &L->cq.b, CT2("attention/linear_0/bias"), li);
    if (!rc) rc = load_raw(w, &fused.w, CT2("attention/linear_1/weight"), li);
    if (!rc) rc = load_f32(w, &fused.b, CT2("attention/linear_1/bias"), li);
    if (!rc && (fused.w.ne[1] != 2 * d || kern_tensor_nel(&fused.b) != 2 * d))
      rc = fail(w, KERN_E_FORMAT, "layer %d: fused k|v projection is not [%lld, %lld]", li, (long long)d,
                (long long)(2 * d));
    if (!rc) {
      split_rows(&fused, &L->ck, 0, d);
      L->ck.b.data = NULL;
      split_rows(&fused, &L->cv, 1, d);
    }
    if (!rc) rc = load_raw(w, &L->co.w, CT2("attention/linear_2/weight"), li);
    if (!rc) rc = load_f32(w, &L->co.b, CT2("attention/linear_2/bias"), li);
  }
  if (!rc) rc = load_f32(w, &L->mlp_ln.w, CT2("ffn/layer_norm/gamma"), li);
  if (!rc) rc = load_f32(w, &L->mlp_ln.b, CT2("ffn/layer_norm/beta"), li);
  if (!rc) rc = load_raw(w, &L->fc1.w, CT2("ffn/linear_0/weight"), li);
  if (!rc) rc = load_f32(w, &L->fc1.b, CT2("ffn/linear_0/bias"), li);
  if (!rc) rc = load_raw(w, &L->fc2.w, CT2("ffn/linear_1/weight"), li);
  if (!rc) rc = load_f32(w, &L->fc2.b, CT2("ffn/linear_1/bias"), li);
#undef CT2
  return rc;
}

static int
count_layers(aud_whisper *w, const char *fmt)
{
  int n = 0;
  while (n < MAX_LAYERS + 1 && find(w, fmt, n))
    n++;
  return n;
}

static int64_t
scalar_tensor(aud_whisper *w, const char *name)
{
  const kern_tensor_info *t = kern_weights_find(w->weights, name);
  float v;
  if (!t || kern_tensor_nelements(t) != 1 || kern_dequantize_row(t->type, t->data, &v, 1) != 0)
    return -1;
  return (int64_t)v;
}

/* Hyperparameters: from the file's header where it has one, else from shapes. */
static int
read_hparams(aud_whisper *w, name_style style)
{
  aud_whisper_hparams *hp = &w->hp;
  const kern_weights *kw = w->weights;
  const char *conv1 = style == FMT_CT2 ? "encoder/conv1/weight" : style == FMT_HF ? hf_names.conv1_w : openai_names.conv1_w;
  const kern_tensor_info *c1 = kern_weights_find(kw, conv1);
  if (!c1)
    return fail(w, KERN_E_FORMAT, "not a Whisper model: tensor '%s' is missing", conv1);
  /* Shapes first; the header (when present) must agree with them. */
  hp->n_mels = (int)c1->ne[1];
  hp->n_audio_state = hp->n_text_state = (int)c1->ne[2];
  const char *enc_fmt = style == FMT_CT2 ? "encoder/layer_%d/ffn/linear_0/weight"
                        : style == FMT_HF ? "model.encoder.layers.%d.fc1.weight"
                                          : "encoder.blocks.%d.mlp.0.weight";
  const char *dec_fmt = style == FMT_CT2 ? "decoder/layer_%d/ffn/linear_0/weight"
                        : style == FMT_HF ? "model.decoder.layers.%d.fc1.weight"
                                          : "decoder.blocks.%d.mlp.0.weight";
  hp->n_audio_layer = count_layers(w, enc_fmt);
  hp->n_text_layer = count_layers(w, dec_fmt);
  const char *pos_e = style == FMT_CT2 ? "encoder/position_encodings/encodings"
                      : style == FMT_HF ? hf_names.enc_pos : openai_names.enc_pos;
  const char *pos_d = style == FMT_CT2 ? "decoder/position_encodings/encodings"
                      : style == FMT_HF ? hf_names.dec_pos : openai_names.dec_pos;
  const char *emb = style == FMT_CT2 ? "decoder/embeddings/weight" : style == FMT_HF ? hf_names.tok_emb : openai_names.tok_emb;
  const kern_tensor_info *pe = kern_weights_find(kw, pos_e), *pd = kern_weights_find(kw, pos_d),
                         *te = kern_weights_find(kw, emb);
  if (!pe || !pd || !te)
    return fail(w, KERN_E_FORMAT, "not a Whisper model: positional or token embeddings are missing");
  hp->n_audio_ctx = (int)pe->ne[1];
  hp->n_text_ctx = (int)pd->ne[1];
  hp->n_vocab = (int)te->ne[1];

  int64_t heads = -1, dheads = -1;
  if (style == FMT_CT2) {
    heads = scalar_tensor(w, "encoder/num_heads");
    dheads = scalar_tensor(w, "decoder/num_heads");
  } else if (style == FMT_HF) {
    heads = kern_weights_get_int(kw, "config.encoder_attention_heads", -1);
    dheads = kern_weights_get_int(kw, "config.decoder_attention_heads", -1);
  } else {
    heads = kern_weights_get_int(kw, "whisper.n_audio_head", -1);
    dheads = kern_weights_get_int(kw, "whisper.n_text_head", -1);
    /* The header's other numbers must agree with the tensors. */
    static const struct { const char *key; size_t off; } chk[] = {
      { "whisper.n_vocab", offsetof(aud_whisper_hparams, n_vocab) },
      { "whisper.n_audio_ctx", offsetof(aud_whisper_hparams, n_audio_ctx) },
      { "whisper.n_audio_state", offsetof(aud_whisper_hparams, n_audio_state) },
      { "whisper.n_audio_layer", offsetof(aud_whisper_hparams, n_audio_layer) },
      { "whisper.n_text_ctx", offsetof(aud_whisper_hparams, n_text_ctx) },
      { "whisper.n_text_state", offsetof(aud_whisper_hparams, n_text_state) },
      { "whisper.n_text_layer", offsetof(aud_whisper_hparams, n_text_layer) },
      { "whisper.n_mels", offsetof(aud_whisper_hparams, n_mels) },
    };
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++) {
      int64_t v = kern_weights_get_int(kw, chk[i].key, -1);
      int have = *(const int *)((const char *)hp + chk[i].off);
      if (v != have)
        return fail(w, KERN_E_FORMAT, "the header says %s = %lld but the tensors say %d", chk[i].key, (long long)v,
                    have);
    }
  }
  if (heads <= 0 || dheads <= 0)
    return fail(w, KERN_E_FORMAT, "the number of attention heads is missing");
  hp->n_audio_head = (int)heads;
  hp->n_text_head = (int)dheads;
  if (hp->n_audio_state % hp->n_audio_head || hp->n_text_state % hp->n_text_head)
    return fail(w, KERN_E_FORMAT, "%d heads do not divide the model width %d", hp->n_audio_head, hp->n_audio_state);
  if (hp->n_audio_layer < 1 || hp->n_text_layer < 1 || hp->n_audio_layer > MAX_LAYERS || hp->n_text_layer > MAX_LAYERS)
    return fail(w, KERN_E_FORMAT, "%d encoder and %d decoder layers (1 to %d supported)", hp->n_audio_layer,
                hp->n_text_layer, MAX_LAYERS);
  if (hp->n_mels < 1 || hp->n_audio_ctx < 1 || hp->n_text_ctx < 1 || hp->n_vocab < 1 || hp->n_audio_ctx > 100000 ||
      hp->n_text_ctx > 100000)
    return fail(w, KERN_E_FORMAT, "implausible dimensions (mels %d, audio ctx %d, text ctx %d, vocabulary %d)",
                hp->n_mels, hp->n_audio_ctx, hp->n_text_ctx, hp->n_vocab);
  return 0;
}

static int
check_layer(aud_whisper *w, layer *L, int li, int is_dec, int64_t d)
{
  int rc = 0;
  if (!rc) rc = expect_len(w, &L->attn_ln.w, "attention norm", li, d);
  if (!rc) rc = expect_len(w, &L->attn_ln.b, "attention norm bias", li, d);
  linear *lins[] = { &L->q, &L->k, &L->v, &L->o, &L->cq, &L->ck, &L->cv, &L->co };
  static const char *const names[] = { "query", "key", "value", "output", "cross query", "cross key",
                                       "cross value", "cross output" };
  for (int i = 0; i < (is_dec ? 8 : 4) && !rc; i++) {
    rc = expect(w, &lins[i]->w, names[i], li, d, d, 1);
    if (!rc && lins[i]->b.data)
      rc = expect_len(w, &lins[i]->b, names[i], li, d);
  }
  if (is_dec && !rc) rc = expect_len(w, &L->cross_ln.w, "cross norm", li, d);
  if (is_dec && !rc) rc = expect_len(w, &L->cross_ln.b, "cross norm bias", li, d);
  if (!rc) rc = expect_len(w, &L->mlp_ln.w, "mlp norm", li, d);
  if (!rc) rc = expect_len(w, &L->mlp_ln.b, "mlp norm bias", li, d);
  if (!rc) rc = expect(w, &L->fc1.w, "fc1", li, d, 4 * d, 1);
  if (!rc) rc = expect_len(w, &L->fc1.b, "fc1 bias", li, 4 * d);
  if (!rc) rc = expect(w, &L->fc2.w, "fc2", li, 4 * d, d, 1);
  if (!rc) rc = expect_len(w, &L->fc2.b, "fc2 bias", li, d);
  return rc;
}

static kern_tensor *
scratch(aud_whisper *w, int type, int64_t n0, int64_t n1, int64_t n2)
{
  /* Trailing dimensions of 1 are dropped so slices cut the real outer one. */
  const int64_t ne[3] = { n0, n1, n2 };
  int n_dims = n2 > 1 ? 3 : n1 > 1 ? 2 : 1;
  return keep(w, kern_tensor_new(w->be, type, n_dims, ne));
}

/* A float matrix (or a view of one) as a new Q8_0 tensor: values read back,
 * quantized row by row. Others (already quantized, rows not a multiple of 32)
 * stay as they are. */
static int
requant_q8(aud_whisper *w, kern_tensor *t, const char *what)
{
  if (!t->data || (t->type != KERN_TYPE_F32 && t->type != KERN_TYPE_F16 && t->type != KERN_TYPE_BF16) ||
      t->ne[0] % 32 != 0)
    return 0;
  int64_t n = kern_tensor_nel(t), K = t->ne[0], rows = n / K;
  size_t in_bytes = t->nbytes, out_row = kern_type_row_size(KERN_TYPE_Q8_0, K);
  void *raw = malloc(in_bytes);
  float *f = malloc((size_t)K * sizeof *f);
  uint8_t *q = malloc(out_row * (size_t)rows);
  int rc = raw && f && q ? 0 : fail(w, KERN_E_NOMEM, "out of memory");
  if (!rc && kern_tensor_get(t, raw, 0, in_bytes) != 0)
    rc = fail_be(w, what);
  size_t in_row = kern_type_row_size(t->type, K);
  for (int64_t r = 0; !rc && r < rows; r++) {
    kern_dequantize_row(t->type, (const char *)raw + (size_t)r * in_row, f, K);
    kern_quantize_row(KERN_TYPE_Q8_0, f, q + (size_t)r * out_row, K);
  }
  kern_tensor *nt = NULL;
  if (!rc) {
    nt = keep(w, kern_tensor_new(w->be, KERN_TYPE_Q8_0, t->n_dims, t->ne));
    if (!nt || kern_tensor_set(nt, q, 0, nt->nbytes) != 0)
      rc = fail_be(w, what);
  }
  if (!rc)
    *t = *nt;
  free(raw), free(f), free(q);
  return rc;
}

static int
requant_model(aud_whisper *w)
{
  int rc = requant_q8(w, &w->tok_emb, "token embedding");
  layer *sets[2] = { w->enc, w->dec };
  int counts[2] = { w->hp.n_audio_layer, w->hp.n_text_layer };
  for (int s = 0; s < 2 && !rc; s++)
    for (int i = 0; i < counts[s] && !rc; i++) {
      layer *L = &sets[s][i];
      linear *lin[] = { &L->q, &L->k, &L->v, &L->o, &L->cq, &L->ck, &L->cv, &L->co, &L->fc1, &L->fc2 };
      for (size_t j = 0; j < sizeof lin / sizeof lin[0] && !rc; j++)
        rc = requant_q8(w, &lin[j]->w, "linear layer");
    }
  return rc;
}

static int
load_all(aud_whisper *w)
{
  name_style style;
  switch (kern_weights_format(w->weights)) {
  case KERN_FORMAT_CT2: style = FMT_CT2; break;
  case KERN_FORMAT_SAFETENSORS: style = FMT_HF; break;
  case KERN_FORMAT_WHISPER_GGML: style = FMT_OPENAI; break;
  case KERN_FORMAT_GGUF: /* Hark's Whisper GGUF: whisper.cpp's names and header keys */
    if (!strcmp(kern_weights_get_string(w->weights, "general.architecture", ""), "whisper")) {
      style = FMT_OPENAI;
      break;
    }
    /* fall through */
  default:
    return fail(w, KERN_E_FORMAT, "a %s file is not a Whisper model format",
                kern_weights_format_name(kern_weights_format(w->weights)));
  }
  int rc = read_hparams(w, style);
  if (rc)
    return rc;
  aud_whisper_hparams *hp = &w->hp;
  int64_t d = hp->n_audio_state;
  const name_table *nt = style == FMT_HF ? &hf_names : &openai_names;

  if (style == FMT_CT2) {
    rc = load_raw(w, &w->conv1.w, "encoder/conv1/weight", 0);
    if (!rc) rc = load_f32(w, &w->conv1.b, "encoder/conv1/bias", 0);
    if (!rc) rc = load_raw(w, &w->conv2.w, "encoder/conv2/weight", 0);
    if (!rc) rc = load_f32(w, &w->conv2.b, "encoder/conv2/bias", 0);
    if (!rc) rc = load_f32(w, &w->enc_pos, "encoder/position_encodings/encodings", 0);
    if (!rc) rc = load_f32(w, &w->enc_ln.w, "encoder/layer_norm/gamma", 0);
    if (!rc) rc = load_f32(w, &w->enc_ln.b, "encoder/layer_norm/beta", 0);
    if (!rc) rc = load_raw(w, &w->tok_emb, "decoder/embeddings/weight", 0);
    if (!rc) rc = load_raw(w, &w->dec_pos, "decoder/position_encodings/encodings", 0);
    if (!rc) rc = load_f32(w, &w->dec_ln.w, "decoder/layer_norm/gamma", 0);
    if (!rc) rc = load_f32(w, &w->dec_ln.b, "decoder/layer_norm/beta", 0);
    for (int i = 0; i < hp->n_audio_layer && !rc; i++)
      rc = load_ct2_layer(w, &w->enc[i], i, 0, d);
    for (int i = 0; i < hp->n_text_layer && !rc; i++)
      rc = load_ct2_layer(w, &w->dec[i], i, 1, d);
  } else {
    rc = load_raw(w, &w->conv1.w, nt->conv1_w, 0);
    if (!rc) rc = load_f32(w, &w->conv1.b, nt->conv1_b, 0);
    if (!rc) rc = load_raw(w, &w->conv2.w, nt->conv2_w, 0);
    if (!rc) rc = load_f32(w, &w->conv2.b, nt->conv2_b, 0);
    if (!rc) rc = load_f32(w, &w->enc_pos, nt->enc_pos, 0);
    if (!rc) rc = load_f32(w, &w->enc_ln.w, nt->enc_ln_w, 0);
    if (!rc) rc = load_f32(w, &w->enc_ln.b, nt->enc_ln_b, 0);
    if (!rc) rc = load_raw(w, &w->tok_emb, nt->tok_emb, 0);
    if (!rc) rc = load_raw(w, &w->dec_pos, nt->dec_pos, 0);
    if (!rc) rc = load_f32(w, &w->dec_ln.w, nt->dec_ln_w, 0);
    if (!rc) rc = load_f32(w, &w->dec_ln.b, nt->dec_ln_b, 0);
    for (int i = 0; i < hp->n_audio_layer && !rc; i++)
      rc = load_layer_named(w, nt, &w->enc[i], i, 0);
    for (int i = 0; i < hp->n_text_layer && !rc; i++)
      rc = load_layer_named(w, nt, &w->dec[i], i, 1);
  }
  if (rc)
    return rc;

  /* Shapes against the hyperparameters. */
  if ((rc = expect(w, &w->conv1.w, "conv1", 0, 3, hp->n_mels, d)) || (rc = expect(w, &w->conv2.w, "conv2", 0, 3, d, d)) ||
      (rc = expect_len(w, &w->conv1.b, "conv1 bias", 0, d)) || (rc = expect_len(w, &w->conv2.b, "conv2 bias", 0, d)) ||
      (rc = expect(w, &w->enc_pos, "encoder positions", 0, d, hp->n_audio_ctx, 1)) ||
      (rc = expect(w, &w->dec_pos, "decoder positions", 0, d, hp->n_text_ctx, 1)) ||
      (rc = expect(w, &w->tok_emb, "token embedding", 0, d, hp->n_vocab, 1)) ||
      (rc = expect_len(w, &w->enc_ln.w, "encoder norm", 0, d)) || (rc = expect_len(w, &w->enc_ln.b, "encoder norm", 0, d)) ||
      (rc = expect_len(w, &w->dec_ln.w, "decoder norm", 0, d)) || (rc = expect_len(w, &w->dec_ln.b, "decoder norm", 0, d)))
    return rc;
  if (hp->n_text_state != d)
    return fail(w, KERN_E_FORMAT, "encoder width %lld and decoder width %d differ", (long long)d, hp->n_text_state);
  for (int i = 0; i < hp->n_audio_layer && !rc; i++)
    rc = check_layer(w, &w->enc[i], i, 0, d);
  for (int i = 0; i < hp->n_text_layer && !rc; i++)
    rc = check_layer(w, &w->dec[i], i, 1, d);
  if (!rc && (w->q8_weights > 0 || (w->q8_weights < 0 && kern_backend_is_host(w->be))))
    rc = requant_model(w);
  if (rc)
    return rc;

  /* Mel filters carried by whisper.cpp files: (n_mels, 201) row-major = ne {201, n_mels}. */
  const kern_tensor_info *mf = kern_weights_find(w->weights, "mel_filters");
  if (mf && mf->type == KERN_TYPE_F32 && mf->ne[0] == 201 && mf->ne[1] == hp->n_mels) {
    w->mel_filters = malloc(mf->nbytes);
    if (!w->mel_filters)
      return fail(w, KERN_E_NOMEM, "out of memory");
    memcpy(w->mel_filters, mf->data, mf->nbytes);
  }

  /* State and scratch. */
  int64_t T = hp->n_audio_ctx;
  int64_t dhd = d / hp->n_text_head, dnh = hp->n_text_head;
  w->kv_type = kern_backend_is_host(w->be) ? KERN_TYPE_F32 : KERN_TYPE_F16;
  for (int i = 0; i < hp->n_text_layer; i++) {
    if (!(w->cross_k[i] = scratch(w, w->kv_type, dhd, dnh, T)) || !(w->cross_v[i] = scratch(w, w->kv_type, dhd, dnh, T)))
      return fail_be(w, "cross-attention cache");
  }
  w->self_k = calloc((size_t)(w->n_seq * hp->n_text_layer), sizeof *w->self_k);
  w->self_v = calloc((size_t)(w->n_seq * hp->n_text_layer), sizeof *w->self_v);
  if (!w->self_k || !w->self_v)
    return fail(w, KERN_E_NOMEM, "out of memory");
  for (int s = 0; s < w->n_seq * hp->n_text_layer; s++)
    if (!(w->self_k[s] = scratch(w, w->kv_type, dhd, dnh, hp->n_text_ctx)) ||
        !(w->self_v[s] = scratch(w, w->kv_type, dhd, dnh, hp->n_text_ctx)))
      return fail_be(w, "decoder cache");
  w->max_rows = hp->n_text_ctx > w->n_seq ? hp->n_text_ctx : w->n_seq;
  w->n_enc = T;
  int64_t R = w->max_rows;
  if (!(w->mel_in = scratch(w, KERN_TYPE_F32, hp->n_mels, 2 * T, 1)) ||
      !(w->conv_out = scratch(w, KERN_TYPE_F32, d, 2 * T, 1)) || !(w->ex = scratch(w, KERN_TYPE_F32, d, T, 1)) ||
      !(w->eh = scratch(w, KERN_TYPE_F32, d, T, 1)) || !(w->eq = scratch(w, KERN_TYPE_F32, d, T, 1)) ||
      !(w->ek = scratch(w, KERN_TYPE_F32, d, T, 1)) || !(w->ev = scratch(w, KERN_TYPE_F32, d, T, 1)) ||
      !(w->ea = scratch(w, KERN_TYPE_F32, d, T, 1)) || !(w->emlp = scratch(w, KERN_TYPE_F32, 4 * d, T, 1)) ||
      !(w->dx = scratch(w, KERN_TYPE_F32, d, R, 1)) || !(w->dh = scratch(w, KERN_TYPE_F32, d, R, 1)) ||
      !(w->dq = scratch(w, KERN_TYPE_F32, d, R, 1)) || !(w->dk = scratch(w, KERN_TYPE_F32, d, R, 1)) ||
      !(w->dv = scratch(w, KERN_TYPE_F32, d, R, 1)) || !(w->da = scratch(w, KERN_TYPE_F32, d, R, 1)) ||
      !(w->dpos_emb = scratch(w, KERN_TYPE_F32, d, R, 1)) || !(w->dmlp = scratch(w, KERN_TYPE_F32, 4 * d, R, 1)) ||
      !(w->ids = scratch(w, KERN_TYPE_I32, R, 1, 1)) || !(w->pos_ids = scratch(w, KERN_TYPE_I32, R, 1, 1)) ||
      !(w->logits = scratch(w, KERN_TYPE_F32, hp->n_vocab, R, 1)))
    return fail_be(w, "scratch buffers");
  return 0;
}

static kern_backend_t
make_backend(const aud_whisper_params *p, char **err)
{
  kern_backend_params bp = kern_backend_default_params();
  bp.n_threads = p->n_threads;
  return kern_backend_new(p->backend ? p->backend : "auto", &bp, err);
}

aud_whisper *
aud_whisper_open_weights(const kern_weights *kw, const aud_whisper_params *p, char **err)
{
  aud_whisper_params def = aud_whisper_default_params();
  if (!p)
    p = &def;
  if (err)
    *err = NULL;
  aud_whisper *w = calloc(1, sizeof *w);
  if (!w) {
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  w->weights = kw;
  w->n_seq = p->n_seq > 0 ? p->n_seq : 1;
  w->q8_weights = p->q8_weights;
  char *berr = NULL;
  w->be = make_backend(p, &berr);
  int rc = w->be ? load_all(w) : fail(w, KERN_E_UNSUPPORTED, "%s", berr ? berr : "no backend");
  free(berr);
  if (rc) {
    if (err)
      *err = strdup(w->errmsg);
    aud_whisper_free(w);
    return NULL;
  }
  return w;
}

aud_whisper *
aud_whisper_open(const char *path, const aud_whisper_params *p, char **err)
{
  kern_weights *kw = kern_weights_open(path, err);
  if (!kw)
    return NULL;
  aud_whisper *w = aud_whisper_open_weights(kw, p, err);
  if (!w) {
    kern_weights_close(kw);
    return NULL;
  }
  w->own_weights = kw;
  return w;
}

void
aud_whisper_free(aud_whisper *w)
{
  if (!w)
    return;
  for (int i = 0; i < w->n_owned; i++)
    kern_tensor_free(w->owned[i]);
  free(w->self_k);
  free(w->self_v);
  free(w->mel_filters);
  if (w->be)
    kern_backend_free(w->be);
  kern_weights_close(w->own_weights);
  free(w);
}

const aud_whisper_hparams *
aud_whisper_get_hparams(const aud_whisper *w)
{
  return &w->hp;
}

const kern_weights *
aud_whisper_get_weights(const aud_whisper *w)
{
  return w->weights;
}

const char *
aud_whisper_errmsg(const aud_whisper *w)
{
  return w->errmsg[0] ? w->errmsg : "no error";
}

const char *
aud_whisper_backend_name(const aud_whisper *w)
{
  return kern_backend_name(w->be);
}

int
aud_whisper_sync(aud_whisper *w)
{
  return kern_backend_sync(w->be) != 0 ? fail_be(w, "sync") : 0;
}

int
aud_whisper_get_n_seq(const aud_whisper *w)
{
  return w->n_seq;
}

const float *
aud_whisper_mel_filters(const aud_whisper *w)
{
  return w->mel_filters;
}

/* ---- forward ------------------------------------------------------------- */

#define OP(call)                      \
  do {                                \
    if ((call) != 0)                  \
      return fail_be(w, #call);       \
  } while (0)

/* y = x W^T + b over the first `rows` rows of x/y. */
static int
lin(aud_whisper *w, kern_tensor *y, const linear *l, kern_tensor *x, int64_t rows)
{
  kern_tensor xs = kern_tensor_slice(x, 0, rows), ys = kern_tensor_slice(y, 0, rows);
  const int64_t xne[2] = { x->ne[0], rows }, yne[2] = { y->ne[0], rows };
  kern_tensor x2 = kern_tensor_reshape(&xs, 2, xne), y2 = kern_tensor_reshape(&ys, 2, yne);
  OP(kern_matmul(w->be, &y2, &l->w, &x2, l->b.data ? &l->b : NULL));
  return 0;
}

/* A [d, rows] buffer seen as [hd, nh, rows]. */
static kern_tensor
heads(const kern_tensor *t, int64_t rows, int64_t nh)
{
  kern_tensor s = kern_tensor_slice(t, 0, rows);
  const int64_t ne[3] = { t->ne[0] / nh, nh, rows };
  return kern_tensor_reshape(&s, 3, ne);
}

static kern_tensor
rows_of(const kern_tensor *t, int64_t start, int64_t rows)
{
  return kern_tensor_slice(t, start, rows);
}

int
aud_whisper_encode(aud_whisper *w, const float *mel, int n_frames)
{
  aud_whisper_hparams *hp = &w->hp;
  int64_t d = hp->n_audio_state, T = hp->n_audio_ctx, nh = hp->n_audio_head;
  if (n_frames < 2 || n_frames > 2 * T || n_frames % 2)
    return fail(w, KERN_E_INVAL, "the encoder takes an even number of mel frames up to %lld, got %d",
                (long long)(2 * T), n_frames);
  int64_t Te = n_frames / 2; /* encoder positions of this window */
  kern_tensor mel_in = rows_of(w->mel_in, 0, n_frames), conv_out = rows_of(w->conv_out, 0, n_frames);
  kern_tensor ex = rows_of(w->ex, 0, Te), pos = rows_of(&w->enc_pos, 0, Te);
  if (kern_tensor_set(&mel_in, mel, 0, mel_in.nbytes) != 0)
    return fail_be(w, "mel upload");
  kern_backend_t be = w->be;
  /* conv1 (stride 1) -> [d, 2Te]; conv2 (stride 2) -> [d, Te] */
  OP(kern_conv1d(be, &conv_out, &mel_in, &w->conv1.w, &w->conv1.b, 1, 1));
  OP(kern_unary(be, &conv_out, &conv_out, KERN_UNARY_GELU));
  OP(kern_conv1d(be, &ex, &conv_out, &w->conv2.w, &w->conv2.b, 2, 1));
  OP(kern_unary(be, &ex, &ex, KERN_UNARY_GELU));
  OP(kern_add(be, &ex, &ex, &pos));
  kern_tensor eh = rows_of(w->eh, 0, Te), emlp = rows_of(w->emlp, 0, Te);
  float scale = 1.0f / sqrtf((float)(d / nh));
  for (int i = 0; i < hp->n_audio_layer; i++) {
    layer *L = &w->enc[i];
    OP(kern_layernorm(be, &eh, &ex, &L->attn_ln.w, &L->attn_ln.b, 1e-5f));
    if (lin(w, w->eq, &L->q, w->eh, Te) || lin(w, w->ek, &L->k, w->eh, Te) || lin(w, w->ev, &L->v, w->eh, Te))
      return KERN_E_DEVICE;
    kern_tensor q = heads(w->eq, Te, nh), k = heads(w->ek, Te, nh), v = heads(w->ev, Te, nh), a = heads(w->ea, Te, nh);
    OP(kern_attention(be, &a, &q, &k, &v, scale, 0, 0));
    if (lin(w, w->eh, &L->o, w->ea, Te))
      return KERN_E_DEVICE;
    OP(kern_add(be, &ex, &ex, &eh));
    OP(kern_layernorm(be, &eh, &ex, &L->mlp_ln.w, &L->mlp_ln.b, 1e-5f));
    if (lin(w, w->emlp, &L->fc1, w->eh, Te))
      return KERN_E_DEVICE;
    OP(kern_unary(be, &emlp, &emlp, KERN_UNARY_GELU));
    if (lin(w, w->eh, &L->fc2, w->emlp, Te))
      return KERN_E_DEVICE;
    OP(kern_add(be, &ex, &ex, &eh));
  }
  OP(kern_layernorm(be, &ex, &ex, &w->enc_ln.w, &w->enc_ln.b, 1e-5f));

  /* Cross-attention keys and values, once per window. */
  int64_t dnh = hp->n_text_head;
  for (int i = 0; i < hp->n_text_layer; i++) {
    layer *L = &w->dec[i];
    if (lin(w, w->ek, &L->ck, w->ex, Te) || lin(w, w->ev, &L->cv, w->ex, Te))
      return KERN_E_DEVICE;
    kern_tensor k = heads(w->ek, Te, dnh), v = heads(w->ev, Te, dnh);
    kern_tensor kd = kern_tensor_slice(w->cross_k[i], 0, Te), vd = kern_tensor_slice(w->cross_v[i], 0, Te);
    OP(kern_copy(be, &kd, &k));
    OP(kern_copy(be, &vd, &v));
  }
  w->n_enc = Te;
  return 0;
}

int
aud_whisper_get_encoder_output(aud_whisper *w, float *out)
{
  kern_tensor ex = rows_of(w->ex, 0, w->n_enc);
  if (kern_tensor_get(&ex, out, 0, ex.nbytes) != 0)
    return fail_be(w, "encoder output download");
  return 0;
}

/* Cross-attention scores wanted by the word aligner: for each (layer, head)
 * pair, q . k * scale over every row and encoder position, (n_heads, n, T). */
typedef struct {
  const int *heads; /* n_heads pairs: layer, head */
  int n_heads;
  float *out;
} qk_capture;

static int capture_cross_qk(aud_whisper *w, int li, int n, const qk_capture *cap);

/* The decoder over `n` rows. Row i is token tokens[i] of sequence seqs[i] at
 * position pos[i]; rows of one sequence are consecutive with consecutive
 * positions. Logits of rows out_rows[0..n_out) land in w->logits, in that order. */
static int
decode_rows(aud_whisper *w, int n, const int *seqs, const int32_t *tokens, const int *pos, const int *out_rows,
            int n_out, const qk_capture *cap)
{
  aud_whisper_hparams *hp = &w->hp;
  kern_backend_t be = w->be;
  int64_t d = hp->n_text_state, nh = hp->n_text_head;
  if (n < 1 || n > w->max_rows)
    return fail(w, KERN_E_INVAL, "%d decoder rows (1 to %d)", n, w->max_rows);
  for (int i = 0; i < n; i++) {
    if (seqs[i] < 0 || seqs[i] >= w->n_seq)
      return fail(w, KERN_E_INVAL, "sequence %d outside 0..%d", seqs[i], w->n_seq - 1);
    if (pos[i] < 0 || pos[i] >= hp->n_text_ctx)
      return fail(w, KERN_E_INVAL, "position %d outside the %d-token context", pos[i], hp->n_text_ctx);
    if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
      return fail(w, KERN_E_INVAL, "token %d outside the vocabulary of %d", tokens[i], hp->n_vocab);
    if (i > 0 && seqs[i] == seqs[i - 1] && pos[i] != pos[i - 1] + 1)
      return fail(w, KERN_E_INVAL, "positions of one sequence must be consecutive");
  }
  kern_tensor ids = rows_of(w->ids, 0, n), pids = rows_of(w->pos_ids, 0, n);
  const int64_t one[1] = { n };
  ids = kern_tensor_reshape(&ids, 1, one);
  pids = kern_tensor_reshape(&pids, 1, one);
  if (kern_tensor_set(&ids, tokens, 0, (size_t)n * 4) || kern_tensor_set(&pids, pos, 0, (size_t)n * 4))
    return fail_be(w, "token upload");
  kern_tensor x = rows_of(w->dx, 0, n), h = rows_of(w->dh, 0, n), pe = rows_of(w->dpos_emb, 0, n);
  const int64_t ne2[2] = { d, n };
  x = kern_tensor_reshape(&x, 2, ne2);
  pe = kern_tensor_reshape(&pe, 2, ne2);
  OP(kern_get_rows(be, &x, &w->tok_emb, &ids));
  OP(kern_get_rows(be, &pe, &w->dec_pos, &pids));
  OP(kern_add(be, &x, &x, &pe));
  float scale = 1.0f / sqrtf((float)(d / nh));
  for (int li = 0; li < hp->n_text_layer; li++) {
    layer *L = &w->dec[li];
    OP(kern_layernorm(be, &h, &x, &L->attn_ln.w, &L->attn_ln.b, 1e-5f));
    if (lin(w, w->dq, &L->q, &h, n) || lin(w, w->dk, &L->k, &h, n) || lin(w, w->dv, &L->v, &h, n))
      return KERN_E_DEVICE;
    /* Per sequence: append k/v to its cache, attend over its past. */
    for (int i = 0; i < n;) {
      int j = i;
      while (j < n && seqs[j] == seqs[i])
        j++;
      int s = seqs[i], p0 = pos[i], cnt = j - i;
      kern_tensor *ck = w->self_k[s * hp->n_text_layer + li], *cv = w->self_v[s * hp->n_text_layer + li];
      kern_tensor kq = heads(w->dk, n, nh), vq = heads(w->dv, n, nh), qq = heads(w->dq, n, nh), aq = heads(w->da, n, nh);
      kern_tensor knew = kern_tensor_slice(&kq, i, cnt), vnew = kern_tensor_slice(&vq, i, cnt);
      kern_tensor kdst = kern_tensor_slice(ck, p0, cnt), vdst = kern_tensor_slice(cv, p0, cnt);
      OP(kern_copy(be, &kdst, &knew));
      OP(kern_copy(be, &vdst, &vnew));
      kern_tensor kall = kern_tensor_slice(ck, 0, p0 + cnt), vall = kern_tensor_slice(cv, 0, p0 + cnt);
      kern_tensor qs = kern_tensor_slice(&qq, i, cnt), as = kern_tensor_slice(&aq, i, cnt);
      OP(kern_attention(be, &as, &qs, &kall, &vall, scale, 1, p0));
      i = j;
    }
    if (lin(w, &h, &L->o, w->da, n))
      return KERN_E_DEVICE;
    OP(kern_add(be, &x, &x, &h));
    /* Cross-attention over this window's encoder output. */
    OP(kern_layernorm(be, &h, &x, &L->cross_ln.w, &L->cross_ln.b, 1e-5f));
    if (lin(w, w->dq, &L->cq, &h, n))
      return KERN_E_DEVICE;
    kern_tensor qq = heads(w->dq, n, nh), aq = heads(w->da, n, nh);
    if (cap && capture_cross_qk(w, li, n, cap) != 0)
      return KERN_E_DEVICE;
    kern_tensor ck = kern_tensor_slice(w->cross_k[li], 0, w->n_enc), cv = kern_tensor_slice(w->cross_v[li], 0, w->n_enc);
    OP(kern_attention(be, &aq, &qq, &ck, &cv, scale, 0, 0));
    if (lin(w, &h, &L->co, w->da, n))
      return KERN_E_DEVICE;
    OP(kern_add(be, &x, &x, &h));
    OP(kern_layernorm(be, &h, &x, &L->mlp_ln.w, &L->mlp_ln.b, 1e-5f));
    if (lin(w, w->dmlp, &L->fc1, &h, n))
      return KERN_E_DEVICE;
    kern_tensor m = rows_of(w->dmlp, 0, n);
    OP(kern_unary(be, &m, &m, KERN_UNARY_GELU));
    if (lin(w, &h, &L->fc2, w->dmlp, n))
      return KERN_E_DEVICE;
    OP(kern_add(be, &x, &x, &h));
  }
  /* Gather the rows whose logits are wanted, then norm and project only them
   * (the vocabulary projection is the decoder's largest matmul). */
  for (int i = 0; i < n_out; i++) {
    if (out_rows[i] < 0 || out_rows[i] >= n)
      return fail(w, KERN_E_INVAL, "logit row %d outside 0..%d", out_rows[i], n - 1);
    kern_tensor src = kern_tensor_slice(&x, out_rows[i], 1), dst = kern_tensor_slice(w->dh, i, 1);
    OP(kern_copy(be, &dst, &src));
  }
  kern_tensor xl = rows_of(w->dh, 0, n_out);
  OP(kern_layernorm(be, &xl, &xl, &w->dec_ln.w, &w->dec_ln.b, 1e-5f));
  kern_tensor lg = rows_of(w->logits, 0, n_out);
  const int64_t lne[2] = { hp->n_vocab, n_out };
  lg = kern_tensor_reshape(&lg, 2, lne);
  OP(kern_matmul(be, &lg, &w->tok_emb, &xl, NULL));
  return 0;
}

int
aud_whisper_decode(aud_whisper *w, int seq, const int32_t *tokens, int n, int n_past, const int *logit_rows,
                   int n_logit_rows, float *logits)
{
  if (n < 1 || n > w->max_rows)
    return fail(w, KERN_E_INVAL, "%d tokens (1 to %d)", n, w->max_rows);
  int last = n - 1;
  if (!logit_rows) {
    logit_rows = &last;
    n_logit_rows = 1;
  }
  if (n_logit_rows < 1 || n_logit_rows > n)
    return fail(w, KERN_E_INVAL, "%d logit rows for %d tokens", n_logit_rows, n);
  int *seqs = malloc((size_t)n * sizeof *seqs), *pos = malloc((size_t)n * sizeof *pos);
  if (!seqs || !pos) {
    free(seqs), free(pos);
    return fail(w, KERN_E_NOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++)
    seqs[i] = seq, pos[i] = n_past + i;
  int rc = decode_rows(w, n, seqs, tokens, pos, logit_rows, n_logit_rows, NULL);
  free(seqs), free(pos);
  if (rc)
    return rc;
  if (logits &&
      kern_tensor_get(w->logits, logits, 0, (size_t)n_logit_rows * (size_t)w->hp.n_vocab * sizeof(float)))
    return fail_be(w, "logits download");
  return 0;
}

int
aud_whisper_decode_batch(aud_whisper *w, int n, const int *seqs, const int32_t *tokens, const int *n_past,
                         float *logits)
{
  for (int i = 1; i < n; i++)
    for (int j = 0; j < i; j++)
      if (seqs[i] == seqs[j])
        return fail(w, KERN_E_INVAL, "sequence %d appears twice in one batch", seqs[i]);
  int rows[64];
  if (n < 1 || n > 64)
    return fail(w, KERN_E_INVAL, "%d sequences in one batch (1 to 64)", n);
  for (int i = 0; i < n; i++)
    rows[i] = i;
  int rc = decode_rows(w, n, seqs, tokens, n_past, rows, n, NULL);
  if (rc)
    return rc;
  if (logits && kern_tensor_get(w->logits, logits, 0, (size_t)n * (size_t)w->hp.n_vocab * sizeof(float)))
    return fail_be(w, "logits download");
  return 0;
}

int
aud_whisper_seq_copy(aud_whisper *w, int dst, int src, int n_past)
{
  if (dst < 0 || src < 0 || dst >= w->n_seq || src >= w->n_seq || n_past < 0 || n_past > w->hp.n_text_ctx)
    return fail(w, KERN_E_INVAL, "seq_copy(%d, %d, %d) out of range", dst, src, n_past);
  if (dst == src || n_past == 0)
    return 0;
  int nl = w->hp.n_text_layer;
  for (int li = 0; li < nl; li++) {
    kern_tensor sk = kern_tensor_slice(w->self_k[src * nl + li], 0, n_past);
    kern_tensor dk = kern_tensor_slice(w->self_k[dst * nl + li], 0, n_past);
    kern_tensor sv = kern_tensor_slice(w->self_v[src * nl + li], 0, n_past);
    kern_tensor dv = kern_tensor_slice(w->self_v[dst * nl + li], 0, n_past);
    OP(kern_copy(w->be, &dk, &sk));
    OP(kern_copy(w->be, &dv, &sv));
  }
  return 0;
}

/* Host-side q . k for the captured heads of layer li (a few heads, a few
 * hundred tokens: cheap next to the decoder itself). */
static int
capture_cross_qk(aud_whisper *w, int li, int n, const qk_capture *cap)
{
  const aud_whisper_hparams *hp = &w->hp;
  int64_t d = hp->n_text_state, nh = hp->n_text_head, hd = d / nh, T = hp->n_audio_ctx, Te = w->n_enc;
  int any = 0;
  for (int k = 0; k < cap->n_heads; k++)
    any |= cap->heads[2 * k] == li;
  if (!any)
    return 0;
  float *q = malloc((size_t)(d * n) * sizeof *q);      /* (n, d) */
  float *kf = malloc((size_t)(T * d) * sizeof *kf);    /* (T, nh, hd) */
  void *kraw = malloc(w->cross_k[li]->nbytes);
  if (!q || !kf || !kraw) {
    free(q), free(kf), free(kraw);
    return fail(w, KERN_E_NOMEM, "out of memory");
  }
  int rc = 0;
  if (kern_tensor_get(w->dq, q, 0, (size_t)(d * n) * sizeof *q) ||
      kern_tensor_get(w->cross_k[li], kraw, 0, w->cross_k[li]->nbytes))
    rc = fail_be(w, "cross-attention download");
  if (!rc)
    kern_dequantize_row(w->kv_type, kraw, kf, Te * d);
  double scale = 1.0 / sqrt((double)hd);
  for (int k = 0; !rc && k < cap->n_heads; k++) {
    if (cap->heads[2 * k] != li)
      continue;
    int h = cap->heads[2 * k + 1];
    float *o = cap->out + (size_t)k * (size_t)n * (size_t)T;
    for (int r = 0; r < n; r++)
      for (int64_t t = 0; t < T; t++) {
        if (t >= Te) { /* past this window's encoding */
          o[(size_t)r * (size_t)T + (size_t)t] = -INFINITY;
          continue;
        }
        double acc = 0;
        const float *qr = q + (size_t)r * (size_t)d + (size_t)h * (size_t)hd;
        const float *kr = kf + ((size_t)t * (size_t)nh + (size_t)h) * (size_t)hd;
        for (int64_t i = 0; i < hd; i++)
          acc += (double)qr[i] * kr[i];
        o[(size_t)r * (size_t)T + (size_t)t] = (float)(acc * scale);
      }
  }
  free(q), free(kf), free(kraw);
  return rc;
}

int
aud_whisper_cross_qk(aud_whisper *w, int seq, const int32_t *tokens, int n, const int *heads, int n_heads,
                     float *qk, float *logits)
{
  const aud_whisper_hparams *hp = &w->hp;
  if (n < 1 || n > w->max_rows)
    return fail(w, KERN_E_INVAL, "%d tokens (1 to %d)", n, w->max_rows);
  for (int k = 0; k < n_heads; k++)
    if (heads[2 * k] < 0 || heads[2 * k] >= hp->n_text_layer || heads[2 * k + 1] < 0 ||
        heads[2 * k + 1] >= hp->n_text_head)
      return fail(w, KERN_E_INVAL, "alignment head (%d, %d) outside %d layers x %d heads", heads[2 * k],
                  heads[2 * k + 1], hp->n_text_layer, hp->n_text_head);
  int *seqs = malloc((size_t)n * sizeof *seqs), *pos = malloc((size_t)n * sizeof *pos);
  int *rows = malloc((size_t)n * sizeof *rows);
  if (!seqs || !pos || !rows) {
    free(seqs), free(pos), free(rows);
    return fail(w, KERN_E_NOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++)
    seqs[i] = seq, pos[i] = i, rows[i] = i;
  qk_capture cap = { heads, n_heads, qk };
  int rc = decode_rows(w, n, seqs, tokens, pos, rows, logits ? n : 1, &cap);
  free(seqs), free(pos), free(rows);
  if (!rc && logits &&
      kern_tensor_get(w->logits, logits, 0, (size_t)n * (size_t)hp->n_vocab * sizeof(float)))
    rc = fail_be(w, "logits download");
  return rc;
}

static int
each_layer(const layer *L, const char *prefix, int is_dec, aud_whisper_param_fn fn, void *ud)
{
  const struct {
    const char *name;
    const kern_tensor *t;
    aud_param_kind kind;
  } p[] = {
    { "attn_ln.weight", &L->attn_ln.w, AUD_PARAM_VECTOR }, { "attn_ln.bias", &L->attn_ln.b, AUD_PARAM_VECTOR },
    { "attn.query.weight", &L->q.w, AUD_PARAM_MATRIX }, { "attn.query.bias", &L->q.b, AUD_PARAM_VECTOR },
    { "attn.key.weight", &L->k.w, AUD_PARAM_MATRIX }, { "attn.value.weight", &L->v.w, AUD_PARAM_MATRIX },
    { "attn.value.bias", &L->v.b, AUD_PARAM_VECTOR }, { "attn.out.weight", &L->o.w, AUD_PARAM_MATRIX },
    { "attn.out.bias", &L->o.b, AUD_PARAM_VECTOR },
    { "cross_attn_ln.weight", &L->cross_ln.w, AUD_PARAM_VECTOR },
    { "cross_attn_ln.bias", &L->cross_ln.b, AUD_PARAM_VECTOR },
    { "cross_attn.query.weight", &L->cq.w, AUD_PARAM_MATRIX }, { "cross_attn.query.bias", &L->cq.b, AUD_PARAM_VECTOR },
    { "cross_attn.key.weight", &L->ck.w, AUD_PARAM_MATRIX }, { "cross_attn.value.weight", &L->cv.w, AUD_PARAM_MATRIX },
    { "cross_attn.value.bias", &L->cv.b, AUD_PARAM_VECTOR }, { "cross_attn.out.weight", &L->co.w, AUD_PARAM_MATRIX },
    { "cross_attn.out.bias", &L->co.b, AUD_PARAM_VECTOR },
    { "mlp_ln.weight", &L->mlp_ln.w, AUD_PARAM_VECTOR }, { "mlp_ln.bias", &L->mlp_ln.b, AUD_PARAM_VECTOR },
    { "mlp.0.weight", &L->fc1.w, AUD_PARAM_MATRIX }, { "mlp.0.bias", &L->fc1.b, AUD_PARAM_VECTOR },
    { "mlp.2.weight", &L->fc2.w, AUD_PARAM_MATRIX }, { "mlp.2.bias", &L->fc2.b, AUD_PARAM_VECTOR },
  };
  char name[160];
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
    if (!is_dec && strstr(p[i].name, "cross_"))
      continue;
    snprintf(name, sizeof name, "%s%s", prefix, p[i].name);
    int rc = fn(name, p[i].t, p[i].kind, ud);
    if (rc)
      return rc;
  }
  return 0;
}

int
_aud_whisper_for_each_param(const aud_whisper *w, aud_whisper_param_fn fn, void *ud)
{
  const struct {
    const char *name;
    const kern_tensor *t;
    aud_param_kind kind;
  } head[] = {
    { "encoder.positional_embedding", &w->enc_pos, AUD_PARAM_POSITIONS },
    { "encoder.conv1.weight", &w->conv1.w, AUD_PARAM_CONV }, { "encoder.conv1.bias", &w->conv1.b, AUD_PARAM_CONV_BIAS },
    { "encoder.conv2.weight", &w->conv2.w, AUD_PARAM_CONV }, { "encoder.conv2.bias", &w->conv2.b, AUD_PARAM_CONV_BIAS },
  };
  int rc = 0;
  for (size_t i = 0; i < sizeof head / sizeof head[0] && !rc; i++)
    rc = fn(head[i].name, head[i].t, head[i].kind, ud);
  char prefix[64];
  for (int l = 0; l < w->hp.n_audio_layer && !rc; l++) {
    snprintf(prefix, sizeof prefix, "encoder.blocks.%d.", l);
    rc = each_layer(&w->enc[l], prefix, 0, fn, ud);
  }
  if (!rc) rc = fn("encoder.ln_post.weight", &w->enc_ln.w, AUD_PARAM_VECTOR, ud);
  if (!rc) rc = fn("encoder.ln_post.bias", &w->enc_ln.b, AUD_PARAM_VECTOR, ud);
  if (!rc) rc = fn("decoder.positional_embedding", &w->dec_pos, AUD_PARAM_POSITIONS, ud);
  if (!rc) rc = fn("decoder.token_embedding.weight", &w->tok_emb, AUD_PARAM_MATRIX, ud);
  for (int l = 0; l < w->hp.n_text_layer && !rc; l++) {
    snprintf(prefix, sizeof prefix, "decoder.blocks.%d.", l);
    rc = each_layer(&w->dec[l], prefix, 1, fn, ud);
  }
  if (!rc) rc = fn("decoder.ln.weight", &w->dec_ln.w, AUD_PARAM_VECTOR, ud);
  if (!rc) rc = fn("decoder.ln.bias", &w->dec_ln.b, AUD_PARAM_VECTOR, ud);
  return rc;
}

int
aud_whisper_alignment_heads(const aud_whisper *w, int *heads, int cap)
{
  const aud_whisper_hparams *hp = &w->hp;
  /* CTranslate2 config.json and Hugging Face generation_config.json carry
   * [[layer, head], ...]; else a released model's heads by its shape; else
   * the reference's default: every head of the second half of the decoder. */
  const kern_meta *m = kern_weights_get_meta(w->weights, "config.alignment_heads");
  if (!m)
    m = kern_weights_get_meta(w->weights, "generation_config.alignment_heads");
  if (!m) /* Hark's GGUF */
    m = kern_weights_get_meta(w->weights, "whisper.alignment_heads");
  int n = 0;
  /* From JSON an array of arrays has elem_type NULL (items read one by one). */
  if (m && m->type == KERN_META_ARRAY && (m->elem_type == KERN_META_ARRAY || m->elem_type == KERN_META_NULL)) {
    for (uint64_t i = 0; i < m->n && n < cap; i++) {
      const kern_meta *pair = kern_meta_array_item(m, i);
      int64_t l, h;
      if (!pair || kern_meta_array_int(pair, 0, &l) || kern_meta_array_int(pair, 1, &h) || l < 0 ||
          l >= hp->n_text_layer || h < 0 || h >= hp->n_text_head)
        continue;
      heads[2 * n] = (int)l, heads[2 * n + 1] = (int)h;
      n++;
    }
    if (n > 0)
      return n;
  }
  /* A released model by its shape (whisper.cpp's files name no heads). */
  for (size_t i = 0; i < sizeof aud_alignment_presets / sizeof aud_alignment_presets[0]; i++) {
    const aud_alignment_preset *pr = &aud_alignment_presets[i];
    if (pr->n_text_layer != hp->n_text_layer || pr->n_text_head != hp->n_text_head || pr->n_vocab != hp->n_vocab ||
        pr->n_mels != hp->n_mels)
      continue;
    for (int k = 0; k < pr->n_heads && n < cap; k++, n++)
      heads[2 * n] = pr->heads[k][0], heads[2 * n + 1] = pr->heads[k][1];
    return n;
  }
  for (int l = hp->n_text_layer / 2; l < hp->n_text_layer; l++)
    for (int h = 0; h < hp->n_text_head && n < cap; h++) {
      heads[2 * n] = l, heads[2 * n + 1] = h;
      n++;
    }
  return n;
}
