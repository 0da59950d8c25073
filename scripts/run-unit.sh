#!/bin/sh
# Run every unit-test program given; print a summary; fail if any failed.
# Each program gets UNIT_TIMEOUT seconds (default 600): a hang fails with the
# test's name instead of stalling the run.
limit=${UNIT_TIMEOUT:-600}
pass=0; fail=0; failed=""
for t in "$@"; do
    timeout -k 10 "$limit" "$t" >"$t.log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); failed="$failed $t"
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "FAILED: $t (timed out after ${limit}s)"
        else
            echo "FAILED: $t (exit $rc)"
        fi
        tail -n 40 "$t.log"
    fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
