/* kernels/stub_fast.c: the streak-bank launcher of kernels/sso_kernels.h for builds without CUDA:
 * reports SSO_ERR_NO_DEVICE and returns nothing.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

#define NO_CUDA "this build of sso has no CUDA support (SSO_CUDA=OFF)"

sso_status sso_k_fast_bank(const sso_fast_bank *b, const float *psi, const float *phi, int w, int h,
                           float nu, float *cal, sso_fast_raw **raws, size_t *n_raws,
                           sso_k_traffic *tr)
{
    (void)b, (void)psi, (void)phi, (void)w, (void)h, (void)nu, (void)cal, (void)tr;
    if (raws)
        *raws = NULL;
    if (n_raws)
        *n_raws = 0;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}
