#!/bin/sh
# Run Tremor 0.11's language conformance data through our implementation.
# Fails only when a case listed in tests/lang/conformance-pass.txt fails;
# the scoreboard shows every suite and tier. Extra arguments go to the runner
# (e.g. -v for expected/actual text, -c suite/case to run one case).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${TREMOR_CONFORMANCE_DATA:-../shared/conformance/tremor-0.11}
if [ ! -d "$DATA" ]; then
    echo "conformance: data folder $DATA not found" >&2
    exit 1
fi
make -s "$BUILD/tests/lang/tool_conformance"
exec "$BUILD/tests/lang/tool_conformance" -l tests/lang/conformance-pass.txt "$@" "$DATA"
