/* kern-quant.h: the block layouts of the GGUF quantized types.
 *
 * Shared by the C backends and the CUDA module (plain C, no functions), so one
 * definition serves every backend. Layouts and sizes follow the GGUF
 * specification byte for byte; the static asserts pin them.
 * `d`/`m` fields are IEEE half floats stored as uint16_t.
 */
#pragma once

#include <stdint.h>

#include "kern-type.h"

typedef struct {
  uint16_t d;              /* scale */
  uint8_t qs[KERN_QK / 2]; /* 4-bit values: low nibbles are 0..15, high nibbles 16..31; x = d * (q - 8) */
} kern_block_q4_0;

typedef struct {
  uint16_t d, m;           /* x = d * q + m */
  uint8_t qs[KERN_QK / 2];
} kern_block_q4_1;

typedef struct {
  uint16_t d;
  uint8_t qh[4];           /* fifth bit of each value, bit j for value j */
  uint8_t qs[KERN_QK / 2]; /* x = d * (q - 16) */
} kern_block_q5_0;

typedef struct {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[KERN_QK / 2]; /* x = d * q + m */
} kern_block_q5_1;

typedef struct {
  uint16_t d;
  int8_t qs[KERN_QK];      /* x = d * q */
} kern_block_q8_0;

typedef struct {
  uint16_t d;              /* scale */
  uint16_t s;              /* d * sum(qs) */
  int8_t qs[KERN_QK];
} kern_block_q8_1;

typedef struct {
  uint8_t scales[KERN_QK_K / 16]; /* low 4 bits scale, high 4 bits min, per 16 values */
  uint8_t qs[KERN_QK_K / 4];      /* 2-bit values */
  uint16_t d, dmin;               /* super-block scales for the scales and the mins */
} kern_block_q2_K;

typedef struct {
  uint8_t hmask[KERN_QK_K / 8];   /* high bit of each value (set means no -4 offset) */
  uint8_t qs[KERN_QK_K / 4];      /* low 2 bits */
  uint8_t scales[12];             /* 16 six-bit scales */
  uint16_t d;
} kern_block_q3_K;

typedef struct {
  uint16_t d, dmin;
  uint8_t scales[12];             /* 8 six-bit scales and 8 six-bit mins, packed */
  uint8_t qs[KERN_QK_K / 2];
} kern_block_q4_K;

typedef struct {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[KERN_QK_K / 8];
  uint8_t qs[KERN_QK_K / 2];
} kern_block_q5_K;

typedef struct {
  uint8_t ql[KERN_QK_K / 2];      /* low 4 bits */
  uint8_t qh[KERN_QK_K / 4];      /* high 2 bits */
  int8_t scales[KERN_QK_K / 16];
  uint16_t d;
} kern_block_q6_K;

typedef struct {
  float d;
  int8_t qs[KERN_QK_K];
  int16_t bsums[KERN_QK_K / 16];  /* sums of groups of 16 */
} kern_block_q8_K;

#ifdef __cplusplus
#define KERN_STATIC_ASSERT static_assert
#else
#define KERN_STATIC_ASSERT _Static_assert
#endif
KERN_STATIC_ASSERT(sizeof(kern_block_q4_0) == 18, "q4_0 layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q4_1) == 20, "q4_1 layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q5_0) == 22, "q5_0 layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q5_1) == 24, "q5_1 layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q8_0) == 34, "q8_0 layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q8_1) == 36, "q8_1 layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q2_K) == 84, "q2_K layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q3_K) == 110, "q3_K layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q4_K) == 144, "q4_K layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q5_K) == 176, "q5_K layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q6_K) == 210, "q6_K layout");
KERN_STATIC_ASSERT(sizeof(kern_block_q8_K) == 292, "q8_K layout");
