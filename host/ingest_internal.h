/* host/ingest_internal.h: one exposure file, the unit sso_quartet is made of (host/ingest.c).
 *
 * sso_exposure is the whole validation and reading of a single file, with no knowledge of the
 * other three: sso_quartet_open() opens 4 of them and checks them against each other. It is
 * exposed here (not in the public API) so that the fuzz target (tests/fuzz) can feed an in-memory
 * file through exactly the code a real open runs: sso_exposure_open_mem() differs from
 * sso_exposure_open() only in how cfitsio opens the bytes (fits_open_memfile vs. a disk file).
 */
#ifndef SSO_INGEST_INTERNAL_H
#define SSO_INGEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sso/quartet.h"
#include "sso/status.h"

/* Largest detector accepted [px]: a VIS CCD is 17 Mpx; anything beyond this is a broken header
 * rather than an image, and would only make the reader allocate gigabytes. */
#define SSO_INGEST_MAX_PIXELS ((int64_t)1 << 30)

typedef struct sso_exposure sso_exposure;

/* Opens and validates one exposure file (everything sso_quartet_open checks per file). */
sso_status sso_exposure_open(const char *path, unsigned flags, sso_exposure **out);

/* The same for a FITS file held in memory (n bytes at buf, borrowed: it must outlive the
 * exposure). name stands for the file in messages. max_pixels bounds each detector's size
 * (SSO_INGEST_MAX_PIXELS for real files; the fuzzer passes a small value). */
sso_status sso_exposure_open_mem(const void *buf, size_t n, const char *name, unsigned flags,
                                 int64_t max_pixels, sso_exposure **out);
void sso_exposure_free(sso_exposure *x);

/* Header facts of the exposure; strings live as long as x. */
void sso_exposure_get_info(const sso_exposure *x, sso_exposure_info *out);
int sso_exposure_n_detectors(const sso_exposure *x);
const char *sso_exposure_detector_name(const sso_exposure *x, int d);
const sso_wcs *sso_exposure_detector_wcs(const sso_exposure *x, int d);
void sso_exposure_detector_size(const sso_exposure *x, int d, int *width, int *height);
/* GAIN [e-/ADU] (1 when absent) and MAGZEROP (NaN when absent) of detector d, from its header:
 * the values sso_exposure_read_detector() gives its detector. */
void sso_exposure_detector_calib(const sso_exposure *x, int d, double *gain_e_per_adu,
                                 double *magzerop);
/* Whether any plane of detector d is tile-compressed. */
int sso_exposure_detector_compressed(const sso_exposure *x, int d);

/* Reads the pixels of detector d (safe to call from several threads at once, see ingest.c). */
sso_status sso_exposure_read_detector(const sso_exposure *x, int d, sso_detector **out);

/* The cross-checks of sso_quartet_open between exposures x[0..n-1] (one OBS_ID, the same
 * detectors, no dither or start time twice), for exposures from..n-1 against the earlier ones
 * (from 1: all). The staged pipeline (sso_pipeline_session) runs it as each exposure arrives. */
sso_status sso_exposures_check(const sso_exposure *const *x, int n, int from);
/* A quartet from exposures already open (4, or 3 with SSO_OPEN_ALLOW_THREE in flags): the checks
 * above, the missing 4th of 3, time order. Takes ownership of x[0..n-1] whatever the outcome (the
 * entries are set to NULL); sso_quartet_open is sso_exposure_open on each path, then this. */
sso_status sso_quartet_adopt(sso_exposure **x, int n, unsigned flags, sso_quartet **out);
/* Exposure e (time order) of q, owned by q; NULL when out of range. */
const sso_exposure *sso_quartet_exposure_handle(const sso_quartet *q, int e);

/* DATE-OBS (ISO 8601, UTC; "Z" tolerated) -> MJD [d], via wcslib's datfix (host/time.c).
 * SSO_ERR_NO_TIME if the string is not a date. Sets no error detail: the caller names the file. */
sso_status sso_time_iso_to_mjd(const char *iso, double *mjd);

#endif
