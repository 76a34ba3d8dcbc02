#!/usr/bin/env python3
"""tests/test_alerts_schema.py: real alert JSON validates against schema/sso-alert-1.0.schema.json.

Runs `sso alerts-demo --dry-run` (the alert writer of the library, alerts/alert.c) and validates
every line with Debian's python3-jsonschema (Draft 2020-12). Also checks that the schema is not
vacuous: mutated copies (trkSub of 9 chars, missing obs, a string where a number belongs, an
obsTime without Z, an unknown class) must fail. When the stream tests have run in the same build,
nothing else is needed here: they validate published messages with the same schema.
Exit 77 (SKIPPED) when jsonschema is not installed.
"""
import copy
import json
import os
import subprocess
import sys

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
print(f"ok: {len(lines)} alerts valid, {len(mutations)} mutations rejected")
