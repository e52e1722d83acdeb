/* kern-cpu-fast-float.h: the float kernels of the "cpu" backend, written once
 * against kern-cpu-fast-simd.h and included by each instruction-set file
 * (generic, avx2, avx512), which defines before including:
 *   KERN_GEMM_MR  activation rows of a dot-product GEMM tile (4 weight rows wide)
 *   KERN_GEMMP_MR activation rows of a packed GEMM tile (<= 12)
 *   KERN_ATTN_DG  head dimensions per pass of the attention P.V product
 * and then calls kern_float_fill(table). Everything is static: each
 * instruction set gets its own copy. */
#pragma once

#include "kern-cpu-fast-private.h"
#include "kern-cpu-fast-simd.h"

#define KERN_UNROLL _Pragma("GCC unroll 16")

/* ---- float GEMM tile: y[m][n] = x[m] . w[n] (+ bias[n]) -----------------
 * Both operands run along K, so the tile is MR x 4 vector accumulators; one
 * weight vector (converted from F16/BF16 once) serves MR activation rows.
 * Weight rows past nr repeat the last row and are not stored. */

enum { WT_F32, WT_F16, WT_BF16 };

KERN_INLINE vf
load_w(const int wt, const void *w, int64_t k)
{
  if (wt == WT_F32)
    return vf_load((const float *)w + k);
  if (wt == WT_F16)
    return vf_load_h((const uint16_t *)w + k);
  return vf_load_bh((const uint16_t *)w + k);
}

KERN_INLINE float
load_w1(const int wt, const void *w, int64_t k)
{
  if (wt == WT_F32)
    return ((const float *)w)[k];
  if (wt == WT_F16)
    return kern_f16_to_f32(((const uint16_t *)w)[k]);
  return kern_bf16_to_f32(((const uint16_t *)w)[k]);
}

KERN_INLINE void
gemm_tile(int64_t K, const char *w, size_t ws, int nr, const char *x, size_t xs, float *y, size_t ys,
          const float *bias, const int MR, const int wt)
{
  const char *w0 = w, *w1 = w + (nr > 1 ? 1 : 0) * ws, *w2 = w + (nr > 2 ? 2 : nr - 1) * ws;
  const char *w3 = w + (nr > 3 ? 3 : nr - 1) * ws;
  vf acc[KERN_GEMM_MR][4];
  KERN_UNROLL for (int m = 0; m < MR; m++)
    KERN_UNROLL for (int n = 0; n < 4; n++)
      acc[m][n] = vf_zero();
  int64_t k = 0;
  for (; k + VF_N <= K; k += VF_N) {
    vf a = load_w(wt, w0, k), b = load_w(wt, w1, k), c = load_w(wt, w2, k), d = load_w(wt, w3, k);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      vf xv = vf_load((const float *)(x + (size_t)m * xs) + k);
      acc[m][0] = vf_fma(xv, a, acc[m][0]);
      acc[m][1] = vf_fma(xv, b, acc[m][1]);
      acc[m][2] = vf_fma(xv, c, acc[m][2]);
      acc[m][3] = vf_fma(xv, d, acc[m][3]);
    }
  }
  KERN_UNROLL for (int m = 0; m < MR; m++) {
    float r[4];
    const float *xr = (const float *)(x + (size_t)m * xs);
    vf_hsum4(acc[m][0], acc[m][1], acc[m][2], acc[m][3], r);
    for (int64_t kk = k; kk < K; kk++) {
      r[0] += xr[kk] * load_w1(wt, w0, kk);
      r[1] += xr[kk] * load_w1(wt, w1, kk);
      r[2] += xr[kk] * load_w1(wt, w2, kk);
      r[3] += xr[kk] * load_w1(wt, w3, kk);
    }
    for (int n = 0; n < nr; n++)
      y[(size_t)m * ys + (size_t)n] = r[n] + (bias ? bias[n] : 0.0f);
  }
}

#define KERN_GEMM_CASE(MRC, WT)                                                                      \
  case MRC:                                                                                          \
    for (int n0 = 0; n0 < nr; n0 += 4)                                                               \
      gemm_tile(K, (const char *)w + (size_t)n0 * ws, ws, nr - n0 < 4 ? nr - n0 : 4, x, xs, y + n0, \
                ys, bias ? bias + n0 : NULL, MRC, WT);                                               \
    break;

#if KERN_GEMM_MR >= 6
#define KERN_GEMM_CASES(WT) KERN_GEMM_CASE(1, WT) KERN_GEMM_CASE(2, WT) KERN_GEMM_CASE(3, WT) \
  KERN_GEMM_CASE(4, WT) KERN_GEMM_CASE(5, WT) KERN_GEMM_CASE(6, WT)
#elif KERN_GEMM_MR >= 4
#define KERN_GEMM_CASES(WT) KERN_GEMM_CASE(1, WT) KERN_GEMM_CASE(2, WT) KERN_GEMM_CASE(3, WT) KERN_GEMM_CASE(4, WT)
#elif KERN_GEMM_MR >= 3
#define KERN_GEMM_CASES(WT) KERN_GEMM_CASE(1, WT) KERN_GEMM_CASE(2, WT) KERN_GEMM_CASE(3, WT)
#else
#define KERN_GEMM_CASES(WT) KERN_GEMM_CASE(1, WT) KERN_GEMM_CASE(2, WT)
#endif

#define KERN_GEMM_FN(NAME, WT)                                                                          \
  static void NAME(int64_t K, const void *w, size_t ws, int nr, const void *xv, size_t xs, int mr,     \
                   float *y, size_t ys, const float *bias)                                            \
  {                                                                                                    \
    const char *x = xv;                                                                                \
    switch (mr) { KERN_GEMM_CASES(WT) default: break; }                                                \
  }

KERN_GEMM_FN(gemm_f32, WT_F32)
KERN_GEMM_FN(gemm_f16, WT_F16)
KERN_GEMM_FN(gemm_bf16, WT_BF16)


/* ---- packed float GEMM (many activation rows) ------------------------------
 * Weights are packed per block of KERN_GEMMP_KC values into panels of
 * KERN_GEMMP_NR = 2 vectors of output columns, k-major (transposed, widened
 * to float); each step broadcasts one activation value per row against the
 * panel: an outer product with no horizontal sums, y stored a vector at a time. */

#define KERN_GEMMP_NR (2 * VF_N)

/* wp[k][r] = w[r][k0 + k] for r < nr, 0 for nr <= r < KERN_GEMMP_NR */
static void
gemmp_pack(int wt, const void *w, size_t ws, int nr, int64_t k0, int64_t kc, float *wp)
{
  float row[VF_N];
  for (int r = 0; r < KERN_GEMMP_NR; r++) {
    if (r >= nr) {
      for (int64_t k = 0; k < kc; k++)
        wp[k * KERN_GEMMP_NR + r] = 0.0f;
      continue;
    }
    const char *wr = (const char *)w + (size_t)r * ws;
    int64_t k = 0;
    for (; k + VF_N <= kc; k += VF_N) {
      vf_store(row, load_w(wt, wr, k0 + k));
      KERN_UNROLL for (int i = 0; i < VF_N; i++)
        wp[(k + i) * KERN_GEMMP_NR + r] = row[i];
    }
    for (; k < kc; k++)
      wp[k * KERN_GEMMP_NR + r] = load_w1(wt, wr, k0 + k);
  }
}

KERN_INLINE void
gemmp_tile(int64_t kc, const float *wp, const char *x, size_t xs, float *y, size_t ys, int nr, const float *bias,
           int accumulate, const int MR)
{
  vf acc[KERN_GEMMP_MR][2];
  KERN_UNROLL for (int m = 0; m < MR; m++)
    acc[m][0] = acc[m][1] = vf_zero();
  for (int64_t k = 0; k < kc; k++) {
    vf w0 = vf_load(wp + k * KERN_GEMMP_NR), w1 = vf_load(wp + k * KERN_GEMMP_NR + VF_N);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      vf xb = vf_set1(((const float *)(x + (size_t)m * xs))[k]);
      acc[m][0] = vf_fma(xb, w0, acc[m][0]);
      acc[m][1] = vf_fma(xb, w1, acc[m][1]);
    }
  }
  KERN_UNROLL for (int m = 0; m < MR; m++) {
    float *yr = y + (size_t)m * ys;
    for (int v = 0; v < 2; v++) {
      int lanes = nr - v * VF_N;
      if (lanes <= 0)
        break;
      vf o = acc[m][v];
      if (lanes >= VF_N) {
        if (accumulate)
          o = vf_add(o, vf_load(yr + v * VF_N));
        else if (bias)
          o = vf_add(o, vf_load(bias + v * VF_N));
        vf_store(yr + v * VF_N, o);
      } else {
        if (accumulate)
          o = vf_add(o, vf_load_part(yr + v * VF_N, lanes, 0.0f));
        else if (bias)
          o = vf_add(o, vf_load_part(bias + v * VF_N, lanes, 0.0f));
        vf_store_part(yr + v * VF_N, o, lanes);
      }
    }
  }
}

#define KERN_GEMMP_CASE(MRC) \
  case MRC: gemmp_tile(kc, wp, (const char *)x, xs, y, ys, nr, bias, accumulate, MRC); break;

/* y[m][0..nr) (+)= x[m][0..kc) . panel, for m < mr <= KERN_GEMMP_MR */
static void
gemmp(int64_t kc, const float *wp, const void *x, size_t xs, int mr, float *y, size_t ys, int nr, const float *bias,
      int accumulate)
{
  switch (mr) {
    KERN_GEMMP_CASE(1) KERN_GEMMP_CASE(2) KERN_GEMMP_CASE(3) KERN_GEMMP_CASE(4)
#if KERN_GEMMP_MR >= 6
    KERN_GEMMP_CASE(5) KERN_GEMMP_CASE(6)
#endif
#if KERN_GEMMP_MR >= 12
    KERN_GEMMP_CASE(7) KERN_GEMMP_CASE(8) KERN_GEMMP_CASE(9) KERN_GEMMP_CASE(10) KERN_GEMMP_CASE(11)
    KERN_GEMMP_CASE(12)
#endif
  default: break;
  }
}

/* ---- elementwise rows -------------------------------------------------- */

static void
row_add(const float *a, const float *b, float *y, int64_t n)
{
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N)
    vf_store(y + i, vf_add(vf_load(a + i), vf_load(b + i)));
  for (; i < n; i++)
    y[i] = a[i] + b[i];
}

static void
row_mul(const float *a, const float *b, float *y, int64_t n)
{
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N)
    vf_store(y + i, vf_mul(vf_load(a + i), vf_load(b + i)));
  for (; i < n; i++)
    y[i] = a[i] * b[i];
}

static void
row_scale(const float *x, float s, float *y, int64_t n)
{
  vf sv = vf_set1(s);
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N)
    vf_store(y + i, vf_mul(vf_load(x + i), sv));
  for (; i < n; i++)
    y[i] = x[i] * s;
}

/* x / (1 + e^(-a x)) */
KERN_INLINE vf
v_sigmoid_mul(vf x, vf ax)
{
  return vf_mul(x, vf_recip(vf_add(vf_set1(1.0f), vf_exp(vf_sub(vf_zero(), ax)))));
}

KERN_INLINE vf
unary_v(const int op, vf x)
{
  switch (op) {
  case KERN_UNARY_GELU: {
    /* x Phi(x) = x/2 erfc(-x/sqrt2): erfc of |x|/sqrt2 keeps the negative side
     * relatively exact, 2 - erfc the positive side */
    vf e = vf_erfc_pos(vf_mul(vf_abs(x), vf_set1(0.70710678118654752f)));
    vf f = vf_lt_select(x, vf_zero(), e, vf_sub(vf_set1(2.0f), e));
    return vf_mul(vf_mul(x, vf_set1(0.5f)), f);
  }
  case KERN_UNARY_GELU_TANH: {
    /* x/2 (1 + tanh u) = x sigmoid(2u) */
    vf x3 = vf_mul(vf_mul(x, x), x);
    vf u = vf_mul(vf_fma(x3, vf_set1(0.044715f), x), vf_set1(0.79788456080286536f));
    return v_sigmoid_mul(x, vf_add(u, u));
  }
  case KERN_UNARY_GELU_QUICK: return v_sigmoid_mul(x, vf_mul(x, vf_set1(1.702f)));
  case KERN_UNARY_SILU: return v_sigmoid_mul(x, x);
  default: return vf_lt_select(vf_zero(), x, x, vf_zero()); /* relu; NaN -> 0 as the reference */
  }
}

KERN_INLINE void
unary_loop(const int op, const float *x, float *y, int64_t n)
{
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N)
    vf_store(y + i, unary_v(op, vf_load(x + i)));
  if (i < n)
    vf_store_part(y + i, unary_v(op, vf_load_part(x + i, (int)(n - i), 0.0f)), (int)(n - i));
}

static void
row_unary(int op, const float *x, float *y, int64_t n)
{
  switch (op) {
  case KERN_UNARY_GELU: unary_loop(KERN_UNARY_GELU, x, y, n); break;
  case KERN_UNARY_GELU_TANH: unary_loop(KERN_UNARY_GELU_TANH, x, y, n); break;
  case KERN_UNARY_GELU_QUICK: unary_loop(KERN_UNARY_GELU_QUICK, x, y, n); break;
  case KERN_UNARY_SILU: unary_loop(KERN_UNARY_SILU, x, y, n); break;
  default: unary_loop(KERN_UNARY_RELU, x, y, n); break;
  }
}

static void
row_swiglu(const float *g, const float *u, float *y, int64_t n)
{
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N) {
    vf gv = vf_load(g + i);
    vf_store(y + i, vf_mul(v_sigmoid_mul(gv, gv), vf_load(u + i)));
  }
  if (i < n) {
    int r = (int)(n - i);
    vf gv = vf_load_part(g + i, r, 0.0f);
    vf_store_part(y + i, vf_mul(v_sigmoid_mul(gv, gv), vf_load_part(u + i, r, 0.0f)), r);
  }
}

/* ---- row reductions --------------------------------------------------- */

static void
row_softmax(const float *x, float *y, int64_t n, float scale)
{
  vf sv = vf_set1(scale), mv = vf_set1(-INFINITY);
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N)
    mv = vf_max(vf_mul(vf_load(x + i), sv), mv);
  float mx = vf_hmax(mv);
  for (int64_t j = i; j < n; j++)
    if (x[j] * scale > mx)
      mx = x[j] * scale;
  vf mxv = vf_set1(mx), sum = vf_zero();
  for (i = 0; i + VF_N <= n; i += VF_N) {
    vf e = vf_exp(vf_fma(vf_load(x + i), sv, vf_sub(vf_zero(), mxv)));
    vf_store(y + i, e);
    sum = vf_add(sum, e);
  }
  if (i < n) {
    int r = (int)(n - i);
    vf e = vf_keep_first(vf_exp(vf_fma(vf_load_part(x + i, r, 0.0f), sv, vf_sub(vf_zero(), mxv))), r);
    vf_store_part(y + i, e, r);
    sum = vf_add(sum, e);
  }
  row_scale(y, 1.0f / vf_hsum(sum), y, n);
}

static float
row_sum(const float *x, int64_t n)
{
  vf s0 = vf_zero(), s1 = vf_zero();
  int64_t i = 0;
  for (; i + 2 * VF_N <= n; i += 2 * VF_N) {
    s0 = vf_add(s0, vf_load(x + i));
    s1 = vf_add(s1, vf_load(x + i + VF_N));
  }
  for (; i + VF_N <= n; i += VF_N)
    s0 = vf_add(s0, vf_load(x + i));
  if (i < n)
    s1 = vf_add(s1, vf_load_part(x + i, (int)(n - i), 0.0f));
  return vf_hsum(vf_add(s0, s1));
}

/* sum of (x - c)^2 */
static float
row_sumsq(const float *x, int64_t n, float c)
{
  vf cv = vf_set1(c), s0 = vf_zero(), s1 = vf_zero();
  int64_t i = 0;
  for (; i + 2 * VF_N <= n; i += 2 * VF_N) {
    vf a = vf_sub(vf_load(x + i), cv), b = vf_sub(vf_load(x + i + VF_N), cv);
    s0 = vf_fma(a, a, s0);
    s1 = vf_fma(b, b, s1);
  }
  for (; i + VF_N <= n; i += VF_N) {
    vf a = vf_sub(vf_load(x + i), cv);
    s0 = vf_fma(a, a, s0);
  }
  if (i < n) {
    vf a = vf_sub(vf_load_part(x + i, (int)(n - i), c), cv);
    s1 = vf_fma(a, a, s1);
  }
  return vf_hsum(vf_add(s0, s1));
}

/* y = (x - c) * s * g + b, g and b optional */
static void
row_affine(const float *x, float *y, int64_t n, float c, float s, const float *g, const float *b)
{
  vf cv = vf_set1(c), sv = vf_set1(s);
  int64_t i = 0;
  for (; i < n; i += VF_N) {
    int r = n - i < VF_N ? (int)(n - i) : VF_N;
    vf v = r == VF_N ? vf_load(x + i) : vf_load_part(x + i, r, 0.0f);
    v = vf_mul(vf_sub(v, cv), sv);
    if (g)
      v = vf_mul(v, r == VF_N ? vf_load(g + i) : vf_load_part(g + i, r, 0.0f));
    if (b)
      v = vf_add(v, r == VF_N ? vf_load(b + i) : vf_load_part(b + i, r, 0.0f));
    if (r == VF_N)
      vf_store(y + i, v);
    else
      vf_store_part(y + i, v, r);
  }
}

static void
row_layernorm(const float *x, float *y, int64_t n, const float *g, const float *b, float eps)
{
  float mean = row_sum(x, n) / (float)n;
  float var = row_sumsq(x, n, mean) / (float)n;
  row_affine(x, y, n, mean, 1.0f / sqrtf(var + eps), g, b);
}

static void
row_rmsnorm(const float *x, float *y, int64_t n, const float *g, float eps)
{
  float ms = row_sumsq(x, n, 0.0f) / (float)n;
  row_affine(x, y, n, 0.0f, 1.0f / sqrtf(ms + eps), g, NULL);
}

/* Index of the first largest value (NaN ignored); its value in *max_out. */
static int64_t
row_argmax(const float *x, int64_t n, float *max_out)
{
  vf mv = vf_set1(-INFINITY);
  int64_t i = 0;
  for (; i + VF_N <= n; i += VF_N)
    mv = vf_max(vf_load(x + i), mv);
  float mx = vf_hmax(mv);
  for (int64_t j = i; j < n; j++)
    if (x[j] > mx)
      mx = x[j];
  *max_out = mx;
  for (i = 0; i + VF_N <= n; i += VF_N) {
    int k = vf_first_eq(vf_load(x + i), mx);
    if (k >= 0)
      return i + k;
  }
  for (; i < n; i++)
    if (x[i] == mx)
      return i;
  return 0;
}

/* ---- attention -------------------------------------------------------------- */

KERN_INLINE vf
load_kv(const void *base, int f16, int64_t d)
{
  return f16 ? vf_load_h((const uint16_t *)base + d) : vf_load((const float *)base + d);
}

/* Prefetches the row of n bytes at p (keys and values are strided rows). */
KERN_INLINE void
prefetch_row(const char *p, size_t n)
{
  for (size_t o = 0; o < n; o += 64)
    __builtin_prefetch(p + o);
}

KERN_INLINE float
load_kv1(const void *base, int f16, int64_t d)
{
  return f16 ? kern_f16_to_f32(((const uint16_t *)base)[d]) : ((const float *)base)[d];
}

/* s[r][i] = q_r . k_i over the first hdv dims, for R rows and 4 keys */
KERN_INLINE void
attn_scores4(const kern_attn_task *t, const int R, const char *const *kr, int64_t hdv, float s[][4])
{
  vf acc[KERN_ATTN_ROWS][4];
  KERN_UNROLL for (int r = 0; r < R; r++)
    KERN_UNROLL for (int i = 0; i < 4; i++)
      acc[r][i] = vf_zero();
  for (int64_t d = 0; d < hdv; d += VF_N) {
    vf k0 = load_kv(kr[0], t->kv_f16, d), k1 = load_kv(kr[1], t->kv_f16, d);
    vf k2 = load_kv(kr[2], t->kv_f16, d), k3 = load_kv(kr[3], t->kv_f16, d);
    KERN_UNROLL for (int r = 0; r < R; r++) {
      vf qv = vf_load(t->q[r] + d);
      acc[r][0] = vf_fma(qv, k0, acc[r][0]);
      acc[r][1] = vf_fma(qv, k1, acc[r][1]);
      acc[r][2] = vf_fma(qv, k2, acc[r][2]);
      acc[r][3] = vf_fma(qv, k3, acc[r][3]);
    }
  }
  KERN_UNROLL for (int r = 0; r < R; r++)
    vf_hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3], s[r]);
}

/* o[r][i] = sum_j p[r][j] v_j[d0 + i VF_N ...] for R rows and NV vectors;
 * small tiles keep two accumulator sets (even / odd keys) to hide FMA latency */
KERN_INLINE void
attn_pv(const kern_attn_task *t, const int R, const int NV, int64_t d0, int64_t nk, const float *sc, const char *vb,
        int64_t k0, vf o[][4])
{
  const int two = R * NV <= 8;
  vf a[KERN_ATTN_ROWS][4], b[KERN_ATTN_ROWS][4];
  KERN_UNROLL for (int r = 0; r < R; r++)
    KERN_UNROLL for (int i = 0; i < NV; i++)
      a[r][i] = b[r][i] = vf_zero();
  int64_t j = 0;
  if (two)
    for (; j + 2 <= nk; j += 2) {
      const char *v0 = vb + (size_t)(k0 + j) * t->kv_stride, *v1 = v0 + t->kv_stride;
      if (j + 10 < nk) {
        __builtin_prefetch(v0 + 8 * t->kv_stride + (size_t)d0 * (t->kv_f16 ? 2 : 4));
        __builtin_prefetch(v0 + 9 * t->kv_stride + (size_t)d0 * (t->kv_f16 ? 2 : 4));
      }
      vf x[4], y[4];
      KERN_UNROLL for (int i = 0; i < NV; i++) {
        x[i] = load_kv(v0, t->kv_f16, d0 + i * VF_N);
        y[i] = load_kv(v1, t->kv_f16, d0 + i * VF_N);
      }
      KERN_UNROLL for (int r = 0; r < R; r++) {
        vf p0 = vf_set1(sc[r * nk + j]), p1 = vf_set1(sc[r * nk + j + 1]);
        KERN_UNROLL for (int i = 0; i < NV; i++) {
          a[r][i] = vf_fma(p0, x[i], a[r][i]);
          b[r][i] = vf_fma(p1, y[i], b[r][i]);
        }
      }
    }
  for (; j < nk; j++) {
    const char *v0 = vb + (size_t)(k0 + j) * t->kv_stride;
    vf x[4];
    KERN_UNROLL for (int i = 0; i < NV; i++)
      x[i] = load_kv(v0, t->kv_f16, d0 + i * VF_N);
    KERN_UNROLL for (int r = 0; r < R; r++) {
      vf p0 = vf_set1(sc[r * nk + j]);
      KERN_UNROLL for (int i = 0; i < NV; i++)
        a[r][i] = vf_fma(p0, x[i], a[r][i]);
    }
  }
  KERN_UNROLL for (int r = 0; r < R; r++)
    KERN_UNROLL for (int i = 0; i < NV; i++)
      o[r][i] = vf_add(a[r][i], b[r][i]);
}

/* Few query rows (decode): vectorized over the head dimension. Scores of the
 * task's key range first, then softmax, then the value sum. */
static void
attn_rows(const kern_attn_task *t)
{
  const int64_t hd = t->hd;
  const int R = t->n_rows;
  const char *kb = t->k, *vb = t->v;
  int64_t kend[KERN_ATTN_ROWS], kmax = t->k_begin;
  for (int r = 0; r < R; r++) {
    kend[r] = t->n_keys[r] < t->k_end ? t->n_keys[r] : t->k_end;
    if (kend[r] > kmax)
      kmax = kend[r];
  }
  const int64_t k0 = t->k_begin, nk = kmax - k0;
  float *sc = t->work; /* (R, nk) scores, then probabilities */
  const int64_t hdv = hd / VF_N * VF_N;
  /* scores, four keys at a time against all rows (each key widened once) */
  for (int64_t j = 0; j < nk; j += 4) {
    const char *kr[4];
    for (int i = 0; i < 4; i++)
      kr[i] = kb + (size_t)(k0 + (j + i < nk ? j + i : nk - 1)) * t->kv_stride;
    if (j + 16 < nk)
      for (int i = 0; i < 4; i++)
        prefetch_row(kr[i] + 16 * t->kv_stride, (size_t)hd * (t->kv_f16 ? 2 : 4));
    float s[KERN_ATTN_ROWS][4];
    switch (R) {
    case 1: attn_scores4(t, 1, kr, hdv, s); break;
    case 2: attn_scores4(t, 2, kr, hdv, s); break;
    case 3: attn_scores4(t, 3, kr, hdv, s); break;
    default: attn_scores4(t, 4, kr, hdv, s); break;
    }
    for (int r = 0; r < R; r++) {
      for (int64_t d = hdv; d < hd; d++)
        for (int i = 0; i < 4; i++)
          s[r][i] += t->q[r][d] * load_kv1(kr[i], t->kv_f16, d);
      for (int i = 0; i < 4 && j + i < nk; i++)
        sc[r * nk + j + i] = s[r][i] * t->scale;
    }
  }
  /* softmax per row over its own keys */
  float mrow[KERN_ATTN_ROWS], lrow[KERN_ATTN_ROWS];
  for (int r = 0; r < R; r++) {
    int64_t n = kend[r] - k0;
    float *s = sc + r * nk;
    if (n <= 0) {
      mrow[r] = -INFINITY, lrow[r] = 0;
      for (int64_t j = 0; j < nk; j++)
        s[j] = 0;
      continue;
    }
    vf mv = vf_set1(-INFINITY);
    int64_t j = 0;
    for (; j + VF_N <= n; j += VF_N)
      mv = vf_max(vf_load(s + j), mv);
    float mx = vf_hmax(mv);
    for (; j < n; j++)
      mx = s[j] > mx ? s[j] : mx;
    vf mxv = vf_set1(mx), sum = vf_zero();
    for (j = 0; j + VF_N <= n; j += VF_N) {
      vf e = vf_exp(vf_sub(vf_load(s + j), mxv));
      vf_store(s + j, e);
      sum = vf_add(sum, e);
    }
    if (j < n) {
      int rr = (int)(n - j);
      vf e = vf_keep_first(vf_exp(vf_sub(vf_load_part(s + j, rr, 0.0f), mxv)), rr);
      vf_store_part(s + j, e, rr);
      sum = vf_add(sum, e);
    }
    for (j = n; j < nk; j++)
      s[j] = 0;
    mrow[r] = mx, lrow[r] = vf_hsum(sum);
  }
  /* out = P . V over chunks of up to 4 vectors of the head dimension */
  for (int64_t d0 = 0; d0 < hdv; d0 += 4 * VF_N) {
    int nv = (int)((hdv - d0) / VF_N < 4 ? (hdv - d0) / VF_N : 4);
    vf o[KERN_ATTN_ROWS][4];
#define PV(RC, NVC) attn_pv(t, RC, NVC, d0, nk, sc, vb, k0, o)
#define PV_R(RC)                     \
  switch (nv) {                      \
  case 1: PV(RC, 1); break;          \
  case 2: PV(RC, 2); break;          \
  case 3: PV(RC, 3); break;          \
  default: PV(RC, 4); break;         \
  }
    switch (R) {
    case 1: PV_R(1) break;
    case 2: PV_R(2) break;
    case 3: PV_R(3) break;
    default: PV_R(4) break;
    }
#undef PV_R
#undef PV
    for (int r = 0; r < R; r++) {
      vf inv = vf_set1(t->part_m ? 1.0f : lrow[r] > 0 ? 1.0f / lrow[r] : 0.0f);
      for (int i = 0; i < nv; i++)
        vf_store(t->out[r] + d0 + i * VF_N, vf_mul(o[r][i], inv));
    }
  }
  for (int64_t d = hdv; d < hd; d++)
    for (int r = 0; r < R; r++) {
      float acc = 0;
      for (int64_t j = 0; j < nk; j++)
        acc += sc[r * nk + j] * load_kv1(vb + (size_t)(k0 + j) * t->kv_stride, t->kv_f16, d);
      t->out[r][d] = t->part_m ? acc : lrow[r] > 0 ? acc / lrow[r] : 0.0f;
    }
  if (t->part_m)
    for (int r = 0; r < R; r++)
      t->part_m[r] = mrow[r], t->part_l[r] = lrow[r];
}

/* Many query rows (prefill, encoders): rows are the vector lanes, keys stream
 * in blocks of KERN_ATTN_BK with a running max and denominator per row. */
#define ATT_RV 2
#define ATT_R (ATT_RV * VF_N)

static void
attn_tile(const kern_attn_task *t)
{
  const int64_t hd = t->hd;
  const int R = t->n_rows;
  float *Qt = t->work;                           /* (hd, ATT_R) scaled queries */
  float *Ot = Qt + hd * ATT_R;                   /* (hd, ATT_R) unnormalized outputs */
  float *St = Ot + hd * ATT_R;                   /* (BK, ATT_R) scores, then probabilities */
  float *Kb = St + KERN_ATTN_BK * ATT_R;         /* (BK, hd) keys as float (F16 K) */
  float *Vb = Kb + KERN_ATTN_BK * hd;            /* (BK, hd) values as float (F16 V) */
  float *lim = Vb + KERN_ATTN_BK * hd;           /* (ATT_R) keys each row sees */
  vf m[ATT_RV], l[ATT_RV], limv[ATT_RV];
  int64_t nk_max = 0, nk_min = INT64_MAX;
  for (int r = 0; r < ATT_R; r++) {
    int64_t n = t->n_keys[r < R ? r : 0];
    lim[r] = (float)n;
    nk_max = n > nk_max ? n : nk_max;
    nk_min = n < nk_min ? n : nk_min;
  }
  for (int64_t d = 0; d < hd; d++)
    for (int r = 0; r < ATT_R; r++) {
      Qt[d * ATT_R + r] = r < R ? t->q[r][d] * t->scale : 0.0f;
      Ot[d * ATT_R + r] = 0.0f;
    }
  for (int i = 0; i < ATT_RV; i++) {
    m[i] = vf_set1(-INFINITY), l[i] = vf_zero();
    limv[i] = vf_load(lim + i * VF_N);
  }
  const float *kp[KERN_ATTN_BK], *vp[KERN_ATTN_BK];
  for (int64_t j0 = 0; j0 < nk_max; j0 += KERN_ATTN_BK) {
    int bk = (int)(nk_max - j0 < KERN_ATTN_BK ? nk_max - j0 : KERN_ATTN_BK);
    int bk4 = (bk + 3) & ~3;
    for (int j = 0; j < bk; j++) {
      const char *kr = (const char *)t->k + (size_t)(j0 + j) * t->kv_stride;
      const char *vr = (const char *)t->v + (size_t)(j0 + j) * t->kv_stride;
      if (t->kv_f16) {
        int64_t d = 0;
        for (; d + VF_N <= hd; d += VF_N) {
          vf_store(Kb + j * hd + d, vf_load_h((const uint16_t *)kr + d));
          vf_store(Vb + j * hd + d, vf_load_h((const uint16_t *)vr + d));
        }
        for (; d < hd; d++) {
          Kb[j * hd + d] = kern_f16_to_f32(((const uint16_t *)kr)[d]);
          Vb[j * hd + d] = kern_f16_to_f32(((const uint16_t *)vr)[d]);
        }
        kp[j] = Kb + j * hd, vp[j] = Vb + j * hd;
      } else {
        kp[j] = (const float *)kr, vp[j] = (const float *)vr;
      }
    }
    for (int j = bk; j < bk4; j++) /* ghosts: masked below (their index is past every row's keys) */
      kp[j] = kp[bk - 1], vp[j] = vp[bk - 1];
    /* S = K . Qt, four keys at a time */
    for (int j = 0; j < bk4; j += 4) {
      vf s[4][ATT_RV];
      KERN_UNROLL for (int a = 0; a < 4; a++)
        KERN_UNROLL for (int i = 0; i < ATT_RV; i++)
          s[a][i] = vf_zero();
      const float *k0 = kp[j], *k1 = kp[j + 1], *k2 = kp[j + 2], *k3 = kp[j + 3];
      for (int64_t d = 0; d < hd; d++) {
        vf q0 = vf_load(Qt + d * ATT_R), q1 = vf_load(Qt + d * ATT_R + VF_N);
        vf c0 = vf_set1(k0[d]), c1 = vf_set1(k1[d]), c2 = vf_set1(k2[d]), c3 = vf_set1(k3[d]);
        s[0][0] = vf_fma(c0, q0, s[0][0]), s[0][1] = vf_fma(c0, q1, s[0][1]);
        s[1][0] = vf_fma(c1, q0, s[1][0]), s[1][1] = vf_fma(c1, q1, s[1][1]);
        s[2][0] = vf_fma(c2, q0, s[2][0]), s[2][1] = vf_fma(c2, q1, s[2][1]);
        s[3][0] = vf_fma(c3, q0, s[3][0]), s[3][1] = vf_fma(c3, q1, s[3][1]);
      }
      KERN_UNROLL for (int a = 0; a < 4; a++)
        KERN_UNROLL for (int i = 0; i < ATT_RV; i++)
          vf_store(St + (j + a) * ATT_R + i * VF_N, s[a][i]);
    }
    if (j0 + bk4 > nk_min) /* some row stops inside this block */
      for (int j = 0; j < bk4; j++) {
        vf jf = vf_set1((float)(j0 + j)), ninf = vf_set1(-INFINITY);
        for (int i = 0; i < ATT_RV; i++)
          vf_store(St + j * ATT_R + i * VF_N, vf_lt_select(jf, limv[i], vf_load(St + j * ATT_R + i * VF_N), ninf));
      }
    /* running max and denominator; P = exp(S - max) */
    vf alpha[ATT_RV];
    for (int i = 0; i < ATT_RV; i++) {
      vf mb = vf_set1(-INFINITY);
      for (int j = 0; j < bk4; j++)
        mb = vf_max(vf_load(St + j * ATT_R + i * VF_N), mb);
      vf mn = vf_max(mb, m[i]);
      alpha[i] = vf_exp(vf_sub(m[i], mn));
      vf ls = vf_zero();
      for (int j = 0; j < bk4; j++) {
        vf p = vf_exp(vf_sub(vf_load(St + j * ATT_R + i * VF_N), mn));
        vf_store(St + j * ATT_R + i * VF_N, p);
        ls = vf_add(ls, p);
      }
      l[i] = vf_fma(l[i], alpha[i], ls);
      m[i] = mn;
    }
    /* Ot = Ot * alpha + V^T . P */
    int64_t d = 0;
    for (; d + KERN_ATTN_DG <= hd; d += KERN_ATTN_DG) {
      vf o[KERN_ATTN_DG][ATT_RV];
      KERN_UNROLL for (int g = 0; g < KERN_ATTN_DG; g++)
        KERN_UNROLL for (int i = 0; i < ATT_RV; i++)
          o[g][i] = vf_mul(vf_load(Ot + (d + g) * ATT_R + i * VF_N), alpha[i]);
      for (int j = 0; j < bk4; j++) {
        vf p0 = vf_load(St + j * ATT_R), p1 = vf_load(St + j * ATT_R + VF_N);
        const float *vr = vp[j] + d;
        KERN_UNROLL for (int g = 0; g < KERN_ATTN_DG; g++) {
          vf c = vf_set1(vr[g]);
          o[g][0] = vf_fma(c, p0, o[g][0]);
          o[g][1] = vf_fma(c, p1, o[g][1]);
        }
      }
      KERN_UNROLL for (int g = 0; g < KERN_ATTN_DG; g++)
        KERN_UNROLL for (int i = 0; i < ATT_RV; i++)
          vf_store(Ot + (d + g) * ATT_R + i * VF_N, o[g][i]);
    }
    for (; d < hd; d++) {
      vf o0 = vf_mul(vf_load(Ot + d * ATT_R), alpha[0]), o1 = vf_mul(vf_load(Ot + d * ATT_R + VF_N), alpha[1]);
      for (int j = 0; j < bk4; j++) {
        vf c = vf_set1(vp[j][d]);
        o0 = vf_fma(c, vf_load(St + j * ATT_R), o0);
        o1 = vf_fma(c, vf_load(St + j * ATT_R + VF_N), o1);
      }
      vf_store(Ot + d * ATT_R, o0);
      vf_store(Ot + d * ATT_R + VF_N, o1);
    }
  }
  float linv[ATT_R];
  for (int i = 0; i < ATT_RV; i++)
    vf_store(linv + i * VF_N, vf_div(vf_set1(1.0f), l[i]));
  for (int r = 0; r < R; r++)
    for (int64_t d = 0; d < hd; d++)
      t->out[r][d] = Ot[d * ATT_R + r] * linv[r];
}

/* ---- the table ----------------------------------------------------------- */

static void
kern_float_fill(kern_cpu_kernels *t)
{
  t->gemm[0] = gemm_f32;
  t->gemm[1] = gemm_f16;
  t->gemm[2] = gemm_bf16;
  t->gemm_mr = KERN_GEMM_MR;
  t->gemmp = gemmp;
  t->gemmp_pack = gemmp_pack;
  t->gemmp_mr = KERN_GEMMP_MR;
  t->gemmp_nr = KERN_GEMMP_NR;
  t->add = row_add;
  t->mul = row_mul;
  t->scale = row_scale;
  t->unary = row_unary;
  t->swiglu = row_swiglu;
  t->softmax = row_softmax;
  t->layernorm = row_layernorm;
  t->rmsnorm = row_rmsnorm;
  t->argmax = row_argmax;
  t->attn_rows = attn_rows;
  t->attn_tile = attn_tile;
  t->attn_tile_rows = ATT_R;
}
