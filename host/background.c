/* host/background.c: background and rms maps of one detector, CPU reference.
 *
 * The contract is in include/sso/background.h; the arithmetic in host/background_math.h.
 * Data flow: image -> per-cell clipped statistic (two nx*ny planes, bkg and rms, and a validity
 * byte per cell) -> neighbour fill of invalid cells -> median filter over the mesh -> spline
 * second-derivative planes (f_xx, f_yy, f_xxyy per plane) -> per-pixel evaluation. Everything at
 * mesh resolution is tiny (~1000 cells for a full CCD); the time goes into the cell statistics
 * (a few passes over each cell's pixels) and the per-pixel evaluation (16 multiply-adds).
 * Backend: with params backend CUDA (or AUTO and a device) exactly those two run on the GPU
 * (sso_k_background_cells, sso_k_background_eval in kernels/background.cu); the mesh steps in
 * between stay here, the same code for both.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/background_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/background.h"

sso_background_params sso_background_params_default(void)
{
    sso_background_params p;
    p.cell_px = 128;
    p.filter_cells = 3;
    p.clip_sigma = 3.0f;
    p.max_iter = 20;
    p.min_good_frac = 0.5f;
    p.interp = SSO_BKG_BICUBIC;
    p.backend = SSO_BACKEND_CPU;
    return p;
}

/* A mesh plane with its spline derivatives: 4 arrays of n floats in one allocation. */
typedef struct mesh_plane {
    float *f, *fxx, *fyy, *fxxyy;
} mesh_plane;

/* Estimate of an invalid cell (i, j) of plane a from valid cells, exact for a plane: the mean of
 * the interpolations (v[-d] + v[+d]) / 2 over the 4 lines through the cell where both sides are
 * valid; failing that, the mean of the extrapolations 2 v[d] - v[2d] over the 8 directions where
 * both are valid; failing that, the mean of the valid 8-neighbours. Returns 0 if none is valid. */
static int fill_one(const float *a, const uint8_t *valid, int nx, int ny, int i, int j, float *out)
{
    static const int dx[8] = {1, 0, 1, 1, -1, 0, -1, -1}, dy[8] = {0, 1, 1, -1, 0, -1, -1, 1};
#define FILL_OK(ii, jj) ((ii) >= 0 && (jj) >= 0 && (ii) < nx && (jj) < ny && valid[(size_t)(jj) * nx + (ii)])
#define FILL_V(ii, jj) ((double)a[(size_t)(jj) * nx + (ii)])
    double s = 0.0;
    int n = 0;
    for (int d = 0; d < 4; d++)
        if (FILL_OK(i + dx[d], j + dy[d]) && FILL_OK(i - dx[d], j - dy[d])) {
            s += 0.5 * (FILL_V(i + dx[d], j + dy[d]) + FILL_V(i - dx[d], j - dy[d]));
            n++;
        }
    for (int d = 0; d < 8 && n == 0; d++)
        if (FILL_OK(i + dx[d], j + dy[d]) && FILL_OK(i + 2 * dx[d], j + 2 * dy[d])) {
            s += 2.0 * FILL_V(i + dx[d], j + dy[d]) - FILL_V(i + 2 * dx[d], j + 2 * dy[d]);
            n++;
        }
    for (int d = 0; d < 8 && n == 0; d++)
        if (FILL_OK(i + dx[d], j + dy[d])) {
            s += FILL_V(i + dx[d], j + dy[d]);
            n++;
        }
#undef FILL_OK
#undef FILL_V
    if (n)
        *out = (float)(s / n);
    return n > 0;
}

/* Fills the cells with valid[k] == 0 in planes a and b (fill_one), pass after pass, each pass
 * using only cells valid when it started, until all are valid (at least one must be). */
static void fill_invalid(float *a, float *b, uint8_t *valid, uint8_t *next, int nx, int ny)
{
    for (;;) {
        int missing = 0;
        memcpy(next, valid, (size_t)nx * ny);
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                size_t k = (size_t)j * nx + i;
                if (valid[k])
                    continue;
                if (fill_one(a, valid, nx, ny, i, j, &a[k]) && fill_one(b, valid, nx, ny, i, j, &b[k]))
                    next[k] = 1;
                else
                    missing = 1;
            }
        memcpy(valid, next, (size_t)nx * ny);
        if (!missing)
            return;
    }
}

/* Mesh value at (i, j), extended beyond the mesh by linear extrapolation, one step in each axis
 * at most beyond what the mesh holds (2 v[0] - v[1]; v[0] when the axis has one node). */
static float mesh_ext(const float *a, int nx, int ny, int i, int j)
{
    if (i < 0 || i >= nx) {
        int e = i < 0 ? 0 : nx - 1, in = i < 0 ? 1 : nx - 2;
        if (nx < 2)
            return mesh_ext(a, nx, ny, 0, j);
        int steps = i < 0 ? -i : i - (nx - 1);
        float v0 = mesh_ext(a, nx, ny, e, j), v1 = mesh_ext(a, nx, ny, in, j);
        return v0 + (float)steps * (v0 - v1);
    }
    if (j < 0 || j >= ny) {
        int e = j < 0 ? 0 : ny - 1, in = j < 0 ? 1 : ny - 2;
        if (ny < 2)
            return a[(size_t)i];
        int steps = j < 0 ? -j : j - (ny - 1);
        float v0 = a[(size_t)e * nx + i], v1 = a[(size_t)in * nx + i];
        return v0 + (float)steps * (v0 - v1);
    }
    return a[(size_t)j * nx + i];
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* out = median filter of a over fs x fs cells (fs odd), extended at the edges (mesh_ext). */
static void median_filter(const float *a, float *out, int nx, int ny, int fs)
{
    int r = fs / 2;
    float win[49 * 49];
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            int n = 0;
            for (int dj = -r; dj <= r; dj++)
                for (int di = -r; di <= r; di++)
                    win[n++] = mesh_ext(a, nx, ny, i + di, j + dj);
            qsort(win, (size_t)n, sizeof win[0], cmp_float);
            out[(size_t)j * nx + i] = win[n / 2];
        }
}

/* The spline derivative planes of m->f (nx * ny). scratch: max(nx, ny) doubles. */
static void spline_planes(mesh_plane *m, int nx, int ny, double *scratch)
{
    for (int j = 0; j < ny; j++) /* along rows */
        sso_bkg_spline_d2(m->f + (size_t)j * nx, 1, nx, m->fxx + (size_t)j * nx, 1, scratch);
    for (int i = 0; i < nx; i++) /* along columns */
        sso_bkg_spline_d2(m->f + i, nx, ny, m->fyy + i, nx, scratch);
    for (int j = 0; j < ny; j++) /* cross term: f_yy along rows */
        sso_bkg_spline_d2(m->fyy + (size_t)j * nx, 1, nx, m->fxxyy + (size_t)j * nx, 1, scratch);
}

/* Evaluates the mesh at every pixel, row by row: the bicubic spline is collapsed along y once per
 * row and mesh column (g, gxx: 2 nx floats of scratch), then 4 multiply-adds per pixel. */
static void evaluate(const mesh_plane *mp, int nx, int ny, int w, int h, sso_background_interp interp,
                     int clamp_zero, float *g, float *out)
{
    sso_bkg_mesh m = {nx, ny, (float)w / (float)nx, (float)h / (float)ny,
                      mp->f, mp->fxx, mp->fyy, mp->fxxyy};
    float *gxx = g + nx;
    for (int y = 0; y < h; y++) {
        float *row = out + (size_t)y * w;
        if (interp == SSO_BKG_BILINEAR) {
            for (int x = 0; x < w; x++)
                row[x] = sso_bkg_eval_bilinear(&m, (float)x, (float)y);
        } else {
            float ty, ay[2], cy[2];
            int j0 = sso_bkg_locate((float)y, m.ch, ny, &ty), j1 = ny >= 2 ? j0 + 1 : j0;
            sso_bkg_weights(ty, ay, cy);
            for (int i = 0; i < nx; i++)
                sso_bkg_collapse_y(&m, j0, j1, ay, cy, i, &g[i], &gxx[i]);
            for (int x = 0; x < w; x++)
                row[x] = sso_bkg_eval_row(g, gxx, nx, m.cw, (float)x);
        }
        if (clamp_zero)
            for (int x = 0; x < w; x++)
                row[x] = row[x] < 0.0f ? 0.0f : row[x];
    }
}

/* Step 1 on the CPU: the clipped statistic of every cell with enough usable pixels (valid 1);
 * scratch holds the largest cell. Returns whether any cell is valid. */
static int cells_cpu(const float *img_e, const uint8_t *mask, int w, int h, int nx, int ny,
                     const sso_background_params *p, double corr, float *scratch, float *raw_b,
                     float *raw_r, uint8_t *valid)
{
    int any = 0;
    for (int j = 0; j < ny; j++) {
        int y0 = sso_bkg_cell_lo(j, ny, h), y1 = sso_bkg_cell_lo(j + 1, ny, h);
        for (int i = 0; i < nx; i++) {
            int x0 = sso_bkg_cell_lo(i, nx, w), x1 = sso_bkg_cell_lo(i + 1, nx, w);
            size_t n = 0, k = (size_t)j * nx + i;
            for (int y = y0; y < y1; y++) {
                const float *row = img_e + (size_t)y * w;
                const uint8_t *mrow = mask ? mask + (size_t)y * w : NULL;
                for (int x = x0; x < x1; x++)
                    if ((!mrow || !mrow[x]) && isfinite(row[x]))
                        scratch[n++] = row[x];
            }
            size_t npx = (size_t)(y1 - y0) * (size_t)(x1 - x0);
            if (sso_bkg_cell_usable(n, npx, p->min_good_frac)) {
                sso_bkg_cell_stat(scratch, n, p->clip_sigma, p->max_iter, corr, &raw_b[k], &raw_r[k]);
                valid[k] = 1;
                any = 1;
            }
        }
    }
    return any;
}

sso_status sso_background_estimate(const float *img_e, const uint8_t *mask, int w, int h,
                                   const sso_background_params *p, float *bkg_e, float *bkg_rms_e)
{
    sso_background_params def = sso_background_params_default();
    if (!p)
        p = &def;
    if (!img_e || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "background: no image or bad size %d x %d", w, h);
    if (p->cell_px < 4 || p->filter_cells < 1 || p->filter_cells > 49 || p->filter_cells % 2 == 0 ||
        !(p->clip_sigma > 1.0f) || p->max_iter < 1 || !(p->min_good_frac >= 0.0f) ||
        p->min_good_frac > 1.0f || (p->interp != SSO_BKG_BICUBIC && p->interp != SSO_BKG_BILINEAR))
        return sso_fail(SSO_ERR_ARG,
                        "background: bad parameters (cell %d px, filter %d cells, clip %g sigma, "
                        "%d iterations, min good fraction %g)",
                        p->cell_px, p->filter_cells, (double)p->clip_sigma, p->max_iter,
                        (double)p->min_good_frac);

    sso_status rc = SSO_OK;
    int nx = (int)lround((double)w / p->cell_px), ny = (int)lround((double)h / p->cell_px);
    nx = nx < 1 ? 1 : nx;
    ny = ny < 1 ? 1 : ny;
    size_t nc = (size_t)nx * ny;
    int maxcw = sso_bkg_cell_lo(1, nx, w) - sso_bkg_cell_lo(0, nx, w) + 2;
    int maxch = sso_bkg_cell_lo(1, ny, h) - sso_bkg_cell_lo(0, ny, h) + 2;
    size_t cellcap = (size_t)maxcw * maxch * 2;

    float *planes = calloc(nc * 10, sizeof(float));
    uint8_t *valid = calloc(nc * 2, 1);
    float *scratch = malloc(cellcap * sizeof(float));
    double *dscratch = malloc((size_t)(nx > ny ? nx : ny) * sizeof(double));
    float *rowscratch = malloc((size_t)nx * 2 * sizeof(float));
    if (!planes || !valid || !scratch || !dscratch || !rowscratch) {
        rc = sso_fail(SSO_ERR_NOMEM, "background: mesh of %d x %d cells", nx, ny);
        goto exit;
    }
    float *raw_b = planes, *raw_r = planes + nc;
    mesh_plane mb = {planes + 2 * nc, planes + 3 * nc, planes + 4 * nc, planes + 5 * nc};
    mesh_plane mr = {planes + 6 * nc, planes + 7 * nc, planes + 8 * nc, planes + 9 * nc};
    const double corr = sso_bkg_clip_correction(p->clip_sigma);

    /* 1. per-cell clipped statistic: on the GPU or here; the mesh steps after it run here either
     * way, and the evaluation (5.) where the statistic ran */
    int any = 0, on_gpu = 0;
    if (sso_backend_resolve(p->backend) == SSO_BACKEND_CUDA) {
        rc = sso_k_background_cells(img_e, mask, w, h, nx, ny, p, corr, raw_b, raw_r, valid, NULL);
        if (rc != SSO_ERR_NO_DEVICE || p->backend != SSO_BACKEND_AUTO) {
            if (rc)
                goto exit;
            on_gpu = 1;
        }
        rc = SSO_OK; /* AUTO without a usable device: the CPU */
    }
    if (on_gpu)
        for (size_t k = 0; k < nc; k++)
            any |= valid[k];
    else
        any = cells_cpu(img_e, mask, w, h, nx, ny, p, corr, scratch, raw_b, raw_r, valid);
    if (!any) {
        rc = sso_fail(SSO_ERR_ALL_NAN, "background: no cell of %d x %d has enough usable pixels",
                      nx, ny);
        goto exit;
    }
    /* 2. fill cells without enough data from their neighbours */
    fill_invalid(raw_b, raw_r, valid, valid + nc, nx, ny);
    /* 3. median filter over the mesh */
    if (p->filter_cells > 1) {
        median_filter(raw_b, mb.f, nx, ny, p->filter_cells);
        median_filter(raw_r, mr.f, nx, ny, p->filter_cells);
    } else {
        memcpy(mb.f, raw_b, nc * sizeof(float));
        memcpy(mr.f, raw_r, nc * sizeof(float));
    }
    /* 4. spline planes and 5. evaluation at every pixel */
    spline_planes(&mb, nx, ny, dscratch);
    spline_planes(&mr, nx, ny, dscratch);
    if (on_gpu) {
        const float *const bm[4] = {mb.f, mb.fxx, mb.fyy, mb.fxxyy};
        const float *const rm[4] = {mr.f, mr.fxx, mr.fyy, mr.fxxyy};
        rc = sso_k_background_eval(bm, rm, nx, ny, w, h, p->interp, bkg_e, bkg_rms_e, NULL);
        goto exit;
    }
    if (bkg_e)
        evaluate(&mb, nx, ny, w, h, p->interp, 0, rowscratch, bkg_e);
    if (bkg_rms_e)
        evaluate(&mr, nx, ny, w, h, p->interp, 1, rowscratch, bkg_rms_e);

exit:
    free(planes);
    free(valid);
    free(scratch);
    free(dscratch);
    free(rowscratch);
    return rc;
}

sso_status sso_background_subtract(float *img_e, const uint8_t *mask, int w, int h,
                                   const float *bkg_e)
{
    if (!img_e || !bkg_e || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "background subtract: no image or bad size %d x %d", w, h);
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        img_e[i] = (mask && mask[i]) || !isfinite(img_e[i]) ? 0.0f : img_e[i] - bkg_e[i];
    return SSO_OK;
}
