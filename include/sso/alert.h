/* sso/alert.h: one detected moving object as an alert, its JSON, and the alert layer around it.
 *
 * An sso_alert is a plain struct (no allocation inside): the envelope that travels with every
 * message (schema, alert_id, seq, boot_id, time, role) and the payload named after the IAU ADES
 * optical fields (trkSub, stn, mode, obs[] with obsTime/ra/dec/rmsRA/rmsDec/mag/rmsMag/band/snr/exp,
 * motion, trail). The wire format is ../../shared/ALERTS.md, the JSON Schema
 * schema/sso-alert-1.0.schema.json; tests validate real output against it.
 *
 * Identity: alert_id = "<obs_id>-<16 hex digits of FNV-1a-64(object_key)>" (sso_alert_make_id):
 * deterministic, so re-processing an observation reuses the ids and the store recognises them.
 * seq, boot_id and time are assigned by the store (sso/store.h), never by the producer.
 *
 * Numbers are written round-trip exact (shortest of %.15g/%.16g/%.17g that reads back to the same
 * double) in the "C" locale whatever the process locale; non-finite values are written as null
 * and read back as NaN ("unknown").
 *
 * Modules of the alert layer (alerts/): alert.c + json.c (this header), store.c (sso/store.h),
 * publish.c + replay.c (sso/publish.h), subscribe.c (sso/subscribe.h), ades.c (sso/ades.h).
 */
#ifndef SSO_ALERT_H
#define SSO_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_ALERT_SCHEMA "sso-alert/1.0"
#define SSO_ALERT_MAX_EPOCHS 8 /* a quartet has 4; room for merged re-observations */

typedef enum sso_alert_class { SSO_ALERT_SLOW = 0, SSO_ALERT_FAST = 1 } sso_alert_class;
typedef enum sso_alert_role { SSO_ROLE_OBSERVATION = 0, SSO_ROLE_TEST = 1 } sso_alert_role;

/* One epoch (one exposure) of a detection. NaN = unknown (written as null). */
typedef struct sso_alert_obs {
    double mjd;            /* mid-exposure, UTC MJD [d]; obsTime is derived from it */
    double ra_deg;         /* ICRS */
    double dec_deg;
    double rms_ra_arcsec;  /* ADES rmsRA: includes cos(dec) */
    double rms_dec_arcsec;
    double mag;
    double rms_mag;
    double snr;
    double exp_s;          /* exposure time */
    double x_px;           /* detector pixel, FITS 1-based */
    double y_px;
    char band[8];          /* "VIS" */
    char det[8];           /* Euclid detector id, "3-4" */
    /* Observer (spacecraft) position at mjd, geocentric ICRF [km]: ADES sys ICRF_KM, ctr 399.
     * Optional: NaN = not carried by the alert (JSON omits sys/ctr/pos1..3); sso/ades.h then
     * looks in a configured ephemeris. */
    double pos_km[3];
} sso_alert_obs;

typedef struct sso_alert {
    /* envelope */
    char alert_id[96];    /* sso_alert_make_id() */
    uint64_t seq;         /* assigned by the store, strictly increasing, survives restarts */
    char boot_id[40];     /* assigned by the store: the publisher process instance */
    char time[40];        /* assigned by the store: RFC 3339 UTC issue time, microseconds */
    int revision;         /* 0 first issue; n: n-th changed re-issue of this alert_id */
    sso_alert_role role;
    /* identity inputs (also in the JSON: obs_id) */
    char obs_id[64];      /* the observation id ([A-Za-z0-9_.:-]) */
    /* payload (ADES names in the JSON) */
    char trk_sub[9];      /* trkSub: <= 8 chars */
    char stn[8];          /* observatory code */
    char mode[8];         /* "CCD" */
    sso_alert_class cls;
    int n_epochs;         /* 1..SSO_ALERT_MAX_EPOCHS entries of obs[] */
    sso_alert_obs obs[SSO_ALERT_MAX_EPOCHS];
    double rate_arcsec_h; /* motion.rate */
    double rate_sigma_arcsec_h;
    double pa_deg;        /* motion.pa, east of north, [0, 360) */
    double pa_sigma_deg;
    int has_trail;        /* 1: streak, trail below is meaningful */
    double trail_length_arcsec;
    double trail_angle_deg;
    double score;         /* detection score, larger = more certain */
    char cutouts[128];    /* optional: the per-epoch cutout FITS, a path relative to the alert
                           * file's folder ("cutouts/<alert_id>.fits"); "" = none */
} sso_alert;

/* Sets every field to its "unknown" value: numbers NaN, strings "", band "VIS", mode "CCD",
 * role observation, n_epochs 0. */
void sso_alert_init(sso_alert *a);

/* alert_id from the observation id and an object key chosen by the detector (stable for the same
 * object in a re-run: e.g. detector and rounded first-epoch position). obs_id must be 1..63 chars
 * of [A-Za-z0-9_.:-]; SSO_ERR_ARG otherwise. Writes a->obs_id and a->alert_id. */
sso_status sso_alert_make_id(sso_alert *a, const char *obs_id, const char *object_key);

/* Checks the invariants the schema states (ids, trkSub length, n_epochs, ranges): SSO_ERR_ARG
 * with the first problem in sso_last_error(). */
sso_status sso_alert_validate(const sso_alert *a);

/* "slow" or "fast"; the topic is "sso.v1." followed by it. */
const char *sso_alert_class_name(sso_alert_class c);

/* Writes the alert as one JSON object (no newline) into a malloc'd string *out (caller frees) of
 * length *len (may be NULL). envelope = 0 leaves seq/boot_id/time/revision out: the payload the
 * store compares to decide whether a re-issued alert changed. */
sso_status sso_alert_to_json(const sso_alert *a, int envelope, char **out, size_t *len);

/* Parses what sso_alert_to_json wrote (with the envelope). SSO_ERR_ARG with a detail for malformed
 * JSON or a missing/ill-typed field. Unknown fields are ignored. */
sso_status sso_alert_from_json(const char *json, size_t len, sso_alert *a);

/* UTC MJD -> "YYYY-MM-DDThh:mm:ss.sssZ" (millisecond, rounded). buf >= 32 bytes. */
sso_status sso_alert_mjd_to_iso(double mjd, char *buf, size_t n);
/* Unix time [us] <-> RFC 3339 UTC "YYYY-MM-DDThh:mm:ss.uuuuuuZ". The parser accepts any number
 * of fraction digits, 'Z' or a numeric offset (+hh:mm), and 't'/'z'/' ' variants RFC 3339 allows. */
sso_status sso_time_us_to_rfc3339(int64_t t_us, char *buf, size_t n);
sso_status sso_time_rfc3339_to_us(const char *s, int64_t *t_us);
/* The current wall-clock time [us since 1970]. */
int64_t sso_time_now_us(void);

#ifdef __cplusplus
}
#endif
#endif
