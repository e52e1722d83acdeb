/* aud-fft.c: mixed-radix Stockham FFT over AUD_FFT_LANES signals at once.
 *
 * Decimation in frequency, self-sorting (no bit reversal): a stage of radix r
 * on sub-transforms of length L = m * r with stride s (s * L == n) reads
 *   a_j = x[q + s * (p + j * m)]                 j = 0 .. r-1
 * and writes
 *   y[q + s * (r * p + k)] = (sum_j a_j w_r^(j k)) * w_L^(p k)   k = 0 .. r-1
 * for p < m, q < s, where w_N = exp(-2 pi i / N). The next stage works on
 * length m with stride s * r; after the last stage the output is in natural
 * order. Twiddles are computed in double and rounded once.
 *
 * Each element is a vector of AUD_FFT_LANES floats (GCC/Clang vector
 * extensions), one signal per lane, so every butterfly is SIMD whatever its
 * stride.
 */
#include "aud-fft.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES 40

typedef float v4f __attribute__((vector_size(16)));
_Static_assert(AUD_FFT_LANES * sizeof(float) == sizeof(v4f), "one vector per lane group");

typedef struct {
  int radix;
  int m;         /* sub-transforms after this stage have length m */
  int s;         /* stride of this stage's input */
  const float *tw; /* (m, radix - 1, 2): w_L^(p k), k = 1 .. radix-1 */
  const float *rt; /* generic radices only: (radix, 2): w_r^q */
} fft_stage;

struct aud_fft {
  int n;
  int n_stages;
  fft_stage st[MAX_STAGES];
  float *tables; /* every stage's tw and rt */
};

struct aud_rfft {
  int n;        /* real size */
  aud_fft *half; /* complex size n / 2 */
  float *tw;    /* (n/2 + 1, 2): exp(-2 pi i k / n) */
};

static inline v4f
vload(const float *p)
{
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void
vstore(float *p, v4f v)
{
  memcpy(p, &v, sizeof v);
}

static inline v4f
vsplat(float x)
{
  return (v4f){ x, x, x, x };
}

/* --- plan ------------------------------------------------------------------ */

static int
factorize(int n, int *radices)
{
  int k = 0;
  while (n % 4 == 0) {
    radices[k++] = 4;
    n /= 4;
  }
  if (n % 2 == 0) {
    radices[k++] = 2;
    n /= 2;
  }
  for (int f = 3; n > 1; f += 2) {
    if ((int64_t)f * f > n)
      f = n; /* n is prime */
    while (n % f == 0) {
      radices[k++] = f;
      n /= f;
    }
  }
  return k;
}

aud_fft *
aud_fft_new(int n)
{
  if (n < 1)
    return NULL;
  aud_fft *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->n = n;
  int radices[MAX_STAGES];
  p->n_stages = factorize(n, radices); /* at most log2(n) < 32 factors */

  size_t floats = 0;
  for (int i = 0, len = n; i < p->n_stages; i++) {
    int r = radices[i];
    floats += (size_t)(len / r) * (size_t)(r - 1) * 2;
    if (r > 5)
      floats += (size_t)r * 2;
    len /= r;
  }
  p->tables = malloc((floats ? floats : 1) * sizeof(float));
  if (!p->tables) {
    free(p);
    return NULL;
  }
  float *t = p->tables;
  for (int i = 0, len = n, s = 1; i < p->n_stages; i++) {
    int r = radices[i];
    int m = len / r;
    fft_stage *st = &p->st[i];
    st->radix = r;
    st->m = m;
    st->s = s;
    st->tw = t;
    for (int q = 0; q < m; q++)
      for (int k = 1; k < r; k++) {
        double a = -2.0 * M_PI * (double)q * (double)k / (double)len;
        *t++ = (float)cos(a);
        *t++ = (float)sin(a);
      }
    st->rt = NULL;
    if (r > 5) {
      st->rt = t;
      for (int q = 0; q < r; q++) {
        double a = -2.0 * M_PI * (double)q / (double)r;
        *t++ = (float)cos(a);
        *t++ = (float)sin(a);
      }
    }
    len = m;
    s *= r;
  }
  return p;
}

void
aud_fft_free(aud_fft *p)
{
  if (!p)
    return;
  free(p->tables);
  free(p);
}

int
aud_fft_size(const aud_fft *p)
{
  return p->n;
}

size_t
aud_fft_scratch_floats(const aud_fft *p)
{
  /* ping-pong buffer (re, im), the generic butterfly's inputs (2 * radix
   * vectors), and the single-signal wrapper's lane copies (re, im) */
  size_t gen = 0;
  for (int i = 0; i < p->n_stages; i++)
    if (p->st[i].radix > 5 && (size_t)p->st[i].radix * 2 > gen)
      gen = (size_t)p->st[i].radix * 2;
  return (4 * (size_t)p->n + gen) * AUD_FFT_LANES;
}

/* --- stages ---------------------------------------------------------------- */

/* y = b * (wr + i wi), stored at index o. */
static inline void
store_tw(float *yr, float *yi, size_t o, v4f br, v4f bi, const float *w)
{
  v4f wr = vsplat(w[0]), wi = vsplat(w[1]);
  vstore(yr + o * AUD_FFT_LANES, br * wr - bi * wi);
  vstore(yi + o * AUD_FFT_LANES, br * wi + bi * wr);
}

#define X(idx) ((size_t)(idx) * AUD_FFT_LANES)

static void
stage_r2(const fft_stage *st, const float *xr, const float *xi, float *yr, float *yi)
{
  const int m = st->m, s = st->s;
  for (int p = 0; p < m; p++) {
    const float *w = st->tw + (size_t)p * 2;
    for (int q = 0; q < s; q++) {
      size_t i0 = X(q + s * p), i1 = X(q + s * (p + m));
      v4f ar = vload(xr + i0), ai = vload(xi + i0), br = vload(xr + i1), bi = vload(xi + i1);
      size_t o = (size_t)q + (size_t)s * (2 * (size_t)p);
      vstore(yr + X(o), ar + br);
      vstore(yi + X(o), ai + bi);
      store_tw(yr, yi, o + (size_t)s, ar - br, ai - bi, w);
    }
  }
}

static void
stage_r3(const fft_stage *st, const float *xr, const float *xi, float *yr, float *yi)
{
  const int m = st->m, s = st->s;
  const v4f h = vsplat(-0.5f), sn = vsplat((float)(-sin(2.0 * M_PI / 3.0))); /* forward: -sin */
  for (int p = 0; p < m; p++) {
    const float *w = st->tw + (size_t)p * 4;
    for (int q = 0; q < s; q++) {
      size_t i0 = X(q + s * p), i1 = X(q + s * (p + m)), i2 = X(q + s * (p + 2 * m));
      v4f a0r = vload(xr + i0), a0i = vload(xi + i0);
      v4f a1r = vload(xr + i1), a1i = vload(xi + i1);
      v4f a2r = vload(xr + i2), a2i = vload(xi + i2);
      v4f tr = a1r + a2r, ti = a1i + a2i;
      v4f br = a0r + h * tr, bi = a0i + h * ti;
      /* i * sn * (a1 - a2) */
      v4f dr = -sn * (a1i - a2i), di = sn * (a1r - a2r);
      size_t o = (size_t)q + (size_t)s * (3 * (size_t)p);
      vstore(yr + X(o), a0r + tr);
      vstore(yi + X(o), a0i + ti);
      store_tw(yr, yi, o + (size_t)s, br + dr, bi + di, w);
      store_tw(yr, yi, o + 2 * (size_t)s, br - dr, bi - di, w + 2);
    }
  }
}

static void
stage_r4(const fft_stage *st, const float *xr, const float *xi, float *yr, float *yi)
{
  const int m = st->m, s = st->s;
  for (int p = 0; p < m; p++) {
    const float *w = st->tw + (size_t)p * 6;
    for (int q = 0; q < s; q++) {
      size_t i0 = X(q + s * p), i1 = X(q + s * (p + m)), i2 = X(q + s * (p + 2 * m)), i3 = X(q + s * (p + 3 * m));
      v4f a0r = vload(xr + i0), a0i = vload(xi + i0);
      v4f a1r = vload(xr + i1), a1i = vload(xi + i1);
      v4f a2r = vload(xr + i2), a2i = vload(xi + i2);
      v4f a3r = vload(xr + i3), a3i = vload(xi + i3);
      v4f s02r = a0r + a2r, s02i = a0i + a2i, d02r = a0r - a2r, d02i = a0i - a2i;
      v4f s13r = a1r + a3r, s13i = a1i + a3i, d13r = a1r - a3r, d13i = a1i - a3i;
      size_t o = (size_t)q + (size_t)s * (4 * (size_t)p);
      vstore(yr + X(o), s02r + s13r);
      vstore(yi + X(o), s02i + s13i);
      /* y1 = d02 - i d13, y3 = d02 + i d13 */
      store_tw(yr, yi, o + (size_t)s, d02r + d13i, d02i - d13r, w);
      store_tw(yr, yi, o + 2 * (size_t)s, s02r - s13r, s02i - s13i, w + 2);
      store_tw(yr, yi, o + 3 * (size_t)s, d02r - d13i, d02i + d13r, w + 4);
    }
  }
}

static void
stage_r5(const fft_stage *st, const float *xr, const float *xi, float *yr, float *yi)
{
  const int m = st->m, s = st->s;
  const v4f c1 = vsplat((float)cos(2.0 * M_PI / 5.0)), c2 = vsplat((float)cos(4.0 * M_PI / 5.0));
  const v4f s1 = vsplat((float)sin(2.0 * M_PI / 5.0)), s2 = vsplat((float)sin(4.0 * M_PI / 5.0));
  for (int p = 0; p < m; p++) {
    const float *w = st->tw + (size_t)p * 8;
    for (int q = 0; q < s; q++) {
      size_t i0 = X(q + s * p), i1 = X(q + s * (p + m)), i2 = X(q + s * (p + 2 * m)), i3 = X(q + s * (p + 3 * m)),
             i4 = X(q + s * (p + 4 * m));
      v4f a0r = vload(xr + i0), a0i = vload(xi + i0);
      v4f a1r = vload(xr + i1), a1i = vload(xi + i1);
      v4f a2r = vload(xr + i2), a2i = vload(xi + i2);
      v4f a3r = vload(xr + i3), a3i = vload(xi + i3);
      v4f a4r = vload(xr + i4), a4i = vload(xi + i4);
      v4f t1r = a1r + a4r, t1i = a1i + a4i, t2r = a2r + a3r, t2i = a2i + a3i;
      v4f t3r = a1r - a4r, t3i = a1i - a4i, t4r = a2r - a3r, t4i = a2i - a3i;
      v4f b1r = a0r + c1 * t1r + c2 * t2r, b1i = a0i + c1 * t1i + c2 * t2i;
      v4f b2r = a0r + c2 * t1r + c1 * t2r, b2i = a0i + c2 * t1i + c1 * t2i;
      /* u = s1 t3 + s2 t4, v = s2 t3 - s1 t4; y1 = b1 - i u, y4 = b1 + i u, y2 = b2 - i v, y3 = b2 + i v */
      v4f ur = s1 * t3r + s2 * t4r, ui = s1 * t3i + s2 * t4i;
      v4f vr = s2 * t3r - s1 * t4r, vi = s2 * t3i - s1 * t4i;
      size_t o = (size_t)q + (size_t)s * (5 * (size_t)p);
      vstore(yr + X(o), a0r + t1r + t2r);
      vstore(yi + X(o), a0i + t1i + t2i);
      store_tw(yr, yi, o + (size_t)s, b1r + ui, b1i - ur, w);
      store_tw(yr, yi, o + 2 * (size_t)s, b2r + vi, b2i - vr, w + 2);
      store_tw(yr, yi, o + 3 * (size_t)s, b2r - vi, b2i + vr, w + 4);
      store_tw(yr, yi, o + 4 * (size_t)s, b1r - ui, b1i + ur, w + 6);
    }
  }
}

/* Any radix: the r-point DFT by definition. ar, ai: (r) vectors of scratch. */
static void
stage_generic(const fft_stage *st, const float *xr, const float *xi, float *yr, float *yi, float *ar, float *ai)
{
  const int m = st->m, s = st->s, r = st->radix;
  for (int p = 0; p < m; p++) {
    const float *w = st->tw + (size_t)p * 2 * (size_t)(r - 1);
    for (int q = 0; q < s; q++) {
      for (int j = 0; j < r; j++) {
        size_t i = X(q + s * (p + j * m));
        vstore(ar + X(j), vload(xr + i));
        vstore(ai + X(j), vload(xi + i));
      }
      size_t o = (size_t)q + (size_t)s * ((size_t)r * (size_t)p);
      for (int k = 0; k < r; k++) {
        v4f sr = vsplat(0.0f), si = vsplat(0.0f);
        for (int j = 0; j < r; j++) {
          const float *c = st->rt + 2 * (size_t)((j * k) % r);
          v4f aj_r = vload(ar + X(j)), aj_i = vload(ai + X(j));
          sr += aj_r * c[0] - aj_i * c[1];
          si += aj_r * c[1] + aj_i * c[0];
        }
        if (k == 0) {
          vstore(yr + X(o), sr);
          vstore(yi + X(o), si);
        } else {
          store_tw(yr, yi, o + (size_t)k * (size_t)s, sr, si, w + 2 * (size_t)(k - 1));
        }
      }
    }
  }
}

void
aud_fft_lanes(const aud_fft *p, float *re, float *im, float *scratch)
{
  const size_t nl = (size_t)p->n * AUD_FFT_LANES;
  float *buf_r[2] = { re, scratch };
  float *buf_i[2] = { im, scratch + nl };
  float *gen = scratch + 2 * nl;
  int cur = 0;
  for (int i = 0; i < p->n_stages; i++) {
    const fft_stage *st = &p->st[i];
    const float *xr = buf_r[cur], *xi = buf_i[cur];
    float *yr = buf_r[cur ^ 1], *yi = buf_i[cur ^ 1];
    switch (st->radix) {
    case 2: stage_r2(st, xr, xi, yr, yi); break;
    case 3: stage_r3(st, xr, xi, yr, yi); break;
    case 4: stage_r4(st, xr, xi, yr, yi); break;
    case 5: stage_r5(st, xr, xi, yr, yi); break;
    default: stage_generic(st, xr, xi, yr, yi, gen, gen + (size_t)st->radix * AUD_FFT_LANES); break;
    }
    cur ^= 1;
  }
  if (cur) {
    memcpy(re, buf_r[1], nl * sizeof(float));
    memcpy(im, buf_i[1], nl * sizeof(float));
  }
}

void
aud_fft_complex(const aud_fft *p, const float *in, float *out, float *scratch)
{
  const size_t n = (size_t)p->n, nl = n * AUD_FFT_LANES;
  float *re = scratch, *im = scratch + nl, *fs = scratch + 2 * nl;
  memset(re, 0, 2 * nl * sizeof(float));
  for (size_t t = 0; t < n; t++) {
    re[t * AUD_FFT_LANES] = in[2 * t];
    im[t * AUD_FFT_LANES] = in[2 * t + 1];
  }
  aud_fft_lanes(p, re, im, fs);
  for (size_t t = 0; t < n; t++) {
    out[2 * t] = re[t * AUD_FFT_LANES];
    out[2 * t + 1] = im[t * AUD_FFT_LANES];
  }
}

/* --- real input ------------------------------------------------------------- */

aud_rfft *
aud_rfft_new(int n)
{
  if (n < 2 || n % 2)
    return NULL;
  aud_rfft *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->n = n;
  p->half = aud_fft_new(n / 2);
  p->tw = malloc(((size_t)n / 2 + 1) * 2 * sizeof(float));
  if (!p->half || !p->tw) {
    aud_rfft_free(p);
    return NULL;
  }
  for (int k = 0; k <= n / 2; k++) {
    double a = -2.0 * M_PI * (double)k / (double)n;
    p->tw[2 * k] = (float)cos(a);
    p->tw[2 * k + 1] = (float)sin(a);
  }
  return p;
}

void
aud_rfft_free(aud_rfft *p)
{
  if (!p)
    return;
  aud_fft_free(p->half);
  free(p->tw);
  free(p);
}

int
aud_rfft_size(const aud_rfft *p)
{
  return p->n;
}

size_t
aud_rfft_scratch_floats(const aud_rfft *p)
{
  /* z (re, im) of n/2 vectors each, the complex FFT's scratch, and room for
   * the single-signal wrapper's lane copies (x and two outputs). */
  size_t h = (size_t)p->n / 2;
  return (2 * h + (2 * h + 2) + (size_t)p->n) * AUD_FFT_LANES + aud_fft_scratch_floats(p->half);
}

/* Z = FFT_{n/2}(x[2m] + i x[2m+1]); zr, zi: (n/2, lanes). */
static void
rfft_half(const aud_rfft *p, const float *x, float *zr, float *zi, float *fs)
{
  const size_t h = (size_t)p->n / 2;
  for (size_t m = 0; m < h; m++) {
    vstore(zr + X(m), vload(x + X(2 * m)));
    vstore(zi + X(m), vload(x + X(2 * m + 1)));
  }
  aud_fft_lanes(p->half, zr, zi, fs);
}

/* X[k] = E + w^k O with E = (Z[k] + conj Z[h-k]) / 2, O = -i (Z[k] - conj Z[h-k]) / 2,
 * indices of Z taken mod h. */
#define RFFT_SPLIT(k, XR, XI)                                                                                        \
  size_t ka_ = (k) == h ? 0 : (k), kb_ = (k) == 0 ? 0 : h - (k);                                                    \
  v4f ar_ = vload(zr + X(ka_)), ai_ = vload(zi + X(ka_));                                                           \
  v4f br_ = vload(zr + X(kb_)), bi_ = -vload(zi + X(kb_));                                                           \
  v4f er_ = half * (ar_ + br_), ei_ = half * (ai_ + bi_);                                                           \
  v4f or_ = half * (ai_ - bi_), oi_ = half * (br_ - ar_);                                                           \
  v4f wr_ = vsplat(p->tw[2 * (k)]), wi_ = vsplat(p->tw[2 * (k) + 1]);                                               \
  v4f XR = er_ + or_ * wr_ - oi_ * wi_;                                                                             \
  v4f XI = ei_ + or_ * wi_ + oi_ * wr_

void
aud_rfft_lanes(const aud_rfft *p, const float *x, float *re, float *im, float *scratch)
{
  const size_t h = (size_t)p->n / 2;
  float *zr = scratch, *zi = scratch + X(h), *fs = scratch + 2 * X(h);
  const v4f half = vsplat(0.5f);
  rfft_half(p, x, zr, zi, fs);
  for (size_t k = 0; k <= h; k++) {
    RFFT_SPLIT(k, xr, xi);
    vstore(re + X(k), xr);
    vstore(im + X(k), xi);
  }
}

void
aud_rfft_power_lanes(const aud_rfft *p, const float *x, float *pow, float *scratch)
{
  const size_t h = (size_t)p->n / 2;
  float *zr = scratch, *zi = scratch + X(h), *fs = scratch + 2 * X(h);
  const v4f half = vsplat(0.5f);
  rfft_half(p, x, zr, zi, fs);
  for (size_t k = 0; k <= h; k++) {
    RFFT_SPLIT(k, xr, xi);
    vstore(pow + X(k), xr * xr + xi * xi);
  }
}

void
aud_rfft_forward(const aud_rfft *p, const float *x, float *out, float *scratch)
{
  const size_t n = (size_t)p->n, h = n / 2;
  float *xl = scratch, *re = xl + X(n), *im = re + X(h + 1), *rs = im + X(h + 1);
  memset(xl, 0, X(n) * sizeof(float));
  for (size_t t = 0; t < n; t++)
    xl[X(t)] = x[t];
  aud_rfft_lanes(p, xl, re, im, rs);
  for (size_t k = 0; k <= h; k++) {
    out[2 * k] = re[X(k)];
    out[2 * k + 1] = im[X(k)];
  }
}
