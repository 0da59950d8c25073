"""Shared helpers for end-to-end tests: the real binary, real peers.

Everything waits on conditions with generous upper bounds; nothing sleeps
and hopes. Ports are picked free on 127.0.0.1 for each test.
"""
import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time

import pytest
import websockets

from delivery import check_delivery

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TREMOR = os.environ.get("TREMOR_BIN", os.path.join(ROOT, "build", "tremor"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=20.0, what="condition", detail=None):
    """Poll cond() until true; fail the test after timeout seconds (with
    detail(), e.g. a process's log, in the message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what + ("\n" + detail() if detail else ""))


class WsServer:
    """An independent WebSocket server (python3-websockets) that records
    every text message it receives, in order, as parsed JSON."""

    def __init__(self, port):
        self.port = port
        self.messages = []
        self.lock = threading.Lock()
        self.connections = 0
        self._loop = None
        self._stop = None
        self._thread = None
        self._started = threading.Event()

    async def _handler(self, ws, path=None):
        with self.lock:
            self.connections += 1
        try:
            async for msg in ws:
                with self.lock:
                    self.messages.append(json.loads(msg))
        except websockets.ConnectionClosed:
            pass

    async def _main(self):
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, "127.0.0.1", self.port):
            self._started.set()
            await self._stop.wait()

    def start(self):
        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._started.wait(10), "ws server did not start"
        return self

    def stop(self):
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)
        self._started.clear()

    def received(self):
        with self.lock:
            return list(self.messages)


class Proc:
    """A running tremor process whose stdout lines are collected."""

    def __init__(self, args, cwd, env=None):
        self.args = args
        self.p = subprocess.Popen(
            [TREMOR] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, text=True)
        self.lines = queue.Queue()
        self.err = []
        self.pumps = [threading.Thread(target=self._pump, args=(self.p.stdout, self.lines.put), daemon=True),
                      threading.Thread(target=self._pump, args=(self.p.stderr, self.err.append), daemon=True)]
        for t in self.pumps:
            t.start()

    @staticmethod
    def _pump(f, put):
        for line in f:
            put(line.rstrip("\n"))

    def next_line(self, timeout=20.0):
        return self.lines.get(timeout=timeout)

    def _drained(self):
        # once the process has exited its pipes end: let the pumps read the
        # last lines before anyone looks at them
        if self.p.poll() is not None:
            for t in self.pumps:
                t.join(10)

    def stderr(self):
        self._drained()
        return "\n".join(self.err)

    def signal(self, sig):
        self.p.send_signal(sig)

    def wait(self, timeout=20.0):
        rc = self.p.wait(timeout)
        self._drained()
        return rc

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class TremorServer:
    """`tremor server run -n ARGS` in cwd, stdout and stderr together in
    cwd/NAME.log (truncated at start), stopped by its pid. Every instance
    still running when its test ends is killed by the autouse fixture below."""

    def __init__(self, cwd, args, name="tremor", env=None):
        self.path = os.path.join(str(cwd), name + ".log")
        # two servers running in one folder must not share a log
        busy = {s.path for s in _servers if s.p.poll() is None}
        k = 2
        while self.path in busy:
            self.path = os.path.join(str(cwd), "%s-%d.log" % (name, k))
            k += 1
        self.logf = open(self.path, "w")
        self.p = subprocess.Popen([TREMOR, "server", "run", "-n"] + list(args), cwd=str(cwd),
                                  stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        _servers.append(self)

    def text(self):
        """Everything the server has printed so far."""
        self.logf.flush()
        with open(self.path, errors="replace") as f:
            return f.read()

    def lines(self):
        """What the server has printed so far, one line per item (newlines kept)."""
        return self.text().splitlines(keepends=True)

    def log(self, lines=60):
        """The last lines printed, for assertion messages."""
        return "\n".join(self.text().splitlines()[-lines:])

    def has(self, s):
        return s in self.text()

    def wait_for(self, s, timeout=20.0, count=1):
        """Wait until s has been printed count times; fail at once if the
        server exits first."""
        wait_until(lambda: self.text().count(s) >= count or self.p.poll() is not None, timeout,
                   repr(s), self.log)
        assert self.text().count(s) >= count, "server exited (%s) before %r\n%s" % (
            self.p.returncode, s, self.log())

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=20.0):
        """SIGTERM and wait; SIGKILL if it does not exit in timeout s.
        Returns the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill(self, sig=signal.SIGKILL):
        """Send sig (SIGKILL unless told) and wait for the exit; returns its status."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(20)


def serve(cwd, files, data_dir="data", name="tremor"):
    """A TremorServer over the config and query files given, state in data_dir."""
    return TremorServer(cwd, ["-d", data_dir, "-f"] + list(files), name)


_servers = []


@pytest.fixture(autouse=True)
def _kill_leftover_servers():
    yield
    while _servers:
        srv = _servers.pop()
        if srv.p.poll() is None:
            srv.p.kill()
            srv.p.wait()
        srv.logf.close()


@pytest.fixture
def procs():
    started = []

    def start(args, cwd, env=None):
        p = Proc(args, cwd, env)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait()


def run_tremor(args, cwd, timeout=30):
    return subprocess.run([TREMOR] + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


# tcp onramp (lines, json) -> pipeline "relay" -> tcp offramp; format with
# in_port and out_port.
RELAY_CONFIG = """onramp:
  - id: in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {in_port}
offramp:
  - id: out
    type: tcp
    codec: json
    postprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {out_port}
binding:
  - id: relay
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/relay/{{instance}}/in"]
      "/pipeline/relay/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/relay/01:
    instance: "01"
"""

# stdin (JSON lines; 0.11's stdin defaults to the string codec) -> pipeline
# "q" -> stdout.
STDIO_CONFIG = """onramp:
  - id: in
    type: stdin
    codec: json
offramp:
  - id: out
    type: stdout
binding:
  - id: b
    links:
      "/onramp/in/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


# ---- kafka: librdkafka's mock cluster (tool_kafka_mock) and checks of what
# a consumer group delivered (test_kafka.py, test_scale_out.py)

MOCK = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "e2e", "tool_kafka_mock")


class Mock:
    """tool_kafka_mock in its own process: bootstrap servers and commands."""

    def __init__(self, brokers=3):
        self.p = subprocess.Popen([MOCK, str(brokers)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        first = self.p.stdout.readline().split()
        assert first and first[0] == "bootstrap", first
        self.bootstrap = first[1]
        self.answers = queue.Queue()
        threading.Thread(target=lambda: [self.answers.put(l) for l in self.p.stdout], daemon=True).start()
        self.brokers = ", ".join('"%s"' % b for b in self.bootstrap.split(","))

    def cmd(self, line, timeout=120):
        self.send(line)
        self.wait_ok(line, timeout)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def answered(self):
        """Whether an answer is waiting (a command sent has finished)."""
        return not self.answers.empty()

    def wait_ok(self, line, timeout=120):
        answer = self.answers.get(timeout=timeout).strip()
        assert answer == "ok", "%s -> %s" % (line, answer)

    def number(self, line, timeout=120):
        """A command answered "ok N" (count, committed): N."""
        self.send(line)
        answer = self.answers.get(timeout=timeout).strip().split()
        assert len(answer) == 2 and answer[0] == "ok", "%s -> %s" % (line, " ".join(answer))
        return int(answer[1])

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


def check_per_partition(rows, n, dups=0, late=0):
    """check_delivery on the rows (arrival order, Kafka partitions), then the
    offsets: each partition's distinct offsets are 0..max and the same
    offset always carries the same id."""
    extra, n_late = check_delivery([(r["p"], r["id"]) for r in rows], n, dups=dups, late=late)
    print("%d rows for %d ids: %d duplicates (at most %d), %d late (at most %d)" % (
        len(rows), n, extra, dups, n_late, late))
    by_p = {}
    for r in rows:
        by_p.setdefault(r["p"], []).append(r)
    for p, rs in by_p.items():
        offs = sorted({r["o"] for r in rs})
        assert offs == list(range(len(offs))), "partition %d has gaps" % p
        # the same offset always carries the same id
        seen = {}
        for r in rs:
            assert seen.setdefault(r["o"], r["id"]) == r["id"]
    return by_p
