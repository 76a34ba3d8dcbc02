/* sim/catalog.h: the static sky of one simulated observation (stars and galaxies).
 *
 * Drawn once per run, from the master seed, over a box in (RA, Dec) that covers every detector of
 * every dither plus a margin; positions are uniform on the sphere inside it (uniform in RA and in
 * sin Dec). Because the catalogue lives on the sky, each exposure renders the same sources through
 * its own WCS: static sources stay fixed on the sky across dithers.
 *
 * Number counts (VIS band, AB, per deg^2 per mag; log10 linear in magnitude between knots):
 *   stars (high Galactic latitude): log10 n = 0.53 at m = 9, 2.28 at 16, 3.60 at 28
 *     (slope 0.25 then 0.11 per mag: ~700 per deg^2 brighter than 18, ~2,400 per deg^2 per mag at
 *     26, ~15,000 per deg^2 to 28);
 *   galaxies: log10 n = 0.97 at m = 15, 3.67 at 21, 6.00 at 28.5 (slopes 0.45 then 0.31 per mag:
 *     ~4e4 per deg^2 per mag at 24, ~5e5 per deg^2 brighter than 27).
 * These follow the shape of deep I-band counts (faint-end slope ~0.3) and star counts near the
 * Galactic poles; they extend below the single-exposure limit (~25.4) so the faintest sources make
 * the unresolved background texture a pipeline meets.
 * Galaxy shapes: Sersic index 1 (discs) or 4 (spheroids, more common among bright galaxies),
 * half-light radius r_e = 0.30" x 10^(-0.08 (m - 24)) with 0.2 dex log-normal scatter (0.9" at 18,
 * 0.3" at 24, 0.17" at 27), axis ratio uniform in [0.15, 1] (discs) or [0.45, 1] (spheroids),
 * position angle uniform.
 *
 * Storage: one array sorted by Dec (then by draw order), so that a detector's sources are found by
 * a binary search on Dec and a test on RA.
 */
#ifndef SSO_SIM_CATALOG_H
#define SSO_SIM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "sso/status.h"

enum { SSO_SIM_STAR = 0, SSO_SIM_GALAXY = 1 };

typedef struct sso_sim_source {
    double ra_deg, dec_deg;
    float mag;              /* AB */
    float re_arcsec;        /* galaxies: half-light radius (semi-major axis) */
    float sersic_n;         /* galaxies: Sersic index */
    float q;                /* galaxies: axis ratio b/a */
    float pa_deg;           /* galaxies: major axis, deg E of N */
    uint32_t kind;          /* SSO_SIM_STAR or SSO_SIM_GALAXY */
} sso_sim_source;

typedef struct sso_sim_catalog {
    sso_sim_source *src;    /* sorted by dec_deg */
    size_t n, n_stars, n_galaxies;
    double ra_ref_deg;      /* RA about which the box is defined */
    double dra_lo_deg, dra_hi_deg, dec_lo_deg, dec_hi_deg; /* the box (RA relative to ra_ref) */
    double area_deg2;
} sso_sim_catalog;

/* Draws the catalogue over the box: RA in ra_ref + [dra_lo, dra_hi], Dec in [dec_lo, dec_hi].
 * density_scale multiplies both counts; stars/galaxies switch each population. */
sso_status sso_sim_catalog_create(uint64_t seed, double ra_ref_deg, double dra_lo_deg,
                                  double dra_hi_deg, double dec_lo_deg, double dec_hi_deg,
                                  int stars, int galaxies, double density_scale,
                                  sso_sim_catalog **out);
void sso_sim_catalog_free(sso_sim_catalog *c);

/* Indices of the sources inside RA in ra_ref + [dra_lo, dra_hi] and Dec in [dec_lo, dec_hi].
 * *idx is malloc'ed (free()); *n_out its length (may be 0 with *idx NULL). */
sso_status sso_sim_catalog_select(const sso_sim_catalog *c, double dra_lo_deg, double dra_hi_deg,
                                  double dec_lo_deg, double dec_hi_deg, size_t **idx,
                                  size_t *n_out);

/* Expected number of sources per deg^2 between magnitudes m0 and m1 (for tests and reports). */
double sso_sim_counts_per_deg2(int kind, double m0, double m1);

#endif
