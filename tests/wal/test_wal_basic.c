/* test_wal_basic.c - every operation and limit of the WAL engine, one by one.
 *
 * append / read / ack / frontier / rewind / reclaim / capacity / too big /
 * reopen / flush / sync policies / group commit / notify / refusals at open. Each
 * test states the expected value beside the actual one. Policy NONE is used
 * where durability is not the point, to keep the run fast.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "wal/wal.h"
#include "wal/wal_int.h"
#include "wal_test_util.h"

#define PMAX 200

static int setup(void **state) {
    tr_log_set_level(TR_LOG_ERROR);
    char *dir = wt_mkdtemp();
    if (!dir) return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state) {
    wt_rmrf(*state);
    free(*state);
    return 0;
}

static struct tr_wal *open_cfg(struct tr_wal_config *c) {
    struct tr_wal *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_wal_open(c, &w, &d);
    if (rc) print_error("open: %s: %s\n", tr_strerror(rc), d.msg);
    assert_int_equal(rc, 0);
    assert_non_null(w);
    return w;
}

static struct tr_wal *open_none(const char *dir) {
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.sync = TR_WAL_SYNC_NONE;
    return open_cfg(&c);
}

static void append_n(struct tr_wal *w, uint64_t first, uint64_t n) {
    unsigned char buf[PMAX];
    for (uint64_t s = first; s < first + n; s++) {
        uint64_t seq = 0;
        size_t len = wt_payload(s, PMAX, buf);
        assert_int_equal(tr_wal_append(w, buf, len, &seq), 0);
        assert_int_equal(seq, s);   /* numbers are consecutive from first */
    }
}

/* Read one record and check it is seq with the right payload. */
static void expect_read(struct tr_wal *w, uint64_t seq) {
    struct tr_wal_record r;
    int rc = tr_wal_read(w, &r);
    assert_int_equal(rc, 0);
    assert_int_equal(r.seq, seq);
    assert_true(wt_payload_ok(seq, PMAX, r.data, r.len));
}

static void test_crc32c_vectors(void **state) {
    (void)state;
    assert_int_equal(tr_wal_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tr_wal_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    /* chaining gives the CRC of the concatenation, on both paths */
    assert_int_equal(tr_wal_crc32c(tr_wal_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    assert_int_equal(tr_wal_crc32c_sw(tr_wal_crc32c_sw(0, "12345", 5), "6789", 4), 0xE3069283u);
    unsigned char big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (unsigned char)(i * 31 + 7);
    for (size_t n = 0; n < 997; n += 37) /* hardware and table agree at every length */
        assert_int_equal(tr_wal_crc32c(0, big + 3, n), tr_wal_crc32c_sw(0, big + 3, n));
}

static void test_append_read_ack(void **state) {
    struct tr_wal *w = open_none(*state);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);   /* empty */
    append_n(w, 1, 100);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_durable_seq(w), 100);
    for (uint64_t s = 1; s <= 100; s++) expect_read(w, s);
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.records, 100);
    assert_int_equal(st.frontier, 0);
    assert_int_equal(st.next_seq, 101);
    assert_int_equal(tr_wal_ack_through(w, 100), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.frontier, 100);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_bad_arguments(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_NONE;
    c.max_record_bytes = 100;
    struct tr_wal *w = open_cfg(&c);
    unsigned char buf[200] = {0};
    uint64_t seq = 99;
    assert_int_equal(tr_wal_append(w, buf, 0, &seq), -EINVAL);   /* empty records are refused */
    assert_int_equal(seq, 0);
    assert_int_equal(tr_wal_append(w, buf, 101, &seq), TR_ETOOBIG);
    assert_int_equal(tr_wal_append(w, buf, 100, &seq), 0);        /* exactly the maximum is fine */
    assert_int_equal(seq, 1);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.refused_too_big, 1);
    assert_int_equal(tr_wal_ack(w, 1), -EINVAL);   /* never handed out */
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_out_of_order_acks(void **state) {
    struct tr_wal *w = open_none(*state);
    append_n(w, 1, 10);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 10; s++) expect_read(w, s);
    struct tr_wal_stats st;
    assert_int_equal(tr_wal_ack(w, 3), 0);
    assert_int_equal(tr_wal_ack(w, 2), 0);
    assert_int_equal(tr_wal_ack(w, 5), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 0);   /* 1 is still out */
    assert_int_equal(st.records, 7);    /* 10 minus three acked */
    assert_int_equal(tr_wal_ack(w, 1), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 3);
    assert_int_equal(tr_wal_ack(w, 4), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 5);
    assert_int_equal(tr_wal_ack(w, 4), 0);    /* again: no-op */
    assert_int_equal(tr_wal_ack(w, 11), -EINVAL);
    assert_int_equal(tr_wal_ack_through(w, 12), -EINVAL);
    assert_int_equal(tr_wal_ack_through(w, 8), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 8);
    assert_int_equal(st.records, 2);
    assert_int_equal(tr_wal_close(w), 0);
}

/* tr_wal_ack_range: as one ack per record of the run, the frontier moved once. */
static void test_range_acks(void **state) {
    struct tr_wal *w = open_none(*state);
    append_n(w, 1, 12);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 10; s++) expect_read(w, s);
    struct tr_wal_stats st;
    assert_int_equal(tr_wal_ack_range(w, 3, 5), 0);   /* ahead of the frontier: marked only */
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 0);
    assert_int_equal(st.records, 9);
    assert_int_equal(tr_wal_ack_range(w, 1, 2), 0);   /* joins 3..5 */
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 5);
    assert_int_equal(tr_wal_ack_range(w, 4, 6), 0);   /* partly at or below the frontier */
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 6);
    assert_int_equal(tr_wal_ack_range(w, 9, 7), -EINVAL);   /* an empty run is a caller's error */
    /* past the last one handed out (10): what was out is acked, -EINVAL said */
    assert_int_equal(tr_wal_ack_range(w, 7, 12), -EINVAL);
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 10);
    assert_int_equal(st.records, 2);
    expect_read(w, 11);
    assert_int_equal(tr_wal_ack_range(w, 11, 11), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 11);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_rewind(void **state) {
    struct tr_wal *w = open_none(*state);
    append_n(w, 1, 10);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 10; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack(w, 1), 0);
    assert_int_equal(tr_wal_ack(w, 2), 0);
    assert_int_equal(tr_wal_ack(w, 6), 0);
    /* a fail of 4: go back to 4, already-acked 6 is not sent again */
    assert_int_equal(tr_wal_rewind(w, 4), 0);
    expect_read(w, 4);
    expect_read(w, 5);
    expect_read(w, 7);
    /* rewinding below the frontier means "first unacked" */
    assert_int_equal(tr_wal_rewind(w, 1), 0);
    expect_read(w, 3);
    /* the cursor (now at 4) never skips forward */
    assert_int_equal(tr_wal_rewind(w, 12), -EINVAL);
    assert_int_equal(tr_wal_rewind(w, 5), -EINVAL);
    assert_int_equal(tr_wal_rewind(w, 4), 0);   /* where it is: a no-op */
    /* go-back-N: everything after 3 that is not acknowledged comes again */
    expect_read(w, 4);
    expect_read(w, 5);
    for (uint64_t s = 7; s <= 10; s++) expect_read(w, s);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    append_n(w, 11, 1);
    assert_int_equal(tr_wal_sync(w), 0);
    expect_read(w, 11);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_reclaim_segments(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_ALWAYS;
    c.segment_bytes = 4096;
    c.max_record_bytes = 256;
    c.spare_segments = 0;   /* acknowledged segments are unlinked */
    struct tr_wal *w = open_cfg(&c);
    append_n(w, 1, 300);   /* ~30 kB of frames: several segments */
    assert_int_equal(tr_wal_sync(w), 0);
    int before = wt_count_segments(*state);
    assert_true(before >= 5);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.segments, (uint64_t)before);
    /* acks of records read long ago free whole segments, nothing more read */
    for (uint64_t s = 1; s <= 300; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 150), 0);
    assert_int_equal(tr_wal_sync(w), 0);   /* a pass of the sync thread has run */
    int mid = wt_count_segments(*state);
    assert_true(mid < before);
    assert_true(mid > 1);
    assert_int_equal(tr_wal_ack_through(w, 300), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(wt_count_segments(*state), 1);   /* only the one being written */
    tr_wal_stats(w, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.records, 0);
    assert_int_equal(tr_wal_close(w), 0);
    /* reopen: nothing to replay, numbering continues */
    w = open_cfg(&c);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    append_n(w, 301, 1);
    assert_int_equal(tr_wal_sync(w), 0);
    expect_read(w, 301);
    assert_int_equal(tr_wal_close(w), 0);
}

/* Inodes of dir's segment files (without the highest numbered one when
 * skip_last), at most n; how many. */
static int wal_inodes(const char *dir, ino_t *out, int n, int skip_last) {
    char last[4096] = "";
    if (skip_last && wt_last_segment(dir, last, sizeof last)) return -1;
    DIR *dp = opendir(dir);
    struct dirent *de;
    int k = 0;
    while (dp && (de = readdir(dp))) {
        char p[4096];
        struct stat fs;
        if (strlen(de->d_name) != 24 || !strstr(de->d_name, ".wal")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (skip_last && strcmp(p, last) == 0) continue;
        if (stat(p, &fs) == 0 && k < n) out[k++] = fs.st_ino;
    }
    if (dp) closedir(dp);
    return k;
}

/* Acknowledged segment files are kept (spare_segments) and the next
 * segments are those same files (same inodes), written over from the
 * start. Their older frames beyond the new data are never read as records
 * or counted as damage: in this run, after a clean reopen and after a
 * reopen of a file renamed for reuse but never written (a crash between
 * the rename and the first write). */
static void test_spare_segments_reused(void **state) {
    const char *dir = *state;
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.sync = TR_WAL_SYNC_ALWAYS;
    c.segment_bytes = 4096;
    c.max_record_bytes = 256;
    struct tr_wal *w = open_cfg(&c);
    append_n(w, 1, 300);
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t nseg = st.segments;
    assert_true(nseg >= 5);
    for (uint64_t s = 1; s <= 300; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 300), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.spares, 2);
    assert_int_equal(st.recycled, 0);
    assert_int_equal(wt_count_segments(dir), 3);   /* the active one and two kept */
    /* the two kept files, by inode (every .wal file but the active one) */
    ino_t kept[3];
    int nk = wal_inodes(dir, kept, 3, 1);
    assert_int_equal(nk, 2);

    /* shorter records now, so each reused file has older frames past its data */
    unsigned char buf[256];
    for (uint64_t s = 301; s <= 500; s++) {
        size_t len = 1 + (size_t)(s % 40);
        memset(buf, (int)(s & 0xff), len);
        assert_int_equal(tr_wal_append(w, buf, len, NULL), 0);
    }
    assert_int_equal(tr_wal_sync(w), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.recycled, 2);   /* the two kept files became segments */
    ino_t now[64];
    int nn = wal_inodes(dir, now, 64, 0);
    for (int k = 0; k < nk; k++) {
        int found = 0;
        for (int i = 0; i < nn; i++) found |= now[i] == kept[k];
        assert_true(found);   /* the same file, not a new one */
    }
    for (uint64_t s = 301; s <= 500; s++) {
        struct tr_wal_record r;
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, s);
        assert_int_equal(r.len, 1 + (size_t)(s % 40));
        assert_int_equal(((const unsigned char *)r.data)[0], (unsigned char)(s & 0xff));
    }
    assert_int_equal(tr_wal_close(w), 0);

    /* offline, the older frames past the reused files' data are no damage */
    struct tr_wal_summary sum;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_inspect(dir, NULL, &sum, &d), 0);
    assert_int_equal(sum.damaged, 0);
    assert_true(sum.reused_bytes > 0);
    assert_int_equal(sum.torn_bytes, 0);

    /* reopen: the segments found have their file sizes, older frames and all */
    w = open_cfg(&c);
    for (uint64_t s = 301; s <= 500; s++) {
        struct tr_wal_record r;
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, s);
        assert_int_equal(r.len, 1 + (size_t)(s % 40));
    }
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    tr_wal_stats(w, &st);
    assert_int_equal(st.corrupt_records, 0);
    assert_int_equal(st.corrupt_bytes, 0);
    assert_int_equal(st.bad_seq_frames, 0);
    assert_int_equal(st.torn_bytes, 0);
    uint64_t next = st.next_seq;
    assert_int_equal(tr_wal_ack_through(w, 450), 0);
    assert_int_equal(tr_wal_close(w), 0);

    /* a kept file renamed for the next segment, then the crash: the name is
     * there, the new header and records are not */
    w = open_cfg(&c);
    tr_wal_stats(w, &st);
    assert_true(st.spares >= 1);
    assert_int_equal(tr_wal_close(w), 0);
    char renamed[4096];
    struct dirent *de;
    DIR *dp = opendir(dir);
    char oldest[4096] = "";
    unsigned long long lo = ~0ull;
    while ((de = readdir(dp))) {
        if (strlen(de->d_name) != 24 || !strstr(de->d_name, ".wal")) continue;
        unsigned long long f = strtoull(de->d_name, NULL, 10);
        if (f < lo) {
            lo = f;
            snprintf(oldest, sizeof oldest, "%s/%s", dir, de->d_name);
        }
    }
    closedir(dp);
    assert_true(lo < 450);   /* an acknowledged one, kept */
    snprintf(renamed, sizeof renamed, "%s/%020llu.wal", dir, (unsigned long long)next);
    assert_int_equal(rename(oldest, renamed), 0);
    w = open_cfg(&c);
    for (uint64_t s = 451; s <= 500; s++) {
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, s);
    }
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    tr_wal_stats(w, &st);
    assert_int_equal(st.next_seq, next);
    assert_int_equal(st.corrupt_records, 0);
    assert_int_equal(st.corrupt_bytes, 0);
    assert_int_equal(st.bad_seq_frames, 0);
    append_n(w, next, 1);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_close(w), 0);
}

/* At open, a wholly acknowledged file is kept for reuse only if its header
 * names its own number: one naming another was renamed for reuse and then
 * written while the rename was lost to a power cut, and what it holds could
 * be numbered above what comes next. */
static void test_spare_needs_its_own_header(void **state) {
    const char *dir = *state;
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.segment_bytes = 4096;
    c.max_record_bytes = 256;
    struct tr_wal *w = open_cfg(&c);
    append_n(w, 1, 300);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 300; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 300), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_close(w), 0);
    /* three files, all acknowledged: two kept and the last one */
    unsigned long long num[8];
    int n = 0;
    DIR *dp = opendir(dir);
    struct dirent *de;
    while ((de = readdir(dp)) && n < 8)
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".wal")) num[n++] = strtoull(de->d_name, NULL, 10);
    closedir(dp);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)   /* sort */
        for (int j = i + 1; j < n; j++)
            if (num[j] < num[i]) {
                unsigned long long t = num[i];
                num[i] = num[j];
                num[j] = t;
            }
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/%020llu.wal", dir, num[1]);
    snprintf(to, sizeof to, "%s/%020llu.wal", dir, num[1] + 1);   /* its header still says num[1] */
    assert_true(num[1] + 1 < num[2]);
    assert_int_equal(rename(from, to), 0);
    w = open_cfg(&c);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.spares, 1);            /* the last one; the oldest is one too many */
    assert_int_equal(access(to, F_OK), -1);    /* the renamed one is gone */
    assert_int_equal(wt_count_segments(dir), 1);
    append_n(w, 301, 100);                     /* takes the kept one, then new files */
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 301; s <= 400; s++) expect_read(w, s);
    tr_wal_stats(w, &st);
    assert_int_equal(st.recycled, 1);
    assert_int_equal(st.corrupt_records, 0);
    assert_int_equal(tr_wal_close(w), 0);
}

/* spare_segments = 0 keeps nothing; more than 64 is refused. */
static void test_spare_segments_off(void **state) {
    const char *dir = *state;
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.segment_bytes = 4096;
    c.max_record_bytes = 256;
    c.spare_segments = 65;
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), TR_EINVAL_CFG);
    c.spare_segments = 0;
    w = open_cfg(&c);
    append_n(w, 1, 300);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 300; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 300), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    append_n(w, 301, 100);
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.spares, 0);
    assert_int_equal(st.recycled, 0);
    assert_int_equal(wt_count_segments(dir), (int)st.segments);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_capacity_records(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_NONE;
    c.max_records = 5;
    struct tr_wal *w = open_cfg(&c);
    append_n(w, 1, 5);
    unsigned char b[10] = {1};
    uint64_t seq;
    assert_int_equal(tr_wal_append(w, b, 10, &seq), TR_EFULL);   /* the 6th, under block */
    assert_int_equal(tr_wal_append(w, b, 10, &seq), TR_EFULL);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.refused_full, 2);
    assert_int_equal(st.records, 5);
    assert_int_equal(tr_wal_sync(w), 0);
    expect_read(w, 1);
    expect_read(w, 2);
    assert_int_equal(tr_wal_ack(w, 2), 0);   /* out of order: counts as unacked-free too */
    append_n(w, 6, 1);
    assert_int_equal(tr_wal_append(w, b, 10, &seq), TR_EFULL);
    assert_int_equal(tr_wal_ack(w, 1), 0);
    append_n(w, 7, 1);
    assert_int_equal(tr_wal_close(w), 0);
    /* usage is recomputed from disk: 3..7 unacked = 5 = full */
    w = open_cfg(&c);
    assert_int_equal(tr_wal_append(w, b, 10, &seq), TR_EFULL);
    tr_wal_stats(w, &st);
    assert_int_equal(st.records, 5);
    assert_int_equal(st.frontier, 2);
    expect_read(w, 3);
    assert_int_equal(tr_wal_ack(w, 3), 0);
    append_n(w, 8, 1);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_capacity_drop_newest(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_NONE;
    c.max_records = 3;
    c.on_full = TR_WAL_ON_FULL_DROP_NEWEST;
    struct tr_wal *w = open_cfg(&c);
    append_n(w, 1, 3);
    unsigned char b[10] = {1};
    uint64_t seq = 7;
    assert_int_equal(tr_wal_append(w, b, 10, &seq), TR_EDROPPED);
    assert_int_equal(seq, 0);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.refused_full, 0);
    assert_int_equal(st.next_seq, 4);   /* a dropped record takes no number */
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_capacity_bytes(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_NONE;
    c.max_record_bytes = 100;
    c.max_bytes = 5 * 120;   /* five 100-byte records with their 20 bytes of framing */
    struct tr_wal *w = open_cfg(&c);
    unsigned char b[100];
    memset(b, 'x', sizeof b);
    for (int i = 0; i < 5; i++) assert_int_equal(tr_wal_append(w, b, 100, NULL), 0);
    assert_int_equal(tr_wal_append(w, b, 100, NULL), TR_EFULL);
    assert_int_equal(tr_wal_append(w, b, 1, NULL), TR_EFULL);   /* 21 more bytes do not fit either */
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.bytes, 600);
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(tr_wal_ack(w, r.seq), 0);
    tr_wal_stats(w, &st);
    assert_int_equal(st.bytes, 480);
    assert_int_equal(tr_wal_append(w, b, 100, NULL), 0);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_reopen_replays_unacked(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_ALWAYS;
    struct tr_wal *w = open_cfg(&c);
    append_n(w, 1, 50);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 30; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 20), 0);
    assert_int_equal(tr_wal_ack(w, 25), 0);   /* above the frontier: not kept across a restart */
    assert_int_equal(tr_wal_close(w), 0);
    w = open_cfg(&c);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.frontier, 20);
    assert_int_equal(st.next_seq, 51);
    assert_int_equal(st.records, 30);
    for (uint64_t s = 21; s <= 50; s++) expect_read(w, s);
    append_n(w, 51, 5);   /* new records come after the replay */
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 51; s <= 55; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 55), 0);
    assert_int_equal(tr_wal_close(w), 0);
    w = open_cfg(&c);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);   /* clean close: nothing acked comes back */
    tr_wal_stats(w, &st);
    assert_int_equal(st.next_seq, 56);
    assert_int_equal(tr_wal_close(w), 0);
}

/* ---- an I/O seam whose fdatasync can be held, to see group commit ---- */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed;          /* fdatasync blocks while closed */
    int waiting;         /* a fdatasync is blocked right now */
    atomic_int datasyncs;
    struct tr_wal_io io;
};

static int g_fdatasync(void *ctx, int fd) {
    struct gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->waiting++;
    pthread_cond_broadcast(&g->cv);
    while (g->closed) pthread_cond_wait(&g->cv, &g->mu);
    g->waiting--;
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&g->datasyncs, 1);
    return tr_wal_io_posix()->fdatasync(NULL, fd);
}

static void gate_init(struct gate *g) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->closed = 0;
    g->waiting = 0;
    atomic_init(&g->datasyncs, 0);
    g->io = *tr_wal_io_posix();
    g->io.ctx = g;
    g->io.fdatasync = g_fdatasync;
}

static void gate_set(struct gate *g, int closed) {
    pthread_mutex_lock(&g->mu);
    g->closed = closed;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_blocked(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    while (!g->waiting) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static atomic_ulong notified;
static void on_notify(void *arg, uint64_t durable) {
    (void)arg;
    atomic_store(&notified, durable);
}

static void test_group_commit_and_durability_gate(void **state) {
    struct gate g;
    gate_init(&g);
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_ALWAYS;
    c.segment_bytes = 1 << 20;   /* one file: one fdatasync per batch */
    c.io = &g.io;
    c.notify = on_notify;
    atomic_store(&notified, 0);
    struct tr_wal *w = open_cfg(&c);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t syncs0 = st.syncs;
    gate_set(&g, 1);
    append_n(w, 1, 1);
    gate_wait_blocked(&g);   /* the sync thread is inside fdatasync for record 1 */
    append_n(w, 2, 999);     /* appends keep arriving meanwhile */
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);   /* nothing durable yet, nothing handed out */
    assert_int_equal(tr_wal_durable_seq(w), 0);
    gate_set(&g, 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_durable_seq(w), 1000);
    assert_int_equal(atomic_load(&notified), 1000);   /* the notify saw the final value */
    tr_wal_stats(w, &st);
    /* one fdatasync for record 1, one for the 999 that came during it */
    assert_int_equal(st.syncs - syncs0, 2);
    for (uint64_t s = 1; s <= 1000; s++) expect_read(w, s);
    assert_int_equal(tr_wal_close(w), 0);
}

/* Bytes of segment 1 in the file (fallocate reserves without changing the size). */
static uint64_t seg1_size(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%020llu.wal", dir, 1ull);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

static uint64_t shared_durable(struct tr_wal *w) {
    pthread_mutex_lock(&w->mu);
    uint64_t d = w->s_durable_seq;
    pthread_mutex_unlock(&w->mu);
    return d;
}

/* A WAL (sync ALWAYS, segments of seg_bytes, records up to max_rec, 0: the
 * default) whose sync thread wrote record 1 and is held inside its
 * fdatasync (g closed). */
static struct tr_wal *open_held(struct gate *g, const char *dir, uint64_t seg_bytes, uint32_t max_rec) {
    gate_init(g);
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.sync = TR_WAL_SYNC_ALWAYS;
    c.segment_bytes = seg_bytes;
    if (max_rec) c.max_record_bytes = max_rec;
    c.io = &g->io;
    struct tr_wal *w = open_cfg(&c);
    gate_set(g, 1);
    append_n(w, 1, 1);   /* the sync thread is idle: record 1 goes to it now */
    gate_wait_blocked(g);
    return w;
}

/* tr_wal_flush hands what was appended over to the sync thread, which
 * writes it at the start of its next pass and makes it durable without being
 * asked; the owner thread never writes. While a fdatasync runs, what is
 * handed over waits in memory for the next pass. */
static void test_flush_hands_over_sync_thread_writes_and_syncs(void **state) {
    struct gate g;
    struct tr_wal *w = open_held(&g, *state, 1 << 20, 0);
    uint64_t frames = 0;
    unsigned char buf[PMAX];
    for (uint64_t s = 1; s <= 50; s++) frames += wt_payload(s, PMAX, buf) + TR_WAL_FRAME_OVERHEAD;
    uint64_t one = TR_WAL_SEG_HDR + wt_payload(1, PMAX, buf) + TR_WAL_FRAME_OVERHEAD;
    assert_int_equal(seg1_size(*state), one);   /* expected: header + record 1 */
    append_n(w, 2, 49);
    assert_int_equal(tr_wal_flush(w), 0);
    assert_int_equal(tr_wal_flush(w), 0);       /* nothing more to hand over: a no-op */
    /* expected: 2..50 still in memory, the sync thread is in its fdatasync */
    assert_int_equal(seg1_size(*state), one);
    assert_int_equal(shared_durable(w), 0);
    gate_set(&g, 0);
    /* no tr_wal_sync: the sync thread writes and covers what was handed over by itself */
    pthread_mutex_lock(&w->mu);
    while (w->s_durable_seq < 50 && !w->failed) pthread_cond_wait(&w->done, &w->mu);
    uint64_t d = w->s_durable_seq;
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(d, 50);
    assert_int_equal(seg1_size(*state), TR_WAL_SEG_HDR + frames);   /* expected: all 50 written */
    for (uint64_t s = 1; s <= 50; s++) expect_read(w, s);
    assert_int_equal(tr_wal_close(w), 0);
    assert_int_equal(tr_wal_flush(NULL), -EINVAL);
}

/* ---- handovers pile up while the disk is stuck, within a bound ---- */
#define BIG_REC (64u << 10)    /* three to a chunk */
#define BIG_N (TR_WAL_CHUNKS_MAX * 3 + 12)

struct appender {
    struct tr_wal *w;
    int rc;              /* the first failure, checked once joined */
    atomic_int finished;
};

static void *append_big(void *arg) {
    struct appender *a = arg;
    unsigned char *buf = malloc(BIG_REC);
    if (!buf) a->rc = -ENOMEM;
    for (uint64_t s = 2; buf && !a->rc && s < 2 + BIG_N; s++) {
        memset(buf, (int)(s & 0xff), BIG_REC);
        uint64_t seq = 0;
        a->rc = tr_wal_append(a->w, buf, BIG_REC, &seq);
        if (!a->rc && seq != s) a->rc = -ERANGE;
        if (!a->rc) a->rc = tr_wal_flush(a->w);
    }
    free(buf);
    atomic_store(&a->finished, 1);
    return NULL;
}

/* While a fdatasync hangs, what the owner hands over waits in memory for the
 * next pass; past TR_WAL_CHUNKS_MAX chunks (8 MiB) the owner waits for the
 * disk instead of taking more, and goes on, with every record, once the
 * sync thread does. */
static void test_handovers_wait_for_a_stuck_disk_within_a_bound(void **state) {
    struct gate g;
    struct tr_wal *w = open_held(&g, *state, 64u << 20, BIG_REC);   /* one segment: no roll */
    struct appender a = {.w = w};
    atomic_init(&a.finished, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, append_big, &a), 0);   /* the owner, for now */
    /* every chunk is made and none is free: the appender cannot go on */
    uint64_t deadline = tr_mono_ns() + 30ull * 1000000000ull;
    unsigned n = 0, nfree = 1;
    while (tr_mono_ns() < deadline) {
        pthread_mutex_lock(&w->mu);
        n = w->nchunks;
        nfree = w->nfree;
        pthread_mutex_unlock(&w->mu);
        if (n == TR_WAL_CHUNKS_MAX && nfree == 0) break;
        sched_yield();
    }
    assert_int_equal(n, TR_WAL_CHUNKS_MAX);   /* expected: the bound, no more */
    assert_int_equal(nfree, 0);
    /* expected 0: BIG_N records need more chunks than the bound allows */
    assert_int_equal(atomic_load(&a.finished), 0);
    gate_set(&g, 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_durable_seq(w), 1 + BIG_N);
    expect_read(w, 1);
    for (uint64_t s = 2; s < 2 + BIG_N; s++) {
        struct tr_wal_record r;
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, s);
        assert_int_equal(r.len, BIG_REC);
        const unsigned char *d = r.data;
        assert_int_equal(d[0], s & 0xff);
        assert_int_equal(d[BIG_REC - 1], s & 0xff);
    }
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_policies(void **state) {
    enum tr_wal_sync_policy pols[] = {TR_WAL_SYNC_ALWAYS, TR_WAL_SYNC_INTERVAL, TR_WAL_SYNC_NONE};
    for (int i = 0; i < 3; i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/p%d/deeper", (char *)*state, i);   /* mkdir -p */
        struct tr_wal_config c;
        wt_config(&c, sub);
        c.sync = pols[i];
        c.sync_interval_ms = 5;
        struct tr_wal *w = open_cfg(&c);
        append_n(w, 1, 20);
        /* durable comes by itself under every policy: wait on it */
        while (tr_wal_durable_seq(w) < 20) {
            pthread_mutex_lock(&w->mu);   /* condition wait, no sleeping */
            if (w->s_durable_seq < 20) pthread_cond_wait(&w->done, &w->mu);
            pthread_mutex_unlock(&w->mu);
        }
        for (uint64_t s = 1; s <= 20; s++) expect_read(w, s);
        struct tr_wal_stats st;
        if (pols[i] == TR_WAL_SYNC_INTERVAL) {
            /* the interval sync happens without being asked */
            for (;;) {
                tr_wal_stats(w, &st);
                if (st.synced_seq == 20) break;
                pthread_mutex_lock(&w->mu);
                if (w->synced_seq < 20) pthread_cond_wait(&w->done, &w->mu);
                pthread_mutex_unlock(&w->mu);
            }
        }
        tr_wal_stats(w, &st);
        if (pols[i] == TR_WAL_SYNC_NONE) assert_int_equal(st.syncs, 0);
        else assert_true(st.syncs >= 1);
        assert_int_equal(tr_wal_close(w), 0);
    }
}

static void test_refusals_at_open(void **state) {
    const char *dir = *state;
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.sync = TR_WAL_SYNC_NONE;
    struct tr_wal *w = open_cfg(&c), *w2 = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w2, &d), -EBUSY);   /* one owner per directory */
    assert_null(w2);
    append_n(w, 1, 3);
    assert_int_equal(tr_wal_close(w), 0);

    /* foreign files are ignored, stray temporaries removed */
    char p[4096];
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    assert_int_equal(wt_write_file(p, "hello", 5), 0);
    snprintf(p, sizeof p, "%s/checkpoint.tmp", dir);
    assert_int_equal(wt_write_file(p, "x", 1), 0);
    w = open_cfg(&c);
    expect_read(w, 1);
    assert_int_equal(tr_wal_close(w), 0);
    assert_int_equal(wt_file_size(p), -1);

    /* a segment of another format version: refused, named */
    unsigned char hdr[TR_WAL_SEG_HDR];
    tr_wal_seghdr_encode(hdr, 1000);
    tr_wal_put32(hdr + 8, 2);
    tr_wal_put32(hdr + 28, tr_wal_crc32c(0, hdr, 28));
    snprintf(p, sizeof p, "%s/%020d.wal", dir, 1000);
    assert_int_equal(wt_write_file(p, hdr, sizeof hdr), 0);
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w2, &d), TR_EUNSUPPORTED);
    assert_non_null(strstr(d.file, "00000000000000001000.wal"));
    assert_non_null(strstr(d.msg, "version 2"));
    /* a file that is not ours at all */
    assert_int_equal(wt_write_file(p, "#!/bin/sh\necho this is not a WAL segment at all\n", 48), 0);
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w2, &d), TR_ECORRUPT);
    assert_non_null(strstr(d.msg, "bad magic"));
    unlink(p);
    w = open_cfg(&c);
    assert_int_equal(tr_wal_close(w), 0);

    /* configuration errors */
    struct tr_wal_config bad = c;
    bad.dir = NULL;
    assert_int_equal(tr_wal_open(&bad, &w2, &d), TR_EINVAL_CFG);
    bad = c;
    bad.max_record_bytes = 0;
    assert_int_equal(tr_wal_open(&bad, &w2, &d), TR_EINVAL_CFG);
    bad = c;
    bad.segment_bytes = 100;
    assert_int_equal(tr_wal_open(&bad, &w2, &d), TR_EINVAL_CFG);
    bad = c;
    bad.max_bytes = 10;
    assert_int_equal(tr_wal_open(&bad, &w2, &d), TR_EINVAL_CFG);
    assert_null(w2);
}

static void test_large_records_and_roll(void **state) {
    struct tr_wal_config c;
    wt_config(&c, *state);
    c.sync = TR_WAL_SYNC_NONE;
    c.max_record_bytes = 40000;
    c.segment_bytes = 41000 + 200;   /* one big record per segment */
    struct tr_wal *w = open_cfg(&c);
    unsigned char *big = malloc(40000);
    for (int i = 0; i < 5; i++) {
        memset(big, 'a' + i, 40000);
        assert_int_equal(tr_wal_append(w, big, 40000, NULL), 0);
    }
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(wt_count_segments(*state), 5);
    for (int i = 0; i < 5; i++) {
        struct tr_wal_record r;
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.len, 40000);
        assert_int_equal(((const unsigned char *)r.data)[39999], 'a' + i);
    }
    free(big);
    assert_int_equal(tr_wal_close(w), 0);
}

/* A log keeps its identity for life. A reopen that names where the log was
 * (cfg.expect) takes that log on any device, or a directory with no log on
 * the log's own file system (wiped in place: a new log); never another log,
 * and never a missing or empty directory on another file system (the bare
 * mount point of a disk not mounted yet), where it creates nothing. Another
 * file system is simulated by naming another device number. */
static void test_identity_and_reopen(void **state) {
    const char *dir = *state;
    static const unsigned char zero[TR_WAL_ID_BYTES];
    struct tr_wal_ident where, other_log, now;
    char sub[4096], disk[4096], away[4096], p[4200];
    snprintf(disk, sizeof disk, "%s/disk", dir);
    snprintf(sub, sizeof sub, "%s/disk/wal", dir);
    snprintf(away, sizeof away, "%s/disk-away", dir);
    struct tr_wal_config c;
    wt_config(&c, sub);
    c.sync = TR_WAL_SYNC_NONE;
    struct tr_wal *w = open_cfg(&c), *w2 = NULL;
    tr_wal_ident(w, &where);
    assert_memory_not_equal(where.id, zero, sizeof zero);
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(where.dev, (uint64_t)sb.st_dev);
    append_n(w, 1, 5);
    assert_int_equal(tr_wal_close(w), 0);
    w = open_cfg(&c);   /* kept across opens */
    tr_wal_ident(w, &now);
    assert_memory_equal(where.id, now.id, sizeof zero);
    assert_int_equal(tr_wal_close(w), 0);
    assert_int_equal(rename(disk, away), 0);   /* the disk goes away */

    /* the log lived on another device: its directory is gone, and its
     * nearest ancestor is not its file system: refused, nothing made */
    struct tr_wal_ident elsewhere = where;
    elsewhere.dev = where.dev + 1;
    c.expect = &elsewhere;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w2, &d), -ENOENT);
    assert_null(w2);
    assert_non_null(strstr(d.msg, "is gone"));
    assert_int_equal(access(disk, F_OK), -1);
    /* an empty directory there, on another file system: refused, left empty */
    assert_int_equal(mkdir(disk, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w2, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "no checkpoint of log"));
    assert_int_equal(wt_count_segments(sub), 0);
    snprintf(p, sizeof p, "%s/checkpoint", sub);
    assert_int_equal(access(p, F_OK), -1);
    /* another log there: refused (on any device) and untouched */
    struct tr_wal_config oc;
    wt_config(&oc, sub);
    oc.sync = TR_WAL_SYNC_NONE;
    w = open_cfg(&oc);
    tr_wal_ident(w, &other_log);
    assert_memory_not_equal(where.id, other_log.id, sizeof zero);
    append_n(w, 1, 3);
    assert_int_equal(tr_wal_close(w), 0);
    c.expect = &where;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w2, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "not reopening it"));
    w = open_cfg(&oc);
    for (uint64_t s = 1; s <= 3; s++) expect_read(w, s);
    assert_int_equal(tr_wal_close(w), 0);
    /* the real one back (as if on a new device number): reopened with its records */
    snprintf(p, sizeof p, "%s/disk-other", dir);
    assert_int_equal(rename(disk, p), 0);
    assert_int_equal(rename(away, disk), 0);
    c.expect = &elsewhere;
    w = open_cfg(&c);
    for (uint64_t s = 1; s <= 5; s++) expect_read(w, s);
    tr_wal_ident(w, &now);
    assert_memory_equal(where.id, now.id, sizeof zero);
    assert_int_equal(now.dev, where.dev);   /* where it is now */
    assert_int_equal(tr_wal_close(w), 0);

    /* wiped in place (its own file system): a new, empty log is started */
    wt_rmrf(disk);
    c.expect = &where;
    w = open_cfg(&c);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    assert_int_equal(st.records, 0);
    tr_wal_ident(w, &now);
    assert_memory_not_equal(where.id, now.id, sizeof zero);
    assert_int_equal(tr_wal_close(w), 0);
}

/* A checkpoint of version 1 (no identity) is still read: its frontier is
 * kept and the log gets an identity it keeps from then on. */
static void test_checkpoint_version1(void **state) {
    const char *dir = *state;
    struct tr_wal *w = open_none(dir);
    append_n(w, 1, 10);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 4; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 4), 0);
    assert_int_equal(tr_wal_close(w), 0);
    /* the same state as a version 1 file: 60 bytes, CRC at 56, no identity */
    unsigned char img[TR_WAL_CKPT_FILE_BYTES], slot[TR_WAL_CKPT_SLOT];
    memset(img, 0, sizeof img);
    struct tr_wal_ckpt ck = {.gen = 7, .frontier = 4, .next_seq = 11};
    tr_wal_ckpt_encode(slot, &ck);
    memset(slot + 56, 0, TR_WAL_CKPT_SLOT - 56);
    tr_wal_put32(slot + 8, 1);
    tr_wal_put32(slot + 12, 60);
    tr_wal_put32(slot + 56, tr_wal_crc32c(0, slot, 56));
    memcpy(img + TR_WAL_CKPT_SLOT, slot, sizeof slot);
    struct tr_wal_ckpt back;
    uint32_t version;
    assert_int_equal(tr_wal_ckpt_decode(slot, &back, &version), TR_WAL_HDR_OK);
    assert_int_equal(version, 1);
    assert_int_equal(back.frontier, 4);
    char p[4200];
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    assert_int_equal(wt_write_file(p, img, sizeof img), 0);
    w = open_none(dir);
    expect_read(w, 5);   /* the frontier came from the version 1 slot */
    struct tr_wal_ident id, id2;
    static const unsigned char zero[TR_WAL_ID_BYTES];
    tr_wal_ident(w, &id);
    assert_memory_not_equal(id.id, zero, sizeof zero);
    assert_int_equal(tr_wal_close(w), 0);
    w = open_none(dir);
    tr_wal_ident(w, &id2);
    assert_memory_equal(id.id, id2.id, sizeof zero);   /* written in version 2 from then on */
    assert_int_equal(tr_wal_close(w), 0);
    /* a slot of an unknown layout is refused by name */
    tr_wal_put32(slot + 8, 3);
    tr_wal_put32(slot + 56, tr_wal_crc32c(0, slot, 56));
    assert_int_equal(tr_wal_ckpt_decode(slot, &back, &version), TR_EUNSUPPORTED);
}

/* The invariants (run after every public call in the checked build) hold
 * through normal use and name what is broken when a field is off. */
static void test_invariants(void **state) {
    struct tr_wal *w = open_none(*state);
    assert_null(tr_wal_broken(w));
    append_n(w, 1, 10);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 5; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack(w, 3), 0);
    assert_int_equal(tr_wal_ack(w, 1), 0);
    assert_null(tr_wal_broken(w));
    assert_int_equal(w->frontier, 1);

    uint64_t f = w->frontier;
    w->frontier = w->next_seq;
    assert_non_null(strstr(tr_wal_broken(w), "frontier < next_seq"));
    w->frontier = f;
    uint64_t *head = tr_wal_ring_at(&w->ring, 0);
    *head |= TR_WAL_RING_ACKED;
    assert_non_null(strstr(tr_wal_broken(w), "head entry"));
    *head &= ~TR_WAL_RING_ACKED;
    uint64_t cur = w->cur;
    w->cur = w->frontier + tr_wal_ring_n(&w->ring) + 2;
    assert_non_null(strstr(tr_wal_broken(w), "cursor"));
    w->cur = cur;
    uint64_t nacked = w->ring.nacked;
    w->ring.nacked = tr_wal_ring_n(&w->ring) + 1;
    assert_non_null(tr_wal_broken(w));
    w->ring.nacked = nacked;
    assert_null(tr_wal_broken(w));
    assert_int_equal(tr_wal_ack_through(w, 5), 0);
    assert_null(tr_wal_broken(w));
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_no_leak(void **state) {
    size_t before = tr_alloc_used();
    struct tr_wal *w = open_none(*state);
    append_n(w, 1, 100);
    assert_int_equal(tr_wal_sync(w), 0);
    for (uint64_t s = 1; s <= 100; s++) expect_read(w, s);
    assert_int_equal(tr_wal_ack_through(w, 100), 0);
    assert_int_equal(tr_wal_close(w), 0);
    assert_int_equal(tr_alloc_used(), before);   /* every byte given back */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test_setup_teardown(test_append_read_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_segments_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_segments_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_needs_its_own_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity_drop_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_replays_unacked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_and_durability_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_hands_over_sync_thread_writes_and_syncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handovers_wait_for_a_stuck_disk_within_a_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_records_and_roll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_version1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invariants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_leak, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
