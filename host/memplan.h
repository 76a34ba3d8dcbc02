/* host/memplan.h: the GPU memory plan: how large a sky patch the device can search at once.
 *
 * Pure host arithmetic (host/memplan.c, in every build, unit-tested without a device) plus one
 * call that asks the engine (kernels/sso_kernels.h, sso_k_engine_info = cudaMemGetInfo) for the
 * free device memory. The per-patch device bytes per pixel, from what the kernels hold at once
 * (kernels/likelihood.cu, kernels/stack.cu):
 *   stack:      n_epochs x n_templates x 8   (psi and phi, float, every epoch resident)
 *   likelihood: 9 (D, V float, mask byte) + pad x 40 (two padded real planes 8, two half
 *               spectra 8, two kernel spectra 8, cuFFT work area <= 16), pad = SSO_MEMPLAN_PAD
 *               the FFT's padding of a large patch (good sizes and the template half: <= 15%)
 *   trail:      n_epochs x 8 + 8 (every epoch's point psi/phi held across the velocity bins,
 *               one trail psi/phi out: sso_k_trail_load, sso_k_trail)
 * times n_inflight (patches resident at once: 2 lets the next patch upload while one computes),
 * plus cand_bytes (the hit list) and reserve_bytes (CUDA context, cuFFT plans, other kernels'
 * slots). The plan keeps safety_frac of the free memory unused. The side is a multiple of
 * SSO_MEMPLAN_STEP_PX in [min_px, max_px]: the largest that fits.
 */
#ifndef SSO_MEMPLAN_H
#define SSO_MEMPLAN_H

#include <stddef.h>
#include "sso/prep.h"
#include "sso/status.h"

#define SSO_MEMPLAN_STEP_PX 256
#define SSO_MEMPLAN_PAD 1.15

typedef struct sso_memplan_req {
    int n_epochs;          /* epochs of a patch [4] */
    int n_templates;       /* psi/phi pairs per epoch held at once [1: the PSF] */
    int n_inflight;        /* patches resident at once [2] */
    size_t cand_bytes;     /* hit list [64 MiB] */
    size_t reserve_bytes;  /* context, plans, other stages [512 MiB] */
    double safety_frac;    /* of the free memory kept unused [0.10] */
    int min_px, max_px;    /* bounds on the side [512, 16384 (sso run's --patch-size limit)] */
} sso_memplan_req;

typedef struct sso_memplan {
    int side_px;           /* chosen patch side */
    double bytes_per_px;   /* device bytes per patch pixel, all in-flight patches */
    size_t need_bytes;     /* device bytes the plan uses at side_px */
    size_t usable_bytes;   /* free x (1 - safety_frac) */
} sso_memplan;

void sso_memplan_req_default(sso_memplan_req *r);

/* The largest side that fits free_bytes; SSO_ERR_NOMEM when even min_px does not. */
sso_status sso_memplan_compute(size_t free_bytes, const sso_memplan_req *r, sso_memplan *out);

/* For sso_pipeline_run: when backend resolves to CUDA, selects `device` (-1: default), plans
 * from the device's free memory (default request) and lowers *size_px to the plan's side when it
 * is larger (never raises it: CPU and GPU runs then cut the same patches whenever the device
 * holds them). *planned_px receives the plan's side (0 on the CPU). Nothing to do on the CPU. */
sso_status sso_memplan_apply(sso_backend backend, int device, int *size_px, int *planned_px);

#endif
