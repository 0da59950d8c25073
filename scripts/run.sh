#!/bin/sh
# `make run`: the tutorial pipeline (examples/persistent-wal) sending to a
# receiver - a second tremor with a ws onramp on 127.0.0.1:8080 printing
# every event it receives. Ctrl-C stops both (each drains and exits 0).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/build/tremor"
RUN="$ROOT/build/run"
mkdir -p "$RUN"
cp "$ROOT"/examples/receiver/* "$RUN/"

# Each server runs in its own session so that Ctrl-C reaches only this
# script, which then stops them once, in order: sender first, then receiver.
cd "$RUN"
setsid "$BIN" server run -n -f passthrough.trickle receiver.yaml &
RECV=$!
cd "$ROOT/examples/persistent-wal"
setsid "$BIN" server run -d "$RUN/tremor-data" -f etc/tremor/config/* &
TUT=$!

stop() {
    trap '' INT TERM
    kill -TERM "$TUT" 2>/dev/null || true
    wait "$TUT" 2>/dev/null || true
    kill -TERM "$RECV" 2>/dev/null || true
    wait "$RECV" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
echo "make run: receiver pid $RECV, tutorial pid $TUT; events follow (Ctrl-C stops both)" >&2
wait "$TUT" || true
stop
