#!/usr/bin/env bash
# tests/support/run_test.sh: runs one test (its command line as arguments) and empties its scratch
# folder, $SSO_TEST_TMP, when it passes or is skipped, so that a full `make test` does not hold
# every test's FITS files at once (~3 GB per build otherwise; a CI disk once ran out). A failing
# test keeps its files for inspection, and says where they are. SSO_KEEP_TEST_TMP=1 keeps all.
# The test's exit status is passed through unchanged (77 = SKIPPED for CTest).
set -u
: "${SSO_TEST_TMP:?SSO_TEST_TMP is not set (run the tests through ctest)}"
mkdir -p "$SSO_TEST_TMP"
"$@"
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
  [ "${SSO_KEEP_TEST_TMP:-0}" = 1 ] || find "$SSO_TEST_TMP" -mindepth 1 -delete
else
  echo "run_test: exit status $rc; the test's files are kept in $SSO_TEST_TMP" >&2
fi
exit "$rc"
