/* sso/bench.h: what `sso bench` measures and how it is reported (host/bench.c).
 *
 * One benchmark = one quartet run K times through sso_pipeline_run after a warm-up. Each repeat
 * gives an sso_bench_rep: the pipeline's per-stage wall-clock times (sso_pipeline_stats) plus the
 * two stages the tool adds around it (opening = header validation of the quartet; writing
 * alerts.jsonl), the total from open to alerts written, and the end-to-end latency (the end of the
 * last detector read to the last alert written). The summary takes the median of each figure over
 * the repeats (the warm-up is not included), and derives throughput: detector Mpx per second,
 * quartets per hour (of this quartet, and scaled to a 36-CCD full-size field by pixel count), and
 * the slow search's trajectory-epoch samples per second (samples / stack time).
 *
 * The report is the summary plus what was run (preset, backend, CCDs, vmax, ...), the machine
 * (CPU model, cores, memory, OS, compiler, git commit, GPU when used), the load average at start
 * and end (the figures are only as good as the machine was quiet), the peak host memory
 * (getrusage ru_maxrss of this process: the simulator runs in a child, so it is not counted) and
 * the device memory when known. It is written as JSON (one object; see sso_bench_write_json for the
 * keys) and as a markdown table. Nothing here prints; errors are sso_status with a detail.
 */
#ifndef SSO_BENCH_H
#define SSO_BENCH_H

#include <stddef.h>

#include "sso/pipeline.h"
#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stages in pipeline order: open, read, prep, background, cosmic, resample, difference,
 * likelihood, stack, measure, fast, write. */
#define SSO_BENCH_N_STAGES 12

typedef struct sso_bench_rep {
    sso_pipeline_stats ps;
    double open_s;    /* sso_quartet_open (headers of the 4 files validated) */
    double write_s;   /* alerts.jsonl written and closed */
    double total_s;   /* open start -> alerts written */
    double latency_s; /* end of the last detector read -> alerts written */
} sso_bench_rep;

const char *sso_bench_stage_name(int stage);               /* NULL outside 0..N-1 */
double sso_bench_stage_s(const sso_bench_rep *r, int stage); /* seconds; 0 outside 0..N-1 */

/* Median of n values (NaN when n == 0); v is not modified. */
double sso_bench_median(const double *v, int n);

typedef struct sso_bench_summary {
    int n_repeats;
    double stage_s[SSO_BENCH_N_STAGES]; /* medians */
    double total_s, total_min_s, total_max_s, latency_s;
    long long n_px;             /* detector pixels read per quartet (all 4 exposures) */
    double mpx_per_s;           /* n_px / 1e6 / total_s */
    double quartets_per_h;      /* 3600 / total_s */
    double field_quartets_per_h; /* scaled by pixels to a full field (36 x 4096 x 4132 x 4) */
    double stack_samples_per_s; /* median of n_stack_samples / stack_s */
    long long n_stack_samples;
    size_t n_alerts;
    int n_patches, n_detectors;
    size_t patch_bytes_peak;    /* the pipeline's resampled patch epochs held at once, at most */
} sso_bench_summary;

/* Summarises n >= 1 repeats of a quartet of n_px detector pixels. */
sso_status sso_bench_summarize(const sso_bench_rep *reps, int n, long long n_px,
                               sso_bench_summary *out);

typedef struct sso_bench_machine {
    char cpu_model[128];
    int n_cores;            /* online processors */
    double mem_gib;         /* MemTotal */
    char os[320];           /* uname: sysname release machine, and PRETTY_NAME of /etc/os-release */
    char compiler[96];      /* the compiler that built libsso, and whether optimised/sanitized */
    char git_commit[48];    /* filled by the caller (the library does not run git) */
    char gpu[160];          /* "name, driver X, N MiB" or "" when no device is used (caller) */
} sso_bench_machine;

/* Fills everything but git_commit and gpu (left empty) from /proc and uname. */
sso_status sso_bench_machine_describe(sso_bench_machine *m);
/* /proc/loadavg 1, 5 and 15 min; NaN when unreadable. */
void sso_bench_loadavg(double la[3]);
/* Peak resident set of this process [bytes] (getrusage ru_maxrss); -1 when unknown. */
long long sso_bench_peak_rss_bytes(void);

/* ---- roofline (`sso bench --backend cuda --roofline`) ------------------------------------------
 * Each GPU kernel (launcher) is run on the benchmark's own quartet data and reported as one row:
 * what it moved and computed per call (bytes: the compulsory device-memory traffic of the
 * launcher's kernels, formulas in host/<stage>_math.h; flops: its floating-point operations, 0
 * when not counted; samples: the stack's trajectory-epoch samples), and the median kernel time.
 * sso_bench_roofline_derive turns a row into rates and compares them with the device's measured
 * ceilings (peaks, taken in the same run): the copy bandwidth B [GB/s] and the FP32 rate F
 * [GFLOP/s]. Arithmetic intensity I = flops / bytes [FLOP/B]; the roofline's attainable rate at I
 * is min(F, I B) (ridge point F / B); a kernel with I below the ridge is memory-bound, and its
 * figure of merit is the fraction of B it achieves. */
typedef struct sso_bench_peaks {
    double copy_gbps;    /* device-to-device copy, read + write bytes over time [GB/s]; <= 0: unknown */
    double fp32_gflops;  /* FP32 FMA throughput [GFLOP/s]; <= 0: unknown */
    double copy_bytes;   /* size of the copy measured [B] */
} sso_bench_peaks;

typedef struct sso_bench_roof_row {
    char kernel[32];      /* "prep", "background-cells", ..., "likelihood-direct", "stack" */
    char shape[48];       /* what one call processed, e.g. "4096x4132 px" */
    double bytes;         /* per call [B] */
    double flops;         /* per call; 0: not counted (memory-bound pixel stages) */
    double samples;       /* stack: trajectory-epoch samples per call; else 0 */
    double kernel_s;      /* median kernel time per call [s] */
    int n_calls;          /* timed calls the median is of */
    /* derived (sso_bench_roofline_derive); NaN where the inputs are missing */
    double gbps;          /* bytes / kernel_s / 1e9 */
    double gflops;        /* flops / kernel_s / 1e9 */
    double intensity;     /* flops / bytes [FLOP/B] */
    double frac_copy;     /* gbps / peaks.copy_gbps */
    double frac_fp32;     /* gflops / peaks.fp32_gflops */
    double roof_gflops;   /* min(F, I B): the attainable rate at this intensity */
    double frac_roof;     /* gflops / roof_gflops */
    double samples_per_s; /* samples / kernel_s (stack) */
    int memory_bound;     /* 1: I below the ridge F / B, or no FLOP count; 0: compute-bound */
} sso_bench_roof_row;

/* The ridge point F / B [FLOP/B]; NaN when either peak is unknown. */
double sso_bench_ridge(const sso_bench_peaks *pk);
/* Fills the derived fields of r from its inputs and the peaks. SSO_ERR_ARG on NULL, a negative
 * count or a kernel time <= 0. */
sso_status sso_bench_roofline_derive(sso_bench_roof_row *r, const sso_bench_peaks *pk);

/* What the engine says about the device (CUDA backend), for the report. */
typedef struct sso_bench_device {
    int known;                  /* 0: no engine information (CPU backend or no device) */
    char name[256];
    int cc_major, cc_minor, n_sm, driver_version, runtime_version;
    double total_mib;           /* cudaMemGetInfo total */
    double used_start_mib;      /* total - free after the CUDA context was made, before the runs */
    double used_end_mib;        /* total - free after the runs (context, cuFFT plans, engine buffers) */
    double engine_peak_mib;     /* sso_k_engine_info peak_engine_bytes: the engine's buffers at most */
} sso_bench_device;

typedef struct sso_bench_report {
    char preset[16], backend_requested[8], backend_used[8], tag[64], date[40];
    char command[1024], data_dir[2048];
    int n_ccds, width_px, height_px, n_movers, threads, patch_px, fast, reused_data;
    int compressed_data;        /* the quartet's files are RICE tile-compressed */
    unsigned long long seed;
    double vmax_arcsec_h;
    double sim_s;                 /* simulation wall time; 0 when the data were reused */
    double load_start[3], load_end[3];
    long long peak_rss_bytes;
    double device_mem_peak_mib;   /* < 0: not known */
    char device_mem_note[160];    /* how it was measured, or why it is n/a */
    sso_bench_machine machine;
    sso_bench_device device;
    sso_bench_summary sum;
    const sso_bench_rep *reps;
    int n_reps;
    /* roofline: rows (NULL/0 when not measured) and the ceilings measured in the same run */
    const sso_bench_roof_row *roof;
    int n_roof;
    sso_bench_peaks peaks;
} sso_bench_report;

/* Writes the report as one JSON object (keys: tool, date, command, config{...}, machine{...},
 * load_avg{start,end}, stages[{name, median_s}], total_s, total_min_s, total_max_s, latency_s,
 * throughput{mpx_per_s, quartets_per_h, field_quartets_per_h, stack_samples_per_s}, memory{...},
 * counts{...}, repeats[{total_s, latency_s, stages{name: s}}], and with a device device{...};
 * with a roofline roofline{peaks{copy_gbps, fp32_gflops, ridge_flop_per_byte}, kernels[{kernel,
 * shape, bytes, flops, samples, kernel_s, gbps, gflops, intensity, frac_copy, frac_fp32,
 * roof_gflops, frac_roof, samples_per_s, bound}]}). Written to a temporary name and renamed. */
sso_status sso_bench_write_json(const sso_bench_report *r, const char *path);
/* Writes the report as markdown: a configuration line, the machine, a stage table, and the
 * roofline table when there is one. */
sso_status sso_bench_write_markdown(const sso_bench_report *r, const char *path);

#ifdef __cplusplus
}
#endif
#endif
