/* aud-decode.h: any audio or video file -> float32 samples at a chosen rate.
 *
 * A pull decoder: open a file, read chunks of float frames (mono at 16 kHz by
 * default) until a read gives 0 frames, close. Memory stays flat however
 * long the file is: only one codec frame or one 4096-frame block of the
 * source is held at a time, resampled on the fly (aud-resample.h).
 *
 * Backends (aud_decoder_backend() names the one in use):
 *  - libsndfile for the uncompressed family it reads natively: WAV, AIFF, AU,
 *    CAF, W64, RF64 ... at any bit depth, float, A-law/u-law, ADPCM. Exact
 *    frame counts from the header, a clean "shorter than its header" check,
 *    and a few exotic containers FFmpeg lacks.
 *  - FFmpeg (libavformat + libavcodec) for every compressed stream and every
 *    other container: MP3, AAC/M4A, Opus, Vorbis, FLAC, WebM, MP4, MKV ...,
 *    taking the "best" audio stream of a video file. libsndfile 1.2 opens
 *    FLAC, Ogg Vorbis/Opus and MP3 too, but measured on damaged files it
 *    does worse: it stops at the first lost sync in a FLAC (a 20 s file with
 *    2 KB of garbage in the middle: 9.9 s decoded, FFmpeg 19.6 s), refuses a
 *    truncated Ogg Opus outright, leaks the Vorbis setup on a damaged Ogg
 *    Vorbis it cannot open, and its MP3 reader (mpg123) prints warnings to
 *    stderr. So AUTO never hands those to libsndfile: it recognizes them by
 *    their first bytes or their extension before libsndfile probes.
 *    The price, measured: FFmpeg's Vorbis output of the test clip is 128
 *    samples (3 ms) shorter than libvorbis's through libsndfile.
 * FFmpeg's libswresample only converts the sample format and remixes the
 * channel layout (LFE-aware); every rate change goes through aud-resample, so
 * both backends resample identically (>= 99 dB stopband measured, zero delay,
 * exact output length). A stream whose rate changes midway (MP3s joined
 * end to end) is resampled piece by piece; with mono off, a change in the
 * channel count is an error.
 *
 * Damaged files: the decoder returns every sample it can decode. A truncated
 * file ends early; corrupt packets mid-stream are skipped. Either way reading
 * still ends with success and aud_decoder_warning() says what happened
 * ("talk.mp3: 3 corrupt packets skipped", "only 0.21 s of 0.44 s decoded
 * (truncated or damaged?)"). The length check needs a length in the headers:
 * a cut Ogg file or MKV simply reports the shorter length and ends without a
 * warning. A file cut inside its headers, or whose audio cannot be decoded
 * at all, is an error at open or at the first read.
 *
 * Timing: output sample 0 is the start of the file. When a container starts
 * its audio track later than its other streams (the audio of a video that
 * begins after the picture) by 20 ms or more, the gap is filled with silence
 * so transcript times line up with the video (smaller offsets are codec
 * priming bookkeeping, which containers disagree on by a few ms); later gaps
 * in timestamps are not filled.
 *
 * FFmpeg logs through one process-wide callback. The first aud_decoder_open()
 * that uses FFmpeg installs a quiet one (nothing on stderr; set
 * HARK_FFMPEG_LOG=1 to see FFmpeg's messages) unless the application calls
 * aud_decode_keep_ffmpeg_log() first.
 *
 * Threads: one decoder is used by one thread at a time; different decoders
 * may run on different threads at once. Nothing here calls back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kern-error.h"

typedef struct aud_decoder aud_decoder;

typedef enum {
  AUD_DECODE_AUTO = 0,     /* libsndfile where it is the better choice, else FFmpeg */
  AUD_DECODE_SNDFILE,      /* libsndfile only */
  AUD_DECODE_FFMPEG,       /* FFmpeg only */
} aud_decode_backend;

typedef struct {
  int sample_rate;            /* output rate in Hz; 0 keeps the source rate. Default 16000 */
  bool mono;                  /* mix all channels down to one. Default true;
                                 false keeps the source's channels, interleaved */
  aud_decode_backend backend; /* default AUD_DECODE_AUTO */
} aud_decode_params;

/* The defaults: 16000 Hz, mono, automatic backend. */
aud_decode_params aud_decode_default_params(void);

/* Open `path` (any file libsndfile or FFmpeg reads) for decoding. p == NULL
 * means the defaults. Returns NULL on failure and, when err is not NULL,
 * sets *err to a malloc'd one-line message naming the file and the problem
 * ("talk.mp4: no audio stream"); the caller frees it. Reads the headers only;
 * FFmpeg may read a few packets to learn the stream parameters. */
aud_decoder *aud_decoder_open(const char *path, const aud_decode_params *p, char **err);

/* Decode up to max_frames frames into out (max_frames * channels floats,
 * see aud_decoder_channels()); *got says how many. Fills `out` completely
 * unless the end of the audio comes first. Returns 0 with *got == 0 at the
 * end, 0 with *got > 0 before it, or a negative kern_status (KERN_E_IO,
 * KERN_E_FORMAT, KERN_E_NOMEM, KERN_E_INVAL) with aud_decoder_errmsg() set;
 * after an error every further read returns the same code. */
int aud_decoder_read(aud_decoder *d, float *out, size_t max_frames, size_t *got);

/* Seconds of source audio according to the file's headers; < 0 when unknown.
 * An estimate for some files (MP3 without a Xing header): for progress and
 * ETA, not for bookkeeping. */
double aud_decoder_duration(const aud_decoder *d);

/* Seconds of output produced so far (frames read / output rate). */
double aud_decoder_position(const aud_decoder *d);

/* Output rate in Hz and channels per output frame (1 when mono). */
int aud_decoder_sample_rate(const aud_decoder *d);
int aud_decoder_channels(const aud_decoder *d);

/* The source: its sample rate, channel count and codec ("pcm_s16le", "mp3",
 * "FLAC"...); static or decoder-owned strings, valid until close. */
int aud_decoder_source_rate(const aud_decoder *d);
int aud_decoder_source_channels(const aud_decoder *d);
const char *aud_decoder_codec(const aud_decoder *d);

/* The message of the last failed call, "" when none; owned by the decoder,
 * valid until the next call on it. */
const char *aud_decoder_errmsg(const aud_decoder *d);

/* A one-line note on damage found so far (truncation, skipped corrupt
 * packets), NULL when none; owned by the decoder. Check it after the last read. */
const char *aud_decoder_warning(const aud_decoder *d);

/* "libsndfile" or "ffmpeg"; static storage. */
const char *aud_decoder_backend(const aud_decoder *d);

/* Close the decoder and free everything; NULL is a no-op. */
void aud_decoder_close(aud_decoder *d);

/* Decode a whole file to mono float at `rate` Hz (0 keeps the source rate).
 * For short clips and tests: the result is held whole. Returns a malloc'd
 * array of *n_samples floats (freed by the caller; a non-NULL empty array for
 * a file with no samples), or NULL with *err set as for aud_decoder_open().
 * Warnings are dropped. */
float *aud_decode_file(const char *path, int rate, size_t *n_samples, char **err);

/* Leave FFmpeg's log callback alone: call before the first open if the
 * application installs its own av_log callback. */
void aud_decode_keep_ffmpeg_log(void);

/* Library versions compiled in, e.g. "libsndfile 1.2.0, FFmpeg libavformat
 * 59.27"; static storage. */
const char *aud_decode_versions(void);
