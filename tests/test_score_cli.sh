#!/bin/bash
# tests/test_score_cli.sh: `sso score` end to end on a hand-made truth and alerts.
#
# The truth holds 4 rows copied from `sso sim --preset demo` output (mover 1, fast, epoch 4 off
# the detectors) and two slow movers written here; the alerts are written by Python in the
# sso-alert/1.0 form. Expected figures worked out by hand (see the comments in the checker).
# Asserts: usage errors exit 2, a missing file exits 4, a malformed truth row or alert line exits
# 3 naming file:line, --json writes valid JSON (python3 json) with the expected figures, --plot
# writes a PNG when gnuplot is installed (otherwise that part is SKIPPED, said so), and with
# gnuplot missing (SSO_GNUPLOT pointing nowhere) the tool warns, exits 0 and still writes the JSON.
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*; mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }

# usage
"$SSO_BIN" score >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments"
"$SSO_BIN" score --truth x >/dev/null 2>&1; [ $? -eq 2 ] || fail "no --alerts"
"$SSO_BIN" score --truth x --alerts y --radius -1 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--radius -1"
"$SSO_BIN" score --truth x --alerts y --ccds 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--ccds 0"
"$SSO_BIN" score --truth x --alerts y --bogus 1 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--bogus"
"$SSO_BIN" score --help | grep -q -- --radius || fail "--help"

cat >"$T/truth.csv" <<'EOF'
id,class,epoch,mjd,ra,dec,mag,rate,pa,trail_px,snr,det,x,y
1,fast,1,60600.18984639,200.085017141,10.073203543,22.2546,12.63228,139.9864,19.823,75.499,3-3,126.0721,1280.4405
1,fast,2,60600.20050611,200.085603380,10.072515994,22.2546,12.63228,139.9864,19.838,64.405,3-3,290.1106,3.8647
1,fast,3,60600.21116583,200.086189616,10.071828445,22.2546,12.63228,139.9864,19.823,75.576,3-3,454.3805,1230.8494
1,fast,4,60600.22182555,200.086775849,10.071140895,22.2546,12.63228,139.9864,19.861,0.025,,,
2,slow,1,60600.18984639,200.1,10.0,24.1,2.0,90.0,3.1,5.0,3-4.F,10,10
2,slow,2,60600.20050611,200.1001,10.0,24.1,2.0,90.0,3.1,5.0,3-4.F,20,10
2,slow,3,60600.21116583,200.1002,10.0,24.1,2.0,90.0,3.1,5.0,3-4.F,30,10
2,slow,4,60600.22182555,200.1003,10.0,24.1,2.0,90.0,3.1,5.0,3-4.F,40,10
3,slow,1,60600.18984639,200.2,10.1,25.7,3.0,0.0,4.7,2.0,3-4.F,10,100
3,slow,2,60600.20050611,200.2,10.1001,25.7,3.0,0.0,4.7,2.0,3-4.F,10,110
3,slow,3,60600.21116583,200.2,10.1002,25.7,3.0,0.0,4.7,2.0,3-4.F,10,120
3,slow,4,60600.22182555,200.2,10.1003,25.7,3.0,0.0,4.7,2.0,3-4.F,10,130
EOF

"$SSO_PYTHON" - "$T/truth.csv" "$T/alerts.jsonl" <<'PY' || fail "writing alerts"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def ep(mid, e):
    return next(r for r in rows if r["id"] == str(mid) and r["epoch"] == str(e))
n = [0]
def alert(cls, obs, rate, pa):
    n[0] += 1
    return {"schema": "sso-alert/1.0", "kind": "alert", "alert_id": f"t-{n[0]}", "seq": n[0],
            "revision": 0, "boot_id": "b", "time": "2024-01-01T00:00:00.000000Z", "role": "test",
            "obs_id": "t", "class": cls, "n_epochs": len(obs), "trkSub": f"T{n[0]}", "stn": "C57",
            "mode": "CCD", "score": 1.0,
            "motion": {"rate": rate, "rateUnc": None, "pa": pa, "paUnc": None},
            "obs": [{"mjd": m, "ra": ra, "dec": dec, "rmsRA": None, "rmsDec": None, "mag": mag,
                     "rmsMag": None, "band": "VIS", "snr": 9.0, "exp": 566.0, "det": "3-3",
                     "x": 1.0, "y": 1.0} for (m, ra, dec, mag) in obs]}
def track(mid, epochs, ddec_arcsec, dmag):
    return [(float(ep(mid, e)["mjd"]), float(ep(mid, e)["ra"]),
             float(ep(mid, e)["dec"]) + ddec_arcsec / 3600.0, float(ep(mid, e)["mag"]) + dmag)
            for e in epochs]
out = [
    alert("fast", track(1, [1, 2, 3], 0.0, 0.0), 12.63228 * 1.02, 140.0),  # matched, rate +2%
    alert("slow", track(2, [1, 2, 3, 4], 0.3, 0.0), 2.0 * 0.99, 90.0),     # matched, 0.3", -1%
    alert("slow", [(60600.18984639, 10.0, -5.0, 23.0)], 1.0, 0.0),       # false
    alert("slow", track(2, [2, 3], 0.4, 0.0), 2.0, 90.0),                  # duplicate of mover 2
]
with open(sys.argv[2], "w") as f:
    f.write(json.dumps(out[0]) + "\n\n")  # a blank line is skipped
    for a in out[1:]:
        f.write(json.dumps(a) + "\n")
PY

# missing input: I/O error 4
"$SSO_BIN" score --truth "$T/nope.csv" --alerts "$T/alerts.jsonl" >/dev/null 2>"$T/err"
[ $? -eq 4 ] || fail "missing truth exit"
grep -q "nope.csv" "$T/err" || fail "missing truth message: $(cat "$T/err")"

# malformed truth row (line 3: a letter in mjd) and alert line (line 3: not JSON): exit 3, file:line
sed '3s/60600.20050611/6x600.2/' "$T/truth.csv" >"$T/bad_truth.csv"
"$SSO_BIN" score --truth "$T/bad_truth.csv" --alerts "$T/alerts.jsonl" >/dev/null 2>"$T/err"
[ $? -eq 3 ] || fail "bad truth exit"
grep -q "bad_truth.csv:3: bad mjd field" "$T/err" || fail "bad truth message: $(cat "$T/err")"
sed '3s/.*/{"schema": "sso-alert/' "$T/alerts.jsonl" >"$T/bad.jsonl"
"$SSO_BIN" score --truth "$T/truth.csv" --alerts "$T/bad.jsonl" >/dev/null 2>"$T/err"
[ $? -eq 3 ] || fail "bad alerts exit"
grep -q "bad.jsonl:3: " "$T/err" || fail "bad alerts message: $(cat "$T/err")"

check_json() {
"$SSO_PYTHON" - "$1" <<'PY' || fail "json content"
import json, math, sys
d = json.load(open(sys.argv[1]))
close = lambda a, b, tol=1e-6: abs(a - b) <= tol
assert d["n_movers"] == 3 and d["n_alerts"] == 4, d
assert (d["matched"], d["duplicates"], d["false_alerts"]) == (2, 1, 1), d
assert d["n_ccds"] == 2 and d["false_per_ccd_quartet"] == 0.5  # CCDs 3-3 and 3-4 (from 3-4.F)
assert d["confusion"] == {"slow_as_slow": 1, "slow_as_fast": 0, "fast_as_slow": 0, "fast_as_fast": 1}
s, f = d["slow"], d["fast"]
assert (s["n"], s["found"], f["n"], f["found"]) == (2, 1, 1, 1)
# slow stacked SNR: mover 2 sqrt(4*25) = 10 (found), mover 3 sqrt(4*4) = 4 (missed)
assert s["above_snr10"]["n"] == 1 and s["above_snr10"]["found"] == 1
b4 = [b for b in s["by_snr"] if b["lo"] == 4][0]; b10 = [b for b in s["by_snr"] if b["lo"] == 10][0]
assert (b4["n"], b4["found"], b10["n"], b10["found"]) == (1, 0, 1, 1)
assert sum(b["n"] for b in s["by_snr"]) == 2
assert s["by_snr"][-1]["hi"] is None  # +inf written as null
assert close(s["snr50"], 7.0)  # 4 + (0.5 - 0) * (10 - 4) / (1 - 0)
# magnitude bins 24.0-24.5 (found) .. 25.5-26.0 (missed): 4 bins
assert [(b["lo"], b["n"], b["found"]) for b in s["by_mag"]] == \
    [(24.0, 1, 1), (24.5, 0, 0), (25.0, 0, 0), (25.5, 1, 0)], s["by_mag"]
assert s["by_mag"][1]["completeness"] is None
# rate bins 10^(k/4): 2.0 in [10^0.25, 10^0.5), 3.0 in [10^0.25, 10^0.5) too -> one bin
assert len(s["by_rate"]) == 1 and close(s["by_rate"][0]["lo"], 10 ** 0.25)
assert (s["by_rate"][0]["n"], s["by_rate"][0]["found"]) == (2, 1)
assert close(s["by_rate"][0]["err"], 0.5 / math.sqrt(2))  # sqrt(p(1-p)/n), p = 1/2, n = 2
# fast: 2nd highest of 75.499, 64.405, 75.576, 0.025 is 75.499
assert f["above_snr10"]["n"] == 1 and close(f["above_snr10"]["mean"], 75.499)
assert f["snr50"] is None  # never below 50%
assert d["fast_streakdet"]["n"] == 1 and d["fast_streakdet"]["found"] == 1
a = d["astrometry"]
bins = {(x["snr_lo"], x["snr_hi"]): x for x in a["pos_arcsec_by_snr"]}
assert bins[(5, 10)]["n"] == 4 and close(bins[(5, 10)]["rms"], 0.3, 1e-6)  # mover 2, 4 x 0.3"
assert bins[(50, 100)]["n"] == 3 and bins[(50, 100)]["rms"] < 1e-6        # mover 1, exact
assert a["pos_snr20_arcsec"]["n"] == 3 and a["mag_snr20"]["n"] == 3 and a["mag_snr20"]["rms"] < 1e-9
assert close(a["rate_pct_fast"]["rms"], 2.0, 1e-9) and close(a["rate_pct_slow"]["rms"], 1.0, 1e-9)
assert a["rate_pct_all"]["n"] == 2 and close(a["rate_pct_all"]["median_abs"], 1.5, 1e-9)
assert a["n_epochs_outside_radius"] == 0
PY
}

"$SSO_BIN" score --truth "$T/truth.csv" --alerts "$T/alerts.jsonl" --json "$T/s.json" \
    >"$T/out.txt" 2>"$T/err" || fail "score: $(cat "$T/err")"
grep -q "matched 2, duplicates 1, false 1" "$T/out.txt" || fail "table: $(cat "$T/out.txt")"
check_json "$T/s.json"

# the radius matters: at 0.25" mover 2's alert (0.3" off) is false and so is its duplicate
"$SSO_BIN" score --truth "$T/truth.csv" --alerts "$T/alerts.jsonl" --radius 0.25 --ccds 4 \
    --json "$T/r.json" >/dev/null 2>"$T/err" || fail "radius 0.25: $(cat "$T/err")"
"$SSO_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert (d["matched"], d["duplicates"], d["false_alerts"]) == (1, 0, 3), d
assert d["n_ccds"] == 4 and d["false_per_ccd_quartet"] == 0.75
' "$T/r.json" || fail "radius 0.25 figures"

# gnuplot missing: warning, exit 0, JSON still written, no PNG
SSO_GNUPLOT=/nonexistent/gnuplot "$SSO_BIN" score --truth "$T/truth.csv" --alerts "$T/alerts.jsonl" \
    --json "$T/g.json" --plot "$T/none.png" >/dev/null 2>"$T/err" || fail "no gnuplot exit"
grep -q "gnuplot not found" "$T/err" || fail "no gnuplot warning: $(cat "$T/err")"
[ ! -e "$T/none.png" ] || fail "PNG written without gnuplot"
check_json "$T/g.json"

if command -v gnuplot >/dev/null 2>&1; then
  "$SSO_BIN" score --truth "$T/truth.csv" --alerts "$T/alerts.jsonl" --plot "$T/c.png" \
      >/dev/null 2>"$T/err" || fail "plot: $(cat "$T/err")"
  [ "$(head -c 8 "$T/c.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "not a PNG"
  [ "$(stat -c %s "$T/c.png")" -gt 10000 ] || fail "PNG too small to hold the curves"
else
  echo "gnuplot not installed: the PNG part is SKIPPED (the no-gnuplot path was tested)"
fi
echo "ok"
