/* sso/pipeline.h: one quartet from files to detected objects (the `sso run` engine, CPU reference).
 *
 * The stages (DESIGN.md "The flow of one quartet"), in order:
 *   1. per exposure and detector: read (sso/quartet.h), pixel preparation (sso/prep.h, CPU or GPU),
 *      background estimation and subtraction (sso/background.h), cosmic-ray detection
 *      (sso/cosmic.h; flagged pixels are masked), resampling into every sky patch it touches
 *      (sso/patch.h, sso/resample.h);
 *   2. per patch: static sky removal (sso/difference.h), likelihood images psi/phi with the VIS
 *      PSF (sso/likelihood.h), the slow-mover shift-and-stack (sso/stack.h): with >= 3 epochs
 *      (stack.min_epochs), then (cfg->slow_pairs, off by default) a 2-epoch pass over the sky that
 *      only 2 epochs cover, each epoch at SNR >= slow_pair_snr_min; the two passes' candidates
 *      are merged by explaining away (sso_stack_merge);
 *   3. per candidate whose first-epoch position lies in the patch's core (so an object is reported
 *      once): measurement (per-epoch RA/Dec from the patch WCS, detector and pixel, magnitude from
 *      MAGZEROP, SNR; rate and position angle) into an sso_alert (sso/alert.h).
 * With cfg->fast, each patch's differences also go through the fast-mover (streak) search
 * (sso/fast.h); its candidates become class "fast" alerts unless a slow alert of the same patch
 * already holds the object (within 1" at >= 2 epochs: the two searches overlap near 10"/h).
 *
 * Memory: a patch's 4 epochs (image, variance, mask: 9 bytes per pixel) are held from the first
 * detector resampled into it until the patch is searched. sso_pipeline_run searches the patches in
 * plan order and reads each patch's missing detectors just before its search, so only the patches
 * that the detectors read so far touch and that are not yet searched are held: about one row of
 * the patch grid plus two, not the whole field (the stats' patch_bytes_peak). The staged session
 * (`sso watch`) cannot order its reads and holds every patch of the exposures it has: ~n_patches
 * * 4 * size^2 * 9 bytes for a field; pick a smaller patch size on small machines.
 *
 * Progress: the library never prints; a caller may pass a callback that receives one line per
 * step (stage name and a message).
 */
#ifndef SSO_PIPELINE_H
#define SSO_PIPELINE_H

#include <stddef.h>

#include "sso/alert.h"
#include "sso/fast.h"
#include "sso/patch.h"
#include "sso/prep.h"
#include "sso/quartet.h"
#include "sso/stack.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*sso_progress_fn)(void *user, const char *stage, const char *message);

typedef struct sso_pipeline_config {
    sso_backend backend;        /* backend of prep, psi/phi and the slow search [auto] */
    int device;                 /* CUDA device ordinal (`--device N`); -1: the default [-1] */
    int n_threads;              /* worker threads of the stack [1] */
    sso_patch_config patch;     /* sky patches [4096 px, margin 128] */
    sso_stack_params stack;     /* slow search: vmax, threshold, consistency [stack defaults] */
    int psf_half_px;            /* matched-filter template half size [3: 7x7] */
    int cosmics;                /* run cosmic-ray detection [1] */
    int fast;                   /* also search fast movers (streaks, sso/fast.h) [0: opt-in while
                                 * its CPU cost is ~150 s per 2048^2 patch] */
    sso_fast_params fast_params; /* [sso_fast_params_default] */
    int trail_bins;             /* slow search with trail templates binned in length and angle
                                 * (sso_stack_trail_bins); 0: the point template only [1] */
    int streak_veto;            /* drop a slow candidate's epochs that lie on a streak (light on
                                 * both sides beyond its own trail, host/veto.h) before its
                                 * threshold and consistency re-check [1] */
    int slow_pairs;             /* a second slow pass where only 2 epochs cover the sky (the
                                 * Dec dither's bands, detector gaps): stack.min_epochs is 3, so a
                                 * slow mover seen twice is otherwise found only if the fast search
                                 * links its two short trails. Same grid and bins; a trajectory
                                 * qualifies when exactly 2 epochs have data on it, and each must
                                 * stand alone (slow_pair_snr_min). Off by default: on ccd seeds 1-2
                                 * it found 2 more movers (faint ones the fast search misses) and
                                 * made 1 more false alert, and `sso run` on the demo quartet took
                                 * 125 s instead of 92 (bench/results/slow-pairs-2026-11-22.md) [0] */
    float slow_pair_snr_min;    /* the pair pass's per-epoch floor on psi/sqrt(phi) [5] */
    int static_gate;            /* static-sky removal subtracts the template only where the
                                 * static sky is a source (sso/difference.h, the gate with the
                                 * matched filter): elsewhere the template's noise is left out [1] */
    float static_gate_snr;      /* the gate's threshold on the filtered 4-epoch sky [3.5] */
    int slow_direct_fit;        /* a slow alert's track and fluxes, once fitted on the
                                 * differences, are fitted again on the images themselves and
                                 * that fit kept where the static sky under it, the mover taken
                                 * out, is empty (sso_track_refine_direct with static_gate_snr):
                                 * no self-subtraction ghost (at < 1"/h a 2-epoch mover's
                                 * difference fixes only flux x displacement) and no bright-
                                 * template mask on the mover's own core. Holds each patch's 4
                                 * images until the slow measurement ends [1] */
    const char *cutout_dir;     /* with a folder (existing): per alert a FITS of 32 x 32 px
                                 * difference-image cutouts, one image HDU per epoch, written as
                                 * <cutout_dir>/<alert_id>.fits; NULL: none [NULL] */
    const char *cutout_ref;     /* prefix of the alert's "cutouts" path ["cutouts/"] */
    int read_all_first;         /* sso_pipeline_run: read and resample every detector before the
                                 * first patch's search (the order before patch-ordered reads:
                                 * the same alerts, all patches held at once; kept to check the
                                 * two against each other and to measure the memory) [0] */
    sso_progress_fn progress;   /* may be NULL */
    void *progress_user;
} sso_pipeline_config;

void sso_pipeline_config_default(sso_pipeline_config *c);

#define SSO_PIPE_N_STAGES 9
/* Wall-clock seconds per stage, summed over detectors/patches. */
typedef struct sso_pipeline_stats {
    double read_s, prep_s, background_s, cosmic_s, resample_s, difference_s, likelihood_s,
        stack_s, measure_s, fast_s;
    double total_s;
    int n_patches;
    int n_detectors;            /* detector reads (all exposures) */
    long long n_stack_samples;  /* trajectory-epoch samples of the slow search */
    long long n_candidates;     /* slow candidates after merging, all patches (before the core rule) */
    long long n_rejected_refined; /* candidates failing consistency once measured on their refined track */
    long long n_slow_one_epoch; /* faint slow candidates whose brightest epoch the others do not
                                 * confirm in the track photometry (sso_track_phot_peak_z) */
    long long n_vetoed_epochs;  /* slow-candidate epochs dropped by the streak veto */
    long long n_slow_direct;    /* slow alerts fitted on the images (slow_direct_fit) */
    long long n_pair_candidates; /* 2-epoch pass candidates that passed the re-check, the coverage
                                  * and the static-source tests (before merging with the others) */
    long long n_replaced_slow;  /* slow alerts replaced by a fast alert of the same mover: at the
                                 * velocity grid's edge (a faster one), or of 2 epochs */
    long long n_fast_duplicates; /* fast alerts replaced by a better fit of the same mover (another
                                  * patch's, or a partial fit of a bright trail) */
    long long n_fast_explained;  /* fast candidates dropped: short of acceptance once the epochs
                                  * where a stronger alert's light can account for half the flux,
                                  * and those whose trail runs along a mask, are set aside */
    long long n_fast_mask_edge;  /* of those, ones that had an epoch set aside because its trail
                                  * runs along a mask (a cosmic-ray track's halo) */
    long long n_fast_candidates; /* fast-search candidates, all patches (before the core rule) */
    long long n_fast_cross_patch; /* fast alerts of 2 streaks in different patches (a mover whose
                                   * 2 trails no one patch holds) */
    size_t n_alerts;
    double run_s;               /* wall time of the search call itself: sso_pipeline_run whole, or
                                 * sso_pipeline_session_run (exposures prepared before it excluded;
                                 * total_s then adds the time spent in sso_pipeline_session_add) */
    double last_read_mono_s;    /* CLOCK_MONOTONIC time [s] at which the last detector read ended
                                 * (end-to-end latency is measured from it, `sso bench`) */
    char backend[8];            /* the prep backend actually used */
    size_t patch_bytes_peak;    /* most bytes held at once in resampled patch epochs (9 per px) */
} sso_pipeline_stats;

/* Runs the whole pipeline on an opened quartet. On success *alerts is a malloc'd array of
 * *n_alerts alerts (caller frees with free()), in a deterministic order; stats may be NULL.
 * On error nothing is returned (*alerts NULL) and sso_last_error() says where. */
sso_status sso_pipeline_run(const sso_quartet *q, const sso_pipeline_config *cfg,
                            sso_alert **alerts, size_t *n_alerts, sso_pipeline_stats *stats);

/* ---- staged: exposures prepared as they arrive (`sso watch`) ----------------------------------
 *
 * A session is one observation whose exposures come one at a time. sso_pipeline_session_add opens
 * and validates one exposure file (and checks it against those already added: OBS_ID, detectors,
 * dither), then runs stage 1 on it at once: read, prep, background, cosmics, resampling into the
 * patches it touches. sso_pipeline_session_run, with 4 exposures (or 3: the missing one is an
 * empty epoch as with SSO_OPEN_ALLOW_THREE), runs stages 2-3 on the prepared patches; it can be
 * called once. The patch grid's tangent point must be fixed before the other exposures are
 * known: it is the quartet's mean pointing (what sso_pipeline_run takes) predicted from the first
 * exposure added, its pointing and its DITHOBS through the Euclid dither pattern (EUCLID.md).
 * When the prediction holds the grid is sso_pipeline_run's to rounding, else it is shifted (the
 * union of all exposures' patches is searched either way); alerts then agree with
 * sso_pipeline_run's within the resampling noise, not necessarily bit for bit. Memory: a session holds the prepared patch images of its exposures (image,
 * variance, mask: 9 bytes per patch pixel per exposure touching the patch;
 * sso_pipeline_session_bytes) from add until run; a failed add leaves the session as before it
 * (the observation may be given up by the caller). cfg is copied; its strings and callbacks are
 * borrowed and must outlive the session. open_flags: SSO_OPEN_VERIFY_CHECKSUM. */
typedef struct sso_pipeline_session sso_pipeline_session;

sso_status sso_pipeline_session_create(const sso_pipeline_config *cfg, unsigned open_flags,
                                       sso_pipeline_session **out);
void sso_pipeline_session_free(sso_pipeline_session *s);
/* Adds and prepares the next exposure; *prep_s (may be NULL) gets the wall time it took. On error
 * (the file's own status, detail naming the file and extension) the session is unchanged. */
sso_status sso_pipeline_session_add(sso_pipeline_session *s, const char *path, double *prep_s);
int sso_pipeline_session_count(const sso_pipeline_session *s);
/* Bytes of prepared patch images held now [B]. */
size_t sso_pipeline_session_bytes(const sso_pipeline_session *s);
/* The search on the exposures added (3 or 4); the same outputs as sso_pipeline_run. stats gets the
 * prep's stage times too (read_s ... resample_s summed over the adds). */
sso_status sso_pipeline_session_run(sso_pipeline_session *s, sso_alert **alerts, size_t *n_alerts,
                                    sso_pipeline_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
