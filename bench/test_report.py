#!/usr/bin/python3
"""test_report.py - report.py on hand-made result folders (no server, no disk timing).

usage: /usr/bin/python3 bench/test_report.py     (not part of `make test`: bench tooling only)

Each test builds the files the bench scripts would leave, then checks the
figures and words report.py derives from them: expected vs actual.
"""
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

RUNS_HDR = ("peer\tmode\trep\tn\tunique\tdups\tlines\tsecs\tevents_per_s\tMB_per_s\tingest_s\t"
            "peer_cpu_s\tpeer_rss_MB\tpeer_disk_MB\tall_arrived\n")
DISK_HDR = ("batch_bytes\trecord_bytes\tsecs\tsyncs\tsyncs_per_s\tMB_per_s\trecords_per_s\t"
            "sync_p50_us\tsync_p99_us\n")
BACKLOG_HDR = "n\tfill_s\tvmhwm_kb\tvmrss_kb\tstart_hwm_kb\twal_bytes\tbytes_per_record\tstatus\n"


def put(base, rel, text):
    p = os.path.join(base, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def perf_csv(fdatasync, fsync=0, write=0):
    return ("# started on Thu Nov 26\n\n"
            f"{fdatasync},,syscalls:sys_enter_fdatasync,1000,100.00,,\n"
            f"{fsync},,syscalls:sys_enter_fsync,1000,100.00,,\n"
            f"{write},,syscalls:sys_enter_pwrite64,1000,100.00,,\n"
            "<not counted>,,syscalls:sys_enter_sendmsg,0,0.00,,\n")


def cli_run(base, name, rep, stdout, stderr="", rc=0, rss_kb=20480, sub="cli"):
    put(base, f"{sub}/{name}/{rep}/stdout", stdout)
    put(base, f"{sub}/{name}/{rep}/stderr", stderr)
    put(base, f"{sub}/{name}/{rep}/proc.json",
        json.dumps({"rc": rc, "signal": None, "timed_out": False, "wall_s": 12.5, "cpu_s": 11.0,
                    "maxrss_kb": rss_kb}))


def full_fixture(base):
    for rep, k in ((1, "1100.0"), (2, "1200.0"), (3, "1,300.0")):
        cli_run(base, "bench_pipe_passthrough_json", rep,
                f"hist...\n\nThroughput   (data): 90.5 MB/s\nThroughput (events): {k}k events/s\n"
                f"Measured: {rep * 1000} events, {rep * 629000} bytes in 9.985 s (after 2 s warmup)\n",
                rss_kb=10240 * rep)
    cli_run(base, "passthrough_json_100b", 1,
            "Throughput   (data): 150.0 MB/s\nThroughput (events): 1.5M events/s\n")
    cli_run(base, "throughput-logging-json", 1, "",
            "INFO  [world] loaded pipeline\nerror: main.trickle:14:8: unknown operator kind 'grouper::bucket'\n",
            rc=1)
    runs = RUNS_HDR
    for rep, ours, sng in ((1, 400000, 100000), (2, 500000, 110000), (3, 450000, 90000)):
        runs += f"syslog-ng\treliable\t{rep}\t1000000\t1000000\t0\t1000000\t9\t{sng}\t10\t7\t11\t30.5\t300\tyes\n"
        runs += f"rsyslog\tdisk-syncfiles\t{rep}\t20000\t20000\t0\t20000\t4\t5000\t0.5\t4\t2\t8.0\t90\tyes\n"
        runs += f"cmd\ttremor\t{rep}\t1000000\t1000000\t0\t1000000\t2\t{ours}\t{ours / 1e4}\t2\t3\t40.0\t150\tyes\n"
        put(base, f"peers/perf/{rep}.csv", perf_csv(fdatasync=1000 * rep, fsync=10))
    put(base, "peers/runs.tsv", runs)
    put(base, "backlog.tsv", BACKLOG_HDR
        + "10000\t0.5\t20000\t19000\t15000\t1500000\t150.0\tok\n"
        + "10000000\t60\t21000\t20000\t15000\t1500000000\t150.0\tok\n")
    disk = DISK_HDR + "75000\t150\t2\t6000\t3000\t450\t3000000\t200\t400\n" \
        + "4096\t150\t2\t20000\t10000\t40.96\t273067\t80\t160\n"
    put(base, "disk/1.tsv", disk)
    put(base, "meta.txt", "date: today\n")


class Parse(unittest.TestCase):
    def test_blackhole_tremor_format(self):
        ev, mb = report.parse_blackhole("\n\nThroughput   (data): 95.4 MB/s\nThroughput (events): 1234.5k events/s\n")
        self.assertAlmostEqual(ev, 1234500.0, msg="events/s from '1234.5k events/s'")
        self.assertAlmostEqual(mb, 95.4, msg="MB/s as printed")

    def test_blackhole_plain_and_mega(self):
        self.assertAlmostEqual(report.parse_blackhole("Throughput (events): 1,500,000 events/s")[0], 1.5e6)
        self.assertAlmostEqual(report.parse_blackhole("Throughput (events): 2.5M events/s")[0], 2.5e6)
        self.assertAlmostEqual(report.parse_blackhole("Throughput (data): 812 kB/s")[1], 0.812)

    def test_blackhole_absent(self):
        ev, mb = report.parse_blackhole("nothing here")
        self.assertTrue(math.isnan(ev) and math.isnan(mb), f"expected NaN, NaN; got {ev}, {mb}")

    def test_why_failed_prefers_error_line(self):
        got = report.why_failed("INFO  [world] loaded\nerror: x.yaml:5:5: unknown type 'blaster'\nmore\n", {"rc": 1})
        self.assertEqual(got, "error: x.yaml:5:5: unknown type 'blaster'")

    def test_why_failed_timeout_and_silence(self):
        self.assertIn("timed out", report.why_failed("", {"timed_out": True}))
        self.assertEqual(report.why_failed("", {"rc": 3}), "exit status 3 and no throughput printed")
        self.assertIn("could not start: [Errno 2]", report.why_failed("", {"rc": 127, "error": "[Errno 2] x"}))

    def test_perf_counts(self):
        c = report.perf_counts_text(perf_csv(42, 3))
        self.assertEqual((c["fdatasync"], c["fsync"]), (42, 3))
        self.assertTrue(math.isnan(c["sendmsg"]), "'<not counted>' is NaN")

    def test_cell_escapes(self):
        self.assertEqual(report.cell("a|b\nc"), "a\\|b c")
        self.assertEqual(len(report.cell("x" * 500)), 200)


class Derive(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_batch_from_perf_and_backlog(self):
        full_fixture(self.d)
        got = report.batch(self.d)
        # events/fdatasync: 1e6/1000, 1e6/2000, 1e6/3000 -> median 500; 500 x 150 B
        self.assertEqual(got[0], 75000, f"batch bytes: expected 75000, got {got}")
        self.assertEqual(got[1], 150.0)
        self.assertAlmostEqual(got[2], 500.0)

    def test_batch_unknown_without_counts(self):
        put(self.d, "peers/runs.tsv", RUNS_HDR
            + "cmd\ttremor\t1\t1000\t1000\t0\t1000\t1\t1000\t0.1\t1\t1\t10\t1\tyes\n")
        self.assertIsNone(report.batch(self.d))

    def test_batch_from_strace_when_no_perf(self):
        put(self.d, "peers/runs.tsv", RUNS_HDR
            + "cmd\ttremor\t1\t1000\t1000\t0\t1000\t1\t1000\t0.1\t1\t1\t10\t1\tyes\n")
        put(self.d, "peers/syscalls.tsv",
            "peer\tmode\tn\tfsync\tfdatasync\tmsync\tsync_file_range\tpwrite64\twrite\twritev\tsendto\tper_event_syncs\n"
            "cmd\ttremor\t5000\t0\t50\t0\t0\t50\t0\t0\t10\t0.010\n")
        got = report.batch(self.d)
        self.assertEqual(got[0], 100 * report.ASSUMED_RECORD_BYTES, f"100 events x assumed record; got {got}")
        self.assertIn("strace", got[3])

    def test_table_full(self):
        full_fixture(self.d)
        t = report.table(self.d)
        lines = t.splitlines()
        def line_of(s):
            m = [l for l in lines if s in l]
            self.assertTrue(m, f"no table line containing {s!r} in:\n{t}")
            return m[0]
        pt = line_of("bench_pipe_passthrough_json")
        self.assertIn("**1,200,000**", pt, "median of 1.1M, 1.2M, 1.3M")
        self.assertIn("1.1M..1.3M (n=3)", pt)
        self.assertIn("30.0", pt, "peak RSS = max of the reps, 30 MB")
        self.assertIn("target ≥ 1M/s: met", pt)
        self.assertIn("629 B/event encoded", pt, "bytes/events from the 'Measured:' line")
        p100 = line_of("passthrough_json_100b")
        self.assertIn("**1,500,000**", p100)
        self.assertIn("target ≥ 1M/s: met", p100)
        tl = line_of("throughput-logging-json")
        self.assertIn("not yet: error: main.trickle:14:8: unknown operator kind 'grouper::bucket'", tl)
        ours = line_of("**ours**")
        self.assertIn("**450,000**", ours)
        self.assertIn("500 events/fdatasync", ours)
        sng = line_of("syslog-ng/reliable")
        self.assertIn("ours/this 4.50×", sng, "450k / 100k")
        self.assertIn("≥ 3×: met", sng)
        rs = line_of("rsyslog/disk-syncfiles")
        self.assertIn("ours/this 90.00×", rs, "450k / 5k")
        dk = line_of("the WAL's batch")
        self.assertIn("75,000 B", dk)
        self.assertIn("ours/ceiling 0.150×", dk, "450k / 3M")
        big = line_of("10,000,000 events")
        self.assertIn("VmHWM/first 1.05×", big)
        self.assertIn("flat ±10% vs 10,000: met", big)
        self.assertIn("WAL batch: 500 events per fdatasync", t)

    def test_table_nothing_ran(self):
        t = report.table(self.d, baseline=os.path.join(self.d, "none.tsv"))
        main, _, i17 = t.partition("| performance target (issue 17) |")
        for what in ("Tremor cli-bench", "peers (run-all.sh)", "disk ceiling", "RSS with a WAL backlog"):
            self.assertIn(what, main, f"a row for {what} even when it did not run")
        self.assertEqual(main.count("not run"), 4)
        self.assertTrue(i17, f"issue 17's table is printed even when nothing ran:\n{t}")

    def test_table_backlog_not_yet(self):
        put(self.d, "backlog.tsv", BACKLOG_HDR + "10000\tNA\tNA\tNA\tNA\tNA\tNA\tnot yet: error: unknown type 'tcp'\n")
        t = report.table(self.d)
        self.assertIn("not yet: error: unknown type 'tcp'", t)

    def test_main_writes_file(self):
        full_fixture(self.d)
        dst = os.path.join(self.d, "res", "latest.md")
        devnull = open(os.devnull, "w")
        old, sys.stdout = sys.stdout, devnull
        try:
            rc = report.main(["table", self.d, "--write", dst])
        finally:
            sys.stdout = old
            devnull.close()
        self.assertEqual(rc, 0)
        with open(dst) as f:
            self.assertIn("| # | measurement |", f.read())


LAT_RESULT = ("lat_tool sink: n=2500000 unique=2500000 lost=0 dups=0 bad=0 connections=1 secs=10.010\n"
              "from scheduled send: p50_ms=0.412 p99_ms=1.870 p999_ms=3.100 max_ms=12.500\n"
              "from actual send: p50_ms=0.400 p99_ms=1.500 p999_ms=2.900 max_ms=12.400\n")
BASELINE = ("# issue 6\nconfig\tevents_per_s\tMB_per_s\n"
            "bench_pipe_passthrough_json\t600000\t360\nthroughput-logging-json\t200000\t120\n"
            "tl-enrich\t100000\t140\n")


def issue17_fixture(base):
    """Peers with ours 1.2M (reps 1.1M, 1.2M, 1.3M), direct 2M, syslog-ng 100k; cli json passthrough
    1.2M at 520 MB/s against 600k at issue 6 (2x); throughput-logging-json 460k against 200k (2.3x);
    tl-enrich 150k against 100k (1.5x); bench_pipe_passthrough ran, has no issue-6 figure."""
    runs = RUNS_HDR
    for rep, ours in ((1, 1100000), (2, 1200000), (3, 1300000)):
        runs += f"cmd\ttremor\t{rep}\t1000000\t1000000\t0\t1000000\t1\t{ours}\t120\t1\t2\t40.0\t150\tyes\n"
        runs += f"direct\tnone\t{rep}\t1000000\t1000000\t0\t1000000\t1\t2000000\t200\t1\t0\t0\t0\tyes\n"
        runs += f"syslog-ng\treliable\t{rep}\t1000000\t1000000\t0\t1000000\t9\t100000\t10\t7\t11\t30\t300\tyes\n"
    put(base, "peers/runs.tsv", runs)
    for name, ev, mb in (("bench_pipe_passthrough_json", "1.2M", "520.0"), ("throughput-logging-json", "460k", "228"),
                         ("tl-enrich", "150k", "210"), ("bench_pipe_passthrough", "800k", "500")):
        cli_run(base, name, 1, f"Throughput   (data): {mb} MB/s\nThroughput (events): {ev} events/s\n")
    put(base, "latency/rate.txt", "600000 half of this run's relay row (1200000 events/s)\n")
    put(base, "latency/result.txt", LAT_RESULT)
    put(base, "baseline.tsv", BASELINE)


class Issue17(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def rows(self, baseline=None):
        t = "\n".join(report.issue17(self.d, baseline or os.path.join(self.d, "baseline.tsv")))
        return t, [l for l in t.splitlines() if l.startswith("| ")]

    def line_of(self, t, s):
        m = [l for l in t.splitlines() if s in l]
        self.assertTrue(m, f"no line containing {s!r} in:\n{t}")
        return m[0]

    def test_all_targets_met(self):
        issue17_fixture(self.d)
        t, _ = self.rows()
        relay = self.line_of(t, "durable relay tcp")
        self.assertIn("1,200,000 events/s", relay, "median of 1.1M, 1.2M, 1.3M")
        self.assertTrue(relay.endswith("| pass |"), relay)
        direct = self.line_of(t, "ours / direct/none")
        self.assertIn("0.60×", direct, "1.2M / 2M")
        self.assertTrue(direct.endswith("| pass |"), direct)
        sng = self.line_of(t, "ours / syslog-ng reliable")
        self.assertIn("12.00×", sng, "1.2M / 100k")
        self.assertTrue(sng.endswith("| pass |"), sng)
        mb = self.line_of(t, "`bench_pipe_passthrough_json` MB/s")
        self.assertIn("520.0 MB/s", mb)
        self.assertTrue(mb.endswith("| pass |"), mb)
        self.assertIn("2.00× (1,200,000 / 600,000", self.line_of(t, "`bench_pipe_passthrough_json` now"))
        tl = self.line_of(t, "`throughput-logging-json` now")
        self.assertIn("2.30× (460,000 / 200,000 events/s); JSON passthrough 2.00×, 1.15 of it", tl)
        self.assertTrue(tl.endswith("| pass |"), "2.3 >= 500 / 228")
        lat = self.line_of(t, "latency of the durable relay")
        self.assertIn("600,000 events/s (half of this run's relay row", lat)
        self.assertIn("p50 0.412 / p99 1.870 / p99.9 3.100 ms", lat)
        self.assertIn("from the actual send p99 1.500 ms", lat)
        self.assertTrue(lat.endswith("| pass |"), lat)
        lost = self.line_of(t, "events lost / duplicated")
        self.assertIn("lost=0 dups=0 of 2,500,000", lost)
        self.assertTrue(lost.endswith("| pass |"), lost)
        self.assertIn("no coordinated omission", t)

    def test_misses(self):
        issue17_fixture(self.d)
        put(self.d, "latency/result.txt", LAT_RESULT.replace("p99_ms=1.870", "p99_ms=2.500"))
        put(self.d, "cli/bench_pipe_passthrough_json/1/stdout",
            "Throughput   (data): 499.0 MB/s\nThroughput (events): 1.2M events/s\n")
        t, _ = self.rows()
        self.assertTrue(self.line_of(t, "`tl-enrich` now").endswith("| miss |"), "1.5 < 0.9 x 2.0")
        self.assertTrue(self.line_of(t, "`bench_pipe_passthrough_json` MB/s").endswith("| miss |"), "499 < 500")
        self.assertTrue(self.line_of(t, "latency of the durable relay").endswith("| miss |"), "p99 2.5 > 2 ms")
        self.assertNotIn("the loader kept only", t, "no load.txt: nothing said about the loader")
        put(self.d, "latency/load.txt", "lat_tool load: sent=2500000 secs=18.7 rate=133580 target_rate=600000 "
                                        "worst_late_ms=8735.464\n")
        t, _ = self.rows()
        self.assertIn("the loader kept only 133,580 events/s, up to 8,735.5 ms behind its schedule",
                      self.line_of(t, "latency of the durable relay"))
        put(self.d, "peers/runs.tsv", RUNS_HDR
            + "cmd\ttremor\t1\t1000000\t1000000\t0\t1000000\t1\t900000\t90\t1\t2\t40\t150\tyes\n"
            + "direct\tnone\t1\t1000000\t1000000\t0\t1000000\t1\t2000000\t200\t1\t0\t0\t0\tyes\n"
            + "syslog-ng\treliable\t1\t1000000\t1000000\t0\t1000000\t9\t95000\t10\t7\t11\t30\t300\tyes\n")
        t, _ = self.rows()
        self.assertTrue(self.line_of(t, "durable relay tcp").endswith("| miss |"), "900k < 1M")
        self.assertTrue(self.line_of(t, "ours / direct/none").endswith("| miss |"), "0.45 < 0.5")
        self.assertTrue(self.line_of(t, "ours / syslog-ng reliable").endswith("| miss |"), "9.47 < 10")

    def test_latency_loss_says_lost(self):
        issue17_fixture(self.d)
        put(self.d, "latency/result.txt", LAT_RESULT.replace("unique=2500000 lost=0 dups=0",
                                                             "unique=2499990 lost=10 dups=3"))
        t, _ = self.rows()
        lat = self.line_of(t, "latency of the durable relay")
        self.assertIn("LOST 10", lat)
        self.assertTrue(lat.endswith("| pass, LOST |"), lat)
        lost = self.line_of(t, "events lost / duplicated")
        self.assertIn("lost=10 dups=3", lost)
        self.assertTrue(lost.endswith("| LOST |"), lost)

    def test_latency_names_the_machines_stalls(self):
        issue17_fixture(self.d)
        t, _ = self.rows()
        self.assertNotIn("cpu_stall", self.line_of(t, "latency of the durable relay"), "no stall.txt: nothing said")
        put(self.d, "latency/stall.txt",
            "cpu_stall: cpu-only threads=2 gaps=3 frozen_pct=0.12 longest_ms=2.6 all_at_once=0 period_ms=0 syncs=0\n"
            "cpu_stall: with-fdatasync threads=2 gaps=77 frozen_pct=10.29 longest_ms=14.6 all_at_once=34 "
            "period_ms=99 syncs=4235\n")
        t, _ = self.rows()
        lat = self.line_of(t, "latency of the durable relay")
        self.assertIn("ran no thread 10.29% of the time while a disk synced beside busy CPUs (longest 14.6 ms, "
                      "every CPU at once every 99 ms), 0.12% with the CPUs busy alone (cpu_stall)", lat)
        self.assertTrue(lat.endswith("| pass |"), "context only: the verdict is the p99's")

    def test_latency_without_result(self):
        put(self.d, "latency/rate.txt", "250000 LAT_RATE\n")
        t, _ = self.rows()
        self.assertTrue(self.line_of(t, "latency of the durable relay").endswith("| miss |"),
                        "the step ran and left no result: a miss, not 'not run'")
        self.assertIn("no result", self.line_of(t, "latency of the durable relay"))

    def test_nothing_ran_every_row_says_not_run(self):
        t, rows = self.rows(baseline=os.path.join(self.d, "absent.tsv"))
        body = rows[1:]   # after the header
        self.assertEqual(len(body), 18, f"3 relay + 2 JSON + 8 cli + 2 latency + 3 reopen rows:\n{t}")
        for r in body:
            if "`bench_pipe_passthrough_json` now" in r:   # the reference ratio: no verdict of its own
                self.assertIn("no issue-6 figure", r)
                continue
            self.assertTrue(r.endswith("| not run |"), f"row does not say 'not run': {r}")
        issue17_fixture(self.d)
        os.remove(os.path.join(self.d, "cli/bench_pipe_passthrough_json/1/proc.json"))
        t, _ = self.rows()
        self.assertIn("| `bench_pipe_passthrough_json` now / end of issue 6 | not run |", t)
        for name in report.CLI_OTHER_EIGHT:
            self.assertIn(f"`{name}` now / end of issue 6", t, "a row for each of the other eight")

    def test_reopen_rows_included(self):
        issue17_fixture(self.d)
        put(self.d, "reopen/rows.md", "| reopen target (issue 17) | figure | target | |\n|---|---|---|---|\n"
            "| reopen of a WAL holding 10.3 GB unacked | 0.099 s | < 1 s | pass |\n"
            "| RSS flat on that reopen | +0.4% | +-10% | pass |\n")
        t, rows = self.rows()
        self.assertIn("| reopen of a WAL holding 10.3 GB unacked | 0.099 s | < 1 s | pass |", rows)
        self.assertIn("| RSS flat on that reopen | +0.4% | +-10% | pass |", rows)
        self.assertNotIn("reopen target", t, "the step's own header is left out")

    def test_no_baseline_figure(self):
        issue17_fixture(self.d)
        t, _ = self.rows()
        bp = self.line_of(t, "`bench_pipe_passthrough` now")
        self.assertIn("800,000 events/s now; no issue-6 figure", bp)
        self.assertTrue(bp.endswith("| no baseline |"), bp)
        self.assertTrue(self.line_of(t, "`throughput-logging-msgpack` now").endswith("| not run |"))

    def test_baseline_from_this_run_wins(self):
        """cli-base/ (the issue-6 server run beside ours) is taken over the TSV, with why a config has none."""
        issue17_fixture(self.d)
        for name, ev in (("bench_pipe_passthrough_json", "400k"), ("throughput-logging-json", "250k"),
                         ("bench_pipe_passthrough", "1.0M")):
            cli_run(self.d, name, 1, f"Throughput (events): {ev} events/s\n", sub="cli-base")
        cli_run(self.d, "tl-enrich", 1, "", stderr="Error:\n  52 | x\nerror: /tmp/a/main.trickle:52:82: Call to "
                                                  "undefined function f\n", rc=1, sub="cli-base")
        put(self.d, "cli-base.rev", "2c91edc\n")
        t, _ = self.rows()
        j = self.line_of(t, "`bench_pipe_passthrough_json` now")
        self.assertIn("3.00×, the median of each rep's ours/issue-6 (3.00×; medians 1,200,000 / 400,000 events/s; "
                      "issue 6: the issue-6 tree 2c91edc in this run", j)
        tl = self.line_of(t, "`throughput-logging-json` now")
        self.assertIn("1.84×, the median of each rep's ours/issue-6 (1.84×; medians 460,000 / 250,000 events/s); "
                      "JSON passthrough 3.00×, 0.61 of it", tl)
        self.assertTrue(tl.endswith("| miss |"), "1.84 < 500 / 228")
        self.assertTrue(self.line_of(t, "`bench_pipe_passthrough` now").endswith("| miss |"), "0.8 < 2.19")
        en = self.line_of(t, "`tl-enrich` now")
        self.assertIn("the issue-6 server cannot run it: Call to undefined function f", en)
        self.assertTrue(en.endswith("| no baseline |"), en)

    def test_ratios_pair_the_runs_of_one_rep(self):
        """The machine slows down between reps: each rep's ours/issue-6 pair says 2.4x, the medians of
        the two servers' figures would say 1.24x."""
        issue17_fixture(self.d)
        for name in ("bench_pipe_passthrough_json", "throughput-logging-json"):
            for rep, ours, old in ((1, "1.2M", "500k"), (2, "600k", "250k"), (3, "620k", "620k")):
                cli_run(self.d, name, rep, f"Throughput (events): {ours} events/s\n")
                cli_run(self.d, name, rep, f"Throughput (events): {old} events/s\n", sub="cli-base")
        cli_run(self.d, "bench_pipe_passthrough", 2, "Throughput (events): 900k events/s\n", sub="cli-base")
        t, _ = self.rows()
        j = self.line_of(t, "`bench_pipe_passthrough_json` now")
        self.assertIn("2.40×, the median of each rep's ours/issue-6 (2.40× 2.40× 1.00×; medians 620,000 / "
                      "500,000 events/s", j)
        tl = self.line_of(t, "`throughput-logging-json` now")
        self.assertTrue(tl.endswith("| pass |"), "2.4 >= 500 / 228, 1.24 would not be: " + tl)
        # no rep in common (ours ran rep 1 only, the issue-6 server rep 2): the two figures' ratio
        p = self.line_of(t, "`bench_pipe_passthrough` now")
        self.assertIn("0.89× (800,000 / 900,000 events/s)", p)

    def test_table_includes_issue17(self):
        issue17_fixture(self.d)
        t = report.table(self.d, baseline=os.path.join(self.d, "baseline.tsv"))
        self.assertIn("| performance target (issue 17) | figure | target | pass/miss |", t)
        self.assertLess(t.index("| # | measurement |"), t.index("| performance target (issue 17) |"),
                        "issue 17's table follows the main table")

    def test_relay_rate(self):
        self.assertTrue(math.isnan(report.relay_rate(self.d)), "no peers: NaN (run.sh falls back to LAT_RATE)")
        issue17_fixture(self.d)
        self.assertEqual(report.relay_rate(self.d), 1200000)

    def test_committed_baseline(self):
        b = report.baseline_rows(report.BASELINE_ISSUE6)
        self.assertEqual(b.get("bench_pipe_passthrough_json"), 380500, "f675eba's bench_pipe_passthrough_json")
        self.assertEqual(b.get("throughput-logging-json"), 262700)


class ReopenRowsTest(unittest.TestCase):
    """reopen_rows.py: the drain baseline leaves out medium runs that emptied their WAL."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import reopen_rows
        self.rows = reopen_rows

    def tearDown(self):
        self.tmp.cleanup()

    def run_rows(self, medium):
        put(self.d, "fill.txt", "events=1000 bytes=100000 fill_s=1.0 sync=always wal_du=100000\n")
        put(self.d, "small.txt", "".join(f"pid=1 first_s=0.03 hwm_first=14000 hwm_drain=16000 ordered=1 "
                                         f"complete=1 first_id=0 last_id=9\n" for _ in range(3)))
        put(self.d, "medium.txt", medium)
        put(self.d, "kill.txt", "pid=2 first_s=0.05 hwm_first=14100 hwm_drain=30000 ordered=1 first_id=0 last_id=99\n")
        put(self.d, "term.txt", "pid=3 first_s=0.05 hwm_first=14100 hwm_drain=30000 ordered=1 first_id=100 last_id=199\n")
        out = os.path.join(self.d, "out.md")
        with open(out, "w") as f:
            old = sys.stdout
            sys.stdout = f
            try:
                self.assertEqual(self.rows.main(["reopen_rows.py", self.d, "10", "500", "5"]), 0)
            finally:
                sys.stdout = old
        with open(out) as f:
            return [line for line in f if line.startswith("| RSS flat")][0]

    def test_emptied_medium_runs_are_left_out(self):
        # two runs still draining at 30000 kB, one that emptied its WAL and sat idle at 20000 kB
        row = self.run_rows("pid=4 hwm_drain=30000 ordered=1 first_id=0 last_id=300\n"
                            "pid=5 hwm_drain=30500 ordered=1 first_id=0 last_id=320\n"
                            "pid=6 hwm_drain=20000 ordered=1 first_id=0 last_id=499\n")
        self.assertIn("1 of its 3 runs emptied it within 5 s and are left out", row)
        self.assertTrue(row.rstrip().endswith("| pass |"), row)

    def test_idle_baseline_alone_is_no_baseline(self):
        row = self.run_rows("pid=6 hwm_drain=20000 ordered=1 first_id=0 last_id=499\n")
        self.assertTrue(row.rstrip().endswith("| miss |"), row)

    def test_growth_over_a_draining_baseline_misses(self):
        row = self.run_rows("pid=4 hwm_drain=20000 ordered=1 first_id=0 last_id=300\n")
        self.assertTrue(row.rstrip().endswith("| miss |"), row)


if __name__ == "__main__":
    unittest.main()
