/* fuzz-llm-hf.c: libFuzzer target for a Hugging Face language model
 * directory's tokenizer files (llm-hf.c): the SentencePiece protobuf
 * (tokenizer.model) and tokenizer_config.json's added tokens.
 *
 * The directory holds the tiny LLaVA of tests/data/vision/llava-hf (config and
 * weights, read once from the source tree: run from the repository root); an
 * input that starts with '{' is its tokenizer_config.json (beside the real
 * tokenizer.model), any other input its tokenizer.model. The view is walked
 * like an opened file, then a tokenizer is built from it and encodes a line. */
#include "fuzz-common.h"

#include "llm-hf.h"
#include "llm-tokenizer.h"

static void
copy_in(const char *dir, const char *name)
{
  char src[4096];
  snprintf(src, sizeof src, "tests/data/vision/llava-hf/%s", name);
  FILE *f = fopen(src, "rb");
  if (!f) {
    perror(src);
    abort();
  }
  static uint8_t buf[4 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  fuzz_write_file(dir, name, buf, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *dir = fuzz_scratch_dir();
  static int ready;
  if (!ready) {
    copy_in(dir, "config.json");
    copy_in(dir, "model.safetensors");
    ready = 1;
  }
  int config = size > 0 && data[0] == '{';
  if (config)
    copy_in(dir, "tokenizer.model");
  else
    copy_in(dir, "tokenizer_config.json");
  fuzz_write_file(dir, config ? "tokenizer_config.json" : "tokenizer.model", data, size);
  char *err = NULL;
  kern_weights *w = kern_weights_open(dir, &err);
  FUZZ_CHECK(w != NULL);
  kern_weights *v = llm_hf_view(w, &err);
  if (!v) {
    FUZZ_CHECK(err != NULL);
    free(err);
    return 0;
  }
  llm_tokenizer *t = llm_tokenizer_new(v, &err);
  if (t) {
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    static const char text[] = "Hello <image> world, 1906-1992!";
    if (llm_tokenizer_encode(t, text, sizeof text - 1, 1, 1, &ids, &n, &cap) == 0)
      fuzz_sink += n;
    free(ids);
    llm_tokenizer_free(t);
  } else {
    free(err);
  }
  fuzz_walk_weights(v);
  return 0;
}
