/* tests/test_alert_stream.c: store -> publish -> subscribe over real loopback TCP sockets
 * (ephemeral ports: no clash between parallel tests).
 *
 * Asserts, each bounded in time:
 *  - 10,000 synthetic alerts (100 quartets of 100) reach a subscriber, every seq 1..10000 exactly
 *    once, in order, each message a valid alert whose alert_id is the one synthesised; prints
 *    msgs/s and store->delivery latency percentiles;
 *  - a subscriber that starts after 2,000 alerts were published gets all of them from replay and
 *    then the live ones, without duplicates;
 *  - a subscriber that never reads (tiny HWM) does not slow the publisher: 10,000 alerts are
 *    stored and handed over in bounded time, none dropped by the pipe, while a reading subscriber
 *    still gets them all; prints the put times with and without the stalled one;
 *  - hostile replay requests on the wire get replay.error replies and the service keeps serving;
 *  - alerts stored but never published (a crash) are published when the publisher starts;
 *  - a handshake cut off once (a listener on the endpoint that accepts and closes, as a killed
 *    engine's dying child does while a new engine starts) is not an error: the subscriber gets
 *    every alert from the publisher that then binds there; a listener that cuts every handshake
 *    is reported within seconds (SSO_ERR_IO naming the endpoint).
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

#define N_ALERTS 10000
#define PER_QUARTET 100

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fresh_db(char *path, size_t n, const char *name)
{
    char x[4200];
    sso_test_path(path, n, name);
    unlink(path);
    snprintf(x, sizeof x, "%s-wal", path);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", path);
    unlink(x);
}

/* A publisher bound to bind_pub and bind_rep (NULL: loopback TCP, an ephemeral port); the
 * endpoints it bound are written to pub_ep and rep_ep (256 bytes each). */
static sso_publisher *make_pub_at(const char *db, int sndhwm, const char *bind_pub,
                                  const char *bind_rep, char *pub_ep, char *rep_ep)
{
    sso_publisher_opts o;
    sso_publisher *p = NULL;
    sso_publisher_opts_default(&o);
    o.store_path = db;
    o.pub_endpoint = bind_pub ? bind_pub : "tcp://127.0.0.1:*";
    o.replay_endpoint = bind_rep ? bind_rep : "tcp://127.0.0.1:*";
    o.heartbeat_s = 0.2;
    if (sndhwm)
        o.sndhwm = sndhwm;
    assert_int_equal(sso_publisher_create(&o, &p), SSO_OK);
    assert_int_equal(sso_publisher_endpoints(p, pub_ep, 256, rep_ep, 256), SSO_OK);
    return p;
}

static sso_publisher *make_pub(const char *db, int sndhwm, char *pub_ep, char *rep_ep)
{
    return make_pub_at(db, sndhwm, NULL, NULL, pub_ep, rep_ep);
}

/* ---- a subscriber in its own thread ---- */
typedef struct sub_run {
    char pub_ep[256], rep_ep[256];
    uint64_t want;
    double *t_recv;   /* [want + 1], by seq */
    uint64_t *order;  /* seqs in delivery order */
    uint64_t n;
    int bad_json;
    sso_subscriber_stats stats;
    sso_status st;
    uint64_t seed;
    const char *obs_id;
    int ready;
    pthread_mutex_t mu;
} sub_run;

static int on_alert(const char *topic, const char *json, size_t len, uint64_t seq, int replay,
                    void *user)
{
    sub_run *r = user;
    sso_alert a, want;
    (void)replay;
    if (seq <= r->want)
        r->t_recv[seq] = mono_s();
    if (r->n <= r->want)
        r->order[r->n] = seq;
    r->n++;
    if (sso_alert_from_json(json, len, &a) != SSO_OK || a.seq != seq ||
        strcmp(topic + 7, sso_alert_class_name(a.cls)) != 0)
        r->bad_json++;
    else if (sso_alert_synth(r->seed, r->obs_id, seq - 1, &want) != SSO_OK ||
             strcmp(want.alert_id, a.alert_id) != 0)
        r->bad_json++;
    return r->n >= r->want;
}

static void *sub_thread(void *arg)
{
    sub_run *r = arg;
    sso_subscriber_opts o = {r->pub_ep, r->rep_ep, 0, 0, NULL, NULL, 0, NULL};
    sso_subscriber *s = NULL;
    r->st = sso_subscriber_create(&o, &s);
    pthread_mutex_lock(&r->mu);
    r->ready = 1;
    pthread_mutex_unlock(&r->mu);
    if (r->st == SSO_OK)
        r->st = sso_subscriber_run(s, 90.0, on_alert, r);
    if (s)
        sso_subscriber_stats_get(s, &r->stats);
    sso_subscriber_free(s);
    return NULL;
}

static sub_run *sub_start(pthread_t *th, const char *pub_ep, const char *rep_ep, uint64_t want,
                          uint64_t seed, const char *obs_id)
{
    sub_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->pub_ep, sizeof r->pub_ep, "%s", pub_ep);
    snprintf(r->rep_ep, sizeof r->rep_ep, "%s", rep_ep);
    r->want = want;
    r->t_recv = calloc(want + 1, sizeof *r->t_recv);
    r->order = calloc(want + 1, sizeof *r->order);
    r->seed = seed;
    r->obs_id = obs_id;
    pthread_mutex_init(&r->mu, NULL);
    assert_int_equal(pthread_create(th, NULL, sub_thread, r), 0);
    for (;;) { /* wait until its sockets exist (the connection itself may still be on its way) */
        pthread_mutex_lock(&r->mu);
        int ok = r->ready;
        pthread_mutex_unlock(&r->mu);
        if (ok)
            break;
        sleep_ms(1);
    }
    return r;
}

static void sub_check_and_free(sub_run *r)
{
    assert_int_equal(r->st, SSO_OK);
    assert_true(r->n == r->want);
    assert_int_equal(r->bad_json, 0);
    for (uint64_t i = 0; i < r->want; i++)
        assert_true(r->order[i] == i + 1);
    free(r->t_recv);
    free(r->order);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Publishes alerts [first, first + n) in quartets; t_put[seq] = time the quartet's put began. */
static double publish_range(sso_publisher *p, uint64_t seed, const char *obs_id, uint64_t first,
                            uint64_t n, double *t_put, double *max_call_s)
{
    sso_alert q[PER_QUARTET];
    double t0 = mono_s();
    for (uint64_t k = 0; k < n; k += PER_QUARTET) {
        size_t m = n - k < PER_QUARTET ? (size_t)(n - k) : PER_QUARTET;
        for (size_t i = 0; i < m; i++)
            assert_int_equal(sso_alert_synth(seed, obs_id, first + k + i, &q[i]), SSO_OK);
        double t = mono_s();
        sso_store_put_result r;
        assert_int_equal(sso_publisher_put_quartet(p, obs_id, q, m, &r), SSO_OK);
        assert_int_equal(r.n_new, m);
        double dt = mono_s() - t;
        if (max_call_s && dt > *max_call_s)
            *max_call_s = dt;
        if (t_put)
            for (size_t i = 0; i < m; i++)
                t_put[q[i].seq] = t;
    }
    return mono_s() - t0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int count_rows(const sso_store_row *row, void *user)
{
    (void)row;
    (*(int *)user)++;
    return 0;
}

static void test_10k_none_lost(void **state)
{
    (void)state;
    char db[4096], pe[256], re[256];
    pthread_t th;
    fresh_db(db, sizeof db, "10k.db");
    sso_publisher *p = make_pub(db, 0, pe, re);
    sub_run *r = sub_start(&th, pe, re, N_ALERTS, 21, "obs-10k");
    double *t_put = calloc(N_ALERTS + 1, sizeof *t_put);
    double t0 = mono_s();
    double put_s = publish_range(p, 21, "obs-10k", 0, N_ALERTS, t_put, NULL);
    pthread_join(th, NULL);
    double total_s = mono_s() - t0;
    double *lat = calloc(N_ALERTS, sizeof *lat);
    for (uint64_t s = 1; s <= N_ALERTS; s++)
        lat[s - 1] = 1e3 * (r->t_recv[s] - t_put[s]);
    qsort(lat, N_ALERTS, sizeof *lat, cmp_d);
    printf("# 10k alerts: store+publish %.3f s (%.0f alerts/s), end to end %.3f s (%.0f msgs/s); "
           "latency put->delivery ms: p50 %.2f p90 %.2f p99 %.2f max %.2f; from replay %llu, "
           "gaps %llu, duplicates %llu\n",
           put_s, N_ALERTS / put_s, total_s, N_ALERTS / total_s, lat[N_ALERTS / 2],
           lat[N_ALERTS * 9 / 10], lat[N_ALERTS * 99 / 100], lat[N_ALERTS - 1],
           (unsigned long long)r->stats.from_replay, (unsigned long long)r->stats.gaps,
           (unsigned long long)r->stats.duplicates);
    sub_check_and_free(r);
    sso_publish_stats ps;
    sso_publisher_stats(p, &ps);
    assert_true(ps.sent == N_ALERTS && ps.dropped == 0);
    free(lat);
    free(t_put);
    sso_publisher_free(p);
    /* everything was marked published */
    sso_store *s = NULL;
    assert_int_equal(sso_store_open(db, &s), SSO_OK);
    int left = 0;
    assert_int_equal(sso_store_unpublished(s, 0, count_rows, &left), SSO_OK);
    assert_int_equal(left, 0);
    sso_store_free(s);
}

static void test_late_listener(void **state)
{
    (void)state;
    char db[4096], pe[256], re[256];
    pthread_t th;
    fresh_db(db, sizeof db, "late.db");
    sso_publisher *p = make_pub(db, 0, pe, re);
    publish_range(p, 5, "obs-late", 0, 2000, NULL, NULL);
    sub_run *r = sub_start(&th, pe, re, 2100, 5, "obs-late");
    sleep_ms(300); /* let it catch up and go live */
    publish_range(p, 5, "obs-late", 2000, 100, NULL, NULL);
    pthread_join(th, NULL);
    printf("# late listener: %llu delivered, %llu from replay, %llu replays, %llu duplicates\n",
           (unsigned long long)r->stats.delivered, (unsigned long long)r->stats.from_replay,
           (unsigned long long)r->stats.replays, (unsigned long long)r->stats.duplicates);
    assert_true(r->stats.from_replay >= 2000); /* it was not there: replay only */
    assert_true(r->stats.replays >= 2);        /* 1000 per reply: at least two rounds */
    sub_check_and_free(r);
    sso_publisher_free(p);
}

static void test_stalled_subscriber(void **state)
{
    (void)state;
    char db[4096], pe[256], re[256];
    pthread_t th;
    double max_call = 0, max_call_base = 0;
    /* baseline: one reading subscriber */
    fresh_db(db, sizeof db, "base.db");
    sso_publisher *p = make_pub(db, 100, pe, re);
    sub_run *r = sub_start(&th, pe, re, N_ALERTS, 8, "obs-st");
    double base_s = publish_range(p, 8, "obs-st", 0, N_ALERTS, NULL, &max_call_base);
    pthread_join(th, NULL);
    sub_check_and_free(r);
    sso_publisher_free(p);

    /* the same with a subscriber that never reads */
    fresh_db(db, sizeof db, "stall.db");
    p = make_pub(db, 100, pe, re);
    void *ctx = zmq_ctx_new();
    void *stalled = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 10, linger = 0, rcvbuf = 4096;
    zmq_setsockopt(stalled, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(stalled, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    zmq_setsockopt(stalled, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(stalled, ZMQ_SUBSCRIBE, "", 0);
    assert_int_equal(zmq_connect(stalled, pe), 0);
    sleep_ms(200); /* connected before the flood */
    r = sub_start(&th, pe, re, N_ALERTS, 8, "obs-st");
    double stall_s = publish_range(p, 8, "obs-st", 0, N_ALERTS, NULL, &max_call);
    pthread_join(th, NULL);
    sso_publish_stats ps;
    sso_publisher_stats(p, &ps);
    printf("# stalled subscriber: 10k alerts stored+handed over in %.3f s (max call %.1f ms); "
           "without it %.3f s (max call %.1f ms); the reading subscriber got all, %llu via replay\n",
           stall_s, 1e3 * max_call, base_s, 1e3 * max_call_base,
           (unsigned long long)r->stats.from_replay);
    sub_check_and_free(r);
    assert_true(ps.dropped == 0 && ps.sent == N_ALERTS);
    assert_true(max_call < 2.0);            /* no call waited on the stalled peer */
    assert_true(stall_s < 3.0 * base_s + 2.0); /* and the total is not held back by it */
    /* the stalled socket holds a bounded number: the PUB dropped the rest for it */
    int held = 0;
    for (;;) {
        char buf[8];
        if (zmq_recv(stalled, buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            break;
        held++;
    }
    printf("# the stalled subscriber could read %d frames afterwards (of %d sent)\n", held,
           2 * (N_ALERTS + N_ALERTS / PER_QUARTET));
    assert_true(held < 2 * (N_ALERTS + N_ALERTS / PER_QUARTET));
    zmq_close(stalled);
    zmq_ctx_term(ctx);
    sso_publisher_free(p);
}

/* Sends frames to the replay service; returns the topic of the first reply frame set. */
static void request(void *dealer, const char *const *frames, const size_t *lens, int n, char *topic,
                    size_t tn)
{
    for (int i = 0; i < n; i++)
        assert_true(zmq_send(dealer, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    int got = zmq_recv(dealer, topic, tn - 1, 0);
    assert_true(got > 0);
    topic[got < (int)tn - 1 ? got : (int)tn - 1] = 0;
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(dealer, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        char skip[4096];
        zmq_recv(dealer, skip, sizeof skip, 0);
    }
}

static void test_replay_hostile_wire(void **state)
{
    (void)state;
    char db[4096], pe[256], re[256], topic[64];
    fresh_db(db, sizeof db, "hostile.db");
    sso_publisher *p = make_pub(db, 0, pe, re);
    publish_range(p, 3, "obs-h", 0, 10, NULL, NULL);
    void *ctx = zmq_ctx_new();
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, tmo = 10000;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    assert_int_equal(zmq_connect(d, re), 0);
    const char *bad[] = {"", "since-seq -1", "since-seq 1 limit 999999", "\xff\xfe\x00\x01",
                         "since-time tomorrow"};
    const size_t blen[] = {0, 12, 24, 4, 19};
    for (int i = 0; i < 5; i++) {
        request(d, &bad[i], &blen[i], 1, topic, sizeof topic);
        assert_string_equal(topic, "sso.v1.replay.error");
    }
    const char *two[] = {"since-seq 0", "since-seq 0"};
    const size_t tl[] = {11, 11};
    request(d, two, tl, 2, topic, sizeof topic);
    assert_string_equal(topic, "sso.v1.replay.error");
    /* still serving: since-seq 7 gives seqs 8, 9, 10 then the end marker */
    const char *ok = "since-seq 7";
    size_t okl = strlen(ok);
    assert_true(zmq_send(d, ok, okl, 0) == (int)okl);
    int rows = 0;
    for (;;) {
        char t[64], body[4096];
        int n = zmq_recv(d, t, sizeof t - 1, 0);
        assert_true(n > 0);
        t[n] = 0;
        int m = zmq_recv(d, body, sizeof body - 1, 0);
        assert_true(m > 0);
        body[m < (int)sizeof body - 1 ? m : (int)sizeof body - 1] = 0;
        if (!strcmp(t, "sso.v1.replay.end")) {
            assert_non_null(strstr(body, "\"count\":3"));
            assert_non_null(strstr(body, "\"last_seq\":10"));
            assert_non_null(strstr(body, "\"more\":false"));
            break;
        }
        sso_alert a;
        assert_int_equal(sso_alert_from_json(body, (size_t)m, &a), SSO_OK);
        assert_true(a.seq == (uint64_t)(8 + rows));
        rows++;
    }
    assert_int_equal(rows, 3);
    sso_publish_stats ps;
    sso_publisher_stats(p, &ps);
    assert_true(ps.replay_errors == 6 && ps.replay_requests == 7);
    zmq_close(d);
    zmq_ctx_term(ctx);
    sso_publisher_free(p);
}

static void test_unpublished_go_out_on_start(void **state)
{
    (void)state;
    char db[4096], pe[256], re[256];
    fresh_db(db, sizeof db, "restart.db");
    sso_store *s = NULL;
    sso_alert a[20];
    for (int i = 0; i < 20; i++)
        assert_int_equal(sso_alert_synth(4, "obs-r", (uint64_t)i, &a[i]), SSO_OK);
    assert_int_equal(sso_store_open(db, &s), SSO_OK);
    assert_int_equal(sso_store_put(s, a, 20, NULL, NULL), SSO_OK);
    assert_int_equal(sso_store_mark_published(s, 1, 12), SSO_OK);
    sso_store_free(s); /* "crashed" with 8 stored but unpublished */
    sso_publisher *p = make_pub(db, 0, pe, re);
    sso_publish_stats ps;
    sso_publisher_stats(p, &ps);
    for (int k = 0; k < 200 && ps.sent < 8; k++) {
        sleep_ms(10);
        sso_publisher_stats(p, &ps);
    }
    assert_true(ps.sent == 8);
    sso_publisher_free(p);
    int left = 0;
    assert_int_equal(sso_store_open(db, &s), SSO_OK);
    assert_int_equal(sso_store_unpublished(s, 0, count_rows, &left), SSO_OK);
    assert_int_equal(left, 0);
    sso_store_free(s);
}

/* ---- handshakes cut off ---- */

/* A listener on an ipc endpoint that accepts connections and closes them before any greeting,
 * until it has cut max_cuts of them or run for max_s; then it closes and unlinks its path. */
typedef struct cutter {
    char path[200];
    int fd, max_cuts, cuts;
    double max_s;
} cutter;

static void *cutter_thread(void *arg)
{
    cutter *c = arg;
    double end = mono_s() + c->max_s;
    while (c->cuts < c->max_cuts && mono_s() < end) {
        struct pollfd pf = {c->fd, POLLIN, 0};
        if (poll(&pf, 1, 20) == 1) {
            int k = accept(c->fd, NULL, NULL);
            if (k >= 0) {
                close(k);
                c->cuts++;
            }
        }
    }
    close(c->fd);
    unlink(c->path);
    return NULL;
}

static void cutter_start(cutter *c, pthread_t *th, const char *name, int max_cuts, double max_s,
                         char *ep, size_t nep)
{
    struct sockaddr_un a;
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s/%s", sso_test_tmpdir(), name);
    assert_true(strlen(c->path) < sizeof a.sun_path);
    unlink(c->path);
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, c->path, strlen(c->path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c->fd, 8), 0);
    c->max_cuts = max_cuts;
    c->max_s = max_s;
    snprintf(ep, nep, "ipc://%s", c->path);
    assert_int_equal(pthread_create(th, NULL, cutter_thread, c), 0);
}

static void test_handshake_cut_once(void **state)
{
    (void)state;
    char db[4096], pe[256], re[256];
    pthread_t tc, ts;
    cutter c;
    fresh_db(db, sizeof db, "cut.db");
    cutter_start(&c, &tc, "cut-pub.ipc", 1, 30.0, pe, sizeof pe);
    snprintf(re, sizeof re, "ipc://%s/cut-rep.ipc", sso_test_tmpdir());
    sub_run *r = sub_start(&ts, pe, re, 50, 8, "obs-cut");
    pthread_join(tc, NULL); /* the subscriber's SUB was cut once; the path is gone */
    assert_int_equal(c.cuts, 1);
    char pe2[256], re2[256];
    sso_publisher *p = make_pub_at(db, 0, pe, re, pe2, re2);
    publish_range(p, 8, "obs-cut", 0, 50, NULL, NULL);
    pthread_join(ts, NULL);
    sub_check_and_free(r); /* SSO_OK, all 50 in order */
    sso_publisher_free(p);
}

static void test_handshake_cut_always(void **state)
{
    (void)state;
    char pe[256], re[256];
    pthread_t tc;
    cutter c;
    cutter_start(&c, &tc, "cutall-pub.ipc", 1000000, 8.0, pe, sizeof pe);
    snprintf(re, sizeof re, "ipc://%s/cutall-rep.ipc", sso_test_tmpdir());
    sso_subscriber_opts so = {pe, re, 0, 0, NULL, NULL, 0, NULL};
    sso_subscriber *s = NULL;
    assert_int_equal(sso_subscriber_create(&so, &s), SSO_OK);
    /* reported while the cutter still runs (it stops after 8 s, the run would then time out OK) */
    assert_int_equal(sso_subscriber_run(s, 20.0, on_alert, &(sub_run){.want = 1}), SSO_ERR_IO);
    printf("# cut always: %s\n", sso_last_error());
    assert_non_null(strstr(sso_last_error(), "closed the connection"));
    assert_non_null(strstr(sso_last_error(), pe));
    sso_subscriber_free(s);
    pthread_join(tc, NULL);
    assert_true(c.cuts >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_10k_none_lost),
        cmocka_unit_test(test_late_listener),
        cmocka_unit_test(test_stalled_subscriber),
        cmocka_unit_test(test_replay_hostile_wire),
        cmocka_unit_test(test_unpublished_go_out_on_start),
        cmocka_unit_test(test_handshake_cut_once),
        cmocka_unit_test(test_handshake_cut_always),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
