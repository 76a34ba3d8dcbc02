/* host/noisecal.h: empirical noise calibration of psi/phi likelihood images.
 *
 * psi/sqrt(phi) is N(0,1) on pure noise only when the pixels are independent and their variance
 * is right. After Lanczos resampling neighbouring pixels are positively correlated, and the
 * difference image's template adds its own noise structure, so the matched filter's real
 * dispersion is s > 1 times the nominal one and a threshold of nu sigma is really nu/s sigma.
 * sso_noise_scale measures s as the robust (MAD) standard deviation of psi/sqrt(phi) over the
 * pixels with phi > 0 (a deterministic sample of at most max_samples of them); movers, star
 * residuals and cosmic rays are a small fraction of pixels and do not move the MAD.
 * sso_noise_apply divides psi and phi by s^2: the weights become 1/(s^2 V), so the flux psi/phi is
 * unchanged and the SNR psi/sqrt(phi) (and the stack's sum psi / sqrt(sum phi)) is divided by s.
 */
#ifndef SSO_HOST_NOISECAL_H
#define SSO_HOST_NOISECAL_H

#include <stddef.h>

#include "sso/status.h"

/* Robust standard deviation of psi/sqrt(phi) over pixels with finite psi and phi > 0. *scale = 1
 * and *n_used < 64 when too few pixels qualify (nothing to calibrate on). */
sso_status sso_noise_scale(const float *psi, const float *phi, size_t npx, size_t max_samples,
                           double *scale, size_t *n_used);

/* psi /= s^2, phi /= s^2 (s > 0, finite; anything else leaves the images as they are). */
void sso_noise_apply(float *psi, float *phi, size_t npx, double s);

#endif
