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
    on = p.stdout.split("onramp types: ", 1)[1].split("\n", 1)[0].split(", ")
    off = p.stdout.split("offramp types: ", 1)[1].split("\n", 1)[0].split(", ")
    assert {"blaster", "file", "metronome", "rest", "udp", "unix-socket", "crononome", "cb"} <= set(on)
    assert {"blackhole", "file", "stdout", "rest", "udp", "unix-socket", "debug", "exit", "cb"} <= set(off)
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
    # at the key itself (line 5, column 7), not at the entry
    assert "config.yaml:5:7: metronome 'tick': config.interval must be between 1 and 4294967296, "\
        "found 0" in p.stderr, p.stderr


DEEP = """# a relay whose tcp onramp has one wrong key among several
onramp:
  - id: tick
    type: metronome
    config:
      interval: 1000
  - id: in
    type: tcp
    codec: json
    preprocessors:
      - lines
    config:
      host: 127.0.0.1
      port: 0
      idle_timeout_ms: 1000
      max_connections:   "many"
      max_frame_size: 65536
offramp:
  - id: out
    type: blackhole
    config:
      significant_figures: 3
binding:
  - id: default
    links:
      "/onramp/in/{instance}/out": ["/pipeline/main/{instance}/in"]
      "/pipeline/main/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""


def test_a_wrong_key_deep_in_the_file_is_reported_at_its_own_line_and_column(tmp_path):
    (tmp_path / "main.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(DEEP)
    p = tremor("-f", "main.trickle", "config.yaml", cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    line = next(i + 1 for i, l in enumerate(DEEP.splitlines()) if "max_connections" in l)
    assert line == 16
    assert f"config.yaml:{line}:7: tcp 'in': config.max_connections must be a non-negative " \
        "integer, found string (peers at once; more are refused)" in p.stderr, p.stderr


def test_help_connector_prints_the_network_connectors():
    p = tremor("--help-connector", "tcp")
    assert p.returncode == 0, p.stderr
    rows = {l.split()[0]: l for l in p.stdout.splitlines() if l.startswith("  ")}
    assert "onramp tcp" in p.stdout and "offramp tcp" in p.stdout
    assert "[1..65535]" in rows["port"] or "[..65535]" in rows["port"], rows["port"]
    assert rows["ttl"].split()[1:3] == ["uint", "64"], rows["ttl"]
    assert rows["max_frame_size"].split()[1:3] == ["uint", "16777216"], rows["max_frame_size"]
    p = tremor("--help-connector", "ws")
    assert p.returncode == 0, p.stderr
    line = next(l for l in p.stdout.splitlines() if l.split()[:1] == ["handshake_timeout_ms"])
    assert line.split()[1:3] == ["uint", "10000"] and "[1..600000]" in line, line
    assert "offramp ws" in p.stdout, p.stdout
    line = next(l for l in p.stdout.splitlines() if l.split()[:1] == ["ack_mode"])
    assert line.split()[1:3] == ["enum", "pong"] and "[one of pong, tcp, hop]" in line, line
    p = tremor("--help-operator", "qos::wal")
    assert p.returncode == 0, p.stderr
    line = next(l for l in p.stdout.splitlines() if l.split()[:1] == ["read_count"])
    assert line.split()[1:4] == ["uint", "-", "required"], line
    p = tremor("--help-connector", "blackhole")
    assert p.returncode == 0, p.stderr
    line = next(l for l in p.stdout.splitlines() if l.split()[:1] == ["significant_figures"])
    assert line.split()[1:3] == ["uint", "2"] and "[1..5]" in line, line
