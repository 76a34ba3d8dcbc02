/* tests/gpu/test_prep_parity.c: the CUDA pixel preparation against the CPU reference.
 *
 * Seeded random SCI/RMS/FLG with NaNs, infinities, negative values and flagged pixels. Per-pixel
 * outputs must agree exactly: both backends run the same sso_prep_pixel() (host/prep_math.h) in
 * IEEE float with no fused operations that differ... except that nvcc may contract a*b+c into an
 * FMA, so img/var are compared with |gpu - cpu| <= atol + rtol*|cpu|, rtol = 1e-6 (two roundings),
 * atol = 0. Masks must be identical. Statistics are sums over ~1e6 pixels in a different order:
 * rtol 1e-9 in double. Exits 77 (SKIPPED) without a device.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sso/sso.h"
#include "testutil.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double uni(void) { return sso_test_uni(&g_rng); }

static int close_enough(float gpu, float cpu, float atol, float rtol)
{
    if (isinf(cpu) || isnan(cpu))
        return (isinf(cpu) && isinf(gpu) && (cpu > 0) == (gpu > 0)) || (isnan(cpu) && isnan(gpu));
    return fabsf(gpu - cpu) <= atol + rtol * fabsf(cpu);
}

static void check_parity(size_t n, int with_rms)
{
    float *sci = malloc(n * sizeof *sci), *rms = malloc(n * sizeof *rms);
    int32_t *flg = malloc(n * sizeof *flg);
    float *img_c = malloc(n * sizeof(float)), *var_c = malloc(n * sizeof(float));
    float *img_g = malloc(n * sizeof(float)), *var_g = malloc(n * sizeof(float));
    uint8_t *m_c = malloc(n), *m_g = malloc(n);
    assert_non_null(sci && rms && flg && img_c && var_c && img_g && var_g && m_c && m_g);
    for (size_t i = 0; i < n; i++) {
        double u = uni();
        sci[i] = (float)(30.0 + 10.0 * (uni() - 0.5) * 6.0 + (u < 0.001 ? 5e4 * uni() : 0.0));
        if (u > 0.999)
            sci[i] = NAN;
        else if (u > 0.9985)
            sci[i] = INFINITY;
        rms[i] = uni() < 0.001 ? 0.0f : (float)(3.0 + uni());
        flg[i] = uni() < 0.02 ? (int32_t)(1u << (int)(uni() * 25)) : 0;
    }
    sso_prep_stats sc, sg;
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CPU, sci, with_rms ? rms : NULL, flg, n, 3.48f,
                                       SSO_FLG_MASK_DEFAULT, img_c, var_c, m_c, &sc),
                     SSO_OK);
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CUDA, sci, with_rms ? rms : NULL, flg, n, 3.48f,
                                       SSO_FLG_MASK_DEFAULT, img_g, var_g, m_g, &sg),
                     SSO_OK);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = m_c[i] == m_g[i] && close_enough(img_g[i], img_c[i], 0.0f, 1e-6f) &&
                 close_enough(var_g[i], var_c[i], 0.0f, 1e-6f);
        if (!ok && bad++ < 5)
            fprintf(stderr, "mismatch at %zu: img %g vs %g, var %g vs %g, mask %d vs %d\n", i,
                    (double)img_g[i], (double)img_c[i], (double)var_g[i], (double)var_c[i], m_g[i], m_c[i]);
    }
    if (bad)
        fprintf(stderr, "%zu of %zu pixels differ\n", bad, n);
    assert_int_equal(bad, 0);
    assert_int_equal(sg.n_masked, sc.n_masked);
    assert_int_equal(sg.n_nonfinite, sc.n_nonfinite);
    /* bound on the rounding of a reordered double sum: 1e-9 of sum |e| <= sqrt(n * sum e^2) */
    assert_true(fabs(sg.sum_e - sc.sum_e) <= 1e-9 * sqrt(sc.sumsq_e * (double)n));
    assert_true(fabs(sg.sumsq_e - sc.sumsq_e) <= 1e-9 * sc.sumsq_e);
    assert_float_equal(sg.min_e, sc.min_e, 0.0);
    assert_float_equal(sg.max_e, sc.max_e, 0.0);
    free(sci), free(rms), free(flg), free(img_c), free(var_c), free(img_g), free(var_g), free(m_c), free(m_g);
}

static void test_parity_rms(void **state) { check_parity(1000003, 1); }
static void test_parity_no_rms(void **state) { check_parity(65536 + 17, 0); }

int main(void)
{
    if (sso_cuda_device_count() <= 0) {
        printf("[  SKIPPED ] no CUDA device: GPU parity not checked\n");
        return SSO_TEST_SKIP_EXIT;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_rms),
        cmocka_unit_test(test_parity_no_rms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
