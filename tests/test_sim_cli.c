/* tests/test_sim_cli.c: the `sso sim` command line (tools/cmd_sim.c), run through $SSO_BIN.
 *
 * --help exits 0 and names every option; usage errors exit 2 with a message; a small run exits 0,
 * prints the 4 exposure paths and truth.csv on stdout (and nothing else), and writes them.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

static const char *bin(void)
{
    const char *b = getenv("SSO_BIN");
    if (!b || !b[0])
        skip();
    return b;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_help(void **state)
{
    (void)state;
    char out[4096];
    sso_test_path(out, sizeof out, "help.txt");
    assert_int_equal(sso_test_system("%s sim --help > %s 2>&1", bin(), out), 0);
    const char *txt = slurp(out);
    const char *opts[] = {"--out", "--preset", "--seed", "--ccds", "--size", "--quadrants",
                          "--compress", "--distortion", "--movers", "--mag-range", "--rate-range",
                          "--no-stars", "--no-galaxies", "--no-cosmics", "--no-defects",
                          "--threads", "--quiet"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        assert_non_null(strstr(txt, opts[i]));
}

static void test_usage_errors(void **state)
{
    (void)state;
    char dir[4096], err[4096];
    sso_test_path(dir, sizeof dir, "never");
    sso_test_path(err, sizeof err, "err.txt");
    const char *bad[] = {
        "",                                   /* no --out */
        "--out %s --preset nope",
        "--out %s --ccds 3-3,9-9",
        "--out %s --size abc",
        "--out %s --size 16",                 /* below 64 px */
        "--out %s --distortion zpn",
        "--out %s --mag-range 24",
        "--out %s --rate-range 5,1",
        "--out %s --threads -1",
        "--out %s --bogus",
        "--out %s --quadrants --size 129",    /* odd size */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, bad[i], dir);
        int rc = sso_test_system("%s sim %s --quiet > /dev/null 2> %s", bin(), args, err);
        if (rc != 2)
            fprintf(stderr, "args '%s': exit %d\n", args, rc);
        assert_int_equal(rc, 2);
        assert_true(strlen(slurp(err)) > 0);
    }
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0); /* nothing was written */
}

static void test_small_run(void **state)
{
    (void)state;
    char dir[4096], out[4096];
    sso_test_path(dir, sizeof dir, "run");
    sso_test_path(out, sizeof out, "run.txt");
    assert_int_equal(sso_test_system("%s sim --out %s --ccds 3-3 --size 128 --movers 3 "
                                     "--distortion sip --compress --seed 3 --threads 2 --quiet > %s",
                                     bin(), dir, out), 0);
    char *txt = slurp(out);
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        struct stat st;
        assert_int_equal(stat(l, &st), 0);
        assert_true(st.st_size > 0);
        assert_int_equal(strncmp(l, dir, strlen(dir)), 0);
        lines++;
    }
    assert_int_equal(lines, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_small_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
