/* kernels/prep.cu: pixel preparation on the GPU (twin of host/prep.c).
 *
 * One thread per pixel applies sso_prep_pixel() (host/prep_math.h, shared with the CPU). Each block
 * reduces its statistics (counts, sum, sum of squares, min, max) in shared memory and writes one
 * partial per block; the host adds the partials in double, in block order, so the result does not
 * depend on scheduling. Transfers are synchronous on the default stream for now: the engine context
 * with pinned buffers and streams comes with the GPU issue.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "host/prep_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
}

#define PREP_THREADS 256

struct prep_partial {
    unsigned long long n_masked, n_nonfinite;
    double sum, sumsq;
    float mn, mx;
};

#define CUDA_TRY(call)                                                                      \
    do {                                                                                    \
        cudaError_t err_ = (call);                                                          \
        if (err_ != cudaSuccess) {                                                          \
            st = sso_fail(SSO_ERR_CUDA, "%s:%d %s: %s", __FILE__, __LINE__, #call,          \
                          cudaGetErrorString(err_));                                        \
            goto exit;                                                                      \
        }                                                                                   \
    } while (0)

// CUDA kernels

__global__ void prep_kernel(const float *__restrict__ sci, const float *__restrict__ rms,
                            const int32_t *__restrict__ flg, size_t n, float gain, uint32_t bits,
                            float *__restrict__ img, float *__restrict__ var,
                            uint8_t *__restrict__ mask, prep_partial *__restrict__ partials)
{
    __shared__ double s_sum[PREP_THREADS], s_sumsq[PREP_THREADS];
    __shared__ float s_mn[PREP_THREADS], s_mx[PREP_THREADS];
    __shared__ unsigned int s_masked[PREP_THREADS], s_nonfin[PREP_THREADS];
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    double sum = 0.0, sumsq = 0.0;
    float mn = INFINITY, mx = -INFINITY;
    unsigned int masked = 0, nonfin = 0;
    if (i < n) {
        float e, v;
        const int has_rms = rms != NULL;
        uint8_t m = sso_prep_pixel(sci[i], has_rms ? rms[i] : 0.0f, has_rms, flg ? flg[i] : 0,
                                   gain, bits, &e, &v);
        img[i] = e;
        var[i] = v;
        mask[i] = m;
        nonfin = !isfinite(sci[i]);
        if (m) {
            masked = 1;
        } else {
            sum = e;
            sumsq = (double)e * e;
            mn = mx = e;
        }
    }
    const int t = threadIdx.x;
    s_sum[t] = sum;
    s_sumsq[t] = sumsq;
    s_mn[t] = mn;
    s_mx[t] = mx;
    s_masked[t] = masked;
    s_nonfin[t] = nonfin;
    __syncthreads();
    for (int s = PREP_THREADS / 2; s > 0; s >>= 1) {
        if (t < s) {
            s_sum[t] += s_sum[t + s];
            s_sumsq[t] += s_sumsq[t + s];
            s_mn[t] = fminf(s_mn[t], s_mn[t + s]);
            s_mx[t] = fmaxf(s_mx[t], s_mx[t + s]);
            s_masked[t] += s_masked[t + s];
            s_nonfin[t] += s_nonfin[t + s];
        }
        __syncthreads();
    }
    if (t == 0) {
        prep_partial p;
        p.n_masked = s_masked[0];
        p.n_nonfinite = s_nonfin[0];
        p.sum = s_sum[0];
        p.sumsq = s_sumsq[0];
        p.mn = s_mn[0];
        p.mx = s_mx[0];
        partials[blockIdx.x] = p;
    }
}

// kernel launchers

extern "C" int sso_k_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}

extern "C" sso_status sso_k_prep(const float *sci_adu, const float *rms_adu, const int32_t *flg,
                                 size_t n, float gain_e_per_adu, uint32_t mask_bits, float *img_e,
                                 float *var_e2, uint8_t *mask, sso_prep_stats *stats)
{
    sso_status st = SSO_OK;
    float *d_sci = NULL, *d_rms = NULL, *d_img = NULL, *d_var = NULL;
    int32_t *d_flg = NULL;
    uint8_t *d_mask = NULL;
    prep_partial *d_part = NULL, *h_part = NULL;
    const unsigned int blocks = (unsigned int)SSO_CEIL_DIV(n, (size_t)PREP_THREADS);

    if (sso_k_device_count() <= 0)
        return sso_fail(SSO_ERR_NO_DEVICE, "no CUDA device is present");
    if (n == 0)
        return sso_fail(SSO_ERR_ARG, "prep: empty image");
    CUDA_TRY(cudaMalloc(&d_sci, n * sizeof(float)));
    CUDA_TRY(cudaMalloc(&d_img, n * sizeof(float)));
    CUDA_TRY(cudaMalloc(&d_var, n * sizeof(float)));
    CUDA_TRY(cudaMalloc(&d_mask, n));
    CUDA_TRY(cudaMalloc(&d_part, blocks * sizeof(prep_partial)));
    CUDA_TRY(cudaMemcpy(d_sci, sci_adu, n * sizeof(float), cudaMemcpyHostToDevice));
    if (rms_adu) {
        CUDA_TRY(cudaMalloc(&d_rms, n * sizeof(float)));
        CUDA_TRY(cudaMemcpy(d_rms, rms_adu, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    if (flg) {
        CUDA_TRY(cudaMalloc(&d_flg, n * sizeof(int32_t)));
        CUDA_TRY(cudaMemcpy(d_flg, flg, n * sizeof(int32_t), cudaMemcpyHostToDevice));
    }
    prep_kernel<<<blocks, PREP_THREADS>>>(d_sci, d_rms, d_flg, n, gain_e_per_adu, mask_bits, d_img,
                                          d_var, d_mask, d_part);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaMemcpy(img_e, d_img, n * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(var_e2, d_var, n * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(mask, d_mask, n, cudaMemcpyDeviceToHost));
    if (stats) {
        h_part = (prep_partial *)malloc(blocks * sizeof(prep_partial));
        if (!h_part) {
            st = sso_fail(SSO_ERR_NOMEM, "prep: %u partials", blocks);
            goto exit;
        }
        CUDA_TRY(cudaMemcpy(h_part, d_part, blocks * sizeof(prep_partial), cudaMemcpyDeviceToHost));
        sso_prep_stats s;
        memset(&s, 0, sizeof s);
        double mn = INFINITY, mx = -INFINITY;
        for (unsigned int b = 0; b < blocks; b++) {
            s.n_masked += (int64_t)h_part[b].n_masked;
            s.n_nonfinite += (int64_t)h_part[b].n_nonfinite;
            s.sum_e += h_part[b].sum;
            s.sumsq_e += h_part[b].sumsq;
            mn = fmin(mn, (double)h_part[b].mn);
            mx = fmax(mx, (double)h_part[b].mx);
        }
        s.n_pixels = (int64_t)n;
        s.min_e = s.n_masked == (int64_t)n ? NAN : mn;
        s.max_e = s.n_masked == (int64_t)n ? NAN : mx;
        *stats = s;
    }
exit:
    free(h_part);
    cudaFree(d_sci);
    cudaFree(d_rms);
    cudaFree(d_flg);
    cudaFree(d_img);
    cudaFree(d_var);
    cudaFree(d_mask);
    cudaFree(d_part);
    return st;
}
