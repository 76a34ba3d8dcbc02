#!/bin/bash
# tests/test_watch_three.sh: `sso watch` proceeds with 3 exposures after --timeout-s, with the
# real pipeline (the quartet's missing 4th is an empty epoch, SSO_OPEN_ALLOW_THREE).
#
# 3 of the 4 files of a small simulated quartet land; --once makes the service exit when
# nothing more can happen. Asserts: it waited for the 2 s timeout (the log says so), the search
# ran on 3 exposures, exit 0; the store's row is done with n_exposures 3; every alert has at
# most 3 epochs, none at the missing exposure's time (the MJD of the absent dither, from
# truth.csv), and its obs_id is the observation's.
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*; mkdir -p "$T/in"
fail() { echo "FAIL: $*"; [ -f "$T/watch.log" ] && grep -v '\[detector\]\|\[patch\]' "$T/watch.log"; exit 1; }
"$SSO_BIN" sim --out "$T/sim" --seed 4 --size 1400 --movers 30 --mag-range 19,20.5 --rate-range 1,3 \
    --no-cosmics --no-galaxies --density 0.2 --quiet >/dev/null || fail "sim"
F=( "$T"/sim/EUC_*.fits ); [ ${#F[@]} -eq 4 ] || fail "sim wrote ${#F[@]} files"
cp "${F[0]}" "${F[1]}" "${F[3]}" "$T/in/"   # dither 3 never comes
timeout 900 "$SSO_BIN" watch --no-fast "$T/in" --out "$T/out" --publish "ipc://$T/pub" --replay "" --once \
    --poll-ms 100 --timeout-s 2 --vmax 3 --no-cosmics --role test >"$T/watch.log" 2>&1 || fail "exit $?"
grep -q "search on 3 exposures (timeout: proceeding with 3)" "$T/watch.log" || fail "no 3-exposure search"
J=( "$T"/out/*.jsonl ); [ ${#J[@]} -eq 1 ] || fail "out has ${#J[@]} jsonl files"
"$SSO_PYTHON" - "${J[0]}" "$T/out/alerts.db" "$T/sim/truth.csv" <<'PY' || fail "content"
import csv, json, sqlite3, sys
out = [json.loads(l) for l in open(sys.argv[1])]
db = sqlite3.connect(sys.argv[2])
row = db.execute("select status, n_exposures, n_alerts from observations").fetchall()
assert row == [("done", 3, len(out))], row
mjd3 = {round(float(r["mjd"]), 5) for r in csv.DictReader(open(sys.argv[3])) if r["epoch"] == "3"}
assert len(mjd3) == 1, mjd3
for d in out:
    assert d["n_epochs"] <= 3 and d["obs_id"] == out[0]["obs_id"], d
    assert all(abs(o["mjd"] - next(iter(mjd3))) > 1e-3 for o in d["obs"]), d
assert len(out) >= 1, "no alert"
print(f"ok: {len(out)} alert(s) from 3 exposures")
PY
echo ok
