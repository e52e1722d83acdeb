/* kern-weights.h: one reader over the weight files users have.
 *
 * Formats: GGUF (v2, v3), safetensors (a file, or a Hugging Face directory with
 * config.json and an optional sharded index), whisper.cpp's ggml .bin, and
 * CTranslate2 model directories (faster-whisper). The API is the same for all:
 * open -> metadata by key -> tensor by name -> close.
 *
 * Files are mapped read-only; tensor data points into the mapping (zero copy)
 * except where a format needs converting. Every offset, size and count read
 * from a file is checked against the file before use: a malformed file gives
 * NULL and a message naming the file and the problem, never a crash or a read
 * out of bounds. A kern_weights may be read from several threads at once;
 * open and close are not thread-safe with respect to the same object.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KERN_MAX_DIMS 4

typedef enum {
  KERN_FORMAT_GGUF,
  KERN_FORMAT_SAFETENSORS,
  KERN_FORMAT_WHISPER_GGML,
  KERN_FORMAT_CT2,
} kern_format;

/* Metadata value types; the numbers are GGUF's. */
typedef enum {
  KERN_META_U8 = 0,
  KERN_META_I8 = 1,
  KERN_META_U16 = 2,
  KERN_META_I16 = 3,
  KERN_META_U32 = 4,
  KERN_META_I32 = 5,
  KERN_META_F32 = 6,
  KERN_META_BOOL = 7,
  KERN_META_STRING = 8,
  KERN_META_ARRAY = 9,
  KERN_META_U64 = 10,
  KERN_META_I64 = 11,
  KERN_META_F64 = 12,
  KERN_META_NULL = 13, /* JSON null (from config.json); never in GGUF */
} kern_meta_type;

typedef struct kern_meta kern_meta;
struct kern_meta {
  kern_meta_type type;
  kern_meta_type elem_type; /* arrays: the element type; KERN_META_NULL for a JSON array of mixed
                               values (read them with kern_meta_array_item) */
  uint64_t n;               /* strings: bytes (without the NUL); arrays: elements */
  union {
    uint64_t u64;           /* unsigned integers */
    int64_t i64;            /* signed integers and bool (0/1) */
    double f64;             /* F32 and F64 */
    const char *str;        /* NUL-terminated, valid UTF-8 */
    const void *raw;        /* arrays of numbers: n packed little-endian elements, maybe unaligned */
    const kern_meta *items; /* arrays of strings or arrays: n values */
  } v;
};

/* A tensor as stored. `data` may be unaligned (CTranslate2 and whisper.cpp
 * files have no padding): read it with memcpy or through kern_dequantize_row.
 * CTranslate2 aliases appear as extra tensors sharing their target's data. */
typedef struct {
  const char *name;
  int type;                      /* kern_type */
  int n_dims;                    /* 1 .. KERN_MAX_DIMS */
  int64_t ne[KERN_MAX_DIMS];     /* ne[0] varies fastest (row length); unused dims are 1 */
  const void *data;
  size_t nbytes;
} kern_tensor_info;

typedef struct kern_weights kern_weights;

/* Opens a weight file or model directory. On failure returns NULL and, when
 * err is not NULL, sets *err to a malloc'd message "PATH: problem" (free it). */
kern_weights *kern_weights_open(const char *path, char **err);
void kern_weights_close(kern_weights *w);

kern_format kern_weights_format(const kern_weights *w);
const char *kern_weights_format_name(kern_format f); /* "GGUF", "safetensors", ... */
const char *kern_weights_path(const kern_weights *w);

/* Metadata. Keys are the format's own: GGUF keys as stored ("general.architecture");
 * config.json entries as "config.KEY" (nested objects "config.a.b"); safetensors
 * header metadata as "safetensors.KEY"; whisper.cpp hparams as "whisper.n_vocab"
 * etc.; tokenizer vocabularies as "tokenizer.tokens" where the format has one. */
const kern_meta *kern_weights_get_meta(const kern_weights *w, const char *key);
int64_t kern_weights_n_meta(const kern_weights *w);
const kern_meta *kern_weights_meta_at(const kern_weights *w, int64_t i, const char **key);

/* Typed getters: 0 on success; KERN_E_INVAL when the key is absent or the value
 * does not fit the requested type (a string asked as int, a negative as unsigned). */
int kern_meta_get_int(const kern_meta *m, int64_t *out);     /* any integer or bool */
int kern_meta_get_float(const kern_meta *m, double *out);    /* floats and integers */
const char *kern_meta_get_string(const kern_meta *m);        /* NULL unless a string */
int kern_meta_array_int(const kern_meta *m, uint64_t i, int64_t *out);
int kern_meta_array_float(const kern_meta *m, uint64_t i, double *out);
const char *kern_meta_array_string(const kern_meta *m, uint64_t i); /* NULL unless an array of strings */
const kern_meta *kern_meta_array_item(const kern_meta *m, uint64_t i); /* arrays of strings/arrays */

/* Conveniences over kern_weights_get_meta; return `fallback` when absent or mistyped. */
int64_t kern_weights_get_int(const kern_weights *w, const char *key, int64_t fallback);
double kern_weights_get_float(const kern_weights *w, const char *key, double fallback);
const char *kern_weights_get_string(const kern_weights *w, const char *key, const char *fallback);

/* Tensors, in file order. */
int64_t kern_weights_n_tensors(const kern_weights *w);
const kern_tensor_info *kern_weights_tensor_at(const kern_weights *w, int64_t i);
const kern_tensor_info *kern_weights_find(const kern_weights *w, const char *name);

/* Elements in a tensor (product of ne). */
int64_t kern_tensor_nelements(const kern_tensor_info *t);

/* Whether t has the shape a model's hyperparameters give it: a matrix
 * [n0, n1] (n1 > 0), or, with n1 == 0, a vector of n0 values whatever its
 * dimensions. 0, or KERN_E_FORMAT with "tensor 'NAME' has shape [...], the
 * hyperparameters say [...]" (or "... has N values, ...") in msg. */
int kern_tensor_check_shape(const kern_tensor_info *t, int64_t n0, int64_t n1, char *msg, size_t msgsz);

/* UTF-8 validation (no overlongs, no surrogates, nothing past U+10FFFF). */
int kern_utf8_valid(const char *s, size_t len);

/* --- Views: weights assembled in memory. ------------------------------------
 * A model read in one layout and shown in another (a Hugging Face directory
 * as the GGUF its converter would write): the caller adds metadata and
 * tensors whose data points into adopted sources or into memory the view
 * owns, then reads the view like any opened file. Names and shapes get the
 * same checks as a parsed file's. Functions return 0 or a kern_status; the
 * first failure's message is kept (kern_weights_view_error). */

/* An empty view; `path` names it in messages and kern_weights_path. NULL when out of memory. */
kern_weights *kern_weights_view_new(const char *path, kern_format format);
/* The view closes `src` when it is closed (its tensors may point into it). */
int kern_weights_view_adopt(kern_weights *w, kern_weights *src);
/* Zeroed memory that lives as long as the view; NULL when out of memory. */
void *kern_weights_view_alloc(kern_weights *w, size_t size);
/* A copy of a UTF-8 string owned by the view; NULL if invalid or out of memory. */
char *kern_weights_view_strdup(kern_weights *w, const char *s);
/* Adds `value` as is: its strings and items must live in the view or its sources. */
int kern_weights_view_add_meta(kern_weights *w, const char *key, const kern_meta *value);
/* Adds a tensor over data[0..nbytes) (which must be the size the type and shape imply). */
int kern_weights_view_add_tensor(kern_weights *w, const char *name, int type, int n_dims, const int64_t *ne,
                                 const void *data, size_t nbytes);
/* The first failure's "PATH: problem", or NULL. */
const char *kern_weights_view_error(const kern_weights *w);

/* --- GGUF writer: makes test models and conversions. ---------------------- */

typedef struct kern_gguf_writer kern_gguf_writer;

kern_gguf_writer *kern_gguf_writer_new(void);
void kern_gguf_writer_free(kern_gguf_writer *g);
/* Metadata setters copy their arguments. Returns 0 or KERN_E_INVAL (duplicate key). */
int kern_gguf_set_u32(kern_gguf_writer *g, const char *key, uint32_t v);
int kern_gguf_set_i32(kern_gguf_writer *g, const char *key, int32_t v);
int kern_gguf_set_u64(kern_gguf_writer *g, const char *key, uint64_t v);
int kern_gguf_set_f32(kern_gguf_writer *g, const char *key, float v);
int kern_gguf_set_bool(kern_gguf_writer *g, const char *key, int v);
int kern_gguf_set_string(kern_gguf_writer *g, const char *key, const char *v);
/* Arrays of numbers: `type` is a KERN_META_ numeric type, `data` n packed values. */
int kern_gguf_set_array(kern_gguf_writer *g, const char *key, kern_meta_type type, const void *data, uint64_t n);
int kern_gguf_set_string_array(kern_gguf_writer *g, const char *key, const char *const *v, uint64_t n);
/* Copies any metadata value (nested arrays included), e.g. from another file. */
int kern_gguf_set_meta(kern_gguf_writer *g, const char *key, const kern_meta *m);
/* Adds a tensor; `data` (kern_type_row_size(type, ne[0]) * rows bytes) is copied. */
int kern_gguf_add_tensor(kern_gguf_writer *g, const char *name, int type, int n_dims, const int64_t *ne,
                         const void *data);
/* Adds the tensor `t` (any readable type) converted to `type` row by row
 * (F16 where its rows do not divide into `type`'s blocks). KERN_E_FORMAT when
 * t's data cannot be read as numbers, KERN_E_UNSUPPORTED when `type` cannot be
 * written (integers, Q8_K). */
int kern_gguf_add_converted(kern_gguf_writer *g, const char *name, const kern_tensor_info *t, int type);
/* Writes a GGUF v3 file (alignment 32 unless general.alignment is set). On
 * failure returns a negative code and sets *err (malloc'd) when err is not NULL. */
int kern_gguf_write(kern_gguf_writer *g, const char *path, char **err);
