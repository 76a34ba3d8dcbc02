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
 * Where the static-sky gate left epoch e's own image (sso_difference_patch: dvar = var there,
 * bitwise), nothing was subtracted and T_e = 0. The same rule makes the images themselves a valid
 * input: img as diff, var as dvar, mask as dmask is the model F_e P_e with no template
 * (sso_track_refine_direct).
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
#define SSO_PHOT_STATIC_R_PX 3.0 /* sso_track_static_z looks this close to the segments */
#define SSO_PHOT_STATIC_FRAC 0.03 /* sso_track_refine_direct: static light up to ~3% of the mover's */

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

/* Whether the static sky under a track holds a source: img[e], var[e], mask[e] are the epochs as
 * resampling leaves them (background subtracted, before differencing). The mover's model (flux_e
 * times the unit trailed ePSF of each epoch, as sso_track_photometry renders it) is taken out of
 * every epoch, the rest combined per pixel as the static-sky gate combines them
 * (sso_diff_gate_terms: sum img/var, sum 1/var over unmasked epochs) and filtered with K
 * ((2 half + 1)^2 weights, row-major; the gate's kernel); *z = the largest significance over the
 * pixels within SSO_PHOT_STATIC_R_PX of any epoch's segment, where the mover's weight lies (NaN: none measurable, e.g. the track
 * off the patch). Why: where that sky is empty (*z below the gate's threshold) the images
 * themselves, with nothing subtracted, are the mover's data; passing them to sso_track_photometry
 * or sso_track_refine as diff (var as dvar, mask as dmask) fits F_e P_e with no template: no
 * ghost, no template noise, and no flux-rate degeneracy (a 2-epoch slow mover's difference is the
 * dipole F (P_1 - P_2), which at ~1 px between epochs fixes only F times the displacement).
 * SSO_ERR_ARG on bad arguments; SSO_ERR_NOMEM. */
sso_status sso_track_static_z(const float *const img[], const float *const var[],
                              const uint8_t *const mask[], int n_epochs, int w, int h,
                              const double *t_h, double exptime_h, const double track[4],
                              double flux_e, const sso_sim_psf *psf, const float *K, int half,
                              double *z);

/* sso_track_refine on the images themselves (img as diff, var as dvar, mask as dmask: no
 * template anywhere) from track[4], then sso_track_static_z on the refined track with its flux.
 * Taken (*taken = 1, track and *out replaced) when that *z < max(z_max, SSO_PHOT_STATIC_FRAC x
 * the fit's joint SNR): the static sky under the fitted mover is empty, or holds at most ~3% of
 * the mover's light (its bias on the flux, <= 0.03 mag); the second term also passes a bright
 * mover's own model errors (the ePSF against the resampled images: z 5-6 at joint SNR ~400, on
 * 3 epochs of mag 20.4 at 0.6 "/h, whose differences the bright-template rule masks at the
 * mover's own core, 0.65 mag too faint). Else track and *out stay as they were
 * (the differences' fit) and *taken = 0. The check follows the fit because a track fitted on the
 * differences of a mover that overlaps itself can be off by ~10% in rate, and the model at the
 * wrong track leaves residuals that read as a static source (z 4-7 on empty sky). What it cannot
 * tell: a static source that a very slow mover's track (< ~0.5 "/h, epochs < 1 FWHM apart) absorbs
 * whole, the mover and the source then being one shape in every epoch. */
sso_status sso_track_refine_direct(const float *const img[], const float *const var[],
                                   const uint8_t *const mask[], int n_epochs, int w, int h,
                                   const double *t_h, double exptime_h, const sso_sim_psf *psf,
                                   double step_px, int rounds, const float *K, int half,
                                   double z_max, double track[4], sso_track_phot *out,
                                   double *z, int *taken);

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
