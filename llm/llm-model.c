/* llm-model.c: decoder-only transformers (llama, mistral, qwen2, gemma3) from
 * GGUF files, run imperatively on the kernels/ backends.
 *
 * Dimensions: d = n_embd, V = n_vocab, L = n_layer, nh query heads and nkv
 * key/value heads of hd = head_dim, ff = n_ff, C = n_ctx positions in the KV
 * cache, B = rows (tokens) per internal batch. Layouts follow kern-backend.h:
 * [a, b] means ne0 = a (contiguous), so activations are [d, tokens].
 *
 * One layer (pre-norm):
 *   h = rmsnorm(x) ; q,k,v = h Wq,Wk,Wv (+ biases) ; [gemma3: rmsnorm q,k per head]
 *   rope(q, k) ; append k,v to the cache ; a = attention(q, cache) Wo
 *   [gemma3: a = rmsnorm(a)] ; x += a
 *   h = rmsnorm(x) ; f = (act(h Wgate) * h Wup) Wdown  [gemma3: f = rmsnorm(f)] ; x += f
 * act is SiLU, or GELU-tanh for gemma3. logits = rmsnorm(x) Wout (Wout = the
 * token embedding when the file has no output.weight).
 *
 * GGUF conventions this relies on: llama/mistral files store Wq/Wk rows
 * permuted so that RoPE rotates adjacent pairs (KERN_ROPE_NORMAL); qwen2 and
 * gemma3 keep the Hugging Face order (KERN_ROPE_NEOX); gemma3 norms are stored
 * as (1 + w), i.e. ready for a plain rmsnorm.
 */
#include "llm-model.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kern-backend.h"
#include "llm-hf.h"

#define MAX_LAYERS 1024
#define MAX_BATCH 512     /* B: rows per internal batch */
#define MAX_LOGIT_ROWS 32 /* logits computed this many rows at a time */
#define MIN_CTX 16

typedef enum { ARCH_LLAMA, ARCH_MISTRAL, ARCH_QWEN2, ARCH_GEMMA3 } arch_kind;

typedef struct {
  kern_tensor attn_norm;              /* [d] */
  kern_tensor wq, wk, wv, wo;         /* [d, nh hd], [d, nkv hd] x2, [nh hd, d]; any type */
  kern_tensor bq, bk, bv;             /* biases, F32; .data NULL when absent */
  kern_tensor q_norm, k_norm;         /* [hd] gemma3 */
  kern_tensor post_attn_norm;         /* [d] gemma3 */
  kern_tensor ffn_norm;               /* [d] */
  kern_tensor gate, up, down;         /* [d, ff], [d, ff], [ff, d] */
  kern_tensor post_ffn_norm;          /* [d] gemma3 */
  int sliding;                        /* gemma3 local layer: sliding-window attention, local RoPE */
  kern_tensor *kc, *vc;               /* [hd, nkv, C] kv_type */
} layer;

struct llm_model {
  kern_weights *weights;
  llm_hparams hp;
  char arch[16];
  arch_kind kind;
  kern_backend_t be;
  char errmsg[1024];
  void (*on_warning)(const char *msg, void *user_data);
  int (*should_abort)(void *user_data);
  void *user_data;

  float eps;
  float attn_scale;
  float embd_scale;     /* 0: none */
  int swa_window;       /* gemma3 sliding window (positions), 0: none */
  kern_rope_params rope, rope_local;
  kern_tensor rope_freqs; /* [n_rot/2] F32 or .data NULL */

  kern_tensor tok_embd;    /* [d, V] any type */
  kern_tensor output;      /* [d, V] any type (may be tok_embd) */
  kern_tensor output_norm; /* [d] */
  layer *layers;           /* [L] */

  int kv_type;
  int n_cached;         /* positions held in the KV cache */

  /* scratch, allocated once */
  int B;
  kern_tensor *ids, *pos;          /* [B] I32 */
  kern_tensor *x, *h;              /* [d, B] */
  kern_tensor *q, *att;            /* [nh hd, B] */
  kern_tensor *k, *v;              /* [nkv hd, B] */
  kern_tensor *g, *u;              /* [ff, B] */
  kern_tensor *lx;                 /* [d, MAX_LOGIT_ROWS] normalized rows for the output */
  kern_tensor *logits;             /* [V, MAX_LOGIT_ROWS] */

  kern_tensor **owned;
  int n_owned, cap_owned;
};

static int fail(llm_model *m, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(llm_model *m, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char msg[900];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(m->errmsg, sizeof m->errmsg, "%s: %s", m->weights ? kern_weights_path(m->weights) : "llm", msg);
  return code;
}

static int
fail_be(llm_model *m, const char *what)
{
  return fail(m, KERN_E_DEVICE, "%s: %s", what, kern_backend_errmsg(m->be));
}

static void warn(llm_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warn(llm_model *m, const char *fmt, ...)
{
  if (!m->on_warning)
    return;
  va_list ap;
  va_start(ap, fmt);
  char msg[700], full[1000];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "%s: %s", kern_weights_path(m->weights), msg);
  m->on_warning(full, m->user_data);
}

llm_model_params
llm_model_default_params(void)
{
  return (llm_model_params){
    .device = "auto", .n_threads = 0, .n_ctx = 0, .kv_type = KERN_TYPE_F16, .gpu_layers = -1,
  };
}

/* ---- hyperparameters ------------------------------------------------------ */

static const char *
key(char *buf, size_t size, const char *arch, const char *suffix)
{
  snprintf(buf, size, "%s.%s", arch, suffix);
  return buf;
}

/* An integer {arch}.suffix: 0, or KERN_E_FORMAT when required and absent or
 * outside [lo, hi]. */
static int
meta_int(llm_model *m, const char *suffix, int required, int64_t fallback, int64_t lo, int64_t hi, int64_t *out)
{
  char k[160];
  const kern_meta *mt = kern_weights_get_meta(m->weights, key(k, sizeof k, m->arch, suffix));
  if (!mt) {
    if (required)
      return fail(m, KERN_E_FORMAT, "metadata '%s' is missing", k);
    *out = fallback;
    return 0;
  }
  int64_t v;
  if (kern_meta_get_int(mt, &v) != 0)
    return fail(m, KERN_E_FORMAT, "metadata '%s' is not an integer%s", k,
                mt->type == KERN_META_ARRAY ? " (per-layer arrays are not supported)" : "");
  if (v < lo || v > hi)
    return fail(m, KERN_E_FORMAT, "metadata '%s' = %" PRId64 " is outside %" PRId64 "..%" PRId64, k, v, lo, hi);
  *out = v;
  return 0;
}

static int
meta_float(llm_model *m, const char *suffix, double fallback, double lo, double hi, double *out)
{
  char k[160];
  const kern_meta *mt = kern_weights_get_meta(m->weights, key(k, sizeof k, m->arch, suffix));
  if (!mt) {
    *out = fallback;
    return 0;
  }
  double v;
  if (kern_meta_get_float(mt, &v) != 0)
    return fail(m, KERN_E_FORMAT, "metadata '%s' is not a number", k);
  if (!(v >= lo && v <= hi))
    return fail(m, KERN_E_FORMAT, "metadata '%s' = %g is outside %g..%g", k, v, lo, hi);
  *out = v;
  return 0;
}

static int
read_arch(llm_model *m)
{
  const kern_meta *a = kern_weights_get_meta(m->weights, "general.architecture");
  const char *s = a ? kern_meta_get_string(a) : NULL;
  if (!s)
    return fail(m, KERN_E_FORMAT, "metadata 'general.architecture' is missing (not a GGUF language model?)");
  static const struct {
    const char *name;
    arch_kind kind;
  } known[] = { { "llama", ARCH_LLAMA }, { "mistral", ARCH_MISTRAL }, { "qwen2", ARCH_QWEN2 }, { "gemma3", ARCH_GEMMA3 } };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(s, known[i].name) == 0) {
      m->kind = known[i].kind;
      snprintf(m->arch, sizeof m->arch, "%s", known[i].name);
      m->hp.arch = m->arch;
      return 0;
    }
  return fail(m, KERN_E_UNSUPPORTED, "architecture '%.64s' is not supported (llama, mistral, qwen2, gemma3)", s);
}

static int
read_hparams(llm_model *m, int64_t *ctx_train)
{
  llm_hparams *hp = &m->hp;
  int64_t d = 0, L = 0, nh = 1, nkv = 1, ff = 0, hd = 0, hdv = 0, n_rot = 0; /* set by meta_int; -O3 cannot tell */
  int rc;
  if ((rc = meta_int(m, "embedding_length", 1, 0, 1, 1 << 16, &d)) ||
      (rc = meta_int(m, "block_count", 1, 0, 1, MAX_LAYERS, &L)) ||
      (rc = meta_int(m, "attention.head_count", 1, 0, 1, 4096, &nh)) ||
      (rc = meta_int(m, "attention.head_count_kv", 0, nh, 1, 4096, &nkv)) ||
      (rc = meta_int(m, "feed_forward_length", 1, 0, 1, 1 << 20, &ff)) ||
      (rc = meta_int(m, "context_length", 1, 0, 1, INT32_MAX, ctx_train)))
    return rc;
  if (nh % nkv != 0)
    return fail(m, KERN_E_FORMAT, "%" PRId64 " attention heads are not a multiple of %" PRId64 " key/value heads",
                nh, nkv);
  /* head_dim may be given explicitly (gemma3); otherwise d must divide. */
  char k[160];
  int has_kl = kern_weights_get_meta(m->weights, key(k, sizeof k, m->arch, "attention.key_length")) != NULL;
  if (!has_kl && d % nh != 0)
    return fail(m, KERN_E_FORMAT, "embedding length %" PRId64 " is not a multiple of %" PRId64 " heads", d, nh);
  if ((rc = meta_int(m, "attention.key_length", 0, d / nh, 2, 1024, &hd)) ||
      (rc = meta_int(m, "attention.value_length", 0, hd, 1, 1024, &hdv)))
    return rc;
  if (hdv != hd)
    return fail(m, KERN_E_FORMAT, "key length %" PRId64 " and value length %" PRId64 " differ", hd, hdv);
  if (hd % 2)
    return fail(m, KERN_E_FORMAT, "head size %" PRId64 " is odd", hd);
  if ((rc = meta_int(m, "rope.dimension_count", 0, hd, 2, hd, &n_rot)))
    return rc;
  if (n_rot % 2)
    return fail(m, KERN_E_FORMAT, "rope.dimension_count %" PRId64 " is odd", n_rot);
  double eps, base;
  if ((rc = meta_float(m, "attention.layer_norm_rms_epsilon", 1e-5, 0, 1, &eps)) ||
      (rc = meta_float(m, "rope.freq_base", 10000.0, 1e-3, 1e12, &base)))
    return rc;
  hp->n_embd = (int)d;
  hp->n_layer = (int)L;
  hp->n_head = (int)nh;
  hp->n_head_kv = (int)nkv;
  hp->head_dim = (int)hd;
  hp->n_ff = (int)ff;
  hp->n_ctx_train = (int)*ctx_train;
  m->eps = (float)eps;
  m->attn_scale = 1.0f / sqrtf((float)hd);

  /* RoPE: linear scaling from rope.scaling.{type,factor} (or the older
   * rope.scale_linear); Llama 3's per-frequency factors come as rope_freqs.weight. */
  double freq_scale = 1.0;
  const char *stype = kern_weights_get_string(m->weights, key(k, sizeof k, m->arch, "rope.scaling.type"), NULL);
  double factor;
  if ((rc = meta_float(m, "rope.scaling.factor", 1.0, 1e-6, 1e6, &factor)))
    return rc;
  if (stype && strcmp(stype, "linear") == 0) {
    freq_scale = 1.0 / factor;
  } else if (stype && strcmp(stype, "none") != 0) {
    warn(m, "RoPE scaling '%.32s' is not implemented; positions beyond the trained context will degrade", stype);
  } else if (!stype) {
    double lin;
    if ((rc = meta_float(m, "rope.scale_linear", 1.0, 1e-6, 1e6, &lin)))
      return rc;
    freq_scale = 1.0 / lin;
  }
  kern_rope_mode mode = m->kind == ARCH_QWEN2 || m->kind == ARCH_GEMMA3 ? KERN_ROPE_NEOX : KERN_ROPE_NORMAL;
  m->rope = (kern_rope_params){ .n_rot = (int)n_rot, .mode = mode, .base = (float)base,
                                .freq_scale = (float)freq_scale, .freq_factors = NULL };
  m->rope_local = m->rope;

  if (m->kind == ARCH_MISTRAL) {
    /* Mistral 7B v0.1 attends over a sliding window in every layer. */
    int64_t win;
    if ((rc = meta_int(m, "attention.sliding_window", 0, 0, 0, INT32_MAX, &win)))
      return rc;
    m->swa_window = (int)win;
  }
  if (m->kind == ARCH_GEMMA3) {
    int64_t win;
    double local_base;
    if ((rc = meta_int(m, "attention.sliding_window", 0, 0, 0, INT32_MAX, &win)) ||
        (rc = meta_float(m, "rope.freq_base_swa", 10000.0, 1e-3, 1e12, &local_base)))
      return rc;
    m->swa_window = (int)win;
    m->embd_scale = sqrtf((float)d);
    m->rope_local.base = (float)local_base;
    m->rope_local.freq_scale = 1.0f; /* scaling applies to the global layers only */
    double logit_cap;
    if ((rc = meta_float(m, "final_logit_softcapping", 0.0, 0.0, 1e9, &logit_cap)))
      return rc;
    if (logit_cap > 0)
      return fail(m, KERN_E_UNSUPPORTED, "final logit soft-capping is not implemented");
  }
  return 0;
}

/* ---- tensors ---------------------------------------------------------------- */

static kern_tensor *
keep(llm_model *m, kern_tensor *t)
{
  if (!t)
    return NULL;
  if (m->n_owned == m->cap_owned) {
    int cap = m->cap_owned ? 2 * m->cap_owned : 64;
    kern_tensor **p = realloc(m->owned, (size_t)cap * sizeof *p);
    if (!p) {
      kern_tensor_free(t);
      return NULL;
    }
    m->owned = p;
    m->cap_owned = cap;
  }
  m->owned[m->n_owned++] = t;
  return t;
}

static const kern_tensor_info *
find(llm_model *m, const char *name, int li)
{
  char full[128];
  if (li >= 0)
    snprintf(full, sizeof full, "blk.%d.%s", li, name);
  else
    snprintf(full, sizeof full, "%s", name);
  return kern_weights_find(m->weights, full);
}

/* The tensor `name` (layer li, or -1) with shape [n0, n1] (n1 = 1: a vector of
 * n0 values whatever its dimensions). NULL with an error when missing (and
 * required) or shaped otherwise. */
static const kern_tensor_info *
need(llm_model *m, const char *name, int li, int64_t n0, int64_t n1, int required, int *rc)
{
  const kern_tensor_info *t = find(m, name, li);
  char where[48] = "";
  if (li >= 0)
    snprintf(where, sizeof where, " of layer %d", li);
  if (!t) {
    if (required)
      *rc = fail(m, KERN_E_FORMAT, "tensor '%s'%s is missing", name, where);
    return NULL;
  }
  char msg[320];
  if (kern_tensor_check_shape(t, n0, n1 == 1 ? 0 : n1, msg, sizeof msg) != 0) {
    *rc = fail(m, KERN_E_FORMAT, "%s", msg);
    return NULL;
  }
  return t;
}

/* A weight used by matmul or get_rows, kept in its type. */
static int
load_mat(llm_model *m, kern_tensor *out, const kern_tensor_info *info)
{
  const kern_type_traits *tr = kern_type_get_traits(info->type);
  if (!tr || (!tr->is_quantized && info->type != KERN_TYPE_F32 && info->type != KERN_TYPE_F16 &&
              info->type != KERN_TYPE_BF16) ||
      info->type == KERN_TYPE_Q8_K)
    return fail(m, KERN_E_FORMAT, "tensor '%s' has type %s, which is not a weight type", info->name,
                tr ? tr->name : "?");
  if (!kern_backend_supports(m->be, KERN_OP_MATMUL, info->type))
    return fail(m, KERN_E_UNSUPPORTED, "tensor '%s': backend %s has no matmul for %s weights", info->name,
                kern_backend_name(m->be), tr->name);
  kern_tensor *t = keep(m, kern_tensor_from_weights(m->be, info));
  if (!t)
    return fail_be(m, info->name);
  if (t->n_dims > 2) { /* [a, b, 1, 1] stored with extra dims */
    const int64_t ne[2] = { t->ne[0], t->ne[1] };
    *out = kern_tensor_reshape(t, 2, ne);
  } else {
    *out = *t;
  }
  return 0;
}

/* A vector (norm weight, bias, RoPE factors), converted to 1-D F32. */
static int
load_vec(llm_model *m, kern_tensor *out, const kern_tensor_info *info)
{
  int64_t n = kern_tensor_nelements(info);
  float *tmp = malloc((size_t)n * sizeof *tmp);
  if (!tmp)
    return fail(m, KERN_E_NOMEM, "out of memory");
  if (kern_dequantize_row(info->type, info->data, tmp, n) != 0) {
    free(tmp);
    return fail(m, KERN_E_FORMAT, "tensor '%s' has a type that cannot be read as numbers", info->name);
  }
  const int64_t ne[1] = { n };
  kern_tensor *t = keep(m, kern_tensor_new(m->be, KERN_TYPE_F32, 1, ne));
  int rc = t ? kern_tensor_set(t, tmp, 0, t->nbytes) : KERN_E_NOMEM;
  free(tmp);
  if (rc)
    return fail_be(m, info->name);
  *out = *t;
  return 0;
}

/* Every tensor checked against the hyperparameters, then loaded. */
static int
load_tensors(llm_model *m)
{
  llm_hparams *hp = &m->hp;
  int64_t d = hp->n_embd, hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv, ff = hp->n_ff;
  int rc = 0;
  const kern_tensor_info *te = find(m, "token_embd.weight", -1);
  if (!te)
    return fail(m, KERN_E_FORMAT, "tensor 'token_embd.weight' is missing");
  if (te->ne[0] != d || te->ne[2] != 1 || te->ne[3] != 1 || te->ne[1] < 1 || te->ne[1] > INT32_MAX)
    return fail(m, KERN_E_FORMAT,
                "tensor 'token_embd.weight' has shape [%" PRId64 ", %" PRId64 ", %" PRId64
                "], the embedding length is %" PRId64,
                te->ne[0], te->ne[1], te->ne[2], d);
  hp->n_vocab = (int)te->ne[1];
  int64_t V = hp->n_vocab;
  char k[160];
  const kern_meta *vs = kern_weights_get_meta(m->weights, key(k, sizeof k, m->arch, "vocab_size"));
  int64_t vsz;
  if (vs && (kern_meta_get_int(vs, &vsz) != 0 || vsz != V))
    return fail(m, KERN_E_FORMAT, "metadata '%s' contradicts the token embedding's %" PRId64 " rows", k, V);

  const kern_tensor_info *to = need(m, "output.weight", -1, d, V, 0, &rc);
  if (rc)
    return rc;
  const kern_tensor_info *tn = need(m, "output_norm.weight", -1, d, 1, 1, &rc);
  if (rc)
    return rc;
  const kern_tensor_info *rf = need(m, "rope_freqs.weight", -1, m->rope.n_rot / 2, 1, 0, &rc);
  if (rc)
    return rc;

  /* Shapes first (cheap, no allocation), then the uploads. */
  typedef struct {
    const kern_tensor_info *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm, *post_attn_norm;
    const kern_tensor_info *ffn_norm, *gate, *up, *down, *post_ffn_norm;
  } infos;
  infos *in = calloc((size_t)hp->n_layer, sizeof *in);
  if (!in)
    return fail(m, KERN_E_NOMEM, "out of memory");
  int g3 = m->kind == ARCH_GEMMA3;
  for (int li = 0; li < hp->n_layer && !rc; li++) {
    infos *I = &in[li];
    if (!(I->attn_norm = need(m, "attn_norm.weight", li, d, 1, 1, &rc)) ||
        !(I->wq = need(m, "attn_q.weight", li, d, nh * hd, 1, &rc)) ||
        !(I->wk = need(m, "attn_k.weight", li, d, nkv * hd, 1, &rc)) ||
        !(I->wv = need(m, "attn_v.weight", li, d, nkv * hd, 1, &rc)) ||
        !(I->wo = need(m, "attn_output.weight", li, nh * hd, d, 1, &rc)) ||
        !(I->ffn_norm = need(m, "ffn_norm.weight", li, d, 1, 1, &rc)) ||
        !(I->gate = need(m, "ffn_gate.weight", li, d, ff, 1, &rc)) ||
        !(I->up = need(m, "ffn_up.weight", li, d, ff, 1, &rc)) ||
        !(I->down = need(m, "ffn_down.weight", li, ff, d, 1, &rc)))
      break;
    /* biases: required by qwen2, accepted by every architecture */
    int nb = m->kind == ARCH_QWEN2;
    I->bq = need(m, "attn_q.bias", li, nh * hd, 1, nb, &rc);
    if (!rc) I->bk = need(m, "attn_k.bias", li, nkv * hd, 1, nb, &rc);
    if (!rc) I->bv = need(m, "attn_v.bias", li, nkv * hd, 1, nb, &rc);
    if (!rc && g3) {
      (void)((I->q_norm = need(m, "attn_q_norm.weight", li, hd, 1, 1, &rc)) &&
             (I->k_norm = need(m, "attn_k_norm.weight", li, hd, 1, 1, &rc)) &&
             (I->post_attn_norm = need(m, "post_attention_norm.weight", li, d, 1, 1, &rc)) &&
             (I->post_ffn_norm = need(m, "post_ffw_norm.weight", li, d, 1, 1, &rc)));
    }
  }
  if (rc) {
    free(in);
    return rc;
  }
  if (!kern_backend_supports(m->be, KERN_OP_GET_ROWS, te->type))
    rc = fail(m, KERN_E_UNSUPPORTED, "backend %s cannot read %s embeddings", kern_backend_name(m->be),
              kern_type_get_traits(te->type) ? kern_type_get_traits(te->type)->name : "?");
  if (!rc) rc = load_mat(m, &m->tok_embd, te);
  if (!rc) rc = to ? load_mat(m, &m->output, to) : 0;
  if (!rc && !to)
    m->output = m->tok_embd;
  if (!rc) rc = load_vec(m, &m->output_norm, tn);
  if (!rc && rf) {
    rc = load_vec(m, &m->rope_freqs, rf);
    m->rope.freq_factors = &m->rope_freqs;
  }
  for (int li = 0; li < hp->n_layer && !rc; li++) {
    infos *I = &in[li];
    layer *Ly = &m->layers[li];
    Ly->sliding = m->kind == ARCH_MISTRAL && m->swa_window > 0;
    rc = load_vec(m, &Ly->attn_norm, I->attn_norm);
    if (!rc) rc = load_mat(m, &Ly->wq, I->wq);
    if (!rc) rc = load_mat(m, &Ly->wk, I->wk);
    if (!rc) rc = load_mat(m, &Ly->wv, I->wv);
    if (!rc) rc = load_mat(m, &Ly->wo, I->wo);
    if (!rc && I->bq) rc = load_vec(m, &Ly->bq, I->bq);
    if (!rc && I->bk) rc = load_vec(m, &Ly->bk, I->bk);
    if (!rc && I->bv) rc = load_vec(m, &Ly->bv, I->bv);
    if (!rc) rc = load_vec(m, &Ly->ffn_norm, I->ffn_norm);
    if (!rc) rc = load_mat(m, &Ly->gate, I->gate);
    if (!rc) rc = load_mat(m, &Ly->up, I->up);
    if (!rc) rc = load_mat(m, &Ly->down, I->down);
    if (!rc && g3) {
      rc = load_vec(m, &Ly->q_norm, I->q_norm);
      if (!rc) rc = load_vec(m, &Ly->k_norm, I->k_norm);
      if (!rc) rc = load_vec(m, &Ly->post_attn_norm, I->post_attn_norm);
      if (!rc) rc = load_vec(m, &Ly->post_ffn_norm, I->post_ffn_norm);
      /* Gemma 3: five local (sliding-window) layers, then one global. */
      Ly->sliding = m->swa_window > 0 && (li + 1) % 6 != 0;
    }
  }
  free(in);
  return rc;
}

/* ---- context and scratch ------------------------------------------------------ */

/* Host memory available now (bytes), or 0 when unknown. */
static uint64_t
mem_available(void)
{
  FILE *f = fopen("/proc/meminfo", "r");
  if (f) {
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
        fclose(f);
        return (uint64_t)kb * 1024;
      }
    fclose(f);
  }
  long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

static kern_tensor *
new2d(llm_model *m, int type, int64_t n0, int64_t n1)
{
  return keep(m, kern_tensor_new_2d(m->be, type, n0, n1));
}

static kern_tensor *
new1d(llm_model *m, int type, int64_t n0)
{
  const int64_t ne[1] = { n0 };
  return keep(m, kern_tensor_new(m->be, type, 1, ne));
}

static void
free_cache(llm_model *m)
{
  /* The caches are the last tensors kept; drop them from the owned list. */
  for (int li = 0; li < m->hp.n_layer; li++) {
    layer *Ly = &m->layers[li];
    for (int i = m->n_owned - 1; i >= 0; i--)
      if (m->owned[i] == Ly->kc || m->owned[i] == Ly->vc) {
        kern_tensor_free(m->owned[i]);
        m->owned[i] = m->owned[--m->n_owned];
      }
    Ly->kc = Ly->vc = NULL;
  }
}

static int
alloc_cache(llm_model *m, int64_t want_ctx, int64_t ctx_train, size_t max_bytes)
{
  llm_hparams *hp = &m->hp;
  size_t row = kern_type_row_size(m->kv_type, hp->head_dim) * (size_t)hp->n_head_kv; /* one position */
  if (row == 0)
    return fail(m, KERN_E_INVAL, "a %s KV cache needs the head size (%d) to be a multiple of %d",
                kern_type_get_traits(m->kv_type)->name, hp->head_dim, kern_type_get_traits(m->kv_type)->block_size);
  int64_t n_ctx = want_ctx > 0 ? want_ctx : ctx_train;
  if (n_ctx > ctx_train) {
    warn(m, "context of %" PRId64 " positions capped to the model's trained %" PRId64, n_ctx, ctx_train);
    n_ctx = ctx_train;
  }
  uint64_t per_pos = 2 * (uint64_t)hp->n_layer * row;
  uint64_t budget = max_bytes;
  if (!budget && kern_backend_is_host(m->be))
    budget = mem_available() / 2;
  if (budget) {
    uint64_t max_ctx = budget / per_pos;
    if ((uint64_t)n_ctx > max_ctx) {
      if (max_ctx < MIN_CTX)
        return fail(m, KERN_E_NOMEM, "not enough memory for a KV cache (%.1f MiB allowed, %.1f KiB per position)",
                    (double)budget / (1 << 20), (double)per_pos / 1024);
      if (max_ctx >= 256)
        max_ctx = max_ctx / 256 * 256;
      warn(m, "context of %" PRId64 " positions needs %.1f GiB of KV cache; capped to %" PRIu64
              " positions (%.1f MiB allowed%s)",
           n_ctx, (double)per_pos * (double)n_ctx / (1 << 30), max_ctx, (double)budget / (1 << 20),
           max_bytes ? "" : ": half the available memory");
      n_ctx = (int64_t)max_ctx;
    }
  }
  for (;;) {
    int ok = 1;
    for (int li = 0; li < hp->n_layer && ok; li++) {
      const int64_t ne[3] = { hp->head_dim, hp->n_head_kv, n_ctx };
      layer *Ly = &m->layers[li];
      ok = (Ly->kc = keep(m, kern_tensor_new(m->be, m->kv_type, 3, ne))) &&
           (Ly->vc = keep(m, kern_tensor_new(m->be, m->kv_type, 3, ne)));
    }
    if (ok)
      break;
    free_cache(m);
    if (n_ctx / 2 < MIN_CTX)
      return fail_be(m, "KV cache");
    warn(m, "no memory for a KV cache of %" PRId64 " positions (%s); trying %" PRId64, n_ctx,
         kern_backend_errmsg(m->be), n_ctx / 2);
    n_ctx /= 2;
  }
  hp->n_ctx = (int)n_ctx;
  return 0;
}

static int
alloc_scratch(llm_model *m)
{
  llm_hparams *hp = &m->hp;
  int64_t B = hp->n_ctx < MAX_BATCH ? hp->n_ctx : MAX_BATCH;
  int64_t d = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim, kvd = (int64_t)hp->n_head_kv * hp->head_dim;
  m->B = (int)B;
  if (!(m->ids = new1d(m, KERN_TYPE_I32, B)) || !(m->pos = new1d(m, KERN_TYPE_I32, B)) || !(m->x = new2d(m, KERN_TYPE_F32, d, B)) ||
      !(m->h = new2d(m, KERN_TYPE_F32, d, B)) || !(m->q = new2d(m, KERN_TYPE_F32, qd, B)) ||
      !(m->att = new2d(m, KERN_TYPE_F32, qd, B)) || !(m->k = new2d(m, KERN_TYPE_F32, kvd, B)) ||
      !(m->v = new2d(m, KERN_TYPE_F32, kvd, B)) || !(m->g = new2d(m, KERN_TYPE_F32, hp->n_ff, B)) ||
      !(m->u = new2d(m, KERN_TYPE_F32, hp->n_ff, B)) || !(m->lx = new2d(m, KERN_TYPE_F32, d, MAX_LOGIT_ROWS)) ||
      !(m->logits = new2d(m, KERN_TYPE_F32, hp->n_vocab, MAX_LOGIT_ROWS)))
    return fail_be(m, "scratch buffers");
  return 0;
}

static kern_backend_t
make_backend(const llm_model_params *p, char **err)
{
  kern_backend_params bp = kern_backend_default_params();
  bp.n_threads = p->n_threads;
  const char *name = p->device ? p->device : "auto";
  if (p->gpu_layers == 0 && (strcmp(name, "auto") == 0 || strncmp(name, "cuda", 4) == 0))
    name = "cpu";
  return kern_backend_new(name, &bp, err);
}

static int
open_model(llm_model *m, const llm_model_params *p)
{
  int rc = read_arch(m);
  int64_t ctx_train = 0;
  if (!rc) rc = read_hparams(m, &ctx_train);
  if (rc)
    return rc;
  if (p->kv_type != KERN_TYPE_F16 && p->kv_type != KERN_TYPE_F32 && p->kv_type != KERN_TYPE_Q8_0)
    return fail(m, KERN_E_INVAL, "KV cache type %d is not one of F16, F32, Q8_0", p->kv_type);
  if (p->n_ctx < 0)
    return fail(m, KERN_E_INVAL, "n_ctx %d is negative", p->n_ctx);
  m->kv_type = p->kv_type;
  char *berr = NULL;
  m->be = make_backend(p, &berr);
  if (!m->be) {
    rc = fail(m, KERN_E_UNSUPPORTED, "%s", berr ? berr : "no backend");
    free(berr);
    return rc;
  }
  m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
  if (!m->layers)
    return fail(m, KERN_E_NOMEM, "out of memory");
  if ((rc = load_tensors(m)) || (rc = alloc_cache(m, p->n_ctx, ctx_train, p->max_kv_bytes)) || (rc = alloc_scratch(m)))
    return rc;
  return 0;
}

llm_model *
llm_model_open(const char *path, const llm_model_params *p, char **err)
{
  llm_model_params def = llm_model_default_params();
  if (!p)
    p = &def;
  if (err)
    *err = NULL;
  kern_weights *kw = kern_weights_open(path, err);
  if (kw && kern_weights_format(kw) == KERN_FORMAT_SAFETENSORS) {
    kw = llm_hf_view(kw, err); /* a Hugging Face directory, read as the GGUF it converts to */
  }
  if (!kw)
    return NULL;
  llm_model *m = calloc(1, sizeof *m);
  if (!m) {
    kern_weights_close(kw);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  m->weights = kw;
  m->on_warning = p->on_warning;
  m->should_abort = p->should_abort;
  m->user_data = p->user_data;
  int rc = kern_weights_format(kw) == KERN_FORMAT_GGUF
               ? open_model(m, p)
               : fail(m, KERN_E_FORMAT, "a %s file is not a GGUF language model",
                      kern_weights_format_name(kern_weights_format(kw)));
  if (rc) {
    if (err)
      *err = strdup(m->errmsg);
    llm_model_free(m);
    return NULL;
  }
  return m;
}

void
llm_model_free(llm_model *m)
{
  if (!m)
    return;
  for (int i = 0; i < m->n_owned; i++)
    kern_tensor_free(m->owned[i]);
  free(m->owned);
  free(m->layers);
  if (m->be)
    kern_backend_free(m->be);
  kern_weights_close(m->weights);
  free(m);
}

const char *
llm_model_errmsg(const llm_model *m)
{
  return m->errmsg[0] ? m->errmsg : "no error";
}

const kern_weights *
llm_model_weights(const llm_model *m)
{
  return m->weights;
}

const llm_hparams *
llm_model_hparams(const llm_model *m)
{
  return &m->hp;
}

const char *
llm_model_backend_name(const llm_model *m)
{
  return kern_backend_name(m->be);
}

int
llm_model_kv_count(const llm_model *m)
{
  return m->n_cached;
}

int
llm_model_kv_truncate(llm_model *m, int n_keep)
{
  if (n_keep < 0 || n_keep > m->n_cached)
    return fail(m, KERN_E_INVAL, "cannot keep %d positions of %d cached", n_keep, m->n_cached);
  m->n_cached = n_keep;
  return 0;
}

/* ---- forward ---------------------------------------------------------------------- */

#define OP(call)                  \
  do {                            \
    if ((call) != 0)              \
      return fail_be(m, #call);   \
  } while (0)

/* The first n columns of a [X, B] buffer. */
static kern_tensor
cols(const kern_tensor *t, int64_t n)
{
  return kern_tensor_slice(t, 0, n);
}

/* A [nh hd, n] buffer seen as [hd, nh, n]. */
static kern_tensor
heads(const kern_tensor *t, int64_t n, int64_t nh)
{
  kern_tensor s = kern_tensor_slice(t, 0, n);
  const int64_t ne[3] = { t->ne[0] / nh, nh, n };
  return kern_tensor_reshape(&s, 3, ne);
}

/* Causal attention of n queries at positions p0.. over the cache, with a
 * sliding window of `win` positions (0: none): query at p sees keys
 * max(0, p - win + 1) .. p. */
static int
attend(llm_model *m, layer *Ly, int64_t n, int64_t p0, int win)
{
  llm_hparams *hp = &m->hp;
  kern_tensor q = heads(m->q, n, hp->n_head), a = heads(m->att, n, hp->n_head);
  int64_t n_full = n; /* queries whose window starts at 0 */
  if (win > 0 && p0 + n > win)
    n_full = win - p0 > 0 ? win - p0 : 0;
  if (n_full > 0) {
    kern_tensor qs = kern_tensor_slice(&q, 0, n_full), as = kern_tensor_slice(&a, 0, n_full);
    kern_tensor kall = kern_tensor_slice(Ly->kc, 0, p0 + n_full), vall = kern_tensor_slice(Ly->vc, 0, p0 + n_full);
    OP(kern_attention(m->be, &as, &qs, &kall, &vall, m->attn_scale, 1, p0));
  }
  for (int64_t i = n_full; i < n; i++) {
    int64_t p = p0 + i, start = p - win + 1;
    kern_tensor qs = kern_tensor_slice(&q, i, 1), as = kern_tensor_slice(&a, i, 1);
    kern_tensor kw = kern_tensor_slice(Ly->kc, start, win), vw = kern_tensor_slice(Ly->vc, start, win);
    OP(kern_attention(m->be, &as, &qs, &kw, &vw, m->attn_scale, 1, win - 1));
  }
  return 0;
}

/* Runs the layers over the n rows now in m->x (positions p0..), filling the cache. */
static int
forward(llm_model *m, int64_t n, int64_t p0)
{
  llm_hparams *hp = &m->hp;
  kern_backend_t be = m->be;
  int64_t nh = hp->n_head, nkv = hp->n_head_kv, hd = hp->head_dim;
  int g3 = m->kind == ARCH_GEMMA3;
  int32_t posv[MAX_BATCH];
  for (int64_t i = 0; i < n; i++)
    posv[i] = (int32_t)(p0 + i);
  kern_tensor pos = cols(m->pos, n);
  if (kern_tensor_set(&pos, posv, 0, (size_t)n * sizeof(int32_t)) != 0)
    return fail_be(m, "positions upload");
  kern_tensor x = cols(m->x, n), h = cols(m->h, n), qf = cols(m->q, n), kf = cols(m->k, n), vf = cols(m->v, n);
  kern_tensor af = cols(m->att, n), g = cols(m->g, n), u = cols(m->u, n);
  for (int li = 0; li < hp->n_layer; li++) {
    if (m->should_abort && m->should_abort(m->user_data))
      return fail(m, KERN_E_ABORTED, "decode aborted at layer %d", li);
    layer *Ly = &m->layers[li];
    const kern_rope_params *rp = Ly->sliding ? &m->rope_local : &m->rope;
    OP(kern_rmsnorm(be, &h, &x, &Ly->attn_norm, m->eps));
    OP(kern_matmul(be, &qf, &Ly->wq, &h, Ly->bq.data ? &Ly->bq : NULL));
    OP(kern_matmul(be, &kf, &Ly->wk, &h, Ly->bk.data ? &Ly->bk : NULL));
    OP(kern_matmul(be, &vf, &Ly->wv, &h, Ly->bv.data ? &Ly->bv : NULL));
    kern_tensor qh = heads(m->q, n, nh), kh = heads(m->k, n, nkv), vh = heads(m->v, n, nkv);
    if (g3) {
      const int64_t qne[2] = { hd, nh * n }, kne[2] = { hd, nkv * n };
      kern_tensor q2 = kern_tensor_reshape(&qf, 2, qne), k2 = kern_tensor_reshape(&kf, 2, kne);
      OP(kern_rmsnorm(be, &q2, &q2, &Ly->q_norm, m->eps));
      OP(kern_rmsnorm(be, &k2, &k2, &Ly->k_norm, m->eps));
    }
    OP(kern_rope(be, &qh, &qh, &pos, rp));
    OP(kern_rope(be, &kh, &kh, &pos, rp));
    kern_tensor kdst = kern_tensor_slice(Ly->kc, p0, n), vdst = kern_tensor_slice(Ly->vc, p0, n);
    OP(kern_copy(be, &kdst, &kh));
    OP(kern_copy(be, &vdst, &vh));
    int rc = attend(m, Ly, n, p0, Ly->sliding ? m->swa_window : 0);
    if (rc)
      return rc;
    OP(kern_matmul(be, &h, &Ly->wo, &af, NULL));
    if (g3)
      OP(kern_rmsnorm(be, &h, &h, &Ly->post_attn_norm, m->eps));
    OP(kern_add(be, &x, &x, &h));
    OP(kern_rmsnorm(be, &h, &x, &Ly->ffn_norm, m->eps));
    OP(kern_matmul(be, &g, &Ly->gate, &h, NULL));
    OP(kern_matmul(be, &u, &Ly->up, &h, NULL));
    if (g3) {
      OP(kern_unary(be, &g, &g, KERN_UNARY_GELU_TANH));
      OP(kern_mul(be, &g, &g, &u));
    } else {
      OP(kern_swiglu(be, &g, &g, &u));
    }
    OP(kern_matmul(be, &h, &Ly->down, &g, NULL));
    if (g3)
      OP(kern_rmsnorm(be, &h, &h, &Ly->post_ffn_norm, m->eps));
    OP(kern_add(be, &x, &x, &h));
  }
  return 0;
}

/* Logits of rows [r0, r0 + cnt) of m->x into out ([cnt, V] floats on the host). */
static int
output_rows(llm_model *m, int64_t r0, int64_t cnt, float *out)
{
  int64_t V = m->hp.n_vocab;
  for (int64_t i = 0; i < cnt; i += MAX_LOGIT_ROWS) {
    int64_t c = cnt - i < MAX_LOGIT_ROWS ? cnt - i : MAX_LOGIT_ROWS;
    kern_tensor src = kern_tensor_slice(m->x, r0 + i, c), dst = cols(m->lx, c), lg = cols(m->logits, c);
    OP(kern_rmsnorm(m->be, &dst, &src, &m->output_norm, m->eps));
    OP(kern_matmul(m->be, &lg, &m->output, &dst, NULL));
    if (kern_tensor_get(&lg, out + i * V, 0, (size_t)(c * V) * sizeof(float)) != 0)
      return fail_be(m, "logits download");
  }
  return 0;
}

static int
decode_any(llm_model *m, const int32_t *tokens, const float *embd, int n, int n_past, float *logits, int all_logits)
{
  llm_hparams *hp = &m->hp;
  m->errmsg[0] = 0;
  if (!tokens && !embd)
    return fail(m, KERN_E_INVAL, "no input");
  if (n < 1)
    return fail(m, KERN_E_INVAL, "%d tokens to decode", n);
  if (n_past < 0 || n_past > m->n_cached)
    return fail(m, KERN_E_INVAL, "n_past %d is outside 0..%d (the positions cached)", n_past, m->n_cached);
  if ((int64_t)n_past + n > hp->n_ctx)
    return fail(m, KERN_E_INVAL, "%d + %d positions exceed the context of %d", n_past, n, hp->n_ctx);
  for (int i = 0; tokens && i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
      return fail(m, KERN_E_INVAL, "token %d (at %d) is outside the vocabulary of %d", tokens[i], i, hp->n_vocab);
  m->n_cached = n_past;
  int64_t d = hp->n_embd;
  for (int i = 0; i < n; i += m->B) {
    int cnt = n - i < m->B ? n - i : m->B;
    kern_tensor x = cols(m->x, cnt);
    if (tokens) {
      kern_tensor ids = cols(m->ids, cnt);
      if (kern_tensor_set(&ids, tokens + i, 0, (size_t)cnt * sizeof(int32_t)) != 0)
        return fail_be(m, "token upload");
      OP(kern_get_rows(m->be, &x, &m->tok_embd, &ids));
      if (m->embd_scale > 0)
        OP(kern_scale(m->be, &x, &x, m->embd_scale));
    } else if (kern_tensor_set(&x, embd + (size_t)i * (size_t)d, 0, (size_t)cnt * (size_t)d * sizeof(float)) != 0) {
      return fail_be(m, "embedding upload");
    }
    int rc = forward(m, cnt, n_past + i);
    if (rc)
      return rc;
    m->n_cached = n_past + i + cnt;
    if (logits && all_logits)
      rc = output_rows(m, 0, cnt, logits + (size_t)i * (size_t)hp->n_vocab);
    else if (logits && i + cnt == n)
      rc = output_rows(m, cnt - 1, 1, logits);
    if (rc)
      return rc;
  }
  return 0;
}

int
llm_model_decode(llm_model *m, const int32_t *tokens, int n, int n_past, float *logits, int all_logits)
{
  if (!tokens)
    return fail(m, KERN_E_INVAL, "no tokens");
  return decode_any(m, tokens, NULL, n, n_past, logits, all_logits);
}

int
llm_model_decode_embd(llm_model *m, const float *embd, int n, int n_past, float *logits, int all_logits)
{
  if (!embd)
    return fail(m, KERN_E_INVAL, "no embeddings");
  return decode_any(m, NULL, embd, n, n_past, logits, all_logits);
}
