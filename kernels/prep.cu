/* kernels/prep.cu: pixel preparation on the GPU (twin of host/prep.c).
 *
 * One thread per pixel applies sso_prep_pixel() (host/prep_math.h, shared with the CPU). Each block
 * reduces its statistics (counts, sum, sum of squares, min, max) in shared memory and writes one
 * partial per block; the host adds the partials in double, in block order, so the result does not
 * depend on scheduling. Inputs and outputs go through the engine's grow-only pinned and device
 * buffers (kernels/engine.cu) on the calling thread's stream: no allocation after the first call
 * of a given size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k_pixel.cuh"

extern "C" {
#include "host/prep_math.h"
}

#define PREP_THREADS 256

struct prep_partial {
    unsigned long long n_masked, n_nonfinite;
    double sum, sumsq;
    float mn, mx;
};

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

extern "C" sso_status sso_k_prep(const float *sci_adu, const float *rms_adu, const int32_t *flg,
                                 size_t n, float gain_e_per_adu, uint32_t mask_bits, float *img_e,
                                 float *var_e2, uint8_t *mask, sso_prep_stats *stats)
{
    return sso_k_prep_tr(sci_adu, rms_adu, flg, n, gain_e_per_adu, mask_bits, img_e, var_e2, mask,
                         stats, NULL);
}

/* The same, with the kernel's time and compulsory bytes (sso_prep_bytes_moved) when tr is given. */
extern "C" sso_status sso_k_prep_tr(const float *sci_adu, const float *rms_adu, const int32_t *flg,
                                    size_t n, float gain_e_per_adu, uint32_t mask_bits,
                                    float *img_e, float *var_e2, uint8_t *mask,
                                    sso_prep_stats *stats, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    k_timer timer;
    enum { S_SCI, S_RMS, S_FLG, S_IMG, S_VAR, S_MASK, S_PART, S_HPART };
    void *p = NULL;
    float *d_sci, *d_rms = NULL, *d_img, *d_var;
    int32_t *d_flg = NULL;
    uint8_t *d_mask;
    prep_partial *d_part, *h_part = NULL;
    cudaStream_t s;
    const unsigned int blocks = (unsigned int)SSO_CEIL_DIV(n, (size_t)PREP_THREADS);

    if (n == 0)
        return sso_fail(SSO_ERR_ARG, "prep: empty image");
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_SCI, n * sizeof(float), &p));
    d_sci = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_IMG, n * sizeof(float), &p));
    d_img = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_VAR, n * sizeof(float), &p));
    d_var = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_MASK, n, &p));
    d_mask = (uint8_t *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_PART, blocks * sizeof(prep_partial), &p));
    d_part = (prep_partial *)p;
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_PREP + S_HPART, blocks * sizeof(prep_partial), &p));
    h_part = (prep_partial *)p;
    /* Pageable host arrays: cudaMemcpyAsync stages them itself; the caller's arrays are not
     * copied into pinned memory first because each byte crosses once. */
    CUDA_TRY(cudaMemcpyAsync(d_sci, sci_adu, n * sizeof(float), cudaMemcpyHostToDevice, s));
    if (rms_adu) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_RMS, n * sizeof(float), &p));
        d_rms = (float *)p;
        CUDA_TRY(cudaMemcpyAsync(d_rms, rms_adu, n * sizeof(float), cudaMemcpyHostToDevice, s));
    }
    if (flg) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_PREP + S_FLG, n * sizeof(int32_t), &p));
        d_flg = (int32_t *)p;
        CUDA_TRY(cudaMemcpyAsync(d_flg, flg, n * sizeof(int32_t), cudaMemcpyHostToDevice, s));
    }
    SSO_TRY(k_timer_start(timer, tr != NULL, s));
    prep_kernel<<<blocks, PREP_THREADS, 0, s>>>(d_sci, d_rms, d_flg, n, gain_e_per_adu, mask_bits,
                                                d_img, d_var, d_mask, d_part);
    CUDA_TRY(cudaGetLastError());
    SSO_TRY(k_timer_stop(timer, s));
    CUDA_TRY(cudaMemcpyAsync(img_e, d_img, n * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaMemcpyAsync(var_e2, d_var, n * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaMemcpyAsync(mask, d_mask, n, cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaMemcpyAsync(h_part, d_part, blocks * sizeof(prep_partial), cudaMemcpyDeviceToHost,
                             s));
    CUDA_TRY(cudaStreamSynchronize(s));
    if (stats) {
        sso_prep_stats ps;
        memset(&ps, 0, sizeof ps);
        double mn = INFINITY, mx = -INFINITY;
        for (unsigned int b = 0; b < blocks; b++) {
            ps.n_masked += (int64_t)h_part[b].n_masked;
            ps.n_nonfinite += (int64_t)h_part[b].n_nonfinite;
            ps.sum_e += h_part[b].sum;
            ps.sumsq_e += h_part[b].sumsq;
            mn = fmin(mn, (double)h_part[b].mn);
            mx = fmax(mx, (double)h_part[b].mx);
        }
        ps.n_pixels = (int64_t)n;
        ps.min_e = ps.n_masked == (int64_t)n ? NAN : mn;
        ps.max_e = ps.n_masked == (int64_t)n ? NAN : mx;
        *stats = ps;
    }
    SSO_TRY(k_timer_report(timer,
                           sso_prep_bytes_moved(n, rms_adu != NULL, flg != NULL, blocks,
                                                sizeof(prep_partial)),
                           tr));
exit:
    return st;
}
