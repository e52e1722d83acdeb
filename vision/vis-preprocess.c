/* vis-preprocess.c: 8-bit RGB -> CLIP pixel_values (see vis-image.h).
 *
 * The arithmetic of the reference, step by step (the golden test checks the
 * result bit for bit against Hugging Face's CLIPImageProcessor, PIL backend):
 *
 * Output size of the resize (HF get_resize_output_image_size): the short
 * side becomes shortest_edge, the long side int(shortest_edge * long / short)
 * -- truncated, computed in double after an exact integer product.
 *
 * Resize (Pillow's Image.resize, BICUBIC, reducing_gap None, on 8-bit RGB):
 * separable, horizontal pass first (only when the width changes), then
 * vertical (only when the height changes), each pass rounded and clipped
 * back to 8 bits. Per output index i of a pass from n to m samples:
 *   scale = n / m; filterscale = max(scale, 1); support = 2 * filterscale
 *   center = (i + 0.5) * scale
 *   first = max(0, (int)(center - support + 0.5)); end = min(n, (int)(center + support + 0.5))
 *   w[j] = K(((first + j) - center + 0.5) / filterscale), normalized to sum 1
 *   with K the Keys cubic, a = -0.5; then each weight to fixed point with 22
 *   fraction bits (rounded half away from zero), the sum started at 2^21
 *   and the result floor(sum / 2^22) clipped to 0..255.
 * (The division by filterscale is a multiplication by 1/filterscale there,
 * and the normalization a division by the sum; both kept as Pillow does.)
 *
 * Center crop (HF center_crop): output row i is resized row
 * i + floor((rh - crop_height) / 2), zeros where that falls outside (an
 * image smaller than the crop is padded with zeros, centred, the odd row of
 * zeros at the top: HF pads ceil(diff / 2) before); the same for columns.
 * The zeros are 8-bit zeros, so they come out as (0 - mean) / std.
 *
 * Rescale and normalize: v8 * (1/255) in double, rounded to float, then
 * (x - mean) / std in float.
 *
 * Only the output window is computed: weights for the crop's rows and
 * columns, the horizontal pass only on the source rows those rows need.
 * Memory is O(crop width x source height) whatever the resize size, so a
 * 1 x 10000 image (resized to 224 x 2240000 by the reference) costs little.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vis-image-private.h"
#include "vis-image.h"

#define PREC_BITS 22 /* Pillow's 8-bit path: 32 - 8 bits of result - 2 bits of headroom */
#define MAX_SIZE 8192


vis_preprocess_params
vis_preprocess_default_params(void)
{
  return (vis_preprocess_params){
    .shortest_edge = 224,
    .crop_width = 224,
    .crop_height = 224,
    .fit = VIS_FIT_CROP,
    .mean = { 0.48145466f, 0.4578275f, 0.40821073f },
    .std = { 0.26862954f, 0.26130258f, 0.27577711f },
  };
}

/* ---- the resampling filter ------------------------------------------------ */

/* Keys' cubic convolution kernel with a = -0.5, support 2. */
static double
cubic(double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* Fixed-point weights of the outputs [o0, o0 + count) of a pass from n
 * samples to m. */
typedef struct {
  int ksize;     /* weights per output */
  int *first;    /* [count] first input sample */
  int *len;      /* [count] inputs used, <= ksize */
  int32_t *w;    /* [count][ksize] weights, 22 fraction bits */
} weights;

static void
weights_free(weights *wt)
{
  free(wt->first);
  free(wt->len);
  free(wt->w);
  memset(wt, 0, sizeof *wt);
}

static int
weights_make(weights *wt, int n, int64_t m, int64_t o0, int count)
{
  memset(wt, 0, sizeof *wt);
  double scale = (double)n / (double)m;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * filterscale;
  wt->ksize = (int)ceil(support) * 2 + 1;
  double *k = malloc(sizeof(double) * (size_t)wt->ksize); /* [ksize] */
  wt->first = malloc(sizeof(int) * (size_t)count);
  wt->len = malloc(sizeof(int) * (size_t)count);
  wt->w = calloc((size_t)count * (size_t)wt->ksize, sizeof(int32_t));
  if (!k || !wt->first || !wt->len || !wt->w) {
    free(k);
    weights_free(wt);
    return KERN_E_NOMEM;
  }
  double ss = 1.0 / filterscale;
  for (int i = 0; i < count; i++) {
    double center = ((double)(o0 + i) + 0.5) * scale;
    int lo = (int)(center - support + 0.5);
    if (lo < 0)
      lo = 0;
    int hi = (int)(center + support + 0.5);
    if (hi > n)
      hi = n;
    int len = hi - lo;
    if (len > wt->ksize)
      len = wt->ksize; /* cannot happen: center +- support spans at most ksize samples */
    double sum = 0.0;
    for (int j = 0; j < len; j++) {
      double v = cubic(((double)(j + lo) - center + 0.5) * ss);
      k[j] = v;
      sum += v;
    }
    int32_t *w = wt->w + (size_t)i * wt->ksize;
    for (int j = 0; j < len; j++) {
      double v = sum != 0.0 ? k[j] / sum : k[j];
      double f = v * (double)(1 << PREC_BITS);
      w[j] = (int32_t)(f >= 0.0 ? f + 0.5 : f - 0.5);
    }
    wt->first[i] = lo;
    wt->len[i] = len;
  }
  free(k);
  return 0;
}

static inline uint8_t
clip8(int64_t acc)
{
  int64_t v = acc >> PREC_BITS; /* floor */
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ---- the source, as the reference sees it ------------------------------------- */

/* The image the resize reads: img itself, or (fit pad) img centred on a
 * square of the background colour, never materialized. */
typedef struct {
  const vis_image *img;
  int width, height; /* of the virtual source */
  int off_x, off_y;  /* where img sits in it */
  uint8_t bg[3];
  uint8_t *row;      /* [width][3] scratch for padded rows */
} source;

/* Row y of the source, [width][3]. */
static const uint8_t *
source_row(source *s, int y)
{
  const vis_image *img = s->img;
  if (s->width == img->width && s->height == img->height)
    return img->rgb + (size_t)y * img->width * 3;
  for (int x = 0; x < s->width; x++)
    memcpy(s->row + (size_t)x * 3, s->bg, 3);
  int iy = y - s->off_y;
  if (iy >= 0 && iy < img->height)
    memcpy(s->row + (size_t)s->off_x * 3, img->rgb + (size_t)iy * img->width * 3, (size_t)img->width * 3);
  return s->row;
}

static int64_t
floor_half(int64_t v)
{
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

int
vis_preprocess(const vis_image *img, const vis_preprocess_params *p, float *out, char **err)
{
  if (err)
    *err = NULL;
  if (!img || !img->rgb || img->width < 1 || img->height < 1)
    return _vis_fail(err, KERN_E_INVAL, "vis_preprocess: no image");
  if (!p || !out)
    return _vis_fail(err, KERN_E_INVAL, "vis_preprocess: no params or no output");
  if (p->fit != VIS_FIT_CROP && p->fit != VIS_FIT_PAD && p->fit != VIS_FIT_STRETCH)
    return _vis_fail(err, KERN_E_INVAL, "vis_preprocess: unknown fit mode %d", (int)p->fit);
  if (p->crop_width < 1 || p->crop_width > MAX_SIZE || p->crop_height < 1 || p->crop_height > MAX_SIZE)
    return _vis_fail(err, KERN_E_INVAL, "vis_preprocess: crop size %d x %d is outside 1..%d", p->crop_width,
                p->crop_height, MAX_SIZE);
  if (p->fit != VIS_FIT_STRETCH && (p->shortest_edge < 1 || p->shortest_edge > MAX_SIZE))
    return _vis_fail(err, KERN_E_INVAL, "vis_preprocess: shortest_edge %d is outside 1..%d", p->shortest_edge,
                MAX_SIZE);
  for (int c = 0; c < 3; c++)
    if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
      return _vis_fail(err, KERN_E_INVAL, "vis_preprocess: mean and std must be finite and std not 0 (channel %d)",
                  c);

  source src = { .img = img, .width = img->width, .height = img->height };
  if (p->fit == VIS_FIT_PAD && img->width != img->height) {
    /* LLaVA's expand2square: background tuple(int(m * 255) for m in mean) */
    int side = img->width > img->height ? img->width : img->height;
    src.width = src.height = side;
    if (img->width > img->height)
      src.off_y = (img->width - img->height) / 2;
    else
      src.off_x = (img->height - img->width) / 2;
    for (int c = 0; c < 3; c++) {
      double v = (double)p->mean[c] * 255.0;
      src.bg[c] = (uint8_t)(v <= 0.0 ? 0 : v >= 255.0 ? 255 : (int)v);
    }
  }

  /* Resize target (rw x rh) */
  int64_t rw, rh;
  if (p->fit == VIS_FIT_STRETCH) {
    rw = p->crop_width;
    rh = p->crop_height;
  } else {
    int64_t w = src.width, h = src.height, s = p->shortest_edge;
    int64_t shrt = w <= h ? w : h, lng = w <= h ? h : w;
    int64_t new_long = (int64_t)((double)(s * lng) / (double)shrt);
    rw = w <= h ? s : new_long;
    rh = w <= h ? new_long : s;
  }

  /* The crop window in resized coordinates, and the part of it inside */
  const int cw = p->crop_width, ch = p->crop_height;
  int64_t left = floor_half(rw - cw), top = floor_half(rh - ch);
  int64_t x0 = left < 0 ? 0 : left, x1 = left + cw > rw ? rw : left + cw;
  int64_t y0 = top < 0 ? 0 : top, y1 = top + ch > rh ? rh : top + ch;
  const int nx = (int)(x1 - x0), ny = (int)(y1 - y0); /* both >= 1: rw, rh >= 1 */

  int rc = 0;
  weights wx = { 0 }, wy = { 0 };
  uint8_t *mid = NULL; /* [src rows needed][nx][3] after the horizontal pass */
  uint8_t *res = NULL; /* [ny][nx][3] resized pixels of the window */
  const int do_h = rw != src.width, do_v = rh != src.height;
  if (p->fit == VIS_FIT_PAD && (src.width != img->width || src.height != img->height)) {
    src.row = malloc((size_t)src.width * 3);
    if (!src.row) {
      rc = KERN_E_NOMEM;
      goto out;
    }
  }
  if ((do_h && weights_make(&wx, src.width, rw, x0, nx) != 0) ||
      (do_v && weights_make(&wy, src.height, rh, y0, ny) != 0)) {
    rc = KERN_E_NOMEM;
    goto out;
  }

  /* Source rows the vertical pass reads */
  int r0 = (int)y0, r1 = (int)y1;
  if (do_v) {
    r0 = wy.first[0];
    r1 = wy.first[ny - 1] + wy.len[ny - 1];
    for (int i = 0; i < ny; i++) {
      if (wy.first[i] < r0)
        r0 = wy.first[i];
      if (wy.first[i] + wy.len[i] > r1)
        r1 = wy.first[i] + wy.len[i];
    }
  }
  mid = malloc((size_t)(r1 > r0 ? r1 - r0 : 1) * (size_t)nx * 3);
  res = malloc((size_t)ny * (size_t)nx * 3);
  if (!mid || !res) {
    rc = KERN_E_NOMEM;
    goto out;
  }

  /* Horizontal pass: source rows [r0, r1), window columns */
  for (int y = r0; y < r1; y++) {
    const uint8_t *in = source_row(&src, y);
    uint8_t *o = mid + (size_t)(y - r0) * nx * 3;
    if (!do_h) {
      memcpy(o, in + (size_t)x0 * 3, (size_t)nx * 3);
      continue;
    }
    for (int i = 0; i < nx; i++) {
      const int32_t *w = wx.w + (size_t)i * wx.ksize;
      const uint8_t *px = in + (size_t)wx.first[i] * 3;
      int64_t a0 = 1 << (PREC_BITS - 1), a1 = a0, a2 = a0;
      for (int j = 0; j < wx.len[i]; j++, px += 3) {
        a0 += (int64_t)px[0] * w[j];
        a1 += (int64_t)px[1] * w[j];
        a2 += (int64_t)px[2] * w[j];
      }
      o[i * 3 + 0] = clip8(a0);
      o[i * 3 + 1] = clip8(a1);
      o[i * 3 + 2] = clip8(a2);
    }
  }

  /* Vertical pass: window rows */
  for (int i = 0; i < ny; i++) {
    uint8_t *o = res + (size_t)i * nx * 3;
    if (!do_v) {
      memcpy(o, mid + (size_t)(y0 + i - r0) * nx * 3, (size_t)nx * 3);
      continue;
    }
    const int32_t *w = wy.w + (size_t)i * wy.ksize;
    for (int x = 0; x < nx * 3; x++) {
      const uint8_t *px = mid + (size_t)(wy.first[i] - r0) * nx * 3 + x;
      int64_t a = 1 << (PREC_BITS - 1);
      for (int j = 0; j < wy.len[i]; j++, px += (size_t)nx * 3)
        a += (int64_t)*px * w[j];
      o[x] = clip8(a);
    }
  }

  /* Crop (zeros outside the resized image), rescale, normalize: planar out */
  float lut[3][256];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) {
      float x = (float)((double)v * (1.0 / 255.0));
      lut[c][v] = (x - p->mean[c]) / p->std[c];
    }
  for (int c = 0; c < 3; c++) {
    for (int y = 0; y < ch; y++) {
      float *o = out + ((size_t)c * ch + y) * cw;
      int64_t ry = top + y;
      for (int x = 0; x < cw; x++) {
        int64_t rx = left + x;
        uint8_t v = 0;
        if (ry >= y0 && ry < y1 && rx >= x0 && rx < x1)
          v = res[((size_t)(ry - y0) * nx + (size_t)(rx - x0)) * 3 + c];
        o[x] = lut[c][v];
      }
    }
  }

out:
  weights_free(&wx);
  weights_free(&wy);
  free(mid);
  free(res);
  free(src.row);
  if (rc == KERN_E_NOMEM)
    _vis_fail(err, rc, "vis_preprocess: out of memory for a %d x %d image", img->width, img->height);
  return rc;
}
