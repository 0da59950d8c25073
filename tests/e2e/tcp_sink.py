"""A stand-alone TCP sink, like `nc -lk PORT`: accepts one connection at a
time and prints every complete line it reads on stdout, flushed after each
read. It says "listening" on stderr once bound. Killed, it drops the
connection like any crashed process (unread bytes and all)."""
import socket
import sys


def main(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    sys.stderr.write("listening\n")
    sys.stderr.flush()
    out = sys.stdout.buffer
    while True:
        conn, _ = srv.accept()
        tail = b""
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            data = tail + data
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if cut:
                out.write(data[:cut])
                out.flush()
        conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
