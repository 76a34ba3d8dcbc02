/* sim/psf.h: the simulator's Euclid VIS PSF (internal to the simulator).
 *
 * An effective PSF (ePSF): the optical PSF of the real aperture (1.2 m primary, ~0.42 m central
 * obscuration, 3 spider arms), polychromatic over the VIS band (550-900 nm, weighted by the VIS
 * throughput and a flat-in-frequency source), convolved with the pixel response, tabulated on a
 * grid `oversample` times finer than the 0.1" pixel, out to half_size_px native pixels so that the
 * diffraction spikes of bright stars are there. Normalised so that its sum over all native-pixel
 * offsets is 1 at every sub-pixel phase: the ~0.3% of the flux that the wings carry beyond
 * half_size_px is spread over the stamp, so a source added with radius_px = half_size_px puts its
 * whole flux in the image (less what falls off the image edge).
 *
 * Coordinates: 0-based pixel indices, pixel i's centre at i (the FITS 1-based position minus 1).
 * ePSF(dx, dy) is the fraction of a source's flux falling in a pixel whose centre is (dx, dy) from
 * the source. Read-only after creation: safe to share between threads.
 */
#ifndef SSO_SIM_PSF_H
#define SSO_SIM_PSF_H

#include "sso/status.h"

typedef struct sso_sim_psf sso_sim_psf;

/* oversample: grid points per native pixel (e.g. 4); half_size_px: stamp radius [native px]
 * (e.g. 64). Uses FFTW (single precision). */
sso_status sso_sim_psf_create(int oversample, int half_size_px, sso_sim_psf **out);
void sso_sim_psf_free(sso_sim_psf *p);

double sso_sim_psf_fwhm_px(const sso_sim_psf *p);      /* measured FWHM of the ePSF [px] */
int sso_sim_psf_half_size_px(const sso_sim_psf *p);
/* Fraction of the flux within radius r_px of the source of the pixel-convolved light (the ePSF
 * read as a surface density): what a circular aperture of radius r_px collects on average over
 * sub-pixel phases. 0 at r = 0, 1 beyond the stamp's corners, non-decreasing. */
double sso_sim_psf_encircled(const sso_sim_psf *p, double r_px);
/* Fraction of the optical + pixel + jitter PSF's flux that fell inside the stamp before the stamp
 * was renormalised to 1 (a diagnostic: 1 minus it is what the wings beyond half_size_px carry). */
double sso_sim_psf_stamp_flux(const sso_sim_psf *p);

/* ePSF at offset (dx, dy) [px], interpolated on the fine grid; 0 beyond the stamp. */
float sso_sim_psf_eval(const sso_sim_psf *p, double dx_px, double dy_px);

/* Adds flux_e * ePSF centred at (xc, yc) into img (w x h, row-major), over the pixels within
 * radius_px (clipped to the image and to the stamp). Returns sum over touched pixels of
 * m^2 / (bg_var_e2 + m), the square of the optimal matched-filter SNR contributed, when
 * bg_var_e2 > 0 (else 0). m is the added model value [e-] of a pixel. */
double sso_sim_psf_add(const sso_sim_psf *p, float *img, int w, int h, double xc, double yc,
                       double flux_e, int radius_px, float bg_var_e2);

/* Adds a trail: a point source moving uniformly from (x0, y0) to (x1, y1) during the exposure,
 * total flux_e (the ePSF convolved with the segment; sub-steps of at most 0.25 px). Returns the
 * squared optimal SNR as sso_sim_psf_add. A zero-length trail is a point source. */
double sso_sim_psf_add_trail(const sso_sim_psf *p, float *img, int w, int h, double x0, double y0,
                             double x1, double y1, double flux_e, int radius_px, float bg_var_e2);

/* The ePSF at integer offsets -half_px..half_px in both axes, (2*half_px+1)^2 floats, row-major,
 * renormalised to sum 1: the kernel for convolving extended sources (galaxies) by FFT. */
sso_status sso_sim_psf_kernel(const sso_sim_psf *p, int half_px, float *out);

/* The FFTW planner is not thread-safe: every fftwf_plan_* and fftwf_destroy_plan call in the
 * simulator goes between these (sso_sim_psf_create does). fftwf_execute needs no lock. */
void sso_sim_fftw_plan_lock(void);
void sso_sim_fftw_plan_unlock(void);

#endif
