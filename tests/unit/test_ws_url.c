/* test_ws_url.c - ws:// and wss:// URL parsing, accepted shapes and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "connectors/ws_int.h"
#include "core/alloc.h"

static void check(const char *url, int tls, const char *host, unsigned port, const char *path,
                  const char *authority) {
    struct tr_ws_url u;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_ws_url_parse(url, &u, &d);
    if (rc != 0) fail_msg("expected '%s' to parse, got %d: %s", url, rc, d.msg);
    assert_int_equal(u.tls, tls);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.path, path);
    assert_string_equal(u.authority, authority);
    tr_ws_url_fini(&u);
}

static void refuse(const char *url, const char *why) {
    struct tr_ws_url u;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_ws_url_parse(url, &u, &d);
    if (rc != TR_EPARSE) fail_msg("expected '%s' to be refused, got %d", url, rc);
    if (!strstr(d.msg, why)) fail_msg("expected '%s' in the message, got '%s'", why, d.msg);
    assert_null(u.host);
    assert_null(u.path);
}

static void accepts_plain_and_tls(void **state) {
    (void)state;
    check("ws://localhost:8080", 0, "localhost", 8080, "/", "localhost:8080");
    check("ws://example.com", 0, "example.com", 80, "/", "example.com");
    check("wss://example.com", 1, "example.com", 443, "/", "example.com");
    check("WSS://Example.com:443/a", 1, "Example.com", 443, "/a", "Example.com");
    check("ws://h:80/x/y?q=1&r", 0, "h", 80, "/x/y?q=1&r", "h");
    check("ws://h?q", 0, "h", 80, "/?q", "h");
    check("wss://h:8443/", 1, "h", 8443, "/", "h:8443");
    check("ws://127.0.0.1:1/", 0, "127.0.0.1", 1, "/", "127.0.0.1:1");
    check("ws://h:65535", 0, "h", 65535, "/", "h:65535");
}

static void accepts_ipv6_literals(void **state) {
    (void)state;
    check("ws://[::1]:9000/p", 0, "::1", 9000, "/p", "[::1]:9000");
    check("wss://[2001:db8::7]", 1, "2001:db8::7", 443, "/", "[2001:db8::7]");
    check("ws://[::ffff:127.0.0.1]:80", 0, "::ffff:127.0.0.1", 80, "/", "[::ffff:127.0.0.1]");
}

static void refuses_bad_urls(void **state) {
    (void)state;
    refuse("http://h/", "scheme");
    refuse("h:80", "scheme");
    refuse("", "scheme");
    refuse("ws://", "missing host");
    refuse("ws:///path", "missing host");
    refuse("ws://:80/", "missing host");
    refuse("ws://h:/", "empty port");
    refuse("ws://h:0", "out of range");
    refuse("ws://h:65536", "out of range");
    refuse("ws://h:123456", "out of range");
    refuse("ws://h:8o", "number");
    refuse("ws://user:pw@h/", "user information");
    refuse("ws://h/#frag", "fragment");
    refuse("ws://[::1/", "']'");
    refuse("ws://[]/", "IPv6");
    refuse("ws://[zz::1]/", "IPv6");
    refuse("ws://[::1]x/", "after ']'");
    refuse("ws://h h/", "invalid character");
    char long_url[TR_WS_URL_MAX + 20] = "ws://h/";
    memset(long_url + 7, 'a', TR_WS_URL_MAX);
    long_url[TR_WS_URL_MAX + 7] = 0;
    refuse(long_url, "longer");
}

static void fails_cleanly_without_memory(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    for (uint64_t n = 1; n <= 4; n++) {
        struct tr_ws_url u;
        struct tr_diag d;
        tr_alloc_fail_at(n, 0);
        int rc = tr_ws_url_parse("ws://h:1/p", &u, &d);
        tr_alloc_fail_at(0, 0);
        if (rc == 0) tr_ws_url_fini(&u);
        else assert_int_equal(rc, -ENOMEM);
        assert_int_equal(tr_alloc_used(), before);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_plain_and_tls),
        cmocka_unit_test(accepts_ipv6_literals),
        cmocka_unit_test(refuses_bad_urls),
        cmocka_unit_test(fails_cleanly_without_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
