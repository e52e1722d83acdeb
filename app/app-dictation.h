/* app-dictation.h: the dictation controller behind the window's microphone.
 *
 * HarkDictationController runs live dictation (aud-dictate.h) for a widget:
 * the Whisper model lives on a worker thread of its own (app-worker.h); it
 * is loaded on the first start, stays loaded while the same model and
 * device are asked for, and is opened again when either changes. Audio comes
 * from a microphone (aud-capture.h) or from an audio file played into the
 * session as a stream (a recording dictated as if spoken; the tests). The
 * engine's callbacks, which run on its own thread, are copied and posted to
 * the main context; "active" says whether a session runs.
 *
 * Errors (the "ended" signal's GError): a catalog model that is not
 * installed is APP_MODELS_ERROR_NOT_INSTALLED; a model that cannot be opened,
 * a microphone that cannot be opened or is lost mid-session, an unreadable
 * file and decoding failures are G_IO_ERROR_FAILED with the engine's message.
 * Text recognised before an error has been delivered as final text.
 *
 * Threads: main thread only (the thread whose default main context was
 * current at construction); signals are emitted there.
 */
#pragma once

#include <gio/gio.h>

#include "aud-tokenizer.h"
#include "aud-whisper.h"

G_BEGIN_DECLS

#define HARK_TYPE_DICTATION_CONTROLLER (hark_dictation_controller_get_type())
G_DECLARE_FINAL_TYPE(HarkDictationController, hark_dictation_controller, HARK, DICTATION_CONTROLLER, GObject)

/* NULL with an error when the worker thread cannot be started. */
HarkDictationController *hark_dictation_controller_new(GError **error);

/* Properties (all take effect with the next start):
 *   "model"       catalog name or model folder (the speech-model setting)
 *   "device"      auto, cpu or cuda
 *   "language"    "en", ...; NULL, "" or "auto": detected
 *   "input"       microphone: part of its name or its number; NULL or "": the default
 *   "pause"       seconds of silence that end an utterance
 *   "vad-model"   whisper.cpp Silero VAD file; NULL or "": see app_dictation_find_vad_model
 *   "active"      (read-only) from a start until its session ended
 * Signals:
 *   "partial" (const char *text): the uncommitted tail; "" clears it
 *   "final" (const char *text): committed text, to append as it is (it starts
 *     with a space where a new word starts)
 *   "level" (double dbfs): the input level, every 50 ms of audio
 *   "ended" (GError *error): the session is over; NULL when it ended well
 *     (stopped, or the file's end)
 *   "model-loaded" (const char *description) */
gboolean hark_dictation_controller_get_active(HarkDictationController *self);

/* Starts listening to the "input" microphone. Does nothing while active. */
void hark_dictation_controller_start(HarkDictationController *self);
/* Starts a session fed from the audio file `path` (any format aud-decode
 * reads) as fast as the engine takes it, decoded at every step of stream
 * time as if spoken (the same text every run); it ends at the file's end. */
void hark_dictation_controller_start_file(HarkDictationController *self, const char *path);
/* Ends the session: what was heard is decoded and finalized, then "ended"
 * comes. Does nothing when not active. */
void hark_dictation_controller_stop(HarkDictationController *self);

/* The microphones' names, the default input first (what "input" takes;
 * g_ptr_array_unref). An empty array when there are none; NULL with an
 * error when the sound system cannot be asked. Any thread; PortAudio
 * probes the devices, which can take a moment. */
GPtrArray *app_dictation_list_inputs(GError **error);

/* The Silero VAD file for dictation: `path` when given (not NULL or ""),
 * else $HARK_VAD_MODEL, else ggml-silero-vad.bin in Hark's models folder
 * when it is there; NULL: the engine's energy detector. g_free. */
char *app_dictation_find_vad_model(const char *path);

G_END_DECLS
