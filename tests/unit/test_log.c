/* test_log.c - the per-call-site log limiter: one line per interval with the
 * count of what was held back, a flush once the interval is over, and the
 * level still deciding what is written; the text, JSON and pattern layouts. Time is passed in, so nothing here
 * waits. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#define MAXLINES 16

struct sink {
    char line[MAXLINES][512];
    int n;
};

static void capture(const char *line, void *arg) {
    struct sink *s = arg;
    assert_true(s->n < MAXLINES);
    snprintf(s->line[s->n++], sizeof s->line[0], "%s", line);
}

static void one_line_per_interval_with_a_count(void **state) {
    (void)state;
    struct sink s = {0};
    tr_log_set_writer(capture, &s);
    struct tr_log_limit l = TR_LOG_LIMIT_INIT;
    l.interval_ms = 1000;
    int written = 0;
    /* a flood: 10,000 lines within one interval */
    for (int i = 0; i < 10000; i++)
        written += tr_log_limited_at(&l, 5000 + (uint64_t)i / 100, TR_LOG_WARN, "ws", "bad frame %d", i);
    assert_int_equal(written, 1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.line[0], "WARN  [ws] bad frame 0");
    /* the next interval's first line carries the count */
    assert_int_equal(tr_log_limited_at(&l, 6000, TR_LOG_WARN, "ws", "bad frame %d", 10000), 1);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.line[1], "WARN  [ws] bad frame 10000 (and 9999 more like it in the last 1 s)");
    assert_int_equal(l.total, 10001);
    tr_log_set_writer(NULL, NULL);
}

static void flush_reports_a_flood_that_stopped(void **state) {
    (void)state;
    struct sink s = {0};
    tr_log_set_writer(capture, &s);
    struct tr_log_limit l = TR_LOG_LIMIT_INIT;   /* default interval */
    tr_log_limited_at(&l, 0, TR_LOG_WARN, "tcp", "refused %s", "a");
    tr_log_limited_at(&l, 10, TR_LOG_WARN, "tcp", "refused %s", "b");
    tr_log_limited_at(&l, 20, TR_LOG_WARN, "tcp", "refused %s", "c");
    tr_log_limit_flush_at(&l, TR_LOG_LIMIT_MS - 1);   /* interval not over: nothing */
    assert_int_equal(s.n, 1);
    tr_log_limit_flush_at(&l, TR_LOG_LIMIT_MS);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.line[1], "WARN  [tcp] 2 more like this in the last 10 s: refused a");
    tr_log_limit_flush_at(&l, 3 * TR_LOG_LIMIT_MS);   /* already said */
    assert_int_equal(s.n, 2);
    /* after a flush the next line is written at once, without a count */
    assert_int_equal(tr_log_limited_at(&l, TR_LOG_LIMIT_MS + 1, TR_LOG_WARN, "tcp", "refused d"), 1);
    assert_string_equal(s.line[2], "WARN  [tcp] refused d");
    tr_log_set_writer(NULL, NULL);
}

static void level_still_applies(void **state) {
    (void)state;
    struct sink s = {0};
    tr_log_set_writer(capture, &s);
    tr_log_set_level(TR_LOG_WARN);
    struct tr_log_limit l = TR_LOG_LIMIT_INIT;
    assert_int_equal(tr_log_limited_at(&l, 0, TR_LOG_INFO, "x", "quiet"), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(l.total, 1);
    tr_log(TR_LOG_ERROR, "x", "loud %d", 1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.line[0], "ERROR [x] loud 1");
    tr_log_set_level(TR_LOG_INFO);
    tr_log_set_writer(NULL, NULL);
}

/* What the stream got, for the layouts (the writer sees the plain line). */
static char outbuf[4096];

static const char *logged(enum tr_log_level lvl, const char *module, const char *msg) {
    memset(outbuf, 0, sizeof outbuf);
    FILE *f = fmemopen(outbuf, sizeof outbuf - 1, "w");
    assert_non_null(f);
    tr_log_set_stream(f);
    tr_log(lvl, module, "%s", msg);
    tr_log_set_stream(NULL);
    fclose(f);
    return outbuf;
}

/* 2026-12-02T12:00:00.123456Z: RFC 3339, UTC, microseconds */
static void is_rfc3339(const char *s) {
    assert_true(strlen(s) >= 27);
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (int i = 0; shape[i]; i++) {
        if (shape[i] == 'd') assert_true(s[i] >= '0' && s[i] <= '9');
        else assert_int_equal(s[i], shape[i]);
    }
}

static void text_lines_have_a_time_stamp(void **state) {
    (void)state;
    const char *out = logged(TR_LOG_WARN, "ws", "bad frame");
    is_rfc3339(out);
    assert_string_equal(out + 27, " WARN  [ws] bad frame\n");
}

static void json_lines_escape_and_carry_every_key(void **state) {
    (void)state;
    tr_log_set_format(TR_LOG_JSON);
    const char *out = logged(TR_LOG_ERROR, "wal", "a \"quoted\"\tline\\");
    tr_log_set_format(TR_LOG_TEXT);
    assert_memory_equal(out, "{\"ts\":\"", 7);
    is_rfc3339(out + 7);
    assert_string_equal(out + 7 + 27,
                        "\",\"level\":\"ERROR\",\"target\":\"wal\",\"msg\":\"a \\\"quoted\\\"\\u0009line\\\\\"}\n");
}

static void patterns_lay_out_lines(void **state) {
    (void)state;
    char note[256];
    assert_int_equal(tr_log_set_pattern("{l} {M} - {m}{n}", note, sizeof note), 0);
    assert_string_equal(note, "");
    assert_string_equal(logged(TR_LOG_INFO, "world", "deployed"), "INFO world - deployed\n");
    assert_int_equal(tr_log_set_pattern("[{h({l})}] {{{t}}} {x}{n}", note, sizeof note), 0);
    assert_non_null(strstr(note, "colours"));
    assert_non_null(strstr(note, "unknown"));
    assert_string_equal(logged(TR_LOG_WARN, "tcp", "m"), "[WARN] {tcp} {x}\n");
    assert_int_equal(tr_log_set_pattern("{d(%Y)} {l:<5}{n}", note, sizeof note), 0);
    assert_non_null(strstr(note, "RFC 3339"));
    assert_non_null(strstr(note, "width"));
    is_rfc3339(logged(TR_LOG_INFO, "x", "y"));
    assert_int_equal(tr_log_set_pattern("{m", note, sizeof note), -EINVAL);
    assert_int_equal(tr_log_set_pattern("m}", note, sizeof note), -EINVAL);
    assert_int_equal(tr_log_set_pattern(NULL, NULL, 0), 0);
}

static void levels_parse_as_log4rs_names_them(void **state) {
    (void)state;
    enum tr_log_level l;
    assert_int_equal(tr_log_level_parse("warn", &l), 0);
    assert_int_equal(l, TR_LOG_WARN);
    assert_int_equal(tr_log_level_parse("TRACE", &l), 0);
    assert_int_equal(l, TR_LOG_TRACE);
    assert_int_equal(tr_log_level_parse("off", &l), 0);
    assert_int_equal(l, TR_LOG_ERROR);
    assert_int_equal(tr_log_level_parse("loud", &l), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_line_per_interval_with_a_count),
        cmocka_unit_test(flush_reports_a_flood_that_stopped),
        cmocka_unit_test(level_still_applies),
        cmocka_unit_test(text_lines_have_a_time_stamp),
        cmocka_unit_test(json_lines_escape_and_carry_every_key),
        cmocka_unit_test(patterns_lay_out_lines),
        cmocka_unit_test(levels_parse_as_log4rs_names_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
