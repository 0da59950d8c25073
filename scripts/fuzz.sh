#!/bin/sh
# fuzz.sh - build the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and
# run each for FUZZ_SECONDS (default 300) over a copy of its seed corpus.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh           every target, 60 s each
#   FUZZ_TARGETS="json yaml" scripts/fuzz.sh  a subset
#   FUZZ_LOCK=/tmp/some.lock                  take this flock around compiling only
#
# The library is built into build-fuzz with -fsanitize=fuzzer-no-link,
# address,undefined; the targets link -fsanitize=fuzzer. Runs happen in
# build-fuzz/fuzz-run/<target>/ (the corpus there grows; tests/fuzz/corpus is
# never written). Prints one line of figures per target and then
# "fuzz: N passed, M failed"; exits 1 if any target crashed, leaked, timed
# out or ran out of memory, naming the reproducer (run the target binary on
# it to see the report again).
set -u
cd "$(dirname "$0")/.." || exit 2

FUZZ_SECONDS=${FUZZ_SECONDS:-300}
B=build-fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -DTR_CHECKED"
CFLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc $(pkg-config --cflags libpq) -Itests/fuzz -g -O1 -pthread"
# link with the same libraries as the Makefile
LDLIBS=$(sed -n 's/^LDLIBS *:= *//p' Makefile)

locked() {
    if [ -n "${FUZZ_LOCK:-}" ]; then flock "$FUZZ_LOCK" "$@"; else "$@"; fi
}

# Longest input per target: enough for its formats, small enough to stay fast.
max_len() {
    case "$1" in
    script | query | utf8) echo 4096 ;;
    wal) echo 131072 ;;
    proc) echo 65536 ;;
    codec) echo 8192 ;;
    *) echo 16384 ;;
    esac
}

if [ -n "${FUZZ_TARGETS:-}" ]; then
    targets=$FUZZ_TARGETS
else
    targets=$(for f in tests/fuzz/fuzz_*.c; do n=${f#tests/fuzz/fuzz_}; echo "${n%.c}"; done)
fi
for t in $targets; do
    [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "fuzz: no target '$t' (tests/fuzz/fuzz_$t.c)"; exit 2; }
done

echo "fuzz: building the library with clang into $B"
locked make -s BUILD=$B CC=clang OPT=-O1 LTO= EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $SAN" $B/libtremor.a ||
    { echo "fuzz: library build failed"; exit 2; }
mkdir -p $B/fuzz
for t in $targets; do
    # shellcheck disable=SC2086
    locked clang $CFLAGS -fsanitize=fuzzer $SAN -o $B/fuzz/fuzz_$t tests/fuzz/fuzz_$t.c \
        $B/libtremor.a $LDLIBS || { echo "fuzz: building fuzz_$t failed"; exit 2; }
done

pass=0
fail=0
failed=""
for t in $targets; do
    run=$B/fuzz-run/$t
    mkdir -p "$run/corpus" "$run/artifacts"
    [ -d "tests/fuzz/corpus/$t" ] && cp -R "tests/fuzz/corpus/$t/." "$run/corpus/"
    unset FUZZ_WAL_DIR
    if [ "$t" = wal ]; then
        # the WAL target's scratch directories: in memory when possible, removed afterwards
        FUZZ_WAL_DIR=$(mktemp -d /dev/shm/tremor-fuzz-wal.XXXXXX 2>/dev/null || mktemp -d)
        export FUZZ_WAL_DIR
        # seeds from the WAL of this build, so a format change cannot leave them stale
        FUZZ_WAL_MKSEED="$run/corpus" $B/fuzz/fuzz_wal >/dev/null 2>&1 ||
            echo "fuzz wal: making seeds failed (continuing with tests/fuzz/corpus/wal)"
    fi
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    rm -f "$run"/artifacts/*
    # shellcheck disable=SC2086
    nice -n "${FUZZ_NICE:-10}" $B/fuzz/fuzz_$t -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
        -timeout=10 -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$run/artifacts/" $dict "$run/corpus" >"$run/log" 2>&1
    rc=$?
    [ "$t" = wal ] && rm -rf "$FUZZ_WAL_DIR"
    last=$(grep -E '^#[0-9]+.*cov: ' "$run/log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$run/log" | tail -n 1)
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$run/log" | tail -n 1)
    [ -z "$repro" ] && repro=$(ls "$run"/artifacts/* 2>/dev/null | head -n 1)
    figures="${secs:-?}s execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?}"
    if [ "$rc" -eq 0 ] && [ -z "$repro" ]; then
        pass=$((pass + 1))
        echo "fuzz $t: ok $figures"
    else
        fail=$((fail + 1))
        failed="$failed $t"
        why=$(grep -m 1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-zA-Z-]+|runtime error: .*|ALARM: libFuzzer: timeout|fuzz oracle failed.*' "$run/log")
        echo "fuzz $t: FAILED (exit $rc) ${why:-see log} $figures"
        echo "  log: $run/log"
        [ -n "$repro" ] && echo "  reproducer: $repro (rerun: $B/fuzz/fuzz_$t $repro)"
        grep -A 12 -m 1 -E 'ERROR: |runtime error|ALARM|fuzz oracle failed' "$run/log" | sed 's/^/  | /'
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
