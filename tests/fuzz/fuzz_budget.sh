# tests/fuzz/fuzz_budget.sh: sourced by run_fuzz.sh and run_fuzz_replay.sh.
# fuzz_budget <budget> <work dir> sets the array FUZZ_CMD (a prefix for the fuzzer) and FUZZ_OPTS
# (libFuzzer options) from the budget:
#   <seconds>     explore for that long, growing <work dir>/corpus across runs (by hand);
#   runs:<N>      a (nearly) replayable run, as CTest makes it: N executions from an empty
#                 corpus, without comparison hooks (-use_cmp=0), corpus reloads (-reload=0) or
#                 address-space randomisation (setarch -R, where the system allows it). With the
#                 hooks on, libFuzzer mutates with the values our code compares, pointers among
#                 them, which move with the heap's history: two 60,000-run runs with one seed
#                 parted after ~22,000 executions. Without them, runs from a fresh work directory
#                 repeat exactly (795 new inputs each time); CTest's reused directory still moves
#                 a few (787-801 new inputs of 60,000: not found why). A run explores fewer paths
#                 this way; the exploring is for long runs by hand (README.md), and CI's run stays
#                 close to the same run every time, so a CI failure is a finding to replay, not a
#                 roll of the dice.
fuzz_budget() {
  local budget="$1" work="$2"
  FUZZ_CMD=()
  case "$budget" in
    runs:*)
      rm -rf "$work/corpus"
      mkdir -p "$work/corpus"
      if setarch "$(uname -m)" -R true 2>/dev/null; then
        FUZZ_CMD=(setarch "$(uname -m)" -R)
      else
        echo "fuzz: setarch -R unavailable; this run is not replayable bit for bit" >&2
      fi
      # the time cap is a guard for a very slow machine only; the run count ends a normal run
      FUZZ_OPTS=(-runs="${budget#runs:}" -use_cmp=0 -reload=0 -max_total_time=240)
      ;;
    *)
      FUZZ_OPTS=(-max_total_time="$budget")
      ;;
  esac
}
