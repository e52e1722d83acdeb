/* app-dictation.c: HarkDictationController: the Whisper model and the
 * dictation session on a worker thread, their text posted to the main thread. */
#include "app-dictation.h"

#include <stdlib.h>

#include "app-models.h"
#include "app-transcribe.h"
#include "app-worker.h"
#include "aud-capture.h"
#include "aud-decode.h"
#include "aud-dictate.h"

/* One session: made on the main thread, run on the worker, ended on the main thread. */
typedef struct {
  HarkDictationController *self; /* ref */
  app_worker *worker;
  guint id;
  char *model, *device, *language, *input, *vad, *file; /* the configuration at start */
  double pause;
  GCancellable *cancellable; /* ref: stop() cancels it (a file stops being fed) */
  /* Set on the worker. */
  aud_dictate *d;
  char *end_message; /* the engine's, from on_end */
  char *loaded;      /* a model was loaded: its description */
  GError *error;
} session;

/* What the worker thread owns: the loaded model and the running session. */
typedef struct {
  aud_whisper *w;
  aud_tokenizer *tok;
  char *model, *device; /* what w was opened from */
  session *running;
} dictation_state;

typedef enum { EV_PARTIAL, EV_FINAL, EV_LEVEL, EV_OVER } event_kind;

/* An engine callback, copied on the engine's thread. */
typedef struct {
  HarkDictationController *self; /* ref */
  guint id;
  event_kind kind;
  char *text;
  double value;
} event;

struct _HarkDictationController {
  GObject parent_instance;
  app_worker *worker;
  char *model, *device, *language, *input, *vad;
  double pause;
  guint session_id; /* the current (or last) session's */
  gboolean active, stopping;
  GCancellable *cancellable; /* the current session's */
};

G_DEFINE_FINAL_TYPE(HarkDictationController, hark_dictation_controller, G_TYPE_OBJECT)

enum { PROP_0, PROP_MODEL, PROP_DEVICE, PROP_LANGUAGE, PROP_INPUT, PROP_PAUSE, PROP_VAD_MODEL, PROP_ACTIVE, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIG_PARTIAL, SIG_FINAL, SIG_LEVEL, SIG_ENDED, SIG_MODEL_LOADED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void session_end(HarkDictationController *self);

/* ---- shared with the CLI ---- */

char *
app_dictation_find_vad_model(const char *path)
{
  if (path && path[0])
    return g_strdup(path);
  const char *env = g_getenv("HARK_VAD_MODEL");
  if (env && env[0])
    return g_strdup(env);
  char *root = app_models_root();
  char *found = g_build_filename(root, "ggml-silero-vad.bin", NULL);
  g_free(root);
  if (g_file_test(found, G_FILE_TEST_EXISTS))
    return found;
  g_free(found);
  return NULL;
}

GPtrArray *
app_dictation_list_inputs(GError **error)
{
  aud_capture_device *devs = NULL;
  int n = 0;
  char *err = NULL;
  if (aud_capture_list(&devs, &n, &err)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : "no sound system");
    free(err);
    return NULL;
  }
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; i < n; i++)
    if (devs[i].is_default)
      g_ptr_array_add(names, g_strdup(devs[i].name));
  for (int i = 0; i < n; i++)
    if (!devs[i].is_default)
      g_ptr_array_add(names, g_strdup(devs[i].name));
  free(devs);
  return names;
}

/* ---- worker thread ---- */

static void
session_free(gpointer data)
{
  session *s = data;
  g_object_unref(s->self);
  g_free(s->model), g_free(s->device), g_free(s->language), g_free(s->input), g_free(s->vad), g_free(s->file);
  g_object_unref(s->cancellable);
  g_free(s->end_message);
  g_free(s->loaded);
  g_clear_error(&s->error);
  g_free(s);
}

static void
state_unload(dictation_state *st)
{
  aud_tokenizer_free(st->tok);
  aud_whisper_free(st->w);
  st->tok = NULL, st->w = NULL;
  g_clear_pointer(&st->model, g_free);
  g_clear_pointer(&st->device, g_free);
}

static void
state_free(gpointer data)
{
  dictation_state *st = data;
  if (st->running) { /* the controller went without a stop */
    aud_dictate_free(st->running->d);
    session_free(st->running);
  }
  state_unload(st);
  g_free(st);
}

static void
event_free(gpointer data)
{
  event *e = data;
  g_object_unref(e->self);
  g_free(e->text);
  g_free(e);
}

static gboolean
emit_event(gpointer data)
{
  event *e = data;
  HarkDictationController *self = e->self;
  if (e->id != self->session_id || !self->active)
    return G_SOURCE_REMOVE; /* an earlier session's last words */
  switch (e->kind) {
  case EV_PARTIAL: g_signal_emit(self, signals[SIG_PARTIAL], 0, e->text); break;
  case EV_FINAL: g_signal_emit(self, signals[SIG_FINAL], 0, e->text); break;
  case EV_LEVEL: g_signal_emit(self, signals[SIG_LEVEL], 0, e->value); break;
  case EV_OVER: /* the engine stopped by itself: the file's end, a lost microphone, an error */
    if (!self->stopping)
      session_end(self);
    break;
  }
  return G_SOURCE_REMOVE;
}

/* On the engine's thread. */
static void
post_event(session *s, event_kind kind, const char *text, double value)
{
  event *e = g_new0(event, 1);
  e->self = g_object_ref(s->self);
  e->id = s->id;
  e->kind = kind;
  e->text = g_strdup(text);
  e->value = value;
  app_worker_post(s->worker, emit_event, e, event_free);
}

static void
on_partial(const char *text, void *user_data)
{
  post_event(user_data, EV_PARTIAL, text, 0);
}

static void
on_final(const char *text, double start, double end, void *user_data)
{
  post_event(user_data, EV_FINAL, text, 0);
}

static void
on_level(float dbfs, void *user_data)
{
  post_event(user_data, EV_LEVEL, NULL, dbfs);
}

static void
on_end(int status, const char *message, void *user_data)
{
  session *s = user_data;
  g_free(s->end_message);
  s->end_message = g_strdup(message);
  post_event(s, EV_OVER, NULL, status);
}

static gboolean
session_ended_on_main(gpointer data)
{
  session *s = data;
  HarkDictationController *self = s->self;
  if (s->loaded)
    g_signal_emit(self, signals[SIG_MODEL_LOADED], 0, s->loaded);
  if (s->id != self->session_id)
    return G_SOURCE_REMOVE;
  self->active = FALSE;
  self->stopping = FALSE;
  g_clear_object(&self->cancellable);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ACTIVE]);
  g_signal_emit(self, signals[SIG_ENDED], 0, s->error);
  return G_SOURCE_REMOVE;
}

/* Opens s->model on s->device unless it is the one loaded. */
static gboolean
ensure_model(dictation_state *st, session *s)
{
  if (st->w && !g_strcmp0(st->model, s->model) && !g_strcmp0(st->device, s->device))
    return TRUE;
  state_unload(st); /* one speech model in memory at a time */
  aud_whisper_params wp = aud_whisper_default_params();
  wp.backend = s->device;
  if (!app_whisper_open(s->model, &wp, &st->w, &st->tok, &s->error))
    return FALSE;
  st->model = g_strdup(s->model);
  st->device = g_strdup(s->device);
  s->loaded = g_strdup_printf("%s (on %s)", s->model, aud_whisper_backend_name(st->w));
  return TRUE;
}

/* Plays the file into the session, 20 ms at a time, as fast as the ring
 * takes it, until its end or a stop. */
static void
feed_file(session *s)
{
  char *err = NULL;
  aud_decode_params dp = aud_decode_default_params();
  aud_decoder *dec = aud_decoder_open(s->file, &dp, &err);
  if (!dec || aud_dictate_start_push(s->d, aud_decoder_sample_rate(dec), 1, &err)) {
    g_set_error(&s->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : s->file);
    free(err);
    aud_decoder_close(dec);
    return;
  }
  float block[320]; /* (frames) mono, 20 ms at 16 kHz */
  size_t got = 0;
  while (!g_cancellable_is_cancelled(s->cancellable)) {
    if (aud_decoder_read(dec, block, G_N_ELEMENTS(block), &got)) {
      g_set_error(&s->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", aud_decoder_errmsg(dec));
      break;
    }
    if (!got)
      break;
    for (size_t off = 0; off < got && !g_cancellable_is_cancelled(s->cancellable);) {
      size_t took = aud_dictate_push(s->d, block + off, got - off);
      off += took;
      if (off < got)
        g_usleep(2000); /* the ring is full: the engine is decoding */
    }
  }
  aud_decoder_close(dec);
  aud_dictate_end_input(s->d);
}

static void
run_start(gpointer state, gpointer data)
{
  dictation_state *st = state;
  session *s = data;
  char *err = NULL;
  if (!ensure_model(st, s))
    goto fail;
  aud_dictate_params p = aud_dictate_default_params();
  p.language = s->language && s->language[0] && g_strcmp0(s->language, "auto") ? s->language : NULL;
  p.vad_model = s->vad;
  p.pause_s = s->pause;
  p.realtime = s->file == NULL;
  p.on_partial = on_partial;
  p.on_final = on_final;
  p.on_level = on_level;
  p.on_end = on_end;
  p.user_data = s;
  s->d = aud_dictate_new(st->w, st->tok, &p, &err);
  if (!s->d) {
    g_set_error(&s->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : "no dictation session");
    free(err);
    goto fail;
  }
  if (s->file) {
    feed_file(s);
  } else if (aud_dictate_start(s->d, s->input && s->input[0] ? s->input : NULL, &err)) {
    g_set_error(&s->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : "the microphone does not start");
    free(err);
  }
  if (s->error && !aud_dictate_running(s->d)) {
    aud_dictate_free(s->d);
    s->d = NULL;
    goto fail;
  }
  /* It runs on the engine's threads now; run_stop ends it. */
  st->running = s;
  return;
fail:
  app_worker_post(s->worker, session_ended_on_main, s, session_free);
}

static void
run_stop(gpointer state, gpointer data)
{
  dictation_state *st = state;
  session *s = st->running;
  if (!s || s->id != GPOINTER_TO_UINT(data))
    return; /* it failed to start, and said so */
  st->running = NULL;
  char *err = NULL;
  int rc = aud_dictate_stop(s->d, &err);
  if (rc && !s->error)
    g_set_error(&s->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                err ? err : s->end_message ? s->end_message : "dictation failed");
  free(err);
  aud_dictate_free(s->d);
  s->d = NULL;
  app_worker_post(s->worker, session_ended_on_main, s, session_free);
}

/* ---- main thread ---- */

static void
session_end(HarkDictationController *self)
{
  self->stopping = TRUE;
  g_cancellable_cancel(self->cancellable);
  app_worker_push(self->worker, run_stop, GUINT_TO_POINTER(self->session_id));
}

static void
session_begin(HarkDictationController *self, const char *file)
{
  if (self->active)
    return;
  session *s = g_new0(session, 1);
  s->self = g_object_ref(self);
  s->worker = self->worker;
  s->id = ++self->session_id;
  s->model = g_strdup(self->model && self->model[0] ? self->model : APP_SPEECH_DEFAULT_MODEL);
  s->device = g_strdup(self->device && self->device[0] ? self->device : "auto");
  s->language = g_strdup(self->language);
  s->input = g_strdup(self->input);
  s->vad = app_dictation_find_vad_model(self->vad);
  s->file = g_strdup(file);
  s->pause = self->pause;
  self->cancellable = g_cancellable_new();
  s->cancellable = g_object_ref(self->cancellable);
  self->active = TRUE;
  self->stopping = FALSE;
  app_worker_push(self->worker, run_start, s);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ACTIVE]);
}

HarkDictationController *
hark_dictation_controller_new(GError **error)
{
  HarkDictationController *self = g_object_new(HARK_TYPE_DICTATION_CONTROLLER, NULL);
  dictation_state *st = g_new0(dictation_state, 1);
  self->worker = app_worker_new("hark-dictation", st, state_free, error);
  if (!self->worker) {
    g_free(st);
    g_object_unref(self);
    return NULL;
  }
  return self;
}

gboolean
hark_dictation_controller_get_active(HarkDictationController *self)
{
  g_return_val_if_fail(HARK_IS_DICTATION_CONTROLLER(self), FALSE);
  return self->active;
}

void
hark_dictation_controller_start(HarkDictationController *self)
{
  g_return_if_fail(HARK_IS_DICTATION_CONTROLLER(self));
  session_begin(self, NULL);
}

void
hark_dictation_controller_start_file(HarkDictationController *self, const char *path)
{
  g_return_if_fail(HARK_IS_DICTATION_CONTROLLER(self));
  g_return_if_fail(path != NULL);
  session_begin(self, path);
}

void
hark_dictation_controller_stop(HarkDictationController *self)
{
  g_return_if_fail(HARK_IS_DICTATION_CONTROLLER(self));
  if (self->active && !self->stopping)
    session_end(self);
}

/* ---- GObject ---- */

static void
hark_dictation_controller_dispose(GObject *object)
{
  HarkDictationController *self = HARK_DICTATION_CONTROLLER(object);
  /* A session holds a reference, so none runs by now; the worker frees the
   * model on its own thread. */
  g_clear_pointer(&self->worker, app_worker_free);
  g_clear_object(&self->cancellable);
  G_OBJECT_CLASS(hark_dictation_controller_parent_class)->dispose(object);
}

static void
hark_dictation_controller_finalize(GObject *object)
{
  HarkDictationController *self = HARK_DICTATION_CONTROLLER(object);
  g_free(self->model), g_free(self->device), g_free(self->language), g_free(self->input), g_free(self->vad);
  G_OBJECT_CLASS(hark_dictation_controller_parent_class)->finalize(object);
}

static char **
string_prop(HarkDictationController *self, guint id)
{
  switch (id) {
  case PROP_MODEL: return &self->model;
  case PROP_DEVICE: return &self->device;
  case PROP_LANGUAGE: return &self->language;
  case PROP_INPUT: return &self->input;
  case PROP_VAD_MODEL: return &self->vad;
  default: return NULL;
  }
}

static void
hark_dictation_controller_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  HarkDictationController *self = HARK_DICTATION_CONTROLLER(object);
  char **s = string_prop(self, id);
  if (s)
    g_value_set_string(value, *s);
  else if (id == PROP_PAUSE)
    g_value_set_double(value, self->pause);
  else if (id == PROP_ACTIVE)
    g_value_set_boolean(value, self->active);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void
hark_dictation_controller_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  HarkDictationController *self = HARK_DICTATION_CONTROLLER(object);
  char **s = string_prop(self, id);
  if (s) {
    g_free(*s);
    *s = g_value_dup_string(value);
  } else if (id == PROP_PAUSE) {
    self->pause = g_value_get_double(value);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
hark_dictation_controller_class_init(HarkDictationControllerClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  oc->dispose = hark_dictation_controller_dispose;
  oc->finalize = hark_dictation_controller_finalize;
  oc->get_property = hark_dictation_controller_get_property;
  oc->set_property = hark_dictation_controller_set_property;
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  props[PROP_MODEL] = g_param_spec_string("model", NULL, NULL, APP_SPEECH_DEFAULT_MODEL, rw);
  props[PROP_DEVICE] = g_param_spec_string("device", NULL, NULL, "auto", rw);
  props[PROP_LANGUAGE] = g_param_spec_string("language", NULL, NULL, NULL, rw);
  props[PROP_INPUT] = g_param_spec_string("input", NULL, NULL, NULL, rw);
  props[PROP_PAUSE] = g_param_spec_double("pause", NULL, NULL, 0.1, 10.0, 0.8, rw | G_PARAM_CONSTRUCT);
  props[PROP_VAD_MODEL] = g_param_spec_string("vad-model", NULL, NULL, NULL, rw);
  props[PROP_ACTIVE] = g_param_spec_boolean("active", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(oc, N_PROPS, props);

  signals[SIG_PARTIAL] = g_signal_new("partial", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_FINAL] = g_signal_new("final", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                    G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_LEVEL] = g_signal_new("level", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                    G_TYPE_NONE, 1, G_TYPE_DOUBLE);
  signals[SIG_ENDED] = g_signal_new("ended", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                    G_TYPE_NONE, 1, G_TYPE_ERROR);
  signals[SIG_MODEL_LOADED] = g_signal_new("model-loaded", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                           NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
hark_dictation_controller_init(HarkDictationController *self)
{
  self->device = g_strdup("auto");
  self->model = g_strdup(APP_SPEECH_DEFAULT_MODEL);
}
