/* kern-cuda-common.cuh: what every file of the CUDA backend shares.
 *
 * The backend state (device, stream, cuBLAS handle, workspace), the error
 * macros, launch-shape helpers, warp/block reductions and the block geometry
 * of each tensor type. The module is loaded with dlopen(RTLD_LOCAL) and cannot
 * call into the kernels library, so it carries its own copies of the small
 * helpers it needs (error recording, type sizes).
 *
 * Threads: one host thread at a time per backend; every entry point selects
 * the backend's device first (the calling thread may change between calls).
 */
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "kern-backend-impl.h"
#include "kern-quant.h"

/* ---- backend state ------------------------------------------------------ */

struct kern_cuda_ctx {
  int device;
  cudaStream_t stream;         /* non-blocking; every kernel and copy goes here */
  cublasHandle_t cublas;       /* bound to stream, default (FP32, no TF32) math */
  void *ws;                    /* workspace, grown on demand, reused by every op */
  size_t ws_size;
  unsigned long long *flag;    /* device word for data-dependent errors (get_rows ids) */
};

static inline kern_cuda_ctx *
kern_cuda_ctx_of(kern_backend_t be)
{
  return (kern_cuda_ctx *)be->ctx;
}

/* Records "fmt..." in be->errmsg and returns code (module-local copy of
 * _kern_backend_error, which the module cannot call). */
int _kern_cuda_error(kern_backend_t be, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Both macros need `be` in scope. They record "file:line: call: error" and
 * return KERN_E_DEVICE from the calling function; nothing here exits. A failed
 * call's error is also cleared from the runtime's last-error slot so that a
 * later launch check does not report it a second time. */
#define CUDA_TRY(call)                                                                                 \
  do {                                                                                                 \
    cudaError_t err_ = (call);                                                                         \
    if (err_ != cudaSuccess) {                                                                         \
      (void)cudaGetLastError();                                                                        \
      return _kern_cuda_error(be, KERN_E_DEVICE, "%s:%d: %s: %s", __FILE__, __LINE__, #call,           \
                              cudaGetErrorString(err_));                                               \
    }                                                                                                  \
  } while (0)

#define CUBLAS_TRY(call)                                                                               \
  do {                                                                                                 \
    cublasStatus_t st_ = (call);                                                                       \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                                  \
      return _kern_cuda_error(be, KERN_E_DEVICE, "%s:%d: %s: %s", __FILE__, __LINE__, #call,           \
                              cublasGetStatusString(st_));                                             \
  } while (0)

/* After every <<<...>>> launch: reports a bad configuration or a missing
 * kernel image with the kernel's name. */
#define CUDA_CHECK_LAUNCH(name)                                                                        \
  do {                                                                                                 \
    cudaError_t err_ = cudaGetLastError();                                                             \
    if (err_ != cudaSuccess)                                                                           \
      return _kern_cuda_error(be, KERN_E_DEVICE, "%s:%d: launch of %s: %s", __FILE__, __LINE__, name, \
                              cudaGetErrorString(err_));                                               \
  } while (0)

/* First thing in every entry point: the device of this backend, on the calling thread. */
#define CUDA_BEGIN(be) CUDA_TRY(cudaSetDevice(kern_cuda_ctx_of(be)->device))

/* A device buffer of at least `size` bytes, valid until the next op (ops run
 * in stream order, so consecutive ops may reuse it). Grows by reallocating
 * after a stream sync. Returns 0 or KERN_E_DEVICE (out of GPU memory). */
int _kern_cuda_workspace(kern_backend_t be, size_t size, void **out);

/* cudaMalloc with the "out of GPU memory: N MiB requested, M MiB free" message. */
int _kern_cuda_malloc(kern_backend_t be, void **ptr, size_t size);

/* ---- launch shapes ------------------------------------------------------ */

#define KC_WARP 32
#define KC_FULL_MASK 0xffffffffu
/* Cap on 1-D grids; kernels launched with it loop (grid-stride) over the rest. */
#define KC_MAX_GRID ((int64_t)1 << 20)
/* Bounded scratch for weight tiles and im2col chunks. */
#define KC_TILE_BYTES ((size_t)64 << 20)

static inline int64_t
kc_ceil_div(int64_t a, int64_t b)
{
  return (a + b - 1) / b;
}

static inline size_t
kc_align_up(size_t n, size_t a)
{
  return (n + a - 1) / a * a;
}

/* Blocks for a grid-stride loop over n items with `threads` per block. */
static inline unsigned
kc_grid_1d(int64_t n, int threads)
{
  int64_t g = kc_ceil_div(n, threads);
  if (g < 1)
    g = 1;
  return (unsigned)(g < KC_MAX_GRID ? g : KC_MAX_GRID);
}

/* Blocks for a block-per-row kernel that loops over rows past the cap. */
static inline unsigned
kc_grid_rows(int64_t rows)
{
  return (unsigned)(rows < 1 ? 1 : rows < KC_MAX_GRID ? rows : KC_MAX_GRID);
}

/* Threads for a block-per-row kernel: a multiple of 32, no more than needed. */
static inline int
kc_row_threads(int64_t n, int max_threads)
{
  int64_t t = kc_ceil_div(n, KC_WARP) * KC_WARP;
  return (int)(t < max_threads ? t : max_threads);
}

/* Whether two byte ranges overlap (an output that aliases an input). */
static inline int
kc_overlaps(const void *a, size_t na, const void *b, size_t nb)
{
  const char *pa = (const char *)a, *pb = (const char *)b;
  return pa < pb + nb && pb < pa + na;
}

/* Element and row counts (kern_tensor_nel/_nrows live in the kernels library). */
static inline int64_t
kc_nel(const kern_tensor *t)
{
  return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

static inline int64_t
kc_nrows(const kern_tensor *t)
{
  return t->ne[1] * t->ne[2] * t->ne[3];
}

/* ---- types ---------------------------------------------------------------- */

/* Values per block and bytes per block of `type` (kern-type.c's traits, which
 * the module cannot call); 0 for an unknown type. */
static inline __host__ __device__ int
kc_type_geometry(int type, int *block_size, int *type_size)
{
  int bs = 1, ts = 0;
  switch (type) {
  case KERN_TYPE_F32: ts = 4; break;
  case KERN_TYPE_F16: ts = 2; break;
  case KERN_TYPE_BF16: ts = 2; break;
  case KERN_TYPE_F64: ts = 8; break;
  case KERN_TYPE_I8: ts = 1; break;
  case KERN_TYPE_I16: ts = 2; break;
  case KERN_TYPE_I32: ts = 4; break;
  case KERN_TYPE_I64: ts = 8; break;
  case KERN_TYPE_Q4_0: bs = KERN_QK, ts = (int)sizeof(kern_block_q4_0); break;
  case KERN_TYPE_Q4_1: bs = KERN_QK, ts = (int)sizeof(kern_block_q4_1); break;
  case KERN_TYPE_Q5_0: bs = KERN_QK, ts = (int)sizeof(kern_block_q5_0); break;
  case KERN_TYPE_Q5_1: bs = KERN_QK, ts = (int)sizeof(kern_block_q5_1); break;
  case KERN_TYPE_Q8_0: bs = KERN_QK, ts = (int)sizeof(kern_block_q8_0); break;
  case KERN_TYPE_Q8_1: bs = KERN_QK, ts = (int)sizeof(kern_block_q8_1); break;
  case KERN_TYPE_Q2_K: bs = KERN_QK_K, ts = (int)sizeof(kern_block_q2_K); break;
  case KERN_TYPE_Q3_K: bs = KERN_QK_K, ts = (int)sizeof(kern_block_q3_K); break;
  case KERN_TYPE_Q4_K: bs = KERN_QK_K, ts = (int)sizeof(kern_block_q4_K); break;
  case KERN_TYPE_Q5_K: bs = KERN_QK_K, ts = (int)sizeof(kern_block_q5_K); break;
  case KERN_TYPE_Q6_K: bs = KERN_QK_K, ts = (int)sizeof(kern_block_q6_K); break;
  case KERN_TYPE_Q8_K: bs = KERN_QK_K, ts = (int)sizeof(kern_block_q8_K); break;
  default: return 0;
  }
  if (block_size)
    *block_size = bs;
  if (type_size)
    *type_size = ts;
  return 1;
}

/* Bytes of one row of n values (n a multiple of the block size, as
 * kern-backend.c guarantees for every tensor). */
static inline size_t
kc_row_bytes(int type, int64_t n)
{
  int bs = 1, ts = 0;
  if (!kc_type_geometry(type, &bs, &ts))
    return 0;
  return (size_t)(n / bs) * (size_t)ts;
}

/* ---- reductions ------------------------------------------------------------ */

static __device__ __forceinline__ float
kc_warp_sum(float v)
{
#pragma unroll
  for (int off = KC_WARP / 2; off > 0; off /= 2)
    v += __shfl_xor_sync(KC_FULL_MASK, v, off);
  return v;
}

static __device__ __forceinline__ float
kc_warp_max(float v)
{
#pragma unroll
  for (int off = KC_WARP / 2; off > 0; off /= 2)
    v = fmaxf(v, __shfl_xor_sync(KC_FULL_MASK, v, off));
  return v;
}

/* Block-wide sum / max; every thread of the block must call it (blockDim.x a
 * multiple of 32, at most 1024) and gets the result. `scratch` holds 32 floats
 * in shared memory; the leading barrier lets the caller reuse it back to back. */
static __device__ __forceinline__ float
kc_block_sum(float v, float *scratch)
{
  int lane = threadIdx.x % KC_WARP, warp = threadIdx.x / KC_WARP, nwarps = blockDim.x / KC_WARP;
  v = kc_warp_sum(v);
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.0f;
  return kc_warp_sum(v);
}

static __device__ __forceinline__ float
kc_block_max(float v, float *scratch)
{
  int lane = threadIdx.x % KC_WARP, warp = threadIdx.x / KC_WARP, nwarps = blockDim.x / KC_WARP;
  v = kc_warp_max(v);
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  return kc_warp_max(v);
}

/* ---- ops (one file each group; all take arguments checked by kern-backend.c) --- */

int _kern_cuda_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x,
                      const kern_tensor *bias);
int _kern_cuda_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
int _kern_cuda_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
int _kern_cuda_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s);
int _kern_cuda_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
                         const kern_tensor *beta, float eps);
int _kern_cuda_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps);
int _kern_cuda_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op);
int _kern_cuda_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up);
int _kern_cuda_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale);
int _kern_cuda_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos,
                    const kern_rope_params *p);
int _kern_cuda_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w,
                      const kern_tensor *bias, int stride, int pad);
int _kern_cuda_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                           const kern_tensor *bias);
int _kern_cuda_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids);
int _kern_cuda_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k,
                         const kern_tensor *v, float scale, int causal, int64_t pos0);
int _kern_cuda_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src);
int _kern_cuda_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x);
int _kern_cuda_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k);

/* Shared building blocks (kern-cuda-ops.cu, kern-cuda-matmul.cu). */

/* y[rows, n] += bias[n] (broadcast add, in place). */
int _kern_cuda_add_bias(kern_backend_t be, float *y, const float *bias, int64_t rows, int64_t n);
/* Converts n values between F32, F16 and BF16 (round to nearest even). */
int _kern_cuda_convert(kern_backend_t be, void *dst, int dst_type, const void *src, int src_type, int64_t n);
/* y[M, N] = x[K, M] . w[K, N]^T in full FP32 (cublasSgemm, no TF32). x must not alias y. */
int _kern_cuda_gemm_f32(kern_backend_t be, float *y, const float *w, const float *x, int64_t M, int64_t N,
                        int64_t K);
