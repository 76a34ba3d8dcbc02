/* tests/test_stack.c: slow-mover shift-and-stack against injected movers and pure noise.
 *
 * Four epochs at t = -0.385, -0.128, 0.128, 0.385 h (a 0.77 h quartet, mid-baseline reference),
 * white noise of variance 100 e-^2, movers drawn as pixel-integrated Gaussians (FWHM 1.6 px,
 * written here from erf) at x0 + v t_e, psi/phi from sso_likelihood. Expectations:
 *   - velocity grid: every |v| <= vmax has a grid point within dv/sqrt(2); size ~ pi (vmax/dv)^2;
 *   - movers at per-epoch SNR 4 (stacked 8) are found exactly once, v within one grid step,
 *     (x0, y0) radial rms <= 0.3 px (the noise bound is ~0.25); near the edge (one epoch off the
 *     image) with 3 epochs; two movers (0.5 px: one mover's error is noise-limited);
 *   - a single-epoch spike of SNR 20 produces raw hits but no candidate (consistency);
 *   - pure noise: every trajectory's nu is N(0,1) (independent epochs, psi ~ N(0, phi)), so the
 *     expected number of raw hits is exactly N_traj * Q(nu_min), N_traj counted here;
 *   - the candidate list does not depend on the thread count.
 * SSO_BENCH=1 also measures the search rate (512 x 512, full grid; a 2048 x 2048 patch with a
 * 3-epoch band), 1 and 2 threads; SSO_BENCH_NOSKIP=1 adds the band without the coverage skip.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "host/stack_math.h"
#include "sim/rng.h"
#include "sso/sso.h"

#define NE 4
#define FWHM 1.6
#define SIGMA (FWHM / 2.3548200450309493)
#define VAR 100.0
#define HALF 3
static const double T4[NE] = {-0.385, -0.128, 0.128, 0.385};

static double gpix(double dx, double dy)
{
    const double s = 1.0 / (SIGMA * sqrt(2.0));
    return 0.25 * (erf((dx + 0.5) * s) - erf((dx - 0.5) * s)) *
           (erf((dy + 0.5) * s) - erf((dy - 0.5) * s));
}

typedef struct scene {
    int w, h;
    float *d[NE], *v, *psi[NE], *phi[NE];
} scene;

static void scene_init(scene *s, int w, int h, uint64_t seed)
{
    s->w = w, s->h = h;
    s->v = malloc(sizeof(float) * w * h);
    for (int i = 0; i < w * h; i++)
        s->v[i] = (float)VAR;
    for (int e = 0; e < NE; e++) {
        sso_rng r;
        sso_rng_init(&r, seed, 100, (uint64_t)e, 0);
        s->d[e] = malloc(sizeof(float) * w * h);
        s->psi[e] = malloc(sizeof(float) * w * h);
        s->phi[e] = malloc(sizeof(float) * w * h);
        for (int i = 0; i < w * h; i++)
            s->d[e][i] = (float)(sqrt(VAR) * sso_rng_normal(&r));
    }
}

static void scene_free(scene *s)
{
    free(s->v);
    for (int e = 0; e < NE; e++)
        free(s->d[e]), free(s->psi[e]), free(s->phi[e]);
}

/* The flux [e-] that gives optimal per-epoch SNR snr: snr / sqrt(sum T^2 / V). */
static double flux_for_snr(double snr)
{
    double t2 = 0.0, sum = 0.0;
    for (int dy = -6; dy <= 6; dy++)
        for (int dx = -6; dx <= 6; dx++)
            t2 += gpix(dx, dy) * gpix(dx, dy), sum += gpix(dx, dy);
    return snr / sqrt(t2 / (sum * sum) / VAR);
}

static void add_source(scene *s, int e, double xc, double yc, double flux)
{
    int ix = (int)lround(xc), iy = (int)lround(yc);
    for (int y = iy - 6; y <= iy + 6; y++)
        for (int x = ix - 6; x <= ix + 6; x++)
            if (x >= 0 && x < s->w && y >= 0 && y < s->h)
                s->d[e][y * s->w + x] += (float)(flux * gpix(x - xc, y - yc));
}

static void add_mover_t(scene *s, const double *t, double x0, double y0, double vx, double vy,
                        double snr)
{
    double f = flux_for_snr(snr);
    for (int e = 0; e < NE; e++)
        add_source(s, e, x0 + vx * t[e], y0 + vy * t[e], f);
}

static void add_mover(scene *s, double x0, double y0, double vx, double vy, double snr)
{
    add_mover_t(s, T4, x0, y0, vx, vy, snr);
}

static void scene_likelihood(scene *s)
{
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(FWHM, HALF, t), SSO_OK);
    for (int e = 0; e < NE; e++)
        assert_int_equal(sso_likelihood(s->d[e], s->v, NULL, s->w, s->h, t, HALF, SSO_LIKE_AUTO,
                                        s->psi[e], s->phi[e]),
                         SSO_OK);
}

static sso_stack_result *run_stack_p(scene *s, const double *t, const sso_stack_params *p)
{
    sso_stack_result *r = NULL;
    assert_int_equal(sso_stack_slow((const float *const *)s->psi, (const float *const *)s->phi, NE,
                                    s->w, s->h, t, p, &r),
                     SSO_OK);
    const sso_stack_stats *st = sso_stack_result_stats(r);
    assert_int_equal(st->n_samples + st->n_skipped,
                     (int64_t)s->w * s->h * st->n_velocities * NE);
    return r;
}

static sso_stack_result *run_stack(scene *s, int threads, float nu_min)
{
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.n_threads = threads;
    p.nu_min = nu_min;
    return run_stack_p(s, T4, &p);
}

/* Candidates whose grid trajectory passes within 3 px of (x0 + vx t, y0 + vy t) at every epoch
 * (times t) where the mover is on the image; the index of the first (largest nu) in *which. */
static int count_matches_t(const sso_stack_result *r, const double *t, double x0, double y0,
                           double vx, double vy, size_t *which)
{
    int n = 0;
    for (size_t i = 0; i < sso_stack_result_count(r); i++) {
        const sso_stack_cand *c = sso_stack_result_get(r, i);
        int ok = 1;
        for (int e = 0; e < NE; e++) {
            double ex = c->gx0 + c->gvx_px_h * t[e] - (x0 + vx * t[e]);
            double ey = c->gy0 + c->gvy_px_h * t[e] - (y0 + vy * t[e]);
            ok &= fabs(ex) <= 3.0 && fabs(ey) <= 3.0;
        }
        if (ok && n++ == 0)
            *which = i;
    }
    return n;
}

static int count_matches(const sso_stack_result *r, double x0, double y0, double vx, double vy,
                         size_t *which)
{
    return count_matches_t(r, T4, x0, y0, vx, vy, which);
}

static void test_velocity_grid(void **state)
{
    sso_stack_params p;
    sso_stack_params_default(&p);
    double dv;
    int64_t nv;
    assert_int_equal(sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, NULL, NULL), SSO_OK);
    /* dv = sqrt(2) * 0.8 / 0.385 */
    assert_float_equal(dv, sqrt(2.0) * 0.8 / 0.385, 1e-12);
    double area = 3.14159265358979 * pow((100.0 + dv / sqrt(2.0)) / dv, 2.0);
    assert_true(fabs(nv - area) < 0.03 * area);
    double *vx = malloc(sizeof(double) * nv), *vy = malloc(sizeof(double) * nv);
    assert_int_equal(sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, vx, vy), SSO_OK);
    sso_rng r;
    sso_rng_init(&r, 3, 3, 3, 3);
    for (int k = 0; k < 2000; k++) {
        double a = 2.0 * 3.14159265358979 * sso_rng_uniform(&r), m = 100.0 * sqrt(sso_rng_uniform(&r));
        double ux = m * cos(a), uy = m * sin(a), best = 1e9;
        for (int64_t i = 0; i < nv; i++)
            best = fmin(best, hypot(vx[i] - ux, vy[i] - uy));
        assert_true(best <= dv / sqrt(2.0) + 1e-9);
    }
    /* first-epoch reference over 0.77 h: the figure quoted in stack.h */
    const double t0[NE] = {0.0, 0.257, 0.513, 0.77};
    assert_int_equal(sso_stack_velocity_grid(t0, NE, &p, &dv, &nv, NULL, NULL), SSO_OK);
    assert_true(nv > 14000 && nv < 16000);
    free(vx), free(vy);
}

/* 16 movers at per-epoch SNR 4 (stacked 8), sub-pixel starts, velocities up to 30 px/h per axis,
 * 40 px apart: each is found exactly once with v within a grid step. Position: the Cramer-Rao bound
 * for a Gaussian PSF (sigma_eff^2 = sigma^2 + 1/12 = 0.55 px^2) at stacked SNR 8 with a
 * mid-baseline reference is about sqrt(2) sigma_eff / (SNR / 2) / sqrt(2) ~ 0.18 px per axis, so
 * the radial rms over the 16 must be <= 0.3 px and none beyond 0.7 px (3 sigma radial). At SNR 20
 * the same fit gives 0.03 px rms (measured over 30 seeds): the refinement has no pixel bias. */
static void test_movers_snr4(void **state)
{
    scene s;
    scene_init(&s, 160, 160, 1);
    sso_rng rg;
    sso_rng_init(&rg, 42, 0, 0, 0);
    double tx[16], ty[16], tvx[16], tvy[16];
    for (int k = 0; k < 16; k++) {
        tx[k] = 20 + 40 * (k % 4) + sso_rng_uniform(&rg) - 0.5;
        ty[k] = 20 + 40 * (k / 4) + sso_rng_uniform(&rg) - 0.5;
        tvx[k] = 60.0 * (sso_rng_uniform(&rg) - 0.5);
        tvy[k] = 60.0 * (sso_rng_uniform(&rg) - 0.5);
        add_mover(&s, tx[k], ty[k], tvx[k], tvy[k], 4.0);
    }
    scene_likelihood(&s);
    sso_stack_result *r = run_stack(&s, 2, 5.0f);
    const sso_stack_stats *st = sso_stack_result_stats(r);
    double s2 = 0.0;
    for (int k = 0; k < 16; k++) {
        size_t i = 0;
        assert_int_equal(count_matches(r, tx[k], ty[k], tvx[k], tvy[k], &i), 1);
        const sso_stack_cand *c = sso_stack_result_get(r, i);
        double e = hypot(c->x0_px - tx[k], c->y0_px - ty[k]);
        s2 += e * e;
        assert_true(e <= 0.7);
        assert_true(fabs(c->vx_px_h - tvx[k]) <= st->dv_px_h && fabs(c->vy_px_h - tvy[k]) <= st->dv_px_h);
        assert_int_equal(c->n_epochs_used, 4);
        /* flux: the optimal one less sub-pixel and grid losses, within its error */
        double f = flux_for_snr(4.0);
        assert_true(c->flux_e < f + 4.0 * c->flux_err_e && c->flux_e > 0.4 * f);
    }
    fprintf(stderr, "16 movers at SNR 4/epoch: radial rms %.3f px; %zu candidates, raw %lld\n",
            sqrt(s2 / 16), sso_stack_result_count(r), (long long)st->n_raw);
    assert_true(sqrt(s2 / 16) <= 0.3);
    sso_stack_result_free(r);
    scene_free(&s);
}

static void test_edge_mover(void **state)
{
    scene s;
    scene_init(&s, 96, 96, 2);
    /* x at the epochs: 9.8, 5.9, 2.1, -1.8 (off the image in the last epoch) */
    const double x0 = 4.0, y0 = 50.4, vx = -15.0, vy = 8.0;
    add_mover(&s, x0, y0, vx, vy, 5.0);
    scene_likelihood(&s);
    sso_stack_result *r = run_stack(&s, 1, 5.0f);
    size_t k = 0;
    assert_int_equal(count_matches(r, x0, y0, vx, vy, &k), 1);
    const sso_stack_cand *c = sso_stack_result_get(r, k);
    assert_int_equal(c->n_epochs_used, 3);
    assert_true(hypot(c->x0_px - x0, c->y0_px - y0) <= 0.5);
    sso_stack_result_free(r);
    scene_free(&s);
}

static void test_two_movers(void **state)
{
    scene s;
    scene_init(&s, 128, 128, 3);
    add_mover(&s, 40.2, 40.7, 10.0, 60.0, 4.5);
    add_mover(&s, 62.6, 45.1, -70.0, -5.0, 4.5);
    scene_likelihood(&s);
    sso_stack_result *r = run_stack(&s, 1, 5.0f);
    size_t k = 0;
    assert_int_equal(count_matches(r, 40.2, 40.7, 10.0, 60.0, &k), 1);
    assert_true(hypot(sso_stack_result_get(r, k)->x0_px - 40.2,
                      sso_stack_result_get(r, k)->y0_px - 40.7) <= 0.5);
    assert_int_equal(count_matches(r, 62.6, 45.1, -70.0, -5.0, &k), 1);
    assert_true(hypot(sso_stack_result_get(r, k)->x0_px - 62.6,
                      sso_stack_result_get(r, k)->y0_px - 45.1) <= 0.5);
    sso_stack_result_free(r);
    scene_free(&s);
}

/* A single-epoch spike (a one-pixel CR, SNR 20 in the matched filter) in epoch 2 only. */
static void test_single_epoch_rejected(void **state)
{
    scene s;
    scene_init(&s, 128, 128, 4);
    /* one pixel of value a: psi/sqrt(phi) = a T0 / sqrt(V sum T^2) with T0 the template centre */
    float t[49];
    assert_int_equal(sso_template_gauss(FWHM, HALF, t), SSO_OK);
    double t2 = 0.0;
    for (int i = 0; i < 49; i++)
        t2 += (double)t[i] * t[i];
    const double a = 20.0 * sqrt(VAR * t2) / t[24];
    s.d[2][64 * 128 + 64] += (float)a;
    scene_likelihood(&s);
    assert_true(s.psi[2][64 * 128 + 64] / sqrt(s.phi[2][64 * 128 + 64]) > 17.0);
    sso_stack_result *r = run_stack(&s, 1, 5.0f);
    assert_true(sso_stack_result_stats(r)->n_raw > 100); /* the spike alone makes many raw hits */
    for (size_t i = 0; i < sso_stack_result_count(r); i++) {
        const sso_stack_cand *c = sso_stack_result_get(r, i);
        double px = c->gx0 + c->gvx_px_h * T4[2], py = c->gy0 + c->gvy_px_h * T4[2];
        /* within 1 px the spike gives its trajectory >= 12 sigma (T*T at 1 px: 0.63): none may
         * pass; farther out its wing (a few sigma) may join noise in an ordinary noise candidate */
        assert_false(fabs(px - 64) <= 1.0 && fabs(py - 64) <= 1.0);
        assert_true(c->psi_e[2] / sqrt(c->phi_e[2]) < 8.0);
    }
    sso_stack_result_free(r);
    scene_free(&s);
}

/* The 2-epoch pass's rules (max_epochs, epoch_snr_min) in sso_stack_consistent, on hand-made
 * candidates of unit phi (psi_e = the epoch's SNR). */
static void test_pair_rules(void **state)
{
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.nu_min = 7.0f;
    sso_stack_cand c;
    memset(&c, 0, sizeof c);
    c.psi_e[0] = 7.5f, c.phi_e[0] = 1.0f;
    c.psi_e[2] = 5.5f, c.phi_e[2] = 1.0f;
    c.n_epochs_used = 2;
    assert_false(sso_stack_consistent(&c, NE, &p)); /* min_epochs 3 */
    p.min_epochs = p.max_epochs = 2;
    assert_true(sso_stack_consistent(&c, NE, &p)); /* no floor: 7.5 + 5.5 passes */
    p.epoch_snr_min = 5.0f;
    assert_true(sso_stack_consistent(&c, NE, &p));
    p.epoch_snr_min = 6.0f;
    assert_false(sso_stack_consistent(&c, NE, &p)); /* 5.5 < 6 */
    c.psi_e[2] = 6.5f;
    assert_true(sso_stack_consistent(&c, NE, &p));
    /* a third epoch with data: more than max_epochs */
    c.psi_e[1] = 7.0f, c.phi_e[1] = 1.0f, c.n_epochs_used = 3;
    assert_false(sso_stack_consistent(&c, NE, &p));
    p.max_epochs = 0;
    assert_true(sso_stack_consistent(&c, NE, &p));
}

/* A mover seen in epochs 0 and 2 only (the others' phi 0: no detector there), per-epoch SNR 9: the
 * default search (3 epochs) cannot find it; the 2-epoch parameters find it once, with its 2
 * epochs, at its position and velocity. */
static void test_pair_search(void **state)
{
    scene s;
    scene_init(&s, 128, 128, 9);
    const double x0 = 40.3, y0 = 60.6, vx = 30.0, vy = -12.0;
    add_mover(&s, x0, y0, vx, vy, 9.0);
    scene_likelihood(&s);
    for (int i = 0; i < s.w * s.h; i++)
        s.psi[1][i] = s.phi[1][i] = s.psi[3][i] = s.phi[3][i] = 0.0f;
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.nu_min = 7.0f;
    sso_stack_result *r = run_stack_p(&s, T4, &p);
    assert_int_equal(sso_stack_result_count(r), 0);
    sso_stack_result_free(r);
    p.min_epochs = p.max_epochs = 2;
    p.epoch_snr_min = 5.0f;
    r = run_stack_p(&s, T4, &p);
    size_t k = 0;
    assert_int_equal(count_matches(r, x0, y0, vx, vy, &k), 1);
    const sso_stack_cand *c = sso_stack_result_get(r, k);
    assert_int_equal(c->n_epochs_used, 2);
    assert_true(c->phi_e[0] > 0.0f && c->phi_e[2] > 0.0f);
    assert_true(hypot(c->x0_px - x0, c->y0_px - y0) <= 0.5);
    assert_true(fabs(c->vx_px_h - vx) <= 3.0 && fabs(c->vy_px_h - vy) <= 3.0);
    sso_stack_result_free(r);
    scene_free(&s);
}

/* The per-epoch floor on noiseless data: a point of SNR 6.5 in epoch 0 and one of 4.8 in epoch 2,
 * on the pixels a grid trajectory samples (start (64, 50), velocity (7, 3) grid steps; nu ~8.0,
 * the stronger 58% of the sum) pass the 2-epoch threshold and consistency without the floor, not
 * with a floor of 5; 6.5 + 5.5 passes it. */
static void test_pair_floor(void **state)
{
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.nu_min = 7.0f;
    p.min_epochs = p.max_epochs = 2;
    double dv = 0.0;
    int64_t nv = 0;
    assert_int_equal(sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, NULL, NULL), SSO_OK);
    const double x0 = 64.0, y0 = 50.0, vx = 7 * dv, vy = 3 * dv;
    for (int pass = 0; pass < 3; pass++) {
        scene s;
        scene_init(&s, 128, 128, 10);
        for (int e = 0; e < NE; e++)
            memset(s.d[e], 0, sizeof(float) * s.w * s.h);
        add_source(&s, 0, x0 + sso_stack_offset_px(vx, T4[0]), y0 + sso_stack_offset_px(vy, T4[0]),
                   flux_for_snr(6.5));
        add_source(&s, 2, x0 + sso_stack_offset_px(vx, T4[2]), y0 + sso_stack_offset_px(vy, T4[2]),
                   flux_for_snr(pass == 2 ? 5.5 : 4.8));
        scene_likelihood(&s);
        for (int i = 0; i < s.w * s.h; i++)
            s.psi[1][i] = s.phi[1][i] = s.psi[3][i] = s.phi[3][i] = 0.0f;
        p.epoch_snr_min = pass == 0 ? 0.0f : 5.0f;
        sso_stack_result *r = run_stack_p(&s, T4, &p);
        size_t k = 0;
        assert_int_equal(count_matches(r, x0, y0, vx, vy, &k), pass == 1 ? 0 : 1);
        sso_stack_result_free(r);
        scene_free(&s);
    }
}

/* Pure noise, 192 x 192, full grid: E[raw hits] = N_traj * Q(nu_min) with N_traj the trajectories
 * with at least one epoch on the image (counted here from the offsets, row intervals). */
static void test_noise_rate(void **state)
{
    const int w = 192, h = 192; /* 256 x 256 also passes (raw 956 for 844 expected); smaller for ASan */
    const float u = 4.5f;
    scene s;
    scene_init(&s, w, h, 5);
    scene_likelihood(&s);
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.n_threads = 2;
    p.nu_min = u;
    p.no_coverage_skip = 1; /* every trajectory evaluated: the count below is exact */
    sso_stack_result *r = run_stack_p(&s, T4, &p);
    const sso_stack_stats *st = sso_stack_result_stats(r);
    assert_int_equal(st->n_skipped, 0);
    double dv;
    int64_t nv;
    assert_int_equal(sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, NULL, NULL), SSO_OK);
    double *vx = malloc(sizeof(double) * nv), *vy = malloc(sizeof(double) * nv);
    sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, vx, vy);
    double ntraj = 0.0;
    for (int64_t v = 0; v < nv; v++)
        for (int y0 = 0; y0 < h; y0++) {
            /* x0 valid for epoch e: 0 <= x0 + ox < w and 0 <= y0 + oy < h; union of intervals */
            int lo[NE], hi[NE], m = 0;
            for (int e = 0; e < NE; e++) {
                int ox = (int)lround(vx[v] * T4[e]), oy = (int)lround(vy[v] * T4[e]);
                if (y0 + oy < 0 || y0 + oy >= h)
                    continue;
                lo[m] = ox < 0 ? -ox : 0, hi[m] = ox > 0 ? w - ox : w;
                m++;
            }
            for (int x = 0; x < w && m > 0; x++) {
                int in = 0;
                for (int k = 0; k < m; k++)
                    in |= x >= lo[k] && x < hi[k];
                ntraj += in;
            }
        }
    const double expect = ntraj * 0.5 * erfc(u / sqrt(2.0));
    fprintf(stderr, "noise 192x192: %lld velocities, %.3g trajectories, raw %lld (expected %.1f), "
                    "consistent %lld, merged %lld\n",
            (long long)nv, ntraj, (long long)st->n_raw, expect, (long long)st->n_consistent,
            (long long)st->n_merged);
    assert_true(st->n_raw > expect / 1.5 && st->n_raw < expect * 1.5);
    assert_true(st->n_merged <= st->n_consistent && st->n_consistent <= st->n_raw);
    free(vx), free(vy);
    sso_stack_result_free(r);
    scene_free(&s);
}

static void test_threads_identical(void **state)
{
    scene s;
    scene_init(&s, 96, 80, 6);
    add_mover(&s, 30.5, 40.2, 20.0, 10.0, 4.0);
    add_mover(&s, 60.1, 20.9, -40.0, 33.0, 6.0);
    scene_likelihood(&s);
    sso_stack_result *r1 = run_stack(&s, 1, 4.5f);
    assert_true(sso_stack_result_count(r1) >= 2);
    for (int t = 2; t <= 3; t++) {
        sso_stack_result *rt = run_stack(&s, t, 4.5f);
        assert_int_equal(sso_stack_result_count(rt), sso_stack_result_count(r1));
        assert_int_equal(sso_stack_result_stats(rt)->n_raw, sso_stack_result_stats(r1)->n_raw);
        for (size_t i = 0; i < sso_stack_result_count(r1); i++)
            assert_memory_equal(sso_stack_result_get(rt, i), sso_stack_result_get(r1, i),
                                sizeof(sso_stack_cand));
        sso_stack_result_free(rt);
    }
    sso_stack_result_free(r1);
    scene_free(&s);
}

/* Exactness of the vectorised search: with the skip off, the number of raw hits equals the
 * number of trajectories for which sso_stack_pass() holds on sums from sso_stack_eval() (the
 * per-trajectory reference), counted here by brute force. 200 px wide: the 64-px chunks, the
 * moved-back last chunk and the scalar borders all run; 48 rows with offsets up to +-16 rows:
 * trajectories with 1..4 epochs' rows on the image; a masked block (phi = 0) too, and rows where
 * the sums are dominated by rounding (any other order of the float adds changes the count: checked
 * by reordering the adds of the 4-epoch kernel). nu_min 3 gives thousands of hits. */
static void test_search_matches_eval(void **state)
{
    const int w = 200, h = 48;
    scene s;
    scene_init(&s, w, h, 11);
    add_mover(&s, 100.3, 20.6, 30.0, -20.0, 5.0);
    scene_likelihood(&s);
    sso_rng rg;
    sso_rng_init(&rg, 11, 1, 0, 0);
    for (int y = 10; y < 30; y++)
        for (int x = 120; x < 170; x++)
            s.phi[1][y * w + x] = 0.0f,
                  s.psi[1][y * w + x] += (float)(sqrt(s.phi[0][0]) * sso_rng_normal(&rg));
    /* rows 36..47: values of +-2^24 next to values of order 1, so that float sums depend on the
     * order of the adds (((0 + a) + b) + c) + d: a different order passes other trajectories */
    for (int e = 0; e < NE; e++)
        for (int i = 36 * w; i < w * h; i++) {
            double u = sso_rng_uniform(&rg), big = u < 0.3 ? 16777216.0 : u < 0.6 ? -16777216.0 : 0;
            s.psi[e][i] = (float)(big + 3.0 * sso_rng_normal(&rg));
            s.phi[e][i] = sso_rng_uniform(&rg) < 0.2 ? 1e6f : 1.0f;
        }
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.vmax_px_h = 40.0;
    p.nu_min = 3.0f;
    p.no_coverage_skip = 1;
    double dv;
    int64_t nv;
    assert_int_equal(sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, NULL, NULL), SSO_OK);
    double *vx = malloc(sizeof(double) * nv), *vy = malloc(sizeof(double) * nv);
    sso_stack_velocity_grid(T4, NE, &p, &dv, &nv, vx, vy);
    int64_t npass = 0;
    for (int64_t v = 0; v < nv; v++) {
        int ox[NE], oy[NE];
        for (int e = 0; e < NE; e++)
            ox[e] = (int)lround(vx[v] * T4[e]), oy[e] = (int)lround(vy[v] * T4[e]);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float sp, sf;
                sso_stack_eval((const float *const *)s.psi, (const float *const *)s.phi, NE, w, h,
                               x, y, ox, oy, &sp, &sf, NULL, NULL);
                npass += sso_stack_pass(sp, sf, p.nu_min);
            }
    }
    for (int th = 1; th <= 2; th++) {
        p.n_threads = th;
        sso_stack_result *r = run_stack_p(&s, T4, &p);
        const sso_stack_stats *st = sso_stack_result_stats(r);
        assert_int_equal(st->n_skipped, 0);
        assert_int_equal(st->n_raw, npass);
        if (th == 1)
            fprintf(stderr, "search vs eval: %lld velocities, %lld raw hits in both\n",
                    (long long)nv, (long long)npass);
        sso_stack_result_free(r);
    }
    assert_true(npass > 1000);
    free(vx), free(vy);
    scene_free(&s);
}

/* The coverage skip drops nothing that could be a candidate. Per-epoch masks (pixels set to bad
 * before the matched filter, so phi = 0 inside them; psi there overwritten with garbage):
 *   e0: x < 70;   e1: x < 70 and y >= 60;   e2: y >= 150;   e3: x >= 150.
 * Start pixels with < 3 covered epochs (x < 70 and y >= 60, x >= 150 and y >= 150) beyond the
 * dilation (+-16 px at vmax 40 px/h) are skipped. Two movers: one in the 3-epoch corner
 * (x < 70, y < 60; found), one in the 2-epoch region (not a candidate either way). The candidate
 * lists with and without the skip are equal byte for byte; n_raw can only shrink. */
static void test_skip_exact(void **state)
{
    const int w = 192, h = 192;
    scene s;
    scene_init(&s, w, h, 12);
    add_mover(&s, 30.4, 25.7, 25.0, -15.0, 6.0);
    add_mover(&s, 30.4, 120.2, 20.0, 10.0, 6.0);
    uint8_t *mask[NE];
    float t[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(FWHM, HALF, t), SSO_OK);
    sso_rng rg;
    sso_rng_init(&rg, 12, 1, 0, 0);
    for (int e = 0; e < NE; e++) {
        mask[e] = calloc((size_t)w * h, 1);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                mask[e][y * w + x] = e == 0 ? x < 70 : e == 1 ? x < 70 && y >= 60
                                   : e == 2 ? y >= 150 : x >= 150;
        assert_int_equal(sso_likelihood(s.d[e], s.v, mask[e], w, h, t, HALF, SSO_LIKE_AUTO,
                                        s.psi[e], s.phi[e]),
                         SSO_OK);
        const double sd = sqrt(s.phi[e][(h / 2) * w + 110]); /* psi's noise, covered pixel */
        for (int i = 0; i < w * h; i++)
            if (!(s.phi[e][i] > 0.0f))
                s.psi[e][i] = (float)(3.0 * sd * sso_rng_normal(&rg));
        free(mask[e]);
    }
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.vmax_px_h = 40.0;
    p.nu_min = 4.5f;
    p.n_threads = 2;
    p.no_coverage_skip = 1;
    sso_stack_result *rf = run_stack_p(&s, T4, &p);
    p.no_coverage_skip = 0;
    sso_stack_result *rs = run_stack_p(&s, T4, &p);
    const sso_stack_stats *sf = sso_stack_result_stats(rf), *ss = sso_stack_result_stats(rs);
    fprintf(stderr, "skip: %.1f%% of samples skipped; raw %lld -> %lld, consistent %lld, "
                    "candidates %zu\n",
            100.0 * ss->n_skipped / (ss->n_samples + ss->n_skipped), (long long)sf->n_raw,
            (long long)ss->n_raw, (long long)ss->n_consistent, sso_stack_result_count(rs));
    /* skipped area, at least: (70 - 16) x (192 - 60 - 16) + (192 - 150 - 16)^2 of 192^2 = 18% */
    assert_true(ss->n_skipped > 0.18 * (ss->n_samples + ss->n_skipped));
    assert_true(ss->n_raw <= sf->n_raw);
    assert_int_equal(ss->n_consistent, sf->n_consistent);
    assert_int_equal(sso_stack_result_count(rs), sso_stack_result_count(rf));
    for (size_t i = 0; i < sso_stack_result_count(rf); i++)
        assert_memory_equal(sso_stack_result_get(rs, i), sso_stack_result_get(rf, i),
                            sizeof(sso_stack_cand));
    size_t k = 0;
    assert_int_equal(count_matches(rs, 30.4, 25.7, 25.0, -15.0, &k), 1);
    assert_int_equal(sso_stack_result_get(rs, k)->n_epochs_used, 3);
    assert_int_equal(count_matches(rs, 30.4, 120.2, 20.0, 10.0, &k), 0);
    sso_stack_result_free(rf);
    sso_stack_result_free(rs);
    scene_free(&s);
}

/* Epoch times relative to the mean of uneven exposure times (0, 0.2, 0.5, 0.77 h): negative and
 * positive, not symmetric. The mover is found exactly once, its refined start is its position at
 * the mean time; with the same scene searched in first-epoch times (t - t_0), it is found once
 * too and the start there is its position at t_0: both references agree on the motion. */
static void test_centred_times(void **state)
{
    const double texp[NE] = {0.0, 0.2, 0.5, 0.77};
    const double mean = (0.0 + 0.2 + 0.5 + 0.77) / NE;
    double tc[NE], t0[NE];
    for (int e = 0; e < NE; e++)
        tc[e] = texp[e] - mean, t0[e] = texp[e];
    const double x0 = 60.3, y0 = 50.8, vx = -35.0, vy = 22.0; /* at the mean time */
    scene s;
    scene_init(&s, 112, 96, 13);
    add_mover_t(&s, tc, x0, y0, vx, vy, 8.0);
    scene_likelihood(&s);
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.vmax_px_h = 60.0; /* the mover's 41 px/h, and a sanitizer build in seconds */
    sso_stack_result *rc = run_stack_p(&s, tc, &p);
    size_t k = 0;
    assert_int_equal(count_matches_t(rc, tc, x0, y0, vx, vy, &k), 1);
    const sso_stack_cand *c = sso_stack_result_get(rc, k);
    assert_int_equal(c->n_epochs_used, 4);
    assert_true(hypot(c->x0_px - x0, c->y0_px - y0) <= 0.4);
    assert_true(hypot(c->vx_px_h - vx, c->vy_px_h - vy) <= 2.0);
    sso_stack_result *rf = run_stack_p(&s, t0, &p);
    const double xf = x0 - vx * mean, yf = y0 - vy * mean; /* position at t_0 */
    assert_int_equal(count_matches_t(rf, t0, xf, yf, vx, vy, &k), 1);
    const sso_stack_cand *d = sso_stack_result_get(rf, k);
    assert_true(hypot(d->x0_px - xf, d->y0_px - yf) <= 0.4);
    /* the two fits describe the same line: c's start propagated to t_0 */
    assert_true(hypot(c->x0_px - c->vx_px_h * mean - d->x0_px,
                      c->y0_px - c->vy_px_h * mean - d->y0_px) <= 0.5);
    /* the mean reference needs fewer velocities (grid step ~ 1 / max|t|) */
    assert_true(sso_stack_result_stats(rc)->n_velocities * 2 < sso_stack_result_stats(rf)->n_velocities);
    sso_stack_result_free(rc);
    sso_stack_result_free(rf);
    scene_free(&s);
}

static void test_bad_args(void **state)
{
    sso_stack_result *r = (sso_stack_result *)&r;
    float img[4] = {0};
    const float *p[NE] = {img, img, img, img};
    assert_int_equal(sso_stack_slow(p, p, 1, 2, 2, T4, NULL, &r), SSO_ERR_ARG);
    assert_int_equal(sso_stack_slow(p, p, NE, 0, 2, T4, NULL, &r), SSO_ERR_ARG);
    const double same[NE] = {0, 0, 0, 0};
    assert_int_equal(sso_stack_slow(p, p, NE, 2, 2, same, NULL, &r), SSO_ERR_ARG);
    assert_null(r);
    sso_stack_result_free(NULL);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void bench_one(const char *name, float *const *psi, float *const *phi, int w, int h,
                      const double *t, const sso_stack_params *p)
{
    sso_stack_result *r = NULL;
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
    assert_int_equal(sso_stack_slow((const float *const *)psi, (const float *const *)phi, NE, w, h,
                                    t, p, &r),
                     SSO_OK);
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = clock_s(CLOCK_MONOTONIC) - w0;
    const sso_stack_stats *st = sso_stack_result_stats(r);
    printf("bench %s %dx%d, %lld velocities (dv %.3f px/h), threads %d%s: search %.2f s, total "
           "%.2f s wall, %.2f s cpu; %.3g samples evaluated (%.1f%% skipped): %.3g samples/s, "
           "%.3g per cpu-s; raw %lld, out %lld\n",
           name, w, h, (long long)st->n_velocities, st->dv_px_h, p->n_threads,
           p->no_coverage_skip ? " no skip" : "", st->search_s, wall, cpu, (double)st->n_samples,
           100.0 * st->n_skipped / (double)(st->n_samples + st->n_skipped),
           st->n_samples / st->search_s, st->n_samples / cpu, (long long)st->n_raw,
           (long long)st->n_merged);
    fflush(stdout);
    sso_stack_result_free(r);
}

/* SSO_BENCH=1: trajectory-epoch samples/s (evaluated samples), 1 and 2 threads:
 *   - 512 x 512, full coverage, the full 10"/h grid with a first-epoch reference over 0.77 h
 *     (the ~15k-velocity case: comparable with the figures before the row kernel);
 *   - a realistic patch: 2048 x 2048, mean-centred times (T4, ~3.8k velocities), dithers
 *     simulated by coverage: epochs 0, 1 cover rows [0, 1424), epochs 2, 3 rows [624, 2048), so
 *     only the 2048 x 800 band [624, 1424) has >= 3 epochs; psi ~ N(0, phi), phi = 1 (uncorrelated
 *     noise: the rate does not depend on the values). */
static void test_bench_rate(void **state)
{
    if (!getenv("SSO_BENCH"))
        skip();
    {
        const int w = 512, h = 512;
        const double t0[NE] = {0.0, 0.257, 0.513, 0.77};
        scene s;
        scene_init(&s, w, h, 9);
        scene_likelihood(&s);
        for (int th = 1; th <= 2; th++) {
            sso_stack_params p;
            sso_stack_params_default(&p);
            p.n_threads = th;
            bench_one("full", s.psi, s.phi, w, h, t0, &p);
        }
        scene_free(&s);
    }
    const int w = 2048, h = 2048;
    float *psi[NE], *phi[NE];
    for (int e = 0; e < NE; e++) {
        sso_rng r;
        sso_rng_init(&r, 10, 100, (uint64_t)e, 0);
        psi[e] = malloc(sizeof(float) * w * h);
        phi[e] = malloc(sizeof(float) * w * h);
        for (int y = 0; y < h; y++) {
            const int cov = e < 2 ? y < 1424 : y >= 624;
            for (int x = 0; x < w; x++) {
                psi[e][y * w + x] = cov ? (float)sso_rng_normal(&r) : 0.0f;
                phi[e][y * w + x] = cov ? 1.0f : 0.0f;
            }
        }
    }
    for (int th = 1; th <= 2; th++) {
        sso_stack_params p;
        sso_stack_params_default(&p);
        p.n_threads = th;
        bench_one("band", psi, phi, w, h, T4, &p);
    }
    if (getenv("SSO_BENCH_NOSKIP")) {
        sso_stack_params p;
        sso_stack_params_default(&p);
        p.n_threads = 2;
        p.no_coverage_skip = 1;
        bench_one("band", psi, phi, w, h, T4, &p);
    }
    for (int e = 0; e < NE; e++)
        free(psi[e]), free(phi[e]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_velocity_grid),
        cmocka_unit_test(test_movers_snr4),
        cmocka_unit_test(test_edge_mover),
        cmocka_unit_test(test_two_movers),
        cmocka_unit_test(test_single_epoch_rejected),
        cmocka_unit_test(test_pair_rules),
        cmocka_unit_test(test_pair_search),
        cmocka_unit_test(test_pair_floor),
        cmocka_unit_test(test_noise_rate),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_search_matches_eval),
        cmocka_unit_test(test_skip_exact),
        cmocka_unit_test(test_centred_times),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_bench_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
