/* sso/cosmic.h: cosmic-ray detection in one exposure's detector image (CPU reference).
 *
 * L.A.Cosmic (van Dokkum 2001, PASP 113, 1420): cosmic rays are sharper than the PSF. The image
 * is subsampled x2, convolved with the Laplacian [0 -1 0; -1 4 -1; 0 -1 0], clipped at 0 and
 * block-averaged back (L+); in closed form, per pixel, L+ = 1/4 sum over its 4 corners of
 * max(0, 2 v - v_h - v_v), v_h and v_v the horizontal and vertical neighbours at that corner.
 * S = L+ / (2 N) with N = sqrt(variance) is the significance; S' = S - median5(S) removes what
 * smooth bright structure leaves. A pixel is a candidate when S' > sigclip and L+ / F > objlim,
 * F = median3(I) - median7(median3(I)) the fine-structure image (floored at 0.01 N): a star's
 * Laplacian is large where its fine structure is large too, a cosmic ray's is not. Candidates
 * grow into their 8-neighbours with S' > sigclip, then once more with S' > sigfrac * sigclip.
 * Flagged pixels are then treated as masked and the whole is repeated (niter times at most, or
 * until nothing new is found), growing from all earlier flags too (there also requiring
 * L+ / F > objlim, so growth cannot creep into a star a cosmic ray touches): a pixel beside a
 * bright track shows its own curvature only once the track is masked.
 *
 * Masked pixels (mask != 0: bad pixels, already-flagged ones) never enter a median, are never
 * flagged, and in the Laplacian take the value of the pixel whose corner they would form (no
 * curvature across a masked pixel: a hole in the data is not a cosmic ray next to it).
 *
 * Tuned for Euclid VIS, whose PSF (FWHM ~1.6 px) is undersampled, so stars are sharp: a Gaussian
 * of FWHM 1.6 px centred on a pixel has L+/F ~ 3, one centred on a pixel corner ~ 5.5, a trail
 * (PSF-wide line) ~ 1.6, a 1-px-wide cosmic-ray track or a single hit ~ 2 S / 0.6 (F is noise
 * there), i.e. > 15 at S = 5. objlim sits between (default 8).
 *
 * Optionally (grow_px > 0; off by default), the flags that form tracks (>= 3 flags in a 5 x 5
 * window: lone flags and pairs, most of L.A.Cosmic's false flags, stay as they are)
 * grow by grow_px pixels (the (2 g + 1)^2 square) onto unmasked pixels. A track spreads some of
 * its charge into the pixels beside it, a few sigma each, that neither S' nor L+ / F picks out
 * (they are dimmer than the core they touch); along a 40 px track, the two lines left beside the
 * masked core sum, in a trail template, to a streak of SNR ~15-40 (tests/test_cosmic.c). Measured
 * on --preset ccd seeds 1 and 2 (session 8, bench/results/cosmic-growth-2026-11-22.md): growth
 * by 1 px took the false alerts from 6 and 7 to 5 and 4 (beyond 3 sigma of any mover: from 3 and 4
 * to 1 and 2), but seed 1 lost 2 movers it found and seed 2 lost 8 and gained 2 (matched 221 and
 * 196 to 219 and 190; slow, stacked SNR >= 10, on seed 2 91.5% to 89.0%, under the 90% target).
 * Most were bright 2-epoch movers. On a 1600 x 1700 px demo quartet (seed 4) 3 movers of mag 20
 * were lost; for one, the fast search's 2-epoch guided fit on the full patch ended at a poorer
 * optimum (8% slow) than the same search on a cut-out of it, which found the truth. Hence off by
 * default, until that fit is mended.
 *
 * The FLG COSMIC bit (Euclid's own cosmic-ray flag, bit 4) is only a hint: with use_flg_hint a
 * pixel carrying it needs S' > sigfrac * sigclip instead of sigclip, but must pass objlim like any
 * other (Euclid's flag also catches asteroid trails, which the objlim test keeps).
 */
#ifndef SSO_COSMIC_H
#define SSO_COSMIC_H

#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sso_cosmic_params {
    float sigclip;    /* detection threshold on S' [5.0] */
    float sigfrac;    /* growth threshold as a fraction of sigclip [0.3] */
    float objlim;     /* minimum L+ / F of a candidate [8.0] */
    int niter;        /* passes at most [4] */
    int use_flg_hint; /* lower the threshold where FLG has the COSMIC bit [1] */
    int grow_px;      /* final track flags grown by this many px onto unmasked pixels, 0..8 [0] */
    sso_backend backend; /* [cpu]; CUDA: kernels/cosmic.cu; AUTO: the GPU when present */
} sso_cosmic_params;

sso_cosmic_params sso_cosmic_params_default(void);

/* img_e [e-], var_e2 [e-^2] and mask (may be NULL) of one detector, w x h row-major, as
 * sso_prep_detector() makes them (background subtracted or not: L+ ignores a smooth sky). flg may
 * be NULL (no hint). cr_mask (caller-allocated, w * h) gets 1 on flagged pixels, 0 elsewhere: to
 * be OR-ed into the mask. n_flagged_px (may be NULL) gets the count. p NULL: defaults. */
sso_status sso_cosmic_detect(const float *img_e, const float *var_e2, const uint8_t *mask,
                             const int32_t *flg, int w, int h, const sso_cosmic_params *p,
                             uint8_t *cr_mask, int64_t *n_flagged_px);

#ifdef __cplusplus
}
#endif
#endif
