/* sim/render.c: rendering one CCD in one exposure (see render.h for the model, step by step).
 *
 * Buffers: the job's RMS plane first holds the noiseless model [e-] (sky, sources, movers,
 * defects); the SCI plane receives the Poisson realisation, then cosmic rays, bleeding and read
 * noise, and is finally scaled to ADU; the model is then turned into the RMS plane in place. The
 * workspace holds the padded galaxy layer, a galaxy stamp, FFT tiles, a cosmic-ray hit mask and a
 * column scratch, grown on demand and reused from job to job.
 *
 * Random streams (sim/rng.h), each from (master seed, tag, epoch, CCD): NOIS (Poisson and read
 * noise) and COSM (cosmic rays) per CCD-epoch; DEFE (defects) per CCD only, so hot pixels and bad
 * columns sit on the same pixels in all four exposures.
 */
#include "sim/render.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sim/rng.h"
#include "sim/sky.h"
#include "sso/flags.h"

enum {
    TAG_NOISE = 0x4E4F4953,  /* "NOIS" */
    TAG_COSMIC = 0x434F534D, /* "COSM" */
    TAG_DEFECT = 0x44454645  /* "DEFE" */
};

#define CR_PIXEL_FRACTION 0.014  /* pixels hit per 566 s at L2 (EUCLID.md) */
#define CR_MEAN_LENGTH_PX 43.0   /* mean track length (EUCLID.md) */
#define CR_FLAGGED_FRACTION 0.85 /* tracks the "pipeline" flags */
#define CR_HIT_MIN_E 10.0        /* a pixel counts as hit from this deposit (~1 sigma of sky) */
#define HOT_PER_PX 1e-4
#define COLD_PER_PX 2e-5
#define BADCOL_PER_CCD 1.5
#define GAL_MAX_STAMP_R 150
#define SOURCE_MARGIN_PX 180     /* sources this far off the CCD may still touch it (galaxy
                                   stamp 150 px + kernel 24 px; the star stamp is 64 px) */

void sso_sim_mover_at(const sso_sim_mover *m, double mjd, double *ra_deg, double *dec_deg)
{
    double dist_deg = m->rate_arcsec_h * (mjd - m->t_ref_mjd) * 24.0 / 3600.0;
    sso_sky_offset(m->ra_ref_deg, m->dec_ref_deg, m->pa_deg, dist_deg, ra_deg, dec_deg);
}

/* ---- FFT convolution ------------------------------------------------------------------------- */

struct sso_sim_conv {
    int n;            /* FFT tile size */
    int kh;           /* kernel half size */
    int t;            /* valid output per tile: n - 2 kh */
    fftwf_plan fwd, inv;
    fftwf_complex *kspec; /* kernel spectrum, scaled by 1 / n^2 */
};

sso_status sso_sim_conv_create(const sso_sim_psf *psf, int kernel_half_px, int tile_n,
                               sso_sim_conv **out)
{
    sso_status rc = SSO_OK;
    sso_sim_conv *c = NULL;
    float *in = NULL, *k = NULL;
    fftwf_complex *sp = NULL;
    *out = NULL;
    if (kernel_half_px < 1 || tile_n < 4 * kernel_half_px || tile_n % 2)
        return sso_fail(SSO_ERR_ARG, "convolution: tile %d too small for kernel half %d", tile_n,
                        kernel_half_px);
    int n = tile_n, kh = kernel_half_px, kw = 2 * kh + 1;
    size_t nc = (size_t)n * (n / 2 + 1);
    c = calloc(1, sizeof *c);
    in = fftwf_malloc(sizeof(float) * (size_t)n * n);
    sp = fftwf_malloc(sizeof(fftwf_complex) * nc);
    k = malloc(sizeof(float) * (size_t)kw * kw);
    if (!c || !in || !sp || !k) {
        rc = sso_fail(SSO_ERR_NOMEM, "convolution: buffers for %d x %d tiles", n, n);
        goto exit;
    }
    c->n = n;
    c->kh = kh;
    c->t = n - 2 * kh;
    c->kspec = fftwf_malloc(sizeof(fftwf_complex) * nc);
    if (!c->kspec) {
        rc = sso_fail(SSO_ERR_NOMEM, "convolution: kernel spectrum");
        goto exit;
    }
    sso_sim_fftw_plan_lock();
    c->fwd = fftwf_plan_dft_r2c_2d(n, n, in, sp, FFTW_ESTIMATE);
    c->inv = fftwf_plan_dft_c2r_2d(n, n, sp, in, FFTW_ESTIMATE);
    sso_sim_fftw_plan_unlock();
    if (!c->fwd || !c->inv) {
        rc = sso_fail(SSO_ERR_FFT, "convolution: FFTW could not plan %d x %d transforms", n, n);
        goto exit;
    }
    rc = sso_sim_psf_kernel(psf, kh, k);
    if (rc)
        goto exit;
    memset(in, 0, sizeof(float) * (size_t)n * n);
    for (int dy = -kh; dy <= kh; dy++)
        for (int dx = -kh; dx <= kh; dx++)
            in[(size_t)((dy + n) % n) * n + (size_t)((dx + n) % n)] = k[(dy + kh) * kw + dx + kh];
    fftwf_execute_dft_r2c(c->fwd, in, c->kspec);
    float sc = 1.0f / ((float)n * (float)n);
    for (size_t i = 0; i < nc; i++) {
        c->kspec[i][0] *= sc;
        c->kspec[i][1] *= sc;
    }
    *out = c;
    c = NULL;
exit:
    sso_sim_conv_free(c);
    if (in)
        fftwf_free(in);
    if (sp)
        fftwf_free(sp);
    free(k);
    return rc;
}

void sso_sim_conv_free(sso_sim_conv *c)
{
    if (!c)
        return;
    sso_sim_fftw_plan_lock();
    if (c->fwd)
        fftwf_destroy_plan(c->fwd);
    if (c->inv)
        fftwf_destroy_plan(c->inv);
    sso_sim_fftw_plan_unlock();
    if (c->kspec)
        fftwf_free(c->kspec);
    free(c);
}

/* ---- workspace ------------------------------------------------------------------------------- */

struct sso_sim_workspace {
    float *tile;           /* n x n, fftwf_malloc */
    fftwf_complex *spec;   /* n x (n/2 + 1), fftwf_malloc */
    float *gal;            /* padded galaxy layer */
    size_t gal_cap;
    double *stamp;         /* one galaxy */
    size_t stamp_cap;
    uint8_t *hit;          /* cosmic-ray hit mask */
    size_t hit_cap;
    uint8_t *colflag;      /* columns with saturated pixels */
    size_t colflag_cap;
    double *col;           /* one column's excess charge */
    size_t col_cap;
};

sso_status sso_sim_workspace_create(const sso_sim_scene *scene, sso_sim_workspace **out)
{
    *out = NULL;
    sso_sim_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return sso_fail(SSO_ERR_NOMEM, "render: workspace");
    if (scene->conv) {
        int n = scene->conv->n;
        ws->tile = fftwf_malloc(sizeof(float) * (size_t)n * n);
        ws->spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)n * (n / 2 + 1));
        if (!ws->tile || !ws->spec) {
            sso_sim_workspace_free(ws);
            return sso_fail(SSO_ERR_NOMEM, "render: FFT tiles");
        }
    }
    *out = ws;
    return SSO_OK;
}

void sso_sim_workspace_free(sso_sim_workspace *ws)
{
    if (!ws)
        return;
    if (ws->tile)
        fftwf_free(ws->tile);
    if (ws->spec)
        fftwf_free(ws->spec);
    free(ws->gal);
    free(ws->stamp);
    free(ws->hit);
    free(ws->colflag);
    free(ws->col);
    free(ws);
}

/* Grows *buf to at least n elements of size sz. */
static int grow(void **buf, size_t *cap, size_t n, size_t sz)
{
    if (*cap >= n)
        return 0;
    void *p = realloc(*buf, n * sz);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static double flux_of(const sso_sim_scene *s, double mag)
{
    return pow(10.0, -0.4 * (mag - s->zp_e)) * s->exptime_s;
}

/* Sky + dark [e-] at 0-based pixel (x, y) of the job's CCD. */
static double sky_at(const sso_sim_scene *s, const sso_sim_job *j, double x, double y)
{
    double u = j->uc_deg + (x + 1.0 - 0.5 * (j->w + 1)) * j->pix_deg;
    double v = j->vc_deg + (y + 1.0 - 0.5 * (j->h + 1)) * j->pix_deg;
    double sky = s->sky_e_per_s_px * s->exptime_s * j->sky_factor *
                 (1.0 + s->sky_grad_u * u + s->sky_grad_v * v);
    return sky + s->dark_e_per_s_px * s->exptime_s;
}

/* Convolves the padded galaxy layer (pw x ph, the CCD plus kh on each side) with the ePSF and adds
 * the result to model (w x h). */
static void convolve_add(const sso_sim_conv *c, sso_sim_workspace *ws, const float *gal, int pw,
                         int ph, float *model, int w, int h)
{
    int n = c->n, t = c->t, kh = c->kh;
    size_t nc = (size_t)n * (n / 2 + 1);
    for (int ty = 0; ty < h; ty += t)
        for (int tx = 0; tx < w; tx += t) {
            /* Input block: padded rows ty .. ty + n - 1, columns tx .. tx + n - 1. */
            int any = 0;
            for (int j = 0; j < n; j++) {
                float *dst = ws->tile + (size_t)j * n;
                int py = ty + j;
                if (py >= ph) {
                    memset(dst, 0, sizeof(float) * n);
                    continue;
                }
                int ncol = pw - tx < n ? pw - tx : n;
                const float *src = gal + (size_t)py * pw + tx;
                memcpy(dst, src, sizeof(float) * ncol);
                if (ncol < n)
                    memset(dst + ncol, 0, sizeof(float) * (n - ncol));
                if (!any)
                    for (int i = 0; i < ncol; i++)
                        if (src[i] != 0.0f) {
                            any = 1;
                            break;
                        }
            }
            if (!any)
                continue;
            fftwf_execute_dft_r2c(c->fwd, ws->tile, ws->spec);
            for (size_t i = 0; i < nc; i++) {
                float re = ws->spec[i][0], im = ws->spec[i][1];
                float kr = c->kspec[i][0], ki = c->kspec[i][1];
                ws->spec[i][0] = re * kr - im * ki;
                ws->spec[i][1] = re * ki + im * kr;
            }
            fftwf_execute_dft_c2r(c->inv, ws->spec, ws->tile);
            for (int j = 0; j < t && ty + j < h; j++) {
                const float *src = ws->tile + (size_t)(j + kh) * n + kh;
                float *dst = model + (size_t)(ty + j) * w + tx;
                int ni = t < w - tx ? t : w - tx;
                for (int i = 0; i < ni; i++)
                    dst[i] += src[i];
            }
        }
}

static double sersic_bn(double n)
{
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n);
}

/* Renders one galaxy's pixel-integrated light (total flux_e) into the padded layer, centred at
 * padded 0-based (gx, gy). */
static int render_galaxy(sso_sim_workspace *ws, float *gal, int pw, int ph, double gx, double gy,
                         double flux_e, double re_px, double n, double q, double alpha)
{
    int R = (int)ceil((n > 2.0 ? 8.0 : 5.0) * re_px);
    if (R < 3)
        R = 3;
    if (R > GAL_MAX_STAMP_R)
        R = GAL_MAX_STAMP_R;
    int cx = (int)floor(gx + 0.5), cy = (int)floor(gy + 0.5);
    if (cx + R < 0 || cx - R >= pw || cy + R < 0 || cy - R >= ph)
        return 0;
    int sw = 2 * R + 1;
    if (grow((void **)&ws->stamp, &ws->stamp_cap, (size_t)sw * sw, sizeof(double)))
        return -1;
    double bn = sersic_bn(n), ca = cos(alpha), sa = sin(alpha), iq = 1.0 / q, ire = 1.0 / re_px;
    double tot = 0.0;
    for (int j = 0; j < sw; j++)
        for (int i = 0; i < sw; i++) {
            double dx = (cx - R + i) - gx, dy = (cy - R + j) - gy;
            double d = sqrt(dx * dx + dy * dy);
            int ns = d < 2.5 ? (n > 2.0 ? 9 : 5) : (d < 6.0 ? 3 : 1);
            double acc = 0.0;
            for (int b = 0; b < ns; b++)
                for (int a = 0; a < ns; a++) {
                    double sx = dx + ((a + 0.5) / ns - 0.5), sy = dy + ((b + 0.5) / ns - 0.5);
                    double ma = sx * ca + sy * sa, mi = (-sx * sa + sy * ca) * iq;
                    double rr = sqrt(ma * ma + mi * mi) * ire;
                    double f = n == 1.0 ? rr : (n == 4.0 ? sqrt(sqrt(rr)) : pow(rr, 1.0 / n));
                    acc += exp(-bn * f);
                }
            acc /= (double)(ns * ns);
            ws->stamp[(size_t)j * sw + i] = acc;
            tot += acc;
        }
    if (!(tot > 0.0))
        return 0;
    double sc = flux_e / tot;
    for (int j = 0; j < sw; j++) {
        int py = cy - R + j;
        if (py < 0 || py >= ph)
            continue;
        for (int i = 0; i < sw; i++) {
            int px = cx - R + i;
            if (px < 0 || px >= pw)
                continue;
            gal[(size_t)py * pw + px] += (float)(ws->stamp[(size_t)j * sw + i] * sc);
        }
    }
    return 0;
}

/* The sky box (RA relative to ra_ref, Dec) of the CCD grown by margin px. */
static sso_status ccd_sky_box(const sso_sim_job *j, double ra_ref, double margin, double box[4])
{
    enum { NE = 8, NP = 4 * NE };
    double x[NP], y[NP], ra[NP], dec[NP];
    double x0 = 0.5 - margin, x1 = j->w + 0.5 + margin, y0 = 0.5 - margin, y1 = j->h + 0.5 + margin;
    for (int k = 0; k < NE; k++) {
        double f = (double)k / NE;
        x[k] = x0 + f * (x1 - x0);            y[k] = y0;
        x[NE + k] = x1;                       y[NE + k] = y0 + f * (y1 - y0);
        x[2 * NE + k] = x1 - f * (x1 - x0);   y[2 * NE + k] = y1;
        x[3 * NE + k] = x0;                   y[3 * NE + k] = y1 - f * (y1 - y0);
    }
    sso_status rc = sso_wcs_pix2sky(j->wcs, NP, x, y, ra, dec);
    if (rc)
        return rc;
    box[0] = box[2] = 1e30;
    box[1] = box[3] = -1e30;
    for (int k = 0; k < NP; k++) {
        if (!isfinite(ra[k]) || !isfinite(dec[k]))
            return sso_fail(SSO_ERR_INTERNAL, "render: CCD corner does not convert to the sky");
        double d = sso_sky_dra(ra[k], ra_ref);
        box[0] = fmin(box[0], d);
        box[1] = fmax(box[1], d);
        box[2] = fmin(box[2], dec[k]);
        box[3] = fmax(box[3], dec[k]);
    }
    double pad = 2.0 / 3600.0;
    double cosd = cos(0.5 * (box[2] + box[3]) * SSO_DEG2RAD);
    box[0] -= pad / cosd;
    box[1] += pad / cosd;
    box[2] -= pad;
    box[3] += pad;
    return SSO_OK;
}

/* Static sources: stars straight into the model, galaxies into the padded layer then convolved. */
static sso_status render_static(const sso_sim_scene *s, sso_sim_job *j, sso_sim_workspace *ws,
                                float *model)
{
    sso_status rc = SSO_OK;
    size_t *idx = NULL, n = 0;
    double *ra = NULL, *dec = NULL, *px = NULL, *py = NULL;
    const sso_sim_catalog *cat = s->cat;
    if (!cat || cat->n == 0 || (!s->stars && !s->galaxies))
        return SSO_OK;
    double box[4];
    rc = ccd_sky_box(j, cat->ra_ref_deg, SOURCE_MARGIN_PX, box);
    if (rc)
        return rc;
    rc = sso_sim_catalog_select(cat, box[0], box[1], box[2], box[3], &idx, &n);
    if (rc || n == 0)
        goto exit;
    ra = malloc(n * sizeof *ra);
    dec = malloc(n * sizeof *dec);
    px = malloc(n * sizeof *px);
    py = malloc(n * sizeof *py);
    if (!ra || !dec || !px || !py) {
        rc = sso_fail(SSO_ERR_NOMEM, "render: %zu sources", n);
        goto exit;
    }
    for (size_t k = 0; k < n; k++) {
        ra[k] = cat->src[idx[k]].ra_deg;
        dec[k] = cat->src[idx[k]].dec_deg;
    }
    rc = sso_wcs_sky2pix(j->wcs, n, ra, dec, px, py);
    if (rc)
        goto exit;

    int w = j->w, h = j->h;
    int kh = s->conv ? s->conv->kh : 0;
    int pw = w + 2 * kh, ph = h + 2 * kh;
    int any_gal = 0;
    if (s->galaxies && s->conv) {
        if (grow((void **)&ws->gal, &ws->gal_cap, (size_t)pw * ph, sizeof(float))) {
            rc = sso_fail(SSO_ERR_NOMEM, "render: galaxy layer %d x %d", pw, ph);
            goto exit;
        }
        memset(ws->gal, 0, sizeof(float) * (size_t)pw * ph);
    }
    double cd_det = j->cd[0][0] * j->cd[1][1] - j->cd[0][1] * j->cd[1][0];
    double pix_arcsec = sqrt(fabs(cd_det)) * 3600.0;
    for (size_t k = 0; k < n; k++) {
        const sso_sim_source *src = &cat->src[idx[k]];
        if (!isfinite(px[k]) || !isfinite(py[k]))
            continue;
        double x0 = px[k] - 1.0, y0 = py[k] - 1.0; /* 0-based */
        if (x0 < -SOURCE_MARGIN_PX || x0 > w - 1 + SOURCE_MARGIN_PX || y0 < -SOURCE_MARGIN_PX ||
            y0 > h - 1 + SOURCE_MARGIN_PX)
            continue;
        int on = px[k] >= 0.5 && px[k] < w + 0.5 && py[k] >= 0.5 && py[k] < h + 0.5;
        double flux = flux_of(s, src->mag);
        if (src->kind == SSO_SIM_STAR) {
            if (!s->stars)
                continue;
            j->stats.stars_on += on;
            int r = s->psf_half_px;
            if (x0 < -r - 1 || x0 > w + r || y0 < -r - 1 || y0 > h + r)
                continue;
            sso_sim_psf_add(s->psf, model, w, h, x0, y0, flux, r, 0.0f);
            continue;
        }
        if (!s->galaxies)
            continue;
        j->stats.galaxies_on += on;
        double re_px = src->re_arcsec / pix_arcsec;
        if (re_px < 0.5 || !s->conv) {
            int r = s->psf_half_px;
            if (x0 < -r - 1 || x0 > w + r || y0 < -r - 1 || y0 > h + r)
                continue;
            sso_sim_psf_add(s->psf, model, w, h, x0, y0, flux, r, 0.0f);
            continue;
        }
        /* Major-axis direction in pixels: CD^-1 (sin pa, cos pa). */
        double pa = src->pa_deg * SSO_DEG2RAD, ex = sin(pa), ny = cos(pa);
        double dxp = (j->cd[1][1] * ex - j->cd[0][1] * ny) / cd_det;
        double dyp = (-j->cd[1][0] * ex + j->cd[0][0] * ny) / cd_det;
        double alpha = atan2(dyp, dxp);
        if (render_galaxy(ws, ws->gal, pw, ph, x0 + kh, y0 + kh, flux, re_px, src->sersic_n,
                          src->q, alpha)) {
            rc = sso_fail(SSO_ERR_NOMEM, "render: galaxy stamp");
            goto exit;
        }
        any_gal = 1;
    }
    if (any_gal)
        convolve_add(s->conv, ws, ws->gal, pw, ph, model, w, h);
exit:
    free(idx);
    free(ra);
    free(dec);
    free(px);
    free(py);
    return rc;
}

static sso_status render_movers(const sso_sim_scene *s, sso_sim_job *j, float *model)
{
    double rl = s->read_noise_e;
    for (int k = 0; k < s->n_movers; k++) {
        const sso_sim_mover *m = &s->movers[k];
        double ra[2], dec[2], x[2], y[2];
        sso_sim_mover_at(m, j->mjd_start, &ra[0], &dec[0]);
        sso_sim_mover_at(m, j->mjd_end, &ra[1], &dec[1]);
        sso_status rc = sso_wcs_sky2pix(j->wcs, 2, ra, dec, x, y);
        if (rc)
            return rc;
        if (!isfinite(x[0]) || !isfinite(y[0]) || !isfinite(x[1]) || !isfinite(y[1]))
            continue;
        double flux = flux_of(s, m->mag);
        int r = s->psf_half_px;
        if (fmax(x[0], x[1]) - 1.0 + r < 0 || fmin(x[0], x[1]) - 1.0 - r > j->w - 1 ||
            fmax(y[0], y[1]) - 1.0 + r < 0 || fmin(y[0], y[1]) - 1.0 - r > j->h - 1)
            continue;
        double xm = 0.5 * (x[0] + x[1]) - 1.0, ym = 0.5 * (y[0] + y[1]) - 1.0;
        double xc = fmin(fmax(xm, 0.0), j->w - 1.0), yc = fmin(fmax(ym, 0.0), j->h - 1.0);
        float bg = (float)(sky_at(s, j, xc, yc) + rl * rl);
        j->snr2[k] += sso_sim_psf_add_trail(s->psf, model, j->w, j->h, x[0] - 1.0, y[0] - 1.0,
                                            x[1] - 1.0, y[1] - 1.0, flux, r, bg);
    }
    return SSO_OK;
}

/* Defects fixed to the CCD: drawn from the CCD's own stream, identical in every exposure. */
static void render_defects(const sso_sim_scene *s, sso_sim_job *j, float *model)
{
    int w = j->w, h = j->h;
    double npx = (double)w * h, t = s->exptime_s;
    sso_rng r;
    sso_rng_init(&r, s->seed, TAG_DEFECT, (uint64_t)j->det, 0);
    long nhot = (long)sso_rng_poisson(&r, HOT_PER_PX * npx);
    for (long k = 0; k < nhot; k++) {
        uint32_t x = sso_rng_below(&r, (uint32_t)w), y = sso_rng_below(&r, (uint32_t)h);
        double rate = exp(log(0.02) + (log(20.0) - log(0.02)) * sso_rng_uniform(&r));
        int flagged = sso_rng_uniform(&r) < 0.95;
        size_t i = (size_t)y * w + x;
        model[i] += (float)(rate * t);
        if (flagged)
            j->flg[i] |= (int32_t)SSO_FLG_HOT;
        else
            j->stats.hot_unflagged++;
    }
    j->stats.hot_pixels = nhot;
    long ncold = (long)sso_rng_poisson(&r, COLD_PER_PX * npx);
    for (long k = 0; k < ncold; k++) {
        uint32_t x = sso_rng_below(&r, (uint32_t)w), y = sso_rng_below(&r, (uint32_t)h);
        double resp = 0.5 * sso_rng_uniform(&r);
        size_t i = (size_t)y * w + x;
        model[i] = (float)(model[i] * resp);
        j->flg[i] |= (int32_t)SSO_FLG_COLD;
    }
    j->stats.cold_pixels = ncold;
    long nbad = (long)sso_rng_poisson(&r, BADCOL_PER_CCD * w / 4096.0);
    for (long k = 0; k < nbad; k++) {
        uint32_t x = sso_rng_below(&r, (uint32_t)w);
        int hot = sso_rng_uniform(&r) < 0.5;
        double level = 0.05 + 0.45 * sso_rng_uniform(&r); /* hot: extra dark [e-/s] */
        double u = sso_rng_uniform(&r);
        int y0 = 0, y1 = h;
        if (u >= 0.3) {
            int ys = (int)sso_rng_below(&r, (uint32_t)h);
            if (u < 0.65)
                y0 = ys;  /* from ys to the top */
            else
                y1 = ys;  /* from the bottom to ys */
        }
        for (int y = y0; y < y1; y++) {
            size_t i = (size_t)y * w + x;
            if (hot)
                model[i] += (float)(level * t);
            else
                model[i] *= 0.05f;
            j->flg[i] |= (int32_t)SSO_FLG_BAD_COLUMN;
        }
    }
    j->stats.bad_columns = nbad;
}

/* Deposits q e- at (x, y): 90% into the pixel containing the point, 2.5% into each of its four
 * neighbours (a little charge diffusion; tracks stay sharper than the 1.6 px PSF). */
static inline void cr_splat(sso_sim_job *j, float *e, uint8_t *hit, long *hits, double x, double y,
                            double q, int flag, int *touched)
{
    int w = j->w, h = j->h;
    int ix = (int)floor(x + 0.5), iy = (int)floor(y + 0.5);
    static const int ox[5] = {0, 1, -1, 0, 0}, oy[5] = {0, 0, 0, 1, -1};
    static const double wt[5] = {0.90, 0.025, 0.025, 0.025, 0.025};
    for (int k = 0; k < 5; k++) {
        int px = ix + ox[k], py = iy + oy[k];
        if (px < 0 || px >= w || py < 0 || py >= h)
            continue;
        size_t i = (size_t)py * w + px;
        double dq = wt[k] * q;
        e[i] += (float)dq;
        *touched = 1;
        if (!hit[i] && dq >= CR_HIT_MIN_E) {
            hit[i] = 1;
            (*hits)++;
        }
        if (flag && k == 0)
            j->flg[i] |= (int32_t)SSO_FLG_COSMIC;
    }
}

static sso_status render_cosmics(const sso_sim_scene *s, sso_sim_job *j, sso_sim_workspace *ws,
                                 float *e)
{
    int w = j->w, h = j->h;
    size_t npx = (size_t)w * h;
    if (grow((void **)&ws->hit, &ws->hit_cap, npx, 1))
        return sso_fail(SSO_ERR_NOMEM, "render: cosmic-ray mask");
    uint8_t *hit = ws->hit;
    memset(hit, 0, npx);
    sso_rng r;
    sso_rng_init(&r, s->seed, TAG_COSMIC, (uint64_t)j->epoch, (uint64_t)j->det);
    double target = CR_PIXEL_FRACTION * (double)npx * s->exptime_s / 566.0;
    long hits = 0, tracks = 0, flagged_tracks = 0;
    const long max_tracks = 10 + (long)(npx / 4);
    for (long n = 0; hits < target && n < max_tracks; n++) {
        double x0 = -20.0 + (w + 40.0) * sso_rng_uniform(&r);
        double y0 = -20.0 + (h + 40.0) * sso_rng_uniform(&r);
        double len = -CR_MEAN_LENGTH_PX * log(sso_rng_uniform_pos(&r));
        double th = 6.283185307179586 * sso_rng_uniform(&r);
        int heavy = sso_rng_uniform(&r) < 0.02;
        double mpv = pow(10.0, 2.3 + 0.6 * sso_rng_uniform(&r)) * (heavy ? 10.0 : 1.0);
        int flag = sso_rng_uniform(&r) < CR_FLAGGED_FRACTION;
        int touched = 0;
        if (len < 1.5) {
            /* Near-normal incidence: a compact spot of one to four pixels. */
            double q = mpv * (2.0 + 3.0 * sso_rng_uniform(&r));
            cr_splat(j, e, hit, &hits, x0, y0, q, flag, &touched);
        } else {
            int nst = (int)ceil(len / 0.5);
            double ds = len / nst, cx = cos(th), sy = sin(th);
            for (int k = 0; k < nst; k++) {
                double t = (k + 0.5) * ds;
                double f = 1.0 + 0.25 * sso_rng_moyal(&r);
                if (f < 0.1)
                    f = 0.1;
                cr_splat(j, e, hit, &hits, x0 + t * cx, y0 + t * sy, mpv * ds * f, flag, &touched);
            }
        }
        if (touched) {
            tracks++;
            flagged_tracks += flag;
        }
    }
    j->stats.cr_tracks = tracks;
    j->stats.cr_tracks_flagged = flagged_tracks;
    j->stats.cr_pixel_fraction = (double)hits / (double)npx;
    return SSO_OK;
}

/* Saturation at full well; the excess flows half up, half down the column. */
static sso_status render_bleed(const sso_sim_scene *s, sso_sim_job *j, sso_sim_workspace *ws,
                               float *e)
{
    int w = j->w, h = j->h;
    const float fw = (float)s->full_well_e;
    if (grow((void **)&ws->colflag, &ws->colflag_cap, (size_t)w, 1) ||
        grow((void **)&ws->col, &ws->col_cap, (size_t)h, sizeof(double)))
        return sso_fail(SSO_ERR_NOMEM, "render: bleed scratch");
    memset(ws->colflag, 0, (size_t)w);
    int anycol = 0;
    for (int y = 0; y < h; y++) {
        const float *row = e + (size_t)y * w;
        for (int x = 0; x < w; x++)
            if (row[x] >= fw) {
                ws->colflag[x] = 1;
                anycol = 1;
            }
    }
    if (!anycol)
        return SSO_OK;
    double *ex = ws->col;
    for (int x = 0; x < w; x++) {
        if (!ws->colflag[x])
            continue;
        for (int y = 0; y < h; y++) {
            float *p = &e[(size_t)y * w + x];
            ex[y] = *p > fw ? (double)*p - fw : 0.0;
            if (*p > fw)
                *p = fw;
        }
        double carry = 0.0;
        for (int y = 0; y < h; y++) {
            float *p = &e[(size_t)y * w + x];
            if (carry > 0.0) {
                double room = fw - *p;
                double take = carry < room ? carry : room;
                if (take > 0.0) {
                    *p = (float)(*p + take);
                    carry -= take;
                }
            }
            carry += 0.5 * ex[y];
        }
        carry = 0.0;
        for (int y = h - 1; y >= 0; y--) {
            float *p = &e[(size_t)y * w + x];
            if (carry > 0.0) {
                double room = fw - *p;
                double take = carry < room ? carry : room;
                if (take > 0.0) {
                    *p = (float)(*p + take);
                    carry -= take;
                }
            }
            carry += 0.5 * ex[y];
        }
        for (int y = 0; y < h; y++) {
            size_t i = (size_t)y * w + x;
            if (e[i] >= fw * 0.999999f) {
                j->flg[i] |= (int32_t)SSO_FLG_SAT;
                j->stats.saturated_px++;
            }
        }
    }
    return SSO_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

sso_status sso_sim_render(const sso_sim_scene *s, sso_sim_job *j, sso_sim_workspace *ws)
{
    sso_status rc = SSO_OK;
    int w = j->w, h = j->h;
    size_t npx = (size_t)w * h;
    float *model = j->rms_adu; /* the model lives in the RMS plane until the end */
    float *e = j->sci_adu;
    memset(&j->stats, 0, sizeof j->stats);
    memset(j->flg, 0, npx * sizeof *j->flg);
    if (s->n_movers > 0)
        memset(j->snr2, 0, (size_t)s->n_movers * sizeof *j->snr2);

    /* 1. sky + dark */
    for (int y = 0; y < h; y++) {
        double a = sky_at(s, j, 0.0, y), b = sky_at(s, j, 1.0, y) - a;
        float *row = model + (size_t)y * w;
        for (int x = 0; x < w; x++)
            row[x] = (float)(a + b * x);
    }
    /* 2-3. static sources */
    rc = render_static(s, j, ws, model);
    if (rc)
        return rc;
    /* 4. movers */
    rc = render_movers(s, j, model);
    if (rc)
        return rc;
    /* 5. defects */
    if (s->defects)
        render_defects(s, j, model);
    /* 6. Poisson */
    sso_rng rn;
    sso_rng_init(&rn, s->seed, TAG_NOISE, (uint64_t)j->epoch, (uint64_t)j->det);
    for (size_t i = 0; i < npx; i++)
        e[i] = (float)sso_rng_poisson(&rn, model[i]);
    /* 7. cosmic rays */
    if (s->cosmics) {
        rc = render_cosmics(s, j, ws, e);
        if (rc)
            return rc;
    }
    /* 8. saturation and bleeding */
    if (s->saturation) {
        rc = render_bleed(s, j, ws, e);
        if (rc)
            return rc;
    }
    /* 9. read noise, ADU; RMS from the model */
    double ig = 1.0 / s->gain_e_per_adu, rn2 = s->read_noise_e * s->read_noise_e;
    for (size_t i = 0; i < npx; i++) {
        e[i] = (float)((e[i] + s->read_noise_e * sso_rng_normal(&rn)) * ig);
        double m = model[i] > 0.0f ? model[i] : 0.0;
        model[i] = (float)(sqrt(m + rn2) * ig);
    }
    /* 10. quadrant edges */
    if (s->defects) {
        int qx = w / 2, qy = h / 2;
        for (int y = 0; y < h; y++) {
            int yedge = y < 2 || y >= h - 2 || (y >= qy - 2 && y < qy + 2);
            int32_t *row = j->flg + (size_t)y * w;
            for (int x = 0; x < w; x++)
                if (yedge || x < 2 || x >= w - 2 || (x >= qx - 2 && x < qx + 2))
                    row[x] |= (int32_t)SSO_FLG_QUADEDGE;
        }
    }
    /* statistics: median of a subsample of unflagged pixels */
    size_t stride = (npx / 200000) | 1, ns = 0, cap = npx / stride + 1; /* <= ~200k samples */
    float *sub = malloc(cap * sizeof *sub);
    if (!sub)
        return sso_fail(SSO_ERR_NOMEM, "render: statistics");
    for (size_t i = 0; i < npx; i += stride)
        if (!j->flg[i])
            sub[ns++] = e[i];
    if (ns > 0) {
        qsort(sub, ns, sizeof *sub, cmp_float);
        j->stats.median_sci_adu = sub[ns / 2];
    } else {
        j->stats.median_sci_adu = NAN;
    }
    free(sub);
    return SSO_OK;
}
