/* tests/test_alert.c: the alert record, its id, its JSON (alerts/alert.c, alerts/json.c).
 *
 * Asserts: alert_id is FNV-1a-64 of the object key after the obs_id (published test vectors of
 * FNV-1a-64: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c); JSON -> struct -> JSON is exact,
 * every double bit for bit, including 10,000 random doubles from raw bits; numbers are written with
 * a '.' under a decimal-comma locale (de_DE built with localedef into the test folder); escaping of
 * quotes, backslashes, control and non-ASCII bytes; calendar anchors (MJD 51544.5 is
 * 2000-01-01T12:00:00Z, MJD 40587 the Unix epoch); RFC 3339 parsing with offsets and rejection of
 * impossible dates; hostile JSON rejected with SSO_ERR_ARG (and no crash under ASan).
 */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/json.h"
#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

static void test_make_id(void **state)
{
    (void)state;
    sso_alert a;
    sso_alert_init(&a);
    assert_int_equal(sso_alert_make_id(&a, "123", ""), SSO_OK);
    assert_string_equal(a.alert_id, "123-cbf29ce484222325");
    assert_int_equal(sso_alert_make_id(&a, "OBS_42.v2", "a"), SSO_OK);
    assert_string_equal(a.alert_id, "OBS_42.v2-af63dc4c8601ec8c");
    assert_string_equal(a.obs_id, "OBS_42.v2");
    assert_int_equal(sso_alert_make_id(&a, "bad id", "a"), SSO_ERR_ARG);
    assert_int_equal(sso_alert_make_id(&a, "", "a"), SSO_ERR_ARG);
    assert_int_equal(sso_alert_make_id(&a, "x\"y", "a"), SSO_ERR_ARG);
}

static int same_double(double x, double y)
{
    if (isnan(x) && isnan(y))
        return 1;
    return memcmp(&x, &y, sizeof x) == 0;
}

static void assert_alert_equal(const sso_alert *a, const sso_alert *b)
{
    assert_string_equal(a->alert_id, b->alert_id);
    assert_true(a->seq == b->seq);
    assert_int_equal(a->revision, b->revision);
    assert_string_equal(a->boot_id, b->boot_id);
    assert_string_equal(a->time, b->time);
    assert_int_equal(a->role, b->role);
    assert_string_equal(a->obs_id, b->obs_id);
    assert_string_equal(a->trk_sub, b->trk_sub);
    assert_string_equal(a->stn, b->stn);
    assert_string_equal(a->mode, b->mode);
    assert_int_equal(a->cls, b->cls);
    assert_int_equal(a->n_epochs, b->n_epochs);
    assert_true(same_double(a->rate_arcsec_h, b->rate_arcsec_h));
    assert_true(same_double(a->rate_sigma_arcsec_h, b->rate_sigma_arcsec_h));
    assert_true(same_double(a->pa_deg, b->pa_deg));
    assert_true(same_double(a->pa_sigma_deg, b->pa_sigma_deg));
    assert_int_equal(a->has_trail, b->has_trail);
    if (a->has_trail) {
        assert_true(same_double(a->trail_length_arcsec, b->trail_length_arcsec));
        assert_true(same_double(a->trail_angle_deg, b->trail_angle_deg));
    }
    assert_true(same_double(a->score, b->score));
    for (int i = 0; i < a->n_epochs; i++) {
        const sso_alert_obs *x = &a->obs[i], *y = &b->obs[i];
        assert_true(same_double(x->mjd, y->mjd));
        assert_true(same_double(x->ra_deg, y->ra_deg));
        assert_true(same_double(x->dec_deg, y->dec_deg));
        assert_true(same_double(x->rms_ra_arcsec, y->rms_ra_arcsec));
        assert_true(same_double(x->rms_dec_arcsec, y->rms_dec_arcsec));
        assert_true(same_double(x->mag, y->mag));
        assert_true(same_double(x->rms_mag, y->rms_mag));
        assert_true(same_double(x->snr, y->snr));
        assert_true(same_double(x->exp_s, y->exp_s));
        assert_true(same_double(x->x_px, y->x_px));
        assert_true(same_double(x->y_px, y->y_px));
        assert_string_equal(x->band, y->band);
        assert_string_equal(x->det, y->det);
    }
}

static void fill_envelope(sso_alert *a, uint64_t seq)
{
    a->seq = seq;
    a->revision = (int)(seq % 3);
    snprintf(a->boot_id, sizeof a->boot_id, "boot-%llu", (unsigned long long)seq);
    assert_int_equal(sso_time_us_to_rfc3339(1700000000123456LL + (int64_t)seq, a->time,
                                            sizeof a->time), SSO_OK);
}

static void roundtrip(const sso_alert *a)
{
    char *j1 = NULL, *j2 = NULL;
    size_t n1 = 0, n2 = 0;
    sso_alert b;
    assert_int_equal(sso_alert_to_json(a, 1, &j1, &n1), SSO_OK);
    assert_int_equal(strlen(j1), n1);
    assert_int_equal(sso_alert_from_json(j1, n1, &b), SSO_OK);
    assert_alert_equal(a, &b);
    assert_int_equal(sso_alert_to_json(&b, 1, &j2, &n2), SSO_OK);
    assert_string_equal(j1, j2);
    free(j1);
    free(j2);
}

static void test_roundtrip_synth(void **state)
{
    (void)state;
    sso_alert a;
    for (uint64_t i = 0; i < 500; i++) {
        assert_int_equal(sso_alert_synth(7, "obs-1", i, &a), SSO_OK);
        fill_envelope(&a, i + 1);
        roundtrip(&a);
    }
    /* unknowns (NaN) travel as null and come back as NaN */
    assert_int_equal(sso_alert_synth(7, "obs-1", 3, &a), SSO_OK);
    a.score = NAN;
    a.obs[2].mag = NAN;
    a.rate_sigma_arcsec_h = INFINITY; /* not representable: written null, read NaN */
    fill_envelope(&a, 9);
    char *j = NULL;
    assert_int_equal(sso_alert_to_json(&a, 1, &j, NULL), SSO_OK);
    assert_non_null(strstr(j, "\"score\":null"));
    assert_non_null(strstr(j, "\"rateUnc\":null"));
    sso_alert b;
    assert_int_equal(sso_alert_from_json(j, strlen(j), &b), SSO_OK);
    assert_true(isnan(b.score) && isnan(b.obs[2].mag) && isnan(b.rate_sigma_arcsec_h));
    free(j);
}

static uint64_t rng_state = 12345;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_doubles_exact(void **state)
{
    (void)state;
    char buf[40];
    for (int i = 0; i < 10000; i++) {
        uint64_t bits = rng();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v))
            continue;
        int k = sso_json_fmt_double(v, buf, sizeof buf);
        double back;
        assert_int_equal(sso_json_parse_double(buf, (size_t)k, &back), 0);
        assert_true(same_double(v, back));
    }
    /* shortest form: 0.1 is "0.1", not 0.10000000000000001 */
    sso_json_fmt_double(0.1, buf, sizeof buf);
    assert_string_equal(buf, "0.1");
    sso_json_fmt_double(-0.0, buf, sizeof buf);
    assert_string_equal(buf, "-0");
    sso_json_fmt_double(1e300, buf, sizeof buf);
    assert_string_equal(buf, "1e+300");
}

static void test_decimal_comma_locale(void **state)
{
    (void)state;
    char dir[4096], buf[64];
    sso_test_path(dir, sizeof dir, "locale");
    if (sso_test_system("mkdir -p %s && localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
                        dir, dir) != 0) {
        skip(); /* no localedef or no locale sources: cannot build a decimal-comma locale */
    }
    setenv("LOCPATH", dir, 1);
    if (!setlocale(LC_ALL, "de_DE.UTF-8"))
        skip();
    snprintf(buf, sizeof buf, "%.1f", 1.5);
    assert_string_equal(buf, "1,5"); /* the locale is really in force */
    sso_alert a, b;
    assert_int_equal(sso_alert_synth(1, "obs", 5, &a), SSO_OK);
    fill_envelope(&a, 5);
    char *j = NULL;
    assert_int_equal(sso_alert_to_json(&a, 1, &j, NULL), SSO_OK);
    assert_null(strstr(j, ",5")); /* no decimal comma anywhere: every ',' precedes a '"' or '{' */
    for (const char *c = j; (c = strchr(c, ',')); c++)
        assert_true(c[1] == '"' || c[1] == '{');
    assert_int_equal(sso_alert_from_json(j, strlen(j), &b), SSO_OK);
    assert_alert_equal(&a, &b);
    free(j);
    setlocale(LC_ALL, "C");
}

static void test_escaping(void **state)
{
    (void)state;
    sso_jw w;
    char *out = NULL;
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "s");
    sso_jw_str(&w, "q\"b\\n\n\t\x01\xe9/");
    sso_jw_key(&w, "a");
    sso_jw_arr_begin(&w);
    sso_jw_int(&w, -3);
    sso_jw_bool(&w, 1);
    sso_jw_num(&w, NAN);
    sso_jw_arr_end(&w);
    sso_jw_obj_end(&w);
    assert_int_equal(sso_jw_finish(&w, &out, NULL), SSO_OK);
    assert_string_equal(out, "{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u00e9/\",\"a\":[-3,true,null]}");
    sso_jdoc d;
    assert_int_equal(sso_jdoc_parse(&d, out, strlen(out)), SSO_OK);
    const sso_jnode *s = sso_jdoc_get(&d, &d.nodes[0], "s");
    assert_non_null(s);
    assert_string_equal(s->str, "q\"b\\n\n\t\x01\xc3\xa9/"); /* U+00E9 comes back as UTF-8 */
    sso_jdoc_free(&d);
    free(out);
    /* unbalanced use is reported, not written */
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    assert_int_equal(sso_jw_finish(&w, &out, NULL), SSO_ERR_INTERNAL);
    /* surrogate pair -> 4-byte UTF-8 */
    const char *emoji = "\"\\ud83d\\ude00\"";
    assert_int_equal(sso_jdoc_parse(&d, emoji, strlen(emoji)), SSO_OK);
    assert_string_equal(d.nodes[0].str, "\xf0\x9f\x98\x80");
    sso_jdoc_free(&d);
}

static void test_time(void **state)
{
    (void)state;
    char b[48];
    int64_t t;
    assert_int_equal(sso_alert_mjd_to_iso(51544.5, b, sizeof b), SSO_OK);
    assert_string_equal(b, "2000-01-01T12:00:00.000Z");
    assert_int_equal(sso_alert_mjd_to_iso(40587.0, b, sizeof b), SSO_OK);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    assert_int_equal(sso_alert_mjd_to_iso(60000.25 + 0.5 / 86400000.0 * 0.9, b, sizeof b), SSO_OK);
    assert_string_equal(b, "2023-02-25T06:00:00.000Z");
    assert_int_equal(sso_alert_mjd_to_iso(40586.999999, b, sizeof b), SSO_OK); /* before 1970 */
    assert_string_equal(b, "1969-12-31T23:59:59.914Z");
    assert_int_equal(sso_alert_mjd_to_iso(NAN, b, sizeof b), SSO_ERR_ARG);
    assert_int_equal(sso_time_us_to_rfc3339(1500000, b, sizeof b), SSO_OK);
    assert_string_equal(b, "1970-01-01T00:00:01.500000Z");
    assert_int_equal(sso_time_rfc3339_to_us("1970-01-01T00:00:01.5Z", &t), SSO_OK);
    assert_true(t == 1500000);
    assert_int_equal(sso_time_rfc3339_to_us("2000-01-01T12:00:00+01:00", &t), SSO_OK);
    assert_true(t == 946724400LL * 1000000);
    assert_int_equal(sso_time_rfc3339_to_us("2000-01-01t11:00:00z", &t), SSO_OK);
    assert_true(t == 946724400LL * 1000000);
    const char *bad[] = {"2023-02-30T00:00:00Z", "2023-01-01T00:00:00", "2023-13-01T00:00:00Z",
                         "garbage", "", "2023-01-01T00:00:00.Z", "2023-01-01T00:00:00Zjunk",
                         "2023-01-01T24:00:00Z", "2023-01-01T00:00:00+1:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sso_time_rfc3339_to_us(bad[i], &t), SSO_ERR_ARG);
}

static void test_hostile_json(void **state)
{
    (void)state;
    const char *bad[] = {"", " ", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "01", "1.",
                         ".5", "-", "1e", "+1", "NaN", "Infinity", "tru", "nul", "\"abc",
                         "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u0000\"",
                         "\"a\nb\"", "[1] 2", "{\"a\":1,}", "[\"\\ud83d\\u0041\"]", "0x10",
                         "{\"seq\":1,\"seq\":2}" /* duplicate keys */};
    sso_jdoc d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sso_jdoc_parse(&d, bad[i], strlen(bad[i])), SSO_ERR_ARG);
        sso_jdoc_free(&d);
    }
    /* embedded NUL */
    assert_int_equal(sso_jdoc_parse(&d, "[1\0]", 4), SSO_ERR_ARG);
    /* nesting: 32 levels are fine, 2000 are refused without recursing that deep */
    char deep[4001];
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = 0;
    assert_int_equal(sso_jdoc_parse(&d, deep, 4000), SSO_ERR_ARG);
    assert_int_equal(sso_jdoc_parse(&d, deep + 2000 - 32, 64), SSO_OK);
    sso_jdoc_free(&d);
    /* not an alert: valid JSON of the wrong shape */
    sso_alert a;
    const char *wrong[] = {"[]", "{}", "{\"schema\":\"sso-alert/2.0\",\"kind\":\"alert\"}",
                           "{\"schema\":\"sso-alert/1.0\",\"kind\":\"hb\"}", "3"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        assert_int_equal(sso_alert_from_json(wrong[i], strlen(wrong[i]), &a), SSO_ERR_ARG);
    /* every prefix of a valid alert is rejected cleanly */
    assert_int_equal(sso_alert_synth(3, "o", 1, &a), SSO_OK);
    fill_envelope(&a, 1);
    char *j = NULL;
    size_t n = 0;
    assert_int_equal(sso_alert_to_json(&a, 1, &j, &n), SSO_OK);
    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(sso_alert_from_json(j, k, &a), SSO_OK);
    /* and random single-byte corruptions never crash (some still parse: digits changed) */
    for (int t = 0; t < 2000; t++) {
        char *c = malloc(n);
        memcpy(c, j, n);
        c[rng() % n] = (char)(rng() & 0xff);
        (void)sso_alert_from_json(c, n, &a);
        free(c);
    }
    free(j);
}

static void test_validate(void **state)
{
    (void)state;
    sso_alert a;
    char *j = NULL;
    assert_int_equal(sso_alert_synth(3, "o", 1, &a), SSO_OK);
    a.n_epochs = 0;
    assert_int_equal(sso_alert_to_json(&a, 1, &j, NULL), SSO_ERR_ARG);
    assert_null(j);
    assert_int_equal(sso_alert_synth(3, "o", 1, &a), SSO_OK);
    a.obs[1].ra_deg = 360.0;
    assert_int_equal(sso_alert_validate(&a), SSO_ERR_ARG);
    assert_int_equal(sso_alert_synth(3, "o", 1, &a), SSO_OK);
    memcpy(a.trk_sub, "ABCDEFGH", 9); /* 8 chars: the ADES maximum, allowed */
    assert_int_equal(sso_alert_validate(&a), SSO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_id),       cmocka_unit_test(test_roundtrip_synth),
        cmocka_unit_test(test_doubles_exact), cmocka_unit_test(test_decimal_comma_locale),
        cmocka_unit_test(test_escaping),      cmocka_unit_test(test_time),
        cmocka_unit_test(test_hostile_json),  cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
