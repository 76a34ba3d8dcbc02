/* tests/gpu/test_likelihood_parity.c: psi/phi on the GPU (kernels/likelihood.cu) against the CPU.
 *
 * Inputs: seeded random differences and variances with NaN, inf, zero and negative variances and
 * a random mask plus a fully masked block; and a simulated difference image (white noise with
 * Gaussian movers at SNR ~10). Templates: Gaussian 3x3 and 7x7 (direct path), a 21x21 trail and a
 * 25x25 Gaussian (FFT path). Outputs are poisoned with NaN before the GPU call so an unwritten
 * pixel fails. Tolerances, per pixel, with S(x) = sum_u |DW(x+u) T(u)| (psi; W and T^2 for phi)
 * computed here in double:
 *   direct: |gpu - cpu| <= 2 n^2 eps S(x)  (eps = 2^-24, n^2 template terms): each float sum of
 *           n^2 terms is within n^2 eps S(x) of the exact one whatever the order or contraction.
 *           The kernel adds in the CPU's order without FMA, so the count of bit-identical pixels
 *           is printed (expected: all); where S(x) = 0 (fully masked) both must be exactly 0.
 *   FFT:    each backend against the exact correlation R(x) (the same sums with signed terms, in
 *           double): |out - R| <= FFT_K eps log2(4 w h) ||S||_2. A transform's rounding error is
 *           bounded normwise (||error||_2 <= c eps log2(P) ||input|| ||kernel||), and one pixel's
 *           error is at most the whole image's: on a near-constant image such as phi (V constant)
 *           the error of a pixel is then up to ~sqrt(P) eps of its value. Measured on the H100
 *           (2026-11-22): cuFFT's phi was within 4.9e-5 of its value on the simulated image, FFTW's
 *           within 4.9e-7, against a per-pixel bound of 1e-5 max S that the first version used.
 *           FFT_K = 2 leaves ~20x headroom over that cuFFT figure; a wrong pad, wrap or scale
 *           errs by ~S itself. The GPU - CPU difference and the bit-identical count are printed.
 * Worst pixel and the number of failures are printed on failure. Exits 77 (SKIPPED) without a
 * device.
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

#define EPS 0x1.0p-24
#define FFT_K 2.0

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double uni(void) { return sso_test_uni(&g_rng); }
static double gauss(void) { return sso_test_gauss(&g_rng); }

/* S(x) for psi (k = T on |DW|) and phi (k = T^2 on W), in double, and the exact correlations
 * R(x) (rp, rf: the same terms signed). */
static void abs_sums(const float *d, const float *v, const uint8_t *m, int w, int h, const float *t,
                     int half, double *sp, double *sf, double *rp, double *rf)
{
    const int n = 2 * half + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double a = 0.0, b = 0.0, ra = 0.0;
            for (int dy = -half; dy <= half; dy++)
                for (int dx = -half; dx <= half; dx++) {
                    int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                        continue;
                    size_t i = (size_t)yy * w + xx;
                    float vv = v[i], dd = d[i];
                    if ((m && m[i]) || !isfinite(vv) || !(vv > 0.0f) || !isfinite(dd))
                        continue;
                    double k = t[(dy + half) * n + dx + half];
                    a += fabs((double)(dd / vv) * k);
                    ra += (double)(dd / vv) * k;
                    b += (double)(1.0f / vv) * k * k;
                }
            sp[(size_t)y * w + x] = a;
            sf[(size_t)y * w + x] = b;
            rp[(size_t)y * w + x] = ra;
            rf[(size_t)y * w + x] = b; /* every term of phi is >= 0: R = S */
        }
}

/* Direct path: g against the CPU's c, per pixel (2 n^2 eps S(x)); counts bit-identical pixels. */
static size_t compare(const char *what, const float *g, const float *c, const double *s, size_t np,
                      int n, size_t *n_exact)
{
    double worst = -1.0;
    size_t bad = 0, wi = 0;
    *n_exact = 0;
    for (size_t i = 0; i < np; i++) {
        const double tol = 2.0 * n * n * EPS * s[i];
        const double err = fabs((double)g[i] - (double)c[i]);
        *n_exact += memcmp(&g[i], &c[i], sizeof(float)) == 0;
        int ok = isfinite(g[i]) && err <= tol;
        if (s[i] == 0.0)
            ok = g[i] == 0.0f && c[i] == 0.0f;
        if (!ok) {
            bad++;
            if (!isfinite(err) || err / (tol > 0 ? tol : 1e-300) > worst)
                worst = isfinite(err) ? err / (tol > 0 ? tol : 1e-300) : INFINITY, wi = i;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu pixels out of tolerance; worst at %zu: gpu %.9g cpu %.9g "
                "(err/tol %.3g)\n", what, bad, np, wi, (double)g[wi], (double)c[wi], worst);
    return bad;
}

/* FFT path: o against the exact r, |o - r| <= FFT_K eps log2(4 w h) ||S||_2 (header); prints
 * the largest error relative to the tolerance and to max |R|. */
static size_t compare_fft(const char *what, const float *o, const double *r, const double *s,
                          int w, int h)
{
    const size_t np = (size_t)w * h;
    double s2 = 0.0, rmax = 0.0, emax = 0.0;
    for (size_t i = 0; i < np; i++)
        s2 += s[i] * s[i], rmax = fmax(rmax, fabs(r[i]));
    const double tol = FFT_K * EPS * log2(4.0 * w * h) * sqrt(s2);
    size_t bad = 0, wi = 0;
    for (size_t i = 0; i < np; i++) {
        const double err = fabs((double)o[i] - r[i]);
        if (!isfinite(o[i]) || !(err <= tol)) {
            if (!bad || !isfinite(err) || err > fabs((double)o[wi] - r[wi]))
                wi = i;
            bad++;
        }
        if (isfinite(err))
            emax = fmax(emax, err);
    }
    printf("%s: largest error %.3g (%.3g of max |R|, %.3g of the tolerance)\n", what, emax,
           rmax > 0 ? emax / rmax : 0.0, emax / tol);
    if (bad)
        fprintf(stderr, "%s: %zu of %zu pixels out of tolerance %.3g; worst at %zu: %.9g exact %.9g\n",
                what, bad, np, tol, wi, (double)o[wi], r[wi]);
    return bad;
}

static void check(const float *d, const float *v, const uint8_t *m, int w, int h, const float *t,
                  int half, sso_like_method method)
{
    const size_t np = (size_t)w * h;
    const int n = 2 * half + 1, fft = method == SSO_LIKE_FFT;
    float *pc = malloc(np * sizeof(float)), *fc = malloc(np * sizeof(float));
    float *pg = malloc(np * sizeof(float)), *fg = malloc(np * sizeof(float));
    double *sp = malloc(np * sizeof(double)), *sf = malloc(np * sizeof(double));
    double *rp = malloc(np * sizeof(double)), *rf = malloc(np * sizeof(double));
    assert_non_null(pc && fc && pg && fg && sp && sf && rp && rf);
    for (size_t i = 0; i < np; i++)
        pg[i] = fg[i] = NAN;
    assert_int_equal(sso_likelihood_on(SSO_BACKEND_CPU, d, v, m, w, h, t, half, method, pc, fc), SSO_OK);
    assert_int_equal(sso_likelihood_on(SSO_BACKEND_CUDA, d, v, m, w, h, t, half, method, pg, fg), SSO_OK);
    abs_sums(d, v, m, w, h, t, half, sp, sf, rp, rf);
    size_t ex_p = 0, ex_f = 0, bad;
    for (size_t i = 0; fft && i < np; i++)
        ex_p += memcmp(&pg[i], &pc[i], sizeof(float)) == 0, ex_f += memcmp(&fg[i], &fc[i], sizeof(float)) == 0;
    if (fft)
        bad = compare_fft("psi gpu", pg, rp, sp, w, h) + compare_fft("psi cpu", pc, rp, sp, w, h) +
              compare_fft("phi gpu", fg, rf, sf, w, h) + compare_fft("phi cpu", fc, rf, sf, w, h);
    else
        bad = compare("psi", pg, pc, sp, np, n, &ex_p) + compare("phi", fg, fc, sf, np, n, &ex_f);
    printf("%dx%d %s %dx%d: %zu/%zu psi and %zu/%zu phi pixels bit-identical\n", w, h,
           fft ? "fft" : "direct", n, n, ex_p, np, ex_f, np);
    assert_int_equal(bad, 0);
    free(pc), free(fc), free(pg), free(fg), free(sp), free(sf), free(rp), free(rf);
}

static void random_inputs(int w, int h, float **d, float **v, uint8_t **m)
{
    const size_t np = (size_t)w * h;
    *d = malloc(np * sizeof(float)), *v = malloc(np * sizeof(float)), *m = malloc(np);
    assert_non_null(*d && *v && *m);
    for (size_t i = 0; i < np; i++) {
        double u = uni();
        (*d)[i] = (float)(20.0 * gauss() + (u < 0.002 ? 3e4 * uni() : 0.0));
        (*v)[i] = (float)(300.0 + 100.0 * uni());
        (*m)[i] = uni() < 0.03;
        if (u > 0.999)
            (*d)[i] = NAN;
        else if (u > 0.998)
            (*v)[i] = INFINITY;
        else if (u > 0.997)
            (*v)[i] = 0.0f;
        else if (u > 0.996)
            (*v)[i] = -1.0f;
    }
    for (int y = 40; y < 80 && y < h; y++) /* a masked block wider than every template */
        for (int x = 50; x < 110 && x < w; x++)
            (*m)[(size_t)y * w + x] = 1;
}

static void test_random_direct(void **state)
{
    const int w = 333, h = 257;
    float *d, *v, t3[9], t7[49];
    uint8_t *m;
    random_inputs(w, h, &d, &v, &m);
    assert_int_equal(sso_template_gauss(1.6, 1, t3), SSO_OK);
    assert_int_equal(sso_template_gauss(1.6, 3, t7), SSO_OK);
    check(d, v, m, w, h, t3, 1, SSO_LIKE_DIRECT);
    check(d, v, m, w, h, t7, 3, SSO_LIKE_DIRECT);
    check(d, v, NULL, w, h, t7, 3, SSO_LIKE_DIRECT);
    free(d), free(v), free(m);
}

static void test_random_fft(void **state)
{
    const int w = 333, h = 257;
    float *d, *v, psf[49], *tr = malloc(sizeof(float) * 21 * 21), *g25 = malloc(sizeof(float) * 25 * 25);
    uint8_t *m;
    assert_non_null(tr && g25);
    random_inputs(w, h, &d, &v, &m);
    assert_int_equal(sso_template_gauss(1.6, 3, psf), SSO_OK);
    assert_int_equal(sso_template_trail(psf, 3, 12.0, 0.7, 10, tr), SSO_OK);
    assert_int_equal(sso_template_gauss(6.0, 12, g25), SSO_OK);
    check(d, v, m, w, h, tr, 10, SSO_LIKE_FFT);
    check(d, v, m, w, h, g25, 12, SSO_LIKE_FFT);
    check(d, v, m, w, h, psf, 3, SSO_LIKE_FFT); /* the FFT path at a small template too */
    /* a second size after the first: the plan cache takes another entry */
    check(d, v, m, 200, 150, tr, 10, SSO_LIKE_FFT);
    free(d), free(v), free(m), free(tr), free(g25);
}

/* A simulated difference image: white noise of variance 100 e-^2 and Gaussian movers (FWHM
 * 1.6 px) of flux 400 e- (matched-filter SNR ~10); psi/sqrt(phi) must peak at each mover's pixel
 * on both backends. */
static void test_simulated_movers(void **state)
{
    const int w = 512, h = 384, nm = 12;
    const size_t np = (size_t)w * h;
    float *d = malloc(np * sizeof(float)), *v = malloc(np * sizeof(float)), t7[49];
    float *pg = malloc(np * sizeof(float)), *fg = malloc(np * sizeof(float));
    assert_non_null(d && v && pg && fg);
    for (size_t i = 0; i < np; i++)
        d[i] = (float)(10.0 * gauss()), v[i] = 100.0f;
    int mx[12], my[12];
    const double s = 1.6 / 2.3548200450309493 / sqrt(2.0);
    for (int k = 0; k < nm; k++) {
        mx[k] = 30 + (k % 4) * 120 + k, my[k] = 40 + (k / 4) * 110 + 2 * k; /* >= 100 px apart */
        for (int dy = -5; dy <= 5; dy++)
            for (int dx = -5; dx <= 5; dx++)
                d[(size_t)(my[k] + dy) * w + mx[k] + dx] +=
                    (float)(400.0 * 0.25 * (erf((dx + 0.5) / s) - erf((dx - 0.5) / s)) *
                            (erf((dy + 0.5) / s) - erf((dy - 0.5) / s)));
    }
    assert_int_equal(sso_template_gauss(1.6, 3, t7), SSO_OK);
    check(d, v, NULL, w, h, t7, 3, SSO_LIKE_DIRECT);
    check(d, v, NULL, w, h, t7, 3, SSO_LIKE_FFT);
    assert_int_equal(sso_likelihood_on(SSO_BACKEND_CUDA, d, v, NULL, w, h, t7, 3, SSO_LIKE_AUTO, pg, fg), SSO_OK);
    for (int k = 0; k < nm; k++) {
        int bx = 0, by = 0;
        double best = -1e30;
        for (int dy = -3; dy <= 3; dy++)
            for (int dx = -3; dx <= 3; dx++) {
                size_t i = (size_t)(my[k] + dy) * w + mx[k] + dx;
                double snr = pg[i] / sqrt(fg[i]);
                if (snr > best)
                    best = snr, bx = dx, by = dy;
            }
        if (bx || by || best < 6.0)
            fprintf(stderr, "mover %d at (%d, %d): GPU peak at offset (%d, %d), SNR %.2f\n", k,
                    mx[k], my[k], bx, by, best);
        assert_true(bx == 0 && by == 0 && best > 6.0);
    }
    free(d), free(v), free(pg), free(fg);
}

int main(void)
{
    if (sso_cuda_device_count() <= 0) {
        printf("[  SKIPPED ] no CUDA device: GPU parity not checked\n");
        return SSO_TEST_SKIP_EXIT;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_direct),
        cmocka_unit_test(test_random_fft),
        cmocka_unit_test(test_simulated_movers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
