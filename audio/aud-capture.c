/* aud-capture.c: PortAudio input streams (see aud-capture.h). */
#include "aud-capture.h"

#include <alsa/asoundlib.h>
#include <ctype.h>
#ifdef HARK_HAVE_JACK
#include <jack/jack.h>
#endif
#include <portaudio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aud-private.h"

struct aud_capture {
  PaStream *stream;
  aud_capture_fn on_audio;
  void *user_data;
  double rate;
  int channels;
  char name[256];
  double opened_at;
  _Atomic double last_audio; /* monotonic seconds of the last callback */
  atomic_int finished;
  atomic_int started;
};

static double
now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ALSA prints every failed probe of its configuration to stderr, and JACK
 * that no JACK server runs, while PortAudio looks for devices; the engine
 * never writes there. */
static void
alsa_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...)
{
  (void)file, (void)line, (void)function, (void)err, (void)fmt;
}

#ifdef HARK_HAVE_JACK
static void
jack_quiet(const char *m)
{
  (void)m;
}
#endif

/* PortAudio's initialization count and device list are process-wide and not
 * thread-safe: the window lists microphones on one thread while dictation
 * opens one on another. Every call that starts, stops or enumerates holds this. */
static pthread_mutex_t pa_lock = PTHREAD_MUTEX_INITIALIZER;

static PaError
pa_start(void)
{
  snd_lib_error_set_handler(alsa_quiet);
#ifdef HARK_HAVE_JACK
  jack_set_error_function(jack_quiet);
  jack_set_info_function(jack_quiet);
#endif
  return Pa_Initialize();
}

static int
is_input(const PaDeviceInfo *info)
{
  return info && info->maxInputChannels > 0;
}

static int
list_locked(aud_capture_device **out, int *n, char **err)
{
  *out = NULL;
  *n = 0;
  PaError pe = pa_start();
  if (pe != paNoError) {
    if (err)
      *err = _aud_strdup_printf("cannot start PortAudio: %s", Pa_GetErrorText(pe));
    return KERN_E_IO;
  }
  int count = Pa_GetDeviceCount();
  PaDeviceIndex def = Pa_GetDefaultInputDevice();
  aud_capture_device *devs = count > 0 ? calloc((size_t)count, sizeof *devs) : NULL;
  if (count > 0 && !devs) {
    Pa_Terminate();
    if (err)
      *err = strdup("out of memory");
    return KERN_E_NOMEM;
  }
  int k = 0;
  for (int i = 0; i < count; i++) {
    const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
    if (!is_input(info))
      continue;
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    aud_capture_device *d = &devs[k++];
    d->index = i;
    snprintf(d->name, sizeof d->name, "%s", info->name ? info->name : "?");
    snprintf(d->host_api, sizeof d->host_api, "%s", api && api->name ? api->name : "?");
    d->max_channels = info->maxInputChannels;
    d->default_rate = info->defaultSampleRate;
    d->is_default = i == def;
  }
  Pa_Terminate();
  *out = devs;
  *n = k;
  return 0;
}

static int
stream_cb(const void *input, void *output, unsigned long frames, const PaStreamCallbackTimeInfo *time_info,
          PaStreamCallbackFlags flags, void *user_data)
{
  (void)output, (void)time_info, (void)flags;
  aud_capture *c = user_data;
  atomic_store(&c->last_audio, now_s());
  if (input && frames > 0)
    c->on_audio(input, (size_t)frames, c->user_data);
  return paContinue;
}

static void
finished_cb(void *user_data)
{
  aud_capture *c = user_data;
  atomic_store(&c->finished, 1);
}

static int
contains_nocase(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n)
      return 1;
  }
  return 0;
}

/* The device `spec` names; paNoDevice with *err set when none. */
static PaDeviceIndex
find_device(const char *spec, char **err)
{
  int count = Pa_GetDeviceCount();
  if (!spec || !spec[0] || strcmp(spec, "default") == 0) {
    PaDeviceIndex def = Pa_GetDefaultInputDevice();
    if (def == paNoDevice || !is_input(Pa_GetDeviceInfo(def)))
      *err = strdup("no default input device (is a microphone connected? 'hark dictate --list-inputs' shows "
                    "what there is)");
    return def;
  }
  char *end;
  long idx = strtol(spec, &end, 10);
  if (*end == '\0' && end != spec) {
    if (idx < 0 || idx >= count || !is_input(Pa_GetDeviceInfo((PaDeviceIndex)idx))) {
      *err = _aud_strdup_printf("no input device number %s", spec);
      return paNoDevice;
    }
    return (PaDeviceIndex)idx;
  }
  for (int i = 0; i < count; i++) {
    const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
    if (is_input(info) && info->name && contains_nocase(info->name, spec))
      return i;
  }
  *err = _aud_strdup_printf("no input device whose name contains '%s'", spec);
  return paNoDevice;
}

int
aud_capture_list(aud_capture_device **out, int *n, char **err)
{
  pthread_mutex_lock(&pa_lock);
  int rc = list_locked(out, n, err);
  pthread_mutex_unlock(&pa_lock);
  return rc;
}

static aud_capture *
open_locked(const char *device, aud_capture_fn on_audio, void *user_data, char **err)
{
  char *dummy = NULL;
  if (!err)
    err = &dummy;
  *err = NULL;
  if (!on_audio) {
    *err = strdup("no audio callback");
    return NULL;
  }
  PaError pe = pa_start();
  if (pe != paNoError) {
    *err = _aud_strdup_printf("cannot start PortAudio: %s", Pa_GetErrorText(pe));
    return NULL;
  }
  aud_capture *c = calloc(1, sizeof *c);
  if (!c) {
    Pa_Terminate();
    *err = strdup("out of memory");
    return NULL;
  }
  PaDeviceIndex dev = find_device(device, err);
  if (dev == paNoDevice) {
    if (!*err)
      *err = strdup("no input device");
    goto fail;
  }
  const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
  c->on_audio = on_audio;
  c->user_data = user_data;
  c->rate = info->defaultSampleRate > 0 ? info->defaultSampleRate : 48000;
  c->channels = info->maxInputChannels >= 2 ? 2 : 1;
  snprintf(c->name, sizeof c->name, "%s", info->name ? info->name : "?");
  PaStreamParameters in = {
    .device = dev,
    .channelCount = c->channels,
    .sampleFormat = paFloat32,
    .suggestedLatency = info->defaultLowInputLatency,
  };
  pe = Pa_OpenStream(&c->stream, &in, NULL, c->rate, paFramesPerBufferUnspecified, paNoFlag, stream_cb, c);
  if (pe != paNoError) {
    *err = _aud_strdup_printf("cannot open input '%s' at %.0f Hz: %s", c->name, c->rate, Pa_GetErrorText(pe));
    c->stream = NULL;
    goto fail;
  }
  Pa_SetStreamFinishedCallback(c->stream, finished_cb);
  free(dummy);
  return c;

fail:
  if (c->stream)
    Pa_CloseStream(c->stream);
  free(c);
  Pa_Terminate();
  free(dummy);
  return NULL;
}

aud_capture *
aud_capture_open(const char *device, aud_capture_fn on_audio, void *user_data, char **err)
{
  pthread_mutex_lock(&pa_lock);
  aud_capture *c = open_locked(device, on_audio, user_data, err);
  pthread_mutex_unlock(&pa_lock);
  return c;
}

int
aud_capture_start(aud_capture *c, char **err)
{
  c->opened_at = now_s();
  atomic_store(&c->last_audio, c->opened_at);
  PaError pe = Pa_StartStream(c->stream);
  if (pe != paNoError) {
    if (err)
      *err = _aud_strdup_printf("cannot start input '%s': %s", c->name, Pa_GetErrorText(pe));
    return KERN_E_IO;
  }
  atomic_store(&c->started, 1);
  return 0;
}

void
aud_capture_close(aud_capture *c)
{
  if (!c)
    return;
  /* Abort rather than stop: a stream whose device is gone may never drain. */
  pthread_mutex_lock(&pa_lock);
  Pa_AbortStream(c->stream);
  Pa_CloseStream(c->stream);
  Pa_Terminate();
  pthread_mutex_unlock(&pa_lock);
  free(c);
}

double
aud_capture_rate(const aud_capture *c)
{
  return c->rate;
}

int
aud_capture_channels(const aud_capture *c)
{
  return c->channels;
}

const char *
aud_capture_device_name(const aud_capture *c)
{
  return c->name;
}

int
aud_capture_alive(aud_capture *c, double timeout_s)
{
  if (!atomic_load(&c->started))
    return 1; /* not started yet: nothing can have been lost */
  if (atomic_load(&c->finished) || Pa_IsStreamActive(c->stream) != 1)
    return 0;
  return now_s() - atomic_load(&c->last_audio) < timeout_s;
}
