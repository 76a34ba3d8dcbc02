#!/usr/bin/python3
"""tests/test_ades_rules.py: `sso ades` reports checked against the ADES PSV rules, and the other
exports (`sso alerts`, `sso regions`, `sso listen --format ades`).

The rules, from the IAU ADES description (version 2017) and the MPC's PSV examples
(shared/ALERTS.md "Reports for the Minor Planet Center"):
  - the file starts with `# version=2017`; header lines are `# block` or `! key value` after a
    block; `# observatory` carries `! mpcCode` (3 characters); `# submitter` a `! name`; blocks
    in the order observatory, submitter, observers, measurers, telescope (comment last);
  - the first other line names the columns, '|'-separated (padding allowed, not required); every
    data row has as many fields; names from the ADES optical vocabulary;
  - required per row: an identifier (permID, provID or trkSub; trkSub <= 8 chars), mode (CCD),
    stn (= the block's mpcCode), obsTime (ISO 8601 UTC ending in Z), ra, dec (decimal degrees,
    not sexagesimal; ra in [0, 360), dec in [-90, 90]), astCat; rmsRA/rmsDec positive arcsec when
    present; a magnitude comes with band and photCat;
  - a space-based observation carries sys (ICRF_KM or ICRF_AU), ctr (an integer body code) and
    pos1..3.
The values are checked against the store read independently here (sqlite3 + json): positions to
half a unit of the 7th decimal, obsTime as stored, logSNR = log10(snr). Observer positions come
from an ephemeris file written here from a circular orbit of radius 1.5e6 km (period 365.25 d)
sampled every 6 h, and are compared with that analytic orbit. Missing positions: a `# comment`
line that counts them, a warning on stderr, exit 0, or exit 6 and no file with
--require-position. The synthetic alerts are role "test": without --include-test none is exported.
Also: the alert JSON Schema accepts the optional sys/ctr/pos1..3 of an epoch only all together,
ICRF_KM about ctr 399 (python3-jsonschema; that part is left out without it).
"""
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import time

SSO = os.environ["SSO_BIN"]
T = os.environ.get("SSO_TEST_TMP") or "/tmp/test_ades_rules"
os.makedirs(T, exist_ok=True)
for f in os.listdir(T):
    p = os.path.join(T, f)
    if os.path.isfile(p) or os.path.islink(p) or p.endswith(".ipc"):
        os.remove(p)

ADES_OPTICAL = {
    "permID", "provID", "artSat", "trkSub", "obsID", "trkID", "mode", "stn", "sys", "ctr", "pos1",
    "pos2", "pos3", "poscov11", "prog", "obsTime", "rmsTime", "ra", "dec", "raStar", "decStar",
    "deltaRA", "deltaDec", "rmsRA", "rmsDec", "rmsCorr", "astCat", "mag", "rmsMag", "band",
    "photCat", "photAp", "nucMag", "logSNR", "seeing", "exp", "rmsFit", "nStars", "ref", "disc",
    "subFmt", "subFrm", "precTime", "precRA", "precDec", "uncTime", "notes", "remarks",
    "deprecated", "localUse"}
BLOCK_ORDER = ["observatory", "submitter", "observers", "measurers", "telescope", "software",
               "comment"]
DEC = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$")
R_KM, PERIOD_D = 1.5e6, 365.25


def orbit(mjd):
    w = 2 * math.pi * (mjd - 60000.0) / PERIOD_D
    return (R_KM * math.cos(w), R_KM * math.sin(w) * 0.9174, R_KM * math.sin(w) * 0.3978)


def run(*args, ok=(0,)):
    p = subprocess.run([SSO, *args], capture_output=True, text=True, timeout=60)
    assert p.returncode in ok, (args, p.returncode, p.stderr)
    return p


def parse_psv(text):
    """Checks the header and field counts; returns (mpcCode, [dict per row], comments)."""
    lines = text.splitlines()
    assert lines[0] == "# version=2017", lines[0]
    blocks, comments, code, i, current = [], [], None, 1, None
    while lines[i].startswith(("#", "!")):
        ln = lines[i]
        if ln.startswith("# "):
            current = ln[2:]
            assert current in BLOCK_ORDER, current
            blocks.append(current)
        else:
            assert ln.startswith("! ") and current, ln
            key, _, value = ln[2:].partition(" ")
            assert value, ln
            if current == "observatory" and key == "mpcCode":
                code = value
            if current == "comment":
                assert key == "line", ln
                comments.append(value)
        i += 1
    assert blocks == sorted(blocks, key=BLOCK_ORDER.index), blocks
    assert blocks[:2] == ["observatory", "submitter"], blocks
    assert code and re.fullmatch(r"[0-9A-Z]{3}", code), code
    cols = [c.strip() for c in lines[i].split("|")]
    assert set(cols) <= ADES_OPTICAL, set(cols) - ADES_OPTICAL
    for need in ("mode", "stn", "obsTime", "ra", "dec", "astCat", "sys", "ctr", "pos1", "pos2",
                 "pos3"):
        assert need in cols, need
    assert {"permID", "provID", "trkSub"} & set(cols)
    rows = []
    for ln in lines[i + 1:]:
        assert not ln.startswith(("#", "!")), "one obsBlock expected: " + ln
        f = [x.strip() for x in ln.split("|")]
        assert len(f) == len(cols), (len(f), len(cols), ln)
        rows.append(dict(zip(cols, f)))
    for r in rows:
        assert r["trkSub"] and len(r["trkSub"]) <= 8
        assert r["mode"] == "CCD" and r["stn"] == code
        assert ISO.match(r["obsTime"]), r["obsTime"]
        for k in ("ra", "dec"):
            assert DEC.match(r[k]), (k, r[k])  # decimal degrees, never sexagesimal
        assert 0 <= float(r["ra"]) < 360 and -90 <= float(r["dec"]) <= 90
        for k in ("rmsRA", "rmsDec"):
            assert r[k] == "" or (DEC.match(r[k]) and float(r[k]) > 0), (k, r[k])
        assert r["astCat"]
        if r["mag"]:
            assert DEC.match(r["mag"]) and r["band"] and r["photCat"]
        if r["sys"] or r["pos1"]:
            assert r["sys"] in ("ICRF_KM", "ICRF_AU") and re.fullmatch(r"[0-9]+", r["ctr"])
            assert all(DEC.match(r[k]) for k in ("pos1", "pos2", "pos3")), r
    return code, rows, comments


def stored(db):
    con = sqlite3.connect(db)
    out = [(s, json.loads(j)) for s, j in
           con.execute("select seq, json from alerts where superseded=0 order by seq")]
    con.close()
    return out


def epochs(alerts):
    return [(a, o) for _, a in alerts for o in a["obs"]]


def check_values(rows, alerts):
    ep = epochs(alerts)
    assert len(rows) == len(ep), (len(rows), len(ep))
    for r, (a, o) in zip(rows, ep):
        assert r["trkSub"] == a["trkSub"] and r["obsTime"] == o["obsTime"]
        assert abs(float(r["ra"]) - o["ra"]) <= 0.5e-7 + 1e-12
        assert abs(float(r["dec"]) - o["dec"]) <= 0.5e-7 + 1e-12
        assert abs(float(r["rmsRA"]) - o["rmsRA"]) <= 0.0005 + 1e-12
        assert abs(float(r["logSNR"]) - math.log10(o["snr"])) <= 0.005 + 1e-12
        assert abs(float(r["mag"]) - o["mag"]) <= 0.005 + 1e-12
        assert abs(float(r["exp"]) - o["exp"]) <= 0.05


# ---- a store of synthetic alerts (role test), 3 quartets of 10 --------------------------------
db = os.path.join(T, "a.db")
PUB, REP = "ipc://" + os.path.join(T, "p.ipc"), "ipc://" + os.path.join(T, "r.ipc")
run("alerts-demo", "--n", "30", "--seed", "5", "--obs-id", "rules-1", "--per-quartet", "10",
    "--store", db, "--publish", PUB, "--replay", REP, "--linger", "0")
alerts = stored(db)
assert len(alerts) == 30

# usage and errors
run("ades", ok=(2,))
run("ades", "--store", os.path.join(T, "none.db"), ok=(4,))
run("ades", "--store", db, "--since-time", "yesterday", ok=(2,))
# role test alerts are not exported without --include-test
p = run("ades", "--store", db)
assert p.stdout == "", p.stdout

# ---- no observer position anywhere -------------------------------------------------------------
out = os.path.join(T, "nopos.psv")
p = run("ades", "--store", db, "--include-test", "--out", out)
assert "warning" in p.stderr and "120 rows" in p.stderr, p.stderr
code, rows, comments = parse_psv(open(out).read())
assert code == "C57"
assert any("missing for 120 of 120 rows" in c for c in comments), comments
assert all(r["sys"] == "" and r["pos1"] == "" for r in rows)
check_values(rows, alerts)
out6 = os.path.join(T, "req.psv")
p = run("ades", "--store", db, "--include-test", "--require-position", "--out", out6, ok=(6,))
assert not os.path.exists(out6) and not os.path.exists(out6 + ".tmp")

# ---- positions from an ephemeris ---------------------------------------------------------------
mjds = sorted(o["mjd"] for _, o in epochs(alerts))
eph = os.path.join(T, "euclid.csv")
with open(eph, "w") as f:
    f.write("# test orbit, geocentric ICRF km\nmjd,x_km,y_km,z_km\n")
    t = math.floor(mjds[0]) - 1
    while t <= mjds[-1] + 1:
        f.write("%.6f,%.6f,%.6f,%.6f\n" % (t, *orbit(t)))
        t += 0.25
out = os.path.join(T, "pos.psv")
p = run("ades", "--store", db, "--include-test", "--ephem", eph, "--require-position",
        "--stn", "Z84", "--out", out)
assert "warning" not in p.stderr, p.stderr
code, rows, comments = parse_psv(open(out).read())
assert code == "Z84" and all(r["stn"] == "Z84" for r in rows) and not comments
check_values(rows, alerts)
worst = 0.0
for r, (a, o) in zip(rows, epochs(alerts)):
    assert r["sys"] == "ICRF_KM" and r["ctr"] == "399"
    truth = orbit(o["mjd"])
    worst = max(worst, max(abs(float(r["pos%d" % (k + 1)]) - truth[k]) for k in range(3)))
assert worst < 0.002, worst  # km: the 3 decimals plus a cubic's error at 6 h steps

# an ephemeris covering only part of the epochs: the rest is missing, and counted
cut = mjds[len(mjds) // 2]
part = os.path.join(T, "part.csv")
with open(part, "w") as f:
    t = math.floor(mjds[0]) - 1
    while t <= cut:
        f.write("%.6f,%.6f,%.6f,%.6f\n" % (t, *orbit(t)))
        t += 0.001
last = t - 0.001
n_out = sum(1 for m in mjds if m > last)
assert 0 < n_out < len(mjds)
out = os.path.join(T, "part.psv")
p = run("ades", "--store", db, "--include-test", "--ephem", part, "--out", out)
code, rows, comments = parse_psv(open(out).read())
assert any("missing for %d of 120 rows" % n_out in c for c in comments), (comments, n_out)
assert sum(1 for r in rows if r["sys"] == "") == n_out
run("ades", "--store", db, "--include-test", "--ephem", part, "--require-position", ok=(6,))

# --since-seq and --since-time select alerts
p = run("ades", "--store", db, "--include-test", "--since-seq", "20")
_, rows, _ = parse_psv(p.stdout)
check_values(rows, [x for x in alerts if x[0] > 20])
p = run("ades", "--store", db, "--include-test", "--since-time", "2999-01-01T00:00:00Z")
assert p.stdout == ""

# ---- sso alerts: JSON lines exactly as stored ---------------------------------------------------
p = run("alerts", "--store", db, "--since-seq", "5")
got = [json.loads(x) for x in p.stdout.splitlines()]
assert got == [a for s, a in alerts if s > 5]

# ---- sso regions: one file per exposure, a circle per epoch -------------------------------------
rdir = os.path.join(T, "regions")
run("regions", "--store", db, "--out", rdir)
run("regions", "--store", db, ok=(2,))
files = sorted(os.listdir(rdir))
exposures = sorted({(a["obs_id"], o["mjd"]) for a, o in epochs(alerts)})
assert len(files) == len(exposures), (len(files), len(exposures))
circles = 0
for fn in files:
    text = open(os.path.join(rdir, fn)).read()
    assert text.startswith("# Region file format: DS9 version 4.1\n")
    for m in re.finditer(r"circle\(([0-9.]+),([-0-9.]+),0\.5\"\) # text=\{(\S+) ", text):
        circles += 1
        ra, dec, trk = float(m.group(1)), float(m.group(2)), m.group(3)
        assert any(a["trkSub"] == trk and abs(o["ra"] - ra) < 1e-6 and abs(o["dec"] - dec) < 1e-6
                   for a, o in epochs(alerts)), (fn, ra, dec, trk)
assert circles == 120, circles
jl = os.path.join(T, "alerts.jsonl")
with open(jl, "w") as f:
    f.write(run("alerts", "--store", db).stdout)
rdir2 = os.path.join(T, "regions2")
run("regions", "--alerts", jl, "--out", rdir2)
for fn in files:
    assert open(os.path.join(rdir, fn)).read() == open(os.path.join(rdir2, fn)).read(), fn

# ---- sso listen --format ades: the same rules on the live stream --------------------------------
db2 = os.path.join(T, "b.db")
PUB2, REP2 = "ipc://" + os.path.join(T, "p2.ipc"), "ipc://" + os.path.join(T, "r2.ipc")
demo = subprocess.Popen([SSO, "alerts-demo", "--n", "12", "--seed", "9", "--obs-id", "rules-2",
                         "--store", db2, "--publish", PUB2, "--replay", REP2, "--heartbeat", "0.2",
                         "--linger", "20"], stderr=subprocess.DEVNULL)
try:
    for _ in range(200):
        if os.path.exists(os.path.join(T, "r2.ipc")) and os.path.exists(db2):
            try:
                if len(stored(db2)) == 12:
                    break
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    p = run("listen", "--connect", PUB2, "--replay", REP2, "--format", "ades", "--count", "12",
            "--timeout", "30")
finally:
    demo.kill()
    demo.wait()
code, rows, comments = parse_psv(p.stdout)
assert code == "C57" and comments, comments
check_values(rows, stored(db2))
assert "no observer position" in p.stderr, p.stderr
print("test_ades_rules: ok (store 120 rows, listen %d rows; ephemeris positions within %.4f km)"
      % (len(rows), worst))

# ---- the optional observer position in the alert JSON Schema ------------------------------------
try:
    import jsonschema
except ImportError:
    jsonschema = None
if jsonschema:
    schema = json.load(open(os.path.join(os.environ.get("SSO_SOURCE_DIR", ".."),
                                         "schema", "sso-alert-1.0.schema.json")))
    v = jsonschema.Draft202012Validator(schema)
    a = dict(alerts[0][1])
    a["obs"] = [dict(o) for o in a["obs"]]
    assert not list(v.iter_errors(a))
    a["obs"][0].update(sys="ICRF_KM", ctr=399, pos1=1.5e6, pos2=-2.0, pos3=3.5)
    assert not list(v.iter_errors(a)), list(v.iter_errors(a))[0].message
    for bad in ({"sys": "WGS84"}, {"ctr": 10}, {"pos3": None}):
        b = json.loads(json.dumps(a))
        b["obs"][0].update(bad)
        assert list(v.iter_errors(b)), bad
    b = json.loads(json.dumps(a))
    del b["obs"][0]["pos2"]  # all or nothing
    assert list(v.iter_errors(b))
    print("test_ades_rules: observer position fields valid against the schema")
