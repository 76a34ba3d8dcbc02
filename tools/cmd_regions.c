/* tools/cmd_regions.c: ds9 region files of alerts, one per exposure: `sso regions` and the writer
 * that `sso run` uses for its regions-<dither>.reg.
 *
 * An exposure is an (obs_id, mid-exposure MJD) pair; epochs of different alerts belong to the same
 * exposure when their MJDs agree within 1e-6 d (0.09 s: the engine copies one value per exposure).
 * `sso regions` reads alerts from an alerts.jsonl (`sso run`'s output) or from the store (latest
 * revisions), finds the exposures, numbers them 1.. by time within each observation and writes
 * DIR/regions-<obs_id>-<k>.reg: a circle per detection (0.5" radius), labelled with trkSub and
 * rate, green for slow movers and cyan for fast ones, in fk5 (ICRS) degrees.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/status_internal.h"
#include "tools/commands.h"

#define SAME_EXPOSURE_D 1e-6

sso_status sso_regions_write(const char *path, const char *origin, const char *obs_id,
                             double mjd_mid, const sso_alert *alerts, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    fprintf(f, "# Region file format: DS9 version 4.1\n# %s, exposure MJD %.6f\n"
               "global color=green width=1\nfk5\n",
            origin, mjd_mid);
    for (size_t i = 0; i < n; i++) {
        const sso_alert *a = &alerts[i];
        if (obs_id && strcmp(a->obs_id, obs_id))
            continue;
        for (int k = 0; k < a->n_epochs; k++)
            if (fabs(a->obs[k].mjd - mjd_mid) < SAME_EXPOSURE_D)
                fprintf(f, "circle(%.7f,%.7f,0.5\") # text={%s %.1f\"/h} color=%s\n",
                        a->obs[k].ra_deg, a->obs[k].dec_deg, a->trk_sub, a->rate_arcsec_h,
                        a->cls == SSO_ALERT_SLOW ? "green" : "cyan");
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(errno));
    }
    return SSO_OK;
}

/* Alerts of an alerts.jsonl, one JSON object a line (blank lines skipped). */
static sso_status load_jsonl(const char *path, sso_alert **out, size_t *n)
{
    sso_status st = SSO_OK;
    char *line = NULL;
    size_t cap_line = 0, cap = 0, lineno = 0;
    ssize_t len;
    sso_alert *a = NULL;
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(errno));
    while ((len = getline(&line, &cap_line, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            sso_alert *b = realloc(a, cap * sizeof *b);
            if (!b) {
                st = sso_fail(SSO_ERR_NOMEM, "out of memory");
                break;
            }
            a = b;
        }
        if ((st = sso_alert_from_json(line, (size_t)len, &a[*n])) != SSO_OK) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "%s, line %zu: %s", path, lineno, sso_last_error());
            break;
        }
        (*n)++;
    }
    free(line);
    fclose(f);
    if (st != SSO_OK) {
        free(a);
        *n = 0;
        return st;
    }
    *out = a;
    return SSO_OK;
}

typedef struct exposure {
    const char *obs_id;
    double mjd;
} exposure;

static int cmp_exposure(const void *pa, const void *pb)
{
    const exposure *x = pa, *y = pb;
    int c = strcmp(x->obs_id, y->obs_id);
    return c ? c : (x->mjd < y->mjd ? -1 : x->mjd > y->mjd);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso regions (--alerts alerts.jsonl | --store FILE) --out DIR\n"
            "\n"
            "Writes one ds9 region file per exposure, DIR/regions-<obs_id>-<k>.reg (k = 1.. the\n"
            "exposures of the observation in time order): a circle per detected object, labelled\n"
            "with trkSub and rate; green slow movers, cyan fast ones. From the store, the latest\n"
            "revision of every alert (role test included).\n"
            "\n"
            "exit codes: 0 ok, 2 usage, 3 unreadable alerts file, 4 file or store error.\n");
}

int sso_cmd_regions(int argc, char **argv)
{
    const char *jsonl = NULL, *store = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            return 0;
        } else if (v && !strcmp(k, "--alerts")) {
            jsonl = argv[++i];
        } else if (v && !strcmp(k, "--store")) {
            store = argv[++i];
        } else if (v && !strcmp(k, "--out")) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "sso regions: bad option or value: %s\n", k);
            usage(stderr);
            return 2;
        }
    }
    if (!dir || !jsonl == !store) {
        fprintf(stderr, "sso regions: --out DIR and one of --alerts FILE, --store FILE needed\n");
        usage(stderr);
        return 2;
    }
    sso_alert *a = NULL;
    exposure *ex = NULL;
    size_t n = 0, n_ex = 0, n_files = 0;
    sso_status st = jsonl ? load_jsonl(jsonl, &a, &n)
                          : sso_cli_load_store(store, 0, INT64_MIN, 1, &a, &n);
    if (st == SSO_OK && mkdir(dir, 0777) != 0 && errno != EEXIST)
        st = sso_fail(SSO_ERR_IO, "%s: %s", dir, strerror(errno));
    if (st == SSO_OK && !(ex = malloc((n ? n : 1) * SSO_ALERT_MAX_EPOCHS * sizeof *ex)))
        st = sso_fail(SSO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == SSO_OK && i < n; i++)
        for (int k = 0; k < a[i].n_epochs; k++)
            ex[n_ex++] = (exposure){a[i].obs_id, a[i].obs[k].mjd};
    if (st == SSO_OK)
        qsort(ex, n_ex, sizeof *ex, cmp_exposure);
    /* one file per run of equal (obs_id, mjd within SAME_EXPOSURE_D) */
    int k = 0;
    for (size_t i = 0; st == SSO_OK && i < n_ex; i++) {
        int new_obs = i == 0 || strcmp(ex[i].obs_id, ex[i - 1].obs_id);
        if (!new_obs && ex[i].mjd - ex[i - 1].mjd < SAME_EXPOSURE_D)
            continue;
        k = new_obs ? 1 : k + 1;
        char path[4096], origin[256];
        snprintf(path, sizeof path, "%s/regions-%s-%d.reg", dir, ex[i].obs_id, k);
        snprintf(origin, sizeof origin, "sso regions: observation %s, exposure %d", ex[i].obs_id,
                 k);
        st = sso_regions_write(path, origin, ex[i].obs_id, ex[i].mjd, a, n);
        n_files++;
    }
    free(ex);
    free(a);
    if (st != SSO_OK) {
        int code = sso_cli_error("regions", st);
        return st == SSO_ERR_ARG ? 2 : code;
    }
    fprintf(stderr, "sso regions: %zu alerts, %zu region files in %s\n", n, n_files, dir);
    return 0;
}
