/* bench-kernels-cpu.c: times the "cpu" backend's main kernels.
 *
 *   bench-kernels-cpu [-t threads] [-q] [section...]
 *
 * Sections (all by default): copy, matvec, gemm, attention, ops.
 *   copy       memcpy bandwidth of 1 GiB (the yardstick for the matvecs)
 *   matvec     4096x4096 x 1 for Q4_0, Q4_K, Q8_0, Q6_K, F16: weight GB/s, cold
 *              (cycling through enough copies of the matrix to exceed the
 *              last-level cache) and hot (one matrix again and again)
 *   gemm       F32/F16 weights at Whisper-base shapes (K=512, N=512/2048,
 *              M=1500 and M=1), Q4_0/Q4_K at M=512: GFLOP/s
 *   attention  Whisper-base encoder (1500x1500, 8 heads of 64, F32 and F16 K/V),
 *              decoder cross-attention, LLaMA GQA decode and prefill; vs "cpu-ref"
 *   ops        a few row ops at Whisper sizes, vs "cpu-ref"
 * -q skips the slow "cpu-ref" comparisons. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kern-backend.h"
#include "kern-cpu.h"

/* CPU seconds of the whole process (all threads, spinning included). */
static double
cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int n_threads_used = 1;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float
frand(void)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) & 0xffffff) / (float)(1 << 24) * 2.0f - 1.0f;
}

static kern_tensor *
random_tensor(kern_backend_t be, int type, int n_dims, const int64_t *ne)
{
  kern_tensor *t = kern_tensor_new(be, type, n_dims, ne);
  if (!t) {
    fprintf(stderr, "tensor: %s\n", kern_backend_errmsg(be));
    exit(1);
  }
  int64_t n = kern_tensor_nel(t), row = ne[0], rows = n / row;
  float *f = malloc((size_t)row * sizeof *f);
  size_t rb = kern_type_row_size(type, row);
  /* encode up to 64 distinct rows (the k-quant encoders are slow), repeat them */
  for (int64_t r = 0; r < rows; r++) {
    if (r < 64) {
      for (int64_t i = 0; i < row; i++)
        f[i] = frand();
      kern_quantize_row(type, f, (char *)t->data + rb * (size_t)r, row);
    } else {
      memcpy((char *)t->data + rb * (size_t)r, (char *)t->data + rb * (size_t)(r % 64), rb);
    }
  }
  free(f);
  return t;
}

static void
check(int rc, kern_backend_t be, const char *what)
{
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", what, kern_backend_errmsg(be));
    exit(1);
  }
}

static double copy_gbs;

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void
bench_copy(void)
{
  size_t n = (size_t)1 << 30;
  char *a = malloc(n), *b = malloc(n);
  memset(a, 1, n), memset(b, 2, n);
  double best = 1e9;
  for (int it = 0; it < 5; it++) {
    double t0 = kern_clock_s();
    memcpy(b, a, n);
    double t = kern_clock_s() - t0;
    best = t < best ? t : best;
  }
  copy_gbs = (double)n / best / 1e9;
  printf("copy: memcpy 1 GiB: %.2f GB/s copied (%.2f GB/s read + write)\n", copy_gbs, 2 * copy_gbs);
  free(a), free(b);
}

static void
bench_matvec(kern_backend_t be, int type, int64_t K, int64_t N)
{
  const int64_t ne[2] = { K, N }, xne[2] = { K, 1 }, yne[2] = { N, 1 };
  kern_tensor *w0 = random_tensor(be, type, 2, ne);
  size_t bytes = w0->nbytes;
  int nmat = (int)((768ull << 20) / bytes) + 1; /* > the 300 MiB L3 of big servers, twice over */
  kern_tensor **w = malloc((size_t)nmat * sizeof *w);
  w[0] = w0;
  for (int i = 1; i < nmat; i++) {
    w[i] = kern_tensor_new(be, type, 2, ne);
    memcpy(w[i]->data, w0->data, bytes);
  }
  kern_tensor *x = random_tensor(be, KERN_TYPE_F32, 2, xne), *y = kern_tensor_new(be, KERN_TYPE_F32, 2, yne);
  for (int i = 0; i < nmat; i++)
    check(kern_matmul(be, y, w[i], x, NULL), be, "matmul");
  /* each call times one matrix that was last touched nmat - 1 calls ago */
  int reps = 3 * nmat;
  double *ts = malloc((size_t)reps * sizeof *ts);
  for (int i = 0; i < reps; i++) {
    double t0 = kern_clock_s();
    check(kern_matmul(be, y, w[i % nmat], x, NULL), be, "matmul");
    ts[i] = kern_clock_s() - t0;
  }
  qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
  double cold = ts[reps / 2], cold_best = ts[0];
  free(ts);
  double t0;
  int hot_reps = 200;
  t0 = kern_clock_s();
  double c0 = cpu_s();
  for (int i = 0; i < hot_reps; i++)
    check(kern_matmul(be, y, w[0], x, NULL), be, "matmul");
  double hot = (kern_clock_s() - t0) / hot_reps, hot_cpu = (cpu_s() - c0) / hot_reps / n_threads_used;
  double gbs = (double)bytes / cold / 1e9, gbs_best = (double)bytes / cold_best / 1e9;
  printf("matvec %-5s %lldx%lld (%.1f MB): cold median %7.1f us %6.2f GB/s (%3.0f%% of copy), best %6.2f GB/s "
         "(%3.0f%%); hot %7.1f us %6.2f GB/s (CPU time per thread %7.1f us)\n",
         kern_type_get_traits(type)->name, (long long)N, (long long)K, (double)bytes / 1e6, cold * 1e6, gbs,
         copy_gbs > 0 ? 100 * gbs / copy_gbs : 0.0, gbs_best, copy_gbs > 0 ? 100 * gbs_best / copy_gbs : 0.0,
         hot * 1e6, (double)bytes / hot / 1e9, hot_cpu * 1e6);
  for (int i = 0; i < nmat; i++)
    kern_tensor_free(w[i]);
  free(w);
  kern_tensor_free(x), kern_tensor_free(y);
}

static double
time_matmul(kern_backend_t be, kern_tensor *y, kern_tensor *w, kern_tensor *x, double min_s, double *cpu)
{
  check(kern_matmul(be, y, w, x, NULL), be, "matmul");
  int reps = 0;
  double t0 = kern_clock_s(), c0 = cpu_s(), t;
  do {
    check(kern_matmul(be, y, w, x, NULL), be, "matmul");
    reps++;
    t = kern_clock_s() - t0;
  } while (t < min_s);
  *cpu = (cpu_s() - c0) / reps / n_threads_used;
  return t / reps;
}

static void
bench_gemm(kern_backend_t be, int type, int64_t K, int64_t N, int64_t M)
{
  const int64_t ne[2] = { K, N }, xne[2] = { K, M }, yne[2] = { N, M };
  kern_tensor *w = random_tensor(be, type, 2, ne), *x = random_tensor(be, KERN_TYPE_F32, 2, xne);
  kern_tensor *y = kern_tensor_new(be, KERN_TYPE_F32, 2, yne);
  double c, t = time_matmul(be, y, w, x, 0.5, &c);
  double flop = 2.0 * (double)K * (double)N * (double)M;
  printf("gemm %-5s K=%-5lld N=%-5lld M=%-5lld %9.1f us %7.1f GFLOP/s   (CPU time per thread %9.1f us: %7.1f GFLOP/s)\n",
         kern_type_get_traits(type)->name, (long long)K, (long long)N, (long long)M, t * 1e6, flop / t / 1e9, c * 1e6,
         flop / c / 1e9);
  kern_tensor_free(w), kern_tensor_free(x), kern_tensor_free(y);
}

static void
bench_attention(kern_backend_t be, kern_backend_t ref, int kv_type, int64_t Tq, int64_t T, int64_t nh, int64_t nkv,
                int64_t hd, int causal)
{
  const int64_t qne[3] = { hd, nh, Tq }, ne[3] = { hd, nkv, T };
  int64_t pos0 = causal ? T - Tq : 0;
  kern_backend_t bes[2] = { be, ref };
  double times[2] = { 0, 0 }, cpu_time = 0;
  float *outs[2] = { NULL, NULL };
  for (int b = 0; b < (ref ? 2 : 1); b++) {
    rng = 12345;
    kern_tensor *q = random_tensor(bes[b], KERN_TYPE_F32, 3, qne), *k = random_tensor(bes[b], kv_type, 3, ne);
    kern_tensor *v = random_tensor(bes[b], kv_type, 3, ne), *o = kern_tensor_new(bes[b], KERN_TYPE_F32, 3, qne);
    float scale = 1.0f / sqrtf((float)hd);
    check(kern_attention(bes[b], o, q, k, v, scale, causal, pos0), bes[b], "attention");
    int reps = 0;
    double t0 = kern_clock_s(), c0 = cpu_s(), t;
    do {
      check(kern_attention(bes[b], o, q, k, v, scale, causal, pos0), bes[b], "attention");
      reps++;
      t = kern_clock_s() - t0;
    } while (t < 0.5 && b == 0);
    times[b] = t / reps;
    if (b == 0)
      cpu_time = (cpu_s() - c0) / reps / n_threads_used;
    outs[b] = malloc(o->nbytes);
    memcpy(outs[b], o->data, o->nbytes);
    kern_tensor_free(q), kern_tensor_free(k), kern_tensor_free(v), kern_tensor_free(o);
  }
  double flop = 4.0 * (double)Tq * (double)T * (double)nh * (double)hd / (causal && Tq == T ? 2 : 1);
  printf("attention %s Tq=%lld Tk=%lld heads=%lld/%lld hd=%lld%s: %8.3f ms %6.1f GFLOP/s (CPU time per thread %.3f ms)",
         kern_type_get_traits(kv_type)->name, (long long)Tq, (long long)T, (long long)nh, (long long)nkv,
         (long long)hd, causal ? " causal" : "", times[0] * 1e3, flop / times[0] / 1e9, cpu_time * 1e3);
  if (ref) {
    double e2 = 0, r2 = 0;
    for (int64_t i = 0; i < Tq * nh * hd; i++) {
      double d = (double)outs[0][i] - outs[1][i];
      e2 += d * d, r2 += (double)outs[1][i] * outs[1][i];
    }
    printf("   cpu-ref %8.1f ms (x%.0f), NMSE %.2g", times[1] * 1e3, times[1] / times[0], e2 / r2);
  }
  printf("\n");
  free(outs[0]), free(outs[1]);
}

typedef enum { OP_GELU, OP_SOFTMAX, OP_LAYERNORM, OP_CONV1D } bench_op;

static void
bench_ops(kern_backend_t be, kern_backend_t ref, bench_op op, const char *name)
{
  kern_backend_t bes[2] = { be, ref };
  double times[2] = { 0, 0 };
  for (int b = 0; b < (ref ? 2 : 1); b++) {
    kern_backend_t e = bes[b];
    rng = 777;
    const int64_t ne[2] = { 2048, 1500 }, rne[2] = { 1500, 1500 }, gne[1] = { 512 }, lne[2] = { 512, 1500 };
    const int64_t xne[2] = { 80, 3000 }, wne[3] = { 3, 80, 512 }, yne[2] = { 512, 3000 };
    kern_tensor *x = NULL, *y = NULL, *g = NULL, *w = NULL;
    switch (op) {
    case OP_GELU: x = random_tensor(e, KERN_TYPE_F32, 2, ne), y = kern_tensor_new(e, KERN_TYPE_F32, 2, ne); break;
    case OP_SOFTMAX: x = random_tensor(e, KERN_TYPE_F32, 2, rne), y = kern_tensor_new(e, KERN_TYPE_F32, 2, rne); break;
    case OP_LAYERNORM:
      x = random_tensor(e, KERN_TYPE_F32, 2, lne), y = kern_tensor_new(e, KERN_TYPE_F32, 2, lne);
      g = random_tensor(e, KERN_TYPE_F32, 1, gne);
      break;
    case OP_CONV1D:
      x = random_tensor(e, KERN_TYPE_F32, 2, xne), y = kern_tensor_new(e, KERN_TYPE_F32, 2, yne);
      w = random_tensor(e, KERN_TYPE_F16, 3, wne);
      break;
    }
    int reps = 0;
    double t0 = kern_clock_s(), t;
    do {
      switch (op) {
      case OP_GELU: check(kern_unary(e, y, x, KERN_UNARY_GELU), e, name); break;
      case OP_SOFTMAX: check(kern_softmax(e, y, x, 0.125f), e, name); break;
      case OP_LAYERNORM: check(kern_layernorm(e, y, x, g, g, 1e-5f), e, name); break;
      case OP_CONV1D: check(kern_conv1d(e, y, x, w, NULL, 1, 1), e, name); break;
      }
      reps++;
      t = kern_clock_s() - t0;
    } while (t < 0.3);
    times[b] = t / reps;
    kern_tensor_free(x), kern_tensor_free(y), kern_tensor_free(g), kern_tensor_free(w);
  }
  printf("%-36s %9.1f us", name, times[0] * 1e6);
  if (ref)
    printf("   cpu-ref %9.1f us (x%.1f)", times[1] * 1e6, times[1] / times[0]);
  printf("\n");
}

static int
wants(int argc, char **argv, int first, const char *s)
{
  if (first >= argc)
    return 1;
  for (int i = first; i < argc; i++)
    if (strcmp(argv[i], s) == 0)
      return 1;
  return 0;
}

int
main(int argc, char **argv)
{
  kern_backend_params p = kern_backend_default_params();
  int quick = 0, first = 1;
  while (first < argc && argv[first][0] == '-') {
    if (strcmp(argv[first], "-t") == 0 && first + 1 < argc)
      p.n_threads = atoi(argv[++first]);
    else if (strcmp(argv[first], "-q") == 0)
      quick = 1;
    first++;
  }
  char *err = NULL;
  kern_backend_t be = kern_backend_new("cpu", &p, &err);
  kern_backend_t ref = quick ? NULL : kern_backend_new("cpu-ref", NULL, &err);
  if (!be) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  kern_cpu_info info;
  kern_cpu_info_get(&info);
  n_threads_used = p.n_threads > 0 ? p.n_threads : info.physical_cores;
  char feat[256];
  printf("# %s, %d physical cores, threads %d (0 = default), %s\n", info.model, info.physical_cores, p.n_threads,
         kern_cpu_features_string(info.features, feat, sizeof feat));
  if (wants(argc, argv, first, "copy"))
    bench_copy();
  if (wants(argc, argv, first, "matvec")) {
    static const int types[] = { KERN_TYPE_Q4_0, KERN_TYPE_Q4_K, KERN_TYPE_Q8_0, KERN_TYPE_Q6_K, KERN_TYPE_Q5_K,
                                 KERN_TYPE_F16 };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      bench_matvec(be, types[i], 4096, 4096);
  }
  if (wants(argc, argv, first, "gemm")) {
    static const int64_t shapes[][3] = { { 512, 512, 1500 }, { 512, 2048, 1500 }, { 2048, 512, 1500 },
                                         { 512, 2048, 1 }, { 512, 512, 1 } };
    for (int t = 0; t < 2; t++)
      for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        bench_gemm(be, t == 0 ? KERN_TYPE_F32 : KERN_TYPE_F16, shapes[s][0], shapes[s][1], shapes[s][2]);
    bench_gemm(be, KERN_TYPE_Q4_0, 4096, 4096, 512);
    bench_gemm(be, KERN_TYPE_Q4_K, 4096, 4096, 512);
    bench_gemm(be, KERN_TYPE_Q8_0, 4096, 4096, 512);
  }
  if (wants(argc, argv, first, "attention")) {
    bench_attention(be, ref, KERN_TYPE_F32, 1500, 1500, 8, 8, 64, 0);  /* Whisper-base encoder */
    bench_attention(be, ref, KERN_TYPE_F16, 1500, 1500, 8, 8, 64, 0);
    bench_attention(be, ref, KERN_TYPE_F16, 1, 1500, 8, 8, 64, 0);     /* Whisper decoder cross-attention */
    bench_attention(be, ref, KERN_TYPE_F16, 1, 4096, 32, 8, 128, 1);   /* LLaMA-8B decode, 4K cache */
    bench_attention(be, ref, KERN_TYPE_F16, 512, 512, 32, 8, 128, 1); /* LLaMA prefill of 512 */
  }
  if (wants(argc, argv, first, "ops")) {
    bench_ops(be, ref, OP_GELU, "gelu 2048x1500");
    bench_ops(be, ref, OP_SOFTMAX, "softmax 1500x1500");
    bench_ops(be, ref, OP_LAYERNORM, "layernorm 512x1500");
    bench_ops(be, ref, OP_CONV1D, "conv1d f16 80->512 k3 T=3000");
  }
  kern_backend_free(be);
  if (ref)
    kern_backend_free(ref);
  free(err);
  return 0;
}
