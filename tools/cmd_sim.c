/* tools/cmd_sim.c: `sso sim`, write a simulated Euclid VIS quartet (4 exposure files + truth.csv).
 *
 * Arguments are parsed in two passes: the first finds --preset (default demo) and fills the
 * configuration from it; the second applies every other option on top, so options may come in any
 * order. Progress goes to stderr (unless --quiet), the list of written files to stdout. Errors go
 * through sso_cli_error() (usage errors exit 2).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sso sim --out DIR [options]\n"
"\n"
"Simulates one Euclid VIS observation: 4 dithered long exposures (566 s, starts 921 s apart,\n"
"~127\" dither steps) of the real 6x6 focal plane, written as the real calibrated frames are\n"
"(EUC_VIS_SWL-DET-<obsid>-0<d>-1-0000000__<UTC>.fits with <det>.SCI/.RMS/.FLG extensions in a\n"
"shuffled order, a TPV, SIP or TAN WCS per detector), plus truth.csv: one row per moving object\n"
"per epoch (id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y). The scene: sky of\n"
"22.35 mag/arcsec^2, the VIS PSF from the real aperture (diffraction spikes), stars and galaxies\n"
"with realistic counts to below the detection limit, saturation and bleed trails, cosmic rays\n"
"(1.4%% of pixels, ~85%% of tracks flagged), hot pixels, bad columns, Poisson and read noise, and\n"
"trailed movers. The same options and seed give the same files, whatever the thread count.\n"
"\n"
"options:\n"
"  --out DIR            output directory (created if missing); files there of the same name are\n"
"                       replaced, others are left alone\n"
"  --preset NAME        demo  CCD 3-3 shrunk to 2048x2066, 20 movers of mag 20-24.5 (seconds)\n"
"                       ccd   the central 2x2 CCDs at full size, 300 movers of mag 20-27\n"
"                       field all 36 CCDs, 1000 movers of mag 20-27 (~29 GB uncompressed)\n"
"                       [demo]; every preset uses rates 0.5-300\"/h; options below override it\n"
"  --seed N             master seed of every random draw [1]\n"
"  --ccds LIST          CCDs to simulate: ids row-col as in \"3-3,3-4\", or a central block\n"
"                       2x2, 4x4, 6x6 (= all)\n"
"  --size W[xH]         shrink each CCD to W x H px (H defaults to W; full size 4096x4132);\n"
"                       the pixel scale, the CCD centres and the dithers stay real\n"
"  --quadrants          write quadrant-level detectors <ccd>.E/F/G/H (each W/2 x H/2):\n"
"                       E lower-left, F lower-right, G upper-right, H upper-left\n"
"  --compress           RICE_1 tile compression (SCI/RMS quantised at noise/16, FLG lossless)\n"
"  --distortion KIND    tpv (RA---TPV with PVi_j) [default], sip (RA---TAN-SIP, the exact\n"
"                       equivalent of the TPV model, with a fitted AP/BP inverse) or tan (none)\n"
"  --movers N           number of moving objects\n"
"  --mag-range A,B      their AB magnitudes, drawn uniformly in [A, B]\n"
"  --rate-range A,B     their rates [arcsec/h], drawn log-uniformly in [A, B]\n"
"  --no-stars           leave out stars\n"
"  --no-galaxies        leave out galaxies\n"
"  --no-cosmics         leave out cosmic rays\n"
"  --no-defects         leave out hot/cold pixels, bad columns and QUADEDGE flags\n"
"  --no-saturation      no full well (no saturation, no bleeding)\n"
"  --density S          multiply star and galaxy counts by S [1]\n"
"  --ra DEG, --dec DEG  pointing of the focal-plane centre at the first dither [200, 10]\n"
"  --pa DEG             position angle of the focal plane, deg E of N [0]\n"
"  --obs-id DIGITS      OBS_ID [002681]\n"
"  --mjd MJD            UTC start of the first exposure [60600.18657092278,\n"
"                       2024-10-17T04:28:39.727728]\n"
"  --threads N          worker threads (0 = number of cores) [0]\n"
"  --quiet              no progress on stderr\n"
"  --help               this text\n");
}

/* A usage error: the same form as sso_cli_error() prints, exit code of SSO_ERR_ARG (2). */
static int usage_error(const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    fprintf(stderr, "sso sim: %s: %s\n(sso sim --help lists the options)\n",
            sso_strerror(SSO_ERR_ARG), msg);
    return sso_status_exit_code(SSO_ERR_ARG);
}

static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_pair(const char *s, double *a, double *b)
{
    char buf[128];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
        return -1;
    char *comma = strchr(buf, ',');
    if (!comma)
        return -1;
    *comma = 0;
    return parse_double(buf, a) || parse_double(comma + 1, b) ? -1 : 0;
}

static int has_arg(int i, int argc)
{
    return i + 1 < argc;
}

int sso_cmd_sim(int argc, char **argv)
{
    sso_sim_preset preset = SSO_SIM_PRESET_DEMO;
    const char *out = NULL;
    /* Pass 1: --help and --preset. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--preset")) {
            if (!has_arg(i, argc))
                return usage_error("--preset needs a value%s", "");
            sso_status s = sso_sim_preset_from_name(argv[i + 1], &preset);
            if (s)
                return sso_cli_error("sim", s);
            i++;
        }
    }
    sso_sim_config cfg;
    sso_status st = sso_sim_config_preset(&cfg, preset);
    if (st)
        return sso_cli_error("sim", st);
    cfg.verbose = 1;
    /* Pass 2: everything else. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = has_arg(i, argc) ? argv[i + 1] : NULL;
        double d, d2;
        long long n;
        if (!strcmp(a, "--preset")) {
            i++;
        } else if (!strcmp(a, "--out")) {
            if (!v)
                return usage_error("--out needs a directory%s", "");
            out = v;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (!v || parse_long(v, &n) || n < 0)
                return usage_error("--seed needs a non-negative integer, got '%s'", v ? v : "");
            cfg.seed = (uint64_t)n;
            i++;
        } else if (!strcmp(a, "--ccds")) {
            if (!v)
                return usage_error("--ccds needs a list%s", "");
            st = sso_sim_config_set_ccds(&cfg, v);
            if (st)
                return sso_cli_error("sim", st);
            i++;
        } else if (!strcmp(a, "--size")) {
            if (!v)
                return usage_error("--size needs W or WxH%s", "");
            char buf[64];
            snprintf(buf, sizeof buf, "%s", v);
            char *x = strchr(buf, 'x');
            long long w, h;
            if (x) {
                *x = 0;
                if (parse_long(buf, &w) || parse_long(x + 1, &h))
                    return usage_error("--size: cannot read '%s' (W or WxH)", v);
            } else {
                if (parse_long(buf, &w))
                    return usage_error("--size: cannot read '%s' (W or WxH)", v);
                h = w;
            }
            if (w < 1 || h < 1 || w > 100000 || h > 100000)
                return usage_error("--size: bad size '%s'", v);
            cfg.width_px = (int)w;
            cfg.height_px = (int)h;
            i++;
        } else if (!strcmp(a, "--quadrants")) {
            cfg.quadrants = 1;
        } else if (!strcmp(a, "--compress")) {
            cfg.compress = 1;
        } else if (!strcmp(a, "--distortion")) {
            if (!v)
                return usage_error("--distortion needs tpv, sip or tan%s", "");
            if (!strcmp(v, "tpv"))
                cfg.distortion = SSO_SIM_TPV;
            else if (!strcmp(v, "sip"))
                cfg.distortion = SSO_SIM_SIP;
            else if (!strcmp(v, "tan"))
                cfg.distortion = SSO_SIM_TAN;
            else
                return usage_error("--distortion: '%s' is not tpv, sip or tan", v);
            i++;
        } else if (!strcmp(a, "--movers")) {
            if (!v || parse_long(v, &n) || n < 0 || n > 1000000)
                return usage_error("--movers needs a count 0..1000000, got '%s'", v ? v : "");
            cfg.n_movers = (int)n;
            i++;
        } else if (!strcmp(a, "--mag-range")) {
            if (!v || parse_pair(v, &d, &d2))
                return usage_error("--mag-range needs A,B, got '%s'", v ? v : "");
            cfg.mag_min = d;
            cfg.mag_max = d2;
            i++;
        } else if (!strcmp(a, "--rate-range")) {
            if (!v || parse_pair(v, &d, &d2))
                return usage_error("--rate-range needs A,B [arcsec/h], got '%s'", v ? v : "");
            cfg.rate_min_arcsec_h = d;
            cfg.rate_max_arcsec_h = d2;
            i++;
        } else if (!strcmp(a, "--no-stars")) {
            cfg.stars = 0;
        } else if (!strcmp(a, "--no-galaxies")) {
            cfg.galaxies = 0;
        } else if (!strcmp(a, "--no-cosmics")) {
            cfg.cosmics = 0;
        } else if (!strcmp(a, "--no-defects")) {
            cfg.defects = 0;
        } else if (!strcmp(a, "--no-saturation")) {
            cfg.saturation = 0;
        } else if (!strcmp(a, "--density") || !strcmp(a, "--ra") || !strcmp(a, "--dec") ||
                   !strcmp(a, "--pa") || !strcmp(a, "--mjd")) {
            if (!v || parse_double(v, &d))
                return usage_error("%s needs a number", a);
            if (!strcmp(a, "--density"))
                cfg.source_density_scale = d;
            else if (!strcmp(a, "--ra"))
                cfg.ra_deg = d;
            else if (!strcmp(a, "--dec"))
                cfg.dec_deg = d;
            else if (!strcmp(a, "--pa"))
                cfg.pa_deg = d;
            else
                cfg.mjd_start = d;
            i++;
        } else if (!strcmp(a, "--obs-id")) {
            if (!v || strlen(v) >= sizeof cfg.obs_id)
                return usage_error("--obs-id needs 1..9 digits, got '%s'", v ? v : "");
            snprintf(cfg.obs_id, sizeof cfg.obs_id, "%s", v);
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (!v || parse_long(v, &n) || n < 0 || n > 1024)
                return usage_error("--threads needs 0..1024, got '%s'", v ? v : "");
            cfg.threads = (int)n;
            i++;
        } else if (!strcmp(a, "--quiet")) {
            cfg.verbose = 0;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (!out)
        return usage_error("--out DIR is required%s", "");
    st = sso_sim_run(&cfg, out);
    if (st)
        return sso_cli_error("sim", st);
    /* Results: the files written. */
    for (int d = 1; d <= 4; d++) {
        char path[4096];
        if (!sso_sim_exposure_path(&cfg, out, d, path, sizeof path))
            printf("%s\n", path);
    }
    printf("%s/truth.csv\n", out);
    return 0;
}
