/* fuzz-common.h: what every weight-format fuzz target does with an input.
 *
 * The input goes into a file (a memfd, opened by its /proc/self/fd path), the
 * reader opens it, and everything it returns is walked: every metadata value
 * through every getter, every tensor's bytes summed. A reader that accepts a
 * file must have checked it, so any out-of-bounds read in the walk is a bug in
 * the reader. Consistency checks that fail call __builtin_trap() so libFuzzer
 * saves the input. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kern-type.h"
#include "kern-weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink;

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond))         \
      __builtin_trap();  \
  } while (0)

/* Writes data into a reusable memfd; returns its path (static storage). */
static __attribute__((unused)) const char *
fuzz_memfd_path(const uint8_t *data, size_t size)
{
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("hark-fuzz", 0);
    if (fd < 0) {
      perror("memfd_create");
      abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
    perror("memfd write");
    abort();
  }
  return path;
}

/* Writes data to dir/name (replacing it). */
static __attribute__((unused)) void
fuzz_write_file(const char *dir, const char *name, const void *data, size_t size)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(path); /* a new file: ext4 flushes a truncated one on close (auto_da_alloc) */
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

static void
fuzz_walk_meta(const kern_meta *m, int depth)
{
  int64_t i;
  double f;
  FUZZ_CHECK(depth < 100);
  fuzz_sink += (uint64_t)kern_meta_get_int(m, &i) + (uint64_t)kern_meta_get_float(m, &f);
  const char *s = kern_meta_get_string(m);
  if (s) {
    FUZZ_CHECK(strlen(s) == m->n);
    FUZZ_CHECK(kern_utf8_valid(s, m->n));
    fuzz_sink += m->n;
  }
  if (m->type != KERN_META_ARRAY)
    return;
  uint64_t n = m->n < 64 ? m->n + 1 : 64; /* one past the end too */
  for (uint64_t k = 0; k < n; k++) {
    fuzz_sink += (uint64_t)kern_meta_array_int(m, k, &i) + (uint64_t)kern_meta_array_float(m, k, &f);
    const char *item = kern_meta_array_string(m, k);
    if (item)
      fuzz_sink += strlen(item);
  }
  switch (m->elem_type) {
  case KERN_META_STRING: case KERN_META_ARRAY: case KERN_META_NULL:
    for (uint64_t k = 0; k < m->n; k++) {
      const kern_meta *it = kern_meta_array_item(m, k);
      FUZZ_CHECK(it != NULL);
      if (m->elem_type != KERN_META_NULL)
        FUZZ_CHECK(it->type == m->elem_type);
      fuzz_walk_meta(it, depth + 1);
    }
    break;
  default: {
    /* Numeric: n packed elements; touch every byte. */
    size_t esz = m->elem_type == KERN_META_U8 || m->elem_type == KERN_META_I8 || m->elem_type == KERN_META_BOOL ? 1
                 : m->elem_type == KERN_META_U16 || m->elem_type == KERN_META_I16                            ? 2
                 : m->elem_type == KERN_META_U32 || m->elem_type == KERN_META_I32 ||
                       m->elem_type == KERN_META_F32                                                         ? 4
                                                                                                              : 8;
    const uint8_t *p = m->v.raw;
    for (uint64_t k = 0; k < m->n * esz; k++)
      fuzz_sink += p[k];
  }
  }
}

/* Walks everything an opened (or viewed) file holds, and closes it. */
static __attribute__((unused)) void
fuzz_walk_weights(kern_weights *w)
{
  fuzz_sink += (uint64_t)kern_weights_format(w);
  fuzz_sink += strlen(kern_weights_format_name(kern_weights_format(w)));
  for (int64_t i = 0; i < kern_weights_n_meta(w); i++) {
    const char *key = NULL;
    const kern_meta *m = kern_weights_meta_at(w, i, &key);
    FUZZ_CHECK(m != NULL && key != NULL);
    FUZZ_CHECK(kern_weights_get_meta(w, key) == m);
    fuzz_walk_meta(m, 0);
  }
  FUZZ_CHECK(kern_weights_meta_at(w, kern_weights_n_meta(w), NULL) == NULL);
  for (int64_t i = 0; i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    FUZZ_CHECK(t != NULL && t->name != NULL);
    FUZZ_CHECK(kern_weights_find(w, t->name) == t);
    FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= KERN_MAX_DIMS);
    const kern_type_traits *tr = kern_type_get_traits(t->type);
    FUZZ_CHECK(tr != NULL);
    uint64_t rows = 1;
    for (int d = 0; d < KERN_MAX_DIMS; d++) {
      FUZZ_CHECK(t->ne[d] >= 1);
      if (d >= t->n_dims)
        FUZZ_CHECK(t->ne[d] == 1);
      if (d > 0)
        rows *= (uint64_t)t->ne[d];
    }
    FUZZ_CHECK(kern_tensor_nelements(t) >= 1);
    FUZZ_CHECK(kern_type_row_size(t->type, t->ne[0]) * rows == t->nbytes);
    const uint8_t *p = t->data;
    uint64_t sum = 0;
    for (size_t k = 0; k < t->nbytes; k++)
      sum += p[k];
    fuzz_sink += sum;
  }
  FUZZ_CHECK(kern_weights_tensor_at(w, kern_weights_n_tensors(w)) == NULL);
  kern_weights_close(w);
}

/* Opens path and walks everything; returns whether it opened. */
static __attribute__((unused)) int
fuzz_open_and_walk(const char *path)
{
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w) {
    FUZZ_CHECK(err != NULL);
    free(err);
    return 0;
  }
  FUZZ_CHECK(err == NULL);
  fuzz_walk_weights(w);
  return 1;
}

/* A scratch directory for directory formats, removed at exit. */
static char fuzz_dir[64];

static __attribute__((unused)) void
fuzz_remove_dir(void)
{
  static const char *const names[] = { "config.json", "vocabulary.json", "model.bin", "model.safetensors",
                                       "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                       "model-00002-of-00002.safetensors", "tokenizer.model",
                                       "tokenizer_config.json" };
  char path[4096];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, names[i]);
    unlink(path);
  }
  rmdir(fuzz_dir);
}

static __attribute__((unused)) const char *
fuzz_scratch_dir(void)
{
  if (!fuzz_dir[0]) {
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/hark-fuzz-XXXXXX");
    if (!mkdtemp(fuzz_dir)) {
      perror("mkdtemp");
      abort();
    }
    atexit(fuzz_remove_dir);
  }
  return fuzz_dir;
}
