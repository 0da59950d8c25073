#!/usr/bin/env python3
"""reopen_sink.py - restart the relay on an existing WAL and time its first event.

    bench/reopen_sink.py DIR PORT_OUT DRAIN_S EXPECT_FIRST [EXPECT_ALL]

With REOPEN_COLD=1 (the default) the WAL's files are first dropped from the
page cache (posix_fadvise DONTNEED on each), so the reopen reads from disk.
DIR is a relay directory written by peer-tremor.sh (DIR/tremor/relay.*, the
WAL in DIR/buf/wal) whose server was stopped with a backlog in the WAL.
Listens on 127.0.0.1:PORT_OUT (the relay's offramp) first, then execs the
server on the same files and measures:

  first_s     server exec -> first byte of an event at this sink (CLOCK_MONOTONIC)
  hwm_first   VmHWM (kB) of the server read right after that first read
  hwm_drain   VmHWM (kB) after DRAIN_S more seconds of draining
  events      events received in that time; first/last id; ordered = every
              id is the previous one + 1, starting at EXPECT_FIRST or below
              (at-least-once: replaying acknowledged events is allowed, a
              gap is not)

With EXPECT_ALL (an event count) it drains until ids 0..EXPECT_ALL-1 have all
arrived (bounded by DRAIN_S) and reports complete=1/0 instead of stopping at
DRAIN_S. VmHWM is also sampled once a second while draining (hwm_series, kB).
With REOPEN_SINK_RATE (events/s, unset or 0: as fast as it can) it reads no
faster than that until the stop, so a relay that sends faster runs with its
in-flight window (max_in_flight) full: the most a drain holds, whatever the
speed of the machine.
Then it stops the server with SIGTERM (REOPEN_STOP=KILL: SIGKILL) and goes on reading until the
connection closes (bounded, 120 s), so the ids it reports are every event the
server wrote to the socket (the tcp offramp acknowledges an event once this
side's TCP has acknowledged its bytes: one left unread in this socket's
buffers would count as delivered). One
"key=value ..." line on stdout.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

ID = re.compile(rb'"id":(\d+)')


def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def give_up(proc, res):
    """Stop the server (SIGTERM, then SIGKILL after 30 s) and report."""
    proc.send_signal(signal.SIGTERM)
    try:
        res["exit"] = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        res["exit"] = "killed after 30 s"
    print(" ".join(f"{k}={v}" for k, v in res.items()))
    return 1


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 64
    d, port, drain_s, expect_first = argv[1], int(argv[2]), float(argv[3]), int(argv[4])
    expect_all = int(argv[5]) if len(argv) > 5 else 0
    tremor = os.environ.get("TREMOR_BIN") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "tremor")
    rate = float(os.environ.get("REOPEN_SINK_RATE", "0") or 0)
    stop_sig = signal.SIGKILL if os.environ.get("REOPEN_STOP") == "KILL" else signal.SIGTERM
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    cmd = [tremor, "server", "run", "-n", "-d", f"{d}/data", "-f", f"{d}/tremor/relay.trickle",
           f"{d}/tremor/relay.yaml"]
    if os.environ.get("REOPEN_COLD", "1") == "1":
        # drop the WAL's pages from the page cache (only its files; they are
        # clean: written with sync = "always"), so the reopen reads the disk
        # as after a reboot rather than the cache the fill left
        wal = os.path.join(d, "buf", "wal")
        for name in os.listdir(wal):
            fd = os.open(os.path.join(wal, name), os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    log = open(f"{d}/reopen-server.log", "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=d, stdout=log, stderr=subprocess.STDOUT)
    res = {"pid": proc.pid, "first_s": "NA", "hwm_first": "NA", "hwm_drain": "NA", "events": 0,
           "first_id": "NA", "last_id": "NA", "ordered": 0, "gaps": 0, "backsteps": 0,
           "complete": "NA", "after_stop": 0, "exit": "NA", "hwm_series": "", "status": "ok"}
    ls.settimeout(60)
    try:
        c, _ = ls.accept()
    except socket.timeout:
        res["status"] = "no connection from the server within 60 s"
        return give_up(proc, res)
    c.settimeout(30)
    try:
        buf = c.recv(262144)
    except socket.timeout:
        buf = b""
    t1 = time.monotonic()
    if not buf:
        res["status"] = "no event within 30 s of the connection"
        return give_up(proc, res)
    res["hwm_first"] = hwm(proc.pid)
    res["first_s"] = f"{t1 - t0:.3f}"
    prev = None
    seen = 0
    gaps = backsteps = 0
    first_id = None
    partial = b""
    end = t1 + drain_s
    series = []
    next_sample = t1 + 1
    stopping = False
    seen_at_stop = 0
    c.settimeout(0.2)
    while True:
        data = partial + buf
        cut = data.rfind(b"\n")
        if cut >= 0:
            partial = data[cut + 1:]
            ids = ID.findall(data, 0, cut)
            for i in ids:
                v = int(i)
                if prev is None:
                    first_id = v
                elif v != prev + 1:
                    if v > prev + 1:
                        gaps += 1
                    else:
                        backsteps += 1
                prev = v
            seen += len(ids)
        else:
            partial = data
        now = time.monotonic()
        if not stopping and now >= next_sample:
            series.append(str(hwm(proc.pid)))
            next_sample += 1
        done = expect_all and prev is not None and seen >= expect_all and prev == expect_all - 1 \
            and first_id is not None and first_id <= expect_first and gaps == 0
        if not stopping and (done or now >= end):
            res["hwm_drain"] = hwm(proc.pid)
            seen_at_stop = seen
            stopping = True
            proc.send_signal(stop_sig)
            end = now + 120
        elif stopping and now >= end:
            res["status"] = "connection still open 120 s after the stop signal"
            break
        if rate and not stopping and seen > rate * (now - t1):
            # ahead of the pace: let the relay's window fill while we wait
            time.sleep(min(seen / rate - (now - t1), 0.05))
        try:
            buf = c.recv(262144)
        except socket.timeout:
            buf = b""
            continue
        if not buf:
            break
    if not stopping:
        res["hwm_drain"] = hwm(proc.pid)
        seen_at_stop = seen
        proc.send_signal(stop_sig)
    try:
        res["exit"] = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        res["exit"] = "killed after 120 s"
    res["after_stop"] = seen - seen_at_stop
    res["hwm_series"] = ",".join(series)
    res["events"] = seen_at_stop
    res["first_id"] = first_id if first_id is not None else "NA"
    res["last_id"] = prev if prev is not None else "NA"
    res["gaps"] = gaps
    res["backsteps"] = backsteps
    res["ordered"] = int(first_id is not None and first_id <= expect_first and gaps == 0 and backsteps == 0)
    if expect_all:
        res["complete"] = int(res["ordered"] == 1 and prev == expect_all - 1 and seen >= expect_all)
    print(" ".join(f"{k}={v}" for k, v in res.items()))
    sys.stdout.flush()
    c.close()
    ls.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
