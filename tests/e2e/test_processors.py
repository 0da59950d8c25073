"""Pre- and postprocessors in the real binary: a Python peer sends
length-prefixed frames carrying an ingest time and a gzip'd JSON event
(preprocessors length-prefixed, ingest-ns, gzip); the offramp sends each
event xz-compressed behind its ingest time, length-prefixed, to a Python
listener that decodes it with the lzma module. A gzip bomb and a corrupt
frame between the good ones are dropped without ending the stream."""
import gzip
import json
import lzma
import os
import socket
import struct
import threading

from conftest import TREMOR, free_port, wait_until
from test_relay import Server, connect

CONFIG = """onramp:
  - id: in
    type: tcp
    codec: json
    preprocessors: [length-prefixed, ingest-ns, gzip]
    config:
      host: 127.0.0.1
      port: {in_port}
      max_frame_size: 1048576
offramp:
  - id: out
    type: tcp
    codec: json
    postprocessors: [xz2, ingest-ns, length-prefixed]
    config:
      host: 127.0.0.1
      port: {out_port}
binding:
  - id: relay
    links:
      "/onramp/in/{{instance}}/out": ["/pipeline/relay/{{instance}}/in"]
      "/pipeline/relay/{{instance}}/out": ["/offramp/out/{{instance}}/in"]
mapping:
  /binding/relay/01:
    instance: "01"
"""


class Listener:
    """Accepts the offramp and decodes its frames: (ingest_ns, event)."""

    def __init__(self, port):
        self.sock = socket.create_server(("127.0.0.1", port))
        self.got = []
        self.errors = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        conn, _ = self.sock.accept()
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while len(buf) >= 8:
                (n,) = struct.unpack(">Q", buf[:8])
                if len(buf) < 8 + n:
                    break
                frame, buf = buf[8:8 + n], buf[8 + n:]
                try:
                    (ns,) = struct.unpack(">Q", frame[:8])
                    self.got.append((ns, json.loads(lzma.decompress(frame[8:]))))
                except Exception as e:  # recorded; the test fails on it
                    self.errors.append(repr(e))

    def close(self):
        self.sock.close()


def frame(ingest_ns, body):
    inner = struct.pack(">Q", ingest_ns) + body
    return struct.pack(">Q", len(inner)) + inner


def test_compressed_relay_keeps_ingest_time_and_survives_bombs(tmp_path):
    in_port, out_port = free_port(), free_port()
    (tmp_path / "relay.trickle").write_text("select event from in into out;\n")
    (tmp_path / "config.yaml").write_text(CONFIG.format(in_port=in_port, out_port=out_port))
    listener = Listener(out_port)
    server = Server(tmp_path, "relay.trickle")
    try:
        wait_until(lambda: server.has("connected to"), timeout=20,
                   what="the tcp offramp to connect", detail=server.log)
        peer = connect(in_port, server)
        wire = b""
        for i in range(50):
            wire += frame(1_000_000 + i, gzip.compress(json.dumps({"id": i}).encode()))
            if i == 10:   # 2 MiB of zeros: above max_frame_size once inflated
                wire += frame(7, gzip.compress(b"\0" * (2 << 20)))
            if i == 20:   # a gzip header with garbage after it
                wire += frame(8, b"\x1f\x8b\x08\x00" + os.urandom(64))
        peer.sendall(wire)
        wait_until(lambda: len(listener.got) >= 50, timeout=60, what="50 events at the listener",
                   detail=lambda: "got %d %s\n%s" % (len(listener.got), listener.errors, server.log()))
        peer.close()
        assert server.stop() == 0, server.log()
    finally:
        server.kill()
        listener.close()
    assert listener.errors == []
    assert [e["id"] for _, e in listener.got] == list(range(50))
    assert [ns for ns, _ in listener.got] == [1_000_000 + i for i in range(50)]
    assert "decompressed frame larger than the limit" in server.log() or \
        server.has("larger than the limit")
