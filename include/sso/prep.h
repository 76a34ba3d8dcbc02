/* sso/prep.h: pixel preparation of one detector, on the CPU (reference) or the GPU.
 *
 * From SCI [ADU], RMS [ADU] and FLG to an image in electrons, its variance [e-^2] and a mask:
 *   img_e  = sci_adu * gain
 *   var_e2 = (rms_adu * gain)^2                  where an RMS plane exists and is finite and > 0,
 *            max(img_e, 0) + SSO_READ_NOISE_E^2  otherwise (Poisson + read noise from the image)
 *   mask   = 1 where FLG & mask_bits, or SCI/variance is not finite; 0 otherwise
 *            (masked pixels get img_e = 0 and var_e2 = +inf so that they weigh nothing).
 * Statistics over the unmasked pixels come back with the result. The per-pixel arithmetic is one
 * SSO_HD function (host/prep_math.h) shared by both backends.
 */
#ifndef SSO_PREP_H
#define SSO_PREP_H

#include <stddef.h>
#include <stdint.h>
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_READ_NOISE_E 4.4f /* VIS read noise [e-] (EUCLID.md) */

typedef enum sso_backend {
    SSO_BACKEND_AUTO = 0, /* the GPU when one is present, else the CPU */
    SSO_BACKEND_CPU = 1,
    SSO_BACKEND_CUDA = 2
} sso_backend;

/* Parses "auto", "cpu", "cuda". */
sso_status sso_backend_from_name(const char *name, sso_backend *out);
const char *sso_backend_name(sso_backend b);
/* Resolves AUTO to CPU or CUDA by asking the runtime for a device; CUDA stays CUDA. */
sso_backend sso_backend_resolve(sso_backend b);
/* Number of CUDA devices visible (0 if built without CUDA or no driver). */
int sso_cuda_device_count(void);

typedef struct sso_prep_stats {
    int64_t n_pixels;     /* all pixels */
    int64_t n_masked;     /* mask == 1 */
    int64_t n_nonfinite;  /* SCI not finite */
    double sum_e;         /* over unmasked pixels [e-] */
    double sumsq_e;       /* over unmasked pixels [e-^2] */
    double min_e, max_e;  /* over unmasked pixels; NaN when all are masked */
} sso_prep_stats;

/* n pixels. rms_adu may be NULL. Outputs are caller-allocated arrays of n. stats may be NULL.
 * SSO_ERR_NO_DEVICE for SSO_BACKEND_CUDA without a device. */
sso_status sso_prep_detector(sso_backend backend, const float *sci_adu, const float *rms_adu,
                             const int32_t *flg, size_t n, float gain_e_per_adu, uint32_t mask_bits,
                             float *img_e, float *var_e2, uint8_t *mask, sso_prep_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
