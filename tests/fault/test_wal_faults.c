/* test_wal_faults.c - fail the Nth I/O call or allocation, for every N.
 *
 * One workload (open, append in batches, sync, read, ack, roll and reclaim
 * segments, close) runs once per N with the Nth call of the I/O seam failing
 * (EIO or ENOSPC; only that call, or that call and every later one), then
 * once per N with the Nth allocation failing (and every later one). Each run
 * must end in success or clean errors, leak nothing, and leave a directory
 * that opens without faults and still holds every record reported durable
 * (and nothing acknowledged beyond what was acknowledged).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "wal/wal.h"
#include "../wal/wal_test_util.h"

#define PMAX 150

struct fio {
    struct tr_wal_io io;
    const struct tr_wal_io *real;
    atomic_long calls;
    long fail_at;   /* 0 = never */
    int sticky;
    int err;
};

static int hit(struct fio *f) {
    long n = atomic_fetch_add(&f->calls, 1) + 1;
    return f->fail_at && (n == f->fail_at || (f->sticky && n > f->fail_at));
}

#define FAIL_OR(expr)                   \
    do {                                \
        if (hit(f)) return -f->err;     \
        return expr;                    \
    } while (0)

static int f_open(void *c, const char *p, int fl, int m) { struct fio *f = c; FAIL_OR(f->real->open(NULL, p, fl, m)); }
static int f_close(void *c, int fd) { struct fio *f = c; return f->real->close(NULL, fd); }
static ssize_t f_pread(void *c, int fd, void *b, size_t n, uint64_t o) { struct fio *f = c; FAIL_OR(f->real->pread(NULL, fd, b, n, o)); }
static ssize_t f_pwrite(void *c, int fd, const void *b, size_t n, uint64_t o) {
    struct fio *f = c;
    if (hit(f)) {
        if (n > 1) f->real->pwrite(NULL, fd, b, n / 2, o);   /* a failing write may leave a part */
        return -f->err;
    }
    return f->real->pwrite(NULL, fd, b, n, o);
}
static int f_fdatasync(void *c, int fd) { struct fio *f = c; FAIL_OR(f->real->fdatasync(NULL, fd)); }
static int f_fsync(void *c, int fd) { struct fio *f = c; FAIL_OR(f->real->fsync(NULL, fd)); }
static int f_ftruncate(void *c, int fd, uint64_t l) { struct fio *f = c; FAIL_OR(f->real->ftruncate(NULL, fd, l)); }
static int f_fallocate(void *c, int fd, uint64_t l) { struct fio *f = c; FAIL_OR(f->real->fallocate(NULL, fd, l)); }
static int f_fsize(void *c, int fd, uint64_t *s) { struct fio *f = c; FAIL_OR(f->real->fsize(NULL, fd, s)); }
static int f_rename(void *c, const char *a, const char *b) { struct fio *f = c; FAIL_OR(f->real->rename(NULL, a, b)); }
static int f_unlink(void *c, const char *p) { struct fio *f = c; FAIL_OR(f->real->unlink(NULL, p)); }
static int f_mkdir(void *c, const char *p, int m) { struct fio *f = c; FAIL_OR(f->real->mkdir(NULL, p, m)); }

static void fio_init(struct fio *f, long fail_at, int sticky, int err) {
    f->real = tr_wal_io_posix();
    atomic_init(&f->calls, 0);
    f->fail_at = fail_at;
    f->sticky = sticky;
    f->err = err;
    f->io = (struct tr_wal_io){f, f_open, f_close, f_pread, f_pwrite, f_fdatasync, f_fsync, f_ftruncate,
                               f_fallocate, f_fsize, f_rename, f_unlink, f_mkdir};
}

static void config(struct tr_wal_config *c, const char *dir) {
    tr_wal_config_init(c);
    c->dir = dir;
    c->sync = TR_WAL_SYNC_ALWAYS;
    c->segment_bytes = 2048;
    c->max_record_bytes = 256;
}

struct outcome {
    uint64_t durable;   /* every record up to this was reported durable */
    uint64_t acked;     /* highest ack_through issued */
    int clean;          /* every call succeeded */
};

/* The workload. Continues the log already in dir; any error ends it (cleanly). */
static struct outcome workload(const char *dir, const struct tr_wal_io *io) {
    struct outcome o = {0, 0, 1};
    struct tr_wal_config c;
    config(&c, dir);
    c.io = io;
    struct tr_wal *w = NULL;
    if (tr_wal_open(&c, &w, NULL)) {
        assert_null(w);
        o.clean = 0;
        return o;
    }
    unsigned char buf[PMAX];
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t next = st.next_seq;
    for (int batch = 0; batch < 6 && o.clean; batch++) {
        for (int i = 0; i < 12; i++) {
            uint64_t seq;
            int rc = tr_wal_append(w, buf, wt_payload(next, PMAX, buf), &seq);
            if (rc) {
                o.clean = 0;
                break;
            }
            assert_int_equal(seq, next);
            next++;
        }
        if (!o.clean) break;
        if (tr_wal_sync(w)) {
            o.clean = 0;
            break;
        }
        o.durable = next - 1;
        struct tr_wal_record r;
        uint64_t last = 0;
        int rc;
        while ((rc = tr_wal_read(w, &r)) == 0) {
            assert_true(wt_payload_ok(r.seq, PMAX, r.data, r.len));
            last = r.seq;
        }
        if (rc != -EAGAIN) {
            o.clean = 0;
            break;
        }
        if (last > 6) {
            o.acked = last - 6;
            assert_int_equal(tr_wal_ack_through(w, o.acked), 0);
        }
    }
    if (tr_wal_close(w)) o.clean = 0;
    return o;
}

/* Open without faults: consecutive, intact, durable kept, nothing unacked skipped. */
static void verify(const char *dir, struct outcome o, uint64_t acked_before) {
    struct tr_wal_config c;
    config(&c, dir);
    struct tr_wal *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_wal_open(&c, &w, &d);
    if (rc) print_error("reopen: %s: %s\n", tr_strerror(rc), d.msg);
    assert_int_equal(rc, 0);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t acked = o.acked > acked_before ? o.acked : acked_before;
    assert_true(st.frontier <= acked);
    assert_true(st.next_seq - 1 >= o.durable);
    struct tr_wal_record r;
    for (uint64_t s = st.frontier + 1; s < st.next_seq; s++) {
        rc = tr_wal_read(w, &r);
        if (rc == 0 && r.seq != s && s > o.durable) {
            /* past the durable point a failed write may have lost records
             * that were never reported durable: that is allowed */
            s = r.seq;
        }
        if (rc == -EAGAIN && s > o.durable) break;
        assert_int_equal(rc, 0);
        assert_int_equal(r.seq, s);
        assert_true(wt_payload_ok(s, PMAX, r.data, r.len));
    }
    assert_int_equal(tr_wal_close(w), 0);
}

static int setup(void **state) {
    tr_log_set_level((enum tr_log_level)0);   /* errors only: failures are expected here */
    *state = wt_mkdtemp();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    wt_rmrf(*state);
    free(*state);
    return 0;
}

static void run_io_faults(const char *base, int sticky, int err) {
    /* count the calls of a fault-free second pass (the one faults go into) */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/count", base);
    struct fio f;
    fio_init(&f, 0, 0, 0);
    workload(dir, &f.io);
    fio_init(&f, 0, 0, 0);
    workload(dir, &f.io);
    long total = atomic_load(&f.calls);
    assert_true(total > 50);
    wt_rmrf(dir);
    int runs = 0;
    for (long n = 1; n <= total + 10; n++) {
        snprintf(dir, sizeof dir, "%s/n%ld", base, n);
        /* a first clean pass leaves a log behind; the faulty pass continues it */
        fio_init(&f, 0, 0, 0);
        struct outcome o0 = workload(dir, &f.io);
        assert_true(o0.clean);
        size_t before = tr_alloc_used();
        fio_init(&f, n, sticky, err);
        struct outcome o = workload(dir, &f.io);
        assert_int_equal(tr_alloc_used(), before);   /* no leak on any error path */
        if (o.durable < o0.durable) o.durable = o0.durable;
        verify(dir, o, o0.acked);
        wt_rmrf(dir);
        runs++;
    }
    print_message("%d runs (%s, %s), %ld I/O calls in the workload\n", runs, sticky ? "persistent" : "transient",
                  err == EIO ? "EIO" : "ENOSPC", total);
}

static void test_io_eio_transient(void **state) { run_io_faults(*state, 0, EIO); }
static void test_io_eio_persistent(void **state) { run_io_faults(*state, 1, EIO); }
static void test_io_enospc_transient(void **state) { run_io_faults(*state, 0, ENOSPC); }
static void test_io_enospc_persistent(void **state) { run_io_faults(*state, 1, ENOSPC); }

static void test_alloc_failures(void **state) {
    char dir[4096];
    int n, completed = 0;
    for (n = 1; n < 3000 && !completed; n++) {
        snprintf(dir, sizeof dir, "%s/a%d", (char *)*state, n);
        struct outcome o0 = workload(dir, NULL);
        assert_true(o0.clean);
        size_t before = tr_alloc_used();
        tr_alloc_fail_at((uint64_t)n, 1);
        struct outcome o = workload(dir, NULL);
        tr_alloc_fail_at(0, 0);
        assert_int_equal(tr_alloc_used(), before);
        completed = o.clean;   /* no allocation failed: every N has been covered */
        if (o.durable < o0.durable) o.durable = o0.durable;
        verify(dir, o, o0.acked);
        wt_rmrf(dir);
    }
    assert_true(completed);
    print_message("allocation failure injected at each of %d allocations\n", n - 2);
}


/* A failing fdatasync fails the WAL for good: nothing more becomes durable,
 * the error is reported everywhere, and a reopen recovers what was durable. */
static void test_fdatasync_error_is_final(void **state) {
    const char *dir = *state;
    struct tr_wal_config c;
    config(&c, dir);
    c.segment_bytes = 1 << 20;
    struct fio f;
    fio_init(&f, 0, 0, 0);
    c.io = &f.io;
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    unsigned char buf[PMAX];
    for (uint64_t s = 1; s <= 10; s++) assert_int_equal(tr_wal_append(w, buf, wt_payload(s, PMAX, buf), NULL), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_durable_seq(w), 10);
    /* from now on every call fails with EIO */
    f.err = EIO;
    f.sticky = 1;
    f.fail_at = atomic_load(&f.calls) + 1;
    /* the first append needs no I/O on this thread; once the sync thread has
     * met the error, the next ones report it */
    assert_int_equal(tr_wal_append(w, buf, wt_payload(11, PMAX, buf), NULL), 0);
    for (uint64_t s = 12; s <= 20; s++) {
        int rc = tr_wal_append(w, buf, wt_payload(s, PMAX, buf), NULL);
        assert_true(rc == 0 || rc == -EIO);
    }
    assert_int_equal(tr_wal_sync(w), -EIO);
    assert_int_equal(tr_wal_durable_seq(w), 10);   /* expected 10: the failed batch is not durable */
    assert_int_equal(tr_wal_append(w, buf, 5, NULL), -EIO);
    assert_int_equal(tr_wal_pump(w), -EIO);
    /* and it stays failed even when the disk comes back: never retry-and-trust */
    f.fail_at = 0;
    assert_int_equal(tr_wal_sync(w), -EIO);
    assert_int_equal(tr_wal_durable_seq(w), 10);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.failed, -EIO);
    /* records already durable can still be read */
    struct tr_wal_record r;
    for (uint64_t s = 1; s <= 10; s++) {
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, s);
    }
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    assert_int_equal(tr_wal_close(w), -EIO);
    struct outcome o = {10, 0, 0};
    verify(dir, o, 0);
}

/* No space for a new segment: refused as full (or dropped), counted, and
 * appends resume once space is back (at the next retry, within 1.28 s). */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int nospace;
static atomic_int fallocs;
static int ns_fallocate(void *c, int fd, uint64_t l) {
    struct fio *f = c;
    atomic_fetch_add(&fallocs, 1);
    if (nospace) return -ENOSPC;
    return f->real->fallocate(NULL, fd, l);
}

static void test_enospc_at_segment_creation(void **state) {
    const char *dir = *state;
    for (int drop = 0; drop < 2; drop++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%d", dir, drop);
        struct tr_wal_config c;
        config(&c, sub);
        c.on_full = drop ? TR_WAL_ON_FULL_DROP_NEWEST : TR_WAL_ON_FULL_BLOCK;
        struct fio f;
        fio_init(&f, 0, 0, 0);
        f.io.fallocate = ns_fallocate;
        c.io = &f.io;
        struct tr_wal *w = NULL;
        assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
        unsigned char buf[PMAX];
        nospace = 1;
        uint64_t seq = 0;
        assert_int_equal(tr_wal_append(w, buf, 100, &seq), drop ? TR_EDROPPED : TR_EFULL);
        assert_int_equal(tr_wal_append(w, buf, 100, &seq), drop ? TR_EDROPPED : TR_EFULL);
        struct tr_wal_stats st;
        tr_wal_stats(w, &st);
        assert_int_equal(drop ? st.dropped : st.refused_full, 2);
        assert_int_equal(st.refused_no_space, 2);
        assert_int_equal(st.no_space, 1);
        assert_int_equal(st.failed, 0);   /* not a failure: backpressure */
        assert_int_equal(wt_count_segments(sub), 0);   /* the half-made file was removed */
        nospace = 0;
        int rc, tries = 0;
        uint64_t t0 = now_ns();
        while ((rc = tr_wal_append(w, buf, 100, &seq)) != 0 && tries++ < 100000) {
            assert_int_equal(rc, drop ? TR_EDROPPED : TR_EFULL);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        assert_int_equal(rc, 0);
        assert_true(now_ns() - t0 < 3000000000ull);   /* the retry wait is capped */
        assert_int_equal(seq, 1);
        tr_wal_stats(w, &st);
        assert_int_equal(st.no_space, 0);
        assert_int_equal(tr_wal_sync(w), 0);
        assert_int_equal(tr_wal_close(w), 0);
    }
}

/* A disk with room for one segment (20 MiB, 16 MiB segments, scaled down):
 * the second cannot be created. The WAL must refuse without spinning on the
 * disk, keep reading and acknowledging, reclaim the current segment once it
 * is all acknowledged, and then go on by itself, numbers and data intact. */
static const char *onedir;
static int one_fallocate(void *c, int fd, uint64_t l) {
    struct fio *f = c;
    atomic_fetch_add(&fallocs, 1);
    if (wt_count_segments(onedir) > 1) return -ENOSPC;   /* the new file counts itself */
    return f->real->fallocate(NULL, fd, l);
}

/* spares: the spare_segments setting. 0: the segment is unlinked and a new
 * file made once its space is back. 2 (the default): the segment is kept,
 * and the next one is that same file, which needs no new space. */
static void disk_full_reclaims_current_segment(const char *dir, uint32_t spares) {
    onedir = dir;
    struct tr_wal_config c;
    config(&c, dir);
    c.spare_segments = spares;
    struct fio f;
    fio_init(&f, 0, 0, 0);
    f.io.fallocate = one_fallocate;
    c.io = &f.io;
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    unsigned char buf[PMAX];
    uint64_t seq = 0, next = 1;
    int rc;
    while ((rc = tr_wal_append(w, buf, wt_payload(next, PMAX, buf), &seq)) == 0) next++;
    assert_int_equal(rc, TR_EFULL);
    assert_true(next > 5);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.no_space, 1);
    assert_int_equal(st.failed, 0);
    /* refused again at once: no creation is tried before the retry is due */
    int before = atomic_load(&fallocs);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tr_wal_append(w, buf, wt_payload(next, PMAX, buf), &seq), TR_EFULL);
    assert_true(atomic_load(&fallocs) - before <= 1);
    /* delivery goes on */
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_record r;
    uint64_t got = 0;
    while (tr_wal_read(w, &r) == 0) {
        assert_int_equal(r.seq, got + 1);
        assert_true(wt_payload_ok(r.seq, PMAX, r.data, r.len));
        got = r.seq;
    }
    assert_int_equal(got, next - 1);
    assert_int_equal(tr_wal_ack_through(w, got), 0);
    /* the current segment is reclaimed: unlinked (0 files left), or kept */
    for (int i = 0; i < 1000; i++) {
        tr_wal_sync(w);
        tr_wal_stats(w, &st);
        if (spares ? st.spares == 1 : wt_count_segments(dir) == 0) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(wt_count_segments(dir), spares ? 1 : 0);
    assert_int_equal(st.spares, spares ? 1 : 0);
    /* and appends go on by themselves (the unlink restarts the retry). The
     * sync thread removes the file before it tells the owner, so the owner
     * may still refuse for a moment after the file is gone: wait for it. */
    int arc = TR_EFULL;
    for (int i = 0; i < 1000 && arc == TR_EFULL; i++) {
        tr_wal_pump(w);
        arc = tr_wal_append(w, buf, wt_payload(next, PMAX, buf), &seq);
        if (arc == TR_EFULL) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(arc, 0);
    assert_int_equal(seq, next);
    tr_wal_stats(w, &st);
    assert_int_equal(st.no_space, 0);
    assert_true(st.refused_no_space >= 1001);
    assert_int_equal(st.recycled, spares ? 1 : 0);   /* the kept file, on a disk still full */
    assert_int_equal(wt_count_segments(dir), 1);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(r.seq, next);
    assert_true(wt_payload_ok(next, PMAX, r.data, r.len));
    assert_int_equal(tr_wal_close(w), 0);
    /* reopened: the unacknowledged record is there, nothing acknowledged comes back */
    c.io = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(r.seq, next);
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_disk_full_reclaims_current_segment_and_resumes(void **state) {
    disk_full_reclaims_current_segment(*state, 0);
}

static void test_disk_full_reuses_current_segment_and_resumes(void **state) {
    disk_full_reclaims_current_segment(*state, 2);
}

/* A segment that cannot be created for another reason than space (EIO, an
 * unwritable directory) fails the WAL: the owner must reopen, not carry on. */
static int deny_create;
static int deny_open(void *c, const char *p, int fl, int m) {
    struct fio *f = c;
    if (deny_create && (fl & O_CREAT) && strstr(p, ".wal")) return -EACCES;
    return f->real->open(NULL, p, fl, m);
}

static void test_segment_creation_error_fails_the_wal(void **state) {
    const char *dir = *state;
    struct tr_wal_config c;
    config(&c, dir);
    struct fio f;
    fio_init(&f, 0, 0, 0);
    c.io = &f.io;
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    unsigned char buf[PMAX];
    uint64_t seq;
    assert_int_equal(tr_wal_append(w, buf, wt_payload(1, PMAX, buf), &seq), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    /* creating segment 2 fails with EACCES (the directory became read-only) */
    f.io.open = deny_open;
    deny_create = 1;
    int rc = 0;
    uint64_t n = 2;
    while (rc == 0 && n < 100) rc = tr_wal_append(w, buf, wt_payload(n, PMAX, buf), &seq), n++;
    assert_int_equal(rc, -EACCES);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.failed, -EACCES);   /* expected failed; before: 0 and appends went on */
    assert_int_equal(tr_wal_append(w, buf, 10, &seq), -EACCES);
    tr_wal_close(w);
    deny_create = 0;
    struct outcome o = {1, 0, 0};
    verify(dir, o, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_io_eio_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_eio_persistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_enospc_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_enospc_persistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fdatasync_error_is_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_at_segment_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_reclaims_current_segment_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_reuses_current_segment_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_creation_error_fails_the_wal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
