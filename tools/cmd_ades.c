/* tools/cmd_ades.c: `sso ades` (stored alerts as an ADES PSV report for the Minor Planet Center),
 * `sso alerts` (stored alerts as JSON lines) and the ADES path of `sso listen --format ades`.
 *
 * Both exports read the store through a read-only connection (sso/store.h), rows with seq >
 * --since-seq and issued at or after --since-time, by seq, the latest revision of each alert only
 * (superseded rows are skipped). `sso ades` renders with sso/ades.h: it first resolves every
 * epoch's observer position (alert, else --ephem), then writes one obsBlock per station with a
 * `# comment` that says how many rows lack the position (and a warning on stderr); with
 * --require-position such a report is not written at all and the exit code is 6. Output goes to
 * --out FILE (temporary name, then renamed: never half a report) or stdout.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "tools/commands.h"

#define EXIT_NO_POSITION 6 /* --require-position and an observer position is missing */

/* ---- reading the store ------------------------------------------------------------------------ */

typedef struct load_ctx {
    int64_t since_us;
    int include_test;
    FILE *jsonl;       /* JSON lines mode: rows are written here as stored */
    sso_alert *a;      /* alert mode: collected here */
    size_t n, cap;
    sso_status st;
} load_ctx;

static int on_row(const sso_store_row *r, void *user)
{
    load_ctx *c = user;
    if (r->superseded || r->time_us < c->since_us ||
        (strcmp(r->kind, "slow") && strcmp(r->kind, "fast")))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        sso_alert *a = realloc(c->a, cap * sizeof *a);
        if (!a) {
            c->st = sso_fail(SSO_ERR_NOMEM, "out of memory");
            return 1;
        }
        c->a = a;
        c->cap = cap;
    }
    sso_alert *a = &c->a[c->n];
    if ((c->st = sso_alert_from_json(r->json, r->json_len, a)) != SSO_OK)
        return 1;
    if (a->role == SSO_ROLE_TEST && !c->include_test)
        return 0;
    if (c->jsonl) {
        fwrite(r->json, 1, r->json_len, c->jsonl);
        fputc('\n', c->jsonl);
    } else {
        c->n++;
    }
    return 0;
}

static sso_status load(const char *path, uint64_t since_seq, load_ctx *c)
{
    sso_store *s = NULL;
    sso_status st = sso_store_open_reader(path, &s);
    if (st == SSO_OK)
        st = sso_store_since_seq(s, since_seq, 0, on_row, c);
    if (st == SSO_OK)
        st = c->st;
    sso_store_free(s);
    return st;
}

sso_status sso_cli_load_store(const char *path, uint64_t since_seq, int64_t since_us,
                              int include_test, sso_alert **out, size_t *n)
{
    load_ctx c = {since_us, include_test, NULL, NULL, 0, 0, SSO_OK};
    sso_status st = load(path, since_seq, &c);
    if (st != SSO_OK) {
        free(c.a);
        c.a = NULL;
        c.n = 0;
    }
    *out = c.a;
    *n = c.n;
    return st;
}

/* ---- options shared by `sso ades` and `sso alerts` -------------------------------------------- */

typedef struct export_opts {
    const char *store, *out, *ephem, *stn, *ast_cat, *band;
    uint64_t since_seq;
    int64_t since_us;
    int include_test, require_position;
} export_opts;

static void usage_ades(FILE *f);
static void usage_alerts(FILE *f)
{
    fprintf(f, "usage: sso alerts --store FILE [--since-seq N | --since-time ISO] [--out FILE]\n"
               "\n"
               "Writes the stored alerts (latest revision of each, role test included) as JSON\n"
               "lines, exactly as published, in seq order.\n"
               "\n"
               "exit codes: 0 ok, 2 usage, 4 store or file error.\n");
}

/* Options of `sso ades` (ades = 1) or `sso alerts` (0). Returns -1 to go on, else the exit code
 * (0 after --help, 2 after a usage message). */
static int parse_export(int argc, char **argv, int ades, export_opts *e)
{
    const char *cmd = ades ? "ades" : "alerts";
    memset(e, 0, sizeof *e);
    e->since_us = INT64_MIN;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int takes_value = 1;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            (ades ? usage_ades : usage_alerts)(stdout);
            return 0;
        } else if (v && !strcmp(k, "--store")) {
            e->store = v;
        } else if (v && !strcmp(k, "--out")) {
            e->out = v;
        } else if (v && !strcmp(k, "--since-seq") && v[0] != '-' &&
                   (e->since_seq = strtoull(v, &end, 10), end != v && !*end)) {
        } else if (v && !strcmp(k, "--since-time") &&
                   sso_time_rfc3339_to_us(v, &e->since_us) == SSO_OK) {
        } else if (ades && v && !strcmp(k, "--stn")) {
            e->stn = v;
        } else if (ades && v && !strcmp(k, "--ephem")) {
            e->ephem = v;
        } else if (ades && v && !strcmp(k, "--ast-cat")) {
            e->ast_cat = v;
        } else if (ades && v && !strcmp(k, "--band")) {
            e->band = v;
        } else if (ades && !strcmp(k, "--include-test")) {
            e->include_test = 1, takes_value = 0;
        } else if (ades && !strcmp(k, "--require-position")) {
            e->require_position = 1, takes_value = 0;
        } else {
            fprintf(stderr, "sso %s: bad option or value: %s\n", cmd, k);
            (ades ? usage_ades : usage_alerts)(stderr);
            return 2;
        }
        i += takes_value;
    }
    if (!e->store) {
        fprintf(stderr, "sso %s: --store FILE is required\n", cmd);
        (ades ? usage_ades : usage_alerts)(stderr);
        return 2;
    }
    return -1;
}

/* Opens --out under a temporary name (or stdout). */
static FILE *open_out(const export_opts *e, char *tmp, size_t n)
{
    if (!e->out)
        return stdout;
    snprintf(tmp, n, "%s.tmp", e->out);
    FILE *f = fopen(tmp, "w");
    if (!f)
        sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    return f;
}

static sso_status close_out(const export_opts *e, FILE *f, const char *tmp, sso_status st)
{
    if (!e->out) {
        fflush(stdout);
        return st;
    }
    if (fclose(f) != 0 && st == SSO_OK)
        st = sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (st == SSO_OK && rename(tmp, e->out) != 0)
        st = sso_fail(SSO_ERR_IO, "%s: %s", e->out, strerror(errno));
    if (st != SSO_OK)
        remove(tmp);
    return st;
}

/* ---- sso ades --------------------------------------------------------------------------------- */

static void usage_ades(FILE *f)
{
    fprintf(f,
            "usage: sso ades --store FILE [--since-seq N | --since-time ISO] [--stn CODE]\n"
            "                [--ephem FILE] [--require-position] [--out FILE] [options]\n"
            "\n"
            "Writes the stored detections as an IAU ADES report in PSV (version 2017), one row per\n"
            "epoch of each alert (latest revision): trkSub, mode CCD, stn, the observer position\n"
            "(sys ICRF_KM, ctr 399, pos1..3 km), obsTime, ra, dec (decimal degrees), rmsRA, rmsDec,\n"
            "astCat, mag, rmsMag, band, photCat, logSNR, exp.\n"
            "\n"
            "Euclid observes from space, so every row needs the observer's position: taken from the\n"
            "alert when it carries one, else interpolated in --ephem. Rows without one are counted\n"
            "in a `# comment` line of the report and a warning on stderr.\n"
            "\n"
            "  --store FILE         the SQLite alert store [required]\n"
            "  --since-seq N        only alerts with seq > N [0]\n"
            "  --since-time ISO     only alerts issued at or after ISO (RFC 3339)\n"
            "  --stn CODE           MPC observatory code [each alert's stn]\n"
            "  --ephem FILE         observer ephemeris: lines mjd,x_km,y_km,z_km (UTC MJD,\n"
            "                       geocentric ICRF, km; '#' comments; cubic interpolation)\n"
            "  --require-position   write nothing and exit 6 when a row lacks the position\n"
            "  --ast-cat CAT        astCat and photCat [Gaia3]\n"
            "  --band B             band written for every magnitude [each epoch's band]\n"
            "  --include-test       also alerts of role \"test\" (never to be submitted)\n"
            "  --out FILE           write here [stdout]\n"
            "\n"
            "exit codes: 0 ok, 2 usage, 4 store or file error, 6 observer position missing with\n"
            "--require-position.\n");
}

/* Writes the report of alerts a[0..n) (one block per station) to f. */
static sso_status write_report(FILE *f, const sso_ades_opts *o, const sso_alert *a, size_t n,
                               size_t *missing_total)
{
    sso_status st = SSO_OK;
    unsigned char *done = calloc(n ? n : 1, 1);
    if (!done)
        return sso_fail(SSO_ERR_NOMEM, "out of memory");
    *missing_total = 0;
    for (size_t i = 0; i < n && st == SSO_OK; i++) {
        if (done[i])
            continue;
        const char *stn = sso_ades_station(o, &a[i]);
        size_t rows = 0, missing = 0;
        for (size_t j = i; j < n; j++) {
            if (strcmp(sso_ades_station(o, &a[j]), stn))
                continue;
            for (int k = 0; k < a[j].n_epochs; k++) {
                double pos[3];
                missing += sso_ades_position(o, &a[j], k, pos) == SSO_ADES_POS_MISSING;
                rows++;
            }
        }
        *missing_total += missing;
        char line[200];
        const char *comments[1] = {line};
        snprintf(line, sizeof line, "observer position (sys/ctr/pos1..3) missing for %zu of %zu "
                 "rows: no position in the alerts and none in the ephemeris", missing, rows);
        char *text = NULL;
        if ((st = sso_ades_header(o, stn, comments, missing ? 1 : 0, &text)) != SSO_OK)
            break;
        fputs(text, f);
        free(text);
        for (size_t j = i; j < n && st == SSO_OK; j++) {
            if (done[j] || strcmp(sso_ades_station(o, &a[j]), stn))
                continue;
            done[j] = 1;
            if ((st = sso_ades_rows(o, &a[j], &text, NULL)) == SSO_OK)
                fputs(text, f);
            free(text);
        }
    }
    free(done);
    return st;
}

int sso_cmd_ades(int argc, char **argv)
{
    export_opts e;
    int rc = parse_export(argc, argv, 1, &e);
    if (rc >= 0)
        return rc;
    sso_ades_opts o;
    sso_ades_opts_default(&o);
    o.stn = e.stn;
    o.band = e.band;
    if (e.ast_cat)
        o.ast_cat = o.phot_cat = e.ast_cat;
    sso_ephem *eph = NULL;
    sso_alert *a = NULL;
    size_t n = 0, missing = 0;
    char tmp[4200];
    FILE *f = NULL;
    sso_status st = SSO_OK;
    int code = 0;
    if (e.ephem && (st = sso_ephem_load(e.ephem, &eph)) != SSO_OK)
        goto exit;
    o.ephem = eph;
    if ((st = sso_cli_load_store(e.store, e.since_seq, e.since_us, e.include_test, &a, &n)))
        goto exit;
    for (size_t i = 0; i < n; i++)
        if (!sso_ades_station(&o, &a[i])[0]) {
            st = sso_fail(SSO_ERR_ARG, "alert %s has no observatory code: give --stn CODE (the "
                          "MPC code of the observing station)", a[i].alert_id);
            goto exit;
        }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < a[i].n_epochs; k++) {
            double pos[3];
            missing += sso_ades_position(&o, &a[i], k, pos) == SSO_ADES_POS_MISSING;
        }
    if (missing) {
        fprintf(stderr, "sso ades: warning: observer position missing for %zu row%s (no position "
                "in the alerts%s)%s\n", missing, missing == 1 ? "" : "s",
                eph ? ", outside the ephemeris" : ", no --ephem",
                e.require_position ? ": nothing written (--require-position)" : "");
        if (e.require_position) {
            code = EXIT_NO_POSITION;
            goto exit;
        }
    }
    if (!(f = open_out(&e, tmp, sizeof tmp))) {
        st = SSO_ERR_IO;
        goto exit;
    }
    if (n)
        st = write_report(f, &o, a, n, &missing);
    st = close_out(&e, f, tmp, st);
    if (st == SSO_OK) {
        size_t rows = 0;
        for (size_t i = 0; i < n; i++)
            rows += (size_t)a[i].n_epochs;
        fprintf(stderr, "sso ades: %zu alerts, %zu rows (%zu without observer position) written "
                "to %s\n", n, rows, missing, e.out ? e.out : "stdout");
    }
exit:
    sso_ephem_free(eph);
    free(a);
    if (st != SSO_OK) {
        sso_cli_error("ades", st);
        return st == SSO_ERR_ARG ? 2 : 4;
    }
    return code;
}

/* ---- sso alerts (JSON lines) ------------------------------------------------------------------ */

int sso_cmd_alerts(int argc, char **argv)
{
    export_opts e;
    load_ctx c = {INT64_MIN, 1, NULL, NULL, 0, 0, SSO_OK};
    int rc = parse_export(argc, argv, 0, &e);
    if (rc >= 0)
        return rc;
    char tmp[4200];
    c.since_us = e.since_us;
    sso_status st = SSO_OK;
    if (!(c.jsonl = open_out(&e, tmp, sizeof tmp)))
        st = SSO_ERR_IO;
    else
        st = close_out(&e, c.jsonl, tmp, load(e.store, e.since_seq, &c));
    free(c.a);
    if (st != SSO_OK) {
        sso_cli_error("alerts", st);
        return st == SSO_ERR_ARG ? 2 : 4;
    }
    return 0;
}

/* ---- sso listen --format ades ----------------------------------------------------------------- */

int sso_cli_ades_print(FILE *f, const sso_ades_opts *opts, const sso_alert *a, int *state)
{
    sso_ades_opts o;
    char *text = NULL;
    sso_status st = SSO_OK;
    if (opts)
        o = *opts;
    else
        sso_ades_opts_default(&o);
    if (*state == 0) {
        const char *note[1] = {
            o.ephem ? "live stream: observer positions from the alerts, else from the ephemeris"
                    : "live stream: observer positions only where the alerts carry them"};
        if ((st = sso_ades_header(&o, sso_ades_station(&o, a), note, 1, &text)) == SSO_OK)
            fputs(text, f);
        free(text);
        text = NULL;
        if (st == SSO_OK)
            *state = 1;
    }
    size_t missing = 0;
    if (st == SSO_OK && (st = sso_ades_rows(&o, a, &text, &missing)) == SSO_OK)
        fputs(text, f);
    free(text);
    if (st == SSO_OK && missing && *state == 1) {
        fprintf(stderr, "sso listen: warning: alert %s has no observer position (ADES sys/pos)%s\n",
                a->alert_id, o.ephem ? " and its time is outside the ephemeris" : "");
        *state = 2; /* warned once */
    }
    if (st != SSO_OK) {
        sso_cli_error("listen", st);
        return -1;
    }
    return 0;
}
