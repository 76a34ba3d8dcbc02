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

/* 1 - C(t), C the CDF of the median of 3 independent normals N(mu_k, s_k^2):
 * C = c1 c2 + c1 c3 + c2 c3 - 2 c1 c2 c3 with c_k = Phi((t - mu_k) / s_k). */
SSO_HD static inline double sso_phot_med3_sf(double t, const double *mu, const double *s)
{
    double c[3];
    for (int k = 0; k < 3; k++)
        c[k] = 0.5 * erfc(-(t - mu[k]) / (s[k] * 1.4142135623730951));
    return 1.0 - (c[0] * c[1] + c[0] * c[2] + c[1] * c[2] - 2.0 * c[0] * c[1] * c[2]);
}

/* E[median of 3 independent N(mu_k, s_k^2)] = lo + integral_lo^hi (1 - C(t)) dt, lo/hi 6 s beyond
 * the extreme means. 1 - C changes only within ~6 s_k of each mean and is constant in the gaps
 * between those windows (1 before the second mean is passed, 0 after), so the windows (sorted and
 * merged) are integrated by Simpson's rule with steps <= s/2 and each gap by its midpoint value
 * times its length. Checked against Monte Carlo to ~1e-3 s (e.g. 1/sqrt(pi) for means 10 s, 0, 0,
 * the mean of the larger of two standard normals). */
SSO_HD static inline double sso_phot_emedian3(const double *mu, const double *s)
{
    double a[3], b[3], smin = s[0];
    for (int k = 0; k < 3; k++) {
        a[k] = mu[k] - 6.0 * s[k], b[k] = mu[k] + 6.0 * s[k];
        smin = s[k] < smin ? s[k] : smin;
    }
    for (int i = 1; i < 3; i++) /* sort windows by start */
        for (int j = i; j > 0 && a[j] < a[j - 1]; j--) {
            double ta = a[j], tb = b[j];
            a[j] = a[j - 1], b[j] = b[j - 1], a[j - 1] = ta, b[j - 1] = tb;
        }
    const double lo = a[0];
    double sum = 0.0, cur_a = a[0], cur_b = b[0];
    for (int k = 1; k <= 3; k++) {
        if (k < 3 && a[k] <= cur_b) { /* overlapping: merge */
            cur_b = b[k] > cur_b ? b[k] : cur_b;
            continue;
        }
        int n = (int)ceil((cur_b - cur_a) / (0.5 * smin));
        n += n & 1;
        const double hstep = (cur_b - cur_a) / n;
        double w = sso_phot_med3_sf(cur_a, mu, s) + sso_phot_med3_sf(cur_b, mu, s);
        for (int i = 1; i < n; i++)
            w += (i & 1 ? 4.0 : 2.0) * sso_phot_med3_sf(cur_a + i * hstep, mu, s);
        sum += w * hstep / 3.0;
        if (k < 3) { /* the gap up to the next window */
            sum += (a[k] - cur_b) * sso_phot_med3_sf(0.5 * (a[k] + cur_b), mu, s);
            cur_a = a[k], cur_b = b[k];
        }
    }
    return lo + sum;
}
