/* llm-session.h: a chat conversation with a language model, streamed.
 *
 * A session owns the conversation (system prompt, user and assistant turns),
 * renders it with the model's chat template, and keeps the model's KV cache
 * in step with it: each new turn decodes only the tokens after the longest
 * prefix already cached, so a conversation costs its new text, not its
 * length. Replies stream through on_text as valid UTF-8 (a character that
 * spans tokens waits for its last byte); generation ends at an end-of-turn
 * token, a stop string (the template's and the caller's, never shown), the
 * token limit, the caller's abort, or the context when nothing can be
 * dropped.
 *
 * Context: when a turn would not fit, the oldest user/assistant turns are
 * dropped (the system prompt stays) and the conversation is rendered again;
 * when a reply itself fills the context, the same happens mid-reply and the
 * reply continues after a re-read of what is kept. (The KV cache is
 * re-evaluated rather than shifted in place.)
 *
 * Threads: a session and its model serve one thread at a time; on_text and
 * should_abort run on the thread that called llm_session_chat, between tokens.
 * Errors: functions return 0 or a negative kern_status; llm_session_errmsg().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "llm-model.h"
#include "llm-sampler.h"
#include "llm-template.h"
#include "llm-tokenizer.h"

typedef struct llm_session llm_session;

typedef struct {
  int chat_template;            /* LLM_TEMPLATE_UNKNOWN: detect from the file's tokenizer.chat_template */
  const char *system;           /* system prompt; NULL: the template's default (if any) */
  llm_sampler_params sampling;
  int n_predict;                /* most tokens per reply; <= 0: until the end of the turn or the context */
  const char *const *stop;      /* extra stop strings, NULL-terminated; may be NULL */

  void (*on_text)(const char *text, size_t len, void *user_data); /* pieces of the reply, valid UTF-8 */
  int (*should_abort)(void *user_data); /* non-zero: stop the reply (it is kept as far as it got) */
  void *user_data;
} llm_session_params;

typedef enum {
  LLM_STOP_NONE = 0,
  LLM_STOP_EOG,       /* end-of-turn / end-of-generation token */
  LLM_STOP_STRING,    /* a stop string */
  LLM_STOP_LIMIT,     /* n_predict tokens */
  LLM_STOP_ABORTED,   /* should_abort */
  LLM_STOP_CONTEXT,   /* the context is full and nothing older can be dropped */
} llm_stop_reason;

typedef struct {
  int n_prompt;        /* tokens decoded before the reply (not those reused from the cache) */
  int n_reused;        /* prompt tokens found in the KV cache */
  double prompt_s;
  int n_gen;           /* tokens generated */
  double gen_s;
  int n_dropped_turns; /* turns dropped to fit the context */
  llm_stop_reason stop;
} llm_session_stats;

llm_session_params llm_session_default_params(void);

/* A session over an open model (borrowed: it must outlive the session). NULL
 * with *err (malloc'd) when the model's tokenizer metadata is unusable or the
 * chat template is unknown and not given. */
llm_session *llm_session_new(llm_model *m, const llm_session_params *p, char **err);
void llm_session_free(llm_session *s);
const char *llm_session_errmsg(const llm_session *s);
const llm_tokenizer *llm_session_tokenizer(const llm_session *s);
int llm_session_template(const llm_session *s);

/* Adds a user turn and generates the assistant's reply (streamed through
 * on_text). *reply (optional) receives the whole reply, malloc'd; *stats
 * (optional) the counts and times. An aborted reply is kept in the
 * conversation as far as it got; returns 0 then too (stats->stop says why).
 * Stopped while the prompt was read (the model's should_abort): KERN_E_ABORTED,
 * and the user turn is not kept. */
int llm_session_chat(llm_session *s, const char *user_text, char **reply, llm_session_stats *stats);

/* An image as the language model reads it: n_tokens embeddings of n_embd
 * values (the model's width), e.g. from vision/'s vis_clip_embed_image. */
typedef struct {
  const float *embd; /* [n_tokens][n_embd] */
  int n_tokens;
  int n_embd;
} llm_image;

/* llm_session_chat with images in the user turn, placed before its text as
 * LLaVA places "<image>\n" (the text around each image is tokenized piece
 * by piece, BOS on the first only). The embeddings are copied: an image is
 * read once, and stays in the KV cache for the questions that follow, until
 * its turn is dropped to fit the context. KERN_E_INVAL when an image's width
 * is not the model's. */
int llm_session_chat_images(llm_session *s, const char *user_text, const llm_image *images, int n_images,
                            char **reply, llm_session_stats *stats);
/* Appends a finished user turn with images without generating (a conversation
 * restored from history); read with the next chat. */
int llm_session_add_turn_images(llm_session *s, const char *user_text, const llm_image *images, int n_images);

/* Appends a finished turn without generating (role "user" or "assistant"),
 * e.g. a conversation restored from history; it is read with the next chat. */
int llm_session_add_turn(llm_session *s, const char *role, const char *content);

/* Forgets the conversation (keeps the system prompt) and the KV cache. */
void llm_session_reset(llm_session *s);
/* Forgets the conversation but not what the KV cache holds: the next
 * conversation reads only what differs from the cached start (the system
 * prompt and template prefix are reused). For many independent questions. */
void llm_session_clear_turns(llm_session *s);
/* Turns in the conversation (system prompt excluded) and positions cached. */
int llm_session_n_turns(const llm_session *s);
int llm_session_n_cached(const llm_session *s);

/* "eog", "stop string", ... for messages. */
const char *llm_stop_reason_name(llm_stop_reason r);
