/* host/difference.c: static sky removal on one patch, CPU reference (contract in
 * include/sso/difference.h).
 *
 * With the static-sky gate on (cfg gate_kernel), first, once per patch:
 *   0. sso_diff_gate_terms() per pixel into two float planes (num, den), sso_diff_gate_static()
 *      per pixel into a byte plane, grown by gate_grow_px (the same separable max filter as 2.);
 * then per epoch, two passes over the patch:
 *   1. every pixel through sso_diff_pixel() (host/difference_math.h), subtracting the template
 *      where the gate plane says static (everywhere without the gate); dmask holds the code;
 *   2. the bright codes are grown by bright_grow_px (a separable max filter: rows into a scratch
 *      plane, then columns), and every code but OK becomes 1 with diff 0, var +inf.
 * Data layout: planes row-major, w columns by h rows, one per epoch; scratch: two w*h byte planes
 * for the growth (and, with the gate, two float planes and two more byte planes).
 * With config backend CUDA (or AUTO and a device) the whole patch goes to sso_k_difference()
 * (kernels/difference.cu), which runs the same sso_diff_pixel() and the same growth rule.
 */
#include <math.h>
#include <stdlib.h>

#include "host/difference_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/difference.h"

void sso_difference_config_default(sso_difference_config *c)
{
    if (!c)
        return;
    c->min_template_epochs = 1;
    c->bright_k = SSO_DIFF_BRIGHT_K;
    c->bright_grow_px = SSO_DIFF_BRIGHT_GROW_PX;
    c->gate_kernel = NULL;
    c->gate_half = 3;
    c->gate_snr = SSO_DIFF_GATE_SNR;
    c->gate_grow_px = SSO_DIFF_GATE_GROW_PX;
    c->backend = SSO_BACKEND_CPU;
}

/* Grows the non-zero pixels of the 0/1 plane m by r px (Chebyshev), through tmp; returns the
 * number of non-zero pixels after. */
static int64_t dilate(uint8_t *m, uint8_t *tmp, int w, int h, int r)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *row = m + (size_t)y * w;
        uint8_t *out = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            uint8_t b = 0;
            for (int xx = x - r > 0 ? x - r : 0; xx <= x + r && xx < w && !b; xx++)
                b = row[xx];
            out[x] = b;
        }
    }
    int64_t n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t b = 0;
            for (int yy = y - r > 0 ? y - r : 0; yy <= y + r && yy < h && !b; yy++)
                b = tmp[(size_t)yy * w + x];
            m[(size_t)y * w + x] = b;
            n += b;
        }
    return n;
}

/* Grows code SSO_DIFF_BRIGHT in dm by r px (Chebyshev distance) over pixels whose code is OK: the
 * bright codes as a 0/1 plane (mark) dilated like the gate (through tmp). */
static void grow_bright(uint8_t *dm, uint8_t *mark, uint8_t *tmp, int w, int h, int r, int64_t *n_bright)
{
    const size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        mark[i] = dm[i] == SSO_DIFF_BRIGHT;
    dilate(mark, tmp, w, h, r);
    int64_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (dm[i] == SSO_DIFF_OK && mark[i])
            dm[i] = SSO_DIFF_BRIGHT;
        nb += dm[i] == SSO_DIFF_BRIGHT;
    }
    *n_bright += nb;
}

/* The static-sky gate of the patch into gate (w*h bytes, 1: static), through scratch planes num,
 * den (w*h floats) and tmp (w*h bytes); returns the number of static pixels. */
static int64_t static_gate(int w, int h, const float *const img_e[SSO_DIFF_EPOCHS],
                           const float *const var_e2[SSO_DIFF_EPOCHS],
                           const uint8_t *const mask[SSO_DIFF_EPOCHS], const sso_difference_config *c,
                           float *num, float *den, uint8_t *gate, uint8_t *tmp)
{
    const size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) {
        const float im[4] = {img_e[0][i], img_e[1][i], img_e[2][i], img_e[3][i]};
        const float va[4] = {var_e2[0][i], var_e2[1][i], var_e2[2][i], var_e2[3][i]};
        const uint8_t ma[4] = {mask[0][i], mask[1][i], mask[2][i], mask[3][i]};
        sso_diff_gate_terms(im, va, ma, &num[i], &den[i]);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            gate[(size_t)y * w + x] = (uint8_t)sso_diff_gate_static(num, den, w, h, x, y, c->gate_kernel,
                                                                    c->gate_half, c->gate_snr);
    return dilate(gate, tmp, w, h, c->gate_grow_px);
}

sso_status sso_difference_patch(int w, int h, const float *const img_e[SSO_DIFF_EPOCHS],
                                const float *const var_e2[SSO_DIFF_EPOCHS],
                                const uint8_t *const mask[SSO_DIFF_EPOCHS],
                                const sso_difference_config *cfg,
                                float *const diff_e[SSO_DIFF_EPOCHS],
                                float *const dvar_e2[SSO_DIFF_EPOCHS],
                                uint8_t *const dmask[SSO_DIFF_EPOCHS], sso_difference_stats *stats)
{
    sso_difference_config c;
    sso_difference_config_default(&c);
    if (cfg)
        c = *cfg;
    if (w < 1 || h < 1 || !img_e || !var_e2 || !mask || !diff_e || !dvar_e2 || !dmask)
        return sso_fail(SSO_ERR_ARG, "difference: %d x %d patch or NULL planes", w, h);
    for (int e = 0; e < SSO_DIFF_EPOCHS; e++)
        if (!img_e[e] || !var_e2[e] || !mask[e] || !diff_e[e] || !dvar_e2[e] || !dmask[e])
            return sso_fail(SSO_ERR_ARG, "difference: NULL plane for epoch %d", e);
    if (c.min_template_epochs < 1 || c.min_template_epochs > 3 || c.bright_grow_px < 0 ||
        c.bright_grow_px > 64 || isnan(c.bright_k))
        return sso_fail(SSO_ERR_ARG, "difference: min template epochs %d (1..3), grow %d px "
                        "(0..64), bright k %g", c.min_template_epochs, c.bright_grow_px,
                        (double)c.bright_k);
    if (c.gate_kernel && (c.gate_half < 0 || c.gate_half > SSO_DIFF_GATE_MAX_HALF || !isfinite(c.gate_snr) ||
                          c.gate_grow_px < 0 || c.gate_grow_px > 64))
        return sso_fail(SSO_ERR_ARG, "difference: static-sky gate half size %d (0..%d), snr %g, grow %d px "
                        "(0..64)", c.gate_half, SSO_DIFF_GATE_MAX_HALF, (double)c.gate_snr, c.gate_grow_px);
    if (sso_backend_resolve(c.backend) == SSO_BACKEND_CUDA) {
        sso_status st = sso_k_difference(w, h, img_e, var_e2, mask, &c, diff_e, dvar_e2, dmask,
                                         stats, NULL);
        if (st != SSO_ERR_NO_DEVICE || c.backend != SSO_BACKEND_AUTO)
            return st; /* AUTO without a usable device: the CPU below */
    }
    const size_t n = (size_t)w * h;
    uint8_t *tmp = NULL, *mark = NULL, *gate = NULL, *gtmp = NULL;
    float *num = NULL, *den = NULL;
    if (c.bright_k > 0.0f && c.bright_grow_px > 0 && (!(tmp = malloc(n)) || !(mark = malloc(n)))) {
        free(tmp);
        return sso_fail(SSO_ERR_NOMEM, "difference: scratch planes of %zu px", n);
    }
    sso_difference_stats s = {0, 0, 0};
    if (c.gate_kernel) {
        gate = malloc(n), gtmp = malloc(n);
        num = malloc(n * sizeof *num), den = malloc(n * sizeof *den);
        if (!gate || !gtmp || !num || !den) {
            free(tmp), free(mark), free(gate), free(gtmp), free(num), free(den);
            return sso_fail(SSO_ERR_NOMEM, "difference: static-sky gate planes of %zu px", n);
        }
        s.n_static = static_gate(w, h, img_e, var_e2, mask, &c, num, den, gate, gtmp);
        free(gtmp), free(num), free(den);
    }
    for (int e = 0; e < SSO_DIFF_EPOCHS; e++) {
        float *d = diff_e[e], *dv = dvar_e2[e];
        uint8_t *dm = dmask[e];
        for (size_t i = 0; i < n; i++) {
            const float im[4] = {img_e[0][i], img_e[1][i], img_e[2][i], img_e[3][i]};
            const float va[4] = {var_e2[0][i], var_e2[1][i], var_e2[2][i], var_e2[3][i]};
            const uint8_t ma[4] = {mask[0][i], mask[1][i], mask[2][i], mask[3][i]};
            dm[i] = (uint8_t)sso_diff_pixel(e, im, va, ma, c.min_template_epochs, c.bright_k,
                                            gate ? gate[i] : 1, &d[i], &dv[i]);
        }
        if (tmp)
            grow_bright(dm, mark, tmp, w, h, c.bright_grow_px, &s.n_bright);
        for (size_t i = 0; i < n; i++) {
            if (dm[i] == SSO_DIFF_OK)
                continue;
            s.n_no_template += dm[i] == SSO_DIFF_NO_TEMPLATE;
            if (!tmp)
                s.n_bright += dm[i] == SSO_DIFF_BRIGHT;
            dm[i] = 1;
            d[i] = 0.0f;
            dv[i] = INFINITY;
        }
    }
    free(tmp), free(mark);
    free(gate);
    if (stats)
        *stats = s;
    return SSO_OK;
}
