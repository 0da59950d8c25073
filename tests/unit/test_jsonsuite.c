/* test_jsonsuite.c - the decoder against JSONTestSuite's test_parsing files.
 *
 * y_* must decode, n_* must be rejected, i_* may go either way but must not
 * crash (ASan runs make "crash" include memory errors). Every offending file
 * is listed before the test fails. Accepted documents must also survive an
 * encode/decode round trip unchanged. The suite runs once per string
 * scanner this CPU can run (codec/json_scan.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec_check.h"
#include "codec/json_scan.h"
#include "core/alloc.h"

#define MAX_FILE (1 << 20)

static const char *suite_dir(void) {
    static const char *dirs[] = {"../shared/conformance/json/test_parsing",
                                 "/work/shared/conformance/json/test_parsing"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        DIR *d = opendir(dirs[i]);
        if (d) {
            closedir(d);
            return dirs[i];
        }
    }
    return NULL;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the file's bytes (malloc'd) or NULL. */
static char *slurp(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(MAX_FILE);
    size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

/* 0 when the decoded value re-encodes and decodes to an equal value. */
static int round_trips(const tr_value *v) {
    struct tr_buf b;
    tr_value again;
    int ok = 0;
    tr_buf_init(&b);
    if (tr_json_encode(v, &b) == 0 && tr_json_decode(b.data, b.len, &again, NULL) == 0) {
        /* NaN cannot come out of JSON, so eq is a fair check here */
        ok = tr_value_eq(v, &again);
        tr_value_unref(again);
    }
    tr_buf_fini(&b);
    return ok ? 0 : -1;
}

static void parsing_suite(void) {
    const char *dir = suite_dir();
    if (!dir) {
        print_message("JSONTestSuite not found; looked in ../shared and /work/shared\n");
        fail();
    }
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[1024];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 1024) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0) names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);

    size_t bad = 0, ny = 0, nn = 0, ni = 0, ncanon = 0;
    size_t base = tr_alloc_used();
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *buf = slurp(path, &len);
        assert_non_null(buf);
        tr_value v;
        struct tr_diag diag;
        tr_diag_clear(&diag);
        int rc = tr_json_decode(buf, len, &v, &diag);
        char kind = names[i][0];
        /* carried undecoded exactly when the round trip keeps the bytes */
        if (canonical_agrees(buf, len)) ncanon++;
        if (kind == 'y') {
            ny++;
            if (rc) {
                char msg[1400];
                tr_diag_format(&diag, msg, sizeof msg);
                print_message("should accept: %s (%s)\n", names[i], msg);
                bad++;
            } else if (round_trips(&v)) {
                print_message("round trip changed: %s\n", names[i]);
                bad++;
            }
        } else if (kind == 'n') {
            nn++;
            if (rc == 0) {
                print_message("should reject: %s\n", names[i]);
                bad++;
            } else if (diag.line < 1 || diag.col < 1 || !diag.msg[0]) {
                print_message("rejected without a location: %s\n", names[i]);
                bad++;
            }
        } else {
            ni++;
        }
        if (rc == 0) tr_value_unref(v);
        assert_int_equal(tr_alloc_used(), base);  /* expected: nothing leaked by any case */
        free(buf);
        free(names[i]);
    }
    print_message("JSONTestSuite: %zu y, %zu n, %zu i files; %zu wrong; %zu canonical\n", ny, nn, ni, bad,
                  ncanon);
    assert_true(ny > 90 && nn > 150);  /* expected: the whole suite was found */
    assert_int_equal(bad, 0);
}

static void test_parsing_suite(void **state) {
    (void)state;
    enum tr_json_scan_kind chosen = tr_json_scan_current();
    for (int k = 0; k < TR_JSON_SCAN_KINDS; k++) {
        if (tr_json_scan_use((enum tr_json_scan_kind)k)) continue;
        print_message("string scanner %s:\n", tr_json_scan_name((enum tr_json_scan_kind)k));
        parsing_suite();
    }
    assert_int_equal(tr_json_scan_use(chosen), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsing_suite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
