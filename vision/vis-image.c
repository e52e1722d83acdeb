/* vis-image.c: image files -> upright 8-bit RGB (see vis-image.h).
 *
 * The format is recognized by its first bytes, never by the file name, and
 * each format goes to one decoder:
 *  - gdk-pixbuf for JPEG, PNG, GIF, BMP and TIFF, through a GdkPixbufLoader
 *    created for that format only (so no other installed loader, SVG say,
 *    ever sees the bytes). Its "size-prepared" signal reports the header's
 *    size before the loader allocates the picture; a picture over the limits
 *    is stopped there by asking for a 0 x 0 result, which every loader
 *    treats as an error before allocating (gdk_pixbuf_get_file_info() stops
 *    loaders the same way). Data is fed in 64 KiB pieces and feeding stops
 *    at the first error.
 *  - libwebp for WebP (Debian 12's gdk-pixbuf has no WebP loader): the
 *    header is read with WebPGetFeatures() before decoding, a still picture
 *    is decoded straight into our buffer, an animation's first frame comes
 *    from WebPAnimDecoder (the canvas, as a viewer shows frame 1).
 *
 * Orientation: gdk-pixbuf reports the EXIF orientation of JPEG and TIFF as
 * the pixbuf option "orientation" (for TIFF it already accounts for what
 * libtiff flipped itself). PNG (eXIf chunk) and WebP (EXIF chunk) carry EXIF
 * too, and Pillow's ImageOps.exif_transpose() honours it there, so this file
 * reads the orientation tag of those chunks itself. XMP orientation is
 * ignored, as Pillow does.
 *
 * Damaged files: gdk-pixbuf's loaders and libwebp report a truncated or
 * corrupt file as an error at write or close; that error is passed on as
 * KERN_E_FORMAT. A partially decoded picture is never returned.
 *
 * Threads: gdk-pixbuf reads its loader list and loads modules under its own
 * lock, and runs a loader not flagged GDK_PIXBUF_FORMAT_THREADSAFE under one
 * global lock. The loaders used here (png and jpeg built into Debian's
 * library; gif, bmp, tiff as modules) are all flagged thread-safe in 2.42, so
 * separate loaders decode on separate threads at once. The tests check the
 * flags and decode every fixture on four threads at once from a fresh
 * process (cold loader list included). libwebp keeps no global state.
 *
 * stderr: nothing here prints. gdk-pixbuf itself g_warning()s only when its
 * loaders.cache is malformed (a broken installation), which Hark cannot
 * prevent.
 *
 * Speed (one core of the development machine, -O2): a 4000x3000 JPEG
 * decodes in 0.08 s, the same as PNG in 0.32 s; vis_preprocess of it to
 * 336x336 takes 0.05 s (0.10 s padded), against 0.44 s for transformers'
 * PIL processor.
 */
#include "vis-image.h"

#include <errno.h>
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "vis-image-private.h"

/* Files above this are refused before reading: four times the largest
 * picture the default limits allow, uncompressed at 16 bits RGBA. */
#define MAX_FILE_BYTES ((int64_t)1 << 32)
#define FEED_BYTES (64 * 1024)

/* ---- messages ------------------------------------------------------------ */

int
_vis_fail(char **err, int status, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
      s = NULL;
    va_end(ap);
    *err = s;
  }
  return status;
}


/* ---- params and names ------------------------------------------------------ */

vis_image_params
vis_image_default_params(void)
{
  return (vis_image_params){
    .max_pixels = 100000000,
    .max_side = 32768,
  };
}

void
vis_image_clear(vis_image *img)
{
  if (!img)
    return;
  free(img->rgb);
  memset(img, 0, sizeof *img);
}

int
vis_image_is_image_name(const char *path)
{
  static const char *const exts[] = { "jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff" };
  if (!path)
    return 0;
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base) /* ".png" alone is a hidden file with no extension */
    return 0;
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (strcasecmp(dot + 1, exts[i]) == 0)
      return 1;
  return 0;
}

/* ---- formats ------------------------------------------------------------- */

typedef enum { FMT_NONE, FMT_JPEG, FMT_PNG, FMT_GIF, FMT_BMP, FMT_TIFF, FMT_WEBP } image_format;

static const char *const format_names[] = { "?", "JPEG", "PNG", "GIF", "BMP", "TIFF", "WebP" };
/* gdk-pixbuf's names of its loaders, by format */
static const char *const pixbuf_types[] = { NULL, "jpeg", "png", "gif", "bmp", "tiff", NULL };

static image_format
sniff(const uint8_t *d, size_t n)
{
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
    return FMT_JPEG;
  if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
    return FMT_PNG;
  if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
    return FMT_GIF;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M')
    return FMT_BMP;
  if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
    return FMT_TIFF;
  if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
    return FMT_WEBP;
  return FMT_NONE;
}

static int
check_size(const char *name, const vis_image_params *p, int64_t w, int64_t h, char **err)
{
  if (w < 1 || h < 1)
    return _vis_fail(err, KERN_E_FORMAT, "%s: the picture is %lld x %lld pixels", name, (long long)w,
                (long long)h);
  if (w > p->max_side || h > p->max_side)
    return _vis_fail(err, KERN_E_UNSUPPORTED, "%s: %lld x %lld pixels: a side is longer than the %d-pixel limit",
                name, (long long)w, (long long)h, p->max_side);
  if (w * h > p->max_pixels)
    return _vis_fail(err, KERN_E_UNSUPPORTED, "%s: %lld x %lld pixels is more than the %lld-pixel limit", name,
                (long long)w, (long long)h, (long long)p->max_pixels);
  return 0;
}

/* ---- EXIF orientation ------------------------------------------------------- */

static unsigned
rd16(const uint8_t *p, int be)
{
  return be ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}

static uint32_t
rd32(const uint8_t *p, int be)
{
  return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
            : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int
vis_exif_orientation(const uint8_t *d, size_t n)
{
  if (n >= 6 && memcmp(d, "Exif\0\0", 6) == 0) {
    d += 6;
    n -= 6;
  }
  if (n < 8)
    return 1;
  int be;
  if (memcmp(d, "II*\0", 4) == 0)
    be = 0;
  else if (memcmp(d, "MM\0*", 4) == 0)
    be = 1;
  else
    return 1;
  uint32_t ifd = rd32(d + 4, be);
  if (ifd > n || n - ifd < 2)
    return 1;
  unsigned count = rd16(d + ifd, be);
  for (unsigned i = 0; i < count; i++) {
    size_t e = (size_t)ifd + 2 + (size_t)i * 12;
    if (e + 12 > n)
      return 1;
    if (rd16(d + e, be) != 0x0112)
      continue;
    unsigned type = rd16(d + e + 2, be);
    if (type != 3 || rd32(d + e + 4, be) < 1) /* SHORT, at least one */
      return 1;
    unsigned v = rd16(d + e + 8, be);
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

/* Walks a PNG's chunks: 1 when every chunk is whole up to IEND, else 0;
 * *orientation from the eXIf chunk wherever it stands (1 without one). */
static int
png_walk(const uint8_t *d, size_t n, int *orientation)
{
  *orientation = 1;
  size_t pos = 8;
  while (n - pos >= 12) {
    uint32_t len = rd32(d + pos, 1);
    const uint8_t *type = d + pos + 4;
    if (len > n - pos - 12)
      return 0;
    if (memcmp(type, "eXIf", 4) == 0)
      *orientation = vis_exif_orientation(d + pos + 8, len);
    if (memcmp(type, "IEND", 4) == 0)
      return 1;
    pos += 12 + (size_t)len;
  }
  return 0;
}

int
vis_image_orient(vis_image *img, int orientation)
{
  if (orientation <= 1 || orientation > 8)
    return 0;
  const int w = img->width, h = img->height;
  const int swap = orientation >= 5; /* transposed: width and height trade places */
  const int ow = swap ? h : w, oh = swap ? w : h;
  uint8_t *out = malloc((size_t)w * (size_t)h * 3);
  if (!out)
    return KERN_E_NOMEM;
  for (int y = 0; y < oh; y++) {
    for (int x = 0; x < ow; x++) {
      int sx, sy; /* the source pixel shown at (x, y) */
      switch (orientation) {
      case 2: sx = w - 1 - x; sy = y; break;                  /* mirrored */
      case 3: sx = w - 1 - x; sy = h - 1 - y; break;          /* rotated 180 */
      case 4: sx = x; sy = h - 1 - y; break;                  /* flipped */
      case 5: sx = y; sy = x; break;                          /* transposed */
      case 6: sx = y; sy = h - 1 - x; break;                  /* needs 90 clockwise */
      case 7: sx = w - 1 - y; sy = h - 1 - x; break;          /* transversed */
      default: sx = w - 1 - y; sy = x; break;                 /* 8: needs 90 anticlockwise */
      }
      memcpy(out + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * w + sx) * 3, 3);
    }
  }
  free(img->rgb);
  img->rgb = out;
  img->width = ow;
  img->height = oh;
  return 0;
}

/* ---- pixels ------------------------------------------------------------- */

/* One pixel of alpha a over white, rounded to nearest. */
static inline uint8_t
over_white(unsigned c, unsigned a)
{
  return (uint8_t)((c * a + 255u * (255u - a) + 127u) / 255u);
}

/* Rows of 8-bit RGB or RGBA (stride bytes apart) -> img->rgb, alpha over white. */
static int
copy_pixels(vis_image *img, const uint8_t *src, size_t stride, int channels, int w, int h)
{
  img->rgb = malloc((size_t)w * (size_t)h * 3);
  if (!img->rgb)
    return KERN_E_NOMEM;
  img->width = w;
  img->height = h;
  for (int y = 0; y < h; y++) {
    const uint8_t *s = src + (size_t)y * stride;
    uint8_t *o = img->rgb + (size_t)y * w * 3;
    if (channels == 3) {
      memcpy(o, s, (size_t)w * 3);
      continue;
    }
    for (int x = 0; x < w; x++, s += 4, o += 3) {
      o[0] = over_white(s[0], s[3]);
      o[1] = over_white(s[1], s[3]);
      o[2] = over_white(s[2], s[3]);
    }
  }
  return 0;
}

/* ---- completeness ----------------------------------------------------------- */

/* gdk-pixbuf's JPEG, PNG and BMP loaders return a picture for a file cut
 * short, the missing part left blank, and say nothing. So the structure is
 * walked here first: a file whose structure ends early is refused (PNG:
 * png_walk above, every chunk whole up to IEND). */

/* JPEG: segments by their lengths, entropy-coded data scanned for the next
 * marker, up to EOI (an EXIF thumbnail's EOI sits inside APP1 and is skipped
 * with it). */
static int
jpeg_complete(const uint8_t *d, size_t n)
{
  size_t pos = 2;
  for (;;) {
    while (pos < n && d[pos] != 0xFF) /* stray bytes: libjpeg skips them too */
      pos++;
    while (pos < n && d[pos] == 0xFF) /* fill bytes */
      pos++;
    if (pos >= n)
      return 0;
    uint8_t m = d[pos++];
    if (m == 0xD9)
      return 1;
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0x00)
      continue;
    if (n - pos < 2)
      return 0;
    size_t len = (size_t)d[pos] << 8 | d[pos + 1];
    if (len < 2 || len > n - pos)
      return 0;
    pos += len;
    if (m != 0xDA)
      continue;
    /* entropy-coded data: up to an FF not followed by 00 or a restart marker */
    for (;;) {
      while (pos < n && d[pos] != 0xFF)
        pos++;
      if (n - pos < 2)
        return 0;
      uint8_t next = d[pos + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) {
        pos += next == 0xFF ? 1 : 2;
        continue;
      }
      break;
    }
  }
}

/* BMP: a header gdk-pixbuf can take, and the pixel array of an uncompressed
 * file (BI_RGB, BI_BITFIELDS) wholly in the file. gdk-pixbuf's BMP loader
 * grows its buffer to the header size the file states before its
 * size-prepared check: a 200-byte file saying 0x7fffffff had it ask for
 * 3.6 GB (found by tests/fuzz). So the header size must be one the format
 * defines and fit in the file, and the pixel offset too. Run-length coded
 * files are not checked for truncation: their length is known only by
 * decoding them. Returns 1 when fine. */
static int
bmp_complete(const uint8_t *d, size_t n)
{
  if (n < 26)
    return 0;
  uint32_t off = rd32(d + 10, 0), hsize = rd32(d + 14, 0);
  if (hsize != 12 && hsize != 16 && hsize != 40 && hsize != 52 && hsize != 56 && hsize != 64 &&
      hsize != 108 && hsize != 124)
    return 0;
  if (hsize > n - 14 || off > n || off < 14 + hsize)
    return 0;
  int64_t w, h;
  unsigned bpp, compression = 0;
  if (hsize == 12) { /* OS/2 BITMAPCOREHEADER */
    w = rd16(d + 18, 0);
    h = rd16(d + 20, 0);
    bpp = rd16(d + 24, 0);
  } else if (hsize >= 40) {
    w = (int32_t)rd32(d + 18, 0);
    h = (int32_t)rd32(d + 22, 0);
    bpp = rd16(d + 28, 0);
    compression = rd32(d + 30, 0);
  } else {
    return 1; /* the 16-byte OS/2 header: gdk-pixbuf judges the rest */
  }
  if (compression != 0 && compression != 3)
    return 1;
  if (w < 0)
    w = -w;
  if (h < 0)
    h = -h;
  uint64_t stride = ((uint64_t)w * bpp + 31) / 32 * 4;
  return (uint64_t)off + stride * (uint64_t)h <= n;
}

/* ---- gdk-pixbuf ------------------------------------------------------------ */

typedef struct {
  const vis_image_params *p;
  int width, height;
  int too_big;
} size_gate;

static void
on_size_prepared(GdkPixbufLoader *loader, int width, int height, gpointer user_data)
{
  size_gate *g = user_data;
  g->width = width;
  g->height = height;
  if (check_size("", g->p, width, height, NULL) != 0) {
    g->too_big = 1;
    gdk_pixbuf_loader_set_size(loader, 0, 0); /* every loader stops before allocating */
  }
}

static int
decode_pixbuf(const uint8_t *data, size_t size, image_format fmt, const char *name, const vis_image_params *p,
              vis_image *img, char **err)
{
  int png_orientation = 1;
  if ((fmt == FMT_PNG && !png_walk(data, size, &png_orientation)) || (fmt == FMT_JPEG && !jpeg_complete(data, size)) ||
      (fmt == FMT_BMP && !bmp_complete(data, size)))
    return _vis_fail(err, KERN_E_FORMAT, "%s: truncated or corrupt %s file (%s)", name, format_names[fmt],
                     fmt == FMT_PNG    ? "it ends before its last chunk"
                     : fmt == FMT_JPEG ? "it ends before its last marker"
                                       : "a bad header or it ends before its last row");

  GError *gerr = NULL;
  GdkPixbufLoader *loader = gdk_pixbuf_loader_new_with_type(pixbuf_types[fmt], &gerr);
  if (!loader) {
    int rc = _vis_fail(err, KERN_E_UNSUPPORTED, "%s: this build cannot decode %s (gdk-pixbuf: %s)", name,
                  format_names[fmt], gerr ? gerr->message : "no loader");
    g_clear_error(&gerr);
    return rc;
  }
  size_gate gate = { .p = p };
  g_signal_connect(loader, "size-prepared", G_CALLBACK(on_size_prepared), &gate);

  gboolean ok = TRUE;
  for (size_t pos = 0; ok && pos < size && !gate.too_big; pos += FEED_BYTES) {
    size_t n = size - pos < FEED_BYTES ? size - pos : FEED_BYTES;
    ok = gdk_pixbuf_loader_write(loader, data + pos, n, &gerr);
  }
  /* Always close: a loader finalized open complains on stderr. */
  if (!gdk_pixbuf_loader_close(loader, ok ? &gerr : NULL))
    ok = FALSE;

  int rc = 0;
  GdkPixbuf *pb = ok ? gdk_pixbuf_loader_get_pixbuf(loader) : NULL;
  if (gate.too_big) {
    check_size(name, p, gate.width, gate.height, err);
    rc = KERN_E_UNSUPPORTED;
  } else if (!ok || !pb) {
    rc = _vis_fail(err, KERN_E_FORMAT, "%s: not a readable %s picture (corrupt or truncated?): %s", name,
              format_names[fmt], gerr ? gerr->message : "no picture in the file");
  } else if (gdk_pixbuf_get_colorspace(pb) != GDK_COLORSPACE_RGB || gdk_pixbuf_get_bits_per_sample(pb) != 8 ||
             (gdk_pixbuf_get_n_channels(pb) != 3 && gdk_pixbuf_get_n_channels(pb) != 4) ||
             gdk_pixbuf_get_n_channels(pb) != (gdk_pixbuf_get_has_alpha(pb) ? 4 : 3)) {
    rc = _vis_fail(err, KERN_E_UNSUPPORTED, "%s: gdk-pixbuf gave an unexpected pixel layout", name);
  } else {
    int w = gdk_pixbuf_get_width(pb), h = gdk_pixbuf_get_height(pb);
    rc = check_size(name, p, w, h, err); /* an animation's canvas may differ from its frame */
    if (rc == 0) {
      rc = copy_pixels(img, gdk_pixbuf_read_pixels(pb), (size_t)gdk_pixbuf_get_rowstride(pb),
                       gdk_pixbuf_get_n_channels(pb), w, h);
      if (rc != 0)
        _vis_fail(err, rc, "%s: out of memory for %d x %d pixels", name, w, h);
    }
    if (rc == 0) {
      const char *o = gdk_pixbuf_get_option(pb, "orientation");
      int orientation = o ? atoi(o) : png_orientation;
      rc = vis_image_orient(img, orientation);
      if (rc != 0)
        _vis_fail(err, rc, "%s: out of memory turning the picture upright", name);
    }
  }
  g_clear_error(&gerr);
  g_object_unref(loader);
  if (rc != 0)
    vis_image_clear(img);
  return rc;
}

/* ---- WebP ------------------------------------------------------------------ */

static const char *
webp_status(VP8StatusCode s)
{
  switch (s) {
  case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
  case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
  case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
  case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
  case VP8_STATUS_SUSPENDED: return "suspended";
  case VP8_STATUS_USER_ABORT: return "aborted";
  case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated";
  default: return "error";
  }
}

static int
decode_webp(const uint8_t *data, size_t size, const char *name, const vis_image_params *p, vis_image *img,
            char **err)
{
  WebPBitstreamFeatures f;
  VP8StatusCode st = WebPGetFeatures(data, size, &f);
  if (st != VP8_STATUS_OK)
    return _vis_fail(err, KERN_E_FORMAT, "%s: not a readable WebP picture (%s)", name, webp_status(st));
  int rc = check_size(name, p, f.width, f.height, err);
  if (rc != 0)
    return rc;

  WebPData wd = { data, size };
  int orientation = 1;
  WebPDemuxer *demux = WebPDemux(&wd);
  if (demux) {
    WebPChunkIterator it;
    if ((WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & EXIF_FLAG) && WebPDemuxGetChunk(demux, "EXIF", 1, &it)) {
      orientation = vis_exif_orientation(it.chunk.bytes, it.chunk.size);
      WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(demux);
  } else {
    return _vis_fail(err, KERN_E_FORMAT, "%s: not a readable WebP picture (corrupt or truncated container)", name);
  }

  if (!f.has_animation) {
    size_t stride = (size_t)f.width * 4;
    uint8_t *rgba = malloc(stride * (size_t)f.height);
    if (!rgba)
      return _vis_fail(err, KERN_E_NOMEM, "%s: out of memory for %d x %d pixels", name, f.width, f.height);
    if (!WebPDecodeRGBAInto(data, size, rgba, stride * (size_t)f.height, (int)stride)) {
      free(rgba);
      return _vis_fail(err, KERN_E_FORMAT, "%s: not a readable WebP picture (corrupt or truncated)", name);
    }
    rc = copy_pixels(img, rgba, stride, 4, f.width, f.height);
    free(rgba);
  } else {
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
      return _vis_fail(err, KERN_E_UNSUPPORTED, "%s: libwebp's animation decoder does not match its header", name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opt);
    WebPAnimInfo info;
    uint8_t *frame = NULL;
    int ts = 0;
    if (!dec || !WebPAnimDecoderGetInfo(dec, &info) ||
        check_size(name, p, info.canvas_width, info.canvas_height, NULL) != 0 ||
        !WebPAnimDecoderGetNext(dec, &frame, &ts)) {
      WebPAnimDecoderDelete(dec);
      return _vis_fail(err, KERN_E_FORMAT, "%s: not a readable animated WebP (corrupt or truncated)", name);
    }
    rc = copy_pixels(img, frame, (size_t)info.canvas_width * 4, 4, (int)info.canvas_width,
                     (int)info.canvas_height);
    WebPAnimDecoderDelete(dec);
  }
  if (rc == 0)
    rc = vis_image_orient(img, orientation);
  if (rc != 0) {
    vis_image_clear(img);
    return _vis_fail(err, rc, "%s: out of memory for %d x %d pixels", name, f.width, f.height);
  }
  return 0;
}

/* ---- entry points ------------------------------------------------------------ */

int
vis_image_load_memory(const void *data, size_t size, const char *name, const vis_image_params *p,
                      vis_image *img, char **err)
{
  if (err)
    *err = NULL;
  if (!img)
    return _vis_fail(err, KERN_E_INVAL, "vis_image_load_memory: no image to fill");
  memset(img, 0, sizeof *img);
  if (!name)
    name = "(image in memory)";
  vis_image_params dp = vis_image_default_params();
  if (!p)
    p = &dp;
  if (p->max_pixels < 1 || p->max_side < 1)
    return _vis_fail(err, KERN_E_INVAL, "%s: max_pixels and max_side must be at least 1", name);
  if (!data && size > 0)
    return _vis_fail(err, KERN_E_INVAL, "%s: no data", name);
  if (size == 0)
    return _vis_fail(err, KERN_E_FORMAT, "%s: empty file", name);

  image_format fmt = sniff(data, size);
  switch (fmt) {
  case FMT_NONE:
    return _vis_fail(err, KERN_E_FORMAT, "%s: not an image in a format Hark reads (JPEG, PNG, WebP, GIF, BMP, TIFF)",
                name);
  case FMT_WEBP:
    return decode_webp(data, size, name, p, img, err);
  default:
    return decode_pixbuf(data, size, fmt, name, p, img, err);
  }
}

/* Reads all of fd into a malloc'd buffer; *len bytes. Returns 0, or an
 * errno value, or -1 when the file outgrows MAX_FILE_BYTES. The size from
 * fstat is a first guess only: the file may change while it is read. */
static int
read_all(int fd, size_t guess, uint8_t **out, size_t *len)
{
  size_t cap = guess + 1, n = 0; /* one spare byte: reaching it means the file grew */
  uint8_t *buf = malloc(cap);
  if (!buf)
    return ENOMEM;
  for (;;) {
    if (n == cap) {
      if (cap >= (size_t)MAX_FILE_BYTES) {
        free(buf);
        return -1;
      }
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        return ENOMEM;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r == 0)
      break;
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      free(buf);
      return e;
    }
    n += (size_t)r;
  }
  *out = buf;
  *len = n;
  return 0;
}

int
vis_image_load(const char *path, const vis_image_params *p, vis_image *img, char **err)
{
  if (err)
    *err = NULL;
  if (!img)
    return _vis_fail(err, KERN_E_INVAL, "vis_image_load: no image to fill");
  memset(img, 0, sizeof *img);
  if (!path)
    return _vis_fail(err, KERN_E_INVAL, "vis_image_load: no path");

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return _vis_fail(err, KERN_E_IO, "%s: %s", path, g_strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0)
    rc = _vis_fail(err, KERN_E_IO, "%s: %s", path, g_strerror(errno));
  else if (S_ISDIR(st.st_mode))
    rc = _vis_fail(err, KERN_E_IO, "%s: is a folder, not an image file", path);
  else if (!S_ISREG(st.st_mode))
    rc = _vis_fail(err, KERN_E_IO, "%s: not a regular file", path);
  else if (st.st_size > MAX_FILE_BYTES)
    rc = _vis_fail(err, KERN_E_UNSUPPORTED, "%s: %lld bytes is too large for an image file", path,
                   (long long)st.st_size);
  uint8_t *buf = NULL;
  size_t len = 0;
  if (rc == 0) {
    int e = read_all(fd, (size_t)st.st_size, &buf, &len);
    if (e == ENOMEM)
      rc = _vis_fail(err, KERN_E_NOMEM, "%s: out of memory reading the file", path);
    else if (e < 0)
      rc = _vis_fail(err, KERN_E_UNSUPPORTED, "%s: too large for an image file", path);
    else if (e > 0)
      rc = _vis_fail(err, KERN_E_IO, "%s: %s", path, g_strerror(e));
  }
  close(fd);
  if (rc == 0)
    rc = vis_image_load_memory(buf, len, path, p, img, err);
  free(buf);
  return rc;
}
