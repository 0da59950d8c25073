/* client.c - the blocking HTTP/1.1 client of `tremor api` (see client.h).
 * The request asks the server to close after answering, so the answer is
 * everything read until end of stream, cut to its Content-Length when it
 * has one. Chunked answers are not decoded (our server never sends them);
 * they are refused with a clear error rather than misread.
 */
#include "api/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

#define MAX_HEAD 65536

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passed: 0, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline) {
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return -errno;
    }
}

static int dial(const char *hostport, uint64_t deadline, int *out, struct tr_diag *d) {
    struct sockaddr_storage ss;
    int rc = tr_api_parse_host(hostport, &ss, d);
    if (rc) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return tr_diag_set(d, -errno, NULL, 0, 0, "socket: %s", strerror(errno));
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        rc = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -errno;
        int err = 0;
        socklen_t el = sizeof err;
        if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err) rc = -err;
        if (rc) {
            close(fd);
            return tr_diag_set(d, rc, NULL, 0, 0, "cannot connect to %s: %s", hostport, tr_strerror(rc));
        }
    }
    *out = fd;
    return 0;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -errno;
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc) return rc;
    }
    return 0;
}

/* Everything until the peer closes, at most limit bytes. */
static int recv_all(int fd, struct tr_buf *b, size_t limit, uint64_t deadline) {
    for (;;) {
        int rc = tr_buf_reserve(b, 16384);
        if (rc) return rc;
        ssize_t r = recv(fd, b->data + b->len, 16384, 0);
        if (r == 0) return 0;
        if (r > 0) {
            b->len += (size_t)r;
            if (b->len > limit) return TR_ETOOBIG;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -errno;
        rc = wait_fd(fd, POLLIN, deadline);
        if (rc) return rc;
    }
}

/* The value of header name in head[0..n) (lines after the status line), or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen) {
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2] && !(l[2] == '\r' && l[3] == '\n');
         l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            const char *e = strstr(v, "\r\n");
            *vlen = e ? (size_t)(e - v) : strlen(v);
            while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t')) (*vlen)--;
            return v;
        }
    }
    return NULL;
}

static int parse(struct tr_buf *b, struct tr_api_response *out, struct tr_diag *d) {
    memset(out, 0, sizeof *out);
    if (tr_buf_putc(b, '\0')) return -ENOMEM;
    /* the text searches below stop at a NUL in the headers: such an
     * answer has no end of headers and is refused */
    b->len--;
    char *end = strstr(b->data, "\r\n\r\n");
    if (!end || (size_t)(end - b->data) > MAX_HEAD)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed answer: no end of headers");
    int major, minor, status;
    if (sscanf(b->data, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || status < 100 || status > 599)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed answer: bad status line");
    end[2] = '\0';   /* headers end here for the search; the body starts at end + 4 */
    size_t vlen;
    const char *te = header(b->data, "transfer-encoding", &vlen);
    if (te && !(vlen == 8 && strncasecmp(te, "identity", 8) == 0))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "chunked answers are not supported");
    const char *ct = header(b->data, "content-type", &vlen);
    if (ct) snprintf(out->content_type, sizeof out->content_type, "%.*s", (int)vlen, ct);
    const char *body = end + 4;
    size_t have = b->len - (size_t)(body - b->data);
    const char *cl = header(b->data, "content-length", &vlen);
    if (cl) {
        char *e;
        unsigned long long n = strtoull(cl, &e, 10);
        if (e != cl + vlen || n > have)
            return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed answer: the body is shorter than "
                               "its content-length");
        have = (size_t)n;
    }
    out->body = tr_malloc(have + 1);
    if (!out->body) return -ENOMEM;
    memcpy(out->body, body, have);
    out->body[have] = '\0';
    out->body_len = have;
    out->status = status;
    return 0;
}

int tr_api_client_request(const char *hostport, const char *method, const char *path,
                          const char *ctype, const char *accept, const char *body, size_t len,
                          unsigned timeout_ms, struct tr_api_response *out, struct tr_diag *d) {
    uint64_t deadline = now_ms() + timeout_ms;
    int fd = -1;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = dial(hostport, deadline, &fd, d);
    if (rc) return rc;
    rc = tr_buf_printf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: tremor-c\r\n",
                       method, path, hostport);
    if (!rc && ctype) rc = tr_buf_printf(&b, "Content-Type: %s\r\n", ctype);
    if (!rc && accept) rc = tr_buf_printf(&b, "Accept: %s\r\n", accept);
    if (!rc && (body || strcmp(method, "POST") == 0))
        rc = tr_buf_printf(&b, "Content-Length: %zu\r\n", body ? len : 0);
    if (!rc) rc = tr_buf_append(&b, "\r\n", 2);
    if (!rc) rc = send_all(fd, b.data, b.len, deadline);
    if (!rc && body) rc = send_all(fd, body, len, deadline);
    if (rc) {
        tr_diag_set(d, rc, NULL, 0, 0, "sending to %s: %s", hostport, tr_strerror(rc));
        goto out;
    }
    tr_buf_reset(&b);
    rc = recv_all(fd, &b, MAX_HEAD + TR_API_CLIENT_MAX_BODY, deadline);
    if (rc) {
        tr_diag_set(d, rc, NULL, 0, 0, "reading the answer of %s: %s", hostport,
                    rc == TR_ETOOBIG ? "answer too large" : tr_strerror(rc));
        goto out;
    }
    rc = parse(&b, out, d);
out:
    close(fd);
    tr_buf_fini(&b);
    return rc;
}

int tr_api_client_parse(const char *buf, size_t len, struct tr_api_response *out, struct tr_diag *d) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_buf_append(&b, buf, len);
    if (!rc) rc = parse(&b, out, d);
    tr_buf_fini(&b);
    return rc;
}

void tr_api_response_fini(struct tr_api_response *r) {
    if (!r) return;
    tr_free(r->body);
    r->body = NULL;
}
