"""The udp onramp and offramp against independent peers (Python sockets) on
loopback: a relay udp -> pipeline -> udp with multi-line datagrams (one
event per line, each datagram flushed at its end), per-event $udp.host /
$udp.port, and hostile senders: a flood while the server is stopped
(SIGSTOP: the kernel drops what its receive buffer cannot hold, and the
server's count of those drops plus what it received must equal what was
sent) and oversized datagrams (dropped and counted). The server must keep
serving after each; every wait is on a condition.
"""
import json
import os
import re
import signal
import socket

import pytest

from conftest import free_port, wait_until

pytestmark = pytest.mark.timeout(120)


def udp_free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def receiver():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    return s


RELAY = """onramp:
  - id: in
    type: udp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {in_port}
offramp:
  - id: out
    type: udp
    codec: json
    config:
      host: 127.0.0.1
      port: {out_port}
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/route/{{instance}}/in"]
      "/pipeline/route/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

ROUTE = """define script route
script
  match event of
    case %{{ present other }} => let $udp = {{"host": "127.0.0.1", "port": {other_port}}}
    default => null
  end;
  event
end;
create script route;
select event from in into route;
select event from route into out;
"""


def test_relay_lines_and_override(tmp_path, procs):
    in_port = udp_free_port()
    r1, r2 = receiver(), receiver()
    (tmp_path / "relay.yaml").write_text(RELAY.format(in_port=in_port, out_port=r1.getsockname()[1]))
    (tmp_path / "route.trickle").write_text(ROUTE.format(other_port=r2.getsockname()[1]))
    p = procs(["server", "run", "-n", "-f", "route.trickle", "relay.yaml"], str(tmp_path))
    wait_until(lambda: "listening on" in p.stderr() and "connected to" in p.stderr(),
               what="udp onramp and offramp up", detail=p.stderr)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # two lines in one datagram, the last without newline: both are events
    c.sendto(b'{"n":1}\n{"n":2}', ("127.0.0.1", in_port))
    got = [json.loads(r1.recv(65536)) for _ in range(2)]
    assert got == [{"n": 1}, {"n": 2}]
    # nothing of a datagram leaks into the next one
    c.sendto(b'{"n":3', ("127.0.0.1", in_port))
    c.sendto(b'{"n":4}\n', ("127.0.0.1", in_port))
    assert json.loads(r1.recv(65536)) == {"n": 4}
    assert "cannot decode" in wait_until(lambda: "cannot decode" in p.stderr() and p.stderr(),
                                         what="decode error of the cut datagram", detail=p.stderr)
    # $udp.host/$udp.port set by the pipeline: to the second receiver
    c.sendto(b'{"n":5,"other":true}\n', ("127.0.0.1", in_port))
    assert json.loads(r2.recv(65536)) == {"n": 5, "other": True}
    c.sendto(b'{"n":6}\n', ("127.0.0.1", in_port))
    assert json.loads(r1.recv(65536)) == {"n": 6}
    p.stop()
    assert p.p.returncode == 0, p.stderr()


FLOOD = """onramp:
  - id: in
    type: udp
    codec: string
    config:
      host: 127.0.0.1
      port: {port}
      max_datagram_size: 1000
      recv_buffer_size: 65536
offramp:
  - id: out
    type: stdout
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

COUNTS = re.compile(r"(\d+) datagrams received, (\d+) dropped by the kernel, (\d+) over max_datagram_size")


def test_flood_and_oversized(tmp_path, procs):
    port = udp_free_port()
    (tmp_path / "flood.yaml").write_text(FLOOD.format(port=port))
    (tmp_path / "q.trickle").write_text('select event from in where event == "marker" into out;\n')
    p = procs(["server", "run", "-n", "-f", "q.trickle", "flood.yaml"], str(tmp_path))
    wait_until(lambda: "listening on" in p.stderr(), what="udp onramp up", detail=p.stderr)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = ("127.0.0.1", port)
    sent = 0

    def marker_through():
        nonlocal sent
        c.sendto(b"marker", dest)
        sent += 1
        try:
            return p.next_line(timeout=0.2) == "\"marker\""
        except Exception:
            return False

    wait_until(marker_through, what="a first marker", detail=p.stderr)
    # flood while the server cannot read: the kernel buffer overflows
    p.signal(signal.SIGSTOP)
    payload = b"x" * 200
    for _ in range(20000):
        c.sendto(payload, dest)
        sent += 1
    p.signal(signal.SIGCONT)
    wait_until(marker_through, what="a marker after the flood", detail=p.stderr)
    # oversized, one at a time so none is dropped by the kernel: each
    # waits for the marker behind it
    for _ in range(5):
        c.sendto(b"y" * 1500, dest)
        sent += 1
        wait_until(marker_through, what="a marker after an oversized datagram", detail=p.stderr)
    p.stop()
    assert p.p.returncode == 0, p.stderr()
    m = wait_until(lambda: COUNTS.findall(p.stderr()), what="the counts at close", detail=p.stderr)
    received, kernel, oversize = (int(x) for x in m[-1])
    print(f"udp flood: sent {sent}, received {received}, kernel drops {kernel}, oversize {oversize}")
    assert oversize == 5
    assert kernel > 0, "a 64 KiB buffer cannot hold 20000 datagrams"
    assert received + kernel + oversize == sent
