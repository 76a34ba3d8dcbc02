/* tests/gpu/test_fast_parity.c: the GPU streak bank (kernels/fast.cu) against the CPU's
 * (host/fast_bank.c), and sso_fast_search on the two backends.
 *
 * Inputs: seeded white noise (variance VAR e-^2) with Gaussian-PSF trails injected at known
 * centres, lengths (16, 200 and 800 px) and angles (one per orientation, one near 45 degrees),
 * psi/phi from the CPU's sso_likelihood with that PSF; the bank planned as sso_fast_search plans it
 * (lengths 16 x 1.3^k up to 800 px, ang_k 1.5).
 * 1. bank_trails: sso_fast_bank_run (CPU, 2 threads) and sso_k_fast_bank on the same psi/phi. The
 *    raw sample lists, sorted, must be EQUAL in count, length index, angle slot and centre
 *    (POS_TOL_PX = 1e-9: both compute the centre from the same integers in double), and the SNRs
 *    within SNR_RTOL = 1e-6 relative (the kernel is built to give the CPU's r bit for bit, see
 *    kernels/fast.cu; the tolerance only names what a float-level difference would be allowed,
 *    the count equality still requires the selections to agree). The noise scales cal[] must be
 *    equal within the same SNR_RTOL. Truth check (so the test cannot pass on empty lists): each
 *    injected trail has a CPU sample within 3 px of its centre, at its angle within 3 degrees.
 * 2. bank_noise_overflow: pure noise at nu = 2.5: more hits than the kernel's first list (2^16
 *    entries), so its overflow re-run is exercised; the lists must still be equal.
 * 3. search_backends: sso_fast_search with backend CPU and CUDA on a 4-epoch scene with a 120 px
 *    mover: the same streaks (epoch, centre, length, angle, SNR bit-equal: the measurement is the
 *    CPU's in both and starts from the same raw samples) and the same candidates.
 * Counts and the worst index are printed on failure. Exits 77 (SKIPPED) without a device.
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
#include <cmocka.h>

#include "host/fast_bank.h"
#include "kernels/sso_kernels.h"
#include "sso/sso.h"
#include "testutil.h"

#define VAR 100.0
#define SIG_PX 1.0 /* Gaussian PSF sigma: FWHM 2.355 px */
#define PH 4
#define POS_TOL_PX 1e-9
#define SNR_RTOL 1e-6
#define PI 3.14159265358979323846

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static double gauss(void) { return sso_test_gauss(&g_rng); }

static float g_k[(2 * PH + 1) * (2 * PH + 1)];

static void make_psf(void)
{
    double s = 0.0;
    for (int y = -PH; y <= PH; y++)
        for (int x = -PH; x <= PH; x++)
            s += g_k[(y + PH) * (2 * PH + 1) + x + PH] = (float)exp(-(x * x + y * y) / (2 * SIG_PX * SIG_PX));
    for (int i = 0; i < (2 * PH + 1) * (2 * PH + 1); i++)
        g_k[i] = (float)(g_k[i] / s);
}

/* Adds a trail of total flux F [e-] centred on (xc, yc), length L, angle th: Gaussian stamps every
 * 0.5 px along the segment. */
static void add_trail(float *d, int w, int h, double xc, double yc, double L, double th, double F)
{
    const int n = (int)ceil(L / 0.5) + 1;
    const double c = cos(th), s = sin(th);
    for (int i = 0; i < n; i++) {
        const double u = -0.5 * L + L * i / (n - 1), px = xc + u * c, py = yc + u * s;
        for (int y = (int)floor(py) - 4; y <= (int)floor(py) + 5; y++)
            for (int x = (int)floor(px) - 4; x <= (int)floor(px) + 5; x++)
                if (x >= 0 && x < w && y >= 0 && y < h)
                    d[(size_t)y * w + x] += (float)(F / n / (2 * PI * SIG_PX * SIG_PX) *
                                                    exp(-((x - px) * (x - px) + (y - py) * (y - py)) /
                                                        (2 * SIG_PX * SIG_PX)));
    }
}

static void noise(float *d, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(sqrt(VAR) * gauss()), v[i] = (float)VAR;
}

static void plan(double lmax, sso_fast_bank *b)
{
    double lens[SSO_FAST_BANK_MAXLEN];
    int nl = 0;
    for (double L = 16.0; L < lmax * (1.0 + 1e-9) && nl < SSO_FAST_BANK_MAXLEN; L *= 1.3)
        lens[nl++] = L;
    if (lens[nl - 1] < lmax && nl < SSO_FAST_BANK_MAXLEN)
        lens[nl++] = lmax;
    assert_int_equal(sso_fast_bank_plan(lens, nl, 2.3548 * SIG_PX, 1.5, b), SSO_OK);
}

static int cmp_raw(const void *pa, const void *pb)
{
    const sso_fast_raw *a = pa, *b = pb;
    if (a->ang != b->ang)
        return a->ang < b->ang ? -1 : 1;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    if (a->yc_px != b->yc_px)
        return a->yc_px < b->yc_px ? -1 : 1;
    return (a->xc_px > b->xc_px) - (a->xc_px < b->xc_px);
}

/* Runs both banks and compares; returns the CPU list (sorted) for truth checks. */
static void compare_banks(const sso_fast_bank *b, const float *psi, const float *phi, int w, int h,
                          float nu, sso_fast_raw **cpu_out, size_t *ncpu_out)
{
    const size_t nc = (size_t)b->n_ang * b->n_len;
    float *cc = calloc(nc, sizeof(float)), *cg = calloc(nc, sizeof(float));
    sso_fast_raw *rc = NULL, *rg = NULL;
    size_t nrc = 0, nrg = 0;
    sso_k_traffic tr = {0, 0.0};
    assert_non_null(cc);
    assert_non_null(cg);
    assert_int_equal(sso_fast_bank_run(b, psi, phi, w, h, nu, 2, cc, &rc, &nrc), SSO_OK);
    assert_int_equal(sso_k_fast_bank(b, psi, phi, w, h, nu, cg, &rg, &nrg, &tr), SSO_OK);
    printf("bank %d x %d, %d lengths, %d slots, nu %.1f: cpu %zu samples, gpu %zu; kernels %.3f ms, "
           "%.3g B (%.1f GB/s)\n", w, h, b->n_len, b->n_ang, nu, nrc, nrg, tr.kernel_ms,
           (double)tr.bytes, tr.kernel_ms > 0 ? tr.bytes / tr.kernel_ms * 1e-6 : 0.0);
    assert_true(tr.bytes >= 4ull * w * h * sizeof(float)); /* at least the transposes */
    size_t badc = 0, worstc = 0;
    double wx = -1.0;
    for (size_t i = 0; i < nc; i++) {
        const double d = fabs((double)cg[i] - cc[i]), tol = SNR_RTOL * fabs(cc[i]);
        if (d > tol) {
            if (d - tol > wx)
                wx = d - tol, worstc = i;
            badc++;
        }
    }
    if (badc)
        fprintf(stderr, "cal: %zu of %zu scales differ; worst slot %zu length %zu: gpu %.9g cpu "
                "%.9g\n", badc, nc, worstc / b->n_len, worstc % b->n_len, cg[worstc], cc[worstc]);
    qsort(rc, nrc, sizeof *rc, cmp_raw);
    qsort(rg, nrg, sizeof *rg, cmp_raw);
    size_t bad = 0, worst = 0;
    double wex = -1.0;
    const size_t n = nrc < nrg ? nrc : nrg;
    for (size_t i = 0; i < n; i++) {
        const sso_fast_raw *a = &rc[i], *g = &rg[i];
        int ok = a->k == g->k && a->ang == g->ang && fabs(a->xc_px - g->xc_px) <= POS_TOL_PX &&
                 fabs(a->yc_px - g->yc_px) <= POS_TOL_PX && a->th_rad == g->th_rad;
        const double ex = fabs((double)a->snr - g->snr) - SNR_RTOL * fabs(a->snr);
        ok = ok && ex <= 0.0;
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "raw %zu: cpu (k %d slot %d %.3f, %.3f snr %.7g) gpu (k %d slot %d "
                        "%.3f, %.3f snr %.7g)\n", i, a->k, a->ang, a->xc_px, a->yc_px, a->snr, g->k,
                        g->ang, g->xc_px, g->yc_px, g->snr);
            if (ex > wex)
                wex = ex, worst = i;
            bad++;
        }
    }
    if (bad || nrc != nrg)
        fprintf(stderr, "raw samples: cpu %zu gpu %zu, %zu of the first %zu differ (worst index "
                "%zu)\n", nrc, nrg, bad, n, worst);
    assert_int_equal(badc, 0);
    assert_int_equal(nrc, nrg);
    assert_int_equal(bad, 0);
    free(cc), free(cg), free(rg);
    if (cpu_out) {
        *cpu_out = rc;
        *ncpu_out = nrc;
    } else {
        free(rc);
    }
}

static double ang_diff(double a, double b)
{
    double d = fmod(fabs(a - b), PI);
    return d > PI / 2 ? PI - d : d;
}

static void test_bank_trails(void **state)
{
    (void)state;
    const int w = 1000, h = 640;
    const size_t np = (size_t)w * h;
    float *d = malloc(sizeof(float) * np), *v = malloc(sizeof(float) * np);
    float *psi = malloc(sizeof(float) * np), *phi = malloc(sizeof(float) * np);
    assert_non_null(d), assert_non_null(v), assert_non_null(psi), assert_non_null(phi);
    g_rng = 0x2545F4914F6CDD1Dull;
    noise(d, v, np);
    /* (xc, yc, L, theta, flux): 16 px x-major, 200 px y-major, 800 px near 30 degrees */
    const double tr[3][5] = {{150.0, 120.0, 16.0, 0.3, 3000.0},
                             {760.0, 300.0, 200.0, 1.9, 12000.0},
                             {500.0, 330.0, 800.0, 0.52, 40000.0}};
    for (int i = 0; i < 3; i++)
        add_trail(d, w, h, tr[i][0], tr[i][1], tr[i][2], tr[i][3], tr[i][4]);
    assert_int_equal(sso_likelihood(d, v, NULL, w, h, g_k, PH, SSO_LIKE_DIRECT, psi, phi), SSO_OK);
    sso_fast_bank b;
    plan(800.0, &b);
    sso_fast_raw *rc = NULL;
    size_t nrc = 0;
    compare_banks(&b, psi, phi, w, h, 5.0f, &rc, &nrc);
    for (int i = 0; i < 3; i++) {
        int found = 0;
        for (size_t k = 0; k < nrc && !found; k++)
            found = hypot(rc[k].xc_px - tr[i][0], rc[k].yc_px - tr[i][1]) <= 3.0 &&
                    ang_diff(rc[k].th_rad, tr[i][3]) <= 3.0 * PI / 180.0;
        if (!found)
            fprintf(stderr, "trail %d (L %.0f) has no CPU sample near its centre\n", i, tr[i][2]);
        assert_true(found);
    }
    free(rc), free(d), free(v), free(psi), free(phi);
}

static void test_bank_noise_overflow(void **state)
{
    (void)state;
    const int w = 700, h = 500;
    const size_t np = (size_t)w * h;
    float *d = malloc(sizeof(float) * np), *v = malloc(sizeof(float) * np);
    float *psi = malloc(sizeof(float) * np), *phi = malloc(sizeof(float) * np);
    assert_non_null(d), assert_non_null(v), assert_non_null(psi), assert_non_null(phi);
    g_rng = 0x9E3779B97F4A7C15ull;
    noise(d, v, np);
    assert_int_equal(sso_likelihood(d, v, NULL, w, h, g_k, PH, SSO_LIKE_DIRECT, psi, phi), SSO_OK);
    sso_fast_bank b;
    plan(200.0, &b);
    sso_fast_raw *rc = NULL;
    size_t nrc = 0;
    compare_banks(&b, psi, phi, w, h, 2.5f, &rc, &nrc);
    assert_true(nrc > (1u << 16)); /* the kernel's first list overflowed and was re-run */
    free(rc), free(d), free(v), free(psi), free(phi);
}

static void test_search_backends(void **state)
{
    (void)state;
    enum { NE = 4 };
    const int w = 512, h = 384;
    const size_t np = (size_t)w * h;
    const double t_h[NE] = {-0.384, -0.128, 0.128, 0.384}, expt = 566.0 / 3600.0;
    float *d[NE], *v[NE];
    g_rng = 0xD1B54A32D192ED03ull;
    const double vx = 700.0, vy = 250.0, x0 = 250.0, y0 = 190.0;
    const double L = hypot(vx, vy) * expt, th = atan2(vy, vx);
    for (int e = 0; e < NE; e++) {
        d[e] = malloc(sizeof(float) * np), v[e] = malloc(sizeof(float) * np);
        assert_non_null(d[e]), assert_non_null(v[e]);
        noise(d[e], v[e], np);
        add_trail(d[e], w, h, x0 + vx * t_h[e], y0 + vy * t_h[e], L, th, 6000.0);
    }
    sso_fast_params p;
    sso_fast_params_default(&p);
    p.len_max_px = 200.0;
    p.n_threads = 2;
    sso_fast_result *rc = NULL, *rg = NULL;
    p.backend = SSO_BACKEND_CPU;
    assert_int_equal(sso_fast_search((const float *const *)d, (const float *const *)v, NULL, NE, w,
                                     h, t_h, expt, g_k, PH, &p, &rc), SSO_OK);
    p.backend = SSO_BACKEND_CUDA;
    assert_int_equal(sso_fast_search((const float *const *)d, (const float *const *)v, NULL, NE, w,
                                     h, t_h, expt, g_k, PH, &p, &rg), SSO_OK);
    const size_t nsc = sso_fast_result_streak_count(rc), nsg = sso_fast_result_streak_count(rg);
    printf("search: streaks cpu %zu gpu %zu, candidates cpu %zu gpu %zu\n", nsc, nsg,
           sso_fast_result_count(rc), sso_fast_result_count(rg));
    assert_true(nsc >= NE); /* the mover is seen in every epoch (truth) */
    assert_int_equal(nsc, nsg);
    size_t bad = 0;
    for (size_t i = 0; i < nsc; i++) {
        const sso_fast_streak *a = sso_fast_result_streak(rc, i), *g = sso_fast_result_streak(rg, i);
        if (a->epoch != g->epoch || a->xc_px != g->xc_px || a->yc_px != g->yc_px ||
            a->len_px != g->len_px || a->theta_rad != g->theta_rad || a->snr != g->snr) {
            if (bad < 5)
                fprintf(stderr, "streak %zu: cpu (e %d %.3f, %.3f L %.2f snr %.4g) gpu (e %d %.3f, "
                        "%.3f L %.2f snr %.4g)\n", i, a->epoch, a->xc_px, a->yc_px, a->len_px,
                        a->snr, g->epoch, g->xc_px, g->yc_px, g->len_px, g->snr);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "streaks: %zu of %zu differ\n", bad, nsc);
    assert_int_equal(bad, 0);
    assert_int_equal(sso_fast_result_count(rc), sso_fast_result_count(rg));
    assert_true(sso_fast_result_count(rc) >= 1);
    for (size_t i = 0; i < sso_fast_result_count(rc); i++) {
        const sso_fast_cand *a = sso_fast_result_get(rc, i), *g = sso_fast_result_get(rg, i);
        assert_true(a->x0_px == g->x0_px && a->y0_px == g->y0_px && a->nu == g->nu);
    }
    sso_fast_result_free(rc);
    sso_fast_result_free(rg);
    for (int e = 0; e < NE; e++)
        free(d[e]), free(v[e]);
}

int main(void)
{
    if (sso_cuda_device_count() <= 0) {
        printf("[  SKIPPED ] no CUDA device: streak-bank parity not checked\n");
        return SSO_TEST_SKIP_EXIT;
    }
    make_psf();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bank_trails),
        cmocka_unit_test(test_bank_noise_overflow),
        cmocka_unit_test(test_search_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
