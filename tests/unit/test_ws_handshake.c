/* test_ws_handshake.c - the HTTP upgrade: accept key, request and response
 * building and checking, heads split over reads, refusals; UTF-8 checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "connectors/hop.h"
#include "connectors/ws_int.h"
#include "core/utf8.h"
#include "core/alloc.h"

static const char RFC_KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
/* RFC 6455 1.3 (the value a SHA-1 of key + GUID really gives) */
static const char RFC_ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/* Feed text in one piece; expect a complete head. */
static void head_of(struct tr_ws_head *h, const char *text) {
    size_t used;
    tr_ws_head_init(h);
    int r = tr_ws_head_feed(h, text, strlen(text), &used);
    if (r != 1) fail_msg("expected a complete head, got %d for:\n%s", r, text);
    assert_int_equal(used, strlen(text));
}

static int parse_req(const char *text, int *status, struct tr_diag *d) {
    struct tr_ws_head *h = tr_malloc(sizeof *h);
    struct tr_ws_request r;
    head_of(h, text);
    tr_diag_clear(d);
    int rc = tr_ws_request_parse(h, &r, status, d);
    tr_free(h);
    return rc;
}

static int check_resp(const char *text, const char *key, struct tr_diag *d) {
    struct tr_ws_head *h = tr_malloc(sizeof *h);
    head_of(h, text);
    tr_diag_clear(d);
    int rc = tr_ws_response_check(h, key, d);
    tr_free(h);
    return rc;
}

static void rfc_example_accept_key(void **state) {
    (void)state;
    char out[TR_WS_ACCEPT_LEN + 1];
    tr_ws_accept_key(RFC_KEY, strlen(RFC_KEY), out);
    assert_string_equal(out, RFC_ACCEPT);
}

static void fresh_keys_are_valid_and_differ(void **state) {
    (void)state;
    char a[TR_WS_KEY_LEN + 1], b[TR_WS_KEY_LEN + 1];
    assert_int_equal(tr_ws_key_make(a), 0);
    assert_int_equal(tr_ws_key_make(b), 0);
    assert_int_equal(strlen(a), TR_WS_KEY_LEN);
    assert_string_not_equal(a, b);
    assert_string_equal(a + 22, "==");
}

/* The request we build is accepted by our own server-side check, and the
 * answer we build for it passes the client-side check: both ends agree. */
static void request_response_round_trip(void **state) {
    (void)state;
    struct tr_ws_url u;
    struct tr_diag d;
    assert_int_equal(tr_ws_url_parse("ws://[::1]:9001/in?x=1", &u, &d), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    char key[TR_WS_KEY_LEN + 1];
    assert_int_equal(tr_ws_key_make(key), 0);
    assert_int_equal(tr_ws_request_build(&b, &u, key), 0);
    assert_non_null(strstr(b.data, "GET /in?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(b.data, "Host: [::1]:9001\r\n"));
    int status = 0;
    assert_int_equal(parse_req(b.data, &status, &d), 0);
    assert_int_equal(status, 101);

    tr_buf_reset(&b);
    assert_int_equal(tr_ws_response_build(&b, key), 0);
    assert_int_equal(check_resp(b.data, key, &d), 0);
    tr_buf_fini(&b);
    tr_ws_url_fini(&u);
}

/* A head split at every possible place, and bytes after it (the first
 * frames) left for the WebSocket layer. */
static void head_split_across_reads(void **state) {
    (void)state;
    const char *head = "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    char text[512];
    snprintf(text, sizeof text, "%s%s", head, "\x81\x02hi");
    size_t hl = strlen(head), tl = strlen(text);
    struct tr_ws_head *h = tr_malloc(sizeof *h);
    for (size_t cut = 0; cut <= tl; cut++) {
        tr_ws_head_init(h);
        size_t used = 0;
        int r = tr_ws_head_feed(h, text, cut, &used);
        size_t taken = used;
        if (r == 0) {
            assert_int_equal(used, cut);
            r = tr_ws_head_feed(h, text + cut, tl - cut, &used);
            taken += used;
        }
        assert_int_equal(r, 1);
        if (taken != hl) fail_msg("cut %zu: expected %zu bytes taken, got %zu", cut, hl, taken);
        struct tr_diag d;
        assert_int_equal(tr_ws_response_check(h, RFC_KEY, &d), 0);
    }
    /* one byte per read */
    tr_ws_head_init(h);
    size_t i = 0, used = 0;
    int r = 0;
    for (; i < tl && r == 0; i++) r = tr_ws_head_feed(h, text + i, 1, &used);
    assert_int_equal(r, 1);
    assert_int_equal(i, hl);
    tr_free(h);
}

static void oversized_head_is_refused(void **state) {
    (void)state;
    struct tr_ws_head *h = tr_malloc(sizeof *h);
    tr_ws_head_init(h);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    int r = 0;
    size_t total = 0, used;
    while (r == 0 && total < 4 * TR_WS_HEAD_MAX) {
        r = tr_ws_head_feed(h, chunk, sizeof chunk, &used);
        total += sizeof chunk;
    }
    assert_int_equal(r, TR_ETOOBIG);
    assert_true(total <= TR_WS_HEAD_MAX + sizeof chunk);
    tr_free(h);
}

#define REQ_START "GET /x HTTP/1.1\r\nHost: h\r\n"
#define GOOD_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

static void request_errors(void **state) {
    (void)state;
    struct { const char *text; int status; const char *why; } cases[] = {
        {"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Upgrade"},
        {REQ_START "Connection: Upgrade\r\n" GOOD_KEY "Sec-WebSocket-Version: 13\r\n\r\n", 400, "Upgrade"},
        {REQ_START "Upgrade: websocket\r\n" GOOD_KEY "Sec-WebSocket-Version: 13\r\n\r\n", 400, "Connection"},
        {REQ_START "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Key"},
        {REQ_START "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n", 400, "Key"},
        {REQ_START "Upgrade: websocket\r\nConnection: Upgrade\r\n" GOOD_KEY "\r\n", 426, "Version"},
        {REQ_START "Upgrade: websocket\r\nConnection: Upgrade\r\n" GOOD_KEY "Sec-WebSocket-Version: 8\r\n\r\n",
         426, "Version"},
        {"POST /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" GOOD_KEY
         "Sec-WebSocket-Version: 13\r\n\r\n", 400, "GET"},
        {"GET /x HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" GOOD_KEY
         "Sec-WebSocket-Version: 13\r\n\r\n", 400, "1.1"},
        {"GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" GOOD_KEY
         "Sec-WebSocket-Version: 13\r\n\r\n", 400, "Host"},
        {REQ_START "Upgrade: websocket\r\n Connection: Upgrade\r\n" GOOD_KEY "Sec-WebSocket-Version: 13\r\n\r\n",
         400, "folded"},
        {REQ_START "Upgrade websocket\r\n\r\n", 400, "malformed"},
        {"GET\r\n\r\n", 400, "request line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tr_diag d;
        int status = 0;
        int rc = parse_req(cases[i].text, &status, &d);
        if (rc != TR_EPARSE || status != cases[i].status || !strstr(d.msg, cases[i].why))
            fail_msg("case %zu: expected %d/'%s', got rc %d status %d '%s'", i, cases[i].status,
                     cases[i].why, rc, status, d.msg);
    }
}

static void request_variants_accepted(void **state) {
    (void)state;
    /* token lists, case, whitespace, bare LF line ends */
    const char *ok[] = {
        "GET / HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
        "sec-websocket-key:dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version:   13  \r\n\r\n",
        "GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: upgrade\n" GOOD_KEY
        "Sec-WebSocket-Version: 13\n\n",
    };
    for (size_t i = 0; i < 2; i++) {
        struct tr_diag d;
        int status = 0;
        int rc = parse_req(ok[i], &status, &d);
        if (rc != 0) fail_msg("case %zu: expected acceptance, got '%s'", i, d.msg);
    }
}

#define RESP_OK_START "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"

static void response_errors(void **state) {
    (void)state;
    struct { const char *text; const char *why; } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "refused"},
        {"HTTP/1.1 404 Not Found\r\n\r\n", "404"},
        {"SSH-2.0-OpenSSH\r\n\r\n", "malformed status"},
        {RESP_OK_START "\r\n", "Accept"},
        {RESP_OK_START "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "Accept"},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "Upgrade"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "Connection"},
        {RESP_OK_START "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", "extension"},
        {RESP_OK_START "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "Sec-WebSocket-Protocol: chat\r\n\r\n", "subprotocol"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tr_diag d;
        int rc = check_resp(cases[i].text, RFC_KEY, &d);
        if (rc != TR_EPARSE || !strstr(d.msg, cases[i].why))
            fail_msg("case %zu: expected '%s', got rc %d '%s'", i, cases[i].why, rc, d.msg);
    }
    /* the right accept for another key is still wrong */
    struct tr_diag d;
    assert_int_equal(check_resp(RESP_OK_START "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                                "AAAAAAAAAAAAAAAAAAAAAA==", &d),
                     TR_EPARSE);
}

static void reject_answers(void **state) {
    (void)state;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_ws_reject_build(&b, 400), 0);
    assert_memory_equal(b.data, "HTTP/1.1 400 ", 13);
    tr_buf_reset(&b);
    assert_int_equal(tr_ws_reject_build(&b, 426), 0);
    assert_memory_equal(b.data, "HTTP/1.1 426 ", 13);
    assert_non_null(strstr(b.data, "Sec-WebSocket-Version: 13\r\n"));
    tr_buf_fini(&b);
}

static void utf8_validation(void **state) {
    (void)state;
    struct { const char *s; size_t n; int ok; } cases[] = {
        {"", 0, 1},
        {"plain ascii {\"id\":1}", 20, 1},
        {"\xc3\xa9t\xc3\xa9", 6, 1},                /* été */
        {"\xe2\x82\xac", 3, 1},                     /* € */
        {"\xf0\x9f\x98\x80", 4, 1},                 /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},                 /* U+10FFFF */
        {"\xc0\xaf", 2, 0},                         /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},                     /* overlong */
        {"\xed\xa0\x80", 3, 0},                     /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0},                 /* above U+10FFFF */
        {"\xc3", 1, 0},                             /* truncated */
        {"\xe2\x82", 2, 0},                         /* truncated */
        {"\x80", 1, 0},                             /* stray continuation */
        {"\xff", 1, 0},
        {"a\0b", 3, 1},                             /* NUL is valid UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (tr_utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
            fail_msg("case %zu: expected %d", i, cases[i].ok);
}

/* The hop subprotocol: offered by the request, found by the parser (also
 * in a list), chosen in the response, and required by the check. */
static void hop_subprotocol(void **state) {
    (void)state;
    struct tr_ws_url u;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_ws_url_parse("ws://127.0.0.1:9/x", &u, &d), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_ws_request_build_proto(&b, &u, RFC_KEY, TR_HOP_PROTOCOL), 0);
    assert_non_null(strstr(b.data, "\r\nSec-WebSocket-Protocol: " TR_HOP_PROTOCOL "\r\n"));
    struct tr_ws_head *h = tr_malloc(sizeof *h);
    head_of(h, b.data);
    struct tr_ws_request r;
    int status;
    assert_int_equal(tr_ws_request_parse(h, &r, &status, &d), 0);
    assert_true(r.hop);
    tr_buf_reset(&b);
    assert_int_equal(tr_ws_request_build(&b, &u, RFC_KEY), 0);
    head_of(h, b.data);
    assert_int_equal(tr_ws_request_parse(h, &r, &status, &d), 0);
    assert_false(r.hop);
    head_of(h, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: chat, " TR_HOP_PROTOCOL "\r\n\r\n");
    assert_int_equal(tr_ws_request_parse(h, &r, &status, &d), 0);
    assert_true(r.hop);
    /* the answer: chosen, required, refused when missing */
    tr_buf_reset(&b);
    assert_int_equal(tr_ws_response_build_proto(&b, RFC_KEY, TR_HOP_PROTOCOL), 0);
    head_of(h, b.data);
    assert_int_equal(tr_ws_response_check_proto(h, RFC_KEY, TR_HOP_PROTOCOL, &d), 0);
    assert_int_not_equal(tr_ws_response_check(h, RFC_KEY, &d), 0);   /* not offered */
    tr_buf_reset(&b);
    assert_int_equal(tr_ws_response_build(&b, RFC_KEY), 0);
    head_of(h, b.data);
    tr_diag_clear(&d);
    assert_int_not_equal(tr_ws_response_check_proto(h, RFC_KEY, TR_HOP_PROTOCOL, &d), 0);
    assert_non_null(strstr(d.msg, TR_HOP_PROTOCOL));
    tr_buf_fini(&b);
    tr_ws_url_fini(&u);
    tr_free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_example_accept_key),
        cmocka_unit_test(fresh_keys_are_valid_and_differ),
        cmocka_unit_test(request_response_round_trip),
        cmocka_unit_test(head_split_across_reads),
        cmocka_unit_test(oversized_head_is_refused),
        cmocka_unit_test(request_errors),
        cmocka_unit_test(request_variants_accepted),
        cmocka_unit_test(response_errors),
        cmocka_unit_test(reject_answers),
        cmocka_unit_test(utf8_validation),
        cmocka_unit_test(hop_subprotocol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
