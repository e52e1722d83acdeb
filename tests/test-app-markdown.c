/* test-app-markdown.c: chat markdown to Pango markup: the subset renders,
 * everything else is escaped text, and any input (streaming halves, random
 * bytes of ASCII) gives well-formed markup. */
#include <string.h>

#include "app-markdown.h"

/* Well-formed as Pango would parse it: XML with the text escaped. */
static gboolean
well_formed(const char *markup)
{
  char *doc = g_strconcat("<markup>", markup, "</markup>", NULL);
  GMarkupParser parser = { 0 };
  GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, NULL, NULL);
  gboolean ok = g_markup_parse_context_parse(ctx, doc, -1, NULL) && g_markup_parse_context_end_parse(ctx, NULL);
  g_markup_parse_context_free(ctx);
  g_free(doc);
  return ok;
}

static void
check(const char *md, const char *want)
{
  char *got = app_markdown_to_pango(md);
  g_assert_cmpstr(got, ==, want);
  g_assert_true(well_formed(got));
  g_free(got);
}

static void
test_inline(void)
{
  check("plain <text> & 'quotes'", "plain &lt;text&gt; &amp; &apos;quotes&apos;");
  check("a **bold** word", "a <b>bold</b> word");
  check("a __bold__ word", "a <b>bold</b> word");
  check("an *italic* and _italic_ word", "an <i>italic</i> and <i>italic</i> word");
  check("**bold with *italic* inside**", "<b>bold with <i>italic</i> inside</b>");
  check("call `f(a < b, **x**)` now", "call <tt>f(a &lt; b, **x**)</tt> now");
  check("snake_case_name stays", "snake_case_name stays");
  check("2 * 3 * 4", "2 * 3 * 4");
  /* Not closed yet (streaming): left as typed. */
  check("**bold so far", "**bold so far");
  check("`code so far", "`code so far");
  check("*", "*");
}

static void
test_blocks(void)
{
  check("# Title\n## Sub", "<span weight=\"bold\" size=\"x-large\">Title</span>\n"
                           "<span weight=\"bold\" size=\"large\">Sub</span>");
  check("- one\n* two\n  + nested\n3. three", "• one\n• two\n  • nested\n3. three");
  check("```c\nint a < b;\n```\nafter",
        "<span alpha=\"55%\" size=\"small\">c</span>\n"
        "<span font_family=\"monospace\" background=\"#808080\" bgalpha=\"18%\">int a &lt; b;</span>\n\nafter");
  /* Markdown inside a code block is text. */
  check("```\n**not bold**", "\n<span font_family=\"monospace\" background=\"#808080\" bgalpha=\"18%\">"
                             "**not bold**</span>");
  check("#not a heading", "#not a heading");
  check("", "");
}

static void
test_always_well_formed(void)
{
  const char *full = "# Hi\nSome **bold *and italic* text** with `code` and _under_.\n"
                     "- a\n- b\n```py\nx = 1 < 2\n```\n";
  /* Every prefix, as a streaming reply shows it. */
  for (gsize n = 0; n <= strlen(full); n++) {
    char *part = g_strndup(full, n);
    char *m = app_markdown_to_pango(part);
    g_assert_true(well_formed(m));
    g_free(m), g_free(part);
  }
  GRand *r = g_rand_new_with_seed(7);
  const char alphabet[] = "*_`#- \n1.<>&ab";
  for (int k = 0; k < 2000; k++) {
    char buf[40];
    int len = g_rand_int_range(r, 0, sizeof buf);
    for (int i = 0; i < len; i++)
      buf[i] = alphabet[g_rand_int_range(r, 0, sizeof alphabet - 1)];
    buf[len] = 0;
    char *m = app_markdown_to_pango(buf);
    if (!well_formed(m))
      g_error("not well-formed for \"%s\": %s", buf, m);
    g_free(m);
  }
  g_rand_free(r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/app/markdown/inline", test_inline);
  g_test_add_func("/app/markdown/blocks", test_blocks);
  g_test_add_func("/app/markdown/well-formed", test_always_well_formed);
  return g_test_run();
}
