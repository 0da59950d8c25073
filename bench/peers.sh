#!/usr/bin/env bash
# peers.sh - our durable relay beside syslog-ng and rsyslog, via ../shared/bench/peers/run-all.sh.
#
#   bench/peers.sh OUT_DIR
#
# Runs run-all.sh (needs root: apt-get and unpacking under PB_ROOT) with our
# server as the row cmd/tremor (PEER_CMD = bench/peer-tremor.sh) and the peers
# in PEERS (default "direct/none syslog-ng/reliable rsyslog/disk
# rsyslog/disk-syncfiles"), then copies its result folder into OUT_DIR/peers/
# (runs.tsv, syscalls.tsv, summary.md, machine.txt, peer_cmd.txt) and our
# server's per-run syscall counts into OUT_DIR/peers/perf/REP.csv. It judges
# nothing: report.py reads these files. Knobs of run-all.sh pass through
# (REPS, N, N_STRICT, N_CMD, STRACE_CHECK, STRACE_N, PB_ROOT); FIO defaults to 0
# here because disk_ceiling measures the disk at the WAL's own batch size.
set -u
[ $# -eq 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
RUNALL=$SHARED/bench/peers/run-all.sh
PB=${PB_ROOT:-/tmp/peerbench}
export PB_ROOT=$PB
[ -x "$RUNALL" ] || { echo "peers: no $RUNALL" >&2; exit 1; }

export ONLY=${PEERS:-"direct/none syslog-ng/reliable rsyslog/disk rsyslog/disk-syncfiles"}
export PEER_NAME=tremor
export PEER_CMD="$HERE/peer-tremor.sh @PORT_IN@ @PORT_OUT@ @DIR@"
export FIO=${FIO:-0}
export REPS=${REPS:-3}
export N=${N:-1000000}
mkdir -p "$OUT/peers"
"$RUNALL" > "$OUT/peers/run-all.out" 2> "$OUT/peers/run-all.err"
rc=$?
res=$(sed -n 's/^== done in .* s; results in //p' "$OUT/peers/run-all.err" | tail -1)
if [ -z "$res" ] || [ ! -d "$res" ]; then
    echo "peers: run-all.sh gave no result folder (exit $rc); see $OUT/peers/run-all.err" >&2
    tail -5 "$OUT/peers/run-all.err" >&2
    exit 1
fi
for f in runs.tsv syscalls.tsv summary.md machine.txt peer_cmd.txt fio.tsv; do
    [ -f "$res/$f" ] && cp "$res/$f" "$OUT/peers/"
done
echo "$res" > "$OUT/peers/source.txt"
mkdir -p "$OUT/peers/perf"
for rep in $(seq 1 "$REPS"); do
    r=$PB/runs/cmd-$PEER_NAME-$rep
    # perf writes its counts just after the server exits; wait for them (bounded)
    for _ in $(seq 1 50); do [ -s "$r/perf.csv" ] && break; sleep 0.1; done
    [ -s "$r/perf.csv" ] && cp "$r/perf.csv" "$OUT/peers/perf/$rep.csv"
    [ -f "$r/peer.log" ] && cp "$r/peer.log" "$OUT/peers/perf/$rep.log"
done
exit 0
