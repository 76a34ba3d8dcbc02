/* tests/test_trail_maps.c: the trail correlation's held maps (sso_trail_maps, host/likelihood.c) on
 * the CPU, and sso_likelihood_trail's normalisation, without a device.
 *
 * - A unit impulse far from the edges: psi_L is the kernel's weights laid out around it, so its
 *   sum over the image is sum w_j = 1 and phi_L's is kappa (sso_trail_kernel_kappa), to float
 *   rounding (<= 1e-5 here); a pixel far from the impulse is exactly 0.
 * - Epoch indexing: four epochs' different random maps held at once; correlating epoch e through
 *   the handle equals sso_likelihood_trail on epoch e's own maps bit for bit (the CPU handle
 *   borrows them), for kernels of several lengths and angles, at 1 and 3 threads.
 * - Backends: AUTO without a device falls back to the CPU (sso_trail_maps_backend says so) with
 *   the same values; CUDA without a device is refused with SSO_ERR_NO_DEVICE. With a device these
 *   two checks are the GPU parity test's (tests/gpu/test_trail_parity.c) and are skipped here.
 * - Bad arguments: no maps, an epoch out of range, 0 or 5 epochs, a missing epoch map: SSO_ERR_ARG.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sso/sso.h"
#include "testutil.h"

#define W 97
#define H 61
#define NE 4
#define HALF 3

static uint64_t g_rng = 0xC0FFEE1234567ull;

static void point_template(float *t)
{
    assert_int_equal(sso_template_gauss(1.6, HALF, t), SSO_OK);
}

static void test_impulse_sums(void **state)
{
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    point_template(t);
    const size_t np = (size_t)W * H;
    float *psi = calloc(np, sizeof(float)), *phi = calloc(np, sizeof(float));
    float *pl = malloc(np * sizeof(float)), *fl = malloc(np * sizeof(float));
    assert_non_null(psi), assert_non_null(phi), assert_non_null(pl), assert_non_null(fl);
    psi[(size_t)(H / 2) * W + W / 2] = 1.0f, phi[(size_t)(H / 2) * W + W / 2] = 1.0f;
    const double lens[3] = {0.0, 7.0, 18.0}, ths[3] = {0.0, 0.7, 2.4};
    for (int i = 0; i < 3; i++) {
        sso_trail_kernel *k = NULL;
        assert_int_equal(sso_trail_kernel_create(t, HALF, lens[i], ths[i], &k), SSO_OK);
        const float *mp[1] = {psi}, *mf[1] = {phi};
        sso_trail_maps *m = NULL;
        assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, 1, mp, mf, W, H, 2, &m), SSO_OK);
        assert_int_equal(sso_trail_maps_backend(m), SSO_BACKEND_CPU);
        assert_int_equal(sso_trail_maps_correlate(m, 0, k, pl, fl), SSO_OK);
        double sp = 0.0, sf = 0.0;
        for (size_t q = 0; q < np; q++)
            sp += pl[q], sf += fl[q];
        print_message("len %.0f px, %d taps: sum psi_L %.7f, sum phi_L %.7f, kappa %.7f\n", lens[i],
                      sso_trail_kernel_taps(k), sp, sf, sso_trail_kernel_kappa(k));
        assert_true(fabs(sp - 1.0) <= 1e-5);
        assert_true(fabs(sf - sso_trail_kernel_kappa(k)) <= 1e-5);
        assert_true(pl[0] == 0.0f && fl[0] == 0.0f);
        sso_trail_maps_close(m);
        sso_trail_kernel_free(k);
    }
    free(psi), free(phi), free(pl), free(fl);
}

typedef struct maps4 {
    float *psi[NE], *phi[NE];
} maps4;

static void random_maps(maps4 *s)
{
    const size_t np = (size_t)W * H;
    for (int e = 0; e < NE; e++) {
        s->psi[e] = malloc(np * sizeof(float)), s->phi[e] = malloc(np * sizeof(float));
        assert_non_null(s->psi[e]), assert_non_null(s->phi[e]);
        for (size_t q = 0; q < np; q++) {
            const int masked = sso_test_uni(&g_rng) < 0.1; /* masked pixels hold 0 in both */
            s->psi[e][q] = masked ? 0.0f : (float)(sso_test_gauss(&g_rng) * (1.0 + e));
            s->phi[e][q] = masked ? 0.0f : (float)(0.5 + sso_test_uni(&g_rng));
        }
    }
}

static void free_maps(maps4 *s)
{
    for (int e = 0; e < NE; e++)
        free(s->psi[e]), free(s->phi[e]);
}

/* Every epoch through m against sso_likelihood_trail on that epoch's maps, bit for bit. */
static void check_epochs(sso_trail_maps *m, const maps4 *s, const sso_trail_kernel *k, int nt)
{
    const size_t np = (size_t)W * H;
    float *a = malloc(np * sizeof(float)), *b = malloc(np * sizeof(float));
    float *c = malloc(np * sizeof(float)), *d = malloc(np * sizeof(float));
    assert_non_null(a), assert_non_null(b), assert_non_null(c), assert_non_null(d);
    for (int e = 0; e < NE; e++) {
        assert_int_equal(sso_trail_maps_correlate(m, e, k, a, b), SSO_OK);
        assert_int_equal(sso_likelihood_trail(s->psi[e], s->phi[e], W, H, k, nt, c, d), SSO_OK);
        assert_memory_equal(a, c, np * sizeof(float));
        assert_memory_equal(b, d, np * sizeof(float));
    }
    free(a), free(b), free(c), free(d);
}

static void test_epochs_and_fallback(void **state)
{
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    point_template(t);
    maps4 s;
    random_maps(&s);
    const double lens[4] = {0.0, 3.0, 9.5, 25.0}, ths[4] = {0.0, 1.1, 2.0, 3.0};
    for (int nt = 1; nt <= 3; nt += 2)
        for (int i = 0; i < 4; i++) {
            sso_trail_kernel *k = NULL;
            assert_int_equal(sso_trail_kernel_create(t, HALF, lens[i], ths[i], &k), SSO_OK);
            sso_trail_maps *m = NULL;
            assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, NE, (const float *const *)s.psi,
                                                 (const float *const *)s.phi, W, H, nt, &m),
                             SSO_OK);
            check_epochs(m, &s, k, nt);
            sso_trail_maps_close(m);
            if (sso_cuda_device_count() == 0) {
                assert_int_equal(sso_trail_maps_open(SSO_BACKEND_AUTO, NE, (const float *const *)s.psi,
                                                     (const float *const *)s.phi, W, H, nt, &m),
                                 SSO_OK);
                assert_int_equal(sso_trail_maps_backend(m), SSO_BACKEND_CPU);
                check_epochs(m, &s, k, nt);
                sso_trail_maps_close(m);
                m = (sso_trail_maps *)&s; /* must be reset to NULL on failure */
                assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CUDA, NE, (const float *const *)s.psi,
                                                     (const float *const *)s.phi, W, H, nt, &m),
                                 SSO_ERR_NO_DEVICE);
                assert_null(m);
            }
            sso_trail_kernel_free(k);
        }
    free_maps(&s);
}

static void test_bad_arguments(void **state)
{
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    point_template(t);
    maps4 s;
    random_maps(&s);
    const float *const *P = (const float *const *)s.psi, *const *F = (const float *const *)s.phi;
    sso_trail_maps *m = NULL;
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, NE, NULL, F, W, H, 1, &m), SSO_ERR_ARG);
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, 0, P, F, W, H, 1, &m), SSO_ERR_ARG);
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, 5, P, F, W, H, 1, &m), SSO_ERR_ARG);
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, NE, P, F, 0, H, 1, &m), SSO_ERR_ARG);
    const float *holed[NE] = {s.psi[0], NULL, s.psi[2], s.psi[3]};
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, NE, holed, F, W, H, 1, &m), SSO_ERR_ARG);
    assert_null(m);
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, NE, P, F, W, H, 1, &m), SSO_OK);
    sso_trail_kernel *k = NULL;
    assert_int_equal(sso_trail_kernel_create(t, HALF, 5.0, 0.3, &k), SSO_OK);
    float *a = malloc((size_t)W * H * sizeof(float)), *b = malloc((size_t)W * H * sizeof(float));
    assert_non_null(a), assert_non_null(b);
    assert_int_equal(sso_trail_maps_correlate(m, NE, k, a, b), SSO_ERR_ARG);
    assert_int_equal(sso_trail_maps_correlate(m, -1, k, a, b), SSO_ERR_ARG);
    assert_int_equal(sso_trail_maps_correlate(m, 0, NULL, a, b), SSO_ERR_ARG);
    assert_int_equal(sso_trail_maps_correlate(NULL, 0, k, a, b), SSO_ERR_ARG);
    free(a), free(b);
    sso_trail_kernel_free(k);
    sso_trail_maps_close(m);
    sso_trail_maps_close(NULL);
    free_maps(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_impulse_sums),
        cmocka_unit_test(test_epochs_and_fallback),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
