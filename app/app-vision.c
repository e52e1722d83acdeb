/* app-vision.c: language model + vision tower + session, for image questions. */
#include "app-vision.h"

#include <stdio.h>
#include <string.h>

#include "app-models.h"
#include "kern-cpu.h"
#include "llm-model.h"

/* LLaVA-1.5's system prompt (its conv_vicuna_v1 / conv_llava_v1). */
#define LLAVA_SYSTEM                                                                                                   \
  "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, "  \
  "and polite answers to the human's questions."

struct app_vision {
  app_vision_params p;
  llm_model *m;
  vis_clip *clip;
  llm_session *s;
  char *describe;
  double encode_s;
};

/* 4096 positions, or fewer when the model was trained on fewer (no notice then); `gguf` may be a
 * Hugging Face directory. */
static int
default_ctx(const char *gguf)
{
  int n = 4096;
  kern_weights *w = kern_weights_open(gguf, NULL);
  if (w) {
    const char *arch = kern_weights_get_string(w, "general.architecture", NULL);
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", arch ? arch : "");
    int64_t train = kern_weights_get_int(w, key, 0);
    if (!arch) /* a Hugging Face directory: its (text) config */
      train = kern_weights_get_int(w, "config.text_config.max_position_embeddings",
                                   kern_weights_get_int(w, "config.max_position_embeddings", 0));
    if (train > 0 && train < n)
      n = (int)train;
    kern_weights_close(w);
  }
  return n;
}

app_vision_params
app_vision_default_params(void)
{
  app_vision_params p = { 0 };
  p.device = "auto";
  p.sampling = llm_sampler_default_params();
  p.sampling.temperature = 0;
  return p;
}

void
app_vision_free(app_vision *v)
{
  if (!v)
    return;
  llm_session_free(v->s);
  llm_model_free(v->m);
  vis_clip_free(v->clip);
  g_free(v->describe);
  g_free(v);
}

app_vision *
app_vision_open(const app_vision_params *p, GError **error)
{
  if (!p || !p->model) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no model given");
    return NULL;
  }
  app_vision *v = g_new0(app_vision, 1);
  v->p = *p;
  v->p.model = v->p.mmproj = v->p.system = v->p.device = NULL; /* not kept */
  char *resolved = app_models_resolve(p->model, error), *gguf = NULL, *proj = NULL, *err = NULL;
  if (!resolved)
    goto fail;
  gguf = app_models_find_gguf(resolved, error);
  if (!gguf)
    goto fail;
  proj = p->mmproj ? g_strdup(p->mmproj) : app_models_find_mmproj(resolved);
  if (!proj) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                "%s is a language model without a vision projector beside it; give one with --mmproj", gguf);
    goto fail;
  }

  vis_clip_params cp = vis_clip_default_params();
  cp.device = p->device;
  cp.n_threads = p->n_threads;
  cp.should_abort = p->should_abort;
  cp.user_data = p->user_data;
  v->clip = vis_clip_open(proj, &cp, &err);
  if (!v->clip) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err);
    goto fail;
  }
  llm_model_params mp = llm_model_default_params();
  mp.device = p->device;
  mp.n_threads = p->n_threads;
  mp.n_ctx = p->n_ctx > 0 ? p->n_ctx : default_ctx(gguf);
  mp.on_warning = p->on_warning;
  mp.should_abort = p->should_abort;
  mp.user_data = p->user_data;
  v->m = llm_model_open(gguf, &mp, &err);
  if (!v->m) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err);
    goto fail;
  }
  const vis_clip_hparams *chp = vis_clip_get_hparams(v->clip);
  const llm_hparams *lhp = llm_model_hparams(v->m);
  if (chp->projector == VIS_PROJ_NONE || chp->n_out != lhp->n_embd) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "%s gives image embeddings of %d values, but %s reads %d: they are not made for each other", proj,
                chp->n_out, gguf, lhp->n_embd);
    goto fail;
  }
  if (chp->n_tokens + 16 > lhp->n_ctx) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "an image takes %d positions; the context holds %d",
                chp->n_tokens, lhp->n_ctx);
    goto fail;
  }

  llm_session_params sp = llm_session_default_params();
  const char *jinja = kern_weights_get_string(llm_model_weights(v->m), "tokenizer.chat_template", NULL);
  int llava = llm_template_detect(jinja) == LLM_TEMPLATE_UNKNOWN;
  sp.chat_template = llava ? LLM_TEMPLATE_LLAVA : LLM_TEMPLATE_UNKNOWN;
  sp.system = p->system ? p->system : llava ? LLAVA_SYSTEM : NULL;
  sp.sampling = p->sampling;
  sp.n_predict = p->n_predict;
  sp.on_text = p->on_text;
  sp.should_abort = p->should_abort;
  sp.user_data = p->user_data;
  v->s = llm_session_new(v->m, &sp, &err);
  if (!v->s) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", gguf, err);
    goto fail;
  }
  v->describe = g_strdup_printf("%s (%s, %d layers, %s template) + %s (%dpx, %d image tokens) on %s", gguf, lhp->arch,
                                lhp->n_layer, llm_template_name(llm_session_template(v->s)), proj, chp->image_size,
                                chp->n_tokens, llm_model_backend_name(v->m));
  g_free(resolved), g_free(gguf), g_free(proj);
  return v;

fail:
  free(err);
  g_free(resolved), g_free(gguf), g_free(proj);
  app_vision_free(v);
  return NULL;
}

/* Decodes (unless given) and encodes images[0..n): *embd (g_free) holds their
 * embeddings and imgs[0..n) point into it. FALSE with *error naming the file. */
static gboolean
encode_images(app_vision *v, const char *const *paths, const vis_image *given, int n, float **embd_out,
              llm_image *imgs, GError **error)
{
  const vis_clip_hparams *hp = vis_clip_get_hparams(v->clip);
  size_t per = (size_t)hp->n_tokens * (size_t)hp->n_out;
  float *embd = n > 0 ? g_try_malloc((size_t)n * per * sizeof(float)) : NULL;
  *embd_out = embd;
  if (n > 0 && !embd) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "out of memory for %d images", n);
    return FALSE;
  }
  double t0 = kern_clock_s();
  gboolean ok = TRUE;
  for (int i = 0; ok && i < n; i++) {
    vis_image img = { 0 };
    const vis_image *use = given;
    if (!given) {
      char *err = NULL;
      int rc = vis_image_load(paths[i], NULL, &img, &err);
      if (rc != 0) {
        g_set_error(error, G_IO_ERROR, rc == KERN_E_IO ? G_IO_ERROR_NOT_FOUND : G_IO_ERROR_INVALID_DATA, "%s",
                    err ? err : paths[i]);
        free(err);
        ok = FALSE;
        break;
      }
      use = &img;
    }
    int rc = vis_clip_embed_image(v->clip, use, embd + (size_t)i * per);
    vis_image_clear(&img);
    if (rc != 0) {
      g_set_error(error, G_IO_ERROR, rc == KERN_E_ABORTED ? G_IO_ERROR_CANCELLED : G_IO_ERROR_FAILED, "%s%s%s",
                  given ? "" : paths[i], given ? "" : ": ", vis_clip_errmsg(v->clip));
      ok = FALSE;
      break;
    }
    imgs[i] = (llm_image){ embd + (size_t)i * per, hp->n_tokens, hp->n_out };
  }
  v->encode_s = kern_clock_s() - t0;
  return ok;
}

/* Encodes images[0..n) (decoded or given) and asks. */
static gboolean
ask(app_vision *v, const char *const *paths, const vis_image *given, int n, const char *question, char **answer,
    llm_session_stats *stats, GError **error)
{
  float *embd = NULL;
  llm_image *imgs = g_new0(llm_image, n > 0 ? n : 1);
  gboolean ok = encode_images(v, paths, given, n, &embd, imgs, error);
  if (ok) {
    char *reply = NULL;
    llm_session_stats st = { 0 };
    int rc = llm_session_chat_images(v->s, question, imgs, n, &reply, &st);
    if (rc == KERN_E_ABORTED || (rc == 0 && st.stop == LLM_STOP_ABORTED)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stopped");
      ok = FALSE;
    } else if (rc != 0) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", llm_session_errmsg(v->s));
      ok = FALSE;
    }
    if (answer)
      *answer = ok && reply ? g_strdup(reply) : NULL;
    free(reply);
    if (stats)
      *stats = st;
  }
  g_free(imgs);
  g_free(embd);
  return ok;
}

gboolean
app_vision_add_turn(app_vision *v, const char *role, const char *text, const char *const *images, int n,
                    GError **error)
{
  if (!role || !text || (strcmp(role, "user") && strcmp(role, "assistant")) || (n > 0 && strcmp(role, "user"))) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "a turn is a user's (with images or not) or an "
                                                                "assistant's text");
    return FALSE;
  }
  if (n == 0 && llm_session_add_turn(v->s, role, text) == 0)
    return TRUE;
  if (n == 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", llm_session_errmsg(v->s));
    return FALSE;
  }
  float *embd = NULL;
  llm_image *imgs = g_new0(llm_image, n);
  gboolean ok = encode_images(v, images, NULL, n, &embd, imgs, error);
  if (ok && llm_session_add_turn_images(v->s, text, imgs, n) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", llm_session_errmsg(v->s));
    ok = FALSE;
  }
  g_free(imgs);
  g_free(embd);
  return ok;
}

gboolean
app_vision_ask(app_vision *v, const char *const *images, int n, const char *question, char **answer,
               llm_session_stats *stats, GError **error)
{
  if (answer)
    *answer = NULL;
  return ask(v, images, NULL, n, question, answer, stats, error);
}

gboolean
app_vision_ask_image(app_vision *v, const vis_image *img, const char *question, char **answer,
                     llm_session_stats *stats, GError **error)
{
  if (answer)
    *answer = NULL;
  return ask(v, NULL, img, 1, question, answer, stats, error);
}

void
app_vision_forget(app_vision *v)
{
  llm_session_clear_turns(v->s);
}

const char *
app_vision_describe(const app_vision *v)
{
  return v->describe;
}

double
app_vision_last_encode_s(const app_vision *v)
{
  return v->encode_s;
}
