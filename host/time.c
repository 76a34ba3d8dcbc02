/* host/time.c: exposure times from FITS header values.
 *
 * The start of an exposure is MJD-OBS when present, else DATE-OBS (ISO 8601, UTC) converted to
 * MJD by wcslib's datfix() (the calendar arithmetic is wcslib's, not ours); the engine works with
 * the mid-exposure time, start + EXPTIME / 2. Times stay in UTC as written: no time-scale
 * conversion happens here (the alerts report UTC MJDs, as the headers do).
 *
 * datfix() works on a wcsprm: a scratch one with 1 axis is initialised, given dateobs, asked to
 * derive mjdobs, and freed. A trailing "Z" (UTC designator, common in Euclid file names and
 * sometimes in headers) is removed first because the FITS date format has none.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <wcslib/wcs.h>
#include <wcslib/wcsfix.h>
#include <wcslib/wcsmath.h>

#include "host/ingest_internal.h"
#include "host/status_internal.h"

sso_status sso_time_iso_to_mjd(const char *iso, double *mjd)
{
    struct wcsprm w;
    char buf[72];
    size_t n;
    if (!iso || !mjd)
        return SSO_ERR_ARG;
    /* trim blanks on both sides and one trailing 'Z' */
    while (*iso == ' ')
        iso++;
    n = strlen(iso);
    while (n && iso[n - 1] == ' ')
        n--;
    if (n && (iso[n - 1] == 'Z' || iso[n - 1] == 'z'))
        n--;
    if (n < 10 || n >= sizeof buf) /* at least YYYY-MM-DD */
        return SSO_ERR_NO_TIME;
    memcpy(buf, iso, n);
    buf[n] = '\0';

    memset(&w, 0, sizeof w);
    w.flag = -1;
    if (wcsini(1, 1, &w) != 0)
        return SSO_ERR_NOMEM;
    snprintf(w.dateobs, sizeof w.dateobs, "%s", buf);
    w.mjdobs = UNDEFINED;
    int rc = datfix(&w);
    double v = w.mjdobs;
    wcsfree(&w);
    /* datfix returns 0 when it derived MJD-OBS, -1 when nothing needed doing (not our case:
     * mjdobs was undefined, so -1 means it could not use dateobs), 5 for a bad date. */
    if (rc != 0 || undefined(v) || !isfinite(v))
        return SSO_ERR_NO_TIME;
    *mjd = v;
    return SSO_OK;
}
