"""Hostile peers for the soak: each function misbehaves against one onramp
port for a bounded time and returns a short description of what it did.
None of them waits without a bound: every socket has a timeout, and a peer
that tremor refuses or cuts off simply counts that. They never send a line
with a soak id, so nothing they do can be mistaken for the loaders' events.
"""
import asyncio
import os
import socket
import time

TIMEOUT = 2.0


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def _send(s, data):
    """Send as much as the peer takes within the timeout; a paused onramp
    (backpressure) or a dropped connection ends it. Returns bytes sent."""
    sent = 0
    view = memoryview(data)
    try:
        while sent < len(data):
            n = s.send(view[sent:sent + (1 << 20)])
            if n <= 0:
                break
            sent += n
    except OSError:
        pass
    return sent


def slowloris(port, seconds, rng, count=60, prefix=b'{"slow":"'):
    """count connections that each send one byte every 0.5 s of a line (or
    an HTTP request) that never ends."""
    conns = []
    for _ in range(count):
        try:
            c = _connect(port)
            _send(c, prefix)
            conns.append(c)
        except OSError:
            break
    opened = len(conns)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and conns:
        time.sleep(0.5)
        alive = []
        for c in conns:
            if _send(c, b"x") == 1:
                alive.append(c)
            else:
                c.close()
        conns = alive
    for c in conns:
        c.close()
    return "slowloris: %d connections opened, %d still open after %.0f s" % (opened, len(conns), seconds)


def junk(port, seconds, rng, total=1 << 20):
    """Random bytes (newlines included, so many bad lines) and a few lines
    that are almost JSON, over several short connections."""
    sent = 0
    conns = 0
    deadline = time.monotonic() + seconds
    bad_lines = [b"{", b"}", b"[1,2", b'{"a":}', b"\xff\xfe\x00", b'{"a":"\\ud800"}', b"nul\x00l",
                 b'{"a":1}}', b"-", b"1e999999", b'"unterminated']
    while sent < total and time.monotonic() < deadline:
        try:
            c = _connect(port)
        except OSError:
            break
        conns += 1
        chunk = bytearray(os.urandom(rng.randint(1000, 64000)))
        for _ in range(20):
            chunk += rng.choice(bad_lines) + b"\n"
        sent += _send(c, bytes(chunk))
        c.close()
    return "junk: %d bytes over %d connections" % (sent, conns)


def oversized(port, seconds, rng):
    """A line longer than the 16 MiB line limit, a line nested 100000
    arrays deep, and a 12 MiB line that is valid JSON (legal, but heavy)."""
    out = []
    for name, data in (
            ("17 MiB line", b'{"big":"' + b"y" * (17 << 20) + b'"}\n'),
            ("deep line", b"[" * 100000 + b"]" * 100000 + b"\n"),
            ("12 MiB valid", b'{"big":"' + b"z" * (12 << 20) + b'"}\n')):
        try:
            c = _connect(port)
        except OSError as e:
            out.append("%s: connect failed (%s)" % (name, e))
            continue
        n = _send(c, data)
        c.close()
        out.append("%s: %d of %d bytes taken" % (name, n, len(data)))
    return "oversized: " + "; ".join(out)


def flood(port, seconds, rng, count=1100):
    """More connections than the onramp admits (1024), held open, then
    dropped at once."""
    conns = []
    failed = 0
    for _ in range(count):
        try:
            conns.append(_connect(port))
        except OSError:
            failed += 1
            if failed > 50:
                break
    time.sleep(seconds)
    # a refused connection was accepted and closed by tremor: reading shows EOF
    closed = 0
    for c in conns:
        try:
            c.setblocking(False)
            if c.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        c.close()
    return "flood: %d connections opened (%d failed), %d closed by tremor" % (len(conns), failed, closed)


def ws_oversized(port, seconds, rng):
    """Through a real WebSocket client: a 17 MiB message (over the onramp's
    16 MiB max_message_size) and a deeply nested one."""
    import websockets

    async def run():
        out = []
        for name, msg in (("17 MiB message", '{"big":"' + "y" * (17 << 20) + '"}'),
                          ("deep message", "[" * 100000 + "]" * 100000)):
            try:
                async with websockets.connect("ws://127.0.0.1:%d/" % port, open_timeout=TIMEOUT,
                                              close_timeout=TIMEOUT, max_size=None) as ws:
                    await asyncio.wait_for(ws.send(msg), 10)
                    try:
                        await asyncio.wait_for(ws.recv(), 2)
                    except asyncio.TimeoutError:
                        pass
                out.append("%s: sent" % name)
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
                out.append("%s: %s" % (name, type(e).__name__))
        return out

    return "ws oversized: " + "; ".join(asyncio.run(run()))


def ws_slowloris(port, seconds, rng):
    return slowloris(port, seconds, rng, prefix=b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-")


TCP = [slowloris, junk, oversized, flood]
WS = [ws_slowloris, junk, ws_oversized, flood]
