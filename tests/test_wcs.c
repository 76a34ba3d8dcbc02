/* tests/test_wcs.c: sso_wcs (host/wcs.c) against formulas worked out by hand.
 *
 * Headers are built card by card here, so every coefficient is known. Expected sky positions come
 * from the gnomonic (TAN) projection written out for CRVAL = (0, 0):
 *   X = xi [rad], Y = eta [rad];  ra = atan2(X, 1),  dec = atan(Y / sqrt(1 + X^2))
 * where (xi, eta) are the intermediate world coordinates [deg] = CD . (u, v) with u = x - CRPIX1,
 * v = y - CRPIX2, after the distortion: SIP adds A_p_q u^p v^q to u before the CD matrix; TPV maps
 * (xi, eta) through its polynomial after it (xi' = PV1_1 xi + PV1_4 xi^2 + ...).
 * Nothing here is computed by the code under test.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sso/sso.h"

#define DEG (3.14159265358979323846 / 180.0)

typedef struct hdr {
    char buf[80 * 200 + 1];
    int n;
} hdr;

static void card(hdr *h, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(h->buf + 80 * h->n, 81, "%-80.80s", tmp);
    h->n++;
}

/* A minimal 2-D image header with CRVAL (ra0, dec0), CRPIX (1000, 1000), CD = diag(cd, cd). */
static void base_header(hdr *h, const char *ctype1, const char *ctype2, double ra0, double dec0,
                        double cd)
{
    memset(h, 0, sizeof *h);
    card(h, "SIMPLE  =                    T");
    card(h, "BITPIX  =                  -32");
    card(h, "NAXIS   =                    2");
    card(h, "NAXIS1  =                 2000");
    card(h, "NAXIS2  =                 2000");
    card(h, "CTYPE1  = '%s'", ctype1);
    card(h, "CTYPE2  = '%s'", ctype2);
    card(h, "CRVAL1  = %20.12f", ra0);
    card(h, "CRVAL2  = %20.12f", dec0);
    card(h, "CRPIX1  =               1000.0");
    card(h, "CRPIX2  =               1000.0");
    card(h, "CD1_1   = %20.12e", cd);
    card(h, "CD1_2   =                  0.0");
    card(h, "CD2_1   =                  0.0");
    card(h, "CD2_2   = %20.12e", cd);
}

static sso_wcs *make(hdr *h)
{
    card(h, "END");
    sso_wcs *w = NULL;
    sso_status st = sso_wcs_from_header(h->buf, h->n, "test.fits, extension 1-1.SCI", &w);
    if (st != SSO_OK)
        print_error("sso_wcs_from_header: %s: %s\n", sso_strerror(st), sso_last_error());
    assert_int_equal(st, SSO_OK);
    assert_non_null(w);
    return w;
}

/* The gnomonic projection at CRVAL = (0, 0) for intermediate coordinates in degrees. */
static void tan00(double xi_deg, double eta_deg, double *ra_deg, double *dec_deg)
{
    const double X = xi_deg * DEG, Y = eta_deg * DEG;
    double ra = atan2(X, 1.0) / DEG;
    if (ra < 0)
        ra += 360.0;
    *ra_deg = ra;
    *dec_deg = atan(Y / sqrt(1.0 + X * X)) / DEG;
}

static void p2s1(const sso_wcs *w, double x, double y, double *ra, double *dec)
{
    assert_int_equal(sso_wcs_pix2sky(w, 1, &x, &y, ra, dec), SSO_OK);
}

static void test_tan_hand_computed(void **state)
{
    (void)state;
    hdr h;
    /* 1e-2 deg/px: 1000 px is 10 deg, where TAN differs from linear by 0.1 deg. */
    base_header(&h, "RA---TAN", "DEC--TAN", 0.0, 0.0, 1e-2);
    sso_wcs *w = make(&h);
    assert_string_equal(sso_wcs_projection(w), "TAN");
    assert_int_equal(sso_wcs_has_sip(w), 0);

    double ra, dec, era, edec;
    p2s1(w, 1000.0, 1000.0, &ra, &dec); /* CRPIX -> CRVAL */
    assert_true(fabs(ra - 0.0) < 1e-12 || fabs(ra - 360.0) < 1e-12);
    assert_true(fabs(dec) < 1e-12);

    p2s1(w, 2000.0, 1000.0, &ra, &dec); /* 1000 px along x: xi = 10 deg */
    tan00(10.0, 0.0, &era, &edec);
    assert_true(fabs(ra - era) < 1e-10);
    assert_true(fabs(dec - edec) < 1e-10);
    assert_true(fabs(ra - 9.9) < 0.01); /* atan(0.17453) = 9.9035 deg, not 10 */

    p2s1(w, 1500.0, 1300.0, &ra, &dec); /* xi = 5, eta = 3 deg */
    tan00(5.0, 3.0, &era, &edec);
    assert_true(fabs(ra - era) < 1e-10);
    assert_true(fabs(dec - edec) < 1e-10);

    /* and back */
    double x, y;
    assert_int_equal(sso_wcs_sky2pix(w, 1, &era, &edec, &x, &y), SSO_OK);
    assert_true(fabs(x - 1500.0) < 1e-6);
    assert_true(fabs(y - 1300.0) < 1e-6);
    sso_wcs_free(w);
}

static void test_tan_round_trip(void **state)
{
    (void)state;
    hdr h;
    /* A realistic VIS-like header: 0.1"/px, rotated, at a high declination. */
    memset(&h, 0, sizeof h);
    base_header(&h, "RA---TAN", "DEC--TAN", 150.1, 62.3, 0.0);
    const double s = 0.1 / 3600.0, a = 23.0 * DEG;
    /* overwrite the CD cards (last four) with a rotation */
    h.n -= 4;
    card(&h, "CD1_1   = %20.12e", -s * cos(a));
    card(&h, "CD1_2   = %20.12e", s * sin(a));
    card(&h, "CD2_1   = %20.12e", s * sin(a));
    card(&h, "CD2_2   = %20.12e", s * cos(a));
    sso_wcs *w = make(&h);
    enum { N = 1000 };
    double x[N], y[N], ra[N], dec[N], x2[N], y2[N];
    for (int i = 0; i < N; i++) {
        x[i] = 1.0 + (i * 37 % 4096) + 0.25;
        y[i] = 1.0 + (i * 91 % 4132) + 0.75;
    }
    assert_int_equal(sso_wcs_pix2sky(w, N, x, y, ra, dec), SSO_OK);
    assert_int_equal(sso_wcs_sky2pix(w, N, ra, dec, x2, y2), SSO_OK);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        assert_true(isfinite(ra[i]) && isfinite(dec[i]));
        worst = fmax(worst, fmax(fabs(x2[i] - x[i]), fabs(y2[i] - y[i])));
    }
    assert_true(worst < 1e-6);
    /* one pixel along y moves the point by 0.1 arcsec */
    double ra1, dec1, ra2, dec2;
    p2s1(w, 100.0, 100.0, &ra1, &dec1);
    p2s1(w, 100.0, 101.0, &ra2, &dec2);
    const double sep = hypot((ra2 - ra1) * cos(dec1 * DEG), dec2 - dec1) * 3600.0;
    assert_true(fabs(sep - 0.1) < 1e-6);
    sso_wcs_free(w);
}

/* SIP: one quadratic term, A_2_0 = a, moves pixel u by a*u^2 before the CD matrix. */
static void test_sip_term(void **state)
{
    (void)state;
    const double cd = 1e-4, a20 = 2e-5; /* u = 500: a*u^2 = 5 px */
    hdr h;
    base_header(&h, "RA---TAN-SIP", "DEC--TAN-SIP", 0.0, 0.0, cd);
    card(&h, "A_ORDER =                    2");
    card(&h, "B_ORDER =                    2");
    card(&h, "A_2_0   = %20.12e", a20);
    sso_wcs *w = make(&h);
    assert_string_equal(sso_wcs_projection(w), "TAN");
    assert_int_equal(sso_wcs_has_sip(w), 1);

    hdr h0;
    base_header(&h0, "RA---TAN", "DEC--TAN", 0.0, 0.0, cd);
    sso_wcs *w0 = make(&h0);

    const double u = 500.0, v = 300.0;
    double ra, dec, ra0, dec0, era, edec;
    p2s1(w, 1000.0 + u, 1000.0 + v, &ra, &dec);
    p2s1(w0, 1000.0 + u, 1000.0 + v, &ra0, &dec0);
    tan00(cd * (u + a20 * u * u), cd * v, &era, &edec);
    assert_true(fabs(ra - era) < 1e-10);
    assert_true(fabs(dec - edec) < 1e-10);
    /* the term moves the point by ~5 px = 5e-4 deg in RA compared with plain TAN */
    assert_true(fabs((ra - ra0) - cd * a20 * u * u) < 1e-7);

    /* sky -> pixel inverts the distortion (wcslib iterates) */
    double x, y;
    assert_int_equal(sso_wcs_sky2pix(w, 1, &era, &edec, &x, &y), SSO_OK);
    assert_true(fabs(x - (1000.0 + u)) < 1e-6);
    assert_true(fabs(y - (1000.0 + v)) < 1e-6);
    sso_wcs_free(w);
    sso_wcs_free(w0);
}

/* TPV: xi' = xi + PV1_4 xi^2 (xi in degrees), eta' = eta + PV2_4 eta^2. */
static void test_tpv_term(void **state)
{
    (void)state;
    const double cd = 1e-4, c = 0.5; /* xi = 0.05 deg: c xi^2 = 1.25e-3 deg = 12.5 px */
    hdr h;
    base_header(&h, "RA---TPV", "DEC--TPV", 0.0, 0.0, cd);
    card(&h, "PV1_0   =                  0.0");
    card(&h, "PV1_1   =                  1.0");
    card(&h, "PV1_4   = %20.12e", c);
    card(&h, "PV2_0   =                  0.0");
    card(&h, "PV2_1   =                  1.0");
    card(&h, "PV2_4   = %20.12e", c);
    sso_wcs *w = make(&h);
    assert_string_equal(sso_wcs_projection(w), "TPV");
    assert_int_equal(sso_wcs_has_sip(w), 0);

    const double u = 500.0, v = -200.0;
    const double xi = cd * u, eta = cd * v;
    double ra, dec, era, edec;
    p2s1(w, 1000.0 + u, 1000.0 + v, &ra, &dec);
    /* TPV's second-order terms of axis 1: PV1_4 xi^2, of axis 2: PV2_4 eta^2 */
    tan00(xi + c * xi * xi, eta + c * eta * eta, &era, &edec);
    assert_true(fabs(ra - era) < 1e-10);
    assert_true(fabs(dec - edec) < 1e-10);
    double ra_lin, dec_lin;
    tan00(xi, eta, &ra_lin, &dec_lin);
    assert_true(fabs(ra - ra_lin) > 1e-3); /* the term matters: 12.5 px */

    double x, y;
    assert_int_equal(sso_wcs_sky2pix(w, 1, &era, &edec, &x, &y), SSO_OK);
    assert_true(fabs(x - (1000.0 + u)) < 1e-6);
    assert_true(fabs(y - (1000.0 + v)) < 1e-6);
    sso_wcs_free(w);
}

static void expect_wcs_error(hdr *h, const char *needle)
{
    card(h, "END");
    sso_wcs *w = (sso_wcs *)0x1;
    sso_status st = sso_wcs_from_header(h->buf, h->n, "bad.fits, extension 2-2.SCI", &w);
    if (st != SSO_ERR_WCS)
        fail_msg("expected SSO_ERR_WCS for '%s', got %d", needle, (int)st);
    assert_null(w);
    const char *d = sso_last_error();
    assert_non_null(strstr(d, "bad.fits, extension 2-2.SCI"));
    if (needle && !strstr(d, needle))
        fail_msg("detail '%s' lacks '%s'", d, needle);
}

static void test_bad_wcs(void **state)
{
    (void)state;
    hdr h;
    /* no WCS keywords at all */
    memset(&h, 0, sizeof h);
    card(&h, "SIMPLE  =                    T");
    card(&h, "BITPIX  =                  -32");
    card(&h, "NAXIS   =                    2");
    card(&h, "NAXIS1  =                   10");
    card(&h, "NAXIS2  =                   10");
    expect_wcs_error(&h, "no WCS");
    /* linear only */
    base_header(&h, "LINEAR", "LINEAR", 0.0, 0.0, 1.0);
    expect_wcs_error(&h, "linear");
    /* celestial names without a projection */
    base_header(&h, "RA", "DEC", 10.0, 10.0, 1e-4);
    expect_wcs_error(&h, "CTYPE");
    /* singular CD */
    base_header(&h, "RA---TAN", "DEC--TAN", 10.0, 10.0, 0.0);
    expect_wcs_error(&h, "singular");
    /* unknown projection code */
    base_header(&h, "RA---XYZ", "DEC--XYZ", 10.0, 10.0, 1e-4);
    expect_wcs_error(&h, "RA---XYZ");
}

/* A string value without its closing quote, as a damaged file can hold: wcslib 7.12's wcspih
 * overflows a buffer on it (found by the fuzzer), so sso_wcs drops such cards before parsing. */
static void test_unterminated_string(void **state)
{
    (void)state;
    hdr h;
    base_header(&h, "RA---TPV", "DEC--TAN", 10.0, 10.0, 1e-4);
    /* the CTYPE2 card with its closing quote replaced by blanks to the end of the card */
    char c2[81];
    snprintf(c2, sizeof c2, "%-80.80s", "CTYPE2  = 'DEC--TTPU");
    memcpy(h.buf + 80 * 6, c2, 80);
    expect_wcs_error(&h, "bad.fits");
    /* an unterminated value in a card wcslib does not need is harmless */
    base_header(&h, "RA---TAN", "DEC--TAN", 10.0, 10.0, 1e-4);
    card(&h, "OBJECT  = 'M31");
    sso_wcs *w = make(&h);
    sso_wcs_free(w);
}

/* A pixel far outside the projection's domain gives NaN, not an error. */
static void test_out_of_domain(void **state)
{
    (void)state;
    hdr h;
    base_header(&h, "RA---TAN", "DEC--TAN", 0.0, 0.0, 1e-2);
    sso_wcs *w = make(&h);
    double ra[2], dec[2], rin[2] = {0.0, 180.0}, din[2] = {0.0, 0.0}, x[2], y[2];
    assert_int_equal(sso_wcs_sky2pix(w, 2, rin, din, x, y), SSO_OK);
    assert_true(fabs(x[0] - 1000.0) < 1e-9);
    assert_true(isnan(x[1]) && isnan(y[1])); /* the antipode is not on the tangent plane */
    (void)ra;
    (void)dec;
    sso_wcs_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tan_hand_computed), cmocka_unit_test(test_tan_round_trip),
        cmocka_unit_test(test_sip_term),          cmocka_unit_test(test_tpv_term),
        cmocka_unit_test(test_bad_wcs),           cmocka_unit_test(test_out_of_domain),
        cmocka_unit_test(test_unterminated_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
