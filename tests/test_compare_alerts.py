#!/usr/bin/python3
"""tests/test_compare_alerts.py: bench/compare_alerts.py, the CPU-vs-GPU alert comparison of the
device runs (issue 4: the same objects, positions within 1 mas).

Two synthetic alert files are written here (4 epochs each, a point at dec 10 deg). Expected, from
the definition of the separation (dRA cos dec, dDec) in mas:
  - identical files: agree (exit 0);
  - one epoch moved by 0.5 mas in dec (1.389e-7 deg): agree, largest difference ~0.5 mas;
  - one epoch moved by 2 mas in RA at dec 10 (2 / cos 10 deg = 2.031 mas of RA): differ (exit 1);
  - an alert missing from one file, or its class changed: differ;
  - the same alert_id twice in one file: bad input (exit 2).
"""
import copy
import json
import math
import os
import subprocess
import sys
import tempfile

SRC = os.environ.get("SSO_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
TOOL = os.path.join(SRC, "bench", "compare_alerts.py")


def alert(aid, ra0, cls="slow"):
    obs = [{"mjd": 60600.19 + 0.0107 * e, "ra": ra0 + 1e-5 * e, "dec": 10.0, "mag": 22.0} for e in range(4)]
    return {"kind": "alert", "alert_id": aid, "class": cls, "obs": obs, "motion": {"rate": 5.0}}


def run(tmp, a, b):
    pa, pb = os.path.join(tmp, "a.jsonl"), os.path.join(tmp, "b.jsonl")
    for p, al in ((pa, a), (pb, b)):
        with open(p, "w") as f:
            f.write("".join(json.dumps(x) + "\n" for x in al))
    r = subprocess.run([sys.executable, TOOL, pa, pb], capture_output=True, text=True)
    return r.returncode, r.stdout


def main():
    base = [alert("1-a", 200.0), alert("1-b", 200.1, "fast")]
    with tempfile.TemporaryDirectory() as tmp:
        rc, out = run(tmp, base, copy.deepcopy(base))
        assert rc == 0 and "alerts_same: yes" in out, out
        b = copy.deepcopy(base)
        b[0]["obs"][2]["dec"] += 0.5 / 3.6e6
        rc, out = run(tmp, base, b)
        assert rc == 0, out
        assert "position 0.50" in out, out
        b = copy.deepcopy(base)
        b[1]["obs"][1]["ra"] += 2.0 / 3.6e6 / math.cos(math.radians(10.0))
        rc, out = run(tmp, base, b)
        assert rc == 1 and "2.000 mas apart" in out, out
        rc, out = run(tmp, base, base[:1])
        assert rc == 1 and "only in" in out and "1-b" in out, out
        b = copy.deepcopy(base)
        b[0]["class"] = "fast"
        rc, out = run(tmp, base, b)
        assert rc == 1 and "class slow/fast" in out, out
        rc, out = run(tmp, base + base[:1], base)
        assert rc == 2, out
    print("compare_alerts: 6 cases ok")


if __name__ == "__main__":
    main()
