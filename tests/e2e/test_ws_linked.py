"""The linked ws offramp (`linked: true`) against a real WebSocket server
(python3-websockets, its own thread): what the server answers comes out of
the offramp's port `out` with 0.11's meta ($binary, $correlation); what
cannot be sent comes out of `err`. Also a ws proxy (a linked ws onramp in
front of the linked offramp), as 0.11's linked-transports page shows it.
Waits are on conditions with bounds."""
import asyncio
import json
import os
import threading

import pytest
import websockets

from conftest import free_port, serve, wait_until

pytestmark = pytest.mark.timeout(60)


class Upstream:
    """A ws server answering each text message: "snot" -> "badger", JSON
    {"n": x} -> {"echo": x}, anything else as it came; "drop" (or {"n": 0})
    drops the connection without an answer or a closing handshake."""

    def __init__(self, port, delay=0.0):
        self.port, self.got, self.delay, self.answered = port, [], delay, 0
        self._loop = self._stop = None
        self._ready = threading.Event()

    async def _handler(self, ws, path=None):
        try:
            async for msg in ws:
                self.got.append(msg)
                text = msg.strip()
                if text in ("drop", '{"n":0}'):
                    ws.transport.abort()
                    return
                if text == "snot":
                    await ws.send("badger\n")
                    continue
                try:
                    v = json.loads(text)
                except ValueError:
                    v = None
                if self.delay:
                    await asyncio.sleep(self.delay)
                await ws.send(json.dumps({"echo": v["n"]}) if isinstance(v, dict) and "n" in v else msg)
                self.answered += 1
        except websockets.ConnectionClosed:
            pass

    async def _main(self):
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, "127.0.0.1", self.port):
            self._ready.set()
            await self._stop.wait()

    def start(self):
        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
            self._loop.close()
        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        assert self._ready.wait(10)
        return self

    def stop(self):
        if self._loop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._t.join(10)


def ws_ask(url, msg, timeout=10):
    """One client connection: send msg, return the first answer."""
    async def go():
        async with websockets.connect(url, open_timeout=timeout) as c:
            await c.send(msg)
            return await asyncio.wait_for(c.recv(), timeout)
    return asyncio.run(go())


@pytest.fixture
def cleanup():
    things = []
    yield things.append
    for t in reversed(things):
        t.stop()


def lines_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# tcp (JSON lines) -> tag ($correlation) -> linked ws offramp -> out/err -> capture -> file
META = """onramp:
  - id: in
    type: tcp
    codec: json
    preprocessors: [lines]
    config: {{host: 127.0.0.1, port: {in_port}}}
offramp:
  - id: up
    type: ws
    linked: true
    codec: json
    config: {{url: "ws://127.0.0.1:{up_port}/"}}
  - id: file
    type: file
    codec: json
    config: {{file: out.json}}
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/tag/{{instance}}/in"]
      "/pipeline/tag/{{instance}}/out": ["/offramp/up/{{instance}}/in"]
      "/offramp/up/{{instance}}/out": ["/pipeline/capture/{{instance}}/in"]
      "/offramp/up/{{instance}}/err": ["/pipeline/capture_err/{{instance}}/in"]
      "/pipeline/capture/{{instance}}/out": ["/offramp/file/{{instance}}/in"]
      "/pipeline/capture_err/{{instance}}/out": ["/offramp/file/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""
TAG = """define script tag script let $correlation = event.n; event end;
create script tag; select event from in into tag; select event from tag into out;"""
CAPTURE = 'select {"port": "out", "event": event, "binary": $binary, "corr": $correlation} from in into out;'
CAPTURE_ERR = 'select {"port": "err", "event": event, "error": $error, "corr": $correlation} from in into out;'


def start_meta(tmp_path, cleanup, up_port):
    in_port = free_port()
    (tmp_path / "tag.trickle").write_text(TAG)
    (tmp_path / "capture.trickle").write_text(CAPTURE)
    (tmp_path / "capture_err.trickle").write_text(CAPTURE_ERR)
    (tmp_path / "config.yaml").write_text(META.format(in_port=in_port, up_port=up_port))
    srv = serve(tmp_path, ["tag.trickle", "capture.trickle", "capture_err.trickle", "config.yaml"])
    cleanup(srv)
    return srv, in_port


def send_lines(port, lines, srv):
    import socket
    wait_until(lambda: srv.p.poll() is None and _can_connect(port), 20, "tcp onramp", srv.text)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall("".join(json.dumps(x) + "\n" for x in lines).encode())


def _can_connect(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_responses_out_of_port_out_with_meta(tmp_path, cleanup):
    up_port = free_port()
    up = Upstream(up_port).start()
    cleanup(up)
    srv, in_port = start_meta(tmp_path, cleanup, up_port)
    wait_until(lambda: "Connected to" in srv.text(), 20, "offramp connected", srv.text)
    send_lines(in_port, [{"n": i} for i in range(1, 21)], srv)
    got = wait_until(lambda: len(lines_of(tmp_path / "out.json")) >= 20 and lines_of(tmp_path / "out.json"),
                     20, "20 responses", srv.text)
    assert len(up.got) == 20
    # each response pairs with what was sent (in order), 0.11's meta
    assert [g["port"] for g in got] == ["out"] * 20
    assert [g["event"] for g in got] == [{"echo": i} for i in range(1, 21)]
    assert [g["corr"] for g in got] == list(range(1, 21))
    assert all(g["binary"] is False for g in got)


def test_connection_lost_before_the_answer_is_an_error_on_err(tmp_path, cleanup):
    up_port = free_port()
    up = Upstream(up_port).start()
    cleanup(up)
    srv, in_port = start_meta(tmp_path, cleanup, up_port)
    wait_until(lambda: "Connected to" in srv.text(), 20, "offramp connected", srv.text)
    send_lines(in_port, [{"n": 0}], srv)
    got = wait_until(lambda: lines_of(tmp_path / "out.json"), 20, "an error event", srv.text)
    assert got[0]["port"] == "err"
    assert got[0]["corr"] == 0
    assert got[0]["event"]["error"].startswith("Error while receiving reply from server ws://127.0.0.1:%d/: "
                                               % up_port)
    assert got[0]["error"] == got[0]["event"]["error"]
    # reconnected: the next one is answered again
    wait_until(lambda: srv.text().count("Connected to") >= 2, 20, "reconnect", srv.text)
    send_lines(in_port, [{"n": 5}], srv)
    got = wait_until(lambda: len(lines_of(tmp_path / "out.json")) >= 2 and lines_of(tmp_path / "out.json"),
                     20, "a response", srv.text)
    assert got[1] == {"port": "out", "event": {"echo": 5}, "binary": False, "corr": 5}


PROXY = """onramp:
  - id: ws
    type: ws
    linked: true
    codec: string
    preprocessors: [lines]
    config: {{host: 127.0.0.1, port: {port}}}
offramp:
  - id: upstream
    type: ws
    linked: true
    codec: string
    postprocessors: [lines]
    config: {{url: "ws://127.0.0.1:{up_port}"}}
binding:
  - id: main
    links:
      "/onramp/ws/{{instance}}/out": ["/pipeline/fwd/{{instance}}/in"]
      "/pipeline/fwd/{{instance}}/out": ["/offramp/upstream/{{instance}}/in"]
      "/offramp/upstream/{{instance}}/out": ["/pipeline/back/{{instance}}/in"]
      "/pipeline/back/{{instance}}/out": ["/onramp/ws/{{instance}}/in"]
      "/offramp/upstream/{{instance}}/err": ["/pipeline/errs/{{instance}}/in"]
      "/pipeline/errs/{{instance}}/out": ["/onramp/ws/{{instance}}/in"]
mapping:
  /binding/main/01:
    instance: "01"
"""


def test_ws_proxy_through_linked_offramp(tmp_path, cleanup):
    port, up_port = free_port(), free_port()
    up = Upstream(up_port).start()
    cleanup(up)
    for name in ("fwd", "back"):
        (tmp_path / (name + ".trickle")).write_text("select event from in into out;")
    (tmp_path / "errs.trickle").write_text('select event from in into out;')
    (tmp_path / "config.yaml").write_text(PROXY.format(port=port, up_port=up_port))
    srv = serve(tmp_path, ["fwd.trickle", "back.trickle", "errs.trickle", "config.yaml"])
    cleanup(srv)
    wait_until(lambda: "Connected to" in srv.text(), 20, "proxy connected upstream", srv.text)
    url = "ws://127.0.0.1:%d" % port
    assert ws_ask(url, "hello\n").strip() == "hello"
    assert ws_ask(url, "snot\n").strip() == "badger"
    # upstream drops the connection: the error comes back to the client
    err = json.loads(ws_ask(url, "drop\n"))
    assert err["error"].startswith("Error while receiving reply from server ws://127.0.0.1:%d" % up_port)


WAL = """onramp:
  - id: tick
    type: metronome
    config: {{interval: 300}}
offramp:
  - id: up
    type: ws
    linked: true
    codec: json
    config: {{url: "ws://127.0.0.1:{up_port}/"}}
binding:
  - id: b
    links:
      "/onramp/tick/{{instance}}/out": ["/pipeline/durable/{{instance}}/in"]
      "/pipeline/durable/{{instance}}/out": ["/offramp/up/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""
DURABLE = """define qos::wal operator wal with dir = "wal", read_count = 10, max_elements = 10000 end;
create operator wal; select event from in into wal; select event from wal into out;"""


def test_acks_still_flow_when_linked(tmp_path, cleanup):
    """Behind a qos::wal, a linked offramp's messages are acked once
    answered (not only when the connection ends): after a SIGKILL and a
    restart the WAL replays (almost) nothing. The upstream answers 150 ms
    late, after the pong's linger, so each ack waits for its answer."""
    up_port = free_port()
    up = Upstream(up_port, delay=0.15).start()
    cleanup(up)
    (tmp_path / "durable.trickle").write_text(DURABLE)
    (tmp_path / "config.yaml").write_text(WAL.format(up_port=up_port))
    srv = serve(tmp_path, ["durable.trickle", "config.yaml"])
    wait_until(lambda: up.answered >= 8, 20, "eight ticks answered upstream", srv.text)
    srv.p.kill()
    srv.p.wait(20)
    first = [json.loads(m) for m in up.got]
    last = max(e["ingest_ns"] for e in first)
    n = len(up.got)
    srv2 = serve(tmp_path, ["durable.trickle", "config.yaml"])
    cleanup(srv2)
    wait_until(lambda: len(up.got) >= n + 6, 20, "ticks after the restart", srv2.text)
    replayed = [e for e in (json.loads(m) for m in up.got[n:]) if e["ingest_ns"] <= last]
    # at most what was in flight or not yet synced at the kill; unacked, all would come back
    assert len(replayed) <= 3, (len(replayed), len(first))


def test_ws_proxy_answers_an_error_while_its_upstream_is_down(tmp_path, cleanup):
    """While the upstream is down the offramp's breaker is open; the linked
    onramp does not hold the client's message until it closes (its answer
    could come minutes later) but answers it at once with an error, as the
    rest onramp answers 503. The answers go back on a port named `response`
    (0.11 takes any port of an onramp as its reply link). Once the upstream
    is up, messages go through again."""
    port, up_port = free_port(), free_port()
    for name in ("fwd", "back"):
        (tmp_path / (name + ".trickle")).write_text("select event from in into out;")
    (tmp_path / "errs.trickle").write_text('select event from in into out;')
    (tmp_path / "config.yaml").write_text(
        PROXY.format(port=port, up_port=up_port).replace('/onramp/ws/{instance}/in"', '/onramp/ws/{instance}/response"'))
    srv = serve(tmp_path, ["fwd.trickle", "back.trickle", "errs.trickle", "config.yaml"])
    cleanup(srv)
    wait_until(lambda: srv.p.poll() is None and _can_connect(port), 20, "proxy listening", srv.text)
    url = "ws://127.0.0.1:%d" % port
    # nothing listens upstream: an error, well before any timeout
    err = json.loads(ws_ask(url, "hello\n", timeout=5))
    assert "circuit breaker" in err["error"], err
    up = Upstream(up_port).start()
    cleanup(up)

    def through():
        try:
            return ws_ask(url, "hello\n", timeout=5).strip() == "hello"
        except Exception:
            return False
    wait_until(through, 20, "the proxy to answer once the upstream is up", srv.text)
