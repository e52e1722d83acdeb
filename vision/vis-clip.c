/* vis-clip.c: CLIP ViT tower + LLaVA / linear projector on the kernels/ backends.
 *
 * Dimensions: D = n_embd (tower width), nh heads of hd = D / nh, F = n_ff,
 * P = patch_size, S = image_size, G = S / P patches per side, T = G*G + 1
 * positions (class token first), E = projector output width (the LLM's).
 * Layouts as kern-backend.h: [a, b] is ne0 = a, so activations are [D, T].
 *
 * The two file layouts are read into one set of tensors here: names are
 * looked up through a table of (mmproj name, Hugging Face name) and every
 * shape is checked against the hyperparameters before anything is loaded.
 */
#include "vis-clip.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-backend.h"
#include "kern-json.h"
#include "kern-weights.h"

#define MAX_LAYERS 256

typedef struct {
  kern_tensor ln1_w, ln1_b, ln2_w, ln2_b; /* [D] */
  kern_tensor wq, wk, wv, wo;             /* [D, D] any weight type */
  kern_tensor bq, bk, bv, bo;             /* [D] */
  kern_tensor fc1, fc2;                   /* [D, F], [F, D] */
  kern_tensor fc1_b, fc2_b;               /* [F], [D] */
} layer;

struct vis_clip {
  kern_weights *weights;
  int hf;              /* Hugging Face names (else mmproj) */
  char tower[64];      /* HF: prefix of the tower's tensors ("vision_tower.vision_model.") */
  char proj[64];       /* HF: prefix of the projector's ("multi_modal_projector.") */
  vis_clip_hparams hp;
  kern_backend_t be;
  int (*should_abort)(void *user_data);
  void *user_data;
  char errmsg[1024];

  kern_tensor patch_w;        /* [P, P, 3, D] F32 */
  kern_tensor patch_b;        /* [D] or .data NULL */
  kern_tensor class_embd;     /* [D] */
  kern_tensor pos_embd;       /* [D, T] F32 */
  kern_tensor pre_w, pre_b;   /* [D] or .data NULL (no pre-norm) */
  kern_tensor post_w, post_b; /* [D] or .data NULL */
  layer *layers;              /* [n_layer] (only those run) */
  kern_tensor mm0, mm0_b;     /* [D, E] (+ [E]) */
  kern_tensor mm2, mm2_b;     /* MLP: [E, E] (+ [E]) */

  /* scratch */
  kern_tensor *img;           /* [S, S, 3] */
  kern_tensor *x, *h;         /* [D, T] */
  kern_tensor *q, *k, *v, *a; /* [D, T] */
  kern_tensor *f;             /* [F, T] */
  kern_tensor *e1, *e2;       /* [E, T] */

  kern_tensor **owned;
  int n_owned, cap_owned;
};

__attribute__((format(printf, 3, 4))) static int
fail(vis_clip *c, int code, const char *fmt, ...)
{
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", c->weights ? kern_weights_path(c->weights) : "clip", msg);
  return code;
}

static int
fail_be(vis_clip *c, const char *what)
{
  return fail(c, KERN_E_DEVICE, "%s: %s", what, c->be ? kern_backend_errmsg(c->be) : "no backend");
}

vis_clip_params
vis_clip_default_params(void)
{
  vis_clip_params p = { 0 };
  p.device = "auto";
  return p;
}

/* ---- metadata ------------------------------------------------------------ */

/* An integer from the first key present; fallback when none is. -1 with an
 * error when present but not an integer in [lo, hi]. */
static int
meta_int(vis_clip *c, const char *const *keys, int64_t fallback, int64_t lo, int64_t hi, int64_t *out)
{
  for (int i = 0; keys[i]; i++) {
    const kern_meta *m = kern_weights_get_meta(c->weights, keys[i]);
    if (!m || m->type == KERN_META_NULL)
      continue;
    if (kern_meta_get_int(m, out) != 0 || *out < lo || *out > hi)
      return fail(c, KERN_E_FORMAT, "%s is not an integer in %" PRId64 "..%" PRId64, keys[i], lo, hi);
    return 0;
  }
  *out = fallback;
  return 0;
}

static int
meta_float(vis_clip *c, const char *const *keys, double fallback, double lo, double hi, double *out)
{
  for (int i = 0; keys[i]; i++) {
    const kern_meta *m = kern_weights_get_meta(c->weights, keys[i]);
    if (!m || m->type == KERN_META_NULL)
      continue;
    if (kern_meta_get_float(m, out) != 0 || !(*out >= lo && *out <= hi))
      return fail(c, KERN_E_FORMAT, "%s is not a number in %g..%g", keys[i], lo, hi);
    return 0;
  }
  *out = fallback;
  return 0;
}

static const char *
meta_str(vis_clip *c, const char *key)
{
  return kern_weights_get_string(c->weights, key, NULL);
}

/* ---- tensors ------------------------------------------------------------- */

static kern_tensor *
keep(vis_clip *c, kern_tensor *t)
{
  if (!t)
    return NULL;
  if (c->n_owned == c->cap_owned) {
    int cap = c->cap_owned ? 2 * c->cap_owned : 64;
    kern_tensor **p = realloc(c->owned, (size_t)cap * sizeof *p);
    if (!p) {
      kern_tensor_free(t);
      return NULL;
    }
    c->owned = p, c->cap_owned = cap;
  }
  c->owned[c->n_owned++] = t;
  return t;
}

/* Tensor names: the mmproj one (layer %d where needed) and its Hugging Face
 * suffix under the tower's or the projector's prefix. */
typedef enum { IN_TOWER, IN_PROJ } hf_part;

/* pattern with its "%d" (if any) replaced by li */
static void
with_layer(char *dst, size_t size, const char *pattern, int li)
{
  const char *d = strstr(pattern, "%d");
  if (d)
    snprintf(dst, size, "%.*s%d%s", (int)(d - pattern), pattern, li, d + 2);
  else
    snprintf(dst, size, "%s", pattern);
}

static const kern_tensor_info *
lookup(vis_clip *c, const char *gg, const char *hf, hf_part part, int li, char *name, size_t name_size)
{
  char tmp[160];
  if (c->hf) {
    with_layer(tmp, sizeof tmp, hf, li);
    snprintf(name, name_size, "%s%s", part == IN_TOWER ? c->tower : c->proj, tmp);
  } else {
    with_layer(name, name_size, gg, li);
  }
  return kern_weights_find(c->weights, name);
}

/* The tensor with n0 x n1 values in shape [n0, n1] (n1 = 0: a vector of n0
 * values, whatever its dimensions). NULL: missing (an error when required)
 * or misshapen (always an error; *rc says which). */
static const kern_tensor_info *
need(vis_clip *c, const char *gg, const char *hf, hf_part part, int li, int64_t n0, int64_t n1, int required, int *rc)
{
  char name[224];
  const kern_tensor_info *t = lookup(c, gg, hf, part, li, name, sizeof name);
  if (!t) {
    if (required)
      *rc = fail(c, KERN_E_FORMAT, "tensor '%s' is missing", name);
    return NULL;
  }
  char msg[320];
  if (kern_tensor_check_shape(t, n0, n1, msg, sizeof msg) != 0) {
    *rc = fail(c, KERN_E_FORMAT, "%s", msg);
    return NULL;
  }
  return t;
}

/* Any tensor as F32 on the backend, reshaped to n_dims/ne. */
static int
load_f32(vis_clip *c, kern_tensor *out, const kern_tensor_info *info, int n_dims, const int64_t *ne)
{
  int64_t n = kern_tensor_nelements(info);
  float *tmp = malloc((size_t)n * sizeof *tmp);
  if (!tmp)
    return fail(c, KERN_E_NOMEM, "out of memory");
  if (kern_dequantize_row(info->type, info->data, tmp, n) != 0) {
    free(tmp);
    return fail(c, KERN_E_FORMAT, "tensor '%s' has a type that cannot be read as numbers", info->name);
  }
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(tmp[i])) {
      free(tmp);
      return fail(c, KERN_E_FORMAT, "tensor '%s' holds a NaN or infinity", info->name);
    }
  kern_tensor *t = keep(c, kern_tensor_new(c->be, KERN_TYPE_F32, n_dims, ne));
  int rc = t ? kern_tensor_set(t, tmp, 0, t->nbytes) : KERN_E_NOMEM;
  free(tmp);
  if (rc)
    return fail_be(c, info->name);
  *out = *t;
  return 0;
}

static int
load_vec(vis_clip *c, kern_tensor *out, const kern_tensor_info *info)
{
  const int64_t ne[1] = { kern_tensor_nelements(info) };
  return load_f32(c, out, info, 1, ne);
}

/* A matmul weight, kept in its stored type. */
static int
load_mat(vis_clip *c, kern_tensor *out, const kern_tensor_info *info)
{
  const kern_type_traits *tr = kern_type_get_traits(info->type);
  if (!tr || (!tr->is_quantized && info->type != KERN_TYPE_F32 && info->type != KERN_TYPE_F16 &&
              info->type != KERN_TYPE_BF16) ||
      info->type == KERN_TYPE_Q8_K)
    return fail(c, KERN_E_FORMAT, "tensor '%s' has type %s, which is not a weight type", info->name,
                tr ? tr->name : "?");
  if (!kern_backend_supports(c->be, KERN_OP_MATMUL, info->type))
    return fail(c, KERN_E_UNSUPPORTED, "tensor '%s': backend %s has no matmul for %s weights", info->name,
                kern_backend_name(c->be), tr->name);
  kern_tensor *t = keep(c, kern_tensor_from_weights(c->be, info));
  if (!t)
    return fail_be(c, info->name);
  const int64_t ne[2] = { t->ne[0], t->ne[1] };
  *out = t->n_dims > 2 ? kern_tensor_reshape(t, 2, ne) : *t;
  return 0;
}

/* Loads a [n0, n1] matrix and its optional (or required) [n1] bias. */
static int
load_linear(vis_clip *c, const char *gg, const char *hf, hf_part part, int li, int64_t n0, int64_t n1, int bias_required,
            kern_tensor *w, kern_tensor *b)
{
  char wn[96], bn[96], gw[96], gb[96];
  snprintf(gw, sizeof gw, "%s.weight", gg), snprintf(gb, sizeof gb, "%s.bias", gg);
  snprintf(wn, sizeof wn, "%s.weight", hf), snprintf(bn, sizeof bn, "%s.bias", hf);
  int rc = 0;
  const kern_tensor_info *ti = need(c, gw, wn, part, li, n0, n1, 1, &rc);
  if (!ti)
    return rc;
  if ((rc = load_mat(c, w, ti)))
    return rc;
  const kern_tensor_info *bi = need(c, gb, bn, part, li, n1, 0, bias_required, &rc);
  if (rc)
    return rc;
  memset(b, 0, sizeof *b);
  return bi ? load_vec(c, b, bi) : 0;
}

static int
load_norm(vis_clip *c, const char *gg, const char *hf, int li, int64_t n, int required, kern_tensor *w, kern_tensor *b)
{
  char wn[96], bn[96], gw[96], gb[96];
  snprintf(gw, sizeof gw, "%s.weight", gg), snprintf(gb, sizeof gb, "%s.bias", gg);
  snprintf(wn, sizeof wn, "%s.weight", hf), snprintf(bn, sizeof bn, "%s.bias", hf);
  int rc = 0;
  memset(w, 0, sizeof *w), memset(b, 0, sizeof *b);
  const kern_tensor_info *wi = need(c, gw, wn, IN_TOWER, li, n, 0, required, &rc);
  if (!wi)
    return rc;
  const kern_tensor_info *bi = need(c, gb, bn, IN_TOWER, li, n, 0, 1, &rc);
  if (!bi)
    return rc;
  if ((rc = load_vec(c, w, wi)) || (rc = load_vec(c, b, bi)))
    return rc;
  return 0;
}

/* ---- hyperparameters ------------------------------------------------------- */

static const char *const hf_towers[] = {
  "vision_tower.vision_model.", "model.vision_tower.vision_model.", "vision_tower.", "model.vision_tower.",
  "vision_model.", NULL,
};
static const char *const hf_projs[] = { "multi_modal_projector.", "model.multi_modal_projector.", NULL };

/* Finds the tower's prefix in a Hugging Face directory. */
static int
find_hf_prefixes(vis_clip *c)
{
  char name[160];
  for (int i = 0; hf_towers[i]; i++) {
    snprintf(name, sizeof name, "%sembeddings.patch_embedding.weight", hf_towers[i]);
    if (kern_weights_find(c->weights, name)) {
      snprintf(c->tower, sizeof c->tower, "%s", hf_towers[i]);
      break;
    }
  }
  if (!c->tower[0])
    return fail(c, KERN_E_FORMAT, "no CLIP vision tower in this model (no *embeddings.patch_embedding.weight)");
  for (int i = 0; hf_projs[i]; i++) {
    snprintf(name, sizeof name, "%slinear_1.weight", hf_projs[i]);
    if (kern_weights_find(c->weights, name)) {
      snprintf(c->proj, sizeof c->proj, "%s", hf_projs[i]);
      break;
    }
  }
  return 0;
}

/* Reads mean/std from a GGUF array key into dst[3]; keeps dst when absent. */
static int
meta_rgb(vis_clip *c, const char *key, float *dst)
{
  const kern_meta *m = kern_weights_get_meta(c->weights, key);
  if (!m)
    return 0;
  if (m->type != KERN_META_ARRAY || m->n != 3)
    return fail(c, KERN_E_FORMAT, "%s is not an array of 3 numbers", key);
  for (int i = 0; i < 3; i++) {
    double v;
    if (kern_meta_array_float(m, (uint64_t)i, &v) != 0 || !isfinite(v))
      return fail(c, KERN_E_FORMAT, "%s is not an array of 3 numbers", key);
    dst[i] = (float)v;
  }
  return 0;
}

/* preprocessor_config.json beside a Hugging Face model, when there is one. */
static int
read_hf_preprocessor(vis_clip *c, const char *dir)
{
  vis_preprocess_params *pp = &c->hp.preprocess;
  char path[4096];
  snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0; /* the model's image size and CLIP's mean/std */
  char *text = NULL;
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
      (text = malloc((size_t)len + 1)) && fread(text, 1, (size_t)len, f) != (size_t)len)
    len = -1;
  fclose(f);
  if (!text || len < 0) {
    free(text);
    return fail(c, KERN_E_IO, "cannot read %s", path);
  }
  char jerr[160];
  kern_json *j = kern_json_parse(text, (size_t)len, jerr, sizeof jerr);
  free(text);
  if (!j)
    return fail(c, KERN_E_FORMAT, "%s: %s", path, jerr);
  const kern_json_value *root = kern_json_root(j), *v;
  int rc = 0;
  const char *keys[2] = { "image_mean", "image_std" };
  float *dst[2] = { pp->mean, pp->std };
  for (int k = 0; k < 2 && !rc; k++)
    if ((v = kern_json_get(root, keys[k]))) {
      if (v->type != KERN_JSON_ARRAY || v->n != 3)
        rc = fail(c, KERN_E_FORMAT, "%s: %s is not an array of 3 numbers", path, keys[k]);
      for (size_t i = 0; !rc && i < 3; i++) {
        if (v->items[i].type != KERN_JSON_NUMBER || !(k == 0 || v->items[i].number > 0))
          rc = fail(c, KERN_E_FORMAT, "%s: %s is not an array of 3 numbers", path, keys[k]);
        else
          dst[k][i] = (float)v->items[i].number;
      }
    }
  const kern_json_value *size = kern_json_get(root, "size"), *crop = kern_json_get(root, "crop_size");
  if (!rc && size) {
    const kern_json_value *se = size->type == KERN_JSON_OBJECT ? kern_json_get(size, "shortest_edge") : size;
    const kern_json_value *hh = size->type == KERN_JSON_OBJECT ? kern_json_get(size, "height") : NULL;
    if (se && se->type == KERN_JSON_NUMBER && se->is_int && se->integer > 0 && se->integer <= 8192)
      pp->shortest_edge = (int)se->integer;
    else if (hh && hh->type == KERN_JSON_NUMBER && hh->is_int && hh->integer > 0 && hh->integer <= 8192) {
      pp->shortest_edge = (int)hh->integer;
      pp->fit = VIS_FIT_STRETCH;
    } else
      rc = fail(c, KERN_E_FORMAT, "%s: size is neither a shortest_edge nor a height", path);
  }
  if (!rc && crop) {
    const kern_json_value *ch = crop->type == KERN_JSON_OBJECT ? kern_json_get(crop, "height") : crop;
    const kern_json_value *cw = crop->type == KERN_JSON_OBJECT ? kern_json_get(crop, "width") : crop;
    if (ch && cw && ch->type == KERN_JSON_NUMBER && cw->type == KERN_JSON_NUMBER && ch->is_int && cw->is_int &&
        ch->integer > 0 && ch->integer <= 8192 && cw->integer > 0 && cw->integer <= 8192)
      pp->crop_height = (int)ch->integer, pp->crop_width = (int)cw->integer;
    else
      rc = fail(c, KERN_E_FORMAT, "%s: crop_size is not a height and width", path);
  }
  /* LLaVA's pad-to-square ("do_pad" of LlavaImageProcessor). */
  if (!rc && (v = kern_json_get(root, "do_pad")) && v->type == KERN_JSON_BOOL && v->boolean)
    pp->fit = VIS_FIT_PAD;
  if (!rc && (v = kern_json_get(root, "image_aspect_ratio")) && v->type == KERN_JSON_STRING &&
      strcmp(v->str, "pad") == 0)
    pp->fit = VIS_FIT_PAD;
  kern_json_free(j);
  return rc;
}

/* Hyperparameters of either layout; shapes come from the tensors where the
 * metadata may be silent (Hugging Face omits defaults), and are checked
 * against whatever the metadata does say. */
static int
read_hparams(vis_clip *c, const char *path)
{
  vis_clip_hparams *hp = &c->hp;
  int rc;
  int64_t v;
  double f;
  char name[224];
  if (!c->hf) {
    const char *arch = meta_str(c, "general.architecture");
    if (!arch || strcmp(arch, "clip") != 0)
      return fail(c, KERN_E_FORMAT, "general.architecture is '%s', not 'clip' (is this an mmproj file?)",
                  arch ? arch : "(none)");
  }
  const kern_tensor_info *pe = lookup(c, "v.patch_embd.weight", "embeddings.patch_embedding.weight", IN_TOWER, 0,
                                      name, sizeof name);
  if (!pe)
    return fail(c, KERN_E_FORMAT, "tensor '%s' is missing", name);
  if (pe->n_dims != 4 || pe->ne[2] != 3 || pe->ne[0] != pe->ne[1] || pe->ne[0] < 1 || pe->ne[0] > 64 ||
      pe->ne[3] < 1 || pe->ne[3] > 16384)
    return fail(c, KERN_E_FORMAT,
                "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                "], not [P, P, 3, width]",
                name, pe->ne[0], pe->ne[1], pe->ne[2], pe->ne[3]);
  int64_t P = pe->ne[0], D = pe->ne[3];
  const kern_tensor_info *pos = lookup(c, "v.position_embd.weight", "embeddings.position_embedding.weight", IN_TOWER, 0,
                                       name, sizeof name);
  if (!pos)
    return fail(c, KERN_E_FORMAT, "tensor '%s' is missing", name);
  if (pos->ne[0] != D || pos->ne[2] != 1 || pos->ne[3] != 1)
    return fail(c, KERN_E_FORMAT, "tensor '%s' has rows of %" PRId64 ", the patch embedding's width is %" PRId64,
                name, pos->ne[0], D);
  int64_t T = pos->ne[1], G = (int64_t)llround(sqrt((double)(T - 1)));
  if (T < 2 || G * G != T - 1)
    return fail(c, KERN_E_FORMAT, "tensor '%s' has %" PRId64 " positions, not a class token and a square of patches",
                name, T);

  const char *const k_size[] = { "clip.vision.image_size", "config.vision_config.image_size", "config.image_size", NULL };
  const char *const k_patch[] = { "clip.vision.patch_size", "config.vision_config.patch_size", "config.patch_size", NULL };
  const char *const k_embd[] = { "clip.vision.embedding_length", "config.vision_config.hidden_size",
                                 "config.hidden_size", NULL };
  const char *const k_head[] = { "clip.vision.attention.head_count", "config.vision_config.num_attention_heads",
                                 "config.num_attention_heads", NULL };
  const char *const k_ff[] = { "clip.vision.feed_forward_length", "config.vision_config.intermediate_size",
                               "config.intermediate_size", NULL };
  const char *const k_eps[] = { "clip.vision.attention.layer_norm_epsilon", "config.vision_config.layer_norm_eps",
                                "config.layer_norm_eps", NULL };
  const char *const k_layers[] = { "clip.vision.block_count", "config.vision_config.num_hidden_layers",
                                   "config.num_hidden_layers", NULL };
  if ((rc = meta_int(c, k_size, G * P, 1, 16384, &v)))
    return rc;
  if (v != G * P)
    return fail(c, KERN_E_FORMAT, "image size %" PRId64 " contradicts %" PRId64 " patches of %" PRId64 " per side", v,
                G, P);
  hp->image_size = (int)v;
  if ((rc = meta_int(c, k_patch, P, 1, 64, &v)))
    return rc;
  if (v != P)
    return fail(c, KERN_E_FORMAT, "patch size %" PRId64 " contradicts the patch embedding's %" PRId64, v, P);
  hp->patch_size = (int)P;
  if ((rc = meta_int(c, k_embd, D, 1, 16384, &v)))
    return rc;
  if (v != D)
    return fail(c, KERN_E_FORMAT, "embedding length %" PRId64 " contradicts the patch embedding's width %" PRId64, v,
                D);
  hp->n_embd = (int)D;
  /* CLIPVisionConfig's default is 12 heads (the mmproj format always says). */
  if ((rc = meta_int(c, k_head, c->hf ? 12 : -1, 1, 1024, &v)))
    return rc;
  if (v < 1)
    return fail(c, KERN_E_FORMAT, "clip.vision.attention.head_count is missing");
  if (D % v != 0)
    return fail(c, KERN_E_FORMAT, "%" PRId64 " heads do not divide the width %" PRId64, v, D);
  hp->n_head = (int)v;
  if ((rc = meta_float(c, k_eps, 1e-5, 0, 1, &f)))
    return rc;
  hp->eps = (float)f;

  /* Layers: count the first layer norms present. */
  int n_file = 0;
  for (; n_file < MAX_LAYERS; n_file++)
    if (!lookup(c, "v.blk.%d.ln1.weight", "encoder.layers.%d.layer_norm1.weight", IN_TOWER, n_file, name, sizeof name))
      break;
  if (n_file == 0)
    return fail(c, KERN_E_FORMAT, "the vision tower has no layers");
  if ((rc = meta_int(c, k_layers, n_file, 1, MAX_LAYERS, &v)))
    return rc;
  if (v > n_file)
    return fail(c, KERN_E_FORMAT, "the file says %" PRId64 " layers and holds %d", v, n_file);
  hp->n_layer_file = (int)v;
  const kern_tensor_info *fc1 = lookup(c, "v.blk.%d.ffn_up.weight", "encoder.layers.%d.mlp.fc1.weight", IN_TOWER, 0,
                                       name, sizeof name);
  if (!fc1)
    return fail(c, KERN_E_FORMAT, "tensor '%s' is missing", name);
  if ((rc = meta_int(c, k_ff, fc1->ne[1], 1, 1 << 20, &v)))
    return rc;
  if (v != fc1->ne[1])
    return fail(c, KERN_E_FORMAT, "feed-forward length %" PRId64 " contradicts '%s' (%" PRId64 ")", v, name,
                fc1->ne[1]);
  hp->n_ff = (int)v;

  /* Activation, feature layer, class token. */
  hp->keep_class = 0;
  hp->post_norm = 0;
  int64_t feature = -1; /* hidden_states index: 0 = embeddings, k = after layer k */
  if (c->hf) {
    const char *act = meta_str(c, "config.vision_config.hidden_act");
    if (!act)
      act = meta_str(c, "config.hidden_act");
    if (!act)
      act = "quick_gelu";
    if (strcmp(act, "quick_gelu") == 0)
      hp->use_gelu = 0;
    else if (strcmp(act, "gelu") == 0)
      hp->use_gelu = 1;
    else
      return fail(c, KERN_E_UNSUPPORTED, "vision activation '%s' is not supported (quick_gelu, gelu)", act);
    const kern_meta *fl = kern_weights_get_meta(c->weights, "config.vision_feature_layer");
    if (fl && fl->type == KERN_META_ARRAY)
      return fail(c, KERN_E_UNSUPPORTED, "features concatenated from several layers are not supported");
    const char *const k_fl[] = { "config.vision_feature_layer", NULL };
    if ((rc = meta_int(c, k_fl, c->proj[0] ? -2 : -1, -(int64_t)n_file - 1, n_file, &v)))
      return rc;
    feature = v < 0 ? n_file + 1 + v : v;
    const char *sel = meta_str(c, "config.vision_feature_select_strategy");
    if (sel && strcmp(sel, "full") == 0)
      hp->keep_class = 1;
    else if (sel && strcmp(sel, "default") != 0)
      return fail(c, KERN_E_UNSUPPORTED, "vision_feature_select_strategy '%s' is not supported", sel);
    if (!c->proj[0])
      hp->keep_class = 1; /* a bare CLIP model: all positions */
  } else {
    hp->use_gelu = kern_weights_get_int(c->weights, "clip.use_gelu", 0) != 0;
    const kern_meta *fl = kern_weights_get_meta(c->weights, "clip.vision.feature_layer");
    if (fl) {
      int64_t best = -1;
      for (uint64_t i = 0; fl->type == KERN_META_ARRAY && i < fl->n; i++) {
        int64_t x;
        if (kern_meta_array_int(fl, i, &x) != 0)
          return fail(c, KERN_E_FORMAT, "clip.vision.feature_layer is not an array of integers");
        if (x > best)
          best = x;
      }
      if (fl->type != KERN_META_ARRAY || fl->n != 1)
        return fail(c, KERN_E_UNSUPPORTED, "features concatenated from several layers are not supported");
      feature = best < 0 ? hp->n_layer_file + 1 + best : best;
    } else {
      feature = hp->n_layer_file;
      hp->post_norm = 1; /* when the file has v.post_ln, llama.cpp applies it */
    }
  }
  if (feature < 0 || feature > hp->n_layer_file)
    return fail(c, KERN_E_FORMAT, "the feature layer (%" PRId64 ") is outside the %d layers", feature, hp->n_layer_file);
  hp->n_layer = (int)feature;

  /* Projector. */
  const kern_tensor_info *m0 = lookup(c, "mm.0.weight", "linear_1.weight", IN_PROJ, 0, name, sizeof name);
  if (c->hf && !c->proj[0])
    m0 = NULL;
  const kern_tensor_info *m2 = m0 ? lookup(c, "mm.2.weight", "linear_2.weight", IN_PROJ, 0, name, sizeof name) : NULL;
  if (!c->hf) {
    const char *pt = meta_str(c, "clip.projector_type");
    if (pt && strcmp(pt, "mlp") != 0 && strcmp(pt, "linear") != 0)
      return fail(c, KERN_E_UNSUPPORTED, "projector type '%s' is not supported (mlp, linear)", pt);
    if (!m0)
      return fail(c, KERN_E_FORMAT, "tensor 'mm.0.weight' is missing (no projector)");
  }
  if (!m0) {
    hp->projector = VIS_PROJ_NONE;
    hp->n_out = (int)D;
  } else {
    if (m0->ne[0] != D || m0->ne[2] != 1 || m0->ne[3] != 1 || m0->ne[1] < 1 || m0->ne[1] > 65536)
      return fail(c, KERN_E_FORMAT, "the projector's first layer has rows of %" PRId64 ", the tower's width is %" PRId64,
                  m0->ne[0], D);
    hp->projector = m2 ? VIS_PROJ_MLP : VIS_PROJ_LINEAR;
    hp->n_out = (int)(m2 ? m2->ne[1] : m0->ne[1]);
    const char *act = c->hf ? meta_str(c, "config.projector_hidden_act") : NULL;
    if (act && strcmp(act, "gelu") != 0)
      return fail(c, KERN_E_UNSUPPORTED, "projector activation '%s' is not supported (gelu)", act);
    int64_t text_d;
    const char *const k_td[] = { "config.text_config.hidden_size", NULL };
    if (c->hf && (rc = meta_int(c, k_td, hp->n_out, 1, 1 << 20, &text_d)))
      return rc;
    if (c->hf && text_d != hp->n_out)
      return fail(c, KERN_E_FORMAT, "the projector's output (%d) is not the language model's width (%" PRId64 ")",
                  hp->n_out, text_d);
  }
  hp->n_tokens = (int)(G * G + (hp->keep_class ? 1 : 0));

  /* Preprocessing. */
  vis_preprocess_params *pp = &hp->preprocess;
  *pp = vis_preprocess_default_params();
  pp->shortest_edge = pp->crop_width = pp->crop_height = hp->image_size;
  if (c->hf) {
    if ((rc = read_hf_preprocessor(c, path)))
      return rc;
  } else {
    if ((rc = meta_rgb(c, "clip.vision.image_mean", pp->mean)) || (rc = meta_rgb(c, "clip.vision.image_std", pp->std)))
      return rc;
    /* llama.cpp pads LLaVA images to a square before resizing. */
    if (hp->projector != VIS_PROJ_NONE)
      pp->fit = VIS_FIT_PAD;
  }
  for (int i = 0; i < 3; i++)
    if (!(pp->std[i] > 0))
      return fail(c, KERN_E_FORMAT, "the image standard deviation is not positive");
  if (pp->crop_width != hp->image_size || pp->crop_height != hp->image_size)
    return fail(c, KERN_E_FORMAT, "the preprocessor crops %dx%d; the tower takes %dx%d", pp->crop_width,
                pp->crop_height, hp->image_size, hp->image_size);
  return 0;
}

/* ---- loading -------------------------------------------------------------- */

static int
load_tensors(vis_clip *c)
{
  vis_clip_hparams *hp = &c->hp;
  int64_t D = hp->n_embd, F = hp->n_ff, P = hp->patch_size, G = hp->image_size / P, T = G * G + 1;
  int rc = 0;
  const kern_tensor_info *t;
  const int64_t pne[4] = { P, P, 3, D };
  if (!(t = need(c, "v.patch_embd.weight", "embeddings.patch_embedding.weight", IN_TOWER, 0, P * P * 3 * D, 0, 1, &rc)) ||
      (rc = load_f32(c, &c->patch_w, t, 4, pne)))
    return rc;
  memset(&c->patch_b, 0, sizeof c->patch_b);
  if ((t = need(c, "v.patch_embd.bias", "embeddings.patch_embedding.bias", IN_TOWER, 0, D, 0, 0, &rc)))
    rc = load_vec(c, &c->patch_b, t);
  if (rc)
    return rc;
  if (!(t = need(c, "v.class_embd", "embeddings.class_embedding", IN_TOWER, 0, D, 0, 1, &rc)) ||
      (rc = load_vec(c, &c->class_embd, t)))
    return rc;
  const int64_t posne[2] = { D, T };
  if (!(t = need(c, "v.position_embd.weight", "embeddings.position_embedding.weight", IN_TOWER, 0, D, T, 1, &rc)) ||
      (rc = load_f32(c, &c->pos_embd, t, 2, posne)))
    return rc;
  /* HF spells it "pre_layrnorm". A tower without it (mmproj of other families) runs without. */
  if ((rc = load_norm(c, "v.pre_ln", "pre_layrnorm", 0, D, c->hf, &c->pre_w, &c->pre_b)))
    return rc;
  if (hp->post_norm) {
    if ((rc = load_norm(c, "v.post_ln", "post_layernorm", 0, D, 0, &c->post_w, &c->post_b)))
      return rc;
    hp->post_norm = c->post_w.data != NULL;
  }
  c->layers = calloc((size_t)(hp->n_layer ? hp->n_layer : 1), sizeof *c->layers);
  if (!c->layers)
    return fail(c, KERN_E_NOMEM, "out of memory");
  for (int li = 0; li < hp->n_layer; li++) {
    layer *L = &c->layers[li];
    if ((rc = load_norm(c, "v.blk.%d.ln1", "encoder.layers.%d.layer_norm1", li, D, 1, &L->ln1_w, &L->ln1_b)) ||
        (rc = load_norm(c, "v.blk.%d.ln2", "encoder.layers.%d.layer_norm2", li, D, 1, &L->ln2_w, &L->ln2_b)) ||
        (rc = load_linear(c, "v.blk.%d.attn_q", "encoder.layers.%d.self_attn.q_proj", IN_TOWER, li, D, D, 1, &L->wq,
                          &L->bq)) ||
        (rc = load_linear(c, "v.blk.%d.attn_k", "encoder.layers.%d.self_attn.k_proj", IN_TOWER, li, D, D, 1, &L->wk,
                          &L->bk)) ||
        (rc = load_linear(c, "v.blk.%d.attn_v", "encoder.layers.%d.self_attn.v_proj", IN_TOWER, li, D, D, 1, &L->wv,
                          &L->bv)) ||
        (rc = load_linear(c, "v.blk.%d.attn_out", "encoder.layers.%d.self_attn.out_proj", IN_TOWER, li, D, D, 1,
                          &L->wo, &L->bo)) ||
        (rc = load_linear(c, "v.blk.%d.ffn_up", "encoder.layers.%d.mlp.fc1", IN_TOWER, li, D, F, 1, &L->fc1,
                          &L->fc1_b)) ||
        (rc = load_linear(c, "v.blk.%d.ffn_down", "encoder.layers.%d.mlp.fc2", IN_TOWER, li, F, D, 1, &L->fc2,
                          &L->fc2_b)))
      return rc;
  }
  int64_t E = hp->n_out;
  if (hp->projector == VIS_PROJ_MLP) {
    if ((rc = load_linear(c, "mm.0", "linear_1", IN_PROJ, 0, D, E, 0, &c->mm0, &c->mm0_b)) ||
        (rc = load_linear(c, "mm.2", "linear_2", IN_PROJ, 0, E, E, 0, &c->mm2, &c->mm2_b)))
      return rc;
  } else if (hp->projector == VIS_PROJ_LINEAR) {
    if ((rc = load_linear(c, "mm.0", "linear_1", IN_PROJ, 0, D, E, 0, &c->mm0, &c->mm0_b)))
      return rc;
  }
  return 0;
}

static kern_tensor *
new2d(vis_clip *c, int64_t n0, int64_t n1)
{
  return keep(c, kern_tensor_new_2d(c->be, KERN_TYPE_F32, n0, n1));
}

static int
alloc_scratch(vis_clip *c)
{
  vis_clip_hparams *hp = &c->hp;
  int64_t D = hp->n_embd, S = hp->image_size, G = S / hp->patch_size, T = G * G + 1, E = hp->n_out;
  const int64_t ine[3] = { S, S, 3 };
  if (!(c->img = keep(c, kern_tensor_new(c->be, KERN_TYPE_F32, 3, ine))) || !(c->x = new2d(c, D, T)) ||
      !(c->h = new2d(c, D, T)) || !(c->q = new2d(c, D, T)) || !(c->k = new2d(c, D, T)) || !(c->v = new2d(c, D, T)) ||
      !(c->a = new2d(c, D, T)) || !(c->f = new2d(c, hp->n_ff, T)) || !(c->e1 = new2d(c, E, T)) ||
      !(c->e2 = new2d(c, E, T)))
    return fail_be(c, "scratch buffers");
  return 0;
}

static kern_backend_t
make_backend(const vis_clip_params *p, char **err)
{
  kern_backend_params bp = kern_backend_default_params();
  bp.n_threads = p->n_threads;
  return kern_backend_new(p->device ? p->device : "auto", &bp, err);
}

vis_clip *
vis_clip_open(const char *path, const vis_clip_params *p, char **err)
{
  vis_clip_params def = vis_clip_default_params();
  if (!p)
    p = &def;
  if (err)
    *err = NULL;
  kern_weights *kw = kern_weights_open(path, err);
  if (!kw)
    return NULL;
  vis_clip *c = calloc(1, sizeof *c);
  if (!c) {
    kern_weights_close(kw);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  c->weights = kw;
  c->should_abort = p->should_abort;
  c->user_data = p->user_data;
  int rc = 0;
  kern_format fmt = kern_weights_format(kw);
  if (fmt == KERN_FORMAT_SAFETENSORS) {
    c->hf = 1;
    rc = find_hf_prefixes(c);
  } else if (fmt != KERN_FORMAT_GGUF) {
    rc = fail(c, KERN_E_FORMAT, "a %s file is not a vision model (an mmproj GGUF or a Hugging Face directory is)",
              kern_weights_format_name(fmt));
  }
  if (!rc)
    rc = read_hparams(c, path);
  if (!rc) {
    char *berr = NULL;
    c->be = make_backend(p, &berr);
    if (!c->be)
      rc = fail(c, KERN_E_UNSUPPORTED, "%s", berr ? berr : "no backend");
    free(berr);
  }
  if (!rc && !(kern_backend_supports(c->be, KERN_OP_PATCH_EMBED, KERN_TYPE_F32) &&
               kern_backend_supports(c->be, KERN_OP_ATTENTION, KERN_TYPE_F32)))
    rc = fail(c, KERN_E_UNSUPPORTED, "backend %s cannot run a vision tower", kern_backend_name(c->be));
  if (!rc)
    rc = load_tensors(c);
  if (!rc)
    rc = alloc_scratch(c);
  if (rc) {
    if (err)
      *err = strdup(c->errmsg);
    vis_clip_free(c);
    return NULL;
  }
  return c;
}

void
vis_clip_free(vis_clip *c)
{
  if (!c)
    return;
  for (int i = c->n_owned - 1; i >= 0; i--)
    kern_tensor_free(c->owned[i]);
  free(c->owned);
  free(c->layers);
  if (c->be)
    kern_backend_free(c->be);
  kern_weights_close(c->weights);
  free(c);
}

const vis_clip_hparams *
vis_clip_get_hparams(const vis_clip *c)
{
  return &c->hp;
}

const char *
vis_clip_errmsg(const vis_clip *c)
{
  return c ? c->errmsg : "no vision model";
}

const char *
vis_clip_backend_name(const vis_clip *c)
{
  return kern_backend_name(c->be);
}

/* ---- forward ------------------------------------------------------------------ */

#define OP(call)                                                                                                       \
  do {                                                                                                                 \
    if ((call) != 0)                                                                                                   \
      return fail_be(c, #call);                                                                                        \
  } while (0)

/* A [D, T] buffer seen as [hd, nh, T]. */
static kern_tensor
heads(const kern_tensor *t, int64_t nh)
{
  const int64_t ne[3] = { t->ne[0] / nh, nh, t->ne[1] };
  return kern_tensor_reshape(t, 3, ne);
}

static int
linear(vis_clip *c, kern_tensor *y, const kern_tensor *w, const kern_tensor *b, const kern_tensor *x)
{
  OP(kern_matmul(c->be, y, w, x, b->data ? b : NULL));
  return 0;
}

int
vis_clip_encode(vis_clip *c, const float *pixels, float *features, float *embd)
{
  vis_clip_hparams *hp = &c->hp;
  kern_backend_t be = c->be;
  int64_t D = hp->n_embd, nh = hp->n_head, G = hp->image_size / hp->patch_size, T = G * G + 1;
  c->errmsg[0] = 0;
  if (!pixels)
    return fail(c, KERN_E_INVAL, "no pixels");
  for (int64_t i = 0, n = 3 * (int64_t)hp->image_size * hp->image_size; i < n; i++)
    if (!isfinite(pixels[i]))
      return fail(c, KERN_E_INVAL, "pixel value %" PRId64 " is not finite", i);
  if (kern_tensor_set(c->img, pixels, 0, c->img->nbytes) != 0)
    return fail_be(c, "image upload");
  kern_tensor x = *c->x, h = *c->h, q = *c->q, k = *c->k, v = *c->v, a = *c->a, f = *c->f;
  kern_tensor x0 = kern_tensor_slice(&x, 0, 1), xp = kern_tensor_slice(&x, 1, T - 1);
  const int64_t one[2] = { D, 1 };
  kern_tensor cls = kern_tensor_reshape(&c->class_embd, 2, one);
  OP(kern_copy(be, &x0, &cls));
  OP(kern_patch_embed(be, &xp, c->img, &c->patch_w, c->patch_b.data ? &c->patch_b : NULL));
  OP(kern_add(be, &x, &x, &c->pos_embd));
  if (c->pre_w.data)
    OP(kern_layernorm(be, &x, &x, &c->pre_w, &c->pre_b, hp->eps));
  float scale = 1.0f / sqrtf((float)(D / nh));
  for (int li = 0; li < hp->n_layer; li++) {
    if (c->should_abort && c->should_abort(c->user_data))
      return fail(c, KERN_E_ABORTED, "image encoding aborted at layer %d", li);
    layer *L = &c->layers[li];
    int rc;
    OP(kern_layernorm(be, &h, &x, &L->ln1_w, &L->ln1_b, hp->eps));
    if ((rc = linear(c, &q, &L->wq, &L->bq, &h)) || (rc = linear(c, &k, &L->wk, &L->bk, &h)) ||
        (rc = linear(c, &v, &L->wv, &L->bv, &h)))
      return rc;
    kern_tensor qh = heads(&q, nh), kh = heads(&k, nh), vh = heads(&v, nh), ah = heads(&a, nh);
    OP(kern_attention(be, &ah, &qh, &kh, &vh, scale, 0, 0));
    if ((rc = linear(c, &h, &L->wo, &L->bo, &a)))
      return rc;
    OP(kern_add(be, &x, &x, &h));
    OP(kern_layernorm(be, &h, &x, &L->ln2_w, &L->ln2_b, hp->eps));
    if ((rc = linear(c, &f, &L->fc1, &L->fc1_b, &h)))
      return rc;
    OP(kern_unary(be, &f, &f, hp->use_gelu ? KERN_UNARY_GELU : KERN_UNARY_GELU_QUICK));
    if ((rc = linear(c, &h, &L->fc2, &L->fc2_b, &f)))
      return rc;
    OP(kern_add(be, &x, &x, &h));
  }
  if (hp->post_norm)
    OP(kern_layernorm(be, &x, &x, &c->post_w, &c->post_b, hp->eps));
  kern_tensor feats = hp->keep_class ? x : xp; /* [D, n_tokens] */
  if (features && kern_tensor_get(&feats, features, 0, feats.nbytes) != 0)
    return fail_be(c, "features download");
  if (!embd)
    return 0;
  if (hp->projector == VIS_PROJ_NONE) {
    if (kern_tensor_get(&feats, embd, 0, feats.nbytes) != 0)
      return fail_be(c, "embeddings download");
    return 0;
  }
  int64_t n = hp->n_tokens;
  kern_tensor e1 = kern_tensor_slice(c->e1, 0, n), e2 = kern_tensor_slice(c->e2, 0, n);
  int rc = linear(c, &e1, &c->mm0, &c->mm0_b, &feats);
  if (rc)
    return rc;
  kern_tensor *out = &e1;
  if (hp->projector == VIS_PROJ_MLP) {
    OP(kern_unary(be, &e1, &e1, KERN_UNARY_GELU));
    if ((rc = linear(c, &e2, &c->mm2, &c->mm2_b, &e1)))
      return rc;
    out = &e2;
  }
  if (kern_tensor_get(out, embd, 0, out->nbytes) != 0)
    return fail_be(c, "embeddings download");
  return 0;
}

int
vis_clip_embed_image(vis_clip *c, const vis_image *img, float *embd)
{
  vis_clip_hparams *hp = &c->hp;
  if (!img || !img->rgb || !embd)
    return fail(c, KERN_E_INVAL, "no image or no output");
  size_t n = (size_t)3 * (size_t)hp->image_size * (size_t)hp->image_size;
  float *pixels = malloc(n * sizeof *pixels);
  if (!pixels)
    return fail(c, KERN_E_NOMEM, "out of memory");
  char *perr = NULL;
  int rc = vis_preprocess(img, &hp->preprocess, pixels, &perr);
  if (rc)
    rc = fail(c, rc, "%s", perr ? perr : "cannot preprocess the image");
  free(perr);
  if (!rc)
    rc = vis_clip_encode(c, pixels, NULL, embd);
  free(pixels);
  return rc;
}

/* ---- export --------------------------------------------------------------------- */

typedef enum { EX_VEC, EX_MAT } ex_kind;

typedef struct {
  const char *gg, *hf;
  hf_part part;
  ex_kind kind;
  int per_layer;
  int projector; /* 0 tower, 1 projector (both), 2 MLP only */
} ex_entry;

static const ex_entry ex_table[] = {
  { "v.class_embd", "embeddings.class_embedding", IN_TOWER, EX_VEC, 0, 0 },
  { "v.patch_embd.weight", "embeddings.patch_embedding.weight", IN_TOWER, EX_MAT, 0, 0 },
  { "v.patch_embd.bias", "embeddings.patch_embedding.bias", IN_TOWER, EX_VEC, 0, 0 },
  { "v.position_embd.weight", "embeddings.position_embedding.weight", IN_TOWER, EX_VEC, 0, 0 },
  { "v.pre_ln.weight", "pre_layrnorm.weight", IN_TOWER, EX_VEC, 0, 0 },
  { "v.pre_ln.bias", "pre_layrnorm.bias", IN_TOWER, EX_VEC, 0, 0 },
  { "v.blk.%d.attn_q.weight", "encoder.layers.%d.self_attn.q_proj.weight", IN_TOWER, EX_MAT, 1, 0 },
  { "v.blk.%d.attn_q.bias", "encoder.layers.%d.self_attn.q_proj.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.attn_k.weight", "encoder.layers.%d.self_attn.k_proj.weight", IN_TOWER, EX_MAT, 1, 0 },
  { "v.blk.%d.attn_k.bias", "encoder.layers.%d.self_attn.k_proj.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.attn_v.weight", "encoder.layers.%d.self_attn.v_proj.weight", IN_TOWER, EX_MAT, 1, 0 },
  { "v.blk.%d.attn_v.bias", "encoder.layers.%d.self_attn.v_proj.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.attn_out.weight", "encoder.layers.%d.self_attn.out_proj.weight", IN_TOWER, EX_MAT, 1, 0 },
  { "v.blk.%d.attn_out.bias", "encoder.layers.%d.self_attn.out_proj.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.ffn_up.weight", "encoder.layers.%d.mlp.fc1.weight", IN_TOWER, EX_MAT, 1, 0 },
  { "v.blk.%d.ffn_up.bias", "encoder.layers.%d.mlp.fc1.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.ffn_down.weight", "encoder.layers.%d.mlp.fc2.weight", IN_TOWER, EX_MAT, 1, 0 },
  { "v.blk.%d.ffn_down.bias", "encoder.layers.%d.mlp.fc2.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.ln1.weight", "encoder.layers.%d.layer_norm1.weight", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.ln1.bias", "encoder.layers.%d.layer_norm1.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.ln2.weight", "encoder.layers.%d.layer_norm2.weight", IN_TOWER, EX_VEC, 1, 0 },
  { "v.blk.%d.ln2.bias", "encoder.layers.%d.layer_norm2.bias", IN_TOWER, EX_VEC, 1, 0 },
  { "mm.0.weight", "linear_1.weight", IN_PROJ, EX_MAT, 0, 1 },
  { "mm.0.bias", "linear_1.bias", IN_PROJ, EX_VEC, 0, 1 },
  { "mm.2.weight", "linear_2.weight", IN_PROJ, EX_MAT, 0, 2 },
  { "mm.2.bias", "linear_2.bias", IN_PROJ, EX_VEC, 0, 2 },
};

static int
export_tensor(vis_clip *c, kern_gguf_writer *g, const char *name, const kern_tensor_info *t, int type)
{
  switch (kern_gguf_add_converted(g, name, t, type)) {
  case 0: return 0;
  case KERN_E_FORMAT: return fail(c, KERN_E_FORMAT, "tensor '%s' has a type that cannot be read as numbers", t->name);
  case KERN_E_NOMEM: return fail(c, KERN_E_NOMEM, "out of memory");
  case KERN_E_UNSUPPORTED:
    return fail(c, KERN_E_UNSUPPORTED, "cannot write %s as %s", t->name, kern_type_get_traits(type)->name);
  default: return fail(c, KERN_E_INVAL, "cannot add tensor %s", name);
  }
}

int
vis_clip_export(vis_clip *c, const char *path, int type, char **err)
{
  vis_clip_hparams *hp = &c->hp;
  int rc = 0;
  if (err)
    *err = NULL;
  c->errmsg[0] = 0;
  if (hp->projector == VIS_PROJ_NONE)
    rc = fail(c, KERN_E_UNSUPPORTED, "a CLIP model without a projector has no mmproj form");
  else if (hp->keep_class)
    rc = fail(c, KERN_E_UNSUPPORTED, "llama.cpp's mmproj layout drops the class token; this model keeps it");
  else if (type != KERN_TYPE_F32 && type != KERN_TYPE_F16 &&
           !(kern_type_get_traits(type) && kern_type_get_traits(type)->is_quantized && kern_type_can_quantize(type)))
    rc = fail(c, KERN_E_UNSUPPORTED, "matrices cannot be written as %s (f32, f16 or a quantized type)",
              kern_type_get_traits(type) ? kern_type_get_traits(type)->name : "?");
  kern_gguf_writer *g = rc ? NULL : kern_gguf_writer_new();
  if (!rc && !g)
    rc = fail(c, KERN_E_NOMEM, "out of memory");
  if (!rc) {
    /* llama.cpp's LLaVA layout: the layers run, no feature-layer key, no post norm. */
    vis_preprocess_params *pp = &hp->preprocess;
    int ok = kern_gguf_set_string(g, "general.architecture", "clip") == 0 &&
             kern_gguf_set_u32(g, "general.file_type", type == KERN_TYPE_F32 ? 0 : 1) == 0 &&
             kern_gguf_set_bool(g, "clip.has_text_encoder", 0) == 0 &&
             kern_gguf_set_bool(g, "clip.has_vision_encoder", 1) == 0 &&
             kern_gguf_set_bool(g, "clip.has_llava_projector", 1) == 0 &&
             kern_gguf_set_string(g, "clip.projector_type", hp->projector == VIS_PROJ_MLP ? "mlp" : "linear") == 0 &&
             kern_gguf_set_u32(g, "clip.vision.image_size", (uint32_t)hp->image_size) == 0 &&
             kern_gguf_set_u32(g, "clip.vision.patch_size", (uint32_t)hp->patch_size) == 0 &&
             kern_gguf_set_u32(g, "clip.vision.embedding_length", (uint32_t)hp->n_embd) == 0 &&
             kern_gguf_set_u32(g, "clip.vision.feed_forward_length", (uint32_t)hp->n_ff) == 0 &&
             kern_gguf_set_u32(g, "clip.vision.projection_dim", (uint32_t)hp->n_out) == 0 &&
             kern_gguf_set_u32(g, "clip.vision.attention.head_count", (uint32_t)hp->n_head) == 0 &&
             kern_gguf_set_f32(g, "clip.vision.attention.layer_norm_epsilon", hp->eps) == 0 &&
             kern_gguf_set_u32(g, "clip.vision.block_count", (uint32_t)hp->n_layer) == 0 &&
             kern_gguf_set_array(g, "clip.vision.image_mean", KERN_META_F32, pp->mean, 3) == 0 &&
             kern_gguf_set_array(g, "clip.vision.image_std", KERN_META_F32, pp->std, 3) == 0 &&
             kern_gguf_set_bool(g, "clip.use_gelu", hp->use_gelu) == 0;
    if (!ok)
      rc = fail(c, KERN_E_NOMEM, "out of memory");
  }
  for (size_t e = 0; !rc && e < sizeof ex_table / sizeof ex_table[0]; e++) {
    const ex_entry *x = &ex_table[e];
    if (x->projector == 2 && hp->projector != VIS_PROJ_MLP)
      continue;
    for (int li = 0; !rc && li < (x->per_layer ? hp->n_layer : 1); li++) {
      char src[224], dst[160];
      const kern_tensor_info *t = lookup(c, x->gg, x->hf, x->part, li, src, sizeof src);
      if (!t)
        continue; /* optional (biases, pre-norm); required ones were checked at open */
      with_layer(dst, sizeof dst, x->gg, li);
      rc = export_tensor(c, g, dst, t, x->kind == EX_MAT ? type : KERN_TYPE_F32);
    }
  }
  if (!rc) {
    char *werr = NULL;
    if (kern_gguf_write(g, path, &werr) != 0)
      rc = fail(c, KERN_E_IO, "%s", werr ? werr : path);
    free(werr);
  }
  kern_gguf_writer_free(g);
  if (rc && err)
    *err = strdup(c->errmsg);
  return rc;
}
