/* host/noisecal.c: empirical noise scale of psi/phi images (contract in host/noisecal.h).
 *
 * Sampling: pixels i = j * stride (stride = ceil(npx / max_samples), so at most max_samples
 * visited), kept when psi is finite and phi > 0 and finite; the SNR values go to one scratch
 * buffer. Statistic: median m by Hoare selection, then the median of |x - m| in place, scaled by
 * 1.4826 (the MAD of a unit Gaussian is 0.6745). O(samples), no sort: a 4096^2 patch sampled at
 * 2^18 pixels costs ~5 ms, small beside the correlation that made the image.
 */
#include <math.h>
#include <stdlib.h>

#include "host/background_math.h"
#include "host/noisecal.h"
#include "host/status_internal.h"

#define MAD_TO_SIGMA 1.482602218505602
#define MIN_SAMPLES 64

sso_status sso_noise_scale(const float *psi, const float *phi, size_t npx, size_t max_samples,
                           double *scale, size_t *n_used)
{
    if (!psi || !phi || !scale || max_samples == 0)
        return sso_fail(SSO_ERR_ARG, "noise scale: null image or no samples");
    *scale = 1.0;
    if (n_used)
        *n_used = 0;
    const size_t stride = npx > max_samples ? (npx + max_samples - 1) / max_samples : 1;
    const size_t cap = npx / stride + 1;
    float *v = malloc(cap * sizeof(float));
    if (!v)
        return sso_fail(SSO_ERR_NOMEM, "noise scale: %zu samples", cap);
    size_t n = 0;
    for (size_t i = 0; i < npx; i += stride) {
        const float f = phi[i], p = psi[i];
        if (f > 0.0f && isfinite(f) && isfinite(p))
            v[n++] = p / sqrtf(f);
    }
    if (n_used)
        *n_used = n;
    if (n >= MIN_SAMPLES) {
        const double m = sso_bkg_median(v, n);
        for (size_t i = 0; i < n; i++)
            v[i] = (float)fabs(v[i] - m);
        const double mad = sso_bkg_median(v, n);
        if (mad > 0.0 && isfinite(mad))
            *scale = MAD_TO_SIGMA * mad;
    }
    free(v);
    return SSO_OK;
}

void sso_noise_apply(float *psi, float *phi, size_t npx, double s)
{
    if (!psi || !phi || !(s > 0.0) || !isfinite(s))
        return;
    const float k = (float)(1.0 / (s * s));
    for (size_t i = 0; i < npx; i++)
        psi[i] *= k, phi[i] *= k;
}
