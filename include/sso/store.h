/* sso/store.h: the durable alert store (SQLite, WAL) behind publishing and replay.
 *
 * Every alert is committed here before it is published (store-before-publish), one transaction
 * per quartet. The store numbers alerts: seq is strictly increasing, kept in the database (table
 * meta), so it survives restarts and never repeats. Re-issuing an alert_id whose content (the JSON
 * without its envelope) is unchanged creates nothing: no row, no seq, not re-published. Changed
 * content is a revision: a new row with a new seq and revision = previous + 1; the old row is
 * marked superseded. Rows carry a published flag: after a crash between store and publish,
 * sso_store_unpublished() finds what has to go out.
 *
 * One sso_store is one SQLite connection: use it from one thread at a time. Readers (the replay
 * service) open their own with sso_store_open_reader(); WAL lets them read while a writer writes.
 */
#ifndef SSO_STORE_H
#define SSO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sso/alert.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sso_store sso_store;

/* One stored message, borrowed: valid only inside the callback. */
typedef struct sso_store_row {
    uint64_t seq;
    const char *alert_id;
    const char *kind;   /* "slow" | "fast": the topic is "sso.v1." kind */
    int64_t time_us;    /* issue time, Unix microseconds (the envelope's "time") */
    int revision;
    int published;
    int superseded;     /* a later revision of this alert_id exists */
    const char *json;   /* the full message (with envelope) as published */
    size_t json_len;
} sso_store_row;

/* Return 0 to continue, nonzero to stop the iteration (the query then returns SSO_OK). */
typedef int (*sso_store_row_fn)(const sso_store_row *row, void *user);

/* Opens (creating if needed) the store at path in WAL mode and makes a fresh boot_id for the
 * alerts stored through this handle. SSO_ERR_IO when the file cannot be opened or is not a store. */
sso_status sso_store_open(const char *path, sso_store **out);
/* A read-only connection for queries (replay); no boot_id, sso_store_put refuses. */
sso_status sso_store_open_reader(const char *path, sso_store **out);
void sso_store_free(sso_store *s);

const char *sso_store_boot_id(const sso_store *s);
/* The highest seq ever assigned (0 for an empty store), read from the database. */
sso_status sso_store_last_seq(sso_store *s, uint64_t *seq);

typedef struct sso_store_put_result {
    size_t n_new;       /* first issue of an alert_id */
    size_t n_revised;   /* changed content: new seq, revision + 1 */
    size_t n_unchanged; /* same content as the latest stored revision: nothing stored */
    uint64_t last_seq;  /* the store's last seq after the transaction */
} sso_store_put_result;

/* Stores n alerts in one transaction (all or none). For each alert assigns seq, revision, boot_id
 * and time (new and revised) or copies them from the stored row (unchanged). issued (n flags, may
 * be NULL) gets 1 where the alert must be published, 0 where it was unchanged. */
sso_status sso_store_put(sso_store *s, sso_alert *alerts, size_t n, unsigned char *issued,
                         sso_store_put_result *res);

/* Rows with seq > after_seq, by seq, at most limit (0 = no limit). */
sso_status sso_store_since_seq(sso_store *s, uint64_t after_seq, size_t limit, sso_store_row_fn fn,
                               void *user);
/* Rows issued at or after t_us (Unix microseconds), by seq, at most limit (0 = no limit). */
sso_status sso_store_since_time(sso_store *s, int64_t t_us, size_t limit, sso_store_row_fn fn,
                                void *user);
/* Stored-but-unpublished rows, by seq. */
sso_status sso_store_unpublished(sso_store *s, size_t limit, sso_store_row_fn fn, void *user);
/* Marks seqs first..last (inclusive) published, one transaction. */
sso_status sso_store_mark_published(sso_store *s, uint64_t first, uint64_t last);

#ifdef __cplusplus
}
#endif
#endif
