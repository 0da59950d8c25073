/* test_event.c - event ids as Tremor 0.11 tracks them, events, insights.
 *
 * The expected tracked lists follow EventId::track and get_min/max_by_source
 * of tremor-pipeline 0.11 (see §4 of the semantics notes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/event.h"
#include "codec/json.h"

static size_t baseline;

static int setup(void **state) {
    (void)state;
    tr_alloc_fail_at(0, 0);
    baseline = tr_alloc_used();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tr_alloc_fail_at(0, 0);
    assert_int_equal(tr_alloc_used(), baseline);  /* expected: nothing leaked */
    return 0;
}

static void expect_tracked(const struct tr_ids *ids, const struct tr_tracked *want, uint32_t n) {
    assert_int_equal(ids->ntracked, n);
    const struct tr_tracked *list = tr_ids_list(ids);
    for (uint32_t i = 0; i < n; i++) {
        assert_true(list[i].source == want[i].source);
        assert_true(list[i].stream == want[i].stream);
        assert_true(list[i].min == want[i].min);
        assert_true(list[i].max == want[i].max);
    }
}

static uint64_t max_for(const struct tr_ids *ids, uint64_t source) {
    uint64_t v = 0;
    assert_int_equal(tr_ids_max_for(ids, source, &v), 0);
    return v;
}

static uint64_t min_for(const struct tr_ids *ids, uint64_t source) {
    uint64_t v = 0;
    assert_int_equal(tr_ids_min_for(ids, source, &v), 0);
    return v;
}

static void test_untracked(void **state) {
    (void)state;
    struct tr_ids ids;
    uint64_t v = 99;
    tr_ids_init(&ids, 1, 0, 7);
    assert_int_equal(max_for(&ids, 1), 7);  /* own id when nothing is tracked */
    assert_int_equal(min_for(&ids, 1), 7);
    assert_int_equal(tr_ids_max_for(&ids, 2, &v), TR_ENOTFOUND);
    assert_int_equal(tr_ids_min_for(&ids, 2, &v), TR_ENOTFOUND);
    assert_int_equal(v, 99);  /* untouched when absent */
    tr_ids_fini(&ids);
}

static void test_track_same_stream(void **state) {
    (void)state;
    struct tr_ids a, b, c;
    tr_ids_init(&a, 1, 0, 5);
    tr_ids_init(&b, 1, 0, 3);
    tr_ids_init(&c, 1, 0, 9);
    assert_int_equal(tr_ids_track(&a, &b), 0);
    /* own triple inserted on first track, then widened by b */
    expect_tracked(&a, (struct tr_tracked[]){{1, 0, 3, 5}}, 1);
    assert_int_equal(tr_ids_track(&a, &c), 0);
    expect_tracked(&a, (struct tr_tracked[]){{1, 0, 3, 9}}, 1);
    assert_int_equal(max_for(&a, 1), 9);
    assert_int_equal(min_for(&a, 1), 3);
    tr_ids_fini(&a);
    tr_ids_fini(&b);
    tr_ids_fini(&c);
}

/* The WAL case: the operator's own id (uid, 0, w) tracks the onramp event
 * so an ack for the WAL id can be mapped back to the onramp's id. */
static void test_track_other_source(void **state) {
    (void)state;
    const uint64_t wal = ((uint64_t)1 << 47) + 1;
    struct tr_ids w, onramp;
    tr_ids_init(&w, wal, 0, 12);
    tr_ids_init(&onramp, 1, 0, 4);
    assert_int_equal(tr_ids_track(&w, &onramp), 0);
    expect_tracked(&w, (struct tr_tracked[]){{1, 0, 4, 4}, {wal, 0, 12, 12}}, 2);
    assert_int_equal(max_for(&w, 1), 4);
    assert_int_equal(min_for(&w, 1), 4);
    assert_int_equal(max_for(&w, wal), 12);
    uint64_t v;
    assert_int_equal(tr_ids_max_for(&w, 3, &v), TR_ENOTFOUND);
    assert_int_equal(tr_ids_min_for(&w, 0, &v), TR_ENOTFOUND);
    assert_int_equal(tr_ids_max_for(&w, UINT64_MAX, &v), TR_ENOTFOUND);
    tr_ids_fini(&w);
    tr_ids_fini(&onramp);
}

static void test_track_ranges(void **state) {
    (void)state;
    struct tr_ids a, b, x;
    /* b already tracks a range of source 1 and one of source 3 */
    tr_ids_init(&b, 2, 0, 50);
    tr_ids_init(&x, 1, 0, 10);
    assert_int_equal(tr_ids_track(&b, &x), 0);
    x.id.event = 20;
    assert_int_equal(tr_ids_track(&b, &x), 0);
    x.id.source = 3;
    x.id.event = 1;
    assert_int_equal(tr_ids_track(&b, &x), 0);
    expect_tracked(&b, (struct tr_tracked[]){{1, 0, 10, 20}, {2, 0, 50, 50}, {3, 0, 1, 1}}, 3);

    tr_ids_init(&a, 1, 0, 25);
    assert_int_equal(tr_ids_track(&a, &b), 0);
    /* a's own (1,0,25) widens b's (1,0,10..20); b's own and other ranges added */
    expect_tracked(&a, (struct tr_tracked[]){{1, 0, 10, 25}, {2, 0, 50, 50}, {3, 0, 1, 1}}, 3);
    assert_int_equal(max_for(&a, 1), 25);
    assert_int_equal(min_for(&a, 1), 10);
    assert_int_equal(max_for(&a, 3), 1);

    /* tracking the same thing again changes nothing */
    assert_int_equal(tr_ids_track(&a, &b), 0);
    expect_tracked(&a, (struct tr_tracked[]){{1, 0, 10, 25}, {2, 0, 50, 50}, {3, 0, 1, 1}}, 3);
    tr_ids_fini(&a);
    tr_ids_fini(&b);
    tr_ids_fini(&x);
}

/* A WAL's event (own id 7/0/seq tracking its source's 1/0/n) at seq, n. */
static void wal_ids(struct tr_ids *ids, uint64_t seq, uint64_t n) {
    struct tr_ids src;
    tr_ids_init(ids, 7, 0, seq);
    tr_ids_init(&src, 1, 0, n);
    assert_int_equal(tr_ids_track(ids, &src), 0);
}

/* tr_ids_extend merges only an exact continuation: afterwards the run
 * refers to both and nothing between or beyond. */
static void test_extend_runs(void **state) {
    (void)state;
    struct tr_ids run, next;
    wal_ids(&run, 10, 100);
    wal_ids(&next, 11, 101);
    assert_int_equal(tr_ids_extend(&run, &next), 1);
    tr_ids_fini(&next);
    wal_ids(&next, 12, 102);
    assert_int_equal(tr_ids_extend(&run, &next), 1);
    tr_ids_fini(&next);
    expect_tracked(&run, (struct tr_tracked[]){{1, 0, 100, 102}, {7, 0, 10, 12}}, 2);
    assert_int_equal(run.id.event, 12);

    /* a gap in either range, a step back, another stream: unchanged */
    wal_ids(&next, 14, 103);
    assert_int_equal(tr_ids_extend(&run, &next), 0);
    tr_ids_fini(&next);
    wal_ids(&next, 13, 105);
    assert_int_equal(tr_ids_extend(&run, &next), 0);
    tr_ids_fini(&next);
    wal_ids(&next, 12, 102);
    assert_int_equal(tr_ids_extend(&run, &next), 0);
    tr_ids_fini(&next);
    wal_ids(&next, 13, 103);
    next.id.stream = 1;
    assert_int_equal(tr_ids_extend(&run, &next), 0);
    tr_ids_fini(&next);
    /* a different set of tracked pairs */
    tr_ids_init(&next, 7, 0, 13);
    struct tr_ids other;
    tr_ids_init(&other, 2, 0, 103);
    assert_int_equal(tr_ids_track(&next, &other), 0);
    assert_int_equal(tr_ids_extend(&run, &next), 0);
    tr_ids_fini(&next);
    tr_ids_fini(&other);
    expect_tracked(&run, (struct tr_tracked[]){{1, 0, 100, 102}, {7, 0, 10, 12}}, 2);

    /* ids with nothing tracked hold no range: never merged */
    struct tr_ids a, b;
    tr_ids_init(&a, 7, 0, 1);
    tr_ids_init(&b, 7, 0, 2);
    assert_int_equal(tr_ids_extend(&a, &b), 0);
    assert_int_equal(a.id.event, 1);
    tr_ids_fini(&run);
}

/* Several streams of one source: max picks the entry with the highest
 * stream id and min the lowest, like Tremor, not the extreme event id. */
static void test_streams(void **state) {
    (void)state;
    struct tr_ids a, s0, s2;
    tr_ids_init(&a, 9, 0, 0);
    tr_ids_init(&s0, 1, 0, 100);
    tr_ids_init(&s2, 1, 2, 5);
    assert_int_equal(tr_ids_track(&a, &s2), 0);
    assert_int_equal(tr_ids_track(&a, &s0), 0);
    expect_tracked(&a, (struct tr_tracked[]){{1, 0, 100, 100}, {1, 2, 5, 5}, {9, 0, 0, 0}}, 3);
    assert_int_equal(max_for(&a, 1), 5);   /* stream 2 */
    assert_int_equal(min_for(&a, 1), 100); /* stream 0 */
    /* an untracked id answers for its own source whatever the stream */
    struct tr_ids own;
    tr_ids_init(&own, 4, 7, 3);
    assert_int_equal(max_for(&own, 4), 3);
    tr_ids_fini(&own);
    tr_ids_fini(&a);
    tr_ids_fini(&s0);
    tr_ids_fini(&s2);
}

static void test_copy_and_failure(void **state) {
    (void)state;
    struct tr_ids a, b, c;
    tr_ids_init(&a, 5, 0, 1);
    tr_ids_init(&b, 6, 0, 2);
    assert_int_equal(tr_ids_track(&a, &b), 0);
    assert_int_equal(tr_ids_copy(&c, &a), 0);
    assert_ptr_not_equal(tr_ids_list(&c), tr_ids_list(&a));
    expect_tracked(&c, tr_ids_list(&a), a.ntracked);

    /* a failed track leaves the ids exactly as they were */
    struct tr_ids many;
    tr_ids_init(&many, 100, 0, 0);
    for (uint64_t s = 0; s < 40; s++) {
        struct tr_ids o;
        tr_ids_init(&o, 200 + s, 0, s);
        assert_int_equal(tr_ids_track(&many, &o), 0);
        tr_ids_fini(&o);
    }
    uint32_t before = c.ntracked;
    tr_alloc_fail_at(1, 1);
    assert_int_equal(tr_ids_track(&c, &many), -ENOMEM);
    struct tr_ids d;
    assert_int_equal(tr_ids_copy(&d, &many), -ENOMEM);
    tr_alloc_fail_at(0, 0);
    tr_ids_fini(&d);
    assert_int_equal(c.ntracked, before);
    expect_tracked(&c, tr_ids_list(&a), a.ntracked);
    tr_ids_fini(&many);
    tr_ids_fini(&a);
    tr_ids_fini(&b);
    tr_ids_fini(&c);
    tr_ids_fini(NULL);
}

/* A move hands over the tracked list itself (no allocation) and leaves
 * the source empty: finalising both frees the list once. */
static void test_move(void **state) {
    (void)state;
    struct tr_ids a, b, moved;
    tr_ids_init(&a, 5, 1, 10);
    tr_ids_init(&b, 6, 2, 20);
    assert_int_equal(tr_ids_track(&a, &b), 0);
    struct tr_ids third;
    tr_ids_init(&third, 7, 0, 30);
    assert_int_equal(tr_ids_track(&a, &third), 0);   /* three: past the inline room */
    tr_ids_fini(&third);
    const struct tr_tracked *list = tr_ids_list(&a);
    uint32_t n = a.ntracked;
    assert_int_equal(n, 3);
    size_t used = tr_alloc_used();
    tr_alloc_fail_at(1, 1);   /* a move allocates nothing */
    tr_ids_move(&moved, &a);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(tr_alloc_used(), used);
    assert_ptr_equal(tr_ids_list(&moved), list);
    assert_int_equal(moved.ntracked, n);
    assert_true(moved.id.source == 5 && moved.id.stream == 1 && moved.id.event == 10);
    assert_int_equal(max_for(&moved, 6), 20);
    assert_int_equal(max_for(&moved, 7), 30);
    assert_int_equal(a.ntracked, 0);
    assert_int_equal(a.cap, 0);
    assert_true(a.id.source == 0 && a.id.stream == 0 && a.id.event == 0);
    tr_ids_fini(&a);          /* frees nothing: the list is moved's */
    assert_int_equal(tr_alloc_used(), used);
    /* untracked ids move too, and moving an empty one gives an empty one */
    struct tr_ids plain, empty;
    tr_ids_move(&plain, &b);
    assert_int_equal(plain.id.event, 20);
    tr_ids_move(&empty, &b);
    assert_int_equal(empty.id.event, 0);
    assert_int_equal(empty.ntracked, 0);
    tr_ids_fini(&plain);
    tr_ids_fini(&empty);
    tr_ids_fini(&moved);
}

/* An id with its source's tracked (what a window operator emits) keeps both
 * ranges inline: tracking, copying and moving it allocate nothing. A third
 * pair moves them to the heap with nothing lost, a failure there leaves them
 * as they were, and merging ids whose pairs a full list already has (a run of
 * releases) needs no room beyond it. */
static void test_inline_ranges(void **state) {
    (void)state;
    struct tr_ids a, src, c, moved;
    tr_ids_init(&a, 9, 1, 100);
    tr_ids_init(&src, 3, 0, 7);
    size_t used = tr_alloc_used();
    tr_alloc_fail_at(1, 1);   /* any allocation fails */
    assert_int_equal(tr_ids_track(&a, &src), 0);
    assert_int_equal(tr_ids_copy(&c, &a), 0);
    tr_ids_move(&moved, &c);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(tr_alloc_used(), used);
    struct tr_tracked want[] = {{3, 0, 7, 7}, {9, 1, 100, 100}};
    expect_tracked(&a, want, 2);
    expect_tracked(&moved, want, 2);
    assert_int_equal(c.ntracked, 0);

    /* merge a later event of the same two pairs: still inline */
    struct tr_ids later, lsrc;
    tr_ids_init(&later, 9, 1, 101);
    tr_ids_init(&lsrc, 3, 0, 8);
    assert_int_equal(tr_ids_track(&later, &lsrc), 0);
    tr_alloc_fail_at(1, 1);
    assert_int_equal(tr_ids_track(&moved, &later), 0);
    tr_alloc_fail_at(0, 0);
    struct tr_tracked merged[] = {{3, 0, 7, 8}, {9, 1, 100, 101}};
    expect_tracked(&moved, merged, 2);

    /* a third pair cannot be added without memory: nothing changes */
    struct tr_ids other;
    tr_ids_init(&other, 4, 0, 50);
    tr_alloc_fail_at(1, 1);
    assert_int_equal(tr_ids_track(&moved, &other), -ENOMEM);
    tr_alloc_fail_at(0, 0);
    expect_tracked(&moved, merged, 2);
    /* with memory it goes to the heap, in order */
    assert_int_equal(tr_ids_track(&moved, &other), 0);
    struct tr_tracked three[] = {{3, 0, 7, 8}, {4, 0, 50, 50}, {9, 1, 100, 101}};
    expect_tracked(&moved, three, 3);
    assert_true(tr_alloc_used() > used);
    /* the heap list now has room: merging known pairs allocates nothing */
    tr_alloc_fail_at(1, 1);
    assert_int_equal(tr_ids_track(&moved, &later), 0);
    assert_int_equal(tr_ids_track(&moved, &other), 0);
    tr_alloc_fail_at(0, 0);
    expect_tracked(&moved, three, 3);
    tr_ids_fini(&moved);
    assert_int_equal(tr_alloc_used(), used);
    tr_ids_fini(&a);
    tr_ids_fini(&src);
    tr_ids_fini(&c);
    tr_ids_fini(&later);
    tr_ids_fini(&lsrc);
    tr_ids_fini(&other);
}

static void test_event_lifetime(void **state) {
    (void)state;
    struct tr_event ev, cp;
    tr_value v;
    assert_int_equal(tr_v_cstr("payload", &v), 0);
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 42), 0);
    assert_int_equal(ev.meta.type, TR_REC);  /* meta defaults to {} */
    assert_int_equal(tr_rec_len(&ev.meta), 0);
    assert_true(ev.ingest_ns == 42);
    assert_false(ev.transactional);
    tr_ids_init(&ev.ids, 1, 0, 3);
    ev.transactional = true;
    assert_int_equal(tr_event_copy(&cp, &ev), 0);
    assert_ptr_equal(cp.value.as.s, ev.value.as.s);  /* shared by reference */
    assert_int_equal(ev.value.as.s->refs, 2);
    assert_true(cp.ids.id.event == 3);
    assert_true(cp.transactional);
    tr_event_fini(&cp);
    assert_int_equal(ev.value.as.s->refs, 1);
    tr_event_fini(&ev);
    tr_event_fini(NULL);

    /* meta must be a record; both values are released on refusal */
    tr_value m;
    assert_int_equal(tr_v_cstr("x", &v), 0);
    assert_int_equal(tr_v_cstr("not a record", &m), 0);
    assert_int_equal(tr_event_init(&ev, v, m, 0), -EINVAL);
    tr_event_fini(&ev);
    /* the default meta is the shared {}: it needs no memory */
    assert_int_equal(tr_v_cstr("x", &v), 0);
    tr_alloc_fail_at(1, 1);
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 0), 0);
    tr_alloc_fail_at(0, 0);
    assert_ptr_equal(ev.meta.as.r, tr_v_rec_empty().as.r);
    tr_event_fini(&ev);
}

/* Events without metadata share one static {}: taking and dropping it
 * changes nothing, a write goes to a private copy, and the shared one stays
 * empty wherever it was held (an event, a copy, inside another record). */
static void test_shared_empty_meta(void **state) {
    (void)state;
    struct tr_event a, b, cp;
    assert_int_equal(tr_event_init(&a, tr_v_int(1), tr_v_null(), 0), 0);
    assert_int_equal(tr_event_init(&b, tr_v_int(2), tr_v_null(), 0), 0);
    const struct tr_rec *empty = tr_v_rec_empty().as.r;
    assert_ptr_equal(a.meta.as.r, empty);
    assert_ptr_equal(b.meta.as.r, empty);
    assert_int_equal(tr_event_copy(&cp, &a), 0);
    tr_event_fini(&cp);
    assert_true(empty->refs == TR_REFS_STATIC);

    /* $foo = 1 on a: a private record; b and the shared one keep {} */
    assert_int_equal(tr_value_mut(&a.meta), 0);
    assert_ptr_not_equal(a.meta.as.r, empty);
    assert_int_equal(a.meta.as.r->refs, 1);
    assert_int_equal(tr_rec_set(&a.meta, "foo", 3, tr_v_int(1)), 0);
    assert_int_equal(tr_rec_len(&a.meta), 1);
    assert_int_equal(tr_rec_len(&b.meta), 0);
    assert_int_equal(empty->len, 0);

    /* held inside a record that is then freed (generic::batch keeps metas) */
    tr_value r;
    assert_int_equal(tr_v_rec(1, &r), 0);
    assert_int_equal(tr_rec_set(&r, "meta", 4, tr_value_ref(b.meta)), 0);
    tr_value_unref(r);
    assert_true(empty->refs == TR_REFS_STATIC);
    assert_int_equal(empty->len, 0);

    /* a deep copy is private too */
    tr_value c;
    assert_int_equal(tr_value_clone(&b.meta, &c), 0);
    assert_ptr_not_equal(c.as.r, empty);
    assert_int_equal(c.as.r->refs, 1);
    assert_true(tr_value_eq(&c, &b.meta));
    tr_value_unref(c);
    tr_event_fini(&a);
    tr_event_fini(&b);
    assert_true(empty->refs == TR_REFS_STATIC);
}

static void test_insight_and_clock(void **state) {
    (void)state;
    struct tr_insight in;
    tr_insight_init(&in, TR_CB_ACK);
    assert_int_equal(in.cb, TR_CB_ACK);
    assert_int_equal(in.ids.ntracked, 0);
    tr_insight_fini(&in);
    assert_string_equal(tr_cb_name(TR_CB_NONE), "none");
    assert_string_equal(tr_cb_name(TR_CB_ACK), "ack");
    assert_string_equal(tr_cb_name(TR_CB_FAIL), "fail");
    assert_string_equal(tr_cb_name(TR_CB_TRIGGER), "trigger");
    assert_string_equal(tr_cb_name(TR_CB_RESTORE), "restore");
    uint64_t t = tr_now_ns();
    assert_true(t > 1600000000ULL * 1000000000ULL);  /* expected: after Sept 2020 */
}

/* An event decoded from canonical text keeps it, for whoever would encode
 * it again, exactly as long as its value is that record: a change copies
 * the record first (the kept reference makes it shared), so the text is
 * then not used. */
static void decoded(const char *text, struct tr_event *ev) {
    tr_value v;
    int canon = -1;
    assert_int_equal(tr_json_decode_canon(text, strlen(text), &v, &canon, NULL), 0);
    assert_int_equal(canon, 1);
    assert_int_equal(tr_event_init(ev, v, tr_v_null(), 1), 0);
    tr_event_keep_raw(ev, tr_str_new(text, strlen(text)));
    assert_true(tr_event_raw_current(ev));
}

static void test_event_raw_text(void **state) {
    (void)state;
    static const char text[] = "{\"a\":1,\"b\":{\"c\":[1,2]}}";
    struct tr_event ev, copy;

    /* unchanged: the value becomes the text, byte for byte */
    decoded(text, &ev);
    assert_int_equal(tr_event_copy(&copy, &ev), 0);
    assert_true(tr_event_raw_current(&copy));   /* a copy shares the text */
    tr_event_use_raw(&ev);
    assert_int_equal(ev.value.type, TR_RAWJSON);
    assert_memory_equal(ev.value.as.s->data, text, sizeof text - 1);
    assert_null(ev.raw);
    assert_true(tr_event_raw_current(&copy));   /* the copy still has it */
    tr_event_fini(&copy);
    tr_event_fini(&ev);

    /* a field set at the top: the record is copied, the text not used */
    decoded(text, &ev);
    assert_int_equal(tr_value_mut(&ev.value), 0);
    assert_false(tr_event_raw_current(&ev));
    assert_int_equal(tr_rec_set(&ev.value, "a", 1, tr_v_int(2)), 0);
    tr_event_use_raw(&ev);
    assert_int_equal(ev.value.type, TR_REC);
    assert_null(ev.raw);
    tr_event_fini(&ev);

    /* a nested change goes through the top, which is copied the same way */
    decoded(text, &ev);
    assert_int_equal(tr_value_mut(&ev.value), 0);
    tr_value *b = tr_rec_get(&ev.value, "b", 1);
    assert_non_null(b);
    assert_int_equal(tr_value_mut(b), 0);
    assert_int_equal(tr_rec_set(b, "c", 1, tr_v_null()), 0);
    assert_false(tr_event_raw_current(&ev));
    tr_event_fini(&ev);

    /* a value replaced by another: not current; a new event with the same
     * record inherits the text, one with another record does not */
    decoded(text, &ev);
    struct tr_event other;
    assert_int_equal(tr_event_init(&other, tr_value_ref(ev.value), tr_v_null(), 1), 0);
    tr_event_inherit_raw(&other, &ev);
    assert_true(tr_event_raw_current(&other));
    tr_event_fini(&other);
    tr_value rec;
    assert_int_equal(tr_v_rec(1, &rec), 0);
    assert_int_equal(tr_event_init(&other, rec, tr_v_null(), 1), 0);
    tr_event_inherit_raw(&other, &ev);
    assert_null(other.raw);
    tr_event_fini(&other);
    tr_value_unref(ev.value);
    assert_int_equal(tr_v_str("x", 1, &ev.value), 0);
    assert_false(tr_event_raw_current(&ev));
    tr_event_drop_raw(&ev);
    assert_null(ev.raw);
    tr_event_fini(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_untracked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_same_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_other_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extend_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_and_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_empty_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insight_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_raw_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
