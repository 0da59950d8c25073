#!/usr/bin/env bash
# peer-tremor.sh - our server as one "peer" of ../shared/bench/peers (PEER_CMD).
#
#   bench/peer-tremor.sh PORT_IN PORT_OUT DIR
#
# Writes a durable relay into DIR/tremor/ and execs `build/tremor server run`
# on it (exec: the PID that run-peer.sh signals and measures is the server):
#   tcp onramp 127.0.0.1:PORT_IN (lines) -> qos::wal (sync = "always")
#   -> tcp offramp 127.0.0.1:PORT_OUT (lines)
# The WAL lives in DIR/buf/wal, so run-peer.sh removes it after the run (unless
# KEEP_BUFFERS=1). It is only the wrapper: it measures nothing itself, except
# that with perf available it counts the server's write/sync system calls
# (perf stat on syscall tracepoints, in-kernel counters, no tracing stops) into
# DIR/perf.csv, from which the WAL's batch size per fdatasync is derived.
# Env: TREMOR_BIN (build/tremor), RELAY_CODEC (json), WAL_SYNC (always),
#      WAL_READ_COUNT (10000), WAL_MAX_IN_FLIGHT (unset: the operator's default, 65536 records and 64 MiB),
#      WAL_MAX_ELEMENTS (unset: no limit), WAL_MAX_BYTES (4 GiB, as syslog-ng's
#      disk-buf-size here; the operator wants one limit), WAL_SPARES (unset: the operator's
#      default spare_segments, 2), RELAY_PERF (1; 0 = no syscall counts),
#      RELAY_VERBOSE (0; 1 = server -v), RELAY_READS (0; 1 = the first select
#      reads the event, `where event.id >= 0`, so the onramp decodes it: on libuv's
#      thread pool unless RELAY_FLAGS has --decode-on-loop), RELAY_FLAGS (extra
#      `server run` flags).
set -eu
[ $# -eq 3 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d' >&2; exit 64; }
port_in=$1 port_out=$2 dir=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tremor=${TREMOR_BIN:-$ROOT/build/tremor}
codec=${RELAY_CODEC:-json}
sync=${WAL_SYNC:-always}
read_count=${WAL_READ_COUNT:-10000}
max_bytes=${WAL_MAX_BYTES:-4294967296}
case "$port_in$port_out$read_count$max_bytes${WAL_MAX_IN_FLIGHT:-0}${WAL_MAX_ELEMENTS:-0}${WAL_SPARES:-0}" in
*[!0-9]*) echo "peer-tremor: ports and WAL_* counts must be plain numbers" >&2; exit 64 ;;
esac
case "$codec" in json | string) ;; *) echo "peer-tremor: RELAY_CODEC must be json or string" >&2; exit 64 ;; esac
case "$sync" in always | interval | none) ;; *) echo "peer-tremor: WAL_SYNC must be always, interval or none" >&2; exit 64 ;; esac
[ -x "$tremor" ] || { echo "peer-tremor: $tremor is not built (make build/tremor)" >&2; exit 1; }

cfg=$dir/tremor
mkdir -p "$cfg" "$dir/buf/wal" "$dir/data"
{
    echo "define qos::wal operator wal"
    echo "with"
    echo "  read_count = $read_count,"
    [ -n "${WAL_MAX_IN_FLIGHT:-}" ] && echo "  max_in_flight = $WAL_MAX_IN_FLIGHT,"
    [ -n "${WAL_MAX_ELEMENTS:-}" ] && echo "  max_elements = $WAL_MAX_ELEMENTS,"
    [ -n "${WAL_SPARES:-}" ] && echo "  spare_segments = $WAL_SPARES,"
    echo "  max_bytes = $max_bytes,"
    echo "  sync = \"$sync\","
    echo "  dir = \"$dir/buf/wal\""
    echo "end;"
    echo "create operator wal;"
    if [ "${RELAY_READS:-0}" = 1 ]; then
        echo "select event from in where event.id >= 0 into wal;"
    else
        echo "select event from in into wal;"
    fi
    echo "select event from wal into out;"
} > "$cfg/relay.trickle"
cat > "$cfg/relay.yaml" << EOF
onramp:
  - id: tcp-in
    type: tcp
    codec: $codec
    preprocessors:
      - lines
    config:
      host: 127.0.0.1
      port: $port_in
offramp:
  - id: tcp-out
    type: tcp
    codec: $codec
    postprocessors:
      - lines
    config:
      host: 127.0.0.1
      port: $port_out
binding:
  - id: relay
    links:
      "/onramp/tcp-in/{instance}/out": ["/pipeline/relay/{instance}/in"]
      "/pipeline/relay/{instance}/out": ["/offramp/tcp-out/{instance}/in"]
mapping:
  /binding/relay/01:
    instance: "01"
EOF

# Count system calls of this process from before the exec on; perf follows the
# exec (same PID) and every thread the server starts.
if [ "${RELAY_PERF:-1}" = 1 ] && command -v perf > /dev/null 2>&1; then
    evs=""
    for s in fdatasync fsync pwrite64 pwritev write writev sendto sendmsg read recvfrom; do
        evs="$evs${evs:+,}syscalls:sys_enter_$s"
    done
    perf stat -x, -e "$evs" -p $$ -o "$dir/perf.csv" > /dev/null 2>&1 &
    perf_pid=$!
    # wait (bounded) until perf holds its counters open on us
    for _ in $(seq 1 100); do
        find "/proc/$perf_pid/fd" -lname '*perf_event*' 2> /dev/null | grep -q . && break
        kill -0 "$perf_pid" 2> /dev/null || break
        sleep 0.02
    done
fi
v=()
[ "${RELAY_VERBOSE:-0}" = 1 ] && v=(-v)
# shellcheck disable=SC2206  # flags are words by design
[ -n "${RELAY_FLAGS:-}" ] && v+=($RELAY_FLAGS)
cd "$dir"
exec "$tremor" server run -n "${v[@]}" -d "$dir/data" -f "$cfg/relay.trickle" "$cfg/relay.yaml"
