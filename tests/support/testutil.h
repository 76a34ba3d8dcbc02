/* tests/support/testutil.h: helpers shared by the cmocka tests.
 *
 * sso_test_tmpdir(): the scratch folder CTest gives this test (SSO_TEST_TMP), created if missing,
 * or a fresh mkdtemp folder when run by hand. sso_test_path(): a file path inside it.
 * SSO_TEST_SKIP_EXIT (77) is the exit code CTest reports as SKIPPED (gpu tests without a device).
 * sso_test_uni()/sso_test_gauss(): a xorshift64 stream (state *s, seeded by the test) as uniform
 * [0, 1) and Box-Muller normal deviates, for the parity tests' random inputs.
 */
#ifndef SSO_TESTUTIL_H
#define SSO_TESTUTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define SSO_TEST_SKIP_EXIT 77

const char *sso_test_tmpdir(void);
/* Writes "<tmpdir>/<name>" into buf (size n) and returns buf. */
char *sso_test_path(char *buf, size_t n, const char *name);
/* Runs a shell command; returns its exit status (or -1). */
int sso_test_system(const char *fmt, ...);

static inline double sso_test_uni(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) * 0x1.0p-53;
}

static inline double sso_test_gauss(uint64_t *s)
{
    const double u = sso_test_uni(s), v = sso_test_uni(s);
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

#endif
