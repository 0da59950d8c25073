/* test_conformance.c - runs the conformance runner built next to this test
 * (so under ASan+UBSan in `make unit-asan`) over every case listed in
 * tests/lang/conformance-pass.txt; each listed case must still pass. It also
 * runs our own hostile cases (tests/lang/hostile: runtime errors that strike
 * after the interpreter built part of a value). Under ASan the runner exits
 * through LeakSanitizer, so a value that any case, listed or not, fails to
 * release fails this test: the upstream error suites alone never made a
 * half-built literal fail, which is how a leak per bad event went unseen. */
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
#define HOSTILE "tests/lang/hostile"
#define HOSTILE_LIST HOSTILE "/pass.txt"

/* LeakSanitizer's exit status for "leaks found" (its default exitcode). */
#define LSAN_EXIT 23

static char tool[4096], logpath[4200];

/* Run the runner over data with list; its exit status. */
static int run_tool(const char *list, const char *data) {
    assert_int_equal(0, access(tool, X_OK));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
#if defined(__SANITIZE_ADDRESS__)
        /* leak checking on even when the environment turned it off */
        char opts[2048];
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(opts, sizeof opts, "%s%sdetect_leaks=1:exitcode=%d", old ? old : "", old && *old ? ":" : "",
                 LSAN_EXIT);
        setenv("ASAN_OPTIONS", opts, 1);
#endif
        /* the runner's per-case lines go to a log; the scoreboard stays short */
        FILE *f = freopen(logpath, "a", stdout);
        (void)f;
        execl(tool, tool, "-l", list, data, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    if (code == LSAN_EXIT)
        print_message("%s: LeakSanitizer found leaks (report above)\n", data);
    else if (code != 0)
        print_message("%s: listed cases failed, see %s\n", data, logpath);
    return code;
}

static void listed_cases_pass(void **st) {
    (void)st;
    struct stat sb;
    if (stat(DATA "/manifest.tsv", &sb) != 0) {
        print_message("conformance data not found at %s, skipping\n", DATA);
        skip();
    }
    assert_int_equal(0, run_tool(LIST, DATA));
}

static void hostile_cases_pass_without_leaks(void **st) {
    (void)st;
    assert_int_equal(0, run_tool(HOSTILE_LIST, HOSTILE));
}

int main(int argc, char **argv) {
    (void)argc;
    /* the runner is built as a sibling of this program */
    snprintf(tool, sizeof tool, "%s", argv[0]);
    char *slash = strrchr(tool, '/');
    if (slash) snprintf(slash + 1, sizeof tool - (size_t)(slash + 1 - tool), "tool_conformance");
    else snprintf(tool, sizeof tool, "./tool_conformance");
    snprintf(logpath, sizeof logpath, "%s.log", tool);
    unlink(logpath);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listed_cases_pass),
        cmocka_unit_test(hostile_cases_pass_without_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
