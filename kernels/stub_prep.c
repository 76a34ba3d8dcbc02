/* kernels/stub_prep.c: the prep launcher of kernels/sso_kernels.h for builds without CUDA.
 *
 * Every launcher reports SSO_ERR_NO_DEVICE; the device count is 0. Host code therefore needs no
 * #ifdef: it asks, and falls back to the CPU reference.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

sso_status sso_k_prep(const float *sci_adu, const float *rms_adu, const int32_t *flg, size_t n,
                      float gain_e_per_adu, uint32_t mask_bits, float *img_e, float *var_e2,
                      uint8_t *mask, sso_prep_stats *stats)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}

sso_status sso_k_prep_tr(const float *sci_adu, const float *rms_adu, const int32_t *flg, size_t n,
                         float gain_e_per_adu, uint32_t mask_bits, float *img_e, float *var_e2,
                         uint8_t *mask, sso_prep_stats *stats, sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}
