#!/bin/bash
# bench/watch_latency.sh: `sso watch` latency from the 4th exposure's arrival to the last alert.
#
# usage: bench/watch_latency.sh SSO_BINARY LABEL [watch options...]
#
# Simulates the demo quartet once (`sso sim --preset demo`, kept in $WORK/demo), then starts
# `sso watch` on an empty directory and lets the 4 exposures land one by one, every $GAP_S seconds
# (written under a temporary name and renamed, as a transfer would). When the observation is done
# the service is stopped and the latency the service recorded (the store's observations row:
# last file's arrival -> last alert published) is printed with the label, with the search time and
# the load average before and after. The gap gives the prep of exposures 1-3 time to finish before
# the 4th arrives; the binary without prep on arrival simply waits.
set -u
BIN=$1; LABEL=$2; shift 2
WORK=${WORK:-/tmp/sso-watch-latency}
GAP_S=${GAP_S:-12}
mkdir -p "$WORK"
if [ ! -f "$WORK/demo/truth.csv" ]; then
    "$BIN" sim --preset demo --out "$WORK/demo" --quiet >/dev/null || { echo "sim failed"; exit 1; }
fi
D="$WORK/run-$LABEL"; rm -rf "$D"; mkdir -p "$D/in"
F=( "$WORK"/demo/EUC_*.fits )
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$BIN" watch "$D/in" --out "$D/out" --publish "ipc://$D/pub" --replay "" --poll-ms 100 \
    --timeout-s 600 --role test "$@" >"$D/watch.log" 2>&1 &
W=$!
sleep 1
for f in "${F[@]}"; do
    cp "$f" "$D/in/.part" && mv "$D/in/.part" "$D/in/$(basename "$f")"
    [ "$f" = "${F[3]}" ] || sleep "$GAP_S"
done
for _ in $(seq 1 1200); do grep -q " done: " "$D/watch.log" && break; kill -0 $W 2>/dev/null || break; sleep 0.5; done
kill -TERM $W; wait $W
load1=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$D/out/alerts.db" "$LABEL" "$load0" "$load1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cols = [r[1] for r in db.execute("pragma table_info(observations)")]
row = dict(zip(cols, db.execute("select * from observations").fetchone()))
print(f"{sys.argv[2]}: status {row['status']}, {row.get('n_alerts')} alerts, latency "
      f"{row['latency_s']:.2f} s (4th arrival -> last alert); load average {sys.argv[3]} -> {sys.argv[4]}")
PY
grep -v '\[detector\]\|\[patch\]\|\[plan\]' "$D/watch.log" | grep "done:\|search on\|prepared on arrival" | sed 's/^/  /'
