#!/bin/bash
# tests/test_watch_cli.sh: `sso watch` with the real pipeline on a small simulated quartet.
#
# The 4 exposure files land one by one: one copied in place, one written under a temporary name
# and renamed (as the simulator does), one written in two halves with a 1 s pause (longer than
# the settle time, so the service must see it incomplete and wait), one copied last. Asserts:
# the half-written file is logged as incomplete and then taken; the search runs once on 4
# exposures; a late `sso listen` with replay receives exactly the alerts the service wrote to
# <out>/<obs_id>.jsonl, each once by alert_id; the store's observation row is done with 4
# exposures and a latency (and `sso watch --status` prints it: done, 4 exposures, 1 attempt, the
# alert counts, latency, search time); a junk .fits is reported naming the file and extension; usage errors
# exit 2; SIGTERM ends the service with exit 0. Every wait is bounded (generously: the search takes
# ~9 s in a release build on an idle 2-core VM, several times that under ASan on a loaded one).
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*; mkdir -p "$T/in"
W=
fail() { echo "FAIL: $*"; [ -f "$T/watch.log" ] && grep -v '\[detector\]\|\[patch\]' "$T/watch.log"; [ -n "$W" ] && kill -9 "$W" 2>/dev/null; exit 1; }

"$SSO_BIN" watch >/dev/null 2>&1; [ $? -eq 2 ] || fail "watch without DIR"
"$SSO_BIN" watch "$T/in" >/dev/null 2>&1; [ $? -eq 2 ] || fail "watch without --store/--out"
"$SSO_BIN" watch "$T/in" --store "$T/x.db" --poll-ms 1 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--poll-ms 1"
"$SSO_BIN" watch --help | grep -q -- --timeout-s || fail "watch --help"

"$SSO_BIN" sim --out "$T/sim" --seed 4 --size 1400 --movers 30 --mag-range 19,20.5 --rate-range 1,3 \
    --no-cosmics --no-galaxies --density 0.2 --quiet >/dev/null || fail "sim"
F=( "$T"/sim/EUC_*.fits ); [ ${#F[@]} -eq 4 ] || fail "sim wrote ${#F[@]} files"

timeout 900 "$SSO_BIN" watch --no-fast "$T/in" --out "$T/out" --publish "ipc://$T/pub" --replay "ipc://$T/rep" \
    --poll-ms 100 --timeout-s 60 --vmax 3 --no-cosmics --role test --heartbeat 0.2 >"$T/watch.log" 2>&1 &
W=$!
echo 'not a FITS file' > "$T/in/junk.fits"
cp "${F[0]}" "$T/in/"
cp "${F[1]}" "$T/in/$(basename "${F[1]}").tmp" && mv "$T/in/$(basename "${F[1]}").tmp" "$T/in/$(basename "${F[1]}")"
size=$(stat -c %s "${F[2]}"); half=$((size / 2 + 1000))
head -c $half "${F[2]}" > "$T/in/$(basename "${F[2]}")"
sleep 1
tail -c +$((half + 1)) "${F[2]}" >> "$T/in/$(basename "${F[2]}")"
cmp -s "${F[2]}" "$T/in/$(basename "${F[2]}")" || fail "test setup: slow copy differs"
cp "${F[3]}" "$T/in/"
for i in $(seq 1 9000); do grep -q " done: " "$T/watch.log" && break; kill -0 $W 2>/dev/null || break; sleep 0.1; done
grep -q " done: " "$T/watch.log" || fail "no observation done"
grep -q "incomplete, waiting for the rest: file $T/in/$(basename "${F[2]}")" "$T/watch.log" || fail "half-written file not seen as incomplete"
grep -q "bad file: .*junk.fits, extension PRIMARY" "$T/watch.log" || fail "junk.fits not reported"
[ "$(grep -c 'search on 4 exposures' "$T/watch.log")" -eq 1 ] || fail "not one search on 4 exposures"
J=( "$T"/out/*.jsonl ); [ ${#J[@]} -eq 1 ] || fail "out has ${#J[@]} jsonl files"
N=$(wc -l < "${J[0]}"); [ "$N" -ge 1 ] || fail "no alert found"
timeout 60 "$SSO_BIN" listen --connect "ipc://$T/pub" --replay "ipc://$T/rep" --format json --count "$N" \
    --timeout 30 > "$T/listen.jsonl" 2>"$T/listen.err" || fail "listen: $(cat "$T/listen.err")"

kill -TERM $W; wait $W; rc=$?; W=
[ $rc -eq 0 ] || fail "SIGTERM: exit $rc"
grep -q "stop requested" "$T/watch.log" || fail "no clean stop"

"$SSO_PYTHON" - "${J[0]}" "$T/listen.jsonl" "$T/out/alerts.db" <<'PY' || fail "content"
import json, sqlite3, sys
out = [json.loads(l) for l in open(sys.argv[1])]
got = [d for d in map(json.loads, open(sys.argv[2])) if d["kind"] == "alert"]  # not summaries
ids = [d["alert_id"] for d in got]
assert len(ids) == len(set(ids)), "duplicate alert_id"
assert sorted(ids) == sorted(d["alert_id"] for d in out), (ids, [d["alert_id"] for d in out])
assert [d["seq"] for d in got] == sorted(d["seq"] for d in got)
db = sqlite3.connect(sys.argv[3])
row = db.execute("select status, n_exposures, n_alerts, latency_s, attempts, total_s from observations").fetchall()
assert len(row) == 1, row
status, nexp, nal, lat, att, tot = row[0]
assert status == "done" and nexp == 4 and nal == len(out) and att == 1, row
assert lat is not None and lat >= 0 and tot is not None and tot > 0, row
assert db.execute("select count(*), count(distinct alert_id) from alerts").fetchone() == (len(out), len(out))
print(f"ok: {len(out)} alert(s) exactly once; latency {lat:.2f} s (search {tot:.2f} s)")
PY
"$SSO_BIN" watch --status --out "$T/out" >"$T/status.txt" || fail "--status: exit $?"
grep -Eq "^[^ ]+ +done +4 +1 +$N +$N +0 +0 +0 +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9T:-]+Z" "$T/status.txt" ||
    fail "--status row: $(cat "$T/status.txt")"
grep "latency" "$T/watch.log"
echo ok
