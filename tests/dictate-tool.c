/* dictate-tool.c: helpers for tests/test-dictate-pulse.sh (the dictation
 * test through a real sound server).
 *
 *   dictate-tool wav OUT.wav REF.txt TIMES.txt
 *       the test's speech (asterisk prompts with silences, 16 kHz, 16-bit),
 *       its reference text and each prompt's start and end in seconds
 *   dictate-tool feed PIPE WAV GO DONE
 *       writes raw 16-bit samples into PIPE (a PulseAudio pipe source) at
 *       the pace of a microphone: silence until the file GO exists, then the
 *       WAV's samples, then silence; touches DONE 3 s after the WAV's end and
 *       goes on with silence until killed (a silent source is still a source)
 *   dictate-tool wer REF.txt HYP.txt
 *       prints the word error rate in percent
 *   dictate-tool check-times TIMES.txt OUT.txt SLACK
 *       every "[ s --> e] text" line of OUT (hark dictate's output) must lie
 *       within a prompt, give or take SLACK seconds; exit 1 and say which not
 * Exit status 77: something the test needs is missing (the test skips). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dictate-fixture.h"

static const char *const prompts[] = { "tt-weasels", "vm-nobodyavail", "agent-pass", "conf-onlyperson",
                                       "tt-monkeysintro" };

static int
cmd_wav(char **argv)
{
  fixture f;
  const char *why;
  if (fixture_build(&f, prompts, G_N_ELEMENTS(prompts), 16000, 1.0, 3.0, &why)) {
    fprintf(stderr, "%s\n", why);
    return 77;
  }
  if (fixture_write_wav(&f, argv[0]))
    return 1;
  GString *times = g_string_new("");
  for (int i = 0; i < f.n_prompts; i++)
    g_string_append_printf(times, "%.3f %.3f %s\n", f.prompts[i].start, f.prompts[i].end, f.prompts[i].name);
  gboolean ok = g_file_set_contents(argv[1], f.reference, -1, NULL) &&
                g_file_set_contents(argv[2], times->str, -1, NULL);
  g_string_free(times, TRUE);
  fixture_clear(&f);
  return ok ? 0 : 1;
}

static int
write_all(int fd, const void *buf, size_t n)
{
  const char *p = buf;
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += k, n -= (size_t)k;
  }
  return 0;
}

static int
cmd_feed(char **argv)
{
  gchar *wav;
  gsize size;
  if (!g_file_get_contents(argv[1], &wav, &size, NULL) || size < 44)
    return 1;
  const int16_t *speech = (const int16_t *)(wav + 44);
  size_t n_speech = (size - 44) / 2, pos = 0;
  signal(SIGPIPE, SIG_IGN);
  int fd = open(argv[0], O_WRONLY);
  if (fd < 0) {
    g_free(wav);
    return 1;
  }
  int16_t block[320]; /* 20 ms */
  gint64 t0 = g_get_monotonic_time();
  uint64_t written = 0;
  int go = 0;
  size_t after = 0; /* samples of silence after the speech */
  for (;;) {
    if (!go && g_file_test(argv[2], G_FILE_TEST_EXISTS))
      go = 1;
    memset(block, 0, sizeof block);
    if (go && pos < n_speech) {
      size_t k = n_speech - pos < 320 ? n_speech - pos : 320;
      memcpy(block, speech + pos, k * 2);
      pos += k;
    } else if (go) {
      after += 320;
      if (after == 3 * 16000)
        g_file_set_contents(argv[3], "", 0, NULL);
    }
    if (write_all(fd, block, sizeof block)) {
      close(fd);
      g_free(wav);
      return 0; /* the server went away */
    }
    written += 320;
    gint64 due = t0 + (gint64)(written * 1000000 / 16000);
    gint64 now = g_get_monotonic_time();
    if (due > now)
      g_usleep((gulong)(due - now));
  }
}

static int
cmd_wer(char **argv)
{
  gchar *ref, *hyp;
  if (!g_file_get_contents(argv[0], &ref, NULL, NULL) || !g_file_get_contents(argv[1], &hyp, NULL, NULL))
    return 1;
  printf("%.2f\n", fixture_wer(ref, hyp));
  g_free(ref), g_free(hyp);
  return 0;
}

static int
cmd_check_times(char **argv)
{
  gchar *times, *out;
  if (!g_file_get_contents(argv[0], &times, NULL, NULL) || !g_file_get_contents(argv[1], &out, NULL, NULL))
    return 1;
  double slack = atof(argv[2]);
  double s[FIXTURE_MAX_PROMPTS], e[FIXTURE_MAX_PROMPTS];
  int n = 0;
  char **lines = g_strsplit(times, "\n", -1);
  for (int i = 0; lines[i] && n < FIXTURE_MAX_PROMPTS; i++)
    if (sscanf(lines[i], "%lf %lf", &s[n], &e[n]) == 2)
      n++;
  g_strfreev(lines);
  int bad = 0, finals = 0;
  lines = g_strsplit(out, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    double a, b;
    if (sscanf(lines[i], "[%lf --> %lf]", &a, &b) != 2)
      continue;
    finals++;
    int inside = 0;
    for (int k = 0; k < n; k++)
      inside |= a >= s[k] - slack && b <= e[k] + slack;
    if (!inside) {
      fprintf(stderr, "text outside the speech: %s\n", lines[i]);
      bad = 1;
    }
  }
  g_strfreev(lines);
  g_free(times), g_free(out);
  if (finals == 0) {
    fprintf(stderr, "no final lines\n");
    return 1;
  }
  return bad;
}

int
main(int argc, char **argv)
{
  if (argc == 5 && !strcmp(argv[1], "wav"))
    return cmd_wav(argv + 2);
  if (argc == 6 && !strcmp(argv[1], "feed"))
    return cmd_feed(argv + 2);
  if (argc == 4 && !strcmp(argv[1], "wer"))
    return cmd_wer(argv + 2);
  if (argc == 5 && !strcmp(argv[1], "check-times"))
    return cmd_check_times(argv + 2);
  fprintf(stderr, "usage: see the top of tests/dictate-tool.c\n");
  return 2;
}
