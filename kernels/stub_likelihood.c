/* kernels/stub_likelihood.c: the likelihood launcher of kernels/sso_kernels.h for builds without
 * CUDA: reports SSO_ERR_NO_DEVICE, so host/likelihood.c falls back or fails with that status.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

sso_status sso_k_likelihood(const float *d_e, const float *var_e2, const uint8_t *mask, int w, int h,
                            const float *tmpl, int half, int use_fft, float *psi, float *phi)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}

sso_status sso_k_likelihood_tr(const float *d_e, const float *var_e2, const uint8_t *mask, int w,
                               int h, const float *tmpl, int half, int use_fft, float *psi,
                               float *phi, sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}

sso_status sso_k_trail_load(int n_epochs, const float *const psi[], const float *const phi[], int w,
                            int h)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}

sso_status sso_k_trail(int e, const int *dx, const int *dy, const float *w, int n, float kappa,
                       float *psi_l, float *phi_l, sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, "this build of sso has no CUDA support (SSO_CUDA=OFF)");
}
