#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh <fuzz_ingest> <sso_test_mkfits> <seconds | runs:N> [libFuzzer options...]
# Writes the seed corpus with sso_test_mkfits into $SSO_TEST_TMP/seeds, then fuzzes for the given
# budget (fuzz_budget.sh: seconds to explore, or runs:N for CTest's replayable run); new inputs go
# to $SSO_TEST_TMP/corpus, crashes to $SSO_TEST_TMP/crash-*. Exit status is libFuzzer's: 0 when
# nothing was found.
set -eu
fuzzer="$1" mkfits="$2" budget="$3"
shift 3
work="${SSO_TEST_TMP:-$(mktemp -d)}"
mkdir -p "$work/corpus"
. "$(dirname "$0")/fuzz_budget.sh"
fuzz_budget "$budget" "$work"
rm -rf "$work/seeds"
"$mkfits" seeds "$work/seeds" >/dev/null
# inputs that once crashed (tests/fuzz/regress/): run first, every time
cp "$(dirname "$0")"/regress/* "$work/seeds/"
# Fuzzing is not leak checking of cfitsio's error paths (their leaks are not ours to fix):
# leaks in sso code show in the sanitizer unit tests instead.
# cfitsio asks calloc for whatever a header promises and handles NULL (MEMORY_ALLOCATION), as it
# would on a real machine; ASan's default is to abort on such requests instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1"
exec "${FUZZ_CMD[@]}" "$fuzzer" "${FUZZ_OPTS[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work/corpus" "$work/seeds"
