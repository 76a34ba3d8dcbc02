/* sim/sim.c: `sso sim`, the Euclid VIS quartet simulator: presets, geometry, threads, files, truth.
 *
 * One run simulates one observation: 4 dithered long VIS exposures of the selected CCDs.
 *   Geometry   dither pointings (0,0), (+18.6", +125"), (+37.2", 0), (+55.8", +125") in
 *              (RA cos Dec, Dec) from the first (EUCLID.md's ~127" steps, as a zig-zag); starts
 *              921 s apart; EXPTIME 566 s. Per CCD and dither the WCS of sim/focal_plane.c.
 *   Scene      a static catalogue over the union of all detectors of all dithers plus a margin
 *              (sim/catalog.c), and n_movers movers in great-circle motion at constant rate (rate
 *              log-uniform, PA and magnitude uniform), each placed at a uniformly drawn pixel of a
 *              uniformly drawn CCD and dither at that dither's mid-exposure, so every mover is on
 *              a detector at least once.
 *   Rendering  one job per CCD-epoch (sim/render.c) on a pool of pthreads; each job draws from its
 *              own seeded streams, so the output does not depend on the thread count.
 *   Files      one per exposure, EUC_VIS_SWL-DET-<obsid:06d>-<dither:02d>-1-0000000__<UTC start>
 *              .fits (dither 01..04): a primary header and, per detector, <det>.SCI (float32 ADU),
 *              <det>.RMS (float32 ADU), <det>.FLG (int32 bits), each with the detector's WCS and
 *              a checksum. Detector order: the CCDs of an exposure in a seeded random order, taken
 *              in chunks of 4 CCDs; all extensions of a chunk are shuffled together (so memory
 *              stays bounded at a few CCDs while extensions still interleave across detectors).
 *              Written by the main thread only, to "<name>.tmp", renamed when complete.
 *   Quadrants  with cfg->quadrants each CCD is rendered whole and written as 4 detectors:
 *              E = x 1..W/2, y 1..H/2; F = x W/2+1..W, y 1..H/2; G = x W/2+1..W, y H/2+1..H;
 *              H = x 1..W/2, y H/2+1..H (counter-clockwise from the origin corner), each with the
 *              CCD's WCS, CRPIX shifted by its offset (the same WCS the pixels were rendered with).
 *   Compress   RICE_1 tile compression (one row per tile). SCI and RMS are quantised with
 *              q = 16 (step = noise / 16, cfitsio's estimate per tile) and subtractive dithering
 *              with a fixed seed per extension (deterministic); FLG is compressed losslessly.
 *   Truth      truth.csv: one row per mover per epoch (see sso/sim.h and issue 2).
 *
 * Instrument numbers (EUCLID.md): gain 3.48 e-/ADU, read noise 4.4 e-, full well 200,000 e-,
 * zero point 25.6 AB for 1 e-/s (MAGZEROP = 25.6 - 2.5 log10(3.48) for 1 ADU/s), sky 22.35 AB
 * mag/arcsec^2 at 0.1"/px (0.20 e-/s/px), dark 0.001 e-/s/px.
 */
#define _POSIX_C_SOURCE 200809L
#include "sso/sim.h"

#include <errno.h>
#include <stdarg.h>
#include <fitsio.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "host/status_internal.h"
#include "sim/catalog.h"
#include "sim/focal_plane.h"
#include "sim/psf.h"
#include "sim/render.h"
#include "sim/rng.h"
#include "sim/sky.h"
#include "sso/flags.h"
#include "sso/wcs.h"

#define SIM_NEXP 4
#define SIM_EXPTIME_S 566.0
#define SIM_DITHER_CADENCE_S 921.0
#define SIM_GAIN 3.48
#define SIM_READ_NOISE_E 4.4
#define SIM_FULL_WELL_E 200000.0
#define SIM_ZP_E 25.6
#define SIM_SKY_MAG_ARCSEC2 22.35
#define SIM_DARK_E_S 0.001
#define SIM_PIXEL_ARCSEC 0.1
#define SIM_CHUNK_CCDS 4
#define SIM_PSF_OVERSAMPLE 4
#define SIM_PSF_HALF_PX 64
#define SIM_KERNEL_HALF_PX 24
#define SIM_FFT_TILE 512
#define SIM_SLOW_FAST_ARCSEC_H 10.0
#define SIM_MJD_UNIX_EPOCH 40587.0

/* Dither offsets from the first pointing [arcsec], (RA cos Dec, Dec). */
static const double g_dither_arcsec[SIM_NEXP][2] = {
    {0.0, 0.0}, {18.6, 125.0}, {37.2, 0.0}, {55.8, 125.0}};

static const char *const g_quad_names[4] = {"E", "F", "G", "H"};
static const int g_quad_ox[4] = {0, 1, 1, 0};
static const int g_quad_oy[4] = {0, 0, 1, 1};

enum {
    TAG_MOVERS = 0x4D4F5645, /* "MOVE" */
    TAG_ORDER = 0x4F524452,  /* "ORDR" */
    TAG_SKY = 0x534B5947     /* "SKYG" */
};

/* ---- presets and configuration --------------------------------------------------------------- */

sso_status sso_sim_preset_from_name(const char *name, sso_sim_preset *out)
{
    if (name && !strcmp(name, "demo"))
        *out = SSO_SIM_PRESET_DEMO;
    else if (name && !strcmp(name, "ccd"))
        *out = SSO_SIM_PRESET_CCD;
    else if (name && !strcmp(name, "field"))
        *out = SSO_SIM_PRESET_FIELD;
    else
        return sso_fail(SSO_ERR_ARG, "unknown preset '%s' (demo, ccd, field)", name ? name : "");
    return SSO_OK;
}

static void set_ccd_list(sso_sim_config *cfg, const char *const *ids, int n)
{
    cfg->n_ccds = n;
    for (int i = 0; i < n; i++)
        snprintf(cfg->ccds[i], sizeof cfg->ccds[i], "%s", ids[i]);
}

sso_status sso_sim_config_set_ccds(sso_sim_config *cfg, const char *spec)
{
    if (!cfg || !spec || !spec[0])
        return sso_fail(SSO_ERR_ARG, "--ccds: empty list");
    int n = 0;
    if (!strcmp(spec, "all") || !strcmp(spec, "6x6") || !strcmp(spec, "2x2") ||
        !strcmp(spec, "4x4")) {
        int k = !strcmp(spec, "2x2") ? 2 : (!strcmp(spec, "4x4") ? 4 : 6);
        int lo = (6 - k) / 2 + 1;
        for (int r = lo; r < lo + k; r++)
            for (int c = lo; c < lo + k; c++)
                snprintf(cfg->ccds[n++], sizeof cfg->ccds[0], "%c-%c", '0' + r, '0' + c);
        cfg->n_ccds = n;
        return SSO_OK;
    }
    const char *p = spec;
    while (*p) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        char id[8];
        if (len == 0 || len >= sizeof id)
            return sso_fail(SSO_ERR_ARG, "--ccds: bad entry in '%s'", spec);
        memcpy(id, p, len);
        id[len] = 0;
        if (sso_fp_ccd_find(id) < 0)
            return sso_fail(SSO_ERR_ARG, "--ccds: unknown CCD '%s' (ids are row-col, 1-1 .. 6-6)",
                            id);
        for (int i = 0; i < n; i++)
            if (!strcmp(cfg->ccds[i], id))
                return sso_fail(SSO_ERR_ARG, "--ccds: CCD %s listed twice", id);
        if (n >= SSO_SIM_MAX_CCDS)
            return sso_fail(SSO_ERR_ARG, "--ccds: more than %d CCDs", SSO_SIM_MAX_CCDS);
        snprintf(cfg->ccds[n++], sizeof cfg->ccds[0], "%s", id);
        p = q ? q + 1 : p + len;
    }
    cfg->n_ccds = n;
    return SSO_OK;
}

sso_status sso_sim_config_preset(sso_sim_config *cfg, sso_sim_preset preset)
{
    if (!cfg)
        return sso_fail(SSO_ERR_ARG, "sso_sim_config_preset: NULL config");
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->width_px = SSO_FP_CCD_W;
    cfg->height_px = SSO_FP_CCD_H;
    cfg->distortion = SSO_SIM_TPV;
    /* A high-latitude field 18 deg from the ecliptic (b ~ +71 deg), where SSOs are plentiful. */
    cfg->ra_deg = 200.0;
    cfg->dec_deg = 10.0;
    cfg->pa_deg = 0.0;
    snprintf(cfg->obs_id, sizeof cfg->obs_id, "002681");
    cfg->mjd_start = 60600.18657092278; /* 2024-10-17T04:28:39.727728 */
    cfg->mag_min = 20.0;
    cfg->mag_max = 27.0;
    cfg->rate_min_arcsec_h = 0.5;
    cfg->rate_max_arcsec_h = 300.0;
    cfg->stars = cfg->galaxies = cfg->cosmics = cfg->defects = cfg->saturation = 1;
    cfg->source_density_scale = 1.0;
    cfg->threads = 0;
    switch (preset) {
    case SSO_SIM_PRESET_NONE:
    case SSO_SIM_PRESET_DEMO: {
        static const char *const ids[] = {"3-3"};
        set_ccd_list(cfg, ids, 1);
        cfg->width_px = 2048;
        cfg->height_px = 2066;
        cfg->n_movers = 20;
        cfg->mag_max = 24.5;
        break;
    }
    case SSO_SIM_PRESET_CCD: {
        static const char *const ids[] = {"3-3", "3-4", "4-3", "4-4"};
        set_ccd_list(cfg, ids, 4);
        cfg->n_movers = 300;
        break;
    }
    case SSO_SIM_PRESET_FIELD: {
        sso_status rc = sso_sim_config_set_ccds(cfg, "all");
        if (rc)
            return rc;
        cfg->n_movers = 1000;
        break;
    }
    default:
        return sso_fail(SSO_ERR_ARG, "unknown preset %d", (int)preset);
    }
    return SSO_OK;
}

static sso_status check_config(const sso_sim_config *c)
{
    if (c->n_ccds < 1 || c->n_ccds > SSO_SIM_MAX_CCDS)
        return sso_fail(SSO_ERR_ARG, "sim: %d CCDs selected (1..%d)", c->n_ccds, SSO_SIM_MAX_CCDS);
    for (int i = 0; i < c->n_ccds; i++) {
        if (sso_fp_ccd_find(c->ccds[i]) < 0)
            return sso_fail(SSO_ERR_ARG, "sim: unknown CCD '%s'", c->ccds[i]);
        for (int k = 0; k < i; k++)
            if (!strcmp(c->ccds[i], c->ccds[k]))
                return sso_fail(SSO_ERR_ARG, "sim: CCD %s selected twice", c->ccds[i]);
    }
    if (c->width_px < 64 || c->width_px > SSO_FP_CCD_W || c->height_px < 64 ||
        c->height_px > SSO_FP_CCD_H)
        return sso_fail(SSO_ERR_ARG, "sim: detector size %dx%d outside 64x64 .. %dx%d",
                        c->width_px, c->height_px, SSO_FP_CCD_W, SSO_FP_CCD_H);
    if (c->quadrants && (c->width_px % 2 || c->height_px % 2))
        return sso_fail(SSO_ERR_ARG, "sim: quadrants need an even detector size (%dx%d)",
                        c->width_px, c->height_px);
    if (c->distortion != SSO_SIM_TPV && c->distortion != SSO_SIM_SIP &&
        c->distortion != SSO_SIM_TAN)
        return sso_fail(SSO_ERR_ARG, "sim: unknown distortion %d", (int)c->distortion);
    if (!(c->ra_deg >= 0.0 && c->ra_deg < 360.0) || !(fabs(c->dec_deg) <= 80.0))
        return sso_fail(SSO_ERR_ARG, "sim: pointing (%g, %g) outside RA 0..360, |Dec| <= 80",
                        c->ra_deg, c->dec_deg);
    if (!isfinite(c->pa_deg))
        return sso_fail(SSO_ERR_ARG, "sim: position angle is not finite");
    size_t nid = strlen(c->obs_id);
    if (nid < 1 || nid > 9 || strspn(c->obs_id, "0123456789") != nid)
        return sso_fail(SSO_ERR_ARG, "sim: OBS_ID '%s' must be 1..9 digits", c->obs_id);
    if (!(c->mjd_start > 40587.0 && c->mjd_start < 100000.0))
        return sso_fail(SSO_ERR_ARG, "sim: start MJD %g out of range", c->mjd_start);
    if (c->n_movers < 0 || c->n_movers > 1000000)
        return sso_fail(SSO_ERR_ARG, "sim: %d movers (0..1000000)", c->n_movers);
    if (!(c->mag_min <= c->mag_max) || !(c->mag_min > 5.0) || !(c->mag_max < 35.0))
        return sso_fail(SSO_ERR_ARG, "sim: magnitude range %g,%g (5 < min <= max < 35)",
                        c->mag_min, c->mag_max);
    if (!(c->rate_min_arcsec_h > 0.0) || !(c->rate_min_arcsec_h <= c->rate_max_arcsec_h) ||
        !(c->rate_max_arcsec_h <= 1e5))
        return sso_fail(SSO_ERR_ARG, "sim: rate range %g,%g (0 < min <= max <= 1e5 arcsec/h)",
                        c->rate_min_arcsec_h, c->rate_max_arcsec_h);
    if (!(c->source_density_scale >= 0.0 && c->source_density_scale <= 100.0))
        return sso_fail(SSO_ERR_ARG, "sim: source density scale %g (0..100)",
                        c->source_density_scale);
    if (c->threads < 0 || c->threads > 1024)
        return sso_fail(SSO_ERR_ARG, "sim: %d threads (0 = all cores)", c->threads);
    return SSO_OK;
}

/* ---- run state ------------------------------------------------------------------------------- */

typedef struct sim_item {
    int epoch, sel;            /* exposure 0..3, index into the selected CCDs */
    sso_sim_job job;
    int done;                  /* rendered (or failed) */
    sso_status st;
    char err[512];
    double seconds;
} sim_item;

typedef struct sim_run {
    const sso_sim_config *cfg;
    int n_ccd;
    int det[SSO_SIM_MAX_CCDS];          /* DET index of each selected CCD */
    int w, h, nq;                       /* CCD size; detectors per CCD (1 or 4) */
    double point_ra[SIM_NEXP], point_dec[SIM_NEXP];
    long long start_us[SIM_NEXP];       /* UTC start, microseconds since 1970 */
    double mjd_start[SIM_NEXP], mjd_end[SIM_NEXP], mjd_mid[SIM_NEXP];
    sso_fp_wcs fpw[SIM_NEXP][SSO_SIM_MAX_CCDS];
    sso_wcs *wcs[SIM_NEXP][SSO_SIM_MAX_CCDS];
    int order[SIM_NEXP][SSO_SIM_MAX_CCDS]; /* file order of the CCDs (selection indices) */
    sso_sim_catalog *cat;
    sso_sim_mover *movers;
    sso_sim_psf *psf;
    sso_sim_conv *conv;
    sso_sim_scene scene;
    double sky_factor[SIM_NEXP];
    double magzerop;
    /* jobs */
    int n_items;
    sim_item *items;                    /* epoch-major, CCDs in file order */
    double *snr2[SIM_NEXP][SSO_SIM_MAX_CCDS]; /* kept per CCD-epoch for the truth table */
    /* threads */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    int next_item, released, ahead, abort;
    sso_sim_workspace **ws;
    int n_threads;
    /* output */
    char paths[SIM_NEXP][4096];
    char tmp_path[4096 + 8];
    int written[SIM_NEXP];
    double write_s, wait_s;             /* main thread: time writing, time waiting for renders */
} sim_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void vlog(const sim_run *r, const char *fmt, ...) SSO_PRINTF(2, 3);
static void vlog(const sim_run *r, const char *fmt, ...)
{
    if (!r->cfg->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sso sim: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* UTC strings of a time in microseconds since 1970: ISO "2024-10-17T04:28:39.727728" and the file
 * name form "20241017T042839.727728Z". */
static void utc_strings(long long us, char iso[64], char compact[64])
{
    time_t sec = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(iso, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    snprintf(compact, 64, "%04d%02d%02dT%02d%02d%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static sso_status make_dir(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return sso_fail(SSO_ERR_ARG, "sim: output path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return sso_fail(SSO_ERR_IO, "sim: cannot create directory %s: %s", buf,
                            strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return sso_fail(SSO_ERR_IO, "sim: cannot create directory %s: %s", buf, strerror(errno));
    struct stat stt;
    if (stat(buf, &stt) || !S_ISDIR(stt.st_mode))
        return sso_fail(SSO_ERR_IO, "sim: %s is not a directory", buf);
    return SSO_OK;
}

/* ---- setup ----------------------------------------------------------------------------------- */

static sso_status setup_geometry(sim_run *r)
{
    const sso_sim_config *c = r->cfg;
    sso_status rc = SSO_OK;
    char *hdr = NULL;
    long long us0 = llround((c->mjd_start - SIM_MJD_UNIX_EPOCH) * 86400.0e6);
    for (int e = 0; e < SIM_NEXP; e++) {
        double xi = g_dither_arcsec[e][0] / 3600.0, eta = g_dither_arcsec[e][1] / 3600.0;
        sso_sky_deproject(c->ra_deg, c->dec_deg, xi, eta, &r->point_ra[e], &r->point_dec[e]);
        r->start_us[e] = us0 + (long long)e * (long long)(SIM_DITHER_CADENCE_S * 1e6);
        r->mjd_start[e] = SIM_MJD_UNIX_EPOCH + (double)r->start_us[e] / 86400.0e6;
        r->mjd_end[e] = r->mjd_start[e] + SIM_EXPTIME_S / 86400.0;
        r->mjd_mid[e] = r->mjd_start[e] + 0.5 * SIM_EXPTIME_S / 86400.0;
        for (int k = 0; k < r->n_ccd; k++) {
            const sso_fp_ccd *ccd = sso_fp_ccd_get(r->det[k]);
            rc = sso_fp_ccd_wcs(ccd, r->point_ra[e], r->point_dec[e], c->pa_deg, c->distortion,
                                r->w, r->h, &r->fpw[e][k]);
            if (rc)
                goto exit;
            int nkeys = 0;
            rc = sso_fp_wcs_header(&r->fpw[e][k], r->w, r->h, &hdr, &nkeys);
            if (rc)
                goto exit;
            char what[64];
            snprintf(what, sizeof what, "simulated CCD %s, dither %d", ccd->id, e + 1);
            rc = sso_wcs_from_header(hdr, nkeys, what, &r->wcs[e][k]);
            free(hdr);
            hdr = NULL;
            if (rc)
                goto exit;
        }
    }
exit:
    free(hdr);
    return rc;
}

/* The sky box covering every CCD of every dither plus margin_px, RA relative to the pointing. */
static sso_status field_box(sim_run *r, double margin_px, double box[4])
{
    enum { NE = 8, NP = 4 * NE };
    box[0] = box[2] = 1e30;
    box[1] = box[3] = -1e30;
    for (int e = 0; e < SIM_NEXP; e++)
        for (int k = 0; k < r->n_ccd; k++) {
            double x[NP], y[NP], ra[NP], dec[NP];
            double x0 = 0.5 - margin_px, x1 = r->w + 0.5 + margin_px;
            double y0 = 0.5 - margin_px, y1 = r->h + 0.5 + margin_px;
            for (int i = 0; i < NE; i++) {
                double f = (double)i / NE;
                x[i] = x0 + f * (x1 - x0);          y[i] = y0;
                x[NE + i] = x1;                     y[NE + i] = y0 + f * (y1 - y0);
                x[2 * NE + i] = x1 - f * (x1 - x0); y[2 * NE + i] = y1;
                x[3 * NE + i] = x0;                 y[3 * NE + i] = y1 - f * (y1 - y0);
            }
            sso_status rc = sso_wcs_pix2sky(r->wcs[e][k], NP, x, y, ra, dec);
            if (rc)
                return rc;
            for (int i = 0; i < NP; i++) {
                if (!isfinite(ra[i]) || !isfinite(dec[i]))
                    return sso_fail(SSO_ERR_INTERNAL, "sim: detector corner off the sky");
                double d = sso_sky_dra(ra[i], r->cfg->ra_deg);
                box[0] = fmin(box[0], d);
                box[1] = fmax(box[1], d);
                box[2] = fmin(box[2], dec[i]);
                box[3] = fmax(box[3], dec[i]);
            }
        }
    return SSO_OK;
}

static sso_status setup_movers(sim_run *r)
{
    const sso_sim_config *c = r->cfg;
    int n = c->n_movers;
    if (n == 0)
        return SSO_OK;
    r->movers = calloc((size_t)n, sizeof *r->movers);
    if (!r->movers)
        return sso_fail(SSO_ERR_NOMEM, "sim: %d movers", n);
    sso_rng g;
    sso_rng_init(&g, c->seed, TAG_MOVERS, 0, 0);
    double lr0 = log(c->rate_min_arcsec_h), lr1 = log(c->rate_max_arcsec_h);
    for (int i = 0; i < n; i++) {
        sso_sim_mover *m = &r->movers[i];
        int e = (int)sso_rng_below(&g, SIM_NEXP);
        int k = (int)sso_rng_below(&g, (uint32_t)r->n_ccd);
        double x = 0.5 + r->w * sso_rng_uniform(&g), y = 0.5 + r->h * sso_rng_uniform(&g);
        m->id = i + 1;
        m->mag = c->mag_min + (c->mag_max - c->mag_min) * sso_rng_uniform(&g);
        m->rate_arcsec_h = exp(lr0 + (lr1 - lr0) * sso_rng_uniform(&g));
        m->pa_deg = 360.0 * sso_rng_uniform(&g);
        m->t_ref_mjd = r->mjd_mid[e];
        sso_status rc = sso_wcs_pix2sky(r->wcs[e][k], 1, &x, &y, &m->ra_ref_deg, &m->dec_ref_deg);
        if (rc)
            return rc;
        if (!isfinite(m->ra_ref_deg))
            return sso_fail(SSO_ERR_INTERNAL, "sim: mover start off the sky");
    }
    return SSO_OK;
}

/* ---- worker threads -------------------------------------------------------------------------- */

static void free_item_buffers(sim_item *it)
{
    free(it->job.sci_adu);
    free(it->job.rms_adu);
    free(it->job.flg);
    it->job.sci_adu = it->job.rms_adu = NULL;
    it->job.flg = NULL;
}

typedef struct worker_arg {
    sim_run *run;
    int index;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    sim_run *r = a->run;
    sso_sim_workspace *ws = r->ws[a->index];
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->abort && r->next_item < r->n_items && r->next_item >= r->released + r->ahead)
            pthread_cond_wait(&r->cv_work, &r->mu);
        if (r->abort || r->next_item >= r->n_items) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        int k = r->next_item++;
        pthread_mutex_unlock(&r->mu);

        sim_item *it = &r->items[k];
        double t0 = now_s();
        size_t npx = (size_t)r->w * r->h;
        sso_status st = SSO_OK;
        it->job.sci_adu = malloc(npx * sizeof(float));
        it->job.rms_adu = malloc(npx * sizeof(float));
        it->job.flg = malloc(npx * sizeof(int32_t));
        if (!it->job.sci_adu || !it->job.rms_adu || !it->job.flg)
            st = sso_fail(SSO_ERR_NOMEM, "sim: buffers for CCD %s", r->cfg->ccds[it->sel]);
        else
            st = sso_sim_render(&r->scene, &it->job, ws);
        pthread_mutex_lock(&r->mu);
        it->st = st;
        if (st) {
            snprintf(it->err, sizeof it->err, "%s", sso_last_error());
            r->abort = 1;
            pthread_cond_broadcast(&r->cv_work);
        }
        it->seconds = now_s() - t0;
        it->done = 1;
        pthread_cond_broadcast(&r->cv_done);
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

/* ---- FITS output ----------------------------------------------------------------------------- */

/* A failed write says how much room its folder's filesystem has left: "error writing to FITS
 * file" alone does not tell a full disk from a broken one. */
static sso_status fits_error(int st, const char *path, const char *ext)
{
    char msg[FLEN_STATUS] = "";
    fits_get_errstatus(st, msg);
    fits_clear_errmsg();
    char room[96] = "";
    if (st == WRITE_ERROR || st == FILE_NOT_CREATED) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else snprintf(dir, sizeof dir, ".");
        struct statvfs vfs;
        if (statvfs(dir[0] ? dir : "/", &vfs) == 0)
            snprintf(room, sizeof room, " (%.0f MiB free on that filesystem)",
                     (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0);
    }
    return sso_fail(SSO_ERR_IO, "file %s%s%s: cfitsio: %s%s", path, ext ? ", extension " : "",
                    ext ? ext : "", msg, room);
}

/* CHECKSUM and DATASUM with fixed comments. fits_write_chksum() puts the wall-clock date into
 * their comments, which would make the files differ from run to run; so the cards are written as
 * placeholders with the header (write_checksum_cards), and once the data are written the values are
 * filled in with cfitsio's own pieces (finish_checksum): DATASUM from fits_get_chksum, then the
 * CHECKSUM string that makes the HDU sum to -0 (fits_encode_chksum, complemented). */
static void write_checksum_cards(fitsfile *f, int *st)
{
    fits_update_key(f, TSTRING, "CHECKSUM", "0000000000000000", "HDU checksum", st);
    fits_update_key(f, TSTRING, "DATASUM", "0", "data unit checksum", st);
}

static void finish_checksum(fitsfile *f, int *st)
{
    unsigned long datasum = 0, hdusum = 0;
    char dstr[32], cstr[32];
    fits_flush_file(f, st); /* completes the heap of a compressed image */
    fits_get_chksum(f, &datasum, &hdusum, st);
    snprintf(dstr, sizeof dstr, "%lu", datasum);
    fits_update_key(f, TSTRING, "DATASUM", dstr, "data unit checksum", st);
    fits_get_chksum(f, &datasum, &hdusum, st);
    fits_encode_chksum(hdusum, 1, cstr);
    fits_update_key(f, TSTRING, "CHECKSUM", cstr, "HDU checksum", st);
}

static void write_primary(sim_run *r, fitsfile *f, int e, int *st)
{
    const sso_sim_config *c = r->cfg;
    char iso[64], compact[64], iso_end[64], tmp[64];
    utc_strings(r->start_us[e], iso, compact);
    utc_strings(r->start_us[e] + (long long)(SIM_EXPTIME_S * 1e6), iso_end, tmp);
    long obs = atol(c->obs_id);
    int dith = e + 1;
    long expnum = obs * 10 + dith;
    double exptime = SIM_EXPTIME_S, mjd_end = r->mjd_end[e];
    double pa = c->pa_deg;
    long long seed = (long long)c->seed;
    int ndet = r->n_ccd * r->nq;
    fits_create_img(f, BYTE_IMG, 0, NULL, st);
    fits_update_key(f, TSTRING, "TELESCOP", "EUCLID", "telescope", st);
    fits_update_key(f, TSTRING, "INSTRUME", "VIS", "instrument", st);
    fits_update_key(f, TSTRING, "FILTER", "VIS", "VIS broad band (550-900 nm)", st);
    fits_update_key(f, TSTRING, "ORIGIN", "sso sim", "simulated by the sso quartet simulator", st);
    fits_update_key(f, TSTRING, "IMAGETYP", "SCIENCE", NULL, st);
    fits_update_key(f, TLONG, "OBS_ID", &obs, "observation identifier", st);
    fits_update_key(f, TINT, "DITHOBS", &dith, "dither number within the observation", st);
    fits_update_key(f, TLONG, "EXPNUM", &expnum, "exposure number", st);
    fits_update_key_dbl(f, "RA", r->point_ra[e], -15, "[deg] pointing of the focal-plane centre", st);
    fits_update_key_dbl(f, "DEC", r->point_dec[e], -15, "[deg] pointing of the focal-plane centre", st);
    fits_update_key_dbl(f, "PA", pa, -15, "[deg] position angle of the focal plane, E of N", st);
    fits_update_key(f, TSTRING, "DATE-OBS", iso, "UTC start of the exposure", st);
    fits_update_key_dbl(f, "MJD-OBS", r->mjd_start[e], -17, "[d] MJD (UTC) start of the exposure", st);
    fits_update_key(f, TSTRING, "DATE-END", iso_end, "UTC end of the exposure", st);
    fits_update_key_dbl(f, "MJD-END", mjd_end, -17, "[d] MJD (UTC) end of the exposure", st);
    fits_update_key_dbl(f, "EXPTIME", exptime, -15, "[s] exposure time", st);
    fits_update_key(f, TSTRING, "TIMESYS", "UTC", NULL, st);
    fits_update_key(f, TINT, "NDET", &ndet, "number of detectors (SCI/RMS/FLG triplets)", st);
    fits_update_key(f, TLONGLONG, "SIMSEED", &seed, "simulator seed", st);
    write_checksum_cards(f, st);
    finish_checksum(f, st);
}

static const char *const g_plane_names[3] = {"SCI", "RMS", "FLG"};

static sso_status write_plane(sim_run *r, fitsfile *f, const sim_item *it, int q, int plane,
                              const char *path)
{
    const sso_sim_config *c = r->cfg;
    int st = 0;
    const sso_fp_ccd *ccd = sso_fp_ccd_get(r->det[it->sel]);
    int e = it->epoch;
    int wq = r->nq == 4 ? r->w / 2 : r->w, hq = r->nq == 4 ? r->h / 2 : r->h;
    int ox = r->nq == 4 ? g_quad_ox[q] * wq : 0, oy = r->nq == 4 ? g_quad_oy[q] * hq : 0;
    char detname[16], extname[24];
    if (r->nq == 4)
        snprintf(detname, sizeof detname, "%s.%s", ccd->id, g_quad_names[q]);
    else
        snprintf(detname, sizeof detname, "%s", ccd->id);
    snprintf(extname, sizeof extname, "%s.%s", detname, g_plane_names[plane]);
    long naxes[2] = {wq, hq};
    int bitpix = plane == 2 ? LONG_IMG : FLOAT_IMG;
    if (c->compress) {
        fits_set_compression_type(f, RICE_1, &st);
        if (plane != 2) {
            fits_set_quantize_level(f, 16.0f, &st);
            fits_set_quantize_method(f, SUBTRACTIVE_DITHER_1, &st);
            /* A fixed dither seed per extension: cfitsio's default seeds from the clock. */
            int dseed = 1 + (int)((e * 1009 + it->sel * 37 + q * 5 + plane) % 10000);
            fits_set_dither_seed(f, dseed, &st);
        }
    } else {
        fits_set_compression_type(f, 0, &st);
    }
    fits_create_img(f, bitpix, 2, naxes, &st);
    fits_update_key(f, TSTRING, "EXTNAME", extname, "detector and plane", &st);
    sso_fp_wcs wq_wcs = r->fpw[e][it->sel];
    sso_fp_wcs_shift(&wq_wcs, ox, oy);
    sso_fp_wcs_write_keys(f, &wq_wcs, &st);
    double gain = SIM_GAIN, rn = SIM_READ_NOISE_E, sat = SIM_FULL_WELL_E / SIM_GAIN;
    double exptime = SIM_EXPTIME_S;
    char iso[64], compact[64];
    utc_strings(r->start_us[e], iso, compact);
    fits_update_key(f, TSTRING, "CCDID", (void *)ccd->id, "CCD row-column", &st);
    if (r->nq == 4)
        fits_update_key(f, TSTRING, "QUADID", (void *)g_quad_names[q], "quadrant of the CCD", &st);
    fits_update_key(f, TINT, "DETID", (void *)&ccd->det, "detector index 0..35", &st);
    fits_update_key_dbl(f, "GAIN", gain, -15, "[e-/ADU]", &st);
    fits_update_key_dbl(f, "RDNOISE", rn, -15, "[e-] read noise", &st);
    fits_update_key_dbl(f, "SATURATE", sat, -15, "[ADU] full well", &st);
    fits_update_key_dbl(f, "MAGZEROP", r->magzerop, -15, "[AB mag] zero point for 1 ADU/s", &st);
    fits_update_key_dbl(f, "EXPTIME", exptime, -15, "[s] exposure time", &st);
    fits_update_key(f, TSTRING, "DATE-OBS", iso, "UTC start of the exposure", &st);
    fits_update_key_dbl(f, "MJD-OBS", r->mjd_start[e], -17, "[d] MJD (UTC) start", &st);
    if (plane == 0)
        fits_update_key(f, TSTRING, "BUNIT", "ADU", "calibrated, sky not subtracted", &st);
    else if (plane == 1)
        fits_update_key(f, TSTRING, "BUNIT", "ADU", "noise of SCI (one sigma)", &st);
    else
        fits_write_comment(f, "FLG bits: 0 INVALID 1 HOT 2 COLD 3 SAT 4 COSMIC 6 QUADEDGE "
                              "7 BAD_COLUMN", &st);
    write_checksum_cards(f, &st);
    if (st)
        return fits_error(st, path, extname);

    size_t n = (size_t)wq * hq;
    void *buf = NULL;
    const void *src;
    size_t esz = plane == 2 ? sizeof(int32_t) : sizeof(float);
    const char *base = plane == 0 ? (const char *)it->job.sci_adu
                     : plane == 1 ? (const char *)it->job.rms_adu
                                  : (const char *)it->job.flg;
    if (r->nq == 4) {
        buf = malloc(n * esz);
        if (!buf)
            return sso_fail(SSO_ERR_NOMEM, "sim: quadrant buffer");
        for (int y = 0; y < hq; y++)
            memcpy((char *)buf + (size_t)y * wq * esz,
                   base + ((size_t)(y + oy) * r->w + ox) * esz, (size_t)wq * esz);
        src = buf;
    } else {
        src = base;
    }
    fits_write_img(f, plane == 2 ? TINT : TFLOAT, 1, (LONGLONG)n, (void *)src, &st);
    finish_checksum(f, &st);
    free(buf);
    if (st)
        return fits_error(st, path, extname);
    return SSO_OK;
}

/* Waits until items [a, b) are rendered; returns the first failure. */
static sso_status wait_items(sim_run *r, int a, int b)
{
    sso_status rc = SSO_OK;
    pthread_mutex_lock(&r->mu);
    for (int k = a; k < b; k++) {
        while (!r->items[k].done && !r->abort)
            pthread_cond_wait(&r->cv_done, &r->mu);
        if (r->abort)
            break;
    }
    if (r->abort) {
        for (int k = 0; k < r->n_items; k++)
            if (r->items[k].done && r->items[k].st) {
                rc = sso_fail(r->items[k].st, "%s", r->items[k].err);
                break;
            }
        if (!rc)
            rc = sso_fail(SSO_ERR_INTERNAL, "sim: rendering aborted");
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void release_items(sim_run *r, int upto)
{
    pthread_mutex_lock(&r->mu);
    r->released = upto;
    pthread_cond_broadcast(&r->cv_work);
    pthread_mutex_unlock(&r->mu);
}

static sso_status write_exposure(sim_run *r, int e, const char *out_dir)
{
    const sso_sim_config *c = r->cfg;
    sso_status rc = SSO_OK;
    fitsfile *f = NULL;
    int st = 0;
    rc = sso_sim_exposure_path(c, out_dir, e + 1, r->paths[e], sizeof r->paths[e]);
    if (rc)
        return rc;
    snprintf(r->tmp_path, sizeof r->tmp_path, "%s.tmp", r->paths[e]);
    unlink(r->tmp_path);
    fits_create_diskfile(&f, r->tmp_path, &st);
    if (st) {
        f = NULL;
        rc = fits_error(st, r->tmp_path, NULL);
        goto exit;
    }
    write_primary(r, f, e, &st);
    if (st) {
        rc = fits_error(st, r->tmp_path, "primary");
        goto exit;
    }
    double t0 = now_s();
    int first = e * r->n_ccd;
    for (int c0 = 0; c0 < r->n_ccd; c0 += SIM_CHUNK_CCDS) {
        int nc = r->n_ccd - c0 < SIM_CHUNK_CCDS ? r->n_ccd - c0 : SIM_CHUNK_CCDS;
        double tw = now_s();
        rc = wait_items(r, first + c0, first + c0 + nc);
        r->wait_s += now_s() - tw;
        if (rc)
            goto exit;
        tw = now_s();
        /* The chunk's extensions (CCD-in-chunk, quadrant, plane), shuffled. */
        int n_ext = nc * r->nq * 3;
        int ext[SIM_CHUNK_CCDS * 4 * 3];
        for (int i = 0; i < n_ext; i++)
            ext[i] = i;
        sso_rng g;
        sso_rng_init(&g, c->seed, TAG_ORDER, (uint64_t)e + 1, (uint64_t)c0 + 1);
        for (int i = n_ext - 1; i > 0; i--) {
            int k = (int)sso_rng_below(&g, (uint32_t)i + 1);
            int t = ext[i];
            ext[i] = ext[k];
            ext[k] = t;
        }
        for (int i = 0; i < n_ext; i++) {
            int ci = ext[i] / (r->nq * 3), q = (ext[i] / 3) % r->nq, plane = ext[i] % 3;
            rc = write_plane(r, f, &r->items[first + c0 + ci], q, plane, r->tmp_path);
            if (rc)
                goto exit;
        }
        r->write_s += now_s() - tw;
        for (int ci = 0; ci < nc; ci++) {
            sim_item *it = &r->items[first + c0 + ci];
            const sso_sim_render_stats *s = &it->job.stats;
            vlog(r, "dither %d CCD %s: %.1f s; stars %ld, galaxies %ld on the CCD; sky median "
                    "%.2f ADU; CR tracks %ld (%ld flagged, %.2f%% of pixels hit); hot %ld, "
                    "bad columns %ld, saturated %ld px",
                 e + 1, c->ccds[it->sel], it->seconds, s->stars_on, s->galaxies_on,
                 s->median_sci_adu, s->cr_tracks, s->cr_tracks_flagged,
                 100.0 * s->cr_pixel_fraction, s->hot_pixels, s->bad_columns, s->saturated_px);
            free_item_buffers(it);
        }
        release_items(r, first + c0 + nc);
    }
    fits_close_file(f, &st);
    f = NULL;
    if (st) {
        rc = fits_error(st, r->tmp_path, NULL);
        goto exit;
    }
    if (rename(r->tmp_path, r->paths[e])) {
        rc = sso_fail(SSO_ERR_IO, "sim: cannot rename %s: %s", r->tmp_path, strerror(errno));
        goto exit;
    }
    r->written[e] = 1;
    struct stat stt;
    if (!stat(r->paths[e], &stt))
        vlog(r, "wrote %s (%.1f MB; last chunk written %.1f s after the first)", r->paths[e],
             stt.st_size / 1e6, now_s() - t0);
exit:
    if (f) {
        int st2 = 0;
        fits_close_file(f, &st2);
    }
    if (rc)
        unlink(r->tmp_path);
    return rc;
}

sso_status sso_sim_exposure_path(const sso_sim_config *cfg, const char *out_dir, int dither,
                                 char *buf, size_t n)
{
    if (!cfg || !out_dir || !buf || dither < 1 || dither > SIM_NEXP)
        return sso_fail(SSO_ERR_ARG, "sso_sim_exposure_path: bad arguments");
    long long us0 = llround((cfg->mjd_start - SIM_MJD_UNIX_EPOCH) * 86400.0e6);
    long long us = us0 + (long long)(dither - 1) * (long long)(SIM_DITHER_CADENCE_S * 1e6);
    char iso[64], compact[64];
    utc_strings(us, iso, compact);
    int k = snprintf(buf, n, "%s/EUC_VIS_SWL-DET-%06ld-%02d-1-0000000__%s.fits", out_dir,
                     atol(cfg->obs_id), dither, compact);
    if (k < 0 || (size_t)k >= n)
        return sso_fail(SSO_ERR_ARG, "sim: output path too long");
    return SSO_OK;
}

/* ---- truth ----------------------------------------------------------------------------------- */

static sso_status write_truth(sim_run *r, const char *out_dir)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/truth.csv", out_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return sso_fail(SSO_ERR_IO, "sim: cannot write %s: %s", tmp, strerror(errno));
    fprintf(fp, "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y\n");
    for (int i = 0; i < r->cfg->n_movers; i++) {
        const sso_sim_mover *m = &r->movers[i];
        const char *cls = m->rate_arcsec_h < SIM_SLOW_FAST_ARCSEC_H ? "slow" : "fast";
        for (int e = 0; e < SIM_NEXP; e++) {
            double ra, dec, s2 = 0.0;
            sso_sim_mover_at(m, r->mjd_mid[e], &ra, &dec);
            for (int k = 0; k < r->n_ccd; k++)
                s2 += r->snr2[e][k][i];
            char det[24] = "";
            double x = NAN, y = NAN;
            double trail = m->rate_arcsec_h * SIM_EXPTIME_S / 3600.0 / SIM_PIXEL_ARCSEC;
            for (int k = 0; k < r->n_ccd; k++) {
                double px, py;
                sso_status rc = sso_wcs_sky2pix(r->wcs[e][k], 1, &ra, &dec, &px, &py);
                if (rc) {
                    fclose(fp);
                    unlink(tmp);
                    return rc;
                }
                if (!(px >= 0.5 && px < r->w + 0.5 && py >= 0.5 && py < r->h + 0.5))
                    continue;
                double ra2[2], dec2[2], tx[2], ty[2];
                sso_sim_mover_at(m, r->mjd_start[e], &ra2[0], &dec2[0]);
                sso_sim_mover_at(m, r->mjd_end[e], &ra2[1], &dec2[1]);
                rc = sso_wcs_sky2pix(r->wcs[e][k], 2, ra2, dec2, tx, ty);
                if (!rc && isfinite(tx[0]) && isfinite(tx[1]))
                    trail = hypot(tx[1] - tx[0], ty[1] - ty[0]);
                const char *id = sso_fp_ccd_get(r->det[k])->id;
                if (r->nq == 4) {
                    int qx = px > r->w / 2 + 0.5, qy = py > r->h / 2 + 0.5;
                    int q = qy ? (qx ? 2 : 3) : (qx ? 1 : 0);
                    snprintf(det, sizeof det, "%s.%s", id, g_quad_names[q]);
                    x = px - qx * (r->w / 2);
                    y = py - qy * (r->h / 2);
                } else {
                    snprintf(det, sizeof det, "%s", id);
                    x = px;
                    y = py;
                }
                break;
            }
            fprintf(fp, "%d,%s,%d,%.8f,%.9f,%.9f,%.4f,%.5f,%.4f,%.3f,%.3f,%s,", m->id, cls, e + 1,
                    r->mjd_mid[e], ra, dec, m->mag, m->rate_arcsec_h, m->pa_deg, trail, sqrt(s2),
                    det);
            if (det[0])
                fprintf(fp, "%.4f,%.4f\n", x, y);
            else
                fprintf(fp, ",\n");
        }
    }
    if (fclose(fp)) {
        unlink(tmp);
        return sso_fail(SSO_ERR_IO, "sim: writing %s failed", tmp);
    }
    if (rename(tmp, path)) {
        unlink(tmp);
        return sso_fail(SSO_ERR_IO, "sim: cannot rename %s: %s", tmp, strerror(errno));
    }
    return SSO_OK;
}

/* ---- the run --------------------------------------------------------------------------------- */

static void run_free(sim_run *r)
{
    for (int e = 0; e < SIM_NEXP; e++)
        for (int k = 0; k < SSO_SIM_MAX_CCDS; k++) {
            sso_wcs_free(r->wcs[e][k]);
            free(r->snr2[e][k]);
        }
    if (r->items)
        for (int k = 0; k < r->n_items; k++)
            free_item_buffers(&r->items[k]);
    free(r->items);
    if (r->ws)
        for (int t = 0; t < r->n_threads; t++)
            sso_sim_workspace_free(r->ws[t]);
    free(r->ws);
    sso_sim_catalog_free(r->cat);
    free(r->movers);
    sso_sim_conv_free(r->conv);
    sso_sim_psf_free(r->psf);
}

sso_status sso_sim_run(const sso_sim_config *cfg, const char *out_dir)
{
    sso_status rc = SSO_OK;
    sim_run *r = NULL; /* ~170 kB: on the heap, not on a caller's (maybe small) thread stack */
    pthread_t *threads = NULL;
    worker_arg *args = NULL;
    int n_started = 0, sync_init = 0;
    double t_start = now_s();

    if (!cfg || !out_dir || !out_dir[0])
        return sso_fail(SSO_ERR_ARG, "sso_sim_run: no configuration or output directory");
    rc = check_config(cfg);
    if (rc)
        return rc;
    r = calloc(1, sizeof *r);
    if (!r)
        return sso_fail(SSO_ERR_NOMEM, "sim: run state");
    r->cfg = cfg;
    r->n_ccd = cfg->n_ccds;
    for (int k = 0; k < r->n_ccd; k++)
        r->det[k] = sso_fp_ccd_find(cfg->ccds[k]);
    r->w = cfg->width_px;
    r->h = cfg->height_px;
    r->nq = cfg->quadrants ? 4 : 1;
    r->magzerop = SIM_ZP_E - 2.5 * log10(SIM_GAIN);
    rc = make_dir(out_dir);
    if (rc) {
        free(r);
        return rc;
    }

    rc = setup_geometry(r);
    if (rc)
        goto exit;
    double box[4];
    rc = field_box(r, 200.0, box);
    if (rc)
        goto exit;
    rc = sso_sim_catalog_create(cfg->seed, cfg->ra_deg, box[0], box[1], box[2], box[3],
                                cfg->stars, cfg->galaxies, cfg->source_density_scale, &r->cat);
    if (rc)
        goto exit;
    rc = setup_movers(r);
    if (rc)
        goto exit;
    vlog(r, "%d CCD(s) of %dx%d px%s, %d movers; catalogue of %zu stars and %zu galaxies over "
            "%.3f deg^2 (%.1f s)",
         r->n_ccd, r->w, r->h, r->nq == 4 ? " as quadrants" : "", cfg->n_movers, r->cat->n_stars,
         r->cat->n_galaxies, r->cat->area_deg2, now_s() - t_start);

    rc = sso_sim_psf_create(SIM_PSF_OVERSAMPLE, SIM_PSF_HALF_PX, &r->psf);
    if (rc)
        goto exit;
    if (cfg->galaxies) {
        rc = sso_sim_conv_create(r->psf, SIM_KERNEL_HALF_PX, SIM_FFT_TILE, &r->conv);
        if (rc)
            goto exit;
    }
    vlog(r, "PSF ready: FWHM %.2f px (%.1f s)", sso_sim_psf_fwhm_px(r->psf), now_s() - t_start);

    /* The scene. */
    sso_rng g;
    sso_rng_init(&g, cfg->seed, TAG_SKY, 0, 0);
    sso_sim_scene *s = &r->scene;
    s->psf = r->psf;
    s->conv = r->conv;
    s->psf_half_px = sso_sim_psf_half_size_px(r->psf);
    s->cat = r->cat;
    s->movers = r->movers;
    s->n_movers = cfg->n_movers;
    s->seed = cfg->seed;
    s->exptime_s = SIM_EXPTIME_S;
    s->gain_e_per_adu = SIM_GAIN;
    s->read_noise_e = SIM_READ_NOISE_E;
    s->full_well_e = SIM_FULL_WELL_E;
    s->zp_e = SIM_ZP_E;
    s->sky_e_per_s_px = pow(10.0, -0.4 * (SIM_SKY_MAG_ARCSEC2 - SIM_ZP_E)) * SIM_PIXEL_ARCSEC *
                        SIM_PIXEL_ARCSEC;
    s->dark_e_per_s_px = SIM_DARK_E_S;
    s->sky_grad_u = 0.02 * sso_rng_normal(&g);
    s->sky_grad_v = 0.02 * sso_rng_normal(&g);
    for (int e = 0; e < SIM_NEXP; e++)
        r->sky_factor[e] = 1.0 + 0.003 * sso_rng_normal(&g);
    s->stars = cfg->stars;
    s->galaxies = cfg->galaxies;
    s->cosmics = cfg->cosmics;
    s->defects = cfg->defects;
    s->saturation = cfg->saturation;

    /* File order of the CCDs and the jobs. */
    for (int e = 0; e < SIM_NEXP; e++) {
        for (int k = 0; k < r->n_ccd; k++)
            r->order[e][k] = k;
        sso_rng_init(&g, cfg->seed, TAG_ORDER, (uint64_t)e + 1, 0);
        for (int k = r->n_ccd - 1; k > 0; k--) {
            int j = (int)sso_rng_below(&g, (uint32_t)k + 1);
            int t = r->order[e][k];
            r->order[e][k] = r->order[e][j];
            r->order[e][j] = t;
        }
    }
    r->n_items = SIM_NEXP * r->n_ccd;
    r->items = calloc((size_t)r->n_items, sizeof *r->items);
    if (!r->items) {
        rc = sso_fail(SSO_ERR_NOMEM, "sim: job list");
        goto exit;
    }
    for (int e = 0; e < SIM_NEXP; e++)
        for (int k = 0; k < r->n_ccd; k++) {
            sim_item *it = &r->items[e * r->n_ccd + k];
            int sel = r->order[e][k];
            const sso_fp_ccd *ccd = sso_fp_ccd_get(r->det[sel]);
            it->epoch = e;
            it->sel = sel;
            sso_sim_job *j = &it->job;
            j->epoch = e;
            j->det = r->det[sel];
            j->w = r->w;
            j->h = r->h;
            j->wcs = r->wcs[e][sel];
            memcpy(j->cd, r->fpw[e][sel].cd, sizeof j->cd);
            j->uc_deg = ccd->uc_deg;
            j->vc_deg = ccd->vc_deg;
            j->pix_deg = SIM_PIXEL_ARCSEC / 3600.0;
            j->sky_factor = r->sky_factor[e];
            j->mjd_start = r->mjd_start[e];
            j->mjd_end = r->mjd_end[e];
            r->snr2[e][sel] = calloc((size_t)(cfg->n_movers > 0 ? cfg->n_movers : 1), sizeof(double));
            if (!r->snr2[e][sel]) {
                rc = sso_fail(SSO_ERR_NOMEM, "sim: SNR table");
                goto exit;
            }
            j->snr2 = r->snr2[e][sel];
        }

    /* Threads. */
    int nt = cfg->threads;
    if (nt <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        nt = nc > 0 ? (int)nc : 1;
    }
    if (nt > r->n_items)
        nt = r->n_items;
    r->n_threads = nt;
    /* Workers may run this many jobs past the last one written: the writer is one thread and
     * a chunk is written only once complete. Memory: ahead x (W x H x 12 bytes). */
    r->ahead = nt + 2 * SIM_CHUNK_CCDS;
    r->ws = calloc((size_t)nt, sizeof *r->ws);
    threads = calloc((size_t)nt, sizeof *threads);
    args = calloc((size_t)nt, sizeof *args);
    if (!r->ws || !threads || !args) {
        rc = sso_fail(SSO_ERR_NOMEM, "sim: thread state");
        goto exit;
    }
    for (int t = 0; t < nt; t++) {
        rc = sso_sim_workspace_create(&r->scene, &r->ws[t]);
        if (rc)
            goto exit;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv_work, NULL);
    pthread_cond_init(&r->cv_done, NULL);
    sync_init = 1;
    for (int t = 0; t < nt; t++) {
        args[t].run = r;
        args[t].index = t;
        if (pthread_create(&threads[t], NULL, worker_main, &args[t])) {
            rc = sso_fail(SSO_ERR_INTERNAL, "sim: cannot start thread %d", t);
            pthread_mutex_lock(&r->mu);
            r->abort = 1;
            pthread_cond_broadcast(&r->cv_work);
            pthread_mutex_unlock(&r->mu);
            goto exit;
        }
        n_started++;
    }
    vlog(r, "rendering %d CCD-exposures on %d thread(s)", r->n_items, nt);

    for (int e = 0; e < SIM_NEXP; e++) {
        rc = write_exposure(r, e, out_dir);
        if (rc) {
            pthread_mutex_lock(&r->mu);
            r->abort = 1;
            pthread_cond_broadcast(&r->cv_work);
            pthread_mutex_unlock(&r->mu);
            goto exit;
        }
    }
    rc = write_truth(r, out_dir);
    if (rc)
        goto exit;
    vlog(r, "done in %.1f s (the writer spent %.1f s writing and %.1f s waiting for renders)",
         now_s() - t_start, r->write_s, r->wait_s);

exit:
    for (int t = 0; t < n_started; t++)
        pthread_join(threads[t], NULL);
    if (sync_init) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv_work);
        pthread_cond_destroy(&r->cv_done);
    }
    if (rc) {
        /* Leave no partial quartet behind. */
        for (int e = 0; e < SIM_NEXP; e++)
            if (r->written[e])
                unlink(r->paths[e]);
    }
    free(threads);
    free(args);
    run_free(r);
    free(r);
    return rc;
}
