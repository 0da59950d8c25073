/* test_relp_frame.c - the RELP frame reader: rsyslog's open offer, syslog
 * frames with and without data, frames cut at every byte, and the errors:
 * bad header, missing trailer, over-long numbers and commands, data over
 * the bound (refused before any is kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "connectors/relp_frame.h"

static const char OPEN[] = "1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n";

/* Read all of s in chunks of cut bytes; the frames' commands and data
 * joined as "cmd:data|" into out; returns the last result. */
static int read_all(const char *s, size_t len, size_t cut, uint64_t max, char *out, size_t cap) {
    struct tr_relp_parser p;
    tr_relp_parser_init(&p, max);
    out[0] = 0;
    int r = 0;
    for (size_t off = 0; off < len && r >= 0;) {
        size_t n = len - off < cut ? len - off : cut;
        const char *b = s + off;
        off += n;
        while (n && r >= 0) {
            size_t used = 0;
            struct tr_relp_frame f;
            struct tr_diag d;
            tr_diag_clear(&d);
            r = tr_relp_parse(&p, b, n, &used, &f, &d);
            if (r < 0) break;
            b += used;
            n -= used;
            if (r == 1) {
                char one[256];
                snprintf(one, sizeof one, "%llu %s:%.*s|", (unsigned long long)f.txnr, f.cmd, (int)f.len, f.data);
                strncat(out, one, cap - strlen(out) - 1);
            }
        }
    }
    tr_relp_parser_fini(&p);
    return r < 0 ? r : 0;
}

static void frames_at_every_cut(void **state) {
    (void)state;
    char stream[512], out[1024], want[1024];
    snprintf(stream, sizeof stream, "%s2 syslog 9 <13>hello\n3 syslog 0\n4 close 0 \n", OPEN);
    snprintf(want, sizeof want, "1 open:%.*s|2 syslog:<13>hello|3 syslog:|4 close:|", 86, OPEN + 10);
    for (size_t cut = 1; cut <= strlen(stream); cut++) {
        assert_int_equal(read_all(stream, strlen(stream), cut, 1024, out, sizeof out), 0);
        assert_string_equal(out, want);
    }
}

static int one_error(const char *s, uint64_t max, char *msg) {
    struct tr_relp_parser p;
    tr_relp_parser_init(&p, max);
    size_t used = 0;
    struct tr_relp_frame f;
    struct tr_diag d;
    tr_diag_clear(&d);
    int r = tr_relp_parse(&p, s, strlen(s), &used, &f, &d);
    strcpy(msg, d.msg);
    tr_relp_parser_fini(&p);
    return r;
}

static void malformed_frames(void **state) {
    (void)state;
    char msg[1024];
    assert_int_equal(one_error("x open 0\n", 100, msg), TR_EPARSE);
    assert_non_null(strstr(msg, "transaction number expected"));
    assert_int_equal(one_error("1234567890 open 0\n", 100, msg), TR_EPARSE);
    assert_non_null(strstr(msg, "more than 9 digits"));
    assert_int_equal(one_error("1 op3n 0\n", 100, msg), TR_EPARSE);
    assert_int_equal(one_error("1  open 0\n", 100, msg), TR_EPARSE);
    assert_int_equal(one_error("1 abcdefghijklmnopqrstuvwxyzabcdefg 0\n", 100, msg), TR_EPARSE);
    assert_non_null(strstr(msg, "more than 32 letters"));
    assert_int_equal(one_error("1 syslog 3 abcX", 100, msg), TR_EPARSE);   /* no trailer */
    assert_non_null(strstr(msg, "end of frame"));
    assert_int_equal(one_error("1 syslog 0x\n", 100, msg), TR_EPARSE);
    assert_int_equal(one_error("1 syslog 18446744073709551615 x\n", 100, msg), TR_EPARSE);
}

static void data_over_the_bound_is_refused_before_kept(void **state) {
    (void)state;
    char msg[1024];
    assert_int_equal(one_error("1 syslog 101 ", 100, msg), TR_ETOOBIG);
    assert_non_null(strstr(msg, "101 data bytes is over the 100 allowed"));
    char out[256];
    assert_int_equal(read_all("1 syslog 100 ", 13, 13, 100, out, sizeof out), 0);   /* at the bound: fine */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_at_every_cut),
        cmocka_unit_test(malformed_frames),
        cmocka_unit_test(data_over_the_bound_is_refused_before_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
