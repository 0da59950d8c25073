/* test_wal_recovery.c - recovery from damaged directories.
 *
 * A reference WAL is built once per test and copied; each copy is damaged in
 * one way (cut at every byte of the last records, every bit of a record or a
 * checkpoint slot flipped, zeroed sectors, absurd lengths, missing files) and
 * opened. Expected: open succeeds, exactly the valid records come back intact
 * and in order, what was dropped is counted, and the writer continues with
 * the next number. Policy NONE keeps the hundreds of opens fast.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/log.h"
#include "wal/wal.h"
#include "wal/wal_int.h"
#include "wal_test_util.h"

#define PMAX 200

struct fx {
    char *ref;        /* reference WAL directory */
    char *work;       /* scratch copy */
    char last[4096];  /* path of the reference's last segment */
};

static int setup(void **state) {
    tr_log_set_level(TR_LOG_ERROR);   /* recovery warns by design; keep output short */
    struct fx *f = calloc(1, sizeof *f);
    f->ref = wt_mkdtemp();
    f->work = wt_mkdtemp();
    *state = f;
    return f->ref && f->work ? 0 : -1;
}

static int teardown(void **state) {
    struct fx *f = *state;
    wt_rmrf(f->ref);
    wt_rmrf(f->work);
    free(f->ref);
    free(f->work);
    free(f);
    return 0;
}

static void cfg_for(struct tr_wal_config *c, const char *dir) {
    wt_config(c, dir);
    c->sync = TR_WAL_SYNC_NONE;
    c->segment_bytes = 4096;
    c->max_record_bytes = 256;
}

static void append_range(struct tr_wal *w, uint64_t a, uint64_t b) {
    unsigned char buf[PMAX];
    for (uint64_t s = a; s <= b; s++) {
        uint64_t seq;
        assert_int_equal(tr_wal_append(w, buf, wt_payload(s, PMAX, buf), &seq), 0);
        assert_int_equal(seq, s);
    }
}

/* Reference: records 1..n0 closed cleanly, then n0+1..n1 appended in a new
 * run and the directory copied while it is open (as a crash would leave it:
 * the checkpoint does not know the last records). */
static void build_ref(struct fx *f, uint64_t n0, uint64_t n1, uint64_t acked) {
    struct tr_wal_config c;
    cfg_for(&c, f->ref);
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    append_range(w, 1, n0);
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_record r;
    for (uint64_t s = 1; s <= acked; s++) assert_int_equal(tr_wal_read(w, &r), 0);
    if (acked) assert_int_equal(tr_wal_ack_through(w, acked), 0);
    assert_int_equal(tr_wal_close(w), 0);
    char snap[4096];
    snprintf(snap, sizeof snap, "%s.snap", f->ref);
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    append_range(w, n0 + 1, n1);
    assert_int_equal(tr_wal_sync(w), 0);
    wt_copy_dir(f->ref, snap);
    assert_int_equal(tr_wal_close(w), 0);
    wt_rmrf(f->ref);
    rename(snap, f->ref);
    assert_int_equal(wt_last_segment(f->ref, f->last, sizeof f->last), 0);
}

static void fresh_copy(struct fx *f) {
    wt_rmrf(f->work);
    assert_int_equal(wt_copy_dir(f->ref, f->work), 0);
}

static void work_path(struct fx *f, const char *ref_path, char *out, size_t n) {
    snprintf(out, n, "%s%s", f->work, ref_path + strlen(f->ref));
}

/* Record frames in a segment image: offsets of record starts and ends. */
static int frames(const unsigned char *b, long len, long *start, long *end, uint64_t *seq, int max) {
    int n = 0;
    long off = TR_WAL_SEG_HDR;
    while (off + 16 <= len && n < max) {
        uint32_t lt = tr_wal_get32(b + off);
        long size = (long)(lt & ~TR_WAL_MARKER_FLAG) + 20;
        if (off + size > len) break;
        if (!(lt & TR_WAL_MARKER_FLAG)) {
            start[n] = off;
            end[n] = off + size;
            seq[n] = tr_wal_get64(b + off + 4);
            n++;
        }
        off += size;
    }
    return n;
}

/* Open the work copy; read everything; check the records are exactly
 * first..last except those in skip (by number), payloads intact. */
static struct tr_wal *open_and_check(struct fx *f, uint64_t first, uint64_t last, uint64_t skip,
                                     struct tr_wal_stats *st) {
    struct tr_wal_config c;
    cfg_for(&c, f->work);
    struct tr_wal *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_wal_open(&c, &w, &d);
    if (rc) print_error("open: %s %s\n", tr_strerror(rc), d.msg);
    assert_int_equal(rc, 0);
    struct tr_wal_record r;
    for (uint64_t s = first; s <= last; s++) {
        if (s == skip) continue;
        rc = tr_wal_read(w, &r);
        if (rc || r.seq != s) print_error("expected record %lu, got rc %d seq %lu\n", (unsigned long)s, rc,
                                          (unsigned long)r.seq);
        assert_int_equal(rc, 0);
        assert_int_equal(r.seq, s);
        assert_true(wt_payload_ok(s, PMAX, r.data, r.len));
    }
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    tr_wal_stats(w, st);
    return w;
}

static void writer_continues(struct tr_wal *w, uint64_t expect_seq) {
    unsigned char buf[PMAX];
    uint64_t seq;
    assert_int_equal(tr_wal_append(w, buf, wt_payload(expect_seq, PMAX, buf), &seq), 0);
    assert_int_equal(seq, expect_seq);
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(r.seq, expect_seq);
    assert_int_equal(tr_wal_close(w), 0);
}

static void test_truncate_every_byte(void **state) {
    struct fx *f = *state;
    build_ref(f, 20, 24, 0);   /* the last segment holds records 21..24 only */
    long len = 0;
    unsigned char *img = wt_read_file(f->last, &len);
    assert_non_null(img);
    long st_[64], en[64];
    uint64_t sq[64];
    int n = frames(img, len, st_, en, sq, 64);
    assert_int_equal(n, 4);
    assert_int_equal(sq[0], 21);
    char p[4096];
    work_path(f, f->last, p, sizeof p);
    for (long cut = 0; cut <= len; cut++) {
        fresh_copy(f);
        assert_int_equal(truncate(p, cut), 0);
        uint64_t last_full = 20;
        long good_end = 0;
        for (int i = 0; i < n; i++)
            if (en[i] <= cut) {
                last_full = sq[i];
                good_end = en[i];
            }
        struct tr_wal_stats s;
        struct tr_wal *w = open_and_check(f, 1, last_full, 0, &s);
        /* the cut part of a record is the torn tail, nothing else is lost */
        uint64_t torn;
        if (last_full > 20)
            torn = (uint64_t)(cut - good_end);
        else /* no whole record left: the segment goes, its header bytes too if torn */
            torn = cut > TR_WAL_SEG_HDR ? (uint64_t)cut - TR_WAL_SEG_HDR : cut == TR_WAL_SEG_HDR ? 0 : (uint64_t)cut;
        if (torn != s.torn_bytes)
            print_error("cut %ld: torn expected %lu, got %lu\n", cut, (unsigned long)torn,
                        (unsigned long)s.torn_bytes);
        assert_int_equal(s.torn_bytes, torn);
        assert_int_equal(s.corrupt_records, 0);
        assert_int_equal(s.next_seq, last_full + 1);
        writer_continues(w, last_full + 1);
    }
    free(img);
}

static void test_flip_every_bit_of_a_record(void **state) {
    struct fx *f = *state;
    build_ref(f, 20, 24, 0);
    long len = 0;
    unsigned char *img = wt_read_file(f->last, &len);
    long st_[64], en[64];
    uint64_t sq[64];
    int n = frames(img, len, st_, en, sq, 64);
    assert_int_equal(n, 4);
    /* record 22: in the middle of the last segment */
    char p[4096];
    work_path(f, f->last, p, sizeof p);
    size_t before = tr_alloc_used();
    for (long byte = st_[1]; byte < en[1]; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            fresh_copy(f);
            img[byte] ^= (unsigned char)(1u << bit);
            assert_int_equal(wt_write_file(p, img, len), 0);
            img[byte] ^= (unsigned char)(1u << bit);
            struct tr_wal_stats s;
            struct tr_wal *w = open_and_check(f, 1, 24, 22, &s);
            assert_int_equal(s.corrupt_records, 1);   /* exactly the flipped one */
            assert_int_equal(s.corrupt_bytes, (uint64_t)(en[1] - st_[1]));
            assert_int_equal(s.torn_bytes, 0);
            writer_continues(w, 25);
        }
    }
    assert_int_equal(tr_alloc_used(), before);
    /* the damaged bytes were kept aside */
    char q[4096];
    snprintf(q, sizeof q, "%s/quarantine", f->work);
    struct stat sb;
    assert_int_equal(stat(q, &sb), 0);
    free(img);
}

/* The first segment of a reference of 62 records (several 4 KiB segments
 * before the last): its bytes, its record frames, its path in the copy. */
struct seg_img {
    unsigned char *img;
    long len;
    long st[64], en[64];
    uint64_t sq[64];
    char work[4096];
};

static void first_segment(struct fx *f, struct seg_img *g) {
    build_ref(f, 60, 62, 0);
    char first[4096];
    snprintf(first, sizeof first, "%s/%020d.wal", f->ref, 1);
    g->len = 0;
    g->img = wt_read_file(first, &g->len);
    assert_non_null(g->img);
    assert_true(frames(g->img, g->len, g->st, g->en, g->sq, 64) > 5);
    work_path(f, first, g->work, sizeof g->work);
}

/* A fresh work copy whose first segment has the bit 0x10 of byte at flipped. */
static void copy_with_flip(struct fx *f, struct seg_img *g, long at) {
    fresh_copy(f);
    g->img[at] ^= 0x10;
    assert_int_equal(wt_write_file(g->work, g->img, g->len), 0);
    g->img[at] ^= 0x10;
}

static void test_flip_in_older_segment_found_by_reader(void **state) {
    struct fx *f = *state;
    struct seg_img g;
    first_segment(f, &g);
    long targets[] = {g.st[3], g.st[3] + 5, g.st[3] + 14, g.st[3] + 17, g.en[3] - 1};
    for (int t = 0; t < 5; t++) {
        copy_with_flip(f, &g, targets[t]);
        struct tr_wal_stats s;
        struct tr_wal *w = open_and_check(f, 1, 62, g.sq[3], &s);
        assert_int_equal(s.corrupt_records, 1);
        writer_continues(w, 63);
    }
    free(g.img);
}

/* tr_wal_read_held: the held record's payload is neither checked nor
 * given, so damage there is not found in this run; damage in its header
 * still is, and every other record is checked as by tr_wal_read. */
static void test_read_held_skips_only_the_held_payload(void **state) {
    struct fx *f = *state;
    struct seg_img g;
    first_segment(f, &g);
    const uint64_t *sq = g.sq;
    /* {byte flipped, record held, record expected next, corrupt records} */
    const struct { long at; uint64_t held, next, corrupt; } cases[] = {
        {g.st[3] + TR_WAL_FRAME_HDR + 1, sq[3], sq[3], 0},       /* payload of the held record */
        {g.st[3] + TR_WAL_FRAME_HDR + 1, sq[3] + 1, sq[3] + 1, 1}, /* payload of another: found */
        {g.st[3] + 5, sq[3], sq[3] + 1, 1},                      /* header of the held record: found */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        copy_with_flip(f, &g, cases[k].at);
        struct tr_wal_config c;
        cfg_for(&c, f->work);
        struct tr_wal *w = NULL;
        assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
        struct tr_wal_record r;
        for (uint64_t s = 1; s < sq[3]; s++) {
            assert_int_equal(tr_wal_read_held(w, cases[k].held, &r), 0);
            assert_int_equal(r.seq, s);
            assert_true(wt_payload_ok(s, PMAX, r.data, r.len));
        }
        assert_int_equal(tr_wal_read_held(w, cases[k].held, &r), 0);
        assert_int_equal(r.seq, cases[k].next);
        if (r.seq == cases[k].held) assert_null(r.data);
        else assert_true(wt_payload_ok(r.seq, PMAX, r.data, r.len));
        for (uint64_t s = r.seq + 1; s <= 62; s++) {
            assert_int_equal(tr_wal_read(w, &r), 0);
            assert_int_equal(r.seq, s);
            assert_true(wt_payload_ok(s, PMAX, r.data, r.len));
        }
        assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
        struct tr_wal_stats st;
        tr_wal_stats(w, &st);
        assert_int_equal(st.corrupt_records, cases[k].corrupt);
        writer_continues(w, 63);
    }
    free(g.img);
}

static void test_zeroed_region_and_huge_length(void **state) {
    struct fx *f = *state;
    build_ref(f, 20, 26, 0);
    long len = 0;
    unsigned char *img = wt_read_file(f->last, &len);
    long st_[64], en[64];
    uint64_t sq[64];
    int n = frames(img, len, st_, en, sq, 64);
    assert_int_equal(n, 6);
    char p[4096];
    work_path(f, f->last, p, sizeof p);

    /* lost sectors: records 22 and 23 zeroed; 24.. found again by number */
    fresh_copy(f);
    unsigned char *z = malloc((size_t)len);
    memcpy(z, img, (size_t)len);
    memset(z + st_[1], 0, (size_t)(en[2] - st_[1]));
    assert_int_equal(wt_write_file(p, z, len), 0);
    struct tr_wal_stats s;
    struct tr_wal_config c;
    cfg_for(&c, f->work);
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    struct tr_wal_record r;
    for (uint64_t want = 1; want <= 26; want++) {
        if (want == 22 || want == 23) continue;
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, want);
    }
    tr_wal_stats(w, &s);
    assert_int_equal(s.corrupt_records, 2);
    assert_int_equal(s.corrupt_bytes, (uint64_t)(en[2] - st_[1]));
    writer_continues(w, 27);

    /* a length field claiming ~4 GiB with a valid header CRC: never allocated */
    fresh_copy(f);
    memcpy(z, img, (size_t)len);
    tr_wal_put32(z + st_[2], 0x7ffffff0u);
    tr_wal_put32(z + st_[2] + 12, tr_wal_crc32c(0, z + st_[2], 12));
    assert_int_equal(wt_write_file(p, z, len), 0);
    size_t before = tr_alloc_used();
    w = open_and_check(f, 1, 26, 23, &s);
    assert_true(tr_alloc_used() - before < (4u << 20));
    assert_int_equal(s.corrupt_records, 1);
    writer_continues(w, 27);
    free(z);
    free(img);
}

static void test_flip_every_bit_of_checkpoint(void **state) {
    struct fx *f = *state;
    /* two generations: frontier 10, then frontier 15 */
    struct tr_wal_config c;
    cfg_for(&c, f->ref);
    struct tr_wal *w = NULL;
    struct tr_wal_record r;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    append_range(w, 1, 30);
    assert_int_equal(tr_wal_sync(w), 0);
    for (int i = 0; i < 15; i++) assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(tr_wal_ack_through(w, 10), 0);
    assert_int_equal(tr_wal_close(w), 0);
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    for (int i = 0; i < 5; i++) assert_int_equal(tr_wal_read(w, &r), 0);
    assert_int_equal(tr_wal_ack_through(w, 15), 0);
    assert_int_equal(tr_wal_close(w), 0);
    char ck[4096], p[4096];
    snprintf(ck, sizeof ck, "%s/checkpoint", f->ref);
    long len = 0;
    unsigned char *img = wt_read_file(ck, &len);
    assert_int_equal(len, 1024);
    work_path(f, ck, p, sizeof p);
    for (int slot = 0; slot < 2; slot++) {
        for (int byte = 0; byte < 60; byte++) {
            for (int bit = 0; bit < 8; bit++) {
                fresh_copy(f);
                img[slot * 512 + byte] ^= (unsigned char)(1u << bit);
                assert_int_equal(wt_write_file(p, img, len), 0);
                img[slot * 512 + byte] ^= (unsigned char)(1u << bit);
                cfg_for(&c, f->work);
                assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
                struct tr_wal_stats s;
                tr_wal_stats(w, &s);
                /* the older slot may win: more duplicates, never a loss */
                assert_true(s.frontier == 10 || s.frontier == 15);
                assert_int_equal(s.next_seq, 31);
                for (uint64_t want = s.frontier + 1; want <= 30; want++) {
                    assert_int_equal(tr_wal_read(w, &r), 0);
                    assert_int_equal(r.seq, want);
                    assert_true(wt_payload_ok(want, PMAX, r.data, r.len));
                }
                assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
                assert_int_equal(tr_wal_close(w), 0);
            }
        }
    }
    /* both slots unreadable: everything on disk is replayed, nothing lost */
    fresh_copy(f);
    memset(img, 0x5a, (size_t)len);
    assert_int_equal(wt_write_file(p, img, len), 0);
    cfg_for(&c, f->work);
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    struct tr_wal_stats s;
    tr_wal_stats(w, &s);
    assert_true(s.frontier <= 15);
    assert_int_equal(s.next_seq, 31);
    assert_int_equal(tr_wal_close(w), 0);
    free(img);
}

static void test_checkpoint_ahead_of_data(void **state) {
    struct fx *f = *state;
    build_ref(f, 10, 12, 0);
    fresh_copy(f);
    struct tr_wal_ckpt ck = {.gen = 99, .frontier = 1000, .next_seq = 1001, .hint_seg = 777, .hint_off = 5};
    unsigned char img[1024] = {0};
    tr_wal_ckpt_encode(img + 512, &ck);
    char p[4096];
    snprintf(p, sizeof p, "%s/checkpoint", f->work);
    assert_int_equal(wt_write_file(p, img, 1024), 0);
    struct tr_wal_config c;
    cfg_for(&c, f->work);
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    struct tr_wal_stats s;
    tr_wal_stats(w, &s);
    assert_int_equal(s.frontier, 1000);
    assert_int_equal(s.next_seq, 1001);   /* acknowledged numbers are never reused */
    struct tr_wal_record r;
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    writer_continues(w, 1001);
}

static void test_missing_middle_segment(void **state) {
    struct fx *f = *state;
    build_ref(f, 80, 82, 0);
    fresh_copy(f);
    /* drop the second segment */
    char p[4096];
    DIR *d = opendir(f->work);
    char names[64][256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".wal") && n < 64) snprintf(names[n++], 256, "%s", de->d_name);
    closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    assert_true(n >= 4);
    uint64_t lo = strtoull(names[1], NULL, 10), hi = strtoull(names[2], NULL, 10) - 1;
    snprintf(p, sizeof p, "%s/%s", f->work, names[1]);
    assert_int_equal(unlink(p), 0);
    struct tr_wal_config c;
    cfg_for(&c, f->work);
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    struct tr_wal_record r;
    for (uint64_t want = 1; want <= 82; want++) {
        if (want >= lo && want <= hi) continue;
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, want);
    }
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    struct tr_wal_stats s;
    tr_wal_stats(w, &s);
    assert_int_equal(s.corrupt_records, hi - lo + 1);
    writer_continues(w, 83);
}

static void test_damaged_segment_header(void **state) {
    struct fx *f = *state;
    build_ref(f, 40, 42, 0);
    char first[4096], p[4096];
    snprintf(first, sizeof first, "%s/%020d.wal", f->ref, 1);
    long len = 0;
    unsigned char *img = wt_read_file(first, &len);
    work_path(f, first, p, sizeof p);
    for (int byte = 0; byte < 32; byte++) {
        fresh_copy(f);
        img[byte] ^= 0x04;
        assert_int_equal(wt_write_file(p, img, len), 0);
        img[byte] ^= 0x04;
        struct tr_wal_stats s;
        struct tr_wal *w = open_and_check(f, 1, 42, 0, &s);   /* records carry their own CRCs */
        assert_int_equal(s.corrupt_records, 0);
        writer_continues(w, 43);
    }
    free(img);
}

/* A frame whose checksums hold but whose number is far ahead (what a fuzzer
 * or a stray write of the right bytes makes): corrupt. Recovery must not take
 * it for the last number, the reader must not allocate one entry per number
 * it skips, and the records around it come back. */
static void test_sequence_far_ahead_is_corruption(void **state) {
    struct fx *f = *state;
    build_ref(f, 20, 26, 0);
    long len = 0;
    unsigned char *img = wt_read_file(f->last, &len);
    long st_[64], en[64];
    uint64_t sq[64];
    int n = frames(img, len, st_, en, sq, 64);
    assert_int_equal(n, 6);
    assert_int_equal(sq[3], 24);
    char p[4096];
    work_path(f, f->last, p, sizeof p);
    fresh_copy(f);
    /* record 24 renumbered 24 + 2^20, both CRCs valid (the payload CRC does
     * not cover the number) */
    const uint64_t bogus = 24 + (1u << 20);
    tr_wal_put64(img + st_[3] + 4, bogus);
    tr_wal_put32(img + st_[3] + 12, tr_wal_crc32c(0, img + st_[3], 12));
    assert_int_equal(wt_write_file(p, img, len), 0);

    size_t before = tr_alloc_used();
    struct tr_wal_stats s;
    struct tr_wal *w = open_and_check(f, 1, 26, 24, &s);
    /* expected: a few KiB of ring; actual before the fix: 8 bytes per skipped number */
    assert_true(tr_alloc_used() - before < (1u << 20));
    assert_int_equal(s.bad_seq_frames, 1);
    assert_int_equal(s.corrupt_records, 1);   /* record 24 is lost */
    assert_int_equal(s.corrupt_bytes, (uint64_t)(en[3] - st_[3]));
    assert_int_equal(s.next_seq, 27);        /* not bogus + 1 */
    writer_continues(w, 27);

    /* quarantined: a copy of the frame's bytes is kept */
    char q[4096];
    snprintf(q, sizeof q, "%s/quarantine/%020d-%ld.bad", f->work, 21, st_[3]);
    assert_int_equal(wt_file_size(q), en[3] - st_[3]);
    free(img);
}

/* Renumber record k of a segment image as an older one (below the
 * segment's first number, header CRC made good): what a reused file shows
 * where a write of the current use did not reach the disk. */
static void as_older(unsigned char *img, long start) {
    tr_wal_put64(img + start + 4, 5);
    tr_wal_put32(img + start + 12, tr_wal_crc32c(0, img + start, 12));
}

/* A work copy of records 1..26 whose last segment (21..26) shows record
 * 21 + k as older content; the segment's path into p, its record frames'
 * starts into st_. */
static void older_at(struct fx *f, int k, long *st_, char *p, size_t n) {
    build_ref(f, 20, 26, 0);
    long len = 0, en[64];
    unsigned char *img = wt_read_file(f->last, &len);
    uint64_t sq[64];
    assert_int_equal(frames(img, len, st_, en, sq, 64), 6);
    assert_int_equal(sq[k], 21 + (uint64_t)k);
    as_older(img, st_[k]);
    work_path(f, f->last, p, n);
    fresh_copy(f);
    assert_int_equal(wt_write_file(p, img, len), 0);
    free(img);
}

/* Older content of a reused file in the middle of the last segment's
 * records (a write lost in a power cut, later unsynced ones on disk): the
 * data ends there. What follows was never durable (a hole is only ever in
 * what no fdatasync covered yet): cut from the file, so that nothing in it
 * is numbered at or above the numbers given out next. */
static void test_older_content_amid_records(void **state) {
    struct fx *f = *state;
    long st_[64];
    char p[4096];
    older_at(f, 2, st_, p, sizeof p);   /* 23 */
    struct tr_wal_stats s;
    struct tr_wal *w = open_and_check(f, 1, 22, 0, &s);
    assert_int_equal(s.corrupt_records, 0);
    assert_int_equal(s.corrupt_bytes, 0);
    assert_int_equal(s.bad_seq_frames, 0);
    assert_int_equal(s.torn_bytes, 0);
    assert_int_equal(s.next_seq, 23);
    assert_true(wt_file_size(p) <= st_[2]);   /* records 24..26 are not left in the file */
    writer_continues(w, 23);
}

/* Older content after the last record: where the data ends. Not torn and
 * not damage, but truncated, so the file holds nothing numbered at or above
 * the next number (record 26 is given out again, as after any crash that
 * lost it before it was durable). */
static void test_older_content_after_records(void **state) {
    struct fx *f = *state;
    long st_[64];
    char p[4096];
    older_at(f, 5, st_, p, sizeof p);   /* 26 */
    struct tr_wal_stats s;
    struct tr_wal *w = open_and_check(f, 1, 25, 0, &s);
    assert_int_equal(s.corrupt_records, 0);
    assert_int_equal(s.corrupt_bytes, 0);
    assert_int_equal(s.torn_bytes, 0);
    assert_int_equal(s.next_seq, 26);
    assert_true(wt_file_size(p) <= st_[5]);   /* cut at the older frame (or the marker before it) */
    writer_continues(w, 26);
}

/* An older segment holding a frame numbered at or past the log's next number
 * (plausible by its position, impossible by the log): corrupt too, or it
 * would be handed out ahead of records that follow it. */
static void test_sequence_past_the_log_end_in_older_segment(void **state) {
    struct fx *f = *state;
    build_ref(f, 20, 26, 0);
    char first[4096], p[4096];
    snprintf(first, sizeof first, "%s/%020d.wal", f->ref, 1);
    long len = 0;
    unsigned char *img = wt_read_file(first, &len);
    long st_[64], en[64];
    uint64_t sq[64];
    int n = frames(img, len, st_, en, sq, 64);
    assert_int_equal(n, 20);
    assert_int_equal(sq[19], 20);
    tr_wal_put64(img + st_[19] + 4, 30);   /* next_seq after recovery is 27 */
    tr_wal_put32(img + st_[19] + 12, tr_wal_crc32c(0, img + st_[19], 12));
    fresh_copy(f);
    work_path(f, first, p, sizeof p);
    assert_int_equal(wt_write_file(p, img, len), 0);
    struct tr_wal_stats s;
    struct tr_wal *w = open_and_check(f, 1, 26, 20, &s);   /* expected 1..19, 21..26; before: 30 */
    assert_int_equal(s.bad_seq_frames, 1);
    assert_int_equal(s.corrupt_records, 1);
    writer_continues(w, 27);
    free(img);
}

/* A wide run of lost numbers (here a checkpoint that says records up to
 * 2^20 + 12 were durable, the data ends at 12): stepped over without an entry
 * per number, once the records out before it are acknowledged. */
static void test_wide_gap_allocates_nothing_per_number(void **state) {
    struct fx *f = *state;
    build_ref(f, 10, 12, 0);
    fresh_copy(f);
    const uint64_t next = 13 + (1u << 20);
    struct tr_wal_ckpt ck = {.gen = 99, .frontier = 0, .next_seq = next, .hint_seg = 0, .hint_off = 0};
    unsigned char img[1024] = {0};
    tr_wal_ckpt_encode(img + 512, &ck);
    char p[4096];
    snprintf(p, sizeof p, "%s/checkpoint", f->work);
    assert_int_equal(wt_write_file(p, img, 1024), 0);
    size_t before = tr_alloc_used();
    struct tr_wal_config c;
    cfg_for(&c, f->work);
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    struct tr_wal_record r;
    for (uint64_t want = 1; want <= 12; want++) {
        assert_int_equal(tr_wal_read(w, &r), 0);
        assert_int_equal(r.seq, want);
    }
    /* 1..12 are out and unacknowledged: the gap waits for them */
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    assert_int_equal(tr_wal_ack_through(w, 12), 0);
    assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
    struct tr_wal_stats s;
    tr_wal_stats(w, &s);
    assert_true(tr_alloc_used() - before < (1u << 20));
    assert_int_equal(s.corrupt_records, next - 13);
    assert_int_equal(s.frontier, next - 1);
    assert_int_equal(s.records, 0);
    writer_continues(w, next);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truncate_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_every_bit_of_a_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_in_older_segment_found_by_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zeroed_region_and_huge_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_every_bit_of_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_ahead_of_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_middle_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_segment_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_far_ahead_is_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wide_gap_allocates_nothing_per_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_past_the_log_end_in_older_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_content_amid_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_content_after_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_held_skips_only_the_held_payload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
