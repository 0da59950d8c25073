#!/usr/bin/env bash
# cli_bench.sh - Tremor's own cli-bench configs, run by our server (blaster -> pipeline -> blackhole).
#
#   bench/cli_bench.sh OUT_DIR
#
# For each config (CLI_BENCHES, default "bench_pipe_passthrough_json
# throughput-logging-json") it copies ../shared/conformance/tremor-0.11/cli-bench/NAME
# into OUT_DIR/cli/NAME, points the blaster at demo-data/data.json.xz, shortens
# the blackhole to WARMUP_SECS (2) + STOP_AFTER_SECS (10), and runs
# `build/tremor server run` REPS_CLI (3) times, configs interleaved per rep.
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
BENCHES=${CLI_BENCHES:-"bench_pipe_passthrough_json throughput-logging-json"}
REPS=${REPS_CLI:-3}
WARMUP=${WARMUP_SECS:-2}
STOP=${STOP_AFTER_SECS:-10}
case "$REPS$WARMUP$STOP" in *[!0-9]*) echo "cli_bench: REPS_CLI, WARMUP_SECS, STOP_AFTER_SECS must be numbers" >&2; exit 64 ;; esac
SRC=$(cd "$SHARED/conformance/tremor-0.11/cli-bench" 2> /dev/null && pwd) || {
    echo "cli_bench: no $SHARED/conformance/tremor-0.11/cli-bench" >&2
    exit 1
}
DATA=$(cd "$SHARED/conformance/tremor-0.11/demo-data" && pwd)
[ -x "$TREMOR" ] || { echo "cli_bench: $TREMOR is not built" >&2; exit 1; }

for name in $BENCHES; do
    [ -d "$SRC/$name" ] || { echo "cli_bench: no such config $SRC/$name" >&2; exit 1; }
    d=$OUT/cli/$name
    rm -rf "$d"
    mkdir -p "$d/config"
    cp "$SRC/$name"/*.yaml "$SRC/$name"/*.trickle "$d/config/"
    chmod u+w "$d/config"/*
    for y in "$d/config"/*.yaml; do
        # the blaster reads one data file; the blackhole's clock is shortened
        sed -i -E \
            -e "s|^([[:space:]]*source:[[:space:]]*).*/([^/]+)$|\1$DATA/\2|" \
            -e "s|^([[:space:]]*warmup_secs:[[:space:]]*).*$|\1$WARMUP|" \
            -e "s|^([[:space:]]*stop_after_secs:[[:space:]]*).*$|\1$STOP|" "$y"
    done
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
