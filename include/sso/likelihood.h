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

#ifdef __cplusplus
}
#endif
#endif
