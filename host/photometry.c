/* host/photometry.c: track photometry, the CPU reference (contract and model in
 * include/sso/photometry.h).
 *
 * Layout: one box around all epochs' trail segments plus stamp radius + margin (clipped to the
 * patch), n_epochs unit profiles P_k rendered into it with sso_sim_psf_add_trail (row-major,
 * bw x bh floats each). Two passes over the box: the joint fit of F (every epoch, pixels near ANY
 * segment), then the per-epoch fits of F_e (pixels near epoch e's own segment), which need F.
 * The box is small (a slow mover's 4 trails span <= ~110 px), so everything is single-threaded.
 * sso_track_refine is a coordinate search around it: each trial track is one photometry call.
 */
#include "sso/photometry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/photometry_math.h"
#include "host/status_internal.h"
#include "sim/psf.h"
#include "sso/difference.h"

/* Profiles are rendered this far beyond the stamp radius, so that the templates T_e at stamp pixels
 * include the other epochs' wings out to where they are ~1e-5 of the flux per pixel. */
#define RENDER_MARGIN_PX 4.0

/* Whether epoch e of ph counts in sso_track_phot_peak_z: used, a finite flux, a positive error. */
static int peak_usable(const sso_track_phot *ph, const int *used, int e)
{
    return (!used || used[e]) && isfinite(ph->epoch_flux_e[e]) && ph->epoch_flux_err_e[e] > 0.0;
}

double sso_track_phot_peak_z(const sso_track_phot *ph, const int *used)
{
    const int ne = ph->n_epochs < SSO_PHOT_MAX_EPOCHS ? ph->n_epochs : SSO_PHOT_MAX_EPOCHS;
    int top = -1, n = 0;
    for (int e = 0; e < ne; e++) {
        if (!peak_usable(ph, used, e))
            continue;
        n++;
        if (top < 0 || ph->epoch_flux_e[e] / ph->epoch_flux_err_e[e] >
                           ph->epoch_flux_e[top] / ph->epoch_flux_err_e[top])
            top = e;
    }
    if (n < 2)
        return NAN;
    double w = 0.0, wf = 0.0; /* inverse-variance sums over the other epochs */
    for (int e = 0; e < ne; e++) {
        const double s = ph->epoch_flux_err_e[e];
        if (e != top && peak_usable(ph, used, e))
            w += 1.0 / (s * s), wf += ph->epoch_flux_e[e] / (s * s);
    }
    const double st = ph->epoch_flux_err_e[top];
    return (ph->epoch_flux_e[top] - wf / w) / sqrt(st * st + 1.0 / w);
}

double sso_ab_mag(double flux_e, double magzerop, double gain_e_per_adu, double exptime_s)
{
    if (!(flux_e > 0.0) || !(gain_e_per_adu > 0.0) || !(exptime_s > 0.0) || !isfinite(magzerop))
        return NAN;
    return magzerop - 2.5 * log10(flux_e / gain_e_per_adu / exptime_s);
}

/* Epoch e's unit template at one pixel. Fs == 0: the noise-free rule (sso_phot_template). Else,
 * with 3 other epochs unmasked, the EXPECTED median of the noisy values F p_k + n_k, n_k ~ N(0,
 * var_k), divided by Fs (the median of noisy values is not the median of their means: a bright
 * neighbour makes it the larger of two noise values, +0.56 sigma; where all F p_k << sigma it is
 * ~ their mean, not their median); with 2 or 1 the template is linear and the noise-free rule
 * exact. Returns 0 where no template exists. */
static int unit_template(const float *p, const uint8_t *m, const float *vk, int n, int e, double Fs,
                         float *t)
{
    if (!sso_phot_template(p, m, n, e, t))
        return 0;
    if (Fs == 0.0)
        return 1;
    double mu[3], sg[3];
    int nv = 0;
    for (int k = 0; k < n; k++)
        if (k != e && !m[k] && nv < 3) {
            if (!(vk[k] > 0.0f) || !isfinite(vk[k]))
                return 1; /* no usable variance: keep the noise-free rule */
            mu[nv] = Fs * p[k], sg[nv] = sqrt((double)vk[k]), nv++;
        }
    if (nv != 3)
        return 1;
    const double smin = fmin(sg[0], fmin(sg[1], sg[2]));
    if (fmax(fabs(mu[0]), fmax(fabs(mu[1]), fabs(mu[2]))) < 1e-3 * smin)
        *t = (float)((mu[0] + mu[1] + mu[2]) / (3.0 * Fs)); /* first order: the mean */
    else
        *t = (float)(sso_phot_emedian3(mu, sg) / Fs);
    return 1;
}

/* Epoch e's unit template at pixel g as sso_difference_patch applied it: where the static-sky gate
 * left the epoch's own image (its contract: dvar = var, bitwise), nothing was subtracted, so 0;
 * elsewhere unit_template. Returns 0 where no template exists. */
static int applied_template(const float *p, const uint8_t *m, const float *vk, int n, int e,
                            double Fs, float dvar_e, float *t)
{
    if (dvar_e == vk[e]) {
        *t = 0.0f;
        return 1;
    }
    return unit_template(p, m, vk, n, e, Fs, t);
}

/* A track's trail segments (epoch e from (ax, ay) to (bx, by), over its exposure) and the box of
 * pixels within pad of any of them, clipped to the w x h patch (columns i0.., rows j0.., bw x bh).
 * Returns 0 when the box misses the patch or the track is absurdly long (> 1e5 px). */
typedef struct track_box {
    double ax[SSO_PHOT_MAX_EPOCHS], ay[SSO_PHOT_MAX_EPOCHS];
    double bx[SSO_PHOT_MAX_EPOCHS], by[SSO_PHOT_MAX_EPOCHS];
    int i0, j0, bw, bh;
} track_box;

static int track_box_of(double x0, double y0, double vx, double vy, const double *t_h, int n,
                        double exptime_h, double pad, int w, int h, track_box *b)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int e = 0; e < n; e++) {
        const double ta = t_h[e] - 0.5 * exptime_h, tb = t_h[e] + 0.5 * exptime_h;
        b->ax[e] = x0 + vx * ta, b->ay[e] = y0 + vy * ta;
        b->bx[e] = x0 + vx * tb, b->by[e] = y0 + vy * tb;
        xlo = fmin(xlo, fmin(b->ax[e], b->bx[e])), xhi = fmax(xhi, fmax(b->ax[e], b->bx[e]));
        ylo = fmin(ylo, fmin(b->ay[e], b->by[e])), yhi = fmax(yhi, fmax(b->ay[e], b->by[e]));
    }
    if (xhi + pad < 0 || xlo - pad > w - 1 || yhi + pad < 0 || ylo - pad > h - 1 ||
        xhi - xlo > 1e5 || yhi - ylo > 1e5)
        return 0;
    b->i0 = (int)fmax(0.0, floor(xlo - pad)), b->j0 = (int)fmax(0.0, floor(ylo - pad));
    b->bw = (int)fmin(w - 1.0, ceil(xhi + pad)) - b->i0 + 1;
    b->bh = (int)fmin(h - 1.0, ceil(yhi + pad)) - b->j0 + 1;
    return 1;
}

static void clear_out(sso_track_phot *out, int n)
{
    out->n_epochs = n;
    out->flux_e = out->flux_err_e = out->snr = NAN;
    for (int e = 0; e < SSO_PHOT_MAX_EPOCHS; e++) {
        out->epoch_flux_e[e] = out->epoch_flux_err_e[e] = out->epoch_snr[e] = NAN;
        out->epoch_npix[e] = 0;
    }
}

sso_status sso_track_photometry(const float *const var[], const uint8_t *const mask[],
                                const float *const diff[],
                                const float *const dvar[], const uint8_t *const dmask[],
                                int n_epochs, int w, int h, const double *t_h, double exptime_h,
                                double x0_px, double y0_px, double vx_px_h, double vy_px_h,
                                const sso_sim_psf *psf, sso_track_phot *out)
{
    if (!var || !mask || !diff || !dvar || !dmask || !t_h || !psf || !out)
        return sso_fail(SSO_ERR_ARG, "track photometry: NULL argument");
    if (n_epochs < 2 || n_epochs > SSO_PHOT_MAX_EPOCHS || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "track photometry: %d epochs of %d x %d px", n_epochs, w, h);
    if (!(exptime_h >= 0.0) || !isfinite(exptime_h) || !isfinite(x0_px) || !isfinite(y0_px) ||
        !isfinite(vx_px_h) || !isfinite(vy_px_h))
        return sso_fail(SSO_ERR_ARG, "track photometry: non-finite track or exposure time");
    for (int e = 0; e < n_epochs; e++)
        if (!var[e] || !mask[e] || !diff[e] || !dvar[e] || !dmask[e] || !isfinite(t_h[e]))
            return sso_fail(SSO_ERR_ARG, "track photometry: epoch %d missing or bad time", e);
    clear_out(out, n_epochs);

    /* Trail segments and the box around them. */
    const double R = SSO_PHOT_STAMP_R_PX, R2 = R * R;
    track_box tb;
    if (!track_box_of(x0_px, y0_px, vx_px_h, vy_px_h, t_h, n_epochs, exptime_h,
                      R + RENDER_MARGIN_PX + 1.0, w, h, &tb))
        return SSO_OK; /* off the patch (or absurdly long): nothing to measure */
    const double *ax = tb.ax, *ay = tb.ay, *bx = tb.bx, *by = tb.by;
    const int i0 = tb.i0, j0 = tb.j0, bw = tb.bw, bh = tb.bh;
    const size_t nb = (size_t)bw * (size_t)bh;

    sso_status st = SSO_OK;
    float *prof = calloc(nb * (size_t)n_epochs, sizeof *prof);
    if (!prof) {
        st = sso_fail(SSO_ERR_NOMEM, "track photometry: %d x %d px box", bw, bh);
        goto exit;
    }
    const int rr = (int)ceil(R + RENDER_MARGIN_PX);
    for (int e = 0; e < n_epochs; e++)
        sso_sim_psf_add_trail(psf, prof + (size_t)e * nb, bw, bh, ax[e] - i0, ay[e] - j0,
                              bx[e] - i0, by[e] - j0, 1.0, rr, 0.0f);

    /* Joint fit: diff_e = F (P_e - T_e) over pixels within R of any segment. First with the
     * noise-free templates (Fs = 0), then re-linearised about the current F with the expected
     * templates (Fs = F, floored at 1 sigma so that F ~ 0 stays well defined) until F settles. */
    double F = 0.0, varF = 0.0, Fs = 0.0;
    for (int it = 0; it < 6; it++) {
        double smm = 0.0, sdm = 0.0;
        for (int j = 0; j < bh; j++)
            for (int i = 0; i < bw; i++) {
                const size_t b = (size_t)j * bw + i, g = (size_t)(j + j0) * w + (size_t)(i + i0);
                int near = 0;
                for (int e = 0; e < n_epochs && !near; e++)
                    near = sso_phot_seg_dist2(i + i0, j + j0, ax[e], ay[e], bx[e], by[e]) <= R2;
                if (!near)
                    continue;
                float p[SSO_PHOT_MAX_EPOCHS], vk[SSO_PHOT_MAX_EPOCHS];
                uint8_t m[SSO_PHOT_MAX_EPOCHS];
                for (int k = 0; k < n_epochs; k++)
                    p[k] = prof[(size_t)k * nb + b], m[k] = mask[k][g], vk[k] = var[k][g];
                for (int e = 0; e < n_epochs; e++) {
                    const double dv = dvar[e][g];
                    float t;
                    if (dmask[e][g] || !(dv > 0.0) || !isfinite(dv) ||
                        !applied_template(p, m, vk, n_epochs, e, Fs, dvar[e][g], &t))
                        continue;
                    const double mm = (double)p[e] - t;
                    smm += mm * mm / dv;
                    sdm += diff[e][g] * mm / dv;
                }
            }
        if (!(smm > 0.0))
            goto exit;
        const double Fn = sdm / smm;
        varF = 1.0 / smm;
        const int done = it > 0 && fabs(Fn - F) < 1e-3 * sqrt(varF);
        F = Fn;
        if (done)
            break;
        Fs = fabs(F) > sqrt(varF) ? F : copysign(sqrt(varF), F);
    }
    out->flux_e = F, out->flux_err_e = sqrt(varF), out->snr = F / out->flux_err_e;

    /* Per epoch: diff_e + F T_e = F_e P_e over pixels within R of epoch e's own segment. */
    for (int e = 0; e < n_epochs; e++) {
        double spp = 0.0, sdp = 0.0, stp = 0.0;
        int npix = 0;
        const int ilo = (int)fmax(0.0, floor(fmin(ax[e], bx[e]) - R) - i0);
        const int ihi = (int)fmin(bw - 1.0, ceil(fmax(ax[e], bx[e]) + R) - i0);
        const int jlo = (int)fmax(0.0, floor(fmin(ay[e], by[e]) - R) - j0);
        const int jhi = (int)fmin(bh - 1.0, ceil(fmax(ay[e], by[e]) + R) - j0);
        for (int j = jlo; j <= jhi; j++)
            for (int i = ilo; i <= ihi; i++) {
                const size_t b = (size_t)j * bw + i, g = (size_t)(j + j0) * w + (size_t)(i + i0);
                const double dv = dvar[e][g];
                if (sso_phot_seg_dist2(i + i0, j + j0, ax[e], ay[e], bx[e], by[e]) > R2 ||
                    dmask[e][g] || !(dv > 0.0) || !isfinite(dv))
                    continue;
                float p[SSO_PHOT_MAX_EPOCHS], vk[SSO_PHOT_MAX_EPOCHS];
                uint8_t m[SSO_PHOT_MAX_EPOCHS];
                for (int k = 0; k < n_epochs; k++)
                    p[k] = prof[(size_t)k * nb + b], m[k] = mask[k][g], vk[k] = var[k][g];
                float t;
                if (!applied_template(p, m, vk, n_epochs, e, Fs, dvar[e][g], &t))
                    continue;
                spp += (double)p[e] * p[e] / dv;
                sdp += diff[e][g] * (double)p[e] / dv;
                stp += (double)t * p[e] / dv;
                npix++;
            }
        out->epoch_npix[e] = npix;
        if (!(spp > 0.0))
            continue;
        const double c = stp / spp;
        out->epoch_flux_e[e] = (sdp + F * stp) / spp;
        out->epoch_flux_err_e[e] = sqrt(1.0 / spp + c * c * varF);
        out->epoch_snr[e] = out->epoch_flux_e[e] / out->epoch_flux_err_e[e];
    }

exit:
    free(prof);
    return st;
}

/* ---- the static sky under a track (sso_track_static_z) ------------------------------------------ */

sso_status sso_track_static_z(const float *const img[], const float *const var[],
                              const uint8_t *const mask[], int n_epochs, int w, int h,
                              const double *t_h, double exptime_h, const double track[4],
                              double flux_e, const sso_sim_psf *psf, const float *K, int half,
                              double *z)
{
    if (!img || !var || !mask || !t_h || !track || !psf || !K || !z || n_epochs < 2 ||
        n_epochs > SSO_PHOT_MAX_EPOCHS || w <= 0 || h <= 0 || half < 0 || half > SSO_DIFF_GATE_MAX_HALF ||
        !isfinite(flux_e) || !(exptime_h >= 0.0) || !isfinite(track[0]) || !isfinite(track[1]) ||
        !isfinite(track[2]) || !isfinite(track[3]))
        return sso_fail(SSO_ERR_ARG, "track static sky: bad arguments");
    for (int e = 0; e < n_epochs; e++)
        if (!img[e] || !var[e] || !mask[e] || !isfinite(t_h[e]))
            return sso_fail(SSO_ERR_ARG, "track static sky: epoch %d missing or bad time", e);
    *z = NAN;
    const double R = SSO_PHOT_STAMP_R_PX, RS2 = SSO_PHOT_STATIC_R_PX * SSO_PHOT_STATIC_R_PX;
    track_box tb; /* the stamp plus the filter's reach */
    if (!track_box_of(track[0], track[1], track[2], track[3], t_h, n_epochs, exptime_h,
                      R + half + RENDER_MARGIN_PX + 1.0, w, h, &tb))
        return SSO_OK;
    const double *ax = tb.ax, *ay = tb.ay, *bx = tb.bx, *by = tb.by;
    const int i0 = tb.i0, j0 = tb.j0, bw = tb.bw, bh = tb.bh;
    const size_t nb = (size_t)bw * (size_t)bh;
    float *prof = calloc(nb * (size_t)(n_epochs + 2), sizeof *prof);
    if (!prof)
        return sso_fail(SSO_ERR_NOMEM, "track static sky: %d x %d px box", bw, bh);
    float *num = prof + nb * (size_t)n_epochs, *den = num + nb;
    const int rr = (int)ceil(R + half + RENDER_MARGIN_PX);
    for (int e = 0; e < n_epochs; e++)
        sso_sim_psf_add_trail(psf, prof + (size_t)e * nb, bw, bh, ax[e] - i0, ay[e] - j0,
                              bx[e] - i0, by[e] - j0, 1.0, rr, 0.0f);
    /* the 4 epochs less the mover, combined as the difference stage's gate combines them */
    for (int j = 0; j < bh; j++)
        for (int i = 0; i < bw; i++) {
            const size_t b = (size_t)j * bw + i, g = (size_t)(j + j0) * w + (size_t)(i + i0);
            float im[SSO_PHOT_MAX_EPOCHS] = {0}, vv[SSO_PHOT_MAX_EPOCHS] = {0};
            uint8_t mm[SSO_PHOT_MAX_EPOCHS] = {1, 1, 1, 1};
            for (int e = 0; e < n_epochs; e++)
                im[e] = img[e][g] - (float)(flux_e * prof[(size_t)e * nb + b]), vv[e] = var[e][g],
                mm[e] = mask[e][g];
            sso_diff_gate_terms(im, vv, mm, &num[b], &den[b]);
        }
    /* its matched-filter significance at every pixel within SSO_PHOT_STATIC_R_PX of any epoch's
     * segment */
    double zmax = -INFINITY;
    for (int j = 0; j < bh; j++)
        for (int i = 0; i < bw; i++) {
            int near = 0;
            for (int e = 0; e < n_epochs && !near; e++)
                near = sso_phot_seg_dist2(i + i0, j + j0, ax[e], ay[e], bx[e], by[e]) <= RS2;
            if (!near)
                continue;
            double ps, ph;
            sso_diff_gate_sums(num, den, bw, bh, i, j, K, half, &ps, &ph);
            if (ph > 0.0)
                zmax = fmax(zmax, ps / sqrt(ph));
        }
    if (isfinite(zmax))
        *z = zmax;
    free(prof);
    return SSO_OK;
}

/* ---- track refinement (sso_track_refine) ------------------------------------------------------ */

typedef struct refine_ctx {
    const float *const *var, *const *diff, *const *dvar;
    const uint8_t *const *mask, *const *dmask;
    int n, w, h;
    const double *t_h;
    double exptime_h, tf, tl, base[4]; /* base: positions at tf and tl (xf, yf, xl, yl) */
    const sso_sim_psf *psf;
} refine_ctx;

/* Joint SNR of the track whose first and last epoch positions are base + p; -inf when unmeasured. */
static sso_status refine_eval(const refine_ctx *c, const double *p, double *f, double *track,
                              sso_track_phot *ph)
{
    const double xf = c->base[0] + p[0], yf = c->base[1] + p[1];
    const double xl = c->base[2] + p[2], yl = c->base[3] + p[3], dt = c->tl - c->tf;
    track[2] = (xl - xf) / dt, track[3] = (yl - yf) / dt;
    track[0] = xf - track[2] * c->tf, track[1] = yf - track[3] * c->tf;
    sso_status st = sso_track_photometry(c->var, c->mask, c->diff, c->dvar, c->dmask, c->n, c->w,
                                         c->h, c->t_h, c->exptime_h, track[0], track[1], track[2],
                                         track[3], c->psf, ph);
    *f = isfinite(ph->snr) ? ph->snr : -INFINITY;
    return st;
}

sso_status sso_track_refine(const float *const var[], const uint8_t *const mask[],
                            const float *const diff[], const float *const dvar[],
                            const uint8_t *const dmask[], int n_epochs, int w, int h,
                            const double *t_h, double exptime_h, const sso_sim_psf *psf,
                            double step_px, int rounds, double track[4], sso_track_phot *out)
{
    if (!track || !t_h || !out || n_epochs < 2 || n_epochs > SSO_PHOT_MAX_EPOCHS ||
        !(step_px >= 0.0) || rounds < 0)
        return sso_fail(SSO_ERR_ARG, "track refine: bad arguments");
    refine_ctx c = {var, diff, dvar, mask, dmask, n_epochs, w, h, t_h, exptime_h, t_h[0], t_h[0],
                    {0}, psf};
    for (int e = 1; e < n_epochs; e++)
        c.tf = fmin(c.tf, t_h[e]), c.tl = fmax(c.tl, t_h[e]);
    if (!(c.tl - c.tf > 0.0))
        return sso_fail(SSO_ERR_ARG, "track refine: the epochs share one time");
    c.base[0] = track[0] + track[2] * c.tf, c.base[1] = track[1] + track[3] * c.tf;
    c.base[2] = track[0] + track[2] * c.tl, c.base[3] = track[1] + track[3] * c.tl;
    /* in the track's frame (u along the motion, n across): each end along and across, then the
     * whole track along and across. Along a trail the SNR is a ridge in (first, last) that the
     * ends alone climb slowly (a 14 px trail's search stopped 0.1 px off, with x and y shifts) */
    const double vn = hypot(track[2], track[3]);
    const double ux = vn > 0.0 ? track[2] / vn : 1.0, uy = vn > 0.0 ? track[3] / vn : 0.0;
    const double dir[6][4] = {{ux, uy, 0, 0}, {-uy, ux, 0, 0}, {0, 0, ux, uy},
                              {0, 0, -uy, ux}, {ux, uy, ux, uy}, {-uy, ux, -uy, ux}};
    double p[4] = {0, 0, 0, 0}, best[4], tr[4], f0, ft;
    sso_track_phot ph;
    sso_status st = refine_eval(&c, p, &f0, best, out);
    if (st != SSO_OK || !isfinite(f0))
        return st; /* nothing measured: the track stays */
    double s = step_px;
    for (int r = 0; r < rounds; r++, s *= 0.5)
        for (int q = 0; q < 6; q++) {
            double keep[4], trial[4], bq = 0.0, fb = f0;
            memcpy(keep, p, sizeof p);
            const double ds[3] = {s, -s, NAN};
            double fv[2];
            for (int k = 0; k < 3; k++) {
                double a = ds[k];
                if (k == 2) { /* the parabola's vertex through -s, 0, +s */
                    const double den = fv[0] - 2.0 * f0 + fv[1];
                    if (!(den < 0.0) || !isfinite(den))
                        break;
                    a = fmax(-s, fmin(s, 0.5 * s * (fv[1] - fv[0]) / den));
                }
                for (int i = 0; i < 4; i++)
                    trial[i] = keep[i] + a * dir[q][i];
                if ((st = refine_eval(&c, trial, k < 2 ? &fv[k] : &ft, tr, &ph)) != SSO_OK)
                    return st;
                const double f = k < 2 ? fv[k] : ft;
                if (f > fb)
                    bq = a, fb = f, memcpy(best, tr, sizeof tr), *out = ph;
            }
            for (int i = 0; i < 4; i++)
                p[i] = keep[i] + bq * dir[q][i];
            f0 = fb;
        }
    memcpy(track, best, sizeof best);
    return SSO_OK;
}

sso_status sso_track_refine_direct(const float *const img[], const float *const var[],
                                   const uint8_t *const mask[], int n_epochs, int w, int h,
                                   const double *t_h, double exptime_h, const sso_sim_psf *psf,
                                   double step_px, int rounds, const float *K, int half,
                                   double z_max, double track[4], sso_track_phot *out,
                                   double *z, int *taken)
{
    if (!track || !out || !z || !taken)
        return sso_fail(SSO_ERR_ARG, "track refine direct: NULL argument");
    *taken = 0, *z = NAN;
    double tr[4] = {track[0], track[1], track[2], track[3]};
    sso_track_phot ph;
    /* the images as the differences: dvar == var, so no template anywhere */
    sso_status st = sso_track_refine(var, mask, img, var, mask, n_epochs, w, h, t_h, exptime_h,
                                     psf, step_px, rounds, tr, &ph);
    if (st || !isfinite(ph.flux_e))
        return st;
    if ((st = sso_track_static_z(img, var, mask, n_epochs, w, h, t_h, exptime_h, tr, ph.flux_e, psf,
                                 K, half, z)))
        return st;
    if (*z < fmax(z_max, SSO_PHOT_STATIC_FRAC * ph.snr)) {
        memcpy(track, tr, sizeof tr);
        *out = ph, *taken = 1;
    }
    return SSO_OK;
}
