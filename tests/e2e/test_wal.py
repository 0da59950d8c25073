"""Guaranteed delivery through qos::wal, end to end, with an independent
receiver (python3-websockets). Every test waits on conditions; the only
timing is the load itself (a fast metronome) and generous upper bounds."""
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import threading

from conftest import ROOT, TREMOR, TremorServer, free_port, wait_until

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(ROOT, "examples", "persistent-wal", "etc", "tremor", "config")

QUERY = """use tremor::system;
define qos::wal operator on_disk_wal
with
  read_count = 20,
  max_elements = {max_elements}
end;
create operator on_disk_wal;
select patch event of
  insert "hostname" => system::hostname(),
  insert "run" => system::instance()
end
from in into on_disk_wal;
select event from on_disk_wal into out;
"""

CONFIG = """onramp:
  - id: metronome
    type: metronome
    config:
      interval: {interval}
offramp:
  - id: ws
    type: ws
    config:
      url: ws://127.0.0.1:{port}/
      ack_mode: {ack_mode}
binding:
  - id: default
    links:
      "/onramp/metronome/{{instance}}/out": ["/pipeline/persistent/{{instance}}/in"]
      "/pipeline/persistent/{{instance}}/out": ["/offramp/ws/{{instance}}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""


class Receiver:
    """ws_receiver.py in its own process; lines collected across restarts."""

    def __init__(self, port, sink):
        self.port = port
        self.sink = sink
        self.p = None

    def start(self):
        self.p = subprocess.Popen([PY, os.path.join(HERE, "ws_receiver.py"), str(self.port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.p.stderr.readline().strip() == "listening"
        threading.Thread(target=self._pump, args=(self.p.stdout,), daemon=True).start()
        return self

    def _pump(self, f):
        for line in f:
            self.sink.put(json.loads(line))

    def kill(self, sig=signal.SIGKILL):
        self.p.send_signal(sig)
        self.p.wait(10)


class Tremor(TremorServer):
    def __init__(self, cwd, instance, data_dir="data"):
        super().__init__(cwd, ["-i", instance, "-d", data_dir, "-f", "persistent.trickle", "config.yaml"])


class Seen:
    def __init__(self):
        self.q = queue.Queue()
        self.events = []

    def drain(self):
        while True:
            try:
                self.events.append(self.q.get_nowait())
            except queue.Empty:
                return self.events

    def count(self, run=None):
        return len([e for e in self.drain() if run is None or e["run"] == run])


def prepare(tmp_path, port, interval, max_elements=1000):
    (tmp_path / "persistent.trickle").write_text(QUERY.format(max_elements=max_elements))
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=port, interval=interval, ack_mode=os.environ.get("ACK_MODE", "pong")))


def check_runs(events, runs, allow_dups_per_restart):
    by_run = {}
    for e in events:
        by_run.setdefault(e["run"], []).append(e["id"])
    for r in runs:
        ids = by_run.get(r, [])
        assert ids, "run %s delivered nothing" % r
        distinct = sorted(set(ids))
        assert distinct == list(range(len(distinct))), \
            "run %s has holes: missing %s" % (r, sorted(set(range(distinct[-1] + 1)) - set(distinct))[:20])
        dups = len(ids) - len(distinct)
        assert dups <= allow_dups_per_restart, "run %s: %d duplicates" % (r, dups)
    # the replay of earlier runs comes before the new run's events
    order = [runs.index(e["run"]) for e in events]
    first_of = {}
    for k, o in enumerate(order):
        first_of.setdefault(o, k)
    for r, k0 in first_of.items():
        late = [k for k in range(k0, len(order)) if order[k] < r]
        assert not late, "an event of %s arrived after %s began" % (runs[order[late[0]]], runs[r])


def test_tutorial_files_deliver_once_a_second(tmp_path):
    port = free_port()
    cfg = tmp_path / "etc" / "tremor" / "config"
    shutil.copytree(EXAMPLE, cfg)
    ws = cfg / "ws.yaml"
    ws.write_text(ws.read_text().replace("ws://localhost:8080/", "ws://127.0.0.1:%d/" % port))
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    files = sorted(str(p.relative_to(tmp_path)) for p in cfg.iterdir())
    t = subprocess.Popen([TREMOR, "server", "run", "-n", "-f"] + files, cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: seen.count() >= 3, timeout=30, what="3 events")
        ev = seen.drain()
        assert [list(e.keys()) for e in ev[:3]] == [["onramp", "ingest_ns", "id", "hostname"]] * 3
        assert [e["id"] for e in ev[:3]] == [0, 1, 2]
        assert ev[0]["hostname"] == socket.gethostname()
        gaps = [(ev[i + 1]["ingest_ns"] - ev[i]["ingest_ns"]) / 1e9 for i in range(2)]
        assert all(0.9 < g < 1.5 for g in gaps), gaps
        # persistent by default: the log lives under ./tremor-data
        assert (tmp_path / "tremor-data" / "wal" / "persistent" / "01" / "on_disk_wal").is_dir()
        t.send_signal(signal.SIGINT)
        assert t.wait(20) == 0
    finally:
        if t.poll() is None:
            t.kill()
        rcv.kill()


def test_sigkill_restarts_lose_nothing(tmp_path):
    port = free_port()
    prepare(tmp_path, port, interval=5)
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    runs = []
    rng = random.Random(7)
    try:
        for r in range(5):
            name = "run%d" % r
            runs.append(name)
            t = Tremor(tmp_path, name)
            target = rng.randint(40, 150)
            wait_until(lambda: seen.count(name) >= target, timeout=30, what="events of " + name,
                       detail=t.log)
            t.kill()
        name = "final"
        runs.append(name)
        t = Tremor(tmp_path, name)
        wait_until(lambda: seen.count(name) >= 20, timeout=30, what="final run events")
        assert t.stop() == 0
    finally:
        rcv.kill()
    check_runs(seen.drain(), runs, allow_dups_per_restart=60)


def test_sigterm_restart_no_hole_no_duplicate(tmp_path):
    port = free_port()
    prepare(tmp_path, port, interval=5)
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    runs = []
    try:
        for r in range(3):
            name = "run%d" % r
            runs.append(name)
            t = Tremor(tmp_path, name)
            wait_until(lambda: seen.count(name) >= 100, timeout=30, what="events of " + name,
                       detail=t.log)
            assert t.stop() == 0, t.text()
    finally:
        rcv.kill()
    check_runs(seen.drain(), runs, allow_dups_per_restart=0)


def test_receiver_restarts_lose_nothing(tmp_path):
    port = free_port()
    prepare(tmp_path, port, interval=5)
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    t = Tremor(tmp_path, "only")
    try:
        for k in range(4):
            target = seen.count() + 100
            wait_until(lambda: seen.count() >= target, timeout=30, what="events before restart",
                       detail=t.log)
            rcv.kill(signal.SIGINT if k % 2 else signal.SIGKILL)
            rcv = Receiver(port, seen.q).start()
        target = seen.count() + 100
        wait_until(lambda: seen.count() >= target, timeout=30, what="events after last restart",
                   detail=t.log)
        assert t.stop() == 0
    finally:
        if t.alive():
            t.p.kill()
        rcv.kill()
    ids = sorted(set(e["id"] for e in seen.drain()))
    missing = sorted(set(range(ids[-1] + 1)) - set(ids))
    assert not missing, "lost events: %s" % missing[:20]


def test_full_wal_pauses_metronome_and_drains_in_order(tmp_path):
    port = free_port()
    prepare(tmp_path, port, interval=5, max_elements=200)
    seen = Seen()
    t = Tremor(tmp_path, "only")
    rcv = None
    try:
        wait_until(lambda: t.has("WAL full"), timeout=30, what="WAL full")
        # paused: the count in the log stays at the limit while nothing is received
        rcv = Receiver(port, seen.q).start()
        wait_until(lambda: t.has("not full any more"), timeout=30,
                   what="WAL drained")
        wait_until(lambda: seen.count() >= 400, timeout=30, what="backlog and new events")
        ids = [e["id"] for e in seen.drain()]
        assert ids[:200] == list(range(200)), ids[:210]
        distinct = sorted(set(ids))
        assert distinct == list(range(len(distinct))), "hole after resume"
        assert t.stop() == 0
    finally:
        if t.alive():
            t.p.kill()
        if rcv:
            rcv.kill()


def test_torn_last_record_is_repaired(tmp_path):
    port = free_port()
    prepare(tmp_path, port, interval=5)
    t = Tremor(tmp_path, "first")
    # no receiver: everything stays in the log
    wal = tmp_path / "data" / "wal" / "persistent" / "01" / "on_disk_wal"
    def segments():
        return sorted(p for p in wal.iterdir() if p.name.endswith(".wal")) if wal.is_dir() else []
    wait_until(lambda: segments() and segments()[-1].stat().st_size > 4096, timeout=30,
               what="log data")
    t.kill()
    seg = segments()[-1]
    size = seg.stat().st_size
    with open(seg, "r+b") as f:
        f.truncate(size - 7)   # tear the last record
    seen = Seen()
    rcv = Receiver(port, seen.q).start()
    t = Tremor(tmp_path, "second")
    try:
        wait_until(lambda: seen.count("second") >= 20, timeout=30, what="delivery after repair")
        first = sorted(set(e["id"] for e in seen.drain() if e["run"] == "first"))
        assert first == list(range(len(first))) and len(first) > 10
        assert t.has("torn") or t.has("truncat"), t.text()
        assert t.stop() == 0
    finally:
        if t.alive():
            t.p.kill()
        rcv.kill()


def test_foreign_file_in_the_wal_is_a_clear_startup_error(tmp_path):
    port = free_port()
    prepare(tmp_path, port, interval=5)
    t = Tremor(tmp_path, "first")
    wal = tmp_path / "data" / "wal" / "persistent" / "01" / "on_disk_wal"
    wait_until(lambda: wal.is_dir() and any(p.name.endswith(".wal") for p in wal.iterdir()),
               timeout=30, what="a segment")
    assert t.stop() == 0
    seg = sorted(p for p in wal.iterdir() if p.name.endswith(".wal"))[0]
    with open(seg, "r+b") as f:
        f.write(b"NOTOURS!")   # wrong magic: somebody else's file
    res = subprocess.run([TREMOR, "server", "run", "-n", "-d", "data", "-f", "persistent.trickle",
                          "config.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "not a tremor WAL segment" in res.stderr and seg.name in res.stderr, res.stderr
