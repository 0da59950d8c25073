"""The crononome onramp end to end: `* * * * * *` (every second) and a named
entry with a payload every other second, into a file offramp. Checks 0.11's
event shape ({onramp, ingest_ns, id, trigger: {name, payload?}}, ids without
gaps) and that ticks come about once a second: counts against the span of
their own ingest times, with wide bounds; waits are on conditions."""
import json
import os
import subprocess

import pytest

from conftest import TREMOR, wait_until

pytestmark = pytest.mark.timeout(60)

CONFIG = """onramp:
  - id: crono
    type: crononome
    config:
      entries:
        - name: every_second
          expr: "* * * * * *"
        - name: named
          expr: "*/2 * * * * *"
          payload:
            snot: badger
            list: [1, 2.5, "x", true, null]
offramp:
  - id: out
    type: file
    codec: json
    config:
      file: out.json
binding:
  - id: b
    links:
      "/onramp/crono/{instance}/out": ["/pipeline/system::passthrough/{instance}/in"]
      "/pipeline/system::passthrough/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def events(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def test_crononome_ticks_into_file(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    log = open(str(tmp_path / "tremor.log"), "w+")
    p = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f", "config.yaml"], cwd=str(tmp_path),
                         stdout=log, stderr=subprocess.STDOUT)
    out = tmp_path / "out.json"

    def text():
        log.flush()
        with open(log.name) as f:
            return f.read()
    try:
        got = wait_until(
            lambda: (lambda ev: ev if sum(e["trigger"]["name"] == "every_second" for e in ev) >= 6 else None)(
                events(out)), 20, "six ticks of every_second", text)
    finally:
        p.terminate()
        p.wait(10)
    # 0.11's shape
    for e in got:
        assert set(e) == {"onramp", "ingest_ns", "id", "trigger"}
        assert e["onramp"] == "crononome"
        assert isinstance(e["ingest_ns"], int)
    assert [e["id"] for e in got] == list(range(len(got)))
    secs = [e for e in got if e["trigger"]["name"] == "every_second"]
    named = [e for e in got if e["trigger"]["name"] == "named"]
    assert all(e["trigger"] == {"name": "every_second"} for e in secs)
    assert named, "the entry with a payload fired"
    assert all(e["trigger"] == {"name": "named", "payload": {"snot": "badger", "list": [1, 2.5, "x", True, None]}}
               for e in named)
    # about once a second: the ticks' own span against their count (wide bounds)
    span = (secs[-1]["ingest_ns"] - secs[0]["ingest_ns"]) / 1e9
    assert len(secs) - 2 <= span <= len(secs) + 1, (len(secs), span)
    # every other second for */2, over the same span
    assert span / 2 - 2 <= len(named) <= span / 2 + 2, (len(named), span)
