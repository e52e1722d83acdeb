/* dictate-fixture.c: see dictate-fixture.h. */
#include "dictate-fixture.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "aud-decode.h"

static char *
transcript_of(const char *name)
{
  gzFile gz = gzopen(FIXTURE_TRANSCRIPTS, "rb");
  if (!gz)
    return NULL;
  char line[4096];
  size_t nl = strlen(name);
  char *out = NULL;
  while (!out && gzgets(gz, line, sizeof line)) {
    if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
      char *t = g_strstrip(g_strdup(line + nl + 1));
      out = t;
    }
  }
  gzclose(gz);
  return out;
}

int
fixture_build(fixture *f, const char *const *names, int n, int rate, double lead_s, double gap_s, const char **why)
{
  memset(f, 0, sizeof *f);
  if (n > FIXTURE_MAX_PROMPTS) {
    *why = "too many prompts";
    return -1;
  }
  if (!g_file_test(FIXTURE_SOUNDS, G_FILE_TEST_IS_DIR)) {
    *why = "asterisk-core-sounds-en-wav is not installed";
    return -1;
  }
  if (!g_file_test(FIXTURE_TRANSCRIPTS, G_FILE_TEST_EXISTS)) {
    *why = "asterisk-core-sounds-en (the transcripts) is not installed";
    return -1;
  }
  f->rate = rate;
  size_t lead = (size_t)llround(lead_s * rate), gap = (size_t)llround(gap_s * rate);
  GArray *all = g_array_new(FALSE, TRUE, sizeof(float));
  g_array_set_size(all, lead);
  GString *ref = g_string_new("");
  for (int i = 0; i < n; i++) {
    char *path = g_strdup_printf("%s/%s.wav", FIXTURE_SOUNDS, names[i]);
    size_t ns = 0;
    char *err = NULL;
    float *x = aud_decode_file(path, rate, &ns, &err);
    g_free(path);
    free(err);
    char *text = transcript_of(names[i]);
    if (!x || !text) {
      free(x);
      g_free(text);
      g_array_free(all, TRUE);
      g_string_free(ref, TRUE);
      fixture_clear(f);
      *why = "an asterisk prompt or its transcript is missing";
      return -1;
    }
    fixture_prompt *p = &f->prompts[f->n_prompts++];
    snprintf(p->name, sizeof p->name, "%s", names[i]);
    p->text = text;
    p->start = (double)all->len / rate;
    g_array_append_vals(all, x, (guint)ns);
    p->end = (double)all->len / rate;
    g_array_set_size(all, all->len + (guint)gap);
    free(x);
    if (ref->len)
      g_string_append_c(ref, ' ');
    g_string_append(ref, text);
  }
  f->n = all->len;
  f->samples = (float *)g_array_free(all, FALSE);
  f->reference = g_string_free(ref, FALSE);
  return 0;
}

void
fixture_clear(fixture *f)
{
  g_free(f->samples);
  for (int i = 0; i < f->n_prompts; i++)
    g_free(f->prompts[i].text);
  g_free(f->reference);
  memset(f, 0, sizeof *f);
}

static void
put_le(FILE *fp, unsigned v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    fputc((int)((v >> (8 * i)) & 0xff), fp);
}

int
fixture_write_wav(const fixture *f, const char *path)
{
  FILE *fp = fopen(path, "wb");
  if (!fp)
    return -1;
  unsigned data = (unsigned)f->n * 2;
  fputs("RIFF", fp);
  put_le(fp, 36 + data, 4);
  fputs("WAVEfmt ", fp);
  put_le(fp, 16, 4);
  put_le(fp, 1, 2);
  put_le(fp, 1, 2);
  put_le(fp, (unsigned)f->rate, 4);
  put_le(fp, (unsigned)f->rate * 2, 4);
  put_le(fp, 2, 2);
  put_le(fp, 16, 2);
  fputs("data", fp);
  put_le(fp, data, 4);
  for (size_t i = 0; i < f->n; i++) {
    float v = f->samples[i] * 32768.0f;
    int s = (int)lrintf(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    put_le(fp, (unsigned)(s & 0xffff), 2);
  }
  return fclose(fp) == 0 ? 0 : -1;
}

char *
fixture_normalize(const char *s)
{
  GString *o = g_string_new("");
  int space = 1;
  for (const char *p = s; *p; p++) {
    char c = g_ascii_tolower(*p);
    if (g_ascii_isalnum(c)) {
      g_string_append_c(o, c);
      space = 0;
    } else if (c != '\'' && !space) {
      g_string_append_c(o, ' ');
      space = 1;
    }
  }
  if (o->len && o->str[o->len - 1] == ' ')
    g_string_truncate(o, o->len - 1);
  return g_string_free(o, FALSE);
}

double
fixture_wer(const char *ref, const char *hyp)
{
  char *r = fixture_normalize(ref), *h = fixture_normalize(hyp);
  char **rw = g_strsplit(r, " ", -1), **hw = g_strsplit(h, " ", -1);
  int nr = r[0] ? (int)g_strv_length(rw) : 0, nh = h[0] ? (int)g_strv_length(hw) : 0;
  int *prev = g_new(int, nh + 1), *cur = g_new(int, nh + 1);
  for (int j = 0; j <= nh; j++)
    prev[j] = j;
  for (int i = 1; i <= nr; i++) {
    cur[0] = i;
    for (int j = 1; j <= nh; j++) {
      int sub = prev[j - 1] + (strcmp(rw[i - 1], hw[j - 1]) != 0);
      int del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    int *t = prev;
    prev = cur, cur = t;
  }
  double wer = nr ? 100.0 * prev[nh] / nr : (nh ? 100.0 : 0.0);
  g_free(prev), g_free(cur);
  g_strfreev(rw), g_strfreev(hw);
  g_free(r), g_free(h);
  return wer;
}

char *
fixture_whisper_dir(void)
{
  const char *dir = g_getenv("HARK_TEST_MODELS_DIR");
  char *path = dir ? g_build_filename(dir, "whisper-base-ct2", NULL) : NULL;
  if (path && !g_file_test(path, G_FILE_TEST_IS_DIR))
    g_clear_pointer(&path, g_free);
  return path;
}

char *
fixture_vad_path(void)
{
  const char *root = g_getenv("HARK_SOURCE_ROOT");
  char *path = g_build_filename(root ? root : ".", "..", "shared", "data", "ggml-format",
                                "for-tests-silero-v6.2.0-ggml.bin", NULL);
  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    g_clear_pointer(&path, g_free);
  return path;
}
