/* aud-transcript.c: transcript storage and the TXT/SRT/VTT/JSON writers. */
#include "aud-transcript.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern-error.h"

void
aud_transcript_init(aud_transcript *t)
{
  memset(t, 0, sizeof *t);
}

static void
segment_free(aud_segment *s)
{
  free(s->text);
  free(s->tokens);
  for (int i = 0; i < s->n_words; i++)
    free(s->words[i].word);
  free(s->words);
}

void
aud_transcript_clear(aud_transcript *t)
{
  for (int i = 0; i < t->n_segments; i++)
    segment_free(&t->segments[i]);
  free(t->segments);
  aud_transcript_init(t);
}

int
aud_transcript_add(aud_transcript *t, const aud_segment *seg)
{
  if (t->n_segments == t->cap_segments) {
    int cap = t->cap_segments ? t->cap_segments * 2 : 32;
    aud_segment *p = realloc(t->segments, (size_t)cap * sizeof *p);
    if (!p)
      return KERN_E_NOMEM;
    t->segments = p;
    t->cap_segments = cap;
  }
  aud_segment c = *seg;
  c.text = strdup(seg->text ? seg->text : "");
  c.tokens = seg->n_tokens ? malloc((size_t)seg->n_tokens * sizeof *c.tokens) : NULL;
  c.words = seg->n_words ? calloc((size_t)seg->n_words, sizeof *c.words) : NULL;
  int oom = !c.text || (seg->n_tokens && !c.tokens) || (seg->n_words && !c.words);
  if (!oom && seg->n_tokens)
    memcpy(c.tokens, seg->tokens, (size_t)seg->n_tokens * sizeof *c.tokens);
  for (int i = 0; !oom && i < seg->n_words; i++) {
    c.words[i] = seg->words[i];
    c.words[i].word = strdup(seg->words[i].word ? seg->words[i].word : "");
    oom = !c.words[i].word;
  }
  if (oom) {
    segment_free(&c);
    return KERN_E_NOMEM;
  }
  t->segments[t->n_segments++] = c;
  return 0;
}

int
aud_transcript_format_from_name(const char *name)
{
  static const char *const names[] = { "txt", "srt", "vtt", "json" };
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, names[i]) == 0)
      return i;
  return -1;
}

const char *
aud_transcript_format_ext(aud_transcript_format f)
{
  static const char *const ext[] = { "txt", "srt", "vtt", "json" };
  return f >= AUD_FORMAT_TXT && f <= AUD_FORMAT_JSON ? ext[f] : "txt";
}

char *
aud_format_timestamp(double seconds, char sep, char *buf)
{
  if (!(seconds >= 0))
    seconds = 0;
  long long ms = llround(seconds * 1000.0);
  long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
  snprintf(buf, 24, "%02lld:%02lld:%02lld%c%03lld", h, m, s, sep, ms % 1000);
  return buf;
}

/* Text without the leading space Whisper's tokens carry. */
static const char *
trimmed(const char *s)
{
  while (*s == ' ')
    s++;
  return s;
}

static void
json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

/* Finite floats only: JSON has no NaN. */
static void
json_num(FILE *f, double v)
{
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fputs("null", f);
}

int
aud_transcript_write(const aud_transcript *t, aud_transcript_format fmt, FILE *f)
{
  char a[24], b[24];
  switch (fmt) {
  case AUD_FORMAT_TXT:
    for (int i = 0; i < t->n_segments; i++)
      fprintf(f, "%s\n", trimmed(t->segments[i].text));
    break;
  case AUD_FORMAT_SRT:
    for (int i = 0; i < t->n_segments; i++) {
      const aud_segment *s = &t->segments[i];
      fprintf(f, "%d\n%s --> %s\n%s\n\n", i + 1, aud_format_timestamp(s->start, ',', a),
              aud_format_timestamp(s->end, ',', b), trimmed(s->text));
    }
    break;
  case AUD_FORMAT_VTT:
    fputs("WEBVTT\n\n", f);
    for (int i = 0; i < t->n_segments; i++) {
      const aud_segment *s = &t->segments[i];
      fprintf(f, "%s --> %s\n%s\n\n", aud_format_timestamp(s->start, '.', a), aud_format_timestamp(s->end, '.', b),
              trimmed(s->text));
    }
    break;
  case AUD_FORMAT_JSON:
    fputs("{\"language\":", f);
    json_str(f, t->language);
    fputs(",\"duration\":", f);
    json_num(f, t->duration);
    fputs(",\"text\":", f);
    {
      /* The whole text, segments joined as they were decoded. */
      size_t len = 1;
      for (int i = 0; i < t->n_segments; i++)
        len += strlen(t->segments[i].text);
      char *all = malloc(len), *p = all;
      if (!all)
        return KERN_E_NOMEM;
      for (int i = 0; i < t->n_segments; i++) {
        size_t n = strlen(t->segments[i].text);
        memcpy(p, t->segments[i].text, n);
        p += n;
      }
      *p = '\0';
      json_str(f, trimmed(all));
      free(all);
    }
    fputs(",\"segments\":[", f);
    for (int i = 0; i < t->n_segments; i++) {
      const aud_segment *s = &t->segments[i];
      fprintf(f, "%s\n{\"id\":%d,\"start\":", i ? "," : "", i);
      json_num(f, s->start);
      fputs(",\"end\":", f);
      json_num(f, s->end);
      fputs(",\"text\":", f);
      json_str(f, s->text);
      fputs(",\"tokens\":[", f);
      for (int k = 0; k < s->n_tokens; k++)
        fprintf(f, "%s%d", k ? "," : "", s->tokens[k]);
      fputs("],\"temperature\":", f);
      json_num(f, s->temperature);
      fputs(",\"avg_logprob\":", f);
      json_num(f, s->avg_logprob);
      fputs(",\"compression_ratio\":", f);
      json_num(f, s->compression_ratio);
      fputs(",\"no_speech_prob\":", f);
      json_num(f, s->no_speech_prob);
      if (s->words) {
        fputs(",\"words\":[", f);
        for (int k = 0; k < s->n_words; k++) {
          fprintf(f, "%s{\"start\":", k ? "," : "");
          json_num(f, s->words[k].start);
          fputs(",\"end\":", f);
          json_num(f, s->words[k].end);
          fputs(",\"word\":", f);
          json_str(f, s->words[k].word);
          fputs(",\"probability\":", f);
          json_num(f, s->words[k].probability);
          fputc('}', f);
        }
        fputc(']', f);
      }
      fputc('}', f);
    }
    fputs("]}\n", f);
    break;
  }
  return ferror(f) ? KERN_E_IO : 0;
}

int
aud_transcript_save(const aud_transcript *t, aud_transcript_format fmt, const char *path, char **err)
{
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp)
    return KERN_E_NOMEM;
  snprintf(tmp, n, "%s.part", path);
  FILE *f = fopen(tmp, "w");
  int rc = f ? aud_transcript_write(t, fmt, f) : KERN_E_IO;
  int e = errno;
  if (f && fclose(f) != 0 && rc == 0)
    rc = KERN_E_IO, e = errno;
  if (rc == 0 && rename(tmp, path) != 0)
    rc = KERN_E_IO, e = errno;
  if (rc) {
    remove(tmp);
    if (err) {
      const char *why = e ? strerror(e) : "write failed";
      size_t m = strlen(path) + strlen(why) + 4;
      if ((*err = malloc(m)))
        snprintf(*err, m, "%s: %s", path, why);
    }
  }
  free(tmp);
  return rc;
}
