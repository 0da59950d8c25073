/* test_wal_syncpolicy.c - what a group commit costs, counted at the I/O seam.
 *
 * In steady state (no segment created or removed) each group commit is one
 * fdatasync of the data and nothing else: no directory fsync, and the
 * checkpoint only once per checkpoint interval (acks ride in marker frames).
 * Recovery then finds the frontier in the markers written after the last
 * checkpoint, and acks with no data to carry them are checkpointed once the
 * interval is over. Also: the append -> durable latency histogram.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/buf.h"
#include "core/hist.h"
#include "core/log.h"
#include "wal/wal.h"
#include "wal/wal_int.h"
#include "wal_test_util.h"

enum { K_OTHER, K_DIR, K_SEG, K_CKPT };

/* ---- an I/O seam that counts syncs by the kind of file ---- */
struct cio {
    struct tr_wal_io io;
    const struct tr_wal_io *real;
    pthread_mutex_t mu;
    int kind[4096];
    atomic_long data_syncs, ckpt_syncs, dir_syncs, other_syncs;
};

static int kind_of(const char *path, int flags) {
    size_t n = strlen(path);
    if (flags & O_DIRECTORY) return K_DIR;
    if (n > 4 && strcmp(path + n - 4, ".wal") == 0) return K_SEG;
    if (n > 10 && strcmp(path + n - 10, "checkpoint") == 0) return K_CKPT;
    return K_OTHER;
}

static int c_open(void *ctx, const char *p, int fl, int mode) {
    struct cio *c = ctx;
    int fd = c->real->open(NULL, p, fl, mode);
    if (fd >= 0 && fd < 4096) {
        pthread_mutex_lock(&c->mu);
        c->kind[fd] = kind_of(p, fl);
        pthread_mutex_unlock(&c->mu);
    }
    return fd;
}
static int c_kind(struct cio *c, int fd) {
    pthread_mutex_lock(&c->mu);
    int k = fd >= 0 && fd < 4096 ? c->kind[fd] : K_OTHER;
    pthread_mutex_unlock(&c->mu);
    return k;
}
static void c_count(struct cio *c, int fd) {
    switch (c_kind(c, fd)) {
    case K_SEG: atomic_fetch_add(&c->data_syncs, 1); break;
    case K_CKPT: atomic_fetch_add(&c->ckpt_syncs, 1); break;
    case K_DIR: atomic_fetch_add(&c->dir_syncs, 1); break;
    default: atomic_fetch_add(&c->other_syncs, 1); break;
    }
}
static int c_fdatasync(void *ctx, int fd) {
    struct cio *c = ctx;
    c_count(c, fd);
    return c->real->fdatasync(NULL, fd);
}
static int c_fsync(void *ctx, int fd) {
    struct cio *c = ctx;
    c_count(c, fd);
    return c->real->fsync(NULL, fd);
}
static int c_close(void *ctx, int fd) { return ((struct cio *)ctx)->real->close(NULL, fd); }
static ssize_t c_pread(void *ctx, int fd, void *b, size_t n, uint64_t off) {
    return ((struct cio *)ctx)->real->pread(NULL, fd, b, n, off);
}
static ssize_t c_pwrite(void *ctx, int fd, const void *b, size_t n, uint64_t off) {
    return ((struct cio *)ctx)->real->pwrite(NULL, fd, b, n, off);
}
static int c_ftruncate(void *ctx, int fd, uint64_t l) { return ((struct cio *)ctx)->real->ftruncate(NULL, fd, l); }
static int c_fallocate(void *ctx, int fd, uint64_t l) { return ((struct cio *)ctx)->real->fallocate(NULL, fd, l); }
static int c_fsize(void *ctx, int fd, uint64_t *s) { return ((struct cio *)ctx)->real->fsize(NULL, fd, s); }
static int c_rename(void *ctx, const char *a, const char *b) { return ((struct cio *)ctx)->real->rename(NULL, a, b); }
static int c_unlink(void *ctx, const char *p) { return ((struct cio *)ctx)->real->unlink(NULL, p); }
static int c_mkdir(void *ctx, const char *p, int m) { return ((struct cio *)ctx)->real->mkdir(NULL, p, m); }

static void cio_init(struct cio *c) {
    memset(c, 0, sizeof *c);
    c->real = tr_wal_io_posix();
    pthread_mutex_init(&c->mu, NULL);
    c->io = (struct tr_wal_io){c, c_open, c_close, c_pread, c_pwrite, c_fdatasync, c_fsync, c_ftruncate,
                               c_fallocate, c_fsize, c_rename, c_unlink, c_mkdir};
}

static void cio_reset(struct cio *c) {
    atomic_store(&c->data_syncs, 0);
    atomic_store(&c->ckpt_syncs, 0);
    atomic_store(&c->dir_syncs, 0);
    atomic_store(&c->other_syncs, 0);
}

/* ---- waiting for durability: the notify wakes a condition ---- */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t durable;
};

static void on_notify(void *arg, uint64_t d) {
    struct waiter *wt = arg;
    pthread_mutex_lock(&wt->mu);
    wt->durable = d;
    pthread_cond_broadcast(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Flush, then wait (10 s at most) until seq is durable. */
static void wait_durable(struct tr_wal *w, struct waiter *wt, uint64_t seq) {
    assert_int_equal(tr_wal_flush(w), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&wt->mu);
    int rc = 0;
    while (wt->durable < seq && rc == 0) rc = pthread_cond_timedwait(&wt->cv, &wt->mu, &dl);
    pthread_mutex_unlock(&wt->mu);
    if (rc) print_error("record %lu not durable within 10 s\n", (unsigned long)seq);
    assert_int_equal(rc, 0);
    assert_true(tr_wal_durable_seq(w) >= seq);
}

struct fx {
    char *dir;
    struct cio io;
    struct waiter wt;
};

static int setup(void **state) {
    tr_log_set_level(TR_LOG_ERROR);
    struct fx *f = calloc(1, sizeof *f);
    f->dir = wt_mkdtemp();
    cio_init(&f->io);
    pthread_mutex_init(&f->wt.mu, NULL);
    pthread_cond_init(&f->wt.cv, NULL);
    *state = f;
    return f->dir ? 0 : -1;
}

static int teardown(void **state) {
    struct fx *f = *state;
    wt_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct tr_wal *open_fx(struct fx *f, uint32_t ckpt_ms) {
    struct tr_wal_config c;
    wt_config(&c, f->dir);
    c.sync = TR_WAL_SYNC_ALWAYS;
    c.segment_bytes = 4 << 20;   /* no segment switch in these tests */
    c.checkpoint_interval_ms = ckpt_ms;
    c.io = &f->io.io;
    c.notify = on_notify;
    c.notify_arg = &f->wt;
    f->wt.durable = 0;
    struct tr_wal *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_wal_open(&c, &w, &d);
    if (rc) print_error("open: %s %s\n", tr_strerror(rc), d.msg);
    assert_int_equal(rc, 0);
    return w;
}

static void append_one(struct tr_wal *w, uint64_t want) {
    unsigned char buf[4096];
    uint64_t seq;
    assert_int_equal(tr_wal_append(w, buf, wt_payload(want, 200, buf), &seq), 0);
    assert_int_equal(seq, want);
}

static void read_ack(struct tr_wal *w, uint64_t want) {
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(r.seq, want);
    assert_true(wt_payload_ok(want, 200, r.data, r.len));
    assert_int_equal(tr_wal_ack(w, r.seq), 0);
}

/* A crash image: the files as the page cache holds them now, opened plainly. */
static struct tr_wal *open_copy(struct fx *f, char *copy, size_t n) {
    snprintf(copy, n, "%s-copy", f->dir);
    wt_rmrf(copy);
    assert_int_equal(wt_copy_dir(f->dir, copy), 0);
    struct tr_wal_config c;
    wt_config(&c, copy);
    c.segment_bytes = 4 << 20;
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    return w;
}

/* The frontier the checkpoint file holds (its newest valid slot). */
static uint64_t ckpt_frontier(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    long len = 0;
    unsigned char *b = wt_read_file(p, &len);
    assert_non_null(b);
    assert_int_equal(len, TR_WAL_CKPT_FILE_BYTES);
    struct tr_wal_ckpt best;
    memset(&best, 0, sizeof best);
    for (unsigned i = 0; i < 2; i++) {
        struct tr_wal_ckpt c;
        uint32_t v;
        if (tr_wal_ckpt_decode(b + i * TR_WAL_CKPT_SLOT, &c, &v) == TR_WAL_HDR_OK && c.gen > best.gen) best = c;
    }
    free(b);
    return best.frontier;
}

#define ROUNDS 200

/* N group commits of one record each, every record read and acked before
 * the next append (so each commit also carries a moved frontier): exactly
 * N data fdatasyncs, no directory fsync, and at most one checkpoint sync
 * per checkpoint interval elapsed (plus the one a started interval allows). */
static void test_steady_state_one_fdatasync_per_group_commit(void **state) {
    struct fx *f = *state;
    const uint32_t ckpt_ms = 1000;
    struct tr_wal *w = open_fx(f, ckpt_ms);
    /* warm-up: the first append creates the segment (directory fsync and checkpoint) */
    append_one(w, 1);
    wait_durable(w, &f->wt, 1);
    read_ack(w, 1);
    assert_int_equal(tr_wal_sync(w), 0);   /* the pass's counters are in once it returns */
    struct tr_wal_stats st0, st1;
    tr_wal_stats(w, &st0);
    cio_reset(&f->io);
    uint64_t t0 = mono_ns();
    for (uint64_t s = 2; s < 2 + ROUNDS; s++) {
        append_one(w, s);
        wait_durable(w, &f->wt, s);
        read_ack(w, s);
    }
    uint64_t elapsed = mono_ns() - t0;
    long data = atomic_load(&f->io.data_syncs), dir = atomic_load(&f->io.dir_syncs);
    long ckpt = atomic_load(&f->io.ckpt_syncs), other = atomic_load(&f->io.other_syncs);
    long ckpt_max = (long)(elapsed / ((uint64_t)ckpt_ms * 1000000ull)) + 1;
    assert_int_equal(tr_wal_sync(w), 0);
    tr_wal_stats(w, &st1);
    print_message("%d group commits in %.1f ms: %ld data fdatasyncs, %ld directory fsyncs, %ld checkpoint "
                  "syncs (at most %ld), %ld other\n", ROUNDS, (double)elapsed / 1e6, data, dir, ckpt, ckpt_max,
                  other);
    assert_int_equal(data, ROUNDS);
    assert_int_equal(dir, 0);
    assert_true(ckpt <= ckpt_max);
    assert_int_equal(other, 0);
    /* the WAL's own counters agree with the seam */
    assert_int_equal(st1.syncs - st0.syncs, ROUNDS);
    assert_int_equal(st1.dir_syncs - st0.dir_syncs, 0);
    assert_int_equal(st1.segments, 1);
    /* every record was timed from append to durable */
    const struct tr_hist *h = tr_wal_durable_hist(w);
    assert_non_null(h);
    assert_int_equal(tr_hist_count(h), ROUNDS + 1);
    assert_true(tr_hist_value_at(h, 0.5) > 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_wal_durable_report(w, &b), 0);
    assert_non_null(strstr(b.data, "append->durable: 201 records, p50 "));
    tr_buf_fini(&b);
    assert_int_equal(tr_wal_close(w), 0);
}

#define SLOW_APPENDS 2100

/* Appends further apart than the timing resolution, none flushed: more
 * runs than the mark array holds, so it is thinned (twice) while records
 * wait. Every record is still timed once, and none is understated: the
 * last one waited at least from its append to the sync below, the first
 * at least as long as all the appends took. */
static void test_latency_marks_thinned(void **state) {
    struct fx *f = *state;
    struct tr_wal *w = open_fx(f, 3600000);
    unsigned char rec[16] = {0};
    uint64_t first = 0, last = 0;
    for (uint64_t s = 1; s <= SLOW_APPENDS; s++) {
        uint64_t prev = mono_ns(), seq = 0;
        while (s > 1 && mono_ns() - prev < 25000) {
        }   /* a clock condition, not a sleep: 25 us > the 20 us resolution */
        if (s == 1) first = mono_ns();
        assert_int_equal(tr_wal_append(w, rec, sizeof rec, &seq), 0);
        assert_int_equal(seq, s);
        last = mono_ns();
    }
    uint64_t before_sync = mono_ns();
    assert_int_equal(tr_wal_sync(w), 0);
    const struct tr_hist *h = tr_wal_durable_hist(w);
    assert_int_equal(tr_hist_count(h), SLOW_APPENDS);
    /* 2 significant digits: a value reads back at most 1% low */
    assert_true(tr_hist_max(h) >= (last - first) / 100 * 99);
    assert_true(tr_hist_value_at(h, 0.0) >= (before_sync - last) / 100 * 99);
    assert_int_equal(tr_wal_close(w), 0);
}

/* With no checkpoint after the first, the acks of a running log are found
 * by recovery in the marker frames written with later data. */
static void test_frontier_recovered_from_markers(void **state) {
    struct fx *f = *state;
    struct tr_wal *w = open_fx(f, 3600000);
    for (uint64_t s = 1; s <= 20; s++) append_one(w, s);
    wait_durable(w, &f->wt, 20);
    for (uint64_t s = 1; s <= 10; s++) read_ack(w, s);
    long ck0 = atomic_load(&f->io.ckpt_syncs);
    for (uint64_t s = 21; s <= 25; s++) append_one(w, s);
    wait_durable(w, &f->wt, 25);
    assert_int_equal(atomic_load(&f->io.ckpt_syncs), ck0);   /* no checkpoint for the acks */
    assert_int_equal(ckpt_frontier(f->dir), 0);
    char copy[4200];
    struct tr_wal *c = open_copy(f, copy, sizeof copy);
    struct tr_wal_stats st;
    tr_wal_stats(c, &st);
    assert_int_equal(st.frontier, 10);
    assert_int_equal(st.next_seq, 26);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(c, &r), 0);
    assert_int_equal(r.seq, 11);
    assert_int_equal(tr_wal_close(c), 0);
    wt_rmrf(copy);
    assert_int_equal(tr_wal_close(w), 0);
}

/* Acks with no data after them: checkpointed once the interval is over
 * (waited for as a condition), so a crash after that does not replay them. */
static void test_idle_acks_checkpointed_on_interval(void **state) {
    struct fx *f = *state;
    struct tr_wal *w = open_fx(f, 50);
    for (uint64_t s = 1; s <= 10; s++) append_one(w, s);
    wait_durable(w, &f->wt, 10);
    cio_reset(&f->io);
    for (uint64_t s = 1; s <= 7; s++) read_ack(w, s);
    uint64_t deadline = mono_ns() + 10000000000ull;
    struct timespec tick = {0, 1000000};
    while (ckpt_frontier(f->dir) != 7 && mono_ns() < deadline) nanosleep(&tick, NULL);   /* polled condition */
    assert_int_equal(ckpt_frontier(f->dir), 7);
    assert_true(atomic_load(&f->io.ckpt_syncs) >= 1);
    assert_int_equal(atomic_load(&f->io.dir_syncs), 0);
    assert_int_equal(atomic_load(&f->io.data_syncs), 0);
    char copy[4200];
    struct tr_wal *c = open_copy(f, copy, sizeof copy);
    struct tr_wal_stats st;
    tr_wal_stats(c, &st);
    assert_int_equal(st.frontier, 7);
    assert_int_equal(tr_wal_close(c), 0);
    wt_rmrf(copy);
    assert_int_equal(tr_wal_close(w), 0);
}

/* Acks one by one while the sync thread idles, with the checkpoint interval
 * far off: the first moves the frontier away from the persisted one and
 * wakes the thread (which then sleeps until the interval is over); the
 * others change nothing it waits for and must not wake it (a futex wake, a
 * wait and a contended lock per acknowledged record otherwise). */
static void test_acks_do_not_wake_the_sync_thread_each(void **state) {
    struct fx *f = *state;
    struct tr_wal *w = open_fx(f, 600000);
    enum { N = 300 };
    for (uint64_t s = 1; s <= N; s++) append_one(w, s);
    wait_durable(w, &f->wt, N);
    uint64_t deadline = mono_ns() + 10000000000ull;
    struct timespec tick = {0, 1000000};
    for (;;) {   /* polled condition: the sync thread waits, idle */
        pthread_mutex_lock(&w->mu);
        int idle = w->idle;
        pthread_mutex_unlock(&w->mu);
        if (idle || mono_ns() > deadline) break;
        nanosleep(&tick, NULL);
    }
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t before = st.sync_wakeups;
    for (uint64_t s = 1; s <= N; s++) {
        read_ack(w, s);
        nanosleep(&(struct timespec){0, 20000}, NULL);   /* gives an idle thread time to wake: not a wait */
    }
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, N);
    if (st.sync_wakeups - before > 3)
        print_error("%lu wakeups for %d acks\n", (unsigned long)(st.sync_wakeups - before), N);
    assert_true(st.sync_wakeups - before <= 3);
    assert_int_equal(tr_wal_close(w), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_steady_state_one_fdatasync_per_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_marks_thinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frontier_recovered_from_markers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_acks_checkpointed_on_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acks_do_not_wake_the_sync_thread_each, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
