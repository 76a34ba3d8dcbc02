#!/usr/bin/env bash
# bench/scaling.sh: `sso bench` over CCD counts and vmax values; a combined table, fits and plots.
#
# usage (from the repository root): nice bench/scaling.sh [--full]
#   --full adds the 36-CCD point (long on a CPU). Environment:
#     BUILD (build), OUT (bench/results), BACKEND (cpu), REPEAT (3), WARMUP (1), TAG (bench's default)
#     CCDS ("1 4 9", "1 4 9 36" with --full), CCD_SIZE (4096x4132, the real CCD), CCD_VMAX (5)
#     COMPRESS_FROM (16: quartets of this many CCDs or more are simulated RICE_1-compressed, as
#     the archive's files are; a full field is ~29 GB uncompressed, ~6 GB so; the read stage then
#     includes the decompression)
#     VMAXS ("2.5 5 10"), VMAX_SIM (the vmax series' quartet: one 1600x1700 px CCD, so the 4
#     dithers share sky, 80 movers at 0.5-10"/h, seed 7)
#
# Series 1, CCDs: the demo preset with N CCDs of CCD_SIZE (movers scale with N), vmax CCD_VMAX.
#   Full-size CCDs: the simulator keeps the real CCD centres, so shrunk CCDs leave wide gaps that
#   the 4096 px sky patches still cover (measured: 4 CCDs of 1024 px took 5.6x 1 CCD and 6 GB).
#   Expected: every stage linear in the pixel count, so total = a + b N.
# Series 2, vmax: one quartet, vmax 2.5 .. 10"/h. Expected: the slow search's velocity grid, hence
#   its trajectory-epoch samples and the stack time, grows as vmax^2: stack = c0 + c2 vmax^2; the
#   other stages do not depend on vmax.
# Writes OUT/scaling-<backend>-<tag>-<date>.{md,json} (the table, the fits, where the measurement
# departs from them) and ...-ccds.png, ...-vmax.png (gnuplot), plus each run's own bench files.
set -euo pipefail
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results}
BACKEND=${BACKEND:-cpu}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-1}
CCDS=${CCDS-1 4 9}
[ "${1:-}" = "--full" ] && CCDS="$CCDS 36"
CCD_SIZE=${CCD_SIZE:-4096x4132}
CCD_VMAX=${CCD_VMAX:-5}
COMPRESS_FROM=${COMPRESS_FROM:-16}
VMAXS=${VMAXS-2.5 5 10}
read -r -a vsim <<< "${VMAX_SIM:---preset demo --size 1600x1700 --movers 80 --mag-range 21,26.5 --rate-range 0.5,10 --seed 7}"
here=$(cd "$(dirname "$0")" && pwd)
SSO="$BUILD/sso"
[ -x "$SSO" ] || { echo "$SSO missing: build first"; exit 1; }
common=(--backend "$BACKEND" --repeat "$REPEAT" --warmup "$WARMUP" --out "$OUT" --no-plot)
[ -n "${TAG:-}" ] && common+=(--tag "$TAG")
list="$(mktemp)"
trap 'rm -f "$list"' EXIT
for n in $CCDS; do
    echo "== scaling: $n CCD(s) of $CCD_SIZE px, vmax $CCD_VMAX" >&2
    rice=()
    [ "$n" -ge "$COMPRESS_FROM" ] && rice=(--compress)
    j=$("$SSO" bench --preset demo --ccds "$n" --size "$CCD_SIZE" --vmax "$CCD_VMAX" "${rice[@]}" "${common[@]}" \
        | grep '\.json$')
    echo "ccds $j" >> "$list"
done
for v in $VMAXS; do
    echo "== scaling: vmax $v\"/h" >&2
    j=$("$SSO" bench "${vsim[@]}" --vmax "$v" "${common[@]}" | grep '\.json$')
    echo "vmax $j" >> "$list"
done
/usr/bin/python3 "$here/scaling_report.py" "$list" "$OUT" \
    "REPEAT=$REPEAT WARMUP=$WARMUP BACKEND=$BACKEND CCDS='$CCDS' CCD_SIZE=$CCD_SIZE VMAXS='$VMAXS' bench/scaling.sh $*"
