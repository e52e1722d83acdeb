/* test-app-model-manager.c: HarkModelManager without GTK: the catalog, an
 * install from tests/fake-pip's wheels with its progress and "changed"
 * signals, joining an install, a failing install, Cancel before the install
 * ran, removal and its errors. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "app-model-manager.h"
#include "test-util.h"

static char *tmp_home;

typedef struct {
  int n_done;
  gboolean ok[4];
  GError *error[4];
  int n_progress;
  double last_fraction;
  GPtrArray *changed; /* names, in order */
} watch;

static void
progress_cb(HarkModelManager *mm, const char *name, double fraction, const char *file, watch *w)
{
  g_assert_cmpfloat(fraction, >=, w->last_fraction);
  g_assert_cmpfloat(fraction, <=, 1.0);
  double f = -1;
  g_assert_true(hark_model_manager_is_installing(mm, name, &f));
  g_assert_cmpfloat(f, ==, fraction);
  w->last_fraction = fraction;
  w->n_progress++;
}

static void
changed_cb(HarkModelManager *mm, const char *name, watch *w)
{
  g_ptr_array_add(w->changed, g_strdup(name));
}

static void
done_cb(GObject *source, GAsyncResult *res, gpointer data)
{
  watch *w = data;
  int i = w->n_done++;
  w->ok[i] = hark_model_manager_install_finish(HARK_MODEL_MANAGER(source), res, &w->error[i]);
}

static void
wait_done(watch *w, int n)
{
  while (w->n_done < n)
    g_main_context_iteration(NULL, TRUE);
}

static HarkModelManager *
new_manager(watch *w)
{
  GError *error = NULL;
  HarkModelManager *mm = hark_model_manager_new(&error);
  g_assert_no_error(error);
  memset(w, 0, sizeof *w);
  w->changed = g_ptr_array_new_with_free_func(g_free);
  g_signal_connect(mm, "progress", G_CALLBACK(progress_cb), w);
  g_signal_connect(mm, "changed", G_CALLBACK(changed_cb), w);
  return mm;
}

static void
free_watch(watch *w)
{
  for (int i = 0; i < 4; i++)
    g_clear_error(&w->error[i]);
  g_ptr_array_unref(w->changed);
}

static void
test_catalog(void)
{
  watch w;
  HarkModelManager *mm = new_manager(&w);
  GError *error = NULL;
  const app_catalog *cat = hark_model_manager_get_catalog(mm, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(app_catalog_n_models(cat), ==, 3);
  g_assert_cmpstr(app_catalog_model(cat, 1)->name, ==, "test-chat");
  g_assert_true(hark_model_manager_get_catalog(mm, NULL) == cat); /* loaded once */
  g_assert_false(hark_model_manager_is_installed(mm, "test-chat"));
  g_assert_false(hark_model_manager_is_available(mm, "test-chat"));
  g_assert_false(hark_model_manager_is_available(mm, ""));
  g_assert_false(hark_model_manager_is_installing(mm, "test-chat", NULL));
  /* A path that is there counts as available, a catalog name needs installing. */
  g_assert_true(hark_model_manager_is_available(mm, g_getenv("HARK_CATALOG")));
  g_object_unref(mm);
  free_watch(&w);
}

static void
test_install_remove(void)
{
  watch w;
  HarkModelManager *mm = new_manager(&w);
  hark_model_manager_install_async(mm, "test-speech", NULL, done_cb, &w);
  /* Asking again while it runs joins the same install. */
  hark_model_manager_install_async(mm, "test-speech", NULL, done_cb, &w);
  g_assert_true(hark_model_manager_is_installing(mm, "test-speech", NULL));
  /* Removing what is being installed is refused. */
  GError *error = NULL;
  g_assert_false(hark_model_manager_remove(mm, "test-speech", &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error(&error);
  wait_done(&w, 2);
  g_assert_true(w.ok[0] && w.ok[1]);
  g_assert_no_error(w.error[0]);
  g_assert_cmpint(w.n_progress, >=, 2); /* once per finished file at least */
  g_assert_cmpfloat(w.last_fraction, ==, 1.0);
  g_assert_false(hark_model_manager_is_installing(mm, "test-speech", NULL));
  g_assert_true(hark_model_manager_is_installed(mm, "test-speech"));
  g_assert_true(hark_model_manager_is_available(mm, "test-speech"));
  /* "changed" when it began and when it ended. */
  g_assert_cmpuint(w.changed->len, ==, 2);
  g_assert_cmpstr(w.changed->pdata[1], ==, "test-speech");

  g_assert_true(hark_model_manager_remove(mm, "test-speech", &error));
  g_assert_no_error(error);
  g_assert_false(hark_model_manager_is_installed(mm, "test-speech"));
  g_assert_cmpuint(w.changed->len, ==, 3);
  g_assert_false(hark_model_manager_remove(mm, "test-speech", &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_clear_error(&error);
  g_object_unref(mm);
  free_watch(&w);
}

static void
test_install_errors(void)
{
  watch w;
  HarkModelManager *mm = new_manager(&w);
  hark_model_manager_install_async(mm, "no-such-model", NULL, done_cb, &w);
  hark_model_manager_install_async(mm, "test-missing", NULL, done_cb, &w);
  /* Cancelled before its turn: nothing is fetched. */
  GCancellable *cancel = g_cancellable_new();
  hark_model_manager_install_async(mm, "test-chat", cancel, done_cb, &w);
  g_cancellable_cancel(cancel);
  wait_done(&w, 3);
  g_assert_error(w.error[0], APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN);
  g_assert_error(w.error[1], APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH);
  g_assert_error(w.error[2], G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false(hark_model_manager_is_installed(mm, "test-missing"));
  g_assert_false(hark_model_manager_is_installed(mm, "test-chat"));
  g_assert_false(hark_model_manager_is_installing(mm, "test-chat", NULL));
  /* The same install again, not cancelled, works. */
  hark_model_manager_install_async(mm, "test-chat", NULL, done_cb, &w);
  wait_done(&w, 4);
  g_assert_no_error(w.error[3]);
  g_assert_true(hark_model_manager_is_installed(mm, "test-chat"));
  g_assert_true(hark_model_manager_remove(mm, "test-chat", NULL));
  g_object_unref(cancel);
  g_object_unref(mm);
  free_watch(&w);
}

static void
test_bad_catalog(void)
{
  char *bad = g_build_filename(tmp_home, "bad.json", NULL);
  g_assert_true(g_file_set_contents(bad, "{ \"version\": 1, \"models\": [ { \"name\": 3 } ] }", -1, NULL));
  char *saved = g_strdup(g_getenv("HARK_CATALOG"));
  g_setenv("HARK_CATALOG", bad, TRUE);
  watch w;
  HarkModelManager *mm = new_manager(&w);
  GError *error = NULL;
  g_assert_null(hark_model_manager_get_catalog(mm, &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_CATALOG);
  g_clear_error(&error);
  hark_model_manager_install_async(mm, "test-chat", NULL, done_cb, &w);
  wait_done(&w, 1);
  g_assert_error(w.error[0], APP_MODELS_ERROR, APP_MODELS_ERROR_CATALOG);
  g_setenv("HARK_CATALOG", saved, TRUE);
  g_object_unref(mm);
  free_watch(&w);
  g_free(saved), g_free(bad);
}

int
main(int argc, char **argv)
{
  /* Before anything asks GLib for the user data dir (it caches it). */
  tmp_home = g_dir_make_tmp("hark-mm-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp_home, TRUE);
  g_test_init(&argc, &argv, NULL);
  test_use_fake_pip("catalog-defaults.json");
  g_test_add_func("/app/model-manager/catalog", test_catalog);
  g_test_add_func("/app/model-manager/install-remove", test_install_remove);
  g_test_add_func("/app/model-manager/install-errors", test_install_errors);
  g_test_add_func("/app/model-manager/bad-catalog", test_bad_catalog);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  return rc;
}
