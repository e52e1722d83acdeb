/* test-audio-decode.c: the resampler's quality, and file decoding of every
 * format in tests/data/audio against the 16 kHz WAV original.
 *
 * Fixtures come from tests/reference/make-audio-fixtures.sh: the same 0.4 s
 * sweep (250 -> 3300 Hz, -6 dBFS, 50 ms silence either side) in each format.
 * Damaged variants (cut at many lengths, garbage mid-stream) are made at run
 * time in a temporary folder.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "aud-decode.h"
#include "aud-resample.h"
#include "aud.h"

#define REF_FILE "sig-16k-mono-s16.wav"
#define SIG_SECONDS 0.4

/* ---- helpers ------------------------------------------------------------ */

static char *
fixture(const char *name)
{
  return g_test_build_filename(G_TEST_DIST, "data", "audio", name, NULL);
}

static double
db(double ratio)
{
  return 20.0 * log10(ratio > 1e-30 ? ratio : 1e-30);
}

/* Resample all of `in` (interleaved, `ch` channels) in pseudo-random chunk
 * sizes (0 = one call), then flush. Returns a new array of *n_out frames. */
static float *
resample_all(aud_resampler *r, const float *in, size_t n_in, int ch, int chunk_max,
             GRand *rng, size_t *n_out)
{
  int oc = aud_resampler_out_channels(r);
  size_t cap = 1024, len = 0, pos = 0;
  float *out = g_new(float, cap * (size_t)oc);
  for (;;) {
    size_t want_in = n_in - pos, want_out = 4096;
    if (chunk_max > 0) {
      size_t a = (size_t)g_rand_int_range(rng, 0, chunk_max + 1); /* MIN() evaluates twice */
      want_in = MIN(want_in, a);
      want_out = (size_t)g_rand_int_range(rng, 1, chunk_max + 2);
    }
    if (len + want_out > cap) {
      cap = MAX(cap * 2, len + want_out);
      out = g_renew(float, out, cap * (size_t)oc);
    }
    size_t used = 0, made = 0;
    if (pos < n_in || want_in > 0) {
      g_assert_cmpint(aud_resampler_process(r, in + pos * (size_t)ch, want_in, &used,
                                            out + len * (size_t)oc, want_out, &made),
                      ==, 0);
      pos += used;
      len += made;
      if (pos < n_in || made > 0)
        continue;
    }
    if (pos < n_in)
      continue;
    g_assert_cmpint(aud_resampler_flush(r, out + len * (size_t)oc, want_out, &made), ==, 0);
    len += made;
    if (made == 0)
      break;
  }
  *n_out = len;
  return out;
}

/* Least-squares fit of a*cos + b*sin at w rad/sample over x[from, to);
 * returns the amplitude, and the RMS of what the fit leaves in *resid. */
static double
fit_tone(const float *x, size_t from, size_t to, double w, double *resid)
{
  double cc = 0, ss = 0, cs = 0, xc = 0, xs = 0;
  for (size_t n = from; n < to; n++) {
    double c = cos(w * n), s = sin(w * n);
    cc += c * c;
    ss += s * s;
    cs += c * s;
    xc += x[n] * c;
    xs += x[n] * s;
  }
  double det = cc * ss - cs * cs;
  double a = (xc * ss - xs * cs) / det, b = (xs * cc - xc * cs) / det;
  double e2 = 0;
  for (size_t n = from; n < to; n++) {
    double e = x[n] - (a * cos(w * n) + b * sin(w * n));
    e2 += e * e;
  }
  if (resid)
    *resid = sqrt(e2 / (double)(to - from));
  return sqrt(a * a + b * b);
}

static double
rms(const float *x, size_t n)
{
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return n ? sqrt(s / (double)n) : 0.0;
}

/* ---- resampler ------------------------------------------------------------ */

typedef struct {
  const char *name;
  double in, out;
} ratio_case;

static const ratio_case ratios[] = {
  {"8000-16000", 8000, 16000},    {"11025-16000", 11025, 16000},
  {"22050-16000", 22050, 16000},  {"32000-16000", 32000, 16000},
  {"44100-16000", 44100, 16000},  {"48000-16000", 48000, 16000},
  {"96000-16000", 96000, 16000},  {"16000-16000", 16000, 16000},
  {"16000-48000", 16000, 48000},  {"44100-16001", 44100, 16001},
  {"48000-15999.5", 48000, 15999.5},
};

/* Passband: tones up to 0.9 of the lower Nyquist keep their level, and what
 * the fit leaves (aliases, images, noise) is 80 dB down. Stopband: tones
 * above the output Nyquist vanish by >= 80 dB. */
static void
test_resample_quality(gconstpointer data)
{
  const ratio_case *rc = data;
  const double amp = 0.5;
  size_t n_in = (size_t)rc->in; /* one second */
  float *x = g_new(float, n_in);
  double lower_nyq = 0.5 * MIN(rc->in, rc->out);
  double ripple = 0, worst_resid = -400, worst_stop = -400;
  bool pass = rc->in == rc->out;

  for (int k = 1; k <= 19; k++) {
    double f = lower_nyq * (k <= 18 ? 0.05 * k : 0.9);
    if (k == 18)
      f = lower_nyq * 0.883; /* off-grid */
    for (size_t n = 0; n < n_in; n++)
      x[n] = (float)(amp * sin(2 * M_PI * f * n / rc->in + 0.3));
    aud_resampler *r = aud_resampler_new(rc->in, rc->out, 1, true, NULL);
    g_assert_nonnull(r);
    size_t n_out;
    float *y = resample_all(r, x, n_in, 1, 0, NULL, &n_out);
    double resid;
    double a = fit_tone(y, n_out / 10, n_out - n_out / 10, 2 * M_PI * f / rc->out, &resid);
    ripple = MAX(ripple, fabs(db(a / amp)));
    worst_resid = MAX(worst_resid, db(resid / (amp / sqrt(2))));
    g_free(y);
    aud_resampler_free(r);
  }
  g_test_message("%s: passband ripple %.5f dB, residual %.1f dB", rc->name, ripple, worst_resid);
  g_assert_cmpfloat(ripple, <, pass ? 1e-6 : 0.01);
  g_assert_cmpfloat(worst_resid, <, -80.0);

  if (rc->in > rc->out) {
    /* Tones from the output Nyquist to near the input Nyquist. */
    double out_nyq = 0.5 * rc->out, in_nyq = 0.5 * rc->in;
    for (int k = 0; k <= 24; k++) {
      double f = out_nyq + (0.98 * in_nyq - out_nyq) * k / 24.0;
      for (size_t n = 0; n < n_in; n++)
        x[n] = (float)(amp * sin(2 * M_PI * f * n / rc->in + 0.3));
      aud_resampler *r = aud_resampler_new(rc->in, rc->out, 1, true, NULL);
      size_t n_out;
      float *y = resample_all(r, x, n_in, 1, 0, NULL, &n_out);
      double lvl = rms(y + n_out / 10, n_out - n_out / 5);
      worst_stop = MAX(worst_stop, db(lvl / (amp / sqrt(2))));
      g_free(y);
      aud_resampler_free(r);
    }
    g_test_message("%s: stopband (tones above the output Nyquist) %.1f dB", rc->name,
                   worst_stop);
    g_assert_cmpfloat(worst_stop, <, -80.0);
  } else if (rc->in < rc->out) {
    /* A tone in the transition band: its image lies in the stopband. */
    double f = 0.95 * 0.5 * rc->in;
    for (size_t n = 0; n < n_in; n++)
      x[n] = (float)(amp * sin(2 * M_PI * f * n / rc->in + 0.3));
    aud_resampler *r = aud_resampler_new(rc->in, rc->out, 1, true, NULL);
    size_t n_out;
    float *y = resample_all(r, x, n_in, 1, 0, NULL, &n_out);
    double resid;
    fit_tone(y, n_out / 10, n_out - n_out / 10, 2 * M_PI * f / rc->out, &resid);
    worst_stop = db(resid / (amp / sqrt(2)));
    g_test_message("%s: image of a %.0f Hz tone %.1f dB", rc->name, f, worst_stop);
    g_assert_cmpfloat(worst_stop, <, -80.0);
    g_free(y);
    aud_resampler_free(r);
  }
  g_free(x);
}

/* n_out == ceil(n_in * out / in) after flush, whatever the chunking, and the
 * chunking does not change a single bit of the output. */
static void
test_resample_length(gconstpointer data)
{
  const ratio_case *rc = data;
  GRand *rng = g_rand_new_with_seed(1234);
  const size_t lens[] = {0, 1, 2, 3, 7, 100, 441, 1000, 4099, 12345, 48001};
  for (guint li = 0; li < G_N_ELEMENTS(lens); li++) {
    size_t n_in = lens[li];
    float *x = g_new(float, n_in * 2 + 1);
    for (size_t i = 0; i < n_in * 2; i++)
      x[i] = (float)g_rand_double_range(rng, -1, 1);
    aud_resampler *r = aud_resampler_new(rc->in, rc->out, 2, true, NULL);
    g_assert_nonnull(r);
    long long up, down;
    aud_resampler_ratio(r, &up, &down);
    size_t n_a, n_b;
    float *a = resample_all(r, x, n_in, 2, 0, rng, &n_a);
    aud_resampler_reset(r);
    float *b = resample_all(r, x, n_in, 2, li % 2 ? 37 : 5000, rng, &n_b);
    long long expect = ((long long)n_in * up + down - 1) / down;
    g_assert_cmpint((long long)n_a, ==, expect);
    g_assert_cmpint(n_a, ==, n_b);
    g_assert_cmpfloat(fabs((double)n_a - round(n_in * rc->out / rc->in)), <=, 1.0);
    g_assert_true(n_a == 0 || memcmp(a, b, n_a * sizeof(float)) == 0);
    g_free(a);
    g_free(b);
    aud_resampler_free(r);
    g_free(x);
  }
  g_rand_free(rng);
}

/* A click at input frame n0 peaks at output frame n0 * out / in (+-1), and
 * stereo in with mixdown off keeps the channels apart. */
static void
test_resample_click(gconstpointer data)
{
  const ratio_case *rc = data;
  size_t n_in = (size_t)rc->in;
  const size_t clicks[] = {(size_t)(rc->in / 2) + 3, (size_t)(rc->in / 4), 5};
  for (guint ci = 0; ci < G_N_ELEMENTS(clicks); ci++) {
    size_t n0 = clicks[ci];
    float *x = g_new0(float, n_in * 2);
    x[n0 * 2] = 1.0f;         /* left */
    x[(n0 + 100) * 2 + 1] = -1.0f; /* right, 100 frames later */
    aud_resampler *r = aud_resampler_new(rc->in, rc->out, 2, false, NULL);
    g_assert_cmpint(aud_resampler_out_channels(r), ==, 2);
    size_t n_out;
    float *y = resample_all(r, x, n_in, 2, 0, NULL, &n_out);
    for (int c = 0; c < 2; c++) {
      size_t best = 0;
      for (size_t k = 0; k < n_out; k++)
        if (fabsf(y[k * 2 + c]) > fabsf(y[best * 2 + c]))
          best = k;
      double t = (double)(c ? n0 + 100 : n0) * rc->out / rc->in;
      g_assert_cmpfloat(fabs((double)best - t), <=, 1.0);
      g_assert_cmpfloat(c ? -y[best * 2 + c] : y[best * 2 + c], >, 0.0);
    }
    g_free(y);
    aud_resampler_free(r);
    g_free(x);
  }
}

static void
test_resample_mixdown(void)
{
  /* Mixdown is the mean: L = s, R = -s/2 -> s/4. Pass-through keeps bits. */
  float x[200 * 3];
  for (int i = 0; i < 200; i++) {
    float s = sinf(0.05f * i);
    x[i * 3] = s;
    x[i * 3 + 1] = -s / 2;
    x[i * 3 + 2] = s / 2;
  }
  aud_resampler *r = aud_resampler_new(16000, 16000, 3, true, NULL);
  g_assert_cmpint(aud_resampler_taps(r), ==, 0);
  size_t n;
  float *y = resample_all(r, x, 200, 3, 0, NULL, &n);
  g_assert_cmpint(n, ==, 200);
  for (int i = 0; i < 200; i++)
    g_assert_cmpfloat(fabsf(y[i] - (x[i * 3] / 3)), <, 1e-6f);
  g_free(y);
  aud_resampler_free(r);
}

static void
test_resample_errors(void)
{
  char *err = NULL;
  g_assert_null(aud_resampler_new(0, 16000, 1, true, &err));
  g_assert_nonnull(err);
  g_free(err);
  g_assert_null(aud_resampler_new(44100, 100, 1, true, &err)); /* 441:1 */
  g_assert_nonnull(strstr(err, "ratio"));
  g_free(err);
  g_assert_null(aud_resampler_new(44100, 16000, 0, true, &err));
  g_free(err);
  g_assert_null(aud_resampler_new(NAN, 16000, 1, true, NULL));

  aud_resampler *r = aud_resampler_new(44100, 16000, 1, true, NULL);
  float in[10] = {0}, out[10];
  size_t used, made;
  g_assert_cmpint(aud_resampler_process(r, NULL, 10, &used, out, 10, &made), ==, KERN_E_INVAL);
  g_assert_cmpint(aud_resampler_flush(r, out, 10, &made), ==, 0);
  g_assert_cmpint(aud_resampler_process(r, in, 10, &used, out, 10, &made), ==, KERN_E_INVAL);
  aud_resampler_reset(r);
  g_assert_cmpint(aud_resampler_process(r, in, 10, &used, out, 10, &made), ==, 0);
  g_assert_cmpint(used, ==, 10);
  aud_resampler_free(r);
  aud_resampler_free(NULL);
}

static void
test_resample_speed(void)
{
  struct {
    double in, out;
    int ch;
  } cases[] = {{44100, 16000, 2}, {48000, 16000, 1}, {22050, 16000, 1}, {8000, 16000, 1}};
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    double seconds = 20;
    size_t n_in = (size_t)(cases[i].in * seconds);
    float *x = g_new(float, n_in * (size_t)cases[i].ch);
    for (size_t k = 0; k < n_in * (size_t)cases[i].ch; k++)
      x[k] = (float)sin(0.001 * k);
    aud_resampler *r = aud_resampler_new(cases[i].in, cases[i].out, cases[i].ch, true, NULL);
    float *y = g_new(float, (size_t)(cases[i].out * seconds) + 4096);
    GTimer *t = g_timer_new();
    size_t pos = 0, len = 0, used, made;
    while (pos < n_in) {
      aud_resampler_process(r, x + pos * (size_t)cases[i].ch, MIN(4096, n_in - pos), &used,
                            y + len, 4096, &made);
      pos += used;
      len += made;
    }
    do {
      aud_resampler_flush(r, y + len, 4096, &made);
      len += made;
    } while (made);
    double el = g_timer_elapsed(t, NULL);
    g_test_message("resample %.0f -> %.0f Hz, %d ch: %d taps, %.0fx realtime", cases[i].in,
                   cases[i].out, cases[i].ch, aud_resampler_taps(r), seconds / el);
    g_timer_destroy(t);
    aud_resampler_free(r);
    g_free(x);
    g_free(y);
  }
}

/* ---- decoding ------------------------------------------------------------- */

typedef struct {
  float *x;       /* (n, channels) */
  size_t n;
  int channels;
  char backend[16];
  char *warning;
  double duration, position;
} decoded;

static void
decoded_clear(decoded *d)
{
  g_free(d->x);
  g_free(d->warning);
  memset(d, 0, sizeof *d);
}

/* Decode through the pull API in reads of `chunk` frames. */
static int
decode_with(const char *path, const aud_decode_params *p, size_t chunk, decoded *out,
            char **err)
{
  memset(out, 0, sizeof *out);
  aud_decoder *d = aud_decoder_open(path, p, err);
  if (!d)
    return -1;
  out->channels = aud_decoder_channels(d);
  g_strlcpy(out->backend, aud_decoder_backend(d), sizeof out->backend);
  out->duration = aud_decoder_duration(d);
  size_t cap = 0;
  int ret;
  for (;;) {
    if (out->n + chunk > cap) {
      cap = MAX(cap * 2, out->n + chunk);
      out->x = g_renew(float, out->x, cap * (size_t)out->channels);
    }
    size_t got = 0;
    ret = aud_decoder_read(d, out->x + out->n * (size_t)out->channels, chunk, &got);
    if (ret < 0) {
      if (err)
        *err = g_strdup(aud_decoder_errmsg(d));
      break;
    }
    g_assert_cmpint(got, <=, chunk);
    if (got == 0)
      break;
    out->n += got;
  }
  out->position = aud_decoder_position(d);
  out->warning = g_strdup(aud_decoder_warning(d));
  if (ret == 0) {
    size_t got = 1;
    g_assert_cmpint(aud_decoder_read(d, out->x, chunk, &got), ==, 0); /* stays at EOF */
    g_assert_cmpint(got, ==, 0);
  }
  aud_decoder_close(d);
  return ret;
}

static const float *
reference(size_t *n)
{
  static decoded ref;
  if (!ref.x) {
    char *path = fixture(REF_FILE);
    g_assert_cmpint(decode_with(path, NULL, 4096, &ref, NULL), ==, 0);
    g_assert_cmpint(ref.n, ==, 6400);
    g_free(path);
  }
  *n = ref.n;
  return ref.x;
}

/* Best lag (x against ref, within +-max_lag) and the normalized correlation. */
static double
best_correlation(const float *x, size_t nx, const float *r, size_t nr, int max_lag, int *lag)
{
  double best = -2;
  for (int l = -max_lag; l <= max_lag; l++) {
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i < nr; i++) {
      long j = (long)i + l;
      if (j < 0 || j >= (long)nx)
        continue;
      xy += (double)x[j] * r[i];
      xx += (double)x[j] * x[j];
      yy += (double)r[i] * r[i];
    }
    double c = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
    if (c > best) {
      best = c;
      *lag = l;
    }
  }
  return best;
}

typedef enum { EXACT, RESAMPLED, LOSSY } fidelity;

typedef struct {
  const char *name, *file, *backend;
  fidelity fid;
} format_case;

static const format_case formats[] = {
  {"wav-16k-mono-s16", "sig-16k-mono-s16.wav", "libsndfile", EXACT},
  {"wav-16k-stereo-f32", "sig-16k-stereo-f32.wav", "libsndfile", EXACT},
  {"wav-8k-mono-s16", "sig-8k-mono-s16.wav", "libsndfile", RESAMPLED},
  {"wav-44k-stereo-s16", "sig-44k-stereo-s16.wav", "libsndfile", RESAMPLED},
  {"wav-48k-mono-f32", "sig-48k-mono-f32.wav", "libsndfile", RESAMPLED},
  {"aiff-11k", "sig-11k-mono.aiff", "libsndfile", RESAMPLED},
  {"flac-22k", "sig-22k-mono.flac", "ffmpeg", RESAMPLED},
  {"ogg-vorbis", "sig-44k-stereo.ogg", "ffmpeg", LOSSY},
  {"opus", "sig-48k-mono.opus", "ffmpeg", LOSSY},
  {"mp3", "sig-44k-stereo.mp3", "ffmpeg", LOSSY},
  {"m4a-aac", "sig-44k-mono.m4a", "ffmpeg", LOSSY},
  {"webm", "sig-48k-mono.webm", "ffmpeg", LOSSY},
  {"mp4-video", "sig-video.mp4", "ffmpeg", LOSSY},
  {"mkv-video", "sig-video.mkv", "ffmpeg", LOSSY},
};

/* The decode matches the 16 kHz original: bit-exact-ish for PCM at 16 kHz,
 * > 50 dB SNR through the resampler, correlation > 0.9 and level within
 * 3 dB for lossy codecs; length and reported duration within 50 ms. */
static void
check_against_reference(const char *name, const decoded *dd, fidelity fid)
{
  size_t nr;
  const float *r = reference(&nr);
  double secs = (double)dd->n / 16000.0;
  g_assert_cmpint(dd->channels, ==, 1);
  g_assert_cmpfloat(fabs(secs - SIG_SECONDS), <, 0.05);
  g_assert_cmpfloat(fabs(dd->position - secs), <, 1e-9);
  if (dd->duration >= 0)
    g_assert_cmpfloat(fabs(dd->duration - SIG_SECONDS), <, 0.05);
  g_assert_null(dd->warning);

  if (fid == EXACT || fid == RESAMPLED) {
    g_assert_cmpint(dd->n, ==, nr);
    double e2 = 0, maxe = 0;
    for (size_t i = 0; i < nr; i++) {
      double e = dd->x[i] - r[i];
      e2 += e * e;
      maxe = MAX(maxe, fabs(e));
    }
    double snr = db(rms(r, nr) / sqrt(e2 / nr + 1e-30));
    g_test_message("%s: SNR %.1f dB, max error %.2e", name, snr, maxe);
    if (fid == EXACT)
      g_assert_cmpfloat(maxe, <, 1e-4); /* s16 vs float rounding */
    else
      g_assert_cmpfloat(snr, >, 50.0);
  } else {
    int lag = 0;
    double c = best_correlation(dd->x, dd->n, r, nr, 800, &lag);
    double lvl = db(rms(dd->x, dd->n) / rms(r, nr));
    g_test_message("%s: correlation %.4f at lag %d samples, level %+.2f dB", name, c, lag, lvl);
    g_assert_cmpfloat(c, >, 0.9);
    g_assert_cmpint(abs(lag), <=, 800);
    g_assert_cmpfloat(fabs(lvl), <, 3.0);
  }
}

static void
test_decode_format(gconstpointer data)
{
  const format_case *fc = data;
  char *path = fixture(fc->file);
  decoded dd;
  char *err = NULL;
  int ret = decode_with(path, NULL, 1000, &dd, &err);
  if (ret != 0)
    g_error("%s: %s", fc->name, err);
  g_assert_cmpstr(dd.backend, ==, fc->backend);
  check_against_reference(fc->name, &dd, fc->fid);

  /* The other backend, where it reads the file too, gives the same signal. */
  aud_decode_params p = aud_decode_default_params();
  p.backend = strcmp(fc->backend, "ffmpeg") == 0 ? AUD_DECODE_SNDFILE : AUD_DECODE_FFMPEG;
  decoded other;
  char *err2 = NULL;
  if (decode_with(path, &p, 3333, &other, &err2) == 0) {
    g_assert_cmpstr(other.backend, !=, dd.backend);
    check_against_reference(fc->name, &other, fc->fid);
  } else {
    g_test_message("%s: other backend: %s", fc->name, err2);
  }
  g_free(err2);
  decoded_clear(&other);

  /* Same bits when read one frame at a time. */
  decoded one;
  g_assert_cmpint(decode_with(path, NULL, 1, &one, NULL), ==, 0);
  g_assert_cmpint(one.n, ==, dd.n);
  g_assert_true(memcmp(one.x, dd.x, dd.n * sizeof(float)) == 0);
  decoded_clear(&one);

  decoded_clear(&dd);
  g_free(path);
}

static void
test_decode_keep_channels(void)
{
  char *path = fixture("sig-44k-stereo-s16.wav");
  aud_decode_params p = aud_decode_default_params();
  p.mono = false;
  for (int b = AUD_DECODE_SNDFILE; b <= AUD_DECODE_FFMPEG; b++) {
    p.backend = b;
    decoded dd;
    g_assert_cmpint(decode_with(path, &p, 777, &dd, NULL), ==, 0);
    g_assert_cmpint(dd.channels, ==, 2);
    size_t nr;
    const float *r = reference(&nr);
    g_assert_cmpint(dd.n, ==, nr);
    for (int c = 0; c < 2; c++) {
      double e2 = 0;
      for (size_t i = 0; i < nr; i++)
        e2 += pow(dd.x[i * 2 + c] - r[i], 2);
      g_assert_cmpfloat(db(rms(r, nr) / sqrt(e2 / nr)), >, 50.0);
    }
    decoded_clear(&dd);
  }
  g_free(path);
}

static void
test_decode_source_rate(void)
{
  /* sample_rate 0: the source's samples, untouched. */
  char *path = fixture("sig-44k-stereo-s16.wav");
  aud_decode_params p = aud_decode_default_params();
  p.sample_rate = 0;
  aud_decoder *d = aud_decoder_open(path, &p, NULL);
  g_assert_nonnull(d);
  g_assert_cmpint(aud_decoder_sample_rate(d), ==, 44100);
  g_assert_cmpint(aud_decoder_source_rate(d), ==, 44100);
  g_assert_cmpint(aud_decoder_source_channels(d), ==, 2);
  g_assert_cmpstr(aud_decoder_codec(d), !=, "");
  aud_decoder_close(d);
  size_t n;
  float *x = aud_decode_file(path, 0, &n, NULL);
  g_assert_cmpint(n, ==, 17640);
  g_free(x);

  /* Other output rates: exact lengths. */
  const int rates[] = {8000, 16000, 22050, 44100, 48000};
  for (guint i = 0; i < G_N_ELEMENTS(rates); i++) {
    x = aud_decode_file(path, rates[i], &n, NULL);
    g_assert_nonnull(x);
    g_assert_cmpint(n, ==, (17640LL * rates[i] + 44099) / 44100);
    g_free(x);
  }
  g_free(path);
}

/* The audio of this video starts 0.2 s after the picture: the decode starts
 * with that much silence (within 10 ms: Opus's look-ahead and Matroska's
 * millisecond timestamps). */
static void
test_decode_late_audio(void)
{
  char *path = fixture("late-audio.mkv");
  decoded dd;
  g_assert_cmpint(decode_with(path, NULL, 1000, &dd, NULL), ==, 0);
  size_t nr;
  const float *r = reference(&nr);
  int lag = 0;
  double c = best_correlation(dd.x, dd.n, r, nr, 4000, &lag);
  g_test_message("late-audio: %.3f s, signal at %+.1f ms (correlation %.3f)", dd.n / 16000.0,
                 lag / 16.0, c);
  g_assert_cmpfloat(c, >, 0.9);
  g_assert_cmpfloat(fabs(lag / 16000.0 - 0.2), <, 0.01);
  g_assert_cmpfloat(fabs(dd.n / 16000.0 - 0.6), <, 0.05);
  for (int i = 0; i < 2800; i++) /* silence before (the sweep's own 50 ms lead-in) */
    g_assert_cmpfloat(fabsf(dd.x[i]), <, 1e-3f);
  decoded_clear(&dd);
  g_free(path);
}

/* 44.1 kHz stereo, then 22.05 kHz mono in one MP3 stream: the resampler is
 * drained and remade at the switch; both halves come out in place. With
 * mono off, the channel change is an error after the first half. */
static void
test_decode_rate_change(void)
{
  char *path = fixture("rate-change.mp3");
  decoded dd;
  g_assert_cmpint(decode_with(path, NULL, 1000, &dd, NULL), ==, 0);
  size_t nr;
  const float *r = reference(&nr);
  size_t half = (size_t)(0.45 * 16000);
  g_assert_cmpint(dd.n, >, half + nr);
  int lag1 = 0, lag2 = 0;
  /* No gapless info in these MP3s: encoder delay and padding stay in. */
  double c1 = best_correlation(dd.x, half, r, nr, 1600, &lag1);
  double c2 = best_correlation(dd.x + half, dd.n - half, r, nr, 1600, &lag2);
  g_test_message("rate-change: %.3f s; halves correlate %.3f (lag %d), %.3f (lag %d)",
                 dd.n / 16000.0, c1, lag1, c2, lag2);
  g_assert_cmpfloat(c1, >, 0.9);
  g_assert_cmpfloat(c2, >, 0.9);
  decoded_clear(&dd);

  aud_decode_params p = aud_decode_default_params();
  p.mono = false;
  char *err = NULL;
  g_assert_cmpint(decode_with(path, &p, 1000, &dd, &err), <, 0);
  g_test_message("%s", err);
  g_assert_nonnull(strstr(err, "channel count changes"));
  g_assert_cmpfloat(dd.n / 16000.0, >, 0.3);
  g_free(err);
  decoded_clear(&dd);
  g_free(path);
}

/* ---- errors and damage ----------------------------------------------------- */

static void
expect_open_error(const char *file, const char *want)
{
  char *path = g_path_is_absolute(file) ? g_strdup(file) : fixture(file);
  char *err = NULL;
  aud_decoder *d = aud_decoder_open(path, NULL, &err);
  g_assert_null(d);
  g_assert_nonnull(err);
  g_test_message("%s", err);
  g_assert_true(g_str_has_prefix(err, path));
  g_assert_nonnull(strstr(err, want));
  g_assert_null(strchr(err, '\n'));
  g_free(err);
  size_t n = 99;
  g_assert_null(aud_decode_file(path, 16000, &n, &err));
  g_assert_cmpint(n, ==, 0);
  g_assert_nonnull(err);
  g_free(err);
  g_free(path);
}

static void
test_error_missing(void)
{
  expect_open_error("no-such-file.wav", "No such file");
}

static void
test_error_directory(void)
{
  char *dir = g_test_build_filename(G_TEST_DIST, "data", "audio", NULL);
  expect_open_error(dir, "is a directory");
  g_free(dir);
}

static void
test_error_empty(void)
{
  expect_open_error("empty.wav", "empty file");
}

static void
test_error_text(void)
{
  expect_open_error("text.wav", "not a recognized audio or video file");
}

static void
test_error_no_audio(void)
{
  char *path = fixture("video-noaudio.mp4");
  char *err = NULL;
  g_assert_null(aud_decoder_open(path, NULL, &err));
  char *want = g_strdup_printf("%s: no audio stream", path);
  g_assert_cmpstr(err, ==, want);
  g_free(want);
  g_free(err);
  g_free(path);
  expect_open_error("image.png", "no audio stream");
}

static void
test_error_header_only(void)
{
  /* A valid WAV with no samples: opens, duration 0, EOF at once. */
  char *path = fixture("header-only.wav");
  decoded dd;
  g_assert_cmpint(decode_with(path, NULL, 100, &dd, NULL), ==, 0);
  g_assert_cmpint(dd.n, ==, 0);
  g_assert_cmpfloat(dd.duration, ==, 0.0);
  g_assert_null(dd.warning);
  decoded_clear(&dd);
  size_t n = 5;
  float *x = aud_decode_file(path, 16000, &n, NULL);
  g_assert_nonnull(x);
  g_assert_cmpint(n, ==, 0);
  g_free(x);
  g_free(path);
}

/* Truncated: the decodable part comes out, then a warning. */
static void
test_error_truncated(gconstpointer data)
{
  const char *file = data;
  char *path = fixture(file);
  decoded dd;
  char *err = NULL;
  g_assert_cmpint(decode_with(path, NULL, 1024, &dd, &err), ==, 0);
  g_test_message("%s: %.3f s decoded; warning: %s", file, dd.n / 16000.0, dd.warning);
  g_assert_cmpfloat(dd.n / 16000.0, >, 0.1);
  g_assert_cmpfloat(dd.n / 16000.0, <, SIG_SECONDS - 0.1);
  g_assert_nonnull(dd.warning);
  g_assert_true(g_str_has_prefix(dd.warning, path));
  g_assert_nonnull(strstr(dd.warning, "truncated"));
  g_assert_null(strchr(dd.warning, '\n'));
  /* What did come out is the start of the signal. */
  size_t nr;
  const float *r = reference(&nr);
  int lag = 0;
  double c = best_correlation(dd.x, dd.n, r, MIN(nr, dd.n), 800, &lag);
  g_assert_cmpfloat(c, >, 0.9);
  decoded_clear(&dd);
  g_free(path);
}

static void
test_error_header_too_long(void)
{
  /* A WAV cut short: libsndfile clamps to the data present, we warn. */
  char *src = fixture("sig-44k-stereo-s16.wav");
  char *buf;
  gsize len;
  g_assert_true(g_file_get_contents(src, &buf, &len, NULL));
  char *dir = g_dir_make_tmp("hark-decode-XXXXXX", NULL);
  char *path = g_build_filename(dir, "cut.wav", NULL);
  g_assert_true(g_file_set_contents_full(path, buf, (gssize)(len / 2), G_FILE_SET_CONTENTS_NONE, 0644, NULL));
  decoded dd;
  g_assert_cmpint(decode_with(path, NULL, 4096, &dd, NULL), ==, 0);
  g_assert_cmpfloat(fabs(dd.n / 16000.0 - SIG_SECONDS / 2), <, 0.01);
  g_assert_nonnull(dd.warning);
  g_assert_nonnull(strstr(dd.warning, "truncated"));
  decoded_clear(&dd);
  g_unlink(path);
  g_rmdir(dir);
  g_free(path);
  g_free(dir);
  g_free(buf);
  g_free(src);
}

/* Every fixture cut at many lengths and sprayed with garbage: each decode
 * ends (error or audio), never crashes; the undamaged head still decodes. */
static void
test_error_damage(void)
{
  const char *files[] = {"sig-44k-stereo.mp3", "sig-22k-mono.flac", "sig-44k-stereo.ogg",
                         "sig-48k-mono.opus", "sig-44k-mono.m4a", "sig-48k-mono.webm",
                         "sig-video.mp4", "sig-video.mkv", "sig-16k-mono-s16.wav",
                         "sig-11k-mono.aiff"};
  char *dir = g_dir_make_tmp("hark-decode-XXXXXX", NULL);
  GRand *rng = g_rand_new_with_seed(77);
  int n_ok = 0, n_err = 0, n_warn = 0;
  for (guint fi = 0; fi < G_N_ELEMENTS(files); fi++) {
    char *src = fixture(files[fi]);
    char *buf;
    gsize len;
    g_assert_true(g_file_get_contents(src, &buf, &len, NULL));
    const char *ext = strrchr(files[fi], '.');
    char *path = g_strdup_printf("%s/damaged%s", dir, ext);
    for (int v = 0; v < 24; v++) {
      char *copy = g_memdup2(buf, len);
      gsize n = len;
      if (v < 12) {
        n = len * (size_t)(v + 1) / 13; /* cut */
      } else {
        gsize at = (gsize)g_rand_int_range(rng, 0, (gint32)len);
        gsize span = (gsize)g_rand_int_range(rng, 1, 200); /* MIN() evaluates twice */
        span = MIN(span, len - at);
        for (gsize i = 0; i < span; i++)
          copy[at + i] = (char)g_rand_int_range(rng, 0, 256);
      }
      g_assert_true(g_file_set_contents_full(path, copy, (gssize)n, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
      decoded dd;
      char *err = NULL;
      if (decode_with(path, NULL, 2048, &dd, &err) == 0) {
        n_ok++;
        n_warn += dd.warning != NULL;
        g_assert_cmpfloat(dd.n / 16000.0, <, 10.0);
        for (size_t i = 0; i < dd.n; i++)
          g_assert_true(isfinite(dd.x[i]));
      } else {
        n_err++;
        g_assert_nonnull(err);
        g_assert_null(strchr(err, '\n'));
      }
      g_free(err);
      decoded_clear(&dd);
      g_free(copy);
    }
    g_unlink(path);
    g_free(path);
    g_free(buf);
    g_free(src);
  }
  g_test_message("damaged files: %d decoded (%d with a warning), %d refused", n_ok, n_warn, n_err);
  g_rand_free(rng);
  g_rmdir(dir);
  g_free(dir);
}

static void
test_error_params(void)
{
  char *path = fixture(REF_FILE);
  aud_decode_params p = aud_decode_default_params();
  char *err = NULL;
  p.sample_rate = -1;
  g_assert_null(aud_decoder_open(path, &p, &err));
  g_assert_nonnull(err);
  g_free(err);
  p = aud_decode_default_params();
  p.backend = AUD_DECODE_SNDFILE;
  char *m4a = fixture("sig-44k-mono.m4a");
  g_assert_null(aud_decoder_open(m4a, &p, &err));
  g_assert_nonnull(err);
  g_free(err);
  g_free(m4a);
  g_assert_null(aud_decoder_open(NULL, NULL, &err));
  g_free(err);

  aud_decoder *d = aud_decoder_open(path, NULL, NULL);
  g_assert_nonnull(d);
  float buf[16];
  g_assert_cmpint(aud_decoder_read(d, buf, 16, NULL), ==, KERN_E_INVAL);
  size_t got;
  g_assert_cmpint(aud_decoder_read(d, NULL, 16, &got), ==, KERN_E_INVAL);
  g_assert_cmpint(aud_decoder_read(d, buf, 0, &got), ==, 0);
  g_assert_cmpstr(aud_decoder_errmsg(d), ==, "");
  aud_decoder_close(d);
  aud_decoder_close(NULL);
  g_free(path);
}

static void
test_build_info(void)
{
  const char *info = aud_build_info();
  g_test_message("%s", info);
  g_assert_nonnull(strstr(info, "libsndfile"));
  g_assert_nonnull(strstr(info, "FFmpeg"));
  g_assert_nonnull(strstr(aud_decode_versions(), "libavformat"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS(ratios); i++) {
    char *p = g_strdup_printf("/audio/resample/%s/quality", ratios[i].name);
    g_test_add_data_func(p, &ratios[i], test_resample_quality);
    g_free(p);
    p = g_strdup_printf("/audio/resample/%s/length", ratios[i].name);
    g_test_add_data_func(p, &ratios[i], test_resample_length);
    g_free(p);
    p = g_strdup_printf("/audio/resample/%s/click", ratios[i].name);
    g_test_add_data_func(p, &ratios[i], test_resample_click);
    g_free(p);
  }
  g_test_add_func("/audio/resample/mixdown", test_resample_mixdown);
  g_test_add_func("/audio/resample/errors", test_resample_errors);
  g_test_add_func("/audio/resample/speed", test_resample_speed);

  for (guint i = 0; i < G_N_ELEMENTS(formats); i++) {
    char *p = g_strdup_printf("/audio/decode/%s", formats[i].name);
    g_test_add_data_func(p, &formats[i], test_decode_format);
    g_free(p);
  }
  g_test_add_func("/audio/decode/keep-channels", test_decode_keep_channels);
  g_test_add_func("/audio/decode/source-rate", test_decode_source_rate);
  g_test_add_func("/audio/decode/late-audio", test_decode_late_audio);
  g_test_add_func("/audio/decode/rate-change", test_decode_rate_change);
  g_test_add_func("/audio/decode/build-info", test_build_info);

  g_test_add_func("/audio/decode/errors/missing", test_error_missing);
  g_test_add_func("/audio/decode/errors/directory", test_error_directory);
  g_test_add_func("/audio/decode/errors/empty", test_error_empty);
  g_test_add_func("/audio/decode/errors/text-as-wav", test_error_text);
  g_test_add_func("/audio/decode/errors/no-audio-stream", test_error_no_audio);
  g_test_add_func("/audio/decode/errors/header-only-wav", test_error_header_only);
  g_test_add_data_func("/audio/decode/errors/truncated-mp3", "truncated.mp3",
                       test_error_truncated);
  g_test_add_data_func("/audio/decode/errors/truncated-flac", "truncated.flac",
                       test_error_truncated);
  g_test_add_func("/audio/decode/errors/truncated-wav", test_error_header_too_long);
  g_test_add_func("/audio/decode/errors/damaged", test_error_damage);
  g_test_add_func("/audio/decode/errors/params", test_error_params);
  return g_test_run();
}
