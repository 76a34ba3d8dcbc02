/* sso/patch.h: sky patches on one tangent plane per field (DESIGN.md "The flow of one quartet" 3).
 *
 * Moving objects are searched in sky coordinates, because the 4 dithers move the sky by ~1,270 px
 * on the detectors. One tangent (gnomonic) plane per field is laid under the whole quartet:
 *   tangent point  the mean pointing of the 4 exposures, each exposure's pointing being the mean
 *                  (unit-vector average) of its detectors' WCS centres;
 *   plane pixels   0.1"/px, plain TAN, CD = diag(-scale, +scale): north up, east left. Plane
 *                  coordinates (u, v) [px] are 0 at the tangent point, +u west, +v north.
 * The plane is cut into square patches of size_px x size_px pixels. Each patch is a core of
 * pitch = size_px - 2 * margin_px pixels plus a margin of margin_px on every side; the cores tile
 * the plane without overlap (patch (i, j) has the core u in [i*pitch - pitch/2, (i+1)*pitch -
 * pitch/2), likewise v with j), so neighbouring patches overlap by 2 * margin_px.
 *
 * The margin is what makes "found once" work. The default, 128 px, exceeds the largest slow motion
 * over the baseline (10"/h * 0.77 h = 7.7" = 77 px): a slow mover whose position at the first
 * epoch lies in a patch's core stays inside that patch at every epoch. The ownership rule: a
 * candidate belongs to the one patch whose core holds its first-epoch position
 * (sso_patch_plan_in_core()); detections in another patch's margin are dropped there because
 * that other patch also sees them whole. Fast movers (streaks) use the same rule on their
 * first-epoch midpoint; a streak longer than the margin may be cut at a patch edge, which the
 * streak stage has to handle (see its own notes).
 *
 * Patch pixels: FITS 1-based; pixel (1, 1) of patch (i, j) has plane coordinates
 * (i*pitch - pitch/2 - margin_px + 0.5, ... ): pixel p covers u in [u0 + p - 1, u0 + p) with
 * u0 = i*pitch - pitch/2 - margin_px. Each patch has its own sso_wcs (TAN, CRVAL = tangent point,
 * CRPIX = 1 - (pixel-1 centre's u)), built from a header string by wcslib like any other WCS.
 *
 * A plan lists only the patches that some detector of some exposure touches (the detector outline
 * sampled every 64 px along its edges, mapped to the plane, intersected with the patch square
 * grown by 4 px), each with the (exposure, detector) pairs that overlap it. Building a plan reads
 * no pixels. Read-only after creation: safe to share between threads.
 */
#ifndef SSO_PATCH_H
#define SSO_PATCH_H

#include "sso/quartet.h"
#include "sso/status.h"
#include "sso/wcs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_PATCH_SIZE_PX 4096        /* default patch side [px] */
#define SSO_PATCH_MARGIN_PX 128       /* default margin [px] (> 77 px of slow motion) */
#define SSO_PATCH_SCALE_ARCSEC 0.1    /* default plane pixel scale ["/px] */

typedef struct sso_patch_config {
    int size_px;          /* patch side, margins included [4096] */
    int margin_px;        /* margin on each side [128]; 0 <= 2 * margin_px < size_px */
    double scale_arcsec;  /* plane pixel scale [0.1 "/px] */
} sso_patch_config;

void sso_patch_config_default(sso_patch_config *c);

/* One detector of one exposure as the plan sees it: its WCS and size (borrowed). */
typedef struct sso_patch_detector {
    int exposure;          /* 0..3 */
    int detector;          /* index within its exposure */
    const sso_wcs *wcs;
    int width_px, height_px;
} sso_patch_detector;

typedef struct sso_patch_input {
    int exposure, detector;
} sso_patch_input;

typedef struct sso_patch_info {
    int ix, iy;                 /* grid index of the patch on the plane (may be negative) */
    int width_px, height_px;    /* = size_px */
    double u0_px, v0_px;        /* plane coordinates of the lower-left corner of pixel (1, 1) */
    int n_inputs;
    const sso_patch_input *inputs; /* the (exposure, detector) pairs touching it; owned by plan */
    const sso_wcs *wcs;         /* the patch's TAN WCS; owned by the plan */
} sso_patch_info;

typedef struct sso_patch_plan sso_patch_plan;

/* Plan for an opened quartet (WCS and sizes from the headers; no pixel read). cfg NULL: defaults. */
sso_status sso_patch_plan_create(const sso_quartet *q, const sso_patch_config *cfg,
                                 sso_patch_plan **out);
/* Plan for any set of detectors (tests, generic input). The tangent point is the mean over
 * exposures of the mean detector centre of each exposure. */
sso_status sso_patch_plan_create_from(const sso_patch_detector *dets, int n_dets,
                                      const sso_patch_config *cfg, sso_patch_plan **out);
/* The same with the tangent point given (tangent_deg = {ra, dec} [deg]; NULL: the mean pointing as
 * above). The plane and the patch grid depend only on the tangent point and cfg, so plans made at
 * one tangent point from different detector sets agree on every patch (ix, iy) they share: the
 * staged pipeline (sso_pipeline_session) plans each exposure as it arrives and the union at the
 * search, and moves each exposure's patch images across by (ix, iy). */
sso_status sso_patch_plan_create_at(const sso_patch_detector *dets, int n_dets,
                                    const sso_patch_config *cfg, const double *tangent_deg,
                                    sso_patch_plan **out);
/* The mean pointing of a set of detectors, as sso_patch_plan_create_from takes it (step 1 of
 * host/patch.c): per exposure the unit-vector mean of its detector centres, then their mean. */
sso_status sso_patch_plan_pointing(const sso_patch_detector *dets, int n_dets, double *ra_deg,
                                   double *dec_deg);
void sso_patch_plan_free(sso_patch_plan *p);

int sso_patch_plan_count(const sso_patch_plan *p);
/* Patch k (0..count-1), ordered by iy then ix. */
sso_status sso_patch_plan_get(const sso_patch_plan *p, int k, sso_patch_info *out);
/* Index of patch (ix, iy) in the plan, or -1 if no detector touches it. */
int sso_patch_plan_find(const sso_patch_plan *p, int ix, int iy);
void sso_patch_plan_tangent(const sso_patch_plan *p, double *ra_deg, double *dec_deg);
void sso_patch_plan_config(const sso_patch_plan *p, sso_patch_config *out);

/* Sky -> plane coordinates (u, v) [px] (NaN where the projection fails). */
sso_status sso_patch_plan_sky_to_plane(const sso_patch_plan *p, size_t n, const double *ra_deg,
                                       const double *dec_deg, double *u_px, double *v_px);
/* The grid index (ix, iy) of the patch whose core holds plane position (u, v). */
void sso_patch_plan_owner(const sso_patch_plan *p, double u_px, double v_px, int *ix, int *iy);
/* Whether patch pixel position (x, y) (FITS 1-based, fractional) of patch k lies in its core:
 * the ownership rule for candidates found in patch k. 0 for a bad k. */
int sso_patch_plan_in_core(const sso_patch_plan *p, int k, double x_px, double y_px);

/* A plain TAN WCS from its parameters, made by writing the header cards and parsing them with
 * sso_wcs_from_header (so wcslib does the projection). cd_deg = CD1_1, CD1_2, CD2_1, CD2_2. */
sso_status sso_patch_tan_wcs(double crval_ra_deg, double crval_dec_deg, double crpix1,
                             double crpix2, const double cd_deg[4], sso_wcs **out);

#ifdef __cplusplus
}
#endif
#endif
