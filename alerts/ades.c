/* alerts/ades.c: ADES PSV reports of alerts and the observer ephemeris (sso/ades.h).
 *
 * Rendering is two pure steps so that a caller can stream: sso_ades_header() once per report
 * (the caller decides what the `# comment` block says, e.g. how many rows lack an observer
 * position, which it learns from sso_ades_position() before writing anything), then
 * sso_ades_rows() per alert. Both build their text in an open_memstream buffer and hand it over.
 *
 * Columns (SSO_ADES_COLUMNS) have fixed widths (g_width, at least the name's length) so that a
 * report of one station lines up; a longer value is written whole (ADES does not require
 * alignment, only one field per column in every row). Numbers are printed in the "C" locale
 * formats below with fixed decimals; a non-finite number is an empty field.
 *
 * The ephemeris is an array of (mjd, x, y, z) samples sorted by mjd; a lookup is a binary search
 * and a cubic Lagrange interpolation on samples i-1..i+2 around the bracketing pair (i, i+1),
 * falling back to linear interpolation on the outermost intervals where no sample lies beyond.
 */
#define _POSIX_C_SOURCE 200809L
#include "sso/ades.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"

/* ---- ephemeris -------------------------------------------------------------------------------- */

struct sso_ephem {
    size_t n;
    double *mjd;        /* n, strictly increasing */
    double (*pos)[3];   /* n, km */
};

void sso_ephem_free(sso_ephem *e)
{
    if (!e)
        return;
    free(e->mjd);
    free(e->pos);
    free(e);
}

static sso_status ephem_alloc(size_t cap, sso_ephem **out)
{
    sso_ephem *e = calloc(1, sizeof *e);
    if (e) {
        e->mjd = malloc(cap * sizeof *e->mjd);
        e->pos = malloc(cap * sizeof *e->pos);
    }
    if (!e || !e->mjd || !e->pos) {
        sso_ephem_free(e);
        return sso_fail(SSO_ERR_NOMEM, "ephemeris: out of memory");
    }
    *out = e;
    return SSO_OK;
}

static sso_status ephem_check(const sso_ephem *e, const char *what)
{
    if (e->n < 2)
        return sso_fail(SSO_ERR_ARG, "ephemeris %s: %zu samples, at least 2 needed", what, e->n);
    for (size_t i = 1; i < e->n; i++)
        if (!(e->mjd[i] > e->mjd[i - 1]))
            return sso_fail(SSO_ERR_ARG, "ephemeris %s: mjd not strictly increasing at sample %zu "
                            "(%.9f after %.9f)", what, i + 1, e->mjd[i], e->mjd[i - 1]);
    return SSO_OK;
}

sso_status sso_ephem_from_samples(const double *mjd, const double (*pos_km)[3], size_t n,
                                  sso_ephem **out)
{
    sso_status st;
    if (!out || !mjd || !pos_km)
        return sso_fail(SSO_ERR_ARG, "ephemeris: NULL argument");
    *out = NULL;
    sso_ephem *e = NULL;
    if ((st = ephem_alloc(n ? n : 1, &e)) != SSO_OK)
        return st;
    e->n = n;
    for (size_t i = 0; i < n; i++) {
        e->mjd[i] = mjd[i];
        memcpy(e->pos[i], pos_km[i], sizeof e->pos[i]);
        if (!isfinite(mjd[i]) || !isfinite(pos_km[i][0]) || !isfinite(pos_km[i][1]) ||
            !isfinite(pos_km[i][2])) {
            sso_ephem_free(e);
            return sso_fail(SSO_ERR_ARG, "ephemeris: sample %zu not finite", i + 1);
        }
    }
    if ((st = ephem_check(e, "(samples)")) != SSO_OK) {
        sso_ephem_free(e);
        return st;
    }
    *out = e;
    return SSO_OK;
}

/* Parses "mjd,x,y,z" (spaces allowed around fields); 0 on success. */
static int parse_sample(const char *line, double v[4])
{
    const char *p = line;
    for (int k = 0; k < 4; k++) {
        char *end;
        errno = 0;
        v[k] = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(v[k]))
            return -1;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (k < 3) {
            if (*p != ',')
                return -1;
            p++;
        }
    }
    return (*p == 0 || *p == '\n' || *p == '\r') ? 0 : -1;
}

sso_status sso_ephem_load(const char *path, sso_ephem **out)
{
    sso_status st = SSO_OK;
    sso_ephem *e = NULL;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap_line = 0, cap = 256, lineno = 0;
    int header_seen = 0;
    if (!out || !path)
        return sso_fail(SSO_ERR_ARG, "ephemeris: NULL argument");
    *out = NULL;
    if (!(f = fopen(path, "r")))
        return sso_fail(SSO_ERR_IO, "ephemeris %s: %s", path, strerror(errno));
    if ((st = ephem_alloc(cap, &e)) != SSO_OK)
        goto exit;
    while (getline(&line, &cap_line, f) >= 0) {
        lineno++;
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == 0)
            continue;
        if (!header_seen && e->n == 0 && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
            header_seen = 1; /* "mjd,x_km,y_km,z_km" */
            continue;
        }
        double v[4];
        if (parse_sample(s, v)) {
            st = sso_fail(SSO_ERR_ARG, "ephemeris %s, line %zu: expected mjd,x_km,y_km,z_km",
                          path, lineno);
            goto exit;
        }
        if (e->n == cap) {
            double *m = realloc(e->mjd, 2 * cap * sizeof *e->mjd);
            if (m)
                e->mjd = m;
            double (*q)[3] = realloc(e->pos, 2 * cap * sizeof *e->pos);
            if (q)
                e->pos = q;
            if (!m || !q) {
                st = sso_fail(SSO_ERR_NOMEM, "ephemeris: out of memory");
                goto exit;
            }
            cap *= 2;
        }
        e->mjd[e->n] = v[0];
        e->pos[e->n][0] = v[1];
        e->pos[e->n][1] = v[2];
        e->pos[e->n][2] = v[3];
        e->n++;
    }
    if (ferror(f)) {
        st = sso_fail(SSO_ERR_IO, "ephemeris %s: read error", path);
        goto exit;
    }
    if ((st = ephem_check(e, path)) != SSO_OK)
        goto exit;
    *out = e;
    e = NULL;
exit:
    free(line);
    if (f)
        fclose(f);
    sso_ephem_free(e);
    return st;
}

int sso_ephem_at(const sso_ephem *e, double mjd, double pos_km[3])
{
    pos_km[0] = pos_km[1] = pos_km[2] = NAN;
    if (!e || !isfinite(mjd) || mjd < e->mjd[0] || mjd > e->mjd[e->n - 1])
        return 0;
    size_t lo = 0, hi = e->n - 1; /* invariant: mjd[lo] <= mjd <= mjd[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->mjd[mid] <= mjd)
            lo = mid;
        else
            hi = mid;
    }
    if (lo == 0 || hi == e->n - 1) { /* outermost interval: linear */
        double t = (mjd - e->mjd[lo]) / (e->mjd[hi] - e->mjd[lo]);
        for (int c = 0; c < 3; c++)
            pos_km[c] = e->pos[lo][c] + t * (e->pos[hi][c] - e->pos[lo][c]);
        return 1;
    }
    /* Lagrange basis on the 4 nodes lo-1, lo, hi, hi+1 */
    const size_t idx[4] = {lo - 1, lo, hi, hi + 1};
    double w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = 1.0;
        for (int j = 0; j < 4; j++)
            if (j != i)
                w[i] *= (mjd - e->mjd[idx[j]]) / (e->mjd[idx[i]] - e->mjd[idx[j]]);
    }
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (int i = 0; i < 4; i++)
            s += w[i] * e->pos[idx[i]][c];
        pos_km[c] = s;
    }
    return 1;
}

/* ---- report ----------------------------------------------------------------------------------- */

static const char *const g_col[SSO_ADES_N_COLUMNS] = {
    "trkSub", "mode", "stn", "sys", "ctr", "pos1", "pos2", "pos3", "obsTime", "ra",
    "dec", "rmsRA", "rmsDec", "astCat", "mag", "rmsMag", "band", "photCat", "logSNR", "exp"};
/* Column widths: "-1234567.890" km fits 13; obsTime is 24 characters. */
static const int g_width[SSO_ADES_N_COLUMNS] = {8, 4, 4, 7, 3, 13, 13, 13, 24, 11,
                                                11, 6, 6, 6, 5, 6, 4, 7, 6, 5};

void sso_ades_opts_default(sso_ades_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ast_cat = "Gaia3";
    o->phot_cat = "Gaia3";
    o->observatory_name = "Euclid";
    o->submitter = "sso";
    o->observers = "Euclid Consortium";
    o->measurers = "sso";
    o->telescope = "Euclid 1.2-m Korsch + VIS";
}

const char *sso_ades_station(const sso_ades_opts *o, const sso_alert *a)
{
    return (o->stn && o->stn[0]) ? o->stn : a->stn;
}

sso_ades_pos_source sso_ades_position(const sso_ades_opts *o, const sso_alert *a, int k,
                                      double pos_km[3])
{
    const sso_alert_obs *ob = &a->obs[k];
    if (isfinite(ob->pos_km[0]) && isfinite(ob->pos_km[1]) && isfinite(ob->pos_km[2])) {
        memcpy(pos_km, ob->pos_km, 3 * sizeof *pos_km);
        return SSO_ADES_POS_ALERT;
    }
    if (o->ephem && sso_ephem_at(o->ephem, ob->mjd, pos_km))
        return SSO_ADES_POS_EPHEM;
    pos_km[0] = pos_km[1] = pos_km[2] = NAN;
    return SSO_ADES_POS_MISSING;
}

/* Text that goes into a PSV field or header value: printable, no '|'. */
static int psv_text_ok(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '|')
            return 0;
    return 1;
}

static void field(FILE *f, int col, const char *v)
{
    /* the last column unpadded: no trailing blanks */
    fprintf(f, "%s%-*s", col ? "|" : "", col == SSO_ADES_N_COLUMNS - 1 ? 0 : g_width[col], v);
}

static void num_field(FILE *f, int col, const char *fmt, double v)
{
    char b[64] = "";
    if (isfinite(v))
        snprintf(b, sizeof b, fmt, v);
    field(f, col, b);
}

/* An rms in arcsec: 3 decimals (the mas), more below 0.5 mas so that a positive rms is never
 * written as 0 (at most 6 decimals). */
static void rms_field(FILE *f, int col, double v)
{
    int dec = 3;
    while (dec < 6 && isfinite(v) && v > 0 && v < 0.5 * pow(10.0, -dec))
        dec++;
    char fmt[8];
    snprintf(fmt, sizeof fmt, "%%.%df", dec);
    num_field(f, col, fmt, v);
}

static sso_status finish(FILE *f, char **buf, char **out)
{
    if (fclose(f) != 0) {
        free(*buf);
        return sso_fail(SSO_ERR_NOMEM, "ades: out of memory");
    }
    *out = *buf;
    return SSO_OK;
}

static void block(FILE *f, const char *name, const char *key, const char *value)
{
    if (value && value[0])
        fprintf(f, "# %s\n! %s %s\n", name, key, value);
}

sso_status sso_ades_header(const sso_ades_opts *o, const char *stn, const char *const *comments,
                           size_t n_comments, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    if (!o || !out)
        return sso_fail(SSO_ERR_ARG, "ades header: NULL argument");
    *out = NULL;
    if (!stn || !stn[0] || !psv_text_ok(stn))
        return sso_fail(SSO_ERR_ARG, "ades header: no observatory code (stn): set one");
    const char *texts[] = {o->observatory_name, o->submitter, o->observers, o->measurers,
                           o->telescope, o->ast_cat, o->phot_cat, o->band};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!psv_text_ok(texts[i]))
            return sso_fail(SSO_ERR_ARG, "ades header: '%.60s' has a '|' or a control character",
                            texts[i]);
    for (size_t i = 0; i < n_comments; i++)
        if (!psv_text_ok(comments[i]))
            return sso_fail(SSO_ERR_ARG, "ades header: comment %zu has a '|' or a control "
                            "character", i + 1);
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return sso_fail(SSO_ERR_NOMEM, "ades: out of memory");
    fprintf(f, "# version=2017\n# observatory\n! mpcCode %s\n", stn);
    if (o->observatory_name && o->observatory_name[0])
        fprintf(f, "! name %s\n", o->observatory_name);
    block(f, "submitter", "name", o->submitter);
    block(f, "observers", "name", o->observers);
    block(f, "measurers", "name", o->measurers);
    block(f, "telescope", "name", o->telescope);
    if (n_comments) {
        fprintf(f, "# comment\n");
        for (size_t i = 0; i < n_comments; i++)
            fprintf(f, "! line %s\n", comments[i]);
    }
    for (int c = 0; c < SSO_ADES_N_COLUMNS; c++)
        field(f, c, g_col[c]);
    fputc('\n', f);
    return finish(f, &buf, out);
}

sso_status sso_ades_rows(const sso_ades_opts *o, const sso_alert *a, char **out,
                         size_t *n_missing_pos)
{
    char *buf = NULL, iso[40];
    size_t len = 0, missing = 0;
    sso_status st;
    if (!o || !a || !out)
        return sso_fail(SSO_ERR_ARG, "ades rows: NULL argument");
    *out = NULL;
    if ((st = sso_alert_validate(a)) != SSO_OK)
        return st;
    const char *stn = sso_ades_station(o, a);
    if (!stn[0])
        return sso_fail(SSO_ERR_ARG, "alert %s: no observatory code (stn): set one", a->alert_id);
    if (!psv_text_ok(stn) || !psv_text_ok(a->trk_sub) || !psv_text_ok(a->mode) ||
        !psv_text_ok(o->ast_cat) || !psv_text_ok(o->phot_cat) || !psv_text_ok(o->band))
        return sso_fail(SSO_ERR_ARG, "alert %s: a '|' in trkSub, mode, stn, astCat, photCat or "
                        "band", a->alert_id);
    for (int k = 0; k < a->n_epochs; k++)
        if (!psv_text_ok(a->obs[k].band))
            return sso_fail(SSO_ERR_ARG, "alert %s: a '|' in band", a->alert_id);
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return sso_fail(SSO_ERR_NOMEM, "ades: out of memory");
    for (int k = 0; k < a->n_epochs && st == SSO_OK; k++) {
        const sso_alert_obs *ob = &a->obs[k];
        double pos[3];
        int have_pos = sso_ades_position(o, a, k, pos) != SSO_ADES_POS_MISSING;
        missing += !have_pos;
        if ((st = sso_alert_mjd_to_iso(ob->mjd, iso, sizeof iso)) != SSO_OK)
            break;
        /* ra at 1e-7 deg: a value that rounds up to 360 is written as 0 */
        double ra = round(ob->ra_deg * 1e7) >= 360e7 ? 0.0 : ob->ra_deg;
        field(f, 0, a->trk_sub);
        field(f, 1, a->mode[0] ? a->mode : "CCD");
        field(f, 2, stn);
        field(f, 3, have_pos ? "ICRF_KM" : "");
        field(f, 4, have_pos ? "399" : "");
        for (int c = 0; c < 3; c++)
            num_field(f, 5 + c, "%.3f", pos[c]);
        field(f, 8, iso);
        num_field(f, 9, "%.7f", ra);
        num_field(f, 10, "%+.7f", ob->dec_deg);
        rms_field(f, 11, ob->rms_ra_arcsec);
        rms_field(f, 12, ob->rms_dec_arcsec);
        field(f, 13, o->ast_cat ? o->ast_cat : "");
        num_field(f, 14, "%.2f", ob->mag);
        num_field(f, 15, "%.2f", isfinite(ob->mag) ? ob->rms_mag : NAN);
        field(f, 16, isfinite(ob->mag) ? (o->band ? o->band : ob->band) : "");
        field(f, 17, isfinite(ob->mag) && o->phot_cat ? o->phot_cat : "");
        num_field(f, 18, "%.2f", ob->snr > 0 ? log10(ob->snr) : NAN);
        num_field(f, 19, "%.1f", ob->exp_s);
        fputc('\n', f);
    }
    if (st != SSO_OK) {
        fclose(f);
        free(buf);
        return st;
    }
    if (n_missing_pos)
        *n_missing_pos = missing;
    return finish(f, &buf, out);
}
