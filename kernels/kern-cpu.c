/* kern-cpu.c: CPU model, core counts and SIMD features, read at run time.
 *
 * x86-64 features come from CPUID, gated on XGETBV so a flag is only reported
 * when the OS saves the wider registers (AVX under an old kernel or a VM that
 * masks XSAVE is not usable even if CPUID lists it). aarch64 uses the auxv.
 */
#include "kern-cpu.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KERN_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#if defined(KERN_X86)
static uint64_t
xgetbv0(void)
{
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static uint32_t
detect_features(void)
{
  uint32_t f = 0, a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d))
    return 0;
  if (c & (1u << 0)) f |= KERN_CPU_SSE3;
  if (c & (1u << 9)) f |= KERN_CPU_SSSE3;
  if (c & (1u << 19)) f |= KERN_CPU_SSE41;
  if (c & (1u << 20)) f |= KERN_CPU_SSE42;

  int osxsave = (c >> 27) & 1;
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  int ymm_ok = (xcr0 & 0x6) == 0x6;    /* XMM and YMM state saved */
  int zmm_ok = (xcr0 & 0xe6) == 0xe6;  /* plus opmask, ZMM_Hi256, Hi16_ZMM */
  int amx_ok = (xcr0 & 0x60000) == 0x60000;

  if (ymm_ok) {
    if (c & (1u << 28)) f |= KERN_CPU_AVX;
    if (c & (1u << 29)) f |= KERN_CPU_F16C;
    if (c & (1u << 12)) f |= KERN_CPU_FMA;
  }
  unsigned max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    uint32_t b7 = b, c7 = c, d7 = d, max_sub = a;
    if (ymm_ok && (b7 & (1u << 5))) f |= KERN_CPU_AVX2;
    if (zmm_ok) {
      if (b7 & (1u << 16)) f |= KERN_CPU_AVX512F;
      if (b7 & (1u << 30)) f |= KERN_CPU_AVX512BW;
      if (b7 & (1u << 31)) f |= KERN_CPU_AVX512VL;
      if (c7 & (1u << 11)) f |= KERN_CPU_AVX512_VNNI;
    }
    if (amx_ok && (d7 & (1u << 25))) f |= KERN_CPU_AMX_INT8;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      if (ymm_ok && (a & (1u << 4))) f |= KERN_CPU_AVX_VNNI;
      if (zmm_ok && (a & (1u << 5))) f |= KERN_CPU_AVX512_BF16;
    }
  }
  return f;
}
#elif defined(__aarch64__)
static uint32_t
detect_features(void)
{
  unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  uint32_t f = 0;
  if (hw & (1ul << 1)) f |= KERN_CPU_NEON;     /* HWCAP_ASIMD */
  if (hw & (1ul << 20)) f |= KERN_CPU_DOTPROD; /* HWCAP_ASIMDDP */
  if (hw & (1ul << 22)) f |= KERN_CPU_SVE;     /* HWCAP_SVE */
  if (hw2 & (1ul << 13)) f |= KERN_CPU_I8MM;   /* HWCAP2_I8MM */
  return f;
}
#else
static uint32_t
detect_features(void)
{
  return 0;
}
#endif

static uint32_t cached_features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void
init_features(void)
{
  cached_features = detect_features();
}

uint32_t
kern_cpu_features(void)
{
  pthread_once(&features_once, init_features);
  return cached_features;
}

static const struct {
  uint32_t bit;
  const char *name;
} feature_names[] = {
  { KERN_CPU_SSE3, "sse3" },
  { KERN_CPU_SSSE3, "ssse3" },
  { KERN_CPU_SSE41, "sse4.1" },
  { KERN_CPU_SSE42, "sse4.2" },
  { KERN_CPU_AVX, "avx" },
  { KERN_CPU_F16C, "f16c" },
  { KERN_CPU_FMA, "fma" },
  { KERN_CPU_AVX2, "avx2" },
  { KERN_CPU_AVX_VNNI, "avx-vnni" },
  { KERN_CPU_AVX512F, "avx512f" },
  { KERN_CPU_AVX512BW, "avx512bw" },
  { KERN_CPU_AVX512VL, "avx512vl" },
  { KERN_CPU_AVX512_VNNI, "avx512-vnni" },
  { KERN_CPU_AVX512_BF16, "avx512-bf16" },
  { KERN_CPU_AMX_INT8, "amx-int8" },
  { KERN_CPU_NEON, "neon" },
  { KERN_CPU_DOTPROD, "dotprod" },
  { KERN_CPU_I8MM, "i8mm" },
  { KERN_CPU_SVE, "sve" },
};

char *
kern_cpu_features_string(uint32_t features, char *buf, size_t size)
{
  size_t used = 0;
  if (size == 0)
    return buf;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++) {
    if (!(features & feature_names[i].bit))
      continue;
    int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", feature_names[i].name);
    if (n < 0 || (size_t)n >= size - used) {
      buf[used] = '\0'; /* drop the name that did not fit */
      break;
    }
    used += (size_t)n;
  }
  return buf;
}

/* The value after "key\t: " on the first matching /proc/cpuinfo line. */
static int
cpuinfo_value(const char *key, char *out, size_t size)
{
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f)
    return 0;
  char line[512];
  size_t klen = strlen(key);
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, klen) != 0 || (line[klen] != ' ' && line[klen] != '\t' && line[klen] != ':'))
      continue;
    char *colon = strchr(line, ':');
    if (!colon)
      continue;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    v[strcspn(v, "\n")] = '\0';
    snprintf(out, size, "%s", v);
    found = out[0] != '\0';
    break;
  }
  fclose(f);
  return found;
}

static int
read_sys_int(const char *path, int *value)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  int ok = fscanf(f, "%d", value) == 1;
  fclose(f);
  return ok;
}

/* Distinct (package, core) pairs among the online CPUs. */
static int
count_physical_cores(void)
{
  DIR *dir = opendir("/sys/devices/system/cpu");
  if (!dir)
    return 0;
  enum { MAX_PAIRS = 4096 };
  long *pairs = malloc(MAX_PAIRS * sizeof *pairs);
  if (!pairs) {
    closedir(dir);
    return 0;
  }
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strncmp(e->d_name, "cpu", 3) != 0 || e->d_name[3] < '0' || e->d_name[3] > '9')
      continue;
    char path[300];
    int online = 1, pkg = 0, core = 0;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/%s/online", e->d_name);
    read_sys_int(path, &online); /* cpu0 often has no "online" file */
    if (!online)
      continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/%s/topology/physical_package_id", e->d_name);
    if (!read_sys_int(path, &pkg))
      continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/%s/topology/core_id", e->d_name);
    if (!read_sys_int(path, &core))
      continue;
    long key = ((long)pkg << 32) | (unsigned)core;
    int seen = 0;
    for (int i = 0; i < n && !seen; i++)
      seen = pairs[i] == key;
    if (!seen && n < MAX_PAIRS)
      pairs[n++] = key;
  }
  closedir(dir);
  free(pairs);
  return n;
}

void
kern_cpu_info_get(kern_cpu_info *out)
{
  memset(out, 0, sizeof *out);
  if (!cpuinfo_value("model name", out->model, sizeof out->model) &&
      !cpuinfo_value("Hardware", out->model, sizeof out->model)) {
    struct utsname u;
    snprintf(out->model, sizeof out->model, "%s", uname(&u) == 0 ? u.machine : "unknown");
  }

  long online = sysconf(_SC_NPROCESSORS_ONLN);
  out->logical_cores = online > 0 ? (int)online : 1;
  int phys = count_physical_cores();
  out->physical_cores = phys > 0 && phys <= out->logical_cores ? phys : out->logical_cores;

  cpu_set_t set;
  CPU_ZERO(&set);
  out->usable_cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : out->logical_cores;
  if (out->usable_cores <= 0)
    out->usable_cores = 1;

  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  out->memory_total = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
  out->features = kern_cpu_features();
}

double
kern_clock_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
