#!/usr/bin/env bash
# ack_bench.sh - issue 10's delivery targets: how fast the offramps deliver
# with confirmation on, against themselves without it.
#
#   bench/ack_bench.sh OUT_DIR
#
# ws rows: the tutorial's own query (examples/persistent-wal: read_count = 20,
# max_elements = 1000, the WAL's default safety) fed by a blaster replaying
# ACK_EVENTS 100-byte lines, into the ws offramp; a second server receives on a
# ws onramp into a blackhole (warmup ACK_WARMUP_SECS, then ACK_SECS), whose
# printed events/s is the figure. Once with the default ack_mode ("pong"), once
# with ack_mode "tcp". Then the pong run again with the blaster paced at half
# the pong rate and ack_report: true: the sender prints its send -> peer
# confirmation histogram at exit; its p99 is the latency figure.
# (The lines have no "hostname": the query inserts it, and insert refuses an
# existing key.)
# relay rows: tcp -> qos::wal (sync = "always") -> tcp (bench/peer-tremor.sh)
# under ../shared/bench/peers/run-peer.sh with RELAY_N events, read_count 20
# and read_count 100000 (pbtool is built into ACK_PB_ROOT; no root needed).
# Writes OUT_DIR/ack/rows.md (the rows with pass or miss beside each) and the
# raw logs beside it. Each pair (pong/tcp, rc 20/100000) runs ACK_REPS (3) times,
# back to back; the rates are the medians, the ratios the medians of each
# pair's own ratio. Knobs: ACK_EVENTS (100000), ACK_WARMUP_SECS (2),
# ACK_SECS (5), ACK_MAX_IN_FLIGHT and ACK_MAX_ELEMENTS (unset: the query as it is), ACK_PIN, ACK_RT (unset), ACK_PACE (unset), RELAY_N (500000), ACK_PORT (26210), ACK_PB_ROOT
# (/tmp/ack-peerbench), RELAY_PORT_IN/OUT (26200/26201), ACK_NO_RELAY (set:
# skip the relay rows), TREMOR_BIN.
set -u
[ $# -eq 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
OUT=$1/ack
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
TREMOR=${TREMOR_BIN:-$ROOT/build/tremor}
PY=/usr/bin/python3
N=${ACK_EVENTS:-100000}
WARMUP=${ACK_WARMUP_SECS:-2}
SECS=${ACK_SECS:-5}
RELAY_N=${RELAY_N:-500000}
PORT=${ACK_PORT:-26210}
REPS=${ACK_REPS:-3}
PB=${ACK_PB_ROOT:-/tmp/ack-peerbench}
case "$N$WARMUP$SECS$RELAY_N$PORT$REPS" in *[!0-9]*) echo "ack_bench: knobs must be numbers" >&2; exit 64 ;; esac
[ -x "$TREMOR" ] || { echo "ack_bench: $TREMOR is not built" >&2; exit 1; }
mkdir -p "$OUT"
# ACK_PIN=1: receiver on CPU 0, sender (with its WAL sync thread) on CPU 1,
# to see how much of the latency tail is the two servers sharing cores
# ACK_RT=1 (root): both servers under SCHED_FIFO, so other processes on the
# machine cannot delay them; separates our latency from the machine's load
RX_PIN="" TX_PIN=""
if [ -n "${ACK_PIN:-}" ] && command -v taskset > /dev/null; then RX_PIN="taskset -c 0" TX_PIN="taskset -c 1"; fi
if [ -n "${ACK_RT:-}" ] && command -v chrt > /dev/null; then RX_PIN="$RX_PIN chrt -f 10" TX_PIN="$TX_PIN chrt -f 10"; fi

"$PY" - "$OUT/data.json" "$N" << 'PYEOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        head = '{"id":%d,"onramp":"blaster","ingest_ns":%d,"pad":"' % (i, 1764158000000000000 + i * 1370)
        f.write(head + "x" * max(1, 100 - len(head) - 3) + '"}\n')
PYEOF

# receiver DIR: ws onramp on PORT -> blackhole; it stops by itself
receiver() {
    mkdir -p "$1/rx"
    cat > "$1/rx/rx.trickle" << 'TEOF'
select event from in into out;
TEOF
    cat > "$1/rx/rx.yaml" << YEOF
onramp:
  - id: ws-in
    type: ws
    codec: json
    config:
      host: 127.0.0.1
      port: $PORT
offramp:
  - id: blackhole
    type: blackhole
    codec: json
    config:
      warmup_secs: $WARMUP
      stop_after_secs: $SECS
      significant_figures: 2
binding:
  - id: rx
    links:
      "/onramp/ws-in/{instance}/out": ["/pipeline/rx/{instance}/in"]
      "/pipeline/rx/{instance}/out": ["/offramp/blackhole/{instance}/in"]
mapping:
  /binding/rx/01:
    instance: "01"
YEOF
}

# sender DIR ACK_MODE [INTERVAL_NS]: blaster -> the tutorial query -> ws
sender() {
    local d=$1/tx mode=$2 interval=${3:-}
    mkdir -p "$d/data"
    cp "$ROOT/examples/persistent-wal/etc/tremor/config/persistent.trickle" "$d/"
    # ACK_MAX_IN_FLIGHT: try a window other than the operator's default
    [ -n "${ACK_MAX_IN_FLIGHT:-}" ] &&
        sed -i "s/^  read_count = 20,/  read_count = 20,\n  max_in_flight = $ACK_MAX_IN_FLIGHT,/" "$d/persistent.trickle"
    [ -n "${ACK_MAX_ELEMENTS:-}" ] && sed -i "s/max_elements = 1000,/max_elements = $ACK_MAX_ELEMENTS,/" "$d/persistent.trickle"
    {
        echo "onramp:"
        echo "  - id: blaster"
        echo "    type: blaster"
        echo "    codec: json"
        echo "    config:"
        echo "      source: $OUT/data.json"
        [ -n "$interval" ] && echo "      interval: $interval"
        echo "offramp:"
        echo "  - id: ws"
        echo "    type: ws"
        echo "    codec: json"
        echo "    config:"
        echo "      url: ws://127.0.0.1:$PORT/"
        [ "$mode" != default ] && echo "      ack_mode: $mode"
        echo "      ack_report: true"
        echo "binding:"
        echo "  - id: default"
        echo "    links:"
        echo "      \"/onramp/blaster/{instance}/out\": [\"/pipeline/persistent/{instance}/in\"]"
        echo "      \"/pipeline/persistent/{instance}/out\": [\"/offramp/ws/{instance}/in\"]"
        echo "mapping:"
        echo "  /binding/default/01:"
        echo "    instance: \"01\""
    } > "$d/tx.yaml"
}

# ws_run NAME ACK_MODE [INTERVAL_NS]: one receiver + sender pair; leaves
# NAME/rx.out (blackhole report) and NAME/tx.out (ack report)
ws_run() {
    local d=$OUT/$1
    rm -rf "$d"
    mkdir -p "$d"
    receiver "$d"
    sender "$d" "$2" "${3:-}"
    (cd "$d/rx" && exec $RX_PIN "$TREMOR" server run -n -f rx.trickle rx.yaml > ../rx.out 2> ../rx.err) &
    local rx=$!
    for _ in $(seq 1 100); do grep -q listening "$d/rx.err" 2> /dev/null && break; sleep 0.05; done
    (cd "$d/tx" && exec $TX_PIN "$TREMOR" server run -n -d data -f persistent.trickle tx.yaml > ../tx.out 2> ../tx.err) &
    local tx=$!
    wait "$rx"
    kill -TERM "$tx" 2> /dev/null
    for _ in $(seq 1 100); do kill -0 "$tx" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$tx" 2> /dev/null
    wait "$tx" 2> /dev/null
    rm -rf "$d/tx/data"
}

eps() { sed -n 's/^Throughput (events): \([0-9.]*\)k events\/s.*/\1/p' "$OUT/$1/rx.out" | awk '{ printf "%.0f", $1 * 1000 }'; }
# p99 of the sender's send -> confirmation histogram, in ns
p99() {
    awk '/send -> peer confirmation/ { on = 1; next } on && $2 + 0 >= 0.99 && $2 + 0 <= 1 { print $1; exit }' "$OUT/$1/tx.out" |
        awk '{ printf "%.0f", $1 }'
}

# median [FORMAT]: median of the numbers on stdin (empty when none), printed
# with FORMAT (%.0f)
median() {
    sort -n | awk -v f="${1:-%.0f}" '{ v[NR] = $1 } END { if (NR) printf f, NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# pair_ratios "A1 A2 .." "B1 B2 ..": Ai / Bi for each pair run back to back
pair_ratios() {
    "$PY" -c 'import sys; a, b = sys.argv[1].split(), sys.argv[2].split(); print(" ".join("%.2f" % (float(x) / float(y)) for x, y in zip(a, b) if float(y)))' "$1" "$2"
}

# pong and tcp interleaved per repetition, so a noisy moment hits both
pongs="" tcps=""
# ACK_PACE=N: only the latency run, paced at N events/s (to compare builds
# at one rate)
[ -n "${ACK_PACE:-}" ] && REPS=0 pongs=$((ACK_PACE * 2))
for rep in $(seq 1 "$REPS"); do
    echo "== ack: ws pong ($rep/$REPS)" >&2
    ws_run "ws-pong-$rep" default
    pongs="$pongs $(eps "ws-pong-$rep")"
    echo "== ack: ws tcp ($rep/$REPS)" >&2
    ws_run "ws-tcp-$rep" tcp
    tcps="$tcps $(eps "ws-tcp-$rep")"
done
pong=$(printf '%s\n' $pongs | median)
tcp=$(printf '%s\n' $tcps | median)
half=""
if [ -n "$pong" ] && [ "$pong" -gt 0 ]; then
    half=$((pong / 2))
    echo "== ack: ws pong paced at $half events/s" >&2
    ws_run ws-half default $((2000000000 / pong))
fi
lat=$(p99 ws-half 2> /dev/null)

relay() {
    mkdir -p "$PB/bin"
    if [ ! -x "$PB/bin/pbtool" ] || [ "$SHARED/bench/peers/pbtool.c" -nt "$PB/bin/pbtool" ]; then
        gcc -O2 -o "$PB/bin/pbtool" "$SHARED/bench/peers/pbtool.c" || return 1
    fi
    PB_ROOT=$PB PORT_IN=${RELAY_PORT_IN:-26200} PORT_OUT=${RELAY_PORT_OUT:-26201} RELAY_PERF=0 \
        TREMOR_BIN=$TREMOR WAL_READ_COUNT=$1 \
        PEER_CMD="$HERE/peer-tremor.sh @PORT_IN@ @PORT_OUT@ @DIR@" \
        "$SHARED/bench/peers/run-peer.sh" cmd "rc$1" "$RELAY_N" > "$OUT/relay-rc$1-$rep.tsv" 2> "$OUT/relay-rc$1-$rep.err"
    awk -F'\t' '{ printf "%.0f", $9 }' "$OUT/relay-rc$1-$rep.tsv"
}
r20="" r100k=""
if [ -z "${ACK_NO_RELAY:-}" ]; then
    r20s="" r100ks=""
    for rep in $(seq 1 "$REPS"); do
        echo "== ack: tcp relay, read_count 20 and 100000 ($rep/$REPS)" >&2
        r20s="$r20s $(relay 20)"
        r100ks="$r100ks $(relay 100000)"
    done
    r20=$(printf '%s\n' $r20s | median)
    r100k=$(printf '%s\n' $r100ks | median)
fi

# verdict VALUE TARGET: pass when VALUE >= TARGET (numbers; empty = miss)
ge() { "$PY" -c 'import sys; a, b = sys.argv[1:]; print("pass" if a and float(a) >= float(b) else "miss")' "$1" "$2"; }
le() { "$PY" -c 'import sys; a, b = sys.argv[1:]; print("pass" if a and float(a) <= float(b) else "miss")' "$1" "$2"; }
ratio() { "$PY" -c 'import sys; a, b = sys.argv[1:]; print("%.2f" % (float(a) / float(b)) if a and b and float(b) else "")' "$1" "$2"; }
# The ratios are the medians of each back-to-back pair's ratio: the disk's
# fsync latency (both modes wait on it) drifts over a run, and a pair run
# together sees the same disk
rps=$(pair_ratios "$pongs" "$tcps")
rrs=$(pair_ratios "${r20s:-}" "${r100ks:-}")
rp=$(printf '%s\n' $rps | median %.2f)
rr=$(printf '%s\n' $rrs | median %.2f)
{
    echo "| delivery target (issue 10) | figure | target | |"
    echo "|---|---|---|---|"
    echo "| tutorial config over ws, default ack_mode (pong) | ${pong:-?} events/s (median of:$pongs) | >= 100000 | $(ge "$pong" 100000) |"
    echo "| same, ack_mode tcp | ${tcp:-?} events/s (median of:$tcps) | | |"
    echo "| pong / tcp, median of the pairs | ${rp:-?} (pairs:${rps:+ $rps}) | >= 0.8 | $(ge "$rp" 0.8) |"
    echo "| tcp relay, read_count 20 | ${r20:-?} events/s (median of:${r20s:-}) | | |"
    echo "| tcp relay, read_count 100000 | ${r100k:-?} events/s (median of:${r100ks:-}) | | |"
    echo "| read_count 20 / 100000, median of the pairs | ${rr:-?} (pairs:${rrs:+ $rrs}) | >= 0.8 | $(ge "$rr" 0.8) |"
    echo "| p99 send -> peer confirmation at ${half:-?} events/s (pong) | $([ -n "$lat" ] && awk -v n="$lat" 'BEGIN { printf "%.3f ms", n / 1e6 }' || echo '?') | <= 1 ms | $(le "$lat" 1000000) |"
} > "$OUT/rows.md"
cat "$OUT/rows.md"
