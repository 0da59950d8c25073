"""The REST API of `tremor server run` against the real binary: 0.11's
/version, our /health, 404/405 with 0.11's error shape, content
negotiation, keep-alive, --api-host / -h, --no-api / -n, the loopback
default and a taken port.

Expected shapes are Tremor 0.11.12's (tremor-api/src/api.rs, version.rs,
errors.rs; tremor-cli/src/server.rs and cli.yaml for the flags).
"""
import http.client
import json
import re
import signal
import socket
import subprocess
import threading

import pytest

from conftest import TREMOR, free_port, wait_until

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


class Server:
    """tremor server run with extra flags; stderr collected."""

    def __init__(self, tmp_path, *flags, wait_for="running (instance"):
        (tmp_path / "q.trickle").write_text(QUERY)
        (tmp_path / "c.yaml").write_text(CONFIG)
        self.p = subprocess.Popen([TREMOR, "server", "run", *flags, "-f", "q.trickle", "c.yaml"],
                                  cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        self.err = []
        self.lock = threading.Lock()
        self.errt = threading.Thread(target=self._err, daemon=True)
        self.errt.start()
        if wait_for:
            wait_until(lambda: self.has(wait_for) or self.p.poll() is not None,
                       what=wait_for, detail=self.log)

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

    def has(self, s):
        return s in self.log()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(20)


@pytest.fixture
def server(tmp_path):
    made = []

    def start(*flags, **kw):
        s = Server(tmp_path, *flags, **kw)
        made.append(s)
        return s

    yield start
    for s in made:
        if s.p.poll() is None:
            s.p.kill()
            s.p.wait()


@pytest.fixture
def api(server):
    """A server with its API on a free loopback port; yields (server, port)."""
    port = free_port()
    s = server("--api-host", "127.0.0.1:%d" % port)
    assert s.has("Listening at: http://127.0.0.1:%d" % port), s.log()
    return s, port


def get(port, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def test_version_has_011s_shape(api):
    s, port = api
    st, h, body = get(port, "GET", "/version")
    assert st == 200
    assert h["content-type"] == "application/json"
    v = json.loads(body)
    # 0.11: {"version": VERSION, "debug": DEBUG}
    assert set(v) == {"version", "debug"}
    assert v["version"].startswith("0.11.12")
    assert v["debug"] in (True, False)


def test_version_as_yaml_when_asked(api):
    s, port = api
    st, h, body = get(port, "GET", "/version", {"Accept": "application/yaml"})
    assert st == 200
    assert h["content-type"] == "application/yaml"
    text = body.decode()
    # serde_yaml 0.8 (0.11's) starts a document with ---
    assert text.startswith("---\n"), text
    lines = text.splitlines()
    assert any(l.startswith("version: 0.11.12") for l in lines), text
    assert any(l in ("debug: false", "debug: true") for l in lines), text


def test_health(api):
    s, port = api
    st, h, body = get(port, "GET", "/health")
    assert st == 200 and json.loads(body) == {"status": "ok"}


def test_unknown_path_wrong_method_and_unimplemented(api):
    s, port = api
    st, h, body = get(port, "GET", "/nope")
    assert st == 404
    e = json.loads(body)
    assert e["code"] == 404 and isinstance(e["error"], str)
    st, h, body = get(port, "POST", "/version", body=b"")
    assert st == 405
    assert {m.strip() for m in h["allow"].split(",")} == {"GET", "HEAD"}
    assert json.loads(body)["code"] == 405
    # 0.11's /onramp takes GET and POST, /onramp/{id} GET and DELETE
    st, h, body = get(port, "PUT", "/onramp", body=b"")
    assert st == 405 and {m.strip() for m in h["allow"].split(",")} == {"GET", "POST", "HEAD"}
    # every 0.11 artefact route is served (test_api_artefacts.py drives them
    # in depth): nothing answers 501 or 405 any more
    for method, path in [("GET", "/onramp"), ("POST", "/onramp"), ("GET", "/onramp/m"),
                         ("GET", "/offramp"), ("GET", "/offramp/out"),
                         ("GET", "/pipeline"), ("POST", "/pipeline"), ("GET", "/pipeline/q"),
                         ("GET", "/binding"), ("POST", "/binding"),
                         ("GET", "/binding/b"), ("GET", "/binding/b/01"),
                         ("POST", "/binding/nope/01"), ("DELETE", "/binding/b/02")]:
        st, h, body = get(port, method, path, body=b"" if method == "POST" else None)
        assert st not in (405, 501), (method, path, st)
        if st >= 400:
            e = json.loads(body)
            assert set(e) == {"code", "error"} and e["code"] == st, e
    # an error asked for as YAML comes as YAML
    st, h, body = get(port, "GET", "/nope", {"Accept": "application/yaml"})
    assert st == 404 and h["content-type"] == "application/yaml"
    assert body.decode().startswith("---\ncode: 404\nerror: ")


def test_keep_alive_serves_many_requests_on_one_connection(api):
    s, port = api
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(20):
            c.request("GET", "/health")
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
        sock = c.sock
        assert sock is not None   # http.client kept the one connection
    finally:
        c.close()


def test_pipelined_requests_answered_in_order(api):
    s, port = api
    with socket.create_connection(("127.0.0.1", port), timeout=10) as k:
        k.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = k.recv(65536)
            if not d:
                break
            data += d
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses == [200, 404, 200]


def test_stop_with_an_open_connection_exits_0(api):
    s, port = api
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/health")
    assert c.getresponse().read()
    assert s.stop() == 0, s.log()
    c.close()


def test_api_host_short_flag(server):
    port = free_port()
    s = server("-h", "127.0.0.1:%d" % port)
    assert get(port, "GET", "/health")[0] == 200


def test_no_api_listens_nowhere(server):
    port = free_port()
    s = server("-n", "--api-host", "127.0.0.1:%d" % port)
    assert not s.has("Listening at")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    s2 = server("--no-api", "--api-host", "127.0.0.1:%d" % port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert s.stop() == 0 and s2.stop() == 0


def listening_addrs(port):
    """Local addresses with a TCP socket listening on port (IPv4, /proc)."""
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:
                out.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return out


def test_default_is_loopback_9898(server):
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", 9898))
        except OSError:
            pytest.skip("port 9898 is taken on this machine")
    s = server()
    assert s.has("Listening at: http://127.0.0.1:9898"), s.log()
    assert listening_addrs(9898) == ["127.0.0.1"]
    assert get(9898, "GET", "/health")[0] == 200


def test_port_in_use_is_an_error(server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        s = server("--api-host", "127.0.0.1:%d" % port, wait_for=None)
        assert s.p.wait(20) == 1
        wait_until(lambda: s.has("address already in use"), what="the error", detail=s.log)
        assert s.has("127.0.0.1:%d" % port)
        assert not s.has("running (instance")   # nothing was started


@pytest.mark.parametrize("host", ["nonsense", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:-1"])
def test_bad_api_host_is_an_error(server, host):
    s = server("--api-host", host, wait_for=None)
    assert s.p.wait(30) == 1
    wait_until(lambda: s.has("--api-host"), what="the error", detail=s.log)


def test_api_host_ipv6(server):
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        port = probe.getsockname()[1]
    s = server("--api-host", "[::1]:%d" % port)
    c = http.client.HTTPConnection("::1", port, timeout=10)
    c.request("GET", "/health")
    assert c.getresponse().status == 200
    c.close()
