/* kernels/cosmic.cu: L.A.Cosmic on the GPU (twin of host/cosmic.c; contract in
 * include/sso/cosmic.h).
 *
 * Device planes (w * h each, kept on the device across passes): img, var, the FLG hint, the
 * effective mask m (input mask | flagged so far), the flags cr, L+ and S, and two seed planes.
 * One pass, each step a kernel with one thread per pixel:
 *   sig_kernel    L+ and S at every unmasked pixel (sso_cr_lplus_at, sso_cr_sig), 0 elsewhere;
 *   cand_kernel   seeds: 1 where S' > thr and L+/F > objlim (thr = sigclip, sigfrac * sigclip with
 *                 the FLG hint), else 2 where flagged in an earlier pass, else 0. S' and F are
 *                 windowed medians (sso_cr_sprime, sso_cr_fine of host/cosmic_math.h) evaluated
 *                 only where S already exceeds thr (S' <= S), as the CPU does lazily;
 *   grow_kernel   twice (thr = sigclip, then sigfrac * sigclip): the CPU's growth, which scans
 *                 seeds and marks their 8-neighbours, written as a gather: a pixel looks at the
 *                 seeds in its own 3x3 window. The CPU result does not depend on its scan order
 *                 (the tests are properties of the marked pixel, and kind 1 overrides kind 2), so
 *                 the gather gives the same plane: 1 if in = 1, or a kind-1 seed is adjacent and the
 *                 pixel passes (unmasked, S > thr, S' > thr); else 2 if in = 2, or a kind-2 seed is
 *                 adjacent and it passes with L+/F > objlim too; else 0. It reads `in`, writes `out`;
 *   add_kernel    seeds on unmasked pixels become flags and join the mask; their count (integer
 *                 atomics, one per block) comes back to the host, which stops when a pass adds
 *                 none (one 8-byte read-back per pass, at most niter).
 * Then track_kernel (sso_cr_track_at: flags that form tracks), dilate_kernel (sso_cr_grown_at:
 * unmasked pixels with a track pixel in their window) and add_kernel once more grow the tracks by
 * grow_px.
 * The per-pixel arithmetic is IEEE single precision without products that nvcc could fuse into a
 * different rounding (sums, one product by 2 or 0.25, correctly rounded sqrt and division), and
 * medians select values: the flags should equal the CPU's bit for bit.
 */
#include <math.h>

#include "kernels/k_pixel.cuh"

extern "C" {
#include "host/cosmic_math.h"
#include "sso/flags.h"
}

#define CR_THREADS 256

// CUDA kernels

__global__ void init_kernel(size_t n, const float *__restrict__ img, const float *__restrict__ var,
                            const uint8_t *__restrict__ mask, uint8_t *__restrict__ m,
                            uint8_t *__restrict__ cr)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    m[i] = (uint8_t)sso_cr_unusable(img[i], var[i], mask ? mask[i] : 0);
    cr[i] = 0;
}

__global__ void sig_kernel(int w, int h, const float *__restrict__ img,
                           const float *__restrict__ var, const uint8_t *__restrict__ m,
                           float *__restrict__ lp, float *__restrict__ sig)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    if (m[i]) {
        lp[i] = sig[i] = 0.0f;
        return;
    }
    const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
    const float l = sso_cr_lplus_at(img, m, w, h, x, y);
    lp[i] = l;
    sig[i] = sso_cr_sig(l, var[i]);
}

__global__ void cand_kernel(int w, int h, const float *__restrict__ img,
                            const float *__restrict__ var, const int32_t *__restrict__ flg,
                            const uint8_t *__restrict__ m, const uint8_t *__restrict__ cr,
                            const float *__restrict__ lp, const float *__restrict__ sig,
                            float sigclip, float lo, float objlim, int use_hint,
                            uint8_t *__restrict__ seed)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const int hint = use_hint && flg && (flg[i] & (int32_t)SSO_FLG_COSMIC);
    const float thr = hint ? lo : sigclip;
    int cand = 0;
    if (sig[i] > thr) { /* implies unmasked: masked pixels have S = 0 */
        const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        if (sso_cr_sprime(sig, m, w, h, x, y) > thr)
            cand = sso_cr_ratio(lp[i], sso_cr_fine(img, m, w, h, x, y), var[i]) > objlim;
    }
    seed[i] = cand ? 1 : (cr[i] ? 2 : 0);
}

__global__ void grow_kernel(int w, int h, const float *__restrict__ img,
                            const float *__restrict__ var, const uint8_t *__restrict__ m,
                            const float *__restrict__ lp, const float *__restrict__ sig, float thr,
                            float objlim, const uint8_t *__restrict__ in,
                            uint8_t *__restrict__ out)
{
    const size_t n = (size_t)w * h;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const uint8_t self = in[i];
    uint8_t o = self;
    if (self != 1 && !m[i] && sig[i] > thr) {
        const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        int has1 = 0, has2 = 0;
        for (int yy = y - 1; yy <= y + 1; yy++)
            for (int xx = x - 1; xx <= x + 1; xx++) {
                if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                    continue;
                const uint8_t k = in[(size_t)yy * w + xx];
                has1 |= k == 1;
                has2 |= k == 2;
            }
        /* kind 2 can only change a 0 (a 2 stays 2 either way) */
        if (has1 || (has2 && self == 0)) {
            if (sso_cr_sprime(sig, m, w, h, x, y) > thr) {
                if (has1)
                    o = 1;
                else if (sso_cr_ratio(lp[i], sso_cr_fine(img, m, w, h, x, y), var[i]) > objlim)
                    o = 2;
            }
        }
    }
    out[i] = o;
}

__global__ void track_kernel(int w, int h, const uint8_t *__restrict__ cr,
                             uint8_t *__restrict__ trk)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)w * h)
        return;
    trk[i] = (uint8_t)sso_cr_track_at(cr, w, h, (int)(i % (size_t)w), (int)(i / (size_t)w));
}

__global__ void dilate_kernel(int w, int h, const uint8_t *__restrict__ trk,
                              const uint8_t *__restrict__ m, int g, uint8_t *__restrict__ seed)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)w * h)
        return;
    seed[i] = (uint8_t)sso_cr_grown_at(trk, m, w, h, (int)(i % (size_t)w), (int)(i / (size_t)w), g);
}

__global__ void add_kernel(size_t n, const uint8_t *__restrict__ seed, uint8_t *__restrict__ m,
                           uint8_t *__restrict__ cr, unsigned long long *__restrict__ added)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    int add = 0;
    if (i < n && seed[i] && !m[i]) {
        cr[i] = 1;
        m[i] = 1;
        add = 1;
    }
    const int c = __syncthreads_count(add);
    if (threadIdx.x == 0 && c)
        atomicAdd(added, (unsigned long long)c);
}

// kernel launchers

/* Seeds on unmasked pixels become flags (add_kernel); their count is read back and added to
 * *total (one 8-byte read-back). *n_added: that count. */
static sso_status add_seeds(cudaStream_t s, unsigned int blocks, size_t n, const uint8_t *d_seed,
                            uint8_t *d_m, uint8_t *d_cr, unsigned long long *d_count,
                            unsigned long long *h_count, int64_t *total, int64_t *n_added)
{
    sso_status st = SSO_OK;
    CUDA_TRY(cudaMemsetAsync(d_count, 0, sizeof(unsigned long long), s));
    add_kernel<<<blocks, CR_THREADS, 0, s>>>(n, d_seed, d_m, d_cr, d_count);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaMemcpyAsync(h_count, d_count, sizeof *h_count, cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    *n_added = (int64_t)*h_count;
    *total += *n_added;
exit:
    return st;
}

extern "C" sso_status sso_k_cosmic(const float *img_e, const float *var_e2, const uint8_t *mask,
                                   const int32_t *flg, int w, int h, const sso_cosmic_params *p,
                                   uint8_t *cr_mask, int64_t *n_flagged_px, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_IMG, S_VAR, S_FLG, S_IN, S_BYTES, S_LPS, S_COUNT };
    void *ptr = NULL;
    cudaStream_t s;
    k_timer timer;
    const size_t n = (size_t)w * h;
    const unsigned int blocks = (unsigned int)SSO_CEIL_DIV(n, (size_t)CR_THREADS);
    float *d_img, *d_var, *d_lp, *d_sig;
    int32_t *d_flg = NULL;
    uint8_t *d_in = NULL, *d_m, *d_cr, *d_seed, *d_grown;
    unsigned long long *d_count, *h_count;
    int64_t total = 0;
    int passes = 0, grown = 0;
    if (!img_e || !var_e2 || !cr_mask || !p || w < 1 || h < 1)
        return sso_fail(SSO_ERR_ARG, "cosmic (cuda): no image or bad size %d x %d", w, h);
    SSO_TRY(sso_k_stream(&ptr));
    s = (cudaStream_t)ptr;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_IMG, n * sizeof(float), &ptr));
    d_img = (float *)ptr;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_VAR, n * sizeof(float), &ptr));
    d_var = (float *)ptr;
    if (flg && p->use_flg_hint) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_FLG, n * sizeof(int32_t), &ptr));
        d_flg = (int32_t *)ptr;
    }
    if (mask) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_IN, n, &ptr));
        d_in = (uint8_t *)ptr;
    }
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_BYTES, 4 * n, &ptr)); /* m, cr, seed, grown */
    d_m = (uint8_t *)ptr;
    d_cr = d_m + n;
    d_seed = d_m + 2 * n;
    d_grown = d_m + 3 * n;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_LPS, 2 * n * sizeof(float), &ptr));
    d_lp = (float *)ptr;
    d_sig = d_lp + n;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_COSMIC + S_COUNT, sizeof(unsigned long long), &ptr));
    d_count = (unsigned long long *)ptr;
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_COSMIC + S_COUNT, sizeof(unsigned long long), &ptr));
    h_count = (unsigned long long *)ptr;

    CUDA_TRY(cudaMemcpyAsync(d_img, img_e, n * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_var, var_e2, n * sizeof(float), cudaMemcpyHostToDevice, s));
    if (d_flg)
        CUDA_TRY(cudaMemcpyAsync(d_flg, flg, n * sizeof(int32_t), cudaMemcpyHostToDevice, s));
    if (d_in)
        CUDA_TRY(cudaMemcpyAsync(d_in, mask, n, cudaMemcpyHostToDevice, s));
    SSO_TRY(k_timer_start(timer, tr != NULL, s));
    init_kernel<<<blocks, CR_THREADS, 0, s>>>(n, d_img, d_var, d_in, d_m, d_cr);
    CUDA_TRY(cudaGetLastError());
    {
        const float lo = p->sigfrac * p->sigclip;
        for (int pass = 1; pass <= p->niter; pass++) {
            passes = pass;
            sig_kernel<<<blocks, CR_THREADS, 0, s>>>(w, h, d_img, d_var, d_m, d_lp, d_sig);
            CUDA_TRY(cudaGetLastError());
            cand_kernel<<<blocks, CR_THREADS, 0, s>>>(w, h, d_img, d_var, d_flg, d_m, d_cr, d_lp,
                                                      d_sig, p->sigclip, lo, p->objlim,
                                                      p->use_flg_hint, d_seed);
            CUDA_TRY(cudaGetLastError());
            grow_kernel<<<blocks, CR_THREADS, 0, s>>>(w, h, d_img, d_var, d_m, d_lp, d_sig,
                                                      p->sigclip, p->objlim, d_seed, d_grown);
            CUDA_TRY(cudaGetLastError());
            grow_kernel<<<blocks, CR_THREADS, 0, s>>>(w, h, d_img, d_var, d_m, d_lp, d_sig, lo,
                                                      p->objlim, d_grown, d_seed);
            CUDA_TRY(cudaGetLastError());
            int64_t added = 0;
            SSO_TRY(add_seeds(s, blocks, n, d_seed, d_m, d_cr, d_count, h_count, &total, &added));
            if (!added)
                break;
        }
    }
    if (p->grow_px > 0 && total > 0) {
        int64_t added = 0;
        track_kernel<<<blocks, CR_THREADS, 0, s>>>(w, h, d_cr, d_grown);
        CUDA_TRY(cudaGetLastError());
        dilate_kernel<<<blocks, CR_THREADS, 0, s>>>(w, h, d_grown, d_m, p->grow_px, d_seed);
        CUDA_TRY(cudaGetLastError());
        SSO_TRY(add_seeds(s, blocks, n, d_seed, d_m, d_cr, d_count, h_count, &total, &added));
        grown = 1;
    }
    SSO_TRY(k_timer_stop(timer, s));
    CUDA_TRY(cudaMemcpyAsync(cr_mask, d_cr, n, cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    if (n_flagged_px)
        *n_flagged_px = total;
    SSO_TRY(k_timer_report(
        timer, sso_cosmic_bytes_moved(n, mask != NULL, d_flg != NULL, passes, grown), tr));
exit:
    return st;
}
