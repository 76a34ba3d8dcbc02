/* tests/test_sim_scene.c: the simulated scene, measured in the written files (cfitsio, wcslib).
 *
 *   - sky and noise: an empty sky has the level of 22.35 AB mag/arcsec^2 through the 25.6 AB zero
 *     point (113 e-/px in 566 s), a scatter of sqrt(sky + 4.4^2) e-, Gaussian tails, and an RMS
 *     plane that matches the scatter;
 *   - cosmic rays: ~1% of pixels carry > 5 sigma deposits, grouped in tracks of tens of pixels,
 *     flagged COSMIC for most but not all of them, different in every exposure;
 *   - defects: hot/cold pixels and bad columns sit on the same pixels in every exposure, bad
 *     columns are vertical runs, the QUADEDGE frame is where the quadrants meet;
 *   - static sky: bright stars found in one dither land, through the two headers' WCS, on the
 *     same sky position in another dither (within 0.1 px);
 *   - saturation: saturated pixels sit at the 200,000 e- full well, in vertical (bled) runs.
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
#include <fitsio.h>
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>

#include "sso/sso.h"
#include "simread.h"
#include "testutil.h"


static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double median_f(const float *v, size_t n)
{
    float *c = malloc(n * sizeof *c);
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_float);
    double m = c[n / 2];
    free(c);
    return m;
}

static void config(sso_sim_config *c, int w, int h)
{
    assert_int_equal(sso_sim_config_preset(c, SSO_SIM_PRESET_DEMO), SSO_OK);
    assert_int_equal(sso_sim_config_set_ccds(c, "3-3"), SSO_OK);
    c->width_px = w;
    c->height_px = h;
    c->n_movers = 0;
    c->stars = c->galaxies = c->cosmics = c->defects = 0;
    c->threads = 2;
}

static void simulate(const sso_sim_config *c, const char *name, char *dir, size_t n)
{
    sso_test_path(dir, n, name);
    sso_status st = sso_sim_run(c, dir);
    if (st)
        fprintf(stderr, "%s: %s\n", sso_strerror(st), sso_last_error());
    assert_int_equal(st, SSO_OK);
}

static void load(const char *dir, const sso_sim_config *c, int epoch, det_img *d)
{
    char path[4200];
    assert_int_equal(sso_sim_exposure_path(c, dir, epoch, path, sizeof path), SSO_OK);
    assert_int_equal(sso_test_read_det(path, "3-3", d), 0);
}

static void unload(det_img *d) { sso_test_free_det(d); }

static const double GAIN = 3.48, RN = 4.4;

static double sky_e(void)
{
    return pow(10.0, -0.4 * (22.35 - 25.6)) * 0.01 * 566.0 + 0.001 * 566.0;
}

static void test_sky_and_noise(void **state)
{
    (void)state;
    sso_sim_config c;
    config(&c, 512, 512);
    char dir[4096];
    simulate(&c, "sky", dir, sizeof dir);
    double expect_adu = sky_e() / GAIN, sig_adu = sqrt(sky_e() + RN * RN) / GAIN;
    for (int e = 1; e <= 4; e += 3) {
        det_img d;
        load(dir, &c, e, &d);
        size_t n = (size_t)d.w * d.h;
        double med = median_f(d.sci, n), rmsmed = median_f(d.rms, n);
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            s += d.sci[i];
            s2 += (double)d.sci[i] * d.sci[i];
            assert_int_equal(d.flg[i], 0);
        }
        double mean = s / n, sd = sqrt(s2 / n - mean * mean);
        assert_true(fabs(med / expect_adu - 1.0) < 0.02);
        assert_true(fabs(sd / sig_adu - 1.0) < 0.03);
        assert_true(fabs(rmsmed / sd - 1.0) < 0.02);
        size_t tail = 0;
        for (size_t i = 0; i < n; i++)
            tail += fabs(d.sci[i] - mean) > 3.0 * sd;
        assert_true((double)tail / n < 0.0045); /* Gaussian: 0.27% */
        assert_true((double)tail / n > 0.0010);
        unload(&d);
    }
}

/* 8-connected components of mask; returns their count, total pixels in *npx. */
static int components(const uint8_t *mask, long w, long h, long *npx)
{
    int *lab = calloc((size_t)w * h, sizeof *lab);
    long *stack = malloc(sizeof(long) * (size_t)w * h);
    int ncomp = 0;
    *npx = 0;
    for (long i = 0; i < w * h; i++) {
        if (!mask[i] || lab[i])
            continue;
        ncomp++;
        long sp = 0;
        stack[sp++] = i;
        lab[i] = ncomp;
        while (sp) {
            long k = stack[--sp];
            (*npx)++;
            long x = k % w, y = k / w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    long xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                        continue;
                    long kk = yy * w + xx;
                    if (mask[kk] && !lab[kk]) {
                        lab[kk] = ncomp;
                        stack[sp++] = kk;
                    }
                }
        }
    }
    free(lab);
    free(stack);
    return ncomp;
}

static void test_cosmic_rays(void **state)
{
    (void)state;
    sso_sim_config c;
    config(&c, 1024, 1024);
    c.cosmics = 1;
    char dir[4096];
    simulate(&c, "cosmics", dir, sizeof dir);
    det_img d1, d2;
    load(dir, &c, 1, &d1);
    load(dir, &c, 2, &d2);
    size_t n = (size_t)d1.w * d1.h;
    double sky = median_f(d1.sci, n), sig = sqrt(sky_e() + RN * RN) / GAIN;
    uint8_t *hit = calloc(n, 1);
    size_t nhit = 0, nhit_flagged = 0, nflag = 0, nflag_bright = 0, overlap = 0;
    for (size_t i = 0; i < n; i++) {
        int bright = d1.sci[i] - sky > 5.0 * sig;
        int flagged = (d1.flg[i] & SSO_FLG_COSMIC) != 0;
        hit[i] = (uint8_t)bright;
        nhit += bright;
        nhit_flagged += bright && flagged;
        nflag += flagged;
        nflag_bright += flagged && bright;
        overlap += flagged && (d2.flg[i] & SSO_FLG_COSMIC);
    }
    double f = (double)nhit / n;
    /* 1.4% of pixels are hit (deposit >= ~1 sigma); those above 5 sigma: ~1.0-1.3%. */
    assert_true(f > 0.007 && f < 0.016);
    /* Flagged only partly (~85% of tracks), and the flags sit on bright pixels. */
    double ff = (double)nhit_flagged / nhit;
    assert_true(ff > 0.70 && ff < 0.95);
    assert_true((double)nflag_bright / nflag > 0.9);
    /* Different every exposure: overlap of flags only by chance (~1%). */
    assert_true((double)overlap / nflag < 0.05);
    /* Tracks: tens of pixels each (mean length 43 px). */
    long npx = 0;
    int nc = components(hit, d1.w, d1.h, &npx);
    double per_mpx = nc / (n / 1e6);
    assert_true(per_mpx > 80.0 && per_mpx < 300.0);
    double mean_size = (double)npx / nc;
    assert_true(mean_size > 15.0 && mean_size < 120.0);
    free(hit);
    unload(&d1);
    unload(&d2);
}

static void test_defects(void **state)
{
    (void)state;
    int any_badcol = 0;
    for (int seed = 1; seed <= 4; seed++) {
        sso_sim_config c;
        config(&c, 4096, 128);
        c.defects = 1;
        c.seed = (uint64_t)seed;
        char dir[4096], name[32];
        snprintf(name, sizeof name, "defects%d", seed);
        simulate(&c, name, dir, sizeof dir);
        det_img d1, d3;
        load(dir, &c, 1, &d1);
        load(dir, &c, 3, &d3);
        size_t n = (size_t)d1.w * d1.h;
        const int32_t fixed = SSO_FLG_HOT | SSO_FLG_COLD | SSO_FLG_BAD_COLUMN | SSO_FLG_QUADEDGE;
        size_t nhot = 0;
        double sky = median_f(d1.sci, n), sig = sqrt(sky_e() + RN * RN) / GAIN;
        size_t hot_bright = 0;
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(d1.flg[i] & fixed, d3.flg[i] & fixed);
            if (d1.flg[i] & SSO_FLG_HOT) {
                nhot++;
                hot_bright += d1.sci[i] - sky > 3.0 * sig;
            }
        }
        /* ~1e-4 per pixel (95% flagged): 50 expected here */
        assert_true(nhot > 20 && nhot < 90);
        assert_true(hot_bright > nhot / 2);
        /* QUADEDGE: a 2-px frame around each quadrant. */
        assert_true(d1.flg[0] & SSO_FLG_QUADEDGE);
        assert_true(d1.flg[(size_t)64 * d1.w + 10] & SSO_FLG_QUADEDGE);
        assert_true(d1.flg[(size_t)30 * d1.w + 2048] & SSO_FLG_QUADEDGE);
        assert_false(d1.flg[(size_t)30 * d1.w + 1000] & SSO_FLG_QUADEDGE);
        /* Bad columns are vertical runs: each flagged column is one contiguous range of rows. */
        for (long x = 0; x < d1.w; x++) {
            int runs = 0, prev = 0;
            for (long y = 0; y < d1.h; y++) {
                int b = (d1.flg[(size_t)y * d1.w + x] & SSO_FLG_BAD_COLUMN) != 0;
                runs += b && !prev;
                prev = b;
            }
            assert_true(runs <= 1);
            any_badcol += runs;
        }
        unload(&d1);
        unload(&d3);
    }
    assert_true(any_badcol > 0); /* 1.5 per CCD width on average */
}

static void p2s(det_img *d, double x, double y, double *ra, double *dec)
{
    double pix[2] = {x, y}, img[2], phi, theta, w[2];
    int stat;
    assert_int_equal(wcsp2s(d->wcs, 1, 2, pix, img, &phi, &theta, w, &stat), 0);
    *ra = w[0];
    *dec = w[1];
}

static void s2p(det_img *d, double ra, double dec, double *x, double *y)
{
    double w[2] = {ra, dec}, img[2], phi, theta, pix[2];
    int stat;
    assert_int_equal(wcss2p(d->wcs, 1, 2, w, &phi, &theta, img, pix, &stat), 0);
    *x = pix[0];
    *y = pix[1];
}

/* Background-subtracted centroid in a (2r+1)^2 box at 1-based (x, y); returns the flux. */
static double centroid(det_img *d, double sky, double x, double y, int r, double *cx, double *cy)
{
    int ix = (int)floor(x + 0.5), iy = (int)floor(y + 0.5);
    double s = 0, sx = 0, sy = 0;
    for (int yy = iy - r; yy <= iy + r; yy++)
        for (int xx = ix - r; xx <= ix + r; xx++) {
            double v = d->sci[(size_t)(yy - 1) * d->w + (xx - 1)] - sky;
            s += v;
            sx += v * xx;
            sy += v * yy;
        }
    *cx = sx / s;
    *cy = sy / s;
    return s;
}

static void test_static_sky(void **state)
{
    (void)state;
    sso_sim_config c;
    config(&c, 1024, 1024);
    c.stars = 1;
    c.source_density_scale = 3.0;
    c.saturation = 0;
    char dir[4096];
    simulate(&c, "static", dir, sizeof dir);
    det_img d1, d3;
    load(dir, &c, 1, &d1);
    load(dir, &c, 3, &d3);
    size_t n = (size_t)d1.w * d1.h;
    double sky1 = median_f(d1.sci, n), sky3 = median_f(d3.sci, n);
    double sig = sqrt(sky_e() + RN * RN) / GAIN;
    int matched = 0;
    for (long y = 12; y < d1.h - 12; y++)
        for (long x = 12; x < d1.w - 12; x++) {
            float v = d1.sci[(size_t)y * d1.w + x];
            if (v - sky1 < 300.0 * sig)
                continue;
            int peak = 1;
            for (int dy = -2; dy <= 2 && peak; dy++)
                for (int dx = -2; dx <= 2; dx++)
                    if ((dx || dy) && d1.sci[(size_t)(y + dy) * d1.w + x + dx] >= v) {
                        peak = 0;
                        break;
                    }
            if (!peak)
                continue;
            double cx, cy, ra, dec, px, py, qx, qy;
            double f1 = centroid(&d1, sky1, x + 1.0, y + 1.0, 4, &cx, &cy);
            p2s(&d1, cx, cy, &ra, &dec);
            s2p(&d3, ra, dec, &px, &py);
            if (px < 14 || py < 14 || px > d3.w - 14 || py > d3.h - 14)
                continue;
            /* Centre the box on the predicted pixel, then measure. */
            double f3 = centroid(&d3, sky3, px, py, 4, &qx, &qy);
            if (getenv("SSO_TEST_VERBOSE"))
                fprintf(stderr, "star at %.2f,%.2f -> %.2f,%.2f: flux ratio %.4f, offset %.4f px\n",
                        cx, cy, px, py, f3 / f1, hypot(qx - px, qy - py));
            assert_true(fabs(f3 / f1 - 1.0) < 0.05);
            assert_true(hypot(qx - px, qy - py) < 0.1);
            matched++;
        }
    assert_true(matched >= 3);
    unload(&d1);
    unload(&d3);
}

static void test_saturation(void **state)
{
    (void)state;
    sso_sim_config c;
    config(&c, 1024, 1024);
    c.stars = 1;
    c.source_density_scale = 40.0;
    char dir[4096];
    simulate(&c, "saturation", dir, sizeof dir);
    det_img d;
    load(dir, &c, 2, &d);
    size_t n = (size_t)d.w * d.h, nsat = 0;
    uint8_t *mask = calloc(n, 1);
    for (size_t i = 0; i < n; i++)
        if (d.flg[i] & SSO_FLG_SAT) {
            nsat++;
            mask[i] = 1;
            assert_true(fabs(d.sci[i] * GAIN - 200000.0) < 6.0 * RN);
        }
    assert_true(nsat > 0);
    /* The largest saturated region is taller than wide: the charge bled along its columns. */
    long best = 0, bw = 0, bh = 0;
    for (long x = 0; x < d.w; x++) {
        long run = 0;
        for (long y = 0; y < d.h; y++) {
            run = mask[(size_t)y * d.w + x] ? run + 1 : 0;
            if (run > best)
                best = run;
        }
    }
    for (long y = 0; y < d.h; y++) {
        long run = 0;
        for (long x = 0; x < d.w; x++) {
            run = mask[(size_t)y * d.w + x] ? run + 1 : 0;
            if (run > bw)
                bw = run;
        }
    }
    bh = best;
    assert_true(bh > bw);
    free(mask);
    unload(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sky_and_noise),
        cmocka_unit_test(test_cosmic_rays),
        cmocka_unit_test(test_defects),
        cmocka_unit_test(test_static_sky),
        cmocka_unit_test(test_saturation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
