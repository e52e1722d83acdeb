/* kern-cuda.h: finding NVIDIA GPUs.
 *
 * The CUDA code lives in a separate module (libhark-cuda.so) that is loaded on
 * first use, so a hark binary built with CUDA starts on machines without an
 * NVIDIA driver, GPU or cuBLAS and simply reports why there is no CUDA device.
 */
#pragma once

#include <stddef.h>

#define KERN_CUDA_MAX_DEVICES 16

typedef struct {
  int index;
  char name[256];
  int cc_major, cc_minor;     /* compute capability */
  int sm_count;
  size_t vram_free;           /* bytes, at probe time */
  size_t vram_total;
  int usable;                 /* a kernel from this build ran and gave the right result */
  char status[256];           /* why it is not usable, when usable == 0 */
} kern_cuda_device;

typedef struct {
  int built_with_cuda;        /* this binary was compiled with nvcc */
  int module_loaded;
  int driver_version;         /* 12040 means 12.4; 0 when no driver was found */
  int runtime_version;
  int cublas_version;         /* 130000 style, 0 when unknown */
  char archs[64];             /* SM architectures compiled into the module, "80,86,89,90" */
  int n_devices;
  kern_cuda_device devices[KERN_CUDA_MAX_DEVICES];
  char why[512];              /* when n_devices == 0: the reason, one line */
} kern_cuda_report;

/* Loads the CUDA module if needed and lists the devices, each checked by running
 * a small kernel. Returns the number of devices (0 when there is none: report->why
 * says why). Never fails harder than that; safe to call from any thread, but it
 * serializes on a lock the first time it loads the module. */
int kern_cuda_probe(kern_cuda_report *report);

/* The path the CUDA module is loaded from (or would be). */
const char *kern_cuda_module_path(void);
