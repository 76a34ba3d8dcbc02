#!/usr/bin/env bash
# tests/test_run_e2e.sh: a seeded quartet through `sso run`, scored against the simulator's truth.
#
# One CCD of 1600 x 1700 px (so that the 4 dithers, ~1,250 px apart, share a band of sky), the full
# scene (stars with spikes and bleed, galaxies, cosmic rays, hot pixels, bad columns) and 30 slow
# movers of mag 20-22.5 at 0.5-3"/h; `sso run --vmax 3`. Asserted, from truth.csv and `sso score`:
#   - every mover on the detector in >= 3 epochs with stacked SNR >= 30 is found;
#   - of the movers on the detector in exactly 2 epochs with stacked SNR >= 30, at least 70% are
#     found (by default by the fast search, which links their 2 short trails; the slow search's
#     2-epoch pass, `--slow-pairs`, is off by default and tested in tests/test_pipeline_order.c);
#   - no duplicates, at most 1 false alert (measured: 0 on this seed);
#   - per-epoch position error rms < 0.05" at SNR >= 20 (measured 0.02"), rate error median < 5%;
#   - the run's outputs exist; every line of alerts.jsonl is valid against the JSON Schema in
#     schema/ (python3-jsonschema), states rateUnc and paUnc, and is parsed by sso score;
#   - every alert's cutout FITS exists with 4 DIFF images of 32x32, and the epochs at SNR >= 20
#     show flux at their centre.
# The movers-free quartet is tests/test_run_clean.sh.
set -euo pipefail
: "${SSO_BIN:?}" "${SSO_TEST_TMP:?}" "${SSO_PYTHON:?}"
d="$SSO_TEST_TMP/e2e"
rm -rf "$d" && mkdir -p "$d"
"$SSO_BIN" sim --preset demo --seed 3 --size 1600x1700 --ccds 3-3 --movers 30 --mag-range 20,22.5 \
    --rate-range 0.5,3 --quiet --out "$d/q" > /dev/null
"$SSO_BIN" run "$d/q" --out "$d/out" --vmax 3 --patch-size 1024 --role test 2> "$d/run.log" || {
    cat "$d/run.log"; echo "sso run failed"; exit 1; }
tail -3 "$d/run.log"
for f in alerts.jsonl regions-1.reg regions-4.reg; do
    [ -s "$d/out/$f" ] || { echo "missing or empty output $f"; exit 1; }
done
"$SSO_BIN" score --truth "$d/q/truth.csv" --alerts "$d/out/alerts.jsonl" --ccds 1 --json "$d/score.json" \
    > "$d/score.txt"
head -3 "$d/score.txt"
"$SSO_PYTHON" - "$d/out/alerts.jsonl" "$SSO_SOURCE_DIR/schema/sso-alert-1.0.schema.json" <<'PY'
import json, sys
import jsonschema  # python3-jsonschema (make deps installs it)
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[2])))
n = 0
for line in open(sys.argv[1]):
    a = json.loads(line)
    v.validate(a)
    # both classes state their motion's errors (fast alerts' were null before session 20)
    m = a["motion"]
    assert m["rateUnc"] is not None and m["rateUnc"] > 0, f"{a['alert_id']} ({a['class']}): rateUnc {m['rateUnc']}"
    assert m["paUnc"] is not None and m["paUnc"] > 0, f"{a['alert_id']} ({a['class']}): paUnc {m['paUnc']}"
    n += 1
print(f"{n} alerts valid against the schema, each with rateUnc and paUnc")
PY
"$SSO_PYTHON" - "$d/q/truth.csv" "$d/out/alerts.jsonl" "$d/score.json" <<'PY'
import csv, json, math, sys
import numpy as np
truth = list(csv.DictReader(open(sys.argv[1])))
alerts = [json.loads(l) for l in open(sys.argv[2])]
score = json.load(open(sys.argv[3]))
def sep(a, b, c, d):
    return math.hypot((a - c) * math.cos(math.radians(b)), b - d) * 3600.0
movers = {}
for r in truth:
    movers.setdefault(r["id"], []).append(r)
fails = []
n_req = 0
for mid, rows in movers.items():
    on = [r for r in rows if r["det"]]
    snr = math.sqrt(sum(float(r["snr"]) ** 2 for r in on))
    if len(on) < 3 or snr < 30:
        continue
    n_req += 1
    ok = False
    for a in alerts:
        close = [o for o in a["obs"] for r in rows
                 if abs(o["mjd"] - float(r["mjd"])) < 1e-5 and sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"])) < 0.5]
        ok = ok or len(close) >= 2
    if not ok:
        fails.append(f"mover {mid} (stacked SNR {snr:.0f}, {len(on)} epochs) not found")
assert n_req >= 5, f"only {n_req} movers qualify: the scene changed, revisit the test"
# movers on the detector in exactly 2 epochs (the Dec dither's bands) with stacked SNR >= 30
# (measured: 15 of 16 on this seed); asserted: at least 70%
n_two = n_two_found = 0
for mid, rows in movers.items():
    on = [r for r in rows if r["det"]]
    if len(on) != 2 or math.sqrt(sum(float(r["snr"]) ** 2 for r in on)) < 30:
        continue
    n_two += 1
    for a in alerts:
        close = [o for o in a["obs"] for r in on
                 if abs(o["mjd"] - float(r["mjd"])) < 1e-5 and sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"])) < 0.5]
        if len(close) == 2:
            n_two_found += 1
            break
print(f"2-epoch movers (stacked SNR >= 30): {n_two_found} of {n_two} found")
assert n_two >= 8, f"only {n_two} 2-epoch movers: the scene changed, revisit the test"
if n_two_found < 0.7 * n_two:
    fails.append(f"{n_two_found} of {n_two} 2-epoch movers found (< 70%)")
print({k: score[k] for k in score if not isinstance(score[k], (dict, list))})
if score["duplicates"] != 0:
    fails.append(f"{score['duplicates']} duplicate alerts")
if score["false_alerts"] > 1:
    fails.append(f"{score['false_alerts']} false alerts (> 1)")
errs = []
rates = []
for a in alerts:
    for mid, rows in movers.items():
        pairs = [(o, r) for o in a["obs"] for r in rows if abs(o["mjd"] - float(r["mjd"])) < 1e-5]
        d = [sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"])) for o, r in pairs]
        if len([x for x in d if x < 0.5]) >= 2:
            errs += [x for (o, r), x in zip(pairs, d) if float(r["snr"]) >= 20 and x < 0.5]
            rates.append(abs(a["motion"]["rate"] / float(rows[0]["rate"]) - 1.0))
rms = math.sqrt(sum(x * x for x in errs) / len(errs)) if errs else float("nan")
med = sorted(rates)[len(rates) // 2] if rates else float("nan")
print(f"required movers {n_req}; position rms (SNR>=20) {rms:.4f}\" over {len(errs)} epochs; median rate error {100*med:.2f}%")
# cutouts: every alert names its FITS, which holds one 32x32 DIFF image per epoch; for alerts on a
# mover, the epochs at SNR >= 20 show its flux at the centre (sum of the central 7x7 > 0)
import os
from astropy.io import fits
base = os.path.dirname(sys.argv[2])
n_cut = n_lit = 0
for a in alerts:
    p = os.path.join(base, a.get("cutouts", "missing"))
    if not os.path.isfile(p):
        fails.append(f"alert {a['alert_id']}: no cutout file {p}"); continue
    with fits.open(p) as h:
        if len(h) != 5 or any(h[e].data.shape != (32, 32) for e in range(1, 5)):
            fails.append(f"{p}: not 4 HDUs of 32x32"); continue
        n_cut += 1
        for o in a["obs"]:
            if o["snr"] >= 20:
                e = min(range(1, 5), key=lambda k: abs(h[k].header["MJD-MID"] - o["mjd"]))
                c = h[e].data[13:20, 13:20]
                n_lit += 1
                if not (np.nansum(c) > 0):
                    fails.append(f"{p} HDU {e}: no flux at the centre")
print(f"cutouts: {n_cut} files, {n_lit} epochs at SNR >= 20 with flux at the centre")
if not (rms < 0.05): fails.append(f"position rms {rms:.4f}\" >= 0.05\"")
if not (med < 0.05): fails.append(f"median rate error {100*med:.1f}% >= 5%")
if fails:
    print("\n".join(fails)); sys.exit(1)
PY
