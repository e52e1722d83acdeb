/* kern-cpu-fast-avx512.c: AVX-512 (F, BW, VL, VNNI) kernels of the "cpu"
 * backend.
 *
 * Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (x86-64 only);
 * used when the CPU has all four. It fills the table on top of the AVX2 one
 * (activation quantizers and conversions stay AVX2: they are memory-bound).
 *
 * Legacy blocks go two to a 512-bit register and meet the activations in
 * vpdpbusd (unsigned weight bytes x signed activation bytes, four products
 * to an int32 lane); offsets are corrected with the activation block sums.
 * The k-quants use vpmaddubsw then vpdpwssd against per-lane int16 sub-block
 * scales (the multiply-add by the scale and the accumulation in one). One
 * weight row meets up to 4 activation rows per pass. */
#define KERN_SIMD_AVX512 1
#define KERN_GEMM_MR 6
#define KERN_GEMMP_MR 12
#define KERN_ATTN_DG 8
#include "kern-cpu-fast-float.h"

#include <immintrin.h>

#define QMR 4

static inline float
h2f(uint16_t h)
{
  return _cvtsh_ss(h);
}

/* two floats from any 4-byte aligned address */
static inline __m128
load2f(const float *p)
{
  return _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)p));
}

/* ---- legacy formats (blocks of 32) against A32 ---------------------------- */

enum { L_Q4_0, L_Q4_1, L_Q5_0, L_Q5_1, L_Q8_0, L_Q8_1 };

/* Two blocks' nibbles -> 64 bytes: block 0 values 0..31, then block 1's. */
static inline __m512i
nibbles64(const uint8_t *qs0, const uint8_t *qs1)
{
  __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
  __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
  __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
  z = _mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
  return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
}

/* One block, scalar: sum (q - offset) a for the type's q. */
static int
legacy_block_dot(const int L, const uint8_t *blk, const int8_t *a)
{
  int acc = 0;
  if (L == L_Q8_0 || L == L_Q8_1) {
    const int8_t *q = (const int8_t *)blk + (L == L_Q8_0 ? 2 : 4);
    for (int j = 0; j < 32; j++)
      acc += q[j] * a[j];
    return acc;
  }
  const uint8_t *qs = blk + (L == L_Q4_0 ? 2 : L == L_Q4_1 ? 4 : L == L_Q5_0 ? 6 : 8);
  const uint8_t *qh = blk + (L == L_Q5_0 ? 2 : 4);
  int off = L == L_Q4_0 ? 8 : L == L_Q5_0 ? 16 : 0;
  uint32_t h = 0;
  if (L == L_Q5_0 || L == L_Q5_1)
    memcpy(&h, qh, 4);
  /* two plain halves: GCC 12 mis-vectorizes this loop for AVX-512 when
   * written as one loop with a conditional nibble pick */
  for (int j = 0; j < 16; j++) {
    int lo = (qs[j] & 15) | (int)((h >> j) & 1) << 4;
    int hi = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
    acc += (lo - off) * a[j] + (hi - off) * a[j + 16];
  }
  return acc;
}

/* The weights of blocks b0 and b1 as 64 unsigned bytes (q, or q + 128 for Q8). */
KERN_INLINE __m512i
legacy_pair(const int L, const uint8_t *b0, const uint8_t *b1)
{
  __m512i q;
  switch (L) {
  case L_Q4_0: q = nibbles64(b0 + 2, b1 + 2); break;
  case L_Q4_1: q = nibbles64(b0 + 4, b1 + 4); break;
  case L_Q5_0:
  case L_Q5_1: {
    const int o = L == L_Q5_0 ? 2 : 4;
    uint32_t h0, h1;
    memcpy(&h0, b0 + o, 4), memcpy(&h1, b1 + o, 4);
    q = nibbles64(b0 + o + 4, b1 + o + 4);
    q = _mm512_mask_add_epi8(q, _cvtu64_mask64((uint64_t)h0 | (uint64_t)h1 << 32), q, _mm512_set1_epi8(16));
    break;
  }
  default: {
    const int o = L == L_Q8_0 ? 2 : 4;
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + o))),
                                   _mm256_loadu_si256((const __m256i *)(b1 + o)), 1);
    q = _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80)); /* q + 128, unsigned */
    break;
  }
  }
  return q;
}

KERN_INLINE void
legacy_rows(const int L, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 32;
  const size_t bsz = L == L_Q4_0 ? 18 : L == L_Q4_1 ? 20 : L == L_Q5_0 ? 22 : L == L_Q5_1 ? 24 : L == L_Q8_0 ? 34 : 36;
  const int with_m = L == L_Q4_1 || L == L_Q5_1;
  const float cmul = L == L_Q4_0 ? -8.0f : L == L_Q5_0 ? -16.0f : -128.0f; /* offset of q, as a multiple of d */
  const float *da[QMR], *sd[QMR];
  __m512 acc[QMR];
  __m128 corr[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    sd[m] = da[m] + nb;
    acc[m] = _mm512_setzero_ps();
    corr[m] = _mm_setzero_ps();
  }
  const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i pair_idx2 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  int64_t b = 0;
  /* four blocks a step: one scale conversion and one correction for all */
  for (; b + 4 <= nb; b += 4) {
    const uint8_t *b0 = w + (size_t)b * bsz;
    uint64_t dd = 0, mm = 0;
    for (int i = 0; i < 4; i++) {
      uint16_t h;
      memcpy(&h, b0 + (size_t)i * bsz, 2);
      dd |= (uint64_t)h << (16 * i);
      if (with_m) {
        memcpy(&h, b0 + (size_t)i * bsz + 2, 2);
        mm |= (uint64_t)h << (16 * i);
      }
    }
    __m128 dw4 = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dd));
    __m128 cw4 = with_m ? _mm_cvtph_ps(_mm_cvtsi64_si128((long long)mm)) : _mm_mul_ps(dw4, _mm_set1_ps(cmul));
    __m512i qa = legacy_pair(L, b0, b0 + bsz), qb = legacy_pair(L, b0 + 2 * bsz, b0 + 3 * bsz);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      __m512i da_ = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qa, _mm512_loadu_si512(a[m] + b * 32));
      __m512i db_ = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qb, _mm512_loadu_si512(a[m] + b * 32 + 64));
      __m512 s4 = _mm512_castps128_ps512(_mm_mul_ps(dw4, _mm_loadu_ps(da[m] + b)));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(da_), _mm512_permutexvar_ps(pair_idx, s4), acc[m]);
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(db_), _mm512_permutexvar_ps(pair_idx2, s4), acc[m]);
      corr[m] = _mm_fmadd_ps(cw4, _mm_loadu_ps(sd[m] + b), corr[m]);
    }
  }
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *b0 = w + (size_t)b * bsz, *b1 = b0 + bsz;
    uint16_t d0, d1;
    memcpy(&d0, b0, 2), memcpy(&d1, b1, 2);
    __m128 dw2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d0 | (uint32_t)d1 << 16)));
    __m128 cw2;
    if (with_m) {
      uint16_t m0, m1;
      memcpy(&m0, b0 + 2, 2), memcpy(&m1, b1 + 2, 2);
      cw2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)m0 | (uint32_t)m1 << 16)));
    } else {
      cw2 = _mm_mul_ps(dw2, _mm_set1_ps(cmul));
    }
    __m512i q = legacy_pair(L, b0, b1);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(a[m] + b * 32));
      __m128 s2 = _mm_mul_ps(dw2, load2f(da[m] + b));
      __m512 sx = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(s2));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sx, acc[m]);
      corr[m] = _mm_fmadd_ps(cw2, load2f(sd[m] + b), corr[m]);
    }
  }
  for (int m = 0; m < MR; m++) {
    __m128 c2 = _mm_add_ps(corr[m], _mm_movehl_ps(corr[m], corr[m]));
    float s = _mm512_reduce_add_ps(acc[m]) + _mm_cvtss_f32(_mm_add_ss(c2, _mm_movehdup_ps(c2)));
    if (b < nb) { /* odd block count: the last block */
      const uint8_t *bl = w + (size_t)b * bsz;
      uint16_t dh;
      memcpy(&dh, bl, 2);
      int dot = legacy_block_dot(L, bl, (const int8_t *)a[m] + b * 32);
      s += h2f(dh) * da[m][b] * (float)dot;
      if (with_m) {
        uint16_t mh;
        memcpy(&mh, bl + 2, 2);
        s += h2f(mh) * sd[m][b];
      }
    }
    out[m] = s;
  }
}

/* ---- k-quants against A256 -------------------------------------------------- */

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

/* int16 index vector: lanes 0..15 -> i, 16..31 -> j */
static inline __m512i
idx16_2(int i, int j)
{
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)i)), _mm256_set1_epi16((short)j), 1);
}

/* int16 index vector: four runs of 8 lanes -> g, g+1, g+2, g+3 */
static inline __m512i
idx16_4(int g)
{
  return _mm512_setr_epi64(0x0001000100010001ll * g, 0x0001000100010001ll * g, 0x0001000100010001ll * (g + 1),
                           0x0001000100010001ll * (g + 1), 0x0001000100010001ll * (g + 2),
                           0x0001000100010001ll * (g + 2), 0x0001000100010001ll * (g + 3),
                           0x0001000100010001ll * (g + 3));
}

KERN_INLINE void
q45k_rows(const int Q5, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 256;
  const size_t bsz = Q5 ? sizeof(kern_block_q5_K) : sizeof(kern_block_q4_K);
  const float *da[QMR];
  const int16_t *bs[QMR];
  __m512 acc[QMR];
  __m256 accm[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    bs[m] = (const int16_t *)(da[m] + nb);
    acc[m] = _mm512_setzero_ps();
    accm[m] = _mm256_setzero_ps();
  }
  const __m512i mask4 = _mm512_set1_epi8(0x0f), shifts = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *blk = w + (size_t)b * bsz;
    uint16_t dh, mh;
    memcpy(&dh, blk, 2), memcpy(&mh, blk + 2, 2);
    const uint8_t *qs = blk + (Q5 ? 48 : 16);
    uint8_t sc[8], mn[8];
    k4_scales(blk + 4, sc, mn);
    uint64_t sc64, mn64;
    memcpy(&sc64, sc, 8), memcpy(&mn64, mn, 8);
    __m512i scz = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc64)));
    __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn64));
    __m256i mins = _mm256_setr_m128i(_mm_unpacklo_epi16(mn16, mn16), _mm_unpackhi_epi16(mn16, mn16));
    __m512i qh2 = Q5 ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16))) : _mm512_setzero_si512();
    __m512i isum[QMR];
    for (int m = 0; m < MR; m++)
      isum[m] = _mm512_setzero_si512();
    KERN_UNROLL for (int c = 0; c < 4; c++) {
      /* [sub-block 2c | sub-block 2c+1]: low then high nibbles of chunk c */
      __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * c)));
      q = _mm512_and_si512(_mm512_srlv_epi64(q, shifts), mask4);
      if (Q5) {
        __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * c))), _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
        q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(qh2, sel), q, _mm512_set1_epi8(16));
      }
      __m512i s = _mm512_permutexvar_epi16(idx16_2(2 * c, 2 * c + 1), scz);
      KERN_UNROLL for (int m = 0; m < MR; m++) {
        __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(a[m] + b * 256 + 64 * c));
        isum[m] = _mm512_dpwssd_epi32(isum[m], p, s);
      }
    }
    const float d = h2f(dh), dmin = h2f(mh);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(bs[m] + b * 16)), mins);
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[m]), _mm512_set1_ps(d * da[m][b]), acc[m]);
      accm[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dmin * da[m][b]), accm[m]);
    }
  }
  for (int m = 0; m < MR; m++)
    out[m] = _mm512_reduce_add_ps(_mm512_add_ps(acc[m], _mm512_zextps256_ps512(accm[m])));
}

KERN_INLINE void
q6k_rows(int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  const int64_t nb = K / 256;
  const float *da[QMR];
  const int16_t *bs[QMR];
  __m512 acc[QMR];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    bs[m] = (const int16_t *)(da[m] + nb);
    acc[m] = _mm512_setzero_ps();
  }
  const __m512i mask4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
  const __m512i sh01 = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), sh23 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
  for (int64_t b = 0; b < nb; b++) {
    const kern_block_q6_K *blk = (const kern_block_q6_K *)(w + (size_t)b * sizeof(kern_block_q6_K));
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales)); /* (16) */
    __m512i scz = _mm512_castsi256_si512(sc16);
    __m512i isum[QMR];
    for (int m = 0; m < MR; m++)
      isum[m] = _mm512_setzero_si512();
    KERN_UNROLL for (int h = 0; h < 2; h++) {
      __m512i ql = _mm512_loadu_si512(blk->ql + 64 * h);
      __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h)));
      /* values 128h + 0..63 (k = 0, 1) and 128h + 64..127 (k = 2, 3) */
      __m512i q01 = _mm512_or_si512(_mm512_and_si512(ql, mask4), _mm512_and_si512(_mm512_sllv_epi64(qh, sh01), m30));
      __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), mask4),
                                    _mm512_and_si512(_mm512_srlv_epi64(qh, sh23), m30));
      __m512i s01 = _mm512_permutexvar_epi16(idx16_4(8 * h), scz);
      __m512i s23 = _mm512_permutexvar_epi16(idx16_4(8 * h + 4), scz);
      KERN_UNROLL for (int m = 0; m < MR; m++) {
        const uint8_t *q8 = a[m] + b * 256 + 128 * h;
        isum[m] = _mm512_dpwssd_epi32(isum[m], _mm512_maddubs_epi16(q01, _mm512_loadu_si512(q8)), s01);
        isum[m] = _mm512_dpwssd_epi32(isum[m], _mm512_maddubs_epi16(q23, _mm512_loadu_si512(q8 + 64)), s23);
      }
    }
    const float d = h2f(blk->d);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      /* the -32 offset: - 32 sum_g s_g bsum_g */
      __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(bs[m] + b * 16)), sc16);
      __m512i t = _mm512_sub_epi32(isum[m], _mm512_zextsi256_si512(_mm256_slli_epi32(off, 5)));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(d * da[m][b]), acc[m]);
    }
  }
  for (int m = 0; m < MR; m++)
    out[m] = _mm512_reduce_add_ps(acc[m]);
}

/* ---- Q8_0 GEMM: packed panels against many activation rows -------------------- */

/* For many activation rows the one-row-at-a-time tiles above spend most of
 * their work on scales; here a panel of 32 weight rows is packed once so that
 * one 512-bit register holds 16 rows x 4 consecutive values (vpdpbusd's
 * layout), each activation group of 4 bytes is broadcast to all 16 rows, and
 * the per-block scales are applied once per block for 4 x 32 outputs:
 *   y[m][n] = sum_b dw[n,b] (da[m,b] sum_k (qw + 128) qa  -  128 sd[m,b]).
 * Panel layout, per block of 32 values: for each of the 8 groups of 4
 * values, rows 0..15 then rows 16..31, 4 bytes (q + 128) each (1024 bytes);
 * then the 32 rows' scales as float (rows past nr: zero). */
#define Q8G_NR 32
#define Q8G_MR 4

static void
q8g_pack(const void *w, size_t ws, int nr, int64_t K, uint8_t *panel)
{
  const int64_t nb = K / 32;
  const size_t bstride = (size_t)Q8G_NR * 32 + Q8G_NR * sizeof(float);
  for (int64_t b = 0; b < nb; b++) {
    uint8_t *pb = panel + (size_t)b * bstride;
    float *pd = (float *)(pb + Q8G_NR * 32);
    for (int n = 0; n < Q8G_NR; n++) {
      if (n >= nr) {
        for (int g = 0; g < 8; g++)
          memset(pb + g * 128 + n * 4, 0x80, 4); /* q = 0 */
        pd[n] = 0;
        continue;
      }
      const uint8_t *blk = (const uint8_t *)w + (size_t)n * ws + (size_t)b * 34;
      uint16_t d;
      memcpy(&d, blk, 2);
      pd[n] = h2f(d);
      uint32_t q[8];
      memcpy(q, blk + 2, 32);
      for (int g = 0; g < 8; g++) {
        uint32_t u = q[g] ^ 0x80808080u;
        memcpy(pb + g * 128 + n * 4, &u, 4);
      }
    }
  }
}

KERN_INLINE void
q8g_rows(const int MR, int64_t K, const uint8_t *panel, const uint8_t *const *a, float *const *out, int nr,
         const float *bias)
{
  const int64_t nb = K / 32;
  const size_t bstride = (size_t)Q8G_NR * 32 + Q8G_NR * sizeof(float);
  const float *da[Q8G_MR], *sd[Q8G_MR];
  __m512 acc[Q8G_MR][2];
  for (int m = 0; m < MR; m++) {
    da[m] = (const float *)(a[m] + K);
    sd[m] = da[m] + nb;
    acc[m][0] = acc[m][1] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *pb = panel + (size_t)b * bstride;
    __m512i ia[Q8G_MR][2];
    KERN_UNROLL for (int m = 0; m < MR; m++) ia[m][0] = ia[m][1] = _mm512_setzero_si512();
    KERN_UNROLL for (int g = 0; g < 8; g++) {
      __m512i w0 = _mm512_load_si512(pb + g * 128), w1 = _mm512_load_si512(pb + g * 128 + 64);
      KERN_UNROLL for (int m = 0; m < MR; m++) {
        int32_t v;
        memcpy(&v, a[m] + b * 32 + g * 4, 4);
        __m512i av = _mm512_set1_epi32(v);
        ia[m][0] = _mm512_dpbusd_epi32(ia[m][0], w0, av);
        ia[m][1] = _mm512_dpbusd_epi32(ia[m][1], w1, av);
      }
    }
    const __m512 dw0 = _mm512_load_ps((const float *)(pb + Q8G_NR * 32)),
                 dw1 = _mm512_load_ps((const float *)(pb + Q8G_NR * 32) + 16);
    KERN_UNROLL for (int m = 0; m < MR; m++) {
      const __m512 dav = _mm512_set1_ps(da[m][b]), off = _mm512_set1_ps(128.0f * sd[m][b]);
      acc[m][0] = _mm512_fmadd_ps(_mm512_fmsub_ps(_mm512_cvtepi32_ps(ia[m][0]), dav, off), dw0, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(_mm512_fmsub_ps(_mm512_cvtepi32_ps(ia[m][1]), dav, off), dw1, acc[m][1]);
    }
  }
  const __mmask16 k0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
  const __mmask16 k1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
  const __m512 b0 = bias ? _mm512_maskz_loadu_ps(k0, bias) : _mm512_setzero_ps();
  const __m512 b1 = bias && k1 ? _mm512_maskz_loadu_ps(k1, bias + 16) : _mm512_setzero_ps();
  for (int m = 0; m < MR; m++) {
    _mm512_mask_storeu_ps(out[m], k0, _mm512_add_ps(acc[m][0], b0));
    if (k1)
      _mm512_mask_storeu_ps(out[m] + 16, k1, _mm512_add_ps(acc[m][1], b1));
  }
}

static void
q8g(int64_t K, const uint8_t *panel, const void *x, size_t xs, int mr, float *y, size_t ys, int nr, const float *bias)
{
  for (int m0 = 0; m0 < mr; m0 += Q8G_MR) {
    int n_m = mr - m0 < Q8G_MR ? mr - m0 : Q8G_MR;
    const uint8_t *a[Q8G_MR];
    float *out[Q8G_MR];
    for (int m = 0; m < n_m; m++) {
      a[m] = (const uint8_t *)x + (size_t)(m0 + m) * xs;
      out[m] = y + (size_t)(m0 + m) * ys;
    }
    switch (n_m) {
    case 1: q8g_rows(1, K, panel, a, out, nr, bias); break;
    case 2: q8g_rows(2, K, panel, a, out, nr, bias); break;
    case 3: q8g_rows(3, K, panel, a, out, nr, bias); break;
    default: q8g_rows(4, K, panel, a, out, nr, bias); break;
    }
  }
}

/* ---- tiles ---------------------------------------------------------------- */

enum { T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0, T_Q8_1, T_Q4_K, T_Q5_K, T_Q6_K };

KERN_INLINE void
rows_of(const int T, int64_t K, const uint8_t *w, const uint8_t *const *a, const int MR, float *out)
{
  switch (T) {
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
QTILE_FN(qt_q4_K, T_Q4_K)
QTILE_FN(qt_q5_K, T_Q5_K)
QTILE_FN(qt_q6_K, T_Q6_K)

void
_kern_cpu_kernels_avx512(kern_cpu_kernels *t)
{
  t->name = "avx512";
  kern_float_fill(t);
  t->qdot_mr = QMR;
  t->qdot[KERN_TYPE_Q4_0] = qt_q4_0;
  t->qdot[KERN_TYPE_Q4_1] = qt_q4_1;
  t->qdot[KERN_TYPE_Q5_0] = qt_q5_0;
  t->qdot[KERN_TYPE_Q5_1] = qt_q5_1;
  t->qdot[KERN_TYPE_Q8_0] = qt_q8_0;
  t->qdot[KERN_TYPE_Q8_1] = qt_q8_1;
  t->qdot[KERN_TYPE_Q4_K] = qt_q4_K;
  t->qdot[KERN_TYPE_Q5_K] = qt_q5_K;
  t->qdot[KERN_TYPE_Q6_K] = qt_q6_K;
  t->q8g_pack = q8g_pack;
  t->q8g = q8g;
  t->q8g_mr = 16;
  t->q8g_nr = Q8G_NR;
}
