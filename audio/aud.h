/* aud.h: public header of the audio/ engine library.
 *
 * Audio decode, capture, log-mel, VAD and the Whisper model.
 * Never includes GTK; errors are kern_status codes with a message (see kern-error.h).
 */
#pragma once

#include "kern-error.h"

/* One line naming what this build of the audio/ library supports
 * (file decoders, microphone capture, Whisper); static storage, never NULL. */
const char *aud_build_info(void);
