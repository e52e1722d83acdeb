/* kern-bench.c: op timings at model-sized shapes on any backend.
 *
 * One table of cases (matvec on each weight type, GEMMs, attention, row ops,
 * conv) shared by `hark bench ops` and the benchmark programs under bench/.
 * Inputs are random (never zeros); times are medians over repeated runs with a
 * backend sync after each; bytes count what the op must read and write. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kern-bench.h"
#include "kern-cpu.h"

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- host copy bandwidth ---------------------------------------------- */

typedef struct {
  char *dst;
  const char *src;
  size_t n;
} copy_job;

static void *
copy_worker(void *arg)
{
  copy_job *j = arg;
  memcpy(j->dst, j->src, j->n);
  return NULL;
}

/* GB/s of a threaded memcpy (read + write counted) over `bytes`. */
double
kern_bench_host_copy_bandwidth(size_t bytes, int threads)
{
  char *a = malloc(bytes), *b = malloc(bytes);
  if (!a || !b) {
    free(a), free(b);
    return 0;
  }
  memset(a, 1, bytes);
  memset(b, 2, bytes);
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    pthread_t th[64];
    copy_job jobs[64];
    size_t chunk = bytes / (size_t)threads;
    double t0 = kern_clock_s();
    for (int i = 0; i < threads; i++) {
      jobs[i] = (copy_job){ b + chunk * (size_t)i, a + chunk * (size_t)i, chunk };
      pthread_create(&th[i], NULL, copy_worker, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
      pthread_join(th[i], NULL);
    double gbs = 2.0 * (double)(chunk * (size_t)threads) / (kern_clock_s() - t0) / 1e9;
    if (gbs > best)
      best = gbs;
  }
  free(a), free(b);
  return best;
}

/* ---- op cases -------------------------------------------------------- */

typedef struct {
  kern_backend_t be;
  kern_tensor *t[6];
  int n;
} bench_state;

static kern_tensor *
rand_tensor(bench_state *st, int type, int n_dims, const int64_t *ne, uint64_t seed)
{
  kern_tensor *t = kern_tensor_new(st->be, type, n_dims, ne);
  if (!t)
    return NULL;
  int64_t nel = ne[0];
  for (int d = 1; d < n_dims; d++)
    nel *= ne[d];
  float *f = malloc((size_t)nel * sizeof *f);
  void *q = malloc(t->nbytes);
  if (!f || !q) {
    free(f), free(q);
    kern_tensor_free(t);
    return NULL;
  }
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < nel; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    f[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
  }
  if (type == KERN_TYPE_I32) {
    for (int64_t i = 0; i < nel; i++)
      ((int32_t *)q)[i] = (int32_t)(i % 1000);
  } else if (kern_type_can_quantize(type)) {
    kern_quantize_row(type, f, q, nel);
  } else {
    /* Types without a quantizer (Q2_K, Q3_K): random bytes are valid blocks. */
    for (size_t i = 0; i < t->nbytes; i++)
      ((uint8_t *)q)[i] = (uint8_t)(i * 2654435761u >> 13);
  }
  kern_tensor_set(t, q, 0, t->nbytes);
  free(f), free(q);
  st->t[st->n++] = t;
  return t;
}

typedef enum { B_MATMUL, B_ATTN, B_RMSNORM, B_SOFTMAX, B_COPY, B_ROPE, B_CONV1D } bench_kind;

typedef struct {
  const char *name;
  bench_kind kind;
  int type;
  int64_t a, b, c, d;
  int memory_bound;
  int gpu_only;
} bench_case;

static const bench_case cases[] = {
  { "matvec q4_0 4096x4096", B_MATMUL, KERN_TYPE_Q4_0, 4096, 4096, 1, 0, 1, 0 },
  { "matvec q4_K 4096x4096", B_MATMUL, KERN_TYPE_Q4_K, 4096, 4096, 1, 0, 1, 0 },
  { "matvec q8_0 4096x4096", B_MATMUL, KERN_TYPE_Q8_0, 4096, 4096, 1, 0, 1, 0 },
  { "matvec q6_K 4096x4096", B_MATMUL, KERN_TYPE_Q6_K, 4096, 4096, 1, 0, 1, 0 },
  { "matvec q4_K 4096x11008", B_MATMUL, KERN_TYPE_Q4_K, 4096, 11008, 1, 0, 1, 0 },
  { "matvec q4_K 11008x4096", B_MATMUL, KERN_TYPE_Q4_K, 11008, 4096, 1, 0, 1, 0 },
  { "matvec f16 4096x4096", B_MATMUL, KERN_TYPE_F16, 4096, 4096, 1, 0, 1, 0 },
  { "matmul q4_K 4096x4096 x 64", B_MATMUL, KERN_TYPE_Q4_K, 4096, 4096, 64, 0, 0, 0 },
  { "matmul f16 512x2048 x 1500 (whisper-base mlp)", B_MATMUL, KERN_TYPE_F16, 512, 2048, 1500, 0, 0, 0 },
  { "matmul q8_0 512x2048 x 1500 (whisper-base mlp)", B_MATMUL, KERN_TYPE_Q8_0, 512, 2048, 1500, 0, 0, 0 },
  { "matmul f32 512x512 x 1500", B_MATMUL, KERN_TYPE_F32, 512, 512, 1500, 0, 0, 0 },
  { "matmul f16 4096x4096 x 4096", B_MATMUL, KERN_TYPE_F16, 4096, 4096, 4096, 0, 0, 1 },
  { "matmul f16 8192x8192 x 8192", B_MATMUL, KERN_TYPE_F16, 8192, 8192, 8192, 0, 0, 1 },
  { "matvec q4_K 4096x32000 (7B output)", B_MATMUL, KERN_TYPE_Q4_K, 4096, 32000, 1, 0, 1, 1 },
  { "matvec q6_K 4096x32000 (7B output)", B_MATMUL, KERN_TYPE_Q6_K, 4096, 32000, 1, 0, 1, 1 },
  { "matmul q4_K 4096x4096 x 512 (prefill)", B_MATMUL, KERN_TYPE_Q4_K, 4096, 4096, 512, 0, 0, 1 },
  { "attention 64x8 1500x1500 f16 kv", B_ATTN, KERN_TYPE_F16, 64, 8, 1500, 1500, 0, 0 },
  { "attention decode 128x32 kv8 4096 keys f16", B_ATTN, KERN_TYPE_F16, 128, 32, 1, 4096, 1, 0 },
  { "rmsnorm 4096 x 512", B_RMSNORM, KERN_TYPE_F32, 4096, 512, 0, 0, 1, 0 },
  { "softmax 1500 x 12000", B_SOFTMAX, KERN_TYPE_F32, 1500, 12000, 0, 0, 1, 0 },
  { "rope neox 128x32 x 512", B_ROPE, KERN_TYPE_F32, 128, 32, 512, 0, 1, 0 },
  { "copy f32->f16 16M", B_COPY, KERN_TYPE_F16, 1 << 24, 0, 0, 0, 1, 0 },
  { "conv1d 512->512 k3 s2 x 3000 (whisper-base conv2)", B_CONV1D, KERN_TYPE_F16, 512, 3000, 512, 3, 0, 0 },
};

/* Sets up the case; returns the runner's argument tensors in st. bytes/flops out. */
static int
bench_setup(bench_state *st, const bench_case *c, double *bytes, double *flops)
{
  const kern_type_traits *tr = kern_type_get_traits(c->type);
  switch (c->kind) {
  case B_MATMUL: {
    int64_t K = c->a, N = c->b, M = c->c;
    const int64_t wne[2] = { K, N }, xne[2] = { K, M }, yne[2] = { N, M };
    if (!rand_tensor(st, c->type, 2, wne, 1) || !rand_tensor(st, KERN_TYPE_F32, 2, xne, 2) ||
        !rand_tensor(st, KERN_TYPE_F32, 2, yne, 3))
      return -1;
    *bytes = (double)kern_type_row_size(c->type, K) * (double)N + 4.0 * (double)(K * M + N * M);
    *flops = 2.0 * (double)K * (double)N * (double)M;
    return 0;
  }
  case B_ATTN: {
    int64_t hd = c->a, nh = c->b, Tq = c->c, Tk = c->d, nkv = c->memory_bound ? nh / 4 : nh;
    const int64_t qne[3] = { hd, nh, Tq }, kne[3] = { hd, nkv, Tk };
    if (!rand_tensor(st, KERN_TYPE_F32, 3, qne, 1) || !rand_tensor(st, c->type, 3, kne, 2) ||
        !rand_tensor(st, c->type, 3, kne, 3) || !rand_tensor(st, KERN_TYPE_F32, 3, qne, 4))
      return -1;
    *bytes = 2.0 * (double)kern_type_row_size(c->type, hd * nkv * Tk) + 8.0 * (double)(hd * nh * Tq);
    *flops = 4.0 * (double)hd * (double)nh * (double)Tq * (double)Tk;
    return 0;
  }
  case B_RMSNORM:
  case B_SOFTMAX: {
    const int64_t ne[2] = { c->a, c->b }, gne[1] = { c->a };
    if (!rand_tensor(st, KERN_TYPE_F32, 2, ne, 1) || !rand_tensor(st, KERN_TYPE_F32, 2, ne, 2) ||
        !rand_tensor(st, KERN_TYPE_F32, 1, gne, 3))
      return -1;
    *bytes = 8.0 * (double)(c->a * c->b);
    *flops = 5.0 * (double)(c->a * c->b);
    return 0;
  }
  case B_ROPE: {
    const int64_t ne[3] = { c->a, c->b, c->c }, pne[1] = { c->c };
    if (!rand_tensor(st, KERN_TYPE_F32, 3, ne, 1) || !rand_tensor(st, KERN_TYPE_I32, 1, pne, 2))
      return -1;
    *bytes = 8.0 * (double)(c->a * c->b * c->c);
    *flops = 6.0 * (double)(c->a * c->b * c->c);
    return 0;
  }
  case B_COPY: {
    const int64_t ne[1] = { c->a };
    if (!rand_tensor(st, KERN_TYPE_F32, 1, ne, 1) || !rand_tensor(st, c->type, 1, ne, 2))
      return -1;
    *bytes = (4.0 + (double)tr->type_size) * (double)c->a;
    *flops = 0;
    return 0;
  }
  case B_CONV1D: {
    int64_t Cin = c->a, T = c->b, Cout = c->c, K = c->d, Tout = (T + 2 - K) / 2 + 1;
    const int64_t xne[2] = { Cin, T }, wne[3] = { K, Cin, Cout }, yne[2] = { Cout, Tout };
    if (!rand_tensor(st, KERN_TYPE_F32, 2, xne, 1) || !rand_tensor(st, c->type, 3, wne, 2) ||
        !rand_tensor(st, KERN_TYPE_F32, 2, yne, 3))
      return -1;
    *bytes = 4.0 * (double)(Cin * T + Cout * Tout) + (double)tr->type_size * (double)(K * Cin * Cout);
    *flops = 2.0 * (double)(K * Cin * Cout * Tout);
    return 0;
  }
  }
  return -1;
}

static int
bench_run(bench_state *st, const bench_case *c)
{
  kern_backend_t be = st->be;
  kern_tensor **t = st->t;
  switch (c->kind) {
  case B_MATMUL: return kern_matmul(be, t[2], t[0], t[1], NULL);
  case B_ATTN: return kern_attention(be, t[3], t[0], t[1], t[2], 0.125f, c->memory_bound, c->d - 1);
  case B_RMSNORM: return kern_rmsnorm(be, t[1], t[0], t[2], 1e-6f);
  case B_SOFTMAX: return kern_softmax(be, t[1], t[0], 1.0f);
  case B_ROPE: {
    kern_rope_params p = { .n_rot = (int)c->a, .mode = KERN_ROPE_NEOX, .base = 10000, .freq_scale = 1 };
    return kern_rope(be, t[0], t[0], t[1], &p);
  }
  case B_COPY: return kern_copy(be, t[1], t[0]);
  case B_CONV1D: return kern_conv1d(be, t[2], t[0], t[1], NULL, 2, 1);
  }
  return -1;
}

double
kern_bench_device_copy_bandwidth(kern_backend_t be)
{
  bench_state st = { be, { 0 }, 0 };
  const int64_t ne[1] = { 64 << 20 }; /* 256 MiB of f32 */
  if (!rand_tensor(&st, KERN_TYPE_F32, 1, ne, 1) || !rand_tensor(&st, KERN_TYPE_F32, 1, ne, 2))
    return 0;
  double best = 0;
  for (int rep = 0; rep < 6; rep++) {
    kern_backend_sync(be);
    double t0 = kern_clock_s();
    if (kern_copy(be, st.t[1], st.t[0]) != 0 || kern_backend_sync(be) != 0)
      break;
    double gbs = 2.0 * (double)st.t[0]->nbytes / (kern_clock_s() - t0) / 1e9;
    if (rep > 0 && gbs > best)
      best = gbs;
  }
  for (int i = 0; i < st.n; i++)
    kern_tensor_free(st.t[i]);
  return best;
}


int
kern_bench_n_cases(void)
{
  return (int)(sizeof cases / sizeof cases[0]);
}

const char *
kern_bench_case_name(int i)
{
  return i >= 0 && i < kern_bench_n_cases() ? cases[i].name : NULL;
}

int
kern_bench_case_flags(int i)
{
  if (i < 0 || i >= kern_bench_n_cases())
    return 0;
  const bench_case *c = &cases[i];
  int heavy = c->kind == B_MATMUL ? c->c > 1 : c->kind == B_ATTN && c->c > 1;
  return (c->memory_bound ? KERN_BENCH_MEMORY_BOUND : 0) | (c->gpu_only ? KERN_BENCH_GPU_ONLY : 0) |
         (heavy ? KERN_BENCH_HEAVY : 0);
}

int
kern_bench_case_run(kern_backend_t be, int i, double min_time, double copy_gbs, kern_bench_result *r)
{
  memset(r, 0, sizeof *r);
  if (i < 0 || i >= kern_bench_n_cases()) {
    r->error = "no such case";
    return -1;
  }
  const bench_case *c = &cases[i];
  bench_state st = { be, { 0 }, 0 };
  double bytes = 0, flops = 0;
  int rc = 0;
  if (bench_setup(&st, c, &bytes, &flops) != 0) {
    r->error = "out of memory";
    rc = -1;
  } else if (bench_run(&st, c) != 0 || kern_backend_sync(be) != 0) { /* warm-up */
    r->error = kern_backend_errmsg(be);
    rc = -1;
  } else {
    double times[64];
    int n = 0;
    double start = kern_clock_s();
    while (n < 64 && (n < 3 || kern_clock_s() - start < min_time)) {
      double t0 = kern_clock_s();
      bench_run(&st, c);
      kern_backend_sync(be);
      times[n++] = kern_clock_s() - t0;
    }
    qsort(times, (size_t)n, sizeof times[0], cmp_double);
    double t = times[n / 2];
    r->ms = t * 1e3;
    r->gbs = bytes / t / 1e9;
    r->gflops = flops / t / 1e9;
    r->of_copy = c->memory_bound && copy_gbs > 0 ? r->gbs / copy_gbs : -1;
  }
  for (int k = 0; k < st.n; k++)
    kern_tensor_free(st.t[k]);
  return rc;
}
