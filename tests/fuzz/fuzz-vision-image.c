/* fuzz-vision-image.c: libFuzzer target for image decoding (vis-image.c).
 *
 * The input is decoded from memory under small limits (4 megapixels, so the
 * fuzzer's memory limit measures leaks and overreads, not big pictures); a
 * picture that comes back is checked and preprocessed to 32x32, every output
 * value finite. The EXIF parser also gets the raw input. Failed checks call
 * __builtin_trap() so libFuzzer saves the input. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "vis-image-private.h"
#include "vis-image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink;

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond))         \
      __builtin_trap();  \
  } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int o = vis_exif_orientation(data, size);
  FUZZ_CHECK(o >= 1 && o <= 8);

  vis_image_params p = vis_image_default_params();
  p.max_pixels = 1 << 22;
  p.max_side = 4096;
  vis_image img;
  char *err = NULL;
  int rc = vis_image_load_memory(data, size, "fuzz", &p, &img, &err);
  if (rc != 0) {
    FUZZ_CHECK(rc == KERN_E_FORMAT || rc == KERN_E_UNSUPPORTED || rc == KERN_E_NOMEM);
    FUZZ_CHECK(err != NULL && img.rgb == NULL);
    free(err);
    return 0;
  }
  FUZZ_CHECK(err == NULL && img.rgb != NULL);
  FUZZ_CHECK(img.width >= 1 && img.height >= 1 && (int64_t)img.width * img.height <= p.max_pixels);
  uint64_t sum = 0;
  for (size_t i = 0; i < (size_t)img.width * img.height * 3; i++)
    sum += img.rgb[i];
  fuzz_sink += sum;

  vis_preprocess_params pp = vis_preprocess_default_params();
  pp.shortest_edge = pp.crop_width = pp.crop_height = 32;
  pp.fit = (vis_fit)(size % 3);
  float out[3 * 32 * 32];
  FUZZ_CHECK(vis_preprocess(&img, &pp, out, NULL) == 0);
  for (size_t i = 0; i < 3 * 32 * 32; i++)
    FUZZ_CHECK(isfinite(out[i]));
  vis_image_clear(&img);
  return 0;
}
