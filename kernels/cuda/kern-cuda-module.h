/* kern-cuda-module.h: the table the CUDA module exports to the kernels library.
 *
 * Private to kernels/. The module is compiled by nvcc and loaded with dlopen();
 * the only symbol looked up is KERN_CUDA_MODULE_SYMBOL. Bump the ABI number
 * whenever the table or a struct it passes changes.
 */
#pragma once

#include "kern-backend-impl.h"
#include "kern-cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KERN_CUDA_MODULE_ABI 2
#define KERN_CUDA_MODULE_SYMBOL "hark_cuda_module"

struct kern_cuda_module_i {
  int abi;                                   /* KERN_CUDA_MODULE_ABI */
  const char *archs;                         /* the SM list compiled in */
  int (*probe)(kern_cuda_report *report);    /* fills versions and devices */
  /* A CUDA backend on `device`, or NULL with a message in err. The module
   * cannot call into the kernels library (it is loaded with RTLD_LOCAL into a
   * program that exports nothing), so it fills be->errmsg itself. */
  kern_backend_t (*backend_new)(int device, char *err, size_t err_size);
};

typedef const struct kern_cuda_module_i *(*kern_cuda_module_fn)(void);

#ifdef __cplusplus
}
#endif
