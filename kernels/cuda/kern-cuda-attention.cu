/* kern-cuda-attention.cu: scaled dot-product attention with grouped-query
 * heads, K/V in F32 or F16, causal or not (kern-backend.h, kern_attention).
 *
 * All arithmetic is FP32 on CUDA cores (no tensor cores: the op is checked
 * against the double reference at 1e-8 NMSE, and q is not rounded to 16 bits).
 *
 * Tq > 1, attn_tile_kernel (flash-attention style): a block of FA_WARPS warps
 * takes FA_BQ = 16 queries of one head; Q sits in shared memory, K/V stream
 * through it in tiles of FA_BK = 32 keys (converted to f32 on load), and each
 * warp keeps a running max, sum and output row (DPL dims per lane) for its
 * FA_QPW queries: lane j scores key j of the tile, the warp takes max/sum by
 * shuffles, then every lane accumulates its dims over the tile's keys.
 * Grid (ceil(Tq / 16), n_head); causal blocks stop at their last query's key.
 *
 * Tq == 1, split over keys: attn_decode_partial_kernel gives each block
 * DEC_CHUNK = 256 keys of one head (a warp per key for the scores, a warp per
 * key subset for the values) and writes (acc[hd], max, sum) per chunk;
 * attn_decode_combine_kernel rescales the chunks to the global max and sums.
 * Grid (ceil(keys / 256), n_head), then (n_head).
 *
 * Head sizes up to 256 (DPL = 2, 4 or 8 dims per lane: 64, 128, 256).
 */
#include <limits.h>
#include <math.h>

#include "kern-cuda-common.cuh"

#define FA_WARPS 4
#define FA_QPW 4                   /* queries per warp */
#define FA_BQ (FA_WARPS * FA_QPW)  /* queries per block */
#define FA_BK KC_WARP              /* keys per tile: one per lane */

#define DEC_WARPS 4
#define DEC_CHUNK 256              /* keys per block of the decode kernel */

#define ATT_MAX_HD 256

static __device__ __forceinline__ float kc_kv(const float *p, size_t i) { return p[i]; }
static __device__ __forceinline__ float kc_kv(const __half *p, size_t i) { return __half2float(p[i]); }

/* q, out: (Tq, nh, hd); k, v: (Tk, nkv, hd). Dynamic shared memory:
 * (FA_BQ * hd + FA_BK * (hd + 1) + FA_BK * hd) floats. */
template <int DPL, typename KV>
__global__ void __launch_bounds__(FA_WARPS *KC_WARP)
attn_tile_kernel(const float *q, const KV *__restrict__ k, const KV *__restrict__ v, float *out, int hd, int nh,
                 int nkv, int Tq, int Tk, float scale, int causal, long long pos0)
{
  extern __shared__ float smem[];
  float *qs = smem;                  /* (FA_BQ, hd) */
  float *ks = qs + FA_BQ * hd;       /* (FA_BK, hd + 1): the pad puts lane j's row j on distinct banks */
  float *vs = ks + FA_BK * (hd + 1); /* (FA_BK, hd) */
  const int lane = threadIdx.x % KC_WARP, warp = threadIdx.x / KC_WARP;
  const int h = blockIdx.y, kvh = h / (nh / nkv);
  const int64_t q0 = (int64_t)blockIdx.x * FA_BQ;

  for (int idx = threadIdx.x; idx < FA_BQ * hd; idx += blockDim.x) {
    const int64_t qi = q0 + idx / hd;
    qs[idx] = qi < Tq ? q[(qi * nh + h) * hd + idx % hd] : 0.0f;
  }

  /* Keys [0, kend) matter to this block: all, or up to its last query's position. */
  const int64_t qlast = (q0 + FA_BQ < Tq ? q0 + FA_BQ : (int64_t)Tq) - 1;
  const int64_t kend = causal ? (pos0 + qlast + 1 < Tk ? pos0 + qlast + 1 : (int64_t)Tk) : (int64_t)Tk;

  float m[FA_QPW], l[FA_QPW], acc[FA_QPW][DPL];
#pragma unroll
  for (int qq = 0; qq < FA_QPW; qq++) {
    m[qq] = -INFINITY;
    l[qq] = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; i++)
      acc[qq][i] = 0.0f;
  }

  for (int64_t kt = 0; kt < kend; kt += FA_BK) {
    __syncthreads(); /* the previous tile is used up (and, the first time, Q is loaded) */
    for (int idx = threadIdx.x; idx < FA_BK * hd; idx += blockDim.x) {
      const int j = idx / hd, d = idx % hd;
      const int64_t kj = kt + j;
      float kv = 0.0f, vv = 0.0f;
      if (kj < kend) {
        const size_t off = ((size_t)kj * nkv + kvh) * hd + d;
        kv = kc_kv(k, off);
        vv = kc_kv(v, off);
      }
      ks[j * (hd + 1) + d] = kv;
      vs[j * hd + d] = vv;
    }
    __syncthreads();
    const int nj = kend - kt < FA_BK ? (int)(kend - kt) : FA_BK;

#pragma unroll
    for (int qq = 0; qq < FA_QPW; qq++) {
      const int r = warp * FA_QPW + qq;
      const int64_t qi = q0 + r;
      if (qi >= Tq)
        continue; /* warp-uniform */
      const int64_t last = causal ? pos0 + qi : (int64_t)Tk - 1; /* last key this query sees */
      const int64_t kj = kt + lane;
      float s = -INFINITY;
      if (lane < nj && kj <= last) {
        const float *qr = qs + r * hd, *kr = ks + lane * (hd + 1);
        float dot = 0.0f;
        for (int d = 0; d < hd; d++)
          dot += qr[d] * kr[d];
        s = dot * scale;
      }
      const float mt = kc_warp_max(s);
      if (mt == -INFINITY)
        continue; /* no key of this tile is visible to this query (warp-uniform) */
      const float mnew = fmaxf(m[qq], mt);
      const float corr = expf(m[qq] - mnew); /* 0 on the first visible tile (m = -inf) */
      const float p = s == -INFINITY ? 0.0f : expf(s - mnew);
      l[qq] = l[qq] * corr + kc_warp_sum(p);
      m[qq] = mnew;
#pragma unroll
      for (int i = 0; i < DPL; i++)
        acc[qq][i] *= corr;
      for (int j = 0; j < nj; j++) {
        const float pj = __shfl_sync(KC_FULL_MASK, p, j);
        const float *vr = vs + j * hd;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
          const int d = lane + KC_WARP * i;
          if (d < hd)
            acc[qq][i] += pj * vr[d];
        }
      }
    }
  }

#pragma unroll
  for (int qq = 0; qq < FA_QPW; qq++) {
    const int64_t qi = q0 + warp * FA_QPW + qq;
    if (qi >= Tq)
      continue;
    const float inv = 1.0f / l[qq]; /* l > 0: every query sees key 0 at least */
#pragma unroll
    for (int i = 0; i < DPL; i++) {
      const int d = lane + KC_WARP * i;
      if (d < hd)
        out[(qi * nh + h) * hd + d] = acc[qq][i] * inv;
    }
  }
}

/* One query per head (q: (nh, hd)); block (chunk c, head h) handles keys
 * [c * DEC_CHUNK, min(nkeys, (c + 1) * DEC_CHUNK)). part: (nh, nchunk, hd + 2)
 * = unnormalized output, chunk max, chunk sum. */
template <int DPL, typename KV>
__global__ void __launch_bounds__(DEC_WARPS *KC_WARP)
attn_decode_partial_kernel(const float *__restrict__ q, const KV *__restrict__ k, const KV *__restrict__ v,
                           float *__restrict__ part, int hd, int nh, int nkv, long long nkeys, int nchunk, float scale)
{
  __shared__ float qsm[DPL * KC_WARP];
  __shared__ float sc[DEC_CHUNK];
  __shared__ float red[DEC_WARPS][DPL * KC_WARP];
  __shared__ float scratch[KC_WARP];
  const int lane = threadIdx.x % KC_WARP, warp = threadIdx.x / KC_WARP;
  const int c = blockIdx.x, h = blockIdx.y, kvh = h / (nh / nkv);
  const int64_t k0 = (int64_t)c * DEC_CHUNK;
  const int n = nkeys - k0 < DEC_CHUNK ? (int)(nkeys - k0) : DEC_CHUNK; /* >= 1 by the grid */

  for (int d = threadIdx.x; d < hd; d += blockDim.x)
    qsm[d] = q[(size_t)h * hd + d];
  __syncthreads();

  /* Scores: a warp per key, lanes over the head dims (coalesced rows of K). */
  for (int jj = warp; jj < n; jj += DEC_WARPS) {
    const KV *kr = k + ((size_t)(k0 + jj) * nkv + kvh) * hd;
    float s = 0.0f;
    for (int d = lane; d < hd; d += KC_WARP)
      s += qsm[d] * kc_kv(kr, (size_t)d);
    s = kc_warp_sum(s);
    if (lane == 0)
      sc[jj] = s * scale;
  }
  __syncthreads();

  float mx = -INFINITY;
  for (int jj = threadIdx.x; jj < n; jj += blockDim.x)
    mx = fmaxf(mx, sc[jj]);
  mx = kc_block_max(mx, scratch);
  float ls = 0.0f;
  for (int jj = threadIdx.x; jj < n; jj += blockDim.x) {
    const float p = expf(sc[jj] - mx);
    sc[jj] = p;
    ls += p;
  }
  ls = kc_block_sum(ls, scratch); /* its barriers also publish the sc[] writes */

  /* Values: warp w takes keys w, w + DEC_WARPS, ...; lanes own dims. */
  float acc[DPL];
#pragma unroll
  for (int i = 0; i < DPL; i++)
    acc[i] = 0.0f;
  for (int jj = warp; jj < n; jj += DEC_WARPS) {
    const float p = sc[jj];
    const KV *vr = v + ((size_t)(k0 + jj) * nkv + kvh) * hd;
#pragma unroll
    for (int i = 0; i < DPL; i++) {
      const int d = lane + KC_WARP * i;
      if (d < hd)
        acc[i] += p * kc_kv(vr, (size_t)d);
    }
  }
#pragma unroll
  for (int i = 0; i < DPL; i++) {
    const int d = lane + KC_WARP * i;
    if (d < hd)
      red[warp][d] = acc[i];
  }
  __syncthreads();
  float *pp = part + ((size_t)h * nchunk + c) * (hd + 2);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < DEC_WARPS; w++)
      s += red[w][d];
    pp[d] = s;
  }
  if (threadIdx.x == 0) {
    pp[hd] = mx;
    pp[hd + 1] = ls;
  }
}

/* out (nh, hd) = sum_c acc_c * e^(m_c - M) / sum_c l_c * e^(m_c - M). Block per head. */
__global__ void
attn_decode_combine_kernel(const float *__restrict__ part, float *out, int hd, int nchunk)
{
  const int h = blockIdx.x;
  const float *ph = part + (size_t)h * nchunk * (hd + 2);
  float M = -INFINITY;
  for (int c = 0; c < nchunk; c++)
    M = fmaxf(M, ph[(size_t)c * (hd + 2) + hd]);
  float L = 0.0f;
  for (int c = 0; c < nchunk; c++)
    L += ph[(size_t)c * (hd + 2) + hd + 1] * expf(ph[(size_t)c * (hd + 2) + hd] - M);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int c = 0; c < nchunk; c++)
      o += ph[(size_t)c * (hd + 2) + d] * expf(ph[(size_t)c * (hd + 2) + hd] - M);
    out[(size_t)h * hd + d] = o / L;
  }
}

/* ---- host side -------------------------------------------------------------------- */

typedef struct {
  const float *q;
  const void *k, *v;
  float *out;
  int hd, nh, nkv, Tq, Tk, causal;
  long long pos0;
  float scale;
} att_args;

template <int DPL, typename KV>
static int
launch_tile(kern_backend_t be, const att_args *a)
{
  const size_t smem = (size_t)(FA_BQ * a->hd + FA_BK * (a->hd + 1) + FA_BK * a->hd) * sizeof(float);
  if (smem > 48 * 1024) /* beyond the default: opt in (sm_80+ allow up to 99 KiB or more) */
    CUDA_TRY(cudaFuncSetAttribute(attn_tile_kernel<DPL, KV>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  const dim3 grid((unsigned)kc_ceil_div(a->Tq, FA_BQ), (unsigned)a->nh);
  attn_tile_kernel<DPL, KV><<<grid, FA_WARPS * KC_WARP, smem, kern_cuda_ctx_of(be)->stream>>>(
      a->q, (const KV *)a->k, (const KV *)a->v, a->out, a->hd, a->nh, a->nkv, a->Tq, a->Tk, a->scale, a->causal,
      a->pos0);
  CUDA_CHECK_LAUNCH("attn_tile_kernel");
  return 0;
}

template <int DPL, typename KV>
static int
launch_decode(kern_backend_t be, const att_args *a)
{
  kern_cuda_ctx *ctx = kern_cuda_ctx_of(be);
  const long long nkeys = a->causal ? a->pos0 + 1 : a->Tk;
  const int64_t nchunk = kc_ceil_div(nkeys, DEC_CHUNK);
  void *part;
  int rc = _kern_cuda_workspace(be, (size_t)(a->nh * nchunk * (a->hd + 2)) * sizeof(float), &part);
  if (rc)
    return rc;
  const dim3 grid((unsigned)nchunk, (unsigned)a->nh);
  attn_decode_partial_kernel<DPL, KV><<<grid, DEC_WARPS * KC_WARP, 0, ctx->stream>>>(
      a->q, (const KV *)a->k, (const KV *)a->v, (float *)part, a->hd, a->nh, a->nkv, nkeys, (int)nchunk, a->scale);
  CUDA_CHECK_LAUNCH("attn_decode_partial_kernel");
  attn_decode_combine_kernel<<<(unsigned)a->nh, kc_row_threads(a->hd, 256), 0, ctx->stream>>>((const float *)part,
                                                                                              a->out, a->hd,
                                                                                              (int)nchunk);
  CUDA_CHECK_LAUNCH("attn_decode_combine_kernel");
  return 0;
}

template <typename KV>
static int
dispatch(kern_backend_t be, const att_args *a)
{
  const bool decode = a->Tq == 1;
  if (a->hd <= 64)
    return decode ? launch_decode<2, KV>(be, a) : launch_tile<2, KV>(be, a);
  if (a->hd <= 128)
    return decode ? launch_decode<4, KV>(be, a) : launch_tile<4, KV>(be, a);
  return decode ? launch_decode<8, KV>(be, a) : launch_tile<8, KV>(be, a);
}

__global__ void
q8_0_to_f16_kernel(__half *dst, const uint8_t *src, int64_t n)
{
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  const uint8_t *blk = src + (i / 32) * 34;
  dst[i] = __float2half_rn(__half2float(*(const __half *)blk) * (float)(int8_t)blk[2 + i % 32]);
}

int
_kern_cuda_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k,
                     const kern_tensor *v, float scale, int causal, int64_t pos0)
{
  CUDA_BEGIN(be);
  const int64_t hd = q->ne[0], nh = q->ne[1], Tq = q->ne[2], nkv = k->ne[1], Tk = k->ne[2];
  if (hd > ATT_MAX_HD)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "attention: head size %lld > %d has no CUDA kernel",
                            (long long)hd, ATT_MAX_HD);
  if (nh > 65535 || Tq > INT_MAX || Tk > INT_MAX || nkv * Tk * hd > (int64_t)1 << 40)
    return _kern_cuda_error(be, KERN_E_UNSUPPORTED, "attention: shape beyond the CUDA kernels' limits");
  att_args a;
  a.q = (const float *)q->data;
  a.k = k->data;
  a.v = v->data;
  a.out = (float *)out->data; /* may alias q: each block reads its queries before writing them */
  a.hd = (int)hd, a.nh = (int)nh, a.nkv = (int)nkv, a.Tq = (int)Tq, a.Tk = (int)Tk, a.causal = causal;
  a.pos0 = (long long)pos0;
  a.scale = scale;
  if (k->type == KERN_TYPE_Q8_0) {
    /* A Q8_0 cache: widen the keys and values to F16 in a stream-ordered
     * buffer (the workspace is taken by the decode kernel's partials). */
    const int64_t nel = hd * nkv * Tk;
    cudaStream_t st = kern_cuda_ctx_of(be)->stream;
    __half *kv16;
    CUDA_TRY(cudaMallocAsync((void **)&kv16, 2 * (size_t)nel * sizeof(__half), st));
    const unsigned grid = (unsigned)kc_ceil_div(nel, 256);
    q8_0_to_f16_kernel<<<grid, 256, 0, st>>>(kv16, (const uint8_t *)k->data, nel);
    q8_0_to_f16_kernel<<<grid, 256, 0, st>>>(kv16 + nel, (const uint8_t *)v->data, nel);
    CUDA_CHECK_LAUNCH("q8_0_to_f16_kernel");
    a.k = kv16;
    a.v = kv16 + nel;
    int rc = dispatch<__half>(be, &a);
    CUDA_TRY(cudaFreeAsync(kv16, st));
    return rc;
  }
  return k->type == KERN_TYPE_F16 ? dispatch<__half>(be, &a) : dispatch<float>(be, &a);
}
