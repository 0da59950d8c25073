"""make soak: a long mixed load against the real binary in a hostile world,
ending in an accounting of every id.

Two chains run side by side, each  loader -> onramp -> qos::wal (sync always)
-> offramp -> an independent receiver process:
  tcp: JSON lines into the tcp onramp, tcp offramp into tests/soak/sink.py
  ws:  JSON messages into the ws onramp, ws offramp into tests/e2e/ws_receiver.py
Both WALs live on a small tmpfs mounted for the run (root only; otherwise a
temp dir and no disk-full episodes). Episodes on a randomised schedule (the
seed is printed; SOAK_SEED or --seed replays it): SIGKILL tremor and restart
it on the same data; restart a receiver (the tcp sink stops cleanly, see
sink.py; the ws receiver is SIGKILLed); stall a receiver (SIGSTOP/SIGCONT);
stop a receiver and SIGKILL tremor while it is away; fill the tmpfs until
ENOSPC for a few seconds; hostile peers (hostile.py) against both onramps.

The accounting rule. Neither onramp is transactional: bytes the loader
handed to its socket may still be lost legitimately when tremor is SIGKILLed
before the WAL made them durable (socket buffers, one loop turn in memory).
What tremor guarantees is that every event the WAL made durable is
delivered. So an id is *owed* (must reach the receiver at least once) when
it is proven durable, in one of three ways:
  1. wal:   it is in a checksummed record found in the WAL directory right
            after a SIGKILL (or crash), before tremor restarts (walscan.py:
            an independent reader of the on-disk format);
  2. order: a later id of the same loader connection was delivered. One
            connection is one ordered stream, the WAL stores a stream's
            events in order, makes records durable in sequence order and
            emits only durable records; so everything sent before a
            delivered id on that connection was durable before it was;
  3. clean: it was sent on a connection the loader closed itself at the
            end, with tremor alive, which is then drained and stopped with
            SIGTERM (no kill between the send and the graceful stop).
lost = owed ids never delivered; it must be 0. Ids sent but neither owed nor
delivered are reported as "not durable at a kill" (allowed). Duplicates are
extra deliveries of an id (replays after a kill or a lost connection).
--self-check wipes the WAL directories between a kill and the restart, with
the receivers away so the WALs hold undelivered records: the soak must then
report lost > 0 (exit 0 only if it does), which shows it can see a loss.

Every wait is a condition with a timeout; the run is bounded by
SOAK_SECONDS (default 1800) plus the drain timeout. Exit status 0 only when
lost = 0, no id arrived that was never sent, tremor never died on its own,
no episode left the chains stuck, and the final SIGTERM exited 0.
"""
import argparse
import asyncio
import errno
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import hostile  # noqa: E402
from walscan import scan_ids  # noqa: E402

TREMOR = os.environ.get("TREMOR_BIN", os.path.join(ROOT, "build", "tremor"))
PY = "/usr/bin/python3"
WS_RECEIVER = os.path.join(ROOT, "tests", "e2e", "ws_receiver.py")
TCP_SINK = os.path.join(HERE, "sink.py")

T0 = time.monotonic()


def say(msg):
    print("[%7.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def wait_until(cond, timeout, step=0.05):
    """cond()'s first true value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- ids

class Deliveries:
    """How often each id of one chain reached its receiver: one byte per
    id (saturating at 255), so hours of load stay a few MB."""

    def __init__(self):
        self.counts = bytearray(1 << 20)
        self.max_id = -1
        self.lock = threading.Lock()

    def add(self, i):
        with self.lock:
            if i >= len(self.counts):
                self.counts.extend(bytes(max(i + 1 - len(self.counts), len(self.counts))))
            if self.counts[i] < 255:
                self.counts[i] += 1
            if i > self.max_id:
                self.max_id = i

    def count(self, i):
        with self.lock:
            return self.counts[i] if i < len(self.counts) else 0

    def snapshot(self, n):
        with self.lock:
            c = bytes(self.counts[:n])
        return c + bytes(n - len(c))


class Conn:
    """One loader connection: ids first..last (inclusive) were handed to its
    socket in order; clean = the loader closed it itself at the end."""

    def __init__(self, epoch):
        self.epoch = epoch
        self.first = None
        self.last = None
        self.clean = False
        self.broken = ""


# ---------------------------------------------------------------- loaders

class Loader(threading.Thread):
    """Sends events {"soak_id":N,"chain":C,"tag":"soak-C-N","pad":...} at
    `rate` per second in batches every 50 ms, no catching up after a pause.
    An id counts as sent once all its bytes went into the socket (tcp), or
    once the WebSocket library took it (ws)."""

    PAD = "p" * 80

    def __init__(self, soak, chain, port, rate):
        super().__init__(daemon=True)
        self.soak = soak
        self.chain = chain
        self.port = port
        self.rate = rate
        self.next_id = 0
        self.conns = []
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.lock = threading.Lock()

    def line(self, i):
        return '{"soak_id":%d,"chain":"%s","tag":"soak-%s-%012d","pad":"%s"}' % (
            i, self.chain, self.chain, i, self.PAD)

    def batch(self):
        return max(1, self.rate // 20)

    def sent_mark(self):
        with self.lock:
            return self.next_id

    def note_sent(self, conn, i):
        with self.lock:
            if conn.first is None:
                conn.first = i
            conn.last = i

    def new_conn(self):
        """The instance a connection reaches is the one running both before
        and after connect() returned; a restart in between is ambiguous and
        the connection is dropped before anything is sent on it."""
        while not self.stopping.is_set():
            before = self.soak.epoch
            try:
                s = self.connect()
            except OSError:
                time.sleep(0.05)
                continue
            if self.soak.epoch == before and self.soak.tremor_alive():
                c = Conn(before)
                with self.lock:
                    self.conns.append(c)
                    say("  %s loader: connection %d to tremor #%d from id %d" % (
                        self.chain, len(self.conns), before, self.next_id))
                return s, c
            self.close(s)
        return None, None

    def run(self):
        try:
            self.loop()
        finally:
            self.finished.set()


class TcpLoader(Loader):
    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        s.setblocking(False)
        return s

    def close(self, s):
        s.close()

    def loop(self):
        s, conn = self.new_conn()
        tick = time.monotonic()
        while s is not None:
            if self.stopping.is_set():
                conn.clean = self.finish(s)
                s.close()
                return
            first = self.next_id
            n = self.batch()
            lines = [(self.line(i) + "\n").encode() for i in range(first, first + n)]
            with self.lock:
                self.next_id += n
            if not self.send_all(s, conn, first, lines):
                s.close()
                s, conn = self.new_conn()
                tick = time.monotonic()
                continue
            tick += 0.05
            now = time.monotonic()
            if tick < now - 1.0:
                tick = now
            if tick > now:
                time.sleep(tick - now)

    def send_all(self, s, conn, first, lines):
        data = b"".join(lines)
        ends = []
        total = 0
        for ln in lines:
            total += len(ln)
            ends.append(total)
        off = 0
        k = 0
        give_up = None
        while off < len(data):
            if self.stopping.is_set():
                # at the end a paused onramp gets 10 s more for this batch; the ids
                # fully sent by then are the ones counted
                give_up = give_up or time.monotonic() + 10
                if time.monotonic() > give_up or not self.soak.tremor_alive():
                    return True
            try:
                _, w, x = select.select([], [s], [s], 0.2)
                if not w:
                    continue
                off += s.send(data[off:off + 65536])
            except BlockingIOError:
                continue
            except OSError as e:
                conn.broken = str(e)
                return False
            while k < len(ends) and ends[k] <= off:
                self.note_sent(conn, first + k)
                k += 1
        return True

    def finish(self, s):
        """Half-closes the connection: tremor reads on to the FIN, so every
        byte sent is read (the drain then waits for the ids)."""
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        return True


class WsLoader(Loader):
    """The same over one WebSocket connection (python3-websockets)."""

    def connect(self):
        raise NotImplementedError  # connections are made inside the asyncio loop

    def run(self):
        try:
            asyncio.run(self.aloop())
        finally:
            self.finished.set()

    async def aconnect(self):
        import websockets
        while not self.stopping.is_set():
            before = self.soak.epoch
            try:
                ws = await websockets.connect("ws://127.0.0.1:%d/" % self.port, open_timeout=2,
                                              close_timeout=5, ping_interval=None)
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                await asyncio.sleep(0.05)
                continue
            if self.soak.epoch == before and self.soak.tremor_alive():
                c = Conn(before)
                with self.lock:
                    self.conns.append(c)
                    say("  %s loader: connection %d to tremor #%d from id %d" % (
                        self.chain, len(self.conns), before, self.next_id))
                return ws, c
            await ws.close()
        return None, None

    async def aloop(self):
        import websockets
        ws, conn = await self.aconnect()
        tick = time.monotonic()
        while ws is not None:
            if self.stopping.is_set():
                try:
                    # the close handshake completes after tremor read every message before it
                    await asyncio.wait_for(ws.close(), 10)
                    conn.clean = True
                except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
                    conn.broken = "close: %s" % type(e).__name__
                return
            first = self.next_id
            n = self.batch()
            with self.lock:
                self.next_id += n
            ok = True
            for i in range(first, first + n):
                try:
                    # drain() inside send waits while the transport is over its high-water
                    # mark; bounded so a dead peer is noticed
                    await asyncio.wait_for(ws.send(self.line(i)), 5)
                except asyncio.TimeoutError:
                    if self.soak.tremor_alive() and not self.stopping.is_set():
                        # backpressure: the frame is already in the transport's buffer
                        self.note_sent(conn, i)
                        continue
                    conn.broken = "send timeout"
                    ok = False
                    break
                except (OSError, websockets.WebSocketException) as e:
                    # the frame may be in the transport already (the library writes it, then
                    # fails in drain()), so it may arrive: counted as sent, never owed by it
                    self.note_sent(conn, i)
                    conn.broken = type(e).__name__
                    ok = False
                    break
                self.note_sent(conn, i)
            if not ok:
                try:
                    ws.transport.abort()
                except Exception:
                    pass
                ws, conn = await self.aconnect()
                tick = time.monotonic()
                continue
            tick += 0.05
            now = time.monotonic()
            if tick < now - 1.0:
                tick = now
            if tick > now:
                await asyncio.sleep(tick - now)


# ---------------------------------------------------------------- processes

class Receiver:
    """A receiver process of one chain; its stdout lines are counted in
    `deliveries` across restarts. stop() is its chain's restart: SIGTERM for
    the tcp sink (a clean stop, sink.py), SIGKILL for the ws receiver (safe:
    the ws offramp confirms a frame only by a pong and 50 ms more uptime)."""

    def __init__(self, chain, script, port, deliveries, stop_signal, workdir):
        self.chain = chain
        self.workdir = workdir
        self.script = script
        self.port = port
        self.deliveries = deliveries
        self.stop_signal = stop_signal
        self.p = None
        self.threads = []
        self.foreign = 0
        self.notes = []
        self.restarts = 0

    def start(self):
        self.p = subprocess.Popen([PY, self.script, str(self.port)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.incarnation = getattr(self, "incarnation", 0) + 1
        # the ids in arrival order, one file per receiver process, for a post-mortem
        self.trace = open(os.path.join(self.workdir, "recv-%s-%03d.ids" % (self.chain, self.incarnation)), "w")
        ready = threading.Event()
        self.threads = [threading.Thread(target=self._out, args=(self.p.stdout,), daemon=True),
                        threading.Thread(target=self._err, args=(self.p.stderr, ready), daemon=True)]
        for t in self.threads:
            t.start()
        if not ready.wait(20):
            raise RuntimeError("%s receiver did not start listening" % self.chain)

    def _out(self, f):
        for line in f:
            try:
                v = json.loads(line)
            except ValueError:
                self.foreign += 1
                continue
            if isinstance(v, dict) and v.get("chain") == self.chain and isinstance(v.get("soak_id"), int):
                self.deliveries.add(v["soak_id"])
                self.trace.write("%d\n" % v["soak_id"])
            else:
                self.foreign += 1
        self.trace.close()

    def _err(self, f, ready):
        for line in f:
            line = line.decode(errors="replace").strip()
            if line == "listening":
                ready.set()
            elif line and line != "stopped":
                self.notes.append(line)

    def stop(self):
        """Returns once the process is gone and every line it printed was
        counted."""
        if self.p is None:
            return
        if self.p.poll() is None:
            self.p.send_signal(self.stop_signal)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.notes.append("did not stop within 30 s of signal %d: SIGKILLed" % self.stop_signal)
            self.p.kill()
            self.p.wait(10)
        for t in self.threads:
            t.join(30)
        self.p = None

    def restart(self):
        self.stop()
        self.start()
        self.restarts += 1

    def stall(self):
        self.p.send_signal(signal.SIGSTOP)

    def resume(self):
        self.p.send_signal(signal.SIGCONT)


class Tremor:
    def __init__(self, workdir, files):
        self.workdir = workdir
        self.files = files
        self.p = None
        self.log_path = None
        self.starts = 0

    def start(self, epoch):
        self.log_path = os.path.join(self.workdir, "tremor-%03d.log" % epoch)
        with open(self.log_path, "wb") as log:
            self.p = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f"] + self.files,
                                      cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, n=15):
        return "\n".join("    | " + ln for ln in self.log().splitlines()[-n:])

    def ready(self, timeout=30):
        def up():
            if self.p.poll() is not None:
                return "exited"
            log = self.log()
            return "running" if " running (instance" in log else None
        return wait_until(up, timeout) == "running"

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self):
        self.p.kill()
        self.p.wait(30)

    def term(self, timeout=30):
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
            return "hung on SIGTERM (SIGKILLed after %d s)" % timeout


CONFIG = """onramp:
  - id: soak_tcp_in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {tcp_in}
  - id: soak_ws_in
    type: ws
    codec: json
    config:
      host: 127.0.0.1
      port: {ws_in}
offramp:
  - id: soak_tcp_out
    type: tcp
    codec: json
    postprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {tcp_out}
  - id: soak_ws_out
    type: ws
    codec: json
    config:
      url: ws://127.0.0.1:{ws_out}/
binding:
  - id: soak
    links:
      "/onramp/soak_tcp_in/{{instance}}/out": ["/pipeline/soak_tcp/{{instance}}/in"]
      "/pipeline/soak_tcp/{{instance}}/out": ["/offramp/soak_tcp_out/{{instance}}/in"]
      "/onramp/soak_ws_in/{{instance}}/out": ["/pipeline/soak_ws/{{instance}}/in"]
      "/pipeline/soak_ws/{{instance}}/out": ["/offramp/soak_ws_out/{{instance}}/in"]
mapping:
  /binding/soak/01:
    instance: "01"
"""

QUERY = """define qos::wal operator wal
with
  read_count = 1000,
  max_elements = 1000000,
  max_bytes = {max_bytes},
  segment_bytes = 17825792,
  sync = "always",
  dir = "{dir}"
end;
create operator wal;
select event from in into wal;
select event from wal into out;
"""


# ---------------------------------------------------------------- the run

class Chain:
    def __init__(self, name, in_port, out_port, wal_dir, loader, receiver, deliveries):
        self.name = name
        self.in_port = in_port
        self.out_port = out_port
        self.wal_dir = wal_dir
        self.loader = loader
        self.receiver = receiver
        self.deliveries = deliveries
        self.wal_owed = set()
        self.tag_re = re.compile(rb"soak-" + name.encode() + rb"-(\d{12})")

    def scan_wal(self):
        ids, records = scan_ids(self.wal_dir, self.tag_re)
        self.wal_owed |= ids
        return ids, records

    def undelivered_in_wal(self):
        ids, _ = scan_ids(self.wal_dir, self.tag_re)
        return [i for i in ids if self.deliveries.count(i) == 0]

    def account(self, full=True):
        """The rule of the module docstring over everything sent so far, with
        one byte per id for each set (sent, owed, delivered) so that hours of
        ids are counted with bytes operations, not Python loops."""
        n = max(self.loader.sent_mark(), self.deliveries.max_id + 1)
        counts = self.deliveries.snapshot(n)
        with self.loader.lock:
            conns = [(c.first, c.last, c.clean) for c in self.loader.conns if c.first is not None]
        sent = bytearray(n)
        owed = bytearray(n)
        by = {"wal": 0, "order": 0, "clean": 0}
        for first, last, clean in conns:
            sent[first:last + 1] = b"\1" * (last + 1 - first)
            if clean:
                end = last + 1
                by["clean"] += end - first
            else:
                end = first + len(counts[first:last + 1].rstrip(b"\0"))
                by["order"] += end - first
            owed[first:end] = b"\1" * (end - first)
        for i in self.wal_owed:
            if i < n and not owed[i]:
                owed[i] = 1
                by["wal"] += 1
        zero = bytes(counts).translate(ZERO_TO_ONE)

        def bits(b):
            return int.from_bytes(b, "little")
        lost_bits = bits(owed) & bits(zero)
        lost = lost_bits.bit_count()
        lost_ids = []
        while lost_bits and len(lost_ids) < 10:
            low = lost_bits & -lost_bits
            lost_ids.append((low.bit_length() - 1) // 8)
            lost_bits ^= low
        r = {"lost": lost, "lost_ids": lost_ids, "owed": owed.count(1), "by": by}
        if not full:
            return r
        all_ones = (1 << (8 * n)) - 1 if n else 0
        r["sent"] = sent.count(1)
        r["delivered"] = n - zero.count(1)
        r["duplicates"] = sum((k - 1) * counts.count(k) for k in range(2, 256))
        r["not_durable"] = (bits(sent) & bits(zero) & (all_ones ^ bits(owed))).bit_count()
        r["unexpected"] = ((all_ones ^ bits(sent)) & (all_ones ^ bits(zero)) & bits(b"\1" * n)).bit_count()
        r["connections"] = len(conns)
        return r


ZERO_TO_ONE = bytes([1] + [0] * 255)


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.epoch = 0
        self.killing = False
        self.problems = []
        self.episodes = {}
        self.kills = 0
        self.crashes = 0
        self.not_durable_at_kill = []
        self.rss = []            # (elapsed s, kB, epoch)
        self.running = True
        self.current = "-"       # the episode under way, for the RSS table
        self.workdir = tempfile.mkdtemp(prefix="tremor-soak-")
        self.walfs = os.path.join(self.workdir, "walfs")
        os.mkdir(self.walfs)
        self.mounted = False
        self.disk_full_reason = None
        if args.no_disk_full:
            self.disk_full_reason = "disabled by --no-disk-full"
        elif os.geteuid() != 0:
            self.disk_full_reason = "not root: no tmpfs to fill, the WALs are in a plain temp dir"
        else:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % args.tmpfs_mib, "soak-walfs",
                                self.walfs], capture_output=True, text=True)
            if r.returncode == 0:
                self.mounted = True
            else:
                self.disk_full_reason = "cannot mount a tmpfs: " + r.stderr.strip()
        ports = {k: free_port() for k in ("tcp_in", "tcp_out", "ws_in", "ws_out")}
        with open(os.path.join(self.workdir, "config.yaml"), "w") as f:
            f.write(CONFIG.format(**ports))
        # each WAL may use a third of the tmpfs, so a disk-full episode is the
        # ballast's doing, not the WALs' own backlog
        max_bytes = (args.tmpfs_mib << 20) // 3
        files = []
        for name in ("tcp", "ws"):
            with open(os.path.join(self.workdir, "soak_%s.trickle" % name), "w") as f:
                f.write(QUERY.format(dir=os.path.join(self.walfs, name), max_bytes=max_bytes))
            files.append("soak_%s.trickle" % name)
        files.append("config.yaml")
        self.tremor = Tremor(self.workdir, files)
        self.chains = []
        for name, loader_cls, script, sig in (("tcp", TcpLoader, TCP_SINK, signal.SIGTERM),
                                              ("ws", WsLoader, WS_RECEIVER, signal.SIGKILL)):
            d = Deliveries()
            rate = args.rate if name == "tcp" else args.ws_rate
            loader = loader_cls(self, name, ports[name + "_in"], rate)
            rec = Receiver(name, script, ports[name + "_out"], d, sig, self.workdir)
            self.chains.append(Chain(name, ports[name + "_in"], ports[name + "_out"],
                                     os.path.join(self.walfs, name), loader, rec, d))

    # -- tremor lifecycle

    def tremor_alive(self):
        return not self.killing and self.tremor.alive()

    def start_tremor(self):
        self.epoch += 1
        self.tremor.start(self.epoch)
        if not self.tremor.ready(60):
            self.problem("tremor #%d did not come up within 60 s" % self.epoch, self.tremor.tail())
            return False
        return True

    def after_death(self, wipe=False):
        found = []
        usage = self.walfs_usage()
        for c in self.chains:
            ids, records = c.scan_wal()
            found.append("%s %d records" % (c.name, records))
            if wipe:
                for n in os.listdir(c.wal_dir):
                    p = os.path.join(c.wal_dir, n)
                    if os.path.isfile(p):
                        os.unlink(p)
        self.killing = False
        ok = self.start_tremor()
        return "WAL after death: " + ", ".join(found) + " (" + usage + ")" + ("; WAL files WIPED" if wipe else "") + (
            "" if ok else "; restart FAILED")

    def problem(self, what, detail=""):
        self.problems.append((time.monotonic() - T0, what, detail))
        say("PROBLEM: " + what + ("\n" + detail if detail else ""))

    def watch(self, seconds):
        """Waits `seconds`, noticing a tremor that died on its own."""
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            if not self.killing and self.tremor.p is not None and self.tremor.p.poll() is not None:
                self.crashes += 1
                self.problem("tremor #%d died on its own (exit %s)" % (self.epoch, self.tremor.p.returncode),
                             self.tremor.tail(25))
                say(self.after_death())
            time.sleep(0.1)

    # -- samplers

    def sample_rss(self):
        while self.running:
            p = self.tremor.p
            if p is not None and p.poll() is None:
                try:
                    with open("/proc/%d/status" % p.pid) as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                self.rss.append((time.monotonic() - T0, int(line.split()[1]), self.epoch,
                                                 self.current))
                                break
                except (OSError, ValueError):
                    pass
            time.sleep(1.0)

    def progress(self, after, timeout):
        """Every chain delivers an id sent after the episode within timeout."""
        marks = [(c, c.loader.sent_mark()) for c in self.chains]
        for c, mark in marks:
            t = time.monotonic()
            if wait_until(lambda: c.deliveries.max_id >= mark or not self.running, timeout, 0.1) is None:
                self.problem("%s chain: no event sent after '%s' delivered within %d s" % (c.name, after, timeout),
                             self.tremor.tail(25))
                return
            if time.monotonic() - t > 30:
                say("  %s chain took %.0f s to deliver again" % (c.name, time.monotonic() - t))

    # -- episodes

    def ep_kill(self):
        return "SIGKILL tremor; " + self.kill_tremor_and_report()

    def kill_tremor_and_report(self, wipe=False):
        """SIGKILL, then read what the WALs hold (owed from now on) before the
        restart. wipe (--self-check only) then deletes the WAL files."""
        self.killing = True
        self.tremor.kill()
        self.kills += 1
        return self.after_death(wipe)

    def ep_receiver_restart(self):
        c = self.rng.choice(self.chains)
        down = self.rng.uniform(1, 8)
        c.receiver.stop()
        self.watch(down)
        c.receiver.start()
        c.receiver.restarts += 1
        return "%s receiver away %.1f s" % (c.name, down)

    def ep_receiver_stall(self):
        c = self.rng.choice(self.chains)
        t = self.rng.uniform(1, 8)
        c.receiver.stall()
        self.watch(t)
        c.receiver.resume()
        return "%s receiver stopped (SIGSTOP) %.1f s" % (c.name, t)

    def ep_away_kill(self):
        away = self.rng.uniform(1, 5)
        for c in self.chains:
            c.receiver.stop()
        self.watch(away)
        r = self.kill_tremor_and_report()
        for c in self.chains:
            c.receiver.start()
            c.receiver.restarts += 1
        return "receivers away %.1f s, SIGKILL tremor meanwhile; %s" % (away, r)

    def ep_disk_full(self):
        hold = self.rng.uniform(2, 10)
        path = os.path.join(self.walfs, "ballast")
        away = self.rng.random() < 0.7
        if away:
            for c in self.chains:
                c.receiver.stop()
            self.watch(1)
        usage = self.walfs_usage()
        full_before = self.log_grep("disk full")
        filled = 0
        try:
            with open(path, "wb", buffering=0) as f:
                for size in (1 << 20, 4096):
                    block = b"\0" * size
                    while True:
                        try:
                            filled += f.write(block)
                        except OSError as e:
                            if e.errno != errno.ENOSPC:
                                raise
                            break
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        # A segment is preallocated whole (17 MiB here), so at this rate the log
        # rarely needs a new one within a few seconds; a restart does (a new run
        # never appends to an old segment) unless recovery reclaims the old one,
        # so most episodes keep the receivers away (records stay unacknowledged)
        # and restart tremor on the full disk.
        restart = ""
        if away:
            restart = "; receivers away, SIGKILL and restart on the full disk: " + self.kill_tremor_and_report()
        self.watch(hold)
        if os.path.exists(path):
            os.unlink(path)
        if away:
            self.watch(self.rng.uniform(0, 3))
            for c in self.chains:
                c.receiver.start()
                c.receiver.restarts += 1
        seen = self.log_grep("disk full") - full_before
        return "tmpfs full (ballast %d MiB; before: %s) for %.1f s%s; tremor logged 'disk full' %d times" % (
            filled >> 20, usage, hold, restart, seen)

    def log_grep(self, text):
        n = 0
        for name in os.listdir(self.workdir):
            if name.startswith("tremor-") and name.endswith(".log"):
                with open(os.path.join(self.workdir, name), errors="replace") as f:
                    n += f.read().count(text)
        return n

    def walfs_usage(self):
        """Free space and, per WAL, segments and allocated MiB (segments are
        preallocated, so the allocation is what counts on a full disk)."""
        st = os.statvfs(self.walfs)
        parts = ["%.0f MiB free" % (st.f_bavail * st.f_frsize / (1 << 20))]
        for c in self.chains:
            segs = alloc = 0
            for n in os.listdir(c.wal_dir) if os.path.isdir(c.wal_dir) else []:
                p = os.path.join(c.wal_dir, n)
                if os.path.isfile(p):
                    alloc += os.stat(p).st_blocks * 512
                    segs += n.endswith(".wal")
            parts.append("%s %d segments %.0f MiB" % (c.name, segs, alloc / (1 << 20)))
        return ", ".join(parts)

    def ep_hostile(self):
        c = self.rng.choice(self.chains)
        fn = self.rng.choice(hostile.TCP if c.name == "tcp" else hostile.WS)
        seconds = self.rng.uniform(2, 8)
        box = []
        # a Random of its own, so the schedule does not depend on what the peer draws
        prng = random.Random(self.rng.random())
        t = threading.Thread(target=lambda: box.append(fn(c.in_port, seconds, prng)), daemon=True)
        t.start()
        deadline = time.monotonic() + seconds + 120
        while t.is_alive() and time.monotonic() < deadline:
            self.watch(0.5)
        if t.is_alive():
            self.problem("hostile peer %s against %s did not finish in %d s" % (fn.__name__, c.name,
                                                                                seconds + 120))
            return "hostile %s: stuck" % fn.__name__
        return "hostile vs %s onramp: %s" % (c.name, box[0] if box else "?")

    EPISODES = [("kill", "ep_kill", 3), ("receiver_restart", "ep_receiver_restart", 3),
                ("receiver_stall", "ep_receiver_stall", 2), ("away_kill", "ep_away_kill", 2),
                ("disk_full", "ep_disk_full", 2), ("hostile", "ep_hostile", 4)]

    def pick(self):
        eps = [e for e in self.EPISODES if (e[0] != "disk_full" or self.disk_full_reason is None)
               and (not self.args.episodes or e[0] in self.args.episodes)]
        total = sum(w for _, _, w in eps)
        x = self.rng.uniform(0, total)
        for name, fn, w in eps:
            x -= w
            if x <= 0:
                return name, fn
        return eps[-1][0], eps[-1][1]

    # -- the run

    def run(self):
        a = self.args
        say("tremor-soak seed=%d seconds=%d rate=%d/s tcp + %d/s ws, workdir %s" % (
            a.seed, a.seconds, a.rate, a.ws_rate, self.workdir))
        say("disk-full episodes: " + ("on (tmpfs %d MiB)" % a.tmpfs_mib if self.disk_full_reason is None
                                      else "off: " + self.disk_full_reason))
        for c in self.chains:
            c.receiver.start()
        if not self.start_tremor():
            return self.finish(drained=False)
        threading.Thread(target=self.sample_rss, daemon=True).start()
        for c in self.chains:
            c.loader.start()
        self.progress("start", 60)
        end = T0 + a.seconds
        if a.self_check:
            self.self_check()
        while not a.self_check and time.monotonic() < end - 5:
            self.watch(min(self.rng.uniform(a.gap_min, a.gap_max), max(0, end - 5 - time.monotonic())))
            if time.monotonic() >= end - 5:
                break
            name, fn = self.pick()
            say("episode %s ..." % name)
            self.current = name
            what = getattr(self, fn)()
            self.episodes[name] = self.episodes.get(name, 0) + 1
            say("  " + what)
            self.progress(name, 180 if name == "disk_full" else 90)
            self.current = "-"
        return self.finish(drained=True)

    def self_check(self):
        """Receivers away until both WALs hold records nobody has seen, then
        SIGKILL, wipe the WALs, restart: a soak that works reports a loss."""
        for c in self.chains:
            c.receiver.stop()
        if not wait_until(lambda: all(c.undelivered_in_wal() for c in self.chains), 60, 0.5):
            self.problem("self-check: the WALs never held undelivered records")
        say("self-check: " + self.kill_tremor_and_report(wipe=True))
        for c in self.chains:
            c.receiver.start()
        self.episodes["self_check_wipe"] = 1
        self.progress("self-check wipe", 90)
        self.watch(3)

    def finish(self, drained):
        a = self.args
        say("draining: loaders stop, waiting up to %d s for every owed id" % a.drain)
        for c in self.chains:
            c.loader.stopping.set()
        for c in self.chains:
            if c.loader.is_alive() and not c.loader.finished.wait(30):
                self.problem("%s loader did not stop within 30 s" % c.name)
        if self.tremor.alive():
            self.drain(a.drain)
        rc = self.tremor.term() if self.tremor.alive() else "not running"
        if rc != 0:
            self.problem("tremor's final SIGTERM: exit %s" % rc, self.tremor.tail(25))
        end_wal = {}
        for c in self.chains:
            before = set(c.wal_owed)
            ids, _ = c.scan_wal()
            end_wal[c.name] = [i for i in ids - before if c.deliveries.count(i) == 0]
            c.receiver.stop()
        self.running = False
        return self.report(end_wal, rc)

    def drain(self, timeout, quiet=30):
        """Until no owed id is missing, or timeout, or `quiet` seconds without
        any new delivery (nothing more is coming: the report says what)."""
        deadline = time.monotonic() + timeout
        last = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            lost = sum(c.account(full=False)["lost"] for c in self.chains)
            if lost == 0:
                return
            now = (lost, tuple(len(c.deliveries.counts) - c.deliveries.counts.count(0) for c in self.chains))
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > quiet:
                say("drain: %d owed ids still missing, no delivery for %d s" % (lost, quiet))
                return
            time.sleep(1.0)
        say("drain: timed out after %d s" % timeout)

    def report(self, end_wal, rc):
        a = self.args
        ok = True
        print()
        print("=== soak report (seed %d, %d s, workdir %s) ===" % (a.seed, a.seconds, self.workdir))
        print("%-5s %9s %9s %7s %9s %18s %6s %10s %5s" % (
            "chain", "sent", "delivered", "dups", "owed", "(wal/order/clean)", "lost", "notdurable", "unexp"))
        lost_total = 0
        for c in self.chains:
            r = c.account()
            lost_total += r["lost"]
            print("%-5s %9d %9d %7d %9d %18s %6d %10d %5d" % (
                c.name, r["sent"], r["delivered"], r["duplicates"], r["owed"],
                "%d/%d/%d" % (r["by"]["wal"], r["by"]["order"], r["by"]["clean"]),
                r["lost"], r["not_durable"], r["unexpected"]))
            if r["lost"]:
                print("      first lost ids: %s%s" % (r["lost_ids"], "; %d of them still in the WAL after the "
                                                        "final stop" % len(end_wal[c.name]) if end_wal[c.name] else ""))
            if r["unexpected"]:
                ok = False
            if c.receiver.notes:
                print("      %s receiver said: %s" % (c.name, "; ".join(c.receiver.notes[:5])))
            print("      %s: %d loader connections, %d receiver restarts, %d foreign lines at the receiver" % (
                c.name, r["connections"], c.receiver.restarts, c.receiver.foreign))
        print("tremor starts %d, SIGKILLs %d, died on its own %d, final SIGTERM exit %s" % (
            self.tremor.starts, self.kills, self.crashes, rc))
        print("episodes: " + (", ".join("%s %d" % kv for kv in sorted(self.episodes.items())) or "none"))
        if self.disk_full_reason:
            print("disk-full episodes skipped: " + self.disk_full_reason)
        self.rss_table()
        warn, err = self.log_counts()
        print("tremor log lines over all runs: %d WARN, %d ERROR" % (warn, err))
        for line in err_samples(self.workdir)[:8]:
            print("    | " + line)
        if self.problems:
            print("problems (%d):" % len(self.problems))
            for t, what, _ in self.problems[:20]:
                print("  [%7.1fs] %s" % (t, what))
        if a.self_check:
            if lost_total > 0:
                print("self-check: PASS, the injected loss was seen (lost %d)" % lost_total)
                return 0
            print("self-check: FAIL, the WAL was wiped but the soak saw no loss")
            return 1
        if lost_total or self.problems or not ok:
            print("soak: FAIL (lost %d, %d problems)" % (lost_total, len(self.problems)))
            return 1
        print("soak: PASS (lost 0)")
        return 0

    def rss_table(self):
        w = self.args.window
        if not self.rss:
            print("RSS: no samples")
            return
        print("tremor RSS (VmRSS, MiB) per %d s window:" % w)
        print("  %-13s %7s %7s %7s %8s %9s  %s" % ("window", "min", "median", "max", "samples", "restarts",
                                                   "max seen during"))
        last = int(self.rss[-1][0] // w)
        for k in range(last + 1):
            rows = [r for r in self.rss if int(r[0] // w) == k]
            if not rows:
                continue
            xs = [r[1] for r in rows]
            top = max(rows, key=lambda r: r[1])
            print("  %5d-%-5d s %7.1f %7.1f %7.1f %8d %9d  %s at %.0f s" % (
                k * w, (k + 1) * w, min(xs) / 1024, statistics.median(xs) / 1024, max(xs) / 1024, len(xs),
                max(0, len({r[2] for r in rows}) - 1), top[3], top[0]))

    def log_counts(self):
        warn = err = 0
        for n in sorted(os.listdir(self.workdir)):
            if n.startswith("tremor-") and n.endswith(".log"):
                with open(os.path.join(self.workdir, n), errors="replace") as f:
                    for line in f:
                        warn += line.startswith("WARN ")
                        err += line.startswith("ERROR ")
        return warn, err

    def cleanup(self, keep):
        if self.mounted:
            subprocess.run(["umount", "-l", self.walfs], capture_output=True)
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def err_samples(workdir):
    """Distinct ERROR messages (numbers masked) across the tremor logs."""
    seen = {}
    for n in sorted(os.listdir(workdir)):
        if n.startswith("tremor-") and n.endswith(".log"):
            with open(os.path.join(workdir, n), errors="replace") as f:
                for line in f:
                    if line.startswith("ERROR "):
                        key = re.sub(r"\d+", "N", line.split("ERROR", 1)[1])[:160]
                        seen.setdefault(key, "%s: %s" % (n, line.strip()[:200]))
    return list(seen.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", "1800")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "0")) or None)
    ap.add_argument("--rate", type=int, default=2000, help="tcp events per second")
    ap.add_argument("--ws-rate", type=int, default=500, help="ws events per second")
    ap.add_argument("--drain", type=int, default=180, help="seconds to wait for owed ids at the end")
    ap.add_argument("--window", type=int, default=300, help="RSS table window, seconds")
    ap.add_argument("--gap-min", type=float, default=5.0)
    ap.add_argument("--gap-max", type=float, default=20.0)
    ap.add_argument("--tmpfs-mib", type=int, default=256)
    ap.add_argument("--no-disk-full", action="store_true", default=bool(os.environ.get("SOAK_NO_DISK_FULL")))
    ap.add_argument("--episodes", type=lambda v: v.split(","), default=None,
                    help="only these episode kinds, comma-separated (kill, receiver_restart, "
                         "receiver_stall, away_kill, disk_full, hostile)")
    ap.add_argument("--self-check", action="store_true",
                    help="wipe the WALs after a kill: the soak must report lost > 0")
    ap.add_argument("--keep", action="store_true", help="keep the work dir even when the soak passes")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    if a.self_check and "SOAK_SECONDS" not in os.environ and "--seconds" not in " ".join(sys.argv):
        a.seconds = 20
    if not os.access(TREMOR, os.X_OK):
        print("soak: no tremor binary at %s (set TREMOR_BIN)" % TREMOR, file=sys.stderr)
        return 2
    soak = Soak(a)
    rc = 1
    try:
        rc = soak.run()
    finally:
        soak.running = False
        for c in soak.chains:
            c.loader.stopping.set()
            if c.receiver.p is not None and c.receiver.p.poll() is None:
                c.receiver.p.kill()
        if soak.tremor.alive():
            soak.tremor.p.kill()
        soak.cleanup(keep=a.keep or rc != 0 or a.self_check)
        if rc != 0 or a.keep or a.self_check:
            print("logs kept in %s" % soak.workdir)
    return rc


if __name__ == "__main__":
    sys.exit(main())
