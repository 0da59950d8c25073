/* lat_tool.c - paced loader and latency-measuring sink for the durable relay's
 * latency row of `make bench` (step `latency`, bench/lat_bench.sh).
 *
 *   lat_tool load PORT RATE N SIZE        connect to 127.0.0.1:PORT, send N lines at RATE/s
 *   lat_tool sink PORT N TIMEOUT_S OUT    listen on 127.0.0.1:PORT, receive lines, report
 *
 * Line format (JSON, so the relay's json and string codecs both pass it on):
 *   {"id":SEQ,"ts":SCHEDULED_NS,"at":SENT_NS,"pad":"xxx..."}\n
 * padded with 'x' to SIZE bytes including the newline (longer if SIZE is too
 * small for the numbers). Times are CLOCK_MONOTONIC nanoseconds, which loader
 * and sink share on one machine. "ts" is when the event was due by the pace
 * (start + SEQ / RATE), "at" when its burst was written; the sink measures
 * latency from "ts", so a loader held back by a slow relay does not hide the
 * delay it caused (no coordinated omission), and prints the "at" figures beside.
 * A loader stopped by SIGTERM or SIGINT (a time bound for a relay that cannot
 * keep the pace) ends with {"end":SENT} so the sink expects only SENT events
 * and counts the rest as unsent, not lost.
 * It is not a general load generator: one connection, loopback only.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 100000000L      /* ids tracked in memory: 8 B + 8 B + 1 B each */
#define MAX_SIZE 65536L       /* line size the loader pads to */
#define MAX_LINE 65536        /* longest line the sink accepts; longer ones are counted bad */
#define MAX_CONNS 16          /* the relay may reconnect; all connections are read */
#define BURST_NS 100000       /* the loader wakes at most every 100 µs and sends what is due */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* a decimal argument in [lo, hi], or -1 */
static long arg_num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    return v;
}

static struct sockaddr_in loopback(long port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* all n bytes, or -errno. A stop request interrupting a write before any byte
 * of the call went out returns -EINTR (a clean line boundary); once a part is
 * out, the rest follows so no half line is left on the wire. */
static int write_all(int fd, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR && (!stop_requested || done))
                continue;
            return -errno;
        }
        done += (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------------ load */

static int load(long port, long rate, long n, long size)
{
    struct sockaddr_in a = loopback(port);
    int fd = -1;
    /* the relay may still be starting: retry the connect for up to 10 s */
    int64_t give_up = now_ns() + 10000000000LL;
    for (;;) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("lat_tool load: socket");
            return 1;
        }
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        int e = errno;
        close(fd);
        if (now_ns() > give_up) {
            fprintf(stderr, "lat_tool load: connect 127.0.0.1:%ld: %s\n", port, strerror(e));
            return 1;
        }
        sleep_until(now_ns() + 20000000);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    /* one burst is at most what is due in BURST_NS, plus the backlog of a late
     * wake-up; the buffer holds 4096 lines and a longer backlog is sent in parts */
    size_t cap = 4096 * ((size_t)size + 64);
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "lat_tool load: out of memory\n");
        close(fd);
        return 1;
    }
    double period = 1e9 / (double)rate;
    int64_t burst = (int64_t)((double)BURST_NS / period);
    if (burst < 1)
        burst = 1;
    int64_t start = now_ns() + 1000000, worst_late = 0;
    long next = 0;
    int rc = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;   /* no SA_RESTART: a blocked write returns, the loop ends */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (next < n && !stop_requested) {
        int64_t t = now_ns();
        size_t len = 0;
        long burst_first = next;
        int64_t first_late = -1;
        while (next < n && len + (size_t)size + 64 <= cap) {
            int64_t due = start + (int64_t)((double)next * period);
            if (due > t)
                break;
            if (first_late < 0)
                first_late = t - due;
            int k = snprintf(buf + len, cap - len, "{\"id\":%ld,\"ts\":%lld,\"at\":%lld,\"pad\":\"", next,
                             (long long)due, (long long)t);
            size_t l = len + (size_t)k;
            while (l - len + 3 < (size_t)size)   /* room left for "}\n */
                buf[l++] = 'x';
            memcpy(buf + l, "\"}\n", 3);
            len = l + 3;
            next++;
        }
        if (first_late > worst_late)
            worst_late = first_late;
        if (len && (rc = write_all(fd, buf, len)) == -EINTR && stop_requested) {
            next = burst_first;   /* none of this burst went out */
            rc = 0;
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "lat_tool load: write after %ld lines: %s\n", next, strerror(-rc));
            rc = 1;
            break;
        }
        if (next < n) {
            long wake = next + burst - 1 < n ? next + burst - 1 : n - 1;
            int64_t w = start + (int64_t)((double)wake * period);
            if (w > now_ns())
                sleep_until(w);
        }
    }
    int64_t end = now_ns();
    if (stop_requested) {
        /* tell the sink how many were sent */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        int k = snprintf(buf, cap, "{\"end\":%ld}\n", next);
        if (write_all(fd, buf, (size_t)k) < 0)
            rc = 1;
    }
    free(buf);
    close(fd);
    double secs = (double)(end - start) / 1e9;
    printf("lat_tool load: sent=%ld secs=%.3f rate=%.0f target_rate=%ld worst_late_ms=%.3f%s\n", next, secs,
           secs > 0 ? (double)next / secs : 0.0, rate, (double)worst_late / 1e6,
           stop_requested ? " stopped_early=1" : "");
    return rc;
}

/* ------------------------------------------------------------------ sink */

struct sink {
    long n;                /* ids expected: N, or fewer after an "end" line */
    unsigned char *seen;   /* per id: arrived at least once */
    int64_t *from_sched;   /* receipt - ts per id, of its first arrival */
    int64_t *from_sent;    /* receipt - at per id */
    long unique, dups, bad;
    int64_t first_rx, last_rx;
};

/* the decimal after KEY in [p, e), or -1 */
static long long field(const char *p, const char *e, const char *key)
{
    size_t kl = strlen(key);
    for (const char *q = p; q + kl <= e; q++) {
        if (memcmp(q, key, kl) != 0)
            continue;
        q += kl;
        long long v = 0;
        int digits = 0;
        while (q < e && *q >= '0' && *q <= '9' && digits < 19) {
            v = v * 10 + (*q++ - '0');
            digits++;
        }
        return digits ? v : -1;
    }
    return -1;
}

static void line(struct sink *s, const char *p, const char *e, int64_t rx)
{
    long long id = field(p, e, "\"id\":"), ts = field(p, e, "\"ts\":"), at = field(p, e, "\"at\":");
    long long end = id < 0 ? field(p, e, "\"end\":") : -1;
    if (end >= 0 && end <= s->n) {   /* the loader stopped early after END events */
        s->n = (long)end;
        return;
    }
    if (id < 0 || id >= s->n || ts < 0 || at < 0) {
        s->bad++;
        return;
    }
    if (s->seen[id]) {
        s->dups++;
        return;
    }
    s->seen[id] = 1;
    s->from_sched[id] = rx - ts;
    s->from_sent[id] = rx - at;
    s->unique++;
    if (!s->first_rx)
        s->first_rx = rx;
    s->last_rx = rx;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* p in [0, 1] of the sorted v[0..k), in ms */
static double pct(const int64_t *v, long k, double p)
{
    if (k <= 0)
        return -1;
    long i = (long)(p * (double)(k - 1) + 0.5);
    return (double)v[i] / 1e6;
}

/* sorts the figures of the ids that arrived to the front of v and prints them */
static void summary(FILE *f, const char *what, const unsigned char *seen, int64_t *v, long n)
{
    long j = 0;
    for (long i = 0; i < n; i++)
        if (seen[i])
            v[j++] = v[i];
    qsort(v, (size_t)j, sizeof *v, cmp64);
    fprintf(f, "%s p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n", what, pct(v, j, 0.5), pct(v, j, 0.99),
            pct(v, j, 0.999), j ? (double)v[j - 1] / 1e6 : -1.0);
}

static int sink(long port, long n, long timeout_s, const char *out)
{
    struct sink s = {.n = n};
    s.seen = calloc((size_t)n, 1);
    s.from_sched = malloc((size_t)n * sizeof(int64_t));
    s.from_sent = malloc((size_t)n * sizeof(int64_t));
    char *buf = malloc(MAX_CONNS * (size_t)MAX_LINE);
    size_t used[MAX_CONNS] = {0};
    int skip[MAX_CONNS] = {0};   /* inside a line longer than MAX_LINE */
    struct pollfd pf[MAX_CONNS + 1];
    int rc = 1;
    if (!s.seen || !s.from_sched || !s.from_sent || !buf) {
        fprintf(stderr, "lat_tool sink: out of memory for %ld ids\n", n);
        goto out;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = loopback(port);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 16) < 0) {
        fprintf(stderr, "lat_tool sink: listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        goto out;
    }
    printf("lat_tool sink: listening on 127.0.0.1:%ld\n", port);
    fflush(stdout);
    pf[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 1; i <= MAX_CONNS; i++)
        pf[i] = (struct pollfd){.fd = -1, .events = POLLIN};
    int conns = 0;
    /* ends when every id arrived, or after TIMEOUT_S without a new line */
    int64_t idle_until = now_ns() + (int64_t)timeout_s * 1000000000;
    while (s.unique < s.n) {
        int64_t left = idle_until - now_ns();
        if (left <= 0)
            break;
        int r = poll(pf, MAX_CONNS + 1, (int)(left / 1000000 + 1));
        if (r < 0 && errno != EINTR) {
            perror("lat_tool sink: poll");
            goto out;
        }
        if (r <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            int slot = 0;
            for (int i = 1; i <= MAX_CONNS && c >= 0; i++)
                if (pf[i].fd < 0) {
                    slot = i;
                    break;
                }
            if (c >= 0 && slot) {
                pf[slot].fd = c;
                used[slot - 1] = 0;
                skip[slot - 1] = 0;
                conns++;
            } else if (c >= 0) {
                close(c);
            }
        }
        for (int i = 1; i <= MAX_CONNS; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *b = buf + (size_t)(i - 1) * MAX_LINE;
            size_t *u = &used[i - 1];
            ssize_t got = read(pf[i].fd, b + *u, (size_t)MAX_LINE - *u);
            int64_t rx = now_ns();
            if (got <= 0) {
                if (got < 0 && errno == EINTR)
                    continue;
                close(pf[i].fd);
                pf[i].fd = -1;
                continue;
            }
            *u += (size_t)got;
            char *p = b, *e = b + *u, *nl;
            long before = s.unique;
            while ((nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
                if (skip[i - 1])
                    skip[i - 1] = 0;
                else
                    line(&s, p, nl, rx);
                p = nl + 1;
            }
            *u = (size_t)(e - p);
            if (*u == MAX_LINE) {   /* no newline in a full buffer: drop to the next one */
                if (!skip[i - 1])
                    s.bad++;   /* a long line counts once */
                skip[i - 1] = 1;
                *u = 0;
            } else if (*u) {
                memmove(b, p, *u);
            }
            if (s.unique > before)
                idle_until = rx + (int64_t)timeout_s * 1000000000;
        }
    }
    for (int i = 0; i <= MAX_CONNS; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);

    FILE *f = strcmp(out, "-") ? fopen(out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "lat_tool sink: %s: %s\n", out, strerror(errno));
        goto out;
    }
    double secs = (double)(s.last_rx - s.first_rx) / 1e9;
    /* n: the ids the loader sent (N unless it stopped early); unsent: N - n */
    fprintf(f, "lat_tool sink: n=%ld unique=%ld lost=%ld dups=%ld bad=%ld unsent=%ld connections=%d secs=%.3f\n",
            s.n, s.unique, s.n - s.unique, s.dups, s.bad, n - s.n, conns, secs);
    summary(f, "from scheduled send:", s.seen, s.from_sched, n);
    summary(f, "from actual send:", s.seen, s.from_sent, n);
    if (f != stdout) {
        fclose(f);
        /* echo the file for a person running it by hand */
        f = fopen(out, "r");
        int ch;
        while (f && (ch = fgetc(f)) != EOF)
            putchar(ch);
        if (f)
            fclose(f);
    }
    rc = 0;
out:
    free(s.seen);
    free(s.from_sched);
    free(s.from_sent);
    free(buf);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: lat_tool load PORT RATE N SIZE\n"
                    "       lat_tool sink PORT N TIMEOUT_S OUT   (OUT: a file, or - for stdout only)\n");
    return 64;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc != 6)
        return usage();
    long port = arg_num(argv[2], 1, 65535);
    if (!strcmp(argv[1], "load")) {
        long rate = arg_num(argv[3], 1, 1000000000), n = arg_num(argv[4], 1, MAX_N);
        long size = arg_num(argv[5], 1, MAX_SIZE);
        if (port < 0 || rate < 0 || n < 0 || size < 0)
            return usage();
        return load(port, rate, n, size);
    }
    if (!strcmp(argv[1], "sink")) {
        long n = arg_num(argv[3], 1, MAX_N), timeout_s = arg_num(argv[4], 1, 86400);
        if (port < 0 || n < 0 || timeout_s < 0)
            return usage();
        return sink(port, n, timeout_s, argv[5]);
    }
    return usage();
}
