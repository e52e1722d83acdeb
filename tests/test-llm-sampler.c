/* test-llm-sampler.c: the token sampler (llm-sampler.c).
 *
 * Greedy against a plain argmax; each filter on crafted logits whose
 * surviving set follows from the definition; penalties by their formulas;
 * reproducibility by seed; and the draw's distribution against the softmax
 * (chi-square over many draws with fixed seeds). */
#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm-sampler.h"

static llm_sampler_params
plain(void)
{
  llm_sampler_params p = llm_sampler_default_params();
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  return p;
}

static void
random_logits(GRand *r, float *l, int n)
{
  for (int i = 0; i < n; i++)
    l[i] = (float)g_rand_double_range(r, -8, 8);
}

static void
test_greedy(void)
{
  GRand *r = g_rand_new_with_seed(7);
  llm_sampler_params p = plain();
  p.temperature = 0;
  llm_sampler *s = llm_sampler_new(p);
  g_assert_nonnull(s);
  enum { N = 5000 };
  float *l = g_new(float, N);
  for (int iter = 0; iter < 50; iter++) {
    random_logits(r, l, N);
    int best = 0;
    for (int i = 1; i < N; i++)
      if (l[i] > l[best])
        best = i;
    g_assert_cmpint(llm_sampler_sample(s, l, N), ==, best);
  }
  /* NaN counts as -inf */
  float nanl[3] = { NAN, 1.0f, 0.5f };
  g_assert_cmpint(llm_sampler_sample(s, nanl, 3), ==, 1);
  g_assert_cmpint(llm_sampler_sample(s, NULL, 3), ==, KERN_E_INVAL);
  g_assert_cmpint(llm_sampler_sample(s, l, 0), ==, KERN_E_INVAL);
  /* top_k = 1 at any temperature is greedy too */
  llm_sampler_free(s);
  p = plain();
  p.top_k = 1;
  p.temperature = 5.0f;
  s = llm_sampler_new(p);
  random_logits(r, l, N);
  int best = 0;
  for (int i = 1; i < N; i++)
    if (l[i] > l[best])
      best = i;
  for (int iter = 0; iter < 100; iter++)
    g_assert_cmpint(llm_sampler_sample(s, l, N), ==, best);
  llm_sampler_free(s);
  g_free(l);
  g_rand_free(r);
}

/* Draws n times; counts[id] gets the tallies. */
static void
draw(llm_sampler *s, const float *l, int n_vocab, int n, int *counts)
{
  memset(counts, 0, (size_t)n_vocab * sizeof *counts);
  for (int i = 0; i < n; i++) {
    int32_t id = llm_sampler_sample(s, l, n_vocab);
    g_assert_cmpint(id, >=, 0);
    g_assert_cmpint(id, <, n_vocab);
    counts[id]++;
  }
}

/* logits with the given probabilities (any order) */
static void
logits_of(const double *prob, float *l, int n)
{
  for (int i = 0; i < n; i++)
    l[i] = (float)log(prob[i]);
}

static void
test_filters(void)
{
  /* probabilities, deliberately not in id order */
  static const double prob[6] = { 0.05, 0.30, 0.02, 0.50, 0.10, 0.03 };
  /* sorted: id3 .50, id1 .30, id4 .10, id0 .05, id5 .03, id2 .02 */
  float l[6];
  int counts[6];
  logits_of(prob, l, 6);
  struct {
    const char *what;
    int top_k;
    float top_p, min_p;
    int allowed[6];
  } cases[] = {
    { "none", 0, 1.0f, 0.0f, { 1, 1, 1, 1, 1, 1 } },
    { "top_k 3", 3, 1.0f, 0.0f, { 0, 1, 0, 1, 1, 0 } },
    { "top_k 2", 2, 1.0f, 0.0f, { 0, 1, 0, 1, 0, 0 } },
    { "top_p 0.75", 0, 0.75f, 0.0f, { 0, 1, 0, 1, 0, 0 } },    /* .5 < .75 <= .8 */
    { "top_p 0.85", 0, 0.85f, 0.0f, { 0, 1, 0, 1, 1, 0 } },    /* .8 < .85 <= .9 */
    { "top_p 0.4", 0, 0.4f, 0.0f, { 0, 0, 0, 1, 0, 0 } },
    { "min_p 0.15", 0, 1.0f, 0.15f, { 0, 1, 0, 1, 1, 0 } },    /* >= .075 */
    { "min_p 0.09", 0, 1.0f, 0.09f, { 1, 1, 0, 1, 1, 0 } },    /* >= .045 */
    { "min_p 0.7", 0, 1.0f, 0.7f, { 0, 0, 0, 1, 0, 0 } },      /* >= .35 */
    { "top_k 4 + top_p 0.85", 4, 0.85f, 0.0f, { 0, 1, 0, 1, 1, 0 } },
    /* after top-k 3 the probabilities renormalise: .5/.9 = .556, .3/.9 = .333 -> top_p .85 keeps 2 */
    { "top_k 3 + top_p 0.85", 3, 0.85f, 0.0f, { 0, 1, 0, 1, 0, 0 } },
  };
  for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
    llm_sampler_params p = plain();
    p.top_k = cases[k].top_k;
    p.top_p = cases[k].top_p;
    p.min_p = cases[k].min_p;
    llm_sampler *s = llm_sampler_new(p);
    draw(s, l, 6, 4000, counts);
    for (int i = 0; i < 6; i++) {
      if (cases[k].allowed[i] && counts[i] == 0)
        g_error("%s: id %d never drawn", cases[k].what, i);
      if (!cases[k].allowed[i] && counts[i] != 0)
        g_error("%s: id %d drawn %d times", cases[k].what, i, counts[i]);
    }
    llm_sampler_free(s);
  }
}

/* chi-square of counts against expected probabilities (renormalised over the kept set) */
static double
chi_square(const int *counts, const double *expect, int n, int draws)
{
  double chi = 0;
  for (int i = 0; i < n; i++) {
    double e = expect[i] * draws;
    if (e > 0)
      chi += (counts[i] - e) * (counts[i] - e) / e;
    else
      g_assert_cmpint(counts[i], ==, 0);
  }
  return chi;
}

static void
test_distribution(void)
{
  static const double prob[6] = { 0.05, 0.30, 0.02, 0.50, 0.10, 0.03 };
  float l[6];
  int counts[6];
  logits_of(prob, l, 6);
  enum { DRAWS = 40000 };
  /* 5 degrees of freedom: P(chi2 > 20.5) = 0.001 */
  const double crit = 20.5;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    llm_sampler_params p = plain();
    p.seed = seed;
    llm_sampler *s = llm_sampler_new(p);
    draw(s, l, 6, DRAWS, counts);
    double chi = chi_square(counts, prob, 6, DRAWS);
    g_test_message("temperature 1, seed %" G_GUINT64_FORMAT ": chi2 %.2f", seed, chi);
    g_assert_cmpfloat(chi, <, crit);
    llm_sampler_free(s);

    /* temperature T: p_i^(1/T), renormalised */
    for (int ti = 0; ti < 2; ti++) {
      double T = ti ? 2.0 : 0.5;
      double expect[6], sum = 0;
      for (int i = 0; i < 6; i++)
        sum += expect[i] = pow(prob[i], 1.0 / T);
      for (int i = 0; i < 6; i++)
        expect[i] /= sum;
      p.temperature = (float)T;
      s = llm_sampler_new(p);
      draw(s, l, 6, DRAWS, counts);
      chi = chi_square(counts, expect, 6, DRAWS);
      g_test_message("temperature %.1f, seed %" G_GUINT64_FORMAT ": chi2 %.2f", T, seed, chi);
      g_assert_cmpfloat(chi, <, crit);
      /* and it is not the temperature-1 distribution */
      g_assert_cmpfloat(chi_square(counts, prob, 6, DRAWS), >, 100);
      llm_sampler_free(s);
    }
  }
  /* top-k 3 renormalises over the three kept */
  llm_sampler_params p = plain();
  p.top_k = 3;
  llm_sampler *s = llm_sampler_new(p);
  draw(s, l, 6, DRAWS, counts);
  double expect[6] = { 0, 0.30 / 0.9, 0, 0.50 / 0.9, 0.10 / 0.9, 0 };
  double chi = chi_square(counts, expect, 6, DRAWS);
  g_test_message("top_k 3: chi2 %.2f (2 dof)", chi);
  g_assert_cmpfloat(chi, <, 13.8); /* 2 dof, p = 0.001 */
  llm_sampler_free(s);
}

static void
test_seed(void)
{
  GRand *r = g_rand_new_with_seed(11);
  enum { N = 1000, STEPS = 200 };
  float *l = g_new(float, N);
  random_logits(r, l, N);
  for (int i = 0; i < N; i++)
    l[i] *= 0.3f; /* flat enough that many tokens are likely */
  llm_sampler_params p = llm_sampler_default_params();
  p.seed = 99;
  p.top_k = 100;
  llm_sampler *a = llm_sampler_new(p), *b = llm_sampler_new(p);
  p.seed = 100;
  llm_sampler *c = llm_sampler_new(p);
  g_assert_cmpuint(llm_sampler_seed(a), ==, 99);
  int32_t first[STEPS];
  int differ = 0;
  for (int i = 0; i < STEPS; i++) {
    first[i] = llm_sampler_sample(a, l, N);
    g_assert_cmpint(llm_sampler_sample(b, l, N), ==, first[i]);
    differ += llm_sampler_sample(c, l, N) != first[i];
  }
  g_assert_cmpint(differ, >, STEPS / 2);
  /* reset replays the sequence */
  llm_sampler_reset(a);
  for (int i = 0; i < STEPS; i++)
    g_assert_cmpint(llm_sampler_sample(a, l, N), ==, first[i]);
  /* random seeds differ from each other */
  p.seed = LLM_SAMPLER_SEED_RANDOM;
  llm_sampler *r1 = llm_sampler_new(p), *r2 = llm_sampler_new(p);
  g_assert_cmpuint(llm_sampler_seed(r1), !=, llm_sampler_seed(r2));
  g_assert_cmpuint(llm_sampler_seed(r1), !=, LLM_SAMPLER_SEED_RANDOM);
  llm_sampler_free(r1);
  llm_sampler_free(r2);
  llm_sampler_free(a);
  llm_sampler_free(b);
  llm_sampler_free(c);
  g_free(l);
  g_rand_free(r);
}

static void
test_penalties(void)
{
  llm_sampler_params p = plain();
  p.temperature = 0; /* greedy shows the penalised argmax */
  p.repeat_penalty = 1.5f;
  p.repeat_last_n = 3;
  llm_sampler *s = llm_sampler_new(p);
  float l[4] = { 2.0f, 1.5f, -1.0f, -1.2f };
  g_assert_cmpint(llm_sampler_sample(s, l, 4), ==, 0);
  llm_sampler_accept(s, 0); /* 2.0 / 1.5 = 1.33 < 1.5 */
  g_assert_cmpint(llm_sampler_sample(s, l, 4), ==, 1);
  llm_sampler_accept(s, 1); /* 1.5 / 1.5 = 1.0 < 1.33 */
  g_assert_cmpint(llm_sampler_sample(s, l, 4), ==, 0);
  /* negative logits are multiplied: -1.0 * 1.5 = -1.5 < -1.2 */
  float neg[2] = { -1.0f, -1.2f };
  llm_sampler_reset(s);
  llm_sampler_accept(s, 0);
  g_assert_cmpint(llm_sampler_sample(s, neg, 2), ==, 1);
  /* the window: three more tokens push 0 out */
  llm_sampler_accept(s, 3);
  llm_sampler_accept(s, 3);
  g_assert_cmpint(llm_sampler_sample(s, neg, 2), ==, 1);
  llm_sampler_accept(s, 3);
  g_assert_cmpint(llm_sampler_sample(s, neg, 2), ==, 0);
  /* ids outside the vocabulary in the history are ignored */
  llm_sampler_accept(s, 1000);
  llm_sampler_accept(s, -5);
  g_assert_cmpint(llm_sampler_sample(s, neg, 2), ==, 0);
  llm_sampler_free(s);

  /* presence and frequency: logit - count * freq - presence */
  p = plain();
  p.temperature = 0;
  p.repeat_last_n = 16;
  p.frequency_penalty = 0.4f;
  p.presence_penalty = 0.15f;
  s = llm_sampler_new(p);
  float f[3] = { 3.0f, 2.0f, 1.0f };
  llm_sampler_accept(s, 0);
  llm_sampler_accept(s, 0); /* 3 - 0.8 - 0.15 = 2.05 > 2 */
  g_assert_cmpint(llm_sampler_sample(s, f, 3), ==, 0);
  llm_sampler_accept(s, 0); /* 3 - 1.2 - 0.15 = 1.65 < 2 */
  g_assert_cmpint(llm_sampler_sample(s, f, 3), ==, 1);
  llm_sampler_accept(s, 1); /* 2 - 0.4 - 0.15 = 1.45 < 1.65 */
  g_assert_cmpint(llm_sampler_sample(s, f, 3), ==, 0);
  llm_sampler_free(s);

  /* bad parameters */
  p = plain();
  p.repeat_penalty = 0;
  g_assert_null(llm_sampler_new(p));
  p = plain();
  p.repeat_last_n = -1;
  g_assert_null(llm_sampler_new(p));
  p = plain();
  p.temperature = NAN;
  g_assert_null(llm_sampler_new(p));
}

/* The distribution before the draw against llama.cpp's sampler chain on the
 * same logits, history and parameters (tests/data/llm/sampler-golden.txt,
 * tests/reference/make-llm-sampler-golden.py). */
static void
test_golden(void)
{
  const char *src = g_getenv("G_TEST_SRCDIR");
  char *path = g_build_filename(src ? src : "tests", "data", "llm", "sampler-golden.txt", NULL), *data;
  g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
  char **lines = g_strsplit(data, "\n", -1);
  g_free(data);
  g_assert_cmpstr(lines[0], ==, "HARK-LLM-SAMPLER-GOLDEN 1");
  int n_vocab = atoi(lines[2] + strlen("n_vocab "));
  int n_cases = atoi(lines[3] + strlen("cases "));
  g_assert_cmpint(n_vocab, >, 0);
  float *logits = g_new(float, n_vocab), *probs = g_new(float, n_vocab);
  int32_t *ids = g_new(int32_t, n_vocab);
  int seen = 0;
  double worst = 0;
  for (int li = 4; lines[li] && lines[li][0]; li++, seen++) {
    char **f = g_strsplit(lines[li], " | ", -1);
    g_assert_cmpuint(g_strv_length(f), ==, 4);
    llm_sampler_params p = llm_sampler_default_params();
    g_assert_cmpint(sscanf(f[0], "%f %d %f %f %f %d %f %f", &p.temperature, &p.top_k, &p.top_p, &p.min_p,
                           &p.repeat_penalty, &p.repeat_last_n, &p.frequency_penalty, &p.presence_penalty),
                    ==, 8);
    p.seed = 1;
    llm_sampler *s = llm_sampler_new(p);
    g_assert_nonnull(s);
    if (strcmp(f[1], "-") != 0) {
      char **h = g_strsplit(f[1], ",", -1);
      for (char **t = h; *t; t++)
        llm_sampler_accept(s, atoi(*t));
      g_strfreev(h);
    }
    char **lg = g_strsplit(f[2], ",", -1);
    g_assert_cmpint(g_strv_length(lg), ==, n_vocab);
    for (int i = 0; i < n_vocab; i++)
      logits[i] = (float)g_ascii_strtod(lg[i], NULL);
    g_strfreev(lg);
    int n = llm_sampler_candidates(s, logits, n_vocab, ids, probs, n_vocab);
    char **want = g_strsplit(f[3], ",", -1);
    if (n != (int)g_strv_length(want))
      g_error("case %d (%s): %d candidates, llama.cpp %u", seen, f[0], n, g_strv_length(want));
    for (int i = 0; i < n; i++) {
      int wid = atoi(want[i]);
      double wp = g_ascii_strtod(strchr(want[i], ':') + 1, NULL);
      if (ids[i] != wid)
        g_error("case %d (%s): candidate %d is id %d, llama.cpp %d", seen, f[0], i, ids[i], wid);
      worst = MAX(worst, fabs(probs[i] - wp));
    }
    /* sample() draws from the same set */
    for (int k = 0; k < 20; k++) {
      int32_t id = llm_sampler_sample(s, logits, n_vocab);
      gboolean in = FALSE;
      for (int i = 0; i < n; i++)
        in |= ids[i] == id;
      g_assert_true(in);
    }
    g_strfreev(want);
    llm_sampler_free(s);
    g_strfreev(f);
  }
  g_test_message("%d/%d cases: same candidates as llama.cpp, probabilities within %.2g", seen, n_cases, worst);
  g_assert_cmpint(seen, ==, n_cases);
  g_assert_cmpfloat(worst, <, 1e-5);
  g_free(logits);
  g_free(probs);
  g_free(ids);
  g_strfreev(lines);
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/llm/sampler/greedy", test_greedy);
  g_test_add_func("/llm/sampler/filters", test_filters);
  g_test_add_func("/llm/sampler/distribution", test_distribution);
  g_test_add_func("/llm/sampler/seed", test_seed);
  g_test_add_func("/llm/sampler/penalties", test_penalties);
  g_test_add_func("/llm/sampler/golden", test_golden);
  return g_test_run();
}
