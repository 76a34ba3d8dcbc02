/* host/fast_math.h: per-element math of the fast-mover (streak) search, shared by the CPU reference
 * (host/fast.c, host/fast_bank.c) and the CUDA kernels of the GPU issue.
 *
 * Line sampling. A straight line at angle theta (from +x towards +y) is walked along its major
 * axis (x when |cos| >= |sin|, else y) at integer major coordinates a; its minor coordinate there
 * is m = j + t a (t = tan theta for x-major, cot theta for y-major; j the line's intercept), and
 * an image is read at (a, m) by linear interpolation between the two pixels bracketing m along the
 * minor axis (0 off the image). sso_fast_sample is that read (exact line sums of candidates).
 *
 * Segment pyramid (the bank, host/fast_bank.c). Level j holds, per angle, the sums of blocks of
 * b = 2^j consecutive major samples along lines of that angle: a row per block index, an element
 * per integer minor coordinate m of the block's first sample, padded by R_j = b + 2 on both sides
 * (index m + R_j; reads beyond the padding are 0: such a block misses the image). A block of level
 * j at slope t is its first half plus its second half, the level-(j-1) blocks at the nearest
 * coarser angle, the second read at m + t b/2 (split into an integer shift k and a fraction f:
 * linear interpolation across): sso_fast_level_elem. Every row of a level is one such shifted
 * two-tap sum, so the CPU loops vectorise; the element function is the definition (edges).
 */
#ifndef SSO_FAST_MATH_H
#define SSO_FAST_MATH_H

#include <math.h>

#include "host/sso_hd.h"
#include "host/stack_math.h" /* sso_tmpl_bilinear */

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

/* Distance from (x, y) to the segment of half-length hl about (xc, yc) along the unit (ct, st)
 * (suppression of streaks in host/fast.c; which alerts a fast candidate touches in host/pipeline.c). */
SSO_HD static inline double sso_fast_seg_dist(double x, double y, double xc, double yc, double hl,
                                              double ct, double st)
{
    double dx = x - xc, dy = y - yc, al = dx * ct + dy * st;
    al = al > hl ? hl : al < -hl ? -hl : al;
    return hypot(dx - al * ct, dy - al * st);
}

/* The stacked SNR of the epochs other than the strongest, sum psi / sqrt(sum phi) without the
 * epoch of highest psi / sqrt(phi) (sso/fast.h rest_snr_min: a candidate is not carried by one
 * epoch; host/fast.c's acceptance and host/pipeline.c's explaining away). Epochs with phi <= 0 are
 * left out; NAN when fewer than two are left. */
SSO_HD static inline double sso_fast_rest_nu(const double *psi, const double *phi, int n)
{
    double sa = 0.0, sb = 0.0;
    int top = -1;
    for (int e = 0; e < n; e++) {
        if (!(phi[e] > 0.0))
            continue;
        sa += psi[e], sb += phi[e];
        if (top < 0 || psi[e] / sqrt(phi[e]) > psi[top] / sqrt(phi[top]))
            top = e;
    }
    if (top < 0 || !(sb - phi[top] > 0.0))
        return NAN;
    return (sa - psi[top]) / sqrt(sb - phi[top]);
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

/* Splits a minor shift s into floor k and fraction f in [0, 1). */
SSO_HD static inline void sso_fast_split(double s, int *k, float *f)
{
    double fl = floor(s);
    *k = (int)fl;
    *f = (float)(s - fl);
}

/* A padded pyramid row (minor extent M, padding R) at integer minor m; 0 beyond the padding. */
SSO_HD static inline float sso_fast_row_at(const float *row, int R, int M, int m)
{
    return m >= -R && m < M + R ? row[m + R] : 0.0f;
}

/* One element of a level step: the block at minor m is the first half (row lo, padding Ri) at m
 * plus the second half (row hi, NULL past the end of the line) at m + k + f. */
SSO_HD static inline float sso_fast_level_elem(const float *lo, const float *hi, int Ri, int M,
                                               int m, int k, float f)
{
    float v = sso_fast_row_at(lo, Ri, M, m);
    if (hi)
        v += (1.0f - f) * sso_fast_row_at(hi, Ri, M, m + k) + f * sso_fast_row_at(hi, Ri, M, m + k + 1);
    return v;
}

/* Bank statistic of a segment: sum psi / sqrt(sum phi), NaN where the segment misses the data. */
SSO_HD static inline float sso_fast_seg_stat(double ps, double pf, double pf_min)
{
    return pf > pf_min ? (float)(ps / sqrt(pf)) : NAN;
}

/* ---- trail template by a cumulative table --------------------------------------------------- */
/* The exact trail model of unit flux, length L, centre c, direction u = (cos, sin) (n = (-sin,
 * cos)): T(x) = (1/L) int_{-L/2}^{L/2} K(x - c - s u) ds, K the PSF kernel bilinearly interpolated
 * (sso_tmpl_bilinear; sso_tmpl_trail_px is the same integral as a sum over points 0.25 px apart).
 * With x - c = a u + d n and C(t, d) = int_{-inf}^{t} K(tau u + d n) dtau (the cumulative line
 * integral of the kernel along u at across offset d): T = (C(a + L/2, d) - C(a - L/2, d)) / L.
 * K vanishes beyond |x|, |y| >= half + 1, so C is a table over t, d in [-R, R] (R = (half + 1)
 * sqrt 2), 0 below -R in t and C(R, d) (the across profile) above R: O(R^2) to build per angle, and
 * a model costs O(L R) pixels of two table reads each (one, the profile, inside the trail) instead of
 * the O(L / 0.25 x half^2) splat. Simpson along t on a grid of h = 1/8 px; bilinear reads. */

/* Grid points per axis of the table for kernel half size half at spacing h_px; *r_px: its R. */
SSO_HD static inline int sso_fast_ttab_n(int half, double h_px, double *r_px)
{
    int n = (int)ceil(2.0 * (half + 1) * 1.4142135623730951 / h_px) + 1;
    *r_px = 0.5 * (n - 1) * h_px;
    return n;
}

/* Row id (across offset d = -R + id h) of the table: c_row[it] = C(-R + it h, d). */
SSO_HD static inline void sso_fast_ttab_row(const float *k, int half, double ct, double st, int n,
                                            double h_px, int id, float *c_row)
{
    const double R = 0.5 * (n - 1) * h_px, d = -R + id * h_px;
    const double ox = -d * st, oy = d * ct; /* d n */
    double acc = 0.0, prev = sso_tmpl_bilinear(k, half, ox - R * ct, oy - R * st);
    c_row[0] = 0.0f;
    for (int it = 1; it < n; it++) {
        const double t = -R + it * h_px, tm = t - 0.5 * h_px;
        const double mid = sso_tmpl_bilinear(k, half, ox + tm * ct, oy + tm * st);
        const double cur = sso_tmpl_bilinear(k, half, ox + t * ct, oy + t * st);
        acc += h_px / 6.0 * (prev + 4.0 * mid + cur);
        c_row[it] = (float)acc;
        prev = cur;
    }
}

/* C(t, d) from the table tab (n x n, rows by d) of spacing h_px: 0 outside |d| < R or below -R in t;
 * bilinear inside. */
SSO_HD static inline float sso_fast_ttab_cum(const float *tab, int n, double h_px, double t,
                                             double d)
{
    const double R = 0.5 * (n - 1) * h_px;
    if (!(d > -R && d < R) || !(t > -R))
        return 0.0f;
    const double fd = (d + R) / h_px, ft = (t < R ? t + R : 2.0 * R) / h_px;
    int id = (int)fd, it = (int)ft;
    id = id > n - 2 ? n - 2 : id, it = it > n - 2 ? n - 2 : it;
    const float wd = (float)(fd - id), wt = (float)(ft - it);
    const float *r0 = tab + (long)id * n + it, *r1 = r0 + n;
    return (1.0f - wd) * ((1.0f - wt) * r0[0] + wt * r0[1]) + wd * ((1.0f - wt) * r1[0] + wt * r1[1]);
}

/* The trail model T at along offset a and across offset d from the centre, length len_px. */
SSO_HD static inline float sso_fast_ttab_trail(const float *tab, int n, double h_px, double len_px,
                                               double a, double d)
{
    const double hl = 0.5 * len_px;
    return (float)((sso_fast_ttab_cum(tab, n, h_px, a + hl, d) -
                    sso_fast_ttab_cum(tab, n, h_px, a - hl, d)) / len_px);
}

#endif
