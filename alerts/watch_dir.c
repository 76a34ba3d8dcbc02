/* alerts/watch_dir.c: complete exposure files arriving in a directory (alerts/watch_dir.h).
 *
 * State: an array of sso_wfile, one per candidate name ever seen (a directory of one night holds
 * tens to hundreds of exposures, so lookups are linear). Each scan stats every candidate; a
 * change of size or mtime resets it to pending with a new changed_s; a pending file whose
 * state has been still for settle_s is validated with sso_exposure_open (the same per-file
 * checks sso_quartet_open runs, host/ingest_internal.h) and becomes ready or bad. Ready files
 * are not re-examined (an exposure is written once); bad ones are when they change.
 */
#define _GNU_SOURCE /* inotify_init1 flags, struct stat st_mtim */
#include "alerts/watch_dir.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/inotify.h>
#endif

#include "host/ingest_internal.h"
#include "host/status_internal.h"
#include "sso/alert.h"

struct sso_wdir {
    char *dir;
    int ifd; /* inotify descriptor, -1 when polling only */
    sso_wfile *f;
    size_t n, cap;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int is_candidate(const char *name)
{
    static const char *const suf[] = {".fits", ".fits.fz", ".fit"};
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++) {
        size_t k = strlen(suf[i]);
        if (n > k && !strcmp(name + n - k, suf[i]))
            return 1;
    }
    return 0;
}

sso_status sso_wdir_open(const char *dir, sso_wdir **out)
{
    struct stat sb;
    if (!dir || !out)
        return sso_fail(SSO_ERR_ARG, "watch: NULL argument");
    *out = NULL;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sso_fail(SSO_ERR_IO, "watch: %s is not a readable directory", dir);
    sso_wdir *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        return sso_fail(SSO_ERR_NOMEM, "watch: out of memory");
    }
    w->ifd = -1;
#ifdef __linux__
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd >= 0 &&
        inotify_add_watch(w->ifd, dir,
                          IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE) < 0) {
        close(w->ifd);
        w->ifd = -1;
    }
#endif
    *out = w;
    return SSO_OK;
}

void sso_wdir_free(sso_wdir *w)
{
    if (!w)
        return;
    if (w->ifd >= 0)
        close(w->ifd);
    for (size_t i = 0; i < w->n; i++)
        free(w->f[i].path);
    free(w->f);
    free(w->dir);
    free(w);
}

int sso_wdir_has_inotify(const sso_wdir *w)
{
    return w && w->ifd >= 0;
}

void sso_wdir_wait(sso_wdir *w, int timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (w->ifd < 0) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* a signal ends it early */
        return;
    }
    struct pollfd p = {w->ifd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) > 0) {
        char buf[4096];
        while (read(w->ifd, buf, sizeof buf) > 0) /* drain: the scan looks at the directory */
            ;
    }
}

static sso_wfile *find_or_add(sso_wdir *w, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->f[i].path, path))
            return &w->f[i];
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        sso_wfile *nf = realloc(w->f, cap * sizeof *nf);
        if (!nf)
            return NULL;
        w->f = nf, w->cap = cap;
    }
    sso_wfile *f = &w->f[w->n];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path)))
        return NULL;
    f->size = -1;
    w->n++;
    return f;
}

static void validate(sso_wfile *f, unsigned open_flags, sso_wdir_ready_fn ready, sso_wdir_bad_fn bad,
                     void *user)
{
    sso_exposure *x = NULL;
    sso_status st = sso_exposure_open(f->path, open_flags & SSO_OPEN_VERIFY_CHECKSUM, &x);
    if (st != SSO_OK) {
        f->state = SSO_WF_BAD;
        if (bad)
            bad(user, f, st, st == SSO_ERR_TRUNCATED, sso_last_error());
        return;
    }
    sso_exposure_info ei;
    sso_exposure_get_info(x, &ei);
    snprintf(f->obs_id, sizeof f->obs_id, "%s", ei.obs_id ? ei.obs_id : "");
    f->dither = ei.dither;
    f->mjd_start = ei.mjd_start;
    f->n_detectors = ei.n_detectors;
    f->arrival_us = sso_time_now_us();
    f->state = SSO_WF_READY;
    sso_exposure_free(x);
    if (ready)
        ready(user, f);
}

sso_status sso_wdir_scan(sso_wdir *w, double settle_s, unsigned open_flags, sso_wdir_ready_fn ready,
                         sso_wdir_bad_fn bad, void *user, int *n_pending)
{
    DIR *dp = opendir(w->dir);
    struct dirent *de;
    char path[4096];
    int pending = 0;
    if (!dp)
        return sso_fail(SSO_ERR_IO, "watch: cannot read %s: %s", w->dir, strerror(errno));
    const double now = mono_s();
    while ((de = readdir(dp))) {
        struct stat sb;
        if (!is_candidate(de->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", w->dir, de->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue; /* gone meanwhile, or not a file */
        sso_wfile *f = find_or_add(w, path);
        if (!f) {
            closedir(dp);
            return sso_fail(SSO_ERR_NOMEM, "watch: out of memory");
        }
        const int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        if (f->state == SSO_WF_READY)
            continue;
        if (f->size != (int64_t)sb.st_size || f->mtime_ns != mt) {
            f->size = (int64_t)sb.st_size, f->mtime_ns = mt;
            f->changed_s = now;
            f->state = SSO_WF_PENDING;
        }
        if (f->state == SSO_WF_PENDING && f->size > 0 && now - f->changed_s >= settle_s)
            validate(f, open_flags, ready, bad, user);
        pending += f->state == SSO_WF_PENDING;
    }
    closedir(dp);
    if (n_pending)
        *n_pending = pending;
    return SSO_OK;
}
