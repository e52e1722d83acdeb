/* llm-sampler.h: picks the next token from a model's logits.
 *
 * The chain is llama.cpp's default order, restricted to these stages:
 *   1. penalties over the last repeat_last_n accepted tokens: repetition
 *      (positive logits divided by repeat_penalty, negative ones multiplied),
 *      then frequency (count * frequency_penalty) and presence
 *      (presence_penalty once per token seen) subtracted;
 *   2. top-k: the k highest logits;
 *   3. top-p: the smallest set of most likely tokens whose probabilities
 *      (softmax of the logits left) add up to at least top_p;
 *   4. min-p: tokens at least min_p times as likely as the most likely;
 *   5. temperature: logits / temperature; then a draw from the softmax with
 *      the sampler's own PRNG (xoshiro256**, seeded through splitmix64), so a
 *      seed gives the same tokens on every machine.
 * temperature <= 0 is greedy: the highest logit after the penalties (ties:
 * the lowest id); no random number is drawn.
 *
 * One sampler serves one thread at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"

#define LLM_SAMPLER_SEED_RANDOM UINT64_MAX /* seed from the system's randomness */

typedef struct {
  float temperature;       /* 0 (or less): greedy */
  int top_k;               /* <= 0: off */
  float top_p;             /* >= 1: off */
  float min_p;             /* <= 0: off */
  float repeat_penalty;    /* 1: off */
  int repeat_last_n;       /* accepted tokens the penalties look at; 0: penalties off */
  float presence_penalty;  /* 0: off */
  float frequency_penalty; /* 0: off */
  uint64_t seed;           /* LLM_SAMPLER_SEED_RANDOM: a fresh one */
} llm_sampler_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0,
 * repeat_last_n 64, presence and frequency 0, seed LLM_SAMPLER_SEED_RANDOM
 * (llama.cpp's defaults). */
llm_sampler_params llm_sampler_default_params(void);

typedef struct llm_sampler llm_sampler;

/* NULL on allocation failure or nonsensical parameters (NaN, negative
 * repeat_last_n, repeat_penalty <= 0). */
llm_sampler *llm_sampler_new(llm_sampler_params p);
void llm_sampler_free(llm_sampler *s);
/* Forgets the history and restarts the PRNG from the seed (a random seed is
 * drawn again when the params asked for one). */
void llm_sampler_reset(llm_sampler *s);
/* The seed in use (the drawn one for LLM_SAMPLER_SEED_RANDOM). */
uint64_t llm_sampler_seed(const llm_sampler *s);

/* The next token for logits[0 .. n_vocab) (not modified). Does not add it to
 * the history: call llm_sampler_accept with the token used. NaN logits count
 * as -inf. Returns the id, or KERN_E_INVAL for NULL logits or n_vocab <= 0,
 * KERN_E_NOMEM. */
int32_t llm_sampler_sample(llm_sampler *s, const float *logits, int n_vocab);
/* Adds a token to the history the penalties see (prompt tokens too, if the
 * caller wants them penalized). */
void llm_sampler_accept(llm_sampler *s, int32_t id);

/* The distribution the next draw would come from: after penalties, filters
 * and temperature, the surviving ids, most likely first (ties: lower id), and
 * their probabilities (greedy: the one best id with 1). Writes at most cap
 * entries and returns how many there are, or KERN_E_INVAL / KERN_E_NOMEM.
 * Draws no random number. */
int llm_sampler_candidates(llm_sampler *s, const float *logits, int n_vocab, int32_t *ids, float *probs, int cap);
