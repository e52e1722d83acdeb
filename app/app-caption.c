/* app-caption.c: the folder, the outputs and resuming of a caption run,
 * shared by `hark caption` (cli-caption.c) and the window's caption jobs
 * (app-jobs.c). */
#include "app-caption.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "app-cli.h"

#define XMP_TOOL "Hark"

struct app_captioner {
  char *root;
  app_caption_format format;
  gboolean overwrite;
  GPtrArray *images;  /* relative paths */
  GHashTable *stems;  /* stem -> how many images share it */
  GHashTable *done;   /* relative paths already in the table */
  FILE *table;
  char *table_path;
};

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

int
app_caption_format_from_name(const char *name)
{
  for (int f = APP_CAPTION_TXT; f <= APP_CAPTION_XMP; f++)
    if (name && strcmp(name, app_caption_format_name((app_caption_format)f)) == 0)
      return f;
  return -1;
}

const char *
app_caption_format_name(app_caption_format f)
{
  static const char *const names[] = { "txt", "jsonl", "csv", "xmp" };
  return f >= APP_CAPTION_TXT && f <= APP_CAPTION_XMP ? names[f] : "txt";
}

void
app_format_eta(char *buf, size_t n, double s)
{
  if (s < 0 || s > 359999)
    snprintf(buf, n, "--:--");
  else if (s >= 3600)
    snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
  else
    snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* ---- the captioner ------------------------------------------------------------ */

static gboolean
is_sidecar(app_caption_format f)
{
  return f == APP_CAPTION_TXT || f == APP_CAPTION_XMP;
}

app_captioner *
app_captioner_new(const char *root, app_caption_format format, gboolean recursive, gboolean overwrite,
                  GError **error)
{
  if (!g_file_test(root, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, "%s is not a folder", root);
    return NULL;
  }
  app_captioner *c = g_new0(app_captioner, 1);
  c->root = g_strdup(root);
  c->format = format;
  c->overwrite = overwrite;
  c->images = g_ptr_array_new_with_free_func(g_free);
  c->done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  scan(root, NULL, recursive, c->images);
  c->stems = count_stems(c->images);
  if (c->images->len && !is_sidecar(format)) {
    c->table_path = g_build_filename(root, format == APP_CAPTION_JSONL ? "captions.jsonl" : "captions.csv", NULL);
    gboolean exists = g_file_test(c->table_path, G_FILE_TEST_EXISTS);
    if (exists && !overwrite)
      (format == APP_CAPTION_JSONL ? read_jsonl : read_csv)(c->table_path, c->done);
    c->table = fopen(c->table_path, exists && !overwrite ? "a" : "w");
    if (!c->table) {
      int e = errno;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot write %s: %s", c->table_path,
                  g_strerror(e));
      app_captioner_free(c);
      return NULL;
    }
    if (format == APP_CAPTION_CSV && (!exists || overwrite))
      fputs("file,caption\n", c->table);
  }
  return c;
}

void
app_captioner_free(app_captioner *c)
{
  if (!c)
    return;
  if (c->table)
    fclose(c->table);
  g_ptr_array_unref(c->images);
  g_hash_table_unref(c->stems);
  g_hash_table_unref(c->done);
  g_free(c->table_path);
  g_free(c->root);
  g_free(c);
}

guint
app_captioner_n_images(const app_captioner *c)
{
  return c->images->len;
}

const char *
app_captioner_image(const app_captioner *c, guint i)
{
  g_return_val_if_fail(i < c->images->len, NULL);
  return c->images->pdata[i];
}

char *
app_captioner_image_path(const app_captioner *c, guint i)
{
  g_return_val_if_fail(i < c->images->len, NULL);
  return g_build_filename(c->root, c->images->pdata[i], NULL);
}

const char *
app_captioner_table_path(const app_captioner *c)
{
  return c->table_path;
}

char *
app_captioner_output_path(const app_captioner *c, guint i)
{
  g_return_val_if_fail(i < c->images->len, NULL);
  if (!is_sidecar(c->format))
    return g_strdup(c->table_path);
  char *side = sidecar_of(c->stems, c->images->pdata[i], c->format == APP_CAPTION_TXT ? "txt" : "xmp");
  char *full = g_build_filename(c->root, side, NULL);
  g_free(side);
  return full;
}

gboolean
app_captioner_has_caption(const app_captioner *c, guint i, char **note)
{
  g_return_val_if_fail(i < c->images->len, FALSE);
  if (note)
    *note = NULL;
  if (!is_sidecar(c->format))
    return g_hash_table_contains(c->done, c->images->pdata[i]);
  char *side = app_captioner_output_path(c, i);
  gboolean has = FALSE;
  if (g_file_test(side, G_FILE_TEST_EXISTS)) {
    if (c->format == APP_CAPTION_XMP && !xmp_is_ours(side)) {
      has = TRUE;
      if (note) {
        char *rel = sidecar_of(c->stems, c->images->pdata[i], "xmp");
        *note = g_strdup_printf("%s was written by another program; not touched", rel);
        g_free(rel);
      }
    } else {
      has = !c->overwrite;
    }
  }
  g_free(side);
  return has;
}

static gboolean
write_caption(app_captioner *c, guint i, const char *caption, GError **error)
{
  const char *rel = c->images->pdata[i];
  if (is_sidecar(c->format)) {
    char *side = app_captioner_output_path(c, i);
    char *body = c->format == APP_CAPTION_TXT ? g_strconcat(caption, "\n", NULL) : xmp_document(caption);
    gboolean ok = g_file_set_contents(side, body, -1, error);
    g_free(body), g_free(side);
    return ok;
  }
  GString *line = g_string_new(NULL);
  if (c->format == APP_CAPTION_JSONL) {
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
  gboolean ok = fwrite(line->str, 1, line->len, c->table) == line->len && fflush(c->table) == 0;
  if (!ok) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot write %s: %s", c->table_path,
                g_strerror(e));
  }
  g_string_free(line, TRUE);
  return ok;
}

gboolean
app_captioner_caption(app_captioner *c, app_vision *v, guint i, const char *question, char **caption,
                      gboolean *write_failed, GError **error)
{
  g_return_val_if_fail(i < c->images->len, FALSE);
  *caption = NULL;
  if (write_failed)
    *write_failed = FALSE;
  char *full = app_captioner_image_path(c, i), *text = NULL;
  const char *one[1] = { full };
  app_vision_forget(v);
  gboolean ok = app_vision_ask(v, one, 1, question ? question : APP_CAPTION_DEFAULT_PROMPT, &text, NULL, error);
  g_free(full);
  if (!ok)
    return FALSE;
  g_strstrip(text);
  if (!write_caption(c, i, text, error)) {
    if (write_failed)
      *write_failed = TRUE;
    g_free(text);
    return FALSE;
  }
  *caption = text;
  return TRUE;
}
