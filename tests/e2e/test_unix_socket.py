"""The unix-socket onramp and offramp against independent peers (Python
AF_UNIX sockets): a stale socket file is replaced at start, `permissions`
sets the socket's mode, lines from two clients become events, and the
offramp reconnects (breaker triggered while away, restored after) when its
peer goes away and comes back; both socket files are gone after a clean
stop. Every wait is on a condition.
"""
import json
import os
import socket
import stat
import threading

import pytest

from conftest import wait_until

pytestmark = pytest.mark.timeout(120)

CONFIG = """onramp:
  - id: in
    type: unix-socket
    codec: json
    preprocessors: [lines]
    config:
      path: {in_path}
      permissions: "0600"
offramp:
  - id: out
    type: unix-socket
    codec: json
    postprocessors: [lines]
    config:
      path: {out_path}
      reconnect_min_ms: 20
      reconnect_max_ms: 200
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


class Receiver:
    """A Unix stream server that records every line it reads."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.conns = 0
        self.cur = None
        self.lock = threading.Lock()
        if os.path.exists(path):
            os.unlink(path)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.bind(path)
        self.s.listen(8)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.cur = c
            buf = b""
            while True:
                try:
                    d = c.recv(65536)
                except OSError:
                    break
                if not d:
                    break
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    with self.lock:
                        self.lines.append(json.loads(line))
            with self.lock:
                self.cur = None
            c.close()

    def got(self):
        with self.lock:
            return list(self.lines)

    def close(self):
        with self.lock:
            if self.cur:
                try:
                    self.cur.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass   # already closed by the reader
        self.s.shutdown(socket.SHUT_RDWR)
        self.s.close()
        os.unlink(self.path)


def test_unix_socket_relay_and_reconnect(tmp_path, procs):
    in_path, out_path = str(tmp_path / "in.sock"), str(tmp_path / "out.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(in_path)   # a socket file nobody listens on: stale
    stale.close()
    (tmp_path / "c.yaml").write_text(CONFIG.format(in_path=in_path, out_path=out_path))
    (tmp_path / "q.trickle").write_text("select event from in into out;\n")
    p = procs(["server", "run", "-n", "-f", "q.trickle", "c.yaml"], str(tmp_path))
    wait_until(lambda: "listening on" in p.stderr(), what="onramp listening", detail=p.stderr)
    assert "removed the stale socket" in p.stderr()
    assert stat.S_IMODE(os.stat(in_path).st_mode) == 0o600
    # the offramp's peer is not there yet: it retries
    wait_until(lambda: p.stderr().count("cannot connect to") >= 1, what="retries", detail=p.stderr)
    r = Receiver(out_path)
    wait_until(lambda: "connected to " + out_path in p.stderr(), what="offramp connected", detail=p.stderr)
    clients = []
    for k in range(2):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(in_path)
        clients.append(c)
    clients[0].sendall(b'{"c":0,"n":1}\n{"c":0,"n":2}\n')
    clients[1].sendall(b'{"c":1,"n":1}\n{"c":1')
    clients[1].sendall(b',"n":2}\n')
    wait_until(lambda: len(r.got()) >= 4, what="4 events", detail=p.stderr)
    got = r.got()
    assert sorted((e["c"], e["n"]) for e in got) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    # the peer goes away and comes back: the offramp reconnects by itself
    r.close()
    wait_until(lambda: "connection to " + out_path + " lost" in p.stderr(), what="loss seen", detail=p.stderr)
    r2 = Receiver(out_path)
    wait_until(lambda: p.stderr().count("connected to " + out_path) >= 2, what="reconnected", detail=p.stderr)
    clients[0].sendall(b'{"c":0,"n":3}\n')
    wait_until(lambda: r2.got() == [{"c": 0, "n": 3}], what="event after reconnect", detail=p.stderr)
    for c in clients:
        c.close()
    p.stop()
    assert p.p.returncode == 0, p.stderr()
    assert not os.path.exists(in_path)
    r2.close()


def test_path_that_is_not_a_socket_is_an_error(tmp_path, procs):
    in_path = tmp_path / "in.sock"
    in_path.write_text("precious")
    (tmp_path / "c.yaml").write_text(CONFIG.format(in_path=str(in_path), out_path=str(tmp_path / "o.sock")))
    (tmp_path / "q.trickle").write_text("select event from in into out;\n")
    p = procs(["server", "run", "-n", "-f", "q.trickle", "c.yaml"], str(tmp_path))
    assert p.wait(20) == 1
    wait_until(lambda: "exists and is not a socket" in p.stderr(), what="the error", detail=p.stderr)
    assert in_path.read_text() == "precious"
