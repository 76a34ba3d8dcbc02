#!/usr/bin/env python3
"""tests/test_alerts_schema.py: every message of the stream validates against
schema/sso-alert-1.0.schema.json, and `sso listen` understands every topic.

1. `sso alerts-demo --dry-run` (the alert writer of the library, alerts/alert.c): every line valid.
2. A real publisher run over ipc: `sso alerts-demo` publishes 6 alerts in 2 quartets (put_quartet:
   the short quartet summary of `sso run --publish`), then stores the observation again without
   its last 2 alerts (put_observation: 2 retractions and the full summary of `sso watch`), with
   heartbeats every 0.2 s. Three `sso listen` run at once on it: json --verbose captures every
   message exactly as received (frame 2), and each one is validated: kinds alert (slow and fast),
   retract, quartet (both forms) and hb must all be present. The table listener must show the 2
   retractions (RETR lines naming the ids the store retracted) and 3 summary lines and no
   "unreadable"; the ades listener (--stn 500) rows for the 6 alerts only (4 epochs each) and a
   note per retraction on stderr. Every listener reports 0 gaps: retractions are numbered like
   alerts, so the seq sequence 1..8 has no hole.
3. The schema is not vacuous: mutated copies of each kind (trkSub of 9 chars, missing obs, a string
   where a number belongs, an obsTime without Z, an unknown class, an unknown field, a retraction
   without seq, a summary with a status but no stages, a negative heartbeat seq) must fail.
Exit 77 (SKIPPED) when jsonschema is not installed.
"""
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed: SKIPPED")
    sys.exit(77)

src = os.environ["SSO_SOURCE_DIR"]
sso = os.environ["SSO_BIN"]
with open(os.path.join(src, "schema", "sso-alert-1.0.schema.json")) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)

out = subprocess.run([sso, "alerts-demo", "--dry-run", "--n", "300", "--seed", "5"],
                     check=True, capture_output=True, text=True).stdout
lines = out.splitlines()
assert len(lines) == 300, len(lines)
kinds = set()
for i, line in enumerate(lines):
    doc = json.loads(line)
    errs = list(v.iter_errors(doc))
    assert not errs, f"line {i}: {errs[0].message}"
    assert doc["seq"] == i + 1
    kinds.add(doc["class"])
    assert ("trail" in doc) == (doc["class"] == "fast")
assert kinds == {"slow", "fast"}, kinds

base = json.loads(lines[0])
mutations = [
    ("trkSub 9 chars", lambda d: d.__setitem__("trkSub", "ABCDEFGHI")),
    ("no obs", lambda d: d.pop("obs")),
    ("ra as string", lambda d: d["obs"][0].__setitem__("ra", "12.5")),
    ("obsTime without Z", lambda d: d["obs"][0].__setitem__("obsTime", d["obs"][0]["obsTime"][:-1])),
    ("class", lambda d: d.__setitem__("class", "medium")),
    ("negative seq", lambda d: d.__setitem__("seq", -1)),
    ("dec > 90", lambda d: d["obs"][1].__setitem__("dec", 91.0)),
    ("schema 2.0", lambda d: d.__setitem__("schema", "sso-alert/2.0")),
]
for name, mutate in mutations:
    d = copy.deepcopy(base)
    mutate(d)
    assert list(v.iter_errors(d)), f"schema accepted a broken alert: {name}"
print(f"ok: {len(lines)} dry-run alerts valid, {len(mutations)} mutations rejected")

# ---- 2. a real publisher, every topic, three listeners ----------------------------------------
tmp = os.environ.get("SSO_TEST_TMP", "/tmp")
for f in os.listdir(tmp):
    if f in ("pub", "rep", "alerts.db", "alerts.db-wal", "alerts.db-shm"):
        os.remove(os.path.join(tmp, f))
pub, rep = f"ipc://{tmp}/pub", f"ipc://{tmp}/rep"
demo = subprocess.Popen([sso, "alerts-demo", "--n", "6", "--per-quartet", "3", "--retract", "2",
                         "--seed", "3", "--store", os.path.join(tmp, "alerts.db"),
                         "--publish", pub, "--replay", rep, "--heartbeat", "0.2",
                         "--delay", "3", "--linger", "1"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
listen = {}
for fmt, extra in (("json", ["--verbose"]), ("table", []), ("ades", ["--stn", "500"])):
    listen[fmt] = subprocess.Popen([sso, "listen", "--connect", pub, "--replay", rep, "--format",
                                    fmt, "--timeout", "120"] + extra,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
dout, derr = demo.communicate(timeout=120)
assert demo.returncode == 0, derr
time.sleep(0.5)  # the last heartbeat and summary are on their way
res = {}
for fmt, p in listen.items():
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, (fmt, p.returncode, err)
    m = re.search(r"(\d+) gaps", err)
    assert m and m.group(1) == "0", (fmt, err)
    assert "unreadable" not in err, (fmt, err)
    res[fmt] = (out, err)

msgs = [json.loads(l) for l in res["json"][0].splitlines()]
for i, d in enumerate(msgs):
    errs = list(v.iter_errors(d))
    assert not errs, f"published message {i} ({d.get('kind')}): {errs[0].message}: {d}"
by_kind = {}
for d in msgs:
    k = d["kind"] if d["kind"] != "alert" else "alert." + d["class"]
    by_kind.setdefault(k, []).append(d)
need = {"alert.slow", "alert.fast", "retract", "quartet", "hb"}
assert need <= set(by_kind), sorted(by_kind)
numbered = [d for d in msgs if d["kind"] in ("alert", "retract")]
assert [d["seq"] for d in numbered] == list(range(1, 9)), [d["seq"] for d in numbered]
retracted = [d["alert_id"] for d in by_kind["retract"]]
alert_ids = [d["alert_id"] for d in msgs if d["kind"] == "alert"]
assert len(retracted) == 2 and retracted == alert_ids[4:], (retracted, alert_ids)
quartets = by_kind["quartet"]
assert len(quartets) == 3, quartets
assert [q.get("status") for q in quartets] == [None, None, "done"], quartets
assert quartets[2]["n_retracted"] == 2 and quartets[2]["n_unchanged"] == 4, quartets[2]
assert all(h["boot_id"] == quartets[0]["boot_id"] for h in by_kind["hb"])

table = res["table"][0].splitlines()
retr = [l for l in table if " RETR " in l]
assert len(retr) == 2 and all(r in l for r, l in zip(retracted, retr)), retr
assert len([l for l in table if " OBS " in l]) == 3, table
assert len([l for l in table if re.match(r"\s+\d+ (slow|fast) ", l)]) == 6, table
assert not [l for l in table if " HB " in l], "heartbeats shown without --verbose"

ades_rows = [l for l in res["ades"][0].splitlines() if l and l[0] not in "#!" and "|" in l]
assert ades_rows[0].startswith("trkSub"), ades_rows[:1]
assert len(ades_rows) - 1 == 6 * 4, len(ades_rows)
assert all(r.split("|")[2].strip() == "500" for r in ades_rows[1:])
assert res["ades"][1].count("is a retraction: not an ADES row") == 2, res["ades"][1]
print(f"ok: {len(msgs)} published messages valid ({', '.join(f'{k} {len(x)}' for k, x in sorted(by_kind.items()))}); "
      "table, json and ades listeners agree, 0 gaps")

# ---- 3. mutations of the other kinds ------------------------------------------------------------
kinds = {"retract": by_kind["retract"][0], "quartet": quartets[2], "hb": by_kind["hb"][0],
         "quartet-short": quartets[0]}
mutations2 = [
    ("alert with an unknown field", by_kind["alert.slow"][0], lambda d: d.__setitem__("color", 1)),
    ("retract without seq", kinds["retract"], lambda d: d.pop("seq")),
    ("retract of revision 0", kinds["retract"], lambda d: d.__setitem__("revision", 0)),
    ("retract without reason", kinds["retract"], lambda d: d.pop("reason")),
    ("quartet with status, no stages", kinds["quartet"], lambda d: d.pop("stages")),
    ("quartet unknown status", kinds["quartet"], lambda d: d.__setitem__("status", "lost")),
    ("quartet negative latency", kinds["quartet"], lambda d: d.__setitem__("latency_s", -1.0)),
    ("quartet unknown stage", kinds["quartet"], lambda d: d["stages"].__setitem__("warp", 1.0)),
    ("quartet without obs_id", kinds["quartet-short"], lambda d: d.pop("obs_id")),
    ("hb negative last_seq", kinds["hb"], lambda d: d.__setitem__("last_seq", -1)),
    ("hb unknown field", kinds["hb"], lambda d: d.__setitem__("seq", 3)),
    ("hb as kind quartet", kinds["hb"], lambda d: d.__setitem__("kind", "quartet")),
]
for name, doc, mutate in mutations2:
    d = copy.deepcopy(doc)
    mutate(d)
    assert list(v.iter_errors(d)), f"schema accepted a broken message: {name}"
print(f"ok: {len(mutations2)} mutations of the other kinds rejected")
