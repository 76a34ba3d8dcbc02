#!/usr/bin/python3
"""bench/two_epoch_err.py: how well the 2-epoch slow movers are measured, by the class of alert
that found them.

A 2-epoch slow mover is a truth mover of class slow on a detector in exactly 2 epochs. Each is
matched as `sso score` matches (>= 2 alert epochs within 0.5" of it; the closest alert), and the
figures are given per alert class: rate error (median, |rate / true - 1|) and per-epoch position
error (rms over epochs whose truth SNR >= 20).
Usage: bench/two_epoch_err.py truth.csv alerts.jsonl"""
import csv, json, math, sys
truth = list(csv.DictReader(open(sys.argv[1])))
alerts = [json.loads(l) for l in open(sys.argv[2])]
def sep(a, b, c, d): return math.hypot((a - c) * math.cos(math.radians(b)), b - d) * 3600
mv = {}
for r in truth: mv.setdefault(r['id'], []).append(r)
rows_out = []
for mid, rows in mv.items():
    on = [r for r in rows if r['det']]
    if rows[0]['class'] != 'slow' or len(on) != 2: continue
    best = None
    for a in alerts:
        d = [sep(o['ra'], o['dec'], float(r['ra']), float(r['dec'])) for o in a['obs'] for r in on if abs(o['mjd'] - float(r['mjd'])) < 1e-5]
        d = [x for x in d if x < 0.5]
        if len(d) >= 2 and (best is None or sum(d) < sum(best[1])): best = (a, d)
    if best:
        a, d = best
        rows_out.append((a['class'], abs(a['motion']['rate'] / float(rows[0]['rate']) - 1), d, float(on[0]['snr'])))
for cls in ('slow', 'fast'):
    r = [x for x in rows_out if x[0] == cls]
    if not r: continue
    re = sorted(x[1] for x in r)
    pe = [e for x in r if x[3] >= 20 for e in x[2]]
    print(f"{cls}: {len(r)} matched 2-epoch slow movers; rate error median {100*re[len(re)//2]:.1f}%, "
          f"position rms (SNR>=20) {math.sqrt(sum(e*e for e in pe)/len(pe)) if pe else float('nan'):.3f}\" over {len(pe)} epochs")
