/* tools/cmd_score.c: `sso score`, detections scored against the simulator's truth.
 *
 * A thin shell over sso/score.h: read truth.csv and alerts.jsonl, sso_score_compute, then
 *   - a readable table on stdout (summary, completeness curves, astrometry);
 *   - --json FILE: the same figures as one JSON object (alerts/json.h writer; infinite bin edges
 *     and undefined figures are written as null), written to FILE.tmp and renamed;
 *   - --plot FILE.png: completeness curves drawn by gnuplot (Debian gnuplot-nox), driven through a
 *     pipe: the script with the data inline ($name << EOD datablocks) goes to gnuplot's stdin, so
 *     no temporary file is left behind. pngcairo when gnuplot has it, else png. SSO_GNUPLOT names
 *     another gnuplot binary (tests use it to simulate a machine without one). When gnuplot is
 *     missing the plot is skipped with a warning and everything else is written (exit 0).
 * Exit codes (tools/commands.h): 2 usage, 3 malformed truth/alerts (the message names file:line),
 * 4 I/O (unreadable input, unwritable output, gnuplot failed).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alerts/json.h"
#include "host/status_internal.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: sso score --truth truth.csv --alerts alerts.jsonl [--radius ARCSEC] [--ccds N]\n"
"                 [--json FILE] [--plot FILE.png]\n"
"\n"
"Matches detected alerts to the movers the simulator injected and prints completeness, false\n"
"alerts, duplicates, class confusion and astrometric errors.\n"
"\n"
"An alert matches a mover when their positions agree within the radius at >= 2 shared epochs\n"
"(same mjd within 1e-5 d), or at the single epoch of a 1-epoch alert; each mover takes at most\n"
"one alert (the closest in mean separation); other alerts on a matched mover are duplicates,\n"
"alerts matching no mover are false. Completeness is binned by SNR (slow movers: stacked SNR\n"
"sqrt(sum of per-epoch snr^2); fast movers: the 2nd highest per-epoch snr), magnitude (0.5 mag)\n"
"and rate (4 bins per decade), with binomial errors and Wilson (z=1) intervals.\n"
"\n"
"  --truth FILE    truth.csv written by `sso sim`\n"
"  --alerts FILE   one JSON alert per line (sso-alert/1.0)\n"
"  --radius R      match radius [arcsec] [0.5]\n"
"  --ccds N        CCDs in the quartet, for false alerts per CCD-quartet\n"
"                  [the number of distinct CCDs in the truth's det column]\n"
"  --json FILE     write every figure as JSON\n"
"  --plot FILE     write completeness curves as PNG (needs gnuplot; skipped with a warning\n"
"                  when it is missing)\n"
"\n"
"exit codes: 0 ok, 2 usage, 3 malformed truth or alerts (file:line named), 4 I/O error.\n");
}

/* ---- table ------------------------------------------------------------------------------------- */

static void print_curve(const char *title, const sso_score_curve *c, const char *fmt_edge)
{
    printf("  %s\n  %9s %9s %6s %6s %7s %6s %15s\n", title, "lo", "hi", "n", "found", "compl",
           "+-", "wilson68");
    for (int b = 0; b < c->n_bins; b++) {
        const sso_score_bin *x = &c->bins[b];
        if (!x->n)
            continue;
        char lo[24], hi[24];
        snprintf(lo, sizeof lo, fmt_edge, x->lo);
        if (isinf(x->hi))
            snprintf(hi, sizeof hi, "inf");
        else
            snprintf(hi, sizeof hi, fmt_edge, x->hi);
        printf("  %9s %9s %6d %6d %6.1f%% %5.1f%% %6.1f-%5.1f%%\n", lo, hi, x->n, x->found,
               100 * x->frac, 100 * x->err, 100 * x->wlo, 100 * x->whi);
    }
}

static void print_bin_line(const char *what, const sso_score_bin *b)
{
    if (!b->n)
        printf("  %-46s no movers\n", what);
    else
        printf("  %-46s %d/%d = %.1f%% +- %.1f%% (wilson68 %.1f-%.1f%%)\n", what, b->found, b->n,
               100 * b->frac, 100 * b->err, 100 * b->wlo, 100 * b->whi);
}

static void print_err(const char *what, const sso_score_err *e, const char *unit)
{
    if (!e->n)
        printf("  %-34s n=%-6d -\n", what, 0);
    else
        printf("  %-34s n=%-6d rms %.4g%s  median|err| %.4g%s\n", what, e->n, e->rms, unit,
               e->median_abs, unit);
}

static void print_table(const sso_score *s)
{
    printf("sso score: %d movers (%d slow, %d fast), %d alerts, radius %.3g\"\n", s->n_movers,
           s->slow.n, s->fast.n, s->n_alerts, s->radius_arcsec);
    if (s->n_ccds > 0)
        printf("  matched %d, duplicates %d, false %d (%.3g per CCD-quartet of %d CCDs)\n",
               s->matched, s->duplicates, s->false_alerts, s->false_per_ccd_quartet, s->n_ccds);
    else /* no mover in truth.csv names a CCD: the rate needs the count from the user */
        printf("  matched %d, duplicates %d, false %d (per CCD-quartet: unknown, truth.csv names no "
               "CCD; pass --ccds N)\n",
               s->matched, s->duplicates, s->false_alerts);
    printf("  class confusion (truth -> alert): slow->slow %d, slow->fast %d, fast->slow %d, "
           "fast->fast %d\n",
           s->confusion[0][0], s->confusion[0][1], s->confusion[1][0], s->confusion[1][1]);
    const sso_score_class *c[2] = {&s->slow, &s->fast};
    for (int k = 0; k < 2; k++) {
        const char *nm = k ? "fast" : "slow";
        printf("\n%s movers: %d/%d found\n", nm, c[k]->found, c[k]->n);
        print_bin_line(k ? "per-epoch SNR (2nd highest) >= 10:" : "stacked SNR >= 10:",
                       &c[k]->above10);
        if (isfinite(c[k]->snr50))
            printf("  50%% completeness at SNR %.2f\n", c[k]->snr50);
        else
            printf("  50%% completeness: not bracketed by the bins\n");
        print_curve(k ? "by per-epoch SNR (2nd highest epoch)" : "by stacked SNR", &c[k]->by_snr,
                    "%.0f");
        print_curve("by magnitude", &c[k]->by_mag, "%.1f");
        print_curve("by rate [\"/h]", &c[k]->by_rate, "%.3g");
    }
    printf("\n");
    print_bin_line("fast, >= 2 epochs with trail >= 15 px, SNR >= 10:", &s->fast_streakdet);
    printf("\nastrometry (matched pairs, shared epochs within the radius; %d beyond it)\n",
           s->n_epochs_outside);
    for (int b = 0; b < SSO_SCORE_N_ASTRO_BINS; b++) {
        char what[64];
        snprintf(what, sizeof what, "position, snr %g-%g:", s->astro_edges[b],
                 s->astro_edges[b + 1]);
        print_err(what, &s->pos_arcsec[b], "\"");
    }
    print_err("position, snr >= 20:", &s->pos_snr20_arcsec, "\"");
    print_err("  slow movers:", &s->pos_snr20_class[0], "\"");
    print_err("  fast movers:", &s->pos_snr20_class[1], "\"");
    print_err("    trail < 100 px:", &s->pos_snr20_fast_len[0], "\"");
    print_err("    trail >= 100 px:", &s->pos_snr20_fast_len[1], "\"");
    print_err("  error / stated rms:", &s->pull_snr20, "");
    print_err("magnitude, snr >= 20:", &s->mag_snr20, " mag");
    print_err("  slow movers:", &s->mag_snr20_class[0], " mag");
    print_err("  fast movers:", &s->mag_snr20_class[1], " mag");
    print_err("rate, slow:", &s->rate_pct[0], "%");
    print_err("rate, fast:", &s->rate_pct[1], "%");
    print_err("rate, all:", &s->rate_pct[2], "%");
}

/* ---- JSON -------------------------------------------------------------------------------------- */

static void jw_bin(sso_jw *w, const sso_score_bin *b)
{
    sso_jw_obj_begin(w);
    sso_jw_key(w, "lo"), sso_jw_num(w, b->lo);
    sso_jw_key(w, "hi"), sso_jw_num(w, b->hi);
    sso_jw_key(w, "n"), sso_jw_int(w, b->n);
    sso_jw_key(w, "found"), sso_jw_int(w, b->found);
    sso_jw_key(w, "completeness"), sso_jw_num(w, b->frac);
    sso_jw_key(w, "err"), sso_jw_num(w, b->err);
    sso_jw_key(w, "wilson_lo"), sso_jw_num(w, b->wlo);
    sso_jw_key(w, "wilson_hi"), sso_jw_num(w, b->whi);
    sso_jw_key(w, "mean"), sso_jw_num(w, b->mean);
    sso_jw_obj_end(w);
}

static void jw_curve(sso_jw *w, const char *key, const sso_score_curve *c)
{
    sso_jw_key(w, key);
    sso_jw_arr_begin(w);
    for (int b = 0; b < c->n_bins; b++)
        jw_bin(w, &c->bins[b]);
    sso_jw_arr_end(w);
}

static void jw_err(sso_jw *w, const char *key, const sso_score_err *e)
{
    sso_jw_key(w, key);
    sso_jw_obj_begin(w);
    sso_jw_key(w, "n"), sso_jw_int(w, e->n);
    sso_jw_key(w, "rms"), sso_jw_num(w, e->rms);
    sso_jw_key(w, "median_abs"), sso_jw_num(w, e->median_abs);
    sso_jw_obj_end(w);
}

static sso_status write_json(const sso_score *s, const char *path)
{
    sso_jw w;
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "radius_arcsec"), sso_jw_num(&w, s->radius_arcsec);
    sso_jw_key(&w, "n_movers"), sso_jw_int(&w, s->n_movers);
    sso_jw_key(&w, "n_alerts"), sso_jw_int(&w, s->n_alerts);
    sso_jw_key(&w, "matched"), sso_jw_int(&w, s->matched);
    sso_jw_key(&w, "duplicates"), sso_jw_int(&w, s->duplicates);
    sso_jw_key(&w, "false_alerts"), sso_jw_int(&w, s->false_alerts);
    sso_jw_key(&w, "n_ccds"), sso_jw_int(&w, s->n_ccds);
    sso_jw_key(&w, "false_per_ccd_quartet"), sso_jw_num(&w, s->false_per_ccd_quartet);
    sso_jw_key(&w, "confusion");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "slow_as_slow"), sso_jw_int(&w, s->confusion[0][0]);
    sso_jw_key(&w, "slow_as_fast"), sso_jw_int(&w, s->confusion[0][1]);
    sso_jw_key(&w, "fast_as_slow"), sso_jw_int(&w, s->confusion[1][0]);
    sso_jw_key(&w, "fast_as_fast"), sso_jw_int(&w, s->confusion[1][1]);
    sso_jw_obj_end(&w);
    const sso_score_class *c[2] = {&s->slow, &s->fast};
    for (int k = 0; k < 2; k++) {
        sso_jw_key(&w, k ? "fast" : "slow");
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "snr_kind"), sso_jw_str(&w, k ? "second_highest_epoch" : "stacked");
        sso_jw_key(&w, "n"), sso_jw_int(&w, c[k]->n);
        sso_jw_key(&w, "found"), sso_jw_int(&w, c[k]->found);
        sso_jw_key(&w, "snr50"), sso_jw_num(&w, c[k]->snr50);
        sso_jw_key(&w, "above_snr10"), jw_bin(&w, &c[k]->above10);
        jw_curve(&w, "by_snr", &c[k]->by_snr);
        jw_curve(&w, "by_mag", &c[k]->by_mag);
        jw_curve(&w, "by_rate", &c[k]->by_rate);
        sso_jw_obj_end(&w);
    }
    sso_jw_key(&w, "fast_streakdet"), jw_bin(&w, &s->fast_streakdet);
    sso_jw_key(&w, "astrometry");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "pos_arcsec_by_snr");
    sso_jw_arr_begin(&w);
    for (int b = 0; b < SSO_SCORE_N_ASTRO_BINS; b++) {
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "snr_lo"), sso_jw_num(&w, s->astro_edges[b]);
        sso_jw_key(&w, "snr_hi"), sso_jw_num(&w, s->astro_edges[b + 1]);
        sso_jw_key(&w, "n"), sso_jw_int(&w, s->pos_arcsec[b].n);
        sso_jw_key(&w, "rms"), sso_jw_num(&w, s->pos_arcsec[b].rms);
        sso_jw_key(&w, "median_abs"), sso_jw_num(&w, s->pos_arcsec[b].median_abs);
        sso_jw_obj_end(&w);
    }
    sso_jw_arr_end(&w);
    jw_err(&w, "pos_snr20_arcsec", &s->pos_snr20_arcsec);
    jw_err(&w, "pos_snr20_arcsec_slow", &s->pos_snr20_class[0]);
    jw_err(&w, "pos_snr20_arcsec_fast", &s->pos_snr20_class[1]);
    jw_err(&w, "pos_snr20_arcsec_fast_trail_lt100", &s->pos_snr20_fast_len[0]);
    jw_err(&w, "pos_snr20_arcsec_fast_trail_ge100", &s->pos_snr20_fast_len[1]);
    jw_err(&w, "pull_snr20", &s->pull_snr20);
    jw_err(&w, "mag_snr20", &s->mag_snr20);
    jw_err(&w, "mag_snr20_slow", &s->mag_snr20_class[0]);
    jw_err(&w, "mag_snr20_fast", &s->mag_snr20_class[1]);
    jw_err(&w, "rate_pct_slow", &s->rate_pct[0]);
    jw_err(&w, "rate_pct_fast", &s->rate_pct[1]);
    jw_err(&w, "rate_pct_all", &s->rate_pct[2]);
    sso_jw_key(&w, "n_epochs_outside_radius"), sso_jw_int(&w, s->n_epochs_outside);
    sso_jw_obj_end(&w);
    sso_jw_obj_end(&w);
    char *text = NULL;
    size_t len = 0;
    sso_status st = sso_jw_finish(&w, &text, &len);
    if (st != SSO_OK)
        return st;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        st = sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    } else {
        int bad = fwrite(text, 1, len, fp) != len || fputc('\n', fp) == EOF;
        bad |= fclose(fp) != 0;
        if (bad || rename(tmp, path)) {
            unlink(tmp);
            st = sso_fail(SSO_ERR_IO, "%s: write failed", path);
        }
    }
    free(text);
    return st;
}

/* ---- plot -------------------------------------------------------------------------------------- */

/* gnuplot binary found on PATH (or SSO_GNUPLOT as given); 0 when missing. */
static int find_gnuplot(char *buf, size_t n)
{
    const char *env = getenv("SSO_GNUPLOT");
    const char *name = env && *env ? env : "gnuplot";
    if (strchr(name, '/')) {
        snprintf(buf, n, "%s", name);
        return access(buf, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, n, "%.*s/%s", (int)l, l ? p : ".", name);
        if (access(buf, X_OK) == 0)
            return 1;
        p += l + (e != NULL);
    }
    return 0;
}

static void plot_block(FILE *g, const char *name, const sso_score_curve *c)
{
    fprintf(g, "$%s << EOD\n", name);
    int any = 0;
    for (int b = 0; b < c->n_bins; b++)
        if (c->bins[b].n > 0) {
            fprintf(g, "%.6g %.6g %.6g %.6g %d\n", c->bins[b].mean, 100 * c->bins[b].frac,
                    100 * c->bins[b].wlo, 100 * c->bins[b].whi, c->bins[b].n);
            any = 1;
        }
    if (!any)
        fprintf(g, "NaN NaN NaN NaN 0\n"); /* gnuplot refuses an empty datablock plot */
    fprintf(g, "EOD\n");
}

static sso_status write_plot(const sso_score *s, const char *gp, const char *png)
{
    if (strpbrk(png, "'\n\r") || strpbrk(gp, "'\n\r"))
        return sso_fail(SSO_ERR_ARG, "--plot %s: quotes and newlines are not supported", png);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s'", gp);
    FILE *g = sso_cli_plot_open(cmd);
    if (!g)
        return sso_fail(SSO_ERR_IO, "cannot start %s: %s", gp, strerror(errno));
    plot_block(g, "slow_snr", &s->slow.by_snr);
    plot_block(g, "fast_snr", &s->fast.by_snr);
    plot_block(g, "slow_mag", &s->slow.by_mag);
    plot_block(g, "fast_mag", &s->fast.by_mag);
    plot_block(g, "slow_rate", &s->slow.by_rate);
    plot_block(g, "fast_rate", &s->fast.by_rate);
    fprintf(g,
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "  set terminal pngcairo size 1400,1000 font ',10'\n"
            "} else {\n"
            "  set terminal png size 1400,1000\n"
            "}\n"
            "set output '%s'\n"
            "set multiplot layout 2,2 title 'sso score: %d movers, %d alerts, radius %.3g\"'\n"
            "set grid; set yrange [0:105]; set ylabel 'completeness [%%]'; set key bottom right\n"
            "set xlabel 'stacked SNR (slow)'; set logscale x; set xrange [0.5:*]\n"
            "plot $slow_snr using 1:2:3:4 with yerrorlines lw 2 title 'slow (%d)', "
            "50 with lines dt 2 lc 'gray' notitle\n"
            "set xlabel 'per-epoch SNR, 2nd highest epoch (fast)'\n"
            "plot $fast_snr using 1:2:3:4 with yerrorlines lw 2 lc 2 title 'fast (%d)', "
            "50 with lines dt 2 lc 'gray' notitle\n"
            "unset logscale x; set xrange [*:*]; set xlabel 'magnitude [AB]'\n"
            "plot $slow_mag using 1:2:3:4 with yerrorlines lw 2 title 'slow', "
            "$fast_mag using 1:2:3:4 with yerrorlines lw 2 lc 2 title 'fast'\n"
            "set logscale x; set xlabel 'rate [\"/h]'\n"
            "plot $slow_rate using 1:2:3:4 with yerrorlines lw 2 title 'slow', "
            "$fast_rate using 1:2:3:4 with yerrorlines lw 2 lc 2 title 'fast'\n"
            "unset multiplot\nset output\n",
            png, s->n_movers, s->n_alerts, s->radius_arcsec, s->slow.n, s->fast.n);
    int rc = sso_cli_plot_close(g);
    if (rc != 0)
        return sso_fail(SSO_ERR_IO, "%s failed (status %d) writing %s", gp,
                        WIFEXITED(rc) ? WEXITSTATUS(rc) : rc, png);
    if (access(png, R_OK) != 0)
        return sso_fail(SSO_ERR_IO, "%s did not write %s", gp, png);
    return SSO_OK;
}

/* ---- main -------------------------------------------------------------------------------------- */

int sso_cmd_score(int argc, char **argv)
{
    const char *truth_path = NULL, *alerts_path = NULL, *json_path = NULL, *plot_path = NULL;
    sso_score_opts o = {SSO_SCORE_RADIUS_ARCSEC, 0};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "sso score: %s needs a value (or is unknown)\n\n", k);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(k, "--truth"))
            truth_path = v;
        else if (!strcmp(k, "--alerts"))
            alerts_path = v;
        else if (!strcmp(k, "--json"))
            json_path = v;
        else if (!strcmp(k, "--plot"))
            plot_path = v;
        else if (!strcmp(k, "--radius") &&
                 (o.radius_arcsec = strtod(v, &end), end != v && !*end &&
                                                         isfinite(o.radius_arcsec) &&
                                                         o.radius_arcsec > 0))
            ;
        else if (!strcmp(k, "--ccds") && (errno = 0, o.n_ccds = (int)strtol(v, &end, 10),
                                          end != v && !*end && !errno && o.n_ccds > 0 &&
                                              o.n_ccds <= 10000))
            ;
        else {
            fprintf(stderr, "sso score: bad option %s %s\n\n", k, v);
            usage(stderr);
            return 2;
        }
    }
    if (!truth_path || !alerts_path) {
        fprintf(stderr, "sso score: --truth and --alerts are required\n\n");
        usage(stderr);
        return 2;
    }
    sso_truth *t = NULL;
    sso_alert *al = NULL;
    size_t na = 0;
    sso_score *s = NULL;
    int rc = 0;
    sso_status st;
    char gp[4096];
    if ((st = sso_truth_read(truth_path, &t)) != SSO_OK ||
        (st = sso_alerts_read_jsonl(alerts_path, &al, &na)) != SSO_OK ||
        (st = sso_score_compute(t, al, na, &o, &s)) != SSO_OK) {
        rc = sso_cli_error("score", st);
        goto exit;
    }
    print_table(s);
    if (json_path && (st = write_json(s, json_path)) != SSO_OK) {
        rc = sso_cli_error("score", st);
        goto exit;
    }
    if (plot_path) {
        if (!find_gnuplot(gp, sizeof gp)) {
            fprintf(stderr, "sso score: warning: gnuplot not found (apt-get install gnuplot-nox): "
                            "%s not written\n", plot_path);
        } else if ((st = write_plot(s, gp, plot_path)) != SSO_OK) {
            rc = sso_cli_error("score", st);
            goto exit;
        }
    }
exit:
    sso_score_free(s);
    free(al);
    sso_truth_free(t);
    return rc;
}
