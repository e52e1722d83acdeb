/* app-model-manager.c: HarkModelManager: the catalog on the main thread,
 * installs on a worker thread, their progress posted back. */
#include "app-model-manager.h"

#include "app-worker.h"

/* One install: made on the main thread, run on the worker, ended on the main thread. */
typedef struct {
  HarkModelManager *self; /* ref */
  char *name;
  const app_model_info *info; /* lives as long as the manager's catalog */
  GCancellable *cancellable;  /* ref; never NULL */
  GPtrArray *tasks;           /* GTask*: everyone waiting for it */
  double fraction;            /* main thread's copy */
  GError *error;              /* set on the worker */
} install;

/* A progress report, copied on the worker. */
typedef struct {
  install *inst; /* alive: its end is posted after this */
  double fraction;
  char *file;
} progress_msg;

struct _HarkModelManager {
  GObject parent_instance;
  app_catalog *catalog;
  GError *catalog_error;
  app_worker *worker;
  GHashTable *installs; /* name -> install* (borrowed: the job owns it) */
};

G_DEFINE_FINAL_TYPE(HarkModelManager, hark_model_manager, G_TYPE_OBJECT)

enum { SIG_CHANGED, SIG_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
install_free(gpointer data)
{
  install *inst = data;
  g_object_unref(inst->self);
  g_free(inst->name);
  g_object_unref(inst->cancellable);
  g_ptr_array_unref(inst->tasks);
  g_clear_error(&inst->error);
  g_free(inst);
}

static void
progress_msg_free(gpointer data)
{
  progress_msg *m = data;
  g_free(m->file);
  g_free(m);
}

static gboolean
emit_progress(gpointer data)
{
  progress_msg *m = data;
  m->inst->fraction = m->fraction;
  g_signal_emit(m->inst->self, signals[SIG_PROGRESS], 0, m->inst->name, m->fraction, m->file);
  return G_SOURCE_REMOVE;
}

/* On the worker thread. */
static void
on_progress(const app_models_progress *p, void *user_data)
{
  install *inst = user_data;
  progress_msg *m = g_new0(progress_msg, 1);
  m->inst = inst;
  m->fraction = p->total ? CLAMP((double)p->done / (double)p->total, 0.0, 1.0) : 0.0;
  m->file = g_strdup(p->file);
  app_worker_post(inst->self->worker, emit_progress, m, progress_msg_free);
}

static gboolean
install_done(gpointer data)
{
  install *inst = data;
  HarkModelManager *self = inst->self;
  g_hash_table_remove(self->installs, inst->name);
  for (guint i = 0; i < inst->tasks->len; i++) {
    GTask *task = inst->tasks->pdata[i];
    if (inst->error)
      g_task_return_error(task, g_error_copy(inst->error));
    else
      g_task_return_boolean(task, TRUE);
  }
  g_signal_emit(self, signals[SIG_CHANGED], 0, inst->name);
  return G_SOURCE_REMOVE;
}

static void
run_install(gpointer state, gpointer data)
{
  install *inst = data;
  /* Cancelled while it waited in the queue: nothing was fetched. */
  if (!g_cancellable_set_error_if_cancelled(inst->cancellable, &inst->error)) {
    app_models_install_params ip = app_models_install_default_params();
    ip.on_progress = on_progress;
    ip.user_data = inst;
    app_models_install(inst->info, &ip, inst->cancellable, &inst->error);
  }
  app_worker_post(inst->self->worker, install_done, inst, install_free);
}

/* ---- public ---- */

HarkModelManager *
hark_model_manager_new(GError **error)
{
  HarkModelManager *self = g_object_new(HARK_TYPE_MODEL_MANAGER, NULL);
  self->worker = app_worker_new("hark-models", NULL, NULL, error);
  if (!self->worker) {
    g_object_unref(self);
    return NULL;
  }
  return self;
}

HarkModelManager *
hark_model_manager_get_default(void)
{
  static HarkModelManager *manager;
  if (!manager) {
    GError *error = NULL;
    manager = hark_model_manager_new(&error);
    if (!manager)
      g_error("cannot start the model installer: %s", error->message); /* no threads: nothing works */
  }
  return manager;
}

const app_catalog *
hark_model_manager_get_catalog(HarkModelManager *self, GError **error)
{
  g_return_val_if_fail(HARK_IS_MODEL_MANAGER(self), NULL);
  if (!self->catalog && !self->catalog_error)
    self->catalog = app_catalog_load(NULL, &self->catalog_error);
  if (!self->catalog && error)
    *error = g_error_copy(self->catalog_error);
  return self->catalog;
}

gboolean
hark_model_manager_is_installed(HarkModelManager *self, const char *name)
{
  g_return_val_if_fail(HARK_IS_MODEL_MANAGER(self), FALSE);
  char *dir = name ? app_models_installed_dir(name) : NULL;
  g_free(dir);
  return dir != NULL;
}

gboolean
hark_model_manager_is_available(HarkModelManager *self, const char *name_or_path)
{
  g_return_val_if_fail(HARK_IS_MODEL_MANAGER(self), FALSE);
  if (!name_or_path || !name_or_path[0])
    return FALSE;
  char *path = app_models_resolve(name_or_path, NULL);
  g_free(path);
  return path != NULL;
}

gboolean
hark_model_manager_is_installing(HarkModelManager *self, const char *name, double *fraction)
{
  g_return_val_if_fail(HARK_IS_MODEL_MANAGER(self), FALSE);
  install *inst = name ? g_hash_table_lookup(self->installs, name) : NULL;
  if (fraction)
    *fraction = inst ? inst->fraction : 0.0;
  return inst != NULL;
}

static void
cancel_cb(GCancellable *caller, GCancellable *own)
{
  g_cancellable_cancel(own);
}

void
hark_model_manager_install_async(HarkModelManager *self, const char *name, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HARK_IS_MODEL_MANAGER(self));
  g_return_if_fail(name != NULL);
  GTask *task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, hark_model_manager_install_async);
  install *inst = g_hash_table_lookup(self->installs, name);
  if (!inst) {
    GError *error = NULL;
    const app_catalog *cat = hark_model_manager_get_catalog(self, &error);
    const app_model_info *info = cat ? app_catalog_find(cat, name) : NULL;
    if (cat && !info)
      g_set_error(&error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN, "%s is not a model of the catalog", name);
    if (!info) {
      g_task_return_error(task, error);
      g_object_unref(task);
      return;
    }
    inst = g_new0(install, 1);
    inst->self = g_object_ref(self);
    inst->name = g_strdup(name);
    inst->info = info;
    inst->cancellable = g_cancellable_new();
    inst->tasks = g_ptr_array_new_with_free_func(g_object_unref);
    g_hash_table_insert(self->installs, inst->name, inst);
    app_worker_push(self->worker, run_install, inst);
  }
  g_ptr_array_add(inst->tasks, task);
  /* The caller's Cancel stops the install it started or joined. The
   * handler goes with the caller's cancellable, which the task keeps. */
  if (cancellable)
    g_cancellable_connect(cancellable, G_CALLBACK(cancel_cb), g_object_ref(inst->cancellable), g_object_unref);
  if (inst->tasks->len == 1)
    g_signal_emit(self, signals[SIG_CHANGED], 0, name);
}

gboolean
hark_model_manager_install_finish(HarkModelManager *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
hark_model_manager_cancel(HarkModelManager *self, const char *name)
{
  g_return_if_fail(HARK_IS_MODEL_MANAGER(self));
  install *inst = name ? g_hash_table_lookup(self->installs, name) : NULL;
  if (inst)
    g_cancellable_cancel(inst->cancellable);
}

gboolean
hark_model_manager_remove(HarkModelManager *self, const char *name, GError **error)
{
  g_return_val_if_fail(HARK_IS_MODEL_MANAGER(self), FALSE);
  if (g_hash_table_contains(self->installs, name)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "%s is being installed; cancel the install first", name);
    return FALSE;
  }
  if (!app_models_remove(name, error))
    return FALSE;
  g_signal_emit(self, signals[SIG_CHANGED], 0, name);
  return TRUE;
}

/* ---- GObject ---- */

static void
hark_model_manager_dispose(GObject *object)
{
  HarkModelManager *self = HARK_MODEL_MANAGER(object);
  /* A queued install holds a reference, so none is left by now. */
  g_clear_pointer(&self->worker, app_worker_free);
  G_OBJECT_CLASS(hark_model_manager_parent_class)->dispose(object);
}

static void
hark_model_manager_finalize(GObject *object)
{
  HarkModelManager *self = HARK_MODEL_MANAGER(object);
  g_hash_table_unref(self->installs);
  g_clear_pointer(&self->catalog, app_catalog_free);
  g_clear_error(&self->catalog_error);
  G_OBJECT_CLASS(hark_model_manager_parent_class)->finalize(object);
}

static void
hark_model_manager_class_init(HarkModelManagerClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  oc->dispose = hark_model_manager_dispose;
  oc->finalize = hark_model_manager_finalize;
  signals[SIG_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_PROGRESS] = g_signal_new("progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_DOUBLE, G_TYPE_STRING);
}

static void
hark_model_manager_init(HarkModelManager *self)
{
  self->installs = g_hash_table_new(g_str_hash, g_str_equal);
}
