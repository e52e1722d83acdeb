/* test-util.h: helpers shared by the app and ui tests. */
#pragma once

/* Deletes `path` and everything below it (symbolic links are removed, not
 * followed). For the tests' own temporary folders. */
void test_remove_tree(const char *path);
