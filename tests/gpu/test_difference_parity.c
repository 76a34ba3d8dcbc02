/* tests/gpu/test_difference_parity.c: the CUDA static-sky removal (kernels/difference.cu) against
 * the CPU reference (host/difference.c), through sso_difference_patch() with backend CPU and CUDA.
 *
 * Cases: (1) seeded random: 4 epochs of noise over common static stars (bright ones trip the
 * bright-template rule), a mover in one epoch, 4% masked pixels per epoch (so templates of 3, 2,
 * 1 and 0 epochs all occur); the default config, growth 0 and 2, the rule off, min template
 * epochs 2; (2) the 4 epochs of a simulated detector (stars, galaxies, cosmic rays, defects).
 * Both also with the static-sky gate on (a 7 x 7 Gaussian matched filter): the file is built
 * without FMA contraction and the gate's sums run in one order in double, so the gate must match
 * exactly (its pixel count is compared; a flipped gate pixel would also break the diff tolerance).
 *
 * Tolerances, and why. The template is a median (a stored value) or a mean of two; nvcc may fuse
 * "img - 0.5 (a + b)" and "var + factor * sum" into FMAs, one rounding instead of two, so
 *   diff: |gpu - cpu| <= ULPS * (|img| + max |other epochs|), var: <= RTOL * |cpu|,
 * ULPS = RTOL = 1e-6 (a few float ulps). The bright rule compares |T| with k sqrt(var): where the
 * two sit within BRIGHT_EDGE (1e-5 relative) of each other the rounding may tip it, and growth
 * spreads the tip over its (2r+1)^2 neighbourhood: mask differences are excused only inside such a
 * neighbourhood of such a knife-edge pixel (recomputed here with the shared sso_diff_pixel), and
 * counted; everything else must match exactly, and so must the no-template count.
 * Exits 77 (SKIPPED) without a device.
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

#include "host/difference_math.h"
#include "parity.h"

#define ULPS 1e-6f
#define RTOL 1e-6f
#define BRIGHT_EDGE 1e-5f

static void check(int w, int h, float *const img[4], float *const var[4], uint8_t *const mask[4],
                  const sso_difference_config *cfg0)
{
    const size_t n = (size_t)w * h;
    float *dc[4], *vc[4], *dg[4], *vg[4], *atol = malloc(n * sizeof(float));
    uint8_t *mc[4], *mg[4], *edge = malloc(n), *excuse = malloc(n), *skip = malloc(n);
    assert_non_null(atol && edge && excuse && skip);
    for (int e = 0; e < 4; e++) {
        dc[e] = malloc(n * 4), vc[e] = malloc(n * 4), dg[e] = malloc(n * 4), vg[e] = malloc(n * 4);
        mc[e] = malloc(n), mg[e] = malloc(n);
        assert_non_null(dc[e] && vc[e] && dg[e] && vg[e] && mc[e] && mg[e]);
    }
    sso_difference_config cfg = *cfg0;
    sso_difference_stats sc, sg;
    cfg.backend = SSO_BACKEND_CPU;
    assert_int_equal(sso_difference_patch(w, h, (const float *const *)img,
                                          (const float *const *)var,
                                          (const uint8_t *const *)mask, &cfg, dc, vc, mc, &sc),
                     SSO_OK);
    cfg.backend = SSO_BACKEND_CUDA;
    sso_status st = sso_difference_patch(w, h, (const float *const *)img, (const float *const *)var,
                                         (const uint8_t *const *)mask, &cfg, dg, vg, mg, &sg);
    if (st)
        fprintf(stderr, "cuda: %s\n", sso_last_error());
    assert_int_equal(st, SSO_OK);
    fprintf(stderr, "difference parity %d x %d (k %g, grow %d, min %d, gate %s): cpu bright %lld "
            "no-template %lld static %lld; gpu %lld, %lld, %lld\n", w, h, (double)cfg.bright_k,
            cfg.bright_grow_px, cfg.min_template_epochs, cfg.gate_kernel ? "on" : "off",
            (long long)sc.n_bright, (long long)sc.n_no_template, (long long)sc.n_static,
            (long long)sg.n_bright, (long long)sg.n_no_template, (long long)sg.n_static);
    size_t bad = 0, excused_total = 0;
    const int r = cfg.bright_grow_px;
    for (int e = 0; e < 4; e++) {
        /* knife edges of the bright rule, and the diff tolerance, from the shared per-pixel math */
        for (size_t i = 0; i < n; i++) {
            const float im[4] = {img[0][i], img[1][i], img[2][i], img[3][i]};
            const float va[4] = {var[0][i], var[1][i], var[2][i], var[3][i]};
            const uint8_t ma[4] = {mask[0][i], mask[1][i], mask[2][i], mask[3][i]};
            float d, dv, big = 0.0f;
            int code = sso_diff_pixel(e, im, va, ma, cfg.min_template_epochs, 0.0f, 1, &d, &dv);
            const float t = im[e] - d, lim = cfg.bright_k * sqrtf(dv);
            edge[i] = code == SSO_DIFF_OK && cfg.bright_k > 0.0f &&
                      fabsf(fabsf(t) - lim) <= BRIGHT_EDGE * lim;
            for (int k = 0; k < 4; k++)
                big = fabsf(im[k]) > big ? fabsf(im[k]) : big;
            atol[i] = ULPS * 2.0f * big;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t ex = 0;
                for (int yy = y - r; yy <= y + r && !ex; yy++)
                    for (int xx = x - r; xx <= x + r && !ex; xx++)
                        ex = xx >= 0 && yy >= 0 && xx < w && yy < h && edge[(size_t)yy * w + xx];
                excuse[(size_t)y * w + x] = ex;
            }
        size_t exc = 0;
        char what[32];
        snprintf(what, sizeof what, "mask[%d]", e);
        bad += pt_compare_u8(what, mg[e], mc[e], n, w, excuse, &exc);
        excused_total += exc;
        for (size_t i = 0; i < n; i++)
            skip[i] = mg[e][i] != mc[e][i];
        snprintf(what, sizeof what, "diff[%d]", e);
        bad += pt_compare(what, dg[e], dc[e], n, w, atol, 0.0f, 0.0f, skip);
        snprintf(what, sizeof what, "var[%d]", e);
        bad += pt_compare(what, vg[e], vc[e], n, w, NULL, 0.0f, RTOL, skip);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(sg.n_no_template, sc.n_no_template);
    assert_int_equal(sg.n_static, sc.n_static);
    assert_true(llabs((long long)(sg.n_bright - sc.n_bright)) <= (long long)excused_total);
    for (int e = 0; e < 4; e++)
        free(dc[e]), free(vc[e]), free(dg[e]), free(vg[e]), free(mc[e]), free(mg[e]);
    free(atol), free(edge), free(excuse), free(skip);
}

/* A 7 x 7 Gaussian (sigma 1 px) summing to 1, for the static-sky gate. */
static float gate_k[49];
static void gate_on(sso_difference_config *cfg)
{
    double sum = 0.0;
    for (int k = 0; k < 49; k++)
        sum += exp(-((k % 7 - 3) * (k % 7 - 3) + (k / 7 - 3) * (k / 7 - 3)) / 2.0);
    for (int k = 0; k < 49; k++)
        gate_k[k] = (float)(exp(-((k % 7 - 3) * (k % 7 - 3) + (k / 7 - 3) * (k / 7 - 3)) / 2.0) / sum);
    cfg->gate_kernel = gate_k;
    cfg->gate_half = 3;
}

static void test_random(void **state)
{
    (void)state;
    const int w = 640, h = 480;
    const size_t n = (size_t)w * h;
    float *img[4], *var[4];
    uint8_t *mask[4];
    float *stat = calloc(n, sizeof(float));
    assert_non_null(stat);
    pt_seed(41);
    for (int k = 0; k < 400; k++) { /* static sky: stars of all brightnesses */
        const double xc = pt_uni() * w, yc = pt_uni() * h, f = pow(10.0, 2.0 + 3.5 * pt_uni());
        for (int y = (int)yc - 4; y <= (int)yc + 4; y++)
            for (int x = (int)xc - 4; x <= (int)xc + 4; x++)
                if (x >= 0 && y >= 0 && x < w && y < h)
                    stat[(size_t)y * w + x] += (float)(f / 4.6 * exp(-((x - xc) * (x - xc) +
                                                       (y - yc) * (y - yc)) / 0.92));
    }
    for (int e = 0; e < 4; e++) {
        img[e] = malloc(n * 4), var[e] = malloc(n * 4), mask[e] = malloc(n);
        assert_non_null(img[e] && var[e] && mask[e]);
        for (size_t i = 0; i < n; i++) {
            const double v = 99.0 + (stat[i] > 0 ? stat[i] : 0.0);
            mask[e][i] = pt_uni() < 0.04;
            img[e][i] = mask[e][i] ? 0.0f : (float)(stat[i] + sqrt(v) * pt_gauss());
            var[e][i] = mask[e][i] ? INFINITY : (float)v;
        }
    }
    for (int t = 0; t < 5; t++) /* a mover in epoch t % 4 */
        img[t % 4][(size_t)(100 + 60 * t) * w + 200 + 70 * t] += 800.0f;
    sso_difference_config cfg;
    sso_difference_config_default(&cfg);
    check(w, h, img, var, mask, &cfg);
    cfg.bright_grow_px = 0;
    check(w, h, img, var, mask, &cfg);
    cfg.bright_grow_px = 2;
    cfg.min_template_epochs = 2;
    check(w, h, img, var, mask, &cfg);
    cfg.bright_k = 0.0f;
    check(w, h, img, var, mask, &cfg);
    sso_difference_config_default(&cfg);
    gate_on(&cfg);
    check(w, h, img, var, mask, &cfg);
    cfg.gate_grow_px = 0;
    check(w, h, img, var, mask, &cfg);
    for (int e = 0; e < 4; e++)
        free(img[e]), free(var[e]), free(mask[e]);
    free(stat);
}

static void test_simulated(void **state)
{
    (void)state;
    pt_det q[4];
    assert_int_equal(pt_sim_quartet(1024, 1024, 13, q), 0);
    float *img[4] = {q[0].img, q[1].img, q[2].img, q[3].img};
    float *var[4] = {q[0].var, q[1].var, q[2].var, q[3].var};
    uint8_t *mask[4] = {q[0].mask, q[1].mask, q[2].mask, q[3].mask};
    sso_difference_config cfg;
    sso_difference_config_default(&cfg);
    check(q[0].w, q[0].h, img, var, mask, &cfg);
    gate_on(&cfg);
    check(q[0].w, q[0].h, img, var, mask, &cfg);
    for (int e = 0; e < 4; e++)
        pt_det_free(&q[e]);
}

int main(void)
{
    PT_SKIP_WITHOUT_DEVICE();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_simulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
