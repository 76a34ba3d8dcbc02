/* host/likelihood.c: psi/phi likelihood images (CPU reference) and template builders.
 *
 * Contract in include/sso/likelihood.h. Both paths first form the weight image W = 1/V (0 where
 * masked, or V not finite and > 0) and DW = D * W (0 where W is 0, so a NaN or huge value under
 * the mask cannot leak), then correlate DW with T (psi) and W with T^2 (phi):
 *   direct: for each output row, for each template row and column, a contiguous multiply-add
 *           over the valid x range (the compiler vectorises the inner loop); O(w h n^2).
 *   FFT:    zero-padded to Px >= w + half, Py >= h + half (sizes with factors 2, 3, 5, 7) so that
 *           the circular correlation equals the linear one on the image; the kernel is stored
 *           flipped, K((-u) mod P) = T(u), so that the circular convolution is T's correlation.
 *           FFTW single precision, FFTW_ESTIMATE plans (planning under the simulator's planner
 *           lock, the process-wide lock for FFTW's non-thread-safe planner); O(P log P).
 * The crossover measured on the 2-core dev machine (SSO_BENCH=1 build/tests/test_likelihood,
 * 512 x 512, gcc 12 -O2): direct 10 ms at 5x5, 34 ms at 7x7, 82 ms at 11x11 (O(n^2)); FFT a flat
 * ~30 ms (padded 525 x 525). They cross at about 7x7, so AUTO uses direct up to
 * SSO_LIKE_DIRECT_MAX_HALF = 3 and FFT above.
 * Trail likelihood (sso_likelihood_trail): a sparse correlation of the point psi/phi with the
 * segment's taps (a digital line), one contiguous multiply-add per (output row, tap), rows split over
 * threads; the kernel (taps, weights, kappa) is built once per length/angle bin. sso_trail_maps
 * holds a patch's point maps for its bins: borrowed on the CPU, uploaded once on CUDA
 * (kernels/likelihood.cu, sso_k_trail_load/sso_k_trail: the same sums bit for bit).
 */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/parallel.h"
#include "host/stack_math.h"
#include "host/status_internal.h"
#include "kernels/sso_kernels.h"
#include "sim/psf.h"
#include "sso/likelihood.h"

sso_status sso_template_gauss(double fwhm_px, int half, float *out)
{
    if (!out || half < 0 || !(fwhm_px > 0.0))
        return sso_fail(SSO_ERR_ARG, "gaussian template: fwhm %g px, half %d", fwhm_px, half);
    const int n = 2 * half + 1;
    const double sigma = fwhm_px / 2.3548200450309493;
    double sum = 0.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++)
            sum += out[(dy + half) * n + dx + half] = sso_tmpl_gauss_px(dx, dy, 0.0, 0.0, sigma);
    for (int i = 0; i < n * n; i++)
        out[i] = (float)(out[i] / sum);
    return SSO_OK;
}

sso_status sso_template_trail(const float *psf, int psf_half, double len_px, double theta_rad,
                              int half, float *out)
{
    if (!psf || !out || half < 0 || psf_half < 0 || !(len_px >= 0.0) || !isfinite(theta_rad))
        return sso_fail(SSO_ERR_ARG, "trail template: len %g px, half %d, psf half %d", len_px,
                        half, psf_half);
    const int n = 2 * half + 1;
    const double c = cos(theta_rad), s = sin(theta_rad);
    double sum = 0.0;
    for (int dy = -half; dy <= half; dy++)
        for (int dx = -half; dx <= half; dx++)
            sum += out[(dy + half) * n + dx + half] =
                sso_tmpl_trail_px(psf, psf_half, len_px, c, s, dx, dy);
    if (!(sum > 0.0))
        return sso_fail(SSO_ERR_ARG, "trail template: empty (half %d too small?)", half);
    for (int i = 0; i < n * n; i++)
        out[i] = (float)(out[i] / sum);
    return SSO_OK;
}

/* out[y][x] = sum_u in[y+uy][x+ux] * k[u], out zeroed first; pixels outside the image are 0. */
static void correlate_direct(const float *restrict in, int w, int h, const float *restrict k,
                             int half, float *restrict out)
{
    const int n = 2 * half + 1;
    memset(out, 0, sizeof(float) * (size_t)w * (size_t)h);
    for (int y = 0; y < h; y++) {
        float *restrict o = out + (size_t)y * w;
        for (int dy = -half; dy <= half; dy++) {
            int yy = y + dy;
            if (yy < 0 || yy >= h)
                continue;
            const float *r = in + (size_t)yy * w;
            for (int dx = -half; dx <= half; dx++) {
                const float kv = k[(dy + half) * n + dx + half];
                if (kv == 0.0f)
                    continue;
                int xa = dx < 0 ? -dx : 0, xb = dx > 0 ? w - dx : w;
                const float *restrict rr = r + dx;
                for (int x = xa; x < xb; x++)
                    o[x] += kv * rr[x];
            }
        }
    }
}

static int good_fft_size(int n)
{
    for (;; n++) {
        int m = n;
        while (m % 2 == 0) m /= 2;
        while (m % 3 == 0) m /= 3;
        while (m % 5 == 0) m /= 5;
        while (m % 7 == 0) m /= 7;
        if (m == 1)
            return n;
    }
}

/* FFT correlation of two images with two kernels: out_a = in_a (x) ka, out_b = in_b (x) kb. */
static sso_status correlate_fft2(const float *in_a, const float *ka, float *out_a,
                                 const float *in_b, const float *kb, float *out_b, int w, int h,
                                 int half)
{
    sso_status st = SSO_OK;
    const int n = 2 * half + 1;
    const int px = good_fft_size(w + half), py = good_fft_size(h + half);
    const int pxc = px / 2 + 1;
    const size_t nr = (size_t)px * py, nc = (size_t)pxc * py;
    float *rb = fftwf_malloc(sizeof(float) * nr);
    fftwf_complex *cb = fftwf_malloc(sizeof(fftwf_complex) * nc);
    fftwf_complex *ks = fftwf_malloc(sizeof(fftwf_complex) * nc);
    fftwf_plan fwd = NULL, inv = NULL;
    if (!rb || !cb || !ks) {
        st = sso_fail(SSO_ERR_NOMEM, "likelihood FFT: buffers of %d x %d", px, py);
        goto exit;
    }
    sso_sim_fftw_plan_lock();
    fwd = fftwf_plan_dft_r2c_2d(py, px, rb, cb, FFTW_ESTIMATE);
    inv = fftwf_plan_dft_c2r_2d(py, px, cb, rb, FFTW_ESTIMATE);
    sso_sim_fftw_plan_unlock();
    if (!fwd || !inv) {
        st = sso_fail(SSO_ERR_FFT, "likelihood FFT: FFTW could not plan %d x %d", px, py);
        goto exit;
    }
    const float scale = 1.0f / ((float)px * (float)py);
    for (int pass = 0; pass < 2; pass++) {
        const float *in = pass ? in_b : in_a, *k = pass ? kb : ka;
        float *out = pass ? out_b : out_a;
        /* kernel spectrum: K((-u) mod P) = T(u), the flip that turns convolution into correlation */
        memset(rb, 0, sizeof(float) * nr);
        for (int dy = -half; dy <= half; dy++)
            for (int dx = -half; dx <= half; dx++)
                rb[(size_t)((py - dy) % py) * px + (size_t)((px - dx) % px)] =
                    k[(dy + half) * n + dx + half];
        fftwf_execute_dft_r2c(fwd, rb, ks);
        memset(rb, 0, sizeof(float) * nr);
        for (int y = 0; y < h; y++)
            memcpy(rb + (size_t)y * px, in + (size_t)y * w, sizeof(float) * (size_t)w);
        fftwf_execute_dft_r2c(fwd, rb, cb);
        for (size_t i = 0; i < nc; i++) {
            float re = cb[i][0] * ks[i][0] - cb[i][1] * ks[i][1];
            float im = cb[i][0] * ks[i][1] + cb[i][1] * ks[i][0];
            cb[i][0] = re * scale;
            cb[i][1] = im * scale;
        }
        fftwf_execute_dft_c2r(inv, cb, rb);
        for (int y = 0; y < h; y++)
            memcpy(out + (size_t)y * w, rb + (size_t)y * px, sizeof(float) * (size_t)w);
    }
exit:
    sso_sim_fftw_plan_lock();
    if (fwd)
        fftwf_destroy_plan(fwd);
    if (inv)
        fftwf_destroy_plan(inv);
    sso_sim_fftw_plan_unlock();
    if (rb)
        fftwf_free(rb);
    if (cb)
        fftwf_free(cb);
    if (ks)
        fftwf_free(ks);
    return st;
}

sso_status sso_likelihood_on(sso_backend backend, const float *d_e, const float *var_e2,
                             const uint8_t *mask, int w, int h, const float *tmpl, int half,
                             sso_like_method method, float *psi, float *phi)
{
    if (sso_backend_resolve(backend) == SSO_BACKEND_CUDA) { /* GPU twin: kernels/likelihood.cu */
        const int fft = method == SSO_LIKE_FFT || (method == SSO_LIKE_AUTO && half > SSO_LIKE_DIRECT_MAX_HALF);
        sso_status gs = sso_k_likelihood(d_e, var_e2, mask, w, h, tmpl, half, fft, psi, phi);
        if (gs != SSO_ERR_NO_DEVICE || backend != SSO_BACKEND_AUTO)
            return gs;
    }
    return sso_likelihood(d_e, var_e2, mask, w, h, tmpl, half, method, psi, phi);
}

sso_status sso_likelihood(const float *d_e, const float *var_e2, const uint8_t *mask, int w, int h,
                          const float *tmpl, int half, sso_like_method method, float *psi,
                          float *phi)
{
    if (!d_e || !var_e2 || !tmpl || !psi || !phi || w <= 0 || h <= 0 || half < 0)
        return sso_fail(SSO_ERR_ARG, "likelihood: bad arguments (%d x %d, half %d)", w, h, half);
    if (method == SSO_LIKE_AUTO)
        method = half <= SSO_LIKE_DIRECT_MAX_HALF ? SSO_LIKE_DIRECT : SSO_LIKE_FFT;
    sso_status st = SSO_OK;
    const size_t np = (size_t)w * (size_t)h;
    const int n = 2 * half + 1;
    float *wgt = malloc(sizeof(float) * np), *dw = malloc(sizeof(float) * np);
    float *t2 = malloc(sizeof(float) * (size_t)n * n);
    if (!wgt || !dw || !t2) {
        st = sso_fail(SSO_ERR_NOMEM, "likelihood: weight images of %d x %d", w, h);
        goto exit;
    }
    for (size_t i = 0; i < np; i++) {
        float v = var_e2[i], d = d_e[i];
        int ok = (!mask || !mask[i]) && isfinite(v) && v > 0.0f && isfinite(d);
        wgt[i] = ok ? 1.0f / v : 0.0f;
        dw[i] = ok ? d / v : 0.0f;
    }
    for (int i = 0; i < n * n; i++)
        t2[i] = tmpl[i] * tmpl[i];
    if (method == SSO_LIKE_DIRECT) {
        correlate_direct(dw, w, h, tmpl, half, psi);
        correlate_direct(wgt, w, h, t2, half, phi);
    } else {
        st = correlate_fft2(dw, tmpl, psi, wgt, t2, phi, w, h, half);
    }
exit:
    free(wgt);
    free(dw);
    free(t2);
    return st;
}

/* ---- trail likelihood from the point one --------------------------------------------------- */

struct sso_trail_kernel {
    int n;         /* taps */
    int *dx, *dy;  /* integer offsets, sorted by (dy, dx) */
    float *w;      /* weights, sum 1 */
    double kappa;  /* sum T_L^2 / sum T^2 */
};

void sso_trail_kernel_free(sso_trail_kernel *k)
{
    if (!k)
        return;
    free(k->dx), free(k->dy), free(k->w);
    free(k);
}

double sso_trail_kernel_kappa(const sso_trail_kernel *k) { return k ? k->kappa : NAN; }
int sso_trail_kernel_taps(const sso_trail_kernel *k) { return k ? k->n : 0; }

sso_status sso_trail_kernel_create(const float *tmpl, int half, double len_px, double theta_rad,
                                   sso_trail_kernel **out)
{
    if (!tmpl || !out || half < 0 || !(len_px >= 0.0) || len_px > 4096.0 || !isfinite(theta_rad))
        return sso_fail(SSO_ERR_ARG, "trail kernel: len %g px, half %d", len_px, half);
    *out = NULL;
    sso_status st = SSO_OK;
    const int r = (int)ceil(len_px / 2.0) + 1, nr = 2 * r + 1; /* tap offsets in [-r, r]^2 */
    const int q = r + half, nq = 2 * q + 1;                     /* T_L's support */
    double *acc = calloc((size_t)nr * nr, sizeof *acc), *tl = calloc((size_t)nq * nq, sizeof *tl);
    sso_trail_kernel *k = calloc(1, sizeof *k);
    if (!acc || !tl || !k) {
        st = sso_fail(SSO_ERR_NOMEM, "trail kernel");
        goto exit;
    }
    /* midpoint samples every <= 0.25 px over [-L/2, L/2], each on its nearest pixel (rounding
     * is odd-symmetric, so the kernel is point-symmetric about the centre): ~max(|dx|, |dy|) + 1
     * taps, half of what bilinear spreading costs, for a digital line <= 0.5 px off the segment
     * (efficiency loss ~1%, in the tests) */
    const int m = len_px > 0.0 ? (int)ceil(len_px / 0.25) : 1;
    const double c = cos(theta_rad), s = sin(theta_rad);
    for (int i = 0; i < m; i++) {
        const double t = len_px * ((i + 0.5) / m - 0.5);
        const long ix = lround(t * c), iy = lround(t * s);
        acc[(size_t)(iy + r) * nr + (size_t)(ix + r)] += 1.0 / m;
    }
    for (int i = 0; i < nr * nr; i++)
        k->n += acc[i] > 0.0;
    k->dx = malloc(sizeof(int) * (size_t)k->n), k->dy = malloc(sizeof(int) * (size_t)k->n);
    k->w = malloc(sizeof(float) * (size_t)k->n);
    if (!k->dx || !k->dy || !k->w) {
        st = sso_fail(SSO_ERR_NOMEM, "trail kernel: %d taps", k->n);
        goto exit;
    }
    const int n = 2 * half + 1;
    double t2 = 0.0, tl2 = 0.0;
    for (int i = 0; i < n * n; i++)
        t2 += (double)tmpl[i] * tmpl[i];
    int j = 0;
    for (int y = -r; y <= r; y++)
        for (int x = -r; x <= r; x++) {
            const double wt = acc[(size_t)(y + r) * nr + x + r];
            if (!(wt > 0.0))
                continue;
            k->dx[j] = x, k->dy[j] = y, k->w[j] = (float)wt, j++;
            /* T_L(u) = sum_j w_j T(u - d_j) */
            for (int v = -half; v <= half; v++)
                for (int u = -half; u <= half; u++)
                    tl[(size_t)(y + v + q) * nq + x + u + q] += wt * tmpl[(v + half) * n + u + half];
        }
    for (int i = 0; i < nq * nq; i++)
        tl2 += tl[i] * tl[i];
    if (!(t2 > 0.0)) {
        st = sso_fail(SSO_ERR_ARG, "trail kernel: empty point template");
        goto exit;
    }
    k->kappa = tl2 / t2;
    *out = k;
    k = NULL;
exit:
    free(acc), free(tl);
    sso_trail_kernel_free(k);
    return st;
}

typedef struct trail_job {
    const float *psi, *phi;
    float *psi_l, *phi_l;
    int w, h;
    const sso_trail_kernel *k;
} trail_job;

/* Output rows [y0, y1): for each row, tap by tap, one contiguous multiply-add over the valid x. */
static void trail_rows(void *arg, int64_t y0, int64_t y1)
{
    const trail_job *j = arg;
    const sso_trail_kernel *k = j->k;
    const int w = j->w;
    const float kap = (float)k->kappa;
    for (int y = (int)y0; y < (int)y1; y++) {
        float *restrict op = j->psi_l + (size_t)y * w, *restrict of = j->phi_l + (size_t)y * w;
        memset(op, 0, sizeof(float) * (size_t)w);
        memset(of, 0, sizeof(float) * (size_t)w);
        for (int t = 0; t < k->n; t++) {
            const int yy = y + k->dy[t], dx = k->dx[t];
            if (yy < 0 || yy >= j->h)
                continue;
            const float wt = k->w[t];
            const float *restrict ip = j->psi + (size_t)yy * w + dx, *restrict ifp = j->phi + (size_t)yy * w + dx;
            const int xa = dx < 0 ? -dx : 0, xb = dx > 0 ? w - dx : w;
            for (int x = xa; x < xb; x++) {
                op[x] += wt * ip[x];
                of[x] += wt * ifp[x];
            }
        }
        for (int x = 0; x < w; x++)
            of[x] *= kap;
    }
}

sso_status sso_likelihood_trail(const float *psi, const float *phi, int w, int h,
                                const sso_trail_kernel *k, int n_threads, float *psi_l,
                                float *phi_l)
{
    if (!psi || !phi || !k || !psi_l || !phi_l || w <= 0 || h <= 0 || n_threads < 1 || n_threads > 256)
        return sso_fail(SSO_ERR_ARG, "trail likelihood: bad arguments (%d x %d, %d threads)", w, h,
                        n_threads);
    trail_job j = {psi, phi, psi_l, phi_l, w, h, k};
    sso_parallel_for(n_threads, h, trail_rows, &j);
    return SSO_OK;
}

/* ---- trail maps (sso_trail_maps): the point maps held for a patch's bins ------------------------ */

struct sso_trail_maps {
    sso_backend backend; /* CPU or CUDA */
    int n, w, h, n_threads;
    const float *psi[SSO_K_TRAIL_MAX_EPOCHS], *phi[SSO_K_TRAIL_MAX_EPOCHS]; /* CPU: borrowed */
};

sso_status sso_trail_maps_open(sso_backend backend, int n_epochs, const float *const psi[],
                               const float *const phi[], int w, int h, int n_threads,
                               sso_trail_maps **out)
{
    if (out)
        *out = NULL;
    if (!psi || !phi || !out || n_epochs < 1 || n_epochs > SSO_K_TRAIL_MAX_EPOCHS || w <= 0 ||
        h <= 0 || n_threads < 1 || n_threads > 256)
        return sso_fail(SSO_ERR_ARG, "trail maps: bad arguments (%d epochs of %d x %d, %d threads)",
                        n_epochs, w, h, n_threads);
    for (int e = 0; e < n_epochs; e++)
        if (!psi[e] || !phi[e])
            return sso_fail(SSO_ERR_ARG, "trail maps: epoch %d has no map", e);
    sso_trail_maps *m = calloc(1, sizeof *m);
    if (!m)
        return sso_fail(SSO_ERR_NOMEM, "trail maps");
    *m = (sso_trail_maps){SSO_BACKEND_CPU, n_epochs, w, h, n_threads, {0}, {0}};
    for (int e = 0; e < n_epochs; e++)
        m->psi[e] = psi[e], m->phi[e] = phi[e];
    if (sso_backend_resolve(backend) == SSO_BACKEND_CUDA) { /* GPU twin: kernels/likelihood.cu */
        sso_status gs = sso_k_trail_load(n_epochs, psi, phi, w, h);
        if (gs == SSO_OK) {
            m->backend = SSO_BACKEND_CUDA;
        } else if (gs != SSO_ERR_NO_DEVICE || backend != SSO_BACKEND_AUTO) {
            free(m);
            return gs;
        }
    }
    *out = m;
    return SSO_OK;
}

sso_status sso_trail_maps_correlate(sso_trail_maps *m, int e, const sso_trail_kernel *k,
                                    float *psi_l, float *phi_l)
{
    if (!m || !k || !psi_l || !phi_l || e < 0 || e >= m->n)
        return sso_fail(SSO_ERR_ARG, "trail maps: bad arguments (epoch %d)", e);
    if (m->backend == SSO_BACKEND_CUDA)
        return sso_k_trail(e, k->dx, k->dy, k->w, k->n, (float)k->kappa, psi_l, phi_l, NULL);
    return sso_likelihood_trail(m->psi[e], m->phi[e], m->w, m->h, k, m->n_threads, psi_l, phi_l);
}

sso_backend sso_trail_maps_backend(const sso_trail_maps *m)
{
    return m ? m->backend : SSO_BACKEND_CPU;
}

void sso_trail_maps_close(sso_trail_maps *m)
{
    free(m);
}
