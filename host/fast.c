/* host/fast.c: fast movers by streak detection, linking and a guided trailed stack (CPU reference).
 *
 * Contract in include/sso/fast.h. Design:
 *   Likelihood. Per epoch psi_psf/phi_psf with the PSF (sso_likelihood) and the weight images
 *     DW = D/V, W = 1/V (0 where masked) for exact-template measurements.
 *   Bank (host/fast_bank.c). For a trail whose long axis lies on a line, the trailed matched
 *     filter is, to within the line's sampling, the sum of psi_psf along the segment (psi_psf is
 *     D correlated with the PSF; the trail template is the PSF averaged along the segment). The
 *     bank computes those line sums for every length and angle from a segment pyramid in
 *     O(Npx log Lmax) and returns the MAD-calibrated local maxima above nu_epoch (raw samples).
 *     Cost cuts: the search runs on the bounding box of the valid pixels (sso_fast_search), the
 *     bank of each epoch on that epoch's own box (bank_epoch), and, if bin_len_px > 0 (off by
 *     default), lengths >= bin_len_px on 2 x 2 binned psi/phi (a quarter of the pixels, ~7-11%
 *     less bank SNR: a faint long trail missed the threshold).
 *   Prescreen (per epoch, samples by SNR): the sample's line sum again, on a residual psi from
 *     which the streaks kept so far are subtracted (their model correlated with the kernel), must
 *     keep 0.7 nu_epoch: a bright streak, star residual or cosmic ray puts samples in every length
 *     and angle crossing it (~1e5 per epoch of the demo), and this rejects them at the cost of a
 *     line sum, where one exact model each was most of the search's time.
 *   Suppression (per epoch, by SNR): a sample is dropped if its centre lies within 3 px of a kept
 *     streak's segment and its angle is within 0.2 rad (sub- and super-segments, neighbours), or if
 *     3 of its 5 quarter points do (any angle); a streak crossing another is kept. Then explaining
 *     away: each kept streak's model (flux x template) is subtracted from a residual copy of DW,
 *     and later samples are refined and measured on the residual: what a brighter streak explains
 *     (partial overlaps at other angles and lengths) falls below nu_epoch and is dropped.
 *   Measurement: the exact trail model (the PSF bilinearly shifted along the segment and averaged,
 *     (1/L) int K(x - c - s u) ds, the integral that sso_tmpl_trail_px sums at 0.25 px steps) gives
 *     psi = sum DW T, phi = sum W T^2. It is read from a table of the kernel's cumulative line
 *     integral per angle (host/fast_math.h sso_fast_ttab_*, built once per 1.5 mrad of angle) over
 *     the band of pixels within the kernel's reach of the segment: O(L) per model, where the
 *     splat of 4 L shifted kernels into the segment's bounding box was O(L half^2 + box) (~1 ms at
 *     1600 px, ~25x slower; bench/results/fast-search-vm-2026-11-21.md). A streak is
 *     parametrised by its two ends (along and across offsets), which the SNR sees nearly
 *     independently. An end without data under it (off the image, or in masked pixels: a detector
 *     gap, the edge of the exposure's footprint in the patch), or within 1.5 px of such pixels, is
 *     unmeasured: the fit could run on there for free. The segment is trimmed to the part with data
 *     and flagged clipped at that end (mask_trim).
 *     Stages: the prescreen, a coordinate search on line sums (cheap), the exact model, then 1-D
 *     scans of the ends, across first and re-based on the segment found, along over +-L/6 and on
 *     while the best is at a scan's edge (measure_ends), and a joint polish. Width test:
 *     the same with a delta kernel (a 1-px-wide line); sharp if that fits better by > 2%.
 *   Linking and guided stack: see include/sso/fast.h. The local velocity grid keeps the seed
 *     epoch's position and moves the farthest epoch's by up to +-6 px across and +-6 px (links)
 *     or +-30% of the rate (lone streaks, <= 60 px) along, in 0.5 px steps (line sums, cheap).
 *     A link is tried from its line and from each unclipped member's own centre and length
 *     (member_seeds: a member cut short or a clipped one placed by a wrong rate puts the line
 *     tens of px off at the far epochs), the best of the grids kept. Then each epoch's trail is
 *     slid along the track and a weighted line through the offsets updates position and rate
 *     (along_refine); then a coordinate search on the positions at the first and last epochs
 *     with the exact models, line searches of a shift of the whole track along and across it (a
 *     ridge the coordinate search does not climb), the coordinate search again, scans of the
 *     ends of the strongest epoch's trail (obj_track_ends: where one trail's length measures the
 *     rate, a valley the end epochs' coordinates do not follow), and the coordinate search once
 *     more. A clipped streak's length bounds the rate from below only (its angle is
 *     tested); one clipped at both ends joins no link and seeds none (no position along the
 *     track, no rate);
 *     members chosen against the seed that do not move together with each other are dropped (the
 *     one further from the seed); the link's line (link_line) is fitted to the unclipped centres
 *     (all, when fewer than two), then again with each clipped member placed at its measured end
 *     less half the fitted trail.
 * Threads split the angles of the bank; samples are sorted with a full key, so the output does not
 * depend on the thread count. The epochs' measurements (explaining away is sequential within an
 * epoch only) run side by side, one epoch per worker with its own copy of the context
 * (measure_all), their streaks appended in epoch order.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/background_math.h"
#include "host/fast_bank.h"
#include "host/fast_math.h"
#include "host/parallel.h"
#include "host/stack_math.h"
#include "host/status_internal.h"
#include "sso/fast.h"
#include "sso/likelihood.h"

#define PI 3.14159265358979323846
#define MAX_STREAKS_EPOCH 512
#define BIN_FWHM 0.65 /* FWHM of the binned maps' angle spacing, in binned px per full-res px */
#define BIN_NU 1.0 /* the binned maps' threshold, x nu_epoch (their SNR is ~7-11% lower; 0.9 measures
                   * 2.5x the noise streaks, +0.4 s per Mpx per epoch) */

struct sso_fast_result {
    sso_fast_cand *c;
    size_t n, cap;
    sso_fast_streak *s;
    size_t ns, scap;
    sso_fast_stats st;
};

typedef struct epoch_ctx {
    float *psi, *phi, *dw, *wt;
    float *dwr; /* DW less the streaks measured so far (explaining away), during measurement */
    float *psir; /* psi_psf less the same streaks (psi is the kernel correlated with DW: linear) */
    float *cal; /* [n_ang * n_len] noise scale of the bank map, 0 where not computed */
} epoch_ctx;

/* Cumulative trail tables of one kernel (host/fast_math.h), built on first use per quantised angle
 * in [0, pi) (a segment at theta + pi is the same segment): at most TTAB_NQ of n^2 floats (34 kB
 * for the pipeline's 7 x 7 kernel). The angle quantum only orients the table (<= 1.5 mrad: <= 0.01
 * px at the kernel's edge); the pixel offsets use the exact angle. */
#define TTAB_NQ 1024
#define TTAB_H 0.125 /* table spacing [px] */
typedef struct ttab_set {
    const float *k;
    int half, n;
    float *c[TTAB_NQ];
} ttab_set;

typedef struct ctx {
    int ne, w, h, ph;
    const double *t;
    double exptime_h, fwhm;
    const float *psf;
    const sso_fast_params *p;
    int n_len, n_ang;
    double len[SSO_FAST_BANK_MAXLEN]; /* every length of the bank, increasing */
    const int *step;   /* bank.step: a length's angle slots are multiples of it */
    int n_full;        /* lengths [0, n_full) on the full-resolution maps (bank), the others on
                        * 2 x 2 binned maps (bankb, lengths halved); cal[] is the full-resolution
                        * bank's (n_ang x n_full) */
    sso_fast_bank bank, bankb;
    epoch_ctx ep[SSO_FAST_MAX_EPOCHS];
    size_t *mi; /* the last model: its pixels (index into the image) and values (unit flux) */
    float *mv;
    size_t mn, mcap;
    ttab_set tab[2]; /* trail tables: [0] the PSF, [1] the delta kernel of the width test */
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
    p->bin_len_px = 0.0;
    p->fwhm_px = 0.0;
    p->nu_epoch = 5.0f;
    p->seed_snr = 8.0f;
    p->nu_stack = 7.0f;
    p->epoch_snr_min = 2.0f;
    p->pair_snr_min = 6.0f;
    p->rest_snr_min = 4.5f;
    p->min_epochs = 2;
    p->max_epoch_frac = 0.75f;
    p->rest_snr_strong = 8.0f;
    p->rest_strong_sep_px = 5.0;
    p->consist_k = 3.0f;
    p->consist_frac = 0.5f;
    p->dim_ratio_max = 2.5f;
    p->n_threads = 1;
    p->backend = SSO_BACKEND_CPU;
}

/* The largest distance between the positions of epochs e with phi[e] > 0 and SNR >= snr_min;
 * 0 without positions. */
static double used_spread_px(const double *psi, const double *phi, const double *x_px,
                             const double *y_px, int ne, double snr_min)
{
    double d = 0.0;
    for (int e = 0; x_px && y_px && e < ne; e++)
        for (int f = e + 1; f < ne; f++)
            if (phi[e] > 0.0 && phi[f] > 0.0 && psi[e] >= snr_min * sqrt(phi[e]) &&
                psi[f] >= snr_min * sqrt(phi[f]))
                d = fmax(d, hypot(x_px[e] - x_px[f], y_px[e] - y_px[f]));
    return d;
}

int sso_fast_accept(const sso_fast_params *p, const double *psi, const double *phi, int ne,
                    const double *x_px, const double *y_px, int *n_epochs)
{
    double sa = 0.0, sb = 0.0, maxpsi = 0.0, snr[SSO_FAST_MAX_EPOCHS];
    int used = 0;
    if (n_epochs)
        *n_epochs = 0;
    if (!p || !psi || !phi || ne < 1 || ne > SSO_FAST_MAX_EPOCHS)
        return 0;
    for (int e = 0; e < ne; e++) {
        snr[e] = phi[e] > 0.0 ? psi[e] / sqrt(phi[e]) : 0.0;
        if (!(phi[e] > 0.0))
            continue;
        sa += psi[e], sb += phi[e], maxpsi = fmax(maxpsi, psi[e]);
        used += snr[e] >= p->epoch_snr_min;
    }
    if (n_epochs)
        *n_epochs = used;
    if (!(sb > 0.0) || !(sa > 0.0))
        return 0;
    const double nu = sa / sqrt(sb), mean = sa / sb, rest = sso_fast_rest_nu(psi, phi, ne);
    if (nu < p->nu_stack || used < p->min_epochs)
        return 0;
    /* one epoch's share of sum psi: psi_e = F phi_e, so the share is the epoch's share of the
     * data on the track, and a trail running into a saturated star's mask in one epoch (a third
     * of it seen) leaves the other with > 75% at any SNR (ccd seed 2 mover 262: 144 and 67
     * sigma). Waived where the others, stacked, are a detection in their own right
     * (rest_snr_strong, a lone streak's seed level; a bright streak's noise partner found by
     * the guided stack's local grid comes out at ~2-4 sigma) and the epochs lie apart
     * (rest_strong_sep_px): the rim that the bright-pixel mask leaves of a static galaxy in the
     * two exposures of a 2-exposure band is a pair of the same kind that does not move (the
     * movers-free quartet of tests/test_run_clean.sh: 25 and 10 sigma, 0.5 px apart). */
    if (maxpsi > p->max_epoch_frac * sa &&
        !(rest >= p->rest_snr_strong &&
          used_spread_px(psi, phi, x_px, y_px, ne, p->epoch_snr_min) >= p->rest_strong_sep_px))
        return 0;
    /* two epochs only: both must be streaks in their own right (a lone streak and a faint
     * epoch elsewhere is too weak a pair: noise and residuals make such false alerts) */
    if (used == 2)
        for (int e = 0; e < ne; e++)
            if (snr[e] >= p->epoch_snr_min && snr[e] < p->pair_snr_min)
                return 0;
    /* not carried by one epoch: the others stacked reach rest_snr_min (a lone streak's guided
     * stack maximises them over its local grid, so noise there comes out at ~2-3 sigma) */
    if (rest < p->rest_snr_min) /* NAN (one epoch): not this rule */
        return 0;
    for (int e = 0; e < ne; e++) {
        if (!(phi[e] > 0.0))
            continue;
        double se2 = 1.0 / phi[e], tol = p->consist_k * sqrt(se2 + pow(p->consist_frac * mean, 2));
        if (fabs(psi[e] / phi[e] - mean) > tol)
            return 0;
    }
    /* none absent: the consistency above lets 2 epochs at F and 2 at 0 through (the mean F/2 is
     * within 3 x 0.5 x F/2 of both), which is what a static residual makes, bright in the two
     * epochs whose template lacks it and negative in the others (a diffraction spike: a 2-epoch
     * alert at 25 sigma, the other epochs at -2 and 1 sigma). A mover varies by less than
     * dim_ratio_max; the bounds are at consist_k sigma, so a faint mover's noisy epoch is no
     * cause (at 6 sigma per epoch an epoch must fall ~8 sigma short). */
    if (p->dim_ratio_max > 0.0f) {
        double lo_max = -1e30;
        for (int e = 0; e < ne; e++)
            if (phi[e] > 0.0)
                lo_max = fmax(lo_max, (psi[e] - p->consist_k * sqrt(phi[e])) / phi[e]);
        for (int e = 0; e < ne; e++)
            if (phi[e] > 0.0 &&
                (psi[e] + p->consist_k * sqrt(phi[e])) / phi[e] < lo_max / p->dim_ratio_max)
                return 0;
    }
    return 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- exact trail model ---------------------------------------------------------------------- */

/* The cumulative trail table of kernel k (half kh) at angle th in [0, pi), from the cache or
 * built; NULL: no memory. */
static const float *ttab_get(ctx *c, const float *k, int kh, double th, int *n_out)
{
    ttab_set *S = &c->tab[k == c->psf ? 0 : 1];
    if (S->k != k || S->half != kh) {
        for (int i = 0; i < TTAB_NQ; i++)
            free(S->c[i]), S->c[i] = NULL;
        double r;
        S->k = k, S->half = kh, S->n = sso_fast_ttab_n(kh, TTAB_H, &r);
    }
    const int n = S->n, q = (int)lround(th / PI * TTAB_NQ) % TTAB_NQ;
    *n_out = n;
    if (S->c[q])
        return S->c[q];
    float *t = malloc(sizeof(float) * (size_t)n * (size_t)n);
    if (!t)
        return NULL;
    const double a = PI * q / TTAB_NQ, ct = cos(a), st = sin(a);
    for (int id = 0; id < n; id++)
        sso_fast_ttab_row(k, kh, ct, st, n, TTAB_H, id, t + (size_t)id * n);
    return S->c[q] = t;
}

/* psi = sum DW T and phi = sum W T^2 for the trail model T of unit flux (kernel k, half kh) centred
 * at (xc, yc), length len, angle th (sso_fast_ttab_trail: the PSF averaged along the segment);
 * pixels off the image count 0. The model's pixels (the band |across| < R, |along| < len/2 + R)
 * and values are kept in c->mi/mv for explaining away. */
static sso_status model_eval(ctx *c, int e, const float *k, int kh, double xc, double yc,
                             double len, double th, double *psi, double *phi)
{
    *psi = *phi = 0.0;
    c->mn = 0;
    th = fmod(th, PI); /* the same segment */
    th += th < 0.0 ? PI : 0.0;
    int n;
    const float *tb = ttab_get(c, k, kh, th, &n);
    if (!tb)
        return sso_fail(SSO_ERR_NOMEM, "fast: trail table");
    const double R = 0.5 * (n - 1) * TTAB_H, hl = 0.5 * len, ct = cos(th), st = sin(th);
    const double ea = hl + R;
    int y0 = (int)floor(yc - fabs(st) * hl - R), y1 = (int)ceil(yc + fabs(st) * hl + R);
    y0 = y0 < 0 ? 0 : y0, y1 = y1 > c->h - 1 ? c->h - 1 : y1;
    const size_t need = (size_t)(2.0 * R + 2.0) * (size_t)(len + 2.0 * R + 4.0) * 2 + 64;
    if (need > c->mcap) {
        size_t *ni = realloc(c->mi, sizeof(size_t) * need);
        if (ni)
            c->mi = ni;
        float *nv = realloc(c->mv, sizeof(float) * need);
        if (nv)
            c->mv = nv;
        if (!ni || !nv)
            return sso_fail(SSO_ERR_NOMEM, "fast: model of %zu px", need);
        c->mcap = need;
    }
    const epoch_ctx *E = &c->ep[e];
    const float *dw = c->resid ? E->dwr : E->dw;
    double sa = 0.0, sb = 0.0;
    size_t mn = 0;
    for (int y = y0; y <= y1; y++) {
        const double dy = y - yc;
        /* x - xc in [lo, hi]: |d| = |-(x - xc) st + dy ct| < R and |a| = |(x - xc) ct + dy st| < ea */
        double lo = -1e300, hi = 1e300;
        if (fabs(st) > 1e-12) {
            double u1 = (dy * ct - R) / st, u2 = (dy * ct + R) / st;
            lo = fmax(lo, fmin(u1, u2)), hi = fmin(hi, fmax(u1, u2));
        } else if (fabs(dy * ct) >= R) {
            continue;
        }
        if (fabs(ct) > 1e-12) {
            double u1 = (-ea - dy * st) / ct, u2 = (ea - dy * st) / ct;
            lo = fmax(lo, fmin(u1, u2)), hi = fmin(hi, fmax(u1, u2));
        } else if (fabs(dy * st) >= ea) {
            continue;
        }
        int x0 = (int)ceil(xc + lo), x1 = (int)floor(xc + hi);
        x0 = x0 < 0 ? 0 : x0, x1 = x1 > c->w - 1 ? c->w - 1 : x1;
        for (int x = x0; x <= x1; x++) {
            const double dx = x - xc, a = dx * ct + dy * st, d = -dx * st + dy * ct;
            const float tv = sso_fast_ttab_trail(tb, n, TTAB_H, len, a, d);
            if (tv == 0.0f || mn >= c->mcap)
                continue;
            const size_t q = (size_t)y * c->w + (size_t)x;
            c->mi[mn] = q, c->mv[mn] = tv;
            mn++;
            sa += (double)tv * dw[q];
            sb += (double)tv * tv * E->wt[q];
        }
    }
    c->mn = mn;
    *psi = sa, *phi = sb;
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

/* A streak as its two ends: p = (along1, along2, across1, across2) offsets of the ends from the
 * base segment's ends, along its direction u and across it (n). The SNR depends on each end
 * through the few pixels about it, so the ends are near-independent coordinates, where centre and
 * length are not (moving the centre along a long trail is nearly flat). */
typedef struct streak_arg {
    int e;
    double xc, yc, hl, ux, uy;
} streak_arg;

static void streak_from(const streak_arg *a, const double *p, double *q)
{
    const double x1 = a->xc - (a->hl - p[0]) * a->ux - p[2] * a->uy;
    const double y1 = a->yc - (a->hl - p[0]) * a->uy + p[2] * a->ux;
    const double x2 = a->xc + (a->hl + p[1]) * a->ux - p[3] * a->uy;
    const double y2 = a->yc + (a->hl + p[1]) * a->uy + p[3] * a->ux;
    q[0] = 0.5 * (x1 + x2), q[1] = 0.5 * (y1 + y2), q[2] = hypot(x2 - x1, y2 - y1);
    q[3] = atan2(y2 - y1, x2 - x1);
}

/* Clips the segment (xc, yc, len, th) to the image [-0.5, w - 0.5] x [-0.5, h - 0.5] (Liang-Barsky
 * on the parameter s in [-len/2, len/2]); q = clipped (xc, yc, len, th). 0: off the image. */
static int clip_seg(const ctx *c, const double *p, double *q)
{
    const double ct = cos(p[3]), st = sin(p[3]), hl = 0.5 * (p[2] < 1.0 ? 1.0 : p[2]);
    double lo = -hl, hi = hl;
    const double d[2] = {ct, st}, o[2] = {p[0], p[1]}, mx[2] = {c->w - 0.5, c->h - 0.5};
    for (int ax = 0; ax < 2; ax++) {
        if (fabs(d[ax]) < 1e-12) {
            if (o[ax] < -0.5 || o[ax] > mx[ax])
                return 0;
            continue;
        }
        double s1 = (-0.5 - o[ax]) / d[ax], s2 = (mx[ax] - o[ax]) / d[ax];
        if (s1 > s2) {
            double tmp = s1;
            s1 = s2, s2 = tmp;
        }
        lo = fmax(lo, s1), hi = fmin(hi, s2);
    }
    if (hi - lo < 1.0)
        return 0;
    const double sm = 0.5 * (lo + hi);
    q[0] = p[0] + sm * ct, q[1] = p[1] + sm * st, q[2] = hi - lo, q[3] = p[3];
    return 1;
}

/* 1 when epoch e has no data at (x, y): off the image, or the nearest pixel masked (weight 0). */
static int no_data(const ctx *c, int e, double x, double y)
{
    const long ix = lround(x), iy = lround(y);
    if (ix < 0 || iy < 0 || ix >= c->w || iy >= c->h)
        return 1;
    return !(c->ep[e].wt[(size_t)iy * c->w + ix] > 0.0f);
}

/* Trims a measured segment p = (xc, yc, len, th) to the part with data under its ends and says
 * which ends are unmeasured: an end off the image or in masked pixels (a detector gap, the edge of
 * the exposure's footprint in the patch, a bad column), or with such pixels within 1.5 px beyond
 * it (0.5 px for a streak shorter than the bank's shortest, len_min_px: 1.5 px flagged point-like
 * sources 2-3 px from a detector edge, and slow movers there were lost). There the fit is free
 * to extend the trail (no data adds nothing to psi or phi): the length is a lower bound and the
 * centre is not the mid-exposure position. Returns SSO_FAST_CLIP1 (the end at -len/2) |
 * SSO_FAST_CLIP2 (at +len/2), 0 when both ends are measured. */
static int mask_trim(const ctx *c, int e, double *p)
{
    const double ct = cos(p[3]), st = sin(p[3]), hl = 0.5 * p[2];
    double lo = -hl, hi = hl;
    while (lo < hi - 2.0 && no_data(c, e, p[0] + lo * ct, p[1] + lo * st))
        lo += 0.5;
    while (hi > lo + 2.0 && no_data(c, e, p[0] + hi * ct, p[1] + hi * st))
        hi -= 0.5;
    int cut = 0;
    const double ah = p[2] >= c->p->len_min_px ? 1.5 : 0.5; /* look-ahead */
    if (lo > -hl || no_data(c, e, p[0] + (lo - ah) * ct, p[1] + (lo - ah) * st))
        cut |= SSO_FAST_CLIP1;
    if (hi < hl || no_data(c, e, p[0] + (hi + ah) * ct, p[1] + (hi + ah) * st))
        cut |= SSO_FAST_CLIP2;
    const double sm = 0.5 * (lo + hi);
    p[0] += sm * ct, p[1] += sm * st, p[2] = hi - lo;
    return cut;
}

/* Bank noise scale nearest to (len, th) in epoch e. */
static double cal_at(const ctx *c, int e, double len, double th)
{
    /* the nearest full-resolution length: a longer (binned) one uses the longest full-resolution
     * map's scale at its angle (the scale depends on the angle, the sampling of the correlated
     * psi along the line, and within ~5% on the length) */
    int k = 0;
    for (int i = 1; i < c->n_full; i++)
        if (fabs(log(c->len[i] / len)) < fabs(log(c->len[k] / len)))
            k = i;
    double tm = fmod(th, PI);
    tm += tm < 0.0 ? PI : 0.0;
    int ia = (int)lround(tm / (PI / c->n_ang) / c->step[k]) * c->step[k];
    ia %= c->n_ang;
    float v = c->ep[e].cal[(size_t)ia * c->n_full + k];
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
    const float *psi = c->resid ? c->ep[e].psir : c->ep[e].psi;
    for (int q = a0; q < a0 + n; q++) {
        a += sso_fast_sample(psi, c->w, c->h, xm, q, j + t * q);
        b += sso_fast_sample(c->ep[e].phi, c->w, c->h, xm, q, j + t * q);
    }
    double cs = cal_at(c, e, len, th);
    *ps = a, *var = cs * cs * b;
}

/* The cheap twin of obj_streak: the line sum of psi_psf over the clipped segment (bank sampling)
 * over its calibrated noise; stage 1 of the streak measurement, where most samples are noise. */
static sso_status obj_streak_line(ctx *c, const void *arg, const double *pe, double *f)
{
    const streak_arg *a = arg;
    double q[4], p[4], ps, var;
    streak_from(a, pe, p);
    if (!clip_seg(c, p, q)) {
        *f = -1e30;
        return SSO_OK;
    }
    line_sum(c, a->e, q[0], q[1], q[2], q[3], &ps, &var);
    *f = var > 0.0 ? ps / sqrt(var) : -1e30;
    return SSO_OK;
}

static sso_status obj_streak(ctx *c, const void *arg, const double *pe, double *f)
{
    const streak_arg *a = arg;
    double psi, phi, q[4], p[4];
    streak_from(a, pe, p);
    if (!clip_seg(c, p, q)) {
        *f = -1e30;
        return SSO_OK;
    }
    sso_status st = model_eval(c, a->e, c->psf, c->ph, q[0], q[1], q[2], q[3], &psi, &phi);
    *f = phi > 0.0 ? psi / sqrt(phi) : -1e30;
    return st;
}

/* Maximises f along coordinate q of p: a scan over +-D in 9 steps, then halving steps about the
 * best (+-1 step each) down to 1/8 px, then a parabola. Robust where the coordinate search's steps
 * are too small to travel (a long trail's end may start ~L/8 away). */
static sso_status scan1d(ctx *c, const void *arg, objective fn, double *p, int q, double D,
                         double *fbest)
{
    const double p0 = p[q];
    double h = fmax(D / 4.0, 0.125), best = -1e30, bx = p0, f;
    sso_status st;
    for (int i = -4; i <= 4; i++) {
        p[q] = p0 + i * h;
        if ((st = fn(c, arg, p, &f)) != SSO_OK)
            return st;
        if (f > best)
            best = f, bx = p[q];
    }
    while (h > 0.125) {
        h *= 0.5;
        double fm, fp, x0 = bx;
        p[q] = x0 - h;
        if ((st = fn(c, arg, p, &fm)) != SSO_OK)
            return st;
        p[q] = x0 + h;
        if ((st = fn(c, arg, p, &fp)) != SSO_OK)
            return st;
        if (fm > best)
            best = fm, bx = x0 - h;
        if (fp > best)
            best = fp, bx = x0 + h;
        if (bx == x0 && h <= 0.25) { /* parabola on the last triple */
            double den = fp - 2.0 * best + fm;
            if (den < 0.0) {
                p[q] = x0 + fmax(-h, fmin(h, 0.5 * h * (fm - fp) / den));
                if ((st = fn(c, arg, p, &f)) != SSO_OK)
                    return st;
                if (f > best)
                    best = f, bx = p[q];
            }
        }
    }
    p[q] = bx;
    *fbest = best;
    return SSO_OK;
}

/* The streak a + pe as the base of a new parametrisation (pe = 0): its centre, half length and
 * direction. */
static void rebase(streak_arg *a, double *pe)
{
    double q[4];
    streak_from(a, pe, q);
    a->xc = q[0], a->yc = q[1], a->hl = 0.5 * q[2], a->ux = cos(q[3]), a->uy = sin(q[3]);
    pe[0] = pe[1] = pe[2] = pe[3] = 0.0;
}

/* Stage 2 of a streak's measurement: scans of its ends (pe of streak_arg) with the exact model.
 * Across first: the bank's angle is off by up to half its step, 1-3 px at the ends of a long
 * segment, and an end moved along before it is on the trail runs off it (measured: a 166 px trail
 * at SNR 42 per epoch came out 144 px long, 1.9 deg off, with its missing end found as a second
 * streak that no link could use). The ends are then re-based on the segment found (rebase):
 * along the base's direction, an end moving out would leave the trail at the angle still missing,
 * a ridge that scans of one coordinate do not climb. Then along over +-D, again over twice the
 * range from where a scan ends at its edge (the bank's best sample of a long trail may be a part
 * of it: a 100 px piece of a 275 px trail at SNR 40), across again, re-based; that again (over
 * +-D/4 first) until the length changes by < 1 px, at most 3 times; along +-2 px. */
static sso_status measure_ends(ctx *c, streak_arg *a, objective fn, double *pe, double D, double *f)
{
    sso_status st;
    for (int q = 2; q < 4; q++)
        if ((st = scan1d(c, a, fn, pe, q, 3.0, f)) != SSO_OK)
            return st;
    rebase(a, pe);
    for (int it = 0; it < 3; it++) {
        const double len0 = 2.0 * a->hl;
        for (int q = 0; q < 2; q++)
            for (double Dq = it ? fmax(2.0, 0.25 * D) : D; Dq < 4.0 * c->p->len_max_px; Dq *= 2.0) {
                const double from = pe[q], f_from = *f;
                if ((st = scan1d(c, a, fn, pe, q, Dq, f)) != SSO_OK)
                    return st;
                /* on: the best at the scan's edge, and better (no data beyond an image edge is
                 * flat, where the scan would run on) */
                if (fabs(pe[q] - from) < 0.9 * Dq || !(*f > f_from + 1e-6))
                    break;
            }
        for (int q = 2; q < 4; q++)
            if ((st = scan1d(c, a, fn, pe, q, 1.0, f)) != SSO_OK)
                return st;
        rebase(a, pe);
        if (it > 0 && fabs(2.0 * a->hl - len0) < 1.0)
            break;
    }
    for (int q = 0; q < 2; q++)
        if ((st = scan1d(c, a, fn, pe, q, 2.0, f)) != SSO_OK)
            return st;
    return SSO_OK;
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

/* The track as offsets of its positions at the first and last epochs (tf, tl), along and across
 * the seed motion (unit (ux, uy)) about the seed track q0 = (x0, y0, vx, vy): p = (along_f,
 * across_f, along_l, across_l). The end epochs' positions are nearly independent measurements, so
 * the coordinate search is not slowed by the strong correlation of position and velocity along
 * the track (the SNR surface of a long trail is flat along it). */
typedef struct track_arg {
    double q0[4], ux, uy, tf, tl;
} track_arg;

static void track_from(const track_arg *t, const double *p, double *q)
{
    const double xf = p[0] * t->ux - p[1] * t->uy, yf = p[0] * t->uy + p[1] * t->ux;
    const double xl = p[2] * t->ux - p[3] * t->uy, yl = p[2] * t->uy + p[3] * t->ux;
    const double dt = t->tl - t->tf, vx = (xl - xf) / dt, vy = (yl - yf) / dt;
    q[0] = t->q0[0] + xf - vx * t->tf, q[1] = t->q0[1] + yf - vy * t->tf;
    q[2] = t->q0[2] + vx, q[3] = t->q0[3] + vy;
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

/* obj_track along a line of the track's parameter space: base + p[0] dir. */
typedef struct track_line {
    const track_arg *ta;
    double base[4], dir[4];
} track_line;

static sso_status obj_track_line(ctx *c, const void *arg, const double *p, double *f)
{
    const track_line *l = arg;
    double pp[4];
    for (int i = 0; i < 4; i++)
        pp[i] = l->base[i] + p[0] * l->dir[i];
    return obj_track(c, l->ta, pp, f);
}

/* The track whose trail at epoch a->e has the ends streak_from(a, pe) gives (the motion from the
 * first end to the second): its rate is that trail's length over the exposure. */
static void track_of_ends(const ctx *c, const streak_arg *a, const double *pe, double *p)
{
    double q[4];
    streak_from(a, pe, q);
    const double v = q[2] / c->exptime_h, te = c->t[a->e];
    p[2] = v * cos(q[3]), p[3] = v * sin(q[3]);
    p[0] = q[0] - p[2] * te, p[1] = q[1] - p[3] * te;
}

/* obj_track in the ends of one epoch's trail: where the length of one trail, not the displacement
 * between epochs, measures the rate (long trails, 2 epochs), moving one end is one coordinate,
 * where in the end epochs' positions it is a long diagonal valley (lengthening a 2-epoch
 * mover's trail by 10 px with its other end fixed moves the first epoch -28 px and the last +72). */
static sso_status obj_track_ends(ctx *c, const void *arg, const double *pe, double *f)
{
    double psi[SSO_FAST_MAX_EPOCHS], phi[SSO_FAST_MAX_EPOCHS], a = 0.0, b = 0.0, p[4];
    track_of_ends(c, arg, pe, p);
    sso_status st = track_eval(c, p, psi, phi);
    for (int e = 0; e < c->ne; e++)
        a += psi[e], b += phi[e];
    *f = b > 0.0 ? a / sqrt(b) : -1e30;
    return st;
}

/* pp (track_arg coordinates about t->q0) of the track q = (x0, y0, vx, vy). */
static void track_to(const track_arg *t, const double *q, double *pp)
{
    const double tt[2] = {t->tf, t->tl};
    for (int i = 0; i < 2; i++) {
        const double dx = (q[0] - t->q0[0]) + (q[2] - t->q0[2]) * tt[i];
        const double dy = (q[1] - t->q0[1]) + (q[3] - t->q0[3]) * tt[i];
        pp[2 * i] = dx * t->ux + dy * t->uy, pp[2 * i + 1] = -dx * t->uy + dy * t->ux;
    }
}

/* ---- bank samples ------------------------------------------------------------------------- */

static int raw_cmp(const void *a, const void *b)
{
    const sso_fast_raw *x = a, *y = b;
    if (x->snr != y->snr)
        return x->snr > y->snr ? -1 : 1;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    if (x->ang != y->ang)
        return x->ang < y->ang ? -1 : 1;
    if (x->yc_px != y->yc_px)
        return x->yc_px < y->yc_px ? -1 : 1;
    if (x->xc_px != y->xc_px)
        return x->xc_px < y->xc_px ? -1 : 1;
    return 0;
}

/* Distance from (x, y) to the segment centre (xc, yc), half length hl, direction (ct, st). */
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
        if (sso_fast_seg_dist(xc, yc, s[i].xc_px, s[i].yc_px, hl, ct, st) <= 3.0 &&
            ang_diff(th, s[i].theta_rad) < 0.2)
            return 1;
        int in = 0;
        for (int q = -2; q <= 2; q++) {
            double x = xc + q * 0.25 * len * cos(th), y = yc + q * 0.25 * len * sin(th);
            in += sso_fast_seg_dist(x, y, s[i].xc_px, s[i].yc_px, hl, ct, st) <= 3.0;
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

/* The bank of epoch e on the bounding box of its valid pixels (a patch's epochs are dithered: each
 * covers part of it): the lengths [0, n_full) on psi/phi themselves, the longer ones on 2 x 2
 * binned sums of psi and phi (bankb: a quarter of the pixels; the binned line sum is the sum of
 * psi over a 2 px wide strip, the SNR loss is in bench/results/fast-search-vm-2026-11-21.md). The
 * samples come back in the epoch's pixels: a binned pixel i spans 2i, 2i + 1 (centre 2i + 0.5). */
static sso_status bank_epoch(ctx *c, int e, sso_fast_raw **all, size_t *nall)
{
    const epoch_ctx *E = &c->ep[e];
    const int w = c->w, h = c->h;
    int x0 = w, x1 = -1, y0 = h, y1 = -1;
    for (int y = 0; y < h; y++) {
        const float *r = E->wt + (size_t)y * w;
        int a = 0, b = w - 1;
        while (a < w && !(r[a] > 0.0f))
            a++;
        if (a == w)
            continue;
        while (!(r[b] > 0.0f))
            b--;
        x0 = a < x0 ? a : x0, x1 = b > x1 ? b : x1;
        y0 = y < y0 ? y : y0, y1 = y;
    }
    *all = NULL, *nall = 0;
    if (x1 < x0)
        return SSO_OK;
    /* psi reaches half a kernel beyond the data */
    x0 = x0 - c->ph < 0 ? 0 : x0 - c->ph, y0 = y0 - c->ph < 0 ? 0 : y0 - c->ph;
    x1 = x1 + c->ph > w - 1 ? w - 1 : x1 + c->ph, y1 = y1 + c->ph > h - 1 ? h - 1 : y1 + c->ph;
    const int cw = x1 - x0 + 1, ch = y1 - y0 + 1, bw = (cw + 1) / 2, bh = (ch + 1) / 2;
    const int nb = c->n_len - c->n_full;
    const size_t cn = (size_t)cw * ch, bn = (size_t)bw * bh;
    float *buf = malloc(sizeof(float) * (2 * cn + (nb ? 2 * bn : 0)));
    float *calb = nb ? calloc((size_t)c->bankb.n_ang * nb, sizeof(float)) : NULL;
    sso_fast_raw *ra = NULL, *rb = NULL;
    size_t na = 0, nbr = 0;
    sso_status st = SSO_OK;
    if (!buf || (nb && !calb)) {
        st = sso_fail(SSO_ERR_NOMEM, "fast: bank crop of %d x %d", cw, ch);
        goto exit;
    }
    float *cp = buf, *cf = buf + cn;
    for (int y = 0; y < ch; y++) {
        memcpy(cp + (size_t)y * cw, E->psi + (size_t)(y0 + y) * w + x0, sizeof(float) * cw);
        memcpy(cf + (size_t)y * cw, E->phi + (size_t)(y0 + y) * w + x0, sizeof(float) * cw);
    }
    if ((st = sso_fast_bank_run_on(c->p->backend, &c->bank, cp, cf, cw, ch, c->p->nu_epoch,
                                   c->p->n_threads, E->cal, &ra, &na, NULL)) != SSO_OK)
        goto exit;
    if (nb) {
        float *bp = buf + 2 * cn, *bf = bp + bn;
        memset(bp, 0, sizeof(float) * 2 * bn);
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                const size_t i = (size_t)(y / 2) * bw + (size_t)(x / 2), j = (size_t)y * cw + x;
                bp[i] += cp[j], bf[i] += cf[j];
            }
        if ((st = sso_fast_bank_run_on(c->p->backend, &c->bankb, bp, bf, bw, bh,
                                       (float)(BIN_NU * c->p->nu_epoch),
                                       c->p->n_threads, calb, &rb, &nbr, NULL)) != SSO_OK)
            goto exit;
    }
    *all = malloc(sizeof(sso_fast_raw) * (na + nbr + 1));
    if (!*all) {
        st = sso_fail(SSO_ERR_NOMEM, "fast: %zu bank samples", na + nbr);
        goto exit;
    }
    for (size_t i = 0; i < na; i++) {
        sso_fast_raw r = ra[i];
        r.xc_px += x0, r.yc_px += y0;
        (*all)[(*nall)++] = r;
    }
    for (size_t i = 0; i < nbr; i++) {
        sso_fast_raw r = rb[i];
        r.k += c->n_full;
        r.xc_px = 2.0 * r.xc_px + 0.5 + x0, r.yc_px = 2.0 * r.yc_px + 0.5 + y0;
        (*all)[(*nall)++] = r;
    }
exit:
    free(buf), free(calb), free(ra), free(rb);
    return st;
}

/* Suppression and measurement of one epoch's streaks from its bank samples all[nall] (sorted by
 * raw_cmp), into res (streaks of this epoch only, counters). c is the worker's own ctx. */
static sso_status streaks_epoch(ctx *c, int e, const sso_fast_raw *all, size_t nall,
                                sso_fast_result *res)
{
    sso_status st = SSO_OK;
    const size_t first = res->ns;
    int kept = 0;
    memcpy(c->ep[e].dwr, c->ep[e].dw, sizeof(float) * (size_t)c->w * c->h);
    memcpy(c->ep[e].psir, c->ep[e].psi, sizeof(float) * (size_t)c->w * c->h);
    c->resid = 1;
    for (size_t i = 0; i < nall && kept < MAX_STREAKS_EPOCH; i++) {
        const sso_fast_raw *rw = &all[i];
        double th0 = rw->th_rad, len0 = c->len[rw->k];
        double p[4] = {rw->xc_px, rw->yc_px, len0, th0}, f;
        streak_arg a = {e, p[0], p[1], 0.5 * p[2], cos(p[3]), sin(p[3])};
        double pe[4] = {0.0, 0.0, 0.0, 0.0};
        /* prescreen: the bank statistic again, on the residual psi (0.7 nu_epoch): what a kept
         * streak explains is dropped (most samples: a bright residual or a cosmic ray puts samples
         * in every length and angle crossing it); then the geometric suppression; stage 1: a
         * short coordinate search of the ends on line sums (cheap), then the exact model (0.9
         * nu_epoch); stage 2: exact scans of the ends (measure_ends), then a joint polish */
        if ((st = obj_streak_line(c, &a, pe, &f)) != SSO_OK)
            goto exit;
        if (f < 0.7 * c->p->nu_epoch)
            continue;
        if (res->ns > first &&
            suppressed(res->s + first, res->ns - first, rw->xc_px, rw->yc_px, len0, th0))
            continue;
        res->st.n_prescreen_pass++;
        const double sa = fmax(1.0, len0 / 16.0);
        double stepe[4] = {sa, sa, 0.5, 0.5};
        if ((st = coord_search(c, &a, obj_streak_line, 4, pe, stepe, 4, &f)) != SSO_OK)
            goto exit;
        if ((st = obj_streak(c, &a, pe, &f)) != SSO_OK)
            goto exit;
        if (f < 0.9 * c->p->nu_epoch)
            continue;
        res->st.n_refined++;
        if ((st = measure_ends(c, &a, obj_streak, pe, fmax(3.0, len0 / 6.0), &f)) != SSO_OK)
            goto exit;
        stepe[0] = stepe[1] = stepe[2] = stepe[3] = 0.25;
        if ((st = coord_search(c, &a, obj_streak, 4, pe, stepe, 3, &f)) != SSO_OK)
            goto exit;
        streak_from(&a, pe, p);
        p[2] = p[2] < 1.0 ? 1.0 : p[2];
        double pc[4];
        if (!clip_seg(c, p, pc))
            continue;
        int clipped = mask_trim(c, e, p); /* the image edge too */
        const double th_fit = p[3];
        p[3] = fmod(p[3], PI);
        p[3] += p[3] < 0.0 ? PI : 0.0;
        if (clipped && clipped != (SSO_FAST_CLIP1 | SSO_FAST_CLIP2) && fabs(p[3] - th_fit) > 1.0)
            clipped ^= SSO_FAST_CLIP1 | SSO_FAST_CLIP2; /* turned by pi: the ends swapped */
        double psi, phi, psin, phin;
        static const float delta[1] = {1.0f};
        if ((st = model_eval(c, e, delta, 0, p[0], p[1], p[2], p[3], &psin, &phin)) != SSO_OK)
            goto exit;
        if ((st = model_eval(c, e, c->psf, c->ph, p[0], p[1], p[2], p[3], &psi, &phi)) != SSO_OK)
            goto exit;
        if (!(phi > 0.0))
            continue;
        if (psi / sqrt(phi) >= c->p->nu_epoch) { /* explain it away: DWr -= flux T W */
            const double fl = psi / phi;
            epoch_ctx *E = &c->ep[e];
            const int kh = c->ph, kn = 2 * kh + 1;
            for (size_t u = 0; u < c->mn; u++) {
                const size_t q = c->mi[u];
                const float dl = (float)(fl * c->mv[u] * E->wt[q]);
                E->dwr[q] -= dl;
                /* psi(x) = sum_k K(k) DW(x + k) (sso_likelihood): DW(q) feeds psi(q - k) */
                const int qx = (int)(q % (size_t)c->w), qy = (int)(q / (size_t)c->w);
                for (int ky = -kh; ky <= kh; ky++) {
                    const int y = qy - ky;
                    if (y < 0 || y >= c->h)
                        continue;
                    for (int kx = -kh; kx <= kh; kx++) {
                        const int x = qx - kx;
                        if (x >= 0 && x < c->w)
                            E->psir[(size_t)y * c->w + x] -= dl * c->psf[(ky + kh) * kn + kx + kh];
                    }
                }
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
        s.clipped = clipped;
        if (s.snr < c->p->nu_epoch)
            continue;
        if ((st = push_streak(res, &s)) != SSO_OK)
            goto exit;
        kept++;
        res->st.n_streaks++;
        res->st.n_sharp += s.sharp;
    }
exit:
    c->resid = 0;
    return st;
}

/* The epochs' measurements at once, one epoch per worker (each epoch's explaining away is
 * sequential by SNR, and the epochs share nothing): a worker has its own copy of the ctx (model
 * scratch, trail-table cache, resid flag) and its own result; the streaks are then appended in
 * epoch order and the counters summed, so the result does not depend on the thread count, and
 * the tables the workers built move into c's cache for the linking. */
typedef struct measure_job {
    ctx wc[SSO_FAST_MAX_EPOCHS];
    sso_fast_result r[SSO_FAST_MAX_EPOCHS];
    sso_fast_raw *const *all;
    const size_t *nall;
} measure_job;

static sso_status measure_epoch(void *arg, int64_t e)
{
    measure_job *j = arg;
    return streaks_epoch(&j->wc[e], (int)e, j->all[e], j->nall[e], &j->r[e]);
}

static sso_status measure_all(ctx *c, sso_fast_raw *const *all, const size_t *nall,
                              sso_fast_result *res)
{
    measure_job *j = calloc(1, sizeof *j);
    if (!j)
        return sso_fail(SSO_ERR_NOMEM, "fast: measurement workers");
    j->all = all, j->nall = nall;
    for (int e = 0; e < c->ne; e++) {
        j->wc[e] = *c;
        j->wc[e].mi = NULL, j->wc[e].mv = NULL, j->wc[e].mn = j->wc[e].mcap = 0;
        memset(j->wc[e].tab, 0, sizeof j->wc[e].tab);
    }
    sso_status st = sso_parallel_each(c->p->n_threads, c->ne, measure_epoch, j);
    for (int e = 0; e < c->ne; e++) {
        const sso_fast_result *r = &j->r[e];
        for (size_t i = 0; i < r->ns && !st; i++)
            st = push_streak(res, &r->s[i]);
        res->st.n_prescreen_pass += r->st.n_prescreen_pass;
        res->st.n_refined += r->st.n_refined;
        res->st.n_streaks += r->st.n_streaks;
        res->st.n_sharp += r->st.n_sharp;
        free(r->s);
        ctx *w = &j->wc[e];
        free(w->mi), free(w->mv);
        for (int t = 0; t < 2; t++) {
            ttab_set *S = &c->tab[t], *W = &w->tab[t];
            if (W->k && !S->k)
                S->k = W->k, S->half = W->half, S->n = W->n;
            for (int q = 0; q < TTAB_NQ; q++) {
                const int same = W->k == S->k && W->half == S->half;
                if (W->c[q] && same && !S->c[q])
                    S->c[q] = W->c[q];
                else
                    free(W->c[q]);
            }
        }
    }
    free(j);
    return st;
}

/* ---- guided stack --------------------------------------------------------------------------- */

/* The largest |t_e - t| over the epochs [h]. */
static double far_h(const ctx *c, double t)
{
    double m = 0.0;
    for (int e = 0; e < c->ne; e++)
        m = fmax(m, fabs(c->t[e] - t));
    return m;
}

/* Best track on the local velocity grid about v, keeping the position at time ts fixed: across
 * the motion +-6 px at the farthest epoch in 0.5 px steps, along it +-al_px (>= 6 px). */
static double grid_best(const ctx *c, double xs, double ys, double ts, double al_px, double *vx,
                        double *vy)
{
    const double tmax = far_h(c, ts), dv = tmax > 0.0 ? 0.5 / tmax : 0.0, vn = hypot(*vx, *vy);
    const double ux = vn > 0.0 ? *vx / vn : 1.0, uy = vn > 0.0 ? *vy / vn : 0.0;
    const int R = 12, Ra = (int)ceil(fmin(fmax(al_px, 6.0), 60.0) / 0.5);
    double best = -1e30, bvx = *vx, bvy = *vy;
    for (int ic = -R; ic <= R; ic++)
        for (int ia = -Ra; ia <= Ra; ia++) {
            double wx = *vx + dv * (ia * ux - ic * uy), wy = *vy + dv * (ia * uy + ic * ux);
            double a = 0.0, b = 0.0, len = hypot(wx, wy) * c->exptime_h, th = atan2(wy, wx);
            for (int e = 0; e < c->ne; e++) {
                double ps, var;
                line_sum(c, e, xs + wx * (c->t[e] - ts), ys + wy * (c->t[e] - ts), len, th, &ps,
                         &var);
                a += ps, b += var;
            }
            double f = b > 0.0 ? a / sqrt(b) : -1e30;
            if (f > best)
                best = f, bvx = wx, bvy = wy;
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

/* Exact-model SNR of epoch e's trail of the track (xs, ys at ts; v) shifted by d px along it. */
static sso_status along_f(ctx *c, int e, double xs, double ys, double ts, double vx, double vy,
                          double d, double *f)
{
    const double vn = hypot(vx, vy), len = vn * c->exptime_h, th = atan2(vy, vx);
    double psi, phi;
    sso_status st = model_eval(c, e, c->psf, c->ph, xs + vx * (c->t[e] - ts) + d * vx / vn,
                               ys + vy * (c->t[e] - ts) + d * vy / vn, len, th, &psi, &phi);
    *f = phi > 0.0 ? psi / sqrt(phi) : -1e30;
    return st;
}

/* Along-track refinement: each epoch's trail is slid along the track (1 px steps over +-D, then a
 * parabola), and a line weighted by SNR^2 through the epochs' offsets updates the position at ts
 * and the along-track velocity. The epochs are independent here, which the joint search is not:
 * the SNR of a long trail is flat along it, and position and velocity are correlated. */
static sso_status along_refine(ctx *c, double *xs, double *ys, double ts, double *vx, double *vy)
{
    for (int it = 0; it < 2; it++) {
        const double vn = hypot(*vx, *vy), len = vn * c->exptime_h;
        if (!(vn > 0.0))
            return SSO_OK;
        const int D = (int)fmin(fmax(4.0, 0.1 * len), 20.0);
        double sw = 0, st_ = 0, stt = 0, sa = 0, sta = 0;
        int n = 0;
        for (int e = 0; e < c->ne; e++) {
            double best = -1e30, f0, fm, fp;
            int bi = 0;
            sso_status st;
            for (int i = -D; i <= D; i++) {
                double f;
                if ((st = along_f(c, e, *xs, *ys, ts, *vx, *vy, i, &f)) != SSO_OK)
                    return st;
                if (f > best)
                    best = f, bi = i;
            }
            if (best < 3.0 || bi == -D || bi == D)
                continue;
            f0 = best;
            if ((st = along_f(c, e, *xs, *ys, ts, *vx, *vy, bi - 1, &fm)) != SSO_OK ||
                (st = along_f(c, e, *xs, *ys, ts, *vx, *vy, bi + 1, &fp)) != SSO_OK)
                return st;
            double den = fp - 2.0 * f0 + fm, d = bi;
            if (den < 0.0)
                d += fmax(-0.5, fmin(0.5, 0.5 * (fm - fp) / den));
            const double wgt = best * best, tt = c->t[e] - ts;
            sw += wgt, st_ += wgt * tt, stt += wgt * tt * tt, sa += wgt * d, sta += wgt * tt * d;
            n++;
        }
        if (n < 2)
            return SSO_OK;
        const double den = sw * stt - st_ * st_;
        if (!(den > 0.0))
            return SSO_OK;
        const double va = (sw * sta - st_ * sa) / den, a0 = (sa - va * st_) / sw;
        const double ux = *vx / vn, uy = *vy / vn;
        *xs += a0 * ux, *ys += a0 * uy, *vx += va * ux, *vy += va * uy;
    }
    return SSO_OK;
}

/* A starting track for the guided stack: through (xs, ys) at ts with velocity (vx, vy); the local
 * grid moves the farthest epoch by up to +-al px along it. */
typedef struct seed {
    double xs, ys, ts, vx, vy, al;
} seed;

/* Guided stack from the best of n seeds (by the local grid's stacked line-sum SNR), each in one
 * sense or, with both, in either. */
static sso_status guided(ctx *c, sso_fast_result *res, const seed *sd, int n, int both,
                         int n_linked)
{
    const sso_fast_params *p = c->p;
    double xs = sd[0].xs, ys = sd[0].ys, ts = sd[0].ts, ux = sd[0].vx, uy = sd[0].vy, fb = -1e30;
    for (int i = 0; i < n; i++)
        for (int sense = 0; sense < 1 + (both != 0); sense++) {
            const double sg = sense ? -1.0 : 1.0;
            double wx = sg * sd[i].vx, wy = sg * sd[i].vy;
            const double f = grid_best(c, sd[i].xs, sd[i].ys, sd[i].ts, sd[i].al, &wx, &wy);
            if (f > fb)
                fb = f, xs = sd[i].xs, ys = sd[i].ys, ts = sd[i].ts, ux = wx, uy = wy;
        }
    sso_status st = along_refine(c, &xs, &ys, ts, &ux, &uy);
    if (st != SSO_OK)
        return st;
    track_arg ta = {{xs - ux * ts, ys - uy * ts, ux, uy}, 1.0, 0.0, c->t[0], c->t[0]};
    for (int e = 0; e < c->ne; e++)
        ta.tf = fmin(ta.tf, c->t[e]), ta.tl = fmax(ta.tl, c->t[e]);
    if (ta.tl - ta.tf < 1e-6)
        ta.tl = ta.tf + 1e-6;
    double vn = hypot(ux, uy), f, q[4], pp[4] = {0.0, 0.0, 0.0, 0.0};
    if (vn > 0.0)
        ta.ux = ux / vn, ta.uy = uy / vn;
    double step[4] = {1.0, 0.5, 1.0, 0.5};
    st = coord_search(c, &ta, obj_track, 4, pp, step, 8, &f);
    if (st != SSO_OK)
        return st;
    /* the coordinate search moves one end epoch at a time, which changes the rate and so every
     * trail's length: a shift of the whole track along (or across) it, where a long trail's SNR
     * rises slowly, is a ridge it does not climb (measured: a 393 px trail at SNR 12 per epoch
     * stopped 4 px along from the optimum, 2.5 sigma in chi^2). Line searches along both, then
     * the coordinate search again. */
    const double lt = hypot(ux, uy) * c->exptime_h;
    track_line tl = {&ta, {pp[0], pp[1], pp[2], pp[3]}, {1.0, 0.0, 1.0, 0.0}};
    double d0 = 0.0;
    if ((st = scan1d(c, &tl, obj_track_line, &d0, 0, fmin(fmax(0.05 * lt, 2.0), 20.0), &f)) !=
        SSO_OK)
        return st;
    for (int i = 0; i < 4; i++)
        tl.base[i] += d0 * tl.dir[i];
    tl.dir[0] = tl.dir[2] = 0.0, tl.dir[1] = tl.dir[3] = 1.0, d0 = 0.0;
    if ((st = scan1d(c, &tl, obj_track_line, &d0, 0, 1.5, &f)) != SSO_OK)
        return st;
    for (int i = 0; i < 4; i++)
        pp[i] = tl.base[i] + d0 * tl.dir[i];
    step[0] = step[1] = step[2] = step[3] = 0.25;
    if ((st = coord_search(c, &ta, obj_track, 4, pp, step, 3, &f)) != SSO_OK)
        return st;
    /* then the ends of the strongest epoch's trail, scanned as a streak's (measure_ends), and the
     * end epochs' positions once more */
    track_from(&ta, pp, q);
    double psi[SSO_FAST_MAX_EPOCHS], phi[SSO_FAST_MAX_EPOCHS], sa = 0.0, sb = 0.0;
    if ((st = track_eval(c, q, psi, phi)) != SSO_OK)
        return st;
    int es = -1;
    for (int e = 0; e < c->ne; e++)
        if (phi[e] > 0.0 && (es < 0 || psi[e] / sqrt(phi[e]) > psi[es] / sqrt(phi[es])))
            es = e;
    const double vq = hypot(q[2], q[3]);
    if (es >= 0 && vq > 0.0) {
        streak_arg ea = {es, q[0] + q[2] * c->t[es], q[1] + q[3] * c->t[es],
                         0.5 * vq * c->exptime_h, q[2] / vq, q[3] / vq};
        double pe[4] = {0.0, 0.0, 0.0, 0.0}, fe, qe[4];
        if ((st = measure_ends(c, &ea, obj_track_ends, pe, fmax(2.0, 0.05 * ea.hl), &fe)) !=
            SSO_OK)
            return st;
        if (fe > f) {
            track_of_ends(c, &ea, pe, qe);
            track_to(&ta, qe, pp);
            if ((st = coord_search(c, &ta, obj_track, 4, pp, step, 3, &f)) != SSO_OK)
                return st;
            track_from(&ta, pp, q);
            if ((st = track_eval(c, q, psi, phi)) != SSO_OK)
                return st;
        }
    }
    sso_fast_cand cd;
    memset(&cd, 0, sizeof(cd));
    int used = 0;
    for (int e = 0; e < c->ne; e++) {
        sa += psi[e], sb += phi[e];
        cd.x_px[e] = q[0] + q[2] * c->t[e], cd.y_px[e] = q[1] + q[3] * c->t[e];
        if (phi[e] > 0.0) {
            cd.flux_e[e] = (float)(psi[e] / phi[e]);
            cd.flux_err_e[e] = (float)(1.0 / sqrt(phi[e]));
            cd.snr[e] = (float)(psi[e] / sqrt(phi[e]));
        }
    }
    if (!sso_fast_accept(p, psi, phi, c->ne, cd.x_px, cd.y_px, &used)) /* also: no signal */
        return SSO_OK;
    const double nu = sa / sqrt(sb), mean = sa / sb;
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
    /* the streaks it explains are used (sso_fast_cand_holds: a piece a measurement left, seeding
     * a lone guided stack, found the same mover again at a rate a few % off, a duplicate alert) */
    for (size_t i = 0; i < res->ns; i++)
        if (sso_fast_cand_holds(&cd, &res->s[i]))
            res->s[i].used = 1;
    return push_cand(res, &cd);
}

/* Whether candidate c's trail at streak s's epoch explains s (sso/fast.h). */
int sso_fast_cand_holds(const sso_fast_cand *c, const sso_fast_streak *s)
{
    const int e = s->epoch;
    if (e < 0 || e >= SSO_FAST_MAX_EPOCHS || ang_diff(s->theta_rad, c->theta_rad) >= 0.2)
        return 0;
    const double ct = cos(c->theta_rad), sn = sin(c->theta_rad), tol = fmax(3.0, 0.1 * c->len_px);
    const double hl = 0.5 * c->len_px + tol;
    return hypot(s->xc_px - c->x_px[e], s->yc_px - c->y_px[e]) <= tol ||
           (sso_fast_seg_dist(s->x1_px, s->y1_px, c->x_px[e], c->y_px[e], hl, ct, sn) <= 3.0 &&
            sso_fast_seg_dist(s->x2_px, s->y2_px, c->x_px[e], c->y_px[e], hl, ct, sn) <= 3.0);
}

/* Do streaks a and b (different epochs) move together? (sso/fast.h) */
double sso_fast_link_mismatch(const sso_fast_streak *a, const sso_fast_streak *b, const double *t_h,
                              double exptime_h)
{
    if (!a || !b || !t_h || !(exptime_h > 0.0) || a->epoch < 0 || b->epoch < 0 ||
        a->epoch >= SSO_FAST_MAX_EPOCHS || b->epoch >= SSO_FAST_MAX_EPOCHS)
        return 1e30;
    double dt = t_h[b->epoch] - t_h[a->epoch];
    if (fabs(dt) < 1e-6)
        return 1e30;
    double vx = (b->xc_px - a->xc_px) / dt, vy = (b->yc_px - a->yc_px) / dt, vd = hypot(vx, vy);
    double worst = 0.0;
    int n_rate = 0, n_dir = 0;
    const sso_fast_streak *s2[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const sso_fast_streak *s = s2[i];
        double rate = s->len_px / exptime_h;
        double tol_r = 3.0 * (1.0 + 0.02 * s->len_px) / exptime_h + 0.05 * rate;
        double tol_a = 3.0 * (1.5 / s->len_px) + 0.03 + 3.0 / (vd * fabs(dt) + 1.0);
        double sa = fabs(sin(atan2(vy, vx) - s->theta_rad));
        /* a clipped streak's length is a lower bound of the rate; its angle is measured */
        const int rated = !(s->clipped && vd > rate);
        double dr = rated ? fabs(vd - rate) : 0.0;
        n_rate += rated, n_dir += tol_a < 0.2;
        worst = fmax(worst, fmax(dr / tol_r, sa / tol_a));
    }
    /* no rate tested (both clipped, the displacement beyond both lengths): the link rests on the
     * directions, which both streaks must have (a short clipped one's angle test is vacuous) */
    return n_rate || n_dir == 2 ? worst : 1e30;
}

/* The line x(t) = xs + v (t - ts) through the mid-exposure positions of a link's members
 * (member[e]: index of epoch e's streak, -1 none), least squares. A clipped streak's centre is not
 * its mid-exposure position: the first fit leaves clipped members out when two are unclipped (all in,
 * else); then a member with one measured end is placed at that end less half the fitted trail
 * (|v| exptime) along the motion, and the line is fitted again, twice. */
static void link_line(const ctx *c, const sso_fast_result *res, const int *member, double ts,
                      double *xs, double *ys, double *vx, double *vy)
{
    int n_unclip = 0;
    for (int e = 0; e < c->ne; e++)
        n_unclip += member[e] >= 0 && !res->s[member[e]].clipped;
    for (int it = 0; it < 3; it++) {
        double sw = 0, st_ = 0, stt = 0, sx = 0, sy = 0, stx = 0, sty = 0;
        const double vn = it ? hypot(*vx, *vy) : 0.0, hl = 0.5 * vn * c->exptime_h;
        for (int e = 0; e < c->ne; e++) {
            if (member[e] < 0)
                continue;
            const sso_fast_streak *b = &res->s[member[e]];
            double x = b->xc_px, y = b->yc_px;
            if (b->clipped && it == 0 && n_unclip >= 2)
                continue;
            if (b->clipped && it > 0) {
                if (b->clipped == (SSO_FAST_CLIP1 | SSO_FAST_CLIP2) || !(vn > 0.0))
                    continue;
                /* the motion along the streak: d; the measured end at +-1 along it */
                const double sg = (b->x2_px - b->x1_px) * *vx + (b->y2_px - b->y1_px) * *vy > 0.0
                                      ? 1.0 : -1.0;
                const double dx = sg * cos(b->theta_rad), dy = sg * sin(b->theta_rad);
                const int end2 = b->clipped == SSO_FAST_CLIP1;
                const double ex = end2 ? b->x2_px : b->x1_px, ey = end2 ? b->y2_px : b->y1_px;
                const double par = sg * (end2 ? 1.0 : -1.0);
                x = ex - par * hl * dx, y = ey - par * hl * dy;
            }
            const double tt = c->t[e];
            sw += 1, st_ += tt, stt += tt * tt, sx += x, sy += y, stx += tt * x, sty += tt * y;
        }
        const double den = sw * stt - st_ * st_;
        if (sw < 2.0 || !(fabs(den) > 0.0))
            break; /* keeps the last fit (the first always has two members) */
        *vx = (sw * stx - st_ * sx) / den, *vy = (sw * sty - st_ * sy) / den;
        *xs = (sx + *vx * (sw * ts - st_)) / sw, *ys = (sy + *vy * (sw * ts - st_)) / sw;
    }
}

/* Seeds of a link besides its line (link_line), one per unclipped member: through the member's
 * centre at its epoch, at the rate of its own length, in the line's sense. The line rests on the
 * members' centres, and a member cut short unflagged (a piece of a trail that crossed a brighter
 * one, explained away first: 170 of 308 px) or clipped (placed from its one end by a rate that is
 * not yet known) puts it tens of px off at the far epochs, beyond the local grid; a member's own
 * length, measured to a few px, is not. The grid reaches +-3 px of length at the farthest epoch.
 * Returns the number written to out. */
static int member_seeds(const ctx *c, const sso_fast_result *res, const int *member,
                        const seed *line, seed *out)
{
    int n = 0;
    for (int e = 0; e < c->ne; e++) {
        if (member[e] < 0)
            continue;
        const sso_fast_streak *b = &res->s[member[e]];
        if (b->clipped || b->len_px < c->p->len_min_px)
            continue;
        const double r = b->len_px / c->exptime_h, ct = cos(b->theta_rad), sn = sin(b->theta_rad);
        const double sg = ct * line->vx + sn * line->vy >= 0.0 ? 1.0 : -1.0;
        out[n].xs = b->xc_px, out[n].ys = b->yc_px, out[n].ts = c->t[e];
        out[n].vx = sg * r * ct, out[n].vy = sg * r * sn;
        out[n].al = fmax(6.0, 3.0 * far_h(c, c->t[e]) / c->exptime_h);
        n++;
    }
    return n;
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
            /* a streak clipped at both ends seeds no link, as it joins none: its centre is no
             * position along the track (a trail across a detector's corner, 58 of its 211 px
             * seen, seeded a link 27 px off and 7.7% slow, which the fit left 2 sigma short) */
            if (s->used || s->sharp ||
                (pass == 0 && s->clipped == (SSO_FAST_CLIP1 | SSO_FAST_CLIP2)))
                continue;
            int member[SSO_FAST_MAX_EPOCHS];
            for (int e = 0; e < c->ne; e++)
                member[e] = -1;
            member[s->epoch] = (int)ord[oi];
            int nl = 1;
            double mseed[SSO_FAST_MAX_EPOCHS];
            for (int e = 0; e < c->ne; e++) {
                if (e == s->epoch)
                    continue;
                /* of the streaks that move with the seed, the one with the most light: the
                 * pieces a gap or a mask left of one trail all pass, and a 2 px sliver beside
                 * the gap, its centre nearer the line, placed the trail 7 px off (the
                 * least-mismatch rule; a 33 px trail at SNR 180 measured 0.4" off) */
                double best_snr = -1e30;
                for (size_t i = 0; i < ns; i++) {
                    const sso_fast_streak *b = &res->s[i];
                    /* a streak clipped at both ends measures neither a position along the
                     * track nor a rate: it links to anything on the line (a residual's blob
                     * next to masked pixels linked a bright trail 2000 px away) */
                    if (b->epoch != e || b->used || b->sharp ||
                        b->clipped == (SSO_FAST_CLIP1 | SSO_FAST_CLIP2))
                        continue;
                    double mm = sso_fast_link_mismatch(s, b, c->t, c->exptime_h);
                    if (mm <= 1.0 && b->snr > best_snr)
                        best_snr = b->snr, member[e] = (int)i, mseed[e] = mm;
                }
            }
            /* the members are chosen against the seed one epoch at a time: of two that do not
             * move together, the one further from the seed goes */
            for (int e = 0; e < c->ne; e++)
                for (int f = e + 1; f < c->ne; f++) {
                    if (e == s->epoch || f == s->epoch || member[e] < 0 || member[f] < 0)
                        continue;
                    if (sso_fast_link_mismatch(&res->s[member[e]], &res->s[member[f]], c->t,
                                               c->exptime_h) > 1.0) {
                        if (mseed[e] > mseed[f])
                            member[e] = -1;
                        else
                            member[f] = -1;
                    }
                }
            for (int e = 0; e < c->ne; e++)
                nl += e != s->epoch && member[e] >= 0;
            if (pass == 0 && nl < 2)
                continue;
            if (pass == 1 && (nl >= 2 || s->snr < c->p->seed_snr))
                continue;
            res->st.n_seeds++;
            if (nl >= 2) {
                seed sd[1 + SSO_FAST_MAX_EPOCHS] = {{0.0, 0.0, c->t[s->epoch], 0.0, 0.0, 6.0}};
                int n_sd = 1;
                link_line(c, res, member, sd[0].ts, &sd[0].xs, &sd[0].ys, &sd[0].vx, &sd[0].vy);
                n_sd += member_seeds(c, res, member, &sd[0], sd + 1);
                res->st.n_links++;
                st = guided(c, res, sd, n_sd, 0, nl);
            } else {
                /* a lone streak's rate comes from its length: +-30% along the track (<= 60 px) */
                const double r = s->len_px / c->exptime_h;
                seed sd = {s->xc_px, s->yc_px, c->t[s->epoch], r * cos(s->theta_rad),
                           r * sin(s->theta_rad), 0.3 * r * far_h(c, c->t[s->epoch])};
                st = guided(c, res, &sd, 1, 1, 1);
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

static sso_status search(const float *const d[], const float *const v[], const uint8_t *const m[],
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
    sso_fast_raw *all[SSO_FAST_MAX_EPOCHS] = {0};
    size_t nall[SSO_FAST_MAX_EPOCHS] = {0};
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
    if (nl > SSO_FAST_BANK_MAXLEN) {
        st = sso_fail(SSO_ERR_ARG, "fast: %d lengths in the bank (at most %d)", nl,
                      SSO_FAST_BANK_MAXLEN);
        goto exit;
    }
    for (int k = 0; k < nl; k++)
        c.len[k] = k == nl - 1 ? p->len_max_px : p->len_min_px * pow(p->len_factor, k);
    c.n_len = nl;
    c.n_full = nl;
    if (p->bin_len_px > 0.0) /* the lengths >= bin_len_px on 2 x 2 binned maps, if any stay */
        for (int k = 1; k < nl; k++)
            if (c.len[k] >= p->bin_len_px * (1.0 - 1e-9)) {
                c.n_full = k;
                break;
            }
    if ((st = sso_fast_bank_plan(c.len, c.n_full, c.fwhm, p->ang_k, &c.bank)) != SSO_OK)
        goto exit;
    res->st.n_templates = c.bank.n_templates;
    if (c.n_full < nl) {
        /* binned: lengths halved; the FWHM in binned pixels taken as 0.65 x (not 0.5 x) the
         * PSF's, as the binned psi is wider: 2/3 of the angles for 1% of SNR (measured) */
        double lb[SSO_FAST_BANK_MAXLEN];
        for (int k = c.n_full; k < nl; k++)
            lb[k - c.n_full] = 0.5 * c.len[k];
        if ((st = sso_fast_bank_plan(lb, nl - c.n_full, BIN_FWHM * c.fwhm, p->ang_k, &c.bankb)) != SSO_OK)
            goto exit;
        res->st.n_templates += c.bankb.n_templates;
    }
    c.step = c.bank.step;
    c.n_ang = c.bank.n_ang;
    res->st.n_lengths = nl;
    res->st.n_angles_max = c.n_full < nl ? c.bankb.n_ang : c.n_ang;
    /* likelihood per epoch */
    double t0 = now_s();
    for (int e = 0; e < n_epochs; e++) {
        epoch_ctx *E = &c.ep[e];
        E->psi = malloc(sizeof(float) * np), E->phi = malloc(sizeof(float) * np);
        E->dw = malloc(sizeof(float) * np), E->wt = malloc(sizeof(float) * np);
        E->dwr = malloc(sizeof(float) * np), E->psir = malloc(sizeof(float) * np);
        E->cal = calloc((size_t)c.n_ang * c.n_full, sizeof(float));
        if (!E->psi || !E->phi || !E->dw || !E->wt || !E->dwr || !E->psir || !E->cal) {
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
        /* on the search's backend: the GPU's direct path (the pipeline's 7x7 PSF) is the CPU's
         * bit for bit (kernels/likelihood.cu) */
        st = sso_likelihood_on(p->backend, d[e], v[e], me, w, h, psf, psf_half, SSO_LIKE_AUTO, E->psi,
                               E->phi);
        if (st != SSO_OK)
            goto exit;
    }
    res->st.like_s = now_s() - t0;
    /* the banks one epoch after another (each on the threads or the device), then the epochs'
     * measurements side by side */
    t0 = now_s();
    for (int e = 0; e < n_epochs; e++) {
        if ((st = bank_epoch(&c, e, &all[e], &nall[e])) != SSO_OK)
            goto exit;
        if (nall[e])
            qsort(all[e], nall[e], sizeof(sso_fast_raw), raw_cmp);
        res->st.n_raw[e] = (int64_t)nall[e];
    }
    res->st.bank_s = now_s() - t0;
    t0 = now_s();
    if ((st = measure_all(&c, all, nall, res)) != SSO_OK)
        goto exit;
    res->st.measure_s = now_s() - t0;
    t0 = now_s();
    if ((st = link_and_stack(&c, res)) != SSO_OK)
        goto exit;
    if (res->n)
        qsort(res->c, res->n, sizeof(sso_fast_cand), cand_cmp);
    res->st.link_s = now_s() - t0;
exit:
    for (int e = 0; e < SSO_FAST_MAX_EPOCHS; e++) {
        free(all[e]);
        free(c.ep[e].psi);
        free(c.ep[e].phi);
        free(c.ep[e].dw);
        free(c.ep[e].wt);
        free(c.ep[e].dwr);
        free(c.ep[e].psir);
        free(c.ep[e].cal);
    }
    free(c.mi);
    free(c.mv);
    for (int i = 0; i < 2; i++)
        for (int q = 0; q < TTAB_NQ; q++)
            free(c.tab[i].c[q]);
    if (st != SSO_OK) {
        sso_fast_result_free(res);
        return st;
    }
    *out = res;
    return SSO_OK;
}

static int px_valid(const float *const d[], const float *const v[], const uint8_t *const m[], int e,
                    size_t i)
{
    return (!m || !m[e] || !m[e][i]) && isfinite(v[e][i]) && v[e][i] > 0.0f && isfinite(d[e][i]);
}

/* The search runs on the bounding box of the pixels valid in any epoch (a sky patch is mostly
 * empty where it overhangs the detectors: 3/4 of the demo's 4096 px patch), copied out; the
 * results are shifted back to the caller's pixel grid. A trail leaving the data is then flagged
 * clipped at the box edge (its length a lower bound), as at the image edge. */
sso_status sso_fast_search(const float *const d[], const float *const v[], const uint8_t *const m[],
                           int n_epochs, int w, int h, const double *t_h, double exptime_h,
                           const float *psf, int psf_half, const sso_fast_params *p,
                           sso_fast_result **out)
{
    if (out)
        *out = NULL;
    if (!d || !v || !t_h || !psf || !out || n_epochs < 2 || n_epochs > SSO_FAST_MAX_EPOCHS ||
        w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "fast: bad arguments (%d epochs, %d x %d)", n_epochs, w, h);
    for (int e = 0; e < n_epochs; e++)
        if (!d[e] || !v[e])
            return sso_fail(SSO_ERR_ARG, "fast: epoch %d has no image", e);
    int x0 = w, x1 = -1, y0 = h, y1 = -1;
    for (int y = 0; y < h; y++) {
        int rx0 = w, rx1 = -1;
        for (int e = 0; e < n_epochs; e++) {
            const size_t r0 = (size_t)y * w;
            int a = 0, b = w - 1;
            while (a < rx0 && !px_valid(d, v, m, e, r0 + a))
                a++;
            while (b > rx1 && b >= a && !px_valid(d, v, m, e, r0 + b))
                b--;
            if (a < rx0 && px_valid(d, v, m, e, r0 + a))
                rx0 = a;
            if (b > rx1 && px_valid(d, v, m, e, r0 + b))
                rx1 = b;
        }
        if (rx1 >= rx0) {
            x0 = rx0 < x0 ? rx0 : x0, x1 = rx1 > x1 ? rx1 : x1;
            y0 = y < y0 ? y : y0, y1 = y;
        }
    }
    if (x1 < 0 || (x0 == 0 && y0 == 0 && x1 == w - 1 && y1 == h - 1) || x1 - x0 < 1 || y1 - y0 < 1)
        return search(d, v, m, n_epochs, w, h, t_h, exptime_h, psf, psf_half, p, out);
    const int cw = x1 - x0 + 1, ch = y1 - y0 + 1;
    const size_t cn = (size_t)cw * ch;
    float *cd[SSO_FAST_MAX_EPOCHS] = {0}, *cv[SSO_FAST_MAX_EPOCHS] = {0};
    uint8_t *cm[SSO_FAST_MAX_EPOCHS] = {0};
    sso_status st = SSO_OK;
    for (int e = 0; e < n_epochs; e++) {
        cd[e] = malloc(sizeof(float) * cn), cv[e] = malloc(sizeof(float) * cn);
        cm[e] = m && m[e] ? malloc(cn) : NULL;
        if (!cd[e] || !cv[e] || (m && m[e] && !cm[e])) {
            st = sso_fail(SSO_ERR_NOMEM, "fast: crop of %d x %d", cw, ch);
            goto exit;
        }
        for (int y = 0; y < ch; y++) {
            const size_t src = (size_t)(y0 + y) * w + x0, dst = (size_t)y * cw;
            memcpy(cd[e] + dst, d[e] + src, sizeof(float) * cw);
            memcpy(cv[e] + dst, v[e] + src, sizeof(float) * cw);
            if (cm[e])
                memcpy(cm[e] + dst, m[e] + src, (size_t)cw);
        }
    }
    if ((st = search((const float *const *)cd, (const float *const *)cv,
                     m ? (const uint8_t *const *)cm : NULL, n_epochs, cw, ch, t_h, exptime_h, psf,
                     psf_half, p, out)) != SSO_OK)
        goto exit;
    sso_fast_result *r = *out;
    for (size_t i = 0; i < r->ns; i++) {
        sso_fast_streak *s = &r->s[i];
        s->xc_px += x0, s->x1_px += x0, s->x2_px += x0;
        s->yc_px += y0, s->y1_px += y0, s->y2_px += y0;
    }
    for (size_t i = 0; i < r->n; i++) {
        sso_fast_cand *c = &r->c[i];
        c->x0_px += x0, c->y0_px += y0;
        for (int e = 0; e < n_epochs; e++)
            c->x_px[e] += x0, c->y_px[e] += y0;
    }
exit:
    for (int e = 0; e < n_epochs; e++)
        free(cd[e]), free(cv[e]), free(cm[e]);
    return st;
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
