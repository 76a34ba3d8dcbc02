/* host/fast_bank.c: the streak bank by a segment pyramid (contract in host/fast_bank.h).
 *
 * Data layout. Per orientation o (0: x-major, the major axis a = x, minor m = y; 1: y-major, a = y,
 * m = x) the level-0 images are psi/phi as rows per major index (A rows of M minor elements): a
 * transposed copy for o = 0, the images themselves for o = 1. Level j >= 1 of one angle: nb_j =
 * ceil(A / 2^j) rows (blocks) of M + 2 R_j floats (R_j = 2^j + 2; host/fast_math.h). The pyramid is
 * walked depth first over the angle tree (level j angle i has children 2i, 2i + 1 at level j + 1),
 * so a worker holds one angle per level: memory ~ 2 x (psi, phi) x Npx per worker, not per angle.
 * Work is split by the level-1 angles (the roots) over the workers; each worker writes its own
 * samples and the cal slots of its own angles (the y-major 45/135 degree angles duplicate x-major
 * ones and are skipped).
 * Evaluation of a level j, angle i: per line of the angle (intercept j0, lines 1 px apart across,
 * all that cross the image) the prefix sums S over blocks of the block values read on the line
 * (minor j0 + t a, interpolated across as the pyramid is), in double; a length L of q blocks
 * (q = round(L cos(phi) / 2^j)) starting at block s is S[s + q] - S[s] (clamped to the line), the
 * segment covering major samples [s 2^j, (s + q) 2^j).
 * Backends: sso_fast_bank_run_on() sends the bank to kernels/fast.cu (breadth first over batches
 * of root angles, same arithmetic) for CUDA, or AUTO with a device; AUTO falls back to the CPU on
 * SSO_ERR_NO_DEVICE.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "host/background_math.h"
#include "host/fast_bank.h"
#include "host/fast_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

#define PI 3.14159265358979323846
#define CAL_SAMPLES SSO_FAST_BANK_CAL

sso_status sso_fast_bank_plan(const double *len_px, int n_len, double fwhm_px, double ang_k,
                              sso_fast_bank *b)
{
    if (!len_px || !b || n_len < 1 || n_len > SSO_FAST_BANK_MAXLEN || !(fwhm_px > 0.0) ||
        !(ang_k > 0.0))
        return sso_fail(SSO_ERR_ARG, "fast bank: %d lengths, fwhm %g, ang_k %g", n_len, fwhm_px,
                        ang_k);
    memset(b, 0, sizeof(*b));
    b->n_len = n_len;
    b->cover = 0.25;
    int need[SSO_FAST_BANK_MAXLEN];
    for (int k = 0; k < n_len; k++) {
        b->len_px[k] = len_px[k];
        int j = 1;
        while (j < SSO_FAST_BANK_MAXLEV && (double)(2 << j) * 8.0 <= len_px[k] * (1.0 + 1e-9))
            j++;
        /* 2^j <= L / 8 < 2^(j+1), at least 1 */
        b->lev[k] = j;
        b->n_lev = j > b->n_lev ? j : b->n_lev;
        /* angle spacing pi / (4 K) <= ang_k fwhm / L */
        need[k] = (int)ceil(PI * len_px[k] / (4.0 * ang_k * fwhm_px));
        need[k] = need[k] < 1 ? 1 : need[k];
    }
    int K1 = 1;
    for (int k = 0; k < n_len; k++) {
        int s = 1 << (b->lev[k] - 1), q = (need[k] + s - 1) / s;
        K1 = q > K1 ? q : K1;
    }
    for (int j = 1; j <= b->n_lev; j++)
        b->K[j] = K1 << (j - 1);
    b->n_ang = 4 * b->K[b->n_lev];
    for (int k = 0; k < n_len; k++) {
        const int j = b->lev[k], Kj = b->K[j];
        int p = 1;
        while (Kj % (2 * p) == 0 && Kj / (2 * p) >= need[k])
            p *= 2;
        b->stp[k] = p;
        b->step[k] = p << (b->n_lev - j);
        b->n_templates += 4 * Kj / p;
    }
    return SSO_OK;
}

/* ---- workers -------------------------------------------------------------------------------- */

typedef struct bank_job {
    const sso_fast_bank *b;
    float *g0p[2], *g0f[2]; /* level 0 per orientation, A x M */
    int A[2], M[2];
    float nu;
    double phi_mean;
    float *cal;
    int n_tasks, task_o[2 * 4096 + 2], task_i[2 * 4096 + 2];
} bank_job;

typedef struct bank_worker {
    const bank_job *J;
    int tid, nt;
    float *gp[SSO_FAST_BANK_MAXLEV + 1], *gf[SSO_FAST_BANK_MAXLEV + 1];
    double *sp, *sf;
    float *tmp;
    sso_fast_raw *raws;
    size_t n, cap;
    sso_status st;
} bank_worker;

static int pad_of(int j) { return j == 0 ? 0 : (1 << j) + 2; }
static int nb_of(int A, int j) { return (A + (1 << j) - 1) >> j; }

/* out (padding Ro) over m in [-Ro, M + Ro) = lo at m + hi at m + k + f (pyramid rows, padding
 * Ri; hi NULL: none). The interior runs without bounds checks; the edges through the element
 * function, which defines the result. */
static void level_row(float *out, int Ro, const float *lo, const float *hi, int Ri, int M, int k,
                      float f)
{
    int a = -Ro, z = M + Ro - 1;
    int ia = -Ri, iz = M + Ri - 1; /* lo valid */
    if (hi) {
        ia = ia > -Ri - k ? ia : -Ri - k;
        iz = iz < M + Ri - 2 - k ? iz : M + Ri - 2 - k;
    }
    if (ia < a)
        ia = a;
    if (iz > z)
        iz = z;
    if (iz < ia)
        ia = z + 1, iz = z;
    for (int m = a; m < ia; m++)
        out[m + Ro] = sso_fast_level_elem(lo, hi, Ri, M, m, k, f);
    if (hi) {
        const float g = 1.0f - f;
        const float *L = lo + Ri, *H = hi + Ri + k;
        float *O = out + Ro;
        for (int m = ia; m <= iz; m++)
            O[m] = L[m] + g * H[m] + f * H[m + 1];
    } else {
        for (int m = ia; m <= iz; m++)
            out[m + Ro] = lo[m + Ri];
    }
    for (int m = iz + 1; m <= z; m++)
        out[m + Ro] = sso_fast_level_elem(lo, hi, Ri, M, m, k, f);
}

/* Builds level j angle i (slope t) of orientation o into the worker's level-j buffers. */
static void build(bank_worker *wk, int o, int j, double t)
{
    const bank_job *J = wk->J;
    const int A = J->A[o], M = J->M[o], nb = nb_of(A, j), nbp = nb_of(A, j - 1);
    const int Ri = pad_of(j - 1), Ro = pad_of(j), wi = M + 2 * Ri, wo = M + 2 * Ro;
    const float *pp = j == 1 ? J->g0p[o] : wk->gp[j - 1];
    const float *pf = j == 1 ? J->g0f[o] : wk->gf[j - 1];
    int k;
    float f;
    sso_fast_split(t * (double)(1 << (j - 1)), &k, &f);
    for (int blk = 0; blk < nb; blk++) {
        const int b0 = 2 * blk, b1 = 2 * blk + 1;
        level_row(wk->gp[j] + (size_t)blk * wo, Ro, pp + (size_t)b0 * wi,
                  b1 < nbp ? pp + (size_t)b1 * wi : NULL, Ri, M, k, f);
        level_row(wk->gf[j] + (size_t)blk * wo, Ro, pf + (size_t)b0 * wi,
                  b1 < nbp ? pf + (size_t)b1 * wi : NULL, Ri, M, k, f);
    }
}

/* S[blk + 1][jr] = S[blk][jr] + the block row read at minor jlo + jr + s (s = t blk 2^j). */
static void prefix_row(double *dst, const double *src, const float *row, int R, int M, int jlo,
                       int nrow, int k, float f)
{
    const float g = 1.0f - f;
    for (int jr = 0; jr < nrow; jr++) {
        const int m = jlo + jr + k;
        float v;
        if (m >= -R && m + 1 < M + R)
            v = g * row[m + R] + f * row[m + 1 + R];
        else
            v = g * sso_fast_row_at(row, R, M, m) + f * sso_fast_row_at(row, R, M, m + 1);
        dst[jr] = src[jr] + v;
    }
}

static int push_raw(bank_worker *wk, const sso_fast_raw *r)
{
    if (wk->n == wk->cap) {
        size_t nc = wk->cap ? 2 * wk->cap : 1024;
        sso_fast_raw *nr = realloc(wk->raws, sizeof(*nr) * nc);
        if (!nr)
            return 0;
        wk->raws = nr, wk->cap = nc;
    }
    wk->raws[wk->n++] = *r;
    return 1;
}

/* The statistic of the segment of q blocks centred at column ic (starting at block ic - q/2,
 * clamped to the line's nb blocks) on row jr: the prefix sums' differences. */
static inline float r_at(const bank_worker *wk, int nrow, int nb, int q, int ic, int jr,
                         double pf_min)
{
    const int s = ic - q / 2, lo = s < 0 ? 0 : s > nb ? nb : s;
    const int hi = s + q < 0 ? 0 : s + q > nb ? nb : s + q;
    const size_t a = (size_t)hi * nrow + jr, b = (size_t)lo * nrow + jr;
    return sso_fast_seg_stat(wk->sp[a] - wk->sp[b], wk->sf[a] - wk->sf[b], pf_min);
}

/* Evaluates the lengths of level j at angle i (slope t, angle phi) of orientation o. */
static void evaluate(bank_worker *wk, int o, int j, int i, double phi)
{
    const bank_job *J = wk->J;
    const sso_fast_bank *B = J->b;
    const int A = J->A[o], M = J->M[o], nb = nb_of(A, j), R = pad_of(j), wrow = M + 2 * R;
    const int bl = 1 << j;
    const double t = tan(phi);
    const int jlo = (int)floor(-fmax(0.0, t) * (A - 1)) - 1;
    const int jhi = (int)ceil(M - 1 - fmin(0.0, t) * (A - 1)) + 1;
    const int nrow = jhi - jlo + 1;
    int any = 0;
    for (int k = 0; k < B->n_len; k++)
        any |= B->lev[k] == j && i % B->stp[k] == 0;
    if (!any)
        return;
    memset(wk->sp, 0, sizeof(double) * (size_t)nrow);
    memset(wk->sf, 0, sizeof(double) * (size_t)nrow);
    for (int blk = 0; blk < nb; blk++) {
        int k;
        float f;
        sso_fast_split(t * (double)blk * bl, &k, &f);
        prefix_row(wk->sp + (size_t)(blk + 1) * nrow, wk->sp + (size_t)blk * nrow,
                   wk->gp[j] + (size_t)blk * wrow, R, M, jlo, nrow, k, f);
        prefix_row(wk->sf + (size_t)(blk + 1) * nrow, wk->sf + (size_t)blk * nrow,
                   wk->gf[j] + (size_t)blk * wrow, R, M, jlo, nrow, k, f);
    }
    const double theta = o == 0 ? (phi < 0.0 ? phi + PI : phi) : PI / 2 - phi;
    const int sh = B->n_lev - j;
    int slot = o == 0 ? i * (1 << sh) : 2 * B->K[B->n_lev] - i * (1 << sh);
    slot = ((slot % B->n_ang) + B->n_ang) % B->n_ang;
    const int ncol = nb + 1;
    for (int kk = 0; kk < B->n_len; kk++) {
        if (B->lev[kk] != j || i % B->stp[kk])
            continue;
        int q = (int)lround(B->len_px[kk] * cos(phi) / bl);
        q = q < 1 ? 1 : q;
        const double pf_min = B->cover * J->phi_mean * q * bl;
        /* r at (ic, jr) is sso_fast_seg_stat of the block sums from ic - q/2 (clamped) to ic - q/2
         * + q; it is computed only where needed (the calibration samples, the threshold's
         * candidates and their 4 neighbours): the full map of sqrt and division was most of the
         * bank's time. */
#define R_AT(ic_, jr_) r_at(wk, nrow, nb, q, ic_, jr_, pf_min)
        const size_t tot = (size_t)nrow * ncol, sub = tot / CAL_SAMPLES + 1;
        size_t ns = 0;
        for (size_t x = 0; x < tot; x += sub) {
            const float v = R_AT((int)(x / (size_t)nrow), (int)(x % (size_t)nrow));
            if (!isnan(v))
                wk->tmp[ns++] = fabsf(v);
        }
        double cs = 1.0;
        if (ns >= 32) {
            cs = sso_bkg_select(wk->tmp, ns, ns / 2) / 0.6744897501960817;
            cs = cs > 0.0 ? cs : 1.0;
        }
        J->cal[(size_t)slot * B->n_len + kk] = (float)cs;
        const float thr = (float)(J->nu * cs);
        /* a square-root-free superset of r >= thr: ps > 0 and ps^2 >= (thr (1 - 1e-4))^2 pf (r is
         * ps / sqrt(pf) rounded to float: it passes only if ps / sqrt(pf) >= thr (1 - 2^-23)) */
        const double thr2 = (double)thr * thr * (1.0 - 2e-4);
        for (int ic = 0; ic < ncol; ic++) {
            const int s = ic - q / 2, lo = s < 0 ? 0 : s > nb ? nb : s;
            const int hi = s + q < 0 ? 0 : s + q > nb ? nb : s + q;
            const double *P1 = wk->sp + (size_t)hi * nrow, *P0 = wk->sp + (size_t)lo * nrow;
            const double *F1 = wk->sf + (size_t)hi * nrow, *F0 = wk->sf + (size_t)lo * nrow;
            for (int jr = 0; jr < nrow; jr++) {
                const double ps = P1[jr] - P0[jr], pf = F1[jr] - F0[jr];
                if (!(ps > 0.0 && ps * ps >= thr2 * pf && pf > pf_min))
                    continue;
                const float v = R_AT(ic, jr);
                if (!(v >= thr))
                    continue;
                if ((jr > 0 && R_AT(ic, jr - 1) > v) || (jr + 1 < nrow && R_AT(ic, jr + 1) > v) ||
                    (ic > 0 && R_AT(ic - 1, jr) > v) || (ic + 1 < ncol && R_AT(ic + 1, jr) > v))
                    continue;
                const double ac = (double)(ic - q / 2) * bl + 0.5 * q * bl - 0.5;
                const double mc = jlo + jr + t * ac;
                sso_fast_raw rw = {(float)(v / cs), kk, slot, theta, o == 0 ? ac : mc,
                                   o == 0 ? mc : ac};
                if (!push_raw(wk, &rw)) {
                    wk->st = sso_fail(SSO_ERR_NOMEM, "fast bank: samples");
                    return;
                }
            }
        }
#undef R_AT
    }
}

static void node(bank_worker *wk, int o, int j, int i)
{
    const sso_fast_bank *B = wk->J->b;
    const double phi = i * PI / (4.0 * B->K[j]);
    build(wk, o, j, tan(phi));
    evaluate(wk, o, j, i, phi);
    if (wk->st != SSO_OK || j == B->n_lev)
        return;
    for (int c = 2 * i; c <= 2 * i + 1; c++) {
        const int Kc = B->K[j + 1];
        if (c > Kc || c < -Kc || (o == 1 && (c == Kc || c == -Kc)))
            continue;
        node(wk, o, j + 1, c);
        if (wk->st != SSO_OK)
            return;
    }
}

static void *bank_main(void *arg)
{
    bank_worker *wk = arg;
    const bank_job *J = wk->J;
    for (int q = wk->tid; q < J->n_tasks && wk->st == SSO_OK; q += wk->nt)
        node(wk, J->task_o[q], 1, J->task_i[q]);
    return NULL;
}

static sso_status worker_alloc(bank_worker *wk, const bank_job *J)
{
    const int Amax = J->A[0] > J->A[1] ? J->A[0] : J->A[1];
    const int Mmax = J->M[0] > J->M[1] ? J->M[0] : J->M[1];
    for (int j = 1; j <= J->b->n_lev; j++) {
        size_t n = (size_t)nb_of(Amax, j) * (size_t)(Mmax + 2 * pad_of(j));
        wk->gp[j] = malloc(sizeof(float) * n);
        wk->gf[j] = malloc(sizeof(float) * n);
        if (!wk->gp[j] || !wk->gf[j])
            return sso_fail(SSO_ERR_NOMEM, "fast bank: level %d of %zu floats", j, n);
    }
    const size_t nrow = (size_t)J->A[0] + (size_t)J->M[0] + 4;
    const size_t ncol = (size_t)nb_of(Amax, 1) + 1;
    wk->sp = malloc(sizeof(double) * nrow * (ncol + 1));
    wk->sf = malloc(sizeof(double) * nrow * (ncol + 1));
    wk->tmp = malloc(sizeof(float) * (CAL_SAMPLES + 2));
    if (!wk->sp || !wk->sf || !wk->tmp)
        return sso_fail(SSO_ERR_NOMEM, "fast bank: line buffers of %zu x %zu", nrow, ncol);
    return SSO_OK;
}

static void worker_free(bank_worker *wk)
{
    for (int j = 0; j <= SSO_FAST_BANK_MAXLEV; j++)
        free(wk->gp[j]), free(wk->gf[j]);
    free(wk->sp), free(wk->sf), free(wk->tmp), free(wk->raws);
}

sso_status sso_fast_bank_run(const sso_fast_bank *b, const float *psi, const float *phi, int w,
                             int h, float nu, int n_threads, float *cal, sso_fast_raw **raws,
                             size_t *n_raws)
{
    if (raws)
        *raws = NULL;
    if (n_raws)
        *n_raws = 0;
    if (!b || !psi || !phi || !cal || !raws || !n_raws || w < 1 || h < 1 || b->n_lev < 1)
        return sso_fail(SSO_ERR_ARG, "fast bank: bad arguments");
    if (2 * b->K[1] + 1 > 4096)
        return sso_fail(SSO_ERR_ARG, "fast bank: %d level-1 angles", 2 * b->K[1] + 1);
    const int nt = n_threads < 1 ? 1 : n_threads > 16 ? 16 : n_threads;
    const size_t np = (size_t)w * (size_t)h;
    sso_status st = SSO_OK;
    bank_worker wk[16];
    pthread_t th[16];
    int started[16] = {0};
    memset(wk, 0, sizeof(wk));
    bank_job *J = calloc(1, sizeof(*J));
    if (!J)
        return sso_fail(SSO_ERR_NOMEM, "fast bank: job");
    J->b = b, J->nu = nu, J->cal = cal;
    J->A[0] = w, J->M[0] = h, J->A[1] = h, J->M[1] = w;
    J->g0p[0] = malloc(sizeof(float) * np), J->g0f[0] = malloc(sizeof(float) * np);
    if (!J->g0p[0] || !J->g0f[0]) {
        st = sso_fail(SSO_ERR_NOMEM, "fast bank: transposed images of %d x %d", w, h);
        goto exit;
    }
    J->g0p[1] = (float *)psi, J->g0f[1] = (float *)phi; /* read only */
    double sphi = 0.0;
    size_t nphi = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float fp = phi[(size_t)y * w + x];
            J->g0p[0][(size_t)x * h + y] = psi[(size_t)y * w + x];
            J->g0f[0][(size_t)x * h + y] = fp;
            if (fp > 0.0f)
                sphi += fp, nphi++;
        }
    J->phi_mean = nphi ? sphi / (double)nphi : 0.0;
    for (int o = 0; o < 2; o++)
        for (int i = -b->K[1]; i <= b->K[1]; i++) {
            if (o == 1 && (i == b->K[1] || i == -b->K[1]))
                continue;
            J->task_o[J->n_tasks] = o, J->task_i[J->n_tasks] = i;
            J->n_tasks++;
        }
    for (int i = 0; i < nt; i++) {
        wk[i].J = J, wk[i].tid = i, wk[i].nt = nt, wk[i].st = SSO_OK;
        if ((st = worker_alloc(&wk[i], J)) != SSO_OK)
            goto exit;
    }
    for (int i = 1; i < nt; i++)
        started[i] = pthread_create(&th[i], NULL, bank_main, &wk[i]) == 0;
    bank_main(&wk[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            bank_main(&wk[i]);
    }
    size_t tot = 0;
    for (int i = 0; i < nt; i++) {
        if (wk[i].st != SSO_OK && st == SSO_OK)
            st = wk[i].st;
        tot += wk[i].n;
    }
    if (st != SSO_OK)
        goto exit;
    *raws = malloc(sizeof(sso_fast_raw) * (tot ? tot : 1));
    if (!*raws) {
        st = sso_fail(SSO_ERR_NOMEM, "fast bank: %zu samples", tot);
        goto exit;
    }
    tot = 0;
    for (int i = 0; i < nt; i++) {
        if (wk[i].n)
            memcpy(*raws + tot, wk[i].raws, sizeof(sso_fast_raw) * wk[i].n);
        tot += wk[i].n;
    }
    *n_raws = tot;
exit:
    for (int i = 0; i < nt; i++)
        worker_free(&wk[i]);
    free(J->g0p[0]);
    free(J->g0f[0]);
    free(J);
    return st;
}

sso_status sso_fast_bank_run_on(sso_backend backend, const sso_fast_bank *b, const float *psi,
                                const float *phi, int w, int h, float nu, int n_threads, float *cal,
                                sso_fast_raw **raws, size_t *n_raws, sso_backend *used)
{
    if (used)
        *used = SSO_BACKEND_CPU;
    if (sso_backend_resolve(backend) == SSO_BACKEND_CUDA) {
        sso_status st = sso_k_fast_bank(b, psi, phi, w, h, nu, cal, raws, n_raws, NULL);
        if (st != SSO_ERR_NO_DEVICE || backend != SSO_BACKEND_AUTO) {
            if (used && st == SSO_OK)
                *used = SSO_BACKEND_CUDA;
            return st;
        }
    }
    return sso_fast_bank_run(b, psi, phi, w, h, nu, n_threads, cal, raws, n_raws);
}
