/* test_wal_inspect.c - tr_wal_inspect, the read-only scan behind `tremor wal
 * inspect` and `tremor wal verify`: counts and frontier of a log written
 * through the API, a flipped payload byte found at its frame's offset, an
 * empty, a foreign and a missing directory, and nothing written. Expected
 * values come from what the test appended and acknowledged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "wal/wal.h"
#include "wal/wal_int.h"
#include "wal_test_util.h"

#define PMAX 200
#define N 50
#define ACKED 20

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

/* N records, the first ACKED acknowledged, closed cleanly; returns the
 * payload bytes appended. */
static uint64_t write_log(const char *dir) {
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.sync = TR_WAL_SYNC_NONE;
    struct tr_wal *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_open(&c, &w, &d), 0);
    unsigned char buf[PMAX];
    uint64_t bytes = 0;
    for (uint64_t s = 1; s <= N; s++) {
        uint64_t seq;
        size_t len = wt_payload(s, PMAX, buf);
        bytes += len;
        assert_int_equal(tr_wal_append(w, buf, len, &seq), 0);
    }
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_record r;
    for (uint64_t s = 1; s <= N; s++) assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(tr_wal_ack_through(w, ACKED), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    assert_int_equal(tr_wal_close(w), 0);
    return bytes;
}

struct seen {
    uint64_t first, n;
    uint64_t damage_off[8];
    char damage_seg[8][32];
    int damages;
};

static int on_record(void *arg, const char *seg, uint64_t off, uint64_t seq, const void *data,
                     size_t len) {
    (void)seg;
    (void)off;
    struct seen *s = arg;
    if (!s->n++) s->first = seq;
    assert_true(wt_payload_ok(seq, PMAX, data, len));
    return 0;
}

static void on_damage(void *arg, const char *seg, uint64_t off, uint64_t len, const char *what) {
    (void)len;
    (void)what;
    struct seen *s = arg;
    assert_true(s->damages < 8);
    s->damage_off[s->damages] = off;
    snprintf(s->damage_seg[s->damages++], 32, "%s", seg);
}

static void segment_path(const char *dir, char *out, size_t n) {
    assert_int_equal(wt_last_segment(dir, out, n), 0);
}

static void test_counts_and_frontier(void **state) {
    const char *dir = *state;
    uint64_t bytes = write_log(dir);
    char seg[600];
    segment_path(dir, seg, sizeof seg);
    long before_len;
    unsigned char *before = wt_read_file(seg, &before_len);
    struct seen s = {0};
    struct tr_wal_inspect_opts o = {.arg = &s, .on_record = on_record, .on_damage = on_damage,
                                    .after = ACKED};
    struct tr_wal_summary sum;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_inspect(dir, &o, &sum, &d), 0);
    assert_int_equal(sum.segments, 1);
    assert_int_equal(sum.records, N);
    assert_int_equal(sum.payload_bytes, bytes);
    assert_int_equal(sum.first_seq, 1);
    assert_int_equal(sum.last_seq, N);
    assert_int_equal(sum.frontier, ACKED);
    assert_int_equal(sum.after, N - ACKED);
    assert_int_equal(s.n, N - ACKED);
    assert_int_equal(s.first, ACKED + 1);
    assert_int_equal(sum.damaged, 0);
    assert_int_equal(sum.torn_bytes, 0);
    assert_int_equal(sum.file_bytes, (uint64_t)before_len);
    assert_true(sum.checkpoint);
    /* read only */
    long after_len;
    unsigned char *after = wt_read_file(seg, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, (size_t)before_len);
    free(before);
    free(after);
}

static void test_flipped_byte_is_located(void **state) {
    const char *dir = *state;
    write_log(dir);
    char seg[600];
    segment_path(dir, seg, sizeof seg);
    long len;
    unsigned char *b = wt_read_file(seg, &len);
    /* walk the frames to record 25 */
    uint64_t off = TR_WAL_SEG_HDR, target = 0;
    while (off + TR_WAL_FRAME_HDR <= (uint64_t)len) {
        struct tr_wal_frame f;
        assert_int_equal(tr_wal_frame_hdr_decode(b + off, 1u << 20, &f), 0);
        if (!f.marker && f.seq == 25) {
            target = off;
            break;
        }
        off += f.size;
    }
    assert_true(target > 0);
    b[target + TR_WAL_FRAME_HDR + 2] ^= 0x01;
    assert_int_equal(wt_write_file(seg, b, len), 0);
    free(b);
    struct seen s = {0};
    struct tr_wal_inspect_opts o = {.arg = &s, .on_damage = on_damage, .after = UINT64_MAX};
    struct tr_wal_summary sum;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_inspect(dir, &o, &sum, &d), 0);
    assert_int_equal(sum.damaged, 1);
    assert_int_equal(s.damages, 1);
    assert_int_equal(s.damage_off[0], target);
    assert_string_equal(s.damage_seg[0], strrchr(seg, '/') + 1);
    assert_int_equal(sum.records, N - 1);
}

static void test_empty_foreign_and_missing(void **state) {
    const char *dir = *state;
    struct tr_wal_summary sum;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_inspect(dir, NULL, &sum, &d), 0);
    assert_int_equal(sum.segments + sum.records + sum.damaged, 0);
    assert_int_equal(sum.checkpoint, 0);
    char p[600];
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    assert_int_equal(wt_write_file(p, "hello\n", 6), 0);
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_inspect(dir, NULL, &sum, &d), TR_ECORRUPT);
    assert_non_null(strstr(d.msg, "not a WAL directory"));
    snprintf(p, sizeof p, "%s/missing", dir);
    tr_diag_clear(&d);
    assert_int_equal(tr_wal_inspect(p, NULL, &sum, &d), -ENOENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_and_frontier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_is_located, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_foreign_and_missing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
