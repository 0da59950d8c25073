#!/usr/bin/env python3
"""reopen_rows.py - issue 17's reopen rows (Markdown, pass or miss) from reopen_bench.sh's files.

    bench/reopen_rows.py OUT_DIR/reopen SMALL MEDIUM DRAIN_S

Reads fill.txt, small.txt, medium.txt, kill.txt and term.txt (one
reopen_sink.py "key=value ..." line per run) and prints the rows:
  - time from the server's exec to the first event: every reopen of the big
    WAL (after SIGKILL and after SIGTERM) under 1 s;
  - RSS flat: the median VmHWM at the first event within +-10% of the small
    WAL's; the median VmHWM after DRAIN_S of draining at most 10% above the
    medium WAL's. Only growth counts against the drain figure: it is set by
    how full the in-flight window (max_in_flight, 65536 events) gets (full
    in every run when reopen_sink.py is paced, REOPEN_SINK_RATE), and a
    bigger backlog using less is not a backlog cost. A medium run whose WAL emptied within DRAIN_S
    is left out of that baseline (an idle server holds less than a draining
    one);
  - no loss: ids in order from the oldest unacknowledged one, no gap.
It measures nothing itself.
"""
import os
import statistics
import sys


def lines(out, name):
    res = []
    try:
        with open(os.path.join(out, name)) as f:
            for line in f:
                d = {}
                for tok in line.split():
                    if "=" in tok:
                        k, v = tok.split("=", 1)
                        d[k] = v.strip('"')
                if d:
                    res.append(d)
    except OSError:
        pass
    return res


def nums(rs, k):
    v = []
    for r in rs:
        try:
            v.append(float(r.get(k, "")))
        except ValueError:
            pass
    return v


def med(v):
    return statistics.median(v) if v else None


def spread(v, f):
    if not v:
        return "none (nothing left to drain)"
    return f"median {f(med(v))} ({f(min(v))}..{f(max(v))}, {len(v)} run{'s' if len(v) > 1 else ''})"


def secs(x):
    return "%.3f s" % x


def mib(kb):
    return "%.1f MiB" % (kb / 1024)


def pct(a, b):
    return "%+.1f%%" % ((a / b - 1) * 100) if a and b else "?"


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 64
    out, small_n, medium_n, drain = argv[1:]
    small, medium = lines(out, "small.txt"), lines(out, "medium.txt")
    kill, term = lines(out, "kill.txt"), lines(out, "term.txt")
    fill = (lines(out, "fill.txt") or [{}])[0]
    big = kill + term
    times = nums(big, "first_s")
    ok_t = bool(times) and len(times) == len(big) and max(times) < 1.0
    try:
        wal = float(fill.get("wal_du", "0"))
    except ValueError:
        wal = 0.0
    print("| reopen target (issue 17) | figure | target | |")
    print("|---|---|---|---|")
    print(f"| reopen of a WAL holding {wal / 1e9:.1f} GB ({wal / 2**30:.2f} GiB) unacked "
          f"({fill.get('events', '?')} events of 100 B, sync always, filled in {fill.get('fill_s', '?')} s; "
          f"its files dropped from the page cache before each reopen) | server exec -> first event at the "
          f"sink: after SIGKILL {spread(nums(kill, 'first_s'), secs)}; after SIGTERM "
          f"{spread(nums(term, 'first_s'), secs)}; a {small_n}-event WAL {spread(nums(small, 'first_s'), secs)} "
          f"| < 1 s, every run | {'pass' if ok_t else 'miss'} |")
    hf, sf = med(nums(big, "hwm_first")), med(nums(small, "hwm_first"))
    # a medium WAL emptied within DRAIN_S compares a draining server with an
    # idle one: such runs are left out of the drain baseline and said so
    emptied = [r for r in medium if r.get("last_id", "").isdigit() and int(r["last_id"]) + 1 >= int(medium_n)]
    drained = [r for r in medium if r not in emptied]
    hd, md = med(nums(big, "hwm_drain")), med(nums(drained, "hwm_drain"))
    ok_f = bool(hf and sf) and abs(hf / sf - 1) <= 0.10
    ok_d = bool(hd and md) and hd / md - 1 <= 0.10
    window = os.environ.get("WAL_MAX_IN_FLIGHT") or "65536"
    rate = os.environ.get("REOPEN_SINK_RATE", "0")
    paced = (f"the sink read at most {int(float(rate)):,} events/s, so that window was full in every run"
             if float(rate or 0) > 0 else "the sink read as fast as it could")
    left = (f"; {len(emptied)} of its {len(medium)} runs emptied it within {drain} s and are left out"
            if emptied else "")
    print(f"| RSS flat on that reopen | VmHWM at the first event {spread(nums(big, 'hwm_first'), mib)}, "
          f"{pct(hf, sf)} vs a {small_n}-event WAL's {spread(nums(small, 'hwm_first'), mib)}; after {drain} s "
          f"draining {spread(nums(big, 'hwm_drain'), mib)}, {pct(hd, md)} vs the same drain of a "
          f"{medium_n}-event WAL {spread(nums(drained, 'hwm_drain'), mib)}{left} (draining holds up to max_in_flight "
          f"= {window} events whatever the backlog; {paced}) | first event: medians within +-10%; drain: median not more "
          f"than 10% above | {'pass' if ok_f and ok_d else 'miss'} |")
    bad = [r for r in big + medium if r.get("ordered") != "1"] + [r for r in small if r.get("complete") != "1"]
    ids = ", ".join(f"{r.get('first_id')}..{r.get('last_id')}" for r in big)
    print(f"| no loss after that reopen | each reopen of the big WAL starts at or before the id after the last "
          f"one received, then every id in order, no gap (ids per reopen: {ids}); {len(medium)} "
          f"{medium_n}-event WALs from id 0 in order; {len(small)} {small_n}-event WALs drained complete; "
          f"{len(bad)} run(s) failing | from the oldest unacked, in order | "
          f"{'pass' if big and not bad else 'miss'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
