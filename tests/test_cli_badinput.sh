#!/usr/bin/env bash
# tests/test_cli_badinput.sh: `sso info` on bad input: exit code 3 (bad data) or 4 (missing file),
# a message on stderr naming the file, and nothing on stdout. Inputs are made here by
# sso_test_mkfits (tests/support/mkfits_main.c, via $SSO_MKFITS), which prints the path the
# message must name. A good quartet, and one with a damaged checksum read without verification,
# must pass (exit 0, output on stdout).
set -u
: "${SSO_BIN:?SSO_BIN not set}"
if [ -z "${SSO_MKFITS:-}" ] || [ ! -x "${SSO_MKFITS}" ]; then
    echo "SKIP: SSO_MKFITS (the test FITS writer) is not available"
    exit 77
fi
TMP="${SSO_TEST_TMP:-$(mktemp -d)}"
mkdir -p "$TMP"
fails=0

# run <expected exit code> <text stderr must contain, or ""> <args...>
run() {
    local want="$1" needle="$2"
    shift 2
    "$SSO_BIN" info "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: sso info $* -> exit $rc, expected $want"
        sed 's/^/  stderr: /' "$TMP/err"
        fails=$((fails + 1))
        return
    fi
    if [ "$want" -ne 0 ]; then
        if [ -s "$TMP/out" ]; then
            echo "FAIL: sso info $* wrote to stdout on error:"
            head -3 "$TMP/out" | sed 's/^/  stdout: /'
            fails=$((fails + 1))
        fi
        if [ -n "$needle" ] && ! grep -qF -- "$needle" "$TMP/err"; then
            echo "FAIL: sso info $*: stderr does not name '$needle':"
            sed 's/^/  stderr: /' "$TMP/err"
            fails=$((fails + 1))
        fi
        if [ "$want" -ge 3 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
            echo "FAIL: sso info $*: expected one line on stderr:"
            sed 's/^/  stderr: /' "$TMP/err"
            fails=$((fails + 1))
        fi
    else
        if ! grep -q '^ingest: ' "$TMP/out"; then
            echo "FAIL: sso info $*: no ingest line on stdout"
            fails=$((fails + 1))
        fi
    fi
    echo "ok: exit $rc: sso info $(basename -- "${!#}") ${needle:+(names $(basename -- "$needle"))}"
}

make_case() { # make_case <case> -> prints the blamed path
    rm -rf "${TMP:?}/$1"
    "$SSO_MKFITS" "$1" "$TMP/$1" || { echo "FAIL: sso_test_mkfits $1" >&2; exit 1; }
}

# good input
make_case good >/dev/null
run 0 "" "$TMP/good"
run 0 "" "$TMP"/good/*.fits
make_case good-compressed >/dev/null
run 0 "" "$TMP/good-compressed"
make_case good-checksum >/dev/null
run 0 "" "$TMP/good-checksum" --verify-checksum

# bad data: exit 3, the message names the file and says what is wrong (sso_strerror's words)
while IFS='|' read -r c words; do
    blame=$(make_case "$c")
    run 3 "$(basename -- "$blame")" "$TMP/$c"
    if ! grep -qF -- "$words" "$TMP/err"; then
        echo "FAIL: case $c: stderr does not say '$words':"
        sed 's/^/  stderr: /' "$TMP/err"
        fails=$((fails + 1))
    fi
done <<'EOF'
notfits|not a FITS file
truncated|truncated FITS file
missing-ext|missing extension
bitpix|wrong pixel type
size|image size mismatch
nowcs|no usable celestial WCS
notime|no exposure time information
obsid|exposures from different observations
dupdither|duplicate dither
allnan|detector has no finite pixel
corrupt-tile|corrupt data
EOF
blame=$(make_case bad-checksum)
run 0 "" "$TMP/bad-checksum"
run 3 "$(basename -- "$blame")" "$TMP/bad-checksum" --verify-checksum
# 3 and 5 exposures, as a directory and as files
for c in three five; do
    blame=$(make_case "$c")
    run 3 "$blame" "$blame"
    run 3 "" "$TMP/$c"/*.fits
done

# missing file: exit 4
files=("$TMP"/good/*.fits)
run 4 "$TMP/good/nonexistent.fits" "${files[0]}" "${files[1]}" "${files[2]}" "$TMP/good/nonexistent.fits"
run 4 "$TMP/no-such-dir" "$TMP/no-such-dir"

# usage: exit 2
run 2 "" 
run 2 "unknown option" "$TMP/good" --no-such-option
run 2 "" "$TMP/good" --backend nonsense

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "all passed"
