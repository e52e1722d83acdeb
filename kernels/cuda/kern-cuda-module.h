/* kern-cuda-module.h: the table the CUDA module exports to the kernels library.
 *
 * Private to kernels/. The module is compiled by nvcc and loaded with dlopen();
 * the only symbol looked up is KERN_CUDA_MODULE_SYMBOL. Bump the ABI number
 * whenever the table or a struct it passes changes.
 */
#pragma once

#include "kern-cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KERN_CUDA_MODULE_ABI 1
#define KERN_CUDA_MODULE_SYMBOL "hark_cuda_module"

struct kern_cuda_module_i {
  int abi;                                   /* KERN_CUDA_MODULE_ABI */
  const char *archs;                         /* the SM list compiled in */
  int (*probe)(kern_cuda_report *report);    /* fills versions and devices */
};

typedef const struct kern_cuda_module_i *(*kern_cuda_module_fn)(void);

#ifdef __cplusplus
}
#endif
