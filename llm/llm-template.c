/* llm-template.c: chat prompt formats (see llm-template.h). Each family's
 * renderer follows its reference Jinja template statement by statement,
 * including where it strips or trims content (Python's str.strip()). */
#include "llm-template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const names[LLM_TEMPLATE_COUNT_] = {
  [LLM_TEMPLATE_UNKNOWN] = "unknown", [LLM_TEMPLATE_CHATML] = "chatml", [LLM_TEMPLATE_LLAMA2] = "llama2",
  [LLM_TEMPLATE_LLAMA3] = "llama3",   [LLM_TEMPLATE_MISTRAL] = "mistral", [LLM_TEMPLATE_VICUNA] = "vicuna",
  [LLM_TEMPLATE_GEMMA] = "gemma",     [LLM_TEMPLATE_PHI3] = "phi3",
  [LLM_TEMPLATE_LLAVA] = "llava",
};

int
llm_template_detect(const char *j)
{
  if (!j)
    return LLM_TEMPLATE_UNKNOWN;
  if (strstr(j, "<|im_start|>"))
    return LLM_TEMPLATE_CHATML;
  if (strstr(j, "<|start_header_id|>") && strstr(j, "<|end_header_id|>"))
    return LLM_TEMPLATE_LLAMA3;
  if (strstr(j, "<start_of_turn>"))
    return LLM_TEMPLATE_GEMMA;
  if (strstr(j, "<|user|>") && strstr(j, "<|end|>"))
    return LLM_TEMPLATE_PHI3;
  if (strstr(j, "[INST]"))
    return strstr(j, "<<SYS>>") ? LLM_TEMPLATE_LLAMA2 : LLM_TEMPLATE_MISTRAL;
  if (strstr(j, "USER: ") && strstr(j, "ASSISTANT: "))
    return LLM_TEMPLATE_VICUNA;
  return LLM_TEMPLATE_UNKNOWN;
}

int
llm_template_from_name(const char *name)
{
  if (!name)
    return LLM_TEMPLATE_UNKNOWN;
  for (int i = 1; i < LLM_TEMPLATE_COUNT_; i++)
    if (strcasecmp(name, names[i]) == 0)
      return i;
  return LLM_TEMPLATE_UNKNOWN;
}

const char *
llm_template_name(int tmpl)
{
  return tmpl > 0 && tmpl < LLM_TEMPLATE_COUNT_ ? names[tmpl] : names[0];
}

const char *const *
llm_template_stops(int tmpl)
{
  static const char *const none[] = { NULL };
  static const char *const chatml[] = { "<|im_end|>", "<|im_start|>", NULL };
  static const char *const llama2[] = { "</s>", "[INST]", NULL };
  static const char *const llama3[] = { "<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", NULL };
  static const char *const vicuna[] = { "</s>", "\nUSER:", NULL };
  static const char *const gemma[] = { "<end_of_turn>", "<start_of_turn>", NULL };
  static const char *const phi3[] = { "<|end|>", "<|endoftext|>", "<|user|>", NULL };
  static const char *const llava[] = { "</s>", "USER:", NULL };
  switch (tmpl) {
  case LLM_TEMPLATE_CHATML:
    return chatml;
  case LLM_TEMPLATE_LLAMA2:
  case LLM_TEMPLATE_MISTRAL:
    return llama2;
  case LLM_TEMPLATE_LLAMA3:
    return llama3;
  case LLM_TEMPLATE_VICUNA:
    return vicuna;
  case LLM_TEMPLATE_GEMMA:
    return gemma;
  case LLM_TEMPLATE_PHI3:
    return phi3;
  case LLM_TEMPLATE_LLAVA:
    return llava;
  default:
    return none;
  }
}

const char *
llm_template_bos_text(int tmpl)
{
  switch (tmpl) {
  case LLM_TEMPLATE_LLAMA2:
  case LLM_TEMPLATE_MISTRAL:
    return "<s>";
  case LLM_TEMPLATE_LLAMA3:
    return "<|begin_of_text|>";
  case LLM_TEMPLATE_GEMMA:
    return "<bos>";
  default:
    return NULL;
  }
}

/* --- output buffer --------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t n, cap;
  int failed;
} buf;

static void
put_n(buf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n + 1)
      nc *= 2;
    char *p = realloc(b->s, nc);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->s = p;
    b->cap = nc;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

static void
put(buf *b, const char *s)
{
  put_n(b, s, strlen(s));
}

/* --- Python's str.strip() ---------------------------------------------------------- */

/* str.isspace(): the whitespace Python strips (White_Space plus U+001C..U+001F) */
static int
py_space(uint32_t c)
{
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* code point starting at s[i] (valid UTF-8 assumed; a stray byte is itself) and its length */
static uint32_t
cp_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
  unsigned char c = s[i];
  size_t l = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (i + l > n)
    l = 1;
  *len = l;
  if (l == 1)
    return c;
  uint32_t v = c & (0x7F >> l);
  for (size_t k = 1; k < l; k++)
    v = (v << 6) | (s[i + k] & 0x3F);
  return v;
}

static void
put_stripped(buf *b, const char *str)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str), a = 0, z = n, l;
  while (a < n && py_space(cp_at(s, n, a, &l)))
    a += l;
  /* from the end: step back to the start of each code point */
  while (z > a) {
    size_t st = z - 1;
    while (st > a && (s[st] & 0xC0) == 0x80 && z - st < 4)
      st--;
    if (!py_space(cp_at(s, n, st, &l)) || st + l != z)
      break;
    z = st;
  }
  put_n(b, str + a, z - a);
}

static const char *
role_of(const llm_chat_msg *m)
{
  return m->role ? m->role : "user";
}

static int
is_role(const llm_chat_msg *m, const char *r)
{
  return strcmp(role_of(m), r) == 0;
}

static const char *
content_of(const llm_chat_msg *m)
{
  return m->content ? m->content : "";
}

/* --- families ---------------------------------------------------------------------- */

static void
render_chatml(buf *b, const llm_chat_msg *m, size_t n, int gen)
{
  for (size_t i = 0; i < n; i++) {
    put(b, "<|im_start|>");
    put(b, role_of(&m[i]));
    put(b, "\n");
    put(b, content_of(&m[i]));
    put(b, "<|im_end|>\n");
  }
  if (gen)
    put(b, "<|im_start|>assistant\n");
}

static void
render_llama2(buf *b, const llm_chat_msg *m, size_t n)
{
  const char *sys = NULL;
  if (n && is_role(&m[0], "system")) {
    sys = content_of(&m[0]);
    m++, n--;
  }
  for (size_t i = 0; i < n; i++) {
    buf content = { 0 };
    if (i == 0 && sys) {
      put(&content, "<<SYS>>\n");
      put(&content, sys);
      put(&content, "\n<</SYS>>\n\n");
    }
    put(&content, content_of(&m[i]));
    if (content.failed) {
      b->failed = 1;
      free(content.s);
      return;
    }
    const char *c = content.s ? content.s : "";
    if (is_role(&m[i], "assistant")) {
      put(b, " ");
      put_stripped(b, c);
      put(b, " </s>");
    } else {
      put(b, "<s>[INST] ");
      put_stripped(b, c);
      put(b, " [/INST]");
    }
    free(content.s);
  }
}

static void
render_llama3(buf *b, const llm_chat_msg *m, size_t n, int gen)
{
  for (size_t i = 0; i < n; i++) {
    if (i == 0)
      put(b, "<|begin_of_text|>");
    put(b, "<|start_header_id|>");
    put(b, role_of(&m[i]));
    put(b, "<|end_header_id|>\n\n");
    put_stripped(b, content_of(&m[i]));
    put(b, "<|eot_id|>");
  }
  if (gen)
    put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void
render_mistral(buf *b, const llm_chat_msg *m, size_t n)
{
  const char *sys = NULL;
  if (n && is_role(&m[0], "system")) {
    sys = content_of(&m[0]);
    m++, n--;
  }
  put(b, "<s>");
  for (size_t i = 0; i < n; i++) {
    if (is_role(&m[i], "assistant")) {
      put(b, content_of(&m[i]));
      put(b, "</s>");
    } else {
      put(b, "[INST] ");
      if (sys) {
        put(b, sys);
        put(b, "\n\n");
        sys = NULL;
      }
      put(b, content_of(&m[i]));
      put(b, " [/INST]");
    }
  }
}

static void
render_vicuna(buf *b, const llm_chat_msg *m, size_t n, int gen)
{
  for (size_t i = 0; i < n; i++) {
    if (is_role(&m[i], "system")) {
      put(b, content_of(&m[i]));
      put(b, "\n\n");
    } else if (is_role(&m[i], "assistant")) {
      put(b, "ASSISTANT: ");
      put(b, content_of(&m[i]));
      put(b, "</s>\n");
    } else {
      put(b, "USER: ");
      put(b, content_of(&m[i]));
      put(b, "\n");
    }
  }
  if (gen)
    put(b, "ASSISTANT:");
}

/* LLaVA v1 (the Vicuna v1 conversation LLaVA-1.5 was trained on):
 * "SYSTEM USER: Q ASSISTANT: A</s>USER: Q2 ASSISTANT:". */
static void
render_llava(buf *b, const llm_chat_msg *m, size_t n, int gen)
{
  size_t i = 0;
  if (n && is_role(&m[0], "system")) {
    put(b, content_of(&m[0]));
    put(b, " ");
    i = 1;
  }
  for (; i < n; i++) {
    if (is_role(&m[i], "assistant")) {
      put(b, "ASSISTANT: ");
      put(b, content_of(&m[i]));
      put(b, "</s>");
    } else {
      put(b, "USER: ");
      put(b, content_of(&m[i]));
      put(b, " ");
    }
  }
  if (gen)
    put(b, "ASSISTANT:");
}

static void
render_gemma(buf *b, const llm_chat_msg *m, size_t n, int gen)
{
  const char *sys = NULL;
  put(b, "<bos>");
  if (n && is_role(&m[0], "system")) {
    sys = content_of(&m[0]);
    m++, n--;
  }
  for (size_t i = 0; i < n; i++) {
    put(b, "<start_of_turn>");
    put(b, is_role(&m[i], "assistant") ? "model" : "user");
    put(b, "\n");
    if (i == 0 && sys) {
      put(b, sys);
      put(b, "\n\n");
    }
    put_stripped(b, content_of(&m[i]));
    put(b, "<end_of_turn>\n");
  }
  if (gen)
    put(b, "<start_of_turn>model\n");
}

static void
render_phi3(buf *b, const llm_chat_msg *m, size_t n, int gen)
{
  for (size_t i = 0; i < n; i++) {
    put(b, is_role(&m[i], "system") ? "<|system|>\n" : is_role(&m[i], "assistant") ? "<|assistant|>\n" : "<|user|>\n");
    put(b, content_of(&m[i]));
    put(b, "<|end|>\n");
  }
  put(b, gen ? "<|assistant|>\n" : "<|endoftext|>");
}

char *
llm_template_apply(int tmpl, const llm_chat_msg *msgs, size_t n, int add_generation_prompt)
{
  if ((!msgs && n) || tmpl <= LLM_TEMPLATE_UNKNOWN || tmpl >= LLM_TEMPLATE_COUNT_)
    return NULL;
  buf b = { 0 };
  put(&b, ""); /* an empty conversation still gives a string */
  switch (tmpl) {
  case LLM_TEMPLATE_CHATML:
    render_chatml(&b, msgs, n, add_generation_prompt);
    break;
  case LLM_TEMPLATE_LLAMA2:
    render_llama2(&b, msgs, n);
    break;
  case LLM_TEMPLATE_LLAMA3:
    render_llama3(&b, msgs, n, add_generation_prompt);
    break;
  case LLM_TEMPLATE_MISTRAL:
    render_mistral(&b, msgs, n);
    break;
  case LLM_TEMPLATE_VICUNA:
    render_vicuna(&b, msgs, n, add_generation_prompt);
    break;
  case LLM_TEMPLATE_GEMMA:
    render_gemma(&b, msgs, n, add_generation_prompt);
    break;
  case LLM_TEMPLATE_PHI3:
    render_phi3(&b, msgs, n, add_generation_prompt);
    break;
  case LLM_TEMPLATE_LLAVA:
    render_llava(&b, msgs, n, add_generation_prompt);
    break;
  }
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

char *
llm_template_default_system(const char *j)
{
  /* the literal '<|im_start|>system' + newline (raw or \n escaped) + TEXT + '<|im_end|>',
   * printed only when the conversation lacks a system message */
  static const char open[] = "<|im_start|>system";
  if (!j || !strstr(j, "!= 'system'"))
    return NULL;
  for (const char *p = strstr(j, open); p; p = strstr(p + 1, open)) {
    const char *q = p + sizeof open - 1;
    if (*q == '\n')
      q++;
    else if (q[0] == '\\' && q[1] == 'n')
      q += 2;
    else
      continue;
    const char *end = strstr(q, "<|im_end|>");
    if (!end || end == q)
      continue;
    /* message text comes from a message variable, not a literal: skip "' + " forms */
    if (memchr(q, '\'', (size_t)(end - q)) || memchr(q, '{', (size_t)(end - q)))
      continue;
    char *out = malloc((size_t)(end - q) + 1);
    if (!out)
      return NULL;
    size_t o = 0;
    for (const char *s = q; s < end; s++) {
      if (s[0] == '\\' && s + 1 < end && s[1] == 'n') {
        out[o++] = '\n';
        s++;
      } else {
        out[o++] = *s;
      }
    }
    out[o] = '\0';
    return out;
  }
  return NULL;
}
