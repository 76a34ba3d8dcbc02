/* host/photometry_math.h: per-pixel pieces of the track photometry (include/sso/photometry.h),
 * shared with a CUDA twin to come.
 *
 * sso_phot_seg_dist2()  squared distance of a pixel centre from a trail segment (the stamp test);
 * sso_phot_template()   the unit-profile template T_e of one pixel: the rule of
 *                       sso_difference_patch (median of 3, mean of 2, the single one) applied to
 *                       the OTHER epochs' unit profiles p[k] that were unmasked before differencing.
 *                       Uses sso_diff_template itself, so the two rules cannot drift apart.
 */
#ifndef SSO_PHOTOMETRY_MATH_H
#define SSO_PHOTOMETRY_MATH_H

#include <math.h>
#include <stdint.h>

#include "host/difference_math.h"
#include "host/sso_hd.h"

SSO_HD static inline double sso_phot_seg_dist2(double px, double py, double ax, double ay,
                                               double bx, double by)
{
    const double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double u = l2 > 0.0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0.0;
    u = u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
    const double ex = px - (ax + u * dx), ey = py - (ay + u * dy);
    return ex * ex + ey * ey;
}

/* p[k], m[k]: epoch k's unit profile and pre-difference mask at this pixel, k = 0..n-1 (n <= 4).
 * Returns 0 (and *t = 0) when no other epoch is unmasked, else 1 with the template in *t. */
SSO_HD static inline int sso_phot_template(const float *p, const uint8_t *m, int n, int e,
                                           float *t)
{
    float v[3], dummy[3] = {0.0f, 0.0f, 0.0f}, vt;
    int nv = 0;
    for (int k = 0; k < n; k++)
        if (k != e && !m[k] && nv < 3)
            v[nv++] = p[k];
    *t = 0.0f;
    return sso_diff_template(v, dummy, nv, t, &vt);
}

#endif
