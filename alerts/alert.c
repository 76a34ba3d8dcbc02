/* alerts/alert.c: the alert record, its identity, its JSON (sso/alert.h) and UTC time strings.
 *
 * JSON layout (one object; schema/sso-alert-1.0.schema.json is the contract):
 *   {"schema","kind":"alert","alert_id","seq","revision","boot_id","time","role","obs_id",
 *    "class","n_epochs","trkSub","stn","mode","score","motion":{"rate","rateUnc","pa","paUnc"},
 *    ["trail":{"length","angle"},] ["cutouts",] "obs":[{"obsTime","mjd","ra","dec","rmsRA","rmsDec",
 *    "mag","rmsMag","band","snr","exp","det","x","y"[,"sys","ctr","pos1","pos2","pos3"]}, ...]}
 * (sys/ctr/pos1..3, the observer's position, only when the alert carries one.)
 * Member order is fixed, so the same alert always gives the same bytes: the store compares the
 * envelope-less text to tell an unchanged re-issue from a revision.
 *
 * Time: calendar conversion is libc's (gmtime_r, timegm), in UTC; leap seconds are not
 * represented (as in Unix time and the headers' MJDs).
 */
#define _DEFAULT_SOURCE /* timegm */
#include "sso/alert.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts/json.h"
#include "host/status_internal.h"

#define MJD_UNIX_EPOCH 40587.0 /* MJD of 1970-01-01T00:00:00Z */

void sso_alert_init(sso_alert *a)
{
    memset(a, 0, sizeof *a);
    a->role = SSO_ROLE_OBSERVATION;
    a->cls = SSO_ALERT_SLOW;
    snprintf(a->mode, sizeof a->mode, "CCD");
    a->rate_arcsec_h = a->rate_sigma_arcsec_h = a->pa_deg = a->pa_sigma_deg = NAN;
    a->trail_length_arcsec = a->trail_angle_deg = a->score = NAN;
    for (int i = 0; i < SSO_ALERT_MAX_EPOCHS; i++) {
        sso_alert_obs *o = &a->obs[i];
        o->mjd = o->ra_deg = o->dec_deg = o->rms_ra_arcsec = o->rms_dec_arcsec = NAN;
        o->mag = o->rms_mag = o->snr = o->exp_s = o->x_px = o->y_px = NAN;
        o->pos_km[0] = o->pos_km[1] = o->pos_km[2] = NAN;
        snprintf(o->band, sizeof o->band, "VIS");
    }
}

const char *sso_alert_class_name(sso_alert_class c)
{
    return c == SSO_ALERT_FAST ? "fast" : "slow";
}

static int id_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.:-", *s))
            return 0;
    return 1;
}

sso_status sso_alert_make_id(sso_alert *a, const char *obs_id, const char *object_key)
{
    if (!a || !obs_id || !object_key)
        return sso_fail(SSO_ERR_ARG, "alert id: NULL argument");
    size_t n = strlen(obs_id);
    if (n == 0 || n >= sizeof a->obs_id || !id_chars_ok(obs_id))
        return sso_fail(SSO_ERR_ARG, "alert id: obs_id '%.80s' must be 1..%zu chars of "
                        "[A-Za-z0-9_.:-]", obs_id, sizeof a->obs_id - 1);
    /* FNV-1a 64: deterministic across runs and machines; collisions matter only within one
     * observation (the obs_id is kept in clear), where 64 bits make them negligible. */
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a-64 offset basis */
    for (const unsigned char *c = (const unsigned char *)object_key; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ULL; /* FNV-1a-64 prime */
    }
    snprintf(a->obs_id, sizeof a->obs_id, "%s", obs_id);
    snprintf(a->alert_id, sizeof a->alert_id, "%s-%016llx", obs_id, (unsigned long long)h);
    return SSO_OK;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

sso_status sso_alert_validate(const sso_alert *a)
{
    if (!a)
        return sso_fail(SSO_ERR_ARG, "alert: NULL");
    if (!a->alert_id[0] || !id_chars_ok(a->alert_id) || !a->obs_id[0] || !id_chars_ok(a->obs_id))
        return sso_fail(SSO_ERR_ARG, "alert: missing or malformed alert_id/obs_id");
    if (strlen(a->trk_sub) > 8 || !printable(a->trk_sub) || !printable(a->stn) ||
        !printable(a->mode) || !printable(a->boot_id) || !printable(a->time))
        return sso_fail(SSO_ERR_ARG, "alert %s: non-printable text or trkSub over 8 chars",
                        a->alert_id);
    if (a->cls != SSO_ALERT_SLOW && a->cls != SSO_ALERT_FAST)
        return sso_fail(SSO_ERR_ARG, "alert %s: class %d", a->alert_id, (int)a->cls);
    if (a->role != SSO_ROLE_OBSERVATION && a->role != SSO_ROLE_TEST)
        return sso_fail(SSO_ERR_ARG, "alert %s: role %d", a->alert_id, (int)a->role);
    if (a->n_epochs < 1 || a->n_epochs > SSO_ALERT_MAX_EPOCHS)
        return sso_fail(SSO_ERR_ARG, "alert %s: n_epochs %d outside 1..%d", a->alert_id,
                        a->n_epochs, SSO_ALERT_MAX_EPOCHS);
    if (a->revision < 0)
        return sso_fail(SSO_ERR_ARG, "alert %s: negative revision", a->alert_id);
    for (int i = 0; i < a->n_epochs; i++) {
        const sso_alert_obs *o = &a->obs[i];
        if (!isfinite(o->mjd) || !isfinite(o->ra_deg) || !isfinite(o->dec_deg))
            return sso_fail(SSO_ERR_ARG, "alert %s, epoch %d: mjd/ra/dec must be known",
                            a->alert_id, i);
        if (o->ra_deg < 0 || o->ra_deg >= 360 || o->dec_deg < -90 || o->dec_deg > 90)
            return sso_fail(SSO_ERR_ARG, "alert %s, epoch %d: ra %g dec %g out of range",
                            a->alert_id, i, o->ra_deg, o->dec_deg);
        if (!printable(o->band) || !printable(o->det))
            return sso_fail(SSO_ERR_ARG, "alert %s, epoch %d: non-printable band/det",
                            a->alert_id, i);
    }
    return SSO_OK;
}

/* ---- time strings ------------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static sso_status fmt_utc(int64_t t_us, int frac_digits, char *buf, size_t n)
{
    int64_t div = frac_digits == 3 ? 1000 : 1;
    int64_t units = floor_div(t_us, div);           /* ms or us */
    int64_t per_s = frac_digits == 3 ? 1000 : 1000000;
    int64_t sec = floor_div(units, per_s);
    int64_t frac = units - sec * per_s;
    time_t tt = (time_t)sec;
    struct tm tm;
    if (!buf || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return sso_fail(SSO_ERR_ARG, "time %lld us outside years 0..9999", (long long)t_us);
    int k = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%0*lldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac_digits,
                     (long long)frac);
    if (k < 0 || (size_t)k >= n)
        return sso_fail(SSO_ERR_ARG, "time: buffer of %zu bytes too small", n);
    return SSO_OK;
}

sso_status sso_alert_mjd_to_iso(double mjd, char *buf, size_t n)
{
    if (!isfinite(mjd) || fabs(mjd) > 3e6)
        return sso_fail(SSO_ERR_ARG, "mjd %g not a date", mjd);
    double ms = round((mjd - MJD_UNIX_EPOCH) * 86400000.0);
    return fmt_utc((int64_t)ms * 1000, 3, buf, n);
}

sso_status sso_time_us_to_rfc3339(int64_t t_us, char *buf, size_t n)
{
    return fmt_utc(t_us, 6, buf, n);
}

int64_t sso_time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int digits(const char *s, int k, int *v)
{
    *v = 0;
    for (int i = 0; i < k; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

sso_status sso_time_rfc3339_to_us(const char *s, int64_t *t_us)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0;
    if (!s || !t_us)
        return sso_fail(SSO_ERR_ARG, "time: NULL");
    size_t n = strlen(s);
    /* YYYY-MM-DDThh:mm:ss then [.frac] then Z|z|(+|-)hh:mm */
    if (n < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || !strchr("Tt ", s[10]) || !s[10] || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' || digits(s + 17, 2, &sec))
        goto bad;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        goto bad;
    const char *p = s + 19;
    int64_t frac_us = 0, scale = 100000;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            goto bad;
        for (; *p >= '0' && *p <= '9'; p++) {
            frac_us += (*p - '0') * scale; /* digits past the microsecond are truncated */
            scale /= 10;
        }
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            goto bad;
        p += 6;
    } else {
        goto bad;
    }
    if (*p)
        goto bad;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t tt = timegm(&tm);
    if (tm.tm_mday != D && sec != 60) /* timegm normalised an impossible date (Feb 30) */
        goto bad;
    *t_us = ((int64_t)tt - sign * (oh * 3600 + om * 60)) * 1000000 + frac_us;
    return SSO_OK;
bad:
    return sso_fail(SSO_ERR_ARG, "time '%.60s' is not RFC 3339 (YYYY-MM-DDThh:mm:ss[.f]Z)", s);
}

/* ---- JSON -------------------------------------------------------------------------------------- */

sso_status sso_alert_to_json(const sso_alert *a, int envelope, char **out, size_t *len)
{
    sso_jw w;
    char iso[40];
    sso_status st;
    if (!out)
        return sso_fail(SSO_ERR_ARG, "alert json: NULL out");
    *out = NULL;
    if ((st = sso_alert_validate(a)) != SSO_OK)
        return st;
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
    sso_jw_key(&w, "kind"), sso_jw_str(&w, "alert");
    sso_jw_key(&w, "alert_id"), sso_jw_str(&w, a->alert_id);
    if (envelope) {
        sso_jw_key(&w, "seq"), sso_jw_u64(&w, a->seq);
        sso_jw_key(&w, "revision"), sso_jw_int(&w, a->revision);
        sso_jw_key(&w, "boot_id"), sso_jw_str(&w, a->boot_id);
        sso_jw_key(&w, "time"), sso_jw_str(&w, a->time);
    }
    sso_jw_key(&w, "role"), sso_jw_str(&w, a->role == SSO_ROLE_TEST ? "test" : "observation");
    sso_jw_key(&w, "obs_id"), sso_jw_str(&w, a->obs_id);
    sso_jw_key(&w, "class"), sso_jw_str(&w, sso_alert_class_name(a->cls));
    sso_jw_key(&w, "n_epochs"), sso_jw_int(&w, a->n_epochs);
    sso_jw_key(&w, "trkSub"), sso_jw_str(&w, a->trk_sub);
    sso_jw_key(&w, "stn"), sso_jw_str(&w, a->stn);
    sso_jw_key(&w, "mode"), sso_jw_str(&w, a->mode);
    sso_jw_key(&w, "score"), sso_jw_num(&w, a->score);
    sso_jw_key(&w, "motion");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "rate"), sso_jw_num(&w, a->rate_arcsec_h);
    sso_jw_key(&w, "rateUnc"), sso_jw_num(&w, a->rate_sigma_arcsec_h);
    sso_jw_key(&w, "pa"), sso_jw_num(&w, a->pa_deg);
    sso_jw_key(&w, "paUnc"), sso_jw_num(&w, a->pa_sigma_deg);
    sso_jw_obj_end(&w);
    if (a->has_trail) {
        sso_jw_key(&w, "trail");
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "length"), sso_jw_num(&w, a->trail_length_arcsec);
        sso_jw_key(&w, "angle"), sso_jw_num(&w, a->trail_angle_deg);
        sso_jw_obj_end(&w);
    }
    if (a->cutouts[0])
        sso_jw_key(&w, "cutouts"), sso_jw_str(&w, a->cutouts);
    sso_jw_key(&w, "obs");
    sso_jw_arr_begin(&w);
    for (int i = 0; i < a->n_epochs; i++) {
        const sso_alert_obs *o = &a->obs[i];
        if ((st = sso_alert_mjd_to_iso(o->mjd, iso, sizeof iso)) != SSO_OK) {
            sso_jw_free(&w);
            return st;
        }
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "obsTime"), sso_jw_str(&w, iso);
        sso_jw_key(&w, "mjd"), sso_jw_num(&w, o->mjd);
        sso_jw_key(&w, "ra"), sso_jw_num(&w, o->ra_deg);
        sso_jw_key(&w, "dec"), sso_jw_num(&w, o->dec_deg);
        sso_jw_key(&w, "rmsRA"), sso_jw_num(&w, o->rms_ra_arcsec);
        sso_jw_key(&w, "rmsDec"), sso_jw_num(&w, o->rms_dec_arcsec);
        sso_jw_key(&w, "mag"), sso_jw_num(&w, o->mag);
        sso_jw_key(&w, "rmsMag"), sso_jw_num(&w, o->rms_mag);
        sso_jw_key(&w, "band"), sso_jw_str(&w, o->band);
        sso_jw_key(&w, "snr"), sso_jw_num(&w, o->snr);
        sso_jw_key(&w, "exp"), sso_jw_num(&w, o->exp_s);
        sso_jw_key(&w, "det"), sso_jw_str(&w, o->det);
        sso_jw_key(&w, "x"), sso_jw_num(&w, o->x_px);
        sso_jw_key(&w, "y"), sso_jw_num(&w, o->y_px);
        if (isfinite(o->pos_km[0]) && isfinite(o->pos_km[1]) && isfinite(o->pos_km[2])) {
            sso_jw_key(&w, "sys"), sso_jw_str(&w, "ICRF_KM");
            sso_jw_key(&w, "ctr"), sso_jw_int(&w, 399);
            sso_jw_key(&w, "pos1"), sso_jw_num(&w, o->pos_km[0]);
            sso_jw_key(&w, "pos2"), sso_jw_num(&w, o->pos_km[1]);
            sso_jw_key(&w, "pos3"), sso_jw_num(&w, o->pos_km[2]);
        }
        sso_jw_obj_end(&w);
    }
    sso_jw_arr_end(&w);
    sso_jw_obj_end(&w);
    return sso_jw_finish(&w, out, len);
}

/* Field readers: a missing member or a wrong type is an error naming the field. */
typedef struct reader {
    const sso_jdoc *d;
    const char *bad; /* first bad field */
} reader;

static double rd_num(reader *r, const sso_jnode *obj, const char *k)
{
    const sso_jnode *n = sso_jdoc_get(r->d, obj, k);
    if (n && n->type == SSO_JNUM)
        return n->num;
    if (n && n->type == SSO_JNULL)
        return NAN;
    if (!r->bad)
        r->bad = k;
    return NAN;
}

static void rd_str(reader *r, const sso_jnode *obj, const char *k, char *dst, size_t cap)
{
    const sso_jnode *n = sso_jdoc_get(r->d, obj, k);
    if (!n || n->type != SSO_JSTR || strlen(n->str) >= cap) {
        if (!r->bad)
            r->bad = k;
        dst[0] = 0;
        return;
    }
    memcpy(dst, n->str, strlen(n->str) + 1);
}

sso_status sso_alert_from_json(const char *json, size_t len, sso_alert *a)
{
    sso_jdoc d;
    sso_status st;
    char tmp[32];
    if (!a)
        return sso_fail(SSO_ERR_ARG, "alert json: NULL alert");
    sso_alert_init(a);
    if ((st = sso_jdoc_parse(&d, json, len)) != SSO_OK)
        return st;
    reader r = {&d, NULL};
    const sso_jnode *root = &d.nodes[0];
    if (root->type != SSO_JOBJ) {
        r.bad = "(top level is not an object)";
        goto exit;
    }
    rd_str(&r, root, "schema", tmp, sizeof tmp);
    if (!r.bad && strncmp(tmp, "sso-alert/1.", 12) != 0)
        r.bad = "schema";
    rd_str(&r, root, "kind", tmp, sizeof tmp);
    if (!r.bad && strcmp(tmp, "alert"))
        r.bad = "kind";
    rd_str(&r, root, "alert_id", a->alert_id, sizeof a->alert_id);
    double seq = rd_num(&r, root, "seq");
    if (!r.bad && (!(seq >= 0) || seq > 9007199254740992.0 || seq != floor(seq)))
        r.bad = "seq";
    a->seq = r.bad ? 0 : (uint64_t)seq;
    double rev = rd_num(&r, root, "revision");
    if (!r.bad && (!(rev >= 0) || rev > 1e9 || rev != floor(rev)))
        r.bad = "revision";
    a->revision = r.bad ? 0 : (int)rev;
    rd_str(&r, root, "boot_id", a->boot_id, sizeof a->boot_id);
    rd_str(&r, root, "time", a->time, sizeof a->time);
    rd_str(&r, root, "role", tmp, sizeof tmp);
    if (!r.bad && strcmp(tmp, "observation") && strcmp(tmp, "test"))
        r.bad = "role";
    a->role = strcmp(tmp, "test") ? SSO_ROLE_OBSERVATION : SSO_ROLE_TEST;
    rd_str(&r, root, "obs_id", a->obs_id, sizeof a->obs_id);
    rd_str(&r, root, "class", tmp, sizeof tmp);
    if (!r.bad && strcmp(tmp, "slow") && strcmp(tmp, "fast"))
        r.bad = "class";
    a->cls = strcmp(tmp, "fast") ? SSO_ALERT_SLOW : SSO_ALERT_FAST;
    rd_str(&r, root, "trkSub", a->trk_sub, sizeof a->trk_sub);
    rd_str(&r, root, "stn", a->stn, sizeof a->stn);
    rd_str(&r, root, "mode", a->mode, sizeof a->mode);
    a->score = rd_num(&r, root, "score");
    const sso_jnode *mo = sso_jdoc_get(&d, root, "motion");
    if (!mo || mo->type != SSO_JOBJ) {
        if (!r.bad)
            r.bad = "motion";
    } else {
        a->rate_arcsec_h = rd_num(&r, mo, "rate");
        a->rate_sigma_arcsec_h = rd_num(&r, mo, "rateUnc");
        a->pa_deg = rd_num(&r, mo, "pa");
        a->pa_sigma_deg = rd_num(&r, mo, "paUnc");
    }
    const sso_jnode *tr = sso_jdoc_get(&d, root, "trail");
    if (tr) {
        if (tr->type != SSO_JOBJ && !r.bad)
            r.bad = "trail";
        a->has_trail = 1;
        a->trail_length_arcsec = rd_num(&r, tr, "length");
        a->trail_angle_deg = rd_num(&r, tr, "angle");
    }
    if (sso_jdoc_get(&d, root, "cutouts"))
        rd_str(&r, root, "cutouts", a->cutouts, sizeof a->cutouts);
    const sso_jnode *obs = sso_jdoc_get(&d, root, "obs");
    if (!obs || obs->type != SSO_JARR) {
        if (!r.bad)
            r.bad = "obs";
        goto exit;
    }
    int k = 0;
    for (const sso_jnode *o = sso_jdoc_child(&d, obs); o; o = sso_jdoc_next(&d, o), k++) {
        if (k >= SSO_ALERT_MAX_EPOCHS || o->type != SSO_JOBJ) {
            if (!r.bad)
                r.bad = "obs[]";
            break;
        }
        sso_alert_obs *e = &a->obs[k];
        e->mjd = rd_num(&r, o, "mjd");
        e->ra_deg = rd_num(&r, o, "ra");
        e->dec_deg = rd_num(&r, o, "dec");
        e->rms_ra_arcsec = rd_num(&r, o, "rmsRA");
        e->rms_dec_arcsec = rd_num(&r, o, "rmsDec");
        e->mag = rd_num(&r, o, "mag");
        e->rms_mag = rd_num(&r, o, "rmsMag");
        rd_str(&r, o, "band", e->band, sizeof e->band);
        e->snr = rd_num(&r, o, "snr");
        e->exp_s = rd_num(&r, o, "exp");
        rd_str(&r, o, "det", e->det, sizeof e->det);
        e->x_px = rd_num(&r, o, "x");
        e->y_px = rd_num(&r, o, "y");
        if (sso_jdoc_get(&d, o, "pos1")) { /* optional observer position: all or nothing */
            rd_str(&r, o, "sys", tmp, sizeof tmp);
            if (!r.bad && strcmp(tmp, "ICRF_KM"))
                r.bad = "sys";
            if (!r.bad && rd_num(&r, o, "ctr") != 399.0)
                r.bad = "ctr";
            e->pos_km[0] = rd_num(&r, o, "pos1");
            e->pos_km[1] = rd_num(&r, o, "pos2");
            e->pos_km[2] = rd_num(&r, o, "pos3");
            if (!r.bad && !(isfinite(e->pos_km[0]) && isfinite(e->pos_km[1]) &&
                            isfinite(e->pos_km[2])))
                r.bad = "pos1..3";
        }
    }
    a->n_epochs = k;
    double ne = rd_num(&r, root, "n_epochs");
    if (!r.bad && ne != (double)k)
        r.bad = "n_epochs";
exit:
    sso_jdoc_free(&d);
    if (r.bad)
        return sso_fail(SSO_ERR_ARG, "alert json: missing or invalid field '%s'", r.bad);
    return sso_alert_validate(a);
}
