/* kern-cpu-fast-avx2.c: AVX2 + FMA + F16C kernels of the "cpu" backend.
 *
 * Built with -mavx2 -mfma -mf16c (x86-64 only); used when the CPU has all
 * three. The float kernels come from kern-cpu-fast-float.h; here are the
 * activation quantizers, the quantized dots (one weight row against up to 4
 * activation rows, so each weight block is unpacked once for all of them)
 * and the conversions.
 *
 * Dots use vpmaddubsw (unsigned weight bytes x signed activation bytes, pairs
 * summed to int16) then vpmaddwd (pairs to int32, times a per-lane int16
 * scale where the format has sub-block scales). Unsigned weights q with an
 * offset o (Q4_0: x = d (q - 8)) are dotted as q and corrected with the
 * activation block sums: sum (q - o) a = sum q a - o sum a. */
#define KERN_SIMD_AVX2 1
#define KERN_GEMM_MR 3
#define KERN_GEMMP_MR 6
#define KERN_ATTN_DG 4
#include "kern-cpu-fast-float.h"

#include <immintrin.h>

#define QMR 4 /* activation rows per quantized tile */

static inline float
h2f(uint16_t h)
{
  return _cvtsh_ss(h);
}

static inline int
hsum_i32(__m256i v)
{
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

/* ---- activation quantizers --------------------------------------------- */

/* 32 floats -> 32 int8 at dst (x * id rounded to nearest); returns their sum. */
static inline int
quant32(const float *x, __m256 id, int8_t *dst)
{
  __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
  __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
  __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
  __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
  int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
  __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256((__m256i *)dst, p);
  return sum;
}

static inline float
absmax(const float *x, int n)
{
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8)
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  return vf_hmax(m);
}

static void
act_quant_a32(const float *x, int64_t K, uint8_t *dst)
{
  int64_t nb = K / 32;
  int8_t *qs = (int8_t *)dst;
  float *d = (float *)(dst + K), *sd = d + nb;
  for (int64_t b = 0; b < nb; b++) {
    float amax = absmax(x + b * 32, 32);
    __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    int sum = quant32(x + b * 32, id, qs + b * 32);
    d[b] = amax / 127.0f;
    sd[b] = d[b] * (float)sum;
  }
}

static void
act_quant_a256(const float *x, int64_t K, uint8_t *dst)
{
  int64_t nb = K / 256;
  int8_t *qs = (int8_t *)dst;
  float *d = (float *)(dst + K);
  int16_t *bs = (int16_t *)(d + nb);
  for (int64_t b = 0; b < nb; b++) {
    const float *xb = x + b * 256;
    float amax = absmax(xb, 256);
    __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    for (int c = 0; c < 8; c++) {
      quant32(xb + 32 * c, id, qs + b * 256 + 32 * c);
      /* the two group-of-16 sums of this chunk */
      __m256i q = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qs + b * 256 + 32 * c)));
      __m256i q2 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qs + b * 256 + 32 * c + 16)));
      bs[b * 16 + 2 * c] = (int16_t)hsum_i32(_mm256_madd_epi16(q, _mm256_set1_epi16(1)));
      bs[b * 16 + 2 * c + 1] = (int16_t)hsum_i32(_mm256_madd_epi16(q2, _mm256_set1_epi16(1)));
    }
    d[b] = amax / 127.0f;
  }
}

/* ---- legacy formats (blocks of 32) against A32 ---------------------------- */

enum { L_Q4_0, L_Q4_1, L_Q5_0, L_Q5_1, L_Q8_0, L_Q8_1 };

/* The 32 bytes of bit 4 (0x10) for the 32 bits of qh: byte j gets bit j. */
static inline __m256i
q5_high(const uint8_t *qh4)
{
  uint32_t qh;
  memcpy(&qh, qh4, 4);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                  _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                                     0x0303030303030303ll));
  const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles (values 0..15) then high. */
static inline __m256i
nibbles32(const uint8_t *qs)
{
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
  v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

KERN_INLINE void
legacy_rows(const int L, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 32;
  const size_t bsz = L == L_Q4_0 ? 18 : L == L_Q4_1 ? 20 : L == L_Q5_0 ? 22 : L == L_Q5_1 ? 24 : L == L_Q8_0 ? 34 : 36;
  const float *da[QMR], *sd[QMR];
  __m256 acc[QMR];
  float corr[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    sd[m] = da[m] + nb;
    acc[m] = _mm256_setzero_ps();
    corr[m] = 0;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *blk = w + (size_t)b * bsz;
    uint16_t dh, mh = 0;
    memcpy(&dh, blk, 2);
    if (L == L_Q4_1 || L == L_Q5_1)
      memcpy(&mh, blk + 2, 2);
    float dw = h2f(dh), cw = 0;
    __m256i q, qabs = _mm256_setzero_si256();
    switch (L) {
    case L_Q4_0: q = nibbles32(blk + 2), cw = -8 * dw; break;
    case L_Q4_1: q = nibbles32(blk + 4), cw = h2f(mh); break;
    case L_Q5_0: q = _mm256_or_si256(nibbles32(blk + 6), q5_high(blk + 2)), cw = -16 * dw; break;
    case L_Q5_1: q = _mm256_or_si256(nibbles32(blk + 8), q5_high(blk + 4)), cw = h2f(mh); break;
    default:
      q = _mm256_loadu_si256((const __m256i *)(blk + (L == L_Q8_0 ? 2 : 4)));
      qabs = _mm256_sign_epi8(q, q);
      break;
    }
    const __m256 dwv = _mm256_set1_ps(dw);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      __m256i av = _mm256_loadu_si256((const __m256i *)(a[m] + b * 32));
      __m256i p;
      if (L == L_Q8_0 || L == L_Q8_1)
        p = _mm256_maddubs_epi16(qabs, _mm256_sign_epi8(av, q));
      else
        p = _mm256_maddubs_epi16(q, av);
      __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
      acc[m] = _mm256_fmadd_ps(f, _mm256_mul_ps(dwv, _mm256_broadcast_ss(da[m] + b)), acc[m]);
      if (L != L_Q8_0 && L != L_Q8_1)
        corr[m] += cw * sd[m][b];
    }
  }
  for (int m = 0; m < MR; m++)
    out[m] = vf_hsum(acc[m]) + corr[m];
}

/* ---- k-quants against A256 -------------------------------------------------- */

/* The 8 six-bit scales (sc) and mins (m) of q4_K/q5_K as bytes. */
static inline void
k4_scales(const uint8_t *s12, uint8_t sc[8], uint8_t m[8])
{
  uint32_t u0, u1, u2;
  memcpy(&u0, s12, 4), memcpy(&u1, s12 + 4, 4), memcpy(&u2, s12 + 8, 4);
  uint32_t s_lo = u0 & 0x3f3f3f3f, m_lo = u1 & 0x3f3f3f3f;
  uint32_t s_hi = (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030);
  uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030);
  memcpy(sc, &s_lo, 4), memcpy(sc + 4, &s_hi, 4);
  memcpy(m, &m_lo, 4), memcpy(m + 4, &m_hi, 4);
}

/* int16 lanes all holding element j of the 8 int16 in v (both halves). */
static inline __m256i
bcast16(__m256i v, int j)
{
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * j) | (2 * j + 1) << 8)));
}

KERN_INLINE void
q45k_rows(const int Q5, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 256;
  const size_t bsz = Q5 ? sizeof(kern_block_q5_K) : sizeof(kern_block_q4_K);
  const float *da[QMR];
  const int16_t *bs[QMR];
  __m256 acc[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    bs[m] = (const int16_t *)(da[m] + nb);
    acc[m] = _mm256_setzero_ps();
  }
  const __m256i mask4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *blk = w + (size_t)b * bsz;
    uint16_t dh, mh;
    memcpy(&dh, blk, 2), memcpy(&mh, blk + 2, 2);
    const uint8_t *qs = blk + (Q5 ? 48 : 16);
    __m256i qh = Q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
    uint8_t sc[8], mn[8];
    k4_scales(blk + 4, sc, mn);
    uint64_t sc64, mn64;
    memcpy(&sc64, sc, 8), memcpy(&mn64, mn, 8);
    __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc64)));
    __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn64));
    /* each min twice: it serves the two groups of 16 of its sub-block */
    __m256i mins = _mm256_setr_m128i(_mm_unpacklo_epi16(mn16, mn16), _mm_unpackhi_epi16(mn16, mn16));
    __m256i isum[QMR];
    for (int m = 0; m < MR; m++)
      isum[m] = _mm256_setzero_si256();
    KERN_UNROLL for (int c = 0; c < 4; c++) {
      __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
      __m256i lo = _mm256_and_si256(q, mask4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask4);
      if (Q5) {
        /* bit 2c (low) and 2c+1 (high) of each qh byte -> bit 4 */
        __m256i hl = 2 * c <= 4 ? _mm256_slli_epi16(qh, 4 - 2 * c) : _mm256_srli_epi16(qh, 2 * c - 4);
        __m256i hh = 2 * c + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - 2 * c) : _mm256_srli_epi16(qh, 2 * c - 3);
        lo = _mm256_or_si256(lo, _mm256_and_si256(hl, b4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(hh, b4));
      }
      __m256i s_lo = bcast16(sc16, 2 * c), s_hi = bcast16(sc16, 2 * c + 1);
      KERN_UNROLL for (int m = 0; m < MR; m++) {
        const int8_t *q8 = (const int8_t *)a[m] + b * 256 + 64 * c;
        __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
        __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
        isum[m] = _mm256_add_epi32(isum[m], _mm256_add_epi32(_mm256_madd_epi16(p0, s_lo), _mm256_madd_epi16(p1, s_hi)));
      }
    }
    const float d = h2f(dh), dmin = h2f(mh);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(bs[m] + b * 16)), mins);
      __m256 dd = _mm256_set1_ps(d * da[m][b]), dm = _mm256_set1_ps(-dmin * da[m][b]);
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[m]), dd, acc[m]);
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dm, acc[m]);
    }
  }
  for (int m = 0; m < MR; m++)
    out[m] = vf_hsum(acc[m]);
}

KERN_INLINE void
q6k_rows(int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 256;
  const float *da[QMR];
  const int16_t *bs[QMR];
  __m256 acc[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    bs[m] = (const int16_t *)(da[m] + nb);
    acc[m] = _mm256_setzero_ps();
  }
  const __m256i mask4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
  /* int16 lane masks picking (s_g for the low half, s_g+1 for the high half) */
  const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
                                        2, 3, 2, 3, 2, 3);
  for (int64_t b = 0; b < nb; b++) {
    const kern_block_q6_K *blk = (const kern_block_q6_K *)(w + (size_t)b * sizeof(kern_block_q6_K));
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales)); /* (16) */
    __m256i isum[QMR];
    for (int m = 0; m < MR; m++)
      isum[m] = _mm256_setzero_si256();
    KERN_UNROLL for (int h = 0; h < 2; h++) {
      __m256i ql0 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h));
      __m256i ql1 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h + 32));
      __m256i qh = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask4), _mm256_and_si256(qh, m30));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
      KERN_UNROLL for (int k = 0; k < 4; k++) {
        int g = 8 * h + 2 * k; /* groups g (values 0..15 of the chunk) and g + 1 */
        __m256i s = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(g / 2)), pick);
        KERN_UNROLL for (int m = 0; m < MR; m++) {
          const int8_t *q8 = (const int8_t *)a[m] + b * 256 + 128 * h + 32 * k;
          __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)q8));
          isum[m] = _mm256_add_epi32(isum[m], _mm256_madd_epi16(p, s));
        }
      }
    }
    const float d = h2f(blk->d);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      /* the -32 offset: - 32 sum_g s_g bsum_g */
      __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(bs[m] + b * 16)), sc16);
      isum[m] = _mm256_sub_epi32(isum[m], _mm256_slli_epi32(off, 5));
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[m]), _mm256_set1_ps(d * da[m][b]), acc[m]);
    }
  }
  for (int m = 0; m < MR; m++)
    out[m] = vf_hsum(acc[m]);
}


/* Q2_K and Q3_K: 16 groups of 16 with 4-bit (Q2_K) or 6-bit signed (Q3_K)
 * scales; value 128h + 32s + l is 2 bits at shift 2s of qs[32h + l]. Q3_K's
 * third bit (hmask bit 4h + s of byte l, set: no -4) makes q + 4 unsigned. */
KERN_INLINE void
q23k_rows(const int Q3, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 256;
  const float *da[QMR];
  const int16_t *bs[QMR];
  __m256 acc[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    bs[m] = (const int16_t *)(da[m] + nb);
    acc[m] = _mm256_setzero_ps();
  }
  const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
  const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
                                        2, 3, 2, 3, 2, 3);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *qs, *hm = NULL;
    __m256i sc16, mn16 = _mm256_setzero_si256();
    float d, dmin = 0;
    if (Q3) {
      const kern_block_q3_K *blk = (const kern_block_q3_K *)(w + (size_t)b * sizeof(kern_block_q3_K));
      uint32_t u0, u1, u2, v[4];
      memcpy(&u0, blk->scales, 4), memcpy(&u1, blk->scales + 4, 4), memcpy(&u2, blk->scales + 8, 4);
      v[0] = (u0 & 0x0f0f0f0f) | ((u2 & 0x03030303) << 4);
      v[1] = (u1 & 0x0f0f0f0f) | (((u2 >> 2) & 0x03030303) << 4);
      v[2] = ((u0 >> 4) & 0x0f0f0f0f) | (((u2 >> 4) & 0x03030303) << 4);
      v[3] = ((u1 >> 4) & 0x0f0f0f0f) | (((u2 >> 6) & 0x03030303) << 4);
      sc16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)v)), _mm256_set1_epi16(32));
      qs = blk->qs, hm = blk->hmask, d = h2f(blk->d);
    } else {
      const kern_block_q2_K *blk = (const kern_block_q2_K *)(w + (size_t)b * sizeof(kern_block_q2_K));
      __m128i sm = _mm_loadu_si128((const __m128i *)blk->scales);
      sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, _mm_set1_epi8(0x0f)));
      mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0x0f)));
      qs = blk->qs, d = h2f(blk->d), dmin = h2f(blk->dmin);
    }
    __m256i hv = Q3 ? _mm256_loadu_si256((const __m256i *)hm) : _mm256_setzero_si256();
    __m256i isum[QMR];
    for (int m = 0; m < MR; m++)
      isum[m] = _mm256_setzero_si256();
    KERN_UNROLL for (int h = 0; h < 2; h++) {
      __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
      KERN_UNROLL for (int sh = 0; sh < 4; sh++) {
        __m256i q = _mm256_and_si256(sh ? _mm256_srli_epi16(qv, 2 * sh) : qv, m3);
        if (Q3) {
          const int j = 4 * h + sh; /* hmask bit -> bit 2 */
          __m256i hb = j >= 2 ? _mm256_srli_epi16(hv, j - 2) : _mm256_slli_epi16(hv, 2 - j);
          q = _mm256_or_si256(q, _mm256_and_si256(hb, m4));
        }
        int g = 8 * h + 2 * sh;
        __m256i s = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(g / 2)), pick);
        KERN_UNROLL for (int m = 0; m < MR; m++) {
          const int8_t *q8 = (const int8_t *)a[m] + b * 256 + 128 * h + 32 * sh;
          __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)q8));
          isum[m] = _mm256_add_epi32(isum[m], _mm256_madd_epi16(p, s));
        }
      }
    }
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      __m256i bsv = _mm256_loadu_si256((const __m256i *)(bs[m] + b * 16));
      if (Q3) {
        /* q + 4 was dotted: - 4 sum_g s_g bsum_g */
        isum[m] = _mm256_sub_epi32(isum[m], _mm256_slli_epi32(_mm256_madd_epi16(bsv, sc16), 2));
      } else {
        __m256i msum = _mm256_madd_epi16(bsv, mn16);
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dmin * da[m][b]), acc[m]);
      }
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[m]), _mm256_set1_ps(d * da[m][b]), acc[m]);
    }
  }
  for (int m = 0; m < MR; m++)
    out[m] = vf_hsum(acc[m]);
}

/* ---- tiles ---------------------------------------------------------------- */

enum { T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0, T_Q8_1, T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K };

KERN_INLINE void
rows_of(const int T, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  switch (T) {
  case T_Q2_K: q23k_rows(0, K, w, a, MR, out); break;
  case T_Q3_K: q23k_rows(1, K, w, a, MR, out); break;
  case T_Q4_K: q45k_rows(0, K, w, a, MR, out); break;
  case T_Q5_K: q45k_rows(1, K, w, a, MR, out); break;
  case T_Q6_K: q6k_rows(K, w, a, MR, out); break;
  default: legacy_rows(T, K, w, a, MR, out); break;
  }
}

KERN_INLINE void
qtile(const int T, int64_t K, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y, size_t ys,
      const float *bias)
{
  for (int m0 = 0; m0 < mr; m0 += QMR) {
    int n_m = mr - m0 < QMR ? mr - m0 : QMR;
    const uint8_t *a[QMR];
    for (int m = 0; m < QMR; m++)
      a[m] = (const uint8_t *)x + (size_t)(m0 + (m < n_m ? m : 0)) * xs;
    for (int n = 0; n < nr; n++) {
      const uint8_t *wr = (const uint8_t *)w + (size_t)n * ws;
      float out[QMR];
      if (m0 == 0) /* the row after next (maybe past this tile: prefetches never fault) */
        for (size_t o = 0; o < ws; o += 64)
          _mm_prefetch((const char *)wr + 2 * ws + o, _MM_HINT_T0);
      switch (n_m) {
      case 1: rows_of(T, K, wr, a, 1, out); break;
      case 2: rows_of(T, K, wr, a, 2, out); break;
      case 3: rows_of(T, K, wr, a, 3, out); break;
      default: rows_of(T, K, wr, a, 4, out); break;
      }
      for (int m = 0; m < n_m; m++)
        y[(size_t)(m0 + m) * ys + (size_t)n] = out[m] + (bias ? bias[n] : 0.0f);
    }
  }
}

#define QTILE_FN(NAME, T)                                                                                    \
  static void NAME(int64_t K, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y, \
                   size_t ys, const float *bias)                                                            \
  {                                                                                                         \
    qtile(T, K, w, ws, nr, x, xs, mr, y, ys, bias);                                                         \
  }

QTILE_FN(qt_q4_0, T_Q4_0)
QTILE_FN(qt_q4_1, T_Q4_1)
QTILE_FN(qt_q5_0, T_Q5_0)
QTILE_FN(qt_q5_1, T_Q5_1)
QTILE_FN(qt_q8_0, T_Q8_0)
QTILE_FN(qt_q8_1, T_Q8_1)
QTILE_FN(qt_q2_K, T_Q2_K)
QTILE_FN(qt_q3_K, T_Q3_K)
QTILE_FN(qt_q4_K, T_Q4_K)
QTILE_FN(qt_q5_K, T_Q5_K)
QTILE_FN(qt_q6_K, T_Q6_K)

/* ---- conversions (exact, as kern-type.c) --------------------------------- */

static void
cvt_f16_f32(const uint16_t *x, float *y, int64_t n)
{
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
    /* NaN payloads: F16C quiets signalling NaNs, the scalar code keeps them */
    __m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
    if (!_mm_testz_si128(nan, nan)) {
      for (int j = 0; j < 8; j++)
        y[i + j] = kern_f16_to_f32(x[i + j]);
      continue;
    }
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; i++)
    y[i] = kern_f16_to_f32(x[i]);
}

static void
cvt_bf16_f32(const uint16_t *x, float *y, int64_t n)
{
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, vf_load_bh(x + i));
  for (; i < n; i++)
    y[i] = kern_bf16_to_f32(x[i]);
}

static void
cvt_f32_f16(const float *x, uint16_t *y, int64_t n)
{
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
      for (int j = 0; j < 8; j++)
        y[i + j] = kern_f32_to_f16(x[i + j]);
      continue;
    }
    _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; i++)
    y[i] = kern_f32_to_f16(x[i]);
}

static void
cvt_f32_bf16(const float *x, uint16_t *y, int64_t n)
{
  int64_t i = 0;
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  for (; i + 8 <= n; i += 8) {
    __m256i u = _mm256_loadu_si256((const __m256i *)(x + i));
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan);
    r = _mm256_srli_epi32(r, 16);
    __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128((__m128i *)(y + i), p);
  }
  for (; i < n; i++)
    y[i] = kern_f32_to_bf16(x[i]);
}

void
_kern_cpu_kernels_avx2(kern_cpu_kernels *t)
{
  t->name = "avx2";
  kern_float_fill(t);
  t->qdot_mr = QMR;
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
  t->act_quant[KERN_ACT_A32] = act_quant_a32;
  t->act_quant[KERN_ACT_A256] = act_quant_a256;
  t->f16_to_f32 = cvt_f16_f32;
  t->bf16_to_f32 = cvt_bf16_f32;
  t->f32_to_f16 = cvt_f32_f16;
  t->f32_to_bf16 = cvt_f32_bf16;
}
