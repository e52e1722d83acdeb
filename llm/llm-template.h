/* llm-template.h: chat prompt formats of the common model families.
 *
 * A GGUF's tokenizer.chat_template is Jinja; rather than run Jinja, the
 * family is recognised by the markers its template prints, and each family
 * is rendered here as its reference template renders it (checked byte for
 * byte against transformers' renderer, tests/data/llm/template-golden.txt):
 *
 *   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n ...         (SmolLM, Qwen, Hermes)
 *   llama2   <s>[INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] ANSWER </s>   (contents stripped)
 *   llama3   <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> (trimmed)
 *   mistral  <s>[INST] USER [/INST]ANSWER</s>                  (no system role: see below)
 *   vicuna   SYSTEM\n\nUSER: ...\nASSISTANT: ...</s>\n          (llama.cpp's layout)
 *   gemma    <bos><start_of_turn>user\n[SYSTEM\n\n]USER<end_of_turn>\n<start_of_turn>model\n... (trimmed)
 *   phi3     <|ROLE|>\nCONTENT<|end|>\n ... and <|endoftext|> unless a generation prompt follows
 *   llava    SYSTEM USER: CONTENT ASSISTANT: ANSWER</s>USER: ...  (LLaVA v1 / Vicuna v1 as LLaVA-1.5
 *            was trained; never detected from a chat_template: the vision CLI picks it)
 *
 * System prompts: native for chatml, llama3, vicuna, phi3; folded into the
 * first user turn by llama2 (<<SYS>>) and gemma (Gemma 3's "SYSTEM\n\n");
 * mistral, whose template refuses a system role, gets "SYSTEM\n\n" before the
 * first user message. Roles other than system/user/assistant are rendered as
 * the family's template would print them (chatml, llama3: verbatim) or as
 * user turns. Where the rendering starts with the BOS token's text
 * (llm_template_bos_text), tokenize it without adding another BOS
 * (add_special = 0) and with parse_special = 1.
 */
#pragma once

#include <stddef.h>

typedef enum {
  LLM_TEMPLATE_UNKNOWN = 0,
  LLM_TEMPLATE_CHATML,
  LLM_TEMPLATE_LLAMA2,
  LLM_TEMPLATE_LLAMA3,
  LLM_TEMPLATE_MISTRAL,
  LLM_TEMPLATE_VICUNA,
  LLM_TEMPLATE_GEMMA,
  LLM_TEMPLATE_PHI3,
  LLM_TEMPLATE_LLAVA,
  LLM_TEMPLATE_COUNT_,
} llm_template;

typedef struct {
  const char *role;    /* "system", "user", "assistant" */
  const char *content; /* UTF-8 */
} llm_chat_msg;

/* The family a Jinja chat template (tokenizer.chat_template) belongs to, by
 * its distinctive markers; LLM_TEMPLATE_UNKNOWN for NULL or none found. */
int llm_template_detect(const char *jinja);
/* "chatml", "llama2", "llama3", "mistral", "vicuna", "gemma", "phi3", "llava"
 * (case-insensitive) -> the family; LLM_TEMPLATE_UNKNOWN otherwise. */
int llm_template_from_name(const char *name);
/* The family's name as llm_template_from_name takes it; "unknown" otherwise. Static. */
const char *llm_template_name(int tmpl);

/* The prompt for msgs[0 .. n); add_generation_prompt opens the assistant's
 * turn where the family has such a prefix (llama2 and mistral have none:
 * their prompt already ends with [/INST]). Returns a malloc'd NUL-terminated
 * string, or NULL for an unknown family, NULL arguments or no memory. */
char *llm_template_apply(int tmpl, const llm_chat_msg *msgs, size_t n, int add_generation_prompt);

/* Strings that end the assistant's turn when they appear in generated text
 * (for models that print them instead of an end-of-generation token);
 * NULL-terminated, static. An empty list for an unknown family. */
const char *const *llm_template_stops(int tmpl);

/* The BOS token text the rendering begins with ("<s>", "<|begin_of_text|>",
 * "<bos>"), or NULL when it begins with none. Static. */
const char *llm_template_bos_text(int tmpl);

/* The system prompt a ChatML template inserts when the conversation has
 * none (SmolLM2's "You are a helpful AI assistant named SmolLM, ..."), as a
 * malloc'd string; NULL when the template has none. Prepend it as a system
 * message to render what the template would. */
char *llm_template_default_system(const char *jinja);
