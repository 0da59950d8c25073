/* test_influx.c - the influx extractor against Tremor 0.11: expected values
 * are the decoder tests of tremor-influx 0.3.2 (tremor-influx/src/lib.rs at
 * v0.11.12) and 0.11's tests/scripts/influx. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/buf.h"
#include "core/error.h"
#include "lang/extract_int.h"

/* Decode line (ingest time ingest): want is the JSON result, NULL for no match. */
static void expect_line(const char *line, uint64_t ingest, const char *want) {
    tr_value s, got = tr_v_null(), exp;
    assert_int_equal(0, tr_v_cstr(line, &s));
    int rc = tr_influx_decode(s.as.s, ingest, &got);
    if (!want) {
        if (rc != 0) fail_msg("influx '%s'\n  expected no match\n  actual   rc %d", line, rc);
    } else {
        struct tr_diag d;
        assert_int_equal(0, tr_json_decode(want, strlen(want), &exp, &d));
        if (rc != 1) fail_msg("influx '%s'\n  expected %s\n  actual   rc %d", line, want, rc);
        if (!tr_value_eq(&got, &exp)) {
            struct tr_buf b;
            tr_buf_init(&b);
            tr_json_encode(&got, &b);
            fail_msg("influx '%s'\n  expected %s\n  actual   %s", line, want, b.data);
        }
        tr_value_unref(exp);
        tr_value_unref(got);
    }
    tr_value_unref(s);
}

#define WEATHER(fields, ts)                                                                                  \
    "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":" fields ",\"timestamp\":" ts \
    "}"

static void values(void **st) {
    (void)st;
    /* unparse_test, parse_simple3, parse_float_value, parse_int_value, parse_no_timestamp */
    expect_line("weather,location=us-midwest temperature=82 1465839830100400200", 0,
                WEATHER("{\"temperature\":82.0}", "1465839830100400200"));
    expect_line("weather,location=us-midwest temperature=82,bug_concentration=98 1465839830100400200", 0,
                WEATHER("{\"temperature\":82.0,\"bug_concentration\":98.0}", "1465839830100400200"));
    expect_line("weather temperature=82i 1465839830100400200", 0,
                "{\"measurement\":\"weather\",\"tags\":{},\"fields\":{\"temperature\":82},"
                "\"timestamp\":1465839830100400200}");
    expect_line("weather temperature=82i", 1465839830100400200u,
                "{\"measurement\":\"weather\",\"tags\":{},\"fields\":{\"temperature\":82},"
                "\"timestamp\":1465839830100400200}");
    /* parse_str_value, parse_true_value, parse_false_value */
    expect_line("weather,location=us-midwest temperature=\"too warm\" 1465839830100400200", 0,
                WEATHER("{\"temperature\":\"too warm\"}", "1465839830100400200"));
    static const char *const t[] = {"true", "True", "TRUE", "t", "T"}, *const f[] = {"false", "False", "FALSE",
                                                                                      "f", "F"};
    for (int i = 0; i < 5; i++) {
        char line[128];
        snprintf(line, sizeof line, "weather,location=us-midwest too_hot=%s 1465839830100400200", t[i]);
        expect_line(line, 0, WEATHER("{\"too_hot\":true}", "1465839830100400200"));
        snprintf(line, sizeof line, "weather,location=us-midwest too_hot=%s 1465839830100400200", f[i]);
        expect_line(line, 0, WEATHER("{\"too_hot\":false}", "1465839830100400200"));
    }
    /* unparse_empty, unparse_comment: no line, no match */
    expect_line("", 0, NULL);
    expect_line(" \t \n", 0, NULL);
    expect_line(" \t \n# bla", 0, NULL);
}

static void escapes(void **st) {
    (void)st;
    /* parse_escape01..05: names and tag values */
    expect_line("weather,location=us\\,midwest temperature=82 1465839830100400200", 0,
                "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us,midwest\"},\"fields\":{\"temperature\":82.0},"
                "\"timestamp\":1465839830100400200}");
    expect_line("weather,location=us-midwest temp\\=rature=82 1465839830100400200", 0,
                WEATHER("{\"temp=rature\":82.0}", "1465839830100400200"));
    expect_line("weather,location\\ place=us-midwest temperature=82 1465839830100400200", 0,
                "{\"measurement\":\"weather\",\"tags\":{\"location place\":\"us-midwest\"},"
                "\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}");
    expect_line("wea\\,ther,location=us-midwest temperature=82 1465839830100400200", 0,
                "{\"measurement\":\"wea,ther\",\"tags\":{\"location\":\"us-midwest\"},"
                "\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}");
    expect_line("wea\\ ther,location=us-midwest temperature=82 1465839830100400200", 0,
                "{\"measurement\":\"wea ther\",\"tags\":{\"location\":\"us-midwest\"},"
                "\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}");
    /* parse_escape06..12: string fields; a backslash escaping nothing stays */
    expect_line("weather,location=us-midwest temperature=\"too\\\"hot\\\"\" 1465839830100400200", 0,
                WEATHER("{\"temperature\":\"too\\\"hot\\\"\"}", "1465839830100400200"));
    expect_line("weather,location=us-midwest temperature_str=\"too hot/cold\" 1465839830100400201", 0,
                WEATHER("{\"temperature_str\":\"too hot/cold\"}", "1465839830100400201"));
    expect_line("weather,location=us-midwest temperature_str=\"too hot\\cold\" 1465839830100400202", 0,
                WEATHER("{\"temperature_str\":\"too hot\\\\cold\"}", "1465839830100400202"));
    expect_line("weather,location=us-midwest temperature_str=\"too hot\\\\cold\" 1465839830100400203", 0,
                WEATHER("{\"temperature_str\":\"too hot\\\\cold\"}", "1465839830100400203"));
    expect_line("weather,location=us-midwest temperature_str=\"too hot\\\\\\cold\" 1465839830100400204", 0,
                WEATHER("{\"temperature_str\":\"too hot\\\\\\\\cold\"}", "1465839830100400204"));
    expect_line("weather,location=us-midwest temperature_str=\"too hot\\\\\\\\cold\" 1465839830100400205", 0,
                WEATHER("{\"temperature_str\":\"too hot\\\\\\\\cold\"}", "1465839830100400205"));
    expect_line("weather,location=us-midwest temperature_str=\"too hot\\\\\\\\\\cold\" 1465839830100400206", 0,
                WEATHER("{\"temperature_str\":\"too hot\\\\\\\\\\\\cold\"}", "1465839830100400206"));
    /* tests/scripts/influx */
    expect_line("wea\\ ther,location=us-midwest temperature=82.0 1465839830100400200", 0,
                "{\"measurement\":\"wea ther\",\"tags\":{\"location\":\"us-midwest\"},"
                "\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}");
}

/* Hostile lines: a long run of backslashes or delimiters ends in an answer,
 * never a crash; the decoder's wrapping offsets stay inside the line. */
static void hostile(void **st) {
    (void)st;
    static const char *const fills[] = {"\\", ",", "=", " ", "\"", "m\\ ", "a=\\"};
    size_t n = 100000;
    char *line = malloc(n + 16);
    assert_non_null(line);
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        size_t fl = strlen(fills[f]), at = 0;
        memcpy(line, "m,t=1 f=", 8);
        at = 8;
        while (at + fl < n) {
            memcpy(line + at, fills[f], fl);
            at += fl;
        }
        line[at] = 0;
        tr_value s, out = tr_v_null();
        assert_int_equal(0, tr_v_cstr(line, &s));
        int rc = tr_influx_decode(s.as.s, 0, &out);
        assert_true(rc == 0 || rc == 1);
        if (rc == 1) tr_value_unref(out);
        tr_value_unref(s);
    }
    /* an escape inside an unquoted value: 0.11 reads "1x", no number */
    expect_line("m f=1\\x", 0, NULL);
    /* a value ending in a backslash: 0.11's offset wraps and the rest,
     * "1\", is read as the timestamp; no match */
    expect_line("m f=1\\", 0, NULL);
    free(line);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values),
        cmocka_unit_test(escapes),
        cmocka_unit_test(hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
