/* kern-cuda-matmul.cu: y[N, M] = x[K, M] . w[K, N]^T (+ bias) on the GPU.
 *
 * Paths, by weight type and batch size M (rows of x):
 *   F32            cublasSgemm, FP32 math (no TF32): matches the double
 *                  reference to ~1e-12 NMSE.
 *   F16 / BF16     M <= 8: matvec16_kernel, one warp per output row, f32 x
 *                  and f32 sums (one pass over the weights, x exact).
 *                  M > 8: x converted to the weight type, cublasGemmEx with
 *                  FP32 accumulation.
 *   quantized      M <= 8: x quantized to int8 per 32 values (q8_1 style,
 *                  float scale), then mmvq_kernel: one warp per output row,
 *                  each lane decodes 8 weights at a time and does __dp4a
 *                  against every one of the M rows of x, so the weights are
 *                  read once. M > 8: weight tiles dequantized to F16 (at most
 *                  KC_TILE_BYTES per tile, chunked over N), x to F16, then
 *                  cublasGemmEx with FP32 accumulation.
 * Bias: fused into the matrix-vector kernels, a broadcast add after cuBLAS.
 */
#include <limits.h>
#include <math.h>

#include "kern-cuda-common.cuh"
#include "kern-cuda-quant.cuh"

/* Matrix-vector kernels take up to this many rows of x at once. */
#define MMV_MAX_M 8
/* Warps per block of the matrix-vector kernels (one output row each). */
#define MMV_WARPS 4

/* ---- x to int8 ------------------------------------------------------------- */

/* One warp per 32 values of x (blocks never straddle rows: K % 32 == 0):
 * d = max|x| / 127, q = round(x / d). xq: (M, K) int8; xd: (M, K/32) scales. */
__global__ void
quantize_x_q8_kernel(const float *__restrict__ x, int8_t *__restrict__ xq, float *__restrict__ xd, int64_t nblk)
{
  const int lane = threadIdx.x % KC_WARP;
  const int64_t b = (int64_t)blockIdx.x * (blockDim.x / KC_WARP) + threadIdx.x / KC_WARP;
  if (b >= nblk)
    return; /* whole warp */
  const float v = x[b * KC_WARP + lane];
  const float amax = kc_warp_max(fabsf(v));
  const float d = amax / 127.0f;
  int q = d > 0.0f ? __float2int_rn(v / d) : 0;
  q = q < -127 ? -127 : q > 127 ? 127 : q;
  xq[b * KC_WARP + lane] = (int8_t)q;
  if (lane == 0)
    xd[b] = d;
}

/* One warp per output row n; lanes stride over the units of the row. xq/xd
 * from quantize_x_q8_kernel; y: (M, N); bias: NULL or (N). Grid:
 * ceil(N / MMV_WARPS) blocks of MMV_WARPS warps. */
template <int T>
__global__ void
mmvq_kernel(const uint8_t *__restrict__ w, size_t row_bytes, const int8_t *__restrict__ xq,
            const float *__restrict__ xd, const float *__restrict__ bias, float *__restrict__ y, int K, int N, int M)
{
  using Q = kc_qt<T>;
  const int lane = threadIdx.x % KC_WARP;
  const int64_t n = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / KC_WARP;
  if (n >= N)
    return; /* whole warp */
  const uint8_t *wrow = w + (size_t)n * row_bytes;
  const int nxb = K / KERN_QK;           /* x blocks per row of x */
  const int units = (K / Q::QK) * Q::UNITS; /* units per row of w */

  float acc[MMV_MAX_M];
#pragma unroll
  for (int m = 0; m < MMV_MAX_M; m++)
    acc[m] = 0.0f;

  for (int u = lane; u < units; u += KC_WARP) {
    const int ib = u / Q::UNITS;
    kc_unit p;
    Q::decode(wrow + (size_t)ib * Q::SIZE, u % Q::UNITS, p);
    const int xb0 = ib * (Q::QK / KERN_QK); /* first x block under this weight block */
#pragma unroll
    for (int m = 0; m < MMV_MAX_M; m++) {
      if (m >= M)
        break;
      const int *xi = (const int *)(xq + (size_t)m * K) + (size_t)xb0 * (KERN_QK / 4);
      const float *xs = xd + (size_t)m * nxb + xb0;
#pragma unroll
      for (int g = 0; g < 2; g++) {
        const int xv = xi[p.xi[g]];
        float t = p.a[g] * (float)__dp4a(p.w[g], xv, 0);
        if (Q::HAS_B)
          t += p.b[g] * (float)__dp4a(0x01010101, xv, 0);
        acc[m] += xs[p.xb[g]] * t;
      }
    }
  }

#pragma unroll
  for (int m = 0; m < MMV_MAX_M; m++) {
    if (m >= M)
      break;
    const float s = kc_warp_sum(acc[m]);
    if (lane == 0)
      y[(size_t)m * N + n] = s + (bias ? bias[n] : 0.0f);
  }
}

/* ---- F16 / BF16 weights, small M ------------------------------------------ */

static __device__ __forceinline__ float kc_to_float(__half v) { return __half2float(v); }
static __device__ __forceinline__ float kc_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
static __device__ __forceinline__ float2 kc_to_float2(__half2 v) { return __half22float2(v); }
static __device__ __forceinline__ float2 kc_to_float2(__nv_bfloat162 v) { return __bfloat1622float2(v); }

/* One warp per output row; T2 is the two-value vector of T, used when K is
 * even and the rows are 4-byte aligned (PAIRS), else one value per lane. */
template <typename T, typename T2, bool PAIRS>
__global__ void
matvec16_kernel(const T *__restrict__ w, const float *__restrict__ x, const float *__restrict__ bias,
                float *__restrict__ y, int K, int N, int M)
{
  const int lane = threadIdx.x % KC_WARP;
  const int64_t n = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / KC_WARP;
  if (n >= N)
    return;
  float acc[MMV_MAX_M];
#pragma unroll
  for (int m = 0; m < MMV_MAX_M; m++)
    acc[m] = 0.0f;

  if (PAIRS) {
    const T2 *wr = (const T2 *)(w + (size_t)n * K);
    for (int k2 = lane; k2 < K / 2; k2 += KC_WARP) {
      const float2 wv = kc_to_float2(wr[k2]);
#pragma unroll
      for (int m = 0; m < MMV_MAX_M; m++) {
        if (m >= M)
          break;
        const float2 xv = ((const float2 *)(x + (size_t)m * K))[k2];
        acc[m] += wv.x * xv.x + wv.y * xv.y;
      }
    }
  } else {
    const T *wr = w + (size_t)n * K;
    for (int k = lane; k < K; k += KC_WARP) {
      const float wv = kc_to_float(wr[k]);
#pragma unroll
      for (int m = 0; m < MMV_MAX_M; m++) {
        if (m >= M)
          break;
        acc[m] += wv * x[(size_t)m * K + k];
      }
    }
  }

#pragma unroll
  for (int m = 0; m < MMV_MAX_M; m++) {
    if (m >= M)
      break;
    const float s = kc_warp_sum(acc[m]);
    if (lane == 0)
      y[(size_t)m * N + n] = s + (bias ? bias[n] : 0.0f);
  }
}

/* ---- weight tiles to F16 ------------------------------------------------------ */

/* out (nrows, K) F16 = rows n0 .. n0+nrows of w, dequantized. Grid-stride. */
__global__ void
dequant_rows_f16_kernel(const uint8_t *__restrict__ w, size_t row_bytes, int type, __half *__restrict__ out,
                        int64_t n0, int64_t nrows, int64_t K)
{
  const int64_t total = nrows * K;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / K, c = i % K;
    out[i] = __float2half_rn(kc_dequant(type, w + (size_t)(n0 + r) * row_bytes, c));
  }
}

/* ---- host side ------------------------------------------------------------------ */

int
_kern_cuda_gemm_f32(kern_backend_t be, float *y, const float *w, const float *x, int64_t M, int64_t N, int64_t K)
{
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "matmul: dimensions beyond cuBLAS's int range");
  const float one = 1.0f, zero = 0.0f;
  /* Column-major view: w is K x N (ld K), x is K x M (ld K), y is N x M (ld N): y = w^T x. */
  CUBLAS_TRY(cublasSgemm(kern_cuda_ctx_of(be)->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, w,
                         (int)K, x, (int)K, &zero, y, (int)N));
  return 0;
}

/* y[M, N] (ldc N, starting at column n0 of the row) = x16[K, M] . w16[K, nc]^T, FP32 accumulation. */
static int
gemm_16(kern_backend_t be, float *y, int64_t ldy, const void *w16, const void *x16, cudaDataType_t type, int64_t M,
        int64_t nc, int64_t K)
{
  const float one = 1.0f, zero = 0.0f;
  CUBLAS_TRY(cublasGemmEx(kern_cuda_ctx_of(be)->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nc, (int)M, (int)K, &one, w16,
                          type, (int)K, x16, type, (int)K, &zero, y, CUDA_R_32F, (int)ldy, CUBLAS_COMPUTE_32F,
                          CUBLAS_GEMM_DEFAULT));
  return 0;
}

template <int T>
static int
launch_mmvq(kern_backend_t be, const void *w, size_t row_bytes, const int8_t *xq, const float *xd, const float *bias,
            float *y, int K, int N, int M)
{
  const unsigned grid = (unsigned)kc_ceil_div(N, MMV_WARPS);
  mmvq_kernel<T><<<grid, MMV_WARPS * KC_WARP, 0, kern_cuda_ctx_of(be)->stream>>>(
      (const uint8_t *)w, row_bytes, xq, xd, bias, y, K, N, M);
  CUDA_CHECK_LAUNCH("mmvq_kernel");
  return 0;
}

/* Quantized weights, M <= MMV_MAX_M. */
static int
matmul_quant_vec(kern_backend_t be, float *y, const kern_tensor *w, const float *x, const float *bias, int64_t M,
                 int64_t N, int64_t K)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  const int64_t nblk = M * K / KERN_QK;
  const size_t xq_bytes = kc_align_up((size_t)(M * K), 256);
  void *ws;
  int rc = _kern_cuda_workspace(be, xq_bytes + (size_t)nblk * sizeof(float), &ws);
  if (rc)
    return rc;
  int8_t *xq = (int8_t *)ws;                       /* (M, K) */
  float *xd = (float *)((char *)ws + xq_bytes);    /* (M, K/32) */
  const int warps_per_block = 8;
  quantize_x_q8_kernel<<<(unsigned)kc_ceil_div(nblk, warps_per_block), warps_per_block * KC_WARP, 0, ctx->stream>>>(
      x, xq, xd, nblk);
  CUDA_CHECK_LAUNCH("quantize_x_q8_kernel");

  const size_t rb = kc_row_bytes(w->type, K);
  const int k = (int)K, n = (int)N, m = (int)M;
  switch (w->type) {
  case KERN_TYPE_Q4_0: return launch_mmvq<KERN_TYPE_Q4_0>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q4_1: return launch_mmvq<KERN_TYPE_Q4_1>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q5_0: return launch_mmvq<KERN_TYPE_Q5_0>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q5_1: return launch_mmvq<KERN_TYPE_Q5_1>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q8_0: return launch_mmvq<KERN_TYPE_Q8_0>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q8_1: return launch_mmvq<KERN_TYPE_Q8_1>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q2_K: return launch_mmvq<KERN_TYPE_Q2_K>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q3_K: return launch_mmvq<KERN_TYPE_Q3_K>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q4_K: return launch_mmvq<KERN_TYPE_Q4_K>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q5_K: return launch_mmvq<KERN_TYPE_Q5_K>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  case KERN_TYPE_Q6_K: return launch_mmvq<KERN_TYPE_Q6_K>(be, w->data, rb, xq, xd, bias, y, k, n, m);
  default: return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "matmul: no CUDA kernel for weight type %d", w->type);
  }
}

/* Quantized weights, M > MMV_MAX_M: F16 tiles of w and cuBLAS. */
static int
matmul_quant_gemm(kern_backend_t be, float *y, const kern_tensor *w, const float *x, int64_t M, int64_t N, int64_t K)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  int64_t nc = (int64_t)(KC_TILE_BYTES / ((size_t)K * sizeof(__half))); /* weight rows per tile */
  if (nc < 1)
    nc = 1;
  if (nc > N)
    nc = N;
  const size_t x16_bytes = kc_align_up((size_t)(M * K) * sizeof(__half), 256);
  void *ws;
  int rc = _kern_cuda_workspace(be, x16_bytes + (size_t)(nc * K) * sizeof(__half), &ws);
  if (rc)
    return rc;
  __half *x16 = (__half *)ws;                          /* (M, K) */
  __half *tile = (__half *)((char *)ws + x16_bytes);   /* (nc, K) */
  if ((rc = _kern_cuda_convert(be, x16, KERN_TYPE_F16, x, KERN_TYPE_F32, M * K)) != 0)
    return rc;
  const size_t rb = kc_row_bytes(w->type, K);
  for (int64_t n0 = 0; n0 < N; n0 += nc) {
    const int64_t rows = N - n0 < nc ? N - n0 : nc;
    dequant_rows_f16_kernel<<<kc_grid_1d(rows * K, 256), 256, 0, ctx->stream>>>((const uint8_t *)w->data, rb,
                                                                                w->type, tile, n0, rows, K);
    CUDA_CHECK_LAUNCH("dequant_rows_f16_kernel");
    if ((rc = gemm_16(be, y + n0, N, tile, x16, CUDA_R_16F, M, rows, K)) != 0)
      return rc;
  }
  return 0;
}

/* F16 / BF16 weights. */
static int
matmul_half(kern_backend_t be, float *y, const kern_tensor *w, const float *x, const float *bias, int64_t M, int64_t N,
            int64_t K, int *bias_done)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  const int is_bf16 = w->type == KERN_TYPE_BF16;
  if (M <= MMV_MAX_M) {
    const int pairs = K % 2 == 0 && (uintptr_t)w->data % 4 == 0 && (uintptr_t)x % 8 == 0;
    const unsigned grid = (unsigned)kc_ceil_div(N, MMV_WARPS);
    const int block = MMV_WARPS * KC_WARP, k = (int)K, n = (int)N, m = (int)M;
    if (is_bf16 && pairs)
      matvec16_kernel<__nv_bfloat16, __nv_bfloat162, true>
          <<<grid, block, 0, ctx->stream>>>((const __nv_bfloat16 *)w->data, x, bias, y, k, n, m);
    else if (is_bf16)
      matvec16_kernel<__nv_bfloat16, __nv_bfloat162, false>
          <<<grid, block, 0, ctx->stream>>>((const __nv_bfloat16 *)w->data, x, bias, y, k, n, m);
    else if (pairs)
      matvec16_kernel<__half, __half2, true><<<grid, block, 0, ctx->stream>>>((const __half *)w->data, x, bias, y, k,
                                                                              n, m);
    else
      matvec16_kernel<__half, __half2, false><<<grid, block, 0, ctx->stream>>>((const __half *)w->data, x, bias, y, k,
                                                                               n, m);
    CUDA_CHECK_LAUNCH("matvec16_kernel");
    *bias_done = 1;
    return 0;
  }
  void *x16;
  int rc = _kern_cuda_workspace(be, (size_t)(M * K) * sizeof(__half), &x16); /* (M, K) */
  if (rc)
    return rc;
  if ((rc = _kern_cuda_convert(be, x16, w->type, x, KERN_TYPE_F32, M * K)) != 0)
    return rc;
  return gemm_16(be, y, N, w->data, x16, is_bf16 ? CUDA_R_16BF : CUDA_R_16F, M, N, K);
}

int
_kern_cuda_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x,
                  const kern_tensor *bias)
{
  CUDA_BEGIN(be);
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  const int64_t K = w->ne[0], N = kc_nrows(w), M = kc_nrows(x);
  if (K > INT_MAX || N > INT_MAX || M > INT_MAX)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "matmul: dimensions beyond the CUDA kernels' int range");
  float *yd = (float *)y->data;                          /* (M, N) */
  const float *xd = (const float *)x->data;              /* (M, K) */
  const float *bd = bias ? (const float *)bias->data : NULL; /* (N) */
  int bias_done = 0, rc;

  switch (w->type) {
  case KERN_TYPE_F32:
  case KERN_TYPE_F16:
  case KERN_TYPE_BF16:
    /* cuBLAS SGEMM and the matrix-vector kernel read x while writing y; if they
     * alias (allowed when N == K), they read a copy. The F16/BF16 GEMM path
     * converts x into the workspace first and never reads x afterwards. */
    if ((w->type == KERN_TYPE_F32 || M <= MMV_MAX_M) && kc_overlaps(y->data, y->nbytes, x->data, x->nbytes)) {
      void *copy;
      if ((rc = _kern_cuda_workspace(be, x->nbytes, &copy)) != 0)
        return rc;
      CUDA_TRY(cudaMemcpyAsync(copy, x->data, x->nbytes, cudaMemcpyDeviceToDevice, ctx->stream));
      xd = (const float *)copy;
    }
    if (w->type == KERN_TYPE_F32)
      rc = _kern_cuda_gemm_f32(be, yd, (const float *)w->data, xd, M, N, K);
    else
      rc = matmul_half(be, yd, w, xd, bd, M, N, K, &bias_done);
    break;
  default:
    /* x is read into the workspace (int8 or F16) before y is written: aliasing is fine. */
    if (M <= MMV_MAX_M) {
      rc = matmul_quant_vec(be, yd, w, xd, bd, M, N, K);
      bias_done = 1;
    } else {
      rc = matmul_quant_gemm(be, yd, w, xd, M, N, K);
    }
    break;
  }
  if (rc == 0 && bd && !bias_done)
    rc = _kern_cuda_add_bias(be, yd, bd, M, N);
  return rc;
}
