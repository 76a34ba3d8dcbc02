/* tests/test_ingest_errors.c: every way ingest refuses input, each with its own status and a
 * detail that names the file and the extension.
 *
 * A good quartet is written with tests/support/fitsgen and then one member is replaced by a broken
 * one (a fitsgen knob, truncate(), a text file, damaged compressed bytes, a flipped data byte);
 * sso_quartet_open() or sso_detector_read() must fail with the expected status, return no object,
 * and its sso_last_error() must contain the broken file's name and the extension involved.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fitsgen.h"
#include "sso/sso.h"
#include "testutil.h"

typedef struct quartet_files {
    char dir[2048];
    char paths[5][4096];
} quartet_files;

/* A good quartet of base in <tmp>/<tag>; member `bad` (or -1) is rewritten with `tweak`
 * applied to its config (a function of the member config). */
static void make(quartet_files *qf, const sso_fg_config *base, const char *tag, int bad,
                 void (*tweak)(sso_fg_config *))
{
    char err[512];
    sso_test_path(qf->dir, sizeof qf->dir, tag);
    sso_test_system("rm -rf '%s'", qf->dir);
    mkdir(qf->dir, 0777);
    if (sso_fg_write_quartet(base, qf->dir, qf->paths, err, sizeof err))
        fail_msg("fitsgen: %s", err);
    if (bad >= 0 && tweak) {
        sso_fg_config m;
        sso_fg_quartet_member(base, bad, &m);
        tweak(&m);
        if (sso_fg_write(&m, qf->paths[bad], err, sizeof err))
            fail_msg("fitsgen: %s", err);
    }
}

static void expect_detail(const char *file, const char *ext)
{
    const char *d = sso_last_error();
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    if (!strstr(d, base))
        fail_msg("detail '%s' does not name file %s", d, base);
    if (ext && !strstr(d, ext))
        fail_msg("detail '%s' does not name extension %s", d, ext);
}

/* Opens the 4 paths; expects status `want` with a detail naming file `blame` and `ext`. */
static void expect_open(quartet_files *qf, int n, unsigned flags, sso_status want, int blame,
                        const char *ext)
{
    const char *p[5];
    for (int i = 0; i < n; i++)
        p[i] = qf->paths[i];
    sso_quartet *q = (sso_quartet *)(uintptr_t)1;
    sso_status st = sso_quartet_open(p, n, flags, &q);
    if (st != want)
        fail_msg("expected status %d (%s), got %d (%s): %s", want, sso_strerror(want), st,
                 sso_strerror(st), sso_last_error());
    assert_null(q);
    expect_detail(blame >= 0 ? qf->paths[blame] : qf->dir, ext);
}

/* Opens (must succeed) and reads every detector; expects the first failure to be `want`, at
 * exposure file `blame` (path index before time ordering) and extension ext. */
static void expect_read(quartet_files *qf, unsigned flags, sso_status want, int blame,
                        const char *ext)
{
    const char *p[4] = {qf->paths[0], qf->paths[1], qf->paths[2], qf->paths[3]};
    sso_quartet *q = NULL;
    sso_status st = sso_quartet_open(p, 4, flags, &q);
    if (st)
        fail_msg("open: %s: %s", sso_strerror(st), sso_last_error());
    sso_status got = SSO_OK;
    for (int e = 0; e < 4 && !got; e++) {
        sso_exposure_info info;
        assert_int_equal(sso_quartet_exposure(q, e, &info), SSO_OK);
        for (int d = 0; d < info.n_detectors && !got; d++) {
            sso_detector *det = (sso_detector *)(uintptr_t)1;
            got = sso_detector_read(q, e, d, &det);
            if (got)
                assert_null(det);
            else
                sso_detector_free(det);
        }
    }
    if (got != want)
        fail_msg("expected %s, got %s: %s", sso_strerror(want), sso_strerror(got), sso_last_error());
    expect_detail(qf->paths[blame], ext);
    sso_quartet_free(q);
}

static sso_fg_config defaults(void)
{
    sso_fg_config c;
    sso_fg_defaults(&c);
    return c;
}

/* ---- tweaks ---- */
static void drop_rms(sso_fg_config *c) { snprintf(c->drop_ext, sizeof c->drop_ext, "1-2.RMS"); }
static void drop_sci(sso_fg_config *c) { snprintf(c->drop_ext, sizeof c->drop_ext, "1-1.SCI"); }
static void int_sci(sso_fg_config *c) { snprintf(c->bitpix_ext, sizeof c->bitpix_ext, "1-1.SCI"); }
static void float_flg(sso_fg_config *c)
{
    snprintf(c->bitpix_ext, sizeof c->bitpix_ext, "1-2.FLG");
    c->bad_bitpix = -32;
}
static void wide_flg(sso_fg_config *c) { snprintf(c->wider_ext, sizeof c->wider_ext, "1-2.FLG"); }
static void no_wcs(sso_fg_config *c) { snprintf(c->no_wcs_ext, sizeof c->no_wcs_ext, "1-2.SCI"); }
static void lin_wcs(sso_fg_config *c)
{
    snprintf(c->linear_wcs_ext, sizeof c->linear_wcs_ext, "1-1.SCI");
}
static void sing_wcs(sso_fg_config *c)
{
    snprintf(c->singular_wcs_ext, sizeof c->singular_wcs_ext, "1-1.SCI");
}
static void no_time(sso_fg_config *c) { c->write_mjd_obs = c->write_date_obs = 0; }
static void no_exptime(sso_fg_config *c) { c->write_exptime = 0; }
static void other_obs(sso_fg_config *c) { snprintf(c->obs_id, sizeof c->obs_id, "002682"); }
static void same_dither(sso_fg_config *c) { c->dither = 1; }
static void same_time(sso_fg_config *c)
{
    c->mjd_start = defaults().mjd_start; /* exposure 0's start */
}
static void all_nan(sso_fg_config *c) { snprintf(c->nan_ext, sizeof c->nan_ext, "1-2.SCI"); }

/* ---- tests ---- */

static void test_missing_file(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "missing", -1, NULL);
    unlink(qf.paths[2]);
    expect_open(&qf, 4, 0, SSO_ERR_IO, 2, "PRIMARY");
    assert_non_null(strstr(sso_last_error(), "No such file"));
    /* a directory given as a file */
    snprintf(qf.paths[2], sizeof qf.paths[2], "%s", qf.dir);
    expect_open(&qf, 4, 0, SSO_ERR_IO, 2, NULL);
}

static void test_not_fits(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "notfits", -1, NULL);
    FILE *fp = fopen(qf.paths[3], "w");
    assert_non_null(fp);
    fputs("SIMPLE? no, a text file\n", fp);
    fclose(fp);
    expect_open(&qf, 4, 0, SSO_ERR_NOT_FITS, 3, "PRIMARY");
    /* an empty file */
    fp = fopen(qf.paths[3], "w");
    fclose(fp);
    expect_open(&qf, 4, 0, SSO_ERR_NOT_FITS, 3, "PRIMARY");
}

static void test_truncated(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "truncated", -1, NULL);
    struct stat sb;
    assert_int_equal(stat(qf.paths[1], &sb), 0);
    /* layout: primary 2880, then per extension 2880 header + 3072 data padded to 5760 */
    /* cut inside the data of the last extension (1-2.FLG, HDU 7) */
    assert_int_equal(truncate(qf.paths[1], sb.st_size - 3000), 0);
    expect_open(&qf, 4, 0, SSO_ERR_TRUNCATED, 1, "1-2.FLG");
    /* cut at half: in the middle of some extension's data or between HDUs */
    make(&qf, &c, "truncated", -1, NULL);
    assert_int_equal(truncate(qf.paths[1], sb.st_size / 2), 0);
    expect_open(&qf, 4, 0, SSO_ERR_TRUNCATED, 1, NULL);
    /* cut inside an extension header: 1000 bytes into the header of HDU 3, which starts after
     * the primary header and HDU 2 (one header block and two data blocks) */
    make(&qf, &c, "truncated", -1, NULL);
    assert_int_equal(truncate(qf.paths[1], 2880 + 2880 + 5760 + 1000), 0);
    expect_open(&qf, 4, 0, SSO_ERR_TRUNCATED, 1, "HDU 3");
    /* cut inside the primary header */
    make(&qf, &c, "truncated", -1, NULL);
    assert_int_equal(truncate(qf.paths[1], 1000), 0);
    expect_open(&qf, 4, 0, SSO_ERR_TRUNCATED, 1, "PRIMARY");
    /* only the padding of the last HDU missing: the standard requires it, and a cut there
     * cannot be told from a cut of the data otherwise */
    make(&qf, &c, "truncated", -1, NULL);
    assert_int_equal(truncate(qf.paths[1], sb.st_size - 5760 + 3072), 0);
    expect_open(&qf, 4, 0, SSO_ERR_TRUNCATED, 1, "1-2.FLG");
    /* cut exactly between two HDUs (after 1-1.FLG, HDU 4): a valid FITS file that lacks the
     * detector 1-2 the other exposures have */
    make(&qf, &c, "truncated", -1, NULL);
    assert_int_equal(truncate(qf.paths[1], 2880 + 3 * (2880 + 5760)), 0);
    expect_open(&qf, 4, 0, SSO_ERR_MISSING_EXT, 1, "1-2.SCI");
}

static void test_missing_extension(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "missing_ext", 2, drop_rms);
    expect_open(&qf, 4, 0, SSO_ERR_MISSING_EXT, 2, "1-2.RMS");
    make(&qf, &c, "missing_ext", 0, drop_sci);
    expect_open(&qf, 4, 0, SSO_ERR_MISSING_EXT, 0, "1-1.SCI");
}

static void test_bitpix(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "bitpix", 0, int_sci);
    expect_open(&qf, 4, 0, SSO_ERR_BITPIX, 0, "1-1.SCI");
    assert_non_null(strstr(sso_last_error(), "BITPIX 16"));
    make(&qf, &c, "bitpix", 3, float_flg);
    expect_open(&qf, 4, 0, SSO_ERR_BITPIX, 3, "1-2.FLG");
    /* compressed: the type seen is ZBITPIX */
    c.compress = 1;
    make(&qf, &c, "bitpix", 1, int_sci);
    expect_open(&qf, 4, 0, SSO_ERR_BITPIX, 1, "1-1.SCI");
}

static void test_size_mismatch(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "size", 1, wide_flg);
    expect_open(&qf, 4, 0, SSO_ERR_SIZE_MISMATCH, 1, "1-2.FLG");
    assert_non_null(strstr(sso_last_error(), "33 x 24"));
}

static void test_wcs_errors(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "wcs", 3, no_wcs);
    expect_open(&qf, 4, 0, SSO_ERR_WCS, 3, "1-2.SCI");
    make(&qf, &c, "wcs", 2, lin_wcs);
    expect_open(&qf, 4, 0, SSO_ERR_WCS, 2, "1-1.SCI");
    make(&qf, &c, "wcs", 0, sing_wcs);
    expect_open(&qf, 4, 0, SSO_ERR_WCS, 0, "1-1.SCI");
    assert_non_null(strstr(sso_last_error(), "singular"));
    c.compress = 1; /* the header of a compressed HDU is read through cfitsio's image view */
    make(&qf, &c, "wcs", 1, no_wcs);
    expect_open(&qf, 4, 0, SSO_ERR_WCS, 1, "1-2.SCI");
}

static void test_time_errors(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "time", 2, no_time);
    expect_open(&qf, 4, 0, SSO_ERR_NO_TIME, 2, "PRIMARY");
    make(&qf, &c, "time", 1, no_exptime);
    expect_open(&qf, 4, 0, SSO_ERR_NO_TIME, 1, "PRIMARY");
    assert_non_null(strstr(sso_last_error(), "EXPTIME"));
    /* generic input: the image's own header */
    c.generic = 1;
    make(&qf, &c, "time", 3, no_time);
    expect_open(&qf, 4, 0, SSO_ERR_NO_TIME, 3, "PRIMARY");
}

static void test_observation_errors(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "obs", 3, other_obs);
    expect_open(&qf, 4, 0, SSO_ERR_OBS_MISMATCH, 3, "PRIMARY");
    assert_non_null(strstr(sso_last_error(), "002682"));
    make(&qf, &c, "obs", 2, same_dither);
    expect_open(&qf, 4, 0, SSO_ERR_DUP_DITHER, 2, "PRIMARY");
    assert_non_null(strstr(sso_last_error(), "DITHOBS 1"));
    /* no DITHOBS at all: two exposures with one start time */
    c.dither = 0;
    make(&qf, &c, "obs", 3, same_time);
    expect_open(&qf, 4, 0, SSO_ERR_DUP_DITHER, 3, "PRIMARY");
    /* the same file twice */
    c = defaults();
    make(&qf, &c, "obs", -1, NULL);
    snprintf(qf.paths[1], sizeof qf.paths[1], "%s", qf.paths[0]);
    expect_open(&qf, 4, 0, SSO_ERR_DUP_DITHER, 1, "PRIMARY");
}

static void test_exposure_count(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "count", -1, NULL);
    /* a fifth exposure: member 4 of the same observation */
    sso_fg_config m;
    char name[256], err[512];
    sso_fg_quartet_member(&c, 4, &m);
    sso_fg_file_name(&m, name, sizeof name);
    snprintf(qf.paths[4], sizeof qf.paths[4], "%s/%s", qf.dir, name);
    assert_int_equal(sso_fg_write(&m, qf.paths[4], err, sizeof err), 0);
    expect_open(&qf, 5, 0, SSO_ERR_EXPOSURE_COUNT, 4, "PRIMARY");
    expect_open(&qf, 3, 0, SSO_ERR_EXPOSURE_COUNT, 2, "PRIMARY");
    /* directories with 5 and 3 */
    sso_quartet *q = (sso_quartet *)(uintptr_t)1;
    assert_int_equal(sso_quartet_open_dir(qf.dir, 0, &q), SSO_ERR_EXPOSURE_COUNT);
    assert_null(q);
    expect_detail(qf.dir, "PRIMARY");
    assert_non_null(strstr(sso_last_error(), "holds 5"));
    unlink(qf.paths[4]);
    unlink(qf.paths[0]);
    assert_int_equal(sso_quartet_open_dir(qf.dir, 0, &q), SSO_ERR_EXPOSURE_COUNT);
    assert_non_null(strstr(sso_last_error(), "holds 3"));
    /* an empty and a missing directory */
    char empty[4096];
    sso_test_path(empty, sizeof empty, "count_empty");
    mkdir(empty, 0777);
    assert_int_equal(sso_quartet_open_dir(empty, 0, &q), SSO_ERR_EXPOSURE_COUNT);
    sso_test_path(empty, sizeof empty, "count_nonexistent");
    assert_int_equal(sso_quartet_open_dir(empty, 0, &q), SSO_ERR_IO);
    expect_detail(empty, NULL);
}

static void test_all_nan(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    make(&qf, &c, "allnan", 1, all_nan);
    expect_read(&qf, 0, SSO_ERR_ALL_NAN, 1, "1-2.SCI");
}

static void test_corrupt_tile(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    c.compress = 1;
    char err[512];
    /* the compressed bytes of every tile of one extension */
    make(&qf, &c, "corrupt", -1, NULL);
    assert_int_equal(sso_fg_damage_heap(qf.paths[2], "1-2.RMS", 0, err, sizeof err), 0);
    expect_read(&qf, 0, SSO_ERR_CORRUPT, 2, "1-2.RMS");
    /* zeros are a valid Rice stream (every block "all equal to the first pixel"): only the
     * checksum tells, when the file has one and verification is asked for */
    c.checksum = 1;
    make(&qf, &c, "corrupt", -1, NULL);
    assert_int_equal(sso_fg_damage_heap(qf.paths[1], "1-1.FLG", 2, err, sizeof err), 0);
    expect_read(&qf, SSO_OPEN_VERIFY_CHECKSUM, SSO_ERR_CORRUPT, 1, "1-1.FLG");
    assert_non_null(strstr(sso_last_error(), "DATASUM"));
    c.checksum = 0;
    /* a tile descriptor pointing outside the heap */
    make(&qf, &c, "corrupt", -1, NULL);
    assert_int_equal(sso_fg_damage_heap(qf.paths[0], "1-1.SCI", 1, err, sizeof err), 0);
    expect_read(&qf, 0, SSO_ERR_CORRUPT, 0, "1-1.SCI");
}

/* XORs the byte at offset off of a file with mask. */
static void flip_byte(const char *path, long off, int mask)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    int ch = fgetc(fp);
    assert_true(ch != EOF);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    fputc(ch ^ mask, fp);
    fclose(fp);
}

static void test_checksum(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    c.checksum = 1;
    make(&qf, &c, "checksum", -1, NULL);
    /* HDU 2 is the first extension written (1-1.SCI, unshuffled); its data start at 2880+2880 */
    flip_byte(qf.paths[3], 2 * 2880 + 400, 0x20);
    /* without verification the change goes unnoticed: a float is still a float */
    const char *p[4] = {qf.paths[0], qf.paths[1], qf.paths[2], qf.paths[3]};
    sso_quartet *q = NULL;
    assert_int_equal(sso_quartet_open(p, 4, 0, &q), SSO_OK);
    sso_detector *det = NULL;
    for (int e = 0; e < 4; e++) {
        assert_int_equal(sso_detector_read(q, e, 0, &det), SSO_OK);
        sso_detector_free(det);
    }
    sso_quartet_free(q);
    expect_read(&qf, SSO_OPEN_VERIFY_CHECKSUM, SSO_ERR_CORRUPT, 3, "1-1.SCI");
    assert_non_null(strstr(sso_last_error(), "DATASUM"));
    /* a changed primary header value (EXPNUM 1 -> 2) is caught at open */
    make(&qf, &c, "checksum", -1, NULL);
    char head[2880];
    FILE *fp = fopen(qf.paths[0], "rb");
    assert_non_null(fp);
    assert_int_equal(fread(head, 1, sizeof head, fp), sizeof head);
    fclose(fp);
    long card = -1;
    for (long k = 0; k < 36 && card < 0; k++)
        if (!strncmp(head + 80 * k, "EXPNUM  =", 9))
            card = k;
    assert_true(card >= 0);
    assert_int_equal(head[80 * card + 29], '1');
    flip_byte(qf.paths[0], 80 * card + 29, '1' ^ '2');
    expect_open(&qf, 4, SSO_OPEN_VERIFY_CHECKSUM, SSO_ERR_CORRUPT, 0, "PRIMARY");
}

/* Replaces the n-th card (0-based) that starts with `key` in the raw file by `card`. */
static void patch_card(const char *path, const char *key, int nth, const char *card)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    const long n = ftell(fp);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    fseek(fp, 0, SEEK_SET);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    long at = -1;
    for (long i = 0; i + 80 <= n && at < 0; i += 80)
        if (!strncmp(buf + i, key, strlen(key)) && nth-- == 0)
            at = i;
    assert_true(at >= 0);
    char c[81];
    snprintf(c, sizeof c, "%-80.80s", card);
    fseek(fp, at, SEEK_SET);
    fwrite(c, 1, 80, fp);
    fclose(fp);
    free(buf);
}

/* One hostile-header case: in a fresh compressed quartet, card(s) of file `file` replaced
 * (patch_card: the nth card starting with key, then optionally a second one), and the open refused
 * with SSO_ERR_BAD_HEADER at that file and extension ext, its message holding `says` (or NULL). */
typedef struct hostile_case {
    const char *why;
    int file;
    const char *key, *card;
    int nth;
    const char *key2, *card2;
    const char *ext, *says;
} hostile_case;

/* Headers that crash cfitsio 4.2 or wcslib 7.12 (found by tests/fuzz) are refused before the
 * libraries parse them. */
static void test_hostile_headers(void **state)
{
    (void)state;
    static const hostile_case cases[] = {
        {"ZTILE2 = 0: cfitsio divides by it", 1, "ZTILE2  =",
         "ZTILE2  =                    0 / size of tiles", 0, NULL, NULL, "HDU 2", "ZTILE2"},
        {"RICE_1's block size is ZVAL1 for cfitsio even without ZNAME1 = 'BLOCKSIZE'", 1,
         "ZNAME1  =", "AZMN1   = 'BLOCKSIZE'", 0, "ZVAL1   =",
         "ZVAL1   =                    0 / pixels per block", "HDU 2", "ZVAL1"},
        {"... and from a card whose '=' is not in column 9: cfitsio finds the value after any '='",
         1, "ZVAL1   =", "ZVAL1   volume 376, page 359; OBS_ID  = '0", 0, NULL, NULL, "HDU 2",
         "ZVAL1"},
        {"cfitsio takes any THEAP* key as the heap offset (the Rice dry run must read that heap)", 1,
         "ZTILE2  =", "THEAP2  =                    1 / size of tiles", 0, NULL, NULL, "HDU 2",
         "THEAP2"},
        {"ZDITHER0 outside 1..10000: cfitsio indexes its dither table with it", 2, "ZDITHER0=",
         "ZDITHER0=                 -683 / dithering offset when quantizing floats", 0, NULL, NULL,
         "HDU 2", "ZDITHER0"},
        {"a string value without its closing quote in an integer keyword (cfitsio's ffc2j)", 2,
         "ZBITPIX =", "ZBITPIX =            'BLOCKSIZE/ data type of original image", 1, NULL, NULL,
         "HDU 3", "closing quote"},
        {"an unquoted value that is no number, longer than ffc2j's error message can take", 2,
         "ZBITPIX =", "ZBITPIX =                  ---------------------------------------------------",
         1, NULL, NULL, "HDU 3", "not an integer"},
        {"a number out of long long's range there: ffc2j's overflow error takes the same path", 2,
         "ZBITPIX =", "ZBITPIX =      22222222222222222222222222222222222222222222222222222222222222222",
         1, NULL, NULL, "HDU 3", "not an integer"},
        {"... and in a keyword we read as an integer ourselves (DITHOBS, through ffc2j as well)", 1,
         "DITHOBS =", "DITHOBS =      22222222222222222222222222222222222222222222222222222222222222222",
         0, NULL, NULL, "PRIMARY", "DITHOBS"},
        {"... also when hexadecimal", 1, "DITHOBS =",
         "DITHOBS = 0x1111111111111111111111111111111111111111", 0, NULL, NULL, "PRIMARY",
         "DITHOBS"},
        {"an unclosed string in the primary header, which cfitsio parses on opening", 0,
         "OBS_ID  =", "OBS_ID  = '002681", 0, NULL, NULL, "PRIMARY", NULL},
        {"'=' in column 9 without the blank after it still makes a value for cfitsio", 1,
         "ZBLANK  =", "ZBLANK  ='BLOCKSIZE-2147483647 / null value", 0, NULL, NULL, "HDU 2", NULL},
        {"bytes that are not printable ASCII (cfitsio's table parser overflows on them)", 2,
         "TTYPE1  =", "TTYPE1  = \xff\xff\xff\xff", 2, NULL, NULL, "HDU 4", "printable"},
    };
    quartet_files qf;
    sso_fg_config c = defaults();
    c.compress = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const hostile_case *k = &cases[i];
        print_message("hostile header: %s\n", k->why);
        make(&qf, &c, "hostile", -1, NULL);
        patch_card(qf.paths[k->file], k->key, k->nth, k->card);
        if (k->key2)
            patch_card(qf.paths[k->file], k->key2, 0, k->card2);
        expect_open(&qf, 4, 0, SSO_ERR_BAD_HEADER, k->file, k->ext);
        if (k->says)
            assert_non_null(strstr(sso_last_error(), k->says));
    }
    /* a second DITHOBS further down the primary header, unreadable: the ingest converts the card it
     * read (a second lookup through fits_read_key searched on to the later card, into ffc2j's
     * overflow): the quartet opens */
    make(&qf, &c, "hostile", -1, NULL);
    patch_card(qf.paths[1], "INSTRUME=", 0,
               "DITHOBS =      22222222222222222222222222222222222222222222222222222222222222222");
    {
        const char *p4[4] = {qf.paths[0], qf.paths[1], qf.paths[2], qf.paths[3]};
        sso_quartet *q = NULL;
        const sso_status st = sso_quartet_open(p4, 4, 0, &q);
        if (st)
            fail_msg("a later duplicate DITHOBS: %s: %s", sso_strerror(st), sso_last_error());
        sso_quartet_free(q);
    }
    /* in a WCS card (wcspih overflows on it) */
    c.compress = 0;
    make(&qf, &c, "hostile", -1, NULL);
    patch_card(qf.paths[3], "CTYPE2  =", 0, "CTYPE2  = 'DEC--TTPU");
    expect_open(&qf, 4, 0, SSO_ERR_BAD_HEADER, 3, "HDU 2");
    /* a compressed-data column that is not a variable-length array: refused before decoding */
    c.compress = 1;
    make(&qf, &c, "hostile", -1, NULL);
    patch_card(qf.paths[1], "TFORM1  =", 1, "TFORM1  = '8B      '");
    sso_quartet *q = NULL;
    const char *p[4] = {qf.paths[0], qf.paths[1], qf.paths[2], qf.paths[3]};
    sso_status st = sso_quartet_open(p, 4, 0, &q);
    if (st == SSO_OK) {
        expect_read(&qf, 0, SSO_ERR_CORRUPT, 1, "1-1.RMS");
        sso_quartet_free(q);
    } else {
        /* cfitsio may already refuse the table at open; either way no crash, and named */
        expect_detail(qf.paths[1], NULL);
    }
}

static void test_generic_errors(void **state)
{
    (void)state;
    quartet_files qf;
    sso_fg_config c = defaults();
    /* a file with only an empty primary HDU: no image */
    make(&qf, &c, "generic", -1, NULL);
    {
        sso_fg_config m = defaults();
        m.n_ccds = 0;
        char err[512];
        assert_int_equal(sso_fg_write(&m, qf.paths[2], err, sizeof err), 0);
    }
    expect_open(&qf, 4, 0, SSO_ERR_MISSING_EXT, 2, "PRIMARY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file),       cmocka_unit_test(test_not_fits),
        cmocka_unit_test(test_truncated),          cmocka_unit_test(test_missing_extension),
        cmocka_unit_test(test_bitpix),             cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_wcs_errors),         cmocka_unit_test(test_time_errors),
        cmocka_unit_test(test_observation_errors), cmocka_unit_test(test_exposure_count),
        cmocka_unit_test(test_all_nan),            cmocka_unit_test(test_corrupt_tile),
        cmocka_unit_test(test_checksum),           cmocka_unit_test(test_generic_errors),
        cmocka_unit_test(test_hostile_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
