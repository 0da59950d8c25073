"""The spine: server run, config loading, metronome -> query -> ws offramp,
ws onramp -> stdout, and the errors a user meets first."""
import json
import os
import signal
import socket
import subprocess

from conftest import ROOT, TREMOR, WsServer, free_port, run_tremor, wait_until

QUERY = """use tremor::system;
select patch event of insert "hostname" => system::hostname() end from in into out;
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
binding:
  - id: default
    links:
      "/onramp/metronome/{{instance}}/out": ["/pipeline/main/{{instance}}/in"]
      "/pipeline/main/{{instance}}/out": ["/offramp/ws/{{instance}}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""


def write_tutorial(tmp_path, port, interval=50):
    (tmp_path / "main.trickle").write_text(QUERY)
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=port, interval=interval))
    return ["server", "run", "-n", "-f", "main.trickle", "config.yaml"]


def test_metronome_to_independent_ws_server(tmp_path, procs):
    port = free_port()
    srv = WsServer(port).start()
    try:
        t = procs(write_tutorial(tmp_path, port), cwd=tmp_path)
        msgs = wait_until(lambda: len(srv.received()) >= 5 and srv.received(), what="5 events")
        host = socket.gethostname()
        for i, m in enumerate(msgs[:5]):
            assert list(m.keys()) == ["onramp", "ingest_ns", "id", "hostname"], m
            assert m["onramp"] == "metronome"
            assert m["hostname"] == host
            assert isinstance(m["ingest_ns"], int) and m["ingest_ns"] > 1_600_000_000 * 10**9
        ids = [m["id"] for m in msgs]
        assert ids == list(range(len(ids))), ids

        # The receiver goes away and comes back: the offramp reconnects and carries on.
        srv.stop()
        before = len(msgs)
        srv = WsServer(port).start()
        wait_until(lambda: len(srv.received()) >= 3, what="events after reconnect")
        after = [m["id"] for m in srv.received()]
        assert after == sorted(after) and after[0] >= ids[-1], (ids[-1], after)
        assert before > 0
        t.signal(signal.SIGTERM)
        assert t.wait() == 0
    finally:
        srv.stop()


def test_second_tremor_as_receiver(tmp_path, procs):
    port = free_port()
    recv_dir = tmp_path / "recv"
    recv_dir.mkdir()
    ex = os.path.join(ROOT, "examples", "receiver")
    (recv_dir / "passthrough.trickle").write_text(open(os.path.join(ex, "passthrough.trickle")).read())
    (recv_dir / "receiver.yaml").write_text(
        open(os.path.join(ex, "receiver.yaml")).read().replace("port: 8080", "port: %d" % port))
    r = procs(["server", "run", "-n", "-f", "passthrough.trickle", "receiver.yaml"], cwd=recv_dir)
    send_dir = tmp_path / "send"
    send_dir.mkdir()
    s = procs(write_tutorial(send_dir, port), cwd=send_dir)
    got = []
    while len(got) < 5:
        line = r.next_line(timeout=30)
        got.append(json.loads(line))
    assert [m["id"] for m in got] == list(range(5))
    assert all(list(m.keys()) == ["onramp", "ingest_ns", "id", "hostname"] for m in got)
    s.signal(signal.SIGINT)
    assert s.wait() == 0
    r.signal(signal.SIGINT)
    assert r.wait() == 0


def expect_error(tmp_path, files, contents, needles):
    for name, text in zip(files, contents):
        (tmp_path / name).write_text(text)
    res = run_tremor(["server", "run", "-n", "-f"] + files, cwd=tmp_path)
    assert res.returncode == 1, res
    for n in needles:
        assert n in res.stderr, (n, res.stderr)
    return res.stderr


def test_bad_yaml(tmp_path):
    expect_error(tmp_path, ["c.yaml"], ["onramp:\n  - id: x\n    type: [unclosed\n"], ["c.yaml:"])


def test_bad_trickle(tmp_path):
    err = expect_error(tmp_path, ["q.trickle"], ["select event from in into;\n"], ["q.trickle:1:"])
    assert "^" in err


def test_unknown_onramp_type(tmp_path):
    expect_error(tmp_path, ["c.yaml"], ["onramp:\n  - id: x\n    type: nope\n"],
                 ["c.yaml:2:", "onramp 'x': Onramp type nope not known", "metronome"])


def test_unknown_artefact_names_what_is_loaded(tmp_path):
    # The tutorial page links /pipeline/main while its file is persistent.trickle.
    cfg = CONFIG.format(port=free_port(), interval=1000)
    err = expect_error(tmp_path, ["persistent.trickle", "config.yaml"],
                       ["select event from in into out;\n", cfg],
                       ["no pipeline 'main'", "persistent", "config.yaml:"])
    assert ".trickle" in err


def test_unsupported_extension(tmp_path):
    expect_error(tmp_path, ["q.json"], ["{}"], ["unsupported file type", "q.json"])


def test_version_and_help(tmp_path):
    res = run_tremor(["--version"], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("tremor 0.11")
    res = run_tremor(["--help"], cwd=tmp_path)
    assert res.returncode == 0 and "server run" in res.stdout


def test_stdin_to_stdout(tmp_path):
    (tmp_path / "q.trickle").write_text(
        'select merge event of {"seen": true} end from in where event.keep into out;\n')
    (tmp_path / "c.yaml").write_text("""onramp:
  - id: in
    type: stdin
    codec: json
offramp:
  - id: out
    type: stdout
binding:
  - id: b
    links:
      "/onramp/in/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
""")
    p = subprocess.Popen([TREMOR, "server", "run", "-n", "-f", "q.trickle", "c.yaml"], cwd=tmp_path,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        p.stdin.write('{"keep":true,"n":1}\nnot json\n{"keep":false,"n":2}\n\n{"keep":true,"n":3}\n')
        p.stdin.flush()
        first = json.loads(p.stdout.readline())
        second = json.loads(p.stdout.readline())
        assert first == {"keep": True, "n": 1, "seen": True}
        assert second == {"keep": True, "n": 3, "seen": True}
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        assert "cannot decode" in p.stderr.read()   # the bad line is reported, not fatal
    finally:
        if p.poll() is None:
            p.kill()


def test_pidfile_and_instance(tmp_path):
    (tmp_path / "q.trickle").write_text(
        'use tremor::system;\nselect {"instance": system::instance()} from in into out;\n')
    (tmp_path / "c.yaml").write_text("""onramp:
  - id: in
    type: stdin
offramp:
  - id: out
    type: stdout
binding:
  - id: b
    links:
      "/onramp/in/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
""")
    p = subprocess.Popen([TREMOR, "server", "run", "-i", "edge7", "-p", "tremor.pid", "-n",
                          "-f", "q.trickle", "c.yaml"], cwd=tmp_path, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write("{}\n")
        p.stdin.flush()
        assert json.loads(p.stdout.readline()) == {"instance": "edge7"}
        assert (tmp_path / "tremor.pid").read_text().strip() == str(p.pid)
        p.send_signal(signal.SIGINT)
        assert p.wait(20) == 0
        assert not (tmp_path / "tremor.pid").exists()   # removed on a clean exit
    finally:
        if p.poll() is None:
            p.kill()


def test_std_stream_raw(tmp_path):
    # 0.11's stdout/stderr: bytes that are not UTF-8 are written as the list
    # of their values (Rust's debug form) unless `raw: true`.
    (tmp_path / "in.json").write_text('{"a":1}\n')
    (tmp_path / "c.yaml").write_text("""onramp:
  - id: in
    type: file
    config:
      source: in.json
      close_on_done: true
offramp:
  - id: listed
    type: stdout
    postprocessors: [snappy]
    config:
      prefix: "> "
  - id: raw
    type: stderr
    postprocessors: [snappy]
    config:
      raw: true
binding:
  - id: b
    links:
      "/onramp/in/{i}/out": ["/pipeline/system::passthrough/{i}/in"]
      "/pipeline/system::passthrough/{i}/out": ["/offramp/listed/{i}/in", "/offramp/raw/{i}/in"]
mapping:
  /binding/b/01:
    i: "01"
""")
    p = subprocess.run([TREMOR, "server", "run", "-n", "-f", "c.yaml"], cwd=tmp_path,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    line = p.stdout.decode().splitlines()[0]
    assert line.startswith("> [255, 6, 0, 0, 115, 78, 97, 80, 112, 89, "), line
    assert line.endswith("]")
    assert b"\xff\x06\x00\x00sNaPpY" in p.stderr
