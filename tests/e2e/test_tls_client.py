"""TLS on the client side: the tcp offramp (`tls: true` or {cafile, domain,
cert, key}) and client certificates on the ws offramp, against independent
peers: `openssl s_server` (its -quiet stdout is exactly the bytes it
decrypted; -Verify makes it demand a client certificate), a Python
websockets server over ssl, and our own TLS tcp/ws onramps.

Events come from a plain tcp onramp fed by the test, go through a qos::wal
of each offramp's own (a refused offramp holds up only its own), and leave
by the TLS offramp, so an event the offramp did not deliver is
replayed once a server it trusts is there: nothing may be lost. Every
server is started on a free loopback port and stopped by its pid; every
wait is on a condition.
"""
import asyncio
import json
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import TREMOR, TremorServer, free_port, wait_until
from tlscerts import make_certs

pytestmark = pytest.mark.timeout(240)

SENDER = """onramp:
  - id: in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {in_port}
offramp:
{offramps}
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": [{pipes}]
{links}
mapping:
  /binding/b/01:
    instance: "01"
"""

WAL = """define qos::wal operator wal
with
  read_count = 20,
  max_elements = 100000
end;
create operator wal;
select event from in into wal;
select event from wal into out;
"""


def tcp_out(id, port, tls, host="127.0.0.1"):
    return """  - id: %s
    type: tcp
    codec: json
    postprocessors: [lines]
    config:
      host: %s
      port: %d
      tls: %s
""" % (id, host, port, tls)


def ws_out(id, port, tls):
    return """  - id: %s
    type: ws
    codec: json
    config:
      url: wss://localhost:%d/
      ack_mode: tcp
      tls: %s
""" % (id, port, tls)


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path)


class Tremor(TremorServer):
    def __init__(self, cwd, config, trickle=None, name="tremor"):
        files = []
        for pname, text in (trickle or {}).items():
            (cwd / (pname + ".trickle")).write_text(text)
            files.append(pname + ".trickle")
        (cwd / (name + ".yaml")).write_text(config)
        super().__init__(cwd, ["-f"] + files + [name + ".yaml"], name)

    def stop(self):
        assert super().stop() == 0, self.text()


class SServer:
    """openssl s_server on 127.0.0.1:port; out() is what it decrypted."""

    def __init__(self, cwd, port, cert="cert.pem", key="key.pem", verify_ca=None, tag="s"):
        self.out_path = cwd / ("%s.%d.out" % (tag, port))
        self.err_path = cwd / ("%s.%d.err" % (tag, port))
        args = ["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:%d" % port,
                "-cert", cert, "-key", key]
        if verify_ca:
            args += ["-Verify", "1", "-CAfile", verify_ca, "-verify_return_error"]
        # stdin stays open (a pipe we never close), so s_server never
        # closes a connection because its input ended
        self.p = subprocess.Popen(args, cwd=str(cwd), stdin=subprocess.PIPE,
                                  stdout=open(str(self.out_path), "wb"),
                                  stderr=open(str(self.err_path), "wb"))
        wait_until(lambda: self._listening(port), 20, "s_server listening", self.err)

    def _listening(self, port):
        assert self.p.poll() is None, self.err()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def lines(self):
        return [json.loads(l) for l in self.out_path.read_bytes().decode().splitlines() if l.strip()]

    def err(self):
        return self.err_path.read_text(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def peers():
    made = []

    def track(p):
        made.append(p)
        return p
    yield track
    for p in made:
        if not isinstance(p, Tremor):  # servers left running are killed by conftest
            p.stop()


def feed(port, tag, n):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"".join(json.dumps({"tag": tag, "n": i}).encode() + b"\n" for i in range(n)))


def ns(events, tag):
    return sorted(e["n"] for e in events if e.get("tag") == tag)


def sender(cwd, peers, offramps, outs):
    in_port = free_port()
    pipes = ", ".join('"/pipeline/wal_%s/{instance}/in"' % o for o in outs)
    links = "\n".join('      "/pipeline/wal_%s/{instance}/out": ["/offramp/%s/{instance}/in"]' % (o, o)
                      for o in outs)
    t = peers(Tremor(cwd, SENDER.format(in_port=in_port, offramps="".join(offramps), pipes=pipes,
                                        links=links), {"wal_" + o: WAL for o in outs}))
    wait_until(lambda: "in: listening on 127.0.0.1:%d" % in_port in t.text(), 20, "the sender", t.text)
    return t, in_port


# ------------------------------------------------------------ tcp offramp


def test_events_arrive_over_tls(certs, peers):
    """cafile trusts the server; host 127.0.0.1 is checked against the
    certificate's IP address, host localhost against its name (and `tls:
    true` alone, with the system store, does not trust a self-signed one)."""
    p1, p2, p3 = free_port(), free_port(), free_port()
    s1 = peers(SServer(certs, p1))
    s2 = peers(SServer(certs, p2))
    s3 = peers(SServer(certs, p3))
    t, in_port = sender(certs, peers, [tcp_out("ip", p1, "{cafile: cert.pem}"),
                                       tcp_out("name", p2, "{cafile: cert.pem}", host="localhost"),
                                       tcp_out("sys", p3, "true", host="localhost")],
                        ["ip", "name", "sys"])
    wait_until(lambda: t.text().count("with TLSv1.3 (certificate verified") >= 2, 20, "two connected",
               t.text)
    feed(in_port, "a", 300)
    wait_until(lambda: ns(s1.lines(), "a") == list(range(300)) and ns(s2.lines(), "a") == list(range(300)),
               60, "300 events at both servers", t.text)
    assert [e["n"] for e in s1.lines()] == list(range(300)), "in order"
    assert "connected to 127.0.0.1:%d with TLSv1.3 (certificate verified for '127.0.0.1')" % p1 in t.text()
    assert "connected to localhost:%d with TLSv1.3 (certificate verified for 'localhost')" % p2 in t.text()
    wait_until(lambda: "sys" in t.text() and "cannot connect to localhost:%d (TLS certificate refused: "
               "self-signed certificate), retrying" % p3 in t.text(), 20, "the system store refusal", t.text)
    assert s3.lines() == []
    t.stop()


def test_untrusted_server_refused_then_trusted_gets_everything(certs, peers):
    port = free_port()
    bad = peers(SServer(certs, port, cert="other.pem", key="other.key", tag="bad"))
    t, in_port = sender(certs, peers, [tcp_out("out", port, "{cafile: cert.pem}")], ["out"])
    refusal = "out: cannot connect to 127.0.0.1:%d (TLS certificate refused: self-signed certificate)" % port
    wait_until(lambda: t.text().count(refusal) >= 2, 30, "refused, and refused again on retry", t.text)
    feed(in_port, "b", 200)
    wait_until(lambda: t.text().count(refusal) >= 3, 30, "still refused", t.text)
    assert bad.lines() == [], "nothing went to the untrusted server"
    bad.stop()
    good = peers(SServer(certs, port, tag="good"))
    wait_until(lambda: ns(good.lines(), "b") == list(range(200)), 60, "all 200 once trusted", t.text)
    assert "connected to 127.0.0.1:%d with TLSv1.3" % port in t.text()
    t.stop()


def test_hostname_mismatch_refused(certs, peers):
    port = free_port()
    s = peers(SServer(certs, port))
    t, in_port = sender(certs, peers, [tcp_out("out", port, "{cafile: cert.pem, domain: other.example}")],
                        ["out"])
    feed(in_port, "c", 10)
    want = "cannot connect to 127.0.0.1:%d (TLS certificate refused: hostname mismatch (it is not for " \
           "'other.example'))" % port
    wait_until(lambda: t.text().count(want) >= 2, 30, "the mismatch, twice", t.text)
    assert s.lines() == []
    assert "connected to" not in t.text()
    t.stop()


def test_client_certificate_required(certs, peers):
    """s_server -Verify: with cert and key we are let in; without, the
    server refuses us after our side of the TLS 1.3 handshake is done: the
    offramp must not count what it sent meanwhile as delivered, so once a
    server that asks for no certificate takes over, everything arrives."""
    p_with, p_without = free_port(), free_port()
    s_with = peers(SServer(certs, p_with, verify_ca="client.pem", tag="with"))
    s_without = peers(SServer(certs, p_without, verify_ca="client.pem", tag="without"))
    t, in_port = sender(certs, peers, [
        tcp_out("with", p_with, "{cafile: cert.pem, cert: client.pem, key: client.key}"),
        tcp_out("without", p_without, "{cafile: cert.pem}")], ["with", "without"])
    refusal = "without: cannot connect to 127.0.0.1:%d (TLS error: " % p_without
    wait_until(lambda: t.text().count(refusal) >= 2, 30, "the refusal, twice", t.text)
    feed(in_port, "d", 100)
    wait_until(lambda: ns(s_with.lines(), "d") == list(range(100)), 60, "100 with the certificate",
               t.text)
    wait_until(lambda: t.text().count(refusal) >= 4, 30, "still refused", t.text)
    assert "alert certificate required" in t.text(), t.text()
    assert s_without.lines() == []
    s_without.stop()
    plain = peers(SServer(certs, p_without, tag="plain"))
    wait_until(lambda: ns(plain.lines(), "d") == list(range(100)), 60, "the 100 replayed", t.text)
    t.stop()


RECEIVER = """onramp:
  - id: tcp_in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {tcp_port}
      tls: {{cert: cert.pem, key: key.pem, ca_file: client.pem}}
  - id: ws_in
    type: ws
    codec: json
    config:
      host: 127.0.0.1
      port: {ws_port}
      tls: {{cert: cert.pem, key: key.pem, ca_file: client.pem}}
offramp:
  - id: file
    type: file
    codec: json
    config:
      file: received.json
binding:
  - id: b
    links:
      "/onramp/tcp_in/{{instance}}/out": ["/pipeline/system::passthrough/{{instance}}/in"]
      "/onramp/ws_in/{{instance}}/out": ["/pipeline/system::passthrough/{{instance}}/in"]
      "/pipeline/system::passthrough/{{instance}}/out": ["/offramp/file/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def test_our_onramps_with_client_certificates(certs, peers):
    """Our tcp and ws onramps demanding a client certificate (they send no
    session tickets, so the tcp offramp learns the server kept it from the
    KeyUpdate it asked for): the offramps with cert and key get in, the ws
    offramp without them is refused."""
    tcp_port, ws_port = free_port(), free_port()
    r = peers(Tremor(certs, RECEIVER.format(tcp_port=tcp_port, ws_port=ws_port), name="receiver"))
    wait_until(lambda: "listening on 127.0.0.1:%d with TLS" % ws_port in r.text(), 20, "receiver", r.text)
    cert = "{cafile: cert.pem, cert: client.pem, key: client.key}"
    t, in_port = sender(certs, peers, [tcp_out("tcp_out", tcp_port, cert, host="localhost"),
                                       ws_out("ws_out", ws_port, cert),
                                       ws_out("ws_nocert", ws_port, "{cafile: cert.pem}")],
                        ["tcp_out", "ws_out", "ws_nocert"])
    wait_until(lambda: "tcp_out: connected to localhost:%d with TLSv1.3" % tcp_port in t.text()
               and "Connected to wss://localhost:%d/" % ws_port in t.text(), 20, "both in", t.text)
    feed(in_port, "e", 100)

    def received():
        p = certs / "received.json"
        return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []
    # each event twice: once through tcp, once through ws (with the certificate)
    wait_until(lambda: ns(received(), "e") == sorted(list(range(100)) * 2), 60, "200 received", r.text)
    wait_until(lambda: "Failed to connect to wss://localhost:%d/" % ws_port in t.text(), 20,
               "ws without a certificate refused", t.text)
    assert "certificate required" in t.text() or "peer did not return a certificate" in r.text(), \
        t.text() + r.text()
    t.stop()
    r.stop()


# -------------------------------------------------------- ws offramp mTLS


def test_ws_offramp_client_certificate_to_python_server(certs, peers):
    """An independent wss server (Python websockets, ssl CERT_REQUIRED)."""
    port = free_port()
    got, ready = [], threading.Event()
    loop = asyncio.new_event_loop()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(str(certs / "client.pem"))

    async def handler(ws, path=None):
        async for m in ws:
            got.append(json.loads(m))

    async def main():
        import websockets
        async with websockets.serve(handler, "127.0.0.1", port, ssl=ctx):
            ready.set()
            await stop
    stop = loop.create_future()
    th = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    th.start()
    try:
        assert ready.wait(20)
        t, in_port = sender(certs, peers, [
            ws_out("with", port, "{cafile: cert.pem, cert: client.pem, key: client.key}"),
            ws_out("without", port, "{cafile: cert.pem}")], ["with", "without"])
        wait_until(lambda: "Connected to wss://localhost:%d/" % port in t.text(), 20, "connected", t.text)
        feed(in_port, "f", 50)
        wait_until(lambda: ns(got, "f") == list(range(50)), 60, "50 through wss with a certificate",
                   t.text)
        wait_until(lambda: t.text().count("Failed to connect to wss://localhost:%d/" % port) >= 2, 30,
                   "without one: refused, and again", t.text)
        t.stop()
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        th.join(20)


# ----------------------------------------------------------------- config


@pytest.mark.parametrize("kind, tls, want", [
    ("tcp", "{cafile: nope.pem}", "config.tls: cannot read the CA file 'nope.pem'"),
    ("tcp", "{cert: client.pem}", "config.tls.key is required with config.tls.cert"),
    ("tcp", "{cert: client.pem, key: key.pem}", "does not match the certificate"),
    ("tcp", "{cert: nope.pem, key: client.key}", "cannot read the certificate 'nope.pem'"),
    ("tcp", "{cafile: cert.pem, verify: false}", "config.tls: unknown config key 'verify'"),
    ("tcp", "yes", "config.tls must be true, false or a record"),
    ("ws", "{key: client.key}", "config.tls.cert is required with config.tls.key"),
    ("ws", "{cafile: key.pem}", "cannot load the CA file 'key.pem'"),
    ("ws-plain", "{cafile: cert.pem}", "config.tls needs a wss:// url"),
    ("ws", "false", "config.tls is false, but the url asks for TLS"),
])
def test_bad_client_tls_config_is_located(certs, kind, tls, want):
    conf = {"ws": "url: wss://localhost:1/", "ws-plain": "url: ws://localhost:1/"}.get(kind, "port: 1")
    kind = kind.split("-")[0]
    (certs / "bad.yaml").write_text(
        "offramp:\n  - id: x\n    type: %s\n    config:\n      %s\n      tls: %s\n"
        "binding:\n  - id: b\n    links:\n"
        "      '/pipeline/system::passthrough/{instance}/out': ['/offramp/x/{instance}/in']\n"
        "mapping:\n  /binding/b/01:\n    instance: '01'\n" % (kind, conf, tls))
    r = subprocess.run([TREMOR, "server", "run", "-n", "-f", "bad.yaml"], cwd=str(certs),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert want in r.stderr, r.stderr
    assert "bad.yaml:6:" in r.stderr, r.stderr
