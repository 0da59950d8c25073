"""kafka onramp and offramp end to end against librdkafka's own mock
cluster (tool_kafka_mock: several brokers in one small process, started
and stopped by each test). Every produced id must arrive, in order per
partition; duplicates are allowed only within what was in flight when
something was killed or revoked (delivery.check_delivery, with the
window computed from the configured max_in_flight of the onramp and the
WAL)."""
import json
import os

import pytest

from conftest import Mock, TremorServer, check_per_partition, wait_until
from delivery import self_test


# The in-flight window of one onramp instance: its ring of records not yet
# committed holds at most RING_OVER x KIN_IN_FLIGHT (then it commits early,
# and pauses the partitions if that does not shorten it; KIN_IN_FLIGHT of
# them at most await acks), one serve turn may take PER_TURN more past the
# pause, and the records the last asynchronous commit popped from the ring
# may not have reached the broker when the process dies:
# 2 x RING_OVER x max_in_flight + PER_TURN is what a kill or a revoke can
# make it read again.
KIN_IN_FLIGHT = 4000
RING_OVER = 2
KIN_WINDOW = 2 * RING_OVER * KIN_IN_FLIGHT + 1024
# what qos::wal sends again after a restart: its max_in_flight (WAL_QUERY)
WAL_IN_FLIGHT = 2000

# records' values are {"id": n}; the file offramp writes one line per event
TO_FILE = """onramp:
  - id: kin
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topics: [{topic}]
      group_id: {group}
      max_in_flight: %d
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
""" % KIN_IN_FLIGHT

# ns: the wall clock of the write, to merge the files of several members in time
META_QUERY = """use tremor::system;
select {"id": event.id, "p": $kafka.partition, "o": $kafka.offset,
  "t": $kafka.topic, "k": $kafka.key, "ns": system::nanotime()} from in into out;
"""


class Server(TremorServer):
    def __init__(self, cwd, config, query):
        super().__init__(cwd, ["-d", "data", "-f", query, config])

    def stop(self):
        return super().stop(30)


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    # only whole lines: the writer may be in the middle of one
    return [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l.strip()]


def merged(*outs):
    """The rows of several members' files in the order they were written."""
    return sorted((r for rows in outs for r in rows), key=lambda r: r["ns"])


def test_delivery_checker():
    """The checker fails on a gap, a stray id, a reorder and too many duplicates."""
    self_test()


def write_config(tmp_path, mock, topic, group, query=META_QUERY, name="config.yaml", out="out.json"):
    (tmp_path / "q.trickle").write_text(query)
    (tmp_path / name).write_text(TO_FILE.format(brokers=mock.brokers, topic=topic, group=group,
                                                out=str(tmp_path / out)))
    return str(tmp_path / out)


def consume_all(tmp_path, mock, topic, group, n, edit=None):
    """One member reads topic into a file until it holds n rows, then stops
    (SIGTERM, exit 0); its rows, exactly n (no failure: no duplicates).
    edit(text) may change the config first."""
    out = write_config(tmp_path, mock, topic, group)
    if edit:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(edit(cfg.read_text()))
    server = Server(tmp_path, "config.yaml", "q.trickle")
    try:
        wait_until(lambda: len(read_lines(out)) >= n, timeout=90, what="%d events in the file" % n,
                   detail=lambda: "have %d\n%s" % (len(read_lines(out)), server.log()))
        assert server.stop() == 0, server.log()
        rows = read_lines(out)
        assert len(rows) == n, "duplicates without any failure: %d rows" % len(rows)
        return rows
    finally:
        server.kill()


def test_kafka_to_file_every_id_in_order(tmp_path):
    n = 20000
    mock = Mock(3)
    try:
        mock.cmd("topic t1 4")
        mock.cmd("produce t1 0 %d" % n)
        rows = consume_all(tmp_path, mock, "t1", "g1", n)
        by_p = check_per_partition(rows, n)
        assert len(by_p) == 4
        for p, rs in by_p.items():
            assert [r["o"] for r in rs] == list(range(len(rs))), "partition %d out of order" % p
            assert all(r["t"] == "t1" for r in rs)
        # keys come through as $kafka.key (binary: the json codec writes bytes as base64 strings
        # or arrays; the id's decimal text was the key)
        assert all(r["k"] is not None for r in rows)
    finally:
        mock.stop()


def test_kafka_settled_records_do_not_hold_the_window(tmp_path):
    """max_in_flight counts records awaiting acks, not those acknowledged and
    waiting for the next commit: with a commit every 60 s and a window of
    100, 3000 records still flow at once (the ring commits early; before,
    the partitions stayed paused after 100 until the commit a minute on)."""
    n = 3000
    mock = Mock(1)

    def small_window(text):
        assert "max_in_flight: %d" % KIN_IN_FLIGHT in text
        return text.replace("max_in_flight: %d" % KIN_IN_FLIGHT,
                            "max_in_flight: 100\n      commit_interval_ms: 60000")

    try:
        mock.cmd("topic t5 2")
        mock.cmd("produce t5 0 %d" % n)
        check_per_partition(consume_all(tmp_path, mock, "t5", "g5", n, small_window), n)
        # the early commits and the one at close cover every record
        assert mock.number("committed g5 t5 2") == n
    finally:
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
        # the restart reads again only what was not committed: at most one
        # window, never everything the first run had written
        check_per_partition(got1 + read_lines(out2), n, dups=KIN_WINDOW)
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
      max_in_flight: %d
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
""" % KIN_IN_FLIGHT

WAL_QUERY = """define qos::wal operator w
with
  read_count = 1000,
  max_elements = 1000000,
  max_in_flight = %d,
  sync = "always"
end;
create operator w;
select event from in into w;
select event from w into out;
""" % WAL_IN_FLIGHT


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
        # keys survive the relay: the same key lands in the same partition
        # as at the source, so the destination's order is the source's. The
        # kill repeats what the onramp had not committed and what the WAL
        # had not seen delivered.
        print("at kill %d, relayed %d" % (at_kill, len(rows)))
        check_per_partition(rows, n, dups=KIN_WINDOW + WAL_IN_FLIGHT)
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
        wait_until(lambda: len(read_lines(out_a)) >= 2000 and read_lines(out_b), timeout=60,
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
        print("member a %d, member b %d" % (len(got_a), len(rows_b)))
        # the second member's join revoked partitions of the first (its
        # in-flight on them is read again), then the kill
        check_per_partition(merged(got_a, rows_b), n, dups=2 * KIN_WINDOW)
    finally:
        for s in servers:
            s.kill()
        mock.stop()


def test_kafka_rebalance_under_load(tmp_path):
    """A second member joins the group while the first relays records as
    they are produced: partitions move to it; then it leaves (SIGTERM) and
    they move back. Each move commits what is settled and abandons what is
    in flight, so every id arrives, in order per partition over both files,
    and each move repeats at most one window."""
    n = 60000
    mock = Mock(3)
    servers = []
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    try:
        mock.cmd("topic t5 4")
        for b in (1, 2, 3):
            mock.cmd("rtt %d 10" % b)
        out_a = write_config(a_dir, mock, "t5", "g5")
        out_b = write_config(b_dir, mock, "t5", "g5")
        sa = Server(a_dir, "config.yaml", "q.trickle")
        servers.append(sa)
        mock.send("produce t5 0 %d 10" % n)   # the load: records arrive while the members move
        wait_until(lambda: len(read_lines(out_a)) >= 5000, timeout=90, what="the first member at work",
                   detail=sa.log)
        sb = Server(b_dir, "config.yaml", "q.trickle")
        servers.append(sb)
        wait_until(lambda: len(read_lines(out_b)) >= 3000, timeout=90, what="partitions to move to the second",
                   detail=lambda: sa.log() + sb.log())
        # both members write at once: the partitions were split, not handed over whole
        joined_ns = read_lines(out_b)[0]["ns"]
        wait_until(lambda: any(r["ns"] > joined_ns for r in read_lines(out_a)), timeout=60,
                   what="the first member to keep some partitions", detail=sa.log)
        parts_b = {r["p"] for r in read_lines(out_b)}
        parts_a_during = {r["p"] for r in read_lines(out_a) if r["ns"] > joined_ns}
        assert parts_b and parts_a_during and not parts_b & parts_a_during, (parts_b, parts_a_during)
        assert sb.stop() == 0, sb.log()   # leaves the group: its partitions move back
        left = len(read_lines(out_a)) + len(read_lines(out_b))
        assert left < n, "every record relayed before the second member left; make n larger"
        rows_b = read_lines(out_b)
        left_ns = max(r["ns"] for r in rows_b)
        wait_until(lambda: {r["id"] for r in read_lines(out_a) + rows_b} >= set(range(n)), timeout=180,
                   what="every id once the second member left",
                   detail=lambda: "have %d+%d\n%s" % (len(read_lines(out_a)), len(rows_b), sa.log()))
        mock.wait_ok("produce")
        assert sa.stop() == 0, sa.log()
        rows_a = read_lines(out_a)
        assert parts_b <= {r["p"] for r in rows_a if r["ns"] > left_ns}, "partitions did not move back"
        print("member a %d, member b %d (partitions %s)" % (len(rows_a), len(rows_b), sorted(parts_b)))
        check_per_partition(merged(rows_a, rows_b), n, dups=2 * KIN_WINDOW)
    finally:
        for s in servers:
            s.kill()
        mock.stop()


SINK_RELAY = """onramp:
  - id: kin
    type: kafka
    codec: json
    config:
      brokers: [{src}]
      topics: [src]
      group_id: relay
      max_in_flight: %d
      rdkafka_options:
        auto.offset.reset: earliest
        session.timeout.ms: "3000"
        heartbeat.interval.ms: "500"
offramp:
  - id: kout
    type: kafka
    codec: json
    config:
      brokers: [{dst}]
      topic: dst
      rdkafka_options:
        message.timeout.ms: "{timeout}"
binding:
  - id: b
    links:
      "/onramp/kin/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/kout/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
""" % KIN_IN_FLIGHT


@pytest.mark.parametrize("timeout", ["0", "2000"])
def test_kafka_sink_down_then_up(tmp_path, timeout):
    """Kafka -> Kafka with no WAL between: the destination cluster (its only
    broker) goes down mid-stream, the relay is SIGKILLed while it is down and
    started again, then the destination comes back. The source's offsets
    follow the destination's delivery reports, so nothing committed was
    undelivered: every id arrives, duplicates within the window of the kill.
    message.timeout.ms 0: the producer waits for the broker, the idempotent
    producer keeps each partition's order, the onramp pauses at
    max_in_flight. 2000: deliveries fail while the sink is down, their
    partitions seek back and read them again; records queued after them may
    be delivered first when the broker is back (late, like Kafka's own
    reordering of a failed batch), at most a window per failed run."""
    fails = timeout != "0"
    n = 40000
    src, dst = Mock(3), Mock(1)
    servers = []
    relay_dir, check_dir = tmp_path / "relay", tmp_path / "check"
    relay_dir.mkdir()
    check_dir.mkdir()
    try:
        src.cmd("topic src 4")
        dst.cmd("topic dst 4")
        src.cmd("produce src 0 %d 10" % n)
        for b in (1, 2, 3):
            src.cmd("rtt %d 20" % b)
        (relay_dir / "q.trickle").write_text("select event from in into out;\n")
        (relay_dir / "config.yaml").write_text(SINK_RELAY.format(
            src=src.brokers, dst=dst.brokers, timeout=timeout))
        out = write_config(check_dir, dst, "dst", "check")
        check = Server(check_dir, "config.yaml", "q.trickle")
        servers.append(check)
        r1 = Server(relay_dir, "config.yaml", "q.trickle")
        servers.append(r1)
        wait_until(lambda: len(read_lines(out)) >= 5000, timeout=90, what="5000 relayed events",
                   detail=lambda: r1.log() + check.log())
        dst.cmd("down 1")
        # the producer sees it; with a timeout, deliveries fail and their partitions seek back
        sink_down = "not delivered" if fails else "Connection refused"
        wait_until(lambda: r1.has(sink_down), timeout=30,
                   what="the relay to meet the sink down", detail=r1.log)
        r1.kill()
        at_kill = len(read_lines(out))
        assert at_kill < n, "everything relayed before the sink went down; make n larger"
        r2 = Server(relay_dir, "config.yaml", "q.trickle")
        servers.append(r2)
        wait_until(lambda: r2.has(sink_down), timeout=60,
                   what="the restarted relay to meet the sink down", detail=r2.log)
        dst.cmd("up 1")
        wait_until(lambda: {r["id"] for r in read_lines(out)} >= set(range(n)), timeout=180,
                   what="every id relayed",
                   detail=lambda: "have %d ids\n%s" % (len({r["id"] for r in read_lines(out)}),
                                                      r2.log() + check.log()))
        assert r2.stop() == 0, r2.log()
        assert check.stop() == 0, check.log()
        rows = read_lines(out)
        print("at kill %d, relayed %d" % (at_kill, len(rows)))
        # windows: the kill, and with a timeout the failed deliveries of each run
        windows = 3 if fails else 1
        check_per_partition(rows, n, dups=windows * KIN_WINDOW, late=(windows - 1) * KIN_WINDOW)
    finally:
        for s in servers:
            s.kill()
        src.stop()
        dst.stop()


def test_kafka_relay_through_broker_errors(tmp_path):
    """Produce and offset-commit requests fail (retriable and not), a broker
    goes down and comes back: the relay through qos::wal still delivers
    every id. In order but for the failed: a record failed by the broker (or
    timed out while it was down) is sent again by the WAL after later
    records of its partition were delivered, as Kafka itself reorders a
    failed batch; those are bounded by the WAL's window per failure."""
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
        wait_until(lambda: r.has("Connection refused"), timeout=30,
                   what="the relay to see the broker down", detail=r.log)
        mock.cmd("up 2")
        wait_until(lambda: {x["id"] for x in read_lines(out)} >= set(range(n)), timeout=180,
                   what="every id relayed",
                   detail=lambda: "have %d\n%s" % (len(read_lines(out)), r.log() + check.log()))
        assert r.stop() == 0, r.log()
        assert check.stop() == 0, check.log()
        rows = read_lines(out)
        assert r.has("not delivered"), "no produce error was injected:\n" + r.log()
        # three failed produce requests and the timeouts of broker 2's
        # partitions: what the WAL had in flight each time may be sent again
        # (duplicates if the broker had written it) and after later records
        # (late); nothing more
        check_per_partition(rows, n, dups=4 * WAL_IN_FLIGHT, late=4 * WAL_IN_FLIGHT)
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
