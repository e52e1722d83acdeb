/* llm-hf.h: a Hugging Face causal language model directory, seen as the GGUF
 * a converter would make of it.
 *
 * Reads LlamaForCausalLM and MistralForCausalLM directories and the language
 * model inside a LlavaForConditionalGeneration one (config.json's
 * text_config; tensors under "model.language_model.", "language_model.model."
 * or "model."), with the SentencePiece tokenizer beside them (tokenizer.model,
 * added tokens from tokenizer_config.json / added_tokens.json, the chat
 * template from chat_template.jinja / chat_template.json /
 * tokenizer_config.json). The result has llama.cpp's llama layout: GGUF
 * metadata keys, blk.N.* tensor names, and the query and key rows of each head
 * reordered from Hugging Face's rotate-half order to the interleaved pairs
 * GGUF models rotate (those two matrices are copied; every other tensor points
 * into the safetensors mapping). llm_model_open and llm_tokenizer_new read it
 * like a GGUF file, and kern_gguf_add_converted writes it out as one.
 *
 * Not read: tokenizer.json-only (byte-level BPE) tokenizers such as Llama 3's
 * and Qwen's, Llama 3 RoPE scaling, biases in the MLP, activations other than
 * SiLU: each is an error naming the directory and what is missing.
 */
#pragma once

#include "kern-weights.h"

/* `hf` (an opened safetensors directory or file; taken over, closed on
 * failure too) -> a view in GGUF layout. NULL with *err (malloc'd "PATH:
 * problem") when it is not a causal language model this reads. */
kern_weights *llm_hf_view(kern_weights *hf, char **err);

/* Writes the language model at `in` (a Hugging Face directory as above, or a
 * GGUF language model to requantize) as a GGUF file at `out`: its metadata
 * (the tokenizer's included), matrices as `type` (F32, F16, BF16 or a
 * quantized type; F16 where a matrix's rows do not divide into its blocks),
 * vectors (norms, biases) as F32. 0, or a kern_status with *err (malloc'd):
 * KERN_E_INVAL when `in` holds no language model (a vision tower alone,
 * Whisper, other weights), KERN_E_FORMAT when it is a malformed one or one
 * this does not read. */
int llm_convert_gguf(const char *in, const char *out, int type, char **err);
