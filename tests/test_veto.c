/* tests/test_veto.c: the streak-side veto (host/veto.h) on analytic scenes.
 *
 * Scenes are drawn here from a pixel-integrated Gaussian PSF (FWHM 1.6 px) on unit white noise:
 * isolated point sources (SNR 10 .. 1000) drawn with the simulator's VIS ePSF (whose diffraction
 * spikes are short streaks through the source: the reason for the veto's fractional term), a slow mover's own 16 px trail, long streaks through or
 * ending at the candidate at several angles, a point-source neighbour, and noise alone. psi/phi
 * come from the library's matched filter (sso_likelihood) with the 7x7 PSF template, as in the
 * pipeline. What must hold: a point source or its own trail is kept whatever its brightness; a
 * streak of point-map SNR >= 5 at the position is vetoed; the veto fires on noise alone at a rate
 * below 0.5% per epoch; and ignoring the own trail's length (a mutation of the geometry) would
 * veto a slow mover's trail.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/veto.h"
#include "sim/psf.h"
#include "sim/rng.h"
#include "sso/sso.h"

#define FWHM 1.6
#define SIGMA (FWHM / 2.3548200450309493)
#define PI 3.14159265358979323846
#define W 96
#define H 96
#define HALF 3

static sso_sim_psf *g_psf; /* the simulator's ePSF, for the bright point sources */

static double gpix(double dx, double dy)
{
    const double s = 1.0 / (SIGMA * sqrt(2.0));
    return 0.25 * (erf((dx + 0.5) * s) - erf((dx - 0.5) * s)) * (erf((dy + 0.5) * s) - erf((dy - 0.5) * s));
}

/* flux (e-) of a point source at (x, y) added to img */
static void add_point(float *img, double x, double y, double flux)
{
    const int x0 = (int)floor(x), y0 = (int)floor(y);
    for (int j = y0 - 6; j <= y0 + 6; j++)
        for (int i = x0 - 6; i <= x0 + 6; i++)
            if (i >= 0 && j >= 0 && i < W && j < H)
                img[j * W + i] += (float)(flux * gpix(i - x, j - y));
}

/* a trail of total flux from (xa, ya) to (xb, yb): 0.05 px steps */
static void add_trail(float *img, double xa, double ya, double xb, double yb, double flux)
{
    const double len = hypot(xb - xa, yb - ya);
    const int n = (int)(len / 0.05) + 1;
    for (int k = 0; k < n; k++) {
        const double t = (k + 0.5) / n;
        add_point(img, xa + t * (xb - xa), ya + t * (yb - ya), flux / n);
    }
}

typedef struct scene {
    float d[W * H], v[W * H], psi[W * H], phi[W * H];
    float tmpl[(2 * HALF + 1) * (2 * HALF + 1)];
} scene;

static scene *scene_new(uint64_t seed, double noise)
{
    scene *s = calloc(1, sizeof *s);
    sso_rng r;
    sso_rng_init(&r, seed, 7, 8, 9);
    for (int i = 0; i < W * H; i++)
        s->d[i] = (float)(noise * sso_rng_normal(&r)), s->v[i] = 1.0f;
    double sum = 0.0;
    for (int j = -HALF; j <= HALF; j++)
        for (int i = -HALF; i <= HALF; i++)
            sum += gpix(i, j);
    for (int j = -HALF; j <= HALF; j++)
        for (int i = -HALF; i <= HALF; i++)
            s->tmpl[(j + HALF) * (2 * HALF + 1) + i + HALF] = (float)(gpix(i, j) / sum);
    return s;
}

static void filter(scene *s)
{
    assert_int_equal(sso_likelihood(s->d, s->v, NULL, W, H, s->tmpl, HALF, SSO_LIKE_DIRECT, s->psi, s->phi),
                     SSO_OK);
}

/* point-map SNR at (x, y), bilinear like the pipeline */
static double snr_at(const scene *s, double x, double y)
{
    const int x0 = (int)floor(x), y0 = (int)floor(y);
    const double fx = x - x0, fy = y - y0;
    double p = 0.0, f = 0.0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            const double wgt = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            p += wgt * s->psi[(y0 + j) * W + x0 + i];
            f += wgt * s->phi[(y0 + j) * W + x0 + i];
        }
    return p / sqrt(f);
}

/* SNR of a unit-flux point source in the matched filter: sqrt(sum T^2 / V) over the template's
 * footprint of the source (noise-free, computed from the drawn pixels) */
static double unit_point_snr(void)
{
    scene *s = scene_new(1, 0.0);
    add_point(s->d, 48.0, 48.0, 1.0);
    filter(s);
    const double r = snr_at(s, 48.0, 48.0);
    free(s);
    return r;
}

static void test_point_sources_kept(void **state)
{
    (void)state;
    sso_veto_params p;
    sso_veto_params_default(&p);
    const double unit = unit_point_snr();
    const double snrs[] = {10.0, 30.0, 100.0, 300.0, 1000.0};
    int vetoed = 0, n = 0;
    for (int k = 0; k < 5; k++)
        for (int t = 0; t < 20; t++) {
            scene *s = scene_new(100 + 20 * k + t, 1.0);
            const double x = 40.0 + 0.37 * t, y = 44.0 + 0.23 * t;
            /* the simulator's VIS ePSF (diffraction spikes of 3 spider arms, Airy rings) */
            sso_sim_psf_add(g_psf, s->d, W, H, x, y, snrs[k] / unit, 40, 0.0f);
            filter(s);
            vetoed += sso_veto_epoch(s->psi, s->phi, W, H, x, y, 0.0, 0.0, snr_at(s, x, y), &p);
            n++;
            free(s);
        }
    assert_int_equal(vetoed, 0);
    assert_int_equal(n, 100);
}

/* a slow mover at 10"/h trails 16 px in a 566 s VIS exposure: its own trail is not a streak */
static void test_own_trail_kept(void **state)
{
    (void)state;
    sso_veto_params p;
    sso_veto_params_default(&p);
    const double unit = unit_point_snr();
    const double len = 16.0, ang = 30.0 * PI / 180.0;
    int vetoed = 0, vetoed_as_point = 0;
    for (int t = 0; t < 20; t++) {
        scene *s = scene_new(300 + t, 1.0);
        const double x = 48.3, y = 47.6, c = cos(ang) * len / 2, sn = sin(ang) * len / 2;
        /* total flux so that the trail's matched-filter SNR is ~40 (point SNR x sqrt of its
         * ~length in PSF widths), bright enough that the own trail dominates the side sums */
        add_trail(s->d, x - c, y - sn, x + c, y + sn, 40.0 * sqrt(len / FWHM) / unit);
        filter(s);
        const double snr = snr_at(s, x, y);
        vetoed += sso_veto_epoch(s->psi, s->phi, W, H, x, y, len, ang, snr, &p);
        vetoed_as_point += sso_veto_epoch(s->psi, s->phi, W, H, x, y, 0.0, 0.0, snr, &p);
        free(s);
    }
    assert_int_equal(vetoed, 0);
    assert_true(vetoed_as_point >= 18); /* the geometry matters: a point's rays run into the trail */
}

/* a long streak through the candidate (or ending at it), point-map SNR 5 or 8 at the position */
static int streak_case(double snr_pos, double ang_deg, int through, uint64_t seed)
{
    sso_veto_params p;
    sso_veto_params_default(&p);
    const double a = ang_deg * PI / 180.0, x = 47.7, y = 48.2, len = 120.0;
    /* linear density from a noise-free rendering: SNR at the position per unit total flux */
    scene *z = scene_new(1, 0.0);
    const double xa = through ? x - cos(a) * len / 2 : x, ya = through ? y - sin(a) * len / 2 : y;
    add_trail(z->d, xa, ya, x + cos(a) * len / 2, y + sin(a) * len / 2, 1.0);
    filter(z);
    const double per_flux = snr_at(z, x, y);
    free(z);
    scene *s = scene_new(seed, 1.0);
    add_trail(s->d, xa, ya, x + cos(a) * len / 2, y + sin(a) * len / 2, snr_pos / per_flux);
    filter(s);
    const int v = sso_veto_epoch(s->psi, s->phi, W, H, x, y, 0.0, 0.0, snr_at(s, x, y), &p);
    free(s);
    return v;
}

static void test_streaks_vetoed(void **state)
{
    (void)state;
    const double angles[] = {0.0, 37.0, 90.0, 143.0, 171.0};
    int n = 0, v5 = 0, v8 = 0, vend = 0;
    for (int k = 0; k < 5; k++)
        for (int t = 0; t < 8; t++) {
            v5 += streak_case(5.0, angles[k], 1, 500 + 8 * k + t);
            v8 += streak_case(8.0, angles[k], 1, 600 + 8 * k + t);
            vend += streak_case(8.0, angles[k], 0, 700 + 8 * k + t);
            n++;
        }
    print_message("streak vetoed: SNR 5 through %d/%d, SNR 8 through %d/%d, SNR 8 ending %d/%d\n", v5, n,
                  v8, n, vend, n);
    assert_true(v5 >= (int)(0.95 * n));
    assert_int_equal(v8, n);
    assert_true(vend >= (int)(0.95 * n));
}

/* a point-source neighbour 6 px away (SNR 8) is not a streak */
static void test_neighbour_kept(void **state)
{
    (void)state;
    sso_veto_params p;
    sso_veto_params_default(&p);
    const double unit = unit_point_snr();
    int vetoed = 0;
    for (int t = 0; t < 40; t++) {
        scene *s = scene_new(900 + t, 1.0);
        const double x = 48.0, y = 48.0, a = t * PI / 20.0;
        add_point(s->d, x, y, 10.0 / unit);
        add_point(s->d, x + 6.0 * cos(a), y + 6.0 * sin(a), 8.0 / unit);
        filter(s);
        vetoed += sso_veto_epoch(s->psi, s->phi, W, H, x, y, 0.0, 0.0, snr_at(s, x, y), &p);
        free(s);
    }
    print_message("neighbour: %d of 40 vetoed\n", vetoed);
    assert_true(vetoed <= 2);
}

static void test_noise_rate(void **state)
{
    (void)state;
    sso_veto_params p;
    sso_veto_params_default(&p);
    int vetoed = 0, n = 0;
    for (int t = 0; t < 10; t++) {
        scene *s = scene_new(2000 + t, 1.0);
        filter(s);
        for (int j = 0; j < 10; j++)
            for (int i = 0; i < 10; i++, n++) {
                const double x = 16.0 + 6.4 * i + 0.3, y = 16.0 + 6.4 * j + 0.6;
                vetoed += sso_veto_epoch(s->psi, s->phi, W, H, x, y, 0.0, 0.0, 0.0, &p);
            }
        free(s);
    }
    print_message("noise: %d of %d positions vetoed\n", vetoed, n);
    assert_true(vetoed <= n / 200);
}

/* positions near the edge or over masked data: no usable angle is not a veto */
static void test_edges(void **state)
{
    (void)state;
    sso_veto_params p;
    sso_veto_params_default(&p);
    scene *s = scene_new(5, 1.0);
    filter(s);
    for (int i = 0; i < W * H; i++)
        s->phi[i] = 0.0f;
    assert_true(isinf(sso_veto_side_snr(s->psi, s->phi, W, H, 48.0, 48.0, 0.0, 0.0, &p, NULL)));
    assert_int_equal(sso_veto_epoch(s->psi, s->phi, W, H, 48.0, 48.0, 0.0, 0.0, 5.0, &p), 0);
    filter(s);
    assert_int_equal(sso_veto_epoch(s->psi, s->phi, W, H, 0.5, 0.5, 0.0, 0.0, 5.0, &p), 0);
    free(s);
}

/* The mask test of cosmic-ray-track neighbours (sso_trail_hugs_mask): a vertical masked track (code 1) 60 px long and
 * 1 px wide; a trail parallel to it 2 px aside runs along it, one 4 px aside (beyond r = 3) does
 * not, nor one crossing it at 45 or 90 degrees, nor one too short (10 px < 12) beside it, nor one
 * beside a column of code 2 (the pipeline's "uncovered": a footprint's edge, not a flag), nor one
 * 8 degrees off the track's direction (its offset to the mask changes along it: a mover passing a
 * track), though it is within 3 px of the mask over more than half its length. */
/* sso_trail_share: a trail lying along another shares what lies beside it; one crossing at 90 or
 * 30 degrees only the crossing (2 r / sin angle of its length); a point source on a trail all or
 * nothing. */
static void test_trail_share(void **state)
{
    (void)state;
    const double pi = 3.14159265358979323846;
    /* a: 100 px on the x axis; b: 40 px along it, centred at x = 30: a's x in [7, 50] is near b */
    assert_true(fabs(sso_trail_share(0, 0, 100, 0, 30, 0, 40, 0, 3) - 44.0 / 101.0) < 0.015);
    assert_true(sso_trail_share(30, 0, 40, 0, 0, 0, 100, 0, 3) > 0.99); /* b all on a */
    assert_true(sso_trail_share(0, 0, 100, 0, 0, 10, 100, 0, 3) == 0.0); /* parallel, 10 px off */
    const double s90 = sso_trail_share(0, 0, 300, pi / 2, 0, 0, 66, 0, 3);
    assert_true(s90 > 0.015 && s90 < 0.03); /* 7 of 301 points */
    const double s30 = sso_trail_share(0, 0, 300, pi / 6, 0, 0, 66, 0, 3);
    assert_true(s30 > 0.03 && s30 < 0.05); /* 6 / sin 30 = 12 px of 300 */
    assert_true(sso_trail_share(5, 1, 0, 0, 0, 0, 66, 0, 3) == 1.0);  /* a point on the trail */
    assert_true(sso_trail_share(5, 4, 0, 0, 0, 0, 66, 0, 3) == 0.0);  /* 4 px beside it */
    assert_true(sso_trail_share(40, 0, 0, 0, 0, 0, 66, 0, 3) == 0.0); /* 7 px beyond its end */
}

static void test_mask_tests(void **state)
{
    (void)state;
    enum { MW = 96, MH = 96 };
    unsigned char *m = calloc(MW * MH, 1);
    assert_non_null(m);
    for (int y = 18; y < 78; y++)
        m[y * MW + 40] = 1, m[y * MW + 70] = 2;
    const double up = 1.5707963267948966;
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 42.0, 48.0, 40.0, up, 3, 12, 0.5), 1);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 38.0, 48.0, 40.0, -up, 3, 12, 0.5), 1);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 44.0, 48.0, 40.0, up, 3, 12, 0.5), 0);
    /* 3 px aside: within r = 3, not r = 2 (the pipeline's; a halo lies 1 px from the track) */
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 43.0, 48.0, 40.0, up, 3, 12, 0.5), 1);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 43.0, 48.0, 40.0, up, 2, 12, 0.5), 0);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 42.0, 48.0, 40.0, up, 2, 12, 0.5), 1);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 42.0, 48.0, 40.0, up, 0, 12, 0.5), 0); /* r < 1 */
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 40.0, 48.0, 40.0, up / 2.0, 3, 12, 0.5), 0);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 40.0, 48.0, 40.0, 0.0, 3, 12, 0.5), 0);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 42.0, 48.0, 10.0, up, 3, 12, 0.5), 0);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 72.0, 48.0, 40.0, up, 3, 12, 0.5), 0);
    /* 8 degrees off vertical, crossing the track at its centre: within 3 px of it at all 41 points,
     * but at any one offset band (d, d + 1: 2 px at 0.14 px/px) at ~15 */
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 40.0, 48.0, 40.0, up - 0.14, 3, 12, 0.5), 0);
    /* half of an 80 px trail beside the track (from y = 18 to 77, the trail from 8 to 88): kept
     * below 0.8, flagged at 0.5 */
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 42.0, 48.0, 80.0, up, 3, 12, 0.8), 0);
    assert_int_equal(sso_trail_hugs_mask(m, MW, MH, 42.0, 48.0, 80.0, up, 3, 12, 0.5), 1);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_sources_kept), cmocka_unit_test(test_own_trail_kept),
        cmocka_unit_test(test_streaks_vetoed),     cmocka_unit_test(test_neighbour_kept),
        cmocka_unit_test(test_noise_rate),         cmocka_unit_test(test_edges),
        cmocka_unit_test(test_mask_tests),         cmocka_unit_test(test_trail_share),
    };
    if (sso_sim_psf_create(4, 64, &g_psf) != SSO_OK)
        return 1;
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sso_sim_psf_free(g_psf);
    return rc;
}
