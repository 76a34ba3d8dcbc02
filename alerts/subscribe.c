/* alerts/subscribe.c: the Clone-pattern subscriber (sso/subscribe.h).
 *
 * State: last (highest seq delivered), replaying (a request is out: read only the DEALER; live
 * messages wait in the SUB queue, which is why its high-water mark is large). Replay replies are
 * consumed until "sso.v1.replay.end"; when it says more, the next request goes out at once.
 * Only the envelope's "seq" is read from each message (alerts/json.c), and the heartbeat's
 * "last_seq". Alerts and retractions are numbered (one seq sequence, both stored, both replayed);
 * a numbered message that is unparsable on the live stream is counted as a gap, not delivered.
 * Quartet summaries and heartbeats are not numbered: counted, and handed to the callback with seq
 * 0 only with all_kinds.
 * With CURVE, both sockets get this client's key pair and the server key before they connect.
 * A socket monitor on the SUB (a PAIR on inproc, read without waiting once per loop) turns a failed
 * handshake (key refused by the server's ZAP handler, CURVE on one side only, wrong server key)
 * into an error from sso_subscriber_run instead of endless silence. A handshake cut off without
 * detail (the peer closed the connection) is also what a server going away mid-handshake looks
 * like, e.g. an engine killed and restarting on the same endpoint, whose dying process still held
 * the listening socket; ZeroMQ reconnects by itself, so only SSO_HANDSHAKE_CUTS_MAX of those in a
 * row, with no successful handshake between them, are an error.
 */
#define _POSIX_C_SOURCE 200809L
#include "sso/subscribe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "alerts/json.h"
#include "host/status_internal.h"
#include "sso/publish.h"
#include "sso/security.h"

struct sso_subscriber {
    void *ctx, *sub, *dealer;
    void *mon; /* PAIR receiving the SUB's handshake failures and successes */
    int cuts;  /* handshakes cut off without detail since the last that succeeded */
    char ep[256];
    uint64_t last;
    int replaying;
    int all_kinds; /* deliver quartet summaries and heartbeats too (seq 0) */
    volatile sig_atomic_t *stop;
    sso_subscriber_stats st;
};

/* Handshakes cut off without detail in a row (about 100 ms apart: ZeroMQ's reconnect interval)
 * before sso_subscriber_run reports them: a wrong server key does it every time, a restarting
 * server once. */
#define SSO_HANDSHAKE_CUTS_MAX 3

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

sso_status sso_subscriber_create(const sso_subscriber_opts *o, sso_subscriber **out)
{
    sso_status st = SSO_OK;
    sso_subscriber *s;
    sso_curve_keypair kp;
    char server_z85[SSO_CURVE_Z85_LEN + 1];
    int hwm = o && o->rcvhwm > 0 ? o->rcvhwm : 100000, linger = 0;
    const int curve = o && o->curve_secret && o->curve_secret[0];
    if (!o || !o->connect || !out)
        return sso_fail(SSO_ERR_ARG, "subscriber: NULL argument or no endpoint");
    *out = NULL;
    memset(&kp, 0, sizeof kp);
    if (curve != (o->server_key && o->server_key[0]))
        return sso_fail(SSO_ERR_ARG, "subscriber: CURVE needs both this client's secret key and "
                        "the server's public key");
    if (curve && ((st = sso_curve_load_secret(o->curve_secret, &kp)) != SSO_OK ||
                  (st = sso_curve_load_public(o->server_key, server_z85)) != SSO_OK))
        return st;
    if (!(s = calloc(1, sizeof *s)))
        return sso_fail(SSO_ERR_NOMEM, "subscriber: out of memory");
    s->last = o->since_seq;
    s->all_kinds = o->all_kinds;
    s->stop = o->stop;
    if (!(s->ctx = zmq_ctx_new()) || !(s->sub = zmq_socket(s->ctx, ZMQ_SUB))) {
        st = sso_fail(SSO_ERR_NOMEM, "zmq: cannot create a SUB socket");
        goto exit;
    }
    zmq_setsockopt(s->sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, "sso.v1.", 7);
    if (curve && (st = sso_curve_client_socket(s->sub, &kp, server_z85)) != SSO_OK)
        goto exit;
    snprintf(s->ep, sizeof s->ep, "%s", o->connect);
    {
        char mon_ep[64];
        snprintf(mon_ep, sizeof mon_ep, "inproc://sso-subscriber-mon-%p", (void *)s);
        if (zmq_socket_monitor(s->sub, mon_ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                                   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                                   ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
            !(s->mon = zmq_socket(s->ctx, ZMQ_PAIR)) ||
            zmq_setsockopt(s->mon, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            zmq_connect(s->mon, mon_ep) != 0) {
            st = sso_fail(SSO_ERR_INTERNAL, "zmq: cannot monitor the SUB socket: %s",
                          zmq_strerror(errno));
            goto exit;
        }
    }
    if (zmq_connect(s->sub, o->connect) != 0) {
        st = sso_fail(SSO_ERR_ARG, "zmq: cannot connect to %s: %s", o->connect, zmq_strerror(errno));
        goto exit;
    }
    if (o->replay && o->replay[0]) {
        if (!(s->dealer = zmq_socket(s->ctx, ZMQ_DEALER))) {
            st = sso_fail(SSO_ERR_NOMEM, "zmq: cannot create a DEALER socket");
            goto exit;
        }
        zmq_setsockopt(s->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s->dealer, ZMQ_LINGER, &linger, sizeof linger);
        if (curve && (st = sso_curve_client_socket(s->dealer, &kp, server_z85)) != SSO_OK)
            goto exit;
        if (zmq_connect(s->dealer, o->replay) != 0) {
            st = sso_fail(SSO_ERR_ARG, "zmq: cannot connect to %s: %s", o->replay,
                          zmq_strerror(errno));
            goto exit;
        }
    }
exit:
    memset(&kp, 0, sizeof kp);
    if (st != SSO_OK) {
        sso_subscriber_free(s);
        return st;
    }
    *out = s;
    return SSO_OK;
}

void sso_subscriber_free(sso_subscriber *s)
{
    if (!s)
        return;
    if (s->sub) {
        zmq_socket_monitor(s->sub, NULL, 0);
        zmq_close(s->sub);
    }
    if (s->mon)
        zmq_close(s->mon);
    if (s->dealer)
        zmq_close(s->dealer);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    free(s);
}

void sso_subscriber_stats_get(const sso_subscriber *s, sso_subscriber_stats *st)
{
    *st = s->st;
    st->last_seq = s->last;
}

static int ask_replay(sso_subscriber *s)
{
    char req[96];
    sso_replay_req r = {SSO_REPLAY_SINCE_SEQ, s->last, 0, SSO_REPLAY_DEFAULT_LIMIT};
    int n = sso_replay_request_format(&r, req, sizeof req);
    if (n <= 0 || zmq_send(s->dealer, req, (size_t)n, ZMQ_DONTWAIT) != n)
        return -1;
    s->replaying = 1;
    s->st.replays++;
    return 0;
}

/* The value of a numeric member of a JSON object message; -1 if absent or not a count. */
static int json_u64(const char *json, size_t len, const char *key, uint64_t *v)
{
    sso_jdoc d;
    int rc = -1;
    if (sso_jdoc_parse(&d, json, len) != SSO_OK)
        return -1;
    const sso_jnode *n = sso_jdoc_get(&d, &d.nodes[0], key);
    if (n && n->type == SSO_JNUM && n->num >= 0 && n->num <= 9007199254740992.0) {
        *v = (uint64_t)n->num;
        rc = 0;
    }
    if (n && n->type == SSO_JBOOL) {
        *v = (uint64_t)n->b;
        rc = 0;
    }
    sso_jdoc_free(&d);
    return rc;
}

/* Receives [topic, body] (extra frames are discarded); 0 ok. */
static int recv2(void *sock, zmq_msg_t *topic, zmq_msg_t *body)
{
    zmq_msg_init(topic);
    zmq_msg_init(body);
    if (zmq_msg_recv(topic, sock, 0) < 0)
        return -1;
    if (!zmq_msg_more(topic))
        return 1;
    if (zmq_msg_recv(body, sock, 0) < 0)
        return -1;
    while (zmq_msg_more(body)) { /* an optional frame 3 (stamps) is not ours to show */
        zmq_msg_t x;
        zmq_msg_init(&x);
        int rc = zmq_msg_recv(&x, sock, 0);
        int more = rc >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
        if (!more)
            break;
    }
    return 0;
}

static int topic_is(zmq_msg_t *t, const char *s)
{
    return zmq_msg_size(t) == strlen(s) && !memcmp(zmq_msg_data(t), s, strlen(s));
}

/* Delivers a message (seq 0: an unnumbered one, quartet or heartbeat; else a numbered one whose
 * seq the caller checked is new); returns the callback's verdict (nonzero = stop). */
static int deliver(sso_subscriber *s, zmq_msg_t *topic, zmq_msg_t *body, uint64_t seq, int replay,
                   sso_subscriber_fn fn, void *user)
{
    char t[64];
    size_t tn = zmq_msg_size(topic) < sizeof t - 1 ? zmq_msg_size(topic) : sizeof t - 1;
    memcpy(t, zmq_msg_data(topic), tn);
    t[tn] = 0;
    /* the body is not NUL-terminated by ZeroMQ: hand the callback a terminated copy */
    size_t bn = zmq_msg_size(body);
    char *b = malloc(bn + 1);
    if (!b)
        return 0;
    memcpy(b, zmq_msg_data(body), bn);
    b[bn] = 0;
    if (seq) { /* numbered: alert or retraction */
        s->last = seq;
        s->st.delivered++;
        if (replay)
            s->st.from_replay++;
    }
    int stop = fn(t, b, bn, seq, replay, user);
    free(b);
    return stop;
}

/* SSO_ERR_IO with the reason if the monitor reported, within wait_ms, a handshake refused, a
 * protocol failure, or the last of SSO_HANDSHAKE_CUTS_MAX handshakes cut off in a row. */
static sso_status handshake_failure(sso_subscriber *s, long wait_ms)
{
    zmq_pollitem_t it = {s->mon, 0, ZMQ_POLLIN, 0};
    if (!s->mon || zmq_poll(&it, 1, wait_ms) <= 0)
        return SSO_OK;
    zmq_msg_t f1, f2;
    uint16_t ev = 0;
    uint32_t val = 0;
    zmq_msg_init(&f1);
    zmq_msg_init(&f2);
    if (zmq_msg_recv(&f1, s->mon, 0) >= 6) {
        memcpy(&ev, zmq_msg_data(&f1), 2);
        memcpy(&val, (const char *)zmq_msg_data(&f1) + 2, 4);
    }
    if (zmq_msg_more(&f1))
        zmq_msg_recv(&f2, s->mon, 0);
    zmq_msg_close(&f1);
    zmq_msg_close(&f2);
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        s->cuts = 0;
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && ++s->cuts < SSO_HANDSHAKE_CUTS_MAX)
        return SSO_OK; /* the peer went away mid-handshake; ZeroMQ reconnects */
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return sso_fail(SSO_ERR_IO, "%s: the server refused this client's CURVE key (ZAP status "
                        "%u): is its public key in the server's allowed keys?", s->ep, val);
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return sso_fail(SSO_ERR_IO, "%s: security handshake failed (ZeroMQ protocol error 0x%x): "
                        "CURVE on one side only, or the wrong server key?", s->ep, val);
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        return sso_fail(SSO_ERR_IO, "%s: security handshake failed: the server closed the "
                        "connection during %d handshakes in a row (%s): CURVE on one side only, "
                        "the wrong server key, or not an sso server?", s->ep, s->cuts,
                        zmq_strerror((int)val));
    return SSO_OK;
}

sso_status sso_subscriber_run(sso_subscriber *s, double timeout_s, sso_subscriber_fn fn, void *user)
{
    double end = timeout_s > 0 ? mono_s() + timeout_s : 0;
    sso_status st = SSO_OK;
    if (!s || !fn)
        return sso_fail(SSO_ERR_ARG, "subscriber: NULL argument");
    if (s->dealer && !s->replaying && ask_replay(s) != 0) {
        /* the DEALER's pipe is gone: a handshake failed (the monitor says why, shortly) */
        for (double t = mono_s() + 1.5; mono_s() < t;)
            if ((st = handshake_failure(s, 50)) != SSO_OK)
                return st;
        return sso_fail(SSO_ERR_IO, "subscriber: cannot send the replay request");
    }
    for (;;) {
        double now = mono_s();
        if ((st = handshake_failure(s, 0)) != SSO_OK)
            return st;
        if ((end && now >= end) || (s->stop && *s->stop))
            return SSO_OK;
        long wait_ms = end ? (long)((end - now) * 1000.0) + 1 : 200;
        if (wait_ms > 200)
            wait_ms = 200;
        zmq_pollitem_t items[2] = {{s->dealer, 0, ZMQ_POLLIN, 0}, {s->sub, 0, ZMQ_POLLIN, 0}};
        zmq_pollitem_t *first = s->dealer ? items : items + 1;
        int nitems = s->dealer ? (s->replaying ? 1 : 2) : 1;
        if (zmq_poll(first, nitems, wait_ms) < 0) {
            if (errno == EINTR)
                return SSO_OK;
            return sso_fail(SSO_ERR_IO, "zmq_poll: %s", zmq_strerror(errno));
        }
        zmq_msg_t topic, body;
        int stop = 0;
        if (s->dealer && (items[0].revents & ZMQ_POLLIN)) {
            if (recv2(s->dealer, &topic, &body) == 0) {
                const char *j = zmq_msg_data(&body);
                size_t n = zmq_msg_size(&body);
                uint64_t v = 0;
                if (topic_is(&topic, "sso.v1.replay.end")) {
                    uint64_t more = 0, upto = 0;
                    json_u64(j, n, "more", &more);
                    json_u64(j, n, "last_seq", &upto);
                    s->replaying = 0;
                    if (more || upto > s->last) /* limit reached, or rows lost on the way */
                        ask_replay(s);
                } else if (topic_is(&topic, "sso.v1.replay.error")) {
                    st = sso_fail(SSO_ERR_IO, "replay service: %.*s", (int)(n < 300 ? n : 300), j);
                    stop = 1;
                } else if (json_u64(j, n, "seq", &v) == 0 && v > s->last) {
                    stop = deliver(s, &topic, &body, v, 1, fn, user);
                }
            }
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
        } else if (items[1].revents & ZMQ_POLLIN) {
            if (recv2(s->sub, &topic, &body) == 0) {
                const char *j = zmq_msg_data(&body);
                size_t n = zmq_msg_size(&body);
                uint64_t v = 0;
                if (topic_is(&topic, "sso.v1.hb")) {
                    s->st.heartbeats++;
                    if (json_u64(j, n, "last_seq", &v) == 0 && v > s->last) {
                        s->st.gaps++;
                        if (s->dealer)
                            ask_replay(s);
                    }
                    if (s->all_kinds)
                        stop = deliver(s, &topic, &body, 0, 0, fn, user);
                } else if (topic_is(&topic, "sso.v1.quartet")) {
                    s->st.summaries++;
                    if (s->all_kinds)
                        stop = deliver(s, &topic, &body, 0, 0, fn, user);
                } else if (topic_is(&topic, "sso.v1.slow") || topic_is(&topic, "sso.v1.fast") ||
                           topic_is(&topic, "sso.v1.retract")) {
                    if (json_u64(j, n, "seq", &v) != 0) {
                        s->st.gaps++;
                    } else if (v <= s->last) {
                        s->st.duplicates++;
                    } else if (v == s->last + 1 || !s->dealer) {
                        if (v != s->last + 1)
                            s->st.gaps++;
                        stop = deliver(s, &topic, &body, v, 0, fn, user);
                    } else {
                        s->st.gaps++;  /* seq jumped: the replay brings this one too */
                        ask_replay(s);
                    }
                } /* unknown kinds (a newer minor version): not delivered */
            }
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
        }
        if (stop)
            return st;
    }
}
