/* kern-cpu-fast.c: the fast CPU backend ("cpu").
 *
 * A persistent thread pool (threads = physical cores unless n_threads says
 * otherwise; workers spin ~100 us after each op, then sleep on a condition
 * variable) runs a parallel-for over tasks; the op drivers here split each op
 * into tasks (rows, tiles of a matmul, heads of attention) and call the
 * kernels of the table chosen at creation from kern_cpu_features()
 * (kern-cpu-fast-private.h): AVX-512 (F/BW/VL/VNNI), AVX2 (+FMA, F16C), or
 * the portable C kernels. HARK_CPU_KERNELS=generic|avx2 in the environment
 * caps the choice (to test the lower tiers on a bigger CPU).
 *
 * Quantized matmul quantizes each activation row once (A32 / A256 formats)
 * and dots it against the weight blocks in place, one weight row against up
 * to 4 activation rows; float weights (F32, F16, BF16) use dot-product tiles
 * for few activation rows and packed outer-product panels from 64 rows on.
 * Matmuls tile over weight rows and activation rows so each weight row is
 * read from memory once per tile of activation rows. Ops with nothing faster
 * to offer call the reference (_kern_ref_*).
 *
 * One calling thread at a time (kern-backend.h); the pool is joined on
 * destroy. */
#include "kern-cpu-fast-private.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kern-cpu-ref.h"
#include "kern-cpu.h"

/* ---- thread pool ------------------------------------------------------------- */

typedef void (*task_fn)(void *ctx, int64_t task, int tid);

#define SPIN_NS 100000 /* a worker spins this long for the next op before sleeping */

/* The parameters of one parallel-for; two slots so a late worker still reading
 * generation g's never races with the caller writing g + 1's. */
typedef struct {
  _Atomic(task_fn) fn;
  _Atomic(void *) ctx;
  atomic_int_fast64_t n_tasks;
} pool_job;

/* Tasks are claimed by compare-and-swap on `work` = generation << 32 | next
 * task, so a worker that wakes up late can never claim a task of a newer op,
 * and the caller waits only for tasks that were actually claimed: a worker
 * the OS has not scheduled yet does not delay an op, the caller just does
 * more of it. */
typedef struct pool {
  int n_threads; /* including the calling thread (tid 0) */
  pthread_t *threads;
  struct worker_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t wake;       /* workers wait here for a new generation */
  pthread_cond_t done;       /* the caller waits here for claimed tasks */
  atomic_uint gen;           /* bumped once per parallel-for */
  atomic_uint_fast64_t work; /* gen << 32 | next unclaimed task */
  atomic_int_fast64_t completed;
  atomic_int n_sleeping;     /* workers inside (or entering) pthread_cond_wait */
  atomic_int caller_sleeping;
  atomic_int stop;
  pool_job jobs[2];
} pool;

typedef struct worker_arg {
  pool *p;
  int tid;
} worker_arg;

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline int64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs tasks of generation g until none is left. */
static void
pool_work(pool *p, unsigned g, int tid)
{
  const pool_job *job = &p->jobs[g & 1];
  task_fn fn = atomic_load_explicit(&job->fn, memory_order_relaxed);
  void *ctx = atomic_load_explicit(&job->ctx, memory_order_relaxed);
  uint64_t n = (uint64_t)atomic_load_explicit(&job->n_tasks, memory_order_relaxed);
  uint64_t v = atomic_load_explicit(&p->work, memory_order_acquire);
  for (;;) {
    if ((uint32_t)(v >> 32) != (uint32_t)g || (v & 0xffffffffu) >= n)
      return;
    if (!atomic_compare_exchange_weak_explicit(&p->work, &v, v + 1, memory_order_acquire, memory_order_acquire))
      continue;
    fn(ctx, (int64_t)(v & 0xffffffffu), tid);
    if ((uint64_t)atomic_fetch_add(&p->completed, 1) + 1 == n && atomic_load(&p->caller_sleeping)) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
    v = atomic_load_explicit(&p->work, memory_order_acquire);
  }
}

static void *
worker_main(void *arg)
{
  worker_arg *wa = arg;
  pool *p = wa->p;
  int tid = wa->tid;
  unsigned seen = 0;
  for (;;) {
    unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
    int64_t t0 = 0;
    for (int spin = 0; g == seen; spin++) {
      cpu_relax();
      if ((spin & 63) == 63) {
        int64_t t = now_ns();
        if (!t0)
          t0 = t;
        else if (t - t0 > SPIN_NS) {
          pthread_mutex_lock(&p->mu);
          atomic_fetch_add(&p->n_sleeping, 1);
          while ((g = atomic_load(&p->gen)) == seen)
            pthread_cond_wait(&p->wake, &p->mu);
          atomic_fetch_sub(&p->n_sleeping, 1);
          pthread_mutex_unlock(&p->mu);
          break;
        }
      }
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    seen = g;
    if (atomic_load(&p->stop))
      break;
    pool_work(p, g, tid);
  }
  return NULL;
}

/* Publishes generation g (its job slot and work word already set) and wakes
 * sleeping workers. */
static void
pool_kick(pool *p, unsigned g)
{
  atomic_store(&p->gen, g);
  if (atomic_load(&p->n_sleeping) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }
}

/* Runs fn(ctx, i, tid) for i in [0, n_tasks) on all threads; returns when
 * every task is done. */
static void
pool_run(pool *p, int64_t n_tasks, task_fn fn, void *ctx)
{
  if (n_tasks <= 0)
    return;
  if (p->n_threads == 1 || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; i++)
      fn(ctx, i, 0);
    return;
  }
  unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
  pool_job *job = &p->jobs[g & 1];
  atomic_store_explicit(&job->fn, fn, memory_order_relaxed);
  atomic_store_explicit(&job->ctx, ctx, memory_order_relaxed);
  atomic_store_explicit(&job->n_tasks, n_tasks, memory_order_relaxed);
  atomic_store_explicit(&p->completed, 0, memory_order_relaxed);
  atomic_store_explicit(&p->work, (uint64_t)g << 32, memory_order_release);
  pool_kick(p, g);
  pool_work(p, g, 0);
  int64_t t0 = 0;
  for (int spin = 0; atomic_load_explicit(&p->completed, memory_order_acquire) < n_tasks; spin++) {
    cpu_relax();
    if ((spin & 63) == 63) {
      int64_t t = now_ns();
      if (!t0)
        t0 = t;
      else if (t - t0 > SPIN_NS / 4) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeping, 1);
        while (atomic_load(&p->completed) < n_tasks)
          pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_sleeping, 0);
        pthread_mutex_unlock(&p->mu);
        break;
      }
    }
  }
}

static void
pool_free(pool *p)
{
  if (!p)
    return;
  if (p->threads) {
    atomic_store(&p->stop, 1);
    pool_kick(p, atomic_load(&p->gen) + 1);
    for (int i = 1; i < p->n_threads; i++)
      if (p->threads[i])
        pthread_join(p->threads[i], NULL);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->threads);
  free(p->args);
  free(p);
}

static pool *
pool_new(int n_threads)
{
  pool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->n_threads = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (n_threads == 1)
    return p;
  p->threads = calloc((size_t)n_threads, sizeof *p->threads);
  worker_arg *args = p->args = calloc((size_t)n_threads, sizeof *args);
  if (!p->threads || !args) {
    free(p->threads);
    p->threads = NULL;
    pool_free(p);
    return NULL;
  }
  for (int i = 1; i < n_threads; i++) {
    args[i].p = p;
    args[i].tid = i;
    if (pthread_create(&p->threads[i], NULL, worker_main, &args[i]) != 0) {
      p->threads[i] = 0;
      p->n_threads = i; /* run with the threads we got */
      break;
    }
  }
  return p;
}

/* ---- the backend state ------------------------------------------------------- */

typedef struct {
  pool *pool;
  int n_threads;
  const kern_cpu_kernels *k;
  void *scratch;       /* shared: quantized activations, im2col, copies */
  size_t scratch_size;
  void **tscratch;     /* per thread */
  size_t tscratch_size;
  void *kv16;          /* Q8_0 keys and values widened to F16 for attention */
  size_t kv16_size;
} fast_ctx;

static fast_ctx *
ctx_of(kern_backend_t be)
{
  return be->ctx;
}

static void *
grow(kern_backend_t be, void **buf, size_t *size, size_t need)
{
  if (*size >= need)
    return *buf;
  void *p = NULL;
  need = (need + 4095) & ~(size_t)4095;
  if (posix_memalign(&p, 64, need) != 0) {
    _kern_backend_error(be, KERN_E_NOMEM, "out of host memory (%zu bytes of scratch)", need);
    return NULL;
  }
  free(*buf);
  *buf = p;
  *size = need;
  return p;
}

static void *
shared_scratch(kern_backend_t be, size_t need)
{
  fast_ctx *c = ctx_of(be);
  return grow(be, &c->scratch, &c->scratch_size, need);
}

/* Makes every thread's scratch at least `need` bytes. */
static int
thread_scratch(kern_backend_t be, size_t need)
{
  fast_ctx *c = ctx_of(be);
  if (c->tscratch_size >= need)
    return 0;
  need = (need + 4095) & ~(size_t)4095;
  for (int i = 0; i < c->n_threads; i++) {
    void *p = NULL;
    if (posix_memalign(&p, 64, need) != 0)
      return _kern_backend_error(be, KERN_E_NOMEM, "out of host memory (%zu bytes of thread scratch)", need);
    free(c->tscratch[i]);
    c->tscratch[i] = p;
  }
  c->tscratch_size = need;
  return 0;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
  return (a + b - 1) / b;
}

/* Splits n items into chunks of at least `min_chunk`, about 4 per thread. */
static int64_t
chunk_size(fast_ctx *c, int64_t n, int64_t min_chunk)
{
  int64_t ch = ceil_div(n, (int64_t)c->n_threads * 4);
  return ch < min_chunk ? min_chunk : ch;
}

/* ---- matmul ------------------------------------------------------------------ */

typedef struct {
  kern_tile_fn fn;
  int64_t K, N, M;
  const char *w;
  size_t ws;            /* bytes per weight row */
  const char *x;
  size_t xs;            /* bytes per activation row (float or quantized) */
  float *y;
  const float *bias;
  int mr;               /* activation rows per kernel call */
  int64_t nb, mb;       /* weight rows / activation rows per task */
  int64_t n_mtiles;
} mm_job;

#define MM_GROUP 16 /* weight rows per pass over a task's activation rows */

static void
mm_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const mm_job *j = arg;
  int64_t n0 = (task / j->n_mtiles) * j->nb, m0 = (task % j->n_mtiles) * j->mb;
  int64_t n1 = n0 + j->nb < j->N ? n0 + j->nb : j->N, m1 = m0 + j->mb < j->M ? m0 + j->mb : j->M;
  /* weight rows outer in groups that stay in cache, activation rows inner */
  for (int64_t g0 = n0; g0 < n1; g0 += MM_GROUP) {
    int nr = (int)(n1 - g0 < MM_GROUP ? n1 - g0 : MM_GROUP);
    for (int64_t m = m0; m < m1; m += j->mr) {
      int mr = (int)(m1 - m < j->mr ? m1 - m : j->mr);
      j->fn(j->K, j->w + (size_t)g0 * j->ws, j->ws, nr, j->x + (size_t)m * j->xs, j->xs, mr,
            j->y + (size_t)m * (size_t)j->N + (size_t)g0, (size_t)j->N, j->bias ? j->bias + g0 : NULL);
    }
  }
}

/* Float weights against many activation rows: packed panels. */
typedef struct {
  const kern_cpu_kernels *k;
  int wt;
  int64_t K, N, M, kc;
  const char *w;
  size_t ws;
  const char *x;
  size_t xs;
  float *y;
  const float *bias;
  int64_t nb, mb, n_mtiles;
  void **tscratch;
} gp_job;

#define GP_KC 256 /* weight values per packed panel row block: panel + activations stay in L1/L2 */

static void
gp_task(void *arg, int64_t task, int tid)
{
  const gp_job *j = arg;
  const int nrp = j->k->gemmp_nr, mrp = j->k->gemmp_mr;
  int64_t n0 = (task / j->n_mtiles) * j->nb, m0 = (task % j->n_mtiles) * j->mb;
  int64_t n1 = n0 + j->nb < j->N ? n0 + j->nb : j->N, m1 = m0 + j->mb < j->M ? m0 + j->mb : j->M;
  float *wp = j->tscratch[tid]; /* (kc, nrp) packed panel */
  for (int64_t g0 = n0; g0 < n1; g0 += nrp) {
    int nr = (int)(n1 - g0 < nrp ? n1 - g0 : nrp);
    for (int64_t k0 = 0; k0 < j->K; k0 += j->kc) {
      int64_t kc = j->K - k0 < j->kc ? j->K - k0 : j->kc;
      j->k->gemmp_pack(j->wt, j->w + (size_t)g0 * j->ws, j->ws, nr, k0, kc, wp);
      for (int64_t m = m0; m < m1; m += mrp) {
        int mr = (int)(m1 - m < mrp ? m1 - m : mrp);
        j->k->gemmp(kc, wp, j->x + (size_t)m * j->xs + (size_t)k0 * sizeof(float), j->xs, mr,
                    j->y + (size_t)m * (size_t)j->N + (size_t)g0, (size_t)j->N, nr,
                    j->bias && k0 == 0 ? j->bias + g0 : NULL, k0 > 0);
      }
    }
  }
}

/* y[M, N] = x . w^T + bias. wt: 0/1/2 for F32/F16/BF16 weights (packed GEMM
 * from 64 activation rows on, where packing the weights pays for itself; the
 * dot-product tiles of fn below that), -1 for quantized
 * weights against quantized activation rows with tile kernel fn; mr
 * activation rows per call of fn. */
static int
mm_run(kern_backend_t be, kern_tile_fn fn, int mr, int64_t K, int64_t N, int64_t M, const void *w, size_t ws,
       const void *x, size_t xs, float *y, const float *bias, int wt)
{
  fast_ctx *c = ctx_of(be);
  if (wt >= 0 && M >= 64) {
    const kern_cpu_kernels *k = c->k;
    gp_job g = { k, wt, K, N, M, K <= GP_KC + GP_KC / 2 ? K : GP_KC, w, ws, x, xs, y, bias, 0, 0, 0, c->tscratch };
    if (thread_scratch(be, (size_t)(g.kc * k->gemmp_nr) * sizeof(float)) != 0)
      return KERN_E_NOMEM;
    /* one panel of weight rows per task, all activation rows (the panel is
     * packed once); split the activation rows only to have enough tasks */
    g.nb = k->gemmp_nr;
    int64_t n_tiles = ceil_div(N, g.nb), want = 4 * (int64_t)c->n_threads;
    int64_t m_split = n_tiles >= want ? 1 : ceil_div(want, n_tiles);
    g.mb = ceil_div(ceil_div(M, m_split), k->gemmp_mr) * k->gemmp_mr;
    if (g.mb < 4 * k->gemmp_mr)
      g.mb = 4 * k->gemmp_mr;
    g.n_mtiles = ceil_div(M, g.mb);
    pool_run(c->pool, n_tiles * g.n_mtiles, gp_task, &g);
    return 0;
  }
  mm_job j = { .fn = fn, .K = K, .N = N, .M = M, .w = w, .ws = ws, .x = x, .xs = xs, .y = y, .bias = bias, .mr = mr };
  if (M <= 2 * mr) {
    /* matrix-vector: split the weight rows, ~16 tasks per thread */
    j.mb = M;
    j.nb = (ceil_div(N, (int64_t)c->n_threads * 16) + 3) & ~(int64_t)3;
    if (j.nb < 4)
      j.nb = 4;
    if (j.nb > 256)
      j.nb = 256;
  } else {
    /* tiles of 64 weight rows x a multiple of mr activation rows, the weight
     * tile read from memory once per activation tile */
    j.nb = 64;
    j.mb = (int64_t)mr * (mr >= 4 ? 16 : 32);
    int64_t tasks = ceil_div(N, j.nb) * ceil_div(M, j.mb);
    while (tasks < (int64_t)c->n_threads * 4 && j.nb > 16) {
      j.nb /= 2;
      tasks = ceil_div(N, j.nb) * ceil_div(M, j.mb);
    }
    while (tasks < (int64_t)c->n_threads * 4 && j.mb > mr) {
      j.mb = (j.mb / 2 + mr - 1) / mr * mr;
      tasks = ceil_div(N, j.nb) * ceil_div(M, j.mb);
    }
  }
  j.n_mtiles = ceil_div(M, j.mb);
  pool_run(c->pool, ceil_div(N, j.nb) * j.n_mtiles, mm_task, &j);
  return 0;
}

/* Q8_0 weights against many activation rows: packed panels (q8g). */
typedef struct {
  const kern_cpu_kernels *k;
  int64_t K, N, M;
  const char *w;
  size_t ws;
  const uint8_t *x; /* A32 rows */
  size_t xs;
  float *y;
  const float *bias;
  int64_t nb, mb, n_mtiles;
  void **tscratch;
} q8g_job;

static void
q8g_task(void *arg, int64_t task, int tid)
{
  const q8g_job *j = arg;
  const int nrp = j->k->q8g_nr, mrp = j->k->q8g_mr;
  int64_t n0 = (task / j->n_mtiles) * j->nb, m0 = (task % j->n_mtiles) * j->mb;
  int64_t n1 = n0 + j->nb < j->N ? n0 + j->nb : j->N, m1 = m0 + j->mb < j->M ? m0 + j->mb : j->M;
  uint8_t *panel = j->tscratch[tid];
  for (int64_t g0 = n0; g0 < n1; g0 += nrp) {
    int nr = (int)(n1 - g0 < nrp ? n1 - g0 : nrp);
    j->k->q8g_pack(j->w + (size_t)g0 * j->ws, j->ws, nr, j->K, panel);
    for (int64_t m = m0; m < m1; m += mrp) {
      int mr = (int)(m1 - m < mrp ? m1 - m : mrp);
      j->k->q8g(j->K, panel, j->x + (size_t)m * j->xs, j->xs, mr, j->y + (size_t)m * (size_t)j->N + (size_t)g0,
                (size_t)j->N, nr, j->bias ? j->bias + g0 : NULL);
    }
  }
}

static int
q8g_run(kern_backend_t be, int64_t K, int64_t N, int64_t M, const void *w, size_t ws, const uint8_t *x, size_t xs,
        float *y, const float *bias)
{
  fast_ctx *c = ctx_of(be);
  const kern_cpu_kernels *k = c->k;
  q8g_job g = { k, K, N, M, w, ws, x, xs, y, bias, 0, 0, 0, c->tscratch };
  if (thread_scratch(be, kern_q8g_panel_size(K, k->q8g_nr)) != 0)
    return KERN_E_NOMEM;
  /* as the float panels: one panel per task, activation rows split only for task count */
  g.nb = k->q8g_nr;
  int64_t n_tiles = ceil_div(N, g.nb), want = 4 * (int64_t)c->n_threads;
  int64_t m_split = n_tiles >= want ? 1 : ceil_div(want, n_tiles);
  g.mb = ceil_div(ceil_div(M, m_split), k->q8g_mr) * k->q8g_mr;
  g.n_mtiles = ceil_div(M, g.mb);
  pool_run(c->pool, n_tiles * g.n_mtiles, q8g_task, &g);
  return 0;
}

typedef struct {
  kern_act_quant_fn fn;
  const float *x;
  int64_t K;
  uint8_t *dst;
  size_t row;
  int64_t chunk, M;
} aq_job;

static void
aq_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const aq_job *j = arg;
  for (int64_t m = task * j->chunk; m < j->M && m < (task + 1) * j->chunk; m++)
    j->fn(j->x + m * j->K, j->K, j->dst + (size_t)m * j->row);
}

static int
float_wt(int type)
{
  return type == KERN_TYPE_F32 ? 0 : type == KERN_TYPE_F16 ? 1 : type == KERN_TYPE_BF16 ? 2 : -1;
}

static int
overlaps(const void *a, size_t na, const void *b, size_t nb)
{
  const char *pa = a, *pb = b;
  return pa < pb + nb && pb < pa + na;
}

static int
fast_matmul(kern_backend_t be, kern_tensor *y, const kern_tensor *w, const kern_tensor *x, const kern_tensor *bias)
{
  fast_ctx *c = ctx_of(be);
  int64_t K = w->ne[0], N = kern_tensor_nrows(w), M = kern_tensor_nrows(x);
  size_t ws = kern_type_row_size(w->type, K);
  const float *bd = bias ? bias->data : NULL;
  int wt = float_wt(w->type);
  if (wt >= 0) {
    const float *xd = x->data; /* (M, K) */
    if (overlaps(y->data, y->nbytes, x->data, x->nbytes)) {
      float *copy = shared_scratch(be, x->nbytes);
      if (!copy)
        return KERN_E_NOMEM;
      memcpy(copy, x->data, x->nbytes);
      xd = copy;
    }
    return mm_run(be, c->k->gemm[wt], c->k->gemm_mr, K, N, M, w->data, ws, xd, (size_t)K * sizeof(float), y->data, bd,
                  wt);
  }
  int fmt = kern_act_format(w->type);
  if (fmt < 0 || !c->k->qdot[w->type])
    return _kern_ref_matmul(be, y, w, x, bias);
  size_t row = kern_act_row_size(fmt, K);
  uint8_t *act = shared_scratch(be, row * (size_t)M); /* (M, row) quantized activations */
  if (!act)
    return KERN_E_NOMEM;
  aq_job q = { c->k->act_quant[fmt], x->data, K, act, row, 0, M };
  q.chunk = chunk_size(c, M, 1);
  if (M * K < 16384)
    q.chunk = M;
  pool_run(c->pool, ceil_div(M, q.chunk), aq_task, &q);
  if (w->type == KERN_TYPE_Q8_0 && c->k->q8g && M >= 32)
    return q8g_run(be, K, N, M, w->data, ws, act, row, y->data, bd);
  return mm_run(be, c->k->qdot[w->type], c->k->qdot_mr, K, N, M, w->data, ws, act, row, y->data, bd, -1);
}

/* ---- elementwise and row ops ---------------------------------------------- */

typedef struct {
  fast_ctx *c;
  int op;
  const float *a, *b;
  float *y;
  int64_t n0, rows, brows, chunk;
  float s, eps;
  const float *g, *beta;
  int kind;
  int flat; /* tasks are element ranges [task * chunk, +chunk) of one long row */
  int64_t n;
} row_job;

enum { RJ_ADD, RJ_MUL, RJ_SCALE, RJ_UNARY, RJ_SWIGLU, RJ_SOFTMAX, RJ_LAYERNORM, RJ_RMSNORM };

static void
row_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const row_job *j = arg;
  const kern_cpu_kernels *k = j->c->k;
  if (j->flat) {
    int64_t e0 = task * j->chunk, n = j->n - e0 < j->chunk ? j->n - e0 : j->chunk;
    const float *a = j->a + e0;
    float *y = j->y + e0;
    switch (j->kind) {
    case RJ_ADD: k->add(a, j->b + e0, y, n); break;
    case RJ_MUL: k->mul(a, j->b + e0, y, n); break;
    case RJ_SCALE: k->scale(a, j->s, y, n); break;
    case RJ_UNARY: k->unary(j->op, a, y, n); break;
    case RJ_SWIGLU: k->swiglu(a, j->b + e0, y, n); break;
    default: break;
    }
    return;
  }
  int64_t r0 = task * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
  for (int64_t r = r0; r < r1; r++) {
    const float *a = j->a + r * j->n0;
    float *y = j->y + r * j->n0;
    switch (j->kind) {
    case RJ_ADD: k->add(a, j->b + (r % j->brows) * j->n0, y, j->n0); break;
    case RJ_MUL: k->mul(a, j->b + (r % j->brows) * j->n0, y, j->n0); break;
    case RJ_SCALE: k->scale(a, j->s, y, j->n0); break;
    case RJ_UNARY: k->unary(j->op, a, y, j->n0); break;
    case RJ_SWIGLU: k->swiglu(a, j->b + r * j->n0, y, j->n0); break;
    case RJ_SOFTMAX: k->softmax(a, y, j->n0, j->s); break;
    case RJ_LAYERNORM: k->layernorm(a, y, j->n0, j->g, j->beta, j->eps); break;
    case RJ_RMSNORM: k->rmsnorm(a, y, j->n0, j->g, j->eps); break;
    }
  }
}

/* Runs a row job over `rows` rows of n0 values, in tasks of about 16K values. */
static void
rows_run(fast_ctx *c, row_job *j)
{
  j->c = c;
  int64_t per = 16384 / (j->n0 > 0 ? j->n0 : 1);
  j->chunk = chunk_size(c, j->rows, per < 1 ? 1 : per);
  pool_run(c->pool, ceil_div(j->rows, j->chunk), row_task, j);
}

/* Elementwise ops on n contiguous values: tasks of at least 16K values
 * (multiples of 64 keep the vectors aligned as the data is). */
static void
flat_run(fast_ctx *c, row_job *j, int64_t n)
{
  j->c = c;
  j->flat = 1;
  j->n = n;
  j->chunk = (chunk_size(c, n, 16384) + 63) & ~(int64_t)63;
  pool_run(c->pool, ceil_div(n, j->chunk), row_task, j);
}

static int
fast_binary(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b, int kind)
{
  fast_ctx *c = ctx_of(be);
  int64_t n = kern_tensor_nel(a), nb = kern_tensor_nel(b);
  row_job j = { .a = a->data, .b = b->data, .y = y->data, .kind = kind, .brows = 1 };
  if (nb == n) {
    flat_run(c, &j, n);
    return 0;
  }
  j.n0 = a->ne[0];
  j.rows = n / j.n0;
  j.brows = nb / j.n0;
  rows_run(c, &j);
  return 0;
}

static int
fast_add(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  return fast_binary(be, y, a, b, RJ_ADD);
}

static int
fast_mul(kern_backend_t be, kern_tensor *y, const kern_tensor *a, const kern_tensor *b)
{
  return fast_binary(be, y, a, b, RJ_MUL);
}

static int
fast_scale(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float s)
{
  row_job j = { .a = x->data, .y = y->data, .kind = RJ_SCALE, .s = s, .brows = 1 };
  flat_run(ctx_of(be), &j, kern_tensor_nel(x));
  return 0;
}

static int
fast_unary(kern_backend_t be, kern_tensor *y, const kern_tensor *x, kern_unary_op op)
{
  row_job j = { .a = x->data, .y = y->data, .kind = RJ_UNARY, .op = (int)op, .brows = 1 };
  flat_run(ctx_of(be), &j, kern_tensor_nel(x));
  return 0;
}

static int
fast_swiglu(kern_backend_t be, kern_tensor *y, const kern_tensor *gate, const kern_tensor *up)
{
  row_job j = { .a = gate->data, .b = up->data, .y = y->data, .kind = RJ_SWIGLU, .brows = 1 };
  flat_run(ctx_of(be), &j, kern_tensor_nel(gate));
  return 0;
}

static int
fast_softmax(kern_backend_t be, kern_tensor *y, const kern_tensor *x, float scale)
{
  row_job j = { .a = x->data, .y = y->data, .kind = RJ_SOFTMAX, .s = scale, .n0 = x->ne[0],
                .rows = kern_tensor_nrows(x), .brows = 1 };
  rows_run(ctx_of(be), &j);
  return 0;
}

static int
fast_layernorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma,
               const kern_tensor *beta, float eps)
{
  row_job j = { .a = x->data, .y = y->data, .kind = RJ_LAYERNORM, .eps = eps, .n0 = x->ne[0],
                .rows = kern_tensor_nrows(x), .brows = 1, .g = gamma ? gamma->data : NULL,
                .beta = beta ? beta->data : NULL };
  rows_run(ctx_of(be), &j);
  return 0;
}

static int
fast_rmsnorm(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *gamma, float eps)
{
  row_job j = { .a = x->data, .y = y->data, .kind = RJ_RMSNORM, .eps = eps, .n0 = x->ne[0],
                .rows = kern_tensor_nrows(x), .brows = 1, .g = gamma ? gamma->data : NULL };
  rows_run(ctx_of(be), &j);
  return 0;
}

/* ---- rope -------------------------------------------------------------------- */

typedef struct {
  const kern_tensor *x;
  kern_tensor *y;
  const int32_t *pos;
  const kern_rope_params *p;
  const double *inv_freq; /* (n_rot/2) */
  void **tscratch;
  int64_t chunk;
} rope_job;

static void
rope_task(void *arg, int64_t task, int tid)
{
  const rope_job *j = arg;
  int64_t hd = j->x->ne[0], nh = j->x->ne[1], T = j->x->ne[2];
  int half = j->p->n_rot / 2;
  float *cs = j->tscratch[tid], *sn = cs + half; /* (half) cos, sin of this position */
  int neox = j->p->mode == KERN_ROPE_NEOX;
  for (int64_t t = task * j->chunk; t < T && t < (task + 1) * j->chunk; t++) {
    for (int i = 0; i < half; i++) {
      double theta = (double)j->pos[t] * j->inv_freq[i];
      cs[i] = (float)cos(theta);
      sn[i] = (float)sin(theta);
    }
    for (int64_t h = 0; h < nh; h++) {
      const float *xr = (const float *)j->x->data + (t * nh + h) * hd; /* (hd) */
      float *yr = (float *)j->y->data + (t * nh + h) * hd;
      if (yr != xr)
        memcpy(yr + j->p->n_rot, xr + j->p->n_rot, (size_t)(hd - j->p->n_rot) * sizeof(float));
      if (neox) {
        for (int i = 0; i < half; i++) {
          float x0 = xr[i], x1 = xr[i + half];
          yr[i] = x0 * cs[i] - x1 * sn[i];
          yr[i + half] = x0 * sn[i] + x1 * cs[i];
        }
      } else {
        for (int i = 0; i < half; i++) {
          float x0 = xr[2 * i], x1 = xr[2 * i + 1];
          yr[2 * i] = x0 * cs[i] - x1 * sn[i];
          yr[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
        }
      }
    }
  }
}

static int
fast_rope(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *pos, const kern_rope_params *p)
{
  fast_ctx *c = ctx_of(be);
  int half = p->n_rot / 2;
  double *inv_freq = shared_scratch(be, (size_t)half * sizeof(double));
  if (!inv_freq || thread_scratch(be, (size_t)half * 2 * sizeof(float)) != 0)
    return KERN_E_NOMEM;
  const float *ff = p->freq_factors ? p->freq_factors->data : NULL;
  /* the reference's theta, term by term: pos * freq_scale * base^(-2i/n_rot) / ff[i] */
  for (int i = 0; i < half; i++)
    inv_freq[i] = (double)p->freq_scale * pow(p->base, -2.0 * i / p->n_rot) / (ff ? ff[i] : 1.0);
  rope_job j = { x, y, pos->data, p, inv_freq, c->tscratch, 0 };
  j.chunk = chunk_size(c, x->ne[2], 1);
  pool_run(c->pool, ceil_div(x->ne[2], j.chunk), rope_task, &j);
  return 0;
}

/* ---- conv1d and patch_embed: im2col + the float GEMM --------------------- */

typedef struct {
  const float *x;
  float *col;
  int64_t Cin, T, K, Tout, chunk;
  int stride, pad;
} im2col_job;

static void
im2col_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const im2col_job *j = arg;
  int64_t KC = j->Cin * j->K;
  for (int64_t t = task * j->chunk; t < j->Tout && t < (task + 1) * j->chunk; t++) {
    float *row = j->col + t * KC; /* (Cin, K): as the weight rows */
    for (int64_t k = 0; k < j->K; k++) {
      int64_t ti = t * j->stride + k - j->pad;
      const float *xr = j->x + ti * j->Cin; /* (Cin) */
      if (ti < 0 || ti >= j->T)
        for (int64_t ci = 0; ci < j->Cin; ci++)
          row[ci * j->K + k] = 0;
      else
        for (int64_t ci = 0; ci < j->Cin; ci++)
          row[ci * j->K + k] = xr[ci];
    }
  }
}

static int
fast_conv1d(kern_backend_t be, kern_tensor *y, const kern_tensor *x, const kern_tensor *w, const kern_tensor *bias,
            int stride, int pad)
{
  fast_ctx *c = ctx_of(be);
  int64_t K = w->ne[0], Cin = w->ne[1], Cout = w->ne[2], T = x->ne[1], Tout = y->ne[1];
  int wt = float_wt(w->type);
  float *col = shared_scratch(be, (size_t)(Tout * Cin * K) * sizeof(float)); /* (Tout, Cin * K) */
  if (!col)
    return KERN_E_NOMEM;
  im2col_job j = { x->data, col, Cin, T, K, Tout, 0, stride, pad };
  j.chunk = chunk_size(c, Tout, 8);
  pool_run(c->pool, ceil_div(Tout, j.chunk), im2col_task, &j);
  return mm_run(be, c->k->gemm[wt], c->k->gemm_mr, Cin * K, Cout, Tout, w->data,
                kern_type_row_size(w->type, Cin * K), col, (size_t)(Cin * K) * sizeof(float), y->data,
                bias ? bias->data : NULL, wt);
}

typedef struct {
  const float *img;
  float *col;
  int64_t P, C, W, H, nx, np;
} patch_job;

static void
patch_task(void *arg, int64_t pi, int tid)
{
  (void)tid;
  const patch_job *j = arg;
  int64_t py = pi / j->nx, px = pi % j->nx, P = j->P;
  float *row = j->col + pi * j->C * P * P; /* (C, P, P) */
  for (int64_t c = 0; c < j->C; c++)
    for (int64_t ky = 0; ky < P; ky++)
      memcpy(row + (c * P + ky) * P, j->img + (c * j->H + py * P + ky) * j->W + px * P, (size_t)P * sizeof(float));
}

static int
fast_patch_embed(kern_backend_t be, kern_tensor *y, const kern_tensor *img, const kern_tensor *w,
                 const kern_tensor *bias)
{
  fast_ctx *c = ctx_of(be);
  int64_t P = w->ne[0], C = w->ne[2], D = w->ne[3], W = img->ne[0], H = img->ne[1];
  int64_t np = (W / P) * (H / P), KC = C * P * P;
  float *col = shared_scratch(be, (size_t)(np * KC) * sizeof(float)); /* (np, C * P * P) */
  if (!col)
    return KERN_E_NOMEM;
  patch_job j = { img->data, col, P, C, W, H, W / P, np };
  pool_run(c->pool, np, patch_task, &j);
  int wt = float_wt(w->type);
  return mm_run(be, c->k->gemm[wt], c->k->gemm_mr, KC, D, np, w->data, kern_type_row_size(w->type, KC), col,
                (size_t)KC * sizeof(float), y->data, bias ? bias->data : NULL, wt);
}

/* ---- get_rows and copy -------------------------------------------------- */

typedef struct {
  const kern_cpu_kernels *k;
  const kern_tensor *table;
  const int32_t *ids;
  float *y;
  int64_t n, chunk;
} gr_job;

static void
gr_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const gr_job *j = arg;
  int64_t D = j->table->ne[0];
  size_t rs = kern_type_row_size(j->table->type, D);
  for (int64_t i = task * j->chunk; i < j->n && i < (task + 1) * j->chunk; i++) {
    const void *src = (const char *)j->table->data + rs * (size_t)j->ids[i];
    float *dst = j->y + i * D;
    switch (j->table->type) {
    case KERN_TYPE_F32: memcpy(dst, src, (size_t)D * sizeof(float)); break;
    case KERN_TYPE_F16: j->k->f16_to_f32(src, dst, D); break;
    case KERN_TYPE_BF16: j->k->bf16_to_f32(src, dst, D); break;
    default: kern_dequantize_row(j->table->type, src, dst, D); break;
    }
  }
}

static int
fast_get_rows(kern_backend_t be, kern_tensor *y, const kern_tensor *table, const kern_tensor *ids)
{
  fast_ctx *c = ctx_of(be);
  int64_t n = kern_tensor_nel(ids), V = table->ne[1];
  const int32_t *id = ids->data;
  for (int64_t i = 0; i < n; i++)
    if (id[i] < 0 || id[i] >= V)
      return _kern_backend_error(be, KERN_E_INVAL, "get_rows: id %d at %lld is outside [0, %lld)", id[i],
                                 (long long)i, (long long)V);
  gr_job j = { c->k, table, id, y->data, n, 0 };
  j.chunk = chunk_size(c, n, 1 + 8192 / table->ne[0]);
  pool_run(c->pool, ceil_div(n, j.chunk), gr_task, &j);
  return 0;
}

typedef struct {
  const kern_cpu_kernels *k;
  const void *src;
  void *dst;
  int st, dt;
  int64_t n, chunk;
  void **tscratch;
} cp_job;

#define CP_PIECE 4096

static void
cp_task(void *arg, int64_t task, int tid)
{
  const cp_job *j = arg;
  int64_t i0 = task * j->chunk, i1 = i0 + j->chunk < j->n ? i0 + j->chunk : j->n;
  const kern_cpu_kernels *k = j->k;
  float *tmp = j->tscratch[tid]; /* (CP_PIECE) for F16 <-> BF16 */
  for (int64_t i = i0; i < i1; i += CP_PIECE) {
    int64_t m = i1 - i < CP_PIECE ? i1 - i : CP_PIECE;
    const float *f;
    if (j->st == KERN_TYPE_F32) {
      f = (const float *)j->src + i;
    } else {
      float *out = j->dt == KERN_TYPE_F32 ? (float *)j->dst + i : tmp;
      if (j->st == KERN_TYPE_F16)
        k->f16_to_f32((const uint16_t *)j->src + i, out, m);
      else
        k->bf16_to_f32((const uint16_t *)j->src + i, out, m);
      f = out;
    }
    if (j->dt == KERN_TYPE_F16)
      k->f32_to_f16(f, (uint16_t *)j->dst + i, m);
    else if (j->dt == KERN_TYPE_BF16)
      k->f32_to_bf16(f, (uint16_t *)j->dst + i, m);
  }
}

/* Q8_0 <-> F32/F16 in whole blocks: quantize (F32 source) or widen to F16. */
typedef struct {
  const kern_cpu_kernels *k;
  const void *src;
  void *dst;
  int to_q8;
  int64_t n_blocks, chunk;
} q8_job;

static void
q8_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const q8_job *j = arg;
  int64_t b0 = task * j->chunk, b1 = b0 + j->chunk < j->n_blocks ? b0 + j->chunk : j->n_blocks;
  size_t bs = kern_type_row_size(KERN_TYPE_Q8_0, KERN_QK);
  float tmp[8 * KERN_QK];
  for (int64_t b = b0; b < b1; b += 8) {
    int64_t nb = b1 - b < 8 ? b1 - b : 8;
    if (j->to_q8) {
      kern_quantize_row(KERN_TYPE_Q8_0, (const float *)j->src + b * KERN_QK, (char *)j->dst + (size_t)b * bs,
                        nb * KERN_QK);
    } else {
      kern_dequantize_row(KERN_TYPE_Q8_0, (const char *)j->src + (size_t)b * bs, tmp, nb * KERN_QK);
      j->k->f32_to_f16(tmp, (uint16_t *)j->dst + b * KERN_QK, nb * KERN_QK);
    }
  }
}

static void
q8_run(fast_ctx *c, const void *src, void *dst, int to_q8, int64_t n)
{
  q8_job j = { c->k, src, dst, to_q8, n / KERN_QK, 0 };
  j.chunk = chunk_size(c, j.n_blocks, 64);
  pool_run(c->pool, ceil_div(j.n_blocks, j.chunk), q8_task, &j);
}

static int
fast_copy(kern_backend_t be, kern_tensor *dst, const kern_tensor *src)
{
  fast_ctx *c = ctx_of(be);
  int64_t n = kern_tensor_nel(src);
  if (src->type == dst->type) {
    memmove(dst->data, src->data, src->nbytes);
    return 0;
  }
  if (overlaps(dst->data, dst->nbytes, src->data, src->nbytes))
    return _kern_ref_copy(be, dst, src);
  if (dst->type == KERN_TYPE_Q8_0) { /* from F32 (checked) */
    q8_run(c, src->data, dst->data, 1, n);
    return 0;
  }
  if (thread_scratch(be, CP_PIECE * sizeof(float)) != 0)
    return KERN_E_NOMEM;
  cp_job j = { c->k, src->data, dst->data, src->type, dst->type, n, 0, c->tscratch };
  j.chunk = (chunk_size(c, n, 16384) + CP_PIECE - 1) / CP_PIECE * CP_PIECE;
  pool_run(c->pool, ceil_div(n, j.chunk), cp_task, &j);
  return 0;
}

/* ---- argmax and topk ------------------------------------------------------ */

typedef struct {
  const kern_cpu_kernels *k;
  const float *x;
  int64_t n0, rows, chunk;
  int32_t *out;
  /* one long row split over tasks */
  float *part_max;
  int64_t *part_idx;
} am_job;

static void
am_task(void *arg, int64_t task, int tid)
{
  (void)tid;
  const am_job *j = arg;
  if (j->part_max) {
    int64_t i0 = task * j->chunk, n = j->n0 - i0 < j->chunk ? j->n0 - i0 : j->chunk;
    j->part_idx[task] = i0 + j->k->argmax(j->x + i0, n, &j->part_max[task]);
    return;
  }
  for (int64_t r = task * j->chunk; r < j->rows && r < (task + 1) * j->chunk; r++) {
    float mx;
    j->out[r] = (int32_t)j->k->argmax(j->x + r * j->n0, j->n0, &mx);
  }
}

static int
fast_argmax(kern_backend_t be, kern_tensor *out, const kern_tensor *x)
{
  fast_ctx *c = ctx_of(be);
  am_job j = { c->k, x->data, x->ne[0], kern_tensor_nrows(x), 0, out->data, NULL, NULL };
  if (j.rows == 1 && j.n0 >= 65536 && c->n_threads > 1) {
    j.chunk = ceil_div(j.n0, c->n_threads * 2);
    int64_t nt = ceil_div(j.n0, j.chunk);
    int64_t *pi = shared_scratch(be, (size_t)nt * (sizeof(float) + sizeof(int64_t)));
    if (!pi)
      return KERN_E_NOMEM;
    float *pm = (float *)(pi + nt);
    j.part_idx = pi;
    j.part_max = pm;
    pool_run(c->pool, nt, am_task, &j);
    int64_t best = 0;
    for (int64_t t = 1; t < nt; t++)
      if (pm[t] > pm[best])
        best = t; /* ties keep the earlier chunk, so the first index */
    j.out[0] = (int32_t)j.part_idx[best];
    return 0;
  }
  j.chunk = chunk_size(c, j.rows, 1 + 16384 / j.n0);
  pool_run(c->pool, ceil_div(j.rows, j.chunk), am_task, &j);
  return 0;
}

typedef struct {
  const float *x;
  int32_t *idx;
  float *val;
  int64_t n0, rows, chunk;
  int k;
  void **tscratch;
} tk_job;

/* a before b in the output: larger value, then lower index */
static inline int
tk_better(float va, int32_t ia, float vb, int32_t ib)
{
  return va > vb || (va == vb && ia < ib);
}

static void
tk_sift_down(float *hv, int32_t *hi, int n, int i)
{
  /* min-heap by "better": the root is the worst kept element */
  for (;;) {
    int l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && tk_better(hv[w], hi[w], hv[l], hi[l]))
      w = l;
    if (r < n && tk_better(hv[w], hi[w], hv[r], hi[r]))
      w = r;
    if (w == i)
      return;
    float tv = hv[i];
    int32_t ti = hi[i];
    hv[i] = hv[w], hi[i] = hi[w];
    hv[w] = tv, hi[w] = ti;
    i = w;
  }
}

static void
tk_task(void *arg, int64_t task, int tid)
{
  const tk_job *j = arg;
  float *hv = j->tscratch[tid];
  int32_t *hi = (int32_t *)(hv + j->k);
  for (int64_t r = task * j->chunk; r < j->rows && r < (task + 1) * j->chunk; r++) {
    const float *xr = j->x + r * j->n0;
    int n = 0;
    for (int64_t i = 0; i < j->n0; i++) {
      float v = xr[i];
      if (n < j->k) {
        /* sift up */
        int c = n++;
        hv[c] = v, hi[c] = (int32_t)i;
        while (c > 0) {
          int p = (c - 1) / 2;
          if (!tk_better(hv[p], hi[p], hv[c], hi[c]))
            break;
          float tv = hv[p];
          int32_t ti = hi[p];
          hv[p] = hv[c], hi[p] = hi[c];
          hv[c] = tv, hi[c] = ti;
          c = p;
        }
      } else if (v > hv[0]) { /* equal values never beat an earlier index */
        hv[0] = v, hi[0] = (int32_t)i;
        tk_sift_down(hv, hi, n, 0);
      }
    }
    /* pop worst-first into the back of the output */
    for (int o = n - 1; o >= 0; o--) {
      j->val[r * j->k + o] = hv[0];
      j->idx[r * j->k + o] = hi[0];
      n--;
      hv[0] = hv[n], hi[0] = hi[n];
      tk_sift_down(hv, hi, n, 0);
    }
  }
}

static int
fast_topk(kern_backend_t be, kern_tensor *idx, kern_tensor *val, const kern_tensor *x, int k)
{
  fast_ctx *c = ctx_of(be);
  int64_t n0 = x->ne[0];
  /* NaN never compares better, so the heap could keep one forever: the
   * reference skips NaN the same way only through its own loop; defer to it */
  const float *xd = x->data;
  for (int64_t i = 0; i < kern_tensor_nel(x); i++)
    if (isnan(xd[i]))
      return _kern_ref_topk(be, idx, val, x, k);
  if (thread_scratch(be, (size_t)k * (sizeof(float) + sizeof(int32_t))) != 0)
    return KERN_E_NOMEM;
  tk_job j = { xd, idx->data, val->data, n0, kern_tensor_nrows(x), 0, k, c->tscratch };
  j.chunk = chunk_size(c, j.rows, 1);
  pool_run(c->pool, ceil_div(j.rows, j.chunk), tk_task, &j);
  return 0;
}

/* ---- attention ------------------------------------------------------------------- */

typedef struct {
  fast_ctx *c;
  const kern_tensor *q, *k, *v;
  kern_tensor *out;
  float scale;
  int causal;
  int64_t pos0;
  int64_t rows_per_task, tasks_per_kvh; /* over the (t, h in group) rows of one kv head */
  int tile;
  int64_t n_split, split_len; /* row path: key range split over tasks */
  float *part;                /* (tasks, rows, hd + 2) partial results of a split */
} at_job;

static void
at_task(void *arg, int64_t task, int tid)
{
  const at_job *j = arg;
  int64_t hd = j->q->ne[0], nh = j->q->ne[1], Tq = j->q->ne[2], nkv = j->k->ne[1], Tk = j->k->ne[2];
  int64_t group = nh / nkv;
  int64_t split = task % j->n_split;
  task /= j->n_split;
  int64_t kvh = task / j->tasks_per_kvh, r0 = (task % j->tasks_per_kvh) * j->rows_per_task;
  int64_t n_rows_all = Tq * group;
  kern_attn_task t;
  t.hd = hd;
  t.n_rows = (int)(n_rows_all - r0 < j->rows_per_task ? n_rows_all - r0 : j->rows_per_task);
  size_t esz = j->k->type == KERN_TYPE_F16 ? 2 : 4;
  t.k = (const char *)j->k->data + (size_t)(kvh * hd) * esz;
  t.v = (const char *)j->v->data + (size_t)(kvh * hd) * esz;
  t.kv_stride = (size_t)(nkv * hd) * esz;
  t.kv_f16 = j->k->type == KERN_TYPE_F16;
  t.scale = j->scale;
  t.work = j->c->tscratch[tid];
  t.k_begin = split * j->split_len;
  t.k_end = t.k_begin + j->split_len < Tk ? t.k_begin + j->split_len : Tk;
  t.part_m = t.part_l = NULL;
  for (int r = 0; r < t.n_rows; r++) {
    int64_t row = r0 + r, tq = row / group, h = kvh * group + row % group;
    t.q[r] = (const float *)j->q->data + (tq * nh + h) * hd;
    t.out[r] = (float *)j->out->data + (tq * nh + h) * hd;
    t.n_keys[r] = j->causal ? j->pos0 + tq + 1 : Tk;
  }
  if (j->n_split > 1) {
    float *p = j->part + (size_t)(task * j->n_split + split) * (size_t)j->rows_per_task * (size_t)(hd + 2);
    for (int r = 0; r < t.n_rows; r++)
      t.out[r] = p + (size_t)r * (size_t)hd;
    t.part_m = p + (size_t)t.n_rows * (size_t)hd;
    t.part_l = t.part_m + t.n_rows;
  }
  if (j->tile)
    j->c->k->attn_tile(&t);
  else
    j->c->k->attn_rows(&t);
}

static int
fast_attention(kern_backend_t be, kern_tensor *out, const kern_tensor *q, const kern_tensor *k, const kern_tensor *v,
               float scale, int causal, int64_t pos0)
{
  fast_ctx *c = ctx_of(be);
  int64_t hd = q->ne[0], nh = q->ne[1], Tq = q->ne[2], nkv = k->ne[1], Tk = k->ne[2], group = nh / nkv;
  kern_tensor k16, v16;
  if (k->type == KERN_TYPE_Q8_0) {
    /* A Q8_0 cache: widen the keys and values used to F16 (exact: 8-bit
     * integers times an F16 scale fit in F16's 11 bits only approximately,
     * so the widening rounds once more, to 11 bits) and run the F16 kernels. */
    int64_t nel = hd * nkv * Tk;
    if (!grow(be, &c->kv16, &c->kv16_size, 2 * (size_t)nel * sizeof(uint16_t)))
      return KERN_E_NOMEM;
    k16 = *k, v16 = *v;
    k16.type = v16.type = KERN_TYPE_F16;
    k16.nbytes = v16.nbytes = (size_t)nel * sizeof(uint16_t);
    k16.data = c->kv16;
    v16.data = (uint16_t *)c->kv16 + nel;
    q8_run(c, k->data, k16.data, 0, nel);
    q8_run(c, v->data, v16.data, 0, nel);
    k = &k16, v = &v16;
  }
  at_job j = { c, q, k, v, out, scale, causal, pos0, 0, 0, 0, 1, Tk, NULL };
  int64_t rows = Tq * group; /* query rows per kv head */
  int tile_rows = c->k->attn_tile_rows;
  if (rows >= tile_rows / 2) {
    j.tile = 1;
    j.rows_per_task = tile_rows;
  } else {
    j.rows_per_task = KERN_ATTN_ROWS;
  }
  j.tasks_per_kvh = ceil_div(rows, j.rows_per_task);
  int64_t tasks = nkv * j.tasks_per_kvh;
  if (!j.tile && tasks < 2 * c->n_threads && Tk >= 512) {
    /* long keys, few rows (decode): split the keys over threads */
    j.n_split = ceil_div(2 * c->n_threads, tasks);
    j.split_len = (ceil_div(Tk, j.n_split) + 63) & ~(int64_t)63;
    j.n_split = ceil_div(Tk, j.split_len);
  }
  if (thread_scratch(be, kern_attn_work_floats(hd, j.split_len) * sizeof(float)) != 0)
    return KERN_E_NOMEM;
  if (j.n_split > 1) {
    size_t per = (size_t)j.rows_per_task * (size_t)(hd + 2);
    j.part = shared_scratch(be, (size_t)(tasks * j.n_split) * per * sizeof(float));
    if (!j.part)
      return KERN_E_NOMEM;
  }
  pool_run(c->pool, tasks * j.n_split, at_task, &j);
  if (j.n_split > 1) {
    /* combine: out = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s */
    for (int64_t task = 0; task < tasks; task++) {
      int64_t kvh = task / j.tasks_per_kvh, r0 = (task % j.tasks_per_kvh) * j.rows_per_task;
      int nr = (int)(rows - r0 < j.rows_per_task ? rows - r0 : j.rows_per_task);
      for (int r = 0; r < nr; r++) {
        int64_t row = r0 + r, tq = row / group, h = kvh * group + row % group;
        float *o = (float *)out->data + (tq * nh + h) * hd;
        float M = -INFINITY, L = 0;
        for (int64_t s = 0; s < j.n_split; s++) {
          float *p = j.part + (size_t)(task * j.n_split + s) * (size_t)j.rows_per_task * (size_t)(hd + 2);
          float ms = p[(size_t)nr * (size_t)hd + (size_t)r];
          M = ms > M ? ms : M;
        }
        for (int64_t d = 0; d < hd; d++)
          o[d] = 0;
        for (int64_t s = 0; s < j.n_split; s++) {
          float *p = j.part + (size_t)(task * j.n_split + s) * (size_t)j.rows_per_task * (size_t)(hd + 2);
          float ms = p[(size_t)nr * (size_t)hd + (size_t)r], ls = p[(size_t)nr * (size_t)hd + (size_t)nr + (size_t)r];
          if (ls <= 0)
            continue;
          float e = expf(ms - M);
          L += e * ls;
          for (int64_t d = 0; d < hd; d++)
            o[d] += e * p[(size_t)r * (size_t)hd + (size_t)d];
        }
        for (int64_t d = 0; d < hd; d++)
          o[d] /= L;
      }
    }
  }
  return 0;
}

/* ---- the backend -------------------------------------------------------------- */

static int
fast_supports(kern_backend_t be, kern_op op, int type)
{
  (void)be;
  (void)op;
  return kern_type_get_traits(type) != NULL;
}

static void
fast_destroy(kern_backend_t be)
{
  fast_ctx *c = ctx_of(be);
  if (c) {
    pool_free(c->pool);
    if (c->tscratch)
      for (int i = 0; i < c->n_threads; i++)
        free(c->tscratch[i]);
    free(c->tscratch);
    free(c->scratch);
    free(c->kv16);
    free(c);
  }
  free(be);
}

static const struct kern_backend_i fast_iface = {
  .name = "cpu",
  .is_host = 1,
  .destroy = fast_destroy,
  .alloc = _kern_host_alloc,
  .free = _kern_host_free,
  .upload = _kern_host_copy,
  .download = _kern_host_copy,
  .sync = _kern_host_sync,
  .supports_op = fast_supports,
  .matmul = fast_matmul,
  .add = fast_add,
  .mul = fast_mul,
  .scale = fast_scale,
  .layernorm = fast_layernorm,
  .rmsnorm = fast_rmsnorm,
  .unary = fast_unary,
  .swiglu = fast_swiglu,
  .softmax = fast_softmax,
  .rope = fast_rope,
  .conv1d = fast_conv1d,
  .patch_embed = fast_patch_embed,
  .get_rows = fast_get_rows,
  .attention = fast_attention,
  .copy = fast_copy,
  .argmax = fast_argmax,
  .topk = fast_topk,
};

/* The kernel tables, built once: [0] generic, [1] avx2, [2] avx512. */
static kern_cpu_kernels tables[3];
static int best_table;
static int default_threads = 1;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void
tables_init(void)
{
  _kern_cpu_kernels_generic(&tables[0]);
  best_table = 0;
#if defined(__x86_64__)
  uint32_t f = kern_cpu_features();
  const uint32_t avx2 = KERN_CPU_AVX2 | KERN_CPU_FMA | KERN_CPU_F16C;
  const uint32_t avx512 = avx2 | KERN_CPU_AVX512F | KERN_CPU_AVX512BW | KERN_CPU_AVX512VL | KERN_CPU_AVX512_VNNI;
  if ((f & avx2) == avx2) {
    tables[1] = tables[0];
    _kern_cpu_kernels_avx2(&tables[1]);
    best_table = 1;
    if ((f & avx512) == avx512) {
      tables[2] = tables[1];
      _kern_cpu_kernels_avx512(&tables[2]);
      best_table = 2;
    }
  }
#endif
  const char *cap = getenv("HARK_CPU_KERNELS");
  if (cap) {
    int want = strcmp(cap, "generic") == 0 ? 0 : strcmp(cap, "avx2") == 0 ? 1 : 2;
    if (want < best_table)
      best_table = want;
  }
  kern_cpu_info info;
  kern_cpu_info_get(&info);
  default_threads = info.physical_cores < info.usable_cores ? info.physical_cores : info.usable_cores;
  if (default_threads < 1)
    default_threads = 1;
}

kern_backend_t
_kern_cpu_fast_new(const kern_backend_params *p, char **err)
{
  pthread_once(&tables_once, tables_init);
  kern_backend_t be = calloc(1, sizeof *be);
  fast_ctx *c = calloc(1, sizeof *c);
  if (!be || !c) {
    free(be);
    free(c);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  be->iface = &fast_iface;
  be->ctx = c;
  strcpy(be->name, "cpu");
  c->k = &tables[best_table];
  int n = p && p->n_threads > 0 ? p->n_threads : default_threads;
  if (n > 256)
    n = 256;
  c->pool = pool_new(n);
  if (!c->pool) {
    fast_destroy(be);
    if (err)
      *err = strdup("cannot start the CPU thread pool");
    return NULL;
  }
  c->n_threads = c->pool->n_threads;
  c->tscratch = calloc((size_t)c->n_threads, sizeof *c->tscratch);
  if (!c->tscratch) {
    fast_destroy(be);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  return be;
}
