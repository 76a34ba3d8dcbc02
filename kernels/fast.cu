/* kernels/fast.cu: the streak bank of the fast-mover search on the GPU (twin of host/fast_bank.c).
 *
 * What it computes: exactly what sso_fast_bank_run computes, the same segment pyramid, prefix sums,
 * statistic r = sum psi / sqrt(sum phi), per-map noise scale (MAD of <= SSO_FAST_BANK_CAL samples)
 * and local-maximum selection r / c >= nu, returning the same sso_fast_raw list and cal[] table.
 *
 * Structure. The CPU walks the angle tree depth first (one angle per level per worker). Here the
 * level-1 angles (roots, both orientations) are taken in batches that fit a memory budget, and each
 * batch is walked breadth first: for j = 1 .. n_lev, one launch builds level j of every angle of the
 * batch that descends from its roots (k_build: a thread per element, rows of nb_j blocks x
 * (M + 2 R_j) floats per angle, the angle's rows at poff in a flat buffer; level j - 1 in the other
 * half of a ping-pong pair), one launch computes the prefix sums along every line of every evaluated
 * angle (k_prefix: a thread per line walks the blocks in order, in double, exactly the CPU's sum
 * order), and per (length, angle) map of the level, one launch gathers the calibration samples
 * (k_cal), the host takes their median (the CPU's sso_bkg_select on the same values) and one launch
 * tests every sample of every map against its threshold and its 4 neighbours (k_select), appending
 * the maxima through an atomic counter to a hit list (never a dense per-pixel top-k). The r maps are
 * never stored: a sample is two differences of prefix sums, recomputed where needed.
 *
 * Bit parity with the CPU. Every trig value (tan, cos of the angle; the build shift split; pf_min)
 * is computed on the host in double, as the CPU does, and passed in tables. Float arithmetic uses
 * __fadd_rn / __fmul_rn (never contracted into FMA) in the CPU's association: the interior of a
 * level row is (lo + g hi0) + f hi1 (host/fast_bank.c level_row), its edges lo + (g hi0 + f hi1)
 * (sso_fast_level_elem, whose bounds reads sso_fast_row_at are used as is); which elements are
 * interior is decided by the CPU's formula. Prefix sums and the statistic are IEEE double adds,
 * divisions and square roots (sso_fast_seg_stat), correctly rounded on the device too. So r, the
 * calibration samples, the medians and the selection are the CPU's bit for bit; the host still
 * re-applies the CPU's predicate (threshold, strict-greater neighbour test) to each hit with the
 * values the device reports, and converts it to an sso_fast_raw with the CPU's formulas.
 *
 * Traffic (sso_k_traffic.bytes): the compulsory device bytes of the kernels: transposes (read and
 * write psi/phi), each level built (read the two halves' rows once, write the level), each prefix
 * pass (read the level's rows of the evaluated angles, write two (nb + 1) x nrow double planes),
 * per map the calibration gather (the samples' 4 doubles, 4 B out) and the selection (each
 * prefix plane once: 2 doubles per sample of the map), plus the hits written. Counted as the
 * launcher goes (the sizes are data dependent); kernel_ms sums event pairs around the launches.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k_common.cuh"

extern "C" {
#include "host/background_math.h"
#include "host/fast_bank.h"
#include "host/fast_math.h"
}

#define PI 3.14159265358979323846
#define NTH 256
#define HIT_CAP0 (1u << 16)

/* One angle of one level of the batch. */
struct fk_ang {
    int o, i, par;      /* orientation, angle index, parent's index at level j - 1 (-1: level 0) */
    int k;              /* build shift of the second half: integer part */
    float f;            /*   and fraction (sso_fast_split(t 2^(j-1))) */
    double t;           /* tan(phi) */
    size_t poff;        /* first float of its rows in the level buffer */
    size_t soff;        /* first double of its prefix planes (ev only) */
    int jlo, nrow, ev;  /* lines: minor intercepts jlo .. jlo + nrow - 1; ev: evaluated */
};

/* One (length, angle) map of a level. */
struct fk_map {
    int ang, kk, q, nrow, ncol, sub, ns;
    double pf_min;
    float thr;
};

struct fk_hit {
    int map, ic, jr;
    float v, nb[4]; /* value and its neighbours: jr - 1, jr + 1, ic - 1, ic + 1 (NaN: absent) */
};

struct fk_geo {
    int A[2], M[2];
};

__device__ __forceinline__ int fk_pad(int j) { return j == 0 ? 0 : (1 << j) + 2; }
__device__ __forceinline__ int fk_nb(int A, int j) { return (A + (1 << j) - 1) >> j; }

// CUDA kernels

/* dst (A = w rows of M = h) = src (h x w) transposed. */
__global__ void k_transpose(const float *__restrict__ src, float *__restrict__ dst, int w, int h)
{
    const size_t n = (size_t)w * h;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t y = i / w, x = i % w;
        dst[x * h + y] = src[i];
    }
}

/* Level j of angle blockIdx.z, block blockIdx.y, element m = thread - Ro (host/fast_bank.c build
 * and level_row). */
__global__ void k_build(const fk_ang *__restrict__ angs, const fk_ang *__restrict__ pangs, fk_geo g,
                        int j, const float *__restrict__ g0p0, const float *__restrict__ g0f0,
                        const float *__restrict__ g0p1, const float *__restrict__ g0f1,
                        const float *__restrict__ inp, const float *__restrict__ inf,
                        float *__restrict__ outp, float *__restrict__ outf)
{
    const fk_ang a = angs[blockIdx.z];
    const int A = g.A[a.o], M = g.M[a.o], nb = fk_nb(A, j), nbp = fk_nb(A, j - 1);
    const int Ri = fk_pad(j - 1), Ro = fk_pad(j), wi = M + 2 * Ri, wo = M + 2 * Ro;
    const int blk = blockIdx.y, idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= nb || idx >= wo)
        return;
    const int m = idx - Ro, k = a.k;
    const float f = a.f;
    const float *pp, *pf;
    if (j == 1)
        pp = a.o == 0 ? g0p0 : g0p1, pf = a.o == 0 ? g0f0 : g0f1;
    else
        pp = inp + pangs[a.par].poff, pf = inf + pangs[a.par].poff;
    const int b0 = 2 * blk, b1 = 2 * blk + 1;
    const bool has_hi = b1 < nbp;
    const float *lop = pp + (size_t)b0 * wi, *lof = pf + (size_t)b0 * wi;
    const float *hip = has_hi ? pp + (size_t)b1 * wi : nullptr;
    const float *hif = has_hi ? pf + (size_t)b1 * wi : nullptr;
    /* the CPU's interior range (level_row) */
    int lo_ = -Ro, z = M + Ro - 1, ia = -Ri, iz = M + Ri - 1;
    if (has_hi) {
        ia = ia > -Ri - k ? ia : -Ri - k;
        iz = iz < M + Ri - 2 - k ? iz : M + Ri - 2 - k;
    }
    if (ia < lo_)
        ia = lo_;
    if (iz > z)
        iz = z;
    if (iz < ia)
        ia = z + 1, iz = z;
    const float gg = 1.0f - f;
    float vp, vf;
    if (m >= ia && m <= iz) {
        if (has_hi) {
            vp = __fadd_rn(__fadd_rn(lop[m + Ri], __fmul_rn(gg, hip[m + Ri + k])),
                           __fmul_rn(f, hip[m + Ri + k + 1]));
            vf = __fadd_rn(__fadd_rn(lof[m + Ri], __fmul_rn(gg, hif[m + Ri + k])),
                           __fmul_rn(f, hif[m + Ri + k + 1]));
        } else {
            vp = lop[m + Ri];
            vf = lof[m + Ri];
        }
    } else { /* sso_fast_level_elem, without contraction */
        vp = sso_fast_row_at(lop, Ri, M, m);
        vf = sso_fast_row_at(lof, Ri, M, m);
        if (has_hi) {
            vp = __fadd_rn(vp, __fadd_rn(__fmul_rn(gg, sso_fast_row_at(hip, Ri, M, m + k)),
                                         __fmul_rn(f, sso_fast_row_at(hip, Ri, M, m + k + 1))));
            vf = __fadd_rn(vf, __fadd_rn(__fmul_rn(gg, sso_fast_row_at(hif, Ri, M, m + k)),
                                         __fmul_rn(f, sso_fast_row_at(hif, Ri, M, m + k + 1))));
        }
    }
    outp[a.poff + (size_t)blk * wo + idx] = vp;
    outf[a.poff + (size_t)blk * wo + idx] = vf;
}

/* Prefix sums along line jr of evaluated angle blockIdx.y (host/fast_bank.c prefix_row). */
__global__ void k_prefix(const fk_ang *__restrict__ angs, const int *__restrict__ evl, fk_geo g,
                         int j, const float *__restrict__ lp, const float *__restrict__ lf,
                         double *__restrict__ S)
{
    const fk_ang a = angs[evl[blockIdx.y]];
    const int jr = blockIdx.x * blockDim.x + threadIdx.x;
    if (jr >= a.nrow)
        return;
    const int A = g.A[a.o], M = g.M[a.o], nb = fk_nb(A, j), R = fk_pad(j), wrow = M + 2 * R;
    const int bl = 1 << j;
    double *Sp = S + a.soff, *Sf = Sp + (size_t)(nb + 1) * a.nrow;
    double sp = 0.0, sf = 0.0;
    Sp[jr] = 0.0;
    Sf[jr] = 0.0;
    for (int blk = 0; blk < nb; blk++) {
        int k;
        float f;
        sso_fast_split(a.t * (double)blk * bl, &k, &f);
        const float gg = 1.0f - f;
        const int m = a.jlo + jr + k;
        const float *rp = lp + a.poff + (size_t)blk * wrow, *rf = lf + a.poff + (size_t)blk * wrow;
        float vp, vf;
        if (m >= -R && m + 1 < M + R) {
            vp = __fadd_rn(__fmul_rn(gg, rp[m + R]), __fmul_rn(f, rp[m + 1 + R]));
            vf = __fadd_rn(__fmul_rn(gg, rf[m + R]), __fmul_rn(f, rf[m + 1 + R]));
        } else {
            vp = __fadd_rn(__fmul_rn(gg, sso_fast_row_at(rp, R, M, m)),
                           __fmul_rn(f, sso_fast_row_at(rp, R, M, m + 1)));
            vf = __fadd_rn(__fmul_rn(gg, sso_fast_row_at(rf, R, M, m)),
                           __fmul_rn(f, sso_fast_row_at(rf, R, M, m + 1)));
        }
        sp = __dadd_rn(sp, (double)vp);
        sf = __dadd_rn(sf, (double)vf);
        Sp[(size_t)(blk + 1) * a.nrow + jr] = sp;
        Sf[(size_t)(blk + 1) * a.nrow + jr] = sf;
    }
}

/* r at column ic, line jr of map mp (host/fast_bank.c evaluate). */
__device__ __forceinline__ float fk_r(const double *Sp, const double *Sf, const fk_map &mp, int nb,
                                      int ic, int jr)
{
    const int s = ic - mp.q / 2, lo = s < 0 ? 0 : s > nb ? nb : s;
    const int hi = s + mp.q < 0 ? 0 : s + mp.q > nb ? nb : s + mp.q;
    const size_t n = (size_t)mp.nrow;
    return sso_fast_seg_stat(Sp[hi * n + jr] - Sp[lo * n + jr], Sf[hi * n + jr] - Sf[lo * n + jr],
                             mp.pf_min);
}

/* Calibration samples |r| at flat indices x = s sub (x = ic nrow + jr) of map blockIdx.y. */
__global__ void k_cal(const fk_ang *__restrict__ angs, const fk_map *__restrict__ maps,
                      const double *__restrict__ S, float *__restrict__ out, int cap)
{
    const fk_map mp = maps[blockIdx.y];
    const fk_ang a = angs[mp.ang];
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= mp.ns)
        return;
    const int nb = mp.ncol - 1;
    const size_t x = (size_t)s * mp.sub;
    const double *Sp = S + a.soff, *Sf = Sp + (size_t)(nb + 1) * a.nrow;
    const float r = fk_r(Sp, Sf, mp, nb, (int)(x / mp.nrow), (int)(x % mp.nrow));
    out[(size_t)blockIdx.y * cap + s] = isnan(r) ? r : fabsf(r);
}

/* The selection over map blockIdx.y: r >= thr and no 4-neighbour strictly greater. */
__global__ void k_select(const fk_ang *__restrict__ angs, const fk_map *__restrict__ maps, int m0,
                         const double *__restrict__ S, fk_hit *__restrict__ hits,
                         unsigned int *__restrict__ n_hits, unsigned int cap)
{
    const fk_map mp = maps[blockIdx.y];
    const fk_ang a = angs[mp.ang];
    const size_t x = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (x >= (size_t)mp.nrow * mp.ncol)
        return;
    const int nb = mp.ncol - 1, ic = (int)(x / mp.nrow), jr = (int)(x % mp.nrow);
    const double *Sp = S + a.soff, *Sf = Sp + (size_t)(nb + 1) * a.nrow;
    const float v = fk_r(Sp, Sf, mp, nb, ic, jr);
    if (!(v >= mp.thr))
        return;
    float n4[4];
    n4[0] = jr > 0 ? fk_r(Sp, Sf, mp, nb, ic, jr - 1) : NAN;
    n4[1] = jr + 1 < mp.nrow ? fk_r(Sp, Sf, mp, nb, ic, jr + 1) : NAN;
    n4[2] = ic > 0 ? fk_r(Sp, Sf, mp, nb, ic - 1, jr) : NAN;
    n4[3] = ic + 1 < mp.ncol ? fk_r(Sp, Sf, mp, nb, ic + 1, jr) : NAN;
    for (int q = 0; q < 4; q++)
        if (n4[q] > v)
            return;
    const unsigned int i = atomicAdd(n_hits, 1u);
    if (i < cap) {
        fk_hit h;
        h.map = m0 + (int)blockIdx.y, h.ic = ic, h.jr = jr, h.v = v;
        for (int q = 0; q < 4; q++)
            h.nb[q] = n4[q];
        hits[i] = h;
    }
}

namespace {

int nb_h(int A, int j) { return (A + (1 << j) - 1) >> j; }
int pad_h(int j) { return j == 0 ? 0 : (1 << j) + 2; }

struct hvec {
    sso_fast_raw *a = nullptr;
    size_t n = 0, cap = 0;
    ~hvec() { free(a); }
    int push(const sso_fast_raw &r)
    {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 1024;
            sso_fast_raw *na = (sso_fast_raw *)realloc(a, sizeof(*na) * nc);
            if (!na)
                return 0;
            a = na, cap = nc;
        }
        a[n++] = r;
        return 1;
    }
};

/* Device bytes of one root's subtree at every level (pyramid of psi and phi, prefix planes). */
size_t root_bytes(const sso_fast_bank *b, const int A[2], const int M[2])
{
    size_t mx = 0;
    for (int o = 0; o < 2; o++) {
        size_t lev = 0, pre = 0;
        for (int j = 1; j <= b->n_lev; j++) {
            const size_t na = (size_t)1 << (j - 1);
            const size_t lv = na * nb_h(A[o], j) * (size_t)(M[o] + 2 * pad_h(j)) * 2 * sizeof(float);
            const size_t nrow = (size_t)A[o] + M[o] + 4;
            const size_t pr = na * (size_t)(nb_h(A[o], j) + 1) * nrow * 2 * sizeof(double);
            lev = lv > lev ? lv : lev;
            pre = pr > pre ? pr : pre;
        }
        const size_t t = 2 * lev + pre; /* two levels (ping-pong) and one prefix set */
        mx = t > mx ? t : mx;
    }
    return mx;
}

} // namespace

// kernel launchers

extern "C" sso_status sso_k_fast_bank(const sso_fast_bank *b, const float *psi, const float *phi,
                                      int w, int h, float nu, float *cal, sso_fast_raw **raws,
                                      size_t *n_raws, sso_k_traffic *tr)
{
    sso_status st = SSO_OK;
    enum { S_IMG, S_LEV0, S_LEV1, S_PRE, S_ANG, S_PANG, S_EVL, S_MAP, S_CALS, S_HITS, S_COUNT };
    void *p = NULL;
    cudaStream_t s;
    cudaEvent_t ev0 = nullptr, ev1 = nullptr;
    hvec out;
    fk_ang *angs[2] = {nullptr, nullptr};
    int *evl = nullptr, *roots_o = nullptr, *roots_i = nullptr;
    fk_map *maps = nullptr;
    float *calh = nullptr, *tmp = nullptr;
    fk_hit *hh = nullptr;
    float *d_img, *d_lev[2] = {nullptr, nullptr};
    double *d_pre;
    fk_ang *d_ang, *d_pang;
    int *d_evl;
    fk_map *d_map;
    float *d_cals;
    fk_hit *d_hits = nullptr;
    unsigned int *d_count, hcap = HIT_CAP0;
    size_t ptot[2] = {0, 0}, precap = 0, angcap = 0, mapcap = 0, calcap = 0;
    uint64_t bytes = 0;
    double kms = 0.0;
    int n_roots = 0;
    fk_geo geo;
    if (raws)
        *raws = NULL;
    if (n_raws)
        *n_raws = 0;
    if (!b || !psi || !phi || !cal || !raws || !n_raws || w < 1 || h < 1 || b->n_lev < 1 ||
        b->n_lev > SSO_FAST_BANK_MAXLEV)
        return sso_fail(SSO_ERR_ARG, "fast bank (cuda): bad arguments");
    const size_t np = (size_t)w * h;
    geo.A[0] = w, geo.M[0] = h, geo.A[1] = h, geo.M[1] = w;
    memset(cal, 0, sizeof(float) * (size_t)b->n_ang * b->n_len);
    double sphi = 0.0;
    size_t nphi = 0;
    for (size_t i = 0; i < np; i++)
        if (phi[i] > 0.0f)
            sphi += phi[i], nphi++;
    const double phi_mean = nphi ? sphi / (double)nphi : 0.0;

    SSO_TRY(sso_k_stream(&p));
    s = (cudaStream_t)p;
    CUDA_TRY(cudaEventCreate(&ev0));
    CUDA_TRY(cudaEventCreate(&ev1));
    /* psi, phi (y-major level 0), their transposes (x-major level 0) */
    SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_IMG, 4 * np * sizeof(float), &p));
    d_img = (float *)p;
    CUDA_TRY(cudaMemcpyAsync(d_img, psi, np * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(d_img + np, phi, np * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaEventRecord(ev0, s));
    k_transpose<<<(unsigned)((np + NTH - 1) / NTH < 65535 ? (np + NTH - 1) / NTH : 65535), NTH, 0, s>>>(
        d_img, d_img + 2 * np, w, h);
    CUDA_TRY(cudaGetLastError());
    k_transpose<<<(unsigned)((np + NTH - 1) / NTH < 65535 ? (np + NTH - 1) / NTH : 65535), NTH, 0, s>>>(
        d_img + np, d_img + 3 * np, w, h);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaEventRecord(ev1, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    {
        float ms = 0.0f;
        CUDA_TRY(cudaEventElapsedTime(&ms, ev0, ev1));
        kms += ms;
    }
    bytes += 4 * np * sizeof(float);

    /* roots (the CPU's task list) and batches within a memory budget */
    roots_o = (int *)malloc(sizeof(int) * (4 * (size_t)b->K[1] + 2));
    roots_i = (int *)malloc(sizeof(int) * (4 * (size_t)b->K[1] + 2));
    tmp = (float *)malloc(sizeof(float) * (SSO_FAST_BANK_CAL + 2));
    if (!roots_o || !roots_i || !tmp) {
        st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): root list");
        goto exit;
    }
    for (int o = 0; o < 2; o++)
        for (int i = -b->K[1]; i <= b->K[1]; i++) {
            if (o == 1 && (i == b->K[1] || i == -b->K[1]))
                continue;
            roots_o[n_roots] = o, roots_i[n_roots] = i;
            n_roots++;
        }
    {
        size_t fr = 0, tot = 0;
        CUDA_TRY(cudaMemGetInfo(&fr, &tot));
        size_t budget = fr / 3;
        const size_t cap_b = (size_t)4 << 30;
        budget = budget < cap_b ? budget : cap_b;
        const size_t rb = root_bytes(b, geo.A, geo.M);
        int batch = (int)(budget / (rb ? rb : 1));
        batch = batch < 1 ? 1 : batch;
        for (int r0 = 0; r0 < n_roots; r0 += batch) {
            const int r1 = r0 + batch < n_roots ? r0 + batch : n_roots;
            int nprev = 0;
            for (int j = 1; j <= b->n_lev; j++) {
                const int cur = j & 1, prv = cur ^ 1, half = 1 << (j - 1);
                /* this level's angles: descendants of the batch's roots, in root order */
                const size_t maxa = (size_t)(r1 - r0) * half;
                fk_ang *A = (fk_ang *)realloc(angs[cur], sizeof(fk_ang) * maxa);
                if (!A) {
                    st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): angle table");
                    goto exit;
                }
                angs[cur] = A;
                int na = 0;
                size_t poff = 0, soff = 0;
                for (int r = r0; r < r1; r++)
                    for (int d = 0; d < half; d++) {
                        const int o = roots_o[r], c = roots_i[r] * half + d;
                        if (c > b->K[j] || c < -b->K[j] || (o == 1 && (c == b->K[j] || c == -b->K[j])))
                            continue;
                        fk_ang *g = &A[na];
                        memset(g, 0, sizeof *g);
                        g->o = o, g->i = c;
                        g->par = -1;
                        if (j > 1) { /* parent c >> 1 (floor) at level j - 1 of the same root */
                            const int pc = (c - (c < 0 && (c & 1) ? 1 : 0)) / 2;
                            for (int q = 0; q < nprev; q++)
                                if (angs[prv][q].o == o && angs[prv][q].i == pc) {
                                    g->par = q;
                                    break;
                                }
                            if (g->par < 0) {
                                st = sso_fail(SSO_ERR_INTERNAL, "fast bank (cuda): no parent");
                                goto exit;
                            }
                        }
                        const double ph = c * PI / (4.0 * b->K[j]);
                        g->t = tan(ph);
                        sso_fast_split(tan(ph) * (double)(1 << (j - 1)), &g->k, &g->f);
                        const int Ao = geo.A[o], Mo = geo.M[o];
                        g->poff = poff;
                        poff += (size_t)nb_h(Ao, j) * (size_t)(Mo + 2 * pad_h(j));
                        int any = 0;
                        for (int kk = 0; kk < b->n_len; kk++)
                            any |= b->lev[kk] == j && c % b->stp[kk] == 0;
                        g->ev = any;
                        if (any) {
                            const double t = tan(ph);
                            g->jlo = (int)floor(-fmax(0.0, t) * (Ao - 1)) - 1;
                            const int jhi = (int)ceil(Mo - 1 - fmin(0.0, t) * (Ao - 1)) + 1;
                            g->nrow = jhi - g->jlo + 1;
                            g->soff = soff;
                            soff += 2 * (size_t)(nb_h(Ao, j) + 1) * g->nrow;
                        }
                        na++;
                    }
                /* buffers (grow-only; the previous level's stays as it is) */
                SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_LEV0 + cur, 2 * poff * sizeof(float), &p));
                d_lev[cur] = (float *)p;
                ptot[cur] = poff;
                if (soff > precap)
                    precap = soff;
                SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_PRE, precap * sizeof(double), &p));
                d_pre = (double *)p;
                if ((size_t)na > angcap)
                    angcap = (size_t)na;
                SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_ANG, angcap * sizeof(fk_ang), &p));
                d_ang = (fk_ang *)p;
                SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_PANG, angcap * sizeof(fk_ang), &p));
                d_pang = (fk_ang *)p;
                SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_EVL, angcap * sizeof(int), &p));
                d_evl = (int *)p;
                SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_COUNT, sizeof(unsigned int), &p));
                d_count = (unsigned int *)p;
                CUDA_TRY(cudaStreamSynchronize(s)); /* the tables below are reused host memory */
                CUDA_TRY(cudaMemcpyAsync(d_ang, A, sizeof(fk_ang) * na, cudaMemcpyHostToDevice, s));
                if (j > 1)
                    CUDA_TRY(cudaMemcpyAsync(d_pang, angs[prv], sizeof(fk_ang) * nprev,
                                             cudaMemcpyHostToDevice, s));
                /* build */
                {
                    const int Mmax = w > h ? w : h, Amax = w > h ? w : h;
                    const int wo = Mmax + 2 * pad_h(j), nbm = nb_h(Amax, j);
                    float *inb = j > 1 ? d_lev[prv] : nullptr;
                    CUDA_TRY(cudaEventRecord(ev0, s));
                    for (int a0 = 0; a0 < na; a0 += 65535) {
                        const int nz = na - a0 < 65535 ? na - a0 : 65535;
                        k_build<<<dim3((wo + NTH - 1) / NTH, nbm, nz), NTH, 0, s>>>(
                            d_ang + a0, d_pang, geo, j, d_img + 2 * np, d_img + 3 * np, d_img,
                            d_img + np, inb, inb ? inb + ptot[prv] : nullptr, d_lev[cur],
                            d_lev[cur] + poff);
                        CUDA_TRY(cudaGetLastError());
                    }
                    /* write the level; read the parents' level (level 0: the orientations' images) */
                    uint64_t rd = j > 1 ? ptot[prv] : 0;
                    if (j == 1)
                        for (int o = 0; o < 2; o++)
                            for (int a = 0; a < na; a++)
                                if (A[a].o == o) {
                                    rd += np;
                                    break;
                                }
                    bytes += 2 * ((uint64_t)poff + rd) * sizeof(float);
                }
                /* the level's psi plane at 0, its phi plane at poff (= ptot[cur]) */
                /* prefix sums along the evaluated angles' lines */
                evl = (int *)realloc(evl, sizeof(int) * (na ? na : 1));
                if (!evl) {
                    st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): angle list");
                    goto exit;
                }
                {
                    int ne = 0, maxrow = 1;
                    for (int a = 0; a < na; a++)
                        if (A[a].ev) {
                            evl[ne++] = a;
                            maxrow = A[a].nrow > maxrow ? A[a].nrow : maxrow;
                        }
                    if (ne) {
                        CUDA_TRY(cudaMemcpyAsync(d_evl, evl, sizeof(int) * ne, cudaMemcpyHostToDevice, s));
                        k_prefix<<<dim3((maxrow + NTH - 1) / NTH, ne), NTH, 0, s>>>(
                            d_ang, d_evl, geo, j, d_lev[cur], d_lev[cur] + poff, d_pre);
                        CUDA_TRY(cudaGetLastError());
                        bytes += (uint64_t)soff * sizeof(double);
                        for (int a = 0; a < na; a++)
                            if (A[a].ev)
                                bytes += 2 * (uint64_t)nb_h(geo.A[A[a].o], j) *
                                         (geo.M[A[a].o] + 2 * pad_h(j)) * sizeof(float);
                    }
                    CUDA_TRY(cudaEventRecord(ev1, s));
                    CUDA_TRY(cudaStreamSynchronize(s));
                    float ms = 0.0f;
                    CUDA_TRY(cudaEventElapsedTime(&ms, ev0, ev1));
                    kms += ms;
                }
                /* maps of this level: (length, evaluated angle) */
                {
                    int nm = 0;
                    size_t maxtot = 1;
                    int maxns = 1;
                    for (int a = 0; a < na; a++)
                        for (int kk = 0; kk < b->n_len; kk++)
                            nm += A[a].ev && b->lev[kk] == j && A[a].i % b->stp[kk] == 0;
                    if (nm > 0) {
                        if ((size_t)nm > mapcap) {
                            fk_map *nmp = (fk_map *)realloc(maps, sizeof(fk_map) * nm);
                            float *nc = (float *)realloc(calh, sizeof(float) * (size_t)nm * SSO_FAST_BANK_CAL);
                            if (nmp)
                                maps = nmp;
                            if (nc)
                                calh = nc;
                            if (!nmp || !nc) {
                                st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): %d maps", nm);
                                goto exit;
                            }
                            mapcap = (size_t)nm;
                        }
                        nm = 0;
                        const int bl = 1 << j;
                        for (int a = 0; a < na; a++) {
                            if (!A[a].ev)
                                continue;
                            const double ph = A[a].i * PI / (4.0 * b->K[j]);
                            const int nb = nb_h(geo.A[A[a].o], j);
                            for (int kk = 0; kk < b->n_len; kk++) {
                                if (b->lev[kk] != j || A[a].i % b->stp[kk])
                                    continue;
                                fk_map *mp = &maps[nm++];
                                memset(mp, 0, sizeof *mp);
                                mp->ang = a, mp->kk = kk;
                                int q = (int)lround(b->len_px[kk] * cos(ph) / bl);
                                mp->q = q < 1 ? 1 : q;
                                mp->pf_min = b->cover * phi_mean * mp->q * bl;
                                mp->nrow = A[a].nrow, mp->ncol = nb + 1;
                                const size_t tot = (size_t)mp->nrow * mp->ncol;
                                const size_t sub = tot / SSO_FAST_BANK_CAL + 1;
                                mp->sub = (int)sub;
                                mp->ns = (int)((tot + sub - 1) / sub);
                                maxtot = tot > maxtot ? tot : maxtot;
                                maxns = mp->ns > maxns ? mp->ns : maxns;
                            }
                        }
                        if ((size_t)nm * SSO_FAST_BANK_CAL > calcap)
                            calcap = (size_t)nm * SSO_FAST_BANK_CAL;
                        SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_MAP, sizeof(fk_map) * mapcap, &p));
                        d_map = (fk_map *)p;
                        SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_CALS, sizeof(float) * calcap, &p));
                        d_cals = (float *)p;
                        CUDA_TRY(cudaMemcpyAsync(d_map, maps, sizeof(fk_map) * nm, cudaMemcpyHostToDevice, s));
                        CUDA_TRY(cudaEventRecord(ev0, s));
                        for (int m0 = 0; m0 < nm; m0 += 65535) {
                            const int nz = nm - m0 < 65535 ? nm - m0 : 65535;
                            k_cal<<<dim3((maxns + NTH - 1) / NTH, nz), NTH, 0, s>>>(
                                d_ang, d_map + m0, d_pre, d_cals + (size_t)m0 * SSO_FAST_BANK_CAL,
                                SSO_FAST_BANK_CAL);
                            CUDA_TRY(cudaGetLastError());
                        }
                        CUDA_TRY(cudaEventRecord(ev1, s));
                        CUDA_TRY(cudaMemcpyAsync(calh, d_cals, sizeof(float) * (size_t)nm * SSO_FAST_BANK_CAL,
                                                 cudaMemcpyDeviceToHost, s));
                        CUDA_TRY(cudaStreamSynchronize(s));
                        float ms = 0.0f;
                        CUDA_TRY(cudaEventElapsedTime(&ms, ev0, ev1));
                        kms += ms;
                        /* the CPU's noise scale per map, on the same samples */
                        double *csv = (double *)malloc(sizeof(double) * nm);
                        if (!csv) {
                            st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): scales");
                            goto exit;
                        }
                        for (int mi = 0; mi < nm; mi++) {
                            fk_map *mp = &maps[mi];
                            const fk_ang *g = &A[mp->ang];
                            size_t ns = 0;
                            for (int q = 0; q < mp->ns; q++) {
                                const float v = calh[(size_t)mi * SSO_FAST_BANK_CAL + q];
                                if (!isnan(v))
                                    tmp[ns++] = v;
                            }
                            double cs = 1.0;
                            if (ns >= 32) {
                                cs = sso_bkg_select(tmp, ns, ns / 2) / 0.6744897501960817;
                                cs = cs > 0.0 ? cs : 1.0;
                            }
                            const int sh = b->n_lev - j;
                            int slot = g->o == 0 ? g->i * (1 << sh) : 2 * b->K[b->n_lev] - g->i * (1 << sh);
                            slot = ((slot % b->n_ang) + b->n_ang) % b->n_ang;
                            cal[(size_t)slot * b->n_len + mp->kk] = (float)cs;
                            mp->thr = (float)(nu * cs);
                            csv[mi] = cs;
                            bytes += (uint64_t)mp->ns * (4 * sizeof(double) + sizeof(float)) +
                                     (uint64_t)mp->nrow * mp->ncol * 2 * sizeof(double);
                        }
                        CUDA_TRY(cudaMemcpyAsync(d_map, maps, sizeof(fk_map) * nm, cudaMemcpyHostToDevice, s));
                        /* selection; once more with a larger list if the hits overflowed it */
                        unsigned int count = 0;
                        for (int attempt = 0; attempt < 2; attempt++) {
                            SSO_TRY(sso_k_scratch(SSO_K_SLOT_FAST + S_HITS, (size_t)hcap * sizeof(fk_hit), &p));
                            d_hits = (fk_hit *)p;
                            CUDA_TRY(cudaMemsetAsync(d_count, 0, sizeof(unsigned int), s));
                            CUDA_TRY(cudaEventRecord(ev0, s));
                            for (int m0 = 0; m0 < nm; m0 += 65535) {
                                const int nz = nm - m0 < 65535 ? nm - m0 : 65535;
                                k_select<<<dim3((unsigned)((maxtot + NTH - 1) / NTH), nz), NTH, 0, s>>>(
                                    d_ang, d_map + m0, m0, d_pre, d_hits, d_count, hcap);
                                CUDA_TRY(cudaGetLastError());
                            }
                            CUDA_TRY(cudaEventRecord(ev1, s));
                            CUDA_TRY(cudaMemcpyAsync(&count, d_count, sizeof count, cudaMemcpyDeviceToHost, s));
                            CUDA_TRY(cudaStreamSynchronize(s));
                            if (count <= hcap)
                                break;
                            hcap = count;
                            if (attempt == 1) {
                                free(csv);
                                st = sso_fail(SSO_ERR_INTERNAL, "fast bank (cuda): hit count grew");
                                goto exit;
                            }
                        }
                        CUDA_TRY(cudaEventElapsedTime(&ms, ev0, ev1));
                        kms += ms;
                        bytes += (uint64_t)count * sizeof(fk_hit);
                        if (count) {
                            fk_hit *nh = (fk_hit *)realloc(hh, sizeof(fk_hit) * count);
                            if (!nh) {
                                free(csv);
                                st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): %u hits", count);
                                goto exit;
                            }
                            hh = nh;
                            CUDA_TRY(cudaMemcpyAsync(hh, d_hits, sizeof(fk_hit) * count,
                                                     cudaMemcpyDeviceToHost, s));
                            CUDA_TRY(cudaStreamSynchronize(s));
                        }
                        /* the host re-applies the CPU's predicate and converts (evaluate()) */
                        for (unsigned int hi = 0; hi < count; hi++) {
                            const fk_hit *x = &hh[hi];
                            const fk_map *mp = &maps[x->map];
                            const fk_ang *g = &A[mp->ang];
                            const float v = x->v;
                            if (!(v >= mp->thr) || x->nb[0] > v || x->nb[1] > v || x->nb[2] > v ||
                                x->nb[3] > v)
                                continue;
                            const double ph = g->i * PI / (4.0 * b->K[j]);
                            const double theta = g->o == 0 ? (ph < 0.0 ? ph + PI : ph) : PI / 2 - ph;
                            const int sh = b->n_lev - j;
                            int slot = g->o == 0 ? g->i * (1 << sh) : 2 * b->K[b->n_lev] - g->i * (1 << sh);
                            slot = ((slot % b->n_ang) + b->n_ang) % b->n_ang;
                            const double ac = (double)(x->ic - mp->q / 2) * bl + 0.5 * mp->q * bl - 0.5;
                            const double mc = g->jlo + x->jr + g->t * ac;
                            sso_fast_raw rw = {(float)(v / csv[x->map]), mp->kk, slot, theta,
                                               g->o == 0 ? ac : mc, g->o == 0 ? mc : ac};
                            if (!out.push(rw)) {
                                free(csv);
                                st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): samples");
                                goto exit;
                            }
                        }
                        free(csv);
                    }
                }
                nprev = na;
            }
        }
    }
    if (out.n) {
        *raws = out.a;
        *n_raws = out.n;
        out.a = nullptr;
    } else if (!(*raws = (sso_fast_raw *)malloc(sizeof(sso_fast_raw)))) {
        st = sso_fail(SSO_ERR_NOMEM, "fast bank (cuda): samples");
        goto exit;
    }
    if (tr) {
        tr->bytes = bytes;
        tr->kernel_ms = kms;
    }
exit:
    if (ev0)
        cudaEventDestroy(ev0);
    if (ev1)
        cudaEventDestroy(ev1);
    free(angs[0]);
    free(angs[1]);
    free(evl);
    free(roots_o);
    free(roots_i);
    free(maps);
    free(calh);
    free(tmp);
    free(hh);
    return st;
}
