/* fuzz_rest.c - the linked rest onramp (connectors/rest_server.c on
 * api/http.c) fed over a loopback connection, split into chunks the input
 * chooses. Every request's event is answered at once, inside its emit,
 * with the decoded body as $response (so arbitrary status and header maps
 * reach the reply path) and the event's $request as the reply's body.
 *
 * Input: byte 0 unused, bytes 1..4 chunk sizes (fuzz_util.h), then the
 * bytes the client sends; then the client half-closes. Oracles: the server
 * closes the connection (no hang), writes a bounded amount, and every
 * answer begins as HTTP/1.1; nothing leaks or overflows (ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec/codec.h"
#include "connectors/conn.h"
#include "core/error.h"
#include "fuzz_util.h"

#define HEAD 5
#define OUT_MAX (1u << 20)
#define SPIN_MAX 200000

extern const struct tr_onramp_ops tr_rest_onramp;
uint16_t tr_rest_onramp_port(void *self);

static uv_loop_t loop;
static void *self;
static int port;
static int64_t next_id;
static char out[OUT_MAX + 1];

static int64_t emit_value(struct tr_onramp_host *h, tr_value v, tr_value meta) {
    (void)h;
    int64_t id = next_id++;
    tr_value m;
    if (tr_v_rec(1, &m) == 0) {
        if (tr_rec_set(&m, "response", 8, tr_value_ref(v)) == 0) {
            tr_value *rq = meta.type == TR_REC ? tr_rec_get(&meta, "request", 7) : NULL;
            tr_value body = rq ? *rq : tr_v_null();
            tr_rest_onramp.reply(self, (uint64_t)id, 0, &body, &m, tr_codec_find("json"));
        }
        tr_value_unref(m);
    }
    tr_value_unref(v);
    tr_value_unref(meta);
    return id;
}

static int emit_bytes(struct tr_onramp_host *h, uint64_t s, const void *d, size_t n, tr_value meta) {
    (void)h, (void)s, (void)d, (void)n;
    tr_value_unref(meta);
    return 0;
}
static void stream_end(struct tr_onramp_host *h, uint64_t s) { (void)h, (void)s; }
static void done(struct tr_onramp_host *h) { (void)h; }

static const struct tr_onramp_host_ops ops = {
    .emit_value = emit_value,
    .emit_bytes = emit_bytes,
    .stream_end = stream_end,
    .done = done,
    .shutdown = done,
};
static struct tr_onramp_host host = {.ops = &ops};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    uv_loop_init(&loop);
    host.loop = &loop;
    tr_value cfg, x;
    if (tr_v_rec(4, &cfg) || tr_v_cstr("127.0.0.1", &x) || tr_rec_set(&cfg, "host", 4, x) ||
        tr_rec_set(&cfg, "port", 4, tr_v_int(0)) || tr_rec_set(&cfg, "max_body_bytes", 14, tr_v_int(4096)))
        fuzz_fail("config");
    struct tr_conn_spec spec = {.id = "fuzz", .type = "rest", .instance = "01", .config = &cfg,
                                .file = "fuzz", .linked = true, .codec = "json"};
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_rest_onramp.create(&spec, &host, &self, &d) != 0 || tr_rest_onramp.start(self) != 0)
        fuzz_fail("cannot open the rest onramp: %s", d.msg);
    tr_value_unref(cfg);
    port = tr_rest_onramp_port(self);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEAD) return 0;
    struct fuzz_chunks c = {{data[1], data[2], data[3], data[4]}, 0};
    const uint8_t *p = data + HEAD;
    size_t n = size - HEAD;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0) fuzz_fail("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int err = errno;
        socklen_t len = sizeof err;
        while (err == EINTR && poll(&pf, 1, 1000) < 0 && errno == EINTR) {}
        if (err == EINTR) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) fuzz_fail("connect: %s", strerror(err));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t off = 0, got = 0;
    int shut = 0, closed = 0;
    for (long spin = 0; !closed; spin++) {
        if (spin > SPIN_MAX) fuzz_fail("the server never closed the connection (%zu of %zu bytes sent)", off, n);
        uv_run(&loop, UV_RUN_NOWAIT);
        if (off < n) {
            size_t k = fuzz_next_chunk(&c, n - off);
            ssize_t w = send(fd, p + off, k, MSG_NOSIGNAL);
            if (w > 0) off += (size_t)w;
            else if (w < 0 && errno != EAGAIN) off = n;
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        for (;;) {
            ssize_t r = recv(fd, out + got, OUT_MAX - got, 0);
            if (r > 0) {
                got += (size_t)r;
                if (got >= OUT_MAX) fuzz_fail("more than %u bytes of answers", OUT_MAX);
                continue;
            }
            if (r == 0 || (r < 0 && errno != EAGAIN)) closed = 1;
            break;
        }
    }
    close(fd);
    for (int i = 0; i < 100; i++) uv_run(&loop, UV_RUN_NOWAIT);
    out[got] = '\0';
    if (got && memcmp(out, "HTTP/1.1 ", got < 9 ? got : 9) != 0) fuzz_fail("not an HTTP/1.1 answer: %.40s", out);
    return 0;
}
