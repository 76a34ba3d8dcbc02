/* tests/test_pixel_traffic.c: the bytes-moved formulas of the GPU pixel stages (the
 * sso_<stage>_bytes_moved() helpers in host/<stage>_math.h), which benchmarks divide by kernel
 * time for the achieved bandwidth. Each expected figure is counted here by hand from the data
 * layout the kernels use (kernels/<stage>.cu): bytes per pixel of each plane read or written
 * once per kernel, summed over the kernels of one launcher call. Runs on the host, no GPU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "host/background_math.h"
#include "host/cosmic_math.h"
#include "host/difference_math.h"
#include "host/resample_math.h"

static void test_resample(void **state)
{
    (void)state;
    /* 1000 written pixels: out img 4 + var 4 + mask 1, one input pixel img 4 + var 4 + mask 1;
     * a 3 x 4 grid of (x, y) doubles: 12 * 16. */
    assert_int_equal(sso_resample_bytes_moved(1000, 3, 4), 1000 * 18 + 12 * 16);
    assert_int_equal(sso_resample_bytes_moved(0, 2, 2), 64);
}

static void test_difference(void **state)
{
    (void)state;
    /* 100 px x 4 epochs. diff_kernel: in 4+4+1, out 4+4+1. grow_rows: code 1 in, mark 1 out.
     * finish_kernel: code 1 + mark 1 in, mask 1 out. Without growth finish reads code, writes mask. */
    assert_int_equal(sso_difference_bytes_moved(100, 1, 0), 4 * 100 * (18 + 2 + 3));
    assert_int_equal(sso_difference_bytes_moved(100, 0, 0), 4 * 100 * (18 + 2));
    /* the gate: terms 36 + 8, filter 8 + 1, growth 4, pass 1 reads it: 1 */
    assert_int_equal(sso_difference_bytes_moved(100, 0, 1), 4 * 100 * (18 + 2) + 100 * (36 + 8 + 8 + 1 + 4 + 1));
}

static void test_background(void **state)
{
    (void)state;
    /* one 128 x 128 cell: img 4 + mask 1 per pixel; bkg, rms floats and a validity byte per cell */
    assert_int_equal(sso_bkg_cells_bytes_moved(16384, 1, 1), 16384 * 5 + 9);
    assert_int_equal(sso_bkg_cells_bytes_moved(16384, 0, 1), 16384 * 4 + 9);
    /* both maps: 4 bytes per pixel each, and 4 float planes of the mesh each */
    assert_int_equal(sso_bkg_eval_bytes_moved(16384, 2, 1), 2 * (16384 * 4 + 16));
    assert_int_equal(sso_bkg_eval_bytes_moved(16384, 0, 1), 0);
}

static void test_cosmic(void **state)
{
    (void)state;
    /* 10 px. Once: init reads img 4, var 4, mask 1, writes m 1, cr 1. Per pass: sig reads img 4 +
     * m 1, writes lp 4 + sig 4 (13); cand reads sig 4, cr 1, flg 4, writes seed 1 (10); two grows
     * read seed 1, m 1, sig 4, write 1 (2 x 7); add reads seed 1, m 1, writes m 1, cr 1 (4). */
    assert_int_equal(sso_cosmic_bytes_moved(10, 1, 1, 2, 0), 10 * 11 + 2 * 10 * (13 + 10 + 14 + 4));
    assert_int_equal(sso_cosmic_bytes_moved(10, 0, 0, 1, 0), 10 * 10 + 10 * (13 + 6 + 14 + 4));
    assert_int_equal(sso_cosmic_bytes_moved(10, 0, 0, 1, 1), 10 * 19 + 10 * (13 + 6 + 14 + 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample),
        cmocka_unit_test(test_difference),
        cmocka_unit_test(test_background),
        cmocka_unit_test(test_cosmic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
