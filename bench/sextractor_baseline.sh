#!/usr/bin/env bash
# bench/sextractor_baseline.sh: sso against Debian's source-extractor on the same simulated quartet.
#
# usage (from the repository root): nice bench/sextractor_baseline.sh
#   environment: BUILD (build), OUT (bench/results), VMAX (5), REPEAT (1), BACKEND (cpu),
#                THREADS (2: sso's worker threads), SIM (the simulator arguments of `sso bench`,
#                below), TAG (sso bench's default), SEX (source-extractor's path),
#                PY (/usr/bin/python3: a python3 with numpy and astropy)
#
# 1. `sso bench --sim-only` makes (or reuses) the quartet: one CCD of 1600x1700 px, so that the
#    4 dithers (~1,250 px apart) share sky, with 80 slow movers of mag 21-26.5 at 0.5-VMAX "/h;
#    2. `sso bench` times sso on it (median stage times; its alerts are scored by `sso score`);
#    3. bench/sextractor_link.py split writes each detector's SCI/RMS/FLG as single images (not timed);
#    4. source-extractor runs on every SCI image (RMS as weight map, FLG as flag map; bench/sextractor/)
#       one after another, timed as a whole (wall and CPU);
#    5. bench/sextractor_link.py link removes stationary sources and links the rest (>= 3 epochs,
#       constant rate, timed), writes alerts.jsonl, which `sso score` scores on the same truth;
#    6. bench/sextractor_link.py compare writes the ratios to OUT/sextractor-<tag>-<date>.{md,json}:
#       like for like, source-extractor (background + matched-filter detection + measurement on
#       single exposures) against sso's per-exposure stages doing that work (prep + background +
#       cosmic + likelihood, psi/phi being the matched filter), and separately source-extractor +
#       linking against sso's whole pipeline. The tag carries the backend's machine tag (a GPU run
#       is "<cores>core-<gpu>"), so BACKEND=cpu and BACKEND=cuda on one machine write two reports.
set -euo pipefail
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results}
VMAX=${VMAX:-5}
REPEAT=${REPEAT:-1}
BACKEND=${BACKEND:-cpu}
THREADS=${THREADS:-2}
SEX=${SEX:-source-extractor}
PY=${PY:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
SSO="$BUILD/sso"
command -v "$SEX" > /dev/null || { echo "source-extractor missing: apt-get install source-extractor (or SEX=path)"; exit 1; }
[ -x "$SSO" ] || { echo "$SSO missing: build first (cmake --build $BUILD)"; exit 1; }
read -r -a sim <<< "${SIM:---preset demo --size 1600x1700 --movers 80 --mag-range 21,26.5 --rate-range 0.5,$VMAX --seed 7}"
tagargs=()
[ -n "${TAG:-}" ] && tagargs=(--tag "$TAG")

data=$("$SSO" bench "${sim[@]}" --sim-only)
work="$data/sextractor"
rm -rf "$work" && mkdir -p "$work"
echo "== sso bench on $data" >&2
json=$("$SSO" bench "${sim[@]}" --backend "$BACKEND" --threads "$THREADS" --vmax "$VMAX" --repeat "$REPEAT" --out "$OUT" "${tagargs[@]}" | grep '\.json$')
"$SSO" score --truth "$data/truth.csv" --alerts "$data/bench-alerts-$BACKEND.jsonl" --json "$work/score-sso.json" > "$work/score-sso.txt"

echo "== splitting the exposures into single images for source-extractor (not timed)" >&2
"$PY" "$here/sextractor_link.py" split "$data" "$work"
n=$(wc -l < "$work/exposures.txt")
echo "== source-extractor on $n detector images" >&2
cat > "$work/run.sh" <<EOF
set -e
while read -r sci rms flg zp mjd e det; do
  "$SEX" "\$sci" -c "$here/sextractor/default.sex" -PARAMETERS_NAME "$here/sextractor/default.param" \\
    -FILTER_NAME "$here/sextractor/gauss_1.5_3x3.conv" -CATALOG_NAME "\${sci%.sci.fits}.cat" \\
    -WEIGHT_IMAGE "\$rms" -FLAG_IMAGE "\$flg" -MAG_ZEROPOINT "\$zp"
done < "$work/exposures.txt"
EOF
/usr/bin/time -f "%e %U %S" -o "$work/sex.time" bash "$work/run.sh"
echo "== linking the catalogues" >&2
/usr/bin/time -f "%e %U %S" -o "$work/link.time" \
    "$PY" "$here/sextractor_link.py" link "$work" "$work/baseline-alerts.jsonl" --vmax="$VMAX"
"$SSO" score --truth "$data/truth.csv" --alerts "$work/baseline-alerts.jsonl" --json "$work/score-sex.json" > "$work/score-sex.txt"

"$PY" - "$json" "$work" "$data" "$*" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
work = sys.argv[2]
st = {s["name"]: s["median_s"] for s in b["stages"]}
sex = [float(x) for x in open(f"{work}/sex.time").read().split()]
lnk = [float(x) for x in open(f"{work}/link.time").read().split()]
t = {"sextractor_s": sex[0], "sextractor_cpu_s": sex[1] + sex[2], "link_s": lnk[0], "sso_stages": st,
     "sso_matched_s": st["prep"] + st["background"] + st["cosmic"] + st["likelihood"], "sso_total_s": b["total_s"],
     "machine": b["machine"], "tag": b["machine"]["tag"], "backend": b["config"]["backend_used"],
     "threads": b["config"]["threads"], "data": sys.argv[3],
     "load_avg": [b["load_avg"]["start"][0], b["load_avg"]["end"][0]],
     "command": "bench/sextractor_baseline.sh" + (" " + sys.argv[4] if sys.argv[4] else "")}
json.dump(t, open(f"{work}/times.json", "w"), indent=1)
PY
tag=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['machine']['tag'])" "$json")
base="$OUT/sextractor-$tag-$(date -u +%F)"
"$PY" "$here/sextractor_link.py" compare "$work/score-sso.json" "$work/score-sex.json" "$work/times.json" \
    "$base.md" "$base.json" "$data/truth.csv"
echo "$base.md"
