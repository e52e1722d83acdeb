/* vis-image.h: image files -> 8-bit RGB -> CLIP input tensors.
 *
 * Loading: JPEG, PNG, WebP, GIF (first frame), BMP and TIFF. EXIF orientation
 * is applied (the result is the picture as a viewer shows it); alpha is
 * composited on white; grey, palette and 16-bit images become 8-bit RGB.
 * The pixel count is checked against the header before any pixel is
 * decoded, so a 20000x20000 file is refused without allocating for it.
 * A corrupt, truncated, empty or non-image file is an error naming the file;
 * a file cut short is refused, never returned partly blank (the structure of
 * JPEG, PNG and uncompressed BMP is walked to its end before decoding; the
 * GIF, TIFF and WebP decoders refuse a cut file themselves; a cut
 * run-length-coded BMP is the one case that can come back partly blank).
 * Corruption inside the compressed data that the decoder can step over
 * (a flipped byte in a JPEG scan) gives a picture, as in any viewer. The format is
 * told by the first bytes, not the extension. Decoders: gdk-pixbuf (JPEG, PNG,
 * GIF, BMP, TIFF), libwebp (WebP); see vis-image.c.
 *
 * EXIF orientation is read from JPEG and TIFF (by gdk-pixbuf), PNG's eXIf
 * chunk and WebP's EXIF chunk, as Pillow's ImageOps.exif_transpose() does.
 * Alpha over white: c * a / 255 + 255 - a, rounded (transformers'
 * convert_to_rgb does the same with Pillow's alpha_composite; within 1).
 * 16-bit samples keep their high byte.
 *
 * Preprocessing reproduces Hugging Face's CLIPImageProcessor (the slow, PIL
 * one: resample=3 bicubic on 8-bit pixels, rounded back to 8 bits, then
 * center crop, rescale 1/255 and mean/std normalization) and LLaVA's
 * "pad" aspect mode (expand to a square filled with the mean colour, the
 * image centred, before the same resize). The output equals transformers'
 * CLIPImageProcessor (PIL backend) bit for bit on the golden cases of
 * tests/test-vision-image.c; vis-preprocess.c spells out the arithmetic.
 *
 * Threads: no shared state of Hark's; any function may run on any thread,
 * several at once (gdk-pixbuf's loader list is shared under its own lock, and
 * the loaders used are flagged thread-safe: see vis-image.c). Nothing here
 * calls back.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"

/* A decoded picture, upright. */
typedef struct {
  int width, height;
  uint8_t *rgb; /* [height][width][3], owned; free with vis_image_clear() */
} vis_image;

typedef struct {
  int64_t max_pixels; /* width * height above this is refused before decoding.
                         Default 100 000 000 (a 100-megapixel photo) */
  int max_side;       /* either side above this is refused. Default 32768 */
} vis_image_params;

vis_image_params vis_image_default_params(void);

/* Decodes the file at path into *img (zeroed first). Returns 0, or a negative
 * kern_status with *err (if err is not NULL) set to a message naming the file
 * that the caller frees with free(): KERN_E_IO (cannot read), KERN_E_FORMAT
 * (not an image, corrupt, truncated, no frames), KERN_E_UNSUPPORTED (too large
 * for the params, or a format this build cannot decode). p may be NULL for the
 * defaults. */
int vis_image_load(const char *path, const vis_image_params *p, vis_image *img, char **err);

/* The same from bytes in memory (a pasted image); name is used in messages. */
int vis_image_load_memory(const void *data, size_t size, const char *name, const vis_image_params *p,
                          vis_image *img, char **err);

/* Frees img->rgb and zeroes *img; safe on a zeroed or cleared image. */
void vis_image_clear(vis_image *img);

/* Whether path's extension names an image format vis_image_load reads
 * (case-insensitive: jpg, jpeg, png, webp, gif, bmp, tif, tiff). For folder scans. */
int vis_image_is_image_name(const char *path);

typedef enum {
  VIS_FIT_CROP = 0, /* shortest side to shortest_edge, then center crop (CLIPImageProcessor) */
  VIS_FIT_PAD,      /* pad to a square of the mean colour first (LLaVA image_aspect_ratio "pad"):
                       colour int(mean * 255) per channel, the image at offset (long - short) / 2
                       on the short axis; then as VIS_FIT_CROP */
  VIS_FIT_STRETCH,  /* resize both sides to the crop size, ignoring the aspect ratio
                       (shortest_edge unused) */
} vis_fit;

typedef struct {
  int shortest_edge;  /* resize target of the shorter side, e.g. 336; the longer side becomes
                         int(shortest_edge * long / short), truncated, as transformers does */
  int crop_width;     /* output width, e.g. 336 */
  int crop_height;    /* output height, e.g. 336 */
  vis_fit fit;
  float mean[3];      /* per channel, on the 0..1 scale */
  float std[3];
} vis_preprocess_params;

/* CLIP's defaults: 224, crop, OpenAI CLIP mean and std. */
vis_preprocess_params vis_preprocess_default_params(void);

/* img -> out[3][crop_height][crop_width] (planar RGB, normalized), the
 * pixel_values a Hugging Face processor makes. out is the caller's. Returns 0 or
 * KERN_E_INVAL (bad params: sizes < 1 or > 8192, a std of 0, a mean or std
 * not finite, an unknown fit) with *err set; KERN_E_NOMEM. A crop larger than
 * the resized image is padded with zeros before normalization, as HF does.
 * Only the crop window is resampled: memory and time follow the crop size and
 * the source height, not the resize size (a 1 x 4000 strip is cheap). */
int vis_preprocess(const vis_image *img, const vis_preprocess_params *p, float *out, char **err);
