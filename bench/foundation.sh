#!/usr/bin/env bash
# bench/foundation.sh: simulation time per preset and ingest throughput, on this machine.
#
#   bench/foundation.sh [BUILD_DIR] [PRESETS]     e.g. bench/foundation.sh build "demo ccd"
#
# For each preset: wall time of `sso sim` (plain files), then `sso info` on them (ingest + pixel
# preparation of every detector, cold-ish page cache not enforced: the files were just written),
# and the same for --compress (RICE) files. Writes bench/results/foundation-<host>-<date>.md and
# .json with the machine described. Scratch space: $SSO_BENCH_TMP (default /tmp/sso-bench), removed
# at the end. The field preset needs ~30 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PRESETS=${2:-"demo ccd"}
SSO="$BUILD/sso"
TMP=${SSO_BENCH_TMP:-/tmp/sso-bench}
[ -x "$SSO" ] || { echo "build first: make build (no $SSO)" >&2; exit 2; }
rm -rf "$TMP" && mkdir -p "$TMP" bench/results
host=$(hostname -s)
day=$(date -u +%Y-%m-%d)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cores=$(nproc)
mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1 || echo none)
base="bench/results/foundation-$(echo $PRESETS | tr " " "-")-$host-$day"
json="["
{
  echo "# Foundation benchmark: simulation and ingest"
  echo
  echo "- date: $day, sso $("$SSO" --version | cut -d' ' -f2), command: \`bench/foundation.sh $BUILD \"$PRESETS\"\`"
  echo "- machine: $cpu, $cores cores, $mem memory, GPU: $gpu"
  echo
  echo "| preset | compress | sim wall [s] | files [MB] | pixel data [MB] | ingest wall [s] | ingest [MB/s] | detectors |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
} > "$base.md"
for preset in $PRESETS; do
  for comp in no yes; do
    out="$TMP/$preset-$comp"
    flag=""; [ $comp = yes ] && flag="--compress"
    echo "== sso sim --preset $preset $flag" >&2
    t0=$(date +%s.%N)
    "$SSO" sim --preset "$preset" --seed 1 --threads "$cores" $flag --out "$out" >&2
    t1=$(date +%s.%N)
    files_mb=$(du -sm --apparent-size "$out" | cut -f1)
    echo "== sso info ($preset $flag)" >&2
    t2=$(date +%s.%N)
    "$SSO" info "$out" > "$out.info.txt"
    t3=$(date +%s.%N)
    # the summary line of sso info: "ingest: N detectors, X MB of pixel data read in T s: R MB/s (...)"
    line=$(grep '^ingest:' "$out.info.txt")
    ndet=$(echo "$line" | awk '{print $2}')
    data_mb=$(echo "$line" | awk '{print $4}')
    sim_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    ing_s=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }')
    # whole-command rate (process start, open and validate, read, prep, statistics)
    rate=$(awk -v d="$data_mb" -v s="$ing_s" 'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')
    echo "| $preset | $comp | $sim_s | $files_mb | $data_mb | $ing_s | $rate | $ndet |" >> "$base.md"
    json="$json{\"preset\":\"$preset\",\"compress\":\"$comp\",\"sim_s\":$sim_s,\"files_mb\":$files_mb,\"pixel_mb\":$data_mb,\"ingest_s\":$ing_s,\"ingest_mb_s\":$rate,\"detectors\":$ndet},"
    rm -rf "$out"
  done
done
json="${json%,}]"
printf '{"date":"%s","host":"%s","cpu":"%s","cores":%s,"memory":"%s","gpu":"%s","runs":%s}\n' \
  "$day" "$host" "$cpu" "$cores" "$mem" "$gpu" "$json" > "$base.json"
rm -rf "$TMP"
cat "$base.md"
