#!/usr/bin/python3
# bench/false_sigma.py TRUTH.csv ALERTS.jsonl [K]: what the alerts `sso score` counts false are.
#
# `sso score` matches an alert to a mover when >= 2 of its epochs lie within 0.5" of the mover at
# the same time; the alerts left are false. Of those, this lists each with, per epoch, the nearest
# mover at that time, the separation, and the separation in units of the alert's own position
# uncertainty (rmsRA, which for a trail includes the along-trail term L / (2 SNR)). An alert is
# "within K sigma" [K = 3] when >= 2 of its epochs lie within K of their stated uncertainty of the
# same mover: a real mover measured less precisely than 0.5", and said so, rather than a detection
# of nothing. The official figure stays `sso score`'s; this only sorts its false alerts.
import csv
import json
import math
import os
import sys


def sep(a, b, c, d):
    return math.hypot((a - c) * math.cos(math.radians(b)), b - d) * 3600


def main():
    if len(sys.argv) not in (3, 4) or not all(os.path.isfile(p) for p in sys.argv[1:3]):
        sys.exit("usage: bench/false_sigma.py TRUTH.csv ALERTS.jsonl [K] (both files must exist)")
    k = float(sys.argv[3]) if len(sys.argv) == 4 else 3.0
    truth = list(csv.DictReader(open(sys.argv[1])))
    alerts = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
    mv = {}
    for r in truth:
        mv.setdefault(r["id"], []).append(r)

    def at(rows, o):
        return [r for r in rows if abs(o["mjd"] - float(r["mjd"])) < 1e-5]

    n_false = n_sigma = 0
    for a in alerts:
        if any(sum(1 for o in a["obs"] for r in at(rows, o)
                   if sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"])) < 0.5) >= 2
               for rows in mv.values()):
            continue
        n_false += 1
        best = None  # the mover with most epochs within K sigma, then smallest summed separation
        for mid, rows in mv.items():
            seps = []
            for o in a["obs"]:
                for r in at(rows, o):
                    d = sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"]))
                    sig = o.get("rmsRA") or 0.0
                    seps.append((d, d / sig if sig > 0 else math.inf))
            if not seps:
                continue
            n_in = sum(1 for _, z in seps if z <= k)
            key = (n_in, -sum(d for d, _ in seps))
            if best is None or key > best[0]:
                best = (key, mid, seps)
        (n_in, _), mid, seps = best
        ok = n_in >= 2
        n_sigma += ok
        print(f"{'within' if ok else 'beyond'} {k:g} sigma: {a['class']} {a['alert_id']} score "
              f"{a['score']:.1f} rate {a['motion']['rate']:.1f}\"/h (mover {mid}: rate "
              f"{float(mv[mid][0]['rate']):.1f}) epochs: "
              + ", ".join(f"{d:.2f}\" = {z:.1f} sigma" for d, z in seps))
    print(f"false (0.5\"): {n_false}; of them within {k:g} sigma of a mover at >= 2 epochs: "
          f"{n_sigma}; beyond: {n_false - n_sigma}")


if __name__ == "__main__":
    main()
