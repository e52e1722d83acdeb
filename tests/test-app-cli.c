/* test-app-cli.c: the `hark` command line as a user runs it (the real binary,
 * spawned, exit codes and output checked). */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
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
  r = run_hark("models", "convert", gguf, out, "--type", "q9_9");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "unknown type 'q9_9'"));
  run_result_clear(&r);
  r = run_hark("models", "convert", gguf, out);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "only Whisper models convert"));
  g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
  run_result_clear(&r);
  char *ct2 = g_test_build_filename(G_TEST_DIST, "data", "whisper", "tiny80", "ct2", NULL);
  r = run_hark("models", "convert", ct2, out);
  g_assert_cmpint(r.status, ==, 1); /* a tiny test model without a Whisper vocabulary */
  g_assert_nonnull(strstr(r.err, "<|endoftext|>"));
  run_result_clear(&r);
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

  r = run_hark("ask", "only-an-image.jpg");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "IMAGE... QUESTION"));
  run_result_clear(&r);
}

/* Commands whose engines come later: exit 2 with one line naming what is missing. */
static void
test_commands_without_engine(void)
{
  const char *const *cases[] = {
    (const char *const[]){ "ask", "a.jpg", "What is this?", NULL },
    (const char *const[]){ "caption", "photos", NULL },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    run_result r = run_hark_env(NULL, cases[i]);
    /* Once a command works it leaves this list; until then it must say so. */
    g_assert_cmpint(r.status, ==, 2);
    char *prefix = g_strdup_printf("hark %s: ", cases[i][0]);
    g_assert_true(g_str_has_prefix(r.err, prefix));
    g_assert_cmpint(strchr(r.err, '\n') - r.err, ==, (long)strlen(r.err) - 1); /* one line */
    g_free(prefix);
    run_result_clear(&r);
  }
}

/* hark dictate: usage errors, a missing model, the input list (which may be
 * empty on a machine without sound, but never an error). */
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
  g_test_add_func("/app/cli/commands-without-engine", test_commands_without_engine);
  g_test_add_func("/app/cli/dictate", test_dictate);
  g_test_add_func("/app/cli/chat", test_chat);
  g_test_add_func("/app/cli/devices", test_devices);
  g_test_add_func("/app/cli/devices-json", test_devices_json);
  g_test_add_func("/app/cli/no-display", test_no_display);
  return g_test_run();
}
