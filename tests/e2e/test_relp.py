"""The relp onramp with rsyslog as the real sender: rsyslogd (imtcp in,
omrelp out, retrying forever) forwards numbered lines to tremor-c, whose
relp onramp answers each message only once its qos::wal made it durable.
tremor-c is SIGKILLed mid-stream and restarted; every line rsyslog took
arrives. Also: malformed frames, an oversized frame and a silent peer are
closed, and well-behaved peers keep being served. Every server is started
here on loopback and stopped by its pid."""
import os
import shutil
import signal
import socket
import subprocess
import threading

import pytest

from conftest import TremorServer, free_port, wait_until

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
OMRELP = "/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so"

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(not (os.path.exists(RSYSLOGD) and os.path.exists(OMRELP)),
                                 reason="rsyslog and rsyslog-relp are installed by scripts/deps.sh")]

RSYSLOG_CONF = """global(workDirectory="{work}")
module(load="imtcp")
module(load="omrelp")
template(name="msgonly" type="string" string="%msg%")
input(type="imtcp" port="{in_port}" address="127.0.0.1")
action(type="omrelp" target="127.0.0.1" port="{relp_port}" template="msgonly"
       action.resumeRetryCount="-1" action.resumeInterval="1"
       queue.type="LinkedList" queue.size="500000")
"""

QUERY = """define qos::wal operator wal
with
  read_count = 100,
  max_elements = 1000000
end;
create operator wal;
select event from in into wal;
select event from wal into out;
"""

CONFIG = """onramp:
  - id: relp
    type: relp
    codec: json
    config:
      host: 127.0.0.1
      port: {relp_port}
offramp:
  - id: out
    type: file
    codec: json
    config:
      file: {out}
binding:
  - id: default
    links:
      "/onramp/relp/{{instance}}/out": ["/pipeline/stored/{{instance}}/in"]
      "/pipeline/stored/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/default/01:
    instance: "01"
"""


class Tremor(TremorServer):
    def __init__(self, cwd, relp_port, out, extra=""):
        config = CONFIG.format(relp_port=relp_port, out=out)
        if extra:
            config = config.replace("port: %d\n" % relp_port, "port: %d\n%s" % (relp_port, extra))
        (cwd / "config.yaml").write_text(config)
        super().__init__(cwd, ["-d", "data", "-f", "stored.trickle", "config.yaml"])

    def listening(self):
        return self.has("relp onramp 'relp' listening")


def ids_in(paths):
    ids = []
    for p in paths:
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    if line.endswith("\n"):
                        ids.append(__import__("json").loads(line)["id"])
    return ids


def start_rsyslog(tmp_path, in_port, relp_port):
    work = tmp_path / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=work, in_port=in_port, relp_port=relp_port))
    p = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(work / "pid")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def up():
        try:
            socket.create_connection(("127.0.0.1", in_port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until(up, timeout=30, what="rsyslogd's imtcp")
    return p


def test_rsyslog_omrelp_loses_nothing_across_sigkill(tmp_path):
    in_port, relp_port = free_port(), free_port()
    (tmp_path / "stored.trickle").write_text(QUERY)
    outs = []
    runs = 0

    def start():
        nonlocal runs
        out = str(tmp_path / ("out%d.jsonl" % runs))
        outs.append(out)
        runs += 1
        t = Tremor(tmp_path, relp_port, out)
        wait_until(t.listening, timeout=30, what="the relp onramp", detail=t.log)
        return t

    t = start()
    rs = start_rsyslog(tmp_path, in_port, relp_port)
    n = 20000

    def send():
        # rsyslog takes every line (imtcp); what it does with them is its job
        with socket.create_connection(("127.0.0.1", in_port)) as s:
            for i in range(n):
                s.sendall(b'<13>Dec  2 16:00:00 host app: {"id":%d}\n' % i)

    th = threading.Thread(target=send, daemon=True)
    th.start()
    try:
        for k in range(3):
            target = len(set(ids_in(outs))) + 2000
            wait_until(lambda: len(set(ids_in(outs))) >= min(target, n),
                       timeout=60, what="progress before kill %d" % k, detail=t.log)
            t.kill()
            t = start()
        wait_until(lambda: len(set(ids_in(outs))) >= n, timeout=120,
                   what="every line at the sink",
                   detail=lambda: "missing %s\n%s" % (sorted(set(range(n)) - set(ids_in(outs)))[:20],
                                                       t.log()))
        assert t.kill(signal.SIGTERM) == 0, t.log()
    finally:
        t.kill()
        rs.send_signal(signal.SIGTERM)
        rs.wait(20)
    ids = ids_in(outs)
    print("per run:", [len(ids_in([o])) for o in outs], "duplicates:", len(ids) - n)
    assert sorted(set(ids)) == list(range(n))
    # duplicates: per restart at most the messages rsyslog had out unanswered
    # (its window) plus what the WAL replays
    assert len(ids) - n <= 3 * 2000, "%d duplicates" % (len(ids) - n)


def relp_frame(txnr, cmd, data=b""):
    return b"%d %s %d%s%s\n" % (txnr, cmd, len(data), b" " if data else b"", data)


def read_answers(s, n, timeout=20.0):
    s.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def test_hostile_peers_are_closed_and_others_served(tmp_path):
    """A frame with a 2^64-1 length, one over max_message_size, a malformed header, data before open
    and a silent peer are each closed, logged and counted; a well-behaved
    peer alongside gets every message stored and answered 200."""
    relp_port = free_port()
    (tmp_path / "stored.trickle").write_text(QUERY)
    out = str(tmp_path / "out.jsonl")
    t = Tremor(tmp_path, relp_port, out, extra="      open_timeout_ms: 500\n")
    try:
        wait_until(t.listening, timeout=30, what="the relp onramp", detail=t.log)
        good = socket.create_connection(("127.0.0.1", relp_port))
        good.sendall(relp_frame(1, b"open", b"relp_version=0\nrelp_software=test\ncommands=syslog"))
        assert b" rsp " in read_answers(good, 1)

        def closed_by_server(payload):
            s = socket.create_connection(("127.0.0.1", relp_port))
            s.sendall(payload)
            s.settimeout(20)
            got = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
            s.close()
            return got

        closed_by_server(relp_frame(1, b"open", b"x") + b"2 syslog 18446744073709551615 x\n")
        closed_by_server(relp_frame(1, b"open", b"x") + b"2 syslog 999999999 x\n")
        closed_by_server(b"1 op3n 0\n")
        got = closed_by_server(b'1 syslog 8 {"id":1}\n')
        assert b"500" in got   # not open: refused, then closed
        silent = socket.create_connection(("127.0.0.1", relp_port))
        # the silent one is closed after open_timeout_ms
        silent.settimeout(20)
        assert silent.recv(10) == b""
        for i in range(100):
            good.sendall(relp_frame(i + 2, b"syslog", b'{"id":%d}' % i))
        answers = read_answers(good, 100)
        assert answers.count(b" rsp 6 200 OK\n") == 100
        good.close()
        wait_until(lambda: sorted(set(ids_in([out]))) == list(range(100)), timeout=30,
                   what="the good peer's messages at the sink", detail=t.log)
        log = t.text()
        assert "over the" in log and "malformed RELP frame" in log and "no RELP open" in log, log
    finally:
        t.kill()
