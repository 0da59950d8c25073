#!/usr/bin/env bash
# reopen_bench.sh - issue 17: reopen of a WAL holding REOPEN_GB GB of unacked
# records: time to the first emitted event (< 1 s) and RSS flat.
#
#   bench/reopen_bench.sh OUT_DIR      (writes OUT_DIR/reopen/rows.md and raw files)
#
# The relay of peer-tremor.sh (tcp -> qos::wal sync = "always" -> tcp, 100-byte
# events from pbtool load) with its sink down (the offramp points at a port
# nobody listens on), so nothing is acknowledged. max_elements = N makes the
# operator log "WAL full (N events, B bytes)" once every event is stored, N
# chosen so the WAL holds about REOPEN_GB GiB. The fill uses the same sync =
# "always" as the reopen (WAL_SYNC is not changed for the fill), so the reopen
# reads exactly what a durable relay leaves on disk.
# Then the server is killed with SIGKILL (the harder case: no close, no final
# checkpoint; recovery scans the tail) and bench/reopen_sink.py listens on the
# offramp's port and restarts the server on the same files, timing server exec
# -> first event at the sink (the WAL's files dropped from the page cache first,
# REOPEN_COLD=1, so the reopen reads the disk), reading VmHWM at that first
# event and after REOPEN_DRAIN_S (5) s of draining (the sink reading no faster
# than REOPEN_SINK_RATE, 400000 events/s, so the relay's in-flight window is
# full, the most a drain holds, in every run whatever the machine's speed:
# unpaced, how full it got varied from run to run by more than 2x), then stopping it and reading
# the socket to its end, and checking the ids come in order with no gap from
# the oldest unacknowledged one (0 the first time; later at or before the id
# after the last one received: replays are allowed, gaps are not). That is
# repeated 2 x REOPEN_REPS (3) times on the same WAL, each taking up where the
# last left off: the first REOPEN_REPS - 1 servers are stopped by SIGKILL, the
# rest by SIGTERM, so REOPEN_REPS reopens follow a SIGKILL and REOPEN_REPS a
# clean close. Baselines, REOPEN_REPS runs each; "flat" (reopen_rows.py) =
#  - median VmHWM at the first event within +-10% of a reopen of a REOPEN_SMALL
#    (10000)-event WAL (what opening costs; that WAL is drained completely,
#    every id checked), and
#  - median VmHWM after REOPEN_DRAIN_S of draining at most 10% above the same drain of a
#    REOPEN_MEDIUM (20000000)-event WAL (~2.3 GB, still draining after 5 s even
#    unpaced: an idle server holds less than a draining one). Draining holds up to
#    max_in_flight (65536 by default) events in the pipeline and the sink's
#    buffers whatever the backlog, which a 10000-event WAL never reaches, so
#    the drain is compared with a backlog big enough to fill that window too;
#    the paced sink keeps it full in both, and only growth is a backlog cost,
#    so this one is one-sided.
# The time target holds when every reopen of the big WAL is under 1 s.
# Skips with a "not run: N GB free" row unless REOPEN_GB * 1.5 GiB are free
# under REOPEN_DIR. The WALs are removed afterwards (KEEP_BUFFERS=1 keeps them).
# Env: REOPEN_GB (10), REOPEN_SMALL (10000), REOPEN_MEDIUM (20000000), REOPEN_DRAIN_S (5),
#      REOPEN_SINK_RATE (400000; 0 = the sink reads as fast as it can), REOPEN_DIR
#      ($PB_ROOT/reopen), REOPEN_PORT (26100), REOPEN_REPS (3),
#      REOPEN_COLD (1; 0 = reopen from a warm page cache),
#      EVENT_SIZE (100), PB_ROOT (/tmp/peerbench, for pbtool), TREMOR_BIN.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared}
PY=/usr/bin/python3
PB=${PB_ROOT:-/tmp/peerbench}
GB=${REOPEN_GB:-10}
SMALL=${REOPEN_SMALL:-10000}
MEDIUM=${REOPEN_MEDIUM:-20000000}
DRAIN=${REOPEN_DRAIN_S:-5}
export REOPEN_SINK_RATE=${REOPEN_SINK_RATE:-400000}
BASE=${REOPEN_DIR:-$PB/reopen}
port=${REOPEN_PORT:-26100}
size=${EVENT_SIZE:-100}
[ $# -eq 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
OUT=$1/reopen
case "$GB$SMALL$MEDIUM$DRAIN$port$size$REOPEN_SINK_RATE" in *[!0-9.]*) echo "reopen_bench: REOPEN_*, EVENT_SIZE must be numbers" >&2; exit 64 ;; esac
mkdir -p "$OUT" "$BASE"
rows=$OUT/rows.md
header() {
    echo "| reopen target (issue 17) | figure | target | |"
    echo "|---|---|---|---|"
}

pbtool=$PB/bin/pbtool
if [ ! -x "$pbtool" ]; then
    pbtool=$BASE/pbtool
    cc -O2 -o "$pbtool" "$SHARED/bench/peers/pbtool.c" || { echo "reopen_bench: cannot build pbtool" >&2; exit 1; }
fi

need_kb=$(awk -v g="$GB" 'BEGIN { printf "%.0f", g * 1.5 * 1048576 }')
free_kb=$(df -Pk "$BASE" | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt "$need_kb" ]; then
    free_gb=$(awk -v k="${free_kb:-0}" 'BEGIN { printf "%.1f", k / 1048576 }')
    { header
      echo "| reopen of a WAL holding $GB GB unacked | not run: $free_gb GB free (needs $(awk -v g="$GB" 'BEGIN { print g * 1.5 }')) | < 1 s | not run |"
      echo "| RSS flat on that reopen | not run | +-10% of a $SMALL-event WAL | not run |"
      echo "| no loss after that reopen | not run | from the oldest unacked, in order | not run |"
    } > "$rows"
    cat "$rows"
    exit 0
fi

kv() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
now_s() { date +%s.%N; }

PIDS=""
stop() {   # stop PID SIGNAL: signal it and wait (bounded) until it is gone
    kill -"$2" "$1" 2> /dev/null
    for _ in $(seq 1 600); do kill -0 "$1" 2> /dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2> /dev/null
}
# shellcheck disable=SC2317  # (the EXIT trap)
cleanup() { for p in $PIDS; do kill -KILL "$p" 2> /dev/null; done; }
trap cleanup EXIT

# fill DIR N: relay with its sink down, N events loaded; sets FILL ("events bytes fill_s")
# and FILL_PID (the server, still running)
fill() {
    local d=$1 n=$2 p_in=$port p_out=$((port + 1))
    rm -rf "$d"
    mkdir -p "$d"
    # room for the whole backlog: 4 GiB (peer-tremor's default) would refuse it
    WAL_MAX_ELEMENTS=$n WAL_MAX_BYTES=$((n * (size + 40) + 1073741824)) RELAY_PERF=0 \
        "$HERE/peer-tremor.sh" "$p_in" "$p_out" "$d" > "$d/server.log" 2>&1 &
    local srv=$!
    PIDS="$PIDS $srv"
    FILL_PID=$srv FILL="0 0 NA"
    "$pbtool" waitport "$p_in" 20 > /dev/null 2>&1 || return 1
    local t0
    t0=$(now_s)
    "$pbtool" load "$p_in" "$n" "$size" > "$d/load.out" 2> "$d/load.err" || return 1
    local limit=$((120 + n / 20000)) line=""
    for _ in $(seq 1 $((limit * 10))); do
        line=$(grep -m1 "WAL full (" "$d/server.log") && break
        kill -0 "$srv" 2> /dev/null || break
        sleep 0.1
    done
    local f
    f=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
    FILL="0 0 $f"
    [ -n "$line" ] || return 1
    FILL="$(printf "%s" "$line" | sed -nE 's/.*WAL full \(([0-9]+) events, ([0-9]+) bytes.*/\1 \2/p') $f"
}

# reopen DIR EXPECT_FIRST [EXPECT_ALL]: sets R (reopen_sink.py's line) and REOPEN_PID
# (the server; reopen_sink.py has stopped it with SIGTERM and waited for it)
reopen() {
    R=$("$PY" "$HERE/reopen_sink.py" "$1" $((port + 1)) "$DRAIN" "$2" ${3:+"$3"} 2>> "$OUT/sink.err")
    REOPEN_PID=$(kv "$R" pid)
    [ -n "$REOPEN_PID" ] && PIDS="$PIDS $REOPEN_PID"
}

REPS=${REOPEN_REPS:-3}
ok_dir() { [ "${KEEP_BUFFERS:-0}" = 1 ] || rm -rf "$1"; }

# --- baselines, REPS times each: a small WAL (SIGKILL, reopen, drain it all)
# and a medium one (SIGKILL, reopen, drain DRAIN_S)
: > "$OUT/small.txt"
: > "$OUT/medium.txt"
for rep in $(seq 1 "$REPS"); do
    for kind in small medium; do
        d=$BASE/$kind
        if [ $kind = small ]; then fill "$d" "$SMALL"; else fill "$d" "$MEDIUM"; fi
        stop "$FILL_PID" KILL 2> /dev/null
        wait "$FILL_PID" 2> /dev/null
        if [ $kind = small ]; then reopen "$d" 0 "$SMALL"; else reopen "$d" 0; fi
        echo "fill=\"$FILL\" $R" >> "$OUT/$kind.txt"
        echo "$kind $rep: $R" >&2
        ok_dir "$d"
        port=$((port + 2))
    done
done

# --- the big WAL: filled once and SIGKILLed, then 2 x REPS reopens in a row,
# each draining DRAIN_S from where the last left off; the first REPS - 1 are
# stopped by SIGKILL, the rest by SIGTERM, so REPS reopens follow a SIGKILL
# and REPS a SIGTERM (clean close)
n=$("$PY" -c "print(int($GB * 2**30 / ($size + 20)))")
db=$BASE/big
echo "reopen: filling $n events of $size B (about $GB GiB of WAL), sink down" >&2
fill "$db" "$n"
read -r b_ev b_bytes b_fill <<< "$FILL"
stop "$FILL_PID" KILL 2> /dev/null
wait "$FILL_PID" 2> /dev/null
echo "events=$b_ev bytes=$b_bytes fill_s=$b_fill sync=always wal_du=$(du -sb "$db/buf/wal" | awk '{ print $1 }')" |
    tee "$OUT/fill.txt" >&2
: > "$OUT/kill.txt"
: > "$OUT/term.txt"
next=0 prev=kill
for i in $(seq 1 $((2 * REPS))); do
    [ "$next" -lt "${b_ev:-0}" ] || break   # drained completely: nothing left to time
    how=TERM
    [ "$i" -lt "$REPS" ] && how=KILL
    REOPEN_STOP=$how reopen "$db" "$next"
    echo "$R" >> "$OUT/$prev.txt"
    echo "big, reopen $i after SIG${prev^^}: $R" >&2
    prev=${how,,}
    last=$(kv "$R" last_id)
    case "$last" in *[!0-9]* | "") break ;; esac
    next=$((last + 1))
done
ok_dir "$db"

"$PY" "$HERE/reopen_rows.py" "$OUT" "$SMALL" "$MEDIUM" "$DRAIN" > "$rows"
cat "$rows"
exit 0
