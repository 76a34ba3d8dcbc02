/* bench/gpu_copy_bw.cu: the device's measured copy bandwidth (the memory-bound ceiling).
 *
 * A device-to-device cudaMemcpy of N bytes (default 2 GiB; argv[1] in MiB), 2 warm-ups, then 20
 * copies timed one by one with events; prints the median as (bytes read + bytes written) / time
 * in GB/s, the device name and the driver. The source is filled with 0x5a, not zeros. Built and
 * run by bench/gpu_device_run.sh: nvcc -arch=sm_90 bench/gpu_copy_bw.cu -o copy_bw.
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x)                                                                                 \
    do {                                                                                      \
        cudaError_t e_ = (x);                                                                 \
        if (e_ != cudaSuccess) {                                                              \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            return 1;                                                                         \
        }                                                                                     \
    } while (0)

static int cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 2048;
    const size_t n = mib << 20;
    const int reps = 20;
    void *src, *dst;
    cudaEvent_t e0, e1;
    cudaDeviceProp p;
    int drv = 0;
    float t[reps];
    CK(cudaGetDeviceProperties(&p, 0));
    CK(cudaDriverGetVersion(&drv));
    CK(cudaMalloc(&src, n));
    CK(cudaMalloc(&dst, n));
    CK(cudaMemset(src, 0x5a, n));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = -2; r < reps; r++) {
        float ms;
        CK(cudaEventRecord(e0));
        CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0)
            t[r] = ms;
    }
    qsort(t, reps, sizeof t[0], cmp);
    printf("{\"device\": \"%s\", \"driver\": %d, \"bytes\": %zu, \"median_ms\": %.4f, "
           "\"min_ms\": %.4f, \"copy_gbps\": %.1f}\n",
           p.name, drv, n, t[reps / 2], t[0], 2.0 * n / (t[reps / 2] * 1e-3) / 1e9);
    return 0;
}
