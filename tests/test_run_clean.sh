#!/usr/bin/env bash
# tests/test_run_clean.sh: a movers-free quartet through `sso run` makes no alert.
#
# One CCD of 1600 x 1700 px with the full scene but no movers: stars with spikes, saturation and
# bleed trails, galaxies, cosmic rays (tracks and their charge halos, ~15% of them unflagged by
# FLG), hot pixels, bad columns. `sso run` with its defaults (slow search to 10"/h, fast search on).
# Asserted: exit 0 and an empty alerts.jsonl. Measured: 0 alerts on seeds 3, 4 and 5 (this test
# runs seed 3). The rate on --preset ccd (with movers) is in bench/results/.
# Skipped (exit 77) in the sanitizer build: it takes ~11 min there (vmax 10 on 2.7 Mpx), and
# test_run_e2e already takes the same code (the full scene, both searches) through the sanitizers.
set -euo pipefail
: "${SSO_BIN:?}" "${SSO_TEST_TMP:?}"
if [ "${SSO_TEST_SANITIZED:-0}" = 1 ]; then
    echo "skipped in the sanitizer build (test_run_e2e covers the same code there)"
    exit 77
fi
d="$SSO_TEST_TMP/clean"
rm -rf "$d" && mkdir -p "$d"
"$SSO_BIN" sim --preset demo --seed 3 --size 1600x1700 --ccds 3-3 --movers 0 --quiet --out "$d/q" > /dev/null
[ "$(tail -n +2 "$d/q/truth.csv" | wc -l)" -eq 0 ] || { echo "truth.csv lists movers"; exit 1; }
"$SSO_BIN" run "$d/q" --out "$d/out" --role test 2> "$d/run.log" || { cat "$d/run.log"; echo "sso run failed"; exit 1; }
tail -2 "$d/run.log"
[ -f "$d/out/alerts.jsonl" ] || { echo "no alerts.jsonl written"; exit 1; }
n=$(wc -l < "$d/out/alerts.jsonl")
if [ "$n" -ne 0 ]; then
    echo "$n false alerts on a movers-free quartet:"
    cut -c1-300 "$d/out/alerts.jsonl"
    exit 1
fi
echo "movers-free quartet: 0 alerts"
