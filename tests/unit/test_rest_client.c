/* test_rest_client.c - the rest offramp against an HTTP server on the same
 * loop (api/http.h), answering by path: acks after 2xx, fails on 4xx/5xx,
 * retries 5xx and transport errors, concurrency refusals, per-event
 * $endpoint/$request overrides, the breaker, and close failing what is in
 * flight. Every token must be answered exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api/http.h"
#include "connectors/conn.h"
#include "core/error.h"
#include "fake_conn_host.h"

#include <cmocka.h>

extern const struct tr_offramp_ops tr_rest_offramp;

struct peer {
    struct tr_http *http;
    int port;
    int requests;
    int fail_first;               /* the first N get 503 */
    char last_method[16];
    char last_path[64];
    char last_body[256];
    char last_hdr[64];            /* value of x-a */
    int deferred;                 /* /slow requests held */
};

static void on_req(void *arg, struct tr_http_req *r) {
    struct peer *p = arg;
    p->requests++;
    snprintf(p->last_method, sizeof p->last_method, "%s", r->method);
    snprintf(p->last_path, sizeof p->last_path, "%s", r->path);
    snprintf(p->last_body, sizeof p->last_body, "%.*s", (int)r->body_len, r->body);
    p->last_hdr[0] = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, "x-a") == 0)
            snprintf(p->last_hdr, sizeof p->last_hdr, "%s", r->headers[i].value);
    if (p->requests <= p->fail_first) {
        tr_http_respond(r, 503, NULL, NULL, 0, NULL);
        return;
    }
    if (strcmp(r->path, "/slow") == 0) {
        tr_http_defer(r);   /* never answered: the client times out or closes */
        p->deferred++;
        return;
    }
    int status = strcmp(r->path, "/nf") == 0 ? 404 : strcmp(r->path, "/err") == 0 ? 500 : 200;
    tr_http_respond(r, status, "application/json", "{}", 2, NULL);
}

struct fix {
    uv_loop_t loop;
    struct peer peer;
    struct fake_out host;
    void *self;
    bool closed;
};

static void peer_open(struct fix *f) {
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    struct tr_http_opts o;
    tr_http_opts_default(&o);
    struct tr_diag d;
    assert_int_equal(tr_http_open(&f->loop, (struct sockaddr *)&a, &o, on_req, &f->peer, &f->peer.http, &d), 0);
    f->peer.port = tr_http_port(f->peer.http);
}

static int create(struct fix *f, const char *path, int extra_port, void (*more)(struct fake_spec *)) {
    struct fake_spec sp;
    fake_spec_init(&sp, "rest", "rest_out");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", extra_port ? extra_port : f->peer.port, path);
    fake_spec_str(&sp, "endpoint", url);
    fake_spec_int(&sp, "backoff_ms", 5);
    fake_spec_int(&sp, "max_backoff_ms", 20);
    tr_value hs, v;
    assert_int_equal(tr_v_rec(1, &hs), 0);
    assert_int_equal(tr_v_cstr("from-config", &v), 0);
    assert_int_equal(tr_rec_set(&hs, "x-a", 3, v), 0);
    assert_int_equal(tr_rec_set(&sp.cfg, "headers", 7, hs), 0);
    if (more) more(&sp);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_rest_offramp.create(&sp.s, &f->host.h, &f->self, &d);
    fake_spec_fini(&sp);
    if (!rc) rc = tr_rest_offramp.start(f->self);
    return rc;
}

static void send_msg(struct fix *f, uint64_t token, const char *body, tr_value *meta) {
    tr_value m = tr_v_null();
    if (!meta) assert_int_equal(tr_v_rec(0, &m), 0);
    struct tr_out_msg msg = {.token = token, .transactional = true, .data = body, .len = strlen(body),
                             .meta = meta ? meta : &m};
    tr_rest_offramp.send(f->self, &msg);
    tr_value_unref(m);
}

static bool answered_1(void *a) { return ((struct fix *)a)->host.nanswers >= 1; }
static bool answered_2(void *a) { return ((struct fix *)a)->host.nanswers >= 2; }
static bool answered_3(void *a) { return ((struct fix *)a)->host.nanswers >= 3; }
static bool restored(void *a) { return ((struct fix *)a)->host.restores >= 1; }
static bool deferred_1(void *a) { return ((struct fix *)a)->peer.deferred >= 1; }

static void on_closed(void *a) { ((struct fix *)a)->closed = true; }
static void on_peer_closed(void *a) { (void)a; }
static bool closed(void *a) { return ((struct fix *)a)->closed; }

static void teardown_fix(struct fix *f) {
    if (f->self) {
        tr_rest_offramp.close(f->self, on_closed, f);
        assert_true(fake_run_until(&f->loop, closed, f));
    }
    tr_http_close(f->peer.http, on_peer_closed, NULL);
    assert_false(f->host.twice);
    fake_out_fini(&f->host);
    assert_int_equal(fake_drain_and_close(&f->loop), 0);
}

static void setup_fix(struct fix *f) {
    memset(f, 0, sizeof *f);
    uv_loop_init(&f->loop);
    fake_out_init(&f->host, &f->loop, 16);
    peer_open(f);
}

static void test_acks_after_2xx(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "/ok", 0, NULL), 0);
    send_msg(&f, 0, "{\"a\":1}", NULL);
    send_msg(&f, 1, "{\"a\":2}", NULL);
    send_msg(&f, 2, "{\"a\":3}", NULL);
    assert_true(fake_run_until(&f.loop, answered_3, &f));
    assert_int_equal(f.host.nacks, 3);
    assert_int_equal(f.peer.requests, 3);
    assert_string_equal(f.peer.last_method, "POST");   /* 0.11's default */
    assert_string_equal(f.peer.last_path, "/ok");
    assert_string_equal(f.peer.last_hdr, "from-config");
    teardown_fix(&f);
}

static void test_4xx_fails_without_retry_5xx_retried(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "/nf", 0, NULL), 0);
    send_msg(&f, 0, "{}", NULL);
    assert_true(fake_run_until(&f.loop, answered_1, &f));
    assert_int_equal(f.host.nfails, 1);
    assert_int_equal(f.peer.requests, 1);
    /* per event: $endpoint (string) and $request {method, headers} */
    tr_value meta, rq, hs, v;
    assert_int_equal(tr_v_rec(2, &meta), 0);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/err", f.peer.port);
    assert_int_equal(tr_v_cstr(url, &v), 0);
    assert_int_equal(tr_rec_set(&meta, "endpoint", 8, v), 0);
    assert_int_equal(tr_v_rec(2, &rq), 0);
    assert_int_equal(tr_v_cstr(" put ", &v), 0);
    assert_int_equal(tr_rec_set(&rq, "method", 6, v), 0);
    assert_int_equal(tr_v_rec(1, &hs), 0);
    assert_int_equal(tr_v_cstr("from-event", &v), 0);
    assert_int_equal(tr_rec_set(&hs, "X-A", 3, v), 0);
    assert_int_equal(tr_rec_set(&rq, "headers", 7, hs), 0);
    assert_int_equal(tr_rec_set(&meta, "request", 7, rq), 0);
    send_msg(&f, 1, "{\"b\":1}", &meta);
    tr_value_unref(meta);
    assert_true(fake_run_until(&f.loop, answered_2, &f));
    assert_int_equal(f.host.failed[1], 1);
    assert_int_equal(f.peer.requests, 1 + 4);   /* 500: first try + max_retries 3 (default) */
    assert_string_equal(f.peer.last_method, "PUT");
    assert_string_equal(f.peer.last_path, "/err");
    assert_string_equal(f.peer.last_body, "{\"b\":1}");
    assert_string_equal(f.peer.last_hdr, "from-event");   /* replaces the configured one */
    teardown_fix(&f);
}

static void retry_once(struct fake_spec *sp) { fake_spec_int(sp, "max_retries", 2); }

static void test_retry_then_ack(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    f.peer.fail_first = 2;
    assert_int_equal(create(&f, "/ok", 0, retry_once), 0);
    send_msg(&f, 0, "{}", NULL);
    assert_true(fake_run_until(&f.loop, answered_1, &f));
    assert_int_equal(f.host.nacks, 1);
    assert_int_equal(f.peer.requests, 3);
    teardown_fix(&f);
}

static void one_at_a_time(struct fake_spec *sp) { fake_spec_int(sp, "concurrency", 1); }

static void test_concurrency_refuses(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "/ok", 0, one_at_a_time), 0);
    send_msg(&f, 0, "{}", NULL);
    send_msg(&f, 1, "{}", NULL);   /* over concurrency: failed at once (0.11's 429) */
    assert_int_equal(f.host.failed[1], 1);
    assert_true(fake_run_until(&f.loop, answered_2, &f));
    assert_int_equal(f.host.acked[0], 1);
    teardown_fix(&f);
}

static void breaker_cfg(struct fake_spec *sp) {
    fake_spec_int(sp, "max_retries", 1);
    fake_spec_int(sp, "breaker_threshold", 2);
    fake_spec_int(sp, "breaker_ms", 50);
}

static void test_transport_error_breaker(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    /* a port nothing listens on: bind one, note it, close it */
    uv_tcp_t t;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&f.loop, &t);
    uv_tcp_bind(&t, (struct sockaddr *)&a, 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int dead = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    assert_int_equal(create(&f, "/ok", dead, breaker_cfg), 0);
    send_msg(&f, 0, "{}", NULL);
    assert_true(fake_run_until(&f.loop, answered_1, &f));
    assert_int_equal(f.host.nfails, 1);
    assert_int_equal(f.host.triggers, 1);           /* two failed attempts in a row */
    assert_false(tr_rest_offramp.is_active(f.self));
    assert_true(fake_run_until(&f.loop, restored, &f));
    assert_true(tr_rest_offramp.is_active(f.self));
    teardown_fix(&f);
}

static void test_close_fails_in_flight(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    assert_int_equal(create(&f, "/slow", 0, NULL), 0);
    send_msg(&f, 0, "{}", NULL);
    assert_true(fake_run_until(&f.loop, deferred_1, &f));
    assert_int_equal(f.host.nanswers, 0);
    tr_rest_offramp.close(f.self, on_closed, &f);
    f.self = NULL;
    assert_true(fake_run_until(&f.loop, closed, &f));
    assert_int_equal(f.host.nfails, 1);
    teardown_fix(&f);
}

static void test_config_errors(void **state) {
    (void)state;
    struct fix f;
    setup_fix(&f);
    struct fake_spec sp;
    fake_spec_init(&sp, "rest", "r");
    fake_spec_str(&sp, "endpoint", "ftp://example.invalid/");
    struct tr_diag d;
    tr_diag_clear(&d);
    void *self = NULL;
    assert_int_equal(tr_rest_offramp.create(&sp.s, &f.host.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.endpoint"));
    fake_spec_fini(&sp);
    fake_spec_init(&sp, "rest", "r");
    fake_spec_str(&sp, "endpoint", "http://127.0.0.1:1/");
    fake_spec_str(&sp, "method", "GE T");
    assert_int_equal(tr_rest_offramp.create(&sp.s, &f.host.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.method"));
    fake_spec_fini(&sp);
    teardown_fix(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_after_2xx),
        cmocka_unit_test(test_4xx_fails_without_retry_5xx_retried),
        cmocka_unit_test(test_retry_then_ack),
        cmocka_unit_test(test_concurrency_refuses),
        cmocka_unit_test(test_transport_error_breaker),
        cmocka_unit_test(test_close_fails_in_flight),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
