/* app-vision.h: image questions and captions, the controller behind `hark ask`,
 * `hark caption` and the window's image messages.
 *
 * Holds a language model, its vision tower + projector and a chat session:
 * images are decoded (vision/vis-image), encoded once (vis_clip), and their
 * embeddings spliced into the conversation at the template's image place;
 * follow-up questions read the images from the KV cache, not the tower.
 *
 * Models: -m is a catalog name, a GGUF language model, or a directory holding
 * one (a catalog install: the language model and an mmproj*.gguf beside it);
 * the projector is --mmproj (an mmproj GGUF or a Hugging Face LLaVA / CLIP
 * directory) or the mmproj file found beside the model. A model without a
 * chat template (llama.cpp's LLaVA-1.5 files have none) is prompted as LLaVA-1.5
 * ("SYSTEM USER: <image>\nQUESTION ASSISTANT:") with LLaVA's system prompt.
 *
 * Threads: blocking calls; one app_vision serves one thread at a time. The
 * callbacks run on the calling thread.
 */
#pragma once

#include <gio/gio.h>

#include "llm-session.h"
#include "vis-clip.h"

G_BEGIN_DECLS

typedef struct app_vision app_vision;

typedef struct {
  const char *model;  /* catalog name, GGUF file or directory (required) */
  const char *mmproj; /* NULL: an mmproj*.gguf beside the model */
  const char *device; /* "auto", "cpu", "cuda[:N]" */
  int n_threads;
  int n_ctx;          /* 0: 4096 or the model's, as memory allows */
  const char *system; /* NULL: the template's (LLaVA's for LLaVA) */
  int n_predict;      /* most tokens per answer; <= 0: until the turn ends */
  llm_sampler_params sampling;
  void (*on_text)(const char *text, size_t len, void *user_data); /* the answer as it comes */
  void (*on_warning)(const char *msg, void *user_data);
  int (*should_abort)(void *user_data); /* stops encoding or the answer */
  void *user_data;
} app_vision_params;

/* Greedy sampling (temperature 0), no token limit, "auto" device. */
app_vision_params app_vision_default_params(void);

app_vision *app_vision_open(const app_vision_params *p, GError **error);
void app_vision_free(app_vision *v);

/* Asks `question` about images[0..n) (files; n may be 0 for a follow-up about
 * the images already in the conversation). The answer streams through
 * on_text and is returned in *answer (g_free; may be NULL). An image that
 * cannot be read fails the call before anything is asked, with a message
 * naming the file; the conversation is unchanged. Stopped by should_abort:
 * FALSE with G_IO_ERROR_CANCELLED. *stats (optional) as llm_session_chat's. */
gboolean app_vision_ask(app_vision *v, const char *const *images, int n, const char *question, char **answer,
                        llm_session_stats *stats, GError **error);

/* The same with an image already in memory (a pasted picture). */
gboolean app_vision_ask_image(app_vision *v, const vis_image *img, const char *question, char **answer,
                              llm_session_stats *stats, GError **error);

/* Appends a finished turn without generating, e.g. a conversation restored
 * from history: a user's text with its images (files, encoded now; n may be
 * 0), or an assistant's text (n = 0). The next ask reads them with its
 * question. FALSE with *error naming an unreadable image. */
gboolean app_vision_add_turn(app_vision *v, const char *role, const char *text, const char *const *images, int n,
                             GError **error);

/* Forgets the conversation (the KV cache's common prefix is kept for reuse). */
void app_vision_forget(app_vision *v);

/* Paths and what runs where, for messages: "LLM (arch, N layers) + mmproj on cpu". */
const char *app_vision_describe(const app_vision *v);
/* Seconds the last ask spent decoding and encoding images. */
double app_vision_last_encode_s(const app_vision *v);

G_END_DECLS
