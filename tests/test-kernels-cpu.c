/* test-kernels-cpu.c: CPU identification and the status-code names. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "kern-backend.h"
#include "kern-bench.h"
#include "kern-cpu.h"
#include "kern-error.h"

static void
test_info(void)
{
  kern_cpu_info info;
  kern_cpu_info_get(&info);
  g_assert_cmpstr(info.model, !=, "");
  g_assert_cmpint(info.logical_cores, >=, 1);
  g_assert_cmpint(info.physical_cores, >=, 1);
  g_assert_cmpint(info.physical_cores, <=, info.logical_cores);
  g_assert_cmpint(info.usable_cores, >=, 1);
  g_assert_cmpint(info.usable_cores, <=, info.logical_cores);
  g_assert_cmpuint(info.memory_total, >, 64u << 20);
  g_assert_cmpuint(info.features, ==, kern_cpu_features());
}

static void
test_features_consistent(void)
{
  uint32_t f = kern_cpu_features();
#if defined(__x86_64__)
  /* Every x86-64 CPU has SSE2; SSE3 is on all that can run our kernels. Wider
   * sets imply the narrower ones they build on. */
  if (f & KERN_CPU_AVX2)
    g_assert_true(f & KERN_CPU_AVX);
  if (f & KERN_CPU_AVX512BW)
    g_assert_true(f & KERN_CPU_AVX512F);
  if (f & KERN_CPU_AVX512F)
    g_assert_true(f & KERN_CPU_AVX2);
  /* The kernel's view must agree with CPUID for the flags it knows. */
  char *cpuinfo = NULL;
  if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
    char *flags = strstr(cpuinfo, "\nflags");
    if (flags) {
      char *eol = strchr(flags + 1, '\n');
      if (eol)
        *eol = '\0';
      g_assert_cmpint(!!(f & KERN_CPU_AVX2), ==, strstr(flags, " avx2") != NULL);
      g_assert_cmpint(!!(f & KERN_CPU_FMA), ==, strstr(flags, " fma") != NULL);
      g_assert_cmpint(!!(f & KERN_CPU_F16C), ==, strstr(flags, " f16c") != NULL);
      g_assert_cmpint(!!(f & KERN_CPU_AVX512F), ==, strstr(flags, " avx512f") != NULL);
    }
    g_free(cpuinfo);
  }
#else
  (void)f;
  g_test_skip("feature cross-check is written for x86-64");
#endif
}

static void
test_features_string(void)
{
  char buf[256];
  g_assert_cmpstr(kern_cpu_features_string(0, buf, sizeof buf), ==, "");
  g_assert_cmpstr(kern_cpu_features_string(KERN_CPU_AVX | KERN_CPU_AVX2 | KERN_CPU_FMA, buf, sizeof buf), ==,
                  "avx fma avx2");
  /* A buffer too small keeps whole names only and stays terminated. */
  g_assert_cmpstr(kern_cpu_features_string(KERN_CPU_AVX | KERN_CPU_AVX2, buf, 6), ==, "avx");
}

static void
test_strerror(void)
{
  g_assert_cmpstr(kern_strerror(KERN_OK), ==, "success");
  g_assert_cmpstr(kern_strerror(KERN_E_FORMAT), ==, "malformed file");
  g_assert_cmpstr(kern_strerror(-1000), ==, "unknown error");
}

/* The op benchmark table behind `hark bench ops` and bench/bench-gpu: every
 * name is distinct, a small case runs and gives consistent numbers, and a bad
 * index is an error rather than a crash. */
static void
test_bench_cases(void)
{
  int n = kern_bench_n_cases();
  g_assert_cmpint(n, >, 10);
  int rms = -1;
  for (int i = 0; i < n; i++) {
    const char *name = kern_bench_case_name(i);
    g_assert_nonnull(name);
    for (int j = 0; j < i; j++)
      g_assert_cmpstr(kern_bench_case_name(j), !=, name);
    if (strstr(name, "rmsnorm"))
      rms = i;
  }
  g_assert_null(kern_bench_case_name(n));
  g_assert_cmpint(rms, >=, 0);
  g_assert_true(kern_bench_case_flags(rms) & KERN_BENCH_MEMORY_BOUND);

  kern_backend_t be = kern_backend_new("cpu", NULL, NULL);
  g_assert_nonnull(be);
  kern_bench_result r;
  g_assert_cmpint(kern_bench_case_run(be, rms, 0.01, 10.0, &r), ==, 0);
  g_assert_null(r.error);
  g_assert_cmpfloat(r.ms, >, 0);
  /* GB/s is bytes over time: 4096 x 512 floats read and written. */
  g_assert_cmpfloat(fabs(r.gbs - 8.0 * 4096 * 512 / (r.ms * 1e-3) / 1e9), <, 1e-6 * r.gbs);
  g_assert_cmpfloat(fabs(r.of_copy - r.gbs / 10.0), <, 1e-9 * r.gbs);
  g_assert_cmpint(kern_bench_case_run(be, n, 0.01, 10.0, &r), ==, -1);
  g_assert_nonnull(r.error);
  kern_backend_free(be);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/kernels/cpu/info", test_info);
  g_test_add_func("/kernels/cpu/features-consistent", test_features_consistent);
  g_test_add_func("/kernels/cpu/features-string", test_features_string);
  g_test_add_func("/kernels/error/strerror", test_strerror);
  g_test_add_func("/kernels/bench/cases", test_bench_cases);
  return g_test_run();
}
