/* test-kernels-quant.c: element types, half/bfloat16 conversion and the GGUF
 * block formats of kern-type.c.
 *
 * Dequantization is compared bit for bit with gguf-py, through the golden file
 * data/quant-golden.bin that tests/reference/make-quant-golden.py writes. Its
 * format (little-endian, no padding):
 *   header: "HKQG", uint32 version = 1, uint32 n_records
 *   record: uint32 kind, uint32 type id, uint32 count, payload:
 *     kind 1 DEQUANT (count = n_blocks): blocks[n_blocks * type_size],
 *            float values[n_blocks * block_size]
 *     kind 2 QUANT (count = n_values): float input[n], encoded[row_size],
 *            double rmse of gguf-py's round trip
 *     kind 3 ENCODE (count = n_values): float input[n], encoded[row_size]
 * A missing, short or malformed golden file fails the tests that need it.
 *
 * Inputs are read from the end of a page followed by an inaccessible page, so
 * a read past n faults; outputs are followed by sentinel bytes.
 */
#include <glib.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kern-error.h"
#include "kern-quant.h"
#include "kern-type.h"

/* ---- helpers ------------------------------------------------------------ */

static uint32_t
f2u(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float
u2f(uint32_t u)
{
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* size bytes that end where an inaccessible page begins. */
typedef struct {
  void *map;
  size_t len;
} Guarded;

static void *
guarded_new(Guarded *g, size_t size)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t body = (size + page - 1) / page * page;
  if (body == 0)
    body = page;
  g->len = body + page;
  g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g_assert_true(g->map != MAP_FAILED);
  g_assert_cmpint(mprotect((char *)g->map + body, page, PROT_NONE), ==, 0);
  return (char *)g->map + body - size;
}

static void
guarded_free(Guarded *g)
{
  munmap(g->map, g->len);
}

#define SENTINEL 0xa5
#define SENTINEL_BYTES 64

static uint8_t *
sentinel_new(size_t size)
{
  uint8_t *p = g_malloc(size + SENTINEL_BYTES);
  memset(p, SENTINEL, size + SENTINEL_BYTES);
  return p;
}

static void
assert_sentinel(const uint8_t *p, size_t size)
{
  for (size_t i = 0; i < SENTINEL_BYTES; i++)
    if (p[size + i] != SENTINEL)
      g_error("byte %zu past the end of a %zu-byte output was written", i, size);
}

/* Fixed-seed standard normal values (Box-Muller on GRand's Mersenne Twister). */
static float *
gaussian_new(guint32 seed, size_t n)
{
  GRand *r = g_rand_new_with_seed(seed);
  float *x = g_new(float, n);
  for (size_t i = 0; i < n; i += 2) {
    double u1 = 1.0 - g_rand_double(r), u2 = g_rand_double(r);
    double rad = sqrt(-2.0 * log(u1));
    x[i] = (float)(rad * cos(2 * G_PI * u2));
    if (i + 1 < n)
      x[i + 1] = (float)(rad * sin(2 * G_PI * u2));
  }
  g_rand_free(r);
  return x;
}

static double
rms_diff(const float *a, const float *b, size_t n)
{
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - (b ? (double)b[i] : 0.0);
    s += d * d;
  }
  return sqrt(s / (double)n);
}

/* Quantize n values to t and back; returns the RMSE. Checks sentinels. */
static double
round_trip(int t, const float *x, size_t n, float *y_out)
{
  size_t rs = kern_type_row_size(t, (int64_t)n);
  g_assert_cmpuint(rs, >, 0);
  Guarded g;
  float *in = guarded_new(&g, n * sizeof(float));
  memcpy(in, x, n * sizeof(float));
  uint8_t *q = sentinel_new(rs);
  g_assert_cmpint(kern_quantize_row(t, in, q, (int64_t)n), ==, KERN_OK);
  assert_sentinel(q, rs);
  float *y = y_out ? y_out : g_new(float, n);
  g_assert_cmpint(kern_dequantize_row(t, q, y, (int64_t)n), ==, KERN_OK);
  double e = rms_diff(x, y, n);
  if (!y_out)
    g_free(y);
  g_free(q);
  guarded_free(&g);
  return e;
}

/* ---- golden file -------------------------------------------------------- */

enum { KIND_DEQUANT = 1, KIND_QUANT = 2, KIND_ENCODE = 3 };

typedef struct {
  uint32_t kind, type, count;
  const uint8_t *payload;
  size_t size;
} GoldenRecord;

static GBytes *golden_bytes;
static GArray *golden_records; /* of GoldenRecord */
static char *golden_error;

static uint32_t
read_u32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Payload bytes of a record, or 0 when the type or count make no sense. */
static size_t
golden_payload_size(uint32_t kind, uint32_t type, uint32_t count)
{
  const kern_type_traits *tr = kern_type_get_traits((int)type);
  if (tr == NULL || count == 0 || count > (1u << 20))
    return 0;
  switch (kind) {
  case KIND_DEQUANT:
    return count * tr->type_size + (size_t)count * tr->block_size * sizeof(float);
  case KIND_QUANT:
  case KIND_ENCODE: {
    size_t rs = kern_type_row_size((int)type, count);
    if (rs == 0)
      return 0;
    return count * sizeof(float) + rs + (kind == KIND_QUANT ? sizeof(double) : 0);
  }
  default:
    return 0;
  }
}

static gboolean
golden_load(void)
{
  if (golden_records)
    return TRUE;
  if (golden_error)
    return FALSE;

  char *path = g_test_build_filename(G_TEST_DIST, "data", "quant-golden.bin", NULL);
  char *contents = NULL;
  gsize len = 0;
  GError *error = NULL;
  if (!g_file_get_contents(path, &contents, &len, &error)) {
    golden_error = g_strdup_printf("golden file: %s", error->message);
    g_error_free(error);
    g_free(path);
    return FALSE;
  }
  golden_bytes = g_bytes_new_take(contents, len);
  const uint8_t *p = (const uint8_t *)contents, *end = p + len;

  if (len < 12 || memcmp(p, "HKQG", 4) != 0) {
    golden_error = g_strdup_printf("%s: not a quant golden file (bad magic or too short)", path);
  } else if (read_u32(p + 4) != 1) {
    golden_error = g_strdup_printf("%s: version %u, expected 1", path, read_u32(p + 4));
  } else {
    uint32_t n = read_u32(p + 8);
    GArray *recs = g_array_new(FALSE, FALSE, sizeof(GoldenRecord));
    p += 12;
    for (uint32_t i = 0; i < n && !golden_error; i++) {
      if (end - p < 12) {
        golden_error = g_strdup_printf("%s: truncated in record %u header", path, i);
        break;
      }
      GoldenRecord r = { read_u32(p), read_u32(p + 4), read_u32(p + 8), p + 12, 0 };
      r.size = golden_payload_size(r.kind, r.type, r.count);
      p += 12;
      if (r.size == 0)
        golden_error = g_strdup_printf("%s: record %u: bad kind %u / type %u / count %u", path, i,
                                       r.kind, r.type, r.count);
      else if ((size_t)(end - p) < r.size)
        golden_error = g_strdup_printf("%s: record %u truncated", path, i);
      else {
        g_array_append_val(recs, r);
        p += r.size;
      }
    }
    if (!golden_error && p != end)
      golden_error = g_strdup_printf("%s: %zu bytes after the last record", path, (size_t)(end - p));
    if (golden_error)
      g_array_unref(recs);
    else
      golden_records = recs;
  }
  g_free(path);
  return golden_error == NULL;
}

static const GoldenRecord *
golden_find(uint32_t kind, int type)
{
  if (!golden_load()) {
    g_test_fail_printf("%s", golden_error);
    return NULL;
  }
  for (guint i = 0; i < golden_records->len; i++) {
    const GoldenRecord *r = &g_array_index(golden_records, GoldenRecord, i);
    if (r->kind == kind && r->type == (uint32_t)type)
      return r;
  }
  g_test_fail_printf("golden file has no kind-%u record for %s", kind, kern_type_get_traits(type)->name);
  return NULL;
}

static void
test_golden_file(void)
{
  if (!golden_load()) {
    g_test_fail_printf("%s", golden_error);
    return;
  }
  g_assert_cmpuint(golden_records->len, >=, 20);
}

/* ---- dequantization against gguf-py -------------------------------------- */

static void
test_dequant_golden(gconstpointer data)
{
  int t = GPOINTER_TO_INT(data);
  const kern_type_traits *tr = kern_type_get_traits(t);
  const GoldenRecord *r = golden_find(KIND_DEQUANT, t);
  if (!r)
    return;
  size_t nbytes = r->count * tr->type_size;
  size_t n = (size_t)r->count * tr->block_size;

  Guarded g;
  uint8_t *src = guarded_new(&g, nbytes);
  memcpy(src, r->payload, nbytes);
  float *expect = g_new(float, n);
  memcpy(expect, r->payload + nbytes, n * sizeof(float));
  float *y = (float *)sentinel_new(n * sizeof(float));

  g_assert_cmpint(kern_dequantize_row(t, src, y, (int64_t)n), ==, KERN_OK);
  assert_sentinel((uint8_t *)y, n * sizeof(float));

  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    if (f2u(y[i]) != f2u(expect[i])) {
      if (bad < 8)
        g_test_message("%s value %zu (block %zu): got %.9g (0x%08x), gguf-py %.9g (0x%08x)", tr->name,
                       i, i / tr->block_size, y[i], f2u(y[i]), expect[i], f2u(expect[i]));
      bad++;
    }
  if (bad)
    g_test_fail_printf("%s: %zu of %zu values differ from gguf-py", tr->name, bad, n);

  g_free(y);
  g_free(expect);
  guarded_free(&g);
}

/* Plain types convert by value. */
static void
test_dequant_plain(void)
{
  float y[4];
  const float f32[4] = { 1.5f, -0.0f, 3e38f, -1e-45f };
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_F32, f32, y, 4), ==, KERN_OK);
  g_assert_cmpmem(y, sizeof y, f32, sizeof f32);

  const double f64[4] = { 0.1, -2.5, 1e300, 1e-320 };
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_F64, f64, y, 4), ==, KERN_OK);
  g_assert_true(y[0] == 0.1f && y[1] == -2.5f && isinf(y[2]) && y[3] == 0.0f);

  const int8_t i8[4] = { -128, -1, 0, 127 };
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_I8, i8, y, 4), ==, KERN_OK);
  g_assert_true(y[0] == -128.0f && y[1] == -1.0f && y[2] == 0.0f && y[3] == 127.0f);

  const int16_t i16[4] = { -32768, -300, 7, 32767 };
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_I16, i16, y, 4), ==, KERN_OK);
  g_assert_true(y[0] == -32768.0f && y[1] == -300.0f && y[2] == 7.0f && y[3] == 32767.0f);

  const int32_t i32[4] = { INT32_MIN, -5, 16777217, INT32_MAX };
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_I32, i32, y, 4), ==, KERN_OK);
  g_assert_true(y[0] == -2147483648.0f && y[1] == -5.0f && y[2] == 16777216.0f && y[3] == 2147483648.0f);

  const int64_t i64[4] = { INT64_MIN, -1, 1 << 30, INT64_MAX };
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_I64, i64, y, 4), ==, KERN_OK);
  g_assert_true(y[0] == -9223372036854775808.0f && y[1] == -1.0f && y[2] == 1073741824.0f &&
                y[3] == 9223372036854775808.0f);
}

/* q8_1 and q8_K round trips keep their side fields consistent. */
static void
test_q8_side_fields(void)
{
  float *x = gaussian_new(81, 512);
  kern_block_q8_1 b1[16];
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q8_1, x, b1, 512), ==, KERN_OK);
  for (int i = 0; i < 16; i++) {
    int sum = 0;
    float amax = 0;
    for (int j = 0; j < 32; j++) {
      sum += b1[i].qs[j];
      amax = fmaxf(amax, fabsf(x[32 * i + j]));
    }
    float d = amax / 127.0f;
    g_assert_cmphex(b1[i].d, ==, kern_f32_to_f16(d));
    g_assert_cmphex(b1[i].s, ==, kern_f32_to_f16((float)sum * d));
  }

  kern_block_q8_K bk[2];
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q8_K, x, bk, 512), ==, KERN_OK);
  for (int i = 0; i < 2; i++) {
    float amax = 0;
    for (int j = 0; j < 256; j++)
      amax = fmaxf(amax, fabsf(x[256 * i + j]));
    g_assert_cmpfloat(bk[i].d, ==, amax / 127.0f);
    for (int g = 0; g < 16; g++) {
      int sum = 0;
      for (int l = 0; l < 16; l++) {
        sum += bk[i].qs[16 * g + l];
        g_assert_cmpint(abs(bk[i].qs[16 * g + l]), <=, 127);
      }
      g_assert_cmpint(bk[i].bsums[g], ==, sum);
    }
  }
  g_free(x);
}

/* ---- quantization against gguf-py ---------------------------------------- */

/* Legacy types: the encoders reproduce gguf-py's byte for byte; the RMSE must
 * in any case be no worse than gguf-py's on the same input. */
static void
test_quant_golden(gconstpointer data)
{
  int t = GPOINTER_TO_INT(data);
  const kern_type_traits *tr = kern_type_get_traits(t);
  const GoldenRecord *r = golden_find(KIND_QUANT, t);
  if (!r)
    return;
  size_t n = r->count, rs = kern_type_row_size(t, (int64_t)n);
  float *x = g_new(float, n);
  memcpy(x, r->payload, n * sizeof(float));
  const uint8_t *expect = r->payload + n * sizeof(float);
  double ref_rmse;
  memcpy(&ref_rmse, expect + rs, sizeof ref_rmse);

  Guarded g;
  float *in = guarded_new(&g, n * sizeof(float));
  memcpy(in, x, n * sizeof(float));
  uint8_t *q = sentinel_new(rs);
  g_assert_cmpint(kern_quantize_row(t, in, q, (int64_t)n), ==, KERN_OK);
  assert_sentinel(q, rs);

  float *y = g_new(float, n);
  g_assert_cmpint(kern_dequantize_row(t, q, y, (int64_t)n), ==, KERN_OK);
  double rmse = rms_diff(x, y, n);
  g_test_message("%s: rmse %.9g, gguf-py %.9g", tr->name, rmse, ref_rmse);
  g_assert_cmpfloat(rmse, <=, ref_rmse * (1 + 1e-6));

  size_t bad = 0;
  for (size_t b = 0; b < rs / tr->type_size; b++)
    if (memcmp(q + b * tr->type_size, expect + b * tr->type_size, tr->type_size) != 0)
      bad++;
  if (bad)
    g_test_fail_printf("%s: %zu of %zu blocks differ from gguf-py's encoding", tr->name, bad,
                       rs / tr->type_size);

  g_free(y);
  g_free(q);
  g_free(x);
  guarded_free(&g);
}

/* f16 and bf16 encodings of rounding edge cases (ties, overflow, subnormals,
 * NaN) against numpy's / gguf-py's. */
static void
test_encode_golden(gconstpointer data)
{
  int t = GPOINTER_TO_INT(data);
  const GoldenRecord *r = golden_find(KIND_ENCODE, t);
  if (!r)
    return;
  const uint8_t *in = r->payload, *out = r->payload + r->count * sizeof(float);
  size_t bad = 0;
  for (uint32_t i = 0; i < r->count; i++) {
    float v;
    uint16_t want, got;
    memcpy(&v, in + 4 * i, 4);
    memcpy(&want, out + 2 * i, 2);
    got = t == KERN_TYPE_F16 ? kern_f32_to_f16(v) : kern_f32_to_bf16(v);
    if (got != want && bad++ < 8)
      g_test_message("0x%08x encodes as 0x%04x, reference 0x%04x", f2u(v), got, want);
  }
  if (bad)
    g_test_fail_printf("%s: %zu of %u encodings differ", kern_type_get_traits(t)->name, bad, r->count);
}

/* ---- k-quants and the 8-bit types: round trip on Gaussian data ----------- */

/* A naive encoder's error, with exact float scales (better than any naive
 * one that must also store them in the format): per group of `group`
 * values, symmetric levels [-lmax, lmax] from max|x|, or asymmetric levels
 * [0, lmax] from (min, max). */
static double
naive_rmse(const float *x, size_t n, int group, int lmax, gboolean asym)
{
  double s = 0;
  for (size_t i = 0; i < n; i += group) {
    float lo = x[i], hi = x[i], amax = 0;
    for (int j = 0; j < group; j++) {
      lo = fminf(lo, x[i + j]);
      hi = fmaxf(hi, x[i + j]);
      amax = fmaxf(amax, fabsf(x[i + j]));
    }
    for (int j = 0; j < group; j++) {
      double y;
      if (asym) {
        double d = (hi - lo) / lmax;
        y = lo + d * round((x[i + j] - lo) / d);
      } else {
        double d = amax / lmax;
        y = d * round(x[i + j] / d);
      }
      s += (y - x[i + j]) * (y - x[i + j]);
    }
  }
  return sqrt(s / (double)n);
}

typedef struct {
  int type;
  double bound;       /* RMSE / std of the data must stay below this */
  int group, lmax;    /* the naive encoder to beat */
  gboolean asym;
  double naive_ratio; /* ... by at least this factor */
} RoundTripCase;

/* Bounds: the RMSE/std measured on this data (16384 N(0,1) values, GRand
 * seed 1234), plus about 2%. The k-quant encoders must also beat the naive
 * encoder of their format by a clear factor, although that naive encoder is
 * given exact float scales (an in-format one, with 6-bit or int8 scales, does
 * worse still). The 8-bit types are max-abs designs: they must merely match
 * the naive encoder (within 1%: the fp16 scale costs ~0.1%).
 *            ours (x86-64, gcc)   naive, exact scales        bound
 *   q4_K     0.069829             0.078067  (32 x [0,15])    0.0712, >= 1.06x
 *   q5_K     0.034379             0.037652  (32 x [0,31])    0.0351, >= 1.05x
 *   q6_K     0.016407             0.019117  (16 x [-31,31])  0.0168, >= 1.08x
 *   q8_K     0.006826             0.006826  (256 x +-127)    0.0070
 *   q8_0/1   0.005331             0.005327  (32 x +-127)     0.0055
 */
static const RoundTripCase round_trip_cases[] = {
  { KERN_TYPE_Q4_K, 0.0712, 32, 15, TRUE, 1.06 },
  { KERN_TYPE_Q5_K, 0.0351, 32, 31, TRUE, 1.05 },
  { KERN_TYPE_Q6_K, 0.0168, 16, 31, FALSE, 1.08 },
  { KERN_TYPE_Q8_K, 0.0070, 256, 127, FALSE, 0.99 },
  { KERN_TYPE_Q8_0, 0.0055, 32, 127, FALSE, 0.99 },
  { KERN_TYPE_Q8_1, 0.0055, 32, 127, FALSE, 0.99 },
};

static void
test_quant_round_trip(gconstpointer data)
{
  const RoundTripCase *c = data;
  const kern_type_traits *tr = kern_type_get_traits(c->type);
  const size_t n = 16384;
  float *x = gaussian_new(1234, n);
  double std = rms_diff(x, NULL, n);
  double rel = round_trip(c->type, x, n, NULL) / std;
  double naive = naive_rmse(x, n, c->group, c->lmax, c->asym) / std;
  g_test_message("%s: rmse/std %.6f (bound %.4f), naive %.6f, naive/ours %.4f", tr->name, rel, c->bound,
                 naive, naive / rel);
  g_assert_cmpfloat(rel, <, c->bound);
  g_assert_cmpfloat(naive / rel, >=, c->naive_ratio);
  g_free(x);
}

/* Valid but uneven sizes: one block, one super-block, 17 super-blocks. */
static void
test_quant_sizes(void)
{
  static const int64_t sizes[] = { 32, 256, 4096 + 256 };
  float *x = gaussian_new(7, 4096 + 256);
  for (int t = 0; t < KERN_TYPE_COUNT; t++) {
    const kern_type_traits *tr = kern_type_get_traits(t);
    if (!tr || !kern_type_can_quantize(t))
      continue;
    for (size_t k = 0; k < G_N_ELEMENTS(sizes); k++) {
      int64_t n = sizes[k];
      if (n % tr->block_size)
        continue;
      size_t rs = kern_type_row_size(t, n);
      g_assert_cmpuint(rs, ==, (size_t)(n / tr->block_size) * tr->type_size);
      float *y = (float *)sentinel_new((size_t)n * sizeof(float));
      double e = round_trip(t, x, (size_t)n, y);
      assert_sentinel((uint8_t *)y, (size_t)n * sizeof(float));
      g_assert_true(isfinite(e));
      g_assert_cmpfloat(e, <, 0.25); /* q4_0 on N(0,1) is ~0.1 */
      if (t == KERN_TYPE_F32)
        g_assert_cmpfloat(e, ==, 0.0);
      g_free(y);
    }
  }
  g_free(x);
}

/* ---- half and bfloat16 ----------------------------------------------------- */

/* f16 -> f32 by arithmetic instead of bit moves. */
static float
ref_f16_to_f32(uint16_t h)
{
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v;
  if (exp == 31)
    v = mant ? NAN : INFINITY;
  else if (exp == 0)
    v = ldexp(mant, -24);
  else
    v = ldexp(1024 + mant, exp - 25);
  return (float)(sign ? -v : v);
}

/* f32 -> f16 by scaling to units of the half quantum and nearbyint(). */
static uint16_t
ref_f32_to_f16(float f)
{
  uint16_t sign = signbit(f) ? 0x8000 : 0;
  double a = fabs((double)f);
  if (isinf(f) || a >= 65520.0) /* 65520 ties to even: 65536, out of range */
    return sign | 0x7c00;
  int e;
  frexp(a, &e); /* a in [2^(e-1), 2^e) */
  int ue = MAX(e - 1, -14);
  double r = nearbyint(ldexp(a, 10 - ue)); /* exact scaling, ties to even */
  if (r >= 2048) {
    ue++;
    r /= 2;
  }
  if (r < 1024) /* subnormal or zero */
    return sign | (uint16_t)r;
  return sign | (uint16_t)(((ue + 15) << 10) | ((int)r - 1024));
}

static void
test_f16(void)
{
  /* every half to float: as arithmetic decodes it; NaN keeps sign and payload */
  for (uint32_t h = 0; h < 0x10000; h++) {
    float got = kern_f16_to_f32((uint16_t)h), want = ref_f16_to_f32((uint16_t)h);
    if (isnan(want)) {
      g_assert_true(isnan(got));
      g_assert_cmphex(f2u(got), ==, ((h & 0x8000u) << 16) | 0x7f800000u | ((h & 0x3ffu) << 13));
    } else if (f2u(got) != f2u(want)) {
      g_test_fail_printf("f16 0x%04x: got 0x%08x, want 0x%08x", h, f2u(got), f2u(want));
      return;
    }
  }

  /* every non-NaN half survives the trip back */
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
      continue;
    g_assert_cmphex(kern_f32_to_f16(kern_f16_to_f32((uint16_t)h)), ==, h);
  }

  /* midpoints between neighbours tie to the even one; an ulp off goes to the
   * nearer; the top one (65520) ties up to inf */
  for (uint32_t h = 0; h < 0x7c00; h++) {
    for (int s = 0; s < 2; s++) {
      uint16_t sign = s ? 0x8000 : 0;
      double lo = kern_f16_to_f32((uint16_t)h);
      double hi = (h + 1 == 0x7c00) ? 65536.0 : kern_f16_to_f32((uint16_t)(h + 1));
      float mid = (float)((lo + hi) / 2); /* exact: 12 significant bits */
      g_assert_cmpfloat((double)mid, ==, (lo + hi) / 2);
      if (s)
        mid = -mid;
      uint16_t even = (uint16_t)((h & 1) ? h + 1 : h);
      uint32_t mu = f2u(mid);
      g_assert_cmphex(kern_f32_to_f16(mid), ==, sign | even);
      g_assert_cmphex(kern_f32_to_f16(u2f(mu - 1)), ==, sign | h);     /* toward zero */
      g_assert_cmphex(kern_f32_to_f16(u2f(mu + 1)), ==, sign | (h + 1)); /* away */
    }
  }

  /* a sweep over float32 bit patterns against the arithmetic rounding */
  for (uint64_t u = 0; u < 0x100000000ull; u += 997) {
    float f = u2f((uint32_t)u);
    if (isnan(f))
      continue;
    uint16_t got = kern_f32_to_f16(f), want = ref_f32_to_f16(f);
    if (got != want) {
      g_test_fail_printf("f32 0x%08x: got 0x%04x, want 0x%04x", (uint32_t)u, got, want);
      return;
    }
  }

  /* specials; NaN stays NaN with its sign and top payload bits, as numpy */
  g_assert_cmphex(kern_f32_to_f16(INFINITY), ==, 0x7c00);
  g_assert_cmphex(kern_f32_to_f16(-INFINITY), ==, 0xfc00);
  g_assert_cmphex(kern_f32_to_f16(1e10f), ==, 0x7c00);
  g_assert_cmphex(kern_f32_to_f16(-0.0f), ==, 0x8000);
  g_assert_cmphex(kern_f32_to_f16(u2f(0x7fc00000)), ==, 0x7e00);
  g_assert_cmphex(kern_f32_to_f16(u2f(0xffc02000)), ==, 0xfe01);
  g_assert_cmphex(kern_f32_to_f16(u2f(0x7f800001)), ==, 0x7c01); /* payload lost below: kept NaN */
  g_assert_cmphex(kern_f32_to_f16(u2f(0x00000001)), ==, 0x0000);
  g_assert_cmphex(kern_f32_to_f16(ldexpf(1.0f, -24)), ==, 0x0001);
  g_assert_cmphex(kern_f32_to_f16(ldexpf(1.0f, -25)), ==, 0x0000); /* tie to even (zero) */
  g_assert_cmphex(kern_f32_to_f16(ldexpf(3.0f, -25)), ==, 0x0002); /* 1.5 quanta: tie to 2 */
}

/* bf16 -> f32 by arithmetic. */
static float
ref_bf16_to_f32(uint16_t b)
{
  int sign = b >> 15, exp = (b >> 7) & 255, mant = b & 127;
  double v;
  if (exp == 255)
    v = mant ? NAN : INFINITY;
  else if (exp == 0)
    v = ldexp(mant, -133);
  else
    v = ldexp(128 + mant, exp - 134);
  return (float)(sign ? -v : v);
}

/* f32 -> bf16 by rounding to a multiple of the bf16 quantum in double. */
static uint16_t
ref_f32_to_bf16(float f)
{
  double a = fabs((double)f);
  uint16_t sign = signbit(f) ? 0x8000 : 0;
  if (isinf(f))
    return sign | 0x7f80;
  if (a == 0)
    return sign;
  int e;
  frexp(a, &e);
  int ue = MAX(e - 1, -126);
  double quantum = ldexp(1.0, ue - 7);
  double r = nearbyint(a / quantum) * quantum;
  if (r >= ldexp(1.0, 128))
    return sign | 0x7f80;
  return sign | (uint16_t)(f2u((float)r) >> 16);
}

static void
test_bf16(void)
{
  for (uint32_t b = 0; b < 0x10000; b++) {
    float got = kern_bf16_to_f32((uint16_t)b), want = ref_bf16_to_f32((uint16_t)b);
    if (isnan(want)) {
      g_assert_cmphex(f2u(got), ==, b << 16); /* payload and sign kept */
    } else if (f2u(got) != f2u(want)) {
      g_test_fail_printf("bf16 0x%04x: got 0x%08x, want 0x%08x", b, f2u(got), f2u(want));
      return;
    }
  }

  for (uint32_t b = 0; b < 0x10000; b++) {
    uint32_t u = b << 16;
    if ((b & 0x7f80) == 0x7f80) {
      if (b & 0x7f) /* NaN: kept, made quiet */
        g_assert_cmphex(kern_f32_to_bf16(u2f(u | 0x1234)), ==, b | 0x40);
      else
        g_assert_cmphex(kern_f32_to_bf16(u2f(u)), ==, b);
      continue;
    }
    g_assert_cmphex(kern_f32_to_bf16(u2f(u)), ==, b);
    uint16_t even = (uint16_t)((b & 1) ? b + 1 : b);
    g_assert_cmphex(kern_f32_to_bf16(u2f(u | 0x8000)), ==, even);
    g_assert_cmphex(kern_f32_to_bf16(u2f(u | 0x7fff)), ==, b);
    g_assert_cmphex(kern_f32_to_bf16(u2f(u | 0x8001)), ==, b + 1);
  }

  for (uint64_t u = 0; u < 0x100000000ull; u += 997) {
    float f = u2f((uint32_t)u);
    if (isnan(f))
      continue;
    uint16_t got = kern_f32_to_bf16(f), want = ref_f32_to_bf16(f);
    if (got != want) {
      g_test_fail_printf("f32 0x%08x: got 0x%04x, want 0x%04x", (uint32_t)u, got, want);
      return;
    }
  }
}

/* ---- traits, sizes, errors ------------------------------------------------- */

static void
test_traits(void)
{
  static const struct {
    int type;
    const char *name;
    int block;
    size_t size;
    int quantized, can_quantize;
  } expect[] = {
    { KERN_TYPE_F32, "f32", 1, 4, 0, 1 },
    { KERN_TYPE_F16, "f16", 1, 2, 0, 1 },
    { KERN_TYPE_Q4_0, "q4_0", 32, 18, 1, 1 },
    { KERN_TYPE_Q4_1, "q4_1", 32, 20, 1, 1 },
    { KERN_TYPE_Q5_0, "q5_0", 32, 22, 1, 1 },
    { KERN_TYPE_Q5_1, "q5_1", 32, 24, 1, 1 },
    { KERN_TYPE_Q8_0, "q8_0", 32, 34, 1, 1 },
    { KERN_TYPE_Q8_1, "q8_1", 32, 36, 1, 1 },
    { KERN_TYPE_Q2_K, "q2_K", 256, 84, 1, 0 },
    { KERN_TYPE_Q3_K, "q3_K", 256, 110, 1, 0 },
    { KERN_TYPE_Q4_K, "q4_K", 256, 144, 1, 1 },
    { KERN_TYPE_Q5_K, "q5_K", 256, 176, 1, 1 },
    { KERN_TYPE_Q6_K, "q6_K", 256, 210, 1, 1 },
    { KERN_TYPE_Q8_K, "q8_K", 256, 292, 1, 1 },
    { KERN_TYPE_I8, "i8", 1, 1, 0, 0 },
    { KERN_TYPE_I16, "i16", 1, 2, 0, 0 },
    { KERN_TYPE_I32, "i32", 1, 4, 0, 0 },
    { KERN_TYPE_I64, "i64", 1, 8, 0, 0 },
    { KERN_TYPE_F64, "f64", 1, 8, 0, 0 },
    { KERN_TYPE_BF16, "bf16", 1, 2, 0, 1 },
  };
  int known = 0;
  for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
    const kern_type_traits *tr = kern_type_get_traits(expect[i].type);
    g_assert_nonnull(tr);
    g_assert_cmpstr(tr->name, ==, expect[i].name);
    g_assert_cmpint(tr->block_size, ==, expect[i].block);
    g_assert_cmpuint(tr->type_size, ==, expect[i].size);
    g_assert_cmpint(tr->is_quantized, ==, expect[i].quantized);
    g_assert_cmpint(kern_type_can_quantize(expect[i].type), ==, expect[i].can_quantize);
    g_assert_cmpint(kern_type_from_name(expect[i].name), ==, expect[i].type);
    char *up = g_ascii_strup(expect[i].name, -1);
    g_assert_cmpint(kern_type_from_name(up), ==, expect[i].type);
    g_free(up);
  }
  for (int t = -3; t < KERN_TYPE_COUNT + 40; t++)
    if (kern_type_get_traits(t))
      known++;
  g_assert_cmpint(known, ==, (int)G_N_ELEMENTS(expect));

  static const int unknown[] = { -1, 4, 5, 16, 17, 20, 23, 29, 31, 32, 39, 1000, INT32_MIN };
  for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
    g_assert_null(kern_type_get_traits(unknown[i]));
    g_assert_cmpuint(kern_type_row_size(unknown[i], 256), ==, 0);
    g_assert_false(kern_type_can_quantize(unknown[i]));
  }
  g_assert_cmpint(kern_type_from_name("Q4_k"), ==, KERN_TYPE_Q4_K);
  g_assert_cmpint(kern_type_from_name("q4_2"), ==, -1);
  g_assert_cmpint(kern_type_from_name("q4_k_m"), ==, -1);
  g_assert_cmpint(kern_type_from_name("q4"), ==, -1);
  g_assert_cmpint(kern_type_from_name(""), ==, -1);
  g_assert_cmpint(kern_type_from_name(NULL), ==, -1);
}

static void
test_row_size(void)
{
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F32, 10), ==, 40);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_BF16, 3), ==, 6);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_0, 4096), ==, 128 * 18);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_K, 4096), ==, 16 * 144);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q6_K, 256), ==, 210);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q8_K, 512), ==, 584);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F32, 0), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_0, 31), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_0, 48), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_K, 32), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_K, 4096 + 32), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F32, -4), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_0, -32), ==, 0);
  /* overflow of size_t */
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F32, INT64_MAX), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_I64, INT64_MAX), ==, 0);
#if SIZE_MAX <= INT64_MAX
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_I8, (int64_t)SIZE_MAX), ==, SIZE_MAX);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F16, (int64_t)(SIZE_MAX / 2)), ==, SIZE_MAX / 2 * 2);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F16, (int64_t)(SIZE_MAX / 2) + 1), ==, 0);
#else
  /* 64-bit size_t: the largest int64 blocks still fit for the small types */
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_I8, INT64_MAX), ==, (size_t)INT64_MAX);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F32, (int64_t)(SIZE_MAX / 4)), ==, SIZE_MAX / 4 * 4);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_F32, (int64_t)(SIZE_MAX / 4) + 1), ==, 0);
  g_assert_cmpuint(kern_type_row_size(KERN_TYPE_Q4_0, INT64_MAX / 32 * 32), ==,
                   (size_t)(INT64_MAX / 32) * 18);
#endif
}

static void
test_errors(void)
{
  float x[512] = { 0 }, y[512];
  uint8_t q[1024];
  memset(q, SENTINEL, sizeof q);
  for (int i = 0; i < 512; i++)
    x[i] = (float)i / 100.0f;

  static const int bad_types[] = { -1, 4, 5, 16, 23, 29, 31, 1000 };
  for (size_t i = 0; i < G_N_ELEMENTS(bad_types); i++) {
    g_assert_cmpint(kern_dequantize_row(bad_types[i], q, y, 32), ==, KERN_E_INVAL);
    g_assert_cmpint(kern_quantize_row(bad_types[i], x, q, 32), ==, KERN_E_INVAL);
  }
  /* n not a multiple of the block, or negative */
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_Q4_0, q, y, 31), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_Q4_K, q, y, 32), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_F32, q, y, -1), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q8_0, x, q, 33), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q6_K, x, q, 128), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q4_K, x, q, 256 + 32), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_F16, x, q, -2), ==, KERN_E_INVAL);
  /* valid types with no encoder */
  static const int no_encoder[] = { KERN_TYPE_Q2_K, KERN_TYPE_Q3_K, KERN_TYPE_I8,  KERN_TYPE_I16,
                                    KERN_TYPE_I32,  KERN_TYPE_I64,  KERN_TYPE_F64 };
  for (size_t i = 0; i < G_N_ELEMENTS(no_encoder); i++)
    g_assert_cmpint(kern_quantize_row(no_encoder[i], x, q, 256), ==, KERN_E_UNSUPPORTED);
  /* nothing was written by the failures */
  for (size_t i = 0; i < sizeof q; i++)
    g_assert_cmphex(q[i], ==, SENTINEL);
  /* missing buffers; an empty row is fine */
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q8_0, NULL, q, 32), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_Q8_0, q, NULL, 32), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_quantize_row(KERN_TYPE_Q8_0, x, q, 0), ==, KERN_OK);
  g_assert_cmpint(kern_dequantize_row(KERN_TYPE_Q4_K, q, y, 0), ==, KERN_OK);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  static const int dequant_types[] = {
    KERN_TYPE_F16,  KERN_TYPE_BF16, KERN_TYPE_Q4_0, KERN_TYPE_Q4_1, KERN_TYPE_Q5_0,
    KERN_TYPE_Q5_1, KERN_TYPE_Q8_0, KERN_TYPE_Q8_1, KERN_TYPE_Q2_K, KERN_TYPE_Q3_K,
    KERN_TYPE_Q4_K, KERN_TYPE_Q5_K, KERN_TYPE_Q6_K, KERN_TYPE_Q8_K,
  };
  static const int quant_types[] = {
    KERN_TYPE_BF16, KERN_TYPE_Q8_0, KERN_TYPE_Q4_0, KERN_TYPE_Q4_1, KERN_TYPE_Q5_0, KERN_TYPE_Q5_1,
  };

  g_test_add_func("/kernels/quant/golden-file", test_golden_file);
  g_test_add_func("/kernels/quant/traits", test_traits);
  g_test_add_func("/kernels/quant/row-size", test_row_size);
  g_test_add_func("/kernels/quant/errors", test_errors);
  g_test_add_func("/kernels/quant/f16", test_f16);
  g_test_add_func("/kernels/quant/bf16", test_bf16);
  g_test_add_func("/kernels/quant/dequant/plain", test_dequant_plain);
  for (size_t i = 0; i < G_N_ELEMENTS(dequant_types); i++) {
    char *path = g_strdup_printf("/kernels/quant/dequant/%s", kern_type_get_traits(dequant_types[i])->name);
    g_test_add_data_func(path, GINT_TO_POINTER(dequant_types[i]), test_dequant_golden);
    g_free(path);
  }
  g_test_add_data_func("/kernels/quant/encode/f16", GINT_TO_POINTER(KERN_TYPE_F16), test_encode_golden);
  g_test_add_data_func("/kernels/quant/encode/bf16", GINT_TO_POINTER(KERN_TYPE_BF16), test_encode_golden);
  for (size_t i = 0; i < G_N_ELEMENTS(quant_types); i++) {
    char *path = g_strdup_printf("/kernels/quant/quantize/%s", kern_type_get_traits(quant_types[i])->name);
    g_test_add_data_func(path, GINT_TO_POINTER(quant_types[i]), test_quant_golden);
    g_free(path);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(round_trip_cases); i++) {
    char *path = g_strdup_printf("/kernels/quant/round-trip/%s",
                                 kern_type_get_traits(round_trip_cases[i].type)->name);
    g_test_add_data_func(path, &round_trip_cases[i], test_quant_round_trip);
    g_free(path);
  }
  g_test_add_func("/kernels/quant/quantize/sizes", test_quant_sizes);
  g_test_add_func("/kernels/quant/quantize/q8-side-fields", test_q8_side_fields);

  int ret = g_test_run();
  if (golden_records)
    g_array_unref(golden_records);
  g_clear_pointer(&golden_bytes, g_bytes_unref);
  g_free(golden_error);
  return ret;
}
