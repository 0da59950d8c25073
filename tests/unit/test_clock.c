/* test_clock.c - tr_now_ns from the time-stamp counter agrees with
 * CLOCK_REALTIME across its calibration and resyncs, and follows it when
 * the counter is turned off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#define MS 1000000u
#define SLACK (2 * MS)   /* a VM may stop a thread between two reads */

#if defined(__x86_64__)
#include <cpuid.h>
static int has_invariant_tsc(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return 0;
    if (!__get_cpuid(0x80000007u, &a, &b, &c, &d)) return 0;
    return (d >> 8) & 1;
}
#else
static int has_invariant_tsc(void) { return 0; }
#endif

/* Reads both clocks for `span` ns of OS time: each tr_now_ns lies between
 * the OS reads around it (give or take SLACK), and it never runs ahead of
 * the next OS read. Returns how many reads came from the counter. */
static uint64_t agree_for(uint64_t span) {
    uint64_t start = tr_clock_os_ns(), from_tsc = 0;
    for (;;) {
        uint64_t a = tr_clock_os_ns();
        uint64_t t = tr_now_ns();
        uint64_t b = tr_clock_os_ns();
        if (strcmp(tr_clock_source(), "tsc") == 0) from_tsc++;
        if (t + SLACK < a || t > b + SLACK)
            fail_msg("tr_now_ns %llu outside the OS clock's [%llu, %llu] by more than %u ns (%s)",
                     (unsigned long long)t, (unsigned long long)a, (unsigned long long)b, SLACK,
                     tr_clock_source());
        if (b - start >= span) return from_tsc;
    }
}

static void counter_agrees_with_the_os_clock(void **st) {
    (void)st;
    tr_clock_allow_tsc(true);
    /* past the first calibration and two resyncs */
    uint64_t n = agree_for(2 * TR_CLOCK_RESYNC_NS + TR_CLOCK_CALIBRATE_NS + 50 * MS);
    if (has_invariant_tsc()) {
        assert_string_equal(tr_clock_source(), "tsc");
        assert_true(n > 1000);
    } else {
        assert_string_equal(tr_clock_source(), "os");
    }
}

static void turned_off_reads_the_os(void **st) {
    (void)st;
    tr_clock_allow_tsc(false);
    (void)tr_now_ns();
    assert_string_equal(tr_clock_source(), "os");
    assert_int_equal(agree_for(20 * MS), 0);
    /* and back on: calibrated again from scratch */
    tr_clock_allow_tsc(true);
    agree_for(TR_CLOCK_CALIBRATE_NS + 20 * MS);
    assert_string_equal(tr_clock_source(), has_invariant_tsc() ? "tsc" : "os");
}

/* TREMOR_CLOCK=os, read when the process first needs a clock: a fresh
 * process that has it set never uses the counter. */
static void env_turns_it_off(void **st) {
    (void)st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the child inherits the parent's decision; forget it, as at start */
        tr_clock_reset_for_tests();
        setenv("TREMOR_CLOCK", "os", 1);
        agree_for(TR_CLOCK_CALIBRATE_NS + 20 * MS);
        _exit(strcmp(tr_clock_source(), "os") == 0 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static uint64_t os_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* tr_mono_ns follows CLOCK_MONOTONIC (its own calibration), past a resync. */
static void monotonic_agrees_too(void **st) {
    (void)st;
    tr_clock_allow_tsc(true);
    uint64_t start = os_mono();
    for (;;) {
        uint64_t a = os_mono(), t = tr_mono_ns(), b = os_mono();
        if (t + SLACK < a || t > b + SLACK)
            fail_msg("tr_mono_ns %llu outside [%llu, %llu] by more than %u ns", (unsigned long long)t,
                     (unsigned long long)a, (unsigned long long)b, SLACK);
        if (b - start >= TR_CLOCK_RESYNC_NS + TR_CLOCK_CALIBRATE_NS + 50 * MS) break;
    }
}

static void *other_thread(void *arg) {
    uint64_t *out = arg;
    *out = agree_for(TR_CLOCK_CALIBRATE_NS + 30 * MS);
    return NULL;
}

/* Each thread calibrates itself: a new thread starts on the OS clock. */
static void threads_calibrate_apart(void **st) {
    (void)st;
    tr_clock_allow_tsc(true);
    agree_for(TR_CLOCK_CALIBRATE_NS + 20 * MS);
    pthread_t th;
    uint64_t n = 0;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &n), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    if (has_invariant_tsc()) assert_true(n > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_agrees_with_the_os_clock),
        cmocka_unit_test(turned_off_reads_the_os),
        cmocka_unit_test(monotonic_agrees_too),
        cmocka_unit_test(env_turns_it_off),
        cmocka_unit_test(threads_calibrate_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
