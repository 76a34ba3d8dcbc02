#!/bin/bash
# tests/test_watch_failed.sh: `sso watch` with an observation that cannot be searched, and
# `sso watch --status`.
#
# Input: sso_test_mkfits "allnan" (4 valid files whose pixels are all NaN: the per-file checks on
# arrival pass, the search fails). Asserts, with --max-attempts 2 and --once: start 1 logs
# "failed (attempt 1 of 2)" with the search's error naming the file and extension; start 2 logs
# "failed earlier ... retrying" and then "failed (attempt 2 of 2) ... given up"; start 3 logs
# "given up" and runs no search; `sso watch --status` prints the row: status failed, 4 exposures,
# 2 attempts and the error text; --status without a store is a usage error (2); with a store that
# does not exist, an I/O error (4). CURVE options reach the publisher: with a key pair and an
# allowed-keys file the service runs (exit 0, it logs the start); a secret key without allowed keys
# is refused (exit 2) naming the problem. Each start takes about a second.
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*
fail() { echo "FAIL: $*"; cat "$T"/run*.log 2>/dev/null; exit 1; }
"$SSO_MKFITS" allnan "$T/in" >/dev/null || fail "mkfits"
for i in 1 2 3; do
    timeout 120 "$SSO_BIN" watch --no-fast "$T/in" --store "$T/a.db" --publish "ipc://$T/pub" --replay "" \
        --once --max-attempts 2 --poll-ms 50 >"$T/run$i.log" 2>&1 || fail "start $i: exit $?"
done
grep -q "failed (attempt 1 of 2): detector has no finite pixel: file $T/in/.*, extension 1-1.SCI" \
    "$T/run1.log" || fail "start 1: no failure with the error"
grep -q "failed earlier (attempt 1 of 2: .*): retrying" "$T/run2.log" || fail "start 2: no retry"
grep -q "failed (attempt 2 of 2): .*given up" "$T/run2.log" || fail "start 2: not given up"
grep -q "failed 2 time(s) (last: detector has no finite pixel.*given up" "$T/run3.log" ||
    fail "start 3: not reported as given up"
grep -q "search on" "$T/run3.log" && fail "start 3 searched again"
"$SSO_BIN" watch --status --store "$T/a.db" >"$T/status.txt" || fail "--status: exit $?"
cat "$T/status.txt"
head -1 "$T/status.txt" | grep -q "^obs_id  *status  *exp  *attempts" || fail "--status header"
grep -Eq "^002681 +failed +4 +2 .*detector has no finite pixel" "$T/status.txt" || fail "--status row"
"$SSO_BIN" watch --status >/dev/null 2>&1; [ $? -eq 2 ] || fail "--status without a store"
"$SSO_BIN" watch --status --store "$T/none.db" >/dev/null 2>&1; [ $? -eq 4 ] || fail "--status, no such store"
[ ! -e "$T/none.db" ] || fail "--status created a store"
"$SSO_BIN" keygen "$T/server.key" >/dev/null && "$SSO_BIN" keygen "$T/client.key" >/dev/null || fail keygen
cp "$T/client.key.pub" "$T/allow.txt"
timeout 120 "$SSO_BIN" watch --no-fast "$T/in" --store "$T/a.db" --publish "ipc://$T/pub" --replay "ipc://$T/rep" \
    --once --curve-secret "$T/server.key" --allow-keys "$T/allow.txt" >"$T/run4.log" 2>&1 ||
    fail "watch with CURVE: exit $?"
grep -q "watching $T/in" "$T/run4.log" || fail "watch with CURVE did not start"
"$SSO_BIN" watch --no-fast "$T/in" --store "$T/a.db" --publish "ipc://$T/pub" --once \
    --curve-secret "$T/server.key" >"$T/run5.log" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "allowed-keys" "$T/run5.log" || fail "CURVE without allowed keys: exit $rc"
echo ok
