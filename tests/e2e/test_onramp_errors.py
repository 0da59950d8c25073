"""Onramp defaults and decode errors as in Tremor 0.11, on the real binary.

0.11's stdin, ws and udp onramps default to the `string` codec (their
`default_codec` in src/source/*.rs), so a plain text line is an event. A
codec or preprocessor error becomes an event on the onramp's `err` port,
shaped as 0.11's SourceManager builds it (src/source.rs, make_error): value
{"error", "event_id", "source_id"}, meta {"error"}. The string codec's error
is Rust's std::str::Utf8Error text.
"""
import asyncio
import json
import queue
import signal
import subprocess
import threading

import websockets

from conftest import TREMOR, free_port, wait_until


class Server:
    """tremor server run with stdin piped and stdout lines collected."""

    def __init__(self, cwd, files):
        self.p = subprocess.Popen([TREMOR, "server", "run", "-n", "-f"] + files, cwd=cwd,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.err = []
        self.pumps = [threading.Thread(target=self._pump, args=(self.p.stdout, self.lines.put), daemon=True),
                      threading.Thread(target=self._pump, args=(self.p.stderr, self.err.append), daemon=True)]
        for t in self.pumps:
            t.start()

    @staticmethod
    def _pump(f, put):
        for line in f:
            put(line.decode("utf-8", "replace").rstrip("\n"))

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def next_json(self, timeout=20.0):
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError("no output line in %ss; stderr:\n%s" % (timeout, "\n".join(self.err)))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                assert self.p.wait(20) == 0
            finally:
                if self.p.poll() is None:
                    self.p.kill()
                    self.p.wait()
        # the process is gone: its output ends; read it all before anyone looks at self.err
        for t in self.pumps:
            t.join(10)


STDIN_CONFIG = """onramp:
  - id: in
    type: stdin
{codec}
offramp:
  - id: out
    type: stdout
binding:
  - id: b
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/onramp/in/{{instance}}/err": ["/pipeline/e/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
      "/pipeline/e/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


def start(tmp_path, codec):
    (tmp_path / "q.trickle").write_text("select event from in into out;\n")
    (tmp_path / "e.trickle").write_text(
        'select {"err": event, "meta_error": $error} from in into out;\n')
    (tmp_path / "c.yaml").write_text(STDIN_CONFIG.format(codec=codec))
    return Server(tmp_path, ["q.trickle", "e.trickle", "c.yaml"])


def test_stdin_defaults_to_string_codec(tmp_path):
    s = start(tmp_path, "")
    try:
        s.send(b"plain text line\n")
        assert s.next_json() == "plain text line"
        s.send(b'{"a": 1}\n')                   # text, not parsed
        assert s.next_json() == '{"a": 1}'
    finally:
        s.stop()


def test_string_codec_error_goes_to_err_port(tmp_path):
    s = start(tmp_path, "")
    try:
        s.send(b"ok\n")
        assert s.next_json() == "ok"
        s.send(b"ab\xff\xfe\n")
        got = s.next_json()
        # Rust's Utf8Error Display, as 0.11's string codec reports it
        msg = "invalid utf-8 sequence of 1 bytes from index 2"
        assert got == {"err": {"error": msg, "event_id": 1,
                               "source_id": "tremor://localhost/onramp/in/01"},
                       "meta_error": msg}
        s.send(b"\xe2\x82\n")                    # a character cut short
        got = s.next_json()
        assert got["err"]["error"] == "incomplete utf-8 byte sequence from index 0"
        assert got["err"]["event_id"] == 2
        s.send(b"after\n")                      # the stream goes on
        assert s.next_json() == "after"
    finally:
        s.stop()
    assert "cannot decode" in "\n".join(s.err)  # and it is logged


def test_json_codec_error_goes_to_err_port(tmp_path):
    s = start(tmp_path, "    codec: json")
    try:
        s.send(b'{"n": 1}\n')
        assert s.next_json() == {"n": 1}
        s.send(b"not json\n")
        got = s.next_json()
        assert set(got["err"]) == {"error", "event_id", "source_id"}
        assert got["err"]["event_id"] == 1
        assert got["err"]["source_id"] == "tremor://localhost/onramp/in/01"
        assert got["err"]["error"] and got["meta_error"] == got["err"]["error"]
        s.send(b'{"n": 2}\n')
        assert s.next_json() == {"n": 2}
    finally:
        s.stop()


def test_preprocessor_error_goes_to_err_port(tmp_path):
    s = start(tmp_path, "    preprocessors: [lines, base64]")
    try:
        s.send(b"aGk=\n")                       # "hi"
        assert s.next_json() == "hi"
        s.send(b"!!!!\n")
        got = s.next_json()
        assert got["err"]["error"] and got["err"]["event_id"] == 1
        s.send(b"aGk=\n")
        assert s.next_json() == "hi"
    finally:
        s.stop()


def test_ws_defaults_to_string_codec(tmp_path):
    port = free_port()
    (tmp_path / "q.trickle").write_text("select event from in into out;\n")
    (tmp_path / "c.yaml").write_text("""onramp:
  - id: in
    type: ws
    config:
      host: 127.0.0.1
      port: %d
offramp:
  - id: out
    type: stdout
binding:
  - id: b
    links:
      "/onramp/in/{instance}/out": ["/pipeline/q/{instance}/in"]
      "/pipeline/q/{instance}/out": ["/offramp/out/{instance}/in"]
mapping:
  /binding/b/01:
    instance: "01"
""" % port)
    s = Server(tmp_path, ["q.trickle", "c.yaml"])

    async def send():
        async with websockets.connect("ws://127.0.0.1:%d/" % port) as ws:
            await ws.send("hello, plain text")
            await ws.send('{"x": 1}')

    def connected():
        try:
            asyncio.run(send())
            return True
        except OSError:
            return False

    try:
        wait_until(connected, what="ws onramp accepting", detail=lambda: "\n".join(s.err))
        assert s.next_json() == "hello, plain text"
        assert s.next_json() == '{"x": 1}'
    finally:
        s.stop()
