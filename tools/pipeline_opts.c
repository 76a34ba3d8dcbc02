/* tools/pipeline_opts.c: the shared pipeline options (contract in tools/pipeline_opts.h).
 *
 * Values are parsed whole (strtol/strtod must reach the end: "3x" is refused, not read as 3) and
 * checked against the ranges `sso run` has always used: threads 1..256, vmax (0, 100] "/h, nu-min
 * > 0, patch side > 2 x margin and <= 16384 px, fast-lmax 16..2000 px, device 0..1023.
 * vmax is stored in patch pixels per hour (stack.vmax_px_h), so --vmax reads the patch scale at
 * the time it is parsed (no option changes the scale).
 */
#include "tools/pipeline_opts.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sso/prep.h"

void sso_cli_pipeline_defaults(sso_pipeline_config *cfg)
{
    sso_pipeline_config_default(cfg);
    cfg->n_threads = 2;
    cfg->stack.nu_min = 7.0f;
    cfg->fast = 1; /* the library's default is off; the commands search fast movers unless --no-fast */
}

static int bad(const char *cmd, const char *opt, const char *v, const char *what)
{
    fprintf(stderr, "sso %s: bad value for %s: '%s' (%s)\n", cmd, opt, v ? v : "", what);
    return -1;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!v[0] || *end || errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int parse_double(const char *v, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (!v[0] || *end || errno || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

int sso_cli_pipeline_opt(const char *cmd, int argc, char **argv, int *i, sso_pipeline_config *cfg)
{
    const char *a = argv[*i];
    /* flags */
    if (!strcmp(a, "--no-cosmics"))
        return cfg->cosmics = 0, 1;
    if (!strcmp(a, "--no-trail-bins"))
        return cfg->trail_bins = 0, 1;
    if (!strcmp(a, "--no-streak-veto"))
        return cfg->streak_veto = 0, 1;
    if (!strcmp(a, "--slow-pairs"))
        return cfg->slow_pairs = 1, 1;
    if (!strcmp(a, "--no-slow-pairs"))
        return cfg->slow_pairs = 0, 1;
    if (!strcmp(a, "--no-static-gate"))
        return cfg->static_gate = 0, 1;
    if (!strcmp(a, "--no-direct-fit"))
        return cfg->slow_direct_fit = 0, 1;
    if (!strcmp(a, "--fast"))
        return cfg->fast = 1, 1;
    if (!strcmp(a, "--no-fast"))
        return cfg->fast = 0, 1;
    static const char *const valued[] = {"--backend", "--device", "--threads", "--vmax", "--nu-min",
                                         "--patch-size", "--fast-lmax", "--l2o-z",
                                         "--pair-snr", "--gate-snr"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
        known |= !strcmp(a, valued[k]);
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sso %s: %s needs a value (sso %s --help)\n", cmd, a, cmd);
        return -1;
    }
    const char *v = argv[++*i];
    long l = 0;
    double d = 0.0;
    if (!strcmp(a, "--backend")) {
        if (sso_backend_from_name(v, &cfg->backend) != SSO_OK)
            return bad(cmd, a, v, "cpu, cuda or auto");
    } else if (!strcmp(a, "--device")) {
        if (parse_long(v, 0, 1023, &l))
            return bad(cmd, a, v, "a CUDA device number: 0, 1, ...");
        cfg->device = (int)l;
    } else if (!strcmp(a, "--threads")) {
        if (parse_long(v, 1, 256, &l))
            return bad(cmd, a, v, "1..256");
        cfg->n_threads = (int)l;
    } else if (!strcmp(a, "--vmax")) {
        if (parse_double(v, &d) || !(d > 0 && d <= 100))
            return bad(cmd, a, v, "(0, 100] arcsec/h");
        cfg->stack.vmax_px_h = d / cfg->patch.scale_arcsec;
    } else if (!strcmp(a, "--nu-min")) {
        if (parse_double(v, &d) || !(d > 0 && d <= 1000))
            return bad(cmd, a, v, "a positive threshold in sigma, <= 1000");
        cfg->stack.nu_min = (float)d;
    } else if (!strcmp(a, "--patch-size")) {
        if (parse_long(v, 2L * cfg->patch.margin_px + 1, 16384, &l)) {
            char what[96];
            snprintf(what, sizeof what, "more than twice the %d px margin, <= 16384",
                     cfg->patch.margin_px);
            return bad(cmd, a, v, what);
        }
        cfg->patch.size_px = (int)l;
    } else if (!strcmp(a, "--l2o-z")) {
        if (parse_double(v, &d) || !(d >= 0 && d < 100))
            return bad(cmd, a, v, "[0, 100) sigma, 0: off");
        cfg->stack.l2o_z = (float)d;
    } else if (!strcmp(a, "--pair-snr")) {
        if (parse_double(v, &d) || !(d >= 0 && d < 100))
            return bad(cmd, a, v, "[0, 100) sigma");
        cfg->slow_pair_snr_min = (float)d;
    } else if (!strcmp(a, "--gate-snr")) {
        if (parse_double(v, &d) || !(d >= 0 && d < 1000))
            return bad(cmd, a, v, "[0, 1000) sigma");
        cfg->static_gate_snr = (float)d;
    } else { /* --fast-lmax */
        if (parse_double(v, &d) || !(d >= 16 && d <= 2000))
            return bad(cmd, a, v, "16..2000 px");
        cfg->fast_params.len_max_px = d;
    }
    return 1;
}

void sso_cli_pipeline_usage(FILE *f, const sso_pipeline_config *c)
{
    char dev[32] = "the runtime's default";
    if (c->device >= 0)
        snprintf(dev, sizeof dev, "%d", c->device);
    fprintf(f,
            "pipeline options (the same in sso run, sso watch and sso bench):\n"
            "  --backend B        cpu, cuda or auto: where prep, psi/phi and the searches run [%s]\n"
            "  --device N         CUDA device to use [%s]\n"
            "  --threads N        worker threads of the searches and measurements, 1..256 [%d]\n"
            "  --vmax ARCSEC_H    largest slow-mover rate searched, (0, 100] [%g]\n"
            "  --nu-min SIGMA     detection threshold on the stacked SNR [%g]\n"
            "  --patch-size PX    sky patch side, margins included, <= 16384 [%d]\n"
            "  --no-cosmics       skip cosmic-ray detection%s\n"
            "  --no-trail-bins    slow search with the point template only (no trail templates)%s\n"
            "  --no-streak-veto   keep slow-candidate epochs that lie on a streak (a fast mover's\n"
            "                     trail, a bright trail's edge)%s\n"
            "  --l2o-z Z          leave-two-out: a slow candidate's n-2 weakest epochs keep\n"
            "                     nu_min sqrt((n-2)/n) - Z sigma; 0: off [%g]\n"
            "  --slow-pairs, --no-slow-pairs\n"
            "                     a 2-epoch slow pass where only 2 exposures cover the sky (else a\n"
            "                     slow mover seen twice is found only if the fast search links it);\n"
            "                     finds faint ones the fast search misses, costs ~35%% of the run on\n"
            "                     one CCD [%s]\n"
            "  --pair-snr SIGMA   the 2-epoch slow pass's floor on each epoch's SNR [%g]\n"
            "  --no-static-gate   subtract the other epochs' template everywhere, not only where\n"
            "                     the static sky is a source (the template's noise costs a faint\n"
            "                     mover ~17%% of its SNR on empty sky)%s\n"
            "  --gate-snr SIGMA   the static sky counts as a source above this, matched-filtered\n"
            "                     over the 4 exposures [%g]\n"
            "  --no-direct-fit    fit slow movers on the differences only (by default the images\n"
            "                     themselves, where the static sky under the track is empty: a\n"
            "                     mover slower than ~1\"/h overlaps its own template)%s\n"
            "  --fast, --no-fast  also search fast movers (streaks), or not [%s]\n"
            "  --fast-lmax PX     longest trail searched, 16..2000 [%g px: 300\"/h in a VIS exposure]\n",
            sso_backend_name(c->backend), dev,
            c->n_threads, c->stack.vmax_px_h * c->patch.scale_arcsec, (double)c->stack.nu_min,
            c->patch.size_px, c->cosmics ? "" : " [set]", c->trail_bins ? "" : " [set]",
            c->streak_veto ? "" : " [set]", (double)c->stack.l2o_z, c->slow_pairs ? "on" : "off",
            (double)c->slow_pair_snr_min, c->static_gate ? "" : " [set]", (double)c->static_gate_snr,
            c->slow_direct_fit ? "" : " [set]", c->fast ? "on" : "off",
            c->fast_params.len_max_px);
}
