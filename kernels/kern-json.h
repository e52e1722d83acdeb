/* kern-json.h: a strict JSON (RFC 8259) parser for the JSON inside model files
 * and directories (safetensors headers, config.json, vocabularies).
 *
 * Input is untrusted: nesting is limited, numbers and strings are validated,
 * invalid UTF-8 and lone surrogates are errors. A parsed document owns all its
 * values; free it with kern_json_free. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KERN_JSON_MAX_DEPTH 64

typedef enum {
  KERN_JSON_NULL,
  KERN_JSON_BOOL,
  KERN_JSON_NUMBER,
  KERN_JSON_STRING,
  KERN_JSON_ARRAY,
  KERN_JSON_OBJECT,
} kern_json_type;

typedef struct kern_json_value kern_json_value;
struct kern_json_value {
  kern_json_type type;
  int boolean;                  /* BOOL */
  double number;                /* NUMBER */
  int is_int;                   /* NUMBER written without fraction/exponent and fits int64 */
  int64_t integer;              /* NUMBER when is_int */
  const char *str;              /* STRING: decoded, NUL-terminated UTF-8 (may contain no NUL) */
  size_t str_len;
  size_t n;                     /* ARRAY/OBJECT: number of elements/members */
  kern_json_value *items;       /* ARRAY: elements; OBJECT: member values, in document order */
  const char **keys;            /* OBJECT: member names (decoded), parallel to items */
};

typedef struct kern_json kern_json;

/* Parses text[0..len). On error returns NULL and writes "line L, column C: problem"
 * into err (when errsz > 0). Duplicate object keys are an error. */
kern_json *kern_json_parse(const char *text, size_t len, char *err, size_t errsz);
const kern_json_value *kern_json_root(const kern_json *j);
/* Member `key` of an object, or NULL (also when v is not an object). */
const kern_json_value *kern_json_get(const kern_json_value *v, const char *key);
void kern_json_free(kern_json *j);

/* The whole of the file at `path` (a tokenizer file, a config beside model
 * weights), NUL-terminated, malloc'd, its length in *size. NULL with *err
 * (malloc'd "PATH: problem", when err is not NULL) when it cannot be read or
 * is larger than max_bytes. */
char *kern_read_file(const char *path, size_t max_bytes, size_t *size, char **err);
/* The same file parsed as JSON; NULL with *err ("PATH: problem", or "PATH:
 * line L, column C: problem") as kern_read_file. */
kern_json *kern_json_parse_file(const char *path, size_t max_bytes, char **err);
