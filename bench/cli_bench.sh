#!/usr/bin/env bash
# cli_bench.sh - Tremor's own cli-bench configs, run by our server (blaster -> pipeline -> blackhole).
#
#   bench/cli_bench.sh OUT_DIR
#
# For each config (CLI_BENCHES, default: all nine of Tremor's cli-bench
# configurations, then passthrough_json_100b) it copies
# ../shared/conformance/tremor-0.11/cli-bench/NAME into OUT_DIR/cli/NAME, points
# the blaster at the same-named file of demo-data/, shortens
# the blackhole to WARMUP_SECS (2) + STOP_AFTER_SECS (10), and runs
# `build/tremor server run` REPS_CLI (3) times, configs interleaved per rep.
# passthrough_json_100b is ours, not Tremor's: bench_pipe_passthrough_json's
# config and query over a generated file of CLI_100B_EVENTS (100000) 100-byte
# lines shaped like the peers' load ({"id":N,"onramp":"metronome",
# "ingest_ns":T,"hostname":"xx..."} padded to 100 bytes with the newline),
# the event size the 1M events/s target is stated for.
# tl-enrich names demo/data/logs.txt.xz, which Tremor's repository never had:
# its input is generated here (CLI_LOG_LINES, 20000, web-log lines that its
# dissect pattern matches, one in ten from a "purest*" host that the script
# drops, fixed seed), written next to the run and compressed with xz.
# Each run leaves OUT_DIR/cli/NAME/REP/{stdout,stderr,proc.json}; proc.json has
# the exit status, CPU and peak RSS (runproc.py). It parses nothing: report.py
# reads the blackhole's printed throughput. A config whose first run printed
# no throughput is not run again (its error is what the table shows).
# CLI_BASE_BIN (unset: none): a second server, the issue-6 tree of
# base_build.sh; each config then runs with it right after ours in every rep,
# into OUT_DIR/cli-base/NAME/REP, so both see the same machine (report.py
# takes issue 17's proportions from these; a config that server cannot run,
# e.g. a codec it did not have, is skipped for it after its first error).
set -u
[ $# -eq 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
TREMOR=${TREMOR_BIN:-$ROOT/build/tremor}
PY=/usr/bin/python3
ALL_NINE="bench_pipe_passthrough bench_pipe_passthrough_json bench_pipe_passthrough_msgpack
bench_pipe_passthrough_influx bench_pipe_passthrough_binflux bench_pipe_passthrough_two_inputs
throughput-logging-json throughput-logging-msgpack tl-enrich"
BENCHES=${CLI_BENCHES:-"$(echo $ALL_NINE) passthrough_json_100b"}
N100=${CLI_100B_EVENTS:-100000}
NLOG=${CLI_LOG_LINES:-20000}
BASE=${CLI_BASE_BIN:-}
REPS=${REPS_CLI:-3}
WARMUP=${WARMUP_SECS:-2}
STOP=${STOP_AFTER_SECS:-10}
case "$REPS$WARMUP$STOP$N100$NLOG" in *[!0-9]*) echo "cli_bench: REPS_CLI, WARMUP_SECS, STOP_AFTER_SECS, CLI_100B_EVENTS, CLI_LOG_LINES must be numbers" >&2; exit 64 ;; esac
SRC=$(cd "$SHARED/conformance/tremor-0.11/cli-bench" 2> /dev/null && pwd) || {
    echo "cli_bench: no $SHARED/conformance/tremor-0.11/cli-bench" >&2
    exit 1
}
DATA=$(cd "$SHARED/conformance/tremor-0.11/demo-data" && pwd)
[ -x "$TREMOR" ] || { echo "cli_bench: $TREMOR is not built" >&2; exit 1; }
if [ -n "$BASE" ] && [ ! -x "$BASE" ]; then
    echo "cli_bench: CLI_BASE_BIN $BASE is not an executable: no issue-6 runs" >&2
    BASE=""
fi

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

# gen_weblog FILE: NLOG lines in the layout tl-enrich's dissect pattern reads
gen_weblog() {
    "$PY" - "$1" "$NLOG" << 'EOF'
import random, sys
path, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(11)
agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:91.0) Gecko/20100101 Firefox/91.0",
          "curl/7.88.1", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X)"]
def q(v):
    return '"%s"' % v
with open(path, "w") as f:
    for i in range(n):
        t = 1614852672 + i // 50
        host = ("purest-%02d" if i % 10 == 9 else "web-%02d") % (i % 7)
        fields = [
            "2021-03-04T10:%02d:%02dZ" % (i // 60 % 60, i % 60), host, "nginx:", "access[%d]" % (1000 + i % 90),
            "%d.%03d" % (t, i % 1000), "[04/Mar/2021:10:11:12", "+0000]", "0.%03d" % rnd.randrange(1, 999),
            "10.0.0.%d:443" % (i % 250 + 1), "192.168.%d.%d:%d" % (i % 200, i % 250 + 1, 30000 + i % 30000),
            q("text/html"), str(rnd.randrange(100, 90000)), rnd.choice(["200", "200", "301", "404", "500"]),
            str(rnd.randrange(100, 90000)), str(rnd.randrange(80, 2000)), q("https"), q("www.example.com"),
            q("GET /item/%d?ref=%d HTTP/1.1" % (i, rnd.randrange(1000))), q("-"), q(rnd.choice(agents))]
        fields += [q(v) for v in ["-", "-", "-", "0", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                                  "US", "CA", "San Francisco", "94107", "807",
                                  "web%02d.dc%d.example.com" % (i % 7, i % 3), "tx%08x" % i, "1",
                                  "text/html", "-", "gzip", "en-US", "-", "-", "-", "-", "-"]]
        fields.append("-")
        f.write(" ".join(fields) + "\n")
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
    if [ "$name" = tl-enrich ]; then
        { gen_weblog "$d/logs.txt" && xz -f -T1 "$d/logs.txt"; } || { echo "cli_bench: cannot write $d/logs.txt.xz" >&2; exit 1; }
        sed -i -E "s|^([[:space:]]*source:[[:space:]]*).*$|\\1$d/logs.txt.xz|" "$d/config"/*.yaml
    fi
    if [ "$name" = passthrough_json_100b ]; then
        gen_100b "$d/ev100.json" || { echo "cli_bench: cannot write $d/ev100.json" >&2; exit 1; }
        sed -i -E "s|^([[:space:]]*source:[[:space:]]*).*$|\1$d/ev100.json|" "$d/config"/*.yaml
    fi
done

# run_one TAG SERVER NAME REP: one run of config NAME by SERVER into
# OUT/TAG/NAME/REP; prints the throughput line, returns 1 when there was none
run_one() {
    local tag=$1 server=$2 name=$3 rep=$4
    local d=$OUT/cli/$name r=$OUT/$tag/$name/$rep
    mkdir -p "$r/data"
    sync
    (cd "$r" && "$PY" "$HERE/runproc.py" --json "$r/proc.json" --timeout $((WARMUP + STOP + 60)) \
        --stdout "$r/stdout" --stderr "$r/stderr" -- \
        "$server" server run -n -d "$r/data" -f "$d/config"/*.trickle "$d/config"/*.yaml)
    local rc=$?
    local tp
    tp=$(grep -E 'Throughput *\(events\)' "$r/stdout" "$r/stderr" 2> /dev/null | head -1 | sed 's/^[^:]*://')
    echo "rep $rep $name${tag#cli}: rc=$rc ${tp:-no throughput printed}" >&2
    rm -rf "$r/data"
    [ -n "$tp" ] && return 0
    sed -n '1,3p' "$r/stderr" | sed 's/^/    /' >&2
    return 1
}

rm -rf "$OUT/cli-base"   # never an earlier run's: report.py takes what is there as this run's
skip=" " skip_base=" "
for rep in $(seq 1 "$REPS"); do
    for name in $BENCHES; do
        case "$skip" in *" $name "*) ;; *)
            run_one cli "$TREMOR" "$name" "$rep" || { [ "$rep" = 1 ] && skip="$skip$name "; } ;;
        esac
        [ -n "$BASE" ] || continue
        case "$skip_base" in *" $name "*) continue ;; esac
        run_one cli-base "$BASE" "$name" "$rep" || { [ "$rep" = 1 ] && skip_base="$skip_base$name "; }
    done
done
exit 0
