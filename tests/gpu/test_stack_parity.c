/* tests/gpu/test_stack_parity.c: the GPU shift-and-stack (kernels/stack.cu) against the CPU.
 *
 * 1. The kernel alone (sso_k_stack_search) against a brute-force CPU evaluation of every
 *    trajectory with sso_stack_eval/sso_stack_pass, on seeded random psi/phi (zeros and a band of
 *    uncovered pixels included), 2, 3, 4 and 8 epochs, image sizes that are not multiples of the
 *    tile: the hit sets must be EQUAL (the kernel adds in the CPU's order with no FMA, so no
 *    tolerance is needed; a difference is a bug). One case has > 2^20 hits, the kernel's first
 *    list size, so the overflow re-run is exercised. The sample count must be w h n_vel n_epochs.
 * 2. sso_stack_slow on CPU and CUDA, same inputs: simulated differences (white noise, Gaussian
 *    movers at several velocities, one near the edge, a masked band; psi/phi from the CPU's
 *    sso_likelihood), default parameters (vmax 100 px/h, nu_min 5, coverage skip on), and pure
 *    noise at nu_min 4 with the skip off. Candidate lists compared object by object: same grid
 *    trajectory, same nu, refined start within POS_TOL_PX = 0.01 px (1 mas at 0.1"/px: the
 *    issue's bound; both refine the same pixels in the same double arithmetic, so in practice 0).
 *    With the skip off, n_raw and n_samples must be equal too (both evaluate every trajectory).
 * 3. Coverage in a band of rows only, after a search that left psi = -1e6 in the device buffer:
 *    the same candidates (the kernel uploads only the rows its tiles read); no coverage at all:
 *    no candidate and no device sample.
 * Counts and the first differences are printed on failure. Exits 77 (SKIPPED) without a device.
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
#include "kernels/sso_kernels.h"
#include "sso/sso.h"
#include "testutil.h"

#define POS_TOL_PX 0.01

static const double T4[4] = {-0.385, -0.128, 0.128, 0.385};

static uint64_t g_rng = 0xD1B54A32D192ED03ull;
static double uni(void) { return sso_test_uni(&g_rng); }
static double gauss(void) { return sso_test_gauss(&g_rng); }

static int cmp_hit(const void *pa, const void *pb)
{
    const sso_k_stack_hit *a = pa, *b = pb;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    return (a->iv > b->iv) - (a->iv < b->iv);
}

static void kernel_case(int ne, const double *t_h, int w, int h, double vmax, float nu)
{
    float *psi[8], *phi[8];
    for (int e = 0; e < ne; e++) {
        psi[e] = malloc(sizeof(float) * w * h), phi[e] = malloc(sizeof(float) * w * h);
        assert_non_null(psi[e] && phi[e]);
        for (int i = 0; i < w * h; i++) {
            float f = (float)(0.5 + uni());
            if (uni() < 0.05 || (i % w >= 20 + 10 * e && i % w < 30 + 10 * e)) /* holes, a band */
                f = 0.0f;
            phi[e][i] = f;
            psi[e][i] = (float)(gauss() * sqrt(f));
        }
    }
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.vmax_px_h = vmax;
    double dv;
    int64_t nv;
    assert_int_equal(sso_stack_velocity_grid(t_h, ne, &p, &dv, &nv, NULL, NULL), SSO_OK);
    double *vx = malloc(sizeof(double) * nv), *vy = malloc(sizeof(double) * nv);
    int *ox = malloc(sizeof(int) * nv * ne), *oy = malloc(sizeof(int) * nv * ne);
    assert_non_null(vx && vy && ox && oy);
    assert_int_equal(sso_stack_velocity_grid(t_h, ne, &p, &dv, &nv, vx, vy), SSO_OK);
    for (int64_t v = 0; v < nv; v++)
        for (int e = 0; e < ne; e++) {
            ox[v * ne + e] = sso_stack_offset_px(vx[v], t_h[e]);
            oy[v * ne + e] = sso_stack_offset_px(vy[v], t_h[e]);
        }
    /* brute force on the CPU */
    size_t nc = 0, cap = 1 << 16;
    sso_k_stack_hit *ch = malloc(sizeof *ch * cap);
    assert_non_null(ch);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int64_t v = 0; v < nv; v++) {
                float s, t;
                sso_stack_eval((const float *const *)psi, (const float *const *)phi, ne, w, h, x, y,
                               ox + v * ne, oy + v * ne, &s, &t, NULL, NULL);
                if (!sso_stack_pass(s, t, nu))
                    continue;
                if (nc == cap) {
                    ch = realloc(ch, sizeof *ch * (cap *= 2));
                    assert_non_null(ch);
                }
                ch[nc++] = (sso_k_stack_hit){x, y, (int32_t)v};
            }
    const sso_k_stack_job job = {(const float *const *)psi, (const float *const *)phi, ne, w, h, nv,
                                 ox, oy, vx, vy, dv, nu * nu, NULL, NULL};
    sso_k_stack_hit *gh = NULL;
    size_t ng = 0;
    int64_t ns = 0;
    double ks = 0.0;
    assert_int_equal(sso_k_stack_search(&job, &gh, &ng, &ns, &ks), SSO_OK);
    qsort(gh, ng, sizeof *gh, cmp_hit);
    qsort(ch, nc, sizeof *ch, cmp_hit);
    size_t i = 0, j = 0, only_g = 0, only_c = 0;
    while (i < ng || j < nc) {
        int c = i < ng && j < nc ? cmp_hit(&gh[i], &ch[j]) : i < ng ? -1 : 1;
        if (c == 0) {
            i++, j++;
            continue;
        }
        const sso_k_stack_hit *o = c < 0 ? &gh[i++] : &ch[j++];
        if ((c < 0 ? only_g++ : only_c++) < 5)
            fprintf(stderr, "%d epochs: hit (%d, %d, v %d) only on the %s\n", ne, o->x, o->y, o->iv,
                    c < 0 ? "GPU" : "CPU");
    }
    printf("%d epochs %dx%d, %lld velocities: %zu GPU hits, %zu CPU hits, %.3g samples in %.3g ms "
           "(%.3g/s)\n", ne, w, h, (long long)nv, ng, nc, (double)ns, 1e3 * ks, ns / fmax(ks, 1e-12));
    if (only_g || only_c)
        fprintf(stderr, "%zu hits only on the GPU, %zu only on the CPU\n", only_g, only_c);
    assert_int_equal(only_g + only_c, 0);
    assert_int_equal(ns, (int64_t)w * h * nv * ne);
    free(gh), free(ch), free(vx), free(vy), free(ox), free(oy);
    for (int e = 0; e < ne; e++)
        free(psi[e]), free(phi[e]);
}

static void test_kernel_4_epochs_overflow(void **state)
{
    kernel_case(4, T4, 160, 150, 30.0, 0.5f); /* ~30% of 8e6 trajectories: > 2^20 hits */
}

static void test_kernel_other_epochs(void **state)
{
    const double t2[2] = {-0.2, 0.3}, t3[3] = {0.0, 0.25, 0.77};
    const double t8[8] = {-0.5, -0.37, -0.2, -0.05, 0.1, 0.22, 0.4, 0.51};
    kernel_case(2, t2, 97, 70, 40.0, 2.5f);
    kernel_case(3, t3, 131, 45, 60.0, 3.0f);
    kernel_case(8, t8, 77, 101, 25.0, 3.0f);
    kernel_case(4, T4, 100, 64, 100.0, 3.5f); /* the pipeline's vmax: offsets up to 39 px */
}

/* ---- whole search ---------------------------------------------------------------------------- */

typedef struct scene {
    int w, h;
    float *psi[4], *phi[4];
} scene;

static void scene_free(scene *s)
{
    for (int e = 0; e < 4; e++)
        free(s->psi[e]), free(s->phi[e]);
}

/* Differences of variance 100 e-^2 with movers (FWHM 1.6 px Gaussians of flux f at x0 + v t_e), a
 * masked band at epoch 2, psi/phi by the CPU. */
static void scene_movers(scene *s, int w, int h)
{
    const int nm = 8;
    const double mv[8][5] = {/* x0, y0, vx, vy [px/h], flux [e-] */
                             {60, 50, 0, 0, 300},      {150, 70, 40, -20, 250},
                             {240, 60, -80, 30, 400},  {80, 180, 95, 10, 220},
                             {200, 200, 5, 60, 260},   {7, 120, 30, 0, 300}, /* near the edge */
                             {130, 140, -50, -50, 2000}, /* bright: merging of its wings */
                             {260, 225, 0, -90, 240}};
    const double sg = 1.6 / 2.3548200450309493 / sqrt(2.0);
    float *d = malloc(sizeof(float) * w * h), *v = malloc(sizeof(float) * w * h), t7[49];
    uint8_t *m = malloc((size_t)w * h);
    assert_non_null(d && v && m);
    assert_int_equal(sso_template_gauss(1.6, 3, t7), SSO_OK);
    s->w = w, s->h = h;
    for (int e = 0; e < 4; e++) {
        for (int i = 0; i < w * h; i++)
            d[i] = (float)(10.0 * gauss()), v[i] = 100.0f, m[i] = e == 2 && i % w >= 100 && i % w < 120;
        for (int k = 0; k < nm; k++) {
            const double cx = mv[k][0] + mv[k][2] * T4[e], cy = mv[k][1] + mv[k][3] * T4[e];
            for (int y = (int)cy - 6; y <= (int)cy + 6; y++)
                for (int x = (int)cx - 6; x <= (int)cx + 6; x++)
                    if (x >= 0 && y >= 0 && x < w && y < h)
                        d[(size_t)y * w + x] += (float)(mv[k][4] * 0.25 *
                                                        (erf((x - cx + 0.5) / sg) - erf((x - cx - 0.5) / sg)) *
                                                        (erf((y - cy + 0.5) / sg) - erf((y - cy - 0.5) / sg)));
        }
        s->psi[e] = malloc(sizeof(float) * w * h), s->phi[e] = malloc(sizeof(float) * w * h);
        assert_non_null(s->psi[e] && s->phi[e]);
        assert_int_equal(sso_likelihood(d, v, m, w, h, t7, 3, SSO_LIKE_DIRECT, s->psi[e], s->phi[e]), SSO_OK);
    }
    free(d), free(v), free(m);
}

static void scene_noise(scene *s, int w, int h)
{
    s->w = w, s->h = h;
    for (int e = 0; e < 4; e++) {
        s->psi[e] = malloc(sizeof(float) * w * h), s->phi[e] = malloc(sizeof(float) * w * h);
        assert_non_null(s->psi[e] && s->phi[e]);
        for (int i = 0; i < w * h; i++) {
            s->phi[e][i] = (float)(0.8 + 0.4 * uni());
            s->psi[e][i] = (float)(gauss() * sqrt(s->phi[e][i]));
        }
    }
}

static void compare_search(const scene *s, const sso_stack_params *p0, int expect_equal_raw)
{
    sso_stack_params p = *p0;
    sso_stack_result *rc = NULL, *rg = NULL;
    p.backend = SSO_BACKEND_CPU;
    assert_int_equal(sso_stack_slow((const float *const *)s->psi, (const float *const *)s->phi, 4, s->w,
                                    s->h, T4, &p, &rc), SSO_OK);
    p.backend = SSO_BACKEND_CUDA;
    assert_int_equal(sso_stack_slow((const float *const *)s->psi, (const float *const *)s->phi, 4, s->w,
                                    s->h, T4, &p, &rg), SSO_OK);
    const sso_stack_stats *sc = sso_stack_result_stats(rc), *sg = sso_stack_result_stats(rg);
    assert_int_equal(sg->backend, SSO_BACKEND_CUDA);
    const size_t nc = sso_stack_result_count(rc), ng = sso_stack_result_count(rg);
    printf("CPU: %zu candidates (raw %lld, consistent %lld, %.3g samples); CUDA: %zu (raw %lld of "
           "%lld device hits, consistent %lld, %.3g samples, kernels %.3g ms)\n", nc,
           (long long)sc->n_raw, (long long)sc->n_consistent, (double)sc->n_samples, ng,
           (long long)sg->n_raw, (long long)sg->n_gpu_hits, (long long)sg->n_consistent,
           (double)sg->n_samples, 1e3 * sg->kernel_s);
    size_t bad = nc != ng;
    for (size_t i = 0; i < nc && i < ng; i++) {
        const sso_stack_cand *a = sso_stack_result_get(rc, i), *b = sso_stack_result_get(rg, i);
        const int same = a->gx0 == b->gx0 && a->gy0 == b->gy0 && a->gvx_px_h == b->gvx_px_h &&
                         a->gvy_px_h == b->gvy_px_h && a->nu == b->nu &&
                         fabs(a->x0_px - b->x0_px) <= POS_TOL_PX && fabs(a->y0_px - b->y0_px) <= POS_TOL_PX;
        if (!same && bad++ < 5)
            fprintf(stderr, "candidate %zu: CPU (%d,%d) v (%g,%g) nu %g x0 (%.4f,%.4f); CUDA (%d,%d) v "
                    "(%g,%g) nu %g x0 (%.4f,%.4f)\n", i, a->gx0, a->gy0, a->gvx_px_h, a->gvy_px_h,
                    (double)a->nu, a->x0_px, a->y0_px, b->gx0, b->gy0, b->gvx_px_h, b->gvy_px_h,
                    (double)b->nu, b->x0_px, b->y0_px);
    }
    if (bad)
        fprintf(stderr, "%zu differences (%zu CPU vs %zu CUDA candidates)\n", bad, nc, ng);
    assert_int_equal(bad, 0);
    assert_int_equal(sg->n_consistent, sc->n_consistent);
    assert_true(sg->n_raw >= sc->n_raw); /* the CPU's (row, velocity) skip may evaluate fewer */
    if (expect_equal_raw) {
        assert_int_equal(sg->n_raw, sc->n_raw);
        assert_int_equal(sg->n_samples, sc->n_samples);
    }
    sso_stack_result_free(rc), sso_stack_result_free(rg);
}

static void test_search_movers(void **state)
{
    scene s;
    scene_movers(&s, 300, 260);
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.n_threads = 2;
    compare_search(&s, &p, 0);
    p.no_coverage_skip = 1;
    compare_search(&s, &p, 1);
    scene_free(&s);
}

static void test_search_noise(void **state)
{
    scene s;
    scene_noise(&s, 200, 170);
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.nu_min = 4.0f;
    p.vmax_px_h = 60.0;
    p.no_coverage_skip = 1;
    compare_search(&s, &p, 1);
    scene_free(&s);
}

/* Coverage in a band of rows only (psi = phi = 0 elsewhere, as beyond a detector's edge): the
 * device then receives only the rows its searched tiles read (kernels/stack.cu). A search first on
 * maps of psi = -1e6 (no hit anywhere) leaves that value in the device buffer: if a row the band
 * should have carried were read stale, a trajectory through it would lose its hit there, and the
 * lists would differ. Then no coverage at all: no candidate on either, and no device sample. */
static void test_search_band(void **state)
{
    const int w = 300, h = 260, r0 = 80, r1 = 200;
    scene s, poison;
    scene_noise(&poison, w, h);
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < w * h; i++)
            poison.psi[e][i] = -1e6f, poison.phi[e][i] = 1.0f;
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.n_threads = 2;
    p.backend = SSO_BACKEND_CUDA;
    sso_stack_result *rp = NULL;
    assert_int_equal(sso_stack_slow((const float *const *)poison.psi, (const float *const *)poison.phi, 4,
                                    w, h, T4, &p, &rp), SSO_OK);
    assert_int_equal(sso_stack_result_count(rp), 0);
    sso_stack_result_free(rp);
    scene_movers(&s, w, h);
    for (int e = 0; e < 4; e++)
        for (int y = 0; y < h; y++)
            if (y < r0 || y >= r1)
                for (int x = 0; x < w; x++)
                    s.psi[e][(size_t)y * w + x] = s.phi[e][(size_t)y * w + x] = 0.0f;
    compare_search(&s, &p, 0);
    for (int e = 0; e < 4; e++)
        memset(s.psi[e], 0, sizeof(float) * w * h), memset(s.phi[e], 0, sizeof(float) * w * h);
    sso_stack_result *rg = NULL;
    assert_int_equal(sso_stack_slow((const float *const *)s.psi, (const float *const *)s.phi, 4, w, h, T4,
                                    &p, &rg), SSO_OK);
    assert_int_equal(sso_stack_result_count(rg), 0);
    assert_int_equal(sso_stack_result_stats(rg)->n_samples, 0);
    sso_stack_result_free(rg);
    scene_free(&s), scene_free(&poison);
}

/* SSO_BENCH=1: the search rate at pipeline scale (2048 x 2048 noise psi/phi, 4 epochs, vmax
 * 100 px/h: ~3,800 velocities, nu_min 7: few hits): kernel time by events and wall time with the
 * uploads, in trajectory-epoch samples per second. Prints; asserts only that it ran. */
static void bench_rate(void)
{
    scene s;
    scene_noise(&s, 2048, 2048);
    sso_stack_params p;
    sso_stack_params_default(&p);
    double dv;
    int64_t nv;
    assert_int_equal(sso_stack_velocity_grid(T4, 4, &p, &dv, &nv, NULL, NULL), SSO_OK);
    double *vx = malloc(sizeof(double) * nv), *vy = malloc(sizeof(double) * nv);
    int *ox = malloc(sizeof(int) * nv * 4), *oy = malloc(sizeof(int) * nv * 4);
    assert_non_null(vx && vy && ox && oy);
    assert_int_equal(sso_stack_velocity_grid(T4, 4, &p, &dv, &nv, vx, vy), SSO_OK);
    for (int64_t v = 0; v < nv; v++)
        for (int e = 0; e < 4; e++)
            ox[v * 4 + e] = sso_stack_offset_px(vx[v], T4[e]), oy[v * 4 + e] = sso_stack_offset_px(vy[v], T4[e]);
    const sso_k_stack_job job = {(const float *const *)s.psi, (const float *const *)s.phi, 4, 2048, 2048,
                                 nv, ox, oy, vx, vy, dv, 49.0f, NULL, NULL};
    for (int rep = 0; rep < 4; rep++) { /* the first is the warm-up */
        sso_k_stack_hit *h = NULL;
        size_t n = 0;
        int64_t ns = 0;
        double ks = 0.0;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(sso_k_stack_search(&job, &h, &n, &ns, &ks), SSO_OK);
        clock_gettime(CLOCK_MONOTONIC, &b);
        const double wall = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
        printf("BENCH stack 2048x2048 x %lld velocities x 4 epochs: %.4g samples, kernels %.2f ms "
               "(%.3g samples/s), with uploads %.2f ms (%.3g samples/s), %zu hits%s\n",
               (long long)nv, (double)ns, 1e3 * ks, ns / ks, 1e3 * wall, ns / wall, n,
               rep ? "" : " [warm-up]");
        free(h);
    }
    free(vx), free(vy), free(ox), free(oy);
    scene_free(&s);
}

int main(void)
{
    if (sso_cuda_device_count() <= 0) {
        printf("[  SKIPPED ] no CUDA device: GPU parity not checked\n");
        return SSO_TEST_SKIP_EXIT;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_4_epochs_overflow),
        cmocka_unit_test(test_kernel_other_epochs),
        cmocka_unit_test(test_search_movers),
        cmocka_unit_test(test_search_noise),
        cmocka_unit_test(test_search_band),
    };
    if (getenv("SSO_BENCH")) {
        bench_rate();
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
