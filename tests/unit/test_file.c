/* test_file.c - whole-file reads refuse what is not a regular file before
 * reading (a FIFO without a writer used to block the open for ever), and
 * the config loader says so with the path. An alarm turns a hang into a
 * failure. */
#include "config/config.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void regular_files_are_read(void **state) {
    (void)state;
    char p[128];
    path_in(p, sizeof p, "plain");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("hello", f);
    fclose(f);
    char *buf;
    size_t len;
    assert_int_equal(tr_file_read(p, 100, &buf, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    tr_free(buf);
    assert_int_equal(tr_file_read(p, 4, &buf, &len), TR_ETOOBIG);
    assert_null(buf);
}

static void other_kinds_are_refused_at_once(void **state) {
    (void)state;
    char fifo[128];
    path_in(fifo, sizeof fifo, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct {
        const char *path;
        int rc;
        const char *kind;
    } cases[] = {
        {fifo, -EINVAL, "a FIFO"},
        {dir, -EISDIR, "a directory"},
        {"/dev/null", -EINVAL, "a character device"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *kind = NULL;
        int fd = tr_file_open_regular(cases[i].path, &kind);
        if (fd != cases[i].rc) fail_msg("%s: expected %d, got %d", cases[i].path, cases[i].rc, fd);
        assert_non_null(kind);
        assert_string_equal(kind, cases[i].kind);
        char *buf;
        size_t len;
        assert_int_equal(tr_file_read(cases[i].path, 100, &buf, &len), cases[i].rc);
        assert_null(buf);
    }
    /* the config loader: a located, clear error instead of a hang */
    struct tr_config c;
    tr_config_init(&c);
    struct tr_diag d;
    assert_int_not_equal(tr_config_load_file(&c, fifo, &d), 0);
    assert_string_equal(d.file, fifo);
    if (!strstr(d.msg, "is a FIFO, not a config file"))
        fail_msg("expected 'is a FIFO, not a config file' in '%s'", d.msg);
    assert_int_not_equal(tr_config_load_file(&c, dir, &d), 0);
    assert_non_null(strstr(d.msg, "is a directory, not a config file"));
    tr_config_fini(&c);
    unlink(fifo);
}

int main(void) {
    alarm(20);
    snprintf(dir, sizeof dir, "/tmp/tr-test-file-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(regular_files_are_read),
        cmocka_unit_test(other_kinds_are_refused_at_once),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char p[128];
    path_in(p, sizeof p, "plain");
    unlink(p);
    rmdir(dir);
    return failed;
}
