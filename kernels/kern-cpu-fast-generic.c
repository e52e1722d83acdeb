/* kern-cpu-fast-generic.c: the portable kernels of the "cpu" backend.
 *
 * Always built, with the project's default flags: plain C integer dots for
 * every quantized type, the activation quantizers, exact conversions, and the
 * float kernels of kern-cpu-fast-float.h on GCC/Clang 4-lane vectors (SSE2 on
 * x86-64, NEON on aarch64). The SIMD files replace what they do faster. */
#define KERN_SIMD_GENERIC 1
#define KERN_GEMM_MR 2
#define KERN_GEMMP_MR 4
#define KERN_ATTN_DG 4
#include "kern-cpu-fast-float.h"

#include <math.h>
#include <string.h>

/* ---- activation quantizers ------------------------------------------------ */

static inline int
round_i(float v)
{
  return (int)(v >= 0 ? v + 0.5f : v - 0.5f);
}

void
_kern_cpu_act_quant_a32_generic(const float *x, int64_t K, uint8_t *dst)
{
  int64_t nb = K / KERN_QK;
  int8_t *qs = (int8_t *)dst;
  float *d = (float *)(dst + K), *sd = d + nb;
  for (int64_t b = 0; b < nb; b++) {
    const float *xb = x + b * KERN_QK;
    float amax = 0;
    for (int j = 0; j < KERN_QK; j++)
      amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
    float id = amax > 0 ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < KERN_QK; j++) {
      int q = round_i(xb[j] * id);
      q = q > 127 ? 127 : q < -127 ? -127 : q;
      qs[b * KERN_QK + j] = (int8_t)q;
      sum += q;
    }
    d[b] = amax / 127.0f;
    sd[b] = d[b] * (float)sum;
  }
}

void
_kern_cpu_act_quant_a256_generic(const float *x, int64_t K, uint8_t *dst)
{
  int64_t nb = K / KERN_QK_K;
  int8_t *qs = (int8_t *)dst;
  float *d = (float *)(dst + K);
  int16_t *bs = (int16_t *)(d + nb);
  for (int64_t b = 0; b < nb; b++) {
    const float *xb = x + b * KERN_QK_K;
    float amax = 0;
    for (int j = 0; j < KERN_QK_K; j++)
      amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
    float id = amax > 0 ? 127.0f / amax : 0.0f;
    for (int g = 0; g < KERN_QK_K / 16; g++) {
      int sum = 0;
      for (int l = 0; l < 16; l++) {
        int q = round_i(xb[g * 16 + l] * id);
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        qs[b * KERN_QK_K + g * 16 + l] = (int8_t)q;
        sum += q;
      }
      bs[b * 16 + g] = (int16_t)sum;
    }
    d[b] = amax / 127.0f;
  }
}

/* ---- dots of one weight row with one activation row ----------------------- */

static float
h2f(uint16_t h)
{
  return kern_f16_to_f32(h);
}

/* sum over a legacy block of (q - off) * a, q = nibble | fifth bit (from h):
 * low nibbles are values 0..15, high nibbles 16..31 */
static inline int
dot32(const uint8_t *qs, uint32_t h, int off, const int8_t *a)
{
  int acc = 0;
  for (int j = 0; j < 16; j++) {
    int lo = (qs[j] & 15) | (int)((h >> j) & 1) << 4;
    int hi = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
    acc += (lo - off) * a[j] + (hi - off) * a[j + 16];
  }
  return acc;
}

static inline uint32_t
qh32(const uint8_t qh[4])
{
  uint32_t h;
  memcpy(&h, qh, 4);
  return h;
}

static float
dot_q4_0(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q4_0 *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    int acc = dot32(w[b].qs, 0, 8, qa + b * 32);
    s += h2f(w[b].d) * da[b] * (float)acc;
  }
  return s;
}

static float
dot_q4_1(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q4_1 *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K), *sd = da + nb;
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    int acc = dot32(w[b].qs, 0, 0, qa + b * 32);
    s += h2f(w[b].d) * da[b] * (float)acc + h2f(w[b].m) * sd[b];
  }
  return s;
}

static float
dot_q5_0(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q5_0 *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    int acc = dot32(w[b].qs, qh32(w[b].qh), 16, qa + b * 32);
    s += h2f(w[b].d) * da[b] * (float)acc;
  }
  return s;
}

static float
dot_q5_1(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q5_1 *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K), *sd = da + nb;
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    int acc = dot32(w[b].qs, qh32(w[b].qh), 0, qa + b * 32);
    s += h2f(w[b].d) * da[b] * (float)acc + h2f(w[b].m) * sd[b];
  }
  return s;
}

static float
dot_q8_0(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q8_0 *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    int acc = 0;
    for (int j = 0; j < 32; j++)
      acc += w[b].qs[j] * qa[b * 32 + j];
    s += h2f(w[b].d) * da[b] * (float)acc;
  }
  return s;
}

static float
dot_q8_1(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q8_1 *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    int acc = 0;
    for (int j = 0; j < 32; j++)
      acc += w[b].qs[j] * qa[b * 32 + j];
    s += h2f(w[b].d) * da[b] * (float)acc;
  }
  return s;
}

/* k-quants: nb super-blocks of 256 against A256 rows */

static float
dot_q2_K(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q2_K *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  const int16_t *bs = (const int16_t *)(da + nb);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    const int8_t *q8 = qa + b * 256;
    int sumq = 0, summ = 0;
    for (int g = 0; g < 16; g++) {
      int acc = 0;
      for (int l = 0; l < 16; l++) {
        int v = g * 16 + l, h = v / 128, sh = (v % 128) / 32, ll = v % 32;
        acc += ((w[b].qs[32 * h + ll] >> (2 * sh)) & 3) * q8[v];
      }
      sumq += (w[b].scales[g] & 15) * acc;
      summ += (w[b].scales[g] >> 4) * bs[b * 16 + g];
    }
    s += da[b] * (h2f(w[b].d) * (float)sumq - h2f(w[b].dmin) * (float)summ);
  }
  return s;
}

static inline int
q3_scale(const uint8_t s[12], int k)
{
  int lo = k < 8 ? s[k] & 15 : s[k - 8] >> 4;
  int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
  return (lo | hi << 4) - 32;
}

static float
dot_q3_K(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q3_K *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    const int8_t *q8 = qa + b * 256;
    int sumq = 0;
    for (int g = 0; g < 16; g++) {
      int acc = 0;
      for (int l = 0; l < 16; l++) {
        int v = g * 16 + l, h = v / 128, sh = (v % 128) / 32, ll = v % 32;
        int q = (w[b].qs[32 * h + ll] >> (2 * sh)) & 3;
        if (!((w[b].hmask[ll] >> (v / 32)) & 1))
          q -= 4;
        acc += q * q8[v];
      }
      sumq += q3_scale(w[b].scales, g) * acc;
    }
    s += da[b] * h2f(w[b].d) * (float)sumq;
  }
  return s;
}

static inline void
k4_scale_min(const uint8_t s[12], int j, int *sc, int *m)
{
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

static float
dot_q4_K(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q4_K *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  const int16_t *bs = (const int16_t *)(da + nb);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    const int8_t *q8 = qa + b * 256;
    int sumq = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
      int sc, m, acc = 0;
      k4_scale_min(w[b].scales, j, &sc, &m);
      for (int l = 0; l < 32; l++)
        acc += ((w[b].qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15) * q8[32 * j + l];
      sumq += sc * acc;
      summ += m * (bs[b * 16 + 2 * j] + bs[b * 16 + 2 * j + 1]);
    }
    s += da[b] * (h2f(w[b].d) * (float)sumq - h2f(w[b].dmin) * (float)summ);
  }
  return s;
}

static float
dot_q5_K(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q5_K *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  const int16_t *bs = (const int16_t *)(da + nb);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    const int8_t *q8 = qa + b * 256;
    int sumq = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
      int sc, m, acc = 0;
      k4_scale_min(w[b].scales, j, &sc, &m);
      for (int l = 0; l < 32; l++) {
        int q = ((w[b].qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15) | (((w[b].qh[l] >> j) & 1) << 4);
        acc += q * q8[32 * j + l];
      }
      sumq += sc * acc;
      summ += m * (bs[b * 16 + 2 * j] + bs[b * 16 + 2 * j + 1]);
    }
    s += da[b] * (h2f(w[b].d) * (float)sumq - h2f(w[b].dmin) * (float)summ);
  }
  return s;
}

static float
dot_q6_K(int64_t nb, const void *wv, const uint8_t *a, int64_t K)
{
  const kern_block_q6_K *w = wv;
  const int8_t *qa = (const int8_t *)a;
  const float *da = (const float *)(a + K);
  float s = 0;
  for (int64_t b = 0; b < nb; b++) {
    const int8_t *q8 = qa + b * 256;
    int sumq = 0;
    for (int g = 0; g < 16; g++) {
      int acc = 0;
      for (int l = 0; l < 16; l++) {
        int v = g * 16 + l, h = v / 128, k = (v % 128) / 32, ll = v % 32;
        int lo = (w[b].ql[64 * h + 32 * (k % 2) + ll] >> (4 * (k / 2))) & 15;
        int hi = (w[b].qh[32 * h + ll] >> (2 * k)) & 3;
        acc += ((lo | hi << 4) - 32) * q8[v];
      }
      sumq += w[b].scales[g] * acc;
    }
    s += da[b] * h2f(w[b].d) * (float)sumq;
  }
  return s;
}

typedef float (*dot_fn)(int64_t nb, const void *w, const uint8_t *a, int64_t K);

static inline void
qtile(dot_fn dot, int bs, int64_t K, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
      size_t ys, const float *bias)
{
  for (int n = 0; n < nr; n++)
    for (int m = 0; m < mr; m++)
      y[(size_t)m * ys + (size_t)n] = dot(K / bs, (const char *)w + (size_t)n * ws, (const uint8_t *)x + (size_t)m * xs, K) +
                                      (bias ? bias[n] : 0.0f);
}

#define QTILE_FN(NAME, DOT, BS)                                                                               \
  static void NAME(int64_t K, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,  \
                   size_t ys, const float *bias)                                                             \
  {                                                                                                          \
    qtile(DOT, BS, K, w, ws, nr, x, xs, mr, y, ys, bias);                                                    \
  }

QTILE_FN(qt_q4_0, dot_q4_0, 32)
QTILE_FN(qt_q4_1, dot_q4_1, 32)
QTILE_FN(qt_q5_0, dot_q5_0, 32)
QTILE_FN(qt_q5_1, dot_q5_1, 32)
QTILE_FN(qt_q8_0, dot_q8_0, 32)
QTILE_FN(qt_q8_1, dot_q8_1, 32)
QTILE_FN(qt_q2_K, dot_q2_K, 256)
QTILE_FN(qt_q3_K, dot_q3_K, 256)
QTILE_FN(qt_q4_K, dot_q4_K, 256)
QTILE_FN(qt_q5_K, dot_q5_K, 256)
QTILE_FN(qt_q6_K, dot_q6_K, 256)

/* ---- conversions ---------------------------------------------------------- */

static void
cvt_f16_f32(const uint16_t *x, float *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = kern_f16_to_f32(x[i]);
}

static void
cvt_bf16_f32(const uint16_t *x, float *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = kern_bf16_to_f32(x[i]);
}

static void
cvt_f32_f16(const float *x, uint16_t *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = kern_f32_to_f16(x[i]);
}

static void
cvt_f32_bf16(const float *x, uint16_t *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = kern_f32_to_bf16(x[i]);
}

void
_kern_cpu_kernels_generic(kern_cpu_kernels *t)
{
  t->name = "generic";
  kern_float_fill(t);
  t->qdot_mr = 4;
  t->qdot[KERN_TYPE_Q4_0] = qt_q4_0;
  t->qdot[KERN_TYPE_Q4_1] = qt_q4_1;
  t->qdot[KERN_TYPE_Q5_0] = qt_q5_0;
  t->qdot[KERN_TYPE_Q5_1] = qt_q5_1;
  t->qdot[KERN_TYPE_Q8_0] = qt_q8_0;
  t->qdot[KERN_TYPE_Q8_1] = qt_q8_1;
  t->qdot[KERN_TYPE_Q2_K] = qt_q2_K;
  t->qdot[KERN_TYPE_Q3_K] = qt_q3_K;
  t->qdot[KERN_TYPE_Q4_K] = qt_q4_K;
  t->qdot[KERN_TYPE_Q5_K] = qt_q5_K;
  t->qdot[KERN_TYPE_Q6_K] = qt_q6_K;
  t->act_quant[KERN_ACT_A32] = _kern_cpu_act_quant_a32_generic;
  t->act_quant[KERN_ACT_A256] = _kern_cpu_act_quant_a256_generic;
  t->f16_to_f32 = cvt_f16_f32;
  t->bf16_to_f32 = cvt_bf16_f32;
  t->f32_to_f16 = cvt_f32_f16;
  t->f32_to_bf16 = cvt_f32_bf16;
}
