/* test_wal_powerloss.c - simulated power loss at every I/O step of a workload.
 *
 * An I/O seam keeps what a power cut would keep: per file the length made
 * durable by its last fdatasync and the old bytes of every overwrite since;
 * creations, renames and unlinks count only after a directory fsync. The
 * machine "stops" at the Nth mutating call (every later call fails), the WAL
 * is closed, and the cut is applied: unsynced appends dropped (or a random
 * part kept, or kept with a zeroed hole - torn and reordered writes),
 * unsynced overwrites undone, unsynced directory changes reverted. Then the
 * directory is opened normally and the oracle checked: every record reported
 * durable is present and intact, numbers are consecutive up to there, the
 * frontier covers only acknowledged records and every ack a completed
 * tr_wal_sync (or close) covered, and the writer continues. A second
 * workload commits one record at a time through the ordinary group commit
 * across segment switches: a record of a freshly created segment must not
 * be reported durable before the directory holding its name is synced.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "core/log.h"
#include "wal/wal.h"
#include "wal_test_util.h"

#define PMAX 120
#define MAXF 256

struct undo {
    uint64_t off;
    size_t len;
    unsigned char *old;
};

struct pfile {
    char path[512];
    int used;
    int created;        /* dirent not durable yet */
    uint64_t durable;   /* length made durable */
    struct undo *u;
    size_t nu;
};

struct pl {
    struct tr_wal_io io;
    const struct tr_wal_io *real;
    pthread_mutex_t mu;
    struct pfile f[MAXF];
    int fd_file[4096];          /* fd -> index in f, -1 */
    char gone[MAXF][512];       /* unlinked, not yet durable: renamed aside */
    int ngone;
    char ren_from[8][512], ren_to[8][512];
    int nren;
    long calls, stop_at;
    int stopped;
};

static int lookup(struct pl *p, const char *path) {
    for (int i = 0; i < MAXF; i++)
        if (p->f[i].used && strcmp(p->f[i].path, path) == 0) return i;
    return -1;
}

static int add(struct pl *p, const char *path, int created, uint64_t durable) {
    for (int i = 0; i < MAXF; i++)
        if (!p->f[i].used) {
            memset(&p->f[i], 0, sizeof p->f[i]);
            p->f[i].used = 1;
            snprintf(p->f[i].path, sizeof p->f[i].path, "%s", path);
            p->f[i].created = created;
            p->f[i].durable = durable;
            return i;
        }
    return -1;
}

/* Counts a mutating call; 1 if the machine has stopped. */
static int stop(struct pl *p) {
    if (p->stopped) return 1;
    if (++p->calls == p->stop_at) p->stopped = 1;
    return p->stopped;
}

static int p_open(void *c, const char *path, int fl, int mode) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    int rc;
    if ((fl & O_CREAT) && stop(p)) {
        rc = -EIO;
        goto out;
    }
    int existed = access(path, F_OK) == 0;
    rc = p->real->open(NULL, path, fl, mode);
    if (rc >= 0 && rc < 4096) {
        int i = lookup(p, path);
        if (i < 0) {
            struct stat st;
            uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
            i = add(p, path, !existed, existed ? size : 0);
        } else if (fl & O_TRUNC) {
            p->f[i].durable = 0;
        }
        p->fd_file[rc] = i;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int p_close(void *c, int fd) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    if (fd >= 0 && fd < 4096) p->fd_file[fd] = -1;
    pthread_mutex_unlock(&p->mu);
    return p->real->close(NULL, fd);
}

static ssize_t p_pread(void *c, int fd, void *b, size_t n, uint64_t off) {
    struct pl *p = c;
    return p->real->pread(NULL, fd, b, n, off);
}

static ssize_t p_pwrite(void *c, int fd, const void *b, size_t n, uint64_t off) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    ssize_t rc = -EIO;
    if (stop(p)) goto out;
    int i = fd < 4096 ? p->fd_file[fd] : -1;
    if (i >= 0 && off < p->f[i].durable) {   /* overwriting durable bytes: keep the old ones */
        struct pfile *f = &p->f[i];
        size_t len = (size_t)((off + n < f->durable ? off + n : f->durable) - off);
        f->u = realloc(f->u, (f->nu + 1) * sizeof *f->u);
        f->u[f->nu].off = off;
        f->u[f->nu].len = len;
        f->u[f->nu].old = malloc(len);
        /* through a descriptor of its own: the WAL writes through O_WRONLY ones */
        int rfd = open(f->path, O_RDONLY);
        if (rfd < 0 || pread(rfd, f->u[f->nu].old, len, (off_t)off) != (ssize_t)len) abort();
        close(rfd);
        f->nu++;
    }
    rc = p->real->pwrite(NULL, fd, b, n, off);
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void forget_undo(struct pfile *f) {
    for (size_t k = 0; k < f->nu; k++) free(f->u[k].old);
    free(f->u);
    f->u = NULL;
    f->nu = 0;
}

static int p_fdatasync(void *c, int fd) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    int rc = -EIO;
    if (stop(p)) goto out;
    rc = p->real->fdatasync(NULL, fd);
    int i = fd < 4096 ? p->fd_file[fd] : -1;
    if (!rc && i >= 0) {
        uint64_t size = 0;
        p->real->fsize(NULL, fd, &size);
        p->f[i].durable = size;
        forget_undo(&p->f[i]);
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int p_fsync(void *c, int fd) {   /* the WAL fsyncs only its directory */
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    int rc = -EIO;
    if (stop(p)) goto out;
    rc = p->real->fsync(NULL, fd);
    if (!rc) {
        for (int i = 0; i < MAXF; i++) p->f[i].created = 0;
        for (int g = 0; g < p->ngone; g++) unlink(p->gone[g]);
        p->ngone = 0;
        p->nren = 0;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int p_ftruncate(void *c, int fd, uint64_t l) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    int rc = -EIO;
    if (stop(p)) goto out;
    rc = p->real->ftruncate(NULL, fd, l);
    int i = fd < 4096 ? p->fd_file[fd] : -1;
    if (!rc && i >= 0 && p->f[i].durable > l) p->f[i].durable = l;
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int p_fallocate(void *c, int fd, uint64_t l) { return ((struct pl *)c)->real->fallocate(NULL, fd, l); }
static int p_fsize(void *c, int fd, uint64_t *s) { return ((struct pl *)c)->real->fsize(NULL, fd, s); }

static int p_rename(void *c, const char *a, const char *b) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    int rc = -EIO;
    if (stop(p)) goto out;
    rc = p->real->rename(NULL, a, b);
    if (!rc) {
        int i = lookup(p, a);
        if (i >= 0) snprintf(p->f[i].path, sizeof p->f[i].path, "%s", b);
        if (p->nren < 8) {
            snprintf(p->ren_from[p->nren], 512, "%s", a);
            snprintf(p->ren_to[p->nren], 512, "%s", b);
            p->nren++;
        }
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int p_unlink(void *c, const char *path) {
    struct pl *p = c;
    pthread_mutex_lock(&p->mu);
    int rc = -EIO;
    if (stop(p)) goto out;
    /* aside until the directory is synced: a power cut brings it back */
    char aside[600];
    snprintf(aside, sizeof aside, "%s.plgone", path);
    rc = p->real->rename(NULL, path, aside);
    if (!rc && p->ngone < MAXF) snprintf(p->gone[p->ngone++], 512, "%s", path);
    int i = lookup(p, path);
    if (!rc && i >= 0) {
        forget_undo(&p->f[i]);
        p->f[i].used = 0;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int p_mkdir(void *c, const char *path, int m) { return ((struct pl *)c)->real->mkdir(NULL, path, m); }

static void pl_init(struct pl *p, long stop_at) {
    memset(p, 0, sizeof *p);
    p->real = tr_wal_io_posix();
    pthread_mutex_init(&p->mu, NULL);
    for (int i = 0; i < 4096; i++) p->fd_file[i] = -1;
    p->stop_at = stop_at;
    p->io = (struct tr_wal_io){p, p_open, p_close, p_pread, p_pwrite, p_fdatasync, p_fsync, p_ftruncate,
                               p_fallocate, p_fsize, p_rename, p_unlink, p_mkdir};
}

/* The cut. mode 0: unsynced data lost; 1: a random prefix of it kept; 2: kept
 * with a zeroed hole in it (later writes landed, earlier ones did not). */
static void power_cut(struct pl *p, int mode, unsigned *rnd) {
    for (int r = p->nren - 1; r >= 0; r--) rename(p->ren_to[r], p->ren_from[r]);
    for (int g = 0; g < p->ngone; g++) {
        char aside[600];
        snprintf(aside, sizeof aside, "%s.plgone", p->gone[g]);
        rename(aside, p->gone[g]);
    }
    for (int i = 0; i < MAXF; i++) {
        struct pfile *f = &p->f[i];
        if (!f->used) continue;
        for (int r = p->nren - 1; r >= 0; r--)
            if (strcmp(f->path, p->ren_to[r]) == 0) memcpy(f->path, p->ren_from[r], sizeof f->path);
        if (f->created) {
            unlink(f->path);
        } else {
            int fd = open(f->path, O_RDWR);
            if (fd >= 0) {
                for (size_t k = f->nu; k-- > 0;)
                    if (mode == 0 || rand_r(rnd) % 2)
                        if (pwrite(fd, f->u[k].old, f->u[k].len, (off_t)f->u[k].off) < 0) abort();
                struct stat st;
                fstat(fd, &st);
                uint64_t size = (uint64_t)st.st_size, keep = f->durable;
                if (mode && size > f->durable) keep = f->durable + (uint64_t)rand_r(rnd) % (size - f->durable + 1);
                if (ftruncate(fd, (off_t)keep)) abort();
                if (mode == 2 && keep > f->durable + 8) {
                    uint64_t a = f->durable + (uint64_t)rand_r(rnd) % (keep - f->durable - 4);
                    uint64_t len = 1 + (uint64_t)rand_r(rnd) % (keep - a);
                    unsigned char *z = calloc(1, (size_t)len);
                    if (pwrite(fd, z, (size_t)len, (off_t)a) < 0) abort();
                    free(z);
                }
                close(fd);
            }
        }
        forget_undo(f);
    }
}

struct outcome {
    uint64_t durable, acked;
    uint64_t sync_acked;   /* acked before a tr_wal_sync or close that succeeded */
    int fresh;             /* a record of a segment created in the run was reported durable */
    uint64_t recycled;     /* segments that reused a kept file */
};

static void config(struct tr_wal_config *c, const char *dir) {
    tr_wal_config_init(c);
    c->dir = dir;
    c->sync = TR_WAL_SYNC_ALWAYS;
    c->segment_bytes = 1024;
    c->max_record_bytes = 256;
}

/* Two runs of appends, syncs, reads and acks; stops at the first error. */
static struct outcome workload(const char *dir, const struct tr_wal_io *io) {
    struct outcome o = {0, 0, 0, 0, 0};
    for (int run = 0; run < 2; run++) {
        struct tr_wal_config c;
        config(&c, dir);
        c.io = io;
        struct tr_wal *w = NULL;
        if (tr_wal_open(&c, &w, NULL)) return o;
        unsigned char buf[PMAX];
        struct tr_wal_stats st;
        tr_wal_stats(w, &st);
        uint64_t next = st.next_seq;
        int ok = 1;
        for (int b = 0; b < 5 && ok; b++) {
            for (int i = 0; i < 6; i++) {
                if (tr_wal_append(w, buf, wt_payload(next, PMAX, buf), NULL)) {
                    ok = 0;
                    break;
                }
                next++;
            }
            uint64_t acked = o.acked;
            if (!ok || tr_wal_sync(w)) break;
            o.durable = next - 1;
            o.sync_acked = acked;
            struct tr_wal_record r;
            uint64_t last = 0;
            while (tr_wal_read(w, &r) == 0) last = r.seq;
            if (last > 4 && last - 4 > o.acked) {
                tr_wal_ack_through(w, last - 4);
                o.acked = last - 4;
            }
        }
        uint64_t d = tr_wal_durable_seq(w);
        if (d > o.durable) o.durable = d;
        tr_wal_stats(w, &st);
        o.recycled += st.recycled;
        int rc = tr_wal_close(w);
        if (!ok || rc) return o;
        o.sync_acked = o.acked;
    }
    return o;
}

/* ---- one record per group commit, across segment switches ---- */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
};

static void on_notify(void *arg, uint64_t d) {
    (void)d;
    struct waiter *wt = arg;
    pthread_mutex_lock(&wt->mu);
    wt->calls++;
    pthread_cond_broadcast(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
}

/* Flush and wait for the notify (10 s at most) until seq is durable or the
 * log failed (the machine stopped). 0 if durable. */
static int commit(struct tr_wal *w, struct waiter *wt, uint64_t seq) {
    if (tr_wal_flush(w)) return -1;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&wt->mu);
    int rc = 0;
    for (;;) {
        int seen = wt->calls;
        pthread_mutex_unlock(&wt->mu);
        if (tr_wal_durable_seq(w) >= seq) return 0;
        if (tr_wal_pump(w)) return -1;
        pthread_mutex_lock(&wt->mu);
        while (wt->calls == seen && rc == 0) rc = pthread_cond_timedwait(&wt->cv, &wt->mu, &dl);
        if (rc) break;
    }
    pthread_mutex_unlock(&wt->mu);
    fail_msg("record %lu neither durable nor failed within 10 s", (unsigned long)seq);
    return -1;
}

static struct outcome fresh_segments(const char *dir, const struct tr_wal_io *io) {
    static struct waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct outcome o = {0, 0, 0, 0, 0};
    struct tr_wal_config c;
    config(&c, dir);
    c.io = io;
    c.notify = on_notify;
    c.notify_arg = &wt;
    struct tr_wal *w = NULL;
    if (tr_wal_open(&c, &w, NULL)) return o;
    unsigned char buf[PMAX];
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t segs = st.segments, rolled_at = 0, first = st.next_seq;
    for (uint64_t seq = first; seq < first + 20; seq++) {
        uint64_t got;
        if (tr_wal_append(w, buf, wt_payload(seq, PMAX, buf), &got)) break;
        tr_wal_stats(w, &st);
        if (st.segments > segs) rolled_at = got;   /* the first record of a new segment */
        segs = st.segments;
        if (commit(w, &wt, got)) break;
        o.durable = got;
        if (rolled_at) o.fresh = 1;
    }
    tr_wal_close(w);
    return o;
}

typedef struct outcome (*workload_fn)(const char *dir, const struct tr_wal_io *io);

/* Run wl once to count its mutating calls, then once per call N with the
 * power cut at N, each of the three ways; check the oracle after each.
 * Returns how many cuts had a record of a new segment reported durable. */
static int cut_everywhere(workload_fn wl, uint64_t *recycled) {
    tr_log_set_level(TR_LOG_ERROR);
    char *base = wt_mkdtemp();
    char dir[4096];
    struct pl *p = malloc(sizeof *p);
    /* how many mutating calls the workload makes */
    snprintf(dir, sizeof dir, "%s/count", base);
    pl_init(p, 0);
    *recycled = wl(dir, &p->io).recycled;
    long total = p->calls;
    for (int i = 0; i < MAXF; i++) forget_undo(&p->f[i]);
    wt_rmrf(dir);
    assert_true(total > 40);
    unsigned rnd = 777;
    int cuts = 0, fresh = 0;
    for (int mode = 0; mode < 3; mode++) {
        for (long n = 1; n <= total; n++) {
            snprintf(dir, sizeof dir, "%s/m%dn%ld", base, mode, n);
            pl_init(p, n);
            struct outcome o = wl(dir, &p->io);
            power_cut(p, mode, &rnd);
            cuts++;
            fresh += o.fresh;
            struct tr_wal_config c;
            config(&c, dir);
            struct tr_wal *w = NULL;
            struct tr_diag d;
            tr_diag_clear(&d);
            int rc = tr_wal_open(&c, &w, &d);
            if (rc) print_error("mode %d cut %ld: %s %s\n", mode, n, tr_strerror(rc), d.msg);
            assert_int_equal(rc, 0);
            struct tr_wal_stats st;
            tr_wal_stats(w, &st);
            if (st.frontier > o.acked || st.next_seq - 1 < o.durable)
                print_error("mode %d cut %ld: frontier %lu (acked %lu), next %lu (durable %lu)\n", mode, n,
                            (unsigned long)st.frontier, (unsigned long)o.acked, (unsigned long)st.next_seq,
                            (unsigned long)o.durable);
            assert_true(st.frontier <= o.acked);
            if (st.frontier < o.sync_acked)
                print_error("mode %d cut %ld: frontier %lu went back behind %lu, acked before a sync\n", mode,
                            n, (unsigned long)st.frontier, (unsigned long)o.sync_acked);
            assert_true(st.frontier >= o.sync_acked);
            assert_true(st.next_seq - 1 >= o.durable);
            struct tr_wal_record r;
            uint64_t want = st.frontier + 1;
            uint64_t seen[512];   /* what this open hands out, for the second one */
            size_t nseen = 0;
            while ((rc = tr_wal_read(w, &r)) == 0) {
                if (nseen < 511) seen[nseen++] = r.seq;
                /* up to the durable point: exactly consecutive; beyond it
                 * torn data may have cost records that were never durable */
                if (want <= o.durable) {
                    if (r.seq != want) print_error("mode %d cut %ld: expected %lu got %lu\n", mode, n,
                                                   (unsigned long)want, (unsigned long)r.seq);
                    assert_int_equal(r.seq, want);
                }
                assert_true(r.seq >= want);
                assert_true(wt_payload_ok(r.seq, PMAX, r.data, r.len));
                want = r.seq + 1;
            }
            assert_int_equal(rc, -EAGAIN);
            assert_true(want > o.durable);
            /* the writer continues */
            unsigned char buf[PMAX];
            uint64_t seq;
            assert_int_equal(tr_wal_append(w, buf, wt_payload(st.next_seq, PMAX, buf), &seq), 0);
            assert_int_equal(seq, st.next_seq);
            assert_int_equal(tr_wal_close(w), 0);
            /* and a second open finds exactly that: no record a reused
             * file still held from before the cut comes back */
            seen[nseen++] = seq;
            assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
            size_t k2 = 0;
            while ((rc = tr_wal_read(w, &r)) == 0) {
                if (k2 >= nseen || r.seq != seen[k2])
                    print_error("mode %d cut %ld, second open: record %lu, expected %lu\n", mode, n,
                                (unsigned long)r.seq, k2 < nseen ? (unsigned long)seen[k2] : 0ul);
                assert_true(k2 < nseen && r.seq == seen[k2]);
                assert_true(wt_payload_ok(r.seq, PMAX, r.data, r.len));
                k2++;
            }
            assert_int_equal(rc, -EAGAIN);
            assert_int_equal(k2, nseen);
            assert_int_equal(tr_wal_close(w), 0);
            wt_rmrf(dir);
        }
    }
    print_message("%d power cuts (%ld mutating I/O calls per workload, 3 ways to lose unsynced data)\n", cuts,
                  total);
    free(p);
    wt_rmrf(base);
    free(base);
    return fresh;
}

static void test_power_cut_at_every_step(void **state) {
    (void)state;
    uint64_t recycled = 0;
    cut_everywhere(workload, &recycled);
    /* kept segment files are reused in the workload, so cuts land on
     * renames of them and on writes over their old frames */
    assert_true(recycled > 0);
}

/* Must fail if a new segment's records are reported durable before the
 * directory fsync that makes its file name durable (the cut would unlink
 * the file and take them along). */
static void test_power_cut_around_fresh_segments(void **state) {
    (void)state;
    uint64_t recycled = 0;
    int fresh = cut_everywhere(fresh_segments, &recycled);
    assert_true(fresh > 0);   /* not vacuous: records of new segments were reported durable */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_cut_at_every_step),
        cmocka_unit_test(test_power_cut_around_fresh_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
