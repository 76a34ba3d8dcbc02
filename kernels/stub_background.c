/* kernels/stub_background.c: the background launchers of kernels/sso_kernels.h for builds without
 * CUDA: they report SSO_ERR_NO_DEVICE, so host/background.c falls back to the CPU under AUTO.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

#define NO_CUDA "this build of sso has no CUDA support (SSO_CUDA=OFF)"

sso_status sso_k_background_cells(const float *img_e, const uint8_t *mask, int w, int h, int nx,
                                  int ny, const sso_background_params *p, double corr,
                                  float *raw_bkg_e, float *raw_rms_e, uint8_t *valid,
                                  sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_background_eval(const float *const bkg_mesh[4], const float *const rms_mesh[4],
                                 int nx, int ny, int w, int h, sso_background_interp interp,
                                 float *bkg_e, float *bkg_rms_e, sso_k_traffic *tr)
{
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}
