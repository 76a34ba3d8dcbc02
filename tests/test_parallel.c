/* tests/test_parallel.c: sso_parallel_for (host/parallel.c): every item of [0, n) is handed to
 * exactly one call, in contiguous blocks, for thread counts from 1 to more than the items, and
 * a loop with no items or no function calls nothing. Each call marks its items with atomic
 * increments, so an item given twice (or a block overlap) shows as a count of 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "host/parallel.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_nothing_to_do),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
