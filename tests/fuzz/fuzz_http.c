/* fuzz_http.c - the REST API's HTTP server (api/http.c behind the real
 * routes of api/api.c) fed over a loopback connection, split into chunks
 * the input chooses.
 *
 * Input: byte 0 unused flags, bytes 1..4 chunk sizes (fuzz_util.h), then
 * the bytes the client sends; then the client half-closes. Bounds are
 * small (1 KiB of headers, 16 fields, 4 KiB of body) so inputs reach them.
 * The API serves a world whose registry knows no connector and no
 * operator, so the artefact routes parse and check every body (JSON,
 * YAML, trickle) and publish, bind and unbind without touching a file or
 * a socket; what inputs publish accumulates across runs, which is fine.
 * Oracles: the server always closes the connection (no hang), writes at
 * most a bounded amount, every answer parses as HTTP/1.1 with a status this
 * server sends, and no connection is left open afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "core/error.h"
#include "pipeline/world.h"
#include "fuzz_util.h"

#define HEAD 5
#define OUT_MAX (1u << 20)
#define SPIN_MAX 200000

static uv_loop_t loop;
static struct tr_api *api;
static struct tr_world *world;

static const void *none(const char *name) {
    (void)name;
    return NULL;
}
static const struct tr_onramp_ops *no_onramp(const char *t) { return none(t); }
static const struct tr_offramp_ops *no_offramp(const char *t) { return none(t); }
static const struct tr_op_ops *no_op(const char *k) { return none(k); }
static const char *no_names(void) { return "(none)"; }
static const struct tr_world_registry empty = {no_onramp, no_offramp, no_names, no_names, no_op,
                                               no_names};
static int port;
static char out[OUT_MAX + 1];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    uv_loop_init(&loop);
    struct tr_http_opts o;
    tr_http_opts_default(&o);
    o.max_header_bytes = 1024;
    o.max_headers = 16;
    o.max_body_bytes = 4096;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_world_opts wo = {.loop = &loop, .instance = "fuzz", .data_dir = "/nonexistent",
                               .registry = &empty};
    if (tr_world_create(&wo, &world) != 0) fuzz_fail("cannot create the world");
    if (tr_api_open(&loop, "127.0.0.1:0", "0.11.12-fuzz", world, NULL, &o, &api, &d) != 0)
        fuzz_fail("cannot open the API: %s", d.msg);
    port = tr_api_port(api);
    return 0;
}

static int allowed(int st) {
    static const int ok[] = {100, 200, 201, 204, 400, 403, 404, 405, 408, 409, 413, 414, 415, 422,
                             431, 500, 501, 503, 505};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (ok[i] == st) return 1;
    return 0;
}

static int answers, bad_status;
static int on_headers(http_parser *p) {
    answers++;
    if (!allowed((int)p->status_code)) bad_status = (int)p->status_code;
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
        /* libFuzzer's timer signal may interrupt it; the connect goes on */
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int err = errno;
        socklen_t len = sizeof err;
        while (err == EINTR && poll(&pf, 1, 1000) < 0 && errno == EINTR) {}
        if (err == EINTR) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) fuzz_fail("connect: %s", strerror(err));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* closed with a reset once read to the end: no TIME_WAIT per input,
     * which would use up the local ports within a minute */
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
            else if (w < 0 && errno != EAGAIN) off = n;   /* the server reset or closed: stop sending */
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
    /* let the server finish closing its side */
    struct tr_http_stats st;
    for (long spin = 0;; spin++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        tr_api_stats(api, &st);
        if (st.open == 0) break;
        if (spin > SPIN_MAX) fuzz_fail("a connection stayed open after its peer left");
    }
    /* every answer is HTTP/1.1 with a status of ours; a HEAD answer has a
     * length but no body, so with HEAD in the input only the first counts */
    out[got] = '\0';
    if (got) {
        if (memcmp(out, "HTTP/1.1 ", got < 9 ? got : 9) != 0) fuzz_fail("not an HTTP/1.1 answer: %.40s", out);
        int head = memmem(data + HEAD, n, "HEAD", 4) != NULL;
        http_parser rp;
        http_parser_settings s;
        http_parser_settings_init(&s);
        s.on_headers_complete = on_headers;
        http_parser_init(&rp, HTTP_RESPONSE);
        answers = bad_status = 0;
        size_t used = http_parser_execute(&rp, &s, out, head ? (size_t)(strstr(out, "\r\n\r\n") ? strstr(out, "\r\n\r\n") - out + 4 : got) : got);
        if (bad_status) fuzz_fail("status %d is not one this server sends", bad_status);
        if (!head && (HTTP_PARSER_ERRNO(&rp) != HPE_OK || used != got))
            fuzz_fail("answers do not parse: %s at %zu of %zu", http_errno_name(HTTP_PARSER_ERRNO(&rp)), used, got);
    }
    return 0;
}
