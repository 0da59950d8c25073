/* test_lang_hostile.c - the interpreter under events that make it fail:
 * every error path must give back what it built (the allocation counter of
 * core/alloc.h returns to its baseline after each failing event; under
 * `make unit-asan` LeakSanitizer checks the same at exit), and values that
 * a script nests one level deeper per event must end in a located runtime
 * error, never in a stack overflow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"
#include "lang/query.h"
#include "lang/script.h"
#include "pipeline/pipeline.h"

static tr_value json(const char *s) {
    tr_value v;
    assert_int_equal(0, tr_json_decode(s, strlen(s), &v, NULL));
    return v;
}

/* An event {"msg": <n bytes>, "n": i} without "host". */
static tr_value event_without_host(size_t n, int i) {
    tr_value ev, msg;
    assert_int_equal(0, tr_v_rec(2, &ev));
    char *text = tr_malloc(n);
    assert_non_null(text);
    memset(text, 'x', n);
    assert_int_equal(0, tr_v_str(text, n, &msg));
    tr_free(text);
    assert_int_equal(0, tr_rec_set(&ev, "msg", 3, msg));
    assert_int_equal(0, tr_rec_set(&ev, "n", 1, tr_v_int(i)));
    return ev;
}

struct sink {
    size_t n;
};

static int count_out(void *arg, const char *port, struct tr_event *ev) {
    (void)port;
    ((struct sink *)arg)->n++;
    tr_event_fini(ev);
    return 0;
}

/* The query of the report: a field of the record literal fails on every
 * event. Before the fix each event leaked the half-built record, which
 * holds a reference to the event's 10 KB message. */
static void failing_literal_field_in_select_frees_everything(void **st) {
    (void)st;
    const char *src = "select merge event of {\"copy\": event.msg, \"host\": event.host} end from in into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_query_compile("q.trickle", src, strlen(src), &q, &d)) fail_msg("%s", d.msg);
    const struct tr_qnode *sel = tr_query_node(q, 0);
    assert_int_equal(TR_QN_SELECT, sel->kind);
    struct sink s = {0};
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    size_t base = tr_alloc_used();
    for (int i = 0; i < 2000; i++) {
        struct tr_event ev;
        assert_int_equal(0, tr_event_init(&ev, event_without_host(10000, i), tr_v_null(), (uint64_t)i));
        assert_int_equal(TR_ERUNTIME, tr_select_run(sel->select, &ctx, &ev, count_out, &s, &d));
        assert_non_null(strstr(d.msg, "host"));
        /* the select consumed the event: nothing of it may stay behind */
        if (tr_alloc_used() != base)
            fail_msg("event %d: expected %zu bytes in use after a failed select, got %zu", i, base,
                     tr_alloc_used());
    }
    assert_int_equal(0, s.n);
    if (tr_alloc_used() != base) fail_msg("expected %zu bytes in use, got %zu", base, tr_alloc_used());
    tr_query_destroy(q);
}

/* Each script fails on its event in a different construct after it built
 * something. Running it many times must not move the allocation counter. */
static const char *const failing_scripts[] = {
    /* record and array literals, nested */
    "{\"copy\": event.msg, \"host\": event.host}",
    "[event.msg, event.host]",
    "{\"a\": [1, {\"b\": event.msg, \"c\": [event.msg, event.nope]}]}",
    /* string interpolation */
    "\"#{event.msg} and #{event.nope}\"",
    /* arguments of a built-in, and a built-in failing half-way */
    "string::len({\"x\": event.msg, \"y\": event.nope})",
    "record::from_array([[\"a\", event.msg], [\"b\", event.msg], \"bad\"])",
    "array::zip([event.msg, event.msg], [1])",
    /* patch and merge */
    "patch event of insert \"x\" => {\"m\": event.msg, \"n\": event.nope} end",
    "patch event of insert \"msg\" => event.msg end",
    "merge event of {\"m\": event.msg, \"n\": event.nope} end",
    "patch event of merge \"msg\" => {\"a\": 1} end",
    /* match: in a guard, in a case body, in a record pattern test */
    "match event of case %{ present msg } when {\"m\": event.msg, \"n\": event.nope} == 1 => 1 default => 2 end",
    "match event of case r = %{ present msg } => [r, event.nope] default => 2 end",
    "match event of case %{ msg == event.nope } => 1 default => 2 end",
    "match [event.msg, event.msg] of case a = %[ _, \"x\" ] => 1 default => [event.msg, event.nope] end",
    /* comprehensions */
    "[for event.list of case (i, e) => {\"e\": e, \"m\": event.msg, \"n\": event.nope} end]",
    /* user functions: a failing body, a failing recur argument */
    "fn f(x) with {\"x\": x, \"n\": event.nope} end;\nf(event.msg)",
    "fn g(x, n) with match n of case 0 => event.nope default => recur([x, event.msg], n - 1) end end;\ng(event.msg, 5)",
    "fn v(x, ...) with [x, args, event.nope] end;\nv(event.msg, event.msg, event.msg)",
    NULL,
};

static void failing_scripts_free_everything(void **st) {
    (void)st;
    int leaking = 0;
    for (size_t k = 0; failing_scripts[k]; k++) {
        char src[1024];
        snprintf(src, sizeof src, "use std::string;\nuse std::record;\nuse std::array;\n%s", failing_scripts[k]);
        struct tr_script *s;
        struct tr_diag d;
        tr_diag_clear(&d);
        if (tr_script_compile("t.tremor", src, strlen(src), &s, &d))
            fail_msg("compile of %s failed: %s (%d:%d)", src, d.msg, d.line, d.col);
        size_t base = tr_alloc_used();
        for (int i = 0; i < 50; i++) {
            tr_value ev = json("{\"msg\":\"0123456789abcdef0123456789abcdef\",\"list\":[1,2,3]}"), meta,
                     state = tr_v_null();
            assert_int_equal(0, tr_v_rec(0, &meta));
            enum tr_script_outcome oc;
            const char *port;
            struct tr_lang_ctx ctx = {.instance = "tremor"};
            int rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
            if (rc != TR_ERUNTIME) fail_msg("script %s: expected a runtime error, got %d", src, rc);
            tr_value_unref(ev);
            tr_value_unref(meta);
            tr_value_unref(state);
        }
        if (tr_alloc_used() != base) {
            print_message("script %zu (%s): expected %zu bytes in use after 50 failing runs, got %zu\n", k,
                          failing_scripts[k], base, tr_alloc_used());
            leaking++;
        }
        tr_script_destroy(s);
    }
    assert_int_equal(0, leaking);
}

/* Every allocation of a run failing in turn: each run ends in a clean
 * error or a result, and gives back everything either way. */
static void allocation_failures_free_everything(void **st) {
    (void)st;
    static const char *const srcs[] = {
        "{\"a\": [event.msg, {\"b\": event.msg}], \"c\": \"#{event.msg} #{event.list}\"}",
        "merge event of {\"m\": {\"x\": [event.msg]}, \"list\": null} end",
        "patch event of insert \"x\" => [event.msg], merge \"y\" => {\"z\": 1}, upsert \"msg\" => 2 end",
        "[for event.list of case (i, e) => {\"i\": i, \"e\": [e, event.msg]} end]",
        "fn f(x, n) with match n of case 0 => [x] default => recur({\"x\": x}, n - 1) end end;\nf(event.msg, 3)",
        "let state.a.b = [event.msg];\nmatch event of case r = %{ present msg } => [r, state] default => 0 end",
        NULL,
    };
    for (size_t k = 0; srcs[k]; k++) {
        struct tr_script *s;
        struct tr_diag d;
        tr_diag_clear(&d);
        if (tr_script_compile("t.tremor", srcs[k], strlen(srcs[k]), &s, &d))
            fail_msg("compile of %s failed: %s", srcs[k], d.msg);
        int done = 0;
        for (uint64_t nth = 1; !done && nth < 10000; nth++) {
            size_t base = tr_alloc_used();
            tr_value ev = json("{\"msg\":\"0123456789abcdef0123456789abcdef\",\"list\":[1,2,3]}"), meta, state;
            assert_int_equal(0, tr_v_rec(0, &meta));
            assert_int_equal(0, tr_v_rec(0, &state));
            enum tr_script_outcome oc;
            const char *port;
            struct tr_lang_ctx ctx = {.instance = "tremor"};
            tr_alloc_fail_at(nth, 0);
            int rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
            tr_alloc_fail_at(0, 0);
            if (rc == 0) done = 1;
            else if (rc != -ENOMEM && rc != TR_ERUNTIME)
                fail_msg("script %zu, allocation %llu failing: rc %d", k, (unsigned long long)nth, rc);
            tr_value_unref(ev);
            tr_value_unref(meta);
            tr_value_unref(state);
            /* what the run allocated is gone with its event and state */
            if (tr_alloc_used() != base)
                fail_msg("script %zu, allocation %llu failing: %zu bytes in use, expected %zu", k,
                         (unsigned long long)nth, tr_alloc_used(), base);
        }
        assert_true(done);
        tr_script_destroy(s);
    }
}

/* --- values nested one level deeper per event --- */

struct deep_run {
    const char *src;
    int events;
    int ok, errors;       /* runs that emitted / failed */
    int first_error;      /* index of the first failing event */
    char msg[1024];
    int line, col;
};

static void *deep_thread(void *arg) {
    struct deep_run *r = arg;
    struct tr_script *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_script_compile("deep.tremor", r->src, strlen(r->src), &s, &d)) {
        snprintf(r->msg, sizeof r->msg, "compile: %.900s", d.msg);
        return NULL;
    }
    tr_value state = tr_v_null();
    r->first_error = -1;
    for (int i = 0; i < r->events; i++) {
        tr_value ev = tr_v_int(i), meta;
        if (tr_v_rec(0, &meta)) break;
        enum tr_script_outcome oc;
        const char *port;
        struct tr_lang_ctx ctx = {.instance = "tremor"};
        int rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
        if (rc == 0) {
            r->ok++;
        } else {
            if (r->first_error < 0) {
                r->first_error = i;
                snprintf(r->msg, sizeof r->msg, "%s", d.msg);
                r->line = d.line;
                r->col = d.col;
            }
            r->errors++;
        }
        tr_value_unref(ev);
        tr_value_unref(meta);
    }
    tr_value_unref(state);
    tr_script_destroy(s);
    return NULL;
}

/* Run r on a thread with a small stack (256 KiB): enough for values at
 * the depth limit, far too little for the unbounded recursion that a value
 * thousands of levels deep used to cause (the process would die here). */
static void run_small_stack(struct deep_run *r) {
    pthread_attr_t a;
    pthread_t t;
    assert_int_equal(0, pthread_attr_init(&a));
    assert_int_equal(0, pthread_attr_setstacksize(&a, 256 * 1024));
    assert_int_equal(0, pthread_create(&t, &a, deep_thread, r));
    assert_int_equal(0, pthread_join(t, NULL));
    pthread_attr_destroy(&a);
}

static void state_nested_per_event_stops_at_the_limit(void **st) {
    (void)st;
    static const char *const srcs[] = {
        /* equality, merge and array::contains each walk the whole depth */
        "let prev = state;\nlet state = {\"s\": state};\nstate == prev",
        "let prev = state;\nlet state = {\"s\": state};\nmerge state of {\"s\": prev} end",
        "use std::array; let prev = state;\nlet state = [state];\narray::contains([prev, 1], state)",
        /* built through a path assignment instead of a literal */
        "let prev = state; let state = match state of case null => {\"a\": {}} default => state end;\nlet state.a.b = {\"p\": prev};\nstate == prev",
    };
    for (size_t k = 0; k < sizeof srcs / sizeof srcs[0]; k++) {
        size_t base = tr_alloc_used();
        struct deep_run r = {.src = srcs[k], .events = 20000};
        run_small_stack(&r);
        if (r.first_error < 0) fail_msg("script %zu: no error in %d events (%s)", k, r.events, r.msg);
        /* state starts as null (depth 0); every event adds one to three
         * levels until one more would pass TR_VALUE_MAX_DEPTH */
        if (r.first_error < TR_VALUE_MAX_DEPTH / 3 - 2 || r.first_error > TR_VALUE_MAX_DEPTH)
            fail_msg("script %zu: first error at event %d: %s", k, r.first_error, r.msg);
        if (!strstr(r.msg, "nested too deeply")) fail_msg("script %zu: message %s", k, r.msg);
        assert_int_equal(2, r.line);  /* located at the statement that nests */
        assert_true(r.col >= 1);
        /* from then on every event fails the same way; the state stays usable */
        assert_int_equal(r.events - r.first_error, r.errors);
        assert_int_equal(base, tr_alloc_used());
    }
}

/* The same through a query's `create script`, as `server run` runs it: the
 * events that would nest too deep go to the script's err port, counted,
 * and the pipeline keeps running. */
struct deep_pipe {
    int events;
    size_t out, err;
    struct tr_pipeline_stats st;
    int rc;
};

static void count_port(void *arg, struct tr_event *ev) {
    (*(size_t *)arg)++;
    tr_event_fini(ev);
}

static void *deep_pipe_thread(void *arg) {
    struct deep_pipe *r = arg;
    const char *src =
        "define script nest\n"
        "script\n"
        "  let prev = state;\n"
        "  let state = {\"s\": state};\n"
        "  state == prev\n"
        "end;\n"
        "create script nest;\n"
        "select event from in into nest;\n"
        "select event from nest into out;\n"
        "select event from nest/err into err;\n";
    struct tr_query *q;
    struct tr_diag d;
    tr_diag_clear(&d);
    if ((r->rc = tr_query_compile("deep.trickle", src, strlen(src), &q, &d))) return NULL;
    struct tr_pipeline *p = NULL;
    struct tr_pipeline_opts o = {.id = "deep", .file = "deep.trickle", .server_instance = "tremor"};
    if ((r->rc = tr_pipeline_create(q, &o, &p, &d))) return NULL;
    tr_pipeline_connect_output(p, "out", count_port, &r->out);
    tr_pipeline_connect_output(p, "err", count_port, &r->err);
    for (int i = 0; i < r->events; i++) {
        struct tr_event ev;
        if ((r->rc = tr_event_init(&ev, tr_v_int(i), tr_v_null(), (uint64_t)i))) break;
        if ((r->rc = tr_pipeline_push(p, "in", &ev))) break;
    }
    tr_pipeline_stats(p, &r->st);
    tr_pipeline_destroy(p);
    return NULL;
}

static void script_operator_state_nested_per_event(void **st) {
    (void)st;
    tr_log_set_level(TR_LOG_ERROR);  /* one warning per failing event otherwise */
    size_t base = tr_alloc_used();
    struct deep_pipe r = {.events = 20000};
    pthread_attr_t a;
    pthread_t t;
    assert_int_equal(0, pthread_attr_init(&a));
    assert_int_equal(0, pthread_attr_setstacksize(&a, 512 * 1024));
    assert_int_equal(0, pthread_create(&t, &a, deep_pipe_thread, &r));
    assert_int_equal(0, pthread_join(t, NULL));
    pthread_attr_destroy(&a);
    assert_int_equal(0, r.rc);
    /* state (null, depth 0) gains a level per event up to the limit */
    assert_int_equal(TR_VALUE_MAX_DEPTH, r.out);
    assert_int_equal(r.events - TR_VALUE_MAX_DEPTH, r.err);
    assert_int_equal(r.events - TR_VALUE_MAX_DEPTH, r.st.errors);
    assert_int_equal(base, tr_alloc_used());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failing_literal_field_in_select_frees_everything),
        cmocka_unit_test(failing_scripts_free_everything),
        cmocka_unit_test(allocation_failures_free_everything),
        cmocka_unit_test(state_nested_per_event_stops_at_the_limit),
        cmocka_unit_test(script_operator_state_nested_per_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
