#!/usr/bin/env bash
# tests/test_bench_cli.sh: `sso bench` on a tiny quartet, and its reports checked for sense.
#
# One CCD of 600 x 1400 px (the dithers, ~1,250 px apart in y and ~370 px in x, still share a band
# of sky, so the difference, likelihood and stack stages have work), 5 movers, vmax 1"/h, 1536 px
# patches, no warm-up and one repeat: ~4 s of CPU in the release build. Asserted (no timing thresholds, only consistency):
#   - --help exits 0 and lists the options; a bad option exits 2; --backend cuda, and --backend
#     cuda --roofline, exit 5 where no device is usable and write nothing (no data, no results;
#     skipped when nvidia-smi sees one); --roofline on the CPU backend is a usage error (2) and
#     writes nothing;
#   - the JSON has every field; detector_px is exactly 4 x 600 x 1400 (the quartet's pixels,
#     known from the command line); every stage time is >= 0 and read, background and the total
#     are > 0; per repeat the stages sum to <= the total, the latency is in (0, total];
#     Mpx/s, quartets/h and the stack rate equal the definitions recomputed from the other fields;
#     the stack sampled something (the dithers overlap); peak RSS > 0; the machine's core count
#     is nproc's; the load averages are numbers;
#   - the markdown (and the PNG when gnuplot is installed) were written, named by preset,
#     CCDs, vmax, backend and tag;
#   - a second call with the same data reuses it (--sim-only: no second pipeline run), and the
#     stamp names this simulation (a mismatch is not exercised here: it costs a second simulation,
#     ~minutes under the sanitizers);
#   - (not in the sanitizer build, for the same reason) --compress --sim-only simulates RICE_1
#     tile-compressed files into the default folder's "-rice" name and says so in the stamp.
set -euo pipefail
: "${SSO_BIN:?}" "${SSO_TEST_TMP:?}" "${SSO_PYTHON:?}"
d="$SSO_TEST_TMP/bench"
rm -rf "$d" && mkdir -p "$d"

"$SSO_BIN" bench --help > "$d/help.txt"
for opt in --preset --backend --ccds --vmax --repeat --data --out --fast --sim-only --roofline; do
    grep -q -- "$opt" "$d/help.txt" || { echo "--help does not mention $opt"; exit 1; }
done
rc=0; "$SSO_BIN" bench --bogus 2> /dev/null || rc=$?
[ "$rc" = 2 ] || { echo "bad option: exit $rc, want 2"; exit 1; }
rc=0; "$SSO_BIN" bench --vmax -3 2> /dev/null || rc=$?
[ "$rc" = 2 ] || { echo "bad --vmax: exit $rc, want 2"; exit 1; }
if ! nvidia-smi -L > /dev/null 2>&1; then
    rc=0; "$SSO_BIN" bench --backend cuda --data "$d/none" 2> /dev/null || rc=$?
    [ "$rc" = 5 ] || { echo "--backend cuda without a device: exit $rc, want 5"; exit 1; }
    [ ! -e "$d/none" ] || { echo "--backend cuda without a device simulated anyway"; exit 1; }
    rc=0; "$SSO_BIN" bench --backend cuda --roofline --data "$d/none2" --out "$d/none-out" 2> /dev/null || rc=$?
    [ "$rc" = 5 ] || { echo "--backend cuda --roofline without a device: exit $rc, want 5"; exit 1; }
    [ ! -e "$d/none2" ] && [ ! -e "$d/none-out" ] || { echo "--roofline without a device wrote something"; exit 1; }
fi
rc=0; "$SSO_BIN" bench --backend cpu --roofline --data "$d/none3" --out "$d/none-out" 2> /dev/null || rc=$?
[ "$rc" = 2 ] || { echo "--roofline on the CPU backend: exit $rc, want 2 (usage)"; exit 1; }
[ ! -e "$d/none3" ] && [ ! -e "$d/none-out" ] || { echo "--roofline on the CPU wrote something"; exit 1; }

args=(--no-fast --preset demo --size 600x1400 --movers 5 --vmax 1 --patch-size 1536 --data "$d/q"
      --out "$d/res" --tag testtag)
"$SSO_BIN" bench "${args[@]}" --repeat 1 --warmup 0 > "$d/out.txt" 2> "$d/err.txt" || {
    cat "$d/err.txt"; echo "sso bench failed"; exit 1; }
tail -2 "$d/err.txt"
json=$(grep '\.json$' "$d/out.txt")
md=$(grep '\.md$' "$d/out.txt")
case "$json" in */bench-demo-1ccd-600x1400-v1-cpu-testtag-20*.json) ;; *) echo "bad result name $json"; exit 1;; esac
[ -s "$md" ] || { echo "no markdown"; exit 1; }
grep -q '| stack |' "$md" || { echo "markdown lacks the stage table"; exit 1; }
if command -v gnuplot > /dev/null; then
    png=$(grep '\.png$' "$d/out.txt")
    [ -s "$png" ] || { echo "gnuplot present but no PNG"; exit 1; }
fi
[ -s "$d/q/bench-alerts-cpu.jsonl" ] || [ -f "$d/q/bench-alerts-cpu.jsonl" ] || {
    echo "alerts file not written"; exit 1; }

"$SSO_PYTHON" - "$json" "$(nproc)" <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
ncores = int(sys.argv[2])
for k in ("tool", "date", "command", "config", "machine", "load_avg", "stages", "total_s", "latency_s",
          "throughput", "memory", "counts", "repeats"):
    assert k in j, f"missing {k}"
names = [s["name"] for s in j["stages"]]
assert names == ["open", "read", "prep", "background", "cosmic", "resample", "difference",
                 "likelihood", "stack", "measure", "fast", "write"], names
c = j["config"]
assert c["preset"] == "demo" and c["n_ccds"] == 1 and c["ccd_width_px"] == 600 and c["ccd_height_px"] == 1400, c
assert c["vmax_arcsec_h"] == 1 and c["repeats"] == 1 and c["backend_used"] == "cpu", c
assert j["counts"]["detector_px"] == 4 * 600 * 1400, j["counts"]
assert j["counts"]["detector_reads"] == 4, j["counts"]
assert j["counts"]["stack_samples"] > 0, "the dithers overlap: the stack must sample something"
st = {s["name"]: s["median_s"] for s in j["stages"]}
assert all(v >= 0 for v in st.values()), st
assert st["read"] > 0 and st["background"] > 0 and st["stack"] > 0, st
T = j["total_s"]
assert T > 0 and j["total_min_s"] <= T <= j["total_max_s"], (T, j["total_min_s"], j["total_max_s"])
for r in j["repeats"]:
    s = sum(r["stages"].values())
    assert s <= r["total_s"] * (1 + 1e-9), (s, r["total_s"])
    assert r["pipeline_total_s"] <= r["total_s"], r
    assert 0 < r["latency_s"] <= r["total_s"], r
assert sum(st.values()) <= T * (1 + 1e-9), "one repeat: medians are the values"
tp = j["throughput"]
assert math.isclose(tp["mpx_per_s"], 4 * 600 * 1400 / 1e6 / T, rel_tol=1e-9), tp
assert math.isclose(tp["quartets_per_h"], 3600 / T, rel_tol=1e-9), tp
assert math.isclose(tp["field_quartets_per_h"], 3600 / T * 600 * 1400 / (36 * 4096 * 4132), rel_tol=1e-9), tp
assert math.isclose(tp["stack_samples_per_s"], j["counts"]["stack_samples"] / st["stack"], rel_tol=1e-6), tp
m = j["memory"]
assert m["host_peak_rss_mib"] > 0 and m["device_peak_mib"] is None, m
# the patch epochs held (9 bytes per px of a 1536 px patch, 1 to 4 epochs each) are part of the RSS
assert 1536 * 1536 * 9 / 2**20 - 0.1 <= m["patch_buffers_peak_mib"] <= m["host_peak_rss_mib"], m
assert c["data_compressed"] is False, c
assert j["machine"]["cores"] == ncores and j["machine"]["cpu"], j["machine"]
for k in ("start", "end"):
    la = j["load_avg"][k]
    assert len(la) == 3 and all(isinstance(x, (int, float)) and x >= 0 for x in la), la
print(f"bench JSON ok: total {T:.2f} s, latency {j['latency_s']:.2f} s")
PY

# reuse: same data -> no simulation; a stamp that does not match -> simulated again
"$SSO_BIN" bench "${args[@]}" --sim-only > /dev/null 2> "$d/err2.txt"
grep -q "reusing the quartet" "$d/err2.txt" || { cat "$d/err2.txt"; echo "data not reused"; exit 1; }
grep -q "preset demo seed 1 size 600x1400 movers 5 " "$d/q/bench-data.txt" || {
    cat "$d/q/bench-data.txt"; echo "stamp does not name the simulation"; exit 1; }
if [ "${SSO_TEST_SANITIZED:-0}" != 1 ]; then
    (cd "$d" && "$SSO_BIN" bench --preset demo --size 600x1400 --movers 5 --compress --sim-only \
        > sim-rice.txt 2> sim-rice.err) || { cat "$d/sim-rice.err"; echo "--compress failed"; exit 1; }
    qc="$d/bench/data/demo-1ccd-600x1400-m5-s1-rice"
    grep -qx "$qc\|bench/data/demo-1ccd-600x1400-m5-s1-rice" "$d/sim-rice.txt" || {
        cat "$d/sim-rice.txt"; echo "--compress: not the -rice folder"; exit 1; }
    grep -q " rice$" "$qc/bench-data.txt" || { echo "--compress: stamp lacks rice"; exit 1; }
    for f in "$qc"/*.fits; do
        grep -aq "RICE_1" "$f" || { echo "--compress: $f is not RICE_1 compressed"; exit 1; }
    done
fi
echo "ok"
