/* llm.h: public header of the llm/ engine library.
 *
 * The LLaMA-family decoder, tokenizers, chat templates, sampler and sessions.
 * Never includes GTK; errors are kern_status codes with a message (see kern-error.h).
 */
#pragma once

#include "kern-error.h"

/* One line naming what this build of the llm/ library supports
 * (GGUF language models); static storage, never NULL. */
const char *llm_build_info(void);
