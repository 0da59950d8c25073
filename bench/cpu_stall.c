/* cpu_stall.c - how long this machine stops running its threads, with and
 * without a disk syncing beside them.
 *
 *   cpu_stall DIR [SECONDS]      (default 3 s per phase)
 *
 * One thread per CPU spins reading CLOCK_MONOTONIC; a gap of 1 ms or more
 * between two reads is time the thread did not run. Phase 1 only spins.
 * Phase 2 spins while one more thread writes 8 KiB and fdatasyncs it in
 * DIR/cpu-stall.tmp in a loop (the WAL's pattern). On a virtual machine
 * whose host counts the disk emulation against the guest's CPU quota, phase
 * 2 shows every CPU frozen at once for milliseconds at the quota period
 * (100 ms here); no program in the guest can run then, which bounds any
 * latency measured on it. Prints one line per phase:
 *
 *   cpu_stall: <phase> threads=N gaps=G frozen_pct=P longest_ms=L all_at_once=A period_ms=T syncs=S
 *
 * frozen_pct: the share of each thread's time lost to gaps (mean over the
 * threads); all_at_once: gaps that overlap on every thread; period_ms: the
 * median time between the starts of those. Not a test: it prints.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_GAPS 4096
#define GAP_NS 1000000ull

struct gap {
    uint64_t start, len;
};

struct spinner {
    pthread_t th;
    uint64_t until;
    struct gap gaps[MAX_GAPS];
    size_t ngaps;
    uint64_t lost;
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *spin(void *arg) {
    struct spinner *s = arg;
    uint64_t last = now_ns();
    while (last < s->until) {
        uint64_t t = now_ns();
        if (t - last >= GAP_NS) {
            s->lost += t - last;
            if (s->ngaps < MAX_GAPS) s->gaps[s->ngaps++] = (struct gap){last, t - last};
        }
        last = t;
    }
    return NULL;
}

struct syncer {
    pthread_t th;
    const char *path;
    atomic_int stop;
    uint64_t syncs;
    int err;
};

static void *sync_loop(void *arg) {
    struct syncer *y = arg;
    int fd = open(y->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        y->err = errno;
        return NULL;
    }
    static char buf[8192];
    memset(buf, 'x', sizeof buf);
    off_t off = 0;
    while (!atomic_load(&y->stop)) {
        if (pwrite(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf || fdatasync(fd) != 0) {
            y->err = errno;
            break;
        }
        off += (off_t)sizeof buf;
        if (off >= (64 << 20)) off = 0;   /* stay within 64 MiB, like a segment */
        y->syncs++;
    }
    close(fd);
    unlink(y->path);
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Gaps of thread 0 that overlap a gap on every other thread. */
static size_t all_at_once(struct spinner *sp, int n, uint64_t *starts) {
    size_t k = 0;
    for (size_t i = 0; i < sp[0].ngaps; i++) {
        struct gap g = sp[0].gaps[i];
        int every = 1;
        for (int t = 1; t < n && every; t++) {
            int hit = 0;
            for (size_t j = 0; j < sp[t].ngaps && !hit; j++) {
                struct gap h = sp[t].gaps[j];
                hit = h.start < g.start + g.len && g.start < h.start + h.len;
            }
            every = hit;
        }
        if (every) starts[k++] = g.start;
    }
    return k;
}

static void phase(const char *name, int n, double secs, const char *path) {
    static struct spinner sp[MAX_THREADS];
    struct syncer y = {.path = path};
    atomic_init(&y.stop, 0);
    uint64_t t0 = now_ns(), dur = (uint64_t)(secs * 1e9);
    if (path && pthread_create(&y.th, NULL, sync_loop, &y)) {
        fprintf(stderr, "cpu_stall: cannot start the sync thread\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        sp[i].until = t0 + dur;
        sp[i].ngaps = 0;
        sp[i].lost = 0;
        if (pthread_create(&sp[i].th, NULL, spin, &sp[i])) {
            fprintf(stderr, "cpu_stall: cannot start a spinning thread\n");
            exit(1);
        }
    }
    for (int i = 0; i < n; i++) pthread_join(sp[i].th, NULL);
    if (path) {
        atomic_store(&y.stop, 1);
        pthread_join(y.th, NULL);
        if (y.err) fprintf(stderr, "cpu_stall: %s: %s\n", path, strerror(y.err));
    }
    size_t gaps = 0;
    uint64_t longest = 0, lost = 0;
    for (int i = 0; i < n; i++) {
        gaps += sp[i].ngaps;
        lost += sp[i].lost;
        for (size_t j = 0; j < sp[i].ngaps; j++)
            if (sp[i].gaps[j].len > longest) longest = sp[i].gaps[j].len;
    }
    uint64_t *starts = malloc(MAX_GAPS * sizeof *starts);
    size_t k = starts ? all_at_once(sp, n, starts) : 0;
    double period = 0;
    if (k >= 3) {
        for (size_t i = 0; i + 1 < k; i++) starts[i] = starts[i + 1] - starts[i];
        qsort(starts, k - 1, sizeof *starts, cmp_u64);
        period = (double)starts[(k - 1) / 2] / 1e6;
    }
    free(starts);
    printf("cpu_stall: %s threads=%d gaps=%zu frozen_pct=%.2f longest_ms=%.1f all_at_once=%zu period_ms=%.0f "
           "syncs=%llu\n",
           name, n, gaps, 100.0 * (double)lost / ((double)dur * n), (double)longest / 1e6, k, period,
           (unsigned long long)y.syncs);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: cpu_stall DIR [SECONDS]   (DIR: where to fdatasync, e.g. the WAL's file system)\n");
        return 64;
    }
    double secs = argc > 2 ? atof(argv[2]) : 3.0;
    if (!(secs > 0 && secs <= 600)) {
        fprintf(stderr, "cpu_stall: SECONDS must be in (0, 600]\n");
        return 64;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (int)ncpu;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/cpu-stall-%d.tmp", argv[1], (int)getpid()) >= (int)sizeof path) {
        fprintf(stderr, "cpu_stall: DIR too long\n");
        return 64;
    }
    phase("cpu-only", n, secs, NULL);
    phase("with-fdatasync", n, secs, path);
    return 0;
}
