/* tests/test_alert_store.c: the SQLite alert store (alerts/store.c).
 *
 * Asserts: seq 1..n assigned in order; re-storing unchanged alerts creates no row and no seq and
 * reports the stored envelope; a changed alert becomes revision 1 with a new seq and supersedes the
 * old row; seq continues after close/reopen (and the boot_id changes); since-seq / since-time /
 * unpublished queries return exactly the expected seqs; a process that dies (fork + _exit without
 * closing) between store and publish leaves its stored-but-unpublished alerts for the next open;
 * a read-only connection reads while refusing writes; a file that is not a store is refused.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alerts/synth.h"
#include "sso/sso.h"
#include "testutil.h"

typedef struct seqs {
    uint64_t v[64];
    int n;
    int64_t t[64];
    char ids[64][96];
} seqs;

static int collect(const sso_store_row *r, void *user)
{
    seqs *s = user;
    if (s->n < 64) {
        s->t[s->n] = r->time_us;
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s", r->alert_id);
        s->v[s->n++] = r->seq;
    }
    return 0;
}

static void fresh_db(char *path, size_t n, const char *name)
{
    sso_test_path(path, n, name);
    char x[4200];
    unlink(path);
    snprintf(x, sizeof x, "%s-wal", path);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", path);
    unlink(x);
}

static void synth_batch(sso_alert *a, int n, uint64_t first)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(sso_alert_synth(11, "obs-7", first + (uint64_t)i, &a[i]), SSO_OK);
}

static void test_seq_dedup_revision(void **state)
{
    (void)state;
    char path[4096];
    sso_store *s = NULL;
    sso_alert a[4];
    unsigned char issued[4];
    sso_store_put_result r;
    uint64_t last;
    fresh_db(path, sizeof path, "seq.db");
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    assert_int_equal(sso_store_last_seq(s, &last), SSO_OK);
    assert_true(last == 0);
    char boot1[40];
    snprintf(boot1, sizeof boot1, "%s", sso_store_boot_id(s));
    assert_int_equal(strlen(boot1), 32);

    synth_batch(a, 4, 0);
    assert_int_equal(sso_store_put(s, a, 4, issued, &r), SSO_OK);
    assert_int_equal(r.n_new, 4);
    assert_true(r.last_seq == 4);
    for (int i = 0; i < 4; i++) {
        assert_true(a[i].seq == (uint64_t)i + 1);
        assert_int_equal(issued[i], 1);
        assert_int_equal(a[i].revision, 0);
        assert_string_equal(a[i].boot_id, boot1);
    }
    char time0[40];
    snprintf(time0, sizeof time0, "%s", a[0].time);

    /* the same observation again: same ids, same content -> nothing new */
    sso_alert b[4];
    synth_batch(b, 4, 0);
    assert_int_equal(sso_store_put(s, b, 4, issued, &r), SSO_OK);
    assert_int_equal(r.n_unchanged, 4);
    assert_int_equal(r.n_new + r.n_revised, 0);
    assert_true(r.last_seq == 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(issued[i], 0);
        assert_true(b[i].seq == (uint64_t)i + 1);
    }
    assert_string_equal(b[0].time, time0);

    /* one changed (a better magnitude): a revision with a new seq */
    synth_batch(b, 4, 0);
    b[2].obs[0].mag += 0.01;
    assert_int_equal(sso_store_put(s, b, 4, issued, &r), SSO_OK);
    assert_int_equal(r.n_revised, 1);
    assert_int_equal(r.n_unchanged, 3);
    assert_true(b[2].seq == 5 && b[2].revision == 1 && issued[2] == 1);
    assert_string_equal(b[2].alert_id, a[2].alert_id);

    seqs q = {0};
    assert_int_equal(sso_store_since_seq(s, 0, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 5);
    sso_store_free(s);

    /* reopen: the counter survives, the boot id does not */
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    assert_int_equal(sso_store_last_seq(s, &last), SSO_OK);
    assert_true(last == 5);
    assert_string_not_equal(sso_store_boot_id(s), boot1);
    synth_batch(b, 1, 100);
    assert_int_equal(sso_store_put(s, b, 1, NULL, &r), SSO_OK);
    assert_true(b[0].seq == 6);
    assert_string_equal(b[0].boot_id, sso_store_boot_id(s));
    /* a revision of a revision */
    synth_batch(b, 4, 0);
    b[2].obs[0].mag += 0.02;
    assert_int_equal(sso_store_put(s, &b[2], 1, NULL, &r), SSO_OK);
    assert_true(b[2].seq == 7 && b[2].revision == 2);
    sso_store_free(s);
}

static int count_superseded(const sso_store_row *r, void *user)
{
    int *n = user;
    *n += r->superseded;
    return 0;
}

static void test_queries(void **state)
{
    (void)state;
    char path[4096];
    sso_store *s = NULL;
    sso_alert a[8];
    fresh_db(path, sizeof path, "q.db");
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    synth_batch(a, 4, 0);
    assert_int_equal(sso_store_put(s, a, 4, NULL, NULL), SSO_OK);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t t_mid = sso_time_now_us();
    nanosleep(&ts, NULL);
    synth_batch(a, 4, 4);
    assert_int_equal(sso_store_put(s, a, 4, NULL, NULL), SSO_OK);

    seqs q = {0};
    assert_int_equal(sso_store_since_seq(s, 3, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 5);
    for (int i = 0; i < 5; i++)
        assert_true(q.v[i] == (uint64_t)(4 + i));
    memset(&q, 0, sizeof q);
    assert_int_equal(sso_store_since_seq(s, 3, 2, collect, &q), SSO_OK);
    assert_int_equal(q.n, 2);
    assert_true(q.v[0] == 4 && q.v[1] == 5);
    memset(&q, 0, sizeof q);
    assert_int_equal(sso_store_since_seq(s, 8, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 0);
    assert_int_equal(sso_store_since_seq(s, UINT64_MAX, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 0);

    assert_int_equal(sso_store_since_time(s, t_mid, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 4);
    for (int i = 0; i < 4; i++)
        assert_true(q.v[i] == (uint64_t)(5 + i) && q.t[i] >= t_mid);

    memset(&q, 0, sizeof q);
    assert_int_equal(sso_store_unpublished(s, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 8);
    assert_int_equal(sso_store_mark_published(s, 1, 6), SSO_OK);
    memset(&q, 0, sizeof q);
    assert_int_equal(sso_store_unpublished(s, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 2);
    assert_true(q.v[0] == 7 && q.v[1] == 8);

    /* a reader sees it all and may not write */
    sso_store *rd = NULL;
    assert_int_equal(sso_store_open_reader(path, &rd), SSO_OK);
    memset(&q, 0, sizeof q);
    assert_int_equal(sso_store_since_seq(rd, 0, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 8);
    assert_int_equal(sso_store_put(rd, a, 1, NULL, NULL), SSO_ERR_ARG);
    assert_int_equal(sso_store_mark_published(rd, 1, 8), SSO_ERR_ARG);
    int sup = 0;
    assert_int_equal(sso_store_since_seq(rd, 0, 0, count_superseded, &sup), SSO_OK);
    assert_int_equal(sup, 0);
    sso_store_free(rd);
    sso_store_free(s);
}

static void test_crash_between_store_and_publish(void **state)
{
    (void)state;
    char path[4096];
    fresh_db(path, sizeof path, "crash.db");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the engine: stores a quartet of 10, "publishes" the first 5, dies without closing */
        sso_store *s = NULL;
        sso_alert a[10];
        for (int i = 0; i < 10; i++)
            if (sso_alert_synth(11, "obs-9", (uint64_t)i, &a[i]) != SSO_OK)
                _exit(10);
        if (sso_store_open(path, &s) != SSO_OK || sso_store_put(s, a, 10, NULL, NULL) != SSO_OK ||
            sso_store_mark_published(s, 1, 5) != SSO_OK)
            _exit(11);
        _exit(0); /* no sqlite3_close, no checkpoint: the WAL is all there is */
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

    sso_store *s = NULL;
    seqs q = {0};
    assert_int_equal(sso_store_open(path, &s), SSO_OK);
    assert_int_equal(sso_store_unpublished(s, 0, collect, &q), SSO_OK);
    assert_int_equal(q.n, 5);
    for (int i = 0; i < 5; i++) {
        sso_alert want;
        assert_int_equal(sso_alert_synth(11, "obs-9", (uint64_t)(5 + i), &want), SSO_OK);
        assert_true(q.v[i] == (uint64_t)(6 + i));
        assert_string_equal(q.ids[i], want.alert_id);
    }
    uint64_t last;
    assert_int_equal(sso_store_last_seq(s, &last), SSO_OK);
    assert_true(last == 10);
    sso_store_free(s);
}

static void test_not_a_store(void **state)
{
    (void)state;
    char path[4096];
    sso_store *s = NULL;
    sso_test_path(path, sizeof path, "not-a-db.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, it is a text file of some length........\n", f);
    fclose(f);
    assert_int_equal(sso_store_open(path, &s), SSO_ERR_IO);
    assert_null(s);
    assert_int_equal(sso_store_open_reader(path, &s), SSO_ERR_IO);
    assert_int_equal(sso_store_open("/nonexistent-dir/x.db", &s), SSO_ERR_IO);
    sso_store_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_dedup_revision),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_crash_between_store_and_publish),
        cmocka_unit_test(test_not_a_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
