/* sso/quartet.h: ingest of one observation (4 long VIS exposures), detector by detector.
 *
 * sso_quartet_open() checks the whole observation before any pixel is read: each file is FITS and
 * complete (no HDU runs past the end of the file), each detector has SCI, RMS and FLG extensions of
 * matching size and type, each SCI header has a usable celestial WCS, each exposure has a time,
 * all exposures share one OBS_ID, no two share a dither (or start time), and there are exactly 4.
 * The exposures are then ordered by mid-exposure time. Any failure returns its own status with a
 * detail naming the file and extension (sso_last_error()), and nothing is kept open.
 *
 * Pixels are read one detector at a time (sso_detector_read), so a caller streams a 7 GB exposure
 * with one detector's memory. Detector names are Euclid's: CCD-level "3-4" or quadrant-level
 * "3-4.F"; extensions "<det>.SCI", "<det>.RMS", "<det>.FLG" in any order, plain or tile-compressed.
 *
 * Threads: sso_detector_read() may be called from several threads at once on one quartet (each
 * read uses a cfitsio handle of its own); everything else is read-only after open.
 *
 * Generic input: a file whose primary HDU (or first image extension) is a single image with a
 * celestial WCS, a time and EXPTIME is one exposure with one detector named "0"; its RMS and FLG
 * may be absent (then rms is NULL and flg all zero) or given as extensions named RMS/WEIGHT and
 * FLG/MASK. OBS_ID is optional there (taken as "" for all), DITHOBS too (then order by time).
 */
#ifndef SSO_QUARTET_H
#define SSO_QUARTET_H

#include <stddef.h>
#include <stdint.h>
#include "sso/status.h"
#include "sso/wcs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_QUARTET_N 4

typedef struct sso_quartet sso_quartet;
typedef struct sso_detector sso_detector;

/* Flags for sso_quartet_open(). */
enum {
    SSO_OPEN_VERIFY_CHECKSUM = 1 << 0, /* verify DATASUM/CHECKSUM of every HDU read (if present) */
    /* accept 3 exposure files (an observation whose 4th exposure never came, `sso watch`): the
     * quartet then holds a 4th, empty exposure (path "", no detectors) at the missing dither's
     * time, estimated from the others; every stage sees that epoch as uncovered (masked) */
    SSO_OPEN_ALLOW_THREE = 1 << 1
};

typedef struct sso_exposure_info {
    const char *path;     /* as given */
    const char *obs_id;   /* OBS_ID as a string ("" if absent in generic input) */
    int dither;           /* DITHOBS (0 if absent) */
    int expnum;           /* EXPNUM (0 if absent) */
    double mjd_start;     /* MJD-OBS, else from DATE-OBS [d, UTC] */
    double mjd_mid;       /* mjd_start + exptime_s / 2 / 86400 [d, UTC] */
    double exptime_s;     /* EXPTIME [s] */
    const char *date_obs; /* DATE-OBS as written, or "" */
    int n_detectors;
} sso_exposure_info;

/* Opens exactly 4 exposure files (any order), or 3 with SSO_OPEN_ALLOW_THREE. flags: SSO_OPEN_*.
 * On error *out is NULL. */
sso_status sso_quartet_open(const char *const *paths, int n_paths, unsigned flags, sso_quartet **out);
/* Opens the exposure files (*.fits, *.fits.fz, *.fit) of a directory; it must hold exactly 4. */
sso_status sso_quartet_open_dir(const char *dir, unsigned flags, sso_quartet **out);
void sso_quartet_free(sso_quartet *q);

/* Exposure e in time order, 0..3. The strings live as long as q. */
sso_status sso_quartet_exposure(const sso_quartet *q, int e, sso_exposure_info *out);
/* Name of detector d (0..n_detectors-1) of exposure e, e.g. "3-4" or "3-4.F"; NULL if out of range.
 * Detectors are listed in name order, not file order. */
const char *sso_quartet_detector_name(const sso_quartet *q, int e, int d);
/* Index of a detector by name in exposure e, or -1. */
int sso_quartet_find_detector(const sso_quartet *q, int e, const char *name);

/* Reads SCI, RMS and FLG of one detector. SSO_ERR_ALL_NAN if no SCI pixel is finite;
 * SSO_ERR_CORRUPT if the data cannot be decoded or fails its checksum. */
sso_status sso_detector_read(const sso_quartet *q, int e, int d, sso_detector **out);
void sso_detector_free(sso_detector *det);

/* Accessors of a read detector. Images are row-major, width columns (NAXIS1) by height rows. */
const char *sso_detector_name(const sso_detector *det);
int sso_detector_width(const sso_detector *det);
int sso_detector_height(const sso_detector *det);
const float *sso_detector_sci_adu(const sso_detector *det);   /* SCI [ADU] */
const float *sso_detector_rms_adu(const sso_detector *det);   /* RMS [ADU], NULL if absent */
const int32_t *sso_detector_flg(const sso_detector *det);     /* FLG bit mask (EUCLID.md bits) */
double sso_detector_gain_e_per_adu(const sso_detector *det);  /* GAIN [e-/ADU] (1 if absent) */
double sso_detector_magzerop(const sso_detector *det);        /* MAGZEROP [AB mag for 1 ADU/s], NaN if absent */
const sso_wcs *sso_detector_wcs(const sso_detector *det);      /* owned by det */

/* The WCS of detector d of exposure e without reading pixels (parsed at open). Owned by q. */
const sso_wcs *sso_quartet_detector_wcs(const sso_quartet *q, int e, int d);
/* Size of detector d of exposure e from its header. */
sso_status sso_quartet_detector_size(const sso_quartet *q, int e, int d, int *width, int *height);

#ifdef __cplusplus
}
#endif
#endif
