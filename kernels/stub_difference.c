/* kernels/stub_difference.c: the difference launcher of kernels/sso_kernels.h for builds without
 * CUDA: it reports SSO_ERR_NO_DEVICE, so host/difference.c falls back to the CPU under AUTO.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

sso_status sso_k_difference(int w, int h, const float *const img_e[SSO_DIFF_EPOCHS],
                            const float *const var_e2[SSO_DIFF_EPOCHS],
                            const uint8_t *const mask[SSO_DIFF_EPOCHS],
                            const sso_difference_config *c, float *const diff_e[SSO_DIFF_EPOCHS],
                            float *const dvar_e2[SSO_DIFF_EPOCHS],
                            uint8_t *const dmask[SSO_DIFF_EPOCHS], sso_difference_stats *stats,
                            sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}
