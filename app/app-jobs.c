/* app-jobs.c: HarkJobController and HarkJob: transcription and captioning
 * on worker threads that keep their model loaded, reported back to the main
 * thread as copies posted through app_worker_post. */
#include "app-jobs.h"

#include <stdlib.h>
#include <string.h>

#include "app-chat.h"
#include "app-models.h"
#include "app-transcribe.h"
#include "app-vision.h"
#include "app-worker.h"
#include "aud-transcribe.h"

/* ---- HarkJob ---- */

struct _HarkJob {
  GObject parent_instance;
  HarkJobController *owner; /* ref, until finished */
  app_worker *worker;       /* the owner's, for posts */
  HarkJobKind kind;
  char *path, *model;
  gint64 conversation;
  app_caption_format format;
  int n_predict;
  GCancellable *cancellable;
  /* Main thread: what the events said so far. */
  double fraction, eta;
  guint n_total, n_done, n_captioned, n_skipped, n_failed;
  char *output;
  gboolean finished;
  GError *error;
  gint64 message_id;
  char *text;
  /* Worker thread until its end is posted, then main thread. */
  double t0;
  GArray *segments; /* app_segment, text owned */
  GError *worker_error;
  char *loaded; /* the model this job loaded, described */
};

G_DEFINE_FINAL_TYPE(HarkJob, hark_job, G_TYPE_OBJECT)

enum { JOB_PROGRESS, JOB_SEGMENT, JOB_CAPTION, JOB_FINISHED, N_JOB_SIGNALS };
static guint job_signals[N_JOB_SIGNALS];

static void
segment_clear(gpointer data)
{
  g_free(((app_segment *)data)->text);
}

static void
hark_job_finalize(GObject *object)
{
  HarkJob *job = HARK_JOB(object);
  g_clear_object(&job->owner);
  g_free(job->path), g_free(job->model), g_free(job->output), g_free(job->text), g_free(job->loaded);
  g_object_unref(job->cancellable);
  g_array_unref(job->segments);
  g_clear_error(&job->error);
  g_clear_error(&job->worker_error);
  G_OBJECT_CLASS(hark_job_parent_class)->finalize(object);
}

static void
hark_job_class_init(HarkJobClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = hark_job_finalize;
  GType t = G_TYPE_FROM_CLASS(klass);
  job_signals[JOB_PROGRESS] = g_signal_new("progress", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  job_signals[JOB_SEGMENT] = g_signal_new("segment", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                                          G_TYPE_DOUBLE, G_TYPE_DOUBLE, G_TYPE_STRING);
  job_signals[JOB_CAPTION] = g_signal_new("caption", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                                          G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  job_signals[JOB_FINISHED] = g_signal_new("finished", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
hark_job_init(HarkJob *job)
{
  job->fraction = -1;
  job->eta = -1;
  job->cancellable = g_cancellable_new();
  job->segments = g_array_new(FALSE, TRUE, sizeof(app_segment));
  g_array_set_clear_func(job->segments, segment_clear);
}

HarkJobKind
hark_job_get_kind(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), HARK_JOB_TRANSCRIBE);
  return job->kind;
}

const char *
hark_job_get_path(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), NULL);
  return job->path;
}

const char *
hark_job_get_model(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), NULL);
  return job->model;
}

gint64
hark_job_get_conversation(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->conversation;
}

double
hark_job_get_fraction(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), -1);
  return job->fraction;
}

double
hark_job_get_eta(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), -1);
  return job->eta;
}

guint
hark_job_get_n_total(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->n_total;
}

guint
hark_job_get_n_done(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->n_done;
}

guint
hark_job_get_n_captioned(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->n_captioned;
}

guint
hark_job_get_n_skipped(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->n_skipped;
}

guint
hark_job_get_n_failed(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->n_failed;
}

app_caption_format
hark_job_get_format(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), APP_CAPTION_TXT);
  return job->format;
}

const char *
hark_job_get_output(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), NULL);
  return job->output;
}

gboolean
hark_job_get_finished(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), FALSE);
  return job->finished;
}

const GError *
hark_job_get_error(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), NULL);
  return job->error;
}

gint64
hark_job_get_message_id(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), 0);
  return job->message_id;
}

const char *
hark_job_get_text(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), NULL);
  return job->text;
}

GCancellable *
hark_job_get_cancellable(HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB(job), NULL);
  return job->cancellable;
}

void
hark_job_cancel(HarkJob *job)
{
  g_return_if_fail(HARK_IS_JOB(job));
  g_cancellable_cancel(job->cancellable);
}

/* ---- the controller ---- */

/* What each worker's state starts with: the engine's callbacks get it. */
typedef struct {
  HarkJob *job; /* the job running now */
} job_slot;

/* The speech worker's: the Whisper model stays loaded between jobs. */
typedef struct {
  job_slot slot;
  char *path; /* the loaded model's resolved path */
  aud_whisper *w;
  aud_tokenizer *tok;
} speech_state;

/* The caption worker's: the vision model and the configuration it was opened with. */
typedef struct {
  job_slot slot;
  char *model;
  int n_predict;
  app_vision *v;
} caption_state;

struct _HarkJobController {
  GObject parent_instance;
  app_history *history; /* NULL after shutdown */
  app_worker *speech_worker, *caption_worker; /* made on their first job */
  char *speech_model, *vision_model;
  int caption_max_tokens;
  GPtrArray *running; /* HarkJob*, not refs: each removes itself when finished */
};

G_DEFINE_FINAL_TYPE(HarkJobController, hark_job_controller, G_TYPE_OBJECT)

enum { PROP_0, PROP_SPEECH_MODEL, PROP_VISION_MODEL, PROP_CAPTION_MAX_TOKENS, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIG_HISTORY_CHANGED, SIG_MODEL_LOADED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- events: copies posted from a worker to the main thread ---- */

typedef enum { EV_PROGRESS, EV_SEGMENT, EV_CAPTION, EV_DONE } event_kind;

typedef struct {
  HarkJob *job; /* ref */
  event_kind kind;
  double fraction, eta;
  guint n_total, n_done, n_captioned, n_skipped, n_failed;
  double start, end;
  char *text, *image, *error;
  char *output;
} job_event;

static void
event_free(gpointer data)
{
  job_event *ev = data;
  g_object_unref(ev->job);
  g_free(ev->text), g_free(ev->image), g_free(ev->error), g_free(ev->output);
  g_free(ev);
}

static void job_finish(HarkJob *job);

static gboolean
event_on_main(gpointer data)
{
  job_event *ev = data;
  HarkJob *job = ev->job;
  switch (ev->kind) {
  case EV_PROGRESS:
    job->fraction = ev->fraction;
    job->eta = ev->eta;
    job->n_total = ev->n_total;
    job->n_done = ev->n_done;
    job->n_captioned = ev->n_captioned;
    job->n_skipped = ev->n_skipped;
    job->n_failed = ev->n_failed;
    if (ev->output && !job->output)
      job->output = g_strdup(ev->output);
    g_signal_emit(job, job_signals[JOB_PROGRESS], 0);
    break;
  case EV_SEGMENT:
    g_signal_emit(job, job_signals[JOB_SEGMENT], 0, ev->start, ev->end, ev->text);
    break;
  case EV_CAPTION:
    g_signal_emit(job, job_signals[JOB_CAPTION], 0, ev->image, ev->text, ev->error);
    break;
  case EV_DONE:
    job_finish(job);
    break;
  }
  return G_SOURCE_REMOVE;
}

static job_event *
event_new(HarkJob *job, event_kind kind)
{
  job_event *ev = g_new0(job_event, 1);
  ev->job = g_object_ref(job);
  ev->kind = kind;
  return ev;
}

static void
post(job_event *ev)
{
  app_worker_post(ev->job->worker, event_on_main, ev, event_free);
}

/* The job's end, posted by its worker, which hands over the reference it
 * was pushed with (dropped before posting: the event's keeps the job alive, so
 * it is never finalized on the worker thread). */
static void
post_done(HarkJob *job)
{
  job_event *ev = event_new(job, EV_DONE);
  g_object_unref(job);
  post(ev);
}

static int
should_abort(void *user_data)
{
  job_slot *slot = user_data;
  return slot->job && g_cancellable_is_cancelled(slot->job->cancellable);
}

static double
now_s(void)
{
  return (double)g_get_monotonic_time() * 1e-6;
}

/* ---- transcription (speech worker) ---- */

static void
speech_unload(speech_state *st)
{
  aud_tokenizer_free(st->tok);
  st->tok = NULL;
  aud_whisper_free(st->w);
  st->w = NULL;
  g_clear_pointer(&st->path, g_free);
}

static void
speech_state_free(gpointer data)
{
  speech_state *st = data;
  speech_unload(st);
  g_free(st);
}

/* Loads the job's model unless it is the one loaded; one at a time. */
static gboolean
ensure_whisper(speech_state *st, HarkJob *job)
{
  char *path = app_models_resolve(job->model, &job->worker_error);
  if (!path)
    return FALSE;
  if (st->w && !g_strcmp0(st->path, path)) {
    g_free(path);
    return TRUE;
  }
  speech_unload(st);
  aud_whisper_params wp = aud_whisper_default_params();
  wp.n_seq = 10; /* as hark transcribe: beams of 5 double-buffered; sampling's best_of = 5 */
  if (!app_whisper_open(path, &wp, &st->w, &st->tok, &job->worker_error)) {
    g_free(path);
    return FALSE;
  }
  st->path = path;
  job->loaded = g_strdup_printf("%s on %s", path, aud_whisper_backend_name(st->w));
  return TRUE;
}

static void
on_segment(const aud_segment *seg, void *user_data)
{
  HarkJob *job = ((job_slot *)user_data)->job;
  app_segment s = { seg->start, seg->end, g_strdup(seg->text) };
  g_array_append_val(job->segments, s);
  job_event *ev = event_new(job, EV_SEGMENT);
  ev->start = seg->start;
  ev->end = seg->end;
  ev->text = g_strdup(seg->text);
  post(ev);
}

static void
on_progress(double done, double total, void *user_data)
{
  HarkJob *job = ((job_slot *)user_data)->job;
  job_event *ev = event_new(job, EV_PROGRESS);
  double el = now_s() - job->t0;
  ev->fraction = total > 0 ? CLAMP(done / total, 0.0, 1.0) : -1;
  ev->eta = total > 0 && done > 0 ? MAX(0.0, el * (total - done) / done) : -1;
  post(ev);
}

static void
run_transcribe(gpointer state, gpointer data)
{
  speech_state *st = state;
  HarkJob *job = data;
  st->slot.job = job;
  if (g_cancellable_set_error_if_cancelled(job->cancellable, &job->worker_error) || !ensure_whisper(st, job))
    goto out;
  aud_transcribe_params tp = aud_transcribe_default_params();
  tp.on_segment = on_segment;
  tp.on_progress = on_progress;
  tp.should_abort = should_abort;
  tp.user_data = &st->slot;
  aud_transcript tr;
  aud_transcript_init(&tr);
  job->t0 = now_s();
  char *err = NULL;
  int rc = aud_transcribe_file(st->w, st->tok, job->path, &tp, &tr, &err);
  if (rc == KERN_E_ABORTED || g_cancellable_is_cancelled(job->cancellable))
    g_set_error_literal(&job->worker_error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Stopped");
  else if (rc != 0)
    g_set_error(&job->worker_error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : job->path);
  else if (tr.duration <= 0)
    g_set_error(&job->worker_error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: the file holds no audio", job->path);
  free(err);
  aud_transcript_clear(&tr);
out:
  st->slot.job = NULL;
  post_done(job);
}

/* ---- captioning (caption worker) ---- */

static void
caption_state_free(gpointer data)
{
  caption_state *st = data;
  app_vision_free(st->v);
  g_free(st->model);
  g_free(st);
}

static gboolean
ensure_vision(caption_state *st, HarkJob *job)
{
  if (st->v && !g_strcmp0(st->model, job->model) && st->n_predict == job->n_predict)
    return TRUE;
  g_clear_pointer(&st->v, app_vision_free);
  app_vision_params vp = app_vision_default_params();
  vp.model = job->model;
  vp.n_predict = job->n_predict > 0 ? job->n_predict : -1;
  vp.should_abort = should_abort;
  vp.user_data = &st->slot;
  st->v = app_vision_open(&vp, &job->worker_error);
  if (!st->v)
    return FALSE;
  g_free(st->model);
  st->model = g_strdup(job->model);
  st->n_predict = job->n_predict;
  job->loaded = g_strdup(app_vision_describe(st->v));
  return TRUE;
}

typedef struct {
  guint total, done, captioned, skipped, failed;
} caption_counts;

static void
post_counts(HarkJob *job, const caption_counts *c, double eta, const char *output)
{
  job_event *ev = event_new(job, EV_PROGRESS);
  ev->fraction = c->total ? (double)c->done / c->total : 0;
  ev->eta = eta;
  ev->n_total = c->total;
  ev->n_done = c->done;
  ev->n_captioned = c->captioned;
  ev->n_skipped = c->skipped;
  ev->n_failed = c->failed;
  ev->output = g_strdup(output);
  post(ev);
}

static void
run_caption(gpointer state, gpointer data)
{
  caption_state *st = state;
  HarkJob *job = data;
  app_captioner *cap = NULL;
  st->slot.job = job;
  if (g_cancellable_set_error_if_cancelled(job->cancellable, &job->worker_error))
    goto out;
  cap = app_captioner_new(job->path, job->format, FALSE, FALSE, &job->worker_error);
  if (!cap)
    goto out;
  caption_counts c = { .total = app_captioner_n_images(cap) };
  if (!c.total) {
    g_set_error(&job->worker_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "There are no images in %s", job->path);
    goto out;
  }
  const char *output = app_captioner_table_path(cap);
  post_counts(job, &c, -1, output);
  if (!ensure_vision(st, job))
    goto out;
  double t_work = 0;
  for (guint i = 0; i < c.total; i++) {
    if (g_cancellable_set_error_if_cancelled(job->cancellable, &job->worker_error))
      break;
    if (app_captioner_has_caption(cap, i, NULL)) {
      c.skipped++, c.done++;
      post_counts(job, &c, -1, output);
      continue;
    }
    double t1 = now_s();
    char *caption = NULL;
    gboolean write_failed = FALSE;
    GError *error = NULL;
    gboolean ok = app_captioner_caption(cap, st->v, i, NULL, &caption, &write_failed, &error);
    t_work += now_s() - t1;
    if (!ok && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      job->worker_error = error;
      break;
    }
    c.done++;
    if (ok)
      c.captioned++;
    else
      c.failed++;
    job_event *ev = event_new(job, EV_CAPTION);
    ev->image = app_captioner_image_path(cap, i);
    ev->text = caption;
    ev->error = error ? g_strdup(error->message) : NULL;
    post(ev);
    double rate = t_work > 0 ? (c.captioned + c.failed) / t_work : 0;
    post_counts(job, &c, rate > 0 ? (c.total - c.done) / rate : -1, output);
    if (write_failed) {
      job->worker_error = error; /* the next images would fail the same way */
      break;
    }
    g_clear_error(&error);
  }
out:
  app_captioner_free(cap);
  st->slot.job = NULL;
  post_done(job);
}

/* ---- main thread ---- */

/* The transcript's text: its segments joined as decoded, trimmed. */
static char *
joined_text(GArray *segments)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < segments->len; i++)
    g_string_append(s, g_array_index(segments, app_segment, i).text);
  return g_strstrip(g_string_free(s, FALSE));
}

/* Writes a finished transcription to the history; FALSE with job->error. */
static gboolean
store_transcript(HarkJobController *self, HarkJob *job)
{
  if (!self->history) {
    g_set_error_literal(&job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Stopped");
    return FALSE;
  }
  job->text = joined_text(job->segments);
  if (!job->conversation) {
    char *title = g_path_get_basename(job->path);
    job->conversation = app_history_new_conversation(self->history, title, &job->error);
    g_free(title);
    if (!job->conversation)
      return FALSE;
  }
  job->message_id = app_history_add_transcript(self->history, job->conversation, job->path, job->text,
                                               (const app_segment *)job->segments->data, job->segments->len,
                                               &job->error);
  if (!job->message_id)
    return FALSE;
  g_signal_emit(self, signals[SIG_HISTORY_CHANGED], 0, job->conversation);
  return TRUE;
}

static void
job_finish(HarkJob *job)
{
  HarkJobController *self = job->owner;
  job->error = g_steal_pointer(&job->worker_error);
  if (job->loaded)
    g_signal_emit(self, signals[SIG_MODEL_LOADED], 0, job->loaded);
  if (!job->error && job->kind == HARK_JOB_TRANSCRIBE)
    store_transcript(self, job);
  if (!job->error) {
    job->fraction = 1;
    job->eta = 0;
  }
  job->finished = TRUE;
  g_ptr_array_remove(self->running, job);
  g_object_ref(job);
  g_signal_emit(job, job_signals[JOB_FINISHED], 0);
  g_clear_object(&job->owner);
  g_object_unref(job);
}

static app_worker *
worker_for(HarkJobController *self, HarkJobKind kind)
{
  app_worker **w = kind == HARK_JOB_TRANSCRIBE ? &self->speech_worker : &self->caption_worker;
  if (*w)
    return *w;
  GError *error = NULL;
  job_slot *state = kind == HARK_JOB_TRANSCRIBE ? (job_slot *)g_new0(speech_state, 1)
                                                : (job_slot *)g_new0(caption_state, 1);
  *w = app_worker_new(kind == HARK_JOB_TRANSCRIBE ? "hark-speech" : "hark-caption", state,
                      kind == HARK_JOB_TRANSCRIBE ? speech_state_free : caption_state_free, &error);
  if (!*w)
    g_error("cannot start a worker thread: %s", error->message); /* no threads: nothing works */
  return *w;
}

static gboolean
finish_idle(gpointer job)
{
  job_finish(job);
  return G_SOURCE_REMOVE;
}

static HarkJob *
job_new(HarkJobController *self, HarkJobKind kind, const char *path, const char *model)
{
  HarkJob *job = g_object_new(HARK_TYPE_JOB, NULL);
  job->owner = g_object_ref(self);
  job->kind = kind;
  job->path = g_strdup(path);
  job->model = g_strdup(model);
  return job;
}

/* Queues the job on its worker (or, shut down, ends it at once, cancelled). */
static HarkJob *
start(HarkJobController *self, HarkJob *job)
{
  g_ptr_array_add(self->running, job);
  if (!self->history) {
    g_cancellable_cancel(job->cancellable);
    g_set_error_literal(&job->worker_error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Stopped");
    g_idle_add_full(G_PRIORITY_DEFAULT, finish_idle, g_object_ref(job), g_object_unref);
    return job;
  }
  job->worker = worker_for(self, job->kind);
  app_worker_push(job->worker, job->kind == HARK_JOB_TRANSCRIBE ? run_transcribe : run_caption, g_object_ref(job));
  return job;
}

HarkJob *
hark_job_controller_transcribe(HarkJobController *self, gint64 conversation_id, const char *path)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(self), NULL);
  g_return_val_if_fail(path != NULL, NULL);
  HarkJob *job = job_new(self, HARK_JOB_TRANSCRIBE, path, hark_job_controller_get_speech_model(self));
  job->conversation = conversation_id;
  return start(self, job);
}

HarkJob *
hark_job_controller_caption(HarkJobController *self, const char *folder, app_caption_format format)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(self), NULL);
  g_return_val_if_fail(folder != NULL, NULL);
  HarkJob *job = job_new(self, HARK_JOB_CAPTION, folder, hark_job_controller_get_vision_model(self));
  job->format = format;
  job->n_predict = self->caption_max_tokens;
  return start(self, job);
}

guint
hark_job_controller_get_n_running(HarkJobController *self)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(self), 0);
  return self->running->len;
}

gboolean
hark_job_controller_save_transcript(HarkJobController *self, gint64 message_id, aud_transcript_format f,
                                    const char *path, GError **error)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(self), FALSE);
  if (!self->history) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the history is closed");
    return FALSE;
  }
  GPtrArray *segments = app_history_segments(self->history, message_id, error);
  if (!segments)
    return FALSE;
  gboolean ok = app_transcript_save_segments(segments, NULL, f, path, error);
  g_ptr_array_unref(segments);
  return ok;
}

void
hark_job_controller_shutdown(HarkJobController *self)
{
  g_return_if_fail(HARK_IS_JOB_CONTROLLER(self));
  for (guint i = 0; i < self->running->len; i++)
    hark_job_cancel(self->running->pdata[i]);
  /* The workers finish their (cancelled) jobs, post their ends and unload. */
  g_clear_pointer(&self->speech_worker, app_worker_free);
  g_clear_pointer(&self->caption_worker, app_worker_free);
  self->history = NULL;
}

/* ---- GObject ---- */

HarkJobController *
hark_job_controller_new(app_history *history, GError **error)
{
  g_return_val_if_fail(history != NULL, NULL);
  HarkJobController *self = g_object_new(HARK_TYPE_JOB_CONTROLLER, NULL);
  self->history = history;
  return self;
}

void
hark_job_controller_set_speech_model(HarkJobController *self, const char *model)
{
  g_return_if_fail(HARK_IS_JOB_CONTROLLER(self));
  if (!g_strcmp0(self->speech_model, model))
    return;
  g_free(self->speech_model);
  self->speech_model = g_strdup(model);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_SPEECH_MODEL]);
}

const char *
hark_job_controller_get_speech_model(HarkJobController *self)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(self), NULL);
  return self->speech_model && self->speech_model[0] ? self->speech_model : APP_SPEECH_DEFAULT_MODEL;
}

void
hark_job_controller_set_vision_model(HarkJobController *self, const char *model)
{
  g_return_if_fail(HARK_IS_JOB_CONTROLLER(self));
  if (!g_strcmp0(self->vision_model, model))
    return;
  g_free(self->vision_model);
  self->vision_model = g_strdup(model);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_VISION_MODEL]);
}

const char *
hark_job_controller_get_vision_model(HarkJobController *self)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(self), NULL);
  return self->vision_model && self->vision_model[0] ? self->vision_model : HARK_VISION_DEFAULT_MODEL;
}

static void
hark_job_controller_dispose(GObject *object)
{
  HarkJobController *self = HARK_JOB_CONTROLLER(object);
  /* Running jobs hold a reference, so none is left by now. */
  hark_job_controller_shutdown(self);
  G_OBJECT_CLASS(hark_job_controller_parent_class)->dispose(object);
}

static void
hark_job_controller_finalize(GObject *object)
{
  HarkJobController *self = HARK_JOB_CONTROLLER(object);
  g_free(self->speech_model);
  g_free(self->vision_model);
  g_ptr_array_unref(self->running);
  G_OBJECT_CLASS(hark_job_controller_parent_class)->finalize(object);
}

static void
hark_job_controller_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  HarkJobController *self = HARK_JOB_CONTROLLER(object);
  switch (id) {
  case PROP_SPEECH_MODEL: g_value_set_string(value, hark_job_controller_get_speech_model(self)); break;
  case PROP_VISION_MODEL: g_value_set_string(value, hark_job_controller_get_vision_model(self)); break;
  case PROP_CAPTION_MAX_TOKENS: g_value_set_int(value, self->caption_max_tokens); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
hark_job_controller_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  HarkJobController *self = HARK_JOB_CONTROLLER(object);
  switch (id) {
  case PROP_SPEECH_MODEL: hark_job_controller_set_speech_model(self, g_value_get_string(value)); break;
  case PROP_VISION_MODEL: hark_job_controller_set_vision_model(self, g_value_get_string(value)); break;
  case PROP_CAPTION_MAX_TOKENS: self->caption_max_tokens = g_value_get_int(value); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
hark_job_controller_class_init(HarkJobControllerClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  oc->dispose = hark_job_controller_dispose;
  oc->finalize = hark_job_controller_finalize;
  oc->get_property = hark_job_controller_get_property;
  oc->set_property = hark_job_controller_set_property;
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  props[PROP_SPEECH_MODEL] = g_param_spec_string("speech-model", NULL, NULL, APP_SPEECH_DEFAULT_MODEL, rw);
  props[PROP_VISION_MODEL] = g_param_spec_string("vision-model", NULL, NULL, HARK_VISION_DEFAULT_MODEL, rw);
  props[PROP_CAPTION_MAX_TOKENS] = g_param_spec_int("caption-max-tokens", NULL, NULL, 1, G_MAXINT, 96,
                                                    G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                      G_PARAM_CONSTRUCT);
  g_object_class_install_properties(oc, N_PROPS, props);
  signals[SIG_HISTORY_CHANGED] = g_signal_new("history-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                              NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  signals[SIG_MODEL_LOADED] = g_signal_new("model-loaded", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                           NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
hark_job_controller_init(HarkJobController *self)
{
  self->running = g_ptr_array_new();
}
