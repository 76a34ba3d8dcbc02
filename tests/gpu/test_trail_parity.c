/* tests/gpu/test_trail_parity.c: the trail correlation on the GPU (sso_trail_maps on CUDA,
 * kernels/likelihood.cu like_trail) against the CPU's (sso_likelihood_trail).
 *
 * Inputs: four epochs of seeded random point maps (psi Gaussian with a scale per epoch, phi
 * uniform in [0.5, 1.5), 10% of the pixels and a whole block masked: 0 in both), 613 x 257 px so
 * that the blocks of 32 x 8 threads overhang both edges; kernels of 0 to 120 px at five angles
 * (taps that leave the image on every side). Outputs are poisoned with NaN before each GPU call,
 * so a pixel left unwritten fails.
 * Tolerance: none (atol = rtol = 0). The kernel adds w_j * psi(x + d_j) over the taps in the
 * kernel's order from 0.0f with __fmul_rn/__fadd_rn (never fused), skipping taps off the image,
 * then multiplies phi_L by kappa; the CPU's row loop (host/likelihood.c: tap outer, pixel inner)
 * does the same float operations in the same order for each pixel, and baseline x86-64 has no FMA
 * to contract into. Any difference is a bug (wrong tap, edge or order), so the count of pixels
 * that differ and the worst are printed and must be 0.
 * Then the held maps are replaced by a load of a different size and epoch count (the engine's
 * slots grow and the old maps are gone): correlating there matches the CPU again, and an epoch
 * beyond the new count is refused. Exits 77 (SKIPPED) without a device.
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

#include "parity.h"

#define HALF 3
#define NE 4

typedef struct scene {
    int w, h, n;
    float *psi[NE], *phi[NE];
} scene;

static void make_scene(scene *s, int w, int h, int n, uint64_t seed)
{
    pt_seed(seed);
    s->w = w, s->h = h, s->n = n;
    const size_t np = (size_t)w * h;
    for (int e = 0; e < n; e++) {
        s->psi[e] = malloc(np * sizeof(float)), s->phi[e] = malloc(np * sizeof(float));
        assert_non_null(s->psi[e]), assert_non_null(s->phi[e]);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const size_t q = (size_t)y * w + x;
                const int masked = pt_uni() < 0.1 || (x > w / 3 && x < w / 3 + 40 && y > h / 2 && y < h / 2 + 30);
                s->psi[e][q] = masked ? 0.0f : (float)(pt_gauss() * (1.0 + e));
                s->phi[e][q] = masked ? 0.0f : (float)(0.5 + pt_uni());
            }
    }
}

static void free_scene(scene *s)
{
    for (int e = 0; e < s->n; e++)
        free(s->psi[e]), free(s->phi[e]);
}

/* Every epoch of s on both backends for the kernel (len, th); returns the pixels that differ. */
static size_t compare_kernel(const scene *s, double len, double th)
{
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(1.6, HALF, t), SSO_OK);
    sso_trail_kernel *k = NULL;
    assert_int_equal(sso_trail_kernel_create(t, HALF, len, th, &k), SSO_OK);
    const size_t np = (size_t)s->w * s->h;
    float *gp = malloc(np * sizeof(float)), *gf = malloc(np * sizeof(float));
    float *cp = malloc(np * sizeof(float)), *cf = malloc(np * sizeof(float));
    assert_non_null(gp), assert_non_null(gf), assert_non_null(cp), assert_non_null(cf);
    sso_trail_maps *gm = NULL, *cm = NULL;
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CUDA, s->n, (const float *const *)s->psi,
                                         (const float *const *)s->phi, s->w, s->h, 1, &gm),
                     SSO_OK);
    assert_int_equal(sso_trail_maps_backend(gm), SSO_BACKEND_CUDA);
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CPU, s->n, (const float *const *)s->psi,
                                         (const float *const *)s->phi, s->w, s->h, 2, &cm),
                     SSO_OK);
    size_t bad = 0;
    for (int e = 0; e < s->n; e++) {
        for (size_t q = 0; q < np; q++)
            gp[q] = gf[q] = NAN;
        assert_int_equal(sso_trail_maps_correlate(gm, e, k, gp, gf), SSO_OK);
        assert_int_equal(sso_trail_maps_correlate(cm, e, k, cp, cf), SSO_OK);
        char what[96];
        snprintf(what, sizeof what, "psi_L len %.1f th %.2f epoch %d (%d taps)", len, th, e,
                 sso_trail_kernel_taps(k));
        bad += pt_compare(what, gp, cp, np, s->w, NULL, 0.0f, 0.0f, NULL);
        snprintf(what, sizeof what, "phi_L len %.1f th %.2f epoch %d", len, th, e);
        bad += pt_compare(what, gf, cf, np, s->w, NULL, 0.0f, 0.0f, NULL);
    }
    sso_trail_maps_close(gm), sso_trail_maps_close(cm);
    sso_trail_kernel_free(k);
    free(gp), free(gf), free(cp), free(cf);
    return bad;
}

static void test_random_bitwise(void **state)
{
    scene s;
    make_scene(&s, 613, 257, NE, 0x7A11);
    const double lens[6] = {0.0, 2.5, 6.0, 16.0, 40.0, 120.0};
    const double ths[5] = {0.0, 0.35, 1.2, 1.5707963267948966, 2.9};
    size_t bad = 0, cases = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 5; j++, cases++)
            bad += compare_kernel(&s, lens[i], ths[j]);
    printf("trail parity: %zu kernels x %d epochs x 2 maps of 613 x 257: %zu pixels differ\n",
           cases, NE, bad);
    assert_int_equal(bad, 0);
    free_scene(&s);
}

static void test_reload(void **state)
{
    scene a, b;
    make_scene(&a, 301, 199, NE, 0xA);
    make_scene(&b, 130, 1031, 2, 0xB); /* tall, fewer epochs: the held maps are replaced */
    assert_int_equal(compare_kernel(&a, 12.0, 0.8), 0);
    assert_int_equal(compare_kernel(&b, 12.0, 0.8), 0);
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(1.6, HALF, t), SSO_OK);
    sso_trail_kernel *k = NULL;
    assert_int_equal(sso_trail_kernel_create(t, HALF, 5.0, 0.1, &k), SSO_OK);
    sso_trail_maps *m = NULL;
    assert_int_equal(sso_trail_maps_open(SSO_BACKEND_CUDA, 2, (const float *const *)b.psi,
                                         (const float *const *)b.phi, b.w, b.h, 1, &m),
                     SSO_OK);
    float *p = malloc((size_t)b.w * b.h * sizeof(float)), *f = malloc((size_t)b.w * b.h * sizeof(float));
    assert_non_null(p), assert_non_null(f);
    assert_int_equal(sso_trail_maps_correlate(m, 2, k, p, f), SSO_ERR_ARG);
    free(p), free(f);
    sso_trail_maps_close(m);
    sso_trail_kernel_free(k);
    free_scene(&a), free_scene(&b);
}

int main(void)
{
    if (sso_cuda_device_count() <= 0) {
        printf("[  SKIPPED ] no CUDA device: trail correlation parity not checked\n");
        return SSO_TEST_SKIP_EXIT;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bitwise),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
