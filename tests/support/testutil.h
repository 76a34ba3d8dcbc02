/* tests/support/testutil.h: helpers shared by the cmocka tests.
 *
 * sso_test_tmpdir(): the scratch folder CTest gives this test (SSO_TEST_TMP), created if missing,
 * or a fresh mkdtemp folder when run by hand. sso_test_path(): a file path inside it.
 * SSO_TEST_SKIP_EXIT (77) is the exit code CTest reports as SKIPPED (gpu tests without a device).
 */
#ifndef SSO_TESTUTIL_H
#define SSO_TESTUTIL_H

#include <stddef.h>

#define SSO_TEST_SKIP_EXIT 77

const char *sso_test_tmpdir(void);
/* Writes "<tmpdir>/<name>" into buf (size n) and returns buf. */
char *sso_test_path(char *buf, size_t n, const char *name);
/* Runs a shell command; returns its exit status (or -1). */
int sso_test_system(const char *fmt, ...);

#endif
