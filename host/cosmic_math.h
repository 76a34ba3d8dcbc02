/* host/cosmic_math.h: per-pixel arithmetic of cosmic-ray detection (include/sso/cosmic.h),
 * shared by host/cosmic.c and a CUDA twin.
 *
 * sso_cr_lplus(): L+ of one pixel from itself and its 4 neighbours (the caller passes the centre
 * value for a neighbour that is masked or off the image). sso_cr_median(): the median of a small
 * window (at most 49 values, sorted in place by insertion: windows are 9, 25 or 49 long, and a
 * sorting network would gain little over it here). sso_cr_ratio(): the objlim test quantity.
 */
#ifndef SSO_COSMIC_MATH_H
#define SSO_COSMIC_MATH_H

#include <math.h>

#include "host/sso_hd.h"

/* The x2-subsampled Laplacian, clipped at 0 and block-averaged back, of pixel value c with
 * neighbours l(eft), r(ight), u(p: y-1), d(own: y+1). */
SSO_HD static inline float sso_cr_lplus(float c, float l, float r, float u, float d)
{
    /* comparisons, not fmaxf: the values are finite, and fmaxf is a libm call on the host */
    float c2 = 2.0f * c, a = c2 - l - u, b = c2 - r - u, e = c2 - l - d, f = c2 - r - d;
    return 0.25f * ((a > 0.0f ? a : 0.0f) + (b > 0.0f ? b : 0.0f) + (e > 0.0f ? e : 0.0f) +
                    (f > 0.0f ? f : 0.0f));
}

/* S = L+ / (2 N): 0 where the variance is not a finite positive number. */
SSO_HD static inline float sso_cr_sig(float lplus, float var_e2)
{
    return (var_e2 > 0.0f && isfinite(var_e2)) ? lplus / (2.0f * sqrtf(var_e2)) : 0.0f;
}

/* Median of v[0..n-1] (1 <= n <= 49; the mean of the middle two for even n); sorts v. */
SSO_HD static inline float sso_cr_median(float *v, int n)
{
    for (int i = 1; i < n; i++) {
        float x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

/* L+ / F with the fine structure F floored at 0.01 N. */
SSO_HD static inline float sso_cr_ratio(float lplus, float fine_e, float var_e2)
{
    float floor_e = 0.01f * sqrtf(var_e2);
    return lplus / fmaxf(fine_e, floor_e);
}

#endif
