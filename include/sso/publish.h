/* sso/publish.h: publishing alerts on ZeroMQ, the replay service, and the replay request grammar.
 *
 * sso_publisher owns the store writer and one background thread that owns every socket:
 *   PUB    (default tcp://127.0.0.1:5556): multipart [topic, JSON]; topics sso.v1.slow,
 *          sso.v1.fast (alerts), sso.v1.quartet (one summary per stored quartet), sso.v1.hb
 *          (heartbeat: boot_id and last seq, every heartbeat_s).
 *   ROUTER (default tcp://127.0.0.1:5557): the replay service (grammar below), answered from its
 *          own read-only store connection.
 *   PULL   (inproc): messages from sso_publisher_put_quartet.
 * sso_publisher_put_quartet stores first (one SQLite transaction), then hands the issued alerts to
 * the thread with ZMQ_DONTWAIT and marks them published: detection never waits for a subscriber.
 * A message the PUB drops at its high-water mark (a slow subscriber) stays in the store and is
 * recoverable by replay; subscribers see the gap from seq or the heartbeat. On create, alerts that
 * were stored but never published (a crash between the two) are published first.
 *
 * Replay requests (one frame from a DEALER, or REQ-style with an empty delimiter), printable ASCII,
 * at most SSO_REPLAY_MAX_REQUEST bytes:
 *   since-seq N [limit L]     alerts with seq > N
 *   since-time T [limit L]    alerts issued at or after T (RFC 3339, e.g. 2025-01-01T00:00:00Z)
 * L is 1..SSO_REPLAY_MAX_LIMIT (default SSO_REPLAY_DEFAULT_LIMIT). Replies: one [topic, JSON] per
 * alert by seq, then ["sso.v1.replay.end", {"kind":"replay_end","count":n,"last_seq":s,"more":b}]
 * (more: the limit or the batch was reached, ask again since last_seq); or for a bad request only
 * ["sso.v1.replay.error", {"kind":"replay_error","error":"..."}].
 * Memory bound: one reply carries at most SSO_REPLAY_MAX_BATCH alerts (a larger limit is answered
 * in batches, each ending with more=true), and the ROUTER queues at most SSO_REPLAY_PEER_HWM
 * messages per client, with ZMQ_ROUTER_MANDATORY so that a full queue is seen, not silently
 * dropped into. A client that asks again before reading the previous reply (a flood) has its reply
 * cut short where its queue is full (no end message; counted in replay_cut) and the query stops
 * there: the service neither grows nor blocks, and answers other clients as usual. A client that
 * waits for each replay_end before its next request (sso_subscriber does) is never cut: the queue
 * holds a batch plus its end even while libzmq's count of what the peer has read lags (by up to
 * HWM/2 messages at this HWM).
 *
 * Security (sso/security.h): with curve_secret set, PUB and ROUTER are CURVE servers with that key
 * pair and a ZAP handler in the publisher's context admits only the client keys in allow_keys.
 */
#ifndef SSO_PUBLISH_H
#define SSO_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "sso/alert.h"
#include "sso/status.h"
#include "sso/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_PUB_DEFAULT_ENDPOINT "tcp://127.0.0.1:5556"
#define SSO_REPLAY_DEFAULT_ENDPOINT "tcp://127.0.0.1:5557"
#define SSO_REPLAY_MAX_REQUEST 256
#define SSO_REPLAY_DEFAULT_LIMIT 1000
#define SSO_REPLAY_MAX_LIMIT 5000
#define SSO_REPLAY_MAX_BATCH 1000 /* alerts per reply; more=true asks for the next batch */
#define SSO_REPLAY_PEER_HWM 2048  /* messages queued per replay client, at most */

typedef struct sso_publisher sso_publisher;

typedef struct sso_publisher_opts {
    const char *store_path;      /* required: the SQLite store */
    const char *pub_endpoint;    /* [SSO_PUB_DEFAULT_ENDPOINT]; "tcp://127.0.0.1:*" = any port */
    const char *replay_endpoint; /* [SSO_REPLAY_DEFAULT_ENDPOINT]; NULL or "" = no replay service */
    int sndhwm;                  /* PUB send high-water mark per subscriber, messages [10000] */
    double heartbeat_s;          /* heartbeat interval [2] */
    const char *curve_secret;    /* server secret key file: CURVE on PUB and ROUTER [NULL: off] */
    const char *allow_keys;      /* allowed client public keys (Z85), required with curve_secret */
} sso_publisher_opts;

void sso_publisher_opts_default(sso_publisher_opts *o);

/* Opens the store, binds the sockets (errors such as an endpoint in use are returned here),
 * starts the thread and publishes stored-but-unpublished alerts. With curve_secret: the key files
 * are read first (SSO_ERR_ARG / SSO_ERR_IO naming the file, before anything is opened) and a
 * libzmq without CURVE is refused with SSO_ERR_UNSUPPORTED. */
sso_status sso_publisher_create(const sso_publisher_opts *o, sso_publisher **out);
/* Stops the thread (pending PUB messages get up to 1 s to leave), closes everything. NULL-safe. */
void sso_publisher_free(sso_publisher *p);

/* The endpoints as bound (a '*' port resolved), for tests and logs. */
sso_status sso_publisher_endpoints(const sso_publisher *p, char *pub, size_t npub, char *replay,
                                   size_t nreplay);

typedef struct sso_publish_stats {
    uint64_t sent;    /* alerts handed to the PUB socket */
    uint64_t dropped; /* alerts the thread could not hand over (queue full): replay has them */
    uint64_t heartbeats;
    uint64_t replay_requests;
    uint64_t replay_errors;
    uint64_t replay_sent; /* replay messages (rows, ends, errors) queued for clients */
    uint64_t replay_cut;  /* replies cut short: the client's queue was full, or it left */
    uint64_t auth_accepted, auth_rejected; /* CURVE handshakes the ZAP handler let in / refused */
} sso_publish_stats;
void sso_publisher_stats(sso_publisher *p, sso_publish_stats *s);

/* Stores the alerts of one observation (one transaction), publishes those that are new or revised
 * (seq, boot_id, time, revision are filled in), then one sso.v1.quartet summary. Never blocks on
 * subscribers. res may be NULL. */
sso_status sso_publisher_put_quartet(sso_publisher *p, const char *obs_id, sso_alert *alerts,
                                     size_t n, sso_store_put_result *res);

/* The publisher's store writer (observation rows: sso_store_obs_*), for the caller's thread only. */
sso_store *sso_publisher_store(sso_publisher *p);

/* One observation end to end: sso_store_put_observation (flags SSO_PUT_*: with
 * SSO_PUT_RETRACT_MISSING its alerts no longer found are withdrawn), then everything that
 * transaction stored (new and revised alerts, retractions on topic sso.v1.retract) is handed to
 * the PUB socket in seq order, then the sso.v1.quartet summary: {"kind":"quartet", obs_id,
 * status, n_exposures, n_alerts, n_new, n_revised, n_unchanged, n_retracted, last_seq,
 * latency_s, stages {<name>: seconds}, boot_id, time, version}. When obs->last_arrival_us is set,
 * obs->latency_s becomes the time from it to the hand-over of the last message, and is stored. */
sso_status sso_publisher_put_observation(sso_publisher *p, sso_obs_record *obs, sso_alert *alerts,
                                         size_t n, unsigned flags, sso_store_put_result *res);

/* ---- replay request grammar (alerts/replay.c), exposed for tests and fuzzing ---- */
typedef enum sso_replay_kind { SSO_REPLAY_SINCE_SEQ = 1, SSO_REPLAY_SINCE_TIME = 2 } sso_replay_kind;
typedef struct sso_replay_req {
    sso_replay_kind kind;
    uint64_t after_seq; /* SINCE_SEQ */
    int64_t t_us;       /* SINCE_TIME */
    size_t limit;
} sso_replay_req;

/* Parses n bytes (not NUL-terminated; any bytes). SSO_ERR_ARG with a reason for anything else. */
sso_status sso_replay_request_parse(const char *buf, size_t n, sso_replay_req *out);
/* Writes a request into buf (n >= 64): "since-seq N limit L". */
int sso_replay_request_format(const sso_replay_req *r, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
