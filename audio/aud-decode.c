/* aud-decode.c: file decoding through libsndfile or FFmpeg, resampled by
 * aud-resample into float frames at the caller's rate.
 *
 * Pipeline per read: the backend fills `pend` with source-rate float frames
 * (one 4096-frame sndfile block, or one converted FFmpeg frame), the
 * resampler turns them into output frames, and when the source ends the
 * resampler's look-ahead is flushed. Nothing grows with the file's length.
 *
 * Which backend and why is in aud-decode.h. The FFmpeg side uses the 5.1 API:
 * AVChannelLayout, send_packet/receive_frame, swr_alloc_set_opts2.
 */
#include "aud-decode.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "aud-resample.h"

enum {
  SF_BLOCK = 4096,          /* source frames per libsndfile read */
  MAX_OUT_RATE = 768000,
  MAX_BAD_BEFORE_AUDIO = 64, /* corrupt packets tolerated before any audio */
  MAX_ERRORS_IN_A_ROW = 256, /* decoder errors without a new packet: give up */
};

/* Tolerance before a short decode counts as "ends early". */
static const double TRUNCATION_SLACK_S = 0.1;

typedef enum { BK_NONE, BK_SNDFILE, BK_FFMPEG } backend_kind;

struct aud_decoder {
  char *path;
  aud_decode_params p;
  backend_kind kind;
  int src_rate, src_channels;
  int out_rate, out_channels;
  char codec[96];
  double duration;        /* seconds, < 0 unknown */
  double trusted_dur;     /* header duration exact enough to detect truncation, or < 0 */

  int status;             /* sticky error, 0 when fine */
  char errmsg[512];
  char warning[512];

  float *pend;            /* (pend_cap, pend_ch) source-rate frames for the resampler */
  size_t pend_cap, pend_len, pend_pos;
  int pend_ch;
  aud_resampler *rs;
  int rs_rate;            /* source rate rs was made for */
  long long produced;     /* output frames handed out */
  double src_seconds;     /* source audio decoded, excluding leading silence */
  bool src_eof, done;
  long long lead_pad;     /* frames of leading silence still to emit */
  bool first_seen;        /* FFmpeg: the first frame has been looked at */
  bool frame_held;        /* FFmpeg: `frame` waits behind the leading silence */

  /* libsndfile */
  SNDFILE *sf;
  SF_INFO sfi;
  long long sf_frames_read;
  bool sf_header_long;    /* header promises more data than the file holds */

  /* FFmpeg */
  AVFormatContext *fmt;
  AVCodecContext *cc;
  AVPacket *pkt;
  AVFrame *frame;
  SwrContext *swr;
  int stream;
  int swr_fmt, swr_rate;
  AVChannelLayout swr_layout;
  bool demux_eof;
  bool switching;         /* frame holds audio at a new rate; drain rs first */
  bool decoded_any;
  long n_corrupt;
  int errors_in_a_row;
  char read_error[128];
};

/* ---- messages ---------------------------------------------------------- */

static char *
dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
dup_printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

static int fail(aud_decoder *d, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record a sticky error "path: message" and return its status. */
static int
fail(aud_decoder *d, int status, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(d->errmsg, sizeof d->errmsg, "%s: %s", d->path, msg);
  d->status = status;
  return status;
}

static void
av_err(int code, char *buf, size_t n)
{
  if (av_strerror(code, buf, n) < 0)
    snprintf(buf, n, "FFmpeg error %d", code);
}

/* ---- FFmpeg log -------------------------------------------------------- */

static bool keep_ffmpeg_log;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void
quiet_log(void *avcl, int level, const char *fmt, va_list vl)
{
  (void)avcl;
  (void)level;
  (void)fmt;
  (void)vl;
}

static void
install_log(void)
{
  const char *env = getenv("HARK_FFMPEG_LOG");
  if (keep_ffmpeg_log || (env && *env && strcmp(env, "0") != 0))
    return;
  av_log_set_callback(quiet_log);
}

void
aud_decode_keep_ffmpeg_log(void)
{
  keep_ffmpeg_log = true;
}

/* ---- versions ---------------------------------------------------------- */

static char versions[128];
static pthread_once_t versions_once = PTHREAD_ONCE_INIT;

static void
make_versions(void)
{
  const char *sfv = sf_version_string();
  if (!sfv)
    sfv = "?";
  if (strncmp(sfv, "libsndfile-", 11) == 0)
    sfv += 11;
  snprintf(versions, sizeof versions, "libsndfile %s, FFmpeg libavformat %d.%d", sfv,
           LIBAVFORMAT_VERSION_MAJOR, LIBAVFORMAT_VERSION_MINOR);
}

const char *
aud_decode_versions(void)
{
  pthread_once(&versions_once, make_versions);
  return versions;
}

/* ---- params ------------------------------------------------------------ */

aud_decode_params
aud_decode_default_params(void)
{
  aud_decode_params p = {
    .sample_rate = 16000,
    .mono = true,
    .backend = AUD_DECODE_AUTO,
  };
  return p;
}

/* ---- pending buffer ---------------------------------------------------- */

static int
pend_reserve(aud_decoder *d, size_t frames, int channels)
{
  if (frames <= d->pend_cap && channels == d->pend_ch)
    return 0;
  size_t cap = frames > d->pend_cap ? frames : d->pend_cap;
  float *p = realloc(d->pend, cap * (size_t)channels * sizeof(float));
  if (!p)
    return fail(d, KERN_E_NOMEM, "out of memory");
  d->pend = p;
  d->pend_cap = cap;
  d->pend_ch = channels;
  return 0;
}

/* (Re)make the resampler for a source rate; the FFmpeg side hands it frames
 * already mixed down, libsndfile's the file's own channels. */
static int
make_resampler(aud_decoder *d, int src_rate)
{
  char *rerr = NULL;
  aud_resampler_free(d->rs);
  int ch = d->kind == BK_SNDFILE ? d->src_channels : d->out_channels;
  d->rs = aud_resampler_new(src_rate, d->out_rate, ch, d->p.mono, &rerr);
  if (!d->rs) {
    int st = fail(d, KERN_E_UNSUPPORTED, "cannot resample %d Hz to %d Hz (%s)", src_rate,
                  d->out_rate, rerr ? rerr : "out of memory");
    free(rerr);
    return st;
  }
  d->rs_rate = src_rate;
  return 0;
}

/* ---- warnings ---------------------------------------------------------- */

static void
add_warning(aud_decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add_warning(aud_decoder *d, const char *fmt, ...)
{
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = strlen(d->warning);
  if (n == 0)
    snprintf(d->warning, sizeof d->warning, "%s: %s", d->path, msg);
  else
    snprintf(d->warning + n, sizeof d->warning - n, "; %s", msg);
}

/* Called once when the source runs out. */
static void
end_of_source_warnings(aud_decoder *d)
{
  if (d->n_corrupt > 0)
    add_warning(d, "%ld corrupt packet%s skipped", d->n_corrupt, d->n_corrupt == 1 ? "" : "s");
  if (d->read_error[0])
    add_warning(d, "read error after %.2f s (%s)", d->src_seconds, d->read_error);
  if (d->sf_header_long)
    add_warning(d, "the file is shorter than its header says (truncated?)");
  else if (d->trusted_dur >= 0 && d->src_seconds < d->trusted_dur - TRUNCATION_SLACK_S)
    add_warning(d, "only %.2f s of %.2f s decoded (truncated or damaged?)", d->src_seconds,
                d->trusted_dur);
}

/* ---- libsndfile backend ------------------------------------------------ */

/* Is this a compressed stream that AUTO leaves to FFmpeg (see aud-decode.h)?
 * Decided before libsndfile sees the file, by its first bytes or, because
 * libsndfile falls back to the extension when a header is damaged, by its
 * name: libsndfile's MPEG reader (mpg123) prints to stderr while probing,
 * and its Ogg reader leaks the Vorbis setup when a damaged file fails to
 * open. */
static bool
looks_compressed(const char *path)
{
  static const char *const exts[] = {".mp1", ".mp2", ".mp3", ".mpa",  ".mpga", ".flac", ".fla",
                                     ".ogg", ".oga", ".ogv", ".opus", ".spx"};
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
      if (strcasecmp(dot, exts[i]) == 0)
        return true;
  unsigned char b[4] = {0};
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  if (n < 4)
    return false;
  if (memcmp(b, "ID3", 3) == 0 || memcmp(b, "fLaC", 4) == 0 || memcmp(b, "OggS", 4) == 0)
    return true;
  return b[0] == 0xFF && (b[1] & 0xE0) == 0xE0; /* MPEG audio frame sync */
}

static void
sf_format_name(int format, char *buf, size_t n)
{
  SF_FORMAT_INFO major = {.format = format & SF_FORMAT_TYPEMASK};
  SF_FORMAT_INFO sub = {.format = format & SF_FORMAT_SUBMASK};
  const char *mname = sf_command(NULL, SFC_GET_FORMAT_INFO, &major, sizeof major) == 0 &&
                              major.name ? major.name : "?";
  const char *sname = sf_command(NULL, SFC_GET_FORMAT_INFO, &sub, sizeof sub) == 0 &&
                              sub.name ? sub.name : "?";
  snprintf(buf, n, "%s, %s", mname, sname);
}

/* libsndfile's open log notes a data chunk longer than the file as
 * "data : 3528000 (should be 29956)". Best effort: only feeds a warning. */
static bool
sf_header_claims_more(SNDFILE *sf)
{
  char log[4096];
  log[0] = 0;
  sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
  log[sizeof log - 1] = 0;
  const char *s = strstr(log, "\ndata : ");
  if (!s)
    s = strstr(log, "\nSSND : ");
  long long claimed, actual;
  if (s && sscanf(s + 8, "%lld (should be %lld)", &claimed, &actual) == 2)
    return claimed > actual && claimed != 0xFFFFFFFFLL && claimed != 0x7FFFFFFFLL;
  return false;
}

enum { SF_DECLINED = -1 }; /* sndfile_open's *code when AUTO leaves the file to FFmpeg */

/* 1: opened; 0: not opened, *code says why: SF_DECLINED or libsndfile's
 * SF_ERR_* code. */
static int
sndfile_open(aud_decoder *d, bool auto_mode, int *code)
{
  *code = SF_DECLINED;
  if (auto_mode && looks_compressed(d->path))
    return 0;
  SF_INFO info;
  memset(&info, 0, sizeof info);
  SNDFILE *sf = sf_open(d->path, SFM_READ, &info);
  if (!sf) {
    *code = sf_error(NULL);
    return 0;
  }
  int major = info.format & SF_FORMAT_TYPEMASK;
  if (auto_mode && (major == SF_FORMAT_FLAC || major == SF_FORMAT_MPEG || major == SF_FORMAT_OGG)) {
    sf_close(sf);
    return 0;
  }
  if (info.channels < 1 || info.samplerate < 1) {
    sf_close(sf);
    *code = SF_ERR_MALFORMED_FILE;
    return 0;
  }
  d->sf = sf;
  d->sfi = info;
  d->kind = BK_SNDFILE;
  d->src_rate = info.samplerate;
  d->src_channels = info.channels;
  sf_format_name(info.format, d->codec, sizeof d->codec);
  bool known = info.frames >= 0 && info.frames < SF_COUNT_MAX && info.seekable;
  d->duration = known ? (double)info.frames / info.samplerate : -1.0;
  d->trusted_dur = d->duration;
  d->sf_header_long = sf_header_claims_more(sf);
  return 1;
}

static int
sndfile_refill(aud_decoder *d)
{
  if (pend_reserve(d, SF_BLOCK, d->src_channels) < 0)
    return d->status;
  sf_count_t n = sf_readf_float(d->sf, d->pend, SF_BLOCK);
  if (n > 0) {
    d->pend_len = (size_t)n;
    d->pend_pos = 0;
    d->sf_frames_read += n;
    d->src_seconds = (double)d->sf_frames_read / d->src_rate;
    return 0;
  }
  d->src_eof = true;
  int e = sf_error(d->sf);
  if (e != SF_ERR_NO_ERROR) {
    snprintf(d->read_error, sizeof d->read_error, "%s", sf_strerror(d->sf));
    if (d->sf_frames_read == 0)
      return fail(d, KERN_E_FORMAT, "cannot decode: %s", d->read_error);
  }
  end_of_source_warnings(d);
  return 0;
}

/* ---- FFmpeg backend ---------------------------------------------------- */

/* 1: opened; 0: the format was not recognized; < 0: recognized but unusable
 * (message set). */
static int
ffmpeg_open(aud_decoder *d)
{
  pthread_once(&log_once, install_log);

  char err[128];
  char *url = dup_printf("file:%s", d->path);
  if (!url)
    return fail(d, KERN_E_NOMEM, "out of memory");
  AVDictionary *opts = NULL;
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  int ret = avformat_open_input(&d->fmt, url, NULL, &opts);
  av_dict_free(&opts);
  free(url);
  if (ret < 0) {
    d->fmt = NULL;
    if (ret == AVERROR_INVALIDDATA)
      return 0;
    if (ret == AVERROR(ENOMEM))
      return fail(d, KERN_E_NOMEM, "out of memory");
    av_err(ret, err, sizeof err);
    return fail(d, KERN_E_FORMAT, "cannot read the headers (%s; truncated or damaged?)", err);
  }
  ret = avformat_find_stream_info(d->fmt, NULL);
  if (ret < 0) {
    av_err(ret, err, sizeof err);
    return fail(d, KERN_E_FORMAT, "cannot read the stream parameters (%s; truncated or damaged?)",
                err);
  }

  const AVCodec *dec = NULL;
  int si = av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &dec, 0);
  if (si == AVERROR_STREAM_NOT_FOUND)
    return fail(d, KERN_E_FORMAT, "no audio stream");
  if (si < 0 || !dec) {
    const char *name = "unknown";
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
      if (d->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
        name = avcodec_get_name(d->fmt->streams[i]->codecpar->codec_id);
        break;
      }
    return fail(d, KERN_E_UNSUPPORTED, "no decoder for the audio codec '%s' in this FFmpeg",
                name);
  }
  d->stream = si;
  for (unsigned i = 0; i < d->fmt->nb_streams; i++)
    if ((int)i != si)
      d->fmt->streams[i]->discard = AVDISCARD_ALL;
  AVStream *st = d->fmt->streams[si];

  d->cc = avcodec_alloc_context3(dec);
  d->pkt = av_packet_alloc();
  d->frame = av_frame_alloc();
  if (!d->cc || !d->pkt || !d->frame)
    return fail(d, KERN_E_NOMEM, "out of memory");
  ret = avcodec_parameters_to_context(d->cc, st->codecpar);
  if (ret >= 0) {
    d->cc->pkt_timebase = st->time_base;
    d->cc->thread_count = 1;
    ret = avcodec_open2(d->cc, dec, NULL);
  }
  if (ret < 0) {
    av_err(ret, err, sizeof err);
    return fail(d, KERN_E_FORMAT, "cannot open the %s decoder (%s)", dec->name, err);
  }
  d->src_rate = d->cc->sample_rate;
  d->src_channels = d->cc->ch_layout.nb_channels;
  if (d->src_rate <= 0 || d->src_channels <= 0)
    return fail(d, KERN_E_FORMAT, "the audio stream has no sample rate or channel count");
  snprintf(d->codec, sizeof d->codec, "%s", avcodec_get_name(st->codecpar->codec_id));

  /* A first guess at the leading silence (refined at the first frame). */
  double lead = 0.0;
  if (d->fmt->start_time != AV_NOPTS_VALUE && st->start_time != AV_NOPTS_VALUE) {
    lead = st->start_time * av_q2d(st->time_base) - (double)d->fmt->start_time / AV_TIME_BASE;
    if (lead < 0.0)
      lead = 0.0;
  }

  double sdur = st->duration != AV_NOPTS_VALUE ? st->duration * av_q2d(st->time_base) : -1.0;
  double fdur = d->fmt->duration != AV_NOPTS_VALUE ? (double)d->fmt->duration / AV_TIME_BASE
                                                   : -1.0;
  d->duration = sdur > 0 ? sdur + lead : fdur;
  d->trusted_dur = -1.0;
  if (sdur > 0 && d->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE)
    d->trusted_dur = sdur;
  d->kind = BK_FFMPEG;
  return 1;
}

/* Make or remake the converter for this frame's format, rate and layout. */
static int
swr_setup(aud_decoder *d, const AVFrame *f)
{
  AVChannelLayout in;
  memset(&in, 0, sizeof in);
  if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels <= 0) {
    if (f->ch_layout.nb_channels <= 0)
      return fail(d, KERN_E_FORMAT, "decoded audio without channels");
    av_channel_layout_default(&in, f->ch_layout.nb_channels);
  } else if (av_channel_layout_copy(&in, &f->ch_layout) < 0) {
    return fail(d, KERN_E_NOMEM, "out of memory");
  }
  if (d->swr && d->swr_fmt == f->format && d->swr_rate == f->sample_rate &&
      av_channel_layout_compare(&d->swr_layout, &in) == 0) {
    av_channel_layout_uninit(&in);
    return 0;
  }
  if (!d->p.mono && in.nb_channels != d->out_channels) {
    int n = in.nb_channels;
    av_channel_layout_uninit(&in);
    return fail(d, KERN_E_UNSUPPORTED, "the channel count changes mid-stream (%d -> %d)",
                d->out_channels, n);
  }
  AVChannelLayout out;
  memset(&out, 0, sizeof out);
  if (d->p.mono)
    av_channel_layout_default(&out, 1);
  else if (av_channel_layout_copy(&out, &in) < 0) {
    av_channel_layout_uninit(&in);
    return fail(d, KERN_E_NOMEM, "out of memory");
  }
  swr_free(&d->swr);
  int ret = swr_alloc_set_opts2(&d->swr, &out, AV_SAMPLE_FMT_FLT, f->sample_rate, &in,
                                (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL);
  if (ret >= 0) {
    /* Normalize the downmix (stereo -> mono = (L + R) / 2, as libsndfile's path). */
    av_opt_set_double(d->swr, "rematrix_maxval", 1.0, 0);
    ret = swr_init(d->swr);
  }
  av_channel_layout_uninit(&out);
  if (ret < 0) {
    av_channel_layout_uninit(&in);
    char err[128];
    av_err(ret, err, sizeof err);
    return fail(d, KERN_E_UNSUPPORTED, "cannot convert the decoded audio (%s)", err);
  }
  av_channel_layout_uninit(&d->swr_layout);
  d->swr_layout = in;
  d->swr_fmt = f->format;
  d->swr_rate = f->sample_rate;
  return 0;
}

/* Convert d->frame into pend and release it. */
static int
take_frame(aud_decoder *d)
{
  AVFrame *f = d->frame;
  int ret = swr_setup(d, f);
  if (ret < 0)
    return ret;
  if (pend_reserve(d, (size_t)f->nb_samples, d->out_channels) < 0)
    return d->status;
  uint8_t *outp[1] = {(uint8_t *)d->pend};
  int n = swr_convert(d->swr, outp, (int)d->pend_cap, (const uint8_t **)f->extended_data,
                      f->nb_samples);
  av_frame_unref(f);
  if (n < 0) {
    char err[128];
    av_err(n, err, sizeof err);
    return fail(d, KERN_E_FORMAT, "cannot convert the decoded audio (%s)", err);
  }
  d->pend_len = (size_t)n;
  d->pend_pos = 0;
  d->src_seconds += (double)n / d->swr_rate;
  d->decoded_any = true;
  return 0;
}

/* One bad packet or frame: skip it, unless nothing ever decodes. */
static int
note_corrupt(aud_decoder *d, int code)
{
  if (code == AVERROR(ENOMEM))
    return fail(d, KERN_E_NOMEM, "out of memory");
  d->n_corrupt++;
  if (!d->decoded_any && d->n_corrupt >= MAX_BAD_BEFORE_AUDIO) {
    char err[128];
    av_err(code, err, sizeof err);
    return fail(d, KERN_E_FORMAT, "no decodable audio (%ld corrupt packets: %s)", d->n_corrupt,
                err);
  }
  return 0;
}

/* At the first frame: when the audio starts after the file's first
 * timestamp (a video whose sound begins later), emit that much silence
 * first so output time 0 is the file's time 0. The frame's timestamp is
 * taken after the decoder dropped its priming samples. */
static int
first_frame(aud_decoder *d)
{
  AVFrame *f = d->frame;
  d->first_seen = true;
  if (f->sample_rate != d->rs_rate && make_resampler(d, f->sample_rate) < 0)
    return d->status; /* nothing went through the old one yet */
  int64_t ts = f->best_effort_timestamp;
  if (ts == AV_NOPTS_VALUE || d->fmt->start_time == AV_NOPTS_VALUE)
    return 0;
  double lead = ts * av_q2d(d->fmt->streams[d->stream]->time_base) -
                (double)d->fmt->start_time / AV_TIME_BASE;
  /* Under 20 ms is codec priming bookkeeping (containers disagree by a few
   * ms), not a late start: leave it. */
  if (lead >= 0.02 && lead <= 24 * 3600.0) {
    d->lead_pad = llround(lead * f->sample_rate);
    d->frame_held = true;
  }
  return 0;
}

static int
ffmpeg_refill(aud_decoder *d)
{
  if (d->lead_pad > 0) {
    if (pend_reserve(d, SF_BLOCK, d->out_channels) < 0)
      return d->status;
    size_t n = d->lead_pad < SF_BLOCK ? (size_t)d->lead_pad : SF_BLOCK;
    memset(d->pend, 0, n * (size_t)d->out_channels * sizeof(float));
    d->pend_len = n;
    d->pend_pos = 0;
    d->lead_pad -= (long long)n;
    return 0;
  }
  if (d->frame_held) {
    d->frame_held = false;
    return take_frame(d);
  }
  for (;;) {
    int ret = avcodec_receive_frame(d->cc, d->frame);
    if (ret == 0) {
      d->errors_in_a_row = 0;
      if (d->frame->nb_samples <= 0 || d->frame->sample_rate <= 0) {
        av_frame_unref(d->frame);
        continue;
      }
      if (!d->first_seen) {
        if (first_frame(d) < 0)
          return d->status;
        if (d->frame_held)
          return ffmpeg_refill(d); /* silence first */
      }
      if (d->frame->sample_rate != d->rs_rate) {
        d->switching = true; /* read() drains the resampler, then takes the frame */
        return 0;
      }
      return take_frame(d);
    }
    if (ret == AVERROR_EOF) {
      d->src_eof = true;
      if (!d->decoded_any && d->n_corrupt > 0)
        return fail(d, KERN_E_FORMAT, "no decodable audio (%ld corrupt packet%s)", d->n_corrupt,
                    d->n_corrupt == 1 ? "" : "s");
      end_of_source_warnings(d);
      return 0;
    }
    if (ret != AVERROR(EAGAIN)) {
      if (note_corrupt(d, ret) < 0)
        return d->status;
      if (++d->errors_in_a_row > MAX_ERRORS_IN_A_ROW) {
        d->src_eof = true;
        end_of_source_warnings(d);
        return 0;
      }
      continue;
    }
    if (d->demux_eof) { /* drained but no EOF: do not spin */
      d->src_eof = true;
      end_of_source_warnings(d);
      return 0;
    }
    ret = av_read_frame(d->fmt, d->pkt);
    if (ret < 0) {
      if (ret == AVERROR(ENOMEM))
        return fail(d, KERN_E_NOMEM, "out of memory");
      if (ret != AVERROR_EOF)
        av_err(ret, d->read_error, sizeof d->read_error);
      d->demux_eof = true;
      avcodec_send_packet(d->cc, NULL); /* drain */
      continue;
    }
    if (d->pkt->stream_index != d->stream) {
      av_packet_unref(d->pkt);
      continue;
    }
    d->errors_in_a_row = 0;
    ret = avcodec_send_packet(d->cc, d->pkt);
    av_packet_unref(d->pkt);
    if (ret < 0 && ret != AVERROR(EAGAIN) && note_corrupt(d, ret) < 0)
      return d->status;
  }
}

/* ---- open / read / close ----------------------------------------------- */

static void
set_open_err(char **err, const char *path, const char *msg)
{
  if (err)
    *err = dup_printf("%s: %s", path, msg);
}

aud_decoder *
aud_decoder_open(const char *path, const aud_decode_params *params, char **err)
{
  if (err)
    *err = NULL;
  aud_decode_params p = params ? *params : aud_decode_default_params();
  if (!path || !*path) {
    if (err)
      *err = strdup("no file name given");
    return NULL;
  }
  if (p.sample_rate < 0 || p.sample_rate > MAX_OUT_RATE || p.backend < AUD_DECODE_AUTO ||
      p.backend > AUD_DECODE_FFMPEG) {
    set_open_err(err, path, "invalid decode parameters");
    return NULL;
  }

  char ebuf[128];
  struct stat sb;
  if (stat(path, &sb) != 0) {
    set_open_err(err, path, strerror_r(errno, ebuf, sizeof ebuf));
    return NULL;
  }
  if (S_ISDIR(sb.st_mode)) {
    set_open_err(err, path, "is a directory");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_open_err(err, path, strerror_r(errno, ebuf, sizeof ebuf));
    return NULL;
  }
  close(fd);
  if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
    set_open_err(err, path, "empty file");
    return NULL;
  }

  aud_decoder *d = calloc(1, sizeof *d);
  if (!d || !(d->path = strdup(path))) {
    free(d);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  d->p = p;
  d->stream = -1;
  d->duration = -1.0;
  d->trusted_dur = -1.0;

  int sf_code = SF_DECLINED;
  int opened = 0;
  if (p.backend != AUD_DECODE_FFMPEG)
    opened = sndfile_open(d, p.backend == AUD_DECODE_AUTO, &sf_code);
  if (!opened && p.backend != AUD_DECODE_SNDFILE)
    opened = ffmpeg_open(d);
  if (opened <= 0) {
    if (!d->errmsg[0]) {
      /* libsndfile's messages are sentences; drop the final period. */
      char why[128];
      snprintf(why, sizeof why, "%s",
               sf_code == SF_DECLINED ? "left to FFmpeg" : sf_error_number(sf_code));
      size_t n = strlen(why);
      if (n > 0 && why[n - 1] == '.')
        why[n - 1] = 0;
      if (p.backend == AUD_DECODE_SNDFILE)
        fail(d, KERN_E_FORMAT, "libsndfile cannot read it (%s)", why);
      else if (sf_code == SF_ERR_MALFORMED_FILE || sf_code == SF_ERR_UNSUPPORTED_ENCODING)
        fail(d, KERN_E_FORMAT, "damaged or unsupported (libsndfile: %s)", why);
      else
        fail(d, KERN_E_FORMAT, "not a recognized audio or video file");
    }
    if (err)
      *err = strdup(d->errmsg);
    aud_decoder_close(d);
    return NULL;
  }

  d->out_rate = p.sample_rate > 0 ? p.sample_rate : d->src_rate;
  d->out_channels = p.mono ? 1 : d->src_channels;
  if (make_resampler(d, d->src_rate) < 0) {
    if (err)
      *err = strdup(d->errmsg);
    aud_decoder_close(d);
    return NULL;
  }
  return d;
}

int
aud_decoder_read(aud_decoder *d, float *out, size_t max_frames, size_t *got)
{
  if (got)
    *got = 0;
  if (!d || !got || (max_frames && !out))
    return KERN_E_INVAL;
  if (d->status < 0)
    return d->status;
  if (d->done || max_frames == 0)
    return 0;

  const size_t oc = (size_t)d->out_channels;
  size_t n = 0;
  int ret = 0;
  while (n < max_frames) {
    if (d->pend_pos < d->pend_len) {
      size_t used = 0, made = 0;
      ret = aud_resampler_process(d->rs, d->pend + d->pend_pos * (size_t)d->pend_ch,
                                  d->pend_len - d->pend_pos, &used, out + n * oc,
                                  max_frames - n, &made);
      if (ret < 0) {
        fail(d, ret, "internal resampler error");
        break;
      }
      d->pend_pos += used;
      n += made;
      continue;
    }
    if (d->switching || d->src_eof) {
      size_t made = 0, room = max_frames - n;
      aud_resampler_flush(d->rs, out + n * oc, room, &made);
      n += made;
      if (made == room)
        break; /* more may follow */
      if (!d->switching) {
        d->done = true;
        break;
      }
      /* Drained: continue at the new rate with the waiting frame. */
      d->switching = false;
      if ((ret = make_resampler(d, d->frame->sample_rate)) < 0 || (ret = take_frame(d)) < 0)
        break;
      continue;
    }
    ret = d->kind == BK_SNDFILE ? sndfile_refill(d) : ffmpeg_refill(d);
    if (ret < 0)
      break;
  }
  d->produced += (long long)n;
  *got = n;
  /* Frames already made are handed out; the error comes with the next read. */
  if (d->status < 0 && n == 0)
    return d->status;
  return 0;
}

double
aud_decoder_duration(const aud_decoder *d)
{
  return d ? d->duration : -1.0;
}

double
aud_decoder_position(const aud_decoder *d)
{
  return d && d->out_rate > 0 ? (double)d->produced / d->out_rate : 0.0;
}

int
aud_decoder_sample_rate(const aud_decoder *d)
{
  return d ? d->out_rate : 0;
}

int
aud_decoder_channels(const aud_decoder *d)
{
  return d ? d->out_channels : 0;
}

int
aud_decoder_source_rate(const aud_decoder *d)
{
  return d ? d->src_rate : 0;
}

int
aud_decoder_source_channels(const aud_decoder *d)
{
  return d ? d->src_channels : 0;
}

const char *
aud_decoder_codec(const aud_decoder *d)
{
  return d ? d->codec : "";
}

const char *
aud_decoder_errmsg(const aud_decoder *d)
{
  return d ? d->errmsg : "no decoder";
}

const char *
aud_decoder_warning(const aud_decoder *d)
{
  return d && d->warning[0] ? d->warning : NULL;
}

const char *
aud_decoder_backend(const aud_decoder *d)
{
  if (!d)
    return "";
  return d->kind == BK_SNDFILE ? "libsndfile" : d->kind == BK_FFMPEG ? "ffmpeg" : "";
}

void
aud_decoder_close(aud_decoder *d)
{
  if (!d)
    return;
  if (d->sf)
    sf_close(d->sf);
  swr_free(&d->swr);
  av_channel_layout_uninit(&d->swr_layout);
  av_frame_free(&d->frame);
  av_packet_free(&d->pkt);
  avcodec_free_context(&d->cc);
  avformat_close_input(&d->fmt);
  aud_resampler_free(d->rs);
  free(d->pend);
  free(d->path);
  free(d);
}

float *
aud_decode_file(const char *path, int rate, size_t *n_samples, char **err)
{
  if (n_samples)
    *n_samples = 0;
  if (err)
    *err = NULL;
  aud_decode_params p = aud_decode_default_params();
  p.sample_rate = rate;
  aud_decoder *d = aud_decoder_open(path, &p, err);
  if (!d)
    return NULL;

  size_t cap = 1 << 14, len = 0;
  double dur = aud_decoder_duration(d);
  if (dur > 0 && dur < 4 * 3600.0)
    cap = (size_t)(dur * aud_decoder_sample_rate(d)) + 1024;
  float *buf = malloc(cap * sizeof(float));
  for (;;) {
    if (!buf) {
      if (err)
        *err = dup_printf("%s: out of memory", path);
      aud_decoder_close(d);
      return NULL;
    }
    if (len == cap) {
      float *nb = realloc(buf, cap * 2 * sizeof(float));
      if (!nb) {
        free(buf);
        buf = NULL;
        continue;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = 0;
    int ret = aud_decoder_read(d, buf + len, cap - len, &got);
    if (ret < 0) {
      if (err)
        *err = strdup(aud_decoder_errmsg(d));
      free(buf);
      aud_decoder_close(d);
      return NULL;
    }
    if (got == 0)
      break;
    len += got;
  }
  aud_decoder_close(d);
  if (n_samples)
    *n_samples = len;
  return buf;
}
