/* host/stack_math.h: per-element math of matched filtering and shift-and-stack, shared by the CPU
 * reference (host/likelihood.c, host/stack.c) and the CUDA kernels of the GPU issue.
 *
 * Templates. A template T is a (2*half+1)^2 float array, row-major, T[(dy+half)*n + (dx+half)]
 * = the fraction of a source's flux that falls in the pixel whose centre is (dx, dy) from the
 * source (0-based pixels, pixel i's centre at i). sso_tmpl_gauss_px() is a pixel-integrated
 * circular Gaussian; sso_tmpl_trail_px() is a PSF kernel (bilinearly interpolated) averaged along a
 * segment of length len_px at angle theta (from +x towards +y), centred on the source's position at
 * mid-exposure. Callers normalise the whole template to sum 1 on the host.
 *
 * Shift-and-stack. A trajectory is a start pixel (x0, y0) at the reference time t = 0 and a
 * velocity (vx, vy) [px/h]; at epoch e (time t_e [h]) it is at the pixel
 *   (x0 + round(vx * t_e), y0 + round(vy * t_e))       (nearest pixel, ties away from zero).
 * The offsets round(v * t_e) are computed once per (velocity, epoch) in double by
 * sso_stack_offset_px() and tabulated, so CPU and GPU index exactly the same pixels with integer
 * adds (no float rounding of x0 + v t that an FMA could flip). sso_stack_eval() sums psi and phi
 * over the epochs in epoch order (float, an epoch off the image adds exactly 0), and
 * sso_stack_pass() is the threshold predicate nu = sum_psi / sqrt(sum_phi) >= nu_min written
 * without the square root; the CPU's row-vectorised loop adds in the same order, so both agree
 * bit for bit.
 */
#ifndef SSO_STACK_MATH_H
#define SSO_STACK_MATH_H

#include <math.h>
#include <stdint.h>

#include "host/sso_hd.h"

/* ---- templates ------------------------------------------------------------------------------ */

/* Fraction of a unit-flux Gaussian (sigma [px], centred at (cx, cy)) that falls in the pixel
 * centred at (px, py): the product of the 1-D integrals over [p - 0.5, p + 0.5]. */
SSO_HD static inline float sso_tmpl_gauss_px(double px, double py, double cx, double cy,
                                             double sigma_px)
{
    const double s = 1.0 / (sigma_px * 1.4142135623730951);
    double fx = 0.5 * (erf((px - cx + 0.5) * s) - erf((px - cx - 0.5) * s));
    double fy = 0.5 * (erf((py - cy + 0.5) * s) - erf((py - cy - 0.5) * s));
    return (float)(fx * fy);
}

/* Bilinear interpolation of a (2*half+1)^2 kernel k at offset (dx, dy) [px]; 0 outside. */
SSO_HD static inline float sso_tmpl_bilinear(const float *k, int half, double dx, double dy)
{
    const int n = 2 * half + 1;
    double fx = dx + half, fy = dy + half;
    if (fx <= -1.0 || fy <= -1.0 || fx >= n || fy >= n)
        return 0.0f;
    int ix = (int)floor(fx), iy = (int)floor(fy);
    double ax = fx - ix, ay = fy - iy;
    float v = 0.0f;
    for (int j = 0; j < 2; j++) {
        int yy = iy + j;
        if (yy < 0 || yy >= n)
            continue;
        double wy = j ? ay : 1.0 - ay;
        for (int i = 0; i < 2; i++) {
            int xx = ix + i;
            if (xx < 0 || xx >= n)
                continue;
            double wx = i ? ax : 1.0 - ax;
            v += (float)(wx * wy) * k[yy * n + xx];
        }
    }
    return v;
}

/* Number of sub-steps used to average the PSF along a trail of len_px: at most 0.25 px apart. */
SSO_HD static inline int sso_tmpl_trail_steps(double len_px)
{
    int m = (int)ceil(len_px / 0.25);
    return m < 1 ? 1 : m + 1;
}

/* Unnormalised trail template at integer offset (dx, dy): the mean of the PSF kernel psf (half
 * size psf_half) over sso_tmpl_trail_steps(len) points evenly spaced on the segment from
 * -len/2 to +len/2 along (cos_t, sin_t). len 0: the PSF itself. */
SSO_HD static inline float sso_tmpl_trail_px(const float *psf, int psf_half, double len_px,
                                             double cos_t, double sin_t, int dx, int dy)
{
    const int m = sso_tmpl_trail_steps(len_px);
    if (m == 1)
        return sso_tmpl_bilinear(psf, psf_half, dx, dy);
    double acc = 0.0;
    for (int i = 0; i < m; i++) {
        double s = len_px * ((double)i / (m - 1) - 0.5);
        acc += sso_tmpl_bilinear(psf, psf_half, dx - s * cos_t, dy - s * sin_t);
    }
    return (float)(acc / m);
}

/* ---- shift-and-stack ------------------------------------------------------------------------ */

/* Pixel offset of a trajectory at time t_h for velocity v [px/h]: round(v * t), ties away from 0. */
SSO_HD static inline int sso_stack_offset_px(double v_px_h, double t_h)
{
    return (int)lround(v_px_h * t_h);
}

/* The threshold predicate: sum_psi / sqrt(sum_phi) >= nu_min (nu_min > 0), without a sqrt. */
SSO_HD static inline int sso_stack_pass(float sum_psi, float sum_phi, float nu_min)
{
    return sum_psi > 0.0f && sum_psi * sum_psi >= (nu_min * nu_min) * sum_phi;
}

/* Sums psi and phi over n epochs along the trajectory from start pixel (x0, y0) with per-epoch
 * offsets (dx[e], dy[e]). psi[e], phi[e]: w x h row-major images. An epoch whose pixel is off the
 * image contributes 0; the per-epoch values go to psi_e/phi_e when those are not NULL. Returns
 * the number of epochs with phi > 0 (on the image and not masked). */
SSO_HD static inline int sso_stack_eval(const float *const *psi, const float *const *phi, int n,
                                        int w, int h, int x0, int y0, const int *dx, const int *dy,
                                        float *sum_psi, float *sum_phi, float *psi_e, float *phi_e)
{
    float sp = 0.0f, sf = 0.0f;
    int used = 0;
    for (int e = 0; e < n; e++) {
        int x = x0 + dx[e], y = y0 + dy[e];
        float a = 0.0f, b = 0.0f;
        if (x >= 0 && x < w && y >= 0 && y < h) {
            long i = (long)y * w + x;
            a = psi[e][i];
            b = phi[e][i];
            used += b > 0.0f;
        }
        sp += a;
        sf += b;
        if (psi_e)
            psi_e[e] = a;
        if (phi_e)
            phi_e[e] = b;
    }
    *sum_psi = sp;
    *sum_phi = sf;
    return used;
}

/* Device work of one GPU search (kernels/stack.cu), for the roofline (bench/). Bytes: the
 * compulsory traffic, every epoch's psi and phi read once (8 bytes per pixel and epoch), the
 * velocity tables (per velocity its index and n_epochs offsets, 4 bytes each) and the hits written
 * (12 bytes each); the tile loads the kernel repeats per velocity block come from L2 and are not
 * counted. FLOPs: per trajectory-epoch sample 2 adds (psi and phi sums); per trajectory (samples /
 * n_epochs) the 2 multiplies of the threshold test. */
static inline uint64_t sso_stack_bytes_moved(uint64_t npx, int n_epochs, uint64_t n_vel,
                                             uint64_t n_hits)
{
    return npx * 8u * (uint64_t)n_epochs + n_vel * 4u * (uint64_t)(n_epochs + 1) + n_hits * 12u;
}

static inline uint64_t sso_stack_flops(uint64_t n_samples, int n_epochs)
{
    return 2u * n_samples + (n_epochs > 0 ? 2u * (n_samples / (uint64_t)n_epochs) : 0u);
}

#endif
