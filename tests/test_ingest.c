/* tests/test_ingest.c: ingest of good quartets (host/ingest.c), checked against what fitsgen wrote.
 *
 * Every file is written by tests/support/fitsgen (cfitsio only); pixel values, times, names and
 * WCS reference points are known functions of the config, so the checks do not trust the code
 * under test. Covered: time ordering, mid-exposure MJD from MJD-OBS and from DATE-OBS alone,
 * CCD- and quadrant-level detectors, shuffled extension order, lower-case extension names,
 * RICE-compressed files, BITPIX -64, numeric OBS_ID, generic single-image input (with no planes,
 * RMS/FLG planes, WEIGHT/MASK planes), directory input, in-memory input, and concurrent reads.
 * The error paths are in tests/test_ingest_errors.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
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
#include "host/ingest_internal.h"
#include "sso/sso.h"
#include "testutil.h"

/* Writes the quartet of base into <tmp>/<tag>/ and returns the directory. */
static const char *quartet_dir(const sso_fg_config *base, const char *tag, char paths[4][4096])
{
    static char dir[4096];
    char err[512];
    sso_test_path(dir, sizeof dir, tag);
    sso_test_system("rm -rf '%s'", dir);
    mkdir(dir, 0777);
    if (sso_fg_write_quartet(base, dir, paths, err, sizeof err))
        fail_msg("fitsgen: %s", err);
    return dir;
}

static sso_quartet *open4(char paths[4][4096], const int order[4], unsigned flags)
{
    const char *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = paths[order ? order[i] : i];
    sso_quartet *q = NULL;
    sso_status st = sso_quartet_open(p, 4, flags, &q);
    if (st != SSO_OK)
        fail_msg("sso_quartet_open: %s: %s", sso_strerror(st), sso_last_error());
    assert_non_null(q);
    return q;
}

/* Checks every pixel of detector d of exposure e against fitsgen's formulas. tol_adu is the
 * allowed error of SCI/RMS (0 for uncompressed files). */
static void check_detector(const sso_quartet *q, int e, int d, const sso_fg_config *c, int fg_det,
                           double tol_adu)
{
    sso_detector *det = NULL;
    sso_status st = sso_detector_read(q, e, d, &det);
    if (st != SSO_OK)
        fail_msg("sso_detector_read(%d, %d): %s: %s", e, d, sso_strerror(st), sso_last_error());
    char name[32];
    sso_fg_det_name(c, fg_det, name, sizeof name);
    assert_string_equal(sso_detector_name(det), name);
    assert_int_equal(sso_detector_width(det), c->width);
    assert_int_equal(sso_detector_height(det), c->height);
    const float *sci = sso_detector_sci_adu(det);
    const float *rms = sso_detector_rms_adu(det);
    const int32_t *flg = sso_detector_flg(det);
    assert_non_null(sci);
    assert_non_null(flg);
    if (!c->generic || c->generic_planes)
        assert_non_null(rms);
    else
        assert_null(rms);
    int bad = 0;
    for (int y = 1; y <= c->height; y++)
        for (int x = 1; x <= c->width; x++) {
            const size_t i = (size_t)(y - 1) * (size_t)c->width + (size_t)(x - 1);
            const float es = sso_fg_sci_adu(c, fg_det, x, y);
            if (isnan(es) ? !isnan(sci[i]) : !(fabs(sci[i] - es) <= tol_adu))
                bad++;
            if (rms) {
                const float er = sso_fg_rms_adu(c, fg_det, x, y);
                const double tol = c->generic_planes == 2 ? 1e-5 * er : tol_adu;
                if (!(fabs(rms[i] - er) <= tol))
                    bad++;
            }
            const int32_t ef = (!c->generic || c->generic_planes) ? sso_fg_flg(c, fg_det, x, y) : 0;
            if (flg[i] != ef)
                bad++;
            if (bad == 1) {
                print_error("first mismatch at (%d, %d): sci %g vs %g, flg %d vs %d\n", x, y,
                            (double)sci[i], (double)es, flg[i], ef);
                bad++;
            }
        }
    assert_int_equal(bad, 0);
    assert_true(fabs(sso_detector_gain_e_per_adu(det) - c->gain_e_per_adu) < 1e-12);
    assert_true(fabs(sso_detector_magzerop(det) - (c->magzerop + 0.01 * fg_det)) < 1e-9);

    /* WCS: CRPIX maps to CRVAL (of the exposure) for every distortion written */
    const sso_wcs *w = sso_detector_wcs(det);
    assert_non_null(w);
    sso_fg_config m;
    sso_exposure_info info;
    assert_int_equal(sso_quartet_exposure(q, e, &info), SSO_OK);
    sso_fg_quartet_member(c, info.dither ? info.dither - 1 : e, &m);
    double cx, cy, ra, dec;
    sso_fg_det_crpix(c, fg_det, &cx, &cy);
    assert_int_equal(sso_wcs_pix2sky(w, 1, &cx, &cy, &ra, &dec), SSO_OK);
    assert_true(fabs(ra - m.ra_deg) < 1e-9);
    assert_true(fabs(dec - m.dec_deg) < 1e-9);
    /* and the quartet's own WCS (parsed at open) agrees one pixel away */
    double x1 = cx + 10.0, y1 = cy - 7.0, ra1, dec1, ra2, dec2;
    assert_int_equal(sso_wcs_pix2sky(w, 1, &x1, &y1, &ra1, &dec1), SSO_OK);
    assert_int_equal(sso_wcs_pix2sky(sso_quartet_detector_wcs(q, e, d), 1, &x1, &y1, &ra2, &dec2),
                     SSO_OK);
    assert_true(ra1 == ra2 && dec1 == dec2);
    /* 10 px east-west and 7 px north-south at 0.1"/px: ~1.22" from the centre */
    const double sep = hypot((ra1 - ra) * cos(dec * 3.14159265358979 / 180.0), dec1 - dec) * 3600.0;
    assert_true(fabs(sep - hypot(1.0, 0.7)) < 0.01);
    sso_detector_free(det);
}

static void test_good_quartet_time_order(void **state)
{
    (void)state;
    sso_fg_config c;
    sso_fg_defaults(&c);
    char paths[4][4096];
    quartet_dir(&c, "good", paths);
    const int shuffled[4] = {2, 0, 3, 1};
    sso_quartet *q = open4(paths, shuffled, 0);
    for (int e = 0; e < 4; e++) {
        sso_exposure_info info;
        assert_int_equal(sso_quartet_exposure(q, e, &info), SSO_OK);
        assert_string_equal(info.path, paths[e]); /* back in time order */
        assert_string_equal(info.obs_id, "002681");
        assert_int_equal(info.dither, e + 1);
        assert_int_equal(info.expnum, e + 1);
        const double start = c.mjd_start + e * SSO_FG_START_STEP_S / 86400.0;
        /* MJD-OBS is written with 15 significant digits: ~1e-10 d */
        assert_true(fabs(info.mjd_start - start) < 1e-9);
        assert_true(fabs(info.mjd_mid - (start + 283.0 / 86400.0)) < 1e-9);
        assert_true(info.exptime_s == 566.0);
        char iso[64];
        sso_fg_mjd_to_iso(start, iso, sizeof iso);
        assert_string_equal(info.date_obs, iso);
        assert_int_equal(info.n_detectors, 2);
        assert_string_equal(sso_quartet_detector_name(q, e, 0), "1-1");
        assert_string_equal(sso_quartet_detector_name(q, e, 1), "1-2");
        assert_null(sso_quartet_detector_name(q, e, 2));
        assert_int_equal(sso_quartet_find_detector(q, e, "1-2"), 1);
        assert_int_equal(sso_quartet_find_detector(q, e, "9-9"), -1);
        int w = 0, h = 0;
        assert_int_equal(sso_quartet_detector_size(q, e, 1, &w, &h), SSO_OK);
        assert_int_equal(w, c.width);
        assert_int_equal(h, c.height);
        assert_string_equal(sso_wcs_projection(sso_quartet_detector_wcs(q, e, 0)), "TPV");
        for (int d = 0; d < 2; d++)
            check_detector(q, e, d, &c, d, 0.0);
    }
    sso_exposure_info info;
    assert_int_equal(sso_quartet_exposure(q, 4, &info), SSO_ERR_ARG);
    sso_detector *det = NULL;
    assert_int_equal(sso_detector_read(q, 0, 2, &det), SSO_ERR_ARG);
    assert_null(det);
    sso_quartet_free(q);
}

static void test_date_obs_only(void **state)
{
    (void)state;
    sso_fg_config c;
    sso_fg_defaults(&c);
    c.write_mjd_obs = 0;
    c.mjd_start = 60963.18657092 + 0.5; /* any time of day; microsecond DATE-OBS */
    c.exptime_s = 560.5;
    char paths[4][4096];
    quartet_dir(&c, "dateobs", paths);
    sso_quartet *q = open4(paths, NULL, 0);
    for (int e = 0; e < 4; e++) {
        sso_exposure_info info;
        assert_int_equal(sso_quartet_exposure(q, e, &info), SSO_OK);
        const double start = c.mjd_start + e * SSO_FG_START_STEP_S / 86400.0;
        /* DATE-OBS carries microseconds: 1e-6 s = 1.2e-11 d */
        assert_true(fabs(info.mjd_start - start) < 1e-9);
        assert_true(fabs(info.mjd_mid - (start + 280.25 / 86400.0)) < 1e-9);
    }
    sso_quartet_free(q);
}

static void test_time_conversion(void **state)
{
    (void)state;
    double mjd = 0;
    /* 2024-10-17T04:28:39.727728 by hand: MJD 60600 is 2024-10-17 (JD 2460600.5);
     * 4:28:39.727728 = 16119.727728 s = 0.186570922777... d */
    assert_int_equal(sso_time_iso_to_mjd("2024-10-17T04:28:39.727728", &mjd), SSO_OK);
    assert_true(fabs(mjd - (60600.0 + 16119.727728 / 86400.0)) < 1e-10);
    assert_int_equal(sso_time_iso_to_mjd("2024-10-17T04:28:39.727728Z", &mjd), SSO_OK);
    assert_true(fabs(mjd - (60600.0 + 16119.727728 / 86400.0)) < 1e-10);
    assert_int_equal(sso_time_iso_to_mjd("2000-01-01", &mjd), SSO_OK);
    assert_true(fabs(mjd - 51544.0) < 1e-12);
    assert_int_equal(sso_time_iso_to_mjd("yesterday", &mjd), SSO_ERR_NO_TIME);
    assert_int_equal(sso_time_iso_to_mjd("", &mjd), SSO_ERR_NO_TIME);
}

static void test_quadrants_shuffled(void **state)
{
    (void)state;
    sso_fg_config c;
    sso_fg_defaults(&c);
    c.quadrants = 1;
    c.shuffle_seed = 12345;
    c.wcs = SSO_FG_WCS_SIP;
    char paths[4][4096];
    quartet_dir(&c, "quadrants", paths);
    sso_quartet *q = open4(paths, NULL, 0);
    sso_exposure_info info;
    assert_int_equal(sso_quartet_exposure(q, 0, &info), SSO_OK);
    assert_int_equal(info.n_detectors, 8);
    const char *names[8] = {"1-1.E", "1-1.F", "1-1.G", "1-1.H", "1-2.E", "1-2.F", "1-2.G", "1-2.H"};
    for (int d = 0; d < 8; d++)
        assert_string_equal(sso_quartet_detector_name(q, 0, d), names[d]);
    assert_string_equal(sso_wcs_projection(sso_quartet_detector_wcs(q, 0, 0)), "TAN");
    assert_int_equal(sso_wcs_has_sip(sso_quartet_detector_wcs(q, 0, 0)), 1);
    check_detector(q, 0, 0, &c, 0, 0.0);
    check_detector(q, 3, 6, &c, 6, 0.0);
    sso_quartet_free(q);
}

static void test_compressed(void **state)
{
    (void)state;
    sso_fg_config c;
    sso_fg_defaults(&c);
    c.compress = 1;
    c.n_nan_pixels = 3;
    c.shuffle_seed = 99;
    char paths[4][4096];
    quartet_dir(&c, "compressed", paths);
    sso_quartet *q = open4(paths, NULL, SSO_OPEN_VERIFY_CHECKSUM); /* no checksums: fine */
    for (int e = 0; e < 4; e++)
        for (int d = 0; d < 2; d++)
            check_detector(q, e, d, &c, d, 0.5 * SSO_FG_QSTEP_ADU + 1e-4);
    sso_quartet_free(q);
}

static void test_variants(void **state)
{
    (void)state;
    char paths[4][4096];
    sso_fg_config c;
    /* BITPIX -64 SCI and RMS, 16-bit FLG, TAN, lower-case extension names, numeric OBS_ID */
    sso_fg_defaults(&c);
    c.sci_bitpix = -64;
    c.rms_bitpix = -64;
    c.flg_bitpix = 16;
    c.wcs = SSO_FG_WCS_TAN;
    c.ext_name_lowercase = 1;
    c.obs_id_numeric = 1;
    c.checksum = 1;
    quartet_dir(&c, "variants", paths);
    sso_quartet *q = open4(paths, NULL, SSO_OPEN_VERIFY_CHECKSUM);
    sso_exposure_info info;
    assert_int_equal(sso_quartet_exposure(q, 0, &info), SSO_OK);
    assert_string_equal(info.obs_id, "2681");
    assert_string_equal(sso_quartet_detector_name(q, 0, 1), "1-2");
    check_detector(q, 1, 1, &c, 1, 0.0);
    sso_quartet_free(q);
}

static void test_obs_id_numeric_equals_string(void **state)
{
    (void)state;
    char paths[4][4096];
    sso_fg_config c;
    sso_fg_defaults(&c);
    quartet_dir(&c, "obsnum", paths);
    /* rewrite exposure 2 with OBS_ID = 2681 (integer): the same observation as '002681' */
    sso_fg_config m;
    char err[512];
    sso_fg_quartet_member(&c, 2, &m);
    m.obs_id_numeric = 1;
    assert_int_equal(sso_fg_write(&m, paths[2], err, sizeof err), 0);
    sso_quartet *q = open4(paths, NULL, 0);
    sso_quartet_free(q);
}

static void test_generic(void **state)
{
    (void)state;
    for (int planes = 0; planes <= 2; planes++) {
        char paths[4][4096], tag[32];
        sso_fg_config c;
        sso_fg_defaults(&c);
        c.generic = 1;
        c.generic_planes = planes;
        c.obs_id[0] = '\0'; /* optional for generic input */
        c.dither = 0;       /* order by time alone */
        snprintf(tag, sizeof tag, "generic%d", planes);
        quartet_dir(&c, tag, paths);
        const int order[4] = {3, 1, 2, 0};
        sso_quartet *q = open4(paths, order, 0);
        double last = 0.0;
        for (int e = 0; e < 4; e++) {
            sso_exposure_info info;
            assert_int_equal(sso_quartet_exposure(q, e, &info), SSO_OK);
            assert_string_equal(info.obs_id, "");
            assert_int_equal(info.dither, 0);
            assert_int_equal(info.n_detectors, 1);
            assert_true(info.mjd_mid > last);
            last = info.mjd_mid;
            assert_string_equal(sso_quartet_detector_name(q, e, 0), "0");
            assert_string_equal(info.path, paths[e]);
        }
        check_detector(q, 2, 0, &c, 0, 0.0);
        sso_quartet_free(q);
    }
}

static void test_directory(void **state)
{
    (void)state;
    char paths[4][4096];
    sso_fg_config c;
    sso_fg_defaults(&c);
    const char *dir = quartet_dir(&c, "dir", paths);
    /* other files beside the quartet are ignored */
    sso_test_system("echo id,class > '%s/truth.csv' && mkdir -p '%s/sub'", dir, dir);
    sso_quartet *q = NULL;
    sso_status st = sso_quartet_open_dir(dir, 0, &q);
    if (st)
        fail_msg("%s", sso_last_error());
    sso_exposure_info info;
    assert_int_equal(sso_quartet_exposure(q, 3, &info), SSO_OK);
    assert_int_equal(info.dither, 4);
    sso_quartet_free(q);
}

static void test_memory_input(void **state)
{
    (void)state;
    char paths[4][4096];
    sso_fg_config c;
    sso_fg_defaults(&c);
    c.compress = 1;
    quartet_dir(&c, "mem", paths);
    FILE *fp = fopen(paths[1], "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    const long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    sso_exposure *x = NULL;
    assert_int_equal(sso_exposure_open_mem(buf, (size_t)n, "buffer.fits", 0, 1 << 20, &x), SSO_OK);
    assert_int_equal(sso_exposure_n_detectors(x), 2);
    sso_detector *det = NULL;
    assert_int_equal(sso_exposure_read_detector(x, 1, &det), SSO_OK);
    assert_true(fabs(sso_detector_sci_adu(det)[5] - sso_fg_sci_adu(&c, 1, 6, 1)) < 0.01);
    sso_detector_free(det);
    sso_exposure_free(x);
    /* a detector larger than max_pixels is refused before any allocation */
    assert_int_equal(sso_exposure_open_mem(buf, (size_t)n, "buffer.fits", 0, 100, &x),
                     SSO_ERR_BAD_HEADER);
    assert_null(x);
    assert_non_null(strstr(sso_last_error(), "buffer.fits"));
    free(buf);
}

typedef struct reader_arg {
    const sso_quartet *q;
    const sso_fg_config *c;
    int which;
    int errors;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    for (int k = 0; k < 16; k++) {
        const int e = (a->which + k) % 4, d = (a->which + k / 4) % 2;
        sso_detector *det = NULL;
        if (sso_detector_read(a->q, e, d, &det) != SSO_OK) {
            a->errors++;
            continue;
        }
        const float *sci = sso_detector_sci_adu(det);
        for (int y = 1; y <= a->c->height; y++)
            for (int x = 1; x <= a->c->width; x++)
                if (fabs(sci[(y - 1) * a->c->width + (x - 1)] - sso_fg_sci_adu(a->c, d, x, y)) >
                    0.5 * SSO_FG_QSTEP_ADU + 1e-4)
                    a->errors++;
        sso_detector_free(det);
    }
    return NULL;
}

/* Four threads read detectors of the same files at once: each read takes its own handle. */
static void test_concurrent_reads(void **state)
{
    (void)state;
    char paths[4][4096];
    sso_fg_config c;
    sso_fg_defaults(&c);
    c.compress = 1;
    c.width = 200;
    c.height = 150;
    quartet_dir(&c, "threads", paths);
    sso_quartet *q = open4(paths, NULL, 0);
    pthread_t th[4];
    reader_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (reader_arg){q, &c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    sso_quartet_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_quartet_time_order),
        cmocka_unit_test(test_date_obs_only),
        cmocka_unit_test(test_time_conversion),
        cmocka_unit_test(test_quadrants_shuffled),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_obs_id_numeric_equals_string),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_memory_input),
        cmocka_unit_test(test_concurrent_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
