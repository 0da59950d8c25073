#!/usr/bin/python3
"""report.py - turn one `make bench` result folder into the Markdown table.

usage: report.py table OUT_DIR [--write FILE]   print the table (and write it to FILE)
       report.py batch OUT_DIR                  print "BATCH_BYTES RECORD_BYTES EVENTS_PER_SYNC SOURCE"
                                                for disk_ceiling, or nothing if unknown
       report.py relay-rate OUT_DIR             print our relay's median events/s (row 2), or nothing

It only reads what the bench scripts left in OUT_DIR (cli/, peers/, disk/,
latency/, backlog.tsv, meta.txt) and bench/results/baseline-issue6.tsv, and
never runs anything. Every figure in the table is the median of the
repetitions found, with min..max beside it; a part that did not run or could
not be parsed is a row that says so, never a missing row. After the table,
issue 17's targets, each with pass or miss.
"""
import csv
import glob
import json
import math
import os
import re
import statistics
import sys

TARGET_PASSTHROUGH = 1_000_000      # events/s, issue 6
TARGET_JSON_MBPS = 500.0            # MB/s of bench_pipe_passthrough_json, issue 17
TARGET_VS_SYSLOG_NG = 3.0           # ours / syslog-ng reliable
TARGET_VS_RSYSLOG_SYNC = 50.0       # ours / rsyslog disk-syncfiles
TARGET_RSS_FLAT = 0.10              # +-10 % between the smallest and largest backlog
ASSUMED_RECORD_BYTES = 120          # 100-byte event + 20-byte WAL frame, if not measured
# issue 17
TARGET_RELAY_EPS = 1_000_000        # durable relay (row 2, ours), events/s
TARGET_VS_DIRECT = 0.5              # ours / direct/none, the loader -> sink ceiling
TARGET17_VS_SYSLOG_NG = 10.0        # ours / syslog-ng reliable: "about 10x"; pass at >= 10x
# "the other eight cli-bench configurations improve in proportion": in the
# proportion the issue asks of the JSON passthrough, its 228 MB/s at the
# end of issue 6 to 500 MB/s. (The JSON passthrough itself went further by
# carrying its text undecoded, which a pipeline that reads the event cannot
# do; each row also shows its ratio against that one.)
ISSUE6_JSON_MBPS = 228.0
TARGET_PROPORTION = TARGET_JSON_MBPS / ISSUE6_JSON_MBPS   # 2.19x
TARGET_P99_MS = 2.0                 # latency at half the relay's maximum rate
BASELINE_ISSUE6 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "baseline-issue6.tsv")
JSON_PASSTHROUGH = "bench_pipe_passthrough_json"
CLI_OTHER_EIGHT = ["bench_pipe_passthrough", "bench_pipe_passthrough_msgpack", "bench_pipe_passthrough_influx",
                   "bench_pipe_passthrough_binflux", "bench_pipe_passthrough_two_inputs",
                   "throughput-logging-json", "throughput-logging-msgpack", "tl-enrich"]

CLI_TITLES = {
    "bench_pipe_passthrough": "blaster (data.json.xz) -> `select event` -> blackhole, string codec",
    "bench_pipe_passthrough_json": "blaster (data.json.xz) -> `select event` -> blackhole, json codec",
    "bench_pipe_passthrough_msgpack": "blaster (data.msgpack.xz) -> `select event` -> blackhole, msgpack codec",
    "bench_pipe_passthrough_influx": "blaster (data.influx.xz) -> `select event` -> blackhole, influx codec",
    "bench_pipe_passthrough_binflux": "blaster (data.binflux.xz, base64 lines) -> `select event` -> blackhole, binflux codec",
    "bench_pipe_passthrough_two_inputs": "two blasters (data.json.xz) -> `select event` -> blackhole, json codec",
    "throughput-logging-msgpack": "blaster -> script + grouper::bucket -> blackhole, msgpack codec",
    "tl-enrich": "blaster (generated web-log lines) -> dissect/datetime script -> blackhole, string in, json out",
    "throughput-logging-json": "blaster -> script + grouper::bucket -> blackhole, json codec",
    "passthrough_json_100b": "blaster (100-byte lines like the peers' load) -> `select event` -> blackhole, json codec",
}
PEER_TITLES = {
    ("direct", "none"): "loader -> sink, nothing between (the tools' ceiling)",
    ("syslog-ng", "reliable"): "syslog-ng disk-buffer(reliable(yes)): 1 pwrite/event, no fsync",
    ("syslog-ng", "normal"): "syslog-ng disk-buffer(reliable(no))",
    ("syslog-ng", "memory"): "syslog-ng, memory queue only",
    ("rsyslog", "memory"): "rsyslog, memory queue only",
    ("rsyslog", "da"): "rsyslog disk-assisted queue",
    ("rsyslog", "da-small"): "rsyslog disk-assisted queue, 1000 in memory",
    ("rsyslog", "disk"): "rsyslog queue.type=Disk: 1 write/event, no fsync",
    ("rsyslog", "disk-syncfiles"): "rsyslog Disk + syncQueueFiles: fdatasync + fsync per event",
    ("rsyslog", "disk-sync"): "rsyslog Disk + syncQueueFiles + checkpointInterval=1",
}
TARGETS = {("syslog-ng", "reliable"): TARGET_VS_SYSLOG_NG, ("rsyslog", "disk-syncfiles"): TARGET_VS_RSYSLOG_SYNC}


# ------------------------------------------------------------------ helpers

def num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def clean(vals):
    return [v for v in vals if v is not None and not math.isnan(v)]


def med(vals):
    vals = clean(vals)
    return statistics.median(vals) if vals else math.nan


def short(v):
    """1234567 -> 1.23M, 45678 -> 45.7k."""
    if math.isnan(v):
        return "NA"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


def full(v, nd=0):
    return "NA" if math.isnan(v) else f"{v:,.{nd}f}"


def spread(vals):
    vals = clean(vals)
    if not vals:
        return "—"
    return f"{short(min(vals))}..{short(max(vals))} (n={len(vals)})"


def ratio(a, b):
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def fmt_ratio(r, nd=2):
    return "NA" if math.isnan(r) else f"{r:.{nd}f}×"


def cell(text, limit=200):
    """Markdown-safe table cell: one line, no pipes, bounded."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_tsv(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t"))


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ------------------------------------------------------ 1. Tremor cli-bench

_EV = re.compile(r"Throughput\s*\(events\)\s*:\s*([0-9][0-9.,]*)\s*([kKmMgG]?)\s*(?:events|ev)\s*/\s*s")
_DATA = re.compile(r"Throughput\s*\(data\)\s*:\s*([0-9][0-9.,]*)\s*([kKmMgG]?)i?B\s*/\s*s")
_MEASURED = re.compile(r"Measured:\s*([0-9]+)\s*events,\s*([0-9]+)\s*bytes")
_MUL = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}


def parse_blackhole(text):
    """(events/s, MB/s) from a blackhole's stop report; NaN where absent."""
    ev = mb = math.nan
    m = _EV.search(text)
    if m:
        ev = float(m.group(1).replace(",", "")) * _MUL[m.group(2)]
    m = _DATA.search(text)
    if m:   # "95.4 MB/s" -> 95.4; "812 kB/s" -> 0.812
        mb = float(m.group(1).replace(",", "")) * _MUL[m.group(2)] / 1e6
    return ev, mb


def why_failed(stderr, proc):
    """The line that says why a run printed no throughput."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for l in lines:
        if l.lower().rstrip(":") == "error":
            continue   # a heading; the located line follows
        if l.lower().startswith("error") or " ERROR " in f" {l} " or l.startswith("ERROR"):
            return l
    if proc.get("error"):
        return f"could not start: {proc['error']}"
    if proc.get("timed_out"):
        return "timed out without printing a throughput"
    if lines:
        return lines[-1]
    if proc.get("signal"):
        return f"killed by signal {proc['signal']}"
    return f"exit status {proc.get('rc')} and no throughput printed"


def cli_results(out, sub="cli"):
    """{name: {"ev": [...], "mb": [...], "rss_kb": [...], "cpu": [...], "error": str|None}}
    sub "cli-base": the issue-6 server's runs of the same configs (cli_bench.sh, CLI_BASE_BIN)."""
    res = {}
    for d in sorted(glob.glob(os.path.join(out, sub, "*"))):
        name = os.path.basename(d)
        r = {"ev": [], "mb": [], "rss_kb": [], "cpu": [], "wall": [], "bytes_per_event": [], "error": None,
             "runs": 0, "by_rep": {}}
        reps = sorted((p for p in glob.glob(os.path.join(d, "*")) if os.path.basename(p).isdigit()),
                      key=lambda p: int(os.path.basename(p)))
        for rd in reps:
            try:
                with open(os.path.join(rd, "proc.json")) as f:
                    proc = json.load(f)
            except (OSError, ValueError):
                continue
            r["runs"] += 1
            stdout, stderr = read_text(os.path.join(rd, "stdout")), read_text(os.path.join(rd, "stderr"))
            ev, mb = parse_blackhole(stdout + "\n" + stderr)
            if math.isnan(ev):
                r["error"] = r["error"] or why_failed(stderr, proc)
                continue
            r["ev"].append(ev)
            r["by_rep"][int(os.path.basename(rd))] = ev
            r["mb"].append(mb)
            m = _MEASURED.search(stdout)
            if m and int(m.group(1)):
                r["bytes_per_event"].append(int(m.group(2)) / int(m.group(1)))
            r["rss_kb"].append(num(proc.get("maxrss_kb")))
            r["cpu"].append(num(proc.get("cpu_s")))
            r["wall"].append(num(proc.get("wall_s")))
        res[name] = r
    return res


# ------------------------------------------------------------- 2. peers

def perf_counts(path):
    """{syscall: count} from a `perf stat -x,` output file."""
    return perf_counts_text(read_text(path))


def perf_counts_text(text):
    """{syscall: count} from `perf stat -x,` output ("<not counted>" is NaN)."""
    counts = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(",")
        if len(f) < 3:
            continue
        m = re.search(r"sys_enter_(\w+)", f[2])
        if m:
            counts[m.group(1)] = num(f[0])
    return counts


def peer_results(out):
    rows = read_tsv(os.path.join(out, "peers", "runs.tsv"))
    groups = {}
    for r in rows:
        groups.setdefault((r["peer"], r["mode"]), []).append(r)
    perf = {}
    for p in glob.glob(os.path.join(out, "peers", "perf", "*.csv")):
        rep = os.path.splitext(os.path.basename(p))[0]
        perf[rep] = perf_counts(p)
    sysc = {(r["peer"], r["mode"]): r for r in read_tsv(os.path.join(out, "peers", "syscalls.tsv"))}
    return groups, perf, sysc


def ours_key(groups):
    for k in groups:
        if k[0] == "cmd":
            return k
    return None


def ours_syncs(groups, perf, sysc):
    """(fdatasync+fsync per event, events per fdatasync, source) for our relay."""
    k = ours_key(groups)
    if not k:
        return math.nan, math.nan, None
    per_ev, per_sync = [], []
    for r in groups[k]:
        c = perf.get(r["rep"])
        n = num(r["n"])
        if not c or math.isnan(c.get("fdatasync", math.nan)) or not n:
            continue
        fds = c.get("fdatasync", 0)
        per_ev.append((fds + c.get("fsync", 0)) / n)
        if fds:
            per_sync.append(n / fds)
    if per_ev:
        return med(per_ev), med(per_sync), "perf syscall counters, timed runs"
    s = sysc.get(k)
    if s:
        n, fds = num(s["n"]), num(s["fdatasync"])
        return (fds + num(s["fsync"])) / n, (n / fds if fds else math.nan), f"strace pass, N={int(n)}"
    return math.nan, math.nan, None


# ------------------------------------------------------ 3. disk and backlog

def backlog_rows(out):
    return read_tsv(os.path.join(out, "backlog.tsv"))


def record_bytes(out):
    for r in backlog_rows(out):
        v = num(r.get("bytes_per_record"))
        if r.get("status") == "ok" and not math.isnan(v) and v > 0:
            return v, f"WAL bytes/record measured with a {int(num(r['n'])):,}-event backlog"
    return float(ASSUMED_RECORD_BYTES), "assumed 100 B event + 20 B frame (no backlog measurement)"


def batch(out):
    groups, perf, sysc = peer_results(out)
    _, per_sync, src = ours_syncs(groups, perf, sysc)
    if math.isnan(per_sync):
        return None
    rb, rsrc = record_bytes(out)
    return max(1, int(round(per_sync * rb))), rb, per_sync, f"{src}; {rsrc}"


def disk_results(out):
    """{batch_bytes: [row, ...]} over every disk/*.tsv."""
    res = {}
    for p in sorted(glob.glob(os.path.join(out, "disk", "*.tsv"))):
        for r in read_tsv(p):
            res.setdefault(int(num(r["batch_bytes"])), []).append(r)
    return res


# ------------------------------------------- 5. latency at half the maximum

_KV = re.compile(r"([a-z0-9_]+)=(-?[0-9.]+)")


def latency_result(out):
    """{"rate", "source", counts..., "sched": {p50_ms...}, "sent": {...}} or None when the step did not run."""
    d = os.path.join(out, "latency")
    rate_txt = read_text(os.path.join(d, "rate.txt")).strip()
    text = read_text(os.path.join(d, "result.txt"))
    if not rate_txt and not text:
        return None
    parts = rate_txt.split(None, 1)
    res = {"rate": num(parts[0]) if parts else math.nan, "source": parts[1] if len(parts) > 1 else "",
           "sched": {}, "sent": {}, "ok": False}
    for line in text.splitlines():
        kv = {k: num(v) for k, v in _KV.findall(line)}
        if line.startswith("lat_tool sink:"):
            res.update(kv)
            res["ok"] = "n" in kv and "lost" in kv
        elif line.startswith("from scheduled send"):
            res["sched"] = kv
        elif line.startswith("from actual send"):
            res["sent"] = kv
    for line in read_text(os.path.join(d, "load.txt")).splitlines():
        if line.startswith("lat_tool load:"):
            res["load"] = {k: num(v) for k, v in _KV.findall(line)}
    res["stall"] = {}
    for line in read_text(os.path.join(d, "stall.txt")).splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] == "cpu_stall:":
            res["stall"][parts[1]] = {k: num(v) for k, v in _KV.findall(line)}
    return res


def stall_note(stall):
    """What cpu_stall found, as a clause for the latency figure ("" when it did not run)."""
    busy, idle = stall.get("with-fdatasync"), stall.get("cpu-only")
    if not busy or not idle:
        return ""
    note = (f"; this machine ran no thread {full(busy.get('frozen_pct', math.nan), 2)}% of the time while a disk "
            f"synced beside busy CPUs (longest {full(busy.get('longest_ms', math.nan), 1)} ms")
    if busy.get("all_at_once", 0) >= 3:
        note += f", every CPU at once every {full(busy.get('period_ms', math.nan))} ms"
    return note + f"), {full(idle.get('frozen_pct', math.nan), 2)}% with the CPUs busy alone (cpu_stall)"


# ------------------------------------------------------ issue 17's targets

def baseline_rows(path):
    """{config: events/s} at the end of issue 6; {} when the file is missing."""
    return {r["config"]: num(r["events_per_s"]) for r in read_tsv(path) if r.get("config")}


def baseline_of_run(out, path):
    """The issue-6 figures to compare with: the issue-6 server's runs in this
    run (cli-base/) when there are any, else the TSV. Returns ({config:
    events/s}, {config: why it has none}, where they come from, {config:
    {rep: events/s}} of the runs in this run, empty for the TSV)."""
    runs = cli_results(out, "cli-base")
    if runs:
        base = {k: med(r["ev"]) for k, r in runs.items() if r["ev"]}
        # "error: /tmp/.../x.yaml:5:5: unknown codec ..." -> "unknown codec ..."
        why = {k: "the issue-6 server cannot run it: " +
               re.sub(r"^error: \S+:\d+:\d+: ", "", r["error"] or "no figure")
               for k, r in runs.items() if not r["ev"]}
        rev = read_text(os.path.join(out, "cli-base.rev")).strip() or "?"
        return (base, why, f"the issue-6 tree {rev} in this run, each config right after ours",
                {k: r["by_rep"] for k, r in runs.items()})
    return baseline_rows(path), {}, "bench/results/baseline-issue6.tsv (another run)", {}


def paired(ours_by_rep, base_by_rep):
    """(median of ours/base over the reps both ran, [those ratios]): each rep
    runs a config with both servers back to back, so the machine's drift
    over the run (often 2x on a shared host) falls on both alike, which a
    ratio of the two medians does not see. (NaN, []) without a common rep."""
    rs = [ratio(ours_by_rep[k], base_by_rep[k]) for k in sorted(ours_by_rep) if k in base_by_rep]
    rs = [x for x in rs if not math.isnan(x)]
    return (statistics.median(rs) if rs else math.nan), rs


def verdict(ok):
    return "pass" if ok else "miss"


def relay_rate(out):
    groups, _, _ = peer_results(out)
    k = ours_key(groups)
    return med([num(r["events_per_s"]) for r in groups[k]]) if k else math.nan


def issue17(out, baseline=BASELINE_ISSUE6):
    """Issue 17's targets as Markdown lines: figure, target, pass/miss; "not run" where an input is missing."""
    def row(*cells):   # the latency figure needs more room than the main table's cells
        return "| " + " | ".join(cell(c, 400) for c in cells) + " |"
    lines = [row("performance target (issue 17)", "figure", "target", "pass/miss"), "|---|---|---|---|"]
    NR = "not run"

    # the durable relay (row 2) against its own target and the two references
    groups, _, _ = peer_results(out)
    ours = relay_rate(out)
    title = "durable relay tcp -> qos::wal sync=always -> tcp (row 2, ours)"
    if math.isnan(ours):
        lines.append(row(title, NR, f"≥ {TARGET_RELAY_EPS:,} events/s", NR))
    else:
        lost = any(r["all_arrived"] != "yes" for r in groups[ours_key(groups)])
        lines.append(row(title, f"{full(ours)} events/s" + (" (LOST EVENTS)" if lost else ""),
                         f"≥ {TARGET_RELAY_EPS:,} events/s", "LOST" if lost else verdict(ours >= TARGET_RELAY_EPS)))
    for key, what, target, thr in (
            (("direct", "none"), "ours / direct/none (loader -> sink, the tools' ceiling)", f"≥ {TARGET_VS_DIRECT:g}×",
             TARGET_VS_DIRECT),
            (("syslog-ng", "reliable"), "ours / syslog-ng reliable disk-buffer",
             f"about {TARGET17_VS_SYSLOG_NG:g}× (pass at ≥ {TARGET17_VS_SYSLOG_NG:g}×)", TARGET17_VS_SYSLOG_NG)):
        theirs = med([num(r["events_per_s"]) for r in groups.get(key, [])])
        rt = ratio(ours, theirs)
        if math.isnan(rt):
            lines.append(row(what, NR, target, NR))
        else:
            lines.append(row(what, f"{fmt_ratio(rt)} ({full(ours)} / {full(theirs)} events/s)", target,
                             verdict(rt >= thr)))

    # the JSON passthrough and the other eight cli-bench configs against issue 6
    cli = cli_results(out)
    base, base_why, base_src, base_reps = baseline_of_run(out, baseline)

    def compare(name, ev):
        """(ratio, how it was taken): paired per rep when both servers ran in
        this run, else the ratio of the two figures."""
        b = base.get(name, math.nan)
        rt, rs = paired(cli[name]["by_rep"], base_reps.get(name, {})) if name in cli else (math.nan, [])
        if rs:
            return rt, (f"{fmt_ratio(rt)}, the median of each rep's ours/issue-6 ("
                        + " ".join(fmt_ratio(x) for x in rs) + f"; medians {full(ev)} / {full(b)} events/s")
        rt = ratio(ev, b)
        return rt, f"{fmt_ratio(rt)} ({full(ev)} / {full(b)} events/s"

    jr = cli.get(JSON_PASSTHROUGH)
    jev = med(jr["ev"]) if jr else math.nan
    title = f"`{JSON_PASSTHROUGH}` MB/s"
    if jr and jr["ev"]:
        mb = med(jr["mb"])
        lines.append(row(title, f"{full(mb, 1)} MB/s ({full(jev)} events/s)", f"≥ {TARGET_JSON_MBPS:g} MB/s",
                         verdict(mb >= TARGET_JSON_MBPS)))
    else:
        lines.append(row(title, NR if not jr else f"no figure: {jr['error'] or 'no run'}",
                         f"≥ {TARGET_JSON_MBPS:g} MB/s", NR))
    jratio, jhow = compare(JSON_PASSTHROUGH, jev)
    if JSON_PASSTHROUGH not in base:
        jfig = f"no issue-6 figure ({base_why.get(JSON_PASSTHROUGH, base_src)})"
    elif math.isnan(jev):
        jfig = NR
    else:
        jfig = f"{jhow}; issue 6: {base_src})"
    lines.append(row(f"`{JSON_PASSTHROUGH}` now / end of issue 6", jfig, "the proportion for the rows below",
                     "—"))
    want = (f"≥ {TARGET_PROPORTION:.2f}× (the issue's {ISSUE6_JSON_MBPS:g} → {TARGET_JSON_MBPS:g} MB/s for the "
            "JSON passthrough)")
    for name in CLI_OTHER_EIGHT:
        r = cli.get(name)
        ev = med(r["ev"]) if r else math.nan
        title = f"`{name}` now / end of issue 6"
        if not r:
            lines.append(row(title, NR, want, NR))
            continue
        if math.isnan(ev):
            lines.append(row(title, f"no figure: {r['error'] or 'no run'}", want, NR))
            continue
        b = base.get(name, math.nan)
        if math.isnan(b):
            lines.append(row(title, f"{full(ev)} events/s now; no issue-6 figure ({base_why.get(name, 'not in that run')})",
                             want, "no baseline"))
            continue
        rt, how = compare(name, ev)
        share = "" if math.isnan(jratio) or not jratio else f", {rt / jratio:.2f} of it"
        lines.append(row(title, f"{how}); JSON passthrough {fmt_ratio(jratio)}{share}", want,
                         verdict(rt >= TARGET_PROPORTION)))

    # latency at half the relay's maximum rate
    lat = latency_result(out)
    title = "latency of the durable relay at half its maximum rate, from each event's scheduled send"
    if lat is None:
        lines.append(row(title, NR, f"p99 ≤ {TARGET_P99_MS:g} ms", NR))
        lines.append(row("events lost / duplicated in the latency run", NR, "0 lost", NR))
    elif not lat["ok"]:
        lines.append(row(title, f"no result (see latency/ in the raw results; rate {full(lat['rate'])}/s)",
                         f"p99 ≤ {TARGET_P99_MS:g} ms", "miss"))
        lines.append(row("events lost / duplicated in the latency run", "no result", "0 lost", "miss"))
    else:
        sc, st = lat["sched"], lat["sent"]
        lost, dups = int(lat.get("lost", 0)), int(lat.get("dups", 0))
        p99 = sc.get("p99_ms", math.nan)
        fig = (f"{full(lat['rate'])} events/s ({lat['source'] or '?'}): p50 {full(sc.get('p50_ms', math.nan), 3)} / "
               f"p99 {full(p99, 3)} / p99.9 {full(sc.get('p999_ms', math.nan), 3)} ms, max "
               f"{full(sc.get('max_ms', math.nan), 1)} ms; from the actual send p99 "
               f"{full(st.get('p99_ms', math.nan), 3)} ms")
        ld = lat.get("load", {})
        if ld.get("rate", math.inf) < 0.98 * lat["rate"]:   # the relay held the loader back
            fig += (f"; the loader kept only {full(ld['rate'])} events/s, up to "
                    f"{full(ld.get('worst_late_ms', math.nan), 1)} ms behind its schedule")
        fig += stall_note(lat.get("stall", {}))
        v = verdict(not math.isnan(p99) and p99 <= TARGET_P99_MS)
        lines.append(row(title, fig + (f"; LOST {lost:,}" if lost else ""), f"p99 ≤ {TARGET_P99_MS:g} ms",
                         f"{v}, LOST" if lost else v))
        lines.append(row("events lost / duplicated in the latency run",
                         f"lost={lost:,} dups={dups:,} of {int(lat.get('n', 0)):,}"
                         + (f"; {int(lat['bad']):,} lines unreadable" if lat.get("bad") else "")
                         + (f"; the loader was stopped at LAT_MAX_SECS, {int(lat['unsent']):,} never sent"
                            if lat.get("unsent") else ""),
                         "0 lost", "LOST" if lost else "pass"))
    # reopen of a 10 GB WAL backlog: bench/reopen_bench.sh writes its rows with their verdicts
    reopen = [l for l in read_text(os.path.join(out, "reopen", "rows.md")).splitlines()
              if l.startswith("| ") and not l.startswith("| reopen target")]
    lines += reopen or [row(t, NR, tgt, NR) for t, tgt in (
        ("reopen of a WAL holding 10 GB unacked: time to first event", "< 1 s"),
        ("RSS flat on that reopen", "±10 %"),
        ("no loss after that reopen", "from the oldest unacked, in order"))]
    lines += ["", "Latency: the loader paces by CLOCK_MONOTONIC and stamps each line with the time it was due "
              "(start + id / rate); the sink measures receipt - due, so delay the relay causes by holding "
              "the loader back counts (no coordinated omission). Issue-6 figures: " + base_src + "."]
    return lines


# ----------------------------------------------------------------- table

HEAD = ["#", "measurement", "events/s (median)", "min..max", "MB/s", "ratio", "peak RSS MB", "notes"]


def row(*cells):
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(out, baseline=BASELINE_ISSUE6):
    lines = [row(*HEAD), "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---"]) + "|"]
    notes = []

    # 1. Tremor's own benchmark configs
    cli = cli_results(out)
    if not cli:
        lines.append(row("1", "Tremor cli-bench", "not run", "—", "—", "—", "—", "no cli/ results"))
    for name, r in cli.items():
        title = f"`{name}`: {CLI_TITLES.get(name, 'Tremor cli-bench config')}"
        if not r["ev"]:
            lines.append(row("1", title, f"not yet: {r['error'] or 'no run'}", "—", "—", "—", "—",
                             f"{r['runs']} run(s)"))
            continue
        ev = med(r["ev"])
        note = f"CPU {full(med(r['cpu']), 1)} s per {full(med(r['wall']), 1)} s run"
        if r["bytes_per_event"]:
            note += f"; {full(med(r['bytes_per_event']))} B/event encoded"
        if name in ("bench_pipe_passthrough_json", "passthrough_json_100b"):
            note += f"; target ≥ {short(TARGET_PASSTHROUGH)}/s: {'met' if ev >= TARGET_PASSTHROUGH else 'NOT met'}"
        if name == "bench_pipe_passthrough_json":
            mb = med(r["mb"])
            note += f"; target ≥ {TARGET_JSON_MBPS:g} MB/s: {'pass' if mb >= TARGET_JSON_MBPS else 'miss'}"
        if r["error"]:
            note += f"; a run failed: {r['error']}"
        lines.append(row("1", title, f"**{full(ev)}**", spread(r["ev"]), full(med(r["mb"]), 1), "—",
                         full(max(clean(r["rss_kb"]) or [math.nan]) / 1024, 1), note))

    # 2. the durable relay beside the peers
    groups, perf, sysc = peer_results(out)
    ok = ours_key(groups)
    ours_ev = math.nan
    if not groups:
        lines.append(row("2", "peers (run-all.sh)", "not run", "—", "—", "—", "—", "no peers/runs.tsv"))
    else:
        per_ev, per_sync, src = ours_syncs(groups, perf, sysc)
        if ok:
            rs = groups[ok]
            evs = [num(r["events_per_s"]) for r in rs]
            ours_ev = med(evs)
            n = int(num(rs[0]["n"]))
            allok = sum(r["all_arrived"] == "yes" for r in rs)
            cpu = med([num(r["peer_cpu_s"]) for r in rs])
            note = (f"N={n:,}; all arrived {allok}/{len(rs)}; "
                    f"{full(per_ev, 3) if not math.isnan(per_ev) else 'NA'} fsync+fdatasync/event, "
                    f"{full(per_sync, 0) if not math.isnan(per_sync) else 'NA'} events/fdatasync"
                    f"{' (' + src + ')' if src else ''}; CPU {full(cpu / n * 1e6, 2) if n else 'NA'} µs/event")
            if allok != len(rs):
                note += "; **LOST EVENTS**"
            lines.append(row("2", "**ours**: tcp (lines) -> qos::wal sync=always -> tcp (lines)",
                             f"**{full(ours_ev)}**" if not math.isnan(ours_ev) else "NA (see notes)", spread(evs),
                             full(med([num(r["MB_per_s"]) for r in rs]), 1), "1.00×",
                             full(max(clean([num(r["peer_rss_MB"]) for r in rs]) or [math.nan]), 1), note))
        else:
            lines.append(row("2", "**ours**: tcp -> qos::wal -> tcp", "not run", "—", "—", "—", "—",
                             "no cmd/ row in runs.tsv"))
        for k, rs in groups.items():
            if k == ok:
                continue
            evs = [num(r["events_per_s"]) for r in rs]
            theirs = med(evs)
            rt = ratio(ours_ev, theirs)
            n = int(num(rs[0]["n"]))
            allok = sum(r["all_arrived"] == "yes" for r in rs)
            note = f"N={n:,}; all arrived {allok}/{len(rs)}"
            s = sysc.get(k)
            if s and k[0] != "direct":
                note += f"; {num(s['per_event_syncs']):.2f} syncs/event (strace)"
            if k in TARGETS:
                note += f"; target ours/theirs ≥ {TARGETS[k]:g}×: {'met' if rt >= TARGETS[k] else 'NOT met'}"
            rss = "—" if k[0] == "direct" else full(max(clean([num(r["peer_rss_MB"]) for r in rs]) or [math.nan]), 1)
            lines.append(row("2", f"{k[0]}/{k[1]}: {PEER_TITLES.get(k, '')}", full(theirs), spread(evs),
                             full(med([num(r["MB_per_s"]) for r in rs]), 1), f"ours/this {fmt_ratio(rt)}",
                             rss, note))

    # 3. the raw disk ceiling
    disk = disk_results(out)
    b = batch(out)
    if not disk:
        lines.append(row("3", "disk ceiling (write + fdatasync)", "not run", "—", "—", "—", "—", "no disk/ results"))
    for bb in sorted(disk):
        rs = disk[bb]
        recs = [num(r["records_per_s"]) for r in rs]
        ceil = med(recs)
        rb = int(num(rs[0]["record_bytes"]))
        matched = b is not None and bb == b[0]
        title = f"disk ceiling: write {bb:,} B + fdatasync" + (" (**the WAL's batch**)" if matched else "")
        note = (f"{full(med([num(r['syncs_per_s']) for r in rs]), 0)} syncs/s, fdatasync p50/p99 "
                f"{full(med([num(r['sync_p50_us']) for r in rs]))}/{full(med([num(r['sync_p99_us']) for r in rs]))} µs; "
                f"records of {rb} B")
        lines.append(row("3", title, full(ceil), spread(recs), full(med([num(r["MB_per_s"]) for r in rs]), 1),
                         f"ours/ceiling {fmt_ratio(ratio(ours_ev, ceil), 3)}", "—", note))
    if b:
        notes.append(f"WAL batch: {b[2]:,.0f} events per fdatasync × {b[1]:.1f} B per record = {b[0]:,} B "
                     f"({b[3]}).")
    elif disk:
        notes.append("WAL batch size unknown (no syscall counts for our relay): the disk rows are a sweep.")

    # 4. RSS with a backlog
    bl = backlog_rows(out)
    if not bl:
        lines.append(row("4", "RSS with a WAL backlog", "not run", "—", "—", "—", "—", "no backlog.tsv"))
    good = [r for r in bl if r.get("status") == "ok" and not math.isnan(num(r["vmhwm_kb"]))]
    base = num(good[0]["vmhwm_kb"]) if good else math.nan
    for r in bl:
        n = int(num(r["n"]))
        if r.get("status") != "ok":
            lines.append(row("4", f"RSS holding {n:,} events in qos::wal, sink down", r.get("status", "?")
                             if r.get("status", "").startswith("not yet") else "failed", "—", "—", "—", "—",
                             r.get("status", "")))
            continue
        hwm = num(r["vmhwm_kb"])
        rt = ratio(hwm, base)
        note = (f"filled in {r['fill_s']} s; WAL {full(num(r['wal_bytes']) / 1e6, 1)} MB, "
                f"{r['bytes_per_record']} B/record; VmRSS {full(num(r['vmrss_kb']) / 1024, 1)} MB; "
                f"VmHWM at start {full(num(r['start_hwm_kb']) / 1024, 1)} MB")
        if r is not good[0]:
            flat = not math.isnan(rt) and abs(rt - 1) <= TARGET_RSS_FLAT
            note += f"; target flat ±{TARGET_RSS_FLAT:.0%} vs {int(num(good[0]['n'])):,}: {'met' if flat else 'NOT met'}"
        lines.append(row("4", f"RSS holding {n:,} events in qos::wal, sink down", "—", "—", "—",
                         f"VmHWM/first {fmt_ratio(rt)}", full(hwm / 1024, 1), note))

    meta = read_text(os.path.join(out, "meta.txt")).strip()
    body = ["## tremor-c benchmark", ""]
    if meta:
        body += [f"    {l}" for l in meta.splitlines()] + [""]
    body += lines + [""]
    body += [
        "Rows 2: events/s = N / (sink's time of the last new id - loader's first write), 100-byte events "
        "over TCP (../shared/bench/peers); peak RSS = VmHWM read before SIGTERM.",
        "Rows 1: the blackhole's own report (events counted after warmup, over stop_after_secs); peak RSS = "
        "ru_maxrss of the server process.",
    ] + notes
    body += [""] + issue17(out, baseline)
    return "\n".join(body) + "\n"


def main(argv):
    if len(argv) < 2 or argv[0] not in ("table", "batch", "relay-rate"):
        sys.stderr.write(__doc__)
        return 64
    out = argv[1]
    if argv[0] == "batch":
        b = batch(out)
        if b:
            print(f"{b[0]} {b[1]:.1f} {b[2]:.1f} {b[3].replace(' ', '_')}")
        return 0
    if argv[0] == "relay-rate":
        r = relay_rate(out)
        if not math.isnan(r):
            print(int(r))
        return 0
    text = table(out)
    sys.stdout.write(text)
    if len(argv) >= 4 and argv[2] == "--write":
        os.makedirs(os.path.dirname(os.path.abspath(argv[3])), exist_ok=True)
        with open(argv[3], "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
