/* kernels/stub_engine.c: the engine context of kernels/sso_kernels.h for builds without CUDA.
 *
 * No device: every call reports SSO_ERR_NO_DEVICE, the device count is 0, release does nothing.
 */
#include <stddef.h>

#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

#define NO_CUDA "this build of sso has no CUDA support (SSO_CUDA=OFF)"

int sso_k_device_count(void) { return 0; }

sso_status sso_k_engine_select(int device)
{
    (void)device;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_engine_info(sso_k_device_info *out)
{
    (void)out;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_scratch(int slot, size_t bytes, void **dev_ptr)
{
    (void)slot, (void)bytes;
    if (dev_ptr)
        *dev_ptr = NULL;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_pinned(int slot, size_t bytes, void **host_ptr)
{
    (void)slot, (void)bytes;
    if (host_ptr)
        *host_ptr = NULL;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_stream(void **stream)
{
    if (stream)
        *stream = NULL;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

void sso_k_engine_release(void) {}
