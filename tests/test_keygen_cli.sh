#!/bin/bash
# tests/test_keygen_cli.sh: `sso keygen` and CURVE on the command line.
#
# Asserts: keygen writes a 0600 secret and a .pub whose key is the one printed, refuses to
# overwrite without --force; bad key files make `sso run` and `sso listen` refuse to start with
# a message naming the file (before any input is read); CURVE without --allow-keys, keys without
# --publish, --curve-secret without --server-key are usage errors; a libzmq without CURVE
# (simulated: SSO_ZMQ_HAS_CURVE=0) is refused with a non-zero exit; end to end over ipc, an
# allowed `sso listen` gets all alerts of a CURVE `sso alerts-demo`, a listener with an unknown key
# exits 4 saying its key was refused. Every command runs under a timeout.
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*; mkdir -p "$T"
fail() { echo "FAIL: $*"; [ -n "${DEMO:-}" ] && kill "$DEMO" 2>/dev/null; exit 1; }
S="timeout 60 $SSO_BIN"

# keygen
$S keygen >/dev/null 2>&1; [ $? -eq 2 ] || fail "keygen without FILE"
$S keygen --help | grep -q -- --force || fail "keygen --help"
pub=$($S keygen "$T/server.key" 2>"$T/kg.err") || fail "keygen: $(cat "$T/kg.err")"
[ ${#pub} -eq 40 ] || fail "printed key '$pub' is not 40 characters"
[ "$(stat -c %a "$T/server.key")" = 600 ] || fail "secret mode $(stat -c %a "$T/server.key")"
grep -qxF -- "$pub" "$T/server.key.pub" || fail ".pub does not hold the printed key"
grep -qxF -- "$pub" "$T/server.key" && fail "the secret file holds the public key as a key line"
$S keygen "$T/server.key" >/dev/null 2>"$T/kg2.err"; [ $? -eq 4 ] || fail "overwrite without --force"
grep -q "$T/server.key" "$T/kg2.err" || fail "overwrite message does not name the file"
grep -qxF -- "$pub" "$T/server.key.pub" || fail "refused keygen changed the key"
pub2=$($S keygen "$T/server.key" --force 2>/dev/null) || fail "keygen --force"
[ "$pub2" != "$pub" ] || fail "--force gave the same key"
$S keygen "$T/alice.key" >/dev/null 2>&1 || fail "keygen alice"
$S keygen "$T/mallory.key" >/dev/null 2>&1 || fail "keygen mallory"
{ echo "# operators"; grep -v '^#' "$T/alice.key.pub" | sed 's/$/  # alice/'; } >"$T/allow.txt"

# refusals by `sso run`: checked before any input is read (the inputs do not exist)
RUN="$S run $T/no1.fits $T/no2.fits $T/no3.fits $T/no4.fits --out $T/out --quiet"
printf 'not a key\n' >"$T/bad.key"; chmod 600 "$T/bad.key"
$RUN --publish ipc://$T/p --curve-secret "$T/bad.key" --allow-keys "$T/allow.txt" 2>"$T/r1.err"
[ $? -eq 2 ] || fail "run with a malformed secret: exit"
grep -q "$T/bad.key, line 1" "$T/r1.err" || fail "run: message does not name the bad file: $(cat "$T/r1.err")"
$RUN --publish ipc://$T/p --curve-secret "$T/missing.key" --allow-keys "$T/allow.txt" 2>"$T/r2.err"
[ $? -eq 4 ] || fail "run with a missing secret: exit"
grep -q "$T/missing.key" "$T/r2.err" || fail "run: missing file not named"
cp "$T/server.key" "$T/open.key"; chmod 644 "$T/open.key"
$RUN --publish ipc://$T/p --curve-secret "$T/open.key" --allow-keys "$T/allow.txt" 2>"$T/r3.err"
[ $? -eq 2 ] || fail "run with a world-readable secret"
grep -q "$T/open.key.*chmod 600" "$T/r3.err" || fail "run: mode message: $(cat "$T/r3.err")"
$RUN --publish ipc://$T/p --curve-secret "$T/server.key" --allow-keys "$T/bad.key" 2>"$T/r4.err"
[ $? -eq 2 ] || fail "run with a bad allowed list"
grep -q "$T/bad.key" "$T/r4.err" || fail "run: bad allowed list not named"
$RUN --publish ipc://$T/p --curve-secret "$T/server.key" 2>"$T/r5.err"
[ $? -eq 2 ] || fail "run: CURVE without --allow-keys"
grep -q "allowed-keys" "$T/r5.err" || fail "run: no-allow message: $(cat "$T/r5.err")"
$RUN --curve-secret "$T/server.key" --allow-keys "$T/allow.txt" 2>/dev/null
[ $? -eq 2 ] || fail "run: keys without --publish"
SSO_ZMQ_HAS_CURVE=0 $RUN --publish ipc://$T/p --curve-secret "$T/server.key" \
    --allow-keys "$T/allow.txt" 2>"$T/r6.err"
rc=$?; [ $rc -ne 0 ] || fail "run: CURVE on a libzmq without it started"
grep -q "no CURVE support" "$T/r6.err" || fail "run: no-CURVE message: $(cat "$T/r6.err")"
SSO_ZMQ_HAS_CURVE=0 $S keygen "$T/x.key" >/dev/null 2>"$T/r7.err" && fail "keygen without CURVE"
grep -q "no CURVE support" "$T/r7.err" || fail "keygen: no-CURVE message"
[ -e "$T/x.key" ] && fail "keygen without CURVE wrote a file"

# refusals by `sso listen`
$S listen --connect ipc://$T/p --curve-secret "$T/alice.key" >/dev/null 2>&1
[ $? -eq 2 ] || fail "listen: --curve-secret without --server-key"
$S listen --connect ipc://$T/p --curve-secret "$T/bad.key" --server-key "$T/server.key.pub" \
    --timeout 1 >/dev/null 2>"$T/l1.err"
[ $? -eq 2 ] || fail "listen with a malformed secret"
grep -q "$T/bad.key" "$T/l1.err" || fail "listen: bad file not named"
$S listen --connect ipc://$T/p --curve-secret "$T/alice.key" --server-key "$T/nokey.pub" \
    --timeout 1 >/dev/null 2>"$T/l2.err"
[ $? -eq 4 ] || fail "listen with a missing server key file"
grep -q "$T/nokey.pub" "$T/l2.err" || fail "listen: missing server key not named"

# end to end over ipc
PUB=ipc://$T/pub.ipc
REP=ipc://$T/replay.ipc
timeout 60 "$SSO_BIN" alerts-demo --n 200 --seed 4 --obs-id curve-cli --store "$T/a.db" \
    --publish "$PUB" --replay "$REP" --per-quartet 50 --heartbeat 0.2 --linger 30 \
    --curve-secret "$T/server.key" --allow-keys "$T/allow.txt" 2>"$T/demo.err" &
DEMO=$!
for i in $(seq 1 100); do [ -S "$T/replay.ipc" ] && break; sleep 0.1; done
$S listen --connect "$PUB" --replay "$REP" --format json --count 200 --timeout 40 \
    --curve-secret "$T/alice.key" --server-key "$T/server.key.pub" >"$T/all.jsonl" 2>"$T/l3.err" \
    || fail "allowed listener: $(cat "$T/l3.err")"
# json carries every message kind as received: count the alerts (summaries may come live too)
n=$(grep -c '"kind":"alert"' "$T/all.jsonl")
[ "$n" -eq 200 ] || fail "allowed listener got $n alerts"
[ "$(grep -vc '"kind":"quartet"' "$T/all.jsonl")" -eq 200 ] || fail "lines other than alerts and summaries"
$S listen --connect "$PUB" --replay "$REP" --format json --timeout 10 \
    --curve-secret "$T/mallory.key" --server-key "$pub2" >"$T/m.jsonl" 2>"$T/l4.err"
[ $? -eq 4 ] || fail "unknown key: exit"
grep -q "refused this client's CURVE key" "$T/l4.err" || fail "unknown key message: $(cat "$T/l4.err")"
[ -s "$T/m.jsonl" ] && fail "unknown key received alerts"
$S listen --connect "$PUB" --replay "$REP" --format json --timeout 10 >"$T/p.jsonl" 2>"$T/l5.err"
[ $? -eq 4 ] || fail "plaintext listener: exit"
[ -s "$T/p.jsonl" ] && fail "plaintext listener received alerts"
kill "$DEMO" 2>/dev/null; wait "$DEMO" 2>/dev/null; DEMO=
echo "ok"
