/* host/difference_math.h: per-pixel static-sky removal, shared by host/difference.c and its CUDA
 * twin (kernels/difference.cu). The contract is in include/sso/difference.h.
 *
 * sso_median3()        the median of 3 floats (no branches on data beyond min/max);
 * sso_diff_template()  the template value and its variance from the n (0..3) other epochs that are
 *                      not masked;
 * sso_diff_pixel()     one epoch's difference, its variance and a mask code;
 * sso_diff_gate_terms() one pixel's inverse-variance sums over its epochs, for the static-sky gate;
 * sso_diff_gate_static() whether the matched-filtered static sky at a pixel is significant.
 * Mask codes: SSO_DIFF_OK, SSO_DIFF_MASKED (own pixel masked), SSO_DIFF_NO_TEMPLATE, SSO_DIFF_BRIGHT
 * (the bright-template rule; the caller grows these and then turns every code but OK into 1).
 */
#ifndef SSO_DIFFERENCE_MATH_H
#define SSO_DIFFERENCE_MATH_H

#include <math.h>
#include <stdint.h>

#include "host/sso_hd.h"

#define SSO_DIFF_OK 0
#define SSO_DIFF_MASKED 1
#define SSO_DIFF_NO_TEMPLATE 2
#define SSO_DIFF_BRIGHT 3

/* pi / 2 / 3: the large-n median variance factor pi / (2 n) at n = 3. */
#define SSO_DIFF_MEDIAN3_VAR_FACTOR 0.5235987755982988f

SSO_HD static inline float sso_median3(float a, float b, float c)
{
    return fmaxf(fminf(a, b), fminf(fmaxf(a, b), c));
}

/* Template and its variance from n values v[0..n-1] with variances var[0..n-1]. Returns 0 if
 * n == 0 (no template), 1 otherwise. */
SSO_HD static inline int sso_diff_template(const float *v, const float *var, int n, float *t,
                                           float *vt)
{
    if (n == 3) {
        *t = sso_median3(v[0], v[1], v[2]);
        *vt = SSO_DIFF_MEDIAN3_VAR_FACTOR * (var[0] + var[1] + var[2]) * (1.0f / 3.0f);
    } else if (n == 2) {
        *t = 0.5f * (v[0] + v[1]);
        *vt = 0.25f * (var[0] + var[1]);
    } else if (n == 1) {
        *t = v[0];
        *vt = var[0];
    } else {
        return 0;
    }
    return 1;
}

/* Epoch e (0..3) of one pixel whose 4 epochs are img[], var[], mask[]. Writes the difference *d and
 * its variance *dv (0 and +inf unless the code is SSO_DIFF_OK or SSO_DIFF_BRIGHT) and returns the
 * mask code. min_n: fewest other epochs for a template; bright_k <= 0 switches the rule off.
 * subtract 0 (the static-sky gate found no static source here): the template is computed and its
 * rules applied as usual (the mask code does not depend on subtract), but *d and *dv are the
 * epoch's own img and var: the background is already 0, and the template would add only noise. */
SSO_HD static inline int sso_diff_pixel(int e, const float img[4], const float var[4],
                                        const uint8_t mask[4], int min_n, float bright_k, int subtract,
                                        float *d, float *dv)
{
    *d = 0.0f;
    *dv = INFINITY;
    if (mask[e])
        return SSO_DIFF_MASKED;
    float v[3], vv[3];
    int n = 0;
    for (int k = 0; k < 4; k++) {
        if (k == e || mask[k])
            continue;
        v[n] = img[k];
        vv[n] = var[k];
        n++;
    }
    float t, vt;
    if (n < min_n || !sso_diff_template(v, vv, n, &t, &vt))
        return SSO_DIFF_NO_TEMPLATE;
    *d = img[e] - t;
    *dv = var[e] + vt;
    const int bright = bright_k > 0.0f && fabsf(t) > bright_k * sqrtf(*dv);
    if (!subtract) {
        *d = img[e];
        *dv = var[e];
    }
    return bright ? SSO_DIFF_BRIGHT : SSO_DIFF_OK;
}

/* The static-sky gate's terms of one pixel: over the epochs not masked there, num = sum img / var
 * and den = sum 1 / var (the inverse-variance combination of the 4 images; both 0 where all are
 * masked). */
SSO_HD static inline void sso_diff_gate_terms(const float img[4], const float var[4],
                                              const uint8_t mask[4], float *num, float *den)
{
    float a = 0.0f, b = 0.0f;
    for (int k = 0; k < 4; k++)
        if (!mask[k] && var[k] > 0.0f && var[k] < INFINITY) {
            a += img[k] / var[k];
            b += 1.0f / var[k];
        }
    *num = a;
    *den = b;
}

/* The matched filter K ((2 half + 1)^2 weights, row-major) at pixel (x, y) of a w x h plane of the
 * combined image: *ps = sum K num, *ph = sum K^2 den (its significance is ps / sqrt(ph)). Pixels
 * off the plane count as no data. Accumulated in double in one fixed order, so that the CPU and the
 * GPU (built without FMA contraction for this) decide alike. */
SSO_HD static inline void sso_diff_gate_sums(const float *num, const float *den, int w, int h, int x,
                                             int y, const float *K, int half, double *ps_out,
                                             double *ph_out)
{
    double ps = 0.0, ph = 0.0;
    for (int dy = -half; dy <= half; dy++) {
        const int yy = y + dy;
        if (yy < 0 || yy >= h)
            continue;
        for (int dx = -half; dx <= half; dx++) {
            const int xx = x + dx;
            if (xx < 0 || xx >= w)
                continue;
            const size_t i = (size_t)yy * (size_t)w + (size_t)xx;
            const double k = K[(dy + half) * (2 * half + 1) + dx + half];
            ps += k * (double)num[i];
            ph += k * k * (double)den[i];
        }
    }
    *ps_out = ps, *ph_out = ph;
}

/* Whether the static sky at pixel (x, y) of a w x h plane is a source: its matched-filter
 * significance (sso_diff_gate_sums) above snr_min. */
SSO_HD static inline int sso_diff_gate_static(const float *num, const float *den, int w, int h, int x,
                                              int y, const float *K, int half, float snr_min)
{
    double ps, ph;
    sso_diff_gate_sums(num, den, w, h, x, y, K, half, &ps, &ph);
    return ph > 0.0 && ps > (double)snr_min * sqrt(ph);
}

/* Compulsory device-memory bytes of one GPU difference call (kernels/difference.cu) on n pixels
 * per epoch, for achieved bandwidth. Pass 1 reads the 4 epochs' img, var, mask (4 x 9 bytes) and
 * writes the 4 differences, variances and codes (4 x 9 bytes). With the bright growth (grow: the
 * rule on and bright_grow_px > 0) the row pass reads the codes and writes a byte plane (4 x 2),
 * and the column pass reads both and writes the final mask (4 x 3); without it one pass turns
 * the codes into the mask (4 x 2). With the static-sky gate (gate): its terms read the inputs
 * (4 x 9) and write two floats (8), the filter reads them (8, each once from cache at best) and
 * writes a byte, the growth reads and writes a byte plane twice (4), and pass 1 reads the gate (1).
 * Not counted: diff and var rewritten at masked pixels (8 bytes each, data-dependent, a few percent
 * of pixels). */
static inline uint64_t sso_difference_bytes_moved(uint64_t n, int grow, int gate)
{
    return n * ((grow ? 4u * (9u + 9u + 2u + 3u) : 4u * (9u + 9u + 2u)) +
                (gate ? 4u * 9u + 8u + 8u + 1u + 4u + 1u : 0u));
}

#endif
