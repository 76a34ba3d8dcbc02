/* host/bench.c: benchmark summaries, machine description and reports (sso/bench.h).
 *
 * The stage table maps each of the SSO_BENCH_N_STAGES names to a field of sso_bench_rep (the
 * pipeline's own timings plus the tool's open and write), so the summary, the JSON and the
 * markdown all list the same stages in the same order. Medians are taken per figure over the
 * repeats; throughput is derived from the median total (so one slow repeat under load does not
 * move it). The machine is read from /proc/cpuinfo, /proc/meminfo, /etc/os-release and uname();
 * missing files leave fields empty rather than failing: a benchmark on an odd machine is still a
 * benchmark. JSON goes through the alert layer's writer (alerts/json.h: escaping, C-locale
 * shortest round-trip numbers). Output files are written to "<path>.tmp" and renamed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "alerts/json.h"
#include "host/status_internal.h"
#include "sso/bench.h"

static const char *const g_stage_names[SSO_BENCH_N_STAGES] = {
    "open", "read", "prep", "background", "cosmic", "resample",
    "difference", "likelihood", "stack", "measure", "fast", "write"};

const char *sso_bench_stage_name(int stage)
{
    return stage >= 0 && stage < SSO_BENCH_N_STAGES ? g_stage_names[stage] : NULL;
}

double sso_bench_stage_s(const sso_bench_rep *r, int stage)
{
    if (!r)
        return 0.0;
    const sso_pipeline_stats *p = &r->ps;
    switch (stage) {
    case 0: return r->open_s;
    case 1: return p->read_s;
    case 2: return p->prep_s;
    case 3: return p->background_s;
    case 4: return p->cosmic_s;
    case 5: return p->resample_s;
    case 6: return p->difference_s;
    case 7: return p->likelihood_s;
    case 8: return p->stack_s;
    case 9: return p->measure_s;
    case 10: return p->fast_s;
    case 11: return r->write_s;
    default: return 0.0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sso_bench_median(const double *v, int n)
{
    if (!v || n <= 0)
        return NAN;
    double small[64], *s = n <= 64 ? small : malloc((size_t)n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    const double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    if (s != small)
        free(s);
    return m;
}

sso_status sso_bench_summarize(const sso_bench_rep *reps, int n, long long n_px,
                               sso_bench_summary *out)
{
    if (!reps || !out || n < 1 || n > 10000 || n_px < 0)
        return sso_fail(SSO_ERR_ARG, "bench: summarize needs 1..10000 repeats and a pixel count");
    memset(out, 0, sizeof *out);
    double *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return sso_fail(SSO_ERR_NOMEM, "bench: %d repeats", n);
    out->n_repeats = n;
    for (int s = 0; s < SSO_BENCH_N_STAGES; s++) {
        for (int i = 0; i < n; i++)
            v[i] = sso_bench_stage_s(&reps[i], s);
        out->stage_s[s] = sso_bench_median(v, n);
    }
    out->total_min_s = INFINITY, out->total_max_s = 0.0;
    for (int i = 0; i < n; i++) {
        v[i] = reps[i].total_s;
        out->total_min_s = fmin(out->total_min_s, reps[i].total_s);
        out->total_max_s = fmax(out->total_max_s, reps[i].total_s);
    }
    out->total_s = sso_bench_median(v, n);
    for (int i = 0; i < n; i++)
        v[i] = reps[i].latency_s;
    out->latency_s = sso_bench_median(v, n);
    for (int i = 0; i < n; i++)
        v[i] = reps[i].ps.stack_s > 0 ? (double)reps[i].ps.n_stack_samples / reps[i].ps.stack_s : 0.0;
    out->stack_samples_per_s = sso_bench_median(v, n);
    free(v);
    out->n_px = n_px;
    if (out->total_s > 0) {
        out->mpx_per_s = (double)n_px / 1e6 / out->total_s;
        out->quartets_per_h = 3600.0 / out->total_s;
        const double field_px = 36.0 * 4096.0 * 4132.0 * 4.0;
        out->field_quartets_per_h = n_px > 0 ? out->quartets_per_h * (double)n_px / field_px : 0.0;
    }
    const sso_bench_rep *last = &reps[n - 1];
    out->n_stack_samples = last->ps.n_stack_samples;
    out->n_alerts = last->ps.n_alerts;
    out->n_patches = last->ps.n_patches;
    out->n_detectors = last->ps.n_detectors;
    out->patch_bytes_peak = last->ps.patch_bytes_peak;
    return SSO_OK;
}

/* ---- roofline ------------------------------------------------------------------------------ */

double sso_bench_ridge(const sso_bench_peaks *pk)
{
    if (!pk || !(pk->copy_gbps > 0) || !(pk->fp32_gflops > 0))
        return NAN;
    return pk->fp32_gflops / pk->copy_gbps;
}

sso_status sso_bench_roofline_derive(sso_bench_roof_row *r, const sso_bench_peaks *pk)
{
    if (!r || !pk)
        return sso_fail(SSO_ERR_ARG, "bench: roofline: NULL row or peaks");
    if (!(r->kernel_s > 0) || !(r->bytes >= 0) || !(r->flops >= 0) || !(r->samples >= 0))
        return sso_fail(SSO_ERR_ARG, "bench: roofline row %s: kernel time %g s, bytes %g, flops %g",
                        r->kernel, r->kernel_s, r->bytes, r->flops);
    const double B = pk->copy_gbps > 0 ? pk->copy_gbps : NAN;
    const double F = pk->fp32_gflops > 0 ? pk->fp32_gflops : NAN;
    r->gbps = r->bytes > 0 ? r->bytes / r->kernel_s / 1e9 : NAN;
    r->gflops = r->flops > 0 ? r->flops / r->kernel_s / 1e9 : NAN;
    r->intensity = r->flops > 0 && r->bytes > 0 ? r->flops / r->bytes : NAN;
    r->frac_copy = r->gbps / B;
    r->frac_fp32 = r->gflops / F;
    r->roof_gflops = isnan(r->intensity) ? NAN : fmin(F, r->intensity * B);
    r->frac_roof = r->gflops / r->roof_gflops;
    r->samples_per_s = r->samples > 0 ? r->samples / r->kernel_s : NAN;
    const double ridge = F / B;
    r->memory_bound = isnan(r->intensity) || isnan(ridge) ? r->flops <= 0 : r->intensity < ridge;
    return SSO_OK;
}

/* ---- the machine --------------------------------------------------------------------------- */

/* Copies the value of the first "key<spaces>:<value>" line of a /proc-style file into buf. */
static int proc_value(const char *path, const char *key, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int found = -1;
    const size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0)
            continue;
        const char *p = line + kl;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':' && *p != '=')
            continue;
        p++;
        while (*p == ' ' || *p == '"')
            p++;
        snprintf(buf, n, "%s", p);
        buf[strcspn(buf, "\"\n")] = '\0';
        found = 0;
        break;
    }
    fclose(f);
    return found;
}

sso_status sso_bench_machine_describe(sso_bench_machine *m)
{
    if (!m)
        return sso_fail(SSO_ERR_ARG, "bench: NULL machine");
    memset(m, 0, sizeof *m);
    if (proc_value("/proc/cpuinfo", "model name", m->cpu_model, sizeof m->cpu_model))
        snprintf(m->cpu_model, sizeof m->cpu_model, "unknown");
    const long nc = sysconf(_SC_NPROCESSORS_ONLN);
    m->n_cores = nc > 0 ? (int)nc : 0;
    char mem[64];
    if (!proc_value("/proc/meminfo", "MemTotal", mem, sizeof mem))
        m->mem_gib = atof(mem) / (1024.0 * 1024.0); /* kB */
    struct utsname u;
    char pretty[96] = "";
    proc_value("/etc/os-release", "PRETTY_NAME", pretty, sizeof pretty);
    if (uname(&u) == 0)
        snprintf(m->os, sizeof m->os, "%s %s %s%s%s", u.sysname, u.release, u.machine,
                 pretty[0] ? ", " : "", pretty);
    const char *opt =
#if defined(__OPTIMIZE__)
        "optimised";
#else
        "not optimised";
#endif
    const char *san = "";
#if defined(__SANITIZE_ADDRESS__)
    san = ", ASan";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    san = ", ASan";
#endif
#endif
#if defined(__clang__)
    snprintf(m->compiler, sizeof m->compiler, "clang %s (%s%s)", __clang_version__, opt, san);
#elif defined(__GNUC__)
    snprintf(m->compiler, sizeof m->compiler, "gcc %s (%s%s)", __VERSION__, opt, san);
#else
    snprintf(m->compiler, sizeof m->compiler, "unknown C compiler (%s%s)", opt, san);
#endif
    return SSO_OK;
}

void sso_bench_loadavg(double la[3])
{
    la[0] = la[1] = la[2] = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return;
    if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
        la[0] = la[1] = la[2] = NAN;
    fclose(f);
}

long long sso_bench_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (long long)ru.ru_maxrss * 1024; /* Linux: KiB */
}

/* ---- reports ------------------------------------------------------------------------------- */

static sso_status write_text(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return sso_fail(SSO_ERR_ARG, "bench: path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    const int bad = fwrite(text, 1, len, f) != len;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        const int e = errno;
        remove(tmp);
        return sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(e));
    }
    return SSO_OK;
}

static void jw_la(sso_jw *w, const char *key, const double la[3])
{
    sso_jw_key(w, key);
    sso_jw_arr_begin(w);
    for (int i = 0; i < 3; i++)
        sso_jw_num(w, la[i]);
    sso_jw_arr_end(w);
}

sso_status sso_bench_write_json(const sso_bench_report *r, const char *path)
{
    if (!r || !path)
        return sso_fail(SSO_ERR_ARG, "bench: NULL report or path");
    const sso_bench_summary *s = &r->sum;
    sso_jw w;
    sso_jw_init(&w);
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "tool"), sso_jw_str(&w, "sso bench");
    sso_jw_key(&w, "date"), sso_jw_str(&w, r->date);
    sso_jw_key(&w, "command"), sso_jw_str(&w, r->command);
    sso_jw_key(&w, "config");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "preset"), sso_jw_str(&w, r->preset);
    sso_jw_key(&w, "backend_requested"), sso_jw_str(&w, r->backend_requested);
    sso_jw_key(&w, "backend_used"), sso_jw_str(&w, r->backend_used);
    sso_jw_key(&w, "n_ccds"), sso_jw_int(&w, r->n_ccds);
    sso_jw_key(&w, "ccd_width_px"), sso_jw_int(&w, r->width_px);
    sso_jw_key(&w, "ccd_height_px"), sso_jw_int(&w, r->height_px);
    sso_jw_key(&w, "n_movers"), sso_jw_int(&w, r->n_movers);
    sso_jw_key(&w, "seed"), sso_jw_u64(&w, r->seed);
    sso_jw_key(&w, "vmax_arcsec_h"), sso_jw_num(&w, r->vmax_arcsec_h);
    sso_jw_key(&w, "threads"), sso_jw_int(&w, r->threads);
    sso_jw_key(&w, "patch_px"), sso_jw_int(&w, r->patch_px);
    sso_jw_key(&w, "fast_search"), sso_jw_bool(&w, r->fast);
    sso_jw_key(&w, "repeats"), sso_jw_int(&w, r->n_reps);
    sso_jw_key(&w, "data_dir"), sso_jw_str(&w, r->data_dir);
    sso_jw_key(&w, "data_reused"), sso_jw_bool(&w, r->reused_data);
    sso_jw_key(&w, "data_compressed"), sso_jw_bool(&w, r->compressed_data);
    sso_jw_key(&w, "sim_s"), sso_jw_num(&w, r->sim_s);
    sso_jw_obj_end(&w);
    sso_jw_key(&w, "machine");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "tag"), sso_jw_str(&w, r->tag);
    sso_jw_key(&w, "cpu"), sso_jw_str(&w, r->machine.cpu_model);
    sso_jw_key(&w, "cores"), sso_jw_int(&w, r->machine.n_cores);
    sso_jw_key(&w, "mem_gib"), sso_jw_num(&w, round(r->machine.mem_gib * 10.0) / 10.0);
    sso_jw_key(&w, "os"), sso_jw_str(&w, r->machine.os);
    sso_jw_key(&w, "compiler"), sso_jw_str(&w, r->machine.compiler);
    sso_jw_key(&w, "git_commit"), sso_jw_str(&w, r->machine.git_commit);
    sso_jw_key(&w, "gpu"), sso_jw_str(&w, r->machine.gpu);
    sso_jw_obj_end(&w);
    sso_jw_key(&w, "load_avg");
    sso_jw_obj_begin(&w);
    jw_la(&w, "start", r->load_start);
    jw_la(&w, "end", r->load_end);
    sso_jw_obj_end(&w);
    sso_jw_key(&w, "stages");
    sso_jw_arr_begin(&w);
    for (int k = 0; k < SSO_BENCH_N_STAGES; k++) {
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "name"), sso_jw_str(&w, g_stage_names[k]);
        sso_jw_key(&w, "median_s"), sso_jw_num(&w, s->stage_s[k]);
        sso_jw_obj_end(&w);
    }
    sso_jw_arr_end(&w);
    sso_jw_key(&w, "total_s"), sso_jw_num(&w, s->total_s);
    sso_jw_key(&w, "total_min_s"), sso_jw_num(&w, s->total_min_s);
    sso_jw_key(&w, "total_max_s"), sso_jw_num(&w, s->total_max_s);
    sso_jw_key(&w, "latency_s"), sso_jw_num(&w, s->latency_s);
    sso_jw_key(&w, "throughput");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "mpx_per_s"), sso_jw_num(&w, s->mpx_per_s);
    sso_jw_key(&w, "quartets_per_h"), sso_jw_num(&w, s->quartets_per_h);
    sso_jw_key(&w, "field_quartets_per_h"), sso_jw_num(&w, s->field_quartets_per_h);
    sso_jw_key(&w, "stack_samples_per_s"), sso_jw_num(&w, s->stack_samples_per_s);
    sso_jw_obj_end(&w);
    sso_jw_key(&w, "memory");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "host_peak_rss_mib");
    sso_jw_num(&w, r->peak_rss_bytes >= 0 ? round((double)r->peak_rss_bytes / 1048576.0 * 10) / 10 : NAN);
    sso_jw_key(&w, "patch_buffers_peak_mib");
    sso_jw_num(&w, round((double)s->patch_bytes_peak / 1048576.0 * 10) / 10);
    sso_jw_key(&w, "device_peak_mib");
    sso_jw_num(&w, r->device_mem_peak_mib >= 0 ? r->device_mem_peak_mib : NAN);
    sso_jw_key(&w, "device_note"), sso_jw_str(&w, r->device_mem_note);
    sso_jw_obj_end(&w);
    if (r->device.known) {
        const sso_bench_device *d = &r->device;
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", d->cc_major, d->cc_minor);
        sso_jw_key(&w, "device");
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "name"), sso_jw_str(&w, d->name);
        sso_jw_key(&w, "compute_capability"), sso_jw_str(&w, cc);
        sso_jw_key(&w, "multiprocessors"), sso_jw_int(&w, d->n_sm);
        sso_jw_key(&w, "cuda_driver_version"), sso_jw_int(&w, d->driver_version);
        sso_jw_key(&w, "cuda_runtime_version"), sso_jw_int(&w, d->runtime_version);
        sso_jw_key(&w, "total_mib"), sso_jw_num(&w, d->total_mib);
        sso_jw_key(&w, "used_start_mib"), sso_jw_num(&w, d->used_start_mib);
        sso_jw_key(&w, "used_end_mib"), sso_jw_num(&w, d->used_end_mib);
        sso_jw_key(&w, "engine_peak_mib"), sso_jw_num(&w, d->engine_peak_mib);
        sso_jw_obj_end(&w);
    }
    if (r->roof && r->n_roof > 0) {
        sso_jw_key(&w, "roofline");
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "peaks");
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "copy_gbps"), sso_jw_num(&w, r->peaks.copy_gbps > 0 ? r->peaks.copy_gbps : NAN);
        sso_jw_key(&w, "copy_bytes"), sso_jw_num(&w, r->peaks.copy_bytes);
        sso_jw_key(&w, "fp32_gflops"), sso_jw_num(&w, r->peaks.fp32_gflops > 0 ? r->peaks.fp32_gflops : NAN);
        sso_jw_key(&w, "ridge_flop_per_byte"), sso_jw_num(&w, sso_bench_ridge(&r->peaks));
        sso_jw_obj_end(&w);
        sso_jw_key(&w, "kernels");
        sso_jw_arr_begin(&w);
        for (int i = 0; i < r->n_roof; i++) {
            const sso_bench_roof_row *k = &r->roof[i];
            sso_jw_obj_begin(&w);
            sso_jw_key(&w, "kernel"), sso_jw_str(&w, k->kernel);
            sso_jw_key(&w, "shape"), sso_jw_str(&w, k->shape);
            sso_jw_key(&w, "bytes"), sso_jw_num(&w, k->bytes);
            sso_jw_key(&w, "flops"), sso_jw_num(&w, k->flops);
            sso_jw_key(&w, "samples"), sso_jw_num(&w, k->samples);
            sso_jw_key(&w, "kernel_s"), sso_jw_num(&w, k->kernel_s);
            sso_jw_key(&w, "n_calls"), sso_jw_int(&w, k->n_calls);
            sso_jw_key(&w, "gbps"), sso_jw_num(&w, k->gbps);
            sso_jw_key(&w, "gflops"), sso_jw_num(&w, k->gflops);
            sso_jw_key(&w, "intensity"), sso_jw_num(&w, k->intensity);
            sso_jw_key(&w, "frac_copy"), sso_jw_num(&w, k->frac_copy);
            sso_jw_key(&w, "frac_fp32"), sso_jw_num(&w, k->frac_fp32);
            sso_jw_key(&w, "roof_gflops"), sso_jw_num(&w, k->roof_gflops);
            sso_jw_key(&w, "frac_roof"), sso_jw_num(&w, k->frac_roof);
            sso_jw_key(&w, "samples_per_s"), sso_jw_num(&w, k->samples_per_s);
            sso_jw_key(&w, "bound"), sso_jw_str(&w, k->memory_bound ? "memory" : "compute");
            sso_jw_obj_end(&w);
        }
        sso_jw_arr_end(&w);
        sso_jw_obj_end(&w);
    }
    sso_jw_key(&w, "counts");
    sso_jw_obj_begin(&w);
    sso_jw_key(&w, "detector_px"), sso_jw_int(&w, s->n_px);
    sso_jw_key(&w, "detector_reads"), sso_jw_int(&w, s->n_detectors);
    sso_jw_key(&w, "patches"), sso_jw_int(&w, s->n_patches);
    sso_jw_key(&w, "stack_samples"), sso_jw_int(&w, s->n_stack_samples);
    sso_jw_key(&w, "alerts"), sso_jw_int(&w, (long long)s->n_alerts);
    sso_jw_obj_end(&w);
    sso_jw_key(&w, "repeats");
    sso_jw_arr_begin(&w);
    for (int i = 0; i < r->n_reps && r->reps; i++) {
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "total_s"), sso_jw_num(&w, r->reps[i].total_s);
        sso_jw_key(&w, "latency_s"), sso_jw_num(&w, r->reps[i].latency_s);
        sso_jw_key(&w, "pipeline_total_s"), sso_jw_num(&w, r->reps[i].ps.total_s);
        sso_jw_key(&w, "stages");
        sso_jw_obj_begin(&w);
        for (int k = 0; k < SSO_BENCH_N_STAGES; k++)
            sso_jw_key(&w, g_stage_names[k]), sso_jw_num(&w, sso_bench_stage_s(&r->reps[i], k));
        sso_jw_obj_end(&w);
        sso_jw_obj_end(&w);
    }
    sso_jw_arr_end(&w);
    sso_jw_obj_end(&w);
    char *text = NULL;
    size_t len = 0;
    sso_status st = sso_jw_finish(&w, &text, &len);
    if (st == SSO_OK) {
        text[len] = '\0';
        char *t2 = realloc(text, len + 2);
        if (!t2) {
            free(text);
            return sso_fail(SSO_ERR_NOMEM, "bench: JSON");
        }
        text = t2;
        text[len++] = '\n';
        st = write_text(path, text, len);
    }
    free(text);
    return st;
}

sso_status sso_bench_write_markdown(const sso_bench_report *r, const char *path)
{
    if (!r || !path)
        return sso_fail(SSO_ERR_ARG, "bench: NULL report or path");
    const sso_bench_summary *s = &r->sum;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return sso_fail(SSO_ERR_NOMEM, "bench: markdown");
    fprintf(f, "# sso bench: %s, %d CCD(s) of %dx%d px, vmax %.3g\"/h, backend %s (%s)\n\n", r->preset,
            r->n_ccds, r->width_px, r->height_px, r->vmax_arcsec_h, r->backend_used, r->tag);
    fprintf(f, "`%s`\n\n", r->command);
    fprintf(f, "- date %s, git %s; median of %d repeat(s) after a warm-up; %d stack thread(s), "
               "patch %d px%s; data %s%s\n",
            r->date, r->machine.git_commit, r->n_reps, r->threads, r->patch_px,
            r->fast ? ", fast search on" : "", r->reused_data ? "reused" : "simulated for this run",
            r->compressed_data ? " (RICE_1 compressed files)" : "");
    fprintf(f, "- machine: %s, %d cores, %.1f GiB; %s; %s%s%s\n", r->machine.cpu_model,
            r->machine.n_cores, r->machine.mem_gib, r->machine.os, r->machine.compiler,
            r->machine.gpu[0] ? "; GPU " : "", r->machine.gpu);
    fprintf(f, "- load average (1/5/15 min) at start %.2f/%.2f/%.2f, at end %.2f/%.2f/%.2f%s\n\n",
            r->load_start[0], r->load_start[1], r->load_start[2], r->load_end[0], r->load_end[1],
            r->load_end[2],
            r->load_start[0] > 0.5 * r->machine.n_cores || r->load_end[0] > 0.5 * r->machine.n_cores
                ? " (busy machine: figures are noisy)" : "");
    fprintf(f, "| stage | median [s] | share |\n|---|---:|---:|\n");
    for (int k = 0; k < SSO_BENCH_N_STAGES; k++)
        fprintf(f, "| %s | %.3f | %.1f%% |\n", g_stage_names[k], s->stage_s[k],
                s->total_s > 0 ? 100.0 * s->stage_s[k] / s->total_s : 0.0);
    fprintf(f, "| **total** (open -> alerts written) | **%.3f** (min %.3f, max %.3f) | |\n\n", s->total_s,
            s->total_min_s, s->total_max_s);
    fprintf(f, "| figure | value |\n|---|---:|\n");
    fprintf(f, "| end-to-end latency (last detector read -> alerts written) | %.3f s |\n", s->latency_s);
    fprintf(f, "| throughput | %.2f Mpx/s |\n", s->mpx_per_s);
    fprintf(f, "| quartets per hour (this quartet, %.1f Mpx) | %.1f |\n", (double)s->n_px / 1e6,
            s->quartets_per_h);
    fprintf(f, "| full-field (36 CCD) quartets per hour, scaled by pixels | %.2f |\n",
            s->field_quartets_per_h);
    fprintf(f, "| slow-search trajectory-epoch samples/s | %.3g |\n", s->stack_samples_per_s);
    fprintf(f, "| host peak RSS | %.0f MiB |\n", r->peak_rss_bytes >= 0 ? (double)r->peak_rss_bytes / 1048576.0 : NAN);
    fprintf(f, "| of it, resampled patch epochs held at once | %.0f MiB |\n",
            (double)s->patch_bytes_peak / 1048576.0);
    if (r->device_mem_peak_mib >= 0)
        fprintf(f, "| device memory peak | %.0f MiB (%s) |\n", r->device_mem_peak_mib, r->device_mem_note);
    else
        fprintf(f, "| device memory peak | n/a (%s) |\n", r->device_mem_note);
    fprintf(f, "| alerts / patches / detector reads | %zu / %d / %d |\n", s->n_alerts, s->n_patches,
            s->n_detectors);
    if (r->device.known)
        fprintf(f, "\nDevice: %s (compute %d.%d, %d SMs, CUDA driver %d, runtime %d), %.0f MiB; "
                   "cudaMemGetInfo used %.0f MiB after context creation, %.0f MiB after the runs; "
                   "engine buffers at most %.0f MiB.\n",
                r->device.name, r->device.cc_major, r->device.cc_minor, r->device.n_sm,
                r->device.driver_version, r->device.runtime_version, r->device.total_mib,
                r->device.used_start_mib, r->device.used_end_mib, r->device.engine_peak_mib);
    if (r->roof && r->n_roof > 0) {
        const sso_bench_peaks *pk = &r->peaks;
        fprintf(f, "\n## Roofline\n\nCeilings measured in this run: device-to-device copy %.0f GB/s "
                   "(read + write, %.0f MiB), FP32 FMA %.0f GFLOP/s; ridge %.1f FLOP/B. Bytes are each "
                   "launcher's compulsory device-memory traffic, FLOPs its counted operations "
                   "(host/*_math.h); time is the median kernel time of the timed calls (transfers "
                   "excluded).\n\n",
                pk->copy_gbps, pk->copy_bytes / 1048576.0, pk->fp32_gflops, sso_bench_ridge(pk));
        fprintf(f, "| kernel | per call | MB moved | GFLOP | kernel [ms] | GB/s | of copy BW | GFLOP/s | "
                   "of FP32 | FLOP/B | of roof | bound |\n"
                   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (int i = 0; i < r->n_roof; i++) {
            const sso_bench_roof_row *k = &r->roof[i];
            fprintf(f, "| %s | %s | %.1f | %.3g | %.3f | %.0f | %.0f%% | ", k->kernel, k->shape,
                    k->bytes / 1e6, k->flops / 1e9, k->kernel_s * 1e3, k->gbps, 100.0 * k->frac_copy);
            if (k->flops > 0)
                fprintf(f, "%.0f | %.1f%% | %.2f | %.0f%% |", k->gflops, 100.0 * k->frac_fp32,
                        k->intensity, 100.0 * k->frac_roof);
            else
                fprintf(f, "- | - | - | - |");
            fprintf(f, " %s |\n", k->memory_bound ? "memory" : "compute");
        }
        for (int i = 0; i < r->n_roof; i++)
            if (r->roof[i].samples > 0)
                fprintf(f, "\n%s: %.3g trajectory-epoch samples per call, %.3g samples/s of kernel time.\n",
                        r->roof[i].kernel, r->roof[i].samples, r->roof[i].samples_per_s);
    }
    if (fclose(f) != 0) {
        free(text);
        return sso_fail(SSO_ERR_NOMEM, "bench: markdown");
    }
    sso_status st = write_text(path, text, len);
    free(text);
    return st;
}
