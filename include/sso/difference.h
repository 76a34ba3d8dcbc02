/* sso/difference.h: static sky removal on one patch (DESIGN.md "The flow of one quartet" 4).
 *
 * Input: the 4 epochs of one patch as resampling leaves them (img [e-], var [e-^2], mask; masked
 * pixels have var +inf). For each epoch e and pixel:
 *   template   the median of the OTHER epochs' values that are not masked there: of 3, or of 2
 *              (= their mean) where one is masked, or the single one left where two are (when
 *              min_template_epochs allows it). Fewer than min_template_epochs -> masked. A mover
 *              sits on a given pixel in at most one epoch, so the median of 3 drops it; with only 2
 *              left, half of a transient in one of them leaks into the template (a negative ghost,
 *              harmless for a search for positive flux).
 *   difference img - template
 *   variance   var + var_template, with var_template:
 *                3 values: (pi / 2) * mean(var) / 3, the standard large-n approximation of the
 *                          variance of a median of Gaussian values; for n = 3 the exact factor is
 *                          0.449 instead of pi/6 = 0.524, so it is conservative by ~17% on the
 *                          template term (~5% on the difference variance);
 *                2 values: (var1 + var2) / 4, exact (the median of two is their mean);
 *                1 value:  its variance.
 *   mask       the epoch's own mask, or no template, or the bright-template rule below.
 * Bright-template rule: where the template is bright, the difference carries residuals
 * proportional to it, not to the noise: PSF differences between dithers (the PSF varies over the
 * field and the 4 epochs see a star at different detector positions), sub-pixel resampling
 * errors of an undersampled PSF, and flux non-linearity near saturation. These are a few percent
 * of the template (eps ~ 5%). A residual eps * T matters once it approaches the noise of the
 * difference, so a pixel is masked where |T| > bright_k * sqrt(var_diff) with
 * bright_k = 1 / eps = 20 (default): a residual of up to 1 sigma is then the most a star can leave,
 * far below a detection threshold after the matched filter. The masked region is grown by
 * bright_grow_px (default 1) in every direction, because the steepest residuals (from position
 * errors, proportional to the gradient) sit on the flanks of a star's core. Saturated cores and
 * bleed trails are already masked by their FLG bits before resampling. What this costs: a faint
 * mover passing over a > 20 sigma static source is lost there (it would be anyway, against
 * residuals of that size).
 * Static-sky gate (on when gate_kernel is set; sso_pipeline turns it on with its matched filter):
 * the template is subtracted only where the static sky is a source. Its noise (var_template is
 * 0.45 of an exposure's for a median of 3) costs a faint mover x0.83 in SNR, and where the sky
 * holds no star or galaxy the background, already subtracted, is a better template: 0. The gate
 * is the matched filter (gate_kernel) on the inverse-variance combination of the 4 epochs' images,
 * S = sum K num / sqrt(sum K^2 den) with num = sum img/var and den = sum 1/var per pixel, above
 * gate_snr, grown by gate_grow_px (Chebyshev) for the wings. Elsewhere difference = img and
 * variance = var of the epoch itself. The mask codes (no template, bright rule) are the same with
 * and without the gate. What it leaves: a static source below the gate reaches every epoch's
 * difference, but the stack at zero velocity of those differences is S itself, so it cannot pass
 * gate_snr there (3.5 by default, half the slow threshold). A mover that leaves its PSF between
 * epochs enters S at a quarter of its flux and half the noise, i.e. at half its own SNR, so it
 * switches the template on at its own position only above a per-epoch SNR of ~2 gate_snr (found
 * either way); a slow one that overlaps itself across the epochs (< ~1"/h) enters with more, and
 * near the slow threshold often gates itself (on --preset ccd one-CCD depth quartets the slow
 * depth gained ~7%, not the ~20% of the noise alone: bench/results/static-gate-2026-11-22.md).
 * The per-pixel arithmetic is SSO_HD (host/difference_math.h), for the CUDA twin to share.
 */
#ifndef SSO_DIFFERENCE_H
#define SSO_DIFFERENCE_H

#include <stddef.h>
#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_DIFF_EPOCHS 4
#define SSO_DIFF_BRIGHT_K 20.0f
#define SSO_DIFF_BRIGHT_GROW_PX 1
#define SSO_DIFF_GATE_SNR 3.5f
#define SSO_DIFF_GATE_GROW_PX 2
#define SSO_DIFF_GATE_MAX_HALF 15

typedef struct sso_difference_config {
    int min_template_epochs; /* fewest other epochs that make a template [1]; 1..3 */
    float bright_k;          /* mask where |template| > bright_k * sqrt(var_diff) [20]; <= 0: off */
    int bright_grow_px;      /* grow the bright mask by this many px (Chebyshev) [1] */
    const float *gate_kernel; /* static-sky gate's matched filter, (2 gate_half + 1)^2 weights,
                               * row-major; NULL: the template is subtracted everywhere [NULL] */
    int gate_half;           /* its half size, 0..SSO_DIFF_GATE_MAX_HALF [3] */
    float gate_snr;          /* static where the filtered combination exceeds this [3.5] */
    int gate_grow_px;        /* grow the static region by this many px (Chebyshev) [2] */
    sso_backend backend;     /* [cpu]; CUDA: kernels/difference.cu; AUTO: the GPU when present */
} sso_difference_config;

void sso_difference_config_default(sso_difference_config *c);

typedef struct sso_difference_stats {
    int64_t n_no_template; /* pixels (over all epochs) masked for want of a template */
    int64_t n_bright;      /* pixels (over all epochs, growth included) masked by the bright rule */
    int64_t n_static;      /* pixels (of the patch, growth included) where the gate found static
                            * sky, so the template was subtracted; 0 with the gate off */
} sso_difference_stats;

/* One patch of w x h pixels, 4 epochs. img/var/mask[e] are the inputs of epoch e; diff/dvar/dmask[e]
 * the outputs (caller-allocated, w*h each, distinct from the inputs). Masked outputs have diff 0,
 * dvar +inf. cfg NULL: defaults. stats may be NULL. */
sso_status sso_difference_patch(int w, int h, const float *const img_e[SSO_DIFF_EPOCHS],
                                const float *const var_e2[SSO_DIFF_EPOCHS],
                                const uint8_t *const mask[SSO_DIFF_EPOCHS],
                                const sso_difference_config *cfg,
                                float *const diff_e[SSO_DIFF_EPOCHS],
                                float *const dvar_e2[SSO_DIFF_EPOCHS],
                                uint8_t *const dmask[SSO_DIFF_EPOCHS], sso_difference_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
