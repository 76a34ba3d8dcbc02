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
 * Observations: one row per obs_id (sso_obs_record): status started when processing begins
 * (sso_store_obs_begin, which counts attempts), done in the same transaction that stores its
 * alerts (sso_store_put_observation), so after a crash a started row is an observation to redo and
 * a done row has every alert stored; failed (sso_store_obs_fail) when its quartet or its search
 * failed, with the error text, so a service can bound its retries by the attempt count. The row
 * keeps the quartet summary: counts, stage timings, software version and the latency from the
 * last file's arrival to the last alert published.
 *
 * Retraction (SSO_PUT_RETRACT_MISSING): when an observation is stored again, an alert stored for
 * it before (its latest revision, not already a retraction) whose alert_id is not among the new
 * alerts is withdrawn: a retract row (kind "retract", topic sso.v1.retract) with its own seq and
 * revision + 1 supersedes it. Its JSON: {"schema","kind":"retract","alert_id","obs_id","seq",
 * "revision","boot_id","time","role","reason"}. An alert of an observation is one whose alert_id
 * is "<obs_id>-" followed by 16 hex digits (sso_alert_make_id).
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
    const char *kind;   /* "slow" | "fast" | "retract": the topic is "sso.v1." kind */
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
    size_t n_retracted; /* retract rows written (SSO_PUT_RETRACT_MISSING) */
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

/* ---- observations (the quartet summaries) ---- */

enum { SSO_PUT_RETRACT_MISSING = 1 << 0 };

typedef enum sso_obs_status {
    SSO_OBS_NONE = 0,
    SSO_OBS_STARTED = 1,
    SSO_OBS_DONE = 2,
    SSO_OBS_FAILED = 3
} sso_obs_status;

/* "none", "started", "done", "failed": the status column's text. */
const char *sso_obs_status_name(sso_obs_status st);

#define SSO_OBS_N_STAGES 11
/* Names of sso_obs_record.stage_s entries: the pipeline's stages, then "total". */
extern const char *const sso_obs_stage_names[SSO_OBS_N_STAGES];

typedef struct sso_obs_record {
    char obs_id[64];
    sso_obs_status status;
    int n_exposures;         /* exposure files processed (3 or 4) */
    int attempts;            /* times processing started (sso_store_obs_begin) */
    uint64_t n_alerts, n_new, n_revised, n_unchanged, n_retracted;
    uint64_t last_seq;       /* the store's last seq when it was done */
    int64_t started_us;      /* Unix microseconds; 0 = unknown */
    int64_t done_us;
    int64_t last_arrival_us; /* when its last exposure file was complete */
    double latency_s;        /* last arrival -> last alert handed to PUB; NaN until known */
    double stage_s[SSO_OBS_N_STAGES]; /* wall-clock seconds per stage; NaN = unknown */
    char version[32];        /* software version that processed it */
    char error[256];         /* failed: what went wrong (the last failure); "" otherwise */
} sso_obs_record;

/* A record with every number unknown (NaN/0), status NONE, obs_id copied (truncated to 63). */
void sso_obs_record_init(sso_obs_record *r, const char *obs_id);

/* Marks obs_id started (inserting its row or updating it: attempts + 1, started_us now,
 * n_exposures and last_arrival_us as given; the error of a previous failure is kept until the
 * observation is done). */
sso_status sso_store_obs_begin(sso_store *s, const char *obs_id, int n_exposures,
                               int64_t last_arrival_us);
/* Marks obs_id failed (its row must exist: sso_store_obs_begin) with the error text (truncated
 * to 255 bytes); done_us gets the time. The attempt count is left as obs_begin set it. */
sso_status sso_store_obs_fail(sso_store *s, const char *obs_id, const char *error);
/* The row of obs_id: *found 0 (and r initialised) when there is none. */
sso_status sso_store_obs_get(sso_store *s, const char *obs_id, sso_obs_record *r, int *found);
typedef int (*sso_store_obs_fn)(const sso_obs_record *r, void *user);
/* Every observation row, by obs_id; fn returns nonzero to stop. */
sso_status sso_store_obs_list(sso_store *s, sso_store_obs_fn fn, void *user);
/* Records the latency of a done observation. */
sso_status sso_store_obs_set_latency(sso_store *s, const char *obs_id, double latency_s);

/* sso_store_put of one observation's alerts (all must carry obs->obs_id), plus, in the same
 * transaction: with SSO_PUT_RETRACT_MISSING the retract rows (above), and the observation row
 * marked done with the counts (obs is updated: status, counts, last_seq, done_us). */
sso_status sso_store_put_observation(sso_store *s, sso_obs_record *obs, sso_alert *alerts, size_t n,
                                     unsigned flags, unsigned char *issued,
                                     sso_store_put_result *res);

#ifdef __cplusplus
}
#endif
#endif
