/* host/fast.c: fast movers by streak detection, linking and a guided trailed stack (CPU reference).
 *
 * Contract in include/sso/fast.h. Design:
 *   Likelihood. Per epoch psi_psf/phi_psf with the PSF (sso_likelihood) and the weight images
 *     DW = D/V, W = 1/V (0 where masked) for exact-template measurements.
 *   Bank (the cost). For a trail whose long axis lies on a line, the trailed matched filter is, to
 *     within the line's sampling, the sum of psi_psf along the segment (psi_psf is D correlated
 *     with the PSF; the trail template is the PSF averaged along the segment). So per angle one
 *     shear pass reads psi_psf and phi_psf along every line of that angle (host/fast_math.h: major
 *     axis in integer steps, minor axis interpolated), prefix sums make every segment sum two loads,
 *     and each length is evaluated at starts every n/8 samples along the line (a shift of 1/8 of
 *     the trail loses < 1% SNR) and every line (<= 1 px apart across). The raw statistic
 *     r = sum psi / sqrt(sum phi) has a noise scale c(L, theta) set by the PSF's autocorrelation
 *     along the line (and by any correlation of the noise: resampling); c is measured per (L,
 *     theta) on the map itself as MAD / 0.6745 so that SNR = r / c is N(0,1) on noise. Angles:
 *     n0 * 2^k with n0 = ceil(pi Lmin / (ang_k FWHM)); a length uses the coarsest set with spacing
 *     <= ang_k FWHM / L; the cost is one pass per angle of the finest set, ~ N pixels each.
 *     Kept: samples above nu_epoch that are local maxima over their 4 neighbours in the map.
 *   Suppression (per epoch, by SNR): a sample is dropped if its centre lies within 3 px of a kept
 *     streak's segment and its angle is within 0.2 rad (sub- and super-segments, neighbours), or if
 *     3 of its 5 quarter points do (any angle); a streak crossing another is kept. Then explaining
 *     away: each kept streak's model (flux x template) is subtracted from a residual copy of DW,
 *     and later samples are refined and measured on the residual: what a brighter streak explains
 *     (partial overlaps at other angles and lengths) falls below nu_epoch and is dropped.
 *   Measurement: the exact trail model (the PSF bilinearly shifted to points <= 0.25 px apart
 *     along the segment and averaged: sso_tmpl_trail_px's definition, splatted into a box around
 *     the segment) gives psi = sum DW T, phi = sum W T^2; (xc, yc, L, theta) are refined by a
 *     coordinate search with parabolic steps maximising psi / sqrt(phi). Width test: the same with
 *     a delta kernel (a 1-px-wide line); sharp if that fits better by > 2%.
 *   Linking and guided stack: see include/sso/fast.h. The local velocity grid keeps the seed
 *     epoch's position and moves the farthest epoch's by up to +-6 px in 0.5 px steps (line sums,
 *     cheap); the best grid track is refined on (x0, y0, vx, vy) with the exact models.
 * Threads split the angles of the bank; samples are sorted with a full key, so the output does not
 * depend on the thread count.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/background_math.h"
#include "host/fast_math.h"
#include "host/stack_math.h"
#include "host/status_internal.h"
#include "sso/fast.h"
#include "sso/likelihood.h"

#define PI 3.14159265358979323846
#define MAX_STREAKS_EPOCH 512

struct sso_fast_result {
    sso_fast_cand *c;
    size_t n, cap;
    sso_fast_streak *s;
    size_t ns, scap;
    sso_fast_stats st;
};

typedef struct raw {
    float snr;
    int k, ang;
    double xc, yc;
} raw;

typedef struct epoch_ctx {
    float *psi, *phi, *dw, *wt;
    float *dwr; /* DW less the streaks measured so far (explaining away), during measurement */
    float *cal; /* [n_ang * n_len] noise scale of the bank map, 0 where not computed */
} epoch_ctx;

typedef struct ctx {
    int ne, w, h, ph;
    const double *t;
    double exptime_h, fwhm;
    const float *psf;
    const sso_fast_params *p;
    int n_len, n_ang;
    double *len;
    int *step;
    epoch_ctx ep[SSO_FAST_MAX_EPOCHS];
    float *box; /* scratch for model evaluations: the last model, unscaled by 1/m */
    size_t box_cap;
    int bx0, by0, bw, bh, bm; /* the last model's box and step count */
    int resid;  /* 1: model_eval reads dwr instead of dw */
} ctx;

void sso_fast_params_default(sso_fast_params *p)
{
    if (!p)
        return;
    p->len_min_px = 16.0;
    p->len_max_px = 470.0;
    p->len_factor = 1.3;
    p->ang_k = 1.5;
    p->fwhm_px = 0.0;
    p->nu_epoch = 5.0f;
    p->seed_snr = 8.0f;
    p->nu_stack = 7.0f;
    p->epoch_snr_min = 2.0f;
    p->min_epochs = 2;
    p->max_epoch_frac = 0.75f;
    p->consist_k = 3.0f;
    p->consist_frac = 0.5f;
    p->n_threads = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- exact trail model ---------------------------------------------------------------------- */

/* psi = sum DW T and phi = sum W T^2 for the trail model T of unit flux (kernel k, half kh) centred
 * at (xc, yc), length len, angle th; pixels off the image count 0. */
static sso_status model_eval(ctx *c, int e, const float *k, int kh, double xc, double yc,
                             double len, double th, double *psi, double *phi)
{
    const double ct = cos(th), st = sin(th);
    const int pad = kh + 2;
    int x0 = (int)floor(xc - fabs(ct) * len / 2) - pad, x1 = (int)ceil(xc + fabs(ct) * len / 2) + pad;
    int y0 = (int)floor(yc - fabs(st) * len / 2) - pad, y1 = (int)ceil(yc + fabs(st) * len / 2) + pad;
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > c->w - 1 ? c->w - 1 : x1, y1 = y1 > c->h - 1 ? c->h - 1 : y1;
    *psi = *phi = 0.0;
    c->bw = c->bh = 0;
    if (x1 < x0 || y1 < y0)
        return SSO_OK;
    const int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    c->bx0 = x0, c->by0 = y0, c->bw = bw, c->bh = bh;
    size_t need = (size_t)bw * (size_t)bh;
    if (need > c->box_cap) {
        float *nb = realloc(c->box, sizeof(float) * need);
        if (!nb)
            return sso_fail(SSO_ERR_NOMEM, "fast: model box of %d x %d", bw, bh);
        c->box = nb, c->box_cap = need;
    }
    float *T = c->box;
    memset(T, 0, sizeof(float) * need);
    const int m = sso_tmpl_trail_steps(len);
    c->bm = m;
    for (int i = 0; i < m; i++) {
        double s = m == 1 ? 0.0 : len * ((double)i / (m - 1) - 0.5);
        double px = xc + s * ct, py = yc + s * st;
        int ix0 = (int)floor(px) - kh - 1, iy0 = (int)floor(py) - kh - 1;
        for (int iy = iy0; iy <= iy0 + 2 * kh + 3; iy++) {
            if (iy < y0 || iy > y1)
                continue;
            for (int ix = ix0; ix <= ix0 + 2 * kh + 3; ix++) {
                if (ix < x0 || ix > x1)
                    continue;
                T[(size_t)(iy - y0) * bw + (ix - x0)] += sso_tmpl_bilinear(k, kh, ix - px, iy - py);
            }
        }
    }
    const double inv = 1.0 / m;
    double a = 0.0, b = 0.0;
    const epoch_ctx *E = &c->ep[e];
    const float *dw = c->resid ? E->dwr : E->dw;
    for (int iy = 0; iy < bh; iy++)
        for (int ix = 0; ix < bw; ix++) {
            double tv = T[(size_t)iy * bw + ix] * inv;
            size_t q = (size_t)(y0 + iy) * c->w + (size_t)(x0 + ix);
            a += tv * dw[q];
            b += tv * tv * E->wt[q];
        }
    *psi = a, *phi = b;
    return SSO_OK;
}

/* ---- coordinate search ---------------------------------------------------------------------- */

typedef sso_status (*objective)(ctx *c, const void *arg, const double *p, double *f);

/* Maximises f over np parameters from p with initial steps step (halved each round): per parameter
 * the values at +-s, a parabola's vertex (clamped to +-s) tried, the best of the evaluated kept. */
static sso_status coord_search(ctx *c, const void *arg, objective fn, int np, double *p,
                               const double *step, int rounds, double *fbest)
{
    double s[8], f0, fp, fm, ft;
    sso_status st;
    for (int q = 0; q < np; q++)
        s[q] = step[q];
    if ((st = fn(c, arg, p, &f0)) != SSO_OK)
        return st;
    for (int r = 0; r < rounds; r++) {
        for (int q = 0; q < np; q++) {
            double keep = p[q];
            p[q] = keep + s[q];
            if ((st = fn(c, arg, p, &fp)) != SSO_OK)
                return st;
            p[q] = keep - s[q];
            if ((st = fn(c, arg, p, &fm)) != SSO_OK)
                return st;
            double best = keep, fb = f0;
            if (fp > fb)
                best = keep + s[q], fb = fp;
            if (fm > fb)
                best = keep - s[q], fb = fm;
            double den = fp - 2.0 * f0 + fm;
            if (den < 0.0) {
                double dx = 0.5 * s[q] * (fm - fp) / den;
                dx = dx > s[q] ? s[q] : dx < -s[q] ? -s[q] : dx;
                p[q] = keep + dx;
                if ((st = fn(c, arg, p, &ft)) != SSO_OK)
                    return st;
                if (ft > fb)
                    best = keep + dx, fb = ft;
            }
            p[q] = best, f0 = fb;
            s[q] *= 0.5;
        }
    }
    *fbest = f0;
    return SSO_OK;
}

typedef struct streak_arg {
    int e;
} streak_arg;

static sso_status obj_streak(ctx *c, const void *arg, const double *p, double *f)
{
    const streak_arg *a = arg;
    double psi, phi;
    sso_status st = model_eval(c, a->e, c->psf, c->ph, p[0], p[1], p[2] < 1.0 ? 1.0 : p[2], p[3],
                               &psi, &phi);
    *f = phi > 0.0 ? psi / sqrt(phi) : -1e30;
    return st;
}

/* Per-epoch exact psi/phi of the track p = (x0, y0, vx, vy). */
static sso_status track_eval(ctx *c, const double *p, double *psi, double *phi)
{
    double len = hypot(p[2], p[3]) * c->exptime_h, th = atan2(p[3], p[2]);
    for (int e = 0; e < c->ne; e++) {
        sso_status st = model_eval(c, e, c->psf, c->ph, p[0] + p[2] * c->t[e],
                                   p[1] + p[3] * c->t[e], len, th, &psi[e], &phi[e]);
        if (st != SSO_OK)
            return st;
    }
    return SSO_OK;
}

/* The track in the frame of the seed motion: p = (along, across offsets at t = 0, along, across
 * velocity offsets) about q0 with unit direction (ux, uy): along-track moves are one coordinate,
 * which the coordinate search needs (the SNR surface is long and flat along the trail). */
typedef struct track_arg {
    double q0[4], ux, uy;
} track_arg;

static void track_from(const track_arg *t, const double *p, double *q)
{
    q[0] = t->q0[0] + p[0] * t->ux - p[1] * t->uy;
    q[1] = t->q0[1] + p[0] * t->uy + p[1] * t->ux;
    q[2] = t->q0[2] + p[2] * t->ux - p[3] * t->uy;
    q[3] = t->q0[3] + p[2] * t->uy + p[3] * t->ux;
}

static sso_status obj_track(ctx *c, const void *arg, const double *pp, double *f)
{
    double psi[SSO_FAST_MAX_EPOCHS], phi[SSO_FAST_MAX_EPOCHS], a = 0.0, b = 0.0, p[4];
    track_from(arg, pp, p);
    sso_status st = track_eval(c, p, psi, phi);
    for (int e = 0; e < c->ne; e++)
        a += psi[e], b += phi[e];
    *f = b > 0.0 ? a / sqrt(b) : -1e30;
    return st;
}

/* ---- bank ----------------------------------------------------------------------------------- */

static double robust_scale(float *v, size_t n)
{
    if (n < 32)
        return 1.0;
    for (size_t i = 0; i < n; i++)
        v[i] = fabsf(v[i]);
    /* the median |r| (the shared quickselect of host/background_math.h) over the Gaussian MAD */
    double s = sso_bkg_select(v, n, n / 2) / 0.6744897501960817;
    return s > 0.0 ? s : 1.0;
}

typedef struct worker {
    ctx *c;
    int e, tid, nt;
    raw *raws;
    size_t n, cap;
    sso_status st;
} worker;

static int push_raw(worker *wk, raw r)
{
    if (wk->n == wk->cap) {
        size_t nc = wk->cap ? 2 * wk->cap : 1024;
        raw *nr = realloc(wk->raws, sizeof(raw) * nc);
        if (!nr)
            return 0;
        wk->raws = nr, wk->cap = nc;
    }
    wk->raws[wk->n++] = r;
    return 1;
}

static void *bank_worker(void *arg)
{
    worker *wk = arg;
    ctx *c = wk->c;
    epoch_ctx *E = &c->ep[wk->e];
    const int maxa = c->w > c->h ? c->w : c->h;
    float *sp = malloc(sizeof(float) * maxa), *sf = malloc(sizeof(float) * maxa);
    double *P = malloc(sizeof(double) * (maxa + 1)), *F = malloc(sizeof(double) * (maxa + 1));
    float *r = NULL, *tmp = NULL;
    size_t rcap = 0;
    if (!sp || !sf || !P || !F) {
        wk->st = sso_fail(SSO_ERR_NOMEM, "fast: bank buffers");
        goto exit;
    }
    for (int ia = wk->tid; ia < c->n_ang; ia += wk->nt) {
        const double th = ia * PI / c->n_ang;
        const int xm = sso_fast_xmajor(th);
        const double t = sso_fast_slope(th);
        const int A = xm ? c->w : c->h, M = xm ? c->h : c->w;
        const int jlo = (int)floor(-fmax(0.0, t) * (A - 1)) - 1;
        const int jhi = (int)ceil(M - 1 - fmin(0.0, t) * (A - 1)) + 1;
        const int nrow = jhi - jlo + 1;
        int ks[64], nk = 0, nn[64], strd[64], ncol[64];
        size_t off[64], need = 0;
        for (int k = 0; k < c->n_len; k++) {
            if (ia % c->step[k])
                continue;
            nn[nk] = sso_fast_line_n(c->len[k], th);
            strd[nk] = nn[nk] / 8 > 1 ? nn[nk] / 8 : 1;
            ncol[nk] = (A + nn[nk] + strd[nk] - 1) / strd[nk];
            off[nk] = need;
            need += (size_t)nrow * (size_t)ncol[nk];
            ks[nk++] = k;
        }
        if (!nk)
            continue;
        if (need > rcap) {
            free(r);
            free(tmp);
            r = malloc(sizeof(float) * need), tmp = malloc(sizeof(float) * need);
            rcap = need;
            if (!r || !tmp) {
                rcap = 0;
                wk->st = sso_fail(SSO_ERR_NOMEM, "fast: bank maps of %zu samples", need);
                goto exit;
            }
        }
        /* one shear pass per line: prefix sums, then every active length's starts */
        for (int jr = 0; jr < nrow; jr++) {
            const int j = jlo + jr;
            P[0] = F[0] = 0.0;
            for (int a = 0; a < A; a++) {
                double mm = j + t * a;
                sp[a] = sso_fast_sample(E->psi, c->w, c->h, xm, a, mm);
                sf[a] = sso_fast_sample(E->phi, c->w, c->h, xm, a, mm);
                P[a + 1] = P[a] + sp[a];
                F[a + 1] = F[a] + sf[a];
            }
            for (int q = 0; q < nk; q++) {
                const int n = nn[q], stride = strd[q];
                float *rr = r + off[q] + (size_t)jr * ncol[q];
                for (int ic = 0; ic < ncol[q]; ic++) {
                    int as = -n / 2 + ic * stride;
                    int lo = as < 0 ? 0 : as, hi = as + n > A ? A : as + n;
                    float v = NAN;
                    if (hi > lo) {
                        double pf = F[hi] - F[lo];
                        if (pf > 0.0)
                            v = (float)((P[hi] - P[lo]) / sqrt(pf));
                    }
                    rr[ic] = v;
                }
            }
        }
        for (int q = 0; q < nk; q++) {
            const int n = nn[q], stride = strd[q], nc = ncol[q], k = ks[q];
            const float *rk = r + off[q];
            const size_t tot = (size_t)nrow * nc;
            /* noise scale from <= 65536 finite samples */
            size_t sub = tot / 65536 + 1, ns = 0;
            for (size_t i = 0; i < tot; i += sub)
                if (!isnan(rk[i]))
                    tmp[ns++] = rk[i];
            const double cs = robust_scale(tmp, ns);
            E->cal[(size_t)ia * c->n_len + k] = (float)cs;
            const float thr = (float)(c->p->nu_epoch * cs);
            for (int jr = 0; jr < nrow; jr++)
                for (int ic = 0; ic < nc; ic++) {
                    float v = rk[(size_t)jr * nc + ic];
                    if (!(v >= thr))
                        continue;
                    if ((ic > 0 && rk[(size_t)jr * nc + ic - 1] > v) ||
                        (ic + 1 < nc && rk[(size_t)jr * nc + ic + 1] > v) ||
                        (jr > 0 && rk[(size_t)(jr - 1) * nc + ic] > v) ||
                        (jr + 1 < nrow && rk[(size_t)(jr + 1) * nc + ic] > v))
                        continue;
                    double ac = -n / 2 + ic * stride + (n - 1) / 2.0, mc = jlo + jr + t * ac;
                    raw rw = {(float)(v / cs), k, ia, xm ? ac : mc, xm ? mc : ac};
                    if (!push_raw(wk, rw)) {
                        wk->st = sso_fail(SSO_ERR_NOMEM, "fast: bank samples");
                        goto exit;
                    }
                }
        }
    }
exit:
    free(sp);
    free(sf);
    free(P);
    free(F);
    free(r);
    free(tmp);
    return NULL;
}

static int raw_cmp(const void *a, const void *b)
{
    const raw *x = a, *y = b;
    if (x->snr != y->snr)
        return x->snr > y->snr ? -1 : 1;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    if (x->ang != y->ang)
        return x->ang < y->ang ? -1 : 1;
    if (x->yc != y->yc)
        return x->yc < y->yc ? -1 : 1;
    if (x->xc != y->xc)
        return x->xc < y->xc ? -1 : 1;
    return 0;
}

/* Distance from (x, y) to the segment centre (xc, yc), half length hl, direction (ct, st). */
static double seg_dist(double x, double y, double xc, double yc, double hl, double ct, double st)
{
    double dx = x - xc, dy = y - yc, al = dx * ct + dy * st;
    al = al > hl ? hl : al < -hl ? -hl : al;
    return hypot(dx - al * ct, dy - al * st);
}

static double ang_diff(double a, double b) /* |a - b| modulo pi, in [0, pi/2] */
{
    double d = fmod(fabs(a - b), PI);
    return d > PI / 2 ? PI - d : d;
}

static int suppressed(const sso_fast_streak *s, size_t ns, double xc, double yc, double len,
                      double th)
{
    for (size_t i = 0; i < ns; i++) {
        double ct = cos(s[i].theta_rad), st = sin(s[i].theta_rad), hl = s[i].len_px / 2;
        if (seg_dist(xc, yc, s[i].xc_px, s[i].yc_px, hl, ct, st) <= 3.0 &&
            ang_diff(th, s[i].theta_rad) < 0.2)
            return 1;
        int in = 0;
        for (int q = -2; q <= 2; q++) {
            double x = xc + q * 0.25 * len * cos(th), y = yc + q * 0.25 * len * sin(th);
            in += seg_dist(x, y, s[i].xc_px, s[i].yc_px, hl, ct, st) <= 3.0;
        }
        if (in >= 3)
            return 1;
    }
    return 0;
}

static sso_status push_streak(sso_fast_result *res, const sso_fast_streak *s)
{
    if (res->ns == res->scap) {
        size_t nc = res->scap ? 2 * res->scap : 16;
        sso_fast_streak *n = realloc(res->s, sizeof(*n) * nc);
        if (!n)
            return sso_fail(SSO_ERR_NOMEM, "fast: streaks");
        res->s = n, res->scap = nc;
    }
    res->s[res->ns++] = *s;
    return SSO_OK;
}

/* Bank search, suppression and measurement of one epoch's streaks. */
static sso_status streaks_epoch(ctx *c, int e, sso_fast_result *res)
{
    sso_status st = SSO_OK;
    int nt = c->p->n_threads < 1 ? 1 : c->p->n_threads > 16 ? 16 : c->p->n_threads;
    worker wk[16];
    pthread_t th[16];
    int started[16] = {0};
    raw *all = NULL;
    size_t nall = 0;
    double t0 = now_s();
    for (int i = 0; i < nt; i++)
        wk[i] = (worker){c, e, i, nt, NULL, 0, 0, SSO_OK};
    for (int i = 1; i < nt; i++)
        started[i] = pthread_create(&th[i], NULL, bank_worker, &wk[i]) == 0;
    bank_worker(&wk[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            bank_worker(&wk[i]);
    }
    for (int i = 0; i < nt; i++) {
        if (wk[i].st != SSO_OK && st == SSO_OK)
            st = wk[i].st;
        nall += wk[i].n;
    }
    if (st != SSO_OK)
        goto exit;
    all = malloc(sizeof(raw) * (nall ? nall : 1));
    if (!all) {
        st = sso_fail(SSO_ERR_NOMEM, "fast: %zu bank samples", nall);
        goto exit;
    }
    nall = 0;
    for (int i = 0; i < nt; i++) {
        if (wk[i].n)
            memcpy(all + nall, wk[i].raws, sizeof(raw) * wk[i].n);
        nall += wk[i].n;
    }
    if (nall)
        qsort(all, nall, sizeof(raw), raw_cmp);
    res->st.n_raw[e] = (int64_t)nall;
    double t1 = now_s();
    res->st.bank_s += t1 - t0;
    size_t first = res->ns;
    int kept = 0;
    memcpy(c->ep[e].dwr, c->ep[e].dw, sizeof(float) * (size_t)c->w * c->h);
    c->resid = 1;
    for (size_t i = 0; i < nall && kept < MAX_STREAKS_EPOCH; i++) {
        const raw *rw = &all[i];
        double th0 = rw->ang * PI / c->n_ang, len0 = c->len[rw->k];
        if (res->ns > first && suppressed(res->s + first, res->ns - first, rw->xc, rw->yc, len0, th0))
            continue;
        double p[4] = {rw->xc, rw->yc, len0, th0}, f;
        double step[4] = {0.5, 0.5, fmax(1.0, 0.1 * len0), c->fwhm / len0};
        streak_arg a = {e};
        /* prescreen on the residual: what a kept streak explains is not refined */
        if ((st = obj_streak(c, &a, p, &f)) != SSO_OK)
            goto exit;
        if (f < 0.7 * c->p->nu_epoch)
            continue;
        if ((st = coord_search(c, &a, obj_streak, 4, p, step, 4, &f)) != SSO_OK)
            goto exit;
        p[2] = p[2] < 1.0 ? 1.0 : p[2];
        p[3] = fmod(p[3], PI);
        p[3] += p[3] < 0.0 ? PI : 0.0;
        double psi, phi, psin, phin;
        static const float delta[1] = {1.0f};
        if ((st = model_eval(c, e, delta, 0, p[0], p[1], p[2], p[3], &psin, &phin)) != SSO_OK)
            goto exit;
        if ((st = model_eval(c, e, c->psf, c->ph, p[0], p[1], p[2], p[3], &psi, &phi)) != SSO_OK)
            goto exit;
        if (!(phi > 0.0))
            continue;
        if (psi / sqrt(phi) >= c->p->nu_epoch) { /* explain it away: DWr -= flux T W */
            const double fl = psi / phi / c->bm;
            epoch_ctx *E = &c->ep[e];
            for (int iy = 0; iy < c->bh; iy++)
                for (int ix = 0; ix < c->bw; ix++) {
                    size_t q = (size_t)(c->by0 + iy) * c->w + (size_t)(c->bx0 + ix);
                    E->dwr[q] -= (float)(fl * c->box[(size_t)iy * c->bw + ix] * E->wt[q]);
                }
        }
        sso_fast_streak s;
        memset(&s, 0, sizeof(s));
        s.epoch = e;
        s.xc_px = p[0], s.yc_px = p[1], s.len_px = p[2], s.theta_rad = p[3];
        s.x1_px = p[0] - 0.5 * p[2] * cos(p[3]), s.y1_px = p[1] - 0.5 * p[2] * sin(p[3]);
        s.x2_px = p[0] + 0.5 * p[2] * cos(p[3]), s.y2_px = p[1] + 0.5 * p[2] * sin(p[3]);
        s.flux_e = (float)(psi / phi);
        s.flux_err_e = (float)(1.0 / sqrt(phi));
        s.snr = (float)(psi / sqrt(phi));
        s.snr_bank = rw->snr;
        double snr_n = phin > 0.0 ? psin / sqrt(phin) : 0.0;
        s.sharp = snr_n > 1.02 * s.snr;
        if (s.snr < c->p->nu_epoch)
            continue;
        if ((st = push_streak(res, &s)) != SSO_OK)
            goto exit;
        kept++;
        res->st.n_streaks++;
        res->st.n_sharp += s.sharp;
    }
    res->st.measure_s += now_s() - t1;
exit:
    c->resid = 0;
    for (int i = 0; i < nt; i++)
        free(wk[i].raws);
    free(all);
    return st;
}

/* ---- guided stack --------------------------------------------------------------------------- */

/* Bank noise scale nearest to (len, th) in epoch e. */
static double cal_at(const ctx *c, int e, double len, double th)
{
    int k = 0;
    for (int i = 1; i < c->n_len; i++)
        if (fabs(log(c->len[i] / len)) < fabs(log(c->len[k] / len)))
            k = i;
    double tm = fmod(th, PI);
    tm += tm < 0.0 ? PI : 0.0;
    int ia = (int)lround(tm / (PI / c->n_ang) / c->step[k]) * c->step[k];
    ia %= c->n_ang;
    float v = c->ep[e].cal[(size_t)ia * c->n_len + k];
    return v > 0.0f ? v : 1.0;
}

/* Line sum of psi_psf over the segment (bank sampling) and its variance c^2 sum phi_psf. */
static void line_sum(const ctx *c, int e, double xc, double yc, double len, double th, double *ps,
                     double *var)
{
    const int xm = sso_fast_xmajor(th), n = sso_fast_line_n(len, th);
    const double t = sso_fast_slope(th), ac = xm ? xc : yc, mc = xm ? yc : xc, j = mc - t * ac;
    const int a0 = (int)lround(ac - (n - 1) / 2.0);
    double a = 0.0, b = 0.0;
    for (int q = a0; q < a0 + n; q++) {
        a += sso_fast_sample(c->ep[e].psi, c->w, c->h, xm, q, j + t * q);
        b += sso_fast_sample(c->ep[e].phi, c->w, c->h, xm, q, j + t * q);
    }
    double cs = cal_at(c, e, len, th);
    *ps = a, *var = cs * cs * b;
}

/* Best track on the local velocity grid about v, keeping the position at time ts fixed. */
static double grid_best(const ctx *c, double xs, double ys, double ts, double *vx, double *vy)
{
    double tmax = 0.0;
    for (int e = 0; e < c->ne; e++)
        tmax = fmax(tmax, fabs(c->t[e] - ts));
    const double dv = tmax > 0.0 ? 0.5 / tmax : 0.0;
    const int R = 12;
    double best = -1e30, bvx = *vx, bvy = *vy;
    for (int iy = -R; iy <= R; iy++)
        for (int ix = -R; ix <= R; ix++) {
            double ux = *vx + ix * dv, uy = *vy + iy * dv, a = 0.0, b = 0.0;
            double len = hypot(ux, uy) * c->exptime_h, th = atan2(uy, ux);
            for (int e = 0; e < c->ne; e++) {
                double ps, var;
                line_sum(c, e, xs + ux * (c->t[e] - ts), ys + uy * (c->t[e] - ts), len, th, &ps,
                         &var);
                a += ps, b += var;
            }
            double f = b > 0.0 ? a / sqrt(b) : -1e30;
            if (f > best)
                best = f, bvx = ux, bvy = uy;
        }
    *vx = bvx, *vy = bvy;
    return best;
}

static sso_status push_cand(sso_fast_result *res, const sso_fast_cand *cd)
{
    if (res->n == res->cap) {
        size_t nc = res->cap ? 2 * res->cap : 16;
        sso_fast_cand *n = realloc(res->c, sizeof(*n) * nc);
        if (!n)
            return sso_fail(SSO_ERR_NOMEM, "fast: candidates");
        res->c = n, res->cap = nc;
    }
    res->c[res->n++] = *cd;
    return SSO_OK;
}

/* Guided stack from the track through (xs, ys) at ts with velocity (vx, vy); one or two senses. */
static sso_status guided(ctx *c, sso_fast_result *res, double xs, double ys, double ts, double vx,
                         double vy, int both, int n_linked)
{
    const sso_fast_params *p = c->p;
    double ux = vx, uy = vy, fb = grid_best(c, xs, ys, ts, &ux, &uy);
    if (both) {
        double wx = -vx, wy = -vy, f2 = grid_best(c, xs, ys, ts, &wx, &wy);
        if (f2 > fb)
            ux = wx, uy = wy;
    }
    double tmax = 0.0;
    for (int e = 0; e < c->ne; e++)
        tmax = fmax(tmax, fabs(c->t[e]));
    track_arg ta = {{xs - ux * ts, ys - uy * ts, ux, uy}, 1.0, 0.0};
    double vn = hypot(ux, uy), f, q[4], pp[4] = {0.0, 0.0, 0.0, 0.0};
    if (vn > 0.0)
        ta.ux = ux / vn, ta.uy = uy / vn;
    const double tm = fmax(tmax, 1e-3);
    double step[4] = {2.0, 0.5, 2.0 / tm, 0.5 / tm};
    sso_status st = coord_search(c, &ta, obj_track, 4, pp, step, 7, &f);
    if (st != SSO_OK)
        return st;
    track_from(&ta, pp, q);
    double psi[SSO_FAST_MAX_EPOCHS], phi[SSO_FAST_MAX_EPOCHS], sa = 0.0, sb = 0.0, maxpsi = 0.0;
    if ((st = track_eval(c, q, psi, phi)) != SSO_OK)
        return st;
    sso_fast_cand cd;
    memset(&cd, 0, sizeof(cd));
    int used = 0;
    for (int e = 0; e < c->ne; e++) {
        sa += psi[e], sb += phi[e];
        maxpsi = fmax(maxpsi, psi[e]);
        cd.x_px[e] = q[0] + q[2] * c->t[e], cd.y_px[e] = q[1] + q[3] * c->t[e];
        if (phi[e] > 0.0) {
            cd.flux_e[e] = (float)(psi[e] / phi[e]);
            cd.flux_err_e[e] = (float)(1.0 / sqrt(phi[e]));
            cd.snr[e] = (float)(psi[e] / sqrt(phi[e]));
            used += cd.snr[e] >= p->epoch_snr_min;
        }
    }
    if (!(sb > 0.0) || !(sa > 0.0))
        return SSO_OK;
    double nu = sa / sqrt(sb), mean = sa / sb;
    if (nu < p->nu_stack || used < p->min_epochs || maxpsi > p->max_epoch_frac * sa)
        return SSO_OK;
    for (int e = 0; e < c->ne; e++) {
        if (!(phi[e] > 0.0))
            continue;
        double se2 = 1.0 / phi[e], tol = p->consist_k * sqrt(se2 + pow(p->consist_frac * mean, 2));
        if (fabs(psi[e] / phi[e] - mean) > tol)
            return SSO_OK;
    }
    /* duplicate of an accepted candidate: every epoch on the image within 3 px */
    for (size_t i = 0; i < res->n; i++) {
        int same = 1;
        for (int e = 0; e < c->ne && same; e++)
            same = hypot(res->c[i].x_px[e] - cd.x_px[e], res->c[i].y_px[e] - cd.y_px[e]) <= 3.0;
        if (same)
            return SSO_OK;
    }
    cd.x0_px = q[0], cd.y0_px = q[1], cd.vx_px_h = q[2], cd.vy_px_h = q[3];
    cd.len_px = hypot(q[2], q[3]) * c->exptime_h;
    cd.theta_rad = atan2(q[3], q[2]);
    cd.nu = (float)nu;
    cd.flux_e_all = (float)mean;
    cd.flux_err_e_all = (float)(1.0 / sqrt(sb));
    cd.n_epochs = used;
    cd.n_linked = n_linked;
    /* the streaks it explains are used */
    for (size_t i = 0; i < res->ns; i++) {
        sso_fast_streak *s = &res->s[i];
        int e = s->epoch;
        if (hypot(s->xc_px - cd.x_px[e], s->yc_px - cd.y_px[e]) <= fmax(3.0, 0.1 * cd.len_px) &&
            ang_diff(s->theta_rad, cd.theta_rad) < 0.2)
            s->used = 1;
    }
    return push_cand(res, &cd);
}

/* Do streaks a and b (different epochs) move together? Returns a mismatch (<= 1 consistent). */
static double link_mismatch(const ctx *c, const sso_fast_streak *a, const sso_fast_streak *b)
{
    double dt = c->t[b->epoch] - c->t[a->epoch];
    if (fabs(dt) < 1e-6)
        return 1e30;
    double vx = (b->xc_px - a->xc_px) / dt, vy = (b->yc_px - a->yc_px) / dt, vd = hypot(vx, vy);
    double worst = 0.0;
    const sso_fast_streak *s2[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const sso_fast_streak *s = s2[i];
        double rate = s->len_px / c->exptime_h;
        double tol_r = 3.0 * (1.0 + 0.02 * s->len_px) / c->exptime_h + 0.05 * rate;
        double tol_a = 3.0 * (1.5 / s->len_px) + 0.03 + 3.0 / (vd * fabs(dt) + 1.0);
        double sa = fabs(sin(atan2(vy, vx) - s->theta_rad));
        worst = fmax(worst, fmax(fabs(vd - rate) / tol_r, sa / tol_a));
    }
    return worst;
}

static sso_status link_and_stack(ctx *c, sso_fast_result *res)
{
    const size_t ns = res->ns;
    size_t *ord = malloc(sizeof(size_t) * (ns ? ns : 1));
    if (!ord)
        return sso_fail(SSO_ERR_NOMEM, "fast: link order");
    for (size_t i = 0; i < ns; i++)
        ord[i] = i;
    for (size_t i = 1; i < ns; i++) /* insertion sort by SNR desc (few streaks), stable */
        for (size_t j = i; j > 0 && res->s[ord[j]].snr > res->s[ord[j - 1]].snr; j--) {
            size_t tmp = ord[j];
            ord[j] = ord[j - 1], ord[j - 1] = tmp;
        }
    sso_status st = SSO_OK;
    for (int pass = 0; pass < 2; pass++) { /* links first, then lone streaks */
        for (size_t oi = 0; oi < ns; oi++) {
            sso_fast_streak *s = &res->s[ord[oi]];
            if (s->used || s->sharp)
                continue;
            int member[SSO_FAST_MAX_EPOCHS];
            for (int e = 0; e < c->ne; e++)
                member[e] = -1;
            member[s->epoch] = (int)ord[oi];
            int nl = 1;
            for (int e = 0; e < c->ne; e++) {
                if (e == s->epoch)
                    continue;
                double best = 1.0;
                for (size_t i = 0; i < ns; i++) {
                    const sso_fast_streak *b = &res->s[i];
                    if (b->epoch != e || b->used || b->sharp)
                        continue;
                    double mm = link_mismatch(c, s, b);
                    if (mm <= best)
                        best = mm, member[e] = (int)i;
                }
                nl += member[e] >= 0;
            }
            if (pass == 0 && nl < 2)
                continue;
            if (pass == 1 && (nl >= 2 || s->snr < c->p->seed_snr))
                continue;
            res->st.n_seeds++;
            if (nl >= 2) {
                /* least-squares line through the members' centres */
                double sw = 0, st_ = 0, stt = 0, sx = 0, sy = 0, stx = 0, sty = 0;
                for (int e = 0; e < c->ne; e++) {
                    if (member[e] < 0)
                        continue;
                    const sso_fast_streak *b = &res->s[member[e]];
                    double tt = c->t[e];
                    sw += 1, st_ += tt, stt += tt * tt, sx += b->xc_px, sy += b->yc_px;
                    stx += tt * b->xc_px, sty += tt * b->yc_px;
                }
                double den = sw * stt - st_ * st_;
                double vx = (sw * stx - st_ * sx) / den, vy = (sw * sty - st_ * sy) / den;
                double ts = c->t[s->epoch];
                double xs = (sx + vx * (sw * ts - st_)) / sw, ys = (sy + vy * (sw * ts - st_)) / sw;
                res->st.n_links++;
                st = guided(c, res, xs, ys, ts, vx, vy, 0, nl);
            } else {
                double r = s->len_px / c->exptime_h;
                st = guided(c, res, s->xc_px, s->yc_px, c->t[s->epoch], r * cos(s->theta_rad),
                            r * sin(s->theta_rad), 1, 1);
            }
            if (st != SSO_OK)
                goto exit;
            s->used = 1;
        }
    }
exit:
    free(ord);
    return st;
}

/* ---- driver --------------------------------------------------------------------------------- */

static int cand_cmp(const void *a, const void *b)
{
    const sso_fast_cand *x = a, *y = b;
    if (x->nu != y->nu)
        return x->nu > y->nu ? -1 : 1;
    if (x->y0_px != y->y0_px)
        return x->y0_px < y->y0_px ? -1 : 1;
    return (x->x0_px > y->x0_px) - (x->x0_px < y->x0_px);
}

sso_status sso_fast_search(const float *const d[], const float *const v[], const uint8_t *const m[],
                           int n_epochs, int w, int h, const double *t_h, double exptime_h,
                           const float *psf, int psf_half, const sso_fast_params *p,
                           sso_fast_result **out)
{
    if (out)
        *out = NULL;
    if (!d || !v || !t_h || !psf || !out || n_epochs < 2 || n_epochs > SSO_FAST_MAX_EPOCHS ||
        w <= 0 || h <= 0 || psf_half < 0 || !(exptime_h > 0.0))
        return sso_fail(SSO_ERR_ARG, "fast: bad arguments (%d epochs, %d x %d, half %d)",
                        n_epochs, w, h, psf_half);
    sso_fast_params def;
    if (!p) {
        sso_fast_params_default(&def);
        p = &def;
    }
    if (!(p->len_min_px >= 2.0) || !(p->len_max_px >= p->len_min_px) || !(p->len_factor > 1.0) ||
        !(p->ang_k > 0.0))
        return sso_fail(SSO_ERR_ARG, "fast: bad bank parameters");
    sso_status st = SSO_OK;
    ctx c;
    memset(&c, 0, sizeof(c));
    c.ne = n_epochs, c.w = w, c.h = h, c.ph = psf_half, c.t = t_h, c.exptime_h = exptime_h;
    c.psf = psf, c.p = p;
    sso_fast_result *res = calloc(1, sizeof(*res));
    const int n = 2 * psf_half + 1;
    const size_t np = (size_t)w * (size_t)h;
    if (!res) {
        st = sso_fail(SSO_ERR_NOMEM, "fast: result");
        goto exit;
    }
    if (p->fwhm_px > 0.0) {
        c.fwhm = p->fwhm_px;
    } else { /* Gaussian equivalent: sum PSF^2 = 1 / (4 pi sigma^2) */
        double s2 = 0.0;
        for (int i = 0; i < n * n; i++)
            s2 += (double)psf[i] * psf[i];
        c.fwhm = s2 > 0.0 ? 2.3548200450309493 * sqrt(1.0 / (4.0 * PI * s2)) : 1.6;
    }
    /* bank */
    int nl = 1;
    while (p->len_min_px * pow(p->len_factor, nl) < p->len_max_px * (1.0 - 1e-9))
        nl++;
    nl++;
    if (p->len_max_px <= p->len_min_px)
        nl = 1;
    c.n_len = nl;
    c.len = malloc(sizeof(double) * nl);
    c.step = malloc(sizeof(int) * nl);
    if (!c.len || !c.step) {
        st = sso_fail(SSO_ERR_NOMEM, "fast: bank");
        goto exit;
    }
    for (int k = 0; k < nl; k++)
        c.len[k] = k == nl - 1 ? p->len_max_px : p->len_min_px * pow(p->len_factor, k);
    const int n0 = (int)ceil(PI * p->len_min_px / (p->ang_k * c.fwhm));
    if (nl > 64) {
        st = sso_fail(SSO_ERR_ARG, "fast: %d lengths in the bank (at most 64)", nl);
        goto exit;
    }
    int mult[64], mmax = 1;
    for (int k = 0; k < nl; k++) {
        int need = (int)ceil(PI * c.len[k] / (p->ang_k * c.fwhm));
        mult[k] = 1;
        while (n0 * mult[k] < need)
            mult[k] *= 2;
        mmax = mult[k] > mmax ? mult[k] : mmax;
    }
    c.n_ang = n0 * mmax;
    res->st.n_lengths = nl;
    res->st.n_angles_max = c.n_ang;
    for (int k = 0; k < nl; k++) {
        c.step[k] = mmax / mult[k];
        res->st.n_templates += c.n_ang / c.step[k];
    }
    /* likelihood per epoch */
    double t0 = now_s();
    for (int e = 0; e < n_epochs; e++) {
        epoch_ctx *E = &c.ep[e];
        E->psi = malloc(sizeof(float) * np), E->phi = malloc(sizeof(float) * np);
        E->dw = malloc(sizeof(float) * np), E->wt = malloc(sizeof(float) * np);
        E->dwr = malloc(sizeof(float) * np);
        E->cal = calloc((size_t)c.n_ang * nl, sizeof(float));
        if (!E->psi || !E->phi || !E->dw || !E->wt || !E->dwr || !E->cal) {
            st = sso_fail(SSO_ERR_NOMEM, "fast: epoch images %d x %d", w, h);
            goto exit;
        }
        const uint8_t *me = m ? m[e] : NULL;
        if (!d[e] || !v[e]) {
            st = sso_fail(SSO_ERR_ARG, "fast: epoch %d has no image", e);
            goto exit;
        }
        for (size_t i = 0; i < np; i++) {
            float vv = v[e][i], dd = d[e][i];
            int ok = (!me || !me[i]) && isfinite(vv) && vv > 0.0f && isfinite(dd);
            E->wt[i] = ok ? 1.0f / vv : 0.0f;
            E->dw[i] = ok ? dd / vv : 0.0f;
        }
        st = sso_likelihood(d[e], v[e], me, w, h, psf, psf_half, SSO_LIKE_AUTO, E->psi, E->phi);
        if (st != SSO_OK)
            goto exit;
    }
    res->st.like_s = now_s() - t0;
    for (int e = 0; e < n_epochs; e++)
        if ((st = streaks_epoch(&c, e, res)) != SSO_OK)
            goto exit;
    t0 = now_s();
    if ((st = link_and_stack(&c, res)) != SSO_OK)
        goto exit;
    if (res->n)
        qsort(res->c, res->n, sizeof(sso_fast_cand), cand_cmp);
    res->st.link_s = now_s() - t0;
exit:
    for (int e = 0; e < SSO_FAST_MAX_EPOCHS; e++) {
        free(c.ep[e].psi);
        free(c.ep[e].phi);
        free(c.ep[e].dw);
        free(c.ep[e].wt);
        free(c.ep[e].dwr);
        free(c.ep[e].cal);
    }
    free(c.len);
    free(c.step);
    free(c.box);
    if (st != SSO_OK) {
        sso_fast_result_free(res);
        return st;
    }
    *out = res;
    return SSO_OK;
}

size_t sso_fast_result_count(const sso_fast_result *r) { return r ? r->n : 0; }
const sso_fast_cand *sso_fast_result_get(const sso_fast_result *r, size_t i)
{
    return r && i < r->n ? &r->c[i] : NULL;
}
size_t sso_fast_result_streak_count(const sso_fast_result *r) { return r ? r->ns : 0; }
const sso_fast_streak *sso_fast_result_streak(const sso_fast_result *r, size_t i)
{
    return r && i < r->ns ? &r->s[i] : NULL;
}
const sso_fast_stats *sso_fast_result_stats(const sso_fast_result *r) { return r ? &r->st : NULL; }
void sso_fast_result_free(sso_fast_result *r)
{
    if (!r)
        return;
    free(r->c);
    free(r->s);
    free(r);
}
