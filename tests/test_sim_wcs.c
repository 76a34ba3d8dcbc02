/* tests/test_sim_wcs.c: the simulator's focal plane and the WCS it writes (sim/focal_plane.c).
 *
 * Every check goes through wcslib directly on the header string the simulator writes (not through
 * sso_wcs), so it also checks that the header says what the simulator means:
 *   - the CCD table: 36 unique ids, the DET -> id mapping of the source table;
 *   - geometry: CRVAL is the sky position of the detector centre; the gaps between neighbouring
 *     CCDs are ~123 px (columns) and ~646 px (rows) as in EUCLID.md; at PA 0 +y points North and
 *     +x West, at PA 90 +y points East;
 *   - the rotation is rigid: pixel separations on one CCD do not depend on PA;
 *   - TAN-SIP is the exact equivalent of TPV (< 1 micro-arcsec), its AP/BP inverse is accurate;
 *   - the distortion has a realistic size (0.5 .. 20 px at the corners of a corner CCD);
 *   - a quadrant's WCS is its CCD's shifted by the quadrant offset.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>

#include "sim/focal_plane.h"
#include "sim/sky.h"

typedef struct twcs {
    struct wcsprm *w;
    int nwcs;
} twcs;

static twcs make_wcs(const sso_fp_wcs *fw, int width, int height)
{
    char *hdr = NULL;
    int nkeys = 0;
    assert_int_equal(sso_fp_wcs_header(fw, width, height, &hdr, &nkeys), SSO_OK);
    twcs t = {NULL, 0};
    int nrej = 0;
    assert_int_equal(wcspih(hdr, nkeys, WCSHDR_all, 0, &nrej, &t.nwcs, &t.w), 0);
    assert_true(t.nwcs >= 1);
    assert_int_equal(wcsset(t.w), 0);
    free(hdr);
    return t;
}

static void free_wcs(twcs *t)
{
    wcsvfree(&t->nwcs, &t->w);
}

static void p2s(twcs *t, double x, double y, double *ra, double *dec)
{
    double pix[2] = {x, y}, img[2], phi, theta, world[2];
    int stat;
    assert_int_equal(wcsp2s(t->w, 1, 2, pix, img, &phi, &theta, world, &stat), 0);
    *ra = world[0];
    *dec = world[1];
}

static void s2p(twcs *t, double ra, double dec, double *x, double *y)
{
    double world[2] = {ra, dec}, img[2], phi, theta, pix[2];
    int stat;
    assert_int_equal(wcss2p(t->w, 1, 2, world, &phi, &theta, img, pix, &stat), 0);
    *x = pix[0];
    *y = pix[1];
}

static const sso_fp_ccd *ccd(const char *id)
{
    int d = sso_fp_ccd_find(id);
    assert_true(d >= 0);
    return sso_fp_ccd_get(d);
}

static void test_table(void **state)
{
    (void)state;
    for (int i = 0; i < SSO_FP_N_CCD; i++) {
        const sso_fp_ccd *c = sso_fp_ccd_get(i);
        assert_non_null(c);
        assert_int_equal(c->det, i);
        assert_int_equal(sso_fp_ccd_find(c->id), i);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(c->id, sso_fp_ccd_get(k)->id);
        /* Plate scale of the tabulated CD: 0.098 .. 0.101 arcsec/px on both axes. */
        double s1 = hypot(c->cd[0], c->cd[2]) * 3600.0, s2 = hypot(c->cd[1], c->cd[3]) * 3600.0;
        assert_true(s1 > 0.098 && s1 < 0.101);
        assert_true(s2 > 0.098 && s2 < 0.101);
    }
    assert_null(sso_fp_ccd_get(36));
    assert_int_equal(sso_fp_ccd_find("7-1"), -1);
    /* The DET -> CCD mapping of shared/euclid/README.md. */
    assert_string_equal(sso_fp_ccd_get(0)->id, "1-1");
    assert_string_equal(sso_fp_ccd_get(8)->id, "3-3");
    assert_string_equal(sso_fp_ccd_get(18)->id, "1-6");
    assert_string_equal(sso_fp_ccd_get(26)->id, "3-4");
    assert_string_equal(sso_fp_ccd_get(35)->id, "6-4");
    /* Field-angle pitch: 0.1172 deg in u, 0.1327 deg in v. */
    assert_true(fabs(ccd("3-4")->uc_deg - ccd("3-3")->uc_deg - 0.1172) < 2e-4);
    assert_true(fabs(ccd("3-3")->vc_deg - ccd("4-3")->vc_deg - 0.1327) < 2e-4);
}

static void test_centre_and_orientation(void **state)
{
    (void)state;
    const double ra0 = 200.0, dec0 = 10.0;
    for (int pa_i = 0; pa_i < 2; pa_i++) {
        double pa = pa_i ? 90.0 : 0.0;
        sso_fp_wcs fw;
        assert_int_equal(sso_fp_ccd_wcs(ccd("3-3"), ra0, dec0, pa, SSO_SIM_TPV, 4096, 4132, &fw),
                         SSO_OK);
        assert_true(fabs(fw.crpix[0] - 2048.5) < 1e-12 && fabs(fw.crpix[1] - 2066.5) < 1e-12);
        twcs t = make_wcs(&fw, 4096, 4132);
        double ra, dec, ra1, dec1, ra2, dec2;
        p2s(&t, fw.crpix[0], fw.crpix[1], &ra, &dec);
        assert_true(sso_sky_separation(ra, dec, fw.crval_deg[0], fw.crval_deg[1]) < 1e-10);
        /* The CCD centre sits at (uc, vc) from the pointing: ~0.089 deg. */
        double sep = sso_sky_separation(ra0, dec0, ra, dec);
        double expect = hypot(ccd("3-3")->uc_deg, ccd("3-3")->vc_deg);
        assert_true(fabs(sep - expect) < 1e-4);
        p2s(&t, fw.crpix[0], fw.crpix[1] + 100.0, &ra1, &dec1);
        p2s(&t, fw.crpix[0] + 100.0, fw.crpix[1], &ra2, &dec2);
        double by = sso_sky_bearing(ra, dec, ra1, dec1), bx = sso_sky_bearing(ra, dec, ra2, dec2);
        if (pa == 0.0) {
            assert_true(fabs(sso_sky_dra(by, 0.0)) < 0.5);     /* +y North */
            assert_true(fabs(sso_sky_dra(bx, 270.0)) < 0.5);   /* +x West */
        } else {
            assert_true(fabs(sso_sky_dra(by, 90.0)) < 0.5);    /* +y East */
            assert_true(fabs(sso_sky_dra(bx, 0.0)) < 0.5);     /* +x North */
        }
        /* Pixel scale ~0.1 arcsec. */
        double s = sso_sky_separation(ra, dec, ra1, dec1) * 3600.0 / 100.0;
        assert_true(s > 0.098 && s < 0.101);
        free_wcs(&t);
    }
}

/* Sky distance [px at 0.1"] between the facing edges of two CCDs, at the middle of the edge. */
static double gap_px(const char *a, const char *b, int along_x, double pa)
{
    sso_fp_wcs fa, fb;
    assert_int_equal(sso_fp_ccd_wcs(ccd(a), 200.0, 10.0, pa, SSO_SIM_TPV, 4096, 4132, &fa), SSO_OK);
    assert_int_equal(sso_fp_ccd_wcs(ccd(b), 200.0, 10.0, pa, SSO_SIM_TPV, 4096, 4132, &fb), SSO_OK);
    twcs ta = make_wcs(&fa, 4096, 4132), tb = make_wcs(&fb, 4096, 4132);
    double r1, d1, r2, d2;
    if (along_x) { /* b is the next CCD column: a's right edge to b's left edge */
        p2s(&ta, 4096.5, 2066.5, &r1, &d1);
        p2s(&tb, 0.5, 2066.5, &r2, &d2);
    } else {       /* b is the next CCD row below: a's bottom edge to b's top edge */
        p2s(&ta, 2048.5, 0.5, &r1, &d1);
        p2s(&tb, 2048.5, 4132.5, &r2, &d2);
    }
    free_wcs(&ta);
    free_wcs(&tb);
    return sso_sky_separation(r1, d1, r2, d2) * 36000.0;
}

static void test_gaps(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        double pa = k ? 33.0 : 0.0;
        double gx = gap_px("3-3", "3-4", 1, pa), gy = gap_px("3-3", "4-3", 0, pa);
        /* EUCLID.md: ~123 px between CCD columns, ~646 px between CCD rows, derived at exactly
         * 0.1"/px; the fitted per-CCD plate scales (0.0987-0.1006"/px) and the distortion move
         * the edges by up to ~25 px (3-3/3-4: ~100 px, 3-3/4-3: ~650 px). */
        assert_true(gx > 90.0 && gx < 150.0);
        assert_true(gy > 610.0 && gy < 680.0);
    }
}

static void test_rigid_rotation(void **state)
{
    (void)state;
    const double px[3][2] = {{1.0, 1.0}, {4096.0, 1.0}, {2000.0, 4132.0}};
    double seps[2][3];
    for (int k = 0; k < 2; k++) {
        sso_fp_wcs fw;
        assert_int_equal(sso_fp_ccd_wcs(ccd("1-6"), 150.0, -20.0, k ? 37.0 : 0.0, SSO_SIM_TPV,
                                        4096, 4132, &fw), SSO_OK);
        twcs t = make_wcs(&fw, 4096, 4132);
        double ra[3], dec[3];
        for (int i = 0; i < 3; i++)
            p2s(&t, px[i][0], px[i][1], &ra[i], &dec[i]);
        for (int i = 0; i < 3; i++)
            seps[k][i] = sso_sky_separation(ra[i], dec[i], ra[(i + 1) % 3], dec[(i + 1) % 3]);
        free_wcs(&t);
    }
    for (int i = 0; i < 3; i++)
        assert_true(fabs(seps[0][i] - seps[1][i]) * 3.6e6 < 0.01); /* < 10 micro-arcsec */
}

static void test_sip_equals_tpv(void **state)
{
    (void)state;
    const char *ids[3] = {"1-1", "3-4", "6-5"};
    for (int c = 0; c < 3; c++) {
        sso_fp_wcs ft, fs;
        assert_int_equal(sso_fp_ccd_wcs(ccd(ids[c]), 10.0, 45.0, 20.0, SSO_SIM_TPV, 4096, 4132,
                                        &ft), SSO_OK);
        assert_int_equal(sso_fp_ccd_wcs(ccd(ids[c]), 10.0, 45.0, 20.0, SSO_SIM_SIP, 4096, 4132,
                                        &fs), SSO_OK);
        assert_true(fs.ap_max_err_px < 1e-3);
        twcs tt = make_wcs(&ft, 4096, 4132), ts = make_wcs(&fs, 4096, 4132);
        double worst = 0.0, worst_inv = 0.0;
        for (int gy = 0; gy <= 8; gy++)
            for (int gx = 0; gx <= 8; gx++) {
                double x = 0.5 + 4096.0 * gx / 8, y = 0.5 + 4132.0 * gy / 8;
                double r1, d1, r2, d2, xb, yb;
                p2s(&tt, x, y, &r1, &d1);
                p2s(&ts, x, y, &r2, &d2);
                double e = sso_sky_separation(r1, d1, r2, d2) * 3.6e6; /* mas */
                if (e > worst)
                    worst = e;
                s2p(&ts, r1, d1, &xb, &yb);
                double ei = hypot(xb - x, yb - y);
                if (ei > worst_inv)
                    worst_inv = ei;
            }
        assert_true(worst < 1e-3); /* < 1 micro-arcsec */
        assert_true(worst_inv < 1e-3);
        free_wcs(&tt);
        free_wcs(&ts);
    }
}

static void test_distortion_size(void **state)
{
    (void)state;
    sso_fp_wcs ft, fa;
    assert_int_equal(sso_fp_ccd_wcs(ccd("1-1"), 200.0, 10.0, 0.0, SSO_SIM_TPV, 4096, 4132, &ft),
                     SSO_OK);
    assert_int_equal(sso_fp_ccd_wcs(ccd("1-1"), 200.0, 10.0, 0.0, SSO_SIM_TAN, 4096, 4132, &fa),
                     SSO_OK);
    twcs tt = make_wcs(&ft, 4096, 4132), ta = make_wcs(&fa, 4096, 4132);
    double worst = 0.0;
    const double corners[4][2] = {{1, 1}, {4096, 1}, {1, 4132}, {4096, 4132}};
    for (int i = 0; i < 4; i++) {
        double r, d, x, y;
        p2s(&tt, corners[i][0], corners[i][1], &r, &d);
        s2p(&ta, r, d, &x, &y);
        double e = hypot(x - corners[i][0], y - corners[i][1]);
        if (e > worst)
            worst = e;
    }
    assert_true(worst > 0.5 && worst < 20.0);
    free_wcs(&tt);
    free_wcs(&ta);
}

static void test_quadrant_shift(void **state)
{
    (void)state;
    sso_fp_wcs fc, fq;
    assert_int_equal(sso_fp_ccd_wcs(ccd("4-4"), 200.0, 10.0, 12.0, SSO_SIM_SIP, 1024, 1032, &fc),
                     SSO_OK);
    fq = fc;
    sso_fp_wcs_shift(&fq, 512.0, 516.0); /* quadrant G of a 1024 x 1032 CCD */
    twcs tc = make_wcs(&fc, 1024, 1032), tq = make_wcs(&fq, 512, 516);
    for (int k = 0; k < 5; k++) {
        double x = 1.0 + 100.0 * k, y = 3.0 + 90.0 * k, r1, d1, r2, d2;
        p2s(&tq, x, y, &r1, &d1);
        p2s(&tc, x + 512.0, y + 516.0, &r2, &d2);
        assert_true(sso_sky_separation(r1, d1, r2, d2) * 3.6e6 < 1e-3);
    }
    free_wcs(&tc);
    free_wcs(&tq);
}

static void test_bad_requests(void **state)
{
    (void)state;
    sso_fp_wcs fw;
    assert_int_equal(sso_fp_ccd_wcs(NULL, 0, 0, 0, SSO_SIM_TPV, 10, 10, &fw), SSO_ERR_ARG);
    assert_int_equal(sso_fp_ccd_wcs(ccd("1-1"), 0, 89.5, 0, SSO_SIM_TPV, 10, 10, &fw), SSO_ERR_ARG);
    assert_int_equal(sso_fp_ccd_wcs(ccd("1-1"), 0, 0, 0, (sso_sim_distortion)7, 10, 10, &fw),
                     SSO_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_centre_and_orientation),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_rigid_rotation),
        cmocka_unit_test(test_sip_equals_tpv),
        cmocka_unit_test(test_distortion_size),
        cmocka_unit_test(test_quadrant_shift),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
