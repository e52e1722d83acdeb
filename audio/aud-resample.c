/* aud-resample.c: streaming windowed-sinc polyphase resampler.
 *
 * The rate ratio out/in is reduced to up/down (integers). Output frame k is
 * the band-limited input evaluated at input time t_k = k * down / up, written
 * as an integer input index i and a phase p / up. Its value is
 *   y[k] = sum_j x[i - H + 1 + j] * g(p/up + H - 1 - j),   j = 0 .. 2H-1
 * where g is an ideal low-pass (cutoff fc, in cycles per input sample) times a
 * Kaiser window of half-width H input samples. g is symmetric, so the output
 * has no delay: the filter looks H samples ahead, which is why flush() has to
 * feed zeros past the end.
 *
 * Coefficients are tabulated once per phase: exactly `up` rows when up <= 1024
 * (every common pair of rates: 44100->16000 is 160/441), else 512 rows plus
 * one, linearly interpolated between the two nearest rows (error ~ -100 dB).
 * Each row is normalized to unit DC gain so that every phase passes DC alike.
 *
 * Design: the stopband starts at the lower rate's Nyquist frequency, the
 * passband ends at 0.9 of it, cutoff in the middle; Kaiser's formulas for a
 * 95 dB stopband give beta and the length (margin over the 80 dB promised).
 * Mixdown happens before filtering (both are linear), so a stereo file costs
 * one filter, not two.
 */
#include "aud-resample.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  EXACT_PHASES_MAX = 1024, /* up to this many phases: one table row each */
  INTERP_PHASES = 512,     /* otherwise: rows at this spacing, interpolated */
  CHUNK = 4096,            /* input frames buffered beyond the filter span */
  MAX_CHANNELS = 64,
};

static const double DESIGN_STOPBAND_DB = 95.0;
static const double PASSBAND_EDGE = 0.9; /* of the lower Nyquist */
static const double MAX_RATIO = 64.0;

struct aud_resampler {
  double in_rate, out_rate;
  int channels;      /* interleaved input channels */
  int planes;        /* buffered (and output) channels: 1 with mixdown */
  bool mixdown;
  bool passthrough;  /* equal rates: no filter */

  long long up, down;             /* out/in = up/down, reduced */
  long long step_int, step_frac;  /* down / up, down % up */

  int half;          /* H: filter half-width in input samples, multiple of 8 */
  int ntaps;         /* 2H: taps per output sample, multiple of 16 */
  int nphases;       /* rows in the table that are used as phases */
  bool interp;       /* interpolate between rows (nphases + 1 rows stored) */
  float *coef;       /* (rows, ntaps) */

  float *buf;        /* (planes, cap) input at the source rate */
  size_t cap;        /* frames per plane */
  size_t len;        /* frames held */
  size_t pos;        /* buffer index of the current window's first sample */
  long long base;    /* absolute input frame number of buf[0] */
  long long phase;   /* [0, up): the output time's fraction of a frame, in 1/up */
  long long total_in;
  bool flushing, done;
};

static void
set_err(char **err, const char *msg)
{
  if (err)
    *err = strdup(msg);
}

static long long
gcd_ll(long long a, long long b)
{
  while (b) {
    long long t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Best rational approximation num/den of x with den <= max_den (continued
 * fractions, keeping the last convergent that fits). */
static void
rationalize(double x, long long max_den, long long *num, long long *den)
{
  long long p0 = 0, q0 = 1, p1 = 1, q1 = 0;
  double v = x;
  for (int it = 0; it < 64; it++) {
    double a = floor(v);
    if (a > 1e12)
      break;
    long long ai = (long long)a;
    long long p2 = ai * p1 + p0, q2 = ai * q1 + q0;
    if (q2 > max_den)
      break;
    p0 = p1; q0 = q1; p1 = p2; q1 = q2;
    double f = v - a;
    if (f < 1e-15 || fabs((double)p1 / (double)q1 - x) <= 1e-13 * x)
      break;
    v = 1.0 / f;
  }
  *num = p1;
  *den = q1;
}

static bool
is_integral(double x)
{
  return x <= 1e9 && x == floor(x);
}

/* Modified Bessel function of the first kind, order 0 (power series). */
static double
bessel_i0(double x)
{
  double sum = 1.0, term = 1.0, q = x * x / 4.0;
  for (int k = 1; k < 200; k++) {
    term *= q / ((double)k * (double)k);
    sum += term;
    if (term < sum * 1e-17)
      break;
  }
  return sum;
}

/* Fill one table row: taps for an output time `frac` input samples after the
 * integer position, normalized to unit sum. */
static void
design_row(float *row, int half, int ntaps, double frac, double fc, double beta, double i0_beta)
{
  double sum = 0.0;
  for (int j = 0; j < ntaps; j++) {
    double tau = frac + half - 1 - j;
    double x = 2.0 * fc * tau;
    double sinc = fabs(x) < 1e-12 ? 1.0 : sin(M_PI * x) / (M_PI * x);
    double r = tau / half;
    double w = r * r >= 1.0 ? 0.0 : bessel_i0(beta * sqrt(1.0 - r * r)) / i0_beta;
    double h = 2.0 * fc * sinc * w;
    row[j] = (float)h;
    sum += h;
  }
  for (int j = 0; j < ntaps; j++)
    row[j] = (float)(row[j] / sum);
}

aud_resampler *
aud_resampler_new(double in_rate, double out_rate, int channels, bool mixdown, char **err)
{
  if (err)
    *err = NULL;
  if (!(in_rate > 0.0) || !(out_rate > 0.0) || !isfinite(in_rate) || !isfinite(out_rate)) {
    set_err(err, "resampler: sample rates must be finite and positive");
    return NULL;
  }
  if (out_rate / in_rate > MAX_RATIO || in_rate / out_rate > MAX_RATIO) {
    char msg[160];
    snprintf(msg, sizeof msg, "resampler: ratio %g Hz -> %g Hz is beyond 1:%g", in_rate,
             out_rate, MAX_RATIO);
    set_err(err, msg);
    return NULL;
  }
  if (channels < 1 || channels > MAX_CHANNELS) {
    char msg[120];
    snprintf(msg, sizeof msg, "resampler: %d channels (1 to %d supported)", channels,
             MAX_CHANNELS);
    set_err(err, msg);
    return NULL;
  }

  aud_resampler *r = calloc(1, sizeof *r);
  if (!r) {
    set_err(err, "out of memory");
    return NULL;
  }
  r->in_rate = in_rate;
  r->out_rate = out_rate;
  r->channels = channels;
  r->mixdown = mixdown;
  r->planes = mixdown ? 1 : channels;

  if (is_integral(in_rate) && is_integral(out_rate)) {
    long long a = (long long)out_rate, b = (long long)in_rate, g = gcd_ll(a, b);
    r->up = a / g;
    r->down = b / g;
  } else {
    rationalize(out_rate / in_rate, 1LL << 30, &r->up, &r->down);
    long long g = gcd_ll(r->up, r->down);
    r->up /= g;
    r->down /= g;
  }
  r->step_int = r->down / r->up;
  r->step_frac = r->down % r->up;
  r->passthrough = r->up == r->down;

  if (!r->passthrough) {
    /* Frequencies in cycles per input sample. */
    double scale = r->up < r->down ? (double)r->up / (double)r->down : 1.0;
    double nyq = 0.5 * scale;                          /* lower Nyquist */
    double fc = 0.5 * (PASSBAND_EDGE + 1.0) * nyq;     /* mid transition */
    double width = (1.0 - PASSBAND_EDGE) * nyq;        /* transition band */
    double a = DESIGN_STOPBAND_DB;
    double beta = 0.1102 * (a - 8.7);
    double n = (a - 7.95) / (2.285 * 2.0 * M_PI * width);
    int half = (int)ceil(n / 2.0);
    half = (half + 7) / 8 * 8;
    r->half = half;
    r->ntaps = 2 * half;
    r->interp = r->up > EXACT_PHASES_MAX;
    r->nphases = r->interp ? INTERP_PHASES : (int)r->up;
    int rows = r->nphases + (r->interp ? 1 : 0);

    r->coef = malloc((size_t)rows * (size_t)r->ntaps * sizeof(float));
    size_t extra = (size_t)(r->step_int + 1) * 2 + 16;
    r->cap = (size_t)r->ntaps + (extra > CHUNK ? extra : CHUNK);
    r->buf = malloc((size_t)r->planes * r->cap * sizeof(float));
    if (!r->coef || !r->buf) {
      aud_resampler_free(r);
      set_err(err, "out of memory");
      return NULL;
    }
    double i0_beta = bessel_i0(beta);
    for (int q = 0; q < rows; q++)
      design_row(r->coef + (size_t)q * r->ntaps, half, r->ntaps, (double)q / r->nphases, fc,
                 beta, i0_beta);
  }
  aud_resampler_reset(r);
  return r;
}

void
aud_resampler_free(aud_resampler *r)
{
  if (!r)
    return;
  free(r->coef);
  free(r->buf);
  free(r);
}

void
aud_resampler_reset(aud_resampler *r)
{
  if (!r)
    return;
  r->total_in = 0;
  r->flushing = false;
  r->done = false;
  r->phase = 0;
  r->pos = 0;
  if (r->passthrough)
    return;
  /* H-1 zeros of history: the first window starts before frame 0. */
  r->len = (size_t)r->half - 1;
  r->base = -(long long)(r->half - 1);
  for (int c = 0; c < r->planes; c++)
    memset(r->buf + (size_t)c * r->cap, 0, r->len * sizeof(float));
}

int
aud_resampler_out_channels(const aud_resampler *r)
{
  return r ? r->planes : 0;
}

int
aud_resampler_taps(const aud_resampler *r)
{
  return r && !r->passthrough ? r->ntaps : 0;
}

int
aud_resampler_phases(const aud_resampler *r)
{
  return r && !r->passthrough ? r->nphases : 0;
}

void
aud_resampler_ratio(const aud_resampler *r, long long *up, long long *down)
{
  if (up)
    *up = r ? r->up : 0;
  if (down)
    *down = r ? r->down : 0;
}

/* Four independent 4-lane sums: enough in flight to hide the add latency
 * (one chain of adds would leave the multipliers idle), explicit so that no
 * -ffast-math is needed, and the float rounding noise stays ~140 dB down.
 * GCC/Clang vector extensions lower to SSE/NEON or plain code alike. */
typedef float v4sf __attribute__((vector_size(16)));

static inline v4sf
load4(const float *p)
{
  v4sf v;
  memcpy(&v, p, sizeof v); /* unaligned */
  return v;
}

/* n is a multiple of 16. */
static inline float
dot16(const float *a, const float *b, int n)
{
  v4sf s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
  for (int i = 0; i < n; i += 16) {
    s0 += load4(a + i) * load4(b + i);
    s1 += load4(a + i + 4) * load4(b + i + 4);
    s2 += load4(a + i + 8) * load4(b + i + 8);
    s3 += load4(a + i + 12) * load4(b + i + 12);
  }
  v4sf s = (s0 + s1) + (s2 + s3);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Absolute input frame number of the current output's time (floor). */
static inline long long
cur_index(const aud_resampler *r)
{
  return r->base + (long long)r->pos + r->half - 1;
}

/* Write outputs while the buffer covers their windows (and, when flushing,
 * while they lie before the end of the input). */
static size_t
produce(aud_resampler *r, float *out, size_t out_frames)
{
  size_t n = 0;
  const int nt = r->ntaps;
  while (n < out_frames && r->pos + (size_t)nt <= r->len) {
    if (r->flushing && cur_index(r) >= r->total_in) {
      r->done = true;
      break;
    }
    float *o = out + n * (size_t)r->planes;
    if (!r->interp) {
      const float *row = r->coef + (size_t)r->phase * nt;
      for (int c = 0; c < r->planes; c++)
        o[c] = dot16(row, r->buf + (size_t)c * r->cap + r->pos, nt);
    } else {
      long long num = r->phase * INTERP_PHASES;
      long long q = num / r->up;
      float f = (float)((double)(num % r->up) / (double)r->up);
      const float *row0 = r->coef + (size_t)q * nt, *row1 = row0 + nt;
      for (int c = 0; c < r->planes; c++) {
        const float *x = r->buf + (size_t)c * r->cap + r->pos;
        float y0 = dot16(row0, x, nt), y1 = dot16(row1, x, nt);
        o[c] = y0 + f * (y1 - y0);
      }
    }
    n++;
    r->pos += (size_t)r->step_int;
    r->phase += r->step_frac;
    if (r->phase >= r->up) {
      r->phase -= r->up;
      r->pos++;
    }
  }
  return n;
}

/* Drop the samples no future window needs. */
static void
compact(aud_resampler *r)
{
  size_t keep = r->pos < r->len ? r->len - r->pos : 0;
  size_t drop = r->len - keep;
  for (int c = 0; c < r->planes; c++) {
    float *p = r->buf + (size_t)c * r->cap;
    memmove(p, p + drop, keep * sizeof(float));
  }
  r->base += (long long)drop;
  r->pos -= drop;
  r->len = keep;
}

/* Append up to n frames of interleaved input (mixing down if asked); returns
 * how many fit. in == NULL appends zeros. */
static size_t
fill(aud_resampler *r, const float *in, size_t n)
{
  size_t room = r->cap - r->len;
  if (n > room)
    n = room;
  const int ch = r->channels;
  for (int c = 0; c < r->planes; c++) {
    float *p = r->buf + (size_t)c * r->cap + r->len;
    if (!in) {
      memset(p, 0, n * sizeof(float));
    } else if (r->mixdown && ch > 1) {
      const float inv = 1.0f / (float)ch;
      for (size_t f = 0; f < n; f++) {
        const float *s = in + f * (size_t)ch;
        float acc = 0.0f;
        for (int k = 0; k < ch; k++)
          acc += s[k];
        p[f] = acc * inv;
      }
    } else {
      for (size_t f = 0; f < n; f++)
        p[f] = in[f * (size_t)ch + (size_t)c];
    }
  }
  r->len += n;
  return n;
}

static void
passthrough_copy(const aud_resampler *r, const float *in, size_t n, float *out)
{
  const int ch = r->channels;
  if (!r->mixdown || ch == 1) {
    memcpy(out, in, n * (size_t)ch * sizeof(float));
    return;
  }
  const float inv = 1.0f / (float)ch;
  for (size_t f = 0; f < n; f++) {
    float acc = 0.0f;
    for (int k = 0; k < ch; k++)
      acc += in[f * (size_t)ch + (size_t)k];
    out[f] = acc * inv;
  }
}

int
aud_resampler_process(aud_resampler *r, const float *in, size_t in_frames, size_t *in_used,
                      float *out, size_t out_frames, size_t *out_made)
{
  if (in_used)
    *in_used = 0;
  if (out_made)
    *out_made = 0;
  if (!r || !in_used || !out_made || (in_frames && !in) || (out_frames && !out) || r->flushing)
    return KERN_E_INVAL;

  if (r->passthrough) {
    size_t n = in_frames < out_frames ? in_frames : out_frames;
    passthrough_copy(r, in, n, out);
    r->total_in += (long long)n;
    *in_used = n;
    *out_made = n;
    return KERN_OK;
  }

  size_t used = 0, made = 0;
  for (;;) {
    made += produce(r, out + made * (size_t)r->planes, out_frames - made);
    if (made == out_frames || used == in_frames)
      break;
    if (r->len == r->cap)
      compact(r);
    size_t took = fill(r, in + used * (size_t)r->channels, in_frames - used);
    used += took;
    r->total_in += (long long)took;
  }
  *in_used = used;
  *out_made = made;
  return KERN_OK;
}

int
aud_resampler_flush(aud_resampler *r, float *out, size_t out_frames, size_t *out_made)
{
  if (out_made)
    *out_made = 0;
  if (!r || !out_made || (out_frames && !out))
    return KERN_E_INVAL;
  r->flushing = true;
  if (r->passthrough || r->done)
    return KERN_OK;

  size_t made = 0;
  for (;;) {
    made += produce(r, out + made * (size_t)r->planes, out_frames - made);
    if (r->done || made == out_frames)
      break;
    if (cur_index(r) >= r->total_in) {
      r->done = true;
      break;
    }
    if (r->len == r->cap)
      compact(r);
    fill(r, NULL, (size_t)r->ntaps);
  }
  *out_made = made;
  return KERN_OK;
}
