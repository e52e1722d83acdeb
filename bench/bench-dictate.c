/* bench-dictate.c: latency of live dictation on real speech, in real time.
 *
 *   bench-dictate MODEL [--device cpu|cuda] [--vad FILE] [--threads N] [--step S] [--rounds N]
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

int
main(int argc, char **argv)
{
  const char *device = "cpu", *vad = NULL;
  int threads = 0, rounds = 1;
  double step = 0.5;
  if (argc < 2) {
    fprintf(stderr, "usage: bench-dictate MODEL [--device cpu|cuda] [--vad FILE] [--threads N] [--step S] "
                    "[--rounds N]\n");
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
  }
  fixture f;
  const char *why;
  if (fixture_build(&f, names, G_N_ELEMENTS(names), 16000, 1.0, 3.0, &why)) {
    fprintf(stderr, "bench-dictate: %s\n", why);
    return 1;
  }
  aud_whisper_params wp = aud_whisper_default_params();
  wp.backend = device;
  wp.n_threads = threads;
  char *err = NULL;
  aud_whisper *w = aud_whisper_open(argv[1], &wp, &err);
  aud_tokenizer *tok = w ? aud_tokenizer_from_weights(aud_whisper_get_weights(w), &err) : NULL;
  if (!tok) {
    fprintf(stderr, "bench-dictate: %s\n", err);
    return 1;
  }
  /* What one step costs here: a 3-s window decoded as the engine does. */
  {
    aud_transcribe_params tp = aud_transcribe_default_params();
    tp.language = "en";
    tp.beam_size = 1;
    tp.best_of = 1;
    tp.word_timestamps = 1;
    tp.max_windows = 1;
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
      aud_transcript tr;
      aud_transcript_init(&tr);
      gint64 a = g_get_monotonic_time();
      if (aud_transcribe_samples(w, tok, f.samples + (size_t)(f.prompts[0].start * 16000), 3 * 16000, &tp, &tr,
                                 &err)) {
        fprintf(stderr, "bench-dictate: %s\n", err);
        return 1;
      }
      double t = (double)(g_get_monotonic_time() - a) * 1e-6;
      best = t < best ? t : best;
      aud_transcript_clear(&tr);
    }
    printf("one decode step (3-s window, greedy, word timestamps) on %s: %.3f s (best of 3)\n",
           aud_whisper_backend_name(w), best);
  }
  GArray *onset = g_array_new(FALSE, FALSE, sizeof(double)), *fin = g_array_new(FALSE, FALSE, sizeof(double));
  int missed = 0;
  double wer_sum = 0;
  for (int round = 0; round < rounds; round++) {
    sink s = { .evs = g_array_new(FALSE, FALSE, sizeof(ev)), .text = g_string_new("") };
    g_mutex_init(&s.lock);
    aud_dictate_params p = aud_dictate_default_params();
    p.language = "en";
    p.vad_model = vad;
    p.step_s = step;
    p.on_partial = on_partial;
    p.on_final = on_final;
    p.user_data = &s;
    aud_dictate *d = aud_dictate_new(w, tok, &p, &err);
    if (!d || aud_dictate_start_push(d, 16000, 1, &err)) {
      fprintf(stderr, "bench-dictate: %s\n", err);
      return 1;
    }
    s.t0 = g_get_monotonic_time();
    size_t block = 320; /* 20 ms */
    for (size_t off = 0; off < f.n; off += block) {
      size_t k = f.n - off < block ? f.n - off : block;
      gint64 due = s.t0 + (gint64)((double)(off + k) / 16000 * 1e6);
      gint64 now = g_get_monotonic_time();
      if (due > now)
        g_usleep((gulong)(due - now));
      aud_dictate_push(d, f.samples + off, k);
    }
    aud_dictate_end_input(d);
    aud_dictate_stop(d, NULL);
    aud_dictate_free(d);
    printf("round %d (%s, VAD %s, step %.2f s)\n", round + 1, aud_whisper_backend_name(w), vad ? "silero" : "energy",
           step);
    double prev_final = 0; /* wall time of the previous utterance's last final */
    for (int u = 0; u < f.n_prompts; u++) {
      double on = f.prompts[u].start, off = f.prompts[u].end;
      double first_partial = NAN, last_final = NAN;
      for (guint i = 0; i < s.evs->len; i++) {
        ev *e = &g_array_index(s.evs, ev, i);
        /* The worker is serial: partials after the previous utterance's
         * final are this one's (a late partial of the previous is not). */
        if (!e->final && e->has_text && e->wall >= on && e->wall > prev_final && isnan(first_partial))
          first_partial = e->wall - on;
        if (e->final && e->start < off + 0.5 && e->end > on - 0.5)
          last_final = e->wall - off;
        if (e->final && isnan(first_partial) && e->start < off + 0.5 && e->end > on - 0.5)
          first_partial = e->wall - on; /* text came out as final straight away */
      }
      printf("  %-16s %5.2f-%5.2f s  first text %+7.3f s after onset, final %+7.3f s after end\n",
             f.prompts[u].name, on, off, first_partial, last_final);
      if (!isnan(last_final))
        prev_final = off + last_final;
      if (isnan(first_partial) || isnan(last_final))
        missed++;
      else
        g_array_append_val(onset, first_partial), g_array_append_val(fin, last_final);
    }
    double wer = fixture_wer(f.reference, s.text->str);
    wer_sum += wer;
    printf("  WER %.1f%%: %s\n", wer, s.text->str);
    g_array_free(s.evs, TRUE);
    g_string_free(s.text, TRUE);
    g_mutex_clear(&s.lock);
  }
  int n = (int)onset->len;
  printf("\n%d utterances (%d without text or final)\n", n, missed);
  printf("onset -> first text: median %.3f s, p90 %.3f s\n", quantile((double *)onset->data, n, 0.5),
         quantile((double *)onset->data, n, 0.9));
  printf("end of speech -> final: median %.3f s, p90 %.3f s\n", quantile((double *)fin->data, n, 0.5),
         quantile((double *)fin->data, n, 0.9));
  printf("mean WER %.1f%%\n", wer_sum / rounds);
  g_array_free(onset, TRUE), g_array_free(fin, TRUE);
  aud_tokenizer_free(tok);
  aud_whisper_free(w);
  fixture_clear(&f);
  return 0;
}
