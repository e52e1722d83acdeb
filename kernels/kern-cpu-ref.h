/* kern-cpu-ref.h: the reference CPU ops. Private to kernels/.
 *
 * Plain loops, double accumulation, no intrinsics: the specification every
 * other backend is tested against. The fast CPU backend also calls these for
 * ops where it has nothing faster. All take host tensors already checked by
 * kern-backend.c. */
#pragma once

#include "kern-backend-impl.h"

int _kern_ref_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x,
                     const kern_tensor *bias);
int _kern_ref_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
int _kern_ref_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
int _kern_ref_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s);
int _kern_ref_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
                        const kern_tensor *beta, float eps);
int _kern_ref_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps);
int _kern_ref_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op);
int _kern_ref_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up);
int _kern_ref_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale);
int _kern_ref_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos,
                   const kern_rope_params *p);
int _kern_ref_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w,
                     const kern_tensor *bias, int stride, int pad);
int _kern_ref_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                          const kern_tensor *bias);
int _kern_ref_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids);
int _kern_ref_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k,
                        const kern_tensor *v, float scale, int causal, int64_t pos0);
int _kern_ref_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src);
int _kern_ref_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x);
int _kern_ref_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k);

/* Host memory functions shared by both CPU backends. */
void *_kern_host_alloc(kern_backend_t be, size_t size);
void _kern_host_free(kern_backend_t be, void *ptr);
int _kern_host_copy(kern_backend_t be, void *dst, const void *src, size_t size);
int _kern_host_sync(kern_backend_t be);

/* Activation value of one element (shared so every CPU path computes the same function). */
float _kern_unary_f32(kern_unary_op op, float x);
