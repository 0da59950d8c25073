/* test_codec_syslog.c - the syslog codec with 0.11's tests (codec round trip,
 * empty fields, invalid message, incorrect structured data, RFC 3164 with
 * invalid structured data, encoder errors and empty encodings), syslog_loose
 * 0.10's parsing rules 0.11 inherits, lines written by util-linux `logger`
 * in both formats, a round-trip property and hostile lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "codec_check.h"

#define S(s) s, sizeof(s) - 1
#define NULLS_3164 "\"msgid\":null,\"protocol\":\"RFC3164\",\"protocol_version\":null"

static void codec_round_trip_0_11(void **state) {
    (void)state;
    const char *s = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
                    "eventSource= \"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] BOMAn "
                    "application event log entry...";
    expect_decode("syslog", s, strlen(s),
                  "{\"hostname\":\"mymachine.example.com\",\"severity\":\"notice\",\"facility\":\"local4\","
                  "\"timestamp\":1065910455003000000,\"protocol\":\"RFC5424\",\"protocol_version\":1,"
                  "\"appname\":\"evntslog\",\"msgid\":\"ID47\",\"structured_data\":{\"exampleSDID@32473\":"
                  "[{\"iut\":\"3\"},{\"eventSource\":\"Application\"},{\"eventID\":\"1011\"}],"
                  "\"examplePriority@32473\":[{\"class\":\"high\"}]},\"procid\":null,"
                  "\"msg\":\"BOMAn application event log entry...\"}");
    tr_value d;
    assert_int_equal(dec("syslog", s, strlen(s), &d), 0);
    expect_encode("syslog", &d,
                  S("<165>1 2003-10-11T22:14:15.003+00:00 mymachine.example.com evntslog - ID47 [exampleSDID@32473 "
                    "iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] "
                    "BOMAn application event log entry..."));
    round_trip("syslog", &d);
    tr_value_unref(d);
}

static void decode_vectors_0_11(void **state) {
    (void)state;
    expect_decode("syslog", S("<191>1 2021-03-18T20:30:00.123Z - - - - - message"),
                  "{\"hostname\":null,\"severity\":\"debug\",\"facility\":\"local7\",\"appname\":null,\"msg\":\"message\","
                  "\"msgid\":null,\"procid\":null,\"protocol\":\"RFC5424\",\"protocol_version\":1,"
                  "\"structured_data\":null,\"timestamp\":1616099400123000000}");
    expect_decode("syslog", S("an invalid message"),
                  "{\"hostname\":null,\"severity\":null,\"facility\":null,\"appname\":null,\"msg\":\"an invalid message\","
                  "\"procid\":null,\"structured_data\":null,\"timestamp\":null," NULLS_3164 "}");
    expect_decode("syslog", S("<13>1 2021-03-18T20:30:00.123Z 74794bfb6795 root 8449 - [incorrect x] message"),
                  "{\"hostname\":\"74794bfb6795\",\"severity\":\"notice\",\"facility\":\"user\",\"appname\":\"root\","
                  "\"msg\":\"message\",\"msgid\":null,\"procid\":\"8449\",\"protocol\":\"RFC5424\",\"protocol_version\":1,"
                  "\"structured_data\":null,\"timestamp\":1616099400123000000}");
    /* test_invalid_sd_3164: the year is 0.11's resolve_year (this UTC year;
     * last year for a December date read in January) */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    struct tm then = {.tm_year = tm.tm_year, .tm_mon = 0, .tm_mday = 5, .tm_hour = 15, .tm_min = 33, .tm_sec = 3};
    char json[1024];
    snprintf(json, sizeof json,
             "{\"hostname\":\"plertrood-ThinkPad-X220\",\"severity\":\"info\",\"facility\":\"syslog\","
             "\"appname\":\"rsyslogd\",\"msg\":\"message\",\"procid\":null,\"structured_data\":null,"
             "\"timestamp\":%lld000000000," NULLS_3164 "}",
             (long long)timegm(&then));
    expect_decode("syslog",
                  S("<46>Jan  5 15:33:03 plertrood-ThinkPad-X220 rsyslogd:  [software=\"rsyslogd\" swVersion=\"8.32.0\"] message"),
                  json);
}

static void syslog_loose_rules(void **state) {
    (void)state;
    /* tag with pid; a year; the RFC 3339 form in a BSD line; procid renumbered */
    expect_decode("syslog", S("<34>Oct 11 2008 22:14:15 mymachine su[0042]: 'su root' failed"),
                  "{\"hostname\":\"mymachine\",\"severity\":\"crit\",\"facility\":\"auth\",\"appname\":\"su\","
                  "\"procid\":\"42\",\"msg\":\"'su root' failed\",\"structured_data\":null,"
                  "\"timestamp\":1223763255000000000," NULLS_3164 "}");
    expect_decode("syslog", S("<13>2019-02-13T19:48:34+00:00 74794bfb6795 root[8539]: i am foobar"),
                  "{\"hostname\":\"74794bfb6795\",\"severity\":\"notice\",\"facility\":\"user\",\"appname\":\"root\","
                  "\"procid\":\"8539\",\"msg\":\"i am foobar\",\"structured_data\":null,"
                  "\"timestamp\":1550087314000000000," NULLS_3164 "}");
    /* one field only, without [pid]: the hostname */
    expect_decode("syslog", S("<13>2019-02-13T19:48:34+01:00 onlyhost: hi"),
                  "{\"hostname\":\"onlyhost\",\"severity\":\"notice\",\"facility\":\"user\",\"appname\":null,"
                  "\"procid\":null,\"msg\":\"hi\",\"structured_data\":null,"
                  "\"timestamp\":1550083714000000000," NULLS_3164 "}");
    /* a PRI above 255 is no PRI: nothing parses, the whole line is msg */
    expect_decode("syslog", S("<999>1 2021-03-18T20:30:00Z h a p m - x"),
                  "{\"hostname\":null,\"severity\":null,\"facility\":null,\"appname\":null,\"procid\":null,"
                  "\"msg\":\"<999>1 2021-03-18T20:30:00Z h a p m - x\",\"structured_data\":null,\"timestamp\":null,"
                  NULLS_3164 "}");
    /* PRI 200: facility 25 does not exist, severity still does */
    expect_decode("syslog", S("<200>1 2021-03-18T20:30:00Z h a p m - x"),
                  "{\"hostname\":\"h\",\"severity\":\"emerg\",\"facility\":null,\"appname\":\"a\",\"procid\":\"p\","
                  "\"msgid\":\"m\",\"msg\":\"x\",\"structured_data\":null,\"timestamp\":1616099400000000000,"
                  "\"protocol\":\"RFC5424\",\"protocol_version\":1}");
    /* parameter values keep their escapes; elements without params; an empty value drops its element */
    expect_decode("syslog", S("<1>1 2021-03-18T20:30:00Z h a p m [a x=\"q\\\"u\\\\o\"][b][c y=\"\"] rest"),
                  "{\"hostname\":\"h\",\"severity\":\"alert\",\"facility\":\"kern\",\"appname\":\"a\",\"procid\":\"p\","
                  "\"msgid\":\"m\",\"msg\":\"rest\",\"structured_data\":{\"a\":[{\"x\":\"q\\\\\\\"u\\\\\\\\o\"}],\"b\":[]},"
                  "\"timestamp\":1616099400000000000,\"protocol\":\"RFC5424\",\"protocol_version\":1}");
    /* a 5424 line without structured data is not 5424, nor BSD: all msg, untrimmed */
    expect_decode("syslog", S("  <1>1 2021-03-18T20:30:00Z h a p m rest "),
                  "{\"hostname\":null,\"severity\":null,\"facility\":null,\"appname\":null,\"procid\":null,"
                  "\"msg\":\"  <1>1 2021-03-18T20:30:00Z h a p m rest \",\"structured_data\":null,\"timestamp\":null,"
                  NULLS_3164 "}");
    /* an offset and a leap second */
    expect_decode("syslog", S("<1>1 2016-12-31T23:59:60.5-01:30 - - - - -"),
                  "{\"hostname\":null,\"severity\":\"alert\",\"facility\":\"kern\",\"appname\":null,\"procid\":null,"
                  "\"msgid\":null,\"msg\":\"\",\"structured_data\":null,\"timestamp\":1483234200500000000,"
                  "\"protocol\":\"RFC5424\",\"protocol_version\":1}");
    /* a day that does not exist (0.11 panics): no timestamp, all msg */
    tr_value v;
    assert_int_equal(dec("syslog", S("<1>1 2021-02-30T00:00:00Z - - - - -"), &v), 0);
    assert_int_equal(tr_rec_get_cstr(&v, "timestamp")->type, TR_NULL);
    tr_value_unref(v);
    /* bytes that are not UTF-8 are the only error */
    assert_int_equal(dec("syslog", S("<1>1 \xff"), &v), TR_EPARSE);
}

static void encode_vectors_0_11(void **state) {
    (void)state;
    tr_value m = J("{\"severity\":\"notice\",\"facility\":\"local4\",\"msg\":\"test message\",\"protocol\":\"RFC5424\","
                   "\"protocol_version\":1}");
    expect_encode("syslog", &m, S("<165>1 - - - - - - test message"));
    tr_value_unref(m);
    m = J("{\"severity\":\"notice\",\"facility\":\"local4\",\"msg\":\"test message\",\"protocol\":\"RFC3164\"}");
    expect_encode("syslog", &m, S("<165> - - : test message"));
    tr_value_unref(m);
    const char *errs[] = {
        "{}",                                                                       /* facility missing */
        "{\"facility\":\"cron\"}",                                                  /* severity missing */
        "{\"facility\":\"cron\",\"severity\":\"info\",\"structured_data\":\"sd\"}", /* sd not an object */
        "{\"facility\":\"cron\",\"severity\":\"info\",\"protocol\":\"RFC5424\"}",   /* missing version */
        "{\"facility\":\"cron\",\"severity\":\"info\",\"protocol_version\":1}",     /* missing type */
        "{\"facility\":\"cron\",\"severity\":\"info\",\"protocol\":\"RFC1\"}",      /* invalid type */
        "{\"facility\":\"nope\",\"severity\":\"info\"}",
        "{\"facility\":\"cron\",\"severity\":\"loud\"}",
        "{\"facility\":\"cron\",\"severity\":\"info\",\"structured_data\":{\"a\":{}}}",
        "{\"facility\":\"cron\",\"severity\":\"info\",\"structured_data\":{\"a\":[1]}}",
        "{\"facility\":\"cron\",\"severity\":\"info\",\"structured_data\":{\"a\":[{\"k\":1}]}}",
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        tr_value v = J(errs[i]);
        assert_int_equal(enc_rc("syslog", &v), TR_EINVAL_CFG);
        tr_value_unref(v);
    }
    /* default protocol RFC 5424 version 1; 3164 with app and pid; fractions of 6 and 9 digits */
    m = J("{\"facility\":\"cron\",\"severity\":\"info\",\"timestamp\":1000000,\"hostname\":\"h\"}");
    expect_encode("syslog", &m, S("<78>1 1970-01-01T00:00:00.001+00:00 h - - - -"));
    tr_value_unref(m);
    m = J("{\"facility\":\"cron\",\"severity\":\"info\",\"timestamp\":1001,\"protocol\":\"RFC3164\",\"appname\":\"a\","
          "\"procid\":\"7\",\"msg\":\"x\"}");
    expect_encode("syslog", &m, S("<78> 1970-01-01T00:00:00.000001001+00:00 - a[7]: x"));
    tr_value_unref(m);
}

static void logger_lines(void **state) {
    (void)state;
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    char *dot = strchr(host, '.');
    if (dot) *dot = 0;
    const char *cmds[] = {
        "logger --rfc5424 --stderr --no-act -n 127.0.0.1 -P 9 -d -t myapp -p local4.notice 'hello world' 2>&1 >/dev/null",
        "logger --rfc5424=notq --stderr --no-act -n 127.0.0.1 -P 9 -d -i --msgid ID47 -t app -p daemon.info "
        "--sd-id exampleSDID@32473 --sd-param 'iut=\"3\"' 'with sd' 2>&1 >/dev/null",
        "logger --rfc3164 --stderr --no-act -n 127.0.0.1 -P 9 -d -i -t myapp -p user.err 'hello 3164' 2>&1 >/dev/null",
    };
    for (int i = 0; i < 3; i++) {
        FILE *p = popen(cmds[i], "r");
        assert_non_null(p);
        char line[1024] = {0};
        assert_non_null(fgets(line, sizeof line, p));
        assert_int_equal(pclose(p), 0);
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        tr_value v;
        assert_int_equal(dec("syslog", line, n, &v), 0);
        const tr_value *ts = tr_rec_get_cstr(&v, "timestamp");
        assert_int_equal(ts->type, TR_I64);
        long long now = (long long)time(NULL) * 1000000000ll;
        assert_true(llabs(ts->as.i - now) < 26ll * 3600 * 1000000000ll);  /* logger writes local time in BSD lines */
        assert_string_equal(tr_rec_get_cstr(&v, "hostname")->as.s->data, host);
        const char *proto = tr_rec_get_cstr(&v, "protocol")->as.s->data;
        assert_string_equal(proto, i < 2 ? "RFC5424" : "RFC3164");
        if (i == 0) {
            assert_string_equal(tr_rec_get_cstr(&v, "facility")->as.s->data, "local4");
            assert_string_equal(tr_rec_get_cstr(&v, "severity")->as.s->data, "notice");
            assert_string_equal(tr_rec_get_cstr(&v, "appname")->as.s->data, "myapp");
            assert_string_equal(tr_rec_get_cstr(&v, "msg")->as.s->data, "hello world");
            const tr_value *sd = tr_rec_get_cstr(&v, "structured_data");
            assert_int_equal(sd->type, TR_REC);
            assert_non_null(tr_rec_get_cstr(sd, "timeQuality"));
        } else if (i == 1) {
            assert_string_equal(tr_rec_get_cstr(&v, "msgid")->as.s->data, "ID47");
            assert_int_equal(tr_rec_get_cstr(&v, "procid")->type, TR_STR);
            tr_value e = J("{\"exampleSDID@32473\":[{\"iut\":\"3\"}]}");
            expect_same(&e, tr_rec_get_cstr(&v, "structured_data"));
            tr_value_unref(e);
            assert_string_equal(tr_rec_get_cstr(&v, "msg")->as.s->data, "with sd");
        } else {
            assert_string_equal(tr_rec_get_cstr(&v, "facility")->as.s->data, "user");
            assert_string_equal(tr_rec_get_cstr(&v, "severity")->as.s->data, "err");
            assert_string_equal(tr_rec_get_cstr(&v, "appname")->as.s->data, "myapp");
            assert_int_equal(tr_rec_get_cstr(&v, "procid")->type, TR_STR);
            assert_string_equal(tr_rec_get_cstr(&v, "msg")->as.s->data, "hello 3164");
        }
        round_trip("syslog", &v);
        tr_value_unref(v);
    }
}

static void round_trip_property(void **state) {
    (void)state;
    rng_state = 99;
    static const char *fac[] = {"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
                                "uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clockd",
                                "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
    static const char *sev[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    const char *word = "abcXYZ019.-_@\x01";
    for (int i = 0; i < 3000; i++) {
        tr_value v = J("{}"), s;
        assert_int_equal(tr_v_cstr(fac[rnd() % 24], &s), 0);
        assert_int_equal(tr_rec_set(&v, "facility", 8, s), 0);
        assert_int_equal(tr_v_cstr(sev[rnd() % 8], &s), 0);
        assert_int_equal(tr_rec_set(&v, "severity", 8, s), 0);
        assert_int_equal(tr_v_cstr("RFC5424", &s), 0);
        assert_int_equal(tr_rec_set(&v, "protocol", 8, s), 0);
        assert_int_equal(tr_rec_set(&v, "protocol_version", 16, tr_v_int((int64_t)(rnd() % 3) + 1)), 0);
        /* 1678..2261: the span of nanoseconds in an i64 */
        int64_t ts = (int64_t)(rnd() % (18000000000ull)) * 500000000ll - 4000000000000000000ll;
        assert_int_equal(tr_rec_set(&v, "timestamp", 9, tr_v_int(ts + (int64_t)(rnd() % 1000000000))), 0);
        const char *opt[] = {"hostname", "appname", "msgid"};
        for (int k = 0; k < 3; k++) {
            tr_value w = rnd() % 4 ? gen_str(word, 10, 2) : tr_v_null();
            assert_int_equal(tr_rec_set(&v, opt[k], strlen(opt[k]), w), 0);
        }
        tr_value pid = tr_v_null();
        if (rnd() & 1) {
            char b[16];
            snprintf(b, sizeof b, "%u", (unsigned)(rnd() % 100000));
            assert_int_equal(tr_v_cstr(b, &pid), 0);
        } else if (rnd() & 1) {
            pid = gen_str("abc", 5, 1);
        }
        assert_int_equal(tr_rec_set(&v, "procid", 6, pid), 0);
        tr_value sd = tr_v_null();
        if (rnd() & 1) {
            sd = J("{}");
            for (int e = 1 + (int)(rnd() % 3); e > 0; e--) {
                tr_value id = gen_str("abc@0123", 8, 1), params = J("[]");
                for (int q = (int)(rnd() % 3); q > 0; q--) {
                    tr_value kv = J("{}"), k = gen_str("abcxyz", 5, 1);
                    assert_int_equal(tr_rec_set(&kv, k.as.s->data, k.as.s->len, gen_str("abc xyz[]=\x01", 8, 1)), 0);
                    tr_value_unref(k);
                    assert_int_equal(tr_arr_push(&params, kv), 0);
                }
                assert_int_equal(tr_rec_set(&sd, id.as.s->data, id.as.s->len, params), 0);
                tr_value_unref(id);
            }
        }
        assert_int_equal(tr_rec_set(&v, "structured_data", 15, sd), 0);
        /* a message starting with white space or '-' would be read back differently */
        tr_value msg = gen_str("abc xyz:[]\x01", 30, 0);
        if (msg.as.s->len && (msg.as.s->data[0] == ' ' || msg.as.s->data[msg.as.s->len - 1] == ' ' ||
                              (sd.type == TR_NULL && msg.as.s->data[0] == '['))) {
            tr_value_unref(msg);
            assert_int_equal(tr_v_cstr("m", &msg), 0);
        }
        assert_int_equal(tr_rec_set(&v, "msg", 3, msg), 0);
        round_trip("syslog", &v);
        tr_value_unref(v);
    }
}

static void hostile_lines(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    size_t n = 1 << 20;
    char *s = tr_malloc(n + 64);
    assert_non_null(s);
    /* a million '[' after a valid header; a million elements; a million quotes */
    const char *head = "<1>1 2021-03-18T20:30:00Z h a p m ";
    size_t h = strlen(head);
    memcpy(s, head, h);
    memset(s + h, '[', n - h);
    tr_value v;
    assert_int_equal(dec("syslog", s, n, &v), 0);
    tr_value_unref(v);
    for (size_t i = h; i + 3 <= n; i += 3) memcpy(s + i, "[a]", 3);
    assert_int_equal(dec("syslog", s, n - (n - h) % 3, &v), 0);
    assert_int_equal(tr_rec_len(tr_rec_get_cstr(&v, "structured_data")), 1);
    tr_value_unref(v);
    memset(s + h, '"', n - h);
    assert_int_equal(dec("syslog", s, n, &v), 0);
    tr_value_unref(v);
    /* every cut of a full line decodes to something */
    const char *line = "<165>1 2003-10-11T22:14:15.003Z host app 12 ID47 [id@1 a=\"b\" c=\"d\"][x] msg";
    for (size_t cut = 0; cut <= strlen(line); cut++) {
        assert_int_equal(dec("syslog", line, cut, &v), 0);
        tr_value_unref(v);
    }
    tr_free(s);
    assert_int_equal(tr_alloc_used(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codec_round_trip_0_11),
        cmocka_unit_test(decode_vectors_0_11),
        cmocka_unit_test(syslog_loose_rules),
        cmocka_unit_test(encode_vectors_0_11),
        cmocka_unit_test(logger_lines),
        cmocka_unit_test(round_trip_property),
        cmocka_unit_test(hostile_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
