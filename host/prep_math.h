/* host/prep_math.h: per-pixel preparation arithmetic, shared by host/prep.c and kernels/prep.cu.
 *
 * The contract is in include/sso/prep.h. One function, sso_prep_pixel(), computes a pixel's
 * electrons, variance and mask bit; both backends call it so their outputs agree bit for bit
 * (the statistics, sums over many pixels, agree to rounding of the summation order).
 */
#ifndef SSO_PREP_MATH_H
#define SSO_PREP_MATH_H

#include <math.h>
#include <stdint.h>

#include "host/sso_hd.h"
#include "sso/prep.h"

/* Returns the mask value (1 masked, 0 good) and writes img_e and var_e2 of one pixel.
 * has_rms: whether an RMS plane exists (rms_adu is ignored otherwise). */
SSO_HD static inline uint8_t sso_prep_pixel(float sci_adu, float rms_adu, int has_rms, int32_t flg,
                                            float gain_e_per_adu, uint32_t mask_bits, float *img_e,
                                            float *var_e2)
{
    float e = sci_adu * gain_e_per_adu;
    float v;
    if (has_rms && isfinite(rms_adu) && rms_adu > 0.0f) {
        float r = rms_adu * gain_e_per_adu;
        v = r * r;
    } else {
        v = fmaxf(e, 0.0f) + SSO_READ_NOISE_E * SSO_READ_NOISE_E;
    }
    uint8_t m = (((uint32_t)flg & mask_bits) != 0u) || !isfinite(e) || !isfinite(v);
    *img_e = m ? 0.0f : e;
    *var_e2 = m ? INFINITY : v;
    return m;
}

/* Compulsory device-memory bytes of one sso_k_prep call (kernels/prep.cu), for achieved bandwidth
 * (bench/): per pixel SCI read (4), RMS (4) and FLG (4) when given, img and var written (4 + 4)
 * and the mask (1); per block one statistics partial of partial_bytes written. FLOPs: per pixel
 * the electrons (1 multiply), the variance (2: scale and square; the no-RMS branch is as cheap) and
 * the statistics (sum and sum of squares: 3), 6 in all; comparisons and the reduction tree not
 * counted. */
static inline uint64_t sso_prep_bytes_moved(uint64_t n, int has_rms, int has_flg, uint64_t n_blocks,
                                            uint64_t partial_bytes)
{
    return n * (4u + (has_rms ? 4u : 0u) + (has_flg ? 4u : 0u) + 9u) + n_blocks * partial_bytes;
}

static inline uint64_t sso_prep_flops(uint64_t n)
{
    return 6u * n;
}

#endif
