/* kernels/stub_cosmic.c: the cosmic-ray launcher of kernels/sso_kernels.h for builds without CUDA:
 * it reports SSO_ERR_NO_DEVICE, so host/cosmic.c falls back to the CPU under AUTO.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

sso_status sso_k_cosmic(const float *img_e, const float *var_e2, const uint8_t *mask,
                        const int32_t *flg, int w, int h, const sso_cosmic_params *p,
                        uint8_t *cr_mask, int64_t *n_flagged_px, sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}
