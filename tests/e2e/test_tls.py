"""TLS on the tcp and ws onramps (0.11's `tls: {cert, key}`), driven by
independent peers: Python's ssl module for tcp (lines in, checked in a file
offramp's output), the websockets package with an ssl context for ws (a
linked onramp answering over the same TLS connection). Certificates are
made per test with the openssl command.

Hostile peers: a handshake that stalls (slowloris), plaintext and garbage
where a ClientHello belongs, hundreds of half-open handshakes at once, a
client without the certificate ca_file asks for, an old protocol version,
and a wss peer that never reads its replies. The server must keep serving
a well-behaved client throughout, count and log every rejection, and exit
cleanly. Every wait is on a condition.
"""
import asyncio
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import TREMOR, TremorServer, free_port, wait_until
from tlscerts import make_certs

pytestmark = pytest.mark.timeout(180)

CONFIG = """onramp:
  - id: tcp_in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {tcp_port}
      tls:
        cert: {cert}
        key: {key}
{tcp_extra}
  - id: ws_in
    type: ws
    linked: true
    codec: json
    config:
      host: 127.0.0.1
      port: {ws_port}
      tls:
        cert: {cert}
        key: {key}
{ws_extra}
offramp:
  - id: out
    type: file
    codec: json
    config:
      file: out.json
binding:
  - id: b
    links:
      "/onramp/tcp_in/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
      "/onramp/ws_in/{{instance}}/out": ["/pipeline/echo/{{instance}}/in"]
      "/pipeline/echo/{{instance}}/out": ["/onramp/ws_in/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

ECHO = """define script reply
script
  {"echo": event}
end;
create script reply;
select event from in into reply;
select event from reply into out;
"""


@pytest.fixture
def certs(tmp_path):
    """A self-signed server certificate for localhost/127.0.0.1, and a
    self-signed client certificate (its own CA, for ca_file)."""
    return make_certs(tmp_path)


class Server(TremorServer):
    def __init__(self, cwd, tcp_extra=None, ws_extra=None, tls_extra=None):
        self.cwd = cwd
        self.tcp_port, self.ws_port = free_port(), free_port()
        extra = lambda d: "".join("        %s: %s\n" % kv for kv in (d or {}).items()).rstrip("\n")
        (cwd / "q.trickle").write_text("select event from in into out;\n")
        (cwd / "echo.trickle").write_text(ECHO)
        (cwd / "c.yaml").write_text(CONFIG.format(
            tcp_port=self.tcp_port, ws_port=self.ws_port, cert=cwd / "cert.pem", key=cwd / "key.pem",
            tcp_extra=extra(dict(tls_extra or {}, **(tcp_extra or {}))),
            ws_extra=extra(dict(tls_extra or {}, **(ws_extra or {})))))
        super().__init__(cwd, ["-f", "q.trickle", "echo.trickle", "c.yaml"])
        wait_until(lambda: "tcp_in: listening on 127.0.0.1:%d with TLS" % self.tcp_port in self.text()
                   and "listening on 127.0.0.1:%d with TLS" % self.ws_port in self.text(),
                   what="both TLS listeners", detail=self.text)

    def out(self):
        try:
            with open(self.cwd / "out.json") as f:
                return [json.loads(l) for l in f.read().splitlines() if l.strip()]
        except FileNotFoundError:
            return []

    def ns(self, tag):
        return sorted(e["n"] for e in self.out() if e.get("tag") == tag)

    def stop(self):
        assert super().stop() == 0, self.text()


@pytest.fixture
def server(certs):
    # servers left running are killed by conftest
    return lambda **kw: Server(certs, **kw)


def client_ctx(cwd, cert=False, maxv=None):
    ctx = ssl.create_default_context(cafile=str(cwd / "cert.pem"))
    if cert:
        ctx.load_cert_chain(str(cwd / "client.pem"), str(cwd / "client.key"))
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def tls_lines(port, ctx, tag, n, host="localhost"):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(b"".join(json.dumps({"tag": tag, "n": i}).encode() + b"\n" for i in range(n)))
            s.unwrap()   # close_notify, then the server sees the stream end


def ws_echo(port, ctx, msgs):
    import websockets

    async def run():
        async with websockets.connect("wss://localhost:%d/" % port, ssl=ctx) as ws:
            got = []
            for m in msgs:
                await ws.send(json.dumps(m))
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            return got
    return asyncio.run(run())


def closed_by_peer(s, timeout=20):
    """True when the server closes s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ------------------------------------------------------------- working


def test_tcp_and_ws_over_tls(server):
    srv = server()
    ctx = client_ctx(srv.cwd)
    threads = [threading.Thread(target=tls_lines, args=(srv.tcp_port, ctx, "c%d" % k, 500))
               for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for k in range(3):
        wait_until(lambda: srv.ns("c%d" % k) == list(range(500)), 30, "client %d's lines" % k, srv.text)
    # a last line without newline is still an event when the TLS stream ends
    with socket.create_connection(("127.0.0.1", srv.tcp_port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b'{"tag": "tail", "n": 7}')
    wait_until(lambda: srv.ns("tail") == [7], 20, "the unterminated line", srv.text)
    # a shipper that only writes and closes without close_notify and
    # without reading: nothing the server sends after the handshake (TLS 1.3
    # session tickets) may sit unread in its socket, or its close becomes a
    # reset that destroys the lines the server has not read yet
    data = b"".join(b'{"tag": "blast", "n": %d}\n' % i for i in range(300000))
    raw = socket.create_connection(("127.0.0.1", srv.tcp_port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(data)
    s.close()
    blasted = lambda: (srv.cwd / "out.json").read_bytes().count(b'"blast"')
    wait_until(lambda: blasted() == 300000, 60, "every line of the blast",
               lambda: "%d lines of the blast\n%s" % (blasted(), srv.text()))
    assert srv.ns("blast") == list(range(300000))
    # ws: linked replies come back over the same TLS connection
    msgs = [{"i": i, "s": "x" * (i * 1000)} for i in range(20)]
    assert ws_echo(srv.ws_port, ctx, msgs) == [{"echo": m} for m in msgs]
    srv.stop()


def test_client_certificate_and_min_version(server):
    srv = server(tcp_extra={"ca_file": "client.pem"}, ws_extra={"min_version": '"1.3"'})
    # ca_file: a client without a certificate is refused (with TLS 1.3 the
    # client may learn it only after its handshake), one with it is served
    try:
        tls_lines(srv.tcp_port, client_ctx(srv.cwd), "nocert", 1)
    except (ssl.SSLError, OSError):
        pass
    wait_until(lambda: "tcp_in: closed" in srv.text() and "TLS rejections so far" in srv.text(), 20,
               "the rejection logged", srv.text)
    assert "certificate" in srv.text()
    tls_lines(srv.tcp_port, client_ctx(srv.cwd, cert=True), "cert", 10)
    wait_until(lambda: srv.ns("cert") == list(range(10)), 20, "lines of the client with a cert", srv.text)
    assert srv.ns("nocert") == []
    # min_version 1.3: a TLS 1.2 client is refused, a 1.3 one is served
    with pytest.raises(ssl.SSLError):
        ws_echo(srv.ws_port, client_ctx(srv.cwd, maxv=ssl.TLSVersion.TLSv1_2), [{"a": 1}])
    wait_until(lambda: "ws onramp 'ws_in': closed" in srv.text(), 20, "the ws rejection logged", srv.text)
    assert ws_echo(srv.ws_port, client_ctx(srv.cwd), [{"a": 2}]) == [{"echo": {"a": 2}}]
    srv.stop()


# ------------------------------------------------------------- hostile


def test_hostile_handshakes(server):
    srv = server(tls_extra={"handshake_timeout_ms": 1000})
    ctx = client_ctx(srv.cwd)
    for port, who in ((srv.tcp_port, "tcp_in: closed"), (srv.ws_port, "ws onramp 'ws_in': closed")):
        # slowloris: the first bytes of a record header, then silence; the
        # first rejection of each onramp is logged in full (later ones are
        # rate-limited and counted)
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x16\x03")
        t0 = time.monotonic()
        assert closed_by_peer(s, 10), "stalled handshake not closed"
        assert time.monotonic() - t0 >= 0.9
        s.close()
        wait_until(lambda: who in srv.text() and "no TLS handshake within 1000 ms (1 TLS rejections so far)"
                   in srv.text().split(who, 1)[1], 10, "the timeout logged", srv.text)
        # plaintext where TLS belongs
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b'{"tag": "plain", "n": 1}\nGET / HTTP/1.1\r\n\r\n')
        assert closed_by_peer(s, 5), "plaintext peer not closed"
        s.close()
        # garbage that starts like a TLS handshake record
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x16\x03\x01\x00\x40" + os.urandom(64))
        assert closed_by_peer(s, 5), "garbage ClientHello not closed"
        s.close()
    # many half-open handshakes at once; a well-behaved client is still served
    half = [socket.create_connection(("127.0.0.1", p)) for p in (srv.tcp_port, srv.ws_port)
            for _ in range(150)]
    for i, s in enumerate(half):
        if i % 2:
            s.sendall(b"\x16\x03\x01")
    tls_lines(srv.tcp_port, ctx, "good", 200)
    assert ws_echo(srv.ws_port, ctx, [{"ok": 1}]) == [{"echo": {"ok": 1}}]
    wait_until(lambda: srv.ns("good") == list(range(200)), 20, "the good client's lines", srv.text)
    for s in half:
        assert closed_by_peer(s, 20), "a half-open handshake was not closed"
        s.close()
    assert srv.ns("plain") == []
    assert srv.alive()
    srv.stop()


def test_wss_peer_that_never_reads(server):
    """A wss client sends messages whose replies it never reads: the server
    gives up on it once its unsent replies pass the bound, and keeps
    serving others."""
    srv = server()
    ctx = client_ctx(srv.cwd)
    raw = socket.create_connection(("127.0.0.1", srv.ws_port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    payload = json.dumps({"pad": "y" * 60000}).encode()
    key = b"\x01\x02\x03\x04"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + key + masked
    s.settimeout(5)
    sent = 0
    try:
        for _ in range(2000):   # 120 MB of replies at most: far past any buffer
            s.sendall(frame)
            sent += 1
    except (OSError, ssl.SSLError):
        pass
    assert sent < 2000, "the server kept taking messages from a peer that reads nothing"
    wait_until(lambda: "it does not read what we send" in srv.text(), 20, "the stalled peer logged",
               srv.text)
    # the server has closed it: reading what it had sent ends in EOF or an error
    s.settimeout(20)
    try:
        while s.recv(1 << 20):
            pass
    except socket.timeout:
        raise AssertionError("the stalled peer's connection is still open")
    except (OSError, ssl.SSLError):
        pass
    s.close()
    assert srv.alive()
    assert ws_echo(srv.ws_port, ctx, [{"after": 1}]) == [{"echo": {"after": 1}}]
    srv.stop()


# ------------------------------------------------------------- config


@pytest.mark.parametrize("tls, want", [
    ('{cert: nope.pem, key: key.pem}', "config.tls: cannot read the certificate 'nope.pem'"),
    ('{cert: cert.pem, key: client.key}', "does not match the certificate"),
    ('{cert: cert.pem}', "config.tls.key"),
    ('{cert: cert.pem, key: key.pem, min_version: "1.1"}', "config.tls.min_version"),
    ('yes', "config.tls must be a record"),
])
def test_bad_tls_config_is_located(certs, tls, want):
    for kind in ("tcp", "ws"):
        (certs / "bad.yaml").write_text(
            "onramp:\n  - id: x\n    type: %s\n    config:\n      port: 0\n      tls: %s\n"
            "binding:\n  - id: b\n    links:\n"
            "      '/onramp/x/{instance}/out': ['/pipeline/system::passthrough/system/in']\n"
            "mapping:\n  /binding/b/01:\n    instance: '01'\n" % (kind, tls))
        r = subprocess.run([TREMOR, "server", "run", "-n", "-f", "bad.yaml"], cwd=str(certs),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert want in r.stderr, r.stderr
        assert "bad.yaml:6:" in r.stderr, r.stderr


CHAIN = """onramp:
  - id: tcp_in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {tcp_port}
      tls: {{cert: cert.pem, key: key.pem}}
  - id: ws_in
    type: ws
    codec: json
    config:
      host: 127.0.0.1
      port: {ws_port}
      tls: {{cert: cert.pem, key: key.pem}}
offramp:
  - id: wss_out
    type: ws
    codec: json
    config:
      url: wss://localhost:{ws_port}/
      ca_file: {ca}
  - id: out
    type: file
    codec: json
    config:
      file: out.json
binding:
  - id: b
    links:
      "/onramp/tcp_in/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/wss_out/{{instance}}/in"]
      "/onramp/ws_in/{{instance}}/out": ["/pipeline/q2/{{instance}}/in"]
      "/pipeline/q2/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


@pytest.mark.parametrize("ca", ["cert.pem", "client.pem"])
def test_ws_offramp_to_wss_onramp(certs, ca):
    """TLS in, wss:// out to our own wss onramp (the offramp trusting the
    server's certificate through ca_file), TLS in again, into a file; with
    the wrong ca_file the offramp refuses the server."""
    tcp_port, ws_port = free_port(), free_port()
    (certs / "q.trickle").write_text("select event from in into out;\n")
    (certs / "q2.trickle").write_text("select event from in into out;\n")
    (certs / "c.yaml").write_text(CHAIN.format(tcp_port=tcp_port, ws_port=ws_port, ca=ca))
    srv = TremorServer(certs, ["-f", "q.trickle", "q2.trickle", "c.yaml"])
    text = srv.text
    out = lambda: [json.loads(l) for l in open(certs / "out.json").read().splitlines()] \
        if (certs / "out.json").exists() else []
    try:
        wait_until(lambda: "tcp_in: listening" in text(), 20, "listening", text)
        if ca == "cert.pem":
            tls_lines(tcp_port, client_ctx(certs), "chain", 50)
            wait_until(lambda: sorted(e["n"] for e in out()) == list(range(50)), 30,
                       "the events through wss", text)
        else:
            wait_until(lambda: "certificate refused" in text(), 30, "the refusal", text)
            assert out() == []
        assert srv.stop() == 0, text()
    finally:
        srv.kill()
