/* test_datetime.c - std::datetime against Tremor 0.11.12's own expectations.
 *
 * Values come from the Rust unit tests of tremor-script (std_lib/datetime.rs,
 * datetime.rs) and, for the strftime specifiers, from chrono 0.4's table
 * (its example instant 2001-07-08 00:34:59.026490 UTC, second 59 instead of
 * the table's leap second). Each case runs one expression as a script. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "lang/script.h"

#define EVAL_PRELUDE "use std::datetime;\n"
#include "eval_util.h"

/* datetime.rs: parse_at_timestamp, parse_parses_it_to_ts, parse_unix_ts, and
 * datetime.rs (crate) test_simple_string_with_format / _without_tz */
static void parse_values(void **st) {
    (void)st;
    expect("datetime::parse(\"2019-06-17T13:15:40.752Z\", \"%Y-%m-%dT%H:%M:%S%.3fZ\")", "1560777340752000000");
    expect("datetime::parse(\"1983 Apr 13 12:09:14.274 +0000\", \"%Y %b %d %H:%M:%S%.3f %z\")",
           "419083754274000000");
    expect("datetime::parse(\"1560777212\", \"%s\")", "1560777212000000000");
    expect("datetime::parse(\"2019-08-07T16:41:12.159975-04:00\", \"%Y-%m-%dT%T%.6f%:z\")",
           "1565210472159975000");
    expect("datetime::parse(\"2019-08-07T20:41:12.159975\", \"%Y-%m-%dT%T%.6f\")", "1565210472159975000");
    expect_error("datetime::parse(\"not a date\", \"%Y-%m-%d %H:%M\")", "to valid timestamp");
    expect_error("datetime::parse(1, \"%s\")", "Bad type");
}

/* Differences make difftest once found against chrono's parser (Debian's
 * chrono, the reference it builds); the expected values are chrono's. */
static void parse_like_chrono(void **st) {
    (void)st;
    /* %Y takes at most four digits unless signed */
    expect("datetime::parse(\"20180314031902\", \"%Y%m%d%H%M%S\")", "1520997542000000000");
    expect("datetime::parse(\"Thu Jan 17 00:59:10 1985\", \"%c\")", "474771550000000000");
    expect("datetime::parse(\"2223-05-13T05:11:34.168645051Z\", \"%+\")", "7995301894168645051");
    /* an offset may have white space or colons between hours and minutes */
    expect("datetime::parse(\"2054 Feb 14 12:50:59.599 +00 00\", \"%Y %b %d %H:%M:%S%.3f %z\")",
           "2654686259599000000");
    /* past 2262 the nanoseconds wrap around as in chrono's release build */
    expect("datetime::parse(\"2529-10-20 01:38:22\", \"%Y-%m-%d %H:%M:%S\")", "17665609102000000000");
    /* names skip no white space; %s takes no sign; an offset needs its minutes */
    expect_error("datetime::parse(\" Sun, 01 Jan 2136 23:27:09 +0000\", \"%a, %d %b %Y %H:%M:%S %z\")",
                 "to valid timestamp");
    expect_error("datetime::parse(\"+442182745\", \"%s\")", "to valid timestamp");
    expect_error("datetime::parse(\"2177-10-27T09:11:19+00\", \"%Y-%m-%dT%T%z\")", "to valid timestamp");
    /* a weekday that contradicts the date */
    expect_error("datetime::parse(\"Fri Jan 17 00:59:10 1985\", \"%c\")", "to valid timestamp");
}

/* format_timestamp, format_timestamp_tz, test_format, iso8601_format */
static void format_values(void **st) {
    (void)st;
    expect("datetime::format(419083754274000000, \"%Y %b %d %H:%M:%S%.3f\")", "\"1983 Apr 13 12:09:14.274\"");
    expect("datetime::format(419083754274000000, \"%Y %b %d %H:%M:%S%.3f %:z\")",
           "\"1983 Apr 13 12:09:14.274 +00:00\"");
    expect("datetime::format(1559655782123567892, \"%Y-%m-%d\")", "\"2019-06-04\"");
    expect("datetime::format(123567892, \"%Y-%m-%d\")", "\"1970-01-01\"");
    expect("datetime::iso8601(1559655782123456789)", "\"2019-06-04T13:43:02.123456789+00:00\"");
    expect_error("datetime::format(-1, \"%Y\")", "Bad type");
    expect_error("datetime::format(1, 2)", "Bad type");
}

#define T0 "994552499026490000"  /* 2001-07-08T00:34:59.026490 UTC, a Sunday */

/* chrono 0.4's strftime table, specifier by specifier */
static void format_chrono_table(void **st) {
    (void)st;
    static const char *const cases[][2] = {
        {"%Y", "2001"},  {"%C", "20"},   {"%y", "01"},   {"%m", "07"},     {"%b", "Jul"},   {"%B", "July"},
        {"%h", "Jul"},   {"%d", "08"},   {"%e", " 8"},   {"%a", "Sun"},    {"%A", "Sunday"}, {"%w", "0"},
        {"%u", "7"},     {"%U", "28"},   {"%W", "27"},   {"%G", "2001"},   {"%g", "01"},    {"%V", "27"},
        {"%j", "189"},   {"%D", "07/08/01"}, {"%x", "07/08/01"}, {"%F", "2001-07-08"}, {"%v", " 8-Jul-2001"},
        {"%H", "00"},    {"%k", " 0"},   {"%I", "12"},   {"%l", "12"},     {"%P", "am"},    {"%p", "AM"},
        {"%M", "34"},    {"%S", "59"},   {"%f", "026490000"}, {"%.f", ".026490"}, {"%.3f", ".026"},
        {"%.6f", ".026490"}, {"%.9f", ".026490000"}, {"%3f", "026"}, {"%6f", "026490"}, {"%9f", "026490000"},
        {"%R", "00:34"}, {"%T", "00:34:59"}, {"%X", "00:34:59"}, {"%r", "12:34:59 AM"},
        {"%c", "Sun Jul  8 00:34:59 2001"}, {"%s", "994552499"}, {"%t", "\\t"}, {"%n", "\\n"}, {"%%", "%"},
        /* the zone of a UTC instant */
        {"%Z", "UTC"},   {"%z", "+0000"}, {"%:z", "+00:00"}, {"%+", "2001-07-08T00:34:59.026490+00:00"},
        /* padding modifiers on numbers */
        {"%-d", "8"},    {"%_m", " 7"},  {"%0e", "08"},  {"%-j", "189"},   {"%_H", " 0"},   {"%-I", "12"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char expr[256], want[128];
        snprintf(expr, sizeof expr, "datetime::format(" T0 ", \"%s\")", cases[i][0]);
        snprintf(want, sizeof want, "\"%s\"", cases[i][1]);
        expect(expr, want);
    }
    /* %+ prints as few fraction digits as the value needs (0, 3, 6 or 9) */
    expect("datetime::format(1559655782000000000, \"%+\")", "\"2019-06-04T13:43:02+00:00\"");
    expect("datetime::format(1559655782120000000, \"%+\")", "\"2019-06-04T13:43:02.120+00:00\"");
    expect("datetime::format(1559655782000000000, \"%.f|\")", "\"|\"");
}

/* chrono fails on these (0.11 panics); here the call is a runtime error */
static void format_refused(void **st) {
    (void)st;
    static const char *const bad[] = {"%Q", "%", "abc %", "%-", "%-D", "%_c", "%-Z", "%#z", "%#Y",
                                      "%.2f", "%.3x", "%4f", "%:y", "%::z", "%-a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char expr[256];
        snprintf(expr, sizeof expr, "datetime::format(" T0 ", \"%s\")", bad[i]);
        expect_error(expr, "invalid format string");
    }
}

/* hms_returns_the_corresponding_components, millisecond_returns_the_ms,
 * day_month_and_year_works, without_subseconds */
static void components(void **st) {
    (void)st;
    expect("datetime::hour(1559655782123456789)", "13");
    expect("datetime::minute(1559655782123456789)", "43");
    expect("datetime::second(1559655782123456789)", "2");
    expect("datetime::millisecond(1559655782123456789)", "123");
    expect("datetime::microsecond(1559655782123456789)", "456");
    expect("datetime::nanosecond(1559655782123456789)", "789");
    expect("datetime::subsecond(1559655782123456789)", "123456789");
    expect("datetime::millisecond(1559655782987654321)", "987");
    expect("datetime::day(1555767782123456789)", "20");
    expect("datetime::month(1555767782123456789)", "4");
    expect("datetime::year(1555767782123456789)", "2019");
    expect("datetime::without_subseconds(1559655782123456789)", "1559655782");
    /* the largest integer literal, 2262-04-11T23:47:16.854775807Z */
    expect("datetime::iso8601(9223372036854775807)", "\"2262-04-11T23:47:16.854775807+00:00\"");
    expect("datetime::year(9223372036854775807)", "2262");
    expect_error("datetime::year(-1)", "Bad type");
    expect_error("datetime::hour(1.5)", "Bad type");
}

/* to_next_millisecond_rounds_it, to_nearest_microsecond_rounds_it, to_next_second_rounds_it */
static void rounding(void **st) {
    (void)st;
    expect("datetime::to_nearest_millisecond(1559655782123456789)", "1559655782123000000");
    expect("datetime::to_nearest_millisecond(123789654)", "124000000");
    expect("datetime::to_nearest_microsecond(1559655782123456789)", "1559655782123457000");
    expect("datetime::to_nearest_microsecond(123456123)", "123456000");
    expect("datetime::to_nearest_second(1559655782123456789)", "1559655782000000000");
    expect("datetime::to_nearest_second(1559655782500000000)", "1559655783000000000");
    /* chrono rounds a tie up; 0.11 keeps only the rounded sub-second part on
     * the original second, so rounding into the next second gives its start */
    expect("datetime::to_nearest_millisecond(1500000)", "2000000");
    expect("datetime::to_nearest_millisecond(5999999600)", "5000000000");
}

/* test_human_format */
static void human_format(void **st) {
    (void)st;
    expect("datetime::from_human_format(\"3 days\")", "259200000000000");
    expect("datetime::from_human_format(\"59 seconds\")", "59000000000");
    expect("datetime::from_human_format(\"21 days 3 minutes 5 seconds\")", "1814585000000000");
    expect("datetime::from_human_format(\"1 nanosecond\")", "1");
    expect_error("datetime::from_human_format(\"3\")", "The human format 3 is invalid");
    /* 0.11 has no hours here, and "2 day" is not a known pair */
    expect_error("datetime::from_human_format(\"3 hours\")", "is invalid");
    expect_error("datetime::from_human_format(\"2 day\")", "is invalid");
    expect("datetime::from_human_format(\"1 year 2 weeks\")", "32745600000000000");
}

/* test_with_* */
static void units(void **st) {
    (void)st;
    expect("datetime::with_nanoseconds(1)", "1");
    expect("datetime::with_microseconds(1)", "1000");
    expect("datetime::with_milliseconds(1)", "1000000");
    expect("datetime::with_seconds(1)", "1000000000");
    expect("datetime::with_minutes(1)", "60000000000");
    expect("datetime::with_hours(1)", "3600000000000");
    expect("datetime::with_days(1)", "86400000000000");
    expect("datetime::with_weeks(1)", "604800000000000");
    expect("datetime::with_years(1)", "31536000000000000");
    /* a leap day every four years: 4 * 365 + 1 days */
    expect("datetime::with_years(4)", "126230400000000000");
    expect_error("datetime::with_seconds(4294967296)", "Bad type");
    expect_error("datetime::with_seconds(-1)", "Bad type");
}

static void today_is_midnight(void **st) {
    (void)st;
    char *got = eval("datetime::today() % datetime::with_days(1)");
    assert_string_equal("0", got);
    tr_free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_values),   cmocka_unit_test(parse_like_chrono), cmocka_unit_test(format_values), cmocka_unit_test(format_chrono_table),
        cmocka_unit_test(format_refused), cmocka_unit_test(components),    cmocka_unit_test(rounding),
        cmocka_unit_test(human_format),   cmocka_unit_test(units),         cmocka_unit_test(today_is_midnight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
