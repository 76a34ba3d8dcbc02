/* tools/cmd_listen.c: `sso listen`: an operator's live view of the alert stream.
 *
 * A thin shell over sso_subscriber (alerts/subscribe.c: subscribe, replay since the last seq,
 * fill gaps seen from seq and heartbeats). Filters (--topic, --class, --min-snr) apply here, after
 * gap tracking, which needs the whole stream. --format json prints each message exactly as
 * received, one per line; table prints one line per alert; ades prints ADES PSV rows
 * (sso_cli_ades_print in tools/cmd_ades.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso listen --connect ENDPOINT [--replay ENDPOINT] [--topic PREFIX]\n"
            "                  [--min-snr X] [--class slow|fast] [--format table|json|ades]\n"
            "                  [--since-seq N] [--count N] [--timeout S]\n"
            "                  [--curve-secret FILE --server-key FILE|Z85]\n"
            "\n"
            "Subscribes to an sso alert stream and prints alerts as they arrive, in seq order, each\n"
            "once. With --replay, history after --since-seq and any gap (a dropped message, a\n"
            "reconnect) are fetched from the replay service.\n"
            "\n"
            "  --connect EP    the publisher, e.g. tcp://127.0.0.1:5556\n"
            "  --replay EP     its replay service, e.g. tcp://127.0.0.1:5557 [none: live only]\n"
            "  --topic PREFIX  only topics starting with PREFIX, e.g. sso.v1.fast [sso.v1.]\n"
            "  --min-snr X     only alerts whose best epoch has snr >= X\n"
            "  --class C       only slow or fast movers\n"
            "  --format F      table, json (one message per line, as received) or ades (PSV\n"
            "                  rows, header first; see `sso ades`) [table]\n"
            "  --since-seq N   start after seq N [0: all stored history]\n"
            "  --count N       exit after printing N alerts\n"
            "  --timeout S     exit after S seconds\n"
            "  --curve-secret FILE  CURVE: this client's secret key (`sso keygen`); its public key\n"
            "                  must be in the server's --allow-keys file\n"
            "  --server-key K  CURVE: the server's public key, a .pub file or 40 Z85 characters\n"
            "\n"
            "exit codes: 0 ok (count reached, or timeout without --count), 1 timeout before\n"
            "--count alerts, 2 usage, 4 connection or replay error.\n");
}

typedef struct listen_ctx {
    const char *topic;
    double min_snr;
    int cls; /* -1 any */
    int json;
    unsigned long long count, printed;
    int ades; /* --format ades */
    int ades_state; /* sso_cli_ades_print's: 0 before the header */
} listen_ctx;

static int on_alert(const char *topic, const char *json, size_t len, uint64_t seq, int replay,
                    void *user)
{
    listen_ctx *c = user;
    sso_alert a;
    if (strncmp(topic, c->topic, strlen(c->topic)) != 0)
        return 0;
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
    if (c->ades) {
        if (sso_cli_ades_print(stdout, &a, &c->ades_state)) /* tools/cmd_ades.c */
            return 0;
    } else if (c->json) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        if (c->printed == 0)
            printf("%8s %-4s %-8s %-30s %10s %10s %8s %6s %6s %5s %s\n", "seq", "cls", "trkSub",
                   "alert_id", "ra", "dec", "rate\"/h", "pa", "mag", "snr", "src");
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
    listen_ctx c = {"sso.v1.", -INFINITY, -1, 0, 0, 0, 0, 0};
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
        else if (!strcmp(k, "--min-snr") && (c.min_snr = strtod(v, &end), end != v && !*end))
            ;
        else if (!strcmp(k, "--class") && (!strcmp(v, "slow") || !strcmp(v, "fast")))
            c.cls = !strcmp(v, "fast") ? SSO_ALERT_FAST : SSO_ALERT_SLOW;
        else if (!strcmp(k, "--format") &&
                 (!strcmp(v, "table") || !strcmp(v, "json") || !strcmp(v, "ades")))
            c.json = !strcmp(v, "json"), c.ades = !strcmp(v, "ades");
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
    sso_subscriber *s = NULL;
    sso_status st = sso_subscriber_create(&o, &s);
    if (st == SSO_OK)
        st = sso_subscriber_run(s, timeout_s, on_alert, &c);
    if (s) {
        sso_subscriber_stats ss;
        sso_subscriber_stats_get(s, &ss);
        fprintf(stderr, "sso listen: %llu printed; %llu received (%llu from replay), %llu gaps, "
                "%llu duplicates dropped, last seq %llu\n", c.printed,
                (unsigned long long)ss.delivered, (unsigned long long)ss.from_replay,
                (unsigned long long)ss.gaps, (unsigned long long)ss.duplicates,
                (unsigned long long)ss.last_seq);
    }
    sso_subscriber_free(s);
    if (st != SSO_OK) {
        sso_cli_error("listen", st == SSO_ERR_ARG || st == SSO_ERR_UNSUPPORTED ? st : SSO_ERR_IO);
        return st == SSO_ERR_ARG ? 2 : 4;
    }
    if (c.count && c.printed < c.count) {
        fprintf(stderr, "sso listen: timed out after %g s with %llu of %llu alerts\n", timeout_s,
                c.printed, c.count);
        return 1;
    }
    return 0;
bad:
    fprintf(stderr, "sso listen: bad option or value: %s\n", bad_opt);
    usage(stderr);
    return 2;
}
