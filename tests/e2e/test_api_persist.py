"""REST API changes kept with -d (api/state.h) against the real binary:
what is published and bound over the API comes back after a restart (a
graceful one and a SIGKILL right after the answer), what is unbound and
unpublished stays gone, the files win over the kept state, a damaged state
file stops the start with a located error, and without -d nothing is kept.

Tremor 0.11 writes its whole config to DIR/config_<nanotime>.yaml after
each change and never reads it back; tremor-c restores it (README: "REST
API").
"""
import signal

from conftest import WsServer, free_port, run_tremor, wait_until
from test_api_artefacts import WAL_QUERY, counts, server  # noqa: F401 (fixture)

TRICKLE = "application/vnd.trickle"


def tutorial(s, ws_port):
    """The persistent-WAL tutorial, published and bound over the API."""
    assert s.json("POST", "/pipeline", WAL_QUERY.format(id="main"), ctype=TRICKLE)[0] == 201
    assert s.json("POST", "/onramp", {"id": "metronome", "type": "metronome",
                                      "config": {"interval": 10}})[0] == 201
    assert s.json("POST", "/offramp", {"id": "ws", "type": "ws",
                                       "config": {"url": "ws://127.0.0.1:%d/" % ws_port}})[0] == 201
    assert s.json("POST", "/binding", {"id": "default", "links": {
        "/onramp/metronome/{instance}/out": ["/pipeline/main/{instance}/in"],
        "/pipeline/main/{instance}/out": ["/offramp/ws/{instance}/in"]}})[0] == 201
    st, v = s.json("POST", "/binding/default/01", {"instance": "01"})
    assert st == 201, v


def test_published_and_bound_over_the_api_survives_a_restart(server, tmp_path):
    rx = WsServer(free_port()).start()
    data = ["-d", str(tmp_path / "data")]
    try:
        s = server({}, data)
        tutorial(s, rx.port)
        wait_until(lambda: len(rx.received()) >= 10, what="events before the restart")
        assert s.stop() == 0, s.log()
        assert (tmp_path / "data" / "api.state").is_file()
        n = len(rx.received())

        # the same -d and no -f: everything is back and events flow again
        s = server({}, data)
        assert "restored /pipeline/main" in s.log() and "restored binding instance /binding/default/01" in s.log(), s.log()
        assert s.json("GET", "/onramp")[1] == ["metronome"]
        assert s.json("GET", "/offramp")[1] == ["system::stdout", "system::stderr", "ws"]
        assert s.json("GET", "/pipeline")[1] == ["system::metrics", "system::passthrough", "main"]
        st, v = s.json("GET", "/binding/default/01")
        assert st == 200 and v["links"]["/pipeline/main/01/out"] == ["/offramp/ws/01/in"], v
        assert s.json("GET", "/onramp/metronome")[1]["instances"] == ["01"]
        wait_until(lambda: len(rx.received()) >= n + 20, what="events after the restart",
                   detail=s.log)
        wait_until(lambda: s.json("GET", "/ready")[0] == 200, what="ready")

        # unbound and unpublished: gone after the next restart
        assert s.req("DELETE", "/binding/default/01")[0] == 204
        for kind, aid in [("binding", "default"), ("pipeline", "main"), ("onramp", "metronome"),
                          ("offramp", "ws")]:
            st, _, body = s.req("DELETE", "/%s/%s" % (kind, aid))
            assert st == 200, (kind, body)
        assert s.stop() == 0, s.log()
        s = server({}, data)
        assert "restored" not in s.log(), s.log()
        assert s.json("GET", "/onramp")[1] == []
        assert s.json("GET", "/offramp")[1] == ["system::stdout", "system::stderr"]
        assert s.json("GET", "/pipeline")[1] == ["system::metrics", "system::passthrough"]
        assert s.json("GET", "/binding")[1] == []
        assert s.json("GET", "/binding/default/01")[0] == 404
        assert s.stop() == 0, s.log()
    finally:
        rx.stop()


def killed(s):
    s.p.send_signal(signal.SIGKILL)
    assert s.p.wait(30) == -signal.SIGKILL


def test_a_change_answered_survives_sigkill(server, tmp_path):
    """Each kind of change, the server SIGKILLed the moment it answered."""
    data = ["-d", str(tmp_path / "data")]
    on = {"id": "m", "type": "metronome", "config": {"interval": 1000}}
    out = {"id": "sink", "type": "blackhole"}
    b = {"id": "b", "links": {"/onramp/m/{instance}/out": ["/pipeline/system::passthrough/{instance}/in"],
                              "/pipeline/system::passthrough/{instance}/out": ["/offramp/sink/{instance}/in"]}}
    q = '#!config id = "q"\nselect event from in into out;\n'
    s = server({}, data)
    for path, body, ctype in [("/onramp", on, None), ("/offramp", out, None), ("/binding", b, None),
                              ("/pipeline", q, TRICKLE), ("/binding/b/01", {}, None)]:
        st, _, resp = s.req("POST", path, body, ctype=ctype)
        assert st == 201, (path, resp)
    killed(s)

    s = server({}, data)
    assert s.json("GET", "/onramp/m")[1]["instances"] == ["01"]
    assert s.json("GET", "/pipeline/q")[0] == 200
    assert s.req("DELETE", "/binding/b/01")[0] == 204
    killed(s)

    s = server({}, data)
    assert s.json("GET", "/binding/b/01")[0] == 404
    assert s.json("GET", "/onramp/m")[1]["instances"] == []
    for kind, aid in [("binding", "b"), ("onramp", "m"), ("offramp", "sink"), ("pipeline", "q")]:
        assert s.req("DELETE", "/%s/%s" % (kind, aid))[0] == 200
    killed(s)

    s = server({}, data)
    assert s.json("GET", "/onramp")[1] == [] and s.json("GET", "/binding")[1] == []
    assert s.json("GET", "/pipeline/q")[0] == 404
    assert s.stop() == 0, s.log()


def test_a_change_that_cannot_be_kept_is_not_made(server, tmp_path):
    """The state file cannot be written (a directory sits where its
    temporary file goes): 500 with the reason, and the world unchanged."""
    data = tmp_path / "data"
    s = server({}, ["-d", str(data)])
    assert s.json("POST", "/offramp", {"id": "sink", "type": "blackhole"})[0] == 201
    assert s.json("POST", "/binding", {"id": "b", "links": {
        "/pipeline/system::passthrough/{instance}/out": ["/offramp/sink/{instance}/in"]}})[0] == 201
    (data / "api.state.tmp").mkdir()
    (data / "api.state.tmp" / "x").write_text("")
    st, v = s.json("POST", "/offramp", {"id": "other", "type": "blackhole"})
    assert st == 500 and "cannot keep the API change" in v["error"] and "nothing was changed" in v["error"], v
    assert s.json("GET", "/offramp/other")[0] == 404
    st, v = s.json("POST", "/binding/b/01", {})
    assert st == 500, v
    assert s.json("GET", "/binding/b/01")[0] == 404
    assert s.json("GET", "/offramp/sink")[1]["instances"] == []
    st, v = s.json("DELETE", "/offramp/sink")
    assert st == 500, v
    assert s.json("GET", "/offramp/sink")[0] == 200
    (data / "api.state.tmp" / "x").unlink()
    (data / "api.state.tmp").rmdir()
    assert s.json("POST", "/binding/b/01", {})[0] == 201
    assert s.stop() == 0, s.log()
    assert oct((data / "api.state").stat().st_mode & 0o777) == "0o600"
    s = server({}, ["-d", str(data)])
    assert s.json("GET", "/offramp")[1] == ["system::stdout", "system::stderr", "sink"]
    assert s.json("GET", "/binding/b/01")[0] == 200
    assert s.stop() == 0, s.log()


def test_files_win_over_the_kept_state(server, tmp_path):
    data = ["-d", str(tmp_path / "data")]
    s = server({}, data)
    assert s.json("POST", "/onramp", {"id": "m", "type": "metronome",
                                      "config": {"interval": 111}})[0] == 201
    assert s.json("POST", "/offramp", {"id": "kept", "type": "blackhole"})[0] == 201
    assert s.stop() == 0, s.log()
    cfg = "onramp:\n  - id: m\n    type: metronome\n    config:\n      interval: 222\n"
    s = server({"c.yaml": cfg}, data)
    assert "onramp 'm' is defined by the files; the one kept in" in s.log(), s.log()
    assert s.json("GET", "/onramp/m")[1]["artefact"]["config"] == {"interval": 222}
    assert s.json("GET", "/offramp/kept")[0] == 200
    assert s.stop() == 0, s.log()


def test_a_damaged_state_file_stops_the_start(server, tmp_path):
    data = tmp_path / "data"
    s = server({}, ["-d", str(data)])
    assert s.json("POST", "/offramp", {"id": "kept", "type": "blackhole"})[0] == 201
    assert s.stop() == 0, s.log()
    state = data / "api.state"
    raw = bytearray(state.read_bytes())
    good = bytes(raw)
    raw[-5] ^= 1
    state.write_bytes(bytes(raw))
    r = run_tremor(["server", "run", "-n", "-d", str(data)], tmp_path)
    assert r.returncode == 1, r.stderr
    assert "error: %s:2:1: checksum mismatch" % state in r.stderr, r.stderr
    state.write_bytes(good[:len(good) // 2])   # cut short
    r = run_tremor(["server", "run", "-n", "-d", str(data)], tmp_path)
    assert r.returncode == 1 and "cut short" in r.stderr and str(state) in r.stderr, r.stderr
    # the file is left as it was found: nothing reset it
    assert state.read_bytes() == good[:len(good) // 2]


def test_a_kept_artefact_that_no_longer_loads_stops_the_start(server, tmp_path):
    """A binding instance kept over a binding from a file that is not given
    any more: a clear error naming the state file, not a silent drop."""
    data = ["-d", str(tmp_path / "data")]
    cfg = """offramp:
  - id: sink
    type: blackhole
binding:
  - id: fb
    links:
      "/pipeline/system::passthrough/{instance}/out": ["/offramp/sink/{instance}/in"]
"""
    s = server({"c.yaml": cfg}, data)
    assert s.json("POST", "/binding/fb/01", {})[0] == 201
    assert s.stop() == 0, s.log()
    r = run_tremor(["server", "run", "-n", *data], tmp_path)
    assert r.returncode == 1, r.stderr
    assert "api.state: cannot restore binding instance /binding/fb/01 kept from the REST API" in r.stderr, r.stderr
    s = server({"c.yaml": cfg}, data)
    assert s.json("GET", "/binding/fb/01")[0] == 200
    assert s.stop() == 0, s.log()


def test_without_d_nothing_is_kept(server, tmp_path):
    """As in 0.11, only an explicit storage directory keeps changes; the
    default ./tremor-data holds WALs only."""
    s = server({"q.trickle": "select event from in into out;\n"})
    assert s.json("POST", "/offramp", {"id": "x", "type": "blackhole"})[0] == 201
    assert s.stop() == 0, s.log()
    assert not (tmp_path / "tremor-data" / "api.state").exists()
    r = run_tremor(["server", "run", "-n"], tmp_path)
    assert r.returncode == 1 and "no files given" in r.stderr, r.stderr
