/* alerts/watch.c: the service loop of `sso watch` (sso/watch.h).
 *
 * Data: an array of observations (wobs), each with the ready exposure files of one OBS_ID (path,
 * dither, arrival) and a state: waiting (fewer exposures than needed, or not yet processed), done
 * (processed with n_done exposures) or failed (its quartet or search failed; retried when a further
 * file of it arrives, or on the next start, while its attempts are fewer than max_attempts).
 * A failure is recorded in the store (status failed, the error text; attempts counted by
 * sso_store_obs_begin), so the bound holds across restarts. The loop: scan the directory (alerts/watch_dir.c hands over
 * complete, validated files), then process at most one observation that is due (4 exposures, or 3
 * whose last arrival is timeout_s old), then wait for a directory event or the poll interval.
 *
 * One observation: store row started (sso_store_obs_begin), open the quartet, search, store the
 * alerts and the done row in one transaction, publish (sso_publisher_put_observation with
 * SSO_PUT_RETRACT_MISSING), write <out_dir>/<obs_id>.jsonl. What is known from the store before
 * the first processing: done with >= the exposures present -> skipped; started -> redone; failed
 * -> redone while attempts < max_attempts, else left alone (logged once: "given up").
 *
 * Isolation: the search runs in a fork()ed child that writes back [status, stats, n, n alerts,
 * error text] through a pipe (sso_alert is a plain struct; parent and child are one binary). The
 * child touches no socket or database of the parent and leaves with _exit; on Linux it dies with
 * the parent (PR_SET_PDEATHSIG), so a killed service leaves no search behind. The parent reads with
 * poll() so a stop request kills the child (SIGKILL) at once. Without isolation (tests, or when
 * fork fails) the search runs in the service's thread.
 *
 * Prep on arrival (no search hook, max_prepared > 0): the per-exposure stages run as each exposure
 * arrives, in a persistent per-observation worker: a child forked when the observation's first
 * exposure is fed (after the store check, so an observation already done costs nothing). The
 * parent writes commands into one pipe ['A', u32 length, path] (prepare this exposure:
 * sso_pipeline_session_add) and ['R'] (search: sso_pipeline_session_run); the worker answers each
 * 'A' with ['A', status, prep seconds, bytes held, error text] and the 'R' with the search's
 * result as above, then leaves. The prepared patch images stay in the worker's memory, where the
 * search needs them: a spill file (prep in a short-lived child, the search reading it back) would
 * keep the same isolation but write and read ~1.3 GB per exposure of the ccd preset (9 patches of
 * 4096^2 px x 9 B) on the critical path, against nothing for a worker that simply lives on. The
 * isolation is the search's: a crash or a bad file in the prep kills or fails that worker only,
 * and the observation is recorded failed at that arrival (an attempt counted, no search run);
 * like any failure it is retried when a further file of it arrives or on the next start, with a
 * fresh worker that prepares every file again. A stop, or the service's death (PDEATHSIG), ends
 * the workers; on restart an observation that was only being prepared has no store row yet and
 * simply starts over, one that was searched is redone as before (deterministic alert_ids, so no
 * duplicates). Memory: each worker holds its exposures' patch images until its search (the ccd
 * preset: <= 9 patches x 4096^2 px x 9 B = 1.27 GiB per exposure, 5.1 GiB at the 4th, which is what
 * sso_pipeline_run holds at the end of its phase 1 anyway); at most max_prepared observations are
 * prepared at once (default 2: <= ~10 GiB with the ccd preset), the others run the whole pipeline
 * when due. Without isolation the session lives in the service and each prep runs in the loop.
 * The patch grid's tangent point is predicted from the first exposure prepared (its pointing and
 * DITHOBS through the dither pattern, sso/pipeline.h), so it can differ from sso_pipeline_run's
 * by rounding (or by a shift when the pattern is not the expected one), never in what is searched.
 * Exposures handed to a session at once go in time order, so a restart (every file there at the
 * first scan) predicts from the earliest exposure, as the first run did when the files arrived in
 * time order: the redo finds the same alert_ids. (Files arriving out of time order can make a redo
 * predict a grid that differs by rounding: its alerts then differ within the resampling noise and
 * show as revisions or retractions.)
 */
#define _GNU_SOURCE /* prctl */
#include "sso/watch.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "alerts/watch_dir.h"
#include "host/status_internal.h"

#define MAX_FILES 8

enum { OBS_WAITING = 0, OBS_DONE = 1, OBS_FAILED = 2 };

typedef struct wexp {
    char *path;
    int dither;
    double mjd_start;
    int64_t arrival_us;
} wexp;

typedef struct wobs {
    char key[72];    /* OBS_ID as written */
    char obs_id[64]; /* as in alert ids (the pipeline's rule) */
    wexp x[MAX_FILES];
    int n;
    int64_t last_arrival_us;
    double last_arrival_mono;
    int state, n_done, failed_n, checked_store, redo_now;
    int attempts; /* times processing started (the store's count) */
    /* prep on arrival */
    int staged;                 /* a session is open: worker pid (isolated) or sess */
    pid_t pid;
    int to_fd, from_fd;
    sso_pipeline_session *sess; /* without isolation */
    int n_sent, n_acked;        /* exposures x[0..n_sent-1] handed over; of which prepared */
    double prep_s;              /* wall time of the preps acknowledged */
    int deferred_logged;
} wobs;

typedef struct watch {
    const sso_watch_opts *o;
    sso_publisher *pub;
    sso_wdir *dir;
    wobs *obs;
    size_t n_obs, cap_obs;
    sso_status fatal;
} watch;

void sso_watch_opts_default(sso_watch_opts *o)
{
    memset(o, 0, sizeof *o);
    sso_publisher_opts_default(&o->pub);
    sso_pipeline_config_default(&o->pipe);
    o->timeout_s = 600.0;
    o->poll_ms = 500;
    o->isolate = 1;
    o->max_attempts = 3;
    o->max_prepared = 2;
    o->role = SSO_ROLE_OBSERVATION;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void logf_(const watch *w, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    if (!w->o->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    w->o->log(w->o->log_user, line);
}

static int stopping(const watch *w)
{
    return w->o->stop && *w->o->stop;
}

/* The observation id as the pipeline writes it into alert ids (host/pipeline.c: characters outside
 * [A-Za-z0-9_.:-] become '_', empty is "obs"). */
static void alert_obs_id(const char *s, char *out, size_t n)
{
    size_t j = 0;
    if (!s || !s[0])
        s = "obs";
    for (size_t i = 0; s[i] && j + 1 < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == ':' || ch == '-';
        out[j++] = ok ? ch : '_';
    }
    out[j] = '\0';
}

static int max_attempts(const watch *w)
{
    return w->o->max_attempts > 0 ? w->o->max_attempts : 3;
}

/* ---- arrivals ------------------------------------------------------------------------------------ */

static wobs *find_obs(watch *w, const char *key)
{
    for (size_t i = 0; i < w->n_obs; i++)
        if (!strcmp(w->obs[i].key, key))
            return &w->obs[i];
    if (w->n_obs == w->cap_obs) {
        size_t cap = w->cap_obs ? 2 * w->cap_obs : 8;
        wobs *no = realloc(w->obs, cap * sizeof *no);
        if (!no)
            return NULL;
        w->obs = no, w->cap_obs = cap;
    }
    wobs *o = &w->obs[w->n_obs++];
    memset(o, 0, sizeof *o);
    snprintf(o->key, sizeof o->key, "%s", key);
    alert_obs_id(key, o->obs_id, sizeof o->obs_id);
    o->to_fd = o->from_fd = -1;
    return o;
}

static void on_ready(void *user, const sso_wfile *f)
{
    watch *w = user;
    wobs *o = find_obs(w, f->obs_id);
    if (!o) {
        w->fatal = sso_fail(SSO_ERR_NOMEM, "watch: out of memory");
        return;
    }
    for (int i = 0; i < o->n; i++)
        if ((f->dither > 0 && o->x[i].dither == f->dither) ||
            fabs(o->x[i].mjd_start - f->mjd_start) * 86400.0 < 0.1) {
            logf_(w, "bad file: file %s, extension PRIMARY: exposure %d of observation %s is already "
                     "there as %s: ignored", f->path, f->dither, o->obs_id, o->x[i].path);
            return;
        }
    if (o->n == MAX_FILES || o->n >= SSO_QUARTET_N) {
        logf_(w, "bad file: file %s, extension PRIMARY: observation %s already has %d exposures: "
                 "ignored", f->path, o->obs_id, o->n);
        return;
    }
    wexp *x = &o->x[o->n];
    if (!(x->path = malloc(strlen(f->path) + 1))) {
        w->fatal = sso_fail(SSO_ERR_NOMEM, "watch: out of memory");
        return;
    }
    memcpy(x->path, f->path, strlen(f->path) + 1);
    x->dither = f->dither, x->mjd_start = f->mjd_start, x->arrival_us = f->arrival_us;
    o->n++;
    o->last_arrival_us = f->arrival_us;
    o->last_arrival_mono = mono_s();
    if (o->state == OBS_FAILED && o->attempts < max_attempts(w))
        o->state = OBS_WAITING; /* a new file: try again */
    logf_(w, "arrived: %s (observation %s, dither %d, %d detector(s)): %d/%d, headers and extensions "
             "valid", f->path, o->obs_id, f->dither, f->n_detectors, o->n, SSO_QUARTET_N);
}

static void on_bad(void *user, const sso_wfile *f, sso_status st, int incomplete, const char *detail)
{
    watch *w = user;
    (void)f;
    if (incomplete)
        logf_(w, "incomplete, waiting for the rest: %s", detail);
    else
        logf_(w, "bad file: %s: %s", sso_strerror(st), detail);
}

/* ---- the search, in a child process or here ------------------------------------------------------ */

static sso_status search_here(watch *w, const sso_quartet *q, sso_alert **a, size_t *n,
                              sso_pipeline_stats *ps)
{
    if (w->o->search)
        return w->o->search(w->o->search_user, q, a, n, ps);
    return sso_pipeline_run(q, &w->o->pipe, a, n, ps);
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* Reads exactly n bytes from fd into buf, giving up (returning 1) when *stop is set; -1 at EOF or
 * error. */
static int read_all(watch *w, int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        if (stopping(w))
            return 1;
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, 200);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* The child's side: [status, stats, n, n alerts, error text]; 0 when written. */
static int write_result(int fd, sso_status st, const sso_alert *ca, size_t cn,
                        const sso_pipeline_stats *cs)
{
    int32_t cst = (int32_t)st;
    uint64_t n64 = cst == SSO_OK ? (uint64_t)cn : 0;
    const char *err = cst == SSO_OK ? "" : sso_last_error();
    uint32_t elen = (uint32_t)strlen(err);
    return write_all(fd, &cst, sizeof cst) || write_all(fd, cs, sizeof *cs) ||
           write_all(fd, &n64, sizeof n64) || (n64 && write_all(fd, ca, (size_t)n64 * sizeof *ca)) ||
           write_all(fd, &elen, sizeof elen) || write_all(fd, err, elen);
}

/* In a forked child: die with the service (kill -9 included). 0 when set up. */
static int child_setup(pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the service killed (kill -9): its child goes too */
    if (getppid() != parent) /* it died before prctl */
        return -1;
#else
    (void)parent;
#endif
    return 0;
}

static sso_status read_result(watch *w, int fd, pid_t pid, sso_alert **a, size_t *n,
                              sso_pipeline_stats *ps, int *abandoned);

/* SSO_ERR_INTERNAL with "abandoned" when stopped: the caller leaves the observation started. */
static sso_status search_isolated(watch *w, const sso_quartet *q, sso_alert **a, size_t *n,
                                  sso_pipeline_stats *ps, int *abandoned)
{
    int fds[2];
    *abandoned = 0;
    if (!w->o->isolate || pipe(fds) != 0)
        return search_here(w, q, a, n, ps);
    fflush(NULL);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return search_here(w, q, a, n, ps);
    }
    if (pid == 0) { /* child: search, write back, leave without running the parent's cleanup */
        close(fds[0]);
        if (child_setup(parent))
            _exit(1);
        sso_alert *ca = NULL;
        size_t cn = 0;
        sso_pipeline_stats cs;
        memset(&cs, 0, sizeof cs);
        sso_status cst = search_here(w, q, &ca, &cn, &cs);
        int bad = write_result(fds[1], cst, ca, cn, &cs);
        free(ca);
        _exit(bad ? 1 : 0);
    }
    close(fds[1]);
    sso_status st = read_result(w, fds[0], pid, a, n, ps, abandoned);
    close(fds[0]);
    return st;
}

/* The parent's side of write_result; reaps pid. Kills it when a stop cuts the read. */
static sso_status read_result(watch *w, int fd, pid_t pid, sso_alert **a, size_t *n,
                              sso_pipeline_stats *ps, int *abandoned)
{
    int32_t cst = SSO_ERR_INTERNAL;
    uint64_t n64 = 0;
    uint32_t elen = 0;
    char err[1024] = "";
    sso_alert *ca = NULL;
    int r = read_all(w, fd, &cst, sizeof cst);
    if (!r)
        r = read_all(w, fd, ps, sizeof *ps);
    if (!r)
        r = read_all(w, fd, &n64, sizeof n64);
    if (!r && n64 > (uint64_t)(SIZE_MAX / sizeof *ca))
        r = -1;
    if (!r && n64 && !(ca = malloc((size_t)n64 * sizeof *ca)))
        r = -1;
    if (!r && n64)
        r = read_all(w, fd, ca, (size_t)n64 * sizeof *ca);
    if (!r)
        r = read_all(w, fd, &elen, sizeof elen);
    if (!r && elen)
        r = read_all(w, fd, err, elen < sizeof err - 1 ? elen : sizeof err - 1);
    if (r == 1) {
        kill(pid, SIGKILL);
        *abandoned = 1;
    }
    if (r != 0)
        kill(pid, SIGKILL); /* a worker that said nothing more must not linger */
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (r != 0) {
        free(ca);
        if (*abandoned)
            return sso_fail(SSO_ERR_INTERNAL, "watch: search abandoned (stop requested)");
        return sso_fail(SSO_ERR_INTERNAL, "watch: the search process died (%s %d)",
                        WIFSIGNALED(ws) ? "signal" : "exit status",
                        WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
    }
    if (cst != SSO_OK) {
        free(ca);
        return sso_fail((sso_status)cst, "%s", err);
    }
    *a = ca;
    *n = (size_t)n64;
    return SSO_OK;
}

/* ---- prep on arrival: one session per observation -------------------------------------------- */

static int staging_on(const watch *w)
{
    return !w->o->search && w->o->max_prepared > 0;
}

/* The worker: a session fed by the parent's commands (module comment). Never returns. */
static void worker_main(watch *w, int in_fd, int out_fd)
{
    sso_pipeline_session *s = NULL;
    sso_status cst = sso_pipeline_session_create(&w->o->pipe, w->o->open_flags, &s);
    char path[4200];
    for (;;) {
        uint8_t cmd = 0;
        uint32_t len = 0;
        if (read(in_fd, &cmd, 1) != 1)
            _exit(0); /* the service closed the pipe: nothing more to do */
        if (cmd == 'A') {
            double t = 0.0;
            uint64_t bytes = 0;
            if (read(in_fd, &len, sizeof len) != (ssize_t)sizeof len || len >= sizeof path)
                _exit(1);
            size_t got = 0;
            while (got < len) {
                ssize_t k = read(in_fd, path + got, len - got);
                if (k <= 0)
                    _exit(1);
                got += (size_t)k;
            }
            path[len] = '\0';
            int32_t st = (int32_t)(cst != SSO_OK ? cst : sso_pipeline_session_add(s, path, &t));
            bytes = (uint64_t)sso_pipeline_session_bytes(s);
            const char *err = st == SSO_OK ? "" : sso_last_error();
            uint32_t elen = (uint32_t)strlen(err);
            if (write_all(out_fd, &cmd, 1) || write_all(out_fd, &st, sizeof st) ||
                write_all(out_fd, &t, sizeof t) || write_all(out_fd, &bytes, sizeof bytes) ||
                write_all(out_fd, &elen, sizeof elen) || write_all(out_fd, err, elen) || st != SSO_OK)
                _exit(st != SSO_OK ? 0 : 1);
        } else if (cmd == 'R') {
            sso_alert *ca = NULL;
            size_t cn = 0;
            sso_pipeline_stats cs;
            memset(&cs, 0, sizeof cs);
            sso_status st = cst != SSO_OK ? cst : sso_pipeline_session_run(s, &ca, &cn, &cs);
            int bad = write_all(out_fd, &cmd, 1) || write_result(out_fd, st, ca, cn, &cs);
            _exit(bad ? 1 : 0); /* the session's memory goes with the process */
        } else {
            _exit(1);
        }
    }
}

/* Ends o's session: its pipes closed, the worker killed (whatever it was doing) and reaped. */
static void end_session(wobs *o)
{
    if (o->to_fd >= 0)
        close(o->to_fd);
    if (o->from_fd >= 0)
        close(o->from_fd);
    if (o->pid > 0) {
        kill(o->pid, SIGKILL);
        while (waitpid(o->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    sso_pipeline_session_free(o->sess);
    o->sess = NULL;
    o->staged = 0, o->pid = 0, o->to_fd = o->from_fd = -1;
    o->n_sent = o->n_acked = 0;
    o->prep_s = 0.0;
}

static int n_staged(const watch *w)
{
    int k = 0;
    for (size_t i = 0; i < w->n_obs; i++)
        k += w->obs[i].staged;
    return k;
}

/* Writes a command to a worker. SIGPIPE (a worker that died) is blocked in this thread for the
 * write and a pending one consumed, so a dead worker is an EPIPE here, never the service's death.
 * 0 when written. */
static int write_cmd(int fd, uint8_t cmd, const char *path)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    const uint32_t len = path ? (uint32_t)strlen(path) : 0;
    int bad = write_all(fd, &cmd, 1) || (path && (write_all(fd, &len, sizeof len) ||
                                                  write_all(fd, path, len)));
    if (bad) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) /* ours, if it came */
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return bad ? -1 : 0;
}

/* Opens o's session: a worker process, or (no isolation) a session here. 0 when open. */
static int start_session(watch *w, wobs *o)
{
    if (!w->o->isolate) {
        if (sso_pipeline_session_create(&w->o->pipe, w->o->open_flags, &o->sess) != SSO_OK) {
            logf_(w, "observation %s: no prep on arrival (%s); the whole pipeline runs when due",
                  o->obs_id, sso_last_error());
            return -1;
        }
        o->staged = 1;
        return 0;
    }
    int cmd[2], res[2];
    if (pipe(cmd) != 0)
        return -1;
    if (pipe(res) != 0) {
        close(cmd[0]), close(cmd[1]);
        return -1;
    }
    fflush(NULL);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(cmd[0]), close(cmd[1]), close(res[0]), close(res[1]);
        return -1;
    }
    if (pid == 0) {
        close(cmd[1]), close(res[0]);
        for (size_t i = 0; i < w->n_obs; i++) /* the other workers' pipes are not this one's */
            if (w->obs[i].staged && w->obs[i].pid > 0)
                close(w->obs[i].to_fd), close(w->obs[i].from_fd);
        if (child_setup(parent))
            _exit(1);
        worker_main(w, cmd[0], res[1]);
    }
    close(cmd[0]), close(res[1]);
    o->staged = 1, o->pid = pid, o->to_fd = cmd[1], o->from_fd = res[0];
    return 0;
}

/* Records o failed at the arrival of exposure k (its prep failed or its worker died): an attempt
 * counted, no search. Returns a service (store) error, SSO_OK otherwise. */
static sso_status prep_failed(watch *w, wobs *o, int k, sso_status ost, const char *detail)
{
    sso_store *store = sso_publisher_store(w->pub);
    char err[300];
    sso_obs_record r;
    int found = 0;
    sso_status st;
    snprintf(err, sizeof err, "%s: %s", sso_strerror(ost), detail);
    end_session(o);
    if ((st = sso_store_obs_begin(store, o->obs_id, o->n, o->last_arrival_us)) != SSO_OK ||
        (st = sso_store_obs_fail(store, o->obs_id, err)) != SSO_OK ||
        (st = sso_store_obs_get(store, o->obs_id, &r, &found)) != SSO_OK)
        return st;
    o->attempts = r.attempts;
    o->state = OBS_FAILED;
    o->failed_n = o->n;
    o->redo_now = 0;
    logf_(w, "observation %s failed at the arrival of exposure %d/%d (%s), before any search "
             "(attempt %d of %d): %s; %s", o->obs_id, k + 1, SSO_QUARTET_N, o->x[k].path,
          o->attempts, max_attempts(w), err,
          o->attempts < max_attempts(w) ? "retried when a file of it arrives or on the next start"
                                        : "given up: not retried (a larger --max-attempts retries "
                                          "it on the next start)");
    return SSO_OK;
}

static void log_prepared(watch *w, wobs *o, int k, double t, uint64_t bytes)
{
    o->prep_s += t;
    logf_(w, "observation %s: exposure %d/%d prepared on arrival in %.2f s (%s; read, prep, "
             "background, cosmics, resampled; %.0f MiB of patch images held)", o->obs_id, k + 1,
          SSO_QUARTET_N, t, o->x[k].path, (double)bytes / 1048576.0);
}

/* Reads one 'A' answer of o's worker (*ok 1 when it prepared the exposure). Returns 1 when a stop
 * cut the read, -1 when the worker died, else 0. */
static int read_ack(watch *w, wobs *o, sso_status *ost, char *err, size_t nerr)
{
    uint8_t cmd = 0;
    int32_t st = SSO_ERR_INTERNAL;
    double t = 0.0;
    uint64_t bytes = 0;
    uint32_t elen = 0;
    int r = read_all(w, o->from_fd, &cmd, 1);
    if (!r && cmd != 'A')
        r = -1;
    if (!r)
        r = read_all(w, o->from_fd, &st, sizeof st);
    if (!r)
        r = read_all(w, o->from_fd, &t, sizeof t);
    if (!r)
        r = read_all(w, o->from_fd, &bytes, sizeof bytes);
    if (!r)
        r = read_all(w, o->from_fd, &elen, sizeof elen);
    err[0] = '\0';
    if (!r && elen) {
        const size_t m = elen < nerr - 1 ? elen : nerr - 1;
        r = read_all(w, o->from_fd, err, m);
        err[m] = '\0';
    }
    if (r)
        return r;
    *ost = (sso_status)st;
    if (st == SSO_OK)
        log_prepared(w, o, o->n_acked, t, bytes);
    return 0;
}

/* A worker that died (its pipe closed early): reaped, and how it died for the failure text. */
static void worker_death(wobs *o, char *err, size_t nerr)
{
    int ws = 0;
    kill(o->pid, SIGKILL); /* if it only closed its pipe */
    while (waitpid(o->pid, &ws, 0) < 0 && errno == EINTR)
        ;
    snprintf(err, nerr, "watch: the prep process died (%s %d)", WIFSIGNALED(ws) ? "signal" : "exit status",
             WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
    o->pid = 0; /* reaped: end_session must not wait for it */
}

/* The answers of o's worker available now (block 0) or all outstanding ones (block 1).
 * 0: done; 1: a stop cut it; 2: a prep failed or the worker died: exposure *k, *ost and err say
 * which and why (the caller records the failure). */
static int collect(watch *w, wobs *o, int block, int *k, sso_status *ost, char *err, size_t nerr)
{
    while (o->staged && o->pid > 0 && o->n_acked < o->n_sent) {
        if (!block) {
            struct pollfd pf = {o->from_fd, POLLIN, 0};
            if (poll(&pf, 1, 0) <= 0)
                return 0;
        }
        *ost = SSO_OK;
        *k = o->n_acked;
        const int r = read_ack(w, o, ost, err, nerr);
        if (r == 1)
            return 1;
        if (r < 0) {
            worker_death(o, err, nerr);
            *ost = SSO_ERR_INTERNAL;
            return 2;
        }
        if (*ost != SSO_OK)
            return 2;
        o->n_acked++;
    }
    return 0;
}

/* Hands o's new exposures to its session, opening one when allowed (n_staged < max_prepared). */
static sso_status feed(watch *w, wobs *o)
{
    if (!staging_on(w) || !o->checked_store || o->state != OBS_WAITING || o->n <= o->n_sent)
        return SSO_OK;
    if (!o->staged) {
        if (n_staged(w) >= w->o->max_prepared) {
            if (!o->deferred_logged++)
                logf_(w, "observation %s: %d observation(s) already being prepared (--max-prepared):"
                         " its exposures wait, or the whole pipeline runs when it is due",
                      o->obs_id, n_staged(w));
            return SSO_OK;
        }
        if (start_session(w, o))
            return SSO_OK; /* no worker: the whole pipeline runs when due */
    }
    /* exposures handed over together go in time order: the first one prepared sets the patch
     * grid (its pointing), and a restart, which finds every file at once, must pick the exposure
     * the first run picked when the files arrived in time order (deterministic alert_ids) */
    for (int i = o->n_sent + 1; i < o->n; i++)
        for (int j = i; j > o->n_sent && o->x[j - 1].mjd_start > o->x[j].mjd_start; j--) {
            wexp t = o->x[j];
            o->x[j] = o->x[j - 1];
            o->x[j - 1] = t;
        }
    while (o->staged && o->n_sent < o->n) {
        const int k = o->n_sent;
        const char *path = o->x[k].path;
        if (o->sess) { /* in the service: prepare now */
            double t = 0.0;
            sso_status ast = sso_pipeline_session_add(o->sess, path, &t);
            o->n_sent++;
            if (ast != SSO_OK) {
                char err[1024];
                snprintf(err, sizeof err, "%s", sso_last_error());
                return prep_failed(w, o, k, ast, err);
            }
            log_prepared(w, o, k, t, (uint64_t)sso_pipeline_session_bytes(o->sess));
            o->n_acked++;
            continue;
        }
        if (write_cmd(o->to_fd, 'A', path)) {
            char err[1024];
            worker_death(o, err, sizeof err);
            return prep_failed(w, o, k, SSO_ERR_INTERNAL, err);
        }
        o->n_sent++;
    }
    return SSO_OK;
}

/* The search of a staged observation: the outstanding preps, then the run; the session ends.
 * A failed prep is the search's failure (its text names the exposure). */
static sso_status search_staged(watch *w, wobs *o, sso_alert **a, size_t *n, sso_pipeline_stats *ps,
                                int *abandoned)
{
    sso_status st;
    *abandoned = 0;
    if (o->sess) {
        st = sso_pipeline_session_run(o->sess, a, n, ps);
        end_session(o);
        return st;
    }
    const int wrote = !write_cmd(o->to_fd, 'R', NULL); /* if not, the acks below find it dead */
    int k = 0;
    sso_status ost = SSO_OK;
    char err[1024] = "";
    const int r = collect(w, o, 1, &k, &ost, err, sizeof err);
    if (r == 1) {
        end_session(o);
        *abandoned = 1;
        return sso_fail(SSO_ERR_INTERNAL, "watch: search abandoned (stop requested)");
    }
    if (r == 2 || !wrote) {
        if (r != 2)
            worker_death(o, err, sizeof err), k = o->n_acked, ost = SSO_ERR_INTERNAL;
        char what[1500];
        if (ost == SSO_ERR_INTERNAL) /* a death: say which exposure it was preparing */
            snprintf(what, sizeof what, "%s while preparing exposure %d/%d (%s)", err, k + 1,
                     SSO_QUARTET_N, o->x[k].path);
        else /* the prep's own error names the file and extension */
            snprintf(what, sizeof what, "%s", err);
        end_session(o);
        return sso_fail(ost, "%s", what);
    }
    uint8_t rc = 0;
    int rr = read_all(w, o->from_fd, &rc, 1);
    if (rr == 1) {
        end_session(o);
        *abandoned = 1;
        return sso_fail(SSO_ERR_INTERNAL, "watch: search abandoned (stop requested)");
    }
    if (rr == 0 && rc == 'R') {
        st = read_result(w, o->from_fd, o->pid, a, n, ps, abandoned);
        o->pid = 0; /* read_result reaped it */
    } else {
        worker_death(o, err, sizeof err);
        st = sso_fail(SSO_ERR_INTERNAL, "%s", err);
    }
    end_session(o);
    return st;
}

/* ---- one observation ----------------------------------------------------------------------------- */

static sso_status write_jsonl(const char *dir, const char *obs_id, const sso_alert *a, size_t n)
{
    char path[4096], tmp[4200];
    sso_status st = SSO_OK;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sso_fail(SSO_ERR_IO, "watch: %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, obs_id);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return sso_fail(SSO_ERR_IO, "watch: %s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n && st == SSO_OK; i++) {
        char *json = NULL;
        if ((st = sso_alert_to_json(&a[i], 1, &json, NULL)) == SSO_OK)
            fprintf(f, "%s\n", json);
        free(json);
    }
    if (fclose(f) != 0 && st == SSO_OK)
        st = sso_fail(SSO_ERR_IO, "watch: %s: %s", tmp, strerror(errno));
    if (st == SSO_OK && rename(tmp, path) != 0)
        st = sso_fail(SSO_ERR_IO, "watch: %s: %s", path, strerror(errno));
    if (st != SSO_OK)
        remove(tmp);
    return st;
}

static void stats_to_record(const sso_pipeline_stats *s, sso_obs_record *r)
{
    const double v[SSO_OBS_N_STAGES] = {s->read_s,       s->prep_s,       s->background_s,
                                        s->cosmic_s,     s->resample_s,   s->difference_s,
                                        s->likelihood_s, s->stack_s,      s->measure_s,
                                        s->fast_s,       s->total_s};
    for (int i = 0; i < SSO_OBS_N_STAGES; i++)
        r->stage_s[i] = v[i];
}

/* Returns a service error (fatal), SSO_OK otherwise; *abandoned when a stop cut the search. */
static sso_status process(watch *w, wobs *o, int *abandoned)
{
    sso_store *store = sso_publisher_store(w->pub);
    const char *paths[SSO_QUARTET_N];
    sso_quartet *q = NULL;
    sso_alert *alerts = NULL;
    size_t n = 0;
    sso_pipeline_stats ps;
    sso_obs_record rec;
    sso_store_put_result pr;
    const int ne = o->n;
    sso_status st;
    *abandoned = 0;
    memset(&ps, 0, sizeof ps);
    for (int i = 0; i < ne; i++)
        paths[i] = o->x[i].path;
    if ((st = sso_store_obs_begin(store, o->obs_id, ne, o->last_arrival_us)) != SSO_OK)
        return st; /* the store is the service's: fatal */
    o->attempts++;
    const int staged = o->staged && o->n_sent == ne;
    if (o->staged && !staged) /* (cannot happen: feed hands over every file before this) */
        end_session(o);
    if (staged)
        logf_(w, "observation %s: search on %d exposures%s; %d of them prepared on arrival (%.2f s "
                 "of prep done before the search), %d to finish first", o->obs_id, ne,
              ne < SSO_QUARTET_N ? " (timeout: proceeding with 3)" : "", o->n_acked, o->prep_s,
              ne - o->n_acked);
    else
        logf_(w, "observation %s: search on %d exposures%s", o->obs_id, ne,
              ne < SSO_QUARTET_N ? " (timeout: proceeding with 3)" : "");
    const double t0 = mono_s();
    sso_status ost = SSO_OK;
    if (staged) {
        ost = search_staged(w, o, &alerts, &n, &ps, abandoned);
    } else {
        ost = sso_quartet_open(paths, ne, w->o->open_flags |
                                              (ne < SSO_QUARTET_N ? SSO_OPEN_ALLOW_THREE : 0),
                               &q);
        if (ost == SSO_OK)
            ost = search_isolated(w, q, &alerts, &n, &ps, abandoned);
        sso_quartet_free(q);
    }
    if (*abandoned) {
        logf_(w, "observation %s: search abandoned on stop; it stays started and is redone on the "
                 "next start", o->obs_id);
        return SSO_OK;
    }
    if (ost != SSO_OK) {
        char err[300];
        sso_obs_record r;
        int found = 0;
        snprintf(err, sizeof err, "%s: %s", sso_strerror(ost), sso_last_error());
        if ((st = sso_store_obs_fail(store, o->obs_id, err)) != SSO_OK ||
            (st = sso_store_obs_get(store, o->obs_id, &r, &found)) != SSO_OK)
            return st;
        o->attempts = r.attempts;
        o->state = OBS_FAILED;
        o->failed_n = ne;
        if (o->attempts < max_attempts(w))
            logf_(w, "observation %s failed (attempt %d of %d): %s; retried when a file of it "
                     "arrives or on the next start", o->obs_id, o->attempts, max_attempts(w), err);
        else
            logf_(w, "observation %s failed (attempt %d of %d): %s; given up: not retried (a "
                     "larger --max-attempts retries it on the next start)", o->obs_id, o->attempts,
                  max_attempts(w), err);
        return SSO_OK;
    }
    for (size_t i = 0; i < n; i++)
        alerts[i].role = w->o->role;
    sso_obs_record_init(&rec, o->obs_id);
    rec.n_exposures = ne;
    rec.last_arrival_us = o->last_arrival_us;
    stats_to_record(&ps, &rec);
    st = sso_publisher_put_observation(w->pub, &rec, alerts, n, SSO_PUT_RETRACT_MISSING, &pr);
    if (st == SSO_OK) {
        o->state = OBS_DONE;
        o->n_done = ne;
        logf_(w, "observation %s done: %zu alert(s) from %d exposures (%zu new, %zu revised, %zu "
                 "unchanged, %zu retracted; last seq %llu); pipeline %.2f s (%s %.2f s), wall "
                 "%.2f s; latency %.3f s from the last file's arrival to the last alert published",
              o->obs_id, n, ne, pr.n_new, pr.n_revised, pr.n_unchanged, pr.n_retracted,
              (unsigned long long)pr.last_seq, ps.total_s,
              staged ? "of which the search after the per-exposure stages" : "search", ps.run_s,
              mono_s() - t0, rec.latency_s);
        if (w->o->out_dir) {
            sso_status wst = write_jsonl(w->o->out_dir, o->obs_id, alerts, n);
            if (wst != SSO_OK)
                logf_(w, "observation %s: %s", o->obs_id, sso_last_error());
        }
    }
    free(alerts);
    return st;
}

/* What the store knows, once per observation in this run. */
static sso_status check_store(watch *w, wobs *o)
{
    sso_obs_record r;
    int found = 0;
    o->checked_store = 1;
    sso_status st = sso_store_obs_get(sso_publisher_store(w->pub), o->obs_id, &r, &found);
    if (st != SSO_OK || !found)
        return st;
    o->attempts = r.attempts;
    if (r.status == SSO_OBS_FAILED && r.attempts >= max_attempts(w)) {
        o->state = OBS_FAILED;
        o->failed_n = r.n_exposures;
        logf_(w, "observation %s failed %d time(s) (last: %s): given up: not retried (a larger "
                 "--max-attempts retries it)", o->obs_id, r.attempts, r.error);
    } else if (r.status == SSO_OBS_FAILED) {
        o->redo_now = r.n_exposures;
        logf_(w, "observation %s failed earlier (attempt %d of %d: %s): retrying", o->obs_id,
              r.attempts, max_attempts(w), r.error);
    } else if (r.status == SSO_OBS_DONE) {
        o->state = OBS_DONE;
        o->n_done = r.n_exposures;
        logf_(w, "observation %s: already done with %d exposures (store)", o->obs_id, r.n_exposures);
    } else if (r.status == SSO_OBS_STARTED) {
        o->redo_now = r.n_exposures;
        logf_(w, "observation %s: interrupted earlier (attempt %d, %d exposures): redoing", o->obs_id,
              r.attempts, r.n_exposures);
    }
    return SSO_OK;
}

/* The observation to process now (the one waiting longest), or NULL; *waiting_timeout 1 when
 * one waits for its 3-exposure timeout. */
static wobs *due(watch *w, int *waiting_timeout)
{
    const double now = mono_s();
    wobs *best = NULL;
    *waiting_timeout = 0;
    for (size_t i = 0; i < w->n_obs; i++) {
        wobs *o = &w->obs[i];
        int ready = 0;
        if (o->n < SSO_QUARTET_N - 1 || o->state == OBS_FAILED)
            continue;
        if (o->state == OBS_DONE && o->n <= o->n_done)
            continue;
        if (o->n == SSO_QUARTET_N || (o->redo_now && o->n >= o->redo_now))
            ready = 1;
        else if (w->o->timeout_s >= 0) {
            ready = now - o->last_arrival_mono >= w->o->timeout_s;
            *waiting_timeout |= !ready;
        }
        if (ready && (!best || o->last_arrival_mono < best->last_arrival_mono))
            best = o;
    }
    return best;
}

sso_status sso_watch_run(const sso_watch_opts *opt)
{
    watch w;
    sso_status st = SSO_OK;
    memset(&w, 0, sizeof w);
    w.o = opt;
    if (!opt || !opt->dir || !opt->pub.store_path)
        return sso_fail(SSO_ERR_ARG, "watch: no directory or no store");
    const int poll_ms = opt->poll_ms > 0 ? opt->poll_ms : 500;
    const double settle_s = poll_ms / 1000.0;
    if ((st = sso_wdir_open(opt->dir, &w.dir)) != SSO_OK ||
        (st = sso_publisher_create(&opt->pub, &w.pub)) != SSO_OK)
        goto exit;
    {
        char pep[256], rep[256];
        sso_publisher_endpoints(w.pub, pep, sizeof pep, rep, sizeof rep);
        logf_(&w, "watching %s (%s, every %d ms); store %s; publishing on %s, replay %s", opt->dir,
              sso_wdir_has_inotify(w.dir) ? "inotify" : "polling", poll_ms, opt->pub.store_path, pep,
              rep[0] ? rep : "off");
    }
    while (!stopping(&w)) {
        int pending = 0, waiting = 0;
        if ((st = sso_wdir_scan(w.dir, settle_s, opt->open_flags, on_ready, on_bad, &w, &pending)) !=
                SSO_OK ||
            (st = w.fatal) != SSO_OK)
            goto exit;
        for (size_t i = 0; i < w.n_obs; i++)
            if (!w.obs[i].checked_store && (st = check_store(&w, &w.obs[i])) != SSO_OK)
                goto exit;
        for (size_t i = 0; i < w.n_obs; i++) { /* prep on arrival: hand over, hear back */
            wobs *po = &w.obs[i];
            int k = 0, r;
            sso_status ost = SSO_OK;
            char err[1024];
            if ((st = feed(&w, po)) != SSO_OK)
                goto exit;
            if ((r = collect(&w, po, 0, &k, &ost, err, sizeof err)) == 2 &&
                (st = prep_failed(&w, po, k, ost, err)) != SSO_OK)
                goto exit;
        }
        wobs *o = due(&w, &waiting);
        if (o) {
            int abandoned = 0;
            o->redo_now = 0;
            if ((st = process(&w, o, &abandoned)) != SSO_OK || abandoned)
                goto exit;
            continue; /* look again at once: another may be due */
        }
        if (opt->once && pending == 0 && !waiting)
            break;
        sso_wdir_wait(w.dir, poll_ms);
    }
    if (stopping(&w))
        logf_(&w, "stop requested: closing");
exit:;
    char detail[1024] = "";
    if (st != SSO_OK) /* keep the detail across the cleanup below */
        snprintf(detail, sizeof detail, "%s", sso_last_error());
    for (size_t i = 0; i < w.n_obs; i++)
        end_session(&w.obs[i]);
    sso_publisher_free(w.pub);
    sso_wdir_free(w.dir);
    for (size_t i = 0; i < w.n_obs; i++)
        for (int k = 0; k < w.obs[i].n; k++)
            free(w.obs[i].x[k].path);
    free(w.obs);
    return st != SSO_OK ? sso_fail(st, "%s", detail) : SSO_OK;
}
