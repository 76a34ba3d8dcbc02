/* sso/sim.h: the Euclid VIS quartet simulator (`sso sim`).
 *
 * Writes one observation (4 dithered long VIS exposures) in the real Euclid file layout, and a
 * truth table (truth.csv) of every injected mover per epoch. Deterministic for a seed: the same
 * config gives byte-identical files, whatever the thread count. The model (sim/sim.c and
 * sim/render.c): the real focal plane and per-CCD TPV distortion (sim/focal_plane.c), the ePSF
 * from the real aperture (sim/psf.c), stars and galaxies with realistic counts (sim/catalog.c),
 * sky, dark, Poisson and read noise, saturation and bleed, cosmic rays, hot/cold pixels, bad
 * columns, and trailed movers in great-circle motion.
 *
 * truth.csv: header `id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y`; one row per
 * mover per epoch 1..4: class slow (< 10"/h) or fast, mjd and ra/dec [deg] at mid-exposure,
 * mag AB, rate ["/h], pa [deg E of N, the initial bearing of the great circle at the mover's
 * reference epoch], trail_px the trail length in pixels on the detector holding the mid-exposure
 * position (else 1.572 px per "/h), snr the optimal matched-filter SNR of that epoch summed over
 * every detector the trail touches (0 if none), det that detector ("3-4" or "3-4.F") or empty, and
 * x, y its 1-based FITS pixel position there (empty with det).
 */
#ifndef SSO_SIM_H
#define SSO_SIM_H

#include <stddef.h>
#include <stdint.h>
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sso_sim_distortion {
    SSO_SIM_TPV = 0, /* RA---TPV / DEC--TPV with PVi_j (default) */
    SSO_SIM_SIP = 1, /* RA---TAN-SIP / DEC--TAN-SIP with A_p_q, B_p_q equivalent to the TPV model */
    SSO_SIM_TAN = 2  /* plain TAN, no distortion */
} sso_sim_distortion;

typedef enum sso_sim_preset {
    SSO_SIM_PRESET_NONE = 0,
    SSO_SIM_PRESET_DEMO,  /* 1 CCD shrunk to 2048 px, ~20 movers, seconds to make */
    SSO_SIM_PRESET_CCD,   /* central 2x2 CCDs, full size, hundreds of movers, mag 20-27, 0.5-300"/h */
    SSO_SIM_PRESET_FIELD  /* all 36 CCDs: the benchmark case */
} sso_sim_preset;

#define SSO_SIM_MAX_CCDS 36

typedef struct sso_sim_config {
    uint64_t seed;
    int n_ccds;                       /* number of entries in ccds[] */
    char ccds[SSO_SIM_MAX_CCDS][8];   /* CCD ids "row-col", e.g. "3-3" */
    int width_px, height_px;          /* detector size (4096 x 4132 real; smaller for fast tests) */
    int quadrants;                    /* write quadrant-level detectors "3-4.E".."3-4.H" */
    int compress;                     /* RICE tile-compressed image extensions */
    sso_sim_distortion distortion;
    double ra_deg, dec_deg;           /* pointing of the focal-plane centre, first dither */
    double pa_deg;                    /* position angle of the focal plane [deg E of N] */
    char obs_id[16];                  /* OBS_ID, digits, e.g. "002681" */
    double mjd_start;                 /* start of the first long exposure [MJD, UTC] */
    /* movers */
    int n_movers;
    double mag_min, mag_max;          /* AB, drawn uniformly */
    double rate_min_arcsec_h, rate_max_arcsec_h; /* drawn log-uniformly */
    /* scene switches (all on by default; tests switch some off) */
    int stars, galaxies, cosmics, defects, saturation;
    double source_density_scale;      /* multiplies star and galaxy counts [1] */
    int threads;                      /* worker threads [number of cores] */
    int verbose;                      /* progress on stderr */
} sso_sim_config;

/* Fills cfg with the preset's values (SSO_SIM_PRESET_NONE: the demo's values). */
sso_status sso_sim_config_preset(sso_sim_config *cfg, sso_sim_preset preset);
/* Parses a preset name ("demo", "ccd", "field"). */
sso_status sso_sim_preset_from_name(const char *name, sso_sim_preset *out);
/* Sets cfg->ccds from a list "3-3,3-4" or a central block "2x2", "4x4", "6x6" (= "all"). */
sso_status sso_sim_config_set_ccds(sso_sim_config *cfg, const char *spec);

/* The path of the exposure file of dither 1..4 that sso_sim_run(cfg, out_dir) writes:
 * "<out_dir>/EUC_VIS_SWL-DET-<obsid:06d>-0<dither>-1-0000000__<UTC start>.fits". */
sso_status sso_sim_exposure_path(const sso_sim_config *cfg, const char *out_dir, int dither,
                                 char *buf, size_t n);

/* Writes the 4 exposure files and truth.csv into out_dir (created if missing). Writes to temporary
 * names and renames when complete, so a reader never sees half a file. */
sso_status sso_sim_run(const sso_sim_config *cfg, const char *out_dir);

#ifdef __cplusplus
}
#endif
#endif
