/* kern-weights.c: the format-independent part of the weight-file reader:
 * opening and format detection, mappings, the checked tensor and metadata
 * registries with their name hashes, typed metadata access and UTF-8 checks. */
#include "kern-weights-private.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t empty_file[1];

/* ---- errors and memory ------------------------------------------------ */

static int vfail(kern_weights *w, int code, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static int
vfail(kern_weights *w, int code, const char *fmt, va_list ap)
{
  if (w->error)
    return code; /* keep the first, most specific message */
  char msg[768];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(w->path) + strlen(msg) + 3;
  w->error = malloc(n);
  if (w->error)
    snprintf(w->error, n, "%s: %s", w->path, msg);
  return code;
}

int
_kern_weights_fail(kern_weights *w, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = vfail(w, KERN_E_FORMAT, fmt, ap);
  va_end(ap);
  return rc;
}

int
_kern_weights_fail_code(kern_weights *w, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = vfail(w, code, fmt, ap);
  va_end(ap);
  return rc;
}

static int
grow(void **arr, int64_t *cap, int64_t need, size_t elem)
{
  if (need <= *cap)
    return 0;
  int64_t n = *cap ? *cap : 16;
  while (n < need)
    n *= 2;
  if ((uint64_t)n > SIZE_MAX / elem)
    return -1;
  void *p = realloc(*arr, (size_t)n * elem);
  if (!p)
    return -1;
  *arr = p;
  *cap = n;
  return 0;
}

void *
_kern_weights_alloc(kern_weights *w, size_t size)
{
  if (grow((void **)&w->owned, &w->cap_owned, w->n_owned + 1, sizeof(void *)) != 0) {
    _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
    return NULL;
  }
  void *p = calloc(1, size ? size : 1);
  if (!p) {
    _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory (%zu bytes)", size);
    return NULL;
  }
  w->owned[w->n_owned++] = p;
  return p;
}

/* ---- UTF-8 ------------------------------------------------------------ */

int
kern_utf8_valid(const char *str, size_t len)
{
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  while (s < end) {
    unsigned c = *s;
    if (c < 0x80) {
      s++;
      continue;
    }
    int n;
    unsigned cp, min;
    if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (end - s <= n)
      return 0;
    for (int i = 1; i <= n; i++) {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    s += n + 1;
  }
  return 1;
}

char *
_kern_weights_strdup(kern_weights *w, const char *s, size_t len, const char *what)
{
  if (len > KERN_MAX_STRING_LEN) {
    _kern_weights_fail(w, "%s is %zu bytes long, more than the %u allowed", what, len, KERN_MAX_STRING_LEN);
    return NULL;
  }
  if (memchr(s, '\0', len) || !kern_utf8_valid(s, len)) {
    _kern_weights_fail(w, "%s is not valid UTF-8", what);
    return NULL;
  }
  char *p = _kern_weights_alloc(w, len + 1);
  if (p)
    memcpy(p, s, len);
  return p;
}

/* ---- mappings ----------------------------------------------------------- */

int
_kern_weights_map(kern_weights *w, const char *path, const uint8_t **base, size_t *size)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return _kern_weights_fail_code(w, KERN_E_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return _kern_weights_fail_code(w, KERN_E_IO, "%s is not a regular file", path);
  }
  const uint8_t *p = empty_file;
  if (st.st_size > 0) {
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      return _kern_weights_fail_code(w, KERN_E_IO, "cannot map %s: %s", path, strerror(e));
    }
    p = m;
  }
  close(fd);
  kern_mapping *maps = realloc(w->maps, (size_t)(w->n_maps + 1) * sizeof *maps);
  char *copy = strdup(path);
  if (!maps || !copy) {
    if (maps)
      w->maps = maps;
    free(copy);
    if (p != empty_file)
      munmap((void *)p, (size_t)st.st_size);
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  }
  w->maps = maps;
  w->maps[w->n_maps++] = (kern_mapping){ copy, p, (size_t)st.st_size };
  *base = p;
  *size = (size_t)st.st_size;
  return 0;
}

/* ---- name hashes ------------------------------------------------------- */

static uint64_t
hash_str(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

typedef const char *(*name_of_fn)(const kern_weights *w, int64_t i);

static const char *
tensor_name(const kern_weights *w, int64_t i)
{
  return w->tensors[i].name;
}

static const char *
meta_key(const kern_weights *w, int64_t i)
{
  return w->meta[i].key;
}

static int64_t
index_find(const kern_weights *w, const int64_t *index, int64_t cap, name_of_fn name_of, const char *name)
{
  if (!cap)
    return -1;
  for (uint64_t h = hash_str(name) & (uint64_t)(cap - 1);; h = (h + 1) & (uint64_t)(cap - 1)) {
    if (index[h] < 0)
      return -1;
    if (strcmp(name_of(w, index[h]), name) == 0)
      return index[h];
  }
}

/* Inserts entry i (whose name is not present yet), growing the table to keep
 * it at most half full. */
static int
index_insert(kern_weights *w, int64_t **index, int64_t *cap, name_of_fn name_of, int64_t i)
{
  if ((i + 1) * 2 > *cap) {
    int64_t ncap = *cap ? *cap * 2 : 64;
    while ((i + 1) * 2 > ncap)
      ncap *= 2;
    int64_t *ni = malloc((size_t)ncap * sizeof *ni);
    if (!ni)
      return -1;
    memset(ni, 0xff, (size_t)ncap * sizeof *ni);
    free(*index);
    *index = ni;
    *cap = ncap;
    for (int64_t j = 0; j < i; j++) {
      uint64_t h = hash_str(name_of(w, j)) & (uint64_t)(ncap - 1);
      while (ni[h] >= 0)
        h = (h + 1) & (uint64_t)(ncap - 1);
      ni[h] = j;
    }
  }
  uint64_t h = hash_str(name_of(w, i)) & (uint64_t)(*cap - 1);
  while ((*index)[h] >= 0)
    h = (h + 1) & (uint64_t)(*cap - 1);
  (*index)[h] = i;
  return 0;
}

/* ---- registries -------------------------------------------------------- */

int
_kern_weights_add_tensor(kern_weights *w, const char *name, size_t name_len, int type, int n_dims,
                         const int64_t *ne, const void *data, size_t nbytes, const void *region,
                         size_t region_size)
{
  if (name_len == 0)
    return _kern_weights_fail(w, "tensor %" PRId64 " has an empty name", w->n_tensors);
  if (name_len > KERN_MAX_NAME_LEN)
    return _kern_weights_fail(w, "tensor %" PRId64 " has a %zu-byte name", w->n_tensors, name_len);
  char *copy = _kern_weights_strdup(w, name, name_len, "a tensor name");
  if (!copy)
    return KERN_E_FORMAT;
  if (w->n_tensors >= KERN_MAX_TENSORS)
    return _kern_weights_fail(w, "more than %d tensors", KERN_MAX_TENSORS);
  if (index_find(w, w->tensor_index, w->tensor_index_cap, tensor_name, copy) >= 0)
    return _kern_weights_fail(w, "tensor '%s' appears twice", copy);
  const kern_type_traits *tr = kern_type_get_traits(type);
  if (!tr)
    return _kern_weights_fail(w, "tensor '%s' has unknown type %d", copy, type);
  if (n_dims < 1 || n_dims > KERN_MAX_DIMS)
    return _kern_weights_fail(w, "tensor '%s' has %d dimensions (1 to %d supported)", copy, n_dims,
                              KERN_MAX_DIMS);
  kern_tensor_info t = { .name = copy, .type = type, .n_dims = n_dims, .data = data, .nbytes = nbytes };
  uint64_t total = 1;
  for (int i = 0; i < KERN_MAX_DIMS; i++) {
    t.ne[i] = i < n_dims ? ne[i] : 1;
    if (t.ne[i] <= 0 || t.ne[i] > INT64_MAX / 2)
      return _kern_weights_fail(w, "tensor '%s' has dimension %d of size %" PRId64, copy, i, t.ne[i]);
    if (total > (uint64_t)INT64_MAX / (uint64_t)t.ne[i])
      return _kern_weights_fail(w, "tensor '%s' has more elements than can be addressed", copy);
    total *= (uint64_t)t.ne[i];
  }
  if (t.ne[0] % tr->block_size != 0)
    return _kern_weights_fail(w, "tensor '%s': row length %" PRId64 " is not a multiple of %s's block of %d",
                              copy, t.ne[0], tr->name, tr->block_size);
  size_t row = kern_type_row_size(type, t.ne[0]);
  uint64_t rows = total / (uint64_t)t.ne[0];
  if (row == 0 || rows > SIZE_MAX / row)
    return _kern_weights_fail(w, "tensor '%s' is too large", copy);
  if (row * rows != nbytes)
    return _kern_weights_fail(w, "tensor '%s': %s with shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                                 "] needs %zu bytes, the file gives %zu",
                              copy, tr->name, t.ne[0], t.ne[1], t.ne[2], t.ne[3], row * (size_t)rows, nbytes);
  const uint8_t *d = data, *r = region;
  if (nbytes > 0 && (!d || d < r || (size_t)(d - r) > region_size || nbytes > region_size - (size_t)(d - r)))
    return _kern_weights_fail(w, "tensor '%s' (%zu bytes) lies outside the file", copy, nbytes);

  if (grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1, sizeof t) != 0)
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  w->tensors[w->n_tensors] = t;
  if (index_insert(w, &w->tensor_index, &w->tensor_index_cap, tensor_name, w->n_tensors) != 0)
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  w->n_tensors++;
  return 0;
}

int
_kern_weights_add_meta(kern_weights *w, const char *key, size_t key_len, const kern_meta *value)
{
  if (key_len == 0 || key_len > KERN_MAX_NAME_LEN)
    return _kern_weights_fail(w, "metadata key %" PRId64 " has length %zu", w->n_meta, key_len);
  char *copy = _kern_weights_strdup(w, key, key_len, "a metadata key");
  if (!copy)
    return KERN_E_FORMAT;
  if (w->n_meta >= KERN_MAX_META)
    return _kern_weights_fail(w, "more than %d metadata entries", KERN_MAX_META);
  if (index_find(w, w->meta_index, w->meta_index_cap, meta_key, copy) >= 0)
    return _kern_weights_fail(w, "metadata key '%s' appears twice", copy);
  if (grow((void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof *w->meta) != 0)
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  w->meta[w->n_meta] = (kern_meta_entry){ copy, *value };
  if (index_insert(w, &w->meta_index, &w->meta_index_cap, meta_key, w->n_meta) != 0)
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  w->n_meta++;
  return 0;
}

size_t
_kern_meta_type_size(kern_meta_type t)
{
  switch (t) {
  case KERN_META_U8: case KERN_META_I8: case KERN_META_BOOL: return 1;
  case KERN_META_U16: case KERN_META_I16: return 2;
  case KERN_META_U32: case KERN_META_I32: case KERN_META_F32: return 4;
  case KERN_META_U64: case KERN_META_I64: case KERN_META_F64: return 8;
  default: return 0;
  }
}

/* ---- the bounds-checked reader --------------------------------------- */

int
_kern_read_bytes(kern_reader *r, size_t n, const uint8_t **out, const char *what)
{
  if (n > (size_t)(r->end - r->p))
    return _kern_weights_fail(r->w, "truncated: %s (%zu bytes at offset %zu) runs past the end of the file", what,
                              n, (size_t)(r->p - r->start));
  *out = r->p;
  r->p += n;
  return 0;
}

#define DEFINE_READ(fn, type)                                            \
  int fn(kern_reader *r, type *out, const char *what)                    \
  {                                                                      \
    const uint8_t *p;                                                    \
    int rc = _kern_read_bytes(r, sizeof(type), &p, what);                \
    if (rc == 0)                                                         \
      memcpy(out, p, sizeof(type)); /* little-endian hosts only */       \
    return rc;                                                           \
  }
DEFINE_READ(_kern_read_u8, uint8_t)
DEFINE_READ(_kern_read_u16, uint16_t)
DEFINE_READ(_kern_read_u32, uint32_t)
DEFINE_READ(_kern_read_u64, uint64_t)
DEFINE_READ(_kern_read_i32, int32_t)
DEFINE_READ(_kern_read_f32, float)
DEFINE_READ(_kern_read_f64, double)

/* ---- open / close ------------------------------------------------------- */

static int
file_exists(const char *dir, const char *name, int want_dir)
{
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct stat st;
  return stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static int
detect_and_parse(kern_weights *w, const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0)
    return _kern_weights_fail_code(w, KERN_E_IO, "%s", strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    if (file_exists(path, "model.bin", 0)) {
      w->format = KERN_FORMAT_CT2;
      return _kern_ct2_parse(w, path);
    }
    w->format = KERN_FORMAT_SAFETENSORS;
    return _kern_safetensors_parse(w, path);
  }
  if (!S_ISREG(st.st_mode))
    return _kern_weights_fail_code(w, KERN_E_IO, "not a regular file or a directory");

  uint8_t head[9] = { 0 };
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return _kern_weights_fail_code(w, KERN_E_IO, "%s", strerror(errno));
  ssize_t got = read(fd, head, sizeof head);
  close(fd);
  if (got <= 0)
    return _kern_weights_fail(w, got == 0 ? "the file is empty" : "cannot read the file");
  uint32_t magic32;
  memcpy(&magic32, head, 4);
  if (got >= 4 && memcmp(head, "GGUF", 4) == 0) {
    w->format = KERN_FORMAT_GGUF;
    return _kern_gguf_parse(w, path);
  }
  if (got >= 4 && magic32 == 0x67676d6cu) { /* "ggml" as a little-endian uint32 */
    w->format = KERN_FORMAT_WHISPER_GGML;
    return _kern_whisper_ggml_parse(w, path);
  }
  if (got == 9 && head[8] == '{') { /* safetensors: u64 header size, then JSON */
    w->format = KERN_FORMAT_SAFETENSORS;
    return _kern_safetensors_parse(w, path);
  }
  const char *slash = strrchr(path, '/');
  if (strcmp(slash ? slash + 1 : path, "model.bin") == 0) { /* CTranslate2: open its directory */
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    w->format = KERN_FORMAT_CT2;
    return _kern_ct2_parse(w, dir);
  }
  return _kern_weights_fail(w, "not a model file this version understands (GGUF, safetensors, whisper.cpp ggml, "
                               "CTranslate2); it starts with %02x %02x %02x %02x",
                            head[0], head[1], head[2], head[3]);
}

kern_weights *
kern_weights_open(const char *path, char **err)
{
  if (err)
    *err = NULL;
  kern_weights *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(path ? path : "(null)"))) {
    free(w);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  int rc = path ? detect_and_parse(w, path) : _kern_weights_fail_code(w, KERN_E_INVAL, "no path given");
  if (rc != 0) {
    if (err)
      *err = w->error ? strdup(w->error) : strdup("cannot open the model");
    kern_weights_close(w);
    return NULL;
  }
  return w;
}

void
kern_weights_close(kern_weights *w)
{
  if (!w)
    return;
  for (int i = 0; i < w->n_maps; i++) {
    if (w->maps[i].size > 0)
      munmap((void *)w->maps[i].base, w->maps[i].size);
    free(w->maps[i].path);
  }
  for (int64_t i = 0; i < w->n_owned; i++)
    free(w->owned[i]);
  for (int i = 0; i < w->n_sources; i++)
    kern_weights_close(w->sources[i]);
  free(w->sources);
  free(w->owned);
  free(w->maps);
  free(w->meta);
  free(w->meta_index);
  free(w->tensors);
  free(w->tensor_index);
  free(w->error);
  free(w->path);
  free(w);
}

/* ---- views ---------------------------------------------------------------- */

kern_weights *
kern_weights_view_new(const char *path, kern_format format)
{
  kern_weights *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(path ? path : "(view)"))) {
    free(w);
    return NULL;
  }
  w->format = format;
  return w;
}

int
kern_weights_view_adopt(kern_weights *w, kern_weights *src)
{
  kern_weights **p = realloc(w->sources, (size_t)(w->n_sources + 1) * sizeof *p);
  if (!p)
    return _kern_weights_fail_code(w, KERN_E_NOMEM, "out of memory");
  w->sources = p;
  w->sources[w->n_sources++] = src;
  return 0;
}

void *
kern_weights_view_alloc(kern_weights *w, size_t size)
{
  return _kern_weights_alloc(w, size);
}

char *
kern_weights_view_strdup(kern_weights *w, const char *s)
{
  return _kern_weights_strdup(w, s, strlen(s), "a string");
}

int
kern_weights_view_add_meta(kern_weights *w, const char *key, const kern_meta *value)
{
  return _kern_weights_add_meta(w, key, strlen(key), value);
}

int
kern_weights_view_add_tensor(kern_weights *w, const char *name, int type, int n_dims, const int64_t *ne,
                             const void *data, size_t nbytes)
{
  return _kern_weights_add_tensor(w, name, strlen(name), type, n_dims, ne, data, nbytes, data, nbytes);
}

const char *
kern_weights_view_error(const kern_weights *w)
{
  return w->error;
}

/* ---- queries ------------------------------------------------------------- */

kern_format
kern_weights_format(const kern_weights *w)
{
  return w->format;
}

const char *
kern_weights_format_name(kern_format f)
{
  switch (f) {
  case KERN_FORMAT_GGUF: return "GGUF";
  case KERN_FORMAT_SAFETENSORS: return "safetensors";
  case KERN_FORMAT_WHISPER_GGML: return "whisper.cpp ggml";
  case KERN_FORMAT_CT2: return "CTranslate2";
  }
  return "unknown";
}

const char *
kern_weights_path(const kern_weights *w)
{
  return w->path;
}

const kern_meta *
kern_weights_get_meta(const kern_weights *w, const char *key)
{
  int64_t i = index_find(w, w->meta_index, w->meta_index_cap, meta_key, key);
  return i >= 0 ? &w->meta[i].value : NULL;
}

int64_t
kern_weights_n_meta(const kern_weights *w)
{
  return w->n_meta;
}

const kern_meta *
kern_weights_meta_at(const kern_weights *w, int64_t i, const char **key)
{
  if (i < 0 || i >= w->n_meta)
    return NULL;
  if (key)
    *key = w->meta[i].key;
  return &w->meta[i].value;
}

int64_t
kern_weights_n_tensors(const kern_weights *w)
{
  return w->n_tensors;
}

const kern_tensor_info *
kern_weights_tensor_at(const kern_weights *w, int64_t i)
{
  return i >= 0 && i < w->n_tensors ? &w->tensors[i] : NULL;
}

const kern_tensor_info *
kern_weights_find(const kern_weights *w, const char *name)
{
  int64_t i = index_find(w, w->tensor_index, w->tensor_index_cap, tensor_name, name);
  return i >= 0 ? &w->tensors[i] : NULL;
}

int64_t
kern_tensor_nelements(const kern_tensor_info *t)
{
  return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

int
kern_tensor_check_shape(const kern_tensor_info *t, int64_t n0, int64_t n1, char *msg, size_t msgsz)
{
  if (n1 == 0) {
    if (kern_tensor_nelements(t) == n0)
      return 0;
    snprintf(msg, msgsz, "tensor '%s' has %" PRId64 " values, the hyperparameters say %" PRId64, t->name,
             kern_tensor_nelements(t), n0);
    return KERN_E_FORMAT;
  }
  if (t->ne[0] == n0 && t->ne[1] == n1 && t->ne[2] == 1 && t->ne[3] == 1)
    return 0;
  snprintf(msg, msgsz,
           "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
           "], the hyperparameters say [%" PRId64 ", %" PRId64 "]",
           t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], n0, n1);
  return KERN_E_FORMAT;
}

/* ---- typed metadata access -------------------------------------------- */

static int
scalar_int(kern_meta_type type, const void *p, int64_t *out)
{
  switch (type) {
  case KERN_META_U8: *out = *(const uint8_t *)p; return 0;
  case KERN_META_I8: *out = *(const int8_t *)p; return 0;
  case KERN_META_BOOL: *out = *(const uint8_t *)p != 0; return 0;
  case KERN_META_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 0; }
  case KERN_META_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return 0; }
  case KERN_META_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 0; }
  case KERN_META_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return 0; }
  case KERN_META_I64: { int64_t v; memcpy(&v, p, 8); *out = v; return 0; }
  case KERN_META_U64: {
    uint64_t v;
    memcpy(&v, p, 8);
    if (v > (uint64_t)INT64_MAX)
      return KERN_E_INVAL;
    *out = (int64_t)v;
    return 0;
  }
  default: return KERN_E_INVAL;
  }
}

int
kern_meta_get_int(const kern_meta *m, int64_t *out)
{
  if (!m)
    return KERN_E_INVAL;
  switch (m->type) {
  case KERN_META_U8: case KERN_META_U16: case KERN_META_U32: case KERN_META_U64:
    if (m->v.u64 > (uint64_t)INT64_MAX)
      return KERN_E_INVAL;
    *out = (int64_t)m->v.u64;
    return 0;
  case KERN_META_I8: case KERN_META_I16: case KERN_META_I32: case KERN_META_I64: case KERN_META_BOOL:
    *out = m->v.i64;
    return 0;
  default:
    return KERN_E_INVAL;
  }
}

int
kern_meta_get_float(const kern_meta *m, double *out)
{
  if (!m)
    return KERN_E_INVAL;
  if (m->type == KERN_META_F32 || m->type == KERN_META_F64) {
    *out = m->v.f64;
    return 0;
  }
  if (m->type == KERN_META_BOOL)
    return KERN_E_INVAL;
  int64_t i;
  if (m->type == KERN_META_U64) {
    *out = (double)m->v.u64;
    return 0;
  }
  if (kern_meta_get_int(m, &i) != 0)
    return KERN_E_INVAL;
  *out = (double)i;
  return 0;
}

const char *
kern_meta_get_string(const kern_meta *m)
{
  return m && m->type == KERN_META_STRING ? m->v.str : NULL;
}

int
kern_meta_array_int(const kern_meta *m, uint64_t i, int64_t *out)
{
  if (!m || m->type != KERN_META_ARRAY || i >= m->n)
    return KERN_E_INVAL;
  size_t sz = _kern_meta_type_size(m->elem_type);
  if (!sz || m->elem_type == KERN_META_F32 || m->elem_type == KERN_META_F64)
    return KERN_E_INVAL;
  return scalar_int(m->elem_type, (const uint8_t *)m->v.raw + i * sz, out);
}

int
kern_meta_array_float(const kern_meta *m, uint64_t i, double *out)
{
  if (!m || m->type != KERN_META_ARRAY || i >= m->n)
    return KERN_E_INVAL;
  const uint8_t *p = (const uint8_t *)m->v.raw;
  if (m->elem_type == KERN_META_F32) {
    float f;
    memcpy(&f, p + i * 4, 4);
    *out = f;
    return 0;
  }
  if (m->elem_type == KERN_META_F64) {
    memcpy(out, p + i * 8, 8);
    return 0;
  }
  int64_t v;
  if (m->elem_type == KERN_META_BOOL || kern_meta_array_int(m, i, &v) != 0)
    return KERN_E_INVAL;
  *out = (double)v;
  return 0;
}

const kern_meta *
kern_meta_array_item(const kern_meta *m, uint64_t i)
{
  if (!m || m->type != KERN_META_ARRAY || i >= m->n ||
      (m->elem_type != KERN_META_STRING && m->elem_type != KERN_META_ARRAY && m->elem_type != KERN_META_NULL))
    return NULL;
  return &m->v.items[i];
}

const char *
kern_meta_array_string(const kern_meta *m, uint64_t i)
{
  if (!m || m->type != KERN_META_ARRAY || m->elem_type != KERN_META_STRING || i >= m->n)
    return NULL;
  return m->v.items[i].v.str;
}

int64_t
kern_weights_get_int(const kern_weights *w, const char *key, int64_t fallback)
{
  int64_t v;
  return kern_meta_get_int(kern_weights_get_meta(w, key), &v) == 0 ? v : fallback;
}

double
kern_weights_get_float(const kern_weights *w, const char *key, double fallback)
{
  double v;
  return kern_meta_get_float(kern_weights_get_meta(w, key), &v) == 0 ? v : fallback;
}

const char *
kern_weights_get_string(const kern_weights *w, const char *key, const char *fallback)
{
  const char *s = kern_meta_get_string(kern_weights_get_meta(w, key));
  return s ? s : fallback;
}
