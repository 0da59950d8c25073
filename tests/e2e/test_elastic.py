"""The elastic offramp end to end against es_standin.py, a stand-in that
implements Elasticsearch's documented _bulk request/response contract (no
Elasticsearch runs here). Each test starts the stand-in and the real binary
on loopback and stops them by pid. Expected response shapes are 0.11's
(src/sink/elastic.rs: build_bulk_success_data / build_bulk_error_data);
unlike 0.11, an event whose item failed is failed, not acked. Waits are on
conditions with bounds."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from conftest import free_port, serve, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable or "/usr/bin/python3"

pytestmark = pytest.mark.timeout(120)


class Standin:
    """es_standin.py in its own process, on a given or a free port; its
    journal survives a kill, as an acknowledged write survives in ES."""

    def __init__(self, tmp_path, port=0):
        self.tmp = tmp_path
        self.data = str(tmp_path / "es.journal")
        self.port = port
        self.p = None
        self.start()

    def start(self):
        portfile = str(self.tmp / "es.port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        args = [PY, os.path.join(HERE, "es_standin.py"), portfile, self.data]
        if self.port:
            args += ["--port", str(self.port)]
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(portfile), 10, "stand-in to listen")
        self.port = int(open(portfile).read())

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as r:
            return json.loads(r.read())

    def docs(self):
        return self.get("/_standin/docs")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(10)


@pytest.fixture
def cleanup():
    things = []
    yield things.append
    for t in reversed(things):
        t.stop()


def lines_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


TAG = """define script tag
script
  let $elastic = {"_index": event.index, "_id": event.doc_id};
  let $correlation = event.id;
  event
end;
create script tag;
select event from in into tag;
select event from tag into out;
"""

CAPTURE = """select {"value": event, "meta": $} from in into out;
"""

LINKED = """onramp:
  - id: cb
    type: cb
    codec: json
    config:
      source: events.json
      timeout: 2000
offramp:
  - id: es
    type: elastic
    linked: true
    config:
      nodes: ["http://127.0.0.1:{port}"]
      concurrency: 2
  - id: ok
    type: file
    codec: json
    config:
      file: ok.json
  - id: bad
    type: file
    codec: json
    config:
      file: bad.json
binding:
  - id: b
    links:
      "/onramp/cb/{{instance}}/out": ["/pipeline/tag/{{instance}}/in"]
      "/pipeline/tag/{{instance}}/out": ["/offramp/es/{{instance}}/in"]
      "/offramp/es/{{instance}}/out": ["/pipeline/okp/{{instance}}/in"]
      "/offramp/es/{{instance}}/err": ["/pipeline/badp/{{instance}}/in"]
      "/pipeline/okp/{{instance}}/out": ["/offramp/ok/{{instance}}/in"]
      "/pipeline/badp/{{instance}}/out": ["/offramp/bad/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def test_items_ack_fail_and_linked_responses(tmp_path, cleanup):
    es = Standin(tmp_path)
    cleanup(es)
    n = 20
    failing = {3, 7}          # the stand-in fails these items (mapper_parsing_exception)
    no_index = {11}           # no $elastic._index: never a request (Invalid ES Payload)
    with open(tmp_path / "events.json", "w") as f:
        for i in range(n):
            ev = {"id": i, "doc_id": str(i), "index": None if i in no_index else "tremor"}
            if i in failing:
                ev["es_fail"] = "failed to parse field [id] of type [long]"
            f.write(json.dumps(ev) + "\n")
    (tmp_path / "tag.trickle").write_text(TAG)
    (tmp_path / "okp.trickle").write_text(CAPTURE)
    (tmp_path / "badp.trickle").write_text(CAPTURE)
    (tmp_path / "config.yaml").write_text(LINKED.format(port=es.port))
    srv = serve(tmp_path, ["tag.trickle", "okp.trickle", "badp.trickle", "config.yaml"])
    cleanup(srv)
    # the cb onramp stops the server once its timeout after the last line passed
    assert srv.p.wait(60) == 0, srv.text()   # every event answered (the cb onramp's verdict)
    text = srv.text()
    good = n - len(failing) - len(no_index)
    # every event answered; the failed items' events failed (0.11 acked them)
    assert re.search(r"%d sent, %d acks, %d fails" % (n, good, len(failing) + len(no_index)), text), text
    docs = es.docs()
    assert sorted(int(d["_id"]) for d in docs) == sorted(set(range(n)) - failing - no_index)
    assert all(d["_index"] == "tremor" and d["_source"]["id"] == int(d["_id"]) for d in docs)
    ok = wait_until(lambda: len(lines_of(tmp_path / "ok.json")) >= good and lines_of(tmp_path / "ok.json"),
                    10, "success responses", srv.text)
    bad = wait_until(lambda: len(lines_of(tmp_path / "bad.json")) >= 3 and lines_of(tmp_path / "bad.json"),
                     10, "error responses", srv.text)
    assert len(ok) == good and len(bad) == 3
    # out: {source {event_id, origin}, payload, success: true} with $elastic and $correlation
    for r in ok:
        v, m = r["value"], r["meta"]
        i = v["payload"]["id"]
        assert set(v) == {"source", "payload", "success"} and v["success"] is True
        assert re.fullmatch(r"\d+:\d+:\d+", v["source"]["event_id"]) and v["source"]["origin"] is None
        assert m["correlation"] == i
        assert m["elastic"] == {"_id": str(i), "_index": "tremor", "_type": "_doc", "id": str(i),
                                "index": "tremor", "doc_type": "_doc", "version": 1}
    # err: the failed items, {source, payload, error (ES's error object), success: false}
    items = sorted((r for r in bad if "elastic" in r["meta"]), key=lambda r: r["meta"]["correlation"])
    assert [r["meta"]["correlation"] for r in items] == sorted(failing)
    for r in items:
        v, m = r["value"], r["meta"]
        i = m["correlation"]
        assert set(v) == {"source", "payload", "error", "success"} and v["success"] is False
        assert v["payload"]["id"] == i
        assert v["error"]["type"] == "mapper_parsing_exception"
        assert v["error"]["reason"] == "failed to parse field [id] of type [long]"
        assert m["elastic"] == {"_id": str(i), "_index": "tremor", "_type": "_doc", "id": str(i),
                                "index": "tremor", "doc_type": "_doc"}
    # the event that could not become a request: 0.11's "Invalid ES Payload" error
    (inv,) = [r for r in bad if "elastic" not in r["meta"]]
    assert inv["value"]["success"] is False
    assert inv["value"]["error"] == "Invalid ES Payload: 'index' not set for elastic offramp!"
    assert inv["value"]["payload"]["id"] == 11 and inv["meta"]["correlation"] == 11


WAL = """define qos::wal operator w
with
  read_count = 50,
  max_elements = 100000
end;
create operator w;
define script tag
script
  let $elastic = {{"_index": "tremor", "_id": event.doc_id}};
  event
end;
create script tag;
select event from in into w;
select event from w into tag;
select event from tag into {batch};
{batch_stmt}"""

BATCH = """define generic::batch operator bat
with
  count = {count},
  timeout = 200
end;
create operator bat;
select event from bat into out;
"""

RELAY = """onramp:
  - id: in
    type: tcp
    codec: json
    preprocessors: [lines]
    config:
      host: 127.0.0.1
      port: {in_port}
offramp:
  - id: es
    type: elastic
    config:
      nodes: ["http://127.0.0.1:{port}"]
      concurrency: 4
      timeout_ms: 2000
      backoff_ms: 20
      max_backoff_ms: 200
      max_retries: 1
      breaker_threshold: 2
      breaker_ms: 200
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/relay/{{instance}}/in"]
      "/pipeline/relay/{{instance}}/out": ["/offramp/es/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def start_relay(tmp_path, es_port, batch=0):
    in_port = free_port()
    stmt = BATCH.format(count=batch) if batch else ""
    (tmp_path / "relay.trickle").write_text(WAL.format(batch="bat" if batch else "out", batch_stmt=stmt))
    (tmp_path / "config.yaml").write_text(RELAY.format(in_port=in_port, port=es_port))
    srv = serve(tmp_path, ["relay.trickle", "config.yaml"])
    wait_until(lambda: "listening" in srv.text() or srv.p.poll() is not None, 20, "tcp onramp", srv.text)
    assert srv.p.poll() is None, srv.text()
    return srv, in_port


class Sender:
    """Sends ids first..last-1 as JSON lines from a thread, in chunks."""

    def __init__(self, port, first, last, chunk=50):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.t = threading.Thread(target=self._run, args=(first, last, chunk), daemon=True)
        self.t.start()

    def _run(self, first, last, chunk):
        for a in range(first, last, chunk):
            b = min(a + chunk, last)
            self.sock.sendall("".join('{"id":%d,"doc_id":"%d"}\n' % (i, i) for i in range(a, b)).encode())

    def join(self):
        self.t.join(60)
        self.sock.close()


def distinct_ids(es):
    try:
        return {int(d["_id"]) for d in es.docs()}
    except OSError:
        return set()


def test_starts_while_es_is_down_then_delivers_everything(tmp_path, cleanup):
    es_port = free_port()
    srv, in_port = start_relay(tmp_path, es_port)
    cleanup(srv)
    n = 300
    s = Sender(in_port, 0, n)
    s.join()
    # nobody listens: requests fail, the breaker opens, the server keeps running
    wait_until(lambda: "circuit breaker triggered" in srv.text(), 20, "the breaker to open", srv.text)
    assert srv.p.poll() is None, srv.text()
    es = Standin(tmp_path, es_port)
    cleanup(es)
    wait_until(lambda: distinct_ids(es) == set(range(n)), 60, "every event in the stand-in",
               lambda: "%d of %d; %s" % (len(distinct_ids(es)), n, srv.text()[-2000:]))
    assert srv.p.poll() is None


def test_es_killed_mid_stream_loses_nothing(tmp_path, cleanup):
    es = Standin(tmp_path)
    cleanup(es)
    srv, in_port = start_relay(tmp_path, es.port)
    cleanup(srv)
    n = 5000
    s = Sender(in_port, 0, n, chunk=20)
    wait_until(lambda: len(distinct_ids(es)) >= 200, 30, "some documents", srv.text)
    es.kill()
    wait_until(lambda: "circuit breaker triggered" in srv.text(), 20, "the breaker to open", srv.text)
    s.join()
    with open(es.data) as f:
        before = {int(json.loads(line)["_id"]) for line in f if line.endswith("\n")}
    assert 200 <= len(before) < n, len(before)   # killed mid-stream indeed
    es.start()   # same port, same journal: what it acknowledged before is kept
    wait_until(lambda: distinct_ids(es) == set(range(n)), 90, "every event in the stand-in",
               lambda: "%d of %d; %s" % (len(distinct_ids(es)), n, srv.text()[-2000:]))


def test_a_batch_is_one_bulk_request(tmp_path, cleanup):
    es = Standin(tmp_path)
    cleanup(es)
    srv, in_port = start_relay(tmp_path, es.port, batch=10)
    cleanup(srv)
    n = 100
    s = Sender(in_port, 0, n, chunk=100)
    s.join()
    wait_until(lambda: distinct_ids(es) == set(range(n)), 30, "every event in the stand-in", srv.text)
    st = es.get("/_standin/stats")
    assert st["items"] == n
    assert st["requests"] <= n // 10 + 2, st   # whole batches, a partial one at most on timeout
