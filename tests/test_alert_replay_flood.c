/* tests/test_alert_replay_flood.c: the replay service against a client that floods it with
 * requests and never reads (alerts/publish.c, memory bound), on loopback TCP.
 *
 * Setup: 3,000 stored alerts; the flooder (a DEALER with a receive high-water mark of 10 and a
 * 4 KiB kernel receive buffer) sends FLOOD "since-seq 0 limit 5000" requests without reading. Each
 * would be answered with SSO_REPLAY_MAX_BATCH alerts and an end: 100,100 messages, ~100 MB of JSON
 * unbounded. Asserts, on the counters the publisher exposes:
 *  - every request was read (replay_requests), and all replies but a few were cut (replay_cut >=
 *    FLOOD - 4);
 *  - the messages queued for the flooder (replay_sent) are bounded: the ROUTER's queue admits
 *    SSO_REPLAY_PEER_HWM messages plus up to HWM/2 that libzmq's lagging count of what was read
 *    lets in, and the rest went into the TCP buffers (the flooder's kernel receive buffer is 4 KiB,
 *    its ZeroMQ queue 10 messages): the bound asserted is 4 batches (4,004 messages), against
 *    100,100 unbounded; at least HWM were queued (the bound was reached, not the flood short);
 *  - RSS grew by less than 64 MB during the flood (the unbounded queue would be ~100 MB);
 *  - meanwhile a second client asking "since-seq 0 limit 5000" gets a complete batch, seq 1..1000
 *    in order and an end with more=true, and its continuation from 1000 the next 1000: the service
 *    stays responsive; the engine's put_quartet during the flood completes and is published;
 *  - an sso_subscriber (one request at a time) gets all 3,000+ alerts through replay with no cut.
 * All waits are bounded by deadlines; nothing asserts on time.
 */
#define _POSIX_C_SOURCE 200809L
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
#include <zmq.h>

#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

#define N_STORED 3000
#define FLOOD 100

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void put_alerts(sso_publisher *p, const char *obs, uint64_t n)
{
    sso_alert *a = calloc(n, sizeof *a);
    assert_non_null(a);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(sso_alert_synth(5, obs, i, &a[i]), SSO_OK);
    assert_int_equal(sso_publisher_put_quartet(p, obs, a, n, NULL), SSO_OK);
    free(a);
}

/* Reads one reply on a DEALER: alerts (their seq checked in order from after+1) until the end.
 * Returns the number of alerts; *more from the end message; -1 on timeout. */
static long read_reply(void *d, uint64_t after, int *more)
{
    long n = 0;
    char body[8192];
    for (double end = mono_s() + 30; mono_s() < end;) {
        zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        char topic[64];
        int k = zmq_recv(d, topic, sizeof topic - 1, 0);
        assert_true(k > 0);
        topic[k] = 0;
        int b = zmq_recv(d, body, sizeof body - 1, 0);
        assert_true(b > 0 && b < (int)sizeof body);
        body[b] = 0;
        if (!strcmp(topic, "sso.v1.replay.end")) {
            *more = strstr(body, "\"more\":true") != NULL;
            return n;
        }
        char want[48];
        snprintf(want, sizeof want, "\"seq\":%llu,", (unsigned long long)(after + (uint64_t)n + 1));
        assert_non_null(strstr(body, want));
        n++;
    }
    return -1;
}

static int count_cb(const char *topic, const char *json, size_t len, uint64_t seq, int replay,
                    void *user)
{
    uint64_t *n = user;
    (void)topic, (void)json, (void)len, (void)seq, (void)replay;
    return ++*n >= N_STORED + 50;
}

static void test_flood(void **state)
{
    (void)state;
    char db[4096], pub_ep[256], rep_ep[256];
    sso_test_path(db, sizeof db, "flood.db");
    unlink(db);
    sso_publisher_opts o;
    sso_publisher *p = NULL;
    sso_publisher_opts_default(&o);
    o.store_path = db;
    o.pub_endpoint = "tcp://127.0.0.1:*";
    o.replay_endpoint = "tcp://127.0.0.1:*";
    o.heartbeat_s = 0.2;
    assert_int_equal(sso_publisher_create(&o, &p), SSO_OK);
    assert_int_equal(sso_publisher_endpoints(p, pub_ep, sizeof pub_ep, rep_ep, sizeof rep_ep),
                     SSO_OK);
    for (int q = 0; q < N_STORED / 500; q++) {
        char obs[32];
        snprintf(obs, sizeof obs, "flood-%d", q);
        put_alerts(p, obs, 500);
    }
    sso_publish_stats s0, s1;
    sso_publisher_stats(p, &s0);
    long rss0 = rss_kb();

    /* the flooder */
    void *ctx = zmq_ctx_new();
    void *fl = zmq_socket(ctx, ZMQ_DEALER);
    int small = 10, rcvbuf = 4096, linger = 0;
    zmq_setsockopt(fl, ZMQ_RCVHWM, &small, sizeof small);
    zmq_setsockopt(fl, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    zmq_setsockopt(fl, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(fl, rep_ep), 0);
    for (int i = 0; i < FLOOD; i++)
        assert_int_equal(zmq_send(fl, "since-seq 0 limit 5000", 22, 0), 22);
    for (double end = mono_s() + 60; mono_s() < end;) {
        sso_publisher_stats(p, &s1);
        if (s1.replay_requests - s0.replay_requests >= FLOOD)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sso_publisher_stats(p, &s1);
    assert_int_equal(s1.replay_requests - s0.replay_requests, FLOOD);
    uint64_t cut = s1.replay_cut - s0.replay_cut, sent = s1.replay_sent - s0.replay_sent;
    long rss1 = rss_kb();
    print_message("flood: %d requests, %llu cut, %llu messages queued (unbounded: %d), RSS +%ld kB\n",
                  FLOOD, (unsigned long long)cut, (unsigned long long)sent,
                  FLOOD * (SSO_REPLAY_MAX_BATCH + 1), rss1 - rss0);
    assert_true(cut >= FLOOD - 4);
    assert_true(sent <= 4 * (SSO_REPLAY_MAX_BATCH + 1));
    assert_true(sent >= SSO_REPLAY_PEER_HWM); /* the queue did fill: the bound was reached */
    assert_true(rss0 > 0 && rss1 - rss0 < 64 * 1024);

    /* the service still answers another client, in full, while the flooder's queue stays full */
    void *ok = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(ok, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(ok, rep_ep), 0);
    int more = 0;
    assert_int_equal(zmq_send(ok, "since-seq 0 limit 5000", 22, 0), 22);
    assert_int_equal(read_reply(ok, 0, &more), SSO_REPLAY_MAX_BATCH);
    assert_true(more);
    assert_int_equal(zmq_send(ok, "since-seq 1000 limit 5000", 25, 0), 25);
    assert_int_equal(read_reply(ok, 1000, &more), SSO_REPLAY_MAX_BATCH);
    /* the engine stores and publishes during the flood */
    sso_publisher_stats(p, &s0);
    put_alerts(p, "flood-late", 50);
    for (double end = mono_s() + 30; mono_s() < end;) { /* the thread forwards asynchronously */
        sso_publisher_stats(p, &s1);
        if (s1.sent - s0.sent >= 50)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(s1.sent - s0.sent, 50);
    assert_int_equal(s1.dropped, 0);

    /* a one-request-at-a-time subscriber is never cut */
    sso_publisher_stats(p, &s0);
    sso_subscriber_opts so = {pub_ep, rep_ep, 0, 0, NULL, NULL, 0, NULL};
    sso_subscriber *sub = NULL;
    uint64_t n = 0;
    assert_int_equal(sso_subscriber_create(&so, &sub), SSO_OK);
    assert_int_equal(sso_subscriber_run(sub, 60, count_cb, &n), SSO_OK);
    sso_subscriber_free(sub);
    assert_int_equal(n, N_STORED + 50);
    sso_publisher_stats(p, &s1);
    assert_int_equal(s1.replay_cut, s0.replay_cut);

    zmq_close(fl);
    zmq_close(ok);
    zmq_ctx_term(ctx);
    sso_publisher_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_flood)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
