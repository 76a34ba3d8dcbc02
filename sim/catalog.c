/* sim/catalog.c: the static-sky catalogue (see catalog.h for the model and its numbers).
 *
 * Magnitudes are drawn from a piecewise log-linear differential count n(m) (knots below): the
 * segment is chosen by its share of the integral, then the magnitude inside it by inverting the
 * segment's exponential CDF. The number of sources is a Poisson draw around area x integral.
 */
#include "sim/catalog.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sim/rng.h"
#include "sim/sky.h"

#define CAT_NKNOT 3

typedef struct counts_model {
    double m[CAT_NKNOT];      /* knot magnitudes */
    double lg[CAT_NKNOT];     /* log10 of the differential count [per deg^2 per mag] */
} counts_model;

static const counts_model g_stars = {{9.0, 16.0, 28.0}, {0.53, 2.28, 3.60}};
static const counts_model g_galaxies = {{15.0, 21.0, 28.5}, {0.97, 3.67, 6.00}};

static const counts_model *model_of(int kind)
{
    return kind == SSO_SIM_STAR ? &g_stars : &g_galaxies;
}

/* Integral of n(m) over [a, b] inside segment s. */
static double seg_integral(const counts_model *cm, int s, double a, double b)
{
    double ma = cm->m[s], mb = cm->m[s + 1];
    if (a < ma)
        a = ma;
    if (b > mb)
        b = mb;
    if (b <= a)
        return 0.0;
    double slope = (cm->lg[s + 1] - cm->lg[s]) / (mb - ma);
    double la = cm->lg[s] + slope * (a - ma);
    double len = b - a;
    if (fabs(slope) < 1e-12)
        return pow(10.0, la) * len;
    return pow(10.0, la) * (pow(10.0, slope * len) - 1.0) / (slope * 2.302585092994046);
}

double sso_sim_counts_per_deg2(int kind, double m0, double m1)
{
    const counts_model *cm = model_of(kind);
    double t = 0.0;
    for (int s = 0; s < CAT_NKNOT - 1; s++)
        t += seg_integral(cm, s, m0, m1);
    return t;
}

static double draw_mag(const counts_model *cm, sso_rng *r)
{
    double w[CAT_NKNOT - 1], tot = 0.0;
    for (int s = 0; s < CAT_NKNOT - 1; s++) {
        w[s] = seg_integral(cm, s, cm->m[s], cm->m[s + 1]);
        tot += w[s];
    }
    double u = sso_rng_uniform(r) * tot;
    int s = 0;
    while (s < CAT_NKNOT - 2 && u >= w[s]) {
        u -= w[s];
        s++;
    }
    double ma = cm->m[s], len = cm->m[s + 1] - ma;
    double slope = (cm->lg[s + 1] - cm->lg[s]) / len;
    double v = sso_rng_uniform(r);
    if (fabs(slope) < 1e-12)
        return ma + v * len;
    return ma + log10(1.0 + v * (pow(10.0, slope * len) - 1.0)) / slope;
}

static int cmp_source(const void *pa, const void *pb)
{
    const sso_sim_source *a = pa, *b = pb;
    if (a->dec_deg != b->dec_deg)
        return a->dec_deg < b->dec_deg ? -1 : 1;
    if (a->ra_deg != b->ra_deg)
        return a->ra_deg < b->ra_deg ? -1 : 1;
    if (a->mag != b->mag)
        return a->mag < b->mag ? -1 : 1;
    return 0;
}

sso_status sso_sim_catalog_create(uint64_t seed, double ra_ref_deg, double dra_lo_deg,
                                  double dra_hi_deg, double dec_lo_deg, double dec_hi_deg,
                                  int stars, int galaxies, double density_scale,
                                  sso_sim_catalog **out)
{
    sso_status rc = SSO_OK;
    sso_sim_catalog *c = NULL;
    *out = NULL;
    if (!(dra_hi_deg > dra_lo_deg) || !(dec_hi_deg > dec_lo_deg) || dec_lo_deg < -90.0 ||
        dec_hi_deg > 90.0 || !(density_scale >= 0.0))
        return sso_fail(SSO_ERR_ARG, "catalogue: invalid box or density");
    c = calloc(1, sizeof *c);
    if (!c)
        return sso_fail(SSO_ERR_NOMEM, "catalogue: out of memory");
    c->ra_ref_deg = ra_ref_deg;
    c->dra_lo_deg = dra_lo_deg;
    c->dra_hi_deg = dra_hi_deg;
    c->dec_lo_deg = dec_lo_deg;
    c->dec_hi_deg = dec_hi_deg;
    double s0 = sin(dec_lo_deg * SSO_DEG2RAD), s1 = sin(dec_hi_deg * SSO_DEG2RAD);
    c->area_deg2 = (dra_hi_deg - dra_lo_deg) * SSO_DEG2RAD * (s1 - s0) * SSO_RAD2DEG * SSO_RAD2DEG;

    sso_rng r;
    sso_rng_init(&r, seed, 0x43415441ull /* "CATA" */, 0, 0);
    double n_star_exp = stars ? c->area_deg2 * density_scale *
                                    sso_sim_counts_per_deg2(SSO_SIM_STAR, g_stars.m[0],
                                                            g_stars.m[CAT_NKNOT - 1])
                              : 0.0;
    double n_gal_exp = galaxies ? c->area_deg2 * density_scale *
                                      sso_sim_counts_per_deg2(SSO_SIM_GALAXY, g_galaxies.m[0],
                                                              g_galaxies.m[CAT_NKNOT - 1])
                                : 0.0;
    size_t ns = (size_t)sso_rng_poisson(&r, n_star_exp);
    size_t ng = (size_t)sso_rng_poisson(&r, n_gal_exp);
    size_t n = ns + ng;
    if (n > 0) {
        c->src = malloc(n * sizeof *c->src);
        if (!c->src) {
            rc = sso_fail(SSO_ERR_NOMEM, "catalogue: %zu sources", n);
            goto exit;
        }
    }
    for (size_t i = 0; i < n; i++) {
        sso_sim_source *s = &c->src[i];
        memset(s, 0, sizeof *s);
        double dra = dra_lo_deg + (dra_hi_deg - dra_lo_deg) * sso_rng_uniform(&r);
        double sd = s0 + (s1 - s0) * sso_rng_uniform(&r);
        s->ra_deg = fmod(ra_ref_deg + dra + 360.0, 360.0);
        s->dec_deg = asin(sd) * SSO_RAD2DEG;
        if (i < ns) {
            s->kind = SSO_SIM_STAR;
            s->mag = (float)draw_mag(&g_stars, &r);
        } else {
            s->kind = SSO_SIM_GALAXY;
            double m = draw_mag(&g_galaxies, &r);
            s->mag = (float)m;
            double p_sph = m < 21.0 ? 0.30 : 0.15;
            int sph = sso_rng_uniform(&r) < p_sph;
            s->sersic_n = sph ? 4.0f : 1.0f;
            double re_med = 0.30 * pow(10.0, -0.08 * (m - 24.0));
            double re = re_med * pow(10.0, 0.2 * sso_rng_normal(&r));
            if (re > 6.0)
                re = 6.0;
            s->re_arcsec = (float)re;
            s->q = (float)(sph ? 0.45 + 0.55 * sso_rng_uniform(&r) : 0.15 + 0.85 * sso_rng_uniform(&r));
            s->pa_deg = (float)(180.0 * sso_rng_uniform(&r));
        }
    }
    if (n > 1)
        qsort(c->src, n, sizeof *c->src, cmp_source);
    c->n = n;
    c->n_stars = ns;
    c->n_galaxies = ng;
    *out = c;
    c = NULL;
exit:
    sso_sim_catalog_free(c);
    return rc;
}

void sso_sim_catalog_free(sso_sim_catalog *c)
{
    if (!c)
        return;
    free(c->src);
    free(c);
}

sso_status sso_sim_catalog_select(const sso_sim_catalog *c, double dra_lo_deg, double dra_hi_deg,
                                  double dec_lo_deg, double dec_hi_deg, size_t **idx,
                                  size_t *n_out)
{
    *idx = NULL;
    *n_out = 0;
    /* First source with dec >= dec_lo. */
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->src[mid].dec_deg < dec_lo_deg)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t cap = 0, n = 0;
    size_t *v = NULL;
    for (size_t i = lo; i < c->n && c->src[i].dec_deg <= dec_hi_deg; i++) {
        double dra = sso_sky_dra(c->src[i].ra_deg, c->ra_ref_deg);
        if (dra < dra_lo_deg || dra > dra_hi_deg)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 1024;
            size_t *t = realloc(v, nc * sizeof *v);
            if (!t) {
                free(v);
                return sso_fail(SSO_ERR_NOMEM, "catalogue: selection of %zu sources", nc);
            }
            v = t;
            cap = nc;
        }
        v[n++] = i;
    }
    *idx = v;
    *n_out = n;
    return SSO_OK;
}
