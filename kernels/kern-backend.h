/* kern-backend.h: compute backends, backend tensors and the op set.
 *
 * Three backends implement one op set: "cpu-ref" (plain loops, the
 * specification), "cpu" (thread pool + SIMD chosen at run time) and "cuda:N"
 * (own kernels + cuBLAS, in the CUDA module). Models call ops imperatively on
 * backend tensors; shapes and types are checked here, once, before a backend
 * sees them, so every backend can rely on valid arguments.
 *
 * Layout convention (as GGUF/ggml): ne[0] is the fastest-varying dimension and
 * every tensor is contiguous. A "row" is ne[0] consecutive values; [a, b]
 * below means ne[0] = a, ne[1] = b.
 *
 * Threads: a backend and its tensors serve one thread at a time. Ops may run
 * asynchronously on a GPU; kern_tensor_get and kern_backend_sync wait.
 * Errors: every call returns 0 or a negative kern_status; the message is in
 * kern_backend_errmsg(be). Out of device memory is KERN_E_DEVICE with a message,
 * never a crash.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "kern-type.h"
#include "kern-weights.h" /* KERN_MAX_DIMS */

typedef struct kern_backend *kern_backend_t;

typedef struct kern_tensor {
  int type;                  /* kern_type */
  int n_dims;
  int64_t ne[KERN_MAX_DIMS]; /* unused dimensions are 1 */
  size_t nbytes;
  void *data;                /* host memory for CPU backends, device memory for CUDA */
  kern_backend_t backend;
  int owned;                 /* data is freed with the tensor (0 for views) */
} kern_tensor;

typedef struct {
  int n_threads;             /* "cpu": worker threads, 0 = physical cores */
} kern_backend_params;

kern_backend_params kern_backend_default_params(void);

/* name: "auto" (CUDA device 0 when it can be made, else "cpu"), "cpu-ref",
 * "cpu", "cuda" (device 0) or "cuda:N"; NULL is "cpu". Returns NULL and sets
 * *err (malloc'd) when the backend cannot be made (no GPU, no CUDA module). */
kern_backend_t kern_backend_new(const char *name, const kern_backend_params *p, char **err);
void kern_backend_free(kern_backend_t be);
const char *kern_backend_name(kern_backend_t be);
const char *kern_backend_errmsg(kern_backend_t be);
int kern_backend_sync(kern_backend_t be);
int kern_backend_is_host(kern_backend_t be); /* tensor data is host memory */

/* ---- tensors ---------------------------------------------------------- */

/* Allocates an uninitialized tensor on be; NULL on failure (see errmsg). */
kern_tensor *kern_tensor_new(kern_backend_t be, int type, int n_dims, const int64_t *ne);
kern_tensor *kern_tensor_new_2d(kern_backend_t be, int type, int64_t ne0, int64_t ne1);
void kern_tensor_free(kern_tensor *t);
/* Copies host bytes in/out (offset and size in bytes, within nbytes). */
int kern_tensor_set(kern_tensor *t, const void *src, size_t offset, size_t size);
int kern_tensor_get(const kern_tensor *t, void *dst, size_t offset, size_t size);
/* A tensor from a weight file: host backends reference the mapped data (no
 * copy) when it is 32-byte aligned and copy it otherwise; device backends
 * allocate and upload. */
kern_tensor *kern_tensor_from_weights(kern_backend_t be, const kern_tensor_info *info);
/* A view of `count` slices starting at `start` along the outermost dimension
 * (ne[n_dims-1]); shares t's memory, never frees it. */
kern_tensor kern_tensor_slice(const kern_tensor *t, int64_t start, int64_t count);
/* The same memory seen with another shape (same element count and type). */
kern_tensor kern_tensor_reshape(const kern_tensor *t, int n_dims, const int64_t *ne);
int64_t kern_tensor_nel(const kern_tensor *t);
int64_t kern_tensor_nrows(const kern_tensor *t); /* nel / ne[0] */

/* ---- ops ---------------------------------------------------------------- */

typedef enum {
  KERN_OP_MATMUL,
  KERN_OP_ADD,
  KERN_OP_MUL,
  KERN_OP_SCALE,
  KERN_OP_LAYERNORM,
  KERN_OP_RMSNORM,
  KERN_OP_UNARY,
  KERN_OP_SWIGLU,
  KERN_OP_SOFTMAX,
  KERN_OP_ROPE,
  KERN_OP_CONV1D,
  KERN_OP_PATCH_EMBED,
  KERN_OP_GET_ROWS,
  KERN_OP_ATTENTION,
  KERN_OP_COPY,
  KERN_OP_ARGMAX,
  KERN_OP_TOPK,
  KERN_OP_COUNT,
} kern_op;

typedef enum {
  KERN_UNARY_GELU,       /* x * Phi(x), with erf (Whisper, HF "gelu") */
  KERN_UNARY_GELU_TANH,  /* tanh approximation (HF "gelu_pytorch_tanh", "gelu_new") */
  KERN_UNARY_GELU_QUICK, /* x * sigmoid(1.702 x) (OpenAI CLIP "quick_gelu") */
  KERN_UNARY_SILU,
  KERN_UNARY_RELU,
} kern_unary_op;

typedef enum {
  KERN_ROPE_NORMAL, /* rotate pairs (x[2i], x[2i+1]): llama in GGUF layout */
  KERN_ROPE_NEOX,   /* rotate (x[i], x[i + n_rot/2]): qwen2, gemma, HF layout */
} kern_rope_mode;

typedef struct {
  int n_rot;                       /* dimensions rotated (<= head_dim, even) */
  kern_rope_mode mode;
  float base;                      /* theta base, e.g. 10000 or 500000 */
  float freq_scale;                /* linear scaling: positions multiplied by this (1 = none) */
  const kern_tensor *freq_factors; /* NULL, or [n_rot/2] F32 divisors of each frequency (Llama 3) */
} kern_rope_params;

/* Whether the backend implements op for this (weight / input) type. */
int kern_backend_supports(kern_backend_t be, kern_op op, int type);
const char *kern_op_name(kern_op op);

/* y[N, M] = x[K, M] . w[K, N]^T (+ bias[N]): y[m][n] = sum_k w[n][k] x[m][k].
 * w: F32, F16, BF16 or any quantized type with K a multiple of its block;
 * x, y, bias: F32. */
int kern_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x,
                const kern_tensor *bias);

/* y = a op b, F32; b is broadcast: b->ne[0] == a->ne[0] and nel(a) is a
 * multiple of nel(b) (b repeats over a's rows). y may be a. */
int kern_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
int kern_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
int kern_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s);

/* Row-wise normalization over ne[0]. gamma/beta: NULL or [ne0] F32.
 * layernorm: (x - mean) / sqrt(var + eps) * gamma + beta;
 * rmsnorm: x / sqrt(mean(x^2) + eps) * gamma. y may be x. */
int kern_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
                   const kern_tensor *beta, float eps);
int kern_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps);

/* Elementwise activation, F32; y may be x. */
int kern_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op);
/* y = silu(gate) * up, F32, same shapes. */
int kern_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up);
/* Row-wise y = softmax(scale * x), F32. */
int kern_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale);

/* x, y: [head_dim, n_head, T] F32; pos: [T] I32 absolute positions. Rotates the
 * first n_rot dims of each head by pos * freq_scale * base^(-2i/n_rot) (divided
 * by freq_factors[i] when given). y may be x. */
int kern_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos,
              const kern_rope_params *p);

/* 1-D convolution, channels-last. x: [C_in, T] F32; w: [K, C_in, C_out] (PyTorch's
 * (C_out, C_in, K)) F32 or F16; bias: NULL or [C_out] F32; y: [C_out, T_out] F32 with
 * T_out = (T + 2 pad - K) / stride + 1. */
int kern_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w,
                const kern_tensor *bias, int stride, int pad);

/* Non-overlapping patches (a conv2d with kernel = stride = P). img: [W, H, C]
 * F32 (planar, as PyTorch's (C, H, W)); w: [P, P, C, D] (PyTorch (D, C, P, P)) F32
 * or F16; bias: NULL or [D]; y: [D, (H/P) * (W/P)] F32, patches in row-major order. */
int kern_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                     const kern_tensor *bias);

/* y[D, n] = rows ids[0..n) of table[D, V] (any type), converted to F32.
 * ids: [n] I32, each in [0, V) (checked by the backend: KERN_E_INVAL otherwise). */
int kern_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids);

/* Scaled dot-product attention with grouped-query heads.
 * q: [hd, n_head, Tq] F32; k, v: [hd, n_kv_head, Tk] F32, F16 or both Q8_0 (a
 * quantized KV cache; hd a multiple of 32) (n_head a multiple
 * of n_kv_head; query head h reads kv head h / (n_head / n_kv_head));
 * out: [hd, n_head, Tq] F32. causal: query i sits at position pos0 + i and sees
 * keys 0 .. pos0 + i (requires pos0 + Tq <= Tk); otherwise every key. */
int kern_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k,
                   const kern_tensor *v, float scale, int causal, int64_t pos0);

/* Converts between F32, F16 and BF16, or F32 to Q8_0 (same element count;
 * shapes may differ). Use with kern_tensor_slice to append to a KV cache. */
int kern_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src);

/* Per row of x [n, rows] F32: the index of the largest value (first on ties). out: [rows] I32. */
int kern_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x);
/* Per row: the k largest values in descending order (ties: lower index first).
 * idx: [k, rows] I32; val: [k, rows] F32. */
int kern_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k);
