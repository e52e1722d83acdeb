/* test-audio-transcript.c: the TXT/SRT/VTT/JSON writers, byte for byte. */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "aud-transcript.h"

static void
make(aud_transcript *t)
{
  aud_transcript_init(t);
  int32_t toks[3] = { 11, 22, 33 };
  aud_word words[2] = { { 0.0, 0.5, " Hello", 0.9f }, { 0.5, 1.25, " \"world\"", 0.75f } };
  aud_segment a = { .start = 0.0, .end = 1.25, .text = " Hello \"world\"", .tokens = toks, .n_tokens = 3,
                    .avg_logprob = -0.25f, .no_speech_prob = 0.01f, .temperature = 0.0f, .compression_ratio = 1.1f,
                    .words = words, .n_words = 2 };
  aud_segment b = { .start = 3661.5, .end = 3662.0005, .text = " Zweite\tZeile\n", .tokens = toks, .n_tokens = 1 };
  g_assert_cmpint(aud_transcript_add(t, &a), ==, 0);
  g_assert_cmpint(aud_transcript_add(t, &b), ==, 0);
  strcpy(t->language, "de");
  t->duration = 3663.0;
}

static char *
render(const aud_transcript *t, aud_transcript_format f)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  g_assert_cmpint(aud_transcript_write(t, f, m), ==, 0);
  fclose(m);
  return buf;
}

static void
test_formats(void)
{
  aud_transcript t;
  make(&t);
  char *txt = render(&t, AUD_FORMAT_TXT);
  g_assert_cmpstr(txt, ==, "Hello \"world\"\nZweite\tZeile\n\n");
  char *srt = render(&t, AUD_FORMAT_SRT);
  g_assert_cmpstr(srt, ==,
                  "1\n00:00:00,000 --> 00:00:01,250\nHello \"world\"\n\n"
                  "2\n01:01:01,500 --> 01:01:02,001\nZweite\tZeile\n\n\n");
  char *vtt = render(&t, AUD_FORMAT_VTT);
  g_assert_true(g_str_has_prefix(vtt, "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello \"world\"\n\n"));
  char *json = render(&t, AUD_FORMAT_JSON);
  JsonParser *p = json_parser_new();
  GError *err = NULL;
  json_parser_load_from_data(p, json, -1, &err);
  g_assert_no_error(err);
  JsonObject *root = json_node_get_object(json_parser_get_root(p));
  g_assert_cmpstr(json_object_get_string_member(root, "language"), ==, "de");
  g_assert_cmpstr(json_object_get_string_member(root, "text"), ==, "Hello \"world\" Zweite\tZeile\n");
  JsonArray *segs = json_object_get_array_member(root, "segments");
  g_assert_cmpuint(json_array_get_length(segs), ==, 2);
  JsonObject *s0 = json_array_get_object_element(segs, 0);
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(s0, "end"), 1.25, 1e-9);
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(s0, "avg_logprob"), -0.25, 1e-6);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(s0, "tokens")), ==, 3);
  JsonArray *words = json_object_get_array_member(s0, "words");
  g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(words, 1), "word"), ==, " \"world\"");
  g_assert_false(json_object_has_member(json_array_get_object_element(segs, 1), "words"));
  g_object_unref(p);
  g_free(txt), free(srt), free(vtt), free(json);
  aud_transcript_clear(&t);
}

static void
test_save(void)
{
  aud_transcript t;
  make(&t);
  char *dir = g_dir_make_tmp("hark-transcript-XXXXXX", NULL);
  char *path = g_build_filename(dir, "out.srt", NULL);
  char *err = NULL;
  g_assert_cmpint(aud_transcript_save(&t, AUD_FORMAT_SRT, path, &err), ==, 0);
  g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
  char *part = g_strconcat(path, ".part", NULL);
  g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  /* An unwritable place: an error naming it, nothing left behind. */
  char *bad = g_build_filename(dir, "no-such-dir", "x.srt", NULL);
  g_assert_cmpint(aud_transcript_save(&t, AUD_FORMAT_SRT, bad, &err), !=, 0);
  g_assert_nonnull(strstr(err, bad));
  free(err);
  g_unlink(path);
  g_rmdir(dir);
  g_free(bad), g_free(part), g_free(path), g_free(dir);
  aud_transcript_clear(&t);
}

static void
test_timestamps(void)
{
  char b[24];
  g_assert_cmpstr(aud_format_timestamp(0, ',', b), ==, "00:00:00,000");
  g_assert_cmpstr(aud_format_timestamp(59.9996, '.', b), ==, "00:01:00.000");
  g_assert_cmpstr(aud_format_timestamp(-3, '.', b), ==, "00:00:00.000");
  g_assert_cmpstr(aud_format_timestamp(360000.25, ',', b), ==, "100:00:00,250");
  g_assert_cmpint(aud_transcript_format_from_name("vtt"), ==, AUD_FORMAT_VTT);
  g_assert_cmpint(aud_transcript_format_from_name("docx"), ==, -1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/audio/transcript/formats", test_formats);
  g_test_add_func("/audio/transcript/save", test_save);
  g_test_add_func("/audio/transcript/timestamps", test_timestamps);
  return g_test_run();
}
