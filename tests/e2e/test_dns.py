"""dns offramp end to end against a real resolver: dnsmasq on 127.0.0.1 and
a free port (started here, stopped by its pid) answers A, AAAA, CNAME, TXT
and NXDOMAIN; requests come from a file onramp, answers and errors go
through a linked dns offramp back into a file offramp."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import run_tremor, wait_until

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

MAIN = """define script corr
script
  let $correlation = event.id;
  event.req
end;
create script corr;
select event from in into corr;
select event from corr into out;
"""

BACK = """select {"corr": $correlation, "res": event} from in into out;
"""

CONFIG = """onramp:
  - id: reqs
    type: file
    config:
      source: reqs.json
      close_on_done: true
offramp:
  - id: resolver
    type: dns
    linked: true
    config:
      servers: ["127.0.0.1:{port}"]
      timeout_ms: 3000
  - id: out
    type: file
    config:
      file: out.json
binding:
  - id: b
    links:
      "/onramp/reqs/{{instance}}/out": ["/pipeline/main/{{instance}}/in"]
      "/pipeline/main/{{instance}}/out": ["/offramp/resolver/{{instance}}/in"]
      "/offramp/resolver/{{instance}}/out": ["/pipeline/back/{{instance}}/in"]
      "/offramp/resolver/{{instance}}/err": ["/pipeline/back/{{instance}}/in"]
      "/pipeline/back/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port):
    """True once dnsmasq answers a query for host.test (a raw A query)."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04host\x04test\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(q, ("127.0.0.1", port))
            return s.recv(512)[:2] == b"\x12\x34"
        except OSError:
            return False


@pytest.fixture
def dnsmasq(tmp_path):
    if not os.path.exists(DNSMASQ):
        pytest.skip("dnsmasq (dnsmasq-base) is not installed")
    port = udp_port()
    pidfile = tmp_path / "dnsmasq.pid"
    p = subprocess.Popen([DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--port=%d" % port,
                          "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/test/",
                          "--local-ttl=300", "--host-record=host.test,10.1.2.3,fd00::7",
                          "--host-record=v6only.test,fd00::8", "--cname=alias.test,host.test",
                          "--txt-record=txt.test,hello world,second", "--pid-file=%s" % pidfile,
                          "--user=%s" % pwd.getpwuid(os.geteuid()).pw_name],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: answers(port) or p.poll() is not None, timeout=20, what="dnsmasq")
        assert p.poll() is None, p.stdout.read()
        yield port
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(10)


def test_lookups_against_dnsmasq(tmp_path, dnsmasq):
    reqs = [
        {"lookup": "host.test"},
        {"lookup": {"name": "host.test", "type": "A"}},
        {"lookup": {"name": "host.test", "type": "AAAA"}},
        {"lookup": "v6only.test"},
        {"lookup": {"name": "alias.test", "type": "CNAME"}},
        {"lookup": {"name": "txt.test", "type": "TXT"}},
        {"lookup": "nx.test"},
        {"lookup": {"name": "host.test", "type": "BOGUS"}},
        {"lookup": 42},
        {"no": "lookup"},
    ]
    (tmp_path / "main.trickle").write_text(MAIN)
    (tmp_path / "back.trickle").write_text(BACK)
    (tmp_path / "reqs.json").write_text("".join(json.dumps({"id": i, "req": r}) + "\n"
                                                for i, r in enumerate(reqs)))
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=dnsmasq))
    p = run_tremor(["server", "run", "-n", "-f", "main.trickle", "back.trickle", "config.yaml"], tmp_path,
                   timeout=60)
    assert p.returncode == 0, p.stderr
    got = {l["corr"]: l["res"] for l in map(json.loads, (tmp_path / "out.json").read_text().splitlines())}
    assert len(got) == len(reqs), got
    assert got[0] == [{"A": "10.1.2.3", "ttl": 300}]
    assert got[1] == [{"A": "10.1.2.3", "ttl": 300}]
    assert got[2] == [{"AAAA": "fd00::7", "ttl": 300}]
    assert got[3] == [{"AAAA": "fd00::8", "ttl": 300}]     # no A: then AAAA, as 0.11's lookup_ip
    assert got[4] == [{"CNAME": "host.test.", "ttl": 300}]
    assert got[5] == [{"TXT": "hello worldsecond", "ttl": 300}]
    assert got[6]["event"] == {"lookup": "nx.test"}
    assert got[6]["error"].startswith("nx.test (A): "), got[6]
    assert got[7] == {"event": reqs[7], "error": "Invalid or unsupported record type: BOGUS"}
    assert got[8] == {"event": reqs[8], "error": "Invaliud DNS request"}
    assert got[9] == {"event": reqs[9], "error": "Invalid DNS request"}


def test_answers_without_linked_true(tmp_path, dnsmasq):
    """0.11's dns sink answers whatever `linked` says; its syslog/dns recipe
    links from a dns offramp without the flag."""
    unlinked = CONFIG.replace("    linked: true\n", "")
    assert unlinked != CONFIG
    (tmp_path / "main.trickle").write_text(MAIN)
    (tmp_path / "back.trickle").write_text(BACK)
    (tmp_path / "reqs.json").write_text(json.dumps({"id": 0, "req": {"lookup": "host.test"}}) + "\n")
    (tmp_path / "config.yaml").write_text(unlinked.format(port=dnsmasq))
    p = run_tremor(["server", "run", "-n", "-f", "main.trickle", "back.trickle", "config.yaml"], tmp_path,
                   timeout=60)
    assert p.returncode == 0, p.stderr
    got = [json.loads(l) for l in (tmp_path / "out.json").read_text().splitlines()]
    assert got == [{"corr": 0, "res": [{"A": "10.1.2.3", "ttl": 300}]}], got


def test_help_lists_the_keys(tmp_path):
    p = run_tremor(["server", "run", "--help-connector", "dns"], tmp_path)
    assert p.returncode == 0, p.stderr
    for key in ("servers", "concurrency", "timeout_ms"):
        assert key in p.stdout, p.stdout
