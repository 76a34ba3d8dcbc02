/* tests/test_stack_loo.c: the leave-one-out and leave-two-out significance parts of
 * sso_stack_consistent.
 *
 * A candidate whose strongest epoch carries it (psi_e = 6.5, 3.0, 1.5, 1.5 at phi_e = 1, passing
 * the flux-consistency test: |6.5 - 2.0| = 4.5 <= 3 sqrt(1 + 1/3 + 1) = 4.58) has nu_rest =
 * 6/sqrt(3) = 3.46 < 7 sqrt(3/4) - 2 = 4.06: it fails with loo_z = 2 and passes with the test off.
 * A mover of 4 equal epochs, psi_e = nu/4 * 2 + N(0,1) (stacked nu): at nu = 10 the test alone
 * keeps >= 99.5% (nu_rest ~ 8.66 - 0.6 against 4.06), at nu = 7 (the threshold) >= 90% (~5.5
 * against 4.06, sd ~0.9); pure noise pushed to nu = 7 by one epoch (psi = 7 + N(0,1) in one epoch,
 * N(0,1) elsewhere) passes <= 1%.
 * Leave-two-out (l2o_z = 3): a pair of epochs carrying it (psi_e = 7.0, 7.0, 0.8, 0.2: flux test
 * and leave-one-out pass, nu_rest = 8/sqrt(3) = 4.62 >= 4.06) has nu_rest2 = 1/sqrt(2) = 0.71 <
 * 7 sqrt(2/4) - 3 = 1.95: it fails with the test on and passes with it off. With both tests on, a
 * mover of 4 equal epochs keeps >= 99.5% at nu 10 and >= 88% at nu 7; a pair of epochs at
 * psi = 7 + N(0,1) (nu ~ 7) with N(0,1) elsewhere passes <= 5% (>= 20% with the test off).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/rng.h"
#include "sso/stack.h"

static sso_stack_params loo_only(float z)
{
    sso_stack_params p;
    sso_stack_params_default(&p);
    p.nu_min = 7.0f;
    p.loo_z = z;
    p.l2o_z = 0.0f;
    return p;
}

static sso_stack_cand cand4(const float *psi)
{
    sso_stack_cand c = {0};
    for (int e = 0; e < 4; e++)
        c.psi_e[e] = psi[e], c.phi_e[e] = 1.0f;
    c.n_epochs_used = 4;
    return c;
}

static void test_one_epoch_carries(void **state)
{
    (void)state;
    const float psi[4] = {6.5f, 3.0f, 1.5f, 1.5f};
    sso_stack_cand c = cand4(psi);
    sso_stack_params off = loo_only(0.0f), on = loo_only(2.0f);
    assert_true(sso_stack_consistent(&c, 4, &off));
    assert_false(sso_stack_consistent(&c, 4, &on));
    /* the same total spread evenly passes */
    const float even[4] = {3.125f, 3.125f, 3.125f, 3.125f};
    c = cand4(even);
    assert_true(sso_stack_consistent(&c, 4, &on));
}

/* mode 0: 4 equal epochs at stacked nu; 1: one epoch at nu; 2: two epochs at nu each (stacked
 * ~nu); l2o: leave-two-out on (3) or off */
static double pass_rate(double nu, int mode, int l2o, uint64_t seed)
{
    sso_stack_params p = loo_only(2.0f);
    p.l2o_z = l2o ? 3.0f : 0.0f;
    p.consist_k = 1e9f; /* the leave-one-out significance alone */
    p.max_epoch_frac = 1.0f;
    sso_rng r;
    sso_rng_init(&r, seed, 3, 4, 5);
    int pass = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float psi[4];
        for (int e = 0; e < 4; e++)
            psi[e] = (float)((mode == 1 ? (e == 0 ? nu : 0.0) : mode == 2 ? (e < 2 ? nu : 0.0) : nu / 2.0) +
                             sso_rng_normal(&r));
        sso_stack_cand c = cand4(psi);
        if (psi[0] + psi[1] + psi[2] + psi[3] <= 0.0f)
            continue; /* not a candidate */
        pass += sso_stack_consistent(&c, 4, &p);
    }
    return (double)pass / n;
}

static void test_mover_rates(void **state)
{
    (void)state;
    assert_true(pass_rate(10.0, 0, 0, 1) >= 0.995);
    assert_true(pass_rate(7.0, 0, 0, 2) >= 0.90);
    assert_true(pass_rate(7.0, 1, 0, 3) <= 0.01);
}

static void test_pair_carries(void **state)
{
    (void)state;
    const float psi[4] = {7.0f, 7.0f, 0.8f, 0.2f};
    sso_stack_cand c = cand4(psi);
    sso_stack_params off = loo_only(2.0f), on = loo_only(2.0f);
    on.l2o_z = 3.0f;
    assert_true(sso_stack_consistent(&c, 4, &off));
    assert_false(sso_stack_consistent(&c, 4, &on));
    const float even[4] = {3.75f, 3.75f, 3.75f, 3.75f};
    c = cand4(even);
    assert_true(sso_stack_consistent(&c, 4, &on));
    /* three epochs: the weakest alone must keep 7 sqrt(1/3) - 3 = 1.04 */
    const float three[4] = {6.0f, 5.5f, 0.5f, 0.0f};
    c = cand4(three);
    c.phi_e[3] = 0.0f, c.n_epochs_used = 3;
    assert_true(sso_stack_consistent(&c, 4, &off));
    assert_false(sso_stack_consistent(&c, 4, &on));
}

static void test_l2o_rates(void **state)
{
    (void)state;
    const double m10 = pass_rate(10.0, 0, 1, 4), m7 = pass_rate(7.0, 0, 1, 5);
    const double pair_off = pass_rate(7.0, 2, 0, 6), pair_on = pass_rate(7.0, 2, 1, 6);
    print_message("both tests: mover nu 10 %.4f, nu 7 %.4f; pair of epochs %.4f (off) -> %.4f (on)\n", m10,
                  m7, pair_off, pair_on);
    assert_true(m10 >= 0.995);
    assert_true(m7 >= 0.88);
    assert_true(pair_on <= 0.05);
    assert_true(pair_off >= 0.2); /* the leave-one-out test alone lets pairs through */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_epoch_carries),
        cmocka_unit_test(test_mover_rates),
        cmocka_unit_test(test_pair_carries),
        cmocka_unit_test(test_l2o_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
