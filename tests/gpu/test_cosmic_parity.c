/* tests/gpu/test_cosmic_parity.c: the CUDA cosmic-ray detection (kernels/cosmic.cu) against the
 * CPU reference (host/cosmic.c), through sso_cosmic_detect() with backend CPU and CUDA.
 *
 * Cases: (1) seeded random: sky noise, Gaussian stars of the undersampled VIS PSF (FWHM 1.6 px),
 * single-pixel hits and short tracks, 1% masked pixels, FLG COSMIC hints on some hits and on some
 * stars, with and without the hint, niter 1 and 4, the final growth by 0, 1 and 3 px; (2) a
 * simulated detector (stars, galaxies, cosmic rays, defects, movers), prepared and
 * background-subtracted as in the pipeline.
 *
 * Tolerance: none. Both backends evaluate the same single-precision expressions (sums, products
 * by 2, 0.25 and 0.01 that no fused multiply-add can round differently, correctly rounded sqrt
 * and division) and medians select stored values, so the flags must be identical, pixel for
 * pixel, and so must the count. Exits 77 (SKIPPED) without a device.
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

#include "parity.h"

static void check(const float *img, const float *var, const uint8_t *mask, const int32_t *flg,
                  int w, int h, int use_hint, int niter, int grow_px)
{
    const size_t n = (size_t)w * h;
    uint8_t *cc = malloc(n), *cg = malloc(n);
    assert_non_null(cc && cg);
    memset(cg, 7, n); /* every byte must be written */
    sso_cosmic_params p = sso_cosmic_params_default();
    p.use_flg_hint = use_hint;
    p.niter = niter;
    p.grow_px = grow_px;
    int64_t nc = -1, ng = -2;
    p.backend = SSO_BACKEND_CPU;
    assert_int_equal(sso_cosmic_detect(img, var, mask, flg, w, h, &p, cc, &nc), SSO_OK);
    p.backend = SSO_BACKEND_CUDA;
    sso_status st = sso_cosmic_detect(img, var, mask, flg, w, h, &p, cg, &ng);
    if (st)
        fprintf(stderr, "cuda: %s\n", sso_last_error());
    assert_int_equal(st, SSO_OK);
    fprintf(stderr, "cosmic parity %d x %d hint %d niter %d grow %d: cpu flags %lld, gpu %lld\n",
            w, h, use_hint, niter, grow_px, (long long)nc, (long long)ng);
    assert_int_equal(pt_compare_u8("cr_mask", cg, cc, n, w, NULL, NULL), 0);
    assert_int_equal(ng, nc);
    assert_true(nc > 0); /* the case exercises the detection at all */
    free(cc), free(cg);
}

static void add_gauss(float *img, int w, int h, double xc, double yc, double fwhm, double flux)
{
    const double s = fwhm / 2.3548;
    for (int y = (int)yc - 6; y <= (int)yc + 6; y++)
        for (int x = (int)xc - 6; x <= (int)xc + 6; x++)
            if (x >= 0 && y >= 0 && x < w && y < h)
                img[(size_t)y * w + x] += (float)(flux / (6.283185307179586 * s * s) *
                                                  exp(-((x - xc) * (x - xc) + (y - yc) * (y - yc)) /
                                                      (2 * s * s)));
}

static void test_random(void **state)
{
    (void)state;
    const int w = 700, h = 523;
    const size_t n = (size_t)w * h;
    float *img = malloc(n * sizeof(float)), *var = malloc(n * sizeof(float));
    uint8_t *mask = calloc(n, 1);
    int32_t *flg = calloc(n, sizeof(int32_t));
    assert_non_null(img && var && mask && flg);
    pt_seed(23);
    const double sky = 60.0, rn2 = 4.4 * 4.4;
    for (size_t i = 0; i < n; i++) {
        img[i] = (float)(sqrt(sky + rn2) * pt_gauss());
        var[i] = (float)(sky + rn2);
    }
    for (int k = 0; k < 300; k++) /* stars, some with the hint (Euclid's flag is not perfect) */ {
        double x = 5 + pt_uni() * (w - 10), y = 5 + pt_uni() * (h - 10);
        add_gauss(img, w, h, x, y, 1.6, 200.0 + 2e4 * pt_uni());
        if (k % 10 == 0)
            flg[(size_t)(int)y * w + (int)x] |= (int32_t)SSO_FLG_COSMIC;
    }
    for (int k = 0; k < 600; k++) { /* hits and tracks */
        int x = 2 + (int)(pt_uni() * (w - 4)), y = 2 + (int)(pt_uni() * (h - 4));
        int len = 1 + (int)(pt_uni() * 4), dx = pt_uni() < 0.5, dy = !dx;
        for (int t = 0; t < len && x + t * dx < w && y + t * dy < h; t++) {
            size_t i = (size_t)(y + t * dy) * w + (x + t * dx);
            img[i] += (float)(30.0 + 3000.0 * pt_uni());
            if (pt_uni() < 0.5)
                flg[i] |= (int32_t)SSO_FLG_COSMIC;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (pt_uni() < 0.01) {
            mask[i] = 1;
            if (pt_uni() < 0.3)
                var[i] = INFINITY; /* as prep leaves masked pixels */
        }
    check(img, var, mask, flg, w, h, 1, 4, 1);
    check(img, var, mask, flg, w, h, 0, 4, 0);
    check(img, var, mask, flg, w, h, 1, 2, 3);
    check(img, var, NULL, NULL, w, h, 1, 1, 1);
    free(img), free(var), free(mask), free(flg);
}

static void test_simulated(void **state)
{
    (void)state;
    pt_det q[4];
    assert_int_equal(pt_sim_quartet(1024, 1024, 7, q), 0);
    for (int e = 0; e < 4; e += 3) {
        const size_t n = (size_t)q[e].w * q[e].h;
        float *bkg = malloc(n * sizeof(float));
        assert_non_null(bkg);
        assert_int_equal(sso_background_estimate(q[e].img, q[e].mask, q[e].w, q[e].h, NULL, bkg,
                                                 NULL), SSO_OK);
        assert_int_equal(sso_background_subtract(q[e].img, q[e].mask, q[e].w, q[e].h, bkg),
                         SSO_OK);
        check(q[e].img, q[e].var, q[e].mask, q[e].flg, q[e].w, q[e].h, 1, 4, 1);
        free(bkg);
    }
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
