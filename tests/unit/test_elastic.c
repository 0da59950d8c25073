/* test_elastic.c - the elastic offramp against a _bulk peer on the same loop
 * (api/http.h) that answers each document line by what it contains: per
 * item acks and fails (an event with one failed item is failed), linked
 * responses on out/err, retries of 503 and of bodies that are not _bulk
 * responses (a 400 is not retried), round robin past a dead node, the
 * window closing the breaker with a bounded queue behind it, close failing
 * what is in flight and what waits, config errors. Every token must be
 * answered exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "api/http.h"
#include "codec/json.h"
#include "connectors/conn.h"
#include "core/error.h"
#include "core/event.h"
#include "fake_conn_host.h"

#include <cmocka.h>

extern const struct tr_offramp_ops tr_elastic_offramp;

struct peer {
    struct tr_http *http;
    int port;
    int requests;
    int fail_first;               /* the first N get 503 */
    int garbage_first;            /* the next N get a 200 that is not a _bulk response */
    int deferred;
    char last_body[1024];
    char last_path[64];
    char last_ctype[64];
};

/* One item per action line; a source line holding "bad" fails its item. */
static void on_req(void *arg, struct tr_http_req *r) {
    struct peer *p = arg;
    p->requests++;
    snprintf(p->last_body, sizeof p->last_body, "%.*s", (int)r->body_len, r->body);
    snprintf(p->last_path, sizeof p->last_path, "%s", r->path);
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, "content-type") == 0)
            snprintf(p->last_ctype, sizeof p->last_ctype, "%s", r->headers[i].value);
    if (p->requests <= p->fail_first) {
        tr_http_respond(r, 503, NULL, NULL, 0, NULL);
        return;
    }
    if (p->requests <= p->fail_first + p->garbage_first) {
        tr_http_respond(r, 200, "application/json", "{\"took\":1}", 10, NULL);
        return;
    }
    if (strstr(p->last_body, "reject")) {
        static const char e[] = "{\"error\":{\"type\":\"illegal_argument_exception\"},\"status\":400}";
        tr_http_respond(r, 400, "application/json", e, sizeof e - 1, NULL);
        return;
    }
    if (strstr(p->last_body, "slow")) {
        tr_http_defer(r);
        p->deferred++;
        return;
    }
    char out[4096];
    size_t n = (size_t)snprintf(out, sizeof out, "{\"took\":1,\"errors\":false,\"items\":[");
    const char *s = p->last_body;
    int k = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        if (!nl) break;
        bool del = strncmp(s, "{\"delete\"", 9) == 0;
        const char *src = del ? NULL : nl + 1;
        const char *end = src ? strchr(src, '\n') : nl;
        bool bad = src && end && memmem(src, (size_t)(end - src), "bad", 3);
        if (bad)
            n += (size_t)snprintf(out + n, sizeof out - n, "%s{\"index\":{\"_index\":\"i\",\"_type\":\"_doc\","
                                  "\"_id\":\"%d\",\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\","
                                  "\"reason\":\"bad\"}}}", k ? "," : "", k);
        else
            n += (size_t)snprintf(out + n, sizeof out - n, "%s{\"%s\":{\"_index\":\"i\",\"_type\":\"_doc\","
                                  "\"_id\":\"%d\",\"_version\":1,\"result\":\"created\",\"status\":201}}",
                                  k ? "," : "", del ? "delete" : "index", k);
        k++;
        s = end ? end + 1 : nl + 1;
    }
    n += (size_t)snprintf(out + n, sizeof out - n, "]}");
    tr_http_respond(r, 200, "application/json", out, n, NULL);
}

/* the offramp host, plus linked responses recorded as JSON text */
struct host {
    struct fake_out out;          /* first */
    char emitted[8][512];
    bool emitted_err[8];
    int nemitted;
};

static int host_emit(struct tr_offramp_host *h, uint64_t token, bool err, tr_value v, tr_value m) {
    (void)token;
    struct host *x = (struct host *)h;
    if (x->nemitted < 8) {
        tr_value both;
        struct tr_buf b;
        tr_buf_init(&b);
        if (tr_v_rec(2, &both) == 0) {
            tr_rec_set(&both, "value", 5, tr_value_ref(v));
            tr_rec_set(&both, "meta", 4, tr_value_ref(m));
            tr_json_encode(&both, &b);
            tr_value_unref(both);
        }
        snprintf(x->emitted[x->nemitted], sizeof x->emitted[0], "%.*s", (int)b.len, b.data);
        x->emitted_err[x->nemitted++] = err;
        tr_buf_fini(&b);
    }
    tr_value_unref(v);
    tr_value_unref(m);
    return 0;
}

static const struct tr_offramp_host_ops host_ops = {fake_out_ack, fake_out_fail, fake_out_trigger,
                                                    fake_out_restore, fake_out_shutdown,
                                                    fake_out_release, host_emit, fake_out_exit};

struct fix {
    uv_loop_t loop;
    struct peer peer;
    struct host host;
    void *self;
    bool closed;
};

/* a port nothing listens on: bind one, note it, close it */
static int dead_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* nodes: "P" the peer, "D" a dead port, in that order */
static int create(struct fix *f, const char *nodes, bool linked, void (*more)(struct fake_spec *)) {
    struct fake_spec sp;
    fake_spec_init(&sp, "elastic", "es");
    tr_value arr, v;
    assert_int_equal(tr_v_arr(2, &arr), 0);
    int dead = dead_port();
    for (const char *c = nodes; *c; c++) {
        char url[96];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", *c == 'P' ? f->peer.port : dead);
        assert_int_equal(tr_v_cstr(url, &v), 0);
        assert_int_equal(tr_arr_push(&arr, v), 0);
    }
    assert_int_equal(tr_rec_set(&sp.cfg, "nodes", 5, arr), 0);
    fake_spec_int(&sp, "backoff_ms", 5);
    fake_spec_int(&sp, "max_backoff_ms", 20);
    sp.s.linked = linked;
    if (more) more(&sp);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_elastic_offramp.create(&sp.s, &f->host.out.h, &f->self, &d);
    fake_spec_fini(&sp);
    if (!rc) rc = tr_elastic_offramp.start(f->self);
    return rc;
}

static void send_json(struct fix *f, uint64_t token, const char *value, const char *meta) {
    tr_value v, m;
    assert_int_equal(tr_json_decode(value, strlen(value), &v, NULL), 0);
    assert_int_equal(tr_json_decode(meta, strlen(meta), &m, NULL), 0);
    struct tr_ids ids;
    tr_ids_init(&ids, 1, 0, token);
    struct tr_out_msg msg = {.token = token, .transactional = true, .data = "", .len = 0, .meta = &m,
                             .value = &v, .ids = &ids};
    tr_elastic_offramp.send(f->self, &msg);
    tr_ids_fini(&ids);
    tr_value_unref(v);
    tr_value_unref(m);
}

#define META "{\"elastic\":{\"_index\":\"i\"},\"correlation\":\"c\"}"
#define EL(v) "{\"data\":{\"value\":" v ",\"meta\":" META ",\"ingest_ns\":1,\"kind\":null,\"is_batch\":false}}"

static bool answered_1(void *a) { return ((struct fix *)a)->host.out.nanswers >= 1; }
static bool answered_2(void *a) { return ((struct fix *)a)->host.out.nanswers >= 2; }
static bool answered_3(void *a) { return ((struct fix *)a)->host.out.nanswers >= 3; }
static bool restored(void *a) { return ((struct fix *)a)->host.out.restores >= 1; }
static bool deferred_1(void *a) { return ((struct fix *)a)->peer.deferred >= 1; }
static void on_closed(void *a) { ((struct fix *)a)->closed = true; }
static void on_peer_closed(void *a) { (void)a; }
static bool closed(void *a) { return ((struct fix *)a)->closed; }

static void setup_fix(struct fix *f) {
    memset(f, 0, sizeof *f);
    uv_loop_init(&f->loop);
    fake_out_init(&f->host.out, &f->loop, 16);
    f->host.out.h.ops = &host_ops;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    struct tr_http_opts o;
    tr_http_opts_default(&o);
    struct tr_diag d;
    assert_int_equal(tr_http_open(&f->loop, (struct sockaddr *)&a, &o, on_req, &f->peer, &f->peer.http, &d), 0);
    f->peer.port = tr_http_port(f->peer.http);
}

static void teardown_fix(struct fix *f) {
    if (f->self) {
        tr_elastic_offramp.close(f->self, on_closed, f);
        assert_true(fake_run_until(&f->loop, closed, f));
    }
    tr_http_close(f->peer.http, on_peer_closed, NULL);
    assert_false(f->host.out.twice);
    fake_out_fini(&f->host.out);
    assert_int_equal(fake_drain_and_close(&f->loop), 0);
}

static void test_items_decide_ack_or_fail(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "P", true, NULL), 0);
    send_json(&f, 0, "{\"a\":1}", META);
    assert_true(fake_run_until(&f.loop, answered_1, &f));
    assert_int_equal(f.host.out.acked[0], 1);
    assert_string_equal(f.peer.last_path, "/_bulk");
    assert_string_equal(f.peer.last_ctype, "application/x-ndjson");
    assert_string_equal(f.peer.last_body, "{\"index\":{\"_index\":\"i\"}}\n{\"a\":1}\n");
    assert_int_equal(f.host.nemitted, 1);
    assert_false(f.host.emitted_err[0]);
    assert_string_equal(f.host.emitted[0],
                        "{\"value\":{\"source\":{\"event_id\":\"1:0:0\",\"origin\":null},\"payload\":{\"a\":1},"
                        "\"success\":true},\"meta\":{\"elastic\":{\"_id\":\"0\",\"_index\":\"i\",\"_type\":\"_doc\","
                        "\"id\":\"0\",\"index\":\"i\",\"doc_type\":\"_doc\",\"version\":1},\"correlation\":\"c\"}}");
    /* a batch of three with one bad document: one request, the event fails */
    send_json(&f, 1, "[" EL("{\"b\":1}") "," EL("\"bad\"") "," EL("{\"b\":3}") "]", "{}");
    assert_true(fake_run_until(&f.loop, answered_2, &f));
    assert_int_equal(f.host.out.failed[1], 1);
    assert_int_equal(f.peer.requests, 2);
    assert_int_equal(f.host.nemitted, 4);
    assert_false(f.host.emitted_err[1]);
    assert_true(f.host.emitted_err[2]);
    assert_false(f.host.emitted_err[3]);
    assert_string_equal(f.host.emitted[2],
                        "{\"value\":{\"source\":{\"event_id\":\"1:0:1\",\"origin\":null},\"payload\":\"bad\","
                        "\"error\":{\"type\":\"mapper_parsing_exception\",\"reason\":\"bad\"},\"success\":false},"
                        "\"meta\":{\"elastic\":{\"_id\":\"1\",\"_index\":\"i\",\"_type\":\"_doc\",\"id\":\"1\","
                        "\"index\":\"i\",\"doc_type\":\"_doc\"},\"correlation\":\"c\"}}");
    teardown_fix(&f);
}

static void test_invalid_payload_never_sent(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "P", true, NULL), 0);
    send_json(&f, 0, "{\"a\":1}", "{\"elastic\":{\"_index\":\"i\",\"action\":\"upsert\"},\"correlation\":7}");
    assert_int_equal(f.host.out.failed[0], 1);   /* at once: it never will be a request */
    assert_int_equal(f.peer.requests, 0);
    assert_int_equal(f.host.nemitted, 1);
    assert_true(f.host.emitted_err[0]);
    assert_non_null(strstr(f.host.emitted[0], "\"error\":\"Invalid ES Payload: invalid ES operation"));
    assert_non_null(strstr(f.host.emitted[0], "\"correlation\":7"));
    teardown_fix(&f);
}

static void test_retries_503_and_bad_bodies(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    f.peer.fail_first = 1;
    f.peer.garbage_first = 1;
    assert_int_equal(create(&f, "P", false, NULL), 0);
    send_json(&f, 0, "{\"a\":1}", META);
    assert_true(fake_run_until(&f.loop, answered_1, &f));
    assert_int_equal(f.host.out.acked[0], 1);
    assert_int_equal(f.peer.requests, 3);
    /* more failures than retries: failed */
    f.peer.requests = 0;
    f.peer.fail_first = 10;
    send_json(&f, 1, "{\"a\":1}", META);
    assert_true(fake_run_until(&f.loop, answered_2, &f));
    assert_int_equal(f.host.out.failed[1], 1);
    assert_int_equal(f.peer.requests, 4);   /* first try + max_retries 3 (default) */
    /* a 400 for the whole request is not retried: it cannot get better */
    f.peer.requests = 0;
    f.peer.fail_first = f.peer.garbage_first = 0;
    send_json(&f, 2, "{\"reject\":1}", META);
    assert_true(fake_run_until(&f.loop, answered_3, &f));
    assert_int_equal(f.host.out.failed[2], 1);
    assert_int_equal(f.peer.requests, 1);
    teardown_fix(&f);
}

static void breaker_cfg(struct fake_spec *sp) {
    fake_spec_int(sp, "max_retries", 1);
    fake_spec_int(sp, "breaker_threshold", 2);
    fake_spec_int(sp, "breaker_ms", 50);
}

static void test_dead_node_breaker_and_round_robin(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "D", false, breaker_cfg), 0);
    send_json(&f, 0, "{}", META);
    assert_true(fake_run_until(&f.loop, answered_1, &f));
    assert_int_equal(f.host.out.failed[0], 1);
    assert_int_equal(f.host.out.triggers, 1);   /* two failed attempts in a row */
    assert_false(tr_elastic_offramp.is_active(f.self));
    assert_true(fake_run_until(&f.loop, restored, &f));
    assert_true(tr_elastic_offramp.is_active(f.self));
    tr_elastic_offramp.close(f.self, on_closed, &f);
    assert_true(fake_run_until(&f.loop, closed, &f));
    f.self = NULL;
    f.closed = false;
    /* dead node first, the peer second: the retry goes to the next node */
    assert_int_equal(create(&f, "DP", false, breaker_cfg), 0);
    send_json(&f, 1, "{}", META);
    assert_true(fake_run_until(&f.loop, answered_2, &f));
    assert_int_equal(f.host.out.acked[1], 1);
    teardown_fix(&f);
}

static void one(struct fake_spec *sp) {
    fake_spec_int(sp, "concurrency", 1);
    fake_spec_int(sp, "max_queued", 1);
}

static bool answered_4(void *a) { return ((struct fix *)a)->host.out.nanswers >= 4; }

static void test_window_queue_and_close(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "P", false, one), 0);
    send_json(&f, 0, "{}", META);
    assert_int_equal(f.host.out.triggers, 1);   /* the window is full */
    assert_false(tr_elastic_offramp.is_active(f.self));
    send_json(&f, 1, "{}", META);                /* waits for the slot */
    send_json(&f, 2, "{}", META);                /* past max_queued: failed at once (0.11's overload) */
    assert_int_equal(f.host.out.failed[2], 1);
    assert_true(fake_run_until(&f.loop, answered_3, &f));
    assert_int_equal(f.host.out.acked[0], 1);
    assert_int_equal(f.host.out.acked[1], 1);
    assert_int_equal(f.peer.requests, 2);
    assert_int_equal(f.host.out.restores, 1);
    assert_true(tr_elastic_offramp.is_active(f.self));
    /* close fails what is in flight and what waits */
    send_json(&f, 3, "{\"slow\":1}", META);
    send_json(&f, 4, "{}", META);
    assert_true(fake_run_until(&f.loop, deferred_1, &f));
    assert_int_equal(f.host.out.nanswers, 3);
    tr_elastic_offramp.close(f.self, on_closed, &f);
    f.self = NULL;
    assert_true(fake_run_until(&f.loop, closed, &f));
    assert_true(answered_4(&f));
    assert_int_equal(f.host.out.failed[3], 1);
    assert_int_equal(f.host.out.failed[4], 1);
    teardown_fix(&f);
}

static void test_config_errors(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    struct fake_spec sp;
    struct tr_diag d;
    void *self = NULL;
    fake_spec_init(&sp, "elastic", "es");
    tr_diag_clear(&d);
    assert_int_equal(tr_elastic_offramp.create(&sp.s, &f.host.out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.nodes"));
    fake_spec_fini(&sp);
    fake_spec_init(&sp, "elastic", "es");
    tr_value arr, v;
    assert_int_equal(tr_v_arr(1, &arr), 0);
    assert_int_equal(tr_v_cstr("ftp://x/", &v), 0);
    assert_int_equal(tr_arr_push(&arr, v), 0);
    assert_int_equal(tr_rec_set(&sp.cfg, "nodes", 5, arr), 0);
    assert_int_equal(tr_elastic_offramp.create(&sp.s, &f.host.out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "must be an http:// or https:// URL"));
    fake_spec_fini(&sp);
    teardown_fix(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_decide_ack_or_fail),
        cmocka_unit_test(test_invalid_payload_never_sent),
        cmocka_unit_test(test_retries_503_and_bad_bodies),
        cmocka_unit_test(test_dead_node_breaker_and_round_robin),
        cmocka_unit_test(test_window_queue_and_close),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
