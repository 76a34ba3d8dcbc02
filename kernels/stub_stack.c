/* kernels/stub_stack.c: the stack launchers of kernels/sso_kernels.h for builds without CUDA:
 * every one reports SSO_ERR_NO_DEVICE and returns nothing.
 */
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

#define NO_CUDA "this build of sso has no CUDA support (SSO_CUDA=OFF)"

sso_status sso_k_stack_search(const sso_k_stack_job *job, sso_k_stack_hit **hits, size_t *n_hits,
                              int64_t *n_samples, double *kernel_s)
{
    if (hits)
        *hits = NULL;
    if (n_hits)
        *n_hits = 0;
    return sso_fail(SSO_ERR_NO_DEVICE, NO_CUDA);
}

sso_status sso_k_stack_search_tr(const sso_k_stack_job *job, sso_k_stack_hit **hits,
                                 size_t *n_hits, int64_t *n_samples, double *kernel_s,
                                 sso_k_traffic *tr)
{
    return sso_k_stack_search(job, hits, n_hits, n_samples, kernel_s);
}
