#!/usr/bin/env bash
# run.sh - `make bench`: every side-by-side figure of issues 6, 10 and 17 in one run, one table.
#
#   bench/run.sh            (from the Makefile, after build/tremor and build/bench/disk_ceiling)
#
# Steps, each repeated and reported as median and min..max:
#   cli      Tremor's cli-bench configs by our server, each run followed by the
#            same config on the server as it was at the end of issue 6 (ISSUE6_REV,
#            built by base_build.sh; CLI_BASE=0 skips it), the baseline of issue
#            17's "improve in proportion" (cli_bench.sh)
#   backlog  peak RSS holding a WAL backlog, and the WAL's bytes per record (rss_backlog.sh)
#   peers    our durable relay beside syslog-ng and rsyslog (peers.sh -> run-all.sh; needs root)
#   disk     write + fdatasync at the WAL's batch size and a sweep (build/bench/disk_ceiling)
#   ack      issue 10's delivery targets, each row with pass or miss (ack_bench.sh)
#   latency  issue 17's latency row: the relay of `peers` paced at half its maximum
#            rate (this run's peers figure / 2, else LAT_RATE), p50/p99/p99.9 from
#            each event's scheduled send to the sink's receipt, lost and duplicated
#            events (lat_bench.sh with build/bench/lat_tool; about 15 s)
#   reopen   issue 17: reopen of a WAL holding REOPEN_GB (10) GB of unacked records after
#            SIGKILL and after SIGTERM: time to first event (< 1 s), RSS flat, no loss,
#            each row with pass or miss (reopen_bench.sh; needs REOPEN_GB * 1.5 GB free,
#            else a "not run" row; ~3-10 min, most of it filling the WAL)
#   codecs   our msgpack, yaml, influx and syslog decoders beside libmsgpack-c and libyaml
#            (build/bench/codec_bench; a section after the table)
#   json     our JSON decoder (each string scanner the CPU has) and encoder on the
#            629-byte events of bench_pipe_passthrough_json, beside simdjson (parse
#            only) and jansson (build/bench/json_bench; a section after the table)
#   kafka    a Kafka -> qos::wal -> Kafka relay through librdkafka's mock cluster
#            (kafka_bench.py; a line after the table)
#   nats     a JetStream -> qos::wal -> JetStream relay on one nats-server
#            (nats_bench.sh; a line after the table)
#   profile  where the CPU goes on the relay and passthrough rows: the top
#            entries of perf's profile, self and with callees (profile.sh;
#            sections after the table)
# then report.py prints the Markdown table and writes it to bench/results/latest.md.
# It measures and prints; it asserts nothing and is never part of `make test`.
# After the main table, issue 17's targets with pass or miss (report.py; the
# cli rows against the issue-6 server of the same run, or bench/results/baseline-issue6.tsv
# without one), then issue 10's (the reopen step's rows are in
# issue 17's table).
# About 30 minutes with the defaults on the 2-core machine (cli: ~12, half of it the
# issue-6 server; nats: ~3), plus the reopen step's 3-10 minutes (filling 10 GB of WAL).
# Knobs: BENCH_STEPS ("cli backlog peers latency disk ack reopen codecs json kafka nats profile"), BENCH_OUT (/tmp/tremor-bench/<time>),
#   REPS (5: peers and disk), REPS_CLI (3), N (1000000), N_STRICT (20000), N_CMD (N),
#   WARMUP_SECS (2), STOP_AFTER_SECS (10), CLI_BENCHES, CLI_BASE (1), ISSUE6_REV, PEERS, STRACE_CHECK (1),
#   BACKLOG_SIZES ("10000 1000000 10000000"; the 10M point is ~1.2 GB of WAL, ~15 s),
#   DISK_SWEEP ("4k 64k 1M"), DISK_SECS (2), TREMOR_BIN, and the relay's
#   WAL_READ_COUNT / WAL_MAX_IN_FLIGHT / RELAY_CODEC (see peer-tremor.sh), ACK_* and
#   RELAY_N (see ack_bench.sh), KAFKA_N / KAFKA_REPS (see kafka_bench.py),
#   REOPEN_* (see reopen_bench.sh), NATS_N (100000) / NATS_REPS (3) and nats_bench.sh's BATCH, WINDOW, MAX_PENDING, PROFILE_N /
#   PROFILE_TOP (1000000 events / 15 entries, see profile.sh), LAT_RATE (250000: the
#   latency step's rate when no peers figure of this run is there), LAT_SECS (10),
#   LAT_SIZE (100), LAT_TIMEOUT, LAT_PORT_IN / LAT_PORT_OUT, LAT_TOOL_BIN (see lat_bench.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
export SHARED=${SHARED:-$(cd "$ROOT/../shared" 2> /dev/null && pwd)}
export PB_ROOT=${PB_ROOT:-/tmp/peerbench}
export REPS=${REPS:-5}
export REPS_CLI=${REPS_CLI:-3}
export TREMOR_BIN=${TREMOR_BIN:-$ROOT/build/tremor}
STEPS=${BENCH_STEPS:-"cli backlog peers latency disk ack reopen codecs json kafka nats profile"}
OUT=${BENCH_OUT:-/tmp/tremor-bench/$(date +%Y%m%d-%H%M%S)}
CEIL=${DISK_CEILING_BIN:-$ROOT/build/bench/disk_ceiling}
mkdir -p "$OUT"
t0=$(date +%s)
step_t() { echo "== $1 ($(($(date +%s) - t0)) s in)" >&2; }

{
    echo "date: $(date -Is); tree: $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo '?')$(
        [ -n "$(git -C "$ROOT" status --porcelain 2> /dev/null | head -1)" ] && echo ' (+ uncommitted changes)')"
    echo "machine: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(
        awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), fs $(
        df -T "$PB_ROOT" 2> /dev/null | awk 'NR == 2 { print $2 }' || echo '?') under $PB_ROOT"
    echo "knobs: REPS=$REPS REPS_CLI=$REPS_CLI N=${N:-1000000} N_STRICT=${N_STRICT:-20000} N_CMD=${N_CMD:-${N:-1000000}}" \
        "WARMUP_SECS=${WARMUP_SECS:-2} STOP_AFTER_SECS=${STOP_AFTER_SECS:-10}" \
        "BACKLOG_SIZES=\"${BACKLOG_SIZES:-10000 1000000 10000000}\" WAL_READ_COUNT=${WAL_READ_COUNT:-10000}" \
        "RELAY_CODEC=${RELAY_CODEC:-json}"
    echo "server: $TREMOR_BIN"
} > "$OUT/meta.txt"

[ -x "$TREMOR_BIN" ] || { echo "bench: $TREMOR_BIN is not built (make build/tremor)" >&2; exit 1; }
for s in $STEPS; do
    case "$s" in
    cli)
        step_t "Tremor cli-bench configs (ours, then the issue-6 tree, interleaved)"
        base=""
        rm -rf "$OUT/cli-base" "$OUT/cli-base.rev"
        if [ "${CLI_BASE:-1}" = 1 ]; then
            base=$("$HERE/base_build.sh" "$PB_ROOT/issue6-tree") ||
                { base="" && echo "bench: no issue-6 server; issue 17's proportions use bench/results/baseline-issue6.tsv" >&2; }
            [ -n "$base" ] && cat "$PB_ROOT/issue6-tree/.rev" > "$OUT/cli-base.rev"
        fi
        CLI_BASE_BIN=$base "$HERE/cli_bench.sh" "$OUT"
        ;;
    backlog)
        step_t "RSS with a WAL backlog (${BACKLOG_SIZES:-10000 1000000 10000000} events)"
        BACKLOG_DIR=$PB_ROOT/backlog "$HERE/rss_backlog.sh" "$OUT/backlog.tsv" > /dev/null
        column -t -s "$(printf '\t')" "$OUT/backlog.tsv" >&2
        ;;
    peers)
        step_t "peers (run-all.sh: ${PEERS:-direct/none syslog-ng/reliable rsyslog/disk rsyslog/disk-syncfiles} + ours)"
        "$HERE/peers.sh" "$OUT"
        [ -f "$OUT/peers/run-all.err" ] && grep '^rep ' "$OUT/peers/run-all.err" >&2
        ;;
    latency)
        # half the relay's maximum: this run's peers row when it ran, else LAT_RATE
        max=$("$PY" "$HERE/report.py" relay-rate "$OUT")
        if [ -n "$max" ] && [ "$max" -ge 2 ]; then
            rate=$((max / 2)) src="half of this run's relay row ($max events/s)"
        else
            rate=${LAT_RATE:-250000} src="LAT_RATE (no relay row in this run)"
        fi
        step_t "latency of the durable relay at $rate events/s ($src)"
        if [ ! -x "${LAT_TOOL_BIN:-$ROOT/build/bench/lat_tool}" ]; then
            make -C "$ROOT" --no-print-directory "build/bench/lat_tool" > "$OUT/latency-build.log" 2>&1 ||
                { echo "bench: cannot build lat_tool, see $OUT/latency-build.log" >&2; continue; }
        fi
        "$HERE/lat_bench.sh" "$OUT" "$rate" "$src" || echo "bench: lat_bench failed" >&2
        ;;
    disk)
        step_t "disk ceiling"
        if [ ! -x "$CEIL" ]; then
            make -C "$ROOT" --no-print-directory "build/bench/disk_ceiling" > "$OUT/disk-build.log" 2>&1 ||
                { echo "bench: cannot build disk_ceiling, see $OUT/disk-build.log" >&2; continue; }
        fi
        read -r bb rb eps src <<< "$("$PY" "$HERE/report.py" batch "$OUT")"
        rb=$(printf "%.0f" "${rb:-120}")
        sizes=${DISK_SWEEP:-"4k 64k 1M"}
        [ -n "${bb:-}" ] && sizes="$bb $sizes" && echo "WAL batch: $eps events x $rb B = $bb B ($src)" >&2
        mkdir -p "$OUT/disk" "$PB_ROOT/disk-ceiling"
        for rep in $(seq 1 "$REPS"); do
            sync
            # shellcheck disable=SC2086
            "$CEIL" -d "$PB_ROOT/disk-ceiling" -t "${DISK_SECS:-2}" -r "$rb" $sizes > "$OUT/disk/$rep.tsv" ||
                echo "bench: disk_ceiling failed (rep $rep)" >&2
        done
        ;;
    ack)
        step_t "delivery targets (ws pong/tcp, relay read_count, ack latency)"
        "$HERE/ack_bench.sh" "$OUT" > /dev/null
        ;;
    reopen)
        step_t "reopen of a WAL holding ${REOPEN_GB:-10} GB unacked (time to first event, RSS)"
        REOPEN_DIR=${REOPEN_DIR:-$PB_ROOT/reopen} "$HERE/reopen_bench.sh" "$OUT" > /dev/null ||
            echo "bench: reopen_bench failed" >&2
        ;;
    codecs)
        step_t "codec decoders beside libmsgpack-c and libyaml"
        if [ ! -x "$ROOT/build/bench/codec_bench" ]; then
            make -C "$ROOT" --no-print-directory "build/bench/codec_bench" > "$OUT/codecs-build.log" 2>&1 ||
                { echo "bench: cannot build codec_bench, see $OUT/codecs-build.log" >&2; continue; }
        fi
        "$ROOT/build/bench/codec_bench" > "$OUT/codecs.txt" || echo "bench: codec_bench failed" >&2
        cat "$OUT/codecs.txt" >&2
        ;;
    json)
        step_t "JSON codec beside simdjson and jansson"
        if [ ! -x "$ROOT/build/bench/json_bench" ]; then
            make -C "$ROOT" --no-print-directory "build/bench/json_bench" > "$OUT/json-build.log" 2>&1 ||
                { echo "bench: cannot build json_bench, see $OUT/json-build.log" >&2; continue; }
        fi
        (cd "$ROOT" && "$ROOT/build/bench/json_bench") > "$OUT/json.txt" || echo "bench: json_bench failed" >&2
        cat "$OUT/json.txt" >&2
        ;;
    kafka)
        step_t "kafka -> qos::wal -> kafka relay (librdkafka mock cluster)"
        if [ ! -x "$ROOT/build/tests/e2e/tool_kafka_mock" ]; then
            make -C "$ROOT" --no-print-directory "build/tests/e2e/tool_kafka_mock" > "$OUT/kafka-build.log" 2>&1 ||
                { echo "bench: cannot build tool_kafka_mock, see $OUT/kafka-build.log" >&2; continue; }
        fi
        "$PY" "$HERE/kafka_bench.py" "$OUT" >&2 || echo "bench: kafka_bench failed" >&2
        ;;
    nats)
        step_t "JetStream -> qos::wal -> JetStream relay (one nats-server)"
        if [ ! -x "$ROOT/build/tests/e2e/tool_nats" ]; then
            make -C "$ROOT" --no-print-directory "build/tests/e2e/tool_nats" > "$OUT/nats-build.log" 2>&1 ||
                { echo "bench: cannot build tool_nats, see $OUT/nats-build.log" >&2; continue; }
        fi
        # its own N and REPS: run.sh's are the cli and peers steps'
        N=${NATS_N:-100000} REPS=${NATS_REPS:-3} "$HERE/nats_bench.sh" > "$OUT/nats.txt" ||
            { echo "bench: nats_bench failed" >&2; rm -f "$OUT/nats.txt"; }
        [ -s "$OUT/nats.txt" ] && cat "$OUT/nats.txt" >&2
        ;;
    profile)
        step_t "profiles of the relay and passthrough rows (perf)"
        mkdir -p "$OUT/profile"
        for w in relay passthrough; do
            PROFILE_DIR=$OUT/profile/$w "$HERE/profile.sh" "$w" "${PROFILE_TOP:-15}" > /dev/null 2> "$OUT/profile/$w.err" ||
                echo "bench: profile.sh $w failed, see $OUT/profile/$w.err" >&2
        done
        ;;
    *) echo "bench: unknown step '$s' (cli backlog peers latency disk ack reopen codecs json kafka nats profile)" >&2; exit 64 ;;
    esac
done

step_t "report"
echo "total: $(($(date +%s) - t0)) s; raw results in $OUT" >> "$OUT/meta.txt"
mkdir -p "$HERE/results"
rc=0
"$PY" "$HERE/report.py" table "$OUT" --write "$OUT/table.md" || rc=1
# issue 10's rows carry their own verdicts; they follow the main table
if [ -f "$OUT/ack/rows.md" ]; then
    { echo; cat "$OUT/ack/rows.md"; } >> "$OUT/table.md"
    echo
    cat "$OUT/ack/rows.md"
fi
if [ -s "$OUT/codecs.txt" ]; then
    {
        echo
        echo "### Codec decoders (build/bench/codec_bench, best of 5 rounds, one core)"
        echo
        echo '```'
        cat "$OUT/codecs.txt"
        echo '```'
    } >> "$OUT/table.md"
fi
if [ -s "$OUT/json.txt" ]; then
    {
        echo
        echo "### JSON codec (build/bench/json_bench, best of 5 rounds, one core)"
        echo
        echo '```'
        cat "$OUT/json.txt"
        echo '```'
    } >> "$OUT/table.md"
fi
if [ -s "$OUT/kafka.txt" ]; then
    { echo; echo "### Kafka relay (bench/kafka_bench.py)"; echo; cat "$OUT/kafka.txt"; } >> "$OUT/table.md"
fi
if [ -s "$OUT/nats.txt" ]; then
    { echo; echo "### JetStream relay (bench/nats_bench.sh)"; echo; cat "$OUT/nats.txt"; } >> "$OUT/table.md"
fi
# the profiles of the relay and passthrough rows, after the table
for w in relay passthrough; do
    f=$OUT/profile/$w/top.txt
    [ -s "$f" ] || continue
    sec=$(printf '### Profile of the %s row (bench/profile.sh %s; perf, shares of CPU samples)\n\n```\n%s\n```' \
        "$w" "$w" "$(cat "$f")")
    printf '\n%s\n' "$sec" >> "$OUT/table.md"
    printf '\n%s\n' "$sec"
done
[ -f "$OUT/table.md" ] || exit 1
cp "$OUT/table.md" "$HERE/results/latest.md"
echo "(written to bench/results/latest.md; raw results in $OUT)" >&2
exit $rc
