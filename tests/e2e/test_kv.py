"""kv offramp end to end: commands read from a file onramp go through a
pipeline (which sets $correlation) into a linked kv offramp; its responses
(out and err) come back through a second pipeline into a file offramp. A
second run on the same directory sees what the first one committed."""
import json
import os

from conftest import run_tremor

MAIN = """define script corr
script
  let $correlation = event.id;
  event.cmd
end;
create script corr;
select event from in into corr;
select event from corr into out;
"""

BACK = """select {"corr": $correlation, "op": $kv.op, "res": event} from in into out;
"""

CONFIG = """onramp:
  - id: cmds
    type: file
    config:
      source: {cmds}
      close_on_done: true
offramp:
  - id: store
    type: kv
    linked: true
    config:
      dir: db
      max_scan: 100
  - id: out
    type: file
    config:
      file: {out}
binding:
  - id: b
    links:
      "/onramp/cmds/{{instance}}/out": ["/pipeline/main/{{instance}}/in"]
      "/pipeline/main/{{instance}}/out": ["/offramp/store/{{instance}}/in"]
      "/offramp/store/{{instance}}/out": ["/pipeline/back/{{instance}}/in"]
      "/offramp/store/{{instance}}/err": ["/pipeline/back/{{instance}}/in"]
      "/pipeline/back/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def run(tmp_path, name, cmds, config=CONFIG):
    (tmp_path / "main.trickle").write_text(MAIN)
    (tmp_path / "back.trickle").write_text(BACK)
    (tmp_path / (name + ".json")).write_text("".join(json.dumps({"id": i, "cmd": c}) + "\n"
                                                     for i, c in enumerate(cmds)))
    (tmp_path / "config.yaml").write_text(config.format(cmds=name + ".json", out=name + ".out"))
    p = run_tremor(["server", "run", "-n", "-f", "main.trickle", "back.trickle", "config.yaml"], tmp_path,
                   timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in (tmp_path / (name + ".out")).read_text().splitlines()]
    assert len(lines) == len(cmds), lines
    return {l["corr"]: l for l in lines}, p.stderr


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def test_commands_and_restart(tmp_path):
    got, _ = run(tmp_path, "first", [
        {"put": {"key": "user:1", "value": {"name": "ann", "n": [1, 2]}}},
        {"put": {"key": "user:2", "value": "bob"}},
        {"put": {"key": "user:2", "value": "bea"}},
        {"get": {"key": "user:1"}},
        {"scan": {"start": "user:", "end": "user;"}},
        {"cas": {"key": "user:2", "old": "bob", "new": "x"}},
        {"cas": {"key": "count", "new": 1}},
        {"delete": {"key": "nothing"}},
        {"frob": {"key": "a"}},
        {"put": {"key": "a"}},
    ])
    assert got[0] == {"corr": 0, "op": "put", "res": {"ok": {"key": b64("user:1"), "value": None}}}
    assert got[2]["res"] == {"ok": {"key": b64("user:2"), "value": "bob"}}
    assert got[3] == {"corr": 3, "op": "get",
                      "res": {"ok": {"key": b64("user:1"), "value": {"name": "ann", "n": [1, 2]}}}}
    assert got[4]["res"] == {"ok": [{"key": b64("user:1"), "value": {"name": "ann", "n": [1, 2]}},
                                    {"key": b64("user:2"), "value": "bea"}]}
    assert got[5] == {"corr": 5, "op": "cas",
                      "res": {"key": b64("user:2"), "error": {"current": "bea", "proposed": "x"}}}
    assert got[6]["res"] == {"ok": {"key": b64("count"), "value": None}}
    assert got[7]["res"] == {"ok": {"key": b64("nothing"), "value": None}}
    # bad commands: 0.11's error events out of err, op null
    assert got[8] == {"corr": 8, "op": None,
                      "res": {"key": None, "error": 'Invalid KV command: {"frob": Object({"key": String("a")})}'}}
    assert got[9] == {"corr": 9, "op": None, "res": {"key": None, "error": "Missing `value` field"}}
    assert os.path.exists(tmp_path / "db" / "data.mdb")

    # a new server on the same directory: what was committed is there
    got, _ = run(tmp_path, "second", [
        {"get": {"key": "user:2"}},
        {"get": {"key": "count"}},
        {"scan": {}},
    ])
    assert got[0]["res"] == {"ok": {"key": b64("user:2"), "value": "bea"}}
    assert got[1]["res"] == {"ok": {"key": b64("count"), "value": 1}}
    assert [e["key"] for e in got[2]["res"]["ok"]] == [b64("count"), b64("user:1"), b64("user:2")]


def test_answers_without_linked_true(tmp_path):
    """0.11's kv sink answers on out/err whatever `linked` says, and 0.11's
    configs (its quota service recipe) link from it without the flag."""
    unlinked = CONFIG.replace("    linked: true\n", "")
    assert unlinked != CONFIG
    got, _ = run(tmp_path, "unlinked", [
        {"put": {"key": "q", "value": 100}},
        {"get": {"key": "q"}},
        {"frob": {}},
    ], unlinked)
    assert got[0]["res"] == {"ok": {"key": b64("q"), "value": None}}
    assert got[1] == {"corr": 1, "op": "get", "res": {"ok": {"key": b64("q"), "value": 100}}}
    assert got[2]["res"]["error"].startswith("Invalid KV command")


def test_help_lists_the_keys(tmp_path):
    p = run_tremor(["server", "run", "--help-connector", "kv"], tmp_path)
    assert p.returncode == 0, p.stderr
    for key in ("dir", "map_size", "max_scan", "max_scan_bytes"):
        assert key in p.stdout, p.stdout


def test_0_11_kv_linked_case(tmp_path):
    """0.11's own cli-integration case kv-linked (batched and single commands,
    scans, cas, a bad command ending the run through `exit`): out.log as 0.11
    wrote it, byte for byte; err.log the same event (its record's key order
    is the select's, which is not this offramp's)."""
    import shutil
    from conftest import ROOT
    case = os.path.join(os.path.dirname(ROOT), "shared", "conformance", "tremor-0.11", "cli-integration",
                        "kv-linked")
    if not os.path.isdir(case):
        import pytest
        pytest.skip("0.11's cli-integration cases are not here")
    work = tmp_path / "kv-linked"
    shutil.copytree(case, work)
    files = sorted(f for f in os.listdir(work) if f.endswith((".yaml", ".trickle")) and f != "assert.yaml")
    p = run_tremor(["server", "run", "-n", "-f"] + files, work, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (work / "out.log").read_text().splitlines() == (work / "expected.json").read_text().splitlines()
    got = [json.loads(l) for l in (work / "err.log").read_text().splitlines()]
    want = [json.loads(l) for l in (work / "expected_err.json").read_text().splitlines()]
    assert got == want


def test_answered_puts_survive_kill_9(tmp_path):
    """A put's response leaves only after its commit: kill -9 the server once
    the responses are written, and a new server finds every answered put."""
    import signal
    import subprocess
    import time
    from conftest import TREMOR, wait_until
    n = 300
    (tmp_path / "main.trickle").write_text(MAIN)
    (tmp_path / "back.trickle").write_text(BACK)
    (tmp_path / "puts.json").write_text("".join(
        json.dumps({"id": i, "cmd": {"put": {"key": "k%03d" % i, "value": i}}}) + "\n" for i in range(n)))
    (tmp_path / "config.yaml").write_text(CONFIG.format(cmds="puts.json", out="puts.out")
                                          .replace("close_on_done: true", "close_on_done: false"))
    p = subprocess.Popen([TREMOR, "server", "run", "-n", "-f", "main.trickle", "back.trickle", "config.yaml"],
                         cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        out = tmp_path / "puts.out"
        wait_until(lambda: out.exists() and out.read_text().count("\n") >= n, timeout=30,
                   what="%d responses" % n)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    answered = [json.loads(l)["corr"] for l in out.read_text().splitlines()]
    assert sorted(answered) == list(range(n))
    # max_scan is 100 in CONFIG: three ranges
    got, _ = run(tmp_path, "after", [{"scan": {"start": "k%03d" % a, "end": "k%03d" % (a + 100)}}
                                     for a in range(0, n, 100)])
    assert [e["value"] for i in range(3) for e in got[i]["res"]["ok"]] == list(range(n))
