/* tools/cmd_bench.c: `sso bench`: time the pipeline on a simulated quartet and report it.
 *
 * Flow: the simulator configuration comes from --preset (demo, ccd, field) with --ccds N
 * (1: 3-3; 4: the central 2x2; 9: the 3x3 block 2-2..4-4; 16: 4x4; 36: all), --size, --movers
 * and --seed on top (movers scale with the CCD count so the density stays the preset's). The data
 * directory (--data, default bench/data/<what>) is reused when it holds this exact simulation:
 * its stamp file bench-data.txt records the simulator parameters, and the 4 exposures must open as
 * a quartet with the expected detectors and sizes and truth.csv must be there; otherwise it is
 * simulated, in a child process (fork) so the simulator's memory does not count in this process's
 * peak RSS. Then the quartet is opened, run through sso_pipeline_run and its alerts written to
 * <data>/bench-alerts-<backend>.jsonl: one warm-up, then --repeat K measured repeats (each
 * re-opens the files; after the warm-up they come from the page cache). host/bench.c summarises
 * (medians) and writes <out>/bench-<preset>-<N>ccd-<W>x<H>-v<vmax>-<backend>-<tag>-<date>.{json,md};
 * gnuplot
 * draws the time per stage (.png). With a CUDA backend the GPU and its memory come from the
 * engine (sso_k_engine_info: name, compute capability, driver and runtime versions; cudaMemGetInfo
 * before and after the runs; the peak of the engine's grow-only buffers); nvidia-smi is asked for
 * the name only when the engine cannot say. With --roofline (CUDA only) the kernels are then run
 * one by one on one detector of the same quartet against the device's measured copy bandwidth
 * and FP32 rate (tools/bench_roofline.c), after the device memory figures are taken, and the
 * report gains a roofline table and <base>-roofline.png. Progress goes to stderr, the written
 * paths to stdout. Without a usable device, --backend cuda exits 5 before anything is simulated
 * or written.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sso/bench.h"
#include "tools/bench_roofline.h"
#include "tools/commands.h"
#include "tools/pipeline_opts.h"

/* bench's pipeline defaults: the command line's, on the CPU (a benchmark names its backend). */
static void bench_pipeline_defaults(sso_pipeline_config *c)
{
    sso_cli_pipeline_defaults(c);
    c->backend = SSO_BACKEND_CPU;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: sso bench [options]\n"
"\n"
"Times the detection pipeline (`sso run`'s engine) on a simulated quartet: one warm-up, then K\n"
"repeats. Reports the median time per stage, the end-to-end latency (last detector read ->\n"
"alerts written), throughput (Mpx/s, quartets per hour, stack samples/s), peak host memory and\n"
"device memory, with the machine and the load average at start and end. Writes JSON, markdown\n"
"and a PNG (time per stage, gnuplot) to --out; progress on stderr.\n"
"\n"
"options:\n"
"  --preset NAME      demo (1 CCD of 2048x2066, 20 movers), ccd (2x2 full CCDs, 300 movers) or\n"
"                     field (36 full CCDs, 1000 movers) [demo]\n"
"  --ccds N           1, 4, 9 (3x3), 16 or 36 CCDs instead of the preset's (movers scale)\n"
"  --size W[xH]       CCD size in px instead of the preset's\n"
"  --movers N         movers instead of the preset's (scaled) count\n"
"  --mag-range A,B    movers' AB magnitudes instead of the preset's\n"
"  --rate-range A,B   movers' rates [\"/h] instead of the preset's (0.5,300)\n"
"  --seed N           simulator seed [1]\n"
"  --compress         simulate RICE_1 tile-compressed files (as the archive's; ~1/5 of the disk,\n"
"                     the read then decompresses): a full field is ~29 GB uncompressed\n"
"  --repeat K         measured repeats after the warm-up [3]\n"
"  --warmup N         unmeasured warm-up runs first [1]\n"
"  --data DIR         quartet to reuse or simulate\n"
"                     [bench/data/<preset>-<N>ccd-<W>x<H>-m<M>-s<seed>, -rice when compressed]\n"
"  --out DIR          results directory [bench/results]\n"
"  --tag NAME         machine tag in file names [<cores>core, plus the GPU model]\n"
"  --no-plot          no PNG\n"
"  --roofline         (CUDA) also each GPU kernel's achieved bandwidth / FLOP rate against the\n"
"                     device's copy bandwidth and FP32 rate measured in the same run: a table\n"
"                     in the JSON and markdown, and <name>-roofline.png\n"
"  --roofline-calls N timed calls per kernel for the roofline, after one warm-up [5]\n"
"  --sim-only         only make sure the quartet is in --data (simulate or reuse), print its path\n"
"  --verbose          the pipeline's own progress lines too\n"
"  -h, --help         this text\n"
"\n");
    sso_pipeline_config d;
    bench_pipeline_defaults(&d);
    sso_cli_pipeline_usage(f, &d);
    fprintf(f, "\nexit codes: 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 I/O, 5 GPU unavailable.\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* First line of a command's stdout into buf (newline stripped); -1 when it failed or said nothing. */
static int cmd_line(const char *cmd, char *buf, size_t n)
{
    buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fgets(buf, (int)n, p) != NULL;
    while (ok && fgetc(p) != EOF)
        ;
    const int rc = pclose(p);
    buf[strcspn(buf, "\r\n")] = '\0';
    return ok && rc == 0 && buf[0] ? 0 : -1;
}

static void progress_line(void *user, const char *stage, const char *message)
{
    (void)user;
    fprintf(stderr, "sso bench:   [%s] %s\n", stage, message);
}

/* ---- the simulated quartet ------------------------------------------------------------------ */

typedef struct bench_opts {
    sso_sim_preset preset;
    const char *preset_name;
    int n_ccds, width_px, height_px, movers, repeat, warmup, verbose, plot, sim_only, compress;
    int roofline, roofline_calls;
    unsigned long long seed;
    double mag_range[2], rate_range[2]; /* ranges: 0,0 = the preset's */
    sso_pipeline_config pipe;           /* the shared pipeline options (tools/pipeline_opts.h) */
    const char *data, *out, *tag;
} bench_opts;

static sso_status sim_config(const bench_opts *o, sso_sim_config *c)
{
    sso_status st = sso_sim_config_preset(c, o->preset);
    if (st)
        return st;
    const int preset_ccds = c->n_ccds;
    if (o->n_ccds) {
        static const char *const spec9 = "2-2,2-3,2-4,3-2,3-3,3-4,4-2,4-3,4-4";
        const char *spec = o->n_ccds == 1 ? "3-3" : o->n_ccds == 4 ? "2x2" : o->n_ccds == 9 ? spec9
                         : o->n_ccds == 16 ? "4x4" : "6x6";
        if ((st = sso_sim_config_set_ccds(c, spec)))
            return st;
        c->n_movers = (int)llround((double)c->n_movers * c->n_ccds / preset_ccds);
    }
    if (o->width_px)
        c->width_px = o->width_px, c->height_px = o->height_px;
    if (o->movers >= 0)
        c->n_movers = o->movers;
    if (o->mag_range[1] > 0)
        c->mag_min = o->mag_range[0], c->mag_max = o->mag_range[1];
    if (o->rate_range[1] > 0)
        c->rate_min_arcsec_h = o->rate_range[0], c->rate_max_arcsec_h = o->rate_range[1];
    c->seed = o->seed;
    c->compress = o->compress;
    c->verbose = 1;
    return SSO_OK;
}

static void stamp_text(const sso_sim_config *c, const char *preset, char *buf, size_t n)
{
    int k = snprintf(buf, n, "sso bench data: preset %s seed %llu size %dx%d movers %d mags %g,%g rates %g,%g ccds",
                     preset, (unsigned long long)c->seed, c->width_px, c->height_px, c->n_movers,
                     c->mag_min, c->mag_max, c->rate_min_arcsec_h, c->rate_max_arcsec_h);
    for (int i = 0; i < c->n_ccds && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%s", i ? "," : " ", c->ccds[i]);
    if (c->compress && k > 0 && (size_t)k < n) /* older stamps (uncompressed) stay valid */
        snprintf(buf + k, n - (size_t)k, " rice");
}

/* 1 when dir holds exactly this simulation (stamp, truth.csv, the 4 exposures with the expected
 * detectors and sizes); *n_px gets the detector pixels. */
static int data_matches(const sso_sim_config *c, const char *preset, const char *dir, long long *n_px)
{
    char path[4200], want[1024], have[1024] = "";
    snprintf(path, sizeof path, "%s/bench-data.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(have, sizeof have, f))
        have[0] = '\0';
    fclose(f);
    have[strcspn(have, "\n")] = '\0';
    stamp_text(c, preset, want, sizeof want);
    snprintf(path, sizeof path, "%s/truth.csv", dir);
    if (strcmp(have, want) || access(path, R_OK))
        return 0;
    char p[4][4200];
    const char *pp[4];
    for (int d = 0; d < 4; d++) {
        if (sso_sim_exposure_path(c, dir, d + 1, p[d], sizeof p[d]))
            return 0;
        pp[d] = p[d];
    }
    sso_quartet *q = NULL;
    if (sso_quartet_open(pp, 4, 0, &q))
        return 0;
    int ok = 1;
    long long px = 0;
    for (int e = 0; e < 4 && ok; e++) {
        sso_exposure_info ei;
        ok = !sso_quartet_exposure(q, e, &ei) && ei.n_detectors == c->n_ccds;
        for (int d = 0; ok && d < ei.n_detectors; d++) {
            int w = 0, h = 0;
            ok = !sso_quartet_detector_size(q, e, d, &w, &h) && w == c->width_px && h == c->height_px &&
                 sso_quartet_find_detector(q, e, c->ccds[d]) >= 0;
            px += (long long)w * h;
        }
    }
    sso_quartet_free(q);
    *n_px = px;
    return ok;
}

/* Simulates into dir in a child process; returns its exit code (0 ok). */
static int simulate(const sso_sim_config *c, const char *preset, const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sso bench: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        sso_status st = sso_sim_run(c, dir);
        if (st)
            _exit(sso_cli_error("bench", st));
        char path[4200], stamp[1024];
        snprintf(path, sizeof path, "%s/bench-data.txt", dir);
        stamp_text(c, preset, stamp, sizeof stamp);
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "%s\n", stamp) < 0 || fclose(f) != 0) {
            fprintf(stderr, "sso bench: cannot write %s\n", path);
            _exit(4);
        }
        fflush(NULL);
        _exit(0);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
}

/* ---- one repeat ------------------------------------------------------------------------------ */

static sso_status write_alerts(const char *path, sso_alert *alerts, size_t n)
{
    char tmp[4300], now[40];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    sso_time_us_to_rfc3339(sso_time_now_us(), now, sizeof now);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    sso_status st = SSO_OK;
    for (size_t i = 0; i < n && st == SSO_OK; i++) {
        char *json = NULL;
        alerts[i].seq = 0;
        alerts[i].role = SSO_ROLE_TEST;
        snprintf(alerts[i].boot_id, sizeof alerts[i].boot_id, "bench");
        snprintf(alerts[i].time, sizeof alerts[i].time, "%s", now);
        if ((st = sso_alert_to_json(&alerts[i], 1, &json, NULL)) == SSO_OK)
            fprintf(f, "%s\n", json);
        free(json);
    }
    if (fclose(f) != 0 && st == SSO_OK)
        st = sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (st == SSO_OK && rename(tmp, path) != 0)
        st = sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(errno));
    if (st)
        remove(tmp);
    return st;
}

static sso_status run_once(const char *const *paths, const sso_pipeline_config *cfg,
                           const char *alerts_path, sso_bench_rep *rep)
{
    memset(rep, 0, sizeof *rep);
    sso_quartet *q = NULL;
    sso_alert *alerts = NULL;
    size_t n = 0;
    const double t0 = now_s();
    sso_status st = sso_quartet_open(paths, 4, 0, &q);
    const double t1 = now_s();
    if (st == SSO_OK)
        st = sso_pipeline_run(q, cfg, &alerts, &n, &rep->ps);
    const double t2 = now_s();
    if (st == SSO_OK)
        st = write_alerts(alerts_path, alerts, n);
    const double t3 = now_s();
    rep->open_s = t1 - t0;
    rep->write_s = t3 - t2;
    rep->total_s = t3 - t0;
    rep->latency_s = rep->ps.last_read_mono_s > 0 ? t3 - rep->ps.last_read_mono_s : NAN;
    free(alerts);
    sso_quartet_free(q);
    return st;
}

/* ---- plot ------------------------------------------------------------------------------------ */

static void plot_stages(const sso_bench_report *r, const char *png)
{
    if (strpbrk(png, "'\n\r"))
        return;
    FILE *g = sso_cli_plot_open("gnuplot 2>/dev/null");
    if (!g) {
        fprintf(stderr, "sso bench: warning: gnuplot not started: %s not written\n", png);
        return;
    }
    fprintf(g, "$d << EOD\n");
    for (int k = 0; k < SSO_BENCH_N_STAGES; k++)
        fprintf(g, "%s %.6g\n", sso_bench_stage_name(k), r->sum.stage_s[k]);
    fprintf(g, "EOD\n"
               "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1000,600 font ',10' }"
               " else { set terminal png size 1000,600 }\n"
               "set output '%s'\n"
               "set title \"sso bench %s: %d CCD(s) %dx%d, vmax %g\\\"/h, %s on %s: total %.2f s (median of %d)\"\n"
               "set style data histograms; set style fill solid 0.7 border -1; set boxwidth 0.8\n"
               "set grid y; set ylabel 'median time [s]'; set xtics rotate by -35; unset key\n"
               "plot $d using 2:xtic(1) lc rgb '#4477aa'\nset output\n",
            png, r->preset, r->n_ccds, r->width_px, r->height_px, r->vmax_arcsec_h, r->backend_used,
            r->tag, r->sum.total_s, r->n_reps);
    if (sso_cli_plot_close(g) != 0 || access(png, R_OK) != 0)
        fprintf(stderr, "sso bench: warning: gnuplot failed (apt-get install gnuplot-nox): %s not written\n", png);
    else
        printf("%s\n", png);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int bad(const char *what, const char *v)
{
    fprintf(stderr, "sso bench: bad value for %s: '%s' (sso bench --help)\n", what, v ? v : "");
    return 2;
}

int sso_cmd_bench(int argc, char **argv)
{
    bench_opts o = {.preset = SSO_SIM_PRESET_DEMO, .preset_name = "demo", .movers = -1,
                    .repeat = 3, .warmup = 1, .plot = 1, .seed = 1,
                    .out = "bench/results", .roofline_calls = 5};
    bench_pipeline_defaults(&o.pipe);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int po;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((po = sso_cli_pipeline_opt("bench", argc, argv, &i, &o.pipe)) != 0) {
            if (po < 0)
                return 2;
            continue;
        } else if (!strcmp(a, "--verbose")) {
            o.verbose = 1;
            continue;
        } else if (!strcmp(a, "--sim-only")) {
            o.sim_only = 1;
            continue;
        } else if (!strcmp(a, "--compress")) {
            o.compress = 1;
            continue;
        } else if (!strcmp(a, "--no-plot")) {
            o.plot = 0;
            continue;
        } else if (!strcmp(a, "--roofline")) {
            o.roofline = 1;
            continue;
        } else if (!v || a[0] != '-') {
            fprintf(stderr, "sso bench: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--preset")) {
            if (sso_sim_preset_from_name(v, &o.preset))
                return bad(a, v);
            o.preset_name = v;
        } else if (!strcmp(a, "--ccds")) {
            o.n_ccds = atoi(v);
            if (o.n_ccds != 1 && o.n_ccds != 4 && o.n_ccds != 9 && o.n_ccds != 16 && o.n_ccds != 36)
                return bad("--ccds (1, 4, 9, 16 or 36)", v);
        } else if (!strcmp(a, "--size")) {
            int w = 0, h = 0;
            const int k = sscanf(v, "%dx%d", &w, &h);
            if (k < 1 || w < 64 || w > 100000 || (k == 2 && (h < 64 || h > 100000)))
                return bad(a, v);
            o.width_px = w, o.height_px = k == 2 ? h : w;
        } else if (!strcmp(a, "--movers")) {
            o.movers = (int)strtol(v, &end, 10);
            if (*end || o.movers < 0 || o.movers > 1000000)
                return bad(a, v);
        } else if (!strcmp(a, "--mag-range") || !strcmp(a, "--rate-range")) {
            double *rg = a[2] == 'm' ? o.mag_range : o.rate_range;
            if (sscanf(v, "%lf,%lf", &rg[0], &rg[1]) != 2 || !(rg[1] > rg[0]) || !(rg[0] > 0))
                return bad(a, v);
        } else if (!strcmp(a, "--seed")) {
            o.seed = strtoull(v, &end, 10);
            if (*end || v[0] == '-')
                return bad(a, v);
        } else if (!strcmp(a, "--repeat")) {
            o.repeat = (int)strtol(v, &end, 10);
            if (*end || o.repeat < 1 || o.repeat > 1000)
                return bad("--repeat (1..1000)", v);
        } else if (!strcmp(a, "--warmup")) {
            o.warmup = (int)strtol(v, &end, 10);
            if (*end || o.warmup < 0 || o.warmup > 100)
                return bad("--warmup (0..100)", v);
        } else if (!strcmp(a, "--roofline-calls")) {
            o.roofline_calls = (int)strtol(v, &end, 10);
            if (*end || o.roofline_calls < 1 || o.roofline_calls > 32)
                return bad("--roofline-calls (1..32)", v);
        } else if (!strcmp(a, "--data")) {
            o.data = v;
        } else if (!strcmp(a, "--out")) {
            o.out = v;
        } else if (!strcmp(a, "--tag")) {
            if (!v[0] || strlen(v) > 40 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(v))
                return bad("--tag (letters, digits, - _ .)", v);
            o.tag = v;
        } else {
            fprintf(stderr, "sso bench: unknown option: %s\n\n", a);
            usage(stderr);
            return 2;
        }
    }

    static sso_bench_report r;
    memset(&r, 0, sizeof r);
    sso_bench_loadavg(r.load_start);
    sso_sim_config sc;
    sso_status st = sim_config(&o, &sc);
    if (st)
        return sso_cli_error("bench", st);
    const sso_backend be = sso_backend_resolve(o.pipe.backend);
    const double vmax_arcsec_h = o.pipe.stack.vmax_px_h * o.pipe.patch.scale_arcsec;
    if (o.pipe.backend == SSO_BACKEND_CUDA && sso_k_device_count() == 0) {
        fprintf(stderr, "sso bench: --backend cuda: no CUDA device (built without CUDA or no GPU)\n");
        return sso_status_exit_code(SSO_ERR_NO_DEVICE);
    }
    if (o.roofline && be != SSO_BACKEND_CUDA) {
        fprintf(stderr, "sso bench: --roofline measures GPU kernels: it needs --backend cuda (or auto "
                        "with a device)\n");
        return 2;
    }
    sso_bench_machine_describe(&r.machine);
    if (cmd_line("git describe --always --dirty --abbrev=12 2>/dev/null", r.machine.git_commit,
                 sizeof r.machine.git_commit))
        snprintf(r.machine.git_commit, sizeof r.machine.git_commit, "unknown");
    char gpu_short[32] = "";
    if (be == SSO_BACKEND_CUDA) {
        sso_k_device_info di;
        char line[256] = "";
        if (sso_k_engine_info(&di) == SSO_OK) {
            sso_bench_device *d = &r.device;
            d->known = 1;
            snprintf(d->name, sizeof d->name, "%s", di.name);
            d->cc_major = di.cc_major, d->cc_minor = di.cc_minor, d->n_sm = di.n_sm;
            d->driver_version = di.driver_version, d->runtime_version = di.runtime_version;
            d->total_mib = (double)di.total_bytes / 1048576.0;
            d->used_start_mib = (double)(di.total_bytes - di.free_bytes) / 1048576.0;
            snprintf(r.machine.gpu, sizeof r.machine.gpu, "%.100s, compute %d.%d, CUDA driver %d, %.0f MiB",
                     di.name, di.cc_major, di.cc_minor, di.driver_version, d->total_mib);
            snprintf(line, sizeof line, "%s", di.name);
        } else if (!cmd_line("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0 "
                             "2>/dev/null", line, sizeof line)) {
            snprintf(r.machine.gpu, sizeof r.machine.gpu, "%.100s (nvidia-smi)", line);
            line[strcspn(line, ",")] = '\0';
        } else {
            snprintf(r.machine.gpu, sizeof r.machine.gpu, "CUDA device (no engine information, no nvidia-smi)");
        }
        if (line[0]) { /* the model word: "NVIDIA H100 80GB HBM3" -> "-h100", "NVIDIA H200" -> "-h200" */
            const char *m = strncmp(line, "NVIDIA ", 7) ? line : line + 7;
            snprintf(gpu_short, sizeof gpu_short, "-%.*s", (int)(strcspn(m, " ") < 30 ? strcspn(m, " ") : 30), m);
            for (char *p = gpu_short; *p; p++)
                *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : (strchr("-_.", *p) || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) ? *p : '-';
        }
    }
    if (o.tag)
        snprintf(r.tag, sizeof r.tag, "%s", o.tag);
    else
        snprintf(r.tag, sizeof r.tag, "%dcore%s", r.machine.n_cores, gpu_short);

    char data[2048];
    if (o.data)
        snprintf(data, sizeof data, "%s", o.data);
    else
        snprintf(data, sizeof data, "bench/data/%s-%dccd-%dx%d-m%d-s%llu%s", o.preset_name, sc.n_ccds,
                 sc.width_px, sc.height_px, sc.n_movers, (unsigned long long)sc.seed,
                 sc.compress ? "-rice" : "");
    long long n_px = 0;
    if (data_matches(&sc, o.preset_name, data, &n_px)) {
        fprintf(stderr, "sso bench: reusing the quartet in %s\n", data);
        r.reused_data = 1;
    } else {
        fprintf(stderr, "sso bench: simulating %s: %d CCD(s) of %dx%d px, %d movers, seed %llu into %s\n",
                o.preset_name, sc.n_ccds, sc.width_px, sc.height_px, sc.n_movers,
                (unsigned long long)sc.seed, data);
        if (mkdir_p(data)) {
            fprintf(stderr, "sso bench: cannot create %s: %s\n", data, strerror(errno));
            return 4;
        }
        const double t0 = now_s();
        const int rc = simulate(&sc, o.preset_name, data);
        r.sim_s = now_s() - t0;
        if (rc)
            return rc;
        if (!data_matches(&sc, o.preset_name, data, &n_px)) {
            fprintf(stderr, "sso bench: the simulated quartet in %s does not read back as expected\n", data);
            return 1;
        }
    }
    if (o.sim_only) {
        printf("%s\n", data);
        return 0;
    }
    char p[4][4200], alerts_path[4200];
    const char *paths[4];
    for (int d = 0; d < 4; d++) {
        sso_sim_exposure_path(&sc, data, d + 1, p[d], sizeof p[d]);
        paths[d] = p[d];
    }
    snprintf(alerts_path, sizeof alerts_path, "%s/bench-alerts-%s.jsonl", data, sso_backend_name(be));

    sso_pipeline_config cfg = o.pipe;
    if (o.verbose)
        cfg.progress = progress_line;

    sso_bench_rep *reps = calloc((size_t)o.repeat, sizeof *reps);
    if (!reps)
        return sso_cli_error("bench", sso_fail(SSO_ERR_NOMEM, "bench: repeats"));
    snprintf(r.backend_used, sizeof r.backend_used, "%s", sso_backend_name(be));
    for (int i = -o.warmup; i < o.repeat && st == SSO_OK; i++) {
        sso_bench_rep warm, *rep = i < 0 ? &warm : &reps[i];
        st = run_once(paths, &cfg, alerts_path, rep);
        if (st == SSO_OK)
            fprintf(stderr, "sso bench: %s%d/%d: %.2f s (stack %.2f s, %.3g samples/s), latency %.2f s, %zu alerts\n",
                    i < 0 ? "warm-up " : "repeat ", i < 0 ? i + o.warmup + 1 : i + 1, i < 0 ? o.warmup : o.repeat, rep->total_s, rep->ps.stack_s,
                    rep->ps.stack_s > 0 ? rep->ps.n_stack_samples / rep->ps.stack_s : 0.0, rep->latency_s,
                    rep->ps.n_alerts);
        if (st == SSO_OK && rep->ps.backend[0])
            snprintf(r.backend_used, sizeof r.backend_used, "%s", rep->ps.backend);
    }
    if (st) {
        free(reps);
        return sso_cli_error("bench", st);
    }
    r.peak_rss_bytes = sso_bench_peak_rss_bytes();
    r.device_mem_peak_mib = -1.0;
    if (be != SSO_BACKEND_CUDA)
        snprintf(r.device_mem_note, sizeof r.device_mem_note, "CPU backend: no device used");
    else {
        sso_k_device_info di;
        if (r.device.known && sso_k_engine_info(&di) == SSO_OK) {
            r.device.used_end_mib = (double)(di.total_bytes - di.free_bytes) / 1048576.0;
            r.device.engine_peak_mib = (double)di.peak_engine_bytes / 1048576.0;
            r.device_mem_peak_mib = r.device.engine_peak_mib;
            snprintf(r.device_mem_note, sizeof r.device_mem_note,
                     "engine buffers at most (sso_k_engine_info); cudaMemGetInfo used %.0f MiB after the "
                     "runs, %.0f MiB before", r.device.used_end_mib, r.device.used_start_mib);
        } else
            snprintf(r.device_mem_note, sizeof r.device_mem_note, "n/a: the engine gave no device information");
    }
    static sso_bench_roof_row roof[SSO_ROOF_MAX_ROWS];
    if (o.roofline) {
        fprintf(stderr, "sso bench: roofline: every GPU kernel on one detector of %s\n", data);
        if ((st = sso_bench_roofline_measure(paths, o.roofline_calls, cfg.stack.vmax_px_h, &r.peaks, roof,
                                             &r.n_roof))) {
            free(reps);
            return sso_cli_error("bench", st);
        }
        r.roof = roof;
    }
    sso_bench_loadavg(r.load_end);

    /* the report */
    snprintf(r.preset, sizeof r.preset, "%s", o.preset_name);
    snprintf(r.backend_requested, sizeof r.backend_requested, "%s", sso_backend_name(o.pipe.backend));
    char now[40];
    sso_time_us_to_rfc3339(sso_time_now_us(), now, sizeof now);
    snprintf(r.date, sizeof r.date, "%s", now);
    int k = snprintf(r.command, sizeof r.command, "sso");
    for (int i = 0; i < argc && k > 0 && (size_t)k < sizeof r.command; i++)
        k += snprintf(r.command + k, sizeof r.command - (size_t)k, " %s", argv[i]);
    snprintf(r.data_dir, sizeof r.data_dir, "%s", data);
    r.n_ccds = sc.n_ccds, r.width_px = sc.width_px, r.height_px = sc.height_px;
    r.n_movers = sc.n_movers, r.seed = sc.seed, r.threads = cfg.n_threads;
    r.compressed_data = sc.compress;
    r.patch_px = cfg.patch.size_px, r.fast = cfg.fast, r.vmax_arcsec_h = vmax_arcsec_h;
    r.reps = reps, r.n_reps = o.repeat;
    if ((st = sso_bench_summarize(reps, o.repeat, n_px, &r.sum))) {
        free(reps);
        return sso_cli_error("bench", st);
    }
    if (mkdir_p(o.out)) {
        fprintf(stderr, "sso bench: cannot create %s: %s\n", o.out, strerror(errno));
        free(reps);
        return 4;
    }
    char base[4096], path[4200];
    snprintf(base, sizeof base, "%s/bench-%s-%dccd-%dx%d-v%g-%s-%s-%.10s", o.out, r.preset, r.n_ccds,
             r.width_px, r.height_px, r.vmax_arcsec_h, r.backend_used, r.tag, r.date);
    snprintf(path, sizeof path, "%s.json", base);
    if ((st = sso_bench_write_json(&r, path)) == SSO_OK) {
        printf("%s\n", path);
        snprintf(path, sizeof path, "%s.md", base);
        if ((st = sso_bench_write_markdown(&r, path)) == SSO_OK)
            printf("%s\n", path);
    }
    if (st == SSO_OK && o.plot) {
        snprintf(path, sizeof path, "%s-stages.png", base);
        plot_stages(&r, path);
        snprintf(path, sizeof path, "%s-roofline.png", base);
        if (r.n_roof > 0 && sso_bench_roofline_plot(&r, path) == 0 && access(path, R_OK) == 0)
            printf("%s\n", path);
    }
    fprintf(stderr, "sso bench: median %.2f s per quartet (%.2f Mpx/s, %.0f quartets/h), latency %.2f s, "
                    "stack %.3g samples/s, peak RSS %.0f MiB; load %.2f -> %.2f\n",
            r.sum.total_s, r.sum.mpx_per_s, r.sum.quartets_per_h, r.sum.latency_s,
            r.sum.stack_samples_per_s, (double)r.peak_rss_bytes / 1048576.0, r.load_start[0], r.load_end[0]);
    free(reps);
    return st ? sso_cli_error("bench", st) : 0;
}
