/* host/veto.h: the streak-side veto of a slow candidate's epochs.
 *
 * Most false slow alerts on the simulated CCDs (session 2, cutouts of the false ones) are points on
 * the long trails of fast movers, and the edges of bright masked trails: a slow trajectory picks up
 * a streak's light in one or two epochs and noise in the others. A point source (or a slow mover's
 * own short trail) has no light beyond its own footprint; a streak through it does, on BOTH sides,
 * along the streak's direction. So for each of n_angles directions theta in [0, pi) the veto sums
 * the point-likelihood maps over sample points on the two sides of the position,
 *
 *   S(theta) = sum psi / sqrt(sum phi)  over  (x, y) +- d (cos theta, sin theta),
 *              d = d0(theta) + k step,  k = 0 .. n_steps-1,
 *   d0(theta) = own_half_len |cos(theta - own_angle)| + gap,
 *
 * which starts beyond the candidate's own trail (its length and direction in this epoch) and the
 * PSF core. On noise S(theta) is ~N(0, 1) (the maps are noise-calibrated; samples step apart are
 * nearly independent); a streak of point-map SNR s at the position gives S ~ s sqrt(2 n_steps) at
 * its angle. The epoch is contaminated when max_theta S > z_abs + frac * max(0, s_e - snr0), s_e
 * the candidate's own SNR in the epoch. Up to s_e = snr0 the threshold is z_abs, so a streak is
 * vetoed down to point SNR ~1.8 (S ~ 2.8 s against 5); above it, the fractional term keeps a
 * bright mover's PSF wings, diffraction spikes and detector-edge residuals from vetoing it.
 * Measured in the pipeline (the e2e test's quartet, SSO_DEBUG_VETO=1): S/s_e is 0.06-0.15 on
 * bright movers on their track, but 0.29 and 0.55 for two bright movers at x = 1-3 px of a
 * detector's edge (the edge leaves a line of residual along it), up to 0.8 on candidates 1-2 px
 * beside a bright mover. A plain z_abs + 0.15 s_e lost those two edge movers; z_abs + 0.6 s_e kept
 * them but let 5 more false alerts through on a ccd-preset seed (7 against 2: points on the trails
 * of 10-15"/h movers with epoch SNR 6-13, where 0.6 s_e is a loose threshold).
 Each side is also tested alone (S over its n_steps points, less
 * side_extra), for a candidate at a streak's end; a neighbouring point source lands on one or two
 * samples of a side: at SNR 8 and 6 px it reaches S ~5 on that side, hence the extra 2 sigma.
 *
 * Host-side, on the candidates only (tens per patch): the same code serves every backend.
 */
#ifndef SSO_HOST_VETO_H
#define SSO_HOST_VETO_H

typedef struct sso_veto_params {
    int n_angles;    /* directions over [0, pi) */
    int n_steps;     /* sample points per side */
    double step_px;  /* spacing of the sample points [px] */
    double gap_px;   /* start beyond the own trail's end [px] (PSF core) */
    double z_abs;    /* threshold on max S [sigma] */
    double frac;     /* plus this fraction of the epoch's own SNR above snr0 */
    double snr0;     /* [sigma] */
    double side_extra; /* a single side's S must exceed the threshold by this much [sigma] */
} sso_veto_params;

void sso_veto_params_default(sso_veto_params *p);

/* psi and phi at a fractional 0-based position (x, y), bilinear between the 4 pixels around it;
 * returns 0 when any of them is off the w x h image, has no data (phi <= 0) or a non-finite psi.
 * Shared with the pipeline's re-measurement of a candidate's track. */
int sso_psiphi_at(const float *psi, const float *phi, int w, int h, double x, double y, double *ps,
                  double *ph);

/* max over theta of S(theta), both sides together and each alone less side_extra, at (x, y) (0-based pixel) of the point maps
 * psi/phi (w x h); own_len_px/own_angle_rad: the candidate's trail in this epoch (0 for a point).
 * Sample points off the image or without data (phi <= 0) are skipped; an angle with no usable
 * sample on either side is skipped. Returns -INFINITY when no angle is usable. *angle_rad (may be
 * NULL) receives the angle of the maximum. */
double sso_veto_side_snr(const float *psi, const float *phi, int w, int h, double x, double y,
                         double own_len_px, double own_angle_rad, const sso_veto_params *p,
                         double *angle_rad);

/* 1 when the epoch is contaminated: sso_veto_side_snr > z_abs + frac * max(snr_e - snr0, 0). */
int sso_veto_epoch(const float *psi, const float *phi, int w, int h, double x, double y,
                   double own_len_px, double own_angle_rad, double snr_e, const sso_veto_params *p);

#define SSO_HUG_MAX_R 8 /* largest r_px of sso_trail_hugs_mask */

/* A mask test on a patch mask m (w x h; code 1 = masked; any other code, e.g. the pipeline's
 * "uncovered", is not), for fast candidates beside flagged cosmic-ray tracks.
 * sso_trail_hugs_mask: 1 when the trail (centre x, y, length len_px, direction angle_rad) runs
 * along a mask at a constant offset: for some offset d across the trail (|d| <= r_px, 1 <= r_px
 * <= SSO_HUG_MAX_R), at >= min_frac of the points 1 px apart on its segment, and at >= min_px of
 * them, the pixel at offset d or d + 1 is masked. The pixels beside a flagged track are a few
 * sigma high (charge diffusion) and a trail template sums them into a streak parallel to the
 * flags, at the same offset all along; a mover's trail that crosses a track, or passes a cluster
 * of cosmic rays, meets masks at offsets that change along it. */
int sso_trail_hugs_mask(const unsigned char *m, int w, int h, double x, double y, double len_px,
                        double angle_rad, int r_px, int min_px, double min_frac);

/* Fraction of trail a (centre xa, ya, length la_px, direction tha_rad; a point source is a trail of
 * length 0) within r_px of trail b's segment (centre, length, direction), sampled at <= 1 px steps
 * along a (at most 4001 points). The pipeline's explaining away of a fast candidate's epoch by a
 * stronger alert: that alert's flux there times this share of its trail is the light it can put
 * into the candidate's trail (host/pipeline.c mark_explained). */
double sso_trail_share(double xa, double ya, double la_px, double tha_rad, double xb, double yb,
                       double lb_px, double thb_rad, double r_px);

#endif
