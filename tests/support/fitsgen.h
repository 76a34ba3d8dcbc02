/* tests/support/fitsgen.h: small Euclid-layout FITS files for tests, written with cfitsio.
 *
 * One call writes one exposure file: a primary HDU with the observation keywords (OBS_ID, DITHOBS,
 * EXPNUM, DATE-OBS, MJD-OBS, EXPTIME) and, per detector, three image extensions "<det>.SCI"
 * (float32 ADU), "<det>.RMS" (float32 ADU) and "<det>.FLG" (int32 bit mask) with GAIN, MAGZEROP and
 * a celestial WCS (TAN, TAN-SIP or TPV). Every rule of the ingest layer has a knob that breaks it
 * (drop an extension, wrong BITPIX, a wider extension, no WCS, no time, ...), and the generic
 * layout (one image in the primary HDU) is there too.
 *
 * Pixel values are a known function of (detector, x, y), exposed as sso_fg_sci_adu() etc., so a
 * test can check what ingest read without trusting the code under test. Detector d of a file is
 * named, in write order: CCDs "1-1", "1-2", .. "1-6", "2-1", ...; with quadrants each CCD gives
 * "r-c.E", "r-c.F", "r-c.G", "r-c.H" (so detector d is CCD d/4, quadrant "EFGH"[d%4]).
 *
 * Compressed files use RICE_1 with an absolute quantisation step of SSO_FG_QSTEP_ADU for floats
 * (so values come back within half a step) and lossless RICE for FLG.
 */
#ifndef SSO_TEST_FITSGEN_H
#define SSO_TEST_FITSGEN_H

#include <stddef.h>
#include <stdint.h>

#define SSO_FG_MAX_DET 64
#define SSO_FG_QSTEP_ADU 0.01 /* quantisation step of compressed float images [ADU] */
#define SSO_FG_START_STEP_S 921.0 /* start-to-start time of consecutive dithers [s] (EUCLID.md) */

typedef enum sso_fg_wcs {
    SSO_FG_WCS_TAN = 0,
    SSO_FG_WCS_SIP = 1, /* RA---TAN-SIP with A_2_0, B_0_2 */
    SSO_FG_WCS_TPV = 2  /* RA---TPV with PV1_4, PV2_4 */
} sso_fg_wcs;

typedef struct sso_fg_config {
    /* primary header; strings empty = keyword not written */
    char obs_id[24];          /* OBS_ID ["002681"] */
    int obs_id_numeric;       /* write OBS_ID as an integer instead of a string [0] */
    int dither;               /* DITHOBS; 0 = not written [1] */
    int expnum;               /* EXPNUM; 0 = not written [1] */
    double mjd_start;         /* start of the exposure [MJD, UTC] [60600.25] */
    int write_mjd_obs;        /* [1] */
    int write_date_obs;       /* DATE-OBS from mjd_start, ISO UTC with microseconds [1] */
    int write_exptime;        /* [1] */
    double exptime_s;         /* [566] */
    /* detectors */
    int n_ccds;               /* [2] */
    int quadrants;            /* 4 quadrant detectors per CCD [0] */
    int width, height;        /* per detector [32 x 24] */
    sso_fg_wcs wcs;           /* [TPV] */
    double ra_deg, dec_deg;   /* CRVAL of every detector (CRPIX differs) [150.1, 2.2] */
    double gain_e_per_adu;    /* GAIN [3.48] */
    double magzerop;          /* MAGZEROP [24.566] */
    double noise_adu;         /* rms of deterministic pseudo-random noise added to SCI [0] */
    /* writing */
    int compress;             /* RICE_1 tile compression of every image extension [0] */
    float quantize_level;     /* cfitsio quantize level for compressed floats; 0: the absolute
                               * step SSO_FG_QSTEP_ADU (exact tests) [0] */
    int checksum;             /* write CHECKSUM/DATASUM in every HDU [0] */
    unsigned shuffle_seed;    /* 0: extensions in det order SCI, RMS, FLG; else shuffled [0] */
    int sci_bitpix, rms_bitpix, flg_bitpix; /* [-32, -32, 32] */
    /* breakers: an extension name such as "1-1.RMS" or "" */
    char drop_ext[32];        /* not written */
    char wider_ext[32];       /* written one column wider */
    char bitpix_ext[32];      /* written with BITPIX bad_bitpix instead */
    int bad_bitpix;           /* [16] */
    char no_wcs_ext[32];      /* a SCI extension written without WCS keywords */
    char linear_wcs_ext[32];  /* a SCI extension with CTYPE 'LINEAR' */
    char singular_wcs_ext[32];/* a SCI extension with an all-zero CD matrix */
    char nan_ext[32];         /* a SCI extension whose pixels are all NaN */
    int n_nan_pixels;         /* SCI pixels (x = 2 + i, y = 2) set to NaN in every detector [0] */
    int ext_name_lowercase;   /* write "<det>.sci" etc. [0] */
    /* generic layout: one image in the primary HDU, with its own WCS, time and EXPTIME */
    int generic;              /* [0] */
    int generic_planes;       /* 0: SCI only; 1: + "RMS", "FLG" extensions; 2: + "WEIGHT", "MASK" */
} sso_fg_config;

/* Fills c with the defaults in brackets above. */
void sso_fg_defaults(sso_fg_config *c);

/* The config of exposure e (0..3) of a quartet made from base: DITHOBS e+1, EXPNUM e+1 (each
 * stays 0 = not written when it is 0 in base), start
 * time base->mjd_start + e * SSO_FG_START_STEP_S, CRVAL moved by the dither step (~127"). */
void sso_fg_quartet_member(const sso_fg_config *base, int e, sso_fg_config *out);

/* Number of detectors in a file written with c, and the name of detector d. */
int sso_fg_n_detectors(const sso_fg_config *c);
void sso_fg_det_name(const sso_fg_config *c, int d, char *out, size_t n);

/* Writes the file (overwriting). Returns 0, or the cfitsio status with a message in err. */
int sso_fg_write(const sso_fg_config *c, const char *path, char *err, size_t nerr);

/* Writes a quartet (members 0..3 of base) into dir as EUC_VIS_SWL-DET-<obs>-0<d>-1-0000000__
 * <UTC>.fits; the 4 paths go to paths[e] (each of n bytes). Returns 0 or a cfitsio status. */
int sso_fg_write_quartet(const sso_fg_config *base, const char *dir, char paths[4][4096],
                         char *err, size_t nerr);

/* The Euclid-like file name of a config ("EUC_VIS_SWL-DET-002681-01-1-0000000__<UTC>.fits"). */
void sso_fg_file_name(const sso_fg_config *c, char *out, size_t n);

/* Damages the compressed data of tile-compressed extension extname in an existing file: mode 0
 * overwrites the whole heap (every tile's compressed bytes) with 0xFF; mode 1 makes the first
 * tile's descriptor point far outside the heap; mode 2 overwrites the heap with zeros. Returns 0 or non-zero with a message in err. */
int sso_fg_damage_heap(const char *path, const char *extname, int mode, char *err, size_t nerr);

/* The pixel values written for detector d at FITS pixel (x, y) (1-based), before compression.
 * sci is NaN at the n_nan_pixels positions, and includes the noise when noise_adu > 0. */
float sso_fg_sci_adu(const sso_fg_config *c, int d, int x, int y);
float sso_fg_rms_adu(const sso_fg_config *c, int d, int x, int y);
int32_t sso_fg_flg(const sso_fg_config *c, int d, int x, int y);

/* CRPIX of detector d (its CRVAL is (ra_deg, dec_deg)), and the CD matrix [deg/px]. */
void sso_fg_det_crpix(const sso_fg_config *c, int d, double *crpix1, double *crpix2);
void sso_fg_cd(double cd[2][2]);

/* ISO UTC string of an MJD, "YYYY-MM-DDThh:mm:ss.ssssss" (proleptic Gregorian, no leap seconds);
 * written by the test helper independently of wcslib so the ingest's conversion is checked. */
void sso_fg_mjd_to_iso(double mjd, char *out, size_t n);

#endif
