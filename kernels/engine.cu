/* kernels/engine.cu: the engine context: device choice, per-thread streams and grow-only buffers.
 *
 * Why: a quartet must not pay for cudaMalloc, cudaHostAlloc or stream creation (each costs
 * 0.1-10 ms and serialises the device). Every host thread that launches kernels gets, on first
 * use, its own stream and a table of SSO_K_NSLOTS device buffers and SSO_K_NSLOTS pinned host
 * buffers. A launcher asks for slot k with at least n bytes; the buffer only ever grows, so after
 * the first quartet of a given geometry no allocation happens at all. Slots are partitioned by
 * kernel file (enum in kernels/sso_kernels.h), so two stages never share a buffer by accident.
 * Per-thread state (C++ thread_local) keeps host worker threads from racing on buffers; the
 * device-wide byte counters are atomics so sso_k_engine_info can report the peak.
 */
#include <atomic>
#include <stdio.h>
#include <string.h>

#include "kernels/k_common.cuh"

namespace {

struct thread_engine {
    bool ready = false;
    cudaStream_t stream = nullptr;
    void *dev[SSO_K_NSLOTS] = {};
    size_t dev_bytes[SSO_K_NSLOTS] = {};
    void *pin[SSO_K_NSLOTS] = {};
    size_t pin_bytes[SSO_K_NSLOTS] = {};
    ~thread_engine();
};

int g_device = -1;                      /* chosen ordinal; -1: not chosen yet (uses 0) */
std::atomic<size_t> g_bytes{0}, g_peak{0}; /* device bytes held by all threads' buffers */

thread_local thread_engine t_eng;

void account(size_t add, size_t sub)
{
    size_t now = g_bytes.fetch_add(add) + add;
    g_bytes.fetch_sub(sub);
    size_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
}

void release(thread_engine &e)
{
    for (int k = 0; k < SSO_K_NSLOTS; k++) {
        if (e.dev[k]) {
            cudaFree(e.dev[k]);
            account(0, e.dev_bytes[k]);
        }
        if (e.pin[k])
            cudaFreeHost(e.pin[k]);
        e.dev[k] = e.pin[k] = nullptr;
        e.dev_bytes[k] = e.pin_bytes[k] = 0;
    }
    if (e.stream)
        cudaStreamDestroy(e.stream);
    e.stream = nullptr;
    e.ready = false;
}

thread_engine::~thread_engine()
{
    /* At thread exit; at process exit the driver may already be gone: errors are ignored. */
    if (ready)
        release(*this);
}

sso_status ensure_ready(void)
{
    sso_status st = SSO_OK;
    if (t_eng.ready)
        return SSO_OK;
    if (sso_k_device_count() <= 0)
        return sso_fail(SSO_ERR_NO_DEVICE, "no CUDA device is present");
    CUDA_TRY(cudaSetDevice(g_device < 0 ? 0 : g_device));
    CUDA_TRY(cudaStreamCreateWithFlags(&t_eng.stream, cudaStreamNonBlocking));
    t_eng.ready = true;
exit:
    return st;
}

} // namespace

extern "C" int sso_k_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}

extern "C" sso_status sso_k_engine_select(int device)
{
    int n = sso_k_device_count();
    if (n <= 0)
        return sso_fail(SSO_ERR_NO_DEVICE, "no CUDA device is present");
    if (device < -1 || device >= n)
        return sso_fail(SSO_ERR_ARG, "--device %d: this machine has %d CUDA device(s), 0..%d", device,
                        n, n - 1);
    g_device = device;
    return SSO_OK;
}

extern "C" sso_status sso_k_engine_info(sso_k_device_info *out)
{
    sso_status st = SSO_OK;
    cudaDeviceProp p;
    if (!out)
        return sso_fail(SSO_ERR_ARG, "engine info: NULL");
    memset(out, 0, sizeof *out);
    SSO_TRY(ensure_ready());
    out->device = g_device < 0 ? 0 : g_device;
    CUDA_TRY(cudaGetDeviceProperties(&p, out->device));
    snprintf(out->name, sizeof out->name, "%s", p.name);
    out->cc_major = p.major;
    out->cc_minor = p.minor;
    out->n_sm = p.multiProcessorCount;
    CUDA_TRY(cudaDriverGetVersion(&out->driver_version));
    CUDA_TRY(cudaRuntimeGetVersion(&out->runtime_version));
    CUDA_TRY(cudaMemGetInfo(&out->free_bytes, &out->total_bytes));
    out->engine_bytes = g_bytes.load();
    out->peak_engine_bytes = g_peak.load();
exit:
    return st;
}

extern "C" sso_status sso_k_scratch(int slot, size_t bytes, void **dev_ptr)
{
    sso_status st = SSO_OK;
    if (!dev_ptr || slot < 0 || slot >= SSO_K_NSLOTS)
        return sso_fail(SSO_ERR_ARG, "engine: slot %d out of 0..%d", slot, SSO_K_NSLOTS - 1);
    *dev_ptr = nullptr;
    SSO_TRY(ensure_ready());
    if (bytes == 0)
        bytes = 1;
    if (t_eng.dev_bytes[slot] < bytes) {
        if (t_eng.dev[slot]) {
            /* Work queued on the stream may still use the old buffer. */
            CUDA_TRY(cudaStreamSynchronize(t_eng.stream));
            cudaFree(t_eng.dev[slot]);
            account(0, t_eng.dev_bytes[slot]);
            t_eng.dev[slot] = nullptr;
            t_eng.dev_bytes[slot] = 0;
        }
        CUDA_TRY(cudaMalloc(&t_eng.dev[slot], bytes));
        t_eng.dev_bytes[slot] = bytes;
        account(bytes, 0);
    }
    *dev_ptr = t_eng.dev[slot];
exit:
    return st;
}

extern "C" sso_status sso_k_pinned(int slot, size_t bytes, void **host_ptr)
{
    sso_status st = SSO_OK;
    if (!host_ptr || slot < 0 || slot >= SSO_K_NSLOTS)
        return sso_fail(SSO_ERR_ARG, "engine: slot %d out of 0..%d", slot, SSO_K_NSLOTS - 1);
    *host_ptr = nullptr;
    SSO_TRY(ensure_ready());
    if (bytes == 0)
        bytes = 1;
    if (t_eng.pin_bytes[slot] < bytes) {
        if (t_eng.pin[slot]) {
            CUDA_TRY(cudaStreamSynchronize(t_eng.stream));
            cudaFreeHost(t_eng.pin[slot]);
            t_eng.pin[slot] = nullptr;
            t_eng.pin_bytes[slot] = 0;
        }
        CUDA_TRY(cudaHostAlloc(&t_eng.pin[slot], bytes, cudaHostAllocDefault));
        t_eng.pin_bytes[slot] = bytes;
    }
    *host_ptr = t_eng.pin[slot];
exit:
    return st;
}

extern "C" sso_status sso_k_stream(void **stream)
{
    sso_status st = SSO_OK;
    if (!stream)
        return sso_fail(SSO_ERR_ARG, "engine: NULL stream pointer");
    SSO_TRY(ensure_ready());
    *stream = (void *)t_eng.stream;
exit:
    return st;
}

extern "C" void sso_k_engine_release(void)
{
    if (t_eng.ready)
        release(t_eng);
}
