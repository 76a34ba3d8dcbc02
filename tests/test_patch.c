/* tests/test_patch.c: sky patches (host/patch.c), and the flow ingest -> prep -> resample ->
 * difference on a small simulated quartet.
 *
 * Expectations from the contract (include/sso/patch.h) and from geometry, not from the code:
 *   - the tangent point of 4 exposures placed symmetrically along a meridian is their centre;
 *   - a patch's WCS puts pixel (x, y) at plane coordinate (u0 + x - 0.5, v0 + y - 0.5), north up,
 *     east left, 0.1"/px;
 *   - cores tile the plane: every plane point is in the core of exactly one patch (the owner);
 *   - found once: a slow mover (<= 77 px over the baseline) whose first position is in a patch's
 *     core stays inside that patch (margin 80 px here) at every epoch;
 *   - coverage, by brute force over detector pixels: every patch a detector pixel falls in lists
 *     that (exposure, detector), and a patch lists no detector none of whose pixels reach it;
 *   - on a simulated quartet (TPV, 1 CCD at 1024 x 1400 px): the same coverage
 *     checks, then the static sky vanishes in the differences (chi^2 per pixel ~ 1 where the
 *     epoch images hold stars at > 50 sigma).
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

#define PI 3.14159265358979323846
#define DEG (PI / 180.0)

static void ok(sso_status st)
{
    if (st)
        fprintf(stderr, "status %d: %s\n", (int)st, sso_last_error());
    assert_int_equal(st, SSO_OK);
}

static sso_wcs *tan_at(double ra, double dec, double crpix1, double crpix2, double rot_deg)
{
    const double s = 0.1 / 3600.0, c = cos(rot_deg * DEG), n = sin(rot_deg * DEG);
    const double cd[4] = {-s * c, s * n, s * n, s * c};
    sso_wcs *w = NULL;
    ok(sso_patch_tan_wcs(ra, dec, crpix1, crpix2, cd, &w));
    return w;
}

static int lists(const sso_patch_info *pi, int e, int d)
{
    for (int i = 0; i < pi->n_inputs; i++)
        if (pi->inputs[i].exposure == e && pi->inputs[i].detector == d)
            return 1;
    return 0;
}

/* Brute-force coverage check of plan p against detectors dets (pixels on a stride). */
static void check_coverage(const sso_patch_plan *p, const sso_patch_detector *dets, int n,
                           int stride)
{
    const int np = sso_patch_plan_count(p);
    assert_true(np > 0);
    int *reached = calloc((size_t)np * n, sizeof(int));
    assert_non_null(reached);
    for (int i = 0; i < n; i++) {
        const int W = dets[i].width_px, H = dets[i].height_px;
        for (int y = 1; y <= H; y += stride) {
            for (int x = 1; x <= W; x += stride) {
                double xd = x, yd = y, ra, dec, u, v;
                ok(sso_wcs_pix2sky(dets[i].wcs, 1, &xd, &yd, &ra, &dec));
                ok(sso_patch_plan_sky_to_plane(p, 1, &ra, &dec, &u, &v));
                int ix, iy;
                sso_patch_plan_owner(p, u, v, &ix, &iy);
                assert_true(sso_patch_plan_find(p, ix, iy) >= 0); /* the owner is planned */
                for (int k = 0; k < np; k++) {
                    sso_patch_info pi;
                    ok(sso_patch_plan_get(p, k, &pi));
                    if (u >= pi.u0_px && u < pi.u0_px + pi.width_px && v >= pi.v0_px &&
                        v < pi.v0_px + pi.height_px) {
                        assert_true(lists(&pi, dets[i].exposure, dets[i].detector));
                        reached[k * n + i] = 1;
                    }
                }
            }
        }
    }
    /* A listed detector reaches the patch (within the 4 px pad and the sampling stride). */
    for (int k = 0; k < np; k++) {
        sso_patch_info pi;
        ok(sso_patch_plan_get(p, k, &pi));
        assert_true(pi.n_inputs > 0);
        for (int i = 0; i < n; i++)
            if (!reached[k * n + i] && lists(&pi, dets[i].exposure, dets[i].detector)) {
                /* Allowed only for a detector grazing the patch: check its nearest pixel is
                 * within stride + pad of the patch square. */
                double best = INFINITY;
                for (int y = 1; y <= dets[i].height_px; y++)
                    for (int x = 1; x <= dets[i].width_px; x += (y == 1 || y == dets[i].height_px) ? 1 : dets[i].width_px - 1) {
                        double xd = x, yd = y, ra, dec, u, v;
                        ok(sso_wcs_pix2sky(dets[i].wcs, 1, &xd, &yd, &ra, &dec));
                        ok(sso_patch_plan_sky_to_plane(p, 1, &ra, &dec, &u, &v));
                        double du = fmax(fmax(pi.u0_px - u, u - pi.u0_px - pi.width_px), 0.0);
                        double dv = fmax(fmax(pi.v0_px - v, v - pi.v0_px - pi.height_px), 0.0);
                        best = fmin(best, fmax(du, dv));
                    }
                assert_true(best < stride + 5.0);
            }
    }
    free(reached);
}

static void test_tangent_and_patch_wcs(void **state)
{
    (void)state;
    const double ra0 = 150.0, dec0 = -20.0, dd = 0.002;
    const double decs[4] = {dec0 + dd, dec0 - dd, dec0 + 2 * dd, dec0 - 2 * dd};
    sso_wcs *w[4];
    sso_patch_detector dets[4];
    for (int e = 0; e < 4; e++) {
        w[e] = tan_at(ra0, decs[e], 150.5, 100.5, 10.0 * e);
        dets[e] = (sso_patch_detector){e, 0, w[e], 300, 200};
    }
    sso_patch_config cfg = {256, 32, 0.1};
    sso_patch_plan *p = NULL;
    ok(sso_patch_plan_create_from(dets, 4, &cfg, &p));
    double ra, dec;
    sso_patch_plan_tangent(p, &ra, &dec);
    assert_true(fabs(ra - ra0) < 1e-9 && fabs(dec - dec0) < 1e-9);
    /* Patch WCS: pixel (x, y) at plane (u0 + x - 0.5, v0 + y - 0.5). */
    for (int k = 0; k < sso_patch_plan_count(p); k++) {
        sso_patch_info pi;
        ok(sso_patch_plan_get(p, k, &pi));
        assert_int_equal(pi.width_px, 256);
        double x[3] = {1.0, 100.25, 256.0}, y[3] = {1.0, 37.5, 256.0}, r[3], d[3], u[3], v[3];
        ok(sso_wcs_pix2sky(pi.wcs, 3, x, y, r, d));
        ok(sso_patch_plan_sky_to_plane(p, 3, r, d, u, v));
        for (int i = 0; i < 3; i++)
            assert_true(fabs(u[i] - (pi.u0_px + x[i] - 0.5)) < 1e-6 &&
                        fabs(v[i] - (pi.v0_px + y[i] - 0.5)) < 1e-6);
        /* North up, east left, 0.1"/px: one pixel up is +0.1" in Dec, one right is -0.1" in RA. */
        double xs[3] = {128, 128, 129}, ys[3] = {128, 129, 128};
        ok(sso_wcs_pix2sky(pi.wcs, 3, xs, ys, r, d));
        assert_true(fabs((d[1] - d[0]) * 3600.0 - 0.1) < 1e-4);
        assert_true(fabs((r[2] - r[0]) * cos(d[0] * DEG) * 3600.0 + 0.1) < 1e-4);
    }
    /* The patch containing the tangent point is (0, 0); the detectors span v = +-(144 + 100) px,
     * more than one 192 px core, so several patches. */
    assert_true(sso_patch_plan_find(p, 0, 0) >= 0);
    assert_true(sso_patch_plan_count(p) >= 2);
    check_coverage(p, dets, 4, 3);
    sso_patch_plan_free(p);
    for (int e = 0; e < 4; e++)
        sso_wcs_free(w[e]);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}
static double urand(uint64_t *s) { return (lcg(s) + 0.5) / 9007199254740992.0; }

static void test_cores_and_found_once(void **state)
{
    (void)state;
    /* One big detector so the plan has a 3 x 3 block or more of patches. */
    sso_wcs *w = tan_at(10.0, 45.0, 250.5, 250.5, 0.0);
    sso_patch_detector dets[1] = {{0, 0, w, 500, 500}};
    sso_patch_config cfg = {256, 80, 0.1}; /* pitch 96, margin 80 >= 77 px of slow motion */
    sso_patch_plan *p = NULL;
    ok(sso_patch_plan_create_from(dets, 1, &cfg, &p));
    const int np = sso_patch_plan_count(p);
    assert_true(np >= 9);
    uint64_t seed = 99;
    for (int t = 0; t < 3000; t++) {
        const double u = -150.0 + 300.0 * urand(&seed), v = -150.0 + 300.0 * urand(&seed);
        int ix, iy, n_core = 0, owner = -1;
        sso_patch_plan_owner(p, u, v, &ix, &iy);
        for (int k = 0; k < np; k++) {
            sso_patch_info pi;
            ok(sso_patch_plan_get(p, k, &pi));
            if (sso_patch_plan_in_core(p, k, u - pi.u0_px + 0.5, v - pi.v0_px + 0.5)) {
                n_core++;
                owner = k;
                assert_true(pi.ix == ix && pi.iy == iy);
            }
        }
        assert_int_equal(n_core, 1); /* exactly one core */
        /* A slow mover from (u, v), 77 px at most over the 4 epochs, stays in its owner. */
        sso_patch_info pi;
        ok(sso_patch_plan_get(p, owner, &pi));
        const double ang = 2 * PI * urand(&seed), len = 77.0 * urand(&seed);
        for (int e = 0; e < 4; e++) {
            const double ue = u + len * cos(ang) * e / 3.0, ve = v + len * sin(ang) * e / 3.0;
            const double x = ue - pi.u0_px + 0.5, y = ve - pi.v0_px + 0.5;
            assert_true(x >= 0.5 && x < pi.width_px + 0.5 && y >= 0.5 && y < pi.height_px + 0.5);
        }
    }
    /* Bad configurations. */
    sso_patch_plan *q = NULL;
    sso_patch_config bad = {256, 128, 0.1};
    assert_int_equal(sso_patch_plan_create_from(dets, 1, &bad, &q), SSO_ERR_ARG);
    bad = (sso_patch_config){255, 10, 0.1};
    assert_int_equal(sso_patch_plan_create_from(dets, 1, &bad, &q), SSO_ERR_ARG);
    assert_int_equal(sso_patch_plan_create_from(dets, 0, NULL, &q), SSO_ERR_ARG);
    assert_null(q);
    /* Defaults. */
    sso_patch_config d;
    sso_patch_config_default(&d);
    assert_int_equal(d.size_px, 4096);
    assert_true(d.margin_px >= 77);
    sso_patch_plan_free(p);
    sso_wcs_free(w);
}

/* A small simulated quartet: TPV, CCD 3-3 shrunk to 1024 x 1400 px so that the 4 dithers (up to
 * 56" in RA and 125" in Dec apart) share a region, 3x the star density, no movers, no cosmic
 * rays. */
static void test_simulated_quartet(void **state)
{
    (void)state;
    sso_sim_config c;
    ok(sso_sim_config_preset(&c, SSO_SIM_PRESET_DEMO));
    ok(sso_sim_config_set_ccds(&c, "3-3"));
    c.width_px = 1024;
    c.height_px = 1400;
    c.n_movers = 0;
    c.cosmics = 0;
    c.source_density_scale = 3.0;
    c.threads = 2;
    c.seed = 11;
    char dir[4096];
    sso_test_path(dir, sizeof dir, "quartet");
    ok(sso_sim_run(&c, dir));
    sso_quartet *q = NULL;
    ok(sso_quartet_open_dir(dir, 0, &q));
    sso_patch_config pc = {2048, 128, 0.1};
    sso_patch_plan *p = NULL;
    ok(sso_patch_plan_create(q, &pc, &p));
    sso_patch_detector dets[16];
    int n = 0;
    for (int e = 0; e < 4; e++) {
        sso_exposure_info info;
        ok(sso_quartet_exposure(q, e, &info));
        for (int d = 0; d < info.n_detectors; d++, n++) {
            dets[n] = (sso_patch_detector){e, d, sso_quartet_detector_wcs(q, e, d), 0, 0};
            ok(sso_quartet_detector_size(q, e, d, &dets[n].width_px, &dets[n].height_px));
        }
    }
    assert_int_equal(n, 4);
    check_coverage(p, dets, n, 7);

    /* The patch holding most of the data: resample every input, then difference. */
    int best = 0, best_n = -1;
    for (int k = 0; k < sso_patch_plan_count(p); k++) {
        sso_patch_info pi;
        ok(sso_patch_plan_get(p, k, &pi));
        if (pi.n_inputs > best_n)
            best = k, best_n = pi.n_inputs;
    }
    sso_patch_info pi;
    ok(sso_patch_plan_get(p, best, &pi));
    const size_t np = (size_t)pi.width_px * pi.height_px;
    float *img[4], *var[4], *dif[4], *dvar[4];
    uint8_t *msk[4], *dmsk[4];
    for (int e = 0; e < 4; e++) {
        img[e] = malloc(np * 4), var[e] = malloc(np * 4), msk[e] = malloc(np);
        dif[e] = malloc(np * 4), dvar[e] = malloc(np * 4), dmsk[e] = malloc(np);
        assert_true(img[e] && var[e] && msk[e] && dif[e] && dvar[e] && dmsk[e]);
        sso_resample_patch_init(np, img[e], var[e], msk[e]);
    }
    for (int i = 0; i < pi.n_inputs; i++) {
        const int e = pi.inputs[i].exposure, d = pi.inputs[i].detector;
        sso_detector *det = NULL;
        ok(sso_detector_read(q, e, d, &det));
        const int W = sso_detector_width(det), H = sso_detector_height(det);
        float *de = malloc((size_t)W * H * 4), *dv = malloc((size_t)W * H * 4);
        uint8_t *dm = malloc((size_t)W * H);
        assert_true(de && dv && dm);
        ok(sso_prep_detector(SSO_BACKEND_CPU, sso_detector_sci_adu(det), sso_detector_rms_adu(det),
                             sso_detector_flg(det), (size_t)W * H,
                             (float)sso_detector_gain_e_per_adu(det), SSO_FLG_MASK_DEFAULT, de, dv,
                             dm, NULL));
        sso_resample_map *m = NULL;
        ok(sso_resample_map_create(pi.wcs, pi.width_px, pi.height_px, sso_detector_wcs(det), W, H,
                                   NULL, &m));
        ok(sso_resample_detector(m, de, dv, dm, NULL, img[e], var[e], msk[e], NULL));
        sso_resample_map_free(m);
        free(de), free(dv), free(dm);
        sso_detector_free(det);
    }
    sso_difference_stats ds;
    ok(sso_difference_patch(pi.width_px, pi.height_px, (const float *const *)img,
                            (const float *const *)var, (const uint8_t *const *)msk, NULL, dif,
                            dvar, dmsk, &ds));
    double chi2 = 0.0, peak = 0.0;
    int64_t good = 0;
    for (int e = 0; e < 4; e++)
        for (size_t k = 0; k < np; k++) {
            if (msk[e][k])
                continue;
            /* Stars above the local sky: compare with the template-free epoch image. */
            if (!dmsk[e][k]) {
                chi2 += (double)dif[e][k] * dif[e][k] / dvar[e][k];
                good++;
            }
        }
    /* Star peaks: the brightest pixel over the sky level of epoch 0 (sky ~ the median-ish). */
    double sky = 0.0;
    int64_t ns = 0;
    for (size_t k = 0; k < np; k++)
        if (!msk[0][k])
            sky += img[0][k], ns++;
    assert_true(ns > 0);
    sky /= ns;
    for (size_t k = 0; k < np; k++)
        if (!msk[0][k])
            peak = fmax(peak, (img[0][k] - sky) / sqrt(var[0][k]));
    chi2 /= good;
    printf("# simulated patch %d (%d inputs): %lld good difference px, chi^2/px %.3f, brightest "
           "epoch-0 pixel %.0f sigma, bright-masked %lld, no template %lld\n", best, best_n,
           (long long)good, chi2, peak, (long long)ds.n_bright, (long long)ds.n_no_template);
    assert_true(good > 100000);
    assert_true(peak > 50.0);
    assert_true(chi2 > 0.8 && chi2 < 1.2);
    for (int e = 0; e < 4; e++) {
        free(img[e]), free(var[e]), free(msk[e]);
        free(dif[e]), free(dvar[e]), free(dmsk[e]);
    }
    sso_patch_plan_free(p);
    sso_quartet_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tangent_and_patch_wcs),
        cmocka_unit_test(test_cores_and_found_once),
        cmocka_unit_test(test_simulated_quartet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
