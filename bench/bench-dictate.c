/* bench-dictate.c: latency of live dictation on real speech, in real time.
 *
 *   bench-dictate MODEL [--device cpu|cuda] [--vad FILE] [--threads N] [--step S] [--rounds N]
 *                 [--precision float,int8] [--encode-pad 0,1]
 *
 * Each precision (aud_whisper_params.q8_weights: float, int8) and encoding
 * (aud_dictate_params.encode_pad_s: 0 = windows encoded as 30 s; S = at their
 * length plus S seconds) named makes one engine, their product; the rounds
 * alternate between the engines, so all see the same machine load, and each
 * gets its own summary.
 *
 * Asterisk prompts (tests/dictate-fixture.c) separated by 3 s of silence are
 * pushed into the engine at the pace of a microphone (20 ms blocks on a
 * clock), with the engine in live mode (it skips steps when behind). Per
 * utterance: the time from speech onset to the first partial with text, and
 * from the end of speech to the last final event of the utterance. Prints
 * each utterance, then median and p90 of both, and the WER of the finals.
 */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aud-dictate.h"
#include "aud-transcribe.h"
#include "dictate-fixture.h"

static const char *const names[] = { "tt-weasels", "vm-nobodyavail", "agent-pass", "conf-onlyperson",
                                     "vm-goodbye", "tt-monkeysintro", "queue-thankyou" };

typedef struct {
  double wall; /* seconds since the stream started */
  int final;
  double start, end;
  int has_text;
} ev;

typedef struct {
  GMutex lock;
  GArray *evs;
  gint64 t0;
  GString *text;
} sink;

static double
now_rel(sink *s)
{
  return (double)(g_get_monotonic_time() - s->t0) * 1e-6;
}

static void
on_partial(const char *text, void *ud)
{
  sink *s = ud;
  ev e = { .wall = now_rel(s), .has_text = text[0] != 0 };
  g_mutex_lock(&s->lock);
  g_array_append_val(s->evs, e);
  g_mutex_unlock(&s->lock);
}

static void
on_final(const char *text, double start, double end, void *ud)
{
  sink *s = ud;
  ev e = { .wall = now_rel(s), .final = 1, .start = start, .end = end, .has_text = 1 };
  g_mutex_lock(&s->lock);
  g_array_append_val(s->evs, e);
  g_string_append(s->text, text);
  g_mutex_unlock(&s->lock);
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double
quantile(double *v, int n, double q)
{
  if (n == 0)
    return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double pos = q * (n - 1);
  int i = (int)floor(pos);
  return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[i];
}

/* One precision's model and what its rounds measured. */
typedef struct {
  const char *name;
  double pad;      /* encode_pad_s (0: 30-s encoding) */
  aud_whisper *w;
  aud_tokenizer *tok;
  double step_cost;
  GArray *onset, *fin;
  int missed;
  double wer_sum;
} engine;

/* A 3-s window decoded as the engine does, best of 3. */
static int
time_step(engine *e, const fixture *f, char **err)
{
  aud_transcribe_params tp = aud_transcribe_default_params();
  tp.short_window_pad_s = (float)e->pad;
  tp.language = "en";
  tp.beam_size = 1;
  tp.best_of = 1;
  tp.word_timestamps = 1;
  tp.max_windows = 1;
  e->step_cost = 1e9;
  for (int i = 0; i < 3; i++) {
    aud_transcript tr;
    aud_transcript_init(&tr);
    gint64 a = g_get_monotonic_time();
    int rc = aud_transcribe_samples(e->w, e->tok, f->samples + (size_t)(f->prompts[0].start * 16000), 3 * 16000,
                                    &tp, &tr, err);
    aud_transcript_clear(&tr);
    if (rc)
      return rc;
    double t = (double)(g_get_monotonic_time() - a) * 1e-6;
    e->step_cost = t < e->step_cost ? t : e->step_cost;
  }
  return 0;
}

/* One real-time pass over the fixture; per-utterance latencies into e. */
static int
run_round(engine *e, const fixture *f, const char *vad, double step, int round, char **err)
{
  sink s = { .evs = g_array_new(FALSE, FALSE, sizeof(ev)), .text = g_string_new("") };
  g_mutex_init(&s.lock);
  aud_dictate_params p = aud_dictate_default_params();
  p.language = "en";
  p.vad_model = vad;
  p.step_s = step;
  p.encode_pad_s = (float)e->pad;
  p.on_partial = on_partial;
  p.on_final = on_final;
  p.user_data = &s;
  aud_dictate *d = aud_dictate_new(e->w, e->tok, &p, err);
  if (!d || aud_dictate_start_push(d, 16000, 1, err)) {
    aud_dictate_free(d);
    return -1;
  }
  s.t0 = g_get_monotonic_time();
  size_t block = 320; /* 20 ms */
  for (size_t off = 0; off < f->n; off += block) {
    size_t k = f->n - off < block ? f->n - off : block;
    gint64 due = s.t0 + (gint64)((double)(off + k) / 16000 * 1e6);
    gint64 now = g_get_monotonic_time();
    if (due > now)
      g_usleep((gulong)(due - now));
    aud_dictate_push(d, f->samples + off, k);
  }
  aud_dictate_end_input(d);
  aud_dictate_stop(d, NULL);
  aud_dictate_free(d);
  printf("round %d (%s, %s weights, VAD %s, step %.2f s, %s)\n", round + 1, aud_whisper_backend_name(e->w), e->name,
         vad ? "silero" : "energy", step, e->pad > 0 ? "short encoding" : "30-s encoding");
  double prev_final = 0; /* wall time of the previous utterance's last final */
  for (int u = 0; u < f->n_prompts; u++) {
    double on = f->prompts[u].start, off = f->prompts[u].end;
    double first_partial = NAN, last_final = NAN;
    for (guint i = 0; i < s.evs->len; i++) {
      ev *x = &g_array_index(s.evs, ev, i);
      /* The worker is serial: partials after the previous utterance's
       * final are this one's (a late partial of the previous is not). */
      if (!x->final && x->has_text && x->wall >= on && x->wall > prev_final && isnan(first_partial))
        first_partial = x->wall - on;
      if (x->final && x->start < off + 0.5 && x->end > on - 0.5)
        last_final = x->wall - off;
      if (x->final && isnan(first_partial) && x->start < off + 0.5 && x->end > on - 0.5)
        first_partial = x->wall - on; /* text came out as final straight away */
    }
    printf("  %-16s %5.2f-%5.2f s  first text %+7.3f s after onset, final %+7.3f s after end\n", f->prompts[u].name,
           on, off, first_partial, last_final);
    if (!isnan(last_final))
      prev_final = off + last_final;
    if (isnan(first_partial) || isnan(last_final))
      e->missed++;
    else
      g_array_append_val(e->onset, first_partial), g_array_append_val(e->fin, last_final);
  }
  double wer = fixture_wer(f->reference, s.text->str);
  e->wer_sum += wer;
  printf("  WER %.1f%%: %s\n", wer, s.text->str);
  fflush(stdout);
  g_array_free(s.evs, TRUE);
  g_string_free(s.text, TRUE);
  g_mutex_clear(&s.lock);
  return 0;
}

int
main(int argc, char **argv)
{
  const char *device = "cpu", *vad = NULL, *precisions = "float";
  int threads = 0, rounds = 1;
  double step = 0.5;
  const char *pads = "0";
  if (argc < 2) {
    fprintf(stderr, "usage: bench-dictate MODEL [--device cpu|cuda] [--vad FILE] [--threads N] [--step S] "
                    "[--rounds N] [--precision float,int8] [--encode-pad 0,1]\n");
    return 2;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--device"))
      device = argv[i + 1];
    else if (!strcmp(argv[i], "--vad"))
      vad = argv[i + 1];
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--step"))
      step = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds"))
      rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--precision"))
      precisions = argv[i + 1];
    else if (!strcmp(argv[i], "--encode-pad"))
      pads = argv[i + 1];
  }
  fixture f;
  const char *why;
  if (fixture_build(&f, names, G_N_ELEMENTS(names), 16000, 1.0, 3.0, &why)) {
    fprintf(stderr, "bench-dictate: %s\n", why);
    return 1;
  }
  /* One engine per precision and encoding (their product), run in turn. */
  char **names_p = g_strsplit(precisions, ",", 4), **pads_p = g_strsplit(pads, ",", 4);
  int n_prec = (int)g_strv_length(names_p), n_pad = (int)g_strv_length(pads_p), n_eng = n_prec * n_pad;
  engine *eng = g_new0(engine, n_eng);
  char *err = NULL;
  for (int k = 0; k < n_eng; k++) {
    engine *e = &eng[k];
    const char *prec = names_p[k / n_pad];
    if (strcmp(prec, "float") && strcmp(prec, "int8")) {
      fprintf(stderr, "bench-dictate: unknown precision '%s' (float, int8)\n", prec);
      return 2;
    }
    aud_whisper_params wp = aud_whisper_default_params();
    wp.backend = device;
    wp.n_threads = threads;
    wp.q8_weights = strcmp(prec, "int8") == 0;
    e->name = prec;
    e->pad = atof(pads_p[k % n_pad]);
    e->w = aud_whisper_open(argv[1], &wp, &err);
    e->tok = e->w ? aud_tokenizer_from_weights(aud_whisper_get_weights(e->w), &err) : NULL;
    if (!e->tok || time_step(e, &f, &err)) {
      fprintf(stderr, "bench-dictate: %s\n", err);
      return 1;
    }
    e->onset = g_array_new(FALSE, FALSE, sizeof(double));
    e->fin = g_array_new(FALSE, FALSE, sizeof(double));
    printf("one decode step (3-s window, greedy, word timestamps) on %s, %s weights, encode pad %.1f s: %.3f s "
           "(best of 3)\n",
           aud_whisper_backend_name(e->w), e->name, e->pad, e->step_cost);
  }
  for (int round = 0; round < rounds; round++)
    for (int k = 0; k < n_eng; k++)
      if (run_round(&eng[k], &f, vad, step, round, &err)) {
        fprintf(stderr, "bench-dictate: %s\n", err);
        return 1;
      }
  for (int k = 0; k < n_eng; k++) {
    engine *e = &eng[k];
    int n = (int)e->onset->len;
    printf("\n%s weights, %s: %d utterances (%d without text or final), decode step %.3f s\n", e->name,
           e->pad > 0 ? "short encoding" : "30-s encoding", n, e->missed, e->step_cost);
    printf("onset -> first text: median %.3f s, p90 %.3f s\n", quantile((double *)e->onset->data, n, 0.5),
           quantile((double *)e->onset->data, n, 0.9));
    printf("end of speech -> final: median %.3f s, p90 %.3f s\n", quantile((double *)e->fin->data, n, 0.5),
           quantile((double *)e->fin->data, n, 0.9));
    printf("mean WER %.1f%%\n", e->wer_sum / rounds);
    g_array_free(e->onset, TRUE), g_array_free(e->fin, TRUE);
    aud_tokenizer_free(e->tok);
    aud_whisper_free(e->w);
  }
  g_free(eng);
  g_strfreev(names_p);
  g_strfreev(pads_p);
  fixture_clear(&f);
  return 0;
}
