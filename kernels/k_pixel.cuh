/* kernels/k_pixel.cuh: what the pixel-stage kernels share (background.cu, cosmic.cu, resample.cu,
 * difference.cu): block-wide reductions and the optional kernel timer behind sso_k_traffic.
 *
 * Reductions: each thread holds one partial; the block combines them warp by warp with shuffles,
 * then the warps' results in one warp, in a fixed order, so a reduction of doubles gives the same
 * bits on every run (no atomics on floating point). The result is broadcast to every thread: all
 * threads of the block must call, with blockDim.x a multiple of 32 (at most 1024).
 *
 * k_timer: a pair of cudaEvents around a launcher's kernels, created only when the caller asked
 * for traffic figures (a benchmark), so ordinary calls pay nothing.
 */
#ifndef SSO_K_PIXEL_CUH
#define SSO_K_PIXEL_CUH

#include "kernels/k_common.cuh"

struct k_sum_op {
    template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct k_min_op {
    __device__ float operator()(float a, float b) const { return fminf(a, b); }
};

/* sh: 33 elements of shared memory of type T, private to this call site or reused only after
 * the call returns (the function synchronises before it writes them). */
template <typename T, typename Op> __device__ T k_block_reduce(T v, Op op, T *sh, T identity)
{
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    __syncthreads(); /* an earlier call may still read sh */
    if (lane == 0)
        sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        T r = lane < (blockDim.x >> 5) ? sh[lane] : identity;
        for (int o = 16; o > 0; o >>= 1)
            r = op(r, __shfl_down_sync(0xffffffffu, r, o));
        if (lane == 0)
            sh[32] = r;
    }
    __syncthreads();
    return sh[32];
}

/* Kernel time of a launcher, measured only when `on` (the caller passed an sso_k_traffic). */
struct k_timer {
    bool on = false;
    cudaEvent_t a = nullptr, b = nullptr;
    ~k_timer()
    {
        if (a)
            cudaEventDestroy(a);
        if (b)
            cudaEventDestroy(b);
    }
};

static inline sso_status k_timer_start(k_timer &t, bool on, cudaStream_t s)
{
    sso_status st = SSO_OK;
    t.on = on;
    if (!on)
        return SSO_OK;
    CUDA_TRY(cudaEventCreate(&t.a));
    CUDA_TRY(cudaEventCreate(&t.b));
    CUDA_TRY(cudaEventRecord(t.a, s));
exit:
    return st;
}

static inline sso_status k_timer_stop(k_timer &t, cudaStream_t s)
{
    sso_status st = SSO_OK;
    if (t.on)
        CUDA_TRY(cudaEventRecord(t.b, s));
exit:
    return st;
}

/* After the stream has been synchronised. */
static inline sso_status k_timer_report(k_timer &t, uint64_t bytes, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    float ms = 0.0f;
    if (!tr)
        return SSO_OK;
    if (t.on)
        CUDA_TRY(cudaEventElapsedTime(&ms, t.a, t.b));
    tr->bytes = bytes;
    tr->kernel_ms = ms;
exit:
    return st;
}

#endif
