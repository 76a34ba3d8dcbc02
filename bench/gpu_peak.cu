/* bench/gpu_peak.cu: the measured copy bandwidth and FP32 rate of the device (bench/gpu_peak.h).
 *
 * The roofline of `sso bench --roofline` divides each kernel's achieved rate by these two figures,
 * measured in the same process just before the kernels run. The engine's device and stream are
 * used (sso_k_stream selects the default device if none was chosen); the buffers here are plain
 * cudaMalloc'd and freed on return.
 */
#include <stdlib.h>

#include "kernels/k_common.cuh"

extern "C" {
#include "bench/gpu_peak.h"
}

#define FP32_THREADS 256
#define FP32_CHAINS 8
#define PEAK_MAX_REPS 64

// CUDA kernels

/* FP32_CHAINS independent fmaf chains per thread: x <- x * a + b with |a| < 1, so x converges to
 * b / (1 - a) and stays normal. a and b come from the host (no constant folding). */
__global__ void __launch_bounds__(FP32_THREADS) peak_fma(float a, float b, int iters, float *out)
{
    float x[FP32_CHAINS];
#pragma unroll
    for (int c = 0; c < FP32_CHAINS; c++)
        x[c] = (float)(threadIdx.x + c);
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int c = 0; c < FP32_CHAINS; c++)
            x[c] = fmaf(x[c], a, b);
    }
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < FP32_CHAINS; c++)
        s += x[c];
    if (s == 12345.678f) /* practically never: keeps the chains live without a store per thread */
        out[0] = s;
}

namespace {

int cmp_float(const void *p, const void *q)
{
    const float x = *(const float *)p, y = *(const float *)q;
    return (x > y) - (x < y);
}

} // namespace

// launchers

extern "C" sso_status sso_k_peak_copy_gbps(size_t bytes, int reps, double *gbps)
{
    sso_status st = SSO_OK;
    void *p = NULL, *src = NULL, *dst = NULL;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    cudaStream_t s;
    float t[PEAK_MAX_REPS];
    if (!gbps || bytes == 0 || reps < 1 || reps > PEAK_MAX_REPS)
        return sso_fail(SSO_ERR_ARG, "peak copy: bad arguments");
    *gbps = 0.0;
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    CUDA_TRY(cudaMalloc(&src, bytes));
    CUDA_TRY(cudaMalloc(&dst, bytes));
    CUDA_TRY(cudaMemsetAsync(src, 0x5a, bytes, s));
    CUDA_TRY(cudaEventCreate(&e0));
    CUDA_TRY(cudaEventCreate(&e1));
    for (int r = -2; r < reps; r++) {
        float ms = 0.0f;
        CUDA_TRY(cudaEventRecord(e0, s));
        CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
        CUDA_TRY(cudaEventRecord(e1, s));
        CUDA_TRY(cudaEventSynchronize(e1));
        CUDA_TRY(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0)
            t[r] = ms;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_float);
    if (!(t[reps / 2] > 0.0f)) {
        st = sso_fail(SSO_ERR_CUDA, "peak copy: zero time");
        goto exit;
    }
    *gbps = 2.0 * (double)bytes / (1e-3 * (double)t[reps / 2]) / 1e9;
exit:
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(src);
    cudaFree(dst);
    return st;
}

extern "C" sso_status sso_k_peak_fp32_gflops(int iters, int reps, double *gflops)
{
    sso_status st = SSO_OK;
    void *p = NULL;
    float *d_out = NULL;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    cudaStream_t s;
    int dev = 0, n_sm = 0;
    float t[PEAK_MAX_REPS];
    if (!gflops || iters < 0 || reps < 1 || reps > PEAK_MAX_REPS)
        return sso_fail(SSO_ERR_ARG, "peak fp32: bad arguments");
    *gflops = 0.0;
    if (iters == 0)
        iters = 32768;
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    CUDA_TRY(cudaMalloc((void **)&d_out, sizeof(float)));
    CUDA_TRY(cudaEventCreate(&e0));
    CUDA_TRY(cudaEventCreate(&e1));
    {
        const unsigned int blocks = 8u * (unsigned int)n_sm;
        const double flops = 2.0 * FP32_CHAINS * (double)iters * blocks * FP32_THREADS;
        for (int r = -1; r < reps; r++) {
            float ms = 0.0f;
            CUDA_TRY(cudaEventRecord(e0, s));
            peak_fma<<<blocks, FP32_THREADS, 0, s>>>(0.999f, 0.001f, iters, d_out);
            CUDA_TRY(cudaGetLastError());
            CUDA_TRY(cudaEventRecord(e1, s));
            CUDA_TRY(cudaEventSynchronize(e1));
            CUDA_TRY(cudaEventElapsedTime(&ms, e0, e1));
            if (r >= 0)
                t[r] = ms;
        }
        qsort(t, (size_t)reps, sizeof t[0], cmp_float);
        if (!(t[reps / 2] > 0.0f)) {
            st = sso_fail(SSO_ERR_CUDA, "peak fp32: zero time");
            goto exit;
        }
        *gflops = flops / (1e-3 * (double)t[reps / 2]) / 1e9;
    }
exit:
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(d_out);
    return st;
}
