/* app-jobs.h: the window's long jobs on files and folders: transcribing an
 * audio or video file with the speech model, captioning a folder of photos
 * with the vision model.
 *
 * HarkJobController runs each kind of job on a worker thread of its own
 * (app-worker.h) that keeps its model loaded between jobs and unloads it when
 * another model is asked for; jobs of one kind run one after another, in the
 * order started. A job is a HarkJob: it reports progress, each transcript
 * segment and each caption as they come, and its end, through signals on the
 * main thread. Cancelling it (hark_job_cancel, or its GCancellable) is seen
 * by the engine's abort callback between tokens and chunks.
 *
 * Transcription (the same engine calls as `hark transcribe`): the finished
 * transcript is written to the history as one message of the conversation
 * (app_history_add_transcript: its text, the file by path and sha256, its
 * segments); a job started with conversation 0 gets a new conversation named
 * after the file. A failed or cancelled transcription writes nothing.
 * Captioning (the same app_captioner as `hark caption`): every caption is
 * written to its sidecar or table as soon as it is made, so a cancelled job
 * keeps what it wrote and a new job on the folder resumes after it.
 *
 * Errors (hark_job_get_error once finished): a catalog model not installed is
 * APP_MODELS_ERROR_NOT_INSTALLED (hark_job_get_model names it, for an install
 * offer); a file the engine cannot read, or a model it cannot load,
 * G_IO_ERROR_FAILED with the engine's message; a folder with no images
 * G_IO_ERROR_NOT_FOUND; a path that is not a folder G_IO_ERROR_NOT_DIRECTORY;
 * a cancelled job G_IO_ERROR_CANCELLED; history failures APP_HISTORY_ERROR.
 *
 * Threads: main thread only (the thread whose default main context was
 * current at construction); signals are emitted there.
 */
#pragma once

#include <gio/gio.h>

#include "app-caption.h"
#include "app-history.h"
#include "aud-transcript.h"

G_BEGIN_DECLS

typedef enum {
  HARK_JOB_TRANSCRIBE,
  HARK_JOB_CAPTION,
} HarkJobKind;

#define HARK_TYPE_JOB (hark_job_get_type())
G_DECLARE_FINAL_TYPE(HarkJob, hark_job, HARK, JOB, GObject)

#define HARK_TYPE_JOB_CONTROLLER (hark_job_controller_get_type())
G_DECLARE_FINAL_TYPE(HarkJobController, hark_job_controller, HARK, JOB_CONTROLLER, GObject)

/* ---- a job ---- */

/* Signals (main thread):
 *   "progress" (): fraction, ETA or counts changed
 *   "segment" (double start, double end, const char *text): a transcript
 *     segment as soon as it is decoded (seconds from the file's start)
 *   "caption" (const char *image, const char *caption, const char *error):
 *     an image (full path) captioned (caption, error NULL) or not
 *     (caption NULL, error the reason); images that already had a caption
 *     are only counted
 *   "finished" (): the job ended; hark_job_get_error says how */
HarkJobKind hark_job_get_kind(HarkJob *job);
/* The file or folder. */
const char *hark_job_get_path(HarkJob *job);
/* The model it runs with (a catalog name or a path). */
const char *hark_job_get_model(HarkJob *job);
/* Transcription: its conversation (set when the transcript is written, for a
 * job started with 0). */
gint64 hark_job_get_conversation(HarkJob *job);
/* 0 .. 1 (a caption job: images done of all); < 0 while unknown. */
double hark_job_get_fraction(HarkJob *job);
/* Seconds left, from the pace so far; < 0 while unknown. */
double hark_job_get_eta(HarkJob *job);
/* A caption job's images: listed, done (captioned, skipped or failed), and each. */
guint hark_job_get_n_total(HarkJob *job);
guint hark_job_get_n_done(HarkJob *job);
guint hark_job_get_n_captioned(HarkJob *job);
guint hark_job_get_n_skipped(HarkJob *job);
guint hark_job_get_n_failed(HarkJob *job);
app_caption_format hark_job_get_format(HarkJob *job);
/* The caption table (captions.jsonl or .csv), or NULL for sidecars. */
const char *hark_job_get_output(HarkJob *job);
gboolean hark_job_get_finished(HarkJob *job);
/* Once finished: NULL when it succeeded. */
const GError *hark_job_get_error(HarkJob *job);
/* A finished transcription: the message written and its text. */
gint64 hark_job_get_message_id(HarkJob *job);
const char *hark_job_get_text(HarkJob *job);
GCancellable *hark_job_get_cancellable(HarkJob *job);
void hark_job_cancel(HarkJob *job);

/* ---- the controller ---- */

/* history: borrowed; it must outlive the controller, or
 * hark_job_controller_shutdown must come first. Each worker thread starts
 * with the first job of its kind (a process that cannot start a thread
 * aborts then, as the window does without its chat worker); `error` is for
 * what may fail before that and is unset today. */
HarkJobController *hark_job_controller_new(app_history *history, GError **error);

/* Properties (each takes effect with the next job):
 *   "speech-model"        catalog name or path; NULL or "": APP_SPEECH_DEFAULT_MODEL
 *   "vision-model"        catalog name, GGUF file or directory (app-vision.h);
 *                         NULL or "": HARK_VISION_DEFAULT_MODEL
 *   "caption-max-tokens"  most tokens per caption (96)
 * Signals:
 *   "history-changed" (gint64 conversation_id): a transcript was written
 *   "model-loaded" (const char *description): a job loaded its model (once
 *     per model: the next jobs with the same model find it loaded) */
void hark_job_controller_set_speech_model(HarkJobController *self, const char *model);
const char *hark_job_controller_get_speech_model(HarkJobController *self);
void hark_job_controller_set_vision_model(HarkJobController *self, const char *model);
const char *hark_job_controller_get_vision_model(HarkJobController *self);

/* Starts transcribing `path` into conversation `conversation_id` (0: a new
 * one). Returns the job (transfer full). */
HarkJob *hark_job_controller_transcribe(HarkJobController *self, gint64 conversation_id, const char *path);
/* Starts captioning the images of `folder` (not its subfolders) into `format`;
 * images that already have a caption there are skipped. Transfer full. */
HarkJob *hark_job_controller_caption(HarkJobController *self, const char *folder, app_caption_format format);
/* Jobs started and not yet finished. */
guint hark_job_controller_get_n_running(HarkJobController *self);

/* Writes the stored transcript `message_id` in format f to `path`
 * (atomically; the language is not stored, so JSON's is ""). */
gboolean hark_job_controller_save_transcript(HarkJobController *self, gint64 message_id, aud_transcript_format f,
                                             const char *path, GError **error);

/* Cancels every job, waits for the workers to stop and unloads the models;
 * the history is not touched after this (jobs that end later write nothing).
 * For the owner about to free the history. Called by dispose too. */
void hark_job_controller_shutdown(HarkJobController *self);

G_END_DECLS
