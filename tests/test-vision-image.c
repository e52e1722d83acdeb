/* test-vision-image.c: image decoding and CLIP preprocessing against Pillow
 * and Hugging Face transformers.
 *
 * Data: tests/data/vision/, made by tests/reference/make-vision-image-golden.py
 * (see its header for golden.bin's layout): pictures in every format and
 * layout the decoder reads with Pillow's decoding of each, EXIF orientation
 * cases, and CLIPImageProcessor's (PIL backend) output for fourteen
 * preprocessing cases. Damaged and oversized files are made at run time in a
 * temporary folder from the committed ones.
 */
#define GDK_PIXBUF_ENABLE_BACKEND /* GdkPixbufFormat's flags */
#include <gdk-pixbuf/gdk-pixbuf-io.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "vis-image-private.h"
#include "vis-image.h"
#include "vis.h"

/* ---- golden data ---------------------------------------------------------- */

typedef struct {
  char file[65];
  guint32 kind; /* 0 exact (within 1), 1 lossy */
  int width, height;
  const guint8 *rgb; /* [height][width][3] */
} decode_case;

typedef struct {
  char file[65];
  vis_preprocess_params p;
  const float *lut; /* [3][256] */
  const guint8 *pix; /* [3][crop_height][crop_width] */
} pre_case;

static gchar *golden_data;
static GPtrArray *decode_cases, *pre_cases;

static char *
fixture(const char *name)
{
  return g_test_build_filename(G_TEST_DIST, "data", "vision", name, NULL);
}

static guint32
le32(const guint8 *p)
{
  return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

/* Parses golden.bin, checking every size against the file. */
static gboolean
load_golden(void)
{
  char *path = fixture("golden.bin");
  gsize n = 0;
  gboolean ok = g_file_get_contents(path, &golden_data, &n, NULL);
  g_free(path);
  if (!ok)
    return FALSE;
  const guint8 *d = (const guint8 *)golden_data, *end = d + n;
  g_assert_cmpuint(n, >=, 16);
  g_assert_cmpmem(d, 4, "HVIG", 4);
  g_assert_cmpuint(le32(d + 4), ==, 1);
  guint32 nd = le32(d + 8), np = le32(d + 12);
  d += 16;
  decode_cases = g_ptr_array_new_with_free_func(g_free);
  pre_cases = g_ptr_array_new_with_free_func(g_free);
  for (guint32 i = 0; i < nd; i++) {
    g_assert_cmpint(end - d, >=, 64 + 12);
    decode_case *c = g_new0(decode_case, 1);
    memcpy(c->file, d, 64);
    c->kind = le32(d + 64);
    c->width = (int)le32(d + 68);
    c->height = (int)le32(d + 72);
    d += 76;
    g_assert_cmpint(c->width, >, 0);
    g_assert_cmpint(c->height, >, 0);
    gsize bytes = (gsize)c->width * c->height * 3;
    g_assert_cmpuint((gsize)(end - d), >=, bytes);
    c->rgb = d;
    d += bytes;
    g_ptr_array_add(decode_cases, c);
  }
  for (guint32 i = 0; i < np; i++) {
    g_assert_cmpint(end - d, >=, 64 + 16 + 24 + 3 * 256 * 4);
    pre_case *c = g_new0(pre_case, 1);
    memcpy(c->file, d, 64);
    c->p = vis_preprocess_default_params();
    c->p.shortest_edge = (int)le32(d + 64);
    c->p.crop_width = (int)le32(d + 68);
    c->p.crop_height = (int)le32(d + 72);
    c->p.fit = (vis_fit)le32(d + 76);
    memcpy(c->p.mean, d + 80, 12);
    memcpy(c->p.std, d + 92, 12);
    d += 104;
    c->lut = (const float *)d; /* g_file_get_contents' buffer is malloc-aligned; offsets are multiples of 4 */
    g_assert_true(((guintptr)d & 3) == 0);
    d += 3 * 256 * 4;
    gsize bytes = (gsize)3 * c->p.crop_width * c->p.crop_height;
    g_assert_cmpuint((gsize)(end - d), >=, bytes);
    c->pix = d;
    d += bytes;
    g_ptr_array_add(pre_cases, c);
  }
  g_assert_true(d == end);
  return TRUE;
}

/* ---- decoding ------------------------------------------------------------- */

static void
test_decode(gconstpointer data)
{
  const decode_case *c = data;
  char *path = fixture(c->file);
  vis_image img;
  char *err = NULL;
  int rc = vis_image_load(path, NULL, &img, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpint(img.width, ==, c->width);
  g_assert_cmpint(img.height, ==, c->height);
  gsize n = (gsize)c->width * c->height * 3;
  double sum = 0;
  int max = 0;
  for (gsize i = 0; i < n; i++) {
    int d = abs((int)img.rgb[i] - (int)c->rgb[i]);
    sum += d;
    max = MAX(max, d);
  }
  double mean = sum / (double)n;
  g_test_message("%s: %d x %d, |ours - Pillow| mean %.3f max %d", c->file, c->width, c->height, mean, max);
  if (c->kind == 0) {
    g_assert_cmpint(max, <=, 1);
  } else {
    /* JPEG: decoders may differ in IDCT and chroma upsampling. Debian's
     * libjpeg-turbo through gdk-pixbuf and the one in Pillow's wheel agree
     * exactly on these files (measured: mean 0, max 0); allow what another
     * IDCT would give. */
    g_assert_cmpfloat(mean, <, 1.0);
    g_assert_cmpint(max, <=, 16);
  }
  vis_image_clear(&img);
  g_assert_null(img.rgb);
  g_free(path);
}

/* The same files decoded from memory give the same pixels. */
static void
test_memory(void)
{
  for (guint i = 0; i < decode_cases->len; i++) {
    const decode_case *c = decode_cases->pdata[i];
    char *path = fixture(c->file), *bytes = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
    vis_image a, b;
    g_assert_cmpint(vis_image_load(path, NULL, &a, NULL), ==, 0);
    g_assert_cmpint(vis_image_load_memory(bytes, n, c->file, NULL, &b, NULL), ==, 0);
    g_assert_cmpint(a.width, ==, b.width);
    g_assert_cmpint(a.height, ==, b.height);
    g_assert_cmpmem(a.rgb, (gsize)a.width * a.height * 3, b.rgb, (gsize)b.width * b.height * 3);
    vis_image_clear(&a);
    vis_image_clear(&b);
    g_free(bytes);
    g_free(path);
  }
}

/* Decoding on several threads at once gives what one thread gives. */
static gpointer
decode_all_thread(gpointer data)
{
  for (int round = 0; round < 3; round++)
    for (guint i = 0; i < decode_cases->len; i++) {
      const decode_case *c = decode_cases->pdata[i];
      char *path = fixture(c->file);
      vis_image img;
      char *err = NULL;
      if (vis_image_load(path, NULL, &img, &err) != 0 || img.width != c->width || img.height != c->height) {
        g_free(err);
        g_free(path);
        return GINT_TO_POINTER(1);
      }
      /* compare with the reference loosely: lossy cases differ a little */
      gsize n = (gsize)c->width * c->height * 3;
      double sum = 0;
      for (gsize k = 0; k < n; k++)
        sum += abs((int)img.rgb[k] - (int)c->rgb[k]);
      vis_image_clear(&img);
      g_free(path);
      if (sum / (double)n > 1.5)
        return GINT_TO_POINTER(1);
    }
  return GINT_TO_POINTER(0);
}

/* In a fresh process, so that the first decodes (gdk-pixbuf reading its
 * loader list and loading modules) race too. */
static void
test_threads(void)
{
  if (g_test_subprocess()) {
    GThread *t[4];
    for (int i = 0; i < 4; i++)
      t[i] = g_thread_new("decode", decode_all_thread, NULL);
    for (int i = 0; i < 4; i++)
      g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(t[i])), ==, 0);
    return;
  }
  g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
}

/* gdk-pixbuf runs a loader not flagged thread-safe under one global lock;
 * the ones used here are flagged, so decodes run in parallel. If a future
 * gdk-pixbuf drops the flag, decoding stays correct but serializes: this
 * says so. */
static void
test_loaders_threadsafe(void)
{
  static const char *const names[] = { "jpeg", "png", "gif", "bmp", "tiff" };
  GSList *formats = gdk_pixbuf_get_formats();
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    const GdkPixbufFormat *found = NULL;
    for (GSList *l = formats; l; l = l->next) {
      char *name = gdk_pixbuf_format_get_name(l->data); /* a copy */
      if (strcmp(name, names[i]) == 0)
        found = l->data;
      g_free(name);
    }
    g_assert_nonnull(found);
    g_assert_false(gdk_pixbuf_format_is_disabled((GdkPixbufFormat *)found));
    g_test_message("gdk-pixbuf loader %s: flags 0x%x", names[i], found->flags);
    g_assert_true(found->flags & GDK_PIXBUF_FORMAT_THREADSAFE);
  }
  g_slist_free(formats);
}

static void
test_exif_parser(void)
{
  /* big-endian, one entry: orientation 6 */
  static const guint8 mm[] = { 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0 };
  g_assert_cmpint(vis_exif_orientation(mm, sizeof mm), ==, 6);
  guint8 buf[6 + sizeof mm];
  memcpy(buf, "Exif\0\0", 6);
  memcpy(buf + 6, mm, sizeof mm);
  g_assert_cmpint(vis_exif_orientation(buf, sizeof buf), ==, 6);
  /* every truncation is "no orientation", never a read past the end */
  for (gsize n = 0; n < sizeof mm - 2; n++) {
    guint8 *cut = g_memdup2(mm, n ? n : 1);
    g_assert_cmpint(vis_exif_orientation(cut, n), ==, 1);
    g_free(cut);
  }
  guint8 bad[sizeof mm];
  memcpy(bad, mm, sizeof mm);
  bad[19] = 9; /* out of range */
  g_assert_cmpint(vis_exif_orientation(bad, sizeof bad), ==, 1);
  memcpy(bad, mm, sizeof mm);
  bad[7] = 200; /* IFD offset past the end */
  g_assert_cmpint(vis_exif_orientation(bad, sizeof bad), ==, 1);
  memcpy(bad, mm, sizeof mm);
  bad[9] = 0xff; /* 255 entries promised, the one there another tag */
  bad[11] = 0x13;
  g_assert_cmpint(vis_exif_orientation(bad, sizeof bad), ==, 1);
}

/* ---- bad input -------------------------------------------------------------- */

static char *tmpdir;

static char *
write_tmp(const char *name, const void *data, gsize n)
{
  char *p = g_build_filename(tmpdir, name, NULL);
  g_assert_true(g_file_set_contents(p, data, (gssize)n, NULL));
  return p;
}

/* Loads path, expects status (0: KERN_E_FORMAT, or KERN_E_UNSUPPORTED when
 * noise in a header reads as a huge size); the message must name the file. */
static void
expect_error(const char *path, int status)
{
  vis_image img = { .width = 7 };
  char *err = NULL;
  int rc = vis_image_load(path, NULL, &img, &err);
  g_test_message("%s -> %d: %s", path, rc, err ? err : "(none)");
  if (status == 0)
    g_assert_true(rc == KERN_E_FORMAT || rc == KERN_E_UNSUPPORTED);
  else
    g_assert_cmpint(rc, ==, status);
  g_assert_nonnull(err);
  g_assert_nonnull(strstr(err, path));
  g_assert_null(img.rgb);
  g_assert_cmpint(img.width, ==, 0);
  free(err);
}

static void
test_bad_files(void)
{
  expect_error("/nonexistent/folder/photo.jpg", KERN_E_IO);
  expect_error(tmpdir, KERN_E_IO); /* a folder */
  char *empty = write_tmp("empty.png", "", 0);
  expect_error(empty, KERN_E_FORMAT);
  const char *text = "This is a text file, not a picture.\n";
  char *txt = write_tmp("notes.jpg", text, strlen(text));
  expect_error(txt, KERN_E_FORMAT);
  guint8 noise[4096];
  GRand *rng = g_rand_new_with_seed(42);
  for (gsize i = 0; i < sizeof noise; i++)
    noise[i] = (guint8)g_rand_int_range(rng, 0, 256);
  char *rnd = write_tmp("noise.png", noise, sizeof noise);
  expect_error(rnd, KERN_E_FORMAT);
  /* noise behind each format's signature: corrupt, not a crash */
  static const char *const sigs[] = { "\xff\xd8\xff\xe0", "\x89PNG\r\n\x1a\n", "GIF89a", "BM", "II*\0",
                                      "RIFF\x00\x10\x00\x00WEBPVP8 " };
  static const gsize sig_len[] = { 4, 8, 6, 2, 4, 16 };
  for (gsize s = 0; s < G_N_ELEMENTS(sigs); s++) {
    guint8 buf[4096];
    memcpy(buf, noise, sizeof buf);
    memcpy(buf, sigs[s], sig_len[s]);
    char *name = g_strdup_printf("noise-%zu.img", s);
    char *p = write_tmp(name, buf, sizeof buf);
    expect_error(p, 0);
    g_free(p);
    g_free(name);
  }
  g_rand_free(rng);
  g_free(empty);
  g_free(txt);
  g_free(rnd);
}

/* Every prefix length a cut file may have (a sample of them for big files):
 * the result is an error, never a partial picture. */
static void
test_truncated(void)
{
  static const char *const files[] = { "dec-rgb.jpg",  "dec-rgb.png",    "dec-palette.png", "dec-lossy.webp",
                                       "dec-anim.gif", "dec-anim.webp", "dec-rgb.bmp",     "dec-rgb.tif",
                                       "dec-rgb16.png", "orient-6.jpg", "dec-progressive.jpg" };
  for (gsize f = 0; f < G_N_ELEMENTS(files); f++) {
    char *path = fixture(files[f]), *bytes = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
    int errors = 0, tried = 0;
    gsize step = n > 600 ? n / 300 : 1;
    for (gsize cut = 1; cut < n; cut += step) {
      guint8 *part = g_memdup2(bytes, cut); /* exactly cut bytes, so ASan sees any overread */
      vis_image img;
      char *err = NULL;
      int rc = vis_image_load_memory(part, cut, files[f], NULL, &img, &err);
      tried++;
      if (rc != 0) {
        errors++;
        g_assert_cmpint(rc, ==, KERN_E_FORMAT);
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err, files[f]));
        g_assert_null(img.rgb);
      } else {
        g_test_message("%s cut to %zu of %zu bytes decoded as %d x %d", files[f], cut, n, img.width,
                       img.height);
      }
      free(err);
      vis_image_clear(&img);
      g_free(part);
    }
    g_test_message("%s: %d of %d cuts refused", files[f], errors, tried);
    g_assert_cmpint(errors, ==, tried);
    g_free(bytes);
    g_free(path);
  }
}

/* Flipped bytes in the middle of each file: an error or a picture, never a
 * crash or a leak (the ASan build runs this). */
static void
test_corrupt(void)
{
  GRand *rng = g_rand_new_with_seed(1234);
  for (guint i = 0; i < decode_cases->len; i++) {
    const decode_case *c = decode_cases->pdata[i];
    char *path = fixture(c->file), *bytes = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
    for (int round = 0; round < 20; round++) {
      guint8 *bad = g_memdup2(bytes, n);
      for (int k = 0; k < 8; k++)
        bad[g_rand_int_range(rng, 16, (gint32)n)] ^= (guint8)g_rand_int_range(rng, 1, 256);
      vis_image img;
      char *err = NULL;
      int rc = vis_image_load_memory(bad, n, c->file, NULL, &img, &err);
      if (rc == 0) {
        g_assert_nonnull(img.rgb);
        g_assert_cmpint(img.width, >, 0);
        g_assert_null(err);
      } else {
        g_assert_true(rc == KERN_E_FORMAT || rc == KERN_E_UNSUPPORTED);
        g_assert_nonnull(err);
        g_assert_null(img.rgb);
      }
      free(err);
      vis_image_clear(&img);
      g_free(bad);
    }
    g_free(bytes);
    g_free(path);
  }
  g_rand_free(rng);
}

static guint32
crc32_png(const guint8 *d, gsize n)
{
  guint32 c = 0xffffffffu;
  for (gsize i = 0; i < n; i++) {
    c ^= d[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return c ^ 0xffffffffu;
}

static void
put_be32(guint8 *p, guint32 v)
{
  p[0] = (guint8)(v >> 24);
  p[1] = (guint8)(v >> 16);
  p[2] = (guint8)(v >> 8);
  p[3] = (guint8)v;
}

/* The largest single allocation while watching: malloc, calloc and realloc
 * are wrapped here (the executable's definitions win over libc's for every
 * library, gdk-pixbuf's and libwebp's included). Not under ASan, which wraps
 * them itself; there the check falls back to timing. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define HARK_SANITIZED 1 /* clang's way of saying so */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(HARK_SANITIZED) || !defined(__GLIBC__)
#define WATCH_ALLOCATIONS 0
#else
#define WATCH_ALLOCATIONS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile int watching;
static volatile size_t largest_alloc;

static void
note_alloc(size_t n)
{
  if (watching && n > largest_alloc)
    largest_alloc = n;
}

void *malloc(size_t n);
void *calloc(size_t n, size_t k);
void *realloc(void *p, size_t n);

void *
malloc(size_t n)
{
  note_alloc(n);
  return __libc_malloc(n);
}

void *
calloc(size_t n, size_t k)
{
  note_alloc(n * k);
  return __libc_calloc(n, k);
}

void *
realloc(void *p, size_t n)
{
  note_alloc(n);
  return __libc_realloc(p, n);
}
#endif

/* Loads a file whose header says w x h (or asks for something else large);
 * refused fast with status, and no single allocation on the way comes near
 * the picture's size. */
static void
expect_refused_with(int status, const char *name, const guint8 *data, gsize n, int w, int h,
                    const vis_image_params *p)
{
  gint64 t0 = g_get_monotonic_time();
  vis_image img;
  char *err = NULL;
#if WATCH_ALLOCATIONS
  largest_alloc = 0;
  watching = 1;
#endif
  int rc = vis_image_load_memory(data, n, name, p, &img, &err);
#if WATCH_ALLOCATIONS
  watching = 0;
  size_t largest = largest_alloc;
#else
  size_t largest = 0;
#endif
  double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
  g_test_message("%s (%d x %d): %d \"%s\" in %.4f s, largest allocation %zu bytes%s", name, w, h, rc,
                 err ? err : "", secs, largest, WATCH_ALLOCATIONS ? "" : " (not watched under ASan)");
  g_assert_cmpint(rc, ==, status);
  g_assert_nonnull(err);
  g_assert_nonnull(strstr(err, name));
  g_assert_null(img.rgb);
  g_assert_cmpfloat(secs, <, 1.0);
  /* a row of the picture at most (libpng and libjpeg allocate one) */
  g_assert_cmpuint(largest, <, MAX((size_t)w * 8, (size_t)1 << 20));
  free(err);
}

static void
expect_refused(const char *name, const guint8 *data, gsize n, int w, int h, const vis_image_params *p)
{
  expect_refused_with(KERN_E_UNSUPPORTED, name, data, n, w, h, p);
}

static void
test_too_large(void)
{
  char *bytes = NULL;
  gsize n = 0;
  /* PNG: IHDR width and height at 16 and 20, CRC over type + data at 29 */
  char *path = fixture("dec-rgb.png");
  g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
  guint8 *png = (guint8 *)bytes;
  g_assert_cmpmem(png + 12, 4, "IHDR", 4);
  put_be32(png + 16, 20000);
  put_be32(png + 20, 20000);
  put_be32(png + 29, crc32_png(png + 12, 17));
  expect_refused("huge.png", png, n, 20000, 20000, NULL);
  /* also through a file, and against a tighter limit */
  char *tmp = write_tmp("huge.png", png, n);
  vis_image img;
  char *err = NULL;
  g_assert_cmpint(vis_image_load(tmp, NULL, &img, &err), ==, KERN_E_UNSUPPORTED);
  g_assert_nonnull(strstr(err, "20000"));
  free(err);
  g_free(tmp);
  g_free(bytes);
  g_free(path);

  /* JPEG: the SOF0/SOF2 segment's height and width */
  path = fixture("dec-rgb.jpg");
  g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
  guint8 *jpg = (guint8 *)bytes;
  gsize pos = 2;
  gboolean patched = FALSE;
  while (pos + 9 < n && jpg[pos] == 0xff) {
    guint8 m = jpg[pos + 1];
    gsize len = (gsize)jpg[pos + 2] << 8 | jpg[pos + 3];
    if (m == 0xc0 || m == 0xc2) {
      jpg[pos + 5] = 20000 >> 8;
      jpg[pos + 6] = 20000 & 0xff;
      jpg[pos + 7] = 20000 >> 8;
      jpg[pos + 8] = 20000 & 0xff;
      patched = TRUE;
      break;
    }
    pos += 2 + len;
  }
  g_assert_true(patched);
  expect_refused("huge.jpg", jpg, n, 20000, 20000, NULL);
  g_free(bytes);
  g_free(path);

  /* Every format against a limit below its size: the header check applies to all */
  vis_image_params tight = vis_image_default_params();
  tight.max_pixels = 1000; /* the fixtures are 64 x 48 = 3072 pixels */
  static const char *const all[] = { "dec-rgb.jpg", "dec-rgb.png", "dec-anim.gif", "dec-rgb.bmp",
                                     "dec-rgb.tif", "dec-lossy.webp", "dec-anim.webp" };
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++) {
    path = fixture(all[i]);
    g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
    expect_refused(all[i], (const guint8 *)bytes, n, 64, 48, &tight);
    g_free(bytes);
    g_free(path);
  }
  /* BMP header fields gdk-pixbuf's loader sizes a buffer by before its
   * size check (tests/fuzz found a 212-byte file that made it ask for 3.6 GB) */
  path = fixture("dec-rgb.bmp");
  g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
  guint8 *bmp = (guint8 *)bytes;
  static const guint32 bad_hsize[] = { 0x7fffffff, 0x2792be73, 41, 0 };
  for (gsize i = 0; i < G_N_ELEMENTS(bad_hsize); i++) {
    guint32 v = bad_hsize[i], keep = le32(bmp + 14);
    bmp[14] = (guint8)v, bmp[15] = (guint8)(v >> 8), bmp[16] = (guint8)(v >> 16), bmp[17] = (guint8)(v >> 24);
    expect_refused_with(KERN_E_FORMAT, "header-size.bmp", bmp, n, 64, 48, NULL);
    bmp[14] = (guint8)keep, bmp[15] = (guint8)(keep >> 8), bmp[16] = (guint8)(keep >> 16), bmp[17] = (guint8)(keep >> 24);
  }
  bmp[13] = 0x73; /* pixel offset past the end */
  expect_refused_with(KERN_E_FORMAT, "offset.bmp", bmp, n, 64, 48, NULL);
  g_free(bytes);
  g_free(path);

  vis_image_params side = vis_image_default_params();
  side.max_side = 50;
  path = fixture("dec-rgb.png");
  g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
  expect_refused("side.png", (const guint8 *)bytes, n, 64, 48, &side);
  g_free(bytes);
  g_free(path);
}

static void
test_names(void)
{
  static const char *const yes[] = { "a.jpg", "b.JPEG", "dir/c.png", "/x/y.Webp", "d.gif", "e.BMP", "f.tif",
                                     "g.tiff", "archive.tar.png" };
  static const char *const no[] = { "a.txt", "jpg", ".png", "dir.png/file", "a.jpgx", "a.", "", "a.svg",
                                    "photo.heic" };
  for (gsize i = 0; i < G_N_ELEMENTS(yes); i++)
    g_assert_true(vis_image_is_image_name(yes[i]));
  for (gsize i = 0; i < G_N_ELEMENTS(no); i++)
    g_assert_false(vis_image_is_image_name(no[i]));
  g_assert_false(vis_image_is_image_name(NULL));
}

static void
test_bad_args(void)
{
  vis_image img;
  char *err = NULL;
  g_assert_cmpint(vis_image_load(NULL, NULL, &img, &err), ==, KERN_E_INVAL);
  free(err);
  vis_image_params p = vis_image_default_params();
  p.max_pixels = 0;
  char *path = fixture("dec-rgb.png");
  g_assert_cmpint(vis_image_load(path, &p, &img, &err), ==, KERN_E_INVAL);
  free(err);
  g_free(path);
  g_assert_cmpint(vis_image_load_memory(NULL, 10, "x", NULL, &img, &err), ==, KERN_E_INVAL);
  free(err);
  /* errors without a message pointer */
  g_assert_cmpint(vis_image_load("/nonexistent.png", NULL, &img, NULL), ==, KERN_E_IO);
  vis_image_clear(&img);
  vis_image_clear(NULL);
}

/* ---- preprocessing -------------------------------------------------------------- */

static void
test_preprocess(gconstpointer data)
{
  const pre_case *c = data;
  char *path = fixture(c->file);
  vis_image img;
  char *err = NULL;
  g_assert_cmpint(vis_image_load(path, NULL, &img, &err), ==, 0);
  const int cw = c->p.crop_width, ch = c->p.crop_height;
  gsize n = (gsize)3 * cw * ch;
  float *out = g_new(float, n + 1);
  out[n] = 12345.0f; /* sentinel */
  int rc = vis_preprocess(&img, &c->p, out, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpfloat(out[n], ==, 12345.0f);
  gsize exact = 0, off1 = 0, worse = 0;
  for (int k = 0; k < 3; k++)
    for (gsize i = 0; i < (gsize)cw * ch; i++) {
      gsize idx = (gsize)k * cw * ch + i;
      float want = c->lut[k * 256 + c->pix[idx]];
      if (memcmp(&want, &out[idx], 4) == 0) {
        exact++;
        continue;
      }
      /* within one 8-bit level? */
      int v = c->pix[idx];
      if ((v > 0 && out[idx] == c->lut[k * 256 + v - 1]) || (v < 255 && out[idx] == c->lut[k * 256 + v + 1]))
        off1++;
      else
        worse++;
    }
  g_test_message("%s fit %d shortest %d crop %dx%d (image %dx%d): %zu exact, %zu one level off, %zu worse",
                 c->file, c->p.fit, c->p.shortest_edge, cw, ch, img.width, img.height, exact, off1, worse);
  g_assert_cmpuint(worse, ==, 0);
  g_assert_cmpuint(off1, ==, 0);
  g_free(out);
  vis_image_clear(&img);
  g_free(path);
}

static void
test_preprocess_params(void)
{
  guint8 px[2 * 3 * 3] = { 0 };
  vis_image img = { .width = 3, .height = 2, .rgb = px };
  float out[3 * 8 * 8];
  vis_preprocess_params ok = vis_preprocess_default_params();
  ok.shortest_edge = ok.crop_width = ok.crop_height = 8;
  char *err = NULL;
  g_assert_cmpint(vis_preprocess(&img, &ok, out, &err), ==, 0);
  g_assert_null(err);

  vis_preprocess_params bad[8];
  for (int i = 0; i < 8; i++)
    bad[i] = ok;
  bad[0].crop_width = 0;
  bad[1].crop_height = 8193;
  bad[2].shortest_edge = 0;
  bad[3].std[1] = 0.0f;
  bad[4].mean[2] = NAN;
  bad[5].fit = (vis_fit)7;
  bad[6].shortest_edge = -3;
  bad[7].std[0] = INFINITY;
  for (int i = 0; i < 8; i++) {
    g_assert_cmpint(vis_preprocess(&img, &bad[i], out, &err), ==, KERN_E_INVAL);
    g_assert_nonnull(err);
    free(err);
  }
  /* stretch does not use shortest_edge */
  vis_preprocess_params st = ok;
  st.fit = VIS_FIT_STRETCH;
  st.shortest_edge = 0;
  g_assert_cmpint(vis_preprocess(&img, &st, out, NULL), ==, 0);
  vis_image none = { 0 };
  g_assert_cmpint(vis_preprocess(&none, &ok, out, &err), ==, KERN_E_INVAL);
  free(err);
  g_assert_cmpint(vis_preprocess(&img, NULL, out, &err), ==, KERN_E_INVAL);
  free(err);
  g_assert_cmpint(vis_preprocess(&img, &ok, NULL, NULL), ==, KERN_E_INVAL);
}

/* A 1 x 4000 strip: the reference resizes it to 224 x 896000 before the
 * crop; only the window is computed here, so this is quick and small. */
static void
test_preprocess_extreme(void)
{
  const int h = 4000;
  guint8 *px = g_new(guint8, (gsize)h * 3);
  for (int y = 0; y < h; y++)
    for (int c = 0; c < 3; c++)
      px[y * 3 + c] = (guint8)(y * (c + 1));
  vis_image img = { .width = 1, .height = h, .rgb = px };
  vis_preprocess_params p = vis_preprocess_default_params();
  float *out = g_new(float, 3 * 224 * 224);
  g_assert_cmpint(vis_preprocess(&img, &p, out, NULL), ==, 0);
  for (gsize i = 0; i < 3 * 224 * 224; i++)
    g_assert_true(isfinite(out[i]));
  p.fit = VIS_FIT_PAD;
  g_assert_cmpint(vis_preprocess(&img, &p, out, NULL), ==, 0);
  /* the pad colour fills the left and right edges: int(0.48145466 * 255) = 122 */
  float x = (float)(122.0 * (1.0 / 255.0));
  g_assert_cmpfloat(out[0], ==, (x - p.mean[0]) / p.std[0]);
  g_free(out);
  g_free(px);
}

static void
test_golden_missing(void)
{
  g_test_fail_printf("tests/data/vision/golden.bin is missing: run tests/reference/make-vision-image-golden.py");
}

static void
remove_tmpdir(void)
{
  GDir *d = g_dir_open(tmpdir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    char *p = g_build_filename(tmpdir, name, NULL);
    g_unlink(p);
    g_free(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(tmpdir);
}

static void
test_build_info(void)
{
  const char *s = vis_build_info();
  g_assert_nonnull(strstr(s, "WebP"));
  g_assert_nonnull(strstr(s, "JPEG"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("hark-vision-XXXXXX", NULL);
  g_assert_nonnull(tmpdir);

  if (!load_golden())
    g_test_add_func("/vision/image/golden", test_golden_missing);
  for (guint i = 0; decode_cases && i < decode_cases->len; i++) {
    decode_case *c = decode_cases->pdata[i];
    char *name = g_strdup_printf("/vision/image/decode/%s", c->file);
    g_test_add_data_func(name, c, test_decode);
    g_free(name);
  }
  for (guint i = 0; pre_cases && i < pre_cases->len; i++) {
    pre_case *c = pre_cases->pdata[i];
    const char *fit = c->p.fit == VIS_FIT_PAD ? "pad" : c->p.fit == VIS_FIT_STRETCH ? "stretch" : "crop";
    char *name = g_strdup_printf("/vision/preprocess/%s/%s-%d-%dx%d", fit, c->file, c->p.shortest_edge,
                                 c->p.crop_width, c->p.crop_height);
    g_test_add_data_func(name, c, test_preprocess);
    g_free(name);
  }
  g_test_add_func("/vision/image/memory", test_memory);
  g_test_add_func("/vision/image/threads", test_threads);
  g_test_add_func("/vision/image/loaders-threadsafe", test_loaders_threadsafe);
  g_test_add_func("/vision/image/exif-parser", test_exif_parser);
  g_test_add_func("/vision/image/bad-files", test_bad_files);
  g_test_add_func("/vision/image/truncated", test_truncated);
  g_test_add_func("/vision/image/corrupt", test_corrupt);
  g_test_add_func("/vision/image/too-large", test_too_large);
  g_test_add_func("/vision/image/names", test_names);
  g_test_add_func("/vision/image/bad-args", test_bad_args);
  g_test_add_func("/vision/preprocess/params", test_preprocess_params);
  g_test_add_func("/vision/preprocess/extreme-aspect", test_preprocess_extreme);
  g_test_add_func("/vision/build-info", test_build_info);

  int rc = g_test_run();
  remove_tmpdir();
  g_free(tmpdir);
  if (decode_cases)
    g_ptr_array_unref(decode_cases);
  if (pre_cases)
    g_ptr_array_unref(pre_cases);
  g_free(golden_data);
  return rc;
}
