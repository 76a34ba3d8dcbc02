/* tests/gpu/test_resample_parity.c: the CUDA resampling (kernels/resample.cu) against the CPU
 * reference (host/resample.c), through sso_resample_detector() with backend CPU and CUDA.
 *
 * Cases: (1) a full-size CCD with the focal plane's real TPV distortion (sim/focal_plane) and
 * seeded random planes (sky noise, sources, 2% masked pixels), onto a patch that covers the
 * CCD's corner (edges, off-detector pixels and untouched patch pixels all occur); (2) a simulated
 * detector (stars, galaxies, cosmic rays, defects), prepared, under a rotated and 2% rescaled TAN
 * WCS, onto a patch that overhangs two of its sides. Before resampling the patch planes hold a
 * pattern, so pixels the detector does not cover must come back unchanged (bit for bit).
 *
 * Tolerances, and why. Same grid, same sso_grid_map (doubles; an FMA changes the position by
 * ~1e-16 px), same Lanczos weights but the GPU's sinf/cosf differ from glibc's by up to ~2 ulp and
 * nvcc fuses multiply-adds: each weight carries a relative error of a few 1e-7, so the
 * value's error scales with sum |w| |img| (the terms cancel: a pixel near zero on a bright
 * slope has a large absolute error), not with the value. Per pixel
 *   |gpu - cpu| <= RTOL_TERMS * jac * sum |w| |img| / |sum w| + RTOL * |cpu|,
 * RTOL_TERMS = 1e-5, RTOL = 1e-5; the variance (positive terms) within RTOL. Masks: a tap's
 * |w| >= mask_weight_min test could flip where a weight sits within a few ulp of 0.02 next to a
 * masked pixel (expected count ~0.1 per million pixels), so up to MASK_FLIPS_MAX differing mask
 * pixels are allowed and printed; their values are not compared. n_written must be equal.
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

#include "host/resample_math.h"
#include "parity.h"
#include "sim/focal_plane.h"

#define RTOL_TERMS 1e-5f
#define RTOL 1e-5f
#define MASK_FLIPS_MAX 3
#define RA0 200.0
#define DEC0 10.0

static void ok(sso_status st)
{
    if (st)
        fprintf(stderr, "status %d: %s\n", (int)st, sso_last_error());
    assert_int_equal(st, SSO_OK);
}

static sso_wcs *tan_wcs(double crpix1, double crpix2, double s_arcsec, double rot_deg)
{
    const double d = 3.14159265358979323846 / 180.0;
    const double s = s_arcsec / 3600.0, c = cos(rot_deg * d), n = sin(rot_deg * d);
    const double cd[4] = {-s * c, s * n, s * n, s * c};
    sso_wcs *w = NULL;
    ok(sso_patch_tan_wcs(RA0, DEC0, crpix1, crpix2, cd, &w));
    return w;
}

/* The error scale of each patch pixel: jac * sum |w| |img| / |sum w| over the taps on the detector. */
static void term_scale(const sso_resample_map *m, int pw, int ph, const float *img,
                       const uint8_t *mask, int W, int H, float *scale)
{
    for (int j = 0; j < ph; j++)
        for (int i = 0; i < pw; i++) {
            double xd, yd, jac;
            ok(sso_resample_map_eval(m, i + 1, j + 1, &xd, &yd, &jac));
            float s = 0.0f;
            if (isfinite(xd) && isfinite(yd) && fabs(xd) < 1e6 && fabs(yd) < 1e6) {
                const double x0 = xd - 1.0, y0 = yd - 1.0, fx = floor(x0), fy = floor(y0);
                float wx[6], wy[6];
                sso_lanczos3_weights((float)(x0 - fx), wx);
                sso_lanczos3_weights((float)(y0 - fy), wy);
                double a = 0.0, sw = 0.0;
                for (int b = 0; b < 6; b++)
                    for (int q = 0; q < 6; q++) {
                        const int xx = (int)fx - 2 + q, yy = (int)fy - 2 + b;
                        if (xx < 0 || yy < 0 || xx >= W || yy >= H)
                            continue;
                        const size_t k = (size_t)yy * W + xx;
                        if (mask[k])
                            continue;
                        a += fabs((double)wx[q] * wy[b]) * fabs((double)img[k]);
                        sw += (double)wx[q] * wy[b];
                    }
                s = sw > 0.1 ? (float)(jac * a / sw) : 0.0f;
            }
            scale[(size_t)j * pw + i] = RTOL_TERMS * s;
        }
}

static void check(const sso_wcs *pwcs, int pw, int ph, const sso_wcs *dwcs, const pt_det *d)
{
    const size_t np = (size_t)pw * ph;
    sso_resample_map *m = NULL;
    ok(sso_resample_map_create(pwcs, pw, ph, dwcs, d->w, d->h, NULL, &m));
    float *ic = malloc(np * 4), *vc = malloc(np * 4), *ig = malloc(np * 4), *vg = malloc(np * 4);
    float *scale = malloc(np * 4);
    uint8_t *mc = malloc(np), *mg = malloc(np), *skip = calloc(np, 1);
    assert_non_null(ic && vc && ig && vg && scale && mc && mg && skip);
    for (size_t i = 0; i < np; i++) { /* a pattern the detector must leave where it does not reach */
        ic[i] = ig[i] = (float)(i % 97) - 40.0f;
        vc[i] = vg[i] = i % 5 ? 3.0f + (float)(i % 13) : INFINITY;
        mc[i] = mg[i] = (uint8_t)(i % 5 == 0);
    }
    sso_resample_config cfg;
    sso_resample_config_default(&cfg);
    int64_t wc = -1, wg = -2;
    cfg.backend = SSO_BACKEND_CPU;
    ok(sso_resample_detector(m, d->img, d->var, d->mask, &cfg, ic, vc, mc, &wc));
    cfg.backend = SSO_BACKEND_CUDA;
    ok(sso_resample_detector(m, d->img, d->var, d->mask, &cfg, ig, vg, mg, &wg));
    fprintf(stderr, "resample parity: patch %d x %d, %lld pixels written (cpu), %lld (gpu)\n", pw,
            ph, (long long)wc, (long long)wg);
    assert_int_equal(wg, wc);
    assert_true(wc > 0 && (size_t)wc < np); /* partial coverage: both kinds of pixel occur */
    size_t flips = 0;
    for (size_t i = 0; i < np; i++)
        if (mc[i] != mg[i]) {
            skip[i] = 1;
            if (flips++ < 5)
                fprintf(stderr, "mask differs at (%zu, %zu): gpu %d cpu %d\n", i % (size_t)pw,
                        i / (size_t)pw, mg[i], mc[i]);
        }
    if (flips)
        fprintf(stderr, "%zu mask pixels differ (at most %d allowed: weights on the %g edge)\n",
                flips, MASK_FLIPS_MAX, (double)SSO_RESAMPLE_MASK_WEIGHT_MIN);
    assert_true(flips <= MASK_FLIPS_MAX);
    term_scale(m, pw, ph, d->img, d->mask, d->w, d->h, scale);
    size_t bad = pt_compare("img", ig, ic, np, pw, scale, 0.0f, RTOL, skip);
    bad += pt_compare("var", vg, vc, np, pw, NULL, 0.0f, RTOL, skip);
    assert_int_equal(bad, 0);
    sso_resample_map_free(m);
    free(ic), free(vc), free(ig), free(vg), free(scale), free(mc), free(mg), free(skip);
}

static void test_tpv_random(void **state)
{
    (void)state;
    sso_fp_wcs fw;
    ok(sso_fp_ccd_wcs(sso_fp_ccd_get(sso_fp_ccd_find("3-3")), RA0, DEC0, 0.0, SSO_SIM_TPV,
                      SSO_FP_CCD_W, SSO_FP_CCD_H, &fw));
    char *hdr = NULL;
    int nkeys = 0;
    sso_wcs *dw = NULL;
    ok(sso_fp_wcs_header(&fw, SSO_FP_CCD_W, SSO_FP_CCD_H, &hdr, &nkeys));
    ok(sso_wcs_from_header(hdr, nkeys, "3-3", &dw));
    free(hdr);
    sso_wcs *plane = tan_wcs(1.0, 1.0, 0.1, 0.0);
    double u, v;
    ok(sso_wcs_sky2pix(plane, 1, &fw.crval_deg[0], &fw.crval_deg[1], &u, &v));
    sso_wcs_free(plane);
    /* The CCD centre at patch pixel (-1250, -1350): the 1500 x 1300 patch covers its corner. */
    sso_wcs *pw = tan_wcs(1.0 - u - 1250.0, 1.0 - v - 1350.0, 0.1, 0.0);
    pt_det d = {SSO_FP_CCD_W, SSO_FP_CCD_H, NULL, NULL, NULL, NULL};
    const size_t n = (size_t)d.w * d.h;
    d.img = malloc(n * 4), d.var = malloc(n * 4), d.mask = malloc(n);
    assert_non_null(d.img && d.var && d.mask);
    pt_seed(31);
    for (size_t i = 0; i < n; i++) {
        d.mask[i] = pt_uni() < 0.02;
        d.img[i] = d.mask[i] ? 0.0f : (float)(80.0 + 9.0 * pt_gauss() + (pt_uni() < 0.01 ? 3e3 * pt_uni() : 0.0));
        d.var[i] = d.mask[i] ? INFINITY : (float)(80.0 + 19.36 + pt_uni());
    }
    check(pw, 1500, 1300, dw, &d);
    pt_det_free(&d);
    sso_wcs_free(pw);
    sso_wcs_free(dw);
}

static void test_simulated(void **state)
{
    (void)state;
    pt_det q[4];
    assert_int_equal(pt_sim_quartet(1024, 1024, 9, q), 0);
    sso_wcs *dw = tan_wcs(512.5, 512.5, 0.102, 0.7);
    sso_wcs *pw = tan_wcs(512.5 + 300.3, 512.5 - 200.6, 0.1, 0.0);
    check(pw, 900, 900, dw, &q[1]);
    sso_wcs_free(pw);
    sso_wcs_free(dw);
    for (int e = 0; e < 4; e++)
        pt_det_free(&q[e]);
}

int main(void)
{
    PT_SKIP_WITHOUT_DEVICE();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tpv_random),
        cmocka_unit_test(test_simulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
