/* bench/gpu_peak.h: the device's measured ceilings for the roofline of `sso bench --roofline`.
 *
 * Built into the kernels library: bench/gpu_peak.cu with CUDA, bench/gpu_peak_stub.c without
 * (every call SSO_ERR_NO_DEVICE). Both measure on the engine's device (kernels/engine.cu), in the
 * same process and run as the kernels they are compared with, with their own allocations (freed
 * before returning: they do not count in the engine's peak).
 *   copy: cudaMemcpyAsync device to device of `bytes`, warm-ups then `reps` timed copies (events);
 *         the median time; bandwidth = 2 bytes / time (every byte read once and written once), the
 *         convention of bench/gpu_copy_bw.cu and of the roofline's bytes-moved counts.
 *   fp32: a grid of 8 blocks per SM x 256 threads, each thread running FP32_CHAINS independent
 *         fmaf chains (enough to hide the FMA latency) for `iters` steps on values that stay
 *         finite and normal; FLOPs = 2 x threads x chains x iters; the median of `reps` timed
 *         launches after a warm-up. The result is written so the compiler keeps the chains.
 */
#ifndef SSO_BENCH_GPU_PEAK_H
#define SSO_BENCH_GPU_PEAK_H

#include <stddef.h>

#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Median device-to-device copy bandwidth [GB/s = 1e9 B/s] (read + write bytes over time). */
sso_status sso_k_peak_copy_gbps(size_t bytes, int reps, double *gbps);

/* Median FP32 FMA throughput [GFLOP/s]; iters 0 picks the default (32768). */
sso_status sso_k_peak_fp32_gflops(int iters, int reps, double *gflops);

#ifdef __cplusplus
}
#endif
#endif
