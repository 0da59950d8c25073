#!/usr/bin/env bash
# base_build.sh - build the server as it was at the end of issue 6, the baseline
# of issue 17's "the other eight cli-bench configurations improve in proportion".
#
#   bench/base_build.sh DIR        (prints DIR/build/tremor on success)
#
# Exports ISSUE6_REV (default 2c91edc, the tree bench/results/baseline-issue6.tsv
# was measured on) from this checkout's history with `git archive` into DIR and
# runs `make build/tremor` there: the same compiler and flags as now, so the
# cli step can run both servers on the same configs, interleaved, in one run.
# Needs the history (a clone, not an export). Exits non-zero, saying why, when
# the tree cannot be had or built; report.py then falls back to the TSV.
set -u
[ $# -eq 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 64; }
DIR=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REV=${ISSUE6_REV:-2c91edc}
if [ -x "$DIR/build/tremor" ] && [ "$(cat "$DIR/.rev" 2> /dev/null)" = "$REV" ]; then
    echo "$DIR/build/tremor"
    exit 0
fi
git -C "$ROOT" rev-parse --verify -q "$REV^{commit}" > /dev/null ||
    { echo "base_build: $REV is not in this checkout's history" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
git -C "$ROOT" archive "$REV" | tar -x -C "$DIR" || { echo "base_build: cannot export $REV" >&2; exit 1; }
# not the caller's make variables (make bench BUILD=... SAN=1 would reach the old tree)
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -C "$DIR" --no-print-directory -j"$(nproc)" BUILD=build \
    build/tremor > "$DIR/build.log" 2>&1 || { echo "base_build: $REV does not build, see $DIR/build.log" >&2; exit 1; }
[ -x "$DIR/build/tremor" ] || { echo "base_build: $REV built no $DIR/build/tremor" >&2; exit 1; }
echo "$REV" > "$DIR/.rev"
echo "$DIR/build/tremor"
