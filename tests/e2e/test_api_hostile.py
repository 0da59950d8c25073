"""Hostile peers against the REST API of the real binary (default bounds:
16 KiB of request line + headers, 100 header fields, 1 MiB of body, 10 s to
finish the headers, 128 connections): slowloris, oversized headers, too many
headers, oversized bodies (by Content-Length, 2^64-1, chunked), a malformed
request line, binary junk, and a flood of connections.

After each, a well-behaved client must be served by the same process.
Peers are raw sockets, so every byte on the wire is the test's choice. Each
test is bounded by an alarm; all waits are on conditions.
"""
import http.client
import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import TREMOR, free_port, wait_until

TEST_TIMEOUT_S = 90
QUERY = "select event from in into out;\n"
CONFIG = """onramp:
  - id: m
    type: metronome
    config:
      interval: 100000
offramp:
  - id: out
    type: blackhole
binding:
  - id: b
    links:
      "/onramp/m/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


@pytest.fixture(autouse=True)
def alarm():
    def expired(signum, frame):
        raise TimeoutError("test took longer than %d s" % TEST_TIMEOUT_S)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class Api:
    def __init__(self, tmp_path):
        (tmp_path / "q.trickle").write_text(QUERY)
        (tmp_path / "c.yaml").write_text(CONFIG)
        self.port = free_port()
        self.p = subprocess.Popen([TREMOR, "server", "run", "--api-host", "127.0.0.1:%d" % self.port,
                                   "-f", "q.trickle", "c.yaml"], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.err = []
        self.lock = threading.Lock()
        self.errt = threading.Thread(target=self._err, daemon=True)
        self.errt.start()
        wait_until(lambda: "Listening at" in self.log(), what="listening", detail=self.log)

    def _err(self):
        for line in self.p.stderr:
            with self.lock:
                self.err.append(line.rstrip("\n"))

    def log(self):
        # after exit the pipe ends: read the last lines before looking
        if self.p.poll() is not None:
            self.errt.join(10)
        with self.lock:
            return "\n".join(self.err)

    def rss_kib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def well_behaved(self):
        """A normal client is served: /version answers 200 with 0.11's shape."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/version")
            r = c.getresponse()
            assert r.status == 200
            assert set(json.loads(r.read())) == {"version", "debug"}
        finally:
            c.close()
        assert self.p.poll() is None

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        assert self.p.wait(20) == 0, self.log()


@pytest.fixture
def api(tmp_path):
    a = Api(tmp_path)
    yield a
    if a.p.poll() is None:
        a.p.kill()
        a.p.wait()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s):
    """Everything until the server closes (it must close)."""
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    return data


def status(data):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return int(m.group(1)) if m else None


def send_and_read(port, payload):
    with connect(port) as s:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_all(s)


def test_slowloris_is_cut_off_after_the_header_timeout(api):
    s = connect(api.port)
    head = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    t0 = time.monotonic()
    answer = b""
    i = 0
    # a byte a second; the server must answer 408 and close within its
    # 10 s header timeout (plus slack), never wait for the head to end
    while time.monotonic() - t0 < 30:
        s.settimeout(1.0)
        try:
            d = s.recv(4096)
            answer += d
            if not d or answer.endswith(b"}"):
                break
        except socket.timeout:
            pass
        if i < len(head):
            try:
                s.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
        if i == 3:
            api.well_behaved()   # served while the slow one hangs on
    took = time.monotonic() - t0
    s.close()
    assert status(answer) == 408, answer
    assert 9 <= took < 15, took
    assert b'"code":408' in answer
    api.well_behaved()


def test_oversized_headers_get_431(api):
    data = send_and_read(api.port, b"GET /version HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert status(data) == 431 and b"connection: close" in data
    too_many = b"".join(b"X-%d: 1\r\n" % i for i in range(101))
    data = send_and_read(api.port, b"GET /version HTTP/1.1\r\n" + too_many + b"\r\n")
    assert status(data) == 431
    api.well_behaved()


def test_oversized_bodies_get_413_before_being_read(api):
    # Content-Length over 1 MiB: answered without sending a byte of the body
    data = send_and_read(api.port, b"POST /onramp HTTP/1.1\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 2097152\r\n\r\n")
    assert status(data) == 413, data
    data = send_and_read(api.port, b"POST /onramp HTTP/1.1\r\n"
                                   b"Content-Length: 18446744073709551615\r\n\r\n")
    assert status(data) == 413, data
    # chunked: cut off once past the bound, while the peer still sends
    chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
    with connect(api.port) as s:
        s.sendall(b"POST /onramp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        try:
            while sent < 64 * 65536:
                s.sendall(chunk)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = read_all(s)
    assert status(data) == 413, data
    assert sent < 64 * 65536 or data   # it did not take 4 MiB into a 1 MiB bound silently
    api.well_behaved()


def test_malformed_request_line_and_junk_get_400(api):
    for junk in [b"GET\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"\x00\xff\x16\x03\x01" * 1000,
                 b"GET /version HTTP/1.1\r\nBad Header\r\n\r\n"]:
        data = send_and_read(api.port, junk)
        assert status(data) == 400, (junk[:20], data)
        assert b'"code":400' in data
    api.well_behaved()


def test_a_flood_of_connections_is_bounded(api):
    rss0 = api.rss_kib()
    socks = []
    reset_at_connect = 0
    for _ in range(400):
        try:
            socks.append(connect(api.port))
        except ConnectionResetError:
            reset_at_connect += 1
    # past 128 open connections the rest are reset without a byte read
    def state(s):
        s.setblocking(False)
        try:
            return "reset" if s.recv(1) == b"" else "data"
        except BlockingIOError:
            return "open"
        except ConnectionResetError:
            return "reset"
    seen = {}

    def settled():
        for i, s in enumerate(socks):
            if seen.get(i) != "reset":
                seen[i] = state(s)
        return list(seen.values()).count("reset") + reset_at_connect == 400 - 128
    wait_until(settled, what="272 connections reset", detail=lambda: repr(seen))
    assert list(seen.values()).count("open") == 128
    wait_until(lambda: "max_connections" in api.log(), what="the refusal logged", detail=api.log)
    # rate-limited: one line for the whole flood, not one per connection
    assert api.log().count("max_connections") <= 2, api.log()
    for s in socks:
        s.close()
    # the slots come back as the server sees the closes
    wait_until(lambda: try_version(api.port), what="served again", detail=api.log)
    api.well_behaved()
    assert api.rss_kib() - rss0 < 64 * 1024
    api.stop()


def try_version(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/version")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except (ConnectionError, OSError, http.client.HTTPException):
        return False


def post(port, path, body, ctype):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": ctype})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_hostile_artefact_bodies_stay_4xx(api):
    """Bodies built to hurt a parser or the runtime: each is refused with a
    4xx and 0.11's error body, nothing is published, the server lives."""
    deep = "[" * 100000 + "]" * 100000
    aliases = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n" % ((chr(98 + i),) * 2 + (chr(97 + i),) * 10)
        for i in range(9))
    cases = [
        ("/onramp", deep, "application/json"),
        ("/onramp", deep, "application/yaml"),
        ("/onramp", aliases + "id: m9\ntype: metronome\n", "application/yaml"),
        ("/onramp", b"\xff\xfe\x00{\"id\":1}", "application/json"),
        ("/onramp", '{"id":"%s","type":"metronome"}' % ("x" * 100000), "application/json"),
        ("/onramp", '{"id":"a/b","type":"metronome","extra":1}', "application/json"),
        ("/binding", '{"id":"b8","links":{"/onramp/x/{instance}/out":"not a list"}}', "application/json"),
        ("/binding", '{"id":"b9","links":{"/offramp/x/1/in":["/onramp/y/1/out"]}}', "application/json"),
        ("/pipeline", "#!config id = \"p\"\n" + "(" * 100000, "application/vnd.trickle"),
        ("/pipeline", b"\x00\xff#!config", "application/vnd.trickle"),
        ("/binding/b/02", '{"instance": {"x": 1}}', "application/json"),
        ("/binding/b/02", deep, "application/json"),
        ("/binding/%2e%2e/01", '{}', "application/json"),
    ]
    for path, body, ctype in cases:
        st, data = post(api.port, path, body, ctype)
        assert 400 <= st < 500, (path, body[:60], st, data[:200])
        e = json.loads(data)
        assert set(e) == {"code", "error"} and e["code"] == st, e
    # a binding whose links name artefacts nobody published: it publishes
    # (0.11 checks at bind time), binding it is a 4xx and leaves nothing
    st, _ = post(api.port, "/binding", '{"id":"ghost","links":{"/onramp/none/{instance}/out":'
                 '["/pipeline/none/{instance}/in"]}}', "application/json")
    assert st == 201
    st, data = post(api.port, "/binding/ghost/01", "{}", "application/json")
    assert 400 <= st < 500, data
    c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    for path, want in [("/onramp", ["m"]), ("/offramp", ["system::stdout", "system::stderr", "out"]), ("/pipeline", ["system::metrics", "system::passthrough", "q"]),
                       ("/binding", ["b", "ghost"]), ("/binding/ghost", None)]:
        c.request("GET", path)
        r = c.getresponse()
        v = json.loads(r.read())
        if want is not None:
            assert v == want, (path, v)
        else:
            assert v["instances"] == []
    c.close()
    api.well_behaved()
    api.stop()
