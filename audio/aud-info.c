/* aud-info.c: what this build of the audio library can do. */
#include "aud.h"

#include <pthread.h>
#include <stdio.h>

#include "aud-decode.h"

static char info[256];
static pthread_once_t info_once = PTHREAD_ONCE_INIT;

static void
make_info(void)
{
  /* Grows as capture lands. */
  snprintf(info, sizeof info, "audio: %s; Whisper (ggml, GGUF, CTranslate2, Hugging Face); microphone capture not built",
           aud_decode_versions());
}

const char *
aud_build_info(void)
{
  pthread_once(&info_once, make_info);
  return info;
}
