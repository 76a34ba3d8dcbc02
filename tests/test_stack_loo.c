/* tests/test_stack_loo.c: the leave-one-out significance part of sso_stack_consistent.
 *
 * A candidate whose strongest epoch carries it (psi_e = 6.5, 3.0, 1.5, 1.5 at phi_e = 1, passing
 * the flux-consistency test: |6.5 - 2.0| = 4.5 <= 3 sqrt(1 + 1/3 + 1) = 4.58) has nu_rest =
 * 6/sqrt(3) = 3.46 < 7 sqrt(3/4) - 2 = 4.06: it fails with loo_z = 2 and passes with the test off.
 * A mover of 4 equal epochs, psi_e = nu/4 * 2 + N(0,1) (stacked nu): at nu = 10 the test alone
 * keeps >= 99.5% (nu_rest ~ 8.66 - 0.6 against 4.06), at nu = 7 (the threshold) >= 90% (~5.5
 * against 4.06, sd ~0.9); pure noise pushed to nu = 7 by one epoch (psi = 7 + N(0,1) in one epoch,
 * N(0,1) elsewhere) passes <= 1%.
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

static double pass_rate(double nu, int one_epoch, uint64_t seed)
{
    sso_stack_params p = loo_only(2.0f);
    p.consist_k = 1e9f; /* the leave-one-out significance alone */
    p.max_epoch_frac = 1.0f;
    sso_rng r;
    sso_rng_init(&r, seed, 3, 4, 5);
    int pass = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float psi[4];
        for (int e = 0; e < 4; e++)
            psi[e] = (float)((one_epoch ? (e == 0 ? nu : 0.0) : nu / 2.0) + sso_rng_normal(&r));
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
    assert_true(pass_rate(10.0, 0, 1) >= 0.995);
    assert_true(pass_rate(7.0, 0, 2) >= 0.90);
    assert_true(pass_rate(7.0, 1, 3) <= 0.01);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_epoch_carries),
        cmocka_unit_test(test_mover_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
