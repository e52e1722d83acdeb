/* cli-transcribe.c: `hark transcribe FILE...`: audio and video files to
 * TXT/SRT/VTT/JSON with Whisper. Segments print as they are decoded; a
 * progress line (percent, speed, ETA) goes to stderr; a file that fails is
 * reported and the others still run. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app-cli.h"
#include "app-models.h"
#include "app-transcribe.h"
#include "aud-tokenizer.h"
#include "aud-transcribe.h"
#include "aud-whisper.h"

typedef struct {
  int progress;       /* draw the progress line */
  double t0;          /* wall clock at the file's start */
  int line_dirty;     /* a progress line is on screen */
} run_state;

static void
clear_progress(run_state *st)
{
  if (st->line_dirty) {
    fputs("\r\033[K", stderr);
    st->line_dirty = 0;
  }
}

static void
on_segment(const aud_segment *seg, void *user_data)
{
  run_state *st = user_data;
  char a[24], b[24];
  clear_progress(st);
  const char *text = seg->text;
  while (*text == ' ')
    text++;
  printf("[%s --> %s] %s\n", aud_format_timestamp(seg->start, '.', a), aud_format_timestamp(seg->end, '.', b), text);
  fflush(stdout);
}

static void
on_progress(double done, double total, void *user_data)
{
  run_state *st = user_data;
  if (!st->progress)
    return;
  double el = app_cli_now() - st->t0, speed = el > 0 ? done / el : 0;
  if (total > 0) {
    double frac = done / total > 1 ? 1 : done / total;
    double eta = speed > 0 ? (total - done) / speed : 0;
    fprintf(stderr, "\r\033[K%3.0f%%  %.0f/%.0f s  %.1fx real time  ETA %.0f s", 100 * frac, done, total, speed,
            eta > 0 ? eta : 0);
  } else {
    fprintf(stderr, "\r\033[K%.0f s  %.1fx real time", done, speed);
  }
  st->line_dirty = 1;
}

static void
on_warning(const char *message, void *user_data)
{
  clear_progress(user_data);
  fprintf(stderr, "hark transcribe: warning: %s\n", message);
}

int
app_cli_transcribe(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("transcribe");
  char *model = NULL, *language = NULL, *task = NULL, *format = NULL, *out_dir = NULL, *device = NULL;
  char *prompt = NULL, *precision = NULL;
  int beam = 5, threads = 0;
  gboolean words = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_STRING, &model, "Catalog name or model path (default whisper-base)", "MODEL" },
    { "language", 'l', 0, G_OPTION_ARG_STRING, &language, "Spoken language: auto (default), en, de, ...", "LANG" },
    { "task", 0, 0, G_OPTION_ARG_STRING, &task, "transcribe (default) or translate (into English)", "TASK" },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "txt (default), srt, vtt, json or all", "FMT" },
    { "output-dir", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Write outputs here instead of beside the input", "DIR" },
    { "beam", 0, 0, G_OPTION_ARG_INT, &beam, "Beam size; 1 = greedy (default 5)", "N" },
    { "initial-prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, "Text that primes the first window", "TEXT" },
    { "word-timestamps", 0, 0, G_OPTION_ARG_NONE, &words, "Timestamps for each word (JSON)", NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: physical cores)", "N" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision,
      "float (default: the weights as stored), int8 (8-bit weights: faster on the CPU) or auto (int8 on the "
      "CPU, float on a GPU)", "P" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress line", NULL },
    { NULL },
  };
  int rc = app_cli_parse_options(cmd, entries, NULL, &argc, &argv);
  int exit_code = APP_EXIT_USAGE;
  aud_whisper *w = NULL;
  aud_tokenizer *tok = NULL;
  if (rc)
    goto out;

  int fmts[4], n_fmts = 0;
  const char *f = format ? format : "txt";
  if (strcmp(f, "all") == 0) {
    for (int i = 0; i < 4; i++)
      fmts[n_fmts++] = i;
  } else {
    char **parts = g_strsplit(f, ",", 0);
    for (int i = 0; parts[i] && n_fmts < 4; i++) {
      int v = aud_transcript_format_from_name(parts[i]);
      if (v < 0) {
        app_cli_error(cmd, "unknown format '%s' (txt, srt, vtt, json, all)", parts[i]);
        g_strfreev(parts);
        goto out;
      }
      fmts[n_fmts++] = v;
    }
    g_strfreev(parts);
  }
  if (task && strcmp(task, "transcribe") && strcmp(task, "translate")) {
    app_cli_error(cmd, "unknown task '%s' (transcribe, translate)", task);
    goto out;
  }
  if (beam < 1 || beam > 16) {
    app_cli_error(cmd, "--beam must be between 1 and 16");
    goto out;
  }
  int q8 = app_cli_precision(cmd, precision, "float");
  if (q8 < -1)
    goto out;
  const char *dev = app_cli_device(cmd, device);
  if (!dev)
    goto out;
  if (out_dir && !g_file_test(out_dir, G_FILE_TEST_IS_DIR)) {
    app_cli_error(cmd, "%s is not a directory", out_dir);
    goto out;
  }

  exit_code = APP_EXIT_FAILURE;
  aud_whisper_params wp = aud_whisper_default_params();
  wp.backend = dev;
  wp.n_threads = threads;
  wp.n_seq = 2 * (beam > 5 ? beam : 5); /* beams double-buffered; sampling uses best_of = 5 */
  wp.q8_weights = q8;
  if (app_cli_open_whisper(cmd, model, &wp, &w, &tok) != 0)
    goto out;

  run_state st = { .progress = !quiet && isatty(STDERR_FILENO) };
  aud_transcribe_params tp = aud_transcribe_default_params();
  tp.language = language;
  tp.translate = task && strcmp(task, "translate") == 0;
  tp.beam_size = beam;
  tp.initial_prompt = prompt;
  tp.word_timestamps = words;
  tp.on_segment = on_segment;
  tp.on_progress = on_progress;
  tp.on_warning = on_warning;
  tp.user_data = &st;

  int failed = 0;
  for (int i = 1; i < argc; i++) {
    aud_transcript tr;
    aud_transcript_init(&tr);
    st.t0 = app_cli_now();
    char *err = NULL;
    int trc = aud_transcribe_file(w, tok, argv[i], &tp, &tr, &err);
    clear_progress(&st);
    if (trc) {
      fprintf(stderr, "hark transcribe: %s\n", err ? err : argv[i]);
      free(err);
      failed++;
      aud_transcript_clear(&tr);
      continue;
    }
    double el = app_cli_now() - st.t0;
    for (int k = 0; k < n_fmts; k++) {
      char *path = app_transcript_output_path(argv[i], out_dir, aud_transcript_format_ext(fmts[k]));
      char *serr = NULL;
      if (aud_transcript_save(&tr, fmts[k], path, &serr) != 0) {
        fprintf(stderr, "hark transcribe: cannot write %s\n", serr ? serr : path);
        failed++;
      } else if (!quiet) {
        fprintf(stderr, "wrote %s\n", path);
      }
      free(serr);
      g_free(path);
    }
    if (!quiet)
      fprintf(stderr, "%s: %.1f s of audio (%s) in %.1f s, %.1fx real time on %s\n", argv[i], tr.duration,
              tr.language[0] ? tr.language : "?", el, el > 0 ? tr.duration / el : 0, aud_whisper_backend_name(w));
    aud_transcript_clear(&tr);
  }
  exit_code = failed ? APP_EXIT_FAILURE : APP_EXIT_OK;

out:
  aud_tokenizer_free(tok);
  aud_whisper_free(w);
  g_free(model), g_free(language), g_free(task), g_free(format), g_free(out_dir), g_free(device), g_free(prompt), g_free(precision);
  return exit_code;
}
