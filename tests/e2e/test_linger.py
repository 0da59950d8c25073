"""The ws offramp's pong linger, end to end: a frame the receiver confirmed
but whose link dropped inside its linger stays in the WAL, so it is replayed
even when tremor is SIGKILLed before it could reconnect."""
import signal

from conftest import free_port, wait_until
from test_wal import QUERY, Receiver, Seen, Tremor

CONFIG = """onramp:
  - id: metronome
    type: metronome
    config:
      interval: 5
offramp:
  - id: ws
    type: ws
    config:
      url: ws://127.0.0.1:{port}/
      confirm_linger_ms: 600000
binding:
  - id: default
    links:
      "/onramp/metronome/{{instance}}/out": ["/pipeline/persistent/{{instance}}/in"]
      "/pipeline/persistent/{{instance}}/out": ["/offramp/ws/{{instance}}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""


def test_confirmed_inside_linger_survives_link_drop_and_sigkill(tmp_path):
    port = free_port()
    (tmp_path / "persistent.trickle").write_text(QUERY.format(max_elements=100000))
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=port))
    first = Seen()
    rcv = Receiver(port, first.q).start()
    t = Tremor(tmp_path, "run0")
    try:
        # with a 600 s linger every frame the receiver confirmed is still inside it
        wait_until(lambda: first.count() >= 60, timeout=30, what="events at the first receiver",
                   detail=lambda: t.log(40))
        rcv.kill(signal.SIGKILL)
        wait_until(lambda: any("Connection to" in l and "lost" in l for l in t.lines()), timeout=30,
                   what="tremor seeing the link drop", detail=lambda: t.log(40))
        t.kill()   # before any reconnect: nothing in memory survives
    finally:
        if t.alive():
            t.p.kill()
        rcv.kill()
    got = sorted(set(e["id"] for e in first.drain()))
    assert got and got[0] == 0

    second = Seen()
    rcv = Receiver(port, second.q).start()
    t = Tremor(tmp_path, "run1")
    try:
        wait_until(lambda: second.count("run1") >= 20, timeout=30, what="events of the second run",
                   detail=lambda: t.log(40))
        assert t.stop() == 0
    finally:
        if t.alive():
            t.p.kill()
        rcv.kill()
    replayed = set(e["id"] for e in second.drain() if e["run"] == "run0")
    missing = sorted(set(got) - replayed)
    assert not missing, "confirmed inside the linger, then lost: %s" % missing[:20]
