/* aud-vad.h: voice activity detection on 16 kHz mono audio, one 32 ms chunk
 * (512 samples) at a time.
 *
 * Two detectors behind one interface:
 *   - Silero VAD (v5/v6 16 kHz network) from whisper.cpp's ggml VAD file,
 *     run on the CPU in plain C: an STFT front end (256-point basis, hop
 *     128, on the chunk with the previous 64 samples as context and a
 *     reflected right edge), four conv+ReLU blocks, an LSTM cell whose state
 *     carries from chunk to chunk, and a 1x1 conv with a sigmoid. Gives the
 *     same speech probability as the silero-vad Python package's model for
 *     the same chunk sequence (tests/test-audio-vad.c measures the gap).
 *   - An energy detector for when the model file is absent: a chunk's RMS
 *     level against a tracked noise floor, mapped to 0..1 so the same
 *     thresholds apply.
 *
 * A detector is stateful (context, LSTM state, noise floor): feed chunks in
 * order and call aud_vad_reset() between unrelated streams. One detector
 * serves one thread at a time; it allocates only when created.
 */
#pragma once

#include <stddef.h>

#include "kern-error.h"

#define AUD_VAD_SAMPLE_RATE 16000
#define AUD_VAD_CHUNK 512 /* samples per aud_vad_process call */

typedef struct aud_vad aud_vad;

/* Loads Silero from whisper.cpp's ggml VAD file (e.g. ggml-silero-v6.2.0.bin).
 * NULL with *err (malloc'd, names the file) when it is missing, malformed, or
 * holds a network of another shape than Silero's 16 kHz model. */
aud_vad *aud_vad_open(const char *path, char **err);
/* The energy-based detector; never fails except out of memory (NULL). */
aud_vad *aud_vad_new_energy(void);
void aud_vad_free(aud_vad *v);

/* "silero" or "energy". */
const char *aud_vad_kind(const aud_vad *v);

/* Speech probability (0..1) of the next AUD_VAD_CHUNK samples (16 kHz mono,
 * nominally in [-1, 1]). Returns 0, or KERN_E_INVAL for NULL arguments. */
int aud_vad_process(aud_vad *v, const float *chunk, float *prob);

/* Forgets the stream so far (context, recurrent state, noise floor). */
void aud_vad_reset(aud_vad *v);

/* RMS level of n samples in dBFS (a full-scale sine reads -3 dB); -120 for
 * silence or n == 0. */
float aud_level_dbfs(const float *x, size_t n);
