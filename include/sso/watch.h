/* sso/watch.h: `sso watch`, the engine as a service over a directory of arriving exposures.
 *
 * sso_watch_run() watches a directory (alerts/watch_dir.h: complete files only, inotify or
 * polling), validates each exposure as it arrives (a bad file is reported at once, naming the file
 * and extension), groups exposures by OBS_ID and, when an observation's 4th exposure arrives, runs
 * the search on it (sso_pipeline_run, or the caller's search function) and stores and publishes
 * its alerts (sso_publisher_put_observation). An observation still at 3 exposures timeout_s after
 * its last arrival proceeds with 3 (SSO_OPEN_ALLOW_THREE); if the 4th comes later it is processed
 * again with 4, and alerts of the 3-exposure run no longer found are retracted.
 *
 * Restart: every observation is recorded in the store (status started, then done with its alerts
 * in one transaction, or failed with the error text when its quartet or its search failed). On
 * start, the directory is scanned again; observations done with as many exposures as are there
 * are skipped, ones left started (the engine died mid-way) are redone, failed ones are retried
 * while their attempts (times processing started, counted in the store) are fewer than
 * max_attempts; beyond that they are logged as given up and left alone.
 * Their alert_ids are deterministic, so a redo stores no duplicates: unchanged alerts are not
 * re-sent, alerts stored but not yet published are published by the publisher on start.
 *
 * Stopping: *stop (set from a signal handler) is checked between steps. The search runs in a
 * child process when isolate is set (the default), so a stop during a search abandons it at once
 * (the observation stays started and is redone on the next start); a crash of the search is then
 * an error of that observation, not of the service. Without isolation the search finishes first.
 *
 * Prep on arrival: without a search function, each exposure goes through the per-exposure stages
 * (read, prep, background, cosmics, resampling into the patches: sso_pipeline_session_add) as soon
 * as it has arrived and validated, in the observation's own worker process (isolate) or in the
 * service (no isolation); the search then only adds the last exposure's prep and the per-patch
 * stages. A file that fails its prep fails the observation at its arrival (recorded failed, an
 * attempt counted) without a search. At most max_prepared observations are prepared at once
 * (memory); others run the whole pipeline when due.
 *
 * Latency: per observation, from the wall-clock arrival of its last exposure file (the moment it
 * was found complete) to the hand-over of its last alert to the PUB socket; in the store's
 * observation row, the sso.v1.quartet summary and the log.
 */
#ifndef SSO_WATCH_H
#define SSO_WATCH_H

#include <signal.h>
#include <stddef.h>

#include "sso/alert.h"
#include "sso/pipeline.h"
#include "sso/publish.h"
#include "sso/quartet.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The search run on a complete observation: alerts malloc'd (caller frees), stats filled. */
typedef sso_status (*sso_watch_search_fn)(void *user, const sso_quartet *q, sso_alert **alerts,
                                          size_t *n_alerts, sso_pipeline_stats *stats);
/* One line of the service's log (no newline). */
typedef void (*sso_watch_log_fn)(void *user, const char *line);

typedef struct sso_watch_opts {
    const char *dir;              /* required: the directory exposures land in */
    const char *out_dir;          /* NULL: none; else <out_dir>/<obs_id>.jsonl per observation */
    sso_publisher_opts pub;       /* store_path required; endpoints [sso_publisher_opts_default] */
    sso_pipeline_config pipe;     /* [sso_pipeline_config_default] */
    unsigned open_flags;          /* SSO_OPEN_VERIFY_CHECKSUM */
    double timeout_s;             /* proceed with 3 exposures after this [600]; < 0 never */
    int poll_ms;                  /* scan interval, also the settle time of a file [500] */
    int once;                     /* exit when nothing can progress without new files [0] */
    int isolate;                  /* the search in a child process [1] */
    int max_attempts;             /* a failed observation is retried while attempts < this [3] */
    sso_alert_role role;          /* written into each alert [observation] */
    int max_prepared;             /* observations prepared on arrival at once (each holds its
                                   * exposures' patch images until its search); 0: no prep on
                                   * arrival, the whole pipeline runs when due [2] */
    sso_watch_search_fn search;   /* NULL: sso_pipeline_run with pipe (prep on arrival:
                                   * sso_pipeline_session); set: this, when due, on the quartet */
    void *search_user;
    sso_watch_log_fn log;         /* may be NULL */
    void *log_user;
    volatile sig_atomic_t *stop;  /* may be NULL; nonzero: stop at the next safe point */
} sso_watch_opts;

void sso_watch_opts_default(sso_watch_opts *o);

/* Runs until *stop is set (SSO_OK) or, with once, until idle (SSO_OK). Errors of one observation
 * (a bad quartet, a failed search) are logged and the service goes on; errors of the service
 * itself (directory, store, sockets) are returned. */
sso_status sso_watch_run(const sso_watch_opts *o);

#ifdef __cplusplus
}
#endif
#endif
