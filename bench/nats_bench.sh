#!/usr/bin/env bash
# nats_bench.sh - JetStream relay throughput: a stream SRC preloaded with N
# small JSON messages -> nats onramp (durable pull consumer) -> qos::wal
# (sync = "always") -> nats offramp (JetStream, acked on PubAck) -> stream
# DST, on one nats-server (Debian's) on loopback, sharing the machine's cores
# with the relay. Prints one line: events/s from the first message in DST
# to the Nth (connecting and creating the consumer are not counted, as
# kafka_bench.py does not count the group join), the median of REPS runs,
# min..max beside it. Measures and prints; asserts nothing.
#   bench/nats_bench.sh            knobs: N (50000), REPS (3), BATCH (256), WINDOW (4096),
#                                  MAX_PENDING (1024), READ_COUNT (10000), TREMOR_BIN, TOOL_BIN,
#                                  PERF_OUT (a file: perf record $PERF_ARGS, default -g, of the last run's relay)
# `make bench` runs it as step `nats` with N=$NATS_N, REPS=$NATS_REPS (bench/run.sh).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${N:-50000}
REPS=${REPS:-3}
BATCH=${BATCH:-256}
WINDOW=${WINDOW:-4096}
MAX_PENDING=${MAX_PENDING:-1024}
READ_COUNT=${READ_COUNT:-10000}
PERF_OUT=${PERF_OUT:-}
TREMOR_BIN=${TREMOR_BIN:-$ROOT/build/tremor}
TOOL=${TOOL_BIN:-$ROOT/build/tests/e2e/tool_nats}
WORK=$(mktemp -d /tmp/nats-bench.XXXXXX)
NS_PID=
TR_PID=
cleanup() {
    [ -n "$TR_PID" ] && kill -KILL "$TR_PID" 2> /dev/null || true
    [ -n "$NS_PID" ] && kill "$NS_PID" 2> /dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

rates=()
for rep in $(seq "$REPS"); do
    d=$WORK/$rep
    mkdir -p "$d/js"
    p=$(port)
    nats-server -a 127.0.0.1 -p "$p" -js -sd "$d/js" > "$d/nats.log" 2>&1 &
    NS_PID=$!
    url=nats://127.0.0.1:$p
    "$TOOL" stream "$url" SRC src.events 1 > /dev/null
    "$TOOL" stream "$url" DST dst.events 1 > /dev/null
    "$TOOL" pub "$url" src.events 0 "$N" js
    cat > "$d/relay.trickle" << Q
define qos::wal operator relay_wal
with
  read_count = $READ_COUNT,
  max_elements = 1000000,
  sync = "always"
end;
create operator relay_wal;
select event from in into relay_wal;
select event from relay_wal into out;
Q
    cat > "$d/config.yaml" << C
onramp:
  - id: in
    type: nats
    codec: json
    config: {hosts: ["127.0.0.1:$p"], subject: src.events, jetstream: true, stream: SRC,
             durable: bench, batch: $BATCH, window: $WINDOW}
offramp:
  - id: out
    type: nats
    codec: json
    config: {hosts: ["127.0.0.1:$p"], subject: dst.events, jetstream: true, max_pending: $MAX_PENDING}
binding:
  - id: relay
    links:
      "/onramp/in/{instance}/out": ["/pipeline/relay/{instance}/in"]
      "/pipeline/relay/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/relay/01:
    instance: "01"
C
    (cd "$d" && exec "$TREMOR_BIN" server run -n -d data -f relay.trickle config.yaml 2> tremor.log) &
    TR_PID=$!
    PERF_PID=
    if [ -n "$PERF_OUT" ] && [ "$rep" = "$REPS" ]; then
        # shellcheck disable=SC2086 # PERF_ARGS is a list of options
        perf record ${PERF_ARGS:--g} -o "$PERF_OUT" -p "$TR_PID" 2> "$d/perf.log" > /dev/null &
        PERF_PID=$!
    fi
    t0=
    c0=0
    while :; do
        c=$("$TOOL" count "$url" DST 2> /dev/null || echo 0)
        [ -z "$t0" ] && [ "$c" -gt 0 ] && t0=$(now) c0=$c
        [ "$c" -ge "$N" ] && break
        kill -0 "$TR_PID" 2> /dev/null || { echo "tremor exited early:" >&2; tail "$d/tremor.log" >&2; exit 1; }
        sleep 0.05
    done
    t1=$(now)
    [ -n "$PERF_PID" ] && { kill -INT "$PERF_PID"; wait "$PERF_PID" 2> /dev/null || true; }
    kill -TERM "$TR_PID"
    wait "$TR_PID" || true
    TR_PID=
    kill "$NS_PID"
    wait "$NS_PID" 2> /dev/null || true
    NS_PID=
    rates+=("$(echo "($N - $c0) / ($t1 - $t0)" | bc)")
done
sorted=$(printf '%s\n' "${rates[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(((REPS + 1) / 2))p")
echo "JetStream -> qos::wal (sync always) -> JetStream relay, one nats-server (same host), $N messages," \
    "batch $BATCH, window $WINDOW, max_pending $MAX_PENDING: $median events/s median" \
    "($(echo "$sorted" | head -1)..$(echo "$sorted" | tail -1), $REPS runs)"
