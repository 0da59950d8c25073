"""The REST API's artefact routes, /ready, /status and /metrics against the
real binary: every 0.11 path and method, content negotiation, 0.11's status
codes and error bodies, and publish/bind/unbind/unpublish of the WAL
tutorial's pipeline while events flow, with the receiver's counts checked
against what the onramp sent.

Expected shapes and codes are Tremor 0.11.12's (tremor-api/src/api/
onramp.rs, offramp.rs, pipeline.rs, binding.rs, errors.rs; src/config.rs
for the serialised artefacts). /ready, /status and /metrics are ours.
"""
import http.client
import json
import re
import signal
import socket
import subprocess
import threading

import pytest

from conftest import TREMOR, WsServer, free_port, wait_until

QUERY = "select event from in into out;\n"
CONFIG = """onramp:
  - id: m
    type: metronome
    config:
      interval: 100000
offramp:
  - id: out
    type: blackhole
binding:
  - id: b
    links:
      "/onramp/m/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""

# The persistent-WAL tutorial (docs: "Persistent Write-Ahead Log"), its
# pipeline given an id so it can be posted.
WAL_QUERY = """#!config id = "{id}"
use tremor::system;

define qos::wal operator on_disk_wal
with
  read_count = 20,
  max_elements = 1000,
  max_bytes = 10485760
end;

create operator on_disk_wal;

select patch event of
  insert hostname = system::hostname()
end
from in into on_disk_wal;

select event from on_disk_wal into out;
"""


class Server:
    """tremor server run -f FILES (none: no -f) ARGS, with the API on a free
    port; stderr is collected (log())."""

    def __init__(self, tmp_path, files, args=()):
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        self.port = free_port()
        self.p = subprocess.Popen([TREMOR, "server", "run", "--api-host", "127.0.0.1:%d" % self.port,
                                   *(["-f", *files.keys()] if files else []), *args], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.err = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: "running (instance" in self.log() or self.p.poll() is not None,
                   what="server start", detail=self.log)
        assert self.p.poll() is None, self.log()

    def _read(self):
        for line in self.p.stderr:
            with self.lock:
                self.err.append(line.rstrip("\n"))

    def log(self):
        with self.lock:
            return "\n".join(self.err)

    def req(self, method, path, body=None, ctype=None, accept=None):
        h = {}
        if ctype:
            h["Content-Type"] = ctype
        if accept:
            h["Accept"] = accept
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.getheader("content-type"), r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, **kw):
        st, ct, data = self.req(method, path, body, **kw)
        return st, (json.loads(data) if data else None)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(30)


@pytest.fixture
def server(tmp_path):
    made = []

    def start(files, args=()):
        s = Server(tmp_path, files, args)
        made.append(s)
        return s

    yield start
    for s in made:
        if s.p.poll() is None:
            s.p.kill()
            s.p.wait()


def basic(server):
    return server({"q.trickle": QUERY, "c.yaml": CONFIG})


def assert_error(st, body, code):
    assert st == code, (st, body)
    assert set(body) == {"code", "error"} and body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]


def test_lists_and_fetches_have_011s_shapes(server):
    s = basic(server)
    assert s.json("GET", "/onramp") == (200, ["m"])
    assert s.json("GET", "/offramp") == (200, ["system::stdout", "system::stderr", "out"])
    assert s.json("GET", "/pipeline") == (200, ["system::metrics", "system::passthrough", "q"])
    assert s.json("GET", "/binding") == (200, ["b"])
    # OnRamp in serde's order: id, type, description, linked, err_required,
    # then the optional fields that were given
    st, v = s.json("GET", "/onramp/m")
    assert st == 200
    assert v == {"artefact": {"id": "m", "type": "metronome", "description": "", "linked": False,
                              "err_required": False, "config": {"interval": 100000}},
                 "instances": ["01"]}
    assert list(v["artefact"]) == ["id", "type", "description", "linked", "err_required", "config"]
    st, v = s.json("GET", "/offramp/out")
    assert st == 200 and v == {"artefact": {"id": "out", "type": "blackhole", "description": "",
                                            "linked": False}, "instances": ["01"]}
    st, v = s.json("GET", "/binding/b")
    assert st == 200 and v["instances"] == ["01"]
    assert v["artefact"] == {"id": "b", "description": "", "links": {
        "/onramp/m/{instance}/out": ["/pipeline/q/{instance}/in"],
        "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]}}
    # the binding instance: placeholders filled in
    st, v = s.json("GET", "/binding/b/01")
    assert st == 200 and v["links"] == {"/onramp/m/01/out": ["/pipeline/q/01/in"],
                                        "/pipeline/q/01/out": ["/offramp/out/01/in"]}
    # a pipeline is its source: a JSON string, or trickle with its instances
    assert s.json("GET", "/pipeline/q") == (200, QUERY)
    st, ct, body = s.req("GET", "/pipeline/q", accept="application/vnd.trickle")
    assert st == 200 and ct == "application/vnd.trickle"
    assert body.decode() == QUERY + "\n# Instances:\n#  * 01"
    # YAML by Accept
    st, ct, body = s.req("GET", "/onramp", accept="application/yaml")
    assert st == 200 and ct == "application/yaml" and body.decode() == "---\n- m\n"
    for kind in ("onramp", "offramp", "pipeline", "binding"):
        st, v = s.json("GET", "/%s/nope" % kind)
        assert_error(st, v, 404)
        assert v["error"] == "Artefact not found"
    assert_error(*s.json("GET", "/binding/b/02"), 404)


def test_publish_conflicts_and_bad_bodies(server):
    s = basic(server)
    st, v = s.json("POST", "/onramp", {"id": "m2", "type": "metronome", "config": {"interval": 50}})
    assert st == 201 and v == {"id": "m2", "type": "metronome", "description": "", "linked": False,
                               "err_required": False, "config": {"interval": 50}}
    st, v = s.json("POST", "/offramp", "id: o2\ntype: blackhole\ndescription: two\n",
                   ctype="application/yaml")
    assert st == 201 and v["id"] == "o2" and v["description"] == "two"
    assert s.json("GET", "/onramp")[1] == ["m", "m2"]
    assert s.json("GET", "/offramp")[1] == ["system::stdout", "system::stderr", "out", "o2"]
    # the id is taken: 409 with 0.11's text
    st, v = s.json("POST", "/onramp", {"id": "m", "type": "metronome"})
    assert_error(st, v, 409)
    assert v["error"] == "A resource with the requested ID already exists"
    # no or another content type: 415
    assert_error(*s.json("POST", "/onramp", '{"id":"x","type":"metronome"}'), 415)
    assert_error(*s.json("POST", "/onramp", '{"id":"x"}', ctype="text/plain"), 415)
    assert_error(*s.json("POST", "/pipeline", QUERY, ctype="application/json"), 415)
    # malformed bodies, wrong shapes, unknown types: 400
    assert_error(*s.json("POST", "/onramp", '{"id":', ctype="application/json"), 400)
    assert_error(*s.json("POST", "/onramp", "id: [", ctype="application/yaml"), 400)
    assert_error(*s.json("POST", "/onramp", [1, 2]), 400)
    assert_error(*s.json("POST", "/onramp", {"type": "metronome"}), 400)
    st, v = s.json("POST", "/onramp", {"id": "x", "type": "nosuch"})
    assert_error(st, v, 400)
    assert "nosuch" in v["error"]
    assert_error(*s.json("POST", "/binding", {"id": "bx", "links": {"not a url": ["/x"]}}), 400)
    assert_error(*s.json("POST", "/pipeline", "select nope from", ctype="application/vnd.trickle"), 400)
    # a pipeline needs #!config id (0.11: 422)
    assert_error(*s.json("POST", "/pipeline", QUERY, ctype="application/vnd.trickle"), 422)
    st, ct, body = s.req("POST", "/pipeline", '#!config id = "p2"\n' + QUERY,
                         ctype="application/vnd.trickle", accept="application/vnd.trickle")
    assert st == 201 and ct == "application/vnd.trickle"
    assert body.decode() == '#!config id = "p2"\n' + QUERY
    assert_error(*s.json("POST", "/pipeline", '#!config id = "q"\n' + QUERY,
                         ctype="application/vnd.trickle"), 409)
    # nothing failed half-way: the lists hold exactly what was accepted
    assert s.json("GET", "/pipeline")[1] == ["system::metrics", "system::passthrough", "q", "p2"]
    assert s.json("GET", "/onramp")[1] == ["m", "m2"]
    assert s.json("GET", "/binding")[1] == ["b"]


def test_unpublish_in_use_then_free(server):
    s = basic(server)
    for path in ("/onramp/m", "/offramp/out", "/pipeline/q", "/binding/b"):
        st, v = s.json("DELETE", path)
        assert_error(st, v, 409)
        assert v["error"] == "Resource still has active instances"
    # unbind: 204 and no body, as 0.11's code answers
    st, ct, body = s.req("DELETE", "/binding/b/01")
    assert st == 204 and body == b""
    assert_error(*s.json("DELETE", "/binding/b/01"), 404)
    assert s.json("GET", "/onramp/m")[1]["instances"] == []
    assert s.json("GET", "/binding/b")[1]["instances"] == []
    # now each goes, answered with what it was
    st, v = s.json("DELETE", "/binding/b")
    assert st == 200 and v["id"] == "b" and "links" in v
    st, v = s.json("DELETE", "/onramp/m")
    assert st == 200 and v["id"] == "m" and v["type"] == "metronome"
    assert s.json("DELETE", "/offramp/out")[0] == 200
    assert s.json("DELETE", "/pipeline/q") == (200, QUERY)
    for kind in ("onramp", "offramp", "pipeline", "binding"):
        # the built-ins stay, and cannot go (0.11: 403)
        builtin = {"pipeline": ["system::metrics", "system::passthrough"],
                   "offramp": ["system::stdout", "system::stderr"]}
        assert s.json("GET", "/" + kind) == (200, builtin.get(kind, []))
        assert_error(*s.json("DELETE", "/%s/x" % kind), 404)
    st, v = s.json("DELETE", "/pipeline/system::metrics")
    assert_error(st, v, 403)
    assert v["error"] == "System artefacts cannot be unpublished"
    # every id may be published again, and deployed again
    assert s.json("POST", "/onramp", {"id": "m", "type": "metronome", "config": {"interval": 1000}})[0] == 201
    assert s.json("POST", "/offramp", {"id": "out", "type": "blackhole"})[0] == 201
    assert s.json("POST", "/pipeline", '#!config id = "q"\n' + QUERY, ctype="application/vnd.trickle")[0] == 201
    st, v = s.json("POST", "/binding", "id: b\nlinks:\n  /onramp/m/{instance}/out: ['/pipeline/q/{instance}/in']\n"
                   "  /pipeline/q/{instance}/out: ['/offramp/out/{instance}/in']\n", ctype="application/yaml")
    assert st == 201, v
    assert s.json("POST", "/binding/b/01", {})[0] == 201
    assert s.json("GET", "/onramp/m")[1]["instances"] == ["01"]
    assert s.json("GET", "/onramp")[1] == ["m"]
    assert s.req("DELETE", "/binding/b/01")[0] == 204
    assert s.json("DELETE", "/binding/b")[0] == 200
    # a binding instance of a binding that is not published
    assert_error(*s.json("POST", "/binding/b/01", {"instance": "01"}), 404)
    # bad mappings: not a record, a non-string value
    s.json("POST", "/binding", {"id": "b3", "links": {}})
    assert_error(*s.json("POST", "/binding/b3/01", [1]), 400)
    assert_error(*s.json("POST", "/binding/b3/01", {"instance": 1}), 400)
    assert s.stop() == 0, s.log()


def test_ready_status_and_metrics_shapes(server):
    s = basic(server)
    st, v = s.json("GET", "/ready")
    assert (st, v) == (200, {"ready": True})
    st, v = s.json("GET", "/status")
    assert st == 200 and v["ready"] is True and v["not_ready"] == []
    assert [o["url"] for o in v["onramps"]] == ["/onramp/m/01"]
    assert [o["url"] for o in v["offramps"]] == ["/offramp/out/01"]
    assert [o["url"] for o in v["pipelines"]] == ["/pipeline/q/01"]
    st, ct, body = s.req("GET", "/metrics")
    assert st == 200 and ct.startswith("text/plain")
    text = body.decode()
    # every sample line is NAME{labels} VALUE and every name has one TYPE
    types = re.findall(r"^# TYPE (\S+) (counter|gauge)$", text, re.M)
    assert len(types) == len({t[0] for t in types})
    for line in text.splitlines():
        if not line.startswith("#"):
            assert re.fullmatch(r'[a-z_0-9]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \d+(\.\d+)?',
                                line), line
    assert 'tremor_offramp_connected{ramp="/offramp/out/01"} 1' in text
    assert "tremor_ready 1" in text


def metric(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(want)), text, re.M)
    return int(m.group(1)) if m else None


def test_metrics_under_load_match_events_sent(server):
    in_port = free_port()
    cfg = """onramp:
  - id: in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: %d
offramp:
  - id: out
    type: blackhole
binding:
  - id: b
    links:
      "/onramp/in/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
""" % in_port
    s = server({"q.trickle": QUERY, "c.yaml": cfg})
    n = 200000
    done = threading.Event()

    def send():
        with socket.create_connection(("127.0.0.1", in_port), timeout=10) as k:
            for i in range(0, n, 500):
                k.sendall("".join('{"i":%d}\n' % j for j in range(i, i + 500)).encode())
        done.set()

    threading.Thread(target=send, daemon=True).start()
    scrapes = []
    while not done.is_set() or len(scrapes) < 3:
        st, ct, body = s.req("GET", "/metrics")
        assert st == 200
        t = body.decode()
        scrapes.append((metric(t, "tremor_ramp_events_total", ramp="/onramp/in/01", port="out"),
                        metric(t, "tremor_pipeline_events_total", pipeline="/pipeline/q/01",
                               direction="input"),
                        metric(t, "tremor_ramp_events_total", ramp="/offramp/out/01", port="in")))
    # counters never go back, and one snapshot is consistent: what the
    # onramp sent is what the pipeline took is what reached the offramp
    for a, b in zip(scrapes, scrapes[1:]):
        assert all(x <= y for x, y in zip(a, b)), (a, b)
    for on, pin, off in scrapes:
        assert on == pin == off, scrapes
    final = wait_until(lambda: (lambda t: t if metric(t, "tremor_ramp_events_total",
                                                      ramp="/onramp/in/01", port="out") == n else None)
                       (s.req("GET", "/metrics")[2].decode()), what="%d events counted" % n)
    assert metric(final, "tremor_pipeline_events_total", pipeline="/pipeline/q/01", direction="input") == n
    assert metric(final, "tremor_pipeline_events_total", pipeline="/pipeline/q/01", direction="output") == n
    assert metric(final, "tremor_ramp_events_total", ramp="/offramp/out/01", port="in") == n
    assert metric(final, "tremor_ramp_events_total", ramp="/onramp/in/01", port="error") == 0
    st, v = s.json("GET", "/status")
    assert v["onramps"][0]["events_out"] == n and v["pipelines"][0]["events_in"] == n


def test_tutorial_pipeline_published_bound_unbound_unpublished_while_running(server, tmp_path):
    """The WAL tutorial runs from files; over the API a second copy of its
    pipeline is published and bound beside it on the same metronome and ws
    offramp, then the first is unbound and unpublished - all while the
    metronome ticks. Every id the metronome sent reaches the receiver."""
    ws_port = free_port()
    rx = WsServer(ws_port).start()
    cfg = """onramp:
  - id: metronome
    type: metronome
    config:
      interval: 10
offramp:
  - id: ws
    type: ws
    config:
      url: ws://127.0.0.1:%d/
binding:
  - id: default
    links:
      "/onramp/metronome/{instance}/out": ["/pipeline/main/{instance}/in"]
      "/pipeline/main/{instance}/out": ["/offramp/ws/{instance}/in"]
mapping:
  /binding/default/01:
    instance: "01"
""" % ws_port
    s = server({"main.trickle": WAL_QUERY.format(id="main"), "config.yaml": cfg})
    try:
        wait_until(lambda: len(rx.received()) >= 10, what="first events")
        st, _ = s.json("POST", "/pipeline", WAL_QUERY.format(id="main2"),
                       ctype="application/vnd.trickle")
        assert st == 201
        st, _ = s.json("POST", "/binding", {"id": "alt", "links": {
            "/onramp/metronome/{instance}/out": ["/pipeline/main2/{instance}/in"],
            "/pipeline/main2/{instance}/out": ["/offramp/ws/{instance}/in"]}})
        assert st == 201
        st, v = s.json("POST", "/binding/alt/01", {"instance": "01"})
        assert st == 201 and v["links"]["/pipeline/main2/01/out"] == ["/offramp/ws/01/in"]
        # both copies deliver: ids now arrive twice
        wait_until(lambda: any(c > 1 for c in counts(rx).values()), what="events through both")
        assert s.json("GET", "/onramp/metronome")[1]["instances"] == ["01"]
        st, ct, body = s.req("DELETE", "/binding/default/01")
        assert st == 204, body
        assert s.json("DELETE", "/pipeline/main")[0] == 200
        assert s.json("DELETE", "/binding/default")[0] == 200
        assert s.json("GET", "/pipeline") == (200, ["system::metrics", "system::passthrough", "main2"])
        got = len(rx.received())
        wait_until(lambda: len(rx.received()) >= got + 20, what="events after the change")
        assert s.json("GET", "/ready")[0] == 200
        # the onramp's own count against the receiver: every id it sent
        # (0 .. sent-1) arrives, none lost across the change
        sent = s.json("GET", "/status")[1]["onramps"][0]["events_out"]
        wait_until(lambda: set(range(sent)) <= set(counts(rx)),
                   what="ids 0..%d at the receiver" % (sent - 1),
                   detail=lambda: "missing %s" % sorted(set(range(sent)) - set(counts(rx)))[:20])
        # the WAL's own numbers: what it emitted was made durable first
        text = s.req("GET", "/metrics")[2].decode()
        lab = dict(pipeline="/pipeline/main2/01", node="on_disk_wal")
        emitted = metric(text, "tremor_qos_wal_emitted_total", **lab)
        assert emitted and emitted > 0, text
        assert metric(text, "tremor_qos_wal_fdatasyncs_total", **lab) > 0
        assert metric(text, "tremor_qos_wal_durable_latency_seconds_count", **lab) >= emitted
        assert metric(text, "tremor_qos_wal_lost_total", **lab) == 0
        assert metric(text, "tremor_qos_wal_records", **lab) is not None
        assert metric(text, "tremor_qos_wal_spares", **lab) is not None
        assert metric(text, "tremor_qos_wal_recycled_total", **lab) is not None
        assert s.stop() == 0, s.log()
    finally:
        rx.stop()


def counts(rx):
    c = {}
    for m in rx.received():
        c[m["id"]] = c.get(m["id"], 0) + 1
    return c


METRICS_QUERY = """#!config metrics_interval_s = 1
select event from in into out;
"""


def test_system_metrics_pipeline_to_a_file_offramp(server, tmp_path):
    """0.11's system::metrics: every pipeline's metrics port and the
    ramp_events of artefacts with metrics_interval_s go into it; a binding
    links its out to a file offramp. Shapes are 0.11's influx records
    (breadth reference 5.2). An idle onramp still reports (beyond 0.11)."""
    idle_port = free_port()
    cfg = """onramp:
  - id: m
    type: metronome
    metrics_interval_s: 1
    config:
      interval: 20
  - id: idle
    type: tcp
    codec: json
    preprocessors: [lines]
    metrics_interval_s: 1
    config:
      host: 127.0.0.1
      port: %d
offramp:
  - id: out
    type: blackhole
    metrics_interval_s: 1
  - id: mfile
    type: file
    codec: json
    config:
      file: metrics.log
binding:
  - id: b
    links:
      "/onramp/m/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/onramp/idle/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
  - id: sys
    links:
      "/pipeline/system::metrics/system/out": ["/offramp/mfile/system/in"]
mapping:
  /binding/b/01:
    instance: "01"
  /binding/sys/system:
    instance: "system"
""" % idle_port
    s = server({"q.trickle": METRICS_QUERY, "c.yaml": cfg})
    log = tmp_path / "metrics.log"

    def records():
        if not log.exists():
            return []
        return [json.loads(l) for l in log.read_text().splitlines() if l.endswith("}")]

    def ramp(recs, url, port):
        return [r for r in recs if r["measurement"] == "ramp_events"
                and r["tags"] == {"ramp": url, "port": port}]

    idle = "tremor://localhost/onramp/idle/01"
    recs = wait_until(lambda: (lambda r: r if len(ramp(r, idle, "out")) >= 2 and
                               any(x["measurement"] == "events" for x in r) else None)(records()),
                      timeout=30, what="two idle reports and node metrics")
    for r in recs:
        assert set(r) == {"measurement", "tags", "fields", "timestamp"}, r
        assert set(r["fields"]) == {"count"} and isinstance(r["fields"]["count"], int)
        assert isinstance(r["timestamp"], int) and r["timestamp"] > 1_600_000_000 * 10**9
    # the idle onramp: zero counts, on its interval
    assert all(r["fields"]["count"] == 0 for r in ramp(recs, idle, "out"))
    ts = [r["timestamp"] for r in ramp(recs, idle, "out")]
    assert ts[1] - ts[0] >= 10**9
    # node metrics of the pipeline instance, tagged with its URL
    ev = [r for r in recs if r["measurement"] == "events"]
    assert all(r["tags"]["pipeline"] == "tremor://localhost/pipeline/q/01" for r in ev), ev[:3]
    assert {(r["tags"]["node"], r["tags"]["direction"], r["tags"]["port"]) for r in ev} >= {
        ("in", "output", "out"), ("out", "input", "in")}
    # counts are cumulative and agree with each other at one report
    outs = ramp(recs, "tremor://localhost/onramp/m/01", "out")
    assert [r["fields"]["count"] for r in outs] == sorted(r["fields"]["count"] for r in outs)
    assert ramp(recs, "tremor://localhost/onramp/m/01", "in")[0]["fields"]["count"] == 0
    for o in outs:
        same = [r for r in ramp(recs, "tremor://localhost/offramp/out/01", "in")
                if r["timestamp"] == o["timestamp"]]
        assert same and same[0]["fields"]["count"] == o["fields"]["count"]
    # the same node counts over /status (one snapshot) and /metrics
    p = [x for x in s.json("GET", "/status")[1]["pipelines"] if x["url"] == "/pipeline/q/01"][0]
    node_in = [n for n in p["nodes"] if (n["node"], n["direction"], n["port"]) == ("in", "output", "out")]
    assert node_in and node_in[0]["count"] == p["events_in"], p
    text = s.req("GET", "/metrics")[2].decode()
    assert metric(text, "tremor_pipeline_node_events_total", pipeline="/pipeline/q/01", node="out",
                  direction="input", port="in") is not None
    assert s.stop() == 0, s.log()


def test_unbind_and_rebind_loses_no_event(server, tmp_path):
    """The WAL tutorial split into two bindings: the metronome's link, and
    the pipeline's link to the ws offramp. The first is unbound (the
    onramp closes: what it sent is now exactly the pipeline's events_in),
    then the second while events are still in flight (pipeline and
    offramp retire), then the second is bound again: the pipeline's WAL
    delivers what was not acknowledged. Every id arrives."""
    ws_port = free_port()
    rx = WsServer(ws_port).start()
    cfg = """onramp:
  - id: metronome
    type: metronome
    config:
      interval: 2
offramp:
  - id: ws
    type: ws
    config:
      url: ws://127.0.0.1:%d/
binding:
  - id: src
    links:
      "/onramp/metronome/{instance}/out": ["/pipeline/main/{instance}/in"]
  - id: dst
    links:
      "/pipeline/main/{instance}/out": ["/offramp/ws/{instance}/in"]
mapping:
  /binding/dst/01:
    instance: "01"
  /binding/src/01:
    instance: "01"
""" % ws_port
    s = server({"main.trickle": WAL_QUERY.format(id="main"), "config.yaml": cfg})
    try:
        wait_until(lambda: len(rx.received()) >= 50, what="first events")
        assert s.req("DELETE", "/binding/src/01")[0] == 204
        st = s.json("GET", "/status")[1]
        assert st["onramps"] == []
        sent = st["pipelines"][0]["events_in"]
        assert s.req("DELETE", "/binding/dst/01")[0] == 204
        assert s.json("GET", "/status")[1]["pipelines"] == []
        st, v = s.json("POST", "/binding/dst/01", {"instance": "01"})
        assert st == 201, v
        wait_until(lambda: set(range(sent)) <= set(counts(rx)), what="ids 0..%d" % (sent - 1),
                   detail=lambda: "missing %s" % sorted(set(range(sent)) - set(counts(rx)))[:20])
        assert max(counts(rx)) == sent - 1   # nothing made up
        assert s.stop() == 0, s.log()
    finally:
        rx.stop()


BUCKET_QUERY = """#!config metrics_interval_s = 1
define grouper::bucket operator bucket;
create operator bucket;
define script categorize
script
  let $rate = 5;
  let $class = "c";
  event
end;
create script categorize;
select event from in into categorize;
select event from categorize into bucket;
select event from bucket into out;
"""


def test_grouper_bucket_reports_bucketing(server, tmp_path):
    """0.11's grouper::bucket metrics (breadth reference 5.2): per class,
    {measurement: "bucketing", tags: {pipeline, node, class, action},
    fields: {count}} with action pass or overflow, through system::metrics."""
    cfg = """onramp:
  - id: m
    type: metronome
    config:
      interval: 20
offramp:
  - id: out
    type: blackhole
  - id: mfile
    type: file
    codec: json
    config:
      file: metrics.log
binding:
  - id: b
    links:
      "/onramp/m/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
  - id: sys
    links:
      "/pipeline/system::metrics/system/out": ["/offramp/mfile/system/in"]
mapping:
  /binding/sys/system:
    instance: "system"
  /binding/b/01:
    instance: "01"
"""
    s = server({"q.trickle": BUCKET_QUERY, "c.yaml": cfg})
    log = tmp_path / "metrics.log"

    def bucketing():
        if not log.exists():
            return None
        recs = [json.loads(l) for l in log.read_text().splitlines() if l.endswith("}")]
        b = [r for r in recs if r["measurement"] == "bucketing"]
        return (recs, b) if len({r["timestamp"] for r in b}) >= 2 else None

    recs, b = wait_until(bucketing, timeout=30, what="two bucketing reports")
    for r in b:
        assert r["tags"]["pipeline"] == "tremor://localhost/pipeline/q/01"
        assert r["tags"]["node"] == "bucket" and r["tags"]["class"] == "c"
        assert r["tags"]["action"] in ("pass", "overflow")
        assert set(r["fields"]) == {"count"}
    # at one report: passed + overflowed = what the bucket node took in
    ts = sorted({r["timestamp"] for r in b})[-1]
    at = {r["tags"]["action"]: r["fields"]["count"] for r in b if r["timestamp"] == ts}
    took = [r["fields"]["count"] for r in recs if r["measurement"] == "events" and r["timestamp"] == ts
            and (r["tags"]["node"], r["tags"]["direction"]) == ("bucket", "input")]
    assert took and at["pass"] + at["overflow"] == took[0], (at, took)
    assert at["pass"] > 0 and at["overflow"] > 0   # 50/s against a rate of 5/s
    assert s.stop() == 0, s.log()
