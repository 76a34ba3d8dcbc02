/* kernels/sso_kernels.h: the CUDA launchers, declared in plain C (no CUDA types).
 *
 * Built from the kernels/ .cu files when CUDA is enabled; otherwise kernels/stub.c defines every launcher to
 * return SSO_ERR_NO_DEVICE, so host code calls them without #ifdefs. Launchers take host pointers
 * for now and own their transfers; the engine context (device buffers, streams, plans created
 * once) replaces this in the GPU issue.
 */
#ifndef SSO_KERNELS_H
#define SSO_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 without CUDA or without a driver. */
int sso_k_device_count(void);

/* GPU twin of host/prep.c (sso_prep_cpu): same contract as sso_prep_detector(). */
sso_status sso_k_prep(const float *sci_adu, const float *rms_adu, const int32_t *flg, size_t n,
                      float gain_e_per_adu, uint32_t mask_bits, float *img_e, float *var_e2,
                      uint8_t *mask, sso_prep_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
