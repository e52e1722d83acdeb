/* kern-cuda-backend.h: the CUDA backend inside the module. */
#pragma once

#include "kern-backend-impl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the backend on `device`; NULL with a message in err on failure
 * (no device, out of memory, cuBLAS init failed). */
kern_backend_t kern_cuda_backend_new(int device, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
