/* host/veto.c: the streak-side veto of a slow candidate's epochs (see host/veto.h for the test and
 * why). Bilinear samples of the point psi/phi maps on two rays from the candidate, per direction;
 * the sums are the trail likelihood of the streak's extension, so S is in the maps' calibrated
 * sigma. Cost: n_angles x 2 x n_steps bilinear samples per epoch of a candidate.
 */
#include "host/veto.h"

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
