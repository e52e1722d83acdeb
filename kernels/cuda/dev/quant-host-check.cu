/* quant-host-check.cu: checks the CUDA block decoders on the CPU, no GPU needed.
 *
 * kern-cuda-quant.cuh compiles for the host too. This program compares, for
 * every type, kc_dequant() with kern_dequantize_row() bit for bit, and for
 * every matmul weight type the dot product assembled from kc_qt<T>::decode
 * units (with host emulations of __dp4a) with the double dot product of the
 * dequantized weights and the int8-quantized x. Not part of the build:
 *
 *   cd build && gcc -O2 -c -I../kernels -I. ../kernels/kern-type.c -o /tmp/kt.o &&
 *   nvcc -O2 -I../kernels -I../kernels/cuda -I. ../kernels/cuda/dev/quant-host-check.cu /tmp/kt.o \
 *     -o /tmp/quant-host-check && /tmp/quant-host-check
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" { /* kern-type.c is C; include it before the module headers pull it in */
#include "kern-type.h"
}

#include "kern-cuda-quant.cuh"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
next_u32(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 32);
}

static float
gauss(void)
{
  float u = ((float)(next_u32() >> 8) + 0.5f) / 16777216.0f, v = ((float)(next_u32() >> 8) + 0.5f) / 16777216.0f;
  return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* Random bytes with sane fp16 scales, so no NaN/Inf: every uint16 at an even
 * offset gets a finite half in [-0.06, 0.06]; qs bytes stay random afterwards
 * for the bytes that are not scales (we refill scale fields only). */
static void
random_blocks(int type, uint8_t *b, int64_t n)
{
  int bs = 1, ts = 0;
  kc_type_geometry(type, &bs, &ts);
  size_t bytes = (size_t)(n / bs) * (size_t)ts;
  for (size_t i = 0; i < bytes; i++)
    b[i] = (uint8_t)next_u32();
  if (kern_type_can_quantize(type) && type != KERN_TYPE_Q8_K && type != KERN_TYPE_F32 && type != KERN_TYPE_BF16 &&
      type != KERN_TYPE_F16) {
    float *f = (float *)malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
      f[i] = gauss();
    kern_quantize_row(type, f, b, n);
    free(f);
    return;
  }
  for (int64_t blk = 0; blk < n / bs; blk++) {
    uint8_t *p = b + blk * ts;
    uint16_t d = kern_f32_to_f16(0.01f + 0.05f * (float)(next_u32() % 1000) / 1000.0f);
    uint16_t m = kern_f32_to_f16(0.01f + 0.05f * (float)(next_u32() % 1000) / 1000.0f);
    switch (type) {
    case KERN_TYPE_Q2_K:
      memcpy(p + offsetof(kern_block_q2_K, d), &d, 2), memcpy(p + offsetof(kern_block_q2_K, dmin), &m, 2);
      break;
    case KERN_TYPE_Q3_K: memcpy(p + offsetof(kern_block_q3_K, d), &d, 2); break;
    case KERN_TYPE_Q8_K: {
      float fd = 0.01f;
      memcpy(p + offsetof(kern_block_q8_K, d), &fd, 4);
      break;
    }
    case KERN_TYPE_F16:
    case KERN_TYPE_BF16:
      for (int64_t i = 0; i < n; i++) {
        uint16_t h = type == KERN_TYPE_F16 ? kern_f32_to_f16(gauss()) : kern_f32_to_bf16(gauss());
        memcpy(b + 2 * i, &h, 2);
      }
      return;
    case KERN_TYPE_F32:
      for (int64_t i = 0; i < n; i++) {
        float g = gauss();
        memcpy(b + 4 * i, &g, 4);
      }
      return;
    case KERN_TYPE_F64:
      for (int64_t i = 0; i < n; i++) {
        double g = gauss();
        memcpy(b + 8 * i, &g, 8);
      }
      return;
    default: break; /* integers: any bytes */
    }
  }
}

static int
check_dequant(int type)
{
  const int64_t n = 512;
  uint8_t *b = (uint8_t *)calloc(1, 8 * n);
  float *ref = (float *)malloc(sizeof(float) * n);
  random_blocks(type, b, n);
  kern_dequantize_row(type, b, ref, n);
  int bad = 0;
  for (int64_t j = 0; j < n; j++) {
    float got = kc_dequant(type, b, j);
    if (memcmp(&got, &ref[j], 4) != 0 && !(got != got && ref[j] != ref[j])) {
      if (bad < 3)
        printf("  dequant %s [%lld]: %.9g, reference %.9g\n", kern_type_get_traits(type)->name, (long long)j, got,
               ref[j]);
      bad++;
    }
  }
  free(b), free(ref);
  return bad;
}

static int
dp4a(int a, int b, int c)
{
  for (int i = 0; i < 4; i++)
    c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
  return c;
}

template <int T>
static int
check_dot(void)
{
  using Q = kc_qt<T>;
  const int K = 2 * KERN_QK_K;
  uint8_t *w = (uint8_t *)calloc(1, (size_t)(K / Q::QK) * Q::SIZE);
  random_blocks(T, w, K);
  float wf[K], x[K], xd[K / 32];
  int8_t xq[K];
  kern_dequantize_row(T, w, wf, K);
  for (int i = 0; i < K; i++)
    x[i] = gauss();
  for (int b = 0; b < K / 32; b++) { /* quantize_x_q8_kernel on the host */
    float amax = 0;
    for (int l = 0; l < 32; l++)
      amax = fmaxf(amax, fabsf(x[32 * b + l]));
    float d = amax / 127.0f;
    xd[b] = d;
    for (int l = 0; l < 32; l++) {
      int q = d > 0 ? (int)rintf(x[32 * b + l] / d) : 0;
      xq[32 * b + l] = (int8_t)(q < -127 ? -127 : q > 127 ? 127 : q);
    }
  }
  double want = 0;
  for (int i = 0; i < K; i++)
    want += (double)wf[i] * (double)(xd[i / 32] * xq[i]);
  double got = 0;
  for (int u = 0; u < (K / Q::QK) * Q::UNITS; u++) { /* mmvq_kernel's loop, all lanes */
    const int ib = u / Q::UNITS;
    kc_unit p;
    Q::decode(w + (size_t)ib * Q::SIZE, u % Q::UNITS, p);
    const int xb0 = ib * (Q::QK / KERN_QK);
    const int *xi = (const int *)xq + xb0 * 8;
    const float *xs = xd + xb0;
    for (int g = 0; g < 2; g++) {
      const int xv = xi[p.xi[g]];
      float t = p.a[g] * (float)dp4a(p.w[g], xv, 0);
      if (Q::HAS_B)
        t += p.b[g] * (float)dp4a(0x01010101, xv, 0);
      got += xs[p.xb[g]] * t;
    }
  }
  double scale = 0;
  for (int i = 0; i < K; i++)
    scale += fabs((double)wf[i] * (double)(xd[i / 32] * xq[i]));
  const double rel = fabs(got - want) / (scale > 0 ? scale : 1);
  free(w);
  if (rel > 1e-5) {
    printf("  dot %s: %.9g, reference %.9g (relative %.3g)\n", kern_type_get_traits(T)->name, got, want, rel);
    return 1;
  }
  return 0;
}

int
main(void)
{
  static const int all[] = { KERN_TYPE_F32,  KERN_TYPE_F16,  KERN_TYPE_BF16, KERN_TYPE_F64,  KERN_TYPE_I8,
                             KERN_TYPE_I16,  KERN_TYPE_I32,  KERN_TYPE_I64,  KERN_TYPE_Q4_0, KERN_TYPE_Q4_1,
                             KERN_TYPE_Q5_0, KERN_TYPE_Q5_1, KERN_TYPE_Q8_0, KERN_TYPE_Q8_1, KERN_TYPE_Q2_K,
                             KERN_TYPE_Q3_K, KERN_TYPE_Q4_K, KERN_TYPE_Q5_K, KERN_TYPE_Q6_K, KERN_TYPE_Q8_K };
  int fails = 0;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    for (int rep = 0; rep < 20; rep++)
      fails += check_dequant(all[i]) != 0;
  for (int rep = 0; rep < 50; rep++) {
    fails += check_dot<KERN_TYPE_Q4_0>();
    fails += check_dot<KERN_TYPE_Q4_1>();
    fails += check_dot<KERN_TYPE_Q5_0>();
    fails += check_dot<KERN_TYPE_Q5_1>();
    fails += check_dot<KERN_TYPE_Q8_0>();
    fails += check_dot<KERN_TYPE_Q8_1>();
    fails += check_dot<KERN_TYPE_Q2_K>();
    fails += check_dot<KERN_TYPE_Q3_K>();
    fails += check_dot<KERN_TYPE_Q4_K>();
    fails += check_dot<KERN_TYPE_Q5_K>();
    fails += check_dot<KERN_TYPE_Q6_K>();
  }
  printf("%s: %d failures\n", fails ? "FAIL" : "ok", fails);
  return fails != 0;
}
