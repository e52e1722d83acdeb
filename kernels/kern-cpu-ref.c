/* kern-cpu-ref.c: the reference backend ("cpu-ref").
 *
 * The specification of every op: straightforward loops over the layouts
 * documented in kern-backend.h, sums in double. Never optimized; other
 * backends are checked against it. */
#include "kern-cpu-ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- host memory --------------------------------------------------------- */

void *
_kern_host_alloc(kern_backend_t be, size_t size)
{
  void *p = NULL;
  if (posix_memalign(&p, 64, size ? size : 64) != 0) {
    _kern_backend_error(be, KERN_E_NOMEM, "out of host memory (%zu bytes)", size);
    return NULL;
  }
  return p;
}

void
_kern_host_free(kern_backend_t be, void *ptr)
{
  (void)be;
  free(ptr);
}

int
_kern_host_copy(kern_backend_t be, void *dst, const void *src, size_t size)
{
  (void)be;
  memmove(dst, src, size);
  return 0;
}

int
_kern_host_sync(kern_backend_t be)
{
  (void)be;
  return 0;
}

/* Dequantizes row r of t (rows of ne[0] values) into out. */
static void
row_f32(const kern_tensor *t, int64_t r, float *out)
{
  size_t rs = kern_type_row_size(t->type, t->ne[0]);
  kern_dequantize_row(t->type, (const char *)t->data + rs * (size_t)r, out, t->ne[0]);
}

static float *
scratch(kern_backend_t be, int64_t n)
{
  float *p = malloc((size_t)n * sizeof *p);
  if (!p)
    _kern_backend_error(be, KERN_E_NOMEM, "out of host memory");
  return p;
}

/* ---- ops ---------------------------------------------------------------- */

int
_kern_ref_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x,
                 const kern_tensor *bias)
{
  int64_t K = w->ne[0], N = kern_tensor_nrows(w), M = kern_tensor_nrows(x);
  const float *xd = x->data;                 /* (M, K) */
  const float *bd = bias ? bias->data : NULL; /* (N) */
  float *yd = y->data;                       /* (M, N) */
  float *wrow = scratch(be, K);              /* (K) one dequantized weight row */
  if (!wrow)
    return KERN_E_NOMEM;
  float *out = scratch(be, M * N);  /* (M, N): y may alias x */
  if (!out) {
    free(wrow);
    return KERN_E_NOMEM;
  }
  for (int64_t n = 0; n < N; n++) {
    row_f32(w, n, wrow);
    for (int64_t m = 0; m < M; m++) {
      double s = 0;
      for (int64_t k = 0; k < K; k++)
        s += (double)wrow[k] * xd[m * K + k];
      out[m * N + n] = (float)(s + (bd ? bd[n] : 0));
    }
  }
  memcpy(yd, out, (size_t)(M * N) * sizeof *out);
  free(out);
  free(wrow);
  return 0;
}

static int
binary(kern_tensor *y, const kern_tensor *a, const kern_tensor *b, int is_mul)
{
  int64_t n = kern_tensor_nel(a), nb = kern_tensor_nel(b);
  const float *ad = a->data, *bd = b->data;
  float *yd = y->data;
  for (int64_t i = 0; i < n; i++)
    yd[i] = is_mul ? ad[i] * bd[i % nb] : ad[i] + bd[i % nb];
  return 0;
}

int
_kern_ref_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  (void)be;
  return binary(y, a, b, 0);
}

int
_kern_ref_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  (void)be;
  return binary(y, a, b, 1);
}

int
_kern_ref_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s)
{
  (void)be;
  int64_t n = kern_tensor_nel(x);
  const float *xd = x->data;
  float *yd = y->data;
  for (int64_t i = 0; i < n; i++)
    yd[i] = xd[i] * s;
  return 0;
}

int
_kern_ref_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
                    const kern_tensor *beta, float eps)
{
  (void)be;
  int64_t n = x->ne[0], rows = kern_tensor_nrows(x);
  const float *g = gamma ? gamma->data : NULL, *b = beta ? beta->data : NULL;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = (const float *)x->data + r * n;
    float *yr = (float *)y->data + r * n;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++)
      mean += xr[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= (double)n;
    double inv = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < n; i++)
      yr[i] = (float)((xr[i] - mean) * inv * (g ? g[i] : 1.0) + (b ? b[i] : 0.0));
  }
  return 0;
}

int
_kern_ref_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps)
{
  (void)be;
  int64_t n = x->ne[0], rows = kern_tensor_nrows(x);
  const float *g = gamma ? gamma->data : NULL;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = (const float *)x->data + r * n;
    float *yr = (float *)y->data + r * n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
      ss += (double)xr[i] * xr[i];
    double inv = 1.0 / sqrt(ss / (double)n + eps);
    for (int64_t i = 0; i < n; i++)
      yr[i] = (float)(xr[i] * inv * (g ? g[i] : 1.0));
  }
  return 0;
}

float
_kern_unary_f32(kern_unary_op op, float x)
{
  switch (op) {
  case KERN_UNARY_GELU: return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
  case KERN_UNARY_GELU_TANH: {
    double c = sqrt(2.0 / M_PI);
    return (float)(0.5 * x * (1.0 + tanh(c * (x + 0.044715 * (double)x * x * x))));
  }
  case KERN_UNARY_GELU_QUICK: return (float)(x / (1.0 + exp(-1.702 * x)));
  case KERN_UNARY_SILU: return (float)(x / (1.0 + exp(-(double)x)));
  case KERN_UNARY_RELU: return x > 0 ? x : 0;
  }
  return x;
}

int
_kern_ref_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op)
{
  (void)be;
  int64_t n = kern_tensor_nel(x);
  const float *xd = x->data;
  float *yd = y->data;
  for (int64_t i = 0; i < n; i++)
    yd[i] = _kern_unary_f32(op, xd[i]);
  return 0;
}

int
_kern_ref_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up)
{
  (void)be;
  int64_t n = kern_tensor_nel(gate);
  const float *g = gate->data, *u = up->data;
  float *yd = y->data;
  for (int64_t i = 0; i < n; i++)
    yd[i] = (float)((double)_kern_unary_f32(KERN_UNARY_SILU, g[i]) * u[i]);
  return 0;
}

/* In-place softmax of n doubles scaled by `scale`. */
static void
softmax_row(const float *x, float *y, int64_t n, float scale)
{
  double mx = -INFINITY, sum = 0;
  for (int64_t i = 0; i < n; i++)
    if ((double)x[i] * scale > mx)
      mx = (double)x[i] * scale;
  for (int64_t i = 0; i < n; i++)
    sum += exp((double)x[i] * scale - mx);
  for (int64_t i = 0; i < n; i++)
    y[i] = (float)(exp((double)x[i] * scale - mx) / sum);
}

int
_kern_ref_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale)
{
  (void)be;
  int64_t n = x->ne[0], rows = kern_tensor_nrows(x);
  for (int64_t r = 0; r < rows; r++)
    softmax_row((const float *)x->data + r * n, (float *)y->data + r * n, n, scale);
  return 0;
}

int
_kern_ref_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos,
               const kern_rope_params *p)
{
  (void)be;
  int64_t hd = x->ne[0], nh = x->ne[1], T = x->ne[2];
  const int32_t *pd = pos->data;
  const float *ff = p->freq_factors ? p->freq_factors->data : NULL;
  int half = p->n_rot / 2;
  for (int64_t t = 0; t < T; t++) {
    for (int64_t h = 0; h < nh; h++) {
      const float *xr = (const float *)x->data + (t * nh + h) * hd; /* (hd) */
      float *yr = (float *)y->data + (t * nh + h) * hd;
      for (int64_t i = p->n_rot; i < hd; i++)
        yr[i] = xr[i];
      for (int i = 0; i < half; i++) {
        double theta = (double)pd[t] * p->freq_scale * pow(p->base, -2.0 * i / p->n_rot) / (ff ? ff[i] : 1.0);
        double c = cos(theta), s = sin(theta);
        int a = p->mode == KERN_ROPE_NEOX ? i : 2 * i;
        int b = p->mode == KERN_ROPE_NEOX ? i + half : 2 * i + 1;
        double x0 = xr[a], x1 = xr[b];
        yr[a] = (float)(x0 * c - x1 * s);
        yr[b] = (float)(x0 * s + x1 * c);
      }
    }
  }
  return 0;
}

int
_kern_ref_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w,
                 const kern_tensor *bias, int stride, int pad)
{
  int64_t K = w->ne[0], Cin = w->ne[1], Cout = w->ne[2], T = x->ne[1], Tout = y->ne[1];
  const float *xd = x->data;                  /* (T, Cin) */
  const float *bd = bias ? bias->data : NULL; /* (Cout) */
  float *wf = scratch(be, K * Cin * Cout);    /* (Cout, Cin, K) */
  if (!wf)
    return KERN_E_NOMEM;
  kern_dequantize_row(w->type, w->data, wf, K * Cin * Cout);
  float *yd = y->data; /* (Tout, Cout) */
  for (int64_t t = 0; t < Tout; t++)
    for (int64_t co = 0; co < Cout; co++) {
      double s = bd ? bd[co] : 0;
      for (int64_t ci = 0; ci < Cin; ci++)
        for (int64_t k = 0; k < K; k++) {
          int64_t ti = t * stride + k - pad;
          if (ti >= 0 && ti < T)
            s += (double)wf[(co * Cin + ci) * K + k] * xd[ti * Cin + ci];
        }
      yd[t * Cout + co] = (float)s;
    }
  free(wf);
  return 0;
}

int
_kern_ref_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                      const kern_tensor *bias)
{
  int64_t P = w->ne[0], C = w->ne[2], D = w->ne[3], W = img->ne[0], H = img->ne[1], nx = W / P;
  int64_t npatch = (W / P) * (H / P);
  const float *im = img->data;                /* (C, H, W) */
  const float *bd = bias ? bias->data : NULL; /* (D) */
  float *wf = scratch(be, P * P * C * D);     /* (D, C, P, P) */
  if (!wf)
    return KERN_E_NOMEM;
  kern_dequantize_row(w->type, w->data, wf, P * P * C * D);
  float *yd = y->data; /* (npatch, D) */
  for (int64_t pi = 0; pi < npatch; pi++) {
    int64_t py = pi / nx, px = pi % nx;
    for (int64_t d = 0; d < D; d++) {
      double s = bd ? bd[d] : 0;
      for (int64_t c = 0; c < C; c++)
        for (int64_t ky = 0; ky < P; ky++)
          for (int64_t kx = 0; kx < P; kx++)
            s += (double)wf[((d * C + c) * P + ky) * P + kx] * im[(c * H + py * P + ky) * W + px * P + kx];
      yd[pi * D + d] = (float)s;
    }
  }
  free(wf);
  return 0;
}

int
_kern_ref_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids)
{
  int64_t n = kern_tensor_nel(ids), V = table->ne[1], D = table->ne[0];
  const int32_t *id = ids->data;
  for (int64_t i = 0; i < n; i++)
    if (id[i] < 0 || id[i] >= V)
      return _kern_backend_error(be, KERN_E_INVAL, "get_rows: id %d at %lld is outside [0, %lld)", id[i],
                                 (long long)i, (long long)V);
  for (int64_t i = 0; i < n; i++)
    row_f32(table, id[i], (float *)y->data + i * D);
  return 0;
}

int
_kern_ref_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k,
                    const kern_tensor *v, float scale, int causal, int64_t pos0)
{
  int64_t hd = q->ne[0], nh = q->ne[1], Tq = q->ne[2], nkv = k->ne[1], Tk = k->ne[2], group = nh / nkv;
  float *kf = scratch(be, hd * nkv * Tk); /* (Tk, nkv, hd) */
  float *vf = scratch(be, hd * nkv * Tk);
  float *sc = scratch(be, Tk);            /* (Tk) scores of one query */
  float *res = scratch(be, hd * nh * Tq); /* (Tq, nh, hd): out may alias q */
  if (!kf || !vf || !sc || !res) {
    free(kf), free(vf), free(sc), free(res);
    return KERN_E_NOMEM;
  }
  kern_dequantize_row(k->type, k->data, kf, hd * nkv * Tk);
  kern_dequantize_row(v->type, v->data, vf, hd * nkv * Tk);
  const float *qd = q->data;
  for (int64_t t = 0; t < Tq; t++)
    for (int64_t h = 0; h < nh; h++) {
      const float *qr = qd + (t * nh + h) * hd;
      int64_t kvh = h / group, n = causal ? pos0 + t + 1 : Tk;
      for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t i = 0; i < hd; i++)
          s += (double)qr[i] * kf[(j * nkv + kvh) * hd + i];
        sc[j] = (float)s;
      }
      softmax_row(sc, sc, n, scale);
      float *o = res + (t * nh + h) * hd;
      for (int64_t i = 0; i < hd; i++) {
        double s = 0;
        for (int64_t j = 0; j < n; j++)
          s += (double)sc[j] * vf[(j * nkv + kvh) * hd + i];
        o[i] = (float)s;
      }
    }
  memcpy(out->data, res, (size_t)(hd * nh * Tq) * sizeof *res);
  free(kf), free(vf), free(sc), free(res);
  return 0;
}

int
_kern_ref_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src)
{
  int64_t n = kern_tensor_nel(src);
  if (src->type == dst->type) {
    memmove(dst->data, src->data, src->nbytes);
    return 0;
  }
  float *tmp = scratch(be, n);
  if (!tmp)
    return KERN_E_NOMEM;
  kern_dequantize_row(src->type, src->data, tmp, n);
  kern_quantize_row(dst->type, tmp, dst->data, n);
  free(tmp);
  return 0;
}

int
_kern_ref_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x)
{
  (void)be;
  int64_t n = x->ne[0], rows = kern_tensor_nrows(x);
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = (const float *)x->data + r * n;
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
      if (xr[i] > xr[best])
        best = i;
    ((int32_t *)out->data)[r] = (int32_t)best;
  }
  return 0;
}

int
_kern_ref_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k)
{
  int64_t n = x->ne[0], rows = kern_tensor_nrows(x);
  char *taken = malloc((size_t)n);
  if (!taken)
    return _kern_backend_error(be, KERN_E_NOMEM, "out of host memory");
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = (const float *)x->data + r * n;
    memset(taken, 0, (size_t)n);
    for (int j = 0; j < k; j++) {
      int64_t best = -1;
      for (int64_t i = 0; i < n; i++)
        if (!taken[i] && (best < 0 || xr[i] > xr[best]))
          best = i;
      taken[best] = 1;
      ((int32_t *)idx->data)[r * k + j] = (int32_t)best;
      ((float *)val->data)[r * k + j] = xr[best];
    }
  }
  free(taken);
  return 0;
}

/* ---- the backend --------------------------------------------------------- */

static int
ref_supports(kern_backend_t be, kern_op op, int type)
{
  (void)be;
  (void)op;
  return kern_type_get_traits(type) != NULL;
}

static void
ref_destroy(kern_backend_t be)
{
  free(be);
}

static const struct kern_backend_i ref_iface = {
  .name = "cpu-ref",
  .is_host = 1,
  .destroy = ref_destroy,
  .alloc = _kern_host_alloc,
  .free = _kern_host_free,
  .upload = _kern_host_copy,
  .download = _kern_host_copy,
  .sync = _kern_host_sync,
  .supports_op = ref_supports,
  .matmul = _kern_ref_matmul,
  .add = _kern_ref_add,
  .mul = _kern_ref_mul,
  .scale = _kern_ref_scale,
  .layernorm = _kern_ref_layernorm,
  .rmsnorm = _kern_ref_rmsnorm,
  .unary = _kern_ref_unary,
  .swiglu = _kern_ref_swiglu,
  .softmax = _kern_ref_softmax,
  .rope = _kern_ref_rope,
  .conv1d = _kern_ref_conv1d,
  .patch_embed = _kern_ref_patch_embed,
  .get_rows = _kern_ref_get_rows,
  .attention = _kern_ref_attention,
  .copy = _kern_ref_copy,
  .argmax = _kern_ref_argmax,
  .topk = _kern_ref_topk,
};

kern_backend_t
_kern_cpu_ref_new(char **err)
{
  kern_backend_t be = calloc(1, sizeof *be);
  if (!be) {
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  be->iface = &ref_iface;
  strcpy(be->name, "cpu-ref");
  return be;
}
