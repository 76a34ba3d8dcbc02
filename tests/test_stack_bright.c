/* tests/test_stack_bright.c: bright slow movers through likelihood + stack, found exactly once.
 *
 * A bright mover (stacked nu ~235, ~120 per epoch) rendered with the real VIS ePSF (sim/psf.h: Airy ring and
 * spikes, ~5% of the light beyond 8 px) into 4 epochs of white noise, with per-epoch fluxes that
 * differ by up to 30% (what a slow mover's self-subtraction by the median template and the grid
 * trajectory's pixel offsets do to real data). Expected, from the stack contract:
 *   - the consistency test accepts it (a noise-only tolerance, 3/sqrt(phi_e) ~ 2% of the flux at
 *     this SNR, would reject every trajectory near the true one);
 *   - merging leaves exactly one candidate: the trajectories through the PSF wings 2-6 px from
 *     the core, still above threshold at this brightness, are claimed by the core's candidate;
 *   - that candidate lies within 0.3 px of the truth at the reference time, and its velocity
 *     within one grid step.
 * Also a faint mover 12 px away from the bright one survives as a second candidate (the claim
 * radius must not swallow real neighbours at that distance).
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

#include "sim/psf.h"
#include "sim/rng.h"
#include "sso/sso.h"

#define NE 4
#define W 160
#define H 160
#define SIGMA_E 100.0 /* per-pixel noise [e-] */

static void run_case(double x_faint_off_px, size_t expect)
{
    sso_sim_psf *psf = NULL;
    assert_int_equal(sso_sim_psf_create(4, 32, &psf), SSO_OK);
    const double t_h[NE] = {-0.385, -0.128, 0.128, 0.385}; /* about the mean epoch, 921 s apart */
    const double x0 = 70.3, y0 = 81.6, vx = 6.2, vy = -4.1; /* px, px/h */
    const double flux[NE] = {60000.0, 42000.0, 45000.0, 58000.0}; /* +-30% between epochs */
    const double faint = 2500.0;
    float *img[NE], *var[NE], *psi[NE], *phi[NE];
    uint8_t *mask = calloc((size_t)W * H, 1);
    sso_rng g;
    sso_rng_init(&g, 42, 7, 0, 0);
    for (int e = 0; e < NE; e++) {
        img[e] = calloc((size_t)W * H, sizeof(float));
        var[e] = malloc((size_t)W * H * sizeof(float));
        psi[e] = malloc((size_t)W * H * sizeof(float));
        phi[e] = malloc((size_t)W * H * sizeof(float));
        for (size_t i = 0; i < (size_t)W * H; i++) {
            img[e][i] = (float)(SIGMA_E * sso_rng_normal(&g));
            var[e][i] = (float)(SIGMA_E * SIGMA_E);
        }
        sso_sim_psf_add(psf, img[e], W, H, x0 + vx * t_h[e], y0 + vy * t_h[e], flux[e], 32, 0.0f);
        if (x_faint_off_px > 0)
            sso_sim_psf_add(psf, img[e], W, H, x0 + x_faint_off_px + vx * t_h[e], y0 + vy * t_h[e],
                            faint, 32, 0.0f);
    }
    float tmpl[49];
    double sum = 0.0;
    for (int dy = -3; dy <= 3; dy++)
        for (int dx = -3; dx <= 3; dx++)
            sum += tmpl[(dy + 3) * 7 + dx + 3] = sso_sim_psf_eval(psf, dx, dy);
    for (int i = 0; i < 49; i++)
        tmpl[i] = (float)(tmpl[i] / sum);
    for (int e = 0; e < NE; e++)
        assert_int_equal(sso_likelihood(img[e], var[e], mask, W, H, tmpl, 3, SSO_LIKE_DIRECT, psi[e],
                                        phi[e]),
                         SSO_OK);
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.vmax_px_h = 12.0;
    p.nu_min = 7.0f;
    sso_stack_result *res = NULL;
    assert_int_equal(sso_stack_slow((const float *const *)psi, (const float *const *)phi, NE, W, H,
                                    t_h, &p, &res),
                     SSO_OK);
    const size_t n = sso_stack_result_count(res);
    for (size_t i = 0; i < n; i++) {
        const sso_stack_cand *c = sso_stack_result_get(res, i);
        fprintf(stderr, "candidate %zu: (%.2f, %.2f) v (%.2f, %.2f) nu %.1f\n", i, c->x0_px, c->y0_px,
                c->vx_px_h, c->vy_px_h, (double)c->nu);
    }
    assert_int_equal(n, expect);
    const sso_stack_cand *c = sso_stack_result_get(res, 0); /* strongest first */
    assert_true(hypot(c->x0_px - x0, c->y0_px - y0) < 0.3);
    const double dv = sso_stack_result_stats(res)->dv_px_h;
    assert_true(hypot(c->vx_px_h - vx, c->vy_px_h - vy) <= dv);
    if (expect == 2) {
        const sso_stack_cand *f = sso_stack_result_get(res, 1);
        assert_true(hypot(f->x0_px - (x0 + x_faint_off_px), f->y0_px - y0) < 0.5);
    }
    sso_stack_result_free(res);
    for (int e = 0; e < NE; e++)
        free(img[e]), free(var[e]), free(psi[e]), free(phi[e]);
    free(mask);
    sso_sim_psf_free(psf);
}

static void test_bright_found_once(void **state) { run_case(0.0, 1); }
static void test_bright_with_faint_neighbour(void **state) { run_case(12.0, 2); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bright_found_once),
        cmocka_unit_test(test_bright_with_faint_neighbour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
