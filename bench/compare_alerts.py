#!/usr/bin/env python3
"""bench/compare_alerts.py A.jsonl B.jsonl [--tol-mas 1]: do two runs (sso run --backend cuda and
--backend cpu on the same quartet) give the same alerts? Issue 4's criterion: the same objects,
positions within 1 mas.

Alerts are paired by alert_id (a hash of the observation and the detection's identity, not of its
measured values). An alert of one run without a partner in the other is a difference. For paired
alerts: class and number of epochs must agree, and per epoch (matched by mjd) the sky position
must agree within --tol-mas; the largest position, rate and magnitude differences are printed.
Exit status 0 when the runs agree, 1 when not, 2 on bad input. Standard library only.
"""
import json
import math
import sys


def load(path):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            a = json.loads(line)
            if a.get("kind") != "alert":
                continue
            if a["alert_id"] in out:
                print(f"compare_alerts: {path}:{n}: alert_id {a['alert_id']} twice", file=sys.stderr)
                sys.exit(2)
            out[a["alert_id"]] = a
    return out


def sep_mas(o1, o2):
    d2r = math.pi / 180.0
    dra = (o1["ra"] - o2["ra"]) * math.cos(0.5 * (o1["dec"] + o2["dec"]) * d2r)
    ddec = o1["dec"] - o2["dec"]
    return math.hypot(dra, ddec) * 3.6e6


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    tol = 1.0
    if "--tol-mas" in argv:
        tol = float(argv[argv.index("--tol-mas") + 1])
        args.remove(argv[argv.index("--tol-mas") + 1])
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = load(args[0]), load(args[1])
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    worst_pos = worst_rate = worst_mag = 0.0
    bad = []
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x["class"] != y["class"] or len(x["obs"]) != len(y["obs"]):
            bad.append(f"{k}: class {x['class']}/{y['class']}, {len(x['obs'])}/{len(y['obs'])} epochs")
            continue
        for o1 in x["obs"]:
            o2 = min(y["obs"], key=lambda o: abs(o["mjd"] - o1["mjd"]))
            if abs(o2["mjd"] - o1["mjd"]) > 1e-6:
                bad.append(f"{k}: epoch mjd {o1['mjd']} missing in the second run")
                continue
            s = sep_mas(o1, o2)
            worst_pos = max(worst_pos, s)
            if s > tol:
                bad.append(f"{k}: epoch {o1['mjd']:.6f}: positions {s:.3f} mas apart")
            if o1.get("mag") is not None and o2.get("mag") is not None:
                worst_mag = max(worst_mag, abs(o1["mag"] - o2["mag"]))
        worst_rate = max(worst_rate, abs(x["motion"]["rate"] - y["motion"]["rate"]))
    same = not only_a and not only_b and not bad
    print(f"alerts_same: {'yes' if same else 'no'}; {len(a)} and {len(b)} alerts, "
          f"{len(set(a) & set(b))} paired; largest differences: position {worst_pos:.4f} mas "
          f"(tolerance {tol:g}), rate {worst_rate:.2e} \"/h, magnitude {worst_mag:.2e}")
    for k in only_a[:10]:
        print(f"only in {args[0]}: {k} {a[k]['class']} {len(a[k]['obs'])} epochs")
    for k in only_b[:10]:
        print(f"only in {args[1]}: {k} {b[k]['class']} {len(b[k]['obs'])} epochs")
    for m in bad[:20]:
        print(m)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
