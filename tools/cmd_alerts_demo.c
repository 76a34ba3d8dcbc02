/* tools/cmd_alerts_demo.c: `sso alerts-demo`: synthetic alerts for tests and demonstrations.
 *
 * --dry-run prints N synthetic alerts as JSON lines with a locally numbered envelope (no store, no
 * network): what the schema test validates. Without it, the alerts go the real way: stored (SQLite,
 * one transaction per quartet of --per-quartet alerts), then published (ZeroMQ PUB) with the
 * replay service running; --linger keeps serving replay and heartbeats afterwards.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/synth.h"
#include "host/status_internal.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso alerts-demo [--n N] [--seed S] [--obs-id ID] --dry-run\n"
            "\n"
            "Writes N synthetic alerts (role \"test\").\n"
            "\n"
            "  --n N         number of alerts [100]\n"
            "  --seed S      random seed [1]\n"
            "  --obs-id ID   observation id of the alerts [demo]\n"
            "  --dry-run     print them as JSON lines on stdout, seq 1..N\n"
            "\n"
            "exit codes: 0 ok, 2 usage.\n");
}

static int parse_u64(const char *s, unsigned long long *v)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    *v = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

int sso_cmd_alerts_demo(int argc, char **argv)
{
    unsigned long long n = 100, seed = 1;
    const char *obs_id = "demo";
    int dry = 0;
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
        } else if (!strcmp(o, "--dry-run")) {
            dry = 1;
        } else {
            fprintf(stderr, "sso alerts-demo: bad option or value: %s\n", o);
            usage(stderr);
            return 2;
        }
    }
    if (!dry) {
        fprintf(stderr, "sso alerts-demo: only --dry-run in this build\n");
        return 2;
    }
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
