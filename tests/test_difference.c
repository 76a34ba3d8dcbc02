/* tests/test_difference.c: static sky removal (host/difference.c) against analytic cases.
 *
 *   - median of 3 and the template variance formulas (pi/2 * mean var / 3; (v1+v2)/4; v);
 *   - a static star in all 4 epochs vanishes to the noise level (chi^2 per pixel ~ 1), with the
 *     bright-template rule off so the star's pixels count;
 *   - a mover at a different position each epoch survives in each epoch's difference with its
 *     flux within 5%;
 *   - a pixel masked in one epoch: the others' templates use the remaining 2 (their mean), and
 *     that epoch's difference is masked; all others masked -> no template; with
 *     min_template_epochs 2, a single remaining epoch is not enough;
 *   - the empirical variance of the difference of pure noise agrees with the propagated one
 *     (the median-of-3 formula being conservative by the factor 0.449 / 0.524 on its term);
 *   - the bright rule: pixels with |template| > k sqrt(var_diff) are masked, grown by 1 px, and
 *     a faint star is not;
 *   - the static-sky gate: its statistic recomputed here (matched filter on the inverse-variance
 *     combination) decides, pixel for pixel, where the template is subtracted (as without the
 *     gate) and where the difference is the epoch's own image and variance; a faint mover in one
 *     epoch keeps its own noise; the masks are those of the run without the gate.
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
#include "sso/sso.h"

#define PI 3.14159265358979323846
#define W 64
#define H 64
#define N (W * H)

static void ok(sso_status st)
{
    if (st)
        fprintf(stderr, "status %d: %s\n", (int)st, sso_last_error());
    assert_int_equal(st, SSO_OK);
}

typedef struct quad {
    float img[4][N], var[4][N], dif[4][N], dvar[4][N];
    uint8_t mask[4][N], dmask[4][N];
} quad;

static uint64_t g_seed;
static double gauss_rand(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
        u[i] = ((g_seed >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(2.0 * PI * u[1]);
}

static void fill_noise(quad *q, double sigma)
{
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < N; i++) {
            q->img[e][i] = (float)(sigma * gauss_rand());
            q->var[e][i] = (float)(sigma * sigma);
            q->mask[e][i] = 0;
        }
}

/* Adds a circular Gaussian (sigma 0.68 px, FWHM 1.6) of total flux f at 0-based (x, y), sampled at
 * pixel centres and normalised on the grid. */
static void add_source(float *img, double x, double y, double f)
{
    const double s = 0.68;
    double norm = 0.0;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < H; j++)
            for (int i = 0; i < W; i++) {
                double g = exp(-((i - x) * (i - x) + (j - y) * (j - y)) / (2 * s * s));
                if (pass == 0)
                    norm += g;
                else
                    img[j * W + i] += (float)(f * g / norm);
            }
}

static void run(quad *q, const sso_difference_config *cfg, sso_difference_stats *st)
{
    const float *img[4] = {q->img[0], q->img[1], q->img[2], q->img[3]};
    const float *var[4] = {q->var[0], q->var[1], q->var[2], q->var[3]};
    const uint8_t *m[4] = {q->mask[0], q->mask[1], q->mask[2], q->mask[3]};
    float *d[4] = {q->dif[0], q->dif[1], q->dif[2], q->dif[3]};
    float *dv[4] = {q->dvar[0], q->dvar[1], q->dvar[2], q->dvar[3]};
    uint8_t *dm[4] = {q->dmask[0], q->dmask[1], q->dmask[2], q->dmask[3]};
    ok(sso_difference_patch(W, H, img, var, m, cfg, d, dv, dm, st));
}

static quad *new_quad(void)
{
    quad *q = calloc(1, sizeof *q);
    assert_non_null(q);
    return q;
}

static void test_pixel_math(void **state)
{
    (void)state;
    const float v[6][3] = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}};
    for (int i = 0; i < 6; i++)
        assert_true(sso_median3(v[i][0], v[i][1], v[i][2]) == 2.0f);
    assert_true(sso_median3(5, 5, -1) == 5.0f);
    const float x[3] = {10, 40, 20}, vv[3] = {3, 6, 9};
    float t, vt;
    assert_int_equal(sso_diff_template(x, vv, 3, &t, &vt), 1);
    assert_true(t == 20.0f);
    assert_float_equal(vt, PI / 2.0 * 6.0 / 3.0, 1e-5);
    assert_int_equal(sso_diff_template(x, vv, 2, &t, &vt), 1);
    assert_float_equal(t, 25.0, 1e-6);
    assert_float_equal(vt, (3.0 + 6.0) / 4.0, 1e-6);
    assert_int_equal(sso_diff_template(x, vv, 1, &t, &vt), 1);
    assert_true(t == 10.0f && vt == 3.0f);
    assert_int_equal(sso_diff_template(x, vv, 0, &t, &vt), 0);
}

static void test_static_star_vanishes(void **state)
{
    (void)state;
    quad *q = new_quad();
    g_seed = 1;
    fill_noise(q, 5.0);
    for (int e = 0; e < 4; e++)
        add_source(q->img[e], 30.3, 31.7, 2000.0); /* peak ~ 690 e- = 140 sigma */
    sso_difference_config cfg;
    sso_difference_config_default(&cfg);
    cfg.bright_k = 0.0f; /* the rule off: the star's own pixels are judged */
    run(q, &cfg, NULL);
    double chi2 = 0.0, maxabs = 0.0;
    int n = 0;
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < N; i++) {
            assert_int_equal(q->dmask[e][i], 0);
            chi2 += q->dif[e][i] * q->dif[e][i] / q->dvar[e][i];
            maxabs = fmax(maxabs, fabs(q->dif[e][i]) / sqrt(q->dvar[e][i]));
            n++;
        }
    chi2 /= n;
    /* The median-of-3 variance formula is conservative: expected chi^2 ~ 1.449 / 1.524 = 0.95. */
    assert_true(chi2 > 0.85 && chi2 < 1.02);
    assert_true(maxabs < 5.5); /* no pixel of the star stands out */
    free(q);
}

static void test_mover_survives(void **state)
{
    (void)state;
    quad *q = new_quad();
    g_seed = 2;
    fill_noise(q, 5.0);
    const double xs[4] = {12.2, 24.6, 37.1, 49.5}, ys[4] = {20.4, 26.9, 33.3, 39.8};
    const double flux = 5000.0;
    for (int e = 0; e < 4; e++) {
        add_source(q->img[e], 40.0, 12.0, 5000.0); /* a static star too */
        add_source(q->img[e], xs[e], ys[e], flux);
    }
    run(q, NULL, NULL);
    for (int e = 0; e < 4; e++) {
        double sum = 0.0;
        for (int j = -4; j <= 4; j++)
            for (int i = -4; i <= 4; i++) {
                int k = ((int)lround(ys[e]) + j) * W + (int)lround(xs[e]) + i;
                assert_int_equal(q->dmask[e][k], 0);
                sum += q->dif[e][k];
            }
        /* 81 px of difference noise sigma ~ 6.0: the sum has ~54 e- = 1.1% of noise. */
        assert_true(fabs(sum / flux - 1.0) < 0.05);
    }
    free(q);
}

static void test_masked_epochs(void **state)
{
    (void)state;
    quad *q = new_quad();
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < N; i++) {
            q->img[e][i] = 100.0f + 10.0f * e; /* 100, 110, 120, 130 */
            q->var[e][i] = 4.0f * (e + 1);     /* 4, 8, 12, 16 */
            q->mask[e][i] = 0;
        }
    /* Pixel 5: epoch 1 masked. Pixel 6: epochs 1, 2 and 3 masked. Pixel 7: epochs 2, 3 masked. */
    q->mask[1][5] = 1;
    q->mask[1][6] = q->mask[2][6] = q->mask[3][6] = 1;
    q->mask[2][7] = q->mask[3][7] = 1;
    sso_difference_config cfg;
    sso_difference_config_default(&cfg);
    cfg.bright_k = 0.0f;
    sso_difference_stats st;
    run(q, &cfg, &st);
    /* Pixel 0 (nothing masked), epoch 0: template median(110, 120, 130) = 120. */
    assert_float_equal(q->dif[0][0], -20.0, 1e-4);
    assert_float_equal(q->dvar[0][0], 4.0 + PI / 2.0 * (8.0 + 12.0 + 16.0) / 3.0 / 3.0, 1e-4);
    /* Pixel 5: epoch 1 masked; epoch 0's template is the mean of 120 and 130. */
    assert_int_equal(q->dmask[1][5], 1);
    assert_true(isinf(q->dvar[1][5]) && q->dif[1][5] == 0.0f);
    assert_float_equal(q->dif[0][5], 100.0 - 125.0, 1e-4);
    assert_float_equal(q->dvar[0][5], 4.0 + (12.0 + 16.0) / 4.0, 1e-4);
    assert_float_equal(q->dif[2][5], 120.0 - 115.0, 1e-4); /* template of 100 and 130 */
    /* Pixel 6: only epoch 0 left: no template for it; masked elsewhere. */
    for (int e = 0; e < 4; e++)
        assert_int_equal(q->dmask[e][6], 1);
    /* Pixel 7: epochs 0 and 1 left: each the other's single-epoch template. */
    assert_float_equal(q->dif[0][7], -10.0, 1e-4);
    assert_float_equal(q->dvar[0][7], 4.0 + 8.0, 1e-4);
    assert_float_equal(q->dif[1][7], 10.0, 1e-4);
    assert_int_equal(st.n_no_template, 1); /* epoch 0 of pixel 6 */
    /* With at least 2 template epochs required, pixel 7 has none. */
    cfg.min_template_epochs = 2;
    run(q, &cfg, &st);
    assert_int_equal(q->dmask[0][7], 1);
    assert_int_equal(q->dmask[1][7], 1);
    assert_int_equal(st.n_no_template, 3);
    /* All masked -> masked. */
    for (int e = 0; e < 4; e++)
        q->mask[e][9] = 1;
    run(q, &cfg, NULL);
    for (int e = 0; e < 4; e++)
        assert_int_equal(q->dmask[e][9], 1);
    cfg.min_template_epochs = 4;
    const float *img[4] = {q->img[0], q->img[1], q->img[2], q->img[3]};
    const float *var[4] = {q->var[0], q->var[1], q->var[2], q->var[3]};
    const uint8_t *m[4] = {q->mask[0], q->mask[1], q->mask[2], q->mask[3]};
    float *d[4] = {q->dif[0], q->dif[1], q->dif[2], q->dif[3]};
    float *dv[4] = {q->dvar[0], q->dvar[1], q->dvar[2], q->dvar[3]};
    uint8_t *dm[4] = {q->dmask[0], q->dmask[1], q->dmask[2], q->dmask[3]};
    assert_int_equal(sso_difference_patch(W, H, img, var, m, &cfg, d, dv, dm, NULL), SSO_ERR_ARG);
    free(q);
}

static void test_noise_variance(void **state)
{
    (void)state;
    quad *q = new_quad();
    g_seed = 3;
    fill_noise(q, 2.0);
    sso_difference_config cfg;
    sso_difference_config_default(&cfg);
    run(q, &cfg, NULL);
    double s2 = 0.0, pred = 0.0;
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < N; i++)
            s2 += q->dif[e][i] * q->dif[e][i], pred += q->dvar[e][i];
    /* Exact for Gaussian noise: var(x - median of 3 others) = sigma^2 (1 + 0.4487). The
     * prediction is sigma^2 (1 + pi/6). 16384 samples: the ratio is known to ~1.5%. */
    const double ratio = s2 / pred, expect = (1.0 + 0.4487) / (1.0 + PI / 6.0);
    printf("# difference of noise: measured / propagated variance %.4f (expected %.4f)\n", ratio,
           expect);
    assert_true(fabs(ratio - expect) < 0.05);
    free(q);
}

static void test_bright_rule(void **state)
{
    (void)state;
    quad *q = new_quad();
    g_seed = 4;
    fill_noise(q, 5.0);
    for (int e = 0; e < 4; e++) {
        add_source(q->img[e], 20.0, 20.0, 20000.0); /* bright: peak ~6900 e- >> 20 sigma */
        add_source(q->img[e], 45.0, 45.0, 200.0);   /* faint: peak ~69 e- < 20 * 6.2 */
    }
    sso_difference_stats st;
    run(q, NULL, &st);
    /* Independently: the set where the template (noise-free star) exceeds 20 sigma_diff, grown by
     * one pixel, must be masked; the noise-free template is the star model (noise adds < 1%). */
    const double sig = 5.0 * sqrt(1.0 + PI / 6.0);
    for (int e = 0; e < 4; e++) {
        /* the star's centre pixel: template 6900 e- */
        assert_int_equal(q->dmask[e][20 * W + 20], 1);
        /* its neighbour at 1 px: model 20000 * exp(-1 / (2 * 0.68^2)) / 2.905 ~ 2330 e-: masked */
        assert_int_equal(q->dmask[e][20 * W + 21], 1);
        /* 4 px away the model is ~0 and it is 2 px from the nearest > 20 sigma pixel: good */
        assert_int_equal(q->dmask[e][20 * W + 24], 0);
        /* the faint star is never masked */
        assert_int_equal(q->dmask[e][45 * W + 45], 0);
    }
    /* Count: pixels whose model exceeds 20 sig: offsets with 20000 * g / norm > 20 * sig. */
    const double s = 0.68, norm = 2 * PI * s * s; /* the sampled Gaussian sums to ~2 pi s^2 */
    int seeds = 0;
    for (int j = -3; j <= 3; j++)
        for (int i = -3; i <= 3; i++)
            seeds += 20000.0 * exp(-(i * i + j * j) / (2 * s * s)) / norm > 20.0 * sig;
    /* centre 6880, sides 2330, diagonals 790 e- are above 20 sigma = 123 e-; at 2 px 91 e- is not */
    assert_int_equal(seeds, 9);
    /* grown by 1 px (Chebyshev): the 3 x 3 becomes 5 x 5, per epoch */
    assert_int_equal(st.n_bright, 4 * 25);
    free(q);
}

/* The gate's statistic at (x, y), written out here independently of host/difference_math.h. */
static double gate_stat(const quad *q, const float *K, int half, int x, int y)
{
    double ps = 0.0, ph = 0.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++) {
            const int xx = x + dx, yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H)
                continue;
            const double k = K[(dy + half) * (2 * half + 1) + dx + half];
            for (int e = 0; e < 4; e++) {
                const int i = yy * W + xx;
                if (q->mask[e][i])
                    continue;
                ps += k * q->img[e][i] / q->var[e][i];
                ph += k * k / q->var[e][i];
            }
        }
    return ps / sqrt(ph);
}

static void test_static_gate(void **state)
{
    (void)state;
    quad *q = new_quad(), *off = new_quad();
    g_seed = 5;
    fill_noise(q, 5.0);
    float K[49];
    double ksum = 0.0;
    for (int k = 0; k < 49; k++)
        ksum += K[k] = (float)exp(-((k % 7 - 3) * (k % 7 - 3) + (k / 7 - 3) * (k / 7 - 3)) / (2 * 0.68 * 0.68));
    for (int k = 0; k < 49; k++)
        K[k] = (float)(K[k] / ksum);
    for (int e = 0; e < 4; e++) {
        add_source(q->img[e], 20.0, 20.0, 2000.0); /* a star: ~170 sigma per epoch in the filter */
        add_source(q->img[e], 45.0, 45.0, 40.0);   /* a faint galaxy: ~3.3 per epoch, ~6.6 in all 4 */
        add_source(q->img[e], 48.0, 12.0, 8.0);    /* fainter: ~0.7 per epoch, ~1.3 in all 4 */
    }
    add_source(q->img[0], 10.0, 50.0, 45.0); /* a mover in epoch 0 only: SNR ~3.7 there, ~1.9 in the gate */
    q->mask[2][30 * W + 30] = 1;
    *off = *q;
    sso_difference_config cfg;
    sso_difference_config_default(&cfg);
    sso_difference_stats st_off, st_on;
    run(off, &cfg, &st_off);
    cfg.gate_kernel = K;
    cfg.gate_half = 3;
    cfg.gate_grow_px = 1;
    run(q, &cfg, &st_on);
    assert_int_equal(st_off.n_static, 0);
    /* the gate, recomputed: static pixels grown by 1 px */
    static uint8_t stat[N];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            stat[y * W + x] = gate_stat(q, K, 3, x, y) > cfg.gate_snr;
    assert_true(stat[20 * W + 20] && stat[45 * W + 45]);
    assert_false(stat[12 * W + 48]);
    printf("# gate statistic: star %.1f, galaxy %.1f, fainter %.1f, mover %.1f\n", gate_stat(q, K, 3, 20, 20),
           gate_stat(q, K, 3, 45, 45), gate_stat(q, K, 3, 48, 12), gate_stat(q, K, 3, 10, 50));
    assert_true(gate_stat(q, K, 3, 10, 50) < cfg.gate_snr); /* the mover enters at half its SNR */
    int64_t n_static = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int g = 0;
            for (int yy = y - 1; yy <= y + 1; yy++)
                for (int xx = x - 1; xx <= x + 1; xx++)
                    g |= xx >= 0 && yy >= 0 && xx < W && yy < H && stat[yy * W + xx];
            n_static += g;
            const int i = y * W + x;
            for (int e = 0; e < 4; e++) {
                assert_int_equal(q->dmask[e][i], off->dmask[e][i]);
                if (q->dmask[e][i])
                    continue;
                if (g) { /* the template, as without the gate */
                    assert_true(q->dif[e][i] == off->dif[e][i] && q->dvar[e][i] == off->dvar[e][i]);
                } else { /* the epoch's own image and variance */
                    assert_true(q->dif[e][i] == q->img[e][i] && q->dvar[e][i] == q->var[e][i]);
                }
            }
        }
    assert_int_equal(st_on.n_static, n_static);
    assert_true(n_static >= 2 * 9 && n_static < N / 4); /* the two sources, a few noise peaks */
    /* the mover's epoch keeps the exposure's noise: var 25, not 25 (1 + pi / 6) */
    assert_true(q->dvar[0][50 * W + 10] == 25.0f);
    assert_float_equal(off->dvar[0][50 * W + 10], 25.0 * (1.0 + PI / 6.0), 1e-3);
    /* a bad gate configuration is refused */
    cfg.gate_half = SSO_DIFF_GATE_MAX_HALF + 1;
    const float *img[4] = {q->img[0], q->img[1], q->img[2], q->img[3]};
    const float *var[4] = {q->var[0], q->var[1], q->var[2], q->var[3]};
    const uint8_t *m[4] = {q->mask[0], q->mask[1], q->mask[2], q->mask[3]};
    float *d[4] = {off->dif[0], off->dif[1], off->dif[2], off->dif[3]};
    float *dv[4] = {off->dvar[0], off->dvar[1], off->dvar[2], off->dvar[3]};
    uint8_t *dm[4] = {off->dmask[0], off->dmask[1], off->dmask[2], off->dmask[3]};
    assert_int_equal(sso_difference_patch(W, H, img, var, m, &cfg, d, dv, dm, NULL), SSO_ERR_ARG);
    free(q);
    free(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_math),
        cmocka_unit_test(test_static_star_vanishes),
        cmocka_unit_test(test_mover_survives),
        cmocka_unit_test(test_masked_epochs),
        cmocka_unit_test(test_noise_variance),
        cmocka_unit_test(test_bright_rule),
        cmocka_unit_test(test_static_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
