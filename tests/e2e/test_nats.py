"""The nats onramp and offramp against real nats-server processes (Debian's),
started here on loopback with free ports and temp dirs, driven by tool_nats
(an independent libnats peer): core NATS relay with headers and a queue
group; JetStream relay through qos::wal with tremor SIGKILLed mid-stream
(every id arrives, duplicates bounded); a 3-node JetStream cluster (replicas
3) with one node killed mid-stream (nothing lost); two instances on one
durable consumer with one SIGKILLed for good; the destination's server down
and up again; naks while publishes fail. Every test checks what DST holds
with delivery.check_delivery: every id, in order (a stream is one
partition) but for redeliveries, which JetStream makes after ack_wait,
behind later messages, and duplicates within the windows (the onramp's
window, the offramp's max_pending, the WAL's max_in_flight) per failure."""
import json
import os
import signal
import subprocess

import pytest

from conftest import TREMOR, TremorServer, free_port, wait_until
from delivery import check_delivery

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "e2e", "tool_nats")
NATS_SERVER = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"

WAL_QUERY = """define qos::wal operator relay_wal
with
  read_count = 1000,
  max_elements = 1000000,
  max_in_flight = %d,
  sync = "always"
end;
create operator relay_wal;
select event from in into relay_wal;
select event from relay_wal into out;
"""

# the windows of the relays below: fetched and not acked (onramp window),
# published and not PubAck'ed (offramp max_pending), what qos::wal sends
# again after a restart (its max_in_flight)
WINDOW, MAX_PENDING, WAL_IN_FLIGHT = 500, 128, 1000
WAL_QUERY = WAL_QUERY % WAL_IN_FLIGHT


def tool(*args, timeout=120):
    p = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout


class Nats:
    """One nats-server, stopped by its pid."""

    def __init__(self, tmp, name, port, cluster_port=None, routes=(), js=True):
        self.port = port
        self.url = "nats://127.0.0.1:%d" % port
        conf = tmp / ("%s.conf" % name)
        lines = ["listen: 127.0.0.1:%d" % port, "server_name: %s" % name]
        if js:
            store = tmp / ("%s-js" % name)
            store.mkdir(exist_ok=True)
            lines.append('jetstream { store_dir: "%s" }' % store)
        if cluster_port:
            lines.append("cluster { name: tc, listen: 127.0.0.1:%d, routes: [%s] }" % (
                cluster_port, ", ".join("nats-route://127.0.0.1:%d" % r for r in routes)))
        conf.write_text("\n".join(lines) + "\n")
        self.log = tmp / ("%s.log" % name)
        self.args = [NATS_SERVER, "-c", str(conf)]
        self.p = None
        self.start()

    def start(self):
        self.p = subprocess.Popen(self.args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_until(lambda: "Server is ready" in self.log.read_text(errors="replace"), timeout=20,
                   what="nats-server on %d" % self.port, detail=lambda: self.log.read_text()[-2000:])

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Tremor(TremorServer):
    def __init__(self, cwd, query="relay.trickle"):
        super().__init__(cwd, ["-d", "data", "-f", query, "config.yaml"])

    def stop(self):
        return super().stop(30)


def relay_config(in_cfg, out_cfg):
    return """onramp:
  - id: in
    type: nats
    codec: json
    config:
%s
offramp:
  - id: out
    type: nats
    codec: json
    config:
%s
binding:
  - id: relay
    links:
      "/onramp/in/{instance}/out": ["/pipeline/relay/{instance}/in"]
      "/pipeline/relay/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/relay/01:
    instance: "01"
""" % (in_cfg, out_cfg)


def indent(d):
    return "\n".join("      %s: %s" % (k, json.dumps(v)) for k, v in d.items())


@pytest.fixture
def servers():
    started = []
    yield started
    for s in started:
        s.kill()


def test_core_relay_with_headers_and_queue_group(tmp_path, servers):
    n = Nats(tmp_path, "n1", free_port(), js=False)
    servers.append(n)
    hosts = ["127.0.0.1:%d" % n.port]
    (tmp_path / "relay.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "in.core", "queue": "workers"}),
        indent({"hosts": hosts, "subject": "out.core", "headers": {"X-Test": ["hello"]}})))
    t = Tremor(tmp_path)
    try:
        wait_until(lambda: t.has("in: subscribed to in.core") and t.has("out: connected"), timeout=20,
                   what="the nats connectors", detail=t.log)
        sub = subprocess.Popen([TOOL, "sub", n.url, "out.core", "200", "30"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        assert sub.stderr.readline().strip() == "ready"
        tool("pub", n.url, "in.core", 0, 200)
        out, _ = sub.communicate(timeout=40)
        lines = out.splitlines()
        assert [json.loads(l.split("\t")[0])["id"] for l in lines] == list(range(200))
        assert all(l.endswith("\thello") for l in lines), lines[:3]
        assert t.stop() == 0, t.log()
    finally:
        t.kill()


def ask(*args):
    """tool's answer, retried while a cluster elects a leader."""
    def attempt():
        p = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=120)
        return p.stdout if p.returncode == 0 else None
    return wait_until(attempt, timeout=60, what="tool_nats %s" % " ".join(map(str, args)))


def ids_in(url, stream):
    return [json.loads(l)["id"] for l in ask("read", url, stream).splitlines() if l]


def arrivals(url, stream, by=None):
    """(partition, id) of every message of stream in stream order; the
    partition is the value of field `by` (the instance that relayed it) or
    the stream itself."""
    rows = [json.loads(l) for l in ask("read", url, stream).splitlines() if l]
    return [(r.get(by) if by else stream, r["id"]) for r in rows]


def check_stream(url, stream, n, dups, late, by=None):
    arr = arrivals(url, stream, by)
    extra, n_late = check_delivery(arr, n, dups=dups, late=late, what=stream)
    print("%s: %d messages for %d ids, %d duplicates (at most %d), %d late (at most %d)" % (
        stream, len(arr), n, extra, dups, n_late, late))
    return extra


def count(url, stream):
    return int(ask("count", url, stream).strip())


def js_relay(tmp_path, urls, n, kill_midway):
    hosts = [u.replace("nats://", "") for u in urls]
    (tmp_path / "relay.trickle").write_text(WAL_QUERY)
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "stream": "SRC",
                "durable": "relay", "batch": 100, "window": WINDOW, "ack_wait": 10000}),
        indent({"hosts": hosts, "subject": "dst.events", "jetstream": True, "max_pending": MAX_PENDING})))
    url = ",".join(urls)
    t = Tremor(tmp_path)
    try:
        if kill_midway:
            # early: the relay moves tens of thousands a second, and one poll
            # (a client process each) can take a good part of one
            wait_until(lambda: count(url, "DST") >= n // 10, timeout=60, what="a tenth relayed",
                       detail=t.log)
            t.kill()
            assert count(url, "DST") < n, "the kill came too late to test anything"
            t = Tremor(tmp_path)
        wait_until(lambda: count(url, "DST") >= n and len(set(ids_in(url, "DST"))) == n, timeout=180,
                   what="every id in DST", detail=lambda: "DST holds %d\n%s" % (count(url, "DST"), t.log()))
        if kill_midway:
            # what the killed relay fetched and never acked comes back after
            # ack_wait (10 s), even when the WAL replayed it into DST sooner:
            # the relay must still run then to take and ack it
            wait_until(lambda: ask("consumer", url, "SRC", "relay").split()[:2] == ["0", "0"], timeout=60,
                       what="the consumer to have nothing pending while the relay runs", detail=t.log)
        assert t.stop() == 0, t.log()
    finally:
        t.kill()
    got = ids_in(url, "DST")
    assert set(got) == set(range(n))
    return len(got) - n


def test_jetstream_relay_through_wal_sigkill_loses_nothing(tmp_path, servers):
    n = Nats(tmp_path, "n1", free_port())
    servers.append(n)
    tool("stream", n.url, "SRC", "src.events", 1)
    tool("stream", n.url, "DST", "dst.events", 1)
    total = 60000
    tool("pub", n.url, "src.events", 0, total, "js")
    js_relay(tmp_path, [n.url], total, kill_midway=True)
    # redelivered: at most what was fetched and not yet acked (window) plus
    # what the WAL had not yet seen acked downstream (max_pending, read_count)
    # every message of SRC was acked to JetStream, once the WAL had it:
    # nothing more can be redelivered, so the duplicates are final
    wait_until(lambda: ask("consumer", n.url, "SRC", "relay").split()[:2] == ["0", "0"], timeout=30,
               what="the consumer to have nothing pending")
    # the fetched and unacked come back after ack_wait, behind later ones
    check_stream(n.url, "DST", total, dups=WINDOW + MAX_PENDING + WAL_IN_FLIGHT, late=WINDOW)


def test_jetstream_cluster_one_node_killed_loses_nothing(tmp_path, servers):
    ports = [free_port() for _ in range(3)]
    cports = [free_port() for _ in range(3)]
    nodes = []
    for i in range(3):
        nodes.append(Nats(tmp_path, "n%d" % (i + 1), ports[i], cports[i],
                          [cports[j] for j in range(3) if j != i]))
        servers.append(nodes[-1])
    urls = [x.url for x in nodes]
    url = ",".join(urls)
    tool("stream", url, "SRC", "src.events", 3)
    tool("stream", url, "DST", "dst.events", 3)
    # the kill must land while messages still flow: 40,000 and a kill after
    # the first 2,000 (with 10,000 and a fifth, the relay under make tsan
    # had moved them all before the kill)
    total = 40000
    pub = subprocess.Popen([TOOL, "pub", url, "src.events", "0", str(total), "js"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    hosts = [u.replace("nats://", "") for u in urls]
    (tmp_path / "relay.trickle").write_text(WAL_QUERY)
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "stream": "SRC",
                "durable": "relay", "batch": 100, "window": WINDOW, "ack_wait": 10000}),
        indent({"hosts": hosts, "subject": "dst.events", "jetstream": True, "max_pending": MAX_PENDING})))
    t = Tremor(tmp_path)
    try:
        live = url
        wait_until(lambda: count(live, "DST") >= total // 20, timeout=90, what="a twentieth relayed",
                   detail=t.log)
        # the leader of the stream tremor reads from: its loss forces an
        # election while messages are fetched and acked
        leader = tool("leader", urls[1], "SRC").strip()
        victim = int(leader[1:]) - 1
        nodes[victim].kill()
        assert count(",".join(u for i, u in enumerate(urls) if i != victim), "DST") < total, \
            "the kill came too late to test anything"
        rest = [u for i, u in enumerate(urls) if i != victim]
        live = ",".join(rest)
        assert pub.wait(120) == 0, pub.stderr.read()
        wait_until(lambda: len(set(ids_in(live, "DST"))) == total, timeout=180, what="every id in DST",
                   detail=lambda: "DST holds %d\n%s" % (count(live, "DST"), t.log()))
        print("3-node cluster, leader %s killed" % leader)
        assert t.stop() == 0, t.log()
    finally:
        t.kill()
        pub.kill()
    # the election fails what was fetched, acked or published across it:
    # the onramp's window and the offramp's pending come back, once. A
    # publish that fails comes again when its FAIL reaches the WAL, which
    # may have sent up to its whole in-flight window behind it by then;
    # those were acknowledged, so the replay skips them: late, not doubled
    check_stream(live, "DST", total, dups=WINDOW + MAX_PENDING,
                 late=WINDOW + MAX_PENDING + WAL_IN_FLIGHT)
    assert set(ids_in(live, "SRC")) == set(range(total))


def test_jetstream_publish_errors_fail_and_nak_until_the_stream_exists(tmp_path, servers):
    """No DST stream at first: every publish gets an error PubAck (no
    responders), the event fails, the onramp naks its message with backoff;
    once DST exists every id arrives and the consumer has nothing pending."""
    n = Nats(tmp_path, "n1", free_port())
    servers.append(n)
    tool("stream", n.url, "SRC", "src.events", 1)
    total = 300
    tool("pub", n.url, "src.events", 0, total, "js")
    hosts = [n.url.replace("nats://", "")]
    (tmp_path / "relay.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "durable": "relay",
                "window": 50, "nak_delay": 50, "nak_max_delay": 400}),
        indent({"hosts": hosts, "subject": "dst.events", "jetstream": True, "ack_timeout": 2000})))
    t = Tremor(tmp_path)
    try:
        wait_until(lambda: t.has("a message was not published"), timeout=30,
                   what="failed publishes", detail=t.log)
        redelivered = lambda: int(ask("consumer", n.url, "SRC", "relay").split()[2])
        wait_until(lambda: redelivered() > 0, timeout=30, what="nak'ed redeliveries", detail=t.log)
        tool("stream", n.url, "DST", "dst.events", 1)
        wait_until(lambda: len(set(ids_in(n.url, "DST"))) == total, timeout=60, what="every id in DST",
                   detail=t.log)
        wait_until(lambda: ask("consumer", n.url, "SRC", "relay").split()[:2] == ["0", "0"], timeout=30,
                   what="the consumer to have nothing pending")
        assert t.stop() == 0, t.log()
    finally:
        t.kill()
    # a failed publish stored nothing: no duplicates. Naks bring messages
    # back after their (growing) delays, so arrivals follow the nak timers,
    # not the stream: no order is claimed here
    check_stream(n.url, "DST", total, dups=0, late=total)


@pytest.mark.parametrize("cfg,expect", [
    ({"subject": "x"}, "config.hosts"),
    ({"hosts": ["127.0.0.1:4222"], "subject": "x", "options": {"tokn": "a"}}, ".tokn is not an option"),
    ({"hosts": ["127.0.0.1:4222"], "subject": "x", "options": {"echo": "yes"}}, ".echo must be a boolean"),
    ({"hosts": ["127.0.0.1:4222"], "subject": "x", "jetstream": True, "queue": "q"}, "config.queue"),
    ({"hosts": ["127.0.0.1:4222"], "subject": "x", "durable": "d"}, "needs `jetstream: true`"),
    ({"hosts": ["127.0.0.1:4222"], "subject": "x", "jetstream": True, "durable": "a.b"}, "config.durable"),
    ({"hosts": ["127.0.0.1:4222"], "subject": "x", "batch": 0}, "config.batch"),
])
def test_bad_onramp_config_is_refused_at_load(tmp_path, cfg, expect):
    (tmp_path / "relay.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(relay_config(indent(cfg), indent({"hosts": ["127.0.0.1:4222"],
                                                                              "subject": "y"})))
    p = subprocess.run([TREMOR, "server", "run", "-n", "-d", "data", "-f", "relay.trickle", "config.yaml"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and expect in p.stderr, p.stderr


def test_jetstream_relay_survives_a_server_restart(tmp_path, servers):
    """nats-server SIGKILLed mid-stream and started again on the same port
    and store: both connectors reconnect (the offramp's breaker triggered
    meanwhile) and every id arrives."""
    n = Nats(tmp_path, "n1", free_port())
    servers.append(n)
    tool("stream", n.url, "SRC", "src.events", 1)
    tool("stream", n.url, "DST", "dst.events", 1)
    total = 20000
    tool("pub", n.url, "src.events", 0, total, "js")
    hosts = [n.url.replace("nats://", "")]
    (tmp_path / "relay.trickle").write_text(WAL_QUERY)
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "durable": "relay",
                "ack_wait": 10000}),
        indent({"hosts": hosts, "subject": "dst.events", "jetstream": True})))
    t = Tremor(tmp_path)
    try:
        wait_until(lambda: count(n.url, "DST") >= total // 4, timeout=60, what="a quarter relayed",
                   detail=t.log)
        n.kill()
        wait_until(lambda: t.has("out: disconnected"), timeout=20, what="the offramp to see it",
                   detail=t.log)
        n.start()
        wait_until(lambda: len(set(ids_in(n.url, "DST"))) == total, timeout=120, what="every id in DST",
                   detail=lambda: "DST holds %d\n%s" % (count(n.url, "DST"), t.log()))
        assert t.has("out: connected"), t.log()
        assert t.stop() == 0, t.log()
    finally:
        t.kill()
    # the default window (1024) and max_pending (256) and the WAL come back once
    check_stream(n.url, "DST", total, dups=1024 + 256 + WAL_IN_FLIGHT, late=1024 + 256)


def tagged(name):
    """A relay that marks each event with the instance that relayed it."""
    return 'select patch event of insert "by" => "%s" end from in into out;\n' % name


def tagged_wal(name):
    """The same through a qos::wal that acks SRC only once DST has the event."""
    return WAL_QUERY.replace("sync = \"always\"", "sync = \"always\",\n  ack_upstream = \"delivered\"").replace(
        "select event from in into relay_wal",
        'select patch event of insert "by" => "%s" end from in into relay_wal' % name)


@pytest.mark.parametrize("via", ["direct", "wal_delivered"])
def test_jetstream_two_instances_one_killed_for_good(tmp_path, servers, via):
    """Two tremor instances on one durable pull consumer, each relaying to
    DST straight or through a qos::wal with ack_upstream "delivered": a
    message is acked to SRC only on DST's PubAck. One is SIGKILLed and never
    restarted: what it had fetched and not acked (its WAL's undelivered
    records among them) comes back to the other after ack_wait, so every id
    arrives. Each instance's share arrives in stream order but for those
    redeliveries; duplicates are at most what the killed one had in flight.
    (With the WAL's default, "durable", SRC is acked once the killed
    instance's own log has a message, and what that log held is lost.)"""
    n = Nats(tmp_path, "n1", free_port())
    servers.append(n)
    tool("stream", n.url, "SRC", "src.events", 1)
    tool("stream", n.url, "DST", "dst.events", 1)
    total = 30000
    # the first half is published while the instances relay and the second
    # only after the kill, so the kill comes mid-stream however fast the
    # relays are next to the checks (reading DST back is the slow part)
    half = total // 2
    pub = subprocess.Popen([TOOL, "pub", n.url, "src.events", "0", str(half), "js"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    hosts = [n.url.replace("nats://", "")]
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        (d / "relay.trickle").write_text(tagged(name) if via == "direct" else tagged_wal(name))
        (d / "config.yaml").write_text(relay_config(
            indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "stream": "SRC",
                    "durable": "relay", "batch": 50, "window": WINDOW, "ack_wait": 3000}),
            indent({"hosts": hosts, "subject": "dst.events", "jetstream": True,
                    "max_pending": MAX_PENDING})))
    a = Tremor(tmp_path / "a")
    b = Tremor(tmp_path / "b")
    try:
        def by():
            return {x for x, _ in arrivals(n.url, "DST", "by")}
        wait_until(lambda: count(n.url, "DST") >= 3000 and by() == {"a", "b"}, timeout=60,
                   what="both instances to relay", detail=lambda: a.log() + b.log())
        a.kill()
        assert pub.wait(120) == 0, pub.stderr.read()
        tool("pub", n.url, "src.events", half, total - half, "js")
        wait_until(lambda: len(set(ids_in(n.url, "DST"))) == total, timeout=120, what="every id in DST",
                   detail=lambda: "DST holds %d distinct\n%s" % (len(set(ids_in(n.url, "DST"))), b.log()))
        wait_until(lambda: ask("consumer", n.url, "SRC", "relay").split()[:2] == ["0", "0"], timeout=30,
                   what="the consumer to have nothing pending")
        assert b.stop() == 0, b.log()
    finally:
        a.kill()
        b.kill()
        pub.kill()
    shares = {}
    for x, _ in arrivals(n.url, "DST", "by"):
        shares[x] = shares.get(x, 0) + 1
    print("relayed by a %d, by b %d" % (shares.get("a", 0), shares.get("b", 0)))
    # per instance (the partition here), first arrivals increase: each
    # fetches in stream order; the killed one's window comes to b late
    check_stream(n.url, "DST", total, dups=WINDOW + MAX_PENDING, late=WINDOW, by="by")


def test_jetstream_sink_down_then_up(tmp_path, servers):
    """SRC and DST on two separate servers; DST's server is SIGKILLed
    mid-stream, tremor is SIGKILLed while it is down and started again, then
    DST's server comes back. No WAL: SRC's messages are acked on DST's
    PubAck only, so whatever was fetched and not published is redelivered
    (after ack_wait) and every id arrives."""
    ns = Nats(tmp_path, "src", free_port())
    nd = Nats(tmp_path, "dst", free_port())
    servers.extend([ns, nd])
    tool("stream", ns.url, "SRC", "src.events", 1)
    tool("stream", nd.url, "DST", "dst.events", 1)
    total = 20000
    tool("pub", ns.url, "src.events", 0, total, "js")
    (tmp_path / "relay.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": [ns.url.replace("nats://", "")], "subject": "src.events", "jetstream": True,
                "stream": "SRC", "durable": "relay", "batch": 100, "window": WINDOW, "ack_wait": 3000}),
        indent({"hosts": [nd.url.replace("nats://", "")], "subject": "dst.events", "jetstream": True,
                "max_pending": MAX_PENDING, "ack_timeout": 2000})))
    t = Tremor(tmp_path)
    try:
        wait_until(lambda: count(nd.url, "DST") >= total // 5, timeout=60, what="a fifth relayed",
                   detail=t.log)
        nd.kill()
        wait_until(lambda: t.has("out: disconnected"), timeout=20, what="the offramp to see it",
                   detail=t.log)
        t.kill()
        t = Tremor(tmp_path)
        wait_until(lambda: t.has("in: subscribed"), timeout=30, what="the restarted onramp", detail=t.log)
        nd.start()
        wait_until(lambda: len(set(ids_in(nd.url, "DST"))) == total, timeout=120, what="every id in DST",
                   detail=lambda: "DST holds %d\n%s" % (count(nd.url, "DST"), t.log()))
        wait_until(lambda: ask("consumer", ns.url, "SRC", "relay").split()[:2] == ["0", "0"], timeout=30,
                   what="the consumer to have nothing pending")
        assert t.stop() == 0, t.log()
    finally:
        t.kill()
    # the first run's window and pending at the kill, the second's failed
    # publishes while DST was down (nak'ed, redelivered): late, not lost
    check_stream(nd.url, "DST", total, dups=2 * (WINDOW + MAX_PENDING), late=2 * (WINDOW + MAX_PENDING))
