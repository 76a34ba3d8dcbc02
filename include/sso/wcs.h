/* sso/wcs.h: celestial WCS of one detector (a thin, opaque wrapper around wcslib).
 *
 * Built from a FITS header (the whole header as cfitsio's fits_hdr2str returns it: 80-character
 * cards, no separators). TAN, TAN-SIP and TPV are all handled by wcslib itself. Pixel coordinates
 * are FITS 1-based (the centre of the first pixel is 1.0, 1.0); sky coordinates are ICRS degrees.
 * An sso_wcs is read-only after creation, and safe to use from several threads at once.
 */
#ifndef SSO_WCS_H
#define SSO_WCS_H

#include <stddef.h>
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sso_wcs sso_wcs;

/* Parses the celestial WCS from a header string of nkeys 80-char cards. `what` names the source in
 * error messages ("file.fits, extension 3-4.SCI"). SSO_ERR_WCS if there is no usable celestial WCS. */
sso_status sso_wcs_from_header(const char *header, int nkeys, const char *what, sso_wcs **out);
void sso_wcs_free(sso_wcs *w);

/* n points: pixel (x_px, y_px) -> (ra_deg, dec_deg). Points that do not convert get NaN. */
sso_status sso_wcs_pix2sky(const sso_wcs *w, size_t n, const double *x_px, const double *y_px,
                           double *ra_deg, double *dec_deg);
/* n points: (ra_deg, dec_deg) -> pixel (x_px, y_px). Points that do not convert get NaN. */
sso_status sso_wcs_sky2pix(const sso_wcs *w, size_t n, const double *ra_deg, const double *dec_deg,
                           double *x_px, double *y_px);

/* The projection code of the first axis after "RA---", e.g. "TAN", "TPV"; and whether SIP
 * distortion is present. For messages and tests. */
const char *sso_wcs_projection(const sso_wcs *w);
int sso_wcs_has_sip(const sso_wcs *w);

#ifdef __cplusplus
}
#endif
#endif
