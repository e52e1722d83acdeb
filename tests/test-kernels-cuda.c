/* test-kernels-cuda.c: loading the CUDA module and probing devices.
 *
 * On a machine without a GPU the module must still load (its libraries are
 * there in CI) and report a reason; with a GPU every device must pass the
 * module's self-test kernel. */
#include "hark-config.h"

#include <glib.h>
#include <stdlib.h>

#include "kern-cuda.h"

static void
test_probe(void)
{
  if (g_getenv("HARK_CUDA_MODULE")) {
    g_test_skip("HARK_CUDA_MODULE is set: this run checks a missing module");
    return;
  }
  kern_cuda_report *r = g_new0(kern_cuda_report, 1);
  int n = kern_cuda_probe(r);
  g_assert_cmpint(n, ==, r->n_devices);
  g_assert_cmpint(r->built_with_cuda, ==, HARK_HAVE_CUDA);
  if (!HARK_HAVE_CUDA) {
    g_assert_cmpint(n, ==, 0);
    g_assert_nonnull(g_strstr_len(r->why, -1, "no CUDA support"));
    g_free(r);
    return;
  }
  if (!r->module_loaded)
    g_error("the CUDA module did not load from %s: %s", kern_cuda_module_path(), r->why);
  g_assert_cmpstr(r->archs, ==, HARK_CUDA_ARCHS);
  g_assert_cmpint(r->runtime_version, >=, 11000);
  g_assert_cmpint(r->cublas_version, >, 0);
  if (n == 0) {
    g_assert_cmpstr(r->why, !=, "");
    g_test_message("no CUDA device: %s", r->why);
  }
  for (int i = 0; i < n; i++) {
    const kern_cuda_device *d = &r->devices[i];
    g_test_message("cuda:%d %s sm_%d%d %s", i, d->name, d->cc_major, d->cc_minor, d->status);
    g_assert_cmpint(d->index, ==, i);
    g_assert_cmpint(d->cc_major, >=, 5);
    g_assert_cmpuint(d->vram_total, >, 0);
    g_assert_cmpuint(d->vram_free, <=, d->vram_total);
    g_assert_true(d->usable);
  }
  g_free(r);
}

static void
test_missing_module(void)
{
  const char *path = g_getenv("HARK_CUDA_MODULE");
  if (!path || !HARK_HAVE_CUDA) {
    g_test_skip(!path ? "run with HARK_CUDA_MODULE pointing at a missing file" : "built without CUDA");
    return;
  }
  kern_cuda_report *r = g_new0(kern_cuda_report, 1);
  g_assert_cmpint(kern_cuda_probe(r), ==, 0);
  g_assert_false(r->module_loaded);
  g_assert_cmpstr(kern_cuda_module_path(), ==, path);
  g_assert_nonnull(g_strstr_len(r->why, -1, "cannot load the CUDA module"));
  g_assert_nonnull(g_strstr_len(r->why, -1, path));
  g_free(r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/kernels/cuda/probe", test_probe);
  g_test_add_func("/kernels/cuda/missing-module", test_missing_module);
  return g_test_run();
}
