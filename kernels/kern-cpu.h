/* kern-cpu.h: what the CPU this process runs on can do.
 *
 * The fast CPU backend picks its SIMD kernels from kern_cpu_features() at run
 * time, so one binary serves every x86-64 (and aarch64) machine.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef enum {
  /* x86-64; each flag is set only when the OS also saves the registers */
  KERN_CPU_SSE3 = 1u << 0,
  KERN_CPU_SSSE3 = 1u << 1,
  KERN_CPU_SSE41 = 1u << 2,
  KERN_CPU_SSE42 = 1u << 3,
  KERN_CPU_AVX = 1u << 4,
  KERN_CPU_F16C = 1u << 5,
  KERN_CPU_FMA = 1u << 6,
  KERN_CPU_AVX2 = 1u << 7,
  KERN_CPU_AVX_VNNI = 1u << 8,
  KERN_CPU_AVX512F = 1u << 9,
  KERN_CPU_AVX512BW = 1u << 10,
  KERN_CPU_AVX512VL = 1u << 11,
  KERN_CPU_AVX512_VNNI = 1u << 12,
  KERN_CPU_AVX512_BF16 = 1u << 13,
  KERN_CPU_AMX_INT8 = 1u << 14,
  /* aarch64 */
  KERN_CPU_NEON = 1u << 20,
  KERN_CPU_DOTPROD = 1u << 21,
  KERN_CPU_I8MM = 1u << 22,
  KERN_CPU_SVE = 1u << 23,
} kern_cpu_feature;

typedef struct {
  char model[128];        /* "AMD EPYC 7763 64-Core Processor", or the architecture name */
  int logical_cores;      /* online hardware threads */
  int physical_cores;     /* distinct cores (SMT siblings counted once) */
  int usable_cores;       /* hardware threads this process may run on (affinity mask) */
  uint32_t features;      /* kern_cpu_feature bits */
  uint64_t memory_total;  /* bytes of RAM, 0 if unknown */
} kern_cpu_info;

/* Fills *out. Reads /proc and /sys, so call it once and keep the result.
 * Always succeeds: fields that cannot be read get fallbacks (1 core, "unknown"). */
void kern_cpu_info_get(kern_cpu_info *out);

/* The feature bits alone, cached after the first call; thread-safe. */
uint32_t kern_cpu_features(void);

/* Writes the set feature names, space-separated ("sse4.2 avx avx2 fma"), into buf.
 * Returns buf. */
char *kern_cpu_features_string(uint32_t features, char *buf, size_t size);

/* Monotonic seconds, for timing (benchmarks, token rates). Any thread. */
double kern_clock_s(void);
