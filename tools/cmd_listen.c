/* tools/cmd_listen.c: `sso listen`: an operator's live view of the alert stream.
 *
 * A thin shell over sso_subscriber (alerts/subscribe.c: subscribe, replay since the last seq,
 * fill gaps seen from seq and heartbeats), asked for every kind of message (all_kinds):
 *   sso.v1.slow / .fast  alerts: filtered by --class and --min-snr; --count counts these;
 *   sso.v1.retract       a withdrawn alert (numbered like alerts, so gap detection sees it): one
 *                        "retract" line in table, as received in json; ades skips it with a note
 *                        on stderr (a retracted detection is simply not reported);
 *   sso.v1.quartet       one summary line per processed observation (counts, latency) in table,
 *                        as received in json, nothing in ades;
 *   sso.v1.hb            heartbeats: used by the subscriber for gap detection, shown only with
 *                        --verbose (table and json).
 * --topic PREFIX applies to every kind; --class and --min-snr to alerts only (a retraction or a
 * summary carries no class or SNR, and an operator who saw an alert must see it withdrawn).
 * --format json prints each message exactly as received, one per line; ades prints ADES PSV
 * (sso_cli_ades_print in tools/cmd_ades.c, with --stn and --ephem as for `sso ades`).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/json.h"
#include "host/status_internal.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso listen --connect ENDPOINT [--replay ENDPOINT] [--topic PREFIX]\n"
            "                  [--min-snr X] [--class slow|fast] [--format table|json|ades]\n"
            "                  [--since-seq N] [--count N] [--timeout S] [--verbose]\n"
            "                  [--stn CODE] [--ephem FILE]\n"
            "                  [--curve-secret FILE --server-key FILE|Z85]\n"
            "\n"
            "Subscribes to an sso alert stream and prints what arrives: alerts (sso.v1.slow/fast) and\n"
            "retractions (sso.v1.retract) in seq order, each once; quartet summaries (sso.v1.quartet,\n"
            "one per processed observation: counts and latency) as they arrive live. With --replay,\n"
            "history after --since-seq and any gap (a dropped message, a reconnect; seen from seq and\n"
            "heartbeats) are fetched from the replay service.\n"
            "\n"
            "  --connect EP    the publisher, e.g. tcp://127.0.0.1:5556\n"
            "  --replay EP     its replay service, e.g. tcp://127.0.0.1:5557 [none: live only]\n"
            "  --topic PREFIX  only topics starting with PREFIX, e.g. sso.v1.fast [sso.v1.]\n"
            "  --min-snr X     only alerts whose best epoch has snr >= X (retractions and summaries\n"
            "                  are always shown)\n"
            "  --class C       only slow or fast movers (likewise)\n"
            "  --format F      table, json (one message per line, as received) or ades (PSV\n"
            "                  rows, header first, as `sso ades`; retractions are left out with a\n"
            "                  note on stderr, summaries and heartbeats are not printed) [table]\n"
            "  --stn CODE      ades: MPC observatory code [each alert's stn]\n"
            "  --ephem FILE    ades: observer ephemeris for alerts without a position (as for\n"
            "                  `sso ades`: lines mjd,x_km,y_km,z_km)\n"
            "  --since-seq N   start after seq N [0: all stored history]\n"
            "  --count N       exit after printing N alerts\n"
            "  --timeout S     exit after S seconds\n"
            "  --verbose       also print heartbeats (sso.v1.hb; table and json)\n"
            "  --curve-secret FILE  CURVE: this client's secret key (`sso keygen`); its public key\n"
            "                  must be in the server's --allow-keys file\n"
            "  --server-key K  CURVE: the server's public key, a .pub file or 40 Z85 characters\n"
            "\n"
            "SIGINT/SIGTERM end it cleanly: the summary line on stderr, exit 0 (or 1 with --count).\n"
            "\n"
            "exit codes: 0 ok (count reached, or timeout without --count), 1 timeout before\n"
            "--count alerts, 2 usage, 4 connection, replay or ephemeris error.\n");
}

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

enum { FMT_TABLE = 0, FMT_JSON = 1, FMT_ADES = 2 };

typedef struct listen_ctx {
    const char *topic;
    double min_snr;
    int cls; /* -1 any */
    int fmt;
    int verbose;
    unsigned long long count, printed; /* alerts */
    unsigned long long retracts, summaries, heartbeats, header_lines;
    const sso_ades_opts *ades; /* --format ades */
    int ades_state;            /* sso_cli_ades_print's: 0 before the header */
} listen_ctx;

/* Member key of a parsed message: a string ("" when absent or not a string). */
static const char *jstr(const sso_jdoc *d, const char *key)
{
    const sso_jnode *n = sso_jdoc_get(d, &d->nodes[0], key);
    return n && n->type == SSO_JSTR ? n->str : "";
}

/* Member key of a parsed message: a number (NaN when absent, null or not a number). */
static double jnum(const sso_jdoc *d, const char *key)
{
    const sso_jnode *n = sso_jdoc_get(d, &d->nodes[0], key);
    return n && n->type == SSO_JNUM ? n->num : NAN;
}

static void table_header(listen_ctx *c)
{
    if (c->header_lines++ == 0)
        printf("%8s %-4s %-8s %-30s %10s %10s %8s %6s %6s %5s %s\n", "seq", "cls", "trkSub",
               "alert_id", "ra", "dec", "rate\"/h", "pa", "mag", "snr", "src");
}

/* sso.v1.retract, sso.v1.quartet, sso.v1.hb: 0 to go on. */
static int on_other(listen_ctx *c, const char *topic, const char *json, size_t len, uint64_t seq,
                    int replay)
{
    const int retract = !strcmp(topic, "sso.v1.retract"), hb = !strcmp(topic, "sso.v1.hb");
    const int quartet = !strcmp(topic, "sso.v1.quartet");
    if (!retract && !hb && !quartet)
        return 0; /* a kind this version does not know */
    if (hb && !c->verbose)
        return 0;
    if (c->fmt == FMT_ADES) {
        if (retract)
            fprintf(stderr, "sso listen: seq %llu is a retraction: not an ADES row (left out)\n",
                    (unsigned long long)seq);
        c->retracts += retract;
        return 0;
    }
    if (c->fmt == FMT_JSON) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        sso_jdoc d;
        if (sso_jdoc_parse(&d, json, len) != SSO_OK || d.nodes[0].type != SSO_JOBJ) {
            fprintf(stderr, "sso listen: %s: unreadable message: %s\n", topic, sso_last_error());
            sso_jdoc_free(&d);
            return 0;
        }
        table_header(c);
        if (retract) {
            printf("%8llu %-4s %-8s %-30.30s withdrawn (revision %g of obs %s): %s %s\n",
                   (unsigned long long)seq, "RETR", "", jstr(&d, "alert_id"), jnum(&d, "revision"),
                   jstr(&d, "obs_id"), jstr(&d, "reason"), replay ? "replay" : "live");
        } else if (quartet) {
            const char *status = jstr(&d, "status");
            const double lat = jnum(&d, "latency_s"), ne = jnum(&d, "n_exposures");
            printf("%8s %-4s obs %s%s%s: %g alerts (%g new, %g revised", "-", "OBS", jstr(&d, "obs_id"),
                   status[0] ? " " : "", status, jnum(&d, "n_alerts"), jnum(&d, "n_new"),
                   jnum(&d, "n_revised"));
            if (isfinite(jnum(&d, "n_unchanged")))
                printf(", %g unchanged", jnum(&d, "n_unchanged"));
            if (isfinite(jnum(&d, "n_retracted")))
                printf(", %g retracted", jnum(&d, "n_retracted"));
            printf("), last seq %g", jnum(&d, "last_seq"));
            if (isfinite(ne))
                printf(", %g exposures", ne);
            if (isfinite(lat))
                printf(", latency %.3f s", lat);
            printf(", sso %s\n", jstr(&d, "version"));
        } else {
            printf("%8s %-4s boot %s, last seq %g, %s\n", "-", "HB", jstr(&d, "boot_id"),
                   jnum(&d, "last_seq"), jstr(&d, "time"));
        }
        sso_jdoc_free(&d);
    }
    fflush(stdout);
    c->retracts += retract, c->summaries += quartet, c->heartbeats += hb;
    return 0;
}

static int on_msg(const char *topic, const char *json, size_t len, uint64_t seq, int replay,
                  void *user)
{
    listen_ctx *c = user;
    sso_alert a;
    if (strncmp(topic, c->topic, strlen(c->topic)) != 0)
        return 0;
    if (strcmp(topic, "sso.v1.slow") && strcmp(topic, "sso.v1.fast"))
        return on_other(c, topic, json, len, seq, replay);
    if (sso_alert_from_json(json, len, &a) != SSO_OK) {
        fprintf(stderr, "sso listen: seq %llu: unreadable alert: %s\n", (unsigned long long)seq,
                sso_last_error());
        return 0;
    }
    if (c->cls >= 0 && (int)a.cls != c->cls)
        return 0;
    double best = -INFINITY;
    for (int i = 0; i < a.n_epochs; i++)
        if (isfinite(a.obs[i].snr) && a.obs[i].snr > best)
            best = a.obs[i].snr;
    if (c->min_snr > -INFINITY && !(best >= c->min_snr))
        return 0;
    if (c->fmt == FMT_ADES) {
        if (sso_cli_ades_print(stdout, c->ades, &a, &c->ades_state)) /* tools/cmd_ades.c */
            return 0;
    } else if (c->fmt == FMT_JSON) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        table_header(c);
        printf("%8llu %-4s %-8s %-30.30s %10.5f %+10.5f %8.2f %6.1f %6.2f %5.1f %s%s\n",
               (unsigned long long)seq, sso_alert_class_name(a.cls), a.trk_sub, a.alert_id,
               a.obs[0].ra_deg, a.obs[0].dec_deg, a.rate_arcsec_h, a.pa_deg, a.obs[0].mag, best,
               replay ? "replay" : "live", a.revision ? " rev" : "");
    }
    fflush(stdout);
    c->printed++;
    return c->count && c->printed >= c->count;
}

int sso_cmd_listen(int argc, char **argv)
{
    sso_subscriber_opts o;
    memset(&o, 0, sizeof o);
    o.all_kinds = 1;
    listen_ctx c;
    memset(&c, 0, sizeof c);
    c.topic = "sso.v1.", c.min_snr = -INFINITY, c.cls = -1;
    sso_ades_opts ao;
    sso_ades_opts_default(&ao);
    const char *ephem_path = NULL;
    sso_ephem *eph = NULL;
    double timeout_s = 0;
    const char *bad_opt = "";
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        bad_opt = k;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(k, "--verbose")) {
            c.verbose = 1;
            continue;
        }
        if (!v)
            goto bad;
        i++;
        if (!strcmp(k, "--connect"))
            o.connect = v;
        else if (!strcmp(k, "--replay"))
            o.replay = v;
        else if (!strcmp(k, "--curve-secret"))
            o.curve_secret = v;
        else if (!strcmp(k, "--server-key"))
            o.server_key = v;
        else if (!strcmp(k, "--topic"))
            c.topic = v;
        else if (!strcmp(k, "--stn") && v[0])
            ao.stn = v;
        else if (!strcmp(k, "--ephem"))
            ephem_path = v;
        else if (!strcmp(k, "--min-snr") && (c.min_snr = strtod(v, &end), end != v && !*end))
            ;
        else if (!strcmp(k, "--class") && (!strcmp(v, "slow") || !strcmp(v, "fast")))
            c.cls = !strcmp(v, "fast") ? SSO_ALERT_FAST : SSO_ALERT_SLOW;
        else if (!strcmp(k, "--format") &&
                 (!strcmp(v, "table") || !strcmp(v, "json") || !strcmp(v, "ades")))
            c.fmt = !strcmp(v, "json") ? FMT_JSON : !strcmp(v, "ades") ? FMT_ADES : FMT_TABLE;
        else if (!strcmp(k, "--since-seq") && v[0] != '-' &&
                 (o.since_seq = strtoull(v, &end, 10), end != v && !*end))
            ;
        else if (!strcmp(k, "--count") && v[0] != '-' &&
                 (c.count = strtoull(v, &end, 10), end != v && !*end && c.count > 0))
            ;
        else if (!strcmp(k, "--timeout") && (timeout_s = strtod(v, &end), end != v && !*end) &&
                 timeout_s > 0)
            ;
        else
            goto bad;
    }
    if (!o.connect) {
        fprintf(stderr, "sso listen: --connect ENDPOINT is required\n");
        usage(stderr);
        return 2;
    }
    if (!o.curve_secret != !o.server_key) {
        fprintf(stderr, "sso listen: --curve-secret and --server-key go together\n");
        return 2;
    }
    if ((ao.stn || ephem_path) && c.fmt != FMT_ADES) {
        fprintf(stderr, "sso listen: --stn and --ephem are for --format ades\n");
        return 2;
    }
    sso_subscriber *s = NULL;
    sso_status st = SSO_OK;
    if (ephem_path && (st = sso_ephem_load(ephem_path, &eph)) == SSO_OK)
        ao.ephem = eph;
    c.ades = &ao;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the subscriber's poll returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.stop = &g_stop;
    if (st == SSO_OK)
        st = sso_subscriber_create(&o, &s);
    if (st == SSO_OK)
        st = sso_subscriber_run(s, timeout_s, on_msg, &c);
    if (s) {
        sso_subscriber_stats ss;
        sso_subscriber_stats_get(s, &ss);
        fprintf(stderr, "sso listen: %llu alerts printed, %llu retractions, %llu summaries; %llu "
                "received (%llu from replay), %llu heartbeats, %llu gaps, %llu duplicates dropped, "
                "last seq %llu\n", c.printed, c.retracts, c.summaries,
                (unsigned long long)ss.delivered, (unsigned long long)ss.from_replay,
                (unsigned long long)ss.heartbeats, (unsigned long long)ss.gaps,
                (unsigned long long)ss.duplicates, (unsigned long long)ss.last_seq);
    }
    sso_subscriber_free(s);
    sso_ephem_free(eph);
    if (st != SSO_OK) {
        sso_cli_error("listen", st == SSO_ERR_ARG || st == SSO_ERR_UNSUPPORTED ? st : SSO_ERR_IO);
        return st == SSO_ERR_ARG ? 2 : 4;
    }
    if (c.count && c.printed < c.count) {
        fprintf(stderr, "sso listen: %s with %llu of %llu alerts\n",
                g_stop ? "stopped" : "timed out", c.printed, c.count);
        return 1;
    }
    return 0;
bad:
    fprintf(stderr, "sso listen: bad option or value: %s\n", bad_opt);
    usage(stderr);
    return 2;
}
