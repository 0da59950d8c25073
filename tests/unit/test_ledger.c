/* test_ledger.c - the message ledger (connectors/ledger.h): messages settle in order however
 * their events' acks arrive, an empty message waits for those before it, a
 * failed event fails its message, forgotten connections are not named, the
 * bit ring grows and wraps over many ids; and the ack payload's encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "connectors/hop.h"
#include "connectors/ledger.h"

/* What settle reported, in order. */
struct seen {
    void *conn[64];
    enum tr_ledger_outcome out[64];
    size_t n;
};

static void note_settled(void *arg, void *conn, enum tr_ledger_outcome o) {
    struct seen *s = arg;
    assert_true(s->n < 64);
    s->conn[s->n] = conn;
    s->out[s->n++] = o;
}

static int A, B;   /* two connections */

static void in_order_however_acked(void **state) {
    (void)state;
    struct tr_ledger l;
    struct seen s = {0};
    tr_ledger_init(&l);
    assert_int_equal(tr_ledger_note(&l, &A, 10, 11), 0);   /* A1: id 10 */
    assert_int_equal(tr_ledger_note(&l, &B, 11, 13), 0);   /* B1: ids 11, 12 */
    assert_int_equal(tr_ledger_note(&l, &A, 13, 14), 0);   /* A2: id 13 */
    tr_ledger_ack(&l, 13, 13);
    tr_ledger_ack(&l, 12, 12);
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 0);   /* 10 is not acked */
    tr_ledger_ack(&l, 10, 10);
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 1);   /* A1; B1 waits for 11 */
    assert_ptr_equal(s.conn[0], &A);
    tr_ledger_ack(&l, 11, 11);
    tr_ledger_ack(&l, 11, 11);   /* twice: harmless */
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 2);
    assert_ptr_equal(s.conn[1], &B);
    assert_ptr_equal(s.conn[2], &A);
    for (size_t i = 0; i < 3; i++) assert_int_equal(s.out[i], TR_LEDGER_ACKED);
    assert_int_equal(tr_ledger_pending(&l), 0);
    tr_ledger_fini(&l);
}

static void empty_message_waits_for_those_before(void **state) {
    (void)state;
    struct tr_ledger l;
    struct seen s = {0};
    tr_ledger_init(&l);
    assert_int_equal(tr_ledger_note(&l, &A, 0, 2), 0);
    assert_int_equal(tr_ledger_note(&l, &A, 2, 2), 0);   /* decoded to nothing */
    assert_int_equal(tr_ledger_note(&l, &A, 2, 3), 0);
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 0);
    tr_ledger_ack(&l, 0, 1);   /* one ack for a batch of both */
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 2);
    tr_ledger_fail(&l, 2);   /* id 2 is the third message's, not the empty one's */
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 1);
    assert_int_equal(s.out[0], TR_LEDGER_ACKED);
    assert_int_equal(s.out[1], TR_LEDGER_ACKED);
    assert_int_equal(s.out[2], TR_LEDGER_FAILED);
    tr_ledger_fini(&l);
}

static void failed_event_fails_its_message_only(void **state) {
    (void)state;
    struct tr_ledger l;
    struct seen s = {0};
    tr_ledger_init(&l);
    assert_int_equal(tr_ledger_note(&l, &A, 5, 8), 0);
    assert_int_equal(tr_ledger_note(&l, &B, 8, 9), 0);
    tr_ledger_fail(&l, 6);
    tr_ledger_fail(&l, 100);   /* no such message */
    tr_ledger_ack(&l, 8, 8);
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 2);
    assert_int_equal(s.out[0], TR_LEDGER_FAILED);
    assert_ptr_equal(s.conn[0], &A);
    assert_int_equal(s.out[1], TR_LEDGER_ACKED);
    tr_ledger_fini(&l);
}

static void forgotten_connection_is_not_named(void **state) {
    (void)state;
    struct tr_ledger l;
    struct seen s = {0};
    tr_ledger_init(&l);
    assert_int_equal(tr_ledger_note(&l, &A, 1, 2), 0);
    assert_int_equal(tr_ledger_note(&l, &B, 2, 3), 0);
    tr_ledger_forget(&l, &A);
    tr_ledger_ack(&l, 1, 2);
    assert_int_equal(tr_ledger_settle(&l, note_settled, &s), 2);   /* both leave */
    assert_int_equal(s.n, 1);                                   /* only B is named */
    assert_ptr_equal(s.conn[0], &B);
    tr_ledger_fini(&l);
}

static void ids_must_not_go_down(void **state) {
    (void)state;
    struct tr_ledger l;
    tr_ledger_init(&l);
    assert_int_equal(tr_ledger_note(&l, &A, 10, 12), 0);
    assert_int_equal(tr_ledger_note(&l, &A, 11, 13), -EINVAL);
    assert_int_equal(tr_ledger_note(&l, &A, 14, 13), -EINVAL);
    assert_int_equal(tr_ledger_pending(&l), 1);
    /* acks outside what is noted change nothing */
    tr_ledger_ack(&l, 0, 9);
    tr_ledger_ack(&l, 12, 1000);
    assert_int_equal(tr_ledger_settle(&l, NULL, NULL), 0);
    tr_ledger_fini(&l);
}

/* Many ids in flight, acked newest first, then a long run that wraps the
 * bit ring many times with acks lagging behind. */
static void grows_and_wraps(void **state) {
    (void)state;
    struct tr_ledger l;
    tr_ledger_init(&l);
    uint64_t id = 3;
    for (int i = 0; i < 5000; i++, id += 2) assert_int_equal(tr_ledger_note(&l, &A, id, id + 2), 0);
    for (uint64_t k = id; k-- > 3;) {
        tr_ledger_ack(&l, k, k);
        if (k > 3) assert_int_equal(tr_ledger_settle(&l, NULL, NULL), 0);
    }
    assert_int_equal(tr_ledger_settle(&l, NULL, NULL), 5000);
    size_t settled = 0;
    uint64_t acked = id;
    for (int i = 0; i < 100000; i++, id++) {
        assert_int_equal(tr_ledger_note(&l, &A, id, id + 1), 0);
        if (id - acked >= 100) {   /* acks lag 100 behind */
            tr_ledger_ack(&l, acked, acked);
            acked++;
            settled += tr_ledger_settle(&l, NULL, NULL);
        }
    }
    tr_ledger_ack(&l, acked, id);
    settled += tr_ledger_settle(&l, NULL, NULL);
    assert_int_equal(settled, 100000);
    assert_int_equal(tr_ledger_pending(&l), 0);
    tr_ledger_fini(&l);
}

static void ack_payload(void **state) {
    (void)state;
    uint8_t p[TR_HOP_ACK_LEN];
    uint64_t n = 0;
    tr_hop_ack_encode(0x0102030405060708ULL, p);
    assert_int_equal(p[0], 'A');
    assert_int_equal(p[1], 1);
    assert_int_equal(p[8], 8);
    assert_int_equal(tr_hop_ack_decode(p, sizeof p, &n), 1);
    assert_true(n == 0x0102030405060708ULL);
    assert_int_equal(tr_hop_ack_decode(p, 8, &n), 0);   /* a ping's answer */
    p[0] = 'B';
    assert_int_equal(tr_hop_ack_decode(p, sizeof p, &n), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order_however_acked),
        cmocka_unit_test(empty_message_waits_for_those_before),
        cmocka_unit_test(failed_event_fails_its_message_only),
        cmocka_unit_test(forgotten_connection_is_not_named),
        cmocka_unit_test(ids_must_not_go_down),
        cmocka_unit_test(grows_and_wraps),
        cmocka_unit_test(ack_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
