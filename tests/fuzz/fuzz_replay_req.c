/* tests/fuzz/fuzz_replay_req.c: libFuzzer target for the replay request parser (alerts/replay.c),
 * the one piece of the replay service that reads bytes from the network.
 *
 * Each input is one request frame, any bytes. Besides crashes and sanitizer reports (the input is
 * libFuzzer's exact-size buffer, so ASan sees any read past its end), it checks a property: a
 * request the parser accepts is written back by sso_replay_request_format and that text parses to
 * the same request (kind, after_seq or t_us, limit), with the limit in 1..SSO_REPLAY_MAX_LIMIT.
 * A violation aborts, which libFuzzer reports as a crash with the input saved.
 * Seeds and a dictionary of the grammar's tokens: tests/fuzz/run_fuzz_replay.sh, replay.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sso/publish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sso_replay_req r, r2;
    char text[128];
    if (sso_replay_request_parse((const char *)data, size, &r) != SSO_OK)
        return 0;
    if (r.limit < 1 || r.limit > SSO_REPLAY_MAX_LIMIT ||
        (r.kind != SSO_REPLAY_SINCE_SEQ && r.kind != SSO_REPLAY_SINCE_TIME))
        abort();
    int n = sso_replay_request_format(&r, text, sizeof text);
    if (n <= 0 || (size_t)n >= sizeof text)
        abort();
    if (sso_replay_request_parse(text, (size_t)n, &r2) != SSO_OK || r2.kind != r.kind ||
        r2.limit != r.limit ||
        (r.kind == SSO_REPLAY_SINCE_SEQ ? r2.after_seq != r.after_seq : r2.t_us != r.t_us))
        abort();
    return 0;
}
