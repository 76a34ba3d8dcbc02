/* sim/vis_optics_data.h: facts about the Euclid telescope and VIS band that the simulator's PSF
 * (sim/psf.c) is built from. Data only, no code.
 *
 * Pupil geometry. Coordinates in metres in the entrance pupil, origin at the centre of the primary,
 * x and y along the axes of the reference pupil image (x = FITS axis 1, y = axis 2); the simulator
 * maps them onto the detector's x (column) and y (row) axes. The open aperture is
 *     inside the circle of diameter SSO_VIS_PUPIL_DIAMETER_M around (0, 0),
 *     outside the obscuration circle of diameter SSO_VIS_OBSC_DIAMETER_M around
 *         (SSO_VIS_OBSC_X_M, SSO_VIS_OBSC_Y_M) (the obscuration is off-centre by ~5 cm),
 *     outside each spider arm: a half-strip of full width width_m whose centre line starts at
 *         foot (the point of the line closest to the obscuration centre, inside the obscuration)
 *         and runs outward along angle_deg (counter-clockwise from +x) past the rim.
 * The arms are not radial (they are offset 0.11-0.15 m from the centre) and not exactly 120 deg
 * apart. Far from the core a straight arm diffracts light perpendicular to itself: each arm makes a
 * pair of opposite diffraction spikes at angle_deg +- 90 deg, six spikes in all.
 *
 * Source: measured (once, with a throw-away numpy script, not by the project) from GalSim-Euclid-
 * Like's euclidlike/data/euclid_pupil_plane.fits.gz (2048 x 2048 px, 0.0005859375 m/px; copy in
 * shared/euclid/): circles fitted to the half-level edge crossings along 1440 rays (rms 0.15 px
 * outer, 0.12 px obscuration); arms from weighted principal axes and per-segment centroids of the
 * missing light (1 - pupil) between the obscuration and the rim, width = missing area / length.
 * Check: this analytic pupil, rasterised 3x3-subsampled on the file's grid, has the file's open area
 * 0.9915 m^2 to 2e-5 m^2 and a mean absolute per-pixel difference of 0.0014.
 *
 * Band. The VIS throughput (telescope + filter + CCD QE, photon-counting response, SVO filter
 * service via GalSim-Euclid-Like; copy in shared/euclid/vis_bandpass.dat, 437-987 nm at 1 nm) in
 * 16 bins of 25 nm from 525 to 925 nm: each bin's mean throughput and its throughput-weighted mean
 * wavelength. The bins hold 99.7% of the throughput integral (half-maximum edges 541 and 911 nm).
 */
#ifndef SSO_SIM_VIS_OPTICS_DATA_H
#define SSO_SIM_VIS_OPTICS_DATA_H

#define SSO_VIS_PIXEL_ARCSEC 0.1        /* VIS pixel scale [arcsec/px] */

/* Rim diameter at the half-level edge of the reference image (whose 2048 px span exactly 1.2 m). */
#define SSO_VIS_PUPIL_DIAMETER_M 1.1994
#define SSO_VIS_OBSC_DIAMETER_M 0.3948  /* central obscuration diameter [m] (0.42 m quoted) */
#define SSO_VIS_OBSC_X_M 0.0            /* obscuration centre [m] */
#define SSO_VIS_OBSC_Y_M 0.0510

typedef struct sso_vis_spider {
    double angle_deg;        /* direction of the arm, outward from the obscuration, CCW from +x */
    double foot_x_m, foot_y_m; /* start of the centre line (closest point to the obscuration centre) */
    double width_m;          /* full width of the arm */
} sso_vis_spider;

#define SSO_VIS_N_SPIDERS 3
extern const sso_vis_spider sso_vis_spiders[SSO_VIS_N_SPIDERS];

typedef struct sso_vis_band_bin {
    double lambda_nm;        /* throughput-weighted mean wavelength of the bin */
    double throughput;       /* mean throughput over the bin (0-1) */
} sso_vis_band_bin;

#define SSO_VIS_BAND_BIN_NM 25.0
#define SSO_VIS_N_BAND_BINS 16
extern const sso_vis_band_bin sso_vis_band[SSO_VIS_N_BAND_BINS];

#endif
