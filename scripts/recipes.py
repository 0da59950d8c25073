#!/usr/bin/python3
"""Run Tremor 0.11's documentation recipes unchanged against build/tremor.

    scripts/recipes.py [--mirror GITDIR] [--only 00,31,...] [--tremor PATH] [-v]

GITDIR is a bare clone of github.com/tremor-rs/tremor-www (default: the
mirror at /work/.mirror/tremor-rs+tremor-www/repo, or $TREMOR_WWW_GIT). The
recipes (versioned_docs/version-0.11/recipes/NN_name) are taken from it as
they are. For each one it prints whether its config files

  load  `tremor check etc/tremor/config/*` passes (TREMOR_PATH as in 0.11's
        docker image: the recipe's usr/local/share/tremor);
  run   `tremor server run` starts with them and keeps running, in the file
        layout of the recipe's docker-compose (its etc/tremor at /etc/tremor,
        var/log at /var/log, usr/local/share/tremor; 0.11's entrypoint
        arguments) inside a private mount and network namespace (unshare),
        so its fixed ports and the compose service names (influxdb,
        tremor-server, webserver01...) are local to the run;
  does  what its index.md shows, driven by local peers (websockets, HTTP,
        TCP and UDP clients, Python stand-ins for the services it talks to
        (influxdb's write endpoint, web servers, Elasticsearch's _bulk),
        PostgreSQL 15 for postgres/timescaledb, dnsmasq as the resolver, or
        tremor itself running the recipe another one builds on).

Needs root (unshare -mn, mounts), python3-websockets, postgresql-15 and
dnsmasq-base. Exit 0 when every
recipe that was expected to (EXPECTED below) loads, runs and does what its
README shows.
"""
import argparse
import asyncio
import glob
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SUB = "versioned_docs/version-0.11/recipes"

# Recipes whose connectors exist here: these should load, run and behave.
EXPECTED = ["00", "01", "02", "03", "11", "12", "14", "15", "20", "21", "22", "30", "31", "32", "33", "34", "35", "36",
            "37"]

# Compose service names -> loopback addresses inside the namespace.
HOSTS = {
    "elastic": "127.0.0.70", "influxdb": "127.0.0.31", "tremor-server": "127.0.0.41", "webserver01": "127.0.0.51",
    "webserver02": "127.0.0.52", "webserver03": "127.0.0.53", "quota_service_1": "127.0.0.61",
    "quota_service_2": "127.0.0.62", "elasticsearch": "127.0.0.71", "kafka": "127.0.0.72",
    "postgres": "127.0.0.73", "timescaledb": "127.0.0.74", "otel-collector": "127.0.0.75",
    "apm-server": "127.0.0.76", "redpanda": "127.0.0.77", "grafana": "127.0.0.78", "telegraf": "127.0.0.79",
}

# What the DNS stand-in answers for example.com (recipe 15).
EXAMPLE_COM = "192.0.2.15"

# Why a recipe cannot do what it shows here (connectors not in this tree).
NEEDS = {
    "10": "a driver (an Elasticsearch _bulk stand-in is here, EsBulkPeer)", "12": "postgres and timescaledb (local PostgreSQL 15 here)", "13": "influxdb + grafana (docker services only)",
    "15": "a DNS resolver (dnsmasq here)", "23": "kafka onramp/offramp",
    "24": "kafka onramp/offramp (redpanda)", "36": "elasticsearch (a _bulk stand-in here)",
    "38": "influxdb service with flux queries (rest polling)", "39": "kafka onramp/offramp and elastic offramp",
    "40": "otel onramp/offramp", "41": "otel", "42": "otel", "43": "otel", "44": "otel",
    "104": "kafka onramp/offramp (redpanda) and elastic offramp",
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise Failed("timed out waiting for " + what)


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


# ------------------------------------------------------------------ tremor

class Tremor:
    """tremor server run as 0.11's docker entrypoint runs it."""

    def __init__(self, binary, cfg_dir="/etc/tremor", extra=(), cwd=None, name="tremor",
                 tremor_path="/usr/local/share/tremor:/usr/share/tremor/lib"):
        files = []
        for pat in ("*.yaml", "*.yml", "*.trickle"):
            files += sorted(glob.glob(os.path.join(cfg_dir, "config", pat)))
        args = [binary, "server", "run"]
        if os.path.exists(os.path.join(cfg_dir, "logger.yaml")):
            args += ["--logger-config", os.path.join(cfg_dir, "logger.yaml")]
        args += list(extra) + ["-f"] + files
        self.cwd = cwd or tempfile.mkdtemp(prefix="app-")
        self.out = open(os.path.join(self.cwd, name + ".out"), "w+")
        self.err = open(os.path.join(self.cwd, name + ".err"), "w+")
        env = dict(os.environ, TREMOR_PATH=tremor_path)
        self.p = subprocess.Popen(args, cwd=self.cwd, stdout=self.out, stderr=self.err, env=env)

    def stdout(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def lines(self, prefix=""):
        return [l[len(prefix):] for l in self.stdout().splitlines() if l.startswith(prefix)]

    def json_lines(self, prefix=""):
        out = []
        for l in self.lines(prefix):
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
        return out

    def wait_running(self, timeout=10):
        """True once deployed and still alive a moment later."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                return False
            if " running (instance" in self.stderr() + self.stdout():
                time.sleep(0.5)
                return self.p.poll() is None
            time.sleep(0.05)
        return False

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


# ------------------------------------------------------------------- peers

def ws_exchange(url, msgs, answers=0, timeout=10):
    """Send msgs on one connection; return the first `answers` replies."""
    import websockets

    async def go():
        async with websockets.connect(url, open_timeout=timeout) as c:
            for m in msgs:
                await c.send(m)
            return [await asyncio.wait_for(c.recv(), timeout) for _ in range(answers)]
    return asyncio.run(go())


class WsSink:
    """A ws server recording every message (the receiver of 20-22)."""

    def __init__(self, host, port):
        self.host, self.port, self.got = host, port, []
        self._ready = threading.Event()

    async def _handler(self, ws, path=None):
        import websockets
        try:
            async for m in ws:
                self.got.append(m)
        except websockets.ConnectionClosed:
            pass

    async def _main(self):
        import websockets
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, self.host, self.port):
            self._ready.set()
            await self._stop.wait()

    def start(self):
        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        check(self._ready.wait(10), "ws server start")
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._t.join(10)


class HttpPeer:
    """An HTTP server answering every request with JSON describing it
    (httpbin-like), recording what it got."""

    def __init__(self, host, port, name):
        peer = self
        self.got = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
                peer.got.append((self.command, self.path, dict(self.headers), body))
                out = json.dumps({"server": name, "method": self.command, "url": self.path,
                                  "data": body, "headers": dict(self.headers)}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            do_GET = do_POST = do_PUT = do_DELETE = answer

        self.srv = http.server.ThreadingHTTPServer((host, port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class EsBulkPeer:
    """An Elasticsearch stand-in: answers POST /_bulk as Elasticsearch does
    (an item per action, status 201) and keeps the documents per index;
    GET / gives a version. Only what the recipes' elastic offramps use."""

    def __init__(self, host, port):
        peer = self
        self.docs = {}
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, v):
                out = json.dumps(v).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                self.reply(200, {"version": {"number": "7.17.0"}, "tagline": "You Know, for Search"})

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                if not self.path.split("?")[0].endswith("/_bulk"):
                    self.reply(404, {"error": "no handler for " + self.path})
                    return
                lines = [l for l in body.split("\n") if l.strip()]
                items, i = [], 0
                while i < len(lines):
                    action = json.loads(lines[i])
                    (op, m), = action.items()
                    doc = None
                    if op != "delete":
                        i += 1
                        doc = json.loads(lines[i])
                    i += 1
                    with peer.lock:
                        peer.docs.setdefault(m.get("_index"), []).append(doc)
                    items.append({op: {"_index": m.get("_index"), "_id": str(len(items)), "status": 201,
                                       "result": "created"}})
                self.reply(200, {"took": 1, "errors": False, "items": items})

        self.srv = http.server.ThreadingHTTPServer((host, port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def index(self, name):
        with self.lock:
            return list(self.docs.get(name, []))

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class PgPeer:
    """PostgreSQL 15 (Debian's postgresql-15) standing in for a compose
    service: a fresh cluster (user postgres, the compose file's password,
    scram authentication) listening on the service's address at 5432, its
    init script (docker-entrypoint-initdb.d) run with psql as the image
    runs it. It refuses to run as root, so it runs as the user postgres."""
    PGBIN = "/usr/lib/postgresql/15/bin"

    def __init__(self, hosts, password, init=None):
        import pwd
        pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="pg-", dir="/tmp")   # the user postgres must reach it
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.password = password
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        r = subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.PGBIN, "initdb"), "-D", self.data,
                        "-U", "postgres", "--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8",
                        "--no-sync", "--locale=C"], capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise Failed("initdb: " + (r.stderr or r.stdout)[-300:])
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.p = subprocess.Popen(
            [os.path.join(self.PGBIN, "postgres"), "-D", self.data, "-p", "5432", "-k", self.dir,
             "-c", "listen_addresses=" + ",".join(hosts), "-c", "fsync=off"],
            stdout=self.log, stderr=self.log, user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        self.host = hosts[0]
        wait_until(lambda: self.psql("postgres", "select 1", check_rc=False)[0] == 0, 60, "postgres to start")
        self.init_out = ""
        if init:
            env = dict(os.environ, POSTGRES_USER="postgres", POSTGRES_DB="postgres", PGHOST=self.host,
                       PGPASSWORD=password)
            r = subprocess.run(["bash", init], env=env, capture_output=True, text=True, timeout=60)
            self.init_out = r.stdout + r.stderr

    def psql(self, db, sql, check_rc=True):
        r = subprocess.run(["psql", "-h", self.host, "-p", "5432", "-U", "postgres", "-d", db, "-v",
                            "ON_ERROR_STOP=1", "-Atc", sql], env=dict(os.environ, PGPASSWORD=self.password),
                           capture_output=True, text=True, timeout=60)
        if check_rc and r.returncode:
            raise Failed("psql: " + r.stderr.strip())
        return r.returncode, [l.split("|") for l in r.stdout.splitlines() if l]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class DnsPeer:
    """dnsmasq (Debian's dnsmasq-base) as the resolver of /etc/resolv.conf
    in the namespace, answering names from a fixed table and refusing the
    rest (no upstream): the recipes' lookups stay on this machine."""

    def __init__(self, addresses):
        self.p = subprocess.Popen(
            ["dnsmasq", "-k", "--port=53", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
             "--no-hosts", "--user=root", "--pid-file="] +
            ["--address=/%s/%s" % (n, a) for n, a in addresses.items()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # an own file in the /etc overlay (a symlink there would lead out of it)
        if os.path.lexists("/etc/resolv.conf"):
            os.remove("/etc/resolv.conf")
        with open("/etc/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")
        name = next(iter(addresses))
        query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
                 b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01")

        def answers():   # an A query: an answer with no error and a record
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:
                q.settimeout(1)
                try:
                    q.sendto(query, ("127.0.0.1", 53))
                    r = q.recv(512)
                except OSError:
                    return False
            return len(r) >= 12 and r[:2] == b"\x12\x34" and r[3] & 0xF == 0 and r[6:8] != b"\x00\x00"
        wait_until(answers, 10, "dnsmasq to answer")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(10)


def http_req(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=10):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def wait_port(port, host="127.0.0.1", timeout=10):
    def ok():
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(ok, timeout, "port %d" % port)


# ----------------------------------------------------------------- drivers
# Each gets the running tremor (t), the recipe's directory and the binary;
# raises Failed with what differs from the README.

def inputs(rdir, name="inputs.txt"):
    with open(os.path.join(rdir, name)) as f:
        return [l for l in f.read().splitlines() if l.strip()]


def d_00(t, rdir, binary):
    wait_port(4242)
    ws_exchange("ws://127.0.0.1:4242", inputs(rdir))
    got = wait_until(lambda: len(t.json_lines(">> ")) >= 2 and t.json_lines(">> "), 10, "two events on stdout")
    check(got == [json.loads(l) for l in inputs(rdir)], "stdout shows %r" % got)


def d_01(t, rdir, binary):
    wait_port(4242)
    ws_exchange("ws://127.0.0.1:4242", inputs(rdir))
    got = wait_until(lambda: t.json_lines(">> "), 10, "an event on stdout")
    check(got == [{"hello": "again", "selected": True}], "stdout shows %r" % got)


def d_02(t, rdir, binary):
    wait_port(4242)
    ws_exchange("ws://127.0.0.1:4242", inputs(rdir))
    got = wait_until(lambda: t.json_lines(">> "), 10, "an event on stdout")
    check(got == [{"hello": "hi there again", "world": "again"}], "stdout shows %r" % got)


def d_03(t, rdir, binary):
    # both lines of inputs.txt are valid (string hello, bool selected); neither invalid one is
    wait_port(4242)
    ws_exchange("ws://127.0.0.1:4242", inputs(rdir, "invalids.txt") + inputs(rdir))
    got = wait_until(lambda: len(t.json_lines(">> ")) >= 2 and t.json_lines(">> "), 10, "two events on stdout")
    check(got == [json.loads(l) for l in inputs(rdir)], "stdout shows %r" % got)


def d_11(t, rdir, binary):
    influx = t.influx   # started before tremor
    line = "cpu,host=web01 usage=42.5,idle=57.5 1465839830100400200"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto((line + "\n").encode(), ("127.0.0.1", 4242))
    # the debug offramp (influx codec) echoes it, debug2 (json) shows it decoded
    want = {"measurement": "cpu", "tags": {"host": "web01"}, "fields": {"usage": 42.5, "idle": 57.5},
            "timestamp": 1465839830100400200}
    got = wait_until(lambda: t.json_lines(), 10, "the decoded event on stdout")
    check(got[0] == want, "stdout shows %r" % got)
    # the batch goes to influxdb's /write?db=tremor as line protocol
    wait_until(lambda: influx.got, 15, "a write to influxdb")
    m, path, hdr, body = influx.got[0]
    check(m == "POST" and path == "/write?db=tremor", "influxdb got %s %s" % (m, path))
    check(hdr.get("Client") == "Tremor", "influxdb got headers %r" % hdr)
    check(body.strip().splitlines()[0] == "cpu,host=web01 idle=57.5,usage=42.5 1465839830100400200",
          "influxdb got %r" % body)


def d_12(t, rdir, binary):
    pg, tsdb = t.pg
    # seed_pg.sh's INSERT failed (see inside()); the row it meant is there
    check("CREATE TABLE" in pg.init_out and "CREATE TABLE" in tsdb.init_out,
          "seeding: %r %r" % (pg.init_out, tsdb.init_out))

    def rows():
        return tsdb.psql("measurements", "SELECT user_id, product_id, quantity, "
                         "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM events")[1]
    # the crononome's payload every 5 s, and the postgres onramp's row (it
    # polls every interval_ms = 10 s, backfilling from consume_from)
    want_cron = ["12345", "jdwa2djh2", "2", "2020-04-08 00:00:00"]
    want_pg = ["20", "SOMEID", "98", "2020-02-10 20:02:02"]
    wait_until(lambda: want_cron in rows() and want_pg in rows(), 40, "rows from both onramps in timescaledb")
    check(rows().count(want_pg) == 1, "the postgres row once: %r" % rows())
    out = t.json_lines()
    check(any(isinstance(e, dict) and e.get("product_id", {}).get("value") == "jdwa2djh2" for e in out)
          and any(isinstance(e, dict) and e.get("product_id", {}).get("value") == "SOMEID" for e in out),
          "stdout shows %r" % out[-4:])


def d_14(t, rdir, binary):
    got = wait_until(lambda: len(t.json_lines(">> ")) >= 2 and t.json_lines(">> "), 10, "two metronome events")
    e = got[0]
    check(e["hostname"] == "example.com" and e["appname"] == "evntsog" and e["msgid"] == "ID47"
          and e["severity"] == "notice" and e["facility"] == "local4" and e["protocol"] == "RFC5424"
          and e["structured_data"] == {"exampleSDID@32473": [{"eventSource": "Tremor"}, {"eventID": "0"}]}
          and e["msg"] == "BOMAn application event log entry...", "stdout shows %r" % e)
    check(got[1]["structured_data"]["exampleSDID@32473"][1] == {"eventID": "1"}, "second: %r" % got[1])
    # `logger -d -n 127.0.0.1 -P 12201 "Weeeeh. It works :D"` (util-linux sends RFC 5424)
    msg = "<13>1 2022-05-04T13:43:27.829230+00:00 neptune user - - [timeQuality tzKnown=\"1\"] Weeeeh. It works :D"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(msg.encode(), ("127.0.0.1", 12201))
    got = wait_until(lambda: [e for e in t.json_lines(">> ") if e.get("hostname") == "neptune"], 10,
                     "the logger line")
    e = got[0]
    check(e["msg"] == "Weeeeh. It works :D" and e["severity"] == "notice" and e["facility"] == "user",
          "stdout shows %r" % e)


def metronome_ids(msgs):
    return [json.loads(m)["id"] for m in msgs]


def d_15(t, rdir, binary):
    # metronome -> syslog over udp -> dns lookup of the hostname -> the
    # event with the address merged in, on stdout
    def looked_up():
        return [e for e in t.json_lines(">> ") if isinstance(e, dict) and "ip" in e]
    got = wait_until(looked_up, 15, "events with the looked-up ip on stdout")
    e = got[0]
    check(e["ip"] == EXAMPLE_COM and e["hostname"] == "example.com" and e["appname"] == "evntsog"
          and e["msgid"] == "ID47" and e["msg"] == "BOMAn application event log entry..."
          and e["severity"] == "notice" and e["facility"] == "local4", "stdout shows %r" % e)


def d_20(t, rdir, binary, host="0.0.0.0"):
    # the receiver comes and goes; the WAL keeps what it missed
    ws = WsSink("127.0.0.1", 8080).start()
    wait_until(lambda: len(ws.got) >= 2, 10, "two events at the receiver")
    e = json.loads(ws.got[0])
    check(set(e) >= {"onramp", "id", "hostname", "ingest_ns"}, "receiver got %r" % e)
    ws.stop()
    time.sleep(2.5)   # the outage: the metronome keeps ticking (not a wait on tremor)
    ws2 = WsSink("127.0.0.1", 8080).start()
    try:
        wait_until(lambda: len(ws2.got) >= 3, 15, "events after the receiver came back")
        ids = sorted(set(metronome_ids(ws.got + ws2.got)))
        check(ids == list(range(ids[0], ids[-1] + 1)), "ids across the outage: %r" % ids)
    finally:
        ws2.stop()


def d_21(t, rdir, binary):
    d_20(t, rdir, binary)
    check(os.path.isdir(os.path.join(t.cwd, "store")), "no WAL directory 'store' in the working directory")


def d_22(t, rdir, binary):
    sinks = [WsSink("127.0.0.1", p).start() for p in (8080, 8081, 8082)]
    try:
        wait_until(lambda: all(len(s.got) >= 2 for s in sinks), 15, "events at all three receivers")
        sinks[1].stop()
        n0 = len(sinks[0].got) + len(sinks[2].got)
        wait_until(lambda: len(sinks[0].got) + len(sinks[2].got) >= n0 + 3, 15, "the others take over")
        ids = sorted(set(metronome_ids(sinks[0].got + sinks[1].got + sinks[2].got)))
        check(ids == list(range(ids[0], ids[-1] + 1)), "ids over the receivers: %r" % ids)
    finally:
        for s in (sinks[0], sinks[2]):
            s.stop()


def d_30(t, rdir, binary, port=8139):
    wait_port(port)
    st, h, b = http_req(port, "GET", "/snot")
    check((st, b) == (200, '"badger"'), "/snot: %s %r" % (st, b))
    check(h.get("x-powered-by") == "Tremor" and h.get("content-type") == "application/json", "/snot headers %r" % h)
    check(http_req(port, "GET", "/ping")[0] == 200, "/ping")
    st, h, b = http_req(port, "GET", "/")
    check(st == 301 and h.get("location") == "/index", "/: %s %r" % (st, h))
    st, h, b = http_req(port, "GET", "/index?name=badger")
    check(st == 200 and "<h1>Hello, badger!</h1>" in b and h.get("content-type") == "text/html", "/index: %r" % b)
    st, h, b = http_req(port, "POST", "/echo", '{"snot": "badger"}', {"Content-Type": "application/json"})
    v = json.loads(b)
    check(st == 200 and v["body"] == {"snot": "badger"} and v["meta"]["method"] == "POST"
          and v["meta"]["url"]["path"] == "/echo", "/echo json: %r" % b)
    st, h, b = http_req(port, "POST", "/echo", '{"snot": "badger"}',
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(json.loads(b)["body"] == '{"snot": "badger"}', "/echo string: %r" % b)
    st, h, b = http_req(port, "GET", "/stats")
    check(st == 200 and json.loads(b)["requests_processed"] >= 7, "/stats: %r" % b)
    st, h, b = http_req(port, "GET", "/non-existent-path")
    check(st == 404 and json.loads(b) == {"error": "Path not found: /non-existent-path", "event": ""},
          "404: %s %r" % (st, b))
    st, h, b = http_req(port, "GET", "/error-test")
    check(st == 500 and json.loads(b)["error"].startswith("Oh no, we ran into something unexpected :(\n Error")
          and "non_existent_var" in b, "/error-test: %s %r" % (st, b))
    st, h, b = http_req(port, "POST", "/echo", "{", {"Content-Type": "application/json"})
    # 0.11's error event through internal_error_processing (its source_id
    # there ends in /in; ours is the onramp's URL, as 0.11's source.rs has it)
    v = json.loads(b)
    check(st == 500 and v["error"].startswith("Oh no, we ran into something unexpected :(\n ")
          and v["source_id"].startswith("tremor://localhost/onramp/http/01") and "event_id" in v,
          "bad json: %s %r" % (st, b))
    st, h, b = http_req(port, "PUT", "/echo", "x")
    check(st == 501, "PUT: %s %r" % (st, b))


def d_31(t, rdir, binary, port=8139):
    wait_port(port)
    check([a.strip() for a in ws_exchange("ws://127.0.0.1:%d" % port, ["hello\n"], 1)] == ["hello"], "echo")
    check([a.strip() for a in ws_exchange("ws://127.0.0.1:%d" % port, ["snot\n"], 1)] == ["badger"], "snot")


def upstream(binary, recipes, name):
    """tremor running another recipe (the compose service tremor-server)."""
    d = tempfile.mkdtemp(prefix="upstream-")
    shutil.copytree(os.path.join(recipes, name, "etc", "tremor"), os.path.join(d, "etc"))
    return Tremor(binary, os.path.join(d, "etc"), ["-n"], name="upstream",
                  tremor_path=os.path.join(recipes, name, "usr", "local", "share", "tremor"))


def d_32(t, rdir, binary):
    wait_port(9139)
    wait_port(8139, HOSTS["tremor-server"])
    st, h, b = http_req(9139, "GET", "/snot")
    check((st, b) == (200, '"badger"'), "/snot via proxy: %s %r" % (st, b))
    check("Tremor (As Proxy)" in h.get("x-powered-by", ""), "x-powered-by: %r" % h)


def d_33(t, rdir, binary):
    wait_port(9139)
    wait_until(lambda: "Connected to" in t.stderr() + t.stdout(), 10, "the proxy connected upstream")
    check([a.strip() for a in ws_exchange("ws://127.0.0.1:9139", ["hello\n"], 1)] == ["hello"], "echo via proxy")
    check([a.strip() for a in ws_exchange("ws://127.0.0.1:9139", ["snot\n"], 1)] == ["badger"], "snot via proxy")
    # upstream stopped: a message is answered at once with an error (the
    # README: "an error will be bubbled up to the client"), then the
    # upstream started again: the proxy heals
    t.up.stop()
    wait_until(lambda: "Connection to ws://tremor-server:8139 lost" in t.stderr() + t.stdout(), 10,
               "the proxy to see the upstream go")
    t0 = time.monotonic()
    got = ws_exchange("ws://127.0.0.1:9139", ["hello\n"], 1, 5)
    check("error" in json.loads(got[0]) and time.monotonic() - t0 < 5,
          "while the upstream is down: %r" % got)
    t.up = upstream(binary, os.path.dirname(rdir), "31_servers_lt_ws")
    try:
        def healed():
            try:
                return ws_exchange("ws://127.0.0.1:9139", ["hello\n"], 1, 5)[0].strip() == "hello"
            except Exception:
                return False
        wait_until(healed, 30, "the proxy to answer again once the upstream is back")
    finally:
        t.up.stop()


def d_34(t, rdir, binary):
    wait_port(9139)
    wait_until(lambda: "Connected to" in t.stderr() + t.stdout(), 10, "the bridge connected upstream")
    st, h, b = http_req(9139, "POST", "/bridge", "hello")
    check((st, b) == (200, "hello") and h.get("x-powered-by") == "Tremor", "bridge: %s %r %r" % (st, b, h))
    st, h, b = http_req(9139, "POST", "/bridge", "snot")
    check(b == "badger", "bridge snot: %r" % b)
    st, h, b = http_req(9139, "POST", "/some_path", "snot")
    check(json.loads(b) == {"error": "Oh no, we ran into something unexpected :(\n Unsupported url path: /some_path",
                            "event": "snot"}, "some_path: %s %r" % (st, b))


def d_35(t, rdir, binary):
    wait_port(65535)
    seen = []
    for _ in range(6):
        st, h, b = http_req(65535, "GET", "/anything", '{"snot": "badger"}', {"Content-Type": "application/json"})
        v = json.loads(b)
        check(st == 200 and v["url"] == "/anything" and "tremor" in h.get("via", ""), "lb: %s %r %r" % (st, b, h))
        check(json.loads(v["data"]) == {"snot": "badger",
                                        "forwarded": "by=localhost:65535;host=127.0.0.1:65535;proto=http"},
              "forwarded body %r" % v["data"])
        check(v["headers"].get("Forwarded") == "by=localhost:65535;host=127.0.0.1:65535;proto=http",
              "forwarded header %r" % v["headers"])
        seen.append(v["server"])
    check(set(seen) == {"webserver01", "webserver02", "webserver03"}, "round robin over %r" % seen)


def d_36(t, rdir, binary):
    wait_port(8139)
    st, h, b = http_req(8139, "GET", "/")
    check(st == 200 and "Welcome to the Logging Quota Service!" in b, "/: %s %r" % (st, b))
    initial = {"host_default": 500, "logger_default": 50, "index_default": 100, "tremolo": 100,
               "application_default": 100}
    st, h, b = http_req(8139, "GET", "/quotas")
    check(st == 200 and json.loads(b) == initial, "/quotas: %s %r" % (st, b))
    st, h, b = http_req(8139, "GET", "/quotas/index_default")
    check(json.loads(b) == {"index_default": 100}, "/quotas/index_default: %r" % b)
    st, h, b = http_req(8139, "POST", "/echo", '{"snot": "badger"}')
    check(json.loads(b)["body"] == '{"snot": "badger"}' and json.loads(b)["meta"]["url"]["path"] == "/echo",
          "/echo: %r" % b)

    # logs in over tcp (logger.sh | nc localhost 12202) end up in the index test_logs
    es = t.es
    with open(os.path.join(rdir, "data", "logs_sample")) as f:
        sample = [l for l in f.read().splitlines() if l.strip()]
    wait_port(12202)
    conn = socket.create_connection(("127.0.0.1", 12202))

    def send_logs(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        conn.sendall("".join(sample[i % len(sample)].replace("%TIMESTAMP%", ts) + "\n"
                             for i in range(n)).encode())

    def tremolo():
        return [d for d in es.index("test_logs") if d.get("application") == "tremolo"]
    try:
        send_logs(20)
        wait_until(lambda: len(tremolo()) >= 1, 15, "tremolo logs in elasticsearch's test_logs")
        d = tremolo()[0]
        check(d["tremor_class"] == "tremolo" and d["tremor_class_rate"] == 100
              and d["tremor_sink"] == "demo-tremor-sink" and "ingestion_timestamp" in d, "doc %r" % d)
        # the quota of tremolo set to 1 per second: the old value comes back
        st, h, b = http_req(8139, "PUT", "/quotas/tremolo", "1", {"Content-Type": "application/json"})
        check(json.loads(b) == {"tremolo": 100}, "PUT /quotas/tremolo: %s %r" % (st, b))
        st, h, b = http_req(8139, "GET", "/quotas/tremolo")
        check(json.loads(b) == {"tremolo": 1}, "/quotas/tremolo after the PUT: %r" % b)
        # ... and applied at once to the logs: rate 1, and at most about one a second gets through
        n0 = len(tremolo())
        t0 = time.monotonic()
        for _ in range(4):
            send_logs(40)
            time.sleep(0.5)   # a log stream (logger.sh sleeps between lines), not a wait on tremor
        wait_until(lambda: [x for x in tremolo()[n0:] if x["tremor_class_rate"] == 1], 15,
                   "tremolo logs with tremor_class_rate 1")
        new = tremolo()[n0:]
        check(all(x["tremor_class_rate"] == 1 for x in new), "rates after the PUT: %r" %
              sorted(set(x["tremor_class_rate"] for x in new)))
        check(len(new) <= time.monotonic() - t0 + 2, "%d tremolo logs in %.1f s at quota 1/s" %
              (len(new), time.monotonic() - t0))
        st, h, b = http_req(8139, "DELETE", "/quotas/tremolo")
        check(json.loads(b) == {"tremolo": 1}, "DELETE /quotas/tremolo: %r" % b)
        st, h, b = http_req(8139, "DELETE", "/quotas/tremolo")
        check(st == 404 and json.loads(b) == {"error": "'tremolo' not found"}, "second DELETE: %s %r" % (st, b))
    finally:
        conn.close()


def d_37(t, rdir, binary):
    wait_port(9139)
    st, h, b = http_req(9139, "GET", "/")
    check(st == 200 and "Welcome to the Configurator!" in b, "/: %s %r" % (st, b))
    st, h, b = http_req(9139, "GET", "/services")
    check(json.loads(b) == ["quota_service"], "/services: %r" % b)
    st, h, b = http_req(9139, "GET", "/snot")
    check(b == '"badger"', "/snot: %r" % b)
    st, h, b = http_req(9139, "POST", "/echo", '{"snot": "badger"}')
    check(json.loads(b)["body"] == '{"snot": "badger"}', "/echo: %r" % b)
    # the quota services (recipe 36) are stand-ins: both answer, collected
    st, h, b = http_req(9139, "GET", "/service/quota_service")
    v = json.loads(b)
    check(st == 200 and len(v) == 2 and {x["response"]["server"] for x in v} == {"quota_service_1", "quota_service_2"}
          and all(x["response"]["url"] == "/quotas" for x in v), "/service/quota_service: %s %r" % (st, b))


DRIVERS = {"15": d_15, "12": d_12, "36": d_36, "00": d_00, "01": d_01, "02": d_02, "03": d_03, "11": d_11, "14": d_14, "20": d_20, "21": d_21,
           "22": d_22, "30": d_30, "31": d_31, "32": d_32, "33": d_33, "34": d_34, "35": d_35, "37": d_37}
# Volumes of the tremor service beyond etc/tremor, var/log and usr/local/share/tremor.
VOLUMES = {"36": [("etc/tremor/data", "/home/tremor/data")]}
UPSTREAM = {"32": "30_servers_lt_http", "33": "31_servers_lt_ws", "34": "31_servers_lt_ws"}


# ------------------------------------------------------------- one recipe

def inside(args):
    """In the private namespaces: the compose layout, peers, tremor, driver."""
    rdir = os.path.join(args.root, args.inside)
    num = args.inside.split("_")[0]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # every temporary directory under the run's root, removed with it
    tempfile.tempdir = os.path.join(args.root, ".tmp")
    os.makedirs(tempfile.tempdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="recipe-")

    def mount(*a):
        subprocess.run(["mount"] + list(a), check=True)
    mount("--make-rprivate", "/")
    mounted = set()
    # /etc as it is, with the compose service names in hosts and a /etc/tremor
    # (an overlay: nothing of the real /etc changes or is copied)
    upper, wdir = tempfile.mkdtemp(prefix="etc-up-"), tempfile.mkdtemp(prefix="etc-work-")
    os.chmod(upper, 0o755)   # the overlay's root takes the upper dir's mode: /etc stays readable to all
    mount("-t", "overlay", "overlay", "-o", "lowerdir=/etc,upperdir=%s,workdir=%s" % (upper, wdir), "/etc")
    with open("/etc/hosts", "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n")
        for name, addr in HOSTS.items():
            f.write("%s %s\n" % (addr, name))
    os.makedirs("/etc/tremor", exist_ok=True)
    if os.path.isdir(os.path.join(rdir, "etc", "tremor")):
        mount("--bind", os.path.join(rdir, "etc", "tremor"), "/etc/tremor")
    os.makedirs(os.path.join(rdir, "var", "log"), exist_ok=True)
    mount("--bind", os.path.join(rdir, "var", "log"), "/var/log")
    mount("-t", "tmpfs", "tmpfs", "/usr/local/share")
    os.makedirs("/usr/local/share/tremor")
    if os.path.isdir(os.path.join(rdir, "usr", "local", "share", "tremor")):
        mount("--bind", os.path.join(rdir, "usr", "local", "share", "tremor"), "/usr/local/share/tremor")

    # further volumes of the compose file's tremor service
    for src, dst in VOLUMES.get(num, ()):
        top = "/" + dst.strip("/").split("/")[0]
        if top not in mounted:
            mount("-t", "tmpfs", "tmpfs", top)   # an empty /home: nothing of the real one is touched
            mounted.add(top)
        os.makedirs(dst, exist_ok=True)
        mount("--bind", os.path.join(rdir, src), dst)

    res = {"run": False, "does": None, "why": ""}
    peers = []
    t = None
    try:
        if num == "11":
            influx = HttpPeer(HOSTS["influxdb"], 8086, "influxdb")
            peers.append(influx)
        if num == "35":
            peers += [HttpPeer(HOSTS[n], 80, n) for n in ("webserver01", "webserver02", "webserver03")]
        if num == "37":
            peers += [HttpPeer(HOSTS[n], 8139, n) for n in ("quota_service_1", "quota_service_2")]
        if num == "15":
            peers.append(DnsPeer({"example.com": EXAMPLE_COM}))
        pgs = None
        if num == "12":
            pgs = (PgPeer([HOSTS["postgres"]], "example", os.path.join(rdir, "seed_pg.sh")),
                   PgPeer([HOSTS["timescaledb"]], "example", os.path.join(rdir, "seed_tsdb.sh")))
            peers += list(pgs)
            # seed_pg.sh's INSERT quotes its string with double quotes (an
            # identifier in SQL): it fails, in the docker image as here, after
            # the table was made. The row it meant goes in before tremor
            # starts (as the seed would have), so the onramp has one to carry.
            if pgs[0].psql("products", "SELECT count(*) FROM transactions")[1][0][0] == "0":
                pgs[0].psql("products", "INSERT INTO transactions VALUES "
                            "(20,'SOMEID',98,'2020-02-10 20:02:02.000000 +00:00')")
        es = None
        if num == "36":
            es = EsBulkPeer(HOSTS["elasticsearch"], 9200)
            peers.append(es)
        up = None
        if num in UPSTREAM:
            up = upstream(args.tremor, args.root, UPSTREAM[num])
            peers.append(up)
            if not up.wait_running():
                raise Failed("upstream tremor (%s) did not start: %s" % (UPSTREAM[num], up.stderr()[-300:]))
        t = Tremor(args.tremor, cwd=work)
        t.up = up
        if num == "11":
            t.influx = influx
        t.es = es
        t.pg = pgs
        res["run"] = t.wait_running()
        if not res["run"]:
            err = (t.stderr() + t.stdout()).strip().splitlines()
            res["why"] = "; ".join(l for l in err if "ERROR" in l or "error" in l)[-400:] or "exited"
            return res
        drv = DRIVERS.get(num)
        if drv:
            try:
                note = drv(t, rdir, args.tremor)
                res["does"] = True
                res["why"] = note or ""
            except Failed as e:
                res["does"] = False
                res["why"] = str(e)[:400]
            except Exception as e:   # a peer's error is a mismatch too
                import traceback
                res["does"] = False
                res["why"] = "%s: %s at %s" % (type(e).__name__, str(e)[:300],
                                               traceback.extract_tb(e.__traceback__)[1].line)
        return res
    finally:
        if t:
            t.stop()
            if args.verbose:
                log(t.stderr()[-3000:] + t.stdout()[-2000:])
            # a sanitizer build's report (--tremor build-asan/tremor) fails the recipe
            err = t.stderr()
            if "Sanitizer" in err or "runtime error:" in err:
                res["does"] = False
                res["why"] = "sanitizer report: " + err[err.find("ERROR"):][:300]
        for p in peers:
            p.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default=os.environ.get("TREMOR_WWW_GIT",
                                                       "/work/.mirror/tremor-rs+tremor-www/repo"))
    ap.add_argument("--tremor", default=os.path.join(ROOT, "build", "tremor"))
    ap.add_argument("--only", default="")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--inside", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.tremor = os.path.abspath(args.tremor)
    if args.inside:
        print(json.dumps(inside(args)))
        return 0
    if not os.path.isdir(args.mirror):
        print("recipes: no tremor-www mirror at %s: skipped" % args.mirror)
        return 0
    root = tempfile.mkdtemp(prefix="tremor-recipes-")
    arch = subprocess.run(["git", "--git-dir", args.mirror, "archive", "HEAD", SUB], capture_output=True)
    subprocess.run(["tar", "-x", "-C", root], input=arch.stdout, check=True)
    top = os.path.join(root, SUB)
    only = set(x for x in args.only.split(",") if x)
    names = sorted((d for d in os.listdir(top) if d[0].isdigit()), key=lambda d: int(d.split("_")[0]))
    rows = []
    for name in names:
        num = name.split("_")[0]
        if only and num not in only:
            continue
        rdir = os.path.join(top, name)
        row = {"recipe": name, "load": False, "run": False, "does": None, "why": ""}
        # etc/tremor, or one etc/tremor_<x> per tremor service of the compose file
        cdirs = sorted(glob.glob(os.path.join(rdir, "etc", "tremor*", "config")))
        if not cdirs:
            row["why"] = "no etc/tremor*/config; needs " + NEEDS.get(num, "?")
            rows.append(row)
            continue
        env = dict(os.environ, TREMOR_PATH=os.path.join(rdir, "usr", "local", "share", "tremor"))
        errs = []
        for cdir in cdirs:
            files = sorted(glob.glob(os.path.join(cdir, "*")))
            c = subprocess.run([args.tremor, "check"] + [os.path.relpath(f, rdir) for f in files], cwd=rdir,
                               env=env, capture_output=True, text=True, timeout=60)
            if c.returncode != 0:
                errs += [l for l in (c.stderr + c.stdout).splitlines() if l.strip()][:1] or ["check failed"]
        row["load"] = not errs
        if not row["load"]:
            row["why"] = errs[0][:200]
            if num in NEEDS:
                row["why"] = "needs " + NEEDS[num] + ": " + row["why"]
            rows.append(row)
            continue
        if not os.path.isdir(os.path.join(rdir, "etc", "tremor", "config")):
            row["why"] = "several tremor services (%s); not run here" % ", ".join(
                os.path.basename(os.path.dirname(c)) for c in cdirs)
            rows.append(row)
            continue
        r = subprocess.run(["unshare", "-mn", sys.executable, os.path.abspath(__file__), "--tremor", args.tremor,
                            "--root", top, "--inside", name] + (["-v"] if args.verbose else []),
                           capture_output=True, text=True, timeout=180)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"run": False, "does": None, "why": "driver crashed: " + r.stderr[-300:]}
        if args.verbose:
            log(r.stderr)
        row.update(res)
        if row["does"] is None and not row["why"]:
            row["why"] = "needs " + NEEDS.get(num, "a driver") + " to show its README's behaviour"
        rows.append(row)
        log("%-36s load=%s run=%s does=%s %s" % (name, row["load"], row["run"], row["does"], row["why"]))
    print("| recipe | loads | runs | does what README shows | reason |")
    print("|---|---|---|---|---|")
    yn = {True: "yes", False: "no", None: "-"}
    for r in rows:
        does = "partly" if r["does"] and r["why"].startswith("differs") else yn[r["does"]]
        print("| %s | %s | %s | %s | %s |" % (r["recipe"], yn[r["load"]], yn[r["run"]], does,
                                              r["why"].replace("|", "\\|").replace("\n", " ")))
    n = len(rows)
    partly = sum(r["does"] is True and r["why"].startswith("differs") for r in rows)
    print("loaded %d/%d, ran %d/%d, did what the README shows %d/%d (%d of them with a difference noted)" % (
        sum(r["load"] for r in rows), n, sum(r["run"] for r in rows), n, sum(r["does"] is True for r in rows), n,
        partly))
    shutil.rmtree(root, ignore_errors=True)
    bad = [r["recipe"] for r in rows if r["recipe"].split("_")[0] in EXPECTED and r["does"] is not True]
    if bad:
        print("expected to work but did not: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
