/* aud-capture.h: microphone input through PortAudio.
 *
 * Lists the input devices, opens one (by index, by name, or the default) at
 * its native rate and channel count, and hands each block of interleaved
 * float samples to a callback. Nothing is converted here: the consumer
 * (aud-dictate.c) resamples.
 *
 * Threads: on_audio runs on PortAudio's audio thread and must not block
 * (no locks, no allocation, no I/O): copy into a lock-free ring and return.
 * Everything else is for one controlling thread. ALSA's own diagnostics,
 * which it would print to stderr while PortAudio probes devices, are
 * silenced while this library has PortAudio open.
 *
 * A device that disappears mid-stream (unplugged, sound server gone) stops
 * delivering audio; aud_capture_alive() says so, and the stream is then
 * over: close it.
 */
#pragma once

#include <stddef.h>

#include "kern-error.h"

typedef struct {
  int index;            /* PortAudio device index; what --input N selects */
  char name[256];
  char host_api[64];    /* "ALSA", "JACK", ... */
  int max_channels;
  double default_rate;
  int is_default;       /* the default input device */
} aud_capture_device;

/* Input devices into *out (malloc'd array, free() it), *n of them. 0, or a
 * negative code with *err (malloc'd) when PortAudio cannot start. No devices
 * is not an error (*n == 0). */
int aud_capture_list(aud_capture_device **out, int *n, char **err);

typedef struct aud_capture aud_capture;

/* Called on the audio thread with `frames` interleaved frames. */
typedef void (*aud_capture_fn)(const float *samples, size_t frames, void *user_data);

/* Opens `device` (not yet started): NULL or "" or "default" for the default input,
 * a number for that device index, else the first input device whose name
 * contains the string (case-insensitive). The stream runs at the device's
 * default rate with up to 2 channels. NULL with *err (malloc'd) when there
 * is no such device, no input device at all, or the stream does not start. */
aud_capture *aud_capture_open(const char *device, aud_capture_fn on_audio, void *user_data, char **err);
/* Starts the stream: on_audio is called from now on. 0 or KERN_E_IO with *err. */
int aud_capture_start(aud_capture *c, char **err);
/* Stops and closes the stream; NULL is a no-op. on_audio is not called after
 * this returns. */
void aud_capture_close(aud_capture *c);

double aud_capture_rate(const aud_capture *c);
int aud_capture_channels(const aud_capture *c);
const char *aud_capture_device_name(const aud_capture *c);
/* 1 while the device delivers audio (and before aud_capture_start); 0 once
 * the stream has stopped or no audio has come for `timeout_s` seconds (the
 * device is gone). May be called from another thread than the one that
 * opened the stream while it runs. */
int aud_capture_alive(aud_capture *c, double timeout_s);
