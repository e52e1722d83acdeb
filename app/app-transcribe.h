/* app-transcribe.h: what `hark transcribe` and the window's transcription
 * jobs share: opening a Whisper model with its tokenizer, naming outputs, and
 * writing a transcript kept as timed segments (the history's) in the
 * transcript formats.
 *
 * Threads: no state; the model opened belongs to the calling thread until
 * handed to another (one thread at a time, as aud-whisper.h says).
 */
#pragma once

#include <gio/gio.h>

#include "app-history.h"
#include "aud-tokenizer.h"
#include "aud-transcript.h"
#include "aud-whisper.h"

G_BEGIN_DECLS

/* The speech model when neither the caller nor the settings name one. */
#define APP_SPEECH_DEFAULT_MODEL "whisper-base"

/* Opens the Whisper model `model` (a catalog name or a path; NULL:
 * APP_SPEECH_DEFAULT_MODEL) with wp, and its tokenizer. FALSE with an error
 * (APP_MODELS_ERROR_NOT_INSTALLED for a catalog model not installed,
 * G_IO_ERROR_FAILED with the engine's message otherwise); *w and *tok are
 * NULL then. */
gboolean app_whisper_open(const char *model, const aud_whisper_params *wp, aud_whisper **w, aud_tokenizer **tok,
                          GError **error);

/* talk.mp3 + "srt" -> DIR/talk.srt, DIR being out_dir or the input's folder. g_free. */
char *app_transcript_output_path(const char *input, const char *out_dir, const char *ext);

/* Writes segments[0..n) (app_segment*, by start time) as a transcript in
 * format f to `path` (atomically, aud_transcript_save). `language` may be
 * NULL; the duration is the last segment's end. */
gboolean app_transcript_save_segments(GPtrArray *segments, const char *language, aud_transcript_format f,
                                      const char *path, GError **error);

G_END_DECLS
