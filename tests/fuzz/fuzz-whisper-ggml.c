/* fuzz-whisper-ggml.c: libFuzzer target for whisper.cpp's ggml .bin reader
 * (kern-whisper-ggml.c). */
#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_open_and_walk(fuzz_memfd_path(data, size));
  return 0;
}
