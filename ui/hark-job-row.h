/* hark-job-row.h: a job of the chat view: a file being transcribed or a
 * folder being captioned, with its progress, ETA and Cancel; then a
 * transcript with its export buttons, or the captions as they come (each
 * opens its image with its caption). */
#pragma once

#include <adwaita.h>

#include "app-jobs.h"

G_BEGIN_DECLS

#define HARK_TYPE_JOB_ROW (hark_job_row_get_type())
G_DECLARE_FINAL_TYPE(HarkJobRow, hark_job_row, HARK, JOB_ROW, GtkListBoxRow)

/* A running job (the row follows it until it finishes). jobs: for exports. */
HarkJobRow *hark_job_row_new(HarkJobController *jobs, HarkJob *job);
/* A transcript from the history (m: app_message_is_transcript). */
HarkJobRow *hark_job_row_new_transcript(HarkJobController *jobs, const app_message *m);

/* The job, or NULL for a transcript from the history. */
HarkJob *hark_job_row_get_job(HarkJobRow *self);
/* The transcript's message in the history; 0 until it is written. */
gint64 hark_job_row_get_message_id(HarkJobRow *self);
/* What the row says: the transcript's text so far, and the status line. */
const char *hark_job_row_get_text(HarkJobRow *self);
const char *hark_job_row_get_status(HarkJobRow *self);

/* Writes the transcript to `path` in format f: what the export buttons'
 * save dialog does once a file is chosen. */
gboolean hark_job_row_export(HarkJobRow *self, aud_transcript_format f, const char *path, GError **error);

/* Caption results listed so far, and the image and caption of result i. */
guint hark_job_row_get_n_results(HarkJobRow *self);
const char *hark_job_row_get_result_image(HarkJobRow *self, guint i);
const char *hark_job_row_get_result_caption(HarkJobRow *self, guint i);
/* Opens result i (as clicking it does): a window with the image and its caption. */
GtkWindow *hark_job_row_show_result(HarkJobRow *self, guint i);

G_END_DECLS
