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
