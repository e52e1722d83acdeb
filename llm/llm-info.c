/* llm-info.c: what this build of the language-model library can do. */
#include "llm.h"

const char *
llm_build_info(void)
{
  return "llm: GGUF llama, mistral, qwen2, gemma3; SentencePiece and byte-level BPE tokenizers; "
         "chat templates chatml, llama2, llama3, mistral, vicuna, gemma, phi3";
}
