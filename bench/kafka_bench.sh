#!/usr/bin/env bash
# kafka_bench.sh - `make bench` step `kafka`: a Kafka -> qos::wal -> Kafka relay by our server
# through librdkafka's mock cluster (tests/e2e/tool_kafka_mock: 3 brokers in one process on
# this machine, so the brokers share the 2 cores with the relay; a real cluster's figures differ).
#
#   bench/kafka_bench.sh OUT
#
# Produces KAFKA_N (200000) records {"id":n} into `src` (4 partitions) first, then starts the
# relay and reports events/s from the first record in `dst` to the last (group join excluded),
# median of KAFKA_REPS (3) runs, into OUT/kafka.txt. Measures and prints; asserts nothing.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${1:?usage: kafka_bench.sh OUT}
N=${KAFKA_N:-200000}
REPS=${KAFKA_REPS:-3}
TREMOR_BIN=${TREMOR_BIN:-$ROOT/build/tremor}
MOCK=${KAFKA_MOCK_BIN:-$ROOT/build/tests/e2e/tool_kafka_mock}
[ -x "$MOCK" ] || { echo "kafka_bench: $MOCK is not built" >&2; exit 1; }
mkdir -p "$OUT/kafka"
now() { date +%s.%N; }

run_once() {
    local dir=$1 rates_file=$2
    rm -rf "$dir" && mkdir -p "$dir"
    coproc MOCKP { exec "$MOCK" 3 2> "$dir/mock.err"; }
    local first bs
    read -r first bs <&"${MOCKP[0]}"
    cmd() { echo "$1" >&"${MOCKP[1]}"; local a; read -r a <&"${MOCKP[0]}"; echo "$a"; }
    cmd "topic src 4" > /dev/null
    cmd "topic dst 4" > /dev/null
    cmd "produce src 0 $N" > /dev/null
    local brokers
    brokers=$(echo "$bs" | sed 's/[^,]*/"&"/g; s/,/, /g')
    cat > "$dir/q.trickle" << 'Q'
define qos::wal operator w
with
  read_count = 1000,
  max_elements = 1000000,
  sync = "always"
end;
create operator w;
select event from in into w;
select event from w into out;
Q
    cat > "$dir/config.yaml" << C
onramp:
  - id: kin
    type: kafka
    codec: json
    config:
      brokers: [$brokers]
      topics: [src]
      group_id: bench
      rdkafka_options:
        auto.offset.reset: earliest
offramp:
  - id: kout
    type: kafka
    codec: json
    config:
      brokers: [$brokers]
      topic: dst
      rdkafka_options:
        queue.buffering.max.ms: "5"
binding:
  - id: b
    links:
      "/onramp/kin/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/kout/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
C
    (cd "$dir" && exec "$TREMOR_BIN" server run -n -d data -f q.trickle config.yaml > tremor.out 2> tremor.err) &
    local tp=$! t0="" t1="" c=0 deadline=$(($(date +%s) + 300))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        c=$(cmd "count dst 4" | awk '{print $2}')
        [ -z "$t0" ] && [ "${c:-0}" -gt 0 ] && t0=$(now) && c0=$c
        [ "${c:-0}" -ge "$N" ] && t1=$(now) && break
        sleep 0.05
    done
    kill -TERM "$tp" 2> /dev/null
    wait "$tp" 2> /dev/null
    exec {MOCKP[1]}>&-
    wait "$MOCKP_PID" 2> /dev/null
    if [ -z "$t1" ]; then
        echo "kafka_bench: only ${c:-0} of $N records relayed (see $dir/tremor.err)" >&2
        return 1
    fi
    awk -v n="$N" -v c0="$c0" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", (n - c0) / (b - a) }' >> "$rates_file"
}

rates="$OUT/kafka/rates.txt"
: > "$rates"
for rep in $(seq 1 "$REPS"); do
    run_once "$OUT/kafka/run$rep" "$rates" || true
done
sort -n "$rates" | awk -v n="$N" -v reps="$REPS" '
    { v[NR] = $1 }
    END {
        if (NR == 0) { print "kafka -> qos::wal (sync always) -> kafka relay: no run finished"; exit }
        printf "kafka -> qos::wal (sync always) -> kafka relay, librdkafka mock cluster (3 brokers, same host), %d records, 4 partitions: %d events/s median (%d..%d, %d of %d runs)\n", n, v[int((NR + 1) / 2)], v[1], v[NR], NR, reps
    }' | tee "$OUT/kafka.txt"
