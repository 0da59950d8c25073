"""The nats onramp and offramp against real nats-server processes (Debian's),
started here on loopback with free ports and temp dirs, driven by tool_nats
(an independent libnats peer): core NATS relay with headers and a queue
group; JetStream relay through qos::wal with tremor SIGKILLed mid-stream
(every id arrives, duplicates bounded); a 3-node JetStream cluster (replicas
3) with one node killed mid-stream (nothing lost)."""
import json
import os
import signal
import subprocess
import threading

import pytest

from conftest import TREMOR, free_port, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "e2e", "tool_nats")
NATS_SERVER = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"

WAL_QUERY = """define qos::wal operator relay_wal
with
  read_count = 1000,
  max_elements = 1000000,
  sync = "always"
end;
create operator relay_wal;
select event from in into relay_wal;
select event from relay_wal into out;
"""


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


class Tremor:
    def __init__(self, cwd, query="relay.trickle"):
        self.p = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f", query, "config.yaml"],
                                  cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err = []
        threading.Thread(target=lambda: [self.err.append(l) for l in self.p.stderr], daemon=True).start()
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def log(self):
        return "".join(self.err[-40:])

    def has(self, text):
        return any(text in l for l in self.err)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(30)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


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


def count(url, stream):
    return int(ask("count", url, stream).strip())


def js_relay(tmp_path, urls, n, kill_midway):
    hosts = [u.replace("nats://", "") for u in urls]
    (tmp_path / "relay.trickle").write_text(WAL_QUERY)
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "stream": "SRC",
                "durable": "relay", "batch": 100, "window": 500, "ack_wait": 10000}),
        indent({"hosts": hosts, "subject": "dst.events", "jetstream": True, "max_pending": 128})))
    url = ",".join(urls)
    t = Tremor(tmp_path)
    try:
        if kill_midway:
            wait_until(lambda: count(url, "DST") >= n // 4, timeout=60, what="a quarter relayed",
                       detail=t.log)
            t.kill()
            assert count(url, "DST") < n, "the kill came too late to test anything"
            t = Tremor(tmp_path)
        wait_until(lambda: count(url, "DST") >= n and len(set(ids_in(url, "DST"))) == n, timeout=180,
                   what="every id in DST", detail=lambda: "DST holds %d\n%s" % (count(url, "DST"), t.log()))
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
    total = 20000
    tool("pub", n.url, "src.events", 0, total, "js")
    dups = js_relay(tmp_path, [n.url], total, kill_midway=True)
    # redelivered: at most what was fetched and not yet acked (window) plus
    # what the WAL had not yet seen acked downstream (max_pending, read_count)
    # every message of SRC was acked to JetStream, once the WAL had it:
    # nothing more can be redelivered, so the duplicates are final
    wait_until(lambda: ask("consumer", n.url, "SRC", "relay").split()[:2] == ["0", "0"], timeout=30,
               what="the consumer to have nothing pending")
    dups = len(ids_in(n.url, "DST")) - total
    assert dups <= 500 + 128 + 1000, dups
    print("jetstream relay, tremor SIGKILLed: %d duplicates of %d" % (dups, total))


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
    total = 10000
    pub = subprocess.Popen([TOOL, "pub", url, "src.events", "0", str(total), "js"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    hosts = [u.replace("nats://", "") for u in urls]
    (tmp_path / "relay.trickle").write_text(WAL_QUERY)
    (tmp_path / "config.yaml").write_text(relay_config(
        indent({"hosts": hosts, "subject": "src.events", "jetstream": True, "stream": "SRC",
                "durable": "relay", "batch": 100, "window": 500, "ack_wait": 10000}),
        indent({"hosts": hosts, "subject": "dst.events", "jetstream": True, "max_pending": 128})))
    t = Tremor(tmp_path)
    try:
        live = url
        wait_until(lambda: count(live, "DST") >= total // 5, timeout=90, what="a fifth relayed",
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
        dups = len(ids_in(live, "DST")) - total
        print("3-node cluster, leader %s killed: %d duplicates of %d" % (leader, dups, total))
        assert t.stop() == 0, t.log()
    finally:
        t.kill()
        pub.kill()
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
