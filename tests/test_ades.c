/* tests/test_ades.c: ADES PSV rendering and the observer ephemeris (alerts/ades.c, sso/ades.h).
 *
 * Asserts:
 * - rows of a hand-built alert equal hand-written lines, field for field: column order, padding,
 *   obsTime of MJD 60000.5 = 2023-02-25T12:00:00.000Z (MJD 59945 is 2023-01-01, + 55 d), ra/dec
 *   decimal degrees at 1e-7 (ra 359.99999999 is written 0.0000000, not 360), rms to the mas
 *   (more decimals below 0.5 mas, never 0.000),
 *   logSNR = log10(100) = 2.00, mode CCD, stn, the observer position from the alert, empty fields
 *   for unknowns (and no band/photCat without a magnitude);
 * - the header blocks in ADES order, with the comment block and the column line;
 * - every row of 50 synthetic alerts has SSO_ADES_N_COLUMNS fields and its ra/dec read back
 *   within half a unit of the 7th decimal;
 * - the ephemeris interpolates a cubic exactly on unequal steps (hand-evaluated polynomial),
 *   linearly on the end intervals, refuses to extrapolate; the file reader skips comments and a
 *   header line and rejects malformed lines, unordered samples and missing files;
 * - position precedence: the alert's own position, else the ephemeris, else missing (counted);
 * - the optional observer position in the alert JSON round-trips and is all-or-nothing;
 * - '|' in a text field and a missing station are refused.
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

#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

/* An alert with every field chosen for hand-checkable output. */
static void hand_alert(sso_alert *a)
{
    sso_alert_init(a);
    assert_int_equal(sso_alert_make_id(a, "obs1", "k"), SSO_OK);
    snprintf(a->trk_sub, sizeof a->trk_sub, "K0001");
    snprintf(a->stn, sizeof a->stn, "C57");
    a->n_epochs = 2;
    sso_alert_obs *o = &a->obs[0];
    o->mjd = 60000.5;
    o->ra_deg = 10.5;
    o->dec_deg = -20.25;
    o->rms_ra_arcsec = 0.05;
    o->rms_dec_arcsec = 0.07;
    o->mag = 21.5;
    o->rms_mag = 0.12;
    o->snr = 100.0;
    o->exp_s = 566.0;
    o->pos_km[0] = 1234567.0;
    o->pos_km[1] = -765432.25;
    o->pos_km[2] = 12.5;
    o = &a->obs[1];
    o->mjd = 60000.75;
    o->ra_deg = 359.99999999;
    o->dec_deg = 89.5;
    o->exp_s = 566.0;
}

static void test_rows_by_hand(void **state)
{
    (void)state;
    sso_alert a;
    sso_ades_opts o;
    char *rows = NULL;
    size_t missing = 99;
    hand_alert(&a);
    sso_ades_opts_default(&o);
    assert_int_equal(sso_ades_rows(&o, &a, &rows, &missing), SSO_OK);
    const char *want =
        "K0001   |CCD |C57 |ICRF_KM|399|1234567.000  |-765432.250  |12.500       |"
        "2023-02-25T12:00:00.000Z|10.5000000 |-20.2500000|0.050 |0.070 |Gaia3 |21.50|0.12  |"
        "VIS |Gaia3  |2.00  |566.0\n"
        "K0001   |CCD |C57 |       |   |             |             |             |"
        "2023-02-25T18:00:00.000Z|0.0000000  |+89.5000000|      |      |Gaia3 |     |      |"
        "    |       |      |566.0\n";
    assert_string_equal(rows, want);
    assert_int_equal(missing, 1);
    free(rows);

    /* the station setting overrides the alert's, a band setting replaces the epoch's */
    o.stn = "X01";
    o.band = "Vi";
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_OK);
    assert_non_null(strstr(rows, "|X01 |ICRF_KM|"));
    assert_non_null(strstr(rows, "|21.50|0.12  |Vi  |Gaia3  |"));
    assert_null(strstr(rows, "C57"));
    free(rows);

    /* an rms below half a mas gets the decimals it needs rather than "0.000" */
    a.obs[0].rms_ra_arcsec = 0.0004;
    a.obs[0].rms_dec_arcsec = 0.00004;
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_OK);
    assert_non_null(strstr(rows, "|-20.2500000|0.0004|0.00004|Gaia3 |"));
    free(rows);
}

static void test_header(void **state)
{
    (void)state;
    sso_ades_opts o;
    char *h = NULL;
    const char *c[2] = {"first note", "second note"};
    sso_ades_opts_default(&o);
    assert_int_equal(sso_ades_header(&o, "C57", c, 2, &h), SSO_OK);
    const char *want = "# version=2017\n"
                       "# observatory\n! mpcCode C57\n! name Euclid\n"
                       "# submitter\n! name sso\n"
                       "# observers\n! name Euclid Consortium\n"
                       "# measurers\n! name sso\n"
                       "# telescope\n! name Euclid 1.2-m Korsch + VIS\n"
                       "# comment\n! line first note\n! line second note\n"
                       "trkSub  |mode|stn |sys    |ctr|pos1         |pos2         |pos3         |"
                       "obsTime                 |ra         |dec        |rmsRA |rmsDec|astCat|mag  |"
                       "rmsMag|band|photCat|logSNR|exp\n";
    assert_string_equal(h, want);
    free(h);
    /* the column names are SSO_ADES_COLUMNS, padded */
    assert_int_equal(sso_ades_header(&o, "C57", NULL, 0, &h), SSO_OK);
    const char *cols = strstr(h, "trkSub");
    assert_non_null(cols);
    char squeezed[512];
    size_t k = 0;
    for (const char *p = cols; *p && *p != '\n' && k + 1 < sizeof squeezed; p++)
        if (*p != ' ')
            squeezed[k++] = *p;
    squeezed[k] = 0;
    assert_string_equal(squeezed, SSO_ADES_COLUMNS);
    assert_null(strstr(h, "# comment"));
    free(h);
    /* no station, or a '|' in a text, is refused */
    assert_int_equal(sso_ades_header(&o, "", NULL, 0, &h), SSO_ERR_ARG);
    assert_null(h);
    o.submitter = "a|b";
    assert_int_equal(sso_ades_header(&o, "C57", NULL, 0, &h), SSO_ERR_ARG);
    sso_ades_opts_default(&o);
    const char *bad[1] = {"line\nbreak"};
    assert_int_equal(sso_ades_header(&o, "C57", bad, 1, &h), SSO_ERR_ARG);
}

static int count_fields(const char *line, size_t len)
{
    int n = 1;
    for (size_t i = 0; i < len; i++)
        n += line[i] == '|';
    return n;
}

static void test_field_counts_synth(void **state)
{
    (void)state;
    sso_ades_opts o;
    sso_ades_opts_default(&o);
    for (uint64_t i = 0; i < 50; i++) {
        sso_alert a;
        char *rows = NULL;
        assert_int_equal(sso_alert_synth(7, "syn", i, &a), SSO_OK);
        assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_OK);
        const char *p = rows;
        for (int k = 0; k < a.n_epochs; k++) {
            const char *nl = strchr(p, '\n');
            assert_non_null(nl);
            assert_int_equal(count_fields(p, (size_t)(nl - p)), SSO_ADES_N_COLUMNS);
            /* fields 10 and 11 (1-based) are ra and dec */
            const char *f = p;
            for (int c = 0; c < 9; c++)
                f = strchr(f, '|') + 1;
            double ra = strtod(f, NULL);
            double dec = strtod(strchr(f, '|') + 1, NULL);
            assert_true(fabs(ra - a.obs[k].ra_deg) <= 0.5e-7 + 1e-12);
            assert_true(fabs(dec - a.obs[k].dec_deg) <= 0.5e-7 + 1e-12);
            p = nl + 1;
        }
        assert_int_equal(*p, 0);
        free(rows);
    }
}

/* x = t^3 - 2 t^2 + 3 t + 7, y = 5 t - 1, z = -t^2 */
static void poly(double t, double p[3])
{
    p[0] = t * t * t - 2 * t * t + 3 * t + 7;
    p[1] = 5 * t - 1;
    p[2] = -t * t;
}

static void test_ephem_interpolation(void **state)
{
    (void)state;
    const double t[5] = {0.0, 1.0, 2.5, 4.0, 6.0};
    double pos[5][3], p[3];
    for (int i = 0; i < 5; i++)
        poly(t[i], pos[i]);
    sso_ephem *e = NULL;
    assert_int_equal(sso_ephem_from_samples(t, (const double(*)[3])pos, 5, &e), SSO_OK);
    /* interior interval [2.5, 4] with nodes 1 and 6 beyond: cubic, exact. By hand at t = 3:
     * x = 27 - 18 + 9 + 7 = 25, y = 14, z = -9. */
    assert_int_equal(sso_ephem_at(e, 3.0, p), 1);
    assert_true(fabs(p[0] - 25.0) < 1e-12 && fabs(p[1] - 14.0) < 1e-12 && fabs(p[2] + 9.0) < 1e-12);
    /* first interval [0, 1]: linear between x(0) = 7 and x(1) = 9, z(0) = 0 and z(1) = -1 */
    assert_int_equal(sso_ephem_at(e, 0.5, p), 1);
    assert_true(fabs(p[0] - 8.0) < 1e-12 && fabs(p[1] - 1.5) < 1e-12 && fabs(p[2] + 0.5) < 1e-12);
    /* the ends themselves: x(6) = 216 - 72 + 18 + 7 = 169 */
    assert_int_equal(sso_ephem_at(e, 6.0, p), 1);
    assert_true(fabs(p[0] - 169.0) < 1e-12);
    assert_int_equal(sso_ephem_at(e, 0.0, p), 1);
    assert_true(fabs(p[0] - 7.0) < 1e-12);
    /* no extrapolation */
    assert_int_equal(sso_ephem_at(e, -1e-9, p), 0);
    assert_true(isnan(p[0]) && isnan(p[1]) && isnan(p[2]));
    assert_int_equal(sso_ephem_at(e, 6.0 + 1e-9, p), 0);
    assert_int_equal(sso_ephem_at(e, NAN, p), 0);
    sso_ephem_free(e);
    /* unordered or too few samples */
    const double t2[3] = {0.0, 2.0, 1.0};
    assert_int_equal(sso_ephem_from_samples(t2, (const double(*)[3])pos, 3, &e), SSO_ERR_ARG);
    assert_int_equal(sso_ephem_from_samples(t, (const double(*)[3])pos, 1, &e), SSO_ERR_ARG);
    sso_ephem_free(NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_ephem_file(void **state)
{
    (void)state;
    char path[4096];
    sso_ephem *e = NULL;
    double p[3];
    sso_test_path(path, sizeof path, "ephem.csv");
    write_file(path, "# Euclid, geocentric ICRF km\nmjd,x_km,y_km,z_km\n"
                     "60000.0, 1000, -2000, 300\n\n# a comment between samples\n"
                     "60001.0,1100,-2100,400\n");
    assert_int_equal(sso_ephem_load(path, &e), SSO_OK);
    assert_int_equal(sso_ephem_at(e, 60000.25, p), 1);
    assert_true(fabs(p[0] - 1025.0) < 1e-9 && fabs(p[1] + 2025.0) < 1e-9 &&
                fabs(p[2] - 325.0) < 1e-9);
    sso_ephem_free(e);
    e = NULL;
    write_file(path, "60000.0,1,2,3\n60001.0,1,2\n");
    assert_int_equal(sso_ephem_load(path, &e), SSO_ERR_ARG);
    assert_non_null(strstr(sso_last_error(), "line 2"));
    write_file(path, "60000.0,1,2,3\n60001.0,1,2,3,4\n");
    assert_int_equal(sso_ephem_load(path, &e), SSO_ERR_ARG);
    write_file(path, "60001.0,1,2,3\n60000.0,1,2,3\n");
    assert_int_equal(sso_ephem_load(path, &e), SSO_ERR_ARG);
    write_file(path, "mjd,x,y,z\nmjd,x,y,z\n60000,1,2,3\n60001,1,2,3\n"); /* one header only */
    assert_int_equal(sso_ephem_load(path, &e), SSO_ERR_ARG);
    sso_test_path(path, sizeof path, "no-such-ephem.csv");
    assert_int_equal(sso_ephem_load(path, &e), SSO_ERR_IO);
    assert_null(e);
}

static void test_position_precedence(void **state)
{
    (void)state;
    sso_alert a;
    sso_ades_opts o;
    double p[3];
    const double t[2] = {60000.0, 60001.0};
    const double pos[2][3] = {{0, 0, 0}, {4000, 8000, -400}};
    sso_ephem *e = NULL;
    hand_alert(&a);
    sso_ades_opts_default(&o);
    assert_int_equal(sso_ades_position(&o, &a, 0, p), SSO_ADES_POS_ALERT);
    assert_true(p[0] == 1234567.0);
    assert_int_equal(sso_ades_position(&o, &a, 1, p), SSO_ADES_POS_MISSING);
    assert_true(isnan(p[0]));
    assert_int_equal(sso_ephem_from_samples(t, pos, 2, &e), SSO_OK);
    o.ephem = e;
    assert_int_equal(sso_ades_position(&o, &a, 0, p), SSO_ADES_POS_ALERT); /* alert first */
    assert_int_equal(sso_ades_position(&o, &a, 1, p), SSO_ADES_POS_EPHEM);
    /* 60000.75 is 3/4 of the way: (3000, 6000, -300) */
    assert_true(fabs(p[0] - 3000) < 1e-6 && fabs(p[1] - 6000) < 1e-6 && fabs(p[2] + 300) < 1e-6);
    char *rows = NULL;
    size_t missing = 9;
    assert_int_equal(sso_ades_rows(&o, &a, &rows, &missing), SSO_OK);
    assert_int_equal(missing, 0);
    assert_non_null(strstr(rows, "|ICRF_KM|399|3000.000     |6000.000     |-300.000     |"
                                 "2023-02-25T18:00:00.000Z|"));
    free(rows);
    /* an epoch outside the ephemeris is missing again */
    a.obs[1].mjd = 60002.0;
    assert_int_equal(sso_ades_position(&o, &a, 1, p), SSO_ADES_POS_MISSING);
    sso_ephem_free(e);
}

static void test_json_position(void **state)
{
    (void)state;
    sso_alert a, b;
    char *j = NULL;
    size_t n = 0;
    hand_alert(&a);
    assert_int_equal(sso_alert_to_json(&a, 1, &j, &n), SSO_OK);
    assert_non_null(strstr(j, "\"sys\":\"ICRF_KM\",\"ctr\":399,\"pos1\":1234567,\"pos2\":-765432.25,"
                              "\"pos3\":12.5}"));
    /* epoch 1 has no position: exactly one "pos1" in the text */
    assert_null(strstr(strstr(j, "pos1") + 4, "pos1"));
    assert_int_equal(sso_alert_from_json(j, n, &b), SSO_OK);
    assert_true(b.obs[0].pos_km[0] == 1234567.0 && b.obs[0].pos_km[1] == -765432.25 &&
                b.obs[0].pos_km[2] == 12.5);
    assert_true(isnan(b.obs[1].pos_km[0]) && isnan(b.obs[1].pos_km[2]));
    /* all or nothing, ICRF_KM about the geocentre only */
    char *bad = strdup(j);
    char *s = strstr(bad, "\"ICRF_KM\"");
    memcpy(s, "\"WGS84\"  ", 9);
    assert_int_equal(sso_alert_from_json(bad, strlen(bad), &b), SSO_ERR_ARG);
    strcpy(bad, j);
    s = strstr(bad, "399");
    memcpy(s, "10 ", 3);
    assert_int_equal(sso_alert_from_json(bad, strlen(bad), &b), SSO_ERR_ARG);
    strcpy(bad, j);
    s = strstr(bad, "\"pos3\"");
    memcpy(s, "\"posX\"", 6);
    assert_int_equal(sso_alert_from_json(bad, strlen(bad), &b), SSO_ERR_ARG);
    free(bad);
    free(j);
    /* an alert without any position writes none of the keys */
    a.obs[0].pos_km[1] = NAN;
    assert_int_equal(sso_alert_to_json(&a, 1, &j, NULL), SSO_OK);
    assert_null(strstr(j, "pos1"));
    assert_null(strstr(j, "ICRF_KM"));
    free(j);
}

static void test_refusals(void **state)
{
    (void)state;
    sso_alert a;
    sso_ades_opts o;
    char *rows = NULL;
    sso_ades_opts_default(&o);
    hand_alert(&a);
    snprintf(a.trk_sub, sizeof a.trk_sub, "K|01");
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_ERR_ARG);
    assert_null(rows);
    hand_alert(&a);
    a.stn[0] = 0;
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_ERR_ARG);
    o.stn = "C57"; /* the setting supplies it */
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_OK);
    free(rows);
    rows = NULL;
    o.ast_cat = "Gaia|3";
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_ERR_ARG);
    sso_ades_opts_default(&o);
    a.n_epochs = 0; /* invalid alert */
    assert_int_equal(sso_ades_rows(&o, &a, &rows, NULL), SSO_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_by_hand),        cmocka_unit_test(test_header),
        cmocka_unit_test(test_field_counts_synth),  cmocka_unit_test(test_ephem_interpolation),
        cmocka_unit_test(test_ephem_file),          cmocka_unit_test(test_position_precedence),
        cmocka_unit_test(test_json_position),       cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
