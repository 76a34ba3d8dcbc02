#!/bin/bash
# tests/test_alerts_cli.sh: `sso alerts-demo` publishes, a late `sso listen` catches up via replay.
#
# Over ipc:// endpoints in $SSO_TEST_TMP (no TCP port clash with parallel tests). Asserts: the
# listener prints exactly the 500 alerts, seq 1..500 in order, each valid against
# schema/sso-alert-1.0.schema.json (python3-jsonschema; exit 77 = SKIPPED without it); --class fast
# prints exactly the fast ones; usage errors exit 2. Bounded: every command has a timeout.
set -u
T=$SSO_TEST_TMP
rm -rf "$T"/*; mkdir -p "$T"
fail() { echo "FAIL: $*"; [ -n "${DEMO:-}" ] && kill "$DEMO" 2>/dev/null; exit 1; }
"$SSO_PYTHON" -c 'import jsonschema' 2>/dev/null || { echo "no python3-jsonschema: SKIPPED"; exit 77; }

# usage errors
"$SSO_BIN" listen >/dev/null 2>&1; [ $? -eq 2 ] || fail "listen without --connect"
"$SSO_BIN" listen --connect ipc://$T/x --class medium >/dev/null 2>&1; [ $? -eq 2 ] || fail "--class medium"
"$SSO_BIN" listen --connect ipc://$T/x --count -3 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--count -3"
"$SSO_BIN" alerts-demo --n 5 >/dev/null 2>&1; [ $? -eq 2 ] || fail "alerts-demo without --store"
"$SSO_BIN" listen --help | grep -q -- --replay || fail "listen --help"

PUB=ipc://$T/pub.ipc
REP=ipc://$T/replay.ipc
timeout 60 "$SSO_BIN" alerts-demo --n 500 --seed 3 --obs-id cli-1 --store "$T/a.db" \
    --publish "$PUB" --replay "$REP" --per-quartet 50 --heartbeat 0.2 --linger 30 2>"$T/demo.err" &
DEMO=$!
# the listener starts late: wait until the demo has stored everything
for i in $(seq 1 200); do
  [ -S "$T/replay.ipc" ] && "$SSO_PYTHON" - "$T/a.db" <<'PY' && break
import sqlite3, sys
try:
    n = sqlite3.connect(sys.argv[1]).execute("select count(*) from alerts").fetchone()[0]
except Exception:
    sys.exit(1)
sys.exit(0 if n == 500 else 1)
PY
  sleep 0.1
done
timeout 60 "$SSO_BIN" listen --connect "$PUB" --replay "$REP" --format json --count 500 \
    --timeout 40 >"$T/all.jsonl" 2>"$T/listen.err" || fail "listen json: $(cat "$T/listen.err")"
timeout 60 "$SSO_BIN" listen --connect "$PUB" --replay "$REP" --class fast --timeout 2 \
    >"$T/fast.txt" 2>"$T/listen2.err" || fail "listen --class fast: $(cat "$T/listen2.err")"
kill "$DEMO" 2>/dev/null; wait "$DEMO" 2>/dev/null; DEMO=

"$SSO_PYTHON" - "$SSO_SOURCE_DIR/schema/sso-alert-1.0.schema.json" "$T/all.jsonl" "$T/fast.txt" <<'PY' || fail "content"
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
# json carries every message kind as received: a summary (sso.v1.quartet) may come live too
lines = [l for l in open(sys.argv[2]).read().splitlines() if json.loads(l)["kind"] != "quartet"]
assert len(lines) == 500, len(lines)
docs = [json.loads(l) for l in lines]
for i, d in enumerate(docs):
    errs = list(v.iter_errors(d))
    assert not errs, f"line {i}: {errs[0].message}"
    assert d["seq"] == i + 1, (i, d["seq"])
    assert d["obs_id"] == "cli-1" and d["role"] == "test"
assert len({d["alert_id"] for d in docs}) == 500
fast = [d["seq"] for d in docs if d["class"] == "fast"]
rows = [r for r in open(sys.argv[3]).read().splitlines()[1:]  # header line first
        if r.split()[1] in ("slow", "fast")]                    # not summary lines
got = [int(r.split()[0]) for r in rows]
assert got == fast, (len(got), len(fast))
assert 0 < len(fast) < 500
print(f"ok: 500 alerts valid and in order, {len(fast)} fast rows")
PY
echo "ok"
