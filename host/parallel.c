/* host/parallel.c: sso_parallel_for (host/parallel.h): contiguous blocks, one thread each, the
 * first on the caller; a block whose thread could not be created runs on the caller after the
 * others are started. sso_parallel_each: one block per worker (sso_parallel_for over the worker
 * ids), each taking items from an atomic counter and keeping its own lowest failure, so workers
 * share nothing but the counter. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/parallel.h"
#include "host/status_internal.h"

enum { MAX_THREADS = 256 };

typedef struct block {
    sso_parallel_fn fn;
    void *ctx;
    int64_t begin, end;
    pthread_t th;
    int started;
} block;

static void *run_block(void *arg)
{
    block *b = arg;
    b->fn(b->ctx, b->begin, b->end);
    return NULL;
}

void sso_parallel_for(int nt, int64_t n, sso_parallel_fn fn, void *ctx)
{
    if (n <= 0 || !fn)
        return;
    if (nt < 1)
        nt = 1;
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    if ((int64_t)nt > n)
        nt = (int)n;
    if (nt == 1) {
        fn(ctx, 0, n);
        return;
    }
    block b[MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        b[t] = (block){fn, ctx, n * t / nt, n * (t + 1) / nt, 0, 0};
        if (t > 0)
            b[t].started = pthread_create(&b[t].th, NULL, run_block, &b[t]) == 0;
    }
    fn(ctx, b[0].begin, b[0].end);
    for (int t = 1; t < nt; t++)
        if (!b[t].started) /* no thread: the caller runs the block */
            fn(ctx, b[t].begin, b[t].end);
    for (int t = 1; t < nt; t++)
        if (b[t].started)
            pthread_join(b[t].th, NULL);
}

typedef struct each_failure {
    int64_t i; /* the worker's lowest failing item, or n when none failed */
    sso_status st;
    char detail[256];
} each_failure;

typedef struct each_job {
    sso_parallel_item_fn fn;
    void *ctx;
    int64_t n;
    _Atomic int64_t next;
    each_failure *fail; /* one per worker */
} each_job;

static void each_worker(void *arg, int64_t w0, int64_t w1)
{
    each_job *j = arg;
    for (int64_t w = w0; w < w1; w++) { /* one worker id per block */
        each_failure *f = &j->fail[w];
        for (int64_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
            const sso_status st = j->fn(j->ctx, i);
            if (st != SSO_OK && i < f->i) {
                f->i = i, f->st = st;
                snprintf(f->detail, sizeof f->detail, "%s", sso_last_error());
            }
        }
    }
}

sso_status sso_parallel_each(int nt, int64_t n, sso_parallel_item_fn fn, void *ctx)
{
    if (n <= 0)
        return SSO_OK;
    if (!fn)
        return sso_fail(SSO_ERR_ARG, "parallel: no item function");
    nt = nt < 1 ? 1 : nt > MAX_THREADS ? MAX_THREADS : nt;
    if ((int64_t)nt > n)
        nt = (int)n;
    each_failure fail[MAX_THREADS];
    for (int w = 0; w < nt; w++)
        fail[w].i = n, fail[w].st = SSO_OK, fail[w].detail[0] = '\0';
    each_job j = {fn, ctx, n, 0, fail};
    sso_parallel_for(nt, nt, each_worker, &j);
    const each_failure *first = NULL;
    for (int w = 0; w < nt; w++)
        if (fail[w].i < n && (!first || fail[w].i < first->i))
            first = &fail[w];
    return first ? sso_fail(first->st, "%s", first->detail) : SSO_OK;
}
