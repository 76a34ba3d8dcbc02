/* host/cosmic.c: cosmic-ray detection, CPU reference (contract in include/sso/cosmic.h).
 *
 * Work arrays (w * h each): lp (L+ [e-]), sig (S), a byte per pixel of effective mask (input
 * mask | flagged so far), and two lazily filled caches with a pass stamp each: med3 of the image
 * and S' (= S - med5 S). The medians are the costly part of L.A.Cosmic (7x7 of 3x3 medians per
 * pixel); they are only needed where S already exceeds a threshold (S' <= S since S >= 0), i.e.
 * at a few percent of the pixels, so they are computed on demand and cached for the pass (a stamp
 * equal to the pass number marks a valid entry, which spares clearing the caches).
 *
 * One pass: (1) L+ and S at every unmasked pixel; (2) candidates: S' > sigclip (sigfrac * sigclip
 * with the FLG hint) and L+ / F > objlim; (3) growth from the candidates and from all pixels
 * flagged so far into 8-neighbours with S' > sigclip, then into theirs with S' > sigfrac *
 * sigclip (around earlier flags with L+ / F > objlim as well: see grow()); (4) the new pixels
 * join the flags and the mask. Passes
 * stop when one adds nothing. Then the flags that form tracks (sso_cr_track_at) grow by grow_px
 * onto unmasked pixels (sso_cr_grown_at), decided on the flags the passes left.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/cosmic_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/cosmic.h"
#include "sso/flags.h"

sso_cosmic_params sso_cosmic_params_default(void)
{
    sso_cosmic_params p;
    p.sigclip = 5.0f;
    p.sigfrac = 0.3f;
    p.objlim = 8.0f;
    p.niter = 4;
    p.use_flg_hint = 1;
    p.grow_px = 0;
    p.backend = SSO_BACKEND_CPU;
    return p;
}

typedef struct cr_work {
    const float *img, *var;
    int w, h;
    uint8_t *m;          /* effective mask: input mask | flagged */
    float *lp, *sig;     /* L+ [e-], S */
    float *med3, *sp;    /* caches: median3 of the image, S' */
    uint8_t *st3, *stp;  /* their pass stamps */
    uint8_t pass;        /* 1.. */
} cr_work;

/* Pass 1 of each iteration: L+ and S of every pixel (0 where masked). */
static void compute_sig(cr_work *c)
{
    const int w = c->w, h = c->h;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (c->m[i]) {
                c->lp[i] = c->sig[i] = 0.0f;
                continue;
            }
            float v = c->img[i];
            float l = x > 0 && !c->m[i - 1] ? c->img[i - 1] : v;
            float r = x < w - 1 && !c->m[i + 1] ? c->img[i + 1] : v;
            float u = y > 0 && !c->m[i - w] ? c->img[i - w] : v;
            float d = y < h - 1 && !c->m[i + w] ? c->img[i + w] : v;
            float lp = sso_cr_lplus(v, l, r, u, d);
            c->lp[i] = lp;
            c->sig[i] = sso_cr_sig(lp, c->var[i]);
        }
    }
}

/* Median of a (2r+1)^2 window of src around (x, y) over unmasked pixels; *ok = 0 if none. */
static float window_median(const cr_work *c, const float *src, int x, int y, int r, int *ok)
{
    float v[49];
    int n = 0;
    for (int yy = y - r; yy <= y + r; yy++) {
        if (yy < 0 || yy >= c->h)
            continue;
        for (int xx = x - r; xx <= x + r; xx++) {
            if (xx < 0 || xx >= c->w)
                continue;
            size_t i = (size_t)yy * c->w + xx;
            if (!c->m[i])
                v[n++] = src[i];
        }
    }
    *ok = n > 0;
    return n ? sso_cr_median(v, n) : 0.0f;
}

static float med3_at(cr_work *c, int x, int y, int *ok)
{
    size_t i = (size_t)y * c->w + x;
    if (c->st3[i] != c->pass) {
        int good;
        float m = window_median(c, c->img, x, y, 1, &good);
        c->med3[i] = good ? m : NAN;
        c->st3[i] = c->pass;
    }
    *ok = !isnan(c->med3[i]);
    return c->med3[i];
}

/* S' at an unmasked pixel. */
static float sprime_at(cr_work *c, int x, int y)
{
    size_t i = (size_t)y * c->w + x;
    if (c->stp[i] != c->pass) {
        int ok;
        float m = window_median(c, c->sig, x, y, 2, &ok);
        c->sp[i] = c->sig[i] - m;
        c->stp[i] = c->pass;
    }
    return c->sp[i];
}

/* Fine structure F = med3(I) - med7(med3(I)) at an unmasked pixel, over unmasked pixels. */
static float fine_at(cr_work *c, int x, int y)
{
    float v[49];
    int n = 0, ok;
    for (int yy = y - 3; yy <= y + 3; yy++) {
        if (yy < 0 || yy >= c->h)
            continue;
        for (int xx = x - 3; xx <= x + 3; xx++) {
            if (xx < 0 || xx >= c->w || c->m[(size_t)yy * c->w + xx])
                continue;
            float m = med3_at(c, xx, yy, &ok);
            if (ok)
                v[n++] = m;
        }
    }
    float m3 = med3_at(c, x, y, &ok);
    return n && ok ? m3 - sso_cr_median(v, n) : 0.0f;
}

/* Growth. in[] holds seeds: 1 for this pass's candidates (and what grew from them), 2 for pixels
 * flagged in earlier passes (and what grew from them). Marks in out[] (a copy of in[] first; out
 * may not alias in) the unmasked 8-neighbours of seeds whose S' exceeds thr, carrying the seed's
 * kind (1 wins). Around kind-2 seeds L+ / F must also exceed objlim. Why: flagged pixels are
 * masked in later passes, so a pixel beside a bright track finally shows its own curvature and
 * growth from old flags catches a track's fainter edge; but without the objlim test that growth
 * would walk, pass after pass, into the sharp core of an undersampled star that a cosmic ray
 * touches. Growth from fresh candidates is L.A.Cosmic's own, without that test. */
static void grow(cr_work *c, const uint8_t *in, uint8_t *out, float thr, float objlim)
{
    const int w = c->w, h = c->h;
    memcpy(out, in, (size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t kind = in[(size_t)y * w + x];
            if (!kind)
                continue;
            for (int yy = y - 1; yy <= y + 1; yy++)
                for (int xx = x - 1; xx <= x + 1; xx++) {
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                        continue;
                    size_t j = (size_t)yy * w + xx;
                    if (out[j] == 1 || (out[j] == 2 && kind == 2) || c->m[j] || c->sig[j] <= thr)
                        continue;
                    if (sprime_at(c, xx, yy) <= thr)
                        continue;
                    if (kind == 2 && sso_cr_ratio(c->lp[j], fine_at(c, xx, yy), c->var[j]) <= objlim)
                        continue;
                    out[j] = kind;
                }
        }
}

sso_status sso_cosmic_detect(const float *img_e, const float *var_e2, const uint8_t *mask,
                             const int32_t *flg, int w, int h, const sso_cosmic_params *p,
                             uint8_t *cr_mask, int64_t *n_flagged_px)
{
    sso_cosmic_params def = sso_cosmic_params_default();
    if (!p)
        p = &def;
    if (!img_e || !var_e2 || !cr_mask || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "cosmic: no image or bad size %d x %d", w, h);
    if (!(p->sigclip > 0.0f) || !(p->sigfrac > 0.0f) || p->sigfrac > 1.0f || !(p->objlim >= 0.0f) ||
        p->niter < 1 || p->niter > 250 || p->grow_px < 0 || p->grow_px > 8)
        return sso_fail(SSO_ERR_ARG, "cosmic: bad parameters (sigclip %g, sigfrac %g, objlim %g, "
                        "niter %d, grow_px %d)", (double)p->sigclip, (double)p->sigfrac,
                        (double)p->objlim, p->niter, p->grow_px);
    if (sso_backend_resolve(p->backend) == SSO_BACKEND_CUDA) { /* kernels/cosmic.cu */
        sso_status st = sso_k_cosmic(img_e, var_e2, mask, flg, w, h, p, cr_mask, n_flagged_px, NULL);
        if (st != SSO_ERR_NO_DEVICE || p->backend != SSO_BACKEND_AUTO)
            return st; /* AUTO without a usable device: the CPU below */
    }
    sso_status rc = SSO_OK;
    size_t n = (size_t)w * h;
    cr_work c = {img_e, var_e2, w, h, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    uint8_t *bytes = calloc(n, 5); /* m, st3, stp, sel, grown */
    float *floats = malloc(n * 4 * sizeof(float));
    if (!bytes || !floats) {
        rc = sso_fail(SSO_ERR_NOMEM, "cosmic: work arrays for %d x %d pixels", w, h);
        goto exit;
    }
    c.m = bytes;
    c.st3 = bytes + n;
    c.stp = bytes + 2 * n;
    uint8_t *sel = bytes + 3 * n, *grown = bytes + 4 * n;
    c.lp = floats;
    c.sig = floats + n;
    c.med3 = floats + 2 * n;
    c.sp = floats + 3 * n;
    for (size_t i = 0; i < n; i++)
        c.m[i] = (mask && mask[i]) || !isfinite(img_e[i]) || !(var_e2[i] > 0.0f) ||
                 !isfinite(var_e2[i]);
    memset(cr_mask, 0, n);
    const float lo = p->sigfrac * p->sigclip;
    int64_t total = 0;

    for (int pass = 1; pass <= p->niter; pass++) {
        c.pass = (uint8_t)pass;
        compute_sig(&c);
        /* candidates */
        memset(sel, 0, n);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                int hint = p->use_flg_hint && flg && (flg[i] & (int32_t)SSO_FLG_COSMIC);
                float thr = hint ? lo : p->sigclip;
                if (c.sig[i] <= thr || sprime_at(&c, x, y) <= thr)
                    continue;
                if (sso_cr_ratio(c.lp[i], fine_at(&c, x, y), var_e2[i]) > p->objlim)
                    sel[i] = 1;
            }
        /* growth around the candidates and every pixel flagged in earlier passes (which are now
         * masked, so their neighbours' curvature shows): S' > sigclip, then S' > sigfrac sigclip */
        for (size_t i = 0; i < n; i++)
            sel[i] = sel[i] ? 1 : (cr_mask[i] ? 2 : 0);
        grow(&c, sel, grown, p->sigclip, p->objlim);
        grow(&c, grown, sel, lo, p->objlim);
        int64_t added = 0;
        for (size_t i = 0; i < n; i++)
            if (sel[i] && !c.m[i]) {
                cr_mask[i] = 1;
                c.m[i] = 1;
                added++;
            }
        total += added;
        if (!added)
            break;
    }
    /* growth of the tracks onto the unmasked neighbours (decided on the flags as the passes left
     * them; the track test only where flagged) */
    if (p->grow_px > 0 && total > 0) {
        memset(grown, 0, n);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (cr_mask[(size_t)y * w + x])
                    grown[(size_t)y * w + x] = (uint8_t)sso_cr_track_at(cr_mask, w, h, x, y);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                sel[(size_t)y * w + x] =
                    (uint8_t)sso_cr_grown_at(grown, c.m, w, h, x, y, p->grow_px);
        for (size_t i = 0; i < n; i++)
            if (sel[i]) {
                cr_mask[i] = 1;
                c.m[i] = 1;
                total++;
            }
    }
    if (n_flagged_px)
        *n_flagged_px = total;

exit:
    free(bytes);
    free(floats);
    return rc;
}
