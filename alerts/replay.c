/* alerts/replay.c: the replay request grammar (sso/publish.h).
 *
 * The parser is the one piece of the replay service that reads bytes from the network, so it is
 * written for hostile input: a length bound first, printable ASCII only, exact tokens separated by
 * single spaces, numbers of bounded length checked for overflow, times through the RFC 3339 parser.
 * It allocates nothing and never reads past n. tests/test_alert_replay_req.c feeds it hostile
 * inputs; tests/fuzz/fuzz_replay_req.c fuzzes it (libFuzzer) and checks that every request it
 * accepts formats back to itself (sso_replay_request_format).
 */
#include <stdio.h>
#include <string.h>

#include "host/status_internal.h"
#include "sso/publish.h"

/* Token i of the request: [*start, *start + *len). Returns the number of tokens, -1 on a double
 * space or a leading/trailing space. At most 8 tokens are located. */
static int tokens(const char *b, size_t n, size_t start[8], size_t len[8])
{
    int k = 0;
    size_t i = 0;
    if (n == 0 || b[0] == ' ' || b[n - 1] == ' ')
        return -1;
    while (i < n) {
        size_t s = i;
        while (i < n && b[i] != ' ')
            i++;
        if (i == s)
            return -1;
        if (k < 8) {
            start[k] = s;
            len[k] = i - s;
        }
        k++;
        if (i < n)
            i++; /* the single space */
    }
    return k;
}

static int tok_is(const char *b, size_t s, size_t l, const char *word)
{
    return strlen(word) == l && !memcmp(b + s, word, l);
}

static int parse_u64(const char *b, size_t l, uint64_t *v)
{
    uint64_t x = 0;
    if (l == 0 || l > 20)
        return -1;
    for (size_t i = 0; i < l; i++) {
        if (b[i] < '0' || b[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(b[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

sso_status sso_replay_request_parse(const char *buf, size_t n, sso_replay_req *out)
{
    size_t st[8], ln[8];
    sso_replay_req r = {0, 0, 0, SSO_REPLAY_DEFAULT_LIMIT};
    if (!buf || !out)
        return sso_fail(SSO_ERR_ARG, "replay request: NULL");
    memset(out, 0, sizeof *out);
    if (n == 0 || n > SSO_REPLAY_MAX_REQUEST)
        return sso_fail(SSO_ERR_ARG, "replay request: length %zu not in 1..%d", n,
                        SSO_REPLAY_MAX_REQUEST);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
            return sso_fail(SSO_ERR_ARG, "replay request: byte %zu is not printable ASCII", i);
    int k = tokens(buf, n, st, ln);
    if (k != 2 && k != 4)
        return sso_fail(SSO_ERR_ARG, "replay request: expected 'since-seq N [limit L]' or "
                        "'since-time T [limit L]'");
    if (tok_is(buf, st[0], ln[0], "since-seq")) {
        r.kind = SSO_REPLAY_SINCE_SEQ;
        if (parse_u64(buf + st[1], ln[1], &r.after_seq))
            return sso_fail(SSO_ERR_ARG, "replay request: since-seq needs an unsigned 64-bit N");
    } else if (tok_is(buf, st[0], ln[0], "since-time")) {
        char t[64];
        r.kind = SSO_REPLAY_SINCE_TIME;
        if (ln[1] >= sizeof t)
            return sso_fail(SSO_ERR_ARG, "replay request: time too long");
        memcpy(t, buf + st[1], ln[1]);
        t[ln[1]] = 0;
        if (sso_time_rfc3339_to_us(t, &r.t_us) != SSO_OK)
            return sso_fail(SSO_ERR_ARG, "replay request: since-time needs an RFC 3339 UTC time");
        /* a leap second on 9999-12-31 lands in year 10000, which no reply could name (found by
         * tests/fuzz/fuzz_replay_req: every accepted request must format back) */
        if (sso_time_us_to_rfc3339(r.t_us, t, sizeof t) != SSO_OK)
            return sso_fail(SSO_ERR_ARG, "replay request: since-time outside years 0000..9999");
    } else {
        return sso_fail(SSO_ERR_ARG, "replay request: unknown verb (since-seq, since-time)");
    }
    if (k == 4) {
        uint64_t l;
        if (!tok_is(buf, st[2], ln[2], "limit") || parse_u64(buf + st[3], ln[3], &l) || l == 0 ||
            l > SSO_REPLAY_MAX_LIMIT)
            return sso_fail(SSO_ERR_ARG, "replay request: 'limit L' with L in 1..%d",
                            SSO_REPLAY_MAX_LIMIT);
        r.limit = (size_t)l;
    }
    *out = r;
    return SSO_OK;
}

int sso_replay_request_format(const sso_replay_req *r, char *buf, size_t n)
{
    if (r->kind == SSO_REPLAY_SINCE_TIME) {
        char t[48];
        if (sso_time_us_to_rfc3339(r->t_us, t, sizeof t) != SSO_OK)
            return -1;
        return snprintf(buf, n, "since-time %s limit %zu", t, r->limit);
    }
    return snprintf(buf, n, "since-seq %llu limit %zu", (unsigned long long)r->after_seq, r->limit);
}
