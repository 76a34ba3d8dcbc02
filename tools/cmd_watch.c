/* tools/cmd_watch.c: `sso watch DIR`: the engine as a service (sso/watch.h).
 *
 * Parses the options into sso_watch_opts (the pipeline options are those of `sso run` and
 * `sso bench`: tools/pipeline_opts.c), installs
 * SIGINT/SIGTERM handlers that only set a flag (sso_watch_run stops at its next safe point:
 * between steps, or at once during a search, which runs in a child process), and prints the
 * service's log lines on stderr. Exit 0 after a stop or, with --once, when idle.
 *
 * `sso watch --status --store FILE` (or --out DIR) prints the store's observations table instead
 * (read-only connection: safe while the service runs): one line per observation with its status
 * (started / done / failed), exposures, attempts, alert counts, latency, search time and the error
 * of a failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/status_internal.h"
#include "tools/commands.h"
#include "tools/pipeline_opts.h"

#include <math.h>

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso watch DIR [--out DIR] [--publish EP] [--replay EP] [--store FILE]\n"
            "                 [--timeout-s S] [--poll-ms MS] [--max-attempts N] [--once]\n"
            "                 [pipeline options]\n"
            "       sso watch --status (--store FILE | --out DIR)\n"
            "\n"
            "Runs sso as a service on a directory where exposure files land. Each file is taken once\n"
            "it is complete (size stable for one poll interval and every HDU whole; files written\n"
            "under another name and renamed work too) and validated at once: a bad file is reported\n"
            "with the file and extension. Exposures are grouped by OBS_ID. Each exposure is prepared\n"
            "as it arrives (read, prep, background, cosmics, resampling into the sky patches), in the\n"
            "observation's own worker process: a file that fails there fails its observation at once,\n"
            "without a search. When an observation has its 4th exposure, that one's prep and the\n"
            "search run and its alerts are stored and published (topics\n"
            "sso.v1.slow/fast, sso.v1.retract, sso.v1.quartet with counts, stage timings and the\n"
            "latency from the last file's arrival to the last alert published). An observation still\n"
            "at 3 exposures --timeout-s after its last arrival proceeds with 3; a late 4th redoes it.\n"
            "After a restart, observations already done are skipped and an interrupted one is redone\n"
            "without duplicate alerts. An observation whose quartet or search fails is recorded as\n"
            "failed with the error and retried (a new file of it, or the next start) until it has\n"
            "been attempted --max-attempts times; then it is logged as given up. --status prints\n"
            "the observations table (status, attempts, counts, latency, error) and exits.\n"
            "SIGINT/SIGTERM stop it cleanly (exit 0).\n"
            "\n"
            "options:\n"
            "  --out DIR          write <DIR>/<obs_id>.jsonl per observation [none]\n"
            "  --publish EP       PUB endpoint [tcp://127.0.0.1:5556]\n"
            "  --replay EP        replay service endpoint, \"\" for none [tcp://127.0.0.1:5557]\n"
            "  --store FILE       the SQLite alert store [<--out>/alerts.db; required without --out]\n"
            "  --timeout-s S      proceed with 3 exposures after S seconds; -1 never [600]\n"
            "  --poll-ms MS       scan interval and settle time of a file [500]\n"
            "  --once             exit when nothing more can happen without new files\n"
            "  --max-attempts N   attempts of an observation that fails, 1..1000 [3]\n"
            "  --status           print the observations table of the store and exit\n"
            "  --heartbeat S      heartbeat interval [2]\n"
            "  --curve-secret F   CURVE on the PUB and replay sockets with this server secret key\n"
            "                     (`sso keygen F`; clients use F.pub as --server-key)\n"
            "  --allow-keys F     client public keys (Z85, one per line) let in; needed with CURVE\n"
            "  --max-prepared N   observations prepared on arrival at once, 0..64; 0: none, the\n"
            "                     whole pipeline runs when an observation is due [2]. Each holds\n"
            "                     its exposures' patch images until its search (ccd preset: up\n"
            "                     to 1.27 GiB per exposure, 5.1 GiB at the 4th)\n"
            "  --no-isolate       run the search in the service process (a stop then waits for it)\n"
            "  --role R           observation or test [observation]\n"
            "  --verify-checksum  verify DATASUM/CHECKSUM of every HDU read\n"
            "  --quiet            no log on stderr (errors still)\n"
            "  -h, --help         this text\n"
            "\n");
    sso_pipeline_config d;
    sso_cli_pipeline_defaults(&d);
    sso_cli_pipeline_usage(f, &d);
    fprintf(f, "\nexit codes: 0 ok, 1 internal error, 2 usage, 4 I/O (directory, store, endpoint).\n");
}

static void on_log(void *user, const char *line)
{
    int quiet = *(int *)user;
    if (!quiet || strstr(line, "bad file") || strstr(line, "failed"))
        fprintf(stderr, "sso watch: %s\n", line);
}

static void on_progress(void *user, const char *stage, const char *message)
{
    (void)user;
    fprintf(stderr, "sso watch: [%s] %s\n", stage, message);
}

static int print_obs(const sso_obs_record *r, void *user)
{
    int *n = user;
    char t[48] = "-";
    if (!(*n)++)
        printf("%-24s %-7s %3s %8s %6s %4s %4s %4s %4s %8s %9s %8s  %-20s %s\n", "obs_id",
               "status", "exp", "attempts", "alerts", "new", "rev", "same", "retr", "last_seq",
               "latency_s", "search_s", "finished (UTC)", "error");
    if (r->done_us > 0 && sso_time_us_to_rfc3339(r->done_us, t, sizeof t) == SSO_OK &&
        strlen(t) > 19)
        t[19] = 'Z', t[20] = '\0'; /* to the second */
    char lat[32] = "-", tot[32] = "-";
    if (isfinite(r->latency_s))
        snprintf(lat, sizeof lat, "%.3f", r->latency_s);
    if (isfinite(r->stage_s[SSO_OBS_N_STAGES - 1]))
        snprintf(tot, sizeof tot, "%.2f", r->stage_s[SSO_OBS_N_STAGES - 1]);
    if (r->status == SSO_OBS_DONE)
        printf("%-24s %-7s %3d %8d %6llu %4llu %4llu %4llu %4llu %8llu %9s %8s  %-20s %s\n",
               r->obs_id, sso_obs_status_name(r->status), r->n_exposures, r->attempts,
               (unsigned long long)r->n_alerts, (unsigned long long)r->n_new,
               (unsigned long long)r->n_revised, (unsigned long long)r->n_unchanged,
               (unsigned long long)r->n_retracted, (unsigned long long)r->last_seq, lat, tot, t,
               "");
    else
        printf("%-24s %-7s %3d %8d %6s %4s %4s %4s %4s %8s %9s %8s  %-20s %s\n", r->obs_id,
               sso_obs_status_name(r->status), r->n_exposures, r->attempts, "-", "-", "-", "-",
               "-", "-", "-", "-", r->status == SSO_OBS_FAILED ? t : "-", r->error);
    return 0;
}

static int status_table(const char *store)
{
    sso_store *s = NULL;
    int n = 0;
    sso_status st = sso_store_open_reader(store, &s);
    if (st == SSO_OK)
        st = sso_store_obs_list(s, print_obs, &n);
    sso_store_free(s);
    if (st != SSO_OK)
        return sso_cli_error("watch", st);
    if (!n)
        printf("no observations in %s\n", store);
    fflush(stdout);
    return 0;
}

int sso_cmd_watch(int argc, char **argv)
{
    sso_watch_opts o;
    sso_watch_opts_default(&o);
    sso_cli_pipeline_defaults(&o.pipe);
    o.pub.replay_endpoint = SSO_REPLAY_DEFAULT_ENDPOINT;
    const char *store = NULL;
    int quiet = 0, status = 0;
    char db[4096];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        int po;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((po = sso_cli_pipeline_opt("watch", argc, argv, &i, &o.pipe)) != 0) {
            if (po < 0)
                return 2;
        } else if (!strcmp(a, "--out") && more) {
            o.out_dir = argv[++i];
        } else if (!strcmp(a, "--publish") && more) {
            o.pub.pub_endpoint = argv[++i];
        } else if (!strcmp(a, "--replay") && more) {
            o.pub.replay_endpoint = argv[++i];
        } else if (!strcmp(a, "--store") && more) {
            store = argv[++i];
        } else if (!strcmp(a, "--curve-secret") && more) {
            o.pub.curve_secret = argv[++i];
        } else if (!strcmp(a, "--allow-keys") && more) {
            o.pub.allow_keys = argv[++i];
        } else if (!strcmp(a, "--timeout-s") && more) {
            o.timeout_s = atof(argv[++i]);
            if (!(o.timeout_s >= -1 && o.timeout_s <= 86400 * 7)) {
                fprintf(stderr, "sso watch: --timeout-s must be -1 or 0..604800\n");
                return 2;
            }
        } else if (!strcmp(a, "--poll-ms") && more) {
            o.poll_ms = atoi(argv[++i]);
            if (o.poll_ms < 10 || o.poll_ms > 600000) {
                fprintf(stderr, "sso watch: --poll-ms must be 10..600000\n");
                return 2;
            }
        } else if (!strcmp(a, "--heartbeat") && more) {
            o.pub.heartbeat_s = atof(argv[++i]);
            if (!(o.pub.heartbeat_s >= 0.01 && o.pub.heartbeat_s <= 3600)) {
                fprintf(stderr, "sso watch: --heartbeat must be 0.01..3600 s\n");
                return 2;
            }
        } else if (!strcmp(a, "--once")) {
            o.once = 1;
        } else if (!strcmp(a, "--status")) {
            status = 1;
        } else if (!strcmp(a, "--max-attempts") && more) {
            char *end = NULL;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "sso watch: --max-attempts must be 1..1000\n");
                return 2;
            }
            o.max_attempts = (int)v;
        } else if (!strcmp(a, "--max-prepared") && more) {
            char *end = NULL;
            long v = strtol(argv[++i], &end, 10);
            if (*end || !argv[i][0] || v < 0 || v > 64) {
                fprintf(stderr, "sso watch: bad value for --max-prepared: '%s' (0..64)\n", argv[i]);
                return 2;
            }
            o.max_prepared = (int)v;
        } else if (!strcmp(a, "--no-isolate")) {
            o.isolate = 0;
        } else if (!strcmp(a, "--role") && more) {
            const char *r = argv[++i];
            if (!strcmp(r, "test"))
                o.role = SSO_ROLE_TEST;
            else if (strcmp(r, "observation")) {
                fprintf(stderr, "sso watch: --role must be observation or test\n");
                return 2;
            }
        } else if (!strcmp(a, "--verify-checksum")) {
            o.open_flags |= SSO_OPEN_VERIFY_CHECKSUM;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "sso watch: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        } else if (!o.dir) {
            o.dir = a;
        } else {
            fprintf(stderr, "sso watch: one directory only (%s, %s)\n", o.dir, a);
            return 2;
        }
    }
    if (status) {
        if (!store && !o.out_dir) {
            fprintf(stderr, "sso watch: --status needs --store FILE or --out DIR\n");
            return 2;
        }
        if (!store)
            snprintf(db, sizeof db, "%s/alerts.db", o.out_dir), store = db;
        return status_table(store);
    }
    if (!o.dir || (!store && !o.out_dir)) {
        if (o.dir)
            fprintf(stderr, "sso watch: --store or --out is required\n\n");
        usage(stderr);
        return 2;
    }
    if (!store) {
        if (mkdir(o.out_dir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "sso watch: cannot create %s\n", o.out_dir);
            return 4;
        }
        snprintf(db, sizeof db, "%s/alerts.db", o.out_dir);
        store = db;
    }
    o.pub.store_path = store;
    o.log = on_log;
    o.log_user = &quiet;
    if (!quiet) {
        o.pipe.progress = on_progress;
    }
    o.stop = &g_stop;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sso_status st = sso_watch_run(&o);
    return st ? sso_cli_error("watch", st) : 0;
}
