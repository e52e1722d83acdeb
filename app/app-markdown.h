/* app-markdown.h: the markdown of chat replies as Pango markup.
 *
 * The subset chat models write: **bold** / __bold__, *italic* / _italic_,
 * `inline code`, ``` fenced code blocks ```, # headings, and "-", "*", "+"
 * or "1." list items. Everything else is text, escaped. Markers that are not
 * closed (a reply still streaming) stay as they are, so the markup is always
 * well-formed. Pure function; any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Pango markup for `md` (valid UTF-8); g_free. */
char *app_markdown_to_pango(const char *md);

G_END_DECLS
