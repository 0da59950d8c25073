#!/usr/bin/env bash
# paired.sh - two builds of tremor side by side on the relay and passthrough
# rows, runs alternating so the machine's drift falls on both alike.
#
#   bench/paired.sh BEFORE_BIN AFTER_BIN [OUT_DIR]
#
# relay: loader -> tcp -> qos::wal (sync = "always") -> tcp -> sink
# (../shared/bench/peers/run-peer.sh with bench/peer-tremor.sh, PAIRED_N
# events, 500000); passthrough: Tremor's bench_pipe_passthrough_json config
# (bench/cli_bench.sh, WARMUP_SECS 2 + STOP_AFTER_SECS 6). PAIRED_REPS (3)
# pairs of each, then the medians and after/before. It measures and prints;
# it judges nothing.
set -u
[ $# -ge 2 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
BEFORE=$1 AFTER=$2
OUT=${3:-/tmp/tremor-paired/$(date +%Y%m%d-%H%M%S)}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
PY=/usr/bin/python3
N=${PAIRED_N:-500000}
REPS=${PAIRED_REPS:-3}
PB=${PAIRED_PB_ROOT:-/tmp/paired-peerbench}
for b in "$BEFORE" "$AFTER"; do [ -x "$b" ] || { echo "paired: $b is not an executable" >&2; exit 64; }; done
mkdir -p "$OUT" "$PB/bin"
if [ ! -x "$PB/bin/pbtool" ] || [ "$SHARED/bench/peers/pbtool.c" -nt "$PB/bin/pbtool" ]; then
    gcc -O2 -o "$PB/bin/pbtool" "$SHARED/bench/peers/pbtool.c" || exit 1
fi

relay() {   # relay BIN TAG REP -> events/s
    PB_ROOT=$PB PORT_IN=26300 PORT_OUT=26301 RELAY_PERF=0 TREMOR_BIN=$1 \
        PEER_CMD="$HERE/peer-tremor.sh @PORT_IN@ @PORT_OUT@ @DIR@" \
        "$SHARED/bench/peers/run-peer.sh" cmd "$2" "$N" > "$OUT/relay-$2-$3.tsv" 2> "$OUT/relay-$2-$3.err"
    awk -F'\t' '{ printf "%.0f", $9 }' "$OUT/relay-$2-$3.tsv"
}

passthrough() {   # passthrough BIN TAG REP -> events/s
    local d=$OUT/cli-$2-$3
    CLI_BENCHES=bench_pipe_passthrough_json REPS_CLI=1 WARMUP_SECS=2 STOP_AFTER_SECS=6 TREMOR_BIN=$1 \
        "$HERE/cli_bench.sh" "$d" 2> "$d.err" > /dev/null
    "$PY" - "$d/cli/bench_pipe_passthrough_json/1/stdout" << 'PYEOF'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"Throughput \(events\)\s*:\s*([0-9.]+)\s*([kM]?)", t)
print("%.0f" % (float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)]) if m else "nan", end="")
PYEOF
}

declare -A got
for rep in $(seq 1 "$REPS"); do
    for tag in before after; do
        bin=$BEFORE
        [ "$tag" = after ] && bin=$AFTER
        r=$(relay "$bin" "$tag" "$rep")
        p=$(passthrough "$bin" "$tag" "$rep")
        got[relay-$tag]="${got[relay-$tag]:-} $r"
        got[pass-$tag]="${got[pass-$tag]:-} $p"
        echo "rep $rep $tag: relay $r events/s, passthrough $p events/s" >&2
    done
done
"$PY" - "${got[relay-before]}" "${got[relay-after]}" "${got[pass-before]}" "${got[pass-after]}" << 'PYEOF'
import statistics, sys
def vals(s):
    return [float(x) for x in s.split() if x not in ("", "nan")]
rows = [("relay (tcp -> qos::wal always -> tcp)", sys.argv[1], sys.argv[2]),
        ("passthrough (bench_pipe_passthrough_json)", sys.argv[3], sys.argv[4])]
print("| row | before (median, runs) | after (median, runs) | after/before |")
print("|---|---:|---:|---:|")
for name, b, a in rows:
    b, a = vals(b), vals(a)
    mb = statistics.median(b) if b else float("nan")
    ma = statistics.median(a) if a else float("nan")
    print("| %s | %.0f (%s) | %.0f (%s) | %.2f |" % (name, mb, " ".join("%.0f" % x for x in b), ma,
                                                  " ".join("%.0f" % x for x in a), ma / mb if mb else float("nan")))
PYEOF
