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
 * counts captioned, skipped and failed images. */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app-cli.h"
#include "app-vision.h"

typedef enum { FMT_TXT, FMT_JSONL, FMT_CSV, FMT_XMP } out_format;

#define XMP_TOOL "Hark"

/* ---- finding images ----------------------------------------------------------- */

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Relative paths of the images under root/rel (sorted within each folder);
 * hidden entries skipped, symbolic links to folders not followed. */
static void
scan(const char *root, const char *rel, gboolean recursive, GPtrArray *out)
{
  char *dir = rel ? g_build_filename(root, rel, NULL) : g_strdup(root);
  GDir *d = g_dir_open(dir, 0, NULL);
  if (!d) {
    g_free(dir);
    return;
  }
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(d)))
    if (name[0] != '.')
      g_ptr_array_add(names, g_strdup(name));
  g_dir_close(d);
  g_ptr_array_sort(names, cmp_str);
  for (guint i = 0; i < names->len; i++) {
    const char *n = names->pdata[i];
    char *full = g_build_filename(dir, n, NULL), *r = rel ? g_build_filename(rel, n, NULL) : g_strdup(n);
    if (g_file_test(full, G_FILE_TEST_IS_DIR)) {
      if (recursive && !g_file_test(full, G_FILE_TEST_IS_SYMLINK))
        scan(root, r, recursive, out);
      g_free(r);
    } else if (vis_image_is_image_name(n)) {
      g_ptr_array_add(out, r);
    } else {
      g_free(r);
    }
    g_free(full);
  }
  g_ptr_array_unref(names);
  g_free(dir);
}

/* path without its extension */
static char *
stem_of(const char *path)
{
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  if (dot && (!slash || dot > slash) && dot != (slash ? slash + 1 : path))
    return g_strndup(path, (gsize)(dot - path));
  return g_strdup(path);
}

/* How many images share each stem (path without extension). */
static GHashTable *
count_stems(GPtrArray *images)
{
  GHashTable *counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < images->len; i++) {
    char *stem = stem_of(images->pdata[i]);
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(counts, stem));
    g_hash_table_replace(counts, stem, GUINT_TO_POINTER(n + 1));
  }
  return counts;
}

/* The sidecar of `image` with extension ext: stem.ext, or name.ext when
 * another image of the run has the same stem (photo.jpg and photo.png). */
static char *
sidecar_of(GHashTable *stems, const char *image, const char *ext)
{
  char *stem = stem_of(image);
  gboolean shared = GPOINTER_TO_UINT(g_hash_table_lookup(stems, stem)) > 1;
  char *out = g_strconcat(shared ? image : stem, ".", ext, NULL);
  g_free(stem);
  return out;
}

/* ---- existing captions (resume) ----------------------------------------------- */

static void
read_jsonl(const char *path, GHashTable *done)
{
  char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return;
  char **lines = g_strsplit(text, "\n", -1);
  JsonParser *parser = json_parser_new();
  for (char **l = lines; *l; l++) {
    if (!**l || !json_parser_load_from_data(parser, *l, -1, NULL))
      continue;
    JsonNode *root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_OBJECT(root))
      continue;
    const char *file = json_object_get_string_member_with_default(json_node_get_object(root), "file", NULL);
    if (file)
      g_hash_table_add(done, g_strdup(file));
  }
  g_object_unref(parser);
  g_strfreev(lines);
  g_free(text);
}

/* The first field of every record after the header of an RFC 4180 file. */
static void
read_csv(const char *path, GHashTable *done)
{
  char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return;
  GString *field = g_string_new(NULL);
  int col = 0, quoted = 0, record = 0;
  for (const char *p = text;; p++) {
    char c = *p;
    if (quoted) {
      if (c == '"' && p[1] == '"')
        g_string_append_c(field, '"'), p++;
      else if (c == '"')
        quoted = 0;
      else if (c)
        g_string_append_c(field, c);
      else
        break;
      continue;
    }
    if (c == '"' && field->len == 0) {
      quoted = 1;
    } else if (c == ',' || c == '\n' || c == '\r' || c == 0) {
      if (col == 0 && record > 0 && field->len)
        g_hash_table_add(done, g_strdup(field->str));
      g_string_truncate(field, 0);
      if (c == ',') {
        col++;
      } else {
        if (c == '\r' && p[1] == '\n')
          p++;
        if (col > 0 || record > 0 || c)
          record++;
        col = 0;
      }
      if (!c)
        break;
    } else {
      g_string_append_c(field, c);
    }
  }
  g_string_free(field, TRUE);
  g_free(text);
}

/* ---- writing ------------------------------------------------------------------ */

static void
csv_field(GString *out, const char *s)
{
  if (!strpbrk(s, ",\"\r\n")) {
    g_string_append(out, s);
    return;
  }
  g_string_append_c(out, '"');
  for (; *s; s++) {
    if (*s == '"')
      g_string_append_c(out, '"');
    g_string_append_c(out, *s);
  }
  g_string_append_c(out, '"');
}

static char *
xmp_document(const char *caption)
{
  char *esc = g_markup_escape_text(caption, -1);
  char *doc = g_strdup_printf(
    "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
    " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
    "  <rdf:Description rdf:about=\"\"\n"
    "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n"
    "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
    "    xmp:CreatorTool=\"" XMP_TOOL "\">\n"
    "   <dc:description>\n"
    "    <rdf:Alt>\n"
    "     <rdf:li xml:lang=\"x-default\">%s</rdf:li>\n"
    "    </rdf:Alt>\n"
    "   </dc:description>\n"
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    "<?xpacket end=\"w\"?>\n",
    esc);
  g_free(esc);
  return doc;
}

/* An XMP sidecar Hark wrote (and may replace). */
static gboolean
xmp_is_ours(const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return FALSE;
  gboolean ours = strstr(text, "xmp:CreatorTool=\"" XMP_TOOL "\"") != NULL;
  g_free(text);
  return ours;
}

static const char *
format_name(out_format f)
{
  static const char *const names[] = { "txt", "jsonl", "csv", "xmp" };
  return names[f];
}

static void
fmt_eta(char *buf, size_t n, double s)
{
  if (s < 0 || s > 359999)
    snprintf(buf, n, "--:--");
  else if (s >= 3600)
    snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
  else
    snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

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
      "What to ask about each image (default \"Describe this photo in one sentence.\")", "TEXT" },
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
  GPtrArray *images = g_ptr_array_new_with_free_func(g_free);
  GHashTable *done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL), *stems = NULL;
  FILE *table = NULL;
  char *table_path = NULL;
  out_format fmt = FMT_TXT;
  if (app_cli_parse_options(cmd, entries, NULL, &argc, &argv))
    goto out;
  if (argc != 2) {
    app_cli_error(cmd, "give one folder");
    goto out;
  }
  const char *root = argv[1];
  if (format) {
    gboolean ok = FALSE;
    for (int f = FMT_TXT; f <= FMT_XMP && !ok; f++)
      if (strcmp(format, format_name((out_format)f)) == 0)
        fmt = (out_format)f, ok = TRUE;
    if (!ok) {
      app_cli_error(cmd, "unknown format '%s' (txt, jsonl, csv, xmp)", format);
      goto out;
    }
  }
  const char *dev = app_cli_device(cmd, device);
  if (!dev)
    goto out;
  exit_code = APP_EXIT_FAILURE;
  if (!g_file_test(root, G_FILE_TEST_IS_DIR)) {
    app_cli_error(cmd, "%s is not a folder", root);
    goto out;
  }
  scan(root, NULL, recursive, images);
  if (images->len == 0) {
    fprintf(stderr, "hark caption: no images in %s%s\n", root, recursive ? "" : " (--recursive looks in subfolders)");
    exit_code = APP_EXIT_OK;
    goto out;
  }

  stems = count_stems(images);
  /* What is already captioned. */
  if (fmt == FMT_JSONL || fmt == FMT_CSV) {
    table_path = g_build_filename(root, fmt == FMT_JSONL ? "captions.jsonl" : "captions.csv", NULL);
    gboolean exists = g_file_test(table_path, G_FILE_TEST_EXISTS);
    if (exists && !overwrite)
      (fmt == FMT_JSONL ? read_jsonl : read_csv)(table_path, done);
    table = fopen(table_path, exists && !overwrite ? "a" : "w");
    if (!table) {
      app_cli_error(cmd, "cannot write %s: %s", table_path, g_strerror(errno));
      goto out;
    }
    if (fmt == FMT_CSV && (!exists || overwrite))
      fputs("file,caption\n", table);
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
  GError *error = NULL;
  v = app_vision_open(&vp, &error);
  if (!v) {
    app_cli_error(cmd, "%s", error->message);
    g_error_free(error);
    goto out;
  }
  if (!quiet)
    fprintf(stderr, "%s\n", app_vision_describe(v));

  signal(SIGINT, app_cli_on_interrupt);
  const char *question = prompt ? prompt : "Describe this photo in one sentence.";
  int tty = isatty(STDERR_FILENO) && !quiet;
  int n_done = 0, n_skipped = 0, n_failed = 0;
  double t0 = app_cli_now(), t_work = 0;
  for (guint i = 0; i < images->len && !app_cli_should_abort(NULL); i++) {
    const char *rel = images->pdata[i];
    char *full = g_build_filename(root, rel, NULL), *side = NULL, *side_full = NULL;
    if (fmt == FMT_TXT || fmt == FMT_XMP) {
      side = sidecar_of(stems, rel, fmt == FMT_TXT ? "txt" : "xmp");
      side_full = g_build_filename(root, side, NULL);
    }
    gboolean skip = FALSE;
    if (side_full && g_file_test(side_full, G_FILE_TEST_EXISTS)) {
      if (fmt == FMT_XMP && !xmp_is_ours(side_full)) {
        skip = TRUE;
        if (!quiet)
          fprintf(stderr, "%shark caption: %s was written by another program; not touched\n", tty ? "\r\033[K" : "",
                  side);
      } else {
        skip = !overwrite;
      }
    } else if (!side_full) {
      skip = g_hash_table_contains(done, rel);
    }
    if (skip) {
      n_skipped++;
      g_free(full), g_free(side), g_free(side_full);
      continue;
    }

    double t1 = app_cli_now();
    char *caption = NULL;
    app_vision_forget(v);
    const char *one[1] = { full };
    gboolean ok = app_vision_ask(v, one, 1, question, &caption, NULL, &error);
    t_work += app_cli_now() - t1;
    if (!ok) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_clear_error(&error);
        g_free(full), g_free(side), g_free(side_full);
        break;
      }
      fprintf(stderr, "%shark caption: %s\n", tty ? "\r\033[K" : "", error->message);
      g_clear_error(&error);
      n_failed++;
    } else {
      g_strstrip(caption);
      GError *werr = NULL;
      gboolean written = TRUE;
      if (fmt == FMT_TXT) {
        char *body = g_strconcat(caption, "\n", NULL);
        written = g_file_set_contents(side_full, body, -1, &werr);
        g_free(body);
      } else if (fmt == FMT_XMP) {
        char *doc = xmp_document(caption);
        written = g_file_set_contents(side_full, doc, -1, &werr);
        g_free(doc);
      } else {
        GString *line = g_string_new(NULL);
        if (fmt == FMT_JSONL) {
          g_string_append(line, "{\"file\": ");
          app_cli_json_string(line, rel);
          g_string_append(line, ", \"caption\": ");
          app_cli_json_string(line, caption);
          g_string_append(line, "}\n");
        } else {
          csv_field(line, rel);
          g_string_append_c(line, ',');
          csv_field(line, caption);
          g_string_append_c(line, '\n');
        }
        written = fwrite(line->str, 1, line->len, table) == line->len && fflush(table) == 0;
        if (!written)
          g_set_error(&werr, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot write %s: %s", table_path,
                      g_strerror(errno));
        g_string_free(line, TRUE);
      }
      if (!written) {
        app_cli_error(cmd, "%s", werr->message);
        g_error_free(werr);
        g_free(caption), g_free(full), g_free(side), g_free(side_full);
        n_failed++;
        break; /* the output cannot be written: more images would fail the same way */
      }
      n_done++;
      if (!tty && !quiet)
        fprintf(stderr, "%s: %s\n", rel, caption);
    }
    g_free(caption);
    if (tty) {
      int n_left = (int)images->len - (int)i - 1;
      double rate = t_work > 0 ? (n_done + n_failed) / t_work : 0;
      char eta[32];
      fmt_eta(eta, sizeof eta, rate > 0 ? n_left / rate : -1);
      fprintf(stderr, "\r\033[K[%u/%u] %.2f images/s, ETA %s  %s", i + 1, images->len, rate, eta, rel);
      fflush(stderr);
    }
    g_free(full), g_free(side), g_free(side_full);
  }
  if (tty)
    fprintf(stderr, "\n");
  if (!quiet || n_failed)
    fprintf(stderr, "%d captioned, %d skipped, %d failed in %.1f s%s%s%s\n", n_done, n_skipped, n_failed,
            app_cli_now() - t0, app_cli_should_abort(NULL) ? " (stopped)" : "", table_path ? "; " : "",
            table_path ? table_path : "");
  exit_code = n_failed ? APP_EXIT_FAILURE : APP_EXIT_OK;

out:
  if (table)
    fclose(table);
  app_vision_free(v);
  g_ptr_array_unref(images);
  g_hash_table_unref(done);
  if (stems)
    g_hash_table_unref(stems);
  g_free(table_path);
  g_free(model), g_free(mmproj), g_free(device), g_free(prompt), g_free(format);
  return exit_code;
}
