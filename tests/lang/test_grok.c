/* test_grok.c - the grok extractor against Tremor 0.11: expected values are
 * those of 0.11's tremor-script/src/grok.rs tests and tests/scripts/grok,
 * and of the grok crate 1.2.0 tests (src/lib.rs) it depends on; a hostile
 * pattern must end in a located runtime error, not a hang. Each test runs
 * under an alarm so a hang fails it; nothing asserts on time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "lang/extract_int.h"

#define ALARM_SECONDS 30

static int arm(void **st) {
    (void)st;
    alarm(ALARM_SECONDS);
    return 0;
}

static int disarm(void **st) {
    (void)st;
    alarm(0);
    return 0;
}

/* Run pattern (base set only) over input: the result must equal want (JSON). */
static void expect_grok(const char *pattern, const char *input, const char *want) {
    char msg[256] = "";
    struct tr_grok *g;
    int rc = tr_grok_create(pattern, NULL, &g, msg, sizeof msg);
    if (rc) fail_msg("grok %s\n  expected to compile\n  actual   rc %d: %s", pattern, rc, msg);
    tr_value s, got = tr_v_null(), exp;
    assert_int_equal(0, tr_v_cstr(input, &s));
    struct tr_diag d;
    assert_int_equal(0, tr_json_decode(want, strlen(want), &exp, &d));
    rc = tr_grok_run(g, s.as.s, 1, &got);
    if (rc != 1) fail_msg("grok %s on '%s'\n  expected a match %s\n  actual   rc %d", pattern, input, want, rc);
    if (!tr_value_eq(&got, &exp)) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_json_encode(&got, &b);
        fail_msg("grok %s on '%s'\n  expected %s\n  actual   %s", pattern, input, want, b.data);
    }
    tr_value_unref(got);
    tr_value_unref(exp);
    tr_value_unref(s);
    tr_grok_destroy(g);
}

static void expect_no_match(const char *pattern, const char *input) {
    char msg[256] = "";
    struct tr_grok *g;
    assert_int_equal(0, tr_grok_create(pattern, NULL, &g, msg, sizeof msg));
    tr_value s;
    assert_int_equal(0, tr_v_cstr(input, &s));
    assert_int_equal(0, tr_grok_run(g, s.as.s, 0, NULL));
    tr_value_unref(s);
    tr_grok_destroy(g);
}

static void expect_compile_error(const char *pattern, const char *needle) {
    char msg[256] = "";
    struct tr_grok *g;
    int rc = tr_grok_create(pattern, NULL, &g, msg, sizeof msg);
    if (!rc) fail_msg("grok %s\n  expected a compile error with '%s'\n  actual   compiled", pattern, needle);
    assert_null(g);
    if (!strstr(msg, needle)) fail_msg("grok %s\n  expected an error with '%s'\n  actual   %s", pattern, needle, msg);
}

/* tests/scripts/grok of 0.11 */
static void script_grok(void **st) {
    (void)st;
    expect_grok("%{IP:client} %{WORD:method} %{URIPATHPARAM:request} %{NUMBER:bytes} %{NUMBER:duration}",
                "55.3.244.1 GET /index.html 15824 0.043",
                "{\"duration\":\"0.043\",\"bytes\":\"15824\",\"client\":\"55.3.244.1\",\"request\":\"/index.html\","
                "\"method\":\"GET\"}");
}

/* grok.rs: decode_simple_ok, decode_no_alias_does_not_map,
 * decode_clashing_alias_maps_with_default_unknowable_name */
static void aliases(void **st) {
    (void)st;
    expect_grok("%{USERNAME:username}", "foobar", "{\"username\":\"foobar\"}");
    expect_grok("%{USERNAME}", "foobar", "{}");
    expect_grok("%{USERNAME:snot} %{USERNAME:snot}", "foobar badger", "{\"snot\":\"badger\",\"name0\":\"foobar\"}");
    expect_grok("%{USERNAME:snot} %{USERNAME:name0}", "foobar badger", "{\"snot\":\"foobar\",\"name0\":\"badger\"}");
    /* crate test_adhoc_pattern: the user's own named group is a field */
    expect_grok("\\[(?<threadname>[^\\]]+)\\]", "[thread1]", "{\"threadname\":\"thread1\"}");
    /* crate test_with_alias_only: MAC inside text, and no match for a stub */
    expect_grok("%{MAC:macaddr}", "hello! 5E:FF:56:A2:AF:15 what?", "{\"macaddr\":\"5E:FF:56:A2:AF:15\"}");
    expect_no_match("%{MAC:macaddr}", "5E:FF");
}

/* grok.rs: decode_syslog_esx_hypervisors, decode_syslog_artifactory,
 * decode_standard_syslog, decode_nonstd_syslog */
static void syslog(void **st) {
    (void)st;
    expect_grok("^<%%{POSINT:syslog_pri}> %{TIMESTAMP_ISO8601:syslog_timestamp} (?<esx_uid>[-0-9a-f]+) "
                "%{SYSLOGHOST:syslog_hostname} (?:(?<syslog_program>[\\x21-\\x39\\x3b-\\x5a\\x5c\\x5e-\\x7e]+)"
                "(?:\\[%{POSINT:syslog_pid}\\])?:?)? (?:%{TIMESTAMP_ISO8601:syslog_ingest_timestamp} )?"
                "(%{WORD:wf_pod} %{WORD:wf_datacenter} )?%{GREEDYDATA:syslog_message}",
                "<%1> 2019-04-01T09:59:19+0000 deadbeaf01234 example program_name[1234] 2019-04-01T09:59:19+0010 "
                "pod dc foo bar baz",
                "{\"syslog_program\":\"program_name\",\"esx_uid\":\"deadbeaf01234\",\"wf_datacenter\":\"dc\","
                "\"syslog_timestamp\":\"2019-04-01T09:59:19+0000\",\"wf_pod\":\"pod\",\"syslog_message\":\"foo bar baz\","
                "\"syslog_hostname\":\"example\",\"syslog_pid\":\"1234\","
                "\"syslog_ingest_timestamp\":\"2019-04-01T09:59:19+0010\",\"syslog_pri\":\"1\"}");
    expect_grok("^<%%{POSINT:syslog_pri}>(?:(?<syslog_version>\\d{1,3}) )?(?:%{SYSLOGTIMESTAMP:syslog_timestamp1}|"
                "%{TIMESTAMP_ISO8601:syslog_timestamp}) %{SYSLOGHOST:syslog_hostname} (?:(?<syslog_program>"
                "[\\x21-\\x39\\x3b-\\x5a\\x5c\\x5e-\\x7e]+)(?:\\[%{POSINT:syslog_pid}\\])?:?)? "
                "(?:%{TIMESTAMP_ISO8601:syslog_ingest_timestamp} )?(%{WORD:wf_pod} %{WORD:wf_datacenter} )?"
                "%{GREEDYDATA:syslog_message}",
                "<%1>123 Jul   7 10:51:24 hostname program_name[1234] 2019-04-01T09:59:19+0010 pod dc foo bar baz",
                "{\"wf_pod\":\"pod\",\"syslog_timestamp1\":\"Jul   7 10:51:24\",\"syslog_message\":\"foo bar baz\","
                "\"syslog_timestamp\":\"\",\"syslog_pri\":\"1\",\"syslog_hostname\":\"hostname\",\"wf_datacenter\":\"dc\","
                "\"syslog_program\":\"program_name\",\"syslog_ingest_timestamp\":\"2019-04-01T09:59:19+0010\","
                "\"syslog_pid\":\"1234\",\"syslog_version\":\"123\"}");
    expect_grok("^<%%{POSINT:syslog_pri}>(?:(?<syslog_version>\\d{1,3}) )?(?:%{SYSLOGTIMESTAMP:syslog_timestamp0}|"
                "%{TIMESTAMP_ISO8601:syslog_timestamp1}) %{SYSLOGHOST:syslog_hostname}  ?"
                "(?:%{TIMESTAMP_ISO8601:syslog_ingest_timestamp} )?(%{WORD:wf_pod} %{WORD:wf_datacenter} )?"
                "%{GREEDYDATA:syslog_message}",
                "<%1>123 Jul   7 10:51:24 hostname 2019-04-01T09:59:19+0010 pod dc foo bar baz",
                "{\"syslog_timestamp1\":\"\",\"syslog_ingest_timestamp\":\"2019-04-01T09:59:19+0010\","
                "\"wf_datacenter\":\"dc\",\"syslog_hostname\":\"hostname\",\"syslog_pri\":\"1\",\"wf_pod\":\"pod\","
                "\"syslog_message\":\"foo bar baz\",\"syslog_version\":\"123\","
                "\"syslog_timestamp0\":\"Jul   7 10:51:24\"}");
    /* a repeated alias: the earlier group is reported as its nameN */
    expect_grok("^<%%{POSINT:syslog_pri}>(?:(?<syslog_version>\\d{1,3}) )?(?:%{SYSLOGTIMESTAMP:syslog_timestamp}|"
                "%{TIMESTAMP_ISO8601:syslog_timestamp})  ?(?:%{TIMESTAMP_ISO8601:syslog_ingest_timestamp} )?"
                "(%{WORD:wf_pod} %{WORD:wf_datacenter} )?%{GREEDYDATA:syslog_message}",
                "<%1>123 Jul   7 10:51:24  2019-04-01T09:59:19+0010 pod dc foo bar baz",
                "{\"syslog_version\":\"123\",\"syslog_message\":\"foo bar baz\","
                "\"syslog_ingest_timestamp\":\"2019-04-01T09:59:19+0010\",\"syslog_timestamp\":\"\","
                "\"syslog_pri\":\"1\",\"wf_pod\":\"pod\",\"wf_datacenter\":\"dc\",\"name1\":\"Jul   7 10:51:24\"}");
}

/* grok.rs: decode_syslog_noversion */
static void syslog_noversion(void **st) {
    (void)st;
    const char *p = "^<%%{POSINT:syslog_pri}>(?:(?<syslog_version>\\d{1,3}))? ?(?:%{TIMESTAMP_ISO8601:"
                    "syslog_ingest_timestamp} )?(%{WORD:wf_pod} %{WORD:wf_datacenter} )?%{GREEDYDATA:syslog_message}";
    static const char *const versions[] = {"123", "12", "1", ""};
    for (size_t i = 0; i < 4; i++) {
        char in[128], want[512];
        snprintf(in, sizeof in, "<%%1>%s 2019-04-01T09:59:19+0010 pod dc foo bar baz", versions[i]);
        snprintf(want, sizeof want,
                 "{\"wf_pod\":\"pod\",\"syslog_pri\":\"1\",\"wf_datacenter\":\"dc\",\"syslog_version\":\"%s\","
                 "\"syslog_message\":\"foo bar baz\",\"syslog_ingest_timestamp\":\"2019-04-01T09:59:19+0010\"}",
                 versions[i]);
        expect_grok(p, in, want);
    }
}

/* grok.rs: decode_syslog_isilon - SYSLOGPROG's nested aliases (program,
 * pid) are fields too */
static void syslog_isilon(void **st) {
    (void)st;
    const char *p = "^<invld>%{GREEDYDATA:syslog_error_prefix}>(%{TIMESTAMP_ISO8601:syslog_timestamp}(?: "
                    "%{TIMESTAMP_ISO8601:syslog_ingest_timestamp})? )?(%{WORD:wf_pod} %{WORD:wf_datacenter} )?"
                    "%{SYSLOGHOST:syslog_hostname} ?(%{SYSLOGPROG:syslog_program}:)?%{GREEDYDATA:syslog_message}";
    expect_grok(p, "<invld>x>hostname.com bar baz",
                "{\"pid\":\"\",\"syslog_program\":\"\",\"syslog_timestamp\":\"\",\"syslog_message\":\"bar baz\","
                "\"wf_datacenter\":\"\",\"syslog_hostname\":\"hostname.com\",\"syslog_error_prefix\":\"x\","
                "\"wf_pod\":\"\",\"syslog_ingest_timestamp\":\"\",\"program\":\"\"}");
    expect_grok(p, "<invld>x y z>2019-04-01T09:59:19+0010 2019-04-01T09:59:19+0010 hostname.com bar baz",
                "{\"syslog_timestamp\":\"2019-04-01T09:59:19+0010\",\"syslog_ingest_timestamp\":"
                "\"2019-04-01T09:59:19+0010\",\"wf_datacenter\":\"\",\"wf_pod\":\"\",\"syslog_hostname\":"
                "\"hostname.com\",\"syslog_program\":\"\",\"syslog_message\":\"bar baz\",\"pid\":\"\","
                "\"syslog_error_prefix\":\"x y z\",\"program\":\"\"}");
    expect_grok(p, "<invld>x y z>pod dc hostname.com bar baz",
                "{\"syslog_timestamp\":\"\",\"syslog_ingest_timestamp\":\"\",\"wf_datacenter\":\"dc\",\"wf_pod\":"
                "\"pod\",\"syslog_hostname\":\"hostname.com\",\"syslog_program\":\"\",\"syslog_message\":\"bar baz\","
                "\"pid\":\"\",\"syslog_error_prefix\":\"x y z\",\"program\":\"\"}");
    expect_grok(p, "<invld>x>hostname.com program_name[1234]: bar baz",
                "{\"pid\":\"1234\",\"syslog_program\":\"program_name[1234]\",\"syslog_timestamp\":\"\","
                "\"syslog_message\":\" bar baz\",\"wf_datacenter\":\"\",\"syslog_hostname\":\"hostname.com\","
                "\"syslog_error_prefix\":\"x\",\"wf_pod\":\"\",\"syslog_ingest_timestamp\":\"\","
                "\"program\":\"program_name\"}");
    expect_grok(p, "<invld>x y z>2019-04-01T09:59:19+0010 pod dc hostname.com program_name: bar baz",
                "{\"syslog_timestamp\":\"2019-04-01T09:59:19+0010\",\"syslog_ingest_timestamp\":\"\","
                "\"wf_datacenter\":\"dc\",\"wf_pod\":\"pod\",\"syslog_hostname\":\"hostname.com\","
                "\"syslog_program\":\"program_name\",\"syslog_message\":\" bar baz\",\"pid\":\"\","
                "\"syslog_error_prefix\":\"x y z\",\"program\":\"program_name\"}");
    expect_grok(p, "<invld>x y z>pod dc hostname.com program_name[1234]:bar baz",
                "{\"syslog_timestamp\":\"\",\"syslog_ingest_timestamp\":\"\",\"wf_datacenter\":\"dc\",\"wf_pod\":"
                "\"pod\",\"syslog_hostname\":\"hostname.com\",\"syslog_program\":\"program_name[1234]\","
                "\"syslog_message\":\"bar baz\",\"pid\":\"1234\",\"syslog_error_prefix\":\"x y z\","
                "\"program\":\"program_name\"}");
}

/* The base set is the crate's: DATA is non-greedy (.*?), the syslog family
 * is there, and every base pattern compiles (crate test
 * test_compilation_of_all_default_patterns). */
static void base_set(void **st) {
    (void)st;
    expect_grok("%{DATA:a},%{GREEDYDATA:b}", "x,y,z", "{\"a\":\"x\",\"b\":\"y,z\"}");
    /* crate test_loaded_default_patterns, with aliases */
    expect_grok("%{DAY:d} %{MONTH:m} %{YEAR:y}", "Monday March 2012",
                "{\"d\":\"Monday\",\"m\":\"March\",\"y\":\"2012\"}");
    for (size_t i = 0; i < tr_grok_nbase; i++) {
        char pat[128], msg[256] = "";
        snprintf(pat, sizeof pat, "%%{%s}", tr_grok_base[i].name);
        struct tr_grok *g;
        int rc = tr_grok_create(pat, NULL, &g, msg, sizeof msg);
        if (rc) fail_msg("base pattern %s: expected to compile, got rc %d: %s", pat, rc, msg);
        tr_grok_destroy(g);
    }
    struct tr_grok *g;
    char msg[256];
    assert_int_equal(0, tr_grok_create("%{SYSLOGBASE}", NULL, &g, msg, sizeof msg));
    tr_grok_destroy(g);
    assert_int_equal(0, tr_grok_create("%{SYSLOG5424LINE}", NULL, &g, msg, sizeof msg));
    tr_grok_destroy(g);
}

/* %{NAME:alias=regex} defines NAME for this pattern (the crate's
 * definition group) */
static void inline_definition(void **st) {
    (void)st;
    expect_grok("%{NUMS:n=[0-9]+}-%{NUMS:m}", "12-34", "{\"n\":\"12\",\"m\":\"34\"}");
}

/* What the crate rejects (its Error's Display texts). */
static void compile_errors(void **st) {
    (void)st;
    expect_compile_error("%{NOPE:x}", "The given pattern definition name \"NOPE\" could not be found");
    expect_compile_error("", "ended up compiling into an empty regex");
    expect_compile_error("%{WORD:w} (", "failed compilation in the underlying engine");
}

static char *write_file(const char *text) {
    char *path = strdup("/tmp/tremor-grok-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal((ssize_t)strlen(text), write(fd, text, strlen(text)));
    close(fd);
    return path;
}

/* grok.rs load_file: a patterns file adds definitions; a file 0.11 cannot
 * use is ignored, leaving the base set. */
static void patterns_file(void **st) {
    (void)st;
    char *path = write_file("# the snots\n\nSNOT %{USERNAME:snot} %{USERNAME:snot}\n#the badgers\n"
                            "SNOTBADGER %{USERNAME:snot} %{USERNAME:badger}\n");
    char msg[256] = "";
    struct tr_grok *g;
    assert_int_equal(0, tr_grok_create("%{SNOT} %{SNOTBADGER}", path, &g, msg, sizeof msg));
    tr_value s, out = tr_v_null();
    assert_int_equal(0, tr_v_cstr("a b c d", &s));
    assert_int_equal(1, tr_grok_run(g, s.as.s, 1, &out));
    /* the last snot wins, as in decode_clashing_alias_maps_with_default_unknowable_name */
    tr_value *v = tr_rec_get_cstr(&out, "snot");
    assert_non_null(v);
    assert_memory_equal("c", v->as.s->data, 1);
    v = tr_rec_get_cstr(&out, "badger");
    assert_non_null(v);
    assert_memory_equal("d", v->as.s->data, 1);
    tr_value_unref(out);
    tr_value_unref(s);
    tr_grok_destroy(g);
    /* without the file the names are unknown */
    expect_compile_error("%{SNOT}", "\"SNOT\" could not be found");
    unlink(path);
    free(path);
    /* a line without "NAME pattern" makes 0.11 drop the file */
    path = write_file("SNOT %{USERNAME:snot}\nBROKEN\n");
    assert_int_not_equal(0, tr_grok_create("%{SNOT}", path, &g, msg, sizeof msg));
    assert_non_null(strstr(msg, "\"SNOT\" could not be found"));
    assert_int_equal(0, tr_grok_create("%{WORD:w}", path, &g, msg, sizeof msg));
    tr_grok_destroy(g);
    unlink(path);
    free(path);
    assert_int_equal(0, tr_grok_create("%{WORD:w}", "/nonexistent/grok.patterns", &g, msg, sizeof msg));
    tr_grok_destroy(g);
}

/* Catastrophic backtracking ends in a runtime error that says why. */
static void hostile(void **st) {
    (void)st;
    char msg[256] = "";
    struct tr_grok *g;
    assert_int_equal(0, tr_grok_create("^(%{USERNAME:u}\\s?)*$", NULL, &g, msg, sizeof msg));
    size_t n = 20000;
    char *in = malloc(n + 2);
    assert_non_null(in);
    memset(in, 'a', n);
    in[n] = '!';
    in[n + 1] = 0;
    tr_value s, out = tr_v_null();
    assert_int_equal(0, tr_v_cstr(in, &s));
    assert_int_equal(TR_ERUNTIME, tr_grok_run(g, s.as.s, 1, &out));
    if (!strstr(tr_grok_error(g), "limit")) fail_msg("expected a limit error, got '%s'", tr_grok_error(g));
    tr_value_unref(s);
    /* the same grok still answers ordinary input */
    assert_int_equal(0, tr_v_cstr("ab cd", &s));
    assert_int_equal(1, tr_grok_run(g, s.as.s, 0, NULL));
    assert_string_equal("", tr_grok_error(g));
    tr_value_unref(s);
    tr_grok_destroy(g);
    free(in);
    /* a reference the crate's reference syntax chokes on is a compile error, promptly */
    char pat[4096];
    memcpy(pat, "%{A=", 4);
    memset(pat + 4, '.', sizeof pat - 5);
    pat[sizeof pat - 1] = 0;
    int rc = tr_grok_create(pat, NULL, &g, msg, sizeof msg);
    if (!rc) tr_grok_destroy(g);
}

/* Growth is bounded: definitions that double at each level (2^24 copies
 * unbounded) and one that refers to itself end promptly in an error. */
static void expansion_bound(void **st) {
    (void)st;
    char text[2048];
    int off = 0;
    for (int i = 0; i < 24; i++)
        off += snprintf(text + off, sizeof text - (size_t)off, "A%d %%{A%d}%%{A%d}\n", i, i + 1, i + 1);
    snprintf(text + off, sizeof text - (size_t)off, "A24 x\nLOOP a%%{LOOP}\n");
    char *path = write_file(text);
    char msg[256] = "";
    struct tr_grok *g;
    assert_int_not_equal(0, tr_grok_create("%{A0}", path, &g, msg, sizeof msg));
    assert_null(g);
    assert_int_not_equal(0, tr_grok_create("%{LOOP}", path, &g, msg, sizeof msg));
    assert_null(g);
    /* the file itself is fine: a pattern of bounded size compiles with it */
    assert_int_equal(0, tr_grok_create("%{A22:a}", path, &g, msg, sizeof msg));
    tr_grok_destroy(g);
    unlink(path);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(script_grok, arm, disarm),
        cmocka_unit_test_setup_teardown(aliases, arm, disarm),
        cmocka_unit_test_setup_teardown(syslog, arm, disarm),
        cmocka_unit_test_setup_teardown(syslog_noversion, arm, disarm),
        cmocka_unit_test_setup_teardown(syslog_isilon, arm, disarm),
        cmocka_unit_test_setup_teardown(base_set, arm, disarm),
        cmocka_unit_test_setup_teardown(inline_definition, arm, disarm),
        cmocka_unit_test_setup_teardown(compile_errors, arm, disarm),
        cmocka_unit_test_setup_teardown(patterns_file, arm, disarm),
        cmocka_unit_test_setup_teardown(hostile, arm, disarm),
        cmocka_unit_test_setup_teardown(expansion_bound, arm, disarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
