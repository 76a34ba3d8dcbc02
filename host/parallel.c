/* host/parallel.c: sso_parallel_for (host/parallel.h): contiguous blocks, one thread each, the
 * first on the caller; a block whose thread could not be created runs on the caller after the
 * others are started. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "host/parallel.h"

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
