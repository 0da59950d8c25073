"""A stand-in for Elasticsearch's _bulk API, for tests (no Elasticsearch runs
here). It implements the request and response contract of the documented
API (Elasticsearch reference, "Bulk API"), nothing else:

  POST /_bulk and POST /{index}/_bulk, body NDJSON: an action line
  {"index"|"create"|"update"|"delete": {"_index"?, "_id"?, ...}} followed by
  a source line (none for delete; {"doc": ...} for update); the body must
  end with a newline. {index} in the path is the default _index.
  200 {"took", "errors", "items": [{action: {"_index", "_type": "_doc",
  "_id", "_version", "result", "status", "_shards", "_seq_no",
  "_primary_term"} | {"_index", "_type", "_id", "status", "error": {"type",
  "reason", ...}}}]}; a malformed body is 400 {"error": {...}, "status":
  400} for the whole request.
  Item errors as Elasticsearch gives them: no _index (400
  action_request_validation_exception), create of an existing id (409
  version_conflict_engine_exception), update of a missing id (404
  document_missing_exception), delete of a missing id (404, result
  not_found, no error).

For tests: a source with the field "es_fail" fails its item with status 400
and error type "mapper_parsing_exception" (reason: the field's value); GET
/_standin/docs lists every stored document, GET /_standin/stats counts
the _bulk requests and items this process answered. Documents are kept in a JSON
lines journal (--data) so a killed and restarted stand-in ("ES down, then
up") still has what it acknowledged.

usage: es_standin.py PORTFILE DATAFILE [--port N]
  writes the port it listens on to PORTFILE once it accepts connections.
"""
import json
import os
import random
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
DOCS = {}          # (index, id) -> [version, source]
JOURNAL = None
SEQ = [0]
STATS = {"requests": 0, "items": 0}


def load(path):
    if not os.path.exists(path):
        return
    with open(path) as f:
        for line in f:
            try:
                op = json.loads(line)
            except ValueError:
                continue   # a line cut by a kill
            key = (op["_index"], op["_id"])
            if op["op"] == "delete":
                DOCS.pop(key, None)
            else:
                DOCS[key] = [op["_version"], op["source"]]


def journal(op):
    JOURNAL.write(json.dumps(op) + "\n")


def sync():
    """What a response acknowledges is in the journal before the response
    leaves (written to the kernel: it survives a kill of this process, which
    is what the tests do; no fsync, a machine crash is not simulated)."""
    JOURNAL.flush()


def new_id():
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(20))


def bad_request(reason):
    return 400, {"error": {"root_cause": [{"type": "illegal_argument_exception", "reason": reason}],
                           "type": "illegal_argument_exception", "reason": reason}, "status": 400}


def item_error(action, index, doc_id, status, etype, reason):
    return {action: {"_index": index, "_type": "_doc", "_id": doc_id, "status": status,
                     "error": {"type": etype, "reason": reason, "index": index}}}


def apply(action, meta, source, default_index):
    index = meta.get("_index", default_index)
    doc_id = meta.get("_id")
    if index is None:
        return item_error(action, None, doc_id, 400, "action_request_validation_exception",
                          "Validation Failed: 1: index is missing;")
    if isinstance(source, dict) and "es_fail" in source:
        return item_error(action, index, doc_id, 400, "mapper_parsing_exception", str(source["es_fail"]))
    if action in ("index", "create") and doc_id is None:
        doc_id = new_id()
    key = (index, doc_id)
    cur = DOCS.get(key)
    SEQ[0] += 1
    base = {"_index": index, "_type": "_doc", "_id": doc_id,
            "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": SEQ[0], "_primary_term": 1}
    if action == "create" and cur is not None:
        return item_error(action, index, doc_id, 409, "version_conflict_engine_exception",
                          "[%s]: version conflict, document already exists (current version [%d])"
                          % (doc_id, cur[0]))
    if action == "update":
        if doc_id is None:
            return item_error(action, index, None, 400, "action_request_validation_exception",
                              "Validation Failed: 1: id is missing;")
        if cur is None:
            return item_error(action, index, doc_id, 404, "document_missing_exception",
                              "[_doc][%s]: document missing" % doc_id)
        doc = source.get("doc") if isinstance(source, dict) else None
        if not isinstance(doc, dict):
            return item_error(action, index, doc_id, 400, "action_request_validation_exception",
                              "Validation Failed: 1: script or doc is missing;")
        merged = dict(cur[1])
        merged.update(doc)
        ver = cur[0] + 1
        journal({"op": "index", "_index": index, "_id": doc_id, "_version": ver, "source": merged})
        DOCS[key] = [ver, merged]
        return {action: dict(base, _version=ver, result="updated", status=200)}
    if action == "delete":
        if doc_id is None:
            return item_error(action, index, None, 400, "action_request_validation_exception",
                              "Validation Failed: 1: id is missing;")
        if cur is None:
            return {action: dict(base, _version=1, result="not_found", status=404)}
        journal({"op": "delete", "_index": index, "_id": doc_id})
        del DOCS[key]
        return {action: dict(base, _version=cur[0] + 1, result="deleted", status=200)}
    ver = cur[0] + 1 if cur else 1
    journal({"op": "index", "_index": index, "_id": doc_id, "_version": ver, "source": source})
    DOCS[key] = [ver, source]
    return {action: dict(base, _version=ver, result="updated" if cur else "created",
                         status=200 if cur else 201)}


def bulk(body, default_index):
    """(status, response) for one _bulk body."""
    if body and not body.endswith(b"\n"):
        return bad_request("The bulk request must be terminated by a newline [\\n]")
    lines = body.split(b"\n")[:-1] if body else []
    ops = []
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        try:
            act = json.loads(lines[k])
        except ValueError:
            return bad_request("Malformed action/metadata line [%d], expected START_OBJECT" % (k + 1))
        if not isinstance(act, dict) or len(act) != 1:
            return bad_request("Malformed action/metadata line [%d], expected a simple value for field "
                               "[%s] but found [START_OBJECT]" % (k + 1, k))
        action, meta = next(iter(act.items()))
        if action not in ("index", "create", "update", "delete") or not isinstance(meta, dict):
            return bad_request("Malformed action/metadata line [%d], expected field [create], [delete], "
                               "[index] or [update] but found [%s]" % (k + 1, action))
        k += 1
        source = None
        if action != "delete":
            if k >= len(lines):
                return bad_request("Validation Failed: 1: no requests added;")
            try:
                source = json.loads(lines[k])
            except ValueError:
                return bad_request("failed to parse source at line [%d]" % (k + 1))
            k += 1
        ops.append((action, meta, source))
    if not ops:
        return bad_request("Validation Failed: 1: no requests added;")
    t0 = time.time()
    with LOCK:
        STATS["requests"] += 1
        STATS["items"] += len(ops)
        items = [apply(a, m, s, default_index) for a, m, s in ops]
        sync()
    errors = any("error" in next(iter(it.values())) for it in items)
    return 200, {"took": int((time.time() - t0) * 1000), "errors": errors, "items": items}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this, Nagle holds the
    # body until the client's delayed ACK (40 ms a request on keep-alive)
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts == ["_bulk"]:
            self.reply(*bulk(body, None))
        elif len(parts) == 2 and parts[1] == "_bulk":
            self.reply(*bulk(body, parts[0]))
        else:
            self.reply(404, {"error": "no handler for %s" % self.path, "status": 404})

    do_PUT = do_POST

    def do_GET(self):
        if self.path == "/_standin/docs":
            with LOCK:
                docs = [{"_index": i, "_id": d, "_version": v[0], "_source": v[1]}
                        for (i, d), v in DOCS.items()]
            self.reply(200, docs)
        elif self.path == "/_standin/stats":
            with LOCK:
                self.reply(200, dict(STATS))
        elif self.path == "/":
            self.reply(200, {"cluster_name": "standin", "version": {"number": "7.10.2"}})
        else:
            self.reply(404, {"error": "no handler", "status": 404})


def main():
    global JOURNAL
    portfile, datafile = sys.argv[1], sys.argv[2]
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0
    load(datafile)
    JOURNAL = open(datafile, "a")
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
