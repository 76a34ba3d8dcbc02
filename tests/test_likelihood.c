/* tests/test_likelihood.c: psi/phi likelihood images and templates against analytic cases.
 *
 * Expectations come from the definitions (include/sso/likelihood.h), evaluated independently here:
 * an asymmetric two-tap template whose psi is written out by hand (catches a flipped kernel), a
 * source flux * T on white noise (psi/phi = flux +- 1/sqrt(phi), psi/sqrt(phi) = flux *
 * sqrt(sum T^2/V) +- 1), a sub-pixel source with its correlation loss computed here in double,
 * pure noise with a random variance map and mask (psi/sqrt(phi) ~ N(0,1)), garbage under the mask,
 * FFT against direct, and a trail template's moments (segment variance L^2/12).
 * SSO_BENCH=1 also times direct against FFT per template size (the AUTO crossover).
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

#include "sim/rng.h"
#include "sso/sso.h"

#define FWHM 1.6
#define SSO_PI 3.14159265358979323846
#define SIGMA (FWHM / 2.3548200450309493)

/* Pixel-integrated Gaussian written here from erf, independent of host/stack_math.h. */
static double gpix(double dx, double dy)
{
    const double s = 1.0 / (SIGMA * sqrt(2.0));
    return 0.25 * (erf((dx + 0.5) * s) - erf((dx - 0.5) * s)) *
           (erf((dy + 0.5) * s) - erf((dy - 0.5) * s));
}

static float *noise_image(int w, int h, double sigma, uint64_t seed)
{
    float *d = malloc(sizeof(float) * (size_t)w * h);
    sso_rng r;
    sso_rng_init(&r, seed, 1, 2, 3);
    for (int i = 0; i < w * h; i++)
        d[i] = (float)(sigma * sso_rng_normal(&r));
    return d;
}

static float *const_image(int w, int h, float v)
{
    float *d = malloc(sizeof(float) * (size_t)w * h);
    for (int i = 0; i < w * h; i++)
        d[i] = v;
    return d;
}

/* psi of a template with T(+1, 0) = 0.7 and T(0, -2) = 0.3 (half 2, or half 7 for the FFT path):
 * psi(x, y) = (0.7 D(x+1, y) + 0.3 D(x, y-2)) / V, zero beyond the edge. A flipped kernel would
 * read D(x-1, y) and D(x, y+2). */
static void check_asym(int half, sso_like_method m)
{
    const int w = 37, h = 29, n = 2 * half + 1;
    float *d = noise_image(w, h, 3.0, 11), *v = const_image(w, h, 2.0f);
    float *psi = malloc(sizeof(float) * w * h), *phi = malloc(sizeof(float) * w * h);
    float *t = calloc((size_t)n * n, sizeof(float));
    t[(0 + half) * n + (1 + half)] = 0.7f;
    t[(-2 + half) * n + (0 + half)] = 0.3f;
    assert_int_equal(sso_likelihood(d, v, NULL, w, h, t, half, m, psi, phi), SSO_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double e = 0.0, f = 0.0;
            if (x + 1 < w) {
                e += 0.7 * d[y * w + x + 1] / 2.0;
                f += 0.49 / 2.0;
            }
            if (y - 2 >= 0) {
                e += 0.3 * d[(y - 2) * w + x] / 2.0;
                f += 0.09 / 2.0;
            }
            assert_float_equal(psi[y * w + x], e, 1e-5);
            assert_float_equal(phi[y * w + x], f, 1e-6);
        }
    free(d), free(v), free(psi), free(phi), free(t);
}

static void test_asymmetric_direct(void **state) { check_asym(2, SSO_LIKE_DIRECT); }
static void test_asymmetric_fft(void **state) { check_asym(2, SSO_LIKE_FFT); }
static void test_asymmetric_fft_large(void **state) { check_asym(7, SSO_LIKE_FFT); }

/* Sources flux * S at (xc + ox, yc + oy) on white noise of variance V; with S = T (ox = oy = 0)
 * psi/phi = flux, otherwise flux * c with c = sum T S / sum T^2 (computed here). */
static void check_sources(double ox, double oy, sso_like_method m)
{
    const int w = 160, h = 160, half = 5, n = 11;
    const double var = 100.0, flux = 400.0;
    float t[121];
    assert_int_equal(sso_template_gauss(FWHM, half, t), SSO_OK);
    double tsum = 0.0, t2 = 0.0, ts = 0.0, ssum = 0.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++)
            ssum += gpix(dx - ox, dy - oy);
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++) {
            double tv = t[(dy + half) * n + dx + half];
            /* T is the pixel-integrated Gaussian normalised over the stamp: check it */
            tsum += tv;
            t2 += tv * tv;
            ts += tv * gpix(dx - ox, dy - oy) / ssum;
            assert_true(fabs(tv - gpix(dx, dy)) < 2e-4);
        }
    assert_float_equal(tsum, 1.0, 1e-5);
    const double c = ts / t2;
    float *d = noise_image(w, h, sqrt(var), (uint64_t)(21 + lround(fabs(ox) * 100))), *v = const_image(w, h, (float)var);
    float *psi = malloc(sizeof(float) * w * h), *phi = malloc(sizeof(float) * w * h);
    int ns = 0;
    for (int yc = 12; yc < h - 12; yc += 20)
        for (int xc = 12; xc < w - 12; xc += 20) {
            for (int dy = -half; dy <= half; dy++)
                for (int dx = -half; dx <= half; dx++)
                    d[(yc + dy) * w + xc + dx] += (float)(flux * gpix(dx - ox, dy - oy) / ssum);
            ns++;
        }
    assert_int_equal(sso_likelihood(d, v, NULL, w, h, t, half, m, psi, phi), SSO_OK);
    const double phi_exp = t2 / var, nu_exp = flux * c * sqrt(t2 / var);
    double chi_sum = 0.0, chi2 = 0.0;
    for (int yc = 12; yc < h - 12; yc += 20)
        for (int xc = 12; xc < w - 12; xc += 20) {
            int i = yc * w + xc;
            assert_float_equal(phi[i], phi_exp, 1e-5 * phi_exp);
            double fl = psi[i] / phi[i], err = 1.0 / sqrt(phi[i]);
            double nu = psi[i] / sqrt(phi[i]);
            assert_true(fabs(fl - flux * c) < 4.0 * err);
            assert_true(fabs(nu - nu_exp) < 4.0);
            chi_sum += (fl - flux * c) / err;
            chi2 += (nu - nu_exp) * (nu - nu_exp);
        }
    /* the mean normalised deviation over ns sources is N(0, 1/ns): no bias */
    assert_true(fabs(chi_sum / ns) < 4.0 / sqrt(ns));
    assert_true(chi2 / ns > 0.4 && chi2 / ns < 1.8);
    free(d), free(v), free(psi), free(phi);
}

static void test_source_integer(void **state) { check_sources(0.0, 0.0, SSO_LIKE_DIRECT); }
static void test_source_subpixel(void **state) { check_sources(0.3, -0.4, SSO_LIKE_DIRECT); }
static void test_source_subpixel_fft(void **state) { check_sources(-0.5, 0.2, SSO_LIKE_FFT); }

/* Pure noise, variance varying per pixel in [50, 150], 5% masked with garbage under the mask:
 * psi/sqrt(phi) is N(0, 1) at every pixel with phi > 0. Pixels are correlated over the template
 * (about 4 pi sigma^2 ~ 6 px per independent value), so the mean over 256^2 is known to ~0.01. */
static void test_noise_statistics(void **state)
{
    const int w = 256, h = 256, half = 5;
    float t[121];
    assert_int_equal(sso_template_gauss(FWHM, half, t), SSO_OK);
    sso_rng r;
    sso_rng_init(&r, 7, 7, 7, 7);
    float *d = malloc(sizeof(float) * w * h), *v = malloc(sizeof(float) * w * h);
    uint8_t *mask = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        v[i] = (float)(50.0 + 100.0 * sso_rng_uniform(&r));
        d[i] = (float)(sqrt(v[i]) * sso_rng_normal(&r));
        mask[i] = sso_rng_uniform(&r) < 0.05;
        if (mask[i])
            d[i] = (i & 1) ? NAN : 1e30f;
    }
    float *psi = malloc(sizeof(float) * w * h), *phi = malloc(sizeof(float) * w * h);
    assert_int_equal(sso_likelihood(d, v, mask, w, h, t, half, SSO_LIKE_AUTO, psi, phi), SSO_OK);
    double s = 0.0, s2 = 0.0;
    long cnt = 0;
    for (int i = 0; i < w * h; i++) {
        assert_true(isfinite(psi[i]) && phi[i] > 0.0f);
        double nu = psi[i] / sqrt(phi[i]);
        s += nu;
        s2 += nu * nu;
        cnt++;
    }
    double mean = s / cnt, sd = sqrt(s2 / cnt - mean * mean);
    assert_true(fabs(mean) < 0.05);
    assert_true(fabs(sd - 1.0) < 0.03);
    free(d), free(v), free(mask), free(psi), free(phi);
}

/* A noiseless source with a third of its footprint masked (garbage there): psi/phi is still the
 * flux exactly (masked pixels leave both sums), and psi equals the psi of the image with zeros
 * under the mask. */
static void test_mask_no_bias(void **state)
{
    const int w = 40, h = 40, half = 5, n = 11;
    float t[121];
    assert_int_equal(sso_template_gauss(FWHM, half, t), SSO_OK);
    float *d = const_image(w, h, 0.0f), *d0 = const_image(w, h, 0.0f), *v = const_image(w, h, 25.0f);
    uint8_t *mask = calloc((size_t)w * h, 1);
    const int xc = 20, yc = 19;
    const double flux = 1000.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++) {
            int i = (yc + dy) * w + xc + dx;
            d[i] = d0[i] = (float)(flux * t[(dy + half) * n + dx + half]);
            if (dx <= -1 && dy >= -3) {
                mask[i] = 1;
                d[i] = (dx & 1) ? 1e20f : NAN;
                d0[i] = 0.0f;
            }
        }
    for (int m = SSO_LIKE_DIRECT; m <= SSO_LIKE_FFT; m++) {
        float *psi = malloc(sizeof(float) * w * h), *phi = malloc(sizeof(float) * w * h);
        float *psi0 = malloc(sizeof(float) * w * h), *phi0 = malloc(sizeof(float) * w * h);
        assert_int_equal(sso_likelihood(d, v, mask, w, h, t, half, m, psi, phi), SSO_OK);
        assert_int_equal(sso_likelihood(d0, v, mask, w, h, t, half, m, psi0, phi0), SSO_OK);
        int i = yc * w + xc;
        assert_float_equal(psi[i] / phi[i], flux, 1e-3);
        for (int k = 0; k < w * h; k++) {
            assert_true(isfinite(psi[k]));
            assert_float_equal(psi[k], psi0[k], 1e-6 * (fabs(psi0[k]) + 1.0));
        }
        free(psi), free(phi), free(psi0), free(phi0);
    }
    free(d), free(d0), free(v), free(mask);
}

/* FFT and direct agree to 1e-5, relative to the noise scale sqrt(phi) for psi (psi crosses zero)
 * and to phi itself for phi, on random data with a random variance map and mask. */
static void check_fft_direct(const float *t, int half)
{
    const int w = 203, h = 150;
    sso_rng r;
    sso_rng_init(&r, 5, 5, half, 5);
    float *d = malloc(sizeof(float) * w * h), *v = malloc(sizeof(float) * w * h);
    uint8_t *mask = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        v[i] = (float)(20.0 + 200.0 * sso_rng_uniform(&r));
        d[i] = (float)(sqrt(v[i]) * sso_rng_normal(&r));
        mask[i] = sso_rng_uniform(&r) < 0.02;
    }
    float *p1 = malloc(sizeof(float) * w * h), *f1 = malloc(sizeof(float) * w * h);
    float *p2 = malloc(sizeof(float) * w * h), *f2 = malloc(sizeof(float) * w * h);
    assert_int_equal(sso_likelihood(d, v, mask, w, h, t, half, SSO_LIKE_DIRECT, p1, f1), SSO_OK);
    assert_int_equal(sso_likelihood(d, v, mask, w, h, t, half, SSO_LIKE_FFT, p2, f2), SSO_OK);
    double worst_p = 0.0, worst_f = 0.0;
    for (int i = 0; i < w * h; i++) {
        double ep = fabs(p1[i] - p2[i]) / (fabs(p1[i]) + sqrt(f1[i]));
        double ef = fabs(f1[i] - f2[i]) / f1[i];
        worst_p = ep > worst_p ? ep : worst_p;
        worst_f = ef > worst_f ? ef : worst_f;
    }
    if (worst_p > 1e-5 || worst_f > 1e-5)
        fprintf(stderr, "half %d: worst psi %.3g, phi %.3g\n", half, worst_p, worst_f);
    assert_true(worst_p <= 1e-5);
    assert_true(worst_f <= 1e-5);
    free(d), free(v), free(mask), free(p1), free(f1), free(p2), free(f2);
}

static void test_fft_matches_direct(void **state)
{
    float g[121];
    assert_int_equal(sso_template_gauss(FWHM, 5, g), SSO_OK);
    check_fft_direct(g, 5);
    float *tr = malloc(sizeof(float) * 31 * 31);
    assert_int_equal(sso_template_trail(g, 5, 16.0, 0.6, 15, tr), SSO_OK);
    check_fft_direct(tr, 15);
    free(tr);
}

/* Trail moments: along the trail the variance is the PSF's (sigma^2 + 1/12 for the pixel) plus
 * the segment's, L^2/12 * (m+1)/(m-1) for m evenly spaced sub-steps, plus the bilinear resampling
 * spread (mean a(1-a) over the phases 0, 1/4, 1/2, 3/4 = 5/32); across it the PSF's alone. The
 * direction of the principal axis is theta. */
static void trail_moments(const float *t, int half, double *cxx, double *cyy, double *cxy,
                          double *mx, double *my, double *sum)
{
    const int n = 2 * half + 1;
    double s = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++) {
            double v = t[(dy + half) * n + dx + half];
            s += v, sx += v * dx, sy += v * dy;
            sxx += v * dx * dx, syy += v * dy * dy, sxy += v * dx * dy;
        }
    *sum = s;
    *mx = sx / s, *my = sy / s;
    *cxx = sxx / s - *mx * *mx, *cyy = syy / s - *my * *my, *cxy = sxy / s - *mx * *my;
}

static void test_trail_template(void **state)
{
    const int ph = 6, half = 14;
    float psf[169], *t = malloc(sizeof(float) * 29 * 29);
    assert_int_equal(sso_template_gauss(FWHM, ph, psf), SSO_OK);
    double cxx, cyy, cxy, mx, my, s;
    const double L = 10.0, m = 41; /* steps: ceil(10 / 0.25) + 1 */
    const double var_psf = SIGMA * SIGMA + 1.0 / 12.0;
    const double var_seg = L * L / 12.0 * (m + 1) / (m - 1);
    assert_int_equal(sso_template_trail(psf, ph, L, 0.0, half, t), SSO_OK);
    trail_moments(t, half, &cxx, &cyy, &cxy, &mx, &my, &s);
    assert_float_equal(s, 1.0, 1e-5);
    assert_float_equal(mx, 0.0, 1e-4);
    assert_float_equal(my, 0.0, 1e-4);
    assert_float_equal(cyy, var_psf, 0.01 * var_psf);
    assert_float_equal(cxx, var_psf + var_seg + 5.0 / 32.0, 0.01 * (var_psf + var_seg));
    /* at 30 degrees: principal axis at 30 deg, the same two variances along and across it */
    assert_int_equal(sso_template_trail(psf, ph, L, SSO_PI / 6.0, half, t), SSO_OK);
    trail_moments(t, half, &cxx, &cyy, &cxy, &mx, &my, &s);
    assert_float_equal(mx, 0.0, 1e-4);
    assert_float_equal(my, 0.0, 1e-4);
    double ang = 0.5 * atan2(2.0 * cxy, cxx - cyy);
    assert_float_equal(ang, SSO_PI / 6.0, 1.0 * SSO_PI / 180.0);
    double lam1 = 0.5 * (cxx + cyy) + sqrt(0.25 * (cxx - cyy) * (cxx - cyy) + cxy * cxy);
    assert_float_equal(lam1, var_psf + var_seg, 0.03 * (var_psf + var_seg));
    /* length 0 is the PSF itself */
    assert_int_equal(sso_template_trail(psf, ph, 0.0, 1.0, ph, t), SSO_OK);
    for (int i = 0; i < 169; i++)
        assert_float_equal(t[i], psf[i], 1e-6);
    /* a negative length is an argument error */
    assert_int_equal(sso_template_trail(psf, ph, -1.0, 0.0, half, t), SSO_ERR_ARG);
    free(t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* SSO_BENCH=1: direct vs FFT time per template size on 512 x 512 (the AUTO crossover). */
static void test_bench_crossover(void **state)
{
    if (!getenv("SSO_BENCH"))
        skip();
    const int w = 512, h = 512;
    float *d = noise_image(w, h, 10.0, 3), *v = const_image(w, h, 100.0f);
    float *psi = malloc(sizeof(float) * w * h), *phi = malloc(sizeof(float) * w * h);
    for (int half = 2; half <= 12; half++) {
        int n = 2 * half + 1;
        float *t = malloc(sizeof(float) * n * n);
        sso_template_gauss(4.0, half, t);
        double best[3] = {1e9, 1e9, 1e9};
        for (int m = 1; m <= 2; m++)
            for (int rep = 0; rep < 3; rep++) {
                double t0 = now_s();
                sso_likelihood(d, v, NULL, w, h, t, half, (sso_like_method)m, psi, phi);
                double dt = now_s() - t0;
                best[m] = dt < best[m] ? dt : best[m];
            }
        printf("bench likelihood 512x512 template %2dx%-2d direct %7.2f ms  fft %7.2f ms\n", n, n,
               1e3 * best[1], 1e3 * best[2]);
        free(t);
    }
    free(d), free(v), free(psi), free(phi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_asymmetric_direct),
        cmocka_unit_test(test_asymmetric_fft),
        cmocka_unit_test(test_asymmetric_fft_large),
        cmocka_unit_test(test_source_integer),
        cmocka_unit_test(test_source_subpixel),
        cmocka_unit_test(test_source_subpixel_fft),
        cmocka_unit_test(test_noise_statistics),
        cmocka_unit_test(test_mask_no_bias),
        cmocka_unit_test(test_fft_matches_direct),
        cmocka_unit_test(test_trail_template),
        cmocka_unit_test(test_bench_crossover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
