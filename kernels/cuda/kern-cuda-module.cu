/* kern-cuda-module.cu: the CUDA module's entry point and device probe.
 *
 * Every CUDA and cuBLAS call goes through CUDA_TRY, which records the call site
 * and returns an error; nothing here exits the process.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "kern-cuda-module.h"
#include "kern-cuda-backend.h"

#ifndef HARK_CUDA_ARCHS
#define HARK_CUDA_ARCHS "unknown"
#endif

#define CUDA_TRY(call, msg, size)                                                        \
  do {                                                                                   \
    cudaError_t err_ = (call);                                                           \
    if (err_ != cudaSuccess) {                                                           \
      snprintf((msg), (size), "%s: %s (%s:%d)", cudaGetErrorName(err_),                  \
               cudaGetErrorString(err_), __FILE__, __LINE__);                            \
      return -1;                                                                         \
    }                                                                                    \
  } while (0)

/* y[i] = a * i + b: enough arithmetic to tell a missing kernel image or a
 * broken driver from a working device. */
__global__ void
probe_kernel(float *y, int n, float a, float b)
{
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = a * (float)i + b;
}

static int
self_test(int dev, char *msg, size_t size)
{
  enum { N = 1000 };
  float host[N];
  float *d = NULL;
  int rc = -1;
  CUDA_TRY(cudaSetDevice(dev), msg, size);
  CUDA_TRY(cudaMalloc((void **)&d, N * sizeof(float)), msg, size);
  probe_kernel<<<(N + 255) / 256, 256>>>(d, N, 0.5f, 3.0f);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess)
    err = cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  if (err != cudaSuccess) {
    if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorUnsupportedPtxVersion)
      snprintf(msg, size, "this build has no kernels for it (built for sm_%s; rebuild with -Dgpu_archs=...)",
               HARK_CUDA_ARCHS);
    else
      snprintf(msg, size, "test kernel failed: %s: %s", cudaGetErrorName(err), cudaGetErrorString(err));
  } else {
    rc = 0;
    for (int i = 0; i < N && rc == 0; i++)
      if (host[i] != 0.5f * (float)i + 3.0f) {
        snprintf(msg, size, "test kernel gave a wrong result at %d: %g", i, host[i]);
        rc = -1;
      }
  }
  cudaFree(d);
  return rc;
}

static int
probe(kern_cuda_report *r)
{
  int n = 0;
  cudaRuntimeGetVersion(&r->runtime_version);
  if (cudaDriverGetVersion(&r->driver_version) != cudaSuccess)
    r->driver_version = 0;

  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    r->cublas_version = major * 10000 + minor * 100 + patch;

  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess || n <= 0) {
    if (r->driver_version == 0)
      snprintf(r->why, sizeof r->why, "no NVIDIA driver found (libcuda.so.1 is missing or cannot be loaded)");
    else if (err == cudaErrorInsufficientDriver)
      snprintf(r->why, sizeof r->why, "the NVIDIA driver (CUDA %d.%d) is older than this build needs (CUDA %d.%d)",
               r->driver_version / 1000, r->driver_version % 1000 / 10, r->runtime_version / 1000,
               r->runtime_version % 1000 / 10);
    else if (err != cudaSuccess)
      snprintf(r->why, sizeof r->why, "%s: %s", cudaGetErrorName(err), cudaGetErrorString(err));
    else
      snprintf(r->why, sizeof r->why, "the driver reports no CUDA-capable device");
    cudaGetLastError(); /* clear the error so later calls start clean */
    return 0;
  }
  if (n > KERN_CUDA_MAX_DEVICES)
    n = KERN_CUDA_MAX_DEVICES;
  for (int i = 0; i < n; i++) {
    kern_cuda_device *d = &r->devices[i];
    cudaDeviceProp p;
    d->index = i;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      snprintf(d->name, sizeof d->name, "device %d", i);
      snprintf(d->status, sizeof d->status, "cannot read its properties");
      continue;
    }
    snprintf(d->name, sizeof d->name, "%s", p.name);
    d->cc_major = p.major;
    d->cc_minor = p.minor;
    d->sm_count = p.multiProcessorCount;
    d->vram_total = p.totalGlobalMem;
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
      d->vram_free = free_b;
      d->vram_total = total_b;
    }
    d->usable = self_test(i, d->status, sizeof d->status) == 0;
  }
  r->n_devices = n;
  return n;
}

static const struct kern_cuda_module_i module_table = {
  KERN_CUDA_MODULE_ABI,
  HARK_CUDA_ARCHS,
  probe,
  kern_cuda_backend_new,
};

extern "C" __attribute__((visibility("default"))) const struct kern_cuda_module_i *
hark_cuda_module(void)
{
  return &module_table;
}
