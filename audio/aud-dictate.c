/* aud-dictate.c: the live dictation engine (see aud-dictate.h).
 *
 * Stream positions are absolute sample counts at 16 kHz from the start of
 * the session (int64_t); times reported are those / 16000.
 *
 * Worker state machine, per 512-sample VAD chunk:
 *   idle  --(p >= threshold)-->  speech: window starts PREROLL before the chunk
 *   speech: every step_s of new audio, decode [win_start, now) and apply
 *           LocalAgreement-2; a committed segment end moves win_start there
 *   speech --(pause_s since the last voiced chunk)--> finalize: decode
 *           [win_start, last voice + TAIL) once, commit all of it -> idle
 */
#include "aud-dictate.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aud-capture.h"
#include "aud-private.h"
#include "aud-resample.h"
#include "aud-transcribe.h"
#include "aud-vad.h"

#define SR AUD_VAD_SAMPLE_RATE
#define CHUNK AUD_VAD_CHUNK
#define PREROLL (SR / 4)          /* audio kept before a speech onset: 250 ms */
#define TAIL (SR / 5)             /* audio kept after the last voiced chunk: 200 ms */
#define LEVEL_BLOCK (SR / 20)     /* one level report per 50 ms */
#define PROMPT_BYTES 600          /* committed text passed as the prompt (Whisper keeps <= 223 tokens) */
#define CUT_AFTER_S 15.0          /* a window this long is cut at the committed text even mid-sentence */
#define NGRAM 24                  /* committed words matched against a new hypothesis's head (a whole sentence
                                     heard again after a cut, not only its last words) */
#define ECHO_WINDOW (2 * SR)     /* windows shorter than this are checked for an echo of the prompt */
#define ECHO_MIN_WORDS 4         /* longer windows: segments of this many words */
#define HANGOVER_S 0.6           /* the VAD calls this much after the last word speech */
#define MIN_VOICED (SR / 5)      /* speech after the window's start that makes it worth decoding */
#define LOST_AFTER_S 1.5          /* no audio from the device this long: it is gone */

typedef struct {
  char *text; /* as the tokenizer made it, with its leading space */
  char *norm; /* lowercase, letters and digits only: what agreement compares */
  double start, end;
  int seg_end; /* last word of a Whisper segment */
} dword;

typedef struct {
  dword *v;
  int n, cap;
} wordlist;

struct aud_dictate {
  aud_whisper *w;
  const aud_tokenizer *tok;
  aud_dictate_params p;
  char *language;
  aud_vad *vad;

  /* Input ring: interleaved floats at the input rate; single producer,
   * single consumer, positions count samples and only grow. */
  float *ring;
  size_t ring_cap; /* power of two */
  _Atomic size_t wpos, rpos;
  atomic_size_t dropped;
  double rate;
  int channels;
  aud_capture *cap;

  pthread_t thread;
  int started, joined;
  atomic_int input_ended, stop_req, running, closed;
  int status;
  char *errmsg;

  /* Worker state. */
  aud_resampler *rs;
  float *tmp, *rsout;   /* (TMP_FRAMES * channels), (RS_OUT) */
  float *aud;           /* 16 kHz mono, aud[0] is sample aud_off */
  size_t aud_n, aud_cap;
  int64_t aud_off;
  int64_t vad_pos;      /* next VAD chunk starts here */
  double lvl_sum;
  int lvl_n;
  int in_speech;
  int64_t last_voice, win_start, last_decode;
  wordlist hyp;         /* the previous hypothesis's uncommitted words */
  wordlist tail;        /* the last committed words (<= NGRAM) */
  wordlist since_cut;   /* words committed since the window was last cut (they are still in it) */
  size_t prompt_len;    /* committed text before the window: the prompt */
  double committed_end; /* seconds */
  double heard_to;      /* end of the last word of the last step's hypothesis, seconds */
  char *committed;      /* all committed text, for the prompt */
  size_t committed_len, committed_cap;
  char lang[16];
  char *partial;        /* last partial reported */
};

#define TMP_FRAMES 4096
#define RS_OUT 8192

static void
set_err(char **err, char *m)
{
  if (err)
    *err = m;
  else
    free(m);
}

aud_dictate_params
aud_dictate_default_params(void)
{
  return (aud_dictate_params){
    .vad_threshold = 0.5f,
    .step_s = 0.5,
    .pause_s = 0.8,
    .max_window_s = 30.0,
    .ring_s = 60.0,
    .realtime = 1,
  };
}

/* ---- words ---------------------------------------------------------------- */

static void
wordlist_clear(wordlist *l)
{
  for (int i = 0; i < l->n; i++)
    free(l->v[i].text), free(l->v[i].norm);
  l->n = 0;
}

static void
wordlist_free(wordlist *l)
{
  wordlist_clear(l);
  free(l->v);
  l->v = NULL;
  l->cap = 0;
}

/* Lowercase words of letters and digits, one space between, a space at both
 * ends (so that strstr matches whole words). NULL: no memory. */
static char *
normalize_spaced(const char *s)
{
  char *o = malloc(2 * strlen(s) + 3);
  if (!o)
    return NULL;
  size_t k = 0;
  o[k++] = ' ';
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 0x80 || isalnum(ch))
      o[k++] = (char)(ch < 0x80 ? tolower(ch) : ch);
    else if (ch != '\'' && o[k - 1] != ' ')
      o[k++] = ' ';
  }
  if (o[k - 1] != ' ')
    o[k++] = ' ';
  o[k] = '\0';
  return o;
}

/* A word's comparison key: normalize_spaced without the spaces. */
static char *
normalize(const char *s)
{
  char *o = normalize_spaced(s);
  if (!o)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; o[i]; i++)
    if (o[i] != ' ')
      o[k++] = o[i];
  o[k] = '\0';
  return o;
}

/* Whether text (normalize_spaced) is made of pieces of two or more words
 * each found in prompt (normalize_spaced), longest pieces first. */
static int
is_echo(const char *prompt, const char *text)
{
  const char *p = text; /* at a space */
  if (!p[0] || !p[1])
    return 0;
  char *piece = malloc(strlen(text) + 1);
  if (!piece)
    return 0;
  while (p[1]) {
    /* Word ends after p, longest piece in the prompt. */
    const char *best = NULL;
    int words = 0, best_words = 0;
    for (const char *q = p + 1; *q; q++) {
      if (*q != ' ')
        continue;
      words++;
      size_t len = (size_t)(q - p) + 1;
      memcpy(piece, p, len);
      piece[len] = '\0';
      if (strstr(prompt, piece))
        best = q, best_words = words;
    }
    if (!best || best_words < 2) {
      free(piece);
      return 0;
    }
    p = best;
  }
  free(piece);
  return 1;
}

/* Appends a copy; 0 or KERN_E_NOMEM. */
static int
wordlist_add(wordlist *l, const char *text, double start, double end, int seg_end)
{
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 32;
    dword *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v)
      return KERN_E_NOMEM;
    l->v = v, l->cap = cap;
  }
  dword *d = &l->v[l->n];
  d->text = strdup(text);
  d->norm = normalize(text);
  if (!d->text || !d->norm) {
    free(d->text), free(d->norm);
    return KERN_E_NOMEM;
  }
  d->start = start, d->end = end, d->seg_end = seg_end;
  l->n++;
  return 0;
}

/* Removes the first k words. */
static void
wordlist_drop_front(wordlist *l, int k)
{
  if (k > l->n)
    k = l->n;
  for (int i = 0; i < k; i++)
    free(l->v[i].text), free(l->v[i].norm);
  memmove(l->v, l->v + k, (size_t)(l->n - k) * sizeof *l->v);
  l->n -= k;
}

/* Text of words [a, b), with the first word's leading space unless strip. NULL: no memory. */
static char *
join(const wordlist *l, int a, int b, int strip)
{
  size_t n = 1;
  for (int i = a; i < b; i++)
    n += strlen(l->v[i].text);
  char *s = malloc(n), *p = s;
  if (!s)
    return NULL;
  for (int i = a; i < b; i++) {
    size_t k = strlen(l->v[i].text);
    memcpy(p, l->v[i].text, k);
    p += k;
  }
  *p = '\0';
  char *q = s;
  while (strip && *q == ' ')
    q++;
  memmove(s, q, strlen(q) + 1);
  return s;
}

/* ---- input ring (producer side is lock-free) ------------------------------- */

size_t
aud_dictate_push(aud_dictate *d, const float *interleaved, size_t frames)
{
  if (!d || !interleaved || !d->ring || atomic_load_explicit(&d->closed, memory_order_relaxed))
    return 0;
  size_t ch = (size_t)d->channels;
  size_t w = atomic_load_explicit(&d->wpos, memory_order_relaxed);
  size_t r = atomic_load_explicit(&d->rpos, memory_order_acquire);
  size_t space = (d->ring_cap - (w - r)) / ch;
  size_t n = frames < space ? frames : space;
  size_t total = n * ch, mask = d->ring_cap - 1;
  size_t first = d->ring_cap - (w & mask);
  if (first > total)
    first = total;
  memcpy(d->ring + (w & mask), interleaved, first * sizeof *d->ring);
  memcpy(d->ring, interleaved + first, (total - first) * sizeof *d->ring);
  atomic_store_explicit(&d->wpos, w + total, memory_order_release);
  if (n < frames)
    atomic_fetch_add(&d->dropped, frames - n);
  return n;
}

size_t
aud_dictate_dropped(const aud_dictate *d)
{
  return d ? atomic_load(&((aud_dictate *)d)->dropped) : 0;
}

void
aud_dictate_end_input(aud_dictate *d)
{
  if (d)
    atomic_store(&d->input_ended, 1);
}

static void
on_capture(const float *samples, size_t frames, void *user_data)
{
  aud_dictate_push(user_data, samples, frames);
}

/* ---- worker: audio in ------------------------------------------------------- */

static int
aud_reserve(aud_dictate *d, size_t more)
{
  if (d->aud_n + more <= d->aud_cap)
    return 0;
  size_t cap = d->aud_cap ? d->aud_cap : (size_t)SR * 8;
  while (cap < d->aud_n + more)
    cap *= 2;
  float *a = realloc(d->aud, cap * sizeof *a);
  if (!a)
    return KERN_E_NOMEM;
  d->aud = a, d->aud_cap = cap;
  return 0;
}

/* 16 kHz samples in: level reports, then into the buffer. */
static int
append(aud_dictate *d, const float *x, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    d->lvl_sum += (double)x[i] * x[i];
    if (++d->lvl_n == LEVEL_BLOCK) {
      double ms = d->lvl_sum / LEVEL_BLOCK;
      float db = ms > 1e-12 ? (float)(10.0 * log10(ms)) : -120.0f;
      if (d->p.on_level)
        d->p.on_level(db, d->p.user_data);
      d->lvl_sum = 0, d->lvl_n = 0;
    }
  }
  if (aud_reserve(d, n))
    return KERN_E_NOMEM;
  memcpy(d->aud + d->aud_n, x, n * sizeof *x);
  d->aud_n += n;
  return 0;
}

/* Moves what the ring holds through the resampler; *got = input frames taken. */
static int
pull(aud_dictate *d, size_t *got)
{
  *got = 0;
  size_t ch = (size_t)d->channels, mask = d->ring_cap - 1;
  for (;;) {
    size_t r = atomic_load_explicit(&d->rpos, memory_order_relaxed);
    size_t w = atomic_load_explicit(&d->wpos, memory_order_acquire);
    size_t frames = (w - r) / ch;
    if (frames == 0)
      return 0;
    if (frames > TMP_FRAMES)
      frames = TMP_FRAMES;
    size_t total = frames * ch, first = d->ring_cap - (r & mask);
    if (first > total)
      first = total;
    memcpy(d->tmp, d->ring + (r & mask), first * sizeof *d->tmp);
    memcpy(d->tmp + first, d->ring, (total - first) * sizeof *d->tmp);
    atomic_store_explicit(&d->rpos, r + total, memory_order_release);
    *got += frames;
    size_t off = 0;
    while (off < frames) {
      size_t used = 0, made = 0;
      if (aud_resampler_process(d->rs, d->tmp + off * ch, frames - off, &used, d->rsout, RS_OUT, &made))
        return KERN_E_INVAL;
      off += used;
      if (made && append(d, d->rsout, made))
        return KERN_E_NOMEM;
    }
  }
}

static int
flush_resampler(aud_dictate *d)
{
  for (;;) {
    size_t made = 0;
    if (aud_resampler_flush(d->rs, d->rsout, RS_OUT, &made))
      return KERN_E_INVAL;
    if (made == 0)
      return 0;
    if (append(d, d->rsout, made))
      return KERN_E_NOMEM;
  }
}

/* Drops buffered audio before `keep` (in large steps, so rarely). */
static void
trim(aud_dictate *d, int64_t keep)
{
  int64_t k = keep - d->aud_off;
  if (k < SR * 10 || (size_t)k > d->aud_n)
    return;
  memmove(d->aud, d->aud + k, (d->aud_n - (size_t)k) * sizeof *d->aud);
  d->aud_n -= (size_t)k;
  d->aud_off = keep;
}

/* ---- worker: decoding ---------------------------------------------------------- */

static int
fail(aud_dictate *d, int code, char *m)
{
  if (!d->errmsg)
    d->errmsg = m;
  else
    free(m);
  if (!d->status)
    d->status = code;
  return code;
}

static void
report_partial(aud_dictate *d)
{
  char *text = join(&d->hyp, 0, d->hyp.n, 1);
  if (!text)
    return;
  if (d->partial && strcmp(d->partial, text) == 0) {
    free(text);
    return;
  }
  free(d->partial);
  d->partial = text;
  if (d->p.on_partial)
    d->p.on_partial(text, d->p.user_data);
}

static int
append_committed(aud_dictate *d, const char *text)
{
  size_t n = strlen(text);
  if (d->committed_len + n + 2 > d->committed_cap) {
    size_t cap = (d->committed_len + n + 2) * 2;
    char *c = realloc(d->committed, cap);
    if (!c)
      return KERN_E_NOMEM;
    d->committed = c, d->committed_cap = cap;
  }
  memcpy(d->committed + d->committed_len, text, n + 1);
  d->committed_len += n;
  return 0;
}

/* Length of the committed text without its last `n_words` words. */
static size_t
committed_len_upto(const aud_dictate *d, int n_words)
{
  size_t len = d->committed_len;
  for (int i = 0; i < n_words && len > 0; i++) {
    while (len > 0 && d->committed[len - 1] == ' ')
      len--;
    while (len > 0 && d->committed[len - 1] != ' ')
      len--;
  }
  return len;
}

/* Commits words [0, k) of `l`: one final event, the n-gram tail, the prompt. */
static int
commit(aud_dictate *d, wordlist *l, int k)
{
  if (k <= 0)
    return 0;
  /* The text to append to the transcript: it starts with a space where a
   * new word starts, not where a word goes on ("full" "-featured"). */
  char *text = join(l, 0, k, d->committed_len == 0);
  if (!text)
    return fail(d, KERN_E_NOMEM, strdup("out of memory"));
  int rc = 0;
  if (text[0]) {
    if (d->p.on_final)
      d->p.on_final(text, l->v[0].start, l->v[k - 1].end, d->p.user_data);
    rc = append_committed(d, text);
  }
  free(text);
  for (int i = 0; i < k && !rc; i++) {
    rc = wordlist_add(&d->tail, l->v[i].text, l->v[i].start, l->v[i].end, l->v[i].seg_end);
    if (!rc)
      rc = wordlist_add(&d->since_cut, l->v[i].text, l->v[i].start, l->v[i].end, l->v[i].seg_end);
  }
  if (d->tail.n > NGRAM)
    wordlist_drop_front(&d->tail, d->tail.n - NGRAM);
  if (l->v[k - 1].end > d->committed_end)
    d->committed_end = l->v[k - 1].end;
  if (rc)
    return fail(d, KERN_E_NOMEM, strdup("out of memory"));
  return 0;
}

/* Whisper on [from, to): the words, with times in stream seconds, minus what
 * was committed already (by time, then by matching the committed tail). */
static int
hypothesis(aud_dictate *d, int64_t from, int64_t to, int all_windows, wordlist *out)
{
  wordlist_clear(out);
  if (to - from < SR / 10)
    return 0;
  aud_transcribe_params tp = aud_transcribe_default_params();
  tp.language = d->lang[0] ? d->lang : d->language;
  tp.beam_size = 1;
  tp.best_of = 1;
  /* Greedy, with the reference's fallback to sampling when the text loops
   * (compression ratio) or is unlikely; one sample per temperature. Not at
   * an utterance's end (all_windows), whose text is committed without a
   * second hypothesis to agree with: there a sample at 0.4 wrote a sentence
   * nobody said ("Weasels have been carried away by monkey.", twice in CI
   * runs under load); a step's samples must agree with the next step first. */
  tp.n_temperatures = all_windows ? 1 : 3;
  tp.temperatures[0] = 0.0f, tp.temperatures[1] = 0.4f, tp.temperatures[2] = 0.8f;
  tp.word_timestamps = 1;
  tp.max_windows = all_windows ? 0 : 1;
  tp.short_window_pad_s = d->p.encode_pad_s;
  /* The prompt is the text committed before the window: what the window
   * still holds would otherwise be both heard and given. */
  char *prompt = NULL;
  if (d->prompt_len) {
    size_t a = d->prompt_len > PROMPT_BYTES ? d->prompt_len - PROMPT_BYTES : 0;
    while (a > 0 && a < d->prompt_len && d->committed[a - 1] != ' ')
      a++; /* start at a word */
    prompt = strndup(d->committed + a, d->prompt_len - a);
    if (!prompt)
      return fail(d, KERN_E_NOMEM, strdup("out of memory"));
  }
  tp.initial_prompt = prompt;
  aud_transcript tr;
  aud_transcript_init(&tr);
  char *err = NULL;
  int rc = aud_transcribe_samples(d->w, d->tok, d->aud + (from - d->aud_off), (size_t)(to - from), &tp, &tr, &err);
  if (rc) {
    free(prompt);
    aud_transcript_clear(&tr);
    return fail(d, rc, err ? err : strdup("decoding failed"));
  }
  /* On a short window with little speech Whisper may read its prompt back,
   * once or several times: text made only of runs of two or more words that
   * the prompt holds is not heard. */
  if (prompt && to - from < ECHO_WINDOW) {
    size_t cap = 1;
    for (int s = 0; s < tr.n_segments; s++)
      cap += strlen(tr.segments[s].text) + 1;
    char *all = malloc(cap), *pn = normalize_spaced(prompt);
    if (all && pn) {
      all[0] = '\0';
      for (int s = 0; s < tr.n_segments; s++)
        strcat(all, tr.segments[s].text);
      char *an = normalize_spaced(all);
      if (an && is_echo(pn, an))
        for (int s = 0; s < tr.n_segments; s++)
          tr.segments[s].n_words = 0;
      free(an);
    }
    free(all), free(pn);
  }
  /* In any window, a whole segment of ECHO_MIN_WORDS or more made only of
   * runs of words the prompt or this window's earlier segments hold is read
   * back, not heard: Whisper echoing the prompt into silence, or repeating
   * itself ("...carried away by monkey. Weasels have been carried away by
   * monkey."); a sentence said again word for word that soon is rare. */
  size_t cap = (prompt ? strlen(prompt) : 0) + 2;
  for (int s = 0; s < tr.n_segments; s++)
    cap += strlen(tr.segments[s].text) + 1;
  char *heard = malloc(cap);
  if (heard) {
    snprintf(heard, cap, "%s", prompt ? prompt : "");
    for (int s = 0; s < tr.n_segments; s++) {
      char *hn = heard[0] && tr.segments[s].n_words >= ECHO_MIN_WORDS ? normalize_spaced(heard) : NULL;
      char *sn = hn ? normalize_spaced(tr.segments[s].text) : NULL;
      if (sn && is_echo(hn, sn))
        tr.segments[s].n_words = 0;
      else
        strcat(strcat(heard, " "), tr.segments[s].text);
      free(hn), free(sn);
    }
    free(heard);
  }
  free(prompt);
  if (!d->lang[0] && tr.language[0])
    snprintf(d->lang, sizeof d->lang, "%s", tr.language);
  double t0 = (double)from / SR;
  for (int s = 0; s < tr.n_segments && !rc; s++) {
    const aud_segment *seg = &tr.segments[s];
    for (int i = 0; i < seg->n_words && !rc; i++) {
      const aud_word *wd = &seg->words[i];
      rc = wordlist_add(out, wd->word, t0 + wd->start, t0 + wd->end, i == seg->n_words - 1);
    }
  }
  aud_transcript_clear(&tr);
  if (rc)
    return fail(d, KERN_E_NOMEM, strdup("out of memory"));
  /* The words committed since the cut open the window: drop them, by their
   * text when the hypothesis repeats them, else by time (word starts; the
   * end of a window's last word is often stretched to the window's end). */
  const wordlist *sc = &d->since_cut;
  if (sc->n > 0) {
    int same = out->n >= sc->n;
    for (int i = 0; i < sc->n && same; i++)
      same = strcmp(out->v[i].norm, sc->v[i].norm) == 0;
    if (same) {
      wordlist_drop_front(out, sc->n);
      return 0;
    }
    int k = 0;
    while (k < out->n && out->v[k].start < sc->v[sc->n - 1].start + 0.1)
      k++;
    wordlist_drop_front(out, k);
  }
  /* A head that repeats the committed tail (the same words, re-timed, or
   * heard again across a cut placed early). */
  if (out->n > 0 && d->tail.n > 0) {
    for (int m = d->tail.n < out->n ? d->tail.n : out->n; m >= 1; m--) {
      int eq = 1;
      for (int i = 0; i < m && eq; i++)
        eq = strcmp(d->tail.v[d->tail.n - m + i].norm, out->v[i].norm) == 0;
      if (eq) {
        wordlist_drop_front(out, m);
        break;
      }
    }
  }
  return 0;
}

/* One step of an utterance in progress: decode, agree, commit, maybe cut. */
static int
decode_step(aud_dictate *d, int64_t now)
{
  wordlist cur = { 0 };
  if (d->last_voice <= d->last_decode)
    return 0; /* no speech since the last decode: it would hear nothing new */
  d->last_decode = now;
  if (d->last_voice - d->win_start < MIN_VOICED)
    return 0; /* nothing heard since the cut: nothing to decode */
  /* A worker far behind may find more than a window's worth: decode the
   * first max_window_s; what follows comes after the cut. */
  int64_t to = now, max_len = (int64_t)llround(d->p.max_window_s * SR);
  if (to - d->win_start > max_len)
    to = d->win_start + max_len;
  int rc = hypothesis(d, d->win_start, to, 0, &cur);
  if (rc) {
    wordlist_free(&cur);
    return rc;
  }
  int k = 0;
  while (k < cur.n && k < d->hyp.n && strcmp(cur.v[k].norm, d->hyp.v[k].norm) == 0)
    k++;
  double window_s = (double)(now - d->win_start) / SR;
  if (window_s > d->p.max_window_s - d->p.step_s - 1.0)
    k = cur.n; /* about to outgrow the window: commit the lot */
  int cut_word = -1;
  for (int i = 0; i < k; i++)
    if (cur.v[i].seg_end)
      cut_word = i;
  if (k > 0 && cut_word < 0 && window_s > CUT_AFTER_S)
    cut_word = k - 1;
  if ((rc = commit(d, &cur, k))) {
    wordlist_free(&cur);
    return rc;
  }
  if (cut_word >= 0) {
    /* The last word of a window often ends where the window does: cut no
     * later than the next word starts. */
    double cut_s = cur.v[cut_word].end;
    if (cut_word + 1 < cur.n && cur.v[cut_word + 1].start < cut_s)
      cut_s = cur.v[cut_word + 1].start;
    int64_t cut = (int64_t)llround(cut_s * SR);
    if (cut > d->win_start && cut <= to) {
      d->win_start = cut;
      /* Words committed after the cut word stay in the window. */
      wordlist_drop_front(&d->since_cut, d->since_cut.n - (k - 1 - cut_word));
      d->prompt_len = committed_len_upto(d, k - 1 - cut_word);
    }
  }
  if (k == cur.n && window_s > d->p.max_window_s - d->p.step_s - 1.0) {
    d->win_start = to; /* nothing left to agree on */
    wordlist_clear(&d->since_cut);
    d->prompt_len = d->committed_len;
  }
  if (cur.n > 0)
    d->heard_to = cur.v[cur.n - 1].end;
  else if (d->tail.n > 0)
    d->heard_to = d->tail.v[d->tail.n - 1].end;
  wordlist_drop_front(&cur, k);
  wordlist_free(&d->hyp);
  d->hyp = cur;
  report_partial(d);
  return 0;
}

/* End of an utterance: decode the window to `end` once and commit all of it. */
static int
finalize(aud_dictate *d, int64_t end)
{
  wordlist cur = { 0 };
  int rc = 0;
  /* When the last step decoded all the speech and its words reach the end
   * of it (the VAD's hangover aside), its hypothesis is the utterance's
   * end: commit it without decoding again. Else decode the window once. */
  int seen = d->last_decode >= d->last_voice && d->heard_to >= (double)d->last_voice / SR - HANGOVER_S;
  if (seen) {
    rc = commit(d, &d->hyp, d->hyp.n);
  } else if (end > d->win_start && d->last_voice - d->win_start >= MIN_VOICED) {
    rc = hypothesis(d, d->win_start, end, 1, &cur);
    if (!rc)
      rc = commit(d, &cur, cur.n);
  }
  wordlist_free(&cur);
  wordlist_clear(&d->hyp);
  wordlist_clear(&d->since_cut);
  d->prompt_len = d->committed_len;
  report_partial(d);
  if (end > d->win_start)
    d->win_start = end;
  d->in_speech = 0;
  return rc;
}

/* VAD over the new chunks, with decode steps and utterance ends in stream order.
 * Live, a step is only taken at the newest chunk: a worker behind skips. */
static int
process(aud_dictate *d)
{
  int64_t end = d->aud_off + (int64_t)d->aud_n;
  int64_t step = (int64_t)llround(d->p.step_s * SR), pause = (int64_t)llround(d->p.pause_s * SR);
  float thr = d->p.vad_threshold, thr_off = thr - 0.15f;
  while (d->vad_pos + CHUNK <= end) {
    int64_t c0 = d->vad_pos, c1 = c0 + CHUNK;
    float prob = 1.0f;
    if (!d->p.no_vad && aud_vad_process(d->vad, d->aud + (c0 - d->aud_off), &prob))
      return fail(d, KERN_E_INVAL, strdup("VAD failed"));
    d->vad_pos = c1;
    if (prob >= thr) {
      if (!d->in_speech) {
        d->in_speech = 1;
        int64_t ws = c0 - PREROLL;
        if (ws < d->win_start)
          ws = d->win_start;
        if (ws < d->aud_off)
          ws = d->aud_off;
        d->win_start = ws;
        d->last_decode = c0;
      }
      d->last_voice = c1;
    }
    if (!d->in_speech) {
      d->win_start = c1 - PREROLL > d->win_start ? c1 - PREROLL : d->win_start;
      trim(d, d->win_start);
      continue;
    }
    int rc;
    if (prob < thr_off && c1 - d->last_voice >= pause) {
      int64_t e = d->last_voice + TAIL < c1 ? d->last_voice + TAIL : c1;
      if ((rc = finalize(d, e)))
        return rc;
      continue;
    }
    int behind = d->p.realtime && end - c1 >= CHUNK;
    if (c1 - d->last_decode >= step && !behind && (rc = decode_step(d, c1)))
      return rc;
    trim(d, d->win_start);
  }
  return 0;
}

static double
mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *
worker(void *arg)
{
  aud_dictate *d = arg;
  int lost = 0, rc = 0;
  double last_check = mono_s();
  for (;;) {
    int ending = atomic_load(&d->input_ended) || atomic_load(&d->stop_req);
    if (!ending && d->cap && mono_s() - last_check > 0.25) {
      last_check = mono_s();
      if (!aud_capture_alive(d->cap, LOST_AFTER_S))
        lost = ending = 1;
    }
    size_t got = 0;
    if ((rc = pull(d, &got))) {
      fail(d, rc, strdup("cannot resample the input"));
      break;
    }
    if (ending && got == 0) {
      if ((rc = flush_resampler(d)) || (rc = process(d))) {
        fail(d, rc, strdup("cannot finish the input"));
        break;
      }
      if (d->in_speech)
        finalize(d, d->aud_off + (int64_t)d->aud_n);
      break;
    }
    if ((rc = process(d)))
      break;
    if (got == 0)
      usleep(5000);
  }
  if (!d->status && lost) {
    d->status = KERN_E_IO;
    d->errmsg = _aud_strdup_printf("the input device '%s' stopped delivering audio; the text so far is kept",
                    aud_capture_device_name(d->cap));
  }
  if (d->p.on_end)
    d->p.on_end(d->status, d->errmsg ? d->errmsg : "stopped", d->p.user_data);
  atomic_store(&d->running, 0);
  return NULL;
}

/* ---- session -------------------------------------------------------------------- */

aud_dictate *
aud_dictate_new(aud_whisper *w, const aud_tokenizer *tok, const aud_dictate_params *p, char **err)
{
  if (!w || !tok) {
    set_err(err, strdup("no model"));
    return NULL;
  }
  aud_dictate_params def = aud_dictate_default_params();
  if (!p)
    p = &def;
  if (!(p->step_s >= 0.1 && p->step_s <= 10) || !(p->pause_s >= 0.1 && p->pause_s <= 10) ||
      !(p->max_window_s >= 5 && p->max_window_s <= 30) || !(p->ring_s >= 1 && p->ring_s <= 3600) ||
      !(p->vad_threshold > 0.15f && p->vad_threshold < 1.0f)) {
    set_err(err, _aud_strdup_printf("dictation parameters out of range (step 0.1-10 s, pause 0.1-10 s, window 5-30 s, "
                     "ring 1-3600 s, VAD threshold 0.15-1)"));
    return NULL;
  }
  aud_dictate *d = calloc(1, sizeof *d);
  if (!d) {
    set_err(err, strdup("out of memory"));
    return NULL;
  }
  d->w = w, d->tok = tok, d->p = *p;
  if (p->language && strcmp(p->language, "auto") != 0) {
    d->language = strdup(p->language);
    if (!d->language) {
      free(d);
      set_err(err, strdup("out of memory"));
      return NULL;
    }
    d->p.language = d->language;
  } else {
    d->p.language = NULL;
  }
  d->p.vad_model = NULL;
  char *verr = NULL;
  d->vad = p->vad_model ? aud_vad_open(p->vad_model, &verr) : aud_vad_new_energy();
  if (!d->vad) {
    set_err(err, verr ? verr : strdup("out of memory"));
    free(d->language);
    free(d);
    return NULL;
  }
  return d;
}

const char *
aud_dictate_vad_kind(const aud_dictate *d)
{
  return aud_vad_kind(d->vad);
}

int
aud_dictate_running(const aud_dictate *d)
{
  return d && atomic_load(&((aud_dictate *)d)->running);
}

int
aud_dictate_start_push(aud_dictate *d, double rate, int channels, char **err)
{
  if (!d || d->started) {
    set_err(err, strdup(d ? "the session was started already" : "no session"));
    return KERN_E_INVAL;
  }
  if (!(rate >= 1000 && rate <= 384000) || channels < 1 || channels > 64) {
    set_err(err, _aud_strdup_printf("unsupported input format: %g Hz, %d channels", rate, channels));
    return KERN_E_INVAL;
  }
  d->rate = rate, d->channels = channels;
  char *rerr = NULL;
  d->rs = aud_resampler_new(rate, SR, channels, true, &rerr);
  if (!d->rs) {
    set_err(err, rerr ? rerr : strdup("cannot make the resampler"));
    return KERN_E_INVAL;
  }
  double want = d->p.ring_s * rate * channels;
  size_t cap = 1024;
  while ((double)cap < want)
    cap *= 2;
  d->ring = malloc(cap * sizeof *d->ring);
  d->tmp = malloc((size_t)TMP_FRAMES * (size_t)channels * sizeof *d->tmp);
  d->rsout = malloc(RS_OUT * sizeof *d->rsout);
  if (!d->ring || !d->tmp || !d->rsout) {
    set_err(err, strdup("out of memory"));
    return KERN_E_NOMEM;
  }
  d->ring_cap = cap;
  atomic_store(&d->running, 1);
  if (pthread_create(&d->thread, NULL, worker, d) != 0) {
    atomic_store(&d->running, 0);
    set_err(err, strdup("cannot start the worker thread"));
    return KERN_E_NOMEM;
  }
  d->started = 1;
  return 0;
}

/* The stream's format is known once the device is open; the ring and the
 * worker exist before the stream starts calling back. */
int
aud_dictate_start(aud_dictate *d, const char *device, char **err)
{
  if (!d || d->started) {
    set_err(err, strdup(d ? "the session was started already" : "no session"));
    return KERN_E_INVAL;
  }
  char *cerr = NULL;
  d->cap = aud_capture_open(device, on_capture, d, &cerr);
  if (!d->cap) {
    set_err(err, cerr);
    return KERN_E_IO;
  }
  int rc = aud_dictate_start_push(d, aud_capture_rate(d->cap), aud_capture_channels(d->cap), err);
  if (!rc && (rc = aud_capture_start(d->cap, err)) != 0) {
    atomic_store(&d->stop_req, 1);
    pthread_join(d->thread, NULL);
    d->joined = 1;
  }
  if (rc) {
    aud_capture_close(d->cap);
    d->cap = NULL;
  }
  return rc;
}

int
aud_dictate_stop(aud_dictate *d, char **err)
{
  if (!d)
    return KERN_E_INVAL;
  /* Input stops here (the device may keep calling back until closed);
   * the worker drains what came before and finalizes. */
  atomic_store(&d->closed, 1);
  atomic_store(&d->stop_req, 1);
  if (d->started && !d->joined) {
    pthread_join(d->thread, NULL);
    d->joined = 1;
  }
  if (d->cap) {
    aud_capture_close(d->cap);
    d->cap = NULL;
  }
  if (d->status && err)
    *err = strdup(d->errmsg ? d->errmsg : kern_strerror(d->status));
  return d->status;
}

void
aud_dictate_free(aud_dictate *d)
{
  if (!d)
    return;
  aud_dictate_stop(d, NULL);
  aud_vad_free(d->vad);
  aud_resampler_free(d->rs);
  free(d->ring), free(d->tmp), free(d->rsout), free(d->aud);
  wordlist_free(&d->hyp);
  wordlist_free(&d->tail);
  wordlist_free(&d->since_cut);
  free(d->committed), free(d->partial), free(d->errmsg), free(d->language);
  free(d);
}
