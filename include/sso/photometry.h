/* sso/photometry.h: flux of a moving object along a track, unbiased for trailing and for
 * self-subtraction by the static-sky template (issue 3, step 7: measurement).
 *
 * Why not psi/phi: a point-PSF matched filter underestimates the flux of a trail (length
 * L = |v| exptime px), and the static-sky template of sso_difference_patch (per pixel, the median of
 * the OTHER epochs) contains a slow mover's own light where its images in different epochs overlap,
 * so the difference carries a negative ghost on top of the mover ("self-subtraction": ~35% at 1"/h).
 *
 * Model. Epoch e's mover image is F_e P_e, P_e the unit-flux ePSF trailed from the track position at
 * t_e - exptime/2 to t_e + exptime/2 (rendered exactly as the simulator renders a trail). With a
 * common flux F over the quartet (a non-variable asteroid over 46 min), the template of epoch e is
 * med_k(S + F P_k) = S + F T_e with T_e = the same per-pixel rule (median of 3, mean of 2, the single
 * one) applied to the unit profiles P_k of the other epochs k that are unmasked there (the masks
 * before differencing). The static sky S cancels, so in the noise-free case exactly
 *     diff_e = F_e P_e - F T_e.
 * Fits (weighted least squares, weights 1/dvar, pixels with dmask != 0 excluded):
 *   joint      F from all epochs with model F (P_e - T_e), over the pixels within stamp_r of ANY
 *              epoch's trail segment (the negative ghosts in diff_e carry flux information too);
 *              var(F) = 1 / sum (P_e - T_e)^2 / dvar.
 *   per epoch  F_e from diff_e + F T_e against P_e over the pixels within stamp_r of epoch e's own
 *              segment; var(F_e) = 1 / sum P_e^2 / dvar + c_e^2 var(F), c_e = sum T_e P_e / dvar /
 *              sum P_e^2 / dvar (the template term's uncertainty; the covariance is neglected).
 * Both are exact without noise (the tests check to 2e-3, limited by the rendering radius).
 * With noise the median of noisy values is not the median of their means (next to a bright
 * neighbour it is the larger of two noise values, +0.56 sigma; where all are << sigma it is ~their
 * mean): where 3 epochs make the template, T_e is replaced by E[median(F P_k + n_k)] / F with
 * n_k ~ N(0, var_k) (quadrature, host/photometry_math.h), which depends on F, so the joint fit is
 * iterated about the current F (2-4 passes). This removed a 1-2% low bias at 0.3-1 "/h.
 * Known approximation: the differences of different epochs share template pixels; the correlated
 * errors are neglected in the variances (noise-only pull rms measured 1.0-1.5 at slow rates).
 * stamp_r = 8 px (SSO_PHOT_STAMP_R_PX) around the segment: radius L/2 + 8 about the trail's centre.
 *
 * Coordinates: 0-based pixel indices, pixel i's centre at i. Track position x(t) = x0 + vx t with t
 * in hours relative to the track's epoch, t_h[e] the epochs' mid-exposure times on that clock.
 * Cost (measured by tests/test_photometry.c, one core): ~3 ms per candidate at 0.3 "/h, ~6 ms at
 * 1 "/h, ~9 ms at 3 "/h, ~23 ms at 9 "/h (the expected-median quadrature dominates).
 */
#ifndef SSO_PHOTOMETRY_H
#define SSO_PHOTOMETRY_H

#include <stdint.h>
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_PHOT_MAX_EPOCHS 4
#define SSO_PHOT_STAMP_R_PX 8.0

typedef struct sso_sim_psf sso_sim_psf; /* sim/psf.h: the VIS ePSF */

typedef struct sso_track_phot {
    int n_epochs;
    double flux_e;     /* joint flux F over all epochs [e-]; NaN when no pixel was usable */
    double flux_err_e; /* its 1-sigma error [e-] */
    double snr;        /* flux_e / flux_err_e */
    double epoch_flux_e[SSO_PHOT_MAX_EPOCHS];     /* per-epoch F_e [e-]; NaN: no usable pixel */
    double epoch_flux_err_e[SSO_PHOT_MAX_EPOCHS]; /* [e-] */
    double epoch_snr[SSO_PHOT_MAX_EPOCHS];
    int epoch_npix[SSO_PHOT_MAX_EPOCHS]; /* unmasked pixels in epoch e's own stamp */
} sso_track_phot;

/* Measures the mover on the track (x0_px, y0_px, vx_px_h, vy_px_h) in a patch of w x h pixels.
 * var[e], mask[e]: epoch e's variance [e-^2] and mask BEFORE differencing (which epochs made each
 * pixel's template, and their noise);
 * diff[e], dvar[e], dmask[e]: sso_difference_patch's outputs. n_epochs: 2..4 (sso_difference_patch
 * uses 4). t_h[e]: mid-exposure times [h]; exptime_h: exposure time [h]. psf: the ePSF.
 * SSO_ERR_ARG on bad arguments; SSO_ERR_NOMEM. A track with no usable pixel is not an error:
 * its fluxes are NaN. */
sso_status sso_track_photometry(const float *const var[], const uint8_t *const mask[],
                                const float *const diff[],
                                const float *const dvar[], const uint8_t *const dmask[],
                                int n_epochs, int w, int h, const double *t_h, double exptime_h,
                                double x0_px, double y0_px, double vx_px_h, double vy_px_h,
                                const sso_sim_psf *psf, sso_track_phot *out);

/* The track that maximises sso_track_photometry's joint SNR (its model: the trailed ePSF less the
 * mover's own light in each epoch's median template), from track[4] = (x0_px, y0_px, vx_px_h,
 * vy_px_h) on the clock of t_h, refined in place; *out: the photometry on the refined track.
 * Why: the slow search places a mover by each epoch's peak of a binned template's SNR map and a
 * line through them, which the template's negative ghost of a slow mover pushes apart (the rate
 * +4.6% on average below 1 "/h on the ccd seeds) and a trail's flat-topped ridge leaves loose
 * along the track (0.3-0.8 px at 10-15 px trails, SNR ~150). The joint SNR squared is the fit's
 * chi^2 improvement, so its maximum is the least-squares track under the photometry's model.
 * Search: a coordinate search on the positions at the first and last epochs (nearly independent,
 * where position and velocity are not) and on shifts of the whole track in x and y, each moved by
 * +-step_px and to a parabola's vertex (clamped to +-step), the step halved each of rounds rounds
 * (reach ~2 step_px). The start is kept unless a track scores higher; 18 photometry calls a round
 * (3-23 ms each, see above). */
sso_status sso_track_refine(const float *const var[], const uint8_t *const mask[],
                            const float *const diff[], const float *const dvar[],
                            const uint8_t *const dmask[], int n_epochs, int w, int h,
                            const double *t_h, double exptime_h, const sso_sim_psf *psf,
                            double step_px, int rounds, double track[4], sso_track_phot *out);

/* How far the brightest epoch of a track measurement stands above the others, in noise sigma:
 * (F_t - F_o) / sqrt(s_t^2 + s_o^2), where t is the epoch of largest F_e / s_e, F_o the
 * inverse-variance mean of the other epochs' F_e and s_o its error. Epochs with used[e] == 0 (or
 * used NULL: all), a NaN flux or a non-positive error are left out; NaN with fewer than 2 left.
 * No systematic term: for a faint track the noise dominates the model's errors, and a constant
 * flux gives the largest of ~n unit normals (above 4 with probability ~1e-4 for 4 epochs), while
 * one epoch's source (a cosmic-ray residual, a noise peak) with noise beside it stands far out. */
double sso_track_phot_peak_z(const sso_track_phot *ph, const int *used);

/* AB magnitude of flux_e electrons collected in exptime_s by a detector with zero point magzerop
 * (the magnitude of 1 ADU/s) and gain [e-/ADU]. NaN unless flux_e, gain and exptime_s are > 0 and
 * magzerop finite. The magnitude error is 2.5 / ln 10 / SNR = 1.0857 / SNR. */
double sso_ab_mag(double flux_e, double magzerop, double gain_e_per_adu, double exptime_s);

#ifdef __cplusplus
}
#endif
#endif
