#!/usr/bin/python3
"""runproc.py - run one command, bounded in time, and record what it cost.

usage: runproc.py --json OUT.json [--timeout SECS] [--grace SECS]
                  [--stdout FILE] [--stderr FILE] -- COMMAND...

Writes {"rc", "signal", "timed_out", "wall_s", "cpu_s", "maxrss_kb"} to OUT.json.
maxrss_kb is the child's peak resident set (getrusage ru_maxrss of the waited
child, the same figure as VmHWM just before it exits), so it is right even for a
server that stops by itself. Not a profiler and not a supervisor: one child,
one wait. On timeout the child gets SIGTERM, then SIGKILL after --grace seconds;
only that child's PID is ever signalled. Exit status: the child's, or 124 on timeout.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time


def run(cmd, timeout, grace, out, err):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    timed_out = False
    deadline = t0 + timeout
    status, ru = None, None
    while status is None:
        pid, st, r = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            status, ru = st, r
            break
        now = time.monotonic()
        if now >= deadline:
            if not timed_out:
                timed_out = True
                p.send_signal(signal.SIGTERM)
                deadline = now + grace
            else:
                p.kill()
                deadline = now + 3600
        time.sleep(0.05)
    p.returncode = 0  # already reaped by wait4: keep Popen from waiting again
    wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    return {
        "rc": rc if rc >= 0 else None,
        "signal": -rc if rc < 0 else None,
        "timed_out": timed_out,
        "wall_s": round(wall, 3),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        "maxrss_kb": ru.ru_maxrss,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--grace", type=float, default=10.0)
    ap.add_argument("--stdout")
    ap.add_argument("--stderr")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command given")
    if not 0 < a.timeout <= 86400 or not 0 < a.grace <= 600:
        ap.error("--timeout must be in (0, 86400], --grace in (0, 600]")
    out = open(a.stdout, "wb") if a.stdout else None
    err = open(a.stderr, "wb") if a.stderr else None
    try:
        res = run(cmd, a.timeout, a.grace, out, err)
    except OSError as e:
        res = {"rc": 127, "signal": None, "timed_out": False, "wall_s": 0.0, "cpu_s": 0.0,
               "maxrss_kb": 0, "error": str(e)}
    finally:
        for f in (out, err):
            if f:
                f.close()
    res["cmd"] = cmd
    with open(a.json, "w") as f:
        json.dump(res, f)
    if res["timed_out"]:
        return 124
    return res["rc"] if res["rc"] is not None else 128 + (res["signal"] or 0)


if __name__ == "__main__":
    sys.exit(main())
