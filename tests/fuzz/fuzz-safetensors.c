/* fuzz-safetensors.c: libFuzzer target for the safetensors reader
 * (kern-safetensors.c).
 *
 * An input that starts with '{' is a model.safetensors.index.json, read in a
 * directory that holds two fixed shards and a config.json; any other input is
 * a single .safetensors file. */
#include "fuzz-common.h"

/* A safetensors file: u64 header length, the JSON header, then the data. */
static void
write_shard(const char *dir, const char *name, const char *header, const void *payload, size_t n)
{
  uint8_t buf[512];
  uint64_t len = strlen(header);
  memcpy(buf, &len, 8);
  memcpy(buf + 8, header, len);
  memcpy(buf + 8 + len, payload, n);
  fuzz_write_file(dir, name, buf, 8 + len + n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  if (size == 0 || data[0] != '{') {
    fuzz_open_and_walk(fuzz_memfd_path(data, size));
    return 0;
  }
  const char *dir = fuzz_scratch_dir();
  if (!ready) {
    static const char config[] = "{\"model_type\": \"test\", \"hidden_size\": 2, \"layers\": [1, 2]}";
    static const float a[2] = { 1.0f, -2.0f };
    static const int8_t b[3] = { 1, 2, 3 };
    fuzz_write_file(dir, "config.json", config, sizeof config - 1);
    write_shard(dir, "model-00001-of-00002.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, sizeof a);
    write_shard(dir, "model-00002-of-00002.safetensors",
                "{\"__metadata__\":{\"format\":\"pt\"},"
                "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}",
                b, sizeof b);
    ready = 1;
  }
  fuzz_write_file(dir, "model.safetensors.index.json", data, size);
  fuzz_open_and_walk(dir);
  return 0;
}
