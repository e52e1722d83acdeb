/* hark-job-row.c: a transcription or caption job in the chat view. Shows
 * what its HarkJob reports; exports go through app-jobs, never the engine. */
#include "hark-config.h"

#include "hark-job-row.h"

#include <glib/gi18n.h>

#include "app-transcribe.h"

struct _HarkJobRow {
  GtkListBoxRow parent_instance;

  GtkImage *icon;
  GtkLabel *title;
  GtkLabel *status;
  GtkButton *cancel_button;
  GtkProgressBar *progress;
  GtkLabel *text;
  GtkBox *export_box;
  GtkListBox *results;

  HarkJobController *jobs; /* ref */
  HarkJob *job;            /* ref; NULL for a transcript from the history */
  char *path;              /* the file or folder */
  gint64 message_id;
  GString *transcript;
  GPtrArray *images, *captions; /* the results; a caption is NULL for an image that failed */
};

G_DEFINE_FINAL_TYPE(HarkJobRow, hark_job_row, GTK_TYPE_LIST_BOX_ROW)

static void
row_toast(HarkJobRow *self, const char *text)
{
  GtkWidget *overlay = gtk_widget_get_ancestor(GTK_WIDGET(self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay)
    adw_toast_overlay_add_toast(ADW_TOAST_OVERLAY(overlay), adw_toast_new(text));
}

static void
set_title(HarkJobRow *self, const char *path, const char *icon)
{
  char *base = g_path_get_basename(path);
  gtk_label_set_text(self->title, base);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->title), path);
  gtk_image_set_from_icon_name(self->icon, icon);
  g_free(base);
}

static void
show_transcript(HarkJobRow *self)
{
  gtk_label_set_text(self->text, self->transcript->str);
  gtk_widget_set_visible(GTK_WIDGET(self->text), self->transcript->len > 0);
}

/* ---- following the job ---- */

static char *
caption_counts(HarkJob *job)
{
  return g_strdup_printf(_("%u captioned, %u skipped, %u failed"), hark_job_get_n_captioned(job),
                         hark_job_get_n_skipped(job), hark_job_get_n_failed(job));
}

static void
update_status(HarkJobRow *self)
{
  HarkJob *job = self->job;
  double fraction = hark_job_get_fraction(job), eta = hark_job_get_eta(job);
  gboolean transcribe = hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE;
  char left[32], *status;
  app_format_eta(left, sizeof left, eta);
  if (transcribe && fraction < 0)
    status = g_strdup(_("Transcribing…"));
  else if (transcribe)
    status = eta >= 0 ? g_strdup_printf(_("Transcribing… %d%%, %s left"), (int)(fraction * 100), left)
                      : g_strdup_printf(_("Transcribing… %d%%"), (int)(fraction * 100));
  else if (!hark_job_get_n_total(job))
    status = g_strdup(_("Looking for photos…"));
  else
    status = eta >= 0 ? g_strdup_printf(_("%u of %u photos, %s left"), hark_job_get_n_done(job),
                                        hark_job_get_n_total(job), left)
                      : g_strdup_printf(_("%u of %u photos"), hark_job_get_n_done(job), hark_job_get_n_total(job));
  gtk_label_set_text(self->status, status);
  g_free(status);
  if (fraction >= 0)
    gtk_progress_bar_set_fraction(self->progress, fraction);
  else
    gtk_progress_bar_pulse(self->progress);
}

static void
segment_cb(HarkJobRow *self, double start, double end, const char *text)
{
  if (!self->transcript->len)
    while (*text == ' ')
      text++;
  g_string_append(self->transcript, text);
  show_transcript(self);
}

static void
result_activated_cb(HarkJobRow *self, GtkListBoxRow *row)
{
  hark_job_row_show_result(self, (guint)gtk_list_box_row_get_index(row));
}

static void
caption_cb(HarkJobRow *self, const char *image, const char *caption, const char *error)
{
  g_ptr_array_add(self->images, g_strdup(image));
  g_ptr_array_add(self->captions, g_strdup(caption));
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
  gtk_widget_set_margin_top(box, 4);
  gtk_widget_set_margin_bottom(box, 4);
  gtk_widget_set_margin_start(box, 4);
  gtk_widget_set_margin_end(box, 4);
  GtkWidget *thumb;
  if (caption) {
    thumb = gtk_picture_new_for_filename(image);
    gtk_picture_set_can_shrink(GTK_PICTURE(thumb), TRUE);
    gtk_picture_set_content_fit(GTK_PICTURE(thumb), GTK_CONTENT_FIT_COVER);
    gtk_widget_set_size_request(thumb, 64, 48);
    gtk_widget_add_css_class(thumb, "attachment");
  } else {
    thumb = gtk_image_new_from_icon_name("dialog-warning-symbolic");
    gtk_widget_set_size_request(thumb, 64, 48);
  }
  gtk_box_append(GTK_BOX(box), thumb);
  GtkWidget *label = gtk_label_new(caption ? caption : error);
  gtk_label_set_wrap(GTK_LABEL(label), TRUE);
  gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_widget_set_hexpand(label, TRUE);
  if (!caption)
    gtk_widget_add_css_class(label, "error");
  gtk_box_append(GTK_BOX(box), label);
  GtkWidget *row = gtk_list_box_row_new();
  gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), box);
  gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(row), caption != NULL);
  gtk_widget_set_tooltip_text(row, image);
  gtk_list_box_append(self->results, row);
  gtk_widget_set_visible(GTK_WIDGET(self->results), TRUE);
}

static void
finished_cb(HarkJobRow *self)
{
  HarkJob *job = self->job;
  const GError *error = hark_job_get_error(job);
  gboolean stopped = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  gtk_widget_set_visible(GTK_WIDGET(self->cancel_button), FALSE);
  gtk_widget_set_visible(GTK_WIDGET(self->progress), FALSE);
  char *status;
  if (hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE) {
    if (!error) {
      self->message_id = hark_job_get_message_id(job);
      g_string_assign(self->transcript, hark_job_get_text(job));
      show_transcript(self);
      gtk_widget_set_visible(GTK_WIDGET(self->export_box), TRUE);
      status = g_strdup(self->transcript->len ? _("Transcript") : _("Transcript (no speech found)"));
    } else {
      status = g_strdup(stopped ? _("Stopped") : error->message);
    }
  } else {
    char *counts = caption_counts(job);
    const char *out = hark_job_get_output(job);
    char *where = out ? g_path_get_basename(out) : NULL;
    if (stopped)
      status = g_strdup_printf(_("Stopped: %s"), counts);
    else if (error)
      status = g_strdup(error->message);
    else if (where)
      status = g_strdup_printf(_("%s, in %s"), counts, where);
    else
      status = g_strdup_printf(_("%s, in text files beside the photos"), counts);
    g_free(counts), g_free(where);
  }
  gtk_label_set_text(self->status, status);
  g_free(status);
}

/* ---- exports ---- */

gboolean
hark_job_row_export(HarkJobRow *self, aud_transcript_format f, const char *path, GError **error)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self), FALSE);
  if (!self->message_id) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("The transcript is not finished"));
    return FALSE;
  }
  return hark_job_controller_save_transcript(self->jobs, self->message_id, f, path, error);
}

static void
save_response_cb(GtkNativeDialog *dialog, int response, HarkJobRow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    GFile *file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    char *path = g_file_get_path(file);
    aud_transcript_format f = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(dialog), "format"));
    GError *error = NULL;
    if (path && hark_job_row_export(self, f, path, &error)) {
      char *base = g_path_get_basename(path);
      char *msg = g_strdup_printf(_("Saved %s"), base);
      row_toast(self, msg);
      g_free(msg), g_free(base);
    } else {
      char *msg = g_strdup_printf(_("The transcript could not be saved: %s"),
                                  error ? error->message : _("not a local file"));
      row_toast(self, msg);
      g_free(msg);
    }
    g_clear_error(&error);
    g_free(path);
    g_object_unref(file);
  }
  g_object_unref(dialog);
  g_object_unref(self);
}

static void
export_action(GtkWidget *widget, const char *name, GVariant *param)
{
  HarkJobRow *self = HARK_JOB_ROW(widget);
  int f = aud_transcript_format_from_name(g_variant_get_string(param, NULL));
  if (f < 0 || !self->message_id)
    return;
  GtkRoot *root = gtk_widget_get_root(widget);
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new(_("Export Transcript"),
                                                             GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL,
                                                             GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
  char *suggested = app_transcript_output_path(self->path, NULL, aud_transcript_format_ext(f));
  char *base = g_path_get_basename(suggested), *dir = g_path_get_dirname(suggested);
  GFile *folder = g_file_new_for_path(dir);
  gtk_file_chooser_set_current_folder(GTK_FILE_CHOOSER(dialog), folder, NULL);
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(dialog), base);
  g_object_unref(folder);
  g_free(suggested), g_free(base), g_free(dir);
  g_object_set_data(G_OBJECT(dialog), "format", GINT_TO_POINTER(f));
  g_signal_connect(dialog, "response", G_CALLBACK(save_response_cb), g_object_ref(self));
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

/* ---- caption results ---- */

guint
hark_job_row_get_n_results(HarkJobRow *self)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self), 0);
  return self->images->len;
}

const char *
hark_job_row_get_result_image(HarkJobRow *self, guint i)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self) && i < self->images->len, NULL);
  return self->images->pdata[i];
}

const char *
hark_job_row_get_result_caption(HarkJobRow *self, guint i)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self) && i < self->captions->len, NULL);
  return self->captions->pdata[i];
}

GtkWindow *
hark_job_row_show_result(HarkJobRow *self, guint i)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self) && i < self->images->len, NULL);
  const char *image = self->images->pdata[i], *caption = self->captions->pdata[i];
  GtkWidget *win = adw_window_new();
  GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
  if (GTK_IS_WINDOW(root))
    gtk_window_set_transient_for(GTK_WINDOW(win), GTK_WINDOW(root));
  gtk_window_set_modal(GTK_WINDOW(win), TRUE);
  gtk_window_set_default_size(GTK_WINDOW(win), 640, 560);
  char *base = g_path_get_basename(image);
  gtk_window_set_title(GTK_WINDOW(win), base);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new();
  adw_header_bar_set_title_widget(ADW_HEADER_BAR(header), adw_window_title_new(base, NULL));
  gtk_box_append(GTK_BOX(box), header);
  GtkWidget *picture = gtk_picture_new_for_filename(image);
  gtk_picture_set_can_shrink(GTK_PICTURE(picture), TRUE);
  gtk_picture_set_content_fit(GTK_PICTURE(picture), GTK_CONTENT_FIT_CONTAIN);
  gtk_widget_set_vexpand(picture, TRUE);
  gtk_box_append(GTK_BOX(box), picture);
  GtkWidget *label = gtk_label_new(caption ? caption : "");
  gtk_label_set_wrap(GTK_LABEL(label), TRUE);
  gtk_label_set_selectable(GTK_LABEL(label), TRUE);
  gtk_widget_set_margin_top(label, 12);
  gtk_widget_set_margin_bottom(label, 12);
  gtk_widget_set_margin_start(label, 12);
  gtk_widget_set_margin_end(label, 12);
  gtk_box_append(GTK_BOX(box), label);
  adw_window_set_content(ADW_WINDOW(win), box);
  g_free(base);
  gtk_window_present(GTK_WINDOW(win));
  return GTK_WINDOW(win);
}

/* ---- the row ---- */

HarkJob *
hark_job_row_get_job(HarkJobRow *self)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self), NULL);
  return self->job;
}

gint64
hark_job_row_get_message_id(HarkJobRow *self)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self), 0);
  return self->message_id;
}

const char *
hark_job_row_get_text(HarkJobRow *self)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self), NULL);
  return self->transcript->str;
}

const char *
hark_job_row_get_status(HarkJobRow *self)
{
  g_return_val_if_fail(HARK_IS_JOB_ROW(self), NULL);
  return gtk_label_get_text(self->status);
}

static void
cancel_clicked_cb(HarkJobRow *self)
{
  if (self->job)
    hark_job_cancel(self->job);
}

HarkJobRow *
hark_job_row_new(HarkJobController *jobs, HarkJob *job)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(jobs) && HARK_IS_JOB(job), NULL);
  HarkJobRow *self = g_object_new(HARK_TYPE_JOB_ROW, NULL);
  self->jobs = g_object_ref(jobs);
  self->job = g_object_ref(job);
  self->path = g_strdup(hark_job_get_path(job));
  gboolean transcribe = hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE;
  set_title(self, self->path, transcribe ? "audio-x-generic-symbolic" : "folder-pictures-symbolic");
  gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 transcribe ? _("Transcription") : _("Captions"), -1);
  g_signal_connect_object(job, "progress", G_CALLBACK(update_status), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(job, "segment", G_CALLBACK(segment_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(job, "caption", G_CALLBACK(caption_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(job, "finished", G_CALLBACK(finished_cb), self, G_CONNECT_SWAPPED);
  if (hark_job_get_finished(job))
    finished_cb(self);
  else
    update_status(self);
  return self;
}

HarkJobRow *
hark_job_row_new_transcript(HarkJobController *jobs, const app_message *m)
{
  g_return_val_if_fail(HARK_IS_JOB_CONTROLLER(jobs) && app_message_is_transcript(m), NULL);
  HarkJobRow *self = g_object_new(HARK_TYPE_JOB_ROW, NULL);
  self->jobs = g_object_ref(jobs);
  self->path = g_strdup(((app_attachment *)m->attachments->pdata[0])->path);
  self->message_id = m->id;
  g_string_assign(self->transcript, m->text);
  set_title(self, self->path, "audio-x-generic-symbolic");
  gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Transcription"), -1);
  gtk_label_set_text(self->status, m->text[0] ? _("Transcript") : _("Transcript (no speech found)"));
  gtk_widget_set_visible(GTK_WIDGET(self->cancel_button), FALSE);
  gtk_widget_set_visible(GTK_WIDGET(self->progress), FALSE);
  gtk_widget_set_visible(GTK_WIDGET(self->export_box), TRUE);
  show_transcript(self);
  return self;
}

static void
hark_job_row_dispose(GObject *object)
{
  gtk_widget_dispose_template(GTK_WIDGET(object), HARK_TYPE_JOB_ROW);
  G_OBJECT_CLASS(hark_job_row_parent_class)->dispose(object);
}

static void
hark_job_row_finalize(GObject *object)
{
  HarkJobRow *self = HARK_JOB_ROW(object);
  g_clear_object(&self->job);
  g_clear_object(&self->jobs);
  g_free(self->path);
  g_string_free(self->transcript, TRUE);
  g_ptr_array_unref(self->images);
  g_ptr_array_unref(self->captions);
  G_OBJECT_CLASS(hark_job_row_parent_class)->finalize(object);
}

static void
hark_job_row_class_init(HarkJobRowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  G_OBJECT_CLASS(klass)->dispose = hark_job_row_dispose;
  G_OBJECT_CLASS(klass)->finalize = hark_job_row_finalize;
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-job-row.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, icon);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, title);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, status);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, cancel_button);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, progress);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, text);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, export_box);
  gtk_widget_class_bind_template_child(widget_class, HarkJobRow, results);
  gtk_widget_class_bind_template_callback(widget_class, cancel_clicked_cb);
  gtk_widget_class_bind_template_callback(widget_class, result_activated_cb);
  gtk_widget_class_install_action(widget_class, "job.export", "s", export_action);
}

static void
hark_job_row_init(HarkJobRow *self)
{
  self->transcript = g_string_new(NULL);
  self->images = g_ptr_array_new_with_free_func(g_free);
  self->captions = g_ptr_array_new_with_free_func(g_free);
  gtk_widget_init_template(GTK_WIDGET(self));
}
