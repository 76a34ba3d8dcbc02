/* host/prep.c: pixel preparation, CPU reference, and the backend switch.
 *
 * sso_prep_detector() dispatches to the CPU loop below or to the CUDA launcher sso_k_prep();
 * both apply sso_prep_pixel() (host/prep_math.h) to every pixel. Statistics are accumulated in
 * double over unmasked pixels. The backend helpers (names, AUTO resolution) live here too, being
 * the first stage with two backends.
 */
#include <math.h>
#include <string.h>

#include "host/prep_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/prep.h"

sso_status sso_backend_from_name(const char *name, sso_backend *out)
{
    if (!name || !out)
        return sso_fail(SSO_ERR_ARG, "backend: no name");
    if (!strcmp(name, "auto"))
        *out = SSO_BACKEND_AUTO;
    else if (!strcmp(name, "cpu"))
        *out = SSO_BACKEND_CPU;
    else if (!strcmp(name, "cuda") || !strcmp(name, "gpu"))
        *out = SSO_BACKEND_CUDA;
    else
        return sso_fail(SSO_ERR_ARG, "backend '%s': expected auto, cpu or cuda", name);
    return SSO_OK;
}

const char *sso_backend_name(sso_backend b)
{
    switch (b) {
    case SSO_BACKEND_CPU: return "cpu";
    case SSO_BACKEND_CUDA: return "cuda";
    default: return "auto";
    }
}

int sso_cuda_device_count(void) { return sso_k_device_count(); }

sso_backend sso_backend_resolve(sso_backend b)
{
    if (b == SSO_BACKEND_AUTO)
        return sso_k_device_count() > 0 ? SSO_BACKEND_CUDA : SSO_BACKEND_CPU;
    return b;
}

static void prep_cpu(const float *sci_adu, const float *rms_adu, const int32_t *flg, size_t n,
                     float gain, uint32_t mask_bits, float *img_e, float *var_e2, uint8_t *mask,
                     sso_prep_stats *st)
{
    int64_t n_masked = 0, n_nonfinite = 0;
    double sum = 0.0, sumsq = 0.0, mn = INFINITY, mx = -INFINITY;
    const int has_rms = rms_adu != NULL;
    for (size_t i = 0; i < n; i++) {
        float e, v;
        uint8_t m = sso_prep_pixel(sci_adu[i], has_rms ? rms_adu[i] : 0.0f, has_rms,
                                   flg ? flg[i] : 0, gain, mask_bits, &e, &v);
        img_e[i] = e;
        var_e2[i] = v;
        mask[i] = m;
        n_nonfinite += !isfinite(sci_adu[i]);
        if (m) {
            n_masked++;
        } else {
            sum += e;
            sumsq += (double)e * e;
            mn = e < mn ? e : mn;
            mx = e > mx ? e : mx;
        }
    }
    if (st) {
        st->n_pixels = (int64_t)n;
        st->n_masked = n_masked;
        st->n_nonfinite = n_nonfinite;
        st->sum_e = sum;
        st->sumsq_e = sumsq;
        st->min_e = n_masked == (int64_t)n ? NAN : mn;
        st->max_e = n_masked == (int64_t)n ? NAN : mx;
    }
}

sso_status sso_prep_detector(sso_backend backend, const float *sci_adu, const float *rms_adu,
                             const int32_t *flg, size_t n, float gain_e_per_adu, uint32_t mask_bits,
                             float *img_e, float *var_e2, uint8_t *mask, sso_prep_stats *stats)
{
    if (!sci_adu || !img_e || !var_e2 || !mask)
        return sso_fail(SSO_ERR_ARG, "prep: NULL image pointer");
    if (!(gain_e_per_adu > 0.0f) || !isfinite(gain_e_per_adu))
        return sso_fail(SSO_ERR_ARG, "prep: gain %g e-/ADU is not positive", (double)gain_e_per_adu);
    switch (sso_backend_resolve(backend)) {
    case SSO_BACKEND_CUDA:
        return sso_k_prep(sci_adu, rms_adu, flg, n, gain_e_per_adu, mask_bits, img_e, var_e2, mask,
                          stats);
    default:
        prep_cpu(sci_adu, rms_adu, flg, n, gain_e_per_adu, mask_bits, img_e, var_e2, mask, stats);
        return SSO_OK;
    }
}
