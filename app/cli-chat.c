/* cli-chat.c: `hark chat`: talk to a local language model.
 *
 * One-shot with -p PROMPT (or a PROMPT argument): the reply streams to
 * stdout. Interactive otherwise: a line editor with history (libedit) on a
 * terminal, where /reset forgets the conversation, /exit (or Ctrl-D) quits and
 * Ctrl-C stops the reply being written without quitting; with stdin not a
 * terminal, each input line is one message. Token counts and speeds go to
 * stderr after each reply. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hark-config.h"
#if HARK_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "app-cli.h"
#include "app-models.h"
#include "llm-model.h"
#include "llm-session.h"

static void
print_stats(const llm_session_stats *st, int quiet)
{
  if (quiet)
    return;
  fprintf(stderr, "[prompt: %d tokens in %.2f s (%.1f tok/s)", st->n_prompt, st->prompt_s,
          st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0);
  if (st->n_reused)
    fprintf(stderr, ", %d reused", st->n_reused);
  fprintf(stderr, "; reply: %d tokens in %.2f s (%.1f tok/s), %s", st->n_gen, st->gen_s,
          st->gen_s > 0 ? st->n_gen / st->gen_s : 0, llm_stop_reason_name(st->stop));
  if (st->n_dropped_turns)
    fprintf(stderr, "; %d old turns dropped to fit the context", st->n_dropped_turns);
  fprintf(stderr, "]\n");
}

/* One message: the reply streams to stdout. 0, or -1 after printing the error. */
static int
say(llm_session *s, const char *text, int quiet)
{
  llm_session_stats st;
  app_cli_interrupt_reset();
  int rc = llm_session_chat(s, text, NULL, &st);
  if (rc == KERN_E_ABORTED) {
    fprintf(stderr, "\n(stopped)\n");
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "\nhark chat: %s\n", llm_session_errmsg(s));
    return -1;
  }
  printf("\n");
  fflush(stdout);
  print_stats(&st, quiet);
  return 0;
}

static int
interactive(llm_session *s, int quiet)
{
  int tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (tty)
    fprintf(stderr, "Type a message; /reset forgets the conversation, /exit or Ctrl-D quits, Ctrl-C stops a reply.\n");
  for (;;) {
    char *line = NULL;
#if HARK_HAVE_LIBEDIT
    if (tty) {
      line = readline("> ");
    } else {
#else
    {
      if (tty) {
        fputs("> ", stdout);
        fflush(stdout);
      }
#endif
      size_t cap = 0;
      ssize_t n = getline(&line, &cap, stdin);
      if (n < 0) {
        free(line);
        line = NULL;
      } else if (n > 0 && line[n - 1] == '\n') {
        line[n - 1] = 0;
      }
    }
    if (!line)
      break;
    g_strstrip(line);
    if (!*line) {
      free(line);
      continue;
    }
#if HARK_HAVE_LIBEDIT
    if (tty)
      add_history(line);
#endif
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) {
      free(line);
      break;
    }
    if (!strcmp(line, "/reset")) {
      llm_session_reset(s);
      fprintf(stderr, "(conversation forgotten)\n");
      free(line);
      continue;
    }
    if (!strcmp(line, "/help")) {
      fprintf(stderr, "/reset  forget the conversation\n/exit   quit\n");
      free(line);
      continue;
    }
    /* Ctrl-C stops the reply, not the program. */
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = app_cli_on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int rc = say(s, line, quiet);
    sigaction(SIGINT, &old, NULL);
    free(line);
    if (rc != 0 && !tty)
      return -1;
  }
  if (tty)
    fprintf(stderr, "\n");
  return 0;
}

int
app_cli_chat(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("chat");
  char *model = NULL, *prompt = NULL, *system = NULL, *device = NULL, *tmpl_name = NULL, *kv = NULL;
  char **stops = NULL;
  int n_predict = -1, top_k = -1, n_ctx = 0, gpu_layers = -1, threads = 0, repeat_last_n = -1;
  double temp = -1, top_p = -1, min_p = -1, repeat_penalty = -1, presence = 0, frequency = 0;
  gint64 seed = -1;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_STRING, &model, "Catalog name or GGUF path (default smollm2-135m-instruct)",
      "MODEL" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "Ask this, print the reply and exit", "TEXT" },
    { "system", 0, 0, G_OPTION_ARG_STRING, &system, "System prompt (default: the model's own, if any)", "TEXT" },
    { "n-predict", 'n', 0, G_OPTION_ARG_INT, &n_predict, "Most tokens per reply (default: until the turn ends)", "N" },
    { "temp", 0, 0, G_OPTION_ARG_DOUBLE, &temp, "Temperature; 0 = greedy", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Keep the K most likely tokens (0 = off)", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Keep the smallest set with probability P (1 = off)", "P" },
    { "min-p", 0, 0, G_OPTION_ARG_DOUBLE, &min_p, "Drop tokens below P times the best one's probability", "P" },
    { "repeat-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &repeat_penalty, "Penalty for repeated tokens (1 = off)", "R" },
    { "repeat-last-n", 0, 0, G_OPTION_ARG_INT, &repeat_last_n, "Tokens the penalties look back at", "N" },
    { "presence-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &presence, "Subtracted from tokens already present", "P" },
    { "frequency-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &frequency, "Subtracted per earlier occurrence", "P" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (same seed, same reply)", "S" },
    { "stop", 0, 0, G_OPTION_ARG_STRING_ARRAY, &stops, "End the reply at this text (repeatable)", "TEXT" },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, "Context length in tokens (default: the model's, as memory allows)",
      "N" },
    { "kv-type", 0, 0, G_OPTION_ARG_STRING, &kv, "KV cache type: f16 (default) or q8_0", "TYPE" },
    { "chat-template", 0, 0, G_OPTION_ARG_STRING, &tmpl_name,
      "chatml, llama2, llama3, mistral, vicuna, gemma or phi3 (default: from the model)", "NAME" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "gpu-layers", 0, 0, G_OPTION_ARG_INT, &gpu_layers, "Layers on the GPU (-1 = all)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: physical cores)", "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No statistics on stderr", NULL },
    { NULL },
  };
  int rc = app_cli_parse_options(cmd, entries, NULL, &argc, &argv);
  int exit_code = APP_EXIT_USAGE;
  llm_model *m = NULL;
  llm_session *s = NULL;
  char *model_path = NULL, *gguf = NULL, *joined = NULL;
  if (rc)
    goto out;
  if (argc > 1) {
    if (prompt) {
      app_cli_error(cmd, "give the prompt either with -p or as an argument, not both");
      goto out;
    }
    joined = g_strjoinv(" ", argv + 1);
  }
  const char *dev = app_cli_device(cmd, device);
  if (!dev)
    goto out;
  int kv_type = KERN_TYPE_F16;
  if (kv && !strcmp(kv, "q8_0"))
    kv_type = KERN_TYPE_Q8_0;
  else if (kv && strcmp(kv, "f16")) {
    app_cli_error(cmd, "unknown KV cache type '%s' (f16, q8_0)", kv);
    goto out;
  }
  int tmpl = LLM_TEMPLATE_UNKNOWN;
  if (tmpl_name && (tmpl = llm_template_from_name(tmpl_name)) == LLM_TEMPLATE_UNKNOWN) {
    app_cli_error(cmd, "unknown chat template '%s' (chatml, llama2, llama3, mistral, vicuna, gemma, phi3)",
                  tmpl_name);
    goto out;
  }
  if (n_ctx < 0 || (temp != -1 && temp < 0) || (top_p != -1 && (top_p <= 0 || top_p > 1)) ||
      (min_p != -1 && (min_p < 0 || min_p > 1))) {
    app_cli_error(cmd, "--ctx must be >= 0, --temp >= 0, --top-p in (0, 1], --min-p in [0, 1]");
    goto out;
  }

  exit_code = APP_EXIT_FAILURE;
  GError *gerr = NULL;
  model_path = app_models_resolve(model ? model : "smollm2-135m-instruct", &gerr);
  if (model_path)
    gguf = app_models_find_gguf(model_path, &gerr);
  if (!gguf) {
    app_cli_error(cmd, "%s", gerr->message);
    g_error_free(gerr);
    goto out;
  }
  llm_model_params mp = llm_model_default_params();
  mp.device = dev;
  mp.n_threads = threads;
  mp.n_ctx = n_ctx;
  mp.kv_type = kv_type;
  mp.gpu_layers = gpu_layers;
  mp.on_warning = app_cli_print_warning;
  mp.should_abort = app_cli_should_abort; /* Ctrl-C also stops a long prompt being read */
  mp.user_data = (void *)cmd;
  char *err = NULL;
  double t0 = app_cli_now();
  m = llm_model_open(gguf, &mp, &err);
  if (!m) {
    app_cli_error(cmd, "%s", err);
    free(err);
    goto out;
  }

  llm_session_params sp = llm_session_default_params();
  sp.chat_template = tmpl;
  sp.system = system;
  sp.n_predict = n_predict;
  sp.stop = (const char *const *)stops;
  if (temp >= 0)
    sp.sampling.temperature = (float)temp;
  if (top_k >= 0)
    sp.sampling.top_k = top_k;
  if (top_p > 0)
    sp.sampling.top_p = (float)top_p;
  if (min_p >= 0)
    sp.sampling.min_p = (float)min_p;
  if (repeat_penalty > 0)
    sp.sampling.repeat_penalty = (float)repeat_penalty;
  if (repeat_last_n >= 0)
    sp.sampling.repeat_last_n = repeat_last_n;
  sp.sampling.presence_penalty = (float)presence;
  sp.sampling.frequency_penalty = (float)frequency;
  if (seed >= 0)
    sp.sampling.seed = (uint64_t)seed;
  sp.on_text = app_cli_print_text;
  sp.should_abort = app_cli_should_abort;
  s = llm_session_new(m, &sp, &err);
  if (!s) {
    app_cli_error(cmd, "%s: %s", gguf, err);
    free(err);
    goto out;
  }
  const llm_hparams *hp = llm_model_hparams(m);
  if (!quiet)
    fprintf(stderr, "%s: %s, %d layers, context %d, %s template, on %s (loaded in %.2f s)\n", gguf, hp->arch,
            hp->n_layer, hp->n_ctx, llm_template_name(llm_session_template(s)), llm_model_backend_name(m),
            app_cli_now() - t0);

  const char *one = prompt ? prompt : joined;
  if (one) {
    signal(SIGINT, app_cli_on_interrupt);
    exit_code = say(s, one, quiet) == 0 ? APP_EXIT_OK : APP_EXIT_FAILURE;
  } else {
    exit_code = interactive(s, quiet) == 0 ? APP_EXIT_OK : APP_EXIT_FAILURE;
  }

out:
  llm_session_free(s);
  llm_model_free(m);
  g_free(model_path), g_free(gguf), g_free(joined);
  g_free(model), g_free(prompt), g_free(system), g_free(device), g_free(tmpl_name), g_free(kv);
  g_strfreev(stops);
  return exit_code;
}
