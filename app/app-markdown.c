/* app-markdown.c: a small markdown subset to Pango markup, line by line. */
#include "app-markdown.h"

#include <string.h>

static void
escape(GString *out, const char *s, gsize n)
{
  char *e = g_markup_escape_text(s, (gssize)n);
  g_string_append(out, e);
  g_free(e);
}

/* The closing `mark` after s[from..n), or NULL. For single-character
 * emphasis the text before the closer must not be a space. */
static const char *
find_closer(const char *s, gsize from, gsize n, const char *mark)
{
  gsize m = strlen(mark);
  for (gsize i = from; i + m <= n; i++) {
    if (s[i] == '`' && mark[0] != '`') {
      /* Code spans are opaque: skip over a closed one. */
      const char *end = memchr(s + i + 1, '`', n - i - 1);
      if (end) {
        i = (gsize)(end - s);
        continue;
      }
    }
    if (!memcmp(s + i, mark, m) && i > from && s[i - 1] != ' ') {
      if (m == 1 && i + 1 < n && s[i + 1] == mark[0]) {
        i++; /* part of a double marker */
        continue;
      }
      return s + i;
    }
  }
  return NULL;
}

static void
inline_md(GString *out, const char *s, gsize n)
{
  gsize i = 0, text = 0;
#define FLUSH() do { escape(out, s + text, i - text); } while (0)
  while (i < n) {
    char c = s[i];
    if (c == '`') {
      const char *end = memchr(s + i + 1, '`', n - i - 1);
      if (end && end > s + i + 1) {
        FLUSH();
        g_string_append(out, "<tt>");
        escape(out, s + i + 1, (gsize)(end - s) - i - 1);
        g_string_append(out, "</tt>");
        i = (gsize)(end - s) + 1;
        text = i;
        continue;
      }
    } else if ((c == '*' || c == '_') && i + 1 < n && s[i + 1] == c && i + 2 < n && s[i + 2] != ' ') {
      const char mark[3] = { c, c, 0 };
      const char *end = find_closer(s, i + 2, n, mark);
      if (end) {
        FLUSH();
        g_string_append(out, "<b>");
        inline_md(out, s + i + 2, (gsize)(end - s) - i - 2);
        g_string_append(out, "</b>");
        i = (gsize)(end - s) + 2;
        text = i;
        continue;
      }
    } else if ((c == '*' || c == '_') && i + 1 < n && s[i + 1] != ' ' && s[i + 1] != c &&
               (c == '*' || i == 0 || !g_ascii_isalnum(s[i - 1]))) {
      const char mark[2] = { c, 0 };
      const char *end = find_closer(s, i + 1, n, mark);
      /* snake_case_words are not emphasis: the closing _ must end a word. */
      if (end && c == '_' && end + 1 < s + n && g_ascii_isalnum(end[1]))
        end = NULL;
      if (end) {
        FLUSH();
        g_string_append(out, "<i>");
        inline_md(out, s + i + 1, (gsize)(end - s) - i - 1);
        g_string_append(out, "</i>");
        i = (gsize)(end - s) + 1;
        text = i;
        continue;
      }
    }
    i++;
  }
  FLUSH();
#undef FLUSH
}

/* Length of a list marker ("- ", "12. ") at s, or 0. */
static gsize
list_marker(const char *s, gboolean *numbered)
{
  if ((s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ') {
    *numbered = FALSE;
    return 2;
  }
  gsize d = 0;
  while (g_ascii_isdigit(s[d]))
    d++;
  if (d > 0 && d < 10 && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ') {
    *numbered = TRUE;
    return d + 2;
  }
  return 0;
}

char *
app_markdown_to_pango(const char *md)
{
  GString *out = g_string_new(NULL);
  char **lines = g_strsplit(md ? md : "", "\n", -1);
  gboolean in_code = FALSE;
  for (int li = 0; lines[li]; li++) {
    const char *line = lines[li];
    if (li > 0)
      g_string_append_c(out, '\n');
    const char *t = line;
    while (*t == ' ')
      t++;
    if (g_str_has_prefix(t, "```")) {
      in_code = !in_code;
      /* The fence line itself shows as a thin gap, the language name dimmed. */
      if (t[3]) {
        g_string_append(out, "<span alpha=\"55%\" size=\"small\">");
        escape(out, t + 3, strlen(t + 3));
        g_string_append(out, "</span>");
      }
      continue;
    }
    if (in_code) {
      g_string_append(out, "<span font_family=\"monospace\" background=\"#808080\" bgalpha=\"18%\">");
      escape(out, line, strlen(line));
      g_string_append(out, "</span>");
      continue;
    }
    gsize hashes = 0;
    while (t[hashes] == '#')
      hashes++;
    if (hashes >= 1 && hashes <= 6 && t[hashes] == ' ') {
      const char *size = hashes == 1 ? "x-large" : hashes == 2 ? "large" : "medium";
      g_string_append_printf(out, "<span weight=\"bold\" size=\"%s\">", size);
      inline_md(out, t + hashes + 1, strlen(t + hashes + 1));
      g_string_append(out, "</span>");
      continue;
    }
    gboolean numbered = FALSE;
    gsize m = list_marker(t, &numbered);
    if (m) {
      escape(out, line, (gsize)(t - line)); /* nesting indent */
      if (numbered)
        escape(out, t, m);
      else
        g_string_append(out, "• ");
      inline_md(out, t + m, strlen(t + m));
      continue;
    }
    inline_md(out, line, strlen(line));
  }
  g_strfreev(lines);
  return g_string_free(out, FALSE);
}
