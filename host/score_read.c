/* host/score_read.c: reading the scorer's inputs, truth.csv and alerts.jsonl (sso/score.h).
 *
 * truth.csv is trivial CSV (no quoting, no embedded commas): each line is split at commas into
 * exactly 14 fields and every field is parsed whole (strtod/strtol must consume it; numbers must
 * be finite). Rows are collected, sorted by (id, epoch) and grouped into movers; a repeated
 * (id, epoch) or rows of one id disagreeing on class, mag or rate are errors naming both lines.
 * Every data error is SSO_ERR_CORRUPT with "path:line: what" so the tool exits 3 and the user can
 * jump to the line.
 *
 * alerts.jsonl is read line by line with getline() and each non-blank line parsed by
 * sso_alert_from_json (alerts/alert.c): no second JSON parser here.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sso/score.h"

#define TRUTH_HEADER "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y"
#define TRUTH_NF 14

typedef struct truth_row {
    long line;
    int id, fast, epoch;
    double mag, rate, pa;
    sso_truth_epoch ep;
} truth_row;

static int parse_num(const char *s, double *out)
{
    char *end = NULL;
    if (!*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int *out)
{
    char *end = NULL;
    if (!*s)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < -2147483647L || v > 2147483647L)
        return -1;
    *out = (int)v;
    return 0;
}

/* Parses one data line (newline stripped, modified in place). Returns NULL or what is wrong. */
static const char *parse_row(char *s, truth_row *r)
{
    static const char *names[TRUTH_NF] = {"id",  "class",    "epoch", "mjd", "ra",
                                          "dec", "mag",      "rate",  "pa",  "trail_px",
                                          "snr", "det",      "x",     "y"};
    static char msg[64];
    char *f[TRUTH_NF];
    int nf = 0;
    for (char *p = s;;) {
        if (nf == TRUTH_NF)
            return "more than 14 fields";
        f[nf++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    if (nf != TRUTH_NF) {
        snprintf(msg, sizeof msg, "%d fields, expected 14", nf);
        return msg;
    }
    int bad = -1;
    double num[TRUTH_NF] = {0};
    for (int k = 3; k <= 10; k++)
        if (bad < 0 && parse_num(f[k], &num[k]))
            bad = k;
    if (parse_int(f[0], &r->id))
        bad = 0;
    else if (strcmp(f[1], "slow") && strcmp(f[1], "fast"))
        bad = 1;
    else if (parse_int(f[2], &r->epoch) || r->epoch < 1 || r->epoch > SSO_SCORE_MAX_EPOCHS)
        bad = 2;
    if (bad >= 0) {
        snprintf(msg, sizeof msg, "bad %s field", names[bad]);
        return msg;
    }
    r->fast = !strcmp(f[1], "fast");
    r->mag = num[6];
    r->rate = num[7];
    r->pa = num[8];
    if (r->rate < 0)
        return "negative rate";
    if (num[4] < 0 || num[4] >= 360 || num[5] < -90 || num[5] > 90)
        return "ra/dec out of range";
    if (num[10] < 0)
        return "negative snr";
    if (strlen(f[11]) >= sizeof r->ep.det)
        return "det field too long";
    sso_truth_epoch *e = &r->ep;
    e->epoch = r->epoch;
    e->mjd = num[3];
    e->ra_deg = num[4];
    e->dec_deg = num[5];
    e->trail_px = num[9];
    e->snr = num[10];
    strcpy(e->det, f[11]);
    if (e->det[0]) {
        if (parse_num(f[12], &e->x_px) || parse_num(f[13], &e->y_px))
            return "bad x/y field (det is set)";
    } else {
        if (f[12][0] || f[13][0])
            return "x/y given without det";
        e->x_px = e->y_px = NAN;
    }
    return NULL;
}

static int row_cmp(const void *pa, const void *pb)
{
    const truth_row *a = pa, *b = pb;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    if (a->epoch != b->epoch)
        return a->epoch < b->epoch ? -1 : 1;
    return (a->line > b->line) - (a->line < b->line);
}

/* Distinct CCD ids ("3-4.F" -> "3-4") over all epochs. */
static int count_ccds(const sso_truth *t)
{
    char seen[64][16];
    int n = 0;
    for (size_t i = 0; i < t->n; i++)
        for (int k = 0; k < t->movers[i].n_epochs; k++) {
            char id[16];
            snprintf(id, sizeof id, "%s", t->movers[i].ep[k].det);
            char *dot = strchr(id, '.');
            if (dot)
                *dot = 0;
            if (!id[0])
                continue;
            int j = 0;
            while (j < n && strcmp(seen[j], id))
                j++;
            if (j == n && n < 64)
                strcpy(seen[n++], id);
        }
    return n;
}

static sso_status group_rows(const char *path, truth_row *rows, size_t nr, sso_truth *t)
{
    if (nr)
        qsort(rows, nr, sizeof *rows, row_cmp);
    size_t nm = 0;
    for (size_t i = 0; i < nr; i++)
        nm += i == 0 || rows[i].id != rows[i - 1].id;
    t->movers = nm ? calloc(nm, sizeof *t->movers) : NULL;
    if (nm && !t->movers)
        return sso_fail(SSO_ERR_NOMEM, "%s: %zu movers", path, nm);
    for (size_t i = 0; i < nr; i++) {
        const truth_row *r = &rows[i];
        if (i == 0 || r->id != rows[i - 1].id) {
            sso_truth_mover *m = &t->movers[t->n++];
            m->id = r->id;
            m->fast = r->fast;
            m->mag = r->mag;
            m->rate_arcsec_h = r->rate;
            m->pa_deg = r->pa;
        } else {
            const truth_row *p = &rows[i - 1];
            if (r->epoch == p->epoch)
                return sso_fail(SSO_ERR_CORRUPT, "%s:%ld: mover %d epoch %d repeats line %ld",
                                path, r->line, r->id, r->epoch, p->line);
            if (r->fast != p->fast || r->mag != p->mag || r->rate != p->rate)
                return sso_fail(SSO_ERR_CORRUPT,
                                "%s:%ld: mover %d: class/mag/rate differ from line %ld", path,
                                r->line, r->id, p->line);
        }
        sso_truth_mover *m = &t->movers[t->n - 1];
        m->ep[m->n_epochs++] = r->ep; /* epochs 1..MAX are distinct, so n_epochs <= MAX */
    }
    t->n_ccds = count_ccds(t);
    return SSO_OK;
}

sso_status sso_truth_read(const char *path, sso_truth **out)
{
    sso_status st = SSO_OK;
    FILE *fp = NULL;
    char *line = NULL;
    size_t cap = 0, nr = 0, rcap = 0;
    truth_row *rows = NULL;
    sso_truth *t = NULL;
    long lineno = 0;
    if (!path || !out)
        return sso_fail(SSO_ERR_ARG, "truth: NULL argument");
    *out = NULL;
    if (!(fp = fopen(path, "r")))
        return sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(errno));
    if (!(t = calloc(1, sizeof *t))) {
        st = sso_fail(SSO_ERR_NOMEM, "%s", path);
        goto exit;
    }
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            st = sso_fail(SSO_ERR_CORRUPT, "%s:%ld: NUL byte in line", path, lineno);
            goto exit;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (lineno == 1) {
            if (strcmp(line, TRUTH_HEADER)) {
                st = sso_fail(SSO_ERR_CORRUPT, "%s:1: header is not '%s'", path, TRUTH_HEADER);
                goto exit;
            }
            continue;
        }
        if (nr == rcap) {
            size_t nc = rcap ? 2 * rcap : 256;
            truth_row *nrw = realloc(rows, nc * sizeof *rows);
            if (!nrw) {
                st = sso_fail(SSO_ERR_NOMEM, "%s:%ld", path, lineno);
                goto exit;
            }
            rows = nrw;
            rcap = nc;
        }
        memset(&rows[nr], 0, sizeof rows[nr]);
        const char *why = parse_row(line, &rows[nr]);
        if (why) {
            st = sso_fail(SSO_ERR_CORRUPT, "%s:%ld: %s", path, lineno, why);
            goto exit;
        }
        rows[nr++].line = lineno;
    }
    if (ferror(fp)) {
        st = sso_fail(SSO_ERR_IO, "%s: read error after line %ld", path, lineno);
        goto exit;
    }
    if (lineno == 0) {
        st = sso_fail(SSO_ERR_CORRUPT, "%s:1: empty file (no header)", path);
        goto exit;
    }
    if ((st = group_rows(path, rows, nr, t)) != SSO_OK)
        goto exit;
    *out = t;
    t = NULL;
exit:
    sso_truth_free(t);
    free(rows);
    free(line);
    if (fp)
        fclose(fp);
    return st;
}

void sso_truth_free(sso_truth *t)
{
    if (!t)
        return;
    free(t->movers);
    free(t);
}

sso_status sso_alerts_read_jsonl(const char *path, sso_alert **out, size_t *n)
{
    sso_status st = SSO_OK;
    FILE *fp = NULL;
    char *line = NULL;
    size_t cap = 0, na = 0, acap = 0;
    sso_alert *a = NULL;
    long lineno = 0;
    if (!path || !out || !n)
        return sso_fail(SSO_ERR_ARG, "alerts: NULL argument");
    *out = NULL;
    *n = 0;
    if (!(fp = fopen(path, "r")))
        return sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(errno));
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t k = 0;
        while (k < (size_t)len && strchr(" \t\r\n", line[k]))
            k++;
        if (k == (size_t)len)
            continue; /* blank */
        if (na == acap) {
            size_t nc = acap ? 2 * acap : 64;
            sso_alert *nw = realloc(a, nc * sizeof *a);
            if (!nw) {
                st = sso_fail(SSO_ERR_NOMEM, "%s:%ld", path, lineno);
                goto exit;
            }
            a = nw;
            acap = nc;
        }
        if (sso_alert_from_json(line, (size_t)len, &a[na]) != SSO_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", sso_last_error());
            st = sso_fail(SSO_ERR_CORRUPT, "%s:%ld: %s", path, lineno, why);
            goto exit;
        }
        na++;
    }
    if (ferror(fp)) {
        st = sso_fail(SSO_ERR_IO, "%s: read error after line %ld", path, lineno);
        goto exit;
    }
    *out = na ? a : NULL;
    *n = na;
    if (na)
        a = NULL;
exit:
    free(a);
    free(line);
    if (fp)
        fclose(fp);
    return st;
}
