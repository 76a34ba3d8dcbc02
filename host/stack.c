/* host/stack.c: slow-mover shift-and-stack, CPU reference (contract in include/sso/stack.h).
 *
 * Data layout. The velocity grid is tabulated once as integer pixel offsets off[v][e] = (dx, dy)
 * (sso_stack_offset_px), n_vel x n_epochs. Before the search, the coverage skip (stack.h): per
 * epoch the map phi > 0 dilated by that epoch's largest |dx|, |dy| (separable: prefix counts along
 * rows, sliding counts down columns, each pass on the search's threads: it runs once per velocity
 * bin and, single-threaded, took longer than the GPU's search of a 4352 px patch), the number of
 * set maps per start pixel, and from it, per row, the runs [xa, xb) of start pixels with
 * >= min_epochs (CSR: row_run[y] .. row_run[y + 1] index runs[]); per epoch and row a flag "holds a
 * covered pixel". Workers take rows y0 = tid, tid + T, ... and, per row and velocity, skip the
 * velocity when fewer than min_epochs epochs land on covered rows, else search the row's runs:
 * start pixels whose every epoch lands inside the image go through the vector kernel (64-px
 * chunks, epochs summed in registers in sso_stack_eval's order, one hit bit per chunk, nothing
 * stored), the few at the image borders and the flagged chunks through sso_stack_eval itself, so
 * every sum equals the per-trajectory evaluator (and the GPU's) bit for bit. Hits (nu >= nu_min)
 * go to a per-worker growing array of 20-byte raw records; nothing per pixel is kept.
 * After the search the raw hits are concatenated and sorted by (y0, x0, velocity): from there on
 * everything is single-threaded and deterministic. Consistency -> merging by explaining away (per
 * epoch bucket grids over the kept candidates' pixels, cell = merge radius) -> refinement, as
 * stack.h describes. Nothing assumes a reference time at the first epoch: times may be negative.
 *
 * Speed (2048 x 2048 patch, 3.8k velocities, one core of the dev machine): ~6e9 trajectory-epoch
 * samples/s with 128-bit vectors (gcc -O2; an AVX2 clone measured +20% and was not worth a
 * dispatch); the search was ~6.5e8/s with per-epoch accumulate passes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/parallel.h"
#include "host/stack_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/stack.h"

struct sso_stack_result {
    sso_stack_cand *c;
    size_t n;
    sso_stack_stats st;
};

typedef struct raw_hit {
    int32_t x, y, iv;
    float sp, sf;
} raw_hit;

typedef struct hit_vec {
    raw_hit *a;
    size_t n, cap;
} hit_vec;

void sso_stack_params_default(sso_stack_params *p)
{
    p->vmax_px_h = 100.0;
    p->pos_tol_px = 0.8;
    p->dv_px_h = 0.0;
    p->nu_min = 5.0f;
    p->consist_k = 3.0f;
    p->consist_frac = 0.5f;
    p->max_epoch_frac = 0.6f;
    p->loo_z = 2.0f;
    p->l2o_z = 3.0f;
    p->min_epochs = 3;
    p->max_epochs = 0;
    p->epoch_snr_min = 0.0f;
    p->merge_radius_px = 3.0;
    p->n_threads = 1;
    p->no_coverage_skip = 0;
    p->backend = SSO_BACKEND_CPU;
    p->bin_on = 0;
    p->bin_vlo_px_h = 0.0;
    p->bin_vhi_px_h = INFINITY;
    p->bin_theta_lo_rad = 0.0;
    p->bin_theta_hi_rad = 3.14159265358979323846;
    p->bin_len_px = 0.0;
}

sso_status sso_stack_trail_bins(double vmax_px_h, double exptime_h, double point_len_px,
                                double len_ratio, double angle_len_px, sso_stack_bin *bins,
                                int max_bins, int *n_bins)
{
    const double pi = 3.14159265358979323846;
    if (!bins || !n_bins || max_bins < 1 || !(vmax_px_h >= 0.0) || !(exptime_h > 0.0) ||
        !(point_len_px > 0.0) || !(len_ratio > 1.0) || !(angle_len_px > 0.0))
        return sso_fail(SSO_ERR_ARG, "trail bins: vmax %g px/h, exptime %g h, point %g px, ratio %g, "
                        "angle %g px", vmax_px_h, exptime_h, point_len_px, len_ratio, angle_len_px);
    const double ltop = vmax_px_h * exptime_h;
    int n = 0;
    bins[n++] = (sso_stack_bin){0.0, ltop < point_len_px ? INFINITY : point_len_px / exptime_h,
                                0.0, pi, 0.0, 0.0};
    for (double lo = point_len_px; lo <= ltop; lo *= len_ratio) {
        const double hi = lo * len_ratio, top = hi > ltop;
        const double lhi = top ? (ltop > lo ? ltop : lo) : hi;
        const int na = (int)ceil(pi * lhi / angle_len_px);
        const double len = sqrt(lo * lhi);
        for (int a = 0; a < na; a++) {
            if (n == max_bins)
                return sso_fail(SSO_ERR_ARG, "trail bins: more than %d needed", max_bins);
            bins[n++] = (sso_stack_bin){lo / exptime_h, top ? INFINITY : hi / exptime_h,
                                        pi * a / na, a + 1 == na ? pi : pi * (a + 1) / na, len,
                                        pi * (a + 0.5) / na};
        }
        if (top)
            break;
    }
    *n_bins = n;
    return SSO_OK;
}

void sso_stack_params_set_bin(sso_stack_params *p, const sso_stack_bin *b)
{
    p->bin_on = 1;
    p->bin_vlo_px_h = b->vlo_px_h, p->bin_vhi_px_h = b->vhi_px_h;
    p->bin_theta_lo_rad = b->theta_lo_rad, p->bin_theta_hi_rad = b->theta_hi_rad;
    p->bin_len_px = b->len_px;
}

int sso_stack_in_bin(const sso_stack_params *p, double vx, double vy)
{
    if (!p->bin_on)
        return 1;
    const double r = hypot(vx, vy);
    if (!(r >= p->bin_vlo_px_h) || !(r < p->bin_vhi_px_h))
        return 0;
    if (r == 0.0)
        return 1; /* no direction: the bin that holds speed 0 takes it whatever its angles */
    double th = atan2(vy, vx);
    if (th < 0.0)
        th += 3.14159265358979323846;
    if (th >= 3.14159265358979323846) /* atan2 gives pi for (-x, +0): the same direction as 0 */
        th = 0.0;
    return th >= p->bin_theta_lo_rad && th < p->bin_theta_hi_rad;
}

sso_status sso_stack_velocity_grid(const double *t_h, int n_epochs, const sso_stack_params *p,
                                   double *dv_px_h, int64_t *n_vel, double *vx, double *vy)
{
    if (!t_h || !p || !dv_px_h || !n_vel || n_epochs < 2 || n_epochs > SSO_STACK_MAX_EPOCHS)
        return sso_fail(SSO_ERR_ARG, "stack: velocity grid needs 2..%d epochs",
                        SSO_STACK_MAX_EPOCHS);
    double tmax = 0.0;
    for (int e = 0; e < n_epochs; e++) {
        if (!isfinite(t_h[e]))
            return sso_fail(SSO_ERR_ARG, "stack: epoch %d time not finite", e);
        tmax = fabs(t_h[e]) > tmax ? fabs(t_h[e]) : tmax;
    }
    double dv = p->dv_px_h;
    if (!(dv > 0.0)) {
        if (!(tmax > 0.0) || !(p->pos_tol_px > 0.0))
            return sso_fail(SSO_ERR_ARG, "stack: cannot derive dv (max|t| %g h, tol %g px)",
                            tmax, p->pos_tol_px);
        dv = sqrt(2.0) * p->pos_tol_px / tmax;
    }
    if (!(p->vmax_px_h >= 0.0) || p->vmax_px_h / dv > 1e4)
        return sso_fail(SSO_ERR_ARG, "stack: vmax %g px/h with dv %g px/h", p->vmax_px_h, dv);
    const double rmax = p->vmax_px_h + dv / sqrt(2.0);
    const int m = (int)floor(rmax / dv);
    int64_t k = 0;
    for (int j = -m; j <= m; j++)
        for (int i = -m; i <= m; i++) {
            double a = i * dv, b = j * dv;
            if (a * a + b * b > rmax * rmax || !sso_stack_in_bin(p, a, b))
                continue;
            if (vx)
                vx[k] = a;
            if (vy)
                vy[k] = b;
            k++;
        }
    *dv_px_h = dv;
    *n_vel = k;
    return SSO_OK;
}

/* ---- coverage ---------------------------------------------------------------------------------- */

enum { ROW_COVERED = 1, ROW_NONZERO = 2 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The passes of one epoch, over rows (horizontal) or 64-column blocks (vertical): each item
 * writes only its own row of hd and rowcov, or its own columns of cnt, so the blocks of
 * sso_parallel_for never share an output byte and the counts are those of one thread. */
typedef struct cover_job {
    const float *psi, *phi;
    int w, h, rx, ry;
    uint8_t *hd, *cnt, *rowcov; /* rowcov: this epoch's h flags */
} cover_job;

enum { COVER_COLS = 64 };

/* Rows [y0, y1): per row the prefix count P of covered pixels (P[x] = covered in [0, x)), then
 * o[x] = P[min(x + rx + 1, w)] - P[max(x - rx, 0)] > 0: three simple passes that vectorise
 * except the prefix sum, ~4x faster than one sliding count with its bounds tests. */
static void cover_rows(void *ctx, int64_t y0, int64_t y1)
{
    const cover_job *j = ctx;
    const int w = j->w, rx = j->rx;
    int32_t small[1024], *pre = w < 1024 ? small : malloc(sizeof(int32_t) * ((size_t)w + 1));
    if (!pre) { /* no memory for the prefix: one row at a time through the small buffer is not
                 * possible either (w >= 1024), so the plain sliding count */
        for (int64_t y = y0; y < y1; y++) {
            const float *f = j->phi + (size_t)y * w, *q = j->psi + (size_t)y * w;
            uint8_t *o = j->hd + (size_t)y * w;
            int run = 0, any = 0, nz = 0;
            for (int x = 0; x < rx && x < w; x++)
                run += f[x] > 0.0f;
            for (int x = 0; x < w; x++) {
                nz |= (f[x] != 0.0f) | (q[x] != 0.0f);
                run += x + rx < w && f[x + rx] > 0.0f;
                run -= x - rx - 1 >= 0 && f[x - rx - 1] > 0.0f;
                o[x] = run > 0;
                any |= run > 0;
            }
            j->rowcov[y] = (uint8_t)((any ? ROW_COVERED : 0) | (nz ? ROW_NONZERO : 0));
        }
        return;
    }
    for (int64_t y = y0; y < y1; y++) {
        const float *f = j->phi + (size_t)y * w, *q = j->psi + (size_t)y * w;
        uint8_t *o = j->hd + (size_t)y * w;
        int nz = 0, any;
        for (int x = 0; x < w; x++) {
            o[x] = f[x] > 0.0f; /* the indicator, replaced by the dilation below */
            nz |= (f[x] != 0.0f) | (q[x] != 0.0f);
        }
        pre[0] = 0;
        for (int x = 0; x < w; x++)
            pre[x + 1] = pre[x] + o[x];
        any = pre[w] > 0;
        const int xm = rx + 1 < w ? rx + 1 : w, xe = w - rx > xm ? w - rx : xm;
        for (int x = 0; x < xm; x++)
            o[x] = pre[x + rx + 1 < w ? x + rx + 1 : w] > 0; /* x - rx <= 0 */
        for (int x = xm; x < xe; x++)
            o[x] = pre[x + rx + 1] - pre[x - rx] > 0;
        for (int x = xe; x < w; x++)
            o[x] = pre[w] - pre[x - rx > 0 ? x - rx : 0] > 0;
        j->rowcov[y] = (uint8_t)((any ? ROW_COVERED : 0) | (nz ? ROW_NONZERO : 0));
    }
    if (pre != small)
        free(pre);
}

/* Columns [64 b0, 64 b1) row by row, with running column sums (on the stack up to 256 columns). */
static void cover_cols(void *ctx, int64_t b0, int64_t b1)
{
    const cover_job *j = ctx;
    const int w = j->w, h = j->h, ry = j->ry;
    const int xa = (int)(b0 * COVER_COLS), xb = (int)(b1 * COVER_COLS < w ? b1 * COVER_COLS : w);
    const int nx = xb - xa;
    int small[4 * COVER_COLS], *col = nx <= 4 * COVER_COLS ? small : malloc(sizeof(int) * (size_t)nx);
    if (!col) { /* no memory for the sums: 4 blocks at a time */
        for (int64_t b = b0; b < b1; b += 4)
            cover_cols(ctx, b, b + 4 < b1 ? b + 4 : b1);
        return;
    }
    memset(col, 0, sizeof(int) * (size_t)nx);
    for (int y = 0; y < ry && y < h; y++)
        for (int i = 0; i < nx; i++)
            col[i] += j->hd[(size_t)y * w + xa + i];
    for (int y = 0; y < h; y++) {
        if (y + ry < h)
            for (int i = 0; i < nx; i++)
                col[i] += j->hd[(size_t)(y + ry) * w + xa + i];
        if (y - ry - 1 >= 0)
            for (int i = 0; i < nx; i++)
                col[i] -= j->hd[(size_t)(y - ry - 1) * w + xa + i];
        uint8_t *cc = j->cnt + (size_t)y * w + xa;
        for (int i = 0; i < nx; i++)
            cc[i] += col[i] > 0;
    }
    if (col != small)
        free(col);
}

/* Per start pixel, the number of epochs whose coverage (phi > 0) dilated by that epoch's largest
 * offsets (rx[e], ry[e]) is set, into cnt (w x h); rowcov[e * h + y] has ROW_COVERED when row y of
 * epoch e holds a covered pixel, ROW_NONZERO when it holds any psi or phi != 0 (a row without it
 * adds exact zeros to every sum). Box dilation is separable: a sliding count along rows, then
 * along columns, each pass on nt threads (rows, then 64-column blocks). */
static int coverage_count(const float *const psi[], const float *const phi[], int ne, int w, int h,
                          const int *rx, const int *ry, int nt, uint8_t *cnt, uint8_t *rowcov)
{
    uint8_t *hd = malloc((size_t)w * h);
    if (!hd)
        return -1;
    memset(cnt, 0, (size_t)w * h);
    for (int e = 0; e < ne; e++) {
        cover_job j = {psi[e], phi[e], w, h, rx[e], ry[e], hd, cnt, rowcov + (size_t)e * h};
        sso_parallel_for(nt, h, cover_rows, &j);
        sso_parallel_for(nt, (w + COVER_COLS - 1) / COVER_COLS, cover_cols, &j);
    }
    free(hd);
    return 0;
}

/* ---- search ----------------------------------------------------------------------------------- */

typedef struct search_ctx {
    const float *const *psi, *const *phi;
    int ne, w, h;
    const int *offx, *offy; /* n_vel x ne */
    int64_t nv;
    float nu_min;
    int nt;
    int min_ep;             /* epochs that must be covered; 0: no skipping */
    const int *runs;        /* [xa, xb) pairs of start pixels to search, rows in CSR order: */
    const int64_t *row_run; /* row y's runs are runs[2 * row_run[y] .. 2 * row_run[y + 1]) */
    const uint8_t *rowcov;  /* ne x h: ROW_COVERED, ROW_NONZERO (coverage_count) */
} search_ctx;

typedef struct worker {
    const search_ctx *c;
    int tid;
    hit_vec hits;
    int64_t n_eval; /* samples evaluated */
    int nomem;
    pthread_t th;
} worker;

static int push_hit(hit_vec *v, raw_hit h)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 1024;
        raw_hit *a = realloc(v->a, cap * sizeof *a);
        if (!a)
            return -1;
        v->a = a;
        v->cap = cap;
    }
    v->a[v->n++] = h;
    return 0;
}

/* The row kernel: nch <= 32 chunks of CH start pixels, every epoch's shifted pixel inside the
 * image. The epochs are summed in registers in epoch order from 0.0f (the adds of sso_stack_eval,
 * so the sums are bit for bit the same) and the threshold predicate is reduced to one bit per
 * chunk; nothing is stored. The chunks with a hit (rare) are evaluated again by sso_stack_eval,
 * which records the hits: the same sums, so none is lost or added. The inner trip count is a
 * constant multiple of the vector width and the pointers are restrict, so gcc's -O2 (very-cheap
 * cost model) vectorises the inner loops without an alias check or a scalar epilogue. An epoch
 * whose shifted row is off the image, or (coverage skip on) holds only zeros, is left out of
 * the sum: it would add exactly 0.0f, and a sum that starts at +0.0f is never -0.0f, so
 * leaving it out changes no bit. */
enum { CH = 64 }; /* small enough that test images (>= ~150 px wide) take this path */

static uint32_t chunk_sum4(const float *restrict p0, const float *restrict p1,
                           const float *restrict p2, const float *restrict p3,
                           const float *restrict f0, const float *restrict f1,
                           const float *restrict f2, const float *restrict f3, int nch, float k2)
{
    uint32_t mask = 0;
    for (int c = 0; c < nch; c++, p0 += CH, p1 += CH, p2 += CH, p3 += CH, f0 += CH, f1 += CH,
             f2 += CH, f3 += CH) {
        int any = 0;
        for (int i = 0; i < CH; i++) {
            float s = 0.0f + p0[i];
            s += p1[i];
            s += p2[i];
            s += p3[i];
            float t = 0.0f + f0[i];
            t += f1[i];
            t += f2[i];
            t += f3[i];
            any |= (s > 0.0f) & (s * s >= k2 * t);
        }
        mask |= (uint32_t)(any != 0) << c;
    }
    return mask;
}

static uint32_t chunk_sum3(const float *restrict p0, const float *restrict p1,
                           const float *restrict p2, const float *restrict f0,
                           const float *restrict f1, const float *restrict f2, int nch, float k2)
{
    uint32_t mask = 0;
    for (int c = 0; c < nch; c++, p0 += CH, p1 += CH, p2 += CH, f0 += CH, f1 += CH, f2 += CH) {
        int any = 0;
        for (int i = 0; i < CH; i++) {
            float s = 0.0f + p0[i];
            s += p1[i];
            s += p2[i];
            float t = 0.0f + f0[i];
            t += f1[i];
            t += f2[i];
            any |= (s > 0.0f) & (s * s >= k2 * t);
        }
        mask |= (uint32_t)(any != 0) << c;
    }
    return mask;
}

static uint32_t chunk_sum2(const float *restrict p0, const float *restrict p1,
                           const float *restrict f0, const float *restrict f1, int nch, float k2)
{
    uint32_t mask = 0;
    for (int c = 0; c < nch; c++, p0 += CH, p1 += CH, f0 += CH, f1 += CH) {
        int any = 0;
        for (int i = 0; i < CH; i++) {
            float s = 0.0f + p0[i];
            s += p1[i];
            float t = 0.0f + f0[i];
            t += f1[i];
            any |= (s > 0.0f) & (s * s >= k2 * t);
        }
        mask |= (uint32_t)(any != 0) << c;
    }
    return mask;
}

/* Any other number of epochs: one accumulate pass per epoch and chunk (L1-resident). */
static uint32_t chunk_sumn(const float *const *p, const float *const *f, int m, int nch, float k2)
{
    float sp[CH], sf[CH];
    uint32_t mask = 0;
    for (int c = 0; c < nch; c++) {
        for (int i = 0; i < CH; i++)
            sp[i] = 0.0f, sf[i] = 0.0f;
        for (int k = 0; k < m; k++) {
            const float *restrict a = p[k] + c * CH, *restrict b = f[k] + c * CH;
            for (int i = 0; i < CH; i++)
                sp[i] += a[i], sf[i] += b[i];
        }
        int any = 0;
        for (int i = 0; i < CH; i++)
            any |= (sp[i] > 0.0f) & (sp[i] * sp[i] >= k2 * sf[i]);
        mask |= (uint32_t)(any != 0) << c;
    }
    return mask;
}

/* Start pixels [xa, xb) of row y0 for velocity iv, one at a time (image borders). */
static int row_scalar(worker *wk, int y0, int iv, int xa, int xb)
{
    const search_ctx *c = wk->c;
    const int *ox = c->offx + (int64_t)iv * c->ne, *oy = c->offy + (int64_t)iv * c->ne;
    for (int x = xa; x < xb; x++) {
        float s, t;
        sso_stack_eval(c->psi, c->phi, c->ne, c->w, c->h, x, y0, ox, oy, &s, &t, NULL, NULL);
        if (sso_stack_pass(s, t, c->nu_min) && push_hit(&wk->hits, (raw_hit){x, y0, iv, s, t}))
            return -1;
    }
    return 0;
}

/* Start pixels [xs, xs + nch CH) of row y0 in vector chunks (m epochs' row pointers pr/fr, shifts
 * dx), 32 chunks a call; chunks with a hit are evaluated again from start pixel xh on. */
static int row_chunks(worker *wk, const float *const *pr, const float *const *fr, const int *dx,
                      int m, int y0, int iv, int xs, int nch, int xh)
{
    const float k2 = wk->c->nu_min * wk->c->nu_min;
    for (int c0 = 0; c0 < nch; c0 += 32) {
        const int n = nch - c0 < 32 ? nch - c0 : 32, x = xs + c0 * CH;
        const float *p[SSO_STACK_MAX_EPOCHS], *f[SSO_STACK_MAX_EPOCHS];
        for (int k = 0; k < m; k++)
            p[k] = pr[k] + x + dx[k], f[k] = fr[k] + x + dx[k];
        uint32_t mask;
        if (m == 4)
            mask = chunk_sum4(p[0], p[1], p[2], p[3], f[0], f[1], f[2], f[3], n, k2);
        else if (m == 3)
            mask = chunk_sum3(p[0], p[1], p[2], f[0], f[1], f[2], n, k2);
        else if (m == 2)
            mask = chunk_sum2(p[0], p[1], f[0], f[1], n, k2);
        else
            mask = chunk_sumn(p, f, m, n, k2);
        for (int k = 0; mask; k++, mask >>= 1) {
            const int a = x + k * CH;
            if ((mask & 1u) && row_scalar(wk, y0, iv, a > xh ? a : xh, a + CH))
                return -1;
        }
    }
    return 0;
}

static void *search_rows(void *arg)
{
    worker *wk = arg;
    const search_ctx *c = wk->c;
    const int w = c->w, h = c->h, ne = c->ne;
    for (int y0 = wk->tid; y0 < h; y0 += c->nt) {
        const int64_t r0 = c->row_run[y0], r1 = c->row_run[y0 + 1];
        if (r0 == r1)
            continue;
        int64_t npx = 0;
        for (int64_t r = r0; r < r1; r++)
            npx += c->runs[2 * r + 1] - c->runs[2 * r];
        for (int64_t iv = 0; iv < c->nv; iv++) {
            const int *ox = c->offx + iv * ne, *oy = c->offy + iv * ne;
            /* the epochs whose shifted row is on the image; the x range where all are inside.
             * With the skip on, an epoch whose shifted row is all zeros is left out of the sums
             * (it adds exact zeros; the 2-epoch pass's maps are 0 where 3 or 4 epochs cover: most
             * rows of 2 of its epochs) */
            const float *pr[SSO_STACK_MAX_EPOCHS], *fr[SSO_STACK_MAX_EPOCHS];
            int dx[SSO_STACK_MAX_EPOCHS], m = 0, ncov = 0, lo = 0, hi = w;
            for (int e = 0; e < ne; e++) {
                const int y = y0 + oy[e];
                if (y < 0 || y >= h)
                    continue;
                ncov += (c->rowcov[(size_t)e * h + y] & ROW_COVERED) != 0;
                if (c->min_ep > 0 && !(c->rowcov[(size_t)e * h + y] & ROW_NONZERO))
                    continue;
                pr[m] = c->psi[e] + (size_t)y * w;
                fr[m] = c->phi[e] + (size_t)y * w;
                dx[m] = ox[e];
                lo = -ox[e] > lo ? -ox[e] : lo;
                hi = w - ox[e] < hi ? w - ox[e] : hi;
                m++;
            }
            if (ncov < c->min_ep) /* cannot reach min_epochs covered epochs */
                continue;
            wk->n_eval += npx * (c->min_ep > 0 ? m : ne);
            if (m == 0) /* every epoch off the image: sums 0, no hit */
                continue;
            for (int64_t r = r0; r < r1; r++) {
                const int xa = c->runs[2 * r], xb = c->runs[2 * r + 1];
                const int ca = xa > lo ? xa : lo, cb = xb < hi ? xb : hi;
                if (cb - ca < CH) { /* no full chunk: all scalar */
                    if (row_scalar(wk, y0, (int)iv, xa, xb))
                        goto nomem;
                    continue;
                }
                if (row_scalar(wk, y0, (int)iv, xa, ca) || row_scalar(wk, y0, (int)iv, cb, xb))
                    goto nomem;
                /* whole chunks from ca, then one moved back to end at cb (hits from where the
                 * whole chunks ended) */
                const int nch = (cb - ca) / CH, xe = ca + nch * CH;
                if (row_chunks(wk, pr, fr, dx, m, y0, (int)iv, ca, nch, ca) ||
                    (xe < cb && row_chunks(wk, pr, fr, dx, m, y0, (int)iv, cb - CH, 1, xe)))
                    goto nomem;
            }
        }
    }
    return NULL;
nomem:
    wk->nomem = 1;
    return NULL;
}

static int cmp_raw(const void *pa, const void *pb)
{
    const raw_hit *a = pa, *b = pb;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    return (a->iv > b->iv) - (a->iv < b->iv);
}

/* ---- consistency, merging, refinement ---------------------------------------------------------- */

typedef struct cand_ix {
    sso_stack_cand c;
    int32_t iv;
} cand_ix;

static int cmp_nu_desc(const void *pa, const void *pb)
{
    const cand_ix *a = pa, *b = pb;
    if (a->c.nu != b->c.nu)
        return a->c.nu > b->c.nu ? -1 : 1;
    if (a->c.gy0 != b->c.gy0)
        return a->c.gy0 < b->c.gy0 ? -1 : 1;
    if (a->c.gx0 != b->c.gx0)
        return a->c.gx0 < b->c.gx0 ? -1 : 1;
    return (a->iv > b->iv) - (a->iv < b->iv);
}

/* The merge claim radius of a kept candidate of strength nu (see the merging step). */
/* A candidate some of whose epochs a stronger one already claimed: do its unclaimed epochs alone
 * (rest: the claimed epochs zeroed) still pass the threshold and the consistency test? Shared by
 * the merge within a search and the merge across velocity bins. */
static int unclaimed_passes(const sso_stack_cand *rest, int ne, const sso_stack_params *p)
{
    float sp = 0.0f, sf = 0.0f;
    for (int e = 0; e < ne; e++)
        sp += rest->psi_e[e], sf += rest->phi_e[e];
    return sso_stack_pass(sp, sf, p->nu_min) && sso_stack_consistent(rest, ne, p);
}

static double claim_radius(const sso_stack_params *p, double nu)
{
    const double ratio = nu > p->nu_min ? nu / p->nu_min : 1.0;
    return p->merge_radius_px * (1.0 + log10(ratio)) + (p->bin_on ? p->bin_len_px : 0.0);
}

int sso_stack_consistent(const sso_stack_cand *c, int ne, const sso_stack_params *p)
{
    float sp = 0.0f, sf = 0.0f;
    for (int e = 0; e < ne; e++)
        sp += c->psi_e[e], sf += c->phi_e[e];
    if (c->n_epochs_used < p->min_epochs || !(sp > 0.0f) || !(sf > 0.0f) ||
        (p->max_epochs > 0 && c->n_epochs_used > p->max_epochs))
        return 0;
    for (int e = 0; e < ne && p->epoch_snr_min > 0.0f; e++)
        if (c->phi_e[e] > 0.0f && c->psi_e[e] < p->epoch_snr_min * sqrtf(c->phi_e[e]))
            return 0;
    for (int e = 0; e < ne; e++) {
        if (c->psi_e[e] > p->max_epoch_frac * sp)
            return 0;
        if (!(c->phi_e[e] > 0.0f))
            continue;
        /* Epoch e against the flux of the OTHER epochs (leave-one-out: a cosmic-ray residual in
         * one epoch must not inflate the mean it is compared with):
         *   |flux_e - f_o| <= k sqrt(sigma_e^2 + sigma_o^2 + (frac f_o)^2),  times phi_e,
         * with f_o = psi_o / phi_o, sigma_o^2 = 1 / phi_o over the other epochs. The fractional
         * term lets bright movers through, whose epochs differ by far more than their noise
         * (self-subtraction of slow movers by the median template, the grid trajectory's pixel
         * offsets); it vanishes where the other epochs hold no flux. */
        const float po = sp - c->psi_e[e], fo_phi = sf - c->phi_e[e];
        if (!(fo_phi > 0.0f))
            return 0;
        const float fo = po / fo_phi;
        const float frac = p->consist_frac * (fo > 0.0f ? fo : 0.0f) * c->phi_e[e];
        const float var = c->phi_e[e] + c->phi_e[e] * c->phi_e[e] / fo_phi + frac * frac;
        if (fabsf(c->psi_e[e] - fo * c->phi_e[e]) > p->consist_k * sqrtf(var))
            return 0;
    }
    /* no single epoch (loo_z) nor pair of epochs (l2o_z) carries it: without its strongest one or
     * two epochs (by psi_e/sqrt(phi_e)) the rest stays significant */
    const float n = (float)c->n_epochs_used;
    int top[2] = {-1, -1};
    for (int e = 0; e < ne; e++) {
        if (!(c->phi_e[e] > 0.0f))
            continue;
        const float s = c->psi_e[e] / sqrtf(c->phi_e[e]);
        if (top[0] < 0 || s > c->psi_e[top[0]] / sqrtf(c->phi_e[top[0]]))
            top[1] = top[0], top[0] = e;
        else if (top[1] < 0 || s > c->psi_e[top[1]] / sqrtf(c->phi_e[top[1]]))
            top[1] = e;
    }
    for (int k = 1; k <= 2; k++) {
        const float z = k == 1 ? p->loo_z : p->l2o_z;
        if (!(z > 0.0f) || c->n_epochs_used < k + 1 || top[k - 1] < 0)
            continue;
        float rp = sp, rf = sf;
        for (int j = 0; j < k; j++)
            rp -= c->psi_e[top[j]], rf -= c->phi_e[top[j]];
        const float need = p->nu_min * sqrtf((n - (float)k) / n) - z;
        if (!(rf > 0.0f) || rp / sqrtf(rf) < need)
            return 0;
    }
    return 1;
}

/* Score of pixel (x, y) of epoch e: psi/sqrt(phi), or -inf off the image or masked. */
static double snr_at(const float *psi, const float *phi, int w, int h, int x, int y)
{
    if (x < 0 || x >= w || y < 0 || y >= h)
        return -INFINITY;
    size_t i = (size_t)y * w + x;
    return phi[i] > 0.0f ? psi[i] / sqrt(phi[i]) : -INFINITY;
}

/* Vertex offset of the peak through (-1, a), (0, b), (1, c), clamped to [-0.5, 0.5]: a Gaussian
 * (parabola through the logarithms, exact for the ~Gaussian matched-filter peak, where a parabola
 * is biased towards the pixel centre) when all three are positive, else a parabola. */
static double parabola_peak(double a, double b, double c)
{
    if (a > 0.0 && b > 0.0 && c > 0.0 && isfinite(a) && isfinite(c))
        a = log(a), b = log(b), c = log(c);
    double den = a - 2.0 * b + c;
    if (!isfinite(a) || !isfinite(c) || !(den < 0.0))
        return 0.0;
    double d = 0.5 * (a - c) / den;
    return d < -0.5 ? -0.5 : d > 0.5 ? 0.5 : d;
}

/* Vertex of the quadric fitted by least squares to the 3x3 scores around pixel (bx, by) (their
 * logarithms when all are positive: exact for a Gaussian peak of any orientation and elongation,
 * which the 1-D parabolas in x and in y are not: on the elongated peak of a trail template at an
 * angle they find where the ridge crosses the peak's row and column, ~0.1-0.2 px off along it).
 * Orthogonal polynomials on the 3x3 grid: f = a + b x + c y + d (x^2 - 2/3) + g (y^2 - 2/3) + e x y
 * with b = sum x f / 6, c = sum y f / 6, d = sum (x^2 - 2/3) f / 2, g likewise, e = sum x y f / 4.
 * Returns 0 (offsets unset) when a value is missing, the quadric has no maximum, or its vertex is
 * more than 1 px away. */
static int peak2d(const float *psi, const float *phi, int w, int h, int bx, int by, double *ox,
                  double *oy)
{
    double f[3][3];
    int pos = 1;
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 3; i++) {
            f[j][i] = snr_at(psi, phi, w, h, bx + i - 1, by + j - 1);
            if (!isfinite(f[j][i]))
                return 0;
            pos &= f[j][i] > 0.0;
        }
    double b = 0, c = 0, d = 0, g = 0, e = 0;
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 3; i++) {
            const double v = pos ? log(f[j][i]) : f[j][i], x = i - 1, y = j - 1;
            b += x * v / 6.0, c += y * v / 6.0, e += x * y * v / 4.0;
            d += (x * x - 2.0 / 3.0) * v / 2.0, g += (y * y - 2.0 / 3.0) * v / 2.0;
        }
    /* gradient zero: [2d e; e 2g] (x, y) = -(b, c); a maximum needs d < 0 and 4 d g > e^2 */
    const double det = 4.0 * d * g - e * e;
    if (!(d < 0.0) || !(det > 0.0))
        return 0;
    const double x = (-b * 2.0 * g + c * e) / det, y = (-c * 2.0 * d + b * e) / det;
    if (!(fabs(x) <= 1.0) || !(fabs(y) <= 1.0))
        return 0;
    *ox = x, *oy = y;
    return 1;
}

/* Sub-pixel start and velocity: per-epoch peaks near the grid trajectory, then a weighted line. */
static void refine(sso_stack_cand *c, const float *const psi[], const float *const phi[], int ne,
                   int w, int h, const double *t_h, const int *ox, const int *oy)
{
    double sw = 0, st = 0, stt = 0, sx = 0, sy = 0, stx = 0, sty = 0;
    int used = 0;
    for (int e = 0; e < ne; e++) {
        int px = c->gx0 + ox[e], py = c->gy0 + oy[e];
        double best = snr_at(psi[e], phi[e], w, h, px, py);
        int bx = px, by = py;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                double s = snr_at(psi[e], phi[e], w, h, px + dx, py + dy);
                if (s > best)
                    best = s, bx = px + dx, by = py + dy;
            }
        if (!(best > 0.0))
            continue;
        double fx, fy;
        if (peak2d(psi[e], phi[e], w, h, bx, by, &fx, &fy)) {
            fx += bx, fy += by;
        } else {
            fx = bx + parabola_peak(snr_at(psi[e], phi[e], w, h, bx - 1, by), best,
                                    snr_at(psi[e], phi[e], w, h, bx + 1, by));
            fy = by + parabola_peak(snr_at(psi[e], phi[e], w, h, bx, by - 1), best,
                                    snr_at(psi[e], phi[e], w, h, bx, by + 1));
        }
        double wt = best * best, t = t_h[e];
        sw += wt, st += wt * t, stt += wt * t * t;
        sx += wt * fx, sy += wt * fy, stx += wt * t * fx, sty += wt * t * fy;
        used++;
    }
    double det = sw * stt - st * st;
    if (used < 2 || !(det > 1e-12 * sw * sw))
        return;
    double vx = (sw * stx - st * sx) / det, vy = (sw * sty - st * sy) / det;
    double x0 = (sx - vx * st) / sw, y0 = (sy - vy * st) / sw;
    /* a refinement that wanders off the grid trajectory (noise peak) is not taken */
    for (int e = 0; e < ne; e++) {
        double ex = x0 + vx * t_h[e] - (c->gx0 + ox[e]), ey = y0 + vy * t_h[e] - (c->gy0 + oy[e]);
        if (fabs(ex) > 2.0 || fabs(ey) > 2.0)
            return;
    }
    c->x0_px = x0, c->y0_px = y0, c->vx_px_h = vx, c->vy_px_h = vy;
}


/* The search on the GPU (kernels/stack.cu) into worker 0's hit list. The device keeps hits at a
 * threshold 1e-4 below nu_min^2 (its sums are the CPU's bit for bit, see the kernel; the margin
 * only guards against a device or compiler that rounds differently), and every hit is evaluated
 * again here with sso_stack_eval and the exact predicate: the raw list is the CPU's, except for
 * hits the CPU's (row, velocity) coverage skip never evaluates, which fail consistency anyway. */
static sso_status search_cuda(const search_ctx *c, const double *vx, const double *vy, double dv,
                              worker *wk, sso_stack_stats *ss)
{
    const float k2 = c->nu_min * c->nu_min;
    const sso_k_stack_job job = {c->psi, c->phi, c->ne, c->w, c->h, c->nv, c->offx, c->offy, vx, vy,
                                 dv, k2 * (1.0f - 1e-4f), c->min_ep ? c->runs : NULL,
                                 c->min_ep ? c->row_run : NULL};
    sso_k_stack_hit *hits = NULL;
    size_t n = 0;
    sso_status st = sso_k_stack_search(&job, &hits, &n, &wk->n_eval, &ss->kernel_s);
    for (size_t i = 0; st == SSO_OK && i < n; i++) {
        const int iv = hits[i].iv;
        float s, t;
        sso_stack_eval(c->psi, c->phi, c->ne, c->w, c->h, hits[i].x, hits[i].y, c->offx + (int64_t)iv * c->ne,
                       c->offy + (int64_t)iv * c->ne, &s, &t, NULL, NULL);
        if (sso_stack_pass(s, t, c->nu_min) &&
            push_hit(&wk->hits, (raw_hit){hits[i].x, hits[i].y, iv, s, t}))
            st = sso_fail(SSO_ERR_NOMEM, "stack: %zu GPU hits", n);
    }
    ss->n_gpu_hits = (int64_t)n;
    free(hits);
    return st;
}

sso_status sso_stack_slow(const float *const psi[], const float *const phi[], int n_epochs, int w,
                          int h, const double *t_h, const sso_stack_params *pp,
                          sso_stack_result **out)
{
    if (!psi || !phi || !t_h || !out || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "stack: bad arguments (%d x %d)", w, h);
    *out = NULL;
    sso_stack_params p;
    if (pp)
        p = *pp;
    else
        sso_stack_params_default(&p);
    if (!(p.nu_min > 0.0f) || p.n_threads < 1 || p.n_threads > 256 || !(p.merge_radius_px >= 0.0) ||
        p.max_epochs < 0 || !(p.epoch_snr_min >= 0.0f))
        return sso_fail(SSO_ERR_ARG, "stack: nu_min %g, threads %d, merge radius %g, max epochs %d, "
                        "epoch SNR floor %g", p.nu_min, p.n_threads, p.merge_radius_px, p.max_epochs,
                        p.epoch_snr_min);
    for (int e = 0; e < n_epochs && e < SSO_STACK_MAX_EPOCHS; e++)
        if (!psi[e] || !phi[e])
            return sso_fail(SSO_ERR_ARG, "stack: epoch %d has no psi/phi", e);
    sso_status st;
    double dv;
    int64_t nv;
    if ((st = sso_stack_velocity_grid(t_h, n_epochs, &p, &dv, &nv, NULL, NULL)))
        return st;
    const int ne = n_epochs;
    const size_t nva = nv > 0 ? (size_t)nv : 1; /* an empty velocity bin searches nothing */
    double *vx = malloc(sizeof(double) * nva), *vy = malloc(sizeof(double) * nva);
    int *offx = malloc(sizeof(int) * nva * ne), *offy = malloc(sizeof(int) * nva * ne);
    worker *wk = calloc((size_t)p.n_threads, sizeof *wk);
    raw_hit *all = NULL;
    cand_ix *cs = NULL;
    int32_t *head = NULL, *next = NULL;
    uint8_t *cnt = NULL, *rowcov = NULL;
    int *runs = NULL;
    int64_t *row_run = NULL;
    sso_stack_result *r = calloc(1, sizeof *r);
    int nstarted = 0;
    if (!vx || !vy || !offx || !offy || !wk || !r) {
        st = sso_fail(SSO_ERR_NOMEM, "stack: velocity tables (%lld velocities)", (long long)nv);
        goto exit;
    }
    sso_stack_velocity_grid(t_h, n_epochs, &p, &dv, &nv, vx, vy);
    for (int64_t v = 0; v < nv; v++)
        for (int e = 0; e < ne; e++) {
            offx[v * ne + e] = sso_stack_offset_px(vx[v], t_h[e]);
            offy[v * ne + e] = sso_stack_offset_px(vy[v], t_h[e]);
        }

    /* 1. search: the start pixels that can reach min_epochs covered epochs (all when the skip is
     * off), as runs per row, then the threads */
    double t0 = now_s();
    const int min_ep = p.no_coverage_skip ? 0 : p.min_epochs < 0 ? 0 : p.min_epochs;
    int rx[SSO_STACK_MAX_EPOCHS] = {0}, ry[SSO_STACK_MAX_EPOCHS] = {0};
    for (int64_t v = 0; v < nv; v++)
        for (int e = 0; e < ne; e++) {
            rx[e] = abs(offx[v * ne + e]) > rx[e] ? abs(offx[v * ne + e]) : rx[e];
            ry[e] = abs(offy[v * ne + e]) > ry[e] ? abs(offy[v * ne + e]) : ry[e];
        }
    cnt = malloc((size_t)w * h);
    rowcov = malloc((size_t)ne * h);
    row_run = malloc(sizeof(int64_t) * ((size_t)h + 1));
    if (!cnt || !rowcov || !row_run || coverage_count(psi, phi, ne, w, h, rx, ry, p.n_threads, cnt, rowcov)) {
        st = sso_fail(SSO_ERR_NOMEM, "stack: coverage maps (%d x %d)", w, h);
        goto exit;
    }
    int64_t nruns = 0;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        nruns = 0;
        for (int y = 0; y < h; y++) {
            const uint8_t *cr = cnt + (size_t)y * w;
            row_run[y] = nruns;
            for (int x = 0; x < w;) {
                while (x < w && cr[x] < min_ep)
                    x++;
                const int xa = x;
                while (x < w && cr[x] >= min_ep)
                    x++;
                if (x > xa) {
                    if (pass)
                        runs[2 * nruns] = xa, runs[2 * nruns + 1] = x;
                    nruns++;
                }
            }
        }
        row_run[h] = nruns;
        if (!pass && !(runs = malloc(sizeof(int) * 2 * (size_t)(nruns ? nruns : 1)))) {
            st = sso_fail(SSO_ERR_NOMEM, "stack: %lld coverage runs", (long long)nruns);
            goto exit;
        }
    }
    free(cnt);
    cnt = NULL;
    search_ctx ctx = {psi,     phi,         ne,          w,    h,       offx,  offy,
                      nv,      p.nu_min,    p.n_threads, min_ep, runs, row_run, rowcov};
    int on_gpu = sso_backend_resolve(p.backend) == SSO_BACKEND_CUDA;
    r->st.backend = on_gpu ? SSO_BACKEND_CUDA : SSO_BACKEND_CPU;
    if (on_gpu && (st = search_cuda(&ctx, vx, vy, dv, &wk[0], &r->st)) == SSO_ERR_NO_DEVICE &&
        p.backend == SSO_BACKEND_AUTO) /* AUTO: the device was refused, the CPU searches */
        on_gpu = 0, st = SSO_OK, r->st.backend = SSO_BACKEND_CPU;
    for (int t = 0; t < p.n_threads && !on_gpu; t++) {
        wk[t].c = &ctx;
        wk[t].tid = t;
        if (t > 0 && pthread_create(&wk[t].th, NULL, search_rows, &wk[t])) {
            st = sso_fail(SSO_ERR_INTERNAL, "stack: could not start worker %d", t);
            break;
        }
        nstarted = t + 1;
    }
    if (nstarted >= 1)
        search_rows(&wk[0]);
    for (int t = 1; t < nstarted; t++)
        pthread_join(wk[t].th, NULL);
    r->st.search_s = now_s() - t0;
    if (st)
        goto exit;
    size_t nraw = 0;
    for (int t = 0; t < p.n_threads; t++) {
        if (wk[t].nomem) {
            st = sso_fail(SSO_ERR_NOMEM, "stack: candidate list of worker %d", t);
            goto exit;
        }
        nraw += wk[t].hits.n;
    }
    all = malloc(sizeof(raw_hit) * (nraw ? nraw : 1));
    cs = malloc(sizeof(cand_ix) * (nraw ? nraw : 1));
    if (!all || !cs) {
        st = sso_fail(SSO_ERR_NOMEM, "stack: %zu raw candidates", nraw);
        goto exit;
    }
    nraw = 0;
    for (int t = 0; t < p.n_threads; t++) {
        if (wk[t].hits.n) /* a worker without hits has no array: memcpy from NULL is undefined */
            memcpy(all + nraw, wk[t].hits.a, sizeof(raw_hit) * wk[t].hits.n);
        nraw += wk[t].hits.n;
    }
    if (nraw)
        qsort(all, nraw, sizeof *all, cmp_raw);

    /* 2. consistency */
    size_t ncons = 0;
    for (size_t i = 0; i < nraw; i++) {
        cand_ix *ci = &cs[ncons];
        memset(ci, 0, sizeof *ci);
        sso_stack_cand *c = &ci->c;
        float sp, sf;
        const int iv = all[i].iv;
        c->n_epochs_used = sso_stack_eval(psi, phi, ne, w, h, all[i].x, all[i].y, offx + iv * ne,
                                          offy + iv * ne, &sp, &sf, c->psi_e, c->phi_e);
        if (!sso_stack_consistent(c, ne, &p))
            continue;
        c->gx0 = all[i].x, c->gy0 = all[i].y;
        c->gvx_px_h = vx[iv], c->gvy_px_h = vy[iv];
        c->x0_px = c->gx0, c->y0_px = c->gy0, c->vx_px_h = vx[iv], c->vy_px_h = vy[iv];
        c->nu = sp / sqrtf(sf);
        c->flux_e = sp / sf;
        c->flux_err_e = 1.0f / sqrtf(sf);
        ci->iv = iv;
        ncons++;
    }
    qsort(cs, ncons, sizeof *cs, cmp_nu_desc);

    /* 3. merging by explaining away: in nu order, an epoch of a candidate is "claimed" when a kept
     * (stronger) candidate's pixel at that epoch is within merge_radius_px in x and y; the claimed
     * epochs are dropped and the candidate is kept only if the rest still passes the threshold and
     * the consistency tests. Exact and near duplicates lose every epoch; a trajectory that borrows
     * one epoch of a bright object's core or wing and adds noise elsewhere loses that epoch and
     * falls below threshold; a second object that crosses the first at one epoch keeps the others.
     * The claim radius grows with the kept candidate's strength, R_k = merge_radius_px * (1 +
     * log10(nu_k / nu_min)): the matched-filter response of a bright object stays above threshold
     * several pixels out (the VIS PSF's Airy ring and spikes hold ~5% of the light beyond 8 px), so
     * a fixed 3 px let wing trajectories of nu ~300 movers through as duplicates 2-4 px away.
     * Lookup: per epoch a bucket grid (cell = the largest radius) over the kept candidates' pixels. */
    const double nu_top = ncons ? (double)cs[0].c.nu : (double)p.nu_min;
    const int rad = (int)ceil(claim_radius(&p, nu_top));
    const int cell = rad > 0 ? rad : 1;
    const int gw = w / cell + 1, gh = h / cell + 1;
    const size_t ng = (size_t)gw * gh;
    head = malloc(sizeof(int32_t) * ng * ne);
    next = malloc(sizeof(int32_t) * (ncons ? ncons : 1) * ne);
    if (!head || !next) {
        st = sso_fail(SSO_ERR_NOMEM, "stack: merge grid");
        goto exit;
    }
    for (size_t i = 0; i < ng * ne; i++)
        head[i] = -1;
    size_t nkeep = 0;
    for (size_t i = 0; i < ncons; i++) {
        const int *oxi = offx + cs[i].iv * ne, *oyi = offy + cs[i].iv * ne;
        sso_stack_cand rest = cs[i].c;
        int claimed = 0;
        for (int e = 0; e < ne; e++) {
            if (!(cs[i].c.phi_e[e] > 0.0f))
                continue;
            const int px = cs[i].c.gx0 + oxi[e], py = cs[i].c.gy0 + oyi[e];
            const int cx = px / cell, cy = py / cell; /* on the image: phi_e > 0 */
            int hit = 0;
            for (int gy = cy - 1; gy <= cy + 1 && !hit; gy++)
                for (int gx = cx - 1; gx <= cx + 1 && !hit; gx++) {
                    if (gx < 0 || gy < 0 || gx >= gw || gy >= gh)
                        continue;
                    for (int32_t k = head[(size_t)e * ng + (size_t)gy * gw + gx]; k >= 0 && !hit;
                         k = next[(size_t)k * ne + e]) {
                        int ddx = px - (cs[k].c.gx0 + offx[cs[k].iv * ne + e]);
                        int ddy = py - (cs[k].c.gy0 + offy[cs[k].iv * ne + e]);
                        const double rk = claim_radius(&p, cs[k].c.nu);
                        hit = abs(ddx) <= rk && abs(ddy) <= rk;
                    }
                }
            if (hit) {
                rest.psi_e[e] = rest.phi_e[e] = 0.0f;
                rest.n_epochs_used--;
                claimed = 1;
            }
        }
        if (claimed && !unclaimed_passes(&rest, ne, &p))
            continue;
        /* keep (with its full values): compact in place (nkeep <= i), link into each epoch's grid */
        cs[nkeep] = cs[i];
        for (int e = 0; e < ne; e++) {
            next[nkeep * ne + e] = -1;
            if (!(cs[nkeep].c.phi_e[e] > 0.0f))
                continue;
            const int px = cs[nkeep].c.gx0 + oxi[e], py = cs[nkeep].c.gy0 + oyi[e];
            const size_t hc = (size_t)e * ng + (size_t)(py / cell) * gw + (size_t)(px / cell);
            next[nkeep * ne + e] = head[hc];
            head[hc] = (int32_t)nkeep;
        }
        nkeep++;
    }

    /* 4. refinement and output */
    r->c = malloc(sizeof(sso_stack_cand) * (nkeep ? nkeep : 1));
    if (!r->c) {
        st = sso_fail(SSO_ERR_NOMEM, "stack: %zu candidates", nkeep);
        goto exit;
    }
    for (size_t i = 0; i < nkeep; i++) {
        r->c[i] = cs[i].c;
        refine(&r->c[i], psi, phi, ne, w, h, t_h, offx + cs[i].iv * ne, offy + cs[i].iv * ne);
    }
    r->n = nkeep;
    r->st.dv_px_h = dv;
    r->st.n_velocities = nv;
    r->st.n_samples = 0;
    for (int t = 0; t < p.n_threads; t++)
        r->st.n_samples += wk[t].n_eval;
    r->st.n_skipped = (int64_t)w * h * nv * ne - r->st.n_samples;
    r->st.n_raw = (int64_t)nraw;
    r->st.n_consistent = (int64_t)ncons;
    r->st.n_merged = (int64_t)nkeep;
    *out = r;
    r = NULL;
exit:
    for (int t = 0; wk && t < p.n_threads; t++)
        free(wk[t].hits.a);
    free(wk);
    free(vx), free(vy), free(offx), free(offy);
    free(all), free(cs), free(head), free(next);
    free(cnt), free(rowcov), free(runs), free(row_run);
    sso_stack_result_free(r);
    return st;
}

/* ---- merging across searches ----------------------------------------------------------------- */

static int cmp_cand_nu_desc(const void *pa, const void *pb)
{
    const sso_stack_cand *a = pa, *b = pb;
    if (a->nu != b->nu)
        return a->nu > b->nu ? -1 : 1;
    if (a->y0_px != b->y0_px)
        return a->y0_px < b->y0_px ? -1 : 1;
    if (a->x0_px != b->x0_px)
        return a->x0_px < b->x0_px ? -1 : 1;
    if (a->vx_px_h != b->vx_px_h)
        return a->vx_px_h < b->vx_px_h ? -1 : 1;
    return (a->vy_px_h > b->vy_px_h) - (a->vy_px_h < b->vy_px_h);
}

sso_status sso_stack_merge(sso_stack_cand *c, size_t n, int ne, const double *t_h,
                           double exptime_h, const sso_stack_params *pp, size_t *n_keep)
{
    if ((!c && n) || !t_h || !n_keep || ne < 1 || ne > SSO_STACK_MAX_EPOCHS || !(exptime_h >= 0.0))
        return sso_fail(SSO_ERR_ARG, "stack merge: bad arguments (%zu candidates, %d epochs)", n, ne);
    sso_stack_params p;
    if (pp)
        p = *pp;
    else
        sso_stack_params_default(&p);
    p.bin_on = 0; /* the trails' lengths come from each pair's velocities */
    *n_keep = 0;
    if (n == 0)
        return SSO_OK;
    qsort(c, n, sizeof *c, cmp_cand_nu_desc);
    /* O(n_keep n) pair tests: a patch holds a few thousand candidates at most */
    size_t nkeep = 0;
    for (size_t i = 0; i < n; i++) {
        sso_stack_cand rest = c[i];
        int claimed = 0;
        for (int e = 0; e < ne; e++) {
            if (!(c[i].phi_e[e] > 0.0f))
                continue;
            const long px = lround(c[i].x0_px + c[i].vx_px_h * t_h[e]);
            const long py = lround(c[i].y0_px + c[i].vy_px_h * t_h[e]);
            int hit = 0;
            for (size_t k = 0; k < nkeep && !hit; k++) {
                if (!(c[k].phi_e[e] > 0.0f))
                    continue;
                const long qx = lround(c[k].x0_px + c[k].vx_px_h * t_h[e]);
                const long qy = lround(c[k].y0_px + c[k].vy_px_h * t_h[e]);
                /* trail templates respond up to half their length beyond the PSF's reach:
                 * the claim grows by both trails' half lengths */
                const double rk = claim_radius(&p, c[k].nu) +
                                  0.5 * exptime_h * (hypot(c[k].vx_px_h, c[k].vy_px_h) +
                                                     hypot(c[i].vx_px_h, c[i].vy_px_h));
                hit = labs(px - qx) <= rk && labs(py - qy) <= rk;
            }
            if (hit) {
                rest.psi_e[e] = rest.phi_e[e] = 0.0f;
                rest.n_epochs_used--;
                claimed = 1;
            }
        }
        if (claimed && !unclaimed_passes(&rest, ne, &p))
            continue;
        c[nkeep++] = c[i];
    }
    *n_keep = nkeep;
    return SSO_OK;
}

size_t sso_stack_result_count(const sso_stack_result *r) { return r ? r->n : 0; }

const sso_stack_cand *sso_stack_result_get(const sso_stack_result *r, size_t i)
{
    return r && i < r->n ? &r->c[i] : NULL;
}

const sso_stack_stats *sso_stack_result_stats(const sso_stack_result *r) { return r ? &r->st : NULL; }

void sso_stack_result_free(sso_stack_result *r)
{
    if (!r)
        return;
    free(r->c);
    free(r);
}
