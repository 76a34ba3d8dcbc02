/* bench/fast_probe.c: re-runs the fast search (sso_fast_search) on a cut-out of one patch that
 * `sso run` dumped with SSO_DEBUG_DUMP=DIR (host/pipeline.c debug_dump), and prints every streak
 * and candidate in the patch's 1-based pixel frame (the dump's WCS frame, as ds9 shows it).
 *
 * A developer aid for the fast search, which on a whole CCD quartet takes minutes: a 1000 x 1000
 * cut-out around one mover takes a second, so a change to host/fast.c can be checked on the case
 * that motivated it before the full run. Not part of the pipeline; built as sso_fast_probe.
 *
 *   sso_fast_probe DIR PATCH X0 Y0 W H [LMAX_PX]
 *
 * reads DIR/{diff,dvar,dmask}-p<PATCH>-e<0..3>.fits, the epoch times (SSO_T_H), the exposure time
 * (SSO_EXPH) and the kernel (img-p<PATCH>-e0.fits, HDU 2); X0, Y0: the cut-out's first pixel (1-based).
 * SSO_PROBE_SET="nu_epoch=4.5 bin_len_px=0 ..." overrides thresholds of sso_fast_params (the names
 * in main), to see what a change to the defaults would find before a full run. */
#include <fitsio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sso/fast.h"

#define NE 4

static int read_cut(const char *path, long x0, long y0, long w, long h, float *out, double *t_h,
                    double *exp_h)
{
    fitsfile *f = NULL;
    int st = 0;
    long fp[2] = {x0, y0}, lp[2] = {x0 + w - 1, y0 + h - 1}, inc[2] = {1, 1};
    float nul = 0.0f;
    int anynul = 0;
    if (fits_open_file(&f, path, READONLY, &st)) {
        fits_report_error(stderr, st);
        return -1;
    }
    if (t_h)
        fits_read_key(f, TDOUBLE, "SSO_T_H", t_h, NULL, &st);
    if (exp_h)
        fits_read_key(f, TDOUBLE, "SSO_EXPH", exp_h, NULL, &st);
    fits_read_subset(f, TFLOAT, fp, lp, inc, &nul, out, &anynul, &st);
    fits_close_file(f, &st);
    if (st) {
        fprintf(stderr, "fast_probe: %s: ", path);
        fits_report_error(stderr, st);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: sso_fast_probe DIR PATCH X0 Y0 W H [LMAX_PX]\n");
        return 2;
    }
    const char *dir = argv[1];
    const int k = atoi(argv[2]);
    const long x0 = atol(argv[3]), y0 = atol(argv[4]), w = atol(argv[5]), h = atol(argv[6]);
    const size_t npx = (size_t)w * (size_t)h;
    float *d[NE], *v[NE];
    uint8_t *m[NE];
    double t_h[NE], exp_h = 0.0;
    char path[4096];
    float *mf = malloc(npx * sizeof *mf);
    for (int e = 0; e < NE; e++) {
        d[e] = malloc(npx * sizeof(float));
        v[e] = malloc(npx * sizeof(float));
        m[e] = malloc(npx);
        snprintf(path, sizeof path, "%s/diff-p%d-e%d.fits", dir, k, e);
        if (read_cut(path, x0, y0, w, h, d[e], &t_h[e], &exp_h))
            return 4;
        snprintf(path, sizeof path, "%s/dvar-p%d-e%d.fits", dir, k, e);
        if (read_cut(path, x0, y0, w, h, v[e], NULL, NULL))
            return 4;
        snprintf(path, sizeof path, "%s/dmask-p%d-e%d.fits", dir, k, e);
        if (read_cut(path, x0, y0, w, h, mf, NULL, NULL))
            return 4;
        for (size_t i = 0; i < npx; i++)
            m[e][i] = mf[i] != 0.0f;
    }
    /* the kernel */
    fitsfile *f = NULL;
    int st = 0, hdut = 0;
    long kn[2] = {0, 0};
    snprintf(path, sizeof path, "%s/img-p%d-e0.fits", dir, k);
    fits_open_file(&f, path, READONLY, &st);
    fits_movabs_hdu(f, 2, &hdut, &st);
    if (st == END_OF_FILE && k != 0) { /* a dump of all patches before 7bbc68a: patch 0's only */
        st = 0;
        fits_close_file(f, &st);
        snprintf(path, sizeof path, "%s/img-p0-e0.fits", dir);
        fits_open_file(&f, path, READONLY, &st);
        fits_movabs_hdu(f, 2, &hdut, &st);
    }
    fits_get_img_size(f, 2, kn, &st);
    float *psf = malloc((size_t)kn[0] * kn[1] * sizeof *psf);
    fits_read_img(f, TFLOAT, 1, kn[0] * kn[1], NULL, psf, NULL, &st);
    fits_close_file(f, &st);
    if (st) {
        fprintf(stderr, "fast_probe: %s[2] (kernel): ", path);
        fits_report_error(stderr, st);
        return 4;
    }
    sso_fast_params p;
    sso_fast_params_default(&p);
    p.n_threads = 2;
    if (argc > 7)
        p.len_max_px = atof(argv[7]);
    /* SSO_PROBE_SET="name=value ...": overrides of the search's thresholds, to try a change
     * on a dump before it goes into the defaults */
    const char *set = getenv("SSO_PROBE_SET");
    while (set && *set) {
        char name[64];
        double val;
        int used = 0;
        if (sscanf(set, " %63[a-z_]=%lf%n", name, &val, &used) != 2) {
            if (strspn(set, " \t") == strlen(set))
                break; /* trailing blanks */
            fprintf(stderr, "fast_probe: SSO_PROBE_SET: cannot read \"%s\" (name=value ...)\n", set);
            return 2;
        }
        set += used;
        if (!strcmp(name, "nu_epoch"))
            p.nu_epoch = (float)val;
        else if (!strcmp(name, "seed_snr"))
            p.seed_snr = (float)val;
        else if (!strcmp(name, "nu_stack"))
            p.nu_stack = (float)val;
        else if (!strcmp(name, "rest_snr_min"))
            p.rest_snr_min = (float)val;
        else if (!strcmp(name, "pair_snr_min"))
            p.pair_snr_min = (float)val;
        else if (!strcmp(name, "bin_len_px"))
            p.bin_len_px = val;
        else {
            fprintf(stderr, "fast_probe: SSO_PROBE_SET: unknown %s\n", name);
            return 2;
        }
        fprintf(stderr, "fast_probe: %s = %g\n", name, val);
    }
    sso_fast_result *res = NULL;
    sso_status s = sso_fast_search((const float *const *)d, (const float *const *)v,
                                   (const uint8_t *const *)m, NE, (int)w, (int)h, t_h, exp_h, psf,
                                   (int)(kn[0] / 2), &p, &res);
    if (s) {
        fprintf(stderr, "fast_probe: %s\n", sso_strerror(s));
        return 1;
    }
    /* 0-based cut-out pixel i is 1-based patch pixel x0 + i */
    for (size_t i = 0; i < sso_fast_result_streak_count(res); i++) {
        const sso_fast_streak *q = sso_fast_result_streak(res, i);
        printf("streak e%d c %.2f %.2f len %.1f th %.1f snr %.1f bank %.1f flux %.0f%s%s%s\n", q->epoch + 1,
               q->xc_px + x0, q->yc_px + y0, q->len_px, q->theta_rad * 57.29578, (double)q->snr,
               (double)q->snr_bank, (double)q->flux_e, q->sharp ? " sharp" : "",
               q->clipped ? " clipped" : "", q->used ? " used" : "");
    }
    for (size_t i = 0; i < sso_fast_result_count(res); i++) {
        const sso_fast_cand *c = sso_fast_result_get(res, i);
        printf("cand nu %.1f v %.1f %.1f px/h len %.1f n_ep %d linked %d\n", (double)c->nu, c->vx_px_h,
               c->vy_px_h, c->len_px, c->n_epochs, c->n_linked);
        for (int e = 0; e < NE; e++)
            printf("   e%d %.2f %.2f snr %.1f flux %.0f\n", e + 1, c->x_px[e] + x0, c->y_px[e] + y0,
                   (double)c->snr[e], (double)c->flux_e[e]);
    }
    sso_fast_result_free(res);
    return 0;
}
