/* llm-test-model.h: a small random chat model for the tests (see the .c). */
#pragma once

/* Writes the model to `path`, with the vocabulary of the vocab-only GGUF at
 * `vocab_path`. Aborts the test on failure. */
void llm_test_make_model(const char *vocab_path, const char *path);
