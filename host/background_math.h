/* host/background_math.h: the arithmetic of background estimation (include/sso/background.h).
 *
 * Three pieces:
 *   - the mesh geometry (which pixels a cell holds, where its node sits): SSO_HD;
 *   - the per-pixel interpolation of the mesh, bicubic or bilinear: SSO_HD, so the CUDA twin
 *     evaluates exactly what host/background.c evaluates;
 *   - the clipped statistic of one cell: its iteration is defined here once in terms of what both
 *     backends share (SSO_HD: which cells are usable, the clip interval, the mode estimate and
 *     rms); the host selects medians in place on a scratch copy of a cell's pixels (16k floats),
 *     the GPU (kernels/background.cu) by radix selection over the cell in device memory, both
 *     exact, so they agree up to the order of the double sums;
 *   - the spline's second derivatives along a mesh line: host-only (both backends build the mesh
 *     on the host).
 *
 * Mesh coordinates: nx cells of width cw = w / nx (a float) across; pixel x (centre at x) lies in
 * cell floor((x + 0.5) / cw); node i (the cell centre) at x = (i + 0.5) cw - 0.5. In node units
 * u = (x + 0.5) / cw - 0.5. Second derivatives are stored per node spacing squared (h = 1), so
 * the evaluation needs no cell size. The bicubic spline is the tensor product of natural cubic
 * splines: on each patch it is fixed by f, f_xx, f_yy and f_xxyy at its 4 corner nodes, where
 * f_xx are the 1-D spline second derivatives along mesh rows, f_yy along mesh columns, and
 * f_xxyy those along rows of f_yy. Outside the outermost nodes (the outer half cell) the end
 * patch's cubic continues.
 */
#ifndef SSO_BACKGROUND_MATH_H
#define SSO_BACKGROUND_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "host/sso_hd.h"

/* A read-only view of an interpolation-ready mesh (nx * ny floats per plane, row-major). */
typedef struct sso_bkg_mesh {
    int nx, ny;          /* cells across, down (>= 1) */
    float cw, ch;        /* cell width, height [px] */
    const float *f;      /* node values */
    const float *fxx;    /* d2/du2 per node spacing^2 (bicubic only) */
    const float *fyy;    /* d2/dv2 */
    const float *fxxyy;  /* d4/du2dv2 */
} sso_bkg_mesh;

/* First pixel of cell i of a line of n pixels cut into ncell cells (i = ncell gives n). */
SSO_HD static inline int sso_bkg_cell_lo(int i, int ncell, int n)
{
    if (i >= ncell)
        return n;
    float c = (float)n / (float)ncell;
    int lo = (int)ceilf((float)i * c - 0.5f);
    return lo < 0 ? 0 : (lo > n ? n : lo);
}

/* Interval index i0 (0..n-2, or 0 when n == 1) and offset t (may leave [0, 1] at the ends) of
 * pixel coordinate x on a line of n nodes spaced c pixels. */
SSO_HD static inline int sso_bkg_locate(float x, float c, int n, float *t)
{
    float u = (x + 0.5f) / c - 0.5f;
    int i0 = (int)floorf(u);
    int hi = n >= 2 ? n - 2 : 0;
    i0 = i0 < 0 ? 0 : (i0 > hi ? hi : i0);
    *t = n >= 2 ? u - (float)i0 : 0.0f;
    return i0;
}

/* Cubic spline weights at offset t: a = (1 - t, t), c = ((a^3 - a) / 6) for the second
 * derivatives. */
SSO_HD static inline void sso_bkg_weights(float t, float a[2], float c[2])
{
    a[0] = 1.0f - t;
    a[1] = t;
    c[0] = (a[0] * a[0] * a[0] - a[0]) / 6.0f;
    c[1] = (a[1] * a[1] * a[1] - a[1]) / 6.0f;
}

/* The bicubic spline collapsed along y at pixel row y, for mesh column i: g = the column's
 * spline value, gxx = the spline of f_xx (the second derivative along x of the row spline).
 * A row's evaluation computes these once per mesh column. */
SSO_HD static inline void sso_bkg_collapse_y(const sso_bkg_mesh *m, int j0, int j1, const float ay[2],
                                             const float cy[2], int i, float *g, float *gxx)
{
    size_t k0 = (size_t)j0 * (size_t)m->nx + (size_t)i, k1 = (size_t)j1 * (size_t)m->nx + (size_t)i;
    *g = ay[0] * m->f[k0] + ay[1] * m->f[k1] + cy[0] * m->fyy[k0] + cy[1] * m->fyy[k1];
    *gxx = ay[0] * m->fxx[k0] + ay[1] * m->fxx[k1] + cy[0] * m->fxxyy[k0] + cy[1] * m->fxxyy[k1];
}

/* The 1-D spline along x through a row's collapsed values g[], gxx[] (nx each) at pixel x. */
SSO_HD static inline float sso_bkg_eval_row(const float *g, const float *gxx, int nx, float cw, float x)
{
    float tx, ax[2], cx[2];
    int i0 = sso_bkg_locate(x, cw, nx, &tx);
    int i1 = nx >= 2 ? i0 + 1 : i0;
    sso_bkg_weights(tx, ax, cx);
    return ax[0] * g[i0] + ax[1] * g[i1] + cx[0] * gxx[i0] + cx[1] * gxx[i1];
}

/* Bicubic spline value of the mesh at pixel (x, y): the same arithmetic, in the same order, as
 * collapsing the row (sso_bkg_collapse_y) and evaluating it (sso_bkg_eval_row), so a per-pixel
 * kernel and the row-wise CPU loop agree bit for bit. */
SSO_HD static inline float sso_bkg_eval_bicubic(const sso_bkg_mesh *m, float x, float y)
{
    float tx, ty, ay[2], cy[2], ax[2], cx[2], g[2], gxx[2];
    int i0 = sso_bkg_locate(x, m->cw, m->nx, &tx);
    int j0 = sso_bkg_locate(y, m->ch, m->ny, &ty);
    int i1 = m->nx >= 2 ? i0 + 1 : i0, j1 = m->ny >= 2 ? j0 + 1 : j0;
    sso_bkg_weights(ty, ay, cy);
    sso_bkg_weights(tx, ax, cx);
    sso_bkg_collapse_y(m, j0, j1, ay, cy, i0, &g[0], &gxx[0]);
    sso_bkg_collapse_y(m, j0, j1, ay, cy, i1, &g[1], &gxx[1]);
    return ax[0] * g[0] + ax[1] * g[1] + cx[0] * gxx[0] + cx[1] * gxx[1];
}

/* Bilinear value of the mesh at pixel (x, y), constant beyond the outermost nodes. */
SSO_HD static inline float sso_bkg_eval_bilinear(const sso_bkg_mesh *m, float x, float y)
{
    float tx, ty;
    int i0 = sso_bkg_locate(x, m->cw, m->nx, &tx);
    int j0 = sso_bkg_locate(y, m->ch, m->ny, &ty);
    int i1 = m->nx >= 2 ? i0 + 1 : i0, j1 = m->ny >= 2 ? j0 + 1 : j0;
    tx = fminf(fmaxf(tx, 0.0f), 1.0f);
    ty = fminf(fmaxf(ty, 0.0f), 1.0f);
    const float *f = m->f;
    size_t r0 = (size_t)j0 * (size_t)m->nx, r1 = (size_t)j1 * (size_t)m->nx;
    float top = (1.0f - tx) * f[r0 + i0] + tx * f[r0 + i1];
    float bot = (1.0f - tx) * f[r1 + i0] + tx * f[r1 + i1];
    return (1.0f - ty) * top + ty * bot;
}

/* Whether a cell with n usable pixels out of npx gets a statistic of its own (else it is filled
 * from its neighbours). */
SSO_HD static inline int sso_bkg_cell_usable(size_t n, size_t npx, float min_good_frac)
{
    return n >= 3 && (double)n >= (double)min_good_frac * (double)npx;
}

/* The clipping interval [*lo, *hi] of one iteration: median +- k sd. */
SSO_HD static inline void sso_bkg_clip_range(double med, double sd, float k, double *lo, double *hi)
{
    *lo = med - k * sd;
    *hi = med + k * sd;
}

/* The cell's background (SExtractor's mode estimate 2.5 median - 1.5 mean for a mildly skewed
 * distribution, else the median) and rms (clipped sd times the truncation correction). */
SSO_HD static inline void sso_bkg_cell_result(double med, double mean, double sd, double corr,
                                              float *bkg, float *rms)
{
    *bkg = (float)(sd > 0.0 && fabs(mean - med) < 0.3 * sd ? 2.5 * med - 1.5 * mean : med);
    *rms = (float)(sd * corr);
}

/* Compulsory device-memory bytes of the GPU background launchers (kernels/background.cu), for
 * achieved bandwidth. Cells: the image (4 bytes/px) and the mask (1, when given) read once
 * (the selection passes re-read a cell from cache), 9 bytes written per cell. Evaluation: 4 bytes
 * written per pixel and per map wanted (bkg, rms), and that map's 4 mesh planes read. */
static inline uint64_t sso_bkg_cells_bytes_moved(uint64_t npx, int has_mask, uint64_t ncells)
{
    return npx * (has_mask ? 5u : 4u) + ncells * 9u;
}

static inline uint64_t sso_bkg_eval_bytes_moved(uint64_t npx, int n_maps, uint64_t ncells)
{
    return (uint64_t)n_maps * (npx * 4u + ncells * 16u);
}

/* ---- host-only ------------------------------------------------------------------------------ */

/* k-th smallest of v[0..n-1] (0-based), reordering v (Hoare's selection). */
static inline float sso_bkg_select(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        float piv = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv)
                i++;
            while (v[j] > piv)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

/* Median of v[0..n-1] (n >= 1; the mean of the middle two for even n), reordering v. */
static inline double sso_bkg_median(float *v, size_t n)
{
    double a = sso_bkg_select(v, n, (n - 1) / 2);
    if (n % 2)
        return a;
    /* the upper middle is the smallest of v[n/2..] after the selection above */
    float b = v[n / 2];
    for (size_t i = n / 2 + 1; i < n; i++)
        b = v[i] < b ? v[i] : b;
    return 0.5 * (a + (double)b);
}

/* The standard deviation of a Gaussian clipped symmetrically at +-c sigma, in units of sigma. */
static inline double sso_bkg_trunc_sd(double c)
{
    double phi = exp(-0.5 * c * c) / sqrt(2.0 * 3.14159265358979323846);
    double mass = erf(c / sqrt(2.0));
    return sqrt(1.0 - 2.0 * c * phi / mass);
}

/* The factor that turns the converged clipped sd of Gaussian noise into its sigma: the clipped
 * sd s (in units of sigma) satisfies s = trunc_sd(k s) at convergence of k-sigma clipping. */
static inline double sso_bkg_clip_correction(double k)
{
    double s = 1.0;
    for (int i = 0; i < 100; i++)
        s = sso_bkg_trunc_sd(k * s);
    return 1.0 / s;
}

/* Clipped statistic of the n usable pixels v[] of one cell (v is reordered and compacted).
 * Iterates: median, mean and sd of the kept values; keep |v - median| <= k sd; until no value is
 * dropped or max_iter. Writes the background (mode estimate or median, see sso/background.h) and
 * the rms (clipped sd times corr, the Gaussian truncation correction). Returns the number kept. */
static inline size_t sso_bkg_cell_stat(float *v, size_t n, float k, int max_iter, double corr,
                                       float *bkg, float *rms)
{
    double med = 0.0, mean = 0.0, sd = 0.0;
    for (int it = 0; it < max_iter && n > 0; it++) {
        med = sso_bkg_median(v, n);
        double s = 0.0, ss = 0.0;
        for (size_t i = 0; i < n; i++)
            s += v[i];
        mean = s / (double)n;
        for (size_t i = 0; i < n; i++)
            ss += ((double)v[i] - mean) * ((double)v[i] - mean);
        sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
        double lo, hi;
        sso_bkg_clip_range(med, sd, k, &lo, &hi);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i] >= lo && v[i] <= hi)
                v[m++] = v[i];
        if (m == n || m == 0)
            break;
        n = m;
    }
    sso_bkg_cell_result(med, mean, sd, corr, bkg, rms);
    return n;
}

/* Natural cubic spline second derivatives (per node spacing^2) of n values y[i * ys], written to
 * d[i * ds]; scratch holds n doubles. */
static inline void sso_bkg_spline_d2(const float *y, ptrdiff_t ys, int n, float *d, ptrdiff_t ds,
                                     double *scratch)
{
    for (int i = 0; i < n; i++)
        d[i * ds] = 0.0f;
    if (n < 3)
        return;
    /* Thomas algorithm on d[i-1] + 4 d[i] + d[i+1] = 6 (y[i+1] - 2 y[i] + y[i-1]), d0 = dn = 0:
     * scratch keeps the modified diagonal's reciprocal, d the modified right-hand side. */
    double *cp = scratch;
    double rhs_prev = 0.0;
    for (int i = 1; i < n - 1; i++) {
        double r = 6.0 * ((double)y[(i + 1) * ys] - 2.0 * (double)y[i * ys] + (double)y[(i - 1) * ys]);
        double diag = 4.0 - (i > 1 ? cp[i - 1] : 0.0);
        cp[i] = 1.0 / diag;
        rhs_prev = (r - (i > 1 ? rhs_prev : 0.0)) / diag;
        d[i * ds] = (float)rhs_prev;
    }
    for (int i = n - 3; i >= 1; i--)
        d[i * ds] = (float)((double)d[i * ds] - cp[i] * (double)d[(i + 1) * ds]);
}

#endif
