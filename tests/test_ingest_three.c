/* tests/test_ingest_three.c: SSO_OPEN_ALLOW_THREE, the opt-in for an observation whose 4th
 * exposure never came (`sso watch` proceeds with 3 after its timeout).
 *
 * Asserts, on fitsgen quartets (member e starts at mjd0 + e * 921 s, DITHOBS e + 1):
 *   - without the flag, 3 files are SSO_ERR_EXPOSURE_COUNT (the default stays "exactly 4");
 *   - with it, each choice of the missing member gives 4 exposures in time order: the 3 files as
 *     given and one empty exposure (path "", 0 detectors, same OBS_ID and EXPTIME) whose dither is
 *     the missing one and whose start is mjd0 + missing * 921 s (the cadence, derived by hand);
 *   - 4 files with the flag open exactly as without it; 2 files are still refused;
 *   - the cross-file checks still run on the 3: a foreign OBS_ID is SSO_ERR_OBS_MISMATCH.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fitsgen.h"
#include "sso/sso.h"
#include "testutil.h"

static char g_paths[4][4096];
static sso_fg_config g_base;

static int setup(void **state)
{
    char dir[2048], err[512];
    (void)state;
    sso_fg_defaults(&g_base);
    g_base.width = 16, g_base.height = 12, g_base.n_ccds = 1;
    sso_test_path(dir, sizeof dir, "three");
    sso_test_system("rm -rf '%s'", dir);
    mkdir(dir, 0777);
    if (sso_fg_write_quartet(&g_base, dir, g_paths, err, sizeof err))
        fail_msg("fitsgen: %s", err);
    return 0;
}

static void test_default_refuses_three(void **state)
{
    (void)state;
    const char *p[3] = {g_paths[0], g_paths[1], g_paths[2]};
    sso_quartet *q = (sso_quartet *)1;
    assert_int_equal(sso_quartet_open(p, 3, 0, &q), SSO_ERR_EXPOSURE_COUNT);
    assert_null(q);
}

static void test_three_with_flag(void **state)
{
    (void)state;
    const double step_d = SSO_FG_START_STEP_S / 86400.0;
    for (int missing = 0; missing < 4; missing++) {
        const char *p[3];
        int k = 0;
        for (int e = 3; e >= 0; e--) /* any order */
            if (e != missing)
                p[k++] = g_paths[e];
        sso_quartet *q = NULL;
        assert_int_equal(sso_quartet_open(p, 3, SSO_OPEN_ALLOW_THREE, &q), SSO_OK);
        assert_non_null(q);
        int n_empty = 0;
        double prev = -1.0;
        for (int e = 0; e < 4; e++) {
            sso_exposure_info ei;
            assert_int_equal(sso_quartet_exposure(q, e, &ei), SSO_OK);
            assert_true(ei.mjd_mid > prev); /* time order */
            prev = ei.mjd_mid;
            assert_string_equal(ei.obs_id, g_base.obs_id);
            assert_true(fabs(ei.exptime_s - g_base.exptime_s) < 1e-9);
            if (ei.path[0] == '\0') {
                n_empty++;
                assert_int_equal(ei.n_detectors, 0);
                assert_int_equal(ei.dither, missing + 1);
                assert_int_equal(e, missing); /* it sits in the missing exposure's slot */
                assert_true(fabs(ei.mjd_start - (g_base.mjd_start + missing * step_d)) * 86400.0 < 1e-3);
                assert_null(sso_quartet_detector_name(q, e, 0));
            } else {
                assert_int_equal(ei.n_detectors, 1);
                assert_int_equal(ei.dither, e + 1);
            }
        }
        assert_int_equal(n_empty, 1);
        sso_quartet_free(q);
    }
}

static void test_four_and_two_with_flag(void **state)
{
    (void)state;
    const char *p[4] = {g_paths[0], g_paths[1], g_paths[2], g_paths[3]};
    sso_quartet *q = NULL;
    assert_int_equal(sso_quartet_open(p, 4, SSO_OPEN_ALLOW_THREE, &q), SSO_OK);
    for (int e = 0; e < 4; e++) {
        sso_exposure_info ei;
        assert_int_equal(sso_quartet_exposure(q, e, &ei), SSO_OK);
        assert_string_equal(ei.path, g_paths[e]);
        assert_int_equal(ei.n_detectors, 1);
    }
    sso_quartet_free(q);
    q = (sso_quartet *)1;
    assert_int_equal(sso_quartet_open(p, 2, SSO_OPEN_ALLOW_THREE, &q), SSO_ERR_EXPOSURE_COUNT);
    assert_null(q);
}

static void test_three_still_cross_checked(void **state)
{
    (void)state;
    char path[4096], err[512];
    sso_fg_config m;
    sso_fg_quartet_member(&g_base, 3, &m);
    snprintf(m.obs_id, sizeof m.obs_id, "999999");
    sso_test_path(path, sizeof path, "three/other.fits");
    if (sso_fg_write(&m, path, err, sizeof err))
        fail_msg("fitsgen: %s", err);
    const char *p[3] = {g_paths[0], g_paths[1], path};
    sso_quartet *q = (sso_quartet *)1;
    assert_int_equal(sso_quartet_open(p, 3, SSO_OPEN_ALLOW_THREE, &q), SSO_ERR_OBS_MISMATCH);
    assert_null(q);
    assert_non_null(strstr(sso_last_error(), "other.fits"));
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_refuses_three),
        cmocka_unit_test(test_three_with_flag),
        cmocka_unit_test(test_four_and_two_with_flag),
        cmocka_unit_test(test_three_still_cross_checked),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
