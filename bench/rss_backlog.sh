#!/usr/bin/env bash
# rss_backlog.sh - peak RSS of our server holding a backlog of N events in qos::wal.
#
#   bench/rss_backlog.sh [OUT_TSV]      (default: stdout only)
#
# For each N in BACKLOG_SIZES (default "10000 1000000 10000000"; the 10M point writes
# about 1.2 GB of WAL and took 13 s to fill on the 2-core machine): the
# relay of peer-tremor.sh (tcp -> qos::wal sync=always -> tcp) with
# max_elements = N and its sink down (the offramp points at a port nobody
# listens on), so nothing is ever acknowledged. pbtool loads N events of
# 100 B; the run waits (bounded) for the operator's own "WAL full (N events,
# B bytes)" line, which says every event is stored, then reads VmHWM/VmRSS of
# the server from /proc and stops it. One TSV line per N (header first):
#   n fill_s vmhwm_kb vmrss_kb start_hwm_kb wal_bytes bytes_per_record status
# "flat" means vmhwm at the largest N is within 10% of the smallest.
# It measures memory, not speed: fill_s includes startup-free ingest only.
# Env: BACKLOG_SIZES, BACKLOG_DIR (/tmp/tremor-backlog), BACKLOG_PORT (25900),
#      EVENT_SIZE (100), PB_ROOT (/tmp/peerbench, for pbtool), TREMOR_BIN.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared}
PB=${PB_ROOT:-/tmp/peerbench}
SIZES=${BACKLOG_SIZES:-"10000 1000000 10000000"}
BASE=${BACKLOG_DIR:-/tmp/tremor-backlog}
port=${BACKLOG_PORT:-25900}
size=${EVENT_SIZE:-100}
out=${1:-}
case "$SIZES$port$size" in *[!0-9\ ]*) echo "rss_backlog: BACKLOG_SIZES, BACKLOG_PORT, EVENT_SIZE must be numbers" >&2; exit 64 ;; esac

pbtool=$PB/bin/pbtool
if [ ! -x "$pbtool" ]; then
    mkdir -p "$BASE"
    pbtool=$BASE/pbtool
    cc -O2 -o "$pbtool" "$SHARED/bench/peers/pbtool.c" || { echo "rss_backlog: cannot build pbtool" >&2; exit 1; }
fi

header="n\tfill_s\tvmhwm_kb\tvmrss_kb\tstart_hwm_kb\twal_bytes\tbytes_per_record\tstatus"
printf '%b\n' "$header"
[ -n "$out" ] && printf '%b\n' "$header" > "$out"

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2> /dev/null; }
now_s() { date +%s.%N; }

SERVER=""
stop_server() {
    [ -n "$SERVER" ] || return 0
    kill -TERM "$SERVER" 2> /dev/null
    for _ in $(seq 1 300); do kill -0 "$SERVER" 2> /dev/null || break; sleep 0.1; done
    kill -0 "$SERVER" 2> /dev/null && kill -KILL "$SERVER" 2> /dev/null
    wait "$SERVER" 2> /dev/null
    SERVER=""
}
trap stop_server EXIT

for n in $SIZES; do
    d=$BASE/n$n
    rm -rf "$d"
    mkdir -p "$d"
    p_in=$port p_out=$((port + 1))
    port=$((port + 2))
    WAL_MAX_ELEMENTS=$n RELAY_PERF=0 "$HERE/peer-tremor.sh" "$p_in" "$p_out" "$d" > "$d/server.log" 2>&1 &
    SERVER=$!
    status=ok
    listening=0
    for _ in $(seq 1 20); do   # up to 20 s, but no longer than the server lives
        if "$pbtool" waitport "$p_in" 1 > /dev/null 2>&1; then listening=1; break; fi
        kill -0 "$SERVER" 2> /dev/null || break
    done
    if [ "$listening" = 0 ]; then
        status="not yet: $(grep -m1 -E '^error|ERROR' "$d/server.log" || tail -1 "$d/server.log")"
    fi
    start_hwm=$(status_kb "$SERVER" VmHWM)
    t0=$(now_s)
    fill=NA hwm=NA rss=NA bytes=NA per=NA
    if [ "$status" = ok ]; then
        "$pbtool" load "$p_in" "$n" "$size" > "$d/load.out" 2> "$d/load.err" || status="load failed: $(head -1 "$d/load.err")"
    fi
    if [ "$status" = ok ]; then
        # bounded wait for the WAL to say it holds all n events
        limit=$((60 + n / 20000))
        status="timeout after ${limit}s without 'WAL full'"
        for _ in $(seq 1 $((limit * 10))); do
            if grep -q "WAL full (" "$d/server.log"; then status=ok; break; fi
            kill -0 "$SERVER" 2> /dev/null || { status="server exited: $(tail -1 "$d/server.log")"; break; }
            sleep 0.1
        done
        fill=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
    fi
    if [ "$status" = ok ]; then
        hwm=$(status_kb "$SERVER" VmHWM)
        rss=$(status_kb "$SERVER" VmRSS)
        line=$(grep -m1 "WAL full (" "$d/server.log")
        ev=$(printf "%s" "$line" | sed -nE 's/.*WAL full \(([0-9]+) events, ([0-9]+) bytes[^)]*\).*/\1/p')
        bytes=$(printf "%s" "$line" | sed -nE 's/.*WAL full \(([0-9]+) events, ([0-9]+) bytes[^)]*\).*/\2/p')
        if [ -n "$ev" ] && [ "$ev" != "$n" ]; then status="WAL holds $ev events, not $n"; fi
        [ -n "$bytes" ] && [ -n "$ev" ] && [ "$ev" -gt 0 ] && per=$(awk -v b="$bytes" -v e="$ev" 'BEGIN { printf "%.1f", b / e }')
        bytes=${bytes:-NA}
    fi
    stop_server
    row=$(printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s" "$n" "$fill" "${hwm:-NA}" "${rss:-NA}" "${start_hwm:-NA}" "$bytes" "$per" "$status")
    printf "%s\n" "$row"
    [ -n "$out" ] && printf "%s\n" "$row" >> "$out"
    [ "${KEEP_BUFFERS:-0}" = 1 ] || rm -rf "$d/buf"
done
exit 0
