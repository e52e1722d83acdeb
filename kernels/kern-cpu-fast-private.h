/* kern-cpu-fast-private.h: the kernel table of the "cpu" backend. Private to
 * kernels/.
 *
 * kern-cpu-fast.c owns the backend, the thread pool and the op drivers (how
 * work is split into tasks); the kernels behind them come from one table per
 * instruction set, filled by kern-cpu-fast-generic.c (plain C, always built),
 * kern-cpu-fast-avx2.c and kern-cpu-fast-avx512.c (x86-64 only, each compiled
 * with its own -m flags). The driver picks a table from kern_cpu_features() at
 * run time, so code built with -mavx512* only runs where the CPU has it.
 *
 * Quantized matmul: each activation row is quantized once into one of two
 * 8-bit formats below (the same for every instruction set), then dotted
 * against the weight blocks with integer SIMD. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-backend.h"
#include "kern-quant.h"

/* ---- quantized activation rows -------------------------------------------
 *
 * A32 (for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 weights), one row of K values,
 * nb = K / 32 blocks:
 *   int8_t qs[K];      value j = d[j / 32] * qs[j]
 *   float  d[nb];      block scales (float32, not fp16: more exact)
 *   float  sd[nb];     d * sum of the block's qs (for offsets and mins)
 * A256 (for Q2_K ... Q6_K), nb = K / 256 super-blocks:
 *   int8_t  qs[K];
 *   float   d[nb];
 *   int16_t bsums[16 * nb];  sums of each group of 16 qs
 * Rows start 64-byte aligned; kern_act_row_size gives the stride. */

enum { KERN_ACT_A32, KERN_ACT_A256 };

static inline size_t
kern_act_row_size(int fmt, int64_t K)
{
  size_t n = fmt == KERN_ACT_A32 ? (size_t)K + (size_t)(K / 32) * 8 : (size_t)K + (size_t)(K / 256) * 36;
  return (n + 63) & ~(size_t)63;
}

/* Which activation format a weight type is dotted against; -1 if none. */
static inline int
kern_act_format(int type)
{
  switch (type) {
  case KERN_TYPE_Q4_0:
  case KERN_TYPE_Q4_1:
  case KERN_TYPE_Q5_0:
  case KERN_TYPE_Q5_1:
  case KERN_TYPE_Q8_0:
  case KERN_TYPE_Q8_1: return KERN_ACT_A32;
  case KERN_TYPE_Q2_K:
  case KERN_TYPE_Q3_K:
  case KERN_TYPE_Q4_K:
  case KERN_TYPE_Q5_K:
  case KERN_TYPE_Q6_K: return KERN_ACT_A256;
  default: return -1;
  }
}

/* ---- kernel signatures ---------------------------------------------------- */

/* A tile of y = x . w^T: for n < nr weight rows (row n at w + n * w_stride
 * bytes) and m < mr activation rows (x + m * x_stride bytes; float rows for
 * the float kernels, quantized rows for the quantized ones):
 *   y[m * y_stride + n] = dot(w row n, x row m) + (bias ? bias[n] : 0).
 * nr <= nr_max and mr <= mr_max of the table. K is the row length in values. */
typedef void (*kern_tile_fn)(int64_t K, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                             int mr, float *y, size_t y_stride, const float *bias);

/* Quantizes one float row of K values into the A32 / A256 format at dst. */
typedef void (*kern_act_quant_fn)(const float *x, int64_t K, uint8_t *dst);

/* Attention over one task's query rows, all reading one kv head. */
typedef struct {
  int64_t hd;            /* head size */
  int n_rows;            /* query rows in this task (<= 64) */
  const float *q[64];    /* query rows, hd floats each */
  float *out[64];        /* output rows (may be the query rows) */
  int64_t n_keys[64];    /* row r sees keys 0 .. n_keys[r]-1 (>= 1) */
  /* row path only: the keys [k_begin, min(k_end, n_keys[r])); with part_m set,
   * out gets the unnormalized sum and part_m / part_l the running max and
   * denominator of each row (for splitting long key ranges over threads) */
  int64_t k_begin, k_end;
  float *part_m, *part_l;
  const void *k, *v;     /* key / value 0 of the kv head */
  size_t kv_stride;      /* bytes between consecutive keys */
  int kv_f16;            /* K/V are F16 (else F32) */
  float scale;
  float *work;           /* per-thread scratch, kern_attn_work_floats() */
} kern_attn_task;

#define KERN_ATTN_BK 64    /* keys per block of the streaming softmax */
#define KERN_ATTN_ROWS 4   /* query rows per call of the row path */

/* Floats of per-thread scratch an attention task needs (either path). */
static inline size_t
kern_attn_work_floats(int64_t hd, int64_t n_keys)
{
  size_t tile = (size_t)hd * 64 * 2 + KERN_ATTN_BK * 64 + (size_t)KERN_ATTN_BK * (size_t)hd * 2 + 4 * 64;
  size_t rows = (size_t)n_keys * KERN_ATTN_ROWS + 64;
  return (tile > rows ? tile : rows) + 64;
}

typedef struct {
  const char *name; /* "avx512", "avx2", "generic" */

  /* float weights, [0] F32, [1] F16, [2] BF16: dot-product tiles of gemm_mr
   * activation rows (any number of weight rows), for few activation rows */
  kern_tile_fn gemm[3];
  int gemm_mr;

  /* float weights against many activation rows: panels of gemmp_nr weight
   * rows packed k-major (gemmp_pack), then gemmp tiles of up to gemmp_mr rows */
  void (*gemmp_pack)(int wt, const void *w, size_t w_stride, int nr, int64_t k0, int64_t kc, float *wp);
  void (*gemmp)(int64_t kc, const float *wp, const void *x, size_t x_stride, int mr, float *y, size_t y_stride, int nr,
                const float *bias, int accumulate);
  int gemmp_mr, gemmp_nr;

  /* quantized weights, indexed by kern_type (NULL: no kernel) */
  kern_tile_fn qdot[KERN_TYPE_COUNT];
  int qdot_mr; /* activation rows per call (weight rows: any) */
  kern_act_quant_fn act_quant[2]; /* [KERN_ACT_A32], [KERN_ACT_A256] */

  /* Q8_0 weights against many A32 activation rows (NULL: none): panels of
   * q8g_nr weight rows over all of K (q8g_panel_size bytes: per block of 32,
   * the bytes q + 128 four at a time for each row, then the rows' scales),
   * then q8g tiles of up to q8g_mr activation rows (x: A32 rows) */
  void (*q8g_pack)(const void *w, size_t w_stride, int nr, int64_t K, uint8_t *panel);
  void (*q8g)(int64_t K, const uint8_t *panel, const void *x, size_t x_stride, int mr, float *y, size_t y_stride,
              int nr, const float *bias);
  int q8g_mr, q8g_nr;

  /* rows, F32 unless named */
  void (*add)(const float *a, const float *b, float *y, int64_t n);
  void (*mul)(const float *a, const float *b, float *y, int64_t n);
  void (*scale)(const float *x, float s, float *y, int64_t n);
  void (*unary)(int op, const float *x, float *y, int64_t n); /* kern_unary_op */
  void (*swiglu)(const float *g, const float *u, float *y, int64_t n);
  void (*softmax)(const float *x, float *y, int64_t n, float scale);
  void (*layernorm)(const float *x, float *y, int64_t n, const float *g, const float *b, float eps);
  void (*rmsnorm)(const float *x, float *y, int64_t n, const float *g, float eps);
  int64_t (*argmax)(const float *x, int64_t n, float *max_out);

  /* conversions (exact: the same results as kern-type.c) */
  void (*f16_to_f32)(const uint16_t *x, float *y, int64_t n);
  void (*bf16_to_f32)(const uint16_t *x, float *y, int64_t n);
  void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
  void (*f32_to_bf16)(const float *x, uint16_t *y, int64_t n);

  /* attention: rows vectorized over the head dimension (few query rows), or
   * a tile of up to 64 rows vectorized over the rows (streaming softmax) */
  void (*attn_rows)(const kern_attn_task *t); /* n_rows <= KERN_ATTN_ROWS */
  void (*attn_tile)(const kern_attn_task *t); /* n_rows <= attn_tile_rows */
  int attn_tile_rows;
} kern_cpu_kernels;

/* Fillers, one per instruction set. Each sets what it implements and leaves
 * the rest as it was, so a table is built generic -> avx2 -> avx512. */
/* Bytes of one packed Q8_0 panel (q8g_pack) of K values per row. */
static inline size_t
kern_q8g_panel_size(int64_t K, int nr)
{
  return (size_t)(K / 32) * ((size_t)nr * 32 + (size_t)nr * sizeof(float));
}

void _kern_cpu_kernels_generic(kern_cpu_kernels *t);
#if defined(__x86_64__)
void _kern_cpu_kernels_avx2(kern_cpu_kernels *t);
void _kern_cpu_kernels_avx512(kern_cpu_kernels *t);
#endif

/* The generic quantized dots and activation quantizers, also used by the
 * SIMD files as the reference for what they compute. */
void _kern_cpu_act_quant_a32_generic(const float *x, int64_t K, uint8_t *dst);
void _kern_cpu_act_quant_a256_generic(const float *x, int64_t K, uint8_t *dst);
