/* kern-gguf-writer.c: writes GGUF v3 files (test models, conversions).
 *
 * Metadata is serialized as it is set; tensors are copied and laid out at
 * write time, each at an offset aligned to general.alignment (32 by default).
 * The file is written to PATH.tmp and renamed, so a failed write never leaves
 * a half file under the final name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-error.h"
#include "kern-type.h"
#include "kern-weights-private.h"

typedef struct {
  uint8_t *p;
  size_t n, cap;
  int oom;
} buf;

typedef struct {
  char *name;
  int type, n_dims;
  int64_t ne[KERN_MAX_DIMS];
  void *data;
  size_t nbytes;
} wtensor;

struct kern_gguf_writer {
  buf kv;
  uint64_t n_kv;
  char **keys;
  uint64_t n_keys_cap;
  wtensor *tensors;
  uint64_t n_tensors, cap_tensors;
  uint32_t alignment;
};

static void
put(buf *b, const void *p, size_t n)
{
  if (b->oom || n == 0) /* n == 0: p may be NULL (an empty array), which memcpy must not get */
    return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
      cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void
put_u32(buf *b, uint32_t v)
{
  put(b, &v, 4);
}

static void
put_u64(buf *b, uint64_t v)
{
  put(b, &v, 8);
}

static void
put_str(buf *b, const char *s, size_t len)
{
  put_u64(b, len);
  put(b, s, len);
}

kern_gguf_writer *
kern_gguf_writer_new(void)
{
  kern_gguf_writer *g = calloc(1, sizeof *g);
  if (g)
    g->alignment = 32;
  return g;
}

void
kern_gguf_writer_free(kern_gguf_writer *g)
{
  if (!g)
    return;
  for (uint64_t i = 0; i < g->n_kv; i++)
    free(g->keys[i]);
  for (uint64_t i = 0; i < g->n_tensors; i++) {
    free(g->tensors[i].name);
    free(g->tensors[i].data);
  }
  free(g->keys);
  free(g->tensors);
  free(g->kv.p);
  free(g);
}

/* Starts an entry: checks the key is new, writes key and type. */
static int
begin_kv(kern_gguf_writer *g, const char *key, kern_meta_type type)
{
  if (!key || !key[0] || !kern_utf8_valid(key, strlen(key)))
    return KERN_E_INVAL;
  for (uint64_t i = 0; i < g->n_kv; i++)
    if (strcmp(g->keys[i], key) == 0)
      return KERN_E_INVAL;
  if (g->n_kv == g->n_keys_cap) {
    uint64_t cap = g->n_keys_cap ? g->n_keys_cap * 2 : 32;
    char **k = realloc(g->keys, cap * sizeof *k);
    if (!k)
      return KERN_E_NOMEM;
    g->keys = k;
    g->n_keys_cap = cap;
  }
  if (!(g->keys[g->n_kv] = strdup(key)))
    return KERN_E_NOMEM;
  g->n_kv++;
  put_str(&g->kv, key, strlen(key));
  put_u32(&g->kv, type);
  return g->kv.oom ? KERN_E_NOMEM : 0;
}

#define DEFINE_SET(fn, ctype, metatype)                             \
  int fn(kern_gguf_writer *g, const char *key, ctype v)             \
  {                                                                 \
    int rc = begin_kv(g, key, metatype);                            \
    if (rc)                                                         \
      return rc;                                                    \
    put(&g->kv, &v, sizeof v);                                      \
    return g->kv.oom ? KERN_E_NOMEM : 0;                            \
  }
DEFINE_SET(kern_gguf_set_i32, int32_t, KERN_META_I32)
DEFINE_SET(kern_gguf_set_u64, uint64_t, KERN_META_U64)
DEFINE_SET(kern_gguf_set_f32, float, KERN_META_F32)

int
kern_gguf_set_u32(kern_gguf_writer *g, const char *key, uint32_t v)
{
  int is_alignment = key && strcmp(key, "general.alignment") == 0;
  if (is_alignment && (v == 0 || (v & (v - 1)) != 0 || v > (1u << 20))) /* kern-gguf.c's limit */
    return KERN_E_INVAL;
  int rc = begin_kv(g, key, KERN_META_U32);
  if (rc)
    return rc;
  if (is_alignment) /* only once the key is accepted: a refused duplicate must not change the layout */
    g->alignment = v;
  put_u32(&g->kv, v);
  return g->kv.oom ? KERN_E_NOMEM : 0;
}

int
kern_gguf_set_bool(kern_gguf_writer *g, const char *key, int v)
{
  int rc = begin_kv(g, key, KERN_META_BOOL);
  if (rc)
    return rc;
  uint8_t b = v != 0;
  put(&g->kv, &b, 1);
  return g->kv.oom ? KERN_E_NOMEM : 0;
}

int
kern_gguf_set_string(kern_gguf_writer *g, const char *key, const char *v)
{
  if (!v || !kern_utf8_valid(v, strlen(v)))
    return KERN_E_INVAL;
  int rc = begin_kv(g, key, KERN_META_STRING);
  if (rc)
    return rc;
  put_str(&g->kv, v, strlen(v));
  return g->kv.oom ? KERN_E_NOMEM : 0;
}

/* Whether n bool bytes are all 0 or 1 (all a reader accepts). */
static int
bools_ok(const void *data, uint64_t n)
{
  const uint8_t *p = data;
  for (uint64_t i = 0; i < n; i++)
    if (p[i] > 1)
      return 0;
  return 1;
}

int
kern_gguf_set_array(kern_gguf_writer *g, const char *key, kern_meta_type type, const void *data, uint64_t n)
{
  size_t sz = _kern_meta_type_size(type);
  if (!sz || (n && !data) || n > SIZE_MAX / sz || (type == KERN_META_BOOL && !bools_ok(data, n)))
    return KERN_E_INVAL;
  int rc = begin_kv(g, key, KERN_META_ARRAY);
  if (rc)
    return rc;
  put_u32(&g->kv, type);
  put_u64(&g->kv, n);
  put(&g->kv, data, (size_t)n * sz);
  return g->kv.oom ? KERN_E_NOMEM : 0;
}

int
kern_gguf_set_string_array(kern_gguf_writer *g, const char *key, const char *const *v, uint64_t n)
{
  for (uint64_t i = 0; i < n; i++)
    if (!v[i] || !kern_utf8_valid(v[i], strlen(v[i])))
      return KERN_E_INVAL;
  int rc = begin_kv(g, key, KERN_META_ARRAY);
  if (rc)
    return rc;
  put_u32(&g->kv, KERN_META_STRING);
  put_u64(&g->kv, n);
  for (uint64_t i = 0; i < n; i++)
    put_str(&g->kv, v[i], strlen(v[i]));
  return g->kv.oom ? KERN_E_NOMEM : 0;
}

/* Serializes a value's payload (after its type). */
static int
put_value(buf *b, const kern_meta *m, int depth)
{
  if (depth > KERN_MAX_ARRAY_DEPTH)
    return KERN_E_INVAL;
  size_t sz = _kern_meta_type_size(m->type);
  if (m->type == KERN_META_BOOL && (m->v.i64 < 0 || m->v.i64 > 1))
    return KERN_E_INVAL; /* readers refuse bools other than 0/1 */
  if (sz) {
    uint8_t tmp[8];
    switch (m->type) {
    case KERN_META_F32: { float f = (float)m->v.f64; memcpy(tmp, &f, 4); break; }
    case KERN_META_F64: memcpy(tmp, &m->v.f64, 8); break;
    case KERN_META_I8: case KERN_META_I16: case KERN_META_I32: case KERN_META_I64: case KERN_META_BOOL:
      memcpy(tmp, &m->v.i64, 8); /* little-endian: the low bytes come first */
      break;
    default: memcpy(tmp, &m->v.u64, 8); break;
    }
    put(b, tmp, sz);
    return 0;
  }
  if (m->type == KERN_META_STRING) {
    if (!m->v.str || memchr(m->v.str, '\0', (size_t)m->n) || !kern_utf8_valid(m->v.str, (size_t)m->n))
      return KERN_E_INVAL; /* readers refuse strings that are not UTF-8 */
    put_str(b, m->v.str, (size_t)m->n);
    return 0;
  }
  if (m->type != KERN_META_ARRAY)
    return KERN_E_INVAL; /* JSON null has no GGUF form */
  if (depth >= KERN_MAX_ARRAY_DEPTH)
    return KERN_E_INVAL; /* readers refuse arrays nested deeper */
  size_t esz = _kern_meta_type_size(m->elem_type);
  if (!esz && m->elem_type != KERN_META_STRING && m->elem_type != KERN_META_ARRAY)
    return KERN_E_INVAL;
  put_u32(b, m->elem_type);
  put_u64(b, m->n);
  if (esz) {
    if (m->elem_type == KERN_META_BOOL && !bools_ok(m->v.raw, m->n))
      return KERN_E_INVAL;
    put(b, m->v.raw, (size_t)m->n * esz);
    return 0;
  }
  for (uint64_t i = 0; i < m->n; i++) {
    if (m->v.items[i].type != m->elem_type)
      return KERN_E_INVAL;
    int rc = put_value(b, &m->v.items[i], depth + 1);
    if (rc)
      return rc;
  }
  return 0;
}

int
kern_gguf_set_meta(kern_gguf_writer *g, const char *key, const kern_meta *m)
{
  if (!m)
    return KERN_E_INVAL;
  buf tmp = { 0 };
  int rc = put_value(&tmp, m, 0);
  if (rc == 0 && tmp.oom)
    rc = KERN_E_NOMEM;
  if (rc == 0 && key && strcmp(key, "general.alignment") == 0) {
    free(tmp.p);
    return m->type == KERN_META_U32 ? kern_gguf_set_u32(g, key, (uint32_t)m->v.u64) : KERN_E_INVAL;
  }
  if (rc == 0)
    rc = begin_kv(g, key, m->type);
  if (rc == 0)
    put(&g->kv, tmp.p, tmp.n);
  free(tmp.p);
  return rc ? rc : g->kv.oom ? KERN_E_NOMEM : 0;
}

int
kern_gguf_add_tensor(kern_gguf_writer *g, const char *name, int type, int n_dims, const int64_t *ne,
                     const void *data)
{
  const kern_type_traits *tr = kern_type_get_traits(type);
  if (!tr || !name || !name[0] || !kern_utf8_valid(name, strlen(name)) || n_dims < 1 || n_dims > KERN_MAX_DIMS)
    return KERN_E_INVAL;
  for (uint64_t i = 0; i < g->n_tensors; i++)
    if (strcmp(g->tensors[i].name, name) == 0)
      return KERN_E_INVAL;
  wtensor t = { .type = type, .n_dims = n_dims };
  uint64_t rows = 1;
  for (int d = 0; d < KERN_MAX_DIMS; d++) {
    t.ne[d] = d < n_dims ? ne[d] : 1;
    if (t.ne[d] <= 0)
      return KERN_E_INVAL;
    if (d > 0) {
      if (rows > SIZE_MAX / (uint64_t)t.ne[d])
        return KERN_E_INVAL;
      rows *= (uint64_t)t.ne[d];
    }
  }
  size_t row = kern_type_row_size(type, t.ne[0]);
  if (row == 0 || rows > SIZE_MAX / row)
    return KERN_E_INVAL;
  t.nbytes = row * (size_t)rows;
  if (g->n_tensors == g->cap_tensors) {
    uint64_t cap = g->cap_tensors ? g->cap_tensors * 2 : 16;
    wtensor *p = realloc(g->tensors, cap * sizeof *p);
    if (!p)
      return KERN_E_NOMEM;
    g->tensors = p;
    g->cap_tensors = cap;
  }
  t.name = strdup(name);
  t.data = malloc(t.nbytes ? t.nbytes : 1);
  if (!t.name || !t.data) {
    free(t.name);
    free(t.data);
    return KERN_E_NOMEM;
  }
  memcpy(t.data, data, t.nbytes);
  g->tensors[g->n_tensors++] = t;
  return 0;
}

int
kern_gguf_add_converted(kern_gguf_writer *g, const char *name, const kern_tensor_info *t, int type)
{
  int64_t row = t->ne[0], rows = kern_tensor_nelements(t) / row;
  const kern_type_traits *tr = kern_type_get_traits(type), *in = kern_type_get_traits(t->type);
  if (!tr || !in)
    return KERN_E_INVAL;
  if (row % tr->block_size != 0)
    type = KERN_TYPE_F16;
  if (type != KERN_TYPE_F32 && type != KERN_TYPE_F16 && !kern_type_can_quantize(type))
    return KERN_E_UNSUPPORTED;
  size_t in_row = kern_type_row_size(t->type, row), out_row = kern_type_row_size(type, row);
  float *f = malloc((size_t)row * sizeof *f);
  uint8_t *out = (size_t)rows <= SIZE_MAX / out_row ? malloc(out_row * (size_t)rows + 1) : NULL;
  int rc = f && out ? 0 : KERN_E_NOMEM;
  for (int64_t r = 0; !rc && r < rows; r++) {
    if (kern_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * in_row, f, row) != 0)
      rc = KERN_E_FORMAT;
    else if (kern_quantize_row(type, f, out + (size_t)r * out_row, row) != 0)
      rc = KERN_E_UNSUPPORTED;
  }
  if (!rc)
    rc = kern_gguf_add_tensor(g, name, type, t->n_dims, t->ne, out);
  free(f);
  free(out);
  return rc;
}

static int
write_all(FILE *f, const void *p, size_t n)
{
  return n == 0 || fwrite(p, 1, n, f) == n;
}

int
kern_gguf_write(kern_gguf_writer *g, const char *path, char **err)
{
  if (err)
    *err = NULL;
  buf head = { 0 };
  put(&head, "GGUF", 4);
  put_u32(&head, 3);
  put_u64(&head, g->n_tensors);
  put_u64(&head, g->n_kv);
  put(&head, g->kv.p, g->kv.n);
  uint64_t offset = 0;
  for (uint64_t i = 0; i < g->n_tensors; i++) {
    const wtensor *t = &g->tensors[i];
    put_str(&head, t->name, strlen(t->name));
    put_u32(&head, (uint32_t)t->n_dims);
    for (int d = 0; d < t->n_dims; d++)
      put_u64(&head, (uint64_t)t->ne[d]);
    put_u32(&head, (uint32_t)t->type);
    put_u64(&head, offset);
    offset += (t->nbytes + g->alignment - 1) / g->alignment * g->alignment;
  }
  static const uint8_t zeros[1 << 12];
  size_t pad = (g->alignment - head.n % g->alignment) % g->alignment;
  int rc = 0;
  char *tmp = NULL;
  FILE *f = NULL;
  if (head.oom || g->kv.oom) {
    rc = KERN_E_NOMEM;
    goto out;
  }
  tmp = malloc(strlen(path) + 5);
  if (!tmp) {
    rc = KERN_E_NOMEM;
    goto out;
  }
  sprintf(tmp, "%s.tmp", path);
  if (!(f = fopen(tmp, "wb"))) {
    rc = KERN_E_IO;
    goto out;
  }
  int ok = write_all(f, head.p, head.n);
  for (size_t left = pad; ok && left; left -= left < sizeof zeros ? left : sizeof zeros)
    ok = write_all(f, zeros, left < sizeof zeros ? left : sizeof zeros);
  for (uint64_t i = 0; ok && i < g->n_tensors; i++) {
    const wtensor *t = &g->tensors[i];
    ok = write_all(f, t->data, t->nbytes);
    size_t tpad = (g->alignment - t->nbytes % g->alignment) % g->alignment;
    for (size_t left = tpad; ok && left; left -= left < sizeof zeros ? left : sizeof zeros)
      ok = write_all(f, zeros, left < sizeof zeros ? left : sizeof zeros);
  }
  if (fclose(f) != 0)
    ok = 0;
  f = NULL;
  if (!ok || rename(tmp, path) != 0) {
    rc = KERN_E_IO;
    remove(tmp);
  }
out:
  if (rc && err) {
    const char *why = rc == KERN_E_NOMEM ? "out of memory" : strerror(errno);
    size_t n = strlen(path) + strlen(why) + 3;
    if ((*err = malloc(n)))
      snprintf(*err, n, "%s: %s", path, why);
  }
  free(tmp);
  free(head.p);
  return rc;
}
