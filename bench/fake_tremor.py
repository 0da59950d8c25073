#!/usr/bin/python3
"""fake_tremor.py - a stand-in for build/tremor, only to test the bench scripts.

usage: TREMOR_BIN=bench/fake_tremor.py bench/run.sh ...   (or any bench script)

It understands just enough of `server run -f FILES` to exercise every path of
the harness without the real connectors: a blaster/blackhole config prints a
blackhole-style throughput report after warmup_secs + stop_after_secs and
exits 0; a config whose query uses grouper::bucket fails like a refused
config; a tcp -> qos::wal -> tcp relay forwards lines (or, with max_elements,
keeps them and logs the operator's "WAL full" line). It is not a model of the
server's speed or memory: its figures are fixed or trivial. FAKE_TIME_SCALE
(default 0.1) shrinks the blackhole's clock so tests stay short.
"""
import os
import re
import signal
import socket
import sys
import threading
import time


def fail(msg):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(1)


def blackhole(yaml_text):
    warm = int((re.search(r"warmup_secs:\s*(\d+)", yaml_text) or [0, "0"])[1])
    stop = int((re.search(r"stop_after_secs:\s*(\d+)", yaml_text) or [0, "0"])[1])
    time.sleep((warm + stop) * float(os.environ.get("FAKE_TIME_SCALE", "0.1")))
    print("       Value   Percentile   TotalCount 1/(1-Percentile)\n")
    print("     3000.00 0.500000000000      1000000           2.00")
    print("#[Mean    =     3100.00, StdDeviation   =      200.00]")
    print("\n\nThroughput   (data): 95.4 MB/s\nThroughput (events): 1234.5k events/s")
    sys.stdout.flush()
    return 0


def relay(yaml_text, trickle):
    ports = [int(p) for p in re.findall(r"port:\s*(\d+)", yaml_text)]
    if len(ports) != 2:
        fail("relay needs two tcp ports")
    m = re.search(r"max_elements\s*=\s*(\d+)", trickle)
    limit = int(m.group(1)) if m else 0
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", ports[0]))
    ls.listen(16)
    sys.stderr.write("INFO  [server] fake relay on %d -> %d\n" % tuple(ports))
    stored = [0, 0]

    def serve(c):
        out = None
        if not limit:
            for _ in range(100):
                try:
                    out = socket.create_connection(("127.0.0.1", ports[1]))
                    break
                except OSError:
                    time.sleep(0.05)
        buf = b""
        while True:
            data = c.recv(65536)
            if not data:
                break
            buf += data
            cut = buf.rfind(b"\n") + 1
            lines, buf = buf[:cut], buf[cut:]
            if out:
                out.sendall(lines)
            else:
                stored[0] += lines.count(b"\n")
                stored[1] += len(lines) + 20 * lines.count(b"\n")
                if limit and stored[0] >= limit:
                    sys.stderr.write("INFO  [qos::wal] wal: WAL full (%d events, %d bytes): pausing upstream\n"
                                     % (stored[0], stored[1]))
                    sys.stderr.flush()
        if out:
            out.close()
        c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main(argv):
    if len(argv) < 2 or argv[:2] != ["server", "run"]:
        fail("fake_tremor only does `server run`")
    files = [a for a in argv if a.endswith((".yaml", ".yml", ".trickle"))]
    yaml_text = "".join(open(f).read() for f in files if not f.endswith(".trickle"))
    trickle = "".join(open(f).read() for f in files if f.endswith(".trickle"))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if "grouper::bucket" in trickle:
        sys.stderr.write("INFO  [world] loading\n")
        fail("%s:14:8: unknown operator kind 'grouper::bucket'" % files[0])
    if "type: blaster" in yaml_text:
        return blackhole(yaml_text)
    if "type: tcp" in yaml_text:
        return relay(yaml_text, trickle)
    fail("fake_tremor: nothing it can fake in %s" % " ".join(files))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
