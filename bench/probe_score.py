#!/usr/bin/python3
# bench/probe_score.py PROBE_OUT QDIR IX IY [X0 Y0 W H]
#
# Scores the candidates bench/fast_probe.c printed for one dumped patch against the quartet's truth:
# which movers the fast search found, by their second-best truth per-epoch SNR (the fast depth's
# measure), and the candidates that match no mover. A developer aid beside fast_probe: a change to
# host/fast.c (or an SSO_PROBE_SET override) is scored on a whole patch in about a minute.
#   PROBE_OUT: fast_probe's output on patch (IX, IY) (dump index k = (IY + 1) 3 + (IX + 1)) of
#              `sso run QDIR` with SSO_DEBUG_DUMP, cut-out X0 Y0 W H (1-based; the whole 4096 px
#              patch if absent);
#   QDIR:      the quartet (its EUC_*.fits for the patches' tangent point, truth.csv).
# The patch frame is the pipeline's default (4096 px patches, 128 px margins, 0.1"/px, tangent at
# the mean of the exposures' detector centres). A candidate matches a mover when >= 2 of its epochs
# with SNR >= 2 lie within RAD px (environment, default 5 = 0.5", as `sso score`) of the mover's
# mid-exposure positions; RAD=20 separates "found but imprecise" from "not found".
# Needs Debian's python3-numpy and python3-astropy (hence /usr/bin/python3).
import csv
import glob
import math
import os
import sys
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

warnings.filterwarnings("ignore")
out, q, ix, iy = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cut = [float(v) for v in sys.argv[5:9]] if len(sys.argv) > 8 else [1, 1, 4096, 4096]
RAD = float(os.environ.get("RAD", "5"))
N, M = 4096, 128
P = N - 2 * M
vecs = []
for f in sorted(glob.glob(q + "/EUC_*.fits")):
    vs = []
    for x in fits.open(f)[1:]:
        if not x.name.endswith("SCI"):
            continue
        w = WCS(x.header)
        nx, ny = x.header["NAXIS1"], x.header["NAXIS2"]
        ra, dec = w.all_pix2world((nx + 1) / 2, (ny + 1) / 2, 1)
        ra, dec = math.radians(ra), math.radians(dec)
        vs.append([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    m = np.mean(vs, axis=0)
    vecs.append(m / np.linalg.norm(m))
m = np.mean(vecs, axis=0)
m /= np.linalg.norm(m)
ra0, dec0 = math.degrees(math.atan2(m[1], m[0])) % 360, math.degrees(math.asin(m[2]))
w = WCS(naxis=2)
w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
w.wcs.crval = [ra0, dec0]
w.wcs.crpix = [1, 1]
w.wcs.cd = [[-0.1 / 3600, 0], [0, 0.1 / 3600]]
ox, oy = ix * P - 0.5 * P - M, iy * P - 0.5 * P - M
mv = {}
for r in csv.DictReader(open(q + "/truth.csv")):
    x, y = w.all_world2pix(float(r["ra"]), float(r["dec"]), 1)
    px, py = float(x) - ox, float(y) - oy
    e = int(r["epoch"]) - 1
    d = mv.setdefault(r["id"], {"snr": [0.0] * 4, "xy": [None] * 4, "rate": float(r["rate"]),
                                "trail": float(r["trail_px"])})
    d["xy"][e] = (px, py)
    inside = (cut[0] + 20 <= px <= cut[0] + cut[2] - 20 and cut[1] + 20 <= py <= cut[1] + cut[3] - 20)
    d["snr"][e] = float(r["snr"]) if inside else 0.0
cands = []
for line in open(out):
    if line.startswith("cand"):
        cands.append({"nu": float(line.split()[2]), "ep": []})
    elif line.startswith("   e") and cands:
        t = line.split()
        cands[-1]["ep"].append((float(t[1]), float(t[2]), float(t[4])))


def dist(c, d, e):
    return math.hypot(c["ep"][e][0] - d["xy"][e][0], c["ep"][e][1] - d["xy"][e][1])


found, false = {}, []
for c in cands:
    best = None
    for i, d in mv.items():
        n = sum(1 for e in range(4) if d["snr"][e] > 0 and c["ep"][e][2] >= 2 and dist(c, d, e) < RAD)
        if n >= 2:
            best = i
    if best:
        found[best] = c["nu"]
    else:
        false.append(c)


def s2(d):
    return sorted(d["snr"])[-2]


reach = {i: d for i, d in mv.items() if sum(1 for s in d["snr"] if s > 0) >= 2 and d["rate"] >= 10}
print("candidates %d, movers matched %d, candidates matching no mover %d (radius %g px)"
      % (len(cands), len(found), len(false), RAD))
for lo, hi in ((0, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9), (9, 10), (10, 12), (12, 15), (15, 1e9)):
    ids = [i for i, d in reach.items() if lo <= s2(d) < hi]
    print("  2nd-best truth SNR %4g-%-4s %3d movers, found %3d"
          % (lo, "%g" % hi if hi < 1e8 else "", len(ids), sum(1 for i in ids if i in found)))
miss = sorted([i for i in reach if i not in found and s2(reach[i]) >= 6], key=lambda i: -s2(reach[i]))
print("missed (2nd-best >= 6): " + " ".join("%s (SNR %.1f, %.0f px)" % (i, s2(reach[i]), reach[i]["trail"]) for i in miss))
for c in false:
    i, d = min(mv.items(), key=lambda kv: sum(dist(c, kv[1], e) if kv[1]["xy"][e] else 1e4 for e in range(4)))
    print("  no match: nu %.1f, epochs %s; nearest mover %s (%.0f\"/h, %.0f px), px off per epoch %s"
          % (c["nu"], [(round(x), round(y), s) for x, y, s in c["ep"]], i, d["rate"], d["trail"],
             [round(dist(c, d, e)) if d["xy"][e] else None for e in range(4)]))
