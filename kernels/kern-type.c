/* kern-type.c: element types, half/bfloat16 conversion, and the plain CPU
 * reference for GGUF block quantization.
 *
 * This file is the specification the fast paths are checked against: scalar
 * loops, one block at a time, each block copied into its struct (so sources
 * and destinations need no alignment). Dequantization reproduces the float32
 * operations of the GGUF reference (gguf-py, ggml) in the same order, so the
 * results are bit-identical; the legacy quantizers (Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1) reproduce the reference encoders byte for byte. The k-quant encoders
 * (Q4_K, Q5_K, Q6_K) are our own least-squares searches.
 *
 * The rounding of a*b - c must stay two roundings (no fused multiply-add),
 * otherwise dequantization drifts by an ulp from the reference.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kern-type.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "kern-error.h"
#include "kern-quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF blocks are little-endian; this reference reads them natively"
#endif

/* ---- traits ------------------------------------------------------------ */

#define PLAIN(n, sz) { n, 1, sz, 0 }
#define BLOCK(n, bs, blk) { n, bs, sizeof(blk), 1 }

/* Indexed by type id; a NULL name marks an id Hark does not support. */
static const kern_type_traits type_traits[KERN_TYPE_COUNT] = {
  [KERN_TYPE_F32] = PLAIN("f32", 4),
  [KERN_TYPE_F16] = PLAIN("f16", 2),
  [KERN_TYPE_Q4_0] = BLOCK("q4_0", KERN_QK, kern_block_q4_0),
  [KERN_TYPE_Q4_1] = BLOCK("q4_1", KERN_QK, kern_block_q4_1),
  [KERN_TYPE_Q5_0] = BLOCK("q5_0", KERN_QK, kern_block_q5_0),
  [KERN_TYPE_Q5_1] = BLOCK("q5_1", KERN_QK, kern_block_q5_1),
  [KERN_TYPE_Q8_0] = BLOCK("q8_0", KERN_QK, kern_block_q8_0),
  [KERN_TYPE_Q8_1] = BLOCK("q8_1", KERN_QK, kern_block_q8_1),
  [KERN_TYPE_Q2_K] = BLOCK("q2_K", KERN_QK_K, kern_block_q2_K),
  [KERN_TYPE_Q3_K] = BLOCK("q3_K", KERN_QK_K, kern_block_q3_K),
  [KERN_TYPE_Q4_K] = BLOCK("q4_K", KERN_QK_K, kern_block_q4_K),
  [KERN_TYPE_Q5_K] = BLOCK("q5_K", KERN_QK_K, kern_block_q5_K),
  [KERN_TYPE_Q6_K] = BLOCK("q6_K", KERN_QK_K, kern_block_q6_K),
  [KERN_TYPE_Q8_K] = BLOCK("q8_K", KERN_QK_K, kern_block_q8_K),
  [KERN_TYPE_I8] = PLAIN("i8", 1),
  [KERN_TYPE_I16] = PLAIN("i16", 2),
  [KERN_TYPE_I32] = PLAIN("i32", 4),
  [KERN_TYPE_I64] = PLAIN("i64", 8),
  [KERN_TYPE_F64] = PLAIN("f64", 8),
  [KERN_TYPE_BF16] = PLAIN("bf16", 2),
};

const kern_type_traits *
kern_type_get_traits(int t)
{
  if (t < 0 || t >= KERN_TYPE_COUNT || type_traits[t].name == NULL)
    return NULL;
  return &type_traits[t];
}

/* ASCII only: strcasecmp() follows the locale (Turkish dotless i). */
static int
ascii_lower(int c)
{
  return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
ascii_caseeq(const char *a, const char *b)
{
  for (; *a && *b; a++, b++)
    if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
      return 0;
  return *a == *b;
}

int
kern_type_from_name(const char *name)
{
  if (name == NULL)
    return -1;
  for (int t = 0; t < KERN_TYPE_COUNT; t++)
    if (type_traits[t].name && ascii_caseeq(name, type_traits[t].name))
      return t;
  return -1;
}

size_t
kern_type_row_size(int t, int64_t n)
{
  const kern_type_traits *tr = kern_type_get_traits(t);
  if (tr == NULL || n < 0 || n % tr->block_size != 0)
    return 0;
  uint64_t blocks = (uint64_t)(n / tr->block_size);
  if (blocks > SIZE_MAX / tr->type_size)
    return 0;
  return (size_t)blocks * tr->type_size;
}

int
kern_type_can_quantize(int t)
{
  switch (t) {
  case KERN_TYPE_F32:
  case KERN_TYPE_F16:
  case KERN_TYPE_BF16:
  case KERN_TYPE_Q4_0:
  case KERN_TYPE_Q4_1:
  case KERN_TYPE_Q5_0:
  case KERN_TYPE_Q5_1:
  case KERN_TYPE_Q8_0:
  case KERN_TYPE_Q8_1:
  case KERN_TYPE_Q4_K:
  case KERN_TYPE_Q5_K:
  case KERN_TYPE_Q6_K:
  case KERN_TYPE_Q8_K:
    return 1;
  default:
    return 0;
  }
}

/* ---- half and bfloat16 ------------------------------------------------- */

static inline uint32_t
f32_bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float
bits_f32(uint32_t u)
{
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Every half is exact
 * in float32. NaN payloads shift up unchanged (a signalling NaN stays
 * signalling), as numpy's float16 cast does. */
float
kern_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;

  if (exp == 0x1f) /* inf, NaN */
    return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) /* normal: rebias 15 -> 127 */
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0)
    return bits_f32(sign);
  /* Subnormal mant * 2^-24: shift the leading one up to the implicit bit. */
  uint32_t e = 113; /* float32 exponent of 2^-14 */
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    e--;
  }
  return bits_f32(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

/* Round to nearest even, overflow to inf, gradual underflow to subnormals
 * and zero. NaN keeps its top payload bits (at least one set), as numpy. */
uint16_t
kern_f32_to_f16(float f)
{
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t exp = (u >> 23) & 0xffu;
  uint32_t mant = u & 0x7fffffu;

  if (exp == 0xff) {
    if (mant == 0)
      return sign | 0x7c00u;
    uint16_t payload = (uint16_t)(mant >> 13);
    return sign | 0x7c00u | (payload ? payload : 1u);
  }

  int e = (int)exp - 127; /* unbiased; float32 subnormals are far below half range */
  if (e > 15)
    return sign | 0x7c00u;

  /* 24-bit significand with the implicit one (none for zero / f32 subnormals). */
  uint32_t sig = exp ? (mant | 0x800000u) : mant;
  /* Bits to drop: 13 for a normal half; more for a half subnormal, whose
   * quantum is 2^-24 whatever the exponent. */
  int shift = (e >= -14) ? 13 : 13 + (-14 - e);
  if (shift > 24 + 1) /* below half of the smallest subnormal, even with the tie */
    return sign;
  uint32_t kept = sig >> shift;
  uint32_t rest = sig & ((1u << shift) - 1u);
  uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (kept & 1u)))
    kept++;

  if (e >= -14) {
    /* kept is 1.mmmmmmmmmm (11 bits), maybe 10.000... after rounding up: the
     * carry into the exponent field is exactly what the sum below does. */
    uint32_t h = ((uint32_t)(e + 15) << 10) + (kept - 0x400u);
    if (h >= 0x7c00u)
      return sign | 0x7c00u;
    return sign | (uint16_t)h;
  }
  /* Subnormal; rounding up to 0x400 correctly yields the smallest normal. */
  return sign | (uint16_t)kept;
}

float
kern_bf16_to_f32(uint16_t b)
{
  return bits_f32((uint32_t)b << 16);
}

/* Round to nearest even on the top 16 bits; NaN is kept and made quiet. */
uint16_t
kern_f32_to_bf16(float f)
{
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* ---- dequantization ------------------------------------------------------
 * One function per type: nb blocks at src, block_size * nb floats to dst.
 * fp16 fields are widened to float32 first, then every product and sum is a
 * float32 operation in the order the GGUF reference uses. */

static float
h2f(uint16_t h)
{
  return kern_f16_to_f32(h);
}

/* q4_0: d; qs[16]: value j (0..15) in the low nibble of qs[j], value j+16
 * in the high nibble. x = d * (q - 8). */
static void
dequant_q4_0(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q4_0 b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d);
    for (int j = 0; j < KERN_QK / 2; j++) {
      dst[i * KERN_QK + j] = d * (float)((b.qs[j] & 0x0f) - 8);
      dst[i * KERN_QK + j + KERN_QK / 2] = d * (float)((b.qs[j] >> 4) - 8);
    }
  }
}

/* q4_1: d, m; nibbles as q4_0. x = d * q + m. */
static void
dequant_q4_1(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q4_1 b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d), m = h2f(b.m);
    for (int j = 0; j < KERN_QK / 2; j++) {
      dst[i * KERN_QK + j] = d * (float)(b.qs[j] & 0x0f) + m;
      dst[i * KERN_QK + j + KERN_QK / 2] = d * (float)(b.qs[j] >> 4) + m;
    }
  }
}

/* Bit j of the little-endian 32-bit qh word: the fifth bit of value j. */
static int
q5_high_bit(const uint8_t qh[4], int j)
{
  return (qh[j / 8] >> (j % 8)) & 1;
}

/* q5_0: d; qh: bit j = bit 4 of value j; qs: low four bits as q4_0.
 * x = d * (q - 16). */
static void
dequant_q5_0(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q5_0 b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d);
    for (int j = 0; j < KERN_QK / 2; j++) {
      int lo = (b.qs[j] & 0x0f) | (q5_high_bit(b.qh, j) << 4);
      int hi = (b.qs[j] >> 4) | (q5_high_bit(b.qh, j + KERN_QK / 2) << 4);
      dst[i * KERN_QK + j] = d * (float)(lo - 16);
      dst[i * KERN_QK + j + KERN_QK / 2] = d * (float)(hi - 16);
    }
  }
}

/* q5_1: d, m; bits as q5_0. x = d * q + m. */
static void
dequant_q5_1(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q5_1 b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d), m = h2f(b.m);
    for (int j = 0; j < KERN_QK / 2; j++) {
      int lo = (b.qs[j] & 0x0f) | (q5_high_bit(b.qh, j) << 4);
      int hi = (b.qs[j] >> 4) | (q5_high_bit(b.qh, j + KERN_QK / 2) << 4);
      dst[i * KERN_QK + j] = d * (float)lo + m;
      dst[i * KERN_QK + j + KERN_QK / 2] = d * (float)hi + m;
    }
  }
}

/* q8_0: d; qs[32] signed. x = d * q. */
static void
dequant_q8_0(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q8_0 b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d);
    for (int j = 0; j < KERN_QK; j++)
      dst[i * KERN_QK + j] = d * (float)b.qs[j];
  }
}

/* q8_1: d, s (= d * sum q, unused here); qs[32] signed. x = d * q. */
static void
dequant_q8_1(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q8_1 b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d);
    for (int j = 0; j < KERN_QK; j++)
      dst[i * KERN_QK + j] = d * (float)b.qs[j];
  }
}

/* q2_K: 16 groups of 16. scales[g]: low nibble scale, high nibble min.
 * qs[64] in two halves of 32 bytes; within half h, bits 2s..2s+1 of
 * qs[32h + l] are value 128h + 32s + l. x = (d*sc) * q - (dmin*m). */
static void
dequant_q2_K(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q2_K b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d), dmin = h2f(b.dmin);
    float *y = dst + i * KERN_QK_K;
    for (int v = 0; v < KERN_QK_K; v++) {
      int h = v / 128, s = (v % 128) / 32, l = v % 32, g = v / 16;
      int q = (b.qs[32 * h + l] >> (2 * s)) & 3;
      float dl = d * (float)(b.scales[g] & 0x0f);
      float ml = dmin * (float)(b.scales[g] >> 4);
      y[v] = dl * (float)q - ml;
    }
  }
}

/* 16 six-bit values packed in 12 bytes (q3_K scales): value k < 8 has its low
 * nibble in byte k (low half), value k >= 8 in byte k-8 (high half); the top
 * two bits of value k sit in byte 8 + k%4 at bit 2*(k/4). */
static int
q3_K_scale(const uint8_t s[12], int k)
{
  int lo = (k < 8) ? (s[k] & 0x0f) : (s[k - 8] >> 4);
  int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
  return lo | (hi << 4);
}

/* q3_K: 16 groups of 16, scale = six-bit value - 32. qs as q2_K (low 2 bits);
 * hmask bit s of byte l (s = 0..7, l = 0..31) is value 32s + l; a clear bit
 * subtracts 4. x = (d * scale) * q. */
static void
dequant_q3_K(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q3_K b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d);
    float *y = dst + i * KERN_QK_K;
    for (int v = 0; v < KERN_QK_K; v++) {
      int h = v / 128, s = (v % 128) / 32, l = v % 32, g = v / 16;
      int q = (b.qs[32 * h + l] >> (2 * s)) & 3;
      if (!((b.hmask[l] >> (v / 32)) & 1))
        q -= 4;
      float dl = d * (float)(q3_K_scale(b.scales, g) - 32);
      y[v] = dl * (float)q;
    }
  }
}

/* The 8 six-bit scales and 8 six-bit mins of q4_K/q5_K in 12 bytes: for
 * j < 4, scale j is bits 0..5 of byte j and min j bits 0..5 of byte j+4; for
 * j >= 4, the low nibbles are in byte j+4 (scale low, min high) and the top
 * two bits in bits 6..7 of byte j-4 (scale) and byte j (min). */
static void
k4_get_scale_min(const uint8_t s[12], int j, int *sc, int *m)
{
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

static void
k4_put_scale_min(uint8_t s[12], const uint8_t sc[8], const uint8_t m[8])
{
  memset(s, 0, 12);
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      s[j] |= sc[j];
      s[j + 4] |= m[j];
    } else {
      s[j + 4] = (uint8_t)((sc[j] & 0x0f) | ((m[j] & 0x0f) << 4));
      s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
      s[j] |= (uint8_t)((m[j] >> 4) << 6);
    }
  }
}

/* q4_K: 8 sub-blocks of 32 with six-bit scale sc and min m. qs[128] in four
 * chunks of 32 bytes; chunk c holds sub-block 2c in the low nibbles and 2c+1
 * in the high nibbles. x = (d*sc) * q - (dmin*m). */
static void
dequant_q4_K(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q4_K b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d), dmin = h2f(b.dmin);
    float *y = dst + i * KERN_QK_K;
    for (int j = 0; j < 8; j++) {
      int sc, m;
      k4_get_scale_min(b.scales, j, &sc, &m);
      float dl = d * (float)sc, ml = dmin * (float)m;
      for (int l = 0; l < 32; l++) {
        int q = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;
        y[32 * j + l] = dl * (float)q - ml;
      }
    }
  }
}

/* q5_K: as q4_K, plus qh[32] whose bit j of byte l is bit 4 of value 32j + l.
 * x = (d*sc) * q - (dmin*m). */
static void
dequant_q5_K(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q5_K b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d), dmin = h2f(b.dmin);
    float *y = dst + i * KERN_QK_K;
    for (int j = 0; j < 8; j++) {
      int sc, m;
      k4_get_scale_min(b.scales, j, &sc, &m);
      float dl = d * (float)sc, ml = dmin * (float)m;
      for (int l = 0; l < 32; l++) {
        int q = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;
        q |= ((b.qh[l] >> j) & 1) << 4;
        y[32 * j + l] = dl * (float)q - ml;
      }
    }
  }
}

/* q6_K: 16 groups of 16 with int8 scales. Value v = 128h + 32k + l
 * (h = 0..1, k = 0..3, l = 0..31): low nibble from ql[64h + 32(k%2) + l]
 * (low half for k < 2, high half otherwise), top two bits from bits 2k..2k+1
 * of qh[32h + l]. x = (d * scale) * (q - 32). */
static void
dequant_q6_K(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q6_K b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    float d = h2f(b.d);
    float *y = dst + i * KERN_QK_K;
    for (int v = 0; v < KERN_QK_K; v++) {
      int h = v / 128, k = (v % 128) / 32, l = v % 32;
      int lo = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
      int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
      float dl = d * (float)b.scales[v / 16];
      y[v] = dl * (float)((lo | (hi << 4)) - 32);
    }
  }
}

/* q8_K: float d; qs[256] signed; bsums (for dot products only). x = d * q. */
static void
dequant_q8_K(const uint8_t *src, float *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++) {
    kern_block_q8_K b;
    memcpy(&b, src + i * sizeof b, sizeof b);
    for (int j = 0; j < KERN_QK_K; j++)
      dst[i * KERN_QK_K + j] = b.d * (float)b.qs[j];
  }
}

int
kern_dequantize_row(int t, const void *src, float *dst, int64_t n)
{
  const kern_type_traits *tr = kern_type_get_traits(t);
  if (tr == NULL || n < 0 || n % tr->block_size != 0)
    return KERN_E_INVAL;
  if (n == 0)
    return KERN_OK;
  if (src == NULL || dst == NULL || kern_type_row_size(t, n) == 0)
    return KERN_E_INVAL;

  const uint8_t *s = src;
  int64_t nb = n / tr->block_size;
  switch (t) {
  case KERN_TYPE_F32:
    memcpy(dst, s, (size_t)n * sizeof(float));
    break;
  case KERN_TYPE_F16:
    for (int64_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, s + 2 * i, 2);
      dst[i] = kern_f16_to_f32(h);
    }
    break;
  case KERN_TYPE_BF16:
    for (int64_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, s + 2 * i, 2);
      dst[i] = kern_bf16_to_f32(h);
    }
    break;
  case KERN_TYPE_F64:
    for (int64_t i = 0; i < n; i++) {
      double v;
      memcpy(&v, s + 8 * i, 8);
      dst[i] = (float)v;
    }
    break;
  case KERN_TYPE_I8:
    for (int64_t i = 0; i < n; i++)
      dst[i] = (float)(int8_t)s[i];
    break;
  case KERN_TYPE_I16:
    for (int64_t i = 0; i < n; i++) {
      int16_t v;
      memcpy(&v, s + 2 * i, 2);
      dst[i] = (float)v;
    }
    break;
  case KERN_TYPE_I32:
    for (int64_t i = 0; i < n; i++) {
      int32_t v;
      memcpy(&v, s + 4 * i, 4);
      dst[i] = (float)v;
    }
    break;
  case KERN_TYPE_I64:
    for (int64_t i = 0; i < n; i++) {
      int64_t v;
      memcpy(&v, s + 8 * i, 8);
      dst[i] = (float)v;
    }
    break;
  case KERN_TYPE_Q4_0: dequant_q4_0(s, dst, nb); break;
  case KERN_TYPE_Q4_1: dequant_q4_1(s, dst, nb); break;
  case KERN_TYPE_Q5_0: dequant_q5_0(s, dst, nb); break;
  case KERN_TYPE_Q5_1: dequant_q5_1(s, dst, nb); break;
  case KERN_TYPE_Q8_0: dequant_q8_0(s, dst, nb); break;
  case KERN_TYPE_Q8_1: dequant_q8_1(s, dst, nb); break;
  case KERN_TYPE_Q2_K: dequant_q2_K(s, dst, nb); break;
  case KERN_TYPE_Q3_K: dequant_q3_K(s, dst, nb); break;
  case KERN_TYPE_Q4_K: dequant_q4_K(s, dst, nb); break;
  case KERN_TYPE_Q5_K: dequant_q5_K(s, dst, nb); break;
  case KERN_TYPE_Q6_K: dequant_q6_K(s, dst, nb); break;
  case KERN_TYPE_Q8_K: dequant_q8_K(s, dst, nb); break;
  default:
    return KERN_E_INVAL;
  }
  return KERN_OK;
}

/* ---- quantization helpers -------------------------------------------------- */

/* trunc(v) clamped to [lo, hi]; NaN gives lo. (The legacy encoders truncate
 * v + 0.5 or v + offset + 0.5, as the reference does.) */
static int
trunc_clamp(float v, int lo, int hi)
{
  if (!(v > (float)lo))
    return lo;
  if (v >= (float)hi)
    return hi;
  return (int)v;
}

/* Round half away from zero (C roundf), clamped; NaN gives 0. */
static int
round_away_clamp(float v, int lo, int hi)
{
  if (v != v)
    return 0;
  float r = roundf(v);
  if (r <= (float)lo)
    return lo;
  if (r >= (float)hi)
    return hi;
  return (int)r;
}

/* Round to nearest (ties to even), clamped; NaN gives lo. */
static int
nearest_clamp(float v, int lo, int hi)
{
  if (!(v > (float)lo))
    return lo;
  if (v >= (float)hi)
    return hi;
  return (int)nearbyintf(v);
}

/* The value of largest magnitude (the first one on ties), signed. */
static float
signed_absmax(const float *x, int n)
{
  float best = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; i++)
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      best = x[i];
    }
  return best;
}

static void
minmax(const float *x, int n, float *mn, float *mx)
{
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < lo)
      lo = x[i];
    if (x[i] > hi)
      hi = x[i];
  }
  *mn = lo;
  *mx = hi;
}

/* 1/d, or 0 for d == 0 (an all-zero block encodes as zeros). */
static float
inverse_or_zero(float d)
{
  return d == 0.0f ? 0.0f : 1.0f / d;
}

/* ---- legacy encoders (byte-identical to the reference) --------------------- */

/* q4_0: the value of largest magnitude maps to -8 (the extra level).
 * d = max / -8, q = trunc(x/d + 8.5) in [0, 15]. */
static void
quant_q4_0(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK) {
    kern_block_q4_0 b;
    float d = signed_absmax(x, KERN_QK) / -8.0f;
    float id = inverse_or_zero(d);
    b.d = kern_f32_to_f16(d);
    for (int j = 0; j < KERN_QK / 2; j++) {
      int lo = trunc_clamp(x[j] * id + 8.5f, 0, 15);
      int hi = trunc_clamp(x[j + KERN_QK / 2] * id + 8.5f, 0, 15);
      b.qs[j] = (uint8_t)(lo | (hi << 4));
    }
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* q4_1: d = (max - min) / 15, m = min, q = trunc((x - min)/d + 0.5). */
static void
quant_q4_1(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK) {
    kern_block_q4_1 b;
    float mn, mx;
    minmax(x, KERN_QK, &mn, &mx);
    float d = (mx - mn) / 15.0f;
    float id = inverse_or_zero(d);
    b.d = kern_f32_to_f16(d);
    b.m = kern_f32_to_f16(mn);
    for (int j = 0; j < KERN_QK / 2; j++) {
      int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 15);
      int hi = trunc_clamp((x[j + KERN_QK / 2] - mn) * id + 0.5f, 0, 15);
      b.qs[j] = (uint8_t)(lo | (hi << 4));
    }
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* Packs 32 five-bit values into qs (low nibbles as q4_0) and qh (bit j). */
static void
q5_pack(const int q[KERN_QK], uint8_t qh[4], uint8_t qs[KERN_QK / 2])
{
  uint32_t bits = 0;
  for (int j = 0; j < KERN_QK; j++)
    bits |= (uint32_t)((q[j] >> 4) & 1) << j;
  for (int k = 0; k < 4; k++)
    qh[k] = (uint8_t)(bits >> (8 * k));
  for (int j = 0; j < KERN_QK / 2; j++)
    qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + KERN_QK / 2] & 0x0f) << 4));
}

/* q5_0: d = max / -16, q = trunc(x/d + 16.5) in [0, 31]. */
static void
quant_q5_0(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK) {
    kern_block_q5_0 b;
    int q[KERN_QK];
    float d = signed_absmax(x, KERN_QK) / -16.0f;
    float id = inverse_or_zero(d);
    b.d = kern_f32_to_f16(d);
    for (int j = 0; j < KERN_QK; j++)
      q[j] = trunc_clamp(x[j] * id + 16.5f, 0, 31);
    q5_pack(q, b.qh, b.qs);
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* q5_1: d = (max - min) / 31, m = min, q = trunc((x - min)/d + 0.5). */
static void
quant_q5_1(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK) {
    kern_block_q5_1 b;
    int q[KERN_QK];
    float mn, mx;
    minmax(x, KERN_QK, &mn, &mx);
    float d = (mx - mn) / 31.0f;
    float id = inverse_or_zero(d);
    b.d = kern_f32_to_f16(d);
    b.m = kern_f32_to_f16(mn);
    for (int j = 0; j < KERN_QK; j++)
      q[j] = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 31);
    q5_pack(q, b.qh, b.qs);
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

static float
absmax(const float *x, int n)
{
  float amax = 0.0f;
  for (int i = 0; i < n; i++)
    if (fabsf(x[i]) > amax)
      amax = fabsf(x[i]);
  return amax;
}

/* q8_0: d = max|x| / 127, q = round(x/d) half away from zero. */
static void
quant_q8_0(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK) {
    kern_block_q8_0 b;
    float d = absmax(x, KERN_QK) / 127.0f;
    float id = inverse_or_zero(d);
    b.d = kern_f32_to_f16(d);
    for (int j = 0; j < KERN_QK; j++)
      b.qs[j] = (int8_t)round_away_clamp(x[j] * id, -127, 127);
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* q8_1: as q8_0, plus s = d * sum(q) (float32 d, then rounded to half). */
static void
quant_q8_1(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK) {
    kern_block_q8_1 b;
    float d = absmax(x, KERN_QK) / 127.0f;
    float id = inverse_or_zero(d);
    int sum = 0;
    for (int j = 0; j < KERN_QK; j++) {
      b.qs[j] = (int8_t)round_away_clamp(x[j] * id, -127, 127);
      sum += b.qs[j];
    }
    b.d = kern_f32_to_f16(d);
    b.s = kern_f32_to_f16((float)sum * d);
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* q8_K: float d = max|x| / 127, q = x/d rounded to nearest even (as ggml's
 * q8_K; q8_0/q8_1 round half away from zero), bsums per 16. */
static void
quant_q8_K(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK_K) {
    kern_block_q8_K b;
    float d = absmax(x, KERN_QK_K) / 127.0f;
    float id = inverse_or_zero(d);
    b.d = d;
    for (int j = 0; j < KERN_QK_K; j++)
      b.qs[j] = (int8_t)nearest_clamp(x[j] * id, -127, 127);
    for (int g = 0; g < KERN_QK_K / 16; g++) {
      int sum = 0;
      for (int l = 0; l < 16; l++)
        sum += b.qs[16 * g + l];
      b.bsums[g] = (int16_t)sum;
    }
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* ---- k-quant encoders ------------------------------------------------------
 * Two stages per super-block of 256:
 *  1. each sub-block gets the least-squares (scale, min) or scale: candidate
 *     inverse scales around the plain range / levels are tried; for each, the
 *     values are rounded, the scale (and min) refitted by least squares and the
 *     squared error measured; the best is kept, then polished by alternating
 *     rounding and refitting (a few Lloyd steps);
 *  2. the sub-block scales are themselves quantized (six bits against an fp16
 *     super-scale, or int8 for q6_K), the neighbouring codes of each are tried,
 *     and the values are rounded once more against the scales actually stored.
 * Errors are plain squared errors: the metric the format is judged by here. */

#define K_SEARCH_STEPS 40 /* candidates at levels +- 4 in steps of 0.1 */
#define K_LLOYD_STEPS 4

/* Fits x ~ a*q - m with q in [0, nmax], a >= 0, m >= 0 (the stored min is
 * subtracted and unsigned). Returns the squared error of the best fit. */
static double
fit_scale_min(const float *x, int n, int nmax, float *a_out, float *m_out)
{
  float lo, hi;
  minmax(x, n, &lo, &hi);
  if (lo > 0.0f)
    lo = 0.0f; /* the offset can only pull down */
  if (hi <= lo) {
    *a_out = 0.0f;
    *m_out = -lo;
    double err = 0.0;
    for (int i = 0; i < n; i++)
      err += ((double)x[i] - lo) * ((double)x[i] - lo);
    return err;
  }

  double best_err = INFINITY, best_a = (hi - lo) / nmax, best_m = -lo;
  for (int step = -K_SEARCH_STEPS; step <= K_SEARCH_STEPS + K_LLOYD_STEPS; step++) {
    double iscale, off;
    if (step <= K_SEARCH_STEPS) {
      iscale = (nmax + 0.1 * step) / ((double)hi - lo);
      off = lo;
    } else { /* polish the best so far */
      if (best_a <= 0.0)
        break;
      iscale = 1.0 / best_a;
      off = -best_m;
    }
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; i++) {
      int q = nearest_clamp((float)((x[i] - off) * iscale), 0, nmax);
      sq += q;
      sqq += (double)q * q;
      sx += x[i];
      sqx += (double)q * x[i];
    }
    /* Least squares for x ~ a*q + b; b <= 0 else refit with b = 0. */
    double det = n * sqq - sq * sq;
    double a, b;
    if (det > 0) {
      a = (n * sqx - sq * sx) / det;
      b = (sqq * sx - sq * sqx) / det;
    } else {
      a = 0;
      b = sx / n;
    }
    if (b > 0) {
      b = 0;
      a = sqq > 0 ? sqx / sqq : 0;
    }
    if (a < 0)
      continue;
    double err = 0;
    for (int i = 0; i < n; i++) {
      int q = nearest_clamp((float)((x[i] - off) * iscale), 0, nmax);
      double e = a * q + b - x[i];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_a = a;
      best_m = -b;
    }
  }
  *a_out = (float)best_a;
  *m_out = (float)best_m;
  return best_err;
}

/* Fits x ~ a*q with q in [qmin, qmax] (qmin = -qmax - 1: one extra negative
 * level, so a may be negative to put the largest magnitude there). */
static void
fit_scale_sym(const float *x, int n, int qmin, int qmax, float *a_out)
{
  float vmax = signed_absmax(x, n);
  if (vmax == 0.0f) {
    *a_out = 0.0f;
    return;
  }
  double best_err = INFINITY, best_a = vmax / qmin;
  for (int step = -K_SEARCH_STEPS; step <= 3 * K_SEARCH_STEPS + 1 + K_LLOYD_STEPS; step++) {
    double iscale;
    if (step <= K_SEARCH_STEPS) /* largest magnitude toward qmin */
      iscale = (qmin - 0.1 * step) / vmax;
    else if (step <= 3 * K_SEARCH_STEPS + 1) /* ... or toward qmax */
      iscale = (qmax + 0.1 * (step - 2 * K_SEARCH_STEPS - 1)) / vmax;
    else
      iscale = 1.0 / best_a;
    double sqq = 0, sqx = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
      int q = nearest_clamp((float)(x[i] * iscale), qmin, qmax);
      sqq += (double)q * q;
      sqx += (double)q * x[i];
      sxx += (double)x[i] * x[i];
    }
    if (sqq <= 0)
      continue;
    double a = sqx / sqq;
    double err = sxx - a * sqx; /* at the least-squares a */
    if (err < best_err && a != 0) {
      best_err = err;
      best_a = a;
    }
  }
  *a_out = (float)best_a;
}

/* Squared error of sub-block x with effective scale dl and min ml (as the
 * dequantizer forms them), codes rounded against those; q gets the codes. */
static double
subblock_error_asym(const float *x, int n, int nmax, float dl, float ml, uint8_t *q)
{
  double err = 0;
  float id = inverse_or_zero(dl);
  for (int i = 0; i < n; i++) {
    int c = nearest_clamp((x[i] + ml) * id, 0, nmax);
    double e = (double)(dl * (float)c - ml) - x[i];
    err += e * e;
    if (q)
      q[i] = (uint8_t)c;
  }
  return err;
}

/* Shared stage 2 of q4_K and q5_K: quantizes the per-sub-block (a, m) into
 * d, dmin and six-bit codes, and rounds the values (q[256], 0..nmax). */
static void
k4_encode(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
          uint8_t scales[12], uint8_t q[KERN_QK_K])
{
  float a[8], m[8], amax = 0, mmax = 0;
  for (int j = 0; j < 8; j++) {
    fit_scale_min(x + 32 * j, 32, nmax, &a[j], &m[j]);
    if (a[j] > amax)
      amax = a[j];
    if (m[j] > mmax)
      mmax = m[j];
  }
  uint16_t dh = kern_f32_to_f16(amax / 63.0f);
  uint16_t mh = kern_f32_to_f16(mmax / 63.0f);
  float d = kern_f16_to_f32(dh), dmin = kern_f16_to_f32(mh);
  float id = inverse_or_zero(d), idmin = inverse_or_zero(dmin);

  uint8_t sc[8], mc[8];
  for (int j = 0; j < 8; j++) {
    int s0 = nearest_clamp(a[j] * id, 0, 63);
    int m0 = nearest_clamp(m[j] * idmin, 0, 63);
    /* Try the neighbouring codes: rounding scale and min separately is not
     * the best pair once both are coarse. */
    double best = INFINITY;
    sc[j] = (uint8_t)s0;
    mc[j] = (uint8_t)m0;
    for (int ds = -1; ds <= 1; ds++)
      for (int dm = -1; dm <= 1; dm++) {
        int s = s0 + ds, mm = m0 + dm;
        if (s < 0 || s > 63 || mm < 0 || mm > 63)
          continue;
        double e = subblock_error_asym(x + 32 * j, 32, nmax, d * (float)s, dmin * (float)mm, NULL);
        if (e < best) {
          best = e;
          sc[j] = (uint8_t)s;
          mc[j] = (uint8_t)mm;
        }
      }
    subblock_error_asym(x + 32 * j, 32, nmax, d * (float)sc[j], dmin * (float)mc[j], q + 32 * j);
  }
  *d_out = dh;
  *dmin_out = mh;
  k4_put_scale_min(scales, sc, mc);
}

static void
quant_q4_K(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK_K) {
    kern_block_q4_K b;
    uint8_t q[KERN_QK_K];
    k4_encode(x, 15, &b.d, &b.dmin, b.scales, q);
    /* chunk c: sub-block 2c low nibbles, 2c+1 high nibbles */
    for (int c = 0; c < 4; c++)
      for (int l = 0; l < 32; l++)
        b.qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

static void
quant_q5_K(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK_K) {
    kern_block_q5_K b;
    uint8_t q[KERN_QK_K];
    k4_encode(x, 31, &b.d, &b.dmin, b.scales, q);
    memset(b.qh, 0, sizeof b.qh);
    for (int c = 0; c < 4; c++)
      for (int l = 0; l < 32; l++)
        b.qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 0x0f) | ((q[64 * c + 32 + l] & 0x0f) << 4));
    /* qh: bit j of byte l is the fifth bit of value 32j + l */
    for (int j = 0; j < 8; j++)
      for (int l = 0; l < 32; l++)
        b.qh[l] |= (uint8_t)(((q[32 * j + l] >> 4) & 1) << j);
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

/* Squared error of a q6_K group with effective scale dl; q gets codes - (-32). */
static double
subblock_error_sym(const float *x, int n, float dl, uint8_t *q)
{
  double err = 0;
  float id = inverse_or_zero(dl);
  for (int i = 0; i < n; i++) {
    int c = nearest_clamp(x[i] * id, -32, 31);
    double e = (double)(dl * (float)c) - x[i];
    err += e * e;
    if (q)
      q[i] = (uint8_t)(c + 32);
  }
  return err;
}

static void
quant_q6_K(const float *x, uint8_t *dst, int64_t nb)
{
  for (int64_t i = 0; i < nb; i++, x += KERN_QK_K) {
    kern_block_q6_K b;
    uint8_t q[KERN_QK_K]; /* 0..63 */
    float a[16], amax = 0, vmax = 0;
    for (int g = 0; g < 16; g++) {
      fit_scale_sym(x + 16 * g, 16, -32, 31, &a[g]);
      if (fabsf(a[g]) > amax) {
        amax = fabsf(a[g]);
        vmax = a[g];
      }
    }
    /* int8 group scales; the largest maps to -128 (the extra level). */
    uint16_t dh = kern_f32_to_f16(vmax / -128.0f);
    float d = kern_f16_to_f32(dh), id = inverse_or_zero(d);
    for (int g = 0; g < 16; g++) {
      int s0 = nearest_clamp(a[g] * id, -128, 127);
      double best = INFINITY;
      int sbest = s0;
      for (int ds = -1; ds <= 1; ds++) {
        int s = s0 + ds;
        if (s < -128 || s > 127)
          continue;
        double e = subblock_error_sym(x + 16 * g, 16, d * (float)s, NULL);
        if (e < best) {
          best = e;
          sbest = s;
        }
      }
      b.scales[g] = (int8_t)sbest;
      subblock_error_sym(x + 16 * g, 16, d * (float)sbest, q + 16 * g);
    }
    b.d = dh;
    /* value v = 128h + 32k + l: low nibble to ql[64h + 32(k%2) + l] (high half
     * for k >= 2), top two bits to bits 2k of qh[32h + l] */
    memset(b.ql, 0, sizeof b.ql);
    memset(b.qh, 0, sizeof b.qh);
    for (int v = 0; v < KERN_QK_K; v++) {
      int h = v / 128, k = (v % 128) / 32, l = v % 32;
      b.ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((q[v] & 0x0f) << (4 * (k / 2)));
      b.qh[32 * h + l] |= (uint8_t)((q[v] >> 4) << (2 * k));
    }
    memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

int
kern_quantize_row(int t, const float *src, void *dst, int64_t n)
{
  const kern_type_traits *tr = kern_type_get_traits(t);
  if (tr == NULL)
    return KERN_E_INVAL;
  if (!kern_type_can_quantize(t))
    return KERN_E_UNSUPPORTED;
  if (n < 0 || n % tr->block_size != 0)
    return KERN_E_INVAL;
  if (n == 0)
    return KERN_OK;
  if (src == NULL || dst == NULL || kern_type_row_size(t, n) == 0)
    return KERN_E_INVAL;

  uint8_t *d = dst;
  int64_t nb = n / tr->block_size;
  switch (t) {
  case KERN_TYPE_F32:
    memcpy(d, src, (size_t)n * sizeof(float));
    break;
  case KERN_TYPE_F16:
    for (int64_t i = 0; i < n; i++) {
      uint16_t h = kern_f32_to_f16(src[i]);
      memcpy(d + 2 * i, &h, 2);
    }
    break;
  case KERN_TYPE_BF16:
    for (int64_t i = 0; i < n; i++) {
      uint16_t h = kern_f32_to_bf16(src[i]);
      memcpy(d + 2 * i, &h, 2);
    }
    break;
  case KERN_TYPE_Q4_0: quant_q4_0(src, d, nb); break;
  case KERN_TYPE_Q4_1: quant_q4_1(src, d, nb); break;
  case KERN_TYPE_Q5_0: quant_q5_0(src, d, nb); break;
  case KERN_TYPE_Q5_1: quant_q5_1(src, d, nb); break;
  case KERN_TYPE_Q8_0: quant_q8_0(src, d, nb); break;
  case KERN_TYPE_Q8_1: quant_q8_1(src, d, nb); break;
  case KERN_TYPE_Q4_K: quant_q4_K(src, d, nb); break;
  case KERN_TYPE_Q5_K: quant_q5_K(src, d, nb); break;
  case KERN_TYPE_Q6_K: quant_q6_K(src, d, nb); break;
  case KERN_TYPE_Q8_K: quant_q8_K(src, d, nb); break;
  default:
    return KERN_E_UNSUPPORTED;
  }
  return KERN_OK;
}
