/* sso/ades.h: detections as an IAU ADES report (pipe-separated values, PSV) for the Minor Planet
 * Center, and the observer ephemeris that gives a space-based report its observer positions.
 *
 * A report is one ADES obsBlock: a header (`# version=2017`, then `# observatory`, `# submitter`,
 * `# observers`, `# measurers`, `# telescope` and an optional `# comment` block, each followed by
 * `! key value` lines), the column line, then one row per epoch of each alert. Rows have a fixed
 * set of columns in the order of the ADES optical element (SSO_ADES_COLUMNS), so every row has the
 * same field count whatever is known; an unknown value is an empty field (the element is absent
 * when the PSV is converted to XML). Columns are padded to a fixed width for people; ADES does not
 * require alignment.
 *
 * Formats (ADES optical, version 2017): obsTime ISO 8601 UTC with 'Z' at the millisecond (the
 * alert's mid-exposure time); ra, dec decimal degrees (not sexagesimal: that is the old 80-column
 * format), 7 decimals = 0.36 mas, ra in [0, 360), dec signed; rmsRA (includes cos dec), rmsDec
 * arcsec, 3 decimals (up to 6 below 0.5 mas: a positive rms is never written 0); mag, rmsMag
 * 2 decimals; logSNR = log10(snr), 2 decimals; exp seconds;
 * mode CCD; stn the MPC observatory code; astCat/photCat the reference catalogues (settings).
 *
 * Observer position (space-based stations: every Euclid observation): sys ICRF_KM, ctr 399
 * (geocentre), pos1..3 in km, 3 decimals. Taken from the alert when it carries one (sso_alert_obs
 * pos_km: what a producer read from the exposure headers), else from the configured ephemeris,
 * else left empty and counted as missing so that the caller says so.
 *
 * Ephemeris file (sso_ephem_load): text, one sample a line, `mjd,x_km,y_km,z_km`: UTC MJD and the
 * observer's geocentric position in the ICRF (equatorial J2000 axes) in km. Lines starting with
 * '#' and one header line starting with a letter are skipped; samples must be strictly increasing
 * in mjd. A JPL Horizons vector table (geocentric, ICRF, km) converted to this shape will do: its
 * times are TDB, ~69 s from UTC, i.e. tens of km at Euclid's speed, far below what matters for
 * the parallax of a Solar System object.
 */
#ifndef SSO_ADES_H
#define SSO_ADES_H

#include <stddef.h>

#include "sso/alert.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The columns of every row, in this order. */
#define SSO_ADES_COLUMNS                                                                          \
    "trkSub|mode|stn|sys|ctr|pos1|pos2|pos3|obsTime|ra|dec|rmsRA|rmsDec|astCat|mag|rmsMag|band|"  \
    "photCat|logSNR|exp"
#define SSO_ADES_N_COLUMNS 20

/* ---- observer ephemeris ---------------------------------------------------------------------- */

typedef struct sso_ephem sso_ephem;

/* Reads an ephemeris file (format above). SSO_ERR_IO when unreadable, SSO_ERR_ARG (with the line
 * number) for a malformed line, fewer than 2 samples, or mjd not strictly increasing. */
sso_status sso_ephem_load(const char *path, sso_ephem **out);
/* The same from arrays (copied): n >= 2 samples, mjd strictly increasing. */
sso_status sso_ephem_from_samples(const double *mjd, const double (*pos_km)[3], size_t n,
                                  sso_ephem **out);
void sso_ephem_free(sso_ephem *e);
/* Position at mjd: cubic Lagrange interpolation on the 4 samples around mjd (2 on each side;
 * linear between the first two or last two samples). Exact for positions cubic in time.
 * Returns 1 and fills pos_km when mjd lies within [first, last] sample; 0 (pos_km NaN) outside:
 * no extrapolation. */
int sso_ephem_at(const sso_ephem *e, double mjd, double pos_km[3]);

/* ---- report ---------------------------------------------------------------------------------- */

typedef struct sso_ades_opts {
    const char *stn;        /* MPC observatory code; NULL or "" = each alert's own stn */
    const char *ast_cat;    /* astCat [Gaia3: Euclid's astrometry is tied to Gaia DR3] */
    const char *phot_cat;   /* photCat [Gaia3] */
    const char *band;       /* band; NULL = each epoch's own band (the alerts say "VIS") */
    const char *observatory_name; /* [Euclid] */
    const char *submitter;  /* [sso] */
    const char *observers;  /* [Euclid Consortium] */
    const char *measurers;  /* [sso] */
    const char *telescope;  /* telescope name [Euclid 1.2-m Korsch + VIS] */
    const sso_ephem *ephem; /* observer positions when the alert has none; may be NULL */
} sso_ades_opts;

void sso_ades_opts_default(sso_ades_opts *o);

/* Where the observer position of one epoch comes from. */
typedef enum sso_ades_pos_source {
    SSO_ADES_POS_MISSING = 0,
    SSO_ADES_POS_ALERT = 1, /* carried by the alert (headers) */
    SSO_ADES_POS_EPHEM = 2  /* interpolated in the configured ephemeris */
} sso_ades_pos_source;

/* The observer position of epoch k of a (alert first, then ephemeris). pos_km is NaN when
 * missing. */
sso_ades_pos_source sso_ades_position(const sso_ades_opts *o, const sso_alert *a, int k,
                                      double pos_km[3]);

/* The header of a report for station stn, ending with the column line, into a malloc'd string
 * (caller frees). comments (n lines, may be 0) go into a `# comment` block as `! line` entries.
 * SSO_ERR_ARG for an empty station or a '|' or newline in any text. */
sso_status sso_ades_header(const sso_ades_opts *o, const char *stn, const char *const *comments,
                           size_t n_comments, char **out);

/* The rows of alert a (one per epoch, each ending in '\n') into a malloc'd string (caller frees).
 * n_missing_pos (may be NULL) gets the number of rows without an observer position.
 * SSO_ERR_ARG for an invalid alert (sso_alert_validate), no station, or a '|' in a text field. */
sso_status sso_ades_rows(const sso_ades_opts *o, const sso_alert *a, char **out,
                         size_t *n_missing_pos);

/* The station a row of a gets: o->stn when set, else a->stn. */
const char *sso_ades_station(const sso_ades_opts *o, const sso_alert *a);

#ifdef __cplusplus
}
#endif
#endif
