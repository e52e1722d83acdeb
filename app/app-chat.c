/* app-chat.c: HarkChatController: the history on the main thread, the model
 * and its session on a worker thread, replies streamed between them. */
#include "app-chat.h"

#include <stdlib.h>
#include <string.h>

#include "app-models.h"
#include "app-vision.h"
#include "app-worker.h"
#include "kern-weights.h"
#include "llm-model.h"
#include "llm-session.h"

/* What every model worker's state starts with: the engine's callbacks get it. */
typedef struct {
  app_worker *worker;
  struct chat_job *job; /* the job running now, for on_text and should_abort */
} job_slot;

/* What the chat worker thread owns: the loaded model and its session. */
typedef struct {
  job_slot slot;
  char *gguf; /* the loaded model's file */
  char *device; /* and where it was loaded */
  int gpu_layers;
  llm_model *model;
  llm_session *session;
  char *system; /* the session's configuration, to see when it must be made again */
  double temperature;
  int n_predict;
} chat_state;

/* What the vision worker thread owns: the image model, and which
 * conversation its session holds (a conversation it does not hold is read
 * again, turn by turn with each turn's images, before the new question). */
typedef struct {
  job_slot slot;
  app_vision *v;
  char *model, *system, *device; /* its configuration, to see when it must be opened again */
  double temperature;
  int n_predict;
  gint64 conversation; /* 0: none */
  guint n_synced;      /* messages of it the session holds */
} vision_state;

/* One reply: made on the main thread, run on the worker, finished on the main thread. */
typedef struct chat_job {
  HarkChatController *self; /* ref */
  GTask *task;              /* ref */
  GCancellable *cancellable; /* ref; never NULL */
  gint64 conversation_id;
  gint64 replace_id; /* the reply this one replaces, 0: a new one */
  char *model, *system;
  char *device; /* "auto", "cpu", "cuda" */
  int gpu_layers;
  double temperature;
  int n_predict;
  GPtrArray *roles, *texts; /* the conversation before the user message */
  char *user_text;
  /* Image conversations (some user message has images) go to the vision model. */
  gboolean vision;
  GPtrArray *all_images; /* every image of the conversation, this message's last */
  guint n_new_images;    /* how many of them this message brings */
  GArray *msg_images;    /* (guint) images of each earlier message, in all_images' order */
  GString *streamed;     /* all the reply's text so far (app_vision returns none when stopped) */
  llm_session_stats stats;
  /* Set on the worker. */
  char *reply;
  gboolean began; /* some text came */
  GError *error;
  char *loaded; /* a model was loaded: its description */
  GPtrArray *notices;
  /* Reply text not yet shown: pieces that come faster than the main loop
   * takes them are joined, so the window never lags behind the model. */
  GMutex lock;
  GString *pending;
  gboolean flush_posted;
} chat_job;

typedef struct {
  gint64 stopped_id;
} chat_result;

struct _HarkChatController {
  GObject parent_instance;
  app_history *history;
  app_worker *worker;
  chat_state *state; /* the worker's; touched here only to create it */
  char *model, *system, *device;
  int gpu_layers;
  double temperature;
  int n_predict;
  GCancellable *running; /* the current reply's, or NULL */
  app_worker *vision_worker; /* made on the first image message */
  char *vision_model;
  char *missing_model; /* the last model a reply found not installed */
  llm_session_stats last_stats;
  app_worker *installer; /* made on the first install */
};

G_DEFINE_FINAL_TYPE(HarkChatController, hark_chat_controller, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MODEL,
  PROP_VISION_MODEL,
  PROP_SYSTEM_PROMPT,
  PROP_TEMPERATURE,
  PROP_N_PREDICT,
  PROP_BUSY,
  PROP_DEVICE,
  PROP_GPU_LAYERS,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

enum { SIG_REPLY_TEXT, SIG_HISTORY_CHANGED, SIG_NOTICE, SIG_MODEL_LOADED, SIG_INSTALL_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- worker thread ---- */

static void
state_unload(chat_state *st)
{
  llm_session_free(st->session);
  st->session = NULL;
  llm_model_free(st->model);
  st->model = NULL;
  g_clear_pointer(&st->gguf, g_free);
  g_clear_pointer(&st->device, g_free);
  g_clear_pointer(&st->system, g_free);
}

static void
state_free(gpointer data)
{
  chat_state *st = data;
  state_unload(st);
  g_free(st);
}

static int
should_abort(void *user_data)
{
  job_slot *slot = user_data;
  return slot->job && g_cancellable_is_cancelled(slot->job->cancellable);
}

/* Install progress to emit on the main thread, posted by the installer. */
typedef struct {
  HarkChatController *self; /* ref */
  double fraction;
  char *text;
} install_progress;

static void
install_progress_free(gpointer data)
{
  install_progress *m = data;
  g_object_unref(m->self);
  g_free(m->text);
  g_free(m);
}

static gboolean
emit_install_progress(gpointer data)
{
  install_progress *m = data;
  g_signal_emit(m->self, signals[SIG_INSTALL_PROGRESS], 0, m->fraction, m->text);
  return G_SOURCE_REMOVE;
}

/* Copies what the installer reports and posts it to the main context. */
static void
post_progress(app_worker *w, HarkChatController *self, double fraction, char *text /* taken */)
{
  install_progress *m = g_new0(install_progress, 1);
  m->self = g_object_ref(self);
  m->fraction = fraction;
  m->text = text;
  app_worker_post(w, emit_install_progress, m, install_progress_free);
}

static gboolean
flush_text(gpointer data)
{
  struct chat_job *job = data;
  g_mutex_lock(&job->lock);
  char *text = g_strndup(job->pending->str, job->pending->len);
  g_string_truncate(job->pending, 0);
  job->flush_posted = FALSE;
  g_mutex_unlock(&job->lock);
  if (text[0])
    g_signal_emit(job->self, signals[SIG_REPLY_TEXT], 0, job->conversation_id, text);
  g_free(text);
  return G_SOURCE_REMOVE;
}

static void
on_text(const char *text, size_t len, void *user_data)
{
  job_slot *slot = user_data;
  chat_job *job = slot->job;
  if (!job || !len)
    return;
  job->began = TRUE;
  g_string_append_len(job->streamed, text, (gssize)len);
  g_mutex_lock(&job->lock);
  g_string_append_len(job->pending, text, (gssize)len);
  gboolean post = !job->flush_posted;
  job->flush_posted = TRUE;
  g_mutex_unlock(&job->lock);
  /* The job outlives this post: its own end is posted after it. */
  if (post)
    app_worker_post(slot->worker, flush_text, job, NULL);
}

static void
on_warning(const char *msg, void *user_data)
{
  job_slot *slot = user_data;
  if (slot->job)
    g_ptr_array_add(slot->job->notices, g_strdup(msg));
}

/* Context for a chat: the model's own length up to 8192 positions (longer
 * contexts cost memory a desktop chat rarely needs; the engine also caps it
 * to what memory allows, with a notice). */
static int
chat_context(const char *gguf)
{
  int n_ctx = 8192;
  char *err = NULL;
  kern_weights *w = kern_weights_open(gguf, &err);
  free(err); /* a bad file is reported by llm_model_open */
  if (!w)
    return n_ctx;
  const char *arch = kern_weights_get_string(w, "general.architecture", NULL);
  if (arch) {
    char *key = g_strdup_printf("%s.context_length", arch);
    int64_t trained = kern_weights_get_int(w, key, 0);
    if (trained > 0 && trained < n_ctx)
      n_ctx = (int)trained;
    g_free(key);
  }
  kern_weights_close(w);
  return n_ctx;
}

/* Loads job->model unless it is the one loaded (then nothing happens). */
static gboolean
ensure_model(chat_state *st, chat_job *job)
{
  char *dir = app_models_resolve(job->model, &job->error);
  char *gguf = dir ? app_models_find_gguf(dir, &job->error) : NULL;
  g_free(dir);
  if (!gguf)
    return FALSE;
  if (st->model && !g_strcmp0(st->gguf, gguf) && !g_strcmp0(st->device, job->device) &&
      st->gpu_layers == job->gpu_layers) {
    g_free(gguf);
    return TRUE;
  }
  state_unload(st); /* one chat model in memory at a time */
  llm_model_params mp = llm_model_default_params();
  mp.n_ctx = chat_context(gguf);
  mp.device = job->device;
  mp.gpu_layers = job->gpu_layers;
  mp.on_warning = on_warning;
  mp.should_abort = should_abort;
  mp.user_data = st;
  char *err = NULL;
  st->model = llm_model_open(gguf, &mp, &err);
  if (!st->model) {
    g_set_error(&job->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err ? err : gguf);
    free(err);
    g_free(gguf);
    return FALSE;
  }
  const llm_hparams *hp = llm_model_hparams(st->model);
  char *base = g_path_get_basename(gguf);
  job->loaded = g_strdup_printf("%s (%s, %d layers, context %d, on %s)", base, hp->arch, hp->n_layer, hp->n_ctx,
                                llm_model_backend_name(st->model));
  g_free(base);
  st->gguf = gguf;
  st->device = g_strdup(job->device);
  st->gpu_layers = job->gpu_layers;
  return TRUE;
}

static gboolean
ensure_session(chat_state *st, chat_job *job)
{
  if (st->session && !g_strcmp0(st->system, job->system) && st->temperature == job->temperature &&
      st->n_predict == job->n_predict)
    return TRUE;
  llm_session_free(st->session);
  st->session = NULL;
  llm_session_params sp = llm_session_default_params();
  sp.system = job->system;
  sp.sampling.temperature = (float)job->temperature;
  sp.n_predict = job->n_predict;
  sp.on_text = on_text;
  sp.should_abort = should_abort;
  sp.user_data = st;
  char *err = NULL;
  st->session = llm_session_new(st->model, &sp, &err);
  if (!st->session) {
    g_set_error(&job->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", st->gguf, err ? err : "no session");
    free(err);
    return FALSE;
  }
  g_free(st->system);
  st->system = g_strdup(job->system);
  st->temperature = job->temperature;
  st->n_predict = job->n_predict;
  return TRUE;
}

static gboolean job_done_on_main(gpointer data);
static void chat_job_free(gpointer data);

static void
run_chat(gpointer state, gpointer data)
{
  chat_state *st = state;
  chat_job *job = data;
  st->slot.job = job;
  if (g_cancellable_set_error_if_cancelled(job->cancellable, &job->error))
    goto out;
  if (!ensure_model(st, job) || !ensure_session(st, job))
    goto out;

  /* The session says what the history says (the KV cache keeps the common start). */
  llm_session_clear_turns(st->session);
  for (guint i = 0; i < job->roles->len; i++) {
    if (llm_session_add_turn(st->session, job->roles->pdata[i], job->texts->pdata[i]) != 0) {
      g_set_error(&job->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", llm_session_errmsg(st->session));
      goto out;
    }
  }
  char *reply = NULL;
  llm_session_stats stats = { 0 };
  int rc = llm_session_chat(st->session, job->user_text, &reply, &stats);
  job->stats = stats;
  if (reply) {
    job->reply = g_strdup(reply);
    free(reply);
  }
  if (rc == KERN_E_ABORTED || (rc == 0 && stats.stop == LLM_STOP_ABORTED))
    g_set_error_literal(&job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Stopped");
  else if (rc != 0)
    g_set_error(&job->error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", llm_session_errmsg(st->session));
out:
  st->slot.job = NULL;
  app_worker_post(st->slot.worker, job_done_on_main, job, chat_job_free);
}

static void
vision_state_free(gpointer data)
{
  vision_state *vs = data;
  app_vision_free(vs->v);
  g_free(vs->model);
  g_free(vs->system);
  g_free(vs->device);
  g_free(vs);
}

/* Opens the image model unless the one open has this job's configuration
 * (app_vision takes its sampling and callbacks when opened). */
static gboolean
ensure_vision(vision_state *vs, chat_job *job)
{
  if (vs->v && !g_strcmp0(vs->model, job->model) && !g_strcmp0(vs->system, job->system) &&
      !g_strcmp0(vs->device, job->device) &&
      vs->temperature == job->temperature && vs->n_predict == job->n_predict)
    return TRUE;
  g_clear_pointer(&vs->v, app_vision_free);
  vs->conversation = 0;
  app_vision_params vp = app_vision_default_params();
  vp.model = job->model;
  vp.device = job->device;
  vp.system = job->system;
  vp.n_predict = job->n_predict;
  vp.sampling.temperature = (float)job->temperature;
  vp.on_text = on_text;
  vp.on_warning = on_warning;
  vp.should_abort = should_abort;
  vp.user_data = vs;
  vs->v = app_vision_open(&vp, &job->error);
  if (!vs->v)
    return FALSE;
  g_free(vs->model);
  vs->model = g_strdup(job->model);
  g_free(vs->system);
  vs->system = g_strdup(job->system);
  g_free(vs->device);
  vs->device = g_strdup(job->device);
  vs->temperature = job->temperature;
  vs->n_predict = job->n_predict;
  job->loaded = g_strdup(app_vision_describe(vs->v));
  return TRUE;
}

static void
run_vision(gpointer state, gpointer data)
{
  vision_state *vs = state;
  chat_job *job = data;
  vs->slot.job = job;
  if (g_cancellable_set_error_if_cancelled(job->cancellable, &job->error) || !ensure_vision(vs, job))
    goto out;
  /* A follow-up when the session holds exactly the conversation before this
   * message; else the conversation is read again, each turn with its images. */
  gboolean follow_up = vs->conversation == job->conversation_id && vs->n_synced == job->roles->len;
  guint first = job->all_images->len - job->n_new_images;
  vs->conversation = 0;
  if (!follow_up) {
    app_vision_forget(vs->v);
    guint at = 0;
    for (guint i = 0; i < job->roles->len; i++) {
      guint n = g_array_index(job->msg_images, guint, i);
      if (!app_vision_add_turn(vs->v, job->roles->pdata[i], job->texts->pdata[i],
                               (const char *const *)job->all_images->pdata + at, (int)n, &job->error))
        goto out;
      at += n;
    }
  }
  char *answer = NULL;
  if (app_vision_ask(vs->v, (const char *const *)job->all_images->pdata + first, (int)(job->all_images->len - first),
                     job->user_text, &answer, &job->stats, &job->error)) {
    job->reply = answer;
    vs->conversation = job->conversation_id;
    vs->n_synced = job->roles->len + 2;
  } else if (g_error_matches(job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    job->reply = g_strdup(job->streamed->str);
  }
out:
  vs->slot.job = NULL;
  app_worker_post(vs->slot.worker, job_done_on_main, job, chat_job_free);
}

/* ---- main thread ---- */

static void
chat_job_free(gpointer data)
{
  chat_job *job = data;
  g_object_unref(job->self);
  g_object_unref(job->task);
  g_object_unref(job->cancellable);
  g_free(job->model), g_free(job->system), g_free(job->device), g_free(job->user_text), g_free(job->reply), g_free(job->loaded);
  g_ptr_array_unref(job->roles);
  g_ptr_array_unref(job->texts);
  g_ptr_array_unref(job->notices);
  if (job->all_images)
    g_ptr_array_unref(job->all_images);
  if (job->msg_images)
    g_array_unref(job->msg_images);
  g_string_free(job->streamed, TRUE);
  g_string_free(job->pending, TRUE);
  g_mutex_clear(&job->lock);
  g_clear_error(&job->error);
  g_free(job);
}

static void
set_busy(HarkChatController *self, GCancellable *running)
{
  g_set_object(&self->running, running);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_BUSY]);
}

/* Writes the reply (also a stopped one that began) and completes the task. */
static gboolean
job_done_on_main(gpointer data)
{
  chat_job *job = data;
  HarkChatController *self = job->self;
  chat_result *res = g_task_get_task_data(job->task);
  if (job->loaded)
    g_signal_emit(self, signals[SIG_MODEL_LOADED], 0, job->loaded);
  for (guint i = 0; i < job->notices->len; i++)
    g_signal_emit(self, signals[SIG_NOTICE], 0, (const char *)job->notices->pdata[i]);

  gboolean stopped = g_error_matches(job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  self->last_stats = job->stats;
  if (g_error_matches(job->error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED)) {
    g_free(self->missing_model);
    self->missing_model = g_strdup(job->model);
  }
  gint64 id = 0;
  GError *error = NULL;
  if ((!job->error || (stopped && job->began)) && job->reply) {
    if (job->replace_id) {
      if (app_history_replace_message(self->history, job->replace_id, job->reply, stopped, &error))
        id = job->replace_id;
    } else {
      id = app_history_add_message(self->history, job->conversation_id, "assistant", job->reply, stopped, NULL,
                                   &error);
    }
    if (id)
      g_signal_emit(self, signals[SIG_HISTORY_CHANGED], 0, job->conversation_id);
  }
  if (self->running == job->cancellable)
    set_busy(self, NULL);
  if (error) {
    g_task_return_error(job->task, error);
  } else if (job->error) {
    res->stopped_id = stopped ? id : 0;
    g_task_return_error(job->task, g_error_copy(job->error));
  } else {
    g_task_return_int(job->task, id);
  }
  return G_SOURCE_REMOVE;
}

/* A job for the reply to `user_text` (with `images`, paths, NULL-terminated,
 * may be NULL) after messages[0..n_before). */
static void
start_job(HarkChatController *self, GTask *task, GCancellable *cancellable, gint64 conversation_id,
          GPtrArray *messages, guint n_before, const char *user_text, const char *const *images, gint64 replace_id)
{
  GError *error = NULL;
  GPtrArray *all_images = g_ptr_array_new_with_free_func(g_free);
  GArray *msg_images = g_array_new(FALSE, FALSE, sizeof(guint));
  for (guint i = 0; i < n_before; i++) {
    const app_message *m = messages->pdata[i];
    guint n = app_message_is_transcript(m) ? 0 : m->attachments->len; /* a transcript's is its audio */
    for (guint k = 0; k < n; k++)
      g_ptr_array_add(all_images, g_strdup(((app_attachment *)m->attachments->pdata[k])->path));
    g_array_append_val(msg_images, n);
  }
  guint n_new = images ? g_strv_length((char **)images) : 0;
  for (guint k = 0; k < n_new; k++)
    g_ptr_array_add(all_images, g_strdup(images[k]));
  gboolean vision = all_images->len > 0;
  if (vision && !self->vision_worker) {
    vision_state *vs = g_new0(vision_state, 1);
    self->vision_worker = app_worker_new("hark-vision", vs, vision_state_free, &error);
    if (!self->vision_worker) {
      g_free(vs);
      g_ptr_array_unref(all_images);
      g_array_unref(msg_images);
      g_task_return_error(task, error);
      return;
    }
    vs->slot.worker = self->vision_worker;
  }

  chat_job *job = g_new0(chat_job, 1);
  job->self = g_object_ref(self);
  job->task = g_object_ref(task);
  job->cancellable = cancellable ? g_object_ref(cancellable) : g_cancellable_new();
  job->conversation_id = conversation_id;
  job->replace_id = replace_id;
  job->vision = vision;
  job->all_images = all_images;
  job->msg_images = msg_images;
  job->n_new_images = n_new;
  job->streamed = g_string_new(NULL);
  job->model = g_strdup(vision ? hark_chat_controller_get_vision_model(self) : hark_chat_controller_get_model(self));
  job->system = self->system && self->system[0] ? g_strdup(self->system) : NULL;
  job->device = g_strdup(self->device && self->device[0] ? self->device : "auto");
  job->gpu_layers = self->gpu_layers;
  job->temperature = self->temperature;
  job->n_predict = self->n_predict;
  job->roles = g_ptr_array_new_with_free_func(g_free);
  job->texts = g_ptr_array_new_with_free_func(g_free);
  job->notices = g_ptr_array_new_with_free_func(g_free);
  g_mutex_init(&job->lock);
  job->pending = g_string_new(NULL);
  for (guint i = 0; i < n_before; i++) {
    const app_message *m = messages->pdata[i];
    g_ptr_array_add(job->roles, g_strdup(m->role));
    g_ptr_array_add(job->texts, g_strdup(m->text));
  }
  job->user_text = g_strdup(user_text);
  set_busy(self, job->cancellable);
  if (vision)
    app_worker_push(self->vision_worker, run_vision, job);
  else
    app_worker_push(self->worker, run_chat, job);
}

static GTask *
new_task(HarkChatController *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
         gpointer tag)
{
  GTask *task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, tag);
  g_task_set_task_data(task, g_new0(chat_result, 1), g_free);
  /* The reply is stored whether or not the caller still waits; the caller
   * learns of a cancel through the job's error, not GTask's shortcut. */
  g_task_set_check_cancellable(task, FALSE);
  return task;
}

static gboolean
check_idle(HarkChatController *self, GTask *task)
{
  if (!self->running)
    return TRUE;
  g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_BUSY, "a reply is being written; stop it or wait for it");
  return FALSE;
}

char *
hark_chat_controller_title_for(const char *text)
{
  const char *start = text;
  while (*start && g_unichar_isspace(g_utf8_get_char(start)))
    start = g_utf8_next_char(start);
  const char *nl = strchr(start, '\n');
  char *line = g_strstrip(nl ? g_strndup(start, (gsize)(nl - start)) : g_strdup(start));
  if (g_utf8_strlen(line, -1) <= 48)
    return line;
  char *cut = g_utf8_offset_to_pointer(line, 48);
  char *space = g_utf8_strrchr(line, (gssize)(cut - line), ' ');
  if (space && space - line >= 24)
    cut = space;
  *cut = 0;
  char *title = g_strconcat(g_strchomp(line), "…", NULL);
  g_free(line);
  return title;
}

void
hark_chat_controller_send_async(HarkChatController *self, gint64 conversation_id, const char *text,
                                const char *const *images, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail(HARK_IS_CHAT_CONTROLLER(self));
  g_return_if_fail(text != NULL);
  GTask *task = new_task(self, cancellable, callback, user_data, hark_chat_controller_send_async);
  GError *error = NULL;
  GPtrArray *messages = NULL;
  if (!check_idle(self, task))
    goto out;
  app_conversation *conv = app_history_get_conversation(self->history, conversation_id, &error);
  if (!conv)
    goto fail;
  if (!conv->title[0]) {
    char *title = hark_chat_controller_title_for(text);
    app_history_set_title(self->history, conversation_id, title, NULL);
    g_free(title);
  }
  app_conversation_free(conv);
  if (!app_history_add_message(self->history, conversation_id, "user", text, FALSE, images, &error) ||
      !(messages = app_history_messages(self->history, conversation_id, &error)))
    goto fail;
  g_signal_emit(self, signals[SIG_HISTORY_CHANGED], 0, conversation_id);
  start_job(self, task, cancellable, conversation_id, messages, messages->len - 1, text, images, 0);
  goto out;
fail:
  g_task_return_error(task, error);
out:
  if (messages)
    g_ptr_array_unref(messages);
  g_object_unref(task);
}

static gint64
finish(HarkChatController *self, GAsyncResult *result, gpointer tag, gint64 *stopped_id, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), 0);
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == tag, 0);
  chat_result *res = g_task_get_task_data(G_TASK(result));
  if (stopped_id)
    *stopped_id = res->stopped_id;
  gssize id = g_task_propagate_int(G_TASK(result), error);
  return id < 0 ? 0 : id;
}

gint64
hark_chat_controller_send_finish(HarkChatController *self, GAsyncResult *result, gint64 *stopped_id,
                                 GError **error)
{
  return finish(self, result, hark_chat_controller_send_async, stopped_id, error);
}

void
hark_chat_controller_regenerate_async(HarkChatController *self, gint64 conversation_id,
                                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HARK_IS_CHAT_CONTROLLER(self));
  GTask *task = new_task(self, cancellable, callback, user_data, hark_chat_controller_regenerate_async);
  GError *error = NULL;
  GPtrArray *messages = NULL;
  if (!check_idle(self, task))
    goto out;
  if (!(messages = app_history_messages(self->history, conversation_id, &error))) {
    g_task_return_error(task, error);
    goto out;
  }
  guint n = messages->len;
  const app_message *last = n ? messages->pdata[n - 1] : NULL;
  /* A transcript is not a reply: it is never generated again. */
  const app_message *user = last && !strcmp(last->role, "user") ? last
                            : n >= 2 && !app_message_is_transcript(last) &&
                                  !strcmp(((app_message *)messages->pdata[n - 2])->role, "user")
                              ? messages->pdata[n - 2]
                              : NULL;
  if (user) {
    char **images = g_new0(char *, user->attachments->len + 1);
    for (guint k = 0; k < user->attachments->len; k++)
      images[k] = ((app_attachment *)user->attachments->pdata[k])->path;
    start_job(self, task, cancellable, conversation_id, messages, user == last ? n - 1 : n - 2, user->text,
              (const char *const *)images, user == last ? 0 : last->id);
    g_free(images);
  } else {
    g_task_return_new_error(task, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID,
                            "the conversation has no reply to generate again");
  }
out:
  if (messages)
    g_ptr_array_unref(messages);
  g_object_unref(task);
}

gint64
hark_chat_controller_regenerate_finish(HarkChatController *self, GAsyncResult *result, gint64 *stopped_id,
                                       GError **error)
{
  return finish(self, result, hark_chat_controller_regenerate_async, stopped_id, error);
}

/* ---- installing the model ---- */

typedef struct {
  HarkChatController *self; /* ref */
  GTask *task;              /* ref */
  app_worker *worker;
  char *model;
  GError *error;
} install_job;

static void
on_install_progress(const app_models_progress *pr, void *user_data)
{
  install_job *job = user_data;
  double fraction = pr->total ? CLAMP((double)pr->done / (double)pr->total, 0.0, 1.0) : 0.0;
  post_progress(job->worker, job->self, fraction, g_strdup(pr->file));
}

static gboolean
install_done_on_main(gpointer data)
{
  install_job *job = data;
  if (job->error)
    g_task_return_error(job->task, g_steal_pointer(&job->error));
  else
    g_task_return_boolean(job->task, TRUE);
  return G_SOURCE_REMOVE;
}

static void
install_job_free(gpointer data)
{
  install_job *job = data;
  g_object_unref(job->self);
  g_object_unref(job->task);
  g_free(job->model);
  g_clear_error(&job->error);
  g_free(job);
}

static void
run_install(gpointer state, gpointer data)
{
  install_job *job = data;
  app_catalog *cat = app_catalog_load(NULL, &job->error);
  const app_model_info *info = cat ? app_catalog_find(cat, job->model) : NULL;
  if (cat && !info)
    g_set_error(&job->error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN, "%s is not a model of the catalog",
                job->model);
  if (info) {
    app_models_install_params ip = app_models_install_default_params();
    ip.on_progress = on_install_progress;
    ip.user_data = job;
    app_models_install(info, &ip, g_task_get_cancellable(job->task), &job->error);
  }
  if (cat)
    app_catalog_free(cat);
  app_worker_post(job->worker, install_done_on_main, job, install_job_free);
}

const llm_session_stats *
hark_chat_controller_get_last_stats(HarkChatController *self)
{
  g_return_val_if_fail(HARK_IS_CHAT_CONTROLLER(self), NULL);
  return &self->last_stats;
}

const char *
hark_chat_controller_get_missing_model(HarkChatController *self)
{
  g_return_val_if_fail(HARK_IS_CHAT_CONTROLLER(self), NULL);
  return self->missing_model;
}

void
hark_chat_controller_install_model_async(HarkChatController *self, const char *model, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HARK_IS_CHAT_CONTROLLER(self));
  GTask *task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, hark_chat_controller_install_model_async);
  GError *error = NULL;
  if (!self->installer && !(self->installer = app_worker_new("hark-install", NULL, NULL, &error))) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  install_job *job = g_new0(install_job, 1);
  job->self = g_object_ref(self);
  job->task = task;
  job->worker = self->installer;
  job->model = g_strdup(model ? model : hark_chat_controller_get_model(self));
  app_worker_push(self->installer, run_install, job);
}

gboolean
hark_chat_controller_install_model_finish(HarkChatController *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- GObject ---- */

HarkChatController *
hark_chat_controller_new(app_history *history, GError **error)
{
  g_return_val_if_fail(history != NULL, NULL);
  HarkChatController *self = g_object_new(HARK_TYPE_CHAT_CONTROLLER, NULL);
  self->history = history;
  self->state = g_new0(chat_state, 1);
  self->worker = app_worker_new("hark-chat", self->state, state_free, error);
  if (!self->worker) {
    g_free(self->state);
    self->state = NULL;
    g_object_unref(self);
    return NULL;
  }
  self->state->slot.worker = self->worker;
  return self;
}

app_history *
hark_chat_controller_get_history(HarkChatController *self)
{
  g_return_val_if_fail(HARK_IS_CHAT_CONTROLLER(self), NULL);
  return self->history;
}

void
hark_chat_controller_set_model(HarkChatController *self, const char *model)
{
  g_return_if_fail(HARK_IS_CHAT_CONTROLLER(self));
  if (!g_strcmp0(self->model, model))
    return;
  g_free(self->model);
  self->model = g_strdup(model);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_MODEL]);
}

void
hark_chat_controller_set_vision_model(HarkChatController *self, const char *model)
{
  g_return_if_fail(HARK_IS_CHAT_CONTROLLER(self));
  if (!g_strcmp0(self->vision_model, model))
    return;
  g_free(self->vision_model);
  self->vision_model = g_strdup(model);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_VISION_MODEL]);
}

const char *
hark_chat_controller_get_vision_model(HarkChatController *self)
{
  g_return_val_if_fail(HARK_IS_CHAT_CONTROLLER(self), NULL);
  return self->vision_model && self->vision_model[0] ? self->vision_model : HARK_VISION_DEFAULT_MODEL;
}

const char *
hark_chat_controller_get_model(HarkChatController *self)
{
  g_return_val_if_fail(HARK_IS_CHAT_CONTROLLER(self), NULL);
  return self->model && self->model[0] ? self->model : HARK_CHAT_DEFAULT_MODEL;
}

gboolean
hark_chat_controller_get_busy(HarkChatController *self)
{
  g_return_val_if_fail(HARK_IS_CHAT_CONTROLLER(self), FALSE);
  return self->running != NULL;
}

static void
hark_chat_controller_dispose(GObject *object)
{
  HarkChatController *self = HARK_CHAT_CONTROLLER(object);
  /* A running job holds a reference, so nothing runs by now; the worker
   * frees the model on its own thread. */
  g_clear_pointer(&self->worker, app_worker_free);
  g_clear_pointer(&self->installer, app_worker_free);
  g_clear_pointer(&self->vision_worker, app_worker_free);
  self->state = NULL;
  g_clear_object(&self->running);
  G_OBJECT_CLASS(hark_chat_controller_parent_class)->dispose(object);
}

static void
hark_chat_controller_finalize(GObject *object)
{
  HarkChatController *self = HARK_CHAT_CONTROLLER(object);
  g_free(self->model);
  g_free(self->vision_model);
  g_free(self->missing_model);
  g_free(self->system);
  g_free(self->device);
  G_OBJECT_CLASS(hark_chat_controller_parent_class)->finalize(object);
}

static void
hark_chat_controller_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  HarkChatController *self = HARK_CHAT_CONTROLLER(object);
  switch (id) {
  case PROP_MODEL: g_value_set_string(value, hark_chat_controller_get_model(self)); break;
  case PROP_VISION_MODEL: g_value_set_string(value, hark_chat_controller_get_vision_model(self)); break;
  case PROP_SYSTEM_PROMPT: g_value_set_string(value, self->system); break;
  case PROP_TEMPERATURE: g_value_set_double(value, self->temperature); break;
  case PROP_N_PREDICT: g_value_set_int(value, self->n_predict); break;
  case PROP_BUSY: g_value_set_boolean(value, self->running != NULL); break;
  case PROP_DEVICE: g_value_set_string(value, self->device); break;
  case PROP_GPU_LAYERS: g_value_set_int(value, self->gpu_layers); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
hark_chat_controller_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  HarkChatController *self = HARK_CHAT_CONTROLLER(object);
  switch (id) {
  case PROP_MODEL: hark_chat_controller_set_model(self, g_value_get_string(value)); break;
  case PROP_VISION_MODEL: hark_chat_controller_set_vision_model(self, g_value_get_string(value)); break;
  case PROP_SYSTEM_PROMPT:
    g_free(self->system);
    self->system = g_value_dup_string(value);
    break;
  case PROP_TEMPERATURE: self->temperature = g_value_get_double(value); break;
  case PROP_N_PREDICT: self->n_predict = g_value_get_int(value); break;
  case PROP_DEVICE:
    g_free(self->device);
    self->device = g_value_dup_string(value);
    break;
  case PROP_GPU_LAYERS: self->gpu_layers = g_value_get_int(value); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
hark_chat_controller_class_init(HarkChatControllerClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  oc->dispose = hark_chat_controller_dispose;
  oc->finalize = hark_chat_controller_finalize;
  oc->get_property = hark_chat_controller_get_property;
  oc->set_property = hark_chat_controller_set_property;
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  props[PROP_MODEL] = g_param_spec_string("model", NULL, NULL, HARK_CHAT_DEFAULT_MODEL, rw);
  props[PROP_VISION_MODEL] = g_param_spec_string("vision-model", NULL, NULL, HARK_VISION_DEFAULT_MODEL, rw);
  props[PROP_SYSTEM_PROMPT] = g_param_spec_string("system-prompt", NULL, NULL, NULL,
                                                  G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  props[PROP_TEMPERATURE] = g_param_spec_double("temperature", NULL, NULL, 0, 2, 0.7,
                                                G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_CONSTRUCT);
  props[PROP_N_PREDICT] = g_param_spec_int("n-predict", NULL, NULL, 0, G_MAXINT, 0,
                                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  props[PROP_BUSY] = g_param_spec_boolean("busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_DEVICE] = g_param_spec_string("device", NULL, NULL, "auto",
                                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_CONSTRUCT);
  props[PROP_GPU_LAYERS] = g_param_spec_int("gpu-layers", NULL, NULL, -1, G_MAXINT, -1,
                                            G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_CONSTRUCT);
  g_object_class_install_properties(oc, N_PROPS, props);

  signals[SIG_REPLY_TEXT] = g_signal_new("reply-text", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_STRING);
  signals[SIG_HISTORY_CHANGED] = g_signal_new("history-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                              NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  signals[SIG_NOTICE] = g_signal_new("notice", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                     G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_INSTALL_PROGRESS] = g_signal_new("install-progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_DOUBLE, G_TYPE_STRING);
  signals[SIG_MODEL_LOADED] = g_signal_new("model-loaded", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                           NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
hark_chat_controller_init(HarkChatController *self)
{
}
