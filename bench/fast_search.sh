#!/bin/sh
# bench/fast_search.sh: cost of the fast-mover (streak) search, sso_fast_search on white noise
# (N x N x 4 epochs; tests/test_fast.c test_bench), one thread, CPU time of the process (the wall
# time is printed too: on a shared machine only the CPU time compares).
# usage: bench/fast_search.sh [BUILD_DIR] ["N:LMAX ..."]   e.g. bench/fast_search.sh build "1024:470 512:1600"
set -eu
b="${1:-build}"
cfgs="${2:-1024:470 512:1600}"
for c in $cfgs; do
    n="${c%%:*}" l="${c##*:}"
    SSO_BENCH=1 SSO_BENCH_N="$n" SSO_BENCH_LMAX="$l" SSO_BENCH_THREADS=1 "$b/tests/test_fast" | grep BENCH
done
