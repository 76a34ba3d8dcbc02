#!/usr/bin/python3
# bench/depth.py [--class slow|fast] TRUTH.csv ALERTS.jsonl [TRUTH.csv ALERTS.jsonl ...]
#
# Depth of the search on simulated quartets, pooled over several runs: completeness of the movers
# the search can reach against their truth SNR, in 1-sigma bins, and the 50% point of a logistic
# fitted by maximum likelihood to every mover (found or not), not to the bins.
#   slow: truth rate < 10"/h with >= 3 epochs on a detector (the shift-and-stack needs 3); the SNR
#         is the stacked one, the quadrature sum of the truth per-epoch SNRs of those epochs;
#   fast: truth rate >= 10"/h with >= 2 epochs on a detector; the SNR is the second highest
#         per-epoch SNR (a mover needs two streaks), as `sso score` bins them.
# The truth per-epoch SNR is the simulator's optimal one (sum of model^2 / variance at the native
# pixels, sim/render.c): what a perfect matched filter on the true track would reach.
# Matching as `sso score`: an alert matches a mover when >= 2 of its epochs lie within 0.5" of the
# mover at the same time (any alert class).
# The fit: p(s) = A / (1 + exp(-(s - s50) / w)) on a grid of s50, w and the plateau A (movers lost
# however bright: blends with stars, masks); s50, where completeness is A / 2, is the depth, and its
# range is where its profile log-likelihood is within 0.5 of the maximum (68%).
# Needs Debian's python3-numpy (hence /usr/bin/python3).
import csv
import json
import math
import os
import sys

import numpy as np


def sep(a, b, c, d):
    return math.hypot((a - c) * math.cos(math.radians(b)), b - d) * 3600


def movers(truth_path, alerts_path, cls):
    truth = list(csv.DictReader(open(truth_path)))
    alerts = [json.loads(line) for line in open(alerts_path) if line.strip()]
    mv = {}
    for r in truth:
        mv.setdefault(r["id"], []).append(r)
    out = []
    for rows in mv.values():
        rate = float(rows[0]["rate"])
        on = [r for r in rows if r["det"]]
        if cls == "slow":
            if rate >= 10 or len(on) < 3:
                continue
            snr = math.sqrt(sum(float(r["snr"]) ** 2 for r in on))
        else:
            if rate < 10 or len(on) < 2:
                continue
            snr = sorted((float(r["snr"]) for r in on), reverse=True)[1]
        found = 0
        for a in alerts:
            n = sum(1 for o in a["obs"] for r in rows
                    if abs(o["mjd"] - float(r["mjd"])) < 1e-5
                    and sep(o["ra"], o["dec"], float(r["ra"]), float(r["dec"])) < 0.5)
            if n >= 2:
                found = 1
                break
        out.append((snr, found))
    return out


def fit(data):
    """(s50, its 68% range, w, A) of the maximum-likelihood logistic with a plateau."""
    s = np.array([d[0] for d in data])[:, None, None]
    f = np.array([d[1] for d in data], dtype=bool)[:, None, None]
    s50 = np.arange(1.0, 30.0001, 0.1)
    w = np.arange(0.1, 5.0001, 0.1)
    q = 1.0 / (1.0 + np.exp(-np.clip((s - s50[None, :, None]) / w[None, None, :], -50, 50)))
    best, prof = None, np.full(len(s50), -np.inf)
    for a in np.arange(0.80, 1.0001, 0.01):  # the plateau: one slice at a time (memory)
        p = np.clip(a * q, 1e-12, 1 - 1e-12)
        ll = np.where(f, np.log(p), np.log(1 - p)).sum(axis=0)
        prof = np.maximum(prof, ll.max(axis=1))
        i, j = np.unravel_index(np.argmax(ll), ll.shape)
        if best is None or ll[i, j] > best[0]:
            best = (ll[i, j], s50[i], w[j], a)
    inside = s50[prof >= best[0] - 0.5]
    return best[1], inside.min(), inside.max(), best[2], best[3]


def main():
    args = sys.argv[1:]
    cls = "slow"
    if args[:1] == ["--class"]:
        cls, args = args[1], args[2:]
    if not args or len(args) % 2 or cls not in ("slow", "fast"):
        sys.exit("usage: bench/depth.py [--class slow|fast] TRUTH.csv ALERTS.jsonl [...]")
    for path in args:
        if not os.path.isfile(path):
            sys.exit(f"bench/depth.py: {path}: no such file")
    data = []
    for i in range(0, len(args), 2):
        d = movers(args[i], args[i + 1], cls)
        print(f"# {args[i + 1]}: {len(d)} reachable {cls} movers, {sum(f for _, f in d)} found")
        data += d
    edges = list(range(0, 21)) + [25, 30, 50, 1e9]
    print(f"{'truth SNR':>12} | {'found':>9} | completeness")
    for lo, hi in zip(edges[:-1], edges[1:]):
        b = [f for s, f in data if lo <= s < hi]
        if b:
            label = f"{lo:g}-{hi:g}" if hi < 1e9 else f">= {lo:g}"
            print(f"{label:>12} | {sum(b):4d}/{len(b):<4d} | {100.0 * sum(b) / len(b):5.1f}%")
    s50, lo, hi, w, a = fit(data)
    print(f"logistic fit to {len(data)} movers: plateau {100 * a:.0f}%, half of it at truth SNR "
          f"{s50:.1f} (68%: {lo:.1f}-{hi:.1f}), width {w:.1f}")

if __name__ == "__main__":
    main()
