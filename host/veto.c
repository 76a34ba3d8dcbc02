/* host/veto.c: the streak-side veto of a slow candidate's epochs (see host/veto.h for the test and
 * why). Bilinear samples of the point psi/phi maps on two rays from the candidate, per direction;
 * the sums are the trail likelihood of the streak's extension, so S is in the maps' calibrated
 * sigma. Cost: n_angles x 2 x n_steps bilinear samples per epoch of a candidate. Also two
 * geometric tests of fast candidates' trails: along a mask (sso_trail_hugs_mask) and the share of
 * another trail near one (sso_trail_share).
 */
#include "host/veto.h"

#include "host/fast_math.h"

#include <math.h>
#include <stddef.h>

#define PI 3.14159265358979323846

void sso_veto_params_default(sso_veto_params *p)
{
    p->n_angles = 12;  /* 15 deg: a streak's point-map ridge is ~1.6 px wide, the rays <= 14 px long */
    p->n_steps = 4;
    p->step_px = 2.0;  /* ~1.25 FWHM: neighbouring samples ~10% correlated */
    p->gap_px = 3.0;   /* the 7x7 matched filter's half width: the own PSF's psi is < 1% there */
    p->z_abs = 5.0;
    p->side_extra = 2.0; /* one side alone: a point neighbour 5-7 px away at SNR 8 reached S ~5 */
    p->frac = 0.6;     /* bright movers: S up to ~0.55 of their SNR at a detector edge (host/veto.h) */
    p->snr0 = 10.0;    /* ... above this SNR; a streak gives S ~ 2.8 x its point SNR */
}

int sso_psiphi_at(const float *psi, const float *phi, int w, int h, double x, double y, double *ps,
                  double *ph)
{
    const int x0 = (int)floor(x), y0 = (int)floor(y);
    if (x0 < 0 || y0 < 0 || x0 + 1 >= w || y0 + 1 >= h)
        return 0;
    const double fx = x - x0, fy = y - y0;
    double sp = 0.0, sf = 0.0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            const size_t q = (size_t)(y0 + j) * (size_t)w + (size_t)(x0 + i);
            if (!(phi[q] > 0.0f) || !isfinite(psi[q]))
                return 0;
            const double wgt = (i ? fx : 1.0 - fx) * (j ? fy : 1.0 - fy);
            sp += wgt * psi[q];
            sf += wgt * phi[q];
        }
    *ps = sp, *ph = sf;
    return 1;
}

double sso_veto_side_snr(const float *psi, const float *phi, int w, int h, double x, double y,
                         double own_len_px, double own_angle_rad, const sso_veto_params *p,
                         double *angle_rad)
{
    double best = -INFINITY, best_a = 0.0;
    if (!psi || !phi || !p || p->n_angles < 1 || p->n_steps < 1 || !(p->step_px > 0.0))
        return best;
    const double half = own_len_px > 0.0 ? 0.5 * own_len_px : 0.0;
    for (int a = 0; a < p->n_angles; a++) {
        const double th = PI * a / p->n_angles;
        const double c = cos(th), s = sin(th);
        const double d0 = half * fabs(cos(th - own_angle_rad)) + p->gap_px;
        double sp[2] = {0.0, 0.0}, sf[2] = {0.0, 0.0};
        for (int side = 0; side < 2; side++) {
            const double sg = side ? -1.0 : 1.0;
            for (int k = 0; k < p->n_steps; k++) {
                const double d = d0 + k * p->step_px;
                double ps, ph;
                if (sso_psiphi_at(psi, phi, w, h, x + sg * d * c, y + sg * d * s, &ps, &ph))
                    sp[side] += ps, sf[side] += ph;
            }
        }
        const double cand[3] = {
            sf[0] > 0.0 ? sp[0] / sqrt(sf[0]) - p->side_extra : -INFINITY,
            sf[1] > 0.0 ? sp[1] / sqrt(sf[1]) - p->side_extra : -INFINITY,
            sf[0] > 0.0 && sf[1] > 0.0 ? (sp[0] + sp[1]) / sqrt(sf[0] + sf[1]) : -INFINITY,
        };
        for (int i = 0; i < 3; i++)
            if (cand[i] > best)
                best = cand[i], best_a = th;
    }
    if (angle_rad)
        *angle_rad = best_a;
    return best;
}

int sso_veto_epoch(const float *psi, const float *phi, int w, int h, double x, double y,
                   double own_len_px, double own_angle_rad, double snr_e, const sso_veto_params *p)
{
    const double s = sso_veto_side_snr(psi, phi, w, h, x, y, own_len_px, own_angle_rad, p, NULL);
    return s > p->z_abs + p->frac * (snr_e > p->snr0 ? snr_e - p->snr0 : 0.0);
}

int sso_trail_hugs_mask(const unsigned char *m, int w, int h, double x, double y, double len_px,
                        double angle_rad, int r_px, int min_px, double min_frac)
{
    if (r_px < 1 || r_px > SSO_HUG_MAX_R)
        return 0;
    const double ux = cos(angle_rad), uy = sin(angle_rad);
    const int ns = (int)floor(len_px) + 1;
    int n_at[2 * SSO_HUG_MAX_R + 1] = {0}; /* samples masked at offset d or d + 1 (d = -r .. r-1) */
    for (int i = 0; i < ns; i++) {
        const double s = ns > 1 ? len_px * ((double)i / (ns - 1) - 0.5) : 0.0;
        const double px = x + s * ux, py = y + s * uy;
        int hit[2 * SSO_HUG_MAX_R + 2] = {0};
        for (int d = -r_px; d <= r_px; d++) {
            const long u = lround(px - d * uy), v = lround(py + d * ux);
            hit[d + r_px] = u >= 0 && u < w && v >= 0 && v < h && m[(size_t)v * (size_t)w + (size_t)u] == 1;
        }
        for (int d = 0; d < 2 * r_px; d++)
            n_at[d] += hit[d] || hit[d + 1];
    }
    int best = 0;
    for (int d = 0; d < 2 * r_px; d++)
        best = n_at[d] > best ? n_at[d] : best;
    return best >= min_px && best >= min_frac * ns;
}

double sso_trail_share(double xa, double ya, double la_px, double tha_rad, double xb, double yb,
                       double lb_px, double thb_rad, double r_px)
{
    const double ua = cos(tha_rad), va = sin(tha_rad), ub = cos(thb_rad), vb = sin(thb_rad);
    const int n = !(la_px >= 1.0) ? 1 : (int)fmin(ceil(la_px) + 1.0, 4001.0);
    int on = 0;
    for (int i = 0; i < n; i++) {
        const double f = n > 1 ? (i / (n - 1.0) - 0.5) * la_px : 0.0;
        on += sso_fast_seg_dist(xa + f * ua, ya + f * va, xb, yb, 0.5 * lb_px, ub, vb) <= r_px;
    }
    return (double)on / n;
}
