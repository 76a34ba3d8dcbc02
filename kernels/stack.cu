/* kernels/stack.cu: the slow-mover shift-and-stack search on the GPU (step 1 of host/stack.c).
 *
 * What it computes: for every start pixel of the searched tiles and every grid velocity, the sums
 * over the epochs of psi and phi at the tabulated integer offsets (host/stack_math.h), and the
 * hits s > 0 && s*s >= k2*t, compacted through an atomic counter into a hit list (x, y, velocity
 * index). Nothing per pixel is stored; consistency, merging and refinement stay on the host
 * (host/stack.c), which re-evaluates every hit exactly with the CPU's sso_stack_eval.
 *
 * Layout and tiling. Velocities are grouped into blocks of up to VB_MAX = VB_SIDE^2 neighbours on
 * the velocity grid (squares of VB_SIDE x VB_SIDE grid steps): within a block, epoch e's offsets
 * lie in a small box [ox_e, ox_e + span) x [oy_e, oy_e + span) (span ~ VB_SIDE dv |t_e| + 1 px).
 * A thread block takes one output tile of TW x TH start pixels and one velocity block (grid:
 * tiles x tiles x velocity blocks). It loads, per epoch, the tile plus that box into shared
 * memory as (psi, phi) float2 pairs (zero off the image: an epoch off the image adds exactly 0,
 * as on the CPU), plus the block's offsets as precomputed shared-memory index deltas; then each
 * thread (TW x TYT threads, PY rows each) evaluates its PY start pixels for every velocity of the
 * block, the epoch sums in registers. Per sample: one 8-byte shared load, two adds; per tile and
 * velocity block the global traffic is ~(TW+span)(TH+span) x 8 B per epoch for TW*TH*nv samples.
 * The shared region's shape is the same for all blocks (the largest span over blocks and epochs);
 * VB_SIDE is halved until it fits the device's opt-in shared memory.
 *
 * Bit parity with the CPU. Sums are __fadd_rn from 0.0f in epoch order and the predicate uses
 * __fmul_rn (never contracted into FMA), exactly sso_stack_eval/sso_stack_pass. The caller still
 * passes k2 a little below nu_min^2 and re-checks every hit on the host: hits can only be added,
 * never lost, whatever the device's arithmetic, and the final list is the CPU's.
 *
 * Tiles the coverage skip rules out (no start-pixel run of host/stack.c touches them) are not
 * searched, and only the rows the searched tiles read travel (per epoch, one band); with no tile
 * to search nothing is uploaded or launched. n_samples counts the searched tiles' on-image pixels x velocities x epochs; the CPU
 * additionally skips (row, velocity) pairs, so the two sample counts differ (the hits do not).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k_common.cuh"

extern "C" {
#include "host/stack_math.h"
#include "sso/stack.h"
}

#define TW 32           /* tile width = threads in x (one warp per row) */
#define TYT 8           /* thread rows */
#define PY 4            /* start pixels per thread, TYT apart in y */
#define TH (TYT * PY)   /* tile height */
#define NT (TW * TYT)
#define VB_SIDE_MAX 8
#define VB_MAX (VB_SIDE_MAX * VB_SIDE_MAX)
#define HIT_CAP0 (1u << 20)

struct vblock {
    int v0, nv;                                               /* velocities [v0, v0 + nv) */
    int ox[SSO_STACK_MAX_EPOCHS], oy[SSO_STACK_MAX_EPOCHS];   /* smallest offsets per epoch */
};

struct stack_args {
    const float *psi[SSO_STACK_MAX_EPOCHS], *phi[SSO_STACK_MAX_EPOCHS];
    int w, h, sw, sh, ntx, z0;
    float k2;
    const vblock *blocks;
    const int *delta;   /* per permuted velocity, per epoch: shared-memory index delta */
    const int *iv;      /* per permuted velocity: its grid index */
    const uint8_t *tile_on;
    sso_k_stack_hit *hits;
    unsigned int *n_hits;
    unsigned int cap;
};

// CUDA kernels

template <int NE>
__global__ void __launch_bounds__(NT) stack_kernel(const __grid_constant__ stack_args a)
{
    extern __shared__ float2 s_pf[];
    if (!a.tile_on[blockIdx.y * a.ntx + blockIdx.x])
        return; /* uniform over the block, before any barrier */
    const vblock *vb = a.blocks + a.z0 + blockIdx.z;
    const int nv = vb->nv, v0 = vb->v0, plane = a.sw * a.sh;
    int *s_delta = (int *)(s_pf + NE * plane);
    int *s_iv = s_delta + VB_MAX * NE;
    const int tid = threadIdx.y * TW + threadIdx.x;
    for (int i = tid; i < nv * NE; i += NT)
        s_delta[i] = a.delta[(size_t)v0 * NE + i];
    for (int i = tid; i < nv; i += NT)
        s_iv[i] = a.iv[v0 + i];
    const int x0 = blockIdx.x * TW, y0 = blockIdx.y * TH;
#pragma unroll
    for (int e = 0; e < NE; e++) {
        const int gx0 = x0 + vb->ox[e], gy0 = y0 + vb->oy[e];
        const float *__restrict__ ps = a.psi[e];
        const float *__restrict__ ph = a.phi[e];
        float2 *dst = s_pf + e * plane;
        for (int ry = threadIdx.y; ry < a.sh; ry += TYT) {
            const int gy = gy0 + ry;
            const bool row_in = gy >= 0 && gy < a.h;
            for (int rx = threadIdx.x; rx < a.sw; rx += TW) {
                const int gx = gx0 + rx;
                float2 v = make_float2(0.0f, 0.0f);
                if (row_in && gx >= 0 && gx < a.w) {
                    const size_t i = (size_t)gy * a.w + gx;
                    v.x = __ldg(ps + i);
                    v.y = __ldg(ph + i);
                }
                dst[ry * a.sw + rx] = v;
            }
        }
    }
    __syncthreads();
    const int x = x0 + threadIdx.x;
    const int base = threadIdx.y * a.sw + threadIdx.x;
    for (int k = 0; k < nv; k++) {
        int d[NE];
#pragma unroll
        for (int e = 0; e < NE; e++)
            d[e] = s_delta[k * NE + e];
#pragma unroll
        for (int p = 0; p < PY; p++) {
            const int b = base + p * TYT * a.sw;
            float s = 0.0f, t = 0.0f;
#pragma unroll
            for (int e = 0; e < NE; e++) {
                const float2 v = s_pf[b + d[e]];
                s = __fadd_rn(s, v.x);
                t = __fadd_rn(t, v.y);
            }
            if (s > 0.0f && __fmul_rn(s, s) >= __fmul_rn(a.k2, t)) {
                const int y = y0 + threadIdx.y + p * TYT;
                if (x < a.w && y < a.h) {
                    const unsigned int i = atomicAdd(a.n_hits, 1u);
                    if (i < a.cap) {
                        sso_k_stack_hit hh;
                        hh.x = x, hh.y = y, hh.iv = s_iv[k];
                        a.hits[i] = hh;
                    }
                }
            }
        }
    }
}

namespace {

typedef void (*kernel_fn)(const stack_args);

kernel_fn pick_kernel(int ne)
{
    switch (ne) {
    case 2: return stack_kernel<2>;
    case 3: return stack_kernel<3>;
    case 4: return stack_kernel<4>;
    case 5: return stack_kernel<5>;
    case 6: return stack_kernel<6>;
    case 7: return stack_kernel<7>;
    case 8: return stack_kernel<8>;
    default: return nullptr;
    }
}

int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Host-side plan of one search: velocity blocks, deltas, tiles. */
struct plan {
    int side = 0, sw = 0, sh = 0, nblocks = 0;
    size_t smem = 0;
    vblock *blocks = nullptr;
    int *delta = nullptr, *iv = nullptr;
    ~plan()
    {
        free(blocks);
        free(delta);
        free(iv);
    }
};

/* Groups the velocities into side x side squares of the grid and sizes the shared region. */
sso_status make_plan(const sso_k_stack_job *j, int side, plan *pl)
{
    const int ne = j->n_epochs;
    const int64_t nv = j->n_vel;
    int gmin_i = 0, gmin_j = 0, gmax_i = 0, gmax_j = 0;
    int *key = (int *)malloc(sizeof(int) * (size_t)nv);
    int *cnt = NULL;
    sso_status st = SSO_OK;
    free(pl->blocks), free(pl->delta), free(pl->iv);
    pl->blocks = nullptr, pl->delta = pl->iv = nullptr;
    if (!key)
        return sso_fail(SSO_ERR_NOMEM, "stack (cuda): %lld velocities", (long long)nv);
    for (int64_t v = 0; v < nv; v++) {
        const int gi = floor_div((int)lround(j->vx[v] / j->dv_px_h), side);
        const int gj = floor_div((int)lround(j->vy[v] / j->dv_px_h), side);
        if (v == 0 || gi < gmin_i) gmin_i = gi;
        if (v == 0 || gj < gmin_j) gmin_j = gj;
        if (v == 0 || gi > gmax_i) gmax_i = gi;
        if (v == 0 || gj > gmax_j) gmax_j = gj;
    }
    const int bw = gmax_i - gmin_i + 1, bh = gmax_j - gmin_j + 1;
    const size_t nkeys = (size_t)bw * bh;
    cnt = (int *)calloc(nkeys + 1, sizeof(int));
    pl->iv = (int *)malloc(sizeof(int) * (size_t)nv);
    pl->delta = (int *)malloc(sizeof(int) * (size_t)nv * ne);
    pl->blocks = (vblock *)calloc(nkeys ? nkeys : 1, sizeof(vblock));
    if (!cnt || !pl->iv || !pl->delta || !pl->blocks) {
        st = sso_fail(SSO_ERR_NOMEM, "stack (cuda): velocity blocks");
        goto exit;
    }
    for (int64_t v = 0; v < nv; v++) {
        const int gi = floor_div((int)lround(j->vx[v] / j->dv_px_h), side) - gmin_i;
        const int gj = floor_div((int)lround(j->vy[v] / j->dv_px_h), side) - gmin_j;
        key[v] = gj * bw + gi;
        cnt[key[v] + 1]++;
    }
    for (size_t k = 0; k < nkeys; k++) /* exclusive prefix: block k's first permuted velocity */
        cnt[k + 1] += cnt[k];
    {
        int nb = 0, spx = 0, spy = 0;
        for (size_t k = 0; k < nkeys; k++) {
            if (cnt[k + 1] == cnt[k])
                continue;
            vblock *b = &pl->blocks[nb++];
            b->v0 = cnt[k];
            b->nv = 0;
        }
        /* fill the permutation, block by block in key order (stable: grid order inside) */
        int *fill = (int *)malloc(sizeof(int) * (nkeys ? nkeys : 1));
        if (!fill) {
            st = sso_fail(SSO_ERR_NOMEM, "stack (cuda): velocity blocks");
            goto exit;
        }
        for (size_t k = 0; k < nkeys; k++)
            fill[k] = cnt[k];
        for (int64_t v = 0; v < nv; v++)
            pl->iv[fill[key[v]]++] = (int)v;
        free(fill);
        for (int bi = 0; bi < nb; bi++) {
            vblock *b = &pl->blocks[bi];
            int mxx[SSO_STACK_MAX_EPOCHS], mxy[SSO_STACK_MAX_EPOCHS];
            b->nv = (bi + 1 < nb ? pl->blocks[bi + 1].v0 : (int)nv) - b->v0;
            for (int e = 0; e < ne; e++) {
                const int v = pl->iv[b->v0];
                b->ox[e] = mxx[e] = j->offx[(int64_t)v * ne + e];
                b->oy[e] = mxy[e] = j->offy[(int64_t)v * ne + e];
            }
            for (int k = 0; k < b->nv; k++)
                for (int e = 0; e < ne; e++) {
                    const int v = pl->iv[b->v0 + k];
                    const int ox = j->offx[(int64_t)v * ne + e], oy = j->offy[(int64_t)v * ne + e];
                    b->ox[e] = ox < b->ox[e] ? ox : b->ox[e];
                    b->oy[e] = oy < b->oy[e] ? oy : b->oy[e];
                    mxx[e] = ox > mxx[e] ? ox : mxx[e];
                    mxy[e] = oy > mxy[e] ? oy : mxy[e];
                }
            for (int e = 0; e < ne; e++) {
                spx = mxx[e] - b->ox[e] > spx ? mxx[e] - b->ox[e] : spx;
                spy = mxy[e] - b->oy[e] > spy ? mxy[e] - b->oy[e] : spy;
            }
        }
        pl->side = side;
        pl->nblocks = nb;
        pl->sw = TW + spx;
        pl->sh = TH + spy;
        pl->smem = (size_t)ne * pl->sw * pl->sh * sizeof(float2) + (size_t)VB_MAX * ne * sizeof(int) +
                   VB_MAX * sizeof(int);
        for (int bi = 0; bi < nb; bi++) {
            const vblock *b = &pl->blocks[bi];
            for (int k = 0; k < b->nv; k++)
                for (int e = 0; e < ne; e++) {
                    const int v = pl->iv[b->v0 + k];
                    const int rx = j->offx[(int64_t)v * ne + e] - b->ox[e];
                    const int ry = j->offy[(int64_t)v * ne + e] - b->oy[e];
                    pl->delta[(size_t)(b->v0 + k) * ne + e] = e * pl->sw * pl->sh + ry * pl->sw + rx;
                }
        }
    }
exit:
    free(key);
    free(cnt);
    return st;
}

} // namespace

// kernel launchers

extern "C" sso_status sso_k_stack_search(const sso_k_stack_job *j, sso_k_stack_hit **hits_out,
                                         size_t *n_out, int64_t *n_samples, double *kernel_s)
{
    return sso_k_stack_search_tr(j, hits_out, n_out, n_samples, kernel_s, NULL);
}

/* The same, with the compulsory bytes of the search (sso_stack_bytes_moved) and its kernel time
 * (the run whose hits are returned) when tr is given. */
extern "C" sso_status sso_k_stack_search_tr(const sso_k_stack_job *j, sso_k_stack_hit **hits_out,
                                            size_t *n_out, int64_t *n_samples, double *kernel_s,
                                            sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_PF, S_BLOCKS, S_DELTA, S_IV, S_TILES, S_HITS, S_COUNT };
    void *p = NULL;
    cudaStream_t s;
    cudaEvent_t ev0 = nullptr, ev1 = nullptr;
    plan pl;
    uint8_t *tile_on = NULL;
    sso_k_stack_hit *hits = NULL;
    float *d_pf;
    vblock *d_blocks;
    int *d_delta, *d_iv, dev = 0, smem_optin = 0;
    uint8_t *d_tiles;
    sso_k_stack_hit *d_hits;
    unsigned int *d_count, count = 0, cap = HIT_CAP0;
    int64_t samples = 0;
    float ms = 0.0f;
    kernel_fn fn;
    stack_args a;
    if (!j || !hits_out || !n_out || !j->psi || !j->phi || !j->offx || !j->offy || !j->vx ||
        !j->vy || j->w <= 0 || j->h <= 0 || j->n_vel < 1 || !(j->dv_px_h > 0.0) ||
        !(fn = pick_kernel(j->n_epochs)))
        return sso_fail(SSO_ERR_ARG, "stack (cuda): bad job (%d epochs)", j ? j->n_epochs : -1);
    *hits_out = NULL;
    *n_out = 0;
    const int ne = j->n_epochs, w = j->w, h = j->h;
    const size_t np = (size_t)w * h;
    const int ntx = SSO_CEIL_DIV(w, TW), nty = SSO_CEIL_DIV(h, TH);
    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    /* the largest velocity blocks whose shared region fits (and leaves room for 2 blocks/SM) */
    for (int side = VB_SIDE_MAX;; side /= 2) {
        SSO_TRY(make_plan(j, side, &pl));
        if (pl.smem <= (size_t)smem_optin / 2 || side == 1)
            break;
    }
    if (pl.smem > (size_t)smem_optin) {
        st = sso_fail(SSO_ERR_ARG, "stack (cuda): offsets too spread for shared memory (%zu B > %d B)",
                      pl.smem, smem_optin);
        goto exit;
    }
    CUDA_TRY(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)pl.smem));

    /* tiles any start-pixel run touches, and the samples they hold */
    tile_on = (uint8_t *)calloc((size_t)ntx * nty, 1);
    if (!tile_on) {
        st = sso_fail(SSO_ERR_NOMEM, "stack (cuda): tile map");
        goto exit;
    }
    for (int y = 0; y < h; y++) {
        if (!j->runs || !j->row_run) {
            memset(tile_on, 1, (size_t)ntx * nty);
            break;
        }
        for (int64_t r = j->row_run[y]; r < j->row_run[y + 1]; r++)
            for (int tx = j->runs[2 * r] / TW; tx <= (j->runs[2 * r + 1] - 1) / TW; tx++)
                tile_on[(size_t)(y / TH) * ntx + tx] = 1;
    }
    for (int ty = 0; ty < nty; ty++)
        for (int tx = 0; tx < ntx; tx++)
            if (tile_on[(size_t)ty * ntx + tx]) {
                const int64_t tw = w - tx * TW < TW ? w - tx * TW : TW;
                const int64_t th = h - ty * TH < TH ? h - ty * TH : TH;
                samples += tw * th * j->n_vel * ne;
            }

    for (int e = 0; e < ne; e++)
        if (!j->psi[e] || !j->phi[e]) {
            st = sso_fail(SSO_ERR_ARG, "stack (cuda): epoch %d has no psi/phi", e);
            goto exit;
        }
    if (samples == 0) { /* no tile to search (a patch beyond the detectors): no upload either */
        hits = (sso_k_stack_hit *)malloc(sizeof(sso_k_stack_hit));
        if (!hits) {
            st = sso_fail(SSO_ERR_NOMEM, "stack (cuda): hit list");
            goto exit;
        }
        *hits_out = hits;
        hits = NULL;
        if (n_samples)
            *n_samples = 0;
        if (kernel_s)
            *kernel_s = 0.0;
        if (tr)
            tr->bytes = 0, tr->kernel_ms = 0.0;
        goto exit;
    }

    /* uploads: per epoch only the rows the searched tiles read (a tile's shared region spans rows
     * y0 + oy[e] .. y0 + oy[e] + sh - 1 over the velocity blocks' oy[e]); rows outside that band
     * are never read, so what the buffer held there does not matter */
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_PF, 2 * (size_t)ne * np * sizeof(float), &p));
    d_pf = (float *)p;
    {
        int ty_lo = nty, ty_hi = -1;
        for (int ty = 0; ty < nty; ty++)
            for (int tx = 0; tx < ntx; tx++)
                if (tile_on[(size_t)ty * ntx + tx])
                    ty_lo = ty < ty_lo ? ty : ty_lo, ty_hi = ty > ty_hi ? ty : ty_hi;
        for (int e = 0; e < ne; e++) {
            int oy_lo = INT_MAX, oy_hi = INT_MIN;
            for (int b = 0; b < pl.nblocks; b++) {
                oy_lo = pl.blocks[b].oy[e] < oy_lo ? pl.blocks[b].oy[e] : oy_lo;
                oy_hi = pl.blocks[b].oy[e] > oy_hi ? pl.blocks[b].oy[e] : oy_hi;
            }
            long long r0 = (long long)ty_lo * TH + oy_lo, r1 = (long long)ty_hi * TH + oy_hi + pl.sh;
            r0 = r0 < 0 ? 0 : r0, r1 = r1 > h ? h : r1; /* rows [r0, r1) */
            a.psi[e] = d_pf + (size_t)(2 * e) * np;
            a.phi[e] = d_pf + (size_t)(2 * e + 1) * np;
            if (r1 <= r0)
                continue; /* every read of this epoch falls off the image */
            const size_t o = (size_t)r0 * w, n = (size_t)(r1 - r0) * w;
            CUDA_TRY(cudaMemcpyAsync((void *)(a.psi[e] + o), j->psi[e] + o, n * sizeof(float),
                                     cudaMemcpyHostToDevice, s));
            CUDA_TRY(cudaMemcpyAsync((void *)(a.phi[e] + o), j->phi[e] + o, n * sizeof(float),
                                     cudaMemcpyHostToDevice, s));
        }
    }
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_BLOCKS, (size_t)pl.nblocks * sizeof(vblock), &p));
    d_blocks = (vblock *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_DELTA, (size_t)j->n_vel * ne * sizeof(int), &p));
    d_delta = (int *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_IV, (size_t)j->n_vel * sizeof(int), &p));
    d_iv = (int *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_TILES, (size_t)ntx * nty, &p));
    d_tiles = (uint8_t *)p;
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_COUNT, sizeof(unsigned int), &p));
    d_count = (unsigned int *)p;
    CUDA_TRY(cudaMemcpyAsync(d_blocks, pl.blocks, (size_t)pl.nblocks * sizeof(vblock),
                             cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_delta, pl.delta, (size_t)j->n_vel * ne * sizeof(int),
                             cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_iv, pl.iv, (size_t)j->n_vel * sizeof(int), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_tiles, tile_on, (size_t)ntx * nty, cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaEventCreate(&ev0));
    CUDA_TRY(cudaEventCreate(&ev1));
    a.w = w, a.h = h, a.sw = pl.sw, a.sh = pl.sh, a.ntx = ntx, a.k2 = j->k2;
    a.blocks = d_blocks, a.delta = d_delta, a.iv = d_iv, a.tile_on = d_tiles, a.n_hits = d_count;

    /* search; once more with a larger list if the hits overflowed it */
    for (int attempt = 0; attempt < 2; attempt++) {
        SSO_TRY(sso_k_scratch(SSO_K_SLOT_STACK + S_HITS, (size_t)cap * sizeof(sso_k_stack_hit), &p));
        d_hits = (sso_k_stack_hit *)p;
        a.hits = d_hits, a.cap = cap;
        CUDA_TRY(cudaMemsetAsync(d_count, 0, sizeof(unsigned int), s));
        CUDA_TRY(cudaEventRecord(ev0, s));
        for (int z0 = 0; z0 < pl.nblocks; z0 += 65535) {
            const int nz = pl.nblocks - z0 < 65535 ? pl.nblocks - z0 : 65535;
            a.z0 = z0;
            fn<<<dim3(ntx, nty, nz), dim3(TW, TYT), pl.smem, s>>>(a);
            CUDA_TRY(cudaGetLastError());
        }
        CUDA_TRY(cudaEventRecord(ev1, s));
        CUDA_TRY(cudaMemcpyAsync(&count, d_count, sizeof count, cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaStreamSynchronize(s));
        if (count <= cap)
            break;
        if (attempt == 1) {
            st = sso_fail(SSO_ERR_INTERNAL, "stack (cuda): hit count grew between two runs");
            goto exit;
        }
        cap = count;
    }
    CUDA_TRY(cudaEventElapsedTime(&ms, ev0, ev1));
    hits = (sso_k_stack_hit *)malloc(sizeof(sso_k_stack_hit) * (count ? count : 1));
    if (!hits) {
        st = sso_fail(SSO_ERR_NOMEM, "stack (cuda): %u hits", count);
        goto exit;
    }
    if (count) {
        CUDA_TRY(cudaMemcpyAsync(hits, d_hits, sizeof(sso_k_stack_hit) * count,
                                 cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaStreamSynchronize(s));
    }
    *hits_out = hits;
    hits = NULL;
    *n_out = count;
    if (n_samples)
        *n_samples = samples;
    if (kernel_s)
        *kernel_s = 1e-3 * ms;
    if (tr) {
        tr->bytes = sso_stack_bytes_moved(np, ne, (uint64_t)j->n_vel, count);
        tr->kernel_ms = ms;
    }
exit:
    if (ev0)
        cudaEventDestroy(ev0);
    if (ev1)
        cudaEventDestroy(ev1);
    free(tile_on);
    free(hits);
    return st;
}
