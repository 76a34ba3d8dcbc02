/* kernels/likelihood.cu: psi/phi likelihood images on the GPU (twin of host/likelihood.c).
 *
 * Contract in include/sso/likelihood.h; the CPU reference in host/likelihood.c. Same two steps:
 *   1. weights: one thread per pixel forms W = 1/V and DW = D/V (0 where masked, V not finite or
 *      <= 0, or D not finite), the CPU's expression (IEEE division: nvcc's default -prec-div).
 *   2. correlation of DW with T (psi) and of W with T^2 (phi; T^2 squared on the host in float as
 *      the CPU does), by one of
 *      direct: one thread per output pixel sums over the template rows then columns, skipping zero
 *              template values and pixels off the image, with __fmul_rn/__fadd_rn (never fused),
 *              from 0.0f in the CPU's order: bit for bit the CPU's direct path (host/likelihood.c
 *              builds for baseline x86-64, which has no FMA to contract into). Loads go through
 *              the read-only cache; a 7x7 template re-reads each pixel 49 times from L1.
 *      FFT:    zero-padded to the CPU's sizes (Px >= w + half, Py >= h + half, factors 2,3,5,7),
 *              the two images and the two flipped kernels each as one batch of 2 cuFFT R2C
 *              transforms, a pointwise product scaled by 1/(Px Py), one batched C2R, the w x h
 *              corner copied out. Differs from FFTW by rounding (~1e-6 of the image's scale).
 * Trail correlation (sso_k_trail_load, sso_k_trail; host twin sso_likelihood_trail): the point
 * maps of a patch's epochs stay in SSO_K_SLOT_TRAIL + e (psi then phi) across the velocity bins;
 * one thread per output pixel adds w_j * psi(x + d_j) over the taps in kernel order from 0.0f
 * with __fmul_rn/__fadd_rn, skipping taps off the image, then phi_L *= kappa: the CPU's row loop
 * (tap outer, pixel inner, unfused on baseline x86-64) computes each pixel in that same order.
 * Each tap's row segment is read coalesced; the taps (~len + 1, uniform across the block) come
 * through the read-only cache.
 * Buffers are the engine's grow-only slots (SSO_K_SLOT_LIKELIHOOD..), the stream the thread's
 * engine stream; cuFFT plans are created once per (Px, Py) and kept in a small per-thread cache
 * (LRU of PLAN_CACHE entries) bound to that stream: no plan creation per call after the first.
 */
#include <cufft.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k_pixel.cuh"

extern "C" {
#include "host/likelihood_math.h"
#include "host/sso_hd.h"
}

#define LIKE_THREADS 256
#define LIKE_BX 32
#define LIKE_BY 8
#define PLAN_CACHE 4

#define CUFFT_TRY(call)                                                                     \
    do {                                                                                    \
        cufftResult r_ = (call);                                                            \
        if (r_ != CUFFT_SUCCESS) {                                                          \
            st = sso_fail(SSO_ERR_CUDA, "%s:%d %s: cuFFT error %d", __FILE__, __LINE__,     \
                          #call, (int)r_);                                                  \
            goto exit;                                                                      \
        }                                                                                   \
    } while (0)

namespace {

struct plan_entry {
    int px = 0, py = 0;
    cufftHandle r2c = 0, c2r = 0;
    cudaStream_t stream = nullptr;
    unsigned long long used = 0;
};

struct plan_cache {
    plan_entry e[PLAN_CACHE];
    unsigned long long clock = 0;
    ~plan_cache()
    {
        /* At thread exit (at process exit the driver may be gone: errors ignored). */
        for (int i = 0; i < PLAN_CACHE; i++)
            if (e[i].px) {
                cufftDestroy(e[i].r2c);
                cufftDestroy(e[i].c2r);
            }
    }
};

thread_local plan_cache t_plans;

/* The CPU's padded size: the smallest n' >= n with no prime factor above 7. */
int good_fft_size(int n)
{
    for (;; n++) {
        int m = n;
        while (m % 2 == 0) m /= 2;
        while (m % 3 == 0) m /= 3;
        while (m % 5 == 0) m /= 5;
        while (m % 7 == 0) m /= 7;
        if (m == 1)
            return n;
    }
}

/* Batched (2) R2C and C2R plans for py x px, bound to stream s; cached. */
sso_status get_plans(int px, int py, cudaStream_t s, plan_entry **out)
{
    sso_status st = SSO_OK;
    plan_cache &c = t_plans;
    plan_entry *slot = &c.e[0];
    int n[2] = {py, px};
    for (int i = 0; i < PLAN_CACHE; i++) {
        if (c.e[i].px == px && c.e[i].py == py) {
            slot = &c.e[i];
            if (slot->stream != s) { /* the engine's stream was re-created */
                CUFFT_TRY(cufftSetStream(slot->r2c, s));
                CUFFT_TRY(cufftSetStream(slot->c2r, s));
                slot->stream = s;
            }
            slot->used = ++c.clock;
            *out = slot;
            return SSO_OK;
        }
        if (c.e[i].used < slot->used)
            slot = &c.e[i];
    }
    if (slot->px) { /* evict the least recently used size */
        CUDA_TRY(cudaStreamSynchronize(slot->stream));
        cufftDestroy(slot->r2c);
        cufftDestroy(slot->c2r);
        *slot = plan_entry();
    }
    CUFFT_TRY(cufftPlanMany(&slot->r2c, 2, n, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, 2));
    if (cufftPlanMany(&slot->c2r, 2, n, NULL, 1, 0, NULL, 1, 0, CUFFT_C2R, 2) != CUFFT_SUCCESS) {
        cufftDestroy(slot->r2c);
        st = sso_fail(SSO_ERR_CUDA, "likelihood: cuFFT could not plan C2R %d x %d", px, py);
        goto exit;
    }
    CUFFT_TRY(cufftSetStream(slot->r2c, s));
    CUFFT_TRY(cufftSetStream(slot->c2r, s));
    slot->px = px, slot->py = py, slot->stream = s, slot->used = ++c.clock;
    *out = slot;
exit:
    return st;
}

} // namespace

// CUDA kernels

/* W and DW into two planes of `pitch` x `rows` floats (dw first, then w); zero outside w x h
 * (the FFT's padding; pitch = w, rows = h for the direct path). */
__global__ void like_weights(const float *__restrict__ d, const float *__restrict__ v,
                             const uint8_t *__restrict__ m, int w, int h, int pitch, int rows,
                             float *__restrict__ dw, float *__restrict__ wgt)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= pitch || y >= rows)
        return;
    float a = 0.0f, b = 0.0f;
    if (x < w && y < h) {
        const size_t i = (size_t)y * w + x;
        const float vv = v[i], dd = d[i];
        const int ok = (!m || !m[i]) && isfinite(vv) && vv > 0.0f && isfinite(dd);
        b = ok ? 1.0f / vv : 0.0f;
        a = ok ? dd / vv : 0.0f;
    }
    dw[(size_t)y * pitch + x] = a;
    wgt[(size_t)y * pitch + x] = b;
}

/* Direct correlation, the CPU's order: out = sum over (dy, dx) row-major of k * in, from 0.0f,
 * zero k and pixels off the image skipped; psi (k = T on DW) and phi (k2 = T^2 on W) together. */
__global__ void like_direct(const float *__restrict__ dw, const float *__restrict__ wgt, int w, int h,
                            const float *__restrict__ k, const float *__restrict__ k2, int half,
                            float *__restrict__ psi, float *__restrict__ phi)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    const int n = 2 * half + 1;
    float a = 0.0f, b = 0.0f;
    for (int dy = -half; dy <= half; dy++) {
        const int yy = y + dy;
        if (yy < 0 || yy >= h)
            continue;
        const float *ra = dw + (size_t)yy * w, *rb = wgt + (size_t)yy * w;
        for (int dx = -half; dx <= half; dx++) {
            const int xx = x + dx;
            if (xx < 0 || xx >= w)
                continue;
            const float ka = __ldg(k + (dy + half) * n + dx + half);
            const float kb = __ldg(k2 + (dy + half) * n + dx + half);
            if (ka != 0.0f)
                a = __fadd_rn(a, __fmul_rn(ka, __ldg(ra + xx)));
            if (kb != 0.0f)
                b = __fadd_rn(b, __fmul_rn(kb, __ldg(rb + xx)));
        }
    }
    psi[(size_t)y * w + x] = a;
    phi[(size_t)y * w + x] = b;
}

/* The flipped kernels K((-u) mod P) = T(u) into two zeroed px x py planes. */
__global__ void like_put_kernels(const float *__restrict__ k, const float *__restrict__ k2, int half,
                                 int px, int py, float *__restrict__ ra, float *__restrict__ rb)
{
    const int n = 2 * half + 1, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * n)
        return;
    const int dy = i / n - half, dx = i % n - half;
    const size_t o = (size_t)((py - dy) % py) * px + (size_t)((px - dx) % px);
    ra[o] = k[i];
    rb[o] = k2[i];
}

/* c[i] = c[i] * ks[i] * scale over both batches (nc complex each), the CPU's product order. */
__global__ void like_mul(cufftComplex *__restrict__ c, const cufftComplex *__restrict__ ks, size_t n,
                         float scale)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const cufftComplex a = c[i], b = ks[i];
    const float re = a.x * b.x - a.y * b.y, im = a.x * b.y + a.y * b.x;
    c[i] = make_cuComplex(re * scale, im * scale);
}

/* Trail correlation: psi_L(x) = sum_j w_j psi(x + d_j), phi_L = kappa sum_j w_j phi(x + d_j). */
__global__ void like_trail(const float *__restrict__ psi, const float *__restrict__ phi, int w, int h,
                           const int *__restrict__ dx, const int *__restrict__ dy,
                           const float *__restrict__ wt, int n, float kappa, float *__restrict__ psi_l,
                           float *__restrict__ phi_l)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    float a = 0.0f, b = 0.0f;
    for (int t = 0; t < n; t++) {
        const int yy = y + __ldg(dy + t), xx = x + __ldg(dx + t);
        if (yy < 0 || yy >= h || xx < 0 || xx >= w)
            continue;
        const float k = __ldg(wt + t);
        const size_t i = (size_t)yy * w + xx;
        a = __fadd_rn(a, __fmul_rn(k, __ldg(psi + i)));
        b = __fadd_rn(b, __fmul_rn(k, __ldg(phi + i)));
    }
    psi_l[(size_t)y * w + x] = a;
    phi_l[(size_t)y * w + x] = __fmul_rn(b, kappa);
}

// kernel launchers

namespace {
/* What this thread's sso_k_trail_load left in SSO_K_SLOT_TRAIL + e: the maps' size and buffers
 * (a buffer that moved, after sso_k_engine_release, no longer holds them). */
struct trail_held {
    int n = 0, w = 0, h = 0;
    void *buf[SSO_K_TRAIL_MAX_EPOCHS] = {};
};
thread_local trail_held g_trail;
} // namespace

extern "C" sso_status sso_k_trail_load(int n_epochs, const float *const psi[],
                                       const float *const phi[], int w, int h)
{
    sso_status st = SSO_OK;
    void *p = NULL;
    cudaStream_t s;
    g_trail = trail_held();
    if (!psi || !phi || n_epochs < 1 || n_epochs > SSO_K_TRAIL_MAX_EPOCHS || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "trail (cuda): bad arguments (%d epochs of %d x %d)", n_epochs,
                        w, h);
    const size_t np = (size_t)w * h;
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    for (int e = 0; e < n_epochs; e++) {
        if (!psi[e] || !phi[e]) {
            st = sso_fail(SSO_ERR_ARG, "trail (cuda): epoch %d has no map", e);
            goto exit;
        }
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_TRAIL + e, 2 * np * sizeof(float), &p));
        CUDA_TRY(cudaMemcpyAsync(p, psi[e], np * sizeof(float), cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpyAsync((float *)p + np, phi[e], np * sizeof(float), cudaMemcpyHostToDevice, s));
        g_trail.buf[e] = p;
    }
    CUDA_TRY(cudaStreamSynchronize(s));
    g_trail.n = n_epochs, g_trail.w = w, g_trail.h = h;
exit:
    return st;
}

extern "C" sso_status sso_k_trail(int e, const int *dx, const int *dy, const float *w, int n,
                                  float kappa, float *psi_l, float *phi_l, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    k_timer timer;
    enum { S_OUT = SSO_K_TRAIL_MAX_EPOCHS, S_TAPS };
    void *p = NULL, *maps = NULL;
    cudaStream_t s;
    float *d_out, *d_w, *h_w;
    int *d_dx, *d_dy, *h_dx, *h_dy;
    if (!dx || !dy || !w || n < 1 || !psi_l || !phi_l || e < 0 || e >= g_trail.n)
        return sso_fail(SSO_ERR_ARG, "trail (cuda): bad arguments (epoch %d of %d held, %d taps)",
                        e, g_trail.n, n);
    const int iw = g_trail.w, ih = g_trail.h;
    const size_t np = (size_t)iw * ih, tb = 3 * (size_t)n * sizeof(float);
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_TRAIL + e, 2 * np * sizeof(float), &maps));
    if (maps != g_trail.buf[e]) {
        st = sso_fail(SSO_ERR_INTERNAL, "trail (cuda): the point maps of epoch %d are no longer held", e);
        goto exit;
    }
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_TRAIL + S_OUT, 2 * np * sizeof(float), &p));
    d_out = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_TRAIL + S_TAPS, tb, &p));
    d_dx = (int *)p, d_dy = d_dx + n, d_w = (float *)(d_dy + n);
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_TRAIL + S_TAPS, tb, &p));
    h_dx = (int *)p, h_dy = h_dx + n, h_w = (float *)(h_dy + n);
    memcpy(h_dx, dx, (size_t)n * sizeof(int));
    memcpy(h_dy, dy, (size_t)n * sizeof(int));
    memcpy(h_w, w, (size_t)n * sizeof(float));
    CUDA_TRY(cudaMemcpyAsync(d_dx, h_dx, tb, cudaMemcpyHostToDevice, s));
    {
        const dim3 blk(LIKE_BX, LIKE_BY), grd(SSO_CEIL_DIV(iw, LIKE_BX), SSO_CEIL_DIV(ih, LIKE_BY));
        const float *d_psi = (const float *)maps, *d_phi = d_psi + np;
        SSO_TRY(k_timer_start(timer, tr != NULL, s));
        like_trail<<<grd, blk, 0, s>>>(d_psi, d_phi, iw, ih, d_dx, d_dy, d_w, n, kappa, d_out,
                                       d_out + np);
        CUDA_TRY(cudaGetLastError());
        SSO_TRY(k_timer_stop(timer, s));
    }
    CUDA_TRY(cudaMemcpyAsync(psi_l, d_out, np * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaMemcpyAsync(phi_l, d_out + np, np * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    SSO_TRY(k_timer_report(timer, sso_like_trail_bytes_moved(np, n), tr));
exit:
    return st;
}

extern "C" sso_status sso_k_likelihood(const float *d_e, const float *var_e2, const uint8_t *mask,
                                       int w, int h, const float *tmpl, int half, int use_fft,
                                       float *psi, float *phi)
{
    return sso_k_likelihood_tr(d_e, var_e2, mask, w, h, tmpl, half, use_fft, psi, phi, NULL);
}

/* The same, with the kernels' time (weights to the last correlation or inverse transform) and
 * compulsory bytes (host/likelihood_math.h) when tr is given. */
extern "C" sso_status sso_k_likelihood_tr(const float *d_e, const float *var_e2,
                                          const uint8_t *mask, int w, int h, const float *tmpl,
                                          int half, int use_fft, float *psi, float *phi,
                                          sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    k_timer timer;
    uint64_t bytes = 0;
    enum { S_D, S_V, S_M, S_A, S_B, S_K, S_OUT, S_C };
    void *p = NULL;
    cudaStream_t s;
    float *d_d, *d_v, *d_a, *d_b, *d_k, *d_out;
    uint8_t *d_m = NULL;
    float *h_k = NULL;
    if (!d_e || !var_e2 || !tmpl || !psi || !phi || w <= 0 || h <= 0 || half < 0)
        return sso_fail(SSO_ERR_ARG, "likelihood (cuda): bad arguments (%d x %d, half %d)", w, h,
                        half);
    const size_t np = (size_t)w * h;
    const int n = 2 * half + 1, nk = n * n;
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_D, np * sizeof(float), &p));
    d_d = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_V, np * sizeof(float), &p));
    d_v = (float *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_K, 2 * (size_t)nk * sizeof(float), &p));
    d_k = (float *)p;
    SSO_TRY(sso_k_pinned(SSO_K_SLOT_LIKELIHOOD + S_K, 2 * (size_t)nk * sizeof(float), &p));
    h_k = (float *)p;
    for (int i = 0; i < nk; i++) {
        h_k[i] = tmpl[i];
        h_k[nk + i] = tmpl[i] * tmpl[i]; /* T^2 in float, as host/likelihood.c */
    }
    CUDA_TRY(cudaMemcpyAsync(d_d, d_e, np * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_v, var_e2, np * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_k, h_k, 2 * (size_t)nk * sizeof(float), cudaMemcpyHostToDevice, s));
    if (mask) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_M, np, &p));
        d_m = (uint8_t *)p;
        CUDA_TRY(cudaMemcpyAsync(d_m, mask, np, cudaMemcpyHostToDevice, s));
    }
    if (!use_fft) {
        const dim3 blk(LIKE_BX, LIKE_BY), grd(SSO_CEIL_DIV(w, LIKE_BX), SSO_CEIL_DIV(h, LIKE_BY));
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_A, 2 * np * sizeof(float), &p));
        d_a = (float *)p;
        d_b = d_a + np;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_OUT, 2 * np * sizeof(float), &p));
        d_out = (float *)p;
        SSO_TRY(k_timer_start(timer, tr != NULL, s));
        like_weights<<<grd, blk, 0, s>>>(d_d, d_v, d_m, w, h, w, h, d_a, d_b);
        CUDA_TRY(cudaGetLastError());
        like_direct<<<grd, blk, 0, s>>>(d_a, d_b, w, h, d_k, d_k + nk, half, d_out, d_out + np);
        CUDA_TRY(cudaGetLastError());
        SSO_TRY(k_timer_stop(timer, s));
        bytes = sso_like_direct_bytes_moved(np, mask != NULL, half);
        CUDA_TRY(cudaMemcpyAsync(psi, d_out, np * sizeof(float), cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpyAsync(phi, d_out + np, np * sizeof(float), cudaMemcpyDeviceToHost, s));
    } else {
        const int px = good_fft_size(w + half), py = good_fft_size(h + half), pxc = px / 2 + 1;
        const size_t nr = (size_t)px * py, nc = (size_t)pxc * py;
        const dim3 blk(LIKE_BX, LIKE_BY), grd(SSO_CEIL_DIV(px, LIKE_BX), SSO_CEIL_DIV(py, LIKE_BY));
        plan_entry *pl = NULL;
        cufftComplex *d_c, *d_ks;
        SSO_TRY(get_plans(px, py, s, &pl));
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_A, 2 * nr * sizeof(float), &p));
        d_a = (float *)p; /* batch of 2 real planes: DW (or T), W (or T^2) */
        d_b = d_a + nr;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_C, 2 * nc * sizeof(cufftComplex), &p));
        d_c = (cufftComplex *)p;
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_LIKELIHOOD + S_OUT, 2 * nc * sizeof(cufftComplex), &p));
        d_ks = (cufftComplex *)p;
        /* kernel spectra */
        SSO_TRY(k_timer_start(timer, tr != NULL, s));
        CUDA_TRY(cudaMemsetAsync(d_a, 0, 2 * nr * sizeof(float), s));
        like_put_kernels<<<SSO_CEIL_DIV(nk, LIKE_THREADS), LIKE_THREADS, 0, s>>>(
            d_k, d_k + nk, half, px, py, d_a, d_b);
        CUDA_TRY(cudaGetLastError());
        CUFFT_TRY(cufftExecR2C(pl->r2c, d_a, d_ks));
        /* image spectra, product, inverse */
        like_weights<<<grd, blk, 0, s>>>(d_d, d_v, d_m, w, h, px, py, d_a, d_b);
        CUDA_TRY(cudaGetLastError());
        CUFFT_TRY(cufftExecR2C(pl->r2c, d_a, d_c));
        like_mul<<<(unsigned int)SSO_CEIL_DIV(2 * nc, (size_t)LIKE_THREADS), LIKE_THREADS, 0, s>>>(
            d_c, d_ks, 2 * nc, 1.0f / ((float)px * (float)py));
        CUDA_TRY(cudaGetLastError());
        CUFFT_TRY(cufftExecC2R(pl->c2r, d_c, d_a));
        SSO_TRY(k_timer_stop(timer, s));
        bytes = sso_like_fft_bytes_moved(np, mask != NULL, half, px, py);
        CUDA_TRY(cudaMemcpy2DAsync(psi, (size_t)w * sizeof(float), d_a, (size_t)px * sizeof(float),
                                   (size_t)w * sizeof(float), (size_t)h, cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaMemcpy2DAsync(phi, (size_t)w * sizeof(float), d_b, (size_t)px * sizeof(float),
                                   (size_t)w * sizeof(float), (size_t)h, cudaMemcpyDeviceToHost, s));
    }
    CUDA_TRY(cudaStreamSynchronize(s));
    SSO_TRY(k_timer_report(timer, bytes, tr));
exit:
    return st;
}
