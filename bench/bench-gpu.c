/* bench-gpu.c: the numbers issue "GPU" asks for, on one backend (CUDA by default).
 *
 *   bench-gpu [-b BACKEND] [-o OUT.json] [--min-time S] [--filter TEXT]
 *             [--whisper MODEL]... [--windows N] [--check REF_BACKEND] [--timeout S]
 *             [--gemm-gflops G]
 *
 * - device copy bandwidth (256 MiB device-to-device, read + write counted):
 *   the ceiling of every memory-bound kernel;
 * - every op case of kern-bench (matvec per weight type with its fraction of
 *   the copy bandwidth, GEMMs with GFLOP/s, attention, row ops, conv);
 *   "matmul f16 8192x8192 x 8192" is the measured F16 GEMM rate;
 * - per Whisper model: load time, encoder ms per 30-s window on random log-mel
 *   frames (median of N), its FLOP count and the floor FLOPs / GEMM rate, and
 *   decoder step times: one sequence at 100 cached positions, and 5 beams as
 *   one batch; with --check REF, the same model on backend REF: encoder
 *   output and prompt logits compared, and 16 greedy steps side by side.
 * Prints a table and writes the same numbers as JSON (-o); progress on stderr.
 * --timeout S ends the run after S seconds, naming the step it was in.
 * --gemm-gflops G: the GEMM rate for the floor when no matmul case ran. Not a test: it
 * checks nothing but that each call succeeds. Links the engine libraries
 * only (no GTK), so it runs on a bare GPU machine. */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aud-whisper.h"
#include "kern-backend.h"
#include "kern-bench.h"
#include "kern-cpu.h"

/* Progress on stderr with the elapsed time, and a watchdog (--timeout) that
 * names the step that did not finish. */
static double t_start;
static char cur_phase[256] = "start";

static void
phase(const char *what, const char *arg)
{
  snprintf(cur_phase, sizeof cur_phase, "%s %s", what, arg);
  fprintf(stderr, "[%7.2f s] %s\n", kern_clock_s() - t_start, cur_phase);
}

static void
on_alarm(int sig)
{
  (void)sig;
  char msg[320];
  int n = snprintf(msg, sizeof msg, "bench-gpu: timed out during: %s\n", cur_phase);
  if (write(2, msg, (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1)) < 0)
    _exit(124);
  _exit(124);
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n ? v[n / 2] : NAN;
}

static void
json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

/* ,"key":value, with null for NaN and infinities (no JSON number). */
static void
json_num(FILE *f, const char *key, double v)
{
  if (isfinite(v))
    fprintf(f, ",\"%s\":%.4f", key, v);
  else
    fprintf(f, ",\"%s\":null", key);
}

/* Multiply-adds x2 of one encoder window: two convolutions, then per layer the
 * four attention projections (4 T d^2), the MLP (8 T d^2, n_ff = 4d), QK^T and
 * AV (2 T^2 d). */
static double
encoder_flops(const aud_whisper_hparams *hp)
{
  double T = hp->n_audio_ctx, d = hp->n_audio_state, L = hp->n_audio_layer;
  double conv = 2.0 * 3 * hp->n_mels * d * (2 * T) + 2.0 * 3 * d * d * T;
  return conv + L * (2.0 * (12 * T * d * d) + 2.0 * (2 * T * T * d));
}

/* max |a - b| / max |b| */
static double
rel_diff(const float *a, const float *b, size_t n)
{
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; i++) {
    md = fmax(md, fabs((double)a[i] - b[i]));
    mb = fmax(mb, fabs((double)b[i]));
  }
  return md / (mb > 0 ? mb : 1);
}

static int
argmax(const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

/* The same model on the reference backend `ref`: the encoder output and the
 * logits of the prompt compared, and 16 greedy steps from it on each backend
 * (a token that differs ends the comparison). */
static void
check_whisper(FILE *js, aud_whisper *w, const char *path, const char *ref, const float *mel, const int32_t *prompt,
              int P)
{
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  aud_whisper_params p = aud_whisper_default_params();
  p.backend = ref;
  char *err = NULL;
  phase("check: load on", ref);
  aud_whisper *r = aud_whisper_open(path, &p, &err);
  if (!r) {
    printf("  check against %s: %s\n", ref, err);
    free(err);
    return;
  }
  size_t ne = (size_t)hp->n_audio_ctx * hp->n_audio_state, V = (size_t)hp->n_vocab;
  float *e1 = malloc(ne * sizeof *e1), *e2 = malloc(ne * sizeof *e2);
  float *l1 = malloc(V * sizeof *l1), *l2 = malloc(V * sizeof *l2);
  double de = NAN, dl = NAN;
  int same = 0, steps = 16;
  phase("check: encoders and prompt logits against", ref);
  if (aud_whisper_encode(w, mel, 2 * hp->n_audio_ctx) == 0 && aud_whisper_get_encoder_output(w, e1) == 0 &&
      aud_whisper_encode(r, mel, 2 * hp->n_audio_ctx) == 0 && aud_whisper_get_encoder_output(r, e2) == 0)
    de = rel_diff(e1, e2, ne);
  if (aud_whisper_decode(w, 0, prompt, P, 0, NULL, 0, l1) == 0 && aud_whisper_decode(r, 0, prompt, P, 0, NULL, 0, l2) == 0) {
    dl = rel_diff(l1, l2, V);
    phase("check: greedy steps against", ref);
    for (int i = 0; i < steps && P + i < hp->n_text_ctx; i++) {
      int32_t a = argmax(l1, (int)V), b = argmax(l2, (int)V);
      if (a != b)
        break;
      same++;
      if (aud_whisper_decode(w, 0, &a, 1, P + i, NULL, 0, l1) != 0 || aud_whisper_decode(r, 0, &b, 1, P + i, NULL, 0, l2) != 0)
        break;
    }
  }
  printf("  against %-8s encoder rel diff %.3g, logits rel diff %.3g, greedy tokens equal %d/%d\n", ref, de, dl, same,
         steps);
  fprintf(js, ",\"check\":{\"against\":\"%s\"", ref);
  json_num(js, "encoder_rel_diff", de);
  json_num(js, "logits_rel_diff", dl);
  fprintf(js, ",\"greedy_equal\":%d,\"greedy_steps\":%d}", same, steps);
  free(e1), free(e2), free(l1), free(l2);
  aud_whisper_free(r);
}

static int
bench_whisper(FILE *js, const char *backend, const char *path, int windows, double gemm_gflops, int first,
              const char *check)
{
  aud_whisper_params p = aud_whisper_default_params();
  p.backend = backend;
  p.n_seq = 5;
  char *err = NULL;
  phase("load", path);
  double t0 = kern_clock_s();
  aud_whisper *w = aud_whisper_open(path, &p, &err);
  double load_s = kern_clock_s() - t0;
  fprintf(js, "%s{\"model\":", first ? "" : ",");
  json_str(js, path);
  if (!w) {
    printf("whisper %s: %s\n", path, err);
    fprintf(js, ",\"error\":");
    json_str(js, err);
    fprintf(js, "}");
    free(err);
    return -1;
  }
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  int T2 = 2 * hp->n_audio_ctx, M = hp->n_mels;
  float *mel = malloc((size_t)T2 * M * sizeof *mel);
  uint64_t s = 0x1234567;
  for (int i = 0; i < T2 * M; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    mel[i] = (float)((double)(s >> 11) / 9007199254740992.0) * 2.5f - 1.0f; /* log-mel range */
  }
  double times[64];
  int n = 0, rc = 0;
  phase("encoder windows on", backend);
  for (int i = -1; i < windows && n < 64; i++) {
    double a = kern_clock_s();
    if ((rc = aud_whisper_encode(w, mel, T2)) != 0 || (rc = aud_whisper_sync(w)) != 0)
      break;
    if (i >= 0) /* the first run warms up */
      times[n++] = kern_clock_s() - a;
  }
  double enc_ms = median(times, n) * 1e3;
  double flops = encoder_flops(hp);
  double floor_ms = gemm_gflops > 0 ? flops / (gemm_gflops * 1e9) * 1e3 : NAN;

  /* Decoder: prime P positions (100, fewer on tiny test models) on every
   * sequence, then time single steps. */
  int P = hp->n_text_ctx - 25 < 100 ? hp->n_text_ctx - 25 : 100;
  int32_t prompt[100];
  for (int i = 0; i < P; i++) /* ordinary text tokens; the values do not change the work */
    prompt[i] = (int32_t)((440 + i * 37) % (hp->n_vocab - 1));
  double step_ms = NAN, beam_ms = NAN;
  float *logits = malloc((size_t)5 * hp->n_vocab * sizeof *logits);
  phase("decoder prompts on", backend);
  for (int sq = 0; rc == 0 && sq < 5; sq++)
    rc = aud_whisper_decode(w, sq, prompt, P, 0, NULL, 0, logits);
  if (rc == 0) {
    phase("decoder steps on", backend);
    n = 0;
    for (int i = -1; i < 20 && rc == 0; i++) {
      int32_t tok = (440 + i * 11) % (hp->n_vocab - 1);
      double a = kern_clock_s();
      rc = aud_whisper_decode(w, 0, &tok, 1, P, NULL, 0, logits);
      if (i >= 0)
        times[n++] = kern_clock_s() - a; /* the logits come back to the host: synchronous */
    }
    step_ms = median(times, n) * 1e3;
    phase("decoder beam steps on", backend);
    n = 0;
    for (int i = -1; i < 20 && rc == 0; i++) {
      int seqs[5] = { 0, 1, 2, 3, 4 }, past[5] = { P, P, P, P, P };
      int32_t toks[5] = { 1, 2, 3, 4, 5 };
      double a = kern_clock_s();
      rc = aud_whisper_decode_batch(w, 5, seqs, toks, past, logits);
      if (i >= 0)
        times[n++] = kern_clock_s() - a;
    }
    beam_ms = median(times, n) * 1e3;
  }
  if (rc != 0)
    printf("whisper %s: %s\n", path, aud_whisper_errmsg(w));
  printf("\nwhisper %s on %s: %d mels, d=%d, %d+%d layers, load %.2f s\n", path, aud_whisper_backend_name(w), M,
         hp->n_audio_state, hp->n_audio_layer, hp->n_text_layer, load_s);
  printf("  encoder per 30-s window  %9.2f ms  (%.3f TFLOP; floor at %.0f GFLOP/s: %.2f ms; %.2fx the floor)\n",
         enc_ms, flops / 1e12, gemm_gflops, floor_ms, enc_ms / floor_ms);
  printf("  decoder step, 1 sequence %9.2f ms\n", step_ms);
  printf("  decoder step, 5 beams    %9.2f ms\n", beam_ms);
  fprintf(js, ",\"backend\":\"%s\",\"n_mels\":%d,\"d_model\":%d,\"enc_layers\":%d,\"dec_layers\":%d",
          aud_whisper_backend_name(w), M, hp->n_audio_state, hp->n_audio_layer, hp->n_text_layer);
  json_num(js, "load_s", load_s);
  json_num(js, "encoder_ms", enc_ms);
  json_num(js, "encoder_tflop", flops / 1e12);
  json_num(js, "floor_ms", floor_ms);
  json_num(js, "of_floor", enc_ms / floor_ms);
  json_num(js, "decode_step_ms", step_ms);
  json_num(js, "decode_beam5_ms", beam_ms);
  if (rc != 0) {
    fprintf(js, ",\"error\":");
    json_str(js, aud_whisper_errmsg(w));
  } else if (check) {
    check_whisper(js, w, path, check, mel, prompt, P);
  }
  fprintf(js, "}");
  free(logits);
  free(mel);
  aud_whisper_free(w);
  return rc;
}

int
main(int argc, char **argv)
{
  const char *backend = "cuda", *out = NULL, *filter = NULL, *check = NULL;
  const char *whispers[8];
  int n_whisper = 0, windows = 10;
  double min_time = 0.3;
  int timeout_s = 0;
  double given_gemm = 0;
  t_start = kern_clock_s();
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-b") && v)
      backend = v, i++;
    else if (!strcmp(a, "-o") && v)
      out = v, i++;
    else if (!strcmp(a, "--min-time") && v)
      min_time = atof(v), i++;
    else if (!strcmp(a, "--filter") && v)
      filter = v, i++;
    else if (!strcmp(a, "--whisper") && v && n_whisper < 8)
      whispers[n_whisper++] = v, i++;
    else if (!strcmp(a, "--windows") && v)
      windows = atoi(v), i++;
    else if (!strcmp(a, "--check") && v)
      check = v, i++;
    else if (!strcmp(a, "--timeout") && v)
      timeout_s = atoi(v), i++;
    else if (!strcmp(a, "--gemm-gflops") && v)
      given_gemm = atof(v), i++;
    else {
      fprintf(stderr, "usage: %s [-b BACKEND] [-o OUT.json] [--min-time S] [--filter TEXT] [--whisper MODEL]... "
                      "[--windows N] [--check REF_BACKEND] [--timeout S] [--gemm-gflops G]\n", argv[0]);
      return 2;
    }
  }
  if (timeout_s > 0) {
    signal(SIGALRM, on_alarm);
    alarm((unsigned)timeout_s);
  }
  char *err = NULL;
  kern_backend_params bp = kern_backend_default_params();
  kern_backend_t be = kern_backend_new(backend, &bp, &err);
  if (!be) {
    fprintf(stderr, "bench-gpu: %s: %s\n", backend, err);
    free(err);
    return 1;
  }
  FILE *js = out ? fopen(out, "w") : fopen("/dev/null", "w");
  if (!js) {
    perror(out);
    kern_backend_free(be);
    return 1;
  }
  int is_gpu = !kern_backend_is_host(be);
  double bw = is_gpu ? kern_bench_device_copy_bandwidth(be) : kern_bench_host_copy_bandwidth((size_t)512 << 20, 2);
  printf("%s: copy bandwidth %.1f GB/s\n", kern_backend_name(be), bw);
  printf("  %-48s %10s %9s %9s %7s\n", "op", "ms", "GB/s", "GFLOP/s", "of copy");
  fprintf(js, "{\"backend\":\"%s\",\"copy_gbs\":%.2f,\"ops\":[", kern_backend_name(be), bw);
  double gemm_gflops = 0;
  int failures = 0, first = 1;
  for (int ci = 0; ci < kern_bench_n_cases(); ci++) {
    const char *name = kern_bench_case_name(ci);
    if ((!is_gpu && (kern_bench_case_flags(ci) & KERN_BENCH_GPU_ONLY)) || (filter && !strstr(name, filter)))
      continue;
    kern_bench_result r;
    phase("op", name);
    int rc = kern_bench_case_run(be, ci, min_time, bw, &r);
    fprintf(js, "%s{\"op\":", first ? "" : ",");
    first = 0;
    json_str(js, name);
    if (rc != 0) {
      failures++;
      printf("  %-48s %s\n", name, r.error);
      fprintf(js, ",\"error\":");
      json_str(js, r.error);
      fprintf(js, "}");
      continue;
    }
    if (r.gflops > gemm_gflops && strstr(name, "matmul f16"))
      gemm_gflops = r.gflops;
    if (r.of_copy >= 0)
      printf("  %-48s %10.3f %9.1f %9.1f %6.0f%%\n", name, r.ms, r.gbs, r.gflops, 100 * r.of_copy);
    else
      printf("  %-48s %10.3f %9.1f %9.1f\n", name, r.ms, r.gbs, r.gflops);
    fflush(stdout);
    fprintf(js, ",\"ms\":%.4f,\"gbs\":%.2f,\"gflops\":%.2f", r.ms, r.gbs, r.gflops);
    if (r.of_copy >= 0)
      fprintf(js, ",\"of_copy\":%.3f", r.of_copy);
    fprintf(js, "}");
  }
  kern_backend_free(be);
  if (gemm_gflops == 0 && given_gemm > 0)
    gemm_gflops = given_gemm; /* measured by an earlier run */
  else
    printf("F16 GEMM rate (best matmul f16 case): %.1f GFLOP/s\n", gemm_gflops);
  fprintf(js, "],\"f16_gemm_gflops\":%.2f,\"whisper\":[", gemm_gflops);
  for (int i = 0; i < n_whisper; i++)
    failures += bench_whisper(js, backend, whispers[i], windows, gemm_gflops, i == 0, check) != 0;
  fprintf(js, "]}\n");
  fclose(js);
  return failures ? 1 : 0;
}
