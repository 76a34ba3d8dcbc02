/* sso/fast.h: fast movers (> 10"/h) by streak detection per epoch, linking across epochs and a
 * guided trailed stack (CPU reference).
 *
 * Inputs: one sky patch after static-sky removal, per epoch e the difference image D_e [e-], its
 * variance V_e [e-^2] and mask M_e (1 = bad), w x h pixels, 0-based (pixel i's centre at i); the
 * epochs' mid-exposure times t_h[e] [h] about the reference t = 0 (the mean epoch); the exposure
 * time exptime_h; the PSF kernel ((2*psf_half+1)^2 floats, sum 1). A mover of velocity v [px/h]
 * trails L = |v| exptime_h pixels in one exposure, centred on its mid-exposure position.
 *
 * 1. Streaks per epoch. psi/phi with the PSF (sso_likelihood), then for a bank of lengths
 *    Lmin * f^k .. Lmax (f = len_factor) and angles theta in [0, pi) (spacing <= ang_k FWHM / L,
 *    computed for all lengths at once by a segment pyramid, O(Npx log Lmax): host/fast_bank.c),
 *    the line sum of psi_psf along the segment: for a trail whose long axis is the line, this is the
 *    trailed matched filter to within the line's sampling (see host/fast.c). The noise scale of each
 *    (length, angle) map is measured robustly (MAD) on the map itself, so SNR is N(0,1) on noise,
 *    correlated (resampled) noise included. Local maxima above nu_epoch (suppression over position,
 *    length and angle: a weaker streak lying along a stronger one is dropped, a crossing one is
 *    kept) are measured with the exact trail template (PSF averaged along the segment, as
 *    sso_template_trail; a trail leaving the image or running into masked pixels is measured by
 *    the part with data and flagged clipped at that end): centre, length, angle refined, flux = psi/phi, SNR = psi/sqrt(phi). A
 *    width test flags streaks sharper than the PSF (cosmic-ray tracks): a 1-pixel-wide line model
 *    fits them better than the PSF-wide one.
 * 2. Linking. Pairs of streaks in different epochs link when the displacement between centres over
 *    the time difference matches each streak's own rate L / exptime and direction (either sense)
 *    within tolerances from the measurement errors (a clipped streak's length bounds the rate from
 *    below; one clipped at both ends links to nothing; the members must move together pairwise).
 *    Links (greedy by SNR, a streak used once) and
 *    unlinked non-sharp streaks of SNR >= seed_snr seed a guided stack: the track x0 + v t is
 *    refined on a local velocity grid and then by coordinate search maximising the stacked SNR of
 *    the exact trail templates, sum psi / sqrt(sum phi) over the epochs. Accepted when that is
 *    >= nu_stack with >= min_epochs epochs at per-epoch SNR >= epoch_snr_min, no epoch carrying
 *    more than max_epoch_frac of sum psi (unless the others reach rest_snr_strong and the epochs
 *    lie rest_strong_sep_px apart), per-epoch fluxes consistent (as sso/stack.h), and, with
 *    exactly 2 contributing epochs, both at SNR >= pair_snr_min; the epochs other than the
 *    strongest, stacked, at >= rest_snr_min (not carried by one epoch); no epoch with data absent
 *    (dimmer than the brightest by more than dim_ratio_max). Slow movers (point-like trails) seed
 *    lone streaks too and are kept: the shift-and-stack needs 3 epochs, this search 2 (on
 *    --preset ccd seed 1, 11 slow movers were found only so).
 * Output sorted by stacked SNR (descending); deterministic for any thread count.
 */
#ifndef SSO_FAST_H
#define SSO_FAST_H

#include <stddef.h>
#include <stdint.h>
#include "sso/prep.h" /* sso_backend */
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_FAST_MAX_EPOCHS 8

typedef struct sso_fast_params {
    double len_min_px;      /* shortest trail searched [16 px] */
    double len_max_px;      /* longest trail searched [470 px = 300"/h; up to ~1600] */
    double len_factor;      /* geometric spacing of the length bank [1.3] */
    double ang_k;           /* angle spacing = ang_k * FWHM / L [1.5: far end within 0.6 px] */
    double bin_len_px;      /* lengths >= this are searched on 2 x 2 binned psi/phi (a quarter of
                             * the pixels, 7-11% less bank SNR: bench/results/fast-search-*.md);
                             * 0: every length at full resolution [0: ~1.65x the fast search's
                             * CPU, the faint fast movers' 50% point 8.85 -> 7.10 in per-epoch
                             * SNR; bench/results/fast-bank-full-res-2026-11-23.md] */
    double fwhm_px;         /* PSF FWHM; 0 estimates it from the kernel's sum of squares [0] */
    float nu_epoch;         /* per-epoch streak threshold [5] */
    float seed_snr;         /* a lone (unlinked) streak seeds a guided stack above this [8] */
    float nu_stack;         /* stacked acceptance threshold [7] */
    float epoch_snr_min;    /* an epoch contributes when its SNR is >= this [2] */
    float pair_snr_min;     /* a candidate of exactly 2 contributing epochs needs both >= this [6]:
                             * above nu_epoch, as a pair has no third epoch to confirm it and the
                             * bank's noise streaks at 5-6 sigma pair up by chance */
    float rest_snr_min;     /* the epochs other than the strongest, stacked, need >= this [4.5] */
    int min_epochs;         /* contributing epochs required [2] */
    float max_epoch_frac;   /* largest share of sum psi one epoch may carry [0.75] */
    float rest_snr_strong;  /* max_epoch_frac is waived where the epochs other than the strongest,
                             * stacked, reach this: a partly masked epoch (a trail running into
                             * a star's mask) has a small share of sum psi at any SNR [8] */
    double rest_strong_sep_px; /* ... and the epochs' positions lie >= this apart: a static
                             * source's residual stays put [5 px, ~3 FWHM] */
    float consist_k;        /* per-epoch flux consistency [3 sigma] */
    float consist_frac;     /* plus this fraction of the mean flux [0.5] */
    float dim_ratio_max;    /* no epoch with data dimmer than the brightest by more than this
                             * factor, both at consist_k sigma (an asteroid changes by less than
                             * a magnitude within a quartet's 45 min); <= 0: off [2.5] */
    int n_threads;          /* worker threads (angles split between them) [1] */
    sso_backend backend;    /* where the point psi/phi and the streak bank run [cpu]; CUDA:
                             * kernels/likelihood.cu and kernels/fast.cu (the same maps and raw
                             * samples); AUTO: the GPU when present. Measurement (the epochs on
                             * the threads), linking and the guided stack stay on the CPU. */
} sso_fast_params;

void sso_fast_params_default(sso_fast_params *p);

/* The acceptance of a track from its per-epoch exact psi and phi (ne epochs; phi <= 0: no data,
 * left out) and positions x_px, y_px (NULL: unknown, the waiver below does not apply), the rules
 * above: stacked SNR >= nu_stack, >= min_epochs epochs at SNR >= epoch_snr_min, no epoch above
 * max_epoch_frac of sum psi (waived where the others reach rest_snr_strong and the epochs at >=
 * epoch_snr_min lie >= rest_strong_sep_px apart), exactly 2 such epochs both >= pair_snr_min, the
 * others than the strongest at >= rest_snr_min, fluxes consistent, none absent. 1: accepted;
 * *n_epochs (may be NULL): the epochs at >= epoch_snr_min. One function for the search's guided
 * stack and for the pipeline's re-check of a candidate of which a stronger alert explains some
 * epochs (host/pipeline.c), so that the epochs left pass what a candidate of those epochs alone
 * would have to. */
int sso_fast_accept(const sso_fast_params *p, const double *psi, const double *phi, int ne,
                    const double *x_px, const double *y_px, int *n_epochs);

#define SSO_FAST_CLIP1 1
#define SSO_FAST_CLIP2 2

/* One streak found in one epoch (exact-template measurement). */
typedef struct sso_fast_streak {
    int epoch;
    double xc_px, yc_px;     /* centre (mid-exposure position) */
    double len_px;           /* length of the segment */
    double theta_rad;        /* direction in [0, pi), from +x towards +y */
    double x1_px, y1_px, x2_px, y2_px; /* ends: centre -/+ len/2 (cos, sin) */
    float flux_e, flux_err_e, snr;
    float snr_bank;          /* SNR of the best bank template (before refinement) */
    int sharp;               /* 1: narrower than the PSF (cosmic-ray-like), never a seed */
    int clipped;             /* ends without data (off the image, masked): SSO_FAST_CLIP1 (x1, y1)
                              * | SSO_FAST_CLIP2 (x2, y2); non-zero: len_px is a lower bound and
                              * the segment is the part with data */
    int used;                /* 1: part of an accepted candidate */
} sso_fast_streak;

/* Whether streaks a and b (different epochs; the same pixel frame) move together: the displacement
 * between their centres over the time between their epochs (t_h[epoch] [h]) against each streak's
 * own rate len / exptime_h (within 3 (1 + 0.02 L) px per exposure + 5%; a clipped streak's length
 * bounds the rate from below only) and direction (3 x 1.5 px / L + 0.03 rad + a term for short
 * displacements). Returns the worse of the two ratios to their tolerances: <= 1 consistent; 1e30
 * for the same epoch, bad arguments, or no rate and no directions to test. The search's linking;
 * the pipeline links streaks of different patches with it (host/pipeline.c). */
double sso_fast_link_mismatch(const sso_fast_streak *a, const sso_fast_streak *b, const double *t_h,
                              double exptime_h);

typedef struct sso_fast_cand {
    double x0_px, y0_px;     /* position at t = 0 */
    double vx_px_h, vy_px_h; /* velocity [px/h] */
    double len_px;           /* trail length |v| exptime [px] */
    double theta_rad;        /* trail direction atan2(vy, vx), in (-pi, pi] (direction of motion) */
    double x_px[SSO_FAST_MAX_EPOCHS], y_px[SSO_FAST_MAX_EPOCHS]; /* mid-exposure, per epoch */
    float flux_e[SSO_FAST_MAX_EPOCHS], flux_err_e[SSO_FAST_MAX_EPOCHS], snr[SSO_FAST_MAX_EPOCHS];
    float nu;                /* stacked SNR sum psi / sqrt(sum phi): the score */
    float flux_e_all, flux_err_e_all; /* stacked flux sum psi / sum phi and 1 / sqrt(sum phi) */
    int n_epochs;            /* epochs with SNR >= epoch_snr_min */
    int n_linked;            /* streaks (epochs) the seed link had: 1 = a lone streak's guided stack */
} sso_fast_cand;

/* Whether candidate c's trail at streak s's epoch explains s: within 0.2 rad of its direction,
 * and centred within max(3 px, L / 10) of c's position there or with both ends within 3 px of
 * c's trail (extended by that tolerance): the whole trail, or a part of it (clipped, or a piece a
 * measurement left). The search marks such streaks used; the pipeline keeps the others for
 * links across patches (host/pipeline.c). */
int sso_fast_cand_holds(const sso_fast_cand *c, const sso_fast_streak *s);

typedef struct sso_fast_stats {
    int n_lengths, n_angles_max; /* bank: lengths, angles at the longest */
    int64_t n_templates;     /* (length, angle) pairs per epoch */
    int64_t n_raw[SSO_FAST_MAX_EPOCHS]; /* bank samples above nu_epoch */
    int n_streaks;           /* streaks measured (all epochs) */
    int n_prescreen_pass;    /* bank samples past the prescreen (residual line sum) and suppression */
    int n_refined;           /* of those, given the exact-template end scans (stage 2) */
    int n_sharp;             /* of those, flagged sharp */
    int n_links;             /* seeds from links of >= 2 streaks */
    int n_seeds;             /* guided stacks tried */
    double like_s, bank_s, measure_s, link_s; /* wall time per stage [s] */
} sso_fast_stats;

typedef struct sso_fast_result sso_fast_result;

/* Runs the search. d, v, m: n_epochs images of w x h, borrowed (m may be NULL, or m[e] NULL).
 * p NULL: defaults. *out: free with sso_fast_result_free. */
sso_status sso_fast_search(const float *const d[], const float *const v[], const uint8_t *const m[],
                           int n_epochs, int w, int h, const double *t_h, double exptime_h,
                           const float *psf, int psf_half, const sso_fast_params *p,
                           sso_fast_result **out);

size_t sso_fast_result_count(const sso_fast_result *r);
const sso_fast_cand *sso_fast_result_get(const sso_fast_result *r, size_t i);
size_t sso_fast_result_streak_count(const sso_fast_result *r);
const sso_fast_streak *sso_fast_result_streak(const sso_fast_result *r, size_t i);
const sso_fast_stats *sso_fast_result_stats(const sso_fast_result *r);
void sso_fast_result_free(sso_fast_result *r);

#ifdef __cplusplus
}
#endif
#endif
