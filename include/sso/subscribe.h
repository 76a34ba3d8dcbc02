/* sso/subscribe.h: a subscriber that misses nothing: live stream + replay (zguide Clone pattern).
 *
 * It subscribes to every alert topic first ("sso.v1."; filtering by topic, class or SNR is the
 * caller's, in the callback, because seq gaps can only be seen on the whole stream), then asks
 * the replay service for everything after since_seq and reads live messages only once the replay
 * is complete: those with seq <= the last delivered are dropped as duplicates. A live alert whose
 * seq jumps ahead, or a heartbeat announcing a last_seq beyond the last delivered, starts another
 * replay from the last delivered seq. Without a replay endpoint, gaps are counted, not filled.
 *
 * Numbered messages (alerts on sso.v1.slow / sso.v1.fast and retractions on sso.v1.retract: they
 * share one seq sequence) are delivered in strictly increasing seq, each once. The callback gets
 * the topic and the message as received; it is borrowed until the callback returns. With
 * all_kinds, the unnumbered messages are delivered too, with seq 0, as they arrive live (they are
 * not stored, so replay cannot bring them back): quartet summaries (sso.v1.quartet) and heartbeats
 * (sso.v1.hb, after the subscriber has used them for gap detection).
 *
 * With curve_secret (this client's key pair, sso/security.h) and server_key (the server's public
 * key, a file or Z85), both sockets connect as CURVE clients. A failed handshake (the server
 * refused the key, CURVE on one side only) ends sso_subscriber_run with SSO_ERR_IO and the reason;
 * so do 3 handshakes in a row that the server cut off (a wrong server key), while one cut off
 * once (a server restarting on the endpoint) is retried as ZeroMQ reconnects.
 */
#ifndef SSO_SUBSCRIBE_H
#define SSO_SUBSCRIBE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sso_subscriber sso_subscriber;

typedef struct sso_subscriber_opts {
    const char *connect;  /* the PUB endpoint, required */
    const char *replay;   /* the replay endpoint; NULL or "" = live only */
    uint64_t since_seq;   /* deliver alerts with seq > since_seq (0: the whole stored history) */
    int rcvhwm;           /* SUB receive high-water mark [100000] */
    const char *curve_secret; /* this client's secret key file: CURVE on [NULL: plaintext] */
    const char *server_key;   /* the server's public key: a key file or 40 Z85 characters */
    int all_kinds;        /* also deliver sso.v1.quartet and sso.v1.hb (seq 0) [0] */
    volatile sig_atomic_t *stop; /* may be NULL; nonzero ends sso_subscriber_run (SSO_OK) within
                                  * 200 ms: set it from a signal handler */
} sso_subscriber_opts;

typedef struct sso_subscriber_stats {
    uint64_t delivered;
    uint64_t from_replay;
    uint64_t duplicates; /* live alerts dropped: seq <= last delivered */
    uint64_t gaps;       /* gaps seen (seq jump or heartbeat ahead) */
    uint64_t replays;    /* replay requests sent */
    uint64_t heartbeats;
    uint64_t summaries;  /* sso.v1.quartet messages seen */
    uint64_t last_seq;
} sso_subscriber_stats;

/* Return 0 to go on, nonzero to stop sso_subscriber_run (which then returns SSO_OK). */
typedef int (*sso_subscriber_fn)(const char *topic, const char *json, size_t len, uint64_t seq,
                                 int from_replay, void *user);

sso_status sso_subscriber_create(const sso_subscriber_opts *o, sso_subscriber **out);
/* Key files are read first: SSO_ERR_ARG / SSO_ERR_IO naming the file; SSO_ERR_UNSUPPORTED when
 * CURVE is asked of a libzmq without it. */
void sso_subscriber_free(sso_subscriber *s);
/* Runs until fn returns nonzero (SSO_OK) or timeout_s passes (SSO_OK; timeout_s <= 0: no limit).
 * A replay error reply is SSO_ERR_IO with the service's reason. */
sso_status sso_subscriber_run(sso_subscriber *s, double timeout_s, sso_subscriber_fn fn, void *user);
void sso_subscriber_stats_get(const sso_subscriber *s, sso_subscriber_stats *st);

#ifdef __cplusplus
}
#endif
#endif
