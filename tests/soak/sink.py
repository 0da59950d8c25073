"""The soak's TCP sink: tests/e2e/tcp_sink.py plus a clean stop. It accepts
one connection at a time and prints every complete line it reads on stdout,
flushed after each read; "listening" goes to stderr once bound.

SIGTERM is a restart of the receiving side that loses nothing the sender was
told it has: the listener closes (reconnects are refused), the connection is
half-closed (FIN), and the sink reads on until the sender closes its side,
so every byte the sender's TCP saw acknowledged was read and printed. (A
SIGKILLed plain TCP receiver loses what its kernel acknowledged but it never
read; no TCP sender can tell, so the soak does not do that to this sink.)
If the sender does not close within DRAIN_SECONDS the sink says so on
stderr ("forced close") and exits anyway.
"""
import select
import signal
import socket
import sys
import time

DRAIN_SECONDS = 15.0


STOP = []


def on_term(signum, frame):
    STOP.append(signum)


def emit(out, data):
    cut = data.rfind(b"\n") + 1
    if cut:
        out.write(data[:cut])
        out.flush()
    return data[cut:]


def drain(conn, out, tail):
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        return
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.stderr.write("forced close\n")
            return
        r, _, _ = select.select([conn], [], [], left)
        if not r:
            continue
        try:
            data = conn.recv(1 << 20)
        except OSError:
            return
        if not data:
            return
        tail = emit(out, tail + data)


def main(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    out = sys.stdout.buffer
    conn = None
    tail = b""
    # the handler only records the request; the loop below acts on it between
    # reads, so no received bytes are ever dropped half-handled
    signal.signal(signal.SIGTERM, on_term)
    sys.stderr.write("listening\n")
    sys.stderr.flush()
    while not STOP:
        r, _, _ = select.select([conn if conn is not None else srv], [], [], 0.1)
        if not r:
            continue
        if conn is None:
            conn, _ = srv.accept()
            tail = b""
            continue
        try:
            data = conn.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            conn.close()
            conn = None
            continue
        tail = emit(out, tail + data)
    srv.close()
    if conn is not None:
        drain(conn, out, tail)
        conn.close()
    sys.stderr.write("stopped\n")
    sys.stderr.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]))
