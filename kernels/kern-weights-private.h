/* kern-weights-private.h: what the format parsers share. Private to kernels/.
 *
 * A parser maps its file(s) with _kern_weights_map, reads through a bounds-
 * checked kern_reader, and registers metadata and tensors through the _add_
 * functions, which do the checks every format needs (unique names, known
 * types, dimensions that do not overflow, data inside the mapped file). */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "kern-type.h"
#include "kern-weights.h"

/* Limits that keep absurd headers from making us allocate or loop forever. */
#define KERN_MAX_NAME_LEN 4096          /* tensor names and metadata keys */
#define KERN_MAX_STRING_LEN (64u << 20) /* one metadata string */
#define KERN_MAX_TENSORS (1 << 20)
#define KERN_MAX_META (1 << 20)
#define KERN_MAX_ARRAY_DEPTH 8

typedef struct {
  char *key;
  kern_meta value;
} kern_meta_entry;

typedef struct {
  char *path;
  const uint8_t *base;
  size_t size;
} kern_mapping;

struct kern_weights {
  char *path;
  kern_format format;
  char *error; /* set by _kern_weights_fail */

  kern_mapping *maps;
  int n_maps;

  kern_meta_entry *meta;
  int64_t n_meta, cap_meta;
  int64_t *meta_index; /* open-addressing hash of meta (indices, -1 empty) */
  int64_t meta_index_cap;

  kern_tensor_info *tensors;
  int64_t n_tensors, cap_tensors;
  int64_t *tensor_index;
  int64_t tensor_index_cap;

  /* Everything else this object owns (strings, converted data, meta items). */
  void **owned;
  int64_t n_owned, cap_owned;

  /* Views: the sources whose data they point into, closed with them. */
  kern_weights **sources;
  int n_sources;
};

/* Records "PATH: message" (the first failure wins) and returns KERN_E_FORMAT.
 * Parsers return its value. */
int _kern_weights_fail(kern_weights *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like _kern_weights_fail with another code (KERN_E_IO, KERN_E_NOMEM). */
int _kern_weights_fail_code(kern_weights *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Maps `path` read-only and keeps it until close. An empty file maps as size 0
 * with a non-NULL base. */
int _kern_weights_map(kern_weights *w, const char *path, const uint8_t **base, size_t *size);

/* Memory that lives as long as w; NULL (and a recorded error) on failure. */
void *_kern_weights_alloc(kern_weights *w, size_t size);
/* A NUL-terminated copy of s[0..len); fails unless valid UTF-8 (without NUL bytes). */
char *_kern_weights_strdup(kern_weights *w, const char *s, size_t len, const char *what);

/* Adds a tensor. ne has n_dims entries (ne[0] fastest). data/nbytes must lie
 * inside [region, region + region_size) and nbytes must equal the size the
 * type and shape imply. The name is copied. */
int _kern_weights_add_tensor(kern_weights *w, const char *name, size_t name_len, int type, int n_dims,
                             const int64_t *ne, const void *data, size_t nbytes, const void *region,
                             size_t region_size);

/* Adds a metadata entry; the key is copied, the value is stored as given
 * (strings and items must already be owned by w or live in a mapping). */
int _kern_weights_add_meta(kern_weights *w, const char *key, size_t key_len, const kern_meta *value);

/* Bytes of one element of a numeric metadata type, 0 for the others. */
size_t _kern_meta_type_size(kern_meta_type t);

/* A bounds-checked little-endian cursor. Each read fails (recording an error
 * that names `what`) instead of going past `end`. */
typedef struct {
  const uint8_t *start, *p, *end;
  kern_weights *w;
} kern_reader;

int _kern_read_bytes(kern_reader *r, size_t n, const uint8_t **out, const char *what);
int _kern_read_u8(kern_reader *r, uint8_t *out, const char *what);
int _kern_read_u16(kern_reader *r, uint16_t *out, const char *what);
int _kern_read_u32(kern_reader *r, uint32_t *out, const char *what);
int _kern_read_u64(kern_reader *r, uint64_t *out, const char *what);
int _kern_read_i32(kern_reader *r, int32_t *out, const char *what);
int _kern_read_f32(kern_reader *r, float *out, const char *what);
int _kern_read_f64(kern_reader *r, double *out, const char *what);

/* Format parsers: fill w from `path` (a file, or a directory for the formats
 * that are directories). Return 0 or the code of _kern_weights_fail. */
int _kern_gguf_parse(kern_weights *w, const char *path);
int _kern_safetensors_parse(kern_weights *w, const char *path);
int _kern_whisper_ggml_parse(kern_weights *w, const char *path);
int _kern_ct2_parse(kern_weights *w, const char *path);

/* Adds a parsed JSON value as metadata under `prefix`: objects flatten to
 * "prefix.member" keys (recursively), scalars and arrays become one entry
 * (arrays of all-integers -> I64 arrays, all-numbers -> F64, all-strings ->
 * STRING items, anything else -> items with elem_type KERN_META_NULL).
 * Implemented in kern-json-meta.c. */
struct kern_json_value;
int _kern_weights_add_json_meta(kern_weights *w, const char *prefix, const struct kern_json_value *v);
