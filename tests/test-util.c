/* test-util.c: helpers shared by the app and ui tests. */
#include "test-util.h"

#include <glib.h>
#include <glib/gstdio.h>

void
test_remove_tree(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
      char *p = g_build_filename(path, name, NULL);
      test_remove_tree(p);
      g_free(p);
    }
    if (d)
      g_dir_close(d);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

void
test_use_fake_pip(const char *catalog)
{
  char *pip = g_test_build_filename(G_TEST_DIST, "fake-pip", NULL);
  char *quoted = g_shell_quote(pip);
  char *pip_cmd = g_strdup_printf("sh %s", quoted);
  g_setenv("HARK_PIP", pip_cmd, TRUE);
  char *wheels = g_test_build_filename(G_TEST_DIST, "data", "models", NULL);
  g_setenv("HARK_FAKE_WHEELS", wheels, TRUE);
  if (catalog) {
    char *cat = g_build_filename(wheels, catalog, NULL);
    g_setenv("HARK_CATALOG", cat, TRUE);
    g_free(cat);
  }
  g_free(wheels), g_free(pip_cmd), g_free(quoted), g_free(pip);
}
