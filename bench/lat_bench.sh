#!/usr/bin/env bash
# lat_bench.sh - issue 17's latency row: the durable relay of row 2 at a fixed
# rate, per-event latency from the loader's scheduled send to the sink's receipt.
#
#   bench/lat_bench.sh OUT_DIR RATE [SOURCE]
#
# The relay is bench/peer-tremor.sh's (tcp onramp, lines -> qos::wal sync =
# "always" -> tcp offramp, lines; RELAY_CODEC json by default, RELAY_PERF=0).
# build/bench/lat_tool sink listens on LAT_PORT_OUT, the relay starts, and
# lat_tool load sends RATE x LAT_SECS events of LAT_SIZE bytes to LAT_PORT_IN,
# paced in bursts of at most 100 µs by CLOCK_MONOTONIC. Each line carries its
# scheduled send time; latency is measured from it (not from the actual write),
# so a relay that holds the loader back is charged for the wait (no coordinated
# omission). SOURCE says where RATE came from; it goes into the result.
# Writes OUT_DIR/latency/: result.txt (the sink's summary), load.txt, rate.txt
# ("RATE SOURCE..."), server.log. Nothing is judged here: report.py does.
# A relay too slow for RATE would stretch the step: the loader is stopped after
# LAT_MAX_SECS (30) and tells the sink how many it sent (the rest is "unsent",
# not lost). Knobs: LAT_SECS (10), LAT_SIZE (100), LAT_TIMEOUT (15: seconds
# without a new event before the sink gives up), LAT_MAX_SECS (30), LAT_PORT_IN / LAT_PORT_OUT (26220 / 26221),
# LAT_DIR ($PB_ROOT/latency, the WAL's directory: the peers' filesystem),
# LAT_RT (unset; 1 = loader, sink and server under SCHED_FIFO via chrt, root:
# separates the relay's latency from other load on a shared machine),
# LAT_TOOL_BIN (build/bench/lat_tool), TREMOR_BIN, and peer-tremor.sh's
# RELAY_CODEC / WAL_READ_COUNT / WAL_MAX_IN_FLIGHT.
# Then, on the WAL's file system, build/bench/cpu_stall (CPU_STALL_BIN;
# LAT_STALL_SECS, 3 s per phase, 0 = skip) measures how much of the time this
# machine runs no thread at all, spinning only and with a disk syncing beside
# it, into OUT_DIR/latency/stall.txt: a latency cannot be smaller than the
# machine's own stalls.
set -u
[ $# -ge 2 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
OUT=$1/latency
RATE=$2
SOURCE=${3:-given}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TOOL=${LAT_TOOL_BIN:-$ROOT/build/bench/lat_tool}
SECS=${LAT_SECS:-10}
SIZE=${LAT_SIZE:-100}
TIMEOUT=${LAT_TIMEOUT:-15}
MAXS=${LAT_MAX_SECS:-30}
STALL=${CPU_STALL_BIN:-$ROOT/build/bench/cpu_stall}
STALL_SECS=${LAT_STALL_SECS:-3}
PIN=${LAT_PORT_IN:-26220}
POUT=${LAT_PORT_OUT:-26221}
DIR=${LAT_DIR:-${PB_ROOT:-/tmp/peerbench}/latency}
case "$RATE$SECS$SIZE$TIMEOUT$MAXS$PIN$POUT$STALL_SECS" in *[!0-9]*) echo "lat_bench: rate and knobs must be numbers" >&2; exit 64 ;; esac
[ "$RATE" -gt 0 ] || { echo "lat_bench: rate must be > 0" >&2; exit 64; }
[ -x "$TOOL" ] || { echo "lat_bench: $TOOL is not built (make build/bench/lat_tool)" >&2; exit 1; }
N=$((RATE * SECS))
RT=()
if [ -n "${LAT_RT:-}" ] && command -v chrt > /dev/null; then RT=(chrt -f 10); fi
mkdir -p "$OUT"
rm -rf "$DIR"
mkdir -p "$DIR"
echo "$RATE $SOURCE" > "$OUT/rate.txt"
rm -f "$OUT/result.txt" "$OUT/load.txt" "$OUT/stall.txt"

spid="" tpid=""
stop() {
    [ -n "$tpid" ] && kill "$tpid" 2> /dev/null && wait "$tpid" 2> /dev/null
    [ -n "$spid" ] && kill "$spid" 2> /dev/null && wait "$spid" 2> /dev/null
    tpid="" spid=""
}
trap stop EXIT

"${RT[@]}" "$TOOL" sink "$POUT" "$N" "$TIMEOUT" "$OUT/result.txt" > "$OUT/sink.out" 2>&1 &
spid=$!
for _ in $(seq 1 100); do grep -q listening "$OUT/sink.out" 2> /dev/null && break; sleep 0.05; done
grep -q listening "$OUT/sink.out" || { echo "lat_bench: sink did not start:" >&2; cat "$OUT/sink.out" >&2; exit 1; }

RELAY_PERF=0 "${RT[@]}" "$HERE/peer-tremor.sh" "$PIN" "$POUT" "$DIR" > "$OUT/server.log" 2>&1 &
tpid=$!
# lat_tool load retries its connect until the onramp listens (10 s); SIGTERM
# after LAT_MAX_SECS makes it stop and send its count, SIGKILL 5 s later if stuck
timeout -k 5 "$MAXS" "${RT[@]}" "$TOOL" load "$PIN" "$RATE" "$N" "$SIZE" > "$OUT/load.txt" 2>&1 || {
    echo "lat_bench: loader failed:" >&2
    cat "$OUT/load.txt" >&2
}
# the sink ends by itself: all N arrived, or LAT_TIMEOUT s without a new one
wait "$spid"
spid=""
stop
if [ "$STALL_SECS" -gt 0 ]; then
    if [ -x "$STALL" ]; then
        "$STALL" "$DIR" "$STALL_SECS" > "$OUT/stall.txt" 2>&1 || echo "lat_bench: cpu_stall failed" >&2
    else
        echo "lat_bench: $STALL is not built (make build/bench/cpu_stall); no stall figures" >&2
    fi
fi
rm -rf "$DIR"
if [ ! -s "$OUT/result.txt" ]; then
    echo "lat_bench: the sink wrote no result; see $OUT/sink.out and $OUT/server.log" >&2
    exit 1
fi
cat "$OUT/load.txt" "$OUT/result.txt" >&2
[ -s "$OUT/stall.txt" ] && cat "$OUT/stall.txt" >&2
exit 0
