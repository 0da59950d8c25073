"""TCP relay and benchmark connectors end to end: the real binary between
a Python loader and an independent TCP sink process (tcp_sink.py), with and
without qos::wal; the blaster -> blackhole benchmark stopping by itself; the
file onramp and offramp. Waits are on conditions with generous bounds."""
import json
import lzma
import os
import queue
import signal
import socket
import subprocess
import threading

from conftest import RELAY_CONFIG, TREMOR, TremorServer, free_port, wait_until

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))

PASSTHROUGH = "select event from in into out;\n"

WAL_QUERY = """define qos::wal operator relay_wal
with
  read_count = 1000,
  max_elements = 1000000,
  sync = "always"
end;
create operator relay_wal;
select event from in into relay_wal;
select event from relay_wal into out;
"""



class Sink:
    """tcp_sink.py in its own process; ids of the lines it printed, across restarts."""

    def __init__(self, port):
        self.port = port
        self.q = queue.Queue()
        self.ids = []
        self.p = None

    def start(self):
        self.p = subprocess.Popen([PY, os.path.join(HERE, "tcp_sink.py"), str(self.port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.p.stderr.readline().strip() == b"listening"
        threading.Thread(target=self._pump, args=(self.p.stdout,), daemon=True).start()
        return self

    def _pump(self, f):
        for line in f:
            self.q.put(json.loads(line)["id"])

    def seen(self):
        while True:
            try:
                self.ids.append(self.q.get_nowait())
            except queue.Empty:
                return self.ids

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)


class Server(TremorServer):
    def __init__(self, cwd, query, flags=()):
        super().__init__(cwd, ["-d", "data", "-f", query, "config.yaml", *flags])

    def stop(self):
        return super().stop(30)


def event_lines(first, n):
    pad = "x" * 40
    return "".join('{"id":%d,"pad":"%s"}\n' % (i, pad) for i in range(first, first + n)).encode()


def connect(port, server):
    def attempt():
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return None
    return wait_until(attempt, timeout=20, what="the tcp onramp", detail=server.log)


def relay(tmp_path, query_text):
    in_port, out_port = free_port(), free_port()
    (tmp_path / "relay.trickle").write_text(query_text)
    (tmp_path / "config.yaml").write_text(RELAY_CONFIG.format(in_port=in_port, out_port=out_port))
    return in_port, out_port


def run_once_in_order(tmp_path, query_text, n=100000):
    in_port, out_port = relay(tmp_path, query_text)
    sink = Sink(out_port).start()
    server = Server(tmp_path, "relay.trickle")
    try:
        wait_until(lambda: server.has("connected to"), timeout=20,
                   what="the tcp offramp to connect", detail=server.log)
        loader = connect(in_port, server)
        loader.sendall(event_lines(0, n))
        loader.close()
        wait_until(lambda: len(sink.seen()) >= n, timeout=60, what="%d events at the sink" % n,
                   detail=lambda: "seen %d\n%s" % (len(sink.seen()), server.log()))
        assert server.stop() == 0, server.log()
    finally:
        server.kill()
        sink.kill()
    ids = sink.seen()
    assert ids == list(range(n)), "first difference at %d" % next(
        i for i, (a, b) in enumerate(zip(ids + [None], range(n + 1))) if a != b)


def test_tcp_relay_lines_every_event_once_in_order(tmp_path):
    run_once_in_order(tmp_path, PASSTHROUGH)


def test_tcp_relay_through_wal_every_event_once_in_order(tmp_path):
    run_once_in_order(tmp_path, WAL_QUERY)


def test_tcp_relay_through_wal_sink_killed_loses_nothing(tmp_path):
    """The sink is killed once everything sent so far reached it, more events
    arrive while it is away, and a new sink gets them all. (A sink killed with
    bytes its kernel acknowledged but it never read loses those: that is the
    limit of an acknowledgement by TCP, the same for any TCP sender.)"""
    in_port, out_port = relay(tmp_path, WAL_QUERY)
    sink = Sink(out_port).start()
    server = Server(tmp_path, "relay.trickle")
    half = 50000
    try:
        loader = connect(in_port, server)
        loader.sendall(event_lines(0, half))
        wait_until(lambda: len(set(sink.seen())) >= half, timeout=60, what="the first half",
                   detail=server.log)
        sink.kill()
        loader.sendall(event_lines(half, half))
        wait_until(lambda: any("connection to" in l and "lost" in l for l in server.text().splitlines()), timeout=20,
                   what="the relay to notice", detail=server.log)
        sink.start()
        wait_until(lambda: len(set(sink.seen())) >= 2 * half, timeout=60, what="all events",
                   detail=lambda: "seen %d\n%s" % (len(set(sink.seen())), server.log()))
        loader.close()
        assert server.stop() == 0, server.log()
    finally:
        server.kill()
        sink.kill()
    ids = sink.seen()
    assert sorted(set(ids)) == list(range(2 * half))
    # the first sink got the first half once, in order
    assert ids[:half] == list(range(half))


INGEST_QUERY = """use std::system;
define script stamp
script
  {"id": event.id, "t": system::ingest_ns()}
end;
create script stamp;
select event from in into stamp;
select event from stamp into out;
"""


class RecordSink(Sink):
    """Sink that keeps whole records, not only their ids."""

    def _pump(self, f):
        for line in f:
            self.q.put(json.loads(line))


def test_tcp_events_of_one_chunk_share_their_ingest_ns(tmp_path):
    """As 0.11 (source.rs: nanotime once per reply of the source), the events
    decoded from one chunk of bytes have the chunk's time as ingest_ns; the
    next chunk gets a later one."""
    in_port, out_port = relay(tmp_path, INGEST_QUERY)
    sink = RecordSink(out_port).start()
    server = Server(tmp_path, "relay.trickle")
    try:
        wait_until(lambda: server.has("connected to"), timeout=20,
                   what="the tcp offramp to connect", detail=server.log)
        loader = connect(in_port, server)
        loader.sendall(event_lines(0, 3))   # one small write: one read on loopback
        wait_until(lambda: len(sink.seen()) >= 3, timeout=20, what="the first chunk's events",
                   detail=server.log)
        loader.sendall(event_lines(3, 1))
        wait_until(lambda: len(sink.seen()) >= 4, timeout=20, what="the second chunk's event",
                   detail=server.log)
        loader.close()
        assert server.stop() == 0, server.log()
    finally:
        server.kill()
        sink.kill()
    got = sink.seen()
    assert [r["id"] for r in got] == [0, 1, 2, 3]
    assert got[0]["t"] == got[1]["t"] == got[2]["t"], got
    assert got[3]["t"] > got[0]["t"], got


def write_xz_lines(path, n):
    lines = "".join('{"id":%d,"msg":"hello"}\n' % i for i in range(n))
    with lzma.open(path, "wt") as f:
        f.write(lines)
    return lines


BENCH = """onramp:
  - id: blaster
    type: blaster
    codec: json
    config:
      source: data.json.xz
offramp:
  - id: blackhole
    type: blackhole
    codec: json
    config:
      warmup_secs: 0
      stop_after_secs: 2
      significant_figures: 2
binding:
  - id: bench
    links:
      "/onramp/blaster/{instance}/out": ["/pipeline/main/{instance}/in"]
      "/pipeline/main/{instance}/out": ["/offramp/blackhole/{instance}/in"]
mapping:
  /binding/bench/01:
    instance: "01"
"""


def test_blaster_to_blackhole_stops_by_itself(tmp_path):
    write_xz_lines(tmp_path / "data.json.xz", 100)
    (tmp_path / "main.trickle").write_text(PASSTHROUGH)
    (tmp_path / "config.yaml").write_text(BENCH)
    p = subprocess.run([TREMOR, "server", "run", "-n", "-f", "main.trickle", "config.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Throughput (events): " in p.stdout, p.stdout
    assert "Throughput   (data): " in p.stdout
    assert "     Value Percentile TotalCount 1/(1-Percentile)" in p.stdout
    rate = float(p.stdout.split("Throughput (events): ")[1].split("k")[0])
    assert rate > 0


FILES = """onramp:
  - id: in
    type: file
    config:
      source: in.json.xz
offramp:
  - id: out
    type: file
    postprocessors: [base64]
    config:
      file: out.log
binding:
  - id: copy
    links:
      "/onramp/in/{instance}/out": ["/pipeline/main/{instance}/in"]
      "/pipeline/main/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/copy/01:
    instance: "01"
"""


def copy_files(tmp_path, query, config, n, flags=(), logs=None):
    """Run query under config (file in -> file out.log) until out.log has n
    lines, stop the server (its log appended to logs); out.log's bytes."""
    (tmp_path / "main.trickle").write_text(query)
    (tmp_path / "config.yaml").write_text(config)
    server = Server(tmp_path, "main.trickle", flags)
    out = tmp_path / "out.log"

    def lines():
        return out.read_bytes().count(b"\n") if out.exists() else 0
    try:
        wait_until(lambda: lines() >= n, timeout=30, what="the copied lines", detail=server.log)
        assert server.stop() == 0, server.log()
    finally:
        server.kill()
    if logs is not None:
        logs.append(server.text())
    return out.read_bytes()


def test_file_to_file_with_a_postprocessor(tmp_path):
    import base64
    n = 5000
    write_xz_lines(tmp_path / "in.json.xz", n)
    out = copy_files(tmp_path, PASSTHROUGH, FILES, n)
    got = [json.loads(base64.b64decode(l)) for l in out.splitlines()]
    assert [e["id"] for e in got] == list(range(n))


# An event keeps the JSON text it was decoded from while nothing changes it,
# and leaves as that text; whatever changes it must leave re-encoded. Two
# pipelines: one whose script never assigns to `event` (so the text is kept,
# through a where-select too) and one whose script does (so it is not).
KEEP_QUERY = """define script s
script
  match event.kind of
    case "alias" => let x = event, let x.alias = true, emit x
    case "new" => emit {"n": event.n, "made": true}
    case "meta" => let $m = event.n, emit event
    default => emit event
  end
end;
create script s;
select event from in into s;
select event from s where event.n >= 0 into out;
"""

LET_QUERY = """define script s
script
  match event.kind of
    case "let" => let event.added = event.n + 1, emit event
    case "nested" => let event.inner.x = 2, emit event
    default => emit event
  end
end;
create script s;
select event from in into s;
select event from s into out;
"""

# FILES without the postprocessor, from a plain file
PLAIN_FILES = FILES.replace("source: in.json.xz", "source: in.json").replace("    postprocessors: [base64]\n", "")


def run_lines(tmp_path, query, lines, flags=(), logs=None, expect=None):
    """expect: the lines to wait for (default: one per line)."""
    (tmp_path / "in.json").write_text("".join(l + "\n" for l in lines))
    n = len(lines) if expect is None else expect
    return copy_files(tmp_path, query, PLAIN_FILES, n, flags, logs).decode().splitlines()


def compact(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def keep_lines():
    lines = []
    for i in range(300):
        kind = ("plain", "alias", "new", "meta")[i % 4]
        lines.append(compact({"n": i, "kind": kind, "inner": {"x": 1, "l": [1, 2.5, "s"]}}))
    # text the encoder writes otherwise: whitespace, an escape, a float's
    # long form, a repeated key; unchanged, it leaves re-encoded
    lines += ['{"n": 1000, "kind": "plain"}', '{"n":1001,"kind":"pl\\u0061in"}',
              '{"n":1002,"kind":"plain","f":1.50}', '{"n":1003,"kind":"plain","n":1004}']
    return lines


def check_kept(lines, got):
    want = []
    for l in lines:
        o = json.loads(l)
        if o["kind"] == "alias":
            o["alias"] = True
        elif o["kind"] == "new":
            o = {"n": o["n"], "made": True}
        want.append(o)
    assert [json.loads(g) for g in got] == want
    for l, g in zip(lines, got):
        if json.loads(l)["kind"] in ("plain", "meta"):
            assert g == compact(json.loads(l)), (l, g)   # the canonical text, byte for byte


def test_unchanged_events_leave_as_their_text_and_changed_ones_reencoded(tmp_path):
    lines = keep_lines()
    check_kept(lines, run_lines(tmp_path, KEEP_QUERY, lines))


def test_the_wal_stores_unchanged_events_as_their_text(tmp_path):
    # qos::wal never reads the value: what reaches it unchanged is stored as
    # the text it came as, and must leave the same as without the WAL
    query = KEEP_QUERY.replace("select event from s where event.n >= 0 into out;\n", """define qos::wal operator w
with
  read_count = 100,
  max_elements = 100000,
  sync = "always"
end;
create operator w;
select event from s where event.n >= 0 into w;
select event from w into out;
""")
    assert "into w;" in query
    lines = keep_lines()
    check_kept(lines, run_lines(tmp_path, query, lines))


def test_decoding_off_the_loop_changes_nothing(tmp_path):
    # with more than one CPU the json codec decodes on libuv's thread pool:
    # the same lines, in the same order, as on the loop thread, through a
    # script that keeps, copies, rebuilds or changes events; a line that
    # does not decode among them is dropped (counted) in both
    lines = []
    for i in range(20000):
        kind = ("plain", "alias", "new", "meta", "let")[i % 5]
        lines.append(compact({"n": i, "kind": kind, "pad": "p" * (i % 200), "f": i / 8}))
    lines.insert(7000, '{"n": 7000.5, "kind":')
    query = KEEP_QUERY.replace('case "meta"', 'case "let" => let event.changed = true, emit event\n    case "meta"')
    assert "changed" in query
    outs, logs = [], []
    for flags in ((), ("--decode-on-loop",)):
        d = tmp_path / ("on-loop" if flags else "default")
        d.mkdir()
        outs.append(run_lines(d, query, lines, flags, logs, expect=len(lines) - 1))
    assert len(outs[0]) == len(lines) - 1
    assert outs[0] == outs[1]
    assert [json.loads(l)["n"] for l in outs[0]] == list(range(20000))
    if (os.cpu_count() or 1) > 1:
        assert "decode json and msgpack on libuv's thread pool" in logs[0], logs[0][-2000:]
    assert "decode on the loop thread" in logs[1], logs[1][-2000:]
    for log in logs:
        assert "cannot decode" in log, log[-2000:]


def test_a_script_that_assigns_to_the_event_changes_what_leaves(tmp_path):
    lines = [compact({"n": i, "kind": ("let", "nested", "plain")[i % 3], "inner": {"x": 1}})
             for i in range(300)]
    got = [json.loads(g) for g in run_lines(tmp_path, LET_QUERY, lines)]
    want = []
    for l in lines:
        o = json.loads(l)
        if o["kind"] == "let":
            o["added"] = o["n"] + 1
        elif o["kind"] == "nested":
            o["inner"]["x"] = 2
        want.append(o)
    assert got == want
