#!/usr/bin/env bash
# relay-counts.sh - CPU cost per event of the durable relay (the path of profile.sh relay),
# in counts that the load on the machine does not move.
#
#   bench/relay-counts.sh [N] [CG_N]     (N events of 100 B, default 1000000; CG_N, default 100000)
#
# First run: pbtool pushes N events through tcp -> qos::wal (sync = "always")
# -> tcp while `perf stat -p` counts the server's system calls by kind
# (syscall tracepoints, in-kernel counters) and its task-clock; then the
# user and system CPU time of each of its threads (from /proc, before it
# stops), per event. The system call counts do not depend on the load; the
# CPU times do, somewhat (a shared core evicts caches), and the wall time
# printed last does a lot. Second run (skipped with CG_N = 0): CG_N events
# under valgrind's callgrind, zeroed once the relay listens and dumped once
# the sink has everything: instructions per event, exact whatever the load,
# and calls per event of the clock, the mutex and malloc (vdso clock reads
# are not system calls, so only this run sees them). Under callgrind the
# server runs ~50x slower, so its batches (events per loop turn, per write)
# differ from the first run's. Env: TREMOR_BIN, PB_ROOT, SHARED as
# profile.sh; COUNTS_DIR (/tmp/tremor-counts).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
PB=${PB_ROOT:-/tmp/peerbench}
TREMOR=${TREMOR_BIN:-$ROOT/build/tremor}
n=${1:-1000000}
cgn=${2:-100000}
case "$n$cgn" in *[!0-9]*) sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64 ;; esac
command -v perf > /dev/null || { echo "relay-counts: perf is not installed" >&2; exit 1; }
D=${COUNTS_DIR:-/tmp/tremor-counts}
rm -rf "$D"
mkdir -p "$D"
pbtool=$PB/bin/pbtool
[ -x "$pbtool" ] || { cc -O2 -o "$D/pbtool" "$SHARED/bench/peers/pbtool.c" && pbtool=$D/pbtool; } || exit 1

# relay K OUT BIN WATCH...: K events through the relay run by BIN; WATCH
# (a function) is called with the server's pid once it listens, before the
# load, and again with "end" once the sink has everything.
relay() {
    local k=$1 out=$2 bin=$3 watch=$4
    local pin=$((30000 + RANDOM % 20000))
    local pout=$((pin + 1))
    "$pbtool" sink "$pout" "$k" "$out.ready" 600 10 > "$out.sink" 2>&1 &
    local sink=$!
    TREMOR_BIN=$bin RELAY_PERF=0 "$HERE/peer-tremor.sh" "$pin" "$pout" "$out.run" > "$out.server" 2>&1 &
    local server=$!
    "$pbtool" waitport "$pin" 120 > /dev/null || { echo "relay-counts: relay did not start" >&2; kill "$server" "$sink"; return 1; }
    "$watch" start "$server"
    local t0 t1
    t0=$(date +%s.%N)
    "$pbtool" load "$pin" "$k" 100 > "$out.load"
    wait "$sink"
    t1=$(date +%s.%N)
    "$watch" end "$server"
    for t in /proc/"$server"/task/*; do
        echo "$(cat "$t/comm") $(cut -d' ' -f14,15 "$t/stat")"
    done > "$out.threads"
    kill -TERM "$server"
    wait "$server"
    rm -rf "$out.run"
    grep -q "end=complete" "$out.sink" || { echo "relay-counts: sink: $(cat "$out.sink")" >&2; return 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' > "$out.wall"
}

rec=""
stat_watch() {
    if [ "$1" = start ]; then
        local ev=task-clock,context-switches s
        for s in read readv recvfrom write writev sendmsg sendto pwrite64 pwritev fdatasync fsync futex \
            epoll_wait epoll_pwait clock_gettime mmap munmap brk; do
            ev="$ev,syscalls:sys_enter_$s"
        done
        perf stat -x, -e "$ev" -p "$2" -o "$D/stat.csv" > /dev/null 2>&1 &
        rec=$!
        # perf holds its counters open before the load starts
        for _ in $(seq 1 100); do
            find "/proc/$rec/fd" -lname '*perf_event*' 2> /dev/null | grep -q . && break
            sleep 0.05
        done
    else
        kill -INT "$rec"
        wait "$rec"
    fi
}
relay "$n" "$D/stat" "$TREMOR" stat_watch || exit 1
tck=$(getconf CLK_TCK)
echo "relay, $n events of 100 B (perf stat -p, syscall tracepoints):"
awk -F, -v n="$n" '/^#/ || NF < 3 { next }
    $3 == "task-clock" { printf "  %-34s %8.3f us/event (all threads)\n", $3, $1 * 1000 / n; next }
    $1 > 0 { sub("syscalls:sys_enter_", "", $3); printf "  %-34s %8.4f /event  (%d)\n", $3, $1 / n, $1 }' "$D/stat.csv"
awk -v n="$n" -v tck="$tck" '$2 + $3 > 0 { printf "  thread %-15s user %.3f sys %.3f us/event\n", $1, $2 * 1e6 / tck / n, $3 * 1e6 / tck / n }' "$D/stat.threads"
awk -v n="$n" '{ printf "  wall %.2f s, %.0f events/s (moves with the load on the machine)\n", $1, n / $1 }' "$D/stat.wall"

[ "$cgn" -gt 0 ] || exit 0
command -v valgrind > /dev/null || { echo "relay-counts: valgrind is not installed (callgrind run skipped)" >&2; exit 0; }
cat > "$D/cg-wrap.sh" << EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$D/cg.out.%p "$TREMOR" "\$@"
EOF
chmod +x "$D/cg-wrap.sh"
cg_watch() {
    if [ "$1" = start ]; then
        sleep 1   # the server's start-up is still settling under callgrind
        callgrind_control -z "$2" > /dev/null 2>&1
    else
        callgrind_control -d "$2" > /dev/null 2>&1
    fi
}
relay "$cgn" "$D/cg" "$D/cg-wrap.sh" cg_watch || exit 1
dump=$(find "$D" -name 'cg.out.*.1' | head -n 1)
[ -n "$dump" ] || { echo "relay-counts: callgrind wrote no dump" >&2; exit 1; }
echo "relay, $cgn events under callgrind (dump after the zero: the relay's work only):"
awk -v n="$cgn" '/^summary:/ { printf "  instructions %10.0f /event\n", $2 / n }' "$dump"
# calls of a few functions: the sums of their callers' call counts
callgrind_annotate --auto=no --inclusive=yes --tree=caller --threshold=100 "$dump" 2> /dev/null |
    awk -v n="$cgn" '
    /\)  \*  / {
        split("clock_gettime@@|pthread_mutex_lock@@|malloc.c:malloc [|tr_lang_err_clear|__strcmp", f, "|")
        for (i in f) if (index($0, f[i]) && !seen[i]++) { name = f[i]; sub(/ \[$/, "", name); printf "  calls %-24s %8.3f /event\n", name, t / n }
        t = 0; next
    }
    /\)  < / { if (match($0, /\([0-9,]+x\)/)) { s = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", s); t += s } next }
    { t = 0 }'
