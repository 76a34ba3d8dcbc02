/* sso/resample.h: resampling a prepared detector (electrons, variance, mask) onto a sky patch.
 *
 * The map. Every patch pixel needs its position on the detector: patch pixel -> sky (patch TAN
 * WCS) -> detector pixel (the detector's TPV/SIP/TAN WCS), both by wcslib. Exact transforms per
 * pixel would cost ~2.4 Gpx of wcslib calls per quartet, so they are evaluated on a coarse grid of
 * patch pixels (every grid_step_px, default 32) and interpolated bilinearly in between. The
 * distortion of Euclid's optics is a smooth cubic over the field; the interpolation error
 * measured on the simulator's full-size TPV headers is 1.8e-4 px at 32 px spacing (4e-2 px at 512)
 * (tests/test_resample.c asserts < 0.01 px; the figure is in the report of issue 3).
 *
 * The kernel. Lanczos-3 (6 x 6 taps, separable, each 1-D set normalised to sum 1 so a constant
 * stays constant). It keeps the undersampled VIS PSF (FWHM ~1.6 px) far better than bilinear,
 * which would broaden it by ~0.4 px and lower its peak. The value written is the interpolated
 * surface brightness times the Jacobian determinant of the map (detector px^2 per patch px^2), so
 * a source's summed flux [e-] is conserved across the ~2% scale difference of the two grids.
 *
 * Variance: var_out = sum(w^2 var_in) * J^2 / (sum w)^2 over the pixels used. Caveat: this is the
 * right per-pixel variance, but resampling correlates the noise of neighbouring output pixels
 * (Lanczos-3 smooths white noise: sum w^2 is ~0.6-1 of the input variance depending on the
 * sub-pixel phase). A matched filter that treats output pixels as independent therefore
 * misestimates its noise by a few tens of percent; detection thresholds are calibrated on
 * simulated difference images, not on this per-pixel variance alone.
 *
 * Mask: an output pixel is masked (img 0, var +inf, mask 1) when any input pixel with
 * |w| >= mask_weight_min (default 0.02) is masked or lies off the detector. Input pixels with
 * smaller weights that are masked are left out and the weights renormalised. With 0.02, one masked
 * input pixel masks on average ~10.5 output pixels (~3 x 3.5); with 1e-3 it would be ~26 (5 x 5),
 * which at Euclid's ~1.4% cosmic-ray pixel rate would mask a third of the sky. The neglected
 * weights are < 2% each; the renormalisation keeps constants exact.
 *
 * Coverage: a detector writes exactly the patch pixels whose interpolated position falls in its
 * pixel area [0.5, W + 0.5) x [0.5, H + 0.5), valid or masked; others are left untouched. Since
 * detectors of one exposure do not overlap, several detectors fill one patch without conflict;
 * pixels no detector covers keep the initial state (sso_resample_patch_init: masked). Pixels within
 * ~2.5 px of a detector edge are masked (part of their kernel is off the detector).
 */
#ifndef SSO_RESAMPLE_H
#define SSO_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"
#include "sso/wcs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_RESAMPLE_GRID_STEP_PX 32
#define SSO_RESAMPLE_MASK_WEIGHT_MIN 0.02f

typedef struct sso_resample_config {
    int grid_step_px;       /* exact-transform grid spacing [32 px] */
    float mask_weight_min;  /* |weight| from which a masked/off-detector input masks the output [0.02] */
    sso_backend backend;    /* sso_resample_detector [cpu]; CUDA: kernels/resample.cu; AUTO: GPU if present */
} sso_resample_config;

void sso_resample_config_default(sso_resample_config *c);

typedef struct sso_resample_map sso_resample_map;

/* The map of a patch_w x patch_h patch onto a det_w x det_h detector. cfg NULL: defaults.
 * Grid nodes where a transform fails (NaN) leave their cells unwritten. */
sso_status sso_resample_map_create(const sso_wcs *patch_wcs, int patch_w, int patch_h,
                                   const sso_wcs *det_wcs, int det_w, int det_h,
                                   const sso_resample_config *cfg, sso_resample_map **out);
void sso_resample_map_free(sso_resample_map *m);

/* The interpolated detector position (1-based) and Jacobian [det px^2 / patch px^2] of patch
 * pixel (x_px, y_px) (1-based integers within the patch). NaN where the grid has no value. */
sso_status sso_resample_map_eval(const sso_resample_map *m, int x_px, int y_px, double *x_det_px,
                                 double *y_det_px, double *jac);

/* n patch pixels: img 0, var +inf, mask 1. */
void sso_resample_patch_init(size_t n, float *img_e, float *var_e2, uint8_t *mask);

/* Resamples one detector (prepared planes, det_w x det_h, row-major; masked pixels are expected as
 * sso_prep_detector leaves them) into the patch planes (patch_w x patch_h). cfg NULL: defaults.
 * *n_written (may be NULL): the number of patch pixels this detector covers. */
sso_status sso_resample_detector(const sso_resample_map *m, const float *img_e,
                                 const float *var_e2, const uint8_t *mask,
                                 const sso_resample_config *cfg, float *out_img_e,
                                 float *out_var_e2, uint8_t *out_mask, int64_t *n_written);

#ifdef __cplusplus
}
#endif
#endif
