#!/bin/bash
# tests/test_watch_prep.sh: `sso watch` prepares each exposure as it arrives (real pipeline,
# worker process per observation; alerts/watch.c "Prep on arrival").
#
# Three small simulated observations (OBS_ID 111, 222, 333; 1400 px, bright slow movers):
#   A  111 lands one file at a time, each only after the previous one is logged prepared: the
#      prep lines of exposures 1-3 come before the 4th's arrival, the search says 3 of its 4
#      exposures were prepared on arrival, one search, store row done with 4 exposures.
#   B  222's 2nd file validates (headers, HDUs, WCS) but its SCI pixels are all NaN: the
#      observation fails at that file's arrival (store: failed, 1 attempt, the all-NaN error
#      naming the file), no search runs for it, and with --max-attempts 1 later files do not
#      retry it.
#   C  333: 2 files prepared, then the engine is killed (kill -9): its prep worker dies with it.
#      The other 2 files land while it is down; the restart finds 333 with no store row, prepares
#      all 4 and searches it once. Then its row is set back to started (an engine that died
#      mid-search) and the service restarted again: the redo (every file at once, prepared in time
#      order, so the same patch grid) gives the same alert_ids: all unchanged, none new, none
#      retracted, the store's alert rows untouched.
# Every wait is bounded.
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*; mkdir -p "$T/in"
W=
fail() {
    echo "FAIL: $*"
    for l in "$T"/watch*.log; do [ -f "$l" ] && { echo "== $l"; grep -v '\[detector\]\|\[patch\]' "$l"; }; done
    [ -n "$W" ] && kill -9 "$W" 2>/dev/null
    exit 1
}
waitlog() { # waitlog LOG TEXT SECONDS
    for _ in $(seq 1 $(($3 * 10))); do grep -qF -- "$2" "$1" && return 0; kill -0 $W 2>/dev/null || break; sleep 0.1; done
    grep -qF -- "$2" "$1" || fail "no '$2' in $1 within $3 s"
}
land() { cp "$1" "$T/in/.part" && mv "$T/in/.part" "$T/in/$(basename "$1")"; }
start() { # start LOG [extra options]
    local log=$1; shift
    "$SSO_BIN" watch --no-fast "$T/in" --out "$T/out" --publish "ipc://$T/pub" --replay "" --poll-ms 100 \
        --timeout-s 600 --vmax 3 --no-cosmics --role test --max-attempts 1 "$@" >"$log" 2>&1 &
    W=$!
}

for o in 111:4 222:5 333:6; do
    "$SSO_BIN" sim --out "$T/sim${o%:*}" --obs-id "000${o%:*}" --seed "${o#*:}" --size 1400 --movers 20 \
        --mag-range 19,20.5 --rate-range 1,3 --no-cosmics --no-galaxies --density 0.2 --quiet >/dev/null ||
        fail "sim ${o%:*}"
done
A=( "$T"/sim111/EUC_*.fits ); B=( "$T"/sim222/EUC_*.fits ); C=( "$T"/sim333/EUC_*.fits )
[ ${#A[@]} -eq 4 ] && [ ${#B[@]} -eq 4 ] && [ ${#C[@]} -eq 4 ] || fail "sim file count"
# B's 2nd exposure: every SCI pixel NaN (headers untouched, so it validates on arrival)
"$SSO_PYTHON" - "${B[1]}" <<'PY' || fail "could not make the NaN file"
import re, struct, sys
f = open(sys.argv[1], "r+b"); data = f.read(); pos = 0; done = 0
while pos < len(data):
    hdr = {}; k = pos
    while True:
        card = data[k:k + 80].decode("ascii"); k += 80
        m = re.match(r"(\S+)\s*=\s*('([^']*)'|\S+)", card)
        if m: hdr[m.group(1)] = (m.group(3) if m.group(3) is not None else m.group(2)).strip()
        if card.startswith("END "): break
    k = (k + 2879) // 2880 * 2880
    n = 1
    for a in range(1, int(hdr.get("NAXIS", 0)) + 1): n *= int(hdr["NAXIS%d" % a])
    nbytes = n * abs(int(hdr.get("BITPIX", 8))) // 8 if int(hdr.get("NAXIS", 0)) else 0
    if hdr.get("EXTNAME", "").endswith(".SCI") and hdr.get("BITPIX") == "-32":
        f.seek(k); f.write(struct.pack(">f", float("nan")) * n); done += 1
    pos = k + (nbytes + 2879) // 2880 * 2880
assert done >= 1, "no float SCI extension"
PY

start "$T/watch1.log"
# B: a bad 2nd exposure fails the observation at its arrival
land "${B[0]}"; waitlog "$T/watch1.log" "observation 222: exposure 1/4 prepared on arrival" 300
land "${B[1]}"; waitlog "$T/watch1.log" "observation 222 failed at the arrival of exposure 2/4" 300
# A: one file at a time, each after the previous one's prep
for i in 0 1 2; do
    land "${A[$i]}"; waitlog "$T/watch1.log" "observation 111: exposure $((i + 1))/4 prepared on arrival" 300
done
land "${B[2]}" # a later file of the failed observation: not retried (--max-attempts 1)
land "${A[3]}"; waitlog "$T/watch1.log" "observation 111 done:" 900
# C: 2 files prepared, then kill -9
land "${C[0]}"; land "${C[1]}"; waitlog "$T/watch1.log" "observation 333: exposure 2/4 prepared on arrival" 300
kids=$(pgrep -P $W)
[ -n "$kids" ] || fail "no prep worker under the engine"
kill -9 $W; wait $W 2>/dev/null; W=
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; } # zombies are dead
for k in $kids; do
    for _ in $(seq 1 50); do alive "$k" || break; sleep 0.1; done
    alive "$k" && fail "prep worker $k survived the engine's kill -9 by 5 s: $(ps -o pid,stat,cmd -p "$k")"
done

L=$T/watch1.log
ln() { grep -nF -- "$1" "$L" | head -1 | cut -d: -f1; }
a4=$(ln "arrived: $T/in/$(basename "${A[3]}")"); [ -n "$a4" ] || fail "4th arrival of 111 not logged"
for i in 1 2 3; do
    p=$(ln "observation 111: exposure $i/4 prepared on arrival"); [ -n "$p" ] && [ "$p" -lt "$a4" ] ||
        fail "exposure $i of 111 not prepared before the 4th arrived (line ${p:-none} vs $a4)"
done
grep -q "observation 111: search on 4 exposures; 3 of them prepared on arrival" "$L" || fail "search line of 111"
[ "$(grep -c 'observation 111: search on' "$L")" -eq 1 ] || fail "111 searched more than once"
grep -q "observation 222: search on" "$L" && fail "222 was searched despite its bad file"
grep -q "observation 222 failed at the arrival of exposure 2/4 (.*$(basename "${B[1]}")).*given up" "$L" ||
    fail "222's failure line"
[ "$(grep -c 'observation 222 failed' "$L")" -eq 1 ] || fail "222 retried despite --max-attempts 1"

# C: restart with every file there
land "${C[2]}"; land "${C[3]}"
start "$T/watch2.log" --once
wait $W; rc=$?; W=
[ $rc -eq 0 ] || fail "restart: exit $rc"
grep -q "observation 333: search on 4 exposures; 0 of them prepared on arrival (0.00 s of prep done before the search), 4 to finish first" "$T/watch2.log" ||
    fail "333 not prepared and searched after the restart"
grep -q "observation 111: already done" "$T/watch2.log" || fail "111 not skipped"
grep -q "observation 333 done:" "$T/watch2.log" || fail "333 not done"
"$SSO_PYTHON" - "$T/out/alerts.db" started <<'PY' || fail "store after the restart"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = {r[0]: r[1:] for r in db.execute("select obs_id, status, n_exposures, attempts, error from observations")}
assert rows["111"][:3] == ("done", 4, 1), rows
assert rows["222"][0] == "failed" and rows["222"][2] == 1 and "no finite pixel" in rows["222"][3], rows
assert rows["333"][:3] == ("done", 4, 1), rows
n = db.execute("select count(*) from alerts").fetchone()[0]
dup = db.execute("select count(*) from (select alert_id from alerts group by alert_id having count(*) > 1)").fetchone()[0]
assert n >= 2 and dup == 0, (n, dup)
db.execute("update observations set status = 'started' where obs_id = '333'"); db.commit()
open(sys.argv[1] + ".n", "w").write(str(n))
PY
start "$T/watch3.log" --once
wait $W; rc=$?; W=
[ $rc -eq 0 ] || fail "second restart: exit $rc"
grep -q "observation 333: interrupted earlier" "$T/watch3.log" || fail "333 not redone"
grep -q "observation 333 done: .* (0 new, 0 revised, [0-9]* unchanged, 0 retracted" "$T/watch3.log" ||
    fail "the redo of 333 changed its alerts"
"$SSO_PYTHON" - "$T/out/alerts.db" <<'PY' || fail "store after the redo"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("select count(*) from alerts").fetchone()[0]
assert n == int(open(sys.argv[1] + ".n").read()), "the redo stored alert rows"
print(f"ok: {n} alert rows, none added by the redo")
PY
# without isolation (--no-isolate) the session lives in the service: the same failure at arrival
mkdir -p "$T/in-ni"
cp "${B[0]}" "${B[1]}" "$T/in-ni/"
timeout 300 "$SSO_BIN" watch --no-fast "$T/in-ni" --out "$T/out-ni" --publish "ipc://$T/pub-ni" --replay "" --poll-ms 100 \
    --vmax 3 --no-cosmics --role test --no-isolate --once >"$T/watch-ni.log" 2>&1 || fail "--no-isolate: exit $?"
grep -q "observation 222: exposure 1/4 prepared on arrival" "$T/watch-ni.log" || fail "--no-isolate: no prep on arrival"
grep -q "observation 222 failed at the arrival of exposure 2/4" "$T/watch-ni.log" || fail "--no-isolate: no failure at arrival"
grep -q "search on" "$T/watch-ni.log" && fail "--no-isolate: a search ran"
echo ok
