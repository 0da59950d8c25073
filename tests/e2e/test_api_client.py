"""`tremor api`, 0.11's REST API client (tremor-cli/src/api.rs, cli.yaml),
against a real server: every subcommand, json and yaml formats, 0.11's
messages for 404/409, our exit codes, and an unreachable server. The
server's answers it prints are checked in test_api_artefacts.py; here the
check is that the client carries them through unchanged."""
import json
import subprocess

import pytest

from conftest import TREMOR
from test_api_artefacts import CONFIG, QUERY, Server


@pytest.fixture
def srv(tmp_path):
    s = Server(tmp_path, {"q.trickle": QUERY, "c.yaml": CONFIG})
    yield s
    if s.p.poll() is None:
        s.p.kill()
        s.p.wait()


def api(s, *args, fmt=None, cwd=None):
    cmd = [TREMOR, "api"] + (["-f", fmt] if fmt else []) + ["--api-host", "127.0.0.1:%d" % s.port]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30, cwd=cwd)


def test_version_and_lists_in_both_formats(srv):
    r = api(srv, "version")
    assert r.returncode == 0 and json.loads(r.stdout) == json.loads(srv.req("GET", "/version")[2])
    r = api(srv, "version", fmt="yaml")
    assert r.returncode == 0 and r.stdout.startswith("---\nversion: ") and "debug: " in r.stdout
    for kind, ids in [("onramp", ["m"]), ("offramp", ["out"]), ("binding", ["b"]),
                      ("pipeline", ["system::metrics", "q"])]:
        r = api(srv, kind, "list")
        assert r.returncode == 0 and json.loads(r.stdout) == ids, r
    r = api(srv, "onramp", "list", fmt="yaml")
    assert r.stdout == "---\n- m\n"
    r = api(srv, "pipeline", "fetch", "system::metrics")
    assert r.returncode == 0 and json.loads(r.stdout) == "select event from in into out;\n"
    r = api(srv, "binding", "instance", "b", "01")
    assert r.returncode == 0 and json.loads(r.stdout)["links"]["/onramp/m/01/out"] == ["/pipeline/q/01/in"]


def test_create_activate_deactivate_delete(srv, tmp_path):
    (tmp_path / "on.yaml").write_text("id: m2\ntype: metronome\nconfig:\n  interval: 1000\n")
    (tmp_path / "p.trickle").write_text('#!config id = "p2"\n' + QUERY)
    (tmp_path / "b.json").write_text(json.dumps({"id": "b2", "links": {
        "/onramp/m2/{instance}/out": ["/pipeline/p2/{instance}/in"],
        "/pipeline/p2/{instance}/out": ["/offramp/out/{instance}/in"]}}))
    (tmp_path / "map.yaml").write_text('instance: "07"\n')
    r = api(srv, "onramp", "create", "on.yaml", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == "m2", r
    r = api(srv, "pipeline", "create", "p.trickle", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout) == '#!config id = "p2"\n' + QUERY, r
    r = api(srv, "binding", "create", "b.json", fmt="yaml", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("---\nid: b2\n"), r
    r = api(srv, "binding", "activate", "b2", "07", "map.yaml", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["links"]["/onramp/m2/07/out"] == ["/pipeline/p2/07/in"]
    assert json.loads(api(srv, "onramp", "fetch", "m2").stdout)["instances"] == ["07"]
    # in use: 0.11's "Conflict", the server's reason after it, exit 1
    r = api(srv, "pipeline", "delete", "p2")
    assert r.returncode == 1 and r.stderr.splitlines()[0] == "Conflict"
    assert json.loads(r.stderr.splitlines()[1])["code"] == 409
    r = api(srv, "binding", "deactivate", "b2", "07")
    assert r.returncode == 0 and r.stdout == ""
    r = api(srv, "binding", "deactivate", "b2", "07")
    assert r.returncode == 1 and r.stderr.splitlines()[0] == "Not found"
    for kind, aid in [("binding", "b2"), ("pipeline", "p2"), ("onramp", "m2")]:
        r = api(srv, kind, "delete", aid)
        assert r.returncode == 0, r
    assert json.loads(api(srv, "onramp", "list").stdout) == ["m"]
    # a file of an unknown type is refused before anything is sent
    (tmp_path / "x.txt").write_text("{}")
    r = api(srv, "onramp", "create", "x.txt", cwd=tmp_path)
    assert r.returncode == 1 and "unsupported format" in r.stderr
    r = api(srv, "onramp", "create", "missing.yaml", cwd=tmp_path)
    assert r.returncode == 1 and "missing.yaml" in r.stderr


def test_status_ready_metrics_and_bad_usage(srv):
    r = api(srv, "ready")
    assert r.returncode == 0 and json.loads(r.stdout) == {"ready": True}
    r = api(srv, "status")
    assert r.returncode == 0 and json.loads(r.stdout)["ready"] is True
    r = api(srv, "metrics")
    assert r.returncode == 0 and "# TYPE tremor_ready gauge" in r.stdout
    for bad in (["nope"], ["onramp"], ["onramp", "fetch"], ["binding", "activate", "b", "01"]):
        r = api(srv, *bad)
        assert r.returncode == 2 and r.stderr.startswith("usage: tremor api"), (bad, r)
    r = subprocess.run([TREMOR, "api", "-f", "xml", "version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "json or yaml" in r.stderr


def test_unreachable_server_is_a_clear_error(tmp_path):
    from conftest import free_port
    port = free_port()   # nothing listens there
    r = subprocess.run([TREMOR, "api", "--api-host", "127.0.0.1:%d" % port, "version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot connect to 127.0.0.1:%d" % port in r.stderr and "refused" in r.stderr.lower(), r.stderr
