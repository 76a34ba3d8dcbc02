/* tests/test_bench_roofline.c: the roofline arithmetic of `sso bench --roofline` and the work
 * counts it divides, against values worked by hand.
 *
 * Asserts:
 *  - sso_bench_roofline_derive on three hand-made rows under peaks B = 2000 GB/s, F = 50000
 *    GFLOP/s (ridge 25 FLOP/B): a bandwidth-only row (4 GB in 4 ms: 1000 GB/s, 50% of B, no FLOP
 *    figures, memory-bound); a row at intensity 10 (1 GB and 10 GFLOP in 1 ms: 10000 GFLOP/s =
 *    20% of F, roof min(F, 10 B) = 20000 so 50% of the roof, memory-bound); a stack-like row
 *    (2.5 TFLOP, 1e12 samples in 0.1 s: 25000 GFLOP/s = 50% of F, compute-bound, 1e13 samples/s);
 *    unknown peaks leave the fractions NaN; bad rows (time 0, negative bytes, NULL) are refused;
 *  - the ridge F / B, NaN when a peak is unknown;
 *  - the launchers' counts (host/prep_math.h, host/likelihood_math.h, host/stack_math.h), each
 *    expected figure added up here plane by plane from the kernels' data layout, and the FFT
 *    sizes (the 7-smooth successors, enumerated independently as products 2^a 3^b 5^c 7^d).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host/likelihood_math.h"
#include "host/prep_math.h"
#include "host/stack_math.h"
#include "sso/bench.h"

#define assert_near(a, b, tol)                                                                  \
    do {                                                                                        \
        double a_ = (a), b_ = (b);                                                              \
        if (!(fabs(a_ - b_) <= (tol) * fmax(1.0, fabs(b_))))                                    \
            fail_msg("%s = %.17g, want %.17g (rel tol %g)", #a, a_, b_, (double)(tol));         \
    } while (0)

static const sso_bench_peaks PK = {2000.0, 50000.0, 1073741824.0};

static void test_ridge(void **state)
{
    (void)state;
    assert_near(sso_bench_ridge(&PK), 25.0, 1e-15);
    sso_bench_peaks none = {0.0, 50000.0, 0.0};
    assert_true(isnan(sso_bench_ridge(&none)));
    assert_true(isnan(sso_bench_ridge(NULL)));
}

static void test_bandwidth_row(void **state)
{
    (void)state;
    sso_bench_roof_row r;
    memset(&r, 0, sizeof r);
    r.bytes = 4e9, r.kernel_s = 4e-3;
    assert_int_equal(sso_bench_roofline_derive(&r, &PK), SSO_OK);
    assert_near(r.gbps, 1000.0, 1e-12);
    assert_near(r.frac_copy, 0.5, 1e-12);
    assert_true(isnan(r.gflops) && isnan(r.intensity) && isnan(r.frac_fp32) && isnan(r.frac_roof));
    assert_true(isnan(r.samples_per_s));
    assert_int_equal(r.memory_bound, 1);
}

static void test_intensity_row(void **state)
{
    (void)state;
    sso_bench_roof_row r;
    memset(&r, 0, sizeof r);
    r.bytes = 1e9, r.flops = 1e10, r.kernel_s = 1e-3;
    assert_int_equal(sso_bench_roofline_derive(&r, &PK), SSO_OK);
    assert_near(r.intensity, 10.0, 1e-12);
    assert_near(r.gbps, 1000.0, 1e-12);
    assert_near(r.gflops, 10000.0, 1e-12);
    assert_near(r.frac_fp32, 0.2, 1e-12);
    assert_near(r.roof_gflops, 20000.0, 1e-12); /* I B = 10 x 2000 < F */
    assert_near(r.frac_roof, 0.5, 1e-12);
    assert_int_equal(r.memory_bound, 1);
}

static void test_compute_row(void **state)
{
    (void)state;
    sso_bench_roof_row r;
    memset(&r, 0, sizeof r);
    r.bytes = 1e8, r.flops = 2.5e12, r.samples = 1e12, r.kernel_s = 0.1;
    assert_int_equal(sso_bench_roofline_derive(&r, &PK), SSO_OK);
    assert_near(r.intensity, 25000.0, 1e-12);
    assert_near(r.gflops, 25000.0, 1e-12);
    assert_near(r.frac_fp32, 0.5, 1e-12);
    assert_near(r.roof_gflops, 50000.0, 1e-12); /* far right of the ridge: the FP32 ceiling */
    assert_near(r.frac_roof, 0.5, 1e-12);
    assert_near(r.samples_per_s, 1e13, 1e-12);
    assert_near(r.gbps, 1.0, 1e-12);
    assert_int_equal(r.memory_bound, 0);
    /* unknown ceilings: rates still derived, fractions NaN */
    const sso_bench_peaks none = {0.0, 0.0, 0.0};
    assert_int_equal(sso_bench_roofline_derive(&r, &none), SSO_OK);
    assert_near(r.gflops, 25000.0, 1e-12);
    assert_true(isnan(r.frac_fp32) && isnan(r.frac_copy) && isnan(r.frac_roof));
}

static void test_bad_rows(void **state)
{
    (void)state;
    sso_bench_roof_row r;
    memset(&r, 0, sizeof r);
    r.bytes = 1e9;
    assert_int_equal(sso_bench_roofline_derive(&r, &PK), SSO_ERR_ARG); /* time 0 */
    r.kernel_s = 1e-3, r.bytes = -1.0;
    assert_int_equal(sso_bench_roofline_derive(&r, &PK), SSO_ERR_ARG);
    r.bytes = 1.0, r.kernel_s = NAN;
    assert_int_equal(sso_bench_roofline_derive(&r, &PK), SSO_ERR_ARG);
    assert_int_equal(sso_bench_roofline_derive(NULL, &PK), SSO_ERR_ARG);
    r.kernel_s = 1.0;
    assert_int_equal(sso_bench_roofline_derive(&r, NULL), SSO_ERR_ARG);
}

static void test_prep_counts(void **state)
{
    (void)state;
    /* 1000 px: SCI 4 + RMS 4 + FLG 4 read, img 4 + var 4 + mask 1 written = 21; 4 partials of 40 */
    assert_int_equal(sso_prep_bytes_moved(1000, 1, 1, 4, 40), 21000 + 160);
    assert_int_equal(sso_prep_bytes_moved(1000, 0, 0, 4, 40), 13000 + 160);
    assert_int_equal(sso_prep_bytes_moved(1000, 1, 0, 0, 40), 17000);
    assert_int_equal(sso_prep_flops(1000), 6000);
}

static void test_likelihood_counts(void **state)
{
    (void)state;
    /* direct, 100 px with a mask, 7x7: weights 4+4+1 in, 4+4 out; correlation 4+4 in, 4+4 out
     * = 33 per px; two templates of 49 floats */
    assert_int_equal(sso_like_direct_bytes_moved(100, 1, 3), 100 * 33 + 2 * 49 * 4);
    assert_int_equal(sso_like_direct_bytes_moved(100, 0, 0), 100 * 32 + 2 * 1 * 4);
    /* 2 divisions + (mul + add) x 49 taps x 2 templates = 198 per px; zero taps skipped */
    assert_int_equal(sso_like_direct_flops(100, 49, 49), 100 * 198);
    assert_int_equal(sso_like_direct_flops(100, 21, 9), 100 * (2 + 42 + 18));
    /* FFT 8 x 6 padded (nr 48, nc 5 x 6 = 30), 20 px, 3x3, no mask:
     * memset 2x48x4 = 384; kernels in/out 2x9x4 x2 = 144; kernel R2C 384 + 2x30x8 = 864;
     * weights 20x8 in + 384 out = 544; image R2C 864; product 2x480 in + 480 out = 1440;
     * C2R 480 + 384 = 864.  Sum 5104. */
    assert_int_equal(sso_like_fft_bytes_moved(20, 0, 1, 8, 6), 384 + 144 + 864 + 544 + 864 + 1440 + 864);
    assert_int_equal(sso_like_fft_bytes_moved(20, 1, 1, 8, 6), 5104 + 20);
    /* 8 x 8: 6 transforms x 2.5 x 64 x log2(64) = 5760; 2 x 40 complex products x 8 = 640;
     * 2 x 10 divisions = 20 */
    assert_near(sso_like_fft_flops(10, 8, 8), 5760.0 + 640.0 + 20.0, 1e-15);
    /* padded sizes: the next 2^a 3^b 5^c 7^d (4099 -> 4116 = 2^2 3 7^3; 4135 -> 4200) */
    assert_int_equal(sso_like_fft_size(4099), 4116);
    assert_int_equal(sso_like_fft_size(4135), 4200);
    assert_int_equal(sso_like_fft_size(4096), 4096);
    assert_int_equal(sso_like_fft_size(11), 12);
    assert_int_equal(sso_like_fft_size(13), 14);
    assert_int_equal(sso_like_fft_size(17), 18);
}

static void test_stack_counts(void **state)
{
    (void)state;
    /* 100 px x 4 epochs x (psi 4 + phi 4); 10 velocities x (index + 4 offsets) x 4 B; 3 hits x 12 */
    assert_int_equal(sso_stack_bytes_moved(100, 4, 10, 3), 3200 + 200 + 36);
    /* 4000 samples: 2 adds each; 1000 trajectories: 2 multiplies each */
    assert_int_equal(sso_stack_flops(4000, 4), 10000);
    assert_int_equal(sso_stack_flops(3000, 3), 8000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ridge),          cmocka_unit_test(test_bandwidth_row),
        cmocka_unit_test(test_intensity_row),  cmocka_unit_test(test_compute_row),
        cmocka_unit_test(test_bad_rows),       cmocka_unit_test(test_prep_counts),
        cmocka_unit_test(test_likelihood_counts), cmocka_unit_test(test_stack_counts),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
