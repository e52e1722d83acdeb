/* kern-cuda-loader.c: finds and loads the CUDA module.
 *
 * The module is looked for, in order, at $HARK_CUDA_MODULE, in the build tree
 * when this program runs from it, and in the install directory. Any failure
 * (no module, missing libcublas or libcudart, ABI mismatch) becomes a one-line
 * reason that `hark devices` shows; it never stops the program.
 */
#include "hark-config.h"
#include "kern-cuda.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda/kern-cuda-module.h"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct kern_cuda_module_i *module;
static char module_path[PATH_MAX];
static char load_error[512];

static int
running_from_build_tree(void)
{
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  size_t len = strlen(HARK_BUILD_ROOT);
  return strncmp(exe, HARK_BUILD_ROOT, len) == 0 && exe[len] == '/';
}

static void
resolve_path(void)
{
  const char *env = getenv("HARK_CUDA_MODULE");
  if (env && env[0])
    snprintf(module_path, sizeof module_path, "%s", env);
  else if (running_from_build_tree())
    snprintf(module_path, sizeof module_path, "%s/kernels/libhark-cuda.so", HARK_BUILD_ROOT);
  else
    snprintf(module_path, sizeof module_path, "%s/libhark-cuda.so", HARK_MODULE_DIR);
}

static void
load_module(void)
{
  resolve_path();
#if HARK_HAVE_CUDA
  void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(load_error, sizeof load_error, "cannot load the CUDA module: %s", e ? e : module_path);
    return;
  }
  kern_cuda_module_fn fn;
  *(void **)&fn = dlsym(h, KERN_CUDA_MODULE_SYMBOL);
  const struct kern_cuda_module_i *m = fn ? fn() : NULL;
  if (!m) {
    snprintf(load_error, sizeof load_error, "%s is not a hark CUDA module", module_path);
    dlclose(h);
    return;
  }
  if (m->abi != KERN_CUDA_MODULE_ABI) {
    snprintf(load_error, sizeof load_error, "%s is from another hark version (ABI %d, need %d)", module_path,
             m->abi, KERN_CUDA_MODULE_ABI);
    dlclose(h);
    return;
  }
  module = m;
#else
  snprintf(load_error, sizeof load_error,
           "this build of hark has no CUDA support (nvcc was not found when it was built)");
#endif
}

const char *
kern_cuda_module_path(void)
{
  pthread_once(&load_once, load_module);
  return module_path;
}

kern_backend_t
_kern_cuda_backend_new(int device, char **err)
{
  pthread_once(&load_once, load_module);
  char msg[512];
  kern_backend_t be = NULL;
  if (!module)
    snprintf(msg, sizeof msg, "no CUDA backend: %s", load_error);
  else if (!module->backend_new)
    snprintf(msg, sizeof msg, "no CUDA backend: the CUDA module has no backend");
  else
    be = module->backend_new(device, msg, sizeof msg);
  if (!be && err)
    *err = strdup(msg);
  return be;
}

int
kern_cuda_probe(kern_cuda_report *r)
{
  memset(r, 0, sizeof *r);
  r->built_with_cuda = HARK_HAVE_CUDA;
  pthread_once(&load_once, load_module);
  if (!module) {
    snprintf(r->why, sizeof r->why, "%s", load_error);
    return 0;
  }
  r->module_loaded = 1;
  snprintf(r->archs, sizeof r->archs, "%s", module->archs);
  pthread_mutex_lock(&probe_lock);
  int n = module->probe(r);
  pthread_mutex_unlock(&probe_lock);
  if (n < 0)
    n = 0;
  r->n_devices = n;
  if (n == 0 && !r->why[0])
    snprintf(r->why, sizeof r->why, "the driver reports no CUDA-capable device");
  return n;
}
