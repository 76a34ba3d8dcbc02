/* kernels/sso_kernels.h: the CUDA launchers, declared in plain C (no CUDA types).
 *
 * Built from the kernels/ .cu files when CUDA is enabled; otherwise kernels/stub_*.c define every launcher to
 * return SSO_ERR_NO_DEVICE, so host code calls them without #ifdefs (kernels/stub*.c, one stub
 * file per kernel file).
 *
 * The engine context (kernels/engine.cu) owns what must be created once, not per quartet: the
 * chosen device, one stream per host thread, grow-only device and pinned host buffers per host
 * thread addressed by slot numbers (each kernel file owns a range of slots, below), and the peak
 * device memory. Launchers take host pointers and stage their transfers through these buffers,
 * so after the first quartet no cudaMalloc, cudaHostAlloc or plan creation happens.
 */
#ifndef SSO_KERNELS_H
#define SSO_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "sso/prep.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 without CUDA or without a driver. */
int sso_k_device_count(void);

/* ---- engine context (kernels/engine.cu) -------------------------------------------------------- */

/* Slot ranges of the per-thread grow-only buffers: a kernel file uses only its own range. */
enum {
    SSO_K_SLOT_PREP = 0,
    SSO_K_SLOT_BACKGROUND = 8,
    SSO_K_SLOT_COSMIC = 16,
    SSO_K_SLOT_RESAMPLE = 24,
    SSO_K_SLOT_DIFFERENCE = 32,
    SSO_K_SLOT_LIKELIHOOD = 40,
    SSO_K_SLOT_STACK = 48,
    SSO_K_SLOT_FAST = 56,
    SSO_K_SLOT_PHOTOMETRY = 64,
    SSO_K_SLOT_GATE = 72, /* the difference's static-sky gate (kernels/difference.cu) */
    SSO_K_SLOT_TRAIL = 80, /* the trail correlation's held point maps (kernels/likelihood.cu) */
    SSO_K_NSLOTS = 88
};

typedef struct sso_k_device_info {
    int device;                 /* CUDA ordinal in use */
    char name[256];             /* e.g. "NVIDIA H100 80GB HBM3" (cudaDeviceProp.name size) */
    int cc_major, cc_minor;     /* compute capability */
    int driver_version;         /* cudaDriverGetVersion, e.g. 13000 */
    int runtime_version;        /* cudaRuntimeGetVersion */
    int n_sm;                   /* multiprocessors */
    size_t total_bytes, free_bytes; /* cudaMemGetInfo at the time of the call */
    size_t engine_bytes;        /* device bytes held by the engine's buffers (all threads) */
    size_t peak_engine_bytes;   /* the most it ever held */
} sso_k_device_info;

/* Choose the device for this process (`--device N`); before any launch. -1 keeps the default (0).
 * SSO_ERR_NO_DEVICE without CUDA or device; SSO_ERR_ARG when N is out of range. */
sso_status sso_k_engine_select(int device);

/* Describe the device in use (selects the default one if none was chosen). */
sso_status sso_k_engine_info(sso_k_device_info *out);

/* The calling thread's device buffer of slot `slot`, at least `bytes` long (grow-only: contents are
 * not preserved when it grows). The pointer stays valid until the next call for the same slot with
 * more bytes, or sso_k_engine_release(). */
sso_status sso_k_scratch(int slot, size_t bytes, void **dev_ptr);

/* Same for page-locked host memory (fast, asynchronous transfers). */
sso_status sso_k_pinned(int slot, size_t bytes, void **host_ptr);

/* The calling thread's stream, as an opaque pointer (a cudaStream_t inside .cu files). */
sso_status sso_k_stream(void **stream);

/* Free the calling thread's buffers and stream (at the end of a worker thread or of the program). */
void sso_k_engine_release(void);

/* ---- pixel preparation (kernels/prep.cu) ------------------------------------------------------ */

/* GPU twin of host/prep.c (sso_prep_cpu): same contract as sso_prep_detector(). */
sso_status sso_k_prep(const float *sci_adu, const float *rms_adu, const int32_t *flg, size_t n,
                      float gain_e_per_adu, uint32_t mask_bits, float *img_e, float *var_e2,
                      uint8_t *mask, sso_prep_stats *stats);

/* ---- likelihood and stack (kernels/likelihood.cu, kernels/stack.cu) ---------------------------- */

/* GPU twin of sso_likelihood (host/likelihood.c), same contract (sso/likelihood.h): psi, phi
 * (w x h, caller-allocated host arrays). use_fft 0: direct sums (bit-identical to the CPU's
 * direct path: same operation order, no FMA contraction); 1: cuFFT R2C/C2R at the CPU's padded
 * size (plans cached per thread and size). mask may be NULL. */
sso_status sso_k_likelihood(const float *d_e, const float *var_e2, const uint8_t *mask, int w, int h,
                            const float *tmpl, int half, int use_fft, float *psi, float *phi);

/* One hit of the GPU shift-and-stack: start pixel and velocity index (grid order). */
typedef struct sso_k_stack_hit {
    int32_t x, y, iv;
} sso_k_stack_hit;

/* The search of host/stack.c (sso_stack_slow step "search") as data. */
typedef struct sso_k_stack_job {
    const float *const *psi, *const *phi; /* n_epochs host images of w x h */
    int n_epochs, w, h;
    int64_t n_vel;
    const int *offx, *offy;     /* n_vel x n_epochs tabulated offsets (sso_stack_offset_px) */
    const double *vx, *vy;      /* n_vel grid velocities [px/h] (only used to group them) */
    double dv_px_h;             /* grid step */
    float k2;                   /* threshold nu^2 the GPU keeps hits at (the caller lowers it a
                                 * little below nu_min^2 and re-checks every hit exactly) */
    const int *runs;            /* start-pixel runs per row (CSR as in host/stack.c), or NULL: */
    const int64_t *row_run;     /* a tile is searched when a run touches it */
} sso_k_stack_job;

/* Runs the search on the device. *hits: malloc'd array of *n_hits hits (free()), in no particular
 * order; n_samples: trajectory-epoch samples evaluated (searched tiles' pixels x velocities x
 * epochs); kernel_s: device time of the search kernels [s] (events). */
sso_status sso_k_stack_search(const sso_k_stack_job *job, sso_k_stack_hit **hits, size_t *n_hits,
                              int64_t *n_samples, double *kernel_s);

/* ---- pixel stages: background, cosmic rays, resampling, difference --------------------------- */
/* kernels/background.cu, cosmic.cu, resample.cu, difference.cu; stubs in kernels/stub_<stage>.c.
 * Each launcher is the GPU half of the host function of its stage, which dispatches on the
 * stage's `backend` field; callers normally go through that function. Host pointers in and out,
 * staged through this thread's engine buffers (slot ranges SSO_K_SLOT_<STAGE>) on its stream.
 * The stage headers are included here, not at the top, to keep this section self-contained. */
#include "sso/background.h"
#include "sso/cosmic.h"
#include "sso/difference.h"

/* Device-memory traffic of one launcher call, for achieved bandwidth (bench/): `bytes` is the
 * compulsory count (every byte its kernels must read or write once; formulas in the
 * sso_<stage>_bytes_moved() helpers of host/<stage>_math.h, unit-tested on the host), kernel_ms
 * the time of its kernels alone on the stream (cudaEvent pair; transfers excluded). */
typedef struct sso_k_traffic {
    uint64_t bytes;
    double kernel_ms;
} sso_k_traffic;

/* Background, step 1 (kernels/background.cu): the clipped statistic of each of the nx x ny cells
 * (one block per cell; exact medians by radix selection; the same iteration as
 * sso_bkg_cell_stat()). raw_bkg_e, raw_rms_e, valid: nx * ny each, row-major; a cell without
 * enough usable pixels (sso_bkg_cell_usable()) gets valid 0 and 0 values. corr: the truncation
 * correction sso_bkg_clip_correction(p->clip_sigma). tr may be NULL. */
sso_status sso_k_background_cells(const float *img_e, const uint8_t *mask, int w, int h, int nx,
                                  int ny, const sso_background_params *p, double corr,
                                  float *raw_bkg_e, float *raw_rms_e, uint8_t *valid,
                                  sso_k_traffic *tr);

/* Background, step 5: the interpolation-ready meshes (f, fxx, fyy, fxxyy planes of nx * ny, as
 * host/background.c builds them) evaluated at every pixel of w x h (bicubic or bilinear), the
 * rms clamped at 0. bkg_e or bkg_rms_e may be NULL (not wanted; its mesh is then not read). */
sso_status sso_k_background_eval(const float *const bkg_mesh[4], const float *const rms_mesh[4],
                                 int nx, int ny, int w, int h, sso_background_interp interp,
                                 float *bkg_e, float *bkg_rms_e, sso_k_traffic *tr);

/* GPU twin of sso_cosmic_detect() (same contract; p already validated, not NULL). */
sso_status sso_k_cosmic(const float *img_e, const float *var_e2, const uint8_t *mask,
                        const int32_t *flg, int w, int h, const sso_cosmic_params *p,
                        uint8_t *cr_mask, int64_t *n_flagged_px, sso_k_traffic *tr);

/* The coarse detector->patch map of host/resample.c, borrowed (host arrays of gnx * gny). */
typedef struct sso_k_resample_grid {
    const double *gx, *gy; /* 1-based detector coordinates of node (a, b) = patch pixel (1 + a step, 1 + b step) */
    int gnx, gny, step;
    int patch_w, patch_h, det_w, det_h;
} sso_k_resample_grid;

/* GPU twin of sso_resample_detector(): the patch planes are read and written in place (only the
 * covered pixels change). Only the bounding box of the cells that touch the detector travels. */
sso_status sso_k_resample(const sso_k_resample_grid *g, const float *img_e, const float *var_e2,
                          const uint8_t *mask, float mask_weight_min, float *out_img_e,
                          float *out_var_e2, uint8_t *out_mask, int64_t *n_written,
                          sso_k_traffic *tr);

/* GPU twin of sso_difference_patch() (c validated, not NULL; stats may be NULL). */
sso_status sso_k_difference(int w, int h, const float *const img_e[SSO_DIFF_EPOCHS],
                            const float *const var_e2[SSO_DIFF_EPOCHS],
                            const uint8_t *const mask[SSO_DIFF_EPOCHS],
                            const sso_difference_config *c, float *const diff_e[SSO_DIFF_EPOCHS],
                            float *const dvar_e2[SSO_DIFF_EPOCHS],
                            uint8_t *const dmask[SSO_DIFF_EPOCHS], sso_difference_stats *stats,
                            sso_k_traffic *tr);

/* ---- traffic-counted variants (bench/: `sso bench --roofline`) ------------------------------ */
/* The launchers above with an sso_k_traffic (may be NULL: then exactly the plain launcher, which
 * calls these with NULL): the compulsory bytes of the call's kernels (prep: sso_prep_bytes_moved,
 * host/prep_math.h; likelihood: host/likelihood_math.h, direct or FFT; stack:
 * sso_stack_bytes_moved, host/stack_math.h) and their time on the stream (transfers excluded). */
sso_status sso_k_prep_tr(const float *sci_adu, const float *rms_adu, const int32_t *flg, size_t n,
                         float gain_e_per_adu, uint32_t mask_bits, float *img_e, float *var_e2,
                         uint8_t *mask, sso_prep_stats *stats, sso_k_traffic *tr);
sso_status sso_k_likelihood_tr(const float *d_e, const float *var_e2, const uint8_t *mask, int w,
                               int h, const float *tmpl, int half, int use_fft, float *psi,
                               float *phi, sso_k_traffic *tr);
sso_status sso_k_stack_search_tr(const sso_k_stack_job *job, sso_k_stack_hit **hits,
                                 size_t *n_hits, int64_t *n_samples, double *kernel_s,
                                 sso_k_traffic *tr);

/* ---- trail correlation (kernels/likelihood.cu) ---------------------------------------------- */
/* The trail correlation of sso_likelihood_trail (host/likelihood.c) for sso_trail_maps: the point
 * psi/phi of n_epochs (<= SSO_K_TRAIL_MAX_EPOCHS) images of w x h are uploaded once into this
 * thread's SSO_K_SLOT_TRAIL buffers (sso_k_trail_load, which replaces what was held), then each
 * sso_k_trail call correlates epoch e's with n taps (dx, dy, w: the kernel's offsets and weights)
 * and scales phi by kappa, into host psi_l, phi_l: the CPU's sums in the CPU's order, unfused, so
 * bit for bit. tr may be NULL (else: compulsory bytes, host/likelihood_math.h, and kernel time). */
#define SSO_K_TRAIL_MAX_EPOCHS 4
sso_status sso_k_trail_load(int n_epochs, const float *const psi[], const float *const phi[], int w,
                            int h);
sso_status sso_k_trail(int e, const int *dx, const int *dy, const float *w, int n, float kappa,
                       float *psi_l, float *phi_l, sso_k_traffic *tr);

/* ---- streaks (kernels/fast.cu; stub kernels/stub_fast.c) ------------------------------------ */
/* GPU twin of sso_fast_bank_run() (host/fast_bank.h, same contract; host/fast_bank.c dispatches to
 * it through sso_fast_bank_run_on()): the segment pyramid, prefix sums, per-map noise scale and the
 * local-maximum selection, hits compacted by an atomic counter; cal[] and the raw samples as the
 * CPU's (bit parity by construction, see kernels/fast.cu). No thread count: one stream. tr (may be
 * NULL): the compulsory device bytes of its kernels, counted as it goes, and their stream time. */
#include "host/fast_bank.h"
sso_status sso_k_fast_bank(const sso_fast_bank *b, const float *psi, const float *phi, int w, int h,
                           float nu, float *cal, sso_fast_raw **raws, size_t *n_raws,
                           sso_k_traffic *tr);

#ifdef __cplusplus
}
#endif
#endif
