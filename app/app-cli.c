/* app-cli.c: the command table and the option handling every command shares. */
#include "app-cli.h"
#include "app-dictation.h"
#include "app-models.h"
#include "app-transcribe.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const app_cli_command commands[] = {
  { "transcribe", "FILE...", "Transcribe audio and video files to TXT, SRT, VTT or JSON", 1, app_cli_transcribe,
    NULL },
  { "dictate", "", "Live dictation from the microphone", 0, app_cli_dictate, NULL },
  { "ask", "IMAGE... QUESTION", "Ask a question about one or more images", 2, app_cli_ask, NULL },
  { "caption", "DIR", "Caption every image in a folder", 1, app_cli_caption, NULL },
  { "chat", "[PROMPT]", "Chat with a local language model", 0, app_cli_chat, NULL },
  { "models", "list|install|remove|path|convert [NAME]", "List, install, remove and convert models", 1,
    app_cli_models, NULL },
  { "devices", "", "Show the CPU and the CUDA devices Hark can use", 0, app_cli_devices, NULL },
  { "bench", "ops", "Measure the compute kernels on this machine", 1, app_cli_bench, NULL },
  { NULL, NULL, NULL, 0, NULL, NULL },
};

const app_cli_command *
app_cli_find(const char *name)
{
  for (const app_cli_command *c = commands; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

char *
app_cli_commands_help(void)
{
  GString *s = g_string_new("Commands:\n");
  for (const app_cli_command *c = commands; c->name; c++)
    g_string_append_printf(s, "  %-11s %s\n", c->name, c->summary);
  g_string_append(s, "\nWithout a command, hark opens its window.\n"
                     "Run 'hark COMMAND --help' for a command's options.\n");
  return g_string_free(s, FALSE);
}

void
app_cli_error(const app_cli_command *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  fprintf(stderr, "hark %s: %s\n", cmd->name, msg);
  g_free(msg);
}

const char *
app_cli_device(const app_cli_command *cmd, const char *device)
{
  const char *dev = device ? device : "auto";
  if (strcmp(dev, "auto") && strcmp(dev, "cpu") && strncmp(dev, "cuda", 4)) {
    app_cli_error(cmd, "unknown device '%s' (auto, cpu, cuda)", dev);
    return NULL;
  }
  return dev;
}

GOptionContext *
app_cli_context_new(const app_cli_command *cmd, const GOptionEntry *entries)
{
  /* The usage line reads "hark NAME [OPTION…] ARGS". */
  char *prgname = g_strdup_printf("hark %s", cmd->name);
  g_set_prgname(prgname);
  g_free(prgname);
  GOptionContext *ctx = g_option_context_new(cmd->args);
  g_option_context_set_summary(ctx, cmd->summary);
  if (entries)
    g_option_context_add_main_entries(ctx, entries, NULL);
  return ctx;
}

int
app_cli_parse(GOptionContext *ctx, const app_cli_command *cmd, int *argc, char ***argv)
{
  GError *error = NULL;
  /* GOption expects argv[0] to be the program; the command name plays that part. */
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    app_cli_error(cmd, "%s", error->message);
    fprintf(stderr, "Run 'hark %s --help' for usage.\n", cmd->name);
    g_error_free(error);
    return APP_EXIT_USAGE;
  }
  if (*argc - 1 < cmd->min_args) {
    char *help = g_option_context_get_help(ctx, TRUE, NULL);
    fprintf(stderr, "hark %s: missing %s\n\n%s", cmd->name, cmd->args, help);
    g_free(help);
    return APP_EXIT_USAGE;
  }
  return 0;
}

int
app_cli_parse_options(const app_cli_command *cmd, const GOptionEntry *entries, const char *description, int *argc,
                      char ***argv)
{
  GOptionContext *ctx = app_cli_context_new(cmd, entries);
  if (description)
    g_option_context_set_description(ctx, description);
  int rc = app_cli_parse(ctx, cmd, argc, argv);
  g_option_context_free(ctx);
  return rc;
}

void
app_cli_json_string(GString *out, const char *s)
{
  g_string_append_c(out, '"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      g_string_append_printf(out, "\\%c", ch);
    else if (ch < 0x20)
      g_string_append_printf(out, "\\u%04x", ch);
    else
      g_string_append_c(out, (char)ch);
  }
  g_string_append_c(out, '"');
}

double
app_cli_now(void)
{
  return (double)g_get_monotonic_time() * 1e-6;
}

/* A command whose engine is not built: usage is still checked, so scripts get
 * the same errors they will get once it is. */
static int
run_missing(const app_cli_command *cmd, int argc, char **argv)
{
  GOptionContext *ctx = app_cli_context_new(cmd, NULL);
  g_option_context_set_ignore_unknown_options(ctx, TRUE); /* options of the future engine */
  int rc = app_cli_parse(ctx, cmd, &argc, &argv);
  g_option_context_free(ctx);
  if (rc)
    return rc;
  app_cli_error(cmd, "%s", cmd->missing);
  return APP_EXIT_USAGE;
}

int
app_cli_dispatch(int argc, char **argv)
{
  const app_cli_command *c = app_cli_find(argv[0]);
  if (c)
    return c->run ? c->run(argc, argv) : run_missing(c, argc, argv);
  char *help = app_cli_commands_help();
  fprintf(stderr, "hark: unknown command '%s'\n\nUsage: hark [OPTION...] [COMMAND [ARGS...]]\n\n%s", argv[0], help);
  g_free(help);
  return APP_EXIT_USAGE;
}

static volatile sig_atomic_t interrupted;

void
app_cli_on_interrupt(int sig)
{
  (void)sig;
  interrupted = 1;
}

int
app_cli_should_abort(void *user_data)
{
  (void)user_data;
  return interrupted;
}

void
app_cli_interrupt_reset(void)
{
  interrupted = 0;
}

void
app_cli_print_text(const char *text, size_t len, void *user_data)
{
  (void)user_data;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
}

void
app_cli_print_warning(const char *msg, void *user_data)
{
  const app_cli_command *cmd = user_data;
  fprintf(stderr, "hark %s: %s\n", cmd ? cmd->name : "", msg);
}

int
app_cli_precision(const app_cli_command *cmd, const char *precision, const char *fallback)
{
  const char *p = precision ? precision : fallback;
  if (strcmp(p, "float") == 0)
    return 0;
  if (strcmp(p, "int8") == 0)
    return 1;
  if (strcmp(p, "auto") == 0)
    return -1;
  app_cli_error(cmd, "unknown precision '%s' (auto, float, int8)", p);
  return -2;
}

int
app_cli_open_whisper(const app_cli_command *cmd, const char *model, const aud_whisper_params *wp, aud_whisper **w,
                     aud_tokenizer **tok)
{
  GError *error = NULL;
  if (app_whisper_open(model, wp, w, tok, &error))
    return 0;
  app_cli_error(cmd, "%s", error->message);
  g_error_free(error);
  return -1;
}
