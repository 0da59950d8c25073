"""`tremor server run --help-connector` / `--help-operator`: the config maps,
printed by the real binary; and a config error from the map, located."""
import subprocess

from conftest import TREMOR


def tremor(*args, cwd=None):
    return subprocess.run([TREMOR, "server", "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=30)


def test_help_connector_prints_the_map():
    p = tremor("--help-connector", "file")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    # both directions of the type, each key with type, default, flags and help
    assert "onramp file" in out and "offramp file" in out
    line = next(l for l in out.splitlines() if l.split()[:1] == ["sleep_on_done"])
    assert line.split()[1:3] == ["uint", "0"], line
    assert "at most a day" in line and "[..86400000]" in line
    src = next(l for l in out.splitlines() if l.split()[:1] == ["source"])
    assert "required" in src and "the file to read" in src


def test_help_operator_prints_the_map():
    p = tremor("--help-operator", "qos::percentile")
    assert p.returncode == 0, p.stderr
    rows = {l.split()[0]: l for l in p.stdout.splitlines()[1:] if l.strip()}
    assert rows["timeout"].split()[1:4] == ["float", "-", "required"], rows["timeout"]
    assert rows["step_down"].split()[1:3] == ["float", "0.05"], rows["step_down"]
    assert "[0..1]" in rows["step_up"]


def test_help_without_or_with_an_unknown_name_lists_the_kinds():
    p = tremor("--help-connector")
    assert p.returncode == 0, p.stderr
    assert "onramp types: blaster, file, metronome" in p.stdout
    assert "offramp types: blackhole, file, stdout" in p.stdout
    p = tremor("--help-connector", "nope")
    assert p.returncode == 1
    assert "unknown connector type 'nope'" in p.stdout and "onramp types:" in p.stdout
    p = tremor("--help-operator")
    assert p.returncode == 0
    assert "operator kinds: passthrough, debug::history" in p.stdout
    p = tremor("--help-operator", "foo::bar")
    assert p.returncode == 1
    assert "unknown operator kind 'foo::bar'" in p.stdout


CONFIG = """onramp:
  - id: tick
    type: metronome
    config:
      interval: 0
offramp:
  - id: out
    type: stdout
binding:
  - id: default
    links:
      "/onramp/tick/{instance}/out": ["/pipeline/main/{instance}/in"]
      "/pipeline/main/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""


def test_a_config_error_from_the_map_is_located(tmp_path):
    (tmp_path / "main.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    p = tremor("-f", "main.trickle", "config.yaml", cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    assert "config.yaml:2:" in p.stderr, p.stderr
    assert "metronome 'tick': config.interval must be between 1 and 4294967296, found 0" in p.stderr, p.stderr
