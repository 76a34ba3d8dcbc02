/* sim/render.h: rendering one CCD in one exposure (internal to the simulator).
 *
 * A job is one CCD-epoch: the CCD's WCS for that exposure, the exposure's times, and caller-owned
 * output planes (SCI and RMS in ADU, FLG bits). The scene (PSF, catalogue, movers, instrument
 * constants, the galaxy convolution) is shared and read-only. A workspace holds one thread's
 * scratch buffers and is reused from job to job. Jobs are independent: each draws its random
 * numbers from streams seeded by (master seed, epoch, CCD), so results do not depend on which
 * thread renders which job, or when.
 *
 * The model, in order (electrons unless noted):
 *   1. sky (22.35 AB mag/arcsec^2 through the zero point, a gentle gradient across the focal plane
 *      and a per-exposure level change of a few 0.1%) + dark current;
 *   2. galaxies: Sersic profiles integrated over each pixel (sub-sampled near the centre) into a
 *      padded layer, convolved with the ePSF kernel by FFT in overlapping tiles (FFTW); galaxies
 *      with r_e < 0.5 px are added as point sources;
 *   3. stars: the ePSF at each position over the whole stamp (64 px: the wings carry ~3% of the
 *      flux beyond 12 px, so a shorter cut would make sources fainter than their magnitude);
 *   4. movers: the ePSF trailed between the positions at exposure start and end (sky -> pixel
 *      through this detector's WCS); the squared optimal SNR per mover is returned in snr2[];
 *   5. defects fixed to the CCD (same in every exposure): hot pixels (dark 0.02-20 e-/s, 95%
 *      flagged HOT), cold pixels (response 0-50%, COLD), bad columns (hot or dead, partial or
 *      whole, BAD_COLUMN);
 *   6. Poisson noise on all of it;
 *   7. cosmic rays: tracks (exponential lengths, mean 43 px, random angles, Landau-like (Moyal)
 *      deposits of a few hundred e- per px, 2% heavy-ion tracks ten times brighter, short spots)
 *      until 1.4% of the pixels are hit; ~85% of the tracks get COSMIC on their core pixels;
 *   8. saturation at 200,000 e- with bleeding: the excess charge of a pixel flows half up, half
 *      down its column, filling pixels to full well (lost past the CCD edge); SAT on full pixels;
 *   9. read noise 4.4 e-, then SCI = e / gain [ADU]; RMS = sqrt(model variance + read noise^2) /
 *      gain (the noiseless model without cosmic rays: what a pipeline would write);
 *  10. QUADEDGE on a 2-px frame around each quadrant.
 */
#ifndef SSO_SIM_RENDER_H
#define SSO_SIM_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"
#include "sim/psf.h"
#include "sso/status.h"
#include "sso/wcs.h"

/* A moving object: great-circle motion at a constant rate through (ra_ref, dec_ref) at t_ref,
 * heading pa_deg there. */
typedef struct sso_sim_mover {
    int id;
    double mag;              /* AB */
    double rate_arcsec_h;
    double pa_deg;           /* deg E of N at the reference point */
    double ra_ref_deg, dec_ref_deg;
    double t_ref_mjd;
} sso_sim_mover;

/* Position of a mover at time mjd. */
void sso_sim_mover_at(const sso_sim_mover *m, double mjd, double *ra_deg, double *dec_deg);

typedef struct sso_sim_conv sso_sim_conv;

/* FFT convolution with the ePSF kernel of half size kernel_half_px, in tiles of tile_n px.
 * Creates the FFTW plans: call from one thread (FFTW planning is not thread-safe). */
sso_status sso_sim_conv_create(const sso_sim_psf *psf, int kernel_half_px, int tile_n,
                               sso_sim_conv **out);
void sso_sim_conv_free(sso_sim_conv *c);

typedef struct sso_sim_scene {
    const sso_sim_psf *psf;
    const sso_sim_conv *conv;
    int psf_half_px;          /* stamp radius: every point source and trail is rendered to it */
    const sso_sim_catalog *cat;
    const sso_sim_mover *movers;
    int n_movers;
    uint64_t seed;
    double exptime_s;
    double gain_e_per_adu;
    double read_noise_e;
    double full_well_e;
    double zp_e;              /* AB magnitude giving 1 e-/s */
    double sky_e_per_s_px;    /* mean sky */
    double dark_e_per_s_px;
    double sky_grad_u, sky_grad_v; /* relative sky change per deg of focal-plane u, v */
    int stars, galaxies, cosmics, defects, saturation;
} sso_sim_scene;

typedef struct sso_sim_render_stats {
    long stars_on, galaxies_on;     /* sources whose centre falls on the CCD */
    long cr_tracks, cr_tracks_flagged;
    double cr_pixel_fraction;
    long hot_pixels, hot_unflagged, cold_pixels, bad_columns;
    long saturated_px;
    double median_sci_adu;          /* over unflagged pixels (a subsample) */
} sso_sim_render_stats;

typedef struct sso_sim_job {
    int epoch;                 /* 0..3 */
    int det;                   /* CCD DET index (seeds the CCD-fixed defects) */
    int w, h;
    const sso_wcs *wcs;        /* this CCD's WCS in this exposure (FITS 1-based pixels) */
    double cd[2][2];           /* its CD matrix [deg/px] (galaxy orientation and pixel scale) */
    double uc_deg, vc_deg;     /* CCD centre in the focal plane (sky gradient) */
    double pix_deg;            /* nominal pixel scale for the gradient [deg] */
    double sky_factor;         /* this exposure's sky level relative to the mean */
    double mjd_start, mjd_end;
    /* outputs, caller-allocated: w * h each, n_movers for snr2 */
    float *sci_adu;
    float *rms_adu;
    int32_t *flg;
    double *snr2;
    sso_sim_render_stats stats;
} sso_sim_job;

typedef struct sso_sim_workspace sso_sim_workspace;
sso_status sso_sim_workspace_create(const sso_sim_scene *scene, sso_sim_workspace **out);
void sso_sim_workspace_free(sso_sim_workspace *ws);

/* Renders one job. Thread-safe for distinct jobs and workspaces. */
sso_status sso_sim_render(const sso_sim_scene *scene, sso_sim_job *job, sso_sim_workspace *ws);

#endif
