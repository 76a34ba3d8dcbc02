#!/usr/bin/env python3
# bench/slow_completeness.py TRUTH.csv ALERTS.jsonl: slow movers (truth rate < 10"/h)
# that the stack can find (>= 3 epochs on a detector): completeness by stacked SNR (quadrature sum
# of the truth per-epoch SNRs) and rate band, and the rate and magnitude errors of the matched ones.
# Matching as `sso score`: an alert matches when >= 2 of its epochs lie within 0.5" of the mover at
# the same time. `sso score` bins all movers, including those the dithers leave on a detector in
# fewer than 3 epochs; this script isolates the reachable ones.
import csv, json, math, sys
truth = list(csv.DictReader(open(sys.argv[1])))
alerts = [json.loads(l) for l in open(sys.argv[2])]
mv = {}
for r in truth: mv.setdefault(r["id"], []).append(r)
def sep(a, b, c, d): return math.hypot((a - c) * math.cos(math.radians(b)), b - d) * 3600
bins = [(0, 5), (5, 7), (7, 10), (10, 15), (15, 20), (20, 50), (50, 1e9)]
tab = {}
rerr = {"<5": [], "5-10": []}; merr = []
for mid, rows in mv.items():
    rate = float(rows[0]["rate"])
    if rate >= 10: continue
    on = [r for r in rows if r["det"]]
    if len(on) < 3: continue
    snr = math.sqrt(sum(float(r["snr"]) ** 2 for r in on))
    band = "<5" if rate < 5 else "5-10"
    found = None
    for a in alerts:
        n = sum(1 for o in a["obs"] for r in rows if abs(o["mjd"] - float(r["mjd"])) < 1e-5 and sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"])) < 0.5)
        if n >= 2: found = a; break
    for lo, hi in bins:
        if lo <= snr < hi:
            for key in (("all", lo, hi), (band, lo, hi)):
                t = tab.setdefault(key, [0, 0]); t[0] += 1; t[1] += found is not None
    if found:
        rerr[band].append(abs(found["motion"]["rate"] / rate - 1))
        for o in found["obs"]:
            for r in rows:
                if abs(o["mjd"] - float(r["mjd"])) < 1e-5 and float(r["snr"]) >= 20 and o["mag"] is not None:
                    merr.append(o["mag"] - float(r["mag"]))
print("stacked SNR  | all          | rate <5\"/h   | rate 5-10\"/h")
for lo, hi in bins:
    cells = []
    for b in ("all", "<5", "5-10"):
        n, f = tab.get((b, lo, hi), [0, 0])
        cells.append(f"{f:3d}/{n:3d} {100*f/n:5.1f}%" if n else "      -     ")
    print(f"{lo:4g}-{hi:<6g} | " + " | ".join(cells))
for b, v in rerr.items():
    v.sort()
    if v: print(f"rate error {b}\"/h: n={len(v)} median {100*v[len(v)//2]:.2f}% rms {100*math.sqrt(sum(x*x for x in v)/len(v)):.2f}% frac<1% {sum(x<0.01 for x in v)/len(v):.2f}")
if merr:
    a = sorted(abs(x) for x in merr)
    print(f"mag error (truth snr>=20): n={len(merr)} rms {math.sqrt(sum(x*x for x in merr)/len(merr)):.3f} median|err| {a[len(a)//2]:.3f} mean {sum(merr)/len(merr):+.3f} frac<0.1 {sum(x<0.1 for x in a)/len(a):.2f}")
