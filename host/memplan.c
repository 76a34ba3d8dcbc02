/* host/memplan.c: the GPU memory plan (contract and byte accounting in host/memplan.h).
 *
 * bytes(side) = n_inflight x bytes_per_px x side^2 + cand_bytes + reserve_bytes must not exceed
 * usable = free x (1 - safety_frac). The side is found by a square root and then stepped down
 * to a multiple of SSO_MEMPLAN_STEP_PX while it does not fit (double rounding of the root).
 * Compiled in every build; only sso_memplan_apply talks to the engine (stubbed without CUDA).
 */
#include <math.h>

#include "host/memplan.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"

void sso_memplan_req_default(sso_memplan_req *r)
{
    r->n_epochs = 4;
    r->n_templates = 1;
    r->n_inflight = 2;
    r->cand_bytes = (size_t)64 << 20;
    r->reserve_bytes = (size_t)512 << 20;
    r->safety_frac = 0.10;
    r->min_px = 512;
    r->max_px = 16384;
}

static double need(const sso_memplan_req *r, double bpp, int side)
{
    return bpp * (double)side * side + (double)r->cand_bytes + (double)r->reserve_bytes;
}

sso_status sso_memplan_compute(size_t free_bytes, const sso_memplan_req *r, sso_memplan *out)
{
    if (!r || !out || r->n_epochs < 1 || r->n_templates < 1 || r->n_inflight < 1 ||
        !(r->safety_frac >= 0.0 && r->safety_frac < 1.0) || r->min_px < SSO_MEMPLAN_STEP_PX ||
        r->max_px < r->min_px)
        return sso_fail(SSO_ERR_ARG, "memory plan: bad request");
    const double per_patch = 8.0 * r->n_epochs * r->n_templates + 9.0 + SSO_MEMPLAN_PAD * 40.0 +
                             8.0 * r->n_epochs + 8.0;
    const double bpp = per_patch * r->n_inflight;
    const double usable = (double)free_bytes * (1.0 - r->safety_frac);
    out->bytes_per_px = bpp;
    out->usable_bytes = (size_t)usable;
    out->side_px = 0;
    out->need_bytes = 0;
    const double room = usable - (double)r->cand_bytes - (double)r->reserve_bytes;
    const int lo = (r->min_px + SSO_MEMPLAN_STEP_PX - 1) / SSO_MEMPLAN_STEP_PX * SSO_MEMPLAN_STEP_PX;
    int side = room > 0.0 ? (int)fmin(sqrt(room / bpp), (double)r->max_px) : 0;
    side = side / SSO_MEMPLAN_STEP_PX * SSO_MEMPLAN_STEP_PX;
    while (side >= lo && need(r, bpp, side) > usable)
        side -= SSO_MEMPLAN_STEP_PX;
    if (side < lo)
        return sso_fail(SSO_ERR_NOMEM,
                        "memory plan: %.0f MiB free on the device hold no %d px patch (%.0f MiB needed)",
                        (double)free_bytes / 1048576.0, lo,
                        need(r, bpp, lo) / (1.0 - r->safety_frac) / 1048576.0);
    out->side_px = side;
    out->need_bytes = (size_t)need(r, bpp, side);
    return SSO_OK;
}

sso_status sso_memplan_apply(sso_backend backend, int device, int *size_px, int *planned_px)
{
    sso_status st;
    sso_k_device_info di;
    sso_memplan_req rq;
    sso_memplan mp;
    if (!size_px)
        return sso_fail(SSO_ERR_ARG, "memory plan: NULL size");
    if (planned_px)
        *planned_px = 0;
    if (sso_backend_resolve(backend) != SSO_BACKEND_CUDA)
        return SSO_OK;
    if (device >= 0 && (st = sso_k_engine_select(device)))
        return st;
    if ((st = sso_k_engine_info(&di)))
        return st;
    sso_memplan_req_default(&rq);
    if ((st = sso_memplan_compute(di.free_bytes, &rq, &mp)))
        return st;
    if (planned_px)
        *planned_px = mp.side_px;
    if (*size_px > mp.side_px)
        *size_px = mp.side_px;
    return SSO_OK;
}
