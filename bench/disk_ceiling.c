/* disk_ceiling.c - the raw disk ceiling for a durable log: write + fdatasync.
 *
 * For each batch size given, appends batches to a preallocated segment file
 * and fdatasyncs after every batch, as the WAL's sync thread does under
 * `sync = "always"`, then prints records/s and MB/s (one TSV line per batch
 * size, header first). It is not the WAL: no framing, no checksums, no
 * reader; it is the number the WAL can at best reach at that batch size.
 * Invariant: every batch is on disk (fdatasync returned 0) before the next
 * one is written, and the files it creates are removed before it exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_BATCH (64u << 20)          /* largest batch accepted on the command line */
#define MAX_SAMPLES (1u << 20)         /* sync latencies kept for percentiles */
#define MAX_SECS 600.0
#define DEFAULT_SEGMENT (64ull << 20)  /* the WAL's default segment size */

struct opts {
    const char *dir;
    double secs;
    uint64_t record_bytes;             /* what one "record" is, for records/s */
    uint64_t segment_bytes;
    uint64_t max_syncs;                /* 0 = bounded by time only */
};

struct result {
    uint64_t syncs;
    double secs;
    double p50_us, p99_us;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* "4096", "16k", "1M" -> bytes. 0 or TR_EINVAL_CFG. */
static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return TR_EINVAL_CFG;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024 * 1024, end++;
    if (*end || v > UINT64_MAX / mul) return TR_EINVAL_CFG;
    *out = v * mul;
    return 0;
}

/* A new segment file the way the WAL makes one: created, space reserved
 * without changing its size, and the directory synced so the name is durable. */
static int open_segment(const char *path, int dirfd, uint64_t segment_bytes, int *fd_out) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int r;
    do r = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)segment_bytes); while (r < 0 && errno == EINTR);
    /* a filesystem without fallocate only costs the reservation, as in the WAL */
    if (fsync(dirfd) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int write_full(int fd, const unsigned char *p, size_t n, uint64_t off) {
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* One batch size for o->secs (or o->max_syncs batches). Segments roll at
 * segment_bytes and the old one is unlinked, so the disk footprint stays at
 * one segment however long it runs. */
static int measure(const struct opts *o, uint64_t batch, uint32_t *lat, struct result *res) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/disk-ceiling-%ld.seg", o->dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof path) return -ENAMETOOLONG;
    int rc = 0, fd = -1;
    int dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return -errno;
    unsigned char *buf = tr_malloc((size_t)batch);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    memset(buf, 0x5a, (size_t)batch);
    if ((rc = open_segment(path, dirfd, o->segment_bytes, &fd))) goto out;

    uint64_t off = 0, syncs = 0, nlat = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->secs * 1e9);
    while (now_ns() < end && (!o->max_syncs || syncs < o->max_syncs)) {
        if (off + batch > o->segment_bytes && off > 0) {
            close(fd);
            fd = -1;
            unlink(path);
            if ((rc = open_segment(path, dirfd, o->segment_bytes, &fd))) goto out;
            off = 0;
        }
        if ((rc = write_full(fd, buf, (size_t)batch, off))) goto out;
        uint64_t ts = now_ns();
        if (fdatasync(fd) < 0) {
            rc = -errno;
            goto out;
        }
        uint64_t us = (now_ns() - ts) / 1000;
        if (nlat < MAX_SAMPLES) lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        off += batch;
        syncs++;
    }
    res->secs = (double)(now_ns() - t0) / 1e9;
    res->syncs = syncs;
    res->p50_us = res->p99_us = 0;
    if (nlat) {
        qsort(lat, (size_t)nlat, sizeof *lat, cmp_u32);
        res->p50_us = lat[nlat / 2];
        res->p99_us = lat[(nlat * 99) / 100];
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    close(dirfd);
    tr_free(buf);
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "usage: disk_ceiling [-d DIR] [-t SECS] [-r RECORD_BYTES] [-s SEGMENT_BYTES] [-n MAX_SYNCS] "
            "BATCH_BYTES...\n"
            "  appends BATCH_BYTES and fdatasyncs, for SECS (default 2) per batch size, in DIR\n"
            "  (default $TMPDIR or /tmp); sizes take k/M suffixes. records/s counts RECORD_BYTES\n"
            "  (default 120: a 100-byte event plus the WAL's 20-byte frame) per record.\n");
}

int main(int argc, char **argv) {
    struct opts o = {NULL, 2.0, 120, DEFAULT_SEGMENT, 0};
    o.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int c;
    while ((c = getopt(argc, argv, "d:t:r:s:n:h")) != -1) {
        char *end;
        switch (c) {
        case 'd': o.dir = optarg; break;
        case 't':
            o.secs = strtod(optarg, &end);
            if (*end || !(o.secs > 0 && o.secs <= MAX_SECS)) {
                fprintf(stderr, "disk_ceiling: -t must be in (0, %.0f]\n", MAX_SECS);
                return 2;
            }
            break;
        case 'r':
            if (parse_size(optarg, &o.record_bytes) || o.record_bytes == 0) {
                fprintf(stderr, "disk_ceiling: bad -r '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (parse_size(optarg, &o.segment_bytes) || o.segment_bytes < 4096 ||
                o.segment_bytes > (64ull << 30)) {
                fprintf(stderr, "disk_ceiling: -s must be 4k..64G\n");
                return 2;
            }
            break;
        case 'n':
            if (parse_size(optarg, &o.max_syncs)) {
                fprintf(stderr, "disk_ceiling: bad -n '%s'\n", optarg);
                return 2;
            }
            break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc) {
        usage();
        return 2;
    }
    uint64_t batches[64];
    size_t nb = 0;
    for (int i = optind; i < argc; i++) {
        if (nb == sizeof batches / sizeof batches[0]) {
            fprintf(stderr, "disk_ceiling: at most %zu batch sizes\n", nb);
            return 2;
        }
        if (parse_size(argv[i], &batches[nb]) || batches[nb] == 0 || batches[nb] > MAX_BATCH ||
            batches[nb] > o.segment_bytes) {
            fprintf(stderr, "disk_ceiling: batch '%s' must be 1..%u bytes and fit a segment\n", argv[i],
                    MAX_BATCH);
            return 2;
        }
        nb++;
    }
    uint32_t *lat = tr_calloc(MAX_SAMPLES, sizeof *lat);
    if (!lat) {
        fprintf(stderr, "disk_ceiling: out of memory\n");
        return 1;
    }
    printf("batch_bytes\trecord_bytes\tsecs\tsyncs\tsyncs_per_s\tMB_per_s\trecords_per_s\t"
           "sync_p50_us\tsync_p99_us\n");
    int code = 0;
    for (size_t i = 0; i < nb; i++) {
        struct result r = {0, 0, 0, 0};
        int rc = measure(&o, batches[i], lat, &r);
        if (rc) {
            TR_ERROR("disk_ceiling", "%s, batch %" PRIu64 ": %s", o.dir, batches[i], tr_strerror(rc));
            code = 1;
            break;
        }
        double sps = r.secs > 0 ? (double)r.syncs / r.secs : 0;
        printf("%" PRIu64 "\t%" PRIu64 "\t%.3f\t%" PRIu64 "\t%.1f\t%.2f\t%.0f\t%.0f\t%.0f\n", batches[i],
               o.record_bytes, r.secs, r.syncs, sps, sps * (double)batches[i] / 1e6,
               sps * (double)batches[i] / (double)o.record_bytes, r.p50_us, r.p99_us);
        fflush(stdout);
    }
    tr_free(lat);
    return code;
}
