/* app-worker.c: one GThread per loaded model, fed by a GAsyncQueue. */
#include "app-worker.h"

struct app_worker {
  GThread *thread;
  GAsyncQueue *queue; /* worker_item* */
  GMainContext *main_context;
  gpointer state;
  GDestroyNotify free_state;
};

typedef struct {
  app_worker_func func; /* NULL: stop */
  gpointer job;
} worker_item;

static gpointer
worker_main(gpointer data)
{
  app_worker *w = data;
  /* A context of the worker's own as its thread-default: without it, the
   * global default context counts as this thread's too, and
   * g_main_context_invoke_full() would run a post right here (having
   * acquired the context while the main thread was between iterations)
   * instead of on the main thread. */
  GMainContext *own = g_main_context_new();
  g_main_context_push_thread_default(own);
  for (;;) {
    worker_item *item = g_async_queue_pop(w->queue);
    app_worker_func func = item->func;
    gpointer job = item->job;
    g_free(item);
    if (!func)
      break;
    func(w->state, job);
  }
  if (w->free_state)
    w->free_state(w->state);
  g_main_context_pop_thread_default(own);
  g_main_context_unref(own);
  return NULL;
}

app_worker *
app_worker_new(const char *name, gpointer state, GDestroyNotify free_state, GError **error)
{
  app_worker *w = g_new0(app_worker, 1);
  w->queue = g_async_queue_new();
  w->main_context = g_main_context_ref_thread_default();
  w->state = state;
  w->free_state = free_state;
  w->thread = g_thread_try_new(name, worker_main, w, error);
  if (!w->thread) {
    g_async_queue_unref(w->queue);
    g_main_context_unref(w->main_context);
    g_free(w);
    return NULL;
  }
  return w;
}

void
app_worker_push(app_worker *w, app_worker_func func, gpointer job)
{
  g_return_if_fail(w && func);
  worker_item *item = g_new0(worker_item, 1);
  item->func = func;
  item->job = job;
  g_async_queue_push(w->queue, item);
}

void
app_worker_post(app_worker *w, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  /* One priority for every post, so they dispatch in the order posted. */
  g_main_context_invoke_full(w->main_context, G_PRIORITY_DEFAULT, func, data, destroy);
}

void
app_worker_free(app_worker *w)
{
  if (!w)
    return;
  g_async_queue_push(w->queue, g_new0(worker_item, 1));
  g_thread_join(w->thread);
  g_async_queue_unref(w->queue);
  g_main_context_unref(w->main_context);
  g_free(w);
}
