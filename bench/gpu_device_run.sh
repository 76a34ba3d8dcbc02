#!/usr/bin/env bash
# bench/gpu_device_run.sh: everything issue 4 needs from a lent GPU, in steps of < 10 minutes.
#
#   bench/gpu_device_run.sh STEP [STEP ...]      (run from the repository root; $OUT must be set)
#
# Steps (each writes under $OUT/<step>/; `all` = build test sanitize bw ccd, ~10 min in total on
# an H100 with 16 cores, so run it as two calls: "build test bw" then "sanitize ccd"):
#   build     configure and build with CUDA (Release, sm_90) into build-gpu/ (kept between calls
#             while the machine stays warm; carry nothing else)
#   test      ctest -L gpu --output-on-failure; then SSO_BENCH=1 of the stack parity test (the
#             shift-and-stack rate at pipeline scale, samples/s); nvidia-smi for the record
#   unit      ctest -L unit on the device machine (the CPU suite with a GPU present)
#   sanitize  compute-sanitizer memcheck and racecheck on every gpu test (errors fail the step);
#             each run at most 120 s, none started past SSO_DEADLINE_S (540) seconds into the call
#   bw        the device-to-device copy bandwidth (bench/gpu_copy_bw.cu), copy_bw.json
#   demo      as ccd on the demo preset (one 2048 x 2066 CCD: a minute)
#   bench-ccd1 `sso bench --preset ccd --ccds 1 --backend cuda --roofline` (no warm-up, 1 repeat)
#   bench-demo `sso bench --preset demo --backend cuda --roofline` (1 warm-up + 2 repeats)
#   ccd       sso sim --preset ccd, then sso run --backend cuda and --backend cpu (--threads = cores),
#             timed, per-stage lines kept, alerts compared (alerts_equal: yes/no, and a diff)
#   field-sim the field quartet on the machine's disk (/tmp/sso-gpu/field, ~29 GB), made by
#             `sso bench --preset field --sim-only` so that `sso bench` reuses it (its stamp file)
#   field-run sso run --backend cuda on it, timed (end to end, per stage, stack samples/s)
#   bench-ccd `sso bench --preset ccd --backend cuda --roofline` (simulates its quartet on first
#             use), then the source-extractor comparison with sso on the CPU and on the GPU
#             (bench/sextractor_baseline.sh twice; skipped with a note when source-extractor or
#             astropy is missing: see bench/README-gpu.md for packing them)
#   bench-field `sso bench --preset field --backend cuda --roofline` on the field-sim quartet
#   bench     bench-ccd then bench-field (two device calls are safer: each < 10 min)
# Every step runs under `timeout` so a call ends inside the device's 10-minute limit. At the end
# everything under $OUT is packed into $OUT/steps-<names>.tar.gz (the device returns at most 8
# files) beside $OUT/summary.txt.
# The build needs the project's Debian libraries (cfitsio, wcslib, fftw3f, zmq, sqlite3, cmocka),
# which the device image lacks: bench/gpu_devdeps.sh prepares .devdeps/ here (headers, libraries
# and env.sh); carry ".devdeps" with the call. This script sources .devdeps/env.sh if present.
set -uo pipefail
: "${OUT:?set OUT to the folder that comes back}"
cd "$(dirname "$0")/.."
[ -f .devdeps/env.sh ] && . .devdeps/env.sh
[ -d /opt/ssodeps/usr/bin ] && export PATH="$PATH:/opt/ssodeps/usr/bin"   # source-extractor, if packed
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl > /dev/null 2>&1 && export PYTHONPATH=/tmp/site    # astropy, if carried
NCPU=$(nproc)
B=build-gpu
SCR=${SSO_GPU_SCRATCH:-/tmp/sso-gpu}
mkdir -p "$OUT" "$SCR"
summary="$OUT/summary.txt"
note() { echo "$*" | tee -a "$summary"; }

step_build() {
    local o="$OUT/build"; mkdir -p "$o"
    { nvcc --version; nvidia-smi; cmake --version; } > "$o/tools.txt" 2>&1
    if cmake -S . -B "$B" -DSSO_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
            > "$o/configure.log" 2>&1 && cmake --build "$B" -j"$NCPU" > "$o/build.log" 2>&1; then
        note "build: ok"
    else
        note "build: FAILED (see build/configure.log, build/build.log)"; tail -30 "$o"/*.log; return 1
    fi
}

step_test() {
    local o="$OUT/test"; mkdir -p "$o"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv > "$o/gpu.csv" 2>&1
    (cd "$B" && ctest -L gpu --output-on-failure --timeout 150) > "$o/ctest_gpu.log" 2>&1
    local rc=$?
    note "ctest -L gpu: rc $rc ($(grep -E 'tests passed|tests failed' "$o/ctest_gpu.log" | tail -1))"
    grep -E "bit-identical|GPU hits|candidates" "$o/ctest_gpu.log" | head -20 >> "$summary"
    SSO_BENCH=1 timeout 120 "$B/tests/gpu_test_stack_parity" > "$o/stack_rate.log" 2>&1
    note "stack rate: $(grep BENCH "$o/stack_rate.log" | tail -1)"
    return $rc
}

step_unit() {
    local o="$OUT/test"; mkdir -p "$o"
    (cd "$B" && timeout 300 ctest -L unit -j"$NCPU") > "$o/ctest_unit.log" 2>&1
    note "ctest -L unit on the device machine: rc $? ($(grep -E 'tests passed' "$o/ctest_unit.log" | tail -1))"
}

step_sanitize() {
    local o="$OUT/sanitize"; mkdir -p "$o"; local bad=0
    for t in "$B"/tests/gpu_test_*; do
        local n; n=$(basename "$t")
        for tool in memcheck racecheck; do
            local left=$(( ${SSO_DEADLINE_S:-540} - SECONDS ))
            if [ $left -lt 20 ]; then note "compute-sanitizer $tool $n: skipped (the call's time is spent)"; bad=1; continue; fi
            [ $left -gt 120 ] && left=120
            timeout $left compute-sanitizer --tool "$tool" --error-exitcode 99 "$t" > "$o/$n.$tool.log" 2>&1
            local rc=$?
            note "compute-sanitizer $tool $n: rc $rc, $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$o/$n.$tool.log" | tail -1)"
            [ $rc -eq 0 ] || bad=1
        done
    done
    return $bad
}

step_bw() {
    local o="$OUT/bw"; mkdir -p "$o"
    nvcc -O2 -arch=sm_90 bench/gpu_copy_bw.cu -o "$o/copy_bw" && "$o/copy_bw" 2048 > "$o/copy_bw.json"
    note "copy bandwidth: $(cat "$o/copy_bw.json")"
}

run_sso() { # label dir backend -> times one `sso run`
    local o=$1 q=$2 be=$3
    local t0; t0=$(date +%s)
    timeout "${SSO_RUN_TIMEOUT:-240}" "$B/sso" run "$q" --out "$o/out-$be" --backend "$be" --threads "$NCPU" \
        --role test > "$o/run-$be.log" 2>&1
    local rc=$?
    note "sso run --backend $be: rc $rc, wall $(( $(date +%s) - t0 )) s; $(grep 'stages' "$o/run-$be.log" | tail -1)"
    return $rc
}

cmp_backends() { # preset: simulate it, sso run --backend cuda and cpu, alerts compared
    local pr=$1 o="$OUT/$1"; mkdir -p "$o"
    [ -d "$SCR/$pr" ] || "$B/sso" sim --preset "$pr" --seed 1 --threads "$NCPU" --quiet --out "$SCR/$pr" > "$o/sim.log" 2>&1
    run_sso "$o" "$SCR/$pr" cuda; run_sso "$o" "$SCR/$pr" cpu
    # the same objects, positions within 1 mas (issue 4): paired by alert_id
    python3 bench/compare_alerts.py "$o/out-cuda/alerts.jsonl" "$o/out-cpu/alerts.jsonl" > "$o/alerts_compare.txt" 2>&1
    note "$pr: $(head -1 "$o/alerts_compare.txt")"
}
step_ccd() { cmp_backends ccd; }
step_demo() { cmp_backends demo; }


step_field_sim() {
    local o="$OUT/field"; mkdir -p "$o"
    df -h /tmp > "$o/disk.txt"
    local t0; t0=$(date +%s)
    timeout 540 "$B/sso" bench --preset field --seed 1 --sim-only --data "$SCR/field" > "$o/sim.log" 2>&1
    note "field sim: rc $?, $(( $(date +%s) - t0 )) s, $(du -sh "$SCR/field" | cut -f1)"
}

bench_one() { # preset data timeout extra-args... -> sso bench --backend cuda --roofline
    local preset=$1 data=$2 tmo=$3; shift 3
    local o="$OUT/bench"; mkdir -p "$o"
    local t0; t0=$(date +%s)
    timeout "$tmo" "$B/sso" bench --preset "$preset" --backend cuda --roofline --threads "$NCPU" \
        --data "$data" --out "$o" "$@" > "$o/$preset.out" 2> "$o/$preset.err"
    local rc=$?
    note "sso bench --preset $preset --backend cuda --roofline: rc $rc, $(( $(date +%s) - t0 )) s; $(tail -1 "$o/$preset.err")"
    local md; md=$(grep '\.md$' "$o/$preset.out" | tail -1)
    [ -n "$md" ] && sed -n '/^| kernel /,/^$/p' "$md" >> "$summary"
    return $rc
}

step_bench_demo() { bench_one demo "$SCR/bench-demo" 200 --repeat 2 --warmup 1; }

step_bench_ccd1() { # one full CCD (4096 x 4132, 9 patches): the end-to-end time per stage in one call
    bench_one ccd "$SCR/bench-ccd1" "${SSO_BENCH_CCD1_TIMEOUT:-330}" --ccds 1 --repeat 1 --warmup 0 --verbose
}

step_bench_ccd() {
    bench_one ccd "$SCR/bench-ccd" "${SSO_BENCH_CCD_TIMEOUT:-330}" --repeat "${SSO_BENCH_CCD_REPEAT:-3}" \
        --warmup "${SSO_BENCH_CCD_WARMUP:-1}"
    local rc=$? o="$OUT/bench"
    # source-extractor against sso on the CPU and on the GPU (same quartet, same machine)
    local sex; sex=$(command -v source-extractor || echo /opt/ssodeps/usr/bin/source-extractor)
    if [ ! -x "$sex" ]; then
        note "sextractor comparison: skipped: no source-extractor (pack it with bench/gpu_devdeps.sh)"
    elif ! python3 -c "import numpy, astropy" 2> /dev/null; then
        note "sextractor comparison: skipped: python3 lacks astropy (carry .whl, bench/README-gpu.md)"
    else
        for be in cpu cuda; do
            BUILD=$B OUT=$o BACKEND=$be THREADS=$NCPU PY=python3 SEX=$sex \
                timeout 120 bash bench/sextractor_baseline.sh > "$o/sex-$be.log" 2>&1
            note "sextractor comparison, sso on $be: rc $?"
            grep -E '^\| (source-extractor /|\(source-extractor|slow movers found)' "$(ls -t "$o"/sextractor-*.md 2>/dev/null | head -1)" >> "$summary" 2>/dev/null
        done
    fi
    return $rc
}

step_bench_field() {
    [ -f "$SCR/field/bench-data.txt" ] || { note "bench-field: no field quartet: run field-sim first"; return 1; }
    bench_one field "$SCR/field" 540 --repeat 1 --warmup 1
}

step_field_run() {
    local o="$OUT/field"; mkdir -p "$o"
    run_sso "$o" "$SCR/field" cuda
    nvidia-smi --query-gpu=memory.used,memory.total --format=csv >> "$o/gpu-mem-after.csv" 2>&1
}

[ $# -gt 0 ] || { sed -n 2,34p "$0"; exit 2; }
status=0
# a fresh machine (the last one went back) has no build: make it first for any step that needs it
case " $* " in *" build "*) ;; *) [ -x "$B/sso" ] || step_build || exit 1 ;; esac
for s in "$@"; do
    case $s in
        all) for x in build test sanitize bw ccd; do "step_$x" || status=1; done ;;
        build|test|unit|sanitize|bw|ccd|demo) "step_$s" || status=1 ;;
        field-sim) step_field_sim || status=1 ;;
        field-run) step_field_run || status=1 ;;
        bench-ccd) step_bench_ccd || status=1 ;;
        bench-demo) step_bench_demo || status=1 ;;
        bench-ccd1) step_bench_ccd1 || status=1 ;;
        bench-field) step_bench_field || status=1 ;;
        bench) step_bench_ccd || status=1; step_bench_field || status=1 ;;
        *) echo "unknown step $s" >&2; exit 2 ;;
    esac
done
echo "== summary"; cat "$summary"
# the device returns at most 8 files: everything but the summary goes into one archive
pack="steps-$(echo "$*" | tr ' ' '-' | tr -cd 'a-z0-9-').tar.gz"
tar -czf "/tmp/$pack" -C "$OUT" --exclude summary.txt . && find "$OUT" -mindepth 1 ! -name summary.txt -delete \
    && mv "/tmp/$pack" "$OUT/$pack" && echo "packed $OUT/$pack"
exit $status
