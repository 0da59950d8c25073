/* test_wal_model.c - random operation sequences checked against a reference model.
 *
 * The model is a few numbers and a set: next number, frontier, acks above the
 * frontier, the read horizon and the cursor. Each step draws an operation
 * (append, read, ack, ack_through, rewind, sync, clean reopen, refused append
 * at the capacity limit) and checks the WAL's answer and its stats against the
 * model. Small segments make rolls and reclaims happen all the time. Seeds are
 * fixed so a failure replays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "wal/wal.h"
#include "wal_test_util.h"

#define PMAX 300
#define MAXSEQ 20000
#define MAXREC 60

struct model {
    uint64_t next, frontier, horizon, cur;
    unsigned char acked[MAXSEQ];   /* above the frontier */
    uint64_t nacked;
};

static void m_advance(struct model *m) {
    while (m->frontier < m->horizon && m->acked[m->frontier + 1]) {
        m->frontier++;
        m->nacked--;
    }
    if (m->cur <= m->frontier) m->cur = m->frontier + 1;
}

/* The record the next read should return, 0 for none (all durable after a sync). */
static uint64_t m_next_read(const struct model *m) {
    for (uint64_t s = m->cur > m->frontier ? m->cur : m->frontier + 1; s < m->next; s++)
        if (!(s <= m->horizon && m->acked[s])) return s;
    return 0;
}

static struct tr_wal *m_open(const char *dir) {
    struct tr_wal_config c;
    wt_config(&c, dir);
    c.sync = TR_WAL_SYNC_NONE;
    c.segment_bytes = 2048;
    c.max_record_bytes = 512;
    c.max_records = MAXREC;
    struct tr_wal *w = NULL;
    assert_int_equal(tr_wal_open(&c, &w, NULL), 0);
    return w;
}

static void check_stats(struct tr_wal *w, const struct model *m) {
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    if (st.frontier != m->frontier || st.next_seq != m->next)
        print_error("frontier %lu/%lu next %lu/%lu\n", (unsigned long)st.frontier, (unsigned long)m->frontier,
                    (unsigned long)st.next_seq, (unsigned long)m->next);
    assert_int_equal(st.frontier, m->frontier);
    assert_int_equal(st.next_seq, m->next);
    assert_int_equal(st.records, m->next - 1 - m->frontier - m->nacked);
    assert_int_equal(st.corrupt_records, 0);
}

static void run_model(unsigned seed) {
    char *dir = wt_mkdtemp();
    static struct model m;
    memset(&m, 0, sizeof m);
    m.next = 1;
    m.cur = 1;
    struct tr_wal *w = m_open(dir);
    unsigned r = seed;
    unsigned char buf[PMAX];
    int synced = 1;   /* everything appended is durable (NONE + tr_wal_sync) */
    for (int step = 0; step < 3000 && m.next < MAXSEQ - 100; step++) {
        int op = (int)(rand_r(&r) % 100);
        if (op < 30) {   /* append a few */
            int k = 1 + (int)(rand_r(&r) % 6);
            for (int i = 0; i < k; i++) {
                uint64_t seq = 0;
                int rc = tr_wal_append(w, buf, wt_payload(m.next, PMAX, buf), &seq);
                int full = m.next - 1 - m.frontier - m.nacked + 1 > MAXREC;
                assert_int_equal(rc, full ? TR_EFULL : 0);
                if (!rc) {
                    assert_int_equal(seq, m.next);
                    m.next++;
                    synced = 0;
                }
            }
        } else if (op < 60) {   /* read a few */
            if (!synced) {
                assert_int_equal(tr_wal_sync(w), 0);
                synced = 1;
            }
            int k = 1 + (int)(rand_r(&r) % 8);
            for (int i = 0; i < k; i++) {
                uint64_t want = m_next_read(&m);
                struct tr_wal_record rec;
                int rc = tr_wal_read(w, &rec);
                if (!want) {
                    assert_int_equal(rc, -EAGAIN);
                    break;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(rec.seq, want);
                assert_true(wt_payload_ok(want, PMAX, rec.data, rec.len));
                if (want > m.horizon) m.horizon = want;
                m.cur = want + 1;
            }
        } else if (op < 80) {   /* ack one, anywhere (some invalid) */
            uint64_t s = (uint64_t)rand_r(&r) % (m.next + 2);
            int rc = tr_wal_ack(w, s);
            if (s <= m.frontier) {
                assert_int_equal(rc, 0);
            } else if (s > m.horizon) {
                assert_int_equal(rc, -EINVAL);
            } else {
                assert_int_equal(rc, 0);
                if (!m.acked[s]) {
                    m.acked[s] = 1;
                    m.nacked++;
                }
                m_advance(&m);
            }
        } else if (op < 80 + 2) {   /* ack a run, anywhere (some past what is out) */
            uint64_t lo = (uint64_t)rand_r(&r) % (m.next + 2), hi = lo + (uint64_t)(rand_r(&r) % 6);
            int rc = tr_wal_ack_range(w, lo, hi);
            uint64_t out = m.horizon > m.frontier ? m.horizon : m.frontier;
            assert_int_equal(rc, hi > out ? -EINVAL : 0);
            for (uint64_t x = lo > m.frontier ? lo : m.frontier + 1; x <= hi && x <= out; x++)
                if (!m.acked[x]) {
                    m.acked[x] = 1;
                    m.nacked++;
                }
            m_advance(&m);
        } else if (op < 84) {   /* ack through */
            uint64_t s = m.frontier + (uint64_t)(rand_r(&r) % 10);
            int rc = tr_wal_ack_through(w, s);
            if (s > m.horizon && s > m.frontier) {
                assert_int_equal(rc, -EINVAL);
            } else {
                assert_int_equal(rc, 0);
                for (uint64_t x = m.frontier + 1; x <= s; x++)
                    if (!m.acked[x]) {
                        m.acked[x] = 1;
                        m.nacked++;
                    }
                m_advance(&m);
            }
        } else if (op < 94) {   /* rewind (a fail) */
            uint64_t s = m.frontier > 3 ? m.frontier - 3 + (uint64_t)(rand_r(&r) % 12) : (uint64_t)(rand_r(&r) % 12);
            int rc = tr_wal_rewind(w, s);
            uint64_t cur = m.cur > m.frontier ? m.cur : m.frontier + 1;
            if (s <= m.frontier) {
                assert_int_equal(rc, 0);
                m.cur = m.frontier + 1;
            } else if (s > cur) {
                assert_int_equal(rc, -EINVAL);
            } else {
                assert_int_equal(rc, 0);
                m.cur = s;
            }
        } else if (op < 97) {
            assert_int_equal(tr_wal_sync(w), 0);
            synced = 1;
        } else {   /* clean restart: acks above the frontier are forgotten */
            assert_int_equal(tr_wal_close(w), 0);
            w = m_open(dir);
            for (uint64_t x = m.frontier + 1; x <= m.horizon; x++) m.acked[x] = 0;
            m.nacked = 0;
            m.horizon = m.frontier;
            m.cur = m.frontier + 1;
            synced = 1;
        }
        check_stats(w, &m);
    }
    /* space: only segments holding unacknowledged records (plus the one
     * being written and the kept ones) are left once everything is
     * acknowledged */
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_record rec;
    while (tr_wal_read(w, &rec) == 0) m.horizon = rec.seq;
    if (m.horizon > m.frontier) assert_int_equal(tr_wal_ack_through(w, m.horizon), 0);
    assert_int_equal(tr_wal_sync(w), 0);
    struct tr_wal_stats fin;
    tr_wal_stats(w, &fin);
    assert_true(fin.spares <= 2);   /* acknowledged files kept for reuse (the default) */
    assert_true(wt_count_segments(dir) <= 1 + (int)fin.spares);
    assert_int_equal(tr_wal_close(w), 0);
    wt_rmrf(dir);
    free(dir);
}

static void test_model_random_sequences(void **state) {
    (void)state;
    tr_log_set_level(TR_LOG_ERROR);
    for (unsigned seed = 1; seed <= 12; seed++) run_model(seed * 7919u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
