/* host/resample.c: a detector onto a sky patch, CPU reference (contract in include/sso/resample.h).
 *
 * sso_resample_map_create() evaluates patch pix -> sky -> detector pix with wcslib at the grid
 * nodes (one batch per WCS, so one lock each: see host/wcs.c) and keeps the node coordinates in
 * double. sso_resample_detector() walks the patch cell by cell (a cell = the step x step pixels
 * between 4 nodes). A bilinear map sends a cell inside the convex hull of its 4 corner images, so
 * a cell whose corners' bounding box misses the detector's pixel area is skipped whole: a patch
 * touched by one corner of a detector costs little more than that corner. Inside a cell each pixel
 * goes through sso_grid_map() and sso_resample_pixel() (host/resample_math.h), the per-pixel math
 * the CUDA twin shares; with config backend CUDA (or AUTO and a device) sso_resample_detector()
 * hands the grid and the planes to sso_k_resample() (kernels/resample.cu) instead.
 * Threads: single-threaded by design here (the pipeline runs patches or exposures in parallel);
 * a map is read-only after creation.
 */
#include <math.h>
#include <stdlib.h>

#include "host/resample_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/resample.h"

struct sso_resample_map {
    int patch_w, patch_h, det_w, det_h, step;
    int gnx, gny;     /* grid nodes; node (a, b) is patch pixel (1 + a*step, 1 + b*step) */
    double *gx, *gy;  /* 1-based detector coordinates, row-major gny x gnx */
};

void sso_resample_config_default(sso_resample_config *c)
{
    if (!c)
        return;
    c->grid_step_px = SSO_RESAMPLE_GRID_STEP_PX;
    c->mask_weight_min = SSO_RESAMPLE_MASK_WEIGHT_MIN;
    c->backend = SSO_BACKEND_CPU;
}

static sso_status check_config(const sso_resample_config *cfg, sso_resample_config *c)
{
    sso_resample_config_default(c);
    if (cfg)
        *c = *cfg;
    if (c->grid_step_px < 1 || c->grid_step_px > 1024 || !(c->mask_weight_min > 0.0f) ||
        !(c->mask_weight_min <= 1.0f))
        return sso_fail(SSO_ERR_ARG, "resample: grid step %d px (1..1024), mask weight %g (0..1]",
                        c->grid_step_px, (double)c->mask_weight_min);
    return SSO_OK;
}

void sso_resample_map_free(sso_resample_map *m)
{
    if (!m)
        return;
    free(m->gx);
    free(m);
}

sso_status sso_resample_map_create(const sso_wcs *patch_wcs, int patch_w, int patch_h,
                                   const sso_wcs *det_wcs, int det_w, int det_h,
                                   const sso_resample_config *cfg, sso_resample_map **out)
{
    sso_status st;
    sso_resample_config c;
    if (!out || !patch_wcs || !det_wcs)
        return sso_fail(SSO_ERR_ARG, "resample map: NULL argument");
    *out = NULL;
    if ((st = check_config(cfg, &c)) != SSO_OK)
        return st;
    if (patch_w < 1 || patch_h < 1 || det_w < 1 || det_h < 1)
        return sso_fail(SSO_ERR_ARG, "resample map: patch %d x %d, detector %d x %d px", patch_w,
                        patch_h, det_w, det_h);
    sso_resample_map *m = calloc(1, sizeof *m);
    double *ra = NULL;
    if (!m)
        return sso_fail(SSO_ERR_NOMEM, "resample map");
    m->patch_w = patch_w, m->patch_h = patch_h, m->det_w = det_w, m->det_h = det_h;
    m->step = c.grid_step_px;
    /* Nodes up to strictly beyond the last pixel, so cells [a*step, (a+1)*step) cover them all. */
    m->gnx = (patch_w - 1) / m->step + 2;
    m->gny = (patch_h - 1) / m->step + 2;
    const size_t n = (size_t)m->gnx * m->gny;
    m->gx = malloc(4 * n * sizeof(double));
    if (!m->gx) {
        st = sso_fail(SSO_ERR_NOMEM, "resample map: grid of %zu nodes", n);
        goto exit;
    }
    m->gy = m->gx + n;
    ra = m->gx + 2 * n; /* scratch: ra, dec in the second half */
    double *dec = m->gx + 3 * n;
    for (int b = 0; b < m->gny; b++)
        for (int a = 0; a < m->gnx; a++) {
            m->gx[(size_t)b * m->gnx + a] = 1.0 + (double)a * m->step;
            m->gy[(size_t)b * m->gnx + a] = 1.0 + (double)b * m->step;
        }
    if ((st = sso_wcs_pix2sky(patch_wcs, n, m->gx, m->gy, ra, dec)) != SSO_OK ||
        (st = sso_wcs_sky2pix(det_wcs, n, ra, dec, m->gx, m->gy)) != SSO_OK)
        goto exit;
    *out = m;
    m = NULL;
exit:
    sso_resample_map_free(m);
    return st;
}

sso_status sso_resample_map_eval(const sso_resample_map *m, int x_px, int y_px, double *x_det_px,
                                 double *y_det_px, double *jac)
{
    if (!m || !x_det_px || !y_det_px || !jac)
        return sso_fail(SSO_ERR_ARG, "resample map eval: NULL argument");
    if (x_px < 1 || x_px > m->patch_w || y_px < 1 || y_px > m->patch_h)
        return sso_fail(SSO_ERR_ARG, "resample map eval: pixel (%d, %d) outside the %d x %d patch",
                        x_px, y_px, m->patch_w, m->patch_h);
    sso_grid_map(m->gx, m->gy, m->gnx, m->gny, m->step, x_px - 1, y_px - 1, x_det_px, y_det_px,
                 jac);
    return SSO_OK;
}

void sso_resample_patch_init(size_t n, float *img_e, float *var_e2, uint8_t *mask)
{
    for (size_t i = 0; i < n; i++) {
        img_e[i] = 0.0f;
        var_e2[i] = INFINITY;
        mask[i] = 1;
    }
}

sso_status sso_resample_detector(const sso_resample_map *m, const float *img_e,
                                 const float *var_e2, const uint8_t *mask,
                                 const sso_resample_config *cfg, float *out_img_e,
                                 float *out_var_e2, uint8_t *out_mask, int64_t *n_written)
{
    sso_status st;
    sso_resample_config c;
    if (!m || !img_e || !var_e2 || !mask || !out_img_e || !out_var_e2 || !out_mask)
        return sso_fail(SSO_ERR_ARG, "resample: NULL argument");
    if ((st = check_config(cfg, &c)) != SSO_OK)
        return st;
    if (sso_backend_resolve(c.backend) == SSO_BACKEND_CUDA) {
        const sso_k_resample_grid g = {m->gx, m->gy, m->gnx, m->gny, m->step,
                                       m->patch_w, m->patch_h, m->det_w, m->det_h};
        st = sso_k_resample(&g, img_e, var_e2, mask, c.mask_weight_min, out_img_e, out_var_e2,
                            out_mask, n_written, NULL);
        if (st != SSO_ERR_NO_DEVICE || c.backend != SSO_BACKEND_AUTO)
            return st; /* AUTO without a usable device: the CPU below */
    }
    const int S = m->step, W = m->det_w, H = m->det_h;
    const double xlo = 0.5, xhi = W + 0.5, ylo = 0.5, yhi = H + 0.5;
    int64_t written = 0;
    for (int b = 0; b < m->gny - 1; b++) {
        const int j0 = b * S, j1 = (b + 1) * S < m->patch_h ? (b + 1) * S : m->patch_h;
        for (int a = 0; a < m->gnx - 1; a++) {
            if (!sso_grid_cell_touches(m->gx, m->gy, m->gnx, a, b, m->det_w, m->det_h))
                continue;
            const int i0 = a * S, i1 = (a + 1) * S < m->patch_w ? (a + 1) * S : m->patch_w;
            for (int j = j0; j < j1; j++) {
                for (int i = i0; i < i1; i++) {
                    double xd, yd, jac;
                    sso_grid_map(m->gx, m->gy, m->gnx, m->gny, S, i, j, &xd, &yd, &jac);
                    if (!(xd >= xlo && xd < xhi && yd >= ylo && yd < yhi))
                        continue;
                    const size_t k = (size_t)j * m->patch_w + i;
                    out_mask[k] = sso_resample_pixel(img_e, var_e2, mask, W, H, xd, yd, jac,
                                                     c.mask_weight_min, &out_img_e[k],
                                                     &out_var_e2[k]);
                    written++;
                }
            }
        }
    }
    if (n_written)
        *n_written = written;
    return SSO_OK;
}
