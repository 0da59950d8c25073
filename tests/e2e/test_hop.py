"""Hop-to-hop guaranteed delivery: tremor-c -> tremor-c over ws with
ack_mode "hop" on the sender and hop_ack: true on the receiver. The sender's
qos::wal forgets a record only once the receiver's pipeline acknowledged it
(its own qos::wal made it durable, or its offramp delivered it), so killing
the receiver, or its sink being away, loses nothing. Every test waits on
conditions with upper bounds."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading

import websockets

from conftest import TREMOR, WsServer, free_port, wait_until
from test_wal import QUERY, Receiver, Seen, check_runs

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))

SENDER = """onramp:
  - id: metronome
    type: metronome
    config:
      interval: {interval}
offramp:
  - id: hop
    type: ws
    config:
      url: ws://127.0.0.1:{hop_port}/
      ack_mode: hop
binding:
  - id: default
    links:
      "/onramp/metronome/{{instance}}/out": ["/pipeline/persistent/{{instance}}/in"]
      "/pipeline/persistent/{{instance}}/out": ["/offramp/hop/{{instance}}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""

# The receiver: ws onramp answering hops -> relay pipeline -> `out`
RECEIVER = """onramp:
  - id: hop_in
    type: ws
    codec: json
    config:
      host: 127.0.0.1
      port: {hop_port}
      hop_ack: true
offramp:
{out}
binding:
  - id: default
    links:
      "/onramp/hop_in/{{instance}}/out": ["/pipeline/relay/{{instance}}/in"]
      "/pipeline/relay/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""

OUT_WS = """  - id: out
    type: ws
    config:
      url: ws://127.0.0.1:{port}/
"""

OUT_TCP = """  - id: out
    type: tcp
    codec: json
    postprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {port}
"""

OUT_REST = """  - id: out
    type: rest
    codec: json
    config:
      endpoint: http://127.0.0.1:{port}/
      max_retries: 0
"""

RELAY_WAL = """define qos::wal operator wal
with
  read_count = 20,
  max_elements = 100000
end;
create operator wal;
select event from in into wal;
select event from wal into out;
"""

RELAY_PLAIN = "select event from in into out;\n"


class Server:
    """A tremor-c server in its own directory; stderr kept for messages."""

    def __init__(self, cwd, instance, files):
        self.p = subprocess.Popen([TREMOR, "server", "run", "-n", "-i", instance, "-d", "data",
                                   "-f"] + files, cwd=cwd, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        self.err = []
        self.errt = threading.Thread(target=lambda: [self.err.append(l) for l in self.p.stderr],
                                     daemon=True)
        self.errt.start()

    def log(self):
        # after exit the pipe ends: read the last lines before looking
        if self.p.poll() is not None:
            self.errt.join(10)
        return "".join(self.err[-60:])

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(20)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(20)


def sender_dir(tmp_path, hop_port, interval, window=None):
    d = tmp_path / "sender"
    d.mkdir()
    query = QUERY.format(max_elements=100000)
    if window:
        query = query.replace("read_count = 20,", "read_count = 20,\n  max_in_flight = %d," % window)
    (d / "persistent.trickle").write_text(query)
    (d / "config.yaml").write_text(SENDER.format(hop_port=hop_port, interval=interval))
    return d, ["persistent.trickle", "config.yaml"]


def receiver_dir(tmp_path, hop_port, out, relay):
    d = tmp_path / "receiver"
    d.mkdir()
    (d / "relay.trickle").write_text(relay)
    (d / "config.yaml").write_text(RECEIVER.format(hop_port=hop_port, out=out))
    return d, ["relay.trickle", "config.yaml"]


def test_receiver_sigkill_loses_nothing(tmp_path):
    """sender (metronome -> qos::wal -> ws hop) -> receiver (ws hop_ack ->
    qos::wal -> ws) -> an independent Python receiver; the tremor-c receiver
    is SIGKILLed four times mid-stream and restarted with its WAL."""
    hop_port, port = free_port(), free_port()
    sdir, sfiles = sender_dir(tmp_path, hop_port, interval=5)
    rdir, rfiles = receiver_dir(tmp_path, hop_port, OUT_WS.format(port=port), RELAY_WAL)
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    a = Server(sdir, "a", sfiles)
    b = Server(rdir, "b", rfiles)

    def newest():
        return max([e["id"] for e in seen.drain()], default=-1)

    # progress is new ids, not arrivals: a restarted receiver's replay
    # brings old ones
    try:
        for k in range(4):
            target = newest() + 150
            wait_until(lambda: newest() >= target, timeout=30, what="new ids before kill %d" % k,
                       detail=lambda: a.log() + b.log())
            b.kill()
            b = Server(rdir, "b", rfiles)
        target = newest() + 150
        wait_until(lambda: newest() >= target, timeout=30, what="new ids after the last restart",
                   detail=lambda: a.log() + b.log())
        assert a.stop() == 0, a.log()
        assert b.stop() == 0, b.log()
    finally:
        a.kill()
        b.kill()
        rcv.kill()
    events = seen.drain()
    # duplicates per restart: what was in flight between the two servers,
    # plus what the receiver's WAL replays: deliveries whose acknowledgement
    # was not yet durable there (with no new data to carry it, its frontier
    # is checkpointed once a second: at 200 events/s up to ~200)
    check_runs(events, ["a"], allow_dups_per_restart=4 * 300)
    assert "acknowledge hops" not in a.log()


def test_receiver_fails_are_replayed_by_the_sender(tmp_path):
    """The receiver keeps no log of its own: it acknowledges a hop only once
    its rest offramp's peer answered 2xx. The peer answers 503 to the first
    12 requests and the offramp does not retry, so the receiver fails those
    events; the sender replays them from its WAL and every id reaches the
    peer with a 2xx. (With ack_mode pong the receiver would have taken them
    and lost them: the sender never hears of a fail past the hop.) The
    sender's window is 4, the offramp's concurrency: a replayed window must
    not overrun what the receiver's sink takes at once, or its refusals
    (0.11's 429) are failed and replayed again."""
    from test_rest import Peer
    hop_port = free_port()
    peer = Peer(tmp_path, "--fail-first", "12")
    out = OUT_REST.format(port=peer.port)
    sdir, sfiles = sender_dir(tmp_path, hop_port, interval=2, window=4)
    rdir, rfiles = receiver_dir(tmp_path, hop_port, out, RELAY_PLAIN)
    a = Server(sdir, "a", sfiles)
    b = Server(rdir, "b", rfiles)

    def delivered():
        reqs = peer.requests()[12:]   # the first 12 were answered 503
        return set(json.loads(r["body"])["id"] for r in reqs)

    try:
        wait_until(lambda: all(i in delivered() for i in range(300)), timeout=60,
                   what="ids 0..299 answered 2xx", detail=lambda: a.log() + b.log())
        failed = [json.loads(r["body"])["id"] for r in peer.requests()[:12]]
        assert len(failed) == 12
        assert any("closed hop peer" in l for l in b.err), b.log()
    finally:
        a.kill()
        b.kill()
        peer.stop()


def test_sender_refuses_a_peer_that_does_not_ack_hops(tmp_path):
    """ack_mode hop to a plain WebSocket server: the upgrade is refused on
    our side with a message saying what the peer needs, and nothing is sent
    (the events stay in the WAL)."""
    hop_port = free_port()
    plain = WsServer(hop_port).start()
    sdir, sfiles = sender_dir(tmp_path, hop_port, interval=5)
    a = Server(sdir, "a", sfiles)
    try:
        wait_until(lambda: any("does not acknowledge hops" in l for l in a.err), timeout=30,
                   what="the refusal", detail=a.log)
        assert plain.received() == []
    finally:
        a.kill()
        plain.stop()


def test_plain_client_on_a_hop_onramp_is_served_as_before(tmp_path):
    """hop_ack is opt-in per connection: a client that does not ask for it
    (python3-websockets) is served as by any ws onramp."""
    hop_port, port = free_port(), free_port()
    rdir, rfiles = receiver_dir(tmp_path, hop_port, OUT_WS.format(port=port), RELAY_PLAIN)
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    b = Server(rdir, "b", rfiles)

    async def send():
        async with websockets.connect("ws://127.0.0.1:%d/" % hop_port) as ws:
            assert ws.subprotocol is None
            for i in range(3):
                await ws.send(json.dumps({"id": i, "run": "plain"}))

    try:
        wait_until(lambda: any("listening" in l for l in b.err), timeout=30, what="the onramp",
                   detail=b.log)
        asyncio.run(send())
        wait_until(lambda: seen.count("plain") >= 3, timeout=30, what="3 events", detail=b.log)
    finally:
        b.kill()
        rcv.kill()
    assert sorted(e["id"] for e in seen.drain()) == [0, 1, 2]
