/* app-caption.h: captioning a folder of photos, as `hark caption` and the
 * window's caption jobs both do it.
 *
 * An app_captioner lists the images of a folder (sorted, hidden entries
 * skipped, subfolders with `recursive`), learns which already have a caption
 * in the chosen output, and writes each new caption as soon as it is made:
 *  - txt: sidecars (photo.jpg -> photo.txt, the captioning tools' convention;
 *    photo.jpg.txt when another image of the run shares the stem), atomically;
 *  - jsonl: one ROOT/captions.jsonl, {"file": "sub/photo.jpg", "caption": "..."}
 *    per line, flushed;
 *  - csv: one ROOT/captions.csv (file,caption; RFC 4180 quoting), flushed;
 *  - xmp: sidecars (photo.xmp with dc:description); one another program
 *    wrote is never touched.
 * An image that already has a caption is skipped unless `overwrite`, so an
 * interrupted run resumes where it stopped and nothing written is lost.
 *
 * Threads: one app_captioner serves one thread at a time; nothing calls back.
 */
#pragma once

#include <gio/gio.h>

#include "app-vision.h"

G_BEGIN_DECLS

typedef enum {
  APP_CAPTION_TXT,
  APP_CAPTION_JSONL,
  APP_CAPTION_CSV,
  APP_CAPTION_XMP,
} app_caption_format;

/* What is asked about each image unless the caller says otherwise. */
#define APP_CAPTION_DEFAULT_PROMPT "Describe this photo in one sentence."

/* "txt", "jsonl", "csv", "xmp" <-> format; -1 for another name. */
int app_caption_format_from_name(const char *name);
const char *app_caption_format_name(app_caption_format f);

typedef struct app_captioner app_captioner;

/* Lists the images of `root` and, for jsonl and csv, reads the captions
 * already in its table and opens it for appending (a new one gets csv's
 * header). NULL with an error when `root` is not a folder or the table cannot
 * be written. A folder without images is not an error (n_images is 0). */
app_captioner *app_captioner_new(const char *root, app_caption_format format, gboolean recursive,
                                 gboolean overwrite, GError **error);
void app_captioner_free(app_captioner *c);

guint app_captioner_n_images(const app_captioner *c);
/* Image i's path relative to the root, and its full path. */
const char *app_captioner_image(const app_captioner *c, guint i);
char *app_captioner_image_path(const app_captioner *c, guint i);
/* The table (ROOT/captions.jsonl or .csv), or NULL for sidecar formats. */
const char *app_captioner_table_path(const app_captioner *c);
/* Where image i's caption goes: its sidecar, or the table. g_free. */
char *app_captioner_output_path(const app_captioner *c, guint i);

/* Whether image i already has a caption to keep. *note (optional) gets a
 * sentence when it is kept for another reason (an XMP sidecar another
 * program wrote), g_free; else NULL. */
gboolean app_captioner_has_caption(const app_captioner *c, guint i, char **note);

/* Asks `question` (NULL: APP_CAPTION_DEFAULT_PROMPT) about image i alone
 * with `v` (forgetting what it was asked before), writes the caption and
 * returns it in *caption (g_free). FALSE with an error when the image cannot
 * be read or the model fails (G_IO_ERROR_CANCELLED when v's should_abort
 * stopped it), or when the output cannot be written: then *write_failed
 * (optional) is TRUE, since the next images would fail the same way. */
gboolean app_captioner_caption(app_captioner *c, app_vision *v, guint i, const char *question, char **caption,
                               gboolean *write_failed, GError **error);

/* "m:ss" or "h:mm:ss" for an ETA in seconds; "--:--" when unknown (< 0). */
void app_format_eta(char *buf, size_t n, double seconds);

G_END_DECLS
