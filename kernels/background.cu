/* kernels/background.cu: the two pixel-heavy steps of background estimation on the GPU (twins of
 * the CPU steps in host/background.c; contract in include/sso/background.h).
 *
 * cells_kernel: one block per mesh cell computes its clipped statistic. The CPU selects medians in
 * place on a compacted copy of the cell; here the cell stays where it is in device memory and is
 * re-read from cache by each pass (a 128 px cell is 64 KB of floats). The kept set of the clipping
 * iteration is always "usable pixels with L <= v <= H" (each iteration intersects the previous
 * interval with median +- k sd), so the block only carries [L, H]. Per iteration:
 *   median   exact: a radix selection of the k-th smallest over order-preserving 32-bit keys of
 *            the floats (4 passes of 8 bits, a 256-bin shared histogram each), and for even n
 *            the next value from one counting pass (count of v <= a, min of v > a);
 *   mean, sd double sums, each thread in its own order, combined by a fixed-order block reduction
 *            (deterministic; the CPU sums in selection order: the two agree to ~1e-16 relative);
 *   clip     the count of the kept values under the new interval decides, as on the CPU, whether
 *            to stop (nothing dropped, or everything) or continue.
 * Which cells are usable, the clip interval and the final mode/rms come from
 * host/background_math.h (sso_bkg_cell_usable, sso_bkg_clip_range, sso_bkg_cell_result), the
 * same helpers the CPU's sso_bkg_cell_stat() calls. Cell bounds are computed on the host
 * (sso_bkg_cell_lo) and passed in, so both backends cut the image identically whatever the
 * compiler contracts.
 *
 * eval_kernel: one thread per pixel evaluates the mesh with sso_bkg_eval_bicubic() or
 * sso_bkg_eval_bilinear(), the per-pixel form of the CPU's row-wise evaluation (same arithmetic in
 * the same order; nvcc may contract a*b+c into FMAs, so results agree to a few ulp, not bits).
 * Consecutive threads write consecutive pixels (coalesced 4-byte stores); the mesh (a few KB per
 * plane) is read through the cache.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k_pixel.cuh"

extern "C" {
#include "host/background_math.h"
}

#define BK_THREADS 256
#define BK_EVAL_THREADS 256

// CUDA kernels

/* Order-preserving map of finite floats to unsigned keys (negative: all bits flipped; positive:
 * the sign bit set), and back. -0 sorts just below +0; they compare equal as values, and every
 * test below compares values, so that order never changes a result. */
__device__ __forceinline__ unsigned int bk_key(float v)
{
    const unsigned int u = __float_as_uint(v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float bk_unkey(unsigned int k)
{
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

struct bk_cell {
    const float *img;
    const uint8_t *mask;
    int w, x0, y0, cw, npx;
    /* Calls f(v) for every usable pixel v of the cell with L <= v <= H (this thread's share). */
    template <typename F> __device__ void each(double L, double H, F f) const
    {
        for (int t = threadIdx.x; t < npx; t += blockDim.x) {
            const int dy = t / cw, dx = t - dy * cw;
            const size_t k = (size_t)(y0 + dy) * w + (size_t)(x0 + dx);
            const float v = img[k];
            if ((mask && mask[k]) || !isfinite(v) || !((double)v >= L) || !((double)v <= H))
                continue;
            f(v);
        }
    }
};

/* The k-th smallest (0-based) value of the set {usable v : L <= v <= H} of the cell. */
__device__ float bk_select(const bk_cell &c, double L, double H, unsigned int k, unsigned int *hist,
                           unsigned int *sel)
{
    unsigned int prefix = 0, pmask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x)
            hist[b] = 0;
        __syncthreads();
        c.each(L, H, [&](float v) {
            const unsigned int key = bk_key(v);
            if ((key & pmask) == prefix)
                atomicAdd(&hist[(key >> shift) & 255u], 1u);
        });
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned int acc = 0;
            int b = 0;
            for (; b < 255; b++) {
                if (acc + hist[b] > k)
                    break;
                acc += hist[b];
            }
            sel[0] = (unsigned int)b;
            sel[1] = acc;
        }
        __syncthreads();
        k -= sel[1];
        prefix |= sel[0] << shift;
        pmask |= 255u << shift;
        __syncthreads(); /* everyone has read sel before thread 0 writes it again */
    }
    return bk_unkey(prefix);
}

__global__ void __launch_bounds__(BK_THREADS)
cells_kernel(const float *__restrict__ img, const uint8_t *__restrict__ mask, int w, int nx,
             const int *__restrict__ xlo, const int *__restrict__ ylo, float clip_k, int max_iter,
             float min_good_frac, double corr, float *__restrict__ raw_b,
             float *__restrict__ raw_r, uint8_t *__restrict__ valid)
{
    __shared__ unsigned int hist[256], sel[2];
    __shared__ unsigned int sh_u[33];
    __shared__ double sh_d[33];
    __shared__ float sh_f[33];
    const int ci = (int)(blockIdx.x % (unsigned int)nx), cj = (int)(blockIdx.x / (unsigned int)nx);
    bk_cell c;
    c.img = img;
    c.mask = mask;
    c.w = w;
    c.x0 = xlo[ci];
    c.y0 = ylo[cj];
    c.cw = xlo[ci + 1] - c.x0;
    c.npx = c.cw * (ylo[cj + 1] - c.y0);
    const double L0 = -INFINITY, H0 = INFINITY;
    const k_sum_op sum;

    unsigned int cnt = 0;
    c.each(L0, H0, [&](float) { cnt++; });
    unsigned int n = k_block_reduce(cnt, sum, sh_u, 0u);
    if (!sso_bkg_cell_usable(n, (size_t)c.npx, min_good_frac)) { /* uniform over the block */
        if (threadIdx.x == 0) {
            raw_b[blockIdx.x] = raw_r[blockIdx.x] = 0.0f;
            valid[blockIdx.x] = 0;
        }
        return;
    }
    double L = L0, H = H0, med = 0.0, mean = 0.0, sd = 0.0;
    for (int it = 0; it < max_iter && n > 0; it++) {
        const unsigned int k = (n - 1) / 2;
        const float a = bk_select(c, L, H, k, hist, sel);
        if (n % 2) {
            med = a;
        } else {
            /* the (k+1)-th: a itself when more than k+1 values are <= a, else the least above */
            unsigned int le = 0;
            float above = INFINITY;
            c.each(L, H, [&](float v) {
                le += v <= a;
                if (v > a)
                    above = fminf(above, v);
            });
            le = k_block_reduce(le, sum, sh_u, 0u);
            above = k_block_reduce(above, k_min_op(), sh_f, (float)INFINITY);
            const float b = le >= k + 2 ? a : above;
            med = 0.5 * ((double)a + (double)b);
        }
        double s = 0.0;
        c.each(L, H, [&](float v) { s += v; });
        mean = k_block_reduce(s, sum, sh_d, 0.0) / (double)n;
        double ss = 0.0;
        c.each(L, H, [&](float v) { ss += ((double)v - mean) * ((double)v - mean); });
        ss = k_block_reduce(ss, sum, sh_d, 0.0);
        sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
        double lo, hi;
        sso_bkg_clip_range(med, sd, clip_k, &lo, &hi);
        unsigned int m = 0;
        c.each(L, H, [&](float v) { m += (double)v >= lo && (double)v <= hi; });
        m = k_block_reduce(m, sum, sh_u, 0u);
        if (m == n || m == 0)
            break;
        L = fmax(L, lo);
        H = fmin(H, hi);
        n = m;
    }
    if (threadIdx.x == 0) {
        sso_bkg_cell_result(med, mean, sd, corr, &raw_b[blockIdx.x], &raw_r[blockIdx.x]);
        valid[blockIdx.x] = 1;
    }
}

__global__ void eval_kernel(sso_bkg_mesh m, int w, size_t npx, int bilinear, int clamp_zero,
                            float *__restrict__ out)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= npx)
        return;
    const float x = (float)(i % (size_t)w), y = (float)(i / (size_t)w);
    float v = bilinear ? sso_bkg_eval_bilinear(&m, x, y) : sso_bkg_eval_bicubic(&m, x, y);
    if (clamp_zero)
        v = v < 0.0f ? 0.0f : v;
    out[i] = v;
}

// kernel launchers

extern "C" sso_status sso_k_background_cells(const float *img_e, const uint8_t *mask, int w, int h,
                                             int nx, int ny, const sso_background_params *p,
                                             double corr, float *raw_bkg_e, float *raw_rms_e,
                                             uint8_t *valid, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_IMG, S_MASK, S_LO, S_OUT, S_HLO, S_HOUT };
    void *ptr = NULL;
    cudaStream_t s;
    k_timer timer;
    const size_t npx = (size_t)w * h, nc = (size_t)nx * ny;
    float *d_img, *d_out, *h_out;
    uint8_t *d_mask = NULL;
    int *d_lo, *h_lo;
    if (!img_e || !p || !raw_bkg_e || !raw_rms_e || !valid || w < 1 || h < 1 || nx < 1 || ny < 1)
        return sso_fail(SSO_ERR_ARG, "background cells (cuda): bad arguments");
    SSO_TRY(sso_k_stream(&ptr));
    s = (cudaStream_t)ptr;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_BACKGROUND + S_IMG, npx * sizeof(float), &ptr));
    d_img = (float *)ptr;
    if (mask) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_BACKGROUND + S_MASK, npx, &ptr));
        d_mask = (uint8_t *)ptr;
    }
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_BACKGROUND + S_LO, (nx + ny + 2) * sizeof(int), &ptr));
    d_lo = (int *)ptr;
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_BACKGROUND + S_HLO, (nx + ny + 2) * sizeof(int), &ptr));
    h_lo = (int *)ptr;
    /* out: raw_b (nc floats), raw_r (nc floats), valid (nc bytes) back to back */
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_BACKGROUND + S_OUT, nc * (2 * sizeof(float) + 1), &ptr));
    d_out = (float *)ptr;
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_BACKGROUND + S_HOUT, nc * (2 * sizeof(float) + 1), &ptr));
    h_out = (float *)ptr;
    for (int i = 0; i <= nx; i++)
        h_lo[i] = sso_bkg_cell_lo(i, nx, w);
    for (int j = 0; j <= ny; j++)
        h_lo[nx + 1 + j] = sso_bkg_cell_lo(j, ny, h);
    CUDA_TRY(cudaMemcpyAsync(d_img, img_e, npx * sizeof(float), cudaMemcpyHostToDevice, s));
    if (mask)
        CUDA_TRY(cudaMemcpyAsync(d_mask, mask, npx, cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_lo, h_lo, (nx + ny + 2) * sizeof(int), cudaMemcpyHostToDevice, s));
    SSO_TRY(k_timer_start(timer, tr != NULL, s));
    cells_kernel<<<(unsigned int)nc, BK_THREADS, 0, s>>>(
        d_img, d_mask, w, nx, d_lo, d_lo + nx + 1, p->clip_sigma, p->max_iter, p->min_good_frac,
        corr, d_out, d_out + nc, (uint8_t *)(d_out + 2 * nc));
    CUDA_TRY(cudaGetLastError());
    SSO_TRY(k_timer_stop(timer, s));
    CUDA_TRY(cudaMemcpyAsync(h_out, d_out, nc * (2 * sizeof(float) + 1), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    memcpy(raw_bkg_e, h_out, nc * sizeof(float));
    memcpy(raw_rms_e, h_out + nc, nc * sizeof(float));
    memcpy(valid, h_out + 2 * nc, nc);
    SSO_TRY(k_timer_report(timer, sso_bkg_cells_bytes_moved(npx, mask != NULL, nc), tr));
exit:
    return st;
}

extern "C" sso_status sso_k_background_eval(const float *const bkg_mesh[4],
                                            const float *const rms_mesh[4], int nx, int ny, int w,
                                            int h, sso_background_interp interp, float *bkg_e,
                                            float *bkg_rms_e, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_MESH = 6, S_OUT = 7 };
    void *ptr = NULL;
    cudaStream_t s;
    k_timer timer;
    const size_t npx = (size_t)w * h, nc = (size_t)nx * ny;
    const int n_maps = (bkg_e != NULL) + (bkg_rms_e != NULL);
    float *d_mesh, *d_out;
    if (!bkg_mesh || !rms_mesh || nx < 1 || ny < 1 || w < 1 || h < 1)
        return sso_fail(SSO_ERR_ARG, "background eval (cuda): bad arguments");
    SSO_TRY(sso_k_stream(&ptr));
    s = (cudaStream_t)ptr;
    if (n_maps == 0)
        goto exit;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_BACKGROUND + S_MESH, 8 * nc * sizeof(float), &ptr));
    d_mesh = (float *)ptr;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_BACKGROUND + S_OUT, n_maps * npx * sizeof(float), &ptr));
    d_out = (float *)ptr;
    for (int q = 0; q < 4; q++) {
        CUDA_TRY(cudaMemcpyAsync(d_mesh + q * nc, bkg_mesh[q], nc * sizeof(float),
                                 cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpyAsync(d_mesh + (4 + q) * nc, rms_mesh[q], nc * sizeof(float),
                                 cudaMemcpyHostToDevice, s));
    }
    SSO_TRY(k_timer_start(timer, tr != NULL, s));
    {
        const unsigned int blocks = (unsigned int)SSO_CEIL_DIV(npx, (size_t)BK_EVAL_THREADS);
        const int bilinear = interp == SSO_BKG_BILINEAR;
        float *out = d_out;
        for (int map = 0; map < 2; map++) {
            float *host = map == 0 ? bkg_e : bkg_rms_e;
            if (!host)
                continue;
            const float *f = d_mesh + 4 * map * nc;
            const sso_bkg_mesh m = {nx, ny, (float)w / (float)nx, (float)h / (float)ny,
                                    f, f + nc, f + 2 * nc, f + 3 * nc};
            eval_kernel<<<blocks, BK_EVAL_THREADS, 0, s>>>(m, w, npx, bilinear, map == 1, out);
            CUDA_TRY(cudaGetLastError());
            out += npx;
        }
    }
    SSO_TRY(k_timer_stop(timer, s));
    {
        const float *out = d_out;
        if (bkg_e) {
            CUDA_TRY(cudaMemcpyAsync(bkg_e, out, npx * sizeof(float), cudaMemcpyDeviceToHost, s));
            out += npx;
        }
        if (bkg_rms_e)
            CUDA_TRY(cudaMemcpyAsync(bkg_rms_e, out, npx * sizeof(float), cudaMemcpyDeviceToHost, s));
    }
    CUDA_TRY(cudaStreamSynchronize(s));
    SSO_TRY(k_timer_report(timer, sso_bkg_eval_bytes_moved(npx, n_maps, nc), tr));
exit:
    return st;
}
