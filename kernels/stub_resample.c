/* kernels/stub_resample.c: the resampling launcher of kernels/sso_kernels.h for builds without
 * CUDA: it reports SSO_ERR_NO_DEVICE, so host/resample.c falls back to the CPU under AUTO.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

sso_status sso_k_resample(const sso_k_resample_grid *g, const float *img_e, const float *var_e2,
                          const uint8_t *mask, float mask_weight_min, float *out_img_e,
                          float *out_var_e2, uint8_t *out_mask, int64_t *n_written,
                          sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}
