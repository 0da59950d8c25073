/* test_wal_reopen_cost.c - what reopening a log with a large backlog costs.
 *
 * Recovery must not read the backlog: open reads one header per segment,
 * the checkpoint, the last segment (its tail scan) and at most the segment
 * holding the first unacknowledged record (the hint walk), so a backlog ten
 * times as large costs only its extra headers. Counted at the I/O seam
 * (bytes and calls of pread) on a log of 4 segments and the same log grown
 * to 40, closed cleanly and reopened; then with an acknowledged prefix, so
 * the cursor must find its place inside the first segment. After each open
 * the first records handed out are the oldest unacknowledged ones, in order.
 * bench/reopen_bench.sh measures the same on a 10 GB log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "wal_test_util.h"

struct rio {
    struct tr_wal_io io;
    const struct tr_wal_io *real;
    uint64_t read_bytes, read_calls;
};

/* Counts what open reads; every other call goes to the real I/O as it is
 * (its functions ignore their ctx, so the table is copied whole). */
static ssize_t r_pread(void *ctx, int fd, void *b, size_t n, uint64_t off) {
    struct rio *r = ctx;
    ssize_t got = r->real->pread(NULL, fd, b, n, off);
    if (got > 0) r->read_bytes += (uint64_t)got;
    r->read_calls++;
    return got;
}

static void rio_init(struct rio *r) {
    memset(r, 0, sizeof *r);
    r->real = tr_wal_io_posix();
    r->io = *r->real;
    r->io.ctx = r;
    r->io.pread = r_pread;
}

enum { SEG = 64 << 10, REC = 1000, MAXREC = 4096 };

struct fx {
    char *dir;
    struct rio io;
};

static int setup(void **state) {
    tr_log_set_level(TR_LOG_ERROR);
    struct fx *f = calloc(1, sizeof *f);
    f->dir = wt_mkdtemp();
    rio_init(&f->io);
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

static struct tr_wal *open_counted(struct fx *f, uint64_t *bytes, uint64_t *calls) {
    struct tr_wal_config c;
    wt_config(&c, f->dir);
    c.segment_bytes = SEG;
    c.max_record_bytes = MAXREC;
    c.sync = TR_WAL_SYNC_NONE;   /* durable on write: the fill is fast, the files the same */
    c.io = &f->io.io;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_wal *w = NULL;
    f->io.read_bytes = f->io.read_calls = 0;
    assert_int_equal(tr_wal_open(&c, &w, &d), 0);
    *bytes = f->io.read_bytes;
    *calls = f->io.read_calls;
    return w;
}

/* Append records until the log has at least nseg segments; returns the last number. */
static uint64_t fill_to(struct tr_wal *w, const char *dir, int nseg) {
    unsigned char buf[MAXREC];
    uint64_t seq = 0;
    while (wt_count_segments(dir) < nseg) {
        for (int i = 0; i < 16; i++) {
            struct tr_wal_stats st;
            tr_wal_stats(w, &st);
            size_t len = wt_payload(st.next_seq, REC, buf);
            assert_int_equal(tr_wal_append(w, buf, len, &seq), 0);
        }
        assert_int_equal(tr_wal_flush(w), 0);
    }
    return seq;
}

/* The first n records handed out are from..from+n-1, in order, intact. */
static void check_first(struct tr_wal *w, uint64_t from, int n) {
    for (int i = 0; i < n; i++) {
        struct tr_wal_record r;
        int rc;
        for (int spin = 0; (rc = tr_wal_read(w, &r)) == -EAGAIN && spin < 1000; spin++) tr_wal_pump(w);
        assert_int_equal(rc, 0);
        assert_int_equal(r.seq, from + (uint64_t)i);
        assert_true(wt_payload_ok(r.seq, REC, r.data, r.len));
    }
}

static void test_open_reads_no_backlog(void **state) {
    struct fx *f = *state;
    uint64_t b0, c0, b_small, c_small, b_big, c_big;
    struct tr_wal *w = open_counted(f, &b0, &c0);
    fill_to(w, f->dir, 4);
    assert_int_equal(tr_wal_close(w), 0);
    int n_small = wt_count_segments(f->dir);

    w = open_counted(f, &b_small, &c_small);
    check_first(w, 1, 100);
    /* grow the backlog tenfold (a new run starts a new segment) */
    uint64_t last = fill_to(w, f->dir, 40);
    assert_int_equal(tr_wal_close(w), 0);
    int n_big = wt_count_segments(f->dir);
    assert_true(n_big >= 10 * n_small);

    w = open_counted(f, &b_big, &c_big);
    check_first(w, 1, 100);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.next_seq, last + 1);
    assert_int_equal(st.frontier, 0);
    assert_int_equal(tr_wal_close(w), 0);

    /* the extra segments cost their 32-byte headers, not their records */
    uint64_t extra = (uint64_t)(n_big - n_small);
    if (b_big > b_small + extra * 64 || c_big > c_small + extra * 2)
        print_error("open read %lu B in %lu calls with %d segments, %lu B in %lu calls with %d\n",
                    (unsigned long)b_small, (unsigned long)c_small, n_small, (unsigned long)b_big,
                    (unsigned long)c_big, n_big);
    assert_true(b_big <= b_small + extra * 64);
    assert_true(c_big <= c_small + extra * 2);
    /* and in all: headers, the checkpoint, the last segment's scan */
    assert_true(b_big <= (uint64_t)n_big * 64 + 4096 + (uint64_t)SEG);
}

static void test_open_with_acked_prefix_walks_one_segment(void **state) {
    struct fx *f = *state;
    uint64_t b, c;
    struct tr_wal *w = open_counted(f, &b, &c);
    fill_to(w, f->dir, 40);
    /* acknowledge a prefix ending past the first segment (about 120
     * records of 500 B on average in 64 KiB) */
    struct tr_wal_record r;
    uint64_t through = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(tr_wal_read(w, &r), 0);
        through = r.seq;
    }
    assert_int_equal(tr_wal_ack_through(w, through), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_close(w), 0);
    int nseg = wt_count_segments(f->dir);

    w = open_counted(f, &b, &c);
    check_first(w, through + 1, 50);
    assert_int_equal(tr_wal_close(w), 0);
    /* headers, the checkpoint, the last segment and at most one walk */
    if (b > (uint64_t)nseg * 64 + 4096 + 2 * (uint64_t)SEG)
        print_error("open read %lu B in %lu calls with %d segments\n", (unsigned long)b, (unsigned long)c, nseg);
    assert_true(b <= (uint64_t)nseg * 64 + 4096 + 2 * (uint64_t)SEG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_reads_no_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_with_acked_prefix_walks_one_segment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
