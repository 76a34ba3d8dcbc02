/* alerts/synth.c: synthetic alerts for tests, benchmarks and `sso alerts-demo` (sso/alert.h).
 *
 * Alert i of a run is a pure function of (seed, obs_id, i): a linear mover observed at 4 epochs
 * 20 min apart (two-digit detector id, positions on a great-circle-free small-angle track), rate
 * drawn log-uniform in 1..2000 "/h; above 100 "/h it is 'fast' and carries a trail. Random numbers
 * come from splitmix64 so the same inputs give the same bytes on every machine.
 */
#define _DEFAULT_SOURCE /* M_PI */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alerts/synth.h"
#include "host/status_internal.h"

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s) /* [0, 1) with 53 random bits */
{
    return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

sso_status sso_alert_synth(uint64_t seed, const char *obs_id, uint64_t i, sso_alert *a)
{
    static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char key[64];
    uint64_t s = seed * 0x100000001B3ULL ^ (i + 1) * 0x9E3779B97F4A7C15ULL;
    sso_status st;
    sso_alert_init(a);
    snprintf(key, sizeof key, "synth-%llu", (unsigned long long)i);
    if ((st = sso_alert_make_id(a, obs_id, key)) != SSO_OK)
        return st;
    /* trkSub: 'S' + i in base 36, at most 7 digits */
    char t[9] = {0};
    uint64_t v = i;
    int k = 7;
    t[8] = 0;
    do {
        t[k--] = b36[v % 36];
        v /= 36;
    } while (v && k > 0);
    t[k] = 'S';
    snprintf(a->trk_sub, sizeof a->trk_sub, "%s", t + k);
    snprintf(a->stn, sizeof a->stn, "C57"); /* placeholder observatory code for tests */
    a->role = SSO_ROLE_TEST;
    a->n_epochs = 4;
    double rate = exp(log(1.0) + unif(&s) * (log(2000.0) - log(1.0)));
    double pa = 360.0 * unif(&s);
    double ra0 = 360.0 * unif(&s), dec0 = -60.0 + 120.0 * unif(&s);
    double mjd0 = 60000.0 + 1e-3 * (double)(i % 100000);
    double mag = 20.0 + 4.0 * unif(&s);
    a->cls = rate > 100.0 ? SSO_ALERT_FAST : SSO_ALERT_SLOW;
    a->rate_arcsec_h = rate;
    a->rate_sigma_arcsec_h = 0.01 * rate + 0.05;
    a->pa_deg = pa;
    a->pa_sigma_deg = 0.5;
    a->score = unif(&s);
    if (a->cls == SSO_ALERT_FAST) {
        a->has_trail = 1;
        a->trail_length_arcsec = rate * 566.0 / 3600.0; /* 566 s VIS exposure */
        a->trail_angle_deg = pa;
    }
    for (int e = 0; e < 4; e++) {
        sso_alert_obs *o = &a->obs[e];
        double dt_h = e * (20.0 / 60.0);
        double dra = rate * dt_h * sin(pa * M_PI / 180.0) / 3600.0 / cos(dec0 * M_PI / 180.0);
        double ddec = rate * dt_h * cos(pa * M_PI / 180.0) / 3600.0;
        o->mjd = mjd0 + dt_h / 24.0;
        o->ra_deg = fmod(ra0 + dra + 360.0, 360.0);
        o->dec_deg = fmax(-90.0, fmin(90.0, dec0 + ddec));
        o->rms_ra_arcsec = 0.02 + 0.05 * unif(&s);
        o->rms_dec_arcsec = 0.02 + 0.05 * unif(&s);
        o->mag = mag + 0.1 * (unif(&s) - 0.5);
        o->rms_mag = 0.05;
        o->snr = 5.0 + 200.0 * pow(10.0, -0.4 * (mag - 20.0)) * unif(&s);
        o->exp_s = 566.0;
        snprintf(o->det, sizeof o->det, "%d-%d", 1 + (int)(i % 6), 1 + (int)((i / 6) % 6));
        o->x_px = 1.0 + 4095.0 * unif(&s);
        o->y_px = 1.0 + 4131.0 * unif(&s);
    }
    return SSO_OK;
}
