/* test-kernels-ops.c: every op on every backend against the CPU reference.
 *
 * A table of op x type x shape. Each case builds fixed-seed random inputs
 * (never zeros), runs the op on "cpu-ref" and on the backend under test, and
 * compares by normalized mean squared error with a per-op bound (integer
 * outputs exactly). Outputs are checked for NaN/Inf, and sentinel bytes after
 * each output must survive. Backends that are absent (no GPU) skip. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-backend.h"
#include "kern-quant.h"

/* ---- deterministic inputs ---------------------------------------------- */

static uint64_t
rng_next(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static float
rng_uniform(uint64_t *s) /* (0, 1) */
{
  return ((float)(rng_next(s) >> 40) + 0.5f) / (float)(1 << 24);
}

static float
rng_gauss(uint64_t *s)
{
  float u = rng_uniform(s), v = rng_uniform(s);
  return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static float *
gauss_vec(uint64_t *s, int64_t n, float scale)
{
  float *v = g_new(float, n);
  for (int64_t i = 0; i < n; i++)
    v[i] = rng_gauss(s) * scale;
  return v;
}

/* Host bytes of `n` values of `type`: random floats encoded where we can, else
 * random blocks with sane (finite, modest) fp16 scales. */
static void *
random_data(uint64_t *s, int type, int64_t n, size_t *nbytes)
{
  *nbytes = kern_type_row_size(type, n);
  g_assert_cmpuint(*nbytes, >, 0);
  guint8 *b = g_malloc(*nbytes);
  if (kern_type_can_quantize(type)) {
    float *f = gauss_vec(s, n, 1.0f);
    g_assert_cmpint(kern_quantize_row(type, f, b, n), ==, 0);
    g_free(f);
    return b;
  }
  for (size_t i = 0; i < *nbytes; i++)
    b[i] = (guint8)rng_next(s);
  int64_t nb = n / KERN_QK_K;
  for (int64_t i = 0; i < nb; i++) {
    uint16_t d = kern_f32_to_f16(0.01f + 0.05f * rng_uniform(s));
    uint16_t m = kern_f32_to_f16(0.01f + 0.05f * rng_uniform(s));
    if (type == KERN_TYPE_Q2_K) {
      kern_block_q2_K *q = (kern_block_q2_K *)b + i;
      q->d = d, q->dmin = m;
    } else if (type == KERN_TYPE_Q3_K) {
      ((kern_block_q3_K *)b)[i].d = d;
    } else {
      g_assert_not_reached();
    }
  }
  return b;
}

/* ---- output tensors with sentinels ---------------------------------- */

#define SENTINEL 0xA5

typedef struct {
  kern_tensor *holder; /* one extra outer slice of sentinel bytes */
  kern_tensor view;
} out_tensor;

static void
out_new(out_tensor *o, kern_backend_t be, int type, int n_dims, const int64_t *ne)
{
  int64_t big[KERN_MAX_DIMS];
  memcpy(big, ne, sizeof(int64_t) * (size_t)n_dims);
  big[n_dims - 1] += 1;
  o->holder = kern_tensor_new(be, type, n_dims, big);
  g_assert_nonnull(o->holder);
  guint8 *fill = g_malloc(o->holder->nbytes);
  memset(fill, SENTINEL, o->holder->nbytes);
  g_assert_cmpint(kern_tensor_set(o->holder, fill, 0, o->holder->nbytes), ==, 0);
  g_free(fill);
  o->view = kern_tensor_slice(o->holder, 0, ne[n_dims - 1]);
}

/* Downloads the output, checks the sentinel bytes; returns host bytes. */
static void *
out_take(out_tensor *o)
{
  guint8 *all = g_malloc(o->holder->nbytes);
  g_assert_cmpint(kern_tensor_get(o->holder, all, 0, o->holder->nbytes), ==, 0);
  for (size_t i = o->view.nbytes; i < o->holder->nbytes; i++)
    if (all[i] != SENTINEL)
      g_error("byte %zu past the output was overwritten", i - o->view.nbytes);
  kern_tensor_free(o->holder);
  return all;
}

static kern_tensor *
in_new(kern_backend_t be, int type, int n_dims, const int64_t *ne, const void *data)
{
  kern_tensor *t = kern_tensor_new(be, type, n_dims, ne);
  g_assert_nonnull(t);
  g_assert_cmpint(kern_tensor_set(t, data, 0, t->nbytes), ==, 0);
  return t;
}

/* ---- cases -------------------------------------------------------------- */

typedef struct op_case op_case;

/* Runs the case on be with inputs made from `seed`; returns the outputs as
 * host floats (integer outputs converted) in *out, count in *n. */
typedef int (*run_fn)(kern_backend_t be, const op_case *c, float **out, int64_t *n);

struct op_case {
  char *path;
  run_fn run;
  int type;          /* weight / table / src type */
  int64_t p[8];      /* shape parameters, meaning per op */
  double nmse_max;   /* < 0: exact comparison */
  const char *backend;
};

static float *
as_float_i32(const void *data, int64_t n)
{
  float *f = g_new(float, n);
  for (int64_t i = 0; i < n; i++)
    f[i] = (float)((const int32_t *)data)[i];
  return f;
}

#define TRY(call)                                                                        \
  do {                                                                                   \
    int rc_ = (call);                                                                    \
    if (rc_ != 0)                                                                        \
      g_error("%s on %s: %s", #call, kern_backend_name(be), kern_backend_errmsg(be));   \
  } while (0)

/* matmul: p = {K, N, M, bias} */
static int
run_matmul(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0x1234 + (uint64_t)c->p[0] * 31 + (uint64_t)c->p[1];
  int64_t K = c->p[0], N = c->p[1], M = c->p[2];
  size_t wb;
  void *wd = random_data(&s, c->type, K * N, &wb);
  float *xd = gauss_vec(&s, K * M, 1.0f), *bd = gauss_vec(&s, N, 0.5f);
  const int64_t wne[2] = { K, N }, xne[2] = { K, M }, yne[2] = { N, M }, bne[1] = { N };
  kern_tensor *w = in_new(be, c->type, 2, wne, wd), *x = in_new(be, KERN_TYPE_F32, 2, xne, xd);
  kern_tensor *b = c->p[3] ? in_new(be, KERN_TYPE_F32, 1, bne, bd) : NULL;
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 2, yne);
  if (!kern_backend_supports(be, KERN_OP_MATMUL, c->type)) {
    kern_tensor_free(w), kern_tensor_free(x), kern_tensor_free(b), g_free(out_take(&y));
    g_free(wd), g_free(xd), g_free(bd);
    return KERN_E_UNSUPPORTED;
  }
  TRY(kern_matmul(be, &y.view, w, x, b));
  *out = out_take(&y);
  *n = N * M;
  kern_tensor_free(w), kern_tensor_free(x), kern_tensor_free(b);
  g_free(wd), g_free(xd), g_free(bd);
  return 0;
}

/* add/mul: p = {n0, rows, brows, is_mul} */
static int
run_binary(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0x77 + (uint64_t)c->p[0];
  int64_t n0 = c->p[0], rows = c->p[1], brows = c->p[2];
  float *ad = gauss_vec(&s, n0 * rows, 1.0f), *bd = gauss_vec(&s, n0 * brows, 1.0f);
  const int64_t ane[2] = { n0, rows }, bne[2] = { n0, brows };
  kern_tensor *a = in_new(be, KERN_TYPE_F32, 2, ane, ad), *b = in_new(be, KERN_TYPE_F32, 2, bne, bd);
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 2, ane);
  TRY(c->p[3] ? kern_mul(be, &y.view, a, b) : kern_add(be, &y.view, a, b));
  *out = out_take(&y);
  *n = n0 * rows;
  kern_tensor_free(a), kern_tensor_free(b), g_free(ad), g_free(bd);
  return 0;
}

/* scale, layernorm, rmsnorm, unary, softmax: p = {n0, rows, kind, arg} */
enum { ROW_SCALE, ROW_LAYERNORM, ROW_RMSNORM, ROW_UNARY, ROW_SOFTMAX, ROW_SWIGLU };

static int
run_rowwise(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0x99 + (uint64_t)c->p[0] * 7 + (uint64_t)c->p[2];
  int64_t n0 = c->p[0], rows = c->p[1];
  float *xd = gauss_vec(&s, n0 * rows, 3.0f), *gd = gauss_vec(&s, n0, 1.0f), *bd = gauss_vec(&s, n0, 1.0f);
  const int64_t ne[2] = { n0, rows }, vne[1] = { n0 };
  kern_tensor *x = in_new(be, KERN_TYPE_F32, 2, ne, xd), *g = in_new(be, KERN_TYPE_F32, 1, vne, gd);
  kern_tensor *b = in_new(be, KERN_TYPE_F32, 1, vne, bd), *u = in_new(be, KERN_TYPE_F32, 2, ne, xd);
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 2, ne);
  switch (c->p[2]) {
  case ROW_SCALE: TRY(kern_scale(be, &y.view, x, -0.37f)); break;
  case ROW_LAYERNORM: TRY(kern_layernorm(be, &y.view, x, g, b, 1e-5f)); break;
  case ROW_RMSNORM: TRY(kern_rmsnorm(be, &y.view, x, g, 1e-6f)); break;
  case ROW_UNARY: TRY(kern_unary(be, &y.view, x, (kern_unary_op)c->p[3])); break;
  case ROW_SOFTMAX: TRY(kern_softmax(be, &y.view, x, 0.125f * (float)(c->p[3] + 1))); break;
  case ROW_SWIGLU: TRY(kern_swiglu(be, &y.view, x, g->nbytes == u->nbytes ? g : u)); break;
  }
  *out = out_take(&y);
  *n = n0 * rows;
  kern_tensor_free(x), kern_tensor_free(g), kern_tensor_free(b), kern_tensor_free(u);
  g_free(xd), g_free(gd), g_free(bd);
  return 0;
}

/* rope: p = {head_dim, n_head, T, n_rot, mode, freq_factors, freq_scale*100, base} */
static int
run_rope(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0x5151 + (uint64_t)c->p[0];
  int64_t hd = c->p[0], nh = c->p[1], T = c->p[2];
  float *xd = gauss_vec(&s, hd * nh * T, 1.0f), *ffd = g_new(float, c->p[3] / 2);
  int32_t *pd = g_new(int32_t, T);
  for (int64_t t = 0; t < T; t++)
    pd[t] = (int32_t)(t * 37 % 5000 + (t == T - 1 ? 131000 : 0)); /* some positions far out */
  for (int64_t i = 0; i < c->p[3] / 2; i++)
    ffd[i] = 1.0f + (float)i * 0.25f;
  const int64_t ne[3] = { hd, nh, T }, pne[1] = { T }, fne[1] = { c->p[3] / 2 };
  kern_tensor *x = in_new(be, KERN_TYPE_F32, 3, ne, xd), *pos = in_new(be, KERN_TYPE_I32, 1, pne, pd);
  kern_tensor *ff = in_new(be, KERN_TYPE_F32, 1, fne, ffd);
  kern_rope_params rp = { .n_rot = (int)c->p[3], .mode = (kern_rope_mode)c->p[4], .base = (float)c->p[7],
                          .freq_scale = (float)c->p[6] / 100.0f, .freq_factors = c->p[5] ? ff : NULL };
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 3, ne);
  TRY(kern_rope(be, &y.view, x, pos, &rp));
  *out = out_take(&y);
  *n = hd * nh * T;
  kern_tensor_free(x), kern_tensor_free(pos), kern_tensor_free(ff);
  g_free(xd), g_free(pd), g_free(ffd);
  return 0;
}

/* conv1d: p = {C_in, T, C_out, K, stride, pad} */
static int
run_conv1d(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0xc0 + (uint64_t)c->p[0];
  int64_t Cin = c->p[0], T = c->p[1], Cout = c->p[2], K = c->p[3];
  int stride = (int)c->p[4], pad = (int)c->p[5];
  int64_t Tout = (T + 2 * pad - K) / stride + 1;
  size_t wb;
  float *xd = gauss_vec(&s, Cin * T, 1.0f), *bd = gauss_vec(&s, Cout, 1.0f);
  void *wd = random_data(&s, c->type, K * Cin * Cout, &wb);
  const int64_t xne[2] = { Cin, T }, wne[3] = { K, Cin, Cout }, bne[1] = { Cout }, yne[2] = { Cout, Tout };
  kern_tensor *x = in_new(be, KERN_TYPE_F32, 2, xne, xd), *w = in_new(be, c->type, 3, wne, wd);
  kern_tensor *b = in_new(be, KERN_TYPE_F32, 1, bne, bd);
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 2, yne);
  TRY(kern_conv1d(be, &y.view, x, w, b, stride, pad));
  *out = out_take(&y);
  *n = Cout * Tout;
  kern_tensor_free(x), kern_tensor_free(w), kern_tensor_free(b);
  g_free(xd), g_free(bd), g_free(wd);
  return 0;
}

/* patch_embed: p = {W, H, C, P, D} */
static int
run_patch_embed(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0xbeef + (uint64_t)c->p[0];
  int64_t W = c->p[0], H = c->p[1], C = c->p[2], P = c->p[3], D = c->p[4], np = (W / P) * (H / P);
  size_t wb;
  float *id = gauss_vec(&s, W * H * C, 1.0f), *bd = gauss_vec(&s, D, 1.0f);
  void *wd = random_data(&s, c->type, P * P * C * D, &wb);
  const int64_t ine[3] = { W, H, C }, wne[4] = { P, P, C, D }, bne[1] = { D }, yne[2] = { D, np };
  kern_tensor *img = in_new(be, KERN_TYPE_F32, 3, ine, id), *w = in_new(be, c->type, 4, wne, wd);
  kern_tensor *b = in_new(be, KERN_TYPE_F32, 1, bne, bd);
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 2, yne);
  TRY(kern_patch_embed(be, &y.view, img, w, b));
  *out = out_take(&y);
  *n = D * np;
  kern_tensor_free(img), kern_tensor_free(w), kern_tensor_free(b);
  g_free(id), g_free(bd), g_free(wd);
  return 0;
}

/* get_rows: p = {D, V, n} */
static int
run_get_rows(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0x6e + (uint64_t)c->p[0];
  int64_t D = c->p[0], V = c->p[1], cnt = c->p[2];
  size_t tb;
  void *td = random_data(&s, c->type, D * V, &tb);
  int32_t *ids = g_new(int32_t, cnt);
  for (int64_t i = 0; i < cnt; i++)
    ids[i] = (int32_t)(rng_next(&s) % (uint64_t)V);
  ids[0] = (int32_t)(V - 1);
  const int64_t tne[2] = { D, V }, ine[1] = { cnt }, yne[2] = { D, cnt };
  kern_tensor *t = in_new(be, c->type, 2, tne, td), *it = in_new(be, KERN_TYPE_I32, 1, ine, ids);
  out_tensor y;
  out_new(&y, be, KERN_TYPE_F32, 2, yne);
  TRY(kern_get_rows(be, &y.view, t, it));
  *out = out_take(&y);
  *n = D * cnt;
  kern_tensor_free(t), kern_tensor_free(it), g_free(td), g_free(ids);
  return 0;
}

/* attention: p = {hd, n_head, n_kv, Tq, Tk, causal, pos0} ; type = k/v type */
static int
run_attention(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0xa77 + (uint64_t)c->p[4];
  int64_t hd = c->p[0], nh = c->p[1], nkv = c->p[2], Tq = c->p[3], Tk = c->p[4];
  size_t kb, vb;
  float *qd = gauss_vec(&s, hd * nh * Tq, 1.0f);
  void *kd = random_data(&s, c->type, hd * nkv * Tk, &kb), *vd = random_data(&s, c->type, hd * nkv * Tk, &vb);
  const int64_t qne[3] = { hd, nh, Tq }, kne[3] = { hd, nkv, Tk };
  kern_tensor *q = in_new(be, KERN_TYPE_F32, 3, qne, qd), *k = in_new(be, c->type, 3, kne, kd);
  kern_tensor *v = in_new(be, c->type, 3, kne, vd);
  out_tensor o;
  out_new(&o, be, KERN_TYPE_F32, 3, qne);
  TRY(kern_attention(be, &o.view, q, k, v, 1.0f / sqrtf((float)hd), (int)c->p[5], c->p[6]));
  *out = out_take(&o);
  *n = hd * nh * Tq;
  kern_tensor_free(q), kern_tensor_free(k), kern_tensor_free(v);
  g_free(qd), g_free(kd), g_free(vd);
  return 0;
}

/* copy: p = {n, dst type}; type = src type */
static int
run_copy(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0xc09 + (uint64_t)c->p[0];
  size_t sb;
  void *sd = random_data(&s, c->type, c->p[0], &sb);
  const int64_t ne[1] = { c->p[0] };
  kern_tensor *src = in_new(be, c->type, 1, ne, sd);
  out_tensor d;
  if (c->p[1] == KERN_TYPE_Q8_0) { /* rows of 128 (the sentinel row must be whole blocks) */
    const int64_t qne[2] = { 128, c->p[0] / 128 };
    out_new(&d, be, KERN_TYPE_Q8_0, 2, qne);
  } else {
    out_new(&d, be, (int)c->p[1], 1, ne);
  }
  TRY(kern_copy(be, &d.view, src));
  void *raw = out_take(&d);
  *out = g_new(float, c->p[0]);
  kern_dequantize_row((int)c->p[1], raw, *out, c->p[0]);
  *n = c->p[0];
  kern_tensor_free(src), g_free(sd), g_free(raw);
  return 0;
}

/* argmax / topk: p = {n0, rows, k (0 = argmax), ties} ; output: idx then values */
static int
run_select(kern_backend_t be, const op_case *c, float **out, int64_t *n)
{
  uint64_t s = 0x70b + (uint64_t)c->p[0];
  int64_t n0 = c->p[0], rows = c->p[1];
  int k = (int)c->p[2];
  float *xd = gauss_vec(&s, n0 * rows, 1.0f);
  if (c->p[3]) /* few distinct values: many ties */
    for (int64_t i = 0; i < n0 * rows; i++)
      xd[i] = roundf(xd[i]);
  const int64_t xne[2] = { n0, rows };
  kern_tensor *x = in_new(be, KERN_TYPE_F32, 2, xne, xd);
  if (k == 0) {
    const int64_t one[1] = { rows };
    out_tensor o;
    out_new(&o, be, KERN_TYPE_I32, 1, one);
    TRY(kern_argmax(be, &o.view, x));
    void *raw = out_take(&o);
    *out = as_float_i32(raw, rows);
    *n = rows;
    g_free(raw);
  } else {
    const int64_t kne[2] = { k, rows };
    out_tensor oi, ov;
    out_new(&oi, be, KERN_TYPE_I32, 2, kne);
    out_new(&ov, be, KERN_TYPE_F32, 2, kne);
    TRY(kern_topk(be, &oi.view, &ov.view, x, k));
    void *ri = out_take(&oi), *rv = out_take(&ov);
    float *fi = as_float_i32(ri, k * rows);
    *out = g_new(float, 2 * k * rows);
    memcpy(*out, fi, sizeof(float) * (size_t)(k * rows));
    memcpy(*out + k * rows, rv, sizeof(float) * (size_t)(k * rows));
    *n = 2 * k * rows;
    g_free(ri), g_free(rv), g_free(fi);
  }
  kern_tensor_free(x), g_free(xd);
  return 0;
}

/* ---- the comparison ------------------------------------------------------ */

static kern_backend_t ref_backend;

static void
run_case(gconstpointer data)
{
  const op_case *c = data;
  char *err = NULL;
  kern_backend_t be = kern_backend_new(c->backend, NULL, &err);
  if (!be) {
    g_test_skip(err);
    free(err);
    return;
  }
  float *want = NULL, *got = NULL;
  int64_t nw = 0, ng = 0;
  int rc = c->run(be, c, &got, &ng);
  if (rc == KERN_E_UNSUPPORTED) {
    g_test_skip("not supported by this backend");
    kern_backend_free(be);
    return;
  }
  g_assert_cmpint(c->run(ref_backend, c, &want, &nw), ==, 0);
  g_assert_cmpint(nw, ==, ng);
  double err2 = 0, ref2 = 0;
  for (int64_t i = 0; i < nw; i++) {
    if (!isfinite(got[i]))
      g_error("output %" G_GINT64_FORMAT " is %g", i, got[i]);
    g_assert_true(isfinite(want[i]));
    double d = (double)got[i] - want[i];
    err2 += d * d;
    ref2 += (double)want[i] * want[i];
    if (c->nmse_max < 0 && got[i] != want[i])
      g_error("output %" G_GINT64_FORMAT ": %.9g, reference %.9g (exact match required)", i, got[i], want[i]);
  }
  double nmse = ref2 > 0 ? err2 / ref2 : err2;
  if (c->nmse_max >= 0 && !(nmse <= c->nmse_max))
    g_error("NMSE %.3g exceeds %.3g", nmse, c->nmse_max);
  g_test_message("NMSE %.3g (bound %.3g)", nmse, c->nmse_max);
  g_free(want), g_free(got);
  kern_backend_free(be);
}

static GPtrArray *cases;

static void
add_case(const char *backend, const char *path, run_fn run, int type, double nmse, const int64_t *p, int np)
{
  op_case *c = g_new0(op_case, 1);
  c->backend = backend;
  c->path = g_strdup_printf("/kernels/ops/%s/%s", backend, path);
  c->run = run;
  c->type = type;
  c->nmse_max = nmse;
  memcpy(c->p, p, sizeof(int64_t) * (size_t)np);
  g_ptr_array_add(cases, c);
  g_test_add_data_func(c->path, c, run_case);
}

#define P(...) (const int64_t[]){ __VA_ARGS__ }, (int)(sizeof((const int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t))

static const char *
tname(int t)
{
  return kern_type_get_traits(t)->name;
}

static void
add_cases(const char *be)
{
  char path[256];
  /* matmul: every weight type, odd shapes, with and without bias. Quantized
   * weights may be dotted against 8-bit activations (fast paths): bound 2e-4 x 4. */
  static const int wtypes[] = { KERN_TYPE_F32,  KERN_TYPE_F16,  KERN_TYPE_BF16, KERN_TYPE_Q4_0, KERN_TYPE_Q4_1,
                                KERN_TYPE_Q5_0, KERN_TYPE_Q5_1, KERN_TYPE_Q8_0, KERN_TYPE_Q2_K, KERN_TYPE_Q3_K,
                                KERN_TYPE_Q4_K, KERN_TYPE_Q5_K, KERN_TYPE_Q6_K };
  for (size_t i = 0; i < G_N_ELEMENTS(wtypes); i++) {
    int t = wtypes[i];
    const kern_type_traits *tr = kern_type_get_traits(t);
    double bound = tr->is_quantized ? 1e-3 : t == KERN_TYPE_F32 ? 1e-9 : 1e-5;
    int64_t kbig = tr->block_size == 1 ? 4097 : tr->block_size == 32 ? 4096 + 32 : 4096 + 256;
    int64_t ksmall = tr->block_size == 1 ? 7 : tr->block_size;
    /* M >= 64 takes the packed-GEMM paths (Q8_0: M >= 32); N = 37 leaves a ragged
     * column tile, N = 20 a panel of more than 16 and fewer than 32 rows. */
    const int64_t shapes[][4] = {
      { ksmall, 1, 1, 0 }, { ksmall, 33, 7, 1 }, { kbig, 7, 1, 1 }, { kbig, 33, 33, 0 }, { kbig, 1, 4, 1 },
      { kbig, 37, 70, 1 }, { kbig, 20, 45, 1 },
    };
    for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
      snprintf(path, sizeof path, "matmul/%s/%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "%s",
               tname(t), shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3] ? "+bias" : "");
      add_case(be, path, run_matmul, t, bound, shapes[s], 4);
    }
  }
  add_case(be, "add/f32/1x1", run_binary, KERN_TYPE_F32, 1e-12, P(1, 1, 1, 0));
  add_case(be, "add/f32/7x33-row", run_binary, KERN_TYPE_F32, 1e-12, P(7, 33, 1, 0));
  add_case(be, "add/f32/4097x3", run_binary, KERN_TYPE_F32, 1e-12, P(4097, 3, 3, 0));
  add_case(be, "mul/f32/33x8-2rows", run_binary, KERN_TYPE_F32, 1e-12, P(33, 8, 2, 1));
  add_case(be, "mul/f32/4097x2-row", run_binary, KERN_TYPE_F32, 1e-12, P(4097, 2, 1, 1));
  add_case(be, "scale/f32/7x33", run_rowwise, KERN_TYPE_F32, 1e-12, P(7, 33, ROW_SCALE, 0));
  static const int64_t rows_shapes[][2] = { { 1, 3 }, { 7, 33 }, { 4097, 2 }, { 384, 5 } };
  for (size_t s = 0; s < G_N_ELEMENTS(rows_shapes); s++) {
    int64_t n0 = rows_shapes[s][0], r = rows_shapes[s][1];
    snprintf(path, sizeof path, "layernorm/f32/%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT, n0, r);
    add_case(be, path, run_rowwise, KERN_TYPE_F32, 1e-10, P(n0, r, ROW_LAYERNORM, 0));
    snprintf(path, sizeof path, "rmsnorm/f32/%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT, n0, r);
    add_case(be, path, run_rowwise, KERN_TYPE_F32, 1e-10, P(n0, r, ROW_RMSNORM, 0));
    snprintf(path, sizeof path, "softmax/f32/%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT, n0, r);
    add_case(be, path, run_rowwise, KERN_TYPE_F32, 1e-10, P(n0, r, ROW_SOFTMAX, (int64_t)s));
    snprintf(path, sizeof path, "swiglu/f32/%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT, n0, r);
    add_case(be, path, run_rowwise, KERN_TYPE_F32, 1e-10, P(n0, r, ROW_SWIGLU, 0));
  }
  static const char *const unary_names[] = { "gelu", "gelu_tanh", "gelu_quick", "silu", "relu" };
  for (int u = 0; u <= KERN_UNARY_RELU; u++) {
    snprintf(path, sizeof path, "unary/%s/4097x3", unary_names[u]);
    add_case(be, path, run_rowwise, KERN_TYPE_F32, 1e-10, P(4097, 3, ROW_UNARY, u));
    snprintf(path, sizeof path, "unary/%s/1x1", unary_names[u]);
    add_case(be, path, run_rowwise, KERN_TYPE_F32, 1e-10, P(1, 1, ROW_UNARY, u));
  }
  /* rope: {head_dim, n_head, T, n_rot, mode, freq_factors, freq_scale*100, base} */
  add_case(be, "rope/normal/64x4x7", run_rope, KERN_TYPE_F32, 1e-9, P(64, 4, 7, 64, KERN_ROPE_NORMAL, 0, 100, 10000));
  add_case(be, "rope/neox/64x4x7", run_rope, KERN_TYPE_F32, 1e-9, P(64, 4, 7, 64, KERN_ROPE_NEOX, 0, 100, 10000));
  add_case(be, "rope/neox-partial/128x3x33", run_rope, KERN_TYPE_F32, 1e-9,
           P(128, 3, 33, 64, KERN_ROPE_NEOX, 0, 100, 1000000));
  add_case(be, "rope/normal-llama3-factors/128x2x5", run_rope, KERN_TYPE_F32, 1e-9,
           P(128, 2, 5, 128, KERN_ROPE_NORMAL, 1, 100, 500000));
  add_case(be, "rope/neox-linear-scale/32x1x1", run_rope, KERN_TYPE_F32, 1e-9,
           P(32, 1, 1, 32, KERN_ROPE_NEOX, 0, 25, 10000));
  /* conv1d: {C_in, T, C_out, K, stride, pad}: Whisper's front end and odd sizes */
  static const int conv_types[] = { KERN_TYPE_F32, KERN_TYPE_F16 };
  for (size_t i = 0; i < 2; i++) {
    int t = conv_types[i];
    double bound = t == KERN_TYPE_F32 ? 1e-9 : 1e-5;
    snprintf(path, sizeof path, "conv1d/%s/80x33-k3s1", tname(t));
    add_case(be, path, run_conv1d, t, bound, P(80, 33, 7, 3, 1, 1));
    snprintf(path, sizeof path, "conv1d/%s/7x33-k3s2", tname(t));
    add_case(be, path, run_conv1d, t, bound, P(7, 33, 33, 3, 2, 1));
    snprintf(path, sizeof path, "conv1d/%s/3x1-k1", tname(t));
    add_case(be, path, run_conv1d, t, bound, P(3, 1, 1, 1, 1, 0));
    snprintf(path, sizeof path, "conv1d/%s/384x300-k3s2", tname(t));
    add_case(be, path, run_conv1d, t, bound, P(384, 300, 384, 3, 2, 1));
    /* patch_embed: {W, H, C, P, D} */
    snprintf(path, sizeof path, "patch_embed/%s/28x14-p14", tname(t));
    add_case(be, path, run_patch_embed, t, bound, P(28, 14, 3, 14, 33));
    snprintf(path, sizeof path, "patch_embed/%s/32x32-p16", tname(t));
    add_case(be, path, run_patch_embed, t, bound, P(32, 32, 3, 16, 7));
  }
  /* get_rows: every table type */
  for (size_t i = 0; i < G_N_ELEMENTS(wtypes); i++) {
    int t = wtypes[i];
    int64_t D = kern_type_get_traits(t)->block_size == 256 ? 512 : kern_type_get_traits(t)->block_size == 32 ? 96 : 7;
    snprintf(path, sizeof path, "get_rows/%s/%" G_GINT64_FORMAT "x33", tname(t), D);
    add_case(be, path, run_get_rows, t, 1e-12, P(D, 33, 7));
  }
  /* attention: {hd, n_head, n_kv, Tq, Tk, causal, pos0}; K/V F32 and F16 (KV cache) */
  static const int kv_types[] = { KERN_TYPE_F32, KERN_TYPE_F16 };
  for (size_t i = 0; i < 2; i++) {
    int t = kv_types[i];
    double bound = 1e-8;
    snprintf(path, sizeof path, "attention/%s/decode-64x4-33keys", tname(t));
    add_case(be, path, run_attention, t, bound, P(64, 4, 4, 1, 33, 1, 32));
    snprintf(path, sizeof path, "attention/%s/prefill-gqa-64x8kv2-7", tname(t));
    add_case(be, path, run_attention, t, bound, P(64, 8, 2, 7, 7, 1, 0));
    snprintf(path, sizeof path, "attention/%s/cross-32x3-33q-1500keys", tname(t));
    add_case(be, path, run_attention, t, bound, P(32, 3, 3, 33, 1500, 0, 0));
    snprintf(path, sizeof path, "attention/%s/decode-long-128x4kv1-4097keys", tname(t));
    add_case(be, path, run_attention, t, bound, P(128, 4, 1, 1, 4097, 1, 4096));
    snprintf(path, sizeof path, "attention/%s/chunk-64x2-5q-at-100", tname(t));
    add_case(be, path, run_attention, t, bound, P(64, 2, 2, 5, 200, 1, 100));
  }
  /* attention over a Q8_0 KV cache: fast paths may widen it to F16 first */
  add_case(be, "attention/q8_0/decode-64x4-33keys", run_attention, KERN_TYPE_Q8_0, 1e-6, P(64, 4, 4, 1, 33, 1, 32));
  add_case(be, "attention/q8_0/prefill-gqa-64x8kv2-7", run_attention, KERN_TYPE_Q8_0, 1e-6, P(64, 8, 2, 7, 7, 1, 0));
  add_case(be, "attention/q8_0/decode-long-128x4kv1-4097keys", run_attention, KERN_TYPE_Q8_0, 1e-6,
           P(128, 4, 1, 1, 4097, 1, 4096));
  add_case(be, "attention/q8_0/chunk-64x2-5q-at-100", run_attention, KERN_TYPE_Q8_0, 1e-6, P(64, 2, 2, 5, 200, 1, 100));
  /* appending to a Q8_0 KV cache (a CUDA rounding tie may land on the other side) */
  add_case(be, "copy/f32-q8_0/4096", run_copy, KERN_TYPE_F32, 1e-6, P(4096, KERN_TYPE_Q8_0));
  /* copy between float types */
  static const int ftypes[] = { KERN_TYPE_F32, KERN_TYPE_F16, KERN_TYPE_BF16 };
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 3; j++) {
      snprintf(path, sizeof path, "copy/%s-%s/4097", tname(ftypes[i]), tname(ftypes[j]));
      add_case(be, path, run_copy, ftypes[i], -1, P(4097, ftypes[j]));
    }
  add_case(be, "copy/f32-f16/1", run_copy, KERN_TYPE_F32, -1, P(1, KERN_TYPE_F16));
  /* argmax / topk: {n0, rows, k, ties}: exact */
  add_case(be, "argmax/f32/4097x3", run_select, KERN_TYPE_F32, -1, P(4097, 3, 0, 0));
  add_case(be, "argmax/f32/1x5", run_select, KERN_TYPE_F32, -1, P(1, 5, 0, 0));
  add_case(be, "argmax/f32/33x7-ties", run_select, KERN_TYPE_F32, -1, P(33, 7, 0, 1));
  add_case(be, "argmax/f32/151936x1", run_select, KERN_TYPE_F32, -1, P(151936, 1, 0, 0));
  add_case(be, "topk/f32/4097x2-k40", run_select, KERN_TYPE_F32, -1, P(4097, 2, 40, 0));
  add_case(be, "topk/f32/33x3-k33-ties", run_select, KERN_TYPE_F32, -1, P(33, 3, 33, 1));
  add_case(be, "topk/f32/7x1-k1", run_select, KERN_TYPE_F32, -1, P(7, 1, 1, 0));
}

/* ---- argument checking (once, through the reference) ------------------- */

static void
test_bad_arguments(void)
{
  kern_backend_t be = ref_backend;
  kern_tensor *w = kern_tensor_new_2d(be, KERN_TYPE_F32, 8, 4), *x = kern_tensor_new_2d(be, KERN_TYPE_F32, 7, 2);
  kern_tensor *y = kern_tensor_new_2d(be, KERN_TYPE_F32, 4, 2);
  g_assert_cmpint(kern_matmul(be, y, w, x, NULL), ==, KERN_E_INVAL);
  g_assert_nonnull(strstr(kern_backend_errmsg(be), "matmul"));
  g_assert_cmpint(kern_matmul(be, y, NULL, x, NULL), ==, KERN_E_INVAL);
  kern_tensor bad = kern_tensor_slice(w, 3, 5); /* past the end: an invalid view */
  g_assert_null(bad.data);
  g_assert_cmpint(kern_scale(be, &bad, &bad, 1.0f), ==, KERN_E_INVAL);
  /* Quantized rows must be whole blocks. */
  g_assert_null(kern_tensor_new_2d(be, KERN_TYPE_Q4_0, 31, 2));
  /* get_rows with an id out of range. */
  kern_tensor *ids = kern_tensor_new_2d(be, KERN_TYPE_I32, 1, 1);
  int32_t id = 4;
  kern_tensor_set(ids, &id, 0, 4);
  kern_tensor *row = kern_tensor_new_2d(be, KERN_TYPE_F32, 8, 1);
  g_assert_cmpint(kern_get_rows(be, row, w, ids), ==, KERN_E_INVAL);
  id = -1;
  kern_tensor_set(ids, &id, 0, 4);
  g_assert_cmpint(kern_get_rows(be, row, w, ids), ==, KERN_E_INVAL);
  /* A tensor of another backend. */
  kern_backend_t other = kern_backend_new("cpu-ref", NULL, NULL);
  kern_tensor *foreign = kern_tensor_new_2d(other, KERN_TYPE_F32, 8, 4);
  g_assert_cmpint(kern_add(be, w, w, foreign), ==, KERN_E_INVAL);
  g_assert_nonnull(strstr(kern_backend_errmsg(be), "belongs to"));
  kern_tensor_free(foreign);
  kern_backend_free(other);
  /* Causal attention needs its keys. */
  const int64_t qne[3] = { 8, 1, 3 }, kne[3] = { 8, 1, 2 };
  kern_tensor *q = kern_tensor_new(be, KERN_TYPE_F32, 3, qne), *k = kern_tensor_new(be, KERN_TYPE_F32, 3, kne);
  g_assert_cmpint(kern_attention(be, q, q, k, k, 1.0f, 1, 0), ==, KERN_E_INVAL);
  kern_tensor_free(q), kern_tensor_free(k);
  char *err = NULL;
  g_assert_null(kern_backend_new("tpu", NULL, &err));
  g_assert_nonnull(strstr(err, "unknown backend"));
  free(err);
  /* "auto": CUDA when it can be made, else the fast CPU backend. */
  kern_backend_t autob = kern_backend_new("auto", NULL, &err);
  g_assert_nonnull(autob);
  kern_backend_t probe = kern_backend_new("cuda", NULL, NULL);
  g_assert_cmpstr(kern_backend_name(autob), ==, probe ? kern_backend_name(probe) : "cpu");
  if (probe)
    kern_backend_free(probe);
  kern_backend_free(autob);
  kern_tensor_free(w), kern_tensor_free(x), kern_tensor_free(y), kern_tensor_free(ids), kern_tensor_free(row);
}

static void
test_in_place(void)
{
  /* y may alias x for elementwise ops and norms. */
  kern_backend_t be = ref_backend;
  float v[4] = { 1, -2, 3, -4 };
  kern_tensor *x = kern_tensor_new_2d(be, KERN_TYPE_F32, 4, 1);
  kern_tensor_set(x, v, 0, sizeof v);
  g_assert_cmpint(kern_unary(be, x, x, KERN_UNARY_RELU), ==, 0);
  kern_tensor_get(x, v, 0, sizeof v);
  g_assert_cmpfloat(v[1], ==, 0);
  g_assert_cmpfloat(v[2], ==, 3);
  kern_tensor_free(x);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  char *err = NULL;
  ref_backend = kern_backend_new("cpu-ref", NULL, &err);
  g_assert_nonnull(ref_backend);
  cases = g_ptr_array_new();
  g_test_add_func("/kernels/ops/bad-arguments", test_bad_arguments);
  g_test_add_func("/kernels/ops/in-place", test_in_place);
  add_cases("cpu");
  add_cases("cuda");
  int rc = g_test_run();
  kern_backend_free(ref_backend);
  return rc;
}
