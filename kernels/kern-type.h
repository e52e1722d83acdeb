/* kern-type.h: element types of tensors, and conversion between them.
 *
 * The numeric values are the GGML type ids that GGUF files store, so a type
 * read from a file maps onto this enum without a table. Block-quantized types
 * pack `block_size` values into `type_size` bytes with the exact bit layouts of
 * the GGUF specification (see kern-quant.h for the block structs).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef enum {
  KERN_TYPE_F32 = 0,
  KERN_TYPE_F16 = 1,
  KERN_TYPE_Q4_0 = 2,
  KERN_TYPE_Q4_1 = 3,
  KERN_TYPE_Q5_0 = 6,
  KERN_TYPE_Q5_1 = 7,
  KERN_TYPE_Q8_0 = 8,
  KERN_TYPE_Q8_1 = 9,
  KERN_TYPE_Q2_K = 10,
  KERN_TYPE_Q3_K = 11,
  KERN_TYPE_Q4_K = 12,
  KERN_TYPE_Q5_K = 13,
  KERN_TYPE_Q6_K = 14,
  KERN_TYPE_Q8_K = 15,
  KERN_TYPE_I8 = 24,
  KERN_TYPE_I16 = 25,
  KERN_TYPE_I32 = 26,
  KERN_TYPE_I64 = 27,
  KERN_TYPE_F64 = 28,
  KERN_TYPE_BF16 = 30,
  KERN_TYPE_COUNT = 31, /* one past the largest id; ids in between are not supported */
} kern_type;

#define KERN_QK 32   /* values per block of the legacy formats (Q4_0 ... Q8_1) */
#define KERN_QK_K 256 /* values per super-block of the k-quants */

typedef struct {
  const char *name;   /* "q4_K", as GGUF tools print it */
  int block_size;     /* values per block (1 for plain types) */
  size_t type_size;   /* bytes per block */
  int is_quantized;
} kern_type_traits;

/* Traits of t, or NULL when t is not a type Hark supports (an unknown id in a file). */
const kern_type_traits *kern_type_get_traits(int t);

/* The type named `name` ("f16", "q4_k", case-insensitive), or -1. */
int kern_type_from_name(const char *name);

/* Bytes that n values of type t occupy, or 0 when n is not a multiple of the
 * block size, t is unknown, or the size would overflow. */
size_t kern_type_row_size(int t, int64_t n);

/* Converts n values of type t at src to float32. n must be a multiple of the
 * block size. Returns 0, or KERN_E_INVAL (unknown type, bad n). Works for every
 * type with traits, quantized or not (integer types convert by value). */
int kern_dequantize_row(int t, const void *src, float *dst, int64_t n);

/* Encodes n float32 values as type t. Supported targets: F32, F16, BF16, Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K; others give
 * KERN_E_UNSUPPORTED. n must be a multiple of the block size. */
int kern_quantize_row(int t, const float *src, void *dst, int64_t n);

/* Whether kern_quantize_row can produce type t. */
int kern_type_can_quantize(int t);

/* IEEE half and bfloat16 conversions (round to nearest even, NaN kept NaN). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t b);
uint16_t kern_f32_to_bf16(float f);
