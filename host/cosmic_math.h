/* host/cosmic_math.h: per-pixel arithmetic of cosmic-ray detection (include/sso/cosmic.h),
 * shared by host/cosmic.c and its CUDA twin (kernels/cosmic.cu).
 *
 * sso_cr_lplus(): L+ of one pixel from itself and its 4 neighbours (the caller passes the centre
 * value for a neighbour that is masked or off the image). sso_cr_median(): the median of a small
 * window (at most 49 values, sorted in place by insertion: windows are 9, 25 or 49 long, and a
 * sorting network would gain little over it here). sso_cr_ratio(): the objlim test quantity.
 *
 * The windowed quantities at one pixel of a w x h plane with its effective mask m (input mask |
 * flagged so far): sso_cr_unusable() (the initial mask rule), sso_cr_lplus_at() (which neighbours
 * L+ uses), sso_cr_window_median() (median over the unmasked pixels of a window, in row-major
 * order), sso_cr_sprime() (S - med5 S) and sso_cr_fine() (F = med3 I - med7 med3 I). The GPU
 * evaluates these directly at each pixel that needs them; host/cosmic.c computes the same
 * quantities with the same arithmetic in its own loops, caching the medians per pass (its loops
 * are left as they are: the CPU path of host/cosmic.c is edited by the detection work, and the
 * parity test tests/gpu/test_cosmic_parity.c checks that the two agree pixel for pixel).
 */
#ifndef SSO_COSMIC_MATH_H
#define SSO_COSMIC_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

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

/* The initial effective mask: masked, or an image or variance value that cannot be used. */
SSO_HD static inline int sso_cr_unusable(float img_e, float var_e2, int masked)
{
    return masked || !isfinite(img_e) || !(var_e2 > 0.0f) || !isfinite(var_e2);
}

/* L+ at unmasked pixel (x, y): a masked or off-image neighbour takes the centre's value. */
SSO_HD static inline float sso_cr_lplus_at(const float *img, const uint8_t *m, int w, int h, int x,
                                           int y)
{
    const size_t i = (size_t)y * w + x;
    const float v = img[i];
    const float l = x > 0 && !m[i - 1] ? img[i - 1] : v;
    const float r = x < w - 1 && !m[i + 1] ? img[i + 1] : v;
    const float u = y > 0 && !m[i - w] ? img[i - w] : v;
    const float d = y < h - 1 && !m[i + w] ? img[i + w] : v;
    return sso_cr_lplus(v, l, r, u, d);
}

/* Median of the unmasked pixels of src in the (2r+1)^2 window around (x, y), r <= 3; *ok = 0 (and
 * 0 returned) when none is unmasked. */
SSO_HD static inline float sso_cr_window_median(const float *src, const uint8_t *m, int w, int h,
                                                int x, int y, int r, int *ok)
{
    float v[49];
    int n = 0;
    for (int yy = y - r; yy <= y + r; yy++) {
        if (yy < 0 || yy >= h)
            continue;
        for (int xx = x - r; xx <= x + r; xx++) {
            if (xx < 0 || xx >= w)
                continue;
            const size_t i = (size_t)yy * w + xx;
            if (!m[i])
                v[n++] = src[i];
        }
    }
    *ok = n > 0;
    return n ? sso_cr_median(v, n) : 0.0f;
}

/* S' = S - med5(S) at unmasked pixel (x, y). */
SSO_HD static inline float sso_cr_sprime(const float *sig, const uint8_t *m, int w, int h, int x,
                                         int y)
{
    int ok;
    const float med = sso_cr_window_median(sig, m, w, h, x, y, 2, &ok);
    return sig[(size_t)y * w + x] - med;
}

/* Fine structure F = med3(I) - med7(med3(I)) at unmasked pixel (x, y), over unmasked pixels. */
SSO_HD static inline float sso_cr_fine(const float *img, const uint8_t *m, int w, int h, int x,
                                       int y)
{
    float v[49];
    int n = 0, ok;
    for (int yy = y - 3; yy <= y + 3; yy++) {
        if (yy < 0 || yy >= h)
            continue;
        for (int xx = x - 3; xx <= x + 3; xx++) {
            if (xx < 0 || xx >= w || m[(size_t)yy * w + xx])
                continue;
            const float med3 = sso_cr_window_median(img, m, w, h, xx, yy, 1, &ok);
            if (ok)
                v[n++] = med3;
        }
    }
    const float m3 = sso_cr_window_median(img, m, w, h, x, y, 1, &ok);
    return n && ok ? m3 - sso_cr_median(v, n) : 0.0f;
}

/* Growth of the final flags (include/sso/cosmic.h, grow_px), in two steps that each read only the
 * planes the one before wrote, so every pixel can be decided at once.
 * sso_cr_track_at(): 1 when flagged pixel (x, y) is part of a track, >= SSO_CR_TRACK_MIN flagged
 * pixels in its 5 x 5 window (itself included; a track's pixels have >= 3 there, its end pixels
 * too). A lone flag or a pair is not: most of L.A.Cosmic's false flags (on the simulator's
 * no-cosmics exposures, tests/test_cosmic.c: 245 pixels flagged once tracks grow, 395 when every
 * flag grows), which grown would take a source's core.
 * sso_cr_grown_at(): 1 when pixel (x, y) is unmasked and not flagged (m == 0; m = input mask |
 * flagged) and a track pixel (trk != 0) lies in its (2g+1)^2 window. */
#define SSO_CR_TRACK_MIN 3
SSO_HD static inline int sso_cr_track_at(const uint8_t *cr, int w, int h, int x, int y)
{
    if (!cr[(size_t)y * w + x])
        return 0;
    int n = 0;
    for (int yy = y - 2; yy <= y + 2; yy++) {
        if (yy < 0 || yy >= h)
            continue;
        for (int xx = x - 2; xx <= x + 2; xx++)
            n += xx >= 0 && xx < w && cr[(size_t)yy * w + xx];
    }
    return n >= SSO_CR_TRACK_MIN;
}

SSO_HD static inline int sso_cr_grown_at(const uint8_t *trk, const uint8_t *m, int w, int h, int x,
                                         int y, int g)
{
    if (m[(size_t)y * w + x])
        return 0;
    for (int yy = y - g; yy <= y + g; yy++) {
        if (yy < 0 || yy >= h)
            continue;
        for (int xx = x - g; xx <= x + g; xx++)
            if (xx >= 0 && xx < w && trk[(size_t)yy * w + xx])
                return 1;
    }
    return 0;
}

/* Compulsory device-memory bytes of one GPU cosmic-ray call (kernels/cosmic.cu) on n pixels run
 * for `passes` passes, for achieved bandwidth. Once: img, var (8 bytes/px) and the mask (1,
 * when given) read, the effective mask and the flags written (2) (FLG is read by each pass). Per pass: L+ and S written (8)
 * after img and the mask are read (5); the candidate pass reads S, the flags and FLG (1 + 4 + 4
 * with FLG) and writes the seeds (1); each of the two growth passes reads seeds, mask and S (6)
 * and writes (1); the update reads seeds and mask and writes mask and flags (4). The windowed
 * medians at the few pixels above threshold re-read neighbours from cache and are not counted.
 * With growth (grow > 0): the track test reads the flags and writes its plane (2), the growth
 * reads that and the mask and writes the seeds (3), the update as above (4); the windows' re-reads
 * come from cache. */
static inline uint64_t sso_cosmic_bytes_moved(uint64_t n, int has_mask, int has_flg, int passes,
                                              int grow)
{
    const uint64_t once = n * (8u + 2u + (has_mask ? 1u : 0u) + (grow > 0 ? 9u : 0u));
    const uint64_t per_pass = n * ((8u + 5u) + (1u + 4u + 1u + (has_flg ? 4u : 0u)) + 2u * 7u + 4u);
    return once + (uint64_t)passes * per_pass;
}

#endif
