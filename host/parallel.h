/* host/parallel.h: a blocking parallel loop over [0, n) for the host's per-row and per-column
 * passes, on POSIX threads created for the call.
 *
 * sso_parallel_for(nt, n, fn, ctx) splits [0, n) into nt contiguous blocks of near-equal size and
 * calls fn(ctx, begin, end) once per non-empty block: block 0 on the calling thread, the others on
 * new threads, joined before it returns. A thread that cannot be created has its block run on the
 * calling thread, so every item is processed exactly once whatever happens; fn must therefore be
 * safe to call for disjoint blocks at once and must not depend on which thread runs a block.
 * Creating and joining a thread costs ~20-50 us: meant for passes of a millisecond and more.
 *
 * sso_parallel_each(nt, n, fn, ctx) is for items whose costs differ widely (a candidate's fit,
 * an epoch's measurement): nt workers (the caller among them, through sso_parallel_for) take the
 * items one at a time from a shared counter and call fn(ctx, i), each item exactly once. fn
 * returns a status; every item runs whatever the others return, and the result is the status of
 * the lowest failing item, its detail (sso_last_error, thread-local to the worker that raised it)
 * raised again on the calling thread; SSO_OK when none failed.
 */
#ifndef SSO_HOST_PARALLEL_H
#define SSO_HOST_PARALLEL_H

#include <stdint.h>
#include "sso/status.h"

typedef void (*sso_parallel_fn)(void *ctx, int64_t begin, int64_t end);

/* nt < 1 counts as 1; n <= 0 calls nothing. */
void sso_parallel_for(int nt, int64_t n, sso_parallel_fn fn, void *ctx);

typedef sso_status (*sso_parallel_item_fn)(void *ctx, int64_t i);

/* nt < 1 counts as 1; n <= 0 calls nothing and returns SSO_OK. */
sso_status sso_parallel_each(int nt, int64_t n, sso_parallel_item_fn fn, void *ctx);

#endif
