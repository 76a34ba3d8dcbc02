/* kernels/difference.cu: static-sky removal of one patch on the GPU (twin of host/difference.c).
 *
 * With the static-sky gate on (config gate_kernel), first, one thread per pixel each:
 *   0. gate_terms      sso_diff_gate_terms() into two float planes; gate_filter:
 *                      sso_diff_gate_static() into a byte plane (the kernel weights in constant
 *                      memory); gate_rows / gate_cols: its growth by gate_grow_px, the same
 *                      separable Chebyshev dilation as the CPU's. This file is built with
 *                      -fmad=false (CMakeLists.txt), so the gate's double sums round as on the CPU
 *                      and the two decide alike.
 * Then three kernels, one thread per pixel each:
 *   1. diff_kernel     reads the 4 epochs of a pixel once and applies sso_diff_pixel()
 *                      (host/difference_math.h, shared with the CPU) for every epoch: difference,
 *                      variance and the mask code (kept in the output mask plane for now),
 *                      subtracting the template where the gate plane says static (everywhere
 *                      without the gate);
 *   2. grow_rows       (only with the bright rule on and bright_grow_px > 0) a byte plane per
 *                      epoch: is there a SSO_DIFF_BRIGHT code within r px along the row;
 *   3. finish_kernel   the column half of the growth (an OK pixel with a marked pixel within r px
 *                      along its column becomes BRIGHT: together a Chebyshev-r dilation, as the
 *                      CPU's separable max filter), the counts, and every code but OK turned into
 *                      mask 1, diff 0, var +inf.
 * Growth reads only the codes of pass 1 (row pass) and the row plane (column pass), never what it
 * writes, so the result does not depend on thread order; the counts are integer atomics (one per
 * block, from __syncthreads_count). Planes of the 4 epochs sit back to back in one device buffer
 * per quantity; epoch = blockIdx.y in passes 2 and 3.
 */
#include <math.h>

#include "kernels/k_pixel.cuh"

extern "C" {
#include "host/difference_math.h"
}

#define DF_THREADS 256
#define GATE_K_MAX ((2 * SSO_DIFF_GATE_MAX_HALF + 1) * (2 * SSO_DIFF_GATE_MAX_HALF + 1))

__constant__ float c_gate_k[GATE_K_MAX];

// CUDA kernels

/* Pixel i of the 4 epochs' planes (back to back, n pixels each). */
__device__ __forceinline__ void load_epochs(size_t n, size_t i, const float *__restrict__ img,
                                            const float *__restrict__ var, const uint8_t *__restrict__ mask,
                                            float im[SSO_DIFF_EPOCHS], float va[SSO_DIFF_EPOCHS],
                                            uint8_t ma[SSO_DIFF_EPOCHS])
{
#pragma unroll
    for (int e = 0; e < SSO_DIFF_EPOCHS; e++) {
        im[e] = img[e * n + i];
        va[e] = var[e * n + i];
        ma[e] = mask[e * n + i];
    }
}

__global__ void gate_terms(size_t n, const float *__restrict__ img, const float *__restrict__ var,
                           const uint8_t *__restrict__ mask, float *__restrict__ num,
                           float *__restrict__ den)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float im[SSO_DIFF_EPOCHS], va[SSO_DIFF_EPOCHS];
    uint8_t ma[SSO_DIFF_EPOCHS];
    load_epochs(n, i, img, var, mask, im, va, ma);
    sso_diff_gate_terms(im, va, ma, &num[i], &den[i]);
}

__global__ void gate_filter(int w, int h, int half, float snr_min, const float *__restrict__ num,
                            const float *__restrict__ den, uint8_t *__restrict__ gate)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
    gate[i] = (uint8_t)sso_diff_gate_static(num, den, w, h, x, y, c_gate_k, half, snr_min);
}

/* The gate's growth: rows of src into dst, then (gate_cols) columns of dst back into src. */
__global__ void gate_rows(int w, int h, int r, const uint8_t *__restrict__ src, uint8_t *__restrict__ dst)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const int x = (int)(i % (size_t)w);
    const size_t row = i - (size_t)x;
    uint8_t b = 0;
    for (int xx = x - r > 0 ? x - r : 0; xx <= x + r && xx < w && !b; xx++)
        b = src[row + xx];
    dst[i] = b;
}

__global__ void gate_cols(int w, int h, int r, const uint8_t *__restrict__ rows, uint8_t *__restrict__ gate,
                          unsigned long long *__restrict__ count)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    uint8_t b = 0;
    if (i < n) {
        const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        for (int yy = y - r > 0 ? y - r : 0; yy <= y + r && yy < h && !b; yy++)
            b = rows[(size_t)yy * w + x];
        gate[i] = b;
    }
    const int nb = __syncthreads_count(b);
    if (threadIdx.x == 0 && nb)
        atomicAdd(count, (unsigned long long)nb);
}

__global__ void diff_kernel(size_t n, const float *__restrict__ img, const float *__restrict__ var,
                            const uint8_t *__restrict__ mask, int min_n, float bright_k,
                            const uint8_t *__restrict__ gate, float *__restrict__ diff,
                            float *__restrict__ dvar, uint8_t *__restrict__ code)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float im[SSO_DIFF_EPOCHS], va[SSO_DIFF_EPOCHS];
    uint8_t ma[SSO_DIFF_EPOCHS];
    load_epochs(n, i, img, var, mask, im, va, ma);
#pragma unroll
    for (int e = 0; e < SSO_DIFF_EPOCHS; e++) {
        float d, dv;
        code[e * n + i] = (uint8_t)sso_diff_pixel(e, im, va, ma, min_n, bright_k, gate ? gate[i] : 1,
                                                  &d, &dv);
        diff[e * n + i] = d;
        dvar[e * n + i] = dv;
    }
}

__global__ void grow_rows(int w, int h, int r, const uint8_t *__restrict__ code,
                          uint8_t *__restrict__ rowmark)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const uint8_t *c = code + blockIdx.y * n;
    const int x = (int)(i % (size_t)w);
    const size_t row = i - (size_t)x;
    uint8_t b = 0;
    for (int dx = -r; dx <= r && !b; dx++) {
        const int xx = x + dx;
        b = xx >= 0 && xx < w && c[row + xx] == SSO_DIFF_BRIGHT;
    }
    rowmark[blockIdx.y * n + i] = b;
}

__global__ void finish_kernel(int w, int h, int r, int grow, uint8_t *__restrict__ code,
                              const uint8_t *__restrict__ rowmark, float *__restrict__ diff,
                              float *__restrict__ dvar, unsigned long long *__restrict__ counts)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    int bright = 0, notemplate = 0;
    if (i < n) {
        const size_t k = blockIdx.y * n + i;
        int c = code[k];
        if (grow && c == SSO_DIFF_OK) {
            const int y = (int)(i / (size_t)w), x = (int)(i % (size_t)w);
            const uint8_t *rm = rowmark + blockIdx.y * n;
            for (int dy = -r; dy <= r; dy++) {
                const int yy = y + dy;
                if (yy >= 0 && yy < h && rm[(size_t)yy * w + x]) {
                    c = SSO_DIFF_BRIGHT;
                    break;
                }
            }
        }
        bright = c == SSO_DIFF_BRIGHT;
        notemplate = c == SSO_DIFF_NO_TEMPLATE;
        if (c != SSO_DIFF_OK) {
            diff[k] = 0.0f;
            dvar[k] = INFINITY;
        }
        code[k] = c != SSO_DIFF_OK;
    }
    const int nb = __syncthreads_count(bright), nt = __syncthreads_count(notemplate);
    if (threadIdx.x == 0) {
        if (nt)
            atomicAdd(&counts[0], (unsigned long long)nt);
        if (nb)
            atomicAdd(&counts[1], (unsigned long long)nb);
    }
}

// kernel launchers

extern "C" sso_status sso_k_difference(int w, int h, const float *const img_e[SSO_DIFF_EPOCHS],
                                       const float *const var_e2[SSO_DIFF_EPOCHS],
                                       const uint8_t *const mask[SSO_DIFF_EPOCHS],
                                       const sso_difference_config *c,
                                       float *const diff_e[SSO_DIFF_EPOCHS],
                                       float *const dvar_e2[SSO_DIFF_EPOCHS],
                                       uint8_t *const dmask[SSO_DIFF_EPOCHS],
                                       sso_difference_stats *stats, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_IMG, S_VAR, S_MASK, S_DIFF, S_DVAR, S_CODE, S_ROW, S_COUNT };
    enum { G_NUM, G_DEN, G_GATE, G_TMP, G_COUNT };
    void *p = NULL;
    cudaStream_t s;
    k_timer timer;
    const size_t n = (size_t)w * h;
    const int E = SSO_DIFF_EPOCHS;
    const int grow = c && c->bright_k > 0.0f && c->bright_grow_px > 0;
    float *d_img, *d_var, *d_diff, *d_dvar;
    uint8_t *d_mask, *d_code, *d_row = NULL, *d_gate = NULL, *d_gtmp = NULL;
    float *d_num = NULL, *d_den = NULL;
    unsigned long long *d_count, *h_count, *d_gcount = NULL, *h_gcount = NULL;
    const int gated = c && c->gate_kernel;
    if (w < 1 || h < 1 || !c || !img_e || !var_e2 || !mask || !diff_e || !dvar_e2 || !dmask)
        return sso_fail(SSO_ERR_ARG, "difference (cuda): %d x %d patch or NULL planes", w, h);
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_IMG, E * n * sizeof(float), &p));
    d_img = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_VAR, E * n * sizeof(float), &p));
    d_var = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_MASK, E * n, &p));
    d_mask = (uint8_t *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_DIFF, E * n * sizeof(float), &p));
    d_diff = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_DVAR, E * n * sizeof(float), &p));
    d_dvar = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_CODE, E * n, &p));
    d_code = (uint8_t *)p;
    if (grow) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_ROW, E * n, &p));
        d_row = (uint8_t *)p;
    }
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_DIFFERENCE + S_COUNT, 2 * sizeof(unsigned long long), &p));
    d_count = (unsigned long long *)p;
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_DIFFERENCE + S_COUNT, 2 * sizeof(unsigned long long), &p));
    h_count = (unsigned long long *)p;
    if (gated) {
        if (c->gate_half < 0 || c->gate_half > SSO_DIFF_GATE_MAX_HALF)
            return sso_fail(SSO_ERR_ARG, "difference (cuda): gate half size %d", c->gate_half);
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_GATE + G_NUM, n * sizeof(float), &p));
        d_num = (float *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_GATE + G_DEN, n * sizeof(float), &p));
        d_den = (float *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_GATE + G_GATE, n, &p));
        d_gate = (uint8_t *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_GATE + G_TMP, n, &p));
        d_gtmp = (uint8_t *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_GATE + G_COUNT, sizeof(unsigned long long), &p));
        d_gcount = (unsigned long long *)p;
        SSO_TRY(sso_k_pinned(SSO_K_SLOT_GATE + G_COUNT, sizeof(unsigned long long), &p));
        h_gcount = (unsigned long long *)p;
        const int nk = (2 * c->gate_half + 1) * (2 * c->gate_half + 1);
        CUDA_TRY(cudaMemcpyToSymbolAsync(c_gate_k, c->gate_kernel, nk * sizeof(float), 0,
                                         cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemsetAsync(d_gcount, 0, sizeof(unsigned long long), s));
    }

    for (int e = 0; e < E; e++) {
        if (!img_e[e] || !var_e2[e] || !mask[e] || !diff_e[e] || !dvar_e2[e] || !dmask[e]) {
            st = sso_fail(SSO_ERR_ARG, "difference (cuda): NULL plane for epoch %d", e);
            goto exit;
        }
        CUDA_TRY(cudaMemcpyAsync(d_img + e * n, img_e[e], n * sizeof(float), cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpyAsync(d_var + e * n, var_e2[e], n * sizeof(float), cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpyAsync(d_mask + e * n, mask[e], n, cudaMemcpyHostToDevice, s));
    }
    CUDA_TRY(cudaMemsetAsync(d_count, 0, 2 * sizeof(unsigned long long), s));
    SSO_TRY(k_timer_start(timer, tr != NULL, s));
    {
        const unsigned int blocks = (unsigned int)SSO_CEIL_DIV(n, (size_t)DF_THREADS);
        const dim3 grid_e(blocks, E);
        if (gated) {
            gate_terms<<<blocks, DF_THREADS, 0, s>>>(n, d_img, d_var, d_mask, d_num, d_den);
            CUDA_TRY(cudaGetLastError());
            gate_filter<<<blocks, DF_THREADS, 0, s>>>(w, h, c->gate_half, c->gate_snr, d_num, d_den, d_gate);
            CUDA_TRY(cudaGetLastError());
            gate_rows<<<blocks, DF_THREADS, 0, s>>>(w, h, c->gate_grow_px, d_gate, d_gtmp);
            CUDA_TRY(cudaGetLastError());
            gate_cols<<<blocks, DF_THREADS, 0, s>>>(w, h, c->gate_grow_px, d_gtmp, d_gate, d_gcount);
            CUDA_TRY(cudaGetLastError());
        }
        diff_kernel<<<blocks, DF_THREADS, 0, s>>>(n, d_img, d_var, d_mask, c->min_template_epochs,
                                                   c->bright_k, d_gate, d_diff, d_dvar, d_code);
        CUDA_TRY(cudaGetLastError());
        if (grow) {
            grow_rows<<<grid_e, DF_THREADS, 0, s>>>(w, h, c->bright_grow_px, d_code, d_row);
            CUDA_TRY(cudaGetLastError());
        }
        finish_kernel<<<grid_e, DF_THREADS, 0, s>>>(w, h, c->bright_grow_px, grow, d_code, d_row,
                                                     d_diff, d_dvar, d_count);
        CUDA_TRY(cudaGetLastError());
    }
    SSO_TRY(k_timer_stop(timer, s));
    for (int e = 0; e < E; e++) {
        CUDA_TRY(cudaMemcpyAsync(diff_e[e], d_diff + e * n, n * sizeof(float), cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpyAsync(dvar_e2[e], d_dvar + e * n, n * sizeof(float), cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpyAsync(dmask[e], d_code + e * n, n, cudaMemcpyDeviceToHost, s));
    }
    CUDA_TRY(cudaMemcpyAsync(h_count, d_count, 2 * sizeof(unsigned long long), cudaMemcpyDeviceToHost, s));
    if (gated)
        CUDA_TRY(cudaMemcpyAsync(h_gcount, d_gcount, sizeof(unsigned long long), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    if (stats) {
        stats->n_no_template = (int64_t)h_count[0];
        stats->n_bright = (int64_t)h_count[1];
        stats->n_static = gated ? (int64_t)*h_gcount : 0;
    }
    SSO_TRY(k_timer_report(timer, sso_difference_bytes_moved(n, grow, gated), tr));
exit:
    return st;
}
