/* llm-tokenizer-golden.h: checks an llm_tokenizer against a golden file of
 * tests/reference/make-llm-tokenizer-golden.py (llama.cpp's ids and pieces).
 * Shared by test-llm-tokenizer.c (committed vocabularies) and
 * test-llm-tokenizer-models.c (real models). Static functions only. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm-tokenizer.h"

static GByteArray *
golden_unhex(const char *s)
{
  GByteArray *b = g_byte_array_new();
  if (strcmp(s, "-") == 0)
    return b;
  size_t n = strlen(s);
  g_assert_true(n % 2 == 0);
  for (size_t i = 0; i < n; i += 2) {
    int hi = g_ascii_xdigit_value(s[i]), lo = g_ascii_xdigit_value(s[i + 1]);
    g_assert_true(hi >= 0 && lo >= 0);
    guint8 v = (guint8)(hi * 16 + lo);
    g_byte_array_append(b, &v, 1);
  }
  return b;
}

static char *
golden_ids_str(const int32_t *v, size_t n)
{
  GString *s = g_string_new(NULL);
  for (size_t i = 0; i < n; i++)
    g_string_append_printf(s, "%s%d", i ? "," : "", v[i]);
  return g_string_free(s, FALSE);
}

/* Compares every case; returns the number of cases that differ and fills the
 * id totals (ids equal position by position, ids in the golden file). */
static int
golden_check(const llm_tokenizer *t, const char *golden_path, size_t *ids_equal, size_t *ids_total)
{
  char *data = NULL;
  GError *error = NULL;
  if (!g_file_get_contents(golden_path, &data, NULL, &error))
    g_error("%s", error->message);
  char **lines = g_strsplit(data, "\n", -1);
  g_free(data);
  g_assert_cmpstr(lines[0], ==, "HARK-LLM-TOKENIZER-GOLDEN 2");
  /* special ids and the end-of-generation set */
  int bos, eos, add_bos;
  g_assert_cmpint(sscanf(lines[3], "bos %d eos %d add_bos %d", &bos, &eos, &add_bos), ==, 3);
  g_assert_cmpint(llm_tokenizer_bos(t), ==, bos);
  g_assert_cmpint(llm_tokenizer_eos(t), ==, eos);
  g_assert_cmpint(llm_tokenizer_add_bos(t), ==, add_bos);
  g_assert_true(g_str_has_prefix(lines[4], "eog "));
  char **eog = g_strsplit(lines[4] + 4, ",", -1);
  int n_eog = 0;
  for (int32_t id = 0; id < llm_tokenizer_n_vocab(t); id++) {
    int want = eog[n_eog] && atoi(eog[n_eog]) == id;
    n_eog += want;
    if (llm_tokenizer_is_eog(t, id) != want)
      g_error("%s: token %d is%s end of generation for llama.cpp", golden_path, id, want ? "" : " not");
  }
  g_assert_null(eog[n_eog]);
  g_strfreev(eog);
  g_assert_true(g_str_has_prefix(lines[5], "cases "));
  int n_cases = atoi(lines[5] + 6);
  g_assert_cmpint(n_cases, >, 0);
  int bad = 0, seen = 0;
  *ids_equal = *ids_total = 0;
  for (int li = 6; lines[li] && lines[li][0]; li++) {
    char **f = g_strsplit(lines[li], " ", -1);
    g_assert_cmpuint(g_strv_length(f), ==, 6);
    int add_special = atoi(f[0]), parse_special = atoi(f[1]);
    GByteArray *text = golden_unhex(f[2]);
    GByteArray *pieces_ref = golden_unhex(f[4]), *plain_ref = golden_unhex(f[5]);
    const char *ids_ref = strcmp(f[3], "-") == 0 ? "" : f[3];
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    g_assert_cmpint(llm_tokenizer_encode(t, (const char *)text->data, text->len, add_special, parse_special, &ids,
                                         &n, &cap),
                    ==, 0);
    char *got = golden_ids_str(ids, n);
    char **ref = g_strsplit(ids_ref, ",", -1);
    size_t n_ref = ids_ref[0] ? g_strv_length(ref) : 0;
    *ids_total += n_ref;
    for (size_t i = 0; i < n_ref && i < n; i++)
      *ids_equal += ids[i] == (int32_t)atoi(ref[i]);
    /* pieces, as token_to_piece(special = 1), then (special = 0), joined */
    GByteArray *pieces = g_byte_array_new(), *plain = g_byte_array_new();
    for (size_t i = 0; i < n; i++) {
      char buf[512];
      size_t pl = llm_tokenizer_piece(t, ids[i], 1, buf, sizeof buf);
      g_assert_cmpuint(pl, <=, sizeof buf);
      g_byte_array_append(pieces, (const guint8 *)buf, (guint)pl);
      pl = llm_tokenizer_piece(t, ids[i], 0, buf, sizeof buf);
      g_assert_cmpuint(pl, <=, sizeof buf);
      g_byte_array_append(plain, (const guint8 *)buf, (guint)pl);
    }
    int ids_ok = strcmp(got, ids_ref) == 0;
    int pieces_ok = pieces->len == pieces_ref->len && memcmp(pieces->data, pieces_ref->data, pieces->len) == 0 &&
                    plain->len == plain_ref->len && memcmp(plain->data, plain_ref->data, plain->len) == 0;
    if (!ids_ok || !pieces_ok) {
      /* show the neighbourhood of the first difference */
      size_t d = 0;
      while (d < n && d < n_ref && ids[d] == (int32_t)atoi(ref[d]))
        d++;
      size_t from = d > 4 ? d - 4 : 0;
      GString *a = g_string_new(NULL), *b = g_string_new(NULL);
      for (size_t i = from; i < d + 8 && i < n; i++)
        g_string_append_printf(a, "%d ", ids[i]);
      for (size_t i = from; i < d + 8 && i < n_ref; i++)
        g_string_append_printf(b, "%s ", ref[i]);
      char *shown = g_strndup((const char *)text->data, MIN(text->len, 80));
      g_test_message("case %d (add_special %d, parse_special %d) \"%s\": %zu ids, want %zu; from index %zu:\n"
                     "  ids   %s\n  want  %s%s",
                     seen, add_special, parse_special, shown, n, n_ref, from, a->str, b->str,
                     pieces_ok ? "" : "\n  (pieces differ)");
      g_string_free(a, TRUE);
      g_string_free(b, TRUE);
      g_free(shown);
      bad++;
    }
    g_byte_array_unref(pieces);
    g_byte_array_unref(plain);
    g_byte_array_unref(plain_ref);
    g_strfreev(ref);
    g_free(got);
    free(ids);
    g_byte_array_unref(text);
    g_byte_array_unref(pieces_ref);
    g_strfreev(f);
    seen++;
  }
  g_assert_cmpint(seen, ==, n_cases);
  g_strfreev(lines);
  return bad;
}
