/* test_dns.c - the dns offramp: 0.11's type names; answers shaped as 0.11
 * shows them (hand-built messages with compression, every prefix of a
 * message, hostile lengths and pointer loops); and the offramp with a fake
 * host against a resolver played by this test on a loopback UDP socket:
 * answers on out, NXDOMAIN and bad requests on err with the event failed,
 * A-then-AAAA, the timeout, the concurrency bound with trigger/restore and
 * close failing what is open. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "fake_conn_host.h"
#include "emit_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "connectors/dns_answer.h"
#include "core/event.h"

extern const struct tr_offramp_ops tr_dns_offramp;

/* ------------------------------------------------------------ messages */

struct msg {
    uint8_t b[2048];
    size_t n;
};

static void put8(struct msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void put16(struct msg *m, unsigned v) { put8(m, v >> 8 & 0xff); put8(m, v & 0xff); }
static void put32(struct msg *m, uint32_t v) { put16(m, v >> 16); put16(m, v & 0xffff); }
static void putbytes(struct msg *m, const void *p, size_t n) { memcpy(m->b + m->n, p, n); m->n += n; }
static void putname(struct msg *m, const char *name) {
    while (*name) {
        size_t l = strcspn(name, ".");
        put8(m, (unsigned)l);
        putbytes(m, name, l);
        name += l;
        if (*name == '.') name++;
    }
    put8(m, 0);
}

/* header + one question for name/qtype; answers follow */
static void start(struct msg *m, unsigned id, unsigned rcode, unsigned ancount, const char *name, unsigned qtype) {
    m->n = 0;
    put16(m, id);
    put16(m, 0x8180 | rcode);
    put16(m, 1);
    put16(m, ancount);
    put16(m, 0);
    put16(m, 0);
    putname(m, name);
    put16(m, qtype);
    put16(m, 1);
}

/* an answer owned by the question's name (pointer to offset 12) */
static void rr(struct msg *m, unsigned type, uint32_t ttl, const void *rd, size_t rdlen) {
    put16(m, 0xC00C);
    put16(m, type);
    put16(m, 1);
    put32(m, ttl);
    put16(m, (unsigned)rdlen);
    putbytes(m, rd, rdlen);
}

static char *parse_json(const struct msg *m, int qtype, int *rcode, int *rc) {
    tr_value arr;
    assert_int_equal(tr_v_arr(4, &arr), 0);
    *rc = tr_dns_answer_parse(m->b, m->n, qtype, &arr, rcode);
    char *s = emit_json(arr);
    tr_value_unref(arr);
    return s;
}

static void type_names(void **state) {
    (void)state;
    assert_int_equal(tr_dns_type_from_name("A"), 1);
    assert_int_equal(tr_dns_type_from_name("AAAA"), 28);
    assert_int_equal(tr_dns_type_from_name("CNAME"), 5);
    assert_int_equal(tr_dns_type_from_name("TXT"), 16);
    assert_int_equal(tr_dns_type_from_name("ANY"), 255);
    assert_int_equal(tr_dns_type_from_name("ZERO"), 0);
    assert_int_equal(tr_dns_type_from_name("a"), -1);   /* case-sensitive, as 0.11 */
    assert_int_equal(tr_dns_type_from_name("BOGUS"), -1);
    char b[16];
    assert_string_equal(tr_dns_type_name(15, b, sizeof b), "MX");
    assert_string_equal(tr_dns_type_name(999, b, sizeof b), "TYPE999");
}

static void answers_are_shaped_as_0_11(void **state) {
    (void)state;
    struct msg m;
    int rcode, rc;
    char *s;
    /* A and AAAA */
    start(&m, 1, 0, 2, "host.test", 1);
    rr(&m, 1, 300, "\x0a\x01\x02\x03", 4);
    rr(&m, 1, 7, "\x7f\x00\x00\x01", 4);
    s = parse_json(&m, 1, &rcode, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "[{\"A\":\"10.1.2.3\",\"ttl\":300},{\"A\":\"127.0.0.1\",\"ttl\":7}]");
    free(s);
    start(&m, 1, 0, 1, "host.test", 28);
    rr(&m, 28, 60, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
    s = parse_json(&m, 28, &rcode, &rc);
    assert_string_equal(s, "[{\"AAAA\":\"fd00::7\",\"ttl\":60}]");
    free(s);
    /* CNAME with a compressed target ("x" + pointer to host.test), then the
     * A the resolver adds: only the asked type is kept (trust-dns) */
    start(&m, 1, 0, 2, "host.test", 5);
    rr(&m, 5, 10, "\x01x\xc0\x0c", 4);
    rr(&m, 1, 10, "\x01\x01\x01\x01", 4);
    s = parse_json(&m, 5, &rcode, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "[{\"CNAME\":\"x.host.test.\",\"ttl\":10}]");
    free(s);
    /* ANY keeps every record it can show */
    s = parse_json(&m, 255, &rcode, &rc);
    assert_string_equal(s, "[{\"CNAME\":\"x.host.test.\",\"ttl\":10},{\"A\":\"1.1.1.1\",\"ttl\":10}]");
    free(s);
    /* TXT strings are concatenated; invalid UTF-8 repaired */
    start(&m, 1, 0, 1, "t.test", 16);
    rr(&m, 16, 1, "\x05hello\x06 world\x02\xff!", 16);
    s = parse_json(&m, 16, &rcode, &rc);
    assert_string_equal(s, "[{\"TXT\":\"hello world\xef\xbf\xbd!\",\"ttl\":1}]");
    free(s);
    /* MX, SRV, SOA, PTR, NS */
    start(&m, 1, 0, 1, "t.test", 15);
    rr(&m, 15, 5, "\x00\x0a\x04mail\xc0\x0c", 9);
    s = parse_json(&m, 15, &rcode, &rc);
    assert_string_equal(s, "[{\"MX\":\"10 mail.t.test.\",\"ttl\":5}]");
    free(s);
    start(&m, 1, 0, 1, "t.test", 33);
    rr(&m, 33, 5, "\x00\x01\x00\x02\x01\xbb\x00", 7);
    s = parse_json(&m, 33, &rcode, &rc);
    assert_string_equal(s, "[{\"SRV\":\"1 2 443 .\",\"ttl\":5}]");
    free(s);
    start(&m, 1, 0, 1, "t.test", 6);
    rr(&m, 6, 5, "\x02ns\xc0\x0c\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05",
       26);
    s = parse_json(&m, 6, &rcode, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "[{\"SOA\":\"ns.t.test. . 1 2 3 4 5\",\"ttl\":5}]");
    free(s);
    start(&m, 1, 0, 2, "t.test", 12);
    rr(&m, 12, 5, "\xc0\x0c", 2);
    rr(&m, 99, 5, "zz", 2);   /* a type not shown is skipped */
    s = parse_json(&m, 255, &rcode, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "[{\"PTR\":\"t.test.\",\"ttl\":5}]");
    free(s);
    /* NXDOMAIN: the rcode, no records */
    start(&m, 1, 3, 0, "nx.test", 1);
    s = parse_json(&m, 1, &rcode, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(rcode, 3);
    assert_string_equal(s, "[]");
    free(s);
}

static void hostile_messages_are_errors(void **state) {
    (void)state;
    struct msg m;
    int rcode, rc;
    char *s;
    /* every prefix of a good message: an error or a shorter answer, never more */
    start(&m, 1, 0, 3, "host.test", 255);
    rr(&m, 1, 300, "\x0a\x01\x02\x03", 4);
    rr(&m, 15, 5, "\x00\x0a\x04mail\xc0\x0c", 9);
    rr(&m, 16, 1, "\x02hi", 3);
    size_t full = m.n;
    for (size_t n = 0; n < full; n++) {
        m.n = n;
        s = parse_json(&m, 255, &rcode, &rc);
        if (rc != TR_EPARSE) fail_msg("prefix %zu: expected TR_EPARSE, got %d (%s)", n, rc, s);
        free(s);
    }
    /* rdlength past the end; an A of 5 bytes; a pointer loop */
    start(&m, 1, 0, 1, "h.test", 1);
    rr(&m, 1, 1, "\x01\x02\x03\x04", 4);
    m.b[m.n - 5] = 0x40;
    s = parse_json(&m, 1, &rcode, &rc);
    assert_int_equal(rc, TR_EPARSE);
    free(s);
    start(&m, 1, 0, 1, "h.test", 1);
    rr(&m, 1, 1, "\x01\x02\x03\x04\x05", 5);
    s = parse_json(&m, 1, &rcode, &rc);
    assert_int_equal(rc, TR_EPARSE);
    free(s);
    start(&m, 1, 0, 1, "h.test", 5);
    size_t at = m.n;
    rr(&m, 5, 1, "\xc0\x00", 2);
    m.b[m.n - 2] = (uint8_t)(0xC0 | (at + 12) >> 8);
    m.b[m.n - 1] = (uint8_t)((at + 12) & 0xff);   /* points at itself */
    s = parse_json(&m, 5, &rcode, &rc);
    assert_int_equal(rc, TR_EPARSE);
    free(s);
    /* counts larger than the message */
    start(&m, 1, 0, 65535, "h.test", 1);
    s = parse_json(&m, 1, &rcode, &rc);
    assert_int_equal(rc, TR_EPARSE);
    free(s);
}

/* ------------------------------------------------------- a fake resolver */

struct resolver {
    uv_udp_t udp;
    int port;
    size_t queries;
    char last_name[256];
};

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    static char buf[4096];
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_sent(uv_udp_send_t *req, int status) {
    (void)status;
    free(req);
}

/* Answers: *.a.test A 10.0.0.1; v6.test no A, AAAA ::1; silent.test never;
 * slow.test never; everything else NXDOMAIN. */
static void on_query(uv_udp_t *u, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from, unsigned flags) {
    (void)flags;
    struct resolver *r = u->data;
    if (nread < 12 || !from) return;
    const uint8_t *q = (const uint8_t *)b->base;
    size_t n = 12;
    char name[256] = {0};
    size_t nl = 0;
    while (n < (size_t)nread && q[n] && nl + q[n] + 1 < sizeof name) {
        if (nl) name[nl++] = '.';
        memcpy(name + nl, q + n + 1, q[n]);
        nl += q[n];
        n += 1u + q[n];
    }
    n++;
    if (n + 4 > (size_t)nread) return;
    unsigned qtype = (unsigned)q[n] << 8 | q[n + 1];
    size_t qend = n + 4;
    r->queries++;
    snprintf(r->last_name, sizeof r->last_name, "%s", name);
    if (strcmp(name, "silent.test") == 0 || strcmp(name, "slow.test") == 0) return;
    struct msg m;
    m.n = 0;
    putbytes(&m, q, 2);
    bool known = strcmp(name, "a.test") == 0 || strcmp(name, "v6.test") == 0;
    bool ans = (strcmp(name, "a.test") == 0 && qtype == 1) || (strcmp(name, "v6.test") == 0 && qtype == 28);
    put16(&m, 0x8180 | (known ? 0 : 3));
    put16(&m, 1);
    put16(&m, ans ? 1 : 0);
    put16(&m, 0);
    put16(&m, 0);
    putbytes(&m, q + 12, qend - 12);
    if (ans && qtype == 1) rr(&m, 1, 42, "\x0a\x00\x00\x01", 4);
    if (ans && qtype == 28) rr(&m, 28, 43, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    uv_udp_send_t *req = malloc(sizeof *req + m.n);
    assert_non_null(req);
    memcpy(req + 1, m.b, m.n);
    uv_buf_t out = uv_buf_init((char *)(req + 1), (unsigned)m.n);
    if (uv_udp_send(req, u, &out, 1, from, on_sent)) free(req);
}

static void resolver_start(struct resolver *r, uv_loop_t *loop) {
    memset(r, 0, sizeof *r);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_udp_init(loop, &r->udp), 0);
    r->udp.data = r;
    assert_int_equal(uv_udp_bind(&r->udp, (const struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    assert_int_equal(uv_udp_getsockname(&r->udp, (struct sockaddr *)&ss, &len), 0);
    r->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    assert_int_equal(uv_udp_recv_start(&r->udp, on_alloc, on_query), 0);
}

/* ------------------------------------------------------------ the offramp */

struct rig {
    uv_loop_t loop;
    struct emit_host h;
    struct resolver res;
    struct fake_spec spec;
    void *self;
    uint64_t next;
    size_t want;
};

static void rig_init(struct rig *r, int64_t concurrency, int64_t timeout_ms) {
    memset(r, 0, sizeof *r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    emit_host_init(&r->h, &r->loop, 256);
    resolver_start(&r->res, &r->loop);
    fake_spec_init(&r->spec, "dns", "res");
    r->spec.s.linked = true;
    tr_value list, s;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", r->res.port);
    assert_int_equal(tr_v_arr(1, &list), 0);
    assert_int_equal(tr_v_cstr(addr, &s), 0);
    assert_int_equal(tr_arr_push(&list, s), 0);
    assert_int_equal(tr_rec_set(&r->spec.cfg, "servers", 7, list), 0);
    if (concurrency) fake_spec_int(&r->spec, "concurrency", concurrency);
    if (timeout_ms) fake_spec_int(&r->spec, "timeout_ms", timeout_ms);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_dns_offramp.create(&r->spec.s, &r->h.f.h, &r->self, &d) != 0) fail_msg("create: %s", d.msg);
    assert_int_equal(tr_dns_offramp.start(r->self), 0);
}

static void closed(void *arg) { *(bool *)arg = true; }

static void rig_fini(struct rig *r) {
    bool done = false;
    tr_dns_offramp.close(r->self, closed, &done);
    assert_true(fake_run_until(&r->loop, fake_flag_set, &done));
    uv_close((uv_handle_t *)&r->res.udp, NULL);
    fake_spec_fini(&r->spec);
    assert_false(r->h.f.twice);
    emit_host_fini(&r->h);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

static uint64_t send_req(struct rig *r, const char *json, const char *corr) {
    tr_value meta;
    assert_int_equal(tr_v_rec(1, &meta), 0);
    if (corr) {
        tr_value c;
        assert_int_equal(tr_v_cstr(corr, &c), 0);
        assert_int_equal(tr_rec_set(&meta, "correlation", 11, c), 0);
    }
    uint64_t t = r->next++;
    struct tr_out_msg m = {.token = t, .transactional = true, .data = json, .len = strlen(json), .meta = &meta};
    tr_dns_offramp.send(r->self, &m);
    tr_value_unref(meta);
    return t;
}

static bool enough(void *arg) {
    struct rig *r = arg;
    return r->h.n >= r->want;
}

/* The response for token t (NULL if none yet); *err its port. */
static const char *response(struct rig *r, uint64_t t, bool *err, const char **meta) {
    for (size_t i = 0; i < r->h.n; i++)
        if (r->h.token[i] == t) {
            *err = r->h.err[i];
            if (meta) *meta = r->h.meta[i];
            return r->h.value[i];
        }
    return NULL;
}

static void lookups_answer_on_out_and_err(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 0, 0);
    uint64_t t1 = send_req(&r, "{\"lookup\":\"a.test\"}", "c1");
    uint64_t t2 = send_req(&r, "{\"lookup\":{\"name\":\"a.test\",\"type\":\"A\"}}", NULL);
    uint64_t t3 = send_req(&r, "{\"lookup\":\"v6.test\"}", NULL);   /* no A: then AAAA */
    uint64_t t4 = send_req(&r, "{\"lookup\":\"nx.test\"}", "c4");
    uint64_t t5 = send_req(&r, "{\"lookup\":{\"name\":\"v6.test\",\"type\":\"A\"}}", NULL);
    r.want = 5;
    assert_true(fake_run_until(&r.loop, enough, &r));
    bool err;
    const char *meta;
    assert_string_equal(response(&r, t1, &err, &meta), "[{\"A\":\"10.0.0.1\",\"ttl\":42}]");
    assert_false(err);
    assert_string_equal(meta, "{\"correlation\":\"c1\"}");
    assert_string_equal(response(&r, t2, &err, &meta), "[{\"A\":\"10.0.0.1\",\"ttl\":42}]");
    assert_string_equal(meta, "{}");
    assert_string_equal(response(&r, t3, &err, NULL), "[{\"AAAA\":\"::1\",\"ttl\":43}]");
    assert_false(err);
    assert_string_equal(response(&r, t4, &err, &meta),
                        "{\"event\":{\"lookup\":\"nx.test\"},\"error\":\"nx.test (A): Domain name not found\"}");
    assert_true(err);
    assert_string_equal(meta, "{\"correlation\":\"c4\"}");
    const char *v = response(&r, t5, &err, NULL);
    assert_true(err);
    assert_non_null(strstr(v, "\"error\":\"v6.test (A): "));
    assert_int_equal(r.h.f.acked[t1] + r.h.f.acked[t2] + r.h.f.acked[t3], 3);
    assert_int_equal(r.h.f.failed[t4] + r.h.f.failed[t5], 2);
    rig_fini(&r);
}

static void bad_requests_fail_at_once(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 0, 0);
    static const struct {
        const char *req, *want;
    } cases[] = {
        {"{\"nolookup\":1}", "{\"event\":{\"nolookup\":1},\"error\":\"Invalid DNS request\"}"},
        {"[1]", "{\"event\":[1],\"error\":\"Invalid DNS request\"}"},
        {"{\"lookup\":5}", "{\"event\":{\"lookup\":5},\"error\":\"Invaliud DNS request\"}"},
        {"{\"lookup\":{\"type\":\"A\"}}", "{\"event\":{\"lookup\":{\"type\":\"A\"}},\"error\":\"Invaliud DNS request\"}"},
        {"{\"lookup\":{\"name\":\"a.test\",\"type\":\"BOGUS\"}}",
         "{\"event\":{\"lookup\":{\"name\":\"a.test\",\"type\":\"BOGUS\"}},\"error\":\"Invalid or unsupported record type: BOGUS\"}"},
        {"{\"lookup\":\"\"}", "{\"event\":{\"lookup\":\"\"},\"error\":\"Invalid DNS name: it must be 1 to 253 bytes without NUL\"}"},
        {"{\"lookup\":\"a\\u0000b\"}", NULL},
        {"{\"lookup\":", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t before = r.h.n;
        uint64_t t = send_req(&r, cases[i].req, NULL);
        if (r.h.n != before + 1) fail_msg("case %zu: expected an answer inside send()", i);
        assert_true(r.h.err[before]);
        assert_int_equal(r.h.f.failed[t], 1);
        if (cases[i].want && strcmp(r.h.value[before], cases[i].want) != 0)
            fail_msg("case %zu: expected %s, got %s", i, cases[i].want, r.h.value[before]);
    }
    char big[400];
    int k = snprintf(big, sizeof big, "{\"lookup\":\"");
    memset(big + k, 'a', 300);
    strcpy(big + k + 300, "\"}");
    uint64_t t = send_req(&r, big, NULL);
    assert_int_equal(r.h.f.failed[t], 1);
    assert_int_equal(r.res.queries, 0);   /* none of them was asked */
    rig_fini(&r);
}

static void batches_answer_each_request(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 0, 0);
    const char *ok2 = "[{\"data\":{\"value\":{\"lookup\":\"a.test\"},\"meta\":{\"correlation\":0}}},"
                      "{\"data\":{\"value\":{\"lookup\":\"v6.test\"},\"meta\":{\"correlation\":1}}}]";
    const char *mixed = "[{\"data\":{\"value\":{\"lookup\":\"a.test\"},\"meta\":{\"correlation\":2}}},"
                        "{\"data\":{\"value\":{\"lookup\":\"nx.test\"},\"meta\":{\"correlation\":3}}},"
                        "{\"data\":{\"value\":{\"bad\":1},\"meta\":{\"correlation\":4}}}]";
    uint64_t t0 = send_req(&r, ok2, NULL);
    uint64_t t1 = send_req(&r, mixed, NULL);
    assert_int_equal(r.h.n, 1);   /* the bad one at once */
    assert_string_equal(r.h.meta[0], "{\"correlation\":4}");
    r.want = 5;
    assert_true(fake_run_until(&r.loop, enough, &r));
    /* every request answered on its own, with its own correlation */
    int seen = 0;
    for (size_t i = 0; i < r.h.n; i++) {
        if (strcmp(r.h.meta[i], "{\"correlation\":0}") == 0)
            assert_string_equal(r.h.value[i], "[{\"A\":\"10.0.0.1\",\"ttl\":42}]"), seen |= 1;
        if (strcmp(r.h.meta[i], "{\"correlation\":1}") == 0)
            assert_string_equal(r.h.value[i], "[{\"AAAA\":\"::1\",\"ttl\":43}]"), seen |= 2;
        if (strcmp(r.h.meta[i], "{\"correlation\":2}") == 0) assert_false(r.h.err[i]), seen |= 4;
        if (strcmp(r.h.meta[i], "{\"correlation\":3}") == 0) assert_true(r.h.err[i]), seen |= 8;
    }
    assert_int_equal(seen, 15);
    assert_int_equal(r.h.f.acked[t0], 1);
    assert_int_equal(r.h.f.failed[t1], 1);   /* once, after its last lookup */
    assert_int_equal(r.h.f.nanswers, 2);
    rig_fini(&r);
}

static void timeout_answers_in_time(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 0, 200);
    uint64_t t0 = tr_now_ns();
    uint64_t t = send_req(&r, "{\"lookup\":\"silent.test\"}", NULL);
    /* the runtime ticks every 100 ms; do the same */
    while (r.h.n == 0 && tr_now_ns() - t0 < 5000000000ull) {
        r.want = 1;
        uv_run(&r.loop, UV_RUN_NOWAIT);
        tr_dns_offramp.tick(r.self, tr_now_ns());
        usleep(5000);
    }
    bool err;
    const char *v = response(&r, t, &err, NULL);
    assert_non_null(v);
    assert_true(err);
    /* c-ares's own tries (a third of timeout_ms, doubled) or our deadline at the tick */
    if (!strstr(v, "silent.test: lookup timed out after 200 ms") &&
        !strstr(v, "silent.test (A): Timeout while contacting DNS servers"))
        fail_msg("expected a timeout, got %s", v);
    assert_int_equal(r.h.f.failed[t], 1);
    uint64_t took_ms = (tr_now_ns() - t0) / 1000000;
    if (took_ms < 150 || took_ms > 1500) fail_msg("expected the timeout after about 200 ms, took %llu ms",
                                                  (unsigned long long)took_ms);
    rig_fini(&r);
}

static void deadline_answers_before_c_ares_gives_up(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1, 10000);
    uint64_t t = send_req(&r, "{\"lookup\":\"silent.test\"}", NULL);
    tr_dns_offramp.tick(r.self, tr_now_ns() + 1000000000ull);   /* not yet */
    assert_int_equal(r.h.n, 0);
    tr_dns_offramp.tick(r.self, tr_now_ns() + 11000000000ull);
    bool err;
    const char *v = response(&r, t, &err, NULL);
    assert_non_null(v);
    assert_true(err);
    assert_non_null(strstr(v, "silent.test: lookup timed out after 10000 ms"));
    assert_int_equal(r.h.f.failed[t], 1);
    /* the slot stays taken until c-ares ends the query: still tripped */
    assert_false(tr_dns_offramp.is_active(r.self));
    rig_fini(&r);   /* c-ares's callback now: it must not answer again */
}

static void concurrency_triggers_and_restores(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 2, 0);
    assert_true(tr_dns_offramp.is_active(r.self));
    uint64_t a = send_req(&r, "{\"lookup\":\"slow.test\"}", NULL);
    assert_int_equal(r.h.f.triggers, 0);
    uint64_t b = send_req(&r, "{\"lookup\":\"slow.test\"}", NULL);
    assert_int_equal(r.h.f.triggers, 1);   /* full */
    assert_false(tr_dns_offramp.is_active(r.self));
    uint64_t c = send_req(&r, "{\"lookup\":\"a.test\"}", NULL);   /* past the bound: failed */
    assert_int_equal(r.h.f.failed[c], 1);
    bool err;
    assert_non_null(strstr(response(&r, c, &err, NULL), "2 lookups in flight (concurrency): dropped"));
    /* closing fails both open lookups */
    bool done = false;
    tr_dns_offramp.close(r.self, closed, &done);
    assert_true(fake_run_until(&r.loop, fake_flag_set, &done));
    assert_int_equal(r.h.f.failed[a], 1);
    assert_int_equal(r.h.f.failed[b], 1);
    assert_null(response(&r, a, &err, NULL));   /* closing: failed, no error event */
    uv_close((uv_handle_t *)&r.res.udp, NULL);
    fake_spec_fini(&r.spec);
    assert_false(r.h.f.twice);
    emit_host_fini(&r.h);
    assert_int_equal(fake_drain_and_close(&r.loop), 0);
}

static void restore_when_a_slot_frees(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1, 0);
    uint64_t a = send_req(&r, "{\"lookup\":\"a.test\"}", NULL);
    assert_int_equal(r.h.f.triggers, 1);
    r.want = 1;
    assert_true(fake_run_until(&r.loop, enough, &r));
    assert_int_equal(r.h.f.acked[a], 1);
    assert_int_equal(r.h.f.restores, 1);
    assert_true(tr_dns_offramp.is_active(r.self));
    rig_fini(&r);
}

static void config_errors(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct emit_host h;
    emit_host_init(&h, &loop, 1);
    static const struct {
        const char *server;
        const char *key;
        int64_t num;
        const char *want;
    } cases[] = {
        {"not an address", NULL, 0, "config.servers must be addresses"},
        {"1.2.3.4,5.6.7.8", NULL, 0, "config.servers must be addresses"},
        {NULL, "concurrency", 0, "config.concurrency"},
        {NULL, "timeout_ms", 1, "config.timeout_ms"},
        {NULL, "dir", 1, "dir"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake_spec sp;
        fake_spec_init(&sp, "dns", "res");
        if (cases[i].server) {
            tr_value list, s;
            assert_int_equal(tr_v_arr(1, &list), 0);
            assert_int_equal(tr_v_cstr(cases[i].server, &s), 0);
            assert_int_equal(tr_arr_push(&list, s), 0);
            assert_int_equal(tr_rec_set(&sp.cfg, "servers", 7, list), 0);
        }
        if (cases[i].key) fake_spec_int(&sp, cases[i].key, cases[i].num);
        void *self = NULL;
        struct tr_diag d;
        tr_diag_clear(&d);
        int rc = tr_dns_offramp.create(&sp.s, &h.f.h, &self, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(self);
        fake_spec_fini(&sp);
    }
    emit_host_fini(&h);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_names),
        cmocka_unit_test(answers_are_shaped_as_0_11),
        cmocka_unit_test(hostile_messages_are_errors),
        cmocka_unit_test(lookups_answer_on_out_and_err),
        cmocka_unit_test(bad_requests_fail_at_once),
        cmocka_unit_test(batches_answer_each_request),
        cmocka_unit_test(timeout_answers_in_time),
        cmocka_unit_test(deadline_answers_before_c_ares_gives_up),
        cmocka_unit_test(concurrency_triggers_and_restores),
        cmocka_unit_test(restore_when_a_slot_frees),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
