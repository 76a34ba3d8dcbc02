/* host/resample_math.h: per-pixel resampling arithmetic, shared by host/resample.c and its CUDA
 * twin (kernels/resample.cu).
 *
 * Four pieces, each for one output (patch) pixel:
 *   sso_grid_cell_touches() whether the cell of the coarse grid holding the pixel can reach the
 *                         detector at all (both backends write only pixels of such cells, so
 *                         they write the very same set);
 *   sso_grid_map()        detector coordinates of a patch pixel by bilinear interpolation of the
 *                         exact wcslib transform tabulated on a coarse grid (every `step` px), and
 *                         the Jacobian determinant of that interpolated map (detector px^2 per
 *                         patch px^2), the flux factor between the two pixel areas;
 *   sso_lanczos3_weights() the 6 Lanczos-3 weights of a fractional offset, normalised to sum 1
 *                         (so a constant image stays constant) and with a zero first moment (so
 *                         a source is not shifted); 3 trig calls instead of 12, using
 *                         sin(pi (t - k)) = (-1)^k sin(pi t) and the angle-difference formula;
 *   sso_resample_pixel()  the 6 x 6 weighted sum of image, variance and mask of one output pixel.
 * The contract (what is masked, how variance propagates) is in include/sso/resample.h.
 * Grid layout: gx/gy are row-major (gny rows of gnx nodes); node (a, b) holds the 1-based detector
 * position of patch pixel (1 + a*step, 1 + b*step). Doubles: detector coordinates of ~4000 px need
 * more than float's 24 bits to keep the 0.01 px budget.
 */
#ifndef SSO_RESAMPLE_MATH_H
#define SSO_RESAMPLE_MATH_H

#include <math.h>
#include <stdint.h>

#include "host/sso_hd.h"

#define SSO_LANCZOS_A 3
#define SSO_LANCZOS_TAPS 6

/* Bilinear interpolation of the grid at 0-based patch pixel (i, j). Writes the 1-based detector
 * position (*xd, *yd) and the Jacobian determinant *jac of the interpolated map. The caller keeps
 * (i, j) inside the grid: i <= (gnx - 1) * step, j <= (gny - 1) * step. */
SSO_HD static inline void sso_grid_map(const double *gx, const double *gy, int gnx, int gny,
                                       int step, int i, int j, double *xd, double *yd, double *jac)
{
    int a = i / step, b = j / step;
    if (a > gnx - 2)
        a = gnx - 2;
    if (b > gny - 2)
        b = gny - 2;
    const double inv = 1.0 / step;
    const double s = (i - a * step) * inv, t = (j - b * step) * inv;
    const int k00 = b * gnx + a, k10 = k00 + 1, k01 = k00 + gnx, k11 = k01 + 1;
    const double x00 = gx[k00], x10 = gx[k10], x01 = gx[k01], x11 = gx[k11];
    const double y00 = gy[k00], y10 = gy[k10], y01 = gy[k01], y11 = gy[k11];
    *xd = (1 - t) * ((1 - s) * x00 + s * x10) + t * ((1 - s) * x01 + s * x11);
    *yd = (1 - t) * ((1 - s) * y00 + s * y10) + t * ((1 - s) * y01 + s * y11);
    /* Partial derivatives per patch pixel of the bilinear form at (s, t). */
    const double dxds = ((1 - t) * (x10 - x00) + t * (x11 - x01)) * inv;
    const double dxdt = ((1 - s) * (x01 - x00) + s * (x11 - x10)) * inv;
    const double dyds = ((1 - t) * (y10 - y00) + t * (y11 - y01)) * inv;
    const double dydt = ((1 - s) * (y01 - y00) + s * (y11 - y10)) * inv;
    *jac = fabs(dxds * dydt - dxdt * dyds);
}

/* Whether the bilinear images of grid cell (a, b) (0 <= a <= gnx - 2, 0 <= b <= gny - 2) can reach
 * the detector's pixel area [0.5, det_w + 0.5) x [0.5, det_h + 0.5): a bilinear map sends a cell
 * inside the convex hull of its 4 corner images, so a cell whose corners' bounding box misses the
 * area holds no pixel that lands on the detector. 0 if a corner has no value (NaN). */
SSO_HD static inline int sso_grid_cell_touches(const double *gx, const double *gy, int gnx, int a,
                                               int b, int det_w, int det_h)
{
    const long long k = (long long)b * gnx + a;
    const long long ks[4] = {k, k + 1, k + gnx, k + gnx + 1};
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < 4; i++) {
        const double x = gx[ks[i]], y = gy[ks[i]];
        if (!isfinite(x) || !isfinite(y))
            return 0;
        x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
    }
    return x1 >= 0.5 && x0 < det_w + 0.5 && y1 >= 0.5 && y0 < det_h + 0.5;
}

/* Lanczos-3 weights for the 6 input pixels i0 - 2 .. i0 + 3 around a point at i0 + f, f in [0, 1):
 * w[k] = L(f - (k - 2)), L(t) = sinc(t) sinc(t / 3), normalised to sum 1. */
SSO_HD static inline void sso_lanczos3_weights(float f, float w[SSO_LANCZOS_TAPS])
{
    if (f < 1e-5f || f > 1.0f - 1e-5f) { /* on a pixel centre: the kernel is a delta */
        for (int k = 0; k < SSO_LANCZOS_TAPS; k++)
            w[k] = 0.0f;
        w[f < 0.5f ? 2 : 3] = 1.0f;
        return;
    }
    const float pi = 3.14159265358979f;
    /* t_k = f - (k - 2) = f + 2 - k. sin(pi t_k) = sin(pi f) (-1)^k; for the window,
     * sin(pi t_k / 3) = sin(a - k pi/3) with a = pi (f + 2) / 3. */
    const float s1 = sinf(pi * f);
    const float a = pi * (f + 2.0f) / 3.0f, sa = sinf(a), ca = cosf(a);
    /* cos(k pi/3), sin(k pi/3) for k = 0..5 */
    const float ck[6] = {1.0f, 0.5f, -0.5f, -1.0f, -0.5f, 0.5f};
    const float sk[6] = {0.0f, 0.8660254037844386f, 0.8660254037844386f, 0.0f,
                         -0.8660254037844386f, -0.8660254037844386f};
    float sum = 0.0f;
    for (int k = 0; k < SSO_LANCZOS_TAPS; k++) {
        const float t = f + 2.0f - (float)k;
        const float sw = sa * ck[k] - ca * sk[k];          /* sin(pi t / 3) */
        const float sp = (k & 1) ? -s1 : s1;              /* sin(pi t) */
        w[k] = 3.0f * sp * sw / (pi * pi * t * t);
        sum += w[k];
    }
    const float inv = 1.0f / sum;
    float m1 = 0.0f; /* first moment: sum w_k t_k with the tap offset t_k = k - 2 - f */
    for (int k = 0; k < SSO_LANCZOS_TAPS; k++) {
        w[k] *= inv;
        m1 += w[k] * ((float)(k - 2) - f);
    }
    /* Normalised Lanczos-3 does not reproduce a linear ramp: m1 reaches 0.02 px (f ~ 0.2, 0.8),
     * which shifts every resampled source by that much. Moving m1 of weight from the tap beyond
     * the point to the tap before it (offsets 1 - f and -f) zeroes the first moment and keeps
     * the sum: the kernel then interpolates linear functions exactly. */
    w[2] += m1;
    w[3] -= m1;
}

/* One output pixel at 1-based detector position (xd, yd) with Jacobian jac, from a det_w x det_h
 * detector (img_e, var_e2, mask row-major). Masked input pixels and pixels outside the detector
 * with |weight| >= wmin mask the output; those below wmin are left out and the weights
 * renormalised over the rest. Writes *img_e (value * jac: flux per patch pixel) and *var_e2
 * (sum w^2 var * jac^2 / (sum w)^2); returns the mask (1 masked: then img 0, var +inf). */
SSO_HD static inline uint8_t sso_resample_pixel(const float *img, const float *var,
                                                const uint8_t *mask, int det_w, int det_h,
                                                double xd, double yd, double jac, float wmin,
                                                float *img_e, float *var_e2)
{
    /* 0-based position; i0 = floor, f = fraction. */
    const double x0 = xd - 1.0, y0 = yd - 1.0;
    const double fx0 = floor(x0), fy0 = floor(y0);
    const int ix = (int)fx0, iy = (int)fy0;
    float wx[SSO_LANCZOS_TAPS], wy[SSO_LANCZOS_TAPS];
    sso_lanczos3_weights((float)(x0 - fx0), wx);
    sso_lanczos3_weights((float)(y0 - fy0), wy);
    double s = 0.0, sv = 0.0, sw = 0.0;
    uint8_t m = 0;
    for (int b = 0; b < SSO_LANCZOS_TAPS && !m; b++) {
        const int yy = iy - 2 + b;
        const int row_in = yy >= 0 && yy < det_h;
        for (int a = 0; a < SSO_LANCZOS_TAPS; a++) {
            const float w = wx[a] * wy[b];
            if (w == 0.0f)
                continue;
            const int xx = ix - 2 + a;
            const int in = row_in && xx >= 0 && xx < det_w;
            const long long k = in ? (long long)yy * det_w + xx : 0;
            if (!in || mask[k]) {
                if (fabsf(w) >= wmin) {
                    m = 1;
                    break;
                }
                continue;
            }
            s += (double)w * img[k];
            sv += (double)w * w * var[k];
            sw += w;
        }
    }
    if (m || !(sw > 0.5)) { /* most of the kernel's weight missing */
        *img_e = 0.0f;
        *var_e2 = INFINITY;
        return 1;
    }
    const double inv = 1.0 / sw;
    *img_e = (float)(s * inv * jac);
    *var_e2 = (float)(sv * inv * inv * jac * jac);
    return 0;
}

/* Compulsory device-memory bytes of one GPU resampling call (kernels/resample.cu), for achieved
 * bandwidth: each written patch pixel stores img, var (4 + 4 bytes) and mask (1), and needs about
 * one input pixel's img, var and mask (9 bytes: the two pixel scales agree to ~2%; the other 35
 * taps come from cache), plus the grid itself (2 doubles per node; each thread's 4 corner nodes
 * come from cache too). Patch pixels of the box that no detector pixel covers are not counted:
 * the kernel only reads their cell's corners. */
static inline uint64_t sso_resample_bytes_moved(int64_t n_written, int gnx, int gny)
{
    return (uint64_t)n_written * (9u + 9u) + (uint64_t)gnx * (uint64_t)gny * 16u;
}

#endif
