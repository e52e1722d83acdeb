/* test-util.h: helpers shared by the app and ui tests. */
#pragma once

/* Deletes `path` and everything below it (symbolic links are removed, not
 * followed). For the tests' own temporary folders. */
void test_remove_tree(const char *path);

/* Model installs from tests/fake-pip's wheels, never the network: sets
 * HARK_PIP and HARK_FAKE_WHEELS, and HARK_CATALOG to tests/data/models/<catalog>
 * (catalog NULL: leaves HARK_CATALOG alone). After g_test_init. */
void test_use_fake_pip(const char *catalog);
