/* test-app-worker.c: the model worker thread: jobs run in order on one
 * thread, posts run on the main thread in the order posted (also when the
 * main thread is not iterating its loop as they are posted), and the state
 * is freed on the worker after the last job. */
#include "app-worker.h"

typedef struct {
  GThread *main_thread;
  GThread *worker_thread;   /* where the jobs ran */
  GThread *freed_on;        /* where free_state ran */
  GAsyncQueue *posted;      /* the job says "posted" here */
  GArray *order;            /* ints, as the posts ran */
  gboolean wrong_thread;    /* a post ran off the main thread */
  int jobs_run;
} fixture;

typedef struct {
  app_worker *w;
  fixture *f;
  int n;
} job;

static gboolean
post_cb(gpointer data)
{
  job *j = data;
  if (g_thread_self() != j->f->main_thread)
    j->f->wrong_thread = TRUE;
  g_array_append_val(j->f->order, j->n);
  return G_SOURCE_REMOVE;
}

static void
run_job(gpointer state, gpointer data)
{
  job *j = data;
  fixture *f = state;
  g_assert_true(f == j->f);
  if (f->worker_thread && f->worker_thread != g_thread_self())
    f->wrong_thread = TRUE;
  f->worker_thread = g_thread_self();
  g_assert_cmpint(f->jobs_run++, ==, j->n);
  app_worker_post(j->w, post_cb, j, g_free);
  g_async_queue_push(f->posted, GINT_TO_POINTER(1));
}

static void
free_state(gpointer state)
{
  fixture *f = state;
  f->freed_on = g_thread_self();
}

static void
test_worker(void)
{
  fixture f = { .main_thread = g_thread_self() };
  f.posted = g_async_queue_new();
  f.order = g_array_new(FALSE, FALSE, sizeof(int));
  GError *error = NULL;
  app_worker *w = app_worker_new("test-worker", &f, free_state, &error);
  g_assert_no_error(error);
  enum { N = 50 };
  for (int i = 0; i < N; i++) {
    job *j = g_new0(job, 1);
    *j = (job){ w, &f, i };
    app_worker_push(w, run_job, j);
  }
  /* Every job has posted while this thread was not running the loop: none
   * of the posts may have run yet, and none on the worker. */
  for (int i = 0; i < N; i++)
    g_async_queue_pop(f.posted);
  g_assert_cmpuint(f.order->len, ==, 0);
  while (g_main_context_pending(NULL))
    g_main_context_iteration(NULL, FALSE);
  g_assert_false(f.wrong_thread);
  g_assert_cmpuint(f.order->len, ==, N);
  for (int i = 0; i < N; i++)
    g_assert_cmpint(g_array_index(f.order, int, i), ==, i);
  g_assert_true(f.worker_thread != f.main_thread);

  app_worker_free(w);
  g_assert_true(f.freed_on == f.worker_thread);
  g_async_queue_unref(f.posted);
  g_array_unref(f.order);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/app/worker/order-and-threads", test_worker);
  return g_test_run();
}
