/* tests/test_bench.c: the benchmark summary and reports (host/bench.c) against values worked by hand.
 *
 * Asserts:
 *  - the median of odd and even counts, of one value, and NaN for none; the input is not reordered;
 *  - the stage table: 12 names in pipeline order, each mapped to its own field (each field set to
 *    a distinct power of two, so a swapped mapping shows), NULL/0 outside the range;
 *  - the summary of 3 hand-made repeats: per-stage medians, total median/min/max, latency median,
 *    Mpx/s = px / 1e6 / median total, quartets/h = 3600 / median total, the full-field scaling,
 *    the median of the per-repeat stack rates (not the ratio of medians); bad arguments fail;
 *  - the JSON report parses back (python-free: the writer's own reader, alerts/json.h) with the
 *    values written; the markdown holds the stage table.
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

#include "alerts/json.h"
#include "sso/bench.h"
#include "testutil.h"

#define assert_near(a, b, tol)                                                                  \
    do {                                                                                        \
        double a_ = (a), b_ = (b);                                                              \
        if (!(fabs(a_ - b_) <= (tol)))                                                          \
            fail_msg("%s = %.17g, want %.17g (tol %g)", #a, a_, b_, (double)(tol));             \
    } while (0)

static void test_median(void **state)
{
    (void)state;
    const double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2}, one[] = {7};
    assert_near(sso_bench_median(odd, 3), 3.0, 0);
    assert_near(sso_bench_median(even, 4), 2.5, 0);
    assert_near(sso_bench_median(one, 1), 7.0, 0);
    assert_true(isnan(sso_bench_median(odd, 0)));
    assert_true(isnan(sso_bench_median(NULL, 3)));
    assert_near(odd[0], 5.0, 0); /* not sorted in place */
    double big[101];
    for (int i = 0; i < 101; i++)
        big[i] = (double)((i * 37) % 101); /* a permutation of 0..100 */
    assert_near(sso_bench_median(big, 101), 50.0, 0);
}

static void test_stage_table(void **state)
{
    (void)state;
    static const char *const want[] = {"open", "read", "prep", "background", "cosmic", "resample",
                                       "difference", "likelihood", "stack", "measure", "fast", "write"};
    assert_int_equal(SSO_BENCH_N_STAGES, 12);
    sso_bench_rep r;
    memset(&r, 0, sizeof r);
    r.open_s = 1, r.ps.read_s = 2, r.ps.prep_s = 4, r.ps.background_s = 8, r.ps.cosmic_s = 16;
    r.ps.resample_s = 32, r.ps.difference_s = 64, r.ps.likelihood_s = 128, r.ps.stack_s = 256;
    r.ps.measure_s = 512, r.ps.fast_s = 1024, r.write_s = 2048;
    for (int k = 0; k < SSO_BENCH_N_STAGES; k++) {
        assert_string_equal(sso_bench_stage_name(k), want[k]);
        assert_near(sso_bench_stage_s(&r, k), ldexp(1.0, k), 0);
    }
    assert_null(sso_bench_stage_name(-1));
    assert_null(sso_bench_stage_name(SSO_BENCH_N_STAGES));
    assert_near(sso_bench_stage_s(&r, SSO_BENCH_N_STAGES), 0, 0);
    assert_near(sso_bench_stage_s(NULL, 0), 0, 0);
}

static void make_reps(sso_bench_rep reps[3])
{
    memset(reps, 0, 3 * sizeof *reps);
    const double tot[3] = {10, 14, 12}, lat[3] = {3, 1, 2}, stack[3] = {2, 4, 1};
    /* rates 100, 100, 300: median 100 (the ratio of the medians, 300 / 2, would be 150) */
    const long long samples[3] = {200, 400, 300};
    for (int i = 0; i < 3; i++) {
        reps[i].total_s = tot[i];
        reps[i].latency_s = lat[i];
        reps[i].open_s = 0.1 * (i + 1);
        reps[i].ps.background_s = 1.0 + i;
        reps[i].ps.stack_s = stack[i];
        reps[i].ps.n_stack_samples = samples[i];
        reps[i].ps.n_alerts = 5;
        reps[i].ps.n_patches = 2;
        reps[i].ps.n_detectors = 8;
    }
}

static void test_summarize(void **state)
{
    (void)state;
    sso_bench_rep reps[3];
    make_reps(reps);
    sso_bench_summary s;
    const long long px = 4LL * 1000 * 1000;
    assert_int_equal(sso_bench_summarize(reps, 3, px, &s), SSO_OK);
    assert_int_equal(s.n_repeats, 3);
    assert_near(s.total_s, 12, 0);
    assert_near(s.total_min_s, 10, 0);
    assert_near(s.total_max_s, 14, 0);
    assert_near(s.latency_s, 2, 0);
    assert_near(s.stage_s[0], 0.2, 1e-15);  /* open */
    assert_near(s.stage_s[3], 2.0, 0);      /* background */
    assert_near(s.stage_s[8], 2.0, 0);      /* stack */
    assert_near(s.stage_s[1], 0.0, 0);      /* read: never set */
    assert_near(s.mpx_per_s, 4.0 / 12.0, 1e-15);
    assert_near(s.quartets_per_h, 300.0, 1e-12);
    assert_near(s.field_quartets_per_h, 300.0 * 4e6 / (36.0 * 4096 * 4132 * 4), 1e-15);
    assert_near(s.stack_samples_per_s, 100.0, 1e-12);
    assert_int_equal(s.n_px, px);
    assert_int_equal(s.n_alerts, 5);
    assert_int_equal(s.n_detectors, 8);
    assert_int_equal(sso_bench_summarize(reps, 0, px, &s), SSO_ERR_ARG);
    assert_int_equal(sso_bench_summarize(NULL, 3, px, &s), SSO_ERR_ARG);
    assert_int_equal(sso_bench_summarize(reps, 3, -1, &s), SSO_ERR_ARG);
}

static double jnum(const sso_jdoc *d, const sso_jnode *obj, const char *key)
{
    const sso_jnode *n = sso_jdoc_get(d, obj, key);
    if (!n || n->type != SSO_JNUM)
        fail_msg("JSON: no number '%s'", key);
    return n->num;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

static void test_reports(void **state)
{
    (void)state;
    sso_bench_rep reps[3];
    make_reps(reps);
    sso_bench_report r;
    memset(&r, 0, sizeof r);
    snprintf(r.preset, sizeof r.preset, "demo");
    snprintf(r.backend_used, sizeof r.backend_used, "cpu");
    snprintf(r.command, sizeof r.command, "sso bench --tag \"q\"");
    r.n_ccds = 1, r.vmax_arcsec_h = 2.5, r.peak_rss_bytes = 3 * 1048576LL;
    r.device_mem_peak_mib = -1;
    r.load_start[0] = r.load_start[1] = r.load_start[2] = 0.5;
    r.load_end[0] = r.load_end[1] = r.load_end[2] = 1.5;
    assert_int_equal(sso_bench_machine_describe(&r.machine), SSO_OK);
    assert_true(r.machine.n_cores >= 1);
    r.reps = reps, r.n_reps = 3;
    assert_int_equal(sso_bench_summarize(reps, 3, 4000000, &r.sum), SSO_OK);
    const char *dir = sso_test_tmpdir();
    char jpath[4096], mpath[4096];
    snprintf(jpath, sizeof jpath, "%s/bench.json", dir);
    snprintf(mpath, sizeof mpath, "%s/bench.md", dir);
    assert_int_equal(sso_bench_write_json(&r, jpath), SSO_OK);
    assert_int_equal(sso_bench_write_markdown(&r, mpath), SSO_OK);
    size_t len = 0;
    char *text = slurp(jpath, &len);
    sso_jdoc d;
    memset(&d, 0, sizeof d);
    assert_int_equal(sso_jdoc_parse(&d, text, len), SSO_OK);
    const sso_jnode *root = &d.nodes[0];
    assert_near(jnum(&d, root, "total_s"), 12, 0);
    assert_near(jnum(&d, root, "latency_s"), 2, 0);
    assert_string_equal(sso_jdoc_get(&d, root, "command")->str, "sso bench --tag \"q\"");
    assert_near(jnum(&d, sso_jdoc_get(&d, root, "throughput"), "quartets_per_h"), 300, 1e-12);
    assert_near(jnum(&d, sso_jdoc_get(&d, root, "memory"), "host_peak_rss_mib"), 3, 0);
    assert_int_equal(sso_jdoc_get(&d, sso_jdoc_get(&d, root, "memory"), "device_peak_mib")->type, SSO_JNULL);
    const sso_jnode *stages = sso_jdoc_get(&d, root, "stages");
    int k = 0;
    for (const sso_jnode *n = sso_jdoc_child(&d, stages); n; n = sso_jdoc_next(&d, n), k++)
        assert_string_equal(sso_jdoc_get(&d, n, "name")->str, sso_bench_stage_name(k));
    assert_int_equal(k, SSO_BENCH_N_STAGES);
    k = 0;
    for (const sso_jnode *n = sso_jdoc_child(&d, sso_jdoc_get(&d, root, "repeats")); n; n = sso_jdoc_next(&d, n), k++)
        assert_near(jnum(&d, n, "total_s"), reps[k].total_s, 0);
    assert_int_equal(k, 3);
    sso_jdoc_free(&d);
    free(text);
    text = slurp(mpath, &len);
    assert_non_null(strstr(text, "| background | 2.000 |"));
    assert_non_null(strstr(text, "**12.000** (min 10.000, max 14.000)"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median),
        cmocka_unit_test(test_stage_table),
        cmocka_unit_test(test_summarize),
        cmocka_unit_test(test_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
