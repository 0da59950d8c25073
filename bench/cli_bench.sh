#!/usr/bin/env bash
# cli_bench.sh - Tremor's own cli-bench configs, run by our server (blaster -> pipeline -> blackhole).
#
#   bench/cli_bench.sh OUT_DIR
#
# For each config (CLI_BENCHES, default "bench_pipe_passthrough_json
# throughput-logging-json passthrough_json_100b") it copies
# ../shared/conformance/tremor-0.11/cli-bench/NAME into OUT_DIR/cli/NAME, points
# the blaster at demo-data/data.json.xz, shortens
# the blackhole to WARMUP_SECS (2) + STOP_AFTER_SECS (10), and runs
# `build/tremor server run` REPS_CLI (3) times, configs interleaved per rep.
# passthrough_json_100b is ours, not Tremor's: bench_pipe_passthrough_json's
# config and query over a generated file of CLI_100B_EVENTS (100000) 100-byte
# lines shaped like the peers' load ({"id":N,"onramp":"metronome",
# "ingest_ns":T,"hostname":"xx..."} padded to 100 bytes with the newline),
# the event size issue 6's 1M events/s target is stated for.
# Each run leaves OUT_DIR/cli/NAME/REP/{stdout,stderr,proc.json}; proc.json has
# the exit status, CPU and peak RSS (runproc.py). It parses nothing: report.py
# reads the blackhole's printed throughput. A config whose first run printed
# no throughput is not run again (its error is what the table shows).
set -u
[ $# -eq 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
TREMOR=${TREMOR_BIN:-$ROOT/build/tremor}
PY=/usr/bin/python3
BENCHES=${CLI_BENCHES:-"bench_pipe_passthrough_json throughput-logging-json passthrough_json_100b"}
N100=${CLI_100B_EVENTS:-100000}
REPS=${REPS_CLI:-3}
WARMUP=${WARMUP_SECS:-2}
STOP=${STOP_AFTER_SECS:-10}
case "$REPS$WARMUP$STOP$N100" in *[!0-9]*) echo "cli_bench: REPS_CLI, WARMUP_SECS, STOP_AFTER_SECS, CLI_100B_EVENTS must be numbers" >&2; exit 64 ;; esac
SRC=$(cd "$SHARED/conformance/tremor-0.11/cli-bench" 2> /dev/null && pwd) || {
    echo "cli_bench: no $SHARED/conformance/tremor-0.11/cli-bench" >&2
    exit 1
}
DATA=$(cd "$SHARED/conformance/tremor-0.11/demo-data" && pwd)
[ -x "$TREMOR" ] || { echo "cli_bench: $TREMOR is not built" >&2; exit 1; }

# gen_100b FILE: N100 lines of exactly 100 bytes each, newline included
gen_100b() {
    "$PY" - "$1" "$N100" << 'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        head = '{"id":%d,"onramp":"metronome","ingest_ns":%d,"hostname":"' % (i, 1764158000000000000 + i * 1370)
        f.write(head + "x" * max(1, 100 - len(head) - 3) + '"}\n')
EOF
}

for name in $BENCHES; do
    src=$name
    [ "$name" = passthrough_json_100b ] && src=bench_pipe_passthrough_json
    [ -d "$SRC/$src" ] || { echo "cli_bench: no such config $SRC/$src" >&2; exit 1; }
    d=$OUT/cli/$name
    rm -rf "$d"
    mkdir -p "$d/config"
    cp "$SRC/$src"/*.yaml "$SRC/$src"/*.trickle "$d/config/"
    chmod u+w "$d/config"/*
    for y in "$d/config"/*.yaml; do
        # the blaster reads one data file; the blackhole's clock is shortened
        sed -i -E \
            -e "s|^([[:space:]]*source:[[:space:]]*).*/([^/]+)$|\1$DATA/\2|" \
            -e "s|^([[:space:]]*warmup_secs:[[:space:]]*).*$|\1$WARMUP|" \
            -e "s|^([[:space:]]*stop_after_secs:[[:space:]]*).*$|\1$STOP|" "$y"
    done
    if [ "$name" = passthrough_json_100b ]; then
        gen_100b "$d/ev100.json" || { echo "cli_bench: cannot write $d/ev100.json" >&2; exit 1; }
        sed -i -E "s|^([[:space:]]*source:[[:space:]]*).*$|\1$d/ev100.json|" "$d/config"/*.yaml
    fi
done

skip=" "
for rep in $(seq 1 "$REPS"); do
    for name in $BENCHES; do
        case "$skip" in *" $name "*) continue ;; esac
        d=$OUT/cli/$name
        r=$d/$rep
        mkdir -p "$r/data"
        sync
        (cd "$r" && "$PY" "$HERE/runproc.py" --json "$r/proc.json" --timeout $((WARMUP + STOP + 60)) \
            --stdout "$r/stdout" --stderr "$r/stderr" -- \
            "$TREMOR" server run -n -d "$r/data" -f "$d/config"/*.trickle "$d/config"/*.yaml)
        rc=$?
        tp=$(grep -E 'Throughput *\(events\)' "$r/stdout" "$r/stderr" 2> /dev/null | head -1 | sed 's/^[^:]*://')
        echo "rep $rep $name: rc=$rc ${tp:-no throughput printed}" >&2
        if [ -z "$tp" ]; then
            sed -n '1,3p' "$r/stderr" | sed 's/^/    /' >&2
            [ "$rep" = 1 ] && skip="$skip$name "
        fi
        rm -rf "$r/data"
    done
done
exit 0
