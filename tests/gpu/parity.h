/* tests/gpu/parity.h: what the pixel-stage parity tests share (test_background_parity.c,
 * test_cosmic_parity.c, test_resample_parity.c, test_difference_parity.c, test_trail_parity.c).
 *
 * - a seeded xorshift generator (uniform, Gaussian), so a failure reproduces;
 * - pt_compare(): counts pixels where |gpu - cpu| > atol_i + rtol * |cpu| (atol per pixel, or one
 *   for all when atol_px is NULL; non-finite CPU values must be matched exactly: same infinity,
 *   or NaN for NaN), prints the first few and the worst one with its (x, y), and the count;
 * - pt_compare_u8(): the same for masks (equality), with an optional per-pixel excuse (a pixel
 *   the caller has shown to sit on a threshold's knife edge);
 * - pt_sim_quartet(): the 4 exposures of one simulated CCD (the project's own simulator with
 *   stars, galaxies, cosmic rays, defects and movers) read back from its files (tests/support/
 *   simread) and prepared on the CPU: realistic pixels for every stage.
 * Header-only (static functions): each test is one executable.
 */
#ifndef SSO_TEST_GPU_PARITY_H
#define SSO_TEST_GPU_PARITY_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "simread.h"
#include "sso/sso.h"
#include "testutil.h"

static uint64_t pt_rng = 0x9E3779B97F4A7C15ull;

static inline void pt_seed(uint64_t s) { pt_rng = s ? s : 0x9E3779B97F4A7C15ull; }

static inline double pt_uni(void)
{
    pt_rng ^= pt_rng << 13;
    pt_rng ^= pt_rng >> 7;
    pt_rng ^= pt_rng << 17;
    return (double)(pt_rng >> 11) * 0x1.0p-53;
}

static inline double pt_gauss(void)
{
    double u = pt_uni(), v = pt_uni();
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

/* Number of pixels out of tolerance (0: all agree). */
static inline size_t pt_compare(const char *what, const float *gpu, const float *cpu, size_t n, int w,
                         const float *atol_px, float atol, float rtol, const uint8_t *skip)
{
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        const float c = cpu[i], g = gpu[i];
        int ok;
        double excess = 0.0;
        if (!isfinite(c)) {
            ok = (isnan(c) && isnan(g)) || (isinf(c) && isinf(g) && (c > 0) == (g > 0));
            excess = ok ? 0.0 : INFINITY;
        } else {
            const double tol = (double)(atol_px ? atol_px[i] : atol) + (double)rtol * fabs(c);
            const double d = fabs((double)g - (double)c);
            ok = isfinite(g) && d <= tol;
            excess = ok ? 0.0 : (isfinite(g) ? d / (tol > 0 ? tol : 1e-300) : INFINITY);
        }
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "%s: (%zu, %zu) gpu %.9g cpu %.9g\n", what, i % (size_t)w,
                        i / (size_t)w, (double)g, (double)c);
            if (excess > worst_excess)
                worst_excess = excess, worst = i;
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu pixels out of tolerance; worst at (%zu, %zu): gpu %.9g "
                "cpu %.9g (%.3g x the tolerance)\n", what, bad, n, worst % (size_t)w,
                worst / (size_t)w, (double)gpu[worst], (double)cpu[worst], worst_excess);
    return bad;
}

/* Mask mismatches not excused by excuse[i] (may be NULL); *n_excused gets the others. */
static inline size_t pt_compare_u8(const char *what, const uint8_t *gpu, const uint8_t *cpu, size_t n,
                            int w, const uint8_t *excuse, size_t *n_excused)
{
    size_t bad = 0, exc = 0;
    for (size_t i = 0; i < n; i++) {
        if (gpu[i] == cpu[i])
            continue;
        if (excuse && excuse[i]) {
            exc++;
            continue;
        }
        if (bad < 5)
            fprintf(stderr, "%s: (%zu, %zu) gpu %d cpu %d\n", what, i % (size_t)w, i / (size_t)w,
                    gpu[i], cpu[i]);
        bad++;
    }
    if (bad || exc)
        fprintf(stderr, "%s: %zu of %zu pixels differ (%zu more on a knife edge, excused)\n",
                what, bad, n, exc);
    if (n_excused)
        *n_excused = exc;
    return bad;
}

typedef struct pt_det {
    int w, h;
    float *img, *var; /* prepared: electrons, variance (masked: 0, +inf) */
    uint8_t *mask;
    int32_t *flg;
} pt_det;

static inline void pt_det_free(pt_det *d)
{
    free(d->img), free(d->var), free(d->mask), free(d->flg);
    d->img = d->var = NULL, d->mask = NULL, d->flg = NULL;
}

/* The 4 prepared exposures of CCD 3-3 of a w x h simulated quartet (seeded). Returns 0 on
 * success (on failure a line on stderr). */
static inline int pt_sim_quartet(int w, int h, uint64_t seed, pt_det out[4])
{
    sso_sim_config c;
    char dir[4096], path[4200];
    if (sso_sim_config_preset(&c, SSO_SIM_PRESET_DEMO) || sso_sim_config_set_ccds(&c, "3-3"))
        return fprintf(stderr, "sim config: %s\n", sso_last_error()), 1;
    c.seed = seed;
    c.width_px = w;
    c.height_px = h;
    c.threads = 2;
    sso_test_path(dir, sizeof dir, "sim");
    if (sso_sim_run(&c, dir))
        return fprintf(stderr, "sim: %s\n", sso_last_error()), 1;
    for (int e = 0; e < 4; e++) {
        det_img d;
        if (sso_sim_exposure_path(&c, dir, e + 1, path, sizeof path) ||
            sso_test_read_det(path, "3-3", &d))
            return fprintf(stderr, "sim read %d failed\n", e), 1;
        const size_t n = (size_t)d.w * (size_t)d.h;
        pt_det *o = &out[e];
        o->w = (int)d.w, o->h = (int)d.h;
        o->img = malloc(n * sizeof(float)), o->var = malloc(n * sizeof(float));
        o->mask = malloc(n), o->flg = malloc(n * sizeof(int32_t));
        if (!o->img || !o->var || !o->mask || !o->flg)
            return fprintf(stderr, "sim: out of memory\n"), 1;
        for (size_t i = 0; i < n; i++)
            o->flg[i] = d.flg[i];
        sso_status st = sso_prep_detector(SSO_BACKEND_CPU, d.sci, d.rms, d.flg, n, (float)d.gain,
                                          SSO_FLG_MASK_DEFAULT, o->img, o->var, o->mask, NULL);
        sso_test_free_det(&d);
        if (st)
            return fprintf(stderr, "prep: %s\n", sso_last_error()), 1;
    }
    return 0;
}

/* The skip every GPU parity test starts with. */
#define PT_SKIP_WITHOUT_DEVICE()                                                               \
    do {                                                                                       \
        if (sso_cuda_device_count() <= 0) {                                                    \
            printf("[  SKIPPED ] no CUDA device: GPU parity not checked\n");                  \
            return SSO_TEST_SKIP_EXIT;                                                         \
        }                                                                                      \
    } while (0)

#endif
