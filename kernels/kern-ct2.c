/* kern-ct2.c: reader for CTranslate2 model directories (faster-whisper).
 *
 * A directory holds model.bin, config.json and the vocabularies. model.bin
 * (binary versions 1 to 6, as CTranslate2's spec writer and loader have it;
 * all little-endian):
 *   u32 binary_version
 *   (version >= 2) string spec name, u32 spec revision (else revision 1)
 *   u32 num_variables, then per variable:
 *     string name, u8 rank, u32 dims[rank] (row-major: dims[0] outermost),
 *     version >= 4: u8 dtype (0 float32, 1 int8, 2 int16, 3 int32,
 *                   4 float16, 5 bfloat16), u32 num_bytes
 *     version <  4: u8 item size (4 float32, 2 int16, 1 int8), u32 item count
 *     the data, with no padding (so data is often unaligned)
 *   (version >= 3) u32 num_aliases, then pairs of strings (alias, variable)
 * A string is a u16 length that counts a trailing NUL, then the bytes.
 *
 * What the reader exposes:
 *   - each variable as a tensor named as in the file ("encoder/conv1/weight"),
 *     ne reversed from dims (ne[0] = last dim); rank 0 (scalars) becomes
 *     n_dims 1, ne {1}. Data points into the mapping and may be unaligned.
 *     int8 weights keep their separate float "<name>_scale" variables as their
 *     own tensors; nothing is dequantized here.
 *   - each alias as one more tensor with the alias name sharing the target's
 *     data (so kern_weights_find works for it), plus metadata
 *     "ct2.alias.ALIAS" = target name so callers summing bytes can skip them.
 *   - "ct2.binary_version", "ct2.spec_revision" (U32), "ct2.spec" (STRING,
 *     absent before version 2); config.json as "config.*" and, when present,
 *     preprocessor_config.json as "preprocessor_config.*".
 *   - the vocabulary as "tokenizer.tokens" (strings) from vocabulary.json (a
 *     JSON array of strings) or vocabulary.txt (one token per line, a trailing
 *     CR dropped), or from shared_vocabulary / target_vocabulary (.json or
 *     .txt) in seq2seq models; source_vocabulary / target_vocabulary also
 *     appear as "tokenizer.source_tokens" / "tokenizer.target_tokens".
 *     tokenizer.json (Hugging Face) is not read.
 */
#include "kern-json.h"
#include "kern-weights-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CT2_MAX_BINARY_VERSION 6

static const struct {
  int kern_type;
  const char *name;
  size_t size;
} ct2_dtypes[] = {
  { KERN_TYPE_F32, "float32", 4 }, { KERN_TYPE_I8, "int8", 1 },     { KERN_TYPE_I16, "int16", 2 },
  { KERN_TYPE_I32, "int32", 4 },   { KERN_TYPE_F16, "float16", 2 }, { KERN_TYPE_BF16, "bfloat16", 2 },
};
#define CT2_N_DTYPES ((int)(sizeof ct2_dtypes / sizeof ct2_dtypes[0]))

/* ---- model.bin ----------------------------------------------------------- */

/* A CT2 string: u16 length counting the NUL, the bytes, the NUL. *out points
 * into the mapping (NUL-terminated there); *len excludes the NUL. */
static int
read_string(kern_reader *r, const char **out, size_t *len, const char *what)
{
  uint16_t n;
  const uint8_t *p;
  int rc = _kern_read_u16(r, &n, what);
  if (rc)
    return rc;
  if (n == 0)
    return _kern_weights_fail(r->w, "%s at offset %zu has length 0 (the length counts a trailing NUL)", what,
                              (size_t)(r->p - r->start) - 2);
  if (n > (size_t)(r->end - r->p))
    return _kern_weights_fail(r->w, "truncated: %s (%u bytes at offset %zu) runs past the end of the file", what,
                              n, (size_t)(r->p - r->start));
  if ((rc = _kern_read_bytes(r, n, &p, what)))
    return rc;
  if (p[n - 1] != '\0' || memchr(p, '\0', (size_t)n - 1))
    return _kern_weights_fail(r->w, "%s at offset %zu is not a NUL-terminated string of %u bytes", what,
                              (size_t)(p - r->start), n);
  if (!kern_utf8_valid((const char *)p, (size_t)n - 1))
    return _kern_weights_fail(r->w, "%s at offset %zu is not valid UTF-8", what, (size_t)(p - r->start));
  *out = (const char *)p;
  *len = (size_t)n - 1;
  return 0;
}

static int
add_u32_meta(kern_weights *w, const char *key, uint32_t v)
{
  kern_meta m = { .type = KERN_META_U32, .v.u64 = v };
  return _kern_weights_add_meta(w, key, strlen(key), &m);
}

static int
read_variable(kern_reader *r, kern_weights *w, uint32_t version, const uint8_t *base, size_t size)
{
  const char *name;
  size_t name_len;
  uint8_t rank, code;
  uint32_t count;
  int rc;
  if ((rc = read_string(r, &name, &name_len, "a variable name")) || (rc = _kern_read_u8(r, &rank, "a rank")))
    return rc;
  if (rank > KERN_MAX_DIMS)
    return _kern_weights_fail(w, "variable '%s' has rank %u (0 to %d supported)", name, rank, KERN_MAX_DIMS);
  int64_t ne[KERN_MAX_DIMS] = { 1, 1, 1, 1 };
  uint64_t n_elem = 1;
  for (int d = 0; d < rank; d++) {
    uint32_t dim;
    if ((rc = _kern_read_u32(r, &dim, "a dimension")))
      return rc;
    if (dim == 0)
      return _kern_weights_fail(w, "variable '%s' has dimension %d of size 0", name, d);
    ne[rank - 1 - d] = dim; /* row-major: the last dimension varies fastest */
    if (n_elem > ((uint64_t)1 << 60) / dim)
      return _kern_weights_fail(w, "variable '%s' has more elements than can be addressed", name);
    n_elem *= dim;
  }
  if ((rc = _kern_read_u8(r, &code, version >= 4 ? "a dtype" : "an item size")) ||
      (rc = _kern_read_u32(r, &count, version >= 4 ? "a byte count" : "an item count")))
    return rc;
  int dt = -1;
  if (version >= 4) {
    if (code < CT2_N_DTYPES)
      dt = code;
    else
      return _kern_weights_fail(w, "variable '%s' has unknown dtype %u", name, code);
  } else {
    dt = code == 4 ? 0 : code == 2 ? 2 : code == 1 ? 1 : -1; /* CTranslate2's rule for old files */
    if (dt < 0)
      return _kern_weights_fail(w, "variable '%s' has unknown item size %u", name, code);
  }
  uint64_t nbytes = version >= 4 ? count : (uint64_t)count * ct2_dtypes[dt].size;
  if (n_elem * ct2_dtypes[dt].size != nbytes) /* n_elem <= 2^60: no overflow */
    return _kern_weights_fail(w, "variable '%s': %" PRIu64 " %s values need %" PRIu64 " bytes, the file gives %" PRIu64,
                              name, n_elem, ct2_dtypes[dt].name, n_elem * ct2_dtypes[dt].size, nbytes);
  if (nbytes > (uint64_t)(r->end - r->p))
    return _kern_weights_fail(w, "truncated: variable '%s' (%" PRIu64 " bytes at offset %zu) runs past the end of "
                                 "the file",
                              name, nbytes, (size_t)(r->p - r->start));
  const uint8_t *data;
  if ((rc = _kern_read_bytes(r, (size_t)nbytes, &data, "variable data")))
    return rc;
  return _kern_weights_add_tensor(w, name, name_len, ct2_dtypes[dt].kern_type, rank ? rank : 1, ne, data,
                                  (size_t)nbytes, base, size);
}

static int
read_aliases(kern_reader *r, kern_weights *w, const uint8_t *base, size_t size)
{
  uint32_t n;
  int rc = _kern_read_u32(r, &n, "the alias count");
  if (rc)
    return rc;
  if (n > (size_t)(r->end - r->p) / 6) /* two strings of at least one byte each */
    return _kern_weights_fail(w, "truncated: %" PRIu32 " aliases cannot fit in the %zu bytes left", n,
                              (size_t)(r->end - r->p));
  for (uint32_t i = 0; i < n; i++) {
    const char *alias, *target;
    size_t alias_len, target_len;
    if ((rc = read_string(r, &alias, &alias_len, "an alias")) ||
        (rc = read_string(r, &target, &target_len, "an alias target")))
      return rc;
    const kern_tensor_info *t = kern_weights_find(w, target);
    if (!t)
      return _kern_weights_fail(w, "alias '%s' names '%s', which is not a variable", alias, target);
    kern_tensor_info tv = *t; /* add_tensor may move the array t points into */
    if ((rc = _kern_weights_add_tensor(w, alias, alias_len, tv.type, tv.n_dims, tv.ne, tv.data, tv.nbytes, base,
                                       size)))
      return rc;
    char key[KERN_MAX_NAME_LEN + 16];
    snprintf(key, sizeof key, "ct2.alias.%s", alias); /* alias_len <= KERN_MAX_NAME_LEN here */
    kern_meta m = { .type = KERN_META_STRING, .n = target_len };
    if (!(m.v.str = _kern_weights_strdup(w, target, target_len, "an alias target")) ||
        (rc = _kern_weights_add_meta(w, key, strlen(key), &m)))
      return rc ? rc : KERN_E_FORMAT;
  }
  return 0;
}

static int
parse_model_bin(kern_weights *w, const char *file)
{
  const uint8_t *base;
  size_t size;
  int rc = _kern_weights_map(w, file, &base, &size);
  if (rc)
    return rc;
  kern_reader r = { base, base, base + size, w };
  uint32_t version, revision = 1, n_vars;
  if ((rc = _kern_read_u32(&r, &version, "the binary version")))
    return rc;
  if (version == 0 || version > CT2_MAX_BINARY_VERSION)
    return _kern_weights_fail(w, "model.bin has binary version %" PRIu32 " (this reader knows 1 to %d)%s", version,
                              CT2_MAX_BINARY_VERSION,
                              version > CT2_MAX_BINARY_VERSION && version < 256 ? "; convert it with an older "
                                                                                  "CTranslate2 or update Hark"
                                                                                : "; not a CTranslate2 model");
  if ((rc = add_u32_meta(w, "ct2.binary_version", version)))
    return rc;
  if (version >= 2) {
    const char *spec;
    size_t spec_len;
    if ((rc = read_string(&r, &spec, &spec_len, "the spec name")) ||
        (rc = _kern_read_u32(&r, &revision, "the spec revision")))
      return rc;
    kern_meta m = { .type = KERN_META_STRING, .n = spec_len };
    if (!(m.v.str = _kern_weights_strdup(w, spec, spec_len, "the spec name")))
      return KERN_E_FORMAT;
    if ((rc = _kern_weights_add_meta(w, "ct2.spec", strlen("ct2.spec"), &m)))
      return rc;
  }
  if ((rc = add_u32_meta(w, "ct2.spec_revision", revision)) ||
      (rc = _kern_read_u32(&r, &n_vars, "the variable count")))
    return rc;
  /* Each variable needs at least a 1-byte name string (3), rank, dtype and count (6). */
  if (n_vars > KERN_MAX_TENSORS || n_vars > (size_t)(r.end - r.p) / 9)
    return _kern_weights_fail(w, "truncated or corrupt: the header claims %" PRIu32 " variables in %zu bytes",
                              n_vars, (size_t)(r.end - r.p));
  for (uint32_t i = 0; i < n_vars; i++)
    if ((rc = read_variable(&r, w, version, base, size)))
      return rc;
  if (version >= 3 && (rc = read_aliases(&r, w, base, size)))
    return rc;
  if (r.p != r.end)
    return _kern_weights_fail(w, "model.bin has %zu unexpected bytes after its last %s", (size_t)(r.end - r.p),
                              version >= 3 ? "alias" : "variable");
  return 0;
}

/* ---- side files ---------------------------------------------------------- */

static int
is_file(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Maps and parses dir/name; *out is NULL (and 0 returned) when the file is absent. */
static int
load_json(kern_weights *w, const char *dir, const char *name, kern_json **out)
{
  char path[4096];
  *out = NULL;
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return _kern_weights_fail_code(w, KERN_E_IO, "the path of %s is too long", name);
  if (!is_file(path))
    return 0;
  const uint8_t *text;
  size_t len;
  int rc = _kern_weights_map(w, path, &text, &len);
  if (rc)
    return rc;
  char err[256];
  if (!(*out = kern_json_parse((const char *)text, len, err, sizeof err)))
    return _kern_weights_fail(w, "%s: %s", name, err);
  return 0;
}

/* Adds `key` as an array of strings from a JSON array; one block holds the text. */
static int
add_vocab_json(kern_weights *w, const char *key, const char *name, const kern_json_value *v)
{
  if (v->type != KERN_JSON_ARRAY)
    return _kern_weights_fail(w, "%s is not a JSON array of strings", name);
  size_t bytes = 0;
  for (size_t i = 0; i < v->n; i++) {
    if (v->items[i].type != KERN_JSON_STRING)
      return _kern_weights_fail(w, "%s: token %zu is not a string", name, i);
    bytes += v->items[i].str_len + 1;
  }
  kern_meta *items = _kern_weights_alloc(w, v->n * sizeof *items);
  char *text = _kern_weights_alloc(w, bytes);
  if (!items || !text)
    return KERN_E_NOMEM;
  for (size_t i = 0; i < v->n; i++) {
    memcpy(text, v->items[i].str, v->items[i].str_len + 1);
    items[i] = (kern_meta){ .type = KERN_META_STRING, .n = v->items[i].str_len, .v.str = text };
    text += v->items[i].str_len + 1;
  }
  kern_meta m = { .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = v->n, .v.items = items };
  return _kern_weights_add_meta(w, key, strlen(key), &m);
}

/* One token per line ('\n'; a trailing '\r' is dropped; the last line may lack
 * its newline). */
static int
add_vocab_txt(kern_weights *w, const char *key, const char *name, const char *path)
{
  const uint8_t *base;
  size_t size;
  int rc = _kern_weights_map(w, path, &base, &size);
  if (rc)
    return rc;
  const char *s = (const char *)base, *end = s + size;
  size_t n = 0;
  for (const char *p = s; p < end; n++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  kern_meta *items = _kern_weights_alloc(w, n * sizeof *items);
  char *text = _kern_weights_alloc(w, size + 1);
  if (!items || !text)
    return KERN_E_NOMEM;
  const char *p = s;
  for (size_t i = 0; i < n; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    size_t len = (size_t)(e - p);
    if (len > 0 && p[len - 1] == '\r')
      len--;
    if (memchr(p, '\0', len) || !kern_utf8_valid(p, len))
      return _kern_weights_fail(w, "%s: line %zu is not valid UTF-8", name, i + 1);
    memcpy(text, p, len);
    text[len] = '\0';
    items[i] = (kern_meta){ .type = KERN_META_STRING, .n = len, .v.str = text };
    text += len + 1;
    p = nl ? nl + 1 : end;
  }
  kern_meta m = { .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = n, .v.items = items };
  return _kern_weights_add_meta(w, key, strlen(key), &m);
}

/* Adds the vocabulary `stem` (".json" preferred over ".txt") under each of the
 * keys that is not set yet. Returns 0 when the vocabulary is absent too. */
static int
add_vocab(kern_weights *w, const char *dir, const char *stem, const char *key, const char *also)
{
  char name[64], path[4096];
  if (kern_weights_get_meta(w, key)) /* vocabulary.json wins over shared_vocabulary.json */
    return 0;
  snprintf(name, sizeof name, "%s.json", stem);
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return _kern_weights_fail_code(w, KERN_E_IO, "the path of %s is too long", name);
  int rc;
  if (is_file(path)) {
    kern_json *j;
    if ((rc = load_json(w, dir, name, &j)))
      return rc;
    rc = add_vocab_json(w, key, name, kern_json_root(j));
    kern_json_free(j);
  } else {
    snprintf(name, sizeof name, "%s.txt", stem);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!is_file(path))
      return 0;
    rc = add_vocab_txt(w, key, name, path);
  }
  if (rc || !also || kern_weights_get_meta(w, also))
    return rc;
  kern_meta m = *kern_weights_get_meta(w, key);
  return _kern_weights_add_meta(w, also, strlen(also), &m);
}

int
_kern_ct2_parse(kern_weights *w, const char *dir)
{
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/model.bin", dir) >= sizeof path)
    return _kern_weights_fail_code(w, KERN_E_IO, "the path is too long");
  int rc = parse_model_bin(w, path);
  if (rc)
    return rc;

  static const char *const configs[][2] = {
    { "config.json", "config" },
    { "preprocessor_config.json", "preprocessor_config" },
  };
  for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
    kern_json *j;
    if ((rc = load_json(w, dir, configs[i][0], &j)))
      return rc;
    if (!j)
      continue;
    const kern_json_value *root = kern_json_root(j);
    if (root->type != KERN_JSON_OBJECT)
      rc = _kern_weights_fail(w, "%s is not a JSON object", configs[i][0]);
    else
      rc = _kern_weights_add_json_meta(w, configs[i][1], root);
    kern_json_free(j);
    if (rc)
      return rc;
  }

  if ((rc = add_vocab(w, dir, "vocabulary", "tokenizer.tokens", NULL)) ||
      (rc = add_vocab(w, dir, "shared_vocabulary", "tokenizer.tokens", NULL)) ||
      (rc = add_vocab(w, dir, "source_vocabulary", "tokenizer.source_tokens", NULL)) ||
      (rc = add_vocab(w, dir, "target_vocabulary", "tokenizer.target_tokens", "tokenizer.tokens")))
    return rc;
  return 0;
}
