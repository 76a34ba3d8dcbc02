/* tests/test_prep.c: pixel preparation (CPU reference) against hand-computed cases.
 *
 * Each expectation is derived from the contract in include/sso/prep.h, not from the code:
 * electrons = ADU * gain; variance = (rms * gain)^2 with an RMS plane, Poisson + read noise
 * without; masked pixels (FLG bits in the mask, NaN/inf SCI) weigh nothing (0, +inf).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sso/sso.h"

static void test_values_with_rms(void **state)
{
    const float sci[4] = {10.0f, -2.0f, NAN, 5.0f};
    const float rms[4] = {2.0f, 1.0f, 1.0f, 0.0f};
    const int32_t flg[4] = {0, (int32_t)SSO_FLG_COSMIC, 0, (int32_t)SSO_FLG_HOT};
    float img[4], var[4];
    uint8_t mask[4];
    sso_prep_stats st;
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CPU, sci, rms, flg, 4, 3.5f, SSO_FLG_MASK_DEFAULT,
                                       img, var, mask, &st),
                     SSO_OK);
    /* pixel 0: 10 ADU * 3.5 = 35 e-, var = (2 * 3.5)^2 = 49 */
    assert_float_equal(img[0], 35.0f, 1e-5);
    assert_float_equal(var[0], 49.0f, 1e-4);
    assert_int_equal(mask[0], 0);
    /* pixel 1: COSMIC is not in the default mask (a hint only): kept */
    assert_float_equal(img[1], -7.0f, 1e-5);
    assert_float_equal(var[1], 12.25f, 1e-4);
    assert_int_equal(mask[1], 0);
    /* pixel 2: NaN -> masked, zero weight */
    assert_int_equal(mask[2], 1);
    assert_float_equal(img[2], 0.0f, 0.0);
    assert_true(isinf(var[2]));
    /* pixel 3: HOT -> masked */
    assert_int_equal(mask[3], 1);
    assert_int_equal(st.n_pixels, 4);
    assert_int_equal(st.n_masked, 2);
    assert_int_equal(st.n_nonfinite, 1);
    assert_float_equal(st.sum_e, 28.0, 1e-9);
    assert_float_equal(st.sumsq_e, 35.0 * 35.0 + 49.0, 1e-6);
    assert_float_equal(st.min_e, -7.0, 1e-9);
    assert_float_equal(st.max_e, 35.0, 1e-9);
}

static void test_variance_without_rms(void **state)
{
    const float sci[2] = {100.0f, -3.0f};
    float img[2], var[2];
    uint8_t mask[2];
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CPU, sci, NULL, NULL, 2, 2.0f, SSO_FLG_MASK_DEFAULT,
                                       img, var, mask, NULL),
                     SSO_OK);
    /* 200 e- of signal: Poisson 200 + read noise 4.4^2 = 19.36 */
    assert_float_equal(var[0], 200.0f + 19.36f, 1e-3);
    /* negative value: Poisson part clipped at 0 */
    assert_float_equal(var[1], 19.36f, 1e-3);
    assert_int_equal(mask[0] + mask[1], 0);
}

static void test_all_masked_stats_nan(void **state)
{
    const float sci[3] = {NAN, INFINITY, 1.0f};
    const int32_t flg[3] = {0, 0, (int32_t)SSO_FLG_SAT};
    float img[3], var[3];
    uint8_t mask[3];
    sso_prep_stats st;
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CPU, sci, NULL, flg, 3, 1.0f, SSO_FLG_MASK_DEFAULT,
                                       img, var, mask, &st),
                     SSO_OK);
    assert_int_equal(st.n_masked, 3);
    assert_true(isnan(st.min_e) && isnan(st.max_e));
}

static void test_bad_arguments(void **state)
{
    const float sci[1] = {1.0f};
    float img[1], var[1];
    uint8_t mask[1];
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CPU, sci, NULL, NULL, 1, 0.0f, 0, img, var, mask, NULL),
                     SSO_ERR_ARG);
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CPU, NULL, NULL, NULL, 1, 1.0f, 0, img, var, mask, NULL),
                     SSO_ERR_ARG);
    sso_backend b;
    assert_int_equal(sso_backend_from_name("cpu", &b), SSO_OK);
    assert_int_equal(b, SSO_BACKEND_CPU);
    assert_int_equal(sso_backend_from_name("tpu", &b), SSO_ERR_ARG);
    assert_true(sso_last_error()[0] != '\0');
}

static void test_cuda_backend_without_device(void **state)
{
    /* On a machine without a device (CI), asking for CUDA must fail with NO_DEVICE, never fall
     * back silently; AUTO must resolve to the CPU. With a device this case is the gpu test's. */
    if (sso_cuda_device_count() > 0)
        skip();
    const float sci[1] = {1.0f};
    float img[1], var[1];
    uint8_t mask[1];
    assert_int_equal(sso_prep_detector(SSO_BACKEND_CUDA, sci, NULL, NULL, 1, 1.0f, 0, img, var, mask, NULL),
                     SSO_ERR_NO_DEVICE);
    assert_int_equal(sso_backend_resolve(SSO_BACKEND_AUTO), SSO_BACKEND_CPU);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_with_rms),
        cmocka_unit_test(test_variance_without_rms),
        cmocka_unit_test(test_all_masked_stats_nan),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_cuda_backend_without_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
