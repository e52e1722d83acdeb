/* app-transcribe.c: Whisper opened by name, output names and transcripts
 * written from stored segments, for the CLI and the window alike. */
#include "app-transcribe.h"

#include <stdlib.h>
#include <string.h>

#include "app-models.h"

gboolean
app_whisper_open(const char *model, const aud_whisper_params *wp, aud_whisper **w, aud_tokenizer **tok,
                 GError **error)
{
  *w = NULL, *tok = NULL;
  char *path = app_models_resolve(model ? model : APP_SPEECH_DEFAULT_MODEL, error), *err = NULL;
  if (!path)
    return FALSE;
  *w = aud_whisper_open(path, wp, &err);
  if (*w)
    *tok = aud_tokenizer_from_weights(aud_whisper_get_weights(*w), &err);
  if (!*tok) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : path);
    free(err);
    aud_whisper_free(*w);
    *w = NULL;
  }
  g_free(path);
  return *tok != NULL;
}

char *
app_transcript_output_path(const char *input, const char *out_dir, const char *ext)
{
  char *base = g_path_get_basename(input);
  char *dot = strrchr(base, '.');
  if (dot && dot != base)
    *dot = '\0';
  char *dir = out_dir ? g_strdup(out_dir) : g_path_get_dirname(input);
  char *name = g_strdup_printf("%s.%s", base, ext);
  char *path = g_build_filename(dir, name, NULL);
  g_free(base), g_free(dir), g_free(name);
  return path;
}

gboolean
app_transcript_save_segments(GPtrArray *segments, const char *language, aud_transcript_format f, const char *path,
                             GError **error)
{
  aud_transcript tr;
  aud_transcript_init(&tr);
  if (language)
    g_strlcpy(tr.language, language, sizeof tr.language);
  gboolean ok = TRUE;
  for (guint i = 0; i < segments->len && ok; i++) {
    const app_segment *s = segments->pdata[i];
    aud_segment seg = { .start = s->start, .end = s->end, .text = s->text };
    ok = aud_transcript_add(&tr, &seg) == 0;
    tr.duration = MAX(tr.duration, s->end);
  }
  char *err = NULL;
  if (!ok)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of memory");
  else if (aud_transcript_save(&tr, f, path, &err) != 0)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : path), ok = FALSE;
  free(err);
  aud_transcript_clear(&tr);
  return ok;
}
