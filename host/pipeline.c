/* host/pipeline.c: one quartet from files to alerts (contract in include/sso/pipeline.h).
 *
 * Data flow and ownership:
 *   run_state      the quartet's per-detector metadata (gain, MAGZEROP, exposure time, WCS, name)
 *                  collected while reading, the patch plan, and per patch and epoch the resampled
 *                  image/variance/mask (patch_buf, allocated when a detector first writes into it).
 *   phase 1        for an exposure e and detector d: read, prep, background, cosmics, then
 *                  resample into every patch whose input list names (e, d). The detector's pixels
 *                  are freed before the next one is read: at most one detector is in memory.
 *   phase 2        for a patch: difference -> psi/phi (per epoch) -> stack -> measure the
 *                  candidates in the patch's core; every buffer of the patch is freed after.
 *                  The slow candidates' track fits run on cfg->n_threads (slow_fit_one), their
 *                  alerts are then made in candidate order, so no figure depends on the count.
 *                  The stack runs over >= 3 epochs; with cfg->slow_pairs, a second time per
 *                  velocity bin over the sky only 2 epochs cover (the 2-epoch pass: maps zeroed where 3 or 4 epochs have
 *                  data, as counted from the mask's MASK_UNCOVERED; exactly 2 epochs with data on
 *                  the track, each at SNR >= slow_pair_snr_min, on no static source); the two
 *                  passes' candidates are merged by explaining away, and a fast alert of the same
 *                  mover replaces a 2-epoch one (measure_fast). A fast candidate's epochs whose
 *                  trail runs along a mask at a constant offset (the halo of a flagged cosmic-ray
 *                  track) are set aside like those a stronger alert explains (measure_fast).
 *   across         after the last patch, the streaks each patch's fast search left unlinked that
 *                  may have a partner beyond it are linked across patches (keep_loose,
 *                  cross_patch): a 2-epoch fast mover whose two trails no one patch holds.
 *   order          sso_pipeline_run interleaves them (read_and_search): the patches are searched
 *                  in plan order, and just before patch k the detectors it lists that are not read
 *                  yet go through phase 1 (into patch k and every later patch that lists them).
 *                  A patch's buffers so live from its first detector to its search: about a row
 *                  of the patch grid is held, not the field (9 CCDs took 16 GiB when phase 1 ran
 *                  whole first). Every patch still sees all its inputs before its search, the
 *                  patches are searched in the same order, and detectors do not overlap within an
 *                  exposure (resampling writes each patch pixel from one detector), so the alerts
 *                  are those of phase 1 then phase 2, in the same order. The detectors' metadata
 *                  (name, size, WCS, GAIN, MAGZEROP) come from the headers before any read, so
 *                  measurement finds an epoch's detector whether or not its pixels were read yet.
 *   staged         (sso_pipeline_session, for `sso watch`) phase 1 runs per exposure as it arrives,
 *                  each into its own plan of the patches it touches (run_state with that one
 *                  exposure as epoch 0); the search adopts the exposures into a quartet
 *                  (sso_quartet_adopt), plans the union at the same tangent point and moves each
 *                  exposure's patch images into the union's patch of the same (ix, iy), then runs
 *                  phase 2 exactly as sso_pipeline_run does (search_prepare, search_patches).
 *                  The tangent point is predicted from the first exposure (predict_tangent).
 * Times: t_h[e] = (mjd_mid[e] - mean mjd_mid) * 24: centred on the mean epoch, the velocity grid
 * that keeps the position error under the stack's tolerance at every epoch is ~4x smaller than
 * with the first epoch as reference (the largest |t_e| halves). The patch ownership rule
 * (sso_patch_plan_in_core) takes the first-epoch position x0 + vx * t_h[0].
 * Matched filter: the VIS ePSF (the aperture model of sim/psf.h, which is the instrument, not the
 * simulator's scene), cut to (2 half + 1)^2 pixels and renormalised; the flux estimate psi/phi is
 * then frac * flux with frac the ePSF fraction inside the cut, so fluxes are divided by frac.
 * Orientation: patches are north-up; the template is not rotated into the patch frame (the core of
 * the PSF is nearly round; the cost is a small SNR loss, to be measured with `sso score`).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fitsio.h>

#include "host/ingest_internal.h"
#include "host/fast_math.h"
#include "host/memplan.h"
#include "host/noisecal.h"
#include "host/parallel.h"
#include "host/veto.h"
#include "host/status_internal.h"
#include "sim/psf.h"
#include "sso/background.h"
#include "sso/cosmic.h"
#include "sso/difference.h"
#include "sso/flags.h"
#include "sso/likelihood.h"
#include "sso/photometry.h"
#include "sso/pipeline.h"
#include "sso/resample.h"

#define NEXP SSO_QUARTET_N
#define PSF_FWHM_PX 1.6 /* VIS PSF FWHM [px] (EUCLID.md), for position uncertainties */
/* A slow candidate of nu < SLOW_PEAK_NU whose brightest epoch stands more than SLOW_PEAK_Z sigma
 * above the others in the track photometry on its refined track (sso_track_phot_peak_z) is one
 * epoch's source with noise beside it, and no alert. The stack's consistency test lets it through:
 * its tolerance has a term of half the flux for bright movers (self-subtraction, grid offsets),
 * 1.5 sigma at SNR 3 per epoch, and its per-epoch fluxes are the binned template's at grid pixels.
 * On the ccd seeds 1-2 (session 14) the 3 false slow alerts that were no mover had z 7.5, 12.1 and
 * 17.2 (3 epochs each, one of them at 7.5-11 sigma); the 32 true slow alerts below nu 20 at most
 * 2.9 (below nu 30: 3.3). For a constant flux z is the largest of ~n unit normals: above 4 with
 * probability ~1e-4 at n = 4. Brighter movers show the model's errors (ePSF, ghost): z 6-17 above
 * nu 60 on the same seeds, so they are not tested. */
#define SLOW_PEAK_NU 20.0
#define SLOW_PEAK_Z 4.0
#define SLOW_REFINE_STEP_PX 0.5 /* sso_track_refine's first step and rounds for slow alerts: */
#define SLOW_REFINE_ROUNDS 5    /* reach ~1 px, 90 photometry calls (0.3-2 s an alert) */
#define SQRT2 1.41421356237309504880
#define PI 3.14159265358979323846
#define MAX_BINS 256
#define NOISE_SAMPLES ((size_t)1 << 18) /* pixels sampled per image for its noise scale */
/* Trail-template bins of the slow search (sso_stack_trail_bins): the point template below a
 * 2.5 px trail (matched-filter efficiency >= ~0.93), length bins in the ratio 1.6 (a trail at a
 * bin edge is ~26% longer or shorter than the template: efficiency ~0.95), angle bins whose trail
 * ends are <= 1.6 px off the template's at the bin edge (~0.90 at 16 px, ~0.97 at 8 px); the
 * mean over a bin is ~0.95, against 0.39-0.93 for the point template at 2.5-16 px. 39 bins at
 * 10"/h: a compromise with the CPU cost (taps x bins; measured in bench/results). */
#define TRAIL_POINT_LEN_PX 2.5
#define TRAIL_LEN_RATIO 1.6
#define TRAIL_ANGLE_LEN_PX 3.2
/* Patch mask code of a pixel no detector of the epoch covers (sso_resample_patch_init's 1, turned
 * into 2 when the buffer is allocated; resampling writes 0 or 1 where a detector lies): every
 * consumer reads the mask as masked/not, and the 2-epoch slow pass counts the epochs that cover a
 * trajectory from it (masked is not uncovered: a star's mask must not turn 4 epochs into 2). */
#define MASK_UNCOVERED 2

typedef struct det_meta {
    char name[16];
    int w, h;
    double gain_e_per_adu, magzerop, exptime_s;
    const sso_wcs *wcs;
    int known; /* set from the headers (sso_pipeline_run) or by the read (a session) */
} det_meta;

typedef struct patch_buf {
    float *img[NEXP], *var[NEXP];
    uint8_t *mask[NEXP];
} patch_buf;

typedef struct run_state {
    const sso_quartet *q;             /* NULL while a session prepares one exposure */
    const sso_exposure *x[NEXP];      /* the exposures' files (phase 1 reads through these) */
    int label;                        /* exposure number in progress lines; 0: e + 1 */
    const sso_pipeline_config *cfg;
    sso_pipeline_stats *st;
    sso_exposure_info exp[NEXP];
    det_meta *meta[NEXP];
    sso_patch_plan *plan;
    int n_patches;
    patch_buf *pb;
    float *tmpl;
    double tmpl_frac;
    sso_sim_psf *psf; /* the VIS ePSF: matched-filter template and track photometry */
    double t_h[NEXP];
    sso_stack_bin bins[MAX_BINS]; /* slow-search velocity bins (sso_stack_trail_bins) */
    sso_trail_kernel *kern[MAX_BINS]; /* their trail kernels; NULL for the point bin */
    int n_bins;
    sso_alert *alerts;
    size_t n_alerts, cap_alerts;
    char obs_id[64];
    int debug_veto; /* SSO_DEBUG_VETO set: each re-checked epoch's veto statistic on stderr (and
                     * each fast epoch set aside on a mask's edge, HUG lines) */
    uint8_t *searched; /* per patch, 1 once searched (read_and_search; NULL in a session) */
    sso_fast_streak *loose; /* streaks their patch's search left unlinked that may have a partner in
                             * another patch, on the plane (patch pixel + u0 + 0.5: cross_patch) */
    int *loose_patch;
    size_t n_loose, cap_loose;
} run_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(const run_state *r, const char *stage, const char *fmt, ...)
{
    if (!r->cfg->progress)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->cfg->progress(r->cfg->progress_user, stage, msg);
}

void sso_pipeline_config_default(sso_pipeline_config *c)
{
    memset(c, 0, sizeof *c);
    c->backend = SSO_BACKEND_AUTO;
    c->device = -1;
    c->n_threads = 1;
    sso_patch_config_default(&c->patch);
    sso_stack_params_default(&c->stack);
    c->psf_half_px = 3;
    c->cosmics = 1;
    c->fast = 0;
    c->trail_bins = 1;
    c->streak_veto = 1;
    c->slow_pairs = 0;
    c->slow_pair_snr_min = 5.0f;
    c->static_gate = 1;
    c->static_gate_snr = SSO_DIFF_GATE_SNR;
    c->slow_direct_fit = 1;
    c->cutout_dir = NULL;
    c->cutout_ref = "cutouts/";
    sso_fast_params_default(&c->fast_params);
}

/* ---- the matched-filter template ------------------------------------------------------------ */

static sso_status make_template(run_state *r)
{
    const int half = r->cfg->psf_half_px, n = 2 * half + 1;
    sso_sim_psf *psf = NULL;
    sso_status st = sso_sim_psf_create(4, 64, &psf);
    if (st)
        return st;
    r->tmpl = malloc((size_t)n * n * sizeof *r->tmpl);
    if (!r->tmpl) {
        sso_sim_psf_free(psf);
        return sso_fail(SSO_ERR_NOMEM, "pipeline: template");
    }
    double sum = 0.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++)
            sum += r->tmpl[(dy + half) * n + dx + half] = sso_sim_psf_eval(psf, dx, dy);
    for (int i = 0; i < n * n; i++)
        r->tmpl[i] = (float)(r->tmpl[i] / sum);
    r->tmpl_frac = sum;
    r->psf = psf;
    return SSO_OK;
}

/* ---- phase 1: detectors into patches -------------------------------------------------------- */

static sso_status patch_epoch_alloc(patch_buf *b, int e, size_t npx)
{
    if (b->img[e])
        return SSO_OK;
    b->img[e] = malloc(npx * sizeof(float));
    b->var[e] = malloc(npx * sizeof(float));
    b->mask[e] = malloc(npx);
    if (!b->img[e] || !b->var[e] || !b->mask[e])
        return sso_fail(SSO_ERR_NOMEM, "pipeline: patch buffers of %zu px", npx);
    sso_resample_patch_init(npx, b->img[e], b->var[e], b->mask[e]);
    memset(b->mask[e], MASK_UNCOVERED, npx);
    return SSO_OK;
}

static void patch_epoch_free(patch_buf *b, int e)
{
    free(b->img[e]);
    free(b->var[e]);
    free(b->mask[e]);
    b->img[e] = b->var[e] = NULL;
    b->mask[e] = NULL;
}

/* Bytes now held in the patches' resampled epochs (var is held from allocation to the search's
 * end; img is freed after the slow measurement), and the peak of it in the stats. */
static void note_patch_bytes(run_state *r)
{
    size_t held = 0;
    for (int k = 0; k < r->n_patches; k++) {
        sso_patch_info pi;
        if (sso_patch_plan_get(r->plan, k, &pi) != SSO_OK)
            continue;
        for (int e = 0; e < NEXP; e++)
            if (r->pb[k].var[e])
                held += (size_t)pi.width_px * pi.height_px * (2 * sizeof(float) + 1);
    }
    if (held > r->st->patch_bytes_peak)
        r->st->patch_bytes_peak = held;
}

/* 1 when patch pi's input list names detector d of exposure e. */
static int patch_lists(const sso_patch_info *pi, int e, int d)
{
    for (int i = 0; i < pi->n_inputs; i++)
        if (pi->inputs[i].exposure == e && pi->inputs[i].detector == d)
            return 1;
    return 0;
}

/* A detector's metadata from its headers (what process_detector sets again from the read). */
static void meta_from_header(run_state *r, int e, int d)
{
    det_meta *m = &r->meta[e][d];
    snprintf(m->name, sizeof m->name, "%s", sso_exposure_detector_name(r->x[e], d));
    sso_exposure_detector_size(r->x[e], d, &m->w, &m->h);
    sso_exposure_detector_calib(r->x[e], d, &m->gain_e_per_adu, &m->magzerop);
    m->exptime_s = r->exp[e].exptime_s;
    m->wcs = sso_exposure_detector_wcs(r->x[e], d);
    m->known = 1;
}

static sso_status process_detector(run_state *r, int e, int d)
{
    sso_status st = SSO_OK;
    sso_detector *det = NULL;
    float *img = NULL, *var = NULL, *bkg = NULL, *bkg_rms = NULL;
    uint8_t *mask = NULL, *cr = NULL;
    sso_resample_map *map = NULL;
    det_meta *m = &r->meta[e][d];
    double t0 = now_s();

    if ((st = sso_exposure_read_detector(r->x[e], d, &det)))
        goto exit;
    const int w = sso_detector_width(det), h = sso_detector_height(det);
    const size_t n = (size_t)w * h;
    snprintf(m->name, sizeof m->name, "%s", sso_detector_name(det));
    m->w = w, m->h = h;
    m->gain_e_per_adu = sso_detector_gain_e_per_adu(det);
    m->magzerop = sso_detector_magzerop(det);
    m->exptime_s = r->exp[e].exptime_s;
    m->wcs = sso_exposure_detector_wcs(r->x[e], d);
    m->known = 1;
    double t1 = now_s();
    r->st->read_s += t1 - t0;
    r->st->last_read_mono_s = t1;

    img = malloc(n * sizeof *img), var = malloc(n * sizeof *var), mask = malloc(n);
    bkg = malloc(n * sizeof *bkg), bkg_rms = malloc(n * sizeof *bkg_rms);
    if (!img || !var || !mask || !bkg || !bkg_rms) {
        st = sso_fail(SSO_ERR_NOMEM, "pipeline: detector %s of %zu px", m->name, n);
        goto exit;
    }
    sso_backend be = sso_backend_resolve(r->cfg->backend);
    snprintf(r->st->backend, sizeof r->st->backend, "%s", sso_backend_name(be));
    if ((st = sso_prep_detector(be, sso_detector_sci_adu(det), sso_detector_rms_adu(det),
                                sso_detector_flg(det), n, (float)m->gain_e_per_adu,
                                SSO_FLG_MASK_DEFAULT, img, var, mask, NULL)))
        goto exit;
    double t2 = now_s();
    r->st->prep_s += t2 - t1;

    sso_background_params bp = sso_background_params_default();
    bp.backend = r->cfg->backend;
    if ((st = sso_background_estimate(img, mask, w, h, &bp, bkg, bkg_rms)) ||
        (st = sso_background_subtract(img, mask, w, h, bkg)))
        goto exit;
    double t3 = now_s();
    r->st->background_s += t3 - t2;

    int64_t n_cr = 0;
    if (r->cfg->cosmics) {
        cr = malloc(n);
        if (!cr) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: cosmic-ray mask");
            goto exit;
        }
        sso_cosmic_params cp = sso_cosmic_params_default();
        cp.backend = r->cfg->backend;
        if ((st = sso_cosmic_detect(img, var, mask, sso_detector_flg(det), w, h, &cp, cr, &n_cr)))
            goto exit;
        for (size_t i = 0; i < n; i++)
            if (cr[i]) {
                mask[i] = 1;
                img[i] = 0.0f;
                var[i] = INFINITY;
            }
    }
    sso_detector_free(det);
    det = NULL;
    double t4 = now_s();
    r->st->cosmic_s += t4 - t3;

    sso_resample_config rc;
    sso_resample_config_default(&rc);
    rc.backend = r->cfg->backend;
    int n_into = 0;
    for (int k = 0; k < r->n_patches; k++) {
        sso_patch_info pi;
        if ((st = sso_patch_plan_get(r->plan, k, &pi)))
            goto exit;
        if (!patch_lists(&pi, e, d))
            continue;
        if (r->searched && r->searched[k]) { /* read_and_search reads a patch's inputs first */
            st = sso_fail(SSO_ERR_INTERNAL, "pipeline: detector %s of exposure %d read after "
                          "patch %d, which lists it, was searched", m->name, e + 1, k + 1);
            goto exit;
        }
        const size_t npx = (size_t)pi.width_px * pi.height_px;
        if ((st = patch_epoch_alloc(&r->pb[k], e, npx)))
            goto exit;
        if ((st = sso_resample_map_create(pi.wcs, pi.width_px, pi.height_px, m->wcs, w, h, &rc,
                                          &map)))
            goto exit;
        int64_t written = 0;
        st = sso_resample_detector(map, img, var, mask, &rc, r->pb[k].img[e], r->pb[k].var[e],
                                   r->pb[k].mask[e], &written);
        sso_resample_map_free(map);
        map = NULL;
        if (st)
            goto exit;
        n_into++;
    }
    double t5 = now_s();
    r->st->resample_s += t5 - t4;
    r->st->n_detectors++;
    progress(r, "detector", "exposure %d/%d detector %s: read %.2f s, prep %.2f s, background %.2f s, "
             "cosmics %.2f s (%lld px), resampled into %d patch(es) %.2f s",
             r->label ? r->label : e + 1, NEXP, m->name, t1 - t0, t2 - t1, t3 - t2, t4 - t3, (long long)n_cr, n_into,
             t5 - t4);
exit:
    sso_resample_map_free(map);
    sso_detector_free(det);
    free(img), free(var), free(mask), free(bkg), free(bkg_rms), free(cr);
    return st;
}

/* ---- phase 3: measurement ------------------------------------------------------------------- */

static sso_status push_alert(run_state *r, const sso_alert *a)
{
    if (r->n_alerts == r->cap_alerts) {
        size_t cap = r->cap_alerts ? 2 * r->cap_alerts : 64;
        sso_alert *p = realloc(r->alerts, cap * sizeof *p);
        if (!p)
            return sso_fail(SSO_ERR_NOMEM, "pipeline: %zu alerts", cap);
        r->alerts = p, r->cap_alerts = cap;
    }
    r->alerts[r->n_alerts++] = *a;
    return SSO_OK;
}

/* The detector of exposure e holding sky position (ra, dec), with its 1-based pixel position. */
static int find_detector(const run_state *r, int e, double ra, double dec, double *x, double *y)
{
    for (int d = 0; d < r->exp[e].n_detectors; d++) {
        const det_meta *m = &r->meta[e][d];
        if (!m->known)
            continue;
        double px, py;
        if (sso_wcs_sky2pix(m->wcs, 1, &ra, &dec, &px, &py) != SSO_OK || !isfinite(px))
            continue;
        if (px >= 0.5 && px < m->w + 0.5 && py >= 0.5 && py < m->h + 0.5) {
            *x = px, *y = py;
            return d;
        }
    }
    return -1;
}

/* psi and phi at the refined track: sso_psiphi_at (host/veto.h), bilinear. The grid trajectory's
 * own pixels can be up to the velocity-grid tolerance (~0.8 px) off the refined track, which costs a
 * bright source up to ~30% of its matched-filter flux; at the refined position the loss is a few
 * percent. */

/* The images of a patch that measurement needs: psi/phi (detection), the difference images and,
 * from before differencing, each epoch's variance and mask (track photometry models the template)
 * and its image (NULL without slow_direct_fit: the slow fit on the images themselves). */
typedef struct patch_views {
    float *const *psi, *const *phi, *const *diff, *const *dvar, *const *var, *const *img;
    uint8_t *const *dmask, *const *mask;
} patch_views;

/* Shared by the slow and fast measurements. */

/* The detector of exposure e under the epoch's position, its pixel, and the magnitude. */
static void obs_on_detector(const run_state *r, int e, sso_alert_obs *o, double flux_e, double flux_err_e)
{
    double dx, dy;
    const int d = find_detector(r, e, o->ra_deg, o->dec_deg, &dx, &dy);
    if (d < 0)
        return;
    const det_meta *m = &r->meta[e][d];
    snprintf(o->det, sizeof o->det, "%.7s", m->name);
    o->x_px = dx, o->y_px = dy;
    o->mag = sso_ab_mag(flux_e, m->magzerop, m->gain_e_per_adu, m->exptime_s);
    o->rms_mag = flux_e > 0 ? 1.0857 * flux_err_e / flux_e : NAN;
}

/* Rate and position angle from a patch velocity: patch +x is west, +y north, so the eastward
 * component is -vx. */
static void set_motion(sso_alert *a, double vx_px_h, double vy_px_h, double scale_arcsec)
{
    a->rate_arcsec_h = hypot(vx_px_h, vy_px_h) * scale_arcsec;
    const double pa = atan2(-vx_px_h, vy_px_h) * 180.0 / PI;
    a->pa_deg = pa < 0 ? pa + 360.0 : pa;
}

/* alert_id from the object key, trkSub = prefix + 7 hex digits of the id's hash, then stored. */
static sso_status finish_alert(run_state *r, sso_alert *a, const char *key, char prefix)
{
    sso_status st = sso_alert_make_id(a, r->obs_id, key);
    if (st)
        return st;
    const char *hex = strrchr(a->alert_id, '-');
    snprintf(a->trk_sub, sizeof a->trk_sub, "%c%.7s", prefix, hex ? hex + 1 : "0000000");
    return push_alert(r, a);
}

/* Cutouts: a FITS file per alert under cfg->cutout_dir, an empty primary HDU (ALERT_ID, OBS_ID,
 * CLASS) and per epoch an image HDU "DIFF<e>" of CUTOUT_PX^2 float pixels of the difference image
 * (north-up patch frame, e-) whose centre pixel holds the epoch's predicted position, with a TAN
 * WCS, MJD-MID and the position (XPOS, YPOS, 1-based cutout pixels); pixels off the patch or
 * masked are NaN. An epoch without data gets an all-NaN image (so HDU e + 1 is always epoch e). */
#define CUTOUT_PX 32
static sso_status write_cutouts(run_state *r, const sso_patch_info *pi, float *const *diff,
                                uint8_t *const *dmask, const double *xe, const double *ye,
                                sso_alert *a)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "!%s/%s.fits", r->cfg->cutout_dir, a->alert_id);
    if (n < 0 || (size_t)n >= sizeof path)
        return sso_fail(SSO_ERR_ARG, "pipeline: cutout path too long");
    fitsfile *f = NULL;
    int fst = 0;
    float img[CUTOUT_PX * CUTOUT_PX];
    long naxes[2] = {CUTOUT_PX, CUTOUT_PX};
    double ra0, dec0, cd = r->cfg->patch.scale_arcsec / 3600.0, mcd = -cd;
    sso_patch_plan_tangent(r->plan, &ra0, &dec0);
    const char *cls = sso_alert_class_name(a->cls);
    fits_create_file(&f, path, &fst);
    fits_create_img(f, FLOAT_IMG, 0, naxes, &fst);
    fits_write_key(f, TSTRING, "ALERT_ID", a->alert_id, "sso alert", &fst);
    fits_write_key(f, TSTRING, "OBS_ID", a->obs_id, NULL, &fst);
    fits_write_key(f, TSTRING, "CLASS", (void *)cls, NULL, &fst);
    for (int e = 0; e < NEXP && !fst; e++) {
        const int on = isfinite(xe[e]) && isfinite(ye[e]);
        const int x0 = on ? (int)lround(xe[e]) - CUTOUT_PX / 2 : 0;
        const int y0 = on ? (int)lround(ye[e]) - CUTOUT_PX / 2 : 0;
        for (int j = 0; j < CUTOUT_PX; j++)
            for (int i = 0; i < CUTOUT_PX; i++) {
                const int x = x0 + i, y = y0 + j;
                const size_t q = (size_t)y * pi->width_px + x;
                img[j * CUTOUT_PX + i] = on && x >= 0 && y >= 0 && x < pi->width_px &&
                                                 y < pi->height_px && !dmask[e][q]
                                             ? diff[e][q]
                                             : NAN;
            }
        char name[16];
        snprintf(name, sizeof name, "DIFF%d", e + 1);
        double crpix1 = 0.5 - pi->u0_px - x0, crpix2 = 0.5 - pi->v0_px - y0;
        double xp = xe[e] - x0 + 1.0, yp = ye[e] - y0 + 1.0, mjd = r->exp[e].mjd_mid;
        fits_create_img(f, FLOAT_IMG, 2, naxes, &fst);
        fits_write_key(f, TSTRING, "EXTNAME", name, NULL, &fst);
        fits_write_key(f, TSTRING, "BUNIT", "electron", NULL, &fst);
        fits_write_key(f, TDOUBLE, "MJD-MID", &mjd, "mid-exposure, UTC", &fst);
        if (on) { /* no data at this epoch: no position */
            fits_write_key(f, TDOUBLE, "XPOS", &xp, "epoch position, 1-based cutout pixel", &fst);
            fits_write_key(f, TDOUBLE, "YPOS", &yp, NULL, &fst);
        }
        fits_write_key(f, TSTRING, "CTYPE1", "RA---TAN", NULL, &fst);
        fits_write_key(f, TSTRING, "CTYPE2", "DEC--TAN", NULL, &fst);
        fits_write_key(f, TDOUBLE, "CRVAL1", &ra0, NULL, &fst);
        fits_write_key(f, TDOUBLE, "CRVAL2", &dec0, NULL, &fst);
        fits_write_key(f, TDOUBLE, "CRPIX1", &crpix1, NULL, &fst);
        fits_write_key(f, TDOUBLE, "CRPIX2", &crpix2, NULL, &fst);
        fits_write_key(f, TDOUBLE, "CD1_1", &mcd, NULL, &fst);
        fits_write_key(f, TDOUBLE, "CD2_2", &cd, NULL, &fst);
        fits_write_img(f, TFLOAT, 1, (LONGLONG)CUTOUT_PX * CUTOUT_PX, img, &fst);
    }
    int cst = 0;
    if (f)
        fits_close_file(f, &cst);
    if (fst || cst) {
        char msg[FLEN_STATUS];
        fits_get_errstatus(fst ? fst : cst, msg);
        return sso_fail(SSO_ERR_IO, "pipeline: cutouts %s: %s", path + 1, msg);
    }
    snprintf(a->cutouts, sizeof a->cutouts, "%s%.*s.fits", r->cfg->cutout_ref ? r->cfg->cutout_ref : "",
             100, a->alert_id);
    return SSO_OK;
}

/* Re-measures psi/phi of every epoch at the candidate's refined track (on the psi/phi of the
 * template that found it) and applies the stack's threshold and consistency test to those values:
 * a trajectory that passed at its grid pixels only by grazing a cosmic-ray residual in one epoch
 * is dominated by that epoch once measured on its track. Epochs the streak veto flags (host/veto.h,
 * on the point maps ppsi/pphi) are dropped first and counted in *n_vetoed. spar: the threshold and
 * consistency of the pass that found it (the main one or the 2-epoch one). On success *rc is the
 * candidate with the re-measured per-epoch values and nu; returns 0 when it fails. */
static int recheck(const run_state *r, const sso_patch_info *pi, const sso_stack_cand *c,
                   float *const *psi, float *const *phi, float *const *ppsi, float *const *pphi,
                   const sso_stack_params *spar, long long *n_vetoed, sso_stack_cand *rc)
{
    *rc = *c;
    sso_veto_params vp;
    sso_veto_params_default(&vp);
    const double len_px = hypot(c->vx_px_h, c->vy_px_h) * r->exp[0].exptime_s / 3600.0;
    const double ang = atan2(c->vy_px_h, c->vx_px_h);
    double sp = 0.0, sf = 0.0;
    for (int e = 0; e < NEXP; e++) {
        double ps, ph;
        const double x = c->x0_px + c->vx_px_h * r->t_h[e], y = c->y0_px + c->vy_px_h * r->t_h[e];
        if (c->phi_e[e] > 0.0f && sso_psiphi_at(psi[e], phi[e], pi->width_px, pi->height_px, x, y, &ps, &ph))
            rc->psi_e[e] = (float)ps, rc->phi_e[e] = (float)ph;
        /* an epoch on a streak (a fast mover's trail, a bright trail's edge) holds no evidence of
         * this candidate: drop it before the threshold and consistency tests */
        if (r->debug_veto && rc->phi_e[e] > 0.0f) {
            double an;
            double sv = sso_veto_side_snr(ppsi[e], pphi[e], pi->width_px, pi->height_px, x, y, len_px, ang, &vp, &an);
            fprintf(stderr, "VETO e%d x %.1f y %.1f v %.1f,%.1f len %.1f snr %.1f S %.1f at %.0f deg\n", e, x, y,
                    c->vx_px_h, c->vy_px_h, len_px, rc->psi_e[e] / sqrt(rc->phi_e[e]), sv, an * 57.3);
        }
        if (r->cfg->streak_veto && rc->phi_e[e] > 0.0f &&
            sso_veto_epoch(ppsi[e], pphi[e], pi->width_px, pi->height_px, x, y, len_px, ang,
                           rc->psi_e[e] / sqrt(rc->phi_e[e]), &vp)) {
            rc->psi_e[e] = rc->phi_e[e] = 0.0f;
            rc->n_epochs_used--;
            (*n_vetoed)++;
        }
        sp += rc->psi_e[e], sf += rc->phi_e[e];
    }
    if (!(sf > 0.0) || sp / sqrt(sf) < spar->nu_min || !sso_stack_consistent(rc, NEXP, spar))
        return 0;
    rc->nu = (float)(sp / sqrt(sf));
    return 1;
}

/* The refined track and its photometry of one slow candidate: the slow measurement's costly half
 * (sso_track_refine, ~90 photometry calls: 0.3-2 s a candidate), which reads only the patch's
 * images and so runs on the search's threads, a candidate per worker at a time (costs vary 10x:
 * sso_parallel_each); measure() then makes the alerts in candidate order on the calling thread,
 * so they do not depend on the count. */
typedef struct slow_fit {
    double tr[4];
    sso_track_phot ph;
    int direct; /* fitted on the images (cfg slow_direct_fit), not the differences */
} slow_fit;

typedef struct slow_fit_job {
    const run_state *r;
    const sso_patch_info *pi;
    const sso_stack_cand *c;
    const patch_views *pv;
    slow_fit *fit;
} slow_fit_job;

static sso_status slow_fit_one(void *ctx, int64_t i)
{
    const slow_fit_job *j = ctx;
    const run_state *r = j->r;
    const sso_stack_cand *c = &j->c[i];
    const patch_views *pv = j->pv;
    slow_fit *f = &j->fit[i];
    /* the track and fluxes: the trailed-PSF track photometry on the differences, which models the
     * mover's own light in the median template (slow movers overlap themselves between epochs),
     * maximised over the track from the stack's (sso_track_refine: the stack's per-epoch peaks
     * are pushed apart by that ghost and loose along a trail); then, with slow_direct_fit, again
     * on the images, kept where the static sky under it is empty */
    f->tr[0] = c->x0_px, f->tr[1] = c->y0_px, f->tr[2] = c->vx_px_h, f->tr[3] = c->vy_px_h;
    f->direct = 0;
    const int w = j->pi->width_px, h = j->pi->height_px;
    const double exp_h = r->exp[0].exptime_s / 3600.0;
    const float *const *var = (const float *const *)pv->var;
    const uint8_t *const *mask = (const uint8_t *const *)pv->mask;
    sso_status st = sso_track_refine(var, mask, (const float *const *)pv->diff,
                                     (const float *const *)pv->dvar,
                                     (const uint8_t *const *)pv->dmask, NEXP, w, h, r->t_h, exp_h,
                                     r->psf, SLOW_REFINE_STEP_PX, SLOW_REFINE_ROUNDS, f->tr, &f->ph);
    if (st || !r->cfg->slow_direct_fit || !isfinite(f->ph.flux_e))
        return st;
    double z;
    return sso_track_refine_direct((const float *const *)pv->img, var, mask, NEXP, w, h, r->t_h,
                                   exp_h, r->psf, SLOW_REFINE_STEP_PX, SLOW_REFINE_ROUNDS,
                                   r->tmpl, r->cfg->psf_half_px, r->cfg->static_gate_snr, f->tr,
                                   &f->ph, &z, &f->direct);
}

/* A re-checked slow candidate (per-epoch psi_e/phi_e at its refined track) as an alert, from its
 * refined track and photometry (slow_fit_one). */
static sso_status measure(run_state *r, const sso_patch_info *pi, const sso_stack_cand *c,
                          const patch_views *pv, const slow_fit *fit)
{
    const double scale = r->cfg->patch.scale_arcsec;
    double tr[4] = {fit->tr[0], fit->tr[1], fit->tr[2], fit->tr[3]};
    const sso_track_phot ph = fit->ph;
    int used[NEXP];
    for (int e = 0; e < NEXP; e++)
        used[e] = c->phi_e[e] > 0.0f;
    if (c->nu < SLOW_PEAK_NU && sso_track_phot_peak_z(&ph, used) > SLOW_PEAK_Z) {
        r->st->n_slow_one_epoch++;
        return SSO_OK;
    }
    r->st->n_slow_direct += fit->direct;
    sso_alert a;
    sso_alert_init(&a);
    double ra0 = NAN, dec0 = NAN, sig_sum = 0.0;
    int ne = 0;
    for (int e = 0; e < NEXP; e++) {
        if (!(c->phi_e[e] > 0.0f))
            continue; /* this epoch has no data at the trajectory */
        double x = tr[0] + tr[2] * r->t_h[e] + 1.0, y = tr[1] + tr[3] * r->t_h[e] + 1.0;
        double ra, dec;
        sso_status st = sso_wcs_pix2sky(pi->wcs, 1, &x, &y, &ra, &dec);
        if (st)
            return st;
        sso_alert_obs *o = &a.obs[ne];
        o->mjd = r->exp[e].mjd_mid;
        o->ra_deg = ra, o->dec_deg = dec;
        const double snr = c->psi_e[e] / sqrt(c->phi_e[e]);
        const double flux_e = ph.epoch_flux_e[e];
        o->snr = snr;
        o->exp_s = r->exp[e].exptime_s;
        /* centroid error of a PSF fit, background-limited: sqrt(2) sigma_psf / SNR (King 1983) */
        const double sig_px = snr > 0 ? SQRT2 * (PSF_FWHM_PX / 2.3548) / snr : NAN;
        o->rms_ra_arcsec = o->rms_dec_arcsec = sig_px * scale;
        sig_sum += sig_px;
        obs_on_detector(r, e, o, flux_e, ph.epoch_flux_err_e[e]);
        if (ne == 0)
            ra0 = ra, dec0 = dec;
        ne++;
    }
    if (ne == 0)
        return SSO_OK;
    a.n_epochs = ne;
    a.cls = SSO_ALERT_SLOW;
    a.score = c->nu;
    set_motion(&a, tr[2], tr[3], scale);
    const double v = hypot(tr[2], tr[3]);
    /* slope error of a straight-line fit with the mean per-epoch position error, over the epochs
     * used (a pair's rate rests on its two) */
    double tm = 0.0, s2 = 0.0;
    for (int e = 0; e < NEXP; e++)
        tm += c->phi_e[e] > 0.0f ? r->t_h[e] / ne : 0.0;
    for (int e = 0; e < NEXP; e++)
        s2 += c->phi_e[e] > 0.0f ? (r->t_h[e] - tm) * (r->t_h[e] - tm) : 0.0;
    const double sig_v = (sig_sum / ne) / sqrt(s2 > 0 ? s2 : 1.0);
    a.rate_sigma_arcsec_h = sig_v * scale;
    a.pa_sigma_deg = v > 0 ? fmin(180.0, sig_v / v * 180.0 / PI) : 180.0;
    char key[96];
    snprintf(key, sizeof key, "slow:%.4f:%.4f:%.1f:%.1f", ra0, dec0, tr[2], tr[3]);
    sso_status st = finish_alert(r, &a, key, 'S');
    if (st || !r->cfg->cutout_dir)
        return st;
    double xe[NEXP], ye[NEXP];
    for (int e = 0; e < NEXP; e++) {
        const int on = c->phi_e[e] > 0.0f;
        xe[e] = on ? tr[0] + tr[2] * r->t_h[e] : NAN;
        ye[e] = on ? tr[1] + tr[3] * r->t_h[e] : NAN;
    }
    return write_cutouts(r, pi, pv->diff, pv->dmask, xe, ye, &r->alerts[r->n_alerts - 1]);
}

/* Whether alert a (slow, this patch) already holds fast candidate f: within 1" at >= 2 epochs. */
static int held_by(const sso_alert *a, const double *ra, const double *dec, const double *mjd, int n)
{
    int close = 0;
    for (int i = 0; i < a->n_epochs; i++)
        for (int k = 0; k < n; k++)
            if (fabs(a->obs[i].mjd - mjd[k]) < 1e-6) {
                const double dra = (a->obs[i].ra_deg - ra[k]) * cos(dec[k] * PI / 180.0);
                close += hypot(dra, a->obs[i].dec_deg - dec[k]) * 3600.0 < 1.0;
            }
    return close >= 2;
}

/* Removes alert i (its cutout file too): an alert that a better one replaces, before anything
 * is written or published. */
static void drop_alert(run_state *r, size_t i)
{
    if (r->cfg->cutout_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.fits", r->cfg->cutout_dir, r->alerts[i].alert_id);
        remove(path);
    }
    memmove(&r->alerts[i], &r->alerts[i + 1], (r->n_alerts - i - 1) * sizeof *r->alerts);
    r->n_alerts--;
}

/* Fast alert a's track in this patch's 0-based pixels: its observations mapped back (the patches
 * share one tangent plane, so a mover another patch found maps onto this one, off its edges too)
 * and a least-squares line in time through them, evaluated at every epoch. 0 if a has < 2. */
static int alert_track_px(const run_state *r, const sso_patch_info *pi, const sso_alert *a,
                          double *x, double *y)
{
    double sw = 0, st_ = 0, stt = 0, sx = 0, sy = 0, stx = 0, sty = 0;
    int n = 0;
    for (int i = 0; i < a->n_epochs; i++) {
        int e = 0;
        while (e < NEXP && fabs(r->exp[e].mjd_mid - a->obs[i].mjd) > 1e-6)
            e++;
        double px, py, ra = a->obs[i].ra_deg, dec = a->obs[i].dec_deg;
        if (e == NEXP || sso_wcs_sky2pix(pi->wcs, 1, &ra, &dec, &px, &py) != SSO_OK || !isfinite(px))
            continue;
        const double t = r->t_h[e];
        sw += 1, st_ += t, stt += t * t, sx += px - 1.0, sy += py - 1.0, stx += t * (px - 1.0),
            sty += t * (py - 1.0), n++;
    }
    const double den = sw * stt - st_ * st_;
    if (n < 2 || !(den > 1e-12))
        return 0;
    const double vx = (sw * stx - st_ * sx) / den, vy = (sw * sty - st_ * sy) / den;
    for (int e = 0; e < NEXP; e++)
        x[e] = (sx + vx * (sw * r->t_h[e] - st_)) / sw, y[e] = (sy + vy * (sw * r->t_h[e] - st_)) / sw;
    return 1;
}

/* Whether the weaker of two fast tracks is the stronger one again (positions at every epoch
 * within 1": the same mover seen by two overlapping patches, each through the epochs on it), or a
 * partial fit of it (each of the weaker one's trails with signal on the stronger one's trail of that
 * epoch: centre within 3 px across it and overlapping it along, at >= 2 epochs: a wrong rate
 * fitted to pieces of a bright trail that a patch edge cuts; ccd seed 1, a 330 px trail). w_on:
 * the weaker one's epochs with signal; len_s, len_w: the trails' lengths. */
static int fast_same(const double *xs, const double *ys, const double *xw, const double *yw,
                     const int *w_on, double len_s, double len_w, double tol_px)
{
    int same = 1, on = 0, n = 0;
    for (int e = 0; e < NEXP; e++) {
        same &= hypot(xs[e] - xw[e], ys[e] - yw[e]) <= tol_px;
        if (!w_on[e])
            continue;
        n++;
        const double ex = xs[(e + 1) % NEXP] - xs[e], ey = ys[(e + 1) % NEXP] - ys[e];
        const double dn = hypot(ex, ey), ux = dn > 0 ? ex / dn : 1.0, uy = dn > 0 ? ey / dn : 0.0;
        const double dx = xw[e] - xs[e], dy = yw[e] - ys[e], al = dx * ux + dy * uy;
        const double across = fabs(-dx * uy + dy * ux);
        on += across <= 3.0 && fabs(al) < 0.5 * (len_s + len_w);
    }
    return same || (n >= 2 && on == n);
}

/* Alert a's flux [e-] at epoch e: from its magnitude there and the detector's MAGZEROP, gain and
 * exposure time (the inverse of obs_on_detector), or else the mean over its epochs (a mover's
 * flux is constant); NAN if none is known. */
static double alert_flux_e(const run_state *r, const sso_alert *a, int e)
{
    double sum = 0.0, at_e = NAN;
    int n = 0;
    for (int k = 0; k < a->n_epochs; k++) {
        const sso_alert_obs *o = &a->obs[k];
        int ek = 0;
        while (ek < NEXP && fabs(r->exp[ek].mjd_mid - o->mjd) > 1e-6)
            ek++;
        if (ek == NEXP || !isfinite(o->mag) || !r->meta[ek])
            continue;
        for (int d = 0; d < r->exp[ek].n_detectors; d++) {
            const det_meta *m = &r->meta[ek][d];
            if (!m->known || strncmp(m->name, o->det, sizeof o->det - 1) != 0)
                continue;
            const double f = m->gain_e_per_adu * m->exptime_s * pow(10.0, -0.4 * (o->mag - m->magzerop));
            if (isfinite(f)) {
                sum += f, n++;
                if (ek == e)
                    at_e = f;
            }
            break;
        }
    }
    return isfinite(at_e) ? at_e : n ? sum / n : NAN;
}

/* Explaining away by stronger alerts (either class, any patch): the light a stronger alert can put
 * into fast candidate c's trail at an epoch is its flux there times the fraction of its trail (or
 * its position) within 3 px of c's trail (sso_trail_share): a trail's flux estimate takes a point
 * source of flux F on it as F, and a piece of another trail as that piece's flux, so this is,
 * generously (3 px for a PSF of 1.6 px FWHM), that alert's part of c's measurement. It is summed
 * into lit[e]; an epoch where it reaches half c's flux is set aside whole (expl[e]), as is one
 * whose signal an alert of unknown flux touches. The epochs left, less lit, must still pass the
 * search's own acceptance, all its rules (sso_fast_accept; short_of_acceptance). ccd seed 1: a
 * slow mover's one epoch with noise elsewhere linked at a fast rate; pieces of a bright trail's
 * end with a cosmic ray; a 6.5 sigma epoch whose end touches a 137 px trail of SNR 47 (16% of its
 * flux that trail's: 5.5 sigma left, under the pair rule's 6). A trail merely crossing c's (ccd
 * seed 2: a 66 px trail at SNR 21 across a 323 px one of SNR 47: 7%) keeps it. */
static void mark_explained(const run_state *r, const sso_fast_cand *c, const sso_alert *a,
                           const double *xa, const double *ya, int *expl, double *lit)
{
    const double scale = r->cfg->patch.scale_arcsec, exp_h = r->exp[0].exptime_s / 3600.0;
    const double la = a->cls == SSO_ALERT_FAST ? a->trail_length_arcsec / scale : a->rate_arcsec_h * exp_h / scale;
    const double tha = atan2(ya[NEXP - 1] - ya[0], xa[NEXP - 1] - xa[0]);
    for (int e = 0; e < NEXP; e++) {
        if (expl[e] || !(c->flux_err_e[e] > 0.0f) || !isfinite(c->x_px[e]))
            continue;
        const double share = sso_trail_share(xa[e], ya[e], isfinite(la) ? la : 0.0, tha, c->x_px[e],
                                             c->y_px[e], c->len_px, c->theta_rad, 3.0);
        if (!(share > 0.0))
            continue;
        const double fa = alert_flux_e(r, a, e);
        lit[e] += isfinite(fa) ? fa * share : 0.0;
        expl[e] = !isfinite(fa) || lit[e] >= 0.5 * c->flux_e[e];
    }
}

/* Fast-candidate epochs whose trail runs along a mask (sso_trail_hugs_mask, host/veto.h: within
 * HUG_R_PX across, over >= HUG_FRAC of its length and >= HUG_MIN_PX) hold no evidence: ccd seeds
 * 1-2 had two false fast alerts with an epoch on the halo of a flagged vertical cosmic-ray track. */
#define HUG_R_PX 2
#define HUG_MIN_PX 12
#define HUG_FRAC 0.5

static int short_of_acceptance(const run_state *r, const sso_fast_cand *c, const int *expl,
                               const double *lit)
{
    int any = 0;
    for (int e = 0; e < NEXP; e++)
        any |= expl[e] || lit[e] > 0.0;
    if (!any)
        return 0;
    /* the search's own acceptance (sso_fast_accept) on the epochs left, less the light the
     * stronger alerts account for */
    double psi[NEXP], phi[NEXP];
    for (int e = 0; e < NEXP; e++) {
        psi[e] = phi[e] = 0.0;
        if (expl[e] || !(c->flux_err_e[e] > 0.0f))
            continue;
        phi[e] = 1.0 / ((double)c->flux_err_e[e] * c->flux_err_e[e]);
        psi[e] = (c->flux_e[e] - lit[e]) * phi[e];
    }
    return !sso_fast_accept(&r->cfg->fast_params, psi, phi, NEXP, c->x_px, c->y_px, NULL);
}

#define SSO_FAST_MAX_REPLACED 4 /* slow alerts one fast alert may replace */

/* The slope error [px/h] of a straight line x(t) fitted by weighted least squares to n positions at
 * times t_h with errors sig_px: 1 / sqrt(sum w (t - t_w)^2), w = 1 / sig^2, t_w the weighted mean
 * time. NaN with fewer than 2 usable points or no spread in time. */
static double slope_sigma(const double *t_h, const double *sig_px, int n)
{
    double sw = 0.0, swt = 0.0;
    for (int i = 0; i < n; i++)
        if (sig_px[i] > 0.0 && isfinite(sig_px[i]))
            sw += 1.0 / (sig_px[i] * sig_px[i]), swt += t_h[i] / (sig_px[i] * sig_px[i]);
    if (!(sw > 0.0))
        return NAN;
    const double tw = swt / sw;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (sig_px[i] > 0.0 && isfinite(sig_px[i]))
            s += (t_h[i] - tw) * (t_h[i] - tw) / (sig_px[i] * sig_px[i]);
    return s > 0.0 ? 1.0 / sqrt(s) : NAN;
}

/* A fast-search candidate as a class "fast" alert (or nothing, if a slow alert of this patch,
 * those from index first_slow on, already holds it, and it is within the slow search's speeds; or
 * if a fast alert holds it; slow alerts at the grid's edge that it holds give way to it). Per-epoch fluxes are the exact trail-template
 * fluxes of sso/fast.h; the position error adds the along-trail term L / (2 SNR) to the PSF term. */
static sso_status measure_fast(run_state *r, const sso_patch_info *pi, const sso_fast_cand *c,
                               size_t *first_slow, float *const *diff, uint8_t *const *dmask,
                               uint8_t *const *pmask, int *pushed)
{
    const double scale = r->cfg->patch.scale_arcsec;
    const float snr_min = r->cfg->fast_params.epoch_snr_min;
    sso_alert a;
    sso_alert_init(&a);
    double ra[NEXP], dec[NEXP], mjd[NEXP], t_h[NEXP], sig_along[NEXP], sig_across[NEXP];
    int ne = 0;
    for (int e = 0; e < NEXP; e++) {
        if (!(c->snr[e] >= snr_min) || !isfinite(c->x_px[e]))
            continue;
        double x = c->x_px[e] + 1.0, y = c->y_px[e] + 1.0;
        sso_status st = sso_wcs_pix2sky(pi->wcs, 1, &x, &y, &ra[ne], &dec[ne]);
        if (st)
            return st;
        mjd[ne] = r->exp[e].mjd_mid;
        sso_alert_obs *o = &a.obs[ne];
        o->mjd = mjd[ne];
        o->ra_deg = ra[ne], o->dec_deg = dec[ne];
        o->snr = c->snr[e];
        o->exp_s = r->exp[e].exptime_s;
        const double sig_psf = SQRT2 * (PSF_FWHM_PX / 2.3548) / c->snr[e];
        const double sig_px = hypot(sig_psf, c->len_px / (2.0 * c->snr[e]));
        o->rms_ra_arcsec = o->rms_dec_arcsec = sig_px * scale;
        t_h[ne] = r->t_h[e], sig_along[ne] = sig_px, sig_across[ne] = sig_psf;
        obs_on_detector(r, e, o, c->flux_e[e], c->flux_err_e[e]);
        ne++;
    }
    if (ne < 1)
        return SSO_OK;
    /* not twice: a fast alert of any patch (overlapping patches each see a mover near their
     * boundaries through the epochs on them; a second, poorer fit within one patch) that holds it
     * (within 1" at 2 epochs), is the same track or a partial fit of it, or whose partial fit it
     * is: the higher score stays. Then explaining away by the stronger alerts (mark_explained).
     * Each alert's track is mapped into this patch once. */
    size_t drop[SSO_FAST_MAX_REPLACED];
    int n_drop = 0, c_on[NEXP], expl[NEXP] = {0};
    double lit[NEXP] = {0.0};
    const double tol_px = 1.0 / r->cfg->patch.scale_arcsec;
    for (int e = 0; e < NEXP; e++)
        c_on[e] = c->snr[e] >= snr_min && isfinite(c->x_px[e]);
    for (size_t i = 0; i < r->n_alerts; i++) {
        const sso_alert *fa = &r->alerts[i];
        double xa[NEXP], ya[NEXP];
        const int has_track = alert_track_px(r, pi, fa, xa, ya);
        if (fa->cls == SSO_ALERT_FAST) {
            int dup = held_by(fa, ra, dec, mjd, ne);
            if (!dup && has_track) {
                int a_on[NEXP] = {0};
                for (int k = 0; k < fa->n_epochs; k++)
                    for (int e = 0; e < NEXP; e++)
                        a_on[e] |= fabs(r->exp[e].mjd_mid - fa->obs[k].mjd) < 1e-6;
                const double len_a = fa->trail_length_arcsec / r->cfg->patch.scale_arcsec;
                dup = fa->score >= c->nu ? fast_same(xa, ya, c->x_px, c->y_px, c_on, len_a, c->len_px, tol_px)
                                         : fast_same(c->x_px, c->y_px, xa, ya, a_on, c->len_px, len_a, tol_px);
            }
            if (dup) {
                if (fa->score >= c->nu || n_drop == SSO_FAST_MAX_REPLACED)
                    return SSO_OK;
                drop[n_drop++] = i;
                continue;
            }
        }
        if (has_track && fa->score >= c->nu)
            mark_explained(r, c, fa, xa, ya, expl, lit);
    }
    const int n_drop_fast = n_drop;
    int n_hug = 0; /* epochs whose trail runs along a mask hold no evidence either */
    for (int e = 0; e < NEXP; e++)
        if (c_on[e] && pmask &&
            sso_trail_hugs_mask(pmask[e], pi->width_px, pi->height_px, c->x_px[e], c->y_px[e], c->len_px,
                                c->theta_rad, HUG_R_PX, HUG_MIN_PX, HUG_FRAC)) {
            if (r->debug_veto)
                fprintf(stderr, "HUG e%d x %.1f y %.1f len %.1f snr %.1f nu %.1f\n", e, c->x_px[e],
                        c->y_px[e], c->len_px, (double)c->snr[e], (double)c->nu);
            expl[e] = 1, n_hug++;
        }
    if (short_of_acceptance(r, c, expl, lit)) {
        r->st->n_fast_mask_edge += n_hug > 0;
        r->st->n_fast_explained++;
        return SSO_OK;
    }
    /* a slow alert of this patch that holds it: the slow alert stays and the candidate is dropped,
     * unless the candidate is faster than the slow search reaches (then the slow alert can only be
     * a partial fit of it: demo seed 1, a 12.6"/h mover at SNR 75 lost to one). Beyond vmax, a
     * slow alert at the grid's edge (>= 0.9 vmax) that it holds is such a partial fit with the
     * wrong motion (ccd seeds 1-2: 4 of the 5 false slow alerts left by the streak veto) and gives
     * way to the fast alert. So does a 2-epoch slow alert (the pair pass): in the band 2 epochs
     * cover, each epoch is the other's template, and the mover's negative image in the difference
     * pulls the stack's peaks apart (ccd seeds 1-2: 0.06-0.07" rms at SNR >= 20, rate 0.9-1.4% off),
     * where the fast search's track fit measured the same movers to 0.007-0.013" and 0.4-0.7%. */
    const double v_px_h = hypot(c->vx_px_h, c->vy_px_h), vmax_px_h = r->cfg->stack.vmax_px_h;
    const int beyond_slow = v_px_h > 1.2 * vmax_px_h;
    for (size_t i = *first_slow; i < r->n_alerts; i++) {
        const sso_alert *sa = &r->alerts[i];
        if (sa->cls != SSO_ALERT_SLOW || !held_by(sa, ra, dec, mjd, ne))
            continue;
        if (((v_px_h > vmax_px_h && sa->rate_arcsec_h >= 0.9 * vmax_px_h * scale) || sa->n_epochs == 2) &&
            n_drop < SSO_FAST_MAX_REPLACED)
            drop[n_drop++] = i;
        else if (!beyond_slow)
            return SSO_OK;
    }
    r->st->n_replaced_slow += n_drop - n_drop_fast;
    r->st->n_fast_duplicates += n_drop_fast;
    for (int k = 1; k < n_drop; k++) /* increasing (the fast ones may precede first_slow) */
        for (int j = k; j > 0 && drop[j] < drop[j - 1]; j--) {
            size_t tmp = drop[j];
            drop[j] = drop[j - 1], drop[j - 1] = tmp;
        }
    for (int k = n_drop - 1; k >= 0; k--) {
        drop_alert(r, drop[k]);
        if (drop[k] < *first_slow)
            (*first_slow)--;
    }
    a.n_epochs = ne;
    a.cls = SSO_ALERT_FAST;
    a.score = c->nu;
    set_motion(&a, c->vx_px_h, c->vy_px_h, scale);
    /* the rate's error from the epochs' errors along the trail (which hold its L / (2 SNR)), the
     * direction's from those across it (the PSF's alone), each as a weighted line's slope; the
     * trails' lengths, which the track fit also uses, are left out, so this errs large (checked
     * against the truth in bench/results/fast-bank-full-res-2026-11-23.md) */
    const double sv_along = slope_sigma(t_h, sig_along, ne), sv_across = slope_sigma(t_h, sig_across, ne);
    a.rate_sigma_arcsec_h = sv_along * scale;
    a.pa_sigma_deg = v_px_h > 0.0 && isfinite(sv_across) ? fmin(180.0, sv_across / v_px_h * 180.0 / PI)
                                                         : NAN;
    a.has_trail = 1;
    a.trail_length_arcsec = c->len_px * scale;
    a.trail_angle_deg = a.pa_deg;
    char key[96];
    snprintf(key, sizeof key, "fast:%.4f:%.4f:%.0f:%.0f", ra[0], dec[0], c->vx_px_h, c->vy_px_h);
    sso_status st = finish_alert(r, &a, key, 'F');
    if (pushed)
        *pushed = st == SSO_OK;
    if (st || !r->cfg->cutout_dir || !diff)
        return st;
    double xe[NEXP], ye[NEXP]; /* the trail's centre (mid-exposure) in the epochs with signal */
    for (int e = 0; e < NEXP; e++) {
        const int on = c->snr[e] >= snr_min && isfinite(c->x_px[e]);
        xe[e] = on ? c->x_px[e] : NAN, ye[e] = on ? c->y_px[e] : NAN;
    }
    return write_cutouts(r, pi, diff, dmask, xe, ye, &r->alerts[r->n_alerts - 1]);
}

/* ---- fast movers across patches ------------------------------------------------------------- */

/* The patch margin covers slow motion only: a fast mover seen in 2 exposures may have one trail in
 * each of two patches, and neither patch's search can link it (ccd seed 2: two movers at 127 and
 * 171"/h, SNR 49-128 per epoch, lost so). keep_loose() keeps, per patch, the streaks no candidate
 * of its search holds (held_by_cand) that could be such a half: not sharp, not clipped (the centre
 * is the mid-exposure position), SNR >= pair_snr_min and L / (2 SNR) <= 5 px, centre in the
 * patch's core (one patch keeps a streak), trail not along a mask, and at some other epoch a
 * position along its own motion (either sense) that lies off the patch. cross_patch() then
 * links, strongest first, each to the best partner of another epoch in another patch
 * (sso_fast_link_mismatch <= 1, on the plane the patches share), where no one patch's core holds
 * both centres (a patch that owned both and did not link them had its reasons; one that held
 * them in its margin may have seen them clipped), applies the search's acceptance to the pair
 * (sso_fast_accept: the pair rule, fluxes consistent) and hands it to measure_fast as a 2-epoch
 * candidate in the first streak's patch frame, where the duplicate, explaining-away and
 * slow-alert rules run as for any candidate. No cutouts for these (the patches' images are
 * gone). */
/* Whether a candidate of the patch's search with signal at streak s's epoch holds it
 * (sso_fast_cand_holds, the search's own rule; a streak's `used` also marks every seed tried,
 * accepted or not). */
static int held_by_cand(const sso_fast_result *fres, const sso_fast_streak *s, float snr_min)
{
    for (size_t i = 0; i < sso_fast_result_count(fres); i++) {
        const sso_fast_cand *c = sso_fast_result_get(fres, i);
        if (c->snr[s->epoch] >= snr_min && isfinite(c->x_px[s->epoch]) && sso_fast_cand_holds(c, s))
            return 1;
    }
    return 0;
}

/* A streak's centre along its trail is known to ~L / (2 SNR) (the alerts' own term): the guided
 * stack, which refines it jointly over the epochs, cannot run on a cross-patch pair (the patches'
 * pixels are gone), so such a pair is made only of streaks measured to 0.5" along (ccd seeds 1-2:
 * two alerts of real movers at SNR 6-7 per epoch and 285-375 px, placed 2.8-6.8" off). */
#define XLINK_ALONG_MAX_PX 5.0

static sso_status keep_loose(run_state *r, int k, const sso_patch_info *pi, const sso_fast_result *fres,
                             uint8_t *const *pmask)
{
    const sso_fast_params *fp = &r->cfg->fast_params;
    const double exp_h = r->exp[0].exptime_s / 3600.0;
    const int w = pi->width_px, h = pi->height_px;
    for (size_t i = 0; i < sso_fast_result_streak_count(fres); i++) {
        const sso_fast_streak *s = sso_fast_result_streak(fres, i);
        if (s->sharp || s->clipped || !(s->snr >= fp->pair_snr_min) ||
            s->len_px > 2.0 * XLINK_ALONG_MAX_PX * s->snr || s->epoch < 0 ||
            s->epoch >= NEXP || !sso_patch_plan_in_core(r->plan, k, s->xc_px + 1.0, s->yc_px + 1.0) ||
            sso_trail_hugs_mask(pmask[s->epoch], w, h, s->xc_px, s->yc_px, s->len_px, s->theta_rad,
                                HUG_R_PX, HUG_MIN_PX, HUG_FRAC))
            continue;
        const double v = s->len_px / exp_h, ux = cos(s->theta_rad), uy = sin(s->theta_rad);
        int off = 0;
        for (int e = 0; e < NEXP && !off; e++)
            for (int sg = -1; sg <= 1 && e != s->epoch; sg += 2) {
                const double d = sg * v * (r->t_h[e] - r->t_h[s->epoch]);
                const double x = s->xc_px + d * ux, y = s->yc_px + d * uy;
                off |= x < 0.0 || y < 0.0 || x > w - 1.0 || y > h - 1.0;
            }
        if (!off || held_by_cand(fres, s, fp->epoch_snr_min))
            continue;
        if (r->n_loose == r->cap_loose) {
            const size_t nc = r->cap_loose ? 2 * r->cap_loose : 256;
            sso_fast_streak *ns = realloc(r->loose, nc * sizeof *ns);
            if (ns)
                r->loose = ns;
            int *np = realloc(r->loose_patch, nc * sizeof *np);
            if (np)
                r->loose_patch = np;
            if (!ns || !np)
                return sso_fail(SSO_ERR_NOMEM, "pipeline: cross-patch streaks");
            r->cap_loose = nc;
        }
        sso_fast_streak q = *s;
        const double ou = pi->u0_px + 0.5, ov = pi->v0_px + 0.5;
        q.xc_px += ou, q.x1_px += ou, q.x2_px += ou;
        q.yc_px += ov, q.y1_px += ov, q.y2_px += ov;
        r->loose[r->n_loose] = q;
        r->loose_patch[r->n_loose++] = k;
    }
    return SSO_OK;
}

/* Whether patch k's core holds the centre of streak s (on the plane: patch pixel + u0 + 0.5). */
static int core_holds(const run_state *r, int k, const sso_patch_info *pi, const sso_fast_streak *s)
{
    return sso_patch_plan_in_core(r->plan, k, s->xc_px - pi->u0_px + 0.5, s->yc_px - pi->v0_px + 0.5);
}

static sso_status cross_patch(run_state *r)
{
    const size_t n = r->n_loose;
    if (n < 2 || !r->cfg->fast)
        return SSO_OK;
    const sso_fast_params *fp = &r->cfg->fast_params;
    const double exp_h = r->exp[0].exptime_s / 3600.0;
    size_t *ord = malloc(n * sizeof *ord);
    uint8_t *used = calloc(n, 1);
    sso_patch_info *pis = malloc((size_t)r->n_patches * sizeof *pis);
    sso_status st = SSO_OK;
    if (!ord || !used || !pis) {
        st = sso_fail(SSO_ERR_NOMEM, "pipeline: cross-patch links");
        goto exit;
    }
    for (int k = 0; k < r->n_patches; k++)
        if ((st = sso_patch_plan_get(r->plan, k, &pis[k])))
            goto exit;
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    for (size_t i = 1; i < n; i++) /* by SNR, descending; stable (patch, then search order) */
        for (size_t j = i; j > 0 && r->loose[ord[j]].snr > r->loose[ord[j - 1]].snr; j--) {
            const size_t t = ord[j];
            ord[j] = ord[j - 1], ord[j - 1] = t;
        }
    for (size_t oi = 0; oi < n; oi++) {
        const size_t ia = ord[oi];
        if (used[ia])
            continue;
        const sso_fast_streak *a = &r->loose[ia];
        const int ka = r->loose_patch[ia];
        double best = 1.0;
        size_t ib = n;
        for (size_t j = 0; j < n; j++) {
            const sso_fast_streak *b = &r->loose[j];
            if (used[j] || r->loose_patch[j] == ka || b->epoch == a->epoch)
                continue;
            const double mm = sso_fast_link_mismatch(a, b, r->t_h, exp_h);
            if (!(mm <= best))
                continue;
            int both = 0;
            for (int k = 0; k < r->n_patches && !both; k++)
                both = core_holds(r, k, &pis[k], a) && core_holds(r, k, &pis[k], b);
            if (!both)
                best = mm, ib = j;
        }
        if (r->debug_veto) /* SSO_DEBUG_VETO: each loose streak, linked or not */
            fprintf(stderr, "XLINK p%d e%d u %.1f v %.1f len %.1f snr %.1f -> %s\n", ka, a->epoch, a->xc_px,
                    a->yc_px, a->len_px, (double)a->snr, ib == n ? "none" : "pair");
        if (ib == n)
            continue;
        const sso_fast_streak *b = &r->loose[ib];
        const sso_patch_info *pa = &pis[ka];
        const double ou = pa->u0_px + 0.5, ov = pa->v0_px + 0.5;
        const double dt = r->t_h[b->epoch] - r->t_h[a->epoch];
        sso_fast_cand c;
        memset(&c, 0, sizeof c);
        c.vx_px_h = (b->xc_px - a->xc_px) / dt, c.vy_px_h = (b->yc_px - a->yc_px) / dt;
        c.x0_px = a->xc_px - ou - c.vx_px_h * r->t_h[a->epoch];
        c.y0_px = a->yc_px - ov - c.vy_px_h * r->t_h[a->epoch];
        c.len_px = hypot(c.vx_px_h, c.vy_px_h) * exp_h;
        c.theta_rad = atan2(c.vy_px_h, c.vx_px_h);
        double psi[NEXP] = {0}, phi[NEXP] = {0};
        const sso_fast_streak *ab[2] = {a, b};
        for (int e = 0; e < NEXP; e++)
            c.x_px[e] = c.x0_px + c.vx_px_h * r->t_h[e], c.y_px[e] = c.y0_px + c.vy_px_h * r->t_h[e];
        for (int m = 0; m < 2; m++) {
            const int e = ab[m]->epoch;
            c.x_px[e] = ab[m]->xc_px - ou, c.y_px[e] = ab[m]->yc_px - ov; /* measured, not the line's */
            c.flux_e[e] = ab[m]->flux_e, c.flux_err_e[e] = ab[m]->flux_err_e, c.snr[e] = ab[m]->snr;
            phi[e] = 1.0 / ((double)ab[m]->flux_err_e * ab[m]->flux_err_e);
            psi[e] = ab[m]->flux_e * phi[e];
        }
        if (!sso_fast_accept(fp, psi, phi, NEXP, c.x_px, c.y_px, &c.n_epochs))
            continue;
        const double sa = psi[a->epoch] + psi[b->epoch], sb = phi[a->epoch] + phi[b->epoch];
        c.nu = (float)(sa / sqrt(sb));
        c.flux_e_all = (float)(sa / sb), c.flux_err_e_all = (float)(1.0 / sqrt(sb));
        c.n_linked = 2;
        size_t first_slow = 0; /* every slow alert may hold it */
        int pushed = 0;
        if ((st = measure_fast(r, pa, &c, &first_slow, NULL, NULL, NULL, &pushed)))
            goto exit;
        if (pushed) {
            used[ia] = used[ib] = 1;
            r->st->n_fast_cross_patch++;
        }
    }
exit:
    free(ord);
    free(used);
    free(pis);
    return st;
}

/* Developer aid: with SSO_DEBUG_DUMP=DIR set, each patch's per-epoch images of one stage are
 * written as DIR/<stage>-p<k>-e<e>.fits (float32) for inspection in ds9, with the epoch's time
 * (SSO_T_H), the exposure time (SSO_EXPH) and, in each patch's img-p<k>-e0.fits second HDU, the
 * matched-filter kernel: what bench/fast_probe.c needs to re-run the fast search on a cut-out.
 * SSO_DEBUG_DUMP_PATCH=k limits it to patch k (a 4096 px patch is ~1.3 GB of dumps, a ccd quartet's
 * 9 patches ~12 GB). Off by default. */
static void debug_dump(const run_state *r, const sso_patch_info *pi, const char *stage, int k, int e,
                       const float *img, int w, int h)
{
    const char *dir = getenv("SSO_DEBUG_DUMP"), *only = getenv("SSO_DEBUG_DUMP_PATCH");
    if (!dir || !img || (only && *only && atoi(only) != k))
        return;
    char path[4096];
    snprintf(path, sizeof path, "!%s/%s-p%d-e%d.fits", dir, stage, k, e);
    fitsfile *f = NULL;
    int fst = 0;
    long naxes[2] = {w, h};
    fits_create_file(&f, path, &fst);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &fst);
    fits_write_img(f, TFLOAT, 1, (LONGLONG)w * h, (void *)img, &fst);
    double ra0, dec0, crpix1 = 0.5 - pi->u0_px, crpix2 = 0.5 - pi->v0_px;
    double cd = r->cfg->patch.scale_arcsec / 3600.0, mcd = -cd;
    sso_patch_plan_tangent(r->plan, &ra0, &dec0);
    fits_write_key(f, TSTRING, "CTYPE1", "RA---TAN", NULL, &fst);
    fits_write_key(f, TSTRING, "CTYPE2", "DEC--TAN", NULL, &fst);
    fits_write_key(f, TDOUBLE, "CRVAL1", &ra0, NULL, &fst);
    fits_write_key(f, TDOUBLE, "CRVAL2", &dec0, NULL, &fst);
    fits_write_key(f, TDOUBLE, "CRPIX1", &crpix1, NULL, &fst);
    fits_write_key(f, TDOUBLE, "CRPIX2", &crpix2, NULL, &fst);
    fits_write_key(f, TDOUBLE, "CD1_1", &mcd, NULL, &fst);
    fits_write_key(f, TDOUBLE, "CD2_2", &cd, NULL, &fst);
    double t_h = r->t_h[e], exp_h = r->exp[0].exptime_s / 3600.0;
    int psf_half = r->cfg->psf_half_px;
    fits_write_key(f, TDOUBLE, "SSO_T_H", &t_h, "mid-exposure time about the mean epoch [h]", &fst);
    fits_write_key(f, TDOUBLE, "SSO_EXPH", &exp_h, "exposure time [h]", &fst);
    fits_write_key(f, TINT, "SSO_PSFH", &psf_half, "matched-filter kernel half width [px]", &fst);
    if (e == 0 && !strcmp(stage, "img")) { /* the matched-filter kernel, as an extension */
        long kn[2] = {2 * psf_half + 1, 2 * psf_half + 1};
        fits_create_img(f, FLOAT_IMG, 2, kn, &fst);
        fits_write_img(f, TFLOAT, 1, kn[0] * kn[1], r->tmpl, &fst);
    }
    fits_close_file(f, &fst);
}

/* ---- phase 2: per patch --------------------------------------------------------------------- */

/* Epochs with data on trajectory c (mask not MASK_UNCOVERED at its nearest pixel). A position off
 * the patch counts as covered: unknown, so a pair there is not taken for a 2-epoch mover. */
static int covered_epochs(const run_state *r, const patch_buf *b, int w, int h, const sso_stack_cand *c)
{
    int n = 0;
    for (int e = 0; e < NEXP; e++) {
        const long x = lround(c->x0_px + c->vx_px_h * r->t_h[e]);
        const long y = lround(c->y0_px + c->vy_px_h * r->t_h[e]);
        n += x < 0 || x >= w || y < 0 || y >= h || b->mask[e][(size_t)y * w + x] != MASK_UNCOVERED;
    }
    return n;
}

/* The static sky's significance at (x, y) [patch px, 0-based]: the matched filter (r->tmpl) on
 * smin, the least of the epochs' images per pixel (a mover is in one epoch at a time, a star or
 * galaxy in all), with the variance var of an epoch there. 0 off the patch. */
static double static_snr(const run_state *r, const float *smin, const float *var, int w, int h, double x,
                         double y)
{
    const int half = r->cfg->psf_half_px, n = 2 * half + 1;
    const long xc = lround(x), yc = lround(y);
    double ps = 0.0, ph = 0.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++) {
            const long xx = xc + dx, yy = yc + dy;
            if (xx < 0 || xx >= w || yy < 0 || yy >= h)
                continue;
            const size_t i = (size_t)yy * w + xx;
            const double t = r->tmpl[(dy + half) * n + dx + half], v = var[i];
            if (!(v > 0.0) || !isfinite(v))
                continue;
            ps += t * smin[i] / v, ph += t * t / v;
        }
    return ph > 0.0 ? ps / sqrt(ph) : 0.0;
}

/* A 2-epoch pair on a static source: in a band that 2 epochs cover, each is the other's template
 * (D_b = -D_a), so a star's or galaxy's residual dipole (a PSF or position mismatch between the
 * two exposures) is a perfect "pair" at the dipole's separation. A mover is in one image at a time:
 * the least of the images is sky at its positions, a static source's is the source. Rejected when
 * the static sky at an epoch's position exceeds PAIR_STATIC_SNR sigma and PAIR_STATIC_FRAC of the
 * candidate's own SNR there (a mover crossing a faint galaxy stays). */
#define PAIR_STATIC_SNR 5.0
#define PAIR_STATIC_FRAC 0.5
static int pair_on_static(const run_state *r, const patch_buf *b, const float *smin, int w, int h,
                          const sso_stack_cand *c)
{
    for (int e = 0; e < NEXP; e++) {
        if (!(c->phi_e[e] > 0.0f))
            continue;
        const double x = c->x0_px + c->vx_px_h * r->t_h[e], y = c->y0_px + c->vy_px_h * r->t_h[e];
        const double s = static_snr(r, smin, b->var[e], w, h, x, y);
        if (s > PAIR_STATIC_SNR && s > PAIR_STATIC_FRAC * c->psi_e[e] / sqrt(c->phi_e[e]))
            return 1;
    }
    return 0;
}

typedef struct cand_pool {
    sso_stack_cand *c;
    size_t n, cap;
} cand_pool;

/* One search's candidates (a velocity bin of the main pass or of the 2-epoch pass) that patch k
 * owns (first epoch in its core), re-checked on their refined track (recheck, with sp: that
 * pass's threshold and consistency), into the pool. smin (the 2-epoch pass; NULL for the main one):
 * its candidates must also have exactly 2 epochs with data on the track (covered_epochs: where a
 * third epoch covers the sky and saw nothing, masked or empty, the pair is the main pass's to
 * reject) and lie on no static source (pair_on_static). *n_core and *n_pooled count the owned and
 * the kept. */
static sso_status pool_search(run_state *r, int k, const sso_patch_info *pi, const sso_stack_result *res,
                              float *const *bpsi, float *const *bphi, float *const *psi, float *const *phi,
                              const sso_stack_params *sp, const float *smin, cand_pool *pool,
                              size_t *n_core, size_t *n_pooled)
{
    const size_t nb = sso_stack_result_count(res);
    for (size_t i = 0; i < nb; i++) {
        const sso_stack_cand *c = sso_stack_result_get(res, i);
        const double x_first = c->x0_px + c->vx_px_h * r->t_h[0] + 1.0;
        const double y_first = c->y0_px + c->vy_px_h * r->t_h[0] + 1.0;
        if (!sso_patch_plan_in_core(r->plan, k, x_first, y_first))
            continue;
        (*n_core)++;
        sso_stack_cand rc;
        if (!recheck(r, pi, c, bpsi, bphi, psi, phi, sp, &r->st->n_vetoed_epochs, &rc) ||
            (smin && (covered_epochs(r, &r->pb[k], pi->width_px, pi->height_px, &rc) != 2 ||
                      pair_on_static(r, &r->pb[k], smin, pi->width_px, pi->height_px, &rc)))) {
            r->st->n_rejected_refined++;
            continue;
        }
        if (pool->n == pool->cap) {
            size_t cap = pool->cap ? 2 * pool->cap : 256;
            sso_stack_cand *np = realloc(pool->c, cap * sizeof *np);
            if (!np)
                return sso_fail(SSO_ERR_NOMEM, "pipeline: %zu slow candidates", cap);
            pool->c = np, pool->cap = cap;
        }
        pool->c[pool->n++] = rc;
        (*n_pooled)++;
    }
    return SSO_OK;
}

/* One pass of the slow search on one velocity bin's maps (bpsi/bphi), its candidates pooled by
 * pool_search; *n_samples and *n_cand add the search's samples and candidates, t_search[0] its
 * search time and t_search[1] the device time of its kernels (the rest of the stage is the host's
 * consistency, merging and re-check). */
static sso_status stack_pass(run_state *r, int k, const sso_patch_info *pi, float *const *bpsi,
                             float *const *bphi, float *const *psi, float *const *phi,
                             const sso_stack_params *sp, const float *smin, cand_pool *pool,
                             size_t *n_core, size_t *n_pooled, long long *n_samples, size_t *n_cand,
                             double t_search[2])
{
    sso_stack_result *res = NULL;
    sso_status st = sso_stack_slow((const float *const *)bpsi, (const float *const *)bphi, NEXP,
                                   pi->width_px, pi->height_px, r->t_h, sp, &res);
    if (!st) {
        *n_samples += sso_stack_result_stats(res)->n_samples;
        t_search[0] += sso_stack_result_stats(res)->search_s;
        t_search[1] += sso_stack_result_stats(res)->kernel_s;
        *n_cand += sso_stack_result_count(res);
        st = pool_search(r, k, pi, res, bpsi, bphi, psi, phi, sp, smin, pool, n_core, n_pooled);
    }
    sso_stack_result_free(res);
    return st;
}

static sso_status process_patch(run_state *r, int k)
{
    sso_status st = SSO_OK;
    sso_patch_info pi;
    float *diff[NEXP] = {0}, *dvar[NEXP] = {0}, *psi[NEXP] = {0}, *phi[NEXP] = {0};
    float *tpsi[NEXP] = {0}, *tphi[NEXP] = {0};
    uint8_t *dmask[NEXP] = {0}, *ncov = NULL;
    float *smin = NULL;
    slow_fit *fits = NULL;
    sso_trail_maps *tmaps = NULL;
    cand_pool pool = {0};
    sso_fast_result *fres = NULL;
    patch_buf *b = &r->pb[k];

    if ((st = sso_patch_plan_get(r->plan, k, &pi)))
        return st;
    const int w = pi.width_px, h = pi.height_px;
    const size_t npx = (size_t)w * h;
    int have = 0;
    for (int e = 0; e < NEXP; e++)
        have += b->img[e] != NULL;
    if (have < 2) /* fewer than 2 epochs touch it: nothing to difference */
        goto exit;
    double t0 = now_s();
    for (int e = 0; e < NEXP; e++) {
        if ((st = patch_epoch_alloc(b, e, npx)))
            goto exit;
        diff[e] = malloc(npx * sizeof(float));
        dvar[e] = malloc(npx * sizeof(float));
        dmask[e] = malloc(npx);
        if (!diff[e] || !dvar[e] || !dmask[e]) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: difference buffers");
            goto exit;
        }
    }
    /* epochs with data per pixel, for the 2-epoch pass: where some pixel has exactly 2 */
    size_t n_pair_px = 0;
    if (r->cfg->slow_pairs) {
        if (!(ncov = malloc(npx))) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: coverage plane");
            goto exit;
        }
        for (size_t i = 0; i < npx; i++) {
            int n = 0;
            for (int e = 0; e < NEXP; e++)
                n += b->mask[e][i] != MASK_UNCOVERED;
            ncov[i] = (uint8_t)n;
            n_pair_px += n == 2;
        }
    }
    if (n_pair_px > 0) { /* the least of the epochs' images: the static sky (pair_on_static) */
        if (!(smin = malloc(npx * sizeof *smin))) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: static sky plane");
            goto exit;
        }
        for (size_t i = 0; i < npx; i++) {
            float m = INFINITY;
            for (int e = 0; e < NEXP; e++)
                if (!b->mask[e][i])
                    m = fminf(m, b->img[e][i]);
            smin[i] = isfinite(m) ? m : 0.0f;
        }
    }
    sso_difference_config dc;
    sso_difference_config_default(&dc);
    dc.backend = r->cfg->backend;
    if (r->cfg->static_gate) { /* the template only where the static sky is a source */
        dc.gate_kernel = r->tmpl;
        dc.gate_half = r->cfg->psf_half_px;
        dc.gate_snr = r->cfg->static_gate_snr;
    }
    sso_difference_stats ds;
    if ((st = sso_difference_patch(w, h, (const float *const *)b->img, (const float *const *)b->var,
                                   (const uint8_t *const *)b->mask, &dc, diff, dvar, dmask, &ds)))
        goto exit;
    for (int e = 0; e < NEXP; e++) {
        debug_dump(r, &pi, "img", k, e, b->img[e], w, h);
        debug_dump(r, &pi, "diff", k, e, diff[e], w, h);
        debug_dump(r, &pi, "dvar", k, e, dvar[e], w, h);
        if (getenv("SSO_DEBUG_DUMP") && dmask[e]) { /* the mask as float, for ds9 and tools */
            float *mf = malloc(npx * sizeof *mf);
            for (size_t i = 0; mf && i < npx; i++)
                mf[i] = dmask[e][i];
            debug_dump(r, &pi, "dmask", k, e, mf, w, h);
            free(mf);
        }
        if (!r->cfg->slow_direct_fit) { /* var and mask stay for the track photometry */
            free(b->img[e]);
            b->img[e] = NULL;
        }
    }
    double t1 = now_s();
    r->st->difference_s += t1 - t0;

    double s_point_max = 0.0, s_trail_max = 0.0;
    for (int e = 0; e < NEXP; e++) {
        psi[e] = malloc(npx * sizeof(float));
        phi[e] = malloc(npx * sizeof(float));
        if (!psi[e] || !phi[e]) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: psi/phi buffers");
            goto exit;
        }
        if ((st = sso_likelihood_on(r->cfg->backend, diff[e], dvar[e], dmask[e], w, h, r->tmpl,
                                    r->cfg->psf_half_px, SSO_LIKE_AUTO, psi[e], phi[e])))
            goto exit;
        /* calibrate psi/sqrt(phi) to unit dispersion (resampling correlates pixels): before the
         * stack, so every backend stacks the same calibrated images */
        double s_e = 1.0;
        if ((st = sso_noise_scale(psi[e], phi[e], npx, NOISE_SAMPLES, &s_e, NULL)))
            goto exit;
        sso_noise_apply(psi[e], phi[e], npx, s_e);
        s_point_max = fmax(s_point_max, s_e);
        debug_dump(r, &pi, "snr", k, e, psi[e], w, h);
    }
    double t2 = now_s();
    r->st->likelihood_s += t2 - t1;

    /* slow search, one velocity bin at a time: the point template's psi/phi for the slowest
     * movers, a trail template's (sso_trail_maps: on the backend, from the point psi/phi) for each
     * length/angle bin above; each bin's candidates re-checked on their bin's psi/phi, then merged
     * across bins (sso_stack_merge) and measured */
    const int nthr = r->cfg->n_threads > 0 ? r->cfg->n_threads : 1;
    double t_trail = 0.0, t_stack = 0.0, t_search[2] = {0.0, 0.0};
    size_t nc = 0, n_core = 0, n_main = 0, n_pairs = 0;
    long long n_samples = 0;
    for (int bi = 0; bi < r->n_bins; bi++) {
        const sso_stack_bin *bn = &r->bins[bi];
        float *const *bpsi = psi, *const *bphi = phi;
        double tb0 = now_s();
        if (bn->len_px > 0.0) {
            for (int e = 0; e < NEXP; e++) {
                if (!tpsi[e] && (!(tpsi[e] = malloc(npx * sizeof(float))) ||
                                 !(tphi[e] = malloc(npx * sizeof(float))))) {
                    st = sso_fail(SSO_ERR_NOMEM, "pipeline: trail psi/phi buffers");
                    goto exit;
                }
                if (!tmaps && (st = sso_trail_maps_open(r->cfg->backend, NEXP, (const float *const *)psi,
                                                        (const float *const *)phi, w, h, nthr, &tmaps)))
                    goto exit; /* the point maps, final from here on, held for every trail bin */
                if ((st = sso_trail_maps_correlate(tmaps, e, r->kern[bi], tpsi[e], tphi[e])))
                    goto exit;
                double s_b = 1.0; /* the trail correlation's own excess over the calibrated point maps */
                if ((st = sso_noise_scale(tpsi[e], tphi[e], npx, NOISE_SAMPLES, &s_b, NULL)))
                    goto exit;
                sso_noise_apply(tpsi[e], tphi[e], npx, s_b);
                s_trail_max = fmax(s_trail_max, s_b);
            }
            bpsi = tpsi, bphi = tphi;
        }
        double tb1 = now_s();
        t_trail += tb1 - tb0;
        sso_stack_params sp = r->cfg->stack;
        sp.n_threads = nthr;
        sp.backend = r->cfg->backend;
        if (r->n_bins > 1)
            sso_stack_params_set_bin(&sp, bn);
        if ((st = stack_pass(r, k, &pi, bpsi, bphi, psi, phi, &sp, NULL, &pool, &n_core, &n_main,
                             &n_samples, &nc, t_search)))
            goto exit;
        if (n_pair_px > 0) {
            /* the 2-epoch pass: the same bin on maps that keep only the pixels at most 2 epochs
             * cover (the point bin's into the trail buffers; a trail bin's in place, re-made from
             * the point maps by the next bin) */
            for (int e = 0; e < NEXP; e++) {
                if (!tpsi[e] && (!(tpsi[e] = malloc(npx * sizeof(float))) ||
                                 !(tphi[e] = malloc(npx * sizeof(float))))) {
                    st = sso_fail(SSO_ERR_NOMEM, "pipeline: 2-epoch pass psi/phi buffers");
                    goto exit;
                }
                const float *ps = bpsi[e], *ph = bphi[e];
                for (size_t i = 0; i < npx; i++) {
                    const int keep = ncov[i] <= 2;
                    tpsi[e][i] = keep ? ps[i] : 0.0f;
                    tphi[e][i] = keep ? ph[i] : 0.0f;
                }
            }
            sso_stack_params sp2 = sp;
            sp2.min_epochs = sp2.max_epochs = 2;
            sp2.epoch_snr_min = r->cfg->slow_pair_snr_min;
            if ((st = stack_pass(r, k, &pi, tpsi, tphi, psi, phi, &sp2, smin, &pool, &n_core, &n_pairs,
                                 &n_samples, &nc, t_search)))
                goto exit;
        }
        t_stack += now_s() - tb1;
    }
    r->st->n_stack_samples += n_samples;
    r->st->n_candidates += (long long)nc;
    r->st->likelihood_s += t_trail;
    r->st->stack_s += t_stack;
    double t3 = now_s();

    r->st->n_pair_candidates += (long long)n_pairs;
    size_t first_slow = r->n_alerts;
    size_t n_kept = pool.n;
    /* across bins and passes: one object, one candidate (a bright 2-epoch mover's pair claims its
     * epochs from the 3-epoch trajectories that borrow one of them at the grid's edge) */
    if ((r->n_bins > 1 || n_pairs > 0) &&
        (st = sso_stack_merge(pool.c, pool.n, NEXP, r->t_h, r->exp[0].exptime_s / 3600.0,
                              &r->cfg->stack, &n_kept)))
        goto exit;
    if (n_kept) {
        const patch_views pv = {psi, phi, diff, dvar, b->var, b->img, dmask, b->mask};
        if (!(fits = malloc(n_kept * sizeof *fits))) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: %zu slow fits", n_kept);
            goto exit;
        }
        slow_fit_job fj = {r, &pi, pool.c, &pv, fits};
        if ((st = sso_parallel_each(nthr, (int64_t)n_kept, slow_fit_one, &fj)))
            goto exit;
        for (size_t i = 0; i < n_kept; i++)
            if ((st = measure(r, &pi, &pool.c[i], &pv, &fits[i])))
                goto exit;
    }
    for (int e = 0; e < NEXP; e++) { /* the slow measurement's images: not needed further */
        free(b->img[e]);
        b->img[e] = NULL;
    }
    double t4 = now_s();
    r->st->measure_s += t4 - t3;
    size_t n_fast = 0, n_fast_core = 0;
    double cpu4 = 0.0; /* process CPU time: the patches run one at a time, so its change over the
                        * fast search is the search's own (its bank threads included) */
    if (r->cfg->fast) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        cpu4 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
        sso_fast_params fp = r->cfg->fast_params;
        fp.n_threads = r->cfg->n_threads > 0 ? r->cfg->n_threads : 1;
        fp.backend = r->cfg->backend;
        if ((st = sso_fast_search((const float *const *)diff, (const float *const *)dvar,
                                  (const uint8_t *const *)dmask, NEXP, w, h, r->t_h,
                                  r->exp[0].exptime_s / 3600.0, r->tmpl, r->cfg->psf_half_px, &fp,
                                  &fres)))
            goto exit;
        n_fast = sso_fast_result_count(fres);
        r->st->n_fast_candidates += (long long)n_fast;
        for (size_t i = 0; i < n_fast; i++) {
            const sso_fast_cand *fc = sso_fast_result_get(fres, i);
            /* this patch's if an epoch with signal lies in its core: a fast mover crosses
             * patches in one observation (the margin covers slow motion only), and the patch
             * that owns its first epoch may see no other; the patches that see it each fit it,
             * and measure_fast keeps the best of those fits */
            int own = 0;
            for (int e = 0; e < NEXP; e++)
                own |= fc->snr[e] >= r->cfg->fast_params.epoch_snr_min && isfinite(fc->x_px[e]) &&
                       sso_patch_plan_in_core(r->plan, k, fc->x_px[e] + 1.0, fc->y_px[e] + 1.0);
            if (!own)
                continue;
            if ((st = measure_fast(r, &pi, fc, &first_slow, diff, dmask, b->mask, NULL)))
                goto exit;
            n_fast_core++;
        }
        if ((st = keep_loose(r, k, &pi, fres, b->mask)))
            goto exit;
        r->st->fast_s += now_s() - t4;
    }
    progress(r, "patch", "patch %d/%d (%d,%d): difference %.2f s (%lld bright px masked, template on %.1f%%), "
             "psi/phi %.2f s, "
             "trail psi/phi %.2f s (%d bins), stack %.2f s (search %.2f s, device kernels %.3f s; %.3g samples, "
             "%.3g/s), %zu candidates, "
             "%zu in the core, %zu + %zu (2-epoch pass) after re-check, %zu after merging, noise scale max "
             "%.3f point, %.3f trail%s",
             k + 1, r->n_patches, pi.ix, pi.iy, t1 - t0, (long long)ds.n_bright,
             r->cfg->static_gate ? 100.0 * (double)ds.n_static / ((double)w * h) : 100.0, t2 - t1, t_trail,
             r->n_bins, t_stack, t_search[0], t_search[1], (double)n_samples, n_samples / fmax(t_stack, 1e-9), nc, n_core, n_main,
             n_pairs, n_kept, s_point_max, s_trail_max, r->cfg->fast ? "; fast search" : "");
    if (r->cfg->fast) {
        const sso_fast_stats *fs = sso_fast_result_stats(fres);
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        progress(r, "patch", "patch %d/%d: fast search %.2f s, %.2f s CPU (psi/phi %.2f, bank %.2f, measure %.2f, "
                 "link+stack %.2f s; %d streaks, %d sharp, %d links, %d seeds), %zu candidates, %zu in the core",
                 k + 1, r->n_patches, now_s() - t4,
                 (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - cpu4, fs ? fs->like_s : 0.0, fs ? fs->bank_s : 0.0,
                 fs ? fs->measure_s : 0.0, fs ? fs->link_s : 0.0, fs ? fs->n_streaks : 0,
                 fs ? fs->n_sharp : 0, fs ? fs->n_links : 0, fs ? fs->n_seeds : 0, n_fast, n_fast_core);
    }
exit:
    sso_fast_result_free(fres);
    for (int e = 0; e < NEXP; e++) {
        patch_epoch_free(b, e);
        free(diff[e]), free(dvar[e]), free(dmask[e]), free(psi[e]), free(phi[e]);
        free(tpsi[e]), free(tphi[e]);
    }
    free(pool.c);
    free(ncov);
    free(smin);
    free(fits);
    sso_trail_maps_close(tmaps);
    return st;
}

/* ---- the search around the phases: shared by sso_pipeline_run and the session ------------------ */

/* Epoch times, the observation id, the matched filter and the slow search's velocity bins; r->exp,
 * r->plan and r->n_patches are set. pcfg: the patches as planned (after the memory plan). */
static sso_status search_prepare(run_state *r, const sso_patch_config *pcfg)
{
    const sso_pipeline_config *cfg = r->cfg;
    sso_status st;
    double mjd_mean = 0.0;
    for (int e = 0; e < NEXP; e++)
        mjd_mean += r->exp[e].mjd_mid / NEXP;
    for (int e = 0; e < NEXP; e++)
        r->t_h[e] = (r->exp[e].mjd_mid - mjd_mean) * 24.0;
    /* the observation id, restricted to the characters an alert_id allows */
    {
        const char *s = r->exp[0].obs_id && r->exp[0].obs_id[0] ? r->exp[0].obs_id : "obs";
        size_t j = 0;
        for (size_t i = 0; s[i] && j + 1 < sizeof r->obs_id; i++) {
            char ch = s[i];
            int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                     ch == '_' || ch == '.' || ch == ':' || ch == '-';
            r->obs_id[j++] = ok ? ch : '_';
        }
        r->obs_id[j] = '\0';
    }
    if ((st = make_template(r)))
        return st;
    if (cfg->trail_bins) {
        if ((st = sso_stack_trail_bins(cfg->stack.vmax_px_h, r->exp[0].exptime_s / 3600.0,
                                       TRAIL_POINT_LEN_PX, TRAIL_LEN_RATIO, TRAIL_ANGLE_LEN_PX,
                                       r->bins, MAX_BINS, &r->n_bins)))
            return st;
        for (int i = 0; i < r->n_bins; i++)
            if (r->bins[i].len_px > 0.0 &&
                (st = sso_trail_kernel_create(r->tmpl, cfg->psf_half_px, r->bins[i].len_px,
                                              r->bins[i].theta_rad, &r->kern[i])))
                return st;
    } else {
        r->n_bins = 1;
        r->bins[0] = (sso_stack_bin){0.0, INFINITY, 0.0, PI, 0.0, 0.0};
    }
    progress(r, "plan", "%d patch(es) of %d px (margin %d px); matched filter %dx%d px holding %.1f%% of "
             "the PSF; slow search to %.1f\"/h, threshold %.1f sigma, %d velocity bin(s)",
             r->n_patches, pcfg->size_px, cfg->patch.margin_px, 2 * cfg->psf_half_px + 1,
             2 * cfg->psf_half_px + 1, 100.0 * r->tmpl_frac, cfg->stack.vmax_px_h * cfg->patch.scale_arcsec,
             (double)cfg->stack.nu_min, r->n_bins);
    return SSO_OK;
}

static void hand_over_alerts(run_state *r, sso_alert **alerts, size_t *n_alerts)
{
    r->st->n_alerts = r->n_alerts;
    *alerts = r->alerts;
    *n_alerts = r->n_alerts;
    r->alerts = NULL;
}

/* Phase 2 on every patch, then the alerts handed to the caller (*alerts owned by it). */
static sso_status search_patches(run_state *r, sso_alert **alerts, size_t *n_alerts)
{
    sso_status st;
    note_patch_bytes(r);
    for (int k = 0; k < r->n_patches; k++)
        if ((st = process_patch(r, k)))
            return st;
    if ((st = cross_patch(r)))
        return st;
    hand_over_alerts(r, alerts, n_alerts);
    return SSO_OK;
}

/* sso_pipeline_run's phases 1 and 2, interleaved patch by patch (see the head of this file). */
static sso_status read_and_search(run_state *r, sso_alert **alerts, size_t *n_alerts)
{
    sso_status st = SSO_OK;
    uint8_t *done[NEXP] = {0};
    r->searched = calloc((size_t)(r->n_patches > 0 ? r->n_patches : 1), 1);
    for (int e = 0; e < NEXP; e++)
        if (!(done[e] = calloc((size_t)(r->exp[e].n_detectors > 0 ? r->exp[e].n_detectors : 1), 1)) ||
            !r->searched) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: read bookkeeping");
            goto exit;
        }
    for (int k = 0; k < r->n_patches; k++) {
        sso_patch_info pi;
        if ((st = sso_patch_plan_get(r->plan, k, &pi)))
            goto exit;
        for (int e = 0; e < NEXP; e++)
            for (int d = 0; d < r->exp[e].n_detectors; d++) {
                if (!patch_lists(&pi, e, d) || done[e][d])
                    continue;
                if ((st = process_detector(r, e, d)))
                    goto exit;
                done[e][d] = 1;
                note_patch_bytes(r);
            }
        st = process_patch(r, k);
        r->searched[k] = 1;
        if (st)
            goto exit;
    }
    /* a detector no patch lists (none, as the plan covers every footprint) is still read, so a
     * damaged one fails the run as it did when every detector was read first */
    for (int e = 0; e < NEXP; e++)
        for (int d = 0; d < r->exp[e].n_detectors; d++)
            if (!done[e][d] && (st = process_detector(r, e, d)))
                goto exit;
    if ((st = cross_patch(r)))
        goto exit;
    hand_over_alerts(r, alerts, n_alerts);
exit:
    for (int e = 0; e < NEXP; e++)
        free(done[e]);
    return st;
}

static void run_state_release(run_state *r)
{
    free(r->alerts);
    free(r->loose);
    free(r->loose_patch);
    free(r->searched);
    if (r->pb)
        for (int k = 0; k < r->n_patches; k++)
            for (int e = 0; e < NEXP; e++)
                patch_epoch_free(&r->pb[k], e);
    free(r->pb);
    free(r->tmpl);
    for (int i = 0; i < r->n_bins; i++)
        sso_trail_kernel_free(r->kern[i]);
    sso_sim_psf_free(r->psf);
    sso_patch_plan_free(r->plan);
    for (int e = 0; e < NEXP; e++)
        free(r->meta[e]);
}

sso_status sso_pipeline_run(const sso_quartet *q, const sso_pipeline_config *cfg,
                            sso_alert **alerts, size_t *n_alerts, sso_pipeline_stats *stats)
{
    if (!q || !cfg || !alerts || !n_alerts)
        return sso_fail(SSO_ERR_ARG, "pipeline: NULL argument");
    *alerts = NULL;
    *n_alerts = 0;
    sso_pipeline_stats local;
    run_state r;
    memset(&r, 0, sizeof r);
    memset(&local, 0, sizeof local);
    r.q = q, r.cfg = cfg, r.st = &local;
    r.debug_veto = getenv("SSO_DEBUG_VETO") != NULL;
    sso_status st = SSO_OK;
    const double t_start = now_s();

    for (int e = 0; e < NEXP; e++) {
        if ((st = sso_quartet_exposure(q, e, &r.exp[e])))
            goto exit;
        r.x[e] = sso_quartet_exposure_handle(q, e);
        r.meta[e] = calloc((size_t)(r.exp[e].n_detectors > 0 ? r.exp[e].n_detectors : 1), sizeof(det_meta));
        if (!r.meta[e]) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: metadata");
            goto exit;
        }
        for (int d = 0; d < r.exp[e].n_detectors; d++)
            meta_from_header(&r, e, d);
    }
    sso_patch_config pcfg = cfg->patch; /* on the GPU, the memory plan may shrink the patches */
    if ((st = sso_memplan_apply(cfg->backend, cfg->device, &pcfg.size_px, NULL)) ||
        (st = sso_patch_plan_create(q, &pcfg, &r.plan)))
        goto exit;
    r.n_patches = sso_patch_plan_count(r.plan);
    local.n_patches = r.n_patches;
    r.pb = calloc((size_t)(r.n_patches > 0 ? r.n_patches : 1), sizeof *r.pb);
    if (!r.pb) {
        st = sso_fail(SSO_ERR_NOMEM, "pipeline: %d patches", r.n_patches);
        goto exit;
    }
    if ((st = search_prepare(&r, &pcfg)))
        goto exit;
    if (cfg->read_all_first) {
        for (int e = 0; e < NEXP; e++)
            for (int d = 0; d < r.exp[e].n_detectors; d++)
                if ((st = process_detector(&r, e, d)))
                    goto exit;
        st = search_patches(&r, alerts, n_alerts);
    } else {
        st = read_and_search(&r, alerts, n_alerts);
    }
    if (st)
        goto exit;
    local.total_s = now_s() - t_start;
    local.run_s = local.total_s;
exit:
    run_state_release(&r);
    if (stats)
        *stats = local;
    return st;
}

/* ---- staged: one exposure at a time (sso_pipeline_session) -------------------------------------- */

/* The detectors of exposures x[0..n_exp-1] for a patch plan (index e = position in x). */
static sso_status plan_detectors(const sso_exposure *const *x, int n_exp, sso_patch_detector **out,
                                 int *n_out)
{
    int n = 0, k = 0;
    for (int e = 0; e < n_exp; e++)
        n += sso_exposure_n_detectors(x[e]);
    sso_patch_detector *d = calloc(n ? (size_t)n : 1, sizeof *d);
    if (!d)
        return sso_fail(SSO_ERR_NOMEM, "pipeline: detector list");
    for (int e = 0; e < n_exp; e++)
        for (int i = 0; i < sso_exposure_n_detectors(x[e]); i++, k++) {
            d[k].exposure = e, d[k].detector = i;
            d[k].wcs = sso_exposure_detector_wcs(x[e], i);
            sso_exposure_detector_size(x[e], i, &d[k].width_px, &d[k].height_px);
        }
    *out = d;
    *n_out = n;
    return SSO_OK;
}

/* The Euclid wide-survey dither pattern, offsets of DITHOBS 1..4 from the first pointing
 * [arcsec] in (RA cos Dec, Dec) (EUCLID.md, planning data rsd2024a; sim/sim.c draws the same). */
static const double k_dither_arcsec[NEXP][2] = {{0.0, 0.0}, {18.6, 125.0}, {37.2, 0.0}, {55.8, 125.0}};

/* The session's tangent point, from its first exposure alone: the quartet's mean pointing (what
 * sso_pipeline_run takes) predicted from this exposure's pointing and its DITHOBS through the
 * dither pattern above. Patch cores are ~384" wide: centring the grid on the first exposure
 * instead puts a boundary through the footprint of the demo quartet (2 patches where 1 does, ~2x
 * the search time). A wrong prediction (another pattern, a rotated one) only moves the patch
 * boundaries, never what is searched; without a DITHOBS of 1..4 the exposure's own pointing is
 * used. Gnomonic deprojection of the offset at the exposure's pointing. */
static void predict_tangent(double ra_deg, double dec_deg, int dither, double out_deg[2])
{
    out_deg[0] = ra_deg, out_deg[1] = dec_deg;
    if (dither < 1 || dither > NEXP)
        return;
    double mx = 0.0, my = 0.0;
    for (int e = 0; e < NEXP; e++)
        mx += k_dither_arcsec[e][0] / NEXP, my += k_dither_arcsec[e][1] / NEXP;
    const double xi = (mx - k_dither_arcsec[dither - 1][0]) / 3600.0 * PI / 180.0;
    const double eta = (my - k_dither_arcsec[dither - 1][1]) / 3600.0 * PI / 180.0;
    const double a0 = ra_deg * PI / 180.0, d0 = dec_deg * PI / 180.0;
    const double den = cos(d0) - eta * sin(d0);
    double ra = a0 + atan2(xi, den);
    const double dec = atan2(sin(d0) + eta * cos(d0), sqrt(xi * xi + den * den));
    ra = fmod(ra * 180.0 / PI + 360.0, 360.0);
    out_deg[0] = ra, out_deg[1] = dec * 180.0 / PI;
}

typedef struct exp_prep {
    sso_exposure *x;       /* owned until the search adopts it into its quartet */
    det_meta *meta;        /* per detector, filled by the prep */
    sso_patch_plan *plan;  /* the patches this exposure touches, at the session's tangent point */
    patch_buf *pb;         /* per patch of plan; epoch slot 0 holds this exposure's pixels */
} exp_prep;

struct sso_pipeline_session {
    sso_pipeline_config cfg;    /* a copy (its strings and callbacks borrowed) */
    unsigned open_flags;
    sso_patch_config pcfg;      /* the patches, after the memory plan */
    double tangent_deg[2];      /* predicted from the first exposure (predict_tangent) */
    int n;
    exp_prep xp[NEXP];          /* in the order added */
    sso_pipeline_stats st;      /* the prep's stage times accumulate here, then the search's */
    double added_s;             /* wall time spent in sso_pipeline_session_add */
    int ran;
};

static void exp_prep_free(exp_prep *p)
{
    if (p->pb)
        for (int k = 0; k < sso_patch_plan_count(p->plan); k++)
            patch_epoch_free(&p->pb[k], 0);
    free(p->pb);
    sso_patch_plan_free(p->plan);
    free(p->meta);
    sso_exposure_free(p->x);
    memset(p, 0, sizeof *p);
}

sso_status sso_pipeline_session_create(const sso_pipeline_config *cfg, unsigned open_flags,
                                       sso_pipeline_session **out)
{
    if (!cfg || !out)
        return sso_fail(SSO_ERR_ARG, "pipeline session: NULL argument");
    *out = NULL;
    sso_pipeline_session *s = calloc(1, sizeof *s);
    if (!s)
        return sso_fail(SSO_ERR_NOMEM, "pipeline session");
    s->cfg = *cfg;
    s->open_flags = open_flags & ~(unsigned)SSO_OPEN_ALLOW_THREE;
    s->pcfg = cfg->patch;
    sso_status st = sso_memplan_apply(cfg->backend, cfg->device, &s->pcfg.size_px, NULL);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return SSO_OK;
}

void sso_pipeline_session_free(sso_pipeline_session *s)
{
    if (!s)
        return;
    for (int i = 0; i < NEXP; i++)
        exp_prep_free(&s->xp[i]);
    free(s);
}

int sso_pipeline_session_count(const sso_pipeline_session *s)
{
    return s ? s->n : 0;
}

size_t sso_pipeline_session_bytes(const sso_pipeline_session *s)
{
    size_t b = 0;
    for (int i = 0; s && i < s->n; i++)
        for (int k = 0; k < sso_patch_plan_count(s->xp[i].plan); k++) {
            sso_patch_info pi;
            if (s->xp[i].pb[k].img[0] && sso_patch_plan_get(s->xp[i].plan, k, &pi) == SSO_OK)
                b += (size_t)pi.width_px * pi.height_px * (2 * sizeof(float) + 1);
        }
    return b;
}

sso_status sso_pipeline_session_add(sso_pipeline_session *s, const char *path, double *prep_s)
{
    sso_status st = SSO_OK;
    exp_prep p;
    sso_patch_detector *dets = NULL;
    int nd = 0;
    const double t0 = now_s();
    memset(&p, 0, sizeof p);
    if (prep_s)
        *prep_s = 0.0;
    if (!s || !path)
        return sso_fail(SSO_ERR_ARG, "pipeline session: NULL argument");
    if (s->ran || s->n >= NEXP)
        return sso_fail(SSO_ERR_EXPOSURE_COUNT, "file %s, extension PRIMARY: the observation "
                        "already has %d exposures%s", path, s->n, s->ran ? " and was searched" : "");
    if ((st = sso_exposure_open(path, s->open_flags, &p.x)))
        goto exit;
    {
        const sso_exposure *all[NEXP];
        for (int i = 0; i < s->n; i++)
            all[i] = s->xp[i].x;
        all[s->n] = p.x;
        if ((st = sso_exposures_check(all, s->n + 1, s->n)))
            goto exit;
    }
    if ((st = plan_detectors((const sso_exposure *const *)&p.x, 1, &dets, &nd)))
        goto exit;
    if (s->n == 0) {
        sso_exposure_info ei;
        double ra, dec;
        if ((st = sso_patch_plan_pointing(dets, nd, &ra, &dec)))
            goto exit;
        sso_exposure_get_info(p.x, &ei);
        predict_tangent(ra, dec, ei.dither, s->tangent_deg);
    }
    if ((st = sso_patch_plan_create_at(dets, nd, &s->pcfg, s->tangent_deg, &p.plan)))
        goto exit;
    const int np = sso_patch_plan_count(p.plan);
    p.meta = calloc((size_t)(nd > 0 ? nd : 1), sizeof *p.meta);
    p.pb = calloc((size_t)(np > 0 ? np : 1), sizeof *p.pb);
    if (!p.meta || !p.pb) {
        st = sso_fail(SSO_ERR_NOMEM, "pipeline session: exposure %s", path);
        goto exit;
    }
    {
        run_state r; /* phase 1 on this exposure alone, as epoch 0 of its own plan */
        memset(&r, 0, sizeof r);
        r.cfg = &s->cfg, r.st = &s->st;
        r.x[0] = p.x;
        r.meta[0] = p.meta;
        sso_exposure_get_info(p.x, &r.exp[0]);
        r.plan = p.plan;
        r.n_patches = np;
        r.pb = p.pb;
        r.label = s->n + 1;
        for (int d = 0; d < nd && !st; d++)
            st = process_detector(&r, 0, d);
        if (st)
            goto exit;
    }
    s->xp[s->n++] = p;
    memset(&p, 0, sizeof p);
exit:
    free(dets);
    exp_prep_free(&p);
    s->added_s += now_s() - t0;
    if (prep_s)
        *prep_s = now_s() - t0;
    return st;
}

sso_status sso_pipeline_session_run(sso_pipeline_session *s, sso_alert **alerts, size_t *n_alerts,
                                    sso_pipeline_stats *stats)
{
    if (!s || !alerts || !n_alerts)
        return sso_fail(SSO_ERR_ARG, "pipeline session: NULL argument");
    *alerts = NULL;
    *n_alerts = 0;
    if (s->ran)
        return sso_fail(SSO_ERR_ARG, "pipeline session: already searched");
    if (s->n < NEXP - 1)
        return sso_fail(SSO_ERR_EXPOSURE_COUNT, "pipeline session: %d exposure(s) prepared; the "
                        "search needs 4 (or 3)", s->n);
    s->ran = 1;
    sso_status st = SSO_OK;
    run_state r;
    sso_quartet *q = NULL;
    sso_patch_detector *dets = NULL;
    int nd = 0, slot_of[NEXP];
    const sso_exposure *ids[NEXP] = {0};
    sso_exposure *xs[NEXP] = {0};
    const double t_start = now_s();
    memset(&r, 0, sizeof r);
    r.cfg = &s->cfg, r.st = &s->st;
    const int n = s->n;
    for (int i = 0; i < n; i++)
        ids[i] = xs[i] = s->xp[i].x, s->xp[i].x = NULL; /* the quartet owns them from here */
    if ((st = sso_quartet_adopt(xs, n, s->open_flags | (n < NEXP ? SSO_OPEN_ALLOW_THREE : 0), &q)))
        goto exit;
    r.q = q;
    for (int e = 0; e < NEXP; e++) {
        if ((st = sso_quartet_exposure(q, e, &r.exp[e])))
            goto exit;
        r.x[e] = sso_quartet_exposure_handle(q, e);
        slot_of[e] = -1;
        for (int i = 0; i < n; i++)
            if (ids[i] == r.x[e])
                slot_of[e] = i;
        if (slot_of[e] >= 0) {
            r.meta[e] = s->xp[slot_of[e]].meta;
            s->xp[slot_of[e]].meta = NULL;
        } else if (!(r.meta[e] = calloc((size_t)(r.exp[e].n_detectors > 0 ? r.exp[e].n_detectors : 1),
                                        sizeof(det_meta)))) {
            st = sso_fail(SSO_ERR_NOMEM, "pipeline: metadata");
            goto exit;
        }
    }
    if ((st = plan_detectors(r.x, NEXP, &dets, &nd)) ||
        (st = sso_patch_plan_create_at(dets, nd, &s->pcfg, s->tangent_deg, &r.plan)))
        goto exit;
    r.n_patches = sso_patch_plan_count(r.plan);
    s->st.n_patches = r.n_patches;
    r.pb = calloc((size_t)(r.n_patches > 0 ? r.n_patches : 1), sizeof *r.pb);
    if (!r.pb) {
        st = sso_fail(SSO_ERR_NOMEM, "pipeline: %d patches", r.n_patches);
        goto exit;
    }
    /* each exposure's prepared patch images move into the union plan's patch of the same (ix, iy):
     * one tangent point and one grid, so they are the same pixels */
    for (int k = 0; k < r.n_patches; k++) {
        sso_patch_info pi;
        if ((st = sso_patch_plan_get(r.plan, k, &pi)))
            goto exit;
        for (int e = 0; e < NEXP; e++) {
            if (slot_of[e] < 0)
                continue;
            exp_prep *p = &s->xp[slot_of[e]];
            const int kk = sso_patch_plan_find(p->plan, pi.ix, pi.iy);
            if (kk < 0 || !p->pb[kk].img[0])
                continue;
            r.pb[k].img[e] = p->pb[kk].img[0], r.pb[k].var[e] = p->pb[kk].var[0];
            r.pb[k].mask[e] = p->pb[kk].mask[0];
            p->pb[kk].img[0] = p->pb[kk].var[0] = NULL, p->pb[kk].mask[0] = NULL;
        }
    }
    for (int i = 0; i < n; i++) /* nothing left in them */
        exp_prep_free(&s->xp[i]);
    if ((st = search_prepare(&r, &s->pcfg)) || (st = search_patches(&r, alerts, n_alerts)))
        goto exit;
    s->st.run_s = now_s() - t_start;
    s->st.total_s = s->added_s + s->st.run_s;
exit:
    free(dets);
    run_state_release(&r);
    sso_quartet_free(q);
    if (stats)
        *stats = s->st;
    return st;
}
