/* kern-cuda-select.cu: argmax and top-k per row, exact (kern_argmax, kern_topk).
 *
 * argmax_kernel: one block per row (up to 1024 threads); each thread scans a
 * strided slice keeping its first maximum, then (value, index) pairs reduce
 * by shuffles and shared memory, larger value first, lower index on ties.
 *
 * topk_kernel: one block per row (up to 512 threads). Values map to 32-bit
 * keys whose unsigned order is the float order (-0 merged with +0, NaN
 * lowest). A 4-pass radix select (8 bits per pass, shared 256-bin histogram)
 * finds the key T of the k-th largest value and how many values equal to T
 * are needed; the values above T and the first needed values equal to T (in
 * index order, by a block-wide prefix count) go to shared memory as 64-bit
 * (key, ~index) pairs, which are all distinct; each pair's output position
 * is the number of larger pairs. That gives descending values, lower index
 * first on ties, exactly as the reference.
 */
#include <limits.h>
#include <math.h>

#include "kern-cuda-common.cuh"

#define TOPK_THREADS 512
#define TOPK_MAX_K 4096 /* 32 KiB of selected pairs in shared memory */

/* (v, i) beats (bv, bi): larger value, or the same value at a lower index. */
static __device__ __forceinline__ bool
kc_beats(float v, int i, float bv, int bi)
{
  return v > bv || (v == bv && i < bi);
}

__global__ void
argmax_kernel(int32_t *__restrict__ out, const float *__restrict__ x, int64_t n, int64_t rows)
{
  __shared__ float wv[KC_WARP];
  __shared__ int wi[KC_WARP];
  const int lane = threadIdx.x % KC_WARP, warp = threadIdx.x / KC_WARP, nwarps = blockDim.x / KC_WARP;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;
    float bv = -INFINITY;
    int bi = INT_MAX; /* no element yet: loses every comparison with a real one */
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float v = xr[i];
      if (bi == INT_MAX || v > bv) /* increasing i: strict > keeps the first maximum */
        bv = v, bi = (int)i;
    }
#pragma unroll
    for (int off = KC_WARP / 2; off > 0; off /= 2) {
      const float ov = __shfl_xor_sync(KC_FULL_MASK, bv, off);
      const int oi = __shfl_xor_sync(KC_FULL_MASK, bi, off);
      if (kc_beats(ov, oi, bv, bi))
        bv = ov, bi = oi;
    }
    if (lane == 0)
      wv[warp] = bv, wi[warp] = bi;
    __syncthreads();
    if (warp == 0) {
      bv = lane < nwarps ? wv[lane] : -INFINITY;
      bi = lane < nwarps ? wi[lane] : INT_MAX;
#pragma unroll
      for (int off = KC_WARP / 2; off > 0; off /= 2) {
        const float ov = __shfl_xor_sync(KC_FULL_MASK, bv, off);
        const int oi = __shfl_xor_sync(KC_FULL_MASK, bi, off);
        if (kc_beats(ov, oi, bv, bi))
          bv = ov, bi = oi;
      }
      if (lane == 0)
        out[r] = bi;
    }
    __syncthreads(); /* wv/wi are reused by the next row */
  }
}

/* Unsigned order = float order; -0 equals +0 (the reference compares with >),
 * NaN below -inf. */
static __device__ __forceinline__ uint32_t
kc_order_key(float v)
{
  if (v != v)
    return 0u;
  if (v == 0.0f)
    return 0x80000000u;
  const uint32_t u = __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static __device__ __forceinline__ unsigned long long
kc_pair(uint32_t key, int64_t i)
{
  return ((unsigned long long)key << 32) | (unsigned long long)(0xffffffffu - (uint32_t)i);
}

/* idx, val: (rows, k); x: (rows, n). Dynamic shared memory: k pairs. */
__global__ void
topk_kernel(int32_t *__restrict__ out_idx, float *__restrict__ out_val, const float *__restrict__ x, int64_t n,
            int64_t rows, int k)
{
  extern __shared__ __align__(16) unsigned long long sel[]; /* (k rounded up to even) (key, ~index) pairs */
  __shared__ unsigned int hist[256];
  __shared__ unsigned int s_prefix, s_kk, s_count_gt, s_taken_eq;
  __shared__ unsigned int warp_count[KC_WARP];
  const int lane = threadIdx.x % KC_WARP, warp = threadIdx.x / KC_WARP, nwarps = blockDim.x / KC_WARP;

  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;

    /* Radix select, most significant byte first: after the passes, T is the
     * key of the k-th largest value and kk its rank among the values with key
     * T; exactly k - kk values have a larger key. */
    uint32_t prefix = 0, mask = 0, kk = (uint32_t)k;
    for (int pass = 0; pass < 4; pass++) {
      const int shift = 24 - 8 * pass;
      for (int b = threadIdx.x; b < 256; b += blockDim.x)
        hist[b] = 0;
      __syncthreads();
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const uint32_t u = kc_order_key(xr[i]);
        if ((u & mask) == prefix)
          atomicAdd(&hist[(u >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        uint32_t above = 0; /* values in higher bins */
        int b = 255;
        for (; b > 0; b--) {
          if (above + hist[b] >= kk)
            break;
          above += hist[b];
        }
        s_prefix = prefix | ((uint32_t)b << shift);
        s_kk = kk - above;
      }
      __syncthreads();
      prefix = s_prefix;
      kk = s_kk;
      mask |= 255u << shift;
      __syncthreads(); /* s_prefix / s_kk / hist are rewritten by the next pass */
    }
    const uint32_t T = prefix, need_eq = kk, n_gt = (uint32_t)k - kk;

    /* Values above T: all of them, in any order (sorted below). */
    if (threadIdx.x == 0)
      s_count_gt = 0, s_taken_eq = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const uint32_t u = kc_order_key(xr[i]);
      if (u > T) {
        const unsigned slot = atomicAdd(&s_count_gt, 1u); /* < n_gt by the select */
        if (slot < n_gt)
          sel[slot] = kc_pair(u, i);
      }
    }
    /* Values equal to T: the first need_eq by index, one block-wide chunk at a time. */
    for (int64_t base = 0; base < n; base += blockDim.x) {
      const int64_t i = base + threadIdx.x;
      const bool eq = i < n && kc_order_key(xr[i]) == T;
      const unsigned ballot = __ballot_sync(KC_FULL_MASK, eq);
      if (lane == 0)
        warp_count[warp] = (unsigned)__popc(ballot);
      __syncthreads();
      const unsigned taken = s_taken_eq;
      unsigned before = 0, total = 0;
      for (int w = 0; w < nwarps; w++) {
        before += w < warp ? warp_count[w] : 0u;
        total += warp_count[w];
      }
      const unsigned rank = taken + before + (unsigned)__popc(ballot & ((1u << lane) - 1u));
      if (eq && rank < need_eq)
        sel[n_gt + rank] = kc_pair(T, i);
      __syncthreads(); /* everyone has read warp_count and s_taken_eq */
      if (threadIdx.x == 0)
        s_taken_eq = taken + total;
      __syncthreads();
      if (taken + total >= need_eq) /* the same for every thread */
        break;
    }
    if (threadIdx.x == 0 && (k & 1))
      sel[k] = 0; /* the pad pair: below every real pair (~index is never 0) */
    __syncthreads();

    /* Output position of each pair = number of larger pairs (pairs are distinct).
     * Pairs are read two at a time over the padded, even-length array. */
    const int kp = (k + 1) & ~1;
    for (int a = threadIdx.x; a < k; a += blockDim.x) {
      const unsigned long long pa = sel[a];
      int rank = 0;
      for (int b = 0; b < kp; b += 2) {
        const ulonglong2 two = *reinterpret_cast<const ulonglong2 *>(&sel[b]);
        rank += (two.x > pa) + (two.y > pa);
      }
      const uint32_t idx = 0xffffffffu - (uint32_t)(pa & 0xffffffffull);
      out_idx[r * k + rank] = (int32_t)idx;
      out_val[r * k + rank] = xr[idx];
    }
    __syncthreads(); /* sel is reused by the next row */
  }
}

int
_kern_cuda_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x)
{
  CUDA_BEGIN(be);
  const int64_t n = x->ne[0], rows = kc_nrows(x);
  if (n > INT_MAX)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "argmax: rows of more than %d values", INT_MAX);
  argmax_kernel<<<kc_grid_rows(rows), kc_row_threads(n, 1024), 0, kern_cuda_ctx_of(be)->stream>>>(
      (int32_t *)out->data, (const float *)x->data, n, rows);
  CUDA_CHECK_LAUNCH("argmax_kernel");
  return 0;
}

int
_kern_cuda_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k)
{
  CUDA_BEGIN(be);
  const int64_t n = x->ne[0], rows = kc_nrows(x);
  if (n > INT_MAX)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "topk: rows of more than %d values", INT_MAX);
  if (k > TOPK_MAX_K)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "topk: k = %d, the CUDA kernel takes at most %d", k,
                            TOPK_MAX_K);
  /* An even number of pairs: the rank loop reads them 16 bytes at a time (an
   * odd k once had the compiler's wide loads run 8 bytes past the array, seen
   * by compute-sanitizer on an H200). */
  const size_t smem = (size_t)((k + 1) & ~1) * sizeof(unsigned long long);
  topk_kernel<<<kc_grid_rows(rows), kc_row_threads(n, TOPK_THREADS), smem, kern_cuda_ctx_of(be)->stream>>>(
      (int32_t *)idx->data, (float *)val->data, (const float *)x->data, n, rows, k);
  CUDA_CHECK_LAUNCH("topk_kernel");
  return 0;
}
