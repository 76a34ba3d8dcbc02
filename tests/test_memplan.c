/* tests/test_memplan.c: the GPU memory plan's arithmetic (host/memplan.c), no device needed.
 *
 * Expected sides worked out on paper from the accounting in host/memplan.h, default request
 * (4 epochs, 1 template, 2 patches in flight, 64 MiB hits, 512 MiB reserve, 10% kept free):
 *   bytes per pixel = 2 x (8*4*1 + 9 + 1.15*40 + 8*4 + 8) = 2 x 127 = 254 (the last two: the
 *     trail correlation's held point maps and its output)
 *   80 GB H100 (79 GiB free): 16384 px (the maximum) needs 254 * 16384^2 + 576 MiB = 68.8 GB of
 *     the 76.3 GB usable: a field (~28k x 25k px) is 4 patches.
 *   16 GiB free: usable 15.46e9, room 14.86e9, sqrt(room/254) = 7649 -> 7424 (29 x 256);
 *     7424 needs 14.60e9 (fits), 7680 needs 15.59e9 (does not).
 *   1 GiB free: usable 966e6, room 362e6, sqrt = 1194 -> 1024 (needs 870e6; 1280 needs 1020e6).
 *   512 MiB free: the 576 MiB fixed part alone does not fit: SSO_ERR_NOMEM.
 * Besides these points: every plan fits and the next step does not (maximality), checked with
 * this file's own byte formula, and the side never shrinks when free memory grows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "host/memplan.h"
#include "sso/sso.h"

#define GIB ((size_t)1 << 30)
#define MIB ((size_t)1 << 20)

/* Independent formula: device bytes of the default request at side s. */
static double bytes_at(int n_templates, int s)
{
    const double per_px = 2.0 * (8.0 * 4 * n_templates + 9.0 + 1.15 * 40.0 + 8.0 * 4 + 8.0);
    return per_px * (double)s * s + 576.0 * MIB;
}

static int plan_side(size_t free_b, int n_templates)
{
    sso_memplan_req rq;
    sso_memplan mp;
    sso_memplan_req_default(&rq);
    rq.n_templates = n_templates;
    assert_int_equal(sso_memplan_compute(free_b, &rq, &mp), SSO_OK);
    return mp.side_px;
}

static void test_paper_points(void **state)
{
    assert_int_equal(plan_side(79 * GIB, 1), 16384);
    assert_int_equal(plan_side(16 * GIB, 1), 7424);
    assert_int_equal(plan_side(1 * GIB, 1), 1024);
    sso_memplan_req rq;
    sso_memplan mp;
    sso_memplan_req_default(&rq);
    assert_int_equal(sso_memplan_compute(512 * MIB, &rq, &mp), SSO_ERR_NOMEM);
    assert_int_equal(mp.side_px, 0);
}

static void test_maximal_and_monotone(void **state)
{
    for (int nt = 1; nt <= 8; nt *= 2) {
        int prev = 0;
        for (size_t f = 1 * GIB; f <= 140 * GIB; f += GIB / 2) {
            sso_memplan_req rq;
            sso_memplan mp;
            sso_memplan_req_default(&rq);
            rq.n_templates = nt;
            sso_status st = sso_memplan_compute(f, &rq, &mp);
            if (st == SSO_ERR_NOMEM) { /* only when even 512 px does not fit */
                assert_true(bytes_at(nt, 512) > 0.9 * (double)f);
                continue;
            }
            assert_int_equal(st, SSO_OK);
            const int s = mp.side_px;
            assert_int_equal(s % SSO_MEMPLAN_STEP_PX, 0);
            assert_true(s >= 512 && s <= 16384);
            assert_true(bytes_at(nt, s) <= 0.9 * (double)f);
            if (s < 16384)
                assert_true(bytes_at(nt, s + SSO_MEMPLAN_STEP_PX) > 0.9 * (double)f);
            assert_true(s >= prev);
            prev = s;
        }
        /* 140 GiB: the maximum up to 4 templates; 8 templates (702 B/px): sqrt(0.9 * 140 GiB
         * - 576 MiB) / 702) = 13852 -> 13824 (13824 needs 134.8e9 of 135.3e9, 14080 139.8e9) */
        assert_int_equal(prev, nt <= 4 ? 16384 : 13824);
    }
}

static void test_bad_requests(void **state)
{
    sso_memplan_req rq;
    sso_memplan mp;
    sso_memplan_req_default(&rq);
    rq.safety_frac = 1.0;
    assert_int_equal(sso_memplan_compute(GIB, &rq, &mp), SSO_ERR_ARG);
    sso_memplan_req_default(&rq);
    rq.max_px = 256;
    assert_int_equal(sso_memplan_compute(GIB, &rq, &mp), SSO_ERR_ARG);
    assert_int_equal(sso_memplan_compute(GIB, NULL, &mp), SSO_ERR_ARG);
}

static void test_apply_without_device(void **state)
{
    int size = 4096, planned = -1;
    assert_int_equal(sso_memplan_apply(SSO_BACKEND_CPU, -1, &size, &planned), SSO_OK);
    assert_int_equal(size, 4096);
    assert_int_equal(planned, 0);
    if (sso_cuda_device_count() > 0)
        return; /* the rest is about a machine with no device */
    assert_int_equal(sso_memplan_apply(SSO_BACKEND_AUTO, -1, &size, &planned), SSO_OK);
    assert_int_equal(size, 4096);
    assert_int_equal(sso_memplan_apply(SSO_BACKEND_CUDA, -1, &size, &planned), SSO_ERR_NO_DEVICE);
    assert_int_equal(size, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_points),
        cmocka_unit_test(test_maximal_and_monotone),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_apply_without_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
