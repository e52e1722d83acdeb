/* cli-ask.c: `hark ask IMAGE... QUESTION`: ask a vision-language model about
 * images; the answer streams to stdout. With --interactive, more questions
 * about the same images follow from stdin, one per line (the images are
 * encoded once and stay in the conversation). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app-cli.h"
#include "app-vision.h"

static void
print_stats(app_vision *v, const llm_session_stats *st, int n_images)
{
  if (n_images)
    fprintf(stderr, "[%d image%s encoded in %.2f s; ", n_images, n_images == 1 ? "" : "s",
            app_vision_last_encode_s(v));
  else
    fprintf(stderr, "[");
  fprintf(stderr, "prompt: %d tokens in %.2f s, %d reused; answer: %d tokens in %.2f s (%.1f tok/s), %s]\n",
          st->n_prompt, st->prompt_s, st->n_reused, st->n_gen, st->gen_s, st->gen_s > 0 ? st->n_gen / st->gen_s : 0,
          llm_stop_reason_name(st->stop));
}

/* One question; 0, or -1 after printing the error. */
static int
one(app_vision *v, const app_cli_command *cmd, const char *const *images, int n, const char *question, int quiet)
{
  llm_session_stats st;
  GError *error = NULL;
  app_cli_interrupt_reset();
  if (!app_vision_ask(v, images, n, question, NULL, &st, &error)) {
    int cancelled = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    if (cancelled)
      fprintf(stderr, "\n(stopped)\n");
    else
      app_cli_error(cmd, "%s", error->message);
    g_error_free(error);
    return cancelled ? 0 : -1;
  }
  printf("\n");
  fflush(stdout);
  if (!quiet)
    print_stats(v, &st, n);
  return 0;
}

int
app_cli_ask(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("ask");
  char *model = NULL, *mmproj = NULL, *device = NULL, *system = NULL;
  int n_predict = -1, threads = 0, n_ctx = 0;
  double temp = 0;
  gint64 seed = -1;
  gboolean quiet = FALSE, interactive = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_STRING, &model,
      "Catalog name, GGUF language model, or a directory with one and its mmproj (default llava-1.5-7b)", "MODEL" },
    { "mmproj", 0, 0, G_OPTION_ARG_FILENAME, &mmproj,
      "Vision projector: an mmproj GGUF or a Hugging Face LLaVA directory (default: beside the model)", "FILE" },
    { "system", 0, 0, G_OPTION_ARG_STRING, &system, "System prompt (default: the model's)", "TEXT" },
    { "n-predict", 'n', 0, G_OPTION_ARG_INT, &n_predict, "Most tokens per answer", "N" },
    { "temp", 0, 0, G_OPTION_ARG_DOUBLE, &temp, "Temperature (default 0: greedy)", "T" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed for --temp above 0", "S" },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, "Context length in tokens (default 4096)", "N" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: physical cores)", "N" },
    { "interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
      "After the answer, read more questions about the same images from stdin", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No statistics on stderr", NULL },
    { NULL },
  };
  int exit_code = APP_EXIT_USAGE;
  app_vision *v = NULL;
  if (app_cli_parse_options(cmd, entries,
                            "The last argument is the question; the ones before it are images (JPEG, PNG, WebP, "
                            "GIF, BMP, TIFF).",
                            &argc, &argv))
    goto out;
  if (argc < 3) {
    app_cli_error(cmd, "give at least one image and a question");
    goto out;
  }
  const char *dev = app_cli_device(cmd, device);
  if (!dev)
    goto out;
  if (temp < 0 || n_ctx < 0) {
    app_cli_error(cmd, "--temp and --ctx must not be negative");
    goto out;
  }
  int n_images = argc - 2;
  const char *const *images = (const char *const *)argv + 1;
  const char *question = argv[argc - 1];

  exit_code = APP_EXIT_FAILURE;
  app_vision_params vp = app_vision_default_params();
  vp.model = model ? model : "llava-1.5-7b";
  vp.mmproj = mmproj;
  vp.device = dev;
  vp.n_threads = threads;
  vp.n_ctx = n_ctx;
  vp.system = system;
  vp.n_predict = n_predict;
  vp.sampling.temperature = (float)temp;
  if (seed >= 0)
    vp.sampling.seed = (uint64_t)seed;
  vp.on_text = app_cli_print_text;
  vp.on_warning = app_cli_print_warning;
  vp.should_abort = app_cli_should_abort;
  vp.user_data = (void *)cmd;
  GError *error = NULL;
  double t0 = app_cli_now();
  v = app_vision_open(&vp, &error);
  if (!v) {
    app_cli_error(cmd, "%s", error->message);
    g_error_free(error);
    goto out;
  }
  if (!quiet)
    fprintf(stderr, "%s (loaded in %.2f s)\n", app_vision_describe(v), app_cli_now() - t0);
  signal(SIGINT, app_cli_on_interrupt);
  if (one(v, cmd, images, n_images, question, quiet) != 0)
    goto out;
  exit_code = APP_EXIT_OK;
  if (interactive) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
      g_strstrip(line);
      if (!*line)
        continue;
      if (one(v, cmd, NULL, 0, line, quiet) != 0) {
        exit_code = APP_EXIT_FAILURE;
        break;
      }
    }
    free(line);
  }

out:
  app_vision_free(v);
  g_free(model), g_free(mmproj), g_free(device), g_free(system);
  return exit_code;
}
