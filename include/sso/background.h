/* sso/background.h: sky background and its rms of one detector image (CPU reference).
 *
 * The method of SExtractor / SEP: the image is cut into a mesh of cells (cell_px square, the
 * last ones stretched so that nx = round(w / cell_px) equal cells cover the width, likewise in y);
 * in each cell the unmasked, finite pixels are clipped iteratively at clip_sigma around their
 * median until nothing changes; the cell's background is then SExtractor's mode estimate
 * 2.5 median - 1.5 mean when |mean - median| < 0.3 sigma (a mildly skewed distribution: sources
 * pull the mean up more than the median), else the median; its rms is the clipped standard
 * deviation corrected for the truncation of a Gaussian at the converged clip (x1.0145 at 3 sigma),
 * so that pure Gaussian noise of sigma s gives rms s, not 0.986 s. Cells with fewer than
 * min_good_frac of their pixels usable get a value from usable neighbours that is exact for a
 * plane (the mean of interpolations across the cell, else of linear extrapolations from two cells
 * in line, else of the 8-neighbours; repeated until every cell has a value). A median filter of
 * filter_cells x filter_cells cells then removes cells biased by objects larger than a cell; at the mesh edges the mesh is extended by linear
 * extrapolation (v[-1] = 2 v[0] - v[1]) so that a plane passes the filter unchanged. The mesh is
 * finally interpolated to every pixel with a natural bicubic spline through the cell centres
 * (continued by the end cells' cubics over the outer half-cell).
 *
 * Why bicubic, not bilinear: bilinear interpolation has kinks along every row and column of cell
 * centres; a PSF- or streak-matched filter downstream sees those straight creases as faint linear
 * features, and a curved background (scattered light) is followed with error O(h^2) instead of
 * O(h^4). The spline is C2 and reproduces planes exactly.
 *
 * Masked pixels (mask != 0) and non-finite pixels never enter a statistic; the outputs are finite
 * everywhere. The per-pixel spline evaluation is shared with the CUDA twin (host/background_math.h).
 * With backend CUDA the cell statistics and the per-pixel evaluation run on the GPU
 * (kernels/background.cu); the mesh steps in between (fill, median filter, spline planes: ~1000
 * cells) stay on the host, the same code for both backends.
 */
#ifndef SSO_BACKGROUND_H
#define SSO_BACKGROUND_H

#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sso_background_interp {
    SSO_BKG_BICUBIC = 0, /* natural bicubic spline through the cell centres (default) */
    SSO_BKG_BILINEAR = 1 /* bilinear between cell centres (for comparison) */
} sso_background_interp;

typedef struct sso_background_params {
    int cell_px;          /* mesh cell size [128 px] */
    int filter_cells;     /* median filter over the mesh, odd, 1 = none [3] */
    float clip_sigma;     /* clipping threshold around the median [3.0] */
    int max_iter;         /* clipping iterations at most [20] */
    float min_good_frac;  /* a cell with fewer usable pixels is filled from neighbours [0.5] */
    sso_background_interp interp; /* [SSO_BKG_BICUBIC] */
    sso_backend backend;  /* where the cell statistics and the per-pixel evaluation run [cpu];
                           * AUTO: the GPU when present (kernels/background.cu), else the CPU */
} sso_background_params;

/* The defaults above. */
sso_background_params sso_background_params_default(void);

/* img_e, mask: w x h row-major (mask may be NULL: no pixel masked). bkg_e and bkg_rms_e are
 * caller-allocated arrays of w * h (either may be NULL if not wanted). p NULL: defaults.
 * SSO_ERR_ARG for bad sizes or parameters; SSO_ERR_ALL_NAN when no pixel is usable. */
sso_status sso_background_estimate(const float *img_e, const uint8_t *mask, int w, int h,
                                   const sso_background_params *p, float *bkg_e, float *bkg_rms_e);

/* In place: img_e -= bkg_e on unmasked pixels, masked pixels set to 0. mask may be NULL. */
sso_status sso_background_subtract(float *img_e, const uint8_t *mask, int w, int h,
                                   const float *bkg_e);

#ifdef __cplusplus
}
#endif
#endif
