#!/usr/bin/env bash
# mallocs.sh - heap allocations per event on the durable relay (the path of profile.sh relay).
#
#   bench/mallocs.sh [N] [TOP]     (N events of 100 bytes, default 200000; TOP call sites, default 15)
#
# Counts every malloc/calloc/realloc of libc the server makes while pbtool
# pushes N events through tcp -> qos::wal (sync = "always") -> tcp: perf
# uprobes on libc (perf probe, needs root), counted in the kernel by perf stat,
# so the count is exact whatever the load on the machine (only the time is
# not: each probe hit traps, so the run is ~30x slower than the relay).
# Prints the totals, the allocations per event, and (second run, N/10 events)
# the call sites by their first callers in tremor, per event: perf drops some
# of the call-graph samples, so each site's share of the samples is scaled to
# the exact total of the first run (approximate, to rank the sites).
# Removes the probes it added. Env: TREMOR_BIN, PB_ROOT, SHARED as profile.sh.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
PB=${PB_ROOT:-/tmp/peerbench}
n=${1:-200000}
top=${2:-15}
case "$n$top" in *[!0-9]*) sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64 ;; esac
command -v perf > /dev/null || { echo "mallocs: perf is not installed" >&2; exit 1; }
D=${MALLOCS_DIR:-/tmp/tremor-mallocs}
rm -rf "$D"
mkdir -p "$D"
LIBC=$(ldd "${TREMOR_BIN:-$ROOT/build/tremor}" | awk '/libc\.so/ { print $3 }')
added=""
for f in malloc calloc realloc; do
    perf probe -l 2> /dev/null | grep -q "probe_libc:$f " && continue
    perf probe -q -x "$LIBC" -a "$f" || { echo "mallocs: cannot add a uprobe on $f (root?)" >&2; exit 1; }
    added="$added probe_libc:$f"
done
cleanup() { for p in $added; do perf probe -q -d "$p"; done; }
trap cleanup EXIT
pbtool=$PB/bin/pbtool
[ -x "$pbtool" ] || { cc -O2 -o "$D/pbtool" "$SHARED/bench/peers/pbtool.c" && pbtool=$D/pbtool; } || exit 1

# run N events through the relay while "$@" watches the server (perf, -p)
relay() {
    local k=$1 out=$2
    shift 2
    local pin=25970 pout=25971
    "$pbtool" sink "$pout" "$k" "$out.ready" 600 5 > "$out.sink" 2>&1 &
    local sink=$!
    RELAY_PERF=0 "$HERE/peer-tremor.sh" "$pin" "$pout" "$out.run" > "$out.server" 2>&1 &
    local server=$!
    "$pbtool" waitport "$pin" 20 > /dev/null || { echo "mallocs: relay did not start" >&2; kill "$server" "$sink"; return 1; }
    "$@" -p "$server" > /dev/null 2>&1 &
    local rec=$!
    # perf holds its counters open before the load starts
    for _ in $(seq 1 100); do
        find "/proc/$rec/fd" -lname '*perf_event*' 2> /dev/null | grep -q . && break
        sleep 0.05
    done
    "$pbtool" load "$pin" "$k" 100 > "$out.load"
    wait "$sink"
    kill -INT "$rec"
    wait "$rec"
    kill -TERM "$server"
    wait "$server"
    rm -rf "$out.run"
    grep -q "end=complete" "$out.sink" || { echo "mallocs: sink: $(cat "$out.sink")" >&2; return 1; }
}

relay "$n" "$D/count" perf stat -x, -e probe_libc:malloc,probe_libc:calloc,probe_libc:realloc -o "$D/stat.csv" || exit 1
per=$(awk -F, -v n="$n" '$3 ~ /probe_libc/ { t += $1 } END { printf "%.4f", t / n }' "$D/stat.csv")
awk -F, -v n="$n" '$3 ~ /probe_libc/ { sub("probe_libc:", "", $3); c[$3] = $1; t += $1 }
    END { printf "relay, %d events of 100 B: malloc %d, calloc %d, realloc %d = %.2f allocations per event\n",
          n, c["malloc"], c["calloc"], c["realloc"], t / n }' "$D/stat.csv"

k=$((n / 10))
relay "$k" "$D/sites" perf record -e probe_libc:malloc,probe_libc:calloc,probe_libc:realloc \
    --call-graph dwarf,4096 -o "$D/perf.data" || exit 1
echo "call sites per event (first callers in tremor; $k events sampled, scaled to $per per event):"
perf script -i "$D/perf.data" 2> /dev/null | awk -v per="$per" -v top="$top" '
    /^[^ \t]/ { if (key != "") c[key]++; key = ""; depth = 0; next }
    NF >= 2 {
        s = $2; sub(/\+0x.*/, "", s)
        if (s ~ /^(__GI___libc_(malloc|calloc|realloc)|__libc_(malloc|calloc|realloc)|malloc|calloc|realloc|tr_malloc|tr_calloc|tr_realloc|tr_grow)$/) next
        if (depth < 3) { key = key (depth ? " < " : "") s; depth++ }
    }
    END {
        if (key != "") c[key]++
        for (k in c) t += c[k]
        for (k in c) printf "%8.2f  %s\n", c[k] / t * per, k
    }' | sort -rn | head -n "$top"
