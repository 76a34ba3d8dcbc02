/* alerts/publish.c: the publisher (sso/publish.h): store, then hand to a socket thread that never
 * blocks the caller.
 *
 * Threads and sockets: ZeroMQ sockets are not thread-safe, so every socket that talks to the
 * outside (PUB, ROUTER) lives in one background thread; the caller's thread owns only a PUSH to
 * inproc://, with a large high-water mark and ZMQ_DONTWAIT, and the store writer. The thread polls
 * PULL + ROUTER with a timeout that expires at the next heartbeat. All sockets are created and
 * bound in sso_publisher_create (errors come back synchronously) and then handed to the thread
 * (pthread_create is the full memory barrier ZeroMQ requires for migrating a socket).
 *
 * Pipe messages: [topic, json, seq as 8 bytes little-endian] or the single frame "$stop". The
 * thread forwards [topic, json] to PUB with ZMQ_DONTWAIT (PUB drops at its high-water mark per
 * subscriber; it never blocks) and keeps the highest seq seen for heartbeats.
 *
 * Replay replies go out with ZMQ_DONTWAIT on a ROUTER with ZMQ_ROUTER_MANDATORY and a per-client
 * high-water mark of SSO_REPLAY_PEER_HWM: a send refused (EAGAIN: that client's queue is full;
 * EHOSTUNREACH: it left) can only be the first frame of a message (ZeroMQ queues the rest of a
 * multipart message atomically), so a refused reply is cut at a message boundary, the store query
 * is stopped there (the row callback returns nonzero) and the cut is counted. A flooding client
 * thus costs one row of work per request once its queue is full, and never blocks the thread.
 *
 * Security: with opts.curve_secret, the key files are read before anything else is opened; the
 * ZAP handler (alerts/security.c) is bound in this context before PUB and ROUTER are bound as
 * CURVE servers, and freed after they are closed, before the context ends.
 *
 * Published flag: set after the hand-over to the pipe succeeds. An alert the pipe refused (only if
 * the thread fell 100k messages behind) stays unpublished: replay has it, and the next start
 * publishes it again (subscribers drop seq <= last seen, so a repeat is harmless).
 */
#define _POSIX_C_SOURCE 200809L
#include "sso/publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "alerts/json.h"
#include "host/status_internal.h"
#include "sso/security.h"

#ifndef SSO_VERSION_STRING
#define SSO_VERSION_STRING "unknown"
#endif

#define PIPE_HWM 100000

struct sso_publisher {
    void *ctx;
    void *push;   /* caller's side of the pipe */
    void *pull;   /* thread */
    void *pub;    /* thread */
    void *router; /* thread; NULL without replay */
    sso_store *store;  /* caller's writer */
    sso_store *reader; /* thread's reader for replay */
    sso_zap *zap;      /* the ZAP handler when CURVE is on */
    pthread_t th;
    int started;
    double hb_s;
    uint64_t last_seq; /* thread: highest seq forwarded or stored at start */
    char boot_id[40];
    char pub_ep[256], replay_ep[256];
    pthread_mutex_t mu;
    sso_publish_stats stats;
};

void sso_publisher_opts_default(sso_publisher_opts *o)
{
    memset(o, 0, sizeof *o);
    o->pub_endpoint = SSO_PUB_DEFAULT_ENDPOINT;
    o->replay_endpoint = SSO_REPLAY_DEFAULT_ENDPOINT;
    o->sndhwm = 10000;
    o->heartbeat_s = 2.0;
}

static sso_status zfail(const char *what, const char *ep)
{
    return sso_fail(errno == EADDRINUSE ? SSO_ERR_IO : SSO_ERR_ARG, "zmq: %s %s: %s", what,
                    ep ? ep : "", zmq_strerror(errno));
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void stat_add(sso_publisher *p, uint64_t *field, uint64_t k)
{
    pthread_mutex_lock(&p->mu);
    *field += k;
    pthread_mutex_unlock(&p->mu);
}

/* ---- the socket thread ------------------------------------------------------------------------- */

static void send_hb(sso_publisher *p)
{
    char t[48], *json = NULL;
    size_t len = 0;
    sso_jw w;
    sso_time_us_to_rfc3339(sso_time_now_us(), t, sizeof t);
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
    sso_jw_key(&w, "kind"), sso_jw_str(&w, "hb");
    sso_jw_key(&w, "boot_id"), sso_jw_str(&w, p->boot_id);
    sso_jw_key(&w, "last_seq"), sso_jw_u64(&w, p->last_seq);
    sso_jw_key(&w, "time"), sso_jw_str(&w, t);
    sso_jw_obj_end(&w);
    if (sso_jw_finish(&w, &json, &len) != SSO_OK)
        return;
    if (zmq_send(p->pub, "sso.v1.hb", 9, ZMQ_SNDMORE | ZMQ_DONTWAIT) == 9)
        zmq_send(p->pub, json, len, ZMQ_DONTWAIT);
    free(json);
    stat_add(p, &p->stats.heartbeats, 1);
}

/* Receives all frames of one message into msgs (at most max kept; the rest are read and
 * discarded). Returns the number of frames, -1 on error. */
static int recv_multi(void *s, zmq_msg_t *msgs, int max)
{
    int k = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < k && i < max; i++)
                zmq_msg_close(&msgs[i]);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (k < max)
            msgs[k] = m;
        else
            zmq_msg_close(&m);
        k++;
    }
    return k;
}

typedef struct replay_ctx {
    sso_publisher *p;
    zmq_msg_t *id;
    int delim;
    int cut;     /* a message was refused: send nothing more in this reply */
    size_t sent; /* messages queued */
    size_t count;
    uint64_t last_seq;
} replay_ctx;

/* Queues one reply message; -1 (and c->cut) when the client's queue refused it. */
static int reply_frames(replay_ctx *c, const char *topic, const char *json, size_t len)
{
    void *r = c->p->router;
    if (c->cut)
        return -1;
    /* ROUTER_MANDATORY: EAGAIN (queue full) or EHOSTUNREACH (gone) come on the routing frame;
     * once it is accepted, the rest of the message is queued whatever the high-water mark */
    if (zmq_send(r, zmq_msg_data(c->id), zmq_msg_size(c->id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        c->cut = 1;
        return -1;
    }
    if (c->delim)
        zmq_send(r, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r, json, len, ZMQ_DONTWAIT);
    c->sent++;
    return 0;
}

static int replay_row(const sso_store_row *row, void *user)
{
    replay_ctx *c = user;
    char topic[32];
    snprintf(topic, sizeof topic, "sso.v1.%s", row->kind);
    if (reply_frames(c, topic, row->json, row->json_len) != 0)
        return 1; /* stop the query: the rest would not be queued either */
    c->count++;
    c->last_seq = row->seq;
    return 0;
}

static void reply_error(replay_ctx *c, const char *why)
{
    sso_jw w;
    char *json = NULL;
    size_t len = 0;
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
    sso_jw_key(&w, "kind"), sso_jw_str(&w, "replay_error");
    sso_jw_key(&w, "error"), sso_jw_str(&w, why);
    sso_jw_obj_end(&w);
    if (sso_jw_finish(&w, &json, &len) == SSO_OK)
        reply_frames(c, "sso.v1.replay.error", json, len);
    free(json);
    stat_add(c->p, &c->p->stats.replay_errors, 1);
}

static void serve_replay(sso_publisher *p)
{
    zmq_msg_t f[3];
    int k = recv_multi(p->router, f, 3);
    if (k < 1)
        return;
    stat_add(p, &p->stats.replay_requests, 1);
    replay_ctx c = {p, &f[0], 0, 0, 0, 0, 0};
    int kept = k < 3 ? k : 3;
    sso_replay_req req;
    if (k == 3 && zmq_msg_size(&f[1]) == 0)
        c.delim = 1; /* a REQ client: [id, "", request] */
    if (k != 2 && !(k == 3 && c.delim)) {
        reply_error(&c, "a request is one frame");
    } else {
        zmq_msg_t *rq = &f[k - 1];
        if (sso_replay_request_parse(zmq_msg_data(rq), zmq_msg_size(rq), &req) != SSO_OK) {
            reply_error(&c, sso_last_error());
        } else {
            sso_status st;
            size_t batch = req.limit < SSO_REPLAY_MAX_BATCH ? req.limit : SSO_REPLAY_MAX_BATCH;
            c.last_seq = req.kind == SSO_REPLAY_SINCE_SEQ ? req.after_seq : 0;
            if (req.kind == SSO_REPLAY_SINCE_SEQ)
                st = sso_store_since_seq(p->reader, req.after_seq, batch, replay_row, &c);
            else
                st = sso_store_since_time(p->reader, req.t_us, batch, replay_row, &c);
            if (c.cut) {
                /* cut short: no end message (it would not be queued either) */
            } else if (st != SSO_OK) {
                reply_error(&c, "store unavailable");
            } else {
                sso_jw w;
                char *json = NULL;
                size_t len = 0;
                sso_jw_init(&w);
                sso_jw_obj_begin(&w);
                sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
                sso_jw_key(&w, "kind"), sso_jw_str(&w, "replay_end");
                sso_jw_key(&w, "count"), sso_jw_u64(&w, c.count);
                sso_jw_key(&w, "last_seq"), sso_jw_u64(&w, c.last_seq);
                sso_jw_key(&w, "more"), sso_jw_bool(&w, c.count == batch);
                sso_jw_obj_end(&w);
                if (sso_jw_finish(&w, &json, &len) == SSO_OK)
                    reply_frames(&c, "sso.v1.replay.end", json, len);
                free(json);
            }
        }
    }
    pthread_mutex_lock(&p->mu);
    p->stats.replay_sent += c.sent;
    p->stats.replay_cut += (uint64_t)c.cut;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < kept; i++)
        zmq_msg_close(&f[i]);
}

/* Returns 1 on "$stop". */
static int forward(sso_publisher *p)
{
    zmq_msg_t f[3];
    int k = recv_multi(p->pull, f, 3);
    int stop = 0;
    if (k < 1)
        return 0;
    if (k == 1) {
        stop = zmq_msg_size(&f[0]) == 5 && !memcmp(zmq_msg_data(&f[0]), "$stop", 5);
    } else if (k == 3) {
        uint64_t seq = 0;
        const unsigned char *b = zmq_msg_data(&f[2]);
        for (int i = 7; i >= 0 && zmq_msg_size(&f[2]) == 8; i--)
            seq = seq << 8 | b[i];
        if (zmq_msg_send(&f[0], p->pub, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
            zmq_msg_send(&f[1], p->pub, ZMQ_DONTWAIT);
            if (seq)
                stat_add(p, &p->stats.sent, 1);
        }
        if (seq > p->last_seq)
            p->last_seq = seq;
    }
    for (int i = 0; i < k && i < 3; i++)
        zmq_msg_close(&f[i]); /* no-op for frames zmq_msg_send took */
    return stop;
}

static void *thread_main(void *arg)
{
    sso_publisher *p = arg;
    double next_hb = mono_s();
    for (;;) {
        zmq_pollitem_t items[2] = {{p->pull, 0, ZMQ_POLLIN, 0}, {p->router, 0, ZMQ_POLLIN, 0}};
        double now = mono_s();
        if (now >= next_hb) {
            send_hb(p);
            next_hb = now + p->hb_s;
        }
        long wait_ms = (long)((next_hb - now) * 1000.0) + 1;
        if (zmq_poll(items, p->router ? 2 : 1, wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            break; /* context terminated */
        }
        if (items[0].revents & ZMQ_POLLIN) {
            /* drain the pipe in bursts, but let replay and heartbeats in between */
            int stop = 0;
            for (int burst = 0; burst < 1000 && !stop; burst++) {
                int ev = 0;
                size_t sz = sizeof ev;
                stop = forward(p);
                if (zmq_getsockopt(p->pull, ZMQ_EVENTS, &ev, &sz) || !(ev & ZMQ_POLLIN))
                    break;
            }
            if (stop)
                break;
        }
        if (p->router && (items[1].revents & ZMQ_POLLIN))
            serve_replay(p);
    }
    return NULL;
}

/* ---- the caller's side ------------------------------------------------------------------------- */

static int pipe_send(sso_publisher *p, const char *topic, const char *json, size_t len,
                     uint64_t seq)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(seq >> (8 * i));
    /* frames of a multipart message are queued atomically: once the first is accepted the rest
     * are too, so EAGAIN can only come on the first */
    if (zmq_send(p->push, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    zmq_send(p->push, json, len, ZMQ_SNDMORE);
    zmq_send(p->push, b, 8, 0);
    return 0;
}

/* Marks contiguous runs of handed-over seqs published. */
typedef struct runs {
    sso_publisher *p;
    uint64_t first, last;
    sso_status st;
} runs;

static void runs_flush(runs *r)
{
    if (r->first && r->st == SSO_OK)
        r->st = sso_store_mark_published(r->p->store, r->first, r->last);
    r->first = r->last = 0;
}

static void runs_add(runs *r, uint64_t seq)
{
    if (r->first && seq == r->last + 1) {
        r->last = seq;
        return;
    }
    runs_flush(r);
    r->first = r->last = seq;
}

typedef struct pending {
    uint64_t *seq;
    char **json;
    size_t *len;
    char (*topic)[24];
    size_t n, cap;
} pending;

static int collect_unpublished(const sso_store_row *row, void *user)
{
    pending *q = user;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 256;
        uint64_t *s = realloc(q->seq, cap * sizeof *s);
        if (s)
            q->seq = s;
        char **j = realloc(q->json, cap * sizeof *j);
        if (j)
            q->json = j;
        size_t *l = realloc(q->len, cap * sizeof *l);
        if (l)
            q->len = l;
        char(*t)[24] = realloc(q->topic, cap * sizeof *t);
        if (t)
            q->topic = t;
        if (!s || !j || !l || !t)
            return 1;
        q->cap = cap;
    }
    if (!(q->json[q->n] = malloc(row->json_len + 1)))
        return 1;
    memcpy(q->json[q->n], row->json, row->json_len + 1);
    q->len[q->n] = row->json_len;
    q->seq[q->n] = row->seq;
    snprintf(q->topic[q->n], sizeof q->topic[0], "sso.v1.%s", row->kind);
    q->n++;
    return 0;
}

static sso_status publish_unpublished(sso_publisher *p)
{
    pending q = {0};
    sso_status st = sso_store_unpublished(p->store, 0, collect_unpublished, &q);
    runs r = {p, 0, 0, SSO_OK};
    for (size_t i = 0; i < q.n && st == SSO_OK; i++) {
        if (pipe_send(p, q.topic[i], q.json[i], q.len[i], q.seq[i]) == 0)
            runs_add(&r, q.seq[i]);
        else
            stat_add(p, &p->stats.dropped, 1);
    }
    runs_flush(&r);
    for (size_t i = 0; i < q.n; i++)
        free(q.json[i]);
    free(q.seq);
    free(q.json);
    free(q.len);
    free(q.topic);
    return st != SSO_OK ? st : r.st;
}

static sso_status bind_ep(void *s, const char *ep, char *resolved, size_t n)
{
    size_t sz = n;
    if (zmq_bind(s, ep) != 0)
        return zfail("cannot bind", ep);
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, resolved, &sz) != 0)
        snprintf(resolved, n, "%s", ep);
    return SSO_OK;
}

sso_status sso_publisher_create(const sso_publisher_opts *o, sso_publisher **out)
{
    sso_status st = SSO_OK;
    sso_publisher *p = NULL;
    char inproc[64];
    int hwm, linger, one = 1;
    int64_t maxmsg = 4096;
    sso_curve_keypair kp;
    sso_curve_allow *allow = NULL;
    const int curve = o && o->curve_secret && o->curve_secret[0];
    if (!o || !out || !o->store_path)
        return sso_fail(SSO_ERR_ARG, "publisher: NULL argument or no store path");
    *out = NULL;
    memset(&kp, 0, sizeof kp);
    if (curve) { /* keys first: a bad key file or a libzmq without CURVE opens nothing */
        if (!o->allow_keys || !o->allow_keys[0])
            return sso_fail(SSO_ERR_ARG, "publisher: CURVE (secret key %s) needs an allowed-keys "
                            "file: without one any client would get in", o->curve_secret);
        if ((st = sso_curve_load_secret(o->curve_secret, &kp)) != SSO_OK ||
            (st = sso_curve_allow_load(o->allow_keys, &allow)) != SSO_OK)
            return st;
    } else if (o->allow_keys && o->allow_keys[0]) {
        return sso_fail(SSO_ERR_ARG, "publisher: allowed keys (%s) without a CURVE secret key",
                        o->allow_keys);
    }
    if (!(p = calloc(1, sizeof *p))) {
        sso_curve_allow_free(allow);
        return sso_fail(SSO_ERR_NOMEM, "publisher: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    p->hb_s = o->heartbeat_s > 0 ? o->heartbeat_s : 2.0;
    if ((st = sso_store_open(o->store_path, &p->store)) != SSO_OK ||
        (st = sso_store_open_reader(o->store_path, &p->reader)) != SSO_OK ||
        (st = sso_store_last_seq(p->store, &p->last_seq)) != SSO_OK)
        goto exit;
    snprintf(p->boot_id, sizeof p->boot_id, "%s", sso_store_boot_id(p->store));
    if (!(p->ctx = zmq_ctx_new())) {
        st = sso_fail(SSO_ERR_NOMEM, "zmq: no context");
        goto exit;
    }
    if (curve) { /* the ZAP handler must be there before a CURVE server socket binds */
        st = sso_zap_create(p->ctx, allow, &p->zap);
        allow = NULL; /* owned by the handler now, also on error */
        if (st != SSO_OK)
            goto exit;
    }
    p->pub = zmq_socket(p->ctx, ZMQ_PUB);
    p->pull = zmq_socket(p->ctx, ZMQ_PULL);
    p->push = zmq_socket(p->ctx, ZMQ_PUSH);
    if (!p->pub || !p->pull || !p->push) {
        st = sso_fail(SSO_ERR_NOMEM, "zmq: cannot create sockets: %s", zmq_strerror(errno));
        goto exit;
    }
    hwm = o->sndhwm > 0 ? o->sndhwm : 10000;
    linger = 1000; /* on close, queued messages get 1 s to leave; then dropped (replay has them) */
    zmq_setsockopt(p->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->pub, ZMQ_LINGER, &linger, sizeof linger);
    hwm = PIPE_HWM;
    zmq_setsockopt(p->push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    linger = 0;
    zmq_setsockopt(p->push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->pull, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(inproc, sizeof inproc, "inproc://sso-publisher-%p", (void *)p);
    if (curve && (st = sso_curve_server_socket(p->pub, &kp)) != SSO_OK)
        goto exit;
    if ((st = bind_ep(p->pub, o->pub_endpoint ? o->pub_endpoint : SSO_PUB_DEFAULT_ENDPOINT,
                      p->pub_ep, sizeof p->pub_ep)) != SSO_OK)
        goto exit;
    if (o->replay_endpoint && o->replay_endpoint[0]) {
        if (!(p->router = zmq_socket(p->ctx, ZMQ_ROUTER))) {
            st = sso_fail(SSO_ERR_NOMEM, "zmq: cannot create the replay socket");
            goto exit;
        }
        hwm = SSO_REPLAY_PEER_HWM;
        linger = 0;
        zmq_setsockopt(p->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
        /* a peer sending a frame over 4 KiB is disconnected by the transport */
        zmq_setsockopt(p->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        if (curve && (st = sso_curve_server_socket(p->router, &kp)) != SSO_OK)
            goto exit;
        if ((st = bind_ep(p->router, o->replay_endpoint, p->replay_ep, sizeof p->replay_ep)) !=
            SSO_OK)
            goto exit;
    }
    if (zmq_bind(p->pull, inproc) != 0 || zmq_connect(p->push, inproc) != 0) {
        st = zfail("inproc pipe", inproc);
        goto exit;
    }
    if (pthread_create(&p->th, NULL, thread_main, p) != 0) {
        st = sso_fail(SSO_ERR_INTERNAL, "publisher: cannot start its thread");
        goto exit;
    }
    p->started = 1;
    st = publish_unpublished(p);
exit:
    memset(&kp, 0, sizeof kp);
    sso_curve_allow_free(allow);
    if (st != SSO_OK) {
        sso_publisher_free(p);
        return st;
    }
    *out = p;
    return SSO_OK;
}

void sso_publisher_free(sso_publisher *p)
{
    if (!p)
        return;
    if (p->started) {
        zmq_send(p->push, "$stop", 5, 0); /* blocking: the thread is alive and reading */
        pthread_join(p->th, NULL);
    }
    if (p->push)
        zmq_close(p->push);
    if (p->pull)
        zmq_close(p->pull);
    if (p->router)
        zmq_close(p->router);
    if (p->pub)
        zmq_close(p->pub);
    sso_zap_free(p->zap); /* after the CURVE servers closed, before the context ends */
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    sso_store_free(p->reader);
    sso_store_free(p->store);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

sso_status sso_publisher_endpoints(const sso_publisher *p, char *pub, size_t npub, char *replay,
                                   size_t nreplay)
{
    if (!p)
        return sso_fail(SSO_ERR_ARG, "publisher: NULL");
    if (pub)
        snprintf(pub, npub, "%s", p->pub_ep);
    if (replay)
        snprintf(replay, nreplay, "%s", p->replay_ep);
    return SSO_OK;
}

void sso_publisher_stats(sso_publisher *p, sso_publish_stats *s)
{
    pthread_mutex_lock(&p->mu);
    *s = p->stats;
    pthread_mutex_unlock(&p->mu);
    sso_zap_counts(p->zap, &s->auth_accepted, &s->auth_rejected);
}

sso_status sso_publisher_put_quartet(sso_publisher *p, const char *obs_id, sso_alert *alerts,
                                     size_t n, sso_store_put_result *res)
{
    sso_status st;
    unsigned char *issued = NULL;
    sso_store_put_result r;
    runs rn = {p, 0, 0, SSO_OK};
    char *json = NULL;
    size_t len = 0;
    if (!p || !obs_id || (!alerts && n))
        return sso_fail(SSO_ERR_ARG, "publisher: NULL argument");
    if (n && !(issued = malloc(n)))
        return sso_fail(SSO_ERR_NOMEM, "publisher: out of memory");
    if ((st = sso_store_put(p->store, alerts, n, issued, &r)) != SSO_OK)
        goto exit;
    for (size_t i = 0; i < n; i++) {
        char topic[24];
        if (!issued[i])
            continue;
        if ((st = sso_alert_to_json(&alerts[i], 1, &json, &len)) != SSO_OK)
            goto exit;
        snprintf(topic, sizeof topic, "sso.v1.%s", sso_alert_class_name(alerts[i].cls));
        if (pipe_send(p, topic, json, len, alerts[i].seq) == 0)
            runs_add(&rn, alerts[i].seq);
        else
            stat_add(p, &p->stats.dropped, 1);
        free(json);
        json = NULL;
    }
    runs_flush(&rn);
    if ((st = rn.st) != SSO_OK)
        goto exit;
    /* the quartet summary (not numbered: it is not an alert) */
    sso_jw w;
    char t[48];
    sso_time_us_to_rfc3339(sso_time_now_us(), t, sizeof t);
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
    sso_jw_key(&w, "kind"), sso_jw_str(&w, "quartet");
    sso_jw_key(&w, "boot_id"), sso_jw_str(&w, p->boot_id);
    sso_jw_key(&w, "obs_id"), sso_jw_str(&w, obs_id);
    sso_jw_key(&w, "n_alerts"), sso_jw_u64(&w, n);
    sso_jw_key(&w, "n_new"), sso_jw_u64(&w, r.n_new);
    sso_jw_key(&w, "n_revised"), sso_jw_u64(&w, r.n_revised);
    sso_jw_key(&w, "last_seq"), sso_jw_u64(&w, r.last_seq);
    sso_jw_key(&w, "time"), sso_jw_str(&w, t);
    sso_jw_key(&w, "version"), sso_jw_str(&w, SSO_VERSION_STRING);
    sso_jw_obj_end(&w);
    if ((st = sso_jw_finish(&w, &json, &len)) != SSO_OK)
        goto exit;
    pipe_send(p, "sso.v1.quartet", json, len, 0);
    if (res)
        *res = r;
exit:
    free(json);
    free(issued);
    return st;
}

/* ---- observations and retractions (sso_publisher_put_observation) ------------------------------ */

sso_store *sso_publisher_store(sso_publisher *p)
{
    return p ? p->store : NULL;
}

static sso_status quartet_summary(sso_publisher *p, const sso_obs_record *o)
{
    sso_jw w;
    char t[48], *json = NULL;
    size_t len = 0;
    sso_time_us_to_rfc3339(sso_time_now_us(), t, sizeof t);
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
    sso_jw_key(&w, "kind"), sso_jw_str(&w, "quartet");
    sso_jw_key(&w, "boot_id"), sso_jw_str(&w, p->boot_id);
    sso_jw_key(&w, "obs_id"), sso_jw_str(&w, o->obs_id);
    sso_jw_key(&w, "status"), sso_jw_str(&w, o->status == SSO_OBS_DONE ? "done" : "started");
    sso_jw_key(&w, "n_exposures"), sso_jw_int(&w, o->n_exposures);
    sso_jw_key(&w, "n_alerts"), sso_jw_u64(&w, o->n_alerts);
    sso_jw_key(&w, "n_new"), sso_jw_u64(&w, o->n_new);
    sso_jw_key(&w, "n_revised"), sso_jw_u64(&w, o->n_revised);
    sso_jw_key(&w, "n_unchanged"), sso_jw_u64(&w, o->n_unchanged);
    sso_jw_key(&w, "n_retracted"), sso_jw_u64(&w, o->n_retracted);
    sso_jw_key(&w, "last_seq"), sso_jw_u64(&w, o->last_seq);
    sso_jw_key(&w, "latency_s"), sso_jw_num(&w, o->latency_s);
    sso_jw_key(&w, "stages"), sso_jw_obj_begin(&w);
    for (int i = 0; i < SSO_OBS_N_STAGES; i++)
        sso_jw_key(&w, sso_obs_stage_names[i]), sso_jw_num(&w, o->stage_s[i]);
    sso_jw_obj_end(&w);
    sso_jw_key(&w, "time"), sso_jw_str(&w, t);
    sso_jw_key(&w, "version"), sso_jw_str(&w, o->version[0] ? o->version : SSO_VERSION_STRING);
    sso_jw_obj_end(&w);
    sso_status st = sso_jw_finish(&w, &json, &len);
    if (st == SSO_OK)
        pipe_send(p, "sso.v1.quartet", json, len, 0);
    free(json);
    return st;
}

sso_status sso_publisher_put_observation(sso_publisher *p, sso_obs_record *obs, sso_alert *alerts,
                                         size_t n, unsigned flags, sso_store_put_result *res)
{
    sso_status st;
    uint64_t seq0 = 0;
    pending q = {0};
    runs rn = {p, 0, 0, SSO_OK};
    sso_store_put_result r;
    if (!p || !obs || (!alerts && n))
        return sso_fail(SSO_ERR_ARG, "publisher: NULL argument");
    if (!obs->version[0])
        snprintf(obs->version, sizeof obs->version, "%s", SSO_VERSION_STRING);
    if ((st = sso_store_last_seq(p->store, &seq0)) != SSO_OK ||
        (st = sso_store_put_observation(p->store, obs, alerts, n, flags, NULL, &r)) != SSO_OK)
        return st;
    /* one writer: what follows seq0 is exactly this transaction's rows, in seq order */
    if ((st = sso_store_since_seq(p->store, seq0, 0, collect_unpublished, &q)) != SSO_OK)
        goto exit;
    for (size_t i = 0; i < q.n; i++) {
        if (pipe_send(p, q.topic[i], q.json[i], q.len[i], q.seq[i]) == 0)
            runs_add(&rn, q.seq[i]);
        else
            stat_add(p, &p->stats.dropped, 1);
    }
    if (obs->last_arrival_us > 0) {
        obs->latency_s = 1e-6 * (double)(sso_time_now_us() - obs->last_arrival_us);
        if ((st = sso_store_obs_set_latency(p->store, obs->obs_id, obs->latency_s)) != SSO_OK)
            goto exit;
    }
    runs_flush(&rn);
    if ((st = rn.st) != SSO_OK || (st = quartet_summary(p, obs)) != SSO_OK)
        goto exit;
    if (res)
        *res = r;
exit:
    for (size_t i = 0; i < q.n; i++)
        free(q.json[i]);
    free(q.seq);
    free(q.json);
    free(q.len);
    free(q.topic);
    return st;
}
