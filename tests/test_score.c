/* tests/test_score.c: the scorer (host/score.c, host/score_read.c) against answers worked by hand.
 *
 * Asserts:
 *  - the issue's example: 10 slow movers, 7 found exactly, 1 found 1" off (false at 0.5", matched
 *    at 1.5"), 2 missed, 3 false alerts, 1 duplicate: counts, false per CCD-quartet (CCDs from the
 *    det column, quadrants folded), confusion, every SNR/magnitude/rate bin (edges, n, found,
 *    binomial error, Wilson interval), the 50% crossing, completeness above SNR 10, position error
 *    rms/median by per-epoch SNR, magnitude error for SNR >= 20, rate error rms and median;
 *  - fast movers: 2nd-highest per-epoch SNR, the StreakDet subset (trail >= 15 px and SNR >= 10 in
 *    >= 2 epochs), a 1-epoch alert matching, a 4-epoch alert with a single epoch in the radius not
 *    matching;
 *  - bin edges: fixed SNR edges, values exactly on an edge go to the upper bin, the crossing is NaN
 *    when not bracketed;
 *  - empty inputs; malformed truth rows and alert lines fail with SSO_ERR_CORRUPT naming file:line;
 *  - the indexed matcher equals a brute-force all-pairs reference written here, on 400 seeded
 *    random movers crowded into a small field and 900 perturbed, partial, duplicate and false
 *    alerts.
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

#include "sso/sso.h"
#include "testutil.h"

#define EPS 1e-9

/* |a - b| <= tol (this cmocka has no assert_double_equal); NaN fails. */
#define assert_near(a, b, tol)                                                                  \
    do {                                                                                        \
        double a_ = (a), b_ = (b);                                                              \
        if (!(fabs(a_ - b_) <= (tol)))                                                          \
            fail_msg("%s = %.17g, expected %.17g (tol %g)", #a, a_, b_, (double)(tol));         \
    } while (0)

static const double g_mjd[4] = {60000.10, 60000.11066, 60000.12132, 60000.13198};

/* ---- helpers ----------------------------------------------------------------------------------- */

static char *write_file(const char *name, const char *text)
{
    static char path[4][1024];
    static int k;
    char *p = path[k++ % 4];
    sso_test_path(p, 1024, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return p;
}

/* An alert through JSON and back, so that what is scored is what the reader sees. */
static void alert_from_epochs(sso_alert *a, int id, sso_alert_class cls, int n,
                              const double *mjd, const double *ra, const double *dec,
                              const double *mag, double rate)
{
    char key[32];
    sso_alert_init(a);
    snprintf(key, sizeof key, "k%d", id);
    assert_int_equal(sso_alert_make_id(a, "test", key), SSO_OK);
    snprintf(a->trk_sub, sizeof a->trk_sub, "T%d", id);
    a->role = SSO_ROLE_TEST;
    a->cls = cls;
    a->n_epochs = n;
    a->rate_arcsec_h = rate;
    a->pa_deg = 0;
    for (int j = 0; j < n; j++) {
        a->obs[j].mjd = mjd[j];
        a->obs[j].ra_deg = ra[j];
        a->obs[j].dec_deg = dec[j];
        a->obs[j].mag = mag ? mag[j] : NAN;
        a->obs[j].snr = 10;
        snprintf(a->obs[j].det, sizeof a->obs[j].det, "3-3");
    }
    char *js = NULL;
    size_t len = 0;
    assert_int_equal(sso_alert_to_json(a, 1, &js, &len), SSO_OK);
    assert_int_equal(sso_alert_from_json(js, len, a), SSO_OK);
    free(js);
}

/* Alert on truth mover m at the listed epochs (0-based indices), dec shifted by ddec_as. */
static void alert_on(sso_alert *a, int id, const sso_truth_mover *m, sso_alert_class cls,
                     const int *eps, int n, double ddec_as, double dmag, double rate_factor)
{
    double mjd[8], ra[8], dec[8], mag[8];
    for (int j = 0; j < n; j++) {
        const sso_truth_epoch *e = &m->ep[eps[j]];
        mjd[j] = e->mjd;
        ra[j] = e->ra_deg;
        dec[j] = e->dec_deg + ddec_as / 3600.0;
        mag[j] = m->mag + dmag;
    }
    alert_from_epochs(a, id, cls, n, mjd, ra, dec, mag, m->rate_arcsec_h * rate_factor);
}

static void assert_bin(const sso_score_bin *b, double lo, double hi, int n, int found)
{
    assert_near(b->lo, lo, 1e-12);
    if (isinf(hi))
        assert_true(isinf(b->hi));
    else
        assert_near(b->hi, hi, 1e-12);
    assert_int_equal(b->n, n);
    assert_int_equal(b->found, found);
    if (n == 0) {
        assert_true(isnan(b->frac) && isnan(b->err) && isnan(b->mean));
        return;
    }
    double p = (double)found / n;
    assert_near(b->frac, p, EPS);
    assert_near(b->err, sqrt(p * (1 - p) / n), EPS);
    /* Wilson z = 1: roots q of (q - p)^2 = q (1 - q) / n */
    double lo_q = b->wlo, hi_q = b->whi;
    assert_near((lo_q - p) * (lo_q - p), lo_q * (1 - lo_q) / n, 1e-12);
    assert_near((hi_q - p) * (hi_q - p), hi_q * (1 - hi_q) / n, 1e-12);
    assert_true(lo_q <= p + EPS && hi_q >= p - EPS);
}

/* ---- the issue's example ----------------------------------------------------------------------- */

/* Slow mover i: stacked SNR s[i] (per-epoch s/2 at 4 epochs: sqrt(4 (s/2)^2) = s exactly). */
static const double g_s[10] = {3, 5, 7, 9, 11, 13, 15, 25, 40, 60};
static const double g_mag[10] = {20.0, 20.3, 20.6, 20.9, 21.2, 21.5, 21.8, 22.1, 22.4, 22.7};
static const double g_rate[10] = {0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.6, 7.0, 9.0};

static sso_truth *slow_truth(void)
{
    static const char *dets[3] = {"3-3", "3-4.E", "3-4.F"};
    size_t cap = 1 << 14, n = 0;
    char *csv = malloc(cap);
    n += (size_t)snprintf(csv + n, cap - n,
                          "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y\n");
    for (int i = 0; i < 10; i++)
        for (int e = 0; e < 4; e++)
            n += (size_t)snprintf(csv + n, cap - n,
                                  "%d,slow,%d,%.8f,%.9f,%.9f,%.4f,%.5f,45.0,%.3f,%.3f,%s,%d,%d\n",
                                  100 + i, e + 1, g_mjd[e], 150.0 + 0.01 * i, 2.0 + 1e-5 * e,
                                  g_mag[i], g_rate[i], g_rate[i] * 1.572, g_s[i] / 2, dets[i % 3],
                                  10 + e, 20);
    sso_truth *t = NULL;
    assert_int_equal(sso_truth_read(write_file("slow_truth.csv", csv), &t), SSO_OK);
    free(csv);
    return t;
}

static sso_alert *slow_alerts(const sso_truth *t, size_t *na)
{
    static const int all[4] = {0, 1, 2, 3}, two[2] = {0, 1};
    sso_alert *a = calloc(16, sizeof *a);
    int k = 0;
    for (int i = 3; i <= 9; i++) { /* found: 7 movers */
        double ddec = i == 9 ? 0.01 : 0.0;
        double dmag = i == 8 ? 0.1 : 0.0;
        double rf = i == 3 ? 1.01 : i == 4 ? 0.98 : i == 5 ? 1.03 : 1.0;
        alert_on(&a[k], k, &t->movers[i], i == 4 ? SSO_ALERT_FAST : SSO_ALERT_SLOW, all, 4, ddec,
                 dmag, rf);
        k++;
    }
    alert_on(&a[k], k, &t->movers[2], SSO_ALERT_SLOW, all, 4, 1.0, 0, 1); /* 1" off */
    k++;
    alert_on(&a[k], k, &t->movers[9], SSO_ALERT_SLOW, two, 2, 0.2, 0, 1); /* duplicate */
    k++;
    for (int f = 0; f < 3; f++) { /* false: 1' south of the movers */
        double ra[2] = {150.0 + 0.01 * f, 150.0 + 0.01 * f}, dec[2] = {1.98, 1.98};
        alert_from_epochs(&a[k], k, SSO_ALERT_SLOW, 2, g_mjd, ra, dec, NULL, 1.0);
        k++;
    }
    *na = (size_t)k;
    return a;
}

static void test_issue_example(void **state)
{
    (void)state;
    sso_truth *t = slow_truth();
    assert_int_equal((int)t->n, 10);
    assert_int_equal(t->n_ccds, 2); /* 3-3, and 3-4 from 3-4.E and 3-4.F */
    size_t na;
    sso_alert *al = slow_alerts(t, &na);
    assert_int_equal((int)na, 12);
    sso_score *s = NULL;
    assert_int_equal(sso_score_compute(t, al, na, NULL, &s), SSO_OK);

    assert_int_equal(s->n_movers, 10);
    assert_int_equal(s->n_alerts, 12);
    assert_int_equal(s->matched, 7);
    assert_int_equal(s->duplicates, 1);
    assert_int_equal(s->false_alerts, 4); /* 3 false + the 1" one */
    assert_int_equal(s->n_ccds, 2);
    assert_near(s->false_per_ccd_quartet, 2.0, EPS);
    assert_int_equal(s->confusion[0][0], 6);
    assert_int_equal(s->confusion[0][1], 1);
    assert_int_equal(s->confusion[1][0] + s->confusion[1][1], 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(s->mover_alert[i], i >= 3 ? i - 3 : -1);
    assert_int_equal(s->alert_kind[7], 2);
    assert_int_equal(s->alert_kind[8], 1);

    /* slow completeness by stacked SNR: fixed edges 0..15 by 1, then 20, 30, 50, 100, inf */
    const sso_score_class *c = &s->slow;
    assert_int_equal(c->n, 10);
    assert_int_equal(c->found, 7);
    assert_int_equal(c->by_snr.n_bins, 20);
    assert_bin(&c->by_snr.bins[3], 3, 4, 1, 0);
    assert_bin(&c->by_snr.bins[4], 4, 5, 0, 0);
    assert_bin(&c->by_snr.bins[5], 5, 6, 1, 0);
    assert_bin(&c->by_snr.bins[7], 7, 8, 1, 0);
    assert_bin(&c->by_snr.bins[9], 9, 10, 1, 1);
    assert_bin(&c->by_snr.bins[11], 11, 12, 1, 1);
    assert_bin(&c->by_snr.bins[13], 13, 14, 1, 1);
    assert_bin(&c->by_snr.bins[15], 15, 20, 1, 1);
    assert_bin(&c->by_snr.bins[16], 20, 30, 1, 1);
    assert_bin(&c->by_snr.bins[17], 30, 50, 1, 1);
    assert_bin(&c->by_snr.bins[18], 50, 100, 1, 1);
    assert_bin(&c->by_snr.bins[19], 100, INFINITY, 0, 0);
    assert_near(c->by_snr.bins[18].mean, 60, EPS);
    /* 50%: last bin below is [7,8) (mean 7, 0%), next [9,10) (mean 9, 100%): 7 + 0.5 * 2 = 8 */
    assert_near(c->snr50, 8.0, EPS);
    assert_bin(&c->above10, 10, INFINITY, 6, 6);
    assert_near(c->above10.mean, (11 + 13 + 15 + 25 + 40 + 60) / 6.0, EPS);

    /* magnitude: 0.5 mag bins 20.0 .. 23.0; 21.5 sits on an edge and goes up */
    assert_int_equal(c->by_mag.n_bins, 6);
    assert_bin(&c->by_mag.bins[0], 20.0, 20.5, 2, 0);
    assert_bin(&c->by_mag.bins[1], 20.5, 21.0, 2, 1);
    assert_bin(&c->by_mag.bins[2], 21.0, 21.5, 1, 1);
    assert_bin(&c->by_mag.bins[3], 21.5, 22.0, 2, 2);
    assert_bin(&c->by_mag.bins[4], 22.0, 22.5, 2, 2);
    assert_bin(&c->by_mag.bins[5], 22.5, 23.0, 1, 1);

    /* rate: edges 10^(k/4) from 10^-0.5 to 10; 1.0 sits on the edge 10^0 and goes up */
    assert_int_equal(c->by_rate.n_bins, 6);
    assert_bin(&c->by_rate.bins[0], pow(10, -0.5), pow(10, -0.25), 1, 0);
    assert_bin(&c->by_rate.bins[1], pow(10, -0.25), 1.0, 1, 0);
    assert_bin(&c->by_rate.bins[2], 1.0, pow(10, 0.25), 2, 1);
    assert_bin(&c->by_rate.bins[3], pow(10, 0.25), pow(10, 0.5), 2, 2);
    assert_bin(&c->by_rate.bins[4], pow(10, 0.5), pow(10, 0.75), 2, 2);
    assert_bin(&c->by_rate.bins[5], pow(10, 0.75), 10.0, 2, 2);

    /* no fast movers */
    assert_int_equal(s->fast.n, 0);
    assert_int_equal(s->fast.by_mag.n_bins, 0);
    assert_int_equal(s->fast.by_rate.n_bins, 0);
    assert_true(isnan(s->fast.snr50));
    assert_int_equal(s->fast_streakdet.n, 0);
    assert_true(isnan(s->fast_streakdet.frac));

    /* astrometry: per-epoch snr s/2 of movers 3..9 = 4.5 | 5.5 6.5 7.5 | 12.5 | 20 30 */
    assert_int_equal(s->pos_arcsec[0].n, 4);
    assert_int_equal(s->pos_arcsec[1].n, 12);
    assert_int_equal(s->pos_arcsec[2].n, 4);
    assert_int_equal(s->pos_arcsec[3].n, 8);
    assert_int_equal(s->pos_arcsec[4].n + s->pos_arcsec[5].n, 0);
    assert_true(s->pos_arcsec[1].rms < 1e-6);
    /* snr >= 20: mover 8 exact (4), mover 9 0.01" off (4): rms sqrt(4e-4/8), median (0+0.01)/2 */
    assert_int_equal(s->pos_snr20_arcsec.n, 8);
    assert_near(s->pos_snr20_arcsec.rms, sqrt(4 * 1e-4 / 8), 1e-6);
    assert_near(s->pos_snr20_arcsec.median_abs, 0.005, 1e-6);
    assert_near(s->pos_arcsec[3].rms, s->pos_snr20_arcsec.rms, 1e-12);
    /* magnitude, snr >= 20: mover 8 +0.1 (4), mover 9 exact (4) */
    assert_int_equal(s->mag_snr20.n, 8);
    assert_near(s->mag_snr20.rms, sqrt(4 * 0.01 / 8), 1e-9);
    assert_near(s->mag_snr20.median_abs, 0.05, 1e-9);
    /* all slow: the per-class figures are the same, the fast ones empty */
    assert_int_equal(s->pos_snr20_class[0].n, 8);
    assert_near(s->pos_snr20_class[0].rms, sqrt(4 * 1e-4 / 8), 1e-6);
    assert_near(s->mag_snr20_class[0].rms, sqrt(4 * 0.01 / 8), 1e-9);
    assert_int_equal(s->pos_snr20_class[1].n, 0);
    assert_int_equal(s->mag_snr20_class[1].n, 0);
    /* rate: +1%, -2%, +3%, 0, 0, 0, 0 */
    assert_int_equal(s->rate_pct[0].n, 7);
    assert_near(s->rate_pct[0].rms, sqrt(14.0 / 7), 1e-9);
    assert_near(s->rate_pct[0].median_abs, 0, 1e-9);
    assert_int_equal(s->rate_pct[1].n, 0);
    assert_true(isnan(s->rate_pct[1].rms));
    assert_int_equal(s->rate_pct[2].n, 7);
    assert_int_equal(s->n_epochs_outside, 0);
    sso_score_free(s);

    /* at 1.5" the 1"-off alert matches mover 2; the duplicate (0.2") stays a duplicate */
    sso_score_opts o = {1.5, 4};
    assert_int_equal(sso_score_compute(t, al, na, &o, &s), SSO_OK);
    assert_int_equal(s->matched, 8);
    assert_int_equal(s->duplicates, 1);
    assert_int_equal(s->false_alerts, 3);
    assert_near(s->false_per_ccd_quartet, 0.75, EPS); /* --ccds 4 */
    assert_bin(&s->slow.by_snr.bins[7], 7, 8, 1, 1);
    assert_near(s->slow.snr50, 6.0, EPS); /* [5,6) mean 5 at 0%, [7,8) mean 7 at 100% */
    assert_int_equal(s->pos_arcsec[0].n, 8);
    assert_near(s->pos_arcsec[0].rms, sqrt(4 * 1.0 / 8), 1e-6); /* 4 x 1", 4 x 0 */
    sso_score_free(s);
    free(al);
    sso_truth_free(t);
}

/* ---- fast movers ------------------------------------------------------------------------------- */

static void test_fast(void **state)
{
    (void)state;
    const char *csv =
        "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y\n"
        /* F1: snr 12 30 8 0 -> 2nd highest 12; trail 20 with snr >= 10 at 2 epochs: StreakDet */
        "1,fast,1,60000.10000000,10.0,-30.0,22.0,40.0,0,20.0,12.0,3-3,1,1\n"
        "1,fast,2,60000.11066000,10.001,-30.0,22.0,40.0,0,20.0,30.0,3-3,1,1\n"
        "1,fast,3,60000.12132000,10.002,-30.0,22.0,40.0,0,20.0,8.0,3-3,1,1\n"
        "1,fast,4,60000.13198000,10.003,-30.0,22.0,40.0,0,20.0,0,,,\n"
        /* F2: snr 50 9 9 9 -> 9; only one epoch >= 10 */
        "2,fast,1,60000.10000000,10.1,-30.0,21.0,40.0,0,20.0,50.0,3-3,1,1\n"
        "2,fast,2,60000.11066000,10.101,-30.0,21.0,40.0,0,20.0,9.0,3-3,1,1\n"
        "2,fast,3,60000.12132000,10.102,-30.0,21.0,40.0,0,20.0,9.0,3-3,1,1\n"
        "2,fast,4,60000.13198000,10.103,-30.0,21.0,40.0,0,20.0,9.0,3-3,1,1\n"
        /* F3: snr 11 x 4 -> 11; trails of 14 px: not StreakDet */
        "3,fast,4,60000.13198000,10.203,-30.0,21.5,35.0,0,14.0,11.0,3-4,1,1\n"
        "3,fast,1,60000.10000000,10.2,-30.0,21.5,35.0,0,14.0,11.0,3-4,1,1\n"
        "3,fast,2,60000.11066000,10.201,-30.0,21.5,35.0,0,14.0,11.0,3-4,1,1\n"
        "3,fast,3,60000.12132000,10.202,-30.0,21.5,35.0,0,14.0,11.0,3-4,1,1\n";
    sso_truth *t = NULL;
    assert_int_equal(sso_truth_read(write_file("fast.csv", csv), &t), SSO_OK);
    assert_int_equal((int)t->n, 3);
    assert_int_equal(t->movers[2].ep[0].epoch, 1); /* sorted by epoch */
    assert_int_equal(t->movers[0].n_epochs, 4);
    assert_true(isnan(t->movers[0].ep[3].x_px));
    assert_string_equal(t->movers[0].ep[3].det, "");
    sso_alert al[3];
    static const int e12[2] = {0, 1}, e1[1] = {0}, all[4] = {0, 1, 2, 3};
    alert_on(&al[0], 0, &t->movers[0], SSO_ALERT_FAST, e12, 2, 0.1, 0, 1);
    alert_on(&al[1], 1, &t->movers[1], SSO_ALERT_FAST, e1, 1, 0.1, 0, 1); /* 1-epoch alert */
    alert_on(&al[2], 2, &t->movers[2], SSO_ALERT_SLOW, all, 4, 0.0, 0, 1);
    for (int j = 1; j < 4; j++) /* only epoch 1 of F3 within the radius */
        al[2].obs[j].dec_deg += 2.0 / 3600;
    for (int k = 0; k < 2; k++) /* stated rms 0.05" in RA and Dec: the 0.1" errors are 1.414 x */
        for (int j = 0; j < al[k].n_epochs; j++)
            al[k].obs[j].rms_ra_arcsec = al[k].obs[j].rms_dec_arcsec = 0.05;
    sso_score *s = NULL;
    assert_int_equal(sso_score_compute(t, al, 3, NULL, &s), SSO_OK);
    assert_int_equal(s->matched, 2);
    assert_int_equal(s->false_alerts, 1);
    assert_int_equal(s->mover_alert[0], 0);
    assert_int_equal(s->mover_alert[1], 1);
    assert_int_equal(s->mover_alert[2], -1);
    assert_int_equal(s->confusion[1][1], 2);
    assert_int_equal(s->fast.n, 3);
    assert_int_equal(s->fast.found, 2);
    assert_bin(&s->fast.by_snr.bins[9], 9, 10, 1, 1);
    assert_bin(&s->fast.by_snr.bins[11], 11, 12, 1, 0);
    assert_bin(&s->fast.by_snr.bins[12], 12, 13, 1, 1);
    assert_near(s->fast.snr50, 11.5, EPS);
    assert_bin(&s->fast.above10, 10, INFINITY, 2, 1);
    assert_bin(&s->fast_streakdet, 0, INFINITY, 1, 1);
    assert_near(s->fast_streakdet.mean, 12.0, EPS);
    /* positions 0.1" off at 3 shared epochs, per-epoch snr 12, 30 (F1) and 50 (F2) */
    assert_int_equal(s->pos_arcsec[2].n + s->pos_arcsec[3].n + s->pos_arcsec[4].n, 3);
    assert_near(s->pos_snr20_arcsec.rms, 0.1, 1e-6);
    assert_int_equal(s->pos_snr20_arcsec.n, 2);
    assert_int_equal(s->pos_snr20_class[1].n, 2); /* fast truth, whatever the alert's class */
    assert_near(s->pos_snr20_class[1].rms, 0.1, 1e-6);
    assert_int_equal(s->pos_snr20_class[0].n, 0);
    assert_int_equal(s->pos_snr20_fast_len[0].n, 2); /* trails of 20 px */
    assert_int_equal(s->pos_snr20_fast_len[1].n, 0);
    assert_int_equal(s->pull_snr20.n, 2);
    assert_near(s->pull_snr20.rms, 0.1 / hypot(0.05, 0.05), 1e-6);
    assert_int_equal(s->slow.n, 0);
    assert_true(isnan(s->false_per_ccd_quartet) == 0);
    assert_near(s->false_per_ccd_quartet, 0.5, EPS); /* CCDs 3-3, 3-4 */
    sso_score_free(s);
    sso_truth_free(t);
}

/* ---- edges, crossing, empty inputs ------------------------------------------------------------- */

static void test_edges_and_crossing(void **state)
{
    (void)state;
    int ne = 0;
    const double *e = sso_score_snr_edges(&ne);
    assert_int_equal(ne, 21);
    assert_near(e[0], 0, 0);
    assert_true(isinf(e[ne - 1]));
    for (int i = 1; i < ne; i++)
        assert_true(e[i] > e[i - 1]);
    sso_score_bin b[3] = {{0, 1, 4, 1, 0.25, 0, 0, 0, 0.5}, {1, 2, 0, 0, NAN, 0, 0, 0, NAN},
                          {2, 3, 4, 3, 0.75, 0, 0, 0, 2.5}};
    sso_score_curve c = {3, b};
    /* empty middle bin skipped: 0.5 + (0.5 - 0.25) * (2.5 - 0.5) / 0.5 = 1.5 */
    assert_near(sso_score_crossing(&c), 1.5, EPS);
    b[0].frac = 0.6; /* never below 50% */
    assert_true(isnan(sso_score_crossing(&c)));
    b[2].frac = 0.4; /* ends below */
    assert_true(isnan(sso_score_crossing(&c)));
    /* separation: 1" in dec, 1" of great circle in ra at dec 60 */
    assert_near(sso_score_sep_arcsec(10, 20, 10, 20 + 1 / 3600.0), 1.0, 1e-9);
    assert_near(sso_score_sep_arcsec(10, 60, 10 + 2 / 3600.0, 60), 1.0, 1e-6);
    assert_near(sso_score_sep_arcsec(359.9999, 0, 0.0001, 0), 0.72, 1e-9);
}

static void test_empty(void **state)
{
    (void)state;
    sso_truth *t = NULL;
    assert_int_equal(sso_truth_read(write_file("empty_truth.csv",
                                               "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,"
                                               "snr,det,x,y\n"),
                                    &t),
                     SSO_OK);
    assert_int_equal((int)t->n, 0);
    assert_int_equal(t->n_ccds, 0);
    sso_alert *al = (sso_alert *)1;
    size_t na = 99;
    assert_int_equal(sso_alerts_read_jsonl(write_file("empty.jsonl", "\n  \n"), &al, &na), SSO_OK);
    assert_null(al);
    assert_int_equal((int)na, 0);
    sso_score *s = NULL;
    assert_int_equal(sso_score_compute(t, NULL, 0, NULL, &s), SSO_OK);
    assert_int_equal(s->n_movers + s->n_alerts + s->matched + s->false_alerts, 0);
    assert_true(isnan(s->false_per_ccd_quartet));
    assert_int_equal(s->slow.by_snr.n_bins, 20);
    assert_true(isnan(s->slow.snr50));
    assert_int_equal(s->pos_snr20_arcsec.n, 0);
    assert_true(isnan(s->pos_snr20_arcsec.rms));
    sso_score_free(s);
    /* alerts but no movers: all false */
    sso_alert a;
    double ra = 1, dec = 1;
    alert_from_epochs(&a, 1, SSO_ALERT_SLOW, 1, g_mjd, &ra, &dec, NULL, 1);
    assert_int_equal(sso_score_compute(t, &a, 1, NULL, &s), SSO_OK);
    assert_int_equal(s->false_alerts, 1);
    sso_score_free(s);
    sso_truth_free(t);
    sso_score_free(NULL);
    sso_truth_free(NULL);
}

/* ---- malformed input --------------------------------------------------------------------------- */

#define HDR "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y\n"
#define ROW "1,slow,1,60000.1,10,20,22,1,0,1.5,3,3-3,1,1\n"

static void expect_truth_error(const char *text, const char *what)
{
    sso_truth *t = (sso_truth *)1;
    char *p = write_file("bad_truth.csv", text);
    assert_int_equal(sso_truth_read(p, &t), SSO_ERR_CORRUPT);
    assert_null(t);
    const char *msg = sso_last_error();
    if (!strstr(msg, what) || !strstr(msg, "bad_truth.csv:"))
        fail_msg("'%s' lacks '%s'", msg, what);
}

static void test_malformed_truth(void **state)
{
    (void)state;
    expect_truth_error("", "bad_truth.csv:1: empty file");
    expect_truth_error("id,class,epoch\n" ROW, ":1: header");
    expect_truth_error(HDR ROW "1,slow,2,60000.2,10,20,22,1,0,1.5,3,3-3,1\n", ":3: 13 fields");
    expect_truth_error(HDR "1,slow,1,60000.1,10,20,22,1,0,1.5,3,3-3,1,1,9\n", ":2: more than 14");
    expect_truth_error(HDR "1,medium,1,60000.1,10,20,22,1,0,1.5,3,3-3,1,1\n", ":2: bad class");
    expect_truth_error(HDR "1,slow,0,60000.1,10,20,22,1,0,1.5,3,3-3,1,1\n", ":2: bad epoch");
    expect_truth_error(HDR "1,slow,9,60000.1,10,20,22,1,0,1.5,3,3-3,1,1\n", ":2: bad epoch");
    expect_truth_error(HDR "x,slow,1,60000.1,10,20,22,1,0,1.5,3,3-3,1,1\n", ":2: bad id");
    expect_truth_error(HDR "1,slow,1,nan,10,20,22,1,0,1.5,3,3-3,1,1\n", ":2: bad mjd");
    expect_truth_error(HDR "1,slow,1,60000.1,10,20,22,1,0,1.5,3e,3-3,1,1\n", ":2: bad snr");
    expect_truth_error(HDR "1,slow,1,60000.1,,20,22,1,0,1.5,3,3-3,1,1\n", ":2: bad ra");
    expect_truth_error(HDR "1,slow,1,60000.1,400,20,22,1,0,1.5,3,3-3,1,1\n", ":2: ra/dec out");
    expect_truth_error(HDR "1,slow,1,60000.1,10,20,22,1,0,1.5,3,,1,1\n", ":2: x/y given");
    expect_truth_error(HDR "1,slow,1,60000.1,10,20,22,1,0,1.5,3,3-3,,1\n", ":2: bad x/y");
    expect_truth_error(HDR ROW ROW, ":3: mover 1 epoch 1 repeats line 2");
    expect_truth_error(HDR ROW "1,fast,2,60000.2,10,20,22,1,0,1.5,3,3-3,1,1\n",
                       ":3: mover 1: class/mag/rate differ from line 2");
    sso_truth *t = NULL;
    assert_int_equal(sso_truth_read("/nonexistent/truth.csv", &t), SSO_ERR_IO);
    /* CRLF line ends are accepted */
    assert_int_equal(sso_truth_read(write_file("crlf.csv",
                                               "id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,"
                                               "snr,det,x,y\r\n1,slow,1,60000.1,10,20,22,1,0,1.5,"
                                               "3,3-3,1,1\r\n"),
                                    &t),
                     SSO_OK);
    assert_int_equal((int)t->n, 1);
    sso_truth_free(t);
}

static void test_malformed_alerts(void **state)
{
    (void)state;
    sso_alert a;
    double ra = 1, dec = 1;
    alert_from_epochs(&a, 1, SSO_ALERT_SLOW, 1, g_mjd, &ra, &dec, NULL, 1);
    char *js = NULL;
    size_t len = 0;
    assert_int_equal(sso_alert_to_json(&a, 1, &js, &len), SSO_OK);
    char text[8192];
    sso_alert *al = NULL;
    size_t na = 0;
    /* good, blank, good: 2 alerts */
    snprintf(text, sizeof text, "%s\n\n%s\n", js, js);
    assert_int_equal(sso_alerts_read_jsonl(write_file("ok.jsonl", text), &al, &na), SSO_OK);
    assert_int_equal((int)na, 2);
    assert_string_equal(al[1].alert_id, a.alert_id);
    free(al);
    /* line 3 truncated JSON */
    snprintf(text, sizeof text, "%s\n\n%.*s\n", js, (int)len / 2, js);
    assert_int_equal(sso_alerts_read_jsonl(write_file("bad.jsonl", text), &al, &na),
                     SSO_ERR_CORRUPT);
    assert_non_null(strstr(sso_last_error(), "bad.jsonl:3: "));
    assert_null(al);
    assert_int_equal((int)na, 0);
    /* line 1: valid JSON, not an alert */
    assert_int_equal(sso_alerts_read_jsonl(write_file("bad2.jsonl", "{\"a\": 1}\n"), &al, &na),
                     SSO_ERR_CORRUPT);
    assert_non_null(strstr(sso_last_error(), "bad2.jsonl:1: alert json: missing or invalid"));
    assert_int_equal(sso_alerts_read_jsonl("/nonexistent/a.jsonl", &al, &na), SSO_ERR_IO);
    free(js);
}

/* ---- indexed matcher vs brute force ------------------------------------------------------------ */

static uint64_t g_rng = 0x243F6A8885A308D3ULL;
static double urand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct bpair {
    int a, m;
    double sep;
} bpair;

static int bpair_cmp(const void *x, const void *y)
{
    const bpair *p = x, *q = y;
    if (p->sep != q->sep)
        return p->sep < q->sep ? -1 : 1;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return (p->m > q->m) - (p->m < q->m);
}

static void test_matcher_vs_brute_force(void **state)
{
    (void)state;
    enum { NM = 400, NA = 900 };
    const double r = 0.5;
    sso_truth t = {NM, calloc(NM, sizeof(sso_truth_mover)), 1};
    for (int i = 0; i < NM; i++) { /* 400 movers in 0.02 x 0.02 deg: neighbours within arcsec */
        sso_truth_mover *m = &t.movers[i];
        m->id = i;
        m->fast = urand() < 0.3;
        m->mag = 20 + 6 * urand();
        m->rate_arcsec_h = 0.5 + 20 * urand();
        m->n_epochs = 4;
        double ra0 = 80 + 0.02 * urand(), dec0 = -5 + 0.02 * urand();
        double vra = (urand() - 0.5) * 4e-4, vdec = (urand() - 0.5) * 4e-4;
        for (int e = 0; e < 4; e++) {
            m->ep[e] = (sso_truth_epoch){e + 1, g_mjd[e], ra0 + vra * e, dec0 + vdec * e, 5,
                                         20 * urand(), "3-3", 1, 1};
        }
    }
    sso_alert *al = calloc(NA, sizeof *al);
    for (int k = 0; k < NA; k++) {
        sso_alert *a = &al[k];
        sso_alert_init(a);
        a->n_epochs = 1 + (int)(urand() * 4);
        a->cls = urand() < 0.5 ? SSO_ALERT_FAST : SSO_ALERT_SLOW;
        const sso_truth_mover *m = &t.movers[(int)(urand() * NM)];
        int fake = urand() < 0.2;
        int e0 = (int)(urand() * (4 - a->n_epochs + 1));
        for (int j = 0; j < a->n_epochs; j++) {
            const sso_truth_epoch *e = &m->ep[e0 + j];
            /* offsets up to 0.57": most epochs inside the radius, some out */
            double dx = (urand() - 0.5) * 0.8 / 3600, dy = (urand() - 0.5) * 0.8 / 3600;
            /* 1 epoch in 5 beyond the mjd tolerance, the rest within */
            a->obs[j].mjd = e->mjd + (urand() < 0.2 ? 2e-5 : (urand() - 0.5) * 1.8e-5);
            a->obs[j].ra_deg = fake ? 80 + 0.02 * urand() : e->ra_deg + dx;
            a->obs[j].dec_deg = fake ? -5 + 0.02 * urand() : e->dec_deg + dy;
        }
    }
    sso_score *s = NULL;
    assert_int_equal(sso_score_compute(&t, al, NA, NULL, &s), SSO_OK);

    /* reference: all pairs, all epochs */
    bpair *pairs = malloc((size_t)NA * NM * sizeof *pairs);
    size_t np = 0;
    for (int k = 0; k < NA; k++)
        for (int i = 0; i < NM; i++) {
            int hits = 0;
            double sum = 0;
            for (int j = 0; j < al[k].n_epochs; j++)
                for (int e = 0; e < 4; e++) {
                    const sso_truth_epoch *te = &t.movers[i].ep[e];
                    if (fabs(te->mjd - al[k].obs[j].mjd) > 1e-5)
                        continue;
                    double sep = sso_score_sep_arcsec(al[k].obs[j].ra_deg, al[k].obs[j].dec_deg,
                                                      te->ra_deg, te->dec_deg);
                    if (sep <= r)
                        hits++, sum += sep;
                }
            if (hits >= (al[k].n_epochs == 1 ? 1 : 2))
                pairs[np++] = (bpair){k, i, sum / hits};
        }
    qsort(pairs, np, sizeof *pairs, bpair_cmp);
    int m_of[NM], kind[NA];
    for (int i = 0; i < NM; i++)
        m_of[i] = -1;
    for (int k = 0; k < NA; k++)
        kind[k] = 2;
    for (size_t p = 0; p < np; p++) {
        if (kind[pairs[p].a] == 0)
            continue;
        if (m_of[pairs[p].m] < 0)
            m_of[pairs[p].m] = pairs[p].a, kind[pairs[p].a] = 0;
        else
            kind[pairs[p].a] = 1;
    }
    int n_matched = 0, n_dup = 0, n_false = 0;
    for (int i = 0; i < NM; i++)
        assert_int_equal(s->mover_alert[i], m_of[i]);
    for (int k = 0; k < NA; k++) {
        assert_int_equal(s->alert_kind[k], kind[k]);
        n_matched += kind[k] == 0, n_dup += kind[k] == 1, n_false += kind[k] == 2;
    }
    /* the scene exercises every outcome */
    print_message("matched %d dup %d false %d\n", n_matched, n_dup, n_false);
    assert_true(n_matched > 100 && n_dup > 20 && n_false > 100);
    assert_int_equal(s->matched, n_matched);
    assert_int_equal(s->duplicates, n_dup);
    assert_int_equal(s->false_alerts, n_false);
    free(pairs);
    sso_score_free(s);
    free(al);
    free(t.movers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_example),
        cmocka_unit_test(test_fast),
        cmocka_unit_test(test_edges_and_crossing),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_malformed_truth),
        cmocka_unit_test(test_malformed_alerts),
        cmocka_unit_test(test_matcher_vs_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
