/* fuzz-ct2.c: libFuzzer target for the CTranslate2 reader (kern-ct2.c).
 *
 * CTranslate2 models are directories: the input becomes model.bin beside a
 * fixed config.json and vocabulary.json (those of tests/data/ct2-tiny). */
#include "fuzz-common.h"

static const char config_json[] =
  "{\"alignment_heads\": [[0, 1]], \"lang_ids\": [3], \"suppress_ids\": [1, 2], \"suppress_ids_begin\": [5]}\n";
static const char vocabulary_json[] =
  "[\"!\", \"\\\"\", \"\\u00e9\", \"\\u65e5\\u672c\", \"\\u0120hello\", \"<|endoftext|>\"]\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  const char *dir = fuzz_scratch_dir();
  if (!ready) {
    fuzz_write_file(dir, "config.json", config_json, sizeof config_json - 1);
    fuzz_write_file(dir, "vocabulary.json", vocabulary_json, sizeof vocabulary_json - 1);
    ready = 1;
  }
  fuzz_write_file(dir, "model.bin", data, size);
  fuzz_open_and_walk(dir);
  return 0;
}
