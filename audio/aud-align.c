/* aud-align.c: word-level timestamps (whisper/timing.py is the specification).
 *
 * The decoder re-reads the window's text after [sot, language, task,
 * no_timestamps]; the chosen cross-attention heads' scores over the window's
 * audio frames are softmaxed, standardized per frame, median-filtered
 * (width 7) and averaged; dynamic time warping through the negated matrix
 * gives each token's first frame, and words take the times of their first
 * and next word's first tokens. */
#include "aud-align.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-weights.h"

#define TOKENS_PER_SECOND 50.0 /* encoder positions per second */
#define MEDFILT_WIDTH 7
#define MAX_HEADS 64

typedef struct {
  char *word;
  int32_t *tokens;
  int n_tokens;
  double start, end;
  float probability;
} timing;

static void
timings_free(timing *t, int n)
{
  for (int i = 0; i < n; i++)
    free(t[i].word), free(t[i].tokens);
  free(t);
}

/* ---- words from tokens (Tokenizer.split_to_word_tokens) ---------------- */

/* Bytes that end in the middle of a UTF-8 sequence (more tokens may complete it). */
static int
incomplete_tail(const char *s, size_t n)
{
  size_t i = n;
  int cont = 0;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && cont < 3)
    i--, cont++;
  if (i == 0)
    return 0;
  unsigned char lead = (unsigned char)s[i - 1];
  int need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return need > cont && kern_utf8_valid(s, i - 1);
}

typedef struct {
  char *text;
  size_t len;
  int32_t *tokens;
  int n;
} piece;

static int
append_bytes(char **buf, size_t *len, const char *b, size_t n)
{
  char *p = realloc(*buf, *len + n + 1);
  if (!p)
    return -1;
  memcpy(p + *len, b, n);
  *len += n;
  p[*len] = '\0';
  *buf = p;
  return 0;
}

static int
append_token(piece *p, int32_t t)
{
  int32_t *q = realloc(p->tokens, (size_t)(p->n + 1) * sizeof *q);
  if (!q)
    return -1;
  q[p->n++] = t;
  p->tokens = q;
  return 0;
}

/* Groups tokens into pieces that decode to whole characters. */
static int
split_unicode(const aud_tokenizer *tok, const int32_t *tokens, int n, piece **out, int *n_out)
{
  piece *ps = calloc((size_t)n + 1, sizeof *ps);
  int np = 0;
  piece cur = { 0 };
  if (!ps)
    return -1;
  for (int i = 0; i < n; i++) {
    size_t bl;
    const char *b = aud_tokenizer_token_bytes(tok, tokens[i], &bl);
    if (!b || append_bytes(&cur.text, &cur.len, b, bl) || append_token(&cur, tokens[i]))
      goto oom;
    if (i == n - 1 || !incomplete_tail(cur.text, cur.len)) {
      ps[np++] = cur;
      memset(&cur, 0, sizeof cur);
    }
  }
  *out = ps;
  *n_out = np;
  return 0;
oom:
  free(cur.text), free(cur.tokens);
  for (int i = 0; i < np; i++)
    free(ps[i].text), free(ps[i].tokens);
  free(ps);
  return -1;
}

static int
is_punctuation(const char *s)
{
  /* Python: subword.strip() in string.punctuation (a substring test, so ""
   * and runs such as "()" count). */
  static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  while (*s == ' ' || *s == '\t' || *s == '\n')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
    n--;
  if (n == 0)
    return 1;
  for (size_t i = 0; i + n <= sizeof punct - 1; i++)
    if (memcmp(punct + i, s, n) == 0)
      return 1;
  return 0;
}

/* Words: split on spaces, except for languages written without them. */
static int
split_words(const aud_tokenizer *tok, const char *lang, const int32_t *tokens, int n, piece **out, int *n_out)
{
  piece *ps;
  int np;
  if (split_unicode(tok, tokens, n, &ps, &np))
    return -1;
  static const char *const no_spaces[] = { "zh", "ja", "th", "lo", "my", "yue" };
  for (size_t i = 0; i < sizeof no_spaces / sizeof no_spaces[0]; i++)
    if (lang && strcmp(lang, no_spaces[i]) == 0) {
      *out = ps;
      *n_out = np;
      return 0;
    }
  const aud_tokenizer_specials *sp = aud_tokenizer_get_specials(tok);
  int nw = 0;
  for (int i = 0; i < np; i++) {
    int special = ps[i].tokens[0] >= sp->eot;
    if (special || ps[i].text[0] == ' ' || is_punctuation(ps[i].text) || nw == 0) {
      ps[nw++] = ps[i];
      continue;
    }
    piece *w = &ps[nw - 1];
    if (append_bytes(&w->text, &w->len, ps[i].text, ps[i].len))
      return -1;
    for (int k = 0; k < ps[i].n; k++)
      if (append_token(w, ps[i].tokens[k]))
        return -1;
    free(ps[i].text), free(ps[i].tokens);
  }
  *out = ps;
  *n_out = nw;
  return 0;
}

/* ---- the alignment matrix and DTW ---------------------------------------- */

static int
cmp_float(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Median filter of width MEDFILT_WIDTH along rows of length n, reflect padding. */
static void
median_filter(float *row, int n, float *tmp)
{
  int pad = MEDFILT_WIDTH / 2;
  if (n <= pad)
    return;
  float win[MEDFILT_WIDTH];
  for (int i = 0; i < n; i++)
    tmp[i] = row[i];
  for (int i = 0; i < n; i++) {
    for (int k = -pad; k <= pad; k++) {
      int j = i + k;
      if (j < 0)
        j = -j;
      if (j >= n)
        j = 2 * (n - 1) - j;
      win[k + pad] = tmp[j];
    }
    qsort(win, MEDFILT_WIDTH, sizeof win[0], cmp_float);
    row[i] = win[pad];
  }
}

/* DTW through x (N, M); path as text indices and time indices (length *len). */
static int
dtw(const float *x, int N, int M, int *ti, int *tj, int *len)
{
  size_t W = (size_t)M + 1;
  float *cost = malloc((size_t)(N + 1) * W * sizeof *cost);
  signed char *trace = malloc((size_t)(N + 1) * W);
  if (!cost || !trace) {
    free(cost), free(trace);
    return -1;
  }
  for (size_t k = 0; k < (size_t)(N + 1) * W; k++)
    cost[k] = INFINITY, trace[k] = -1;
  cost[0] = 0;
  for (int j = 1; j <= M; j++)
    for (int i = 1; i <= N; i++) {
      float c0 = cost[(size_t)(i - 1) * W + (size_t)(j - 1)], c1 = cost[(size_t)(i - 1) * W + (size_t)j],
            c2 = cost[(size_t)i * W + (size_t)(j - 1)], c;
      int t;
      if (c0 < c1 && c0 < c2)
        c = c0, t = 0;
      else if (c1 < c0 && c1 < c2)
        c = c1, t = 1;
      else
        c = c2, t = 2;
      cost[(size_t)i * W + (size_t)j] = x[(size_t)(i - 1) * (size_t)M + (size_t)(j - 1)] + c;
      trace[(size_t)i * W + (size_t)j] = (signed char)t;
    }
  for (int j = 0; j <= M; j++)
    trace[j] = 2;
  for (int i = 0; i <= N; i++)
    trace[(size_t)i * W] = 1;
  int i = N, j = M, n = 0;
  while (i > 0 || j > 0) {
    ti[n] = i - 1, tj[n] = j - 1, n++;
    int t = trace[(size_t)i * W + (size_t)j];
    if (t == 0)
      i--, j--;
    else if (t == 1)
      i--;
    else
      j--;
  }
  for (int a = 0, b = n - 1; a < b; a++, b--) { /* reverse into path order */
    int x0 = ti[a], y0 = tj[a];
    ti[a] = ti[b], tj[a] = tj[b];
    ti[b] = x0, tj[b] = y0;
  }
  *len = n;
  free(cost), free(trace);
  return 0;
}

/* find_alignment: one timing per word of text (the eot word dropped). */
static int
find_alignment(aud_whisper *w, const aud_tokenizer *tok, const int32_t *sot_seq, int n_sot, const char *lang,
               const int32_t *text, int n_text, int num_frames, timing **out, int *n_out, char *err, size_t errsz)
{
  const aud_tokenizer_specials *sp = aud_tokenizer_get_specials(tok);
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  int L = n_sot + 1 + n_text + 1, V = hp->n_vocab, T = hp->n_audio_ctx;
  int Tn = num_frames / 2;
  *out = NULL;
  *n_out = 0;
  if (Tn < 1 || n_text < 1)
    return 0;
  if (Tn > T)
    Tn = T;
  if (L > hp->n_text_ctx) {
    snprintf(err, errsz, "word alignment: %d tokens exceed the %d-token context", L, hp->n_text_ctx);
    return KERN_E_INVAL;
  }
  int heads[2 * MAX_HEADS];
  int nh = aud_whisper_alignment_heads(w, heads, MAX_HEADS);
  int32_t *toks = malloc((size_t)L * sizeof *toks);
  float *qk = malloc((size_t)nh * (size_t)L * (size_t)T * sizeof *qk);
  float *logits = malloc((size_t)L * (size_t)V * sizeof *logits);
  float *matrix = calloc((size_t)L * (size_t)Tn, sizeof *matrix);
  float *tmp = malloc((size_t)(Tn > L ? Tn : L) * sizeof *tmp);
  double *probs = malloc((size_t)n_text * sizeof *probs);
  int *pi = malloc((size_t)(L + Tn + 2) * sizeof *pi), *pj = malloc((size_t)(L + Tn + 2) * sizeof *pj);
  piece *words = NULL;
  int n_words = 0, rc = 0;
  if (!toks || !qk || !logits || !matrix || !tmp || !probs || !pi || !pj) {
    rc = KERN_E_NOMEM;
    snprintf(err, errsz, "out of memory");
    goto done;
  }
  memcpy(toks, sot_seq, (size_t)n_sot * sizeof *toks);
  toks[n_sot] = sp->no_timestamps;
  memcpy(toks + n_sot + 1, text, (size_t)n_text * sizeof *toks);
  toks[L - 1] = sp->eot;
  if ((rc = aud_whisper_cross_qk(w, 0, toks, L, heads, nh, qk, logits)) != 0) {
    snprintf(err, errsz, "%s", aud_whisper_errmsg(w));
    goto done;
  }
  /* Probability of each text token among text tokens only. */
  for (int i = 0; i < n_text; i++) {
    const float *l = logits + (size_t)(n_sot + i) * (size_t)V;
    double mx = -INFINITY, sum = 0;
    for (int k = 0; k < sp->eot; k++)
      mx = fmax(mx, l[k]);
    for (int k = 0; k < sp->eot; k++)
      sum += exp((double)l[k] - mx);
    probs[i] = text[i] < sp->eot ? exp((double)l[text[i]] - mx) / sum : 0;
  }
  /* Per head: softmax over the window's frames, standardize each frame over
   * the tokens, median filter along time; then the mean over heads. */
  for (int h = 0; h < nh; h++) {
    float *W = qk + (size_t)h * (size_t)L * (size_t)T;
    for (int r = 0; r < L; r++) {
      float *row = W + (size_t)r * (size_t)T;
      double mx = -INFINITY, sum = 0;
      for (int t = 0; t < Tn; t++)
        mx = fmax(mx, row[t]);
      for (int t = 0; t < Tn; t++)
        sum += exp((double)row[t] - mx);
      for (int t = 0; t < Tn; t++)
        row[t] = (float)(exp((double)row[t] - mx) / sum);
    }
    for (int t = 0; t < Tn; t++) {
      double mean = 0, var = 0;
      for (int r = 0; r < L; r++)
        mean += W[(size_t)r * (size_t)T + (size_t)t];
      mean /= L;
      for (int r = 0; r < L; r++) {
        double d = W[(size_t)r * (size_t)T + (size_t)t] - mean;
        var += d * d;
      }
      double sd = sqrt(var / L);
      for (int r = 0; r < L; r++) {
        float *v = &W[(size_t)r * (size_t)T + (size_t)t];
        *v = (float)((*v - mean) / sd);
      }
    }
    for (int r = 0; r < L; r++) {
      median_filter(W + (size_t)r * (size_t)T, Tn, tmp);
      for (int t = 0; t < Tn; t++)
        matrix[(size_t)r * (size_t)Tn + (size_t)t] += W[(size_t)r * (size_t)T + (size_t)t] / (float)nh;
    }
  }
  /* Rows n_sot .. L-2 (no_timestamps and the text), negated. */
  int N = L - 1 - n_sot;
  float *x = matrix + (size_t)n_sot * (size_t)Tn;
  for (size_t k = 0; k < (size_t)N * (size_t)Tn; k++)
    x[k] = -x[k];
  int plen = 0;
  if (dtw(x, N, Tn, pi, pj, &plen)) {
    rc = KERN_E_NOMEM;
    snprintf(err, errsz, "out of memory");
    goto done;
  }
  /* jump_times[k]: the first frame at which the path reaches row k. */
  double *jump = malloc((size_t)N * sizeof *jump);
  if (!jump) {
    rc = KERN_E_NOMEM;
    snprintf(err, errsz, "out of memory");
    goto done;
  }
  int nj = 0;
  for (int k = 0; k < plen && nj < N; k++)
    if (k == 0 || pi[k] != pi[k - 1])
      jump[nj++] = pj[k] / TOKENS_PER_SECOND;

  int32_t *with_eot = malloc((size_t)(n_text + 1) * sizeof *with_eot);
  if (!with_eot || (memcpy(with_eot, text, (size_t)n_text * sizeof *text), with_eot[n_text] = sp->eot,
                    split_words(tok, lang, with_eot, n_text + 1, &words, &n_words))) {
    free(with_eot), free(jump);
    rc = KERN_E_NOMEM;
    snprintf(err, errsz, "out of memory");
    goto done;
  }
  free(with_eot);
  if (n_words > 1) {
    timing *t = calloc((size_t)n_words, sizeof *t);
    int b = 0, n_t = 0;
    for (int i = 0; t && i < n_words - 1; i++) {
      int e = b + words[i].n;
      t[n_t].word = strdup(words[i].text);
      t[n_t].tokens = malloc((size_t)words[i].n * sizeof *t[n_t].tokens);
      if (t[n_t].tokens)
        memcpy(t[n_t].tokens, words[i].tokens, (size_t)words[i].n * sizeof *t[n_t].tokens);
      t[n_t].n_tokens = words[i].n;
      t[n_t].start = b < nj ? jump[b] : (nj ? jump[nj - 1] : 0);
      t[n_t].end = e < nj ? jump[e] : (nj ? jump[nj - 1] : 0);
      double p = 0;
      for (int k = b; k < e && k < n_text; k++)
        p += probs[k];
      t[n_t].probability = e > b ? (float)(p / (e - b)) : 0;
      n_t++;
      b = e;
    }
    *out = t;
    *n_out = t ? n_t : 0;
  }
  free(jump);
done:
  for (int i = 0; i < n_words; i++)
    free(words[i].text), free(words[i].tokens);
  free(words);
  free(toks), free(qk), free(logits), free(matrix), free(tmp), free(probs), free(pi), free(pj);
  return rc;
}

/* ---- merge_punctuations and add_word_timestamps' heuristics ------------- */

static int
in_set(const char *word, const char *const *set)
{
  for (; *set; set++)
    if (strcmp(word, *set) == 0)
      return 1;
  return 0;
}

static void
merge_punctuations(timing *a, int n)
{
  static const char *const prepended[] = { "\"", "'", "\u201c", "\u00bf", "(", "[", "{", "-", NULL };
  static const char *const appended[] = { "\"", "'", ".", "\u3002", ",", "\uff0c", "!", "\uff01", "?", "\uff1f",
                                          ":", "\uff1a", "\u201d", ")", "]", "}", "\u3001", NULL };
  for (int i = n - 2, j = n - 1; i >= 0; i--) {
    timing *prev = &a[i], *next = &a[j];
    const char *stripped = prev->word;
    while (*stripped == ' ')
      stripped++;
    if (prev->word[0] == ' ' && in_set(stripped, prepended)) {
      char *w = malloc(strlen(prev->word) + strlen(next->word) + 1);
      int32_t *tk = malloc((size_t)(prev->n_tokens + next->n_tokens + 1) * sizeof *tk);
      if (!w || !tk) {
        free(w), free(tk);
        continue;
      }
      strcpy(w, prev->word), strcat(w, next->word);
      memcpy(tk, prev->tokens, (size_t)prev->n_tokens * sizeof *tk);
      memcpy(tk + prev->n_tokens, next->tokens, (size_t)next->n_tokens * sizeof *tk);
      free(next->word), free(next->tokens);
      next->word = w, next->tokens = tk, next->n_tokens += prev->n_tokens;
      prev->word[0] = '\0', prev->n_tokens = 0;
    } else {
      j = i;
    }
  }
  for (int i = 0, j = 1; j < n; j++) {
    timing *prev = &a[i], *next = &a[j];
    size_t pl = strlen(prev->word);
    if (!(pl > 0 && prev->word[pl - 1] == ' ') && in_set(next->word, appended)) {
      char *w = malloc(pl + strlen(next->word) + 1);
      int32_t *tk = malloc((size_t)(prev->n_tokens + next->n_tokens + 1) * sizeof *tk);
      if (!w || !tk) {
        free(w), free(tk);
        i = j;
        continue;
      }
      strcpy(w, prev->word), strcat(w, next->word);
      memcpy(tk, prev->tokens, (size_t)prev->n_tokens * sizeof *tk);
      memcpy(tk + prev->n_tokens, next->tokens, (size_t)next->n_tokens * sizeof *tk);
      free(prev->word), free(prev->tokens);
      prev->word = w, prev->tokens = tk, prev->n_tokens += next->n_tokens;
      next->word[0] = '\0', next->n_tokens = 0;
    } else {
      i = j;
    }
  }
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
round2(double x)
{
  return round(x * 100.0) / 100.0;
}

int
_aud_align_words(aud_whisper *w, const aud_tokenizer *tok, const int32_t *sot_seq, int n_sot, const char *lang,
                 aud_segment *segs, int n_segs, double time_offset, int num_frames, double *last_speech, char *err,
                 size_t errsz)
{
  int n_text = 0;
  for (int s = 0; s < n_segs; s++)
    n_text += segs[s].n_tokens;
  if (n_segs == 0 || n_text == 0)
    return 0;
  int32_t *text = malloc((size_t)n_text * sizeof *text);
  if (!text)
    return KERN_E_NOMEM;
  for (int s = 0, k = 0; s < n_segs; s++)
    for (int i = 0; i < segs[s].n_tokens; i++)
      text[k++] = segs[s].tokens[i];
  timing *a = NULL;
  int n = 0;
  int rc = find_alignment(w, tok, sot_seq, n_sot, lang, text, n_text, num_frames, &a, &n, err, errsz);
  free(text);
  if (rc || n == 0) {
    timings_free(a, n);
    return rc;
  }
  /* Median word duration (non-zero ones), capped at 0.7 s. */
  double *dur = malloc((size_t)n * sizeof *dur);
  int nd = 0;
  for (int i = 0; dur && i < n; i++)
    if (a[i].end - a[i].start != 0)
      dur[nd++] = a[i].end - a[i].start;
  double median = 0;
  if (nd > 0) {
    qsort(dur, (size_t)nd, sizeof *dur, cmp_double);
    median = nd % 2 ? dur[nd / 2] : (dur[nd / 2 - 1] + dur[nd / 2]) / 2;
  }
  free(dur);
  if (median > 0.7)
    median = 0.7;
  double max_dur = median * 2;
  static const char *const sentence_end[] = { ".", "\u3002", "!", "\uff01", "?", "\uff1f", NULL };
  if (nd > 0)
    for (int i = 1; i < n; i++)
      if (a[i].end - a[i].start > max_dur) {
        if (in_set(a[i].word, sentence_end))
          a[i].end = a[i].start + max_dur;
        else if (in_set(a[i - 1].word, sentence_end))
          a[i].start = a[i].end - max_dur;
      }
  merge_punctuations(a, n);

  int wi = 0;
  for (int s = 0; s < n_segs; s++) {
    aud_segment *seg = &segs[s];
    int saved = 0, nw = 0;
    aud_word *words = calloc((size_t)n + 1, sizeof *words);
    if (!words) {
      rc = KERN_E_NOMEM;
      break;
    }
    while (wi < n && saved < seg->n_tokens) {
      timing *t = &a[wi];
      if (t->word[0]) {
        words[nw].word = strdup(t->word);
        words[nw].start = round2(time_offset + t->start);
        words[nw].end = round2(time_offset + t->end);
        words[nw].probability = t->probability;
        nw++;
      }
      saved += t->n_tokens;
      wi++;
    }
    if (nw > 0) {
      /* The first word after a pause is not longer than twice the median. */
      if (words[0].end - *last_speech > median * 4 &&
          (words[0].end - words[0].start > max_dur || (nw > 1 && words[1].end - words[0].start > max_dur * 2))) {
        if (nw > 1 && words[1].end - words[1].start > max_dur) {
          double boundary = fmax(words[1].end / 2, words[1].end - max_dur);
          words[0].end = words[1].start = boundary;
        }
        words[0].start = fmax(0, words[0].end - max_dur);
      }
      /* Prefer the segment's own start/end where the first/last word is too long. */
      if (seg->start < words[0].end && seg->start - 0.5 > words[0].start)
        words[0].start = fmax(0, fmin(words[0].end - median, seg->start));
      else
        seg->start = words[0].start;
      if (seg->end > words[nw - 1].start && seg->end + 0.5 < words[nw - 1].end)
        words[nw - 1].end = fmax(words[nw - 1].start + median, seg->end);
      else
        seg->end = words[nw - 1].end;
      *last_speech = seg->end;
    }
    for (int k = 0; k < seg->n_words; k++)
      free(seg->words[k].word);
    free(seg->words);
    seg->words = words;
    seg->n_words = nw;
  }
  timings_free(a, n);
  return rc;
}
