/* tests/test_sim_psf.c: the simulator's Euclid VIS ePSF (sim/psf.h).
 *
 * One PSF (oversample 4, half size 64, as the simulator uses it) is built once for the group.
 * Figures are measured here independently of the module's own measurements where it has them
 * (FWHM from the half-maximum area, encircled energy by direct integration); expected values come
 * from physics (Euclid's in-flight FWHM 1.6 px, spikes perpendicular to the spider arms of the
 * pupil table, a segment's variance L^2/12), never from a run of the code under test.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/psf.h"
#include "sim/vis_optics_data.h"

#define T_PI 3.14159265358979323846
#define T_OS 4
#define T_HALF 64

static sso_sim_psf *g_psf;

static int group_setup(void **state)
{
    (void)state;
    return sso_sim_psf_create(T_OS, T_HALF, &g_psf) == SSO_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    sso_sim_psf_free(g_psf);
    g_psf = NULL;
    return 0;
}

/* Image moments of the pixels of img (w x h): flux, centroid, and the second central moments
 * along the unit direction (ux, uy) and across it. */
typedef struct moments {
    double sum, xc, yc, var_along, var_across;
} moments;

static moments image_moments(const float *img, int w, int h, double ux, double uy)
{
    moments m = {0};
    double sx = 0.0, sy = 0.0;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            double v = img[(size_t)j * w + i];
            m.sum += v;
            sx += v * i;
            sy += v * j;
        }
    m.xc = sx / m.sum;
    m.yc = sy / m.sum;
    double sa = 0.0, sc = 0.0;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            double v = img[(size_t)j * w + i], dx = i - m.xc, dy = j - m.yc;
            double a = dx * ux + dy * uy, c = -dx * uy + dy * ux;
            sa += v * a * a;
            sc += v * c * c;
        }
    m.var_along = sa / m.sum;
    m.var_across = sc / m.sum;
    return m;
}

/* The FWHM from the area where the ePSF exceeds half its peak (grid of 0.01 px), as the diameter
 * of the circle of the same area: independent of the module's radial measurement. */
static void test_fwhm(void **state)
{
    (void)state;
    double fwhm = sso_sim_psf_fwhm_px(g_psf);
    assert_true(fwhm >= 1.5 && fwhm <= 1.7);

    double peak = sso_sim_psf_eval(g_psf, 0.0, 0.0), step = 0.01;
    /* The peak is the maximum: the ePSF of a centred source peaks at the centre. */
    for (double d = 0.05; d < 2.0; d += 0.05) {
        assert_true(sso_sim_psf_eval(g_psf, d, 0.0) < peak);
        assert_true(sso_sim_psf_eval(g_psf, 0.0, -d) < peak);
    }
    long count = 0;
    for (double y = -2.0; y <= 2.0; y += step)
        for (double x = -2.0; x <= 2.0; x += step)
            count += sso_sim_psf_eval(g_psf, x, y) >= 0.5 * peak;
    double area = count * step * step, fwhm_area = 2.0 * sqrt(area / T_PI);
    print_message("FWHM: module %.4f px, half-maximum area %.4f px\n", fwhm, fwhm_area);
    assert_true(fwhm_area >= 1.5 && fwhm_area <= 1.7);
    assert_true(fabs(fwhm_area - fwhm) < 0.03);
    /* Undersampled, as VIS is: a pixel centred on the source holds a large share of the flux. */
    assert_true(peak > 0.15 && peak < 0.4);
}

/* Sum over integer offsets at several sub-pixel phases is 1; so is the flux _add puts in an image. */
static void test_normalisation(void **state)
{
    (void)state;
    const double phase[][2] = {{0.0, 0.0}, {0.25, 0.5}, {0.37, 0.81}, {-0.5, 0.5},
                               {0.999, 0.001}, {0.125, -0.875}, {0.6180, 0.3333}};
    for (size_t k = 0; k < sizeof phase / sizeof phase[0]; k++) {
        double s = 0.0;
        for (int j = -T_HALF - 2; j <= T_HALF + 2; j++)
            for (int i = -T_HALF - 2; i <= T_HALF + 2; i++)
                s += sso_sim_psf_eval(g_psf, i + phase[k][0], j + phase[k][1]);
        assert_true(fabs(s - 1.0) < 1e-3);
    }
    int w = 2 * T_HALF + 20, h = 2 * T_HALF + 20;
    float *img = calloc((size_t)w * h, sizeof(float));
    assert_non_null(img);
    sso_sim_psf_add(g_psf, img, w, h, 74.31, 73.77, 1000.0, T_HALF, 0.0f);
    moments m = image_moments(img, w, h, 1.0, 0.0);
    assert_true(fabs(m.sum - 1000.0) < 1.0);
    /* Flux beyond the stamp was spread over it: about 0.3% of it lies between 10 and 64 px. */
    assert_true(sso_sim_psf_stamp_flux(g_psf) > 0.99 && sso_sim_psf_stamp_flux(g_psf) < 1.0);
    free(img);
}

/* The centroid of a point source is its position, for the full stamp and for a faint-source
 * radius of 8 px. */
static void test_centroid(void **state)
{
    (void)state;
    const double pos[][2] = {{80.0, 80.0}, {80.3, 79.72}, {81.5, 80.5}, {79.91, 80.07}};
    const int radius[] = {T_HALF, 8};
    int w = 161, h = 161;
    float *img = malloc((size_t)w * h * sizeof(float));
    assert_non_null(img);
    for (size_t r = 0; r < 2; r++) {
        for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
            memset(img, 0, (size_t)w * h * sizeof(float));
            sso_sim_psf_add(g_psf, img, w, h, pos[k][0], pos[k][1], 5000.0, radius[r], 0.0f);
            moments m = image_moments(img, w, h, 1.0, 0.0);
            assert_true(fabs(m.xc - pos[k][0]) < 0.01);
            assert_true(fabs(m.yc - pos[k][1]) < 0.01);
        }
    }
    free(img);
}

/* |FT(real pupil)|^2 is centro-symmetric, and so are the pixel box and the Gaussian. */
static void test_symmetry(void **state)
{
    (void)state;
    double peak = sso_sim_psf_eval(g_psf, 0.0, 0.0);
    uint32_t s = 12345;
    for (int k = 0; k < 20000; k++) {
        s = s * 1664525u + 1013904223u;
        double dx = ((s >> 8) / 16777216.0 - 0.5) * 2.0 * T_HALF;
        s = s * 1664525u + 1013904223u;
        double dy = ((s >> 8) / 16777216.0 - 0.5) * 2.0 * T_HALF;
        if (k < 2000) { /* the core */
            dx /= T_HALF / 3.0;
            dy /= T_HALF / 3.0;
        }
        double a = sso_sim_psf_eval(g_psf, dx, dy), b = sso_sim_psf_eval(g_psf, -dx, -dy);
        assert_true(fabs(a - b) <= 1e-4 * fmax(a, b) + 1e-7 * peak);
    }
    /* ... but not mirror-symmetric: the three arms are not symmetric about the x axis. */
    double a0 = (sso_vis_spiders[0].angle_deg + 90.0) * T_PI / 180.0;
    double on = sso_sim_psf_eval(g_psf, 40.0 * cos(a0), 40.0 * sin(a0));
    double mirror = sso_sim_psf_eval(g_psf, 40.0 * cos(a0), -40.0 * sin(a0));
    assert_true(on > 2.0 * mirror);
}

/* Mean of the ePSF over radii r - 2 .. r + 2 px along direction a_deg. */
static double ring_profile(double r, double a_deg)
{
    double a = a_deg * T_PI / 180.0, s = 0.0;
    int n = 0;
    for (double q = r - 2.0; q <= r + 2.0 + 1e-9; q += 0.25, n++)
        s += sso_sim_psf_eval(g_psf, q * cos(a), q * sin(a));
    return s / n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Six diffraction spikes perpendicular to the three spider arms of the pupil table. The contrast
 * grows with radius: the Airy halo falls as r^-3, a spike much more slowly. An independent numpy
 * calculation from the reference pupil image (700 nm) gives spike / halo = 2.7 at 20 px and
 * 10-13 at 40 px; the bounds below leave room for the polychromatic smearing. */
static void test_spikes(void **state)
{
    (void)state;
    double spikes[6];
    for (int s = 0; s < 6; s++)
        spikes[s] = sso_vis_spiders[s % 3].angle_deg + 90.0 + 180.0 * (s / 3);
    const double radii[] = {20.0, 40.0}, min_ratio[] = {1.8, 5.0};
    for (int ri = 0; ri < 2; ri++) {
        double r = radii[ri], between[720];
        int nb = 0;
        for (double a = 0.0; a < 360.0; a += 0.5) {
            int far = 1;
            for (int s = 0; s < 6; s++) {
                double d = fmod(fabs(a - spikes[s]) + 720.0, 360.0);
                far &= fmin(d, 360.0 - d) >= 12.0;
            }
            if (far)
                between[nb++] = ring_profile(r, a);
        }
        assert_true(nb > 100);
        qsort(between, (size_t)nb, sizeof(double), cmp_double);
        double med = between[nb / 2], top = between[nb - 1];
        for (int s = 0; s < 6; s++) {
            double best = 0.0, best_da = 0.0;
            for (double da = -4.0; da <= 4.0; da += 0.1) {
                double v = ring_profile(r, spikes[s] + da);
                if (v > best) {
                    best = v;
                    best_da = da;
                }
            }
            print_message("r %.0f px, spike at %.1f deg: %.3g vs %.3g between (x%.1f), offset %.1f\n",
                          r, spikes[s], best, med, best / med, best_da);
            assert_true(best > min_ratio[ri] * med);
            assert_true(best > 1.3 * top); /* brighter than anywhere between the spikes */
            if (r >= 40.0)
                assert_true(fabs(best_da) < 1.0);
        }
    }
}

/* A trail carries the flux, is centred on the segment's midpoint, and its variance along the
 * segment is the segment's (L^2/12 for the evenly spaced sub-steps) plus the PSF's. */
static void test_trail(void **state)
{
    (void)state;
    int w = 300, h = 260, rad = 40;
    float *img = calloc((size_t)w * h, sizeof(float)), *pt = calloc((size_t)w * h, sizeof(float));
    assert_non_null(img);
    assert_non_null(pt);
    double x0 = 110.2, y0 = 100.7, x1 = 190.9, y1 = 140.3, flux = 1e4;
    double L = hypot(x1 - x0, y1 - y0), ux = (x1 - x0) / L, uy = (y1 - y0) / L;
    double snr2 = sso_sim_psf_add_trail(g_psf, img, w, h, x0, y0, x1, y1, flux, rad, 100.0f);
    /* The same PSF, clipped to the same radius, for the PSF's own variance. */
    sso_sim_psf_add(g_psf, pt, w, h, 150.3, 120.6, flux, rad, 0.0f);
    moments mt = image_moments(img, w, h, ux, uy), mp = image_moments(pt, w, h, ux, uy);
    double n = ceil(L / 0.25), seg_var = L * L / 12.0 * (1.0 - 1.0 / (n * n));
    print_message("trail L %.2f: flux %.2f (point %.2f), var along %.3f = %.3f + %.3f?, across %.3f "
                  "vs %.3f\n", L, mt.sum, mp.sum, mt.var_along, seg_var, mp.var_along,
                  mt.var_across, mp.var_across);
    assert_true(fabs(mt.sum - mp.sum) < 1e-3 * flux);
    assert_true(mp.sum > sso_sim_psf_encircled(g_psf, rad - 1.0) * flux);
    assert_true(fabs(mt.xc - 0.5 * (x0 + x1)) < 0.01);
    assert_true(fabs(mt.yc - 0.5 * (y0 + y1)) < 0.01);
    assert_true(fabs(mt.var_along - (seg_var + mp.var_along)) < 0.005 * mt.var_along);
    assert_true(fabs(mt.var_across - mp.var_across) < 0.02 * mp.var_across);

    /* The returned SNR^2 is sum m^2 / (bg + m) over the touched pixels. */
    double s2 = 0.0;
    for (size_t k = 0; k < (size_t)w * h; k++)
        if (img[k] > 0.0f)
            s2 += (double)img[k] * img[k] / (100.0 + img[k]);
    assert_true(fabs(s2 - snr2) < 1e-4 * snr2);

    /* The full stamp radius puts the whole flux in the image. */
    memset(img, 0, (size_t)w * h * sizeof(float));
    sso_sim_psf_add_trail(g_psf, img, w, h, 118.0, 150.0, 180.0, 110.0, flux, T_HALF, 0.0f);
    mt = image_moments(img, w, h, 1.0, 0.0);
    assert_true(fabs(mt.sum - flux) < 1e-3 * flux);

    /* Axis-aligned trails (one coordinate constant) and a trail that leaves the image. */
    const double seg[][4] = {{150.25, 60.0, 150.25, 200.0}, {60.0, 130.6, 240.0, 130.6}};
    for (int k = 0; k < 2; k++) {
        memset(img, 0, (size_t)w * h * sizeof(float));
        sso_sim_psf_add_trail(g_psf, img, w, h, seg[k][0], seg[k][1], seg[k][2], seg[k][3], flux,
                              T_HALF, 0.0f);
        mt = image_moments(img, w, h, 1.0, 0.0);
        assert_true(fabs(mt.sum - flux) < 1e-3 * flux);
        assert_true(fabs(mt.xc - 0.5 * (seg[k][0] + seg[k][2])) < 0.01);
        assert_true(fabs(mt.yc - 0.5 * (seg[k][1] + seg[k][3])) < 0.01);
    }
    memset(img, 0, (size_t)w * h * sizeof(float));
    sso_sim_psf_add_trail(g_psf, img, w, h, -100.0, 20.0, 400.0, 250.0, flux, 8, 100.0f);
    mt = image_moments(img, w, h, 1.0, 0.0);
    /* ~ the part of the segment inside the image: x from 0 to 300 of -100..400 */
    assert_true(mt.sum > 0.5 * flux && mt.sum < 0.65 * flux);

    /* A zero-length trail is a point source, SNR^2 included. */
    memset(img, 0, (size_t)w * h * sizeof(float));
    memset(pt, 0, (size_t)w * h * sizeof(float));
    double sa = sso_sim_psf_add_trail(g_psf, img, w, h, 50.3, 60.6, 50.3, 60.6, 300.0, 8, 100.0f);
    double sb = sso_sim_psf_add(g_psf, pt, w, h, 50.3, 60.6, 300.0, 8, 100.0f);
    assert_true(sa > 0.0);
    assert_true(fabs(sa - sb) < 1e-9 * sb);
    assert_memory_equal(img, pt, (size_t)w * h * sizeof(float));
    free(img);
    free(pt);
}

/* SNR^2 of a point source: sum of m^2 / (bg + m) over the touched pixels; 0 without background. */
static void test_add_snr_and_clipping(void **state)
{
    (void)state;
    int w = 64, h = 48;
    float *img = calloc((size_t)w * h, sizeof(float));
    assert_non_null(img);
    double snr2 = sso_sim_psf_add(g_psf, img, w, h, 30.4, 20.8, 800.0, 8, 110.0f);
    double s2 = 0.0, sum = 0.0;
    int touched = 0;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            double v = img[(size_t)j * w + i];
            if (v != 0.0) {
                touched++;
                assert_true(hypot(i - 30.4, j - 20.8) <= 8.0); /* only within radius_px */
            }
            s2 += v * v / (110.0 + v);
            sum += v;
        }
    assert_true(touched > 190 && touched < 210); /* ~pi 8^2 */
    assert_true(fabs(s2 - snr2) < 1e-4 * snr2);
    assert_true(fabs(sum / 800.0 - sso_sim_psf_encircled(g_psf, 8.0)) < 0.01);
    assert_true(sso_sim_psf_add(g_psf, img, w, h, 30.4, 20.8, 800.0, 8, 0.0f) == 0.0);

    /* Clipped at the image edge; far off the image and non-finite positions add nothing. */
    memset(img, 0, (size_t)w * h * sizeof(float));
    sso_sim_psf_add(g_psf, img, w, h, -0.5, 47.2, 800.0, 8, 0.0f);
    double edge = 0.0;
    for (size_t k = 0; k < (size_t)w * h; k++)
        edge += img[k];
    assert_true(edge > 0.2 * 800.0 && edge < 0.5 * 800.0);
    memset(img, 0, (size_t)w * h * sizeof(float));
    sso_sim_psf_add(g_psf, img, w, h, -100.0, 10.0, 800.0, 8, 10.0f);
    sso_sim_psf_add(g_psf, img, w, h, 1e300, 10.0, 800.0, 8, 10.0f);
    sso_sim_psf_add(g_psf, img, w, h, NAN, 10.0, 800.0, 8, 10.0f);
    sso_sim_psf_add_trail(g_psf, img, w, h, -500.0, -500.0, -400.0, -450.0, 800.0, 8, 10.0f);
    sso_sim_psf_add_trail(g_psf, img, w, h, 10.0, 10.0, INFINITY, 10.0, 800.0, 8, 10.0f);
    for (size_t k = 0; k < (size_t)w * h; k++)
        assert_true(img[k] == 0.0f);
    free(img);
}

/* Encircled energy: non-decreasing, 1 at the stamp corners, plausible at 10 px, and equal to a
 * direct integration of the ePSF over the disk. */
static void test_encircled(void **state)
{
    (void)state;
    double prev = 0.0;
    assert_true(sso_sim_psf_encircled(g_psf, 0.0) == 0.0);
    for (double r = 0.05; r < 100.0; r += 0.05) {
        double e = sso_sim_psf_encircled(g_psf, r);
        assert_true(e >= prev);
        prev = e;
    }
    assert_true(fabs(sso_sim_psf_encircled(g_psf, T_HALF * 1.5) - 1.0) < 1e-6);
    double ee10 = sso_sim_psf_encircled(g_psf, 10.0);
    print_message("EE(1) %.3f EE(2) %.3f EE(5) %.3f EE(8) %.4f EE(10) %.4f EE(30) %.4f\n",
                  sso_sim_psf_encircled(g_psf, 1.0), sso_sim_psf_encircled(g_psf, 2.0),
                  sso_sim_psf_encircled(g_psf, 5.0), sso_sim_psf_encircled(g_psf, 8.0), ee10,
                  sso_sim_psf_encircled(g_psf, 30.0));
    assert_true(ee10 > 0.85 && ee10 < 0.995);
    assert_true(sso_sim_psf_encircled(g_psf, 1.0) > 0.3 && sso_sim_psf_encircled(g_psf, 1.0) < 0.6);
    const double radii[] = {1.0, 2.5, 6.0};
    for (int k = 0; k < 3; k++) {
        double r = radii[k], h = 0.02, s = 0.0;
        for (double y = -r + 0.5 * h; y < r; y += h)
            for (double x = -r + 0.5 * h; x < r; x += h)
                if (x * x + y * y < r * r)
                    s += sso_sim_psf_eval(g_psf, x, y) * h * h;
        print_message("EE(%.1f): module %.5f, integrated %.5f\n", r, sso_sim_psf_encircled(g_psf, r), s);
        assert_true(fabs(s - sso_sim_psf_encircled(g_psf, r)) < 5e-3);
    }
}

/* The convolution kernel: the ePSF at integer offsets, renormalised. */
static void test_kernel(void **state)
{
    (void)state;
    int hp = 10, m = 2 * hp + 1;
    float *k = malloc((size_t)m * m * sizeof(float));
    assert_non_null(k);
    assert_int_equal(sso_sim_psf_kernel(g_psf, hp, k), SSO_OK);
    double s = 0.0;
    for (int i = 0; i < m * m; i++)
        s += k[i];
    assert_true(fabs(s - 1.0) < 1e-5);
    double ratio = k[hp * m + hp] / sso_sim_psf_eval(g_psf, 0.0, 0.0);
    assert_true(ratio > 1.0 && ratio < 1.1); /* ~EE of a 21 x 21 px box */
    for (int j = -hp; j <= hp; j++)
        for (int i = -hp; i <= hp; i++) {
            float want = (float)(ratio * sso_sim_psf_eval(g_psf, i, j));
            assert_true(fabsf(k[(j + hp) * m + i + hp] - want) <= 1e-5f * want + 1e-12f);
        }
    assert_int_equal(sso_sim_psf_kernel(g_psf, T_HALF + 1, k), SSO_ERR_ARG);
    assert_int_equal(sso_sim_psf_kernel(g_psf, -1, k), SSO_ERR_ARG);
    free(k);
}

/* Bad arguments; and a different sampling gives the same PSF. */
static void test_create_args_and_sampling(void **state)
{
    (void)state;
    sso_sim_psf *p = (sso_sim_psf *)&p;
    assert_int_equal(sso_sim_psf_create(1, 64, &p), SSO_ERR_ARG);
    assert_null(p);
    assert_int_equal(sso_sim_psf_create(4, 2, &p), SSO_ERR_ARG);
    assert_int_equal(sso_sim_psf_create(4, 64, NULL), SSO_ERR_ARG);
    sso_sim_psf_free(NULL);

    /* Oversample 3: another pupil sampling and grid; offsets common to both grids (integers) agree. */
    assert_int_equal(sso_sim_psf_create(3, T_HALF, &p), SSO_OK);
    assert_int_equal(sso_sim_psf_half_size_px(p), T_HALF);
    assert_true(fabs(sso_sim_psf_fwhm_px(p) - sso_sim_psf_fwhm_px(g_psf)) < 0.02);
    assert_true(sso_sim_psf_eval(p, T_HALF + 0.5, 0.0) == 0.0f); /* beyond the stamp */
    for (int j = -3; j <= 3; j++)
        for (int i = -3; i <= 3; i++) {
            double a = sso_sim_psf_eval(p, i, j), b = sso_sim_psf_eval(g_psf, i, j);
            assert_true(fabs(a - b) < 0.005 * b + 1e-6);
        }
    assert_true(fabs(sso_sim_psf_encircled(p, 2.0) - sso_sim_psf_encircled(g_psf, 2.0)) < 0.01);
    sso_sim_psf_free(p);
}

static void *create_thread(void *arg)
{
    sso_sim_psf **out = arg;
    if (sso_sim_psf_create(3, 8, out) != SSO_OK)
        *out = NULL;
    return NULL;
}

/* Two threads build PSFs at once (the FFTW planner calls are serialised); both come out the same. */
static void test_threads(void **state)
{
    (void)state;
    sso_sim_psf *p[2] = {NULL, NULL};
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&t[k], NULL, create_thread, &p[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    for (double d = -8.0; d <= 8.0; d += 0.37)
        assert_true(sso_sim_psf_eval(p[0], d, 0.3 * d) == sso_sim_psf_eval(p[1], d, 0.3 * d));
    sso_sim_psf_free(p[0]);
    sso_sim_psf_free(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fwhm),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_centroid),
        cmocka_unit_test(test_symmetry),
        cmocka_unit_test(test_spikes),
        cmocka_unit_test(test_trail),
        cmocka_unit_test(test_add_snr_and_clipping),
        cmocka_unit_test(test_encircled),
        cmocka_unit_test(test_kernel),
        cmocka_unit_test(test_create_args_and_sampling),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
