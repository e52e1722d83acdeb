/* kern-cuda-ops.cu: elementwise ops, row normalizations, softmax, rope,
 * conv1d, patch_embed, get_rows and copy on the GPU.
 *
 * Elementwise kernels are grid-stride loops over 64-bit indices (256 threads,
 * at most KC_MAX_GRID blocks). Row kernels use one block per row (32..256
 * threads, a multiple of 32) with warp-shuffle reductions, and loop over rows
 * past the grid cap. Everything is float32 with IEEE expf/erfcf/sqrtf (the
 * build has no fast-math), two-pass statistics for the norms, and double
 * precision only where float is not enough (rope angles at large positions).
 * Outputs may alias inputs where kern-backend.h allows it: every element is
 * read by the thread that writes it, after the row statistics are known.
 */
#include <limits.h>
#include <math.h>

#include "kern-cuda-common.cuh"
#include "kern-cuda-quant.cuh"

#define EW_THREADS 256

/* ---- elementwise ------------------------------------------------------------- */

/* y[i] = a[i] op b[i % nb] (b repeats over a's rows). */
template <bool MUL>
__global__ void
binary_kernel(float *y, const float *a, const float *__restrict__ b, int64_t n, int64_t nb)
{
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float bv = b[nb == n ? i : i % nb];
    y[i] = MUL ? a[i] * bv : a[i] + bv;
  }
}

__global__ void
scale_kernel(float *y, const float *x, float s, int64_t n)
{
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = x[i] * s;
}

static __device__ __forceinline__ float
kc_silu(float x)
{
  return x / (1.0f + expf(-x));
}

/* The activations of kern-cpu-ref.c, written to stay accurate in the tails:
 * 1 + erf(z) as erfc(-z), and 1 + tanh(u) as 2 / (1 + exp(-2u)). */
static __device__ __forceinline__ float
kc_unary(int op, float x)
{
  switch (op) {
  case KERN_UNARY_GELU: return 0.5f * x * erfcf(-x * 0.70710678118654752f);
  case KERN_UNARY_GELU_TANH: {
    const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x); /* sqrt(2/pi) (...) */
    return x / (1.0f + expf(-2.0f * u));
  }
  case KERN_UNARY_GELU_QUICK: return x / (1.0f + expf(-1.702f * x));
  case KERN_UNARY_SILU: return kc_silu(x);
  case KERN_UNARY_RELU: return x > 0.0f ? x : 0.0f;
  default: return x;
  }
}

__global__ void
unary_kernel(float *y, const float *x, int op, int64_t n)
{
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = kc_unary(op, x[i]);
}

__global__ void
swiglu_kernel(float *y, const float *g, const float *u, int64_t n)
{
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = kc_silu(g[i]) * u[i];
}

static int
binary(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b, bool mul)
{
  CUDA_BEGIN(be);
  const int64_t n = kc_nel(a), nb = kc_nel(b);
  cudaStream_t st = kern_cuda_ctx_of(be)->stream;
  if (mul)
    binary_kernel<true><<<kc_grid_1d(n, EW_THREADS), EW_THREADS, 0, st>>>((float *)y->data, (const float *)a->data,
                                                                          (const float *)b->data, n, nb);
  else
    binary_kernel<false><<<kc_grid_1d(n, EW_THREADS), EW_THREADS, 0, st>>>((float *)y->data, (const float *)a->data,
                                                                           (const float *)b->data, n, nb);
  CUDA_CHECK_LAUNCH("binary_kernel");
  return 0;
}

int
_kern_cuda_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  return binary(be, y, a, b, false);
}

int
_kern_cuda_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  return binary(be, y, a, b, true);
}

int
_kern_cuda_add_bias(kern_backend_t be, float *y, const float *bias, int64_t rows, int64_t n)
{
  const int64_t total = rows * n;
  binary_kernel<false><<<kc_grid_1d(total, EW_THREADS), EW_THREADS, 0, kern_cuda_ctx_of(be)->stream>>>(y, y, bias,
                                                                                                      total, n);
  CUDA_CHECK_LAUNCH("binary_kernel (bias)");
  return 0;
}

int
_kern_cuda_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s)
{
  CUDA_BEGIN(be);
  const int64_t n = kc_nel(x);
  scale_kernel<<<kc_grid_1d(n, EW_THREADS), EW_THREADS, 0, kern_cuda_ctx_of(be)->stream>>>(
      (float *)y->data, (const float *)x->data, s, n);
  CUDA_CHECK_LAUNCH("scale_kernel");
  return 0;
}

int
_kern_cuda_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op)
{
  CUDA_BEGIN(be);
  const int64_t n = kc_nel(x);
  unary_kernel<<<kc_grid_1d(n, EW_THREADS), EW_THREADS, 0, kern_cuda_ctx_of(be)->stream>>>(
      (float *)y->data, (const float *)x->data, (int)op, n);
  CUDA_CHECK_LAUNCH("unary_kernel");
  return 0;
}

int
_kern_cuda_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up)
{
  CUDA_BEGIN(be);
  const int64_t n = kc_nel(gate);
  swiglu_kernel<<<kc_grid_1d(n, EW_THREADS), EW_THREADS, 0, kern_cuda_ctx_of(be)->stream>>>(
      (float *)y->data, (const float *)gate->data, (const float *)up->data, n);
  CUDA_CHECK_LAUNCH("swiglu_kernel");
  return 0;
}

/* ---- row-wise: norms and softmax -------------------------------------------------- */

#define ROW_MAX_THREADS 256

/* Block per row of n values; two passes (mean, then sum of squared deviations). */
__global__ void
layernorm_kernel(float *y, const float *x, const float *__restrict__ gamma, const float *__restrict__ beta, float eps,
                 int64_t n, int64_t rows)
{
  __shared__ float scratch[KC_WARP];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      s += xr[i];
    const float mean = kc_block_sum(s, scratch) / (float)n;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float d = xr[i] - mean;
      v += d * d;
    }
    const float var = kc_block_sum(v, scratch) / (float)n;
    const float inv = 1.0f / sqrtf(var + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      float o = (xr[i] - mean) * inv;
      if (gamma)
        o *= gamma[i];
      if (beta)
        o += beta[i];
      yr[i] = o;
    }
  }
}

__global__ void
rmsnorm_kernel(float *y, const float *x, const float *__restrict__ gamma, float eps, int64_t n, int64_t rows)
{
  __shared__ float scratch[KC_WARP];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      s += xr[i] * xr[i];
    const float inv = 1.0f / sqrtf(kc_block_sum(s, scratch) / (float)n + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      yr[i] = gamma ? xr[i] * inv * gamma[i] : xr[i] * inv;
  }
}

/* y = softmax(scale * x) per row: max pass, sum pass, write pass. */
__global__ void
softmax_kernel(float *y, const float *x, float scale, int64_t n, int64_t rows)
{
  __shared__ float scratch[KC_WARP];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      mx = fmaxf(mx, xr[i] * scale);
    mx = kc_block_max(mx, scratch);
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      s += expf(xr[i] * scale - mx);
    const float inv = 1.0f / kc_block_sum(s, scratch);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      yr[i] = expf(xr[i] * scale - mx) * inv;
  }
}

int
_kern_cuda_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
                     const kern_tensor *beta, float eps)
{
  CUDA_BEGIN(be);
  const int64_t n = x->ne[0], rows = kc_nrows(x);
  layernorm_kernel<<<kc_grid_rows(rows), kc_row_threads(n, ROW_MAX_THREADS), 0, kern_cuda_ctx_of(be)->stream>>>(
      (float *)y->data, (const float *)x->data, gamma ? (const float *)gamma->data : NULL,
      beta ? (const float *)beta->data : NULL, eps, n, rows);
  CUDA_CHECK_LAUNCH("layernorm_kernel");
  return 0;
}

int
_kern_cuda_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps)
{
  CUDA_BEGIN(be);
  const int64_t n = x->ne[0], rows = kc_nrows(x);
  rmsnorm_kernel<<<kc_grid_rows(rows), kc_row_threads(n, ROW_MAX_THREADS), 0, kern_cuda_ctx_of(be)->stream>>>(
      (float *)y->data, (const float *)x->data, gamma ? (const float *)gamma->data : NULL, eps, n, rows);
  CUDA_CHECK_LAUNCH("rmsnorm_kernel");
  return 0;
}

int
_kern_cuda_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale)
{
  CUDA_BEGIN(be);
  const int64_t n = x->ne[0], rows = kc_nrows(x);
  softmax_kernel<<<kc_grid_rows(rows), kc_row_threads(n, ROW_MAX_THREADS), 0, kern_cuda_ctx_of(be)->stream>>>(
      (float *)y->data, (const float *)x->data, scale, n, rows);
  CUDA_CHECK_LAUNCH("softmax_kernel");
  return 0;
}

/* ---- rope ----------------------------------------------------------------------- */

/* One thread per (position t, pair i): the angle once, then every head.
 * theta = pos * freq_scale * base^(-2i/n_rot) / ff[i] in double, as the
 * reference: at positions near 131072 a float angle is off by ~1e-2 rad. */
__global__ void
rope_kernel(float *y, const float *x, const int32_t *__restrict__ pos, const float *__restrict__ ff, int64_t hd,
            int64_t nh, int64_t T, int n_rot, int neox, float base, float freq_scale)
{
  const int npair = n_rot / 2;
  const int64_t total = T * npair;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = idx / npair;
    const int i = (int)(idx % npair);
    const double theta = (double)pos[t] * (double)freq_scale * pow((double)base, -2.0 * i / n_rot) /
                         (ff ? (double)ff[i] : 1.0);
    double s, c;
    sincos(theta, &s, &c);
    const int a = neox ? i : 2 * i, b = neox ? i + npair : 2 * i + 1;
    for (int64_t h = 0; h < nh; h++) {
      const int64_t base_off = (t * nh + h) * hd;
      const double x0 = x[base_off + a], x1 = x[base_off + b];
      y[base_off + a] = (float)(x0 * c - x1 * s);
      y[base_off + b] = (float)(x0 * s + x1 * c);
    }
  }
}

/* Dimensions n_rot .. hd of every head pass through (only when y is not x). */
__global__ void
rope_pass_kernel(float *y, const float *x, int64_t hd, int n_rot, int64_t heads)
{
  const int64_t rest = hd - n_rot, total = heads * rest;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t off = (idx / rest) * hd + n_rot + idx % rest;
    y[off] = x[off];
  }
}

int
_kern_cuda_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos,
                const kern_rope_params *p)
{
  CUDA_BEGIN(be);
  cudaStream_t st = kern_cuda_ctx_of(be)->stream;
  const int64_t hd = x->ne[0], nh = x->ne[1], T = x->ne[2];
  const int npair = p->n_rot / 2;
  rope_kernel<<<kc_grid_1d(T * npair, 128), 128, 0, st>>>(
      (float *)y->data, (const float *)x->data, (const int32_t *)pos->data,
      p->freq_factors ? (const float *)p->freq_factors->data : NULL, hd, nh, T, p->n_rot,
      p->mode == KERN_ROPE_NEOX, p->base, p->freq_scale);
  CUDA_CHECK_LAUNCH("rope_kernel");
  if (p->n_rot < hd && y->data != x->data) {
    rope_pass_kernel<<<kc_grid_1d(nh * T * (hd - p->n_rot), EW_THREADS), EW_THREADS, 0, st>>>(
        (float *)y->data, (const float *)x->data, hd, p->n_rot, nh * T);
    CUDA_CHECK_LAUNCH("rope_pass_kernel");
  }
  return 0;
}

/* ---- conv1d and patch_embed: im2col + SGEMM ----------------------------------------- */

/* col (nt, Cin*K): col[tt][ci*K + k] = x[(t0+tt)*stride + k - pad][ci], 0 outside. */
__global__ void
im2col_1d_kernel(float *__restrict__ col, const float *__restrict__ x, int64_t T, int64_t Cin, int64_t K,
                 int64_t t0, int64_t nt, int stride, int pad)
{
  const int64_t row = Cin * K, total = nt * row;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t tt = idx / row, r = idx % row, ci = r / K, k = r % K;
    const int64_t ti = (t0 + tt) * stride + k - pad;
    col[idx] = ti >= 0 && ti < T ? x[ti * Cin + ci] : 0.0f;
  }
}

/* col (np, C*P*P): col[p][(c*P + ky)*P + kx] = img[c][py*P + ky][px*P + kx] for
 * patch p0 + p = py * nx + px. */
__global__ void
im2col_patch_kernel(float *__restrict__ col, const float *__restrict__ img, int64_t W, int64_t H, int64_t C,
                    int64_t P, int64_t p0, int64_t np)
{
  const int64_t row = C * P * P, nx = W / P, total = np * row;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = p0 + idx / row, r = idx % row;
    const int64_t c = r / (P * P), ky = (r / P) % P, kx = r % P;
    const int64_t py = p / nx, px = p % nx;
    col[idx] = img[(c * H + py * P + ky) * W + px * P + kx];
  }
}

/* y (rows, N) = col (rows, Kc) . w (N, Kc)^T (+ bias), with col built chunk by
 * chunk by `fill` so that it stays within KC_TILE_BYTES. */
template <typename Fill>
static int
im2col_gemm(kern_backend_t be, float *y, const kern_tensor *w, const float *bias, int64_t rows, int64_t N,
            int64_t Kc, Fill fill)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  const size_t wbytes = w->type == KERN_TYPE_F32 ? 0 : kc_align_up((size_t)(N * Kc) * sizeof(float), 256);
  int64_t chunk = (int64_t)(KC_TILE_BYTES / ((size_t)Kc * sizeof(float)));
  if (chunk < 1)
    chunk = 1;
  if (chunk > rows)
    chunk = rows;
  void *ws;
  int rc = _kern_cuda_workspace(be, wbytes + (size_t)(chunk * Kc) * sizeof(float), &ws);
  if (rc)
    return rc;
  const float *wf = (const float *)w->data; /* (N, Kc) */
  if (w->type != KERN_TYPE_F32) {
    if ((rc = _kern_cuda_convert(be, ws, KERN_TYPE_F32, w->data, w->type, N * Kc)) != 0)
      return rc;
    wf = (const float *)ws;
  }
  float *col = (float *)((char *)ws + wbytes); /* (chunk, Kc) */
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
    fill(col, r0, nr, ctx->stream);
    CUDA_CHECK_LAUNCH("im2col");
    if ((rc = _kern_cuda_gemm_f32(be, y + r0 * N, wf, col, nr, N, Kc)) != 0)
      return rc;
  }
  return bias ? _kern_cuda_add_bias(be, y, bias, rows, N) : 0;
}

int
_kern_cuda_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w,
                  const kern_tensor *bias, int stride, int pad)
{
  CUDA_BEGIN(be);
  const int64_t K = w->ne[0], Cin = w->ne[1], Cout = w->ne[2], T = x->ne[1], Tout = y->ne[1];
  const float *xd = (const float *)x->data; /* (T, Cin) */
  auto fill = [=](float *col, int64_t t0, int64_t nt, cudaStream_t st) {
    im2col_1d_kernel<<<kc_grid_1d(nt * Cin * K, EW_THREADS), EW_THREADS, 0, st>>>(col, xd, T, Cin, K, t0, nt, stride,
                                                                                 pad);
  };
  return im2col_gemm(be, (float *)y->data, w, bias ? (const float *)bias->data : NULL, Tout, Cout, Cin * K, fill);
}

int
_kern_cuda_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                       const kern_tensor *bias)
{
  CUDA_BEGIN(be);
  const int64_t P = w->ne[0], C = w->ne[2], D = w->ne[3], W = img->ne[0], H = img->ne[1];
  const int64_t npatch = (W / P) * (H / P);
  const float *im = (const float *)img->data; /* (C, H, W) */
  auto fill = [=](float *col, int64_t p0, int64_t np, cudaStream_t st) {
    im2col_patch_kernel<<<kc_grid_1d(np * C * P * P, EW_THREADS), EW_THREADS, 0, st>>>(col, im, W, H, C, P, p0, np);
  };
  return im2col_gemm(be, (float *)y->data, w, bias ? (const float *)bias->data : NULL, npatch, D, C * P * P, fill);
}

/* ---- get_rows ---------------------------------------------------------------------- */

/* y (n, D) = rows ids[i] of table (V rows of row_bytes), dequantized. An id
 * outside [0, V) is not read: its position goes to *bad (atomicMin, so the
 * first one is reported). */
__global__ void
get_rows_kernel(float *__restrict__ y, const uint8_t *__restrict__ table, size_t row_bytes, int type,
                const int32_t *__restrict__ ids, int64_t n, int64_t D, int64_t V, unsigned long long *bad)
{
  const int64_t total = n * D;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = idx / D, j = idx % D;
    const int32_t id = ids[i];
    if (id < 0 || id >= V) {
      atomicMin(bad, (unsigned long long)i);
      continue;
    }
    y[idx] = kc_dequant(type, table + (size_t)id * row_bytes, j);
  }
}

int
_kern_cuda_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids)
{
  CUDA_BEGIN(be);
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  const int64_t n = kc_nel(ids), D = table->ne[0], V = table->ne[1];
  if (!kc_type_geometry(table->type, NULL, NULL))
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "get_rows: unknown table type %d", table->type);
  CUDA_TRY(cudaMemsetAsync(ctx->flag, 0xff, sizeof *ctx->flag, ctx->stream)); /* no bad id yet */
  get_rows_kernel<<<kc_grid_1d(n * D, EW_THREADS), EW_THREADS, 0, ctx->stream>>>(
      (float *)y->data, (const uint8_t *)table->data, kc_row_bytes(table->type, D), table->type,
      (const int32_t *)ids->data, n, D, V, ctx->flag);
  CUDA_CHECK_LAUNCH("get_rows_kernel");
  /* Ids are device data: the check needs their result on the host. */
  unsigned long long bad = 0;
  CUDA_TRY(cudaMemcpyAsync(&bad, ctx->flag, sizeof bad, cudaMemcpyDeviceToHost, ctx->stream));
  CUDA_TRY(cudaStreamSynchronize(ctx->stream));
  if (bad != ~0ull) {
    int32_t id = 0;
    CUDA_TRY(cudaMemcpyAsync(&id, (const int32_t *)ids->data + bad, sizeof id, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_TRY(cudaStreamSynchronize(ctx->stream));
    return _kern_cuda_error(be, KERN_E_INVAL, "get_rows: id %d at %llu is outside [0, %lld)", id, bad, (long long)V);
  }
  return 0;
}

/* ---- copy / convert ------------------------------------------------------------------- */

static __device__ __forceinline__ float
kc_load_as_float(const void *p, int type, int64_t i)
{
  if (type == KERN_TYPE_F16)
    return __half2float(((const __half *)p)[i]);
  if (type == KERN_TYPE_BF16)
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
  return ((const float *)p)[i];
}

/* dst[i] = src[i] converted, round to nearest even (bit-exact with kern-type.c
 * for finite values; f16 and bf16 widen to float exactly). */
__global__ void
convert_kernel(void *dst, int dst_type, const void *src, int src_type, int64_t n)
{
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = kc_load_as_float(src, src_type, i);
    if (dst_type == KERN_TYPE_F16)
      ((__half *)dst)[i] = __float2half_rn(v);
    else if (dst_type == KERN_TYPE_BF16)
      ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
    else
      ((float *)dst)[i] = v;
  }
}

int
_kern_cuda_convert(kern_backend_t be, void *dst, int dst_type, const void *src, int src_type, int64_t n)
{
  convert_kernel<<<kc_grid_1d(n, EW_THREADS), EW_THREADS, 0, kern_cuda_ctx_of(be)->stream>>>(dst, dst_type, src,
                                                                                            src_type, n);
  CUDA_CHECK_LAUNCH("convert_kernel");
  return 0;
}

/* F32 -> Q8_0 (KV cache append), as kern-type.c: d = max|x| / 127 kept in
 * f16, q = round(x / d) half away from zero. One warp per block of 32. */
__global__ void
quantize_q8_0_kernel(uint8_t *dst, const float *src, int64_t n_blocks)
{
  const int64_t b = (int64_t)blockIdx.x * (blockDim.x / KC_WARP) + threadIdx.x / KC_WARP;
  const int lane = threadIdx.x % KC_WARP;
  if (b >= n_blocks)
    return;
  const float x = src[b * 32 + lane];
  float amax = fabsf(x);
  for (int o = KC_WARP / 2; o > 0; o /= 2)
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  uint8_t *blk = dst + b * 34;
  if (lane == 0)
    *(__half *)blk = __float2half_rn(d);
  blk[2 + lane] = (uint8_t)(int8_t)fminf(fmaxf(roundf(x * id), -127.0f), 127.0f);
}

int
_kern_cuda_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src)
{
  CUDA_BEGIN(be);
  if (src->type == dst->type) {
    if (src->data != dst->data)
      CUDA_TRY(cudaMemcpyAsync(dst->data, src->data, src->nbytes, cudaMemcpyDeviceToDevice,
                               kern_cuda_ctx_of(be)->stream));
    return 0;
  }
  if (dst->type == KERN_TYPE_Q8_0) { /* from F32, checked by kern_copy */
    const int64_t nb = kc_nel(src) / 32;
    quantize_q8_0_kernel<<<(unsigned)kc_ceil_div(nb, 8), 8 * KC_WARP, 0, kern_cuda_ctx_of(be)->stream>>>(
        (uint8_t *)dst->data, (const float *)src->data, nb);
    CUDA_CHECK_LAUNCH("quantize_q8_0_kernel");
    return 0;
  }
  return _kern_cuda_convert(be, dst->data, dst->type, src->data, src->type, kc_nel(src));
}
