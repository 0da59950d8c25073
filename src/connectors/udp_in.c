/* udp_in.c - the `udp` onramp: a UDP socket bound to host:port (Tremor 0.11
 * keys; 0.11 default codec `string`). Each datagram is one chunk of bytes
 * for the preprocessors and the codec.
 *
 * Unlike 0.11, where every datagram feeds one shared stream (a line split
 * over two datagrams is joined, a last line without newline waits for the
 * next datagram, possibly from another peer), each datagram is a stream of
 * its own: its preprocessor state starts empty and its end flushes it, so a
 * multi-line datagram gives one event per line and nothing leaks between
 * datagrams or peers.
 *
 * Bounds: a datagram over max_datagram_size (or truncated by the kernel) is
 * dropped and counted; while a breaker is triggered nothing is read, so the
 * kernel's receive buffer fills and the kernel drops, which we count from
 * /proc/net/udp (the socket's `drops` column). Counts are logged (at most
 * once per 10 s while they grow) and at close. Not a responder.
 * Invariant: a stream id is used for exactly one datagram and always ended.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "udp"
#define RBUF_SIZE 65536       /* the largest UDP payload fits */
#define STATS_MS 1000

struct udp_in {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *addr;
    uv_udp_t sock;
    uv_timer_t stats;
    int handles;
    uint64_t max_size;
    uint64_t next_stream;
    uint64_t received, oversize, kernel_drops, errors;
    uint64_t logged_drops;        /* kernel + oversize at the last log line */
    struct tr_log_limit lim, lim_stats;
    bool started, paused, reading, closing;
    void (*done)(void *);
    void *done_arg;
    char rbuf[RBUF_SIZE];
};

struct udp_in_cfg {
    const char *host;
    uint64_t port, max_size, rcvbuf;
};

const struct tr_cmap_entry tr_udp_in_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", "127.0.0.1", 0, offsetof(struct udp_in_cfg, host),
     "host name or address to bind to")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct udp_in_cfg, port), "UDP port to bind to, 0: any free one"),
     .lo = -INFINITY, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_datagram_size", "65535", TR_CMAP_RANGE,
     offsetof(struct udp_in_cfg, max_size), "larger datagrams are dropped and counted"),
     .lo = 1, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "recv_buffer_size", "0", TR_CMAP_RANGE,
     offsetof(struct udp_in_cfg, rcvbuf), "kernel receive buffer in bytes (SO_RCVBUF), 0: the system's"),
     .lo = 0, .hi = 1073741824},
    {0},
};

/* The kernel's count of datagrams it dropped for this socket (a full
 * receive buffer): the `drops` column of /proc/net/udp{,6} on the line of
 * the socket's inode. 0 and *out, or -1 when it cannot be read. */
static int kernel_drops(uv_udp_t *u, uint64_t *out) {
    uv_os_fd_t fd;
    struct stat st;
    if (uv_fileno((uv_handle_t *)u, &fd) != 0 || fstat(fd, &st) != 0) return -1;
    const char *files[] = {"/proc/net/udp", "/proc/net/udp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) continue;
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            unsigned long long inode = 0, drops = 0;
            /* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
            if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu", &inode, &drops) == 2 &&
                inode == (unsigned long long)st.st_ino) {
                fclose(fp);
                *out = drops;
                return 0;
            }
        }
        fclose(fp);
    }
    return -1;
}

static void update_drops(struct udp_in *u) {
    uint64_t d;
    if (kernel_drops(&u->sock, &d) == 0) u->kernel_drops = d;
}

static void maybe_done(struct udp_in *u) {
    if (!u->closing || u->handles) return;
    void (*done)(void *) = u->done;
    void *arg = u->done_arg;
    tr_free(u->addr);
    tr_free(u->id);
    tr_free(u);
    if (done) done(arg);
}

static void on_closed(uv_handle_t *h) {
    struct udp_in *u = h->data;
    u->handles--;
    maybe_done(u);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct udp_in *u = h->data;
    *buf = uv_buf_init(u->rbuf, sizeof u->rbuf);
}

static void udp_trigger(void *self);

static void on_recv(uv_udp_t *s, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
    struct udp_in *u = s->data;
    if (n < 0) {
        u->errors++;
        tr_log_limited(&u->lim, TR_LOG_WARN, MOD, "%s: receiving on %s: %s (%" PRIu64 " such so far)",
                       u->id, u->addr, uv_strerror((int)n), u->errors);
        return;
    }
    if (addr == NULL) return;   /* nothing more to read now */
    if ((flags & UV_UDP_PARTIAL) || (uint64_t)n > u->max_size) {
        u->oversize++;
        tr_log_limited(&u->lim, TR_LOG_WARN, MOD,
                       "%s: dropped a datagram over max_datagram_size %" PRIu64 " (%" PRIu64
                       " such so far)", u->id, u->max_size, u->oversize);
        return;
    }
    u->received++;
    uint64_t stream = ++u->next_stream;
    int rc = tr_onramp_emit_bytes(u->host, stream, buf->base, (size_t)n, tr_v_null());
    tr_onramp_stream_end(u->host, stream);
    if (rc == TR_ONRAMP_PAUSED && !u->closing) udp_trigger(u);
}

static void on_stats(uv_timer_t *t) {
    struct udp_in *u = t->data;
    if (u->closing) return;
    tr_log_limit_flush(&u->lim);
    tr_log_limit_flush(&u->lim_stats);
    update_drops(u);
    uint64_t dropped = u->kernel_drops + u->oversize;
    if (dropped != u->logged_drops) {
        tr_log_limited(&u->lim_stats, TR_LOG_WARN, MOD,
                       "%s: %" PRIu64 " datagrams received, %" PRIu64 " dropped by the kernel "
                       "(receive buffer full), %" PRIu64 " over max_datagram_size", u->id,
                       u->received, u->kernel_drops, u->oversize);
        u->logged_drops = dropped;
    }
}

static void read_on(struct udp_in *u) {
    if (u->reading || !u->started || u->paused || u->closing) return;
    int rc = uv_udp_recv_start(&u->sock, on_alloc, on_recv);
    if (rc) {
        TR_ERROR(MOD, "%s: cannot receive on %s: %s", u->id, u->addr, uv_strerror(rc));
        return;
    }
    u->reading = true;
}

static int udp_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for udp onramp '%s': config.port is required", spec->id);
    struct udp_in_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_udp_in_cmap, &c, d);
    if (rc) return rc;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)c.port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(c.host, portstr, &hints, &ai);
    if (g != 0) return tr_conn_cfg_fail(spec, "host", d, "'%.64s': %s", c.host, gai_strerror(g));
    struct udp_in *u = tr_calloc(1, sizeof *u);
    size_t alen = strlen(c.host) + 16;
    if (u) {
        u->id = tr_strdup(spec->id ? spec->id : MOD);
        u->addr = tr_malloc(alen);
    }
    if (!u || !u->id || !u->addr) {
        freeaddrinfo(ai);
        if (u) {
            tr_free(u->id);
            tr_free(u->addr);
        }
        tr_free(u);
        return -ENOMEM;
    }
    snprintf(u->addr, alen, strchr(c.host, ':') ? "[%s]:%u" : "%s:%u", c.host, (unsigned)c.port);
    u->host = host;
    u->loop = tr_onramp_loop(host);
    u->max_size = c.max_size;
    uv_udp_init(u->loop, &u->sock);
    uv_timer_init(u->loop, &u->stats);
    u->sock.data = u->stats.data = u;
    u->handles = 2;
    rc = uv_udp_bind(&u->sock, ai->ai_addr, 0);
    freeaddrinfo(ai);
    if (!rc && c.rcvbuf) {
        int v = (int)c.rcvbuf;
        rc = uv_recv_buffer_size((uv_handle_t *)&u->sock, &v);
    }
    if (rc) {
        tr_diag_set(d, rc, spec->file, spec->line, spec->col, "udp '%s': cannot bind %s: %s", spec->id,
                    u->addr, uv_strerror(rc));
        u->closing = true;
        uv_close((uv_handle_t *)&u->sock, on_closed);
        uv_close((uv_handle_t *)&u->stats, on_closed);
        return rc;
    }
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    unsigned bound = (unsigned)c.port;
    if (uv_udp_getsockname(&u->sock, (struct sockaddr *)&sa, &salen) == 0)
        bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    TR_INFO(MOD, "%s: listening on %s (port %u)", u->id, u->addr, bound);
    *self = u;
    return 0;
}

static int udp_start(void *self) {
    struct udp_in *u = self;
    u->started = true;
    uv_timer_start(&u->stats, on_stats, STATS_MS, STATS_MS);
    read_on(u);
    return 0;
}

static void udp_trigger(void *self) {
    struct udp_in *u = self;
    u->paused = true;
    if (!u->reading) return;
    uv_udp_recv_stop(&u->sock);
    u->reading = false;
}

static void udp_restore(void *self) {
    struct udp_in *u = self;
    if (!u->paused) return;
    u->paused = false;
    read_on(u);
}

static void udp_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void udp_close(void *self, void (*done)(void *), void *arg) {
    struct udp_in *u = self;
    if (u->closing) return;
    update_drops(u);
    TR_INFO(MOD, "%s: %" PRIu64 " datagrams received, %" PRIu64 " dropped by the kernel, %" PRIu64
            " over max_datagram_size", u->id, u->received, u->kernel_drops, u->oversize);
    tr_log_limit_flush(&u->lim);
    u->closing = true;
    u->done = done;
    u->done_arg = arg;
    uv_udp_recv_stop(&u->sock);
    uv_close((uv_handle_t *)&u->sock, on_closed);
    uv_close((uv_handle_t *)&u->stats, on_closed);
}

const struct tr_onramp_ops tr_udp_onramp = {
    .type = "udp",
    .transactional = false,
    .default_codec = "string",
    .create = udp_create,
    .start = udp_start,
    .trigger = udp_trigger,
    .restore = udp_restore,
    .ack = udp_noop_id,
    .fail = udp_noop_id,
    .close = udp_close,
};
