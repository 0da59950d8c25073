# tremor-c - the front door.
#   make            build build/tremor
#   make run        the tutorial pipeline plus a receiver (Ctrl-C stops both)
#   make test       every test: unit (plain and ASan+UBSan), conformance, end-to-end
#   make tsan       ThreadSanitizer run of the threaded paths: WAL, qos::wal, nats, e2e relay (~12 min; not in make test)
#   make bench-wal  WAL engine figures (not a test)
#   make bench-codecs  our decoders beside libmsgpack-c and libyaml (not a test)
#   make bench-json    our JSON codec beside simdjson and jansson (not a test)
#   make bench      side-by-side performance table (bench/README.md; not a test)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 300) each (not a test)
#   make soak       long mixed-load run with kills and faults, ending in an id accounting (not a test)
#   make install    binary, man page, systemd unit, /etc/tremor example (PREFIX, DESTDIR)
#   make difftest   strftime, regex and float printing against 0.11's Rust crates (needs cargo; not in make test)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wconversion -Werror -Isrc $(shell pkg-config --cflags libpq) -g $(OPT) -pthread -MMD -MP
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DTR_CHECKED
LDSAN := -fsanitize=address,undefined
endif
# SAN=thread: ThreadSanitizer (make tsan); cannot be combined with ASan
ifeq ($(SAN),thread)
CFLAGS_BASE += -fsanitize=thread -fno-omit-frame-pointer -DTR_CHECKED
LDSAN := -fsanitize=thread
endif
# The server is linked with link-time optimisation: one event's path crosses
# a dozen files (connector, world, pipeline, codec, value) and inlining across
# them is worth 9% on the string passthrough. The objects are fat, so tests,
# tools and benches link from their plain code (-fno-lto) instead of paying
# for an LTO link each. Not for the sanitizer builds. LTO= turns it off.
ifeq ($(SAN),)
LTO     ?= -flto=auto -ffat-lto-objects
endif
NOLTO   := $(if $(strip $(LTO)),-fno-lto)
CFLAGS  := $(CFLAGS_BASE) $(LTO) $(EXTRA_CFLAGS)
LDLIBS  := -luv -lhttp_parser -lcurl -lyaml -lsystemd -lwslay -lssl -lcrypto -llzma -lz -lsnappy -llz4 -lzstd -lpcre2-8 -lunistring -lonig -llmdb -lcares -lrdkafka -lpq -lnats -lm -lpthread
PYTHON  := /usr/bin/python3

SRCS      := $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
OBJS      := $(SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libtremor.a
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c tests/wal/test_*.c tests/fault/test_*.c tests/lang/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
# helper programs used by tests (not tests themselves), e.g. the WAL crash child
TOOL_SRCS := $(sort $(wildcard tests/*/tool_*.c))
TOOL_BINS := $(TOOL_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: install all deps run test unit unit-asan tsan e2e conformance fuzz fuzz-smoke soak bench bench-wal difftest bench-codecs bench-json clean
all: $(BUILD)/tremor

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tremor: $(CLI_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NOLTO) $(LDSAN) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# codec_bench compares our decoders with libmsgpack-c and libyaml (bench only; tremor does not link msgpack-c)
$(BUILD)/bench/codec_bench: LDLIBS += -lmsgpackc

# json_bench puts simdjson (C++, parse only) and jansson beside our JSON codec
# (bench only; tremor links neither)
$(BUILD)/bench/json_bench_simdjson.o: bench/json_bench_simdjson.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -g -c $< -o $@
$(BUILD)/bench/json_bench: $(BUILD)/bench/json_bench_simdjson.o
$(BUILD)/bench/json_bench: LDLIBS += $(BUILD)/bench/json_bench_simdjson.o -lsimdjson -ljansson -lstdc++

# lat_tool (the latency step's loader and sink) is plain C and POSIX: no library
$(BUILD)/bench/lat_tool: bench/lat_tool.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $<

# cpu_stall (how long the machine stops its threads while a disk syncs) too
$(BUILD)/bench/cpu_stall: bench/cpu_stall.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $< -lpthread

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NOLTO) $(LDSAN) -o $@ $< $(LIB) $(LDLIBS)

# Unit, WAL, fault and language tests: every tests/*/test_*.c is one cmocka
# program, run from the repo root so it can find ../shared.
unit: $(TEST_BINS) $(TOOL_BINS) $(BUILD)/tremor
	@scripts/run-unit.sh $(TEST_BINS)

unit-asan: deps
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 unit

# ThreadSanitizer: the programs whose paths run more than one thread (the WAL's
# syncer thread, the nats connectors' worker threads and mailboxes, onramps
# decoding on libuv's thread pool), built into
# build-tsan and run by scripts/tsan.sh, which fails on any report.
TSAN_TESTS := $(sort $(wildcard tests/wal/test_*.c tests/fault/test_*.c)) tests/unit/test_qos_wal.c \
              tests/unit/test_world.c
tsan: deps
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 build-tsan/tremor $(TSAN_TESTS:tests/%.c=build-tsan/tests/%) build-tsan/tests/e2e/tool_nats
	BUILD=build-tsan scripts/tsan.sh $(TSAN_TESTS:tests/%.c=build-tsan/tests/%)

conformance: $(BUILD)/tremor
	@if [ -x scripts/conformance.sh ]; then scripts/conformance.sh; fi

e2e: $(BUILD)/tremor $(TOOL_BINS)
	$(PYTHON) -m pytest -q --timeout=300 tests/e2e bench/test_report.py

test: deps
	$(MAKE) all unit
	$(MAKE) unit-asan
	$(MAKE) conformance
	$(MAKE) e2e
	$(MAKE) fuzz-smoke

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang into build-fuzz.
# FUZZ_SECONDS per target; fuzz-smoke runs each a few seconds over its corpus.
FUZZ_SECONDS ?= 300
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

fuzz-smoke: deps
	FUZZ_SECONDS=3 scripts/fuzz.sh

# Differential tests against the Rust crates of 0.11 (tests/difftest): its own
# deps group (Debian's cargo and crate sources), so `make test` needs no Rust.
$(BUILD)/difftest/driver: tests/difftest/driver.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NOLTO) $(LDSAN) -o $@ $< $(LIB) $(LDLIBS)

difftest: $(BUILD)/difftest/driver
	@scripts/deps.sh difftest
	BUILD=$(BUILD) scripts/difftest.sh

soak: deps $(BUILD)/tremor
	TREMOR_BIN=$(abspath $(BUILD)/tremor) $(PYTHON) tests/soak/soak.py

run: deps $(BUILD)/tremor
	@scripts/run.sh

bench-wal: deps $(BUILD)/bench/wal_bench
	$(BUILD)/bench/wal_bench

bench-codecs: deps $(BUILD)/bench/codec_bench
	$(BUILD)/bench/codec_bench

bench-json: deps $(BUILD)/bench/json_bench
	$(BUILD)/bench/json_bench

bench: deps $(BUILD)/tremor $(BUILD)/bench/disk_ceiling $(BUILD)/bench/json_bench $(BUILD)/bench/lat_tool $(BUILD)/bench/cpu_stall
	TREMOR_BIN=$(abspath $(BUILD)/tremor) DISK_CEILING_BIN=$(abspath $(BUILD)/bench/disk_ceiling) LAT_TOOL_BIN=$(abspath $(BUILD)/bench/lat_tool) CPU_STALL_BIN=$(abspath $(BUILD)/bench/cpu_stall) bench/run.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)

# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR     := $(PREFIX)/bin
DATADIR    := $(PREFIX)/share
MANDIR     := $(DATADIR)/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SUBST      := sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
install: $(BUILD)/tremor
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/tremor \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/tremor/config
	install -m 755 $(BUILD)/tremor $(DESTDIR)$(BINDIR)/tremor
	install -m 644 docs/tremor.1 $(DESTDIR)$(MANDIR)/man1/tremor.1
	$(SUBST) packaging/tremor.sh > $(DESTDIR)$(DATADIR)/tremor/tremor.sh
	chmod 755 $(DESTDIR)$(DATADIR)/tremor/tremor.sh
	$(SUBST) packaging/systemd/tremor.service.in > $(DESTDIR)$(UNITDIR)/tremor.service
	chmod 644 $(DESTDIR)$(UNITDIR)/tremor.service
	install -m 644 packaging/etc/tremor/logger.yaml $(DESTDIR)$(SYSCONFDIR)/tremor/logger.yaml
	install -m 644 packaging/etc/tremor/config/main.yaml.sample packaging/etc/tremor/config/main.trickle.sample \
		$(DESTDIR)$(SYSCONFDIR)/tremor/config/
