/* host/fast_math.h: per-element math of the fast-mover (streak) search, shared by the CPU reference
 * (host/fast.c) and the CUDA kernels of the GPU issue.
 *
 * Line sampling. A straight line at angle theta (from +x towards +y) is walked along its major
 * axis (x when |cos| >= |sin|, else y) at integer major coordinates a; its minor coordinate there
 * is m = j + t a (t = tan theta for x-major, cot theta for y-major; j the line's intercept), and
 * an image is read at (a, m) by linear interpolation between the two pixels bracketing m along the
 * minor axis (0 off the image). This is the whole of the bank's per-sample work: one shear pass
 * per angle, prefix sums along the major axis, and every segment sum of the line is two loads.
 * A segment of length L on that line has n = sso_fast_line_n(L, theta) samples.
 */
#ifndef SSO_FAST_MATH_H
#define SSO_FAST_MATH_H

#include <math.h>

#include "host/sso_hd.h"

/* 1 when the line at theta is walked along x, 0 along y. */
SSO_HD static inline int sso_fast_xmajor(double theta_rad)
{
    return fabs(cos(theta_rad)) >= fabs(sin(theta_rad));
}

/* Slope of the minor coordinate per unit major coordinate. */
SSO_HD static inline double sso_fast_slope(double theta_rad)
{
    double c = cos(theta_rad), s = sin(theta_rad);
    return sso_fast_xmajor(theta_rad) ? s / c : c / s;
}

/* Samples on a segment of length len_px at theta: its extent along the major axis, at least 1. */
SSO_HD static inline int sso_fast_line_n(double len_px, double theta_rad)
{
    double c = fabs(cos(theta_rad)), s = fabs(sin(theta_rad));
    int n = (int)lround(len_px * (c > s ? c : s));
    return n < 1 ? 1 : n;
}

/* img (w x h, row-major) at major coordinate a and real minor coordinate m, linearly interpolated
 * along the minor axis; pixels off the image read 0. */
SSO_HD static inline float sso_fast_sample(const float *img, int w, int h, int xmajor, int a,
                                           double m)
{
    const int na = xmajor ? w : h, nm = xmajor ? h : w;
    if (a < 0 || a >= na)
        return 0.0f;
    double fl = floor(m);
    int m0 = (int)fl;
    float f = (float)(m - fl);
    float v0 = 0.0f, v1 = 0.0f;
    if (m0 >= 0 && m0 < nm)
        v0 = xmajor ? img[(long)m0 * w + a] : img[(long)a * w + m0];
    if (m0 + 1 >= 0 && m0 + 1 < nm)
        v1 = xmajor ? img[(long)(m0 + 1) * w + a] : img[(long)a * w + m0 + 1];
    return (1.0f - f) * v0 + f * v1;
}

/* The bank's threshold predicate on a segment sum: ps / (c sqrt(pf)) >= nu, pf > 0. */
SSO_HD static inline int sso_fast_pass(double ps, double pf, double c, double nu)
{
    return pf > 0.0 && ps > 0.0 && ps * ps >= nu * nu * c * c * pf;
}

#endif
