#!/bin/sh
# Run every unit-test program given; print a summary; fail if any failed.
pass=0; fail=0; failed=""
for t in "$@"; do
    if "$t" >"$t.log" 2>&1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); failed="$failed $t"
        echo "FAILED: $t"; tail -n 40 "$t.log"
    fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
