/* main.c: `hark` with a command runs the CLI; without one it opens the window. */
#include "hark-config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>

#include "app-cli.h"
#include "aud.h"
#include "hark-application.h"
#include "llm.h"
#include "vis.h"

static void
print_version(void)
{
  printf("hark %s\n", HARK_VERSION);
  printf("  %s\n  %s\n  %s\n", aud_build_info(), vis_build_info(), llm_build_info());
  printf("  cuda: %s\n", HARK_HAVE_CUDA ? "built (sm_" HARK_CUDA_ARCHS "), loaded at run time" : "not built");
}

int
main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  bindtextdomain(HARK_GETTEXT_PACKAGE, HARK_LOCALEDIR);
  bind_textdomain_codeset(HARK_GETTEXT_PACKAGE, "UTF-8");
  textdomain(HARK_GETTEXT_PACKAGE);

  if (argc > 1 && argv[1][0] != '-')
    return app_cli_dispatch(argc - 1, argv + 1);

  gboolean version = FALSE, dictate = FALSE;
  char *screenshot = NULL;
  const GOptionEntry entries[] = {
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and what this build supports", NULL },
    { "dictate", 0, 0, G_OPTION_ARG_NONE, &dictate,
      "Open the window with dictation started (in Hark if it is running already)", NULL },
    { "screenshot", 0, 0, G_OPTION_ARG_FILENAME, &screenshot,
      "Open the window, save it as a PNG image to FILE and quit", "FILE" },
    { NULL },
  };
  GOptionContext *ctx = g_option_context_new("[COMMAND [ARGS...]]");
  g_option_context_set_summary(ctx, "Hark, a local speech-and-vision assistant: dictation, transcription,\n"
                                    "questions about images and chat, on your own GPU or CPU.");
  char *commands = app_cli_commands_help();
  g_option_context_set_description(ctx, commands);
  g_free(commands);
  g_option_context_add_main_entries(ctx, entries, NULL);
  GError *error = NULL;
  gboolean ok = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  if (!ok) {
    fprintf(stderr, "hark: %s\nRun 'hark --help' for usage.\n", error->message);
    g_error_free(error);
    return APP_EXIT_USAGE;
  }
  if (version) {
    print_version();
    g_free(screenshot);
    return APP_EXIT_OK;
  }
  if (argc > 1) { /* options before a command: `hark -- transcribe` */
    g_free(screenshot);
    return app_cli_dispatch(argc - 1, argv + 1);
  }
  int rc = hark_application_run_with(screenshot, dictate);
  g_free(screenshot);
  return rc;
}
