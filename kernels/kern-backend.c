/* kern-backend.c: backend creation, backend tensors, and the op entry points.
 *
 * Each kern_<op> checks its arguments here (types, shapes, ownership) and then
 * calls the backend's implementation, so the checks exist once for all
 * backends and a backend can trust its inputs. */
#include "kern-backend-impl.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
_kern_backend_verror(kern_backend_t be, int code, const char *fmt, va_list ap)
{
  if (be)
    vsnprintf(be->errmsg, sizeof be->errmsg, fmt, ap);
  return code;
}

int
_kern_backend_error(kern_backend_t be, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _kern_backend_verror(be, code, fmt, ap);
  va_end(ap);
  return code;
}

kern_backend_params
kern_backend_default_params(void)
{
  return (kern_backend_params){ .n_threads = 0 };
}

kern_backend_t
kern_backend_new(const char *name, const kern_backend_params *p, char **err)
{
  kern_backend_params def = kern_backend_default_params();
  if (err)
    *err = NULL;
  if (!p)
    p = &def;
  if (name && strcmp(name, "auto") == 0) {
    kern_backend_t be = kern_backend_new("cuda", p, NULL);
    return be ? be : _kern_cpu_fast_new(p, err);
  }
  if (!name || strcmp(name, "cpu") == 0)
    return _kern_cpu_fast_new(p, err);
  if (strcmp(name, "cpu-ref") == 0)
    return _kern_cpu_ref_new(err);
  if (strncmp(name, "cuda", 4) == 0) {
    int dev = 0;
    if (name[4] == ':') {
      char *end;
      long d = strtol(name + 5, &end, 10);
      if (*end || end == name + 5 || d < 0 || d > 64)
        goto unknown;
      dev = (int)d;
    } else if (name[4]) {
      goto unknown;
    }
    return _kern_cuda_backend_new(dev, err);
  }
unknown:
  if (err) {
    char msg[128];
    snprintf(msg, sizeof msg, "unknown backend '%s' (auto, cpu, cpu-ref, cuda, cuda:N)", name);
    *err = strdup(msg);
  }
  return NULL;
}

void
kern_backend_free(kern_backend_t be)
{
  if (be)
    be->iface->destroy(be);
}

const char *
kern_backend_name(kern_backend_t be)
{
  return be->name;
}

const char *
kern_backend_errmsg(kern_backend_t be)
{
  return be->errmsg[0] ? be->errmsg : "no error";
}

int
kern_backend_sync(kern_backend_t be)
{
  return be->iface->sync(be);
}

int
kern_backend_is_host(kern_backend_t be)
{
  return be->iface->is_host;
}

int
kern_backend_supports(kern_backend_t be, kern_op op, int type)
{
  return be->iface->supports_op(be, op, type);
}

const char *
kern_op_name(kern_op op)
{
  static const char *const names[KERN_OP_COUNT] = {
    "matmul", "add", "mul", "scale", "layernorm", "rmsnorm", "unary", "swiglu", "softmax",
    "rope", "conv1d", "patch_embed", "get_rows", "attention", "copy", "argmax", "topk",
  };
  return op >= 0 && op < KERN_OP_COUNT ? names[op] : "unknown";
}

/* ---- tensors ---------------------------------------------------------- */

static int
shape_bytes(int type, int n_dims, const int64_t *ne, int64_t out_ne[KERN_MAX_DIMS], size_t *nbytes)
{
  const kern_type_traits *tr = kern_type_get_traits(type);
  if (!tr || n_dims < 1 || n_dims > KERN_MAX_DIMS)
    return KERN_E_INVAL;
  uint64_t rows = 1;
  for (int d = 0; d < KERN_MAX_DIMS; d++) {
    out_ne[d] = d < n_dims ? ne[d] : 1;
    if (out_ne[d] <= 0)
      return KERN_E_INVAL;
    if (d > 0) {
      if (rows > SIZE_MAX / (uint64_t)out_ne[d])
        return KERN_E_INVAL;
      rows *= (uint64_t)out_ne[d];
    }
  }
  size_t row = kern_type_row_size(type, out_ne[0]);
  if (row == 0 || rows > SIZE_MAX / row)
    return KERN_E_INVAL;
  *nbytes = row * (size_t)rows;
  return 0;
}

kern_tensor *
kern_tensor_new(kern_backend_t be, int type, int n_dims, const int64_t *ne)
{
  kern_tensor *t = calloc(1, sizeof *t);
  if (!t) {
    _kern_backend_error(be, KERN_E_NOMEM, "out of host memory");
    return NULL;
  }
  if (shape_bytes(type, n_dims, ne, t->ne, &t->nbytes) != 0) {
    _kern_backend_error(be, KERN_E_INVAL, "invalid tensor type %d or shape", type);
    free(t);
    return NULL;
  }
  t->type = type;
  t->n_dims = n_dims;
  t->backend = be;
  t->owned = 1;
  t->data = be->iface->alloc(be, t->nbytes);
  if (!t->data) {
    free(t);
    return NULL;
  }
  return t;
}

kern_tensor *
kern_tensor_new_2d(kern_backend_t be, int type, int64_t ne0, int64_t ne1)
{
  const int64_t ne[2] = { ne0, ne1 };
  return kern_tensor_new(be, type, 2, ne);
}

void
kern_tensor_free(kern_tensor *t)
{
  if (!t)
    return;
  if (t->owned && t->data)
    t->backend->iface->free(t->backend, t->data);
  free(t);
}

int
kern_tensor_set(kern_tensor *t, const void *src, size_t offset, size_t size)
{
  if (offset > t->nbytes || size > t->nbytes - offset)
    return _kern_backend_error(t->backend, KERN_E_INVAL, "write of %zu bytes at %zu past a %zu-byte tensor", size,
                               offset, t->nbytes);
  return t->backend->iface->upload(t->backend, (char *)t->data + offset, src, size);
}

int
kern_tensor_get(const kern_tensor *t, void *dst, size_t offset, size_t size)
{
  if (offset > t->nbytes || size > t->nbytes - offset)
    return _kern_backend_error(t->backend, KERN_E_INVAL, "read of %zu bytes at %zu past a %zu-byte tensor", size,
                               offset, t->nbytes);
  return t->backend->iface->download(t->backend, dst, (const char *)t->data + offset, size);
}

kern_tensor *
kern_tensor_from_weights(kern_backend_t be, const kern_tensor_info *info)
{
  /* Zero copy where the file's data is aligned (GGUF, safetensors mostly);
   * CTranslate2 and whisper.cpp files have no padding, and unaligned float
   * loads are undefined behaviour, so those tensors get an aligned copy. */
  if (be->iface->is_host && (uintptr_t)info->data % 32 == 0) {
    kern_tensor *t = calloc(1, sizeof *t);
    if (!t) {
      _kern_backend_error(be, KERN_E_NOMEM, "out of host memory");
      return NULL;
    }
    t->type = info->type;
    t->n_dims = info->n_dims;
    memcpy(t->ne, info->ne, sizeof t->ne);
    t->nbytes = info->nbytes;
    t->data = (void *)info->data; /* the mapping outlives the model that uses it */
    t->backend = be;
    return t;
  }
  kern_tensor *t = kern_tensor_new(be, info->type, info->n_dims, info->ne);
  if (t && kern_tensor_set(t, info->data, 0, info->nbytes) != 0) {
    kern_tensor_free(t);
    return NULL;
  }
  return t;
}

int64_t
kern_tensor_nel(const kern_tensor *t)
{
  return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

int64_t
kern_tensor_nrows(const kern_tensor *t)
{
  return t->ne[1] * t->ne[2] * t->ne[3];
}

kern_tensor
kern_tensor_slice(const kern_tensor *t, int64_t start, int64_t count)
{
  kern_tensor v = *t;
  int outer = t->n_dims - 1;
  v.owned = 0;
  if (start < 0 || count <= 0 || start > t->ne[outer] || count > t->ne[outer] - start) {
    v.data = NULL; /* an invalid view: every op rejects it */
    v.nbytes = 0;
    return v;
  }
  size_t per = t->nbytes / (size_t)t->ne[outer];
  v.ne[outer] = count;
  v.data = (char *)t->data + per * (size_t)start;
  v.nbytes = per * (size_t)count;
  return v;
}

kern_tensor
kern_tensor_reshape(const kern_tensor *t, int n_dims, const int64_t *ne)
{
  kern_tensor v = *t;
  v.owned = 0;
  size_t nbytes;
  if (shape_bytes(t->type, n_dims, ne, v.ne, &nbytes) != 0 || nbytes != t->nbytes ||
      v.ne[0] * v.ne[1] * v.ne[2] * v.ne[3] != kern_tensor_nel(t)) {
    v.data = NULL;
    v.nbytes = 0;
    return v;
  }
  v.n_dims = n_dims;
  return v;
}

/* ---- argument checks ------------------------------------------------- */

typedef struct {
  kern_backend_t be;
  const char *op;
  int rc;
} check;

static int fail(check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(check *c, const char *fmt, ...)
{
  if (c->rc)
    return 0;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  c->rc = _kern_backend_error(c->be, KERN_E_INVAL, "%s: %s", c->op, msg);
  return 0;
}

/* A tensor that exists, has memory, belongs to the backend and has one of the types. */
static int
ok_tensor(check *c, const char *what, const kern_tensor *t, int type_a, int type_b)
{
  if (!t)
    return fail(c, "%s is missing", what);
  if (!t->data)
    return fail(c, "%s is an invalid view", what);
  if (t->backend != c->be)
    return fail(c, "%s belongs to backend %s, not %s", what, t->backend ? t->backend->name : "(none)", c->be->name);
  if (t->type != type_a && t->type != type_b)
    return fail(c, "%s has type %s", what, kern_type_get_traits(t->type) ? kern_type_get_traits(t->type)->name : "?");
  return 1;
}

static int
same_shape(check *c, const char *a_name, const kern_tensor *a, const char *b_name, const kern_tensor *b)
{
  for (int d = 0; d < KERN_MAX_DIMS; d++)
    if (a->ne[d] != b->ne[d])
      return fail(c, "%s [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "] and %s [%" PRId64 ",%" PRId64 ",%" PRId64
                     ",%" PRId64 "] differ in shape",
                  a_name, a->ne[0], a->ne[1], a->ne[2], a->ne[3], b_name, b->ne[0], b->ne[1], b->ne[2], b->ne[3]);
  return 1;
}

static int
dims_eq(check *c, const char *what, const kern_tensor *t, int64_t n0, int64_t n1, int64_t n2)
{
  /* n < 0: any size. */
  int64_t want[3] = { n0, n1, n2 };
  for (int d = 0; d < 3; d++)
    if (want[d] >= 0 && t->ne[d] != want[d])
      return fail(c, "%s has ne[%d] = %" PRId64 ", expected %" PRId64, what, d, t->ne[d], want[d]);
  return 1;
}

static int
dispatch_missing(check *c, int present)
{
  if (!c->rc && !present)
    c->rc = _kern_backend_error(c->be, KERN_E_UNSUPPORTED, "%s: not implemented by backend %s", c->op, c->be->name);
  return !c->rc;
}

#define CHECK_BEGIN(opname) check c = { be, opname, 0 }
#define NO_TYPE (-1)

int
kern_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x, const kern_tensor *bias)
{
  CHECK_BEGIN("matmul");
  if (!w || !kern_type_get_traits(w->type) || w->type == KERN_TYPE_I8 || w->type == KERN_TYPE_I16 ||
      w->type == KERN_TYPE_I32 || w->type == KERN_TYPE_I64 || w->type == KERN_TYPE_F64 || w->type == KERN_TYPE_Q8_K)
    fail(&c, "unsupported weight type");
  else if (ok_tensor(&c, "w", w, w->type, NO_TYPE) && ok_tensor(&c, "x", x, KERN_TYPE_F32, NO_TYPE) &&
           ok_tensor(&c, "y", y, KERN_TYPE_F32, NO_TYPE)) {
    int64_t K = w->ne[0], N = kern_tensor_nrows(w), M = kern_tensor_nrows(x);
    if (x->ne[0] != K)
      fail(&c, "x rows have %" PRId64 " values, w rows %" PRId64, x->ne[0], K);
    else if (y->ne[0] != N || kern_tensor_nrows(y) != M)
      fail(&c, "y must be [%" PRId64 ", %" PRId64 "]", N, M);
    else if (bias && ok_tensor(&c, "bias", bias, KERN_TYPE_F32, NO_TYPE) && kern_tensor_nel(bias) != N)
      fail(&c, "bias has %" PRId64 " values, expected %" PRId64, kern_tensor_nel(bias), N);
  }
  if (!dispatch_missing(&c, be->iface->matmul != NULL))
    return c.rc;
  if (!be->iface->supports_op(be, KERN_OP_MATMUL, w->type))
    return _kern_backend_error(be, KERN_E_UNSUPPORTED, "matmul: backend %s has no kernel for %s weights", be->name,
                               kern_type_get_traits(w->type)->name);
  return be->iface->matmul(be, y, w, x, bias);
}

static int
check_binary(check *c, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  if (ok_tensor(c, "a", a, KERN_TYPE_F32, NO_TYPE) && ok_tensor(c, "b", b, KERN_TYPE_F32, NO_TYPE) &&
      ok_tensor(c, "y", y, KERN_TYPE_F32, NO_TYPE) && same_shape(c, "y", y, "a", a)) {
    if (b->ne[0] != a->ne[0] || kern_tensor_nel(a) % kern_tensor_nel(b) != 0)
      fail(c, "b (%" PRId64 " values, rows of %" PRId64 ") does not broadcast over a (rows of %" PRId64 ")",
           kern_tensor_nel(b), b->ne[0], a->ne[0]);
  }
  return !c->rc;
}

int
kern_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  CHECK_BEGIN("add");
  check_binary(&c, y, a, b);
  return dispatch_missing(&c, be->iface->add != NULL) ? be->iface->add(be, y, a, b) : c.rc;
}

int
kern_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  CHECK_BEGIN("mul");
  check_binary(&c, y, a, b);
  return dispatch_missing(&c, be->iface->mul != NULL) ? be->iface->mul(be, y, a, b) : c.rc;
}

static int
check_unary_f32(check *c, kern_tensor *y, const kern_tensor *x)
{
  return ok_tensor(c, "x", x, KERN_TYPE_F32, NO_TYPE) && ok_tensor(c, "y", y, KERN_TYPE_F32, NO_TYPE) &&
         same_shape(c, "y", y, "x", x);
}

int
kern_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s)
{
  CHECK_BEGIN("scale");
  check_unary_f32(&c, y, x);
  return dispatch_missing(&c, be->iface->scale != NULL) ? be->iface->scale(be, y, x, s) : c.rc;
}

static void
check_vec(check *c, const char *what, const kern_tensor *t, int64_t n)
{
  if (t && ok_tensor(c, what, t, KERN_TYPE_F32, NO_TYPE) && kern_tensor_nel(t) != n)
    fail(c, "%s has %" PRId64 " values, expected %" PRId64, what, kern_tensor_nel(t), n);
}

int
kern_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
               const kern_tensor *beta, float eps)
{
  CHECK_BEGIN("layernorm");
  if (check_unary_f32(&c, y, x)) {
    check_vec(&c, "gamma", gamma, x->ne[0]);
    check_vec(&c, "beta", beta, x->ne[0]);
  }
  return dispatch_missing(&c, be->iface->layernorm != NULL) ? be->iface->layernorm(be, y, x, gamma, beta, eps) : c.rc;
}

int
kern_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps)
{
  CHECK_BEGIN("rmsnorm");
  if (check_unary_f32(&c, y, x))
    check_vec(&c, "gamma", gamma, x->ne[0]);
  return dispatch_missing(&c, be->iface->rmsnorm != NULL) ? be->iface->rmsnorm(be, y, x, gamma, eps) : c.rc;
}

int
kern_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op)
{
  CHECK_BEGIN("unary");
  if (check_unary_f32(&c, y, x) && (op < KERN_UNARY_GELU || op > KERN_UNARY_RELU))
    fail(&c, "unknown activation %d", (int)op);
  return dispatch_missing(&c, be->iface->unary != NULL) ? be->iface->unary(be, y, x, op) : c.rc;
}

int
kern_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up)
{
  CHECK_BEGIN("swiglu");
  if (check_unary_f32(&c, y, gate) && ok_tensor(&c, "up", up, KERN_TYPE_F32, NO_TYPE))
    same_shape(&c, "up", up, "gate", gate);
  return dispatch_missing(&c, be->iface->swiglu != NULL) ? be->iface->swiglu(be, y, gate, up) : c.rc;
}

int
kern_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale)
{
  CHECK_BEGIN("softmax");
  check_unary_f32(&c, y, x);
  return dispatch_missing(&c, be->iface->softmax != NULL) ? be->iface->softmax(be, y, x, scale) : c.rc;
}

int
kern_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos, const kern_rope_params *p)
{
  CHECK_BEGIN("rope");
  if (!p)
    fail(&c, "no parameters");
  else if (check_unary_f32(&c, y, x) && ok_tensor(&c, "pos", pos, KERN_TYPE_I32, NO_TYPE)) {
    if (kern_tensor_nel(pos) != x->ne[2] || x->ne[3] != 1)
      fail(&c, "pos has %" PRId64 " values for %" PRId64 " positions", kern_tensor_nel(pos), x->ne[2]);
    else if (p->n_rot <= 0 || p->n_rot % 2 || p->n_rot > x->ne[0])
      fail(&c, "n_rot %d must be even and at most head_dim %" PRId64, p->n_rot, x->ne[0]);
    else if (p->mode != KERN_ROPE_NORMAL && p->mode != KERN_ROPE_NEOX)
      fail(&c, "unknown mode %d", (int)p->mode);
    else if (!(p->base > 0) || !(p->freq_scale > 0))
      fail(&c, "base and freq_scale must be positive");
    else
      check_vec(&c, "freq_factors", p->freq_factors, p->n_rot / 2);
  }
  return dispatch_missing(&c, be->iface->rope != NULL) ? be->iface->rope(be, y, x, pos, p) : c.rc;
}

int
kern_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w, const kern_tensor *bias,
            int stride, int pad)
{
  CHECK_BEGIN("conv1d");
  if (ok_tensor(&c, "x", x, KERN_TYPE_F32, NO_TYPE) && ok_tensor(&c, "w", w, KERN_TYPE_F32, KERN_TYPE_F16) &&
      ok_tensor(&c, "y", y, KERN_TYPE_F32, NO_TYPE)) {
    int64_t K = w->ne[0], Cin = w->ne[1], Cout = w->ne[2], T = x->ne[1];
    if (stride < 1 || pad < 0 || pad > 1 << 20)
      fail(&c, "stride %d / pad %d", stride, pad);
    else if (x->ne[0] != Cin || x->ne[2] != 1 || x->ne[3] != 1 || w->ne[3] != 1)
      fail(&c, "x must be [C_in = %" PRId64 ", T]", Cin);
    else if (T + 2 * pad < K)
      fail(&c, "input of %" PRId64 " steps is shorter than the kernel", T);
    else {
      int64_t Tout = (T + 2 * pad - K) / stride + 1;
      if (dims_eq(&c, "y", y, Cout, Tout, 1))
        check_vec(&c, "bias", bias, Cout);
    }
  }
  return dispatch_missing(&c, be->iface->conv1d != NULL) ? be->iface->conv1d(be, y, x, w, bias, stride, pad) : c.rc;
}

int
kern_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                 const kern_tensor *bias)
{
  CHECK_BEGIN("patch_embed");
  if (ok_tensor(&c, "img", img, KERN_TYPE_F32, NO_TYPE) && ok_tensor(&c, "w", w, KERN_TYPE_F32, KERN_TYPE_F16) &&
      ok_tensor(&c, "y", y, KERN_TYPE_F32, NO_TYPE)) {
    int64_t P = w->ne[0], C = w->ne[2], D = w->ne[3];
    if (w->ne[1] != P)
      fail(&c, "w patches must be square");
    else if (img->ne[2] != C || img->ne[3] != 1)
      fail(&c, "img has %" PRId64 " channels, w %" PRId64, img->ne[2], C);
    else if (img->ne[0] % P || img->ne[1] % P)
      fail(&c, "image %" PRId64 "x%" PRId64 " is not a multiple of the patch size %" PRId64, img->ne[0], img->ne[1], P);
    else if (dims_eq(&c, "y", y, D, (img->ne[0] / P) * (img->ne[1] / P), 1))
      check_vec(&c, "bias", bias, D);
  }
  return dispatch_missing(&c, be->iface->patch_embed != NULL) ? be->iface->patch_embed(be, y, img, w, bias) : c.rc;
}

int
kern_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids)
{
  CHECK_BEGIN("get_rows");
  if (table && ok_tensor(&c, "table", table, table->type, NO_TYPE) &&
      ok_tensor(&c, "ids", ids, KERN_TYPE_I32, NO_TYPE) && ok_tensor(&c, "y", y, KERN_TYPE_F32, NO_TYPE)) {
    if (table->ne[2] != 1 || table->ne[3] != 1)
      fail(&c, "table must be 2-D");
    else
      dims_eq(&c, "y", y, table->ne[0], kern_tensor_nel(ids), 1);
  } else if (!table) {
    fail(&c, "table is missing");
  }
  return dispatch_missing(&c, be->iface->get_rows != NULL) ? be->iface->get_rows(be, y, table, ids) : c.rc;
}

int
kern_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k, const kern_tensor *v,
               float scale, int causal, int64_t pos0)
{
  CHECK_BEGIN("attention");
  int kq8 = k && k->type == KERN_TYPE_Q8_0;
  if (ok_tensor(&c, "q", q, KERN_TYPE_F32, NO_TYPE) &&
      ok_tensor(&c, "k", k, kq8 ? KERN_TYPE_Q8_0 : KERN_TYPE_F32, KERN_TYPE_F16) &&
      ok_tensor(&c, "v", v, kq8 ? KERN_TYPE_Q8_0 : KERN_TYPE_F32, KERN_TYPE_F16) &&
      ok_tensor(&c, "out", out, KERN_TYPE_F32, NO_TYPE) && same_shape(&c, "out", out, "q", q) &&
      same_shape(&c, "v", v, "k", k)) {
    if (kq8 != (v->type == KERN_TYPE_Q8_0))
      fail(&c, "k and v must both be Q8_0 or neither");
    else if (kq8 && !be->iface->supports_op(be, KERN_OP_ATTENTION, KERN_TYPE_Q8_0))
      fail(&c, "backend %s has no Q8_0 keys and values", be->name);
    else if (k->ne[0] != q->ne[0])
      fail(&c, "head sizes differ: q %" PRId64 ", k %" PRId64, q->ne[0], k->ne[0]);
    else if (q->ne[1] % k->ne[1] != 0)
      fail(&c, "%" PRId64 " query heads are not a multiple of %" PRId64 " kv heads", q->ne[1], k->ne[1]);
    else if (q->ne[3] != 1 || k->ne[3] != 1)
      fail(&c, "q and k must be 3-D");
    else if (causal && (pos0 < 0 || pos0 + q->ne[2] > k->ne[2]))
      fail(&c, "causal queries at %" PRId64 "..%" PRId64 " need that many keys, there are %" PRId64, pos0,
           pos0 + q->ne[2], k->ne[2]);
  }
  return dispatch_missing(&c, be->iface->attention != NULL)
             ? be->iface->attention(be, out, q, k, v, scale, causal, pos0)
             : c.rc;
}

int
kern_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src)
{
  CHECK_BEGIN("copy");
  if (src && dst && ok_tensor(&c, "src", src, src->type, NO_TYPE) && ok_tensor(&c, "dst", dst, dst->type, NO_TYPE)) {
    int ok_types = (src->type == KERN_TYPE_F32 || src->type == KERN_TYPE_F16 || src->type == KERN_TYPE_BF16) &&
                   (dst->type == KERN_TYPE_F32 || dst->type == KERN_TYPE_F16 || dst->type == KERN_TYPE_BF16);
    int to_q8 = src->type == KERN_TYPE_F32 && dst->type == KERN_TYPE_Q8_0; /* KV cache append */
    if (!ok_types && !to_q8)
      fail(&c, "only F32, F16 and BF16 convert (and F32 to Q8_0)");
    else if (to_q8 && !be->iface->supports_op(be, KERN_OP_COPY, KERN_TYPE_Q8_0))
      fail(&c, "backend %s cannot write Q8_0", be->name);
    else if (kern_tensor_nel(src) != kern_tensor_nel(dst))
      fail(&c, "%" PRId64 " values into %" PRId64, kern_tensor_nel(src), kern_tensor_nel(dst));
  } else if (!src || !dst) {
    fail(&c, "a tensor is missing");
  }
  return dispatch_missing(&c, be->iface->copy != NULL) ? be->iface->copy(be, dst, src) : c.rc;
}

int
kern_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x)
{
  CHECK_BEGIN("argmax");
  if (ok_tensor(&c, "x", x, KERN_TYPE_F32, NO_TYPE) && ok_tensor(&c, "out", out, KERN_TYPE_I32, NO_TYPE) &&
      kern_tensor_nel(out) != kern_tensor_nrows(x))
    fail(&c, "out has %" PRId64 " values for %" PRId64 " rows", kern_tensor_nel(out), kern_tensor_nrows(x));
  return dispatch_missing(&c, be->iface->argmax != NULL) ? be->iface->argmax(be, out, x) : c.rc;
}

int
kern_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k)
{
  CHECK_BEGIN("topk");
  if (ok_tensor(&c, "x", x, KERN_TYPE_F32, NO_TYPE) && ok_tensor(&c, "idx", idx, KERN_TYPE_I32, NO_TYPE) &&
      ok_tensor(&c, "val", val, KERN_TYPE_F32, NO_TYPE)) {
    if (k < 1 || k > x->ne[0])
      fail(&c, "k = %d for rows of %" PRId64, k, x->ne[0]);
    else if (dims_eq(&c, "idx", idx, k, kern_tensor_nrows(x), 1))
      dims_eq(&c, "val", val, k, kern_tensor_nrows(x), 1);
  }
  return dispatch_missing(&c, be->iface->topk != NULL) ? be->iface->topk(be, idx, val, x, k) : c.rc;
}
