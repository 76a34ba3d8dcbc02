/* sso/likelihood.h: matched-filter likelihood images psi/phi (KBMOD) and their templates.
 *
 * For a difference image D [e-], its variance V [e-^2] and mask M (1 = bad) on a w x h grid, and a
 * template T normalised to sum 1 ((2*half+1)^2 floats, row-major, T[(dy+half)*n + dx+half] = the
 * fraction of a source's flux in the pixel (dx, dy) from it):
 *   psi(x) = sum_u D(x+u) W(x+u) T(u)        W = 1/V, and 0 where M = 1 or V is not finite and > 0
 *   phi(x) = sum_u        W(x+u) T(u)^2
 * a correlation (T is not flipped). For a source flux * T at pixel x on noise of variance V,
 * psi/phi is the flux estimate [e-] with error 1/sqrt(phi), and psi/sqrt(phi) the matched-filter
 * SNR, N(0,1) on pure noise. Pixels beyond the image edge count as masked.
 * Two equal paths: direct sums (small templates) and FFTW r2c/c2r (large ones); AUTO picks direct
 * for half <= SSO_LIKE_DIRECT_MAX_HALF (measured crossover, see host/likelihood.c).
 */
#ifndef SSO_LIKELIHOOD_H
#define SSO_LIKELIHOOD_H

#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sso_like_method {
    SSO_LIKE_AUTO = 0,
    SSO_LIKE_DIRECT = 1,
    SSO_LIKE_FFT = 2
} sso_like_method;

/* AUTO uses direct sums up to this template half size (7x7), FFT above: measured crossover. */
#define SSO_LIKE_DIRECT_MAX_HALF 3

/* Pixel-integrated circular Gaussian of FWHM fwhm_px centred on pixel (0, 0), normalised to sum 1.
 * out: (2*half+1)^2 floats. */
sso_status sso_template_gauss(double fwhm_px, int half, float *out);

/* Trail template: the PSF kernel psf (half size psf_half, sum 1) averaged along a segment of
 * length len_px [px] at angle theta_rad (from +x towards +y), centred on the mid-exposure
 * position, normalised to sum 1. out: (2*half+1)^2 floats; half must hold the trail
 * (half >= psf_half + len_px/2 loses nothing). len_px 0 resamples the PSF itself. */
sso_status sso_template_trail(const float *psf, int psf_half, double len_px, double theta_rad,
                              int half, float *out);

/* psi and phi (caller-allocated, w*h each) of one epoch. mask may be NULL (no mask). The template
 * need not be normalised, but flux = psi/phi holds for a source shaped as tmpl / sum(tmpl). */
sso_status sso_likelihood(const float *d_e, const float *var_e2, const uint8_t *mask, int w, int h,
                          const float *tmpl, int half, sso_like_method method, float *psi,
                          float *phi);

/* The same on a chosen backend: CPU (the reference above; sso_likelihood is this with CPU), CUDA
 * (kernels/likelihood.cu: the direct path gives the CPU's values bit for bit, the FFT path cuFFT's
 * rounding), or AUTO (CUDA when a device is present; falls back to the CPU if the device is then
 * refused with SSO_ERR_NO_DEVICE). CUDA without a device: SSO_ERR_NO_DEVICE. */
sso_status sso_likelihood_on(sso_backend backend, const float *d_e, const float *var_e2,
                             const uint8_t *mask, int w, int h, const float *tmpl, int half,
                             sso_like_method method, float *psi, float *phi);

/* Trail likelihood from the point-source one. A trail template of length len_px at angle theta
 * (from +x towards +y, centred on the mid-exposure position) is the point template T averaged
 * along the segment; correlation being linear, the trail's psi is the same average of the point
 * psi: psi_L(x) = sum_j w_j psi(x + d_j), with the segment sampled every <= 0.25 px and each
 * sample put on its nearest integer offset d_j (weights w_j, sum 1: a digital line, <= 0.5 px
 * off the segment, which costs ~1% of the SNR and halves the taps of bilinear spreading). The effective template is then
 * exactly T_L(u) = sum_j w_j T(u - d_j). Its phi is exact for uniform weights and a close
 * approximation near masks: phi_L(x) = kappa sum_j w_j phi(x + d_j), kappa = sum T_L^2 / sum T^2
 * (for W(x) = W0 both sides are W0 sum T_L^2; where a mask cuts the segment, the average of
 * T^2 stands in for T_L^2 over the masked part). psi_L / phi_L is then the flux estimate with
 * the same meaning as psi / phi, psi_L / sqrt(phi_L) the trail's matched-filter SNR.
 * Cost: ~len + 1 taps per pixel on 2 images, rows split over n_threads; no FFT. */
typedef struct sso_trail_kernel sso_trail_kernel;

/* The kernel of a trail of len_px (>= 0) at theta_rad for the point template tmpl (half, as in
 * sso_likelihood). *out: free with sso_trail_kernel_free. */
sso_status sso_trail_kernel_create(const float *tmpl, int half, double len_px, double theta_rad,
                                   sso_trail_kernel **out);
void sso_trail_kernel_free(sso_trail_kernel *k);
/* kappa = sum T_L^2 / sum T^2 (<= 1) and the number of taps. */
double sso_trail_kernel_kappa(const sso_trail_kernel *k);
int sso_trail_kernel_taps(const sso_trail_kernel *k);

/* psi_L, phi_L (w*h each, caller-allocated) from one epoch's point psi, phi. Taps off the image
 * add 0 (as masked pixels do). */
sso_status sso_likelihood_trail(const float *psi, const float *phi, int w, int h,
                                const sso_trail_kernel *k, int n_threads, float *psi_l,
                                float *phi_l);

/* The point maps of several epochs held for a run of trail correlations (the slow search's length
 * and angle bins all read the same point psi/phi of a patch): on the CPU they are borrowed and
 * sso_trail_maps_correlate is sso_likelihood_trail; on CUDA (kernels/likelihood.cu) they are
 * uploaded once, at open, and each correlation runs on the device with the CPU's operation order
 * (one thread per output pixel, taps in kernel order, multiply and add never fused): the CPU's
 * values bit for bit. backend AUTO: CUDA when a device is present, else (or when the device is
 * refused with SSO_ERR_NO_DEVICE at open) the CPU; CUDA without a device: SSO_ERR_NO_DEVICE.
 * psi[e], phi[e] (w x h) must stay unchanged and alive until close on the CPU; on CUDA they may
 * change after open (the device holds the copy). n_threads: the CPU's rows split. One thread
 * uses a handle (the device buffers are the calling thread's engine slots: one open handle per
 * thread at a time). */
typedef struct sso_trail_maps sso_trail_maps;

sso_status sso_trail_maps_open(sso_backend backend, int n_epochs, const float *const psi[],
                               const float *const phi[], int w, int h, int n_threads,
                               sso_trail_maps **out);
/* psi_l, phi_l (w x h, caller-allocated) of epoch e for kernel k. */
sso_status sso_trail_maps_correlate(sso_trail_maps *m, int e, const sso_trail_kernel *k,
                                    float *psi_l, float *phi_l);
/* The backend the maps live on (CPU or CUDA, never AUTO). */
sso_backend sso_trail_maps_backend(const sso_trail_maps *m);
void sso_trail_maps_close(sso_trail_maps *m);

#ifdef __cplusplus
}
#endif
#endif
