/* tests/test_parallel.c: sso_parallel_for (host/parallel.c): every item of [0, n) is handed to
 * exactly one call, in contiguous blocks, for thread counts from 1 to more than the items, and
 * a loop with no items or no function calls nothing. Each call marks its items with atomic
 * increments, so an item given twice (or a block overlap) shows as a count of 2.
 * sso_parallel_each: every item exactly once for the same sizes and thread counts; with two items
 * failing with different statuses, every item still runs and the result is the lower-indexed
 * item's status with its own detail message (raised again on the calling thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/parallel.h"
#include "host/status_internal.h"

typedef struct marks {
    atomic_int *count;
    atomic_int calls;
    int64_t n;
} marks;

static void mark(void *ctx, int64_t b, int64_t e)
{
    marks *m = ctx;
    assert_true(0 <= b && b < e && e <= m->n); /* non-empty, inside [0, n) */
    atomic_fetch_add(&m->calls, 1);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add(&m->count[i], 1);
}

static void test_every_item_once(void **state)
{
    (void)state;
    const int64_t sizes[] = {1, 2, 3, 7, 64, 1000, 4353};
    const int threads[] = {-3, 0, 1, 2, 3, 8, 17, 300};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof threads / sizeof *threads; b++) {
            const int64_t n = sizes[a];
            marks m = {calloc((size_t)n, sizeof(atomic_int)), 0, n};
            assert_non_null(m.count);
            sso_parallel_for(threads[b], n, mark, &m);
            for (int64_t i = 0; i < n; i++)
                assert_int_equal(atomic_load(&m.count[i]), 1);
            const int nt = threads[b] < 1 ? 1 : threads[b] > 256 ? 256 : threads[b];
            const int64_t want = n < nt ? n : nt; /* one call per block, no empty block */
            assert_int_equal(atomic_load(&m.calls), want);
            free(m.count);
        }
}

static void test_nothing_to_do(void **state)
{
    (void)state;
    marks m = {NULL, 0, 0};
    sso_parallel_for(4, 0, mark, &m);
    sso_parallel_for(4, -5, mark, &m);
    sso_parallel_for(4, 10, NULL, &m);
    assert_int_equal(atomic_load(&m.calls), 0);
}

typedef struct each_marks {
    atomic_int *count;
    int64_t n, fail_a, fail_b; /* items that fail: fail_a with SSO_ERR_IO, fail_b with SSO_ERR_ARG */
} each_marks;

static sso_status mark_one(void *ctx, int64_t i)
{
    each_marks *m = ctx;
    assert_true(0 <= i && i < m->n);
    atomic_fetch_add(&m->count[i], 1);
    if (i == m->fail_a)
        return sso_fail(SSO_ERR_IO, "item %lld failed", (long long)i);
    if (i == m->fail_b)
        return sso_fail(SSO_ERR_ARG, "item %lld refused", (long long)i);
    return SSO_OK;
}

static void test_each_item_once(void **state)
{
    (void)state;
    const int64_t sizes[] = {1, 2, 3, 7, 64, 1000};
    const int threads[] = {-3, 0, 1, 2, 3, 8, 17, 300};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof threads / sizeof *threads; b++) {
            const int64_t n = sizes[a];
            each_marks m = {calloc((size_t)n, sizeof(atomic_int)), n, -1, -1};
            assert_non_null(m.count);
            assert_int_equal(sso_parallel_each(threads[b], n, mark_one, &m), SSO_OK);
            for (int64_t i = 0; i < n; i++)
                assert_int_equal(atomic_load(&m.count[i]), 1);
            free(m.count);
        }
}

static void test_each_lowest_failure(void **state)
{
    (void)state;
    const int threads[] = {1, 2, 5, 64};
    for (size_t b = 0; b < sizeof threads / sizeof *threads; b++) {
        each_marks m = {calloc(200, sizeof(atomic_int)), 200, 171, 23};
        assert_non_null(m.count);
        assert_int_equal(sso_parallel_each(threads[b], 200, mark_one, &m), SSO_ERR_ARG);
        assert_string_equal(sso_last_error(), "item 23 refused");
        for (int64_t i = 0; i < 200; i++) /* a failure stops nothing */
            assert_int_equal(atomic_load(&m.count[i]), 1);
        m.fail_b = -1;
        for (int64_t i = 0; i < 200; i++)
            atomic_store(&m.count[i], 0);
        assert_int_equal(sso_parallel_each(threads[b], 200, mark_one, &m), SSO_ERR_IO);
        assert_string_equal(sso_last_error(), "item 171 failed");
        free(m.count);
    }
    each_marks none = {NULL, 0, -1, -1};
    assert_int_equal(sso_parallel_each(4, 0, mark_one, &none), SSO_OK);
    assert_int_equal(sso_parallel_each(4, -2, mark_one, &none), SSO_OK);
    assert_int_equal(sso_parallel_each(4, 3, NULL, &none), SSO_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_nothing_to_do),
        cmocka_unit_test(test_each_item_once),
        cmocka_unit_test(test_each_lowest_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
