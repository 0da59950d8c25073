"""`tremor run`: one query or script over JSON lines, for trying things out."""
import json
import os
import signal
import subprocess
import threading

from conftest import ROOT, STDIO_CONFIG, TREMOR, run_tremor, wait_until

DATA = os.path.join(os.path.dirname(ROOT), "shared", "conformance", "tremor-0.11")
TUTORIAL = os.path.join(ROOT, "examples", "persistent-wal", "etc", "tremor", "config",
                        "persistent.trickle")


def test_tutorial_query_through_its_wal(tmp_path):
    lines = "".join('{"id":%d}\n' % i for i in range(3000))
    (tmp_path / "in.json").write_text(lines)
    res = run_tremor(["run", TUTORIAL, "-i", "in.json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert [o["id"] for o in out] == list(range(3000))   # all of them, in order, once
    assert all(set(o) == {"id", "hostname"} for o in out)
    assert not (tmp_path / "tremor-data").exists()        # a scratch log, removed at exit


def test_script_case_by_hand(tmp_path):
    case = os.path.join(DATA, "scripts", "array_paths")
    res = run_tremor(["run", os.path.join(case, "script.tremor"), "-i", os.path.join(case, "in")],
                     cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    want = [json.loads(l) for l in open(os.path.join(case, "out")) if l.strip()]
    got = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    assert got == want


def test_compile_error_is_rendered(tmp_path):
    (tmp_path / "bad.tremor").write_text("let x = ;\n")
    res = run_tremor(["run", "bad.tremor"], cwd=tmp_path)
    assert res.returncode == 1
    assert "1 | let x = ;" in res.stderr and "^" in res.stderr


UTILS = "fn double(x) with x * 2 end;\n"
QUERY_WITH_SCRIPT_USE = """define script s
script
  use utils;
  emit utils::double(event)
end;
create script s;
select event from in into s;
select event from s into out;
"""


def test_script_uses_module_on_tremor_path(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "utils.tremor").write_text(UTILS)
    (tmp_path / "s.tremor").write_text("use utils;\nutils::double(event)\n")
    (tmp_path / "in.json").write_text("21\n")
    monkeypatch.setenv("TREMOR_PATH", "/nonexistent:" + str(lib))
    res = run_tremor(["run", "s.tremor", "-i", "in.json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["42"]


def test_use_inside_define_script_searches_tremor_path(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "utils.tremor").write_text(UTILS)
    (tmp_path / "q.trickle").write_text(QUERY_WITH_SCRIPT_USE)
    (tmp_path / "in.json").write_text("21\n")
    monkeypatch.setenv("TREMOR_PATH", str(lib))
    res = run_tremor(["run", "q.trickle", "-i", "in.json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["42"]


def test_use_inside_define_script_finds_module_beside_query(tmp_path, monkeypatch):
    monkeypatch.delenv("TREMOR_PATH", raising=False)
    (tmp_path / "utils.tremor").write_text(UTILS)
    (tmp_path / "q.trickle").write_text(QUERY_WITH_SCRIPT_USE)
    (tmp_path / "in.json").write_text("21\n")
    res = run_tremor(["run", str(tmp_path / "q.trickle"), "-i", str(tmp_path / "in.json")], cwd="/")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["42"]


def test_missing_module_names_the_search_path(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (tmp_path / "q.trickle").write_text(QUERY_WITH_SCRIPT_USE)
    monkeypatch.setenv("TREMOR_PATH", str(lib))
    res = run_tremor(["run", "q.trickle"], cwd=tmp_path)
    assert res.returncode == 1
    assert "Module `utils` not found" in res.stderr
    assert "3 |   use utils;" in res.stderr
    # the query's own folder first, then TREMOR_PATH, as Tremor searches
    assert res.stderr.index("- .") < res.stderr.index("- " + str(lib)), res.stderr




def test_server_run_resolves_modules_like_tremor_run(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "utils.tremor").write_text(UTILS)
    (tmp_path / "q.trickle").write_text(QUERY_WITH_SCRIPT_USE)
    (tmp_path / "c.yaml").write_text(STDIO_CONFIG)
    env = dict(os.environ, TREMOR_PATH=str(lib))
    p = subprocess.Popen([TREMOR, "server", "run", "-n", "-f", "q.trickle", "c.yaml"], cwd=tmp_path, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write("21\n")
        p.stdin.flush()
        out = []
        done = threading.Event()

        def reader():
            line = p.stdout.readline()
            if line:
                out.append(json.loads(line))
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        wait_until(lambda: done.is_set() or p.poll() is not None, timeout=30, what="one output")
        assert out == [42], (out, p.stderr.read() if p.poll() is not None else "")
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
