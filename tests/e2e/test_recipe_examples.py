"""The examples written for the behaviours of Tremor 0.11's recipes
(examples/<name>/etc/tremor/config), run with real peers: python3-websockets
clients and servers, http.client and http.server, UDP sockets. Each example
runs from a copy whose fixed ports are replaced with free ones. Waits are on
conditions with bounds; each test takes a few seconds."""
import asyncio
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest
import websockets

from conftest import ROOT, TREMOR, free_port, wait_until

pytestmark = pytest.mark.timeout(60)


class Example:
    """tremor server run -n over a copy of examples/<name>'s config files,
    every port in `ports` (as written) replaced by a free one."""

    def __init__(self, tmp_path, name, ports):
        self.port = {p: free_port() for p in ports}
        src = os.path.join(ROOT, "examples", name, "etc", "tremor", "config")
        dst = tmp_path / "etc" / "tremor" / "config"
        dst.mkdir(parents=True)
        files = []
        for f in sorted(os.listdir(src)):
            text = open(os.path.join(src, f)).read()
            for old, new in self.port.items():
                text = text.replace(str(old), str(new))
            (dst / f).write_text(text)
            files.append(os.path.join("etc", "tremor", "config", f))
        self.dir = tmp_path
        self.out = open(str(tmp_path / "stdout"), "w+")
        self.err = open(str(tmp_path / "stderr"), "w+")
        self.p = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f"] + files, cwd=str(tmp_path),
                                  stdout=self.out, stderr=self.err)

    def text(self):
        self.out.flush()
        self.err.flush()
        return open(self.out.name).read() + open(self.err.name).read()

    def stdout_lines(self, prefix=""):
        self.out.flush()
        return [json.loads(l[len(prefix):]) for l in open(self.out.name).read().splitlines()
                if l.startswith(prefix) and l[len(prefix):].startswith(("{", "[", '"'))]

    def wait_port(self, port):
        def ok():
            assert self.p.poll() is None, self.text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(ok, 20, "port %d" % port, self.text)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def stack():
    things = []
    yield things.append
    for t in reversed(things):
        t.stop()


def ws_ask(url, msgs, answers):
    async def go():
        async with websockets.connect(url, open_timeout=10) as c:
            for m in msgs:
                await c.send(m)
            return [await asyncio.wait_for(c.recv(), 10) for _ in range(answers)]
    return asyncio.run(go())


class WsBackend:
    """A websocket server answering each message with answer(msg), or
    dropping the connection when that returns None."""

    def __init__(self, port, answer):
        self.port, self.answer, self.got = port, answer, []
        self._ready = threading.Event()

    async def _handler(self, ws, path=None):
        try:
            async for m in ws:
                self.got.append(m)
                a = self.answer(m)
                if a is None:
                    ws.transport.abort()
                    return
                await ws.send(a)
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
        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        assert self._ready.wait(10)
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._t.join(10)


class HttpNode:
    """An HTTP server answering JSON {"node", "method", "path", "body",
    "headers"}; records the requests."""

    def __init__(self, port, name):
        node = self
        self.got = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                node.got.append((self.command, self.path, dict(self.headers), body))
                out = json.dumps({"node": name, "method": self.command, "path": self.path, "body": body,
                                  "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            do_GET = do_POST = do_PUT = answer

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def req(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


# 00-03: pass, validate, filter, transform
def test_ws_filter(tmp_path, stack):
    ex = Example(tmp_path, "ws-filter", [9301])
    stack(ex)
    port = ex.port[9301]
    ex.wait_port(port)
    msgs = [{"sensor": 7, "value": "x", "dashboard": True},          # invalid
            {"sensor": "t2", "value": 20, "dashboard": False},       # filtered
            {"value": 3, "dashboard": True},                         # invalid
            {"sensor": "t1", "value": 140, "dashboard": True},
            {"sensor": "t3", "value": 5.5, "dashboard": True}]
    ws_ask("ws://127.0.0.1:%d" % port, [json.dumps(m) for m in msgs], 0)
    got = wait_until(lambda: len(ex.stdout_lines("reading: ")) >= 2 and ex.stdout_lines("reading: "), 10,
                     "two readings", ex.text)
    assert got == [{"label": "t1 reads 140", "sensor": "t1", "high": True},
                   {"label": "t3 reads 5.5", "sensor": "t3", "high": False}]


# 11: influx line protocol over udp, batched writes to an http endpoint
def test_influx_batch(tmp_path, stack):
    ex = Example(tmp_path, "influx-batch", [9311, 9312])
    node2 = HttpNode(ex.port[9312], "influx")
    stack(node2)
    stack(ex)
    wait_until(lambda: "listening on" in ex.text(), 20, "udp onramp", ex.text)
    lines = ["cpu,host=a usage=1.5,idle=98.5 1600000000000000000",
             "debug,host=a x=1i 1600000000000000001",
             "mem,host=a free=10i 1600000000000000002"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(("\n".join(lines[:2]) + "\n").encode(), ("127.0.0.1", ex.port[9311]))
        s.sendto((lines[2] + "\n").encode(), ("127.0.0.1", ex.port[9311]))
    decoded = wait_until(lambda: len(ex.stdout_lines()) >= 3 and ex.stdout_lines(), 10, "decoded points", ex.text)
    assert decoded[0] == {"measurement": "cpu", "tags": {"host": "a"}, "fields": {"usage": 1.5, "idle": 98.5},
                          "timestamp": 1600000000000000000}
    wait_until(lambda: node2.got, 10, "a write", ex.text)
    m, path, hdr, body = node2.got[0]
    assert (m, path, hdr.get("X-Source")) == ("POST", "/write?db=metrics", "tremor")
    # one batch, one line per point, debug points left out
    assert body.splitlines() == ["cpu,host=a idle=98.5,usage=1.5 1600000000000000000",
                                 "mem,host=a free=10i 1600000000000000002"]


# 14: syslog over udp, both ways
def test_syslog_loop(tmp_path, stack):
    ex = Example(tmp_path, "syslog-loop", [9321])
    stack(ex)
    out = tmp_path / "received.jsonl"

    def recs():
        if not out.exists():
            return []
        return [json.loads(l) for l in out.read_text().splitlines() if l.endswith("}")]
    got = wait_until(lambda: len(recs()) >= 2 and recs(), 15, "two ticks back", ex.text)
    t = got[0]
    assert (t["hostname"], t["appname"], t["procid"], t["msgid"], t["facility"], t["severity"], t["protocol"]) == \
        ("tick.example.org", "ticker", "77", "TICK", "daemon", "info", "RFC5424")
    assert t["structured_data"] == {"tick@32473": [{"n": "0"}]} and t["msg"] == "tick 0"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"<13>1 2022-05-04T13:43:27.829230+00:00 neptune user - - - Weeeeh. It works :D",
                 ("127.0.0.1", ex.port[9321]))
        s.sendto(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed", ("127.0.0.1", ex.port[9321]))
    wait_until(lambda: any(r.get("hostname") == "neptune" for r in recs())
               and any(r.get("hostname") == "mymachine" for r in recs()), 10, "our datagrams", ex.text)
    n = [r for r in recs() if r.get("hostname") == "neptune"][0]
    assert (n["msg"], n["facility"], n["severity"], n["appname"]) == ("Weeeeh. It works :D", "user", "notice", "user")
    b = [r for r in recs() if r.get("hostname") == "mymachine"][0]
    assert (b["protocol"], b["facility"], b["severity"], b["appname"]) == ("RFC3164", "auth", "crit", "su")


# 30: an http application on a linked rest onramp
def test_http_app(tmp_path, stack):
    ex = Example(tmp_path, "http-app", [9331])
    stack(ex)
    port = ex.port[9331]
    ex.wait_port(port)
    assert req(port, "GET", "/hello?who=ada")[::2] == (200, '{"greeting":"hello ada"}')
    assert req(port, "GET", "/hello")[2] == '{"greeting":"hello stranger"}'
    st, h, b = req(port, "POST", "/shout", "abc")
    assert (st, b, h["content-type"]) == (200, '"ABC"', "application/json")
    assert req(port, "GET", "/empty")[2] == '{"body":""}'
    st, h, b = req(port, "GET", "/hits")
    assert st == 200 and json.loads(b)["hits"] == 5
    st, h, b = req(port, "GET", "/nope")
    assert (st, json.loads(b)) == (404, {"error": "no route for GET /nope"})
    st, h, b = req(port, "GET", "/broken")
    assert st == 500 and "undefined_local" in json.loads(b)["failed"]
    st, h, b = req(port, "POST", "/hello", "{", {"Content-Type": "application/json"})
    assert st == 500 and json.loads(b)["failed"]   # 0.11: the codec's error through `err`


# 31/33: a websocket proxy on linked transports
def test_ws_proxy(tmp_path, stack):
    ex = Example(tmp_path, "ws-proxy", [9341, 9342])
    backend = WsBackend(ex.port[9342], lambda m: None if m.strip() == "DROP" else "got " + m.strip()).start()
    stack(backend)
    stack(ex)
    wait_until(lambda: "Connected to" in ex.text(), 20, "proxy connected", ex.text)
    url = "ws://127.0.0.1:%d" % ex.port[9341]
    assert [a.strip() for a in ws_ask(url, ["hello\n", "two\n"], 2)] == ["via proxy: got HELLO",
                                                                         "via proxy: got TWO"]
    assert backend.got == ["HELLO\n", "TWO\n"]
    a = ws_ask(url, ["drop\n"], 1)[0].strip()
    assert a.startswith("proxy error: Error while receiving reply from server ws://127.0.0.1:%d" % ex.port[9342])
    wait_until(lambda: ex.text().count("Connected to") >= 2, 20, "reconnected", ex.text)
    assert ws_ask(url, ["again\n"], 1)[0].strip() == "via proxy: got AGAIN"


# 34: http requests answered by a websocket backend
def test_http_ws_bridge(tmp_path, stack):
    ex = Example(tmp_path, "http-ws-bridge", [9351, 9352])
    backend = WsBackend(ex.port[9352], lambda m: None if "drop" in m else
                        json.dumps({"answer": json.loads(m)["question"][::-1]})).start()
    stack(backend)
    stack(ex)
    ex.wait_port(ex.port[9351])
    wait_until(lambda: "Connected to" in ex.text(), 20, "bridge connected", ex.text)
    st, h, b = req(ex.port[9351], "POST", "/ask", "abc")
    assert (st, json.loads(b), h.get("x-bridge")) == (200, {"answer": "cba"}, "ws")
    assert json.loads(backend.got[0]) == {"question": "abc"}
    st, h, b = req(ex.port[9351], "GET", "/other")
    assert (st, json.loads(b)) == (400, {"error": "ask with POST /ask"})
    st, h, b = req(ex.port[9351], "POST", "/ask", "drop")
    assert st == 502 and json.loads(b)["error"].startswith("Error while receiving reply from server")


# 32/35: a reverse proxy spreading requests over two nodes
def test_http_balancer(tmp_path, stack):
    ex = Example(tmp_path, "http-balancer", [9361, 9362, 9363])
    n1, n2 = HttpNode(ex.port[9362], "one"), HttpNode(ex.port[9363], "two")
    stack(n1)
    stack(n2)
    stack(ex)
    ex.wait_port(ex.port[9361])
    nodes = []
    for i in range(4):
        st, h, b = req(ex.port[9361], "POST", "/any/path?q=%d" % i, json.dumps({"n": i}),
                       {"Content-Type": "application/json"})
        v = json.loads(b)
        assert st == 200 and h.get("via") == "1.1 tremor", (st, h, b)
        assert (v["method"], v["path"], json.loads(v["body"])) == ("POST", "/any/path?q=%d" % i, {"n": i})
        assert v["headers"].get("x-forwarded-proto") == "http"
        nodes.append(v["node"])
    assert nodes == ["one", "two", "one", "two"]
    assert n2.got[0][2].get("X-Node") == "two"
