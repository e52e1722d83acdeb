/* kern-cuda-quant.cuh: reading GGUF blocks on the device.
 *
 * kc_dequant() gives one value of a row with the float32 operations of
 * kern-type.c in the same order and no fused multiply-adds (__fmul_rn etc.
 * on the device), so it is bit-identical to the CPU reference; it serves
 * get_rows and the F16 weight tiles of the batched matmul. kc_qt<type>::decode
 * cuts a block into units of 8 values for the __dp4a matrix-vector kernel
 * (kern-cuda-matmul.cu).
 *
 * Blocks sit at any even address (q4_0 is 18 bytes), so multi-byte fields are
 * read as aligned 16-bit halves. Field offsets come from the structs of
 * kern-quant.h, which fix the byte layout. Everything here also compiles for
 * the host, so a CPU program can check it against kern-type.c.
 */
#pragma once

#include <stddef.h>
#include <string.h>

#include "kern-cuda-common.cuh"

/* Host and device: the host build of these helpers lets a CPU program check
 * the decoders against kern-type.c (no GPU needed). On the host, x86-64
 * without -mfma has no fused multiply-add to contract into. */
#define KC_HD __host__ __device__
#ifdef __CUDA_ARCH__
#define KC_UNROLL _Pragma("unroll")
#else
#define KC_UNROLL
#endif

static KC_HD __forceinline__ float
kc_fmul(float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

static KC_HD __forceinline__ float
kc_fadd(float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

static KC_HD __forceinline__ float
kc_fsub(float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

static KC_HD __forceinline__ float
kc_bits_f32(uint32_t u)
{
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
#endif
}

/* Per-byte signed saturating a - b (__vsubss4). */
static KC_HD __forceinline__ uint32_t
kc_vsub4(uint32_t a, uint32_t b)
{
#ifdef __CUDA_ARCH__
  return __vsubss4(a, b);
#else
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    int d = (int)(int8_t)(a >> (8 * i)) - (int)(int8_t)(b >> (8 * i));
    d = d < -128 ? -128 : d > 127 ? 127 : d;
    r |= (uint32_t)(uint8_t)d << (8 * i);
  }
  return r;
#endif
}

static KC_HD __forceinline__ uint32_t
kc_ld16(const uint8_t *p) /* p 2-byte aligned */
{
  return *(const uint16_t *)p;
}

static KC_HD __forceinline__ uint32_t
kc_ld32(const uint8_t *p) /* p 2-byte aligned; little-endian like the file */
{
  return kc_ld16(p) | (kc_ld16(p + 2) << 16);
}

static KC_HD __forceinline__ float
kc_h2f(uint32_t h)
{
  return __half2float(__ushort_as_half((unsigned short)h));
}

/* Field of a block struct at byte offset offsetof(type, field). */
#define KC_OFF(type, field) ((int)offsetof(type, field))

/* Six-bit scale k (0..15) of q3_K, before the -32 (kern-type.c q3_K_scale). */
static KC_HD __forceinline__ int
kc_q3k_scale(const uint8_t *s, int k)
{
  int lo = k < 8 ? (s[k] & 0x0f) : (s[k - 8] >> 4);
  int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
  return lo | (hi << 4);
}

/* Six-bit scale and min j (0..7) of q4_K/q5_K (kern-type.c k4_get_scale_min). */
static KC_HD __forceinline__ void
kc_q4k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

/* Value j of a row of `type` starting at `row` (the row is a whole number of blocks). */
static KC_HD float
kc_dequant(int type, const uint8_t *row, int64_t j)
{
  switch (type) {
  case KERN_TYPE_F32: return ((const float *)row)[j];
  case KERN_TYPE_F16: return kc_h2f(((const uint16_t *)row)[j]);
  case KERN_TYPE_BF16: return kc_bits_f32((uint32_t)((const uint16_t *)row)[j] << 16);
  case KERN_TYPE_F64: return (float)((const double *)row)[j];
  case KERN_TYPE_I8: return (float)((const int8_t *)row)[j];
  case KERN_TYPE_I16: return (float)((const int16_t *)row)[j];
  case KERN_TYPE_I32: return (float)((const int32_t *)row)[j];
  case KERN_TYPE_I64: return (float)((const long long *)row)[j];
  default: break;
  }

  if (type == KERN_TYPE_Q4_0 || type == KERN_TYPE_Q4_1 || type == KERN_TYPE_Q5_0 || type == KERN_TYPE_Q5_1 ||
      type == KERN_TYPE_Q8_0 || type == KERN_TYPE_Q8_1) {
    int64_t ib = j / KERN_QK;
    int l = (int)(j % KERN_QK);
    int hi_nib = l / (KERN_QK / 2), jj = l % (KERN_QK / 2); /* nibble half and byte */
    switch (type) {
    case KERN_TYPE_Q4_0: {
      const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q4_0);
      float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_0, d)));
      int q = (b[KC_OFF(kern_block_q4_0, qs) + jj] >> (4 * hi_nib)) & 0x0f;
      return kc_fmul(d, (float)(q - 8));
    }
    case KERN_TYPE_Q4_1: {
      const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q4_1);
      float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_1, d))), m = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_1, m)));
      int q = (b[KC_OFF(kern_block_q4_1, qs) + jj] >> (4 * hi_nib)) & 0x0f;
      return kc_fadd(kc_fmul(d, (float)q), m);
    }
    case KERN_TYPE_Q5_0: {
      const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q5_0);
      float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q5_0, d)));
      uint32_t qh = kc_ld32(b + KC_OFF(kern_block_q5_0, qh));
      int q = ((b[KC_OFF(kern_block_q5_0, qs) + jj] >> (4 * hi_nib)) & 0x0f) | (int)(((qh >> l) & 1) << 4);
      return kc_fmul(d, (float)(q - 16));
    }
    case KERN_TYPE_Q5_1: {
      const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q5_1);
      float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q5_1, d))), m = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q5_1, m)));
      uint32_t qh = kc_ld32(b + KC_OFF(kern_block_q5_1, qh));
      int q = ((b[KC_OFF(kern_block_q5_1, qs) + jj] >> (4 * hi_nib)) & 0x0f) | (int)(((qh >> l) & 1) << 4);
      return kc_fadd(kc_fmul(d, (float)q), m);
    }
    case KERN_TYPE_Q8_0: {
      const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q8_0);
      float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q8_0, d)));
      return kc_fmul(d, (float)(int8_t)b[KC_OFF(kern_block_q8_0, qs) + l]);
    }
    default: { /* KERN_TYPE_Q8_1 */
      const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q8_1);
      float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q8_1, d)));
      return kc_fmul(d, (float)(int8_t)b[KC_OFF(kern_block_q8_1, qs) + l]);
    }
    }
  }

  /* k-quants: v is the index within the 256-value super-block. */
  int64_t ib = j / KERN_QK_K;
  int v = (int)(j % KERN_QK_K);
  int h = v / 128, s = (v % 128) / 32, l = v % 32, g = v / 16;
  switch (type) {
  case KERN_TYPE_Q2_K: {
    const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q2_K);
    float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q2_K, d)));
    float dmin = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q2_K, dmin)));
    int sc = b[KC_OFF(kern_block_q2_K, scales) + g];
    int q = (b[KC_OFF(kern_block_q2_K, qs) + 32 * h + l] >> (2 * s)) & 3;
    float dl = kc_fmul(d, (float)(sc & 0x0f)), ml = kc_fmul(dmin, (float)(sc >> 4));
    return kc_fsub(kc_fmul(dl, (float)q), ml);
  }
  case KERN_TYPE_Q3_K: {
    const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q3_K);
    float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q3_K, d)));
    int q = (b[KC_OFF(kern_block_q3_K, qs) + 32 * h + l] >> (2 * s)) & 3;
    if (!((b[KC_OFF(kern_block_q3_K, hmask) + l] >> (v / 32)) & 1))
      q -= 4;
    float dl = kc_fmul(d, (float)(kc_q3k_scale(b + KC_OFF(kern_block_q3_K, scales), g) - 32));
    return kc_fmul(dl, (float)q);
  }
  case KERN_TYPE_Q4_K:
  case KERN_TYPE_Q5_K: {
    int is5 = type == KERN_TYPE_Q5_K;
    const uint8_t *b = row + ib * (int64_t)(is5 ? sizeof(kern_block_q5_K) : sizeof(kern_block_q4_K));
    /* d, dmin and scales sit at the same offsets in both structs. */
    float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_K, d)));
    float dmin = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_K, dmin)));
    int sb = v / 32, sc, m;
    kc_q4k_scale_min(b + KC_OFF(kern_block_q4_K, scales), sb, &sc, &m);
    const uint8_t *qs = b + (is5 ? KC_OFF(kern_block_q5_K, qs) : KC_OFF(kern_block_q4_K, qs));
    int q = (qs[32 * (sb / 2) + l] >> (4 * (sb % 2))) & 0x0f;
    if (is5)
      q |= ((b[KC_OFF(kern_block_q5_K, qh) + l] >> sb) & 1) << 4;
    float dl = kc_fmul(d, (float)sc), ml = kc_fmul(dmin, (float)m);
    return kc_fsub(kc_fmul(dl, (float)q), ml);
  }
  case KERN_TYPE_Q6_K: {
    const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q6_K);
    float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q6_K, d)));
    int lo = (b[KC_OFF(kern_block_q6_K, ql) + 64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 0x0f;
    int hi = (b[KC_OFF(kern_block_q6_K, qh) + 32 * h + l] >> (2 * s)) & 3;
    float dl = kc_fmul(d, (float)(int8_t)b[KC_OFF(kern_block_q6_K, scales) + g]);
    return kc_fmul(dl, (float)((lo | (hi << 4)) - 32));
  }
  case KERN_TYPE_Q8_K: {
    const uint8_t *b = row + ib * (int64_t)sizeof(kern_block_q8_K);
    float d = kc_bits_f32(kc_ld32(b + KC_OFF(kern_block_q8_K, d)));
    return kc_fmul(d, (float)(int8_t)b[KC_OFF(kern_block_q8_K, qs) + v]);
  }
  default: return 0.0f; /* unreachable: types are checked on the host */
  }
}

/* ---- weight decoding for the dot products ------------------------------------
 * A weight block is cut into "units" of 8 values, two groups of 4 consecutive
 * values; each group pairs with one 32-bit int (4 int8 values) of quantized x.
 * The contribution of a unit to the dot product with x is
 *   sum over g = 0, 1:  xd[xb[g]] * (a[g] * dot4(w[g], X[xi[g]]) + b[g] * sum4(X[xi[g]]))
 * where X are the ints of x under this weight block and xd the x scales.
 * `b` carries offsets and mins (q4_0's -8, q4_1's m, k-quant mins). */
struct kc_unit {
  int w[2];   /* 4 packed 8-bit weights (small non-negative or signed) */
  int xi[2];  /* int of x (within this weight block) each group pairs with */
  int xb[2];  /* 32-value x block of that int */
  float a[2]; /* scale of dot4(w, x) */
  float b[2]; /* scale of sum4(x); 0 for types without offset or min */
};

/* Bit k (k = 0..3) of the nibble `bits` moved to bit 4 of byte k (q5 high bits). */
static KC_HD __forceinline__ int
kc_spread4(uint32_t bits)
{
  return (int)(((bits & 1u) << 4) | ((bits & 2u) << 11) | ((bits & 4u) << 18) | ((bits & 8u) << 25));
}

template <int T> struct kc_qt;

/* q4_0: unit u (0..3) = qs bytes 4u..4u+3: low nibbles values 4u.., high 16+4u.. */
template <> struct kc_qt<KERN_TYPE_Q4_0> {
  static constexpr int QK = KERN_QK, UNITS = 4, SIZE = (int)sizeof(kern_block_q4_0);
  static constexpr bool HAS_B = true;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_0, d)));
    const uint32_t q = kc_ld32(b + KC_OFF(kern_block_q4_0, qs) + 4 * u);
    p.w[0] = (int)(q & 0x0f0f0f0fu), p.xi[0] = u, p.xb[0] = 0;
    p.w[1] = (int)((q >> 4) & 0x0f0f0f0fu), p.xi[1] = u + 4, p.xb[1] = 0;
    p.a[0] = p.a[1] = d;
    p.b[0] = p.b[1] = -8.0f * d;
  }
};

template <> struct kc_qt<KERN_TYPE_Q4_1> {
  static constexpr int QK = KERN_QK, UNITS = 4, SIZE = (int)sizeof(kern_block_q4_1);
  static constexpr bool HAS_B = true;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_1, d)));
    const float m = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_1, m)));
    const uint32_t q = kc_ld32(b + KC_OFF(kern_block_q4_1, qs) + 4 * u);
    p.w[0] = (int)(q & 0x0f0f0f0fu), p.xi[0] = u, p.xb[0] = 0;
    p.w[1] = (int)((q >> 4) & 0x0f0f0f0fu), p.xi[1] = u + 4, p.xb[1] = 0;
    p.a[0] = p.a[1] = d;
    p.b[0] = p.b[1] = m;
  }
};

/* q5_0: as q4_0 plus bit 4 of value j from bit j of qh; x = d * (q - 16). */
template <> struct kc_qt<KERN_TYPE_Q5_0> {
  static constexpr int QK = KERN_QK, UNITS = 4, SIZE = (int)sizeof(kern_block_q5_0);
  static constexpr bool HAS_B = true;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q5_0, d)));
    const uint32_t qh = kc_ld32(b + KC_OFF(kern_block_q5_0, qh));
    const uint32_t q = kc_ld32(b + KC_OFF(kern_block_q5_0, qs) + 4 * u);
    p.w[0] = (int)(q & 0x0f0f0f0fu) | kc_spread4((qh >> (4 * u)) & 0xfu), p.xi[0] = u, p.xb[0] = 0;
    p.w[1] = (int)((q >> 4) & 0x0f0f0f0fu) | kc_spread4((qh >> (16 + 4 * u)) & 0xfu), p.xi[1] = u + 4, p.xb[1] = 0;
    p.a[0] = p.a[1] = d;
    p.b[0] = p.b[1] = -16.0f * d;
  }
};

template <> struct kc_qt<KERN_TYPE_Q5_1> {
  static constexpr int QK = KERN_QK, UNITS = 4, SIZE = (int)sizeof(kern_block_q5_1);
  static constexpr bool HAS_B = true;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q5_1, d)));
    const float m = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q5_1, m)));
    const uint32_t qh = kc_ld32(b + KC_OFF(kern_block_q5_1, qh));
    const uint32_t q = kc_ld32(b + KC_OFF(kern_block_q5_1, qs) + 4 * u);
    p.w[0] = (int)(q & 0x0f0f0f0fu) | kc_spread4((qh >> (4 * u)) & 0xfu), p.xi[0] = u, p.xb[0] = 0;
    p.w[1] = (int)((q >> 4) & 0x0f0f0f0fu) | kc_spread4((qh >> (16 + 4 * u)) & 0xfu), p.xi[1] = u + 4, p.xb[1] = 0;
    p.a[0] = p.a[1] = d;
    p.b[0] = p.b[1] = m;
  }
};

/* q8_0 / q8_1: unit u = values 8u..8u+7. */
template <> struct kc_qt<KERN_TYPE_Q8_0> {
  static constexpr int QK = KERN_QK, UNITS = 4, SIZE = (int)sizeof(kern_block_q8_0);
  static constexpr bool HAS_B = false;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q8_0, d)));
    const uint8_t *qs = b + KC_OFF(kern_block_q8_0, qs) + 8 * u;
    p.w[0] = (int)kc_ld32(qs), p.xi[0] = 2 * u, p.xb[0] = 0;
    p.w[1] = (int)kc_ld32(qs + 4), p.xi[1] = 2 * u + 1, p.xb[1] = 0;
    p.a[0] = p.a[1] = d;
    p.b[0] = p.b[1] = 0.0f;
  }
};

template <> struct kc_qt<KERN_TYPE_Q8_1> {
  static constexpr int QK = KERN_QK, UNITS = 4, SIZE = (int)sizeof(kern_block_q8_1);
  static constexpr bool HAS_B = false;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q8_1, d)));
    const uint8_t *qs = b + KC_OFF(kern_block_q8_1, qs) + 8 * u;
    p.w[0] = (int)kc_ld32(qs), p.xi[0] = 2 * u, p.xb[0] = 0;
    p.w[1] = (int)kc_ld32(qs + 4), p.xi[1] = 2 * u + 1, p.xb[1] = 0;
    p.a[0] = p.a[1] = d;
    p.b[0] = p.b[1] = 0.0f;
  }
};

/* k-quants: 32 units per 256-value super-block, one per lane.
 * q2_K / q3_K: unit u -> h = u/16 (half), sp = (u/8)%2, t = u%8: the qs int at
 * 32h + 4t (l = 4t..4t+3) at shifts s = 2sp and 2sp+1, i.e. values
 * 128h + 32s + 4t + 0..3, group of 16 g = 8h + 2s + t/4, x block 4h + s. */
template <> struct kc_qt<KERN_TYPE_Q2_K> {
  static constexpr int QK = KERN_QK_K, UNITS = 32, SIZE = (int)sizeof(kern_block_q2_K);
  static constexpr bool HAS_B = true;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const int h = u / 16, sp = (u / 8) % 2, t = u % 8;
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q2_K, d)));
    const float dmin = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q2_K, dmin)));
    const uint32_t q = kc_ld32(b + KC_OFF(kern_block_q2_K, qs) + 32 * h + 4 * t);
KC_UNROLL
    for (int g2 = 0; g2 < 2; g2++) {
      const int s = 2 * sp + g2;
      const int sc = b[KC_OFF(kern_block_q2_K, scales) + 8 * h + 2 * s + t / 4];
      p.w[g2] = (int)((q >> (2 * s)) & 0x03030303u);
      p.xb[g2] = 4 * h + s;
      p.xi[g2] = 8 * (4 * h + s) + t;
      p.a[g2] = d * (float)(sc & 0x0f);
      p.b[g2] = -dmin * (float)(sc >> 4);
    }
  }
};

/* q3_K: low 2 bits as q2_K; hmask bit (4h + s) of byte l clear means -4;
 * x = d * (scale - 32) * q. */
template <> struct kc_qt<KERN_TYPE_Q3_K> {
  static constexpr int QK = KERN_QK_K, UNITS = 32, SIZE = (int)sizeof(kern_block_q3_K);
  static constexpr bool HAS_B = false;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const int h = u / 16, sp = (u / 8) % 2, t = u % 8;
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q3_K, d)));
    const uint32_t q = kc_ld32(b + KC_OFF(kern_block_q3_K, qs) + 32 * h + 4 * t);
    const uint32_t hm = kc_ld32(b + KC_OFF(kern_block_q3_K, hmask) + 4 * t);
KC_UNROLL
    for (int g2 = 0; g2 < 2; g2++) {
      const int s = 2 * sp + g2;
      const uint32_t lo = (q >> (2 * s)) & 0x03030303u;
      const uint32_t hb = (hm >> (4 * h + s)) & 0x01010101u;
      /* (lo + 4 * hb) - 4 per byte: -4..3 */
      p.w[g2] = (int)kc_vsub4(lo | (hb << 2), 0x04040404u);
      p.xb[g2] = 4 * h + s;
      p.xi[g2] = 8 * (4 * h + s) + t;
      p.a[g2] = d * (float)(kc_q3k_scale(b + KC_OFF(kern_block_q3_K, scales), 8 * h + 2 * s + t / 4) - 32);
      p.b[g2] = 0.0f;
    }
  }
};

/* q4_K / q5_K: unit u -> chunk c = u/8, t = u%8: the qs int at 32c + 4t holds
 * sub-block 2c (low nibbles) and 2c+1 (high nibbles), values 32j + 4t + 0..3. */
template <int T> struct kc_qt_q45k {
  static constexpr int QK = KERN_QK_K, UNITS = 32;
  static constexpr int SIZE = T == KERN_TYPE_Q5_K ? (int)sizeof(kern_block_q5_K) : (int)sizeof(kern_block_q4_K);
  static constexpr bool HAS_B = true;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const int c = u / 8, t = u % 8;
    /* d, dmin and scales sit at the same offsets in both structs. */
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_K, d)));
    const float dmin = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q4_K, dmin)));
    const int qs_off = T == KERN_TYPE_Q5_K ? KC_OFF(kern_block_q5_K, qs) : KC_OFF(kern_block_q4_K, qs);
    const uint32_t q = kc_ld32(b + qs_off + 32 * c + 4 * t);
    uint32_t qh = 0;
    if (T == KERN_TYPE_Q5_K)
      qh = kc_ld32(b + KC_OFF(kern_block_q5_K, qh) + 4 * t);
KC_UNROLL
    for (int g2 = 0; g2 < 2; g2++) {
      const int j = 2 * c + g2;
      int sc, m;
      kc_q4k_scale_min(b + KC_OFF(kern_block_q4_K, scales), j, &sc, &m);
      uint32_t w = (q >> (4 * g2)) & 0x0f0f0f0fu;
      if (T == KERN_TYPE_Q5_K)
        w |= ((qh >> j) & 0x01010101u) << 4;
      p.w[g2] = (int)w;
      p.xb[g2] = j;
      p.xi[g2] = 8 * j + t;
      p.a[g2] = d * (float)sc;
      p.b[g2] = -dmin * (float)m;
    }
  }
};
template <> struct kc_qt<KERN_TYPE_Q4_K> : kc_qt_q45k<KERN_TYPE_Q4_K> {};
template <> struct kc_qt<KERN_TYPE_Q5_K> : kc_qt_q45k<KERN_TYPE_Q5_K> {};

/* q6_K: unit u -> h = u/16, k2 = (u/8)%2, t = u%8: the ql int at 64h + 32k2 + 4t
 * (low nibbles: k = k2, high nibbles: k = k2 + 2) and the qh int at 32h + 4t
 * (bits 2k..2k+1); values 128h + 32k + 4t + 0..3, x = d * scale[v/16] * (q - 32). */
template <> struct kc_qt<KERN_TYPE_Q6_K> {
  static constexpr int QK = KERN_QK_K, UNITS = 32, SIZE = (int)sizeof(kern_block_q6_K);
  static constexpr bool HAS_B = false;
  static KC_HD __forceinline__ void decode(const uint8_t *b, int u, kc_unit &p)
  {
    const int h = u / 16, k2 = (u / 8) % 2, t = u % 8;
    const float d = kc_h2f(kc_ld16(b + KC_OFF(kern_block_q6_K, d)));
    const uint32_t ql = kc_ld32(b + KC_OFF(kern_block_q6_K, ql) + 64 * h + 32 * k2 + 4 * t);
    const uint32_t qh = kc_ld32(b + KC_OFF(kern_block_q6_K, qh) + 32 * h + 4 * t);
KC_UNROLL
    for (int g2 = 0; g2 < 2; g2++) {
      const int k = k2 + 2 * g2;
      const uint32_t lo = (ql >> (4 * g2)) & 0x0f0f0f0fu;
      const uint32_t hi = (qh >> (2 * k)) & 0x03030303u;
      p.w[g2] = (int)kc_vsub4(lo | (hi << 4), 0x20202020u); /* -32..31 */
      p.xb[g2] = 4 * h + k;
      p.xi[g2] = 8 * (4 * h + k) + t;
      p.a[g2] = d * (float)(int8_t)b[KC_OFF(kern_block_q6_K, scales) + 8 * h + 2 * k + t / 4];
      p.b[g2] = 0.0f;
    }
  }
};
