"""The rest onramp and offramp end to end: the real binary between real,
independent HTTP peers - curl and Python's http.client as clients,
http_peer.py (Python's http.server) as the upstream server, each started by
the test on loopback and stopped by pid. Expected shapes are 0.11's
(src/source/rest.rs, src/sink/rest.rs and its rest-linked-correlation
integration test), not our output. Waits are on conditions with bounds."""
import http.client
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import TREMOR, free_port, serve, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable or "/usr/bin/python3"

pytestmark = pytest.mark.timeout(90)


class Peer:
    """http_peer.py in its own process; the requests it received."""

    def __init__(self, tmp_path, *args):
        self.portfile = str(tmp_path / ("peer%d.port" % id(self)))
        self.out = open(str(tmp_path / ("peer%d.out" % id(self))), "w+")
        self.p = subprocess.Popen([PY, os.path.join(HERE, "http_peer.py"), self.portfile] + list(args),
                                  stdout=self.out, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(self.portfile), 10, "http peer to listen")
        self.port = int(open(self.portfile).read())

    def requests(self):
        self.out.flush()
        with open(self.out.name) as f:
            # a line still being written (no newline yet) is left for later
            return [json.loads(line) for line in f if line.startswith("{") and line.endswith("\n")]

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.out.close()


@pytest.fixture
def cleanup():
    things = []
    yield things.append
    for t in reversed(things):
        t.stop()


def write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return name


def lines_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def request(port, method, path, body=None, headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data, r.getheaders()


UNLINKED = """onramp:
  - id: http_in
    type: rest
    codec: json
    config:
      host: 127.0.0.1
      port: {port}
      header_timeout_ms: 500
      max_body_bytes: 4096
offramp:
  - id: out
    type: file
    codec: json
    config:
      file: out.json
binding:
  - id: b
    links:
      "/onramp/http_in/{{instance}}/out": ["/pipeline/capture/{{instance}}/in"]
      "/pipeline/capture/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

CAPTURE = """select {"body": event, "request": $request} from in into out;
"""


def test_unlinked_202_and_request_meta(tmp_path, cleanup):
    port = free_port()
    write(tmp_path, "capture.trickle", CAPTURE)
    write(tmp_path, "config.yaml", UNLINKED.format(port=port))
    srv = serve(tmp_path, ["capture.trickle", "config.yaml"])
    cleanup(srv)
    srv.wait_for("listening on")
    # curl, an independent client: 202 with no body, as 0.11 (tide) answers
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                          "-H", "Content-Type: application/json", "-H", "X-Multi: a", "-H", "X-Multi: b",
                          "--data", '{"n":1}', "http://127.0.0.1:%d/a/b?x=1&y=2" % port],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout == "202"
    # yaml by its Content-Type, whatever the entry's codec (0.11's codec_map)
    st, _, _, _ = request(port, "PUT", "/y", body="n: 2\n", headers={"Content-Type": "application/yaml"})
    assert st == 202
    got = wait_until(lambda: len(lines_of(tmp_path / "out.json")) >= 2 and lines_of(tmp_path / "out.json"),
                     20, "two events", srv.text)
    a, b = got
    assert a["body"] == {"n": 1}
    rq = a["request"]
    assert rq["method"] == "POST"
    assert rq["url"] == {"scheme": "http", "host": "127.0.0.1", "port": port, "path": "/a/b",
                         "query": "x=1&y=2"}
    # header names lower-cased, every value of a name in order (http-types)
    assert rq["headers"]["x-multi"] == ["a", "b"]
    assert rq["headers"]["content-type"] == ["application/json"]
    assert b["body"] == {"n": 2}
    assert b["request"]["method"] == "PUT"


def test_hostile_clients_do_not_cost_the_good_ones(tmp_path, cleanup):
    port = free_port()
    write(tmp_path, "capture.trickle", CAPTURE)
    write(tmp_path, "config.yaml", UNLINKED.format(port=port))
    srv = serve(tmp_path, ["capture.trickle", "config.yaml"])
    cleanup(srv)
    srv.wait_for("listening on")
    # slowloris: headers that never end are cut off with 408 (header_timeout_ms 500)
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    # an oversized body is refused from its Content-Length, before it is sent
    big = socket.create_connection(("127.0.0.1", port), timeout=10)
    big.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    # malformed
    bad = socket.create_connection(("127.0.0.1", port), timeout=10)
    bad.sendall(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
    # the well-behaved clients meanwhile, some over one keep-alive connection
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    good = 0
    for i in range(20):
        st, _, _, _ = request(port, "POST", "/good", body=json.dumps({"i": i}),
                              headers={"Content-Type": "application/json"}, conn=conn if i % 2 else None)
        assert st == 202
        good += 1
        slow.sendall(b"X")   # a trickle that never completes the header block

    def status_of(s):
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b" ")[1] if data else b""

    assert status_of(big) == b"413"
    assert status_of(bad) == b"400"
    assert status_of(slow) == b"408"
    conn.close()
    got = wait_until(lambda: len(lines_of(tmp_path / "out.json")) >= good and lines_of(tmp_path / "out.json"),
                     20, "every good event", srv.text)
    assert sorted(e["body"]["i"] for e in got) == list(range(20))
    # still serving
    st, _, _, _ = request(port, "POST", "/after", body="{}", headers={"Content-Type": "application/json"})
    assert st == 202


ECHO_CONFIG = """onramp:
  - id: http_in
    type: rest
    linked: true
    codec: json
    config:
      host: 127.0.0.1
      port: {port}
binding:
  - id: echo
    links:
      "/onramp/http_in/{{instance}}/out": ["/pipeline/echo/{{instance}}/in"]
      "/pipeline/echo/{{instance}}/out": ["onramp/http_in/{{instance}}/in"]
mapping:
  /binding/echo/01:
    instance: "01"
"""

ECHO = """define script reply
script
  let $response = {"status": 201, "headers": {"x-echo": ["a", "b"], "server": "Tremor/lol"}};
  {"body": event, "method": $request.method, "path": $request.url.path}
end;
create script reply;
select event from in into reply;
select event from reply into out;
"""


def test_linked_echo(tmp_path, cleanup):
    port = free_port()
    write(tmp_path, "echo.trickle", ECHO)
    write(tmp_path, "config.yaml", ECHO_CONFIG.format(port=port))
    srv = serve(tmp_path, ["echo.trickle", "config.yaml"])
    cleanup(srv)
    srv.wait_for("listening on")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(5):   # keep-alive: one connection, answers in order
        st, h, data, raw = request(port, "POST", "/e/%d" % i, body=json.dumps({"i": i}),
                                   headers={"Content-Type": "application/json"}, conn=conn)
        assert st == 201
        assert json.loads(data) == {"body": {"i": i}, "method": "POST", "path": "/e/%d" % i}
        assert [v for k, v in raw if k.lower() == "x-echo"] == ["a", "b"]
        assert h["server"] == "Tremor/lol"
        assert h["content-type"] == "application/json"   # the entry's codec
    conn.close()
    # msgpack in by its content type, json out
    import msgpack
    st, _, data, _ = request(port, "PUT", "/m", body=msgpack.packb({"k": [1, 2]}),
                             headers={"Content-Type": "application/msgpack"})
    assert st == 201 and json.loads(data)["body"] == {"k": [1, 2]}
    # undecodable body: 400 with an error
    st, _, data, _ = request(port, "POST", "/bad", body="{nope", headers={"Content-Type": "application/json"})
    assert st == 400 and "error" in json.loads(data)


def test_linked_without_response_meta_is_500(tmp_path, cleanup):
    port = free_port()
    write(tmp_path, "echo.trickle", "select event from in into out;\n")
    write(tmp_path, "config.yaml", ECHO_CONFIG.format(port=port))
    srv = serve(tmp_path, ["echo.trickle", "config.yaml"])
    cleanup(srv)
    srv.wait_for("listening on")
    st, _, data, _ = request(port, "POST", "/", body="{}", headers={"Content-Type": "application/json"})
    # 0.11's make_response: "No response metadata available."
    assert st == 500 and json.loads(data) == {"error": "No response metadata available."}


PROXY_CONFIG = """onramp:
  - id: http_in
    type: rest
    linked: true
    codec: json
    config:
      host: 127.0.0.1
      port: {port}
offramp:
  - id: upstream
    type: rest
    linked: true
    codec: json
    config:
      endpoint: http://127.0.0.1:{peer}/backend
      method: put
      concurrency: 8
      max_retries: {retries}
      backoff_ms: 20
      breaker_threshold: 2
      breaker_ms: 200
      headers:
        x-from: tremor
binding:
  - id: proxy
    links:
      "/onramp/http_in/{{instance}}/out": ["/pipeline/fwd/{{instance}}/in"]
      "/pipeline/fwd/{{instance}}/out": ["/offramp/upstream/{{instance}}/in"]
      "/offramp/upstream/{{instance}}/out": ["/pipeline/back/{{instance}}/in"]
      "/offramp/upstream/{{instance}}/err": ["/pipeline/back/{{instance}}/in"]
      "/pipeline/back/{{instance}}/out": ["/onramp/http_in/{{instance}}/in"]
mapping:
  /binding/proxy/01:
    instance: "01"
"""

FWD = """define script fwd
script
  let $correlation = $request.url.path;
  let $request = {"headers": {"x-corr": $request.url.path}};
  event
end;
create script fwd;
select event from in into fwd;
select event from fwd into out;
"""

BACK = """define script back
script
  let out = match $ of
    case %{ present error } => {"error": event.error}
    default => {"upstream": event, "request": $response.request.method}
  end;
  let $response = {"status": $response.status, "headers": {"x-corr": $correlation}};
  out
end;
create script back;
select event from in into back;
select event from back into out;
"""


def proxy(tmp_path, cleanup, peer_port, retries=0):
    port = free_port()
    write(tmp_path, "fwd.trickle", FWD)
    write(tmp_path, "back.trickle", BACK)
    write(tmp_path, "config.yaml", PROXY_CONFIG.format(port=port, peer=peer_port, retries=retries))
    srv = serve(tmp_path, ["fwd.trickle", "back.trickle", "config.yaml"])
    cleanup(srv)
    srv.wait_for("listening on")
    return port, srv


def test_proxy_through_rest_offramp(tmp_path, cleanup):
    peer = Peer(tmp_path)
    cleanup(peer)
    port, srv = proxy(tmp_path, cleanup, peer.port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(10):
        st, h, data, _ = request(port, "POST", "/p/%d" % i, body=json.dumps({"i": i}),
                                 headers={"Content-Type": "application/json"}, conn=conn)
        assert st == 200, srv.text()
        got = json.loads(data)
        assert got["request"] == "PUT"
        echo = got["upstream"]["echo"]
        assert echo["method"] == "PUT" and echo["path"] == "/backend"
        assert json.loads(echo["body"]) == {"i": i}
        assert echo["headers"]["x-from"] == "tremor"
        assert echo["headers"]["x-corr"] == "/p/%d" % i        # $request.headers per event
        assert h["x-corr"] == "/p/%d" % i                       # $correlation carried back
    conn.close()
    assert len(peer.requests()) == 10


def test_proxy_retries_5xx_then_answers(tmp_path, cleanup):
    peer = Peer(tmp_path, "--fail-first", "2")
    cleanup(peer)
    port, srv = proxy(tmp_path, cleanup, peer.port, retries=3)
    st, _, data, _ = request(port, "POST", "/r", body="{}", headers={"Content-Type": "application/json"})
    assert st == 200, srv.text()
    assert len(peer.requests()) == 3   # two 503s, then the answer


def test_proxy_upstream_down_error_on_err(tmp_path, cleanup):
    dead = free_port()   # nothing listens there
    port, srv = proxy(tmp_path, cleanup, dead, retries=1)
    st, h, data, _ = request(port, "POST", "/d", body="{}", headers={"Content-Type": "application/json"})
    # 0.11's create_error_response: status 503, {"error": ...}
    assert st == 503, srv.text()
    assert "error" in json.loads(data)
    assert h["x-corr"] == "/d"
    for _ in range(2):
        request(port, "POST", "/d", body="{}", headers={"Content-Type": "application/json"})
    wait_until(lambda: "circuit breaker triggered" in srv.text(), 20, "breaker", srv.text)


def test_offramp_status_from_peer(tmp_path, cleanup):
    peer = Peer(tmp_path, "--status", "404")
    cleanup(peer)
    port, srv = proxy(tmp_path, cleanup, peer.port, retries=3)
    st, _, data, _ = request(port, "POST", "/x", body="{}", headers={"Content-Type": "application/json"})
    assert st == 404   # the upstream's status, not retried (a 4xx is the client's)
    assert len(peer.requests()) == 1


WS_LINKED = """onramp:
  - id: ws_in
    type: ws
    linked: true
    codec: json
    config:
      host: 127.0.0.1
      port: {port}
binding:
  - id: wsecho
    links:
      "/onramp/ws_in/{{instance}}/out": ["/pipeline/wsecho/{{instance}}/in"]
      "/pipeline/wsecho/{{instance}}/out": ["onramp/ws_in/{{instance}}/in"]
mapping:
  /binding/wsecho/01:
    instance: "01"
"""

WS_ECHO = """select {"got": event} from in into out;
"""


def test_linked_ws_answers_each_message_on_its_connection(tmp_path, cleanup):
    import asyncio
    import websockets
    port = free_port()
    write(tmp_path, "wsecho.trickle", WS_ECHO)
    write(tmp_path, "config.yaml", WS_LINKED.format(port=port))
    srv = serve(tmp_path, ["wsecho.trickle", "config.yaml"])
    cleanup(srv)
    wait_until(lambda: "running" in srv.text() or srv.p.poll() is not None, 20, "server", srv.text)

    async def client(name, n):
        async with websockets.connect("ws://127.0.0.1:%d/" % port) as ws:
            got = []
            for i in range(n):
                await ws.send(json.dumps({"c": name, "i": i}))
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return got

    async def both():
        return await asyncio.gather(client("a", 5), client("b", 5))

    a, b = asyncio.run(both())
    # each connection gets the replies to its own messages, in order
    assert a == [{"got": {"c": "a", "i": i}} for i in range(5)]
    assert b == [{"got": {"c": "b", "i": i}} for i in range(5)]


def test_link_back_to_unlinked_onramp_is_refused(tmp_path):
    port = free_port()
    write(tmp_path, "wsecho.trickle", WS_ECHO)
    write(tmp_path, "config.yaml", WS_LINKED.format(port=port).replace("    linked: true\n", ""))
    out = subprocess.run([TREMOR, "server", "run", "-n", "-d", "data", "-f", "wsecho.trickle", "config.yaml"],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "takes no replies" in out.stderr
