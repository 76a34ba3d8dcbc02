/* sso/stack.h: slow movers by shift-and-stack of psi/phi likelihood images (CPU reference).
 *
 * Inputs: per epoch e (2..SSO_STACK_MAX_EPOCHS) psi_e and phi_e (sso/likelihood.h) on one common
 * w x h grid, and the epochs' times t_h[e] [h] relative to the reference time t = 0 at which start
 * positions are given. Any reference works (times may be negative, in any order; nothing assumes
 * t_h[0] == 0), but callers should pass times relative to the MEAN epoch time: the velocity grid
 * spacing scales with 1 / max|t_e|, so a mid-baseline reference needs ~4x fewer velocities (and
 * ~4x less search time) than a first-epoch one, and the start positions and refined x0/y0 are
 * then at mid-baseline.
 *
 * Velocity grid: (i dv, j dv) for integers i, j with |v| <= vmax + dv/sqrt(2) (every |v| <= vmax
 * has its nearest grid point inside). The nearest grid velocity is within dv/sqrt(2), so the
 * predicted position at epoch e is off by at most |t_e| dv / sqrt(2); dv = sqrt(2) pos_tol /
 * max|t_e| keeps that <= pos_tol (default 0.8 px, half the 1.6 px FWHM). For 4 epochs over a
 * 0.77 h baseline and vmax = 100 px/h (10"/h at 0.1"/px): first-epoch reference, dv = 1.47 px/h,
 * ~14,900 velocities (the square [-vmax, vmax]^2 would be ~18,800); mid-baseline reference, dv =
 * 2.94 px/h, ~3,700 velocities.
 *
 * Search: for every start pixel and grid velocity, sum psi and phi over the epochs at the nearest
 * pixels (host/stack_math.h; nearest, not bilinear: 2 loads per sample instead of 8, integer offsets
 * tabulated once so the GPU indexes exactly the same pixels, and the dense velocity grid already
 * bounds the position error), nu = sum psi / sqrt(sum phi), flux = sum psi / sum phi [e-]. Every
 * trajectory with nu >= nu_min is kept (per-thread growing arrays). Then, in this order:
 *   1. consistency: at least min_epochs epochs with phi > 0; no epoch's psi above max_epoch_frac of
 *      the sum; every epoch's flux psi_e/phi_e within consist_k sqrt(sigma_e^2 + sigma_o^2 +
 *      (consist_frac f_o)^2) of the flux f_o of the OTHER epochs (leave-one-out, so that one
 *      deviant epoch does not move the reference; sigma = 1/sqrt(phi); the fractional term lets
 *      bright movers through, whose epochs differ by more than their noise). A cosmic ray or any single-epoch source fails the last two.
 *      And no single epoch carries the detection: without its strongest epoch (by psi_e/sqrt(phi_e))
 *      the other n-1 used epochs keep nu_rest >= nu_min sqrt((n-1)/n) - loo_z (a mover at the
 *      threshold with equal epochs has nu_rest ~ nu_min sqrt((n-1)/n) less ~0.6 for removing the
 *      largest of n unit-noise epochs, sd ~0.9: loo_z = 2 loses a few % at nu_min, nothing by nu 10).
 *      Nor do two: with n >= 3 used epochs, the n-2 weakest keep nu_rest2 >= nu_min sqrt((n-2)/n)
 *      - l2o_z (a pair of unrelated single-epoch sources, e.g. two points on different streaks or
 *      two cosmic-ray residuals, linked with noise: on the simulated CCDs the false alerts' two
 *      weakest epochs held ~0 sigma together, a true mover's ~nu/sqrt(2)).
 *      Optionally (max_epochs, epoch_snr_min, both off by default) at most max_epochs used
 *      epochs, each with psi_e/sqrt(phi_e) >= epoch_snr_min: the pipeline's 2-epoch pass, where a
 *      pair of single-epoch sources (a noise peak beside a cosmic-ray residual) would otherwise
 *      pass with one strong epoch and the best of thousands of velocities' noise in the other.
 *   2. merging by explaining away: by nu descending, the epochs at which a kept (stronger)
 *      candidate's pixel lies within merge_radius_px (in x and in y) are dropped from a candidate,
 *      which is kept only if the remaining epochs still pass the threshold and the consistency
 *      tests: duplicates, and trajectories that borrow one epoch of a bright object, vanish;
 *      one object, one candidate.
 *   3. refinement: per epoch, the peak of psi/sqrt(phi) within 1 px of the predicted pixel,
 *      located to sub-pixel by the vertex of a quadric fitted to the 3x3 scores around it (their
 *      logarithms when positive: exact for a Gaussian peak of any orientation, which matters for
 *      the elongated peaks of trail templates), or 3-point parabolas in x and in y where the
 *      quadric has no maximum within 1 px; a straight line x0 + v t fitted by least squares
 *      weighted by each epoch's SNR^2 (the joint fit of position and velocity over the epochs'
 *      measured positions) gives the sub-pixel start and velocity.
 * The output is sorted by nu (descending), ties by grid (y0, x0, velocity index): independent of
 * the thread count.
 *
 * Coverage skip (exact). A trajectory can only become a candidate with >= min_epochs epochs whose
 * pixel has phi > 0. Per epoch the coverage map (phi > 0) is dilated by that epoch's largest
 * tabulated offset (max |dx|, max |dy| over the grid): a start pixel where fewer than min_epochs
 * dilated maps are set cannot reach min_epochs covered epochs with any velocity, and per
 * (start row, velocity) fewer than min_epochs epochs whose shifted row is on the image and holds a
 * covered pixel cannot either. Both are skipped (stats n_skipped); near detector gaps and edges
 * (1-2 dithers cover the sky) that is most of a patch. The candidate list is exactly the one of
 * the full search; only n_raw (hits that would have failed the epoch count) can be smaller.
 */
#ifndef SSO_STACK_H
#define SSO_STACK_H

#include <stddef.h>
#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_STACK_MAX_EPOCHS 8

typedef struct sso_stack_params {
    double vmax_px_h;       /* largest speed searched [100 px/h = 10"/h] */
    double pos_tol_px;      /* velocity-grid position error bound [0.8 px] */
    double dv_px_h;         /* velocity grid step; 0 derives it from pos_tol_px [0] */
    float nu_min;           /* detection threshold on nu [5] */
    float consist_k;        /* per-epoch flux consistency [3 sigma] */
    float consist_frac;     /* plus this fraction of the mean flux in the tolerance [0.5] */
    float max_epoch_frac;   /* largest share of sum psi one epoch may carry [0.6] */
    float loo_z;            /* leave-one-out significance: without its strongest epoch a candidate
                             * of n used epochs keeps nu >= nu_min sqrt((n-1)/n) - loo_z; <= 0 off [2] */
    float l2o_z;            /* leave-two-out: without its two strongest epochs a candidate of n >= 3
                             * used epochs keeps nu >= nu_min sqrt((n-2)/n) - l2o_z; <= 0 off [3] */
    int min_epochs;         /* epochs with phi > 0 required [3] */
    int max_epochs;         /* at most this many epochs with phi > 0; 0: no limit [0] (the
                             * pipeline's 2-epoch pass: pairs where only 2 epochs cover the sky) */
    float epoch_snr_min;    /* every used epoch's psi_e/sqrt(phi_e) at least this; 0: off [0]
                             * (a pair has no third epoch to confirm it: each must stand alone) */
    double merge_radius_px; /* claim radius per epoch for merging [3 px] */
    int n_threads;          /* worker threads (rows split between them) [1] */
    int no_coverage_skip;   /* 1: search every start pixel (tests of the skip's exactness) [0] */
    sso_backend backend;    /* where the search runs: CPU (reference), CUDA (kernels/stack.cu:
                             * same candidates), AUTO (CUDA when present; CPU when the device is
                             * refused with SSO_ERR_NO_DEVICE) [cpu] */
    /* Velocity bin (trail templates): with bin_on, only the grid velocities with speed in
     * [bin_vlo_px_h, bin_vhi_px_h) and direction angle atan2(vy, vx) mod pi in
     * [bin_theta_lo_rad, bin_theta_hi_rad) are searched (v = 0 belongs to a bin with vlo = 0).
     * The grid itself (its step and extent) is the one of the whole search, so bins that
     * partition [0, vmax] x [0, pi) search every grid velocity exactly once. [off] */
    int bin_on;
    double bin_vlo_px_h, bin_vhi_px_h, bin_theta_lo_rad, bin_theta_hi_rad;
    double bin_len_px;      /* the bin's trail template length: the merge claim radius grows by
                             * it (a trail template responds up to L/2 beyond the PSF) [0] */
} sso_stack_params;

void sso_stack_params_default(sso_stack_params *p);

typedef struct sso_stack_cand {
    double x0_px, y0_px;     /* refined position at t = 0 [px] */
    double vx_px_h, vy_px_h; /* refined velocity [px/h] */
    int gx0, gy0;            /* the grid trajectory with the largest nu: start pixel */
    double gvx_px_h, gvy_px_h; /* and grid velocity */
    float nu;                /* sum psi / sqrt(sum phi) of the grid trajectory */
    float flux_e;            /* sum psi / sum phi [e-] */
    float flux_err_e;        /* 1 / sqrt(sum phi) [e-] */
    float psi_e[SSO_STACK_MAX_EPOCHS], phi_e[SSO_STACK_MAX_EPOCHS]; /* per epoch, grid pixel */
    int n_epochs_used;       /* epochs with phi > 0 */
} sso_stack_cand;

typedef struct sso_stack_stats {
    double dv_px_h;          /* velocity grid step used */
    int64_t n_velocities;    /* grid velocities */
    int64_t n_samples;       /* trajectory-epoch samples evaluated (start pixels x velocities x epochs) */
    int64_t n_skipped;       /* samples skipped by the coverage test; n_samples + n_skipped
                              * = w x h x velocities x epochs */
    int64_t n_raw;           /* trajectories with nu >= nu_min */
    int64_t n_consistent;    /* of those, passing the consistency tests */
    int64_t n_merged;        /* candidates after merging (the output) */
    double search_s;         /* wall time of the search (threads) [s] */
    sso_backend backend;     /* where the search ran (CPU or CUDA) */
    double kernel_s;         /* CUDA: device time of the search kernels [s] (0 on the CPU) */
    int64_t n_gpu_hits;      /* CUDA: hits the device reported at its slightly lower threshold;
                              * n_raw of them passed the exact re-check on the host */
} sso_stack_stats;

typedef struct sso_stack_result sso_stack_result;

/* The velocity grid for these epoch times and parameters: its step and size; vx, vy (n floats
 * each, may be NULL to ask the size only) receive the velocities [px/h]. With p->bin_on only
 * the velocities of the bin (sso_stack_in_bin). */
sso_status sso_stack_velocity_grid(const double *t_h, int n_epochs, const sso_stack_params *p,
                                   double *dv_px_h, int64_t *n_vel, double *vx, double *vy);

/* Runs the search. psi[e], phi[e]: w x h floats, borrowed. p NULL: defaults. *out owns the
 * candidates; free with sso_stack_result_free. */
sso_status sso_stack_slow(const float *const psi[], const float *const phi[], int n_epochs, int w,
                          int h, const double *t_h, const sso_stack_params *p,
                          sso_stack_result **out);

/* The consistency test of step 1 on a candidate's per-epoch psi_e/phi_e and n_epochs_used (1 =
 * passes). Callers that re-measure a candidate's epochs (at its refined track instead of the grid
 * trajectory's pixels) apply the same test to the new values. */
int sso_stack_consistent(const sso_stack_cand *c, int n_epochs, const sso_stack_params *p);

/* Velocity bins for trail templates (issue 3, step 4: psi/phi with trailed templates binned in
 * length and angle). A mover at v trails over L = |v| exptime; the point template loses SNR on
 * it (matched-filter efficiency ~0.93 at L = 2.5 px, 0.56 at 8 px, 0.39 at 16 px for the VIS PSF
 * core) and, along the trail, position. Bin 0 holds the speeds with L < point_len_px and uses the
 * point template (len_px 0). Above, length bins with edges in the ratio len_ratio, the last one
 * open (it ends where the grid ends); each cut into n = ceil(pi L_hi / angle_len_px) equal angle
 * bins over [0, pi) (a trail centred on mid-exposure is the same for theta and theta + pi), so
 * that the ends of a trail at the bin's edge are <= angle_len_px / 2 off the template's (at
 * L_hi; the angle bin half-width is pi / (2 n)). The template of a bin: length the geometric
 * mean of its edges (the top bin: of its lower edge and vmax exptime), angle its centre. */
typedef struct sso_stack_bin {
    double vlo_px_h, vhi_px_h, theta_lo_rad, theta_hi_rad; /* the velocity bin */
    double len_px, theta_rad;                              /* its template; len 0: point */
} sso_stack_bin;

/* Fills bins[0..*n_bins) (at most max_bins; SSO_ERR_ARG when more are needed). */
sso_status sso_stack_trail_bins(double vmax_px_h, double exptime_h, double point_len_px,
                                double len_ratio, double angle_len_px, sso_stack_bin *bins,
                                int max_bins, int *n_bins);

/* Sets p's velocity bin (bin_on = 1) to b. */
void sso_stack_params_set_bin(sso_stack_params *p, const sso_stack_bin *b);

/* 1 when velocity (vx, vy) [px/h] lies in p's velocity bin (always 1 when bin_on is 0). */
int sso_stack_in_bin(const sso_stack_params *p, double vx_px_h, double vy_px_h);

/* Merging across separate searches (e.g. the velocity bins of trail templates, each searched
 * with its own psi/phi): the candidates c[0..n) are put in nu order (descending) and merged by
 * the explaining-away rule of step 2, with each candidate's pixel at epoch e taken as the
 * nearest pixel of its REFINED track x0 + vx t_e (the grid pixels of different searches are not
 * comparable), and the claim radius grown by the half lengths of both candidates' trails
 * (|v| exptime_h, exptime_h >= 0). The survivors are compacted to the front of c, in nu order; their number goes
 * to *n_keep. Deterministic for a given input order. */
sso_status sso_stack_merge(sso_stack_cand *c, size_t n, int n_epochs, const double *t_h,
                           double exptime_h, const sso_stack_params *p, size_t *n_keep);

size_t sso_stack_result_count(const sso_stack_result *r);
const sso_stack_cand *sso_stack_result_get(const sso_stack_result *r, size_t i);
const sso_stack_stats *sso_stack_result_stats(const sso_stack_result *r);
void sso_stack_result_free(sso_stack_result *r);

#ifdef __cplusplus
}
#endif
#endif
