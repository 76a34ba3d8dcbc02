/* sim/focal_plane.h: the Euclid VIS focal plane and the WCS the simulator writes for each detector.
 *
 * The 36 CCDs ("row-col", 1-1 .. 6-6), their field-angle centres, and per-CCD CD matrices and TPV
 * distortion coefficients are C tables in focal_plane.c (facts about the instrument; sources named
 * there). From a pointing, a focal-plane position angle and a distortion choice, sso_fp_ccd_wcs()
 * builds the WCS of one CCD in one exposure:
 *   CRVAL  the CCD centre (uc, vc), rotated by the PA, gnomonically deprojected about the pointing;
 *   CRPIX  the detector centre ((W+1)/2, (H+1)/2), W x H the (possibly shrunk) detector size;
 *   CD     the tabulated CD matrix, with its pixel axes renamed to this project's frame and
 *          rotated rigidly with the focal plane (see focal_plane.c);
 *   TPV    PV1_0..10, PV2_0..10: the tabulated polynomial, rotated with the focal plane exactly;
 *   SIP    A_p_q, B_p_q of order 3: the exact equivalent of that TPV polynomial (it is a cubic in
 *          pixel offsets), plus AP_p_q, BP_p_q of order 4 fitted by least squares as the inverse;
 *   TAN    CD only, no distortion.
 * Pixel frame (this project): NAXIS1 = 4096 columns run along the focal-plane u axis (across CCD
 * columns 1..6, ~123 px gaps), NAXIS2 = 4132 rows along v (across CCD rows, ~646 px gaps); at
 * PA = 0, +y points North and +x West (East to the left, the usual sky parity).
 * A quadrant's WCS is its CCD's with CRPIX shifted by the quadrant offset (sso_fp_wcs_shift()).
 */
#ifndef SSO_SIM_FOCAL_PLANE_H
#define SSO_SIM_FOCAL_PLANE_H

#include <fitsio.h>

#include "sso/sim.h"
#include "sso/status.h"

#define SSO_FP_N_CCD 36
#define SSO_FP_CCD_W 4096 /* columns (NAXIS1) of a full CCD */
#define SSO_FP_CCD_H 4132 /* rows (NAXIS2) of a full CCD */

typedef struct sso_fp_ccd {
    const char *id;        /* "row-col", e.g. "3-4" */
    int det;               /* DET index 0..35 (the column of the source coefficient table) */
    double uc_deg, vc_deg; /* field angle of the centre; GalSim-Euclid-Like axes: +u West, +v North
                              at focal-plane PA 0 */
    double cd[4];          /* CD1_1, CD1_2, CD2_1, CD2_2 [deg/px] as tabulated (GalSim frame) */
    double pv1[11], pv2[11]; /* PV1_0..PV1_10, PV2_0..PV2_10 as tabulated */
} sso_fp_ccd;

/* The CCD table, indexed by DET (0..35); NULL out of range. */
const sso_fp_ccd *sso_fp_ccd_get(int det);
/* The DET index of a CCD id ("3-4"), or -1. */
int sso_fp_ccd_find(const char *id);

/* The WCS of one detector, as written into its header. */
typedef struct sso_fp_wcs {
    sso_sim_distortion type;
    double crval_deg[2];
    double crpix[2];       /* FITS 1-based */
    double cd[2][2];       /* [deg/px] */
    double pv[2][11];      /* TPV only: PV1_k, PV2_k */
    double a[4][4], b[4][4];   /* SIP only: A_p_q, B_p_q, p + q in 2..3 */
    double ap[5][5], bp[5][5]; /* SIP only: AP_p_q, BP_p_q, p + q in 0..4 (fitted inverse) */
    double ap_max_err_px;      /* SIP only: largest error of AP/BP over the detector [px] */
} sso_fp_wcs;

/* Builds the WCS of CCD `ccd` (a table entry) of width w x height h px, for a focal plane whose
 * centre points at (ra0, dec0) with position angle pa_deg (deg E of N of the focal-plane +v axis). */
sso_status sso_fp_ccd_wcs(const sso_fp_ccd *ccd, double ra0_deg, double dec0_deg, double pa_deg,
                          sso_sim_distortion type, int w, int h, sso_fp_wcs *out);

/* Moves the pixel origin by (dx, dy) px: the WCS of the sub-image whose pixel (1, 1) is pixel
 * (1 + dx, 1 + dy) of the original (CRPIX -= (dx, dy); the polynomials are relative to CRPIX). */
void sso_fp_wcs_shift(sso_fp_wcs *w, double dx_px, double dy_px);

/* Writes the WCS keywords into the current HDU of f (cfitsio status convention). */
int sso_fp_wcs_write_keys(fitsfile *f, const sso_fp_wcs *w, int *status);

/* The header of a w x h float image carrying this WCS, as fits_hdr2str() gives it (80-char
 * cards), made by writing the same keywords into an in-memory FITS file. *hdr is malloc'ed (free
 * with free()); *nkeys the number of cards. */
sso_status sso_fp_wcs_header(const sso_fp_wcs *w, int width, int height, char **hdr, int *nkeys);

#endif
