"""A small independent HTTP/1.1 peer for the rest connector tests (Python's
http.server): it answers every method and path with a JSON echo of the request
({method, path, headers, body}) and records what it received.

    python3 http_peer.py PORTFILE [--status N] [--fail-first K]

writes the bound port (0 = any free) to PORTFILE once it listens. With
--status every answer has that status; with --fail-first K the first K
requests get 503 (for retry tests). Each request is one line of JSON on
stdout, flushed, so a test can count what reached the peer."""
import http.server
import json
import sys
import threading

# handlers run in threads: one request's line and count at a time
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200
    fail_first = 0
    seen = 0

    def log_message(self, *args):
        pass

    def _any(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        rec = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace")}
        with LOCK:
            Handler.seen += 1
            status = 503 if Handler.seen <= Handler.fail_first else Handler.status
            print(json.dumps(rec), flush=True)
        out = json.dumps({"echo": rec}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("x-peer", "python")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any


def main():
    portfile = sys.argv[1]
    args = sys.argv[2:]
    if "--status" in args:
        Handler.status = int(args[args.index("--status") + 1])
    if "--fail-first" in args:
        Handler.fail_first = int(args[args.index("--fail-first") + 1])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
