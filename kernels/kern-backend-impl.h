/* kern-backend-impl.h: the table a backend fills in. Private to kernels/ (and
 * the CUDA module, which is compiled against it).
 *
 * Ops are called only after kern-backend.c has checked types, shapes and that
 * every tensor belongs to this backend, so implementations need not re-check
 * (except data-dependent things such as out-of-range ids). Optional members
 * may be NULL: the op then reports KERN_E_UNSUPPORTED. */
#pragma once

#include <stdarg.h>

#include "kern-backend.h"

struct kern_backend_i {
  const char *name;
  int is_host; /* tensor data is host memory (direct pointers allowed) */

  /* required */
  void (*destroy)(kern_backend_t be);
  void *(*alloc)(kern_backend_t be, size_t size); /* NULL with errmsg set on failure */
  void (*free)(kern_backend_t be, void *ptr);
  int (*upload)(kern_backend_t be, void *dst, const void *src, size_t size);
  int (*download)(kern_backend_t be, void *dst, const void *src, size_t size);
  int (*sync)(kern_backend_t be);
  int (*supports_op)(kern_backend_t be, kern_op op, int type);

  /* ops (optional) */
  int (*matmul)(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x,
                const kern_tensor *bias);
  int (*add)(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
  int (*mul)(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b);
  int (*scale)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s);
  int (*layernorm)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
                   const kern_tensor *beta, float eps);
  int (*rmsnorm)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps);
  int (*unary)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op);
  int (*swiglu)(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up);
  int (*softmax)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale);
  int (*rope)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos,
              const kern_rope_params *p);
  int (*conv1d)(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w,
                const kern_tensor *bias, int stride, int pad);
  int (*patch_embed)(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                     const kern_tensor *bias);
  int (*get_rows)(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids);
  int (*attention)(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k,
                   const kern_tensor *v, float scale, int causal, int64_t pos0);
  int (*copy)(kern_backend_t be, kern_tensor *dst, const kern_tensor *src);
  int (*argmax)(kern_backend_t be, kern_tensor *out, const kern_tensor *x);
  int (*topk)(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k);
};

struct kern_backend {
  const struct kern_backend_i *iface;
  void *ctx;          /* the implementation's state */
  char name[32];      /* "cpu", "cuda:0" */
  char errmsg[512];
};

/* Records a message on be (printf-style) and returns code. */
int _kern_backend_error(kern_backend_t be, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int _kern_backend_verror(kern_backend_t be, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Constructors of the built-in backends (kern-cpu-ref.c, kern-cpu-fast.c). */
kern_backend_t _kern_cpu_ref_new(char **err);
kern_backend_t _kern_cpu_fast_new(const kern_backend_params *p, char **err);
/* The CUDA backend, through the module (kern-cuda-loader.c). */
kern_backend_t _kern_cuda_backend_new(int device, char **err);
