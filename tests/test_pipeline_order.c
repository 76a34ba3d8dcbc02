/* tests/test_pipeline_order.c: sso_pipeline_run's patch-ordered reads (host/pipeline.c, "order").
 *
 * sso_pipeline_run reads each patch's detectors just before the patch's search, so that a field
 * holds about a row of the patch grid instead of every patch. On a simulated quartet (CCD 3-3
 * shrunk to 1024 x 1400 px and written as 4 quadrant detectors, bright slow movers, stars, cosmic
 * rays) cut into 768 px patches (a grid of several columns and rows), asserts against the old order (cfg.read_all_first: every
 * detector read and resampled before the first search):
 *   - the same alerts, field by field, in the same order (every patch sees all its inputs before
 *     its search, whichever order they were read in); at least 5 alerts, or the comparison
 *     would prove nothing;
 *   - the same stage counts (detector reads, patches, slow candidates, 2-epoch pass candidates),
 *     and the 2-epoch slow pass makes alerts of 2 epochs (most of this CCD is seen twice);
 *   - patch_bytes_peak: the old order holds every patch's epochs at once (the sum over the plan's
 *     patches of 4 x 9 bytes per pixel, at most); the new one less than half of what the old one
 *     held.
 * Skipped in the sanitizer build (SSO_TEST_SANITIZED=1; ~400 s there on a loaded 2-core machine):
 * test_run_e2e and test_pipeline_session take the patch-ordered reads and the search of every
 * patch through the sanitizers.
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

#include "sso/sim.h"
#include "sso/sso.h"
#include "testutil.h"

#define ok(x) assert_int_equal((x), SSO_OK)

static char g_paths[4][4096];

static int setup(void **state)
{
    (void)state;
    sso_sim_config c;
    if (sso_sim_config_preset(&c, SSO_SIM_PRESET_DEMO) || sso_sim_config_set_ccds(&c, "3-3"))
        fail_msg("sim config: %s", sso_last_error());
    c.width_px = 1024; /* the RA dithers span 558 px, the Dec dither 1250 px: all 4 epochs share */
    c.height_px = 1400; /* a band of 466 x 150 px, 2 or 3 epochs much more */
    c.quadrants = 1;   /* 4 detectors per exposure, so that reads can follow the patches */
    c.n_movers = 200; /* ~7% of them in the band of 3 or 4 epochs */
    c.mag_min = 20.0, c.mag_max = 21.5;
    c.rate_min_arcsec_h = 0.5, c.rate_max_arcsec_h = 1.5;
    c.threads = 2;
    c.seed = 5;
    char dir[4096];
    sso_test_path(dir, sizeof dir, "quartet");
    if (sso_sim_run(&c, dir))
        fail_msg("sim: %s", sso_last_error());
    for (int d = 0; d < 4; d++)
        if (sso_sim_exposure_path(&c, dir, d + 1, g_paths[d], sizeof g_paths[d]))
            fail_msg("sim path: %s", sso_last_error());
    return 0;
}

static void run(int read_all_first, sso_alert **alerts, size_t *n, sso_pipeline_stats *ps)
{
    const char *pp[4] = {g_paths[0], g_paths[1], g_paths[2], g_paths[3]};
    sso_quartet *q = NULL;
    ok(sso_quartet_open(pp, 4, 0, &q));
    sso_pipeline_config cfg;
    sso_pipeline_config_default(&cfg);
    cfg.backend = SSO_BACKEND_CPU;
    cfg.n_threads = 2;
    cfg.patch.size_px = 768;
    cfg.trail_bins = 0;
    cfg.stack.vmax_px_h = 20.0; /* 2"/h */
    cfg.slow_pairs = 1;
    cfg.read_all_first = read_all_first;
    sso_status st = sso_pipeline_run(q, &cfg, alerts, n, ps);
    if (st)
        fail_msg("pipeline (read_all_first %d): %s", read_all_first, sso_last_error());
    sso_quartet_free(q);
}

static void same_obs(const sso_alert_obs *a, const sso_alert_obs *b)
{
    assert_string_equal(a->det, b->det);
    assert_true(a->mjd == b->mjd || (isnan(a->mjd) && isnan(b->mjd)));
    assert_true(a->ra_deg == b->ra_deg || (isnan(a->ra_deg) && isnan(b->ra_deg)));
    assert_true(a->dec_deg == b->dec_deg || (isnan(a->dec_deg) && isnan(b->dec_deg)));
    assert_true(a->x_px == b->x_px || (isnan(a->x_px) && isnan(b->x_px)));
    assert_true(a->y_px == b->y_px || (isnan(a->y_px) && isnan(b->y_px)));
    assert_true(a->mag == b->mag || (isnan(a->mag) && isnan(b->mag)));
    assert_true(a->snr == b->snr || (isnan(a->snr) && isnan(b->snr)));
}

static void test_same_alerts_less_memory(void **state)
{
    (void)state;
    sso_alert *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    sso_pipeline_stats sa, sb;
    run(1, &a, &na, &sa);
    run(0, &b, &nb, &sb);
    print_message("patches %d, detector reads %d, alerts %zu (all first) %zu (patch order); patch "
                  "epochs held at most %.1f MiB (all first) %.1f MiB (patch order)\n", sa.n_patches,
                  sa.n_detectors, na, nb, (double)sa.patch_bytes_peak / 1048576.0,
                  (double)sb.patch_bytes_peak / 1048576.0);
    assert_true(sa.n_patches >= 6);
    assert_true(na >= 5);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i].alert_id, b[i].alert_id);
        assert_int_equal(a[i].n_epochs, b[i].n_epochs);
        assert_true(a[i].score == b[i].score);
        assert_true(a[i].rate_arcsec_h == b[i].rate_arcsec_h);
        for (int e = 0; e < a[i].n_epochs; e++)
            same_obs(&a[i].obs[e], &b[i].obs[e]);
    }
    assert_int_equal(sa.n_detectors, sb.n_detectors);
    assert_int_equal(sa.n_detectors, 16);
    assert_int_equal(sa.n_patches, sb.n_patches);
    assert_int_equal(sa.n_candidates, sb.n_candidates);
    /* the 2-epoch slow pass (on by default; the library's default has no fast search, so its
     * alerts stay slow): the Dec dither leaves most of a 1400 px high CCD to 2 epochs */
    size_t n_two = 0;
    for (size_t i = 0; i < nb; i++)
        n_two += b[i].n_epochs == 2 && b[i].cls == SSO_ALERT_SLOW;
    print_message("2-epoch pass: %lld candidates kept, %zu alerts of 2 epochs\n",
                  sb.n_pair_candidates, n_two);
    assert_int_equal(sa.n_pair_candidates, sb.n_pair_candidates);
    assert_true(n_two >= 1);
    const size_t patch_bytes = (size_t)768 * 768 * 9;
    assert_true(sa.patch_bytes_peak <= (size_t)sa.n_patches * 4 * patch_bytes);
    assert_true(sa.patch_bytes_peak >= 4 * patch_bytes); /* at least one patch's 4 epochs */
    assert_true(sb.patch_bytes_peak > 0);
    assert_true(2 * sb.patch_bytes_peak < sa.patch_bytes_peak);
    free(a);
    free(b);
}

int main(void)
{
    const char *san = getenv("SSO_TEST_SANITIZED");
    if (san && *san == '1') {
        printf("test_pipeline_order: skipped in the sanitizer build (test_run_e2e covers the "
               "patch-ordered reads there)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_alerts_less_memory),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
