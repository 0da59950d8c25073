#!/bin/sh
# make difftest: our strftime, regular expressions and float printing against
# the Rust crates Tremor 0.11 computes with (tests/difftest). Builds the Rust
# reference offline with Debian's cargo from Debian's crate sources, runs the
# seeded cases of tests/difftest/seeds (or only the areas named in
# DIFFTEST_AREAS), prints each difference and a table; exit 1 on any.
set -e
BUILD=${BUILD:-build}
DRIVER=$BUILD/difftest/driver
REFDIR=$(pwd)/$BUILD/difftest-ref
# Debian's toolchain, not whatever else is first on PATH
CARGO=/usr/bin/cargo
RUSTC=/usr/bin/rustc
[ -x "$DRIVER" ] || { echo "difftest: $DRIVER missing (make difftest builds it)"; exit 2; }
(cd tests/difftest/ref && RUSTC=$RUSTC $CARGO build --release --offline --quiet --target-dir "$REFDIR")
exec /usr/bin/python3 tests/difftest/difftest.py "$DRIVER" "$REFDIR/release/difftest-ref" tests/difftest/seeds $DIFFTEST_AREAS
