/* tests/test_alert_observations.c: observation rows (quartet summaries) and retractions in the
 * store, and their publication (alerts/store.c, alerts/publish.c).
 *
 * Asserts:
 *   - obs_begin writes a started row and counts attempts; put_observation marks it done in the
 *     same transaction as its alerts, with the counts, stage timings (NaN stays unknown) and
 *     version read back exactly; latency is stored; a row survives reopening; obs_list lists all;
 *   - an alert of another observation is refused by put_observation;
 *   - reprocessing with SSO_PUT_RETRACT_MISSING: the alert no longer found gets one retract row
 *     (kind retract, its own next seq, revision + 1, the previous row superseded, JSON with kind,
 *     alert_id, obs_id, seq); doing it again retracts nothing more and stores nothing; an alert
 *     found again later comes back as a new revision; alerts of observations whose id merely
 *     starts like this one ("o1-x", "o10") are never touched; without the flag nothing is retracted;
 *   - failure: obs_fail marks a begun observation failed with its error text (truncated to 255
 *     bytes) and keeps the attempt count; a new begin counts attempt 2 (status started, the error
 *     kept); done clears the error; failing an observation never begun is refused; status names;
 *   - upgrade: a version 2 store (no error column, made here by dropping it with SQLite) is read
 *     by a reader (error "") and upgraded by a writer (user_version 3, obs_fail works, old rows
 *     kept);
 *   - through a publisher on ipc, a SUB receives the alerts, then sso.v1.retract with the
 *     retracted alert_id and its seq, then sso.v1.quartet with n_retracted, stages and a latency
 *     >= the 50 ms between the declared last arrival and the put.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zmq.h>

#include "alerts/json.h"
#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

typedef struct rows {
    int n;
    uint64_t seq[64];
    char kind[64][16];
    char id[64][96];
    int revision[64];
    int superseded[64];
    char json[64][1024];
} rows;

static int collect(const sso_store_row *r, void *user)
{
    rows *s = user;
    if (s->n < 64) {
        s->seq[s->n] = r->seq;
        snprintf(s->kind[s->n], sizeof s->kind[0], "%s", r->kind);
        snprintf(s->id[s->n], sizeof s->id[0], "%s", r->alert_id);
        s->revision[s->n] = r->revision;
        s->superseded[s->n] = r->superseded;
        snprintf(s->json[s->n], sizeof s->json[0], "%s", r->json);
        s->n++;
    }
    return 0;
}

static void fresh_db(char *path, size_t n, const char *name)
{
    sso_test_path(path, n, name);
    sso_test_system("rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
}

static void batch(sso_alert *a, const char *obs, const int *idx, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(sso_alert_synth(5, obs, (uint64_t)idx[i], &a[i]), SSO_OK);
}

static rows g_rows;

static rows *since(sso_store *s, uint64_t after)
{
    memset(&g_rows, 0, sizeof g_rows);
    assert_int_equal(sso_store_since_seq(s, after, 0, collect, &g_rows), SSO_OK);
    return &g_rows;
}

static int count_obs(const sso_obs_record *r, void *user)
{
    (void)r;
    ++*(int *)user;
    return 0;
}

static void test_observation_rows(void **state)
{
    (void)state;
    char path[4096];
    sso_store *s = NULL;
    sso_alert a[3], other;
    sso_obs_record o, g;
    sso_store_put_result r;
    int found = -1;
    fresh_db(path, sizeof path, "obs.db");
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "o1", &g, &found), SSO_OK);
    assert_int_equal(found, 0);
    assert_int_equal(g.status, SSO_OBS_NONE);

    assert_int_equal(sso_store_obs_begin(s, "o1", 4, 1000000), SSO_OK);
    assert_int_equal(sso_store_obs_begin(s, "o1", 4, 2000000), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "o1", &g, &found), SSO_OK);
    assert_int_equal(found, 1);
    assert_int_equal(g.status, SSO_OBS_STARTED);
    assert_int_equal(g.attempts, 2);
    assert_int_equal(g.n_exposures, 4);
    assert_true(g.last_arrival_us == 2000000);
    assert_true(isnan(g.latency_s));

    const int idx[3] = {0, 1, 2};
    batch(a, "o1", idx, 3);
    sso_obs_record_init(&o, "o1");
    o.n_exposures = 4;
    for (int i = 0; i < SSO_OBS_N_STAGES; i++)
        o.stage_s[i] = i == 9 ? NAN : 0.25 * (i + 1); /* fast search: not run */
    snprintf(o.version, sizeof o.version, "9.8.7");
    /* an alert of another observation is refused, and nothing is stored */
    assert_int_equal(sso_alert_synth(5, "o2", 0, &other), SSO_OK);
    assert_int_equal(sso_store_put_observation(s, &o, &other, 1, 0, NULL, &r), SSO_ERR_ARG);
    assert_int_equal(since(s, 0)->n, 0);

    assert_int_equal(sso_store_put_observation(s, &o, a, 3, SSO_PUT_RETRACT_MISSING, NULL, &r), SSO_OK);
    assert_int_equal(r.n_new, 3);
    assert_int_equal(r.n_retracted, 0);
    assert_int_equal(o.status, SSO_OBS_DONE);
    assert_int_equal(sso_store_obs_set_latency(s, "o1", 1.5), SSO_OK);
    sso_store_free(s);

    assert_int_equal(sso_store_open(path, &s), SSO_OK); /* survives a restart */
    assert_int_equal(sso_store_obs_get(s, "o1", &g, &found), SSO_OK);
    assert_int_equal(found, 1);
    assert_int_equal(g.status, SSO_OBS_DONE);
    assert_int_equal(g.attempts, 2);
    assert_true(g.n_alerts == 3 && g.n_new == 3 && g.n_revised == 0 && g.n_unchanged == 0);
    assert_true(g.last_seq == 3);
    assert_true(g.last_arrival_us == 2000000); /* kept from obs_begin */
    assert_true(g.done_us > 0 && g.started_us > 0);
    assert_true(g.latency_s == 1.5);
    for (int i = 0; i < SSO_OBS_N_STAGES; i++) {
        if (i == 9)
            assert_true(isnan(g.stage_s[i]));
        else
            assert_true(g.stage_s[i] == 0.25 * (i + 1));
    }
    assert_string_equal(g.version, "9.8.7");
    assert_int_equal(sso_store_obs_begin(s, "o3", 3, 5), SSO_OK);
    int n_obs = 0;
    assert_int_equal(sso_store_obs_list(s, count_obs, &n_obs), SSO_OK);
    assert_int_equal(n_obs, 2);
    sso_store_free(s);
}

static void test_retract(void **state)
{
    (void)state;
    char path[4096];
    sso_store *s = NULL;
    sso_alert a[4], x[2];
    sso_obs_record o;
    sso_store_put_result r;
    fresh_db(path, sizeof path, "retract.db");
    assert_int_equal(sso_store_open(path, &s), SSO_OK);

    /* neighbours whose ids start like o1's: never retracted by o1 */
    const int i0[1] = {0};
    batch(&x[0], "o1-x", i0, 1);
    batch(&x[1], "o10", i0, 1);
    sso_obs_record_init(&o, "o1-x");
    assert_int_equal(sso_store_put_observation(s, &o, &x[0], 1, 0, NULL, &r), SSO_OK);
    sso_obs_record_init(&o, "o10");
    assert_int_equal(sso_store_put_observation(s, &o, &x[1], 1, 0, NULL, &r), SSO_OK);

    const int first[3] = {0, 1, 2};
    batch(a, "o1", first, 3);
    sso_obs_record_init(&o, "o1");
    assert_int_equal(sso_store_put_observation(s, &o, a, 3, SSO_PUT_RETRACT_MISSING, NULL, &r), SSO_OK);
    assert_true(r.n_new == 3 && r.last_seq == 5);
    char gone[96];
    snprintf(gone, sizeof gone, "%s", a[1].alert_id);

    /* without the flag: a missing alert stays */
    const int two[2] = {0, 2};
    batch(a, "o1", two, 2);
    assert_int_equal(sso_store_put_observation(s, &o, a, 2, 0, NULL, &r), SSO_OK);
    assert_true(r.n_unchanged == 2 && r.n_retracted == 0 && r.last_seq == 5);

    /* with it: exactly one retract row, seq 6, revision 1, the old row superseded */
    assert_int_equal(sso_store_put_observation(s, &o, a, 2, SSO_PUT_RETRACT_MISSING, NULL, &r), SSO_OK);
    assert_true(r.n_unchanged == 2 && r.n_new == 0 && r.n_retracted == 1 && r.last_seq == 6);
    assert_true(o.n_retracted == 1 && o.last_seq == 6);
    rows *rw = since(s, 5);
    assert_int_equal(rw->n, 1);
    assert_true(rw->seq[0] == 6);
    assert_string_equal(rw->kind[0], "retract");
    assert_string_equal(rw->id[0], gone);
    assert_int_equal(rw->revision[0], 1);
    sso_jdoc d;
    assert_int_equal(sso_jdoc_parse(&d, rw->json[0], strlen(rw->json[0])), SSO_OK);
    assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "kind")->str, "retract");
    assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "alert_id")->str, gone);
    assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "obs_id")->str, "o1");
    assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "role")->str, "test");
    assert_true(sso_jdoc_get(&d, &d.nodes[0], "seq")->num == 6.0);
    sso_jdoc_free(&d);
    rw = since(s, 0);
    for (int i = 0; i < rw->n; i++)
        if (!strcmp(rw->id[i], gone))
            assert_int_equal(rw->superseded[i], rw->seq[i] != 6);

    /* again: nothing more to retract, nothing stored */
    assert_int_equal(sso_store_put_observation(s, &o, a, 2, SSO_PUT_RETRACT_MISSING, NULL, &r), SSO_OK);
    assert_true(r.n_retracted == 0 && r.last_seq == 6);

    /* found again: a new revision (2) with a new seq */
    batch(a, "o1", first, 3);
    assert_int_equal(sso_store_put_observation(s, &o, a, 3, SSO_PUT_RETRACT_MISSING, NULL, &r), SSO_OK);
    assert_true(r.n_revised == 1 && r.n_unchanged == 2 && r.n_retracted == 0 && r.last_seq == 7);
    assert_int_equal(a[1].revision, 2);

    /* o1 with no alerts at all retracts all three, and never the neighbours */
    assert_int_equal(sso_store_put_observation(s, &o, NULL, 0, SSO_PUT_RETRACT_MISSING, NULL, &r), SSO_OK);
    assert_true(r.n_retracted == 3 && r.last_seq == 10);
    rw = since(s, 7);
    for (int i = 0; i < rw->n; i++) {
        assert_string_equal(rw->kind[i], "retract");
        assert_true(strncmp(rw->id[i], "o1-", 3) == 0 && strlen(rw->id[i]) == 3 + 16);
    }
    sso_store_free(s);
}

/* Receives one [topic, json] within 5 s into the buffers; returns 0 or -1. */
static int recv2(void *sub, char *topic, size_t nt, char *json, size_t nj)
{
    int to = 5000;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &to, sizeof to);
    int a = zmq_recv(sub, topic, nt - 1, 0);
    if (a < 0)
        return -1;
    topic[a < (int)nt - 1 ? a : (int)nt - 1] = '\0';
    int b = zmq_recv(sub, json, nj - 1, 0);
    if (b < 0)
        return -1;
    json[b < (int)nj - 1 ? b : (int)nj - 1] = '\0';
    return 0;
}

static void test_publish_retract_and_summary(void **state)
{
    (void)state;
    char path[4096], ep[4200], topic[64], json[8192];
    sso_publisher_opts po;
    sso_publisher *p = NULL;
    sso_alert a[3];
    sso_obs_record o;
    sso_store_put_result r;
    fresh_db(path, sizeof path, "pub.db");
    snprintf(ep, sizeof ep, "ipc://%s/pub.ipc", sso_test_tmpdir());
    sso_publisher_opts_default(&po);
    po.store_path = path;
    po.pub_endpoint = ep;
    po.replay_endpoint = NULL;
    po.heartbeat_s = 0.05;
    assert_int_equal(sso_publisher_create(&po, &p), SSO_OK);
    assert_non_null(sso_publisher_store(p));
    void *ctx = zmq_ctx_new(), *sub = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "sso.v1.", 7);
    assert_int_equal(zmq_connect(sub, ep), 0);
    /* connected once a heartbeat arrives */
    do
        assert_int_equal(recv2(sub, topic, sizeof topic, json, sizeof json), 0);
    while (strcmp(topic, "sso.v1.hb"));

    const int first[3] = {0, 1, 2}, two[2] = {0, 2};
    batch(a, "o1", first, 3);
    sso_obs_record_init(&o, "o1");
    assert_int_equal(sso_publisher_put_observation(p, &o, a, 3, SSO_PUT_RETRACT_MISSING, &r), SSO_OK);
    char gone[96];
    snprintf(gone, sizeof gone, "%s", a[1].alert_id);
    batch(a, "o1", two, 2);
    sso_obs_record_init(&o, "o1");
    o.n_exposures = 3;
    o.stage_s[10] = 2.5;
    o.last_arrival_us = sso_time_now_us() - 50000;
    assert_int_equal(sso_publisher_put_observation(p, &o, a, 2, SSO_PUT_RETRACT_MISSING, &r), SSO_OK);
    assert_true(r.n_retracted == 1);
    assert_true(o.latency_s >= 0.05 && o.latency_s < 60.0);

    /* the stream: 3 alerts, a quartet, then the retract (seq 4), then a quartet */
    int n_alerts = 0, n_quartets = 0, got_retract = 0;
    while (n_quartets < 2) {
        assert_int_equal(recv2(sub, topic, sizeof topic, json, sizeof json), 0);
        if (!strcmp(topic, "sso.v1.hb"))
            continue;
        sso_jdoc d;
        assert_int_equal(sso_jdoc_parse(&d, json, strlen(json)), SSO_OK);
        if (!strcmp(topic, "sso.v1.slow") || !strcmp(topic, "sso.v1.fast")) {
            assert_int_equal(n_quartets, 0);
            n_alerts++;
        } else if (!strcmp(topic, "sso.v1.retract")) {
            assert_int_equal(n_quartets, 1);
            assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "alert_id")->str, gone);
            assert_true(sso_jdoc_get(&d, &d.nodes[0], "seq")->num == 4.0);
            got_retract++;
        } else if (!strcmp(topic, "sso.v1.quartet")) {
            n_quartets++;
            assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "obs_id")->str, "o1");
            assert_string_equal(sso_jdoc_get(&d, &d.nodes[0], "status")->str, "done");
            const sso_jnode *st = sso_jdoc_get(&d, &d.nodes[0], "stages");
            assert_non_null(st);
            assert_non_null(sso_jdoc_get(&d, st, "stack"));
            if (n_quartets == 2) {
                assert_true(sso_jdoc_get(&d, &d.nodes[0], "n_retracted")->num == 1.0);
                assert_true(sso_jdoc_get(&d, &d.nodes[0], "n_exposures")->num == 3.0);
                assert_true(sso_jdoc_get(&d, &d.nodes[0], "latency_s")->num >= 0.05);
                assert_true(sso_jdoc_get(&d, st, "total")->num == 2.5);
            } else {
                assert_int_equal(sso_jdoc_get(&d, &d.nodes[0], "latency_s")->type, SSO_JNULL);
            }
        } else {
            fail_msg("unexpected topic %s", topic);
        }
        sso_jdoc_free(&d);
    }
    assert_int_equal(n_alerts, 3);
    assert_int_equal(got_retract, 1);
    int found = 0;
    sso_obs_record g;
    assert_int_equal(sso_store_obs_get(sso_publisher_store(p), "o1", &g, &found), SSO_OK);
    assert_true(found && g.latency_s == o.latency_s && g.n_retracted == 1);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    sso_publisher_free(p);
}

static void test_failed_rows(void **state)
{
    (void)state;
    char path[4096], big[600];
    sso_store *s = NULL;
    sso_obs_record g;
    sso_alert a[2];
    sso_store_put_result r;
    int found = 0;
    fresh_db(path, sizeof path, "failed.db");
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    assert_string_equal(sso_obs_status_name(SSO_OBS_FAILED), "failed");
    assert_string_equal(sso_obs_status_name(SSO_OBS_STARTED), "started");
    assert_string_equal(sso_obs_status_name(SSO_OBS_DONE), "done");
    assert_int_equal(sso_store_obs_fail(s, "never", "x"), SSO_ERR_ARG);
    assert_int_equal(sso_store_obs_begin(s, "f1", 3, 1000), SSO_OK);
    assert_int_equal(sso_store_obs_fail(s, "f1", "bad quartet: dither 2 missing"), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "f1", &g, &found), SSO_OK);
    assert_true(found);
    assert_int_equal(g.status, SSO_OBS_FAILED);
    assert_int_equal(g.attempts, 1);
    assert_int_equal(g.n_exposures, 3);
    assert_string_equal(g.error, "bad quartet: dither 2 missing");
    assert_true(g.done_us > 0);
    assert_int_equal(sso_store_obs_begin(s, "f1", 4, 2000), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "f1", &g, &found), SSO_OK);
    assert_int_equal(g.status, SSO_OBS_STARTED);
    assert_int_equal(g.attempts, 2);
    assert_string_equal(g.error, "bad quartet: dither 2 missing");
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sso_store_obs_fail(s, "f1", big), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "f1", &g, &found), SSO_OK);
    assert_int_equal(g.attempts, 2);
    assert_int_equal(strlen(g.error), 255);
    assert_int_equal(sso_store_obs_begin(s, "f1", 4, 3000), SSO_OK);
    batch(a, "f1", (const int[]){0, 1}, 2);
    sso_obs_record o;
    sso_obs_record_init(&o, "f1");
    o.n_exposures = 4;
    assert_int_equal(sso_store_put_observation(s, &o, a, 2, 0, NULL, &r), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "f1", &g, &found), SSO_OK);
    assert_int_equal(g.status, SSO_OBS_DONE);
    assert_int_equal(g.attempts, 3);
    assert_string_equal(g.error, "");
    sso_store_free(s);
}

static void test_upgrade_v2(void **state)
{
    (void)state;
    char path[4096];
    sso_store *s = NULL;
    sso_obs_record g;
    sqlite3 *db = NULL;
    int found = 0;
    fresh_db(path, sizeof path, "v2.db");
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    assert_int_equal(sso_store_obs_begin(s, "old", 4, 1000), SSO_OK);
    sso_store_free(s);
    /* back to version 2: the observations table without its error column */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE observations DROP COLUMN error;"
                                      "PRAGMA user_version=2;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sso_store_open_reader(path, &s), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "old", &g, &found), SSO_OK);
    assert_true(found && g.status == SSO_OBS_STARTED && g.attempts == 1 && g.error[0] == '\0');
    sso_store_free(s);
    assert_int_equal(sso_store_open(path, &s), SSO_OK); /* the writer upgrades */
    assert_int_equal(sso_store_obs_fail(s, "old", "search failed"), SSO_OK);
    assert_int_equal(sso_store_obs_get(s, "old", &g, &found), SSO_OK);
    assert_true(found && g.status == SSO_OBS_FAILED && g.attempts == 1);
    assert_string_equal(g.error, "search failed");
    sso_store_free(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 3);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observation_rows),
        cmocka_unit_test(test_retract),
        cmocka_unit_test(test_publish_retract_and_summary),
        cmocka_unit_test(test_failed_rows),
        cmocka_unit_test(test_upgrade_v2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
