/* tests/test_noisecal.c: the empirical noise scale of psi/phi (host/noisecal.c).
 *
 * Analytic cases: white noise with the right variance gives s = 1; noise correlated along x by a
 * two-tap filter d = a n(x) + b n(x+1) (unit variance per pixel, correlation rho = a b at lag 1,
 * declared variance 1) gives var(psi)/phi = 1 + 2 rho sum T(u) T(u+x^) / sum T^2, computed here
 * from the template; a few bright point sources do not move the robust scale; applying s keeps
 * psi/phi (the flux) and divides psi/sqrt(phi) by s; no usable pixel leaves s = 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/noisecal.h"
#include "sim/rng.h"
#include "sso/sso.h"

#define W 512
#define H 512
#define HALF 3
#define FWHM 1.6

/* psi/phi of image d (unit declared variance, nothing masked) with a Gaussian template. */
static void likelihood(const float *d, const float *tmpl, float *psi, float *phi)
{
    float *var = malloc(sizeof(float) * W * H);
    uint8_t *mask = calloc(W * H, 1);
    assert_non_null(var);
    assert_non_null(mask);
    for (int i = 0; i < W * H; i++)
        var[i] = 1.0f;
    assert_int_equal(sso_likelihood(d, var, mask, W, H, tmpl, HALF, SSO_LIKE_DIRECT, psi, phi), SSO_OK);
    free(var);
    free(mask);
}

/* d = a n(x, y) + b n(x+1, y), n white N(0,1); a = b = 1/sqrt(2) when rho = 0.5, a = 1, b = 0 white. */
static float *correlated_noise(double rho, uint64_t seed)
{
    const double b = rho > 0 ? sqrt(0.5 * (1.0 - sqrt(1.0 - 4.0 * rho * rho))) : 0.0;
    const double a = sqrt(1.0 - b * b); /* a^2 + b^2 = 1, a b = rho */
    float *n = malloc(sizeof(float) * (W + 1) * H), *d = malloc(sizeof(float) * W * H);
    assert_non_null(n);
    assert_non_null(d);
    sso_rng r;
    sso_rng_init(&r, seed, 7, 8, 9);
    for (int i = 0; i < (W + 1) * H; i++)
        n[i] = (float)sso_rng_normal(&r);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            d[y * W + x] = (float)(a * n[y * (W + 1) + x] + b * n[y * (W + 1) + x + 1]);
    free(n);
    return d;
}

static double measured_scale(const float *d, const float *tmpl)
{
    float *psi = malloc(sizeof(float) * W * H), *phi = malloc(sizeof(float) * W * H);
    assert_non_null(psi);
    assert_non_null(phi);
    likelihood(d, tmpl, psi, phi);
    double s = 0.0;
    size_t n = 0;
    assert_int_equal(sso_noise_scale(psi, phi, (size_t)W * H, 1u << 17, &s, &n), SSO_OK);
    assert_true(n > 100000);
    free(psi);
    free(phi);
    return s;
}

static void test_white(void **state)
{
    (void)state;
    float tmpl[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(FWHM, HALF, tmpl), SSO_OK);
    float *d = correlated_noise(0.0, 11);
    const double s = measured_scale(d, tmpl);
    assert_true(fabs(s - 1.0) < 0.02);
    free(d);
}

static void test_correlated(void **state)
{
    (void)state;
    const int n = 2 * HALF + 1;
    float tmpl[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(FWHM, HALF, tmpl), SSO_OK);
    double tt = 0.0, t1 = 0.0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            tt += (double)tmpl[y * n + x] * tmpl[y * n + x];
            if (x + 1 < n)
                t1 += (double)tmpl[y * n + x] * tmpl[y * n + x + 1];
        }
    const double rhos[] = {0.25, 0.5};
    for (int k = 0; k < 2; k++) {
        const double s_exp = sqrt(1.0 + 2.0 * rhos[k] * t1 / tt);
        float *d = correlated_noise(rhos[k], 21 + (uint64_t)k);
        const double s = measured_scale(d, tmpl);
        assert_true(s_exp > 1.1);           /* the case is not trivially white */
        assert_true(fabs(s / s_exp - 1.0) < 0.02);
        free(d);
    }
}

/* 30 sources of SNR ~100 in white noise (0.01% of pixels, each touching ~50 psi pixels): the
 * robust scale stays within 2% of 1 while the plain standard deviation is far off. */
static void test_sources_robust(void **state)
{
    (void)state;
    float tmpl[(2 * HALF + 1) * (2 * HALF + 1)];
    assert_int_equal(sso_template_gauss(FWHM, HALF, tmpl), SSO_OK);
    float *d = correlated_noise(0.0, 31);
    sso_rng r;
    sso_rng_init(&r, 31, 1, 1, 1);
    for (int i = 0; i < 30; i++) {
        const int x = 10 + (int)(sso_rng_uniform(&r) * (W - 20)), y = 10 + (int)(sso_rng_uniform(&r) * (H - 20));
        for (int dy = -HALF; dy <= HALF; dy++)
            for (int dx = -HALF; dx <= HALF; dx++)
                d[(y + dy) * W + x + dx] += 300.0f * tmpl[(dy + HALF) * (2 * HALF + 1) + dx + HALF];
    }
    const double s = measured_scale(d, tmpl);
    assert_true(fabs(s - 1.0) < 0.02);
    free(d);
}

static void test_apply(void **state)
{
    (void)state;
    float psi[4] = {3.0f, -2.0f, 10.0f, 0.5f}, phi[4] = {1.0f, 4.0f, 0.25f, 2.0f};
    float p0[4], f0[4];
    memcpy(p0, psi, sizeof psi);
    memcpy(f0, phi, sizeof phi);
    const double s = 1.25;
    sso_noise_apply(psi, phi, 4, s);
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(psi[i] / phi[i] - p0[i] / f0[i]) < 1e-5 * fabs(p0[i] / f0[i]));
        const double snr0 = p0[i] / sqrt(f0[i]), snr = psi[i] / sqrt(phi[i]);
        assert_true(fabs(snr - snr0 / s) < 1e-5 * fabs(snr0));
    }
    memcpy(p0, psi, sizeof psi);
    sso_noise_apply(psi, phi, 4, NAN);
    sso_noise_apply(psi, phi, 4, 0.0);
    assert_memory_equal(psi, p0, sizeof psi);
}

static void test_nothing_usable(void **state)
{
    (void)state;
    float psi[100], phi[100];
    for (int i = 0; i < 100; i++)
        psi[i] = (float)i, phi[i] = i % 2 ? 0.0f : NAN;
    double s = 0.0;
    size_t n = 99;
    assert_int_equal(sso_noise_scale(psi, phi, 100, 1000, &s, &n), SSO_OK);
    assert_true(s == 1.0);
    assert_int_equal((int)n, 0);
    assert_int_not_equal(sso_noise_scale(NULL, phi, 100, 1000, &s, &n), SSO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_white),
        cmocka_unit_test(test_correlated),
        cmocka_unit_test(test_sources_robust),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_nothing_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
