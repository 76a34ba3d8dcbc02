/* bench/gpu_peak_stub.c: bench/gpu_peak.h for builds without CUDA: no device, nothing measured. */
#include "bench/gpu_peak.h"
#include "host/status_internal.h"

#define NO_CUDA "this build of sso has no CUDA support (SSO_CUDA=OFF)"

sso_status sso_k_peak_copy_gbps(size_t bytes, int reps, double *gbps)
{
    if (gbps)
        *gbps = 0.0;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_peak_fp32_gflops(int iters, int reps, double *gflops)
{
    if (gflops)
        *gflops = 0.0;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}
