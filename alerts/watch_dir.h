/* alerts/watch_dir.h: exposure files arriving in a directory, seen only once complete
 * (alerts/watch_dir.c; used by alerts/watch.c).
 *
 * A file is a candidate when its name ends in .fits, .fits.fz or .fit and does not start with
 * '.' (a writer's temporary name such as the simulator's "<name>.tmp" is not a candidate; the
 * rename to the final name is the arrival). A candidate is complete when its size and mtime have
 * not changed for settle_s and the whole exposure validates (sso_exposure_open: FITS, every HDU
 * whole, SCI/RMS/FLG per detector, WCS, time; host/ingest_internal.h). A file that validates is
 * handed over once (on_ready); one that does not is reported once per (size, mtime) state
 * (on_bad, with the ingest's detail naming the file and extension) and re-examined when it
 * changes, so a slow writer that paused longer than settle_s is picked up when it finishes.
 *
 * Wake-ups: on Linux an inotify watch on the directory (create, write, close, move, delete)
 * ends sso_wdir_wait early; without inotify (or if it cannot be set up) the caller's poll
 * interval alone paces the scans. Scans read the directory either way: events only wake.
 */
#ifndef SSO_ALERTS_WATCH_DIR_H
#define SSO_ALERTS_WATCH_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "sso/quartet.h"
#include "sso/status.h"

typedef struct sso_wfile {
    char *path;            /* dir/name */
    int64_t size;
    int64_t mtime_ns;
    double changed_s;      /* monotonic time of the last (size, mtime) change */
    int state;             /* SSO_WF_* */
    /* once ready: the exposure's header facts */
    char obs_id[72];
    int dither;
    double mjd_start;
    int n_detectors;
    int64_t arrival_us;    /* wall clock when found complete */
} sso_wfile;

enum { SSO_WF_PENDING = 0, SSO_WF_READY = 1, SSO_WF_BAD = 2 };

typedef struct sso_wdir sso_wdir;

typedef void (*sso_wdir_ready_fn)(void *user, const sso_wfile *f);
/* incomplete: the ingest said truncated (a writer may still be at work) */
typedef void (*sso_wdir_bad_fn)(void *user, const sso_wfile *f, sso_status st, int incomplete,
                                const char *detail);

sso_status sso_wdir_open(const char *dir, sso_wdir **out);
void sso_wdir_free(sso_wdir *w);
/* 1 when inotify wakes the waits, 0 when only polling. */
int sso_wdir_has_inotify(const sso_wdir *w);
/* Sleeps up to timeout_ms, less if a directory event arrives (or a signal interrupts). */
void sso_wdir_wait(sso_wdir *w, int timeout_ms);
/* One scan: new or changed candidates are noted, settled ones validated and reported.
 * *n_pending gets the number of candidates not yet ready nor reported bad. */
sso_status sso_wdir_scan(sso_wdir *w, double settle_s, unsigned open_flags, sso_wdir_ready_fn ready,
                         sso_wdir_bad_fn bad, void *user, int *n_pending);

#endif
