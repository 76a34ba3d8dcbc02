/* tests/test_alert_curve.c: CURVE security of the alert stream (sso/security.h) with real sockets on
 * loopback TCP (ephemeral ports), every wait bounded by a deadline.
 *
 * Asserts:
 *  - keygen: the secret file is mode 0600, the public key derived from it with zmq_curve_public
 *    equals the one written to .pub and returned; an existing key is not overwritten without
 *    force, and is with it (a different key);
 *  - key files: comments, blank lines and trailing comments are accepted and the keys read are
 *    the ones written; a malformed line is refused with a message naming the file and the line; a
 *    secret readable by others, a file with two secrets, an empty allowed list are refused;
 *  - the ZAP handler on a bare PUB socket: an allowed client receives; a client with an unknown key
 *    is seen as ZMQ_EVENT_HANDSHAKE_FAILED_AUTH (status 400) on a monitor of the server socket and
 *    receives nothing; a plaintext client fails its handshake (monitor) and receives nothing;
 *  - the publisher with CURVE: alerts stored before any client connects reach an allowed
 *    sso_subscriber through replay (all of them, in order) and live; an unknown key and a
 *    plaintext client get nothing from PUB or replay, their sso_subscriber_run ends with
 *    SSO_ERR_IO saying why (key refused / handshake failed), and the publisher counts rejected
 *    handshakes; a raw DEALER with an allowed key gets a replay, one with an unknown key nothing;
 *  - refusals: CURVE asked where libzmq lacks it (SSO_ZMQ_HAS_CURVE=0) is SSO_ERR_UNSUPPORTED and
 *    creates no store; CURVE without an allowed list is SSO_ERR_ARG.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = 0;
    fclose(f);
}

/* A fresh key pair in the test folder: <name> and <name>.pub. */
static void make_keys(const char *name, sso_curve_keypair *kp, char *path, size_t n)
{
    sso_test_path(path, n, name);
    assert_int_equal(sso_curve_keygen(path, 1, kp), SSO_OK);
}

/* ---- keygen and key files ---- */

static void test_keygen_roundtrip(void **state)
{
    (void)state;
    char path[4096], pub_path[4200], text[1024], derived[41], from_pub[41];
    struct stat sb;
    sso_curve_keypair kp, loaded, again;
    sso_test_path(path, sizeof path, "rt.key");
    unlink(path);
    assert_int_equal(sso_curve_keygen(path, 0, &kp), SSO_OK);
    snprintf(pub_path, sizeof pub_path, "%s.pub", path);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(pub_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    /* the secret file holds the secret as text; the derivation is libzmq's, not ours */
    slurp(path, text, sizeof text);
    assert_non_null(strstr(text, kp.secret_z85));
    assert_int_equal(zmq_curve_public(derived, kp.secret_z85), 0);
    assert_string_equal(derived, kp.public_z85);
    assert_int_equal(sso_curve_load_public(pub_path, from_pub), SSO_OK);
    assert_string_equal(from_pub, derived);
    assert_int_equal(sso_curve_load_secret(path, &loaded), SSO_OK);
    assert_string_equal(loaded.secret_z85, kp.secret_z85);
    assert_string_equal(loaded.public_z85, derived);
    /* the public file does not contain the secret */
    slurp(pub_path, text, sizeof text);
    assert_null(strstr(text, kp.secret_z85));
    /* no overwrite without force; a new pair with it */
    assert_int_equal(sso_curve_keygen(path, 0, &again), SSO_ERR_IO);
    assert_non_null(strstr(sso_last_error(), path));
    assert_int_equal(sso_curve_load_secret(path, &loaded), SSO_OK);
    assert_string_equal(loaded.secret_z85, kp.secret_z85);
    assert_int_equal(sso_curve_keygen(path, 1, &again), SSO_OK);
    assert_string_not_equal(again.secret_z85, kp.secret_z85);
    assert_int_equal(sso_curve_load_secret(path, &loaded), SSO_OK);
    assert_string_equal(loaded.public_z85, again.public_z85);
}

static void test_key_files(void **state)
{
    (void)state;
    char a_path[4096], b_path[4096], p[4096], text[2048], z[41];
    sso_curve_keypair a, b, kp;
    sso_curve_allow *al = NULL;
    unsigned char bin_a[32], bin_b[32], bin_c[32];
    make_keys("kf-a.key", &a, a_path, sizeof a_path);
    make_keys("kf-b.key", &b, b_path, sizeof b_path);
    zmq_z85_decode(bin_a, a.public_z85);
    zmq_z85_decode(bin_b, b.public_z85);
    memset(bin_c, 7, sizeof bin_c);

    /* an allowed list with comments, blank lines, indentation, CRLF and a trailing comment */
    snprintf(text, sizeof text, "# operators\n\n  %s   # alice\r\n#bob left\n\t%s\n", a.public_z85,
             b.public_z85);
    sso_test_path(p, sizeof p, "kf-allow.txt");
    write_text(p, text, 0644);
    assert_int_equal(sso_curve_allow_load(p, &al), SSO_OK);
    assert_int_equal(sso_curve_allow_count(al), 2);
    assert_true(sso_curve_allow_has(al, bin_a));
    assert_true(sso_curve_allow_has(al, bin_b));
    assert_false(sso_curve_allow_has(al, bin_c));
    sso_curve_allow_free(al);

    /* a malformed line: refused, naming the file and the line */
    snprintf(text, sizeof text, "%s\nnot-a-key\n", a.public_z85);
    write_text(p, text, 0644);
    assert_int_equal(sso_curve_allow_load(p, &al), SSO_ERR_ARG);
    assert_null(al);
    assert_non_null(strstr(sso_last_error(), p));
    assert_non_null(strstr(sso_last_error(), "line 2"));
    /* a key one character short is not a key */
    snprintf(text, sizeof text, "%.39s\n", a.public_z85);
    write_text(p, text, 0644);
    assert_int_equal(sso_curve_allow_load(p, &al), SSO_ERR_ARG);
    /* an empty list */
    write_text(p, "# nobody\n", 0644);
    assert_int_equal(sso_curve_allow_load(p, &al), SSO_ERR_ARG);
    assert_non_null(strstr(sso_last_error(), p));
    /* a missing file */
    sso_test_path(p, sizeof p, "kf-missing.txt");
    unlink(p);
    assert_int_equal(sso_curve_allow_load(p, &al), SSO_ERR_IO);
    assert_non_null(strstr(sso_last_error(), p));

    /* secrets: readable by others, or two in one file, are refused */
    sso_test_path(p, sizeof p, "kf-secret.key");
    snprintf(text, sizeof text, "%s\n", a.secret_z85);
    write_text(p, text, 0644);
    assert_int_equal(sso_curve_load_secret(p, &kp), SSO_ERR_ARG);
    assert_non_null(strstr(sso_last_error(), p));
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(sso_curve_load_secret(p, &kp), SSO_OK);
    assert_string_equal(kp.public_z85, a.public_z85);
    snprintf(text, sizeof text, "%s\n%s\n", a.secret_z85, b.secret_z85);
    write_text(p, text, 0600);
    assert_int_equal(sso_curve_load_secret(p, &kp), SSO_ERR_ARG);
    assert_non_null(strstr(sso_last_error(), "2 keys"));

    /* a server key as Z85 text or as a file */
    assert_int_equal(sso_curve_load_public(b.public_z85, z), SSO_OK);
    assert_string_equal(z, b.public_z85);
    assert_int_equal(sso_curve_load_public("too-short", z), SSO_ERR_IO);
}

/* ---- the ZAP handler on a bare socket, watched by a monitor ---- */

typedef struct mon {
    void *pair;
    int auth_failed, auth_value, proto_failed, succeeded;
} mon;

static void mon_drain(mon *m, long wait_ms)
{
    zmq_pollitem_t it = {m->pair, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, wait_ms) > 0) {
        zmq_msg_t f1, f2;
        zmq_msg_init(&f1);
        zmq_msg_init(&f2);
        assert_true(zmq_msg_recv(&f1, m->pair, 0) >= 6);
        assert_true(zmq_msg_more(&f1));
        assert_true(zmq_msg_recv(&f2, m->pair, 0) >= 0);
        const unsigned char *d = zmq_msg_data(&f1);
        uint16_t ev;
        uint32_t val;
        memcpy(&ev, d, 2);
        memcpy(&val, d + 2, 4);
        if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            m->auth_failed++;
            m->auth_value = (int)val;
        } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            m->proto_failed++;
        } else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            m->succeeded++;
        }
        zmq_msg_close(&f1);
        zmq_msg_close(&f2);
        wait_ms = 0;
    }
}

static void *client_sub(void *ctx, const char *ep, const sso_curve_keypair *kp, const char *server)
{
    void *s = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0;
    assert_non_null(s);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (kp)
        assert_int_equal(sso_curve_client_socket(s, kp, server), SSO_OK);
    assert_int_equal(zmq_connect(s, ep), 0);
    return s;
}

static int recv_count(void *s)
{
    int n = 0;
    char buf[64];
    while (zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        n++;
    return n;
}

static void test_zap_monitor(void **state)
{
    (void)state;
    char sp[4096], ap[4096], bp[4096], allow_path[4200], ep[256];
    sso_curve_keypair server, alice, mallory;
    sso_curve_allow *allow = NULL;
    sso_zap *zap = NULL;
    size_t n = sizeof ep;
    make_keys("zm-server.key", &server, sp, sizeof sp);
    make_keys("zm-alice.key", &alice, ap, sizeof ap);
    make_keys("zm-mallory.key", &mallory, bp, sizeof bp);
    snprintf(allow_path, sizeof allow_path, "%s.pub", ap); /* a .pub file is an allowed list */
    assert_int_equal(sso_curve_allow_load(allow_path, &allow), SSO_OK);

    void *sctx = zmq_ctx_new(), *cctx = zmq_ctx_new();
    assert_int_equal(sso_zap_create(sctx, allow, &zap), SSO_OK);
    void *pub = zmq_socket(sctx, ZMQ_PUB);
    int linger = 0;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(sso_curve_server_socket(pub, &server), SSO_OK);
    assert_int_equal(zmq_socket_monitor(pub, "inproc://test-mon",
                                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
                     0);
    mon m = {zmq_socket(sctx, ZMQ_PAIR), 0, 0, 0, 0};
    zmq_setsockopt(m.pair, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(m.pair, "inproc://test-mon"), 0);
    assert_int_equal(zmq_bind(pub, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &n), 0);

    /* the allowed client: publish until it receives (slow joiner), bounded */
    void *good = client_sub(cctx, ep, &alice, server.public_z85);
    int got = 0;
    for (double end = mono_s() + 10; !got && mono_s() < end;) {
        zmq_send(pub, "x", 1, ZMQ_DONTWAIT);
        zmq_pollitem_t it = {good, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) > 0)
            got = recv_count(good);
    }
    assert_true(got > 0);
    mon_drain(&m, 0);
    assert_true(m.succeeded >= 1);
    assert_int_equal(m.auth_failed, 0);

    /* an unknown key and a plaintext client */
    void *bad = client_sub(cctx, ep, &mallory, server.public_z85);
    void *plain = client_sub(cctx, ep, NULL, NULL);
    for (double end = mono_s() + 10; (m.auth_failed == 0 || m.proto_failed == 0) && mono_s() < end;)
        mon_drain(&m, 50);
    assert_true(m.auth_failed >= 1);
    assert_int_equal(m.auth_value, 400);
    assert_true(m.proto_failed >= 1); /* NULL mechanism against CURVE: mechanism mismatch */
    uint64_t acc = 0, rej = 0;
    sso_zap_counts(zap, &acc, &rej);
    assert_true(acc >= 1 && rej >= 1);
    /* they receive nothing, while the allowed client goes on receiving */
    int good_n = 0, bad_n = 0, plain_n = 0;
    for (int i = 0; i < 50; i++) {
        zmq_send(pub, "y", 1, ZMQ_DONTWAIT);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        good_n += recv_count(good);
        bad_n += recv_count(bad);
        plain_n += recv_count(plain);
    }
    assert_true(good_n > 0);
    assert_int_equal(bad_n, 0);
    assert_int_equal(plain_n, 0);

    zmq_close(good);
    zmq_close(bad);
    zmq_close(plain);
    zmq_close(pub);
    zmq_close(m.pair);
    sso_zap_free(zap);
    zmq_ctx_term(cctx);
    zmq_ctx_term(sctx);
}

/* ---- the publisher with CURVE ---- */

#define N_STORED 300

typedef struct sub_ctx {
    uint64_t n, last, bad_order;
    uint64_t want;
} sub_ctx;

static int on_alert(const char *topic, const char *json, size_t len, uint64_t seq, int replay,
                    void *user)
{
    sub_ctx *c = user;
    (void)topic, (void)json, (void)len, (void)replay;
    if (seq != c->last + 1)
        c->bad_order++;
    c->last = seq;
    c->n++;
    return c->want && c->n >= c->want;
}

static void put_alerts(sso_publisher *p, const char *obs, uint64_t first, uint64_t n)
{
    sso_alert *a = calloc(n, sizeof *a);
    assert_non_null(a);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(sso_alert_synth(11, obs, first + i, &a[i]), SSO_OK);
    assert_int_equal(sso_publisher_put_quartet(p, obs, a, n, NULL), SSO_OK);
    free(a);
}

/* A raw DEALER: sends one replay request, counts messages until the end or the deadline. */
static int raw_replay(const char *ep, const sso_curve_keypair *kp, const char *server, double wait_s,
                      int *got_end)
{
    void *ctx = zmq_ctx_new(), *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, n = 0;
    *got_end = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    if (kp)
        assert_int_equal(sso_curve_client_socket(d, kp, server), SSO_OK);
    assert_int_equal(zmq_connect(d, ep), 0);
    /* DEALER queues the request until a connection is up; a rejected one never comes up */
    zmq_send(d, "since-seq 0", 11, ZMQ_DONTWAIT);
    for (double end = mono_s() + wait_s; !*got_end && mono_s() < end;) {
        zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        char topic[64];
        int k = zmq_recv(d, topic, sizeof topic - 1, 0);
        assert_true(k > 0);
        topic[k] = 0;
        int more;
        size_t sz = sizeof more;
        zmq_getsockopt(d, ZMQ_RCVMORE, &more, &sz);
        while (more) {
            char b[8];
            zmq_recv(d, b, sizeof b, 0);
            zmq_getsockopt(d, ZMQ_RCVMORE, &more, &sz);
        }
        if (!strcmp(topic, "sso.v1.replay.end"))
            *got_end = 1;
        else
            n++;
    }
    zmq_close(d);
    zmq_ctx_term(ctx);
    return n;
}

static void test_publisher_curve(void **state)
{
    (void)state;
    char sp[4096], ap[4096], mp[4096], allow_path[4096], db[4096], pub_ep[256], rep_ep[256];
    char text[512], spub[4200];
    sso_curve_keypair server, alice, mallory;
    make_keys("pc-server.key", &server, sp, sizeof sp);
    make_keys("pc-alice.key", &alice, ap, sizeof ap);
    make_keys("pc-mallory.key", &mallory, mp, sizeof mp);
    sso_test_path(allow_path, sizeof allow_path, "pc-allow.txt");
    snprintf(text, sizeof text, "# who may listen\n%s  # alice\n", alice.public_z85);
    write_text(allow_path, text, 0644);
    snprintf(spub, sizeof spub, "%s.pub", sp);
    sso_test_path(db, sizeof db, "pc.db");
    unlink(db);

    sso_publisher_opts o;
    sso_publisher *p = NULL;
    sso_publisher_opts_default(&o);
    o.store_path = db;
    o.pub_endpoint = "tcp://127.0.0.1:*";
    o.replay_endpoint = "tcp://127.0.0.1:*";
    o.heartbeat_s = 0.2;
    o.curve_secret = sp;
    o.allow_keys = allow_path;
    assert_int_equal(sso_publisher_create(&o, &p), SSO_OK);
    assert_int_equal(sso_publisher_endpoints(p, pub_ep, sizeof pub_ep, rep_ep, sizeof rep_ep),
                     SSO_OK);
    put_alerts(p, "curve-a", 0, N_STORED); /* before any subscriber: only replay has them */

    /* the allowed subscriber: everything from replay, then live */
    sso_subscriber_opts so = {pub_ep, rep_ep, 0, 0, ap, spub, 0, NULL};
    sso_subscriber *s = NULL;
    sub_ctx c = {0, 0, 0, N_STORED};
    assert_int_equal(sso_subscriber_create(&so, &s), SSO_OK);
    assert_int_equal(sso_subscriber_run(s, 20, on_alert, &c), SSO_OK);
    assert_int_equal(c.n, N_STORED);
    assert_int_equal(c.bad_order, 0);
    sso_subscriber_stats ss;
    sso_subscriber_stats_get(s, &ss);
    assert_int_equal(ss.from_replay, N_STORED);
    put_alerts(p, "curve-b", 0, 20);
    c.want = N_STORED + 20;
    assert_int_equal(sso_subscriber_run(s, 20, on_alert, &c), SSO_OK);
    assert_int_equal(c.n, N_STORED + 20);
    assert_int_equal(c.bad_order, 0);
    sso_subscriber_free(s);

    /* an unknown key (the server key given as Z85 text) and a plaintext client get nothing */
    sso_publish_stats ps0, ps1;
    sso_publisher_stats(p, &ps0);
    assert_true(ps0.auth_accepted >= 2); /* SUB + DEALER of the allowed subscriber */
    so.curve_secret = mp;
    so.server_key = server.public_z85;
    sub_ctx cm = {0, 0, 0, 0};
    assert_int_equal(sso_subscriber_create(&so, &s), SSO_OK);
    put_alerts(p, "curve-c", 0, 5);
    assert_int_equal(sso_subscriber_run(s, 5, on_alert, &cm), SSO_ERR_IO);
    assert_non_null(strstr(sso_last_error(), "refused this client's CURVE key"));
    sso_subscriber_stats_get(s, &ss);
    sso_subscriber_free(s);
    assert_int_equal(cm.n, 0);
    assert_int_equal(ss.heartbeats, 0);
    sso_publisher_stats(p, &ps1);
    assert_true(ps1.auth_rejected > ps0.auth_rejected);

    sso_subscriber_opts plain = {pub_ep, rep_ep, 0, 0, NULL, NULL, 0, NULL};
    sub_ctx cp = {0, 0, 0, 0};
    assert_int_equal(sso_subscriber_create(&plain, &s), SSO_OK);
    put_alerts(p, "curve-d", 0, 5);
    assert_int_equal(sso_subscriber_run(s, 5, on_alert, &cp), SSO_ERR_IO);
    assert_non_null(strstr(sso_last_error(), "handshake failed"));
    sso_subscriber_stats_get(s, &ss);
    sso_subscriber_free(s);
    assert_int_equal(cp.n, 0);
    assert_int_equal(ss.heartbeats, 0);

    /* replay alone: an allowed DEALER gets a full batch, an unknown one nothing */
    int end = 0;
    int n = raw_replay(rep_ep, &alice, server.public_z85, 10, &end);
    assert_true(end);
    assert_int_equal(n, N_STORED + 30);
    n = raw_replay(rep_ep, &mallory, server.public_z85, 1.0, &end);
    assert_false(end);
    assert_int_equal(n, 0);
    n = raw_replay(rep_ep, NULL, NULL, 1.0, &end);
    assert_false(end);
    assert_int_equal(n, 0);
    sso_publisher_free(p);
}

static void test_refusals(void **state)
{
    (void)state;
    char sp[4096], db[4096], allow_path[4096], spub[4200];
    struct stat sb;
    sso_curve_keypair server;
    make_keys("rf-server.key", &server, sp, sizeof sp);
    snprintf(spub, sizeof spub, "%s.pub", sp);
    sso_test_path(db, sizeof db, "rf.db");
    unlink(db);
    sso_test_path(allow_path, sizeof allow_path, "rf-allow.txt");
    write_text(allow_path, server.public_z85, 0644);

    sso_publisher_opts o;
    sso_publisher *p = NULL;
    sso_publisher_opts_default(&o);
    o.store_path = db;
    o.pub_endpoint = "tcp://127.0.0.1:*";
    o.replay_endpoint = "tcp://127.0.0.1:*";
    o.curve_secret = sp;
    /* no allowed list */
    assert_int_equal(sso_publisher_create(&o, &p), SSO_ERR_ARG);
    assert_null(p);
    /* a libzmq without CURVE (simulated): refused before the store is created */
    o.allow_keys = allow_path;
    setenv("SSO_ZMQ_HAS_CURVE", "0", 1);
    assert_int_equal(sso_curve_available(), 0);
    assert_int_equal(sso_publisher_create(&o, &p), SSO_ERR_UNSUPPORTED);
    assert_null(p);
    assert_non_null(strstr(sso_last_error(), "CURVE"));
    assert_int_not_equal(stat(db, &sb), 0);
    sso_subscriber_opts so = {"tcp://127.0.0.1:1", NULL, 0, 0, sp, spub, 0, NULL};
    sso_subscriber *s = NULL;
    assert_int_equal(sso_subscriber_create(&so, &s), SSO_ERR_UNSUPPORTED);
    assert_null(s);
    sso_curve_keypair kp;
    assert_int_equal(sso_curve_keygen(sp, 1, &kp), SSO_ERR_UNSUPPORTED);
    unsetenv("SSO_ZMQ_HAS_CURVE");
    assert_int_equal(sso_curve_available(), zmq_has("curve") ? 1 : 0);
    /* the client needs both keys */
    so.server_key = NULL;
    assert_int_equal(sso_subscriber_create(&so, &s), SSO_ERR_ARG);
}

int main(void)
{
    if (!zmq_has("curve")) {
        fprintf(stderr, "this libzmq has no CURVE: the security tests cannot run\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_roundtrip), cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_zap_monitor),      cmocka_unit_test(test_publisher_curve),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
