/* fuzz-gguf.c: libFuzzer target for the GGUF reader (kern-gguf.c). */
#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_open_and_walk(fuzz_memfd_path(data, size));
  return 0;
}
