/* host/patch.c: the geometry of sky patches (contract in include/sso/patch.h).
 *
 * Building a plan:
 *   1. tangent point: per exposure the unit-vector mean of its detectors' centres (pixel
 *      ((W+1)/2, (H+1)/2) through the detector WCS), then the unit-vector mean of the exposures;
 *   2. the plane WCS: TAN at the tangent point, CRPIX (1, 1), so plane pixel x <-> u = x - 1;
 *   3. each detector's outline (its pixel-area rectangle [0.5, W+0.5] x [0.5, H+0.5], sampled every
 *      <= 64 px so TPV/SIP curvature of the edges is followed) goes detector pix -> sky -> plane;
 *   4. every patch square (grown by SSO_PATCH_PAD_PX) near the outline's bounding box is tested
 *      exactly against the outline polygon: an edge that clips the square (Liang-Barsky), or else
 *      the square's corner inside the polygon (crossing number). Hits are (ix, iy, e, d) records,
 *      sorted by (iy, ix, e, d) and grouped into patches, each given its own TAN sso_wcs.
 * Data layout: patches[] in (iy, ix) order, each with a malloc'ed inputs[] and an sso_wcs.
 * Invariants: cores tile the plane (owner() and in_core() agree: a plane point is in the core of
 * exactly the patch owner() names); every (e, d) appears under every patch its outline touches.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sso/patch.h"

#define SSO_PATCH_PAD_PX 4.0        /* squares grown by this much before the overlap test */
#define SSO_PATCH_OUTLINE_STEP_PX 64 /* outline sampling step [px] */
#define SSO_DEG (3.14159265358979323846 / 180.0)

typedef struct patch_rec {
    int ix, iy, e, d;
} patch_rec;

typedef struct patch_entry {
    int ix, iy;
    int n_inputs;
    sso_patch_input *inputs;
    sso_wcs *wcs;
} patch_entry;

struct sso_patch_plan {
    sso_patch_config cfg;
    int pitch_px;              /* size_px - 2 * margin_px */
    double ra0_deg, dec0_deg;  /* tangent point */
    sso_wcs *plane;            /* CRPIX (1, 1): x = u + 1 */
    int n;
    patch_entry *patches;
};

void sso_patch_config_default(sso_patch_config *c)
{
    if (!c)
        return;
    c->size_px = SSO_PATCH_SIZE_PX;
    c->margin_px = SSO_PATCH_MARGIN_PX;
    c->scale_arcsec = SSO_PATCH_SCALE_ARCSEC;
}

static void card(char *h, int *k, const char *key, const char *val)
{
    char buf[81];
    snprintf(buf, sizeof buf, "%-8s= %s", key, val);
    size_t len = strlen(buf);
    memset(buf + len, ' ', 80 - len);
    memcpy(h + (size_t)(*k) * 80, buf, 80);
    (*k)++;
}

static void card_num(char *h, int *k, const char *key, double v)
{
    char val[40];
    snprintf(val, sizeof val, "%24.17G", v);
    card(h, k, key, val);
}

sso_status sso_patch_tan_wcs(double crval_ra_deg, double crval_dec_deg, double crpix1,
                             double crpix2, const double cd_deg[4], sso_wcs **out)
{
    if (!out || !cd_deg)
        return sso_fail(SSO_ERR_ARG, "patch TAN WCS: NULL argument");
    *out = NULL;
    char h[16 * 80 + 1];
    int k = 0;
    card(h, &k, "WCSAXES", "                   2");
    card(h, &k, "CTYPE1", "'RA---TAN'");
    card(h, &k, "CTYPE2", "'DEC--TAN'");
    card(h, &k, "CUNIT1", "'deg     '");
    card(h, &k, "CUNIT2", "'deg     '");
    card(h, &k, "RADESYS", "'ICRS    '");
    card_num(h, &k, "CRVAL1", crval_ra_deg);
    card_num(h, &k, "CRVAL2", crval_dec_deg);
    card_num(h, &k, "CRPIX1", crpix1);
    card_num(h, &k, "CRPIX2", crpix2);
    card_num(h, &k, "CD1_1", cd_deg[0]);
    card_num(h, &k, "CD1_2", cd_deg[1]);
    card_num(h, &k, "CD2_1", cd_deg[2]);
    card_num(h, &k, "CD2_2", cd_deg[3]);
    memset(h + (size_t)k * 80, ' ', 80);
    memcpy(h + (size_t)k * 80, "END", 3);
    k++;
    h[(size_t)k * 80] = '\0';
    return sso_wcs_from_header(h, k, "patch TAN WCS", out);
}

void sso_patch_plan_free(sso_patch_plan *p)
{
    if (!p)
        return;
    for (int k = 0; k < p->n; k++) {
        free(p->patches[k].inputs);
        sso_wcs_free(p->patches[k].wcs);
    }
    free(p->patches);
    sso_wcs_free(p->plane);
    free(p);
}

static void radec_to_vec(double ra, double dec, double v[3])
{
    v[0] = cos(dec * SSO_DEG) * cos(ra * SSO_DEG);
    v[1] = cos(dec * SSO_DEG) * sin(ra * SSO_DEG);
    v[2] = sin(dec * SSO_DEG);
}

static int vec_to_radec(const double v[3], double *ra, double *dec)
{
    double r = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (!(r > 1e-12))
        return -1;
    *dec = asin(v[2] / r) / SSO_DEG;
    *ra = atan2(v[1], v[0]) / SSO_DEG;
    if (*ra < 0.0)
        *ra += 360.0;
    return 0;
}

/* Step 1 of the module comment. */
static sso_status tangent_point(const sso_patch_detector *dets, int n, double *ra0, double *dec0)
{
    double tot[3] = {0, 0, 0};
    for (int e = 0; e < SSO_QUARTET_N; e++) {
        double s[3] = {0, 0, 0};
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (dets[i].exposure != e)
                continue;
            double x = (dets[i].width_px + 1) * 0.5, y = (dets[i].height_px + 1) * 0.5, ra, dec;
            sso_status st = sso_wcs_pix2sky(dets[i].wcs, 1, &x, &y, &ra, &dec);
            if (st)
                return st;
            if (!isfinite(ra) || !isfinite(dec))
                return sso_fail(SSO_ERR_WCS, "patch plan: centre of exposure %d detector %d has no "
                                "sky position", e, dets[i].detector);
            double v[3];
            radec_to_vec(ra, dec, v);
            for (int c = 0; c < 3; c++)
                s[c] += v[c];
            m++;
        }
        if (!m)
            continue;
        double r = sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
        if (!(r > 1e-12))
            return sso_fail(SSO_ERR_WCS, "patch plan: exposure %d has no mean pointing", e);
        for (int c = 0; c < 3; c++)
            tot[c] += s[c] / r;
    }
    if (vec_to_radec(tot, ra0, dec0))
        return sso_fail(SSO_ERR_WCS, "patch plan: the exposures have no mean pointing");
    return SSO_OK;
}

/* Whether segment (x0,y0)-(x1,y1) meets rectangle [a,b] x [c,d] (Liang-Barsky clipping). */
static int segment_meets_rect(double x0, double y0, double x1, double y1, double a, double b,
                              double c, double d)
{
    double t0 = 0.0, t1 = 1.0, dx = x1 - x0, dy = y1 - y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {x0 - a, b - x0, y0 - c, d - y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0.0) {
            if (q[i] < 0.0)
                return 0;
        } else {
            double t = q[i] / p[i];
            if (p[i] < 0.0) {
                if (t > t1)
                    return 0;
                if (t > t0)
                    t0 = t;
            } else {
                if (t < t0)
                    return 0;
                if (t < t1)
                    t1 = t;
            }
        }
    }
    return 1;
}

/* Crossing-number test of point (x, y) against the closed polygon u[], v[] of n vertices. */
static int point_in_polygon(const double *u, const double *v, int n, double x, double y)
{
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((v[i] > y) != (v[j] > y) && x < (u[j] - u[i]) * (y - v[i]) / (v[j] - v[i]) + u[i])
            in = !in;
    return in;
}

static int polygon_meets_rect(const double *u, const double *v, int n, double a, double b,
                              double c, double d)
{
    for (int i = 0, j = n - 1; i < n; j = i++)
        if (segment_meets_rect(u[j], v[j], u[i], v[i], a, b, c, d))
            return 1;
    return point_in_polygon(u, v, n, a, c);
}

static int rec_cmp(const void *pa, const void *pb)
{
    const patch_rec *a = pa, *b = pb;
    if (a->iy != b->iy)
        return a->iy < b->iy ? -1 : 1;
    if (a->ix != b->ix)
        return a->ix < b->ix ? -1 : 1;
    if (a->e != b->e)
        return a->e < b->e ? -1 : 1;
    return (a->d > b->d) - (a->d < b->d);
}

/* Lower-left plane corner of patch index i (either axis). */
static double patch_origin(const sso_patch_plan *p, int i)
{
    return (double)i * p->pitch_px - 0.5 * p->pitch_px - p->cfg.margin_px;
}

/* Steps 3-4: appends the hits of detector dt to *recs. */
static sso_status detector_hits(const sso_patch_plan *p, const sso_patch_detector *dt,
                                patch_rec **recs, size_t *n_recs, size_t *cap)
{
    sso_status st = SSO_OK;
    const int W = dt->width_px, H = dt->height_px, s = SSO_PATCH_OUTLINE_STEP_PX;
    const int nx = (W + s - 1) / s, ny = (H + s - 1) / s, n = 2 * (nx + ny);
    double *buf = malloc(sizeof(double) * 6 * (size_t)n);
    if (!buf)
        return sso_fail(SSO_ERR_NOMEM, "patch plan: outline");
    double *x = buf, *y = buf + n, *ra = buf + 2 * n, *dec = buf + 3 * n, *u = buf + 4 * n,
           *v = buf + 5 * n;
    int k = 0; /* counter-clockwise: bottom, right, top, left */
    for (int i = 0; i < nx; i++, k++)
        x[k] = 0.5 + (double)W * i / nx, y[k] = 0.5;
    for (int i = 0; i < ny; i++, k++)
        x[k] = W + 0.5, y[k] = 0.5 + (double)H * i / ny;
    for (int i = 0; i < nx; i++, k++)
        x[k] = W + 0.5 - (double)W * i / nx, y[k] = H + 0.5;
    for (int i = 0; i < ny; i++, k++)
        x[k] = 0.5, y[k] = H + 0.5 - (double)H * i / ny;
    if ((st = sso_wcs_pix2sky(dt->wcs, (size_t)n, x, y, ra, dec)) != SSO_OK ||
        (st = sso_wcs_sky2pix(p->plane, (size_t)n, ra, dec, u, v)) != SSO_OK)
        goto exit;
    double umin = INFINITY, umax = -INFINITY, vmin = INFINITY, vmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        u[i] -= 1.0, v[i] -= 1.0; /* plane pixel -> plane coordinate */
        if (!isfinite(u[i]) || !isfinite(v[i])) {
            st = sso_fail(SSO_ERR_WCS, "patch plan: exposure %d detector %d does not project onto "
                          "the tangent plane", dt->exposure, dt->detector);
            goto exit;
        }
        umin = fmin(umin, u[i]), umax = fmax(umax, u[i]);
        vmin = fmin(vmin, v[i]), vmax = fmax(vmax, v[i]);
    }
    const double P = p->pitch_px, N = p->cfg.size_px, pad = SSO_PATCH_PAD_PX;
    if (umax - umin > 1e7 || vmax - vmin > 1e7) {
        st = sso_fail(SSO_ERR_WCS, "patch plan: exposure %d detector %d spans %.3g px on the plane",
                      dt->exposure, dt->detector, fmax(umax - umin, vmax - vmin));
        goto exit;
    }
    int i0 = (int)floor((umin - pad + 0.5 * P - N + p->cfg.margin_px) / P),
        i1 = (int)floor((umax + pad + 0.5 * P + p->cfg.margin_px) / P);
    int j0 = (int)floor((vmin - pad + 0.5 * P - N + p->cfg.margin_px) / P),
        j1 = (int)floor((vmax + pad + 0.5 * P + p->cfg.margin_px) / P);
    for (int j = j0; j <= j1; j++) {
        for (int i = i0; i <= i1; i++) {
            double a = patch_origin(p, i) - pad, c = patch_origin(p, j) - pad;
            if (!polygon_meets_rect(u, v, n, a, a + N + 2 * pad, c, c + N + 2 * pad))
                continue;
            if (*n_recs == *cap) {
                size_t nc = *cap ? 2 * *cap : 64;
                patch_rec *r = realloc(*recs, nc * sizeof *r);
                if (!r) {
                    st = sso_fail(SSO_ERR_NOMEM, "patch plan: records");
                    goto exit;
                }
                *recs = r, *cap = nc;
            }
            (*recs)[(*n_recs)++] = (patch_rec){i, j, dt->exposure, dt->detector};
        }
    }
exit:
    free(buf);
    return st;
}

/* Groups the sorted records into patches and gives each its WCS. */
static sso_status group_patches(sso_patch_plan *p, const patch_rec *r, size_t n)
{
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += i == 0 || r[i].ix != r[i - 1].ix || r[i].iy != r[i - 1].iy;
    p->patches = calloc(count ? (size_t)count : 1, sizeof *p->patches);
    if (!p->patches)
        return sso_fail(SSO_ERR_NOMEM, "patch plan: patches");
    const double s = p->cfg.scale_arcsec / 3600.0, cd[4] = {-s, 0.0, 0.0, s};
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && r[j].ix == r[i].ix && r[j].iy == r[i].iy)
            j++;
        patch_entry *pe = &p->patches[p->n++];
        pe->ix = r[i].ix, pe->iy = r[i].iy;
        pe->inputs = malloc((j - i) * sizeof *pe->inputs);
        if (!pe->inputs)
            return sso_fail(SSO_ERR_NOMEM, "patch plan: inputs");
        for (size_t k = i; k < j; k++)
            pe->inputs[pe->n_inputs++] = (sso_patch_input){r[k].e, r[k].d};
        /* Pixel p's centre is at u = u0 + p - 0.5; the tangent point (u = 0) at p = 0.5 - u0. */
        sso_status st = sso_patch_tan_wcs(p->ra0_deg, p->dec0_deg, 0.5 - patch_origin(p, pe->ix),
                                          0.5 - patch_origin(p, pe->iy), cd, &pe->wcs);
        if (st)
            return st;
        i = j;
    }
    return SSO_OK;
}

sso_status sso_patch_plan_pointing(const sso_patch_detector *dets, int n_dets, double *ra_deg,
                                   double *dec_deg)
{
    if (!dets || n_dets <= 0 || !ra_deg || !dec_deg)
        return sso_fail(SSO_ERR_ARG, "patch plan: pointing of no detectors");
    for (int i = 0; i < n_dets; i++)
        if (!dets[i].wcs || dets[i].exposure < 0 || dets[i].exposure >= SSO_QUARTET_N)
            return sso_fail(SSO_ERR_ARG, "patch plan: detector entry %d is incomplete", i);
    return tangent_point(dets, n_dets, ra_deg, dec_deg);
}

sso_status sso_patch_plan_create_from(const sso_patch_detector *dets, int n_dets,
                                      const sso_patch_config *cfg, sso_patch_plan **out)
{
    return sso_patch_plan_create_at(dets, n_dets, cfg, NULL, out);
}

sso_status sso_patch_plan_create_at(const sso_patch_detector *dets, int n_dets,
                                    const sso_patch_config *cfg, const double *tangent_deg,
                                    sso_patch_plan **out)
{
    sso_status st = SSO_OK;
    sso_patch_plan *p = NULL;
    patch_rec *recs = NULL;
    size_t n_recs = 0, cap = 0;
    if (!out || (!dets && n_dets))
        return sso_fail(SSO_ERR_ARG, "patch plan: NULL argument");
    *out = NULL;
    if (n_dets <= 0)
        return sso_fail(SSO_ERR_ARG, "patch plan: no detectors");
    sso_patch_config c;
    sso_patch_config_default(&c);
    if (cfg)
        c = *cfg;
    if (c.size_px < 8 || c.margin_px < 0 || 2 * c.margin_px >= c.size_px ||
        ((c.size_px - 2 * c.margin_px) & 1) || !(c.scale_arcsec > 0.0) || c.scale_arcsec > 3600.0)
        return sso_fail(SSO_ERR_ARG, "patch plan: size %d px, margin %d px, scale %g\"/px: need "
                        "size >= 8, 0 <= 2 * margin < size, an even core, scale > 0",
                        c.size_px, c.margin_px, c.scale_arcsec);
    for (int i = 0; i < n_dets; i++)
        if (!dets[i].wcs || dets[i].width_px < 1 || dets[i].height_px < 1 ||
            dets[i].exposure < 0 || dets[i].exposure >= SSO_QUARTET_N)
            return sso_fail(SSO_ERR_ARG, "patch plan: detector entry %d is incomplete", i);
    p = calloc(1, sizeof *p);
    if (!p)
        return sso_fail(SSO_ERR_NOMEM, "patch plan");
    p->cfg = c;
    p->pitch_px = c.size_px - 2 * c.margin_px;
    if (tangent_deg && isfinite(tangent_deg[0]) && isfinite(tangent_deg[1]))
        p->ra0_deg = tangent_deg[0], p->dec0_deg = tangent_deg[1];
    else if ((st = tangent_point(dets, n_dets, &p->ra0_deg, &p->dec0_deg)) != SSO_OK)
        goto exit;
    const double s = c.scale_arcsec / 3600.0, cd[4] = {-s, 0.0, 0.0, s};
    if ((st = sso_patch_tan_wcs(p->ra0_deg, p->dec0_deg, 1.0, 1.0, cd, &p->plane)) != SSO_OK)
        goto exit;
    for (int i = 0; i < n_dets; i++)
        if ((st = detector_hits(p, &dets[i], &recs, &n_recs, &cap)) != SSO_OK)
            goto exit;
    qsort(recs, n_recs, sizeof *recs, rec_cmp);
    if ((st = group_patches(p, recs, n_recs)) != SSO_OK)
        goto exit;
    *out = p;
    p = NULL;
exit:
    free(recs);
    sso_patch_plan_free(p);
    return st;
}

sso_status sso_patch_plan_create(const sso_quartet *q, const sso_patch_config *cfg,
                                 sso_patch_plan **out)
{
    if (!q || !out)
        return sso_fail(SSO_ERR_ARG, "patch plan: NULL argument");
    *out = NULL;
    int n = 0;
    for (int e = 0; e < SSO_QUARTET_N; e++) {
        sso_exposure_info info;
        sso_status st = sso_quartet_exposure(q, e, &info);
        if (st)
            return st;
        n += info.n_detectors;
    }
    sso_patch_detector *d = calloc(n ? (size_t)n : 1, sizeof *d);
    if (!d)
        return sso_fail(SSO_ERR_NOMEM, "patch plan: detector list");
    sso_status st = SSO_OK;
    int k = 0;
    for (int e = 0; e < SSO_QUARTET_N && !st; e++) {
        sso_exposure_info info;
        st = sso_quartet_exposure(q, e, &info);
        for (int i = 0; i < info.n_detectors && !st; i++, k++) {
            d[k].exposure = e, d[k].detector = i;
            d[k].wcs = sso_quartet_detector_wcs(q, e, i);
            st = sso_quartet_detector_size(q, e, i, &d[k].width_px, &d[k].height_px);
        }
    }
    if (!st)
        st = sso_patch_plan_create_from(d, n, cfg, out);
    free(d);
    return st;
}

int sso_patch_plan_count(const sso_patch_plan *p) { return p ? p->n : 0; }

sso_status sso_patch_plan_get(const sso_patch_plan *p, int k, sso_patch_info *out)
{
    if (!p || !out || k < 0 || k >= p->n)
        return sso_fail(SSO_ERR_ARG, "patch plan: no patch %d", k);
    const patch_entry *pe = &p->patches[k];
    out->ix = pe->ix, out->iy = pe->iy;
    out->width_px = out->height_px = p->cfg.size_px;
    out->u0_px = patch_origin(p, pe->ix);
    out->v0_px = patch_origin(p, pe->iy);
    out->n_inputs = pe->n_inputs;
    out->inputs = pe->inputs;
    out->wcs = pe->wcs;
    return SSO_OK;
}

int sso_patch_plan_find(const sso_patch_plan *p, int ix, int iy)
{
    if (!p)
        return -1;
    for (int k = 0; k < p->n; k++)
        if (p->patches[k].ix == ix && p->patches[k].iy == iy)
            return k;
    return -1;
}

void sso_patch_plan_tangent(const sso_patch_plan *p, double *ra_deg, double *dec_deg)
{
    if (ra_deg)
        *ra_deg = p ? p->ra0_deg : NAN;
    if (dec_deg)
        *dec_deg = p ? p->dec0_deg : NAN;
}

void sso_patch_plan_config(const sso_patch_plan *p, sso_patch_config *out)
{
    if (p && out)
        *out = p->cfg;
}

sso_status sso_patch_plan_sky_to_plane(const sso_patch_plan *p, size_t n, const double *ra_deg,
                                       const double *dec_deg, double *u_px, double *v_px)
{
    if (!p)
        return sso_fail(SSO_ERR_ARG, "patch plan: NULL plan");
    sso_status st = sso_wcs_sky2pix(p->plane, n, ra_deg, dec_deg, u_px, v_px);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        u_px[i] -= 1.0, v_px[i] -= 1.0;
    return SSO_OK;
}

void sso_patch_plan_owner(const sso_patch_plan *p, double u_px, double v_px, int *ix, int *iy)
{
    const double P = p->pitch_px;
    *ix = (int)floor((u_px + 0.5 * P) / P);
    *iy = (int)floor((v_px + 0.5 * P) / P);
}

int sso_patch_plan_in_core(const sso_patch_plan *p, int k, double x_px, double y_px)
{
    if (!p || k < 0 || k >= p->n)
        return 0;
    /* Pixel x covers u in [u0 + x - 1, u0 + x); the core is u in [u0 + M, u0 + M + P). */
    const double lo = p->cfg.margin_px + 0.5, hi = lo + p->pitch_px;
    return x_px >= lo && x_px < hi && y_px >= lo && y_px < hi;
}
