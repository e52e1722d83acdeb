/* kern-safetensors.c: safetensors reader: one .safetensors file, or a Hugging
 * Face model directory (config.json as "config.*", generation_config.json as
 * "generation_config.*", then model.safetensors or
 * model.safetensors.index.json with its shards).
 *
 * Layout (the safetensors specification): u64 little-endian N, N bytes of a
 * JSON object { "__metadata__": {str: str}, NAME: {"dtype": "F32", "shape":
 * [..], "data_offsets": [begin, end]}, ... } that begins with '{' (and may be
 * padded with spaces), then the data buffer; offsets are relative to its
 * start. The specification asks that the buffer be entirely indexed, without
 * holes or overlap, and the reference implementation also refuses bytes past
 * the last tensor; so do we. Shapes are row-major, so ne is the shape
 * reversed; a scalar (shape []) has ne [1]. Empty tensors (a dimension of 0)
 * are valid safetensors but have no kern form: they are refused by name.
 *
 * In a sharded directory, weight_map names a shard (a plain file name in the
 * same directory) for every tensor; each shard is read once, in order of first
 * mention; each listed tensor must be in its shard, and no tensor may be in
 * two shards. Shards usually repeat the same __metadata__; the first value of
 * each key is kept.
 */
#include "kern-json.h"
#include "kern-weights-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER 100000000u /* as the reference implementation */
#define ST_NAME_FMT "%.200s"     /* names in messages, cut to keep the message readable */

typedef struct {
  const char *name; /* in the parsed header; valid while it lives */
  int type, n_dims;
  int64_t ne[KERN_MAX_DIMS];
  uint64_t begin, end;
} st_entry;

/* safetensors dtype -> kern type; -1: a valid dtype with no kern type. */
static const struct {
  const char *name;
  int type;
  int size;
} st_dtypes[] = {
  { "F64", KERN_TYPE_F64, 8 },  { "F32", KERN_TYPE_F32, 4 },   { "F16", KERN_TYPE_F16, 2 },
  { "BF16", KERN_TYPE_BF16, 2 }, { "I64", KERN_TYPE_I64, 8 },  { "I32", KERN_TYPE_I32, 4 },
  { "I16", KERN_TYPE_I16, 2 },  { "I8", KERN_TYPE_I8, 1 },     { "U64", -1, 8 },
  { "U32", -1, 4 },             { "U16", -1, 2 },              { "U8", -1, 1 },
  { "BOOL", -1, 1 },            { "F8_E4M3", -1, 1 },          { "F8_E5M2", -1, 1 },
  { "F8_E8M0", -1, 1 },         { "E8M0", -1, 1 },             { "F6_E2M3", -1, 0 },
  { "F6_E3M2", -1, 0 },         { "F4", -1, 0 },               { "C64", -1, 8 },
};

static int
is_uint(const kern_json_value *v)
{
  return v && v->type == KERN_JSON_NUMBER && v->is_int && v->integer >= 0;
}

static char *
join_path(const char *dir, const char *name)
{
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (p) {
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
  }
  return p;
}

static int
is_regular_file(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Checks one header member and fills e. `label` prefixes messages ("" or "FILE: "). */
static int
parse_entry(kern_weights *w, const char *label, const char *name, const kern_json_value *v, uint64_t data_size,
            st_entry *e)
{
  if (v->type != KERN_JSON_OBJECT)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "': the entry is not a JSON object", label, name);
  const kern_json_value *dtype = kern_json_get(v, "dtype"), *shape = kern_json_get(v, "shape"),
                        *offsets = kern_json_get(v, "data_offsets");
  if (!dtype || dtype->type != KERN_JSON_STRING)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "': \"dtype\" is missing or not a string", label, name);
  if (!shape || shape->type != KERN_JSON_ARRAY)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "': \"shape\" is missing or not an array", label, name);
  if (!offsets || offsets->type != KERN_JSON_ARRAY || offsets->n != 2 || !is_uint(&offsets->items[0]) ||
      !is_uint(&offsets->items[1]))
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "': \"data_offsets\" is missing or not [begin, end]",
                              label, name);

  int size = 0;
  e->type = -2;
  for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
    if (strcmp(dtype->str, st_dtypes[i].name) == 0) {
      e->type = st_dtypes[i].type;
      size = st_dtypes[i].size;
    }
  if (e->type == -2)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' has unknown dtype '%.32s'", label, name, dtype->str);
  if (e->type == -1)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' has dtype %s, which this version does not support",
                              label, name, dtype->str);

  if (shape->n > KERN_MAX_DIMS)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' has %zu dimensions (at most %d supported)", label, name,
                              shape->n, KERN_MAX_DIMS);
  e->n_dims = shape->n ? (int)shape->n : 1;
  e->ne[0] = 1; /* a scalar */
  uint64_t elements = 1;
  for (size_t i = 0; i < shape->n; i++) {
    const kern_json_value *d = &shape->items[shape->n - 1 - i];
    if (!is_uint(d))
      return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "': \"shape\" holds something other than sizes", label,
                                name);
    if (d->integer == 0)
      return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' is empty (a dimension of 0), which has no kern form",
                                label, name);
    e->ne[i] = d->integer;
    if (__builtin_mul_overflow(elements, (uint64_t)d->integer, &elements))
      return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' has more elements than can be addressed", label,
                                name);
  }
  e->begin = (uint64_t)offsets->items[0].integer;
  e->end = (uint64_t)offsets->items[1].integer;
  if (e->end < e->begin)
    return _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "': data_offsets end %" PRIu64 " is before begin %" PRIu64,
                              label, name, e->end, e->begin);
  if (e->end > data_size)
    return _kern_weights_fail(w,
                              "%struncated: tensor '" ST_NAME_FMT "' at data offsets [%" PRIu64 ", %" PRIu64
                              ") runs past the end of the data (%" PRIu64 " bytes)",
                              label, name, e->begin, e->end, data_size);
  uint64_t nbytes;
  if (__builtin_mul_overflow(elements, (uint64_t)size, &nbytes) || nbytes != e->end - e->begin)
    return _kern_weights_fail(w,
                              "%stensor '" ST_NAME_FMT "': %s with %" PRIu64
                              " elements does not fit data_offsets [%" PRIu64 ", %" PRIu64 ") (%" PRIu64 " bytes)",
                              label, name, dtype->str, elements, e->begin, e->end, e->end - e->begin);
  e->name = name;
  return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Adds "__metadata__" members as "safetensors.KEY" strings (keeping the first
 * value of a key that an earlier shard set). */
static int
add_header_meta(kern_weights *w, const char *label, const kern_json_value *v)
{
  if (v->type != KERN_JSON_OBJECT)
    return _kern_weights_fail(w, "%s\"__metadata__\" is not a JSON object", label);
  for (size_t i = 0; i < v->n; i++) {
    const char *k = v->keys[i];
    const kern_json_value *s = &v->items[i];
    if (s->type != KERN_JSON_STRING)
      return _kern_weights_fail(w, "%s\"__metadata__\" member '" ST_NAME_FMT "' is not a string", label, k);
    size_t klen = strlen(k);
    char *key = malloc(klen + sizeof "safetensors.");
    if (!key)
      return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    memcpy(key, "safetensors.", sizeof "safetensors." - 1);
    memcpy(key + sizeof "safetensors." - 1, k, klen + 1);
    int rc = 0;
    if (!kern_weights_get_meta(w, key)) {
      kern_meta m = { .type = KERN_META_STRING, .n = s->str_len };
      if (!(m.v.str = _kern_weights_strdup(w, s->str, s->str_len, "a __metadata__ value")))
        rc = KERN_E_FORMAT;
      else
        rc = _kern_weights_add_meta(w, key, strlen(key), &m);
    }
    free(key);
    if (rc)
      return rc;
  }
  return 0;
}

/* Reads one .safetensors file and adds its tensors (in data order) and metadata. */
static int
parse_file(kern_weights *w, const char *path, const char *label)
{
  const uint8_t *base;
  size_t size;
  int rc = _kern_weights_map(w, path, &base, &size);
  if (rc)
    return rc;
  if (size < 8)
    return _kern_weights_fail(w, "%struncated: %zu bytes cannot hold the header length", label, size);
  uint64_t n;
  memcpy(&n, base, 8); /* little-endian hosts only */
  if (n > ST_MAX_HEADER)
    return _kern_weights_fail(w, "%sthe header length %" PRIu64 " is more than the %u bytes allowed", label, n,
                              ST_MAX_HEADER);
  if (n > size - 8)
    return _kern_weights_fail(w,
                              "%struncated: the header of %" PRIu64 " bytes runs past the end of the file (%zu bytes)",
                              label, n, size);
  const char *header = (const char *)base + 8;
  if (n == 0 || header[0] != '{')
    return _kern_weights_fail(w, "%sthe header does not begin with '{'", label);
  const uint8_t *data = base + 8 + n;
  uint64_t data_size = size - 8 - n;

  char jerr[256];
  kern_json *doc = kern_json_parse(header, (size_t)n, jerr, sizeof jerr);
  if (!doc)
    return _kern_weights_fail(w, "%sthe header is not valid JSON: %s", label, jerr);
  const kern_json_value *root = kern_json_root(doc);
  st_entry *entries = NULL;
  size_t n_entries = 0;
  if (root->type != KERN_JSON_OBJECT) {
    rc = _kern_weights_fail(w, "%sthe header is not a JSON object", label);
    goto out;
  }
  if (root->n && !(entries = malloc(root->n * sizeof *entries))) {
    rc = _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < root->n; i++) {
    if (strcmp(root->keys[i], "__metadata__") == 0)
      rc = add_header_meta(w, label, &root->items[i]);
    else
      rc = parse_entry(w, label, root->keys[i], &root->items[i], data_size, &entries[n_entries++]);
    if (rc)
      goto out;
  }

  /* The buffer must be covered exactly: no holes, no overlap, nothing after. */
  if (n_entries > 1)
    qsort(entries, n_entries, sizeof *entries, cmp_entry);
  uint64_t at = 0;
  for (size_t i = 0; i < n_entries; i++) {
    const st_entry *e = &entries[i];
    if (e->begin < at) {
      rc = _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' at data offsets [%" PRIu64 ", %" PRIu64
                                 ") overlaps tensor '" ST_NAME_FMT "', which ends at %" PRIu64,
                              label, e->name, e->begin, e->end, entries[i - 1].name, at);
      goto out;
    }
    if (e->begin > at) {
      rc = _kern_weights_fail(w,
                              "%sdata bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor (a hole before '" ST_NAME_FMT
                              "')",
                              label, at, e->begin, e->name);
      goto out;
    }
    at = e->end;
  }
  if (at != data_size) {
    rc = _kern_weights_fail(w, "%sdata bytes [%" PRIu64 ", %" PRIu64 ") after the last tensor belong to no tensor",
                            label, at, data_size);
    goto out;
  }

  for (size_t i = 0; i < n_entries; i++) {
    const st_entry *e = &entries[i];
    if (kern_weights_find(w, e->name)) {
      rc = _kern_weights_fail(w, "%stensor '" ST_NAME_FMT "' is also in an earlier shard", label, e->name);
      goto out;
    }
    rc = _kern_weights_add_tensor(w, e->name, strlen(e->name), e->type, e->n_dims, e->ne, data + e->begin,
                                  (size_t)(e->end - e->begin), data, (size_t)data_size);
    if (rc)
      goto out;
  }
out:
  free(entries);
  kern_json_free(doc);
  return rc;
}

/* Parses a whole JSON file from the directory (config.json, the index). */
static int
parse_json_file(kern_weights *w, const char *path, const char *name, kern_json **out)
{
  const uint8_t *base;
  size_t size;
  int rc = _kern_weights_map(w, path, &base, &size);
  if (rc)
    return rc;
  char jerr[256];
  *out = kern_json_parse((const char *)base, size, jerr, sizeof jerr);
  if (!*out)
    return _kern_weights_fail(w, "%s is not valid JSON: %s", name, jerr);
  if (kern_json_root(*out)->type != KERN_JSON_OBJECT) {
    kern_json_free(*out);
    *out = NULL;
    return _kern_weights_fail(w, "%s is not a JSON object", name);
  }
  return 0;
}

/* A shard name must be a plain file name in the model directory. */
static int
shard_name_ok(const char *s)
{
  return s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') && !strchr(s, '\\');
}

typedef struct {
  const char *name; /* in the index document */
  int64_t first, last; /* the tensors it added: [first, last) */
} st_shard;

static int
parse_index(kern_weights *w, const char *dir, const char *index_path)
{
  static const char index_name[] = "model.safetensors.index.json";
  kern_json *doc = NULL;
  int rc = parse_json_file(w, index_path, index_name, &doc);
  if (rc)
    return rc;
  const kern_json_value *map = kern_json_get(kern_json_root(doc), "weight_map");
  st_shard *shards = NULL;
  size_t n_shards = 0;
  if (!map || map->type != KERN_JSON_OBJECT) {
    rc = _kern_weights_fail(w, "%s has no \"weight_map\" object", index_name);
    goto out;
  }
  if (map->n && !(shards = malloc(map->n * sizeof *shards))) {
    rc = _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    goto out;
  }
  /* Read each shard once, in order of first mention. */
  for (size_t i = 0; i < map->n; i++) {
    const kern_json_value *s = &map->items[i];
    if (s->type != KERN_JSON_STRING) {
      rc = _kern_weights_fail(w, "%s: the shard of tensor '" ST_NAME_FMT "' is not a string", index_name,
                              map->keys[i]);
      goto out;
    }
    if (!shard_name_ok(s->str)) {
      rc = _kern_weights_fail(w, "%s: shard '" ST_NAME_FMT "' is not a file name in the model directory",
                              index_name, s->str);
      goto out;
    }
    size_t k = 0;
    while (k < n_shards && strcmp(shards[k].name, s->str) != 0)
      k++;
    if (k < n_shards)
      continue;
    char *path = join_path(dir, s->str);
    if (!path) {
      rc = _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
      goto out;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
      rc = _kern_weights_fail(w, "shard '" ST_NAME_FMT "' named in %s %s", s->str, index_name,
                              stat(path, &st) != 0 ? "is missing" : "is not a regular file");
      free(path);
      goto out;
    }
    size_t llen = strlen(s->str) + 3;
    char *label = malloc(llen);
    if (!label) {
      free(path);
      rc = _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
      goto out;
    }
    snprintf(label, llen, "%s: ", s->str);
    shards[n_shards].name = s->str;
    shards[n_shards].first = kern_weights_n_tensors(w);
    rc = parse_file(w, path, label);
    shards[n_shards].last = kern_weights_n_tensors(w);
    n_shards++;
    free(label);
    free(path);
    if (rc)
      goto out;
  }
  /* Every listed tensor must be in the shard the index names. */
  for (size_t i = 0; i < map->n; i++) {
    const kern_tensor_info *t = kern_weights_find(w, map->keys[i]);
    int64_t at = t ? (int64_t)(t - kern_weights_tensor_at(w, 0)) : -1;
    size_t k = 0;
    while (strcmp(shards[k].name, map->items[i].str) != 0)
      k++;
    if (at < shards[k].first || at >= shards[k].last) {
      rc = _kern_weights_fail(w, "tensor '" ST_NAME_FMT "' is listed in %s under shard '" ST_NAME_FMT
                                 "', which does not contain it",
                              map->keys[i], index_name, shards[k].name);
      goto out;
    }
  }
out:
  free(shards);
  kern_json_free(doc);
  return rc;
}

static int
parse_dir(kern_weights *w, const char *dir)
{
  char *config = join_path(dir, "config.json"), *single = join_path(dir, "model.safetensors"),
       *index = join_path(dir, "model.safetensors.index.json");
  int rc = 0;
  if (!config || !single || !index) {
    rc = _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    goto out;
  }
  if (is_regular_file(config)) {
    kern_json *doc = NULL;
    if ((rc = parse_json_file(w, config, "config.json", &doc)))
      goto out;
    rc = _kern_weights_add_json_meta(w, "config", kern_json_root(doc));
    kern_json_free(doc);
    if (rc)
      goto out;
  }
  /* generation_config.json (Whisper's alignment heads live there). */
  char *gen = join_path(dir, "generation_config.json");
  if (!gen) {
    rc = _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    goto out;
  }
  if (is_regular_file(gen)) {
    kern_json *doc = NULL;
    rc = parse_json_file(w, gen, "generation_config.json", &doc);
    if (rc == 0) {
      rc = _kern_weights_add_json_meta(w, "generation_config", kern_json_root(doc));
      kern_json_free(doc);
    }
  }
  free(gen);
  if (rc)
    goto out;
  if (is_regular_file(single))
    rc = parse_file(w, single, "model.safetensors: ");
  else if (is_regular_file(index))
    rc = parse_index(w, dir, index);
  else
    rc = _kern_weights_fail(w, "no model.safetensors or model.safetensors.index.json in this directory");
out:
  free(config);
  free(single);
  free(index);
  return rc;
}

int
_kern_safetensors_parse(kern_weights *w, const char *path)
{
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return parse_dir(w, path);
  return parse_file(w, path, "");
}
