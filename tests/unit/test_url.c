/* test_url.c - Tremor artefact URLs: parsing, formatting, {placeholder} substitution. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config/url.h"
#include "core/alloc.h"

static void parse_ok(const char *s, enum tr_url_kind kind, const char *host, const char *art,
                     const char *inst, const char *port) {
    struct tr_url u;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_url_parse(s, &u, &d);
    if (rc) print_error("parsing '%s' failed: %s\n", s, d.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(u.kind, kind);
    assert_string_equal(u.host, host);
    assert_string_equal(u.artefact, art);
    assert_string_equal(u.instance, inst);
    assert_string_equal(u.port, port);
}

static void test_parse_forms(void **state) {
    (void)state;
    parse_ok("/onramp/metronome/{instance}/out", TR_URL_ONRAMP, "", "metronome", "{instance}",
             "out");
    parse_ok("/pipeline/persistent/01/in", TR_URL_PIPELINE, "", "persistent", "01", "in");
    parse_ok("/offramp/ws", TR_URL_OFFRAMP, "", "ws", "", "");
    /* relative, as the linked-transport docs write them */
    parse_ok("onramp/http_in/{instance}/in", TR_URL_ONRAMP, "", "http_in", "{instance}", "in");
    parse_ok("onramp/metronome", TR_URL_ONRAMP, "", "metronome", "", "");
    parse_ok("/binding/default/01", TR_URL_BINDING, "", "default", "01", "");
    parse_ok("tremor://localhost/pipeline/main/01/out", TR_URL_PIPELINE, "localhost", "main", "01",
             "out");
    /* as written in Tremor's own test configs */
    parse_ok("/onramp/blaster/{instance}/", TR_URL_ONRAMP, "", "blaster", "{instance}", "");
    parse_ok("/pipeline/system::metrics/system/out", TR_URL_PIPELINE, "", "system::metrics",
             "system", "out");
    parse_ok("/pipeline/system::passthrough/rest-err-{instance}/in", TR_URL_PIPELINE, "",
             "system::passthrough", "rest-err-{instance}", "in");
    parse_ok("/pipeline/metrics/{instance}/done", TR_URL_PIPELINE, "", "metrics", "{instance}",
             "done");
}

static void parse_bad(const char *s, const char *expect_in_msg) {
    struct tr_url u;
    struct tr_diag d;
    tr_diag_clear(&d);
    memset(&u, 0x55, sizeof u);
    int rc = tr_url_parse(s, &u, &d);
    assert_int_equal(rc, TR_EPARSE);
    if (!strstr(d.msg, expect_in_msg))
        print_error("'%s': expected '%s' in message, got '%s'\n", s, expect_in_msg, d.msg);
    assert_non_null(strstr(d.msg, expect_in_msg));
    assert_string_equal(u.artefact, "");   /* zeroed on failure */
}

static void test_parse_errors(void **state) {
    (void)state;
    parse_bad("/offramps/ws/01/in", "unknown artefact kind 'offramps'");
    parse_bad("/offramps/ws/01/in", "(at character 2)");
    parse_bad("nope/metronome", "unknown artefact kind 'nope'");
    parse_bad("http://x/onramp/a", "only tremor:// URLs");
    parse_bad("/onramp", "no artefact id");
    parse_bad("/onramp/", "no artefact id");
    parse_bad("/", "expected '/<kind>/<artefact>'");
    parse_bad("", "expected '/<kind>/<artefact>");
    parse_bad("/onramp//x", "empty path segment");
    parse_bad("/onramp/a/b/c//", "empty path segment");
    parse_bad("/onramp/a/b/c/d", "too many path segments");
    parse_bad("/onramp/a b", "character 0x20 is not allowed (at character 10)");
    parse_bad("/onramp/a?x=1", "character 0x3F");
    parse_bad("tremor://host", "after the host");
    char longid[300];
    memset(longid, 'x', sizeof longid);
    memcpy(longid, "/onramp/", 8);
    longid[8 + 128] = 0;
    parse_bad(longid, "artefact id longer than 127");
    struct tr_url u;
    assert_int_equal(tr_url_parse(NULL, &u, NULL), TR_EPARSE);   /* d may be NULL */
}

static void test_format_roundtrip(void **state) {
    (void)state;
    const char *in[] = {"/onramp/metronome/01/out", "/offramp/ws", "/binding/default/01",
                        "tremor://h/pipeline/p/i/out"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct tr_url u;
        char buf[600];
        assert_int_equal(tr_url_parse(in[i], &u, NULL), 0);
        int n = tr_url_format(&u, buf, sizeof buf);
        assert_int_equal(n, (int)strlen(in[i]));
        assert_string_equal(buf, in[i]);
    }
    assert_string_equal(tr_url_kind_name(TR_URL_OFFRAMP), "offramp");
}

static tr_value vars_of(const char *const *kv) {
    tr_value r;
    assert_int_equal(tr_v_rec(4, &r), 0);
    for (; kv[0]; kv += 2) {
        tr_value s;
        assert_int_equal(tr_v_cstr(kv[1], &s), 0);
        assert_int_equal(tr_rec_set(&r, kv[0], strlen(kv[0]), s), 0);
    }
    return r;
}

static void test_substitute(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    const char *kv[] = {"instance", "01", "port", "out", NULL};
    tr_value vars = vars_of(kv);
    char *out = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_url_substitute("/onramp/metronome/{instance}/out", &vars, &out, &d), 0);
    assert_string_equal(out, "/onramp/metronome/01/out");
    tr_free(out);
    /* every placeholder, several per segment, and the same one twice */
    assert_int_equal(
        tr_url_substitute("/pipeline/p-{instance}-{instance}/{instance}/{port}", &vars, &out, &d),
        0);
    assert_string_equal(out, "/pipeline/p-01-01/01/out");
    tr_free(out);
    /* no placeholder: copied as is; a lone '}' is plain text */
    assert_int_equal(tr_url_substitute("/offramp/ws/x}/in", &vars, &out, &d), 0);
    assert_string_equal(out, "/offramp/ws/x}/in");
    tr_free(out);
    assert_int_equal(tr_url_substitute("", &vars, &out, &d), 0);
    assert_string_equal(out, "");
    tr_free(out);
    tr_value_unref(vars);
    assert_int_equal(tr_alloc_used(), before);
}

static void test_substitute_errors(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    const char *kv[] = {"instance", "01", "zone", "eu", NULL};
    tr_value vars = vars_of(kv);
    char *out = (char *)1;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_url_substitute("/onramp/m/{inst}/out", &vars, &out, &d), TR_EINVAL_CFG);
    assert_null(out);
    assert_string_equal(d.msg, "unknown placeholder '{inst}' in '/onramp/m/{inst}/out' "
                               "(the mapping defines: instance, zone)");
    assert_int_equal(tr_url_substitute("/onramp/m/{instance/out", &vars, &out, &d),
                     TR_EINVAL_CFG);
    assert_string_equal(d.msg, "'{' without a closing '}' in '/onramp/m/{instance/out' "
                               "(at character 11)");
    assert_int_equal(tr_url_substitute("/onramp/m/{}/out", &vars, &out, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "empty placeholder"));
    /* no vars at all */
    assert_int_equal(tr_url_substitute("/onramp/m/{instance}/out", NULL, &out, &d),
                     TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "(the mapping defines: none)"));
    /* a value that is not a string */
    assert_int_equal(tr_rec_set(&vars, "n", 1, tr_v_int(3)), 0);
    assert_int_equal(tr_url_substitute("/onramp/m/{n}/out", &vars, &out, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "expected a string"));
    tr_value_unref(vars);
    assert_int_equal(tr_alloc_used(), before);
}

static void test_substitute_bounded(void **state) {
    (void)state;
    /* 1000 copies of a 100-byte value would be 100 kB: refused, not built */
    char big[101];
    memset(big, 'v', 100);
    big[100] = 0;
    const char *kv[] = {"x", big, NULL};
    tr_value vars = vars_of(kv);
    char tmpl[3 * 1000 + 1];
    for (int i = 0; i < 1000; i++) memcpy(tmpl + 3 * i, "{x}", 3);
    tmpl[3000] = 0;
    char *out = NULL;
    struct tr_diag d;
    assert_int_equal(tr_url_substitute(tmpl, &vars, &out, &d), TR_ETOOBIG);
    assert_null(out);
    tr_value_unref(vars);
}

static void test_substitute_alloc_failures(void **state) {
    (void)state;
    const char *kv[] = {"instance", "01", NULL};
    tr_value vars = vars_of(kv);
    size_t before = tr_alloc_used();
    for (uint64_t n = 1; n < 10; n++) {
        char *out = NULL;
        tr_alloc_fail_at(n, 0);
        int rc = tr_url_substitute("/onramp/metronome/{instance}/out", &vars, &out, NULL);
        tr_alloc_fail_at(0, 0);
        assert_true(rc == 0 || rc == -ENOMEM);
        if (rc == 0) assert_string_equal(out, "/onramp/metronome/01/out");
        else assert_null(out);
        tr_free(out);
        assert_int_equal(tr_alloc_used(), before);
    }
    tr_value_unref(vars);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_substitute),
        cmocka_unit_test(test_substitute_errors),
        cmocka_unit_test(test_substitute_bounded),
        cmocka_unit_test(test_substitute_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
