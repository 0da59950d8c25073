"""Operating tremor: 0.11's command line (global flags before `server run`,
every `server run` flag, the launcher script of 0.11's packages), log lines
(RFC 3339, JSON, a log4rs logger config), `check`, files in any order, `make
install` with the systemd unit and man page, sd_notify, and `wal
inspect/verify`."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import ROOT, TREMOR, free_port, run_tremor, wait_until

pytestmark = pytest.mark.timeout(120)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}) ")

# metronome -> pipeline main -> stdout; the pipeline stamps the instance
CONFIG = """onramp:
  - id: tick
    type: metronome
    config:
      interval: 20
offramp:
  - id: out
    type: stdout
binding:
  - id: default
    links:
      '/onramp/tick/{instance}/out': [ '/pipeline/main/{instance}/in' ]
      '/pipeline/main/{instance}/out': [ '/offramp/out/{instance}/in' ]
"""
MAPPING = """mapping:
  /binding/default/01:
    instance: '01'
"""
QUERY = 'use tremor::system;\nselect {"instance": system::instance(), "id": event.id} from in into out;\n'


def write(d, name, text):
    p = os.path.join(d, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    return p


def tutorial(d):
    write(d, "binding.yaml", CONFIG)
    write(d, "mapping.yaml", MAPPING)
    write(d, "main.trickle", QUERY)


def first_json_line(p):
    while True:
        line = p.next_line(timeout=20)
        try:
            return json.loads(line)
        except ValueError:
            continue


# ---------------------------------------------------------------- command line

def test_global_flags_before_server_run_and_files_in_any_order(tmp_path, procs):
    tutorial(str(tmp_path))
    # 0.11's positions: -v and -i before the subcommand; mapping before binding
    p = procs(["-v", "-i", "node7", "server", "run", "-n", "-d", "data",
               "-f", "mapping.yaml", "binding.yaml", "main.trickle"], cwd=str(tmp_path))
    ev = first_json_line(p)
    assert ev["instance"] == "node7", ev
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.stderr()
    # -v given globally takes effect: check logs at WARN, -v lowers it
    quiet = run_tremor(["check", "main.trickle"], cwd=str(tmp_path))
    loud = run_tremor(["-v", "check", "main.trickle"], cwd=str(tmp_path))
    assert "loaded pipeline" not in quiet.stderr and "loaded pipeline" in loud.stderr


def test_every_server_run_flag_is_accepted_and_listed(tmp_path, procs):
    tutorial(str(tmp_path))
    port = free_port()
    logger = write(str(tmp_path), "logger.yaml", "root:\n  level: info\n")
    p = procs(["server", "run", "-f", "binding.yaml", "mapping.yaml", "main.trickle",
               "-p", "pidfile", "-d", "data", "-h", "127.0.0.1:%d" % port,
               "-l", logger, "-r", "2048", "--storage-directory", "data2"], cwd=str(tmp_path))
    first_json_line(p)
    pid = open(os.path.join(str(tmp_path), "pidfile")).read().strip()
    assert pid == str(p.p.pid)
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.stderr()
    h = run_tremor(["server", "run", "--help"], cwd=str(tmp_path))
    assert h.returncode == 0
    for flag in ["-f, --file", "-d, --storage-directory", "-p, --pid", "-n, --no-api",
                 "-h, --api-host", "-l, --logger-config", "-r, --recursion-limit", "--check"]:
        assert flag in h.stdout, flag
    g = run_tremor(["--help"], cwd=str(tmp_path))
    for flag in ["-v, --verbose", "-i, --instance", "--logger-config", "--log-format", "check",
                 "wal inspect"]:
        assert flag in g.stdout, flag
    bad = run_tremor(["server", "run", "-r", "0", "-f", "main.trickle"], cwd=str(tmp_path))
    assert bad.returncode == 1 and "recursion-limit" in bad.stderr


def upstream_launcher():
    """Tremor 0.11.12's packaging launcher, read from the upstream mirror."""
    repo = "/work/.mirror/tremor-rs+tremor-runtime/repo"
    if not os.path.isdir(repo):
        return None
    r = subprocess.run(["git", "--git-dir", repo, "show",
                        "v0.11.12:packaging/distribution/usr/share/tremor/tremor.sh"],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def launcher_env(tmp_path, port):
    etc = os.path.join(str(tmp_path), "etc")
    write(etc, "config/binding.yaml", CONFIG)
    write(etc, "config/mapping.yaml", MAPPING)
    write(etc, "config/main.trickle", QUERY)
    write(etc, "logger.yaml", "appenders:\n  stdout:\n    kind: console\nroot:\n  level: info\n"
          "  appenders:\n    - stdout\n")
    # a stand-in for /usr/bin/tremor: the real binary with the API on a free
    # port (server run flags may follow the files)
    shim = write(str(tmp_path), "bin/tremor",
                 "#!/bin/sh\nexec %s \"$@\" -h 127.0.0.1:%d\n" % (TREMOR, port))
    os.chmod(shim, 0o755)
    env = dict(os.environ, TREMOR_DIR=etc)
    return shim, env


def run_launcher(script, env, cwd):
    p = subprocess.Popen(["sh", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = None
        for line in p.stdout:
            if line.startswith("{"):
                break
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, line, err


def test_tremor_0_11_launcher_starts_tremor_c(tmp_path):
    text = upstream_launcher()
    if text is None:
        pytest.skip("no upstream tremor-runtime mirror to read 0.11's tremor.sh from")
    shim, env = launcher_env(tmp_path, free_port())
    script = write(str(tmp_path), "tremor.sh", text.replace("/usr/bin/tremor", shim))
    rc, line, err = run_launcher(script, env, str(tmp_path))
    assert line and json.loads(line)["instance"] == "tremor", err
    # the launcher's own command line: server run --logger-config FILE -f FILES
    assert "server run --logger-config" in err and rc == 0, err


def test_our_launcher_starts_tremor(tmp_path):
    shim, env = launcher_env(tmp_path, free_port())
    env["TREMOR_BIN"] = shim
    env["STATE_DIRECTORY"] = os.path.join(str(tmp_path), "state")
    os.makedirs(env["STATE_DIRECTORY"])
    rc, line, err = run_launcher(os.path.join(ROOT, "packaging", "tremor.sh"), env, str(tmp_path))
    assert line and json.loads(line)["instance"] == "tremor", err
    assert rc == 0, err


# ---------------------------------------------------------------- logging

def test_log_lines_carry_rfc3339_time_and_level(tmp_path, procs):
    tutorial(str(tmp_path))
    p = procs(["server", "run", "-n", "-d", "data", "-f", "binding.yaml", "mapping.yaml",
               "main.trickle"], cwd=str(tmp_path))
    first_json_line(p)
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    lines = [l for l in p.stderr().splitlines() if l.strip()]
    assert lines
    for l in lines:
        assert RFC3339.match(l), l
        assert l.split(" ")[1] in ("ERROR", "WARN", "INFO", "DEBUG", "TRACE"), l
    assert any("INFO  [server] received SIGTERM" in l for l in lines)


def test_log_format_json(tmp_path, procs):
    tutorial(str(tmp_path))
    p = procs(["--log-format", "json", "server", "run", "-n", "-d", "data", "-f",
               "binding.yaml", "mapping.yaml", "main.trickle"], cwd=str(tmp_path))
    first_json_line(p)
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    objs = [json.loads(l) for l in p.stderr().splitlines() if l.strip()]
    assert objs
    for o in objs:
        assert set(o) == {"ts", "level", "target", "msg"}, o
        assert RFC3339.match(o["ts"] + " "), o
    assert {"level": "INFO", "target": "server", "msg": "received SIGTERM, stopping"} in \
        [{k: o[k] for k in ("level", "target", "msg")} for o in objs]


def test_logger_config_file_appender_pattern_and_ignored_parts(tmp_path, procs):
    tutorial(str(tmp_path))
    log = os.path.join(str(tmp_path), "logs", "tremor.log")
    # 0.11's packaged logger.yaml, with the file somewhere writable
    write(str(tmp_path), "logger.yaml", """refresh_rate: 30 seconds
appenders:
  file:
    kind: file
    path: "%s"
    encoder:
      pattern: "{d} {l} {M} - {m}{n}"
root:
  level: warn
  appenders:
    - file
loggers:
  tremor_runtime:
    level: info
    appenders:
      - file
    additive: false
""" % log)
    p = procs(["server", "run", "--logger-config", "logger.yaml", "-n", "-d", "data", "-f",
               "binding.yaml", "mapping.yaml", "main.trickle"], cwd=str(tmp_path))
    first_json_line(p)
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.stderr()
    text = open(log).read()
    lines = text.splitlines()
    # the pattern: time, level, module, " - ", message
    assert any(re.match(r"^\S+ INFO world - deployed /binding/default/01$", l) for l in lines), text
    assert all(RFC3339.match(l) for l in lines), text
    head = [l for l in lines if "logger config" in l][0]
    assert " WARN server - " in head
    assert "refresh_rate" in head and "additive" in head and "ignored" in head
    assert "level info (from loggers.tremor_runtime)" in head


def test_logger_config_errors_are_located(tmp_path):
    write(str(tmp_path), "main.trickle", QUERY)
    write(str(tmp_path), "logger.yaml", "root:\n  level: loud\n")
    p = run_tremor(["server", "run", "-n", "-l", "logger.yaml", "-f", "main.trickle"],
                   cwd=str(tmp_path))
    assert p.returncode == 1
    assert "logger.yaml:2:10: unknown level 'loud'" in p.stderr, p.stderr


# ---------------------------------------------------------------- check

BAD_OPERATOR = """define qos::wal operator on_disk_wal
  read_count = 20,
  max_elements = 1000
;
create operator on_disk_wal;
select event from in into on_disk_wal;
select event from on_disk_wal into out;
"""
FLAT_YAML = """onramp:
- id: metronome
type: metronome
config:
interval: 1000
"""


def test_check_reports_every_file_with_hints_first(tmp_path):
    d = str(tmp_path)
    write(d, "wal.trickle", BAD_OPERATOR)
    write(d, "flat.yaml", FLAT_YAML)
    write(d, "other.trickle", "select event from in into nowhere;\n")
    write(d, "good.trickle", QUERY)
    for args in (["check"], ["server", "run", "--check"]):
        p = run_tremor(args + ["wal.trickle", "flat.yaml", "other.trickle", "good.trickle"], cwd=d)
        assert p.returncode == 1
        err = p.stderr
        errors = [l for l in err.splitlines() if l.startswith("error: ")]
        # the hint is the first thing said about wal.trickle
        first = [l for l in errors if "wal.trickle" in l][0]
        assert "between `with` and `end;`" in first, err
        assert "    define qos::wal operator on_disk_wal\n    with\n      read_count = 20,\n" \
               "      max_elements = 1000\n    end;" in err
        first = [l for l in errors if "flat.yaml" in l][0]
        assert "lost its indentation" in first, err
        assert any("other.trickle" in l for l in errors), err   # a third file, still checked
        assert not any("good.trickle" in l for l in errors), err
        assert "3 of 4 files failed" in err


def test_check_deploys_nothing(tmp_path):
    d = str(tmp_path)
    # a tcp onramp on a port the test holds: a deploy would fail to listen
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        write(d, "c.yaml", """onramp:
  - id: in
    type: tcp
    config:
      host: 127.0.0.1
      port: %d
offramp:
  - id: f
    type: file
    config:
      file: out.json
binding:
  - id: b
    links:
      '/onramp/in/{instance}/out': [ '/pipeline/main/{instance}/in' ]
      '/pipeline/main/{instance}/out': [ '/offramp/f/{instance}/in' ]
mapping:
  /binding/b/01:
    instance: '01'
""" % port)
        write(d, "main.trickle", QUERY)
        p = run_tremor(["check", "c.yaml", "main.trickle"], cwd=d)
        assert p.returncode == 0, p.stderr
        assert "2 files OK" in p.stdout
        assert not os.path.exists(os.path.join(d, "out.json"))
        assert not os.path.exists(os.path.join(d, "tremor-data"))


# ---------------------------------------------------------------- install

def test_make_install_destdir(tmp_path):
    dest = str(tmp_path / "root")
    p = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/usr"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    files = sorted(os.path.relpath(os.path.join(r, f), dest)
                   for r, _, fs in os.walk(dest) for f in fs)
    assert files == [
        "etc/tremor/config/main.trickle.sample",
        "etc/tremor/config/main.yaml.sample",
        "etc/tremor/logger.yaml",
        "usr/bin/tremor",
        "usr/lib/systemd/system/tremor.service",
        "usr/share/man/man1/tremor.1",
        "usr/share/tremor/tremor.sh",
    ], files
    unit = open(os.path.join(dest, "usr/lib/systemd/system/tremor.service")).read()
    assert "ExecStart=/usr/share/tremor/tremor.sh" in unit and not re.search(r"@[A-Z]+@", unit)
    for key in ["Type=notify", "Restart=on-failure", "ProtectSystem=strict", "NoNewPrivileges=yes",
                "PrivateTmp=yes", "StateDirectory=tremor", "WatchdogSec="]:
        assert key in unit, key
    assert os.access(os.path.join(dest, "usr/bin/tremor"), os.X_OK)
    sh = open(os.path.join(dest, "usr/share/tremor/tremor.sh")).read()
    assert "TREMOR_BIN:-/usr/bin/tremor" in sh


def test_systemd_analyze_verifies_the_unit(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (scripts/deps.sh installs systemd)")
    prefix = str(tmp_path / "p")
    # installed at a real prefix, so that ExecStart exists for verify
    p = subprocess.run(["make", "-s", "install", "PREFIX=" + prefix, "SYSCONFDIR=" + prefix + "/etc"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    unit = os.path.join(prefix, "lib/systemd/system/tremor.service")
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
    v = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       env=env, timeout=60)
    # verify warns (and still exits 0) for unknown keys and values: none may appear
    assert v.returncode == 0 and v.stderr.strip() == "", v.stderr


def test_man_page_renders():
    page = os.path.join(ROOT, "docs", "tremor.1")
    g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True,
                       text=True, timeout=60)
    assert g.returncode == 0 and g.stderr == "", g.stderr
    m = subprocess.run(["man", "-l", "-P", "cat", page], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80"), timeout=60)
    assert m.returncode == 0, m.stderr
    text = re.sub(".\b", "", m.stdout)
    for word in ["NAME", "SYNOPSIS", "--logger-config", "--storage-directory", "--recursion-limit",
                 "wal verify", "READY=1", "EXIT STATUS"]:
        assert word in text, word


# ---------------------------------------------------------------- sd_notify

def test_sd_notify_ready_after_deploy_stopping_on_sigterm_and_watchdog(tmp_path):
    tutorial(str(tmp_path))
    sock_path = os.path.join(str(tmp_path), "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(20)
    log = open(os.path.join(str(tmp_path), "stderr.log"), "w")
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="200000")
    p = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f", "binding.yaml",
                          "mapping.yaml", "main.trickle"], cwd=str(tmp_path), env=env,
                         stdout=subprocess.DEVNULL, stderr=log)
    try:
        msgs = []

        def receive(what):
            while True:
                m = sock.recv(4096).decode()
                msgs.append(m)
                if what in m.split("\n"):
                    return m

        receive("READY=1")
        # READY=1 came after the deploy was logged
        assert "deployed /binding/default/01" in open(log.name).read()
        receive("WATCHDOG=1")
        assert not any("STOPPING=1" in m for m in msgs)
        p.send_signal(signal.SIGTERM)
        receive("STOPPING=1")
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sock.close()
        log.close()


# ---------------------------------------------------------------- wal inspect / verify

WAL_QUERY = """define qos::wal operator on_disk_wal
with
  read_count = 20,
  max_elements = 1000
end;
create operator on_disk_wal;
select event from in into on_disk_wal;
select event from on_disk_wal into out;
"""


def make_wal(d, procs):
    """A WAL holding unacknowledged events: its offramp's peer never answers."""
    port = free_port()
    write(d, "config.yaml", """onramp:
  - id: metronome
    type: metronome
    config:
      interval: 5
offramp:
  - id: ws
    type: ws
    config:
      url: ws://127.0.0.1:%d/
binding:
  - id: default
    links:
      '/onramp/metronome/{instance}/out': [ '/pipeline/persistent/{instance}/in' ]
      '/pipeline/persistent/{instance}/out': [ '/offramp/ws/{instance}/in' ]
mapping:
  /binding/default/01:
    instance: '01'
""" % port)
    write(d, "persistent.trickle", WAL_QUERY)
    p = procs(["server", "run", "-n", "-d", "data", "-f", "config.yaml", "persistent.trickle"], cwd=d)
    wal = os.path.join(d, "data", "wal", "persistent", "01", "on_disk_wal")
    seg = os.path.join(wal, "00000000000000000001.wal")
    wait_until(lambda: os.path.exists(seg) and os.path.getsize(seg) > 4000, what="WAL records",
               detail=p.stderr)
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.stderr()
    return wal, seg


def test_wal_inspect_and_verify_healthy(tmp_path, procs):
    wal, seg = make_wal(str(tmp_path), procs)
    i = run_tremor(["wal", "inspect", wal], cwd=str(tmp_path))
    assert i.returncode == 0, i.stderr
    rows = dict(re.split(r"\s{2,}", l, 1) for l in i.stdout.splitlines())
    n = int(rows["records"].split()[0])
    assert n > 0
    assert rows["segments"].startswith("1 (%d bytes)" % os.path.getsize(seg))
    assert rows["frontier"].startswith("0 ")          # nothing was ever acknowledged
    assert rows["unacknowledged"] == str(n)
    assert re.match(r"record 1, ingested \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$",
                    rows["oldest unacked"]), rows
    assert rows["damaged"].startswith("0 regions")
    v = run_tremor(["wal", "verify", wal], cwd=str(tmp_path))
    assert v.returncode == 0 and "every checksum holds" in v.stdout, v.stdout


def test_wal_verify_names_segment_and_offset_of_a_flipped_byte(tmp_path, procs):
    wal, seg = make_wal(str(tmp_path), procs)
    data = bytearray(open(seg, "rb").read())
    # walk the frames (16-byte header: u32 len, u64 seq, u32 crc; then payload
    # and its u32 crc) to a record in the middle, and flip a payload byte
    off, frames = 32, []
    while off + 16 <= len(data):
        ln = int.from_bytes(data[off:off + 4], "little") & 0x7FFFFFFF
        frames.append(off)
        off += 16 + ln + 4
    target = frames[len(frames) // 2]
    data[target + 16 + 3] ^= 0x20
    open(seg, "wb").write(bytes(data))
    before = open(seg, "rb").read()
    v = run_tremor(["wal", "verify", wal], cwd=str(tmp_path))
    assert v.returncode == 1, v.stdout
    assert "DAMAGED 00000000000000000001.wal offset %d " % target in v.stdout, v.stdout
    assert open(seg, "rb").read() == before   # read only
    i = run_tremor(["wal", "inspect", wal], cwd=str(tmp_path))
    assert i.returncode == 1 and "damaged          1 region" in i.stdout


def test_wal_empty_and_non_wal_directories(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    v = run_tremor(["wal", "verify", str(empty)], cwd=str(tmp_path))
    assert v.returncode == 0 and "empty" in v.stdout
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hello\n")
    for cmd in ("inspect", "verify"):
        v = run_tremor(["wal", cmd, str(other)], cwd=str(tmp_path))
        assert v.returncode == 2 and "not a WAL directory" in v.stderr, v.stderr
    v = run_tremor(["wal", "verify", str(tmp_path / "missing")], cwd=str(tmp_path))
    assert v.returncode == 2 and "No such file" in v.stderr


def test_check_reports_every_reference_to_nothing(tmp_path):
    d = str(tmp_path)
    write(d, "binding.yaml", CONFIG)
    write(d, "mapping.yaml", MAPPING + "  /binding/nope/02:\n    instance: '02'\n")
    p = run_tremor(["check", "mapping.yaml", "binding.yaml"], cwd=d)   # no main.trickle
    assert p.returncode == 1
    errs = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
    assert "error: binding.yaml:12:40: /pipeline/main/{instance}/in names pipeline 'main', " \
           "which no file defines (defined: none)" in errs, p.stderr
    assert any(l.startswith("error: binding.yaml:13:") and "pipeline 'main'" in l for l in errs)
    assert any(l.startswith("error: mapping.yaml:4:3: /binding/nope/02 names binding 'nope'")
               for l in errs), p.stderr
    assert len(errs) == 3, p.stderr
    write(d, "main.trickle", QUERY)
    write(d, "mapping.yaml", MAPPING)
    p = run_tremor(["check", "mapping.yaml", "binding.yaml", "main.trickle"], cwd=d)
    assert p.returncode == 0, p.stderr
