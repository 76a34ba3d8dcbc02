/* tests/test_alert_replay_req.c: the replay request parser (alerts/replay.c) on good and hostile
 * input: every accepted form gives the exact numbers; overflow, signs, control bytes, NULs, double
 * spaces, wrong verbs, bad limits, impossible times and random bytes are rejected with SSO_ERR_ARG
 * (ASan watches for reads past the buffer: inputs are copied into exact-size heap blocks). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sso/sso.h"

static sso_status parse(const char *s, size_t n, sso_replay_req *r)
{
    char *b = malloc(n ? n : 1);
    memcpy(b, s, n);
    sso_status st = sso_replay_request_parse(b, n, r);
    free(b);
    return st;
}

static void test_good(void **state)
{
    (void)state;
    sso_replay_req r;
    assert_int_equal(parse("since-seq 0", 11, &r), SSO_OK);
    assert_int_equal(r.kind, SSO_REPLAY_SINCE_SEQ);
    assert_true(r.after_seq == 0 && r.limit == SSO_REPLAY_DEFAULT_LIMIT);
    const char *max = "since-seq 18446744073709551615 limit 5000";
    assert_int_equal(parse(max, strlen(max), &r), SSO_OK);
    assert_true(r.after_seq == UINT64_MAX && r.limit == 5000);
    const char *t = "since-time 2000-01-01T12:00:00.25Z limit 7";
    assert_int_equal(parse(t, strlen(t), &r), SSO_OK);
    assert_int_equal(r.kind, SSO_REPLAY_SINCE_TIME);
    assert_true(r.t_us == 946728000LL * 1000000 + 250000 && r.limit == 7);
    char buf[128];
    sso_replay_req w = {SSO_REPLAY_SINCE_SEQ, 42, 0, 10};
    int n = sso_replay_request_format(&w, buf, sizeof buf);
    assert_int_equal(parse(buf, (size_t)n, &r), SSO_OK);
    assert_true(r.after_seq == 42 && r.limit == 10);
}

static void test_hostile(void **state)
{
    (void)state;
    sso_replay_req r;
    const char *bad[] = {"", " ", "since-seq", "since-seq ", " since-seq 1", "since-seq  1",
                         "since-seq -1", "since-seq +1", "since-seq 1x", "since-seq 0x10",
                         "since-seq 18446744073709551616", "since-seq 99999999999999999999999",
                         "since-seq 1 limit", "since-seq 1 limit 0", "since-seq 1 limit 5001",
                         "since-seq 1 limit -5", "since-seq 1 lmit 5", "since-seq 1 limit 5 x",
                         "SINCE-SEQ 1", "since-time", "since-time 2023-02-30T00:00:00Z",
                         "since-time 2023-01-01T00:00:00", "since-time yesterday",
                         "since-seq\t1", "since-seq 1\n", "drop table alerts", "since-seq 1 1",
                         /* found by fuzz_replay_req: a leap second into year 10000 */
                         "since-time 9999-12-31T23:59:60Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], strlen(bad[i]), &r), SSO_ERR_ARG);
    assert_int_equal(parse("since-seq 1\0", 12, &r), SSO_ERR_ARG);
    char big[SSO_REPLAY_MAX_REQUEST + 10];
    memset(big, '1', sizeof big);
    memcpy(big, "since-seq ", 10);
    assert_int_equal(parse(big, sizeof big, &r), SSO_ERR_ARG);
    assert_int_equal(sso_replay_request_parse(NULL, 3, &r), SSO_ERR_ARG);
    /* random bytes and random mutations of a good request: never a crash; what is accepted is
     * exactly a well-formed request (re-formatting it parses to the same values) */
    uint64_t x = 99;
    const char *good = "since-seq 123 limit 45";
    for (int it = 0; it < 20000; it++) {
        char b[64];
        size_t n = strlen(good);
        memcpy(b, good, n);
        for (int k = 0; k < 3; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[x % n] = (char)(x >> 32);
        }
        if (it % 2) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            n = x % sizeof b;
            for (size_t i = 0; i < n; i++)
                b[i] = (char)(x >> (i % 56));
        }
        if (parse(b, n, &r) == SSO_OK) {
            char f[128];
            sso_replay_req r2;
            int m = sso_replay_request_format(&r, f, sizeof f);
            assert_int_equal(parse(f, (size_t)m, &r2), SSO_OK);
            assert_true(r2.kind == r.kind && r2.after_seq == r.after_seq && r2.limit == r.limit);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_good), cmocka_unit_test(test_hostile)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
