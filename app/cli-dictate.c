/* cli-dictate.c: `hark dictate`: live dictation from the microphone.
 * Committed text prints line by line as it is final; on a terminal the
 * uncommitted tail is rewritten in place below it. Ctrl-C (or the end of
 * the input device) stops, and the whole transcript prints once more. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app-cli.h"
#include "app-dictation.h"
#include "app-models.h"
#include "aud-capture.h"
#include "aud-dictate.h"
#include "aud-tokenizer.h"
#include "aud-whisper.h"

typedef struct {
  int tty;          /* stdout is a terminal: partials and the level are drawn */
  int line_dirty;   /* the live line is on screen */
  char *partial;    /* the partial text shown */
  float level;      /* input level, dBFS */
  GString *transcript;
  int end_status;
  char *end_message;
} dictate_state;

/* Callbacks: on the engine's worker thread, the only thread printing while
 * the session runs. On a terminal the live line is a level meter (-60 to
 * 0 dBFS in 10 cells) and the partial text. */
static void
draw_line(dictate_state *st)
{
  int cells = (int)((st->level + 60.0f) / 6.0f);
  cells = cells < 0 ? 0 : cells > 10 ? 10 : cells;
  printf("\r\033[K[%.*s%*s] %s", cells, "##########", 10 - cells, "", st->partial ? st->partial : "");
  fflush(stdout);
  st->line_dirty = 1;
}

static void
on_partial(const char *text, void *user_data)
{
  dictate_state *st = user_data;
  g_free(st->partial);
  st->partial = g_strdup(text);
  if (st->tty)
    draw_line(st);
}

static void
on_level(float dbfs, void *user_data)
{
  dictate_state *st = user_data;
  st->level = dbfs;
  if (st->tty)
    draw_line(st);
}

static void
on_final(const char *text, double start, double end, void *user_data)
{
  dictate_state *st = user_data;
  if (st->tty && st->line_dirty)
    fputs("\r\033[K", stdout);
  st->line_dirty = 0;
  printf("[%6.2f --> %6.2f] %s\n", start, end, text + strspn(text, " "));
  fflush(stdout);
  if (st->tty)
    draw_line(st);
  g_string_append(st->transcript, text);
}

static void
on_end(int status, const char *message, void *user_data)
{
  dictate_state *st = user_data;
  st->end_status = status;
  st->end_message = g_strdup(message);
}

static int
list_inputs(const app_cli_command *cmd)
{
  aud_capture_device *devs = NULL;
  int n = 0;
  char *err = NULL;
  if (aud_capture_list(&devs, &n, &err)) {
    app_cli_error(cmd, "%s", err);
    free(err);
    return APP_EXIT_FAILURE;
  }
  if (n == 0)
    printf("no input devices\n");
  for (int i = 0; i < n; i++)
    printf("%3d  %s  (%s, %d ch, %.0f Hz)%s\n", devs[i].index, devs[i].name, devs[i].host_api, devs[i].max_channels,
           devs[i].default_rate, devs[i].is_default ? "  [default]" : "");
  free(devs);
  return APP_EXIT_OK;
}

int
app_cli_dictate(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("dictate");
  char *model = NULL, *input = NULL, *language = NULL, *device = NULL, *vad_opt = NULL, *precision = NULL;
  gboolean list = FALSE;
  int threads = 0;
  double step = 0.5, pause = 0.8, encode_pad = 30.0;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_STRING, &model, "Catalog name or model path (default whisper-base)", "MODEL" },
    { "input", 0, 0, G_OPTION_ARG_STRING, &input, "Input device: number or part of its name (default: the default "
                                                  "input)", "DEVICE" },
    { "list-inputs", 0, 0, G_OPTION_ARG_NONE, &list, "List the input devices and exit", NULL },
    { "language", 'l', 0, G_OPTION_ARG_STRING, &language, "Spoken language: auto (default), en, de, ...", "LANG" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: physical cores)", "N" },
    { "vad-model", 0, 0, G_OPTION_ARG_FILENAME, &vad_opt, "whisper.cpp Silero VAD file (default: $HARK_VAD_MODEL, "
                                                          "else ggml-silero-vad.bin in the models folder, else an "
                                                          "energy detector)", "FILE" },
    { "step", 0, 0, G_OPTION_ARG_DOUBLE, &step, "Re-decode after this much new audio, seconds (0.5)", "S" },
    { "pause", 0, 0, G_OPTION_ARG_DOUBLE, &pause, "Silence that ends an utterance, seconds (0.8)", "S" },
    { "encode-pad", 0, 0, G_OPTION_ARG_DOUBLE, &encode_pad, "Encode each window at its length plus S seconds "
                                                            "of padding: faster, a little less accurate (10 is "
                                                            "about right; default 30: every window as 30 s, as "
                                                            "files are)", "S" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision,
      "float (default: the weights as stored), int8 (8-bit weights: about half the delay on the CPU, but more "
      "often a phrase Whisper invents) or auto (int8 on the CPU)", "P" },
    { NULL },
  };
  int rc = app_cli_parse_options(cmd, entries, "Speak; text appears as it is recognised. Ctrl-C stops.\n", &argc,
                                 &argv);
  int exit_code = APP_EXIT_USAGE;
  aud_whisper *w = NULL;
  aud_tokenizer *tok = NULL;
  aud_dictate *d = NULL;
  char *vad_path = NULL;
  dictate_state st = { .tty = isatty(STDOUT_FILENO), .transcript = g_string_new(""), .level = -120.0f };
  if (rc)
    goto out;
  if (argc > 1) {
    app_cli_error(cmd, "unexpected argument '%s'", argv[1]);
    goto out;
  }
  if (list) {
    exit_code = list_inputs(cmd);
    goto out;
  }
  const char *dev = app_cli_device(cmd, device);
  int q8 = app_cli_precision(cmd, precision, "float");
  if (!dev || q8 < -1)
    goto out;
  if (!(encode_pad >= 0) || !(step > 0) || !(pause > 0)) {
    app_cli_error(cmd, "--encode-pad must be >= 0, --step and --pause > 0");
    goto out;
  }

  exit_code = APP_EXIT_FAILURE;
  aud_whisper_params wp = aud_whisper_default_params();
  wp.backend = dev;
  wp.n_threads = threads;
  wp.q8_weights = q8;
  if (app_cli_open_whisper(cmd, model, &wp, &w, &tok) != 0)
    goto out;
  char *err = NULL;
  vad_path = app_dictation_find_vad_model(vad_opt);
  aud_dictate_params p = aud_dictate_default_params();
  p.language = language;
  p.vad_model = vad_path;
  p.step_s = step;
  p.pause_s = pause;
  p.encode_pad_s = encode_pad >= 30 ? 0.0f : (float)encode_pad;
  p.on_partial = on_partial;
  p.on_final = on_final;
  p.on_level = on_level;
  p.on_end = on_end;
  p.user_data = &st;
  d = aud_dictate_new(w, tok, &p, &err);
  if (!d) {
    app_cli_error(cmd, "%s", err);
    free(err);
    goto out;
  }
  if (!vad_path)
    fprintf(stderr, "hark dictate: no Silero VAD model (--vad-model); using the energy detector\n");

  struct sigaction sa = { .sa_handler = app_cli_on_interrupt };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (aud_dictate_start(d, input, &err)) {
    app_cli_error(cmd, "%s", err);
    free(err);
    goto out;
  }
  fprintf(stderr, "hark dictate: listening (%s, VAD %s); Ctrl-C stops\n", aud_whisper_backend_name(w),
          aud_dictate_vad_kind(d));
  while (!app_cli_should_abort(NULL) && aud_dictate_running(d))
    g_usleep(50000);
  err = NULL;
  int src = aud_dictate_stop(d, &err);
  if (st.tty && st.line_dirty)
    fputs("\r\033[K", stdout);
  printf("\n%s\n", st.transcript->str);
  fflush(stdout);
  if (src) {
    app_cli_error(cmd, "%s", err ? err : "dictation failed");
    exit_code = APP_EXIT_FAILURE;
  } else {
    exit_code = APP_EXIT_OK;
  }
  free(err);

out:
  aud_dictate_free(d);
  aud_tokenizer_free(tok);
  aud_whisper_free(w);
  g_free(vad_path);
  g_free(st.end_message);
  g_free(st.partial);
  g_string_free(st.transcript, TRUE);
  g_free(model), g_free(input), g_free(language), g_free(device), g_free(vad_opt), g_free(precision);
  return exit_code;
}
