/* test_conformance.c - runs the conformance runner built next to this test
 * (so under ASan+UBSan in `make unit-asan`) over every case listed in
 * tests/lang/conformance-pass.txt; each listed case must still pass. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA "../shared/conformance/tremor-0.11"
#define LIST "tests/lang/conformance-pass.txt"

static char tool[4096], logpath[4200];

static void listed_cases_pass(void **st) {
    (void)st;
    struct stat sb;
    if (stat(DATA "/manifest.tsv", &sb) != 0) {
        print_message("conformance data not found at %s, skipping\n", DATA);
        skip();
    }
    assert_int_equal(0, access(tool, X_OK));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the runner's per-case lines go to a log; the scoreboard stays short */
        FILE *f = freopen(logpath, "w", stdout);
        (void)f;
        execl(tool, tool, "-l", LIST, DATA, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) {
        print_message("listed conformance cases failed, see %s\n", logpath);
    }
    assert_int_equal(0, WEXITSTATUS(status));
}

int main(int argc, char **argv) {
    (void)argc;
    /* the runner is built as a sibling of this program */
    snprintf(tool, sizeof tool, "%s", argv[0]);
    char *slash = strrchr(tool, '/');
    if (slash) snprintf(slash + 1, sizeof tool - (size_t)(slash + 1 - tool), "tool_conformance");
    else snprintf(tool, sizeof tool, "./tool_conformance");
    snprintf(logpath, sizeof logpath, "%s.log", tool);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listed_cases_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
