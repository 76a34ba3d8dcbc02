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
 *   2. merging by explaining away: by nu descending, the epochs at which a kept (stronger)
 *      candidate's pixel lies within merge_radius_px (in x and in y) are dropped from a candidate,
 *      which is kept only if the remaining epochs still pass the threshold and the consistency
 *      tests: duplicates, and trajectories that borrow one epoch of a bright object, vanish;
 *      one object, one candidate.
 *   3. refinement: per epoch, the peak of psi/sqrt(phi) within 1 px of the predicted pixel,
 *      located to sub-pixel by a 3-point parabola in x and in y; a straight line x0 + v t fitted by
 *      least squares weighted by each epoch's SNR^2 gives the sub-pixel start and velocity.
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
    int min_epochs;         /* epochs with phi > 0 required [3] */
    double merge_radius_px; /* claim radius per epoch for merging [3 px] */
    int n_threads;          /* worker threads (rows split between them) [1] */
    int no_coverage_skip;   /* 1: search every start pixel (tests of the skip's exactness) [0] */
    sso_backend backend;    /* where the search runs: CPU (reference), CUDA (kernels/stack.cu:
                             * same candidates), AUTO (CUDA when present; CPU when the device is
                             * refused with SSO_ERR_NO_DEVICE) [cpu] */
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
 * each, may be NULL to ask the size only) receive the velocities [px/h]. */
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

size_t sso_stack_result_count(const sso_stack_result *r);
const sso_stack_cand *sso_stack_result_get(const sso_stack_result *r, size_t i);
const sso_stack_stats *sso_stack_result_stats(const sso_stack_result *r);
void sso_stack_result_free(sso_stack_result *r);

#ifdef __cplusplus
}
#endif
#endif
