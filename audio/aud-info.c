/* aud-info.c: what this build of the audio library can do. */
#include "aud.h"

const char *
aud_build_info(void)
{
  /* Grows as decoders, capture and the Whisper model land. */
  return "audio: file decoding, capture and Whisper not built";
}
