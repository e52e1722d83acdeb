/* kern-gguf.c: GGUF v2/v3 reader.
 *
 * Layout (GGUF specification): "GGUF", u32 version, u64 tensor count, u64
 * metadata count; metadata (key string, u32 type, value); tensor infos (name,
 * u32 n_dims, u64 ne[n_dims], u32 type, u64 offset); padding to
 * general.alignment (default 32); tensor data. Strings are a u64 length and
 * bytes. All little-endian. Counts are never trusted for allocation: each is
 * checked against the bytes that remain before anything is sized from it.
 */
#include "kern-weights-private.h"

#include <inttypes.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32

static int
read_string(kern_reader *r, const char **out, uint64_t *len_out, const char *what)
{
  uint64_t len;
  const uint8_t *p;
  int rc = _kern_read_u64(r, &len, what);
  if (rc)
    return rc;
  if (len > (uint64_t)(r->end - r->p))
    return _kern_weights_fail(r->w, "truncated: %s says %" PRIu64 " bytes at offset %zu, past the end of the file",
                              what, len, (size_t)(r->p - r->start));
  if ((rc = _kern_read_bytes(r, (size_t)len, &p, what)) != 0)
    return rc;
  char *s = _kern_weights_strdup(r->w, (const char *)p, (size_t)len, what);
  if (!s)
    return KERN_E_FORMAT;
  *out = s;
  if (len_out)
    *len_out = len;
  return 0;
}

static int read_value(kern_reader *r, uint32_t type, kern_meta *out, int depth, const char *key);

static int
read_array(kern_reader *r, kern_meta *out, int depth, const char *key)
{
  uint32_t et;
  uint64_t n;
  int rc;
  if ((rc = _kern_read_u32(r, &et, "an array's element type")) || (rc = _kern_read_u64(r, &n, "an array's length")))
    return rc;
  if (depth >= KERN_MAX_ARRAY_DEPTH)
    return _kern_weights_fail(r->w, "metadata '%s': arrays nested deeper than %d", key, KERN_MAX_ARRAY_DEPTH);
  out->type = KERN_META_ARRAY;
  out->elem_type = (kern_meta_type)et;
  out->n = n;
  size_t left = (size_t)(r->end - r->p);
  size_t esz = _kern_meta_type_size((kern_meta_type)et);
  if (esz) {
    if (n > left / esz)
      return _kern_weights_fail(r->w, "truncated: metadata '%s' is an array of %" PRIu64 " values, past the end",
                                key, n);
    const uint8_t *p;
    if ((rc = _kern_read_bytes(r, (size_t)(n * esz), &p, "array data")))
      return rc;
    if (et == KERN_META_BOOL)
      for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
          return _kern_weights_fail(r->w, "metadata '%s': bool element %" PRIu64 " is %u", key, i, p[i]);
    out->v.raw = p;
    return 0;
  }
  if (et != KERN_META_STRING && et != KERN_META_ARRAY)
    return _kern_weights_fail(r->w, "metadata '%s': unknown array element type %u", key, et);
  /* Each string costs at least 8 bytes, each nested array 12. */
  size_t min = et == KERN_META_STRING ? 8 : 12;
  if (n > left / min)
    return _kern_weights_fail(r->w, "truncated: metadata '%s' is an array of %" PRIu64 " values, past the end",
                              key, n);
  kern_meta *items = _kern_weights_alloc(r->w, (size_t)n * sizeof *items);
  if (!items)
    return KERN_E_NOMEM;
  for (uint64_t i = 0; i < n; i++)
    if ((rc = read_value(r, et, &items[i], depth + 1, key)))
      return rc;
  out->v.items = items;
  return 0;
}

static int
read_value(kern_reader *r, uint32_t type, kern_meta *out, int depth, const char *key)
{
  const uint8_t *p;
  int rc;
  memset(out, 0, sizeof *out);
  out->type = (kern_meta_type)type;
  size_t sz = _kern_meta_type_size((kern_meta_type)type);
  if (sz) {
    if ((rc = _kern_read_bytes(r, sz, &p, "a metadata value")))
      return rc;
    switch (type) {
    case KERN_META_U8: out->v.u64 = p[0]; break;
    case KERN_META_I8: out->v.i64 = (int8_t)p[0]; break;
    case KERN_META_BOOL:
      if (p[0] > 1)
        return _kern_weights_fail(r->w, "metadata '%s': bool value %u", key, p[0]);
      out->v.i64 = p[0];
      break;
    case KERN_META_U16: { uint16_t v; memcpy(&v, p, 2); out->v.u64 = v; break; }
    case KERN_META_I16: { int16_t v; memcpy(&v, p, 2); out->v.i64 = v; break; }
    case KERN_META_U32: { uint32_t v; memcpy(&v, p, 4); out->v.u64 = v; break; }
    case KERN_META_I32: { int32_t v; memcpy(&v, p, 4); out->v.i64 = v; break; }
    case KERN_META_F32: { float v; memcpy(&v, p, 4); out->v.f64 = v; break; }
    case KERN_META_U64: memcpy(&out->v.u64, p, 8); break;
    case KERN_META_I64: memcpy(&out->v.i64, p, 8); break;
    case KERN_META_F64: memcpy(&out->v.f64, p, 8); break;
    }
    return 0;
  }
  if (type == KERN_META_STRING)
    return read_string(r, &out->v.str, &out->n, "a metadata string");
  if (type == KERN_META_ARRAY)
    return read_array(r, out, depth, key);
  return _kern_weights_fail(r->w, "metadata '%s' has unknown type %u", key, type);
}

int
_kern_gguf_parse(kern_weights *w, const char *path)
{
  const uint8_t *base;
  size_t size;
  int rc = _kern_weights_map(w, path, &base, &size);
  if (rc)
    return rc;
  kern_reader r = { base, base, base + size, w };
  const uint8_t *magic;
  uint32_t version;
  uint64_t n_tensors, n_kv;
  if ((rc = _kern_read_bytes(&r, 4, &magic, "the magic")) || (rc = _kern_read_u32(&r, &version, "the version")))
    return rc;
  if (memcmp(magic, "GGUF", 4) != 0)
    return _kern_weights_fail(w, "not a GGUF file (bad magic)");
  if (version == 1)
    return _kern_weights_fail(w, "GGUF version 1 is obsolete; convert the file again with a current llama.cpp");
  if (version == 0x02000000u || version == 0x03000000u)
    return _kern_weights_fail(w, "big-endian GGUF files are not supported");
  if (version != 2 && version != 3)
    return _kern_weights_fail(w, "unsupported GGUF version %u (2 and 3 are supported)", version);
  if ((rc = _kern_read_u64(&r, &n_tensors, "the tensor count")) ||
      (rc = _kern_read_u64(&r, &n_kv, "the metadata count")))
    return rc;
  if (n_tensors > KERN_MAX_TENSORS)
    return _kern_weights_fail(w, "the header claims %" PRIu64 " tensors", n_tensors);
  if (n_kv > KERN_MAX_META)
    return _kern_weights_fail(w, "the header claims %" PRIu64 " metadata entries", n_kv);

  uint64_t alignment = GGUF_DEFAULT_ALIGNMENT;
  for (uint64_t i = 0; i < n_kv; i++) {
    const char *key;
    uint64_t key_len;
    uint32_t type;
    kern_meta value;
    if ((rc = read_string(&r, &key, &key_len, "a metadata key")) ||
        (rc = _kern_read_u32(&r, &type, "a metadata type")) || (rc = read_value(&r, type, &value, 0, key)))
      return rc;
    if (strcmp(key, "general.alignment") == 0) {
      if (type != KERN_META_U32 || value.v.u64 == 0 || (value.v.u64 & (value.v.u64 - 1)) != 0 ||
          value.v.u64 > (1u << 20))
        return _kern_weights_fail(w, "general.alignment must be a power of two (u32), not this value");
      alignment = value.v.u64;
    }
    if ((rc = _kern_weights_add_meta(w, key, (size_t)key_len, &value)))
      return rc;
  }

  /* Tensor infos first; data offsets are relative to the aligned data section. */
  typedef struct {
    const char *name;
    uint64_t name_len;
    uint32_t n_dims, type;
    int64_t ne[KERN_MAX_DIMS];
    uint64_t offset;
  } info;
  info *infos = NULL;
  if (n_tensors > (uint64_t)(r.end - r.p) / 24) /* a name length, n_dims, type and offset at least */
    return _kern_weights_fail(w, "truncated: %" PRIu64 " tensor infos cannot fit in the file", n_tensors);
  if (n_tensors && !(infos = _kern_weights_alloc(w, (size_t)n_tensors * sizeof *infos)))
    return KERN_E_NOMEM;
  for (uint64_t i = 0; i < n_tensors; i++) {
    info *t = &infos[i];
    if ((rc = read_string(&r, &t->name, &t->name_len, "a tensor name")) ||
        (rc = _kern_read_u32(&r, &t->n_dims, "a tensor's dimension count")))
      return rc;
    if (t->n_dims == 0 || t->n_dims > KERN_MAX_DIMS)
      return _kern_weights_fail(w, "tensor '%s' has %u dimensions (1 to %d supported)", t->name, t->n_dims,
                                KERN_MAX_DIMS);
    for (uint32_t d = 0; d < t->n_dims; d++) {
      uint64_t ne;
      if ((rc = _kern_read_u64(&r, &ne, "a tensor dimension")))
        return rc;
      if (ne == 0 || ne > (uint64_t)INT64_MAX / 2)
        return _kern_weights_fail(w, "tensor '%s' has dimension %u of size %" PRIu64, t->name, d, ne);
      t->ne[d] = (int64_t)ne;
    }
    if ((rc = _kern_read_u32(&r, &t->type, "a tensor type")) ||
        (rc = _kern_read_u64(&r, &t->offset, "a tensor offset")))
      return rc;
    if (t->offset % alignment != 0)
      return _kern_weights_fail(w, "tensor '%s' at offset %" PRIu64 " is not aligned to %" PRIu64, t->name,
                                t->offset, alignment);
  }
  size_t header_end = (size_t)(r.p - r.start);
  size_t data_start = (header_end + (size_t)alignment - 1) / (size_t)alignment * (size_t)alignment;
  if (n_tensors > 0 && data_start > size)
    return _kern_weights_fail(w, "truncated: the tensor data section is missing");
  const uint8_t *data = base + (data_start <= size ? data_start : size);
  size_t data_size = data_start <= size ? size - data_start : 0;

  for (uint64_t i = 0; i < n_tensors; i++) {
    info *t = &infos[i];
    if (!kern_type_get_traits((int)t->type))
      return _kern_weights_fail(w, "tensor '%s' has type %u, which this version does not support", t->name,
                                t->type);
    /* Compute the size first so the range check below cannot overflow. */
    const kern_type_traits *tr = kern_type_get_traits((int)t->type);
    uint64_t rows = 1;
    for (uint32_t d = 1; d < t->n_dims; d++) {
      if (rows > UINT64_MAX / (uint64_t)t->ne[d])
        return _kern_weights_fail(w, "tensor '%s' has more elements than can be addressed", t->name);
      rows *= (uint64_t)t->ne[d];
    }
    if (t->ne[0] % tr->block_size != 0)
      return _kern_weights_fail(w, "tensor '%s': row length %" PRId64 " is not a multiple of %s's block of %d",
                                t->name, t->ne[0], tr->name, tr->block_size);
    size_t row = kern_type_row_size((int)t->type, t->ne[0]);
    if (row == 0 || rows > SIZE_MAX / row)
      return _kern_weights_fail(w, "tensor '%s' is too large", t->name);
    size_t nbytes = row * (size_t)rows;
    if (t->offset > data_size || nbytes > data_size - t->offset)
      return _kern_weights_fail(w, "truncated: tensor '%s' (%zu bytes at data offset %" PRIu64
                                   ") runs past the end of the file",
                                t->name, nbytes, t->offset);
    if ((rc = _kern_weights_add_tensor(w, t->name, (size_t)t->name_len, (int)t->type, (int)t->n_dims, t->ne,
                                       data + t->offset, nbytes, data, data_size)))
      return rc;
  }
  return 0;
}
