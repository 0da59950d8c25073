#!/bin/sh
# ThreadSanitizer run (make tsan): the unit programs given (built with
# -fsanitize=thread into $BUILD) and the end-to-end files whose paths run
# more than one thread (tcp -> qos::wal -> tcp, WAL restart and disk faults,
# nats worker threads and mailboxes, scripts over JSON decoded on the thread
# pool) against the TSan build of tremor.
# Every report of every process goes to $BUILD/tsan-logs; any report fails
# the run and is printed. scripts/tsan.supp says why each suppression is safe.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
B=${BUILD:-build-tsan}
logs="$root/$B/tsan-logs"
rm -rf "$logs"
mkdir -p "$logs"
# second_deadlock_stack: both stacks of a lock-order report; exitcode 66 makes
# a unit program with a report fail even if its tests passed
TSAN_OPTIONS="log_path=$logs/tsan halt_on_error=0 exitcode=66 second_deadlock_stack=1 suppressions=$root/scripts/tsan.supp"
export TSAN_OPTIONS
start=$(date +%s)
fail=0
# TSan slows programs 5-15x: give each unit program more time than plain
UNIT_TIMEOUT=${UNIT_TIMEOUT:-900} scripts/run-unit.sh "$@" || fail=1
TREMOR_BIN="$root/$B/tremor" BUILD="$B" /usr/bin/python3 -m pytest -q --timeout=600 \
    tests/e2e/test_relay.py tests/e2e/test_wal.py tests/e2e/test_disk_faults.py tests/e2e/test_nats.py || fail=1
n=0
for f in "$logs"/tsan.*; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    echo "=== ThreadSanitizer report: $f"
    cat "$f"
done
echo "tsan: $n report file(s), $(( $(date +%s) - start ))s"
[ "$n" -eq 0 ] && [ "$fail" -eq 0 ]
