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


def cli_run(base, name, rep, stdout, stderr="", rc=0, rss_kb=20480):
    put(base, f"cli/{name}/{rep}/stdout", stdout)
    put(base, f"cli/{name}/{rep}/stderr", stderr)
    put(base, f"cli/{name}/{rep}/proc.json",
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
        t = report.table(self.d)
        for what in ("Tremor cli-bench", "peers (run-all.sh)", "disk ceiling", "RSS with a WAL backlog"):
            self.assertIn(what, t, f"a row for {what} even when it did not run")
        self.assertEqual(t.count("not run"), 4)

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


if __name__ == "__main__":
    unittest.main()
