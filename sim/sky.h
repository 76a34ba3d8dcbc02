/* sim/sky.h: small spherical-geometry helpers of the simulator (degrees in, degrees out).
 *
 * These place things, they do not map pixels: the focal-plane geometry (where each CCD centre and
 * each dither pointing lies), great-circle motion of the movers, and catalogue bookkeeping. Every
 * pixel <-> sky conversion goes through wcslib on the very header that is written (sso_wcs_*).
 *
 * Conventions: the gnomonic tangent plane (xi, eta) at (ra0, dec0) has xi towards East (increasing
 * RA) and eta towards North, in degrees; position angles are degrees East of North.
 */
#ifndef SSO_SIM_SKY_H
#define SSO_SIM_SKY_H

#include <math.h>

#define SSO_DEG2RAD 0.017453292519943295
#define SSO_RAD2DEG 57.29577951308232

/* Gnomonic deprojection: tangent-plane (xi, eta) [deg] about (ra0, dec0) -> (ra, dec) [deg]. */
static inline void sso_sky_deproject(double ra0_deg, double dec0_deg, double xi_deg, double eta_deg,
                                     double *ra_deg, double *dec_deg)
{
    double x = xi_deg * SSO_DEG2RAD, y = eta_deg * SSO_DEG2RAD;
    double d0 = dec0_deg * SSO_DEG2RAD;
    double sd0 = sin(d0), cd0 = cos(d0);
    double den = cd0 - y * sd0;
    double ra = ra0_deg * SSO_DEG2RAD + atan2(x, den);
    double dec = atan2(sd0 + y * cd0, sqrt(x * x + den * den));
    ra *= SSO_RAD2DEG;
    ra = fmod(ra, 360.0);
    if (ra < 0.0)
        ra += 360.0;
    *ra_deg = ra;
    *dec_deg = dec * SSO_RAD2DEG;
}

/* Gnomonic projection: (ra, dec) -> tangent-plane (xi, eta) [deg] about (ra0, dec0). Returns 0
 * for a point on the far hemisphere (xi, eta then meaningless). */
static inline int sso_sky_project(double ra0_deg, double dec0_deg, double ra_deg, double dec_deg,
                                  double *xi_deg, double *eta_deg)
{
    double d0 = dec0_deg * SSO_DEG2RAD, d = dec_deg * SSO_DEG2RAD;
    double da = (ra_deg - ra0_deg) * SSO_DEG2RAD;
    double cosc = sin(d0) * sin(d) + cos(d0) * cos(d) * cos(da);
    *xi_deg = cos(d) * sin(da) / cosc * SSO_RAD2DEG;
    *eta_deg = (cos(d0) * sin(d) - sin(d0) * cos(d) * cos(da)) / cosc * SSO_RAD2DEG;
    return cosc > 0.0;
}

/* Position angle [deg E of N, 0..360) at point 1 of the great circle towards point 2. */
static inline double sso_sky_bearing(double ra1_deg, double dec1_deg, double ra2_deg,
                                     double dec2_deg)
{
    double d1 = dec1_deg * SSO_DEG2RAD, d2 = dec2_deg * SSO_DEG2RAD;
    double da = (ra2_deg - ra1_deg) * SSO_DEG2RAD;
    double pa = atan2(sin(da) * cos(d2), cos(d1) * sin(d2) - sin(d1) * cos(d2) * cos(da));
    pa *= SSO_RAD2DEG;
    return pa < 0.0 ? pa + 360.0 : pa;
}

/* Angular separation [deg] (haversine-stable Vincenty form). */
static inline double sso_sky_separation(double ra1_deg, double dec1_deg, double ra2_deg,
                                        double dec2_deg)
{
    double d1 = dec1_deg * SSO_DEG2RAD, d2 = dec2_deg * SSO_DEG2RAD;
    double da = (ra2_deg - ra1_deg) * SSO_DEG2RAD;
    double a = cos(d2) * sin(da);
    double b = cos(d1) * sin(d2) - sin(d1) * cos(d2) * cos(da);
    double c = sin(d1) * sin(d2) + cos(d1) * cos(d2) * cos(da);
    return atan2(sqrt(a * a + b * b), c) * SSO_RAD2DEG;
}

/* The point at angular distance dist_deg from (ra, dec) along the great circle leaving it at
 * position angle pa_deg (negative distances go backwards). */
static inline void sso_sky_offset(double ra_deg, double dec_deg, double pa_deg, double dist_deg,
                                  double *ra2_deg, double *dec2_deg)
{
    double d = dec_deg * SSO_DEG2RAD, p = pa_deg * SSO_DEG2RAD, s = dist_deg * SSO_DEG2RAD;
    double sd2 = sin(d) * cos(s) + cos(d) * sin(s) * cos(p);
    double d2 = asin(sd2 > 1.0 ? 1.0 : (sd2 < -1.0 ? -1.0 : sd2));
    double ra2 = ra_deg * SSO_DEG2RAD + atan2(sin(p) * sin(s) * cos(d), cos(s) - sin(d) * sd2);
    ra2 *= SSO_RAD2DEG;
    ra2 = fmod(ra2, 360.0);
    if (ra2 < 0.0)
        ra2 += 360.0;
    *ra2_deg = ra2;
    *dec2_deg = d2 * SSO_RAD2DEG;
}

/* RA difference ra - ra_ref wrapped into (-180, 180] [deg]. */
static inline double sso_sky_dra(double ra_deg, double ra_ref_deg)
{
    double d = fmod(ra_deg - ra_ref_deg, 360.0);
    if (d > 180.0)
        d -= 360.0;
    else if (d <= -180.0)
        d += 360.0;
    return d;
}

#endif
