/* kern-cpu-fast-simd.h: a small float-vector vocabulary, one per instruction
 * set, so the float kernels (kern-cpu-fast-float.h) are written once.
 *
 * The including file defines exactly one of KERN_SIMD_AVX512, KERN_SIMD_AVX2
 * or KERN_SIMD_GENERIC first, and is compiled with the matching -m flags.
 * Everything here is static inline, so each instruction set gets its own
 * copy and nothing built with -mavx512* leaks into another file.
 *
 *   vf / vi       VF_N float / int32 lanes
 *   vf_fma(a,b,c) a * b + c
 *   vf_lt_select(a, b, x, y)  per lane: a < b ? x : y
 *   vf_recip(a)   1/a within a couple of ulp (no division)
 *   vf_load_h / vf_load_bh    VF_N fp16 / bf16 values widened to float
 *   *_part        the first n (< VF_N) lanes; loads fill the rest with `fill`
 */
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kern-type.h"

#define KERN_INLINE static inline __attribute__((always_inline))

#if defined(KERN_SIMD_AVX512)
/* ---------------------------------------------------------------- AVX-512 */
#include <immintrin.h>
#define VF_N 16
typedef __m512 vf;
typedef __m512i vi;

KERN_INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
KERN_INLINE vf vf_set1(float x) { return _mm512_set1_ps(x); }
KERN_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
KERN_INLINE void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
KERN_INLINE vf vf_load_part(const float *p, int n, float fill)
{
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << n) - 1), p);
}
KERN_INLINE void vf_store_part(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
KERN_INLINE vf vf_keep_first(vf v, int n) { return _mm512_maskz_mov_ps((__mmask16)((1u << n) - 1), v); }
KERN_INLINE vf vf_load_h(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
KERN_INLINE vf vf_load_bh(const uint16_t *p)
{
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
KERN_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
KERN_INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
KERN_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
KERN_INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
/* 1/a to about 1 ulp: 14-bit estimate and one Newton step */
KERN_INLINE vf vf_recip(vf a)
{
  __m512 r = _mm512_rcp14_ps(a);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(2.0f)));
}
KERN_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
KERN_INLINE vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
KERN_INLINE vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
KERN_INLINE vf vf_abs(vf a)
{
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)));
}
KERN_INLINE vf vf_lt_select(vf a, vf b, vf x, vf y)
{
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
KERN_INLINE vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
KERN_INLINE vi vf_to_vi(vf a) { return _mm512_cvtps_epi32(a); }
KERN_INLINE vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
KERN_INLINE vi vi_set1(int32_t x) { return _mm512_set1_epi32(x); }
KERN_INLINE vi vi_sll23(vi a) { return _mm512_slli_epi32(a, 23); }
KERN_INLINE vf vi_as_vf(vi a) { return _mm512_castsi512_ps(a); }
KERN_INLINE float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }
KERN_INLINE float vf_hmax(vf v) { return _mm512_reduce_max_ps(v); }
/* The four sums of a, b, c, d into out[0..3]. */
KERN_INLINE void vf_hsum4(vf a, vf b, vf c, vf d, float *out)
{
  __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
  __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1)));
  __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1)));
  __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(d), 1)));
  __m256 ab = _mm256_hadd_ps(a8, b8), cd = _mm256_hadd_ps(c8, d8);
  __m256 abcd = _mm256_hadd_ps(ab, cd);
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}
/* Index of the first lane equal to m, or -1. */
KERN_INLINE int vf_first_eq(vf v, float m)
{
  unsigned k = _mm512_cmp_ps_mask(v, _mm512_set1_ps(m), _CMP_EQ_OQ);
  return k ? __builtin_ctz(k) : -1;
}

#elif defined(KERN_SIMD_AVX2)
/* ------------------------------------------------------------ AVX2 + FMA */
#include <immintrin.h>
#define VF_N 8
typedef __m256 vf;
typedef __m256i vi;

KERN_INLINE vf vf_zero(void) { return _mm256_setzero_ps(); }
KERN_INLINE vf vf_set1(float x) { return _mm256_set1_ps(x); }
KERN_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
KERN_INLINE void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
KERN_INLINE __m256i avx2_lane_mask(int n)
{
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
KERN_INLINE vf vf_load_part(const float *p, int n, float fill)
{
  __m256i m = avx2_lane_mask(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
KERN_INLINE void vf_store_part(float *p, vf v, int n) { _mm256_maskstore_ps(p, avx2_lane_mask(n), v); }
KERN_INLINE vf vf_keep_first(vf v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(avx2_lane_mask(n))); }
KERN_INLINE vf vf_load_h(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
KERN_INLINE vf vf_load_bh(const uint16_t *p)
{
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
KERN_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
KERN_INLINE vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
KERN_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
KERN_INLINE vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
/* 1/a to about 2 ulp: 12-bit estimate and one Newton step */
KERN_INLINE vf vf_recip(vf a)
{
  __m256 r = _mm256_rcp_ps(a);
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(a, r, _mm256_set1_ps(2.0f)));
}
KERN_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
KERN_INLINE vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
KERN_INLINE vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
KERN_INLINE vf vf_abs(vf a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
KERN_INLINE vf vf_lt_select(vf a, vf b, vf x, vf y) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
KERN_INLINE vf vf_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
KERN_INLINE vi vf_to_vi(vf a) { return _mm256_cvtps_epi32(a); }
KERN_INLINE vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
KERN_INLINE vi vi_set1(int32_t x) { return _mm256_set1_epi32(x); }
KERN_INLINE vi vi_sll23(vi a) { return _mm256_slli_epi32(a, 23); }
KERN_INLINE vf vi_as_vf(vi a) { return _mm256_castsi256_ps(a); }
KERN_INLINE float vf_hsum(vf v)
{
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
KERN_INLINE float vf_hmax(vf v)
{
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
KERN_INLINE void vf_hsum4(vf a, vf b, vf c, vf d, float *out)
{
  __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  __m256 abcd = _mm256_hadd_ps(ab, cd);
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}
KERN_INLINE int vf_first_eq(vf v, float m)
{
  unsigned k = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(m), _CMP_EQ_OQ));
  return k ? __builtin_ctz(k) : -1;
}

#elif defined(KERN_SIMD_GENERIC)
/* ------------------------------------------- portable: GCC/Clang vectors */
#define VF_N 4
typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));

KERN_INLINE vf vf_zero(void) { return (vf){ 0, 0, 0, 0 }; }
KERN_INLINE vf vf_set1(float x) { return (vf){ x, x, x, x }; }
KERN_INLINE vf vf_load(const float *p)
{
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
KERN_INLINE void vf_store(float *p, vf v) { memcpy(p, &v, sizeof v); }
KERN_INLINE vf vf_load_part(const float *p, int n, float fill)
{
  vf v = vf_set1(fill);
  for (int i = 0; i < n; i++)
    v[i] = p[i];
  return v;
}
KERN_INLINE void vf_store_part(float *p, vf v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = v[i];
}
KERN_INLINE vf vf_keep_first(vf v, int n)
{
  for (int i = n; i < 4; i++)
    v[i] = 0;
  return v;
}
KERN_INLINE vf vf_load_h(const uint16_t *p)
{
  return (vf){ kern_f16_to_f32(p[0]), kern_f16_to_f32(p[1]), kern_f16_to_f32(p[2]), kern_f16_to_f32(p[3]) };
}
KERN_INLINE vf vf_load_bh(const uint16_t *p)
{
  vi u = { p[0], p[1], p[2], p[3] };
  u <<= 16;
  vf v;
  memcpy(&v, &u, sizeof v);
  return v;
}
KERN_INLINE vf vf_add(vf a, vf b) { return a + b; }
KERN_INLINE vf vf_sub(vf a, vf b) { return a - b; }
KERN_INLINE vf vf_mul(vf a, vf b) { return a * b; }
KERN_INLINE vf vf_div(vf a, vf b) { return a / b; }
KERN_INLINE vf vf_recip(vf a) { return vf_set1(1.0f) / a; }
KERN_INLINE vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
KERN_INLINE vf vi_as_vf(vi a)
{
  vf v;
  memcpy(&v, &a, sizeof v);
  return v;
}
KERN_INLINE vi vf_as_vi_(vf a)
{
  vi v;
  memcpy(&v, &a, sizeof v);
  return v;
}
KERN_INLINE vf vf_lt_select(vf a, vf b, vf x, vf y)
{
  vi m = a < b;
  return vi_as_vf((m & vf_as_vi_(x)) | (~m & vf_as_vi_(y)));
}
/* max/min as x86 maxps/minps: the second operand when either is NaN. */
KERN_INLINE vf vf_max(vf a, vf b) { return vf_lt_select(b, a, a, b); }
KERN_INLINE vf vf_min(vf a, vf b) { return vf_lt_select(a, b, a, b); }
KERN_INLINE vf vf_abs(vf a) { return vi_as_vf(vf_as_vi_(a) & 0x7fffffff); }
/* Round to nearest (even) for |a| < 2^22, the only range used. */
KERN_INLINE vf vf_round(vf a)
{
  const vf magic = vf_set1(12582912.0f); /* 1.5 * 2^23 */
  vf r = (a + magic) - magic;
  return r;
}
KERN_INLINE vi vf_to_vi(vf a) { return __builtin_convertvector(a, vi); }
KERN_INLINE vi vi_add(vi a, vi b) { return a + b; }
KERN_INLINE vi vi_set1(int32_t x) { return (vi){ x, x, x, x }; }
KERN_INLINE vi vi_sll23(vi a) { return a << 23; }
KERN_INLINE float vf_hsum(vf v) { return (v[0] + v[2]) + (v[1] + v[3]); }
KERN_INLINE float vf_hmax(vf v)
{
  float a = v[0] > v[1] ? v[0] : v[1], b = v[2] > v[3] ? v[2] : v[3];
  return a > b ? a : b;
}
KERN_INLINE void vf_hsum4(vf a, vf b, vf c, vf d, float *out)
{
  out[0] = vf_hsum(a), out[1] = vf_hsum(b), out[2] = vf_hsum(c), out[3] = vf_hsum(d);
}
KERN_INLINE int vf_first_eq(vf v, float m)
{
  for (int i = 0; i < 4; i++)
    if (v[i] == m)
      return i;
  return -1;
}

#else
#error "define KERN_SIMD_AVX512, KERN_SIMD_AVX2 or KERN_SIMD_GENERIC"
#endif

/* ---- shared math on top of the vocabulary -------------------------------- */

/* e^x, relative error a few ulp for x in [-87.3, 88]; 0 below, e^88 above. */
KERN_INLINE vf
vf_exp(vf x)
{
  const vf hi = vf_set1(88.0f), lo = vf_set1(-87.3f);
  vf xc = vf_min(vf_max(x, lo), hi);
  vf n = vf_round(vf_mul(xc, vf_set1(1.44269504088896341f)));
  /* r = x - n ln2, with ln2 split so n * ln2_hi is exact */
  vf r = vf_fma(n, vf_set1(-0.693359375f), xc);
  r = vf_fma(n, vf_set1(2.12194440e-4f), r);
  /* Taylor to r^7: |r| <= 0.35 keeps the remainder below 6e-9 */
  vf p = vf_set1(1.0f / 5040);
  p = vf_fma(p, r, vf_set1(1.0f / 720));
  p = vf_fma(p, r, vf_set1(1.0f / 120));
  p = vf_fma(p, r, vf_set1(1.0f / 24));
  p = vf_fma(p, r, vf_set1(1.0f / 6));
  p = vf_fma(p, r, vf_set1(0.5f));
  p = vf_fma(p, r, vf_set1(1.0f));
  p = vf_fma(p, r, vf_set1(1.0f));
  vf scale = vi_as_vf(vi_sll23(vi_add(vf_to_vi(n), vi_set1(127))));
  return vf_lt_select(x, lo, vf_zero(), vf_mul(p, scale));
}

/* erfc(z) for z >= 0 with relative error about 1e-7 over the whole range
 * (the Chebyshev fit of Numerical Recipes' erfcc, with t = 1 / (1 + z/2)). */
KERN_INLINE vf
vf_erfc_pos(vf z)
{
  vf t = vf_recip(vf_fma(z, vf_set1(0.5f), vf_set1(1.0f)));
  vf p = vf_set1(0.17087277f);
  p = vf_fma(p, t, vf_set1(-0.82215223f));
  p = vf_fma(p, t, vf_set1(1.48851587f));
  p = vf_fma(p, t, vf_set1(-1.13520398f));
  p = vf_fma(p, t, vf_set1(0.27886807f));
  p = vf_fma(p, t, vf_set1(-0.18628806f));
  p = vf_fma(p, t, vf_set1(0.09678418f));
  p = vf_fma(p, t, vf_set1(0.37409196f));
  p = vf_fma(p, t, vf_set1(1.00002368f));
  p = vf_fma(p, t, vf_set1(-1.26551223f));
  vf e = vf_sub(p, vf_mul(z, z));
  return vf_mul(t, vf_exp(e));
}
