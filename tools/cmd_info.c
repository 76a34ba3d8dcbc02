/* tools/cmd_info.c: `sso info`, ingest a quartet and print what was read, detector by detector.
 *
 * Opens the 4 exposures (sso_quartet_open / _open_dir: the whole observation is validated before
 * any pixel is read), then reads every detector of every exposure in time order, prepares it
 * (sso_prep_detector: electrons, variance, mask with SSO_FLG_MASK_DEFAULT) on the chosen backend,
 * and prints per exposure its header facts and per detector its size, WCS centre, projection and
 * pixel statistics in electrons. The last line gives the ingest rate: pixel bytes read (SCI, RMS,
 * FLG as stored in memory: 4 bytes each) over the wall time of sso_detector_read alone, which
 * includes file I/O, decompression and checksum verification but not the statistics.
 *
 * Output is collected in memory and written to stdout only when everything succeeded, so a bad
 * input leaves stdout empty and gives one message on stderr (sso_cli_error) and the exit code of
 * its status.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/commands.h"

#define INFO_SAMPLE_MAX 200000 /* pixels sampled for the median and MAD */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso info <file1> <file2> <file3> <file4> | <dir> [options]\n"
            "\n"
            "Ingests one observation (4 long VIS exposures, as Euclid files or generic single-image\n"
            "FITS files) and prints what was read. A directory must hold exactly 4 exposure files\n"
            "(*.fits, *.fits.fz, *.fit). The whole observation is checked before any pixel is read:\n"
            "FITS structure, truncation, SCI/RMS/FLG extensions per detector, pixel types and sizes,\n"
            "WCS, times, OBS_ID, dithers.\n"
            "\n"
            "Per exposure, in time order: file, OBS_ID, DITHOBS, EXPNUM, mid-exposure MJD (UTC;\n"
            "MJD-OBS or DATE-OBS plus EXPTIME/2), EXPTIME [s], DATE-OBS.\n"
            "Per detector:\n"
            "  det        detector name (\"3-4\" CCD, \"3-4.F\" quadrant, \"0\" generic input)\n"
            "  size       width x height [px]\n"
            "  ra, dec    sky position of the centre pixel [deg, ICRS] (wcslib, with distortion)\n"
            "  proj       projection: TAN, TPV, or TAN-SIP\n"
            "  median     median of the unmasked pixels [e-] (from a sample of up to %d)\n"
            "  mean       mean of the unmasked pixels [e-]\n"
            "  rms        robust rms: 1.4826 x median absolute deviation (same sample) [e-]\n"
            "  min, max   extremes of the unmasked pixels [e-]\n"
            "  masked     fraction of pixels masked (FLG bits of the default mask, or not finite)\n"
            "  nan        number of SCI pixels that are not finite\n"
            "Electrons are SCI x GAIN; the default mask excludes INVALID, HOT, COLD, SAT, GHOST,\n"
            "BAD_COLUMN, BAD_CLUSTER, OVRCOL, CHARINJ, SATXTALKGHOST, ADCMAX, NO_DATA, STITCHBLOCK\n"
            "(not COSMIC, STARSIGNAL, OBJECTS).\n"
            "The last line gives the ingest rate: MB (1e6 bytes) of pixel data read (SCI, RMS, FLG,\n"
            "4 bytes per pixel each) per second of reading (I/O, decompression, checksums).\n"
            "\n"
            "options:\n"
            "  --backend cpu|cuda|auto  where pixel preparation runs [auto: the GPU if present]\n"
            "  --verify-checksum        verify DATASUM/CHECKSUM of every HDU read, where present\n"
            "  -h, --help               this text\n"
            "\n"
            "Nothing is written to stdout unless the whole quartet was read. Exit codes: 0 ok,\n"
            "2 usage, 3 bad input data (not FITS, truncated, corrupt, missing extension, wrong\n"
            "BITPIX or size, no WCS, no time, mixed observations, duplicate dither, not 4\n"
            "exposures, all-NaN detector), 4 file missing or unreadable, 5 GPU unavailable.\n",
            INFO_SAMPLE_MAX);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median and 1.4826 * MAD of the unmasked pixels, from an evenly strided sample. */
static void robust_stats(const float *img_e, const uint8_t *mask, size_t n, float *sample,
                         double *median, double *rms)
{
    size_t stride = n / INFO_SAMPLE_MAX + 1, m = 0;
    for (size_t i = 0; i < n; i += stride)
        if (!mask[i])
            sample[m++] = img_e[i];
    if (m == 0) {
        *median = *rms = NAN;
        return;
    }
    qsort(sample, m, sizeof *sample, cmp_float);
    const double med = m % 2 ? sample[m / 2] : 0.5 * ((double)sample[m / 2 - 1] + sample[m / 2]);
    for (size_t i = 0; i < m; i++)
        sample[i] = fabsf(sample[i] - (float)med);
    qsort(sample, m, sizeof *sample, cmp_float);
    const double mad = m % 2 ? sample[m / 2] : 0.5 * ((double)sample[m / 2 - 1] + sample[m / 2]);
    *median = med;
    *rms = 1.4826 * mad;
}

int sso_cmd_info(int argc, char **argv)
{
    const char *paths[16];
    int n_paths = 0, verify = 0, rc = 0;
    sso_backend backend = SSO_BACKEND_AUTO;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--verify-checksum")) {
            verify = 1;
        } else if (!strcmp(argv[i], "--backend") || !strncmp(argv[i], "--backend=", 10)) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "sso info: --backend needs a value (cpu, cuda or auto)\n");
                return 2;
            }
            sso_status st = sso_backend_from_name(v, &backend);
            if (st)
                return sso_cli_error("info", st);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "sso info: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (n_paths < (int)(sizeof paths / sizeof paths[0])) {
            paths[n_paths++] = argv[i];
        } else {
            fprintf(stderr, "sso info: too many files\n");
            return 2;
        }
    }
    if (n_paths == 0) {
        usage(stderr);
        return 2;
    }
    const sso_backend used = sso_backend_resolve(backend);
    if (used == SSO_BACKEND_CUDA && sso_cuda_device_count() == 0) {
        fprintf(stderr, "sso info: %s: --backend cuda, but no CUDA device is present%s\n",
                sso_strerror(SSO_ERR_NO_DEVICE),
#ifdef SSO_HAVE_CUDA
                ""
#else
                " (built without CUDA)"
#endif
        );
        return sso_status_exit_code(SSO_ERR_NO_DEVICE);
    }

    const unsigned flags = verify ? SSO_OPEN_VERIFY_CHECKSUM : 0;
    sso_quartet *q = NULL;
    sso_status st;
    struct stat sb;
    const double t_open0 = now_s();
    /* one argument: a directory (a missing one is reported as such), unless it is a file */
    if (n_paths == 1 && !(stat(paths[0], &sb) == 0 && !S_ISDIR(sb.st_mode)))
        st = sso_quartet_open_dir(paths[0], flags, &q);
    else
        st = sso_quartet_open(paths, n_paths, flags, &q);
    if (st)
        return sso_cli_error("info", st);
    const double t_open = now_s() - t_open0;

    char *text = NULL;
    size_t text_n = 0;
    FILE *out = open_memstream(&text, &text_n);
    float *img = NULL, *var = NULL, *sample = NULL;
    uint8_t *mask = NULL;
    size_t cap = 0;
    double t_read = 0.0, bytes = 0.0;
    int n_det_total = 0;
    if (!out) {
        st = SSO_ERR_NOMEM;
        goto exit;
    }
    for (int e = 0; e < SSO_QUARTET_N; e++) {
        sso_exposure_info info;
        if ((st = sso_quartet_exposure(q, e, &info)))
            goto exit;
        fprintf(out, "exposure %d/%d: %s\n", e + 1, SSO_QUARTET_N, info.path);
        fprintf(out,
                "  OBS_ID %s  DITHOBS %d  EXPNUM %d  MJD mid %.8f  EXPTIME %.3f s  DATE-OBS %s\n",
                info.obs_id[0] ? info.obs_id : "-", info.dither, info.expnum, info.mjd_mid,
                info.exptime_s, info.date_obs[0] ? info.date_obs : "-");
        fprintf(out, "  %-8s %11s %12s %12s %-7s %10s %10s %9s %10s %10s %7s %8s\n", "det", "size",
                "ra", "dec", "proj", "median", "mean", "rms", "min", "max", "masked", "nan");
        for (int d = 0; d < info.n_detectors; d++) {
            sso_detector *det = NULL;
            const double t0 = now_s();
            st = sso_detector_read(q, e, d, &det);
            t_read += now_s() - t0;
            if (st)
                goto exit;
            const int w = sso_detector_width(det), h = sso_detector_height(det);
            const size_t n = (size_t)w * (size_t)h;
            bytes += (double)n * (4.0 + 4.0 + (sso_detector_rms_adu(det) ? 4.0 : 0.0));
            n_det_total++;
            if (n > cap) {
                free(img);
                free(var);
                free(mask);
                free(sample);
                img = malloc(n * sizeof *img);
                var = malloc(n * sizeof *var);
                mask = malloc(n);
                sample = malloc((n < INFO_SAMPLE_MAX ? n : INFO_SAMPLE_MAX) * sizeof *sample + 64);
                cap = n;
                if (!img || !var || !mask || !sample) {
                    sso_detector_free(det);
                    st = SSO_ERR_NOMEM;
                    cap = 0;
                    goto exit;
                }
            }
            sso_prep_stats ps;
            st = sso_prep_detector(used, sso_detector_sci_adu(det), sso_detector_rms_adu(det),
                                   sso_detector_flg(det), n, (float)sso_detector_gain_e_per_adu(det),
                                   SSO_FLG_MASK_DEFAULT, img, var, mask, &ps);
            if (st) {
                sso_detector_free(det);
                goto exit;
            }
            double median, rms;
            robust_stats(img, mask, n, sample, &median, &rms);
            const int64_t good = ps.n_pixels - ps.n_masked;
            const double mean = good ? ps.sum_e / (double)good : NAN;
            double cx = 0.5 * (w + 1), cy = 0.5 * (h + 1), ra = NAN, dec = NAN;
            const sso_wcs *wcs = sso_detector_wcs(det);
            sso_wcs_pix2sky(wcs, 1, &cx, &cy, &ra, &dec);
            char proj[16], size[32];
            snprintf(proj, sizeof proj, "%s%s", sso_wcs_projection(wcs),
                     sso_wcs_has_sip(wcs) ? "-SIP" : "");
            snprintf(size, sizeof size, "%dx%d", w, h);
            fprintf(out, "  %-8s %11s %12.6f %12.6f %-7s %10.2f %10.2f %9.2f %10.1f %10.1f %7.4f %8lld\n",
                    sso_detector_name(det), size, ra, dec, proj, median, mean, rms, ps.min_e,
                    ps.max_e, ps.n_pixels ? (double)ps.n_masked / (double)ps.n_pixels : 0.0,
                    (long long)ps.n_nonfinite);
            sso_detector_free(det);
        }
    }
    fprintf(out,
            "ingest: %d detectors, %.1f MB of pixel data read in %.3f s: %.1f MB/s "
            "(open and validate %.3f s; checksums %s; prep backend %s)\n",
            n_det_total, bytes / 1e6, t_read, t_read > 0 ? bytes / 1e6 / t_read : 0.0, t_open,
            verify ? "verified" : "not verified", sso_backend_name(used));
exit:
    if (out)
        fclose(out);
    if (st == SSO_OK && text) {
        fwrite(text, 1, text_n, stdout);
    } else if (st == SSO_ERR_NOMEM) { /* raised here, not by the library: no detail to show */
        fprintf(stderr, "sso info: %s\n", sso_strerror(st));
        rc = sso_status_exit_code(st);
    } else {
        rc = sso_cli_error("info", st);
    }
    free(text);
    free(img);
    free(var);
    free(mask);
    free(sample);
    sso_quartet_free(q);
    return rc;
}
