#!/usr/bin/python3
"""report.py - turn one `make bench` result folder into the Markdown table.

usage: report.py table OUT_DIR [--write FILE]   print the table (and write it to FILE)
       report.py batch OUT_DIR                  print "BATCH_BYTES RECORD_BYTES EVENTS_PER_SYNC SOURCE"
                                                for disk_ceiling, or nothing if unknown

It only reads what the bench scripts left in OUT_DIR (cli/, peers/, disk/,
backlog.tsv, meta.txt) and never runs anything. Every figure in the table is
the median of the repetitions found, with min..max beside it; a part that did
not run or could not be parsed is a row that says so, never a missing row.
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


def cell(text):
    """Markdown-safe table cell: one line, no pipes, bounded."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= 200 else text[:197] + "..."


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


def cli_results(out):
    """{name: {"ev": [...], "mb": [...], "rss_kb": [...], "cpu": [...], "error": str|None}}"""
    res = {}
    for d in sorted(glob.glob(os.path.join(out, "cli", "*"))):
        name = os.path.basename(d)
        r = {"ev": [], "mb": [], "rss_kb": [], "cpu": [], "wall": [], "bytes_per_event": [], "error": None,
             "runs": 0}
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


# ----------------------------------------------------------------- table

HEAD = ["#", "measurement", "events/s (median)", "min..max", "MB/s", "ratio", "peak RSS MB", "notes"]


def row(*cells):
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(out):
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
    return "\n".join(body) + "\n"


def main(argv):
    if len(argv) < 2 or argv[0] not in ("table", "batch"):
        sys.stderr.write(__doc__)
        return 64
    out = argv[1]
    if argv[0] == "batch":
        b = batch(out)
        if b:
            print(f"{b[0]} {b[1]:.1f} {b[2]:.1f} {b[3].replace(' ', '_')}")
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
