/* llm-info.c: what this build of the language-model library can do. */
#include "llm.h"

const char *
llm_build_info(void)
{
  /* Grows as the GGUF decoder and tokenizers land. */
  return "llm: language models not built";
}
