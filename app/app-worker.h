/* app-worker.h: a thread that owns one loaded model and runs its jobs in order.
 *
 * Each loaded model lives on its own GThread fed by a GAsyncQueue of jobs
 * (a long job has no place in GTask's shared pool). The worker keeps an
 * opaque `state` (the model and its session) that only the worker thread
 * touches; a job runs with that state and reports back by posting to the
 * main context captured when the worker was made (app_worker_post).
 *
 * Threads: app_worker_new, _push and _free on the owner's thread (the one
 * whose thread-default main context is captured); jobs and free_state run on
 * the worker thread (which has a thread-default main context of its own);
 * app_worker_post from any thread other than the owner's, and its function
 * always runs on the owner's thread, later.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct app_worker app_worker;

/* A job, run on the worker thread with the worker's state. `job` is what was
 * pushed; the function owns it (frees it, or hands it back to the main
 * context through app_worker_post). */
typedef void (*app_worker_func)(gpointer state, gpointer job);

/* Starts the thread. `free_state` (may be NULL) runs on the worker thread when
 * it stops, after the last job. NULL with an error when no thread can be made. */
app_worker *app_worker_new(const char *name, gpointer state, GDestroyNotify free_state, GError **error);

/* Queues `job` for `func`; jobs run one at a time, in the order pushed. */
void app_worker_push(app_worker *w, app_worker_func func, gpointer job);

/* Runs `func(data)` on the main context captured by app_worker_new (from
 * any thread), then `destroy(data)` if not NULL. Posts keep their order. */
void app_worker_post(app_worker *w, GSourceFunc func, gpointer data, GDestroyNotify destroy);

/* Lets the queued jobs run (cancel them first to make that quick), stops the
 * thread after them, waits for it and frees the worker. NULL is allowed. */
void app_worker_free(app_worker *w);

G_END_DECLS
