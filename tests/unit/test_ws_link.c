/* test_ws_link.c - response pairing of the linked ws offramp.
 *
 * A fake host records every call (emit out/err, ack, fail) in order, so
 * each test states the exact sequence the runtime would see: a response
 * before its ack, held acks released by responses or by the connection's
 * end, errors before fails, responses of failed messages dropped in place.
 */
#include "codec/codec.h"
#include "connectors/conn.h"
#include "connectors/ws_link.h"
#include "core/value.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

struct fake {
    struct tr_offramp_host h;   /* first: the callbacks cast back */
    char log[4096];
};

static void add(struct fake *f, const char *fmt, ...) {
    size_t n = strlen(f->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->log + n, sizeof f->log - n, fmt, ap);
    va_end(ap);
}

static void f_ack(struct tr_offramp_host *h, uint64_t t) { add((struct fake *)h, "ack %llu;", (unsigned long long)t); }
static void f_fail(struct tr_offramp_host *h, uint64_t t) { add((struct fake *)h, "fail %llu;", (unsigned long long)t); }
static void f_none(struct tr_offramp_host *h) { (void)h; }

/* out: "out T <value> <binary> <correlation>"; err: "err T <error> <correlation>" */
static int f_emit(struct tr_offramp_host *h, uint64_t t, bool err, tr_value v, tr_value m) {
    struct fake *f = (struct fake *)h;
    tr_value *corr = tr_rec_get_cstr(&m, "correlation");
    long long c = corr && corr->type == TR_I64 ? (long long)corr->as.i : -1;
    if (err) {
        tr_value *e = tr_rec_get_cstr(&v, "error");
        tr_value *me = tr_rec_get_cstr(&m, "error");
        assert_non_null(e);
        assert_non_null(me);
        add(f, "err %llu %.40s %lld;", (unsigned long long)t, e->as.s->data, c);
    } else {
        tr_value *b = tr_rec_get_cstr(&m, "binary");
        tr_value *n = v.type == TR_REC ? tr_rec_get_cstr(&v, "n") : NULL;
        assert_non_null(b);
        add(f, "out %llu n=%lld %s %lld;", (unsigned long long)t, n ? (long long)n->as.i : -1,
            b->as.b ? "bin" : "text", c);
    }
    tr_value_unref(v);
    tr_value_unref(m);
    return 0;
}

static const struct tr_offramp_host_ops fake_ops = {
    .ack = f_ack, .fail = f_fail, .trigger = f_none, .restore = f_none, .shutdown = f_none, .emit = f_emit,
};

struct fx {
    struct fake f;
    struct tr_ws_link l;
};

static void setup(struct fx *x) {
    memset(x, 0, sizeof *x);
    x->f.h.ops = &fake_ops;
    tr_ws_link_init(&x->l, &x->f.h, tr_codec_find("json"), "ws://up/");
}

static tr_value meta_corr(int64_t c) {
    tr_value m;
    assert_int_equal(tr_v_rec(1, &m), 0);
    assert_int_equal(tr_rec_set(&m, "correlation", 11, tr_v_int(c)), 0);
    return m;
}

static void recv_str(struct tr_ws_link *l, const char *s, bool bin) {
    assert_int_equal(tr_ws_link_received(l, (const uint8_t *)s, strlen(s), bin), 0);
}

/* An ack that comes before the response waits for it; responses pair in
 * send order and carry $binary and $correlation. */
static void test_ack_waits_for_response(void **state) {
    (void)state;
    struct fx x;
    setup(&x);
    tr_value m1 = meta_corr(11), m2 = meta_corr(12);
    assert_int_equal(tr_ws_link_sent(&x.l, 1, &m1), 0);
    assert_int_equal(tr_ws_link_sent(&x.l, 2, &m2), 0);
    assert_int_equal(tr_ws_link_sent(&x.l, 3, NULL), 0);
    tr_ws_link_answer(&x.l, 1, true);   /* peer receipt: held */
    tr_ws_link_answer(&x.l, 2, true);
    assert_string_equal(x.f.log, "");
    recv_str(&x.l, "{\"n\":1}", false);
    recv_str(&x.l, "{\"n\":2}", true);
    tr_ws_link_deliver(&x.l);
    assert_string_equal(x.f.log, "out 1 n=1 text 11;ack 1;out 2 n=2 bin 12;ack 2;");
    /* response first, then the ack goes straight through */
    x.f.log[0] = 0;
    recv_str(&x.l, "{\"n\":3}", false);
    tr_ws_link_deliver(&x.l);
    tr_ws_link_answer(&x.l, 3, true);
    assert_string_equal(x.f.log, "out 3 n=3 text -1;ack 3;");
    tr_value_unref(m1);
    tr_value_unref(m2);
    tr_ws_link_fini(&x.l);
}

/* A fail before the response: an error event, then the fail; the response
 * that still comes for it is dropped, the next one pairs with the next
 * message. A response nobody waits for is dropped and counted. */
static void test_fail_keeps_its_place(void **state) {
    (void)state;
    struct fx x;
    setup(&x);
    tr_value m1 = meta_corr(1);
    assert_int_equal(tr_ws_link_sent(&x.l, 1, &m1), 0);
    assert_int_equal(tr_ws_link_sent(&x.l, 2, NULL), 0);
    tr_ws_link_answer(&x.l, 1, false);
    assert_string_equal(x.f.log, "err 1 Error sending event to server ws://up/. 1;fail 1;");
    x.f.log[0] = 0;
    recv_str(&x.l, "{\"n\":1}", false);
    recv_str(&x.l, "{\"n\":2}", false);
    recv_str(&x.l, "{\"n\":3}", false);
    tr_ws_link_deliver(&x.l);
    assert_string_equal(x.f.log, "out 2 n=2 text -1;");
    assert_int_equal(x.l.unsolicited, 1);
    tr_ws_link_answer(&x.l, 2, true);
    assert_string_equal(x.f.log, "out 2 n=2 text -1;ack 2;");
    assert_int_equal(tr_ring_len(&x.l.wait), 0);
    tr_value_unref(m1);
    tr_ws_link_fini(&x.l);
}

/* The connection ends: what waits gets an error, held acks go out after
 * it; later answers for those go straight through. Undecodable responses
 * are errors. */
static void test_down_and_bad_response(void **state) {
    (void)state;
    struct fx x;
    setup(&x);
    for (uint64_t t = 1; t <= 3; t++) assert_int_equal(tr_ws_link_sent(&x.l, t, NULL), 0);
    recv_str(&x.l, "{not json", false);
    tr_ws_link_deliver(&x.l);
    assert_string_equal(x.f.log, "err 1 Error deserializing Response message (co -1;");
    x.f.log[0] = 0;
    tr_ws_link_answer(&x.l, 1, true);
    tr_ws_link_answer(&x.l, 2, true);   /* held */
    tr_ws_link_down(&x.l, "closed by peer");
    tr_ws_link_answer(&x.l, 3, false);
    assert_string_equal(x.f.log, "ack 1;err 2 Error while receiving reply from server  -1;ack 2;"
                                 "err 3 Error while receiving reply from server  -1;fail 3;");
    assert_int_equal(tr_ring_len(&x.l.wait), 0);
    tr_ws_link_fini(&x.l);
}

/* Refused sends and bounds. */
static void test_refuse_and_bounds(void **state) {
    (void)state;
    struct fx x;
    setup(&x);
    tr_value m = meta_corr(5);
    tr_ws_link_refuse(&x.l, 9, &m, "No connection available for ws://up/.");
    assert_string_equal(x.f.log, "err 9 No connection available for ws://up/. 5;fail 9;");
    for (uint64_t t = 0; t < TR_WS_LINK_MAX_WAITING; t++) assert_int_equal(tr_ws_link_sent(&x.l, t, NULL), 0);
    assert_int_equal(tr_ws_link_sent(&x.l, 1u << 20, NULL), TR_EFULL);
    for (size_t i = 0; i < TR_WS_LINK_MAX_INBOX; i++) recv_str(&x.l, "1", false);
    assert_int_equal(tr_ws_link_received(&x.l, (const uint8_t *)"1", 1, false), TR_EFULL);
    tr_value_unref(m);
    tr_ws_link_fini(&x.l);   /* frees what waits, answers nothing */
    /* a message taken back (its frame never went out) waits for nothing */
    setup(&x);
    assert_int_equal(tr_ws_link_sent(&x.l, 1, NULL), 0);
    assert_int_equal(tr_ws_link_sent(&x.l, 2, NULL), 0);
    tr_ws_link_unsend(&x.l);
    tr_ws_link_refuse(&x.l, 2, NULL, "queue");
    recv_str(&x.l, "{\"n\":1}", false);
    tr_ws_link_deliver(&x.l);
    tr_ws_link_answer(&x.l, 1, true);
    assert_string_equal(x.f.log, "err 2 queue -1;fail 2;out 1 n=1 text -1;ack 1;");
    assert_int_equal(tr_ring_len(&x.l.wait), 0);
    tr_ws_link_fini(&x.l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_waits_for_response),
        cmocka_unit_test(test_fail_keeps_its_place),
        cmocka_unit_test(test_down_and_bad_response),
        cmocka_unit_test(test_refuse_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
