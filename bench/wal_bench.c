/* wal_bench.c - WAL engine figures: throughput, syncs, append-to-durable latency.
 *
 * For 100 B and 1 KiB records and each sync policy, one producer appends as
 * fast as it can for a fixed time while the sync thread group-commits, and a
 * consumer on the same thread reads and acks what became durable (as the
 * qos::wal operator does), so segments are reclaimed. Beside each row, the
 * same disk's raw ceiling measured here at the same batch size: a plain
 * write + fdatasync loop (ALWAYS), write + fdatasync every interval
 * (INTERVAL), plain writes (NONE). Latency twice: measured here from each
 * append to the notify that covered it, and as the WAL's own append ->
 * durable histogram (tr_wal_durable_hist). Checkpoint writes and directory
 * fsyncs are counted beside the data fdatasyncs. Not a test: it prints, it
 * never fails.
 * Usage: wal_bench [dir] [seconds per row] [spare_segments]
 *        (default $TMPDIR or /tmp, 2 s, the WAL's default: 2)
 */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/hist.h"
#include "core/log.h"
#include "wal/wal.h"
#include "wal/wal_int.h"

#define MAX_RECS (16u << 20)

/* spare_segments for every row: -1 = the WAL's default */
static int spares = -1;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* What the sync thread reports: (durable through, when). */
struct events {
    uint64_t *seq, *t;
    atomic_size_t n;
    size_t cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint_fast64_t durable;
};

static void on_durable(void *arg, uint64_t d) {
    struct events *e = arg;
    size_t i = atomic_fetch_add(&e->n, 1);
    if (i < e->cap) {
        e->seq[i] = d;
        e->t[i] = now_ns();
    }
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->durable, d);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_dir(const char *dir) {
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        fprintf(stderr, "could not remove %s: %s\n", dir, strerror(errno));
}

struct result {
    double rps, mbps, p50_us, p99_us, per_sync, wal_p50_us, wal_p99_us;
    uint64_t syncs, n, ckpts, dirsyncs;
};

static const char *pol_name(enum tr_wal_sync_policy p) {
    return p == TR_WAL_SYNC_ALWAYS ? "always" : p == TR_WAL_SYNC_INTERVAL ? "interval" : "none";
}

/* One row. waiting = the producer waits for each record to be durable
 * before the next (no group commit possible: the latency floor). */
static int run(const char *base, size_t size, enum tr_wal_sync_policy pol, double secs, int waiting,
               uint64_t *t_app, struct events *ev, struct result *res) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/wal-bench-%d", base, (int)getpid());
    rm_dir(dir);
    struct tr_wal_config c;
    tr_wal_config_init(&c);
    c.dir = dir;
    c.sync = pol;
    c.sync_interval_ms = 10;
    c.max_record_bytes = 4096;
    c.notify = on_durable;
    c.notify_arg = ev;
    if (spares >= 0) c.spare_segments = (uint32_t)spares;
    atomic_store(&ev->n, 0);
    atomic_store(&ev->durable, 0);
    struct tr_wal *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_wal_open(&c, &w, &d);
    if (rc) {
        fprintf(stderr, "open %s: %s %s\n", dir, tr_strerror(rc), d.msg);
        return rc;
    }
    unsigned char *payload = malloc(size);
    for (size_t i = 0; i < size; i++) payload[i] = (unsigned char)(i * 13 + 1);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), n = 0, read_upto = 0;
    for (;;) {
        uint64_t seq, t = now_ns();
        if (t >= end || n + 1 >= MAX_RECS) break;
        for (int k = 0; k < 64; k++) {
            rc = tr_wal_append(w, payload, size, &seq);
            if (rc) {
                fprintf(stderr, "append: %s\n", tr_strerror(rc));
                goto done;
            }
            t_app[seq] = waiting ? now_ns() : t;
            n = seq;
            if (waiting) {
                tr_wal_flush(w);   /* written now, so the sync thread can cover it */
                pthread_mutex_lock(&ev->mu);
                while (atomic_load(&ev->durable) < seq) pthread_cond_wait(&ev->cv, &ev->mu);
                pthread_mutex_unlock(&ev->mu);
                break;
            }
        }
        tr_wal_flush(w);   /* once per producer turn, as the operator does per loop turn */
        /* the consumer: hand out what is durable and ack it, in big gulps */
        if (n - read_upto >= 4096 || waiting) {
            struct tr_wal_record r;
            uint64_t last = 0;
            while (tr_wal_read(w, &r) == 0) last = r.seq;
            if (last) {
                tr_wal_ack_through(w, last);
                read_upto = last;
            }
        }
    }
done:
    tr_wal_sync(w);
    uint64_t t1 = now_ns();
    size_t ne = atomic_load(&ev->n);
    if (ne > ev->cap) ne = ev->cap;
    for (size_t i = 0; i < ne; i++)
        if (ev->seq[i] >= n) {
            t1 = ev->t[i];
            break;
        }
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    const struct tr_hist *h = tr_wal_durable_hist(w);
    res->wal_p50_us = (double)tr_hist_value_at(h, 0.5) / 1e3;
    res->wal_p99_us = (double)tr_hist_value_at(h, 0.99) / 1e3;
    tr_wal_close(w);
    rm_dir(dir);
    free(payload);

    /* latency of every record: from its append to the notify that covered it */
    uint64_t *lat = malloc(n * sizeof *lat);
    size_t nl = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < ne; i++) {
        for (uint64_t s = prev + 1; s <= ev->seq[i] && s <= n; s++) lat[nl++] = ev->t[i] - t_app[s];
        if (ev->seq[i] > prev) prev = ev->seq[i];
    }
    qsort(lat, nl, sizeof *lat, cmp_u64);
    res->n = n;
    res->rps = (double)n / ((double)(t1 - t0) / 1e9);
    res->mbps = res->rps * (double)size / 1e6;
    res->syncs = st.syncs;
    res->ckpts = st.checkpoints;
    res->dirsyncs = st.dir_syncs;
    res->per_sync = st.syncs ? (double)n / (double)st.syncs : 0;
    res->p50_us = nl ? (double)lat[nl / 2] / 1e3 : 0;
    res->p99_us = nl ? (double)lat[nl * 99 / 100] / 1e3 : 0;
    free(lat);
    return 0;
}

/* The raw ceiling: the same bytes per batch, plain write (+ fdatasync). */
static double raw(const char *base, size_t frame, double batch, enum tr_wal_sync_policy pol, double secs) {
    char path[4096];
    snprintf(path, sizeof path, "%s/wal-bench-raw-%d", base, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    size_t b = batch < 1 ? 1 : (size_t)(batch + 0.5);
    size_t bytes = b * frame;
    unsigned char *buf = malloc(bytes);
    memset(buf, 0x5a, bytes);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), iters = 0, last_sync = t0, off = 0;
    while (now_ns() < end) {
        if (pwrite(fd, buf, bytes, (off_t)off) != (ssize_t)bytes) break;
        off += bytes;
        if (off > (1ull << 30)) {   /* keep the file bounded, like segments */
            if (ftruncate(fd, 0)) break;
            off = 0;
        }
        if (pol == TR_WAL_SYNC_ALWAYS) fdatasync(fd);
        if (pol == TR_WAL_SYNC_INTERVAL && now_ns() - last_sync >= 10000000ull) {
            fdatasync(fd);
            last_sync = now_ns();
        }
        iters++;
    }
    double s = (double)(now_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    free(buf);
    return (double)(iters * b) / s;
}

static void crc_speed(void) {
    size_t n = 64u << 20;
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)i;
    uint64_t t0 = now_ns();
    volatile uint32_t c = tr_wal_crc32c(0, b, n);
    uint64_t t1 = now_ns();
    c = tr_wal_crc32c_sw(0, b, n);
    uint64_t t2 = now_ns();
    (void)c;
    printf("CRC32C over 64 MiB: %s %.0f MB/s, table %.0f MB/s\n", tr_wal_crc32c_hw() ? "hardware" : "(no hardware)",
           (double)n / ((double)(t1 - t0) / 1e3), (double)n / ((double)(t2 - t1) / 1e3));
    free(b);
}

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] == '-') {
        fprintf(argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? stderr : stdout,
                "usage: wal_bench [DIR [SECONDS_PER_ROW [SPARE_SEGMENTS]]]\n"
                "  DIR: where the logs are written (default $TMPDIR or /tmp); 2 s per row;\n"
                "  acknowledged segment files kept for reuse (default: the WAL's, 2)\n");
        return strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? 1 : 0;
    }
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    spares = argc > 3 ? atoi(argv[3]) : -1;
    if (spares > TR_WAL_SPARES_MAX) {
        fprintf(stderr, "wal_bench: SPARE_SEGMENTS must be 0..%d\n", TR_WAL_SPARES_MAX);
        return 1;
    }
    tr_log_set_level(TR_LOG_ERROR);
    uint64_t *t_app = calloc(MAX_RECS + 1, sizeof *t_app);
    struct events ev;
    ev.cap = MAX_RECS;
    ev.seq = malloc(ev.cap * sizeof *ev.seq);
    ev.t = malloc(ev.cap * sizeof *ev.t);
    pthread_mutex_init(&ev.mu, NULL);
    pthread_cond_init(&ev.cv, NULL);
    if (!t_app || !ev.seq || !ev.t) return 1;

    printf("WAL engine benchmark: dir %s, %.1f s per row, one producer + reader/acker on one thread\n", base, secs);
    crc_speed();
    printf("\n%-5s %-9s %-8s %11s %8s %10s %6s %6s %9s %9s %9s %9s %9s   %11s %6s\n", "size", "policy",
           "producer", "records/s", "MB/s", "fdatasyncs", "ckpts", "dirs", "rec/sync", "p50 us", "p99 us",
           "wal p50", "wal p99", "raw rec/s", "ratio");
    size_t sizes[] = {100, 1024};
    enum tr_wal_sync_policy pols[] = {TR_WAL_SYNC_ALWAYS, TR_WAL_SYNC_INTERVAL, TR_WAL_SYNC_NONE};
    for (int si = 0; si < 2; si++) {
        for (int pi = 0; pi < 3; pi++) {
            struct result r;
            if (run(base, sizes[si], pols[pi], secs, 0, t_app, &ev, &r)) return 1;
            double batch = pols[pi] == TR_WAL_SYNC_ALWAYS ? r.per_sync : 4096;
            double ceil = raw(base, sizes[si] + 20, batch, pols[pi], secs * 0.75);
            printf("%-5zu %-9s %-8s %11.0f %8.1f %10" PRIu64 " %6" PRIu64 " %6" PRIu64
                   " %9.1f %9.0f %9.0f %9.0f %9.0f   %11.0f %5.0f%%\n", sizes[si],
                   pol_name(pols[pi]), "stream", r.rps, r.mbps, r.syncs, r.ckpts, r.dirsyncs, r.per_sync, r.p50_us,
                   r.p99_us, r.wal_p50_us, r.wal_p99_us, ceil,
                   ceil > 0 ? 100.0 * r.rps / ceil : 0);
        }
        struct result r;
        if (run(base, sizes[si], TR_WAL_SYNC_ALWAYS, secs / 2, 1, t_app, &ev, &r)) return 1;
        double ceil = raw(base, sizes[si] + 20, 1, TR_WAL_SYNC_ALWAYS, secs * 0.5);
        printf("%-5zu %-9s %-8s %11.0f %8.1f %10" PRIu64 " %6" PRIu64 " %6" PRIu64
                   " %9.1f %9.0f %9.0f %9.0f %9.0f   %11.0f %5.0f%%\n", sizes[si],
               "always", "waits", r.rps, r.mbps, r.syncs, r.ckpts, r.dirsyncs, r.per_sync, r.p50_us, r.p99_us,
               r.wal_p50_us, r.wal_p99_us, ceil,
               ceil > 0 ? 100.0 * r.rps / ceil : 0);
    }
    printf("\nstream: appends keep arriving while each fdatasync runs (group commit); waits: each append\n"
           "waits for its own durability (batch of 1). raw: write+fdatasync per batch of the same size\n"
           "(always), write + fdatasync every 10 ms (interval), plain writes (none), batch = rec/sync.\n"
           "ckpts: checkpoint writes, dirs: directory fsyncs (open, segment created or removed, close);\n"
           "wal p50/p99: the WAL's own append->durable histogram (tr_wal_durable_hist).\n");
    free(t_app);
    free(ev.seq);
    free(ev.t);
    return 0;
}
