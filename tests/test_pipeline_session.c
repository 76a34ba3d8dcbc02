/* tests/test_pipeline_session.c: the staged pipeline's contract (sso_pipeline_session, sso/pipeline.h).
 *
 * On fitsgen quartets (2 CCDs of 32 x 24 px, members 921 s apart, DITHOBS 1..4) and 512 px
 * patches, asserts:
 *   - each add prepares its exposure at once: the count grows, the patch images held grow
 *     (> 0 after the first add: its 2 detectors are resampled into at least one 512^2 patch,
 *     9 bytes per pixel) and the stats of the run count 4 x 2 detector reads;
 *   - a file that does not belong is refused at its add and leaves the session as it was: another
 *     OBS_ID (SSO_ERR_OBS_MISMATCH), the same exposure twice (SSO_ERR_DUP_DITHER), a missing file
 *     (SSO_ERR_IO), with the count and the bytes held unchanged;
 *   - run needs 3 or 4 exposures (2: SSO_ERR_EXPOSURE_COUNT), works with 3 (the 4th an empty
 *     epoch) and with 4, and only once (a second run, or an add after it, is refused);
 *   - run hands the alerts over like sso_pipeline_run: non-NULL array or n 0, stats with
 *     n_patches >= 1 and run_s <= total_s.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fitsgen.h"
#include "sso/sso.h"
#include "testutil.h"

static char g_paths[4][4096], g_other[4][4096];

static int setup(void **state)
{
    char dir[2048], err[512];
    sso_fg_config c;
    (void)state;
    sso_fg_defaults(&c);
    sso_test_path(dir, sizeof dir, "session");
    sso_test_system("rm -rf '%s'", dir);
    mkdir(dir, 0777);
    if (sso_fg_write_quartet(&c, dir, g_paths, err, sizeof err))
        fail_msg("fitsgen: %s", err);
    snprintf(c.obs_id, sizeof c.obs_id, "%s", "009999");
    sso_test_path(dir, sizeof dir, "session-other");
    sso_test_system("rm -rf '%s'", dir);
    mkdir(dir, 0777);
    if (sso_fg_write_quartet(&c, dir, g_other, err, sizeof err))
        fail_msg("fitsgen: %s", err);
    return 0;
}

static void config(sso_pipeline_config *cfg)
{
    sso_pipeline_config_default(cfg);
    cfg->backend = SSO_BACKEND_CPU;
    cfg->patch.size_px = 512;
    cfg->trail_bins = 0;
    cfg->stack.vmax_px_h = 10.0;
}

static void test_add_and_refuse(void **state)
{
    (void)state;
    sso_pipeline_config cfg;
    config(&cfg);
    sso_pipeline_session *s = NULL;
    assert_int_equal(sso_pipeline_session_create(&cfg, 0, &s), SSO_OK);
    assert_int_equal(sso_pipeline_session_count(s), 0);
    assert_int_equal(sso_pipeline_session_bytes(s), 0);
    double t = -1.0;
    assert_int_equal(sso_pipeline_session_add(s, g_paths[0], &t), SSO_OK);
    assert_true(t >= 0.0);
    assert_int_equal(sso_pipeline_session_count(s), 1);
    const size_t b1 = sso_pipeline_session_bytes(s);
    assert_true(b1 >= (size_t)512 * 512 * 9);
    assert_int_equal(b1 % ((size_t)512 * 512 * 9), 0); /* whole patches */

    assert_int_equal(sso_pipeline_session_add(s, g_other[1], NULL), SSO_ERR_OBS_MISMATCH);
    assert_int_equal(sso_pipeline_session_add(s, g_paths[0], NULL), SSO_ERR_DUP_DITHER);
    char none[4200];
    snprintf(none, sizeof none, "%s.none.fits", g_paths[0]);
    assert_int_not_equal(sso_pipeline_session_add(s, none, NULL), SSO_OK);
    assert_int_equal(sso_pipeline_session_count(s), 1);
    assert_int_equal(sso_pipeline_session_bytes(s), b1);

    assert_int_equal(sso_pipeline_session_add(s, g_paths[2], NULL), SSO_OK);
    assert_int_equal(sso_pipeline_session_count(s), 2);
    assert_true(sso_pipeline_session_bytes(s) > b1);
    sso_alert *a = (sso_alert *)1;
    size_t n = 7;
    assert_int_equal(sso_pipeline_session_run(s, &a, &n, NULL), SSO_ERR_EXPOSURE_COUNT);
    assert_null(a);
    assert_int_equal(n, 0);
    sso_pipeline_session_free(s);
}

static void run_with(int n_exp)
{
    sso_pipeline_config cfg;
    config(&cfg);
    sso_pipeline_session *s = NULL;
    assert_int_equal(sso_pipeline_session_create(&cfg, 0, &s), SSO_OK);
    for (int e = n_exp - 1; e >= 0; e--) /* any order */
        assert_int_equal(sso_pipeline_session_add(s, g_paths[e], NULL), SSO_OK);
    sso_alert *a = NULL;
    size_t n = 0;
    sso_pipeline_stats ps;
    memset(&ps, 0, sizeof ps);
    assert_int_equal(sso_pipeline_session_run(s, &a, &n, &ps), SSO_OK);
    assert_true(n == 0 || a != NULL);
    assert_int_equal(ps.n_detectors, 2 * n_exp);
    assert_true(ps.n_patches >= 1);
    assert_true(ps.run_s >= 0.0 && ps.run_s <= ps.total_s);
    assert_int_equal((int)ps.n_alerts, (int)n);
    free(a);
    a = NULL;
    assert_int_not_equal(sso_pipeline_session_run(s, &a, &n, NULL), SSO_OK); /* once */
    assert_int_not_equal(sso_pipeline_session_add(s, g_paths[3], NULL), SSO_OK);
    sso_pipeline_session_free(s);
}

static void test_run_four(void **state)
{
    (void)state;
    run_with(4);
}

static void test_run_three(void **state)
{
    (void)state;
    run_with(3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_refuse),
        cmocka_unit_test(test_run_four),
        cmocka_unit_test(test_run_three),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
