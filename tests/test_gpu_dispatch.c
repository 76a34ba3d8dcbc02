/* tests/test_gpu_dispatch.c: backend dispatch of psi/phi and the slow search where no device is.
 *
 * On a machine without a CUDA device (this test returns early on one with a device; the gpu tests
 * cover that case): CUDA is refused with SSO_ERR_NO_DEVICE, AUTO resolves to the CPU and gives
 * exactly the CPU's output (same psi/phi bits, same candidates), and the stack's stats say which
 * backend ran. Default parameters keep the CPU reference (backend CPU).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sso/sso.h"
#include "testutil.h"

#define W 160
#define H 120

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static double uni(void) { return sso_test_uni(&g_rng); }

static void test_likelihood_dispatch(void **state)
{
    float *d = malloc(sizeof(float) * W * H), *v = malloc(sizeof(float) * W * H);
    float *a = malloc(sizeof(float) * W * H), *b = malloc(sizeof(float) * W * H);
    float *a2 = malloc(sizeof(float) * W * H), *b2 = malloc(sizeof(float) * W * H);
    float t[49];
    assert_non_null(d && v && a && b && a2 && b2);
    for (int i = 0; i < W * H; i++)
        d[i] = (float)(10.0 * (uni() - 0.5)), v[i] = (float)(50.0 + 10.0 * uni());
    assert_int_equal(sso_template_gauss(1.6, 3, t), SSO_OK);
    assert_int_equal(sso_likelihood(d, v, NULL, W, H, t, 3, SSO_LIKE_AUTO, a, b), SSO_OK);
    assert_int_equal(sso_likelihood_on(SSO_BACKEND_CUDA, d, v, NULL, W, H, t, 3, SSO_LIKE_AUTO, a2, b2),
                     SSO_ERR_NO_DEVICE);
    assert_int_equal(sso_likelihood_on(SSO_BACKEND_AUTO, d, v, NULL, W, H, t, 3, SSO_LIKE_AUTO, a2, b2),
                     SSO_OK);
    assert_memory_equal(a, a2, sizeof(float) * W * H);
    assert_memory_equal(b, b2, sizeof(float) * W * H);
    free(d), free(v), free(a), free(b), free(a2), free(b2);
}

static void test_stack_dispatch(void **state)
{
    const double t_h[4] = {-0.385, -0.128, 0.128, 0.385};
    float *psi[4], *phi[4];
    for (int e = 0; e < 4; e++) {
        psi[e] = malloc(sizeof(float) * W * H), phi[e] = malloc(sizeof(float) * W * H);
        assert_non_null(psi[e] && phi[e]);
        for (int i = 0; i < W * H; i++)
            phi[e][i] = 1.0f, psi[e][i] = (float)(2.0 * (uni() - 0.5));
        psi[e][(60 + (int)lround(20.0 * t_h[e])) * W + 80] = 4.0f; /* a mover at 20 px/h in y */
    }
    sso_stack_params p;
    sso_stack_params_default(&p);
    assert_int_equal(p.backend, SSO_BACKEND_CPU);
    p.vmax_px_h = 30.0;
    p.nu_min = 6.0f;
    sso_stack_result *rc = NULL, *ra = NULL, *rg = NULL;
    assert_int_equal(sso_stack_slow((const float *const *)psi, (const float *const *)phi, 4, W, H, t_h, &p, &rc),
                     SSO_OK);
    assert_true(sso_stack_result_count(rc) >= 1);
    p.backend = SSO_BACKEND_CUDA;
    assert_int_equal(sso_stack_slow((const float *const *)psi, (const float *const *)phi, 4, W, H, t_h, &p, &rg),
                     SSO_ERR_NO_DEVICE);
    assert_null(rg);
    p.backend = SSO_BACKEND_AUTO;
    assert_int_equal(sso_stack_slow((const float *const *)psi, (const float *const *)phi, 4, W, H, t_h, &p, &ra),
                     SSO_OK);
    assert_int_equal(sso_stack_result_stats(ra)->backend, SSO_BACKEND_CPU);
    assert_int_equal(sso_stack_result_count(ra), sso_stack_result_count(rc));
    for (size_t i = 0; i < sso_stack_result_count(rc); i++)
        assert_memory_equal(sso_stack_result_get(ra, i), sso_stack_result_get(rc, i), sizeof(sso_stack_cand));
    sso_stack_result_free(rc), sso_stack_result_free(ra);
    for (int e = 0; e < 4; e++)
        free(psi[e]), free(phi[e]);
}

int main(void)
{
    if (sso_cuda_device_count() > 0) {
        printf("a CUDA device is present: dispatch without a device not checked here (gpu tests)\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_likelihood_dispatch),
        cmocka_unit_test(test_stack_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
