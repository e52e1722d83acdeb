/* kern-cuda-backend.cu: the CUDA backend object ("cuda:N").
 *
 * One device, one non-blocking stream, one cuBLAS handle bound to it, and a
 * workspace that grows on demand. Memory is plain cudaMalloc (never managed);
 * uploads are asynchronous on the stream (pageable host memory is staged by the
 * driver, so the source may be reused on return), downloads wait for the
 * stream. The ops live in kern-cuda-matmul.cu, kern-cuda-ops.cu,
 * kern-cuda-attention.cu and kern-cuda-select.cu.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-cuda-backend.h"
#include "kern-cuda-common.cuh"

int
_kern_cuda_error(kern_backend_t be, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(be->errmsg, sizeof be->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

/* ---- memory ------------------------------------------------------------- */

int
_kern_cuda_malloc(kern_backend_t be, void **ptr, size_t size)
{
  *ptr = NULL;
  cudaError_t err = cudaMalloc(ptr, size ? size : 1);
  if (err == cudaSuccess)
    return 0;
  (void)cudaGetLastError();
  *ptr = NULL;
  size_t free_b = 0, total_b = 0;
  if (err == cudaErrorMemoryAllocation && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
    return _kern_cuda_error(be, KERN_E_DEVICE, "out of GPU memory: %zu MiB requested, %zu MiB free of %zu MiB",
                            (size + ((size_t)1 << 20) - 1) >> 20, free_b >> 20, total_b >> 20);
  (void)cudaGetLastError();
  return _kern_cuda_error(be, KERN_E_DEVICE, "cudaMalloc of %zu bytes: %s", size, cudaGetErrorString(err));
}

int
_kern_cuda_workspace(kern_backend_t be, size_t size, void **out)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  *out = NULL;
  if (size <= ctx->ws_size && ctx->ws) {
    *out = ctx->ws;
    return 0;
  }
  /* Work queued earlier may still read the old buffer. */
  CUDA_TRY(cudaStreamSynchronize(ctx->stream));
  if (ctx->ws)
    CUDA_TRY(cudaFree(ctx->ws));
  ctx->ws = NULL;
  ctx->ws_size = 0;
  size_t want = kc_align_up(size + size / 4, (size_t)1 << 20); /* some slack against regrowing */
  int rc = _kern_cuda_malloc(be, &ctx->ws, want);
  if (rc != 0) {
    want = kc_align_up(size, 256); /* slack did not fit: exactly what is needed */
    rc = _kern_cuda_malloc(be, &ctx->ws, want);
    if (rc != 0)
      return rc;
  }
  ctx->ws_size = want;
  *out = ctx->ws;
  return 0;
}

static void *
cuda_alloc(kern_backend_t be, size_t size)
{
  if (cudaSetDevice(kern_cuda_ctx_of(be)->device) != cudaSuccess) {
    (void)cudaGetLastError();
    _kern_cuda_error(be, KERN_E_DEVICE, "cannot select CUDA device %d", kern_cuda_ctx_of(be)->device);
    return NULL;
  }
  void *p = NULL;
  if (_kern_cuda_malloc(be, &p, size) != 0)
    return NULL;
  return p;
}

static void
cuda_free(kern_backend_t be, void *ptr)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  if (!ptr)
    return;
  /* Kernels queued earlier may still use the memory; cudaFree does not wait
   * for a non-blocking stream. */
  if (cudaSetDevice(ctx->device) != cudaSuccess || cudaStreamSynchronize(ctx->stream) != cudaSuccess ||
      cudaFree(ptr) != cudaSuccess) {
    cudaError_t err = cudaGetLastError();
    _kern_cuda_error(be, KERN_E_DEVICE, "freeing GPU memory: %s", cudaGetErrorString(err));
  }
}

static int
cuda_upload(kern_backend_t be, void *dst, const void *src, size_t size)
{
  CUDA_BEGIN(be);
  CUDA_TRY(cudaMemcpyAsync(dst, src, size, cudaMemcpyHostToDevice, kern_cuda_ctx_of(be)->stream));
  return 0;
}

static int
cuda_download(kern_backend_t be, void *dst, const void *src, size_t size)
{
  CUDA_BEGIN(be);
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  CUDA_TRY(cudaMemcpyAsync(dst, src, size, cudaMemcpyDeviceToHost, ctx->stream));
  CUDA_TRY(cudaStreamSynchronize(ctx->stream));
  return 0;
}

static int
cuda_sync(kern_backend_t be)
{
  CUDA_BEGIN(be);
  CUDA_TRY(cudaStreamSynchronize(kern_cuda_ctx_of(be)->stream));
  return 0;
}

/* ---- capabilities ---------------------------------------------------------- */

static int
is_float_type(int type)
{
  return type == KERN_TYPE_F32 || type == KERN_TYPE_F16 || type == KERN_TYPE_BF16;
}

/* The weight types with a decode kernel (kern-cuda-matmul.cu). */
static int
is_matmul_quant(int type)
{
  switch (type) {
  case KERN_TYPE_Q4_0:
  case KERN_TYPE_Q4_1:
  case KERN_TYPE_Q5_0:
  case KERN_TYPE_Q5_1:
  case KERN_TYPE_Q8_0:
  case KERN_TYPE_Q8_1:
  case KERN_TYPE_Q2_K:
  case KERN_TYPE_Q3_K:
  case KERN_TYPE_Q4_K:
  case KERN_TYPE_Q5_K:
  case KERN_TYPE_Q6_K:
    return 1;
  default:
    return 0;
  }
}

static int
cuda_supports_op(kern_backend_t be, kern_op op, int type)
{
  (void)be;
  switch (op) {
  case KERN_OP_MATMUL: return is_float_type(type) || is_matmul_quant(type);
  case KERN_OP_GET_ROWS: return kc_type_geometry(type, NULL, NULL);
  case KERN_OP_CONV1D:
  case KERN_OP_PATCH_EMBED: return type == KERN_TYPE_F32 || type == KERN_TYPE_F16;
  case KERN_OP_ATTENTION: return type == KERN_TYPE_F32 || type == KERN_TYPE_F16 || type == KERN_TYPE_Q8_0;
  case KERN_OP_COPY: return is_float_type(type) || type == KERN_TYPE_Q8_0; /* Q8_0: from F32 */
  case KERN_OP_ROPE: return type == KERN_TYPE_F32 || type == KERN_TYPE_I32; /* x or pos */
  case KERN_OP_ARGMAX:
  case KERN_OP_TOPK:
  case KERN_OP_ADD:
  case KERN_OP_MUL:
  case KERN_OP_SCALE:
  case KERN_OP_LAYERNORM:
  case KERN_OP_RMSNORM:
  case KERN_OP_UNARY:
  case KERN_OP_SWIGLU:
  case KERN_OP_SOFTMAX: return type == KERN_TYPE_F32;
  case KERN_OP_COUNT: break;
  }
  return 0;
}

/* ---- life cycle ------------------------------------------------------------ */

/* Releases what exists of ctx (also on a half-finished creation). */
static void
ctx_release(kern_cuda_ctx *ctx)
{
  if (ctx->stream)
    cudaStreamSynchronize(ctx->stream);
  if (ctx->ws)
    cudaFree(ctx->ws);
  if (ctx->flag)
    cudaFree(ctx->flag);
  if (ctx->cublas)
    cublasDestroy(ctx->cublas);
  if (ctx->stream)
    cudaStreamDestroy(ctx->stream);
  (void)cudaGetLastError();
}

static void
cuda_destroy(kern_backend_t be)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  if (ctx) {
    cudaSetDevice(ctx->device);
    ctx_release(ctx);
    free(ctx);
  }
  free(be);
}

static const struct kern_backend_i cuda_iface = {
  /* .name = */ "cuda",
  /* .is_host = */ 0,
  /* .destroy = */ cuda_destroy,
  /* .alloc = */ cuda_alloc,
  /* .free = */ cuda_free,
  /* .upload = */ cuda_upload,
  /* .download = */ cuda_download,
  /* .sync = */ cuda_sync,
  /* .supports_op = */ cuda_supports_op,
  /* .matmul = */ _kern_cuda_matmul,
  /* .add = */ _kern_cuda_add,
  /* .mul = */ _kern_cuda_mul,
  /* .scale = */ _kern_cuda_scale,
  /* .layernorm = */ _kern_cuda_layernorm,
  /* .rmsnorm = */ _kern_cuda_rmsnorm,
  /* .unary = */ _kern_cuda_unary,
  /* .swiglu = */ _kern_cuda_swiglu,
  /* .softmax = */ _kern_cuda_softmax,
  /* .rope = */ _kern_cuda_rope,
  /* .conv1d = */ _kern_cuda_conv1d,
  /* .patch_embed = */ _kern_cuda_patch_embed,
  /* .get_rows = */ _kern_cuda_get_rows,
  /* .attention = */ _kern_cuda_attention,
  /* .copy = */ _kern_cuda_copy,
  /* .argmax = */ _kern_cuda_argmax,
  /* .topk = */ _kern_cuda_topk,
};

/* Never launched: its attributes tell whether the module has code for the device. */
__global__ void
image_probe_kernel(void)
{
}

/* Fills ctx for `device`; on failure writes the reason to err and returns -1
 * (the caller releases what was made). */
static int
ctx_init(kern_cuda_ctx *ctx, int device, char *err, size_t err_size)
{
  int n = 0, drv = 0;
  cudaError_t ce = cudaGetDeviceCount(&n);
  if (ce != cudaSuccess) {
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0)
      snprintf(err, err_size, "no CUDA device: no NVIDIA driver found (libcuda.so.1 is missing or cannot be loaded)");
    else if (ce == cudaErrorInsufficientDriver)
      snprintf(err, err_size, "no CUDA device: the NVIDIA driver (CUDA %d.%d) is older than this build needs",
               drv / 1000, drv % 1000 / 10);
    else
      snprintf(err, err_size, "no CUDA device: %s", cudaGetErrorString(ce));
    (void)cudaGetLastError();
    return -1;
  }
  if (device < 0 || device >= n) {
    snprintf(err, err_size, "CUDA device %d does not exist (%d device%s found)", device, n, n == 1 ? "" : "s");
    return -1;
  }
  ctx->device = device;
  if ((ce = cudaSetDevice(device)) != cudaSuccess ||
      (ce = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking)) != cudaSuccess) {
    snprintf(err, err_size, "cannot use CUDA device %d: %s", device, cudaGetErrorString(ce));
    ctx->stream = NULL;
    (void)cudaGetLastError();
    return -1;
  }
  /* A GPU older than every architecture in this build has no kernel image:
   * say so now rather than at the first op. */
  cudaFuncAttributes attr;
  if ((ce = cudaFuncGetAttributes(&attr, image_probe_kernel)) != cudaSuccess) {
    cudaDeviceProp prop;
    int major = 0, minor = 0;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
      major = prop.major, minor = prop.minor;
    snprintf(err, err_size, "CUDA device %d (compute capability %d.%d): this build has no kernels for it (%s)",
             device, major, minor, cudaGetErrorString(ce));
    (void)cudaGetLastError();
    return -1;
  }
  cublasStatus_t st = cublasCreate(&ctx->cublas);
  if (st != CUBLAS_STATUS_SUCCESS) {
    ctx->cublas = NULL;
    snprintf(err, err_size, "cuBLAS init failed on CUDA device %d: %s", device, cublasGetStatusString(st));
    return -1;
  }
  if ((st = cublasSetStream(ctx->cublas, ctx->stream)) != CUBLAS_STATUS_SUCCESS ||
      (st = cublasSetMathMode(ctx->cublas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
    snprintf(err, err_size, "cuBLAS setup failed on CUDA device %d: %s", device, cublasGetStatusString(st));
    return -1;
  }
  if ((ce = cudaMalloc((void **)&ctx->flag, 64)) != cudaSuccess) {
    ctx->flag = NULL;
    snprintf(err, err_size, "cannot allocate on CUDA device %d: %s", device, cudaGetErrorString(ce));
    (void)cudaGetLastError();
    return -1;
  }
  return 0;
}

kern_backend_t
kern_cuda_backend_new(int device, char *err, size_t err_size)
{
  kern_backend_t be = (kern_backend_t)calloc(1, sizeof *be);
  kern_cuda_ctx *ctx = (kern_cuda_ctx *)calloc(1, sizeof *ctx);
  if (!be || !ctx) {
    snprintf(err, err_size, "out of host memory");
    free(be);
    free(ctx);
    return NULL;
  }
  if (ctx_init(ctx, device, err, err_size) != 0) {
    ctx_release(ctx);
    free(ctx);
    free(be);
    return NULL;
  }
  be->iface = &cuda_iface;
  be->ctx = ctx;
  snprintf(be->name, sizeof be->name, "cuda:%d", device);
  return be;
}
