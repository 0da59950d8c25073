#!/usr/bin/env bash
# profile.sh - where our server spends its CPU on a benchmark path (perf, call graphs).
#
#   bench/profile.sh passthrough|logging|relay [TOP]     (TOP entries, default 25)
#
# passthrough / logging: the cli-bench config (bench_pipe_passthrough_json /
# throughput-logging-json) for 2 + 6 s under `perf record`; relay: the durable
# relay of peer-tremor.sh under `perf record -p` while pbtool pushes
# PROFILE_N (1000000) events through it into pbtool's sink. Records call
# graphs (PROFILE_CALLGRAPH, default dwarf: build/tremor keeps no frame
# pointers) and prints two tables over all threads: the top symbols by self
# time, then by time including callees (children), so a helper that is cheap
# itself but calls malloc shows up. Also written to PROFILE_DIR/top.txt;
# perf.data stays in PROFILE_DIR (/tmp/tremor-profile/<path>) for
# `perf report -i`. Sampling only: it measures where time goes, not how fast
# the path is (that is run.sh), and on a shared machine the shares move.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
TREMOR=${TREMOR_BIN:-$ROOT/build/tremor}
PB=${PB_ROOT:-/tmp/peerbench}
what=${1:-}
top=${2:-25}
n=${PROFILE_N:-1000000}
case "$what" in passthrough | logging | relay) ;; *) sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64 ;; esac
case "$top$n" in *[!0-9]*) echo "profile: TOP and PROFILE_N must be numbers" >&2; exit 64 ;; esac
command -v perf > /dev/null || { echo "profile: perf is not installed" >&2; exit 1; }
cg=${PROFILE_CALLGRAPH:-dwarf}
D=${PROFILE_DIR:-/tmp/tremor-profile/$what}
rm -rf "$D"
mkdir -p "$D"

if [ "$what" != relay ]; then
    name=bench_pipe_passthrough_json
    [ "$what" = logging ] && name=throughput-logging-json
    WARMUP_SECS=2 STOP_AFTER_SECS=6 REPS_CLI=0 CLI_BENCHES=$name "$HERE/cli_bench.sh" "$D" || exit 1
    c=$D/cli/$name/config
    mkdir -p "$D/data"
    perf record -F 999 --call-graph "$cg" -o "$D/perf.data" -- "$TREMOR" server run -n -d "$D/data" -f "$c"/*.trickle "$c"/*.yaml \
        > "$D/server.out" 2> "$D/server.err"
    grep -E 'Throughput \(events\)' "$D/server.out" >&2
else
    pbtool=$PB/bin/pbtool
    [ -x "$pbtool" ] || { cc -O2 -o "$D/pbtool" "$SHARED/bench/peers/pbtool.c" && pbtool=$D/pbtool; } || exit 1
    pin=25950 pout=25951
    "$pbtool" sink "$pout" "$n" "$D/sink.ready" 120 5 > "$D/sink.out" 2>&1 &
    sink=$!
    RELAY_PERF=0 "$HERE/peer-tremor.sh" "$pin" "$pout" "$D/run" > "$D/server.err" 2>&1 &
    server=$!
    "$pbtool" waitport "$pin" 20 > /dev/null || { echo "profile: relay did not start" >&2; kill "$server" "$sink"; exit 1; }
    perf record -F "${PROFILE_FREQ:-999}" --call-graph "$cg" -p "$server" -o "$D/perf.data" > /dev/null 2>&1 &
    rec=$!
    "$pbtool" load "$pin" "$n" 100 > "$D/load.out"
    wait "$sink"
    kill -INT "$rec"
    wait "$rec"
    kill -TERM "$server"
    wait "$server"
    rm -rf "$D/run/buf"
    echo "sink: $(cat "$D/sink.out")" >&2
fi
# one table: perf's header and call chains dropped, a line per symbol; with
# callees, frames perf could not name (libuv without symbols, the chain's
# end) are dropped: each holds everything below it and tells nothing
table() {
    perf report -i "$D/perf.data" --stdio "$@" --sort comm,dso,symbol -g none --percent-limit 0.5 2> /dev/null |
        grep -v "^#" | grep -v "^$" | sed -E "s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//" |
        { if [ "$1" = --children ]; then grep -v -E "\] 0x[0-9a-f]+$"; else cat; fi; } | head -n "$top"
}
{
    echo "$what: self (perf report --no-children, top $top)"
    table --no-children
    echo
    echo "$what: with callees (perf report --children, top $top)"
    table --children
} | tee "$D/top.txt"
