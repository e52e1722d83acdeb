/* llm-sampler.c: penalties, top-k, top-p, min-p, temperature and a seeded
 * draw (see llm-sampler.h). Candidates are (id, logit) pairs; filters shrink
 * the set, keeping it sorted by logit (descending) once a stage needs order. */
#include "llm-sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct {
  int32_t id;
  float logit;
} cand;

struct llm_sampler {
  llm_sampler_params p;
  uint64_t seed;
  uint64_t rng[4];   /* xoshiro256** state */
  int32_t *hist;     /* (repeat_last_n) ring of accepted tokens */
  size_t n_hist, hist_at;
  cand *c;           /* (cap) candidates */
  double *p_buf;     /* (cap) their probabilities */
  size_t cap;
  int32_t *tmp;      /* (repeat_last_n) scratch for counting */
};

llm_sampler_params
llm_sampler_default_params(void)
{
  return (llm_sampler_params){
    .temperature = 0.8f,
    .top_k = 40,
    .top_p = 0.95f,
    .min_p = 0.05f,
    .repeat_penalty = 1.0f,
    .repeat_last_n = 64,
    .presence_penalty = 0.0f,
    .frequency_penalty = 0.0f,
    .seed = LLM_SAMPLER_SEED_RANDOM,
  };
}

/* --- PRNG ------------------------------------------------------------------------ */

static uint64_t
splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t
xoshiro_next(uint64_t *s)
{
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

/* uniform in [0, 1) with 53 random bits */
static double
uniform(llm_sampler *s)
{
  return (double)(xoshiro_next(s->rng) >> 11) * 0x1.0p-53;
}

static void
seed_rng(llm_sampler *s)
{
  s->seed = s->p.seed;
  if (s->seed == LLM_SAMPLER_SEED_RANDOM) {
    uint64_t v;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      v = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    }
    s->seed = v == LLM_SAMPLER_SEED_RANDOM ? 0 : v;
  }
  uint64_t x = s->seed;
  for (int i = 0; i < 4; i++)
    s->rng[i] = splitmix64(&x);
}

/* --- life cycle ------------------------------------------------------------------ */

llm_sampler *
llm_sampler_new(llm_sampler_params p)
{
  if (isnan(p.temperature) || isnan(p.top_p) || isnan(p.min_p) || isnan(p.presence_penalty) ||
      isnan(p.frequency_penalty) || !(p.repeat_penalty > 0) || p.repeat_last_n < 0)
    return NULL;
  llm_sampler *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->p = p;
  if (p.repeat_last_n > 0) {
    s->hist = malloc((size_t)p.repeat_last_n * sizeof *s->hist);
    s->tmp = malloc((size_t)p.repeat_last_n * sizeof *s->tmp);
    if (!s->hist || !s->tmp) {
      llm_sampler_free(s);
      return NULL;
    }
  }
  seed_rng(s);
  return s;
}

void
llm_sampler_free(llm_sampler *s)
{
  if (!s)
    return;
  free(s->hist);
  free(s->tmp);
  free(s->c);
  free(s->p_buf);
  free(s);
}

void
llm_sampler_reset(llm_sampler *s)
{
  if (!s)
    return;
  s->n_hist = s->hist_at = 0;
  seed_rng(s);
}

uint64_t
llm_sampler_seed(const llm_sampler *s)
{
  return s ? s->seed : 0;
}

void
llm_sampler_accept(llm_sampler *s, int32_t id)
{
  if (!s || s->p.repeat_last_n <= 0)
    return;
  size_t n = (size_t)s->p.repeat_last_n;
  s->hist[s->hist_at] = id;
  s->hist_at = (s->hist_at + 1) % n;
  if (s->n_hist < n)
    s->n_hist++;
}

/* --- stages ---------------------------------------------------------------------- */

static int
cmp_int32(const void *a, const void *b)
{
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* logits are indexed by id here: candidates are still the full vocabulary in id order */
static void
apply_penalties(llm_sampler *s, cand *c, int n_vocab)
{
  if (s->n_hist == 0 ||
      (s->p.repeat_penalty == 1.0f && s->p.presence_penalty == 0.0f && s->p.frequency_penalty == 0.0f))
    return;
  memcpy(s->tmp, s->hist, s->n_hist * sizeof *s->tmp);
  qsort(s->tmp, s->n_hist, sizeof *s->tmp, cmp_int32);
  for (size_t i = 0; i < s->n_hist;) {
    size_t j = i;
    while (j < s->n_hist && s->tmp[j] == s->tmp[i])
      j++;
    int32_t id = s->tmp[i];
    float count = (float)(j - i);
    i = j;
    if (id < 0 || id >= n_vocab)
      continue;
    float *l = &c[id].logit;
    if (*l <= 0)
      *l *= s->p.repeat_penalty;
    else
      *l /= s->p.repeat_penalty;
    *l -= count * s->p.frequency_penalty + s->p.presence_penalty;
  }
}

static int
cmp_cand_desc(const void *a, const void *b)
{
  const cand *x = a, *y = b;
  if (x->logit != y->logit)
    return x->logit > y->logit ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

static int
cand_before(const cand *x, const cand *y)
{
  return x->logit > y->logit || (x->logit == y->logit && x->id < y->id);
}

/* Keeps the k best candidates, sorted (a min-heap of k over one pass, then a sort). */
static size_t
top_k(cand *c, size_t n, size_t k)
{
  if (k >= n) {
    qsort(c, n, sizeof *c, cmp_cand_desc);
    return n;
  }
  /* heap in c[0 .. k): the root is the worst kept */
  for (size_t i = 0; i < n; i++) {
    cand x = c[i];
    size_t h;
    if (i < k) {
      h = i;
      while (h > 0 && cand_before(&c[(h - 1) / 2], &x)) {
        c[h] = c[(h - 1) / 2];
        h = (h - 1) / 2;
      }
      c[h] = x;
      continue;
    }
    if (!cand_before(&x, &c[0]))
      continue;
    h = 0;
    for (;;) {
      size_t ch = 2 * h + 1;
      if (ch >= k)
        break;
      if (ch + 1 < k && cand_before(&c[ch], &c[ch + 1]))
        ch++;
      if (!cand_before(&x, &c[ch]))
        break;
      c[h] = c[ch];
      h = ch;
    }
    c[h] = x;
  }
  qsort(c, k, sizeof *c, cmp_cand_desc);
  return k;
}

/* probabilities of sorted candidates (softmax at temperature 1) into p */
static void
softmax(const cand *c, size_t n, double *p)
{
  double max = c[0].logit, sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += p[i] = exp((double)c[i].logit - max);
  for (size_t i = 0; i < n; i++)
    p[i] /= sum;
}

/* Runs penalties and filters: c[0 .. *n) are the surviving candidates, most
 * likely first, with tempered logits (greedy: the one best). */
static int
filter(llm_sampler *s, const float *logits, int n_vocab, size_t *n_out)
{
  if (!s || !logits || n_vocab <= 0)
    return KERN_E_INVAL;
  if ((size_t)n_vocab > s->cap) {
    cand *nc = realloc(s->c, (size_t)n_vocab * sizeof *nc);
    double *np = realloc(s->p_buf, (size_t)n_vocab * sizeof *np);
    if (nc)
      s->c = nc;
    if (np)
      s->p_buf = np;
    if (!nc || !np)
      return KERN_E_NOMEM;
    s->cap = (size_t)n_vocab;
  }
  cand *c = s->c;
  for (int i = 0; i < n_vocab; i++)
    c[i] = (cand){ i, isnan(logits[i]) ? -INFINITY : logits[i] };
  apply_penalties(s, c, n_vocab);

  if (!(s->p.temperature > 0)) {
    size_t best = 0;
    for (size_t i = 1; i < (size_t)n_vocab; i++)
      if (c[i].logit > c[best].logit)
        best = i;
    c[0] = c[best];
    *n_out = 1;
    return 0;
  }

  size_t n = (size_t)n_vocab;
  n = top_k(c, n, s->p.top_k > 0 ? (size_t)s->p.top_k : n); /* sorted from here on */
  if (c[0].logit == -INFINITY) {
    *n_out = 1; /* nothing is possible: the lowest id */
    return 0;
  }
  double *p = s->p_buf;
  if (s->p.top_p < 1.0f) {
    softmax(c, n, p);
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; i++) {
      cum += p[i];
      if (cum >= s->p.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (s->p.min_p > 0.0f) {
    /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
    float bound = c[0].logit + logf(s->p.min_p);
    size_t keep = 1;
    while (keep < n && c[keep].logit >= bound)
      keep++;
    n = keep;
  }
  for (size_t i = 0; i < n; i++)
    c[i].logit /= s->p.temperature;
  *n_out = n;
  return 0;
}

int32_t
llm_sampler_sample(llm_sampler *s, const float *logits, int n_vocab)
{
  size_t n;
  int rc = filter(s, logits, n_vocab, &n);
  if (rc != 0)
    return rc;
  if (n == 1)
    return s->c[0].id; /* greedy draws no random number */
  double *p = s->p_buf;
  softmax(s->c, n, p);
  double u = uniform(s), cum = 0;
  for (size_t i = 0; i < n; i++) {
    cum += p[i];
    if (u < cum)
      return s->c[i].id;
  }
  return s->c[n - 1].id;
}

int
llm_sampler_candidates(llm_sampler *s, const float *logits, int n_vocab, int32_t *ids, float *probs, int cap)
{
  size_t n;
  int rc = filter(s, logits, n_vocab, &n);
  if (rc != 0)
    return rc;
  if (cap < 0 || (cap > 0 && (!ids || !probs)))
    return KERN_E_INVAL;
  double *p = s->p_buf;
  if (n == 1)
    p[0] = 1.0;
  else
    softmax(s->c, n, p);
  for (size_t i = 0; i < n && i < (size_t)cap; i++) {
    ids[i] = s->c[i].id;
    probs[i] = (float)p[i];
  }
  return (int)n;
}
