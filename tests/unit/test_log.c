/* test_log.c - the per-call-site log limiter: one line per interval with the
 * count of what was held back, a flush once the interval is over, and the
 * level still deciding what is written. Time is passed in, so nothing here
 * waits. */
#include "core/log.h"

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_line_per_interval_with_a_count),
        cmocka_unit_test(flush_reports_a_flood_that_stopped),
        cmocka_unit_test(level_still_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
