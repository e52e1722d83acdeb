/* app-cli.h: the `hark COMMAND` dispatcher and helpers shared by the cli-*.c files.
 *
 * Exit codes follow the usual convention: 0 success, 1 the work failed
 * (a file could not be read, a model could not be loaded), 2 usage errors and
 * commands this build does not provide.
 */
#pragma once

#include <glib.h>
#include <stdio.h>

#include "aud-tokenizer.h"
#include "aud-whisper.h"

enum { APP_EXIT_OK = 0, APP_EXIT_FAILURE = 1, APP_EXIT_USAGE = 2 };

typedef struct {
  const char *name;
  const char *args;       /* positional arguments for the usage line, "FILE..." */
  const char *summary;    /* one line, shown in `hark --help` */
  int min_args;           /* fewer positional arguments is a usage error */
  /* The command's entry point (argv[0] is the command name), or NULL while the
   * engine behind it is not in this build: `missing` then says what it needs. */
  int (*run)(int argc, char **argv);
  const char *missing;
} app_cli_command;

/* Runs `hark argv[0] argv[1..]`; returns the process exit code. */
int app_cli_dispatch(int argc, char **argv);

/* The command named `name`, or NULL. */
const app_cli_command *app_cli_find(const char *name);

/* "Commands:\n  transcribe  ...": the list for `hark --help`; free with g_free. */
char *app_cli_commands_help(void);

/* Parses a command's options; on error prints it with a hint and returns
 * APP_EXIT_USAGE, else 0. --help prints the help and exits 0. */
int app_cli_parse(GOptionContext *ctx, const app_cli_command *cmd, int *argc, char ***argv);

/* Builds the option context every command uses: usage line from cmd->args,
 * summary, and `entries` (may be NULL). */
GOptionContext *app_cli_context_new(const app_cli_command *cmd, const GOptionEntry *entries);

/* app_cli_context_new + an optional description + app_cli_parse, freeing the
 * context: what every command does with its options. */
int app_cli_parse_options(const app_cli_command *cmd, const GOptionEntry *entries, const char *description,
                          int *argc, char ***argv);

/* Appends s as a JSON string literal (quotes and escapes) to out. */
void app_cli_json_string(GString *out, const char *s);

/* Seconds on the monotonic clock. */
double app_cli_now(void);

/* Prints "hark CMD: message" to stderr. */
void app_cli_error(const app_cli_command *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The --device option's value ("auto" when NULL), or NULL after printing the
 * error when it is not auto, cpu or cuda[:N]. */
const char *app_cli_device(const app_cli_command *cmd, const char *device);
/* The --precision option's value (`fallback` when NULL) as
 * aud_whisper_params.q8_weights: float 0, int8 1, auto -1 (int8 on the CPU,
 * the stored weights on a GPU); -2 after printing the error for anything else. */
int app_cli_precision(const app_cli_command *cmd, const char *precision, const char *fallback);

/* Ctrl-C for commands that stop their work cleanly, one flag per process:
 * app_cli_on_interrupt is the handler to install (signal or sigaction);
 * app_cli_should_abort reads the flag and serves as an engine's should_abort
 * callback (user_data unused); app_cli_interrupt_reset clears it. */
void app_cli_on_interrupt(int sig);
int app_cli_should_abort(void *user_data);
void app_cli_interrupt_reset(void);
/* An engine's on_text callback: the text to stdout, flushed. */
void app_cli_print_text(const char *text, size_t len, void *user_data);
/* An engine's on_warning callback: "hark CMD: message" on stderr, with the
 * const app_cli_command * as user_data. */
void app_cli_print_warning(const char *msg, void *user_data);

/* The Whisper model of -m (a catalog name or a path; NULL: whisper-base)
 * with its tokenizer, opened with wp. 0, or -1 after printing the error
 * (*w and *tok are then NULL). */
int app_cli_open_whisper(const app_cli_command *cmd, const char *model, const aud_whisper_params *wp,
                         aud_whisper **w, aud_tokenizer **tok);

/* Command entry points (cli-<name>.c). */
int app_cli_devices(int argc, char **argv);
int app_cli_models(int argc, char **argv);
int app_cli_bench(int argc, char **argv);
int app_cli_transcribe(int argc, char **argv);
int app_cli_dictate(int argc, char **argv);
int app_cli_chat(int argc, char **argv);
int app_cli_ask(int argc, char **argv);
int app_cli_caption(int argc, char **argv);
