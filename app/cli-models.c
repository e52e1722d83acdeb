/* cli-models.c: `hark models list|install|remove|path`, the CLI face of the
 * model catalog and installer in app-models.c. */
#include "app-cli.h"
#include "vis-clip.h"
#include "app-models.h"
#include "aud-whisper.h"
#include "kern-type.h"
#include "llm-hf.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static gboolean
model_size_approx(const app_model_info *m)
{
  for (guint i = 0; i < m->files->len; i++)
    if (((const app_model_file *)g_ptr_array_index(m->files, i))->size_approx)
      return TRUE;
  return FALSE;
}

static char *
size_text(const app_model_info *m)
{
  char *s = g_format_size(m->size);
  char *t = g_strdup_printf("%s%s", model_size_approx(m) ? "~" : "", s);
  g_free(s);
  return t;
}

static int
cmd_list(const app_catalog *cat, gboolean json)
{
  GString *j = g_string_new("[");
  if (!json)
    printf("%-24s %-8s %10s  %-9s  %s\n", "NAME", "KIND", "SIZE", "STATUS", "DESCRIPTION");
  for (guint i = 0; i < app_catalog_n_models(cat); i++) {
    const app_model_info *m = app_catalog_model(cat, i);
    char *dir = app_models_installed_dir(m->name);
    if (json) {
      g_string_append(j, i ? ",\n {\"name\":" : "\n {\"name\":");
      app_cli_json_string(j, m->name);
      g_string_append(j, ",\"kind\":");
      app_cli_json_string(j, m->kind);
      g_string_append_printf(j, ",\"size\":%" G_GUINT64_FORMAT ",\"size_approx\":%s,\"license\":", m->size,
                             model_size_approx(m) ? "true" : "false");
      app_cli_json_string(j, m->license);
      g_string_append(j, ",\"description\":");
      app_cli_json_string(j, m->description);
      g_string_append_printf(j, ",\"installed\":%s,\"path\":", dir ? "true" : "false");
      if (dir)
        app_cli_json_string(j, dir);
      else
        g_string_append(j, "null");
      g_string_append_c(j, '}');
    } else {
      char *size = size_text(m);
      printf("%-24s %-8s %10s  %-9s  %s\n", m->name, m->kind, size, dir ? "installed" : "-", m->description);
      g_free(size);
    }
    g_free(dir);
  }
  if (json) {
    g_string_append(j, "\n]\n");
    fputs(j->str, stdout);
  }
  g_string_free(j, TRUE);
  return APP_EXIT_OK;
}

/* ---- install: the installer runs on a worker thread; the main thread waits
 * in a main loop so Ctrl-C can cancel it cleanly. ---- */

typedef struct {
  const app_model_info *model;
  GCancellable *cancellable;
  GMainLoop *loop;
  gboolean tty;
  gboolean line_shown; /* a progress line is on the terminal */
  gboolean ok;
  GError *error;
} install_job;

static char *
eta_text(double s)
{
  if (s < 0)
    return g_strdup("--:--");
  guint64 t = (guint64)(s + 0.5);
  if (t >= 3600)
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%02u:%02u", t / 3600, (unsigned)(t / 60 % 60), (unsigned)(t % 60));
  return g_strdup_printf("%02u:%02u", (unsigned)(t / 60), (unsigned)(t % 60));
}

static void
on_progress(const app_models_progress *p, void *user_data)
{
  install_job *job = user_data;
  if (!job->tty)
    return;
  char *done = g_format_size(p->done);
  char *total = g_format_size(p->total);
  char *rate = p->rate > 0 ? g_format_size((guint64)p->rate) : g_strdup("?");
  char *eta = eta_text(p->eta);
  int pct = p->total ? (int)(100.0 * (double)MIN(p->done, p->total) / (double)p->total) : 0;
  fprintf(stderr, "\r\033[K%s: %3d%%  %s of %s  %s/s  ETA %s", p->file ? p->file : job->model->name, pct, done,
          total, rate, eta);
  fflush(stderr);
  job->line_shown = TRUE;
  g_free(done);
  g_free(total);
  g_free(rate);
  g_free(eta);
}

static void
on_note(const char *message, void *user_data)
{
  install_job *job = user_data;
  if (job->line_shown)
    fputs("\r\033[K", stderr);
  job->line_shown = FALSE;
  fprintf(stderr, "%s\n", message);
}

static gboolean
install_done(gpointer data)
{
  install_job *job = data;
  g_main_loop_quit(job->loop);
  return G_SOURCE_REMOVE;
}

static gpointer
install_thread(gpointer data)
{
  install_job *job = data;
  app_models_install_params params = app_models_install_default_params();
  params.on_progress = on_progress;
  params.on_note = on_note;
  params.user_data = job;
  job->ok = app_models_install(job->model, &params, job->cancellable, &job->error);
  g_idle_add(install_done, job);
  return NULL;
}

static gboolean
on_sigint(gpointer data)
{
  g_cancellable_cancel(data);
  return G_SOURCE_CONTINUE;
}

static int
cmd_install(const app_cli_command *cmd, const app_model_info *model)
{
  install_job job = {
    .model = model,
    .cancellable = g_cancellable_new(),
    .loop = g_main_loop_new(NULL, FALSE),
    .tty = isatty(STDERR_FILENO),
  };
  guint sig = g_unix_signal_add(SIGINT, on_sigint, job.cancellable);
  guint sigterm = g_unix_signal_add(SIGTERM, on_sigint, job.cancellable);
  GThread *worker = g_thread_new("hark-install", install_thread, &job);
  g_main_loop_run(job.loop);
  g_thread_join(worker);
  g_source_remove(sig);
  g_source_remove(sigterm);
  if (job.line_shown)
    fputs("\r\033[K", stderr);

  int rc = APP_EXIT_OK;
  if (job.ok) {
    char *dir = app_models_installed_dir(model->name);
    char *size = size_text(model);
    printf("Installed %s (%s) in %s\n", model->name, size, dir ? dir : "?");
    g_free(size);
    g_free(dir);
  } else if (g_error_matches(job.error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    app_cli_error(cmd, "install of %s stopped; run the same command again to resume", model->name);
    rc = APP_EXIT_FAILURE;
  } else {
    app_cli_error(cmd, "cannot install %s: %s", model->name, job.error->message);
    rc = APP_EXIT_FAILURE;
  }
  g_clear_error(&job.error);
  g_main_loop_unref(job.loop);
  g_object_unref(job.cancellable);
  return rc;
}

/* "Wrote OUT (WHAT, matrices TYPE, N MB) in S s". */
static void
print_written(const char *out, const char *what, int type, double t0)
{
  GStatBuf st;
  double mb = g_stat(out, &st) == 0 ? (double)st.st_size / 1e6 : 0;
  printf("Wrote %s (%s, matrices %s, %.1f MB) in %.1f s\n", out, what, kern_type_get_traits(type)->name, mb,
         app_cli_now() - t0);
}

/* A model that is not Whisper: its language model (GGUF, or a Hugging Face
 * directory) to OUT, and its vision tower + projector (mmproj GGUF, Hugging
 * Face LLaVA or CLIP directory) to mmproj-OUT beside it, or to OUT itself
 * when OUT's name says mmproj or there is no language model. */
static int
convert_llm_vision(const app_cli_command *cmd, const char *path, const char *out, int type, const char *whisper_err)
{
  char *lerr = NULL, *verr = NULL, *xerr = NULL, *base = g_path_get_basename(out);
  gboolean proj_only = strstr(base, "mmproj") != NULL, lm_done = FALSE;
  int lrc = KERN_E_INVAL;
  if (!proj_only) {
    double t0 = app_cli_now();
    lrc = llm_convert_gguf(path, out, type, &lerr);
    if (lrc == 0) {
      print_written(out, "language model GGUF", type, t0);
      lm_done = TRUE;
    } else if (lrc != KERN_E_INVAL) { /* a language model, but not one that converts */
      app_cli_error(cmd, "%s", lerr);
      g_free(base), free(lerr);
      return APP_EXIT_FAILURE;
    }
  }
  vis_clip_params cp = vis_clip_default_params();
  cp.device = "cpu";
  vis_clip *c = vis_clip_open(path, &cp, &verr);
  int rc = lm_done ? APP_EXIT_OK : APP_EXIT_FAILURE;
  if (c) {
    char *dir = g_path_get_dirname(out), *name = g_strconcat("mmproj-", base, NULL);
    char *proj = lm_done ? g_build_filename(dir, name, NULL) : g_strdup(out);
    double t0 = app_cli_now();
    if (vis_clip_export(c, proj, type, &xerr) != 0) {
      app_cli_error(cmd, "%s", xerr ? xerr : proj);
      rc = APP_EXIT_FAILURE;
    } else {
      print_written(proj, "mmproj GGUF", type, t0);
      rc = APP_EXIT_OK;
    }
    g_free(dir), g_free(name), g_free(proj);
    vis_clip_free(c);
  } else if (!lm_done) {
    app_cli_error(cmd, "%s (only Whisper models, language models and vision towers convert)",
                  whisper_err ? whisper_err : path);
  }
  g_free(base);
  free(lerr), free(verr), free(xerr);
  return rc;
}

/* hark models convert IN OUT: any Whisper model to whisper.cpp ggml (.bin) or
 * GGUF (.gguf); other models as convert_llm_vision says. */
static int
cmd_convert(const app_cli_command *cmd, const char *in, const char *out, const char *type_name)
{
  int type = kern_type_from_name(type_name ? type_name : "f16");
  if (type < 0) {
    app_cli_error(cmd, "unknown type '%s' (f32, f16, q8_0, q5_0, q5_1, q4_0, q4_1, q4_K, q5_K, q6_K...)", type_name);
    return APP_EXIT_USAGE;
  }
  GError *gerr = NULL;
  char *path = app_models_resolve(in, &gerr);
  if (!path) {
    app_cli_error(cmd, "%s", gerr->message);
    g_error_free(gerr);
    return APP_EXIT_FAILURE;
  }
  aud_whisper_params wp = aud_whisper_default_params();
  wp.backend = "cpu";
  char *err = NULL;
  aud_tokenizer *tok = NULL;
  int rc = APP_EXIT_FAILURE;
  aud_whisper *w = aud_whisper_open(path, &wp, &err);
  if (w)
    tok = aud_tokenizer_from_weights(aud_whisper_get_weights(w), &err);
  if (!w) {
    rc = convert_llm_vision(cmd, path, out, type, err);
  } else if (!tok) {
    app_cli_error(cmd, "%s", err ? err : path);
  } else {
    aud_whisper_file_format fmt = g_str_has_suffix(out, ".gguf") ? AUD_WHISPER_FILE_GGUF : AUD_WHISPER_FILE_GGML;
    double t0 = app_cli_now();
    if (aud_whisper_export(w, tok, out, fmt, type, &err) != 0) {
      app_cli_error(cmd, "%s", err ? err : out);
    } else {
      print_written(out, fmt == AUD_WHISPER_FILE_GGUF ? "GGUF" : "whisper.cpp ggml", type, t0);
      rc = APP_EXIT_OK;
    }
  }
  free(err);
  aud_tokenizer_free(tok);
  aud_whisper_free(w);
  g_free(path);
  return rc;
}

int
app_cli_models(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("models");

  gboolean json = FALSE;
  char *type = NULL;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "list: print a JSON array instead of a table", NULL },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, "convert: type of the weight matrices (default f16)", "TYPE" },
    { NULL },
  };
  char *root = app_models_root();
  char *desc = g_strdup_printf("Subcommands:\n"
                               "  list          the catalog: name, kind, size, installed or not, description\n"
                               "  install NAME  download and check a model (an interrupted install resumes)\n"
                               "  remove NAME   delete an installed model\n"
                               "  path NAME     print an installed model's directory\n"
                               "  convert MODEL OUT [--type T]\n"
                               "                a Whisper model (catalog name or path, any format) to\n"
                               "                whisper.cpp ggml (OUT.bin) or GGUF (OUT.gguf); a language\n"
                               "                model (GGUF, or a Hugging Face Llama/Mistral directory) to\n"
                               "                GGUF, with a LLaVA directory's vision tower as mmproj-OUT;\n"
                               "                T: f32, f16, q8_0, q5_0, q5_1, q4_0, q4_1 or a K-quant\n"
                               "\nModels are stored in %s.",
                               root);
  int rc = app_cli_parse_options(cmd, entries, desc, &argc, &argv);
  g_free(desc);
  g_free(root);
  if (rc)
    return rc;

  const char *sub = argv[1];
  if (strcmp(sub, "convert") == 0) {
    if (argc != 4) {
      app_cli_error(cmd, "convert needs a model and an output file");
      g_free(type);
      return APP_EXIT_USAGE;
    }
    rc = cmd_convert(cmd, argv[2], argv[3], type);
    g_free(type);
    return rc;
  }
  g_free(type);
  gboolean is_list = strcmp(sub, "list") == 0;
  if (!is_list && strcmp(sub, "install") != 0 && strcmp(sub, "remove") != 0 && strcmp(sub, "path") != 0) {
    app_cli_error(cmd, "unknown subcommand '%s' (expected list, install, remove, path or convert)", sub);
    return APP_EXIT_USAGE;
  }
  if (is_list ? argc != 2 : argc != 3) {
    if (is_list)
      app_cli_error(cmd, "list takes no argument");
    else
      app_cli_error(cmd, "%s needs exactly one model name", sub);
    fprintf(stderr, "Run 'hark models --help' for usage.\n");
    return APP_EXIT_USAGE;
  }

  GError *error = NULL;
  app_catalog *cat = app_catalog_load(NULL, &error);
  if (!cat) {
    app_cli_error(cmd, "%s", error->message);
    g_error_free(error);
    return APP_EXIT_FAILURE;
  }
  if (is_list) {
    rc = cmd_list(cat, json);
    app_catalog_free(cat);
    return rc;
  }

  const char *name = argv[2];
  const app_model_info *model = app_catalog_find(cat, name);
  if (!model) {
    char *names = app_catalog_names(cat);
    app_cli_error(cmd, "unknown model '%s'; the catalog has: %s", name, names);
    g_free(names);
    app_catalog_free(cat);
    return APP_EXIT_USAGE;
  }

  if (strcmp(sub, "install") == 0) {
    rc = cmd_install(cmd, model);
  } else if (strcmp(sub, "remove") == 0) {
    if (app_models_remove(name, &error)) {
      printf("Removed %s\n", name);
    } else {
      app_cli_error(cmd, "%s", error->message);
      g_clear_error(&error);
      rc = APP_EXIT_FAILURE;
    }
  } else { /* path */
    char *dir = app_models_installed_dir(name);
    if (dir) {
      printf("%s\n", dir);
    } else {
      app_cli_error(cmd, "model %s is not installed; run: hark models install %s", name, name);
      rc = APP_EXIT_FAILURE;
    }
    g_free(dir);
  }
  app_catalog_free(cat);
  return rc;
}
