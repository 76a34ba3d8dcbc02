/* sso/score.h: scoring detections against the simulator's truth (`sso score`).
 *
 * Inputs: truth.csv as `sso sim` writes it (sso/sim.h: one row per mover per epoch) and the
 * detections as sso_alert records (alerts.jsonl, one sso_alert_to_json object per line).
 *
 * Matching (sso_score_compute): an alert and a mover share an epoch when their mjd agree within
 * SSO_SCORE_MJD_TOL_D; the pair qualifies when the positions agree within opts->radius_arcsec at
 * >= 2 shared epochs, or at the single epoch of a 1-epoch alert. Qualifying pairs are assigned
 * greedily by increasing mean separation (over the shared epochs within the radius): each mover
 * gets at most one alert, each alert at most one mover. An alert that qualifies for some mover but
 * lost it to a closer alert is a duplicate; an alert that qualifies for none is false. Classes may
 * differ: the confusion matrix counts them.
 *
 * Figures (sso_score): completeness of slow and fast movers in bins of SNR, magnitude and rate,
 * with binomial errors. The SNR of a slow mover is the stacked optimal SNR sqrt(sum_e snr_e^2);
 * of a fast mover the second highest per-epoch snr (a fast mover needs >= 2 epochs). Bin edges:
 * SNR fixed (sso_score_snr_edges); magnitude every 0.5 mag and rate at 4 bins per decade
 * (edges 10^(k/4) "/h), both anchored at those multiples and spanning the movers present.
 * Astrometry uses the shared epochs within the radius of matched pairs (an epoch beyond it is a
 * mislinked or badly measured epoch: counted in n_epochs_outside, not folded into the rms).
 *
 * The library never prints: sso_score holds numbers; the tool (tools/cmd_score.c) prints, writes
 * JSON and plots.
 */
#ifndef SSO_SCORE_H
#define SSO_SCORE_H

#include <stddef.h>

#include "sso/alert.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_SCORE_MJD_TOL_D 1e-5   /* same epoch when |mjd_a - mjd_b| <= this [d] */
#define SSO_SCORE_MAX_EPOCHS 8     /* truth epochs per mover */
#define SSO_SCORE_RADIUS_ARCSEC 0.5 /* default match radius */

/* ---- truth ------------------------------------------------------------------------------------ */

typedef struct sso_truth_epoch {
    int epoch;        /* 1-based, as in truth.csv */
    double mjd;       /* mid-exposure, UTC */
    double ra_deg, dec_deg;
    double trail_px;
    double snr;       /* optimal matched-filter SNR of this epoch (0 off the detectors) */
    char det[16];     /* detector id ("3-4" or "3-4.F"), "" off the detectors */
    double x_px, y_px; /* NaN with det "" */
} sso_truth_epoch;

typedef struct sso_truth_mover {
    int id;
    int fast;         /* 0 slow, 1 fast */
    double mag;       /* AB */
    double rate_arcsec_h;
    double pa_deg;
    int n_epochs;     /* entries of ep[], in file order */
    sso_truth_epoch ep[SSO_SCORE_MAX_EPOCHS];
} sso_truth_mover;

typedef struct sso_truth {
    size_t n;                 /* movers, sorted by id */
    sso_truth_mover *movers;
    int n_ccds;               /* distinct CCD ids in the det column ("3-4.F" counts as "3-4") */
} sso_truth;

/* Reads truth.csv strictly: the exact header, 14 fields a row, numbers that parse whole, class
 * slow|fast, epoch 1..SSO_SCORE_MAX_EPOCHS, no repeated (id, epoch), rows of one id agreeing on
 * class, mag and rate. Movers come out sorted by id, their epochs by epoch. Errors: SSO_ERR_IO
 * (cannot open/read), SSO_ERR_CORRUPT ("path:line: what"), SSO_ERR_NOMEM. *out is owned by the
 * caller (sso_truth_free). */
sso_status sso_truth_read(const char *path, sso_truth **out);
void sso_truth_free(sso_truth *t);

/* Reads alerts.jsonl: one alert per line (sso_alert_from_json); blank lines are skipped. A line
 * that does not parse is SSO_ERR_CORRUPT "path:line: <parser's detail>"; SSO_ERR_IO, NOMEM.
 * *out (caller frees with free()) holds *n alerts; an empty file gives *n = 0, *out NULL. */
sso_status sso_alerts_read_jsonl(const char *path, sso_alert **out, size_t *n);

/* ---- figures ---------------------------------------------------------------------------------- */

/* Completeness in one bin [lo, hi). frac = found / n (NaN when n = 0); err = sqrt(frac (1 - frac)
 * / n), the binomial standard error (0 at 0% and 100%, so also the Wilson score interval for
 * z = 1, wlo..whi, which stays informative there); mean = mean of the binned quantity over the
 * movers in the bin (NaN when empty). */
typedef struct sso_score_bin {
    double lo, hi;
    int n, found;
    double frac, err, wlo, whi, mean;
} sso_score_bin;

typedef struct sso_score_curve {
    int n_bins;
    sso_score_bin *bins;
} sso_score_curve;

/* One class of movers (slow or fast). */
typedef struct sso_score_class {
    int n, found;              /* all movers of this class, matched ones */
    sso_score_curve by_snr;    /* stacked SNR (slow) or 2nd highest per-epoch SNR (fast) */
    sso_score_curve by_mag;
    sso_score_curve by_rate;
    double snr50;              /* SNR where completeness crosses 50% (see sso_score_crossing) */
    sso_score_bin above10;     /* movers with SNR >= 10 (lo = 10, hi = inf) */
} sso_score_class;

/* rms over a set of errors; n = 0 gives NaN. */
typedef struct sso_score_err {
    int n;
    double rms;
    double median_abs;        /* median of |error| */
} sso_score_err;

#define SSO_SCORE_N_ASTRO_BINS 6  /* per-epoch snr edges 0, 5, 10, 20, 50, 100, inf */

typedef struct sso_score {
    double radius_arcsec;
    int n_movers, n_alerts;
    int matched, duplicates, false_alerts;
    int n_ccds;                      /* CCDs per quartet used for the rate below */
    double false_per_ccd_quartet;    /* false_alerts / n_ccds (NaN when n_ccds = 0) */
    int confusion[2][2];             /* [truth fast][alert fast] over matched pairs */
    sso_score_class slow, fast;
    sso_score_bin fast_streakdet;    /* fast movers with >= 2 epochs of trail >= 15 px, snr >= 10 */
    /* astrometry over the shared epochs within the radius of matched pairs, binned by truth snr */
    double astro_edges[SSO_SCORE_N_ASTRO_BINS + 1];
    sso_score_err pos_arcsec[SSO_SCORE_N_ASTRO_BINS];
    sso_score_err pos_snr20_arcsec;  /* epochs with snr >= 20 */
    sso_score_err mag_snr20;         /* alert mag - truth mag, epochs with snr >= 20 and a mag */
    sso_score_err pos_snr20_class[2]; /* pos_snr20_arcsec of [0] slow, [1] fast truth movers (a fast
                                       * mover the slow search caught counts as fast) */
    sso_score_err mag_snr20_class[2]; /* mag_snr20 likewise */
    sso_score_err pos_snr20_fast_len[2]; /* pos_snr20_class[1] by the truth trail: [0] < 100 px,
                                          * [1] >= 100 px (a trail's position along it rests on
                                          * its two ends: its error grows as sqrt(length) / snr) */
    sso_score_err pull_snr20;        /* separation / sqrt(rmsRA^2 + rmsDec^2) over pos_snr20's
                                      * epochs (alert epochs with both rms): rms ~1 when the alerts'
                                      * stated uncertainties are right */
    sso_score_err rate_pct[3];       /* 100 (alert - truth) / truth: [0] slow, [1] fast, [2] all */
    int n_epochs_outside;            /* shared epochs of matched pairs beyond the radius */
    /* per mover: index of its alert, -1 none (movers in sso_truth order) */
    int *mover_alert;
    /* per alert: 0 matched, 1 duplicate, 2 false */
    int *alert_kind;
} sso_score;

typedef struct sso_score_opts {
    double radius_arcsec; /* match radius [SSO_SCORE_RADIUS_ARCSEC]; <= 0 or NaN: the default */
    int n_ccds;           /* CCDs per quartet [0: truth->n_ccds] */
} sso_score_opts;

/* Matches alerts to movers and computes every figure. opts may be NULL (defaults). *out is owned
 * by the caller (sso_score_free). Errors: SSO_ERR_ARG, SSO_ERR_NOMEM. */
sso_status sso_score_compute(const sso_truth *t, const sso_alert *alerts, size_t n_alerts,
                             const sso_score_opts *opts, sso_score **out);
void sso_score_free(sso_score *s);

/* The fixed SNR bin edges (n_edges = n_bins + 1, last edge +inf). */
const double *sso_score_snr_edges(int *n_edges);

/* The x where completeness rises through 50% for the last time: between the last non-empty bin
 * below 50% and the next non-empty bin, linear in the bins' mean x. NaN when no bin is below 50%
 * followed by one at >= 50% (curve starts above or never reaches it). */
double sso_score_crossing(const sso_score_curve *c);

/* Angular separation [arcsec] (haversine, exact at small angles). */
double sso_score_sep_arcsec(double ra1_deg, double dec1_deg, double ra2_deg, double dec2_deg);

#ifdef __cplusplus
}
#endif
#endif
