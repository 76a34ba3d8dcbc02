/* tests/test_sim_files.c: what `sso sim` writes, read back with cfitsio directly.
 *
 *   - layout: 4 files named EUC_VIS_SWL-DET-002681-0<d>-1-0000000__<UTC start>.fits (starts 921 s
 *     apart), primary keys (OBS_ID, DITHOBS, EXPNUM, DATE-OBS, MJD-OBS, EXPTIME = 566, ...), per
 *     detector SCI/RMS/FLG with the right types, sizes, keys (GAIN, MAGZEROP, WCS, CCDID) and valid
 *     checksums, in a shuffled order;
 *   - determinism: the same seed twice, and 1 vs 3 threads, give byte-identical files; another
 *     seed gives other pixels;
 *   - quadrants: 4 detectors per CCD whose pixels are exactly the CCD-level pixels at the
 *     documented offsets; compression: readable, FLG lossless, SCI within the quantisation;
 *   - truth.csv: the exact header, one row per mover per epoch, consistent fields;
 *   - bad configurations fail with SSO_ERR_ARG / SSO_ERR_IO.
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

#include "sso/sso.h"
#include "testutil.h"

static const char *const g_names[4] = {
    "EUC_VIS_SWL-DET-002681-01-1-0000000__20241017T042839.727728Z.fits",
    "EUC_VIS_SWL-DET-002681-02-1-0000000__20241017T044400.727728Z.fits",
    "EUC_VIS_SWL-DET-002681-03-1-0000000__20241017T045921.727728Z.fits",
    "EUC_VIS_SWL-DET-002681-04-1-0000000__20241017T051442.727728Z.fits"};

static void base_config(sso_sim_config *c)
{
    assert_int_equal(sso_sim_config_preset(c, SSO_SIM_PRESET_DEMO), SSO_OK);
    assert_int_equal(sso_sim_config_set_ccds(c, "3-3,3-4"), SSO_OK);
    c->width_px = 256;
    c->height_px = 258;
    c->n_movers = 6;
    c->threads = 2;
    c->seed = 7;
}

static void run_sim(const sso_sim_config *c, const char *name, char *dir, size_t n)
{
    sso_test_path(dir, n, name);
    sso_status st = sso_sim_run(c, dir);
    if (st)
        fprintf(stderr, "sso_sim_run: %s: %s\n", sso_strerror(st), sso_last_error());
    assert_int_equal(st, SSO_OK);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int files_equal(const char *a, const char *b)
{
    size_t na, nb;
    char *x = read_file(a, &na), *y = read_file(b, &nb);
    int eq = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return eq;
}

static fitsfile *open_fits(const char *dir, int d)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, g_names[d]);
    fitsfile *f = NULL;
    int st = 0;
    fits_open_diskfile(&f, path, READONLY, &st);
    if (st)
        fprintf(stderr, "cannot open %s\n", path);
    assert_int_equal(st, 0);
    return f;
}

/* Reads one image extension by name into a float (or int) buffer. */
static void *read_ext(fitsfile *f, const char *extname, int datatype, long *w, long *h)
{
    int st = 0;
    fits_movnam_hdu(f, IMAGE_HDU, (char *)extname, 0, &st);
    assert_int_equal(st, 0);
    long ax[2];
    fits_get_img_size(f, 2, ax, &st);
    *w = ax[0];
    *h = ax[1];
    size_t n = (size_t)ax[0] * ax[1];
    void *buf = malloc(n * 4);
    assert_non_null(buf);
    int any = 0;
    fits_read_img(f, datatype, 1, (LONGLONG)n, NULL, buf, &any, &st);
    assert_int_equal(st, 0);
    return buf;
}

static void test_layout(void **state)
{
    (void)state;
    sso_sim_config c;
    base_config(&c);
    char dir[4096];
    run_sim(&c, "layout", dir, sizeof dir);
    const double magzp = 25.6 - 2.5 * log10(3.48);
    int canonical_files = 0;
    for (int d = 0; d < 4; d++) {
        /* sso_sim_exposure_path names the same files. */
        char p1[4200], p2[4200];
        snprintf(p1, sizeof p1, "%s/%s", dir, g_names[d]);
        assert_int_equal(sso_sim_exposure_path(&c, dir, d + 1, p2, sizeof p2), SSO_OK);
        assert_string_equal(p1, p2);

        fitsfile *f = open_fits(dir, d);
        int st = 0, nhdu = 0, ival = 0;
        long lval = 0;
        double dval = 0;
        char sval[FLEN_VALUE];
        fits_get_num_hdus(f, &nhdu, &st);
        assert_int_equal(nhdu, 1 + 2 * 3);
        fits_read_key(f, TLONG, "OBS_ID", &lval, NULL, &st);
        assert_int_equal(lval, 2681);
        fits_read_key(f, TINT, "DITHOBS", &ival, NULL, &st);
        assert_int_equal(ival, d + 1);
        fits_read_key(f, TLONG, "EXPNUM", &lval, NULL, &st);
        fits_read_key(f, TDOUBLE, "EXPTIME", &dval, NULL, &st);
        assert_true(dval == 566.0);
        fits_read_key(f, TDOUBLE, "MJD-OBS", &dval, NULL, &st);
        double mjd_expect = 60600.0 + (4 * 3600 + 28 * 60 + 39.727728 + d * 921.0) / 86400.0;
        assert_true(fabs(dval - mjd_expect) * 86400.0 < 1e-5);
        fits_read_key(f, TSTRING, "DATE-OBS", sval, NULL, &st);
        assert_int_equal(strncmp(sval, "2024-10-17T0", 12), 0);
        fits_read_key(f, TSTRING, "TELESCOP", sval, NULL, &st);
        assert_string_equal(sval, "EUCLID");
        fits_read_key(f, TSTRING, "INSTRUME", sval, NULL, &st);
        assert_string_equal(sval, "VIS");
        fits_read_key(f, TDOUBLE, "RA", &dval, NULL, &st);
        fits_read_key(f, TDOUBLE, "DEC", &dval, NULL, &st);
        assert_int_equal(st, 0);
        int dok = 0, hok = 0;
        fits_verify_chksum(f, &dok, &hok, &st);
        assert_int_equal(hok, 1);

        const char *expect[6] = {"3-3.SCI", "3-3.RMS", "3-3.FLG", "3-4.SCI", "3-4.RMS", "3-4.FLG"};
        int seen[6] = {0}, canonical = 1;
        for (int h = 2; h <= nhdu; h++) {
            int type;
            fits_movabs_hdu(f, h, &type, &st);
            assert_int_equal(type, IMAGE_HDU);
            char ext[FLEN_VALUE];
            fits_read_key(f, TSTRING, "EXTNAME", ext, NULL, &st);
            int k = -1;
            for (int i = 0; i < 6; i++)
                if (!strcmp(ext, expect[i]))
                    k = i;
            assert_true(k >= 0);
            assert_false(seen[k]);
            seen[k] = 1;
            if (k != h - 2)
                canonical = 0;
            int bitpix;
            long ax[2];
            fits_get_img_type(f, &bitpix, &st);
            fits_get_img_size(f, 2, ax, &st);
            assert_int_equal(bitpix, k % 3 == 2 ? LONG_IMG : FLOAT_IMG);
            assert_int_equal(ax[0], 256);
            assert_int_equal(ax[1], 258);
            fits_read_key(f, TDOUBLE, "GAIN", &dval, NULL, &st);
            assert_true(fabs(dval - 3.48) < 1e-12);
            fits_read_key(f, TDOUBLE, "MAGZEROP", &dval, NULL, &st);
            assert_true(fabs(dval - magzp) < 1e-9);
            fits_read_key(f, TSTRING, "CCDID", sval, NULL, &st);
            assert_int_equal(strncmp(sval, ext, 3), 0);
            fits_read_key(f, TSTRING, "CTYPE1", sval, NULL, &st);
            assert_string_equal(sval, "RA---TPV");
            fits_read_key(f, TSTRING, "CTYPE2", sval, NULL, &st);
            assert_string_equal(sval, "DEC--TPV");
            fits_read_key(f, TDOUBLE, "PV1_7", &dval, NULL, &st);
            fits_read_key(f, TDOUBLE, "CRPIX1", &dval, NULL, &st);
            assert_true(dval == 128.5);
            fits_read_key(f, TDOUBLE, "CRPIX2", &dval, NULL, &st);
            assert_true(dval == 129.5);
            if (k % 3 != 2) {
                fits_read_key(f, TSTRING, "BUNIT", sval, NULL, &st);
                assert_string_equal(sval, "ADU");
            }
            assert_int_equal(st, 0);
            dok = hok = 0;
            fits_verify_chksum(f, &dok, &hok, &st);
            assert_int_equal(dok, 1);
            assert_int_equal(hok, 1);
        }
        canonical_files += canonical;
        fits_close_file(f, &st);
    }
    assert_true(canonical_files < 4); /* shuffled (with 6! orders, all four sorted is ~1e-11) */

    /* truth.csv */
    char path[4200];
    snprintf(path, sizeof path, "%s/truth.csv", dir);
    size_t len;
    char *csv = read_file(path, &len);
    const char *hdr = "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y\n";
    assert_int_equal(strncmp(csv, hdr, strlen(hdr)), 0);
    int rows = 0, on_det = 0;
    char *save = NULL;
    for (char *line = strtok_r(csv + strlen(hdr), "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char f[14][64];
        int nf = 0;
        const char *p = line;
        while (nf < 14) {
            const char *q = strchr(p, ',');
            size_t l = q ? (size_t)(q - p) : strlen(p);
            assert_true(l < 64);
            memcpy(f[nf], p, l);
            f[nf][l] = 0;
            nf++;
            if (!q)
                break;
            p = q + 1;
        }
        assert_int_equal(nf, 14);
        int id = atoi(f[0]), epoch = atoi(f[2]);
        assert_true(id >= 1 && id <= c.n_movers);
        assert_true(epoch >= 1 && epoch <= 4);
        assert_int_equal(rows % 4 + 1, epoch);
        double rate = atof(f[7]), mag = atof(f[6]), snr = atof(f[10]);
        assert_string_equal(f[1], rate < 10.0 ? "slow" : "fast");
        assert_true(rate >= c.rate_min_arcsec_h - 1e-4 && rate <= c.rate_max_arcsec_h + 1e-4);
        assert_true(mag >= c.mag_min && mag <= c.mag_max);
        double mjd_mid = 60600.0 + (4 * 3600 + 28 * 60 + 39.727728 + (epoch - 1) * 921.0 + 283.0)
                                       / 86400.0;
        assert_true(fabs(atof(f[3]) - mjd_mid) * 86400.0 < 1e-3);
        assert_true(snr >= 0.0);
        /* trail ~ 1.57 px per arcsec/h */
        assert_true(fabs(atof(f[9]) - 1.572 * rate) < 0.02 * 1.572 * rate + 0.01);
        if (f[11][0]) {
            assert_true(!strcmp(f[11], "3-3") || !strcmp(f[11], "3-4"));
            double x = atof(f[12]), y = atof(f[13]);
            assert_true(x >= 0.5 && x < 256.5 && y >= 0.5 && y < 258.5);
            assert_true(snr > 0.0);
            on_det++;
        } else {
            assert_int_equal(f[12][0], 0);
            assert_int_equal(f[13][0], 0);
        }
        rows++;
    }
    assert_int_equal(rows, 4 * c.n_movers);
    assert_true(on_det >= c.n_movers); /* each mover is placed on a detector at one epoch */
    free(csv);
}

static void test_determinism(void **state)
{
    (void)state;
    sso_sim_config c;
    base_config(&c);
    char a[4096], b[4096], s[4096], pa[4200], pb[4200];
    c.threads = 1;
    run_sim(&c, "det_a", a, sizeof a);
    c.threads = 3;
    run_sim(&c, "det_b", b, sizeof b);
    for (int d = 0; d < 4; d++) {
        snprintf(pa, sizeof pa, "%s/%s", a, g_names[d]);
        snprintf(pb, sizeof pb, "%s/%s", b, g_names[d]);
        assert_true(files_equal(pa, pb));
    }
    snprintf(pa, sizeof pa, "%s/truth.csv", a);
    snprintf(pb, sizeof pb, "%s/truth.csv", b);
    assert_true(files_equal(pa, pb));
    /* Another seed: other pixels. */
    c.seed = 8;
    run_sim(&c, "det_s", s, sizeof s);
    fitsfile *f1 = open_fits(a, 0), *f2 = open_fits(s, 0);
    long w, h, w2, h2;
    float *x = read_ext(f1, "3-3.SCI", TFLOAT, &w, &h), *y = read_ext(f2, "3-3.SCI", TFLOAT, &w2, &h2);
    size_t ndiff = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        ndiff += x[i] != y[i];
    assert_true(ndiff > (size_t)w * h / 2);
    free(x);
    free(y);
    int st = 0;
    fits_close_file(f1, &st);
    fits_close_file(f2, &st);
}

static void test_quadrants_and_compression(void **state)
{
    (void)state;
    sso_sim_config c;
    base_config(&c);
    char full[4096], quad[4096], comp[4096];
    run_sim(&c, "q_full", full, sizeof full);
    c.quadrants = 1;
    run_sim(&c, "q_quad", quad, sizeof quad);
    c.compress = 1;
    run_sim(&c, "q_comp", comp, sizeof comp);
    static const char *const qn[4] = {"E", "F", "G", "H"};
    static const int qox[4] = {0, 128, 128, 0}, qoy[4] = {0, 0, 129, 129};
    static const char *const planes[3] = {"SCI", "RMS", "FLG"};
    for (int d = 0; d < 4; d += 3) {
        fitsfile *ff = open_fits(full, d), *fq = open_fits(quad, d), *fc = open_fits(comp, d);
        int st = 0, n = 0;
        fits_get_num_hdus(fq, &n, &st);
        assert_int_equal(n, 1 + 2 * 4 * 3);
        fits_get_num_hdus(fc, &n, &st);
        assert_int_equal(n, 1 + 2 * 4 * 3);
        for (int p = 0; p < 3; p++) {
            long w, h;
            char name[32];
            int dt = p == 2 ? TINT : TFLOAT;
            snprintf(name, sizeof name, "3-4.%s", planes[p]);
            void *whole = read_ext(ff, name, dt, &w, &h);
            for (int q = 0; q < 4; q++) {
                long wq, hq, wc, hc;
                snprintf(name, sizeof name, "3-4.%s.%s", qn[q], planes[p]);
                void *part = read_ext(fq, name, dt, &wq, &hq);
                assert_int_equal(wq, 128);
                assert_int_equal(hq, 129);
                int comp_flag = 0;
                void *cpart = read_ext(fc, name, dt, &wc, &hc);
                comp_flag = fits_is_compressed_image(fc, &st);
                assert_true(comp_flag);
                char sval[FLEN_VALUE];
                fits_read_key(fq, TSTRING, "QUADID", sval, NULL, &st);
                assert_string_equal(sval, qn[q]);
                double crpix1, crpix2;
                fits_read_key(fq, TDOUBLE, "CRPIX1", &crpix1, NULL, &st);
                fits_read_key(fq, TDOUBLE, "CRPIX2", &crpix2, NULL, &st);
                assert_true(crpix1 == 128.5 - qox[q] && crpix2 == 129.5 - qoy[q]);
                for (long y = 0; y < hq; y++)
                    for (long x = 0; x < wq; x++) {
                        size_t iq = (size_t)y * wq + x, iw = (size_t)(y + qoy[q]) * w + x + qox[q];
                        if (p == 2) {
                            assert_int_equal(((int32_t *)part)[iq], ((int32_t *)whole)[iw]);
                            assert_int_equal(((int32_t *)cpart)[iq], ((int32_t *)whole)[iw]);
                        } else {
                            float v = ((float *)whole)[iw];
                            assert_true(((float *)part)[iq] == v);
                            /* quantised at ~noise/16: well below 1 ADU for SCI (sigma ~3.3) */
                            assert_true(fabsf(((float *)cpart)[iq] - v) < (p == 0 ? 1.0f : 0.05f));
                        }
                    }
                free(part);
                free(cpart);
            }
            free(whole);
        }
        fits_close_file(ff, &st);
        fits_close_file(fq, &st);
        fits_close_file(fc, &st);
    }
    /* truth in quadrant mode names quadrant detectors */
    char path[4200];
    snprintf(path, sizeof path, "%s/truth.csv", quad);
    size_t len;
    char *csv = read_file(path, &len);
    assert_non_null(strstr(csv, ",3-3.") ? strstr(csv, ",3-3.") : strstr(csv, ",3-4."));
    free(csv);
}

static void test_bad_configs(void **state)
{
    (void)state;
    sso_sim_config c;
    char dir[4096];
    sso_test_path(dir, sizeof dir, "bad");
    base_config(&c);
    snprintf(c.ccds[1], sizeof c.ccds[1], "7-7");
    assert_int_equal(sso_sim_run(&c, dir), SSO_ERR_ARG);
    base_config(&c);
    c.width_px = 10;
    assert_int_equal(sso_sim_run(&c, dir), SSO_ERR_ARG);
    base_config(&c);
    c.quadrants = 1;
    c.width_px = 255;
    assert_int_equal(sso_sim_run(&c, dir), SSO_ERR_ARG);
    base_config(&c);
    c.mag_min = 25;
    c.mag_max = 20;
    assert_int_equal(sso_sim_run(&c, dir), SSO_ERR_ARG);
    base_config(&c);
    c.rate_min_arcsec_h = 0;
    assert_int_equal(sso_sim_run(&c, dir), SSO_ERR_ARG);
    assert_int_equal(sso_sim_config_set_ccds(&c, "3-3,3-3"), SSO_ERR_ARG);
    assert_int_equal(sso_sim_config_set_ccds(&c, "3-3,,3-4"), SSO_ERR_ARG);
    assert_int_equal(sso_sim_config_set_ccds(&c, "2x2"), SSO_OK);
    assert_int_equal(c.n_ccds, 4);
    assert_string_equal(c.ccds[0], "3-3");
    assert_string_equal(c.ccds[3], "4-4");
    sso_sim_preset p;
    assert_int_equal(sso_sim_preset_from_name("field", &p), SSO_OK);
    assert_int_equal(p, SSO_SIM_PRESET_FIELD);
    assert_int_equal(sso_sim_preset_from_name("huge", &p), SSO_ERR_ARG);
    /* An output directory that cannot be made: below a regular file. */
    char file[4096], sub[4200];
    sso_test_path(file, sizeof file, "plainfile");
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(sub, sizeof sub, "%s/out", file);
    base_config(&c);
    assert_int_equal(sso_sim_run(&c, sub), SSO_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_quadrants_and_compression),
        cmocka_unit_test(test_bad_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
