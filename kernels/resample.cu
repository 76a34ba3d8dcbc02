/* kernels/resample.cu: a detector onto a sky patch on the GPU (twin of host/resample.c).
 *
 * One thread per patch pixel of a box: the box is the bounding box of the coarse-grid cells that
 * touch the detector (sso_grid_cell_touches(), decided on the host from the grid, the same test
 * the CPU applies cell by cell). Each thread re-applies that test to its own cell, maps itself
 * through sso_grid_map(), and when it lands on the detector's pixel area gathers the 6 x 6
 * Lanczos-3 taps with sso_resample_pixel(): the per-pixel arithmetic of host/resample_math.h,
 * shared with the CPU. Threads are laid out 32 x 8 with x fastest, so a warp writes one run of
 * 32 consecutive patch pixels and gathers from ~32 consecutive detector columns (coalesced).
 *
 * Transfers: the grid (2 doubles per node) once per call, i.e. once per detector and patch; of
 * the detector only the rows the box's cells can reach (their corners' y range plus the kernel's
 * 3-row reach and 1 row for rounding), copied into their own place of a full-size device plane
 * (so the shared math indexes them unchanged; other rows are never read); of the patch the box
 * only, both ways (2-D copies), because pixels outside the detector must keep their values.
 * All through the calling thread's engine buffers and stream (kernels/engine.cu).
 */
#include <math.h>
#include <string.h>

#include "kernels/k_pixel.cuh"

extern "C" {
#include "host/resample_math.h"
}

#define RS_BX 32
#define RS_BY 8

// CUDA kernels

__global__ void resample_kernel(const double *__restrict__ gx, const double *__restrict__ gy,
                                int gnx, int gny, int step, int i0, int j0, int bw, int bh,
                                const float *__restrict__ img, const float *__restrict__ var,
                                const uint8_t *__restrict__ mask, int det_w, int det_h,
                                float wmin, float *__restrict__ out_img,
                                float *__restrict__ out_var, uint8_t *__restrict__ out_mask,
                                unsigned long long *__restrict__ n_written)
{
    const int bi = blockIdx.x * RS_BX + threadIdx.x, bj = blockIdx.y * RS_BY + threadIdx.y;
    int wrote = 0;
    if (bi < bw && bj < bh) {
        const int i = i0 + bi, j = j0 + bj; /* 0-based patch pixel */
        if (sso_grid_cell_touches(gx, gy, gnx, i / step, j / step, det_w, det_h)) {
            double xd, yd, jac;
            sso_grid_map(gx, gy, gnx, gny, step, i, j, &xd, &yd, &jac);
            if (xd >= 0.5 && xd < det_w + 0.5 && yd >= 0.5 && yd < det_h + 0.5) {
                const size_t k = (size_t)bj * bw + bi;
                float oi, ov;
                out_mask[k] = sso_resample_pixel(img, var, mask, det_w, det_h, xd, yd, jac, wmin,
                                                 &oi, &ov);
                out_img[k] = oi;
                out_var[k] = ov;
                wrote = 1;
            }
        }
    }
    const int n = __syncthreads_count(wrote);
    if (threadIdx.x == 0 && threadIdx.y == 0 && n)
        atomicAdd(n_written, (unsigned long long)n);
}

// kernel launchers

namespace {

/* The box of touching cells (cells a0..a1, b0..b1) and the detector y range their corners span. */
struct rs_box {
    int a0, a1, b0, b1;
    double ymin, ymax;
};

bool find_box(const sso_k_resample_grid *g, rs_box *box)
{
    bool any = false;
    box->a0 = box->b0 = 1 << 30;
    box->a1 = box->b1 = -1;
    box->ymin = INFINITY, box->ymax = -INFINITY;
    for (int b = 0; b < g->gny - 1; b++)
        for (int a = 0; a < g->gnx - 1; a++) {
            if (!sso_grid_cell_touches(g->gx, g->gy, g->gnx, a, b, g->det_w, g->det_h))
                continue;
            any = true;
            box->a0 = a < box->a0 ? a : box->a0;
            box->a1 = a > box->a1 ? a : box->a1;
            box->b0 = b < box->b0 ? b : box->b0;
            box->b1 = b > box->b1 ? b : box->b1;
            const size_t k = (size_t)b * g->gnx + a;
            const size_t ks[4] = {k, k + 1, k + g->gnx, k + g->gnx + 1};
            for (int q = 0; q < 4; q++) {
                box->ymin = fmin(box->ymin, g->gy[ks[q]]);
                box->ymax = fmax(box->ymax, g->gy[ks[q]]);
            }
        }
    return any;
}

} // namespace

extern "C" sso_status sso_k_resample(const sso_k_resample_grid *g, const float *img_e,
                                     const float *var_e2, const uint8_t *mask,
                                     float mask_weight_min, float *out_img_e, float *out_var_e2,
                                     uint8_t *out_mask, int64_t *n_written, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_GRID, S_IMG, S_VAR, S_MASK, S_OIMG, S_OVAR, S_OMASK, S_COUNT };
    void *p = NULL;
    cudaStream_t s;
    k_timer timer;
    rs_box box;
    unsigned long long count = 0;
    if (!g || !g->gx || !g->gy || !img_e || !var_e2 || !mask || !out_img_e || !out_var_e2 ||
        !out_mask || g->step < 1 || g->gnx < 2 || g->gny < 2 || g->det_w < 1 || g->det_h < 1)
        return sso_fail(SSO_ERR_ARG, "resample (cuda): bad grid or NULL plane");
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    if (!find_box(g, &box)) {
        if (n_written)
            *n_written = 0;
        if (tr)
            tr->bytes = 0, tr->kernel_ms = 0.0;
        return SSO_OK;
    }
    {
        const int S = g->step, W = g->det_w, H = g->det_h, PW = g->patch_w;
        const int i0 = box.a0 * S, i1 = (box.a1 + 1) * S < g->patch_w ? (box.a1 + 1) * S : g->patch_w;
        const int j0 = box.b0 * S, j1 = (box.b1 + 1) * S < g->patch_h ? (box.b1 + 1) * S : g->patch_h;
        const int bw = i1 - i0, bh = j1 - j0;
        /* 0-based rows the taps of the box can reach: iy = floor(yd - 1), taps iy - 2 .. iy + 3,
         * plus one row each way for a bilinear value rounding past its corners' range. */
        long long r0 = (long long)floor(box.ymin - 1.0) - 3, r1 = (long long)floor(box.ymax - 1.0) + 4;
        r0 = r0 < 0 ? 0 : r0;
        r1 = r1 > H - 1 ? H - 1 : r1;
        const size_t ng = (size_t)g->gnx * g->gny, npx = (size_t)W * H, nb = (size_t)bw * bh;
        double *d_gx, *d_gy;
        float *d_img, *d_var, *d_oimg, *d_ovar;
        uint8_t *d_mask, *d_omask;
        unsigned long long *d_count, *h_count;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_GRID, 2 * ng * sizeof(double), &p));
        d_gx = (double *)p;
        d_gy = d_gx + ng;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_IMG, npx * sizeof(float), &p));
        d_img = (float *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_VAR, npx * sizeof(float), &p));
        d_var = (float *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_MASK, npx, &p));
        d_mask = (uint8_t *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_OIMG, nb * sizeof(float), &p));
        d_oimg = (float *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_OVAR, nb * sizeof(float), &p));
        d_ovar = (float *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_OMASK, nb, &p));
        d_omask = (uint8_t *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_RESAMPLE + S_COUNT, sizeof(unsigned long long), &p));
        d_count = (unsigned long long *)p;
        SSO_TRY(sso_k_pinned(SSO_K_SLOT_RESAMPLE + S_COUNT, sizeof(unsigned long long), &p));
        h_count = (unsigned long long *)p;

        CUDA_TRY(cudaMemcpyAsync(d_gx, g->gx, ng * sizeof(double), cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpyAsync(d_gy, g->gy, ng * sizeof(double), cudaMemcpyHostToDevice, s));
        if (r1 >= r0) {
            const size_t off = (size_t)r0 * W, rows = (size_t)(r1 - r0 + 1) * W;
            CUDA_TRY(cudaMemcpyAsync(d_img + off, img_e + off, rows * sizeof(float),
                                     cudaMemcpyHostToDevice, s));
            CUDA_TRY(cudaMemcpyAsync(d_var + off, var_e2 + off, rows * sizeof(float),
                                     cudaMemcpyHostToDevice, s));
            CUDA_TRY(cudaMemcpyAsync(d_mask + off, mask + off, rows, cudaMemcpyHostToDevice, s));
        }
        const size_t o = (size_t)j0 * PW + i0;
        CUDA_TRY(cudaMemcpy2DAsync(d_oimg, bw * sizeof(float), out_img_e + o, PW * sizeof(float),
                                   bw * sizeof(float), bh, cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpy2DAsync(d_ovar, bw * sizeof(float), out_var_e2 + o, PW * sizeof(float),
                                   bw * sizeof(float), bh, cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpy2DAsync(d_omask, bw, out_mask + o, PW, bw, bh, cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemsetAsync(d_count, 0, sizeof(unsigned long long), s));

        SSO_TRY(k_timer_start(timer, tr != NULL, s));
        const dim3 block(RS_BX, RS_BY), grid(SSO_CEIL_DIV(bw, RS_BX), SSO_CEIL_DIV(bh, RS_BY));
        resample_kernel<<<grid, block, 0, s>>>(d_gx, d_gy, g->gnx, g->gny, S, i0, j0, bw, bh, d_img,
                                               d_var, d_mask, W, H, mask_weight_min, d_oimg,
                                               d_ovar, d_omask, d_count);
        CUDA_TRY(cudaGetLastError());
        SSO_TRY(k_timer_stop(timer, s));

        CUDA_TRY(cudaMemcpy2DAsync(out_img_e + o, PW * sizeof(float), d_oimg, bw * sizeof(float),
                                   bw * sizeof(float), bh, cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpy2DAsync(out_var_e2 + o, PW * sizeof(float), d_ovar, bw * sizeof(float),
                                   bw * sizeof(float), bh, cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpy2DAsync(out_mask + o, PW, d_omask, bw, bw, bh, cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpyAsync(h_count, d_count, sizeof *h_count, cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaStreamSynchronize(s));
        count = *h_count;
        if (n_written)
            *n_written = (int64_t)count;
        SSO_TRY(k_timer_report(timer, sso_resample_bytes_moved((int64_t)count, g->gnx, g->gny), tr));
    }
exit:
    return st;
}
