/* kern-bench.h: op timings at model-sized shapes on any backend.
 *
 * The case table behind `hark bench ops` and bench/bench-gpu. Cases are
 * indexed 0 .. kern_bench_n_cases()-1; each allocates random inputs on the
 * backend, runs once to warm up, then repeats for about min_time seconds and
 * reports the median. Same thread rules as the backend. */
#pragma once

#include <stddef.h>

#include "kern-backend.h"

enum {
  KERN_BENCH_MEMORY_BOUND = 1, /* compare its GB/s with the copy bandwidth */
  KERN_BENCH_GPU_ONLY = 2,     /* too large for a CPU in reasonable time */
  KERN_BENCH_HEAVY = 4,        /* minutes on "cpu-ref" */
};

typedef struct {
  double ms;          /* median time of one run */
  double gbs;         /* bytes the op must read and write, per second */
  double gflops;
  double of_copy;     /* gbs / copy bandwidth for memory-bound cases, else -1 */
  const char *error;  /* NULL, or why the case failed (valid until the next call on the backend) */
} kern_bench_result;

int kern_bench_n_cases(void);
const char *kern_bench_case_name(int i);
int kern_bench_case_flags(int i);
/* Runs case i; 0, or -1 with r->error set. copy_gbs: the yardstick for of_copy. */
int kern_bench_case_run(kern_backend_t be, int i, double min_time, double copy_gbs, kern_bench_result *r);
/* GB/s (read + written) of a threaded memcpy over `bytes`. */
double kern_bench_host_copy_bandwidth(size_t bytes, int threads);
/* GB/s (read + written) of a 256 MiB device-to-device copy on be (a GPU backend). */
double kern_bench_device_copy_bandwidth(kern_backend_t be);
