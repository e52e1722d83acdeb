/* aud-mel.c: Whisper's log-mel front end (see aud-mel.h for the contract).
 *
 * Frames go through the FFT AUD_FFT_LANES at a time, one per SIMD lane
 * (aud-fft.h). Each mel filter is non-zero on a short run of bins, so the
 * filterbank is applied sparsely over that run (about 2 * 201 multiply-adds
 * per frame instead of n_mels * 201).
 */
#include "aud-mel.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aud-fft.h"
#include "kern-type.h"

#define MAX_MELS 1024
#define PAD (AUD_MEL_N_FFT / 2)

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
_Static_assert(AUD_FFT_LANES * sizeof(float) == sizeof(v4f), "one vector per lane group");

/* log10 of 4 positive normal floats, within 3 ulp (2e-6 absolute; glibc's
 * log10f per lane costs more than the rest of the frame): x = 2^e * m with m
 * in [sqrt(1/2), sqrt(2)), log10(m) = 2 atanh(s) / ln 10 with s = (m - 1) /
 * (m + 1), |s| < 0.172, by its odd series to s^9 (truncation below 1e-9
 * relative); e * log10(2) in two parts so that the large part is exact. */
#define LOG10_2_HI 0.301025390625f /* 1233 / 4096 */
#define LOG10_2_LO ((float)(0.30102999566398119521 - 0.301025390625))

static inline v4f
vlog10(v4f x)
{
  const v4i bits = (v4i)x;
  v4i e = ((bits >> 23) & 0xff) - 127;
  v4f m = (v4f)((bits & 0x007fffff) | 0x3f800000); /* [1, 2) */
  v4i big = m > (float)M_SQRT2;
  m = (v4f)(((v4i)(m * 0.5f) & big) | ((v4i)m & ~big));
  e -= big; /* big is -1 where true */
  v4f s = (m - 1.0f) / (m + 1.0f);
  v4f s2 = s * s;
  const double k = 2.0 / M_LN10;
  v4f p = s2 * (float)(k / 9) + (float)(k / 7);
  p = p * s2 + (float)(k / 5);
  p = p * s2 + (float)(k / 3);
  p = p * s2 + (float)k;
  v4f ef = __builtin_convertvector(e, v4f);
  return ef * LOG10_2_HI + (ef * LOG10_2_LO + p * s);
}

/* Lane-wise a > b ? a : b (b where a is NaN). */
static inline v4f
vmax_lanes(v4f a, v4f b)
{
  v4i k = a > b;
  return (v4f)(((v4i)a & k) | ((v4i)b & ~k));
}

struct aud_mel {
  int n_mels;
  int from_file;
  float *filters;             /* (n_mels, AUD_MEL_N_BINS) */
  int *lo, *hi;               /* (n_mels): non-zero bins of each filter are [lo, hi) */
  float window[AUD_MEL_N_FFT]; /* periodic Hann */
  aud_rfft *fft;
  float *frames;              /* (AUD_MEL_N_FFT, AUD_FFT_LANES): windowed frames, lane-interleaved */
  float *power;               /* (AUD_MEL_N_BINS, AUD_FFT_LANES) */
  float *scratch;             /* aud_rfft_scratch_floats() */
  char errmsg[256];
};

static int
set_err(aud_mel *m, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
set_err(aud_mel *m, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->errmsg, sizeof m->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

static void
set_out_err(char **err, const char *msg)
{
  if (err)
    *err = strdup(msg);
}

/* --- filterbank ------------------------------------------------------------- */

/* Rounds x to double here, so that no product is fused into a later addition
 * (numpy rounds every operation; -ffp-contract would not). */
static double
rn(double x)
{
  volatile double v = x;
  return v;
}

/* librosa's Slaney mel scale: linear below 1 kHz, logarithmic above. */
#define SLANEY_F_SP (200.0 / 3)
#define SLANEY_MIN_LOG_HZ 1000.0

static double
hz_to_mel(double f)
{
  const double min_log_mel = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;
  const double logstep = log(6.4) / 27.0;
  if (f >= SLANEY_MIN_LOG_HZ)
    return min_log_mel + log(f / SLANEY_MIN_LOG_HZ) / logstep;
  return f / SLANEY_F_SP;
}

static double
mel_to_hz(double mel)
{
  const double min_log_mel = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;
  const double logstep = log(6.4) / 27.0;
  if (mel >= min_log_mel)
    return SLANEY_MIN_LOG_HZ * exp(logstep * (mel - min_log_mel));
  return rn(SLANEY_F_SP * mel);
}

int
aud_mel_filters_compute(int n_mels, float *out)
{
  if (n_mels < 1 || n_mels > MAX_MELS || !out)
    return KERN_E_INVAL;
  double *mel_f = malloc(((size_t)n_mels + 2) * sizeof *mel_f); /* (n_mels + 2) band edges in Hz */
  if (!mel_f)
    return KERN_E_NOMEM;
  double fft_f[AUD_MEL_N_BINS]; /* bin centre frequencies, np.fft.rfftfreq(400, 1 / 16000) */
  const double bin_hz = 1.0 / (AUD_MEL_N_FFT * (1.0 / AUD_MEL_SAMPLE_RATE));
  for (int j = 0; j < AUD_MEL_N_BINS; j++)
    fft_f[j] = rn(j * bin_hz);

  /* np.linspace(hz_to_mel(0), hz_to_mel(8000), n_mels + 2): i * step + start, the last one exact. */
  const double mel_min = hz_to_mel(0.0), mel_max = hz_to_mel(AUD_MEL_SAMPLE_RATE / 2.0);
  const int n_edges = n_mels + 2;
  const double step = (mel_max - mel_min) / (n_edges - 1);
  for (int i = 0; i < n_edges; i++) {
    double mel = i == n_edges - 1 ? mel_max : rn(rn(i * step) + mel_min);
    mel_f[i] = mel_to_hz(mel);
  }

  for (int i = 0; i < n_mels; i++) {
    double fdiff_lo = mel_f[i + 1] - mel_f[i], fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
    double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
    for (int j = 0; j < AUD_MEL_N_BINS; j++) {
      double lower = -(mel_f[i] - fft_f[j]) / fdiff_lo;
      double upper = (mel_f[i + 2] - fft_f[j]) / fdiff_hi;
      double w = lower <= upper ? lower : upper; /* np.minimum */
      w = w < 0.0 ? 0.0 : w;                     /* np.maximum(0, w), which keeps -0.0 */
      /* librosa stores the triangle in the float32 weights array, then
       * multiplies that array in place by the float64 norms. */
      float w32 = (float)w;
      out[(size_t)i * AUD_MEL_N_BINS + (size_t)j] = (float)((double)w32 * enorm);
    }
  }
  free(mel_f);
  return 0;
}

/* --- context ----------------------------------------------------------------- */

aud_mel *
aud_mel_new(int n_mels, const float *filters, char **err)
{
  if (n_mels < 1 || n_mels > MAX_MELS) {
    char msg[96];
    snprintf(msg, sizeof msg, "log-mel: %d mel bins requested (1 to %d supported)", n_mels, MAX_MELS);
    set_out_err(err, msg);
    return NULL;
  }
  aud_mel *m = calloc(1, sizeof *m);
  if (!m) {
    set_out_err(err, "log-mel: out of memory");
    return NULL;
  }
  m->n_mels = n_mels;
  m->from_file = filters != NULL;
  size_t nf = (size_t)n_mels * AUD_MEL_N_BINS;
  m->filters = malloc(nf * sizeof(float));
  m->lo = malloc((size_t)n_mels * sizeof(int));
  m->hi = malloc((size_t)n_mels * sizeof(int));
  m->fft = aud_rfft_new(AUD_MEL_N_FFT);
  m->frames = malloc((size_t)AUD_MEL_N_FFT * AUD_FFT_LANES * sizeof(float));
  m->power = malloc((size_t)AUD_MEL_N_BINS * AUD_FFT_LANES * sizeof(float));
  m->scratch = m->fft ? malloc(aud_rfft_scratch_floats(m->fft) * sizeof(float)) : NULL;
  if (!m->filters || !m->lo || !m->hi || !m->fft || !m->frames || !m->power || !m->scratch) {
    aud_mel_free(m);
    set_out_err(err, "log-mel: out of memory");
    return NULL;
  }
  if (filters)
    memcpy(m->filters, filters, nf * sizeof(float));
  else
    aud_mel_filters_compute(n_mels, m->filters);

  for (int i = 0; i < n_mels; i++) {
    const float *f = m->filters + (size_t)i * AUD_MEL_N_BINS;
    int lo = 0, hi = AUD_MEL_N_BINS;
    while (lo < hi && f[lo] == 0.0f)
      lo++;
    while (hi > lo && f[hi - 1] == 0.0f)
      hi--;
    m->lo[i] = lo;
    m->hi[i] = hi;
  }
  /* torch.hann_window(400) (periodic): 0.5 - 0.5 cos(2 pi i / 400). */
  for (int i = 0; i < AUD_MEL_N_FFT; i++)
    m->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / AUD_MEL_N_FFT));
  return m;
}

/* The mel count a model says it was trained with, or 0. */
static int
model_n_mels(const kern_weights *w)
{
  static const char *const keys[] = { "whisper.n_mels", "config.num_mel_bins", "preprocessor_config.feature_size" };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    int64_t v = kern_weights_get_int(w, keys[i], 0);
    if (v > 0 && v <= MAX_MELS)
      return (int)v;
  }
  /* conv1 weight (d_model, n_mels, 3): ne = {3, n_mels, d_model} */
  static const char *const convs[] = { "encoder.conv1.weight", "encoder/conv1/weight", "model.encoder.conv1.weight" };
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
    const kern_tensor_info *t = kern_weights_find(w, convs[i]);
    if (t && t->n_dims == 3 && t->ne[0] == 3 && t->ne[1] > 0 && t->ne[1] <= MAX_MELS)
      return (int)t->ne[1];
  }
  return 0;
}

aud_mel *
aud_mel_new_from_weights(const kern_weights *w, int n_mels, char **err)
{
  if (!w) {
    set_out_err(err, "log-mel: no model given");
    return NULL;
  }
  if (n_mels <= 0)
    n_mels = model_n_mels(w);
  if (n_mels <= 0)
    n_mels = 80;
  const kern_tensor_info *t = kern_weights_find(w, "mel_filters");
  if (t && t->type == KERN_TYPE_F32 && t->n_dims == 2 && t->ne[0] == AUD_MEL_N_BINS && t->ne[1] == n_mels &&
      t->nbytes == (size_t)n_mels * AUD_MEL_N_BINS * sizeof(float)) {
    float *f = malloc(t->nbytes);
    if (!f) {
      set_out_err(err, "log-mel: out of memory");
      return NULL;
    }
    memcpy(f, t->data, t->nbytes); /* the ggml format does not align tensors */
    aud_mel *m = aud_mel_new(n_mels, f, err);
    free(f);
    return m;
  }
  return aud_mel_new(n_mels, NULL, err);
}

void
aud_mel_free(aud_mel *m)
{
  if (!m)
    return;
  free(m->filters);
  free(m->lo);
  free(m->hi);
  aud_rfft_free(m->fft);
  free(m->frames);
  free(m->power);
  free(m->scratch);
  free(m);
}

int
aud_mel_n_mels(const aud_mel *m)
{
  return m->n_mels;
}

const float *
aud_mel_filters(const aud_mel *m)
{
  return m->filters;
}

int
aud_mel_filters_from_file(const aud_mel *m)
{
  return m->from_file;
}

const char *
aud_mel_errmsg(const aud_mel *m)
{
  return m->errmsg;
}

size_t
aud_mel_n_frames(size_t n_samples)
{
  return n_samples / AUD_MEL_HOP;
}

/* --- spectrogram ----------------------------------------------------------------- */

/* Sample i (-PAD <= i < total + PAD) of samples[0..n) + zeros up to `total`,
 * reflect-padded as torch pads (x[-i] before the start, x[2(total-1) - i]
 * past the end), mirroring again for signals shorter than the padding. */
static float
padded_sample(const float *samples, size_t n, size_t total, int64_t i)
{
  if (total <= 1)
    return n ? samples[0] : 0.0f;
  int64_t period = 2 * ((int64_t)total - 1);
  i %= period;
  if (i < 0)
    i += period;
  if (i >= (int64_t)total)
    i = period - i;
  return (size_t)i < n ? samples[i] : 0.0f;
}

/* Windowed frames first .. first + AUD_FFT_LANES - 1 into m->frames, lane l
 * holding frame first + l; lanes past n_lanes are zero. */
static void
fill_frames(aud_mel *m, const float *samples, size_t n, size_t total, size_t first, size_t n_lanes)
{
  const float *win = m->window;
  v4f *fv = (v4f *)m->frames; /* malloc'd: aligned for v4f */
  int64_t start = (int64_t)(first * AUD_MEL_HOP) - PAD;
  if (n_lanes == AUD_FFT_LANES && start >= 0 &&
      (size_t)start + (AUD_FFT_LANES - 1) * AUD_MEL_HOP + AUD_MEL_N_FFT <= n) {
    /* every lane inside the signal: no padding to work out */
    const float *x0 = samples + start, *x1 = x0 + AUD_MEL_HOP, *x2 = x1 + AUD_MEL_HOP, *x3 = x2 + AUD_MEL_HOP;
    for (int j = 0; j < AUD_MEL_N_FFT; j++)
      fv[j] = (v4f){ x0[j], x1[j], x2[j], x3[j] } * win[j];
    return;
  }
  float *fr = m->frames;
  for (size_t l = 0; l < AUD_FFT_LANES; l++) {
    int64_t s0 = start + (int64_t)(l * AUD_MEL_HOP);
    for (int j = 0; j < AUD_MEL_N_FFT; j++)
      fr[(size_t)j * AUD_FFT_LANES + l] = l < n_lanes ? padded_sample(samples, n, total, s0 + j) * win[j] : 0.0f;
  }
}

int
aud_mel_compute_log(aud_mel *m, const float *samples, size_t n, size_t n_zero_pad, size_t frame_begin,
                    size_t count, float *out, float *max_out)
{
  const size_t total = n + n_zero_pad;
  if (max_out)
    *max_out = -INFINITY;
  if (n_zero_pad > SIZE_MAX - n || (!samples && n > 0) || (!out && count > 0))
    return set_err(m, KERN_E_INVAL, "log-mel: bad arguments");
  if (frame_begin > aud_mel_n_frames(total) || count > aud_mel_n_frames(total) - frame_begin)
    return set_err(m, KERN_E_INVAL, "log-mel: frames %zu..%zu asked of a signal with %zu", frame_begin,
                   frame_begin + count, aud_mel_n_frames(total));
  const size_t n_mels = (size_t)m->n_mels;
  const v4f *pw = (const v4f *)m->power; /* (AUD_MEL_N_BINS) lane vectors */
  const v4f floor = { 1e-10f, 1e-10f, 1e-10f, 1e-10f }, ceil = { FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX };
  v4f vmax = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };

  for (size_t b = 0; b < count; b += AUD_FFT_LANES) {
    size_t nl = count - b < AUD_FFT_LANES ? count - b : AUD_FFT_LANES;
    fill_frames(m, samples, n, total, frame_begin + b, nl);
    aud_rfft_power_lanes(m->fft, m->frames, m->power, m->scratch);

    float *o = out + b * n_mels;
    for (size_t i = 0; i < n_mels; i++) {
      const float *f = m->filters + i * AUD_MEL_N_BINS;
      v4f acc = { 0.0f, 0.0f, 0.0f, 0.0f };
      for (int k = m->lo[i]; k < m->hi[i]; k++)
        acc += f[k] * pw[k];
      acc = vmax_lanes(acc, floor);  /* also maps NaN to the floor */
      acc = -vmax_lanes(-acc, -ceil); /* +inf (overflowing input) to FLT_MAX */
      v4f lg = vlog10(acc);
      for (size_t l = 0; l < nl; l++)
        o[l * n_mels + i] = lg[l];
      if (nl < AUD_FFT_LANES)
        for (size_t l = nl; l < AUD_FFT_LANES; l++)
          lg[l] = -INFINITY;
      vmax = vmax_lanes(lg, vmax);
    }
  }
  float mx = -INFINITY;
  for (size_t l = 0; l < AUD_FFT_LANES; l++)
    mx = vmax[l] > mx ? vmax[l] : mx;
  if (max_out)
    *max_out = mx;
  return 0;
}

void
aud_mel_normalize(float *mel, size_t n, float max)
{
  const float floor = max - 8.0f;
  for (size_t i = 0; i < n; i++) {
    float v = mel[i] > floor ? mel[i] : floor;
    mel[i] = (v + 4.0f) / 4.0f;
  }
}

int
aud_mel_compute(aud_mel *m, const float *samples, size_t n, float *out, size_t cap_frames, size_t *n_frames)
{
  size_t nf = aud_mel_n_frames(n);
  if (n_frames)
    *n_frames = nf;
  if (nf > cap_frames)
    return set_err(m, KERN_E_INVAL, "log-mel: %zu frames do not fit the output of %zu", nf, cap_frames);
  float mx;
  int rc = aud_mel_compute_log(m, samples, n, 0, 0, nf, out, &mx);
  if (rc)
    return rc;
  aud_mel_normalize(out, nf * (size_t)m->n_mels, mx);
  return 0;
}

int
aud_mel_compute_window(aud_mel *m, const float *samples, size_t n, size_t frame_offset, aud_mel_pad pad,
                       float *out, size_t *n_content)
{
  const size_t nm = (size_t)m->n_mels;
  size_t content = aud_mel_n_frames(n);
  size_t nc = frame_offset < content ? content - frame_offset : 0;
  if (nc > AUD_MEL_CHUNK_FRAMES)
    nc = AUD_MEL_CHUNK_FRAMES;
  if (n_content)
    *n_content = nc;
  if (!out || (pad != AUD_MEL_PAD_REFERENCE && pad != AUD_MEL_PAD_SILENCE))
    return set_err(m, KERN_E_INVAL, "log-mel: bad arguments");
  if (frame_offset > SIZE_MAX / AUD_MEL_HOP - AUD_MEL_CHUNK_FRAMES - 1)
    return set_err(m, KERN_E_INVAL, "log-mel: frame offset %zu is out of range", frame_offset);
  float mx;
  int rc;
  if (pad == AUD_MEL_PAD_REFERENCE) {
    if (nc > 0) {
      rc = aud_mel_compute_log(m, samples, n, AUD_MEL_CHUNK_SAMPLES, frame_offset, nc, out, &mx);
      if (rc)
        return rc;
      aud_mel_normalize(out, nc * nm, mx);
    }
    memset(out + nc * nm, 0, (AUD_MEL_CHUNK_FRAMES - nc) * nm * sizeof(float));
    return 0;
  }
  size_t need = (frame_offset + AUD_MEL_CHUNK_FRAMES) * AUD_MEL_HOP;
  size_t zeros = need > n && need - n > AUD_MEL_CHUNK_SAMPLES ? need - n : AUD_MEL_CHUNK_SAMPLES;
  rc = aud_mel_compute_log(m, samples, n, zeros, frame_offset, AUD_MEL_CHUNK_FRAMES, out, &mx);
  if (rc)
    return rc;
  aud_mel_normalize(out, AUD_MEL_CHUNK_FRAMES * nm, mx);
  return 0;
}
