/* test-audio-vad.c: Silero VAD in C against the silero-vad package's
 * probabilities on real speech (tests/reference/make-vad-golden.py), the
 * energy fallback on the same audio, the level meter, and bad model files. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aud-vad.h"

typedef struct {
  guint32 n_samples, n_chunks;
  float *samples; /* (n_samples) */
  float *probs;   /* (n_chunks) */
} golden;

static char *
vad_model_path(void)
{
  const char *root = g_getenv("HARK_SOURCE_ROOT");
  return g_build_filename(root ? root : ".", "..", "shared", "data", "ggml-format", "for-tests-silero-v6.2.0-ggml.bin",
                          NULL);
}

static gboolean
load_golden(golden *g)
{
  char *path = g_test_build_filename(G_TEST_DIST, "data", "audio", "vad-golden.bin", NULL);
  gchar *data;
  gsize size;
  g_assert_true(g_file_get_contents(path, &data, &size, NULL));
  g_free(path);
  guint32 hdr[5];
  g_assert_cmpuint(size, >=, 24);
  g_assert_cmpmem(data, 4, "HVAD", 4);
  memcpy(hdr, data + 4, sizeof hdr);
  g_assert_cmpuint(hdr[0], ==, 1);
  g_assert_cmpuint(hdr[3], ==, AUD_VAD_CHUNK);
  g_assert_cmpuint(hdr[4], ==, AUD_VAD_SAMPLE_RATE);
  g->n_samples = hdr[1];
  g->n_chunks = hdr[2];
  g_assert_cmpuint((guint64)g->n_chunks * AUD_VAD_CHUNK, <=, g->n_samples);
  g_assert_cmpuint(size, ==, 24 + 2 * (gsize)g->n_samples + 4 * (gsize)g->n_chunks);
  g->samples = g_new(float, g->n_samples);
  g->probs = g_new(float, g->n_chunks);
  for (guint32 i = 0; i < g->n_samples; i++) {
    int16_t s;
    memcpy(&s, data + 24 + 2 * (gsize)i, 2);
    g->samples[i] = (float)s / 32768.0f;
  }
  memcpy(g->probs, data + 24 + 2 * (gsize)g->n_samples, 4 * (gsize)g->n_chunks);
  g_free(data);
  return TRUE;
}

static void
golden_clear(golden *g)
{
  g_free(g->samples);
  g_free(g->probs);
}

static void
test_silero_golden(void)
{
  char *path = vad_model_path();
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_test_skip("no Silero VAD file at ../shared/data/ggml-format");
    g_free(path);
    return;
  }
  char *err = NULL;
  aud_vad *v = aud_vad_open(path, &err);
  if (!v)
    g_error("%s", err);
  g_assert_cmpstr(aud_vad_kind(v), ==, "silero");
  golden g;
  load_golden(&g);
  float max_diff = 0;
  int n_speech = 0, n_agree = 0;
  for (int pass = 0; pass < 2; pass++) { /* the second pass checks that reset forgets everything */
    aud_vad_reset(v);
    max_diff = 0, n_speech = 0, n_agree = 0;
    for (guint32 i = 0; i < g.n_chunks; i++) {
      float p;
      g_assert_cmpint(aud_vad_process(v, g.samples + (size_t)i * AUD_VAD_CHUNK, &p), ==, 0);
      g_assert_true(p >= 0 && p <= 1);
      max_diff = fmaxf(max_diff, fabsf(p - g.probs[i]));
      n_speech += g.probs[i] > 0.5f;
      n_agree += (p > 0.5f) == (g.probs[i] > 0.5f);
    }
  }
  g_test_message("%u chunks, %d speech; max |p - p_ref| = %.5f; decisions agree on %d", g.n_chunks, n_speech, max_diff,
                 n_agree);
  /* The file holds the convolutions in F16, the package F32: measured 0.0040. */
  g_assert_cmpfloat(max_diff, <, 0.01f);
  g_assert_cmpint(n_agree, ==, (int)g.n_chunks);
  /* The audio is about 60% speech; the reference must say so too. */
  g_assert_cmpint(n_speech, >, (int)g.n_chunks / 3);
  g_assert_cmpint(n_speech, <, (int)g.n_chunks * 9 / 10);
  golden_clear(&g);
  aud_vad_free(v);
  g_free(path);
}

/* The fallback has to find the same speech, give or take onsets and tails. */
static void
test_energy(void)
{
  aud_vad *v = aud_vad_new_energy();
  g_assert_nonnull(v);
  g_assert_cmpstr(aud_vad_kind(v), ==, "energy");
  golden g;
  load_golden(&g);
  int agree = 0, false_speech = 0;
  for (guint32 i = 0; i < g.n_chunks; i++) {
    float p;
    g_assert_cmpint(aud_vad_process(v, g.samples + (size_t)i * AUD_VAD_CHUNK, &p), ==, 0);
    agree += (p > 0.5f) == (g.probs[i] > 0.5f);
    false_speech += p > 0.5f && g.probs[i] < 0.1f;
  }
  g_test_message("energy VAD agrees with Silero on %d of %u chunks, %d chunks called speech where Silero says < 0.1",
                 agree, g.n_chunks, false_speech);
  g_assert_cmpint(agree, >=, (int)g.n_chunks * 8 / 10);
  g_assert_cmpint(false_speech, <=, (int)g.n_chunks / 40);
  /* Digital silence never reads as speech, nor a steady quiet noise (-51
   * dBFS) after it, at the latest once the floor has had 2 s to learn it. */
  aud_vad_reset(v);
  float chunk[AUD_VAD_CHUNK];
  GRand *r = g_rand_new_with_seed(3);
  for (int i = 0; i < 300; i++) {
    for (int k = 0; k < AUD_VAD_CHUNK; k++)
      chunk[k] = i < 100 ? 0.0f : (float)g_rand_double_range(r, -0.005, 0.005);
    float p;
    aud_vad_process(v, chunk, &p);
    if (i > 100 + 62)
      g_assert_cmpfloat(p, <, 0.5f);
    if (i < 100)
      g_assert_cmpfloat(p, ==, 0.0f);
  }
  g_rand_free(r);
  golden_clear(&g);
  aud_vad_free(v);
}

static void
test_level(void)
{
  float x[1600];
  for (int i = 0; i < 1600; i++)
    x[i] = sinf(2 * (float)G_PI * 1000 * (float)i / 16000);
  g_assert_cmpfloat_with_epsilon(aud_level_dbfs(x, 1600), -3.0103f, 0.01f);
  for (int i = 0; i < 1600; i++)
    x[i] *= 0.1f;
  g_assert_cmpfloat_with_epsilon(aud_level_dbfs(x, 1600), -23.0103f, 0.01f);
  memset(x, 0, sizeof x);
  g_assert_cmpfloat(aud_level_dbfs(x, 1600), ==, -120.0f);
  g_assert_cmpfloat(aud_level_dbfs(x, 0), ==, -120.0f);
}

static void
test_bad_files(void)
{
  char *err = NULL;
  g_assert_null(aud_vad_open("/nonexistent/silero.bin", &err));
  g_assert_nonnull(strstr(err, "/nonexistent/silero.bin"));
  free(err);
  err = NULL;
  g_assert_null(aud_vad_open(NULL, &err));
  g_assert_nonnull(err);
  free(err);

  /* A Whisper model is not a VAD model. */
  const char *root = g_getenv("HARK_SOURCE_ROOT");
  char *whisper = g_build_filename(root ? root : ".", "..", "shared", "data", "ggml-format", "for-tests-ggml-base.bin",
                                   NULL);
  if (g_file_test(whisper, G_FILE_TEST_EXISTS)) {
    err = NULL;
    g_assert_null(aud_vad_open(whisper, &err));
    g_assert_nonnull(strstr(err, "not a whisper.cpp Silero VAD file"));
    free(err);
  }
  g_free(whisper);

  /* A VAD file whose header promises other shapes. */
  char *path = vad_model_path();
  gchar *data;
  gsize size;
  if (g_file_get_contents(path, &data, &size, NULL)) {
    char *tmp = g_build_filename(g_get_tmp_dir(), "hark-test-vad-XXXXXX", NULL);
    int fd = g_mkstemp(tmp);
    g_assert_cmpint(fd, >=, 0);
    int32_t hidden = 64; /* lstm_hidden_size: after magic, type, 3 version, 2 sizes, 1 count, 12 layer numbers, 1 */
    memcpy(data + 4 + 4 + 10 + 4 * (3 + 2 + 1 + 12 + 1), &hidden, 4);
    g_assert_true(g_file_set_contents(tmp, data, (gssize)size, NULL));
    err = NULL;
    g_assert_null(aud_vad_open(tmp, &err));
    g_assert_nonnull(strstr(err, "silero.lstm_hidden_size is 64"));
    free(err);
    /* Truncated inside a tensor: the reader's message comes through. */
    g_assert_true(g_file_set_contents(tmp, data, 5000, NULL));
    err = NULL;
    g_assert_null(aud_vad_open(tmp, &err));
    g_assert_nonnull(strstr(err, "truncated"));
    free(err);
    g_unlink(tmp);
    close(fd);
    g_free(tmp);
    g_free(data);
  }
  g_free(path);

  float p, chunk[AUD_VAD_CHUNK] = { 0 };
  g_assert_cmpint(aud_vad_process(NULL, chunk, &p), ==, KERN_E_INVAL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/audio/vad/silero-golden", test_silero_golden);
  g_test_add_func("/audio/vad/energy", test_energy);
  g_test_add_func("/audio/vad/level", test_level);
  g_test_add_func("/audio/vad/bad-files", test_bad_files);
  return g_test_run();
}
