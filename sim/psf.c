/* sim/psf.c: the Euclid VIS effective PSF (ePSF) of the simulator; contract in sim/psf.h.
 *
 * Construction (sso_sim_psf_create), all on one N x N periodic grid of pitch
 * theta = 0.1" / oversample (N = 1024 for oversample 4, half_size 64):
 *  1. For each of the 16 band bins (sim/vis_optics_data.c, 545-911 nm), rasterise the analytic
 *     pupil (rim, off-centre obscuration, 3 offset spider arms) with pupil sampling
 *     dx = lambda / (theta N), so that |FFT(pupil)|^2 lands on the same angular grid for every
 *     wavelength. Pupil samples near an edge are 4 x 4 sub-sampled (anti-aliased); the others are 0
 *     or 1.
 *     Each monochromatic PSF is normalised to unit sum, then weighted by
 *         w(lambda) ~ T(lambda) * dlambda / lambda,
 *     T the VIS throughput (a photon-counting response) and 1/lambda the photon rate per unit
 *     wavelength of a flat-f_nu (AB-flat, constant per unit frequency) source: photons per unit
 *     wavelength ~ f_lambda * lambda ~ (f_nu / lambda^2) * lambda. Sum of the weights = 1.
 *  2. Fourier transform the polychromatic PSF and multiply by the transfer functions of
 *       - the 0.1" pixel box: sinc(pi f os) per axis (exact for the band-limited optical PSF,
 *         which is sampled above Nyquist for oversample >= 3),
 *       - a Gaussian of SSO_SIM_PSF_JITTER_SIGMA_PX for pointing jitter and CCD charge diffusion.
 *     Back-transform: the ePSF sampled every 1/oversample px.
 *  3. Cut the stamp of offsets -half_size..+half_size px in both axes, (2 half os + 1)^2 samples,
 *     clamp the round-off negatives to 0 and renormalise each of the os^2 sub-pixel phase classes
 *     (samples whose offset has the same fractional part) to sum 1, so that the sum over integer
 *     offsets of the ePSF at any sub-pixel phase is 1 (bilinear interpolation between phase classes
 *     keeps it 1). This moves the flux the PSF puts beyond half_size (0.29% for half_size 64,
 *     sso_sim_psf_stamp_flux) into the stamp: a source's full flux lands in the image.
 *
 * Data layout: g[(n + 1) * (n + 1)] floats, n = 2 half os + 1, row-major (y slow), sample (iu, iv)
 * at offset ((iu - c) / os, (iv - c) / os) px with c = half os; one extra zero row and column at the
 * high end so that bilinear interpolation at iu = n - 1 may read iu + 1 without a branch.
 * Invariants after creation: g >= 0, sum of each phase class = 1, g symmetric under 180-degree
 * rotation up to round-off (the squared modulus of the Fourier transform of a real pupil is).
 *
 * Jitter sigma: the diffraction PSF convolved with the pixel alone has FWHM 1.29 px (measured with
 * sso_sim_psf_fwhm_px, jitter 0); Euclid's in-flight VIS PSF has FWHM 0.16" = 1.6 px (Q1 paper).
 * A Gaussian of sigma 0.40 px (0.040", FWHM 0.094") brings the measured ePSF FWHM to 1.60 px
 * (0.36 px gives 1.54, 0.40 gives 1.602; oversample 4, half size 64). It stands for the combined
 * attitude jitter, CCD charge diffusion and residual aberrations that this diffraction-limited
 * model leaves out; being Gaussian it widens the core without touching the far wings or spikes.
 *
 * Threads: the FFTW planner is not thread-safe, so plan creation and destruction are serialised by
 * a mutex (sso_sim_fftw_plan_lock/unlock, exported for the simulator's other FFTW users);
 * executing plans on private arrays is safe. The finished PSF is read-only. (The alternative,
 * fftwf_make_planner_thread_safe, needs libfftw3f_threads, which the build does not link.)
 */
#include "sim/psf.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sim/vis_optics_data.h"

/* Gaussian jitter + charge diffusion [native px]: gives the measured FWHM 1.60 px (see above).
 * Overridable at compile time only for tuning experiments. */
#ifndef SSO_SIM_PSF_JITTER_SIGMA_PX
#define SSO_SIM_PSF_JITTER_SIGMA_PX 0.40
#endif

#define PSF_PI 3.14159265358979323846
#define PSF_ARCSEC_RAD (PSF_PI / (180.0 * 3600.0))
#define PSF_SUBSAMPLE 4          /* anti-aliasing sub-samples per axis of an edge pupil sample */
#define PSF_MIN_FFT 1024         /* smallest FFT grid: the PSF period N theta >= 25.6" at os 4 */
#define PSF_MAX_FFT 8192
#define PSF_EE_BIN_PX 0.02       /* radial step of the encircled-energy table */
#define PSF_FWHM_RAYS 360
#define PSF_TRAIL_STEP_PX 0.25   /* longest sub-step of a trail */

struct sso_sim_psf {
    int os;          /* samples per native pixel */
    int half;        /* stamp radius [native px] */
    int n;           /* samples per axis of the stamp: 2 half os + 1 */
    int stride;      /* n + 1 (zero padding) */
    int c;           /* index of offset 0: half os */
    float *g;        /* (n + 1)^2 ePSF samples, see the file comment */
    double fwhm_px;
    double stamp_flux;   /* flux fraction inside the stamp before renormalisation */
    int n_ee;
    double *ee;      /* ee[k]: flux fraction at radius < k PSF_EE_BIN_PX */
};

static pthread_mutex_t g_fftw_plan_lock = PTHREAD_MUTEX_INITIALIZER;

void sso_sim_fftw_plan_lock(void) { pthread_mutex_lock(&g_fftw_plan_lock); }

void sso_sim_fftw_plan_unlock(void) { pthread_mutex_unlock(&g_fftw_plan_lock); }

/* ---- pupil ----------------------------------------------------------------------------------- */

typedef struct pupil_geom {
    double r_out, r_in, ox, oy;
    double ux[SSO_VIS_N_SPIDERS], uy[SSO_VIS_N_SPIDERS]; /* arm directions */
    double fx[SSO_VIS_N_SPIDERS], fy[SSO_VIS_N_SPIDERS]; /* arm feet */
    double hw[SSO_VIS_N_SPIDERS];                        /* arm half widths */
} pupil_geom;

static void pupil_geom_init(pupil_geom *pg)
{
    pg->r_out = 0.5 * SSO_VIS_PUPIL_DIAMETER_M;
    pg->r_in = 0.5 * SSO_VIS_OBSC_DIAMETER_M;
    pg->ox = SSO_VIS_OBSC_X_M;
    pg->oy = SSO_VIS_OBSC_Y_M;
    for (int s = 0; s < SSO_VIS_N_SPIDERS; s++) {
        double a = sso_vis_spiders[s].angle_deg * PSF_PI / 180.0;
        pg->ux[s] = cos(a);
        pg->uy[s] = sin(a);
        pg->fx[s] = sso_vis_spiders[s].foot_x_m;
        pg->fy[s] = sso_vis_spiders[s].foot_y_m;
        pg->hw[s] = 0.5 * sso_vis_spiders[s].width_m;
    }
}

/* 1 if the point (x, y) [m] is in the open aperture, else 0. */
static int pupil_open(const pupil_geom *pg, double x, double y)
{
    if (x * x + y * y > pg->r_out * pg->r_out)
        return 0;
    double ix = x - pg->ox, iy = y - pg->oy;
    if (ix * ix + iy * iy <= pg->r_in * pg->r_in)
        return 0;
    for (int s = 0; s < SSO_VIS_N_SPIDERS; s++) {
        double rx = x - pg->fx[s], ry = y - pg->fy[s];
        double t = rx * pg->ux[s] + ry * pg->uy[s];
        double d = -rx * pg->uy[s] + ry * pg->ux[s];
        if (t >= 0.0 && fabs(d) <= pg->hw[s])
            return 0;
    }
    return 1;
}

/* Open fraction of the square pupil sample of side dx [m] centred at (x, y): 0 or 1 away from
 * every edge, else the mean over PSF_SUBSAMPLE^2 sub-samples. */
static float pupil_sample(const pupil_geom *pg, double x, double y, double dx)
{
    double m = 0.75 * dx; /* > half the diagonal of the sample */
    double ro = sqrt(x * x + y * y);
    if (ro > pg->r_out + m)
        return 0.0f;
    double ri = hypot(x - pg->ox, y - pg->oy);
    if (ri < pg->r_in - m)
        return 0.0f;
    int edge = ro > pg->r_out - m || ri < pg->r_in + m;
    for (int s = 0; s < SSO_VIS_N_SPIDERS && !edge; s++) {
        double rx = x - pg->fx[s], ry = y - pg->fy[s];
        double t = rx * pg->ux[s] + ry * pg->uy[s];
        double d = -rx * pg->uy[s] + ry * pg->ux[s];
        if (t > -m && fabs(d) < pg->hw[s] + m)
            edge = 1;
    }
    if (!edge)
        return 1.0f;
    int open = 0;
    for (int b = 0; b < PSF_SUBSAMPLE; b++) {
        double sy = y + ((b + 0.5) / PSF_SUBSAMPLE - 0.5) * dx;
        for (int a = 0; a < PSF_SUBSAMPLE; a++) {
            double sx = x + ((a + 0.5) / PSF_SUBSAMPLE - 0.5) * dx;
            open += pupil_open(pg, sx, sy);
        }
    }
    return (float)open / (PSF_SUBSAMPLE * PSF_SUBSAMPLE);
}

/* Rasterises the pupil with sample pitch dx [m] into buf (N x N, zeroed here), pupil centre at
 * sample (N/2, N/2). Returns the sum of squares of the samples (the PSF's total |F|^2 / N^2). */
static double pupil_raster(const pupil_geom *pg, float *buf, int nfft, double dx)
{
    memset(buf, 0, sizeof(float) * (size_t)nfft * (size_t)nfft);
    int half_extent = (int)ceil(pg->r_out / dx) + 2;
    int c = nfft / 2;
    double sum2 = 0.0;
    for (int j = c - half_extent; j <= c + half_extent; j++) {
        double y = (j - c) * dx;
        for (int i = c - half_extent; i <= c + half_extent; i++) {
            float v = pupil_sample(pg, (i - c) * dx, y, dx);
            buf[(size_t)j * (size_t)nfft + (size_t)i] = v;
            sum2 += (double)v * v;
        }
    }
    return sum2;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

/* Smallest even n >= m whose prime factors are 2, 3 and 5 (fast FFTW sizes). */
static int good_fft_size(int m)
{
    for (int n = m + (m & 1);; n += 2) {
        int r = n;
        while (r % 2 == 0)
            r /= 2;
        while (r % 3 == 0)
            r /= 3;
        while (r % 5 == 0)
            r /= 5;
        if (r == 1)
            return n;
    }
}

static double sinc_pi(double x) /* sin(pi x) / (pi x) */
{
    if (fabs(x) < 1e-8)
        return 1.0;
    return sin(PSF_PI * x) / (PSF_PI * x);
}

/* Bilinear interpolation at fractional sample position (u, v), 0 <= u, v <= n - 1. */
static inline float psf_bilinear(const sso_sim_psf *p, double u, double v)
{
    int iu = (int)u, iv = (int)v;
    float fu = (float)(u - iu), fv = (float)(v - iv);
    const float *r0 = p->g + (size_t)iv * (size_t)p->stride + (size_t)iu;
    const float *r1 = r0 + p->stride;
    return (1.0f - fv) * ((1.0f - fu) * r0[0] + fu * r0[1]) + fv * ((1.0f - fu) * r1[0] + fu * r1[1]);
}

/* FWHM: twice the mean over PSF_FWHM_RAYS directions of the radius where the ePSF falls to half
 * its central value (a linear crossing between steps of 0.005 px). */
static double measure_fwhm(const sso_sim_psf *p)
{
    double peak = sso_sim_psf_eval(p, 0.0, 0.0);
    double sum = 0.0;
    const double step = 0.005;
    for (int k = 0; k < PSF_FWHM_RAYS; k++) {
        double a = 2.0 * PSF_PI * k / PSF_FWHM_RAYS, ca = cos(a), sa = sin(a);
        double prev = peak, r = 0.0, cross = p->half;
        while (r < p->half) {
            double v = sso_sim_psf_eval(p, (r + step) * ca, (r + step) * sa);
            if (v < 0.5 * peak) {
                cross = r + step * (prev - 0.5 * peak) / (prev - v);
                break;
            }
            prev = v;
            r += step;
        }
        sum += cross;
    }
    return 2.0 * sum / PSF_FWHM_RAYS;
}

/* Adds mass spread uniformly over radii [ra, rb] to the radial bins: bin[k + 1] collects what lies
 * in [k, k + 1) PSF_EE_BIN_PX, so that the cumulative sum gives the flux at radius < k bins. */
static void ee_deposit(double *bin, int n_bin, double ra, double rb, double mass)
{
    if (ra < 0.0)
        ra = 0.0;
    double width = rb - ra;
    int ka = (int)(ra / PSF_EE_BIN_PX), kb = (int)(rb / PSF_EE_BIN_PX);
    if (kb + 1 >= n_bin)
        kb = n_bin - 2;
    if (ka > kb)
        ka = kb;
    for (int k = ka; k <= kb; k++) {
        double lo = fmax(ra, k * PSF_EE_BIN_PX), hi = fmin(rb, (k + 1) * PSF_EE_BIN_PX);
        double f = width > 0.0 ? (hi - lo) / width : 1.0;
        if (f > 0.0)
            bin[k + 1] += mass * f;
    }
}

/* The encircled-energy table: the integral of the bilinear ePSF surface (what sso_sim_psf_eval
 * returns) over each disk. Each grid cell is cut into s x s sub-cells (s = 4 in the core, where
 * the surface curves, else 1) whose midpoint value times area is exact for a bilinear surface;
 * each sub-cell's mass is spread uniformly over its radial extent (~its side), which removes the
 * steps a point-mass histogram would have at small radii. Normalised to 1 over the stamp. */
static sso_status build_ee(sso_sim_psf *p)
{
    double rmax = p->half * sqrt(2.0) + 1.0;
    p->n_ee = (int)ceil(rmax / PSF_EE_BIN_PX) + 2;
    p->ee = calloc((size_t)p->n_ee, sizeof(double));
    if (!p->ee)
        return sso_fail(SSO_ERR_NOMEM, "sim PSF: encircled-energy table of %d entries", p->n_ee);
    double *bin = p->ee; /* masses first, then cumulative in place */
    const double os = p->os, core_px = 6.0;
    for (int iv = 0; iv < p->n - 1; iv++) {
        for (int iu = 0; iu < p->n - 1; iu++) {
            double cx = (iu + 0.5 - p->c) / os, cy = (iv + 0.5 - p->c) / os;
            int s = cx * cx + cy * cy < core_px * core_px ? 4 : 1;
            double h = 1.0 / (os * s);
            for (int b = 0; b < s; b++) {
                for (int a = 0; a < s; a++) {
                    double u = iu + (a + 0.5) / s, v = iv + (b + 0.5) / s;
                    double r = hypot(u - p->c, v - p->c) / os;
                    ee_deposit(bin, p->n_ee, r - 0.5 * h, r + 0.5 * h, psf_bilinear(p, u, v) * h * h);
                }
            }
        }
    }
    double total = 0.0;
    for (int k = 0; k < p->n_ee; k++) {
        total += bin[k];
        bin[k] = total;
    }
    if (!(total > 0.0))
        return sso_fail(SSO_ERR_INTERNAL, "sim PSF: no flux in the encircled-energy table");
    for (int k = 0; k < p->n_ee; k++)
        bin[k] /= total;
    return SSO_OK;
}

/* ---- creation --------------------------------------------------------------------------------- */

sso_status sso_sim_psf_create(int oversample, int half_size_px, sso_sim_psf **out)
{
    if (!out)
        return sso_fail(SSO_ERR_ARG, "sim PSF: NULL output");
    *out = NULL;
    if (oversample < 2 || oversample > 16)
        return sso_fail(SSO_ERR_ARG, "sim PSF: oversample %d outside 2..16", oversample);
    if (half_size_px < 4 || 4 * half_size_px * oversample > PSF_MAX_FFT)
        return sso_fail(SSO_ERR_ARG, "sim PSF: half size %d px with oversample %d: need 4 <= half "
                        "and 4 half oversample <= %d", half_size_px, oversample, PSF_MAX_FFT);

    sso_status st = SSO_OK;
    float *rbuf = NULL, *acc = NULL;
    fftwf_complex *cbuf = NULL;
    fftwf_plan fwd = NULL, inv = NULL;
    sso_sim_psf *p = calloc(1, sizeof *p);
    if (!p)
        return sso_fail(SSO_ERR_NOMEM, "sim PSF: struct");
    p->os = oversample;
    p->half = half_size_px;
    p->c = half_size_px * oversample;
    p->n = 2 * p->c + 1;
    p->stride = p->n + 1;

    /* The FFT period must hold the stamp twice, so that wrapped-around wings stay small. */
    int nfft = good_fft_size(4 * half_size_px * oversample);
    if (nfft < PSF_MIN_FFT)
        nfft = PSF_MIN_FFT;
    size_t nn = (size_t)nfft * (size_t)nfft, nh = (size_t)nfft * (size_t)(nfft / 2 + 1);
    rbuf = fftwf_malloc(sizeof(float) * nn);
    acc = fftwf_malloc(sizeof(float) * nn);
    cbuf = fftwf_malloc(sizeof(fftwf_complex) * nh);
    p->g = calloc((size_t)p->stride * (size_t)p->stride, sizeof(float));
    if (!rbuf || !acc || !cbuf || !p->g) {
        st = sso_fail(SSO_ERR_NOMEM, "sim PSF: FFT buffers of %d x %d", nfft, nfft);
        goto exit;
    }
    sso_sim_fftw_plan_lock();
    fwd = fftwf_plan_dft_r2c_2d(nfft, nfft, rbuf, cbuf, FFTW_ESTIMATE);
    inv = fftwf_plan_dft_c2r_2d(nfft, nfft, cbuf, rbuf, FFTW_ESTIMATE);
    sso_sim_fftw_plan_unlock();
    if (!fwd || !inv) {
        st = sso_fail(SSO_ERR_FFT, "sim PSF: FFTW plans of %d x %d", nfft, nfft);
        goto exit;
    }

    /* 1. polychromatic optical PSF, per sample, total 1, centred at sample (0, 0) (periodic). */
    memset(acc, 0, sizeof(float) * nn);
    pupil_geom pg;
    pupil_geom_init(&pg);
    double theta_rad = SSO_VIS_PIXEL_ARCSEC / oversample * PSF_ARCSEC_RAD;
    double wsum = 0.0;
    for (int b = 0; b < SSO_VIS_N_BAND_BINS; b++)
        wsum += sso_vis_band[b].throughput / sso_vis_band[b].lambda_nm;
    int nxh = nfft / 2 + 1;
    for (int b = 0; b < SSO_VIS_N_BAND_BINS; b++) {
        double lambda_m = sso_vis_band[b].lambda_nm * 1e-9;
        double dx_m = lambda_m / (theta_rad * nfft); /* N dx = lambda / theta */
        double sum2 = pupil_raster(&pg, rbuf, nfft, dx_m);
        fftwf_execute(fwd);
        double w = sso_vis_band[b].throughput / sso_vis_band[b].lambda_nm / wsum;
        float s = (float)(w / (sum2 * (double)nn));
        for (int ky = 0; ky < nfft; ky++) {
            const fftwf_complex *crow = cbuf + (size_t)ky * (size_t)nxh;
            float *arow = acc + (size_t)ky * (size_t)nfft;
            float *mrow = acc + (size_t)((nfft - ky) % nfft) * (size_t)nfft; /* row -ky */
            for (int kx = 0; kx < nxh; kx++) {
                float v = s * (crow[kx][0] * crow[kx][0] + crow[kx][1] * crow[kx][1]);
                arow[kx] += v;
                if (kx > 0 && kx < nfft - kx) /* the half r2c leaves out: I(-k) = I(k) */
                    mrow[nfft - kx] += v;
            }
        }
    }

    /* 2. pixel box and jitter in the Fourier domain. */
    memcpy(rbuf, acc, sizeof(float) * nn);
    fftwf_execute(fwd);
    double sig = SSO_SIM_PSF_JITTER_SIGMA_PX * oversample; /* [samples] */
    for (int ky = 0; ky < nfft; ky++) {
        double fy = (ky <= nfft / 2 ? ky : ky - nfft) / (double)nfft; /* cycles per sample */
        double ty = sinc_pi(fy * oversample) * exp(-2.0 * PSF_PI * PSF_PI * sig * sig * fy * fy);
        for (int kx = 0; kx < nxh; kx++) {
            double fx = kx / (double)nfft;
            double t = ty * sinc_pi(fx * oversample) *
                       exp(-2.0 * PSF_PI * PSF_PI * sig * sig * fx * fx) / (double)nn;
            fftwf_complex *z = cbuf + (size_t)ky * (size_t)nxh + (size_t)kx;
            (*z)[0] *= (float)t;
            (*z)[1] *= (float)t;
        }
    }
    fftwf_execute(inv);

    /* 3. stamp, clamp, per-phase renormalisation. */
    double total = 0.0;
    for (int iv = 0; iv < p->n; iv++) {
        int ky = ((iv - p->c) % nfft + nfft) % nfft;
        for (int iu = 0; iu < p->n; iu++) {
            int kx = ((iu - p->c) % nfft + nfft) % nfft;
            float v = rbuf[(size_t)ky * (size_t)nfft + (size_t)kx];
            v = v > 0.0f ? v : 0.0f;
            p->g[(size_t)iv * (size_t)p->stride + (size_t)iu] = v;
            total += v;
        }
    }
    p->stamp_flux = total; /* per sample, the full grid sums to 1 */
    int os = oversample;
    for (int pv = 0; pv < os; pv++) {
        for (int pu = 0; pu < os; pu++) {
            double s = 0.0;
            for (int iv = pv; iv < p->n; iv += os)
                for (int iu = pu; iu < p->n; iu += os)
                    s += p->g[(size_t)iv * (size_t)p->stride + (size_t)iu];
            if (!(s > 0.0)) {
                st = sso_fail(SSO_ERR_INTERNAL, "sim PSF: phase (%d, %d) has no flux", pu, pv);
                goto exit;
            }
            float inv_s = (float)(1.0 / s);
            for (int iv = pv; iv < p->n; iv += os)
                for (int iu = pu; iu < p->n; iu += os)
                    p->g[(size_t)iv * (size_t)p->stride + (size_t)iu] *= inv_s;
        }
    }

    p->fwhm_px = measure_fwhm(p);
    st = build_ee(p);

exit:
    sso_sim_fftw_plan_lock();
    if (fwd)
        fftwf_destroy_plan(fwd);
    if (inv)
        fftwf_destroy_plan(inv);
    sso_sim_fftw_plan_unlock();
    fftwf_free(rbuf);
    fftwf_free(acc);
    fftwf_free(cbuf);
    if (st != SSO_OK) {
        sso_sim_psf_free(p);
        return st;
    }
    *out = p;
    return SSO_OK;
}

void sso_sim_psf_free(sso_sim_psf *p)
{
    if (!p)
        return;
    free(p->g);
    free(p->ee);
    free(p);
}

/* ---- queries ---------------------------------------------------------------------------------- */

double sso_sim_psf_fwhm_px(const sso_sim_psf *p) { return p ? p->fwhm_px : 0.0; }

int sso_sim_psf_half_size_px(const sso_sim_psf *p) { return p ? p->half : 0; }

double sso_sim_psf_stamp_flux(const sso_sim_psf *p) { return p ? p->stamp_flux : 0.0; }

double sso_sim_psf_encircled(const sso_sim_psf *p, double r_px)
{
    if (!p || !(r_px > 0.0))
        return 0.0;
    double x = r_px / PSF_EE_BIN_PX;
    if (x >= p->n_ee - 1)
        return p->ee[p->n_ee - 1];
    int k = (int)x;
    double f = x - k;
    return (1.0 - f) * p->ee[k] + f * p->ee[k + 1];
}

float sso_sim_psf_eval(const sso_sim_psf *p, double dx_px, double dy_px)
{
    if (!p)
        return 0.0f;
    double u = p->c + dx_px * p->os, v = p->c + dy_px * p->os;
    double last = p->n - 1;
    if (!(u >= 0.0 && u <= last && v >= 0.0 && v <= last)) /* also NaN */
        return 0.0f;
    return psf_bilinear(p, u, v);
}

/* ---- rendering -------------------------------------------------------------------------------- */

/* Clamps a pixel bound computed in double to [lo, hi] before converting it to int. */
static int clamp_px(double x, int lo, int hi)
{
    if (!(x > lo))
        return lo;
    if (x > hi)
        return hi;
    return (int)x;
}

double sso_sim_psf_add(const sso_sim_psf *p, float *img, int w, int h, double xc, double yc,
                       double flux_e, int radius_px, float bg_var_e2)
{
    if (!p || !img || w <= 0 || h <= 0 || radius_px < 0 || !isfinite(xc) || !isfinite(yc) ||
        !isfinite(flux_e))
        return 0.0;
    double r = radius_px < p->half ? radius_px : p->half;
    if (xc < -r - 1.0 || xc > w + r || yc < -r - 1.0 || yc > h + r)
        return 0.0;
    const double os = p->os, last = p->n - 1;
    const int stride = p->stride;
    int j_lo = clamp_px(ceil(yc - r), 0, h - 1), j_hi = clamp_px(floor(yc + r), 0, h - 1);
    double snr2 = 0.0;
    for (int j = j_lo; j <= j_hi; j++) {
        double dy = j - yc, hw2 = r * r - dy * dy;
        if (hw2 < 0.0)
            continue;
        double hw = sqrt(hw2);
        int i_lo = clamp_px(ceil(xc - hw), 0, w - 1), i_hi = clamp_px(floor(xc + hw), 0, w - 1);
        if (xc + hw < 0.0 || xc - hw > w - 1)
            continue;
        double v = p->c + dy * os, u0 = p->c + (i_lo - xc) * os;
        v = v < 0.0 ? 0.0 : (v > last ? last : v);
        u0 = u0 < 0.0 ? 0.0 : (u0 > last ? last : u0);
        int iv = (int)v, iu = (int)u0;
        /* The bilinear weights are the same for every pixel of the row: u steps by os samples. */
        float fv = (float)(v - iv), fu = (float)(u0 - iu);
        float w00 = (1.0f - fu) * (1.0f - fv), w10 = fu * (1.0f - fv);
        float w01 = (1.0f - fu) * fv, w11 = fu * fv;
        int n_i = i_hi - i_lo + 1, max_n = (p->n - 1 - iu) / p->os + 1;
        if (n_i > max_n) /* round-off at the stamp edge */
            n_i = max_n;
        const float *r0 = p->g + (size_t)iv * (size_t)stride + (size_t)iu, *r1 = r0 + stride;
        float *row = img + (size_t)j * (size_t)w + (size_t)i_lo;
        /* Single precision per pixel (the image is float); the SNR^2 sum in double per row. */
        const float fl = (float)flux_e, bg = bg_var_e2;
        if (bg > 0.0f) {
            float row_snr2 = 0.0f;
            for (int k = 0; k < n_i; k++) {
                int o = k * p->os;
                float m = fl * (w00 * r0[o] + w10 * r0[o + 1] + w01 * r1[o] + w11 * r1[o + 1]);
                row[k] += m;
                row_snr2 += m * m / (bg + m);
            }
            snr2 += row_snr2;
        } else {
            for (int k = 0; k < n_i; k++) {
                int o = k * p->os;
                row[k] += fl * (w00 * r0[o] + w10 * r0[o + 1] + w01 * r1[o] + w11 * r1[o + 1]);
            }
        }
    }
    return snr2;
}

double sso_sim_psf_add_trail(const sso_sim_psf *p, float *img, int w, int h, double x0, double y0,
                             double x1, double y1, double flux_e, int radius_px, float bg_var_e2)
{
    if (!p || !img || w <= 0 || h <= 0 || radius_px < 0 || !isfinite(x0) || !isfinite(y0) ||
        !isfinite(x1) || !isfinite(y1) || !isfinite(flux_e))
        return 0.0;
    double ddx = x1 - x0, ddy = y1 - y0, len = sqrt(ddx * ddx + ddy * ddy);
    int nsteps = (int)ceil(len / PSF_TRAIL_STEP_PX);
    if (nsteps <= 1 || len > 1e7)
        return sso_sim_psf_add(p, img, w, h, 0.5 * (x0 + x1), 0.5 * (y0 + y1), flux_e, radius_px,
                               bg_var_e2);
    double r = radius_px < p->half ? radius_px : p->half, r2 = r * r;
    /* Sub-step k (0..nsteps-1) sits at arc length s_k = (k + 0.5) len / nsteps from (x0, y0). */
    double ux = ddx / len, uy = ddy / len, ds = len / nsteps, fstep = flux_e / nsteps;
    double ymin = fmin(y0, y1) - r, ymax = fmax(y0, y1) + r;
    double xmin = fmin(x0, x1) - r, xmax = fmax(x0, x1) + r;
    if (xmax < 0.0 || xmin > w - 1 || ymax < 0.0 || ymin > h - 1)
        return 0.0;
    const double os = p->os;
    int j_lo = clamp_px(ceil(ymin), 0, h - 1), j_hi = clamp_px(floor(ymax), 0, h - 1);
    double snr2 = 0.0;
    for (int j = j_lo; j <= j_hi; j++) {
        /* Sub-steps within r of row j in y: a contiguous range of k, since y is linear in k. */
        int k_lo = 0, k_hi = nsteps - 1;
        if (fabs(ddy) > 1e-12) {
            double ka = (j - r - y0) / (ds * uy) - 0.5, kb = (j + r - y0) / (ds * uy) - 0.5;
            double klo = fmin(ka, kb), khi = fmax(ka, kb);
            if (khi < 0.0 || klo > nsteps - 1)
                continue;
            k_lo = clamp_px(ceil(klo), 0, nsteps - 1);
            k_hi = clamp_px(floor(khi), 0, nsteps - 1);
            if (k_lo > k_hi)
                continue;
        } else if (fabs(j - y0) > r) {
            continue;
        }
        double xa = x0 + (k_lo + 0.5) * ds * ux, xb = x0 + (k_hi + 0.5) * ds * ux;
        double rxmin = fmin(xa, xb) - r, rxmax = fmax(xa, xb) + r;
        if (rxmax < 0.0 || rxmin > w - 1)
            continue;
        int i_lo = clamp_px(ceil(rxmin), 0, w - 1), i_hi = clamp_px(floor(rxmax), 0, w - 1);
        float *row = img + (size_t)j * (size_t)w;
        for (int i = i_lo; i <= i_hi; i++) {
            /* Sub-steps within r along the trail of the pixel's projection. */
            double sp = (i - x0) * ux + (j - y0) * uy;
            double ka = (sp - r) / ds - 0.5, kb = (sp + r) / ds - 0.5;
            if (kb < k_lo || ka > k_hi)
                continue;
            int ka_i = ka > k_lo ? (int)ceil(ka) : k_lo, kb_i = kb < k_hi ? (int)floor(kb) : k_hi;
            double m = 0.0;
            for (int k = ka_i; k <= kb_i; k++) {
                double s = (k + 0.5) * ds;
                double dx = i - (x0 + s * ux), dy = j - (y0 + s * uy);
                if (dx * dx + dy * dy > r2)
                    continue;
                m += psf_bilinear(p, p->c + dx * os, p->c + dy * os);
            }
            if (m == 0.0)
                continue;
            m *= fstep;
            row[i] += (float)m;
            if (bg_var_e2 > 0.0f)
                snr2 += m * m / (bg_var_e2 + m);
        }
    }
    return snr2;
}

sso_status sso_sim_psf_kernel(const sso_sim_psf *p, int half_px, float *out)
{
    if (!p || !out)
        return sso_fail(SSO_ERR_ARG, "sim PSF kernel: NULL argument");
    if (half_px < 0 || half_px > p->half)
        return sso_fail(SSO_ERR_ARG, "sim PSF kernel: half size %d outside 0..%d", half_px, p->half);
    int m = 2 * half_px + 1;
    double sum = 0.0;
    for (int b = 0; b < m; b++) {
        for (int a = 0; a < m; a++) {
            size_t iv = (size_t)(p->c + (b - half_px) * p->os);
            size_t iu = (size_t)(p->c + (a - half_px) * p->os);
            float v = p->g[iv * (size_t)p->stride + iu];
            out[(size_t)b * (size_t)m + (size_t)a] = v;
            sum += v;
        }
    }
    if (!(sum > 0.0))
        return sso_fail(SSO_ERR_INTERNAL, "sim PSF kernel: no flux within %d px", half_px);
    float inv = (float)(1.0 / sum);
    for (size_t k = 0; k < (size_t)m * (size_t)m; k++)
        out[k] *= inv;
    return SSO_OK;
}
