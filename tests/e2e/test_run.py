"""`tremor run`: one query or script over JSON lines, for trying things out."""
import json
import os

from conftest import ROOT, run_tremor

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
