#!/bin/bash
# tests/test_pipeline_opts_cli.sh: `sso run`, `sso watch` and `sso bench` share their pipeline
# options (tools/pipeline_opts.c).
#
# Asserts, for each of the three commands:
#   - --help holds the one shared block of pipeline options, the same text in all three except the
#     defaults in brackets (bench runs on the CPU by default);
#   - every pipeline option with a good value is accepted: the command goes on parsing and stops at
#     a deliberately bad option of its own placed last (exit 2, that option named, no pipeline
#     option blamed);
#   - a bad or missing value of each pipeline option is refused before any work: exit 2 (usage,
#     as every usage error of the tools) and one clear message "sso CMD: bad value for OPT: 'V'
#     (...)" or "sso CMD: OPT needs a value".
set -u
T=${SSO_TEST_TMP:-$(mktemp -d)}
mkdir -p "$T"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# the command line before the options, and a bad option of the command's own to end with
pre() {
    case $1 in
        run) echo "run $T/none1 $T/none2 $T/none3 $T/none4 --out $T/out" ;;
        watch) echo "watch $T/in --store $T/x.db" ;;
        bench) echo "bench --data $T/nodata --out $T/noout" ;;
    esac
}
tail_bad() {
    case $1 in
        run) echo "--linger -1" ;;
        watch) echo "--poll-ms 1" ;;
        bench) echo "--repeat 0" ;;
    esac
}

for c in run watch bench; do
    "$SSO_BIN" $c --help > "$T/help-$c" 2>&1 || fail "$c --help exit $?"
    sed -n '/^pipeline options/,/^$/p' "$T/help-$c" | sed 's/\[[^]]*\]$//' > "$T/block-$c"
    [ "$(wc -l < "$T/block-$c")" -ge 11 ] || fail "$c --help has no pipeline options block"
done
cmp -s "$T/block-run" "$T/block-watch" || fail "run and watch --help differ: $(diff "$T/block-run" "$T/block-watch")"
cmp -s "$T/block-run" "$T/block-bench" || fail "run and bench --help differ: $(diff "$T/block-run" "$T/block-bench")"

good=(--backend cpu --device 0 --threads 3 --vmax 2.5 --nu-min 6 --patch-size 1024 --no-cosmics
      --no-trail-bins --no-streak-veto --l2o-z 2.5 --no-static-gate --no-direct-fit --fast --no-fast
      --fast-lmax 300)
for c in run watch bench; do
    rc=0; "$SSO_BIN" $(pre $c) "${good[@]}" $(tail_bad $c) > "$T/out" 2> "$T/err" || rc=$?
    last=$(tail_bad $c | cut -d' ' -f1)
    [ $rc -eq 2 ] || fail "$c with every pipeline option: exit $rc, want 2 from $last"
    grep -q -- "$last" "$T/err" || fail "$c: the pipeline options were not all accepted: $(head -3 "$T/err")"
    grep -q "bad value for --\(backend\|device\|threads\|vmax\|nu-min\|patch-size\|fast-lmax\|l2o-z\)\|unknown option" "$T/err" &&
        fail "$c refused a good pipeline option: $(head -3 "$T/err")"
done

# option, bad value, text the message must hold
bad=("--backend|nonsense|bad value for --backend: 'nonsense' (cpu, cuda or auto)"
     "--device|-1|bad value for --device: '-1'"
     "--threads|0|bad value for --threads: '0' (1..256)"
     "--threads|3x|bad value for --threads: '3x' (1..256)"
     "--vmax|0|bad value for --vmax: '0' ((0, 100] arcsec/h)"
     "--vmax|abc|bad value for --vmax: 'abc'"
     "--nu-min|-2|bad value for --nu-min: '-2'"
     "--patch-size|100|bad value for --patch-size: '100' (more than twice the 128 px margin"
     "--fast-lmax|5|bad value for --fast-lmax: '5' (16..2000 px)"
     "--l2o-z|-1|bad value for --l2o-z: '-1' ([0, 100) sigma, 0: off)")
for c in run watch bench; do
    for b in "${bad[@]}"; do
        IFS='|' read -r opt val msg <<< "$b"
        rc=0; "$SSO_BIN" $(pre $c) "$opt" "$val" > "$T/out" 2> "$T/err" || rc=$?
        [ $rc -eq 2 ] || fail "$c $opt $val: exit $rc, want 2"
        grep -qF -- "sso $c: $msg" "$T/err" || fail "$c $opt $val: message '$(head -1 "$T/err")', want 'sso $c: $msg'"
        [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$c $opt $val: more than one line on stderr"
        [ -s "$T/out" ] && fail "$c $opt $val: wrote on stdout"
    done
    rc=0; "$SSO_BIN" $(pre $c) --threads > "$T/out" 2> "$T/err" || rc=$?
    [ $rc -eq 2 ] && grep -qF "sso $c: --threads needs a value" "$T/err" ||
        fail "$c --threads (no value): exit $rc, '$(head -1 "$T/err")'"
done
[ ! -e "$T/out" ] || [ ! -s "$T/out" ] || fail "something wrote output"
[ ! -e "$T/nodata" ] || fail "bench simulated data on a usage error"
[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo ok
