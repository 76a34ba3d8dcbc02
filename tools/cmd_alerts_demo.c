/* tools/cmd_alerts_demo.c: `sso alerts-demo`: synthetic alerts for tests and demonstrations.
 *
 * --dry-run prints N synthetic alerts as JSON lines with a locally numbered envelope (no store, no
 * network): what the schema test validates. Without it, the alerts go the real way: stored (SQLite,
 * one transaction per quartet of --per-quartet alerts), then published (ZeroMQ PUB) with the
 * replay service running; --linger keeps serving replay and heartbeats afterwards. --retract K
 * then processes the observation again without its last K alerts (sso_publisher_put_observation
 * with SSO_PUT_RETRACT_MISSING): K retractions and an observation summary, i.e. every kind of
 * message the stream carries, from the real publisher (what the stream schema test validates).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts/synth.h"
#include "host/status_internal.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso alerts-demo [--n N] [--seed S] [--obs-id ID] --dry-run\n"
            "       sso alerts-demo [--n N] [--seed S] [--obs-id ID] --store DB [--publish EP]\n"
            "                       [--replay EP] [--per-quartet K] [--heartbeat S] [--linger S]\n"
            "                       [--delay S] [--retract K] [--curve-secret FILE --allow-keys FILE]\n"
            "\n"
            "Writes N synthetic alerts (role \"test\"): stores them in DB (one transaction per K),\n"
            "publishes them, then keeps serving replay and heartbeats for --linger seconds.\n"
            "\n"
            "  --n N         number of alerts [100]\n"
            "  --seed S      random seed [1]\n"
            "  --obs-id ID   observation id of the alerts [demo]\n"
            "  --dry-run     print them as JSON lines on stdout, seq 1..N\n"
            "  --store DB    the SQLite store\n"
            "  --publish EP  PUB endpoint [tcp://127.0.0.1:5556]\n"
            "  --replay EP   replay endpoint [tcp://127.0.0.1:5557]\n"
            "  --per-quartet K  alerts per stored quartet [100]\n"
            "  --heartbeat S heartbeat interval [1]\n"
            "  --linger S    keep serving after publishing [2]\n"
            "  --delay S     wait S seconds after binding before publishing, for subscribers to\n"
            "                join (summaries and heartbeats are not replayed) [0]\n"
            "  --retract K   then store the observation again without its last K alerts: K\n"
            "                retractions (sso.v1.retract) and a summary with status (sso.v1.quartet)\n"
            "  --curve-secret FILE, --allow-keys FILE  CURVE, as for `sso run`\n"
            "\n"
            "exit codes: 0 ok, 2 usage, 4 store or socket error.\n");
}

static int parse_u64(const char *s, unsigned long long *v)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    *v = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

static void sleep_s(double s)
{
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* The observation stored again with alerts 0..n-k-1 only: k retractions and a summary. */
static sso_status redo_without(sso_publisher *p, unsigned long long n, unsigned long long k,
                               unsigned long long seed, const char *obs_id)
{
    sso_obs_record rec;
    sso_store_put_result r;
    sso_status st = SSO_OK;
    size_t m = (size_t)(n - k);
    sso_alert *a = malloc((m ? m : 1) * sizeof *a);
    if (!a)
        return sso_fail(SSO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m && st == SSO_OK; i++)
        st = sso_alert_synth(seed, obs_id, i, &a[i]);
    sso_obs_record_init(&rec, obs_id);
    rec.n_exposures = 4;
    rec.last_arrival_us = sso_time_now_us();
    if (st == SSO_OK && (st = sso_store_obs_begin(sso_publisher_store(p), rec.obs_id, 4,
                                                  rec.last_arrival_us)) == SSO_OK)
        st = sso_publisher_put_observation(p, &rec, a, m, SSO_PUT_RETRACT_MISSING, &r);
    if (st == SSO_OK)
        fprintf(stderr, "sso alerts-demo: observation %s stored again without %llu alert(s): %zu "
                "retracted\n", rec.obs_id, k, r.n_retracted);
    free(a);
    return st;
}

static int run_live(sso_publisher_opts *po, double hb_s, double linger_s, double delay_s,
                    unsigned long long n, unsigned long long per_q, unsigned long long n_retract,
                    unsigned long long seed, const char *obs_id)
{
    sso_publisher *p = NULL;
    sso_alert *q = NULL;
    sso_status st;
    if (!po->store_path) {
        fprintf(stderr, "sso alerts-demo: --store DB (or --dry-run) is required\n");
        return 2;
    }
    po->heartbeat_s = hb_s;
    if ((st = sso_publisher_create(po, &p)) != SSO_OK)
        goto exit;
    if (!(q = malloc(per_q * sizeof *q))) {
        st = sso_fail(SSO_ERR_NOMEM, "out of memory");
        goto exit;
    }
    sleep_s(delay_s);
    for (unsigned long long k = 0; k < n && st == SSO_OK; k += per_q) {
        size_t m = (size_t)(n - k < per_q ? n - k : per_q);
        for (size_t i = 0; i < m && st == SSO_OK; i++)
            st = sso_alert_synth(seed, obs_id, k + i, &q[i]);
        if (st == SSO_OK)
            st = sso_publisher_put_quartet(p, obs_id, q, m, NULL);
    }
    if (st == SSO_OK && n_retract)
        st = redo_without(p, n, n_retract, seed, obs_id);
    if (st == SSO_OK)
        sleep_s(linger_s);
    if (st == SSO_OK) {
        sso_publish_stats s;
        char pe[256], re[256];
        sso_publisher_stats(p, &s);
        sso_publisher_endpoints(p, pe, sizeof pe, re, sizeof re);
        fprintf(stderr, "sso alerts-demo: %llu alerts published on %s (replay %s), %llu heartbeats\n",
                (unsigned long long)s.sent, pe, re[0] ? re : "off",
                (unsigned long long)s.heartbeats);
    }
exit:
    free(q);
    sso_publisher_free(p);
    if (st != SSO_OK) {
        sso_cli_error("alerts-demo", st);
        return st == SSO_ERR_ARG ? 2 : 4;
    }
    return 0;
}

int sso_cmd_alerts_demo(int argc, char **argv)
{
    unsigned long long n = 100, seed = 1;
    const char *obs_id = "demo";
    int dry = 0;
    unsigned long long per_q = 100;
    double linger_s = 2, hb_s = 1, delay_s = 0;
    unsigned long long n_retract = 0;
    sso_publisher_opts po;
    sso_publisher_opts_default(&po);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(o, "--n") && !parse_u64(v, &n)) {
            i++;
        } else if (!strcmp(o, "--seed") && !parse_u64(v, &seed)) {
            i++;
        } else if (!strcmp(o, "--obs-id") && v) {
            obs_id = v;
            i++;
        } else if (!strcmp(o, "--store") && v) {
            po.store_path = v;
            i++;
        } else if (!strcmp(o, "--publish") && v) {
            po.pub_endpoint = v;
            i++;
        } else if (!strcmp(o, "--replay") && v) {
            po.replay_endpoint = v;
            i++;
        } else if (!strcmp(o, "--curve-secret") && v) {
            po.curve_secret = v;
            i++;
        } else if (!strcmp(o, "--allow-keys") && v) {
            po.allow_keys = v;
            i++;
        } else if (!strcmp(o, "--per-quartet") && !parse_u64(v, &per_q) && per_q > 0) {
            i++;
        } else if (!strcmp(o, "--linger") && v && (linger_s = atof(v)) >= 0) {
            i++;
        } else if (!strcmp(o, "--heartbeat") && v && (hb_s = atof(v)) > 0) {
            i++;
        } else if (!strcmp(o, "--delay") && v && (delay_s = atof(v)) >= 0 && delay_s <= 3600) {
            i++;
        } else if (!strcmp(o, "--retract") && !parse_u64(v, &n_retract)) {
            i++;
        } else if (!strcmp(o, "--dry-run")) {
            dry = 1;
        } else {
            fprintf(stderr, "sso alerts-demo: bad option or value: %s\n", o);
            usage(stderr);
            return 2;
        }
    }
    if (n_retract > n) {
        fprintf(stderr, "sso alerts-demo: --retract %llu is more than the %llu alerts\n", n_retract,
                n);
        return 2;
    }
    if (!dry)
        return run_live(&po, hb_s, linger_s, delay_s, n, per_q, n_retract, seed, obs_id);
    char boot[40];
    snprintf(boot, sizeof boot, "dry-run");
    for (unsigned long long i = 0; i < n; i++) {
        sso_alert a;
        char *j = NULL;
        sso_status st = sso_alert_synth(seed, obs_id, i, &a);
        if (st == SSO_OK) {
            a.seq = i + 1;
            snprintf(a.boot_id, sizeof a.boot_id, "%s", boot);
            st = sso_time_us_to_rfc3339(sso_time_now_us(), a.time, sizeof a.time);
        }
        if (st == SSO_OK)
            st = sso_alert_to_json(&a, 1, &j, NULL);
        if (st != SSO_OK)
            return sso_cli_error("alerts-demo", st);
        printf("%s\n", j);
        free(j);
    }
    return 0;
}
