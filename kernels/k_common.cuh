/* kernels/k_common.cuh: what every .cu file shares: the error macro and the engine's stream type.
 *
 * CUDA_TRY(call) turns a failed runtime call into sso_fail(SSO_ERR_CUDA, ...) naming the file, the
 * line and the call, stores it in the enclosing function's `sso_status st` and jumps to its `exit:`
 * label (the project's one-exit-label style). K_STREAM() fetches the calling thread's engine stream.
 */
#ifndef SSO_K_COMMON_CUH
#define SSO_K_COMMON_CUH

#include <cuda_runtime.h>

extern "C" {
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
}

#define CUDA_TRY(call)                                                                      \
    do {                                                                                    \
        cudaError_t err_ = (call);                                                          \
        if (err_ != cudaSuccess) {                                                          \
            st = sso_fail(SSO_ERR_CUDA, "%s:%d %s: %s", __FILE__, __LINE__, #call,          \
                          cudaGetErrorString(err_));                                        \
            goto exit;                                                                      \
        }                                                                                   \
    } while (0)

/* An sso_status-returning call inside a function with `st` and `exit:`. */
#define SSO_TRY(call)                                                                       \
    do {                                                                                    \
        st = (call);                                                                        \
        if (st != SSO_OK)                                                                   \
            goto exit;                                                                      \
    } while (0)

#endif
