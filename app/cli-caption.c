/* cli-caption.c: `hark caption DIR`: one caption per image in a folder.
 *
 * Outputs (--format): txt sidecars (photo.jpg -> photo.txt, the convention of
 * the captioning tools; photo.jpg.txt when another image shares the stem),
 * one DIR/captions.jsonl ({"file": "sub/photo.jpg", "caption": "..."} per
 * line), one DIR/captions.csv (file,caption, RFC 4180 quoting) or XMP sidecars
 * (photo.xmp with dc:description). An image that already has a caption is
 * skipped unless --overwrite, so an interrupted run resumes; every caption is
 * written as soon as it is made (sidecars atomically, JSONL/CSV lines
 * flushed). An XMP sidecar that another program wrote is never overwritten.
 * A file that cannot be read is reported and the run goes on; the summary
 * counts captioned, skipped and failed images. The folder, the outputs and
 * resuming are app-caption.c's, shared with the window's caption jobs. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app-caption.h"
#include "app-cli.h"
#include "app-vision.h"

int
app_cli_caption(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("caption");
  char *model = NULL, *mmproj = NULL, *device = NULL, *prompt = NULL, *format = NULL;
  int n_predict = 96, threads = 0;
  gboolean recursive = FALSE, overwrite = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_STRING, &model,
      "Catalog name, GGUF language model, or a directory with one and its mmproj (default llava-1.5-7b)", "MODEL" },
    { "mmproj", 0, 0, G_OPTION_ARG_FILENAME, &mmproj, "Vision projector (default: beside the model)", "FILE" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt,
      "What to ask about each image (default \"" APP_CAPTION_DEFAULT_PROMPT "\")", "TEXT" },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "txt (sidecars, default), jsonl, csv or xmp", "FMT" },
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, "Include images in subfolders", NULL },
    { "overwrite", 0, 0, G_OPTION_ARG_NONE, &overwrite, "Caption images that already have a caption again", NULL },
    { "n-predict", 'n', 0, G_OPTION_ARG_INT, &n_predict, "Most tokens per caption (default 96)", "N" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (default: physical cores)", "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress on stderr", NULL },
    { NULL },
  };
  int exit_code = APP_EXIT_USAGE;
  app_vision *v = NULL;
  app_captioner *cap = NULL;
  GError *error = NULL;
  app_caption_format fmt = APP_CAPTION_TXT;
  if (app_cli_parse_options(cmd, entries, NULL, &argc, &argv))
    goto out;
  if (argc != 2) {
    app_cli_error(cmd, "give one folder");
    goto out;
  }
  const char *root = argv[1];
  if (format) {
    int f = app_caption_format_from_name(format);
    if (f < 0) {
      app_cli_error(cmd, "unknown format '%s' (txt, jsonl, csv, xmp)", format);
      goto out;
    }
    fmt = (app_caption_format)f;
  }
  const char *dev = app_cli_device(cmd, device);
  if (!dev)
    goto out;
  exit_code = APP_EXIT_FAILURE;
  /* What is already captioned, and the table opened for more. */
  cap = app_captioner_new(root, fmt, recursive, overwrite, &error);
  if (!cap) {
    app_cli_error(cmd, "%s", error->message);
    g_error_free(error);
    goto out;
  }
  guint n_images = app_captioner_n_images(cap);
  if (n_images == 0) {
    fprintf(stderr, "hark caption: no images in %s%s\n", root, recursive ? "" : " (--recursive looks in subfolders)");
    exit_code = APP_EXIT_OK;
    goto out;
  }

  app_vision_params vp = app_vision_default_params();
  vp.model = model ? model : "llava-1.5-7b";
  vp.mmproj = mmproj;
  vp.device = dev;
  vp.n_threads = threads;
  vp.n_predict = n_predict > 0 ? n_predict : -1;
  vp.on_warning = app_cli_print_warning;
  vp.should_abort = app_cli_should_abort;
  vp.user_data = (void *)cmd;
  v = app_vision_open(&vp, &error);
  if (!v) {
    app_cli_error(cmd, "%s", error->message);
    g_error_free(error);
    goto out;
  }
  if (!quiet)
    fprintf(stderr, "%s\n", app_vision_describe(v));

  signal(SIGINT, app_cli_on_interrupt);
  int tty = isatty(STDERR_FILENO) && !quiet;
  int n_done = 0, n_skipped = 0, n_failed = 0;
  double t0 = app_cli_now(), t_work = 0;
  for (guint i = 0; i < n_images && !app_cli_should_abort(NULL); i++) {
    const char *rel = app_captioner_image(cap, i);
    char *note = NULL;
    if (app_captioner_has_caption(cap, i, &note)) {
      if (note && !quiet)
        fprintf(stderr, "%shark caption: %s\n", tty ? "\r\033[K" : "", note);
      g_free(note);
      n_skipped++;
      continue;
    }

    double t1 = app_cli_now();
    char *caption = NULL;
    gboolean write_failed = FALSE;
    gboolean ok = app_captioner_caption(cap, v, i, prompt, &caption, &write_failed, &error);
    t_work += app_cli_now() - t1;
    if (!ok) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_clear_error(&error);
        break;
      }
      if (write_failed)
        app_cli_error(cmd, "%s", error->message);
      else
        fprintf(stderr, "%shark caption: %s\n", tty ? "\r\033[K" : "", error->message);
      g_clear_error(&error);
      n_failed++;
      if (write_failed)
        break; /* the output cannot be written: more images would fail the same way */
    } else {
      n_done++;
      if (!tty && !quiet)
        fprintf(stderr, "%s: %s\n", rel, caption);
    }
    g_free(caption);
    if (tty) {
      int n_left = (int)n_images - (int)i - 1;
      double rate = t_work > 0 ? (n_done + n_failed) / t_work : 0;
      char eta[32];
      app_format_eta(eta, sizeof eta, rate > 0 ? n_left / rate : -1);
      fprintf(stderr, "\r\033[K[%u/%u] %.2f images/s, ETA %s  %s", i + 1, n_images, rate, eta, rel);
      fflush(stderr);
    }
  }
  if (tty)
    fprintf(stderr, "\n");
  const char *table_path = app_captioner_table_path(cap);
  if (!quiet || n_failed)
    fprintf(stderr, "%d captioned, %d skipped, %d failed in %.1f s%s%s%s\n", n_done, n_skipped, n_failed,
            app_cli_now() - t0, app_cli_should_abort(NULL) ? " (stopped)" : "", table_path ? "; " : "",
            table_path ? table_path : "");
  exit_code = n_failed ? APP_EXIT_FAILURE : APP_EXIT_OK;

out:
  app_vision_free(v);
  app_captioner_free(cap);
  g_free(model), g_free(mmproj), g_free(device), g_free(prompt), g_free(format);
  return exit_code;
}
