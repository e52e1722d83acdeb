/* app-model-manager.h: the catalog's models as the window and the preferences
 * show them: installed or not, installs with progress and Cancel, removal.
 *
 * HarkModelManager loads the catalog (app_catalog_load: $HARK_CATALOG or the
 * built-in one) once and runs installs, one at a time in the order asked, on
 * a worker thread of its own (app-worker.h) through app_models_install. The
 * window's welcome page and the preferences share one manager
 * (hark_model_manager_get_default), so an install started in one shows its
 * progress in the other.
 *
 * Errors (GError): APP_MODELS_ERROR as app-models.h gives them; a cancelled
 * install is G_IO_ERROR_CANCELLED (its partial download is kept, so the next
 * install resumes it); removing a model that is being installed is
 * G_IO_ERROR_BUSY.
 *
 * Threads: main thread only (the thread whose default main context was
 * current at construction); signals are emitted there.
 */
#pragma once

#include <gio/gio.h>

#include "app-models.h"

G_BEGIN_DECLS

#define HARK_TYPE_MODEL_MANAGER (hark_model_manager_get_type())
G_DECLARE_FINAL_TYPE(HarkModelManager, hark_model_manager, HARK, MODEL_MANAGER, GObject)

/* A manager of its own (the tests); NULL with an error when its worker
 * thread cannot start. */
HarkModelManager *hark_model_manager_new(GError **error);
/* The one the windows share, made on first use (transfer none; it lives
 * until the process ends). Aborts when no thread can be started. */
HarkModelManager *hark_model_manager_get_default(void);

/* The catalog, loaded on first use; NULL with an error when it cannot be
 * read (the error is the same on every call). Owned by the manager. */
const app_catalog *hark_model_manager_get_catalog(HarkModelManager *self, GError **error);

/* TRUE when the catalog model `name` is installed. */
gboolean hark_model_manager_is_installed(HarkModelManager *self, const char *name);
/* TRUE when a model setting's value names a model that is there: an
 * installed catalog model, or an existing file or folder. */
gboolean hark_model_manager_is_available(HarkModelManager *self, const char *name_or_path);
/* TRUE while `name` is queued or being installed; *fraction (may be NULL)
 * gets its progress, 0 to 1. */
gboolean hark_model_manager_is_installing(HarkModelManager *self, const char *name, double *fraction);

/* Installs the catalog model `name`. Asking for a model that is already
 * being installed joins that install (both callbacks get its result).
 * Cancelling `cancellable` (or hark_model_manager_cancel) stops it.
 * Signals: "changed" (const char *name) when it starts and when it ends;
 * "progress" (const char *name, double fraction, const char *file) while
 * it runs. */
void hark_model_manager_install_async(HarkModelManager *self, const char *name, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
gboolean hark_model_manager_install_finish(HarkModelManager *self, GAsyncResult *result, GError **error);
/* Stops the install of `name`, if one is queued or running. */
void hark_model_manager_cancel(HarkModelManager *self, const char *name);

/* Deletes the installed model `name` (and any partial download of it);
 * emits "changed". */
gboolean hark_model_manager_remove(HarkModelManager *self, const char *name, GError **error);

G_END_DECLS
