"""0.11's built-in artefacts: the offramps system::stdout and system::stderr
and the pipeline system::passthrough are there in every run, so a binding
may link to them without defining them (Tremor's own benchmark configs send
their error ports to system::stderr)."""
import json

from conftest import Proc, procs  # noqa: F401  (fixture)

CONFIG = """onramp:
  - id: tick
    type: metronome
    config:
      interval: 10
binding:
  - id: b
    links:
      "/onramp/tick/{instance}/out": ["/pipeline/system::passthrough/{instance}/in"]
      "/pipeline/system::passthrough/{instance}/out": ["/offramp/system::stdout/{instance}/in"]
      "/pipeline/system::passthrough/{instance}/err": ["/offramp/system::stderr/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def test_a_binding_links_to_the_builtins_without_defining_them(tmp_path, procs):  # noqa: F811
    (tmp_path / "b.yaml").write_text(CONFIG)
    p = procs(["server", "run", "-n", "-d", str(tmp_path / "data"), "-f", "b.yaml"], str(tmp_path))
    seen = []
    while len(seen) < 3:
        line = p.next_line()
        if line.startswith("{"):
            seen.append(json.loads(line))
    assert all(e["onramp"] == "metronome" for e in seen), seen
    assert [e["id"] for e in seen] == sorted(e["id"] for e in seen)
    p.stop()
    assert p.wait() == 0, p.stderr()


def test_builtins_are_not_in_the_lists_of_what_a_link_could_name(tmp_path, procs):  # noqa: F811
    (tmp_path / "b.yaml").write_text(CONFIG.replace("system::stdout", "nothere"))
    p = procs(["server", "run", "-n", "-d", str(tmp_path / "data"), "-f", "b.yaml"], str(tmp_path))
    assert p.wait() != 0
    assert "no offramp 'nothere' is loaded (loaded offramps: none)" in p.stderr(), p.stderr()
