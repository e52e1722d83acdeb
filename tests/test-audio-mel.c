/* test-audio-mel.c: the FFT (aud-fft.c) and Whisper's log-mel front end
 * (aud-mel.c) against a plain DFT and against openai-whisper itself.
 *
 * Inputs: tests/data/mel-golden.bin, written by
 * tests/reference/make-mel-golden.py from openai-whisper's
 * log_mel_spectrogram (torch float32 STFT) and assets/mel_filters.npz; the
 * synthetic signal is regenerated here (make_signal) exactly as the script
 * makes it. The real whisper.cpp base file in shared/data gives the
 * filterbank-from-file case (skipped when absent).
 */
#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aud-fft.h"
#include "aud-mel.h"
#include "kern-weights.h"

#define SR 16000
#define MEL_TOL 1e-4

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t
splitmix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The golden script's signal (see make-mel-golden.py), float32. */
static float *
make_signal(size_t n)
{
  float *x = g_new(float, n);
  uint64_t state = 1234;
  const double f0 = 100.0, f1 = 7000.0, dur = 30.0;
  for (size_t i = 0; i < n; i++) {
    uint64_t z = splitmix64(&state);
    double noise = (double)(z >> 40) * (1.0 / (double)(1 << 24)) * 2.0 - 1.0;
    double t = (double)i / SR;
    double phase = 2.0 * M_PI * (f0 * t + 0.5 * (f1 - f0) / dur * t * t);
    double amp = 0.4 * (1.0 + 0.5 * sin(2.0 * M_PI * 0.3 * t));
    double v = amp * sin(phase) + 0.02 * noise;
    if (t >= 3.0 && t < 3.5)
      v = 0.0;
    else if ((t >= 5.0 && t < 6.0) || (t >= 20.0 && t < 21.0))
      v = 1e-3 * noise;
    x[i] = (float)v;
  }
  return x;
}

static uint64_t
fnv1a64(const void *data, size_t n)
{
  const unsigned char *p = data;
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}

static char *
shared_file(const char *name)
{
  const char *root = g_getenv("HARK_SOURCE_ROOT");
  char *p = g_build_filename(root ? root : ".", "..", "shared", "data", "ggml-format", name, NULL);
  if (!g_file_test(p, G_FILE_TEST_EXISTS)) {
    char *msg = g_strdup_printf("%s is absent (shared test data)", p);
    g_test_skip(msg);
    g_free(msg);
    g_free(p);
    return NULL;
  }
  return p;
}

/* ---- FFT ------------------------------------------------------------------------- */

/* Relative RMS error of the complex FFT against an O(n^2) DFT in double. */
static void
check_complex(int n)
{
  aud_fft *p = aud_fft_new(n);
  g_assert_nonnull(p);
  g_assert_cmpint(aud_fft_size(p), ==, n);
  float *in = g_new(float, 2 * (size_t)n), *out = g_new(float, 2 * (size_t)n);
  float *scratch = g_new(float, aud_fft_scratch_floats(p));
  uint64_t st = (uint64_t)n * 77;
  for (int i = 0; i < 2 * n; i++)
    in[i] = (float)((double)(splitmix64(&st) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  aud_fft_complex(p, in, out, scratch);
  double err = 0, ref = 0;
  for (int k = 0; k < n; k++) {
    double sr = 0, si = 0;
    for (int j = 0; j < n; j++) {
      double a = -2.0 * M_PI * (double)(((int64_t)j * k) % n) / n;
      sr += in[2 * j] * cos(a) - in[2 * j + 1] * sin(a);
      si += in[2 * j] * sin(a) + in[2 * j + 1] * cos(a);
    }
    err += (out[2 * k] - sr) * (out[2 * k] - sr) + (out[2 * k + 1] - si) * (out[2 * k + 1] - si);
    ref += sr * sr + si * si;
  }
  double rel = sqrt(err / (ref > 0 ? ref : 1));
  if (rel > 2e-6)
    g_error("complex FFT of size %d: relative RMS error %g", n, rel);
  /* in place */
  memcpy(out, in, 2 * (size_t)n * sizeof(float));
  float *out2 = g_new(float, 2 * (size_t)n);
  aud_fft_complex(p, in, out2, scratch);
  aud_fft_complex(p, out, out, scratch);
  g_assert_cmpmem(out, 2 * (size_t)n * sizeof(float), out2, 2 * (size_t)n * sizeof(float));
  g_free(out2);
  g_free(in);
  g_free(out);
  g_free(scratch);
  aud_fft_free(p);
}

static void
test_fft_complex(void)
{
  static const int sizes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 20, 25, 32, 49, 64, 77, 100, 121, 143, 200, 256, 400, 1000 };
  for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++)
    check_complex(sizes[i]);
  g_assert_null(aud_fft_new(0));
  g_assert_null(aud_rfft_new(7));
  g_assert_null(aud_rfft_new(0));
}

static void
check_real(int n)
{
  aud_rfft *p = aud_rfft_new(n);
  g_assert_nonnull(p);
  g_assert_cmpint(aud_rfft_size(p), ==, n);
  const int h = n / 2;
  float *x = g_new(float, (size_t)n), *out = g_new(float, 2 * ((size_t)h + 1));
  float *scratch = g_new(float, aud_rfft_scratch_floats(p));
  uint64_t st = (uint64_t)n * 31;
  for (int i = 0; i < n; i++)
    x[i] = (float)((double)(splitmix64(&st) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  aud_rfft_forward(p, x, out, scratch);

  /* the lane entry points: lane l holds x scaled by (l + 1) */
  float *xl = g_new(float, (size_t)n * AUD_FFT_LANES);
  float *re = g_new(float, ((size_t)h + 1) * AUD_FFT_LANES), *im = g_new(float, ((size_t)h + 1) * AUD_FFT_LANES);
  float *pw = g_new(float, ((size_t)h + 1) * AUD_FFT_LANES);
  for (int t = 0; t < n; t++)
    for (int l = 0; l < AUD_FFT_LANES; l++)
      xl[t * AUD_FFT_LANES + l] = x[t] * (float)(l + 1);
  aud_rfft_lanes(p, xl, re, im, scratch);
  aud_rfft_power_lanes(p, xl, pw, scratch);

  double err = 0, ref = 0;
  for (int k = 0; k <= h; k++) {
    double sr = 0, si = 0;
    for (int j = 0; j < n; j++) {
      double a = -2.0 * M_PI * (double)(((int64_t)j * k) % n) / n;
      sr += x[j] * cos(a);
      si += x[j] * sin(a);
    }
    err += (out[2 * k] - sr) * (out[2 * k] - sr) + (out[2 * k + 1] - si) * (out[2 * k + 1] - si);
    ref += sr * sr + si * si;
    for (int l = 0; l < AUD_FFT_LANES; l++) {
      double s = l + 1, r = re[k * AUD_FFT_LANES + l], i = im[k * AUD_FFT_LANES + l];
      double scale = sqrt((sr * sr + si * si) / (n > 0 ? n : 1)) + 1.0;
      g_assert_cmpfloat(fabs(r - s * sr), <=, 1e-5 * s * scale * sqrt((double)n));
      g_assert_cmpfloat(fabs(i - s * si), <=, 1e-5 * s * scale * sqrt((double)n));
      double pref = s * s * (sr * sr + si * si);
      g_assert_cmpfloat(fabs(pw[k * AUD_FFT_LANES + l] - pref), <=, 1e-4 * s * s * (scale * scale) * n);
    }
  }
  double rel = sqrt(err / (ref > 0 ? ref : 1));
  if (rel > 2e-6)
    g_error("real FFT of size %d: relative RMS error %g", n, rel);
  g_free(x);
  g_free(out);
  g_free(xl);
  g_free(re);
  g_free(im);
  g_free(pw);
  g_free(scratch);
  aud_rfft_free(p);
}

static void
test_fft_real(void)
{
  static const int sizes[] = { 2, 4, 6, 10, 16, 30, 50, 64, 98, 200, 400, 512, 800 };
  for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++)
    check_real(sizes[i]);
}

/* ---- golden file --------------------------------------------------------------- */

typedef struct {
  uint32_t kind, n_mels, n_samples, n_frames, first, n_stored;
  const float *frames;  /* (n_stored, n_mels), maybe unaligned: read with memcpy */
  const double *sums;   /* (n_frames) */
} golden_case;

typedef struct {
  GMappedFile *map;
  double signal_sum;
  uint32_t n_filters;
  uint32_t filter_mels[4];
  uint64_t filter_hash[4];
  uint32_t n_cases;
  golden_case cases[16];
} golden;

static const uint8_t *
take(const uint8_t **p, const uint8_t *end, size_t n)
{
  g_assert_cmpuint((size_t)(end - *p), >=, n);
  const uint8_t *r = *p;
  *p += n;
  return r;
}

static uint32_t
take_u32(const uint8_t **p, const uint8_t *end)
{
  uint32_t v;
  memcpy(&v, take(p, end, 4), 4);
  return v;
}

static gboolean
golden_load(golden *g)
{
  memset(g, 0, sizeof *g);
  char *path = g_test_build_filename(G_TEST_DIST, "data", "mel-golden.bin", NULL);
  GError *error = NULL;
  g->map = g_mapped_file_new(path, FALSE, &error);
  g_assert_no_error(error);
  g_free(path);
  const uint8_t *p = (const uint8_t *)g_mapped_file_get_contents(g->map);
  const uint8_t *end = p + g_mapped_file_get_length(g->map);
  g_assert_cmpmem(take(&p, end, 8), 8, "HKMELGLD", 8);
  g_assert_cmpuint(take_u32(&p, end), ==, 1);
  g->n_cases = take_u32(&p, end);
  g_assert_cmpuint(g->n_cases, <=, G_N_ELEMENTS(g->cases));
  memcpy(&g->signal_sum, take(&p, end, 8), 8);
  g->n_filters = take_u32(&p, end);
  g_assert_cmpuint(g->n_filters, <=, G_N_ELEMENTS(g->filter_mels));
  for (uint32_t i = 0; i < g->n_filters; i++) {
    g->filter_mels[i] = take_u32(&p, end);
    memcpy(&g->filter_hash[i], take(&p, end, 8), 8);
  }
  for (uint32_t i = 0; i < g->n_cases; i++) {
    golden_case *c = &g->cases[i];
    c->kind = take_u32(&p, end);
    c->n_mels = take_u32(&p, end);
    c->n_samples = take_u32(&p, end);
    c->n_frames = take_u32(&p, end);
    c->first = take_u32(&p, end);
    c->n_stored = take_u32(&p, end);
    g_assert_cmpuint((uint64_t)c->first + c->n_stored, <=, c->n_frames);
    c->frames = (const float *)take(&p, end, (size_t)c->n_stored * c->n_mels * 4);
    c->sums = (const double *)take(&p, end, (size_t)c->n_frames * 8);
  }
  g_assert_true(p == end);
  return TRUE;
}

static void
test_filters_golden(void)
{
  golden g;
  golden_load(&g);
  g_assert_cmpuint(g.n_filters, ==, 2);
  for (uint32_t i = 0; i < g.n_filters; i++) {
    int nm = (int)g.filter_mels[i];
    float *f = g_new(float, (size_t)nm * AUD_MEL_N_BINS);
    g_assert_cmpint(aud_mel_filters_compute(nm, f), ==, 0);
    /* bit-exact, -0.0 at [0][0] included */
    g_assert_cmphex(fnv1a64(f, (size_t)nm * AUD_MEL_N_BINS * sizeof(float)), ==, g.filter_hash[i]);
    g_free(f);
  }
  g_assert_cmpint(aud_mel_filters_compute(0, NULL), ==, KERN_E_INVAL);
  g_mapped_file_unref(g.map);
}

static double
compare_frames(const golden_case *c, const float *mel, uint32_t n_mels, double *sum_diff)
{
  double md = 0;
  for (uint32_t t = 0; t < c->n_stored; t++)
    for (uint32_t i = 0; i < n_mels; i++) {
      float r;
      memcpy(&r, c->frames + ((size_t)t * n_mels + i), 4);
      double d = fabs((double)r - mel[(size_t)(c->first + t) * n_mels + i]);
      md = d > md ? d : md;
    }
  double sd = 0;
  for (uint32_t t = 0; t < c->n_frames; t++) {
    double r, s = 0;
    memcpy(&r, c->sums + t, 8);
    for (uint32_t i = 0; i < n_mels; i++)
      s += mel[(size_t)t * n_mels + i];
    sd = fabs(s - r) > sd ? fabs(s - r) : sd;
  }
  *sum_diff = sd;
  return md;
}

static void
test_mel_golden(void)
{
  golden g;
  golden_load(&g);
  float *x = make_signal(30 * SR);
  double sum = 0;
  for (size_t i = 0; i < 30 * SR; i++)
    sum += x[i];
  g_assert_cmpfloat(fabs(sum - g.signal_sum), <=, 1e-9);

  double worst = 0;
  for (uint32_t ci = 0; ci < g.n_cases; ci++) {
    const golden_case *c = &g.cases[ci];
    g_assert_cmpuint(c->n_samples, <=, 30 * SR);
    char *err = NULL;
    aud_mel *m = aud_mel_new((int)c->n_mels, NULL, &err);
    if (!m)
      g_error("%s", err);
    float *mel = g_new(float, (size_t)c->n_frames * c->n_mels);
    size_t nf = 0;
    if (c->kind == 0) {
      g_assert_cmpint(aud_mel_compute(m, x, c->n_samples, mel, c->n_frames, &nf), ==, 0);
      g_assert_cmpuint(nf, ==, c->n_frames);
    } else {
      g_assert_cmpuint(c->n_frames, ==, AUD_MEL_CHUNK_FRAMES);
      g_assert_cmpint(aud_mel_compute_window(m, x, c->n_samples, 0, AUD_MEL_PAD_REFERENCE, mel, &nf), ==, 0);
      g_assert_cmpuint(nf, ==, c->n_samples / AUD_MEL_HOP);
    }
    double sd;
    double md = compare_frames(c, mel, c->n_mels, &sd);
    g_test_message("case %u (kind %u, %u mels, %u samples): max |diff| %.3g over %u stored frames, "
                   "max frame-sum diff %.3g",
                   ci, c->kind, c->n_mels, c->n_samples, md, c->n_stored, sd);
    g_assert_cmpfloat(md, <=, MEL_TOL);
    g_assert_cmpfloat(sd, <=, MEL_TOL * c->n_mels);
    worst = md > worst ? md : worst;
    g_free(mel);
    aud_mel_free(m);
  }
  g_test_message("log-mel vs openai-whisper: max |diff| %.3g (tolerance %g)", worst, MEL_TOL);
  g_free(x);
  g_mapped_file_unref(g.map);
}

/* ---- windows, edges, file filterbank, speed ---------------------------------- */

/* A window of a long file equals the matching slice of the whole-file log
 * mel, normalised with the window's own max. */
static void
test_mel_window(void)
{
  const size_t n = 40 * SR + 123;
  float *x = make_signal(n < 30 * SR ? n : 30 * SR);
  float *y = g_new(float, n);
  for (size_t i = 0; i < n; i++)
    y[i] = x[i % (30 * SR)];
  aud_mel *m = aud_mel_new(80, NULL, NULL);
  g_assert_nonnull(m);
  const size_t nm = 80, content = n / AUD_MEL_HOP;
  g_assert_cmpuint(aud_mel_n_frames(n), ==, content);
  size_t total = aud_mel_n_frames(n + AUD_MEL_CHUNK_SAMPLES);
  float *whole = g_new(float, total * nm);
  float gmx;
  g_assert_cmpint(aud_mel_compute_log(m, y, n, AUD_MEL_CHUNK_SAMPLES, 0, total, whole, &gmx), ==, 0);
  float *win = g_new(float, AUD_MEL_CHUNK_FRAMES * nm);

  static const size_t offsets[] = { 0, 1000, 3000, 3999, 4001, 100000 };
  for (size_t oi = 0; oi < G_N_ELEMENTS(offsets); oi++) {
    size_t off = offsets[oi], nc = 99;
    g_assert_cmpint(aud_mel_compute_window(m, y, n, off, AUD_MEL_PAD_REFERENCE, win, &nc), ==, 0);
    size_t want = off < content ? MIN(content - off, AUD_MEL_CHUNK_FRAMES) : 0;
    g_assert_cmpuint(nc, ==, want);
    float mx = -INFINITY;
    for (size_t i = 0; i < nc * nm; i++)
      mx = MAX(mx, whole[off * nm + i]);
    for (size_t t = 0; t < AUD_MEL_CHUNK_FRAMES; t++)
      for (size_t i = 0; i < nm; i++) {
        float e = 0.0f;
        if (t < nc) {
          e = whole[(off + t) * nm + i];
          aud_mel_normalize(&e, 1, mx);
        }
        if (win[t * nm + i] != e)
          g_error("window at %zu, frame %zu, mel %zu: %.9g, expected %.9g", off, t, i, win[t * nm + i], e);
      }

    /* SILENCE: all 3000 frames of the whole-file log mel, max over all of them. */
    float *sil = g_new(float, AUD_MEL_CHUNK_FRAMES * nm);
    g_assert_cmpint(aud_mel_compute_window(m, y, n, off, AUD_MEL_PAD_SILENCE, sil, &nc), ==, 0);
    g_assert_cmpuint(nc, ==, want);
    if (off + AUD_MEL_CHUNK_FRAMES <= total) {
      float smx = -INFINITY;
      for (size_t i = 0; i < AUD_MEL_CHUNK_FRAMES * nm; i++)
        smx = MAX(smx, whole[off * nm + i]);
      for (size_t i = 0; i < AUD_MEL_CHUNK_FRAMES * nm; i++) {
        float e = whole[off * nm + i];
        aud_mel_normalize(&e, 1, smx);
        g_assert_cmpfloat(sil[i], ==, e);
      }
    }
    /* frames wholly past the audio are silence: the window's lowest value */
    size_t t_silent = 0;
    while ((off + t_silent) * AUD_MEL_HOP < n + AUD_MEL_N_FFT / 2)
      t_silent++;
    float lowest = INFINITY;
    for (size_t i = 0; i < AUD_MEL_CHUNK_FRAMES * nm; i++)
      lowest = MIN(lowest, sil[i]);
    for (size_t i = t_silent * nm; i < AUD_MEL_CHUNK_FRAMES * nm; i++)
      g_assert_cmpfloat(sil[i], ==, lowest);
    if (off >= content + 2)
      g_assert_cmpfloat(lowest, ==, -1.5f);
    g_free(sil);
  }
  g_free(win);
  g_free(whole);
  g_free(x);
  g_free(y);
  aud_mel_free(m);
}

static void
test_mel_edges(void)
{
  aud_mel *m = aud_mel_new(80, NULL, NULL);
  g_assert_nonnull(m);
  float out[4 * 80];
  size_t nf = 99;
  g_assert_cmpint(aud_mel_compute(m, NULL, 0, out, 0, &nf), ==, 0);
  g_assert_cmpuint(nf, ==, 0);
  float x[700];
  for (int i = 0; i < 700; i++)
    x[i] = (float)sin(i * 0.3) * 0.1f;
  g_assert_cmpint(aud_mel_compute(m, x, 159, out, 4, &nf), ==, 0);
  g_assert_cmpuint(nf, ==, 0);
  /* shorter than the reflect padding: mirrored repeatedly, still finite */
  for (size_t n = 160; n <= 700; n += 90) {
    g_assert_cmpint(aud_mel_compute(m, x, n, out, 4, &nf), ==, 0);
    g_assert_cmpuint(nf, ==, n / 160);
    for (size_t i = 0; i < nf * 80; i++)
      g_assert_true(isfinite(out[i]));
  }
  /* output too small */
  g_assert_cmpint(aud_mel_compute(m, x, 700, out, 3, &nf), ==, KERN_E_INVAL);
  g_assert_cmpuint(nf, ==, 4);
  g_assert_nonnull(strstr(aud_mel_errmsg(m), "do not fit"));
  g_assert_cmpint(aud_mel_compute(m, NULL, 700, out, 4, &nf), ==, KERN_E_INVAL);
  /* frames past the signal */
  g_assert_cmpint(aud_mel_compute_log(m, x, 700, 0, 3, 2, out, NULL), ==, KERN_E_INVAL);
  g_assert_cmpint(aud_mel_compute_window(m, x, 700, 0, (aud_mel_pad)7, out, NULL), ==, KERN_E_INVAL);
  /* silence: log10(1e-10) everywhere, normalised to -1.5 */
  float z[1600] = { 0 };
  g_assert_cmpint(aud_mel_compute(m, z, 1600, out, 4, &nf), ==, KERN_E_INVAL);
  float big[10 * 80];
  g_assert_cmpint(aud_mel_compute(m, z, 1600, big, 10, &nf), ==, 0);
  for (size_t i = 0; i < 10 * 80; i++)
    g_assert_cmpfloat(big[i], ==, -1.5f);
  aud_mel_free(m);

  char *err = NULL;
  g_assert_null(aud_mel_new(0, NULL, &err));
  g_assert_nonnull(strstr(err, "mel bins"));
  free(err);
  aud_mel_free(NULL);
}

static void
test_mel_from_file(void)
{
  char *path = shared_file("for-tests-ggml-base.bin");
  if (!path)
    return;
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w)
    g_error("%s", err);
  aud_mel *m = aud_mel_new_from_weights(w, 0, &err);
  g_assert_nonnull(m);
  g_assert_cmpint(aud_mel_n_mels(m), ==, 80);
  g_assert_true(aud_mel_filters_from_file(m));
  float *f = g_new(float, 80 * AUD_MEL_N_BINS);
  aud_mel_filters_compute(80, f);
  /* the file's filterbank is openai-whisper's; only the sign of the zero at [0][0] differs */
  for (size_t i = 0; i < 80 * AUD_MEL_N_BINS; i++)
    g_assert_cmpfloat(aud_mel_filters(m)[i], ==, f[i]);
  g_free(f);
  aud_mel_free(m);
  /* asking for 128 bins: the file's 80 do not fit, so they are computed */
  m = aud_mel_new_from_weights(w, 128, &err);
  g_assert_nonnull(m);
  g_assert_false(aud_mel_filters_from_file(m));
  aud_mel_free(m);
  kern_weights_close(w);
  g_free(path);
}

static double
thread_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
test_mel_speed(void)
{
  float *x = make_signal(30 * SR);
  static const int mels[] = { 80, 128 };
  for (size_t k = 0; k < G_N_ELEMENTS(mels); k++) {
    aud_mel *m = aud_mel_new(mels[k], NULL, NULL);
    float *out = g_new(float, AUD_MEL_CHUNK_FRAMES * (size_t)mels[k]);
    size_t nf;
    double best = 1e9;
    for (int rep = 0; rep < 20; rep++) {
      double t0 = thread_ms();
      g_assert_cmpint(aud_mel_compute(m, x, 30 * SR, out, AUD_MEL_CHUNK_FRAMES, &nf), ==, 0);
      double ms = thread_ms() - t0;
      best = ms < best ? ms : best;
    }
    g_test_message("log-mel of 30 s, %d mels, one thread: %.2f ms (thread CPU time, best of 20)", mels[k], best);
    g_free(out);
    aud_mel_free(m);
  }
  g_free(x);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/audio/mel/fft/complex", test_fft_complex);
  g_test_add_func("/audio/mel/fft/real", test_fft_real);
  g_test_add_func("/audio/mel/filters/golden", test_filters_golden);
  g_test_add_func("/audio/mel/golden", test_mel_golden);
  g_test_add_func("/audio/mel/window", test_mel_window);
  g_test_add_func("/audio/mel/edges", test_mel_edges);
  g_test_add_func("/audio/mel/filters/from-file", test_mel_from_file);
  g_test_add_func("/audio/mel/speed", test_mel_speed);
  return g_test_run();
}
