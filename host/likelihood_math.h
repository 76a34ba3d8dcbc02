/* host/likelihood_math.h: the work of one GPU psi/phi call (kernels/likelihood.cu), counted for the
 * roofline of `sso bench --roofline` (bench/) and unit-tested on the host (tests/test_bench_roofline.c).
 *
 * Bytes are the compulsory device-memory traffic of the launcher's kernels (each plane a kernel
 * reads or writes counted once per kernel; host transfers excluded, as they are from the kernel
 * time). FLOPs follow the usual conventions: a multiply, an add or a division is one; a real FFT
 * of N points is 2.5 N log2 N (half the 5 N log2 N of a complex one).
 *
 * Direct path (w x h pixels, template of nk = (2 half + 1)^2 taps, nz_t of them non-zero in T and
 * nz_t2 in T^2): weights read D, V (4 + 4) and the mask (1, when given) and write DW, W (4 + 4);
 * the correlation reads DW, W (4 + 4) and writes psi, phi (4 + 4); both templates (2 nk floats).
 * FLOPs: 2 divisions per pixel, and a multiply and an add per non-zero tap of each template.
 *
 * FFT path (padded to px x py: nr = px py real points, nc = (px/2 + 1) py complex ones, batches
 * of 2): kernel planes zeroed (8 nr) and filled (2 nk floats read and written), their R2C (reads
 * 8 nr, writes 16 nc), the weights (read the inputs, write 8 nr), the images' R2C (8 nr + 16 nc),
 * the product (reads 2 x 16 nc, writes 16 nc), the C2R (16 nc + 8 nr). FLOPs: 6 real transforms,
 * 8 per complex product (6 for the product, 2 for the scale), 2 divisions per input pixel.
 */
#ifndef SSO_LIKELIHOOD_MATH_H
#define SSO_LIKELIHOOD_MATH_H

#include <math.h>
#include <stdint.h>

/* The padded FFT size of host/likelihood.c and kernels/likelihood.cu: the smallest n' >= n with
 * no prime factor above 7 (the launcher pads w + half and h + half to it). */
static inline int sso_like_fft_size(int n)
{
    for (;; n++) {
        int m = n;
        while (m % 2 == 0) m /= 2;
        while (m % 3 == 0) m /= 3;
        while (m % 5 == 0) m /= 5;
        while (m % 7 == 0) m /= 7;
        if (m == 1)
            return n;
    }
}

static inline uint64_t sso_like_direct_bytes_moved(uint64_t npx, int has_mask, int half)
{
    const uint64_t nk = (uint64_t)(2 * half + 1) * (uint64_t)(2 * half + 1);
    return npx * (32u + (has_mask ? 1u : 0u)) + 8u * nk;
}

/* The trail correlation (sso_likelihood_trail and its GPU twin): the point psi and phi read once
 * and psi_L, phi_L written once, 4 B each per pixel, plus the taps (dx, dy, w: 12 B each). */
static inline uint64_t sso_like_trail_bytes_moved(uint64_t npx, int n_taps)
{
    return npx * 16u + 12u * (uint64_t)n_taps;
}

static inline uint64_t sso_like_direct_flops(uint64_t npx, int nz_t, int nz_t2)
{
    return npx * (2u + 2u * (uint64_t)nz_t + 2u * (uint64_t)nz_t2);
}

static inline uint64_t sso_like_fft_bytes_moved(uint64_t npx, int has_mask, int half, int px, int py)
{
    const uint64_t nk = (uint64_t)(2 * half + 1) * (uint64_t)(2 * half + 1);
    const uint64_t nr = (uint64_t)px * (uint64_t)py, nc = (uint64_t)(px / 2 + 1) * (uint64_t)py;
    return 40u * nr + 96u * nc + 16u * nk + npx * (8u + (has_mask ? 1u : 0u));
}

static inline double sso_like_fft_flops(uint64_t npx, int px, int py)
{
    const double nr = (double)px * (double)py, nc = (double)(px / 2 + 1) * (double)py;
    return 6.0 * 2.5 * nr * log2(nr) + 8.0 * 2.0 * nc + 2.0 * (double)npx;
}

#endif
