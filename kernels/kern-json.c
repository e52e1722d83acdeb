/* kern-json.c: a strict RFC 8259 JSON parser for untrusted model files.
 *
 * One recursive-descent pass over the text. All values, strings and member
 * arrays live in an arena owned by the document, so kern_json_free is one
 * walk over a block list. While a container is open its children collect on
 * scratch stacks; when it closes they are copied into the arena, so the
 * parser needs no count up front and never trusts one.
 *
 * Choices where RFC 8259 leaves room: a leading UTF-8 BOM is ignored (8.1);
 * nesting deeper than KERN_JSON_MAX_DEPTH, numbers whose magnitude overflows
 * a double, "\u0000" (strings are handed out NUL-terminated and must contain
 * no NUL) and duplicate member names are errors.
 */
#include "kern-json.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena --------------------------------------------------------------- */

typedef struct arena_block arena_block;
struct arena_block {
  arena_block *next;
  size_t cap, used;
  _Alignas(16) unsigned char data[];
};

struct kern_json {
  arena_block *blocks;
  kern_json_value root;
};

#define ARENA_BLOCK (64u << 10)

static void *
arena_alloc(kern_json *j, size_t size)
{
  size = (size + 15) & ~(size_t)15;
  arena_block *b = j->blocks;
  if (!b || b->cap - b->used < size) {
    size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
    if (cap > SIZE_MAX - sizeof *b)
      return NULL;
    b = malloc(sizeof *b + cap);
    if (!b)
      return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = j->blocks;
    j->blocks = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  return p;
}

/* ---- parser state --------------------------------------------------------- */

typedef struct {
  const char *start, *p, *end;
  kern_json *doc;
  char *err;
  size_t errsz;
  int failed;

  /* Scratch stacks for the children of open containers. */
  kern_json_value *vals;
  size_t n_vals, cap_vals;
  const char **keys;
  size_t *key_pos; /* offset of each key in the text, for duplicate errors */
  size_t n_keys, cap_keys;
} parser;

static int __attribute__((format(printf, 3, 4)))
fail_at(parser *ps, const char *at, const char *fmt, ...)
{
  if (ps->failed)
    return -1;
  ps->failed = 1;
  if (!ps->err || ps->errsz == 0)
    return -1;
  size_t line = 1, col = 1;
  for (const char *q = ps->start; q < at && q < ps->end; q++) {
    if (*q == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  int n = snprintf(ps->err, ps->errsz, "line %zu, column %zu: ", line, col);
  if (n >= 0 && (size_t)n < ps->errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errsz - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int
nomem(parser *ps)
{
  return fail_at(ps, ps->p, "out of memory");
}

static void
skip_ws(parser *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

/* Describes the byte at p for messages: "'x'", "byte 0xNN" or "the end of the text". */
static const char *
describe(const parser *ps, const char *p, char *buf, size_t n)
{
  if (p >= ps->end)
    return "the end of the text";
  unsigned char c = (unsigned char)*p;
  if (c >= 0x20 && c < 0x7f)
    snprintf(buf, n, "'%c'", c);
  else
    snprintf(buf, n, "byte 0x%02x", c);
  return buf;
}

static int
unexpected(parser *ps, const char *expected)
{
  char b[16];
  return fail_at(ps, ps->p, "expected %s, found %s", expected, describe(ps, ps->p, b, sizeof b));
}

/* Length (2..4) of a valid multi-byte UTF-8 sequence at p, or 0. */
static int
utf8_seq(const unsigned char *p, const unsigned char *end)
{
  unsigned c = p[0], cp, min;
  int n;
  if ((c & 0xe0) == 0xc0)
    n = 2, cp = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0)
    n = 3, cp = c & 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0)
    n = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (end - p < n)
    return 0;
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static int
hex4(const char *p, const char *end, unsigned *out)
{
  if (end - p < 4)
    return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t
put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* ---- strings ------------------------------------------------------------- */

/* Parses a string at ps->p (which is '"'). The decoded text never needs more
 * bytes than the escaped text, so one arena block of the raw length holds it. */
static int
parse_string(parser *ps, const char **out, size_t *out_len)
{
  const char *q = ps->p + 1;
  while (q < ps->end && *q != '"')
    q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
  if (q >= ps->end)
    return fail_at(ps, ps->p, "unterminated string");
  size_t raw = (size_t)(q - ps->p - 1);
  char *buf = arena_alloc(ps->doc, raw + 1);
  if (!buf)
    return nomem(ps);
  char *o = buf;
  const char *p = ps->p + 1;
  while (p < q) {
    unsigned char c = (unsigned char)*p;
    if (c == '\\') {
      const char *esc = p;
      char e = p[1];
      p += 2;
      switch (e) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned cp, lo;
        if (hex4(p, q, &cp) != 0)
          return fail_at(ps, esc, "\\u must be followed by four hex digits");
        p += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff)
          return fail_at(ps, esc, "lone low surrogate \\u%04X", cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, q, &lo) != 0 || lo < 0xdc00 ||
              lo > 0xdfff)
            return fail_at(ps, esc, "high surrogate \\u%04X is not followed by a low surrogate", cp);
          p += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0)
          return fail_at(ps, esc, "\\u0000 is not allowed (strings must not contain NUL)");
        o += put_utf8(o, cp);
        break;
      }
      default: {
        char b[16];
        return fail_at(ps, esc, "invalid escape \\%s", describe(ps, esc + 1, b, sizeof b));
      }
      }
    } else if (c < 0x20) {
      return fail_at(ps, p, "control character 0x%02x in a string must be escaped", c);
    } else if (c < 0x80) {
      *o++ = (char)c;
      p++;
    } else {
      int n = utf8_seq((const unsigned char *)p, (const unsigned char *)q);
      if (!n)
        return fail_at(ps, p, "invalid UTF-8 in a string");
      memcpy(o, p, (size_t)n);
      o += n;
      p += n;
    }
  }
  *o = '\0';
  *out = buf;
  *out_len = (size_t)(o - buf);
  ps->p = q + 1;
  return 0;
}

/* ---- numbers ------------------------------------------------------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void
make_c_locale(void)
{
  c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static int
is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static int
parse_number(parser *ps, kern_json_value *v)
{
  const char *s = ps->p, *p = s;
  int neg = 0, integral = 1;
  if (p < ps->end && *p == '-') {
    neg = 1;
    p++;
  }
  if (p >= ps->end || !is_digit(*p)) {
    ps->p = p;
    return unexpected(ps, "a digit");
  }
  const char *int_start = p;
  if (*p == '0') {
    p++;
    if (p < ps->end && is_digit(*p))
      return fail_at(ps, s, "numbers must not have leading zeros");
  } else {
    while (p < ps->end && is_digit(*p))
      p++;
  }
  const char *int_end = p;
  if (p < ps->end && *p == '.') {
    integral = 0;
    p++;
    if (p >= ps->end || !is_digit(*p)) {
      ps->p = p;
      return unexpected(ps, "a digit after the decimal point");
    }
    while (p < ps->end && is_digit(*p))
      p++;
  }
  if (p < ps->end && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < ps->end && (*p == '+' || *p == '-'))
      p++;
    if (p >= ps->end || !is_digit(*p)) {
      ps->p = p;
      return unexpected(ps, "a digit in the exponent");
    }
    while (p < ps->end && is_digit(*p))
      p++;
  }

  v->type = KERN_JSON_NUMBER;
  v->is_int = 0;
  if (integral) {
    /* Accumulate as a negative number so INT64_MIN fits. */
    int64_t acc = 0;
    int fits = 1;
    for (const char *d = int_start; d < int_end && fits; d++) {
      int digit = *d - '0';
      if (acc < (INT64_MIN + digit) / 10)
        fits = 0;
      else
        acc = acc * 10 - digit;
    }
    if (fits && !neg && acc == INT64_MIN)
      fits = 0;
    if (fits) {
      v->is_int = 1;
      v->integer = neg ? acc : -acc;
    }
  }

  ps->p = p;
  if (v->is_int) { /* int64 -> double rounds exactly as strtod would */
    v->number = neg && v->integer == 0 ? -0.0 : (double)v->integer;
    return 0;
  }

  /* strtod with the C locale: the process locale may use a decimal comma.
   * The text is not NUL-terminated, so copy it (numbers are short; long ones
   * are rare and go to the heap). */
  size_t len = (size_t)(p - s);
  char small[64], *buf = small;
  if (len >= sizeof small && !(buf = malloc(len + 1)))
    return nomem(ps);
  memcpy(buf, s, len);
  buf[len] = '\0';
  pthread_once(&c_locale_once, make_c_locale);
  double d = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
  if (buf != small)
    free(buf);
  if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
    ps->p = s;
    return fail_at(ps, s, "number out of range");
  }
  v->number = d;
  return 0;
}

/* ---- values -------------------------------------------------------------- */

static int parse_value(parser *ps, kern_json_value *v, int depth);

static int
push_val(parser *ps, const kern_json_value *v)
{
  if (ps->n_vals == ps->cap_vals) {
    size_t n = ps->cap_vals ? ps->cap_vals * 2 : 64;
    kern_json_value *nv = realloc(ps->vals, n * sizeof *nv);
    if (!nv)
      return nomem(ps);
    ps->vals = nv;
    ps->cap_vals = n;
  }
  ps->vals[ps->n_vals++] = *v;
  return 0;
}

static int
push_key(parser *ps, const char *key, size_t pos)
{
  if (ps->n_keys == ps->cap_keys) {
    size_t n = ps->cap_keys ? ps->cap_keys * 2 : 64;
    const char **nk = realloc(ps->keys, n * sizeof *nk);
    if (!nk)
      return nomem(ps);
    ps->keys = nk;
    size_t *np = realloc(ps->key_pos, n * sizeof *np);
    if (!np)
      return nomem(ps);
    ps->key_pos = np;
    ps->cap_keys = n;
  }
  ps->keys[ps->n_keys] = key;
  ps->key_pos[ps->n_keys] = pos;
  ps->n_keys++;
  return 0;
}

/* Moves the last n scratch values into the arena as v->items. */
static int
pop_items(parser *ps, kern_json_value *v, size_t n)
{
  v->n = n;
  v->items = NULL;
  if (n == 0)
    return 0;
  if (n > SIZE_MAX / sizeof *v->items || !(v->items = arena_alloc(ps->doc, n * sizeof *v->items)))
    return nomem(ps);
  memcpy(v->items, ps->vals + ps->n_vals - n, n * sizeof *v->items);
  ps->n_vals -= n;
  return 0;
}

static uint64_t
hash_key(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Checks keys[0..n) for duplicates: pairwise when few, with a hash set when many. */
static int
check_duplicates(parser *ps, const char **keys, const size_t *pos, size_t n)
{
  if (n <= 16) {
    for (size_t i = 1; i < n; i++)
      for (size_t k = 0; k < i; k++)
        if (strcmp(keys[i], keys[k]) == 0)
          return fail_at(ps, ps->start + pos[i], "duplicate member name \"%.64s\"", keys[i]);
    return 0;
  }
  size_t cap = 32;
  while (cap < n * 2)
    cap *= 2;
  size_t *set = malloc(cap * sizeof *set);
  if (!set)
    return nomem(ps);
  memset(set, 0xff, cap * sizeof *set);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    size_t h = (size_t)hash_key(keys[i]) & (cap - 1);
    for (; set[h] != SIZE_MAX; h = (h + 1) & (cap - 1)) {
      if (strcmp(keys[set[h]], keys[i]) == 0) {
        rc = fail_at(ps, ps->start + pos[i], "duplicate member name \"%.64s\"", keys[i]);
        break;
      }
    }
    set[h] = i;
  }
  free(set);
  return rc;
}

static int
parse_array(parser *ps, kern_json_value *v, int depth)
{
  ps->p++; /* '[' */
  v->type = KERN_JSON_ARRAY;
  size_t n = 0;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    return pop_items(ps, v, 0);
  }
  for (;;) {
    kern_json_value item;
    skip_ws(ps);
    if (parse_value(ps, &item, depth + 1) || push_val(ps, &item))
      return -1;
    n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') {
      ps->p++;
      return pop_items(ps, v, n);
    }
    return unexpected(ps, "',' or ']' in an array");
  }
}

static int
parse_object(parser *ps, kern_json_value *v, int depth)
{
  ps->p++; /* '{' */
  v->type = KERN_JSON_OBJECT;
  size_t n = 0;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    v->keys = NULL;
    return pop_items(ps, v, 0);
  }
  for (;;) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
      return unexpected(ps, "a member name in double quotes");
    const char *key;
    size_t key_len, pos = (size_t)(ps->p - ps->start);
    if (parse_string(ps, &key, &key_len) || push_key(ps, key, pos))
      return -1;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
      return unexpected(ps, "':' after a member name");
    ps->p++;
    skip_ws(ps);
    kern_json_value item;
    if (parse_value(ps, &item, depth + 1) || push_val(ps, &item))
      return -1;
    n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      break;
    }
    return unexpected(ps, "',' or '}' in an object");
  }
  const char **keys = ps->keys + ps->n_keys - n;
  if (check_duplicates(ps, keys, ps->key_pos + ps->n_keys - n, n))
    return -1;
  if (!(v->keys = arena_alloc(ps->doc, n * sizeof *v->keys)))
    return nomem(ps);
  memcpy(v->keys, keys, n * sizeof *v->keys);
  ps->n_keys -= n;
  return pop_items(ps, v, n);
}

static int
match_word(parser *ps, const char *word)
{
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return fail_at(ps, ps->p, "invalid literal (expected %s)", word);
  ps->p += n;
  return 0;
}

static int
parse_value(parser *ps, kern_json_value *v, int depth)
{
  memset(v, 0, sizeof *v);
  if (ps->p >= ps->end)
    return unexpected(ps, "a value");
  switch (*ps->p) {
  case '{':
  case '[':
    if (depth >= KERN_JSON_MAX_DEPTH)
      return fail_at(ps, ps->p, "nesting deeper than %d levels", KERN_JSON_MAX_DEPTH);
    return *ps->p == '{' ? parse_object(ps, v, depth) : parse_array(ps, v, depth);
  case '"':
    v->type = KERN_JSON_STRING;
    return parse_string(ps, &v->str, &v->str_len);
  case 't':
    v->type = KERN_JSON_BOOL;
    v->boolean = 1;
    return match_word(ps, "true");
  case 'f':
    v->type = KERN_JSON_BOOL;
    return match_word(ps, "false");
  case 'n':
    v->type = KERN_JSON_NULL;
    return match_word(ps, "null");
  default:
    if (*ps->p == '-' || is_digit(*ps->p))
      return parse_number(ps, v);
    return unexpected(ps, "a value");
  }
}

/* ---- public API ---------------------------------------------------------- */

kern_json *
kern_json_parse(const char *text, size_t len, char *err, size_t errsz)
{
  if (err && errsz)
    err[0] = '\0';
  kern_json *doc = calloc(1, sizeof *doc);
  parser ps = { .start = text, .p = text, .end = text + len, .doc = doc, .err = err, .errsz = errsz };
  if (!doc) {
    fail_at(&ps, text, "out of memory");
    return NULL;
  }
  if (!text)
    ps.start = ps.p = ps.end = "";
  if (ps.end - ps.p >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
    ps.p += 3;
  skip_ws(&ps);
  int rc = parse_value(&ps, &doc->root, 0);
  if (rc == 0) {
    skip_ws(&ps);
    if (ps.p < ps.end)
      rc = unexpected(&ps, "the end of the text after the value");
  }
  free(ps.vals);
  free(ps.keys);
  free(ps.key_pos);
  if (rc != 0) {
    kern_json_free(doc);
    return NULL;
  }
  return doc;
}

const kern_json_value *
kern_json_root(const kern_json *j)
{
  return j ? &j->root : NULL;
}

const kern_json_value *
kern_json_get(const kern_json_value *v, const char *key)
{
  if (!v || v->type != KERN_JSON_OBJECT || !key)
    return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->keys[i], key) == 0)
      return &v->items[i];
  return NULL;
}

void
kern_json_free(kern_json *j)
{
  if (!j)
    return;
  for (arena_block *b = j->blocks, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(j);
}

char *
kern_read_file(const char *path, size_t max_bytes, size_t *size, char **err)
{
  char msg[512] = "";
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  size_t n = 0, cap = 0;
  if (!f)
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
  while (f && !msg[0]) {
    if (n == cap) {
      if (cap >= max_bytes) {
        snprintf(msg, sizeof msg, "%s: larger than %zu bytes", path, max_bytes);
        break;
      }
      cap = cap ? cap * 2 : 1 << 16;
      if (cap > max_bytes)
        cap = max_bytes;
      char *p = realloc(data, cap + 1);
      if (!p) {
        snprintf(msg, sizeof msg, "%s: out of memory", path);
        break;
      }
      data = p;
    }
    size_t got = fread(data + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f))
        snprintf(msg, sizeof msg, "%s: read error", path);
      break;
    }
  }
  if (f)
    fclose(f);
  if (msg[0]) {
    free(data);
    if (err)
      *err = strdup(msg);
    return NULL;
  }
  if (!data && !(data = malloc(1))) {
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  data[n] = '\0';
  *size = n;
  return data;
}

kern_json *
kern_json_parse_file(const char *path, size_t max_bytes, char **err)
{
  size_t n;
  char *text = kern_read_file(path, max_bytes, &n, err);
  if (!text)
    return NULL;
  char msg[256];
  kern_json *j = kern_json_parse(text, n, msg, sizeof msg);
  free(text);
  if (!j && err) {
    size_t len = strlen(path) + strlen(msg) + 3;
    if ((*err = malloc(len)))
      snprintf(*err, len, "%s: %s", path, msg);
  }
  return j;
}
