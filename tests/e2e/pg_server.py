"""A real PostgreSQL 15 (Debian's postgresql-15) for tests: a fresh data
directory under a temporary directory, listening on 127.0.0.1 at a free
port with its socket in that directory, trust authentication. PostgreSQL
refuses to run as root, so as root initdb and the server run as the
`postgres` user, which owns the directory. Stopped by its pid."""
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

from conftest import free_port, wait_until

PGBIN = "/usr/lib/postgresql/15/bin"
PSQL = "/usr/bin/psql"


class PgServer:
    def __init__(self):
        self.root = os.getuid() == 0
        self.dir = tempfile.mkdtemp(prefix="tremor-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        self.port = free_port()
        self.proc = None
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        if self.root:
            pw = pwd.getpwnam("postgres")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            for d in (self.dir, self.sock):
                os.chown(d, self.uid, self.gid)
            os.chown(self.log.name, self.uid, self.gid)
        cmd = [os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust",
               "-E", "UTF8", "--no-sync", "--locale=C"]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self):
        kw = {}
        if self.root:
            kw = {"user": self.uid, "group": self.gid, "extra_groups": []}
        self.proc = subprocess.Popen(
            [os.path.join(PGBIN, "postgres"), "-D", self.data, "-p", str(self.port), "-k", self.sock,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "logging_collector=off"],
            stdout=self.log, stderr=self.log, **kw)
        wait_until(lambda: self.ready(), timeout=60, what="postgres accepting connections")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited: " + open(self.log.name).read()[-2000:])
        r = subprocess.run([PSQL, "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                            "-Atc", "select 1"], capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() == "1"

    def psql(self, sql):
        """Run sql, return its rows as lists of text fields ('|'-separated)."""
        r = subprocess.run([PSQL, "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                            "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("psql failed: " + r.stderr)
        return [line.split("|") for line in r.stdout.splitlines() if line]

    def crash(self):
        """Immediate shutdown (every backend killed at once, crash recovery on
        the next start): what a database lost mid-stream looks like."""
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(60)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)   # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
