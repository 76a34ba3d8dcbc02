/* host/fast_bank.h: the streak bank of the fast-mover search (internal to host/fast*.c).
 *
 * For every bank length L_k and every angle of a grid fine enough for it, the line sums of the
 * PSF-filtered psi (and phi) over segments of that length, at starts every <= L/8 along each
 * line and on lines <= 1 px apart across, as the statistic r = sum psi / sqrt(sum phi). Computed
 * from a segment pyramid (host/fast_math.h): per level j blocks of 2^j samples, each block the sum
 * of two blocks of level j-1 at the nearest coarser angle; a length L is evaluated at the level
 * with 2^j <= L/8 as sums of consecutive blocks (prefix sums along each line). Cost per level ~
 * (angles x pixels / block) = const x Npx, so the whole bank is O(Npx log Lmax) instead of the
 * O(Npx Lmax) of one sheared pass per angle. The angles are phi = i pi / (4 K_j), |i| <= K_j, per
 * orientation (x-major: theta = phi; y-major: theta = pi/2 - phi), nested (K_j = K_1 2^(j-1));
 * the path of a block deviates from its line by <= ~0.1 px per level.
 * The noise scale c of each (length, angle) map is its MAD / 0.6745 (<= 8192 samples), so r / c
 * is N(0,1) on noise; samples with r / c >= nu that are local maxima over their 4 neighbours in the
 * map are returned. Results do not depend on the thread count once sorted by the caller.
 */
#ifndef SSO_FAST_BANK_H
#define SSO_FAST_BANK_H

#include <stddef.h>
#include <stdint.h>

#include "sso/prep.h"
#include "sso/status.h"

#define SSO_FAST_BANK_MAXLEN 64
#define SSO_FAST_BANK_MAXLEV 16
#define SSO_FAST_BANK_CAL 8192 /* most samples per map in its noise scale (MAD) */

/* One bank sample above threshold. */
typedef struct sso_fast_raw {
    float snr;              /* r / c */
    int k;                  /* length index */
    int ang;                /* angle slot at the finest level: theta = ang pi / n_ang */
    double th_rad;          /* theta in [0, pi) */
    double xc_px, yc_px;    /* segment centre */
} sso_fast_raw;

typedef struct sso_fast_bank {
    int n_len;
    double len_px[SSO_FAST_BANK_MAXLEN];
    int lev[SSO_FAST_BANK_MAXLEN];  /* pyramid level of each length (block 2^lev <= L / 8) */
    int stp[SSO_FAST_BANK_MAXLEN];  /* evaluated at angle indices i multiple of stp at its level */
    int step[SSO_FAST_BANK_MAXLEN]; /* the same as a step of finest-level slots */
    int n_lev;                      /* levels 1 .. n_lev */
    int K[SSO_FAST_BANK_MAXLEV + 1];
    int n_ang;                      /* 4 K[n_lev]: slots over [0, pi) at the finest level */
    int64_t n_templates;            /* (length, angle) maps per epoch */
    double cover;                   /* a segment counts if its sum phi >= cover x the mean */
} sso_fast_bank;

/* Plans the bank for lengths len_px[0..n_len) (increasing), PSF FWHM and angle factor ang_k (the
 * angle spacing of length L is <= ang_k FWHM / L). */
sso_status sso_fast_bank_plan(const double *len_px, int n_len, double fwhm_px, double ang_k,
                              sso_fast_bank *b);

/* Runs the bank on one epoch's psi/phi (w x h). cal[n_ang * n_len] receives the noise scales
 * (slot ang * n_len + k; 0 where not computed). *raws (malloc'd, caller frees) and *n_raws: the
 * samples above nu, in no particular order. */
sso_status sso_fast_bank_run(const sso_fast_bank *b, const float *psi, const float *phi, int w,
                             int h, float nu, int n_threads, float *cal, sso_fast_raw **raws,
                             size_t *n_raws);

/* The same on a backend: CPU (sso_fast_bank_run), CUDA (kernels/fast.cu, sso_k_fast_bank) or AUTO
 * (the GPU when present; on SSO_ERR_NO_DEVICE the CPU). *used (may be NULL): the backend that ran.
 * The device's samples are the CPU's: the launcher re-applies the CPU's predicate to every hit. */
sso_status sso_fast_bank_run_on(sso_backend backend, const sso_fast_bank *b, const float *psi,
                                const float *phi, int w, int h, float nu, int n_threads, float *cal,
                                sso_fast_raw **raws, size_t *n_raws, sso_backend *used);

#endif
