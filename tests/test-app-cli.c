/* test-app-cli.c: the `hark` command line as a user runs it (the real binary,
 * spawned, exit codes and output checked). */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "llm-test-model.h"

typedef struct {
  int status;
  char *out, *err;
} run_result;

/* Runs hark with the given arguments (NULL-terminated) and extra environment
 * ("NAME=value" or "-NAME" to unset). */
static run_result
run_hark_env(const char *const *env_changes, const char *const *args)
{
  const char *bin = g_getenv("HARK_BIN");
  g_assert_nonnull(bin);
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)bin);
  for (const char *const *a = args; *a; a++)
    g_ptr_array_add(argv, (char *)*a);
  g_ptr_array_add(argv, NULL);

  char **envp = g_get_environ();
  for (const char *const *e = env_changes; e && *e; e++) {
    if ((*e)[0] == '-') {
      envp = g_environ_unsetenv(envp, *e + 1);
    } else {
      char **kv = g_strsplit(*e, "=", 2);
      envp = g_environ_setenv(envp, kv[0], kv[1], TRUE);
      g_strfreev(kv);
    }
  }
  run_result r = { 0 };
  int wait_status = 0;
  GError *error = NULL;
  g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, &r.out, &r.err, &wait_status, &error);
  g_assert_no_error(error);
  g_assert_true(WIFEXITED(wait_status)); /* never a crash */
  r.status = WEXITSTATUS(wait_status);
  g_strfreev(envp);
  g_ptr_array_free(argv, TRUE);
  return r;
}

#define run_hark(...) run_hark_env(NULL, (const char *const[]){ __VA_ARGS__, NULL })

static void
run_result_clear(run_result *r)
{
  g_free(r->out);
  g_free(r->err);
}

static void
test_version(void)
{
  run_result r = run_hark("--version");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_true(g_str_has_prefix(r.out, "hark "));
  g_assert_nonnull(strstr(r.out, "cuda:"));
  run_result_clear(&r);
}

static const char *const commands[] = { "transcribe", "dictate", "ask", "caption",
                                        "chat", "models", "devices", "bench" };

static void
test_help(void)
{
  run_result r = run_hark("--help");
  g_assert_cmpint(r.status, ==, 0);
  for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
    g_assert_nonnull(strstr(r.out, commands[i]));
  g_assert_nonnull(strstr(r.out, "--screenshot"));
  run_result_clear(&r);
}

static void
test_command_help(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
    run_result r = run_hark(commands[i], "--help");
    g_assert_cmpint(r.status, ==, 0);
    char *usage = g_strdup_printf("hark %s", commands[i]);
    g_assert_nonnull(strstr(r.out, usage));
    g_free(usage);
    run_result_clear(&r);
  }
}

static void
test_unknown_command(void)
{
  run_result r = run_hark("nonsense");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unknown command 'nonsense'"));
  g_assert_nonnull(strstr(r.err, "transcribe")); /* the usage lists the commands */
  run_result_clear(&r);

  r = run_hark("--nonsense");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "--nonsense"));
  run_result_clear(&r);

  r = run_hark("devices", "--nonsense");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "hark devices"));
  run_result_clear(&r);

  r = run_hark("devices", "extra");
  g_assert_cmpint(r.status, ==, 2);
  run_result_clear(&r);
}

/* hark models convert: usage errors and a model that is not Whisper. */
static void
test_models_convert(void)
{
  run_result r = run_hark("models", "convert", "only-one");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "convert needs a model and an output file"));
  run_result_clear(&r);
  char *gguf = g_test_build_filename(G_TEST_DIST, "data", "gguf-py-small.gguf", NULL);
  char *out = g_build_filename(g_get_tmp_dir(), "hark-test-convert-out.gguf", NULL);
  g_unlink(out); /* left by an earlier run that failed */
  r = run_hark("models", "convert", gguf, out, "--type", "q9_9");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unknown type 'q9_9'"));
  run_result_clear(&r);
  r = run_hark("models", "convert", gguf, out);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "only Whisper models, language models and vision towers convert"));
  g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
  run_result_clear(&r);
  char *ct2 = g_test_build_filename(G_TEST_DIST, "data", "whisper", "tiny80", "ct2", NULL);
  r = run_hark("models", "convert", ct2, out);
  g_assert_cmpint(r.status, ==, 1); /* a tiny test model without a Whisper vocabulary */
  g_assert_nonnull(strstr(r.err, "<|endoftext|>"));
  run_result_clear(&r);
  /* A Hugging Face LLaVA directory: the language model to OUT, the tower and
   * projector to mmproj-OUT beside it; `hark ask` finds the pair. */
  char *hf = g_test_build_filename(G_TEST_DIST, "data", "vision", "llava-hf", NULL);
  char *proj = g_build_filename(g_get_tmp_dir(), "mmproj-hark-test-convert-out.gguf", NULL);
  r = run_hark("models", "convert", hf, out, "--type", "q8_0");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.out, "language model GGUF, matrices q8_0"));
  g_assert_nonnull(strstr(r.out, "mmproj GGUF, matrices q8_0"));
  run_result_clear(&r);
  g_assert_true(g_file_test(out, G_FILE_TEST_IS_REGULAR));
  g_assert_true(g_file_test(proj, G_FILE_TEST_IS_REGULAR));
  g_unlink(proj);
  /* OUT named mmproj: the projector alone */
  r = run_hark("models", "convert", hf, proj);
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.out, "mmproj GGUF, matrices f16"));
  g_assert_null(strstr(r.out, "language model"));
  run_result_clear(&r);
  g_assert_true(g_file_test(proj, G_FILE_TEST_IS_REGULAR));
  /* a GGUF language model requantized */
  char *llm = g_test_build_filename(G_TEST_DIST, "data", "vision", "llm-f32.gguf", NULL);
  r = run_hark("models", "convert", llm, out, "--type", "q4_0");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.out, "language model GGUF, matrices q4_0"));
  run_result_clear(&r);
  g_unlink(out), g_unlink(proj);
  g_free(hf), g_free(proj), g_free(llm);
  g_free(gguf), g_free(out), g_free(ct2);
}

static void
test_missing_arguments(void)
{
  run_result r = run_hark("transcribe");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "missing FILE"));
  g_assert_nonnull(strstr(r.err, "Usage:\n  hark transcribe "));
  g_assert_cmpstr(r.out, ==, "");
  run_result_clear(&r);

  r = run_hark("transcribe", "--precision", "int4", "x.wav");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unknown precision 'int4'"));
  run_result_clear(&r);

  r = run_hark("ask", "only-an-image.jpg");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "IMAGE... QUESTION"));
  run_result_clear(&r);
}

static void
test_dictate(void)
{
  run_result r = run_hark("dictate", "--device", "bogus");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unknown device 'bogus'"));
  run_result_clear(&r);
  r = run_hark("dictate", "extra-argument");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unexpected argument 'extra-argument'"));
  run_result_clear(&r);
  r = run_hark("dictate", "-m", "/nonexistent/model.bin");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "/nonexistent"));
  run_result_clear(&r);
  r = run_hark("dictate", "--list-inputs");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_true(strstr(r.out, "no input devices") || strstr(r.out, " Hz)"));
  g_assert_cmpstr(r.err, ==, "");
  run_result_clear(&r);
}

/* hark chat: bad options, missing models, and a one-shot reply from a small
 * random model (tests/llm-test-model.c). */
static void
test_chat(void)
{
  run_result r = run_hark("chat", "--chat-template", "bogus", "-p", "hi");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unknown chat template 'bogus'"));
  run_result_clear(&r);
  r = run_hark("chat", "--kv-type", "q4", "-p", "hi");
  g_assert_cmpint(r.status, ==, 2);
  run_result_clear(&r);
  r = run_hark("chat", "-m", "/nonexistent/model.gguf", "-p", "hi");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "/nonexistent"));
  run_result_clear(&r);

  char *dir = g_dir_make_tmp("hark-chat-XXXXXX", NULL);
  char *xdg = g_strdup_printf("XDG_DATA_HOME=%s", dir);
  const char *env[] = { xdg, NULL };
  r = run_hark_env(env, (const char *const[]){ "chat", "-p", "hi", NULL });
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "hark models install smollm2-135m-instruct"));
  run_result_clear(&r);

  char *vocab = g_test_build_filename(G_TEST_DIST, "data", "llm", "vocab-llama3.gguf", NULL);
  char *model = g_build_filename(dir, "random.gguf", NULL);
  llm_test_make_model(vocab, model);
  r = run_hark("chat", "-m", model, "-p", "Hello", "--temp", "0", "-n", "8", "--device", "cpu");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_cmpuint(strlen(r.out), >, 1); /* the reply and a newline */
  g_assert_true(g_utf8_validate(r.out, -1, NULL));
  g_assert_nonnull(strstr(r.err, "chatml template"));
  g_assert_nonnull(strstr(r.err, "[prompt: "));
  run_result_clear(&r);
  g_unlink(model);
  g_rmdir(dir);
  g_free(vocab), g_free(model), g_free(xdg), g_free(dir);
}

/* A w x h 24-bit BMP with a gradient (seed varies it). */
static void
write_bmp(const char *path, int w, int h, int seed)
{
  int stride = (w * 3 + 3) & ~3;
  guint32 size = 54 + (guint32)(stride * h);
  guint8 *b = g_malloc0(size);
  b[0] = 'B', b[1] = 'M';
  memcpy(b + 2, &size, 4);
  guint32 off = 54, hdr = 40, zero = 0;
  gint32 W = w, H = h;
  guint16 planes = 1, bpp = 24;
  memcpy(b + 10, &off, 4), memcpy(b + 14, &hdr, 4), memcpy(b + 18, &W, 4), memcpy(b + 22, &H, 4);
  memcpy(b + 26, &planes, 2), memcpy(b + 28, &bpp, 2), memcpy(b + 30, &zero, 4);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *px = b + 54 + y * stride + x * 3;
      px[0] = (guint8)(x * 7 + seed * 40), px[1] = (guint8)(y * 5 + seed * 13), px[2] = (guint8)((x ^ y) * 3);
    }
  g_assert_true(g_file_set_contents(path, (const char *)b, size, NULL));
  g_free(b);
}

static char *
vision_data(const char *name)
{
  return g_test_build_filename(G_TEST_DIST, "data", "vision", name, NULL);
}

/* hark ask: the tiny random LLaVA of tests/data/vision answers (gibberish,
 * but through every step); unreadable images and mismatched models fail
 * with messages. */
static void
test_ask(void)
{
  char *dir = g_dir_make_tmp("hark-ask-XXXXXX", NULL);
  char *img = g_build_filename(dir, "photo.bmp", NULL), *bad = g_build_filename(dir, "broken.jpg", NULL);
  write_bmp(img, 40, 30, 1);
  g_assert_true(g_file_set_contents(bad, "not a jpeg at all", -1, NULL));
  char *llm = vision_data("llm-f32.gguf"), *proj = vision_data("mmproj-f16.gguf"), *hf = vision_data("llava-hf");
  run_result r = run_hark("ask", img, "What is this?", "-m", llm, "-n", "6", "--device", "cpu");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_cmpuint(strlen(r.out), >, 1);
  g_assert_true(g_utf8_validate(r.out, -1, NULL));
  g_assert_nonnull(strstr(r.err, "llava template")); /* no chat template in the file */
  g_assert_nonnull(strstr(r.err, "mmproj-f16.gguf")); /* found beside the model */
  g_assert_nonnull(strstr(r.err, "1 image encoded"));
  char *first = g_strdup(r.out);
  run_result_clear(&r);
  /* The Hugging Face directory as the projector: the same weights in F32,
   * so nearly always the same greedy answer; at least it runs. */
  r = run_hark("ask", img, "What is this?", "-m", llm, "--mmproj", hf, "-n", "6", "--device", "cpu", "-q");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_cmpstr(r.err, ==, "");
  g_test_message("answers: mmproj \"%s\", HF \"%s\"", g_strchomp(first), g_strchomp(r.out));
  run_result_clear(&r);
  g_free(first);
  /* The Hugging Face directory alone: language model, tokenizer and tower from it. */
  r = run_hark("ask", img, "What is this?", "-m", hf, "-n", "6", "--device", "cpu");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_cmpuint(strlen(r.out), >, 1);
  g_assert_nonnull(strstr(r.err, "llava template"));
  run_result_clear(&r);
  /* Follow-up questions from stdin are not run here (stdin is not ours);
   * an unreadable image names itself, and nothing is asked. */
  r = run_hark("ask", img, bad, "Compare them.", "-m", llm, "--device", "cpu");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "broken.jpg"));
  g_assert_cmpstr(r.out, ==, "");
  run_result_clear(&r);
  r = run_hark("ask", "/nonexistent/x.png", "What?", "-m", llm, "--device", "cpu");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "/nonexistent/x.png"));
  run_result_clear(&r);
  /* A language model of another width than the projector's output. */
  char *vocab = g_test_build_filename(G_TEST_DIST, "data", "llm", "vocab-llama3.gguf", NULL);
  char *other = g_build_filename(dir, "narrow.gguf", NULL);
  llm_test_make_model(vocab, other);
  r = run_hark("ask", img, "What?", "-m", other, "--mmproj", proj, "--device", "cpu");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "not made for each other"));
  run_result_clear(&r);
  /* A language model alone: no projector beside it. */
  r = run_hark("ask", img, "What?", "-m", other, "--device", "cpu");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "--mmproj"));
  run_result_clear(&r);
  r = run_hark("ask", img, "What?", "-m", "no-such-model");
  g_assert_cmpint(r.status, ==, 1);
  run_result_clear(&r);
  g_unlink(other), g_unlink(img), g_unlink(bad);
  g_rmdir(dir);
  g_free(vocab), g_free(other), g_free(img), g_free(bad), g_free(llm), g_free(proj), g_free(hf), g_free(dir);
}

static int
count_lines(const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return -1;
  int n = 0;
  for (char *p = text; *p; p++)
    n += *p == '\n';
  g_free(text);
  return n;
}

static char *
read_text(const char *dir, const char *name)
{
  char *path = g_build_filename(dir, name, NULL), *text = NULL;
  g_file_get_contents(path, &text, NULL, NULL);
  g_free(path);
  return text;
}

/* hark caption: every format, resume, --overwrite, a bad file, subfolders. */
static void
test_caption(void)
{
  char *dir = g_dir_make_tmp("hark-caption-XXXXXX", NULL), *sub = g_build_filename(dir, "sub", NULL);
  g_mkdir(sub, 0700);
  const char *names[] = { "a.bmp", "b.bmp", "sub/c.bmp" };
  for (int i = 0; i < 3; i++) {
    char *p = g_build_filename(dir, names[i], NULL);
    write_bmp(p, 20 + 9 * i, 24, i);
    g_free(p);
  }
  char *bad = g_build_filename(dir, "zz-bad.png", NULL), *notes = g_build_filename(dir, "notes.md", NULL);
  g_assert_true(g_file_set_contents(bad, "\x89PNG but not really", -1, NULL));
  g_assert_true(g_file_set_contents(notes, "not an image", -1, NULL));
  char *llm = vision_data("llm-f32.gguf");
  const char *base[] = { "-m", llm, "-n", "5", "--device", "cpu" };
#define CAPTION(...) run_hark("caption", dir, base[0], base[1], base[2], base[3], base[4], base[5], __VA_ARGS__)

  /* txt sidecars, top folder only: a and b captioned, the bad file reported */
  run_result r = CAPTION("--format", "txt");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "zz-bad.png"));
  g_assert_nonnull(strstr(r.err, "2 captioned, 0 skipped, 1 failed"));
  run_result_clear(&r);
  char *a = read_text(dir, "a.txt"), *b = read_text(dir, "b.txt");
  g_assert_nonnull(a);
  g_assert_nonnull(b);
  g_assert_cmpuint(strlen(a), >, 1);
  g_assert_false(g_file_test(sub, G_FILE_TEST_IS_DIR) && read_text(sub, "c.txt"));
  /* again: nothing to do but the bad file */
  r = CAPTION("-r");
  g_assert_nonnull(strstr(r.err, "1 captioned, 2 skipped, 1 failed"));
  run_result_clear(&r);
  char *c = read_text(sub, "c.txt");
  g_assert_nonnull(c);
  g_unlink(bad);
  r = CAPTION("-r", "--overwrite");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.err, "3 captioned, 0 skipped, 0 failed"));
  run_result_clear(&r);
  char *a2 = read_text(dir, "a.txt");
  g_assert_cmpstr(a2, ==, a); /* greedy: the same caption */
  g_free(a), g_free(a2), g_free(b), g_free(c);

  /* JSONL, then resumed */
  r = CAPTION("-r", "--format", "jsonl");
  g_assert_cmpint(r.status, ==, 0);
  run_result_clear(&r);
  char *jsonl = g_build_filename(dir, "captions.jsonl", NULL);
  g_assert_cmpint(count_lines(jsonl), ==, 3);
  JsonParser *jp = json_parser_new();
  char *text = read_text(dir, "captions.jsonl");
  char **lines = g_strsplit(text, "\n", -1);
  g_assert_true(json_parser_load_from_data(jp, lines[2], -1, NULL));
  JsonObject *o = json_node_get_object(json_parser_get_root(jp));
  g_assert_cmpstr(json_object_get_string_member(o, "file"), ==, "sub/c.bmp");
  g_assert_nonnull(json_object_get_string_member(o, "caption"));
  g_strfreev(lines), g_free(text);
  g_object_unref(jp);
  r = CAPTION("-r", "--format", "jsonl");
  g_assert_nonnull(strstr(r.err, "0 captioned, 3 skipped"));
  run_result_clear(&r);
  g_assert_cmpint(count_lines(jsonl), ==, 3);

  /* CSV with a header; a removed line is captioned again */
  r = CAPTION("--format", "csv");
  g_assert_cmpint(r.status, ==, 0);
  run_result_clear(&r);
  char *csv = g_build_filename(dir, "captions.csv", NULL);
  g_assert_cmpint(count_lines(csv), ==, 3);
  char *table = read_text(dir, "captions.csv");
  g_assert_true(g_str_has_prefix(table, "file,caption\n"));
  size_t len = strlen(table) - 1; /* drop the last record */
  while (len > 0 && table[len - 1] != '\n')
    len--;
  g_assert_true(g_file_set_contents(csv, table, (gssize)len, NULL));
  g_free(table);
  r = CAPTION("--format", "csv");
  g_assert_nonnull(strstr(r.err, "1 captioned, 1 skipped"));
  run_result_clear(&r);
  g_assert_cmpint(count_lines(csv), ==, 3);

  /* XMP: ours is replaced with --overwrite; another program's never */
  char *foreign = g_build_filename(dir, "b.xmp", NULL);
  g_assert_true(g_file_set_contents(foreign, "<x:xmpmeta>darktable edits</x:xmpmeta>", -1, NULL));
  r = CAPTION("--format", "xmp");
  g_assert_nonnull(strstr(r.err, "1 captioned, 1 skipped"));
  run_result_clear(&r);
  text = read_text(dir, "a.xmp");
  g_assert_nonnull(strstr(text, "<dc:description>"));
  g_assert_nonnull(strstr(text, "xml:lang=\"x-default\""));
  g_free(text);
  r = CAPTION("--format", "xmp", "--overwrite");
  g_assert_nonnull(strstr(r.err, "1 captioned, 1 skipped"));
  g_assert_nonnull(strstr(r.err, "another program"));
  run_result_clear(&r);
  text = read_text(dir, "b.xmp");
  g_assert_cmpstr(text, ==, "<x:xmpmeta>darktable edits</x:xmpmeta>");
  g_free(text);

  r = CAPTION("--format", "docx");
  g_assert_cmpint(r.status, ==, 2);
  run_result_clear(&r);
  r = run_hark("caption", "/nonexistent-folder", "-m", llm);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "not a folder"));
  run_result_clear(&r);
#undef CAPTION
  char *rm = g_strdup_printf("rm -rf '%s'", dir);
  g_assert_cmpint(system(rm), ==, 0);
  g_free(rm);
  g_free(foreign), g_free(csv), g_free(jsonl), g_free(llm), g_free(bad), g_free(notes), g_free(sub), g_free(dir);
}

/* Two images with one stem (photo.bmp, photo.BMP) get name.txt sidecars,
 * so neither caption overwrites the other. */
static void
test_caption_shared_stem(void)
{
  char *dir = g_dir_make_tmp("hark-caption-XXXXXX", NULL);
  char *a = g_build_filename(dir, "photo.bmp", NULL), *b = g_build_filename(dir, "photo.BMP", NULL);
  write_bmp(a, 30, 20, 1);
  write_bmp(b, 20, 30, 2);
  char *llm = vision_data("llm-f32.gguf");
  run_result r = run_hark("caption", dir, "-m", llm, "-n", "4", "--device", "cpu");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.err, "2 captioned"));
  run_result_clear(&r);
  char *ta = read_text(dir, "photo.bmp.txt"), *tb = read_text(dir, "photo.BMP.txt"), *tc = read_text(dir, "photo.txt");
  g_assert_nonnull(ta);
  g_assert_nonnull(tb);
  g_assert_null(tc);
  g_free(ta), g_free(tb);
  char *rm = g_strdup_printf("rm -rf '%s'", dir);
  g_assert_cmpint(system(rm), ==, 0);
  g_free(rm), g_free(llm), g_free(a), g_free(b), g_free(dir);
}

static void
test_devices(void)
{
  run_result r = run_hark("devices");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_true(g_str_has_prefix(r.out, "CPU: "));
  g_assert_nonnull(strstr(r.out, "cores: "));
  g_assert_nonnull(strstr(r.out, "SIMD: "));
  g_assert_true(strstr(r.out, "CUDA: no CUDA device: ") || strstr(r.out, "  cuda:0 "));
  g_test_message("%s", r.out);
  run_result_clear(&r);
}

static void
test_devices_json(void)
{
  run_result r = run_hark("devices", "--json");
  g_assert_cmpint(r.status, ==, 0);
  JsonParser *p = json_parser_new();
  GError *error = NULL;
  json_parser_load_from_data(p, r.out, -1, &error);
  g_assert_no_error(error);
  JsonObject *root = json_node_get_object(json_parser_get_root(p));
  JsonObject *cpu = json_object_get_object_member(root, "cpu");
  JsonObject *cuda = json_object_get_object_member(root, "cuda");
  g_assert_nonnull(cpu);
  g_assert_nonnull(cuda);
  g_assert_cmpint(json_object_get_int_member(cpu, "logical_cores"), >=, 1);
  JsonArray *devs = json_object_get_array_member(cuda, "devices");
  if (json_array_get_length(devs) == 0)
    g_assert_cmpstr(json_object_get_string_member(cuda, "why_none"), !=, "");
  g_object_unref(p);
  run_result_clear(&r);
}

static void
test_no_display(void)
{
  run_result r = run_hark_env((const char *const[]){ "-DISPLAY", "-WAYLAND_DISPLAY", NULL },
                              (const char *const[]){ NULL });
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "cannot open a display"));
  run_result_clear(&r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/app/cli/version", test_version);
  g_test_add_func("/app/cli/help", test_help);
  g_test_add_func("/app/cli/command-help", test_command_help);
  g_test_add_func("/app/cli/unknown", test_unknown_command);
  g_test_add_func("/app/cli/missing-arguments", test_missing_arguments);
  g_test_add_func("/app/cli/models-convert", test_models_convert);
  g_test_add_func("/app/cli/dictate", test_dictate);
  g_test_add_func("/app/cli/chat", test_chat);
  g_test_add_func("/app/cli/ask", test_ask);
  g_test_add_func("/app/cli/caption", test_caption);
  g_test_add_func("/app/cli/caption-shared-stem", test_caption_shared_stem);
  g_test_add_func("/app/cli/devices", test_devices);
  g_test_add_func("/app/cli/devices-json", test_devices_json);
  g_test_add_func("/app/cli/no-display", test_no_display);
  return g_test_run();
}
