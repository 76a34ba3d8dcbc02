#!/usr/bin/env bash
# tests/fuzz/run_fuzz_replay.sh <fuzz_replay_req> <dictionary> <seconds | runs:N> [libFuzzer options...]
# Writes a seed corpus of valid and near-valid replay requests into $SSO_TEST_TMP/seeds, then fuzzes
# for the given budget (fuzz_budget.sh) with the grammar's dictionary; new inputs go to
# $SSO_TEST_TMP/corpus, crashes to $SSO_TEST_TMP/crash-*. Exit status is libFuzzer's: 0 when
# nothing was found.
set -eu
fuzzer="$1" dict="$2" budget="$3"
shift 3
work="${SSO_TEST_TMP:-$(mktemp -d)}"
mkdir -p "$work/corpus"
. "$(dirname "$0")/fuzz_budget.sh"
fuzz_budget "$budget" "$work"
rm -rf "$work/seeds"
mkdir -p "$work/seeds"
i=0
while IFS= read -r line; do
  i=$((i + 1))
  printf '%s' "$line" >"$work/seeds/seed-$i"
done <<'SEEDS'
since-seq 0
since-seq 42 limit 10
since-seq 18446744073709551615 limit 5000
since-time 2025-01-01T00:00:00Z
since-time 2000-01-01T12:00:00.25Z limit 7
since-time 1999-12-31T23:59:60Z
since-seq 1 limit 0
since-seq -1
SEEDS
exec "${FUZZ_CMD[@]}" "$fuzzer" "${FUZZ_OPTS[@]}" -timeout=5 -rss_limit_mb=1024 -max_len=300 \
    -dict="$dict" -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work/corpus" "$work/seeds"
