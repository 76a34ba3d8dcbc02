/* tests/gpu/test_background_parity.c: the CUDA background (kernels/background.cu) against the CPU
 * reference (host/background.c), through sso_background_estimate() with backend CPU and CUDA.
 *
 * Cases: (1) seeded random: a sky with a gradient and a curved term, Gaussian noise, bright
 * "sources" (a positive tail), 3% masked pixels, NaNs, a fully masked cell block (so neighbour
 * fill runs), an odd size whose cells are stretched; bicubic and bilinear. (2) a simulated
 * detector (stars, galaxies, cosmic rays, defects) as the pipeline sees it after prep.
 *
 * Tolerances, and why. The cell medians are exact on both sides (selection of a stored value);
 * the cell mean and sd are double sums in a different order (relative ~1e-16), so a clip
 * interval moves by ~1e-16 relative and only a value within that of its edge could change side:
 * the mesh agrees to float rounding. The per-pixel spline is the same arithmetic, but nvcc
 * contracts a*b+c into FMAs (one rounding instead of two) over ~16 terms whose magnitudes reach
 * the sky level: |gpu - cpu| <= ATOL_FRAC * max|cpu| + RTOL * |cpu|, with RTOL = 1e-5 and
 * ATOL_FRAC = 1e-5 (~100 float ulps of the largest value: the terms cancel, so the error scales
 * with the map's magnitude, not with the pixel's value). Exits 77 (SKIPPED) without a device.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "parity.h"

#define RTOL 1e-5f
#define ATOL_FRAC 1e-5f

static float max_abs(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

static void check(const float *img, const uint8_t *mask, int w, int h, sso_background_interp interp)
{
    const size_t n = (size_t)w * h;
    float *bc = malloc(n * sizeof(float)), *rc = malloc(n * sizeof(float));
    float *bg = malloc(n * sizeof(float)), *rg = malloc(n * sizeof(float));
    assert_non_null(bc && rc && bg && rg);
    sso_background_params p = sso_background_params_default();
    p.interp = interp;
    p.backend = SSO_BACKEND_CPU;
    assert_int_equal(sso_background_estimate(img, mask, w, h, &p, bc, rc), SSO_OK);
    p.backend = SSO_BACKEND_CUDA;
    sso_status st = sso_background_estimate(img, mask, w, h, &p, bg, rg);
    if (st)
        fprintf(stderr, "cuda: %s\n", sso_last_error());
    assert_int_equal(st, SSO_OK);
    size_t bad = pt_compare("bkg", bg, bc, n, w, NULL, ATOL_FRAC * max_abs(bc, n), RTOL, NULL);
    bad += pt_compare("rms", rg, rc, n, w, NULL, ATOL_FRAC * max_abs(rc, n), RTOL, NULL);
    assert_int_equal(bad, 0);
    /* only one map wanted: the other pointer NULL */
    assert_int_equal(sso_background_estimate(img, mask, w, h, &p, NULL, rg), SSO_OK);
    assert_int_equal(pt_compare("rms only", rg, rc, n, w, NULL, ATOL_FRAC * max_abs(rc, n), RTOL,
                                NULL), 0);
    free(bc), free(rc), free(bg), free(rg);
}

static void test_random(void **state)
{
    (void)state;
    const int w = 1000, h = 777; /* 8 x 6 cells of ~125 x 130 px */
    const size_t n = (size_t)w * h;
    float *img = malloc(n * sizeof(float));
    uint8_t *mask = calloc(n, 1);
    assert_non_null(img && mask);
    pt_seed(11);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            double sky = 120.0 + 0.03 * x - 0.02 * y + 2e-5 * (x - 500.0) * (y - 300.0);
            double v = sky + 9.0 * pt_gauss();
            if (pt_uni() < 0.02)
                v += 500.0 * pt_uni(); /* sources: a positive tail */
            img[i] = (float)v;
            if (pt_uni() < 0.03)
                mask[i] = 1;
            if (pt_uni() < 0.001)
                img[i] = NAN;
            if (x >= 250 && x < 375 && y >= 390 && y < 520)
                mask[i] = 1; /* one whole cell: filled from its neighbours */
        }
    check(img, mask, w, h, SSO_BKG_BICUBIC);
    check(img, mask, w, h, SSO_BKG_BILINEAR);
    check(img, NULL, w, h, SSO_BKG_BICUBIC); /* no mask: NaNs alone are left out */
    free(img), free(mask);
}

static void test_simulated(void **state)
{
    (void)state;
    pt_det q[4];
    assert_int_equal(pt_sim_quartet(1024, 1024, 5, q), 0);
    check(q[0].img, q[0].mask, q[0].w, q[0].h, SSO_BKG_BICUBIC);
    check(q[2].img, q[2].mask, q[2].w, q[2].h, SSO_BKG_BICUBIC);
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
