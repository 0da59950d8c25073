"""kafka onramp and offramp end to end against librdkafka's own mock
cluster (tool_kafka_mock: several brokers in one small process, started
and stopped by each test). Every produced id must arrive, in order per
partition; duplicates are allowed only within what was in flight when
something was killed or revoked."""
import json
import os
import signal
import subprocess
import threading

from conftest import TREMOR, Mock, check_per_partition, ids_increase_per_partition, wait_until


# records' values are {"id": n}; the file offramp writes one line per event
TO_FILE = """onramp:
  - id: kin
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topics: [{topic}]
      group_id: {group}
      rdkafka_options:
        auto.offset.reset: earliest
        session.timeout.ms: "3000"
        heartbeat.interval.ms: "500"
offramp:
  - id: fout
    type: file
    codec: json
    postprocessors: [lines]
    config:
      file: {out}
binding:
  - id: b
    links:
      "/onramp/kin/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/fout/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

META_QUERY = """select {"id": event.id, "p": $kafka.partition, "o": $kafka.offset,
  "t": $kafka.topic, "k": $kafka.key} from in into out;
"""


class Server:
    def __init__(self, cwd, config, query):
        self.p = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f", query, config],
                                  cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err = []
        threading.Thread(target=lambda: [self.err.append(l) for l in self.p.stderr], daemon=True).start()
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def log(self):
        return "".join(self.err[-60:])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(30)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    # only whole lines: the writer may be in the middle of one
    return [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l.strip()]


def write_config(tmp_path, mock, topic, group, query=META_QUERY, name="config.yaml", out="out.json"):
    (tmp_path / "q.trickle").write_text(query)
    (tmp_path / name).write_text(TO_FILE.format(brokers=mock.brokers, topic=topic, group=group,
                                                out=str(tmp_path / out)))
    return str(tmp_path / out)


def test_kafka_to_file_every_id_in_order(tmp_path):
    n = 20000
    mock = Mock(3)
    server = None
    try:
        mock.cmd("topic t1 4")
        mock.cmd("produce t1 0 %d" % n)
        out = write_config(tmp_path, mock, "t1", "g1")
        server = Server(tmp_path, "config.yaml", "q.trickle")
        wait_until(lambda: len(read_lines(out)) >= n, timeout=90, what="%d events in the file" % n,
                   detail=lambda: "have %d\n%s" % (len(read_lines(out)), server.log()))
        assert server.stop() == 0, server.log()
        rows = read_lines(out)
        assert len(rows) == n, "duplicates without any failure: %d rows" % len(rows)
        by_p = check_per_partition(rows, n)
        assert len(by_p) == 4
        ids_increase_per_partition(rows)
        for p, rs in by_p.items():
            assert [r["o"] for r in rs] == list(range(len(rs))), "partition %d out of order" % p
            assert all(r["t"] == "t1" for r in rs)
        # keys come through as $kafka.key (binary: the json codec writes bytes as base64 strings
        # or arrays; the id's decimal text was the key)
        assert all(r["k"] is not None for r in rows)
    finally:
        if server:
            server.kill()
        mock.stop()


def test_kafka_sigkill_and_restart_loses_nothing(tmp_path):
    n = 200000
    mock = Mock(3)
    servers = []
    try:
        mock.cmd("topic t2 4")
        out1 = write_config(tmp_path, mock, "t2", "g2", name="c1.yaml", out="out1.json")
        s1 = Server(tmp_path, "c1.yaml", "q.trickle")
        servers.append(s1)
        # produce while it consumes, and kill it on the way
        mock.send("produce t2 0 %d" % n)
        wait_until(lambda: len(read_lines(out1)) >= 20000, timeout=90, what="20000 events",
                   detail=s1.log)
        s1.kill()   # SIGKILL mid-stream
        mock.wait_ok("produce")
        got1 = read_lines(out1)
        assert len(got1) < n, "all arrived before the kill; make n larger"
        out2 = write_config(tmp_path, mock, "t2", "g2", name="c2.yaml", out="out2.json")
        s2 = Server(tmp_path, "c2.yaml", "q.trickle")
        servers.append(s2)
        wait_until(lambda: {r["id"] for r in got1 + read_lines(out2)} >= set(range(n)), timeout=120,
                   what="every id after the restart",
                   detail=lambda: "have %d\n%s" % (len(read_lines(out2)), s2.log()))
        assert s2.stop() == 0, s2.log()
        rows = got1 + read_lines(out2)
        check_per_partition(rows, n)
        ids_increase_per_partition(read_lines(out2))
        dups = len(rows) - n
        # the restart reads again only what was not committed: at most what
        # was in flight, never everything the first run had written
        assert dups < len(got1), "%d duplicates of %d written before the kill" % (dups, len(got1))
    finally:
        for s in servers:
            s.kill()
        mock.stop()


RELAY = """onramp:
  - id: kin
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topics: [src]
      group_id: relay
      rdkafka_options:
        auto.offset.reset: earliest
        session.timeout.ms: "3000"
        heartbeat.interval.ms: "500"
offramp:
  - id: kout
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topic: dst
binding:
  - id: b
    links:
      "/onramp/kin/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/kout/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

WAL_QUERY = """define qos::wal operator w
with
  read_count = 1000,
  max_elements = 1000000,
  sync = "always"
end;
create operator w;
select event from in into w;
select event from w into out;
"""


def test_kafka_wal_kafka_relay_killed_and_restarted(tmp_path):
    n = 40000
    mock = Mock(3)
    servers = []
    relay_dir, check_dir = tmp_path / "relay", tmp_path / "check"
    relay_dir.mkdir()
    check_dir.mkdir()
    try:
        mock.cmd("topic src 4")
        mock.cmd("topic dst 4")
        (relay_dir / "q.trickle").write_text(WAL_QUERY)
        (relay_dir / "config.yaml").write_text(RELAY.format(brokers=mock.brokers))
        out = write_config(check_dir, mock, "dst", "check")
        mock.cmd("produce src 0 %d 10" % n)
        # small record batches, slow brokers and small fetches keep the relay busy for seconds
        for b in (1, 2, 3):
            mock.cmd("rtt %d 20" % b)
        (relay_dir / "config.yaml").write_text(RELAY.format(brokers=mock.brokers).replace(
            "auto.offset.reset: earliest", 'auto.offset.reset: earliest\n        max.partition.fetch.bytes: "2048"'))
        check = Server(check_dir, "config.yaml", "q.trickle")
        servers.append(check)
        r1 = Server(relay_dir, "config.yaml", "q.trickle")
        servers.append(r1)
        wait_until(lambda: len(read_lines(out)) >= 10000, timeout=120, what="10000 relayed events",
                   detail=lambda: r1.log() + check.log())
        r1.kill()   # SIGKILL: the WAL and the uncommitted offsets must cover the rest
        at_kill = len(read_lines(out))
        assert at_kill < n, "all relayed before the kill; make n larger"
        r2 = Server(relay_dir, "config.yaml", "q.trickle")
        servers.append(r2)
        wait_until(lambda: {r["id"] for r in read_lines(out)} >= set(range(n)), timeout=180,
                   what="every id relayed",
                   detail=lambda: "have %d\n%s" % (len(read_lines(out)), r2.log() + check.log()))
        assert r2.stop() == 0, r2.log()
        assert check.stop() == 0, check.log()
        rows = read_lines(out)
        check_per_partition(rows, n)
        ids_increase_per_partition(rows)
        # keys survive the relay: the same key lands in the same partition
        # as at the source, so the destination's order is the source's
        print("at kill %d, relayed %d, duplicates %d" % (at_kill, len(rows), len(rows) - n))
    finally:
        for s in servers:
            s.kill()
        mock.stop()


def test_kafka_group_failover_to_the_survivor(tmp_path):
    """Two members of one group share the partitions; one is SIGKILLed and
    never restarted: the other takes its partitions over from their
    committed offsets and every id arrives."""
    n = 40000
    mock = Mock(3)
    servers = []
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    try:
        mock.cmd("topic t4 4")
        mock.cmd("produce t4 0 %d 10" % n)
        for b in (1, 2, 3):
            mock.cmd("rtt %d 20" % b)
        out_a = write_config(a_dir, mock, "t4", "g4")
        out_b = write_config(b_dir, mock, "t4", "g4")
        sa = Server(a_dir, "config.yaml", "q.trickle")
        servers.append(sa)
        sb = Server(b_dir, "config.yaml", "q.trickle")
        servers.append(sb)
        # both members have partitions: each has written records
        wait_until(lambda: read_lines(out_a) and read_lines(out_b), timeout=60,
                   what="both members to consume", detail=lambda: sa.log() + sb.log())
        parts_a = {r["p"] for r in read_lines(out_a)}
        sa.kill()
        got_a = read_lines(out_a)
        assert len(got_a) < n
        wait_until(lambda: {r["id"] for r in got_a + read_lines(out_b)} >= set(range(n)), timeout=180,
                   what="the survivor to read every id",
                   detail=lambda: "have %d+%d\n%s" % (len(got_a), len(read_lines(out_b)), sb.log()))
        assert sb.stop() == 0, sb.log()
        rows_b = read_lines(out_b)
        assert parts_a <= {r["p"] for r in rows_b}, "the survivor did not take the partitions over"
        check_per_partition(got_a + rows_b, n)
        ids_increase_per_partition(rows_b)
        print("member a %d, member b %d, duplicates %d" % (len(got_a), len(rows_b),
                                                           len(got_a) + len(rows_b) - n))
    finally:
        for s in servers:
            s.kill()
        mock.stop()


def test_kafka_relay_through_broker_errors(tmp_path):
    """Produce and offset-commit requests fail (retriable and not), a broker
    goes down and comes back: the relay through qos::wal still delivers
    every id. Not in order: a record failed by the broker (or timed out while
    it was down) is sent again by the WAL after later records of its
    partition were delivered, as Kafka itself reorders a failed batch."""
    n = 20000
    mock = Mock(3)
    servers = []
    relay_dir, check_dir = tmp_path / "relay", tmp_path / "check"
    relay_dir.mkdir()
    check_dir.mkdir()
    try:
        mock.cmd("topic src 4")
        mock.cmd("topic dst 4")
        mock.cmd("produce src 0 %d 10" % n)
        for b in (1, 2, 3):
            mock.cmd("rtt %d 20" % b)
        # Produce (0): NOT_LEADER_FOR_PARTITION (6) is retried by librdkafka;
        # MESSAGE_TOO_LARGE (10) fails the events, the WAL sends them again
        mock.cmd("err 0 5 6")
        mock.cmd("err 0 3 10")
        # OffsetCommit (8): COORDINATOR_NOT_AVAILABLE (15)
        mock.cmd("err 8 3 15")
        (relay_dir / "q.trickle").write_text(WAL_QUERY)
        (relay_dir / "config.yaml").write_text(RELAY.format(brokers=mock.brokers))
        out = write_config(check_dir, mock, "dst", "check")
        check = Server(check_dir, "config.yaml", "q.trickle")
        servers.append(check)
        r = Server(relay_dir, "config.yaml", "q.trickle")
        servers.append(r)
        wait_until(lambda: len(read_lines(out)) >= 1000, timeout=60, what="the relay to start",
                   detail=lambda: r.log() + check.log())
        assert len(read_lines(out)) < n // 2, "the relay is too quick for a broker to go down on the way"
        mock.cmd("down 2")
        # the mock moves no leadership: broker 2's partitions wait for it
        wait_until(lambda: any("Connection refused" in l for l in r.err), timeout=30,
                   what="the relay to see the broker down", detail=r.log)
        mock.cmd("up 2")
        wait_until(lambda: {x["id"] for x in read_lines(out)} >= set(range(n)), timeout=180,
                   what="every id relayed",
                   detail=lambda: "have %d\n%s" % (len(read_lines(out)), r.log() + check.log()))
        assert r.stop() == 0, r.log()
        assert check.stop() == 0, check.log()
        rows = read_lines(out)
        check_per_partition(rows, n)
        assert any("not delivered" in l for l in r.err), "no produce error was injected:\n" + r.log()
    finally:
        for s in servers:
            s.kill()
        mock.stop()


PRODUCE = """onramp:
  - id: lines
    type: file
    codec: json
    config:
      source: {src}
offramp:
  - id: kout
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topic: fallback
      key: cfgkey
binding:
  - id: b
    links:
      "/onramp/lines/{{instance}}/out": ["/pipeline/p/{{instance}}/in"]
      "/pipeline/p/{{instance}}/out": ["/offramp/kout/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

# events with a "to" field choose their topic, key and headers; others use the config
ROUTE = """define script route
script
  match event of
    case %{ present to } =>
      let $kafka = {"topic": event.to, "key": "k-#{event.id}", "headers": {"h": "v#{event.id}"}}
    default => null
  end;
  event
end;
create script route;
select event from in into route;
select event from route into out;
"""


def test_kafka_offramp_topic_key_headers_per_event(tmp_path):
    mock = Mock(3)
    servers = []
    pdir, cdir = tmp_path / "p", tmp_path / "c"
    pdir.mkdir()
    cdir.mkdir()
    try:
        for t in ("fallback", "ta", "tb"):
            mock.cmd("topic %s 2" % t)
        src = pdir / "in.json"
        lines = []
        for i in range(30):
            e = {"id": i}
            if i % 3:
                e["to"] = "ta" if i % 3 == 1 else "tb"
            lines.append(json.dumps(e))
        src.write_text("\n".join(lines) + "\n")
        (pdir / "p.trickle").write_text(ROUTE)
        (pdir / "config.yaml").write_text(PRODUCE.format(src=str(src), brokers=mock.brokers))
        q = """select {"id": event.id, "p": $kafka.partition, "o": $kafka.offset, "t": $kafka.topic,
  "k": $kafka.key, "m": $kafka} from in into out;
"""
        out = write_config(cdir, mock, "fallback, ta, tb", "gm", query=q)
        c = Server(cdir, "config.yaml", "q.trickle")
        servers.append(c)
        p = Server(pdir, "config.yaml", "p.trickle")
        servers.append(p)
        wait_until(lambda: len(read_lines(out)) >= 30, timeout=60, what="30 records",
                   detail=lambda: p.log() + c.log())
        import base64
        for r in read_lines(out):
            i = r["id"]
            want = "fallback" if i % 3 == 0 else "ta" if i % 3 == 1 else "tb"
            assert r["t"] == want, r
            key = base64.b64decode(r["k"]).decode()
            if i % 3:
                assert key == "k-%d" % i, r
                assert base64.b64decode(r["m"]["headers"]["h"]).decode() == "v%d" % i, r
            else:
                assert key == "cfgkey", r
                assert "headers" not in r["m"], r
    finally:
        for s in servers:
            s.kill()
        mock.stop()
