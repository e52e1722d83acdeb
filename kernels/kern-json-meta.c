/* kern-json-meta.c: turns a parsed JSON document (config.json and the like)
 * into weight-file metadata.
 *
 * Objects flatten into dotted keys ("config.encoder.d_model"); every other
 * value becomes one entry:
 *   null -> KERN_META_NULL, true/false -> KERN_META_BOOL (v.i64 0/1),
 *   integral numbers that fit int64 -> KERN_META_I64, other numbers -> F64,
 *   strings -> KERN_META_STRING (copied into w),
 *   arrays of integers -> ARRAY of I64, of numbers -> ARRAY of F64 (both
 *   packed in memory owned by w; an empty array counts as integers),
 *   arrays of strings -> ARRAY of STRING items,
 *   any other array -> ARRAY with elem_type KERN_META_NULL whose items are
 *   converted the same way (nested arrays stay arrays; an object inside an
 *   array has no metadata form and reads as a NULL item).
 * An empty object adds no entry. Arrays nested deeper than
 * KERN_MAX_ARRAY_DEPTH are an error, as in GGUF.
 */
#include "kern-json.h"
#include "kern-weights-private.h"

#include <stdlib.h>
#include <string.h>

static int convert_array(kern_weights *w, const char *key, const kern_json_value *v, kern_meta *out, int depth);

/* A scalar or array value as a kern_meta; objects become NULL. */
static int
convert(kern_weights *w, const char *key, const kern_json_value *v, kern_meta *out, int depth)
{
  memset(out, 0, sizeof *out);
  switch (v->type) {
  case KERN_JSON_NULL:
  case KERN_JSON_OBJECT:
    out->type = KERN_META_NULL;
    return 0;
  case KERN_JSON_BOOL:
    out->type = KERN_META_BOOL;
    out->v.i64 = v->boolean != 0;
    return 0;
  case KERN_JSON_NUMBER:
    if (v->is_int) {
      out->type = KERN_META_I64;
      out->v.i64 = v->integer;
    } else {
      out->type = KERN_META_F64;
      out->v.f64 = v->number;
    }
    return 0;
  case KERN_JSON_STRING:
    out->type = KERN_META_STRING;
    out->n = v->str_len;
    if (!(out->v.str = _kern_weights_strdup(w, v->str, v->str_len, "a config.json string")))
      return KERN_E_FORMAT;
    return 0;
  case KERN_JSON_ARRAY:
    return convert_array(w, key, v, out, depth);
  }
  return _kern_weights_fail(w, "metadata '%s': unknown JSON value", key);
}

static int
convert_array(kern_weights *w, const char *key, const kern_json_value *v, kern_meta *out, int depth)
{
  if (depth >= KERN_MAX_ARRAY_DEPTH)
    return _kern_weights_fail(w, "metadata '%s': arrays nested deeper than %d", key, KERN_MAX_ARRAY_DEPTH);
  int all_int = 1, all_num = 1, all_str = 1;
  for (size_t i = 0; i < v->n; i++) {
    const kern_json_value *it = &v->items[i];
    all_num &= it->type == KERN_JSON_NUMBER;
    all_int &= it->type == KERN_JSON_NUMBER && it->is_int;
    all_str &= it->type == KERN_JSON_STRING;
  }
  out->type = KERN_META_ARRAY;
  out->n = v->n;
  if (all_num) { /* also the empty array, as I64 */
    out->elem_type = all_int ? KERN_META_I64 : KERN_META_F64;
    if (v->n > SIZE_MAX / 8)
      return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    uint8_t *raw = _kern_weights_alloc(w, v->n * 8);
    if (!raw)
      return KERN_E_NOMEM;
    for (size_t i = 0; i < v->n; i++) {
      if (all_int)
        memcpy(raw + i * 8, &v->items[i].integer, 8);
      else
        memcpy(raw + i * 8, &v->items[i].number, 8);
    }
    out->v.raw = raw;
    return 0;
  }
  out->elem_type = all_str ? KERN_META_STRING : KERN_META_NULL;
  if (v->n > SIZE_MAX / sizeof(kern_meta))
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  kern_meta *items = _kern_weights_alloc(w, v->n * sizeof *items);
  if (!items)
    return KERN_E_NOMEM;
  for (size_t i = 0; i < v->n; i++) {
    int rc = convert(w, key, &v->items[i], &items[i], depth + 1);
    if (rc)
      return rc;
  }
  out->v.items = items;
  return 0;
}

/* key[0..len) is the key of v; objects append ".member" in place. */
static int
add_value(kern_weights *w, char *key, size_t len, const kern_json_value *v)
{
  if (v->type != KERN_JSON_OBJECT) {
    kern_meta m;
    int rc = convert(w, key, v, &m, 0);
    return rc ? rc : _kern_weights_add_meta(w, key, len, &m);
  }
  for (size_t i = 0; i < v->n; i++) {
    size_t mlen = strlen(v->keys[i]);
    size_t sep = len > 0 ? 1 : 0;
    if (mlen > KERN_MAX_NAME_LEN - len - sep)
      return _kern_weights_fail(w, "metadata key '%.*s%s%.64s...' is longer than %d bytes", (int)len, key,
                                sep ? "." : "", v->keys[i], KERN_MAX_NAME_LEN);
    if (sep)
      key[len] = '.';
    memcpy(key + len + sep, v->keys[i], mlen + 1);
    int rc = add_value(w, key, len + sep + mlen, &v->items[i]);
    key[len] = '\0';
    if (rc)
      return rc;
  }
  return 0;
}

int
_kern_weights_add_json_meta(kern_weights *w, const char *prefix, const struct kern_json_value *v)
{
  if (!v)
    return 0;
  size_t len = prefix ? strlen(prefix) : 0;
  if (len > KERN_MAX_NAME_LEN)
    return _kern_weights_fail(w, "metadata prefix is longer than %d bytes", KERN_MAX_NAME_LEN);
  char *key = malloc(KERN_MAX_NAME_LEN + 1);
  if (!key)
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  if (len)
    memcpy(key, prefix, len);
  key[len] = '\0';
  int rc = add_value(w, key, len, v);
  free(key);
  return rc;
}
