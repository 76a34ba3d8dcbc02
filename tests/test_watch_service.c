/* tests/test_watch_service.c: the `sso watch` service (alerts/watch.c, watch_dir.c) under faults.
 *
 * Inputs are tiny fitsgen quartets (16 x 12 px) and a stand-in search (the library's
 * sso_watch_opts.search hook): for an observation with k exposure files it returns the
 * synthetic alerts number 4 - k .. 5 of that observation (sso_alert_synth: deterministic ids),
 * so 3 exposures give ids {1..5} and 4 give {0..5}; optionally it first sleeps, which is where
 * a test kills the engine ("mid-quartet"). The real pipeline under `sso watch` is covered by
 * tests/test_watch_cli.sh and test_watch_three.sh; here the service logic runs in seconds.
 *
 * Asserts:
 *   - arrivals: a 4-file observation is searched once with 4; a 3-file one proceeds after the
 *     timeout with 3; a junk .fits is reported at once naming the file and extension; a file
 *     written in two halves (a pause longer than the settle time between them) is logged as
 *     incomplete, then taken when whole; a temporary name renamed into place is taken;
 *   - store rows: done, n_exposures, alert counts, a finite latency >= 0, attempts;
 *   - restart: a second run skips what is done (attempts unchanged); the late 4th file of the
 *     3-file observation redoes it with 4: 1 new alert, 5 unchanged, 0 re-sent;
 *   - retract: an observation first done with 4 files whose redo with 3 no longer finds alert 0
 *     (a file removed and its observation forced to redo by an interrupted row) publishes one
 *     retract;
 *   - kill -9 of the engine while it searches observation B (its search child dies with it), then
 *     a restart: B is redone (attempts 2); a subscriber with replay that read A's alerts, was
 *     closed, and restarted after its last seq, together with the first, received every alert
 *     of the store exactly once by alert_id, in increasing seq; the store holds no duplicate;
 *   - SIGTERM of the engine (its handler sets the stop flag) exits with status 0;
 *   - failure: an observation whose search fails is recorded failed with the search's error text
 *     (attempt 1 of 3, logged); each restart retries it (attempts 2, 3) until the third failure
 *     is logged "given up"; a fourth start does not retry it (attempts stay 3, logged); with
 *     max_attempts 4 and a search that now works, the next start redoes it: done, attempts 4,
 *     the error cleared, its 6 alerts stored.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alerts/synth.h"
#include "fitsgen.h"
#include "host/status_internal.h"
#include "sso/sso.h"
#include "testutil.h"

/* ---- the stand-in search ------------------------------------------------------------------------ */

typedef struct fake {
    char sleep_obs[64]; /* this observation's search sleeps sleep_s first */
    double sleep_s;
    char fail_obs[64];  /* this observation's search fails */
} fake;

static sso_status fake_search(void *user, const sso_quartet *q, sso_alert **alerts, size_t *n,
                              sso_pipeline_stats *stats)
{
    fake *f = user;
    sso_exposure_info ei;
    int k = 0;
    for (int e = 0; e < 4; e++)
        if (sso_quartet_exposure(q, e, &ei) == SSO_OK && ei.path[0])
            k++;
    sso_quartet_exposure(q, 0, &ei);
    if (f && f->fail_obs[0] && !strcmp(ei.obs_id, f->fail_obs))
        return sso_fail(SSO_ERR_INTERNAL, "stand-in search: refused observation %s", ei.obs_id);
    if (f && f->sleep_s > 0 && !strcmp(ei.obs_id, f->sleep_obs)) {
        struct timespec ts = {(time_t)f->sleep_s, 0};
        nanosleep(&ts, NULL);
    }
    const int first = 4 - k, count = 6 - first;
    sso_alert *a = calloc((size_t)count, sizeof *a);
    if (!a)
        return SSO_ERR_NOMEM;
    for (int i = 0; i < count; i++)
        sso_alert_synth(7, ei.obs_id, (uint64_t)(first + i), &a[i]);
    memset(stats, 0, sizeof *stats);
    stats->total_s = 0.001;
    *alerts = a;
    *n = (size_t)count;
    return SSO_OK;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

static char g_log[64][1200];
static int g_nlog;

static void on_log(void *user, const char *line)
{
    (void)user;
    if (g_nlog < 64)
        snprintf(g_log[g_nlog++], sizeof g_log[0], "%s", line);
    if (getenv("SSO_TEST_VERBOSE"))
        fprintf(stderr, "watch: %s\n", line);
}

static int log_has(const char *a, const char *b)
{
    for (int i = 0; i < g_nlog; i++)
        if (strstr(g_log[i], a) && (!b || strstr(g_log[i], b)))
            return 1;
    return 0;
}

/* Writes member e of observation obs_id into dir (or, with tmp, at path tmp); returns the path. */
static void member(const char *dir, const char *obs_id, int e, char *path, size_t n)
{
    sso_fg_config base, m;
    char name[256], err[512];
    sso_fg_defaults(&base);
    base.width = 16, base.height = 12, base.n_ccds = 1;
    snprintf(base.obs_id, sizeof base.obs_id, "%s", obs_id);
    sso_fg_quartet_member(&base, e, &m);
    sso_fg_file_name(&m, name, sizeof name);
    snprintf(path, n, "%s/%s", dir, name);
    if (sso_fg_write(&m, path, err, sizeof err))
        fail_msg("fitsgen: %s", err);
}

static void opts(sso_watch_opts *o, const char *dir, const char *db, const char *tag, fake *f)
{
    static char pub[4096], rep[4096];
    sso_watch_opts_default(o);
    o->dir = dir;
    o->pub.store_path = db;
    snprintf(pub, sizeof pub, "ipc://%s/%s-pub.ipc", sso_test_tmpdir(), tag);
    snprintf(rep, sizeof rep, "ipc://%s/%s-rep.ipc", sso_test_tmpdir(), tag);
    o->pub.pub_endpoint = pub;
    o->pub.replay_endpoint = rep;
    o->pub.heartbeat_s = 0.1;
    o->poll_ms = 50;
    o->timeout_s = 0.3;
    o->once = 1;
    o->isolate = 0;
    o->role = SSO_ROLE_TEST;
    o->search = fake_search;
    o->search_user = f;
    o->log = on_log;
}

static void fresh(char *dir, size_t nd, char *db, size_t ndb, const char *tag)
{
    char x[256];
    snprintf(x, sizeof x, "%s-in", tag);
    sso_test_path(dir, nd, x);
    snprintf(x, sizeof x, "%s.db", tag);
    sso_test_path(db, ndb, x);
    sso_test_system("rm -rf '%s' '%s' '%s-wal' '%s-shm'; mkdir -p '%s'", dir, db, db, db, dir);
}

static sso_obs_record obs_row(const char *db, const char *obs_id)
{
    sso_store *s = NULL;
    sso_obs_record r;
    int found = 0;
    sso_obs_record_init(&r, obs_id);
    if (access(db, F_OK) != 0 || sso_store_open_reader(db, &s) != SSO_OK)
        return r; /* not created yet: status NONE */
    if (sso_store_obs_get(s, obs_id, &r, &found) != SSO_OK || !found)
        r.status = SSO_OBS_NONE;
    sso_store_free(s);
    return r;
}

static int count_rows(const sso_store_row *r, void *user)
{
    int *c = user;
    c[0]++;
    c[1] += !strcmp(r->kind, "retract");
    return 0;
}

static char g_expect[4200]; /* a log line the engine child must have written */

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

static pid_t engine(sso_watch_opts *o)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no engine behind */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        g_stop = 0;
        o->stop = &g_stop;
        g_nlog = 0;
        sso_status st = sso_watch_run(o);
        if (st != SSO_OK)
            fprintf(stderr, "engine: %s\n", sso_last_error());
        /* exit 4: ran fine but the log lacks the line the parent asked for */
        _exit(st != SSO_OK ? 3 : g_expect[0] && !log_has(g_expect, NULL) ? 4 : 0);
    }
    return pid;
}

/* ---- arrivals, timeout, restart, retract -------------------------------------------------------- */

static void test_arrivals_timeout_restart(void **state)
{
    (void)state;
    char dir[2048], db[2048], p[4][4096], junk[4096], tmp[4200], b4[4096];
    sso_watch_opts o;
    fake f = {"", 0, ""};
    fresh(dir, sizeof dir, db, sizeof db, "arr");
    for (int e = 0; e < 4; e++)
        member(dir, "000111", e, p[e], sizeof p[e]);
    for (int e = 0; e < 3; e++)
        member(dir, "000222", e, p[e], sizeof p[e]);
    snprintf(junk, sizeof junk, "%s/junk.fits", dir);
    sso_test_system("echo 'not a fits file' > '%s'", junk);
    g_nlog = 0;
    opts(&o, dir, db, "arr", &f);
    assert_int_equal(sso_watch_run(&o), SSO_OK);
    assert_true(log_has("junk.fits", "extension PRIMARY"));
    assert_true(log_has("bad file", "junk.fits"));
    sso_obs_record a = obs_row(db, "000111"), b = obs_row(db, "000222");
    assert_int_equal(a.status, SSO_OBS_DONE);
    assert_int_equal(a.n_exposures, 4);
    assert_true(a.n_alerts == 6 && a.n_new == 6 && a.attempts == 1);
    assert_true(isfinite(a.latency_s) && a.latency_s >= 0.0);
    assert_int_equal(b.status, SSO_OBS_DONE);
    assert_int_equal(b.n_exposures, 3);
    assert_true(b.n_alerts == 5 && b.n_new == 5);
    assert_true(log_has("000222", "proceeding with 3"));

    /* the 4th of B arrives late, written in two halves under its final name; C's 4 files arrive
     * under temporary names and are renamed */
    member(dir, "000222", 3, b4, sizeof b4);
    sso_test_system("cp '%s' '%s.full' && head -c 8000 '%s.full' > '%s'", b4, b4, b4, b4);
    char cdir[2100];
    snprintf(cdir, sizeof cdir, "%s/c", dir);
    mkdir(cdir, 0777);
    for (int e = 0; e < 4; e++) {
        member(cdir, "000333", e, p[e], sizeof p[e]);
        const char *base = strrchr(p[e], '/') + 1;
        snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, base);
        sso_test_system("mv '%s' '%s'", p[e], tmp);
    }
    pid_t pid = fork();
    if (pid == 0) { /* the writer: rest of B's 4th after 0.6 s, then C's renames */
        struct timespec ts = {0, 600000000L};
        nanosleep(&ts, NULL);
        sso_test_system("cat '%s.full' > '%s'", b4, b4);
        for (int e = 0; e < 4; e++) {
            const char *base = strrchr(p[e], '/') + 1;
            sso_test_system("mv '%s/%s.tmp' '%s/%s'", dir, base, dir, base);
        }
        _exit(0);
    }
    o.once = 0;
    o.timeout_s = -1; /* C must be processed because it has 4, not by timeout */
    snprintf(g_expect, sizeof g_expect, "incomplete, waiting for the rest: file %s", b4);
    pid_t runner = engine(&o);
    for (int i = 0; i < 200; i++) { /* up to 20 s */
        sso_obs_record c = obs_row(db, "000333"), b2 = obs_row(db, "000222");
        if (c.status == SSO_OBS_DONE && b2.n_exposures == 4 && b2.status == SSO_OBS_DONE)
            break;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    kill(runner, SIGTERM);
    int ws;
    waitpid(runner, &ws, 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0); /* clean stop, and the half-written file was logged */
    g_expect[0] = '\0';
    waitpid(pid, &ws, 0);
    b = obs_row(db, "000222");
    sso_obs_record c = obs_row(db, "000333");
    a = obs_row(db, "000111");
    assert_int_equal(a.attempts, 1); /* skipped: done before */
    assert_int_equal(b.status, SSO_OBS_DONE);
    assert_int_equal(b.n_exposures, 4);
    assert_true(b.n_new == 1 && b.n_unchanged == 5 && b.n_retracted == 0 && b.attempts == 2);
    assert_int_equal(c.status, SSO_OBS_DONE);
    assert_true(c.n_alerts == 6 && c.n_exposures == 4);

    /* retract: B loses a file and its row is set back to started (as after a crash): the redo
     * with 3 no longer finds alert 0 */
    sso_test_system("rm -f '%s' '%s.full'", b4, b4);
    sso_store *s = NULL;
    assert_int_equal(sso_store_open(db, &s), SSO_OK);
    assert_int_equal(sso_store_obs_begin(s, "000222", 3, 1), SSO_OK);
    int before[2] = {0, 0}, after[2] = {0, 0};
    assert_int_equal(sso_store_since_seq(s, 0, 0, count_rows, before), SSO_OK);
    sso_store_free(s);
    g_nlog = 0;
    o.once = 1;
    o.stop = NULL;
    assert_int_equal(sso_watch_run(&o), SSO_OK);
    b = obs_row(db, "000222");
    assert_true(b.status == SSO_OBS_DONE && b.n_exposures == 3 && b.n_retracted == 1);
    assert_true(b.n_unchanged == 5 && b.n_new == 0);
    assert_int_equal(sso_store_open_reader(db, &s), SSO_OK);
    assert_int_equal(sso_store_since_seq(s, 0, 0, count_rows, after), SSO_OK);
    sso_store_free(s);
    assert_int_equal(after[0], before[0] + 1);
    assert_int_equal(after[1], before[1] + 1);
}

/* ---- kill -9 mid-quartet, restart, subscribers ---------------------------------------------------- */

typedef struct got {
    char id[64][96];
    uint64_t seq[64];
    int n;
    int want;
} got;

static int on_msg(const char *topic, const char *json, size_t len, uint64_t seq, int replay, void *user)
{
    got *g = user;
    sso_alert a;
    (void)replay;
    if (strcmp(topic, "sso.v1.slow") && strcmp(topic, "sso.v1.fast"))
        return 0;
    if (sso_alert_from_json(json, len, &a) != SSO_OK || g->n >= 64)
        return 1;
    snprintf(g->id[g->n], sizeof g->id[0], "%s", a.alert_id);
    g->seq[g->n++] = seq;
    return g->n >= g->want;
}

static void test_kill9_restart_exactly_once(void **state)
{
    (void)state;
    char dir[2048], db[2048], p[4096];
    sso_watch_opts o;
    fake f = {"000555", 60.0, ""};
    fresh(dir, sizeof dir, db, sizeof db, "k9");
    for (int e = 0; e < 4; e++)
        member(dir, "000444", e, p, sizeof p);
    opts(&o, dir, db, "k9", &f);
    o.once = 0;
    o.isolate = 1; /* the search in a child, which must die with the engine */
    o.log = NULL;
    pid_t e1 = engine(&o);

    /* subscriber 1: A's 6 alerts (from replay or live), then closed */
    got g1 = {.want = 6}, g2 = {.want = 6};
    sso_subscriber_opts so = {o.pub.pub_endpoint, o.pub.replay_endpoint, 0, 0, NULL, NULL, 0, NULL};
    sso_subscriber *sub = NULL;
    for (int i = 0; i < 300 && obs_row(db, "000444").status != SSO_OBS_DONE; i++) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(obs_row(db, "000444").status, SSO_OBS_DONE);
    for (int e = 0; e < 4; e++) /* B lands once A is done */
        member(dir, "000555", e, p, sizeof p);
    assert_int_equal(sso_subscriber_create(&so, &sub), SSO_OK);
    assert_int_equal(sso_subscriber_run(sub, 20.0, on_msg, &g1), SSO_OK);
    sso_subscriber_free(sub);
    assert_int_equal(g1.n, 6);

    /* B is being searched (its search sleeps): kill -9 the engine */
    for (int i = 0; i < 300 && obs_row(db, "000555").status != SSO_OBS_STARTED; i++) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(obs_row(db, "000555").status, SSO_OBS_STARTED);
    kill(e1, SIGKILL);
    int ws = 0;
    waitpid(e1, &ws, 0);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);

    /* restart without the sleep; subscriber 2 resumes after subscriber 1's last seq */
    f.sleep_s = 0;
    pid_t e2 = engine(&o);
    so.since_seq = g1.seq[g1.n - 1];
    assert_int_equal(sso_subscriber_create(&so, &sub), SSO_OK);
    sso_status rs = sso_subscriber_run(sub, 30.0, on_msg, &g2);
    if (rs != SSO_OK)
        fprintf(stderr, "subscriber 2: %s\n", sso_last_error());
    assert_int_equal(rs, SSO_OK);
    sso_subscriber_free(sub);
    assert_int_equal(g2.n, 6);
    sso_obs_record b = obs_row(db, "000555");
    assert_true(b.status == SSO_OBS_DONE && b.attempts == 2 && b.n_new == 6);
    assert_int_equal(obs_row(db, "000444").attempts, 1);

    /* SIGTERM: clean exit 0 */
    kill(e2, SIGTERM);
    waitpid(e2, &ws, 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);

    /* every alert exactly once, in increasing seq, across both subscribers; the store agrees */
    int rows[2] = {0, 0};
    sso_store *s = NULL;
    assert_int_equal(sso_store_open_reader(db, &s), SSO_OK);
    assert_int_equal(sso_store_since_seq(s, 0, 0, count_rows, rows), SSO_OK);
    sso_store_free(s);
    assert_int_equal(rows[0], 12);
    got all = {.n = 0};
    for (int i = 0; i < g1.n; i++)
        all.seq[all.n] = g1.seq[i], memcpy(all.id[all.n++], g1.id[i], sizeof all.id[0]);
    for (int i = 0; i < g2.n; i++)
        all.seq[all.n] = g2.seq[i], memcpy(all.id[all.n++], g2.id[i], sizeof all.id[0]);
    assert_int_equal(all.n, 12);
    for (int i = 0; i < all.n; i++) {
        assert_true(all.seq[i] == (uint64_t)i + 1);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(all.id[i], all.id[k]);
    }
}

/* ---- a failing observation: attempts bounded across restarts ------------------------------------ */

static void test_failed_attempts(void **state)
{
    (void)state;
    char dir[2048], db[2048], p[4096];
    sso_watch_opts o;
    fake f = {"", 0, "000333"};
    fresh(dir, sizeof dir, db, sizeof db, "fail");
    for (int e = 0; e < 4; e++)
        member(dir, "000333", e, p, sizeof p);
    for (int run = 1; run <= 4; run++) {
        g_nlog = 0;
        opts(&o, dir, db, "fail", &f);
        assert_int_equal(sso_watch_run(&o), SSO_OK);
        sso_obs_record r = obs_row(db, "000333");
        assert_int_equal(r.status, SSO_OBS_FAILED);
        assert_int_equal(r.attempts, run < 3 ? run : 3);
        assert_non_null(strstr(r.error, "stand-in search: refused observation 000333"));
        if (run == 1)
            assert_true(log_has("observation 000333 failed (attempt 1 of 3)", "retried"));
        if (run == 2 || run == 3)
            assert_true(log_has("failed earlier (attempt", "retrying"));
        if (run == 3)
            assert_true(log_has("failed (attempt 3 of 3)", "given up"));
        if (run == 4) {
            assert_true(log_has("failed 3 time(s)", "given up"));
            assert_false(log_has("search on", NULL));
        }
    }
    g_nlog = 0;
    f.fail_obs[0] = '\0';
    opts(&o, dir, db, "fail", &f);
    o.max_attempts = 4;
    assert_int_equal(sso_watch_run(&o), SSO_OK);
    sso_obs_record r = obs_row(db, "000333");
    assert_int_equal(r.status, SSO_OBS_DONE);
    assert_int_equal(r.attempts, 4);
    assert_string_equal(r.error, "");
    assert_true(r.n_alerts == 6 && r.n_new == 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrivals_timeout_restart),
        cmocka_unit_test(test_kill9_restart_exactly_once),
        cmocka_unit_test(test_failed_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
