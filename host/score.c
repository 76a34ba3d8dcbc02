/* host/score.c: matching alerts to injected movers and the figures of merit (sso/score.h).
 *
 * Matching in three steps:
 *   1. Index: every truth epoch (mover, epoch) goes into an array sorted by (mjd, dec). An alert
 *      epoch finds its truth epochs by binary search on mjd (within SSO_SCORE_MJD_TOL_D) and then
 *      on dec (within the radius: the separation is never below |ddec|), so the cost is
 *      O((movers + alerts) log) instead of alerts x movers.
 *   2. Per alert, the movers hit at its epochs are tallied (hits within the radius, sum of their
 *      separations); those that qualify (>= 2 hits, or 1 for a 1-epoch alert) become candidate
 *      pairs with their mean separation.
 *   3. Candidate pairs sorted by mean separation are assigned greedily, one-to-one. Greedy is not
 *      an optimal assignment, but it differs only when two movers lie within the radius of each
 *      other at >= 2 epochs, which the simulator's scenes make vanishingly rare.
 * Figures: per-mover key values (SNR, mag, rate) binned into curves; per matched pair the shared
 * epochs compared (positions, magnitudes) and the rates; errors collected into growable arrays so
 * that medians are exact.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sso/score.h"

static const double g_snr_edges[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                     12, 13, 14, 15, 20, 30, 50, 100, INFINITY};

const double *sso_score_snr_edges(int *n_edges)
{
    if (n_edges)
        *n_edges = (int)(sizeof g_snr_edges / sizeof g_snr_edges[0]);
    return g_snr_edges;
}

double sso_score_sep_arcsec(double ra1_deg, double dec1_deg, double ra2_deg, double dec2_deg)
{
    const double d2r = 3.14159265358979323846 / 180.0;
    double d1 = dec1_deg * d2r, d2 = dec2_deg * d2r;
    double sd = sin(0.5 * (d2 - d1)), sa = sin(0.5 * (ra2_deg - ra1_deg) * d2r);
    double h = sd * sd + cos(d1) * cos(d2) * sa * sa;
    if (h > 1)
        h = 1;
    return 2.0 * asin(sqrt(h)) / d2r * 3600.0;
}

/* ---- growable arrays of doubles -------------------------------------------------------------- */

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 64;
        double *nv = realloc(d->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        d->v = nv;
        d->cap = nc;
    }
    d->v[d->n++] = x;
    return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* rms and median |x|; sorts d in place (as |x|). */
static sso_score_err err_stats(dvec *d)
{
    sso_score_err e = {(int)d->n, NAN, NAN};
    if (!d->n)
        return e;
    double s2 = 0;
    for (size_t i = 0; i < d->n; i++) {
        s2 += d->v[i] * d->v[i];
        d->v[i] = fabs(d->v[i]);
    }
    e.rms = sqrt(s2 / (double)d->n);
    qsort(d->v, d->n, sizeof *d->v, dbl_cmp);
    size_t h = d->n / 2;
    e.median_abs = d->n % 2 ? d->v[h] : 0.5 * (d->v[h - 1] + d->v[h]);
    return e;
}

/* ---- bins -------------------------------------------------------------------------------------- */

static void bin_finish(sso_score_bin *b, double sum_x)
{
    if (b->n == 0) {
        b->frac = b->err = b->wlo = b->whi = b->mean = NAN;
        return;
    }
    double n = b->n, p = b->found / n;
    b->frac = p;
    b->err = sqrt(p * (1 - p) / n);
    /* Wilson score interval, z = 1 */
    double c = (p + 0.5 / n) / (1 + 1 / n), h = sqrt(p * (1 - p) / n + 0.25 / (n * n)) / (1 + 1 / n);
    b->wlo = c - h;
    b->whi = c + h;
    b->mean = sum_x / n;
}

/* A curve over the given edges, filled from (x, found) of n movers; x outside is skipped. */
static sso_status curve_fill(sso_score_curve *c, const double *edges, int n_edges, const double *x,
                             const int *found, const unsigned char *use, size_t n)
{
    c->n_bins = n_edges > 1 ? n_edges - 1 : 0;
    c->bins = NULL;
    if (!c->n_bins)
        return SSO_OK;
    double *sum = calloc((size_t)c->n_bins, sizeof *sum);
    c->bins = calloc((size_t)c->n_bins, sizeof *c->bins);
    if (!sum || !c->bins) {
        free(sum);
        return sso_fail(SSO_ERR_NOMEM, "score: %d bins", c->n_bins);
    }
    for (int b = 0; b < c->n_bins; b++) {
        c->bins[b].lo = edges[b];
        c->bins[b].hi = edges[b + 1];
    }
    for (size_t i = 0; i < n; i++) {
        if (!use[i] || !(x[i] >= edges[0]) || !(x[i] < edges[n_edges - 1]))
            continue;
        int lo = 0, hi = n_edges - 1; /* edges[lo] <= x < edges[hi] */
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (x[i] >= edges[mid])
                lo = mid;
            else
                hi = mid;
        }
        c->bins[lo].n++;
        c->bins[lo].found += found[i] != 0;
        sum[lo] += x[i];
    }
    for (int b = 0; b < c->n_bins; b++)
        bin_finish(&c->bins[b], sum[b]);
    free(sum);
    return SSO_OK;
}

/* Edges step*k (linear, log10 = 0) or 10^(k*step) (log10 = 1) spanning [min, max] of the used x
 * (x > 0 for log). Writes a malloc'd array into *edges (NULL and 0 when nothing is used). */
static sso_status span_edges(const double *x, const unsigned char *use, size_t n, double step,
                             int log10_bins, double **edges, int *n_edges)
{
    double mn = INFINITY, mx = -INFINITY;
    *edges = NULL;
    *n_edges = 0;
    for (size_t i = 0; i < n; i++)
        if (use[i] && (!log10_bins || x[i] > 0)) {
            double v = log10_bins ? log10(x[i]) : x[i];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
    if (mn > mx)
        return SSO_OK;
    long k0 = (long)floor(mn / step), k1 = (long)floor(mx / step) + 1;
#define EDGE(k) (log10_bins ? pow(10.0, (double)(k) * step) : (double)(k) * step)
    /* guard against rounding at an exact edge: the span must hold min and max */
    while (EDGE(k0) > (log10_bins ? pow(10.0, mn) : mn))
        k0--;
    while (EDGE(k1) <= (log10_bins ? pow(10.0, mx) : mx))
        k1++;
    *n_edges = (int)(k1 - k0 + 1);
    if (!(*edges = malloc((size_t)*n_edges * sizeof **edges)))
        return sso_fail(SSO_ERR_NOMEM, "score: %d edges", *n_edges);
    for (long k = k0; k <= k1; k++)
        (*edges)[k - k0] = EDGE(k);
#undef EDGE
    return SSO_OK;
}

double sso_score_crossing(const sso_score_curve *c)
{
    if (!c)
        return NAN;
    int below = -1;
    for (int b = 0; b < c->n_bins; b++)
        if (c->bins[b].n > 0 && c->bins[b].frac < 0.5)
            below = b;
    if (below < 0)
        return NAN;
    for (int b = below + 1; b < c->n_bins; b++)
        if (c->bins[b].n > 0) {
            const sso_score_bin *p = &c->bins[below], *q = &c->bins[b];
            return p->mean + (0.5 - p->frac) * (q->mean - p->mean) / (q->frac - p->frac);
        }
    return NAN;
}

/* ---- matching ---------------------------------------------------------------------------------- */

typedef struct tref {
    double mjd, dec;
    int mover, ep;
} tref;

static int tref_cmp(const void *pa, const void *pb)
{
    const tref *a = pa, *b = pb;
    if (a->mjd != b->mjd)
        return a->mjd < b->mjd ? -1 : 1;
    return (a->dec > b->dec) - (a->dec < b->dec);
}

typedef struct cand {
    int alert, mover;
    double mean_sep;
} cand;

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->mean_sep != b->mean_sep)
        return a->mean_sep < b->mean_sep ? -1 : 1;
    if (a->alert != b->alert)
        return a->alert < b->alert ? -1 : 1;
    return (a->mover > b->mover) - (a->mover < b->mover);
}

/* First index in the sorted array with key >= v (key: 0 mjd, 1 dec within [lo, hi)). */
static size_t lower_bound(const tref *r, size_t lo, size_t hi, double v, int by_dec)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((by_dec ? r[mid].dec : r[mid].mjd) < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct tally_t {
    int mover, hits; /* hits: alert epochs within the radius of this mover */
    double sum;      /* their separations [arcsec] */
} tally_t;

/* Steps 1-3 of the header comment: fills s->mover_alert and s->alert_kind. */
static sso_status match(const sso_truth *t, const sso_alert *al, size_t na, double r_as,
                        sso_score *s)
{
    sso_status st = SSO_OK;
    size_t nt = 0, nc = 0, ccap = 0;
    for (size_t i = 0; i < t->n; i++)
        nt += (size_t)t->movers[i].n_epochs;
    tref *ref = malloc((nt ? nt : 1) * sizeof *ref);
    cand *cs = NULL;
    if (!ref)
        return sso_fail(SSO_ERR_NOMEM, "score: %zu truth epochs", nt);
    nt = 0;
    for (size_t i = 0; i < t->n; i++)
        for (int k = 0; k < t->movers[i].n_epochs; k++)
            ref[nt++] = (tref){t->movers[i].ep[k].mjd, t->movers[i].ep[k].dec_deg, (int)i, k};
    qsort(ref, nt, sizeof *ref, tref_cmp);
    double r_deg = r_as / 3600.0;
    for (size_t a = 0; a < na; a++) {
        tally_t tally[64];
        int nty = 0;
        for (int j = 0; j < al[a].n_epochs; j++) {
            const sso_alert_obs *o = &al[a].obs[j];
            size_t m0 = lower_bound(ref, 0, nt, o->mjd - SSO_SCORE_MJD_TOL_D, 0);
            size_t m1 = lower_bound(ref, m0, nt, nextafter(o->mjd + SSO_SCORE_MJD_TOL_D, INFINITY), 0);
            /* within [m0, m1) the mjd may still span several epochs' worth of clusters only if
             * epochs are closer than the tolerance; dec is sorted within one exact mjd, so scan
             * each run of equal mjd with its own dec window */
            for (size_t r0 = m0; r0 < m1;) {
                size_t r1 = r0;
                while (r1 < m1 && ref[r1].mjd == ref[r0].mjd)
                    r1++;
                size_t d0 = lower_bound(ref, r0, r1, o->dec_deg - r_deg, 1);
                for (size_t q = d0; q < r1 && ref[q].dec <= o->dec_deg + r_deg; q++) {
                    const sso_truth_epoch *e = &t->movers[ref[q].mover].ep[ref[q].ep];
                    double sep = sso_score_sep_arcsec(o->ra_deg, o->dec_deg, e->ra_deg, e->dec_deg);
                    if (!(sep <= r_as))
                        continue;
                    int k = 0;
                    while (k < nty && tally[k].mover != ref[q].mover)
                        k++;
                    if (k == nty) {
                        if (nty == 64)
                            continue; /* > 64 movers within 0.5" of one alert: not a real scene */
                        tally[nty++] = (tally_t){ref[q].mover, 0, 0.0};
                    }
                    tally[k].hits++;
                    tally[k].sum += sep;
                }
                r0 = r1;
            }
        }
        for (int k = 0; k < nty; k++) {
            int need = al[a].n_epochs == 1 ? 1 : 2;
            if (tally[k].hits < need)
                continue;
            if (nc == ccap) {
                size_t ncap = ccap ? 2 * ccap : 256;
                cand *n2 = realloc(cs, ncap * sizeof *cs);
                if (!n2) {
                    st = sso_fail(SSO_ERR_NOMEM, "score: %zu candidate pairs", ncap);
                    goto exit;
                }
                cs = n2;
                ccap = ncap;
            }
            cs[nc++] = (cand){(int)a, tally[k].mover, tally[k].sum / tally[k].hits};
        }
    }
    if (nc)
        qsort(cs, nc, sizeof *cs, cand_cmp);
    for (size_t a = 0; a < na; a++)
        s->alert_kind[a] = 2;
    for (size_t i = 0; i < t->n; i++)
        s->mover_alert[i] = -1;
    for (size_t c = 0; c < nc; c++) {
        int a = cs[c].alert, m = cs[c].mover;
        if (s->alert_kind[a] == 0)
            continue;
        if (s->mover_alert[m] < 0) {
            s->mover_alert[m] = a;
            s->alert_kind[a] = 0;
        } else {
            s->alert_kind[a] = 1; /* qualifies, but its mover has a closer alert */
        }
    }
exit:
    free(ref);
    free(cs);
    return st;
}

/* ---- figures ----------------------------------------------------------------------------------- */

/* The key SNR of a mover: stacked for slow, 2nd highest per epoch for fast. */
static double mover_snr(const sso_truth_mover *m)
{
    if (!m->fast) {
        double s2 = 0;
        for (int k = 0; k < m->n_epochs; k++)
            s2 += m->ep[k].snr * m->ep[k].snr;
        return sqrt(s2);
    }
    double b1 = 0, b2 = 0;
    for (int k = 0; k < m->n_epochs; k++) {
        double v = m->ep[k].snr;
        if (v > b1) {
            b2 = b1;
            b1 = v;
        } else if (v > b2) {
            b2 = v;
        }
    }
    return b2;
}

static sso_status class_curves(const sso_truth *t, const sso_score *s, int fast,
                               sso_score_class *c, double *snr, double *mag, double *rate,
                               int *found, unsigned char *use)
{
    sso_status st;
    double sum10 = 0;
    int n_edges;
    const double *se = sso_score_snr_edges(&n_edges);
    c->n = c->found = 0;
    c->above10 = (sso_score_bin){10, INFINITY, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < t->n; i++) {
        const sso_truth_mover *m = &t->movers[i];
        use[i] = m->fast == fast;
        snr[i] = mover_snr(m);
        mag[i] = m->mag;
        rate[i] = m->rate_arcsec_h;
        found[i] = s->mover_alert[i] >= 0;
        if (!use[i])
            continue;
        c->n++;
        c->found += found[i];
        if (snr[i] >= 10) {
            c->above10.n++;
            c->above10.found += found[i];
            sum10 += snr[i];
        }
    }
    bin_finish(&c->above10, sum10);
    if ((st = curve_fill(&c->by_snr, se, n_edges, snr, found, use, t->n)) != SSO_OK)
        return st;
    double *edges;
    if ((st = span_edges(mag, use, t->n, 0.5, 0, &edges, &n_edges)) != SSO_OK)
        return st;
    st = curve_fill(&c->by_mag, edges, n_edges, mag, found, use, t->n);
    free(edges);
    if (st != SSO_OK)
        return st;
    if ((st = span_edges(rate, use, t->n, 0.25, 1, &edges, &n_edges)) != SSO_OK)
        return st;
    st = curve_fill(&c->by_rate, edges, n_edges, rate, found, use, t->n);
    free(edges);
    if (st != SSO_OK)
        return st;
    c->snr50 = sso_score_crossing(&c->by_snr);
    return SSO_OK;
}

enum { V_POS0 = 0, V_POS20 = SSO_SCORE_N_ASTRO_BINS, V_MAG20, V_RATE0, V_POS20C = V_RATE0 + 3,
       V_MAG20C = V_POS20C + 2, V_POS20L = V_MAG20C + 2, V_PULL20 = V_POS20L + 2, V_N };

#define SCORE_LONG_TRAIL_PX 100.0 /* pos_snr20_fast_len's split */

/* Compares every matched pair epoch by epoch. */
static sso_status astrometry(const sso_truth *t, const sso_alert *al, sso_score *s, double r_as,
                             dvec *v)
{
    for (size_t i = 0; i < t->n; i++) {
        if (s->mover_alert[i] < 0)
            continue;
        const sso_truth_mover *m = &t->movers[i];
        const sso_alert *a = &al[s->mover_alert[i]];
        s->confusion[m->fast][a->cls == SSO_ALERT_FAST]++;
        int bad = 0;
        for (int j = 0; j < a->n_epochs; j++) {
            const sso_alert_obs *o = &a->obs[j];
            for (int k = 0; k < m->n_epochs; k++) {
                const sso_truth_epoch *e = &m->ep[k];
                if (!(fabs(e->mjd - o->mjd) <= SSO_SCORE_MJD_TOL_D))
                    continue;
                double sep = sso_score_sep_arcsec(o->ra_deg, o->dec_deg, e->ra_deg, e->dec_deg);
                if (!(sep <= r_as)) {
                    s->n_epochs_outside++;
                    continue;
                }
                int b = 0;
                while (b + 1 < SSO_SCORE_N_ASTRO_BINS && e->snr >= s->astro_edges[b + 1])
                    b++;
                bad |= dvec_push(&v[V_POS0 + b], sep);
                if (e->snr >= 20) {
                    bad |= dvec_push(&v[V_POS20], sep);
                    bad |= dvec_push(&v[V_POS20C + m->fast], sep);
                    if (m->fast)
                        bad |= dvec_push(&v[V_POS20L + (e->trail_px >= SCORE_LONG_TRAIL_PX)], sep);
                    const double rr = hypot(o->rms_ra_arcsec, o->rms_dec_arcsec);
                    if (rr > 0.0 && isfinite(rr))
                        bad |= dvec_push(&v[V_PULL20], sep / rr);
                    if (isfinite(o->mag)) {
                        bad |= dvec_push(&v[V_MAG20], o->mag - m->mag);
                        bad |= dvec_push(&v[V_MAG20C + m->fast], o->mag - m->mag);
                    }
                }
            }
        }
        if (isfinite(a->rate_arcsec_h) && m->rate_arcsec_h > 0) {
            double pct = 100.0 * (a->rate_arcsec_h - m->rate_arcsec_h) / m->rate_arcsec_h;
            bad |= dvec_push(&v[V_RATE0 + m->fast], pct);
            bad |= dvec_push(&v[V_RATE0 + 2], pct);
        }
        if (bad)
            return sso_fail(SSO_ERR_NOMEM, "score: astrometry arrays");
    }
    for (int b = 0; b < SSO_SCORE_N_ASTRO_BINS; b++)
        s->pos_arcsec[b] = err_stats(&v[V_POS0 + b]);
    s->pos_snr20_arcsec = err_stats(&v[V_POS20]);
    s->mag_snr20 = err_stats(&v[V_MAG20]);
    for (int k = 0; k < 2; k++) {
        s->pos_snr20_class[k] = err_stats(&v[V_POS20C + k]);
        s->mag_snr20_class[k] = err_stats(&v[V_MAG20C + k]);
        s->pos_snr20_fast_len[k] = err_stats(&v[V_POS20L + k]);
    }
    s->pull_snr20 = err_stats(&v[V_PULL20]);
    for (int k = 0; k < 3; k++)
        s->rate_pct[k] = err_stats(&v[V_RATE0 + k]);
    return SSO_OK;
}

sso_status sso_score_compute(const sso_truth *t, const sso_alert *alerts, size_t n_alerts,
                             const sso_score_opts *opts, sso_score **out)
{
    static const double astro_edges[SSO_SCORE_N_ASTRO_BINS + 1] = {0, 5, 10, 20, 50, 100, INFINITY};
    sso_status st = SSO_OK;
    sso_score *s = NULL;
    double *work = NULL;
    int *found = NULL;
    unsigned char *use = NULL;
    dvec v[V_N];
    memset(v, 0, sizeof v);
    if (!t || !out || (n_alerts && !alerts))
        return sso_fail(SSO_ERR_ARG, "score: NULL argument");
    *out = NULL;
    if (t->n > 2147483647u || n_alerts > 2147483647u)
        return sso_fail(SSO_ERR_ARG, "score: too many movers or alerts");
    double r_as = opts && opts->radius_arcsec > 0 ? opts->radius_arcsec : SSO_SCORE_RADIUS_ARCSEC;
    if (!isfinite(r_as))
        return sso_fail(SSO_ERR_ARG, "score: radius %g", r_as);
    size_t nm = t->n ? t->n : 1;
    s = calloc(1, sizeof *s);
    work = malloc(3 * nm * sizeof *work);
    found = malloc(nm * sizeof *found);
    use = malloc(nm);
    if (s) {
        s->mover_alert = malloc(nm * sizeof *s->mover_alert);
        s->alert_kind = malloc((n_alerts ? n_alerts : 1) * sizeof *s->alert_kind);
    }
    if (!s || !work || !found || !use || !s->mover_alert || !s->alert_kind) {
        st = sso_fail(SSO_ERR_NOMEM, "score: %zu movers, %zu alerts", t->n, n_alerts);
        goto exit;
    }
    s->radius_arcsec = r_as;
    s->n_movers = (int)t->n;
    s->n_alerts = (int)n_alerts;
    memcpy(s->astro_edges, astro_edges, sizeof astro_edges);
    if ((st = match(t, alerts, n_alerts, r_as, s)) != SSO_OK)
        goto exit;
    for (size_t a = 0; a < n_alerts; a++) {
        s->matched += s->alert_kind[a] == 0;
        s->duplicates += s->alert_kind[a] == 1;
        s->false_alerts += s->alert_kind[a] == 2;
    }
    s->n_ccds = opts && opts->n_ccds > 0 ? opts->n_ccds : t->n_ccds;
    s->false_per_ccd_quartet = s->n_ccds > 0 ? (double)s->false_alerts / s->n_ccds : NAN;
    for (int fast = 0; fast < 2; fast++)
        if ((st = class_curves(t, s, fast, fast ? &s->fast : &s->slow, work, work + nm,
                               work + 2 * nm, found, use)) != SSO_OK)
            goto exit;
    /* StreakDet's figure: long trails, SNR >= 10 in >= 2 epochs */
    s->fast_streakdet = (sso_score_bin){0, INFINITY, 0, 0, 0, 0, 0, 0, 0};
    double sum = 0;
    for (size_t i = 0; i < t->n; i++) {
        const sso_truth_mover *m = &t->movers[i];
        int good = 0;
        for (int k = 0; k < m->n_epochs; k++)
            good += m->ep[k].trail_px >= 15 && m->ep[k].snr >= 10;
        if (!m->fast || good < 2)
            continue;
        s->fast_streakdet.n++;
        s->fast_streakdet.found += s->mover_alert[i] >= 0;
        sum += mover_snr(m);
    }
    bin_finish(&s->fast_streakdet, sum);
    st = astrometry(t, alerts, s, r_as, v);
exit:
    for (int k = 0; k < V_N; k++)
        free(v[k].v);
    free(work);
    free(found);
    free(use);
    if (st != SSO_OK)
        sso_score_free(s);
    else
        *out = s;
    return st;
}

void sso_score_free(sso_score *s)
{
    if (!s)
        return;
    sso_score_class *c[2] = {&s->slow, &s->fast};
    for (int k = 0; k < 2; k++) {
        free(c[k]->by_snr.bins);
        free(c[k]->by_mag.bins);
        free(c[k]->by_rate.bins);
    }
    free(s->mover_alert);
    free(s->alert_kind);
    free(s);
}
