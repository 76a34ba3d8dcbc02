/* tools/bench_roofline.c: `sso bench --roofline`: each GPU kernel against the device's ceilings.
 *
 * What runs. The device's ceilings first (bench/gpu_peak.h: device-to-device copy bandwidth and
 * FP32 FMA rate, in this process, just before the kernels). Then every launcher of kernels/ on
 * the benchmark's own data: one detector (the first of exposure 1, and the detector of the same
 * name in the 3 others) read from the quartet, so each call processes one full CCD:
 *   prep (the 4 exposures; exposure 1 timed), background cells and evaluation, cosmic rays
 *   (exposure 1, prepared), resample (exposure 1 into a patch of the detector's size through a
 *   slightly shifted and rotated grid), difference (the 4 prepared exposures as the 4 epochs),
 *   likelihood direct and FFT (the difference of epoch 1; a Gaussian template of FWHM 1.6 px, the
 *   VIS PSF's, at the pipeline's template size psf_half_px: 7x7), the trail correlation (one
 *   velocity bin of the slow search: the point maps held, a 17-tap line), and
 *   the stack (4 epochs of psi/phi of the detector's size, seeded Gaussian noise of the
 *   likelihood's scale, times and vmax of the benchmark: the search's cost depends on the
 *   sizes, not on the values, except through the hits, which noise keeps near zero).
 * Each launcher is called once unmeasured (buffers grow, cuFFT plans are made, clocks rise) and
 * then `timed` times; a row keeps the median kernel time and the counts of the last call.
 * Bytes come from the launchers (sso_k_traffic: the compulsory formulas of host/<stage>_math.h);
 * FLOPs from the formulas here (prep, likelihood, stack); the pixel stages between them are
 * reported by bandwidth only. host/bench.c derives rates and fractions (sso_bench_roofline_derive).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gpu_peak.h"
#include "host/background_math.h"
#include "host/likelihood_math.h"
#include "host/prep_math.h"
#include "host/stack_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/sso.h"
#include "tools/bench_roofline.h"
#include "tools/commands.h"

#define ROOF_MAX_TIMED 32
#define COPY_BYTES ((size_t)1 << 30)

/* Runs CALL (an sso_status expression that fills `tr`) 1 + timed times; the median kernel time of
 * the timed calls into row->kernel_s, the last call's bytes into row->bytes. */
#define TIME_CALL(row, CALL)                                                                  \
    do {                                                                                      \
        double ms_[ROOF_MAX_TIMED];                                                           \
        for (int c_ = -1; c_ < timed; c_++) {                                                 \
            memset(&tr, 0, sizeof tr);                                                        \
            if ((st = (CALL)) != SSO_OK)                                                      \
                goto exit;                                                                    \
            if (c_ >= 0)                                                                      \
                ms_[c_] = tr.kernel_ms;                                                       \
        }                                                                                     \
        (row)->kernel_s = 1e-3 * sso_bench_median(ms_, timed);                                \
        (row)->bytes = (double)tr.bytes;                                                      \
        (row)->n_calls = timed;                                                               \
    } while (0)

static sso_bench_roof_row *new_row(sso_bench_roof_row *rows, int *n, const char *kernel, int w, int h,
                                   const char *extra)
{
    sso_bench_roof_row *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
    snprintf(r->shape, sizeof r->shape, "%dx%d px%s", w, h, extra);
    return r;
}

/* Standard normal deviates from a 64-bit xorshift (Box-Muller): seeded, platform-independent. */
static double gauss(uint64_t *s)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        u[i] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

sso_status sso_bench_roofline_measure(const char *const paths[4], int timed, double vmax_px_h,
                                      sso_bench_peaks *pk, sso_bench_roof_row rows[SSO_ROOF_MAX_ROWS],
                                      int *n_rows)
{
    enum { E = 4 };
    sso_status st = SSO_OK;
    sso_quartet *q = NULL;
    sso_detector *det[E] = {NULL};
    float *img[E] = {NULL}, *var[E] = {NULL}, *diff[E] = {NULL}, *dvar[E] = {NULL};
    float *psi[E] = {NULL}, *phi[E] = {NULL};
    uint8_t *mask[E] = {NULL}, *dmask[E] = {NULL};
    float *bkg = NULL, *rms = NULL, *mesh = NULL, *raw = NULL, *pimg = NULL, *pvar = NULL;
    uint8_t *cr = NULL, *valid = NULL, *pmask = NULL;
    double *gx = NULL, *gy = NULL, *vx = NULL, *vy = NULL;
    int *offx = NULL, *offy = NULL;
    sso_k_stack_hit *hits = NULL;
    sso_k_traffic tr;
    double t_h[E], mjd_mean = 0.0;
    int w = 0, h = 0, n = 0;
    if (!paths || !pk || !rows || !n_rows || timed < 1 || timed > ROOF_MAX_TIMED)
        return sso_fail(SSO_ERR_ARG, "roofline: bad arguments");
    *n_rows = 0;
    memset(pk, 0, sizeof *pk);

    /* the ceilings */
    fprintf(stderr, "sso bench: roofline: measuring the device's copy bandwidth and FP32 rate\n");
    pk->copy_bytes = (double)COPY_BYTES;
    if ((st = sso_k_peak_copy_gbps(COPY_BYTES, 15, &pk->copy_gbps)) ||
        (st = sso_k_peak_fp32_gflops(0, 15, &pk->fp32_gflops)))
        goto exit;
    fprintf(stderr, "sso bench: roofline: copy %.0f GB/s, FP32 %.0f GFLOP/s\n", pk->copy_gbps,
            pk->fp32_gflops);

    /* one detector of each exposure */
    if ((st = sso_quartet_open(paths, E, 0, &q)))
        goto exit;
    {
        const char *name = sso_quartet_detector_name(q, 0, 0);
        for (int e = 0; e < E; e++) {
            sso_exposure_info ei;
            const int d = name ? sso_quartet_find_detector(q, e, name) : -1;
            if ((st = sso_quartet_exposure(q, e, &ei)) ||
                (st = sso_detector_read(q, e, d >= 0 ? d : 0, &det[e])))
                goto exit;
            t_h[e] = ei.mjd_mid;
            mjd_mean += ei.mjd_mid / E;
            if (e == 0)
                w = sso_detector_width(det[0]), h = sso_detector_height(det[0]);
            else if (sso_detector_width(det[e]) != w || sso_detector_height(det[e]) != h) {
                st = sso_fail(SSO_ERR_ARG, "roofline: exposure %d's detector is not %dx%d", e + 1, w, h);
                goto exit;
            }
        }
        for (int e = 0; e < E; e++)
            t_h[e] = (t_h[e] - mjd_mean) * 24.0; /* centred on the mean epoch, as the pipeline */
    }
    const size_t np = (size_t)w * h;
    for (int e = 0; e < E; e++) {
        img[e] = malloc(np * sizeof(float)), var[e] = malloc(np * sizeof(float));
        diff[e] = malloc(np * sizeof(float)), dvar[e] = malloc(np * sizeof(float));
        psi[e] = malloc(np * sizeof(float)), phi[e] = malloc(np * sizeof(float));
        mask[e] = malloc(np), dmask[e] = malloc(np);
        if (!img[e] || !var[e] || !diff[e] || !dvar[e] || !psi[e] || !phi[e] || !mask[e] || !dmask[e]) {
            st = sso_fail(SSO_ERR_NOMEM, "roofline: %dx%d planes", w, h);
            goto exit;
        }
    }

    /* prep */
    {
        sso_bench_roof_row *r = new_row(rows, &n, "prep", w, h, "");
        for (int e = 1; e < E; e++)
            if ((st = sso_k_prep_tr(sso_detector_sci_adu(det[e]), sso_detector_rms_adu(det[e]),
                                    sso_detector_flg(det[e]), np,
                                    (float)sso_detector_gain_e_per_adu(det[e]), SSO_FLG_MASK_DEFAULT,
                                    img[e], var[e], mask[e], NULL, NULL)))
                goto exit;
        TIME_CALL(r, sso_k_prep_tr(sso_detector_sci_adu(det[0]), sso_detector_rms_adu(det[0]),
                                   sso_detector_flg(det[0]), np,
                                   (float)sso_detector_gain_e_per_adu(det[0]), SSO_FLG_MASK_DEFAULT,
                                   img[0], var[0], mask[0], NULL, &tr));
        r->flops = (double)sso_prep_flops(np);
    }

    /* background: cells, then evaluation from meshes of the cells' grid */
    {
        const sso_background_params bp = sso_background_params_default();
        int nx = (int)lround((double)w / bp.cell_px), ny = (int)lround((double)h / bp.cell_px);
        nx = nx < 1 ? 1 : nx, ny = ny < 1 ? 1 : ny;
        const size_t nc = (size_t)nx * ny;
        char extra[32];
        snprintf(extra, sizeof extra, ", %dx%d cells", nx, ny);
        raw = malloc(2 * nc * sizeof(float));
        valid = malloc(nc);
        mesh = calloc(8 * nc, sizeof(float));
        bkg = malloc(np * sizeof(float)), rms = malloc(np * sizeof(float));
        if (!raw || !valid || !mesh || !bkg || !rms) {
            st = sso_fail(SSO_ERR_NOMEM, "roofline: background planes");
            goto exit;
        }
        sso_bench_roof_row *r = new_row(rows, &n, "background-cells", w, h, extra);
        TIME_CALL(r, sso_k_background_cells(img[0], mask[0], w, h, nx, ny, &bp,
                                            sso_bkg_clip_correction(bp.clip_sigma), raw, raw + nc,
                                            valid, &tr));
        for (size_t i = 0; i < nc; i++) /* smooth meshes: f from the cells, derivatives 0 */
            mesh[i] = raw[i], mesh[4 * nc + i] = raw[nc + i];
        const float *bm[4] = {mesh, mesh + nc, mesh + 2 * nc, mesh + 3 * nc};
        const float *rm[4] = {mesh + 4 * nc, mesh + 5 * nc, mesh + 6 * nc, mesh + 7 * nc};
        r = new_row(rows, &n, "background-eval", w, h, ", bkg + rms");
        TIME_CALL(r, sso_k_background_eval(bm, rm, nx, ny, w, h, bp.interp, bkg, rms, &tr));
    }

    /* cosmic rays */
    {
        const sso_cosmic_params cp = sso_cosmic_params_default();
        int64_t nf = 0;
        if (!(cr = malloc(np))) {
            st = sso_fail(SSO_ERR_NOMEM, "roofline: cosmic mask");
            goto exit;
        }
        sso_bench_roof_row *r = new_row(rows, &n, "cosmic", w, h, "");
        TIME_CALL(r, sso_k_cosmic(img[0], var[0], mask[0], sso_detector_flg(det[0]), w, h, &cp, cr,
                                  &nf, &tr));
    }

    /* resampling into a patch of the detector's size */
    {
        sso_resample_config rc;
        sso_resample_config_default(&rc);
        const int step = rc.grid_step_px, gnx = w / step + 2, gny = h / step + 2;
        int64_t nw = 0;
        gx = malloc((size_t)gnx * gny * sizeof(double)), gy = malloc((size_t)gnx * gny * sizeof(double));
        pimg = malloc(np * sizeof(float)), pvar = malloc(np * sizeof(float)), pmask = malloc(np);
        if (!gx || !gy || !pimg || !pvar || !pmask) {
            st = sso_fail(SSO_ERR_NOMEM, "roofline: resampling grid");
            goto exit;
        }
        for (int b = 0; b < gny; b++)
            for (int a = 0; a < gnx; a++) { /* shifted by (0.37, -0.21) px, rotated by 1 mrad */
                gx[(size_t)b * gnx + a] = 1.0 + a * step + 0.37 + 1e-3 * b * step;
                gy[(size_t)b * gnx + a] = 1.0 + b * step - 0.21 - 1e-3 * a * step;
            }
        const sso_k_resample_grid g = {gx, gy, gnx, gny, step, w, h, w, h};
        sso_resample_patch_init(np, pimg, pvar, pmask);
        sso_bench_roof_row *r = new_row(rows, &n, "resample", w, h, ", Lanczos-3");
        TIME_CALL(r, sso_k_resample(&g, img[0], var[0], mask[0], rc.mask_weight_min, pimg, pvar, pmask,
                                    &nw, &tr));
    }

    /* difference of the 4 epochs */
    {
        sso_difference_config dc;
        sso_difference_config_default(&dc);
        const float *ci[E] = {img[0], img[1], img[2], img[3]}, *cv[E] = {var[0], var[1], var[2], var[3]};
        const uint8_t *cm[E] = {mask[0], mask[1], mask[2], mask[3]};
        sso_bench_roof_row *r = new_row(rows, &n, "difference", w, h, " x 4 epochs");
        TIME_CALL(r, sso_k_difference(w, h, ci, cv, cm, &dc, diff, dvar, dmask, NULL, &tr));
        /* as the pipeline runs it: with the static-sky gate and the pipeline's matched filter */
        sso_pipeline_config pc;
        sso_pipeline_config_default(&pc);
        float gk[(2 * SSO_DIFF_GATE_MAX_HALF + 1) * (2 * SSO_DIFF_GATE_MAX_HALF + 1)];
        if (pc.psf_half_px > SSO_DIFF_GATE_MAX_HALF || (st = sso_template_gauss(1.6, pc.psf_half_px, gk))) {
            st = st ? st : sso_fail(SSO_ERR_ARG, "roofline: template half size %d", pc.psf_half_px);
            goto exit;
        }
        dc.gate_kernel = gk;
        dc.gate_half = pc.psf_half_px;
        r = new_row(rows, &n, "difference", w, h, " x 4 epochs, static-sky gate");
        TIME_CALL(r, sso_k_difference(w, h, ci, cv, cm, &dc, diff, dvar, dmask, NULL, &tr));
    }

    /* likelihood, direct and FFT, with the pipeline's template */
    {
        sso_pipeline_config pc;
        sso_pipeline_config_default(&pc);
        const int half = pc.psf_half_px, nk = (2 * half + 1) * (2 * half + 1);
        float tmpl[(2 * 8 + 1) * (2 * 8 + 1)];
        int nz = 0, nz2 = 0;
        if (half < 0 || half > 8) {
            st = sso_fail(SSO_ERR_ARG, "roofline: template half size %d", half);
            goto exit;
        }
        if ((st = sso_template_gauss(1.6, half, tmpl)))
            goto exit;
        for (int i = 0; i < nk; i++)
            nz += tmpl[i] != 0.0f, nz2 += tmpl[i] * tmpl[i] != 0.0f;
        char extra[32];
        snprintf(extra, sizeof extra, ", %dx%d template", 2 * half + 1, 2 * half + 1);
        sso_bench_roof_row *r = new_row(rows, &n, "likelihood-direct", w, h, extra);
        TIME_CALL(r, sso_k_likelihood_tr(diff[0], dvar[0], dmask[0], w, h, tmpl, half, 0, psi[0],
                                         phi[0], &tr));
        r->flops = (double)sso_like_direct_flops(np, nz, nz2);
        const int px = sso_like_fft_size(w + half), py = sso_like_fft_size(h + half);
        snprintf(extra, sizeof extra, ", FFT %dx%d", px, py);
        r = new_row(rows, &n, "likelihood-fft", w, h, extra);
        TIME_CALL(r, sso_k_likelihood_tr(diff[0], dvar[0], dmask[0], w, h, tmpl, half, 1, psi[1],
                                         phi[1], &tr));
        r->flops = sso_like_fft_flops(np, px, py);
        /* the slow search's trail correlation (sso_trail_maps on CUDA) as one bin of it runs: the
         * point maps held, a 17-tap line (a 16 px trail, the longest at 10"/h); the taps' values
         * do not change the traffic */
        enum { NT = 17 };
        int tdx[NT], tdy[NT];
        float tw[NT];
        for (int j = 0; j < NT; j++)
            tdx[j] = j - NT / 2, tdy[j] = (j - NT / 2) / 3, tw[j] = 1.0f / NT;
        const float *lp[1] = {psi[0]}, *lf[1] = {phi[0]};
        if ((st = sso_k_trail_load(1, lp, lf, w, h)))
            goto exit;
        r = new_row(rows, &n, "likelihood-trail", w, h, ", 17 taps");
        TIME_CALL(r, sso_k_trail(0, tdx, tdy, tw, NT, 0.5f, psi[1], phi[1], &tr));
        r->flops = 4.0 * NT * (double)np + (double)np;
    }

    /* the slow search on noise psi/phi of the likelihood's scale */
    {
        sso_stack_params sp;
        sso_stack_params_default(&sp);
        sp.vmax_px_h = vmax_px_h;
        double dv = 0.0;
        int64_t nv = 0, samples = 0;
        size_t n_hits = 0;
        if ((st = sso_stack_velocity_grid(t_h, E, &sp, &dv, &nv, NULL, NULL)))
            goto exit;
        vx = malloc((size_t)nv * sizeof(double)), vy = malloc((size_t)nv * sizeof(double));
        offx = malloc((size_t)nv * E * sizeof(int)), offy = malloc((size_t)nv * E * sizeof(int));
        if (!vx || !vy || !offx || !offy) {
            st = sso_fail(SSO_ERR_NOMEM, "roofline: %lld velocities", (long long)nv);
            goto exit;
        }
        if ((st = sso_stack_velocity_grid(t_h, E, &sp, &dv, &nv, vx, vy)))
            goto exit;
        for (int64_t v = 0; v < nv; v++)
            for (int e = 0; e < E; e++) {
                offx[v * E + e] = sso_stack_offset_px(vx[v], t_h[e]);
                offy[v * E + e] = sso_stack_offset_px(vy[v], t_h[e]);
            }
        const double phi0 = 0.05; /* ~ sum T^2 / var for a 1.6 px PSF and var ~ 40 e-^2 */
        uint64_t seed = 0x9e3779b97f4a7c15ull;
        for (int e = 0; e < E; e++)
            for (size_t i = 0; i < np; i++) {
                phi[e][i] = (float)phi0;
                psi[e][i] = (float)(gauss(&seed) * sqrt(phi0));
            }
        const float k2 = sp.nu_min * sp.nu_min * (1.0f - 1e-4f);
        const sso_k_stack_job job = {(const float *const *)psi, (const float *const *)phi, E, w, h, nv,
                                     offx, offy, vx, vy, dv, k2, NULL, NULL};
        char extra[48];
        snprintf(extra, sizeof extra, " x 4 epochs, %lld velocities", (long long)nv);
        sso_bench_roof_row *r = new_row(rows, &n, "stack", w, h, extra);
        TIME_CALL(r, (free(hits), hits = NULL,
                      sso_k_stack_search_tr(&job, &hits, &n_hits, &samples, NULL, &tr)));
        r->samples = (double)samples;
        r->flops = (double)sso_stack_flops((uint64_t)samples, E);
    }

    for (int i = 0; i < n; i++)
        if ((st = sso_bench_roofline_derive(&rows[i], pk)))
            goto exit;
    *n_rows = n;
exit:
    for (int e = 0; e < E; e++) {
        sso_detector_free(det[e]);
        free(img[e]), free(var[e]), free(diff[e]), free(dvar[e]);
        free(psi[e]), free(phi[e]), free(mask[e]), free(dmask[e]);
    }
    free(bkg), free(rms), free(mesh), free(raw), free(valid), free(cr);
    free(gx), free(gy), free(pimg), free(pvar), free(pmask);
    free(vx), free(vy), free(offx), free(offy), free(hits);
    sso_quartet_free(q);
    return st;
}

/* ---- plot ------------------------------------------------------------------------------------ */

int sso_bench_roofline_plot(const sso_bench_report *r, const char *png)
{
    const sso_bench_peaks *pk = &r->peaks;
    if (strpbrk(png, "'\n\r") || !(pk->copy_gbps > 0) || !(pk->fp32_gflops > 0) || r->n_roof < 1)
        return -1;
    FILE *g = sso_cli_plot_open("gnuplot 2>/dev/null");
    if (!g) {
        fprintf(stderr, "sso bench: warning: gnuplot not started: %s not written\n", png);
        return -1;
    }
    /* points: intensity, GFLOP/s, label; bars: label, % of copy bandwidth */
    fprintf(g, "$pts << EOD\n");
    for (int i = 0; i < r->n_roof; i++)
        if (r->roof[i].flops > 0 && isfinite(r->roof[i].intensity))
            fprintf(g, "%.6g %.6g %s\n", r->roof[i].intensity, r->roof[i].gflops, r->roof[i].kernel);
    fprintf(g, "EOD\n$bw << EOD\n");
    for (int i = 0; i < r->n_roof; i++)
        fprintf(g, "%s %.6g\n", r->roof[i].kernel, isfinite(r->roof[i].frac_copy) ? 100.0 * r->roof[i].frac_copy : 0.0);
    fprintf(g, "EOD\n"
               "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1400,600 font ',10' }"
               " else { set terminal png size 1400,600 }\n"
               "set output '%s'\n"
               "B = %.6g; F = %.6g\n"
               "set multiplot layout 1,2 title \"sso bench roofline: %s (%s), measured copy %.0f GB/s, FP32 %.0f GFLOP/s\"\n"
               "set logscale xy; set grid; set key bottom right\n"
               "set xlabel 'arithmetic intensity [FLOP/byte]'; set ylabel 'achieved [GFLOP/s]'\n"
               "set xrange [0.01:1e6]; set yrange [0.1:F*3]\n"
               "roof(x) = (x * B < F) ? x * B : F\n"
               "plot roof(x) w l lw 2 lc rgb '#444444' t 'roofline (measured ceilings)', "
               "$pts u 1:2 w p pt 7 ps 1.6 lc rgb '#cc3311' t 'kernels', "
               "$pts u 1:2:3 w labels offset 1,0.8 left font ',9' notitle\n"
               "unset logscale; set yrange [0:110]; set xrange [*:*]; set ylabel '%% of measured copy bandwidth'\n"
               "set xlabel ''; set style data histograms; set style fill solid 0.7 border -1; set boxwidth 0.8\n"
               "set xtics rotate by -35; set key top right\n"
               "plot $bw u 2:xtic(1) lc rgb '#4477aa' t 'achieved / copy bandwidth', 60 w l dt 2 lc rgb '#cc3311' t '60%% target'\n"
               "unset multiplot\nset output\n",
            png, pk->copy_gbps, pk->fp32_gflops, r->device.known ? r->device.name : "GPU", r->preset,
            pk->copy_gbps, pk->fp32_gflops);
    if (sso_cli_plot_close(g) != 0) {
        fprintf(stderr, "sso bench: warning: gnuplot failed: %s not written\n", png);
        return -1;
    }
    return 0;
}
